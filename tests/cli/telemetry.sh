#!/bin/sh
# skillhost telemetry: the dashboard's numbers follow from the requests run.
. "$top_srcdir/tests/cli/lib.sh"

# row_get SKILL KEY: a scalar of one skill's row in the JSON on stdout (rows are flat objects).
row_get() {
    sed -n "s/.*{\"skill\": \"$1\", \\([^}]*\\)}.*/\\1/p" "$WORK/out" |
        sed -n "s/.*\"$2\": *\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" | head -1 | tr -d '"'
}

# top_get KEY: a top-level scalar (json_get would find a skill row's retry_rate after it).
top_get() {
    sed 's/, "skills": .*//' "$WORK/out" |
        sed -n "s/.*\"$1\": *\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" | head -1 | tr -d '"'
}

# out_matches ERE DESCRIPTION: a line of stdout matches the extended regular expression.
out_matches() {
    if grep -qE -- "$1" "$WORK/out"; then ok "$2"; else not_ok "$2" "stdout lacks a match for: $1"; fi
}

expect 0 "--help" telemetry --help
out_has "usage: skillhost [GLOBAL OPTIONS] telemetry" "help names the verb"
expect 2 "an unexpected argument is a usage error" telemetry now
err_has "unexpected argument 'now'" "the argument is named"
expect 4 "no workspace yet" telemetry
err_has "skillhost init" "the error says how to make one"

expect 0 "init" init
expect 0 "empty workspace" telemetry
out_has "no executions yet" "says nothing ran"
out_matches '^  total executions +0$' "zero executions"
out_matches '^  requests +0$' "zero requests"
out_matches '^  retried requests +0 +\(retry rate 0\.0%' "zero retries"
expect 0 "empty workspace --json" --json telemetry
same "$(top_get total_executions) $(top_get total_requests) $(top_get retry_count)" "0 0 0" \
    "json zeros"
same "$(top_get since)" null "since is null"
out_has '"skills": []' "no skill rows"
same "$(top_get variation_win_rate) $(top_get avg_fidelity_delta)" "0.0 0.0" \
    "win rate and fidelity delta are 0.0"

expect 0 "register keyword_classifier" skill add spam --impl keyword_classifier.so --state production
expect 0 "register flaky" skill add flaky --impl flaky.so --state production
expect 0 "a skill that never ran has a row" --json telemetry
same "$(row_get flaky executions) $(row_get flaky mean_fidelity) $(row_get flaky last_run)" \
    "0 null null" "zeros, no mean, no last run"

expect 0 "spam 1" run spam --input '{"text": "free money, click now"}'
expect 0 "spam 2" run spam --input '{"text": "see you at lunch"}'
expect 0 "spam 3" run spam --input '{"text": "cheap prize offer"}'
expect 0 "flaky needs two attempts" run flaky --input '{"fidelity_by_attempt": [0.5, 0.95]}'
expect 0 "flaky needs two attempts again" run flaky --input '{"fidelity_by_attempt": [0.5, 0.95]}'
expect 0 "flaky needs one attempt" run flaky --input '{}'
same "$(sql 'SELECT COUNT(*) FROM executions')" 8 "3 + 2 + 2 + 1 attempts recorded"

# 6 requests, 8 executions, 2 of the requests retried.
expect 0 "telemetry --json" --json telemetry
same "$(top_get total_executions)" 8 "total_executions"
same "$(top_get total_requests)" 6 "total_requests: one per request"
same "$(top_get retry_count)" 2 "retry_count: one per retried request"
same "$(top_get retry_rate)" 0.333 "retry_rate = 2 / 6"
same "$(top_get retry_per_execution)" 0.25 "retry_per_execution = 2 / 8"
same "$(top_get since)" "$(sql 'SELECT MIN(timestamp) FROM executions')" "since: the first execution"
same "$(row_get flaky requests) $(row_get flaky executions) $(row_get flaky retried_requests)" \
    "3 5 2" "flaky: 3 requests, 5 executions, 2 retried"
same "$(row_get flaky retry_rate) $(row_get flaky mean_fidelity) $(row_get flaky error_rate)" \
    "0.667 0.78 0.0" "flaky: retry rate, mean of 0.5 0.95 0.5 0.95 1.0, no errors"
same "$(row_get flaky last_run)" "$(sql "SELECT MAX(timestamp) FROM executions WHERE skill_id='flaky'")" \
    "flaky: last run"
same "$(row_get spam requests) $(row_get spam executions) $(row_get spam retried_requests)" \
    "3 3 0" "spam: 3 requests, 3 executions, none retried"
same "$(row_get spam retry_rate) $(row_get spam mean_fidelity) $(row_get spam error_rate)" \
    "0.0 1.0 0.0" "spam: every pattern followed, no errors"

expect 0 "telemetry text" telemetry
out_has "skillhost telemetry (since $(sql 'SELECT MIN(timestamp) FROM executions'))" "header names since"
out_matches '^  total executions +8$' "total executions"
out_matches '^  requests +6$' "requests"
out_matches '^  retried requests +2 +\(retry rate 33\.3%, 0\.250 retries per execution\)$' \
    "retried requests and rate"
out_matches '^  variations tested +0 +promoted 0 +win rate 0\.0% +avg fidelity delta \+0\.000$' \
    "variation line"
out_matches '^SKILL +REQUESTS +EXECUTIONS +RETRY RATE +MEAN FIDELITY +ERROR RATE +LAST RUN$' \
    "table header"
out_matches '^flaky +3 +5 +66\.7% +0\.780 +0\.0% +20[0-9-]+T' "flaky row"
out_matches '^spam +3 +3 +0\.0% +1\.000 +0\.0% +20[0-9-]+T' "spam row"
expect 0 "--json after the verb" telemetry --json
same "$(top_get total_executions)" 8 "same object"

# A/B history written as the seeds write it: one promoted, one archived.
sql "UPDATE skill_variations SET test_status = 'promoted', promoted = 1 WHERE variation_id = 'spam@v1';
     INSERT INTO skill_variations (variation_id, skill_name, version, impl, state, test_status, created_at)
       VALUES ('spam@v2', 'spam', 2, 'x.so', 'archived', 'archived', 'x');
     INSERT INTO learning_events (skill_name, event_type, before_fidelity, after_fidelity, timestamp)
       VALUES ('spam', 'variation_promoted', 0.75, 0.875, 'x');"
expect 0 "after an A/B test" --json telemetry
same "$(top_get variations_tested) $(top_get variations_promoted)" "2 1" "tested and promoted"
same "$(top_get variation_win_rate) $(top_get avg_fidelity_delta)" "0.5 0.125" \
    "win rate and fidelity delta"
expect 0 "text after an A/B test" telemetry
out_matches 'variations tested +2 +promoted 1 +win rate 50\.0% +avg fidelity delta \+0\.125$' \
    "variation line"

# A failing request: every attempt counts as an execution with an error.
expect 1 "a failing request" run spam --input '{"text": 42}'
expect 0 "telemetry after a failure" --json telemetry
same "$(row_get spam executions)" "$(sql "SELECT COUNT(*) FROM executions WHERE skill_id='spam'")" \
    "spam executions match the table"
same "$(top_get total_executions)" "$(sql 'SELECT COUNT(*) FROM executions')" \
    "total_executions matches the table"
same "$(top_get total_requests)" 7 "the failed request counts once"
failed=$(sql "SELECT COUNT(*) FROM performance_metrics WHERE skill_id='spam' AND exception = 1")
all=$(sql "SELECT COUNT(*) FROM performance_metrics WHERE skill_id='spam'")
same "$(row_get spam error_rate)" "$(sql "SELECT round($failed * 1.0 / $all, 3)")" \
    "spam error rate = failed attempts / attempts"

done_testing
