#!/bin/sh
# A/B tests from the command line: start, status, stop, the refusals, and
# tests decided by real requests -- a better variant promoted, a worse one
# archived -- with the verdict in `ab status` and in the decisions table.
. "$top_srcdir/tests/cli/lib.sh"

# A skill whose fidelity is set by its content: it follows the steps its
# content names out of the expected a,b.  Content "a" scores 0.5, a failed
# trial at the 0.9 threshold; "a b" scores 1.0, a success.
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

test_of() { # the status of test $1
    sql "SELECT status FROM ab_test_assignments WHERE test_id = '$1'"
}

# run_until TEST STATUS MAX: routed requests with keys k1, k2, ... until the test has STATUS.
run_until() {
    n=0
    while [ "$n" -lt "$3" ]; do
        n=$((n + 1))
        skh run st --key "k$n" --input '{}'
        [ "$(test_of "$1")" = "$2" ] && return 0
    done
    return 1
}

expect 0 "init" init
expect 0 "control: the production variant" skill add st --impl "$WORK/stepper.lua" --content a --state production
expect 0 "treatment: a better one" skill add st --impl "$WORK/stepper.lua" --content "a b"
expect 0 "another skill" skill add other --impl "$WORK/stepper.lua" --content a --state production

expect 0 "ab --help" ab --help
out_has "ab start NAME --treatment NAME@vN [--weight PCT] [--target N]" "help shows start"
expect 2 "ab alone is a usage error" ab
err_has "try 'skillhost ab --help'" "pointing at --help"
expect 2 "an unknown subcommand" ab frobnicate st
expect 2 "start needs --treatment" ab start st
err_has "--treatment NAME@vN is required" "says so"
expect 2 "start needs one NAME" ab start --treatment st@v2
expect 2 "--weight 0" ab start st --treatment st@v2 --weight 0
err_has "--weight must be a percentage in (0, 100], got '0'" "names the value"
expect 2 "--weight 150" ab start st --treatment st@v2 --weight 150
expect 2 "--weight text" ab start st --treatment st@v2 --weight half
expect 2 "--target 0" ab start st --treatment st@v2 --target 0
expect 2 "--target 2.5" ab start st --treatment st@v2 --target 2.5
expect 2 "--steps without --rollout" ab start st --treatment st@v2 --steps 10,100
expect 2 "an unknown option" ab start st --treatment st@v2 --colour red

expect 2 "an unknown skill" ab start nope --treatment nope@v1
err_has "skillhost: nope: no such skill" "names the skill"
expect 2 "an unknown variant" ab start st --treatment st@v7
err_has "skillhost: st@v7: no such variant" "names the variant"
expect 2 "a variant of another skill" ab start st --treatment other@v1
err_has "other@v1 is a variant of other, not of st" "names both skills"
expect 1 "the production variant against itself" ab start st --treatment st@v1
err_has "st@v1: is already the production variant of st" "says why"
expect 2 "status without any test" ab status st
err_has "no A/B test yet" "says there is none"
expect 2 "stop without a live test" ab stop st
err_has "skillhost: st: has no live A/B test to stop" "says there is none"
same "$(sql 'SELECT COUNT(*) FROM ab_test_assignments')" 0 "no refused start left a row"

# ---- a better treatment wins ---------------------------------------------------------------
expect 0 "start a test" ab start st --treatment st@v2
id=$(cat "$WORK/out")
case $id in
st-ab-????????-????-7???-????-????????????) ok "prints the test id: NAME-ab-UUIDv7" ;;
*) not_ok "prints the test id: NAME-ab-UUIDv7" "got '$id'" ;;
esac
same "$(sql "SELECT control_version || ' ' || treatment_version || ' ' || weight || ' ' || sample_size_target FROM ab_test_assignments")" \
    "st@v1 st@v2 50.0 20" "control is the serving variant; 50% and 20 per arm by default"
same "$(sql "SELECT test_status FROM skill_variations WHERE variation_id = 'st@v2'")" testing \
    "the treatment is marked testing"
expect 1 "one live test per skill" ab start st --treatment st@v2
err_has "already has a live A/B test, $id (running)" "naming the live test"

expect 0 "status before any trial" ab status st
out_has "A/B test $id of st: running" "status names the test"
out_has "CONTROL" "arms side by side"
out_has "rate [95% Wilson]" "rates with intervals"
out_has "mSPRT (always valid)" "the statistic"
out_has "sample ratio" "the SRM check"
out_has "guardrail" "the attempts guardrail"
out_has "policy now             no verdict yet: inconclusive: 0 control and 0 treatment trials, 20 needed in each arm" \
    "what the policy would decide now"
expect 0 "status --json" ab status st --json
out_has "\"test_id\": \"$id\"" "json names the test"
out_has '"control": {"variant": "st@v1", "trials": 0' "json arm counts"
out_has '"interval": [0.0, 1.0]' "json Wilson interval"
out_has '"srm": {"p": 1.0, "expected_share": 0.5' "json SRM"
out_has '"warning": false' "json SRM warning flag"
out_has '"guardrail": {"metric": "attempts_mean"' "json guardrail"
out_has '"policy_now": {' "json policy_now"
expect 0 "--json before the verb too" --json ab status st
out_has '"msprt": {"tau": 0.1' "json mSPRT"

if run_until "$id" promoted 300; then ok "the better variant won after $n requests"; else not_ok "the better variant won" "still $(test_of "$id") after $n requests"; fi
same "$(sql "SELECT control_trials + treatment_trials FROM ab_test_assignments WHERE test_id = '$id'")" "$n" \
    "one trial per request"
same "$(sql "SELECT control_trials >= 20 AND treatment_trials >= 20 FROM ab_test_assignments WHERE test_id = '$id'")" 1 \
    "not before the target in each arm"
same "$(sql "SELECT control_successes || ' ' || (treatment_successes = treatment_trials) FROM ab_test_assignments WHERE test_id = '$id'")" \
    "0 1" "success is the final fidelity reaching the threshold"
same "$(sql "SELECT state || ' ' || promoted || ' ' || test_status FROM skill_variations WHERE variation_id = 'st@v2'")" \
    "production 1 promoted" "the winner is promoted"
same "$(sql "SELECT state FROM skill_variations WHERE variation_id = 'st@v1'")" staged \
    "the old production variant is staged, the rollback target"
same "$(sql "SELECT demoted_variant_id FROM promotion_events WHERE variant_id = 'st@v2'")" st@v1 \
    "the promotion event names it"
same "$(sql "SELECT kind || ' ' || verdict || ' ' || variant_id FROM decisions WHERE kind = 'ab'")" "ab promote st@v2" \
    "the verdict is in decisions"
case $(sql "SELECT policy_file || ' ' || length(policy_sha256) FROM decisions") in
*/policies/ab.lua\ 64) ok "with the policy file and its sha256" ;;
*) not_ok "with the policy file and its sha256" "$(sql 'SELECT policy_file, policy_sha256 FROM decisions')" ;;
esac
same "$(sql "SELECT before_fidelity || ' ' || after_fidelity FROM learning_events WHERE event_type = 'variation_promoted'")" \
    "0.5 1.0" "a variation_promoted event with before/after fidelity"
expect 0 "status after the verdict" ab status st
out_has "A/B test $id of st: promoted" "status shows the verdict"
out_has "decided" "and when"
out_has "reason: treatment wins" "and why"
expect 0 "the winner serves at once" --json run st --key anyone --input '{}'
out_has '"variant": "st@v2"' "routed to the new production variant"
out_has '"ab": null' "outside any test"

# ---- a worse treatment loses ------------------------------------------------------------------
expect 0 "a worse candidate" skill add st --impl "$WORK/stepper.lua" --content b
expect 0 "test it" ab start st --treatment st@v3
id3=$(cat "$WORK/out")
same "$(sql "SELECT control_version FROM ab_test_assignments WHERE test_id = '$id3'")" st@v2 \
    "the new production variant is the control"
if run_until "$id3" archived 300; then ok "the worse variant lost"; else not_ok "the worse variant lost" "still $(test_of "$id3")"; fi
same "$(sql "SELECT state || ' ' || test_status || ' ' || promoted FROM skill_variations WHERE variation_id = 'st@v3'")" \
    "archived archived 0" "the loser is archived"
same "$(sql "SELECT verdict FROM decisions WHERE kind = 'ab' ORDER BY decision_id DESC LIMIT 1")" archive \
    "the archive is in decisions"
expect 0 "status" ab status st
out_has ": archived" "status shows the archive"

# ---- trials, forced runs, stop ----------------------------------------------------------------
expect 0 "a long test" skill add st --impl "$WORK/stepper.lua" --content "a b"
expect 0 "start it at 30%" ab start st --treatment st@v4 --weight 30 --target 1000
id4=$(cat "$WORK/out")
i=0
while [ $i -lt 30 ]; do i=$((i + 1)); skh run st --key "user$i" --input '{}'; done
same "$(sql "SELECT control_trials + treatment_trials FROM ab_test_assignments WHERE test_id = '$id4'")" 30 \
    "30 requests, 30 trials"
skh --json run st --key user7 --input '{}'
arm1=$(grep -o '"arm": "[a-z]*"' "$WORK/out")
skh --json run st --key user7 --input '{}'
arm2=$(grep -o '"arm": "[a-z]*"' "$WORK/out")
same "$arm2" "$arm1" "the same key gets the same arm"
expect 0 "a forced variant" run st --variant st@v4 --input '{}'
same "$(sql "SELECT control_trials + treatment_trials FROM ab_test_assignments WHERE test_id = '$id4'")" 32 \
    "is not a trial"
# Status checks the policy's answer as the decision path does: nonsense is a policy error.
P="$WORK/policies"
mkdir -p "$P" && chmod 755 "$P" && cp "$top_srcdir"/policies/*.lua "$P/" && chmod 644 "$P"/*.lua
cat >"$P/ab.lua" <<'EOF'
return {
  kind = "policy", name = "ab", version = "1",
  decide = function(f) return { winner = "both", reason = "a tie" } end,
}
EOF
chmod 644 "$P/ab.lua"
BAD="$P/ab.lua: decide answered badly: winner must be \"treatment\", \"control\" or nil, got both"
expect 0 "status with an ab.lua answering winner = both" --policies "$P" ab status st
out_has "policy now             policy error: $BAD" "a policy error naming the file"
grep -q "wins" "$WORK/out" && not_ok "never shown as a verdict" "$(grep wins "$WORK/out")" ||
    ok "never shown as a verdict"
expect 0 "the same with --json" --policies "$P" ab status st --json
same "$(json_at '$.policy_now.error')" "$BAD" "json: policy_now.error"
same "$(json_at '$.policy_now.winner')" "" "json: no winner"
expect 0 "skillhost status shows it too" --policies "$P" status st
out_has "  policy now: policy error: $BAD" "in the A/B section"
skh --policies "$P" run st --key user1 --input '{}'
same "$(sql "SELECT json_extract(observed, '\$.error') FROM decisions WHERE verdict = 'error'")" "$BAD" \
    "the decision path refuses it in the same words"
same "$(test_of "$id4")" running "and applies nothing"

expect 0 "stop it" ab stop st --reason "wrong candidate"
out_has "stopped the A/B test of st" "says so"
same "$(sql "SELECT status || ' ' || reason FROM ab_test_assignments WHERE test_id = '$id4'")" \
    "stopped wrong candidate" "stopped, the reason kept"
same "$(sql "SELECT test_status || ' ' || state FROM skill_variations WHERE variation_id = 'st@v4'")" \
    "stopped prototype" "the treatment keeps its state"
expect 0 "status of a stopped test" ab status st
out_has "A/B test $id4 of st: stopped" "the latest test is shown"
out_has "reason: wrong candidate" "with its reason"
expect 0 "requests go to production again" --json run st --key user1 --input '{}'
out_has '"variant": "st@v2"' "the serving variant"
expect 2 "stop twice" ab stop st

done_testing
