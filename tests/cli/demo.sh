#!/bin/sh
# skillhost demo tells the whole story on a throw-away database.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "demo runs" demo
out_has "spam_filter@v1  keyword_classifier.so" "a C variant"
out_has "spam_filter@v2  keyword_classifier.lua" "and a Lua variant"
out_has "12 cases: fidelity 1.00, outcome 1.00" "evaluated on the bundled cases"
out_has "no prototype->staged sign-off recorded" "the gate refuses without sign-off"
out_has "promote spam_filter@v1 --to staged: ready, done" "then promotes to staged"
out_has "FAIL outcome_metrics: 40/100 executions" "too few metrics are named per table"
out_has "promote spam_filter@v1 --to production: ready, done" "then promotes to production"
out_has "spam_filter@v2: Click here to claim your free prize money    -> spam" "the Lua twin decides"

# 5: the serving variant misses a spam wave, the evolver proposes a variant, ab.lua promotes it.
out_has "30 messages: spam_filter@v1 decides 21 right and calls 9 spam ham." \
    "the serving variant runs labelled mail and misses the wave"
out_has "proposes spam_filter@v3 (parent spam_filter@v1)" "the evolver proposes a child of it"
out_has '"9 labelled spam decided ham in the last 50 executions: threshold 2 -> 1; added words: crypto, verify, wallet"' \
    "the evolver's description says what it changed and why"
out_has "starts A/B test spam_filter-ab-" "the evolved variant enters an A/B test"
out_has "-> promoted: treatment wins: " "ab.lua decides for the evolved variant"
out_has "spam_filter@v3 serves production now; spam_filter@v1 is staged, kept to roll back to." \
    "the evolved variant serves afterwards"
out_has "Double your crypto in a week, guaranteed returns         spam  ham   spam" \
    "the before/after table shows a fixed miss"
out_has "Feel free to call me after the meeting                   ham   ham   spam  (wrong)" \
    "and the ham the evolved variant now gets wrong"
err_has "rollback of spam_filter@v1 suppressed: no previous production variant to restore" \
    "rollback.lua flags the missed wave with nothing to restore"
same "$(grep -c "rollback of spam_filter@v1 suppressed" "$WORK/err")" 1 \
    "said once on stderr, not after every request"

out_has "served by triage@v1: rolled back automatically" "the regression is rolled back"
err_has "rolled back triage@v2 -> triage@v1" "the rollback is announced on stderr"
# 7: a retry that recovers, once by ReAct (low fidelity), once by recovery.lua (network error).
out_has "7. A retry that recovers." "step 7 is a retry that recovers"
out_has "attempt 1: fidelity 0.50 -> attempt 2: fidelity 1.00, met the threshold (0.90)" \
    "a low-fidelity first attempt, retried by ReAct, meets the threshold on the second"
out_has '"followed 10 of 20 expected patterns (fidelity 0.50); first missed: s11"' \
    "the retry was given the first attempt's feedback"
out_has "attempt 1: network error -> attempt 2: fidelity 1.00, met the threshold (0.90)" \
    "a network error, retried, recovers on the second attempt"
out_has 'recovery.lua: "network: retry 1 of 5", after a ' "recovery.lua's decision and its wait"
out_has "8. Telemetry:" "the telemetry dashboard closes the story"
out_has "6 needed a retry" "telemetry counts triage's four retried requests and step 7's two"
[ ! -e "$SKILLHOST_DB" ] && ok "the user's workspace is untouched" || not_ok "the user's workspace is untouched"
db=$(sed -n 's/.*throw-away database: //p' "$WORK/out")
[ -n "$db" ] && [ ! -e "$(dirname "$db")" ] && ok "the throw-away folder is removed" ||
    not_ok "the throw-away folder is removed" "$db"

expect 2 "an unknown argument is refused" demo --nope
err_has "unexpected argument '--nope'" "and named"

# --json --keep: the report, and the database left in $TMPDIR to look at.  (--json
# after the verb: the global option, as before it.)
export TMPDIR="$WORK"
expect 0 "demo --json --keep" demo --json --keep
out_has '"ab": {' "json report of the A/B test"
out_has '"evaluation": {' "json report of the evaluation"
out_has '"telemetry": {' "json report of the telemetry"
same "$(json_at '$.demo.retry.skill') $(json_at '$.demo.retry.requests[0].attempts') $(json_at '$.demo.retry.requests[0].met_threshold') $(json_at '$.demo.retry.requests[0].fidelity')" \
    "order_lookup 2 1 [0.5,1.0]" "json: the ReAct retry, two attempts, met the threshold"
same "$(json_at '$.demo.retry.requests[1].attempts') $(json_at '$.demo.retry.requests[1].met_threshold') $(json_at '$.demo.retry.requests[1].per_attempt[0].error.category') $(json_at '$.demo.retry.requests[1].per_attempt[0].recovery.action')" \
    "2 1 network retry" "json: the network error retried by recovery.lua"
out_has '"kept": true' "json says the database is kept"
out_has '"evolution": {"skill": "spam_filter", "evolver": "keyword_evolver.lua", "serving_before": "spam_filter@v1"' \
    "json report of the evolution"
out_has '"variant": "spam_filter@v3", "parent": "spam_filter@v1", "description": "9 labelled spam decided ham' \
    "json: the evolved variant, its parent and the evolver's description"
out_has '"status": "promoted"' "json: the verdict"
out_has '"serving_after": "spam_filter@v3"' "json: who serves afterwards"
trials=$(sed -n 's/.*"trials_to_decision": \([0-9]*\).*/\1/p' "$WORK/out")
db=$(json_get db)
case "$db" in
"$WORK"/skillhost-demo-*/skillhost.db) ok "the kept database is in TMPDIR" ;;
*) not_ok "the kept database is in TMPDIR" "$db" ;;
esac
if [ -f "$db" ]; then
    export SKILLHOST_DB="$db"
    same "$(sql "SELECT evolver LIKE '%/keyword_evolver.lua' FROM skills WHERE skill_id='spam_filter'")" \
        1 "the skill's evolver is keyword_evolver.lua"
    same "$(sql "SELECT parent_id || ' ' || state FROM skill_variations WHERE variation_id='spam_filter@v3'")" \
        "spam_filter@v1 production" "the evolved variant records its parent and serves production"
    same "$(sql "SELECT variation_content FROM skill_variations WHERE variation_id='spam_filter@v3'")" \
        '{"threshold":1,"words":["buy","free","winner","click","offer","money","prize","cheap","crypto","verify","wallet"]}' \
        "its content is the evolver's proposal"
    same "$(sql "SELECT COUNT(*) FROM learning_events WHERE event_type='variation_evolved'
        AND variation_id='spam_filter@v3' AND description LIKE '9 labelled spam decided ham%'")" 1 \
        "a variation_evolved learning event keeps the evolver's reason"
    same "$(sql "SELECT control_version || ' ' || treatment_version || ' ' || status
        FROM ab_test_assignments WHERE skill_name='spam_filter'")" \
        "spam_filter@v1 spam_filter@v3 promoted" "the A/B test ran the parent against the evolved variant"
    same "$(sql "SELECT control_trials + treatment_trials FROM ab_test_assignments
        WHERE skill_name='spam_filter'")" "$trials" "json: trials to the decision"
    same "$(sql "SELECT verdict || ' ' || variant_id FROM decisions WHERE kind='ab'
        AND policy_file LIKE '%/ab.lua'")" "promote spam_filter@v3" "ab.lua made the decision, kept"
    same "$(sql "SELECT variant_id || ' ' || demoted_variant_id || ' ' || approval_ticket
        FROM promotion_events WHERE to_state='production' AND variant_id='spam_filter@v3'")" \
        "spam_filter@v3 spam_filter@v1 $(sql "SELECT test_id FROM ab_test_assignments WHERE skill_name='spam_filter'")" \
        "the promotion names the test that won it"
    # Not rigged: both arms follow every step; the difference is the decisions.
    same "$(sql "SELECT COUNT(*) FROM fidelity_metrics WHERE skill_id='spam_filter' AND pattern_fidelity < 1")" \
        0 "every spam_filter execution followed its steps"
    same "$(sql "SELECT (SELECT AVG(o.correct) FROM outcome_metrics o JOIN executions e USING (execution_id)
        WHERE e.variant_id='spam_filter@v3') - (SELECT AVG(o.correct) FROM outcome_metrics o
        JOIN executions e USING (execution_id), ab_test_assignments t WHERE e.variant_id='spam_filter@v1'
        AND t.skill_name='spam_filter' AND e.timestamp >= t.start_time) >= 0.1")" 1 \
        "the evolved variant decided at least 10 points more right during the test"
    same "$(sql "SELECT COUNT(*) FROM outcome_metrics WHERE variant_id='spam_filter@v3' AND correct=0")" \
        "$(sql "SELECT COUNT(*) FROM outcome_metrics o JOIN executions e USING (execution_id)
            WHERE e.variant_id='spam_filter@v3' AND e.input LIKE '%Feel free to call me%'")" \
        "its only mistakes are the ham that names a listed word"
    same "$(sql "SELECT COUNT(*) FROM (SELECT variant_id FROM executions WHERE skill_id='spam_filter'
        ORDER BY timestamp DESC, execution_id DESC LIMIT 10) WHERE variant_id='spam_filter@v3'")" 10 \
        "it served the requests after the verdict"
    # Step 7, as recorded: two requests of two attempts each, the second attempt meeting the bar.
    same "$(sql "SELECT group_concat(n, ' ') FROM (SELECT COUNT(*) AS n FROM executions
        WHERE skill_id='order_lookup' GROUP BY request_id)")" "2 2" "each recovering request is recorded with 2 attempts"
    same "$(sql "SELECT e.attempt || ':' || f.pattern_fidelity || ':' || COALESCE(e.error_category, '-')
        FROM executions e JOIN fidelity_metrics f USING (execution_id) WHERE e.skill_id='order_lookup'
        ORDER BY e.execution_id" | tr '\n' ' ')" "1:0.5:- 2:1.0:- 1:1.0:network 2:1.0:- " \
        "per attempt: the low fidelity, then the network error, each followed by a full-fidelity attempt"
    same "$(sql "SELECT before_fidelity || '->' || after_fidelity || ' ' || (after_fidelity >= 0.9)
        || ' ' || (description LIKE '%met the threshold%') FROM learning_events
        WHERE skill_name='order_lookup' AND event_type='react_execution' ORDER BY event_id" | tr '\n' ',')" \
        "0.5->1.0 1 1,1.0->1.0 1 1," "react_execution events: final fidelity >= 0.9, met the threshold"
else
    not_ok "the kept database exists" "$db"
fi

done_testing
