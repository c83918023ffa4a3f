#!/bin/sh
# skillhost config: one table of options, values with their source.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "config list" config list
out_has "react.max_iterations" "lists the ReAct options"
out_has "SKILLHOST_REACT_MAX_ITER" "with their environment variable"
expect 0 "config get" config get react.max_iterations
same "$(cat "$WORK/out")" 3 "the default is 3"
expect 0 "config set" config set react.max_iterations 5
expect 0 "config get after set" --json config get react.max_iterations
out_has '"source": "workspace"' "the source is the workspace"
out_has '"value": "5"' "the value is 5"
SKILLHOST_REACT_MAX_ITER=7 skh --json config get react.max_iterations
out_has '"source": "environment"' "the environment wins"
expect 2 "a bad value is refused" config set react.max_iterations many
err_has "react.max_iterations" "naming the option"
expect 2 "an out-of-range value is refused" config set react.fidelity_threshold 1.5
expect 2 "an unknown option is refused" config set react.bogus 1
expect 0 "config unset" config unset react.max_iterations
expect 0 "back to the default" config get react.max_iterations
same "$(cat "$WORK/out")" 3 "default again"
expect 0 "validate a clean config" config validate
out_has "configuration ok" "ok"
expect 0 "turn ReAct off in the workspace" config set react.enabled 0
expect 0 "and set its iterations" config set react.max_iterations 4
expect 1 "validate flags an option that needs another" config validate
out_has "react.enabled is off" "explains the need"
SKILLHOST_REACT_MAX_ITER=x skh config list
same "$status" 2 "a malformed environment value is a usage error"
err_has "SKILLHOST_REACT_MAX_ITER" "naming the variable"

# The workspace's store.* options reach the connection: a write under someone
# else's lock gives up after the workspace's 200 ms, not the default 10 s.
unset SKILLHOST_BUSY_TIMEOUT_MS SKILLHOST_DURABILITY
expect 0 "set the busy timeout in the workspace" config set store.busy_timeout_ms 200
hold_lock "INSERT INTO config(key, value, updated_at) VALUES ('lock_holder', 'x', 'now');"
start=$(date +%s%N)
expect 4 "a write under a held lock fails" config set react.max_iterations 4
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
err_has "locked (waited 200 ms)" "after the workspace's busy timeout"
[ "$elapsed_ms" -lt 5000 ] && ok "well before the default 10 s ($elapsed_ms ms)" ||
    not_ok "well before the default 10 s" "took $elapsed_ms ms"
SKILLHOST_BUSY_TIMEOUT_MS=300 skh config set react.max_iterations 4
err_has "locked (waited 300 ms)" "the environment still wins over the workspace"
release_lock
expect 0 "the write goes through once the lock is gone" config set react.max_iterations 4

done_testing
