#!/bin/sh
# External-command skills through the CLI.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "register an exec skill" skill add echo --impl "exec:$FIX/echo_skill.sh" --state production
expect 0 "run it" --json run echo --input '{"text": "hi"}'
out_has '"echo": {' "stdout JSON is the output"
same "$(sql "SELECT steps FROM executions WHERE skill_id = 'echo'")" '["read","classify"]' \
    "stderr step lines are breadcrumbs"
expect 0 "register a failing one" skill add down --impl "exec:$FIX/fail_network.sh" --state production
expect 1 "it fails" run down --input '{}'
err_has "network" "with its category"
export SKILLHOST_EXEC_TIMEOUT_MS=300
export SKILLHOST_RECOVERY_MAX_RETRIES=0
expect 0 "register a sleeper" skill add slow --impl "exec:$FIX/sleeper.sh" --state production
expect 1 "the timeout kills it" run slow --input '{}'
err_has "timeout" "as a timeout"
same "$(sql "SELECT error_category FROM performance_metrics WHERE skill_id = 'slow'")" timeout "recorded"

done_testing
