/*
 * Events the store keeps about requests and decisions: the react_execution
 * learning event and request counters, and the decisions table.
 */
#include "config.h"

#include "error.h"
#include "store_internal.h"

static const char sql_learning[] =
    "INSERT INTO learning_events (skill_name, event_type, description, variation_id,"
    " before_fidelity, after_fidelity, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_counter[] =
    "INSERT INTO telemetry_counters (counter_name, counter_value, last_updated)"
    " VALUES (?1, 1, ?2) ON CONFLICT(counter_name) DO UPDATE SET"
    " counter_value = COALESCE(counter_value, 0) + 1, last_updated = excluded.last_updated";
/* One trial, by atomic SQL: never read-modify-write in C (DESIGN §2). */
static const char sql_trial[] =
    "UPDATE ab_test_assignments SET"
    " control_trials = control_trials + (?2 = 0),"
    " control_successes = control_successes + (?2 = 0 AND ?3),"
    " control_attempts = control_attempts + (CASE WHEN ?2 = 0 THEN ?4 ELSE 0 END),"
    " treatment_trials = treatment_trials + (?2 = 1),"
    " treatment_successes = treatment_successes + (?2 = 1 AND ?3),"
    " treatment_attempts = treatment_attempts + (CASE WHEN ?2 = 1 THEN ?4 ELSE 0 END),"
    " step_control_trials = step_control_trials + (?2 = 0),"
    " step_control_successes = step_control_successes + (?2 = 0 AND ?3),"
    " step_treatment_trials = step_treatment_trials + (?2 = 1),"
    " step_treatment_successes = step_treatment_successes + (?2 = 1 AND ?3)"
    " WHERE test_id = ?1 AND status = 'running'";
static const char sql_decision[] =
    "INSERT INTO decisions (skill_name, variant_id, kind, verdict, observed, thresholds,"
    " policy_file, policy_sha256, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

static int count_one(store *st, const char *name, const char *now, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_counter, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, name) | store_bind_text(s, 2, now)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding counter %s failed", name);
    }
    return store_stmt_run(st, s, err, "counting", name);
}

int store_request_end_write(store *st, const store_execution *ex, const char *now, skh_error *err)
{
    const store_request_end *end = ex->end;
    sqlite3_stmt *s = store_stmt(st, sql_learning, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, ex->skill) | store_bind_text(s, 2, "react_execution") |
        store_bind_text(s, 3, end->description) | store_bind_text(s, 4, ex->variant_id) |
        sqlite3_bind_double(s, 5, end->before_fidelity) |
        sqlite3_bind_double(s, 6, end->after_fidelity) | store_bind_text(s, 7, now)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the learning event failed");
    }
    int rc = store_stmt_run(st, s, err, "recording the learning event of", ex->request_id);
    if (rc == SKH_OK)
        rc = count_one(st, "total_requests", now, err);
    if (rc == SKH_OK && end->attempts > 1)
        rc = count_one(st, "react_retry_count", now, err);
    if (rc == SKH_OK && end->test_id) {
        sqlite3_stmt *t = store_stmt(st, sql_trial, err);
        if (!t)
            return err ? err->code : SKH_ESTORE;
        if (store_bind_text(t, 1, end->test_id) | sqlite3_bind_int(t, 2, end->arm != 0) |
            sqlite3_bind_int(t, 3, end->success != 0) | sqlite3_bind_int64(t, 4, end->attempts)) {
            store_stmt_done(t);
            return error_set(err, SKH_ESTORE, store_path(st), "binding the trial failed");
        }
        rc = store_stmt_run(st, t, err, "counting the trial of", end->test_id);
    }
    return rc;
}

int store_decision_add(store *st, const store_decision *d, skh_error *err)
{
    char now[32];
    store_timestamp(now);
    sqlite3_stmt *s = store_stmt(st, sql_decision, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    if (store_bind_text(s, 1, d->skill) | store_bind_text(s, 2, d->variant_id) |
        store_bind_text(s, 3, d->kind) | store_bind_text(s, 4, d->verdict) |
        store_bind_text(s, 5, d->observed) | store_bind_text(s, 6, d->thresholds) |
        store_bind_text(s, 7, d->policy_file) | store_bind_text(s, 8, d->policy_sha256) |
        store_bind_text(s, 9, now)) {
        store_stmt_done(s);
        return store_tx_fail(
            st, error_set(err, SKH_ESTORE, store_path(st), "binding the decision failed"));
    }
    if ((rc = store_stmt_run(st, s, err, "recording a decision of", d->skill)) != SKH_OK)
        return store_tx_fail(st, rc);
    return store_tx_commit(st, err);
}
