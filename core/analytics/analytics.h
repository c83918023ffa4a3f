/*
 * The analytics family (DESIGN §8, issue 12): hourly rollups kept in the
 * recording transaction, and the verbs that read them -- analytics,
 * anomalies, heatmap, recommend, report.  Private to libskillhost; the
 * public entry points are skh_analytics() and its siblings in host.h.
 */
#ifndef SKH_CORE_ANALYTICS_H
#define SKH_CORE_ANALYTICS_H

#include <jansson.h>

#include "host_internal.h"
#include "store.h"

#define ROLLUP_FIDELITY_BUCKETS 11 /* [0, .1), ..., [.9, 1), exactly 1 */
#define ROLLUP_DURATION_BUCKETS 16 /* log-spaced upper bounds, ms; the last is open */
#define ROLLUP_CATEGORIES 10       /* SKH_ERR_NETWORK .. SKH_ERR_POLICY */

/* Upper bounds of the duration buckets 0..14, in milliseconds (bucket 15 has none). */
extern const double rollup_duration_bounds[ROLLUP_DURATION_BUCKETS - 1];

/* The upsert store_record_execution runs (?1 hour .. ?15 category); scripts/bench prices it. */
extern const char rollup_upsert_sql[];

int rollup_fidelity_bucket(double fidelity);
int rollup_duration_bucket(double ms);

/* Sums over any set of rollup rows: what one line of a report is made of. */
typedef struct rollup_agg {
    char *k1, *k2; /* the group's keys, malloc'd; "" when the query had no second key */
    long long executions, errors, requests, successes, retried, attempts;
    double fidelity_sum, fidelity_sq, duration_sum, duration_sq, duration_max;
    long long fb[ROLLUP_FIDELITY_BUCKETS];
    long long db[ROLLUP_DURATION_BUCKETS];
    long long eb[ROLLUP_CATEGORIES];
} rollup_agg;

/*
 * Which rows and how to group them.  Keys: "skill", "variant", "phase",
 * "tenant", "hour" ("2026-12-06T10"), "day" ("2026-12-06"), "hod" (hour of
 * day, "00".."23"), or NULL for none (all rows in one group).  Filters
 * NULL: any.  since/until compare with the hour text, so "2026-12-06" and
 * "2026-12-06T10:00:00Z" both work.
 */
typedef struct rollup_query {
    const char *k1, *k2;
    const char *since, *until; /* until is exclusive */
    const char *skill, *tenant, *phase, *variant;
} rollup_query;

/* Groups in key order; free with rollup_free. */
int rollup_read(store *st, const rollup_query *q, rollup_agg **rows, size_t *n, skh_error *err);
void rollup_free(rollup_agg *rows, size_t n);
/* Add b's sums into a (keys untouched). */
void rollup_merge(rollup_agg *a, const rollup_agg *b);

/* Derived numbers; NAN when there is nothing to divide by. */
double rollup_success_rate(const rollup_agg *a);
double rollup_error_rate(const rollup_agg *a);
double rollup_mean_fidelity(const rollup_agg *a);
double rollup_mean_duration(const rollup_agg *a);
double rollup_retries_per_request(const rollup_agg *a);
/* Percentile p in [0, 1] from the histograms, interpolated within a bucket. */
double rollup_duration_percentile(const rollup_agg *a, double p);
double rollup_fidelity_percentile(const rollup_agg *a, double p);

/* The aggregate as a JSON object (counts, rates, percentiles, errors by category). */
json_t *rollup_json(const rollup_agg *a);
/* A number or null for NAN. */
json_t *analytics_real(double x);

/*
 * --since: an age ("24h", "7d", "30m") or an ISO-8601 UTC time or prefix
 * ("2026-12-06", "2026-12-06T10:00"); out "" for none.
 */
int analytics_since(const char *text, char out[32], skh_error *err);
/* NULL for NULL or "": a filter that filters nothing. */
const char *analytics_filter(const char *s);

/* "skill" etc. is a known key; the canonical static string, or NULL. */
const char *rollup_key(const char *name);

#endif
