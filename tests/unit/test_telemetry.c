/*
 * The telemetry dashboard: every field of store_telemetry() on a database
 * filled through the store API (and raw SQL where no API writes the table
 * yet), the seeds' rounding, the empty database, and a failing read.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store.h"

#include "fixture.h"

static int setup(void **state)
{
    return store_fixture_setup(state, "telemetry");
}

/* Makes execution ids unique across the whole run. */
static unsigned seq;

/* ---- helpers -------------------------------------------------------------- */

static void add_variant(store_fixture *fx, const char *skill, const char *state,
                        const char *expect_id)
{
    skh_error err = {0};
    char *id = NULL;
    if (store_variant_add(fx->st, skill, "/opt/skills/x.so", "00", "", "[]", state, "", &id,
                          &err) != SKH_OK)
        fail_msg("store_variant_add %s: %s: %s", skill, err.what, err.message);
    assert_string_equal(id, expect_id);
    free(id);
}

/* One attempt of request req, recorded through the store as execute would. */
static void record(store_fixture *fx, const char *skill, const char *req, unsigned attempt,
                   const char *ts, double fidelity, int category)
{
    char eid[64], variant[80];
    skh_error err = {0};
    snprintf(eid, sizeof eid, "0190a000-0000-7000-8000-%012u", ++seq);
    snprintf(variant, sizeof variant, "%s@v1", skill);
    store_execution ex = {
        .execution_id = eid,
        .request_id = req,
        .skill = skill,
        .variant_id = variant,
        .attempt = attempt,
        .timestamp = ts,
        .input = "{}",
        .output = category ? NULL : "{}",
        .steps = "[]",
        .category = category,
        .error_message = category ? "upstream timed out" : NULL,
        .fidelity = fidelity,
        .missed = "[]",
        .decision = "",
        .correct = -1,
        .confidence = NAN,
        .duration_ms = 3.0,
    };
    if (store_record_execution(fx->st, &ex, &err) != SKH_OK)
        fail_msg("store_record_execution: %s: %s", err.what, err.message);
}

static void counter(store_fixture *fx, const char *name, long long delta)
{
    skh_error err = {0};
    if (store_counter_add(fx->st, name, delta, &err) != SKH_OK)
        fail_msg("store_counter_add %s: %s: %s", name, err.what, err.message);
}

static json_t *dashboard(store_fixture *fx)
{
    skh_error err = {0};
    json_t *j = NULL;
    if (store_telemetry(fx->st, &j, &err) != SKH_OK)
        fail_msg("store_telemetry: %s: %s", err.what, err.message);
    assert_non_null(j);
    assert_true(json_is_object(j));
    return j;
}

static void check_int(const json_t *obj, const char *key, long long want)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("%s: not an integer", key);
    if (json_integer_value(v) != want)
        fail_msg("%s: %lld, expected %lld", key, (long long)json_integer_value(v), want);
}

/* Exact: the dashboard rounds, so 0.667 must be the double nearest to 0.667. */
static void check_real(const json_t *obj, const char *key, double want)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_real(v))
        fail_msg("%s: not a real", key);
    if (json_real_value(v) != want)
        fail_msg("%s: %.17g, expected %.17g", key, json_real_value(v), want);
}

static void check_str(const json_t *obj, const char *key, const char *want)
{
    const json_t *v = json_object_get(obj, key);
    if (!want) {
        if (!json_is_null(v))
            fail_msg("%s: expected null", key);
        return;
    }
    if (!json_is_string(v))
        fail_msg("%s: not a string", key);
    assert_string_equal(json_string_value(v), want);
}

/* The keys, in order: nothing missing, nothing extra. */
static void check_keys(const json_t *obj, const char *const *keys, size_t n)
{
    const char *k;
    json_t *v;
    size_t i = 0;
    assert_int_equal(json_object_size(obj), n);
    json_object_foreach((json_t *)obj, k, v)
    {
        (void)v;
        assert_true(i < n);
        assert_string_equal(k, keys[i]);
        i++;
    }
}

static const char *const top_keys[] = {
    "retry_count",         "total_executions",
    "total_requests",      "retry_rate",
    "retry_per_execution", "variation_win_rate",
    "avg_fidelity_delta",  "variations_tested",
    "variations_promoted", "since",
    "generated_at",        "skills",
};
static const char *const row_keys[] = {
    "skill",      "requests",      "executions", "retried_requests",
    "retry_rate", "mean_fidelity", "error_rate", "last_run"};

static void check_generated_at(const json_t *j)
{
    const char *g = json_string_value(json_object_get(j, "generated_at"));
    assert_non_null(g);
    /* "2026-11-23T08:15:02.123Z" */
    assert_int_equal(strlen(g), 24);
    assert_int_equal(g[10], 'T');
    assert_int_equal(g[19], '.');
    assert_int_equal(g[23], 'Z');
}

/* ---- tests ---------------------------------------------------------------- */

static void test_empty_database(void **state)
{
    store_fixture *fx = *state;
    json_t *j = dashboard(fx);
    check_keys(j, top_keys, sizeof top_keys / sizeof *top_keys);
    check_int(j, "retry_count", 0);
    check_int(j, "total_executions", 0);
    check_int(j, "total_requests", 0);
    check_real(j, "retry_rate", 0.0);
    check_real(j, "retry_per_execution", 0.0);
    check_real(j, "variation_win_rate", 0.0);
    check_real(j, "avg_fidelity_delta", 0.0);
    check_int(j, "variations_tested", 0);
    check_int(j, "variations_promoted", 0);
    check_str(j, "since", NULL);
    check_generated_at(j);
    assert_true(json_is_array(json_object_get(j, "skills")));
    assert_int_equal(json_array_size(json_object_get(j, "skills")), 0);
    json_decref(j);
}

/* A registered skill that never ran: a row of zeros, no mean, no last run. */
static void test_skill_without_executions(void **state)
{
    store_fixture *fx = *state;
    add_variant(fx, "idle", "prototype", "idle@v1");
    json_t *j = dashboard(fx);
    json_t *rows = json_object_get(j, "skills");
    assert_int_equal(json_array_size(rows), 1);
    json_t *r = json_array_get(rows, 0);
    check_keys(r, row_keys, sizeof row_keys / sizeof *row_keys);
    check_str(r, "skill", "idle");
    check_int(r, "requests", 0);
    check_int(r, "executions", 0);
    check_int(r, "retried_requests", 0);
    check_real(r, "retry_rate", 0.0);
    check_str(r, "mean_fidelity", NULL);
    check_real(r, "error_rate", 0.0);
    check_str(r, "last_run", NULL);
    check_str(j, "since", NULL);
    json_decref(j);
}

static void test_full_dashboard(void **state)
{
    store_fixture *fx = *state;
    add_variant(fx, "spam", "production", "spam@v1");
    add_variant(fx, "alpha", "production", "alpha@v1");
    add_variant(fx, "idle", "prototype", "idle@v1");
    add_variant(fx, "spam", "prototype", "spam@v2");
    add_variant(fx, "spam", "prototype", "spam@v3");
    add_variant(fx, "spam", "prototype", "spam@v4");

    /* spam: r1 one attempt; r2 two; r3 three, the first failing. */
    record(fx, "spam", "r1", 1, "2026-11-23T08:00:01.000Z", 1.0, SKH_ERR_NONE);
    record(fx, "spam", "r2", 1, "2026-11-23T08:00:02.000Z", 0.5, SKH_ERR_NONE);
    record(fx, "spam", "r2", 2, "2026-11-23T08:00:03.000Z", 0.95, SKH_ERR_NONE);
    record(fx, "spam", "r3", 1, "2026-11-23T08:00:04.000Z", 0.25, SKH_ERR_TIMEOUT);
    record(fx, "spam", "r3", 2, "2026-11-23T08:00:05.000Z", 0.5, SKH_ERR_NONE);
    record(fx, "spam", "r3", 3, "2026-11-23T08:09:59.999Z", 0.75, SKH_ERR_NONE);
    /* alpha ran once, before everyone: it sets "since". */
    record(fx, "alpha", "a1", 1, "2026-11-22T23:59:59.500Z", 0.8, SKH_ERR_NONE);
    /* What the execute path adds: one per request, one per retried request. */
    counter(fx, "total_requests", 4);
    counter(fx, "react_retry_count", 2);

    /* An A/B history: v2 won, v3 lost, v4 is still under test (not counted). */
    sql_exec(fx->path, "UPDATE skill_variations SET test_status = 'promoted', promoted = 1"
                       " WHERE variation_id = 'spam@v2';"
                       "UPDATE skill_variations SET test_status = 'archived' WHERE variation_id = "
                       "'spam@v3';"
                       "UPDATE skill_variations SET test_status = 'testing', promoted = 1"
                       " WHERE variation_id = 'spam@v4';"
                       "INSERT INTO learning_events (skill_name, event_type, variation_id,"
                       " before_fidelity, after_fidelity, timestamp) VALUES"
                       " ('spam', 'variation_promoted', 'spam@v2', 0.5, 0.75, 'x'),"
                       " ('spam', 'variation_promoted', 'spam@v2', 0.8, 0.9, 'x'),"
                       " ('spam', 'variation_promoted', 'spam@v2', NULL, 0.9, 'x'),"
                       " ('spam', 'react_execution', 'spam@v1', 0.1, 0.9, 'x');");

    json_t *j = dashboard(fx);
    check_keys(j, top_keys, sizeof top_keys / sizeof *top_keys);
    check_int(j, "retry_count", 2);
    check_int(j, "total_executions", 7); /* counted by store_record_execution */
    check_int(j, "total_requests", 4);
    check_real(j, "retry_rate", 0.5);            /* 2 / 4 */
    check_real(j, "retry_per_execution", 0.286); /* 2 / 7 */
    check_real(j, "variation_win_rate", 0.5);    /* 1 / 2 */
    check_real(j, "avg_fidelity_delta", 0.175);  /* (0.25 + 0.1) / 2 */
    check_int(j, "variations_tested", 2);
    check_int(j, "variations_promoted", 1);
    check_str(j, "since", "2026-11-22T23:59:59.500Z");
    check_generated_at(j);

    json_t *rows = json_object_get(j, "skills");
    assert_int_equal(json_array_size(rows), 3);

    json_t *a = json_array_get(rows, 0);
    check_keys(a, row_keys, sizeof row_keys / sizeof *row_keys);
    check_str(a, "skill", "alpha");
    check_int(a, "requests", 1);
    check_int(a, "executions", 1);
    check_int(a, "retried_requests", 0);
    check_real(a, "retry_rate", 0.0);
    check_real(a, "mean_fidelity", 0.8);
    check_real(a, "error_rate", 0.0);
    check_str(a, "last_run", "2026-11-22T23:59:59.500Z");

    check_str(json_array_get(rows, 1), "skill", "idle");
    check_int(json_array_get(rows, 1), "executions", 0);

    json_t *s = json_array_get(rows, 2);
    check_keys(s, row_keys, sizeof row_keys / sizeof *row_keys);
    check_str(s, "skill", "spam");
    check_int(s, "requests", 3);
    check_int(s, "executions", 6);
    check_int(s, "retried_requests", 2);
    check_real(s, "retry_rate", 0.667);    /* 2 / 3 */
    check_real(s, "mean_fidelity", 0.658); /* 3.95 / 6 */
    check_real(s, "error_rate", 0.167);    /* 1 / 6 */
    check_str(s, "last_run", "2026-11-23T08:09:59.999Z");
    json_decref(j);
}

/*
 * The seeds round with Python's round(x, 3): exact halves go to even, so
 * 1/16 = 0.0625 is 0.062 (not 0.063) and -0.0625 is -0.062.
 */
static void test_seed_rounding(void **state)
{
    store_fixture *fx = *state;
    char id[32];
    add_variant(fx, "spam", "production", "spam@v1");
    for (int v = 2; v <= 17; v++) {
        snprintf(id, sizeof id, "spam@v%d", v);
        add_variant(fx, "spam", "prototype", id);
    }
    sql_exec(fx->path, "UPDATE skill_variations SET test_status = 'archived' WHERE version >= 2;"
                       "UPDATE skill_variations SET test_status = 'promoted', promoted = 1"
                       " WHERE version = 9;"
                       "INSERT INTO learning_events (skill_name, event_type, before_fidelity,"
                       " after_fidelity, timestamp) VALUES"
                       " ('spam', 'variation_promoted', 0.5625, 0.5, 'x'),"
                       " ('spam', 'variation_promoted', 0.8125, 0.75, 'x');");
    /* 16 requests, one retried: a per-skill retry rate of 1/16 too. */
    for (int r = 0; r < 16; r++) {
        char req[16];
        snprintf(req, sizeof req, "r%02d", r);
        record(fx, "spam", req, 1, "2026-11-23T08:00:00.000Z", 0.0625, SKH_ERR_NONE);
    }
    record(fx, "spam", "r00", 2, "2026-11-23T08:00:01.000Z", 0.0625, SKH_ERR_NONE);
    counter(fx, "total_requests", 16);
    counter(fx, "react_retry_count", 1);

    json_t *j = dashboard(fx);
    check_int(j, "variations_tested", 16);
    check_int(j, "variations_promoted", 1);
    check_real(j, "variation_win_rate", 0.062);
    check_real(j, "avg_fidelity_delta", -0.062);
    check_real(j, "retry_rate", 0.062);
    check_real(j, "retry_per_execution", 0.059); /* 1 / 17 */
    json_t *s = json_array_get(json_object_get(j, "skills"), 0);
    check_int(s, "requests", 16);
    check_int(s, "executions", 17);
    check_int(s, "retried_requests", 1);
    check_real(s, "retry_rate", 0.062);
    check_real(s, "mean_fidelity", 0.062);
    json_decref(j);
}

/* Counters that were never created read as 0, whatever else is recorded. */
static void test_absent_counters(void **state)
{
    store_fixture *fx = *state;
    add_variant(fx, "spam", "production", "spam@v1");
    record(fx, "spam", "r1", 1, "2026-11-23T08:00:00.000Z", 1.0, SKH_ERR_NONE);
    json_t *j = dashboard(fx);
    check_int(j, "total_executions", 1);
    check_int(j, "retry_count", 0);
    check_int(j, "total_requests", 0);
    check_real(j, "retry_rate", 0.0);
    check_real(j, "retry_per_execution", 0.0);
    check_int(json_array_get(json_object_get(j, "skills"), 0), "requests", 1);
    json_decref(j);
}

/* A failed read names the cause and leaves no transaction open behind it. */
static void test_failure_rolls_back(void **state)
{
    store_fixture *fx = *state;
    skh_error err = {0};
    json_t *j = (json_t *)1;
    sql_exec(fx->path, "DROP TABLE learning_events");
    assert_int_equal(store_telemetry(fx->st, &j, &err), SKH_ESTORE);
    assert_null(j);
    assert_non_null(strstr(err.message, "no such table: learning_events"));
    /* A read transaction left open would make this write fail to upgrade. */
    counter(fx, "total_requests", 1);
    long long v = 0;
    assert_int_equal(store_counter_get(fx->st, "total_requests", &v, &err), SKH_OK);
    assert_int_equal(v, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_database, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_skill_without_executions, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_full_dashboard, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_seed_rounding, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_absent_counters, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failure_rolls_back, setup, store_fixture_teardown),
    };
    return cmocka_run_group_tests_name("telemetry", tests, NULL, NULL);
}
