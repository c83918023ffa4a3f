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

done_testing
