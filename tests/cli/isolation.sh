#!/bin/sh
# Process isolation of .so plugins through the CLI (DESIGN §3.4): whatever a
# plugin does, skillhost survives, records one categorised attempt, and its
# stdout stays one JSON document.
. "$top_srcdir/tests/cli/lib.sh"

H="$TP/hostile.so"
export SKILLHOST_RECOVERY_MAX_RETRIES=0
expect 0 "init" init

# valid_json: the last run's stdout is exactly one JSON document.
valid_json() {
    if sqlite3 -batch -noheader :memory: "SELECT json_valid(readfile('$WORK/out'))" | grep -qx 1; then
        ok "$1"
    else
        not_ok "$1" "stdout is not one JSON document"
    fi
}

for case in segv:crash:SIGSEGV abort:crash:SIGABRT exit0:crash:exited stdout:crash:stdout \
    loop:timeout:"did not answer"; do
    mode=${case%%:*}
    rest=${case#*:}
    category=${rest%%:*}
    says=${rest#*:}
    expect 0 "register $mode" skill add "h_$mode" --impl "$H" --content "$mode" --state production
    expect 1 "$mode: the request fails, skillhost does not" --json run "h_$mode" --input '{}' \
        --timeout 3 --no-react
    valid_json "$mode: stdout is valid JSON"
    same "$(json_at '$.error.category')" "$category" "$mode: reported as $category"
    err_has "$says" "$mode: the message says what happened"
    same "$(sql "SELECT error_category FROM performance_metrics WHERE variant_id = 'h_$mode@v1'")" \
        "$category" "$mode: recorded as $category"
    same "$(sql "SELECT COUNT(*) FROM executions WHERE variant_id = 'h_$mode@v1'")" 1 \
        "$mode: one attempt"
done
same "$(sql "SELECT failures FROM circuit_breakers WHERE variant_id = 'h_segv@v1'")" 1 \
    "the circuit breaker counted the crash"

# skh_log lines of an isolated plugin reach skillhost's stderr.
expect 0 "register a logging plugin" skill add h_log --impl "$H" --content log --state production
expect 0 "it runs" run h_log --input '{}'
err_has "hostile: warning: hostile says hi" "its log line is written by skillhost"

# Inline is the user's explicit choice, for plugins they trust.
expect 0 "register inline" skill add h_inline --impl "$H" --content pid --isolation inline
expect 0 "it shows" --json skill show h_inline
same "$(json_at '$.variants[0].isolation')" inline "skill show names the choice"
expect 0 "an inline run" --json run h_inline --variant h_inline@v1 --input '{}'
same "$(json_at '$.output.decision')" ham "answers"
expect 2 "a bad isolation is refused" skill add h_bad --impl "$H" --isolation sandbox
err_has "expected process or inline" "naming the choices"
expect 2 "isolation is for shared objects only" skill add h_bad --impl "exec:/bin/cat" \
    --isolation process
err_has "shared-object plugins only" "and says so"

# The workspace default: inline for variants that did not choose, so an
# abort takes skillhost down with it (which is what inline means) ...
expect 0 "plugins.isolation = inline" config set plugins.isolation inline
expect 134 "an inline abort kills skillhost" run h_abort --input '{}'
# ... unless the variant chose process.
expect 0 "register process explicitly" skill add h_abort --impl "$H" --content abort \
    --isolation process --state production
expect 1 "the explicit choice holds" --json run h_abort --input '{}' --no-react
same "$(json_at '$.error.category')" crash "contained again"
expect 0 "plugins.isolation back" config set plugins.isolation process
expect 2 "plugins.isolation takes only process|inline" config set plugins.isolation maybe

done_testing
