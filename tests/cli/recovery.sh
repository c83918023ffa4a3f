#!/bin/sh
# ReAct retries and the recovery policy, from the command line.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "register flaky" skill add flaky --impl flaky.so --state production

expect 1 "authentication fails at once" --json run flaky --input '{"error_by_attempt": ["authentication", null]}'
out_has '"attempts": 1' "one attempt"
out_has '"category": "authentication"' "the category is reported"
expect 1 "validation is skipped: no retry of any kind" --json run flaky --input '{"error_by_attempt": ["validation", null]}'
out_has '"attempts": 1' "one attempt"
out_has '"skipped": true' "marked skipped"
out_has '"action": "skip"' "the recovery decision is shown per attempt"

# A policies folder of our own with tiny backoffs keeps the test fast.
mkdir -p "$WORK/pol" && chmod 755 "$WORK/pol"
cat >"$WORK/pol/recovery.lua" <<'LUA'
return { kind = "policy", name = "recovery", version = "test",
  decide = function(f)
    if f.category == "network" then
      if f.retry >= 2 then return { action = "fail", reason = "enough" } end
      return { action = "retry", delay_ms = 20 * 2 ^ f.retry, jitter = "none" }
    end
    return { action = "fail" }
  end }
LUA
chmod 644 "$WORK/pol/recovery.lua"
expect 0 "a network error is retried per the policy" --policies "$WORK/pol" --json run flaky --input '{"error_by_attempt": ["network", "network", null]}'
out_has '"attempts": 3' "two retries, then success"
out_has '"wait_ms": 20' "first wait 20 ms"
out_has '"wait_ms": 40' "second wait 40 ms"
expect 1 "the policy gives up after its maximum" --policies "$WORK/pol" run flaky --input '{"error_by_attempt": ["network"]}'
same "$(sql "SELECT COUNT(*) FROM executions WHERE request_id = (SELECT request_id FROM executions ORDER BY timestamp DESC LIMIT 1)")" 3 \
    "every call of the request is recorded"

# Editing the policy changes the next decision.
sed -i 's/if f.retry >= 2/if f.retry >= 0/' "$WORK/pol/recovery.lua"
expect 1 "an edited policy applies at once" --policies "$WORK/pol" --json run flaky --input '{"error_by_attempt": ["network", null]}'
out_has '"attempts": 1' "no retry any more"

# A deadline no backoff may overrun.
sed -i 's/if f.retry >= 0/if f.retry >= 5/; s/20 \* 2/5000 * 2/' "$WORK/pol/recovery.lua"
expect 1 "the deadline stops a long backoff" --policies "$WORK/pol" --json run flaky --timeout 1 --input '{"error_by_attempt": ["network", null]}'
out_has "overrun the request deadline" "the reason is given"
out_has '"attempts": 1' "no second call"

# A policy that raises decides nothing: fail safe, recorded, reported.
printf 'return { kind = "policy", name = "recovery", version = "x",\n  decide = function(f) error("broken rule") end }\n' >"$WORK/pol/recovery.lua"
expect 1 "a raising policy fails safe" --policies "$WORK/pol" run flaky --input '{"error_by_attempt": ["network", null]}'
err_has "broken rule" "the policy error is reported on stderr"
err_has "recovery.lua:2:" "with file:line"
same "$(sql "SELECT COUNT(*) FROM decisions WHERE kind = 'recovery' AND verdict = 'error'")" 1 \
    "and recorded in decisions"

# Precedence: flag > environment > workspace > default.
expect 0 "workspace config" config set react.max_iterations 2
expect 0 "workspace value applies" --json run flaky --input '{"fidelity_by_attempt": [0.1]}'
out_has '"attempts": 2' "2 from the workspace"
SKILLHOST_REACT_MAX_ITER=4 skh --json run flaky --input '{"fidelity_by_attempt": [0.1]}'
out_has '"attempts": 4' "environment beats the workspace"
SKILLHOST_REACT_MAX_ITER=4 skh --json run flaky --max-iter 1 --input '{"fidelity_by_attempt": [0.1]}'
out_has '"attempts": 1' "the flag beats the environment"
SKILLHOST_REACT_MODE=0 skh --json run flaky --input '{"fidelity_by_attempt": [0.1]}'
out_has '"attempts": 1' "SKILLHOST_REACT_MODE=0 turns ReAct off"
SKILLHOST_REACT_FIDELITY=0.05 skh --json run flaky --input '{"fidelity_by_attempt": [0.1]}'
out_has '"met_threshold": true' "SKILLHOST_REACT_FIDELITY sets the bar"

same "$(sql "SELECT COUNT(*) FROM learning_events WHERE event_type = 'react_execution'")" \
    "$(sql 'SELECT COUNT(DISTINCT request_id) FROM executions')" "one react_execution event per request"

done_testing
