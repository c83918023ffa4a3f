#!/bin/sh
# The promotion gate from the command line, with the shipped keyword
# classifier: register, evaluate on the bundled cases, sign off, promotion
# refused with every failed check and its numbers, ~100 live runs,
# promotion to production with the old production kept as the rollback
# target, and status (text, --json, --target-state, --at).
. "$top_srcdir/tests/cli/lib.sh"

CASES="$top_srcdir/plugins/keyword_cases.jsonl"
STAGED_CHECKS="--check wsp_50_no_duplication=yes:searched --check test_coverage_complete=yes
--check instruction_clarity_approved=yes --check dependencies_validated=yes:jansson
--check security_reviewed=yes --check pattern_completeness=yes --check performance_review=yes"
PRODUCTION_CHECKS="--check production_readiness=yes --check integration_approved=yes
--check monitoring_configured=yes --check rollback_tested=yes:drill-OPS-7
--check documentation_updated=yes --check capacity_planning=yes"

# runs N TEXT LABEL: N live requests of spam@v2, labelled.
runs() {
    i=0
    while [ "$i" -lt "$1" ]; do
        i=$((i + 1))
        "$SKILLHOST" run spam --variant spam@v2 --input "{\"text\": \"$2 $i\", \"label\": \"$3\"}" \
            >/dev/null 2>"$WORK/err" || { not_ok "run $i" "exit $?"; return 1; }
    done
}

expect 0 "init" init
expect 0 "production variant: the C classifier" skill add spam --impl keyword_classifier.so --state production
expect 0 "candidate: the Lua classifier" skill add spam --impl keyword_classifier.lua
same "$(cat "$WORK/out")" "spam@v2" "registered as spam@v2"

# ---- verbs and usage ------------------------------------------------------------------
expect 0 "approve --help" approve --help
out_has "--check ITEM=yes|no[:EVIDENCE]" "shows --check"
expect 0 "promote --help" promote --help
out_has "promote NAME@vN --to staged|production" "shows --to"
expect 0 "status --help" status --help
out_has "--at TIME" "shows --at"
expect 2 "approve without --path" approve spam@v2 --approver alice --ticket T-1
err_has "--path prototype->staged|staged->production is required" "says so"
expect 2 "approve without --ticket" approve spam@v2 --path 'prototype->staged' --approver alice
expect 2 "approve a path that does not exist" approve spam@v2 --path 'prototype->production' --approver alice --ticket T-1
err_has "skillhost: --path: 'prototype->production' is not a promotion path" "names the path"
expect 2 "approve an unknown item" approve spam@v2 --path 'prototype->staged' --approver alice --ticket T-1 --check looks_fine=yes
err_has "unknown item 'looks_fine' for prototype->staged; promotion.lua's items are: wsp_50_no_duplication, test_coverage_complete" "names the item and the known ones"
expect 2 "approve with a value that is not yes or no" approve spam@v2 --path 'prototype->staged' --approver alice --ticket T-1 --check security_reviewed=perhaps
expect 1 "approve the wrong path for the state" approve spam@v2 --path 'staged->production' --approver alice --ticket T-1
err_has "promote it to staged first" "says what comes first"
expect 2 "approve an unknown variant" approve spam@v9 --path 'prototype->staged' --approver alice --ticket T-1
same "$(sql 'SELECT COUNT(*) FROM human_approvals')" 0 "no refused sign-off left a row"
expect 2 "promote without --to" promote spam@v2
expect 2 "promote to a state no promotion leads to" promote spam@v2 --to archived
expect 2 "promote an unknown variant" promote spam@v9 --to staged
expect 1 "promote the production variant" promote spam@v1 --to production
err_has "skillhost: spam@v1: is production already" "says so"

# ---- prototype -> staged -------------------------------------------------------------------
expect 1 "promote before any evaluation or sign-off" promote spam@v2 --to staged
out_has "spam@v2: not ready for staged (not_ready)" "not ready"
out_has "  WAIT evaluation_cases: 0 benchmark cases recorded (needs >= 10" "no benchmark yet: inconclusive, WAIT"
out_has "  FAIL approval: no prototype->staged sign-off recorded" "no sign-off"
err_has "skillhost: spam@v2: not ready for staged:" "the refusal on stderr"

expect 0 "evaluate the candidate" evaluate spam --variant spam@v2 --cases "$CASES"
expect 0 "a sign-off with security answered no" approve spam@v2 --path 'prototype->staged' \
    --approver alice --ticket OPS-1 --notes "first look" \
    --check wsp_50_no_duplication=yes:searched --check 'security_reviewed=no:token in content'
case $(cat "$WORK/out") in
????????-????-7???-????-????????????) ok "prints the approval id (UUIDv7)" ;;
*) not_ok "prints the approval id (UUIDv7)" "got '$(cat "$WORK/out")'" ;;
esac
same "$(sql "SELECT wsp_50_no_duplication || ' ' || wsp_50_evidence || ' ' || security_reviewed || ' ' || security_notes || ' ' || variant_id FROM human_approvals")" \
    "1 searched 0 token in content spam@v2" "the seeds' columns are filled"
expect 1 "promote with the item answered no" promote spam@v2 --to staged
out_has "  FAIL checklist.security_reviewed: answered no (token in content) (needs yes)" "names the item answered no"
out_has "  FAIL checklist.test_coverage_complete: not answered in the sign-off (counts as no)" "and the items left out"
if grep -q "\(FAIL\|WAIT\) \(fidelity\|outcome\|false_positive_rate\|evaluation_cases\)" "$WORK/out"; then
    not_ok "the benchmark checks pass" "a benchmark check failed"
else
    ok "the benchmark checks pass"
fi

# shellcheck disable=SC2086 # the checks are separate words on purpose
expect 0 "a complete sign-off" approve spam@v2 --path 'prototype->staged' --approver alice --ticket OPS-2 $STAGED_CHECKS
expect 0 "promote to staged" promote spam@v2 --to staged
same "$(cat "$WORK/out")" "spam@v2: prototype -> staged" "prints the move"
same "$(sql "SELECT from_state || '>' || to_state || ' ' || approver || ' ' || approval_ticket FROM promotion_events WHERE variant_id = 'spam@v2'")" \
    "prototype>staged alice OPS-2" "promotion_events names the approver and ticket of the sign-off used"
same "$(sql "SELECT verdict FROM decisions WHERE kind = 'promotion' ORDER BY decision_id")" \
    "$(printf 'not_ready\nnot_ready\nready')" "every answer is kept in decisions"
expect 1 "not twice" promote spam@v2 --to staged

# ---- staged -> production ---------------------------------------------------------------------
runs 37 "free money click now" spam && ok "37 live runs"
# shellcheck disable=SC2086
expect 0 "production sign-off" approve spam@v2 --path 'staged->production' --approver bob --ticket OPS-3 $PRODUCTION_CHECKS
expect 1 "promote with 37 executions" promote spam@v2 --to production
out_has "  FAIL fidelity_metrics: 37/100 executions (needs >= 100)" "fidelity_metrics short"
out_has "  FAIL outcome_metrics: 37/100 executions (needs >= 100)" "outcome_metrics short"
out_has "  FAIL performance_metrics: 37/100 executions (needs >= 100)" "performance_metrics short"
out_has "  WAIT fidelity: 1.000 over 37 (needs >= 0.900 over at least 100; inconclusive)" "a small sample is inconclusive (WAIT), not a pass"
grep -q "FAIL [a-z_]*: .*inconclusive" "$WORK/out" && not_ok "no inconclusive check printed as FAIL" ||
    ok "no inconclusive check printed as FAIL"
err_has "skillhost: spam@v2: not ready for production: 3 checks failed, " "the refusal counts the inconclusive apart"
expect 0 "status while the production gate waits" status spam
out_has "next promotion: spam@v2 staged -> production: not_ready" "names the next promotion"
out_has "  FAIL fidelity_metrics: 37/100 executions (needs >= 100)" "status: a failed check is FAIL"
out_has "  WAIT fidelity: 1.000 over 37 (needs >= 0.900 over at least 100; inconclusive)" \
    "status: an inconclusive check is WAIT"
expect 1 "--json: the answer with every check" promote spam@v2 --to production --json
out_has '"ready": false' "ready false"
out_has '"verdict": "not_ready"' "verdict"
out_has '"name": "outcome_metrics"' "checks by name"

runs 63 "hello there how are you" ham && ok "63 more live runs"
expect 0 "promote to production" promote spam@v2 --to production
out_has "spam@v2: staged -> production" "prints the move"
out_has "spam@v1 is staged now, kept as the rollback target" "the old production is kept"
same "$(sql "SELECT variation_id || ' ' || state FROM skill_variations ORDER BY version")" \
    "$(printf 'spam@v1 staged\nspam@v2 production')" "states"
same "$(sql "SELECT demoted_variant_id || ' ' || approver || ' ' || approval_ticket FROM promotion_events WHERE to_state = 'production'")" \
    "spam@v1 bob OPS-3" "promotion_events: the demoted variant and the sign-off"
same "$(sql "SELECT promotion_state || ' ' || version FROM skills")" "production 2" "the skills row follows"

# ---- status ---------------------------------------------------------------------------------------
expect 0 "status" status spam
out_has "spam: serving spam@v2 (production)" "the serving variant"
out_has "spam@v2                production" "every variant with its state"
out_has "100/100/100 of 100" "samples per metric table"
out_has "staged->production  bob, ticket OPS-3" "the latest sign-offs"
out_has "promotion spam@v2                ready" "the latest decisions"
expect 0 "status --json" status spam --json
out_has '"serving": "spam@v2"' "JSON: serving"
out_has '"next_promotion":' "JSON: the next promotion"
out_has '"fidelity_metrics": 100' "JSON: sample counts"
expect 0 "status --target-state staged" status spam --target-state staged
out_has "next promotion: no variant is in the state before it" "no prototype left"
before=$(sql "SELECT timestamp FROM promotion_events WHERE to_state = 'production'")
after=$(sql "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', '$before', '+1 second')")
# Halfway between spam@v1's start in production and the promotion: a fixed offset could fall
# before spam@v1 existed on a fast machine.
earlier=$(sql "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', (julianday(created_at) + julianday('$before')) / 2) FROM skill_variations WHERE variation_id = 'spam@v1'")
expect 0 "status --at before the promotion" status spam --at "$earlier"
out_has "production at $earlier: spam@v1" "spam@v1 served then"
expect 0 "status --at after it" status spam --at "$after"
out_has "production at $after: spam@v2 (from promotion_events" "spam@v2 served then"
expect 2 "status --at nonsense" status spam --at yesterday
err_has "skillhost: --at: 'yesterday' is not a time" "names the value"
expect 2 "status --target-state nonsense" status spam --target-state archived
expect 2 "status of an unknown skill" status nope
err_has "skillhost: nope: no such skill" "names the skill"

# ---- the policy is the gate ------------------------------------------------------------------------
mkdir "$WORK/policies"
cp "$top_srcdir"/policies/*.lua "$WORK/policies/"
expect 0 "a third variant" skill add spam --impl keyword_classifier.lua --content '{"threshold": 1, "words": ["free"]}'
expect 0 "evaluate it" evaluate spam --variant spam@v3 --cases "$CASES"
# shellcheck disable=SC2086
expect 0 "sign it off" approve spam@v3 --path 'prototype->staged' --approver alice --ticket OPS-4 $STAGED_CHECKS
expect 1 "its benchmark is too weak" --policies "$WORK/policies" promote spam@v3 --to staged
out_has "  FAIL outcome:" "the outcome check fails"
sed -i 's/^local STAGED_MIN_OUTCOME = 0.85/local STAGED_MIN_OUTCOME = 0.10/; s/^local STAGED_MAX_FALSE_POSITIVE_RATE = 0.05/local STAGED_MAX_FALSE_POSITIVE_RATE = 0.90/; s/^local STAGED_MAX_CRITICAL_FALSE_NEGATIVES = 0/local STAGED_MAX_CRITICAL_FALSE_NEGATIVES = 12/; s/^local STAGED_MIN_FIDELITY = 0.90/local STAGED_MIN_FIDELITY = 0.10/' \
    "$WORK/policies/promotion.lua"
expect 0 "an operator lowers the bars in promotion.lua" --policies "$WORK/policies" promote spam@v3 --to staged
same "$(sql "SELECT state FROM skill_variations WHERE variation_id = 'spam@v3'")" "staged" "promoted under the edited policy"

done_testing
