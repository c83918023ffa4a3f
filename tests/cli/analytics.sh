#!/bin/sh
# The analytics verbs from the command line (issue 12): analytics, heatmap and
# anomalies answer in text and with --json, filter by tenant, and name bad input.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "register" skill add spam --impl "$PLUGINS/keyword_classifier.so" --state production
for s in 1 2 3; do
    skh run spam --input '{"text": "free money now"}' --session "s$s" --phase triage --tenant acme
    skh run spam --input '{"text": "hello there"}' --session "s$s" --phase review --tenant acme
done
skh run spam --input '{"text": "win a prize"}' --session s9 --phase triage --tenant globex

expect 0 "analytics" analytics
out_has "effectiveness by phase" "the header names the grouping"
out_has "triage -> review  3" "sessions go from triage to review"
out_has "sessions ending in review  3" "and end in review"
expect 0 "analytics --json" analytics --json
same "$(json_at '$.total.requests')" 7 "seven requests in all"
same "$(json_at '$.rows[0].phase')|$(json_at '$.rows[0].requests')" "review|3" "review: 3 requests"
same "$(json_at '$.transitions.sessions')" 4 "four sessions"
expect 0 "analytics --by tenant --tenant globex" analytics --by tenant --tenant globex --json
same "$(json_at '$.rows[0].tenant')|$(json_at '$.total.requests')" "globex|1" "only globex"
same "$(json_at '$.total.requests')" "$(sql "SELECT COUNT(*) FROM executions WHERE tenant = 'globex'")" \
    "as the raw rows say"
expect 0 "analytics --since 1h" analytics --since 1h --json
same "$(json_at '$.total.requests')" 7 "the last hour holds them all"
expect 0 "analytics --since a future day" analytics --since 2999-01-01 --json
same "$(json_at '$.total.requests')" 0 "nothing after it"
expect 2 "--by colour" analytics --by colour
err_has "--by" "names the flag"
expect 2 "--since yesterday" analytics --since yesterday
err_has "yesterday" "names the value"
expect 2 "heatmap's --rows is not analytics'" analytics --rows skill
expect 2 "a stray argument" analytics spam

expect 0 "heatmap" heatmap --rows skill
out_has "executions by skill and hour of day" "the header"
out_has "legend:" "a legend"
width=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$WORK/out")
[ "$width" -le 80 ] && ok "fits in 80 columns ($width)" || not_ok "fits in 80 columns" "widest line: $width"
expect 0 "heatmap --json" heatmap --rows phase --metric success_rate --json
same "$(json_at '$.columns[23]')|$(json_at '$.scale_max')" "23|1.0" "24 hours, rates scaled to 1"
hour=$(date -u +%H | sed 's/^0//')
same "$(json_at "\$.rows[0].name")|$(json_at "\$.rows[0].values[$hour]")" "review|1.0" \
    "this hour's cell holds review's success rate"
expect 0 "heatmap --columns day" heatmap --columns day --json
same "$(json_at '$.columns[0]')" "$(date -u +%Y-%m-%d)" "today is the one day column"
expect 2 "--metric colour" heatmap --metric colour
err_has "--metric" "names the flag"

expect 0 "anomalies" anomalies
out_has "judged 0 new hours" "the hour under way is not judged"
expect 0 "anomalies --json" anomalies --json
same "$(json_at '$.new')|$(json_at '$.anomalies')" "0|[]" "nothing found"
expect 0 "anomalies --help" anomalies --help
out_has "anomaly.lua" "help names the policy"
expect 0 "policy check" policy check
out_has "anomaly.lua" "anomaly.lua loads"
done_testing
