#!/bin/sh
# Rollback from the command line: a regressed production variant rolls itself
# back after its window of 10 executions (rollback.lua's defaults), the next
# request already runs the restored variant, and the rollback is recorded with
# its reason and metric; then `skillhost rollback` by hand, and its refusals.
. "$top_srcdir/tests/cli/lib.sh"

state_of() {
    sql "SELECT state FROM skill_variations WHERE variation_id = '$1'"
}

# variant_of INPUT: run fl once (no ReAct retries) and print the variant that served it.
variant_of() {
    skh --json run fl --no-react --input "$1"
    json_get variant
}

expect 0 "init" init
expect 0 "v1: production" skill add fl --impl flaky.so --state production
# flaky follows half of its patterns with this content: fidelity 0.50.
expect 0 "v2: a regressed variant, added as production" \
    skill add fl --impl flaky.so --content '{"fidelity":0.5}' --state production
same "$(state_of fl@v1)" staged "v1 stays as staged: the rollback target"

# ---- automatic --------------------------------------------------------------------------
n=0
served=""
while [ "$n" -lt 9 ]; do
    n=$((n + 1))
    served="$served $(variant_of '{}')"
done
same "$served" " fl@v2 fl@v2 fl@v2 fl@v2 fl@v2 fl@v2 fl@v2 fl@v2 fl@v2" "nine requests served by v2"
same "$(sql 'SELECT COUNT(*) FROM rollback_events')" 0 "nothing before the window is full"
same "$(state_of fl@v2)" production "v2 still production after 9 executions"

expect 0 "the tenth request still gets its output" run fl --no-react --input '{}'
err_has "fl: rolled back fl@v2 -> fl@v1: pattern fidelity 0.50 below 0.85" "says it rolled back"
same "$(variant_of '{}')" fl@v1 "the next request runs the restored variant"
same "$(state_of fl@v2) $(state_of fl@v1)" "staged production" "v2 staged, v1 production"
same "$(sql "SELECT from_state || ' ' || to_state || ' ' || variant_id || ' ' || restored_variant_id FROM rollback_events")" \
    "production staged fl@v2 fl@v1" "rollback_events: the states and both variants"
same "$(sql 'SELECT trigger_metric FROM rollback_events')" "fidelity=0.50" "trigger_metric"
same "$(sql 'SELECT trigger_reason FROM rollback_events')" \
    "pattern fidelity 0.50 below 0.85 over the last 10 executions" "trigger_reason"
same "$(sql "SELECT COUNT(*) FROM learning_events WHERE event_type = 'rollback' AND variation_id = 'fl@v2'")" \
    1 "a learning event"
same "$(sql "SELECT verdict || ' ' || json_extract(observed, '$.metric') FROM decisions WHERE kind = 'rollback'")" \
    "rollback fidelity=0.50" "the decision, explained"
case "$(sql "SELECT policy_file FROM decisions WHERE kind = 'rollback'")" in
*/rollback.lua) ok "the decision names the policy file" ;;
*) not_ok "the decision names the policy file" ;;
esac
if grep -q '"kind":"rollback"' "$WORK/ws/audit.jsonl" 2>/dev/null ||
    grep -q '"kind": "rollback"' "$WORK/ws/audit.jsonl" 2>/dev/null; then
    ok "the audit log has the rollback"
else
    not_ok "the audit log has the rollback"
fi

# ---- by hand -----------------------------------------------------------------------------
expect 0 "rollback --help" rollback --help
out_has "rollback NAME --reason TEXT [--to staged|prototype]" "help shows the usage"
expect 2 "--reason is required" rollback fl
err_has "--reason TEXT is required" "says so"
expect 2 "--to production is refused" rollback fl --reason x --to production
err_has "--to must be staged or prototype, got 'production'" "names the value"
expect 2 "one NAME" rollback --reason x
expect 2 "an unknown option" rollback fl --reason x --colour red
expect 2 "an unknown skill" rollback nope --reason x
err_has "skillhost: nope: no such skill" "names the skill"
# fl@v2 was rolled back: it is no target for fl@v1.
expect 1 "nothing to restore" rollback fl --reason "second thoughts"
err_has "no previous production variant to restore" "says why"
same "$(state_of fl@v1)" production "and changes nothing"

expect 0 "v3: production" skill add fl --impl flaky.so --state production
expect 0 "roll v3 back by hand" rollback fl --reason "bad deploy"
out_has "fl: fl@v3 -> fl@v1 (bad deploy)" "prints what moved"
same "$(variant_of '{}')" fl@v1 "the restored variant serves"
same "$(sql "SELECT trigger_reason || ' ' || trigger_metric FROM rollback_events WHERE variant_id = 'fl@v3'")" \
    "bad deploy manual" "recorded with the reason and metric 'manual'"

expect 0 "v4: production" skill add fl --impl flaky.so --state production
expect 0 "--json" --json rollback fl --reason "again"
same "$(json_get restored)" fl@v1 "the JSON names the restored variant"
same "$(json_get metric)" manual "and the metric"

expect 0 "--to prototype demotes even with nothing to restore" rollback fl --reason retire --to prototype
out_has "fl: fl@v1 -> prototype (retire)" "prints the new state"
same "$(state_of fl@v1)" prototype "v1 is a prototype"
expect 1 "--to staged when nothing is production" rollback fl --reason x --to staged
err_has "already staged" "says so"

done_testing
