#!/bin/sh
# The store from the outside: schema versions, locking, the seeds' SQL.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "register" skill add spam --impl keyword_classifier.so --state production
expect 0 "run" run spam --input '{"text": "hello"}'

# The seeds' own queries run unchanged.
same "$(sql "SELECT COUNT(*) FROM fidelity_metrics WHERE skill_id = 'spam'")" 1 "seed: count by skill_id"
same "$(sql "SELECT skill_name, promotion_state FROM skills WHERE skill_id = 'spam'")" "spam|production" \
    "seed: skills row"
for t in skills fidelity_metrics outcome_metrics performance_metrics human_approvals promotion_events \
    rollback_events skill_variations ab_test_assignments learning_events telemetry_counters; do
    sql "SELECT * FROM $t LIMIT 0" >/dev/null 2>&1 && ok "table $t exists" || not_ok "table $t exists"
done

# A lock held past the busy timeout: the output still reaches the caller, recorded: false.
export SKILLHOST_BUSY_TIMEOUT_MS=200
hold_lock "INSERT INTO telemetry_counters(counter_name, counter_value, last_updated) VALUES ('lock_holder', 0, 'now');"
before=$(sql 'SELECT COUNT(*) FROM fidelity_metrics')
expect 4 "a locked database is a store error" --json run spam --input '{"text": "hello"}'
out_has '"recorded": false' "the result says not recorded"
out_has '"decision": "ham"' "but the output is still returned"
err_has "locked" "the error says locked"
release_lock
same "$(sql 'SELECT COUNT(*) FROM fidelity_metrics')" "$before" "nothing half-written"
same "$(sql "SELECT COUNT(*) FROM telemetry_counters WHERE counter_name = 'lock_holder'")" 0 \
    "the other writer's rollback is intact"
unset SKILLHOST_BUSY_TIMEOUT_MS

sql "PRAGMA user_version = 99"
expect 4 "a newer schema is refused" run spam --input '{"text": "hello"}'
err_has "99" "the message names the database's version"
err_has "upgrade skillhost" "and says what to do"
sql "PRAGMA user_version = 1"
same "$(sql 'SELECT COUNT(*) FROM fidelity_metrics')" "$before" "no data lost by the refusal"

done_testing
