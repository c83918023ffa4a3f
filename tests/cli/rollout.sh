#!/bin/sh
# Gradual rollouts from the command line: the default steps come from
# rollout.lua, a good candidate advances step by step to promotion, a worse
# one is stopped (weight 0, recorded) and traffic returns to production.
. "$top_srcdir/tests/cli/lib.sh"

# Fidelity set by content (see ab.sh): "a b" succeeds, "a" fails.
cat >"$WORK/stepper.lua" <<'LUA'
return {
  kind = "skill", name = "stepper", version = "1.0.0", patterns = "a,b",
  execute = function(input, ctx)
    for w in ctx.content:gmatch("[^%s,]+") do ctx:step(w) end
    return { decision = "ok" }
  end,
}
LUA
chmod 644 "$WORK/stepper.lua"

# run_until SQL-CONDITION MAX: routed requests (keys r1, r2, ...) until the condition holds.
k=0
run_until() {
    n=0
    while [ "$n" -lt "$2" ]; do
        n=$((n + 1))
        k=$((k + 1))
        skh run st --key "r$k" --input '{}'
        [ "$(sql "SELECT COUNT(*) FROM ab_test_assignments WHERE $1")" = 1 ] && return 0
    done
    return 1
}

expect 0 "init" init
expect 0 "production" skill add st --impl "$WORK/stepper.lua" --content "a b" --state production
expect 0 "a candidate as good" skill add st --impl "$WORK/stepper.lua" --content "a b"

expect 2 "a rollout starts at its first step" ab start st --treatment st@v2 --rollout --weight 50
err_has "a rollout starts at its first step (10%), not 50%" "says so"
expect 2 "steps must increase" ab start st --treatment st@v2 --rollout --steps 10,5,100
err_has "steps must increase strictly: 5 follows 10" "names the values"
expect 2 "steps must end at 100" ab start st --treatment st@v2 --rollout --steps 10,50
err_has "the last step must be 100, got 50" "names the value"
expect 2 "steps must be numbers" ab start st --treatment st@v2 --rollout --steps 10,half,100
err_has "is not a list of weights like 10,50,100" "says what is expected"

# Bad steps from rollout.lua are the policy's fault: exit 3 like a broken file, not 2.
P="$WORK/policies"
mkdir -p "$P" && chmod 755 "$P" && cp "$top_srcdir"/policies/*.lua "$P/" && chmod 644 "$P"/*.lua
cat >"$P/rollout.lua" <<'EOF'
return {
  kind = "policy", name = "rollout", version = "1",
  steps = function() return { steps = { 10, 5, 100 } } end,
  decide = function(f) return { action = "hold" } end,
}
EOF
chmod 644 "$P/rollout.lua"
expect 3 "bad steps from rollout.lua: a policy error" --policies "$P" ab start st --treatment st@v2 --rollout
err_has "skillhost: $P/rollout.lua: steps(): steps must increase strictly: 5 follows 10" "names the file and why"
expect 3 "--json: the same" --json --policies "$P" ab start st --treatment st@v2 --rollout
same "$(json_at '$.error.category')" policy "json category policy"
echo 'return {' >"$P/rollout.lua"
expect 3 "a broken rollout.lua: exit 3 too" --policies "$P" ab start st --treatment st@v2 --rollout
same "$(sql 'SELECT COUNT(*) FROM ab_test_assignments')" 0 "no refused start left a row"

expect 0 "a rollout with rollout.lua's steps" ab start st --treatment st@v2 --rollout
id=$(cat "$WORK/out")
same "$(sql "SELECT mode || ' ' || steps || ' ' || weight || ' ' || step FROM ab_test_assignments WHERE test_id = '$id'")" \
    "rollout [10,50,100] 10.0 0" "steps 10, 50, 100, starting at 10%"
expect 0 "status" ab status st
out_has "rollout test $id of st: running" "names the rollout"
out_has "rollout step 1 of 3 at 10% (steps 10 -> 50 -> 100)" "shows the step"
out_has "traffic                90%                          10%" "and the split"
out_has "policy now             hold: step 1 of 3 (10%): " "what rollout.lua would do now"
expect 0 "status --json" ab status st --json
out_has '"steps": [10, 50, 100]' "json steps"
out_has '"step": {"index": 1, "count": 3, "weight": 10.0' "json step"
same "$(json_at '$.policy_now.action')" hold "json policy_now"
expect 0 "stop it" ab stop st

# ---- a good candidate goes all the way --------------------------------------------------------
expect 0 "a short rollout" ab start st --treatment st@v2 --rollout --steps 50,100 --target 10
id=$(cat "$WORK/out")
if run_until "test_id = '$id' AND step = 1" 200; then ok "advanced to the next step"; else not_ok "advanced to the next step" "after $n requests"; fi
same "$(sql "SELECT weight || ' ' || status || ' ' || (step_treatment_trials + step_control_trials) FROM ab_test_assignments WHERE test_id = '$id'")" \
    "100.0 running 0" "at 100%, the step's counts start again"
same "$(sql "SELECT kind || ' ' || verdict FROM decisions")" "rollout advance" "the step is in decisions"
expect 0 "status mid-rollout" ab status st
out_has "rollout step 2 of 2 at 100%" "shows the new step"
out_has "sample ratio           - (not checked at a 100% split)" "no SRM at 100%"
if run_until "test_id = '$id' AND status = 'promoted'" 200; then ok "promoted at the last step"; else not_ok "promoted at the last step" "after $n requests"; fi
same "$(sql "SELECT state || ' ' || promoted FROM skill_variations WHERE variation_id = 'st@v2'")" "production 1" \
    "the candidate is production"
same "$(sql "SELECT state FROM skill_variations WHERE variation_id = 'st@v1'")" staged "the old one is staged"
same "$(sql "SELECT group_concat(verdict, ',') FROM decisions WHERE kind = 'rollout'")" "advance,promote" \
    "every step is in decisions"
same "$(sql "SELECT COUNT(*) FROM learning_events WHERE event_type = 'variation_promoted'")" 1 \
    "a variation_promoted event"

# ---- a worse candidate is stopped ---------------------------------------------------------
expect 0 "a worse candidate" skill add st --impl "$WORK/stepper.lua" --content a
expect 0 "roll it out" ab start st --treatment st@v3 --rollout --steps 50,100 --target 10
id=$(cat "$WORK/out")
if run_until "test_id = '$id' AND status = 'stopped'" 200; then ok "the rollout is stopped"; else not_ok "the rollout is stopped" "after $n requests"; fi
same "$(sql "SELECT weight || ' ' || step || ' ' || decision FROM ab_test_assignments WHERE test_id = '$id'")" \
    "0.0 0 stop" "weight 0 at the step it failed"
case $(sql "SELECT reason FROM ab_test_assignments WHERE test_id = '$id'") in
"step 1 of 2 (50%): "*) ok "the reason is recorded" ;;
*) not_ok "the reason is recorded" "$(sql "SELECT reason FROM ab_test_assignments WHERE test_id = '$id'")" ;;
esac
same "$(sql "SELECT verdict FROM decisions WHERE kind = 'rollout' ORDER BY decision_id DESC LIMIT 1")" stop \
    "the stop is in decisions"
same "$(sql "SELECT state || ' ' || test_status FROM skill_variations WHERE variation_id = 'st@v3'")" \
    "prototype stopped" "the candidate keeps its state"
expect 0 "status" ab status st
out_has "rollout test $id of st: stopped" "status shows the stop"
expect 0 "traffic is back on production" --json run st --key r1 --input '{}'
out_has '"variant": "st@v2"' "the serving variant"

done_testing
