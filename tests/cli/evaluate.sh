#!/bin/sh
# skillhost evaluate: benchmark cases through the pipeline, recorded as
# evaluation, with figures checked exactly against case files whose answer is
# known from the keyword classifier's rule (spam when >= 2 listed words).
. "$top_srcdir/tests/cli/lib.sh"

KNOWN="$FIX/eval_known.jsonl"
MALFORMED="$FIX/eval_malformed.jsonl"
NEGATIVES="$FIX/eval_negatives.jsonl"
# Threshold 1: one listed word is enough.
eager='{"threshold": 1, "words": ["buy", "free", "winner", "click", "offer", "money", "prize", "cheap"]}'

expect 0 "init" init
expect 0 "register the C classifier in production" skill add spam --impl keyword_classifier.so --state production
expect 0 "register the Lua classifier" skill add spam --impl keyword_classifier.lua
expect 0 "register an eager variant" skill add spam --impl keyword_classifier.so --content "$eager"
expect 0 "register another skill" skill add other --impl keyword_classifier.so

# eval_known.jsonl, case by case (C classifier, threshold 2):
#   1 spam critical  winner+click -> spam   right
#   2 spam           buy+cheap    -> spam   right
#   3 spam critical  free+money   -> spam   right
#   4 spam critical  prize        -> ham    false negative, critical
#   5 spam           offer        -> ham    false negative
#   6 ham  critical  -            -> ham    right
#   7 ham            -            -> ham    right
#   8 ham            free+buy     -> spam   false positive
#   9 ham            -            -> ham    right
#  10 spam           text is 42   -> the request fails (validation): ran, failed, fidelity 0
expect 1 "a case that fails makes the batch exit 1" --json evaluate spam --cases "$KNOWN"
same "$(json_get variant)" "spam@v1" "the serving variant is evaluated by default"
same "$(json_get cases)" 10 "cases: 10"
same "$(json_get run)" 10 "run: 10 (the failed request ran)"
same "$(json_get failed)" 1 "failed: 1"
same "$(json_get fidelity)" 0.9 "fidelity: nine cases at 1.0 and one at 0.0"
same "$(json_get outcome)" 0.6 "outcome: 6 of 10 correct"
same "$(json_get correct)" 6 "correct: 6"
same "$(json_get positive_class)" spam "the positive class is the first non-negative expected label"
same "$(json_get positive_class_source)" expected "and says where it came from"
same "$(json_get negatives)" 4 "negatives: 4"
same "$(json_get false_positives)" 1 "false positives: 1"
same "$(json_get false_positive_rate)" 0.25 "false-positive rate: 1/4"
same "$(json_get false_negatives)" 3 "false negatives: 3 (two misses and the failure)"
same "$(json_get critical_false_negatives)" 1 "critical false negatives: 1"
out_has "eval_known.jsonl:10: " "the failed case is named by file:line"
out_has '"kind": "failed"' "and marked as a failed request"
out_has '"category": "validation"' "with its error category"
err_has "eval_known.jsonl:10: " "the failed case is reported on stderr"
out_has '{"line": 4, "expected": "spam", "decision": "ham", "critical": true}' \
    "the critical miss is listed among the wrong answers"

# What was recorded.
same "$(sql "SELECT COUNT(*) FROM executions WHERE evaluation = 1 AND variant_id = 'spam@v1'")" 10 \
    "ten executions recorded, all marked as evaluation"
same "$(sql "SELECT COUNT(*) FROM executions WHERE evaluation = 0")" 0 "none as live traffic"
same "$(sql "SELECT COUNT(*) FROM outcome_metrics WHERE expected = 'spam'") $(sql "SELECT COUNT(*) FROM outcome_metrics WHERE expected = 'ham'")" \
    "6 4" "outcome_metrics.expected set on every row"
same "$(sql "SELECT COUNT(*) FROM outcome_metrics WHERE critical = 1")" 4 "outcome_metrics.critical set"
same "$(sql "SELECT o.decision || '|' || o.correct || '|' || o.critical FROM outcome_metrics o
             JOIN executions e USING (execution_id) WHERE e.input LIKE '%prize at our desk%'")" \
    "ham|0|1" "the critical miss is recorded as wrong and critical"
same "$(sql "SELECT COUNT(*) FROM executions WHERE input LIKE '%\"label\":\"spam\"%'")" 6 \
    "each input carries its expected value as the label"
same "$(sql "SELECT SUM(correct) FROM outcome_metrics")" 6 "the outcome scorer agrees: 6 correct"
same "$(sql "SELECT error_category FROM performance_metrics WHERE exception = 1")" validation \
    "the failed case is recorded with its category"

expect 1 "the text report" evaluate spam --cases "$KNOWN"
out_has "evaluated spam@v1 on $KNOWN" "it names the variant and the file"
out_has "cases                     10 (10 run, 1 failed)" "cases run and failed"
out_has "pattern fidelity          0.9" "fidelity"
out_has "outcome (share correct)   0.6 (6 of 10)" "outcome"
out_has "false-positive rate       0.25 (1 of 4 negatives)" "false-positive rate with counts"
out_has "critical false negatives  1" "critical false negatives"
out_has "line 4: expected spam, decided ham (critical)" "the wrong answers"
out_has "line 10: expected spam, no decision" "the failed case decided nothing"
err_has "skillhost: $KNOWN:10: spam: validation error" "the failure on stderr with file:line"

# Another variant: every figure follows it.
expect 1 "--variant the eager one" --json evaluate spam --variant spam@v3 --cases "$KNOWN"
same "$(json_get variant)" "spam@v3" "the variant asked for"
same "$(json_get outcome)" 0.8 "cases 4 and 5 are now caught: 8 of 10"
same "$(json_get false_positive_rate)" 0.25 "case 8 is still a false positive"
same "$(json_get critical_false_negatives)" 0 "no critical miss"
same "$(sql "SELECT COUNT(*) FROM executions WHERE variant_id = 'spam@v3' AND evaluation = 1")" 10 \
    "recorded against spam@v3"
expect 1 "the Lua twin" --json evaluate spam --variant spam@v2 --cases "$KNOWN"
same "$(json_get outcome) $(json_get false_positive_rate) $(json_get critical_false_negatives) $(json_get fidelity)" \
    "0.6 0.25 1 0.9" "the Lua classifier measures the same"

# The skill's own positive class wins over the file's labels.
expect 0 "skill set --positive-class" skill set spam --positive-class ham
out_has "spam: positive class ham" "says what it set"
expect 0 "skill show" skill show spam
out_has "positive class: ham" "skill show names it"
same "$(sql "SELECT positive_class FROM skills WHERE skill_id = 'spam'")" ham "kept on the skill"
expect 1 "positive class set for the skill" --json evaluate spam --cases "$KNOWN"
same "$(json_get positive_class) $(json_get positive_class_source)" "ham skill" "positive class from the skill"
same "$(json_get negatives) $(json_get false_positives)" "6 2" "spam cases are the negatives now; 4 and 5 decided ham"
same "$(json_get false_positive_rate)" 0.333333333333333 "false-positive rate: 2/6"
same "$(json_get critical_false_negatives)" 0 "the one ham miss (case 8) is not critical"
expect 0 "an empty class clears it" --json skill set spam --positive-class ""
same "$(json_at '$.positive_class')" "" "json: null"
same "$(sql "SELECT positive_class IS NULL FROM skills WHERE skill_id = 'spam'")" 1 "cleared"
expect 2 "unknown skill" skill set nosuch --positive-class spam
err_has "nosuch: no such skill" "names it"
expect 2 "nothing to set" skill set spam
err_has "nothing to set" "says so"
expect 0 "skill add --positive-class" skill add other --impl keyword_classifier.so --positive-class spam
same "$(sql "SELECT positive_class FROM skills WHERE skill_id = 'other'")" spam "set with the variant"

# Only negative labels: the positive class is the first other decision; a wrong
# answer is a measurement, not a failure.
expect 0 "every case ran: exit 0 despite a wrong answer" --json evaluate spam --cases "$NEGATIVES"
same "$(json_get positive_class) $(json_get positive_class_source)" "spam decision" \
    "positive class from the decisions"
same "$(json_get false_positive_rate)" 0.333333333333333 "1 of 3 negatives decided spam"
same "$(json_get outcome)" 0.666666666666667 "2 of 3 correct"
same "$(json_get failed)" 0 "nothing failed"

# Malformed lines are reported with file:line, counted as failed; the rest runs.
before=$(sql "SELECT COUNT(*) FROM executions")
expect 1 "malformed lines" --json evaluate spam --cases "$MALFORMED"
same "$(json_get cases) $(json_get run) $(json_get failed)" "9 2 7" \
    "9 lines with content, the 2 good cases ran, 7 failed"
same "$(json_get outcome) $(json_get fidelity)" "1.0 1.0" "the good cases are measured"
same "$(($(sql "SELECT COUNT(*) FROM executions") - before))" 2 "only the good cases were recorded"
out_has "eval_malformed.jsonl:3: column" "bad JSON: file:line and column"
out_has "eval_malformed.jsonl:4: \\\"expected\\\" is missing" "missing expected"
out_has "eval_malformed.jsonl:5: \\\"input\\\" must be an object, got a string" "input not an object"
out_has "eval_malformed.jsonl:6: \\\"critical\\\" must be true or false" "critical not a boolean"
out_has "eval_malformed.jsonl:7: unknown key \\\"critcal\\\"" "a misspelt key is not ignored"
out_has "eval_malformed.jsonl:8: input.label (\\\"spam\\\") disagrees with expected \\\"ham\\\"" \
    "a contradicting label"
out_has "eval_malformed.jsonl:9: a case must be a JSON object, got an array" "not an object"
same "$(grep -o '"kind": "malformed"' "$WORK/out" | wc -l)" 7 "seven malformed lines"
err_has "skillhost: $MALFORMED:3: column" "malformed lines on stderr too"
same "$(grep -c "^skillhost: $MALFORMED:" "$WORK/err")" 7 "one stderr line each"

# A line of any length.
long=$(awk 'BEGIN { for (i = 0; i < 20000; i++) printf "lunch "; }')
printf '{"input": {"text": "%s free money"}, "expected": "spam"}\n' "$long" >"$WORK/long.jsonl"
expect 0 "a 120 KB line" --json evaluate spam --cases "$WORK/long.jsonl"
same "$(json_get run) $(json_get outcome)" "1 1.0" "read whole and decided"

# The bundled benchmark: the shipped classifier gets every case right.
expect 0 "the bundled cases" --json evaluate spam --cases "$top_srcdir/plugins/keyword_cases.jsonl"
same "$(json_get cases) $(json_get run) $(json_get failed)" "12 12 0" "all twelve ran"
same "$(json_get outcome) $(json_get false_positive_rate) $(json_get critical_false_negatives)" \
    "1.0 0.0 0" "all correct"

# Refusals.
expect 2 "unknown skill" evaluate nope --cases "$KNOWN"
err_has "nope" "the skill is named"
expect 2 "unknown variant" evaluate spam --variant spam@v9 --cases "$KNOWN"
expect 2 "a variant of another skill" evaluate spam --variant other@v1 --cases "$KNOWN"
err_has "other@v1 is a variant of other, not of spam" "the mismatch is explained"
expect 2 "missing case file" evaluate spam --cases "$WORK/nope.jsonl"
err_has "$WORK/nope.jsonl: cannot read the case file" "the file is named"
expect 2 "--json: missing case file" --json evaluate spam --cases "$WORK/nope.jsonl"
out_has '"error"' "the JSON error object"
printf '\n  \n\n' >"$WORK/blank.jsonl"
expect 2 "a file without cases" evaluate spam --cases "$WORK/blank.jsonl"
err_has "no cases" "is refused"
expect 2 "a folder is no case file" evaluate spam --cases "$WORK"
err_has "$WORK: cannot read the case file: Is a directory" "and says why"
expect 2 "--cases is required" evaluate spam
expect 2 "one skill NAME" evaluate spam other --cases "$KNOWN"
expect 2 "unknown option" evaluate spam --cases "$KNOWN" --bogus
expect 0 "--help" evaluate --help
out_has "evaluate NAME" "usage shown"

# --jobs N: the same report as one job (execution ids aside), malformed lines
# and failed requests in line order.
for f in "$KNOWN" "$MALFORMED"; do
    skh --json evaluate spam --cases "$f"
    one_status=$status
    sed 's/"execution_id": *"[^"]*"//g' "$WORK/out" >"$WORK/one.json"
    skh --json evaluate spam --cases "$f" --jobs 4
    sed 's/"execution_id": *"[^"]*"//g' "$WORK/out" >"$WORK/four.json"
    same "$status" "$one_status" "--jobs 4 on $(basename "$f"): the same exit status"
    if cmp -s "$WORK/one.json" "$WORK/four.json"; then
        ok "--jobs 4 on $(basename "$f"): the same report"
    else
        not_ok "--jobs 4 on $(basename "$f"): the same report" "$(diff "$WORK/one.json" "$WORK/four.json")"
    fi
done
expect 2 "--jobs 0 is refused" evaluate spam --cases "$KNOWN" --jobs 0
err_has "--jobs: '0' is not a number from 1 to 64" "and says why"
expect 2 "--jobs x is refused" evaluate spam --cases "$KNOWN" --jobs x

# Progress: on stderr, only on a terminal (SKILLHOST_PROGRESS=always stands in
# for one here), never with -q.
skh evaluate spam --cases "$KNOWN"
if grep -q "cases (" "$WORK/err"; then not_ok "no progress when stderr is not a terminal"; else
    ok "no progress when stderr is not a terminal"
fi
SKILLHOST_PROGRESS=always skh evaluate spam --cases "$KNOWN" --jobs 2
err_has "evaluate spam: 10/10 cases (100%)" "progress: done/total on stderr"
err_has "evaluate spam: 0/10 cases (0%)" "progress from the start"
out_has "evaluated spam@v1" "the report still on stdout"
SKILLHOST_PROGRESS=always skh -q evaluate spam --cases "$KNOWN"
if grep -q "cases (" "$WORK/err"; then not_ok "-q: no progress"; else ok "-q: no progress"; fi
if command -v script >/dev/null 2>&1; then
    script -qec "$SKILLHOST evaluate spam --cases $KNOWN" /dev/null >"$WORK/tty" 2>&1
    if grep -q "ETA\|cases (100%)" "$WORK/tty" && grep -q "evaluated spam@v1" "$WORK/tty"; then
        ok "on a real terminal: a progress line, then the report"
    else
        not_ok "on a real terminal: a progress line, then the report" "$(cat -v "$WORK/tty" | head -5)"
    fi
fi

same "$(sql "SELECT COUNT(*) FROM executions WHERE evaluation = 0")" 0 \
    "evaluation never recorded live traffic"

done_testing
