#!/bin/sh
# skillhost run: one request, scored and recorded in three metric tables.
. "$top_srcdir/tests/cli/lib.sh"

rows() {
    echo "$(sql 'SELECT COUNT(*) FROM fidelity_metrics') $(sql 'SELECT COUNT(*) FROM outcome_metrics') $(sql 'SELECT COUNT(*) FROM performance_metrics')"
}

expect 0 "init" init
expect 0 "register C variant" skill add spam --impl keyword_classifier.so --state production
expect 0 "register Lua variant" skill add spam --impl keyword_classifier.lua

expect 0 "run the serving variant" run spam --input '{"text": "free money, click now", "label": "spam"}'
out_has '"decision": "spam"' "the classifier decided spam"
same "$(rows)" "1 1 1" "one row in each metric table"
same "$(sql 'SELECT COUNT(*) FROM executions')" 1 "one executions row"
same "$(sql 'SELECT pattern_fidelity FROM fidelity_metrics')" "1.0" "all four patterns followed"
same "$(sql 'SELECT decision, correct FROM outcome_metrics')" "spam|1" "outcome scored against the label"
same "$(sql 'SELECT exception FROM performance_metrics')" 0 "no exception"
same "$(sql "SELECT counter_value FROM telemetry_counters WHERE counter_name='total_executions'")" 1 \
    "total_executions counted"

expect 0 "run --json" --json run spam --variant spam@v2 --input '{"text": "see you at lunch"}' --session s1 --phase triage
out_has '"execution_ids": [' "json has execution_ids"
out_has '"variant": "spam@v2"' "json names the variant"
out_has '"attempts": 1' "json counts attempts"
out_has '"fidelity": [' "json lists fidelity per attempt"
out_has '"recorded": true' "json says recorded"
out_has '"decision": "ham"' "Lua variant decided ham"
same "$(rows)" "2 2 2" "second run, second rows"
same "$(sql "SELECT session_id, workflow_phase FROM executions WHERE variant_id='spam@v2'")" "s1|triage" \
    "invocation context recorded"
same "$(sql "SELECT correct IS NULL FROM outcome_metrics WHERE variant_id='spam@v2'")" 1 \
    "correct is unknown without a label"

# C and Lua twins decide identically.
for text in "buy cheap prize now" "hello there" "FREE free Free winner" "offer"; do
    skh --json run spam --variant spam@v1 --input "{\"text\": \"$text\"}"
    c_out=$(sed -n 's/.*"output": \({[^}]*}\).*/\1/p' "$WORK/out")
    skh --json run spam --variant spam@v2 --input "{\"text\": \"$text\"}"
    lua_out=$(sed -n 's/.*"output": \({[^}]*}\).*/\1/p' "$WORK/out")
    same "$lua_out" "$c_out" "C and Lua agree on '$text'"
done

before=$(rows)
expect 2 "malformed --input is rejected" run spam --input '{"text": "x",}'
err_has "skillhost: --input: line 1, column" "the error names line and column"
same "$(rows)" "$before" "nothing recorded for malformed input"
printf '{\n  "text": \n}\n' >"$WORK/bad.json"
expect 2 "malformed @FILE input" run spam --input "@$WORK/bad.json"
err_has "$WORK/bad.json: line 3" "the error names the file and line"
expect 2 "input must be an object" run spam --input '[1,2]'
expect 2 "missing @FILE" run spam --input "@$WORK/nope.json"
expect 2 "variant of another skill" run spam --variant other@v1 --input '{}'
expect 2 "unknown variant" run spam --variant spam@v9 --input '{}'

expect 1 "a skill failure exits 1" run spam --input '{"text": 42}'
err_has "validation" "the category is reported"
same "$(sql "SELECT exception, error_category FROM performance_metrics ORDER BY timestamp DESC LIMIT 1")" \
    "1|validation" "the failure is recorded with its category"
expect 1 "--json failure" --json run spam --input '{"text": 42}'
out_has '"category": "validation"' "json carries the error category"
out_has '"output": null' "no output on failure"

# A plugin changed after registration is refused until registered again.
cp "$PLUGINS/keyword_classifier.so" "$WORK/kc.so"
expect 0 "register a copy" skill add copy --impl "$WORK/kc.so" --state production
expect 0 "the copy runs" run copy --input '{"text": "hi"}'
printf 'x' >>"$WORK/kc.so"
before=$(rows)
expect 3 "a changed plugin is refused" run copy --input '{"text": "hi"}'
err_has "changed since it was registered" "the reason is given"
same "$(rows)" "$before" "nothing recorded"
expect 0 "re-register the changed file" skill add copy --impl "$WORK/kc.so" --state production
expect 0 "now it runs" run copy --input '{"text": "hi"}'

# ReAct: the flaky skill follows half its patterns first, then 95%.
expect 0 "register flaky" skill add flaky --impl flaky.so --state production
expect 0 "a low-fidelity first attempt is retried" --json run flaky --input '{"fidelity_by_attempt": [0.5, 0.95]}'
out_has '"attempts": 2' "two attempts"
out_has '"fidelity": [0.5, 0.95' "fidelity per attempt"
out_has '"_react_retry": true' "the retry input carries _react_retry"
out_has '"_previous_attempt"' "and _previous_attempt"
out_has '"met_threshold": true' "met the threshold"
expect 0 "--no-react runs once" --json run flaky --no-react --input '{"fidelity_by_attempt": [0.5, 0.95]}'
out_has '"attempts": 1' "one attempt"
out_has '"met_threshold": false' "below the bar, still exit 0"

# --json and -q after the verb are the global options, as before it.
expect 0 "run NAME --input ... --json" run flaky --input '{"fidelity_by_attempt": [0.5, 0.95]}' --json
out_has '"attempts": 2' "--json after the verb prints the whole result"
out_has '"met_threshold": true' "with met_threshold"
expect 0 "run --json in the middle" run flaky --json --no-react --input '{"fidelity_by_attempt": [1.0]}'
out_has '"attempts": 1' "--json among the verb's options"
expect 0 "run ... -q" run spam --input '{"text": "free money"}' -q
out_has '"decision": "spam"' "-q after the verb still prints the output"
expect 0 "run ... --quiet --json" run spam --input '{"text": "free money"}' --quiet --json
out_has '"execution_ids": [' "--quiet and --json together"
# An option's value is the option's: --session takes "-q", and -q is not quiet mode then.
expect 0 "a value that looks like a global option stays a value" \
    run flaky --no-react --session -q --input '{"fidelity_by_attempt": [1.0]}' --json
out_has '"attempts": 1' "the request ran"
same "$(sql "SELECT COUNT(*) FROM executions WHERE session_id='-q'")" 1 "--session recorded '-q'"
expect 4 "--db after the verb is the global option (issue 13)" run spam --input '{}' --db "$WORK/none.db"
err_has "$WORK/none.db: no such database" "the database given after the verb is the one opened"

done_testing
