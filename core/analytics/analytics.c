/*
 * `skillhost analytics` (issue 12 item 3): effectiveness per workflow phase
 * (or skill, variant, tenant, hour), the bottlenecks, and how sessions move
 * from phase to phase -- seed 004's get_workflow_skill_effectiveness(),
 * identify_workflow_bottlenecks() and get_workflow_phase_transitions().
 *
 * The tables come from the hourly rollups (rollup.c), so a long history
 * costs a few rows per hour; the transitions follow sessions through the
 * raw executions (executions_session index), bounded by --since.
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

#define BOTTLENECKS_MAX 5

int analytics_since(const char *text, char out[32], skh_error *err)
{
    out[0] = '\0';
    if (!text || !*text)
        return SKH_OK;
    char *end;
    double n = strtod(text, &end);
    if (end != text && n >= 0 &&
        (strcmp(end, "h") == 0 || strcmp(end, "d") == 0 || strcmp(end, "m") == 0)) {
        double secs = n * (*end == 'd' ? 86400 : *end == 'h' ? 3600 : 60);
        time_t t = time(NULL) - (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        return SKH_OK;
    }
    /* ISO-8601 UTC, as the store writes it, or any prefix of it down to the year. */
    static const char shape[] = "0000-00-00T00:00:00";
    size_t len = strlen(text);
    int ok = len >= 4 && len <= 24;
    for (size_t i = 0; ok && i < len && i < sizeof shape - 1; i++)
        ok = shape[i] == '0' ? (text[i] >= '0' && text[i] <= '9') : text[i] == shape[i];
    if (!ok)
        return error_set(err, SKH_EINVAL, "--since",
                         "'%s' is neither a time (2026-12-06T10:00) nor an age (24h, 7d, 30m)",
                         text);
    snprintf(out, 32, "%s", text);
    return SKH_OK;
}

const char *analytics_filter(const char *s)
{
    return s && *s ? s : NULL;
}

/* ---- transitions ---------------------------------------------------------- */

/*
 * Per request of a session: its phase, whether it succeeded (its last
 * attempt's request_success), and the phase of the session's next request
 * (NULL: the session ended there).
 */
static const char sql_transitions[] =
    "WITH r AS (SELECT session_id, MIN(timestamp) AS t, COALESCE(MAX(workflow_phase), '') AS phase,"
    "  COALESCE(MAX(request_success), 0) AS ok FROM executions"
    "  WHERE session_id IS NOT NULL AND evaluation = 0"
    "  AND (?1 IS NULL OR timestamp >= ?1) AND (?2 IS NULL OR timestamp < ?2)"
    "  AND (?3 IS NULL OR skill_id = ?3) AND (?4 IS NULL OR COALESCE(tenant, '') = ?4)"
    "  GROUP BY request_id),"
    " s AS (SELECT session_id, phase, ok, LEAD(phase) OVER (PARTITION BY session_id ORDER BY t)"
    "  AS next FROM r)"
    " SELECT phase, next, ok, COUNT(*), COUNT(DISTINCT session_id) FROM s"
    " GROUP BY phase, next, ok ORDER BY phase, next";

static const char *phase_name(const char *p)
{
    return p && *p ? p : "(none)";
}

/* Add n (and n_failed) to the entry of arr keyed by the given members, creating it. */
static int bump(json_t *arr, const char *k1, const char *v1, const char *k2, const char *v2,
                long long n, long long failed)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, k1)), v1) == 0 &&
            (!k2 || strcmp(json_string_value(json_object_get(e, k2)), v2) == 0)) {
            json_int_t c = json_integer_value(json_object_get(e, "count"));
            json_int_t f = json_integer_value(json_object_get(e, "after_failure"));
            return json_object_set_new(e, "count", json_integer(c + n)) |
                   json_object_set_new(e, "after_failure", json_integer(f + failed));
        }
    }
    e = json_pack("{s:s, s:I, s:I}", k1, v1, "count", (json_int_t)n, "after_failure",
                  (json_int_t)failed);
    if (e && k2 && json_object_set_new(e, k2, json_string(v2))) {
        json_decref(e);
        e = NULL;
    }
    return e ? json_array_append_new(arr, e) : -1;
}

static int by_count_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "count"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "count"));
    return (y > x) - (y < x);
}

/* Sort a JSON array of objects by "count", largest first. */
static json_t *sorted_by_count(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    json_t *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, n, sizeof *v, by_count_desc);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

static int transitions(store *st, const skh_analytics_options *o, const char *since, json_t **out,
                       skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_transitions, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, since[0] ? since : NULL) |
        store_bind_text(s, 2, analytics_filter(o->until)) |
        store_bind_text(s, 3, analytics_filter(o->skill)) |
        store_bind_text(s, 4, analytics_filter(o->tenant))) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the transitions query failed");
    }
    json_t *pairs = json_array(), *ends = json_array();
    long long requests = 0, sessions = 0;
    int rc, bad = !pairs || !ends;
    while (!bad && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *from = phase_name((const char *)sqlite3_column_text(s, 0));
        int ended = sqlite3_column_type(s, 1) == SQLITE_NULL;
        int ok = sqlite3_column_int(s, 2);
        long long n = sqlite3_column_int64(s, 3);
        requests += n;
        if (ended) {
            sessions += n;
            bad = bump(ends, "phase", from, NULL, NULL, n, ok ? 0 : n) != 0;
        } else {
            bad = bump(pairs, "from", from, "to",
                       phase_name((const char *)sqlite3_column_text(s, 1)), n, ok ? 0 : n) != 0;
        }
    }
    if (bad) {
        store_stmt_done(s);
        json_decref(pairs);
        json_decref(ends);
        return store_no_memory(err, "transitions");
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "following sessions");
        store_stmt_done(s);
        json_decref(pairs);
        json_decref(ends);
        return rc;
    }
    store_stmt_done(s);
    json_t *sp = sorted_by_count(pairs), *se = sorted_by_count(ends);
    json_decref(pairs);
    json_decref(ends);
    *out = sp && se ? json_pack("{s:I, s:I, s:o, s:o}", "sessions", (json_int_t)sessions,
                                "requests", (json_int_t)requests, "pairs", sp, "ends", se)
                    : NULL;
    if (!*out) {
        json_decref(sp);
        json_decref(se);
        return store_no_memory(err, "transitions");
    }
    return SKH_OK;
}

/* ---- bottlenecks ---------------------------------------------------------- */

typedef struct cost {
    const rollup_agg *a;
    double value;
} cost;

static int by_value_desc(const void *x, const void *y)
{
    double a = ((const cost *)x)->value, b = ((const cost *)y)->value;
    return (b > a) - (b < a);
}

/* The phase x skill pairs that cost the most time, and that fail the most requests. */
static json_t *bottlenecks(const rollup_agg *rows, size_t n)
{
    cost *time_cost = calloc(n ? n : 1, sizeof *time_cost);
    cost *fail_cost = calloc(n ? n : 1, sizeof *fail_cost);
    json_t *t = json_array(), *f = json_array();
    double total_ms = 0, total_failed = 0;
    if (!time_cost || !fail_cost || !t || !f) {
        free(time_cost);
        free(fail_cost);
        json_decref(t);
        json_decref(f);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        time_cost[i] = (cost){&rows[i], rows[i].duration_sum};
        /* A failed request: no success, an error or under the threshold alike. */
        fail_cost[i] = (cost){&rows[i], (double)(rows[i].requests - rows[i].successes)};
        total_ms += rows[i].duration_sum;
        total_failed += fail_cost[i].value;
    }
    qsort(time_cost, n, sizeof *time_cost, by_value_desc);
    qsort(fail_cost, n, sizeof *fail_cost, by_value_desc);
    int bad = 0;
    for (size_t i = 0; !bad && i < n && i < BOTTLENECKS_MAX; i++) {
        const rollup_agg *a = time_cost[i].a;
        if (time_cost[i].value > 0)
            bad |= json_array_append_new(
                t, json_pack("{s:s, s:s, s:o, s:o, s:I}", "phase", phase_name(a->k1), "skill",
                             a->k2, "duration_total_ms", analytics_real(a->duration_sum), "share",
                             analytics_real(a->duration_sum / total_ms), "executions",
                             (json_int_t)a->executions));
        a = fail_cost[i].a;
        if (fail_cost[i].value > 0)
            bad |= json_array_append_new(
                f, json_pack("{s:s, s:s, s:I, s:o, s:I, s:o}", "phase", phase_name(a->k1), "skill",
                             a->k2, "failed_requests", (json_int_t)fail_cost[i].value, "share",
                             analytics_real(fail_cost[i].value / total_failed), "requests",
                             (json_int_t)a->requests, "success_rate",
                             analytics_real(rollup_success_rate(a))));
    }
    free(time_cost);
    free(fail_cost);
    json_t *out = bad ? NULL : json_pack("{s:o, s:o}", "time", t, "failures", f);
    if (!out) {
        json_decref(t);
        json_decref(f);
    }
    return out;
}

/* ---- the verb ------------------------------------------------------------- */

static int analytics_body(skh_host *host, const skh_analytics_options *o, const char *by,
                          const char *since, json_t **out, skh_error *err)
{
    rollup_query q = {.k1 = by,
                      .since = since[0] ? since : NULL,
                      .until = analytics_filter(o->until),
                      .skill = analytics_filter(o->skill),
                      .tenant = analytics_filter(o->tenant),
                      .phase = analytics_filter(o->phase)};
    rollup_agg *rows = NULL, *pairs = NULL;
    size_t n = 0, npairs = 0;
    json_t *list = json_array(), *trans = NULL;
    rollup_agg total;
    memset(&total, 0, sizeof total);
    int rc = list ? rollup_read(host->st, &q, &rows, &n, err) : store_no_memory(err, "analytics");
    for (size_t i = 0; rc == SKH_OK && i < n; i++) {
        json_t *r = rollup_json(&rows[i]);
        rollup_merge(&total, &rows[i]);
        if (!r ||
            json_object_set_new(
                r, by,
                json_string(strcmp(by, "phase") == 0 ? phase_name(rows[i].k1) : rows[i].k1)) ||
            json_array_insert_new(list, json_array_size(list), r))
            rc = store_no_memory(err, "analytics");
    }
    q.k1 = "phase";
    q.k2 = "skill";
    if (rc == SKH_OK)
        rc = rollup_read(host->st, &q, &pairs, &npairs, err);
    if (rc == SKH_OK)
        rc = transitions(host->st, o, since, &trans, err);
    json_t *bn = rc == SKH_OK ? bottlenecks(pairs, npairs) : NULL;
    json_t *tot = rc == SKH_OK ? rollup_json(&total) : NULL;
    if (rc == SKH_OK) {
        *out = bn && tot
                   ? json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "by", by, "since",
                               since[0] ? json_string(since) : json_null(), "filters",
                               json_pack("{s:s?, s:s?, s:s?}", "skill", q.skill, "tenant", q.tenant,
                                         "phase", q.phase),
                               "total", tot, "rows", list, "bottlenecks", bn, "transitions", trans)
                   : NULL;
        if (!*out)
            rc = store_no_memory(err, "analytics");
        /* json_pack took them, on failure too. */
        if (bn && tot)
            list = bn = tot = trans = NULL;
    }
    json_decref(list);
    json_decref(bn);
    json_decref(tot);
    json_decref(trans);
    rollup_free(rows, n);
    rollup_free(pairs, npairs);
    return rc;
}

SKH_EXPORT int skh_analytics(skh_host *host, const skh_analytics_options *o, char **json,
                             skh_error *err)
{
    *json = NULL;
    error_clear(err);
    skh_analytics_options none = {.struct_size = sizeof none};
    if (!o)
        o = &none;
    const char *by = rollup_key(o->by ? o->by : "phase");
    if (!by || strcmp(by, "day") == 0 || strcmp(by, "hod") == 0)
        return error_set(err, SKH_EINVAL, "--by",
                         "'%s': expected skill, variant, phase, tenant "
                         "or hour",
                         o->by);
    char since[32];
    int rc = analytics_since(o->since, since, err);
    if (rc)
        return rc;
    json_t *out = NULL;
    /* One read transaction: the rollups, the open hours and the sessions agree. */
    if ((rc = store_tx_begin(host->st, 0, err)) != SKH_OK)
        return rc;
    rc = analytics_body(host, o, by, since, &out, err);
    if (rc == SKH_OK)
        rc = store_tx_commit(host->st, err);
    else
        store_tx_rollback(host->st);
    if (rc == SKH_OK && !(*json = json_dumps(out, SKH_JSON_FLAGS)))
        rc = store_no_memory(err, "analytics");
    json_decref(out);
    return rc;
}
