/*
 * Hourly rollups (issue 12 item 2): one row per hour, skill, variant,
 * workflow phase and tenant with the counts, sums and histograms every
 * analytics verb needs, so a report over a long history reads a few rows
 * per hour instead of every execution.
 *
 * Kept by the recording transaction (store_rollup_add): an hour is folded
 * from the raw rows once it is over, and the readers add the open hours
 * from the raw rows, so every answer is exact and a long history reads a
 * few rows per hour.  Every change is atomic SQL inside the writer's
 * BEGIN IMMEDIATE (`x = x + excluded.x`), so concurrent recorders never
 * lose an increment (DESIGN §2) and a failed recording leaves no
 * half-counted hour.  The statements are separate from every other
 * table's, so other per-execution aggregates (a duration histogram, say)
 * live beside them without touching them.
 *
 * Percentiles come from the histograms: fidelity in tenths (a row for
 * exactly 1.0, the common case), duration in 16 log-spaced buckets; inside
 * a bucket the value is interpolated linearly, so a p95 is exact to the
 * bucket's width (documented in docs/observability.md).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics.h"
#include "error.h"
#include "store_internal.h"

const double rollup_duration_bounds[ROLLUP_DURATION_BUCKETS - 1] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000};

int rollup_fidelity_bucket(double fidelity)
{
    if (!(fidelity > 0))
        return 0;
    if (fidelity >= 1.0)
        return ROLLUP_FIDELITY_BUCKETS - 1;
    int b = (int)(fidelity * 10);
    return b > 9 ? 9 : b;
}

int rollup_duration_bucket(double ms)
{
    for (int i = 0; i < ROLLUP_DURATION_BUCKETS - 1; i++)
        if (ms < rollup_duration_bounds[i])
            return i;
    return ROLLUP_DURATION_BUCKETS - 1;
}

// clang-format off
const char rollup_upsert_sql[] =
    "INSERT INTO hourly_rollups (hour, skill_id, variant_id, phase, tenant,"
    " executions, errors, requests, successes, retried, attempts, fidelity_sum, fidelity_sq,"
    " duration_sum, duration_sq, duration_max, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, d0,"
    " d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, e_network, e_timeout,"
    " e_rate_limit, e_unavailable, e_validation, e_authentication, e_not_found, e_crash,"
    " e_internal, e_policy)"
    " VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11, ?11 * ?11, ?12, ?12 * ?12, ?12,"
    " ?13 = 0, ?13 = 1, ?13 = 2, ?13 = 3, ?13 = 4, ?13 = 5, ?13 = 6, ?13 = 7, ?13 = 8, ?13 = 9,"
    " ?13 = 10, ?14 = 0, ?14 = 1, ?14 = 2, ?14 = 3, ?14 = 4, ?14 = 5, ?14 = 6, ?14 = 7, ?14 = 8,"
    " ?14 = 9, ?14 = 10, ?14 = 11, ?14 = 12, ?14 = 13, ?14 = 14, ?14 = 15, ?15 = 1, ?15 = 2,"
    " ?15 = 3, ?15 = 4, ?15 = 5, ?15 = 6, ?15 = 7, ?15 = 8, ?15 = 9, ?15 = 10)"
    " ON CONFLICT (hour, skill_id, variant_id, phase, tenant) DO UPDATE SET"
    " executions = executions + excluded.executions, errors = errors + excluded.errors,"
    " requests = requests + excluded.requests, successes = successes + excluded.successes,"
    " retried = retried + excluded.retried, attempts = attempts + excluded.attempts,"
    " fidelity_sum = fidelity_sum + excluded.fidelity_sum,"
    " fidelity_sq = fidelity_sq + excluded.fidelity_sq,"
    " duration_sum = duration_sum + excluded.duration_sum,"
    " duration_sq = duration_sq + excluded.duration_sq,"
    " duration_max = max(duration_max, excluded.duration_max), f0 = f0 + excluded.f0,"
    " f1 = f1 + excluded.f1, f2 = f2 + excluded.f2, f3 = f3 + excluded.f3,"
    " f4 = f4 + excluded.f4, f5 = f5 + excluded.f5, f6 = f6 + excluded.f6,"
    " f7 = f7 + excluded.f7, f8 = f8 + excluded.f8, f9 = f9 + excluded.f9,"
    " f10 = f10 + excluded.f10, d0 = d0 + excluded.d0, d1 = d1 + excluded.d1,"
    " d2 = d2 + excluded.d2, d3 = d3 + excluded.d3, d4 = d4 + excluded.d4,"
    " d5 = d5 + excluded.d5, d6 = d6 + excluded.d6, d7 = d7 + excluded.d7,"
    " d8 = d8 + excluded.d8, d9 = d9 + excluded.d9, d10 = d10 + excluded.d10,"
    " d11 = d11 + excluded.d11, d12 = d12 + excluded.d12, d13 = d13 + excluded.d13,"
    " d14 = d14 + excluded.d14, d15 = d15 + excluded.d15,"
    " e_network = e_network + excluded.e_network, e_timeout = e_timeout + excluded.e_timeout,"
    " e_rate_limit = e_rate_limit + excluded.e_rate_limit,"
    " e_unavailable = e_unavailable + excluded.e_unavailable,"
    " e_validation = e_validation + excluded.e_validation,"
    " e_authentication = e_authentication + excluded.e_authentication,"
    " e_not_found = e_not_found + excluded.e_not_found, e_crash = e_crash + excluded.e_crash,"
    " e_internal = e_internal + excluded.e_internal, e_policy = e_policy + excluded.e_policy";

static const char sql_rollup_close[] =
    "INSERT INTO hourly_rollups (hour, skill_id, variant_id, phase, tenant,"
    " executions, errors, requests, successes, retried, attempts, fidelity_sum, fidelity_sq,"
    " duration_sum, duration_sq, duration_max, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, d0,"
    " d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, e_network, e_timeout,"
    " e_rate_limit, e_unavailable, e_validation, e_authentication, e_not_found, e_crash,"
    " e_internal, e_policy)"
    " SELECT hour, skill_id, variant_id, phase, tenant,"
    "  COUNT(*), SUM(err IS NOT NULL), COUNT(ok), COALESCE(SUM(ok), 0),"
    "  COALESCE(SUM(ok IS NOT NULL AND attempt > 1), 0),"
    "  COALESCE(SUM(CASE WHEN ok IS NOT NULL THEN attempt END), 0), SUM(f), SUM(f * f), SUM(d),"
    "  SUM(d * d), MAX(d), SUM(fb = 0), SUM(fb = 1), SUM(fb = 2), SUM(fb = 3), SUM(fb = 4),"
    "  SUM(fb = 5), SUM(fb = 6), SUM(fb = 7), SUM(fb = 8), SUM(fb = 9), SUM(fb = 10),"
    "  SUM(db = 0), SUM(db = 1), SUM(db = 2), SUM(db = 3), SUM(db = 4), SUM(db = 5),"
    "  SUM(db = 6), SUM(db = 7), SUM(db = 8), SUM(db = 9), SUM(db = 10), SUM(db = 11),"
    "  SUM(db = 12), SUM(db = 13), SUM(db = 14), SUM(db = 15), SUM(err IS 'network'),"
    "  SUM(err IS 'timeout'), SUM(err IS 'rate_limit'), SUM(err IS 'unavailable'),"
    "  SUM(err IS 'validation'), SUM(err IS 'authentication'), SUM(err IS 'not_found'),"
    "  SUM(err IS 'crash'), SUM(err IS 'internal'), SUM(err IS 'policy')"
    "  FROM (SELECT substr(e.timestamp, 1, 13) AS hour, e.skill_id, e.variant_id,"
    "   COALESCE(e.workflow_phase, '') AS phase, COALESCE(e.tenant, '') AS tenant,"
    "   e.attempt, e.error_category AS err, e.request_success AS ok,"
    "   fm.pattern_fidelity AS f, pm.duration_ms AS d,"
    "   CASE WHEN fm.pattern_fidelity >= 1.0 THEN 10 WHEN fm.pattern_fidelity >= 0.9 THEN 9"
    "    ELSE CAST(max(fm.pattern_fidelity, 0) * 10 AS INTEGER) END AS fb,"
    "   CASE WHEN pm.duration_ms < 1 THEN 0 WHEN pm.duration_ms < 2 THEN 1"
    "   WHEN pm.duration_ms < 5 THEN 2 WHEN pm.duration_ms < 10 THEN 3"
    "   WHEN pm.duration_ms < 20 THEN 4 WHEN pm.duration_ms < 50 THEN 5"
    "   WHEN pm.duration_ms < 100 THEN 6 WHEN pm.duration_ms < 200 THEN 7"
    "   WHEN pm.duration_ms < 500 THEN 8 WHEN pm.duration_ms < 1000 THEN 9"
    "   WHEN pm.duration_ms < 2000 THEN 10 WHEN pm.duration_ms < 5000 THEN 11"
    "   WHEN pm.duration_ms < 10000 THEN 12 WHEN pm.duration_ms < 30000 THEN 13"
    "   WHEN pm.duration_ms < 60000 THEN 14 ELSE 15 END AS db"
    "   FROM executions e"
    "   JOIN fidelity_metrics fm ON fm.execution_id = e.execution_id"
    "   JOIN performance_metrics pm ON pm.execution_id = e.execution_id"
    "   WHERE e.skill_id IN (SELECT skill_id FROM skills) AND e.evaluation = 0"
    "    AND e.timestamp >= ?1 AND e.timestamp < ?2"
    "  ) GROUP BY hour, skill_id, variant_id, phase, tenant"
    " ON CONFLICT (hour, skill_id, variant_id, phase, tenant) DO UPDATE SET"
    " executions = executions + excluded.executions, errors = errors + excluded.errors,"
    " requests = requests + excluded.requests, successes = successes + excluded.successes,"
    " retried = retried + excluded.retried, attempts = attempts + excluded.attempts,"
    " fidelity_sum = fidelity_sum + excluded.fidelity_sum,"
    " fidelity_sq = fidelity_sq + excluded.fidelity_sq,"
    " duration_sum = duration_sum + excluded.duration_sum,"
    " duration_sq = duration_sq + excluded.duration_sq,"
    " duration_max = max(duration_max, excluded.duration_max), f0 = f0 + excluded.f0,"
    " f1 = f1 + excluded.f1, f2 = f2 + excluded.f2, f3 = f3 + excluded.f3,"
    " f4 = f4 + excluded.f4, f5 = f5 + excluded.f5, f6 = f6 + excluded.f6,"
    " f7 = f7 + excluded.f7, f8 = f8 + excluded.f8, f9 = f9 + excluded.f9,"
    " f10 = f10 + excluded.f10, d0 = d0 + excluded.d0, d1 = d1 + excluded.d1,"
    " d2 = d2 + excluded.d2, d3 = d3 + excluded.d3, d4 = d4 + excluded.d4,"
    " d5 = d5 + excluded.d5, d6 = d6 + excluded.d6, d7 = d7 + excluded.d7,"
    " d8 = d8 + excluded.d8, d9 = d9 + excluded.d9, d10 = d10 + excluded.d10,"
    " d11 = d11 + excluded.d11, d12 = d12 + excluded.d12, d13 = d13 + excluded.d13,"
    " d14 = d14 + excluded.d14, d15 = d15 + excluded.d15,"
    " e_network = e_network + excluded.e_network, e_timeout = e_timeout + excluded.e_timeout,"
    " e_rate_limit = e_rate_limit + excluded.e_rate_limit,"
    " e_unavailable = e_unavailable + excluded.e_unavailable,"
    " e_validation = e_validation + excluded.e_validation,"
    " e_authentication = e_authentication + excluded.e_authentication,"
    " e_not_found = e_not_found + excluded.e_not_found, e_crash = e_crash + excluded.e_crash,"
    " e_internal = e_internal + excluded.e_internal, e_policy = e_policy + excluded.e_policy";

static const char sql_rollup_read[] =
    "SELECT CASE ?1 WHEN 'skill' THEN skill_id WHEN 'variant' THEN variant_id"
    "  WHEN 'phase' THEN phase WHEN 'tenant' THEN tenant WHEN 'hour' THEN hour"
    "  WHEN 'day' THEN substr(hour, 1, 10) WHEN 'hod' THEN substr(hour, 12, 2) ELSE '' END AS k1,"
    " CASE ?2 WHEN 'skill' THEN skill_id WHEN 'variant' THEN variant_id"
    "  WHEN 'phase' THEN phase WHEN 'tenant' THEN tenant WHEN 'hour' THEN hour"
    "  WHEN 'day' THEN substr(hour, 1, 10) WHEN 'hod' THEN substr(hour, 12, 2) ELSE '' END AS k2,"
    " SUM(executions), SUM(errors), SUM(requests), SUM(successes), SUM(retried), SUM(attempts),"
    " SUM(fidelity_sum), SUM(fidelity_sq), SUM(duration_sum), SUM(duration_sq),"
    " MAX(duration_max), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(f4), SUM(f5), SUM(f6), SUM(f7),"
    " SUM(f8), SUM(f9), SUM(f10), SUM(d0), SUM(d1), SUM(d2), SUM(d3), SUM(d4), SUM(d5), SUM(d6),"
    " SUM(d7), SUM(d8), SUM(d9), SUM(d10), SUM(d11), SUM(d12), SUM(d13), SUM(d14), SUM(d15),"
    " SUM(e_network), SUM(e_timeout), SUM(e_rate_limit), SUM(e_unavailable), SUM(e_validation),"
    " SUM(e_authentication), SUM(e_not_found), SUM(e_crash), SUM(e_internal), SUM(e_policy)"
    " FROM (SELECT * FROM hourly_rollups WHERE hour <= ?9"
    "  AND (?3 IS NULL OR hour >= substr(?3, 1, 13)) AND (?4 IS NULL OR hour < substr(?4, 1, 13))"
    "  AND (?5 IS NULL OR skill_id = ?5) AND (?6 IS NULL OR tenant = ?6)"
    "  AND (?7 IS NULL OR phase = ?7) AND (?8 IS NULL OR variant_id = ?8)"
    " UNION ALL"
    " SELECT hour, skill_id, variant_id, phase, tenant,"
    "  COUNT(*), SUM(err IS NOT NULL), COUNT(ok), COALESCE(SUM(ok), 0),"
    "  COALESCE(SUM(ok IS NOT NULL AND attempt > 1), 0),"
    "  COALESCE(SUM(CASE WHEN ok IS NOT NULL THEN attempt END), 0), SUM(f), SUM(f * f), SUM(d),"
    "  SUM(d * d), MAX(d), SUM(fb = 0), SUM(fb = 1), SUM(fb = 2), SUM(fb = 3), SUM(fb = 4),"
    "  SUM(fb = 5), SUM(fb = 6), SUM(fb = 7), SUM(fb = 8), SUM(fb = 9), SUM(fb = 10),"
    "  SUM(db = 0), SUM(db = 1), SUM(db = 2), SUM(db = 3), SUM(db = 4), SUM(db = 5),"
    "  SUM(db = 6), SUM(db = 7), SUM(db = 8), SUM(db = 9), SUM(db = 10), SUM(db = 11),"
    "  SUM(db = 12), SUM(db = 13), SUM(db = 14), SUM(db = 15), SUM(err IS 'network'),"
    "  SUM(err IS 'timeout'), SUM(err IS 'rate_limit'), SUM(err IS 'unavailable'),"
    "  SUM(err IS 'validation'), SUM(err IS 'authentication'), SUM(err IS 'not_found'),"
    "  SUM(err IS 'crash'), SUM(err IS 'internal'), SUM(err IS 'policy')"
    "  FROM (SELECT substr(e.timestamp, 1, 13) AS hour, e.skill_id, e.variant_id,"
    "   COALESCE(e.workflow_phase, '') AS phase, COALESCE(e.tenant, '') AS tenant,"
    "   e.attempt, e.error_category AS err, e.request_success AS ok,"
    "   fm.pattern_fidelity AS f, pm.duration_ms AS d,"
    "   CASE WHEN fm.pattern_fidelity >= 1.0 THEN 10 WHEN fm.pattern_fidelity >= 0.9 THEN 9"
    "    ELSE CAST(max(fm.pattern_fidelity, 0) * 10 AS INTEGER) END AS fb,"
    "   CASE WHEN pm.duration_ms < 1 THEN 0 WHEN pm.duration_ms < 2 THEN 1"
    "   WHEN pm.duration_ms < 5 THEN 2 WHEN pm.duration_ms < 10 THEN 3"
    "   WHEN pm.duration_ms < 20 THEN 4 WHEN pm.duration_ms < 50 THEN 5"
    "   WHEN pm.duration_ms < 100 THEN 6 WHEN pm.duration_ms < 200 THEN 7"
    "   WHEN pm.duration_ms < 500 THEN 8 WHEN pm.duration_ms < 1000 THEN 9"
    "   WHEN pm.duration_ms < 2000 THEN 10 WHEN pm.duration_ms < 5000 THEN 11"
    "   WHEN pm.duration_ms < 10000 THEN 12 WHEN pm.duration_ms < 30000 THEN 13"
    "   WHEN pm.duration_ms < 60000 THEN 14 ELSE 15 END AS db"
    "   FROM executions e"
    "   JOIN fidelity_metrics fm ON fm.execution_id = e.execution_id"
    "   JOIN performance_metrics pm ON pm.execution_id = e.execution_id"
    "   WHERE e.skill_id IN (SELECT skill_id FROM skills WHERE ?5 IS NULL OR skill_id = ?5)"
    "    AND e.evaluation = 0 AND e.timestamp >= ?10"
    "    AND (?3 IS NULL OR e.timestamp >= substr(?3, 1, 13))"
    "    AND (?4 IS NULL OR e.timestamp < substr(?4, 1, 13))"
    "    AND (?6 IS NULL OR COALESCE(e.tenant, '') = ?6)"
    "    AND (?7 IS NULL OR COALESCE(e.workflow_phase, '') = ?7)"
    "    AND (?8 IS NULL OR e.variant_id = ?8)"
    "  ) GROUP BY hour, skill_id, variant_id, phase, tenant"
    ") GROUP BY k1, k2 ORDER BY k1, k2";
// clang-format on

static const char sql_closed[] = "SELECT closed_through FROM rollup_state WHERE id = 1";
static const char sql_set_closed[] = "UPDATE rollup_state SET closed_through = ?1 WHERE id = 1";

/* "2026-12-06T10:15:02.123Z" -> "2026-12-06T10"; 0 when it is too short to be one. */
static int hour_of(const char *timestamp, char hour[14])
{
    if (strlen(timestamp) < 13)
        return 0;
    memcpy(hour, timestamp, 13);
    hour[13] = '\0';
    return 1;
}

/*
 * The last hour that is over with room to spare: an execution is stamped
 * before its transaction waits for the write lock (up to the busy timeout),
 * so an hour is folded only a while after it ended.  Stragglers are still
 * counted (store_rollup_add's direct upsert); the margin only keeps them
 * rare.
 */
static void closable_hour(const store *st, char hour[14])
{
    time_t t = time(NULL) - 3600 - 60 - 2 * (time_t)(st->busy_timeout_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(hour, 14, "%Y-%m-%dT%H", &tm);
}

int store_rollup_closed(store *st, char closed[14], skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_closed, err);
    closed[0] = '\0';
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        snprintf(closed, 14, "%s", t ? t : "");
        rc = SKH_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading the rollup state");
    }
    store_stmt_done(s);
    return rc;
}

static int rollup_upsert(store *st, const store_execution *ex, const char *hour, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, rollup_upsert_sql, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    const store_request_end *end = ex->end;
    int b = store_bind_text(s, 1, hour) | store_bind_text(s, 2, ex->skill) |
            store_bind_text(s, 3, ex->variant_id) |
            store_bind_text(s, 4, ex->workflow_phase ? ex->workflow_phase : "") |
            store_bind_text(s, 5, ex->tenant ? ex->tenant : "") |
            sqlite3_bind_int(s, 6, ex->category != SKH_ERR_NONE) |
            sqlite3_bind_int(s, 7, end != NULL) | sqlite3_bind_int(s, 8, end && end->success) |
            sqlite3_bind_int(s, 9, end && end->attempts > 1) |
            sqlite3_bind_int64(s, 10, end ? (sqlite3_int64)end->attempts : 0) |
            sqlite3_bind_double(s, 11, ex->fidelity) | sqlite3_bind_double(s, 12, ex->duration_ms) |
            sqlite3_bind_int(s, 13, rollup_fidelity_bucket(ex->fidelity)) |
            sqlite3_bind_int(s, 14, rollup_duration_bucket(ex->duration_ms)) |
            sqlite3_bind_int(s, 15, ex->category);
    if (b) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the hourly rollup failed");
    }
    return store_stmt_run(st, s, err, "adding to the hourly rollup of", ex->execution_id);
}

/* Fold the hours after closed up to and including through; the new mark is through. */
static int rollup_close(store *st, const char *closed, const char *through, skh_error *err)
{
    char lo[16], hi[16];
    /* Timestamps of hour H sort between "H" and "HZ" ('Z' > ':'). */
    snprintf(lo, sizeof lo, "%s%s", closed, *closed ? "Z" : "");
    snprintf(hi, sizeof hi, "%sZ", through);
    sqlite3_stmt *s = store_stmt(st, sql_rollup_close, err);
    sqlite3_stmt *mark = s ? store_stmt(st, sql_set_closed, err) : NULL;
    if (!mark)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, lo) | store_bind_text(s, 2, hi)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the rollup fold failed");
    }
    int rc = store_stmt_run(st, s, err, "folding hours into the rollups through", through);
    if (rc)
        return rc;
    if (store_bind_text(mark, 1, through)) {
        store_stmt_done(mark);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the rollup mark failed");
    }
    return store_stmt_run(st, mark, err, "marking the rollups closed through", through);
}

/*
 * Inside the recording transaction, after the execution's rows: an
 * execution of an hour already folded is added to its rollup row at once
 * (a straggler, or an imported record); an hour still open is read from
 * the raw rows until the first recording after it ends folds it.  So the
 * common case costs one read of a cached page, and the fold -- a few pages
 * -- happens once an hour, not once an execution: an extra table written
 * by every execution costs about a sixth of the recording path on a disk
 * where the path is bound by pages written (scripts/bench).
 */
int store_rollup_add(store *st, const store_execution *ex, skh_error *err)
{
    char hour[14], closed[14], through[14];
    if (!hour_of(ex->timestamp, hour))
        return error_set(err, SKH_EINVAL, ex->execution_id, "timestamp '%s' is not ISO-8601",
                         ex->timestamp);
    int rc = store_rollup_closed(st, closed, err);
    if (rc == SKH_OK && strcmp(hour, closed) <= 0)
        rc = rollup_upsert(st, ex, hour, err);
    closable_hour(st, through);
    if (rc == SKH_OK && strcmp(through, closed) > 0)
        rc = rollup_close(st, closed, through, err);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

static const char *const keys[] = {"skill", "variant", "phase", "tenant", "hour", "day", "hod"};

const char *rollup_key(const char *name)
{
    for (size_t i = 0; name && i < sizeof keys / sizeof *keys; i++)
        if (strcmp(keys[i], name) == 0)
            return keys[i];
    return NULL;
}

static char *col_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return strdup(t ? t : "");
}

static void read_row(sqlite3_stmt *s, rollup_agg *a)
{
    int c = 2;
    a->executions = sqlite3_column_int64(s, c++);
    a->errors = sqlite3_column_int64(s, c++);
    a->requests = sqlite3_column_int64(s, c++);
    a->successes = sqlite3_column_int64(s, c++);
    a->retried = sqlite3_column_int64(s, c++);
    a->attempts = sqlite3_column_int64(s, c++);
    a->fidelity_sum = sqlite3_column_double(s, c++);
    a->fidelity_sq = sqlite3_column_double(s, c++);
    a->duration_sum = sqlite3_column_double(s, c++);
    a->duration_sq = sqlite3_column_double(s, c++);
    a->duration_max = sqlite3_column_double(s, c++);
    for (int i = 0; i < ROLLUP_FIDELITY_BUCKETS; i++)
        a->fb[i] = sqlite3_column_int64(s, c++);
    for (int i = 0; i < ROLLUP_DURATION_BUCKETS; i++)
        a->db[i] = sqlite3_column_int64(s, c++);
    for (int i = 0; i < ROLLUP_CATEGORIES; i++)
        a->eb[i] = sqlite3_column_int64(s, c++);
}

int rollup_read(store *st, const rollup_query *q, rollup_agg **rows, size_t *n, skh_error *err)
{
    *rows = NULL;
    *n = 0;
    char closed[14], lo[16];
    int rc = store_rollup_closed(st, closed, err);
    if (rc)
        return rc;
    snprintf(lo, sizeof lo, "%s%s", closed, *closed ? "Z" : "");
    sqlite3_stmt *s = store_stmt(st, sql_rollup_read, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 9, closed) | store_bind_text(s, 10, lo) | store_bind_text(s, 1, q->k1) |
        store_bind_text(s, 2, q->k2) | store_bind_text(s, 3, q->since) |
        store_bind_text(s, 4, q->until) | store_bind_text(s, 5, q->skill) |
        store_bind_text(s, 6, q->tenant) | store_bind_text(s, 7, q->phase) |
        store_bind_text(s, 8, q->variant)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the rollup query failed");
    }
    size_t cap = 0;
    rollup_agg *out = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            rollup_agg *grown = realloc(out, ncap * sizeof *grown);
            if (!grown) {
                store_stmt_done(s);
                rollup_free(out, *n);
                *n = 0;
                return store_no_memory(err, "hourly rollups");
            }
            out = grown;
            cap = ncap;
        }
        rollup_agg *a = &out[*n];
        memset(a, 0, sizeof *a);
        a->k1 = col_text(s, 0);
        a->k2 = col_text(s, 1);
        (*n)++;
        if (!a->k1 || !a->k2) {
            store_stmt_done(s);
            rollup_free(out, *n);
            *n = 0;
            return store_no_memory(err, "hourly rollups");
        }
        read_row(s, a);
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "reading the hourly rollups");
        store_stmt_done(s);
        rollup_free(out, *n);
        *n = 0;
        return rc;
    }
    store_stmt_done(s);
    *rows = out;
    return SKH_OK;
}

void rollup_free(rollup_agg *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].k1);
        free(rows[i].k2);
    }
    free(rows);
}

void rollup_merge(rollup_agg *a, const rollup_agg *b)
{
    a->executions += b->executions;
    a->errors += b->errors;
    a->requests += b->requests;
    a->successes += b->successes;
    a->retried += b->retried;
    a->attempts += b->attempts;
    a->fidelity_sum += b->fidelity_sum;
    a->fidelity_sq += b->fidelity_sq;
    a->duration_sum += b->duration_sum;
    a->duration_sq += b->duration_sq;
    if (b->duration_max > a->duration_max)
        a->duration_max = b->duration_max;
    for (int i = 0; i < ROLLUP_FIDELITY_BUCKETS; i++)
        a->fb[i] += b->fb[i];
    for (int i = 0; i < ROLLUP_DURATION_BUCKETS; i++)
        a->db[i] += b->db[i];
    for (int i = 0; i < ROLLUP_CATEGORIES; i++)
        a->eb[i] += b->eb[i];
}

/* ---- derived numbers ------------------------------------------------------ */

double rollup_success_rate(const rollup_agg *a)
{
    return a->requests ? (double)a->successes / (double)a->requests : NAN;
}

double rollup_error_rate(const rollup_agg *a)
{
    return a->executions ? (double)a->errors / (double)a->executions : NAN;
}

double rollup_mean_fidelity(const rollup_agg *a)
{
    return a->executions ? a->fidelity_sum / (double)a->executions : NAN;
}

double rollup_mean_duration(const rollup_agg *a)
{
    return a->executions ? a->duration_sum / (double)a->executions : NAN;
}

double rollup_retries_per_request(const rollup_agg *a)
{
    return a->requests ? (double)(a->attempts - a->requests) / (double)a->requests : NAN;
}

/*
 * The value below which a share p of the counted values falls: find the
 * bucket holding rank p*n, then interpolate between its bounds by where the
 * rank falls among the bucket's count.
 */
static double histogram_percentile(const long long *counts, int nb, const double *lo,
                                   const double *hi, double p)
{
    long long n = 0;
    for (int i = 0; i < nb; i++)
        n += counts[i];
    if (n == 0)
        return NAN;
    double rank = p * (double)n, seen = 0;
    for (int i = 0; i < nb; i++) {
        if (counts[i] == 0)
            continue;
        if (seen + (double)counts[i] >= rank) {
            double within = (rank - seen) / (double)counts[i];
            return lo[i] + within * (hi[i] - lo[i]);
        }
        seen += (double)counts[i];
    }
    for (int i = nb - 1; i >= 0; i--)
        if (counts[i])
            return hi[i];
    return NAN;
}

double rollup_duration_percentile(const rollup_agg *a, double p)
{
    double lo[ROLLUP_DURATION_BUCKETS], hi[ROLLUP_DURATION_BUCKETS];
    for (int i = 0; i < ROLLUP_DURATION_BUCKETS; i++) {
        lo[i] = i ? rollup_duration_bounds[i - 1] : 0;
        hi[i] = i < ROLLUP_DURATION_BUCKETS - 1 ? rollup_duration_bounds[i] : a->duration_max;
        /* No value in the bucket exceeds the largest one seen. */
        if (hi[i] > a->duration_max)
            hi[i] = a->duration_max;
        if (hi[i] < lo[i])
            hi[i] = lo[i];
    }
    return histogram_percentile(a->db, ROLLUP_DURATION_BUCKETS, lo, hi, p);
}

double rollup_fidelity_percentile(const rollup_agg *a, double p)
{
    double lo[ROLLUP_FIDELITY_BUCKETS], hi[ROLLUP_FIDELITY_BUCKETS];
    for (int i = 0; i < ROLLUP_FIDELITY_BUCKETS - 1; i++) {
        lo[i] = i / 10.0;
        hi[i] = (i + 1) / 10.0;
    }
    lo[ROLLUP_FIDELITY_BUCKETS - 1] = hi[ROLLUP_FIDELITY_BUCKETS - 1] = 1.0;
    return histogram_percentile(a->fb, ROLLUP_FIDELITY_BUCKETS, lo, hi, p);
}

json_t *analytics_real(double x)
{
    if (!isfinite(x))
        return json_null();
    /* Four decimals: enough for rates and milliseconds, short enough to read. */
    return json_real(round(x * 10000.0) / 10000.0);
}

json_t *rollup_json(const rollup_agg *a)
{
    json_t *errors = json_object();
    for (int i = 0; errors && i < ROLLUP_CATEGORIES; i++)
        if (a->eb[i] &&
            json_object_set_new(errors, skh_category_name(i + 1), json_integer(a->eb[i])) != 0) {
            json_decref(errors);
            errors = NULL;
        }
    if (!errors)
        return NULL;
    return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}",
                     "executions", (json_int_t)a->executions, "requests", (json_int_t)a->requests,
                     "successes", (json_int_t)a->successes, "success_rate",
                     analytics_real(rollup_success_rate(a)), "fidelity",
                     analytics_real(rollup_mean_fidelity(a)), "fidelity_p50",
                     analytics_real(rollup_fidelity_percentile(a, 0.5)), "retries_per_request",
                     analytics_real(rollup_retries_per_request(a)), "duration_mean_ms",
                     analytics_real(rollup_mean_duration(a)), "duration_p50_ms",
                     analytics_real(rollup_duration_percentile(a, 0.5)), "duration_p95_ms",
                     analytics_real(rollup_duration_percentile(a, 0.95)), "duration_total_ms",
                     analytics_real(a->duration_sum), "errors", (json_int_t)a->errors, "error_rate",
                     analytics_real(rollup_error_rate(a)), "errors_by_category", errors);
}
