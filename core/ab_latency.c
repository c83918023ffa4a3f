/*
 * The latency guard of an A/B test (issue 15, item 2): is the treatment
 * slower than the control running beside it?
 *
 * A more accurate treatment that is much slower must not win silently, and
 * "slower" must be judged against the control serving at the same time, not
 * against last week's baseline.  Request durations (a request's attempts
 * summed) of both arms since the test began are compared with a
 * Mann-Whitney rank test: no assumption about the shape of latency, robust
 * to the long tail.
 *
 * Checking a fixed-sample test after every trial would inflate its error
 * (docs/statistics.md), so it looks only at planned sample sizes: when the
 * smaller arm reaches 50, 100, 200, 400, ... requests.  Look k spends
 * alpha / 2^k of the total alpha, so the chance of a false "slower" over any
 * number of looks stays under alpha (a union bound: conservative, simple,
 * and valid however long the test runs).  Each look is kept as a decision
 * of kind 'latency', so every process of the workspace sees the same look
 * and the scan runs once per look, not per trial.  Between looks the latest
 * one stands.  What to do about a slower treatment is ab.lua's call.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"
#include "error.h"
#include "stats.h"

/* Compile-time look schedule: sizes of the smaller arm, and the alpha they share. */
#define AB_LATENCY_FIRST_LOOK 50
#define AB_LATENCY_ALPHA 0.05

/* The last look the smaller arm has reached: 0 before the first, k at FIRST * 2^(k-1). */
static int look_reached(long long n)
{
    int k = 0;
    for (long long size = AB_LATENCY_FIRST_LOOK; n >= size && k < 60; size *= 2)
        k++;
    return k;
}

static double look_alpha(int k)
{
    return ldexp(AB_LATENCY_ALPHA, -k);
}

/* n, median, p95 and mean of an arm's durations; null figures for an arm with none. */
static json_t *arm_summary(double *ms, size_t n)
{
    if (n == 0)
        return json_pack("{s:i, s:n, s:n, s:n}", "n", 0, "median_ms", "p95_ms", "mean_ms");
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += ms[i];
    /* stats_quantile sorts in place: the rank test has already run. */
    return json_pack("{s:I, s:f, s:f, s:f}", "n", (json_int_t)n, "median_ms",
                     stats_quantile(ms, n, 0.5), "p95_ms", stats_quantile(ms, n, 0.95), "mean_ms",
                     sum / (double)n);
}

/* Run look k on the test's durations; *out is the look as JSON. */
static int run_look(skh_host *host, const store_ab_test *t, int k, json_t **out, skh_error *err)
{
    store_durations d;
    int rc = store_ab_durations(host->st, t, &d, err);
    if (rc)
        return rc;
    stats_rank r;
    rc = stats_mann_whitney(d.control, d.n_control, d.treatment, d.n_treatment, &r);
    if (rc) {
        store_durations_free(&d);
        return error_set(err, rc, t->test_id, "the rank test of request durations failed");
    }
    double alpha = look_alpha(k);
    json_t *c = arm_summary(d.control, d.n_control);
    json_t *tr = arm_summary(d.treatment, d.n_treatment);
    store_durations_free(&d);
    *out = json_pack("{s:s, s:i, s:i, s:f, s:f, s:o?, s:o?, s:{s:f, s:f, s:f, s:f}}", "test_id",
                     t->test_id, "look", k, "look_size", AB_LATENCY_FIRST_LOOK << (k - 1), "alpha",
                     alpha, "total_alpha", AB_LATENCY_ALPHA, "control", c, "treatment", tr,
                     "mann_whitney", "u", r.u, "z", r.z, "p_slower", r.p_larger, "p_faster",
                     r.p_smaller);
    if (!*out || !c || !tr)
        return error_set(err, SKH_ENOMEM, t->test_id, "out of memory");
    return SKH_OK;
}

static int record_look(skh_host *host, const store_ab_test *t, json_t *look, skh_error *err)
{
    json_t *mw = json_object_get(look, "mann_whitney");
    double alpha = json_number_value(json_object_get(look, "alpha"));
    const char *verdict = json_number_value(json_object_get(mw, "p_slower")) <= alpha ? "slower"
                          : json_number_value(json_object_get(mw, "p_faster")) <= alpha
                              ? "faster"
                              : "inconclusive";
    char *observed = json_dumps(look, SKH_JSON_FLAGS);
    char thresholds[160];
    snprintf(
        thresholds, sizeof thresholds,
        "{\"alpha\": %g, \"total_alpha\": %g, \"first_look\": %d, \"spending\": \"alpha/2^k\"}",
        alpha, AB_LATENCY_ALPHA, AB_LATENCY_FIRST_LOOK);
    if (!observed)
        return error_set(err, SKH_ENOMEM, t->test_id, "out of memory");
    store_decision d = {.skill = t->skill,
                        .variant_id = t->treatment,
                        .kind = "latency",
                        .verdict = verdict,
                        .observed = observed,
                        .thresholds = thresholds};
    int rc = store_decision_add(host->st, &d, err);
    free(observed);
    return rc;
}

int ab_latency(skh_host *host, const store_ab_test *t, int update, json_t **out, skh_error *err)
{
    *out = NULL;
    if (strcmp(t->mode, "ab") != 0)
        return SKH_OK;
    long long smaller =
        t->control_trials < t->treatment_trials ? t->control_trials : t->treatment_trials;
    int due = look_reached(smaller);
    if (due == 0)
        return SKH_OK; /* no look yet: not even a read */
    char *text = NULL;
    int rc = store_ab_latency_latest(host->st, t, &text, err);
    if (rc)
        return rc;
    json_t *latest = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    int have = latest ? (int)json_integer_value(json_object_get(latest, "look")) : 0;
    if (!update || have >= due) {
        *out = latest;
        return SKH_OK;
    }
    json_decref(latest);
    json_t *look = NULL;
    if ((rc = run_look(host, t, due, &look, err)) == SKH_OK &&
        (rc = record_look(host, t, look, err)) == SKH_OK) {
        *out = look;
        return SKH_OK;
    }
    json_decref(look);
    return rc;
}
