/*
 * `skillhost heatmap` (issue 12 item 5): seed 004's generate_phase_heatmap(),
 * rows (skills or workflow phases) against hours of the day or days, one
 * shaded cell per pair, readable in 80 columns.  The matrix comes from the
 * hourly rollups; the text rendering is the CLI's, from the same matrix
 * `--json` prints.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "error.h"
#include "store_internal.h"

#define HEATMAP_MAX_DAYS 31

static const char *const metrics[] = {"executions", "success_rate", "fidelity", "error_rate",
                                      "duration_p95_ms"};

static double cell_value(const rollup_agg *a, const char *metric)
{
    if (strcmp(metric, "executions") == 0)
        return (double)a->executions;
    if (strcmp(metric, "success_rate") == 0)
        return rollup_success_rate(a);
    if (strcmp(metric, "fidelity") == 0)
        return rollup_mean_fidelity(a);
    if (strcmp(metric, "error_rate") == 0)
        return rollup_error_rate(a);
    return rollup_duration_percentile(a, 0.95);
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int heatmap_body(skh_host *host, const skh_analytics_options *o, const char *rows_by,
                        int days, const char *metric, const char *since, json_t **out,
                        skh_error *err)
{
    rollup_query q = {.k1 = rows_by,
                      .k2 = days ? "day" : "hod",
                      .since = since[0] ? since : NULL,
                      .until = analytics_filter(o->until),
                      .skill = analytics_filter(o->skill),
                      .tenant = analytics_filter(o->tenant),
                      .phase = analytics_filter(o->phase)};
    rollup_agg *rows = NULL;
    size_t n = 0;
    int rc = rollup_read(host->st, &q, &rows, &n, err);
    if (rc)
        return rc;
    json_t *columns = json_array(), *matrix = json_array();
    int bad = !columns || !matrix;
    /* Days: the most recent HEATMAP_MAX_DAYS that have data, oldest first. */
    if (!bad && days) {
        char **seen = calloc(n ? n : 1, sizeof *seen);
        size_t ns = 0;
        bad = !seen;
        for (size_t i = 0; !bad && i < n; i++) {
            size_t k = 0;
            while (k < ns && strcmp(seen[k], rows[i].k2) != 0)
                k++;
            if (k == ns)
                seen[ns++] = rows[i].k2;
        }
        if (!bad) {
            qsort(seen, ns, sizeof *seen, strcmp_ptr);
            for (size_t k = ns > HEATMAP_MAX_DAYS ? ns - HEATMAP_MAX_DAYS : 0; k < ns; k++)
                bad |= json_array_append_new(columns, json_string(seen[k]));
        }
        free(seen);
    } else {
        for (int h = 0; !bad && h < 24; h++) {
            char label[4];
            snprintf(label, sizeof label, "%02d", h);
            bad |= json_array_append_new(columns, json_string(label));
        }
    }
    size_t ncol = json_array_size(columns);
    double max = 0;
    json_t *row = NULL;
    const char *row_name = NULL;
    for (size_t i = 0; !bad && i < n; i++) {
        const char *name = strcmp(rows_by, "phase") == 0 && !*rows[i].k1 ? "(none)" : rows[i].k1;
        if (!row_name || strcmp(row_name, name) != 0) {
            json_t *values = json_array();
            for (size_t c = 0; values && c < ncol; c++)
                json_array_append_new(values, json_null());
            row = values ? json_pack("{s:s, s:o}", "name", name, "values", values) : NULL;
            bad = !row || json_array_append_new(matrix, row);
            row_name = name;
            if (bad)
                break;
        }
        int c = days ? -1 : atoi(rows[i].k2);
        if (days) {
            /* Only the days kept above. */
            for (size_t k = 0; k < ncol; k++)
                if (strcmp(json_string_value(json_array_get(columns, k)), rows[i].k2) == 0)
                    c = (int)k;
        }
        if (c < 0 || (size_t)c >= ncol)
            continue;
        double v = cell_value(&rows[i], metric);
        if (isfinite(v)) {
            bad |= json_array_set_new(json_object_get(row, "values"), (size_t)c, analytics_real(v));
            if (v > max)
                max = v;
        }
    }
    rollup_free(rows, n);
    int rate = strcmp(metric, "success_rate") == 0 || strcmp(metric, "fidelity") == 0 ||
               strcmp(metric, "error_rate") == 0;
    if (!bad)
        *out =
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "rows_by", rows_by, "columns_by",
                      days ? "day" : "hour_of_day", "metric", metric, "since",
                      since[0] ? json_string(since) : json_null(), "columns", columns, "rows",
                      matrix, "scale_min", json_real(0), "scale_max", json_real(rate ? 1.0 : max));
    if (bad || !*out) {
        json_decref(columns);
        json_decref(matrix);
        return store_no_memory(err, "heatmap");
    }
    return SKH_OK;
}

SKH_EXPORT int skh_heatmap(skh_host *host, const skh_analytics_options *o, char **json,
                           skh_error *err)
{
    *json = NULL;
    error_clear(err);
    skh_analytics_options none = {.struct_size = sizeof none};
    if (!o)
        o = &none;
    const char *rows_by = o->rows ? o->rows : "phase";
    if (strcmp(rows_by, "skill") != 0 && strcmp(rows_by, "phase") != 0 &&
        strcmp(rows_by, "tenant") != 0)
        return error_set(err, SKH_EINVAL, "--rows", "'%s': expected skill, phase or tenant",
                         rows_by);
    const char *cols = o->columns ? o->columns : "hour";
    if (strcmp(cols, "hour") != 0 && strcmp(cols, "day") != 0)
        return error_set(err, SKH_EINVAL, "--columns", "'%s': expected hour or day", cols);
    const char *metric = NULL;
    for (size_t i = 0; i < sizeof metrics / sizeof *metrics; i++)
        if (strcmp(metrics[i], o->metric ? o->metric : "executions") == 0)
            metric = metrics[i];
    if (!metric)
        return error_set(err, SKH_EINVAL, "--metric",
                         "'%s': expected executions, success_rate, fidelity, error_rate or "
                         "duration_p95_ms",
                         o->metric);
    char since[32];
    int rc = analytics_since(o->since, since, err);
    if (rc)
        return rc;
    json_t *out = NULL;
    if ((rc = store_tx_begin(host->st, 0, err)) != SKH_OK)
        return rc;
    rc = heatmap_body(host, o, rollup_key(rows_by), strcmp(cols, "day") == 0, metric, since, &out,
                      err);
    if (rc == SKH_OK)
        rc = store_tx_commit(host->st, err);
    else
        store_tx_rollback(host->st);
    if (rc == SKH_OK && !(*json = json_dumps(out, SKH_JSON_FLAGS)))
        rc = store_no_memory(err, "heatmap");
    json_decref(out);
    return rc;
}
