/*
 * Rollback and circuit breakers in the store (DESIGN §4, §7).
 *
 * Reads are single statements through the (variant_id, timestamp) indexes,
 * so each costs O(window) whatever the history.  Every change is one
 * BEGIN IMMEDIATE transaction whose first write is guarded by the state it
 * expects ("AND state = 'production'", "AND state = 'open' AND opened_at =
 * ?"), and checked with sqlite3_changes(): when several processes decide the
 * same thing at the same moment, one applies it and the rest change nothing.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_internal.h"
#include "store_rollback.h"
#include "uuid.h"

static const char sql_variant[] =
    "SELECT v.skill_name, v.state, COALESCE(v.state_since, v.created_at), s.positive_class,"
    " julianday('now') - julianday(COALESCE(v.state_since, v.created_at)),"
    " v.left_production_at IS NOT NULL"
    " FROM skill_variations AS v JOIN skills AS s ON s.skill_id = v.skill_name"
    " WHERE v.variation_id = ?1";
/* A promotion to staged names the variant; without one, when it entered the state. */
static const char sql_staged_since[] =
    "SELECT since, julianday('now') - julianday(since) FROM"
    " (SELECT COALESCE((SELECT p.timestamp FROM promotion_events AS p"
    "   WHERE p.skill_id = v.skill_name AND p.variant_id = v.variation_id"
    "   AND p.to_state = 'staged' ORDER BY p.timestamp DESC LIMIT 1),"
    "  v.state_since, v.created_at) AS since"
    "  FROM skill_variations AS v WHERE v.variation_id = ?1)";

/*
 * Newest first.  The index is (variant_id, timestamp) and, the table being
 * WITHOUT ROWID, carries execution_id after them: both ORDER BY terms come
 * from the index, so no sort and no scan past ?3 live rows.  Skipped
 * executions (recovery.lua blamed the input) come back flagged for
 * store_rb_window to pass over: filtering them in SQL would scan without
 * bound behind a run of bad inputs.
 */
static const char sql_window_ids[] =
    "SELECT e.execution_id, e.skipped FROM executions AS e"
    " WHERE e.variant_id = ?1 AND e.evaluation = 0 AND e.timestamp >= ?2"
    " ORDER BY e.timestamp DESC, e.execution_id DESC LIMIT ?3";
/*
 * One execution with its three metric rows.  A correctness the outcome
 * scorer could not judge (no label in the input) is judged against the
 * recorded expected value when there is one.
 */
static const char sql_window_row[] =
    "SELECT e.execution_id, e.timestamp, f.execution_id IS NOT NULL, f.pattern_fidelity,"
    " o.execution_id IS NOT NULL, o.correct, o.decision, o.expected, o.critical,"
    " p.execution_id IS NOT NULL, COALESCE(p.duration_ms, p.execution_time_ms), p.exception,"
    " COALESCE(p.error_category, e.error_category)"
    " FROM executions AS e"
    " LEFT JOIN fidelity_metrics AS f ON f.execution_id = e.execution_id"
    " LEFT JOIN outcome_metrics AS o ON o.execution_id = e.execution_id"
    " LEFT JOIN performance_metrics AS p ON p.execution_id = e.execution_id"
    " WHERE e.execution_id = ?1";
/*
 * Window rows, by execution id.  An execution and its metric rows never
 * change once committed (metric tables are insert-only, an execution is
 * never updated), so a complete row read once is good for every later
 * window that holds it, in any process: after each request only the new
 * execution is read whole, the rest come from here.  A row still missing
 * a metric row is not kept (it could yet arrive).
 */
#define WINDOW_ROWS_MAX 4096 /* beyond it the cache starts over */

/*
 * A window looks at most this many times n rows for its n: when skipped
 * executions crowd out more than that, it comes back short (the policy's
 * "inconclusive") instead of reading a variant's whole history.
 */
#define WINDOW_SCAN_FACTOR 4
/* Through the partial index executions_variant_evaluation: benchmark rows only. */
/* Both baselines are the first BASELINE_ROWS rows: fixed once that many exist. */
#define BASELINE_ROWS 100
#define STR_(x) #x
#define STR(x) STR_(x)

static const char sql_eval_baseline[] =
    "SELECT COUNT(*), AVG(fid), AVG(ok), AVG(ms) FROM"
    " (SELECT f.pattern_fidelity AS fid,"
    "   CASE WHEN o.correct IS NOT NULL THEN o.correct"
    "        WHEN o.expected IS NOT NULL THEN o.decision = o.expected END AS ok,"
    "   COALESCE(p.duration_ms, p.execution_time_ms) AS ms"
    "  FROM executions AS e"
    "  LEFT JOIN fidelity_metrics AS f ON f.execution_id = e.execution_id"
    "  LEFT JOIN outcome_metrics AS o ON o.execution_id = e.execution_id"
    "  LEFT JOIN performance_metrics AS p ON p.execution_id = e.execution_id"
    "  WHERE e.variant_id = ?1 AND e.evaluation = 1"
    "  ORDER BY e.timestamp, e.execution_id LIMIT " STR(BASELINE_ROWS) ")";
static const char sql_first_baseline[] =
    "SELECT COUNT(*), AVG(ms) FROM"
    " (SELECT COALESCE(p.duration_ms, p.execution_time_ms) AS ms FROM executions AS e"
    "  JOIN performance_metrics AS p ON p.execution_id = e.execution_id"
    "  WHERE e.variant_id = ?1 AND e.evaluation = 0 AND (e.timestamp, e.execution_id) < (?2, ?3)"
    "  ORDER BY e.timestamp, e.execution_id LIMIT " STR(BASELINE_ROWS) ")";
static const char sql_milestone[] =
    "SELECT julianday(e.timestamp) - julianday(?2) FROM executions AS e"
    " WHERE e.variant_id = ?1 AND e.evaluation = 0 AND e.timestamp >= ?2"
    " ORDER BY e.timestamp, e.execution_id LIMIT 1 OFFSET ?3";
/*
 * The staged variant that most recently left production, unless a rollback
 * took it out (rolled_back_at is then its left_production_at).  The
 * (skill_name, version) index narrows this to the skill's own variants.
 * MAX() picks the newest (a tie goes to the higher version) in one pass,
 * where ORDER BY ... LIMIT 1 would build a temporary table after every
 * request; the bare variation_id comes from the row that holds the MAX.
 */
static const char sql_target[] =
    "SELECT variation_id, MAX(left_production_at || printf(' %012d', version))"
    " FROM skill_variations"
    " WHERE skill_name = ?1 AND state = 'staged' AND variation_id <> ?2"
    " AND left_production_at IS NOT NULL AND rolled_back_at IS NOT left_production_at";

static const char sql_move[] =
    "UPDATE skill_variations SET state = ?3 WHERE variation_id = ?1 AND state = ?2";
static const char sql_mark_rolled_back[] =
    "UPDATE skill_variations SET rolled_back_at = left_production_at WHERE variation_id = ?1";
static const char sql_after_fidelity[] =
    "SELECT AVG(fid) FROM (SELECT f.pattern_fidelity AS fid FROM executions AS e"
    " JOIN fidelity_metrics AS f ON f.execution_id = e.execution_id"
    " WHERE e.variant_id = ?1 AND e.evaluation = 0"
    " ORDER BY e.timestamp DESC, e.execution_id DESC LIMIT ?2)";
static const char sql_rollback_event[] =
    "INSERT INTO rollback_events (event_id, skill_id, from_state, to_state, trigger_reason,"
    " trigger_metric, timestamp, variant_id, restored_variant_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_learning[] =
    "INSERT INTO learning_events (skill_name, event_type, description, variation_id,"
    " before_fidelity, after_fidelity, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_decision[] =
    "INSERT INTO decisions (skill_name, variant_id, kind, verdict, observed, thresholds,"
    " policy_file, policy_sha256, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
/* The decisions index is (skill_name, kind, timestamp). */
static const char sql_suppressed_seen[] =
    "SELECT EXISTS (SELECT 1 FROM decisions WHERE skill_name = ?1 AND kind = 'rollback'"
    " AND timestamp >= ?3 AND variant_id = ?2 AND verdict = 'suppressed')";
static const char sql_state_of[] = "SELECT state FROM skill_variations WHERE variation_id = ?1";
static const char sql_freeze[] =
    "INSERT INTO circuit_breakers (variant_id, state, failures, opened_at, reason)"
    " VALUES (?1, 'frozen', 0, ?2, ?3) ON CONFLICT(variant_id) DO UPDATE SET state = 'frozen',"
    " opened_at = excluded.opened_at, half_open_at = NULL, reason = excluded.reason"
    " WHERE circuit_breakers.state <> 'frozen'";

static const char sql_breaker_get[] =
    "SELECT state, failures, COALESCE(opened_at, ''), COALESCE(half_open_at, ''),"
    " CASE WHEN opened_at IS NULL THEN -1"
    "  ELSE (julianday('now') - julianday(opened_at)) * 86400.0 END,"
    " CASE WHEN half_open_at IS NULL THEN -1"
    "  ELSE (julianday('now') - julianday(half_open_at)) * 86400.0 END"
    " FROM circuit_breakers WHERE variant_id = ?1";
static const char sql_claim_open[] =
    "UPDATE circuit_breakers SET state = 'half_open', half_open_at = ?3"
    " WHERE variant_id = ?1 AND state = 'open' AND opened_at = ?2";
static const char sql_claim_half_open[] = "UPDATE circuit_breakers SET half_open_at = ?3"
                                          " WHERE variant_id = ?1 AND state = 'half_open'"
                                          " AND half_open_at = ?2";
static const char sql_fail[] =
    "INSERT INTO circuit_breakers (variant_id, state, failures) VALUES (?1, 'closed', 1)"
    " ON CONFLICT(variant_id) DO UPDATE SET failures = failures + 1 RETURNING state, failures";
static const char sql_open[] =
    "UPDATE circuit_breakers SET state = 'open', opened_at = ?2, half_open_at = NULL, reason = ?3"
    " WHERE variant_id = ?1 AND state IN ('closed', 'half_open')";
static const char sql_close[] =
    "UPDATE circuit_breakers SET state = 'closed', failures = 0, opened_at = NULL,"
    " half_open_at = NULL, reason = NULL WHERE variant_id = ?1 AND state = 'half_open'";
static const char sql_reset[] = "UPDATE circuit_breakers SET failures = 0"
                                " WHERE variant_id = ?1 AND state = 'closed' AND failures > 0";

/* ---- small helpers ----------------------------------------------------------- */

static sqlite3_stmt *stmt(store *st, const char *sql, skh_error *err, int *rc)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    *rc = s ? SKH_OK : (err ? err->code : SKH_ESTORE);
    return s;
}

static int bind_failed(store *st, sqlite3_stmt *s, skh_error *err, const char *what)
{
    store_stmt_done(s);
    return error_set(err, SKH_ESTORE, store_path(st), "%s: binding parameters failed", what);
}

static int bind_real(sqlite3_stmt *s, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
}

static char *col_dup(sqlite3_stmt *s, int i, int *ok)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    char *d = strdup(t);
    if (!d)
        *ok = 0;
    return d;
}

static double col_real(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static void copy_col(sqlite3_stmt *s, int i, char *out, size_t n)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    snprintf(out, n, "%s", t ? t : "");
}

/* Run a prepared, bound write; *changed = rows it changed (may be NULL). */
static int run_write(store *st, sqlite3_stmt *s, int *changed, skh_error *err, const char *doing,
                     const char *id)
{
    int rc = store_stmt_run(st, s, err, doing, id);
    if (rc == SKH_OK && changed)
        *changed = sqlite3_changes(st->db);
    return rc;
}

/* A measurement that does not exist is left out: a policy sees nil, not a null sentinel. */
static int set_real(json_t *o, const char *key, double v)
{
    return isnan(v) ? 0 : json_object_set_new(o, key, json_real(v));
}

/* ---- reading ------------------------------------------------------------------ */

void store_rb_variant_free(store_rb_variant *v)
{
    if (!v)
        return;
    free(v->skill);
    free(v->state);
    free(v->since);
    free(v->positive_class);
    memset(v, 0, sizeof *v);
}

int store_rb_variant_get(store *st, const char *variant_id, store_rb_variant *out, skh_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = stmt(st, sql_variant, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int ok = 1;
        out->skill = col_dup(s, 0, &ok);
        out->state = col_dup(s, 1, &ok);
        out->since = col_dup(s, 2, &ok);
        out->positive_class = col_dup(s, 3, &ok);
        out->age_days = col_real(s, 4);
        out->was_production = sqlite3_column_int(s, 5) != 0;
        rc = ok && out->skill && out->state && out->since ? SKH_OK
                                                          : store_no_memory(err, variant_id);
    } else if (rc == SQLITE_DONE) {
        rc = error_set(err, SKH_ENOTFOUND, variant_id, "no such variant");
    } else {
        rc = store_db_error(st, rc, err, "reading the lifecycle of %s", variant_id);
    }
    store_stmt_done(s);
    if (rc)
        store_rb_variant_free(out);
    return rc;
}

int store_rb_staged_since(store *st, const char *variant_id, char **since, double *age_days,
                          skh_error *err)
{
    int rc;
    *since = NULL;
    *age_days = NAN;
    sqlite3_stmt *s = stmt(st, sql_staged_since, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int ok = 1;
        *since = col_dup(s, 0, &ok);
        *age_days = col_real(s, 1);
        rc = ok && *since ? SKH_OK : store_no_memory(err, variant_id);
    } else if (rc == SQLITE_DONE) {
        rc = error_set(err, SKH_ENOTFOUND, variant_id, "no such variant");
    } else {
        rc = store_db_error(st, rc, err, "reading when %s became staged", variant_id);
    }
    store_stmt_done(s);
    return rc;
}

/* One window row as the policy sees it; members of a missing metric row left out. */
static json_t *window_row(sqlite3_stmt *s)
{
    json_t *r = json_object();
    if (!r)
        return NULL;
    int bad =
        json_object_set_new(r, "execution_id",
                            json_string((const char *)sqlite3_column_text(s, 0))) |
        json_object_set_new(r, "timestamp", json_string((const char *)sqlite3_column_text(s, 1)));
    if (sqlite3_column_int(s, 2))
        bad |= json_object_set_new(r, "fidelity", json_real(sqlite3_column_double(s, 3)));
    if (sqlite3_column_int(s, 4)) {
        const char *dec = (const char *)sqlite3_column_text(s, 6);
        const char *exp = (const char *)sqlite3_column_text(s, 7);
        if (sqlite3_column_type(s, 5) != SQLITE_NULL)
            bad |= json_object_set_new(r, "correct", json_boolean(sqlite3_column_int(s, 5)));
        bad |= json_object_set_new(r, "decision", json_string(dec ? dec : ""));
        if (exp)
            bad |= json_object_set_new(r, "expected", json_string(exp));
        bad |= json_object_set_new(r, "critical", json_boolean(sqlite3_column_int(s, 8)));
    }
    if (sqlite3_column_int(s, 9)) {
        const char *cat = (const char *)sqlite3_column_text(s, 12);
        bad |= json_object_set_new(r, "duration_ms", json_real(sqlite3_column_double(s, 10))) |
               json_object_set_new(r, "exception", json_boolean(sqlite3_column_int(s, 11)));
        if (cat)
            bad |= json_object_set_new(r, "error_category", json_string(cat));
    }
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* The row of execution id, from the cache or read whole (then kept if complete). */
static int window_row_of(store *st, const char *id, json_t **out, skh_error *err)
{
    json_t *known = json_object_get(st->window_rows, id);
    if (known) {
        *out = json_incref(known);
        return SKH_OK;
    }
    int rc;
    sqlite3_stmt *s = stmt(st, sql_window_row, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, id))
        return bind_failed(st, s, err, id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? error_set(err, SKH_ESTORE, st->path, "execution %s vanished", id)
                               : store_db_error(st, rc, err, "reading execution %s", id);
        store_stmt_done(s);
        return rc;
    }
    int complete = sqlite3_column_int(s, 2) && sqlite3_column_int(s, 4) && sqlite3_column_int(s, 9);
    json_t *r = window_row(s);
    store_stmt_done(s);
    if (!r)
        return store_no_memory(err, id);
    /* Only a cache: when it cannot grow, the row is still good. */
    if (complete && (st->window_rows || (st->window_rows = json_object()))) {
        if (json_object_size(st->window_rows) >= WINDOW_ROWS_MAX)
            json_object_clear(st->window_rows);
        json_object_set(st->window_rows, id, r);
    }
    *out = r;
    return SKH_OK;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int store_rb_window(store *st, const char *variant_id, const char *since, int n, json_t **rows,
                    skh_error *err)
{
    int rc;
    *rows = NULL;
    sqlite3_stmt *s = stmt(st, sql_window_ids, err, &rc);
    if (!s)
        return rc;
    size_t want = n < 0 ? 0 : (size_t)n;
    if (store_bind_text(s, 1, variant_id) | store_bind_text(s, 2, since ? since : "") |
        sqlite3_bind_int64(s, 3, (sqlite3_int64)want * WINDOW_SCAN_FACTOR))
        return bind_failed(st, s, err, variant_id);
    /* The ids first, so the row reads below never interleave with this scan. */
    char **ids = want ? calloc(want, sizeof *ids) : NULL;
    if (want && !ids) {
        store_stmt_done(s);
        return store_no_memory(err, variant_id);
    }
    size_t k = 0;
    rc = SQLITE_DONE;
    while (k < want && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        if (sqlite3_column_int(s, 1) || !id)
            continue; /* the input's fault, not evidence about the variant */
        if (!(ids[k++] = strdup(id))) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        rc = store_db_error(st, rc, err, "reading the window of %s", variant_id);
        store_stmt_done(s);
        free_ids(ids, k);
        return rc;
    }
    store_stmt_done(s);
    json_t *arr = json_array();
    rc = arr ? SKH_OK : store_no_memory(err, variant_id);
    for (size_t i = 0; rc == SKH_OK && i < k; i++) {
        json_t *r = NULL;
        if ((rc = window_row_of(st, ids[i], &r, err)) == SKH_OK && json_array_append_new(arr, r))
            rc = store_no_memory(err, variant_id);
    }
    free_ids(ids, k);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *rows = arr;
    return SKH_OK;
}

/*
 * A baseline that has its BASELINE_ROWS rows no longer changes: new rows
 * sort after them (a row from another process with an older timestamp can
 * only arrive within its transaction's lifetime, long before 100 more).
 * Caching it saves the one read after every request that is not O(window).
 */
#define FROZEN_MAX 1024 /* variants; beyond it the cache starts over */

static json_t *frozen_get(store *st, const char *variant_id, const char *key)
{
    json_t *v = json_object_get(st->frozen_baselines, variant_id);
    json_t *b = json_object_get(v, key);
    return b ? json_incref(b) : NULL;
}

/* Only a cache: on any failure it simply stays cold. */
static void frozen_put(store *st, const char *variant_id, const char *key, json_t *b)
{
    if (json_integer_value(json_object_get(b, "count")) < BASELINE_ROWS)
        return;
    if (!st->frozen_baselines && !(st->frozen_baselines = json_object()))
        return;
    if (json_object_size(st->frozen_baselines) >= FROZEN_MAX)
        json_object_clear(st->frozen_baselines);
    json_t *v = json_object_get(st->frozen_baselines, variant_id);
    if (!v && (!(v = json_object()) || json_object_set_new(st->frozen_baselines, variant_id, v)))
        return;
    json_object_set(v, key, b);
}

static int read_eval_baseline(store *st, const char *variant_id, json_t **out, skh_error *err)
{
    int rc;
    sqlite3_stmt *e = stmt(st, sql_eval_baseline, err, &rc);
    if (!e)
        return rc;
    if (store_bind_text(e, 1, variant_id))
        return bind_failed(st, e, err, variant_id);
    json_t *eval = NULL;
    rc = sqlite3_step(e);
    if (rc == SQLITE_ROW) {
        eval = json_pack("{s:I}", "count", (json_int_t)sqlite3_column_int64(e, 0));
        if (!eval || set_real(eval, "fidelity", col_real(e, 1)) ||
            set_real(eval, "outcome", col_real(e, 2)) || set_real(eval, "mean_ms", col_real(e, 3)))
            rc = store_no_memory(err, variant_id);
        else
            rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading the benchmark baseline of %s", variant_id);
    }
    store_stmt_done(e);
    if (rc)
        json_decref(eval);
    else
        *out = eval;
    return rc;
}

static int read_first_baseline(store *st, const char *variant_id, const char *before_ts,
                               const char *before_id, json_t **out, skh_error *err)
{
    int rc;
    sqlite3_stmt *f = stmt(st, sql_first_baseline, err, &rc);
    if (!f)
        return rc;
    /* "~" sorts after every timestamp and id: no upper bound. */
    int open_ended = !before_ts || !before_id;
    if (store_bind_text(f, 1, variant_id) | store_bind_text(f, 2, open_ended ? "~" : before_ts) |
        store_bind_text(f, 3, open_ended ? "~" : before_id))
        return bind_failed(st, f, err, variant_id);
    json_t *first = NULL;
    rc = sqlite3_step(f);
    if (rc == SQLITE_ROW) {
        first = json_pack("{s:I}", "count", (json_int_t)sqlite3_column_int64(f, 0));
        rc = !first || set_real(first, "mean_ms", col_real(f, 1)) ? store_no_memory(err, variant_id)
                                                                  : SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading the first executions of %s", variant_id);
    }
    store_stmt_done(f);
    if (rc)
        json_decref(first);
    else
        *out = first;
    return rc;
}

int store_rb_baselines(store *st, const char *variant_id, const char *before_ts,
                       const char *before_id, json_t **out, skh_error *err)
{
    json_t *eval = frozen_get(st, variant_id, "evaluation");
    json_t *first = frozen_get(st, variant_id, "first");
    *out = NULL;
    int rc = SKH_OK;
    if (!eval && (rc = read_eval_baseline(st, variant_id, &eval, err)) == SKH_OK)
        frozen_put(st, variant_id, "evaluation", eval);
    if (rc == SKH_OK && !first &&
        (rc = read_first_baseline(st, variant_id, before_ts, before_id, &first, err)) == SKH_OK)
        frozen_put(st, variant_id, "first", first);
    if (rc == SKH_OK && !(*out = json_pack("{s:o, s:o}", "evaluation", eval, "first", first)))
        return store_no_memory(err, variant_id);
    if (rc) {
        json_decref(eval);
        json_decref(first);
    }
    return rc;
}

int store_rb_milestone(store *st, const char *variant_id, const char *since, int k, double *days,
                       skh_error *err)
{
    int rc;
    *days = -1;
    if (k < 1)
        return error_set(err, SKH_EINVAL, variant_id, "milestone of %d executions", k);
    sqlite3_stmt *s = stmt(st, sql_milestone, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id) | store_bind_text(s, 2, since) |
        sqlite3_bind_int(s, 3, k - 1))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *days = sqlite3_column_double(s, 0);
        rc = SKH_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "counting the executions of %s", variant_id);
    }
    store_stmt_done(s);
    return rc;
}

int store_rb_target(store *st, const char *skill, const char *exclude, char **target,
                    skh_error *err)
{
    return store_query_text(st, sql_target, skill, exclude ? exclude : "", NULL, target, err,
                            "looking for the rollback target of");
}

/* ---- transitions ------------------------------------------------------------- */

void store_rb_result_free(store_rb_result *r)
{
    if (!r)
        return;
    free(r->restored);
    memset(r, 0, sizeof *r);
}

static int decision_row(store *st, const char *skill, const char *variant_id,
                        const store_rb_decision *d, const char *now, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_decision, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, variant_id) |
        store_bind_text(s, 3, d->kind) | store_bind_text(s, 4, d->verdict) |
        store_bind_text(s, 5, d->observed) | store_bind_text(s, 6, d->thresholds) |
        store_bind_text(s, 7, d->policy_file) | store_bind_text(s, 8, d->policy_sha256) |
        store_bind_text(s, 9, now))
        return bind_failed(st, s, err, skill);
    return run_write(st, s, NULL, err, "recording the decision about", variant_id);
}

/* UPDATE ... WHERE state = from: *changed 1 when the variant was still there. */
static int move(store *st, const char *variant_id, const char *from, const char *to, int *changed,
                skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_move, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id) | store_bind_text(s, 2, from) | store_bind_text(s, 3, to))
        return bind_failed(st, s, err, variant_id);
    return run_write(st, s, changed, err, "changing the state of", variant_id);
}

static int by_id(store *st, const char *sql, const char *variant_id, skh_error *err,
                 const char *doing)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return bind_failed(st, s, err, variant_id);
    return run_write(st, s, NULL, err, doing, variant_id);
}

static int after_fidelity(store *st, const char *variant_id, int n, double *mean, skh_error *err)
{
    int rc;
    *mean = NAN;
    sqlite3_stmt *s = stmt(st, sql_after_fidelity, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id) | sqlite3_bind_int(s, 2, n > 0 ? n : 1))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *mean = col_real(s, 0);
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "averaging the fidelity of %s", variant_id);
    }
    store_stmt_done(s);
    return rc;
}

/* The rollback_events row and the learning event of a transition. */
static int transition_rows(store *st, const store_rb_transition *t, const store_rb_result *out,
                           double after, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_rollback_event, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, out->event_id) | store_bind_text(s, 2, t->skill) |
        store_bind_text(s, 3, t->from_state) | store_bind_text(s, 4, t->to_state) |
        store_bind_text(s, 5, t->trigger_reason) | store_bind_text(s, 6, t->trigger_metric) |
        store_bind_text(s, 7, out->timestamp) | store_bind_text(s, 8, t->variant_id) |
        store_bind_text(s, 9, out->restored))
        return bind_failed(st, s, err, t->variant_id);
    if ((rc = run_write(st, s, NULL, err, "recording the rollback of", t->variant_id)))
        return rc;

    if (!(s = stmt(st, sql_learning, err, &rc)))
        return rc;
    if (store_bind_text(s, 1, t->skill) | store_bind_text(s, 2, t->event_type) |
        store_bind_text(s, 3, t->description) | store_bind_text(s, 4, t->variant_id) |
        bind_real(s, 5, t->before_fidelity) | bind_real(s, 6, after) |
        store_bind_text(s, 7, out->timestamp))
        return bind_failed(st, s, err, t->variant_id);
    return run_write(st, s, NULL, err, "recording the learning event of", t->variant_id);
}

/* *state malloc'd, NULL when the variant is gone. */
static int state_of(store *st, const char *variant_id, char **state, skh_error *err)
{
    return store_query_text(st, sql_state_of, variant_id, NULL, NULL, state, err,
                            "reading the state of");
}

/* Inside the transaction: everything but the commit. */
static int apply_in_tx(store *st, const store_rb_transition *t, store_rb_result *out,
                       skh_error *err)
{
    int from_production = strcmp(t->from_state, "production") == 0;
    int rc = SKH_OK, changed = 0;
    /*
     * Moved already (a racing process won): nothing to apply, and no
     * target to miss either -- the state it was judged in is gone.
     */
    char *now_state = NULL;
    if ((rc = state_of(st, t->variant_id, &now_state, err)))
        return rc;
    int moved = !now_state || strcmp(now_state, t->from_state) != 0;
    free(now_state);
    if (moved)
        return SKH_OK;
    if (t->restore && from_production &&
        (rc = store_rb_target(st, t->skill, t->variant_id, &out->restored, err)))
        return rc;
    if (t->need_target && !out->restored) {
        out->no_target = 1;
        return SKH_OK;
    }
    /* Down first: the one-production index must never see two. */
    if ((rc = move(st, t->variant_id, t->from_state, t->to_state, &changed, err)))
        return rc;
    if (!changed)
        return SKH_OK; /* another process (or person) moved it first */
    if (from_production &&
        (rc = by_id(st, sql_mark_rolled_back, t->variant_id, err, "marking the rollback of")))
        return rc;
    double after = NAN;
    if (out->restored) {
        if ((rc = move(st, out->restored, "staged", "production", &changed, err)))
            return rc;
        if (!changed)
            return error_set(err, SKH_ESTORE, out->restored,
                             "the rollback target left 'staged' inside the transaction");
        if ((rc = after_fidelity(st, out->restored, t->window, &after, err)))
            return rc;
    }
    if ((rc = transition_rows(st, t, out, after, err)))
        return rc;
    if (t->decision.kind &&
        (rc = decision_row(st, t->skill, t->variant_id, &t->decision, out->timestamp, err)))
        return rc;
    out->applied = 1;
    return SKH_OK;
}

int store_rb_apply(store *st, const store_rb_transition *t, store_rb_result *out, skh_error *err)
{
    memset(out, 0, sizeof *out);
    if (!t->skill || !t->variant_id || !t->from_state || !t->to_state || !t->trigger_reason ||
        !t->event_type)
        return error_set(err, SKH_EINVAL, "rollback",
                         "skill, variant, states, reason and event "
                         "type are required");
    uuid_v7(out->event_id);
    store_timestamp(out->timestamp);
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    rc = apply_in_tx(st, t, out, err);
    if (rc == SKH_OK && out->applied)
        rc = store_tx_commit(st, err);
    else
        store_tx_rollback(st);
    if (rc || !out->applied) {
        int no_target = out->no_target;
        store_rb_result_free(out);
        out->no_target = no_target && rc == SKH_OK;
    }
    return rc;
}

int store_rb_suppressed(store *st, const char *skill, const char *variant_id, const char *since,
                        const store_rb_decision *d, int *recorded, skh_error *err)
{
    char now[32];
    *recorded = 0;
    int rc;
    sqlite3_stmt *s = stmt(st, sql_suppressed_seen, err, &rc);
    if (!s)
        return rc;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)))
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, variant_id) |
        store_bind_text(s, 3, since ? since : ""))
        return store_tx_fail(st, bind_failed(st, s, err, skill));
    rc = sqlite3_step(s);
    int seen = rc == SQLITE_ROW && sqlite3_column_int(s, 0) != 0;
    if (rc != SQLITE_ROW)
        rc = store_db_error(st, rc, err, "reading the rollback decisions of %s", skill);
    else
        rc = SKH_OK;
    store_stmt_done(s);
    if (rc)
        return store_tx_fail(st, rc);
    if (seen) {
        store_tx_rollback(st);
        return SKH_OK;
    }
    if ((rc = decision_row(st, skill, variant_id, d, now, err)))
        return store_tx_fail(st, rc);
    if ((rc = store_tx_commit(st, err)))
        return rc;
    *recorded = 1;
    return SKH_OK;
}

int store_rb_freeze(store *st, const char *skill, const char *variant_id, const char *state,
                    const char *reason, const store_rb_decision *d, int *applied, skh_error *err)
{
    char now[32];
    *applied = 0;
    int rc;
    sqlite3_stmt *q = stmt(st, sql_state_of, err, &rc);
    sqlite3_stmt *s = q ? stmt(st, sql_freeze, err, &rc) : NULL;
    if (!s)
        return rc;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)))
        return rc;
    if (store_bind_text(q, 1, variant_id))
        return store_tx_fail(st, bind_failed(st, q, err, variant_id));
    rc = sqlite3_step(q);
    const char *cur = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
    int same = cur && state && strcmp(cur, state) == 0;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE
             ? SKH_OK
             : store_db_error(st, rc, err, "reading the state of %s", variant_id);
    store_stmt_done(q);
    if (rc || !same) {
        store_tx_rollback(st);
        return rc;
    }
    int changed = 0;
    if (store_bind_text(s, 1, variant_id) | store_bind_text(s, 2, now) |
        store_bind_text(s, 3, reason))
        return store_tx_fail(st, bind_failed(st, s, err, variant_id));
    if ((rc = run_write(st, s, &changed, err, "freezing", variant_id)))
        return store_tx_fail(st, rc);
    if (!changed) {
        store_tx_rollback(st);
        return SKH_OK;
    }
    if ((rc = decision_row(st, skill, variant_id, d, now, err)))
        return store_tx_fail(st, rc);
    if ((rc = store_tx_commit(st, err)))
        return rc;
    *applied = 1;
    return SKH_OK;
}

/* ---- circuit breakers ------------------------------------------------------------- */

int store_breaker_get(store *st, const char *variant_id, store_breaker *out, skh_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    snprintf(out->state, sizeof out->state, "closed");
    out->open_age_s = out->half_open_age_s = -1;
    sqlite3_stmt *s = stmt(st, sql_breaker_get, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->exists = 1;
        copy_col(s, 0, out->state, sizeof out->state);
        out->failures = sqlite3_column_int64(s, 1);
        copy_col(s, 2, out->opened_at, sizeof out->opened_at);
        copy_col(s, 3, out->half_open_at, sizeof out->half_open_at);
        out->open_age_s = sqlite3_column_double(s, 4);
        out->half_open_age_s = sqlite3_column_double(s, 5);
        rc = SKH_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading the circuit breaker of %s", variant_id);
    }
    store_stmt_done(s);
    return rc;
}

int store_breaker_claim(store *st, const char *skill, const char *variant_id,
                        const store_breaker *seen, const store_rb_decision *d, int *claimed,
                        skh_error *err)
{
    char now[32];
    *claimed = 0;
    int half = strcmp(seen->state, "half_open") == 0;
    if (!half && strcmp(seen->state, "open") != 0)
        return error_set(err, SKH_EINVAL, variant_id, "a %s breaker has no probe to claim",
                         seen->state);
    int rc, changed = 0;
    sqlite3_stmt *s = stmt(st, half ? sql_claim_half_open : sql_claim_open, err, &rc);
    if (!s)
        return rc;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)))
        return rc;
    if (store_bind_text(s, 1, variant_id) |
        store_bind_text(s, 2, half ? seen->half_open_at : seen->opened_at) |
        store_bind_text(s, 3, now))
        return store_tx_fail(st, bind_failed(st, s, err, variant_id));
    if ((rc = run_write(st, s, &changed, err, "half-opening the breaker of", variant_id)))
        return store_tx_fail(st, rc);
    if (!changed) {
        store_tx_rollback(st);
        return SKH_OK;
    }
    if (d && d->kind && (rc = decision_row(st, skill, variant_id, d, now, err)))
        return store_tx_fail(st, rc);
    if ((rc = store_tx_commit(st, err)))
        return rc;
    *claimed = 1;
    return SKH_OK;
}

/* The decisions row of a breaker change, with what the store saw. */
static int breaker_decision(store *st, const char *skill, const char *variant_id,
                            const store_rb_decision *d, const char *verdict, const char *from,
                            long long failures, const char *now, skh_error *err)
{
    if (!d || !d->kind)
        return SKH_OK;
    json_t *seen = json_pack("{s:s, s:s, s:I}", "from", from, "to",
                             strcmp(verdict, "close") == 0 ? "closed" : "open", "failures",
                             (json_int_t)failures);
    if (seen && d->observed) {
        json_t *extra = json_loads(d->observed, 0, NULL);
        if (json_is_object(extra))
            json_object_update(seen, extra);
        json_decref(extra);
    }
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    json_decref(seen);
    if (!observed)
        return store_no_memory(err, variant_id);
    store_rb_decision row = *d;
    row.verdict = verdict;
    row.observed = observed;
    int rc = decision_row(st, skill, variant_id, &row, now, err);
    free(observed);
    return rc;
}

int store_breaker_failure(store *st, const char *skill, const char *variant_id, long long threshold,
                          const store_rb_decision *d, int *opened, skh_error *err)
{
    char now[32], state[16] = "";
    *opened = 0;
    int rc, changed = 0;
    sqlite3_stmt *s = stmt(st, sql_fail, err, &rc);
    sqlite3_stmt *o = s ? stmt(st, sql_open, err, &rc) : NULL;
    if (!o)
        return rc;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)))
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return store_tx_fail(st, bind_failed(st, s, err, variant_id));
    rc = sqlite3_step(s);
    long long failures = 0;
    if (rc == SQLITE_ROW) {
        copy_col(s, 0, state, sizeof state);
        failures = sqlite3_column_int64(s, 1);
        rc = sqlite3_step(s);
    }
    rc = rc == SQLITE_DONE ? SKH_OK
                           : store_db_error(st, rc, err, "counting a failure of %s", variant_id);
    store_stmt_done(s);
    if (rc)
        return store_tx_fail(st, rc);

    int half = strcmp(state, "half_open") == 0;
    if (half || (strcmp(state, "closed") == 0 && failures >= threshold)) {
        char reason[96];
        snprintf(reason, sizeof reason, "%lld consecutive failure%s%s", failures,
                 failures == 1 ? "" : "s", half ? ", the half-open probe failed" : "");
        if (store_bind_text(o, 1, variant_id) | store_bind_text(o, 2, now) |
            store_bind_text(o, 3, reason))
            return store_tx_fail(st, bind_failed(st, o, err, variant_id));
        if ((rc = run_write(st, o, &changed, err, "opening the breaker of", variant_id)))
            return store_tx_fail(st, rc);
        if (changed && (rc = breaker_decision(st, skill, variant_id, d, half ? "reopen" : "open",
                                              state, failures, now, err)))
            return store_tx_fail(st, rc);
    }
    if ((rc = store_tx_commit(st, err)))
        return rc;
    *opened = changed;
    return SKH_OK;
}

int store_breaker_success(store *st, const char *skill, const char *variant_id,
                          const store_rb_decision *d, int *closed, skh_error *err)
{
    char now[32];
    store_breaker b;
    *closed = 0;
    /* The common case -- no row, or closed with nothing to forget -- writes nothing. */
    int rc = store_breaker_get(st, variant_id, &b, err);
    if (rc || !b.exists)
        return rc;
    int half = strcmp(b.state, "half_open") == 0;
    if (!half && !(strcmp(b.state, "closed") == 0 && b.failures > 0))
        return SKH_OK;
    int changed = 0;
    sqlite3_stmt *s = stmt(st, half ? sql_close : sql_reset, err, &rc);
    if (!s)
        return rc;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)))
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return store_tx_fail(st, bind_failed(st, s, err, variant_id));
    if ((rc = run_write(st, s, &changed, err, "closing the breaker of", variant_id)))
        return store_tx_fail(st, rc);
    if (half && changed &&
        (rc = breaker_decision(st, skill, variant_id, d, "close", "half_open", b.failures, now,
                               err)))
        return store_tx_fail(st, rc);
    if ((rc = store_tx_commit(st, err)))
        return rc;
    *closed = half && changed;
    return SKH_OK;
}
