/*
 * The telemetry dashboard (DESIGN §8): the seeds' get_telemetry_dashboard()
 * numbers, computed with the seeds' own SQL, plus request counts, retry rates
 * and a row per skill.  Everything is read in one read transaction so the
 * counters and the per-skill rows describe the same moment even while other
 * processes keep recording.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "error.h"
#include "store.h"
#include "store_internal.h"

static const char sql_counters[] = "SELECT COALESCE((SELECT counter_value FROM telemetry_counters"
                                   "  WHERE counter_name = 'react_retry_count'), 0),"
                                   " COALESCE((SELECT counter_value FROM telemetry_counters"
                                   "  WHERE counter_name = 'total_executions'), 0),"
                                   " COALESCE((SELECT counter_value FROM telemetry_counters"
                                   "  WHERE counter_name = 'total_requests'), 0)";

/* The seeds' win-rate query, unchanged. */
static const char sql_variations[] =
    "SELECT COUNT(*), SUM(CASE WHEN promoted = 1 THEN 1 ELSE 0 END) FROM skill_variations"
    " WHERE test_status IN ('promoted', 'archived')";

/* The seeds' fidelity-delta query, unchanged (learning_events_type index). */
static const char sql_delta[] = "SELECT AVG(after_fidelity - before_fidelity) FROM learning_events"
                                " WHERE event_type = 'variation_promoted'"
                                " AND before_fidelity IS NOT NULL AND after_fidelity IS NOT NULL";

/*
 * The earliest execution: executions has no index on timestamp alone, but
 * executions_skill_time answers MIN(timestamp) per skill with one seek, and
 * every execution belongs to a registered skill (foreign key).
 */
static const char sql_since[] =
    "SELECT MIN((SELECT MIN(e.timestamp) FROM executions e WHERE e.skill_id = s.skill_id))"
    " FROM skills s";

static const char sql_skills[] = "SELECT skill_id FROM skills ORDER BY skill_id";

/*
 * Per skill, requests and retried requests: this reads every execution of the
 * skill (found through executions_skill_time, grouped by request_id in a
 * temporary b-tree).  A scan per skill is acceptable for a dashboard someone
 * asks for by hand; nothing on the execute path runs it.
 */
static const char sql_skill_requests[] =
    "SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(SUM(n > 1), 0) FROM"
    " (SELECT COUNT(*) AS n FROM executions WHERE skill_id = ?1 GROUP BY request_id)";

/*
 * Per skill, fidelity, errors and the last run: the same scan, joined to the
 * metric tables by their primary key (they have no index on skill_id).
 */
static const char sql_skill_metrics[] =
    "SELECT AVG(f.pattern_fidelity), COUNT(p.execution_id), COALESCE(SUM(p.exception = 1), 0),"
    " MAX(e.timestamp) FROM executions e"
    " LEFT JOIN fidelity_metrics f ON f.execution_id = e.execution_id"
    " LEFT JOIN performance_metrics p ON p.execution_id = e.execution_id"
    " WHERE e.skill_id = ?1";

/*
 * Python's round(x, 3), which the seeds use: the exact binary value rounded
 * to the nearest thousandth, ties to even (round(0.0625, 3) == 0.062).
 * glibc's printf rounds the exact value the same way; floor(x * 1000 + 0.5)
 * would not.
 */
static double round3(double x)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f", x);
    return strtod(buf, NULL);
}

/* num / max(den, 1), rounded as the seeds round. */
static double rate(long long num, long long den)
{
    return round3((double)num / (double)(den > 1 ? den : 1));
}

static json_t *text_or_null(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? json_string((const char *)t) : json_null();
}

/* Step a statement that returns exactly one row; the caller reads it, then store_stmt_done()s. */
static int one_row(store *st, sqlite3_stmt *s, skh_error *err, const char *doing)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return SKH_OK;
    if (rc == SQLITE_DONE)
        rc = error_set(err, SKH_ESTORE, st->path, "%s: no row", doing);
    else
        rc = store_db_error(st, rc, err, "%s", doing);
    store_stmt_done(s);
    return rc;
}

static int skill_row(store *st, const char *skill, json_t **out, skh_error *err)
{
    sqlite3_stmt *rq = store_stmt(st, sql_skill_requests, err);
    sqlite3_stmt *mt = rq ? store_stmt(st, sql_skill_metrics, err) : NULL;
    long long requests, executions, retried, perf_rows, errors;
    json_t *mean, *last;
    int rc;

    if (!mt)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(rq, 1, skill) != SQLITE_OK) {
        store_stmt_done(rq);
        return error_set(err, SKH_ESTORE, skill, "telemetry: binding the skill failed");
    }
    if ((rc = one_row(st, rq, err, "counting the requests of a skill")) != SKH_OK)
        return rc;
    requests = sqlite3_column_int64(rq, 0);
    executions = sqlite3_column_int64(rq, 1);
    retried = sqlite3_column_int64(rq, 2);
    store_stmt_done(rq);

    if (store_bind_text(mt, 1, skill) != SQLITE_OK) {
        store_stmt_done(mt);
        return error_set(err, SKH_ESTORE, skill, "telemetry: binding the skill failed");
    }
    if ((rc = one_row(st, mt, err, "reading the metrics of a skill")) != SKH_OK)
        return rc;
    /* A mean of nothing is unknown, not 0: a skill that never ran shows null. */
    mean = sqlite3_column_type(mt, 0) == SQLITE_NULL
               ? json_null()
               : json_real(round3(sqlite3_column_double(mt, 0)));
    perf_rows = sqlite3_column_int64(mt, 1);
    errors = sqlite3_column_int64(mt, 2);
    last = text_or_null(mt, 3);
    store_stmt_done(mt);

    *out = json_pack("{s:s, s:I, s:I, s:I, s:f, s:o, s:f, s:o}", "skill", skill, "requests",
                     (json_int_t)requests, "executions", (json_int_t)executions, "retried_requests",
                     (json_int_t)retried, "retry_rate", rate(retried, requests), "mean_fidelity",
                     mean, "error_rate", rate(errors, perf_rows), "last_run", last);
    return *out ? SKH_OK : store_no_memory(err, skill);
}

static int skill_rows(store *st, json_t *rows, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_skills, err);
    int rc;

    if (!s)
        return err ? err->code : SKH_ESTORE;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *row = NULL;
        int r = skill_row(st, (const char *)sqlite3_column_text(s, 0), &row, err);
        if (r == SKH_OK && json_array_append_new(rows, row) != 0)
            r = store_no_memory(err, "telemetry");
        if (r != SKH_OK) {
            store_stmt_done(s);
            return r;
        }
    }
    if (rc != SQLITE_DONE)
        rc = store_db_error(st, rc, err, "listing skills for telemetry");
    else
        rc = SKH_OK;
    store_stmt_done(s);
    return rc;
}

/* Everything but the skill rows; *out is set only on success. */
static int totals(store *st, json_t **out, skh_error *err)
{
    sqlite3_stmt *c = store_stmt(st, sql_counters, err);
    sqlite3_stmt *v = c ? store_stmt(st, sql_variations, err) : NULL;
    sqlite3_stmt *d = v ? store_stmt(st, sql_delta, err) : NULL;
    sqlite3_stmt *since = d ? store_stmt(st, sql_since, err) : NULL;
    long long retries, executions, requests, tested, promoted;
    double delta;
    char now[32];
    int rc;

    if (!since)
        return err ? err->code : SKH_ESTORE;
    if ((rc = one_row(st, c, err, "reading telemetry counters")) != SKH_OK)
        return rc;
    retries = sqlite3_column_int64(c, 0);
    executions = sqlite3_column_int64(c, 1);
    requests = sqlite3_column_int64(c, 2);
    store_stmt_done(c);

    if ((rc = one_row(st, v, err, "counting tested variations")) != SKH_OK)
        return rc;
    tested = sqlite3_column_int64(v, 0);
    promoted = sqlite3_column_int64(v, 1); /* SUM() of no rows is NULL: 0, as `or 0` */
    store_stmt_done(v);

    if ((rc = one_row(st, d, err, "averaging the fidelity gain of promotions")) != SKH_OK)
        return rc;
    delta = sqlite3_column_double(d, 0); /* NULL reads as 0.0, as the seeds' `or 0` */
    store_stmt_done(d);

    if ((rc = one_row(st, since, err, "finding the first execution")) != SKH_OK)
        return rc;
    json_t *first = text_or_null(since, 0);
    store_stmt_done(since);

    store_timestamp(now);
    *out = json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:o, s:s}", "retry_count",
                     (json_int_t)retries, "total_executions", (json_int_t)executions,
                     "total_requests", (json_int_t)requests, "retry_rate", rate(retries, requests),
                     "retry_per_execution", rate(retries, executions), "variation_win_rate",
                     rate(promoted, tested), "avg_fidelity_delta", round3(delta),
                     "variations_tested", (json_int_t)tested, "variations_promoted",
                     (json_int_t)promoted, "since", first, "generated_at", now);
    return *out ? SKH_OK : store_no_memory(err, "telemetry");
}

int store_telemetry(store *st, json_t **out, skh_error *err)
{
    json_t *dash = NULL, *rows = json_array();
    int rc;

    *out = NULL;
    if (!rows)
        return store_no_memory(err, "telemetry");
    if ((rc = store_tx_begin(st, 0, err)) != SKH_OK) {
        json_decref(rows);
        return rc;
    }
    if ((rc = totals(st, &dash, err)) != SKH_OK || (rc = skill_rows(st, rows, err)) != SKH_OK) {
        json_decref(dash);
        json_decref(rows);
        return store_tx_fail(st, rc);
    }
    if (json_object_set_new(dash, "skills", rows) != 0) {
        json_decref(dash);
        return store_tx_fail(st, store_no_memory(err, "telemetry"));
    }
    if ((rc = store_tx_commit(st, err)) != SKH_OK) {
        json_decref(dash);
        return rc;
    }
    *out = dash;
    return SKH_OK;
}
