#!/bin/sh
# Four processes running 200 skills each against one database: every row
# lands, every counter increment survives, no SQLITE_BUSY failure.
. "$top_srcdir/tests/cli/lib.sh"

per=200
[ "${SKH_VALGRIND:-0}" = 1 ] && per=10 # valgrind is ~50x slower; the property is the same
expect 0 "init" init
expect 0 "register" skill add spam --impl keyword_classifier.so --state production

worker() {
    i=0
    fails=0
    while [ $i -lt $per ]; do
        "$SKILLHOST" -q run spam --input "{\"text\": \"worker $1 message $i free money\"}" \
            >/dev/null 2>>"$WORK/errors.$1" || fails=$((fails + 1))
        i=$((i + 1))
    done
    echo $fails >"$WORK/fails.$1"
}
for w in 1 2 3 4; do worker $w & done
wait

total=$((4 * per))
same "$(awk '{ s += $1 } END { print s }' "$WORK"/fails.*)" 0 "no run failed"
same "$(cat "$WORK"/errors.* | grep -c . )" 0 "nothing on stderr (no SQLITE_BUSY)"
same "$(sql 'SELECT COUNT(*) FROM fidelity_metrics')" $total "fidelity_metrics rows"
same "$(sql 'SELECT COUNT(*) FROM outcome_metrics')" $total "outcome_metrics rows"
same "$(sql 'SELECT COUNT(*) FROM performance_metrics')" $total "performance_metrics rows"
same "$(sql "SELECT counter_value FROM telemetry_counters WHERE counter_name = 'total_executions'")" \
    $total "total_executions lost no increment"
same "$(sql 'SELECT COUNT(DISTINCT execution_id) FROM executions')" $total "execution ids are unique"

# The same with retries: every fourth request needs a second attempt.
expect 0 "register flaky" skill add flaky --impl flaky.so --state production
base_exec=$(sql "SELECT counter_value FROM telemetry_counters WHERE counter_name = 'total_executions'")
flaky_worker() {
    i=0
    while [ $i -lt $per ]; do
        if [ $((i % 4)) -eq 0 ]; then in='{"fidelity_by_attempt": [0.5, 0.95]}'; else in='{}'; fi
        "$SKILLHOST" -q run flaky --input "$in" >/dev/null 2>>"$WORK/ferrors.$1" || echo x >>"$WORK/ffails"
        i=$((i + 1))
    done
}
for w in 1 2 3 4; do flaky_worker $w & done
wait
retried=$((4 * ((per + 3) / 4)))
[ ! -s "$WORK/ffails" ] && ok "no flaky run failed" || not_ok "no flaky run failed"
same "$(sql "SELECT counter_value FROM telemetry_counters WHERE counter_name = 'total_executions'")" \
    $((base_exec + total + retried)) "total_executions counts every attempt"
same "$(sql "SELECT counter_value FROM telemetry_counters WHERE counter_name = 'react_retry_count'")" \
    $retried "react_retry_count counts exactly the retried requests"
same "$(sql "SELECT counter_value FROM telemetry_counters WHERE counter_name = 'total_requests'")" \
    $((2 * total)) "total_requests counts every request"

done_testing
