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
out_has "-> promoted" "the A/B test is won by the better variant"
out_has "served by triage@v2: rolled back automatically" "the regression is rolled back"
err_has "rolled back triage@v3 -> triage@v2" "the rollback is announced on stderr"
out_has "Telemetry:" "the telemetry dashboard closes the story"
[ ! -e "$SKILLHOST_DB" ] && ok "the user's workspace is untouched" || not_ok "the user's workspace is untouched"
db=$(sed -n 's/.*throw-away database: //p' "$WORK/out")
[ -n "$db" ] && [ ! -e "$(dirname "$db")" ] && ok "the throw-away folder is removed" ||
    not_ok "the throw-away folder is removed" "$db"
expect 0 "demo --json" --json demo
out_has '"ab": {' "json report of the A/B test"
out_has '"evaluation": {' "json report of the evaluation"
out_has '"telemetry": {' "json report of the telemetry"

done_testing
