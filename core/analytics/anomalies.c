/*
 * `skillhost anomalies` (issue 12 item 4): every hour of a skill's traffic
 * that is over and not judged yet is compared with the trailing hours
 * (seed 004's z-score detection); anomaly.lua holds the rule and the
 * thresholds.  What it finds is kept in the anomalies table, the judged
 * hours in anomaly_scans, so a finding is never recomputed (and never
 * changes when the policy does later); new findings are offered to
 * hooks.lua as events of kind "anomaly" so they can alert.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics.h"
#include "error.h"
#include "hooks.h"
#include "policy.h"
#include "store_internal.h"

#define ANOMALY_BASELINE_HOURS 24 /* trailing hours with traffic that make the baseline */
#define ANOMALY_LOOKBACK_DAYS 7   /* how far before --since the baseline may reach */

enum { M_SUCCESS, M_FIDELITY, M_ERRORS, M_DURATION, M_COUNT };
static const char *const metric_names[M_COUNT] = {"success_rate", "fidelity", "error_rate",
                                                  "duration_ms"};

static double metric_value(const rollup_agg *a, int m)
{
    switch (m) {
    case M_SUCCESS:
        return rollup_success_rate(a);
    case M_FIDELITY:
        return rollup_mean_fidelity(a);
    case M_ERRORS:
        return rollup_error_rate(a);
    default:
        return rollup_mean_duration(a);
    }
}

static const char sql_scanned[] =
    "SELECT 1 FROM anomaly_scans WHERE skill_id = ?1 AND tenant = ?2 AND hour = ?3";
static const char sql_scan_add[] = "INSERT OR IGNORE INTO anomaly_scans (skill_id, tenant, hour,"
                                   " scanned_at) VALUES (?1, ?2, ?3, ?4)";
static const char sql_anomaly_add[] =
    "INSERT OR IGNORE INTO anomalies (skill_id, tenant, hour, metric, value, baseline_mean,"
    " baseline_std, baseline_hours, z, direction, severity, reason, statistic, thresholds,"
    " policy_file, policy_sha256, detected_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
static const char sql_anomaly_list[] =
    "SELECT anomaly_id, skill_id, tenant, hour, metric, value, baseline_mean, baseline_std,"
    " baseline_hours, z, direction, severity, reason, statistic, thresholds, policy_file,"
    " detected_at FROM anomalies WHERE (?1 IS NULL OR hour >= substr(?1, 1, 13))"
    " AND (?2 IS NULL OR skill_id = ?2) AND tenant = ?3 ORDER BY hour, skill_id, metric";

static int scanned(store *st, const char *skill, const char *tenant, const char *hour, int *yes,
                   skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_scanned, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, tenant) |
        store_bind_text(s, 3, hour)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the scan lookup failed");
    }
    int rc = sqlite3_step(s);
    *yes = rc == SQLITE_ROW;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SKH_OK
                                               : store_db_error(st, rc, err, "reading the scans");
    store_stmt_done(s);
    return rc;
}

/* Baseline of metric m over the ANOMALY_BASELINE_HOURS hours with a value before rows[i]. */
static json_t *baseline(const rollup_agg *rows, size_t first, size_t i, int m)
{
    double sum = 0, sq = 0;
    long long execs = 0;
    int n = 0;
    for (size_t k = i; k > first && n < ANOMALY_BASELINE_HOURS; k--) {
        double v = metric_value(&rows[k - 1], m);
        if (!isfinite(v))
            continue;
        sum += v;
        sq += v * v;
        execs += rows[k - 1].executions;
        n++;
    }
    double mean = n ? sum / n : 0;
    double var = n > 1 ? (sq - n * mean * mean) / (n - 1) : 0;
    return json_pack("{s:f, s:f, s:i, s:I}", "mean", mean, "std", var > 0 ? sqrt(var) : 0.0,
                     "hours", n, "executions", (json_int_t)execs);
}

static json_t *hour_facts(const rollup_agg *rows, size_t first, size_t i, const char *tenant)
{
    json_t *metrics = json_object();
    for (int m = 0; metrics && m < M_COUNT; m++) {
        double v = metric_value(&rows[i], m);
        if (!isfinite(v))
            continue;
        json_t *b = baseline(rows, first, i, m);
        json_t *e = b ? json_pack("{s:f, s:o}", "value", v, "baseline", b) : NULL;
        if (!e || json_object_set_new(metrics, metric_names[m], e)) {
            json_decref(metrics);
            metrics = NULL;
        }
    }
    if (!metrics)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "skill", rows[i].k1, "tenant", tenant,
                     "hour", rows[i].k2, "executions", (json_int_t)rows[i].executions, "requests",
                     (json_int_t)rows[i].requests, "metrics", metrics);
}

typedef struct finding {
    char skill[80], hour[16], metric[32], direction[8], severity[16];
    double value, mean, std, z;
    int hours;
    char *reason, *statistic, *thresholds;
} finding;

typedef struct scan {
    finding *f;
    size_t n, cap;
    char (*judged)[96]; /* "skill\thour" of every hour judged now */
    size_t njudged, capjudged;
    policy_info info;
} scan;

static void scan_free(scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->f[i].reason);
        free(s->f[i].statistic);
        free(s->f[i].thresholds);
    }
    free(s->f);
    free(s->judged);
}

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Keep the policy's findings for one hour. */
static int keep_findings(scan *s, const rollup_agg *a, const json_t *answer, skh_error *err)
{
    const json_t *list = json_object_get(answer, "findings");
    size_t k;
    const json_t *f;
    json_array_foreach(list, k, f)
    {
        const char *metric = json_string_value(json_object_get(f, "metric"));
        if (!metric)
            return error_set(err, SKH_EPLUGIN, s->info.path, "judge(): findings[%zu] has no metric",
                             k + 1);
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            finding *grown = realloc(s->f, cap * sizeof *grown);
            if (!grown)
                return error_set(err, SKH_ENOMEM, "anomalies", "out of memory");
            s->f = grown;
            s->cap = cap;
        }
        finding *x = &s->f[s->n];
        memset(x, 0, sizeof *x);
        const json_t *stat = json_object_get(f, "statistic");
        snprintf(x->skill, sizeof x->skill, "%s", a->k1);
        snprintf(x->hour, sizeof x->hour, "%s", a->k2);
        snprintf(x->metric, sizeof x->metric, "%s", metric);
        const char *dir = json_string_value(json_object_get(f, "direction"));
        const char *sev = json_string_value(json_object_get(f, "severity"));
        snprintf(x->direction, sizeof x->direction, "%s", dir ? dir : "");
        snprintf(x->severity, sizeof x->severity, "%s", sev ? sev : "warning");
        x->value = num(stat, "value");
        x->mean = num(stat, "mean");
        x->std = num(stat, "std");
        x->z = num(stat, "z");
        x->hours = (int)num(stat, "hours");
        const char *reason = json_string_value(json_object_get(f, "reason"));
        x->reason = strdup(reason ? reason : metric);
        x->statistic = stat ? json_dumps(stat, SKH_JSON_FLAGS) : NULL;
        const json_t *th = json_object_get(f, "thresholds");
        x->thresholds = th ? json_dumps(th, SKH_JSON_FLAGS) : NULL;
        s->n++;
        if (!x->reason)
            return error_set(err, SKH_ENOMEM, "anomalies", "out of memory");
    }
    return SKH_OK;
}

/* Judge every hour of rows (one skill's, in order) that is over and not judged yet. */
static int judge_skill(skh_host *host, const rollup_agg *rows, size_t first, size_t end,
                       const char *since_hour, const char *now_hour, const char *tenant, scan *s,
                       skh_error *err)
{
    for (size_t i = first; i < end; i++) {
        const rollup_agg *a = &rows[i];
        if (strcmp(a->k2, now_hour) >= 0 || (since_hour[0] && strcmp(a->k2, since_hour) < 0))
            continue;
        int done = 0;
        int rc = scanned(host->st, a->k1, tenant, a->k2, &done, err);
        if (rc)
            return rc;
        if (done)
            continue;
        json_t *facts = hour_facts(rows, first, i, tenant);
        json_t *answer = NULL;
        if (!facts)
            return error_set(err, SKH_ENOMEM, "anomalies", "out of memory");
        rc = policy_decide(host->policies, "anomaly", "judge", facts, &answer, &s->info, err);
        json_decref(facts);
        const json_t *fl = json_object_get(answer, "findings");
        /* An empty Lua table converts to {}: no findings. */
        if (rc == SKH_OK && !json_is_array(fl) && !(json_is_object(fl) && !json_object_size(fl)))
            rc = error_set(err, SKH_EPLUGIN, s->info.path,
                           "judge() must answer a table with findings = { ... }");
        if (rc == SKH_OK)
            rc = keep_findings(s, a, answer, err);
        json_decref(answer);
        if (rc)
            return rc;
        if (s->njudged == s->capjudged) {
            size_t cap = s->capjudged ? s->capjudged * 2 : 64;
            char(*grown)[96] = realloc(s->judged, cap * sizeof *grown);
            if (!grown)
                return error_set(err, SKH_ENOMEM, "anomalies", "out of memory");
            s->judged = grown;
            s->capjudged = cap;
        }
        snprintf(s->judged[s->njudged++], 96, "%s\t%s", a->k1, a->k2);
    }
    return SKH_OK;
}

/* One write transaction: the findings and the hours judged. */
static int record_scan(store *st, const scan *s, const char *tenant, skh_error *err)
{
    char now[32];
    store_timestamp(now);
    sqlite3_stmt *add = store_stmt(st, sql_anomaly_add, err);
    sqlite3_stmt *mark = add ? store_stmt(st, sql_scan_add, err) : NULL;
    if (!mark)
        return err ? err->code : SKH_ESTORE;
    int rc = store_tx_begin(st, 1, err);
    for (size_t i = 0; rc == SKH_OK && i < s->n; i++) {
        const finding *f = &s->f[i];
        if (store_bind_text(add, 1, f->skill) | store_bind_text(add, 2, tenant) |
            store_bind_text(add, 3, f->hour) | store_bind_text(add, 4, f->metric) |
            sqlite3_bind_double(add, 5, isfinite(f->value) ? f->value : 0) |
            (isfinite(f->mean) ? sqlite3_bind_double(add, 6, f->mean) : sqlite3_bind_null(add, 6)) |
            (isfinite(f->std) ? sqlite3_bind_double(add, 7, f->std) : sqlite3_bind_null(add, 7)) |
            sqlite3_bind_int(add, 8, f->hours) |
            (isfinite(f->z) ? sqlite3_bind_double(add, 9, f->z) : sqlite3_bind_null(add, 9)) |
            store_bind_text(add, 10, f->direction) | store_bind_text(add, 11, f->severity) |
            store_bind_text(add, 12, f->reason) | store_bind_text(add, 13, f->statistic) |
            store_bind_text(add, 14, f->thresholds) | store_bind_text(add, 15, s->info.path) |
            store_bind_text(add, 16, s->info.sha256) | store_bind_text(add, 17, now)) {
            store_stmt_done(add);
            rc = error_set(err, SKH_ESTORE, store_path(st), "binding an anomaly failed");
        } else {
            rc = store_stmt_run(st, add, err, "recording the anomaly of", f->skill);
        }
    }
    for (size_t i = 0; rc == SKH_OK && i < s->njudged; i++) {
        char skill[96];
        snprintf(skill, sizeof skill, "%s", s->judged[i]);
        char *tab = strchr(skill, '\t');
        *tab = '\0';
        if (store_bind_text(mark, 1, skill) | store_bind_text(mark, 2, tenant) |
            store_bind_text(mark, 3, tab + 1) | store_bind_text(mark, 4, now)) {
            store_stmt_done(mark);
            rc = error_set(err, SKH_ESTORE, store_path(st), "binding a scan failed");
        } else {
            rc = store_stmt_run(st, mark, err, "recording the scan of", skill);
        }
    }
    return rc == SKH_OK ? store_tx_commit(st, err) : store_tx_fail(st, rc);
}

/* New findings go to hooks.lua; a hook's failure is reported there, never fatal here. */
static void offer_to_hooks(skh_host *host, const scan *s, const char *tenant)
{
    char now[32];
    store_timestamp(now);
    for (size_t i = 0; i < s->n; i++) {
        const finding *f = &s->f[i];
        char metric[96];
        snprintf(metric, sizeof metric, "%s=%.4g", f->metric, f->value);
        json_t *event = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f}", "kind", "anomaly",
            "skill", f->skill, "variant", "", "from_state", "", "to_state", "", "reason", f->reason,
            "actor", "anomaly.lua", "metric", metric, "timestamp", now, "hour", f->hour, "severity",
            f->severity, "tenant", tenant, "z", isfinite(f->z) ? f->z : 0.0);
        skh_error e;
        if (event && hooks_after_transition(host, event, &e) != SKH_OK)
            fprintf(stderr, "skillhost: %s: anomaly hook: %s\n", e.what, e.message);
        json_decref(event);
    }
}

static json_t *col_json(sqlite3_stmt *s, int i)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_NULL:
        return json_null();
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(s, i));
    case SQLITE_FLOAT:
        return analytics_real(sqlite3_column_double(s, i));
    default:
        return json_string((const char *)sqlite3_column_text(s, i));
    }
}

/* Every kept finding in range; those found by this call are marked new. */
static int list_anomalies(store *st, const char *since, const char *skill, const char *tenant,
                          long long first_new, json_t **out, skh_error *err)
{
    static const char *const cols[] = {
        "id",          "skill",         "tenant",       "hour",           "metric",
        "value",       "baseline_mean", "baseline_std", "baseline_hours", "z",
        "direction",   "severity",      "reason",       "statistic",      "thresholds",
        "policy_file", "detected_at"};
    sqlite3_stmt *s = store_stmt(st, sql_anomaly_list, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, since) | store_bind_text(s, 2, skill) |
        store_bind_text(s, 3, tenant)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the anomaly list failed");
    }
    json_t *list = json_array();
    int rc, bad = !list;
    while (!bad && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *a = json_object();
        for (int c = 0; a && c < (int)(sizeof cols / sizeof *cols); c++) {
            json_t *v = col_json(s, c);
            /* statistic and thresholds are JSON the policy answered. */
            if ((c == 13 || c == 14) && json_is_string(v)) {
                json_t *parsed = json_loads(json_string_value(v), 0, NULL);
                json_decref(v);
                v = parsed ? parsed : json_null();
            }
            bad |= json_object_set_new(a, cols[c], v);
        }
        bad |=
            !a ||
            json_object_set_new(
                a, "new", json_boolean(first_new > 0 && sqlite3_column_int64(s, 0) >= first_new)) ||
            json_array_append_new(list, a);
    }
    if (bad) {
        store_stmt_done(s);
        json_decref(list);
        return store_no_memory(err, "anomalies");
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "listing anomalies");
        store_stmt_done(s);
        json_decref(list);
        return rc;
    }
    store_stmt_done(s);
    *out = list;
    return SKH_OK;
}

static const char sql_max_id[] = "SELECT COALESCE(MAX(anomaly_id), 0) FROM anomalies";

static int max_id(store *st, long long *id, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_max_id, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    rc = rc == SQLITE_ROW ? SKH_OK : store_db_error(st, rc, err, "reading anomalies");
    store_stmt_done(s);
    return rc;
}

/* since minus the look-back, as text the rollups compare with; "" stays "". */
static void lookback(const char *since, char out[32])
{
    out[0] = '\0';
    if (!since[0])
        return;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y = 0, mo = 1, d = 1, h = 0;
    sscanf(since, "%d-%d-%dT%d", &y, &mo, &d, &h);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    time_t t = timegm(&tm) - (time_t)ANOMALY_LOOKBACK_DAYS * 86400;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H", &tm);
}

SKH_EXPORT int skh_anomalies(skh_host *host, const skh_analytics_options *o, char **json,
                             skh_error *err)
{
    *json = NULL;
    error_clear(err);
    skh_analytics_options none = {.struct_size = sizeof none};
    if (!o)
        o = &none;
    char since[32], from[32], since_hour[16] = "", now_hour[16];
    int rc = analytics_since(o->since, since, err);
    if (rc)
        return rc;
    snprintf(since_hour, sizeof since_hour, "%.13s", since);
    lookback(since, from);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now_hour, sizeof now_hour, "%Y-%m-%dT%H", &tm);
    const char *tenant = o->tenant ? o->tenant : "";

    rollup_query q = {.k1 = "skill",
                      .k2 = "hour",
                      .since = from[0] ? from : NULL,
                      .skill = analytics_filter(o->skill),
                      .tenant = analytics_filter(o->tenant)};
    rollup_agg *rows = NULL;
    size_t n = 0;
    scan s;
    memset(&s, 0, sizeof s);
    long long before = 0;
    if ((rc = store_tx_begin(host->st, 0, err)) != SKH_OK)
        return rc;
    rc = rollup_read(host->st, &q, &rows, &n, err);
    if (rc == SKH_OK)
        rc = max_id(host->st, &before, err);
    for (size_t first = 0; rc == SKH_OK && first < n;) {
        size_t end = first;
        while (end < n && strcmp(rows[end].k1, rows[first].k1) == 0)
            end++;
        rc = judge_skill(host, rows, first, end, since_hour, now_hour, tenant, &s, err);
        first = end;
    }
    if (rc == SKH_OK)
        rc = store_tx_commit(host->st, err);
    else
        store_tx_rollback(host->st);
    rollup_free(rows, n);
    if (rc == SKH_OK && s.njudged)
        rc = record_scan(host->st, &s, tenant, err);
    if (rc == SKH_OK)
        offer_to_hooks(host, &s, tenant);
    json_t *list = NULL, *out = NULL;
    if (rc == SKH_OK)
        rc = list_anomalies(host->st, since[0] ? since : NULL, analytics_filter(o->skill), tenant,
                            s.n ? before + 1 : 0, &list, err);
    if (rc == SKH_OK) {
        out =
            json_pack("{s:o, s:s, s:I, s:I, s:o}", "since",
                      since[0] ? json_string(since) : json_null(), "tenant", tenant, "judged_hours",
                      (json_int_t)s.njudged, "new", (json_int_t)s.n, "anomalies", list);
        if (!out || !(*json = json_dumps(out, SKH_JSON_FLAGS)))
            rc = store_no_memory(err, "anomalies");
    }
    json_decref(out);
    scan_free(&s);
    return rc;
}
