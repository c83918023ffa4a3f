#!/bin/sh
# skillhost evolve: the skill's evolver proposes a variant from the serving
# one's recent mistakes; it is registered with its parent and enters an A/B
# test at once.
. "$top_srcdir/tests/cli/lib.sh"

strict='{"threshold":3,"words":["buy","free","money"]}'

expect 0 "init" init
expect 0 "register a strict classifier with an evolver" \
    skill add spam --impl keyword_classifier.so --content "$strict" --state production \
    --evolver keyword_evolver.lua
case "$(sql "SELECT evolver FROM skills WHERE skill_id='spam'")" in
/*/keyword_evolver.lua) ok "the evolver is stored as an absolute path" ;;
*) not_ok "the evolver is stored as an absolute path" ;;
esac

# Labelled spam the strict content misses (no listed word), and one ham it gets right.
expect 0 "run missed spam 1" run spam --input '{"text":"Claim your prize, winner","label":"spam"}'
out_has '"ham"' "the strict variant misses it"
expect 0 "run missed spam 2" run spam --input '{"text":"prize waiting: claim it","label":"spam"}'
expect 0 "run ham" run spam --input '{"text":"lunch at noon?","label":"ham"}'
same "$(sql "SELECT COUNT(*) FROM outcome_metrics WHERE correct = 0")" 2 "two mistakes recorded"

expect 0 "evolve" evolve spam
test_id=$(sql "SELECT test_id FROM ab_test_assignments WHERE skill_name='spam' AND status='running'")
same "$(head -1 "$WORK/out")" "spam@v2 (parent spam@v1), A/B test $test_id started" \
    "evolve names the variant, its parent and the test"
out_has "2 labelled spam decided ham" "the evolver's reason is shown"
same "$(sql "SELECT parent_id || ' ' || state FROM skill_variations WHERE variation_id='spam@v2'")" \
    "spam@v1 prototype" "the new variant records its parent"
same "$(sql "SELECT variation_content FROM skill_variations WHERE variation_id='spam@v2'")" \
    '{"threshold":2,"words":["buy","free","money","claim","prize","waiting"]}' \
    "the new content lowers the threshold and adds the missed words"
same "$(sql "SELECT COUNT(*) FROM skill_variations a, skill_variations b
    WHERE a.variation_id='spam@v1' AND b.variation_id='spam@v2'
    AND a.impl = b.impl AND a.impl_sha256 = b.impl_sha256 AND a.patterns = b.patterns")" 1 \
    "same impl, sha256 and patterns as the parent"
same "$(sql "SELECT control_version || ' ' || treatment_version FROM ab_test_assignments
    WHERE test_id='$test_id'")" "spam@v1 spam@v2" "the A/B test runs the parent against it"
same "$(sql "SELECT COUNT(*) FROM learning_events WHERE event_type='variation_evolved'
    AND variation_id='spam@v2'")" 1 "a learning event is kept"

expect 0 "ab status" ab status spam
out_has "spam@v2" "ab status shows the evolved variant"
expect 1 "a second evolve is refused while the test runs" evolve spam
err_has "still running" "it says why"
same "$(sql "SELECT COUNT(*) FROM skill_variations")" 2 "no variant added by the refusal"

expect 0 "stop the test" ab stop spam
expect 1 "the same evidence proposes nothing new" evolve spam
err_has "already holds" "it names the variant that holds the proposal"

expect 0 "run more missed spam" run spam --input '{"text":"jackpot! claim the jackpot","label":"spam"}'
expect 0 "evolve --json with --weight and --target" --json evolve spam --weight 20 --target 30
same "$(json_get variant)" "spam@v3" "--json: variant"
same "$(json_get parent)" "spam@v1" "--json: parent (the serving variant)"
out_has '"description":' "--json: description"
out_has '\"jackpot\"' "--json: the content holds the new word"
test_id=$(json_get test_id)
same "$(sql "SELECT weight || ' ' || sample_size_target || ' ' || treatment_version
    FROM ab_test_assignments WHERE test_id='$test_id'")" "20.0 30 spam@v3" \
    "--weight and --target reach the A/B test"
# The CLI prints skh_evolve_report's answer: every field of the report.
out_has '"skill": "spam"' "--json: skill"
out_has '"patterns": [' "--json: the patterns"
case "$(json_get evolver)" in
/*/keyword_evolver.lua) ok "--json: the evolver's path" ;;
*) not_ok "--json: the evolver's path" "$(json_get evolver)" ;;
esac
same "$(json_get test_id)" "$(sql "SELECT test_id FROM ab_test_assignments WHERE status='running'")" \
    "--json: the running test"

# --json and -q after the verb: two fresh skills, each with mistakes for the evolver to fix.
for s in mail news; do
    expect 0 "register $s" skill add $s --impl keyword_classifier.so --content "$strict" \
        --state production --evolver keyword_evolver.lua
    expect 0 "$s misses spam" run $s --input '{"text":"Claim your prize, winner","label":"spam"}'
done
expect 0 "evolve NAME --json -q --target N: global options after the verb" evolve mail --json -q --target 25
same "$(json_get variant)" "mail@v2" "the JSON report"
same "$(sql "SELECT sample_size_target FROM ab_test_assignments WHERE treatment_version='mail@v2'")" \
    25 "and the verb's own option after them"
expect 0 "evolve NAME -q" evolve news -q
same "$(wc -l <"$WORK/out" | tr -d ' ')" 1 "-q drops the evolver's description line"

# Errors.
expect 2 "unknown skill" evolve nope
err_has "nope" "the unknown skill is named"
expect 0 "a skill without an evolver" skill add plain --impl keyword_classifier.so --state production
expect 2 "evolve without an evolver" evolve plain
err_has "skill plain has no evolver" "it says what is missing"
err_has "--evolver FILE" "and how to give it one"
expect 3 "--evolver that is not an evolver" evolve plain --evolver keyword_classifier.lua
err_has "is a skill plugin, not an evolver" "the kind is named"
expect 3 "skill add --evolver that is not an evolver" \
    skill add plain --impl keyword_classifier.so --evolver keyword_classifier.lua
same "$(sql "SELECT COUNT(*) FROM skill_variations WHERE skill_name='plain'")" 1 \
    "a refused evolver registers nothing"
expect 2 "--evolver file missing" evolve plain --evolver /nonexistent/e.lua
expect 2 "NAME required" evolve
expect 2 "--weight must be a percentage" evolve spam --weight 0
expect 2 "--target must be a whole number" evolve spam --target x
expect 0 "evolve --help" evolve --help
out_has "--evolver FILE" "help shows the options"

done_testing
