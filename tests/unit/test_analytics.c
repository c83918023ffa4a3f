/*
 * Analytics over a history with known data (issue 12): regressions injected
 * at known hours are found, exactly those hours; a finding is kept, not
 * recomputed; the rollups answer what the raw rows say.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "host_internal.h"

#define HOURS 48
#define PER_HOUR 10
#define BAD_ERRORS 30   /* every call of this hour fails */
#define BAD_DURATION 40 /* every call of this hour is 20 times slower */

static int setup(void **state)
{
    fixture_options o = {
        .name = "analytics", .policies = FIXTURE_POLICIES_SHIPPED, .impl = "keyword_classifier.so"};
    return fixture_setup(state, &o);
}

/* Two days of one skill's traffic, starting 2026-11-01T00, with two bad hours. */
static void record_history(fixture *f)
{
    char *v = add(f, "spam", NULL, "production");
    skh_error err;
    int k = 0;
    for (int h = 0; h < HOURS; h++) {
        for (int i = 0; i < PER_HOUR; i++, k++) {
            char id[40], req[40], ts[32], session[16];
            snprintf(id, sizeof id, "e%06d", k);
            snprintf(req, sizeof req, "r%06d", k);
            snprintf(ts, sizeof ts, "2026-11-%02dT%02d:%02d:00.000Z", 1 + h / 24, h % 24, i * 5);
            snprintf(session, sizeof session, "s%d", k / 2);
            int bad = h == BAD_ERRORS;
            /* Ordinary hours vary a little, so the baseline has a spread. */
            double fidelity = bad ? 0.0 : (i + h) % 4 == 0 ? 0.75 : 1.0;
            store_request_end end = {.attempts = 1,
                                     .before_fidelity = fidelity,
                                     .after_fidelity = fidelity,
                                     .description = "test",
                                     .success = !bad && fidelity >= 0.9};
            store_execution ex = {
                .execution_id = id,
                .request_id = req,
                .skill = "spam",
                .variant_id = v,
                .attempt = 1,
                .timestamp = ts,
                .input = "{}",
                .output = bad ? NULL : "{}",
                .category = bad ? SKH_ERR_NETWORK : SKH_ERR_NONE,
                .error_message = bad ? "down" : NULL,
                .fidelity = fidelity,
                .decision = "",
                .correct = -1,
                .confidence = 0.5,
                .duration_ms = (h == BAD_DURATION ? 200.0 : 10.0) + (i % 3),
                .session_id = session,
                .workflow_phase = k % 2 ? "review" : "triage",
                .tenant = h < 24 ? "acme" : "globex",
                .end = &end,
            };
            assert_int_equal(store_record_execution(f->host->st, &ex, &err), SKH_OK);
        }
    }
    skh_free(v);
}

static json_t *answer(int (*fn)(skh_host *, const skh_analytics_options *, char **, skh_error *),
                      fixture *f, const skh_analytics_options *o)
{
    char *text = NULL;
    skh_error err;
    int rc = fn(f->host, o, &text, &err);
    if (rc != SKH_OK)
        fail_msg("%s: %s", err.what, err.message);
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    assert_non_null(j);
    return j;
}

static void test_anomalies_at_known_hours(void **state)
{
    fixture *f = *state;
    record_history(f);
    skh_analytics_options o = {.struct_size = sizeof o};
    json_t *a = answer(skh_anomalies, f, &o);
    assert_int_equal(json_integer_value(json_object_get(a, "judged_hours")), HOURS);
    json_t *list = json_object_get(a, "anomalies");
    size_t i;
    json_t *x;
    int seen_errors = 0, seen_duration = 0;
    json_array_foreach(list, i, x)
    {
        const char *hour = json_string_value(json_object_get(x, "hour"));
        const char *metric = json_string_value(json_object_get(x, "metric"));
        assert_true(json_is_true(json_object_get(x, "new")));
        if (strcmp(hour, "2026-11-02T06") == 0) { /* hour 30 */
            seen_errors++;
            assert_true(strcmp(metric, "error_rate") == 0 || strcmp(metric, "success_rate") == 0 ||
                        strcmp(metric, "fidelity") == 0);
        } else if (strcmp(hour, "2026-11-02T16") == 0) { /* hour 40 */
            seen_duration++;
            assert_string_equal(metric, "duration_ms");
            assert_string_equal(json_string_value(json_object_get(x, "direction")), "high");
            assert_true(json_number_value(json_object_get(x, "z")) > 5);
        } else {
            fail_msg("an anomaly at %s (%s) where none was injected", hour, metric);
        }
        assert_non_null(strstr(json_string_value(json_object_get(x, "reason")), metric));
        assert_true(json_is_object(json_object_get(x, "thresholds")));
        assert_true(json_is_object(json_object_get(x, "statistic")));
    }
    assert_int_equal(seen_errors, 3);
    assert_int_equal(seen_duration, 1);
    json_decref(a);

    /* Kept, not recomputed: nothing new is judged, the same findings come back. */
    a = answer(skh_anomalies, f, &o);
    assert_int_equal(json_integer_value(json_object_get(a, "judged_hours")), 0);
    assert_int_equal(json_integer_value(json_object_get(a, "new")), 0);
    assert_int_equal(json_array_size(json_object_get(a, "anomalies")), 4);
    json_decref(a);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM anomaly_scans", NULL), HOURS);
    assert_text(f, "SELECT policy_file LIKE '%anomaly.lua' FROM anomalies LIMIT 1", NULL, "1");

    /* --since leaves the earlier finding out of the answer. */
    o.since = "2026-11-02T10";
    a = answer(skh_anomalies, f, &o);
    assert_int_equal(json_array_size(json_object_get(a, "anomalies")), 1);
    json_decref(a);
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static void test_analytics_matches_raw_rows(void **state)
{
    fixture *f = *state;
    record_history(f);
    skh_analytics_options o = {.struct_size = sizeof o, .by = "tenant"};
    json_t *a = answer(skh_analytics, f, &o);
    json_t *rows = json_object_get(a, "rows");
    assert_int_equal(json_array_size(rows), 2);
    json_t *acme = json_array_get(rows, 0), *globex = json_array_get(rows, 1);
    assert_string_equal(json_string_value(json_object_get(acme, "tenant")), "acme");
    assert_int_equal(json_integer_value(json_object_get(acme, "requests")), 24 * PER_HOUR);
    double want =
        (double)q_int(f, "SELECT SUM(request_success) FROM executions WHERE tenant = 'acme'",
                      NULL) /
        (24 * PER_HOUR);
    assert_float_equal(num(acme, "success_rate"), want, 1e-4);
    assert_float_equal(
        num(globex, "fidelity"),
        q_real(f,
               "SELECT AVG(pattern_fidelity) FROM fidelity_metrics m JOIN executions e"
               " USING (execution_id) WHERE e.tenant = 'globex'",
               NULL),
        1e-4);
    assert_int_equal(json_integer_value(json_object_get(globex, "errors")), PER_HOUR);
    /* p50 from the histogram lies in the bucket of the raw median (10..12 ms: [10, 20)). */
    assert_true(num(acme, "duration_p50_ms") >= 10 && num(acme, "duration_p50_ms") < 20);

    const json_t *t = json_object_get(a, "transitions");
    assert_int_equal(json_integer_value(json_object_get(t, "sessions")), HOURS * PER_HOUR / 2);
    const json_t *pair = json_array_get(json_object_get(t, "pairs"), 0);
    assert_string_equal(json_string_value(json_object_get(pair, "from")), "triage");
    assert_string_equal(json_string_value(json_object_get(pair, "to")), "review");
    /* Every failed triage request (hour 30's, and those under the threshold) went on to review. */
    assert_int_equal(json_integer_value(json_object_get(pair, "after_failure")),
                     q_int(f,
                           "SELECT COUNT(*) FROM executions WHERE workflow_phase = 'triage'"
                           " AND request_success = 0",
                           NULL));
    const json_t *fail =
        json_array_get(json_object_get(json_object_get(a, "bottlenecks"), "failures"), 0);
    assert_non_null(fail);
    json_decref(a);

    /* Bad input is named. */
    char *text = NULL;
    skh_error err;
    o.by = "colour";
    assert_int_equal(skh_analytics(f->host, &o, &text, &err), SKH_EINVAL);
    assert_string_equal(err.what, "--by");
    o.by = NULL;
    o.since = "yesterday";
    assert_int_equal(skh_analytics(f->host, &o, &text, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "yesterday"));
    assert_null(text);
}

static void test_heatmap_matrix(void **state)
{
    fixture *f = *state;
    record_history(f);
    skh_analytics_options o = {.struct_size = sizeof o, .rows = "skill", .metric = "error_rate"};
    json_t *a = answer(skh_heatmap, f, &o);
    json_t *row = json_array_get(json_object_get(a, "rows"), 0);
    json_t *values = json_object_get(row, "values");
    assert_int_equal(json_array_size(values), 24);
    /* Hour of day 06 holds hour 30 (all failed) and hour 6 (none): 10 of 20. */
    assert_float_equal(json_number_value(json_array_get(values, 6)), 0.5, 1e-9);
    assert_float_equal(json_number_value(json_array_get(values, 7)), 0.0, 1e-9);
    json_decref(a);
    o.columns = "day";
    o.metric = "executions";
    a = answer(skh_heatmap, f, &o);
    assert_int_equal(json_array_size(json_object_get(a, "columns")), 2);
    row = json_array_get(json_object_get(a, "rows"), 0);
    assert_int_equal(
        (long long)json_number_value(json_array_get(json_object_get(row, "values"), 1)),
        24 * PER_HOUR);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_anomalies_at_known_hours, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_analytics_matches_raw_rows, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_heatmap_matrix, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("analytics", tests, NULL, NULL);
}
