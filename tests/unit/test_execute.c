/* The embedding API end to end: open a host, register, execute, read the result. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <skillhost/host.h>

#include "fixture.h"

static int setup(void **state)
{
    fixture_options o = {.name = "exec"};
    return fixture_setup(state, &o);
}

static char *add_impl(fixture *f, const char *skill, const char *impl, const char *state)
{
    skh_variant_spec spec = {
        .struct_size = sizeof spec, .skill = skill, .impl = impl, .state = state};
    char *id = NULL;
    skh_error err;
    int rc = skh_variant_add(f->host, &spec, &id, &err);
    if (rc)
        fail_msg("variant add %s: %s: %s", impl, err.what, err.message);
    return id;
}

static json_t *output_of(const skh_result *r)
{
    json_t *o = json_loads(skh_result_output(r), 0, NULL);
    assert_non_null(o);
    return o;
}

static void test_execute_records_three_rows(void **state)
{
    fixture *f = *state;
    char *id = add_impl(f, "spam", "keyword_classifier.so", "production");
    assert_string_equal(id, "spam@v1");
    skh_free(id);
    skh_result *r = NULL;
    skh_error err;
    assert_int_equal(skh_execute(f->host, "spam", "{\"text\":\"free money\",\"label\":\"spam\"}",
                                 NULL, &r, &err),
                     SKH_OK);
    assert_non_null(r);
    assert_string_equal(skh_result_variant(r), "spam@v1");
    assert_int_equal(skh_result_attempts(r), 1);
    assert_true(skh_result_recorded(r));
    assert_true(fabs(skh_result_fidelity(r, 0) - 1.0) < 1e-12);
    json_t *o = output_of(r);
    assert_string_equal(json_string_value(json_object_get(o, "decision")), "spam");
    json_decref(o);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM fidelity_metrics", NULL), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM outcome_metrics WHERE correct = 1", NULL), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM performance_metrics WHERE exception = 0", NULL),
                     1);

    char *json = NULL;
    assert_int_equal(skh_result_json(r, &json), SKH_OK);
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(json_object_get(j, "execution_ids"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "execution_ids"), 0)),
                        skh_result_execution_id(r, 0));
    assert_true(json_is_true(json_object_get(j, "recorded")));
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    json_decref(j);
    skh_free(json);
    skh_result_free(r);
}

static void test_react_retries_until_fidelity(void **state)
{
    fixture *f = *state;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    skh_result *r = NULL;
    skh_error err;
    assert_int_equal(
        skh_execute(f->host, "flaky", "{\"fidelity_by_attempt\":[0.5,0.95]}", NULL, &r, &err),
        SKH_OK);
    assert_int_equal(skh_result_attempts(r), 2);
    assert_true(fabs(skh_result_fidelity(r, 0) - 0.5) < 1e-12);
    assert_true(fabs(skh_result_fidelity(r, 1) - 0.95) < 1e-12);
    /* The skill saw what went wrong the first time. */
    json_t *o = output_of(r);
    json_t *echo = json_object_get(o, "echo");
    assert_true(json_is_true(json_object_get(echo, "_react_retry")));
    json_t *prev = json_object_get(echo, "_previous_attempt");
    assert_int_equal(json_integer_value(json_object_get(prev, "attempt")), 1);
    assert_true(fabs(json_number_value(json_object_get(prev, "fidelity")) - 0.5) < 1e-12);
    assert_string_equal(json_string_value(json_object_get(prev, "failed_at_step")), "s11");
    assert_int_equal(json_array_size(json_object_get(prev, "patterns_missed")), 10);
    assert_non_null(json_string_value(json_object_get(prev, "feedback")));
    json_decref(o);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM fidelity_metrics", NULL), 2);
    assert_int_equal(q_int(f, "SELECT COUNT(DISTINCT request_id) FROM executions", NULL), 1);
    skh_result_free(r);
}

static void test_react_stops_at_max_and_options_apply(void **state)
{
    fixture *f = *state;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    skh_result *r = NULL;
    skh_error err;
    assert_int_equal(
        skh_execute(f->host, "flaky", "{\"fidelity_by_attempt\":[0.1]}", NULL, &r, &err), SKH_OK);
    assert_int_equal(skh_result_attempts(r), 3);
    skh_result_free(r);

    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.max_iterations = 2;
    assert_int_equal(
        skh_execute(f->host, "flaky", "{\"fidelity_by_attempt\":[0.1]}", &eo, &r, &err), SKH_OK);
    assert_int_equal(skh_result_attempts(r), 2);
    skh_result_free(r);

    eo.react = 0;
    assert_int_equal(
        skh_execute(f->host, "flaky", "{\"fidelity_by_attempt\":[0.1]}", &eo, &r, &err), SKH_OK);
    assert_int_equal(skh_result_attempts(r), 1);
    skh_result_free(r);

    /* A lower threshold makes the first attempt good enough. */
    skh_exec_options low = SKH_EXEC_OPTIONS_INIT;
    low.threshold = 0.05;
    assert_int_equal(
        skh_execute(f->host, "flaky", "{\"fidelity_by_attempt\":[0.1]}", &low, &r, &err), SKH_OK);
    assert_int_equal(skh_result_attempts(r), 1);
    skh_result_free(r);
}

static void test_failure_is_recorded_and_categorised(void **state)
{
    fixture *f = *state;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    skh_result *r = NULL;
    skh_error err;
    assert_int_equal(
        skh_execute(f->host, "flaky", "{\"error_by_attempt\":[\"crash\"]}", NULL, &r, &err),
        SKH_EFAILED);
    assert_non_null(r);
    assert_int_equal(err.category, SKH_ERR_CRASH);
    assert_int_equal(skh_result_error_category(r), SKH_ERR_CRASH);
    assert_null(skh_result_output(r));
    assert_true(skh_result_recorded(r));
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM performance_metrics WHERE exception = 1 AND "
                           "error_category = 'crash'",
                           NULL),
                     1);
    skh_result_free(r);
}

static void test_bad_input_records_nothing(void **state)
{
    fixture *f = *state;
    skh_free(add_impl(f, "spam", "keyword_classifier.so", "production"));
    skh_result *r = NULL;
    skh_error err;
    assert_int_equal(skh_execute(f->host, "spam", "{\"text\": }", NULL, &r, &err), SKH_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err.message, "line 1, column"));
    assert_int_equal(skh_execute(f->host, "spam", "[]", NULL, &r, &err), SKH_EINVAL);
    assert_int_equal(skh_execute(f->host, "nope", "{}", NULL, &r, &err), SKH_ENOTFOUND);
    assert_int_equal(skh_execute(f->host, "Bad!", "{}", NULL, &r, &err), SKH_EINVAL);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM executions", NULL), 0);
}

static void test_changed_plugin_refused(void **state)
{
    fixture *f = *state;
    char src[PATH_MAX], copy[PATH_MAX + 16], cmd[3 * PATH_MAX + 64];
    const char *pp = getenv("SKILLHOST_PLUGIN_PATH");
    snprintf(src, sizeof src, "%.*s/keyword_classifier.so", (int)strcspn(pp, ":"), pp);
    snprintf(copy, sizeof copy, "%s/kc.so", f->dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 644 '%s'", src, copy, copy);
    assert_int_equal(system(cmd), 0);
    skh_free(add_impl(f, "copy", copy, "production"));
    FILE *fp = fopen(copy, "a");
    assert_non_null(fp);
    fputc('x', fp);
    fclose(fp);
    skh_result *r = NULL;
    skh_error err;
    assert_int_equal(skh_execute(f->host, "copy", "{\"text\":\"hi\"}", NULL, &r, &err),
                     SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "changed since it was registered"));
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM executions", NULL), 0);
}

static void test_two_hosts_one_database(void **state)
{
    fixture *f = *state;
    skh_free(add_impl(f, "spam", "keyword_classifier.so", "production"));
    skh_host_options o = {.struct_size = sizeof o, .db_path = f->db};
    skh_host *second = NULL;
    skh_error err;
    assert_int_equal(skh_host_open(&o, &second, &err), SKH_OK);
    for (int i = 0; i < 20; i++) {
        skh_result *r = NULL;
        assert_int_equal(
            skh_execute(i % 2 ? second : f->host, "spam", "{\"text\":\"x\"}", NULL, &r, &err),
            SKH_OK);
        skh_result_free(r);
    }
    skh_host_close(second);
    assert_int_equal(q_int(f,
                           "SELECT counter_value FROM telemetry_counters WHERE counter_name "
                           "= 'total_executions'",
                           NULL),
                     20);
}

static void test_missing_database_without_create(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/none/x.db", f->dir);
    skh_host_options o = {.struct_size = sizeof o, .db_path = path};
    skh_host *h = NULL;
    skh_error err;
    assert_int_equal(skh_host_open(&o, &h, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "skillhost init"));
    assert_null(h);
    assert_int_equal(access(path, F_OK), -1);
}

/* ---- recovery ------------------------------------------------------------------ */

typedef struct fake_clock {
    double now;
    double waits[16];
    int nwaits;
    double random;
} fake_clock;

static double fake_now(void *ud)
{
    return ((fake_clock *)ud)->now;
}

static void fake_sleep(void *ud, double ms)
{
    fake_clock *c = ud;
    if (c->nwaits < 16)
        c->waits[c->nwaits++] = ms;
    c->now += ms;
}

static double fake_random(void *ud)
{
    return ((fake_clock *)ud)->random;
}

static void use_fake_clock(fixture *f, fake_clock *c)
{
    memset(c, 0, sizeof *c);
    c->now = 1000;
    c->random = 1.0; /* the top of the jitter range: the policy's delays exactly */
    skh_clock clock = {.struct_size = sizeof clock,
                       .now_ms = fake_now,
                       .sleep_ms = fake_sleep,
                       .random = fake_random,
                       .ud = c};
    skh_host_set_clock(f->host, &clock);
}

static int run_flaky(fixture *f, const char *input, const skh_exec_options *eo, skh_result **r)
{
    skh_error err;
    return skh_execute(f->host, "flaky", input, eo, r, &err);
}

static void test_network_error_backs_off(void **state)
{
    fixture *f = *state;
    fake_clock c;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    use_fake_clock(f, &c);
    skh_result *r = NULL;
    assert_int_equal(
        run_flaky(f, "{\"error_by_attempt\":[\"network\",\"network\",\"network\",null]}", NULL, &r),
        SKH_OK);
    assert_int_equal(skh_result_attempts(r), 4);
    assert_int_equal(c.nwaits, 3);
    assert_true(fabs(c.waits[0] - 500) < 1e-9);
    assert_true(fabs(c.waits[1] - 1000) < 1e-9);
    assert_true(fabs(c.waits[2] - 2000) < 1e-9);
    skh_result_free(r);

    /* Full jitter: the wait is random * delay. */
    use_fake_clock(f, &c);
    c.random = 0.25;
    assert_int_equal(
        run_flaky(f, "{\"error_by_attempt\":[\"network\",\"network\",null]}", NULL, &r), SKH_OK);
    assert_int_equal(c.nwaits, 2);
    assert_true(fabs(c.waits[0] - 125) < 1e-9);
    assert_true(fabs(c.waits[1] - 250) < 1e-9);
    skh_result_free(r);
}

/* A recovery retry tells the skill about the error it retries. */
static void test_recovery_retry_carries_the_error(void **state)
{
    fixture *f = *state;
    fake_clock c;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    use_fake_clock(f, &c);
    skh_result *r = NULL;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\",null]}", NULL, &r), SKH_OK);
    assert_int_equal(skh_result_attempts(r), 2);
    json_t *o = output_of(r);
    json_t *echo = json_object_get(o, "echo");
    assert_true(json_is_true(json_object_get(echo, "_react_retry")));
    json_t *prev = json_object_get(echo, "_previous_attempt");
    assert_int_equal(json_integer_value(json_object_get(prev, "attempt")), 1);
    json_t *e = json_object_get(prev, "error");
    assert_string_equal(json_string_value(json_object_get(e, "category")), "network");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "injected network"));
    assert_non_null(
        strstr(json_string_value(json_object_get(prev, "feedback")), "failed with network"));
    /* The retry's input is the original plus the account, not the account of an account. */
    assert_null(json_object_get(json_object_get(echo, "_previous_attempt"), "_previous_attempt"));
    assert_non_null(json_object_get(echo, "error_by_attempt"));
    json_decref(o);
    skh_result_free(r);
}

static void test_network_gives_up_after_max(void **state)
{
    fixture *f = *state;
    fake_clock c;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    use_fake_clock(f, &c);
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.timeout_ms = -1; /* no deadline: the retry limit alone stops it */
    skh_result *r = NULL;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\"]}", &eo, &r), SKH_EFAILED);
    assert_int_equal(skh_result_attempts(r), 6); /* 1 + 5 retries */
    assert_int_equal(c.nwaits, 5);
    assert_true(fabs(c.waits[4] - 2000) < 1e-9); /* capped */
    assert_int_equal(skh_result_error_category(r), SKH_ERR_NETWORK);
    skh_result_free(r);
}

static void test_validation_is_skipped(void **state)
{
    fixture *f = *state;
    fake_clock c;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    use_fake_clock(f, &c);
    skh_result *r = NULL;
    /* Skip: the input is at fault, so neither recovery nor ReAct calls again. */
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"validation\",null]}", NULL, &r),
                     SKH_EFAILED);
    assert_int_equal(skh_result_attempts(r), 1);
    assert_int_equal(c.nwaits, 0);
    assert_int_equal(skh_result_error_category(r), SKH_ERR_VALIDATION);
    char *json = NULL;
    assert_int_equal(skh_result_json(r, &json), SKH_OK);
    assert_non_null(strstr(json, "\"skipped\":true"));
    assert_non_null(strstr(json, "\"action\":\"skip\""));
    skh_free(json);
    skh_result_free(r);
}

static void test_authentication_fails_at_once(void **state)
{
    fixture *f = *state;
    fake_clock c;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    use_fake_clock(f, &c);
    skh_result *r = NULL;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"authentication\",null]}", NULL, &r),
                     SKH_EFAILED);
    assert_int_equal(skh_result_attempts(r), 1);
    assert_int_equal(c.nwaits, 0);
    assert_int_equal(skh_result_error_category(r), SKH_ERR_AUTHENTICATION);
    skh_result_free(r);
}

static void test_deadline_bounds_backoff(void **state)
{
    fixture *f = *state;
    fake_clock c;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    use_fake_clock(f, &c);
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.timeout_ms = 1200;
    skh_result *r = NULL;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\"]}", &eo, &r), SKH_EFAILED);
    /* 500 ms fits, the next 1000 ms would end past 1200 ms: two calls, one wait. */
    assert_int_equal(skh_result_attempts(r), 2);
    assert_int_equal(c.nwaits, 1);
    assert_true(c.now - 1000 <= 1200);
    char *json = NULL;
    assert_int_equal(skh_result_json(r, &json), SKH_OK);
    assert_non_null(strstr(json, "overrun the request deadline"));
    skh_free(json);
    skh_result_free(r);
}

static const char *policy_text(const char *network_action)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "return { kind = 'policy', name = 'recovery', version = '1',\n"
             "  decide = function(f)\n"
             "    if f.category == 'network' then return { action = '%s', delay_ms = 10 } end\n"
             "    return { action = 'fail' }\n"
             "  end }\n",
             network_action);
    return buf;
}

static void test_edited_policy_applies_without_restart(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX + 16], file[PATH_MAX + 48];
    snprintf(dir, sizeof dir, "%s/policies", f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(file, sizeof file, "%s/recovery.lua", dir);
    write_file(file, policy_text("retry"), 0644);

    skh_host_options o = {.struct_size = sizeof o, .db_path = f->db, .policies_dir = dir};
    skh_host *h = NULL;
    skh_error err;
    assert_int_equal(skh_host_open(&o, &h, &err), SKH_OK);
    skh_host_close(f->host);
    f->host = h;
    fake_clock c;
    use_fake_clock(f, &c);
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));

    skh_result *r = NULL;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\",null]}", NULL, &r), SKH_OK);
    assert_int_equal(skh_result_attempts(r), 2);
    skh_result_free(r);

    write_file(file, policy_text("fail"), 0644);
    struct timespec later[2] = {{.tv_sec = time(NULL) + 5}, {.tv_sec = time(NULL) + 5}};
    assert_int_equal(utimensat(AT_FDCWD, file, later, 0), 0);
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\",null]}", NULL, &r),
                     SKH_EFAILED);
    assert_int_equal(skh_result_attempts(r), 1);
    skh_result_free(r);

    /* A policy that raises decides nothing: the request fails safe and the error is kept. */
    write_file(file,
               "return { kind = 'policy', name = 'recovery', version = '1',\n"
               "  decide = function(f) error('boom') end }\n",
               0644);
    later[0].tv_sec = later[1].tv_sec = time(NULL) + 10;
    assert_int_equal(utimensat(AT_FDCWD, file, later, 0), 0);
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\",null]}", NULL, &r),
                     SKH_EFAILED);
    assert_int_equal(skh_result_attempts(r), 1);
    skh_result_free(r);
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM decisions WHERE kind = 'recovery' AND "
                           "verdict = 'error' AND observed LIKE '%boom%'",
                           NULL),
                     1);
}

/* The recovery facts of a request: remaining_ms, or nil when it has no deadline. */
static const char remaining_policy[] =
    "return { kind = 'policy', name = 'recovery', version = '1',\n"
    "  decide = function(f)\n"
    "    if f.remaining_ms and f.remaining_ms < 5 then return { action = 'fail' } end\n"
    "    return { action = 'skip', reason = 'remaining ' .. type(f.remaining_ms) }\n"
    "  end }\n";

/* The reason of the (one) attempt's recovery decision, malloc'd. */
static char *recovery_reason(const skh_result *r)
{
    char *json = NULL;
    assert_int_equal(skh_result_json(r, &json), SKH_OK);
    json_t *o = json_loads(json, 0, NULL);
    skh_free(json);
    assert_non_null(o);
    assert_true(json_is_true(json_object_get(o, "skipped")));
    json_t *rec = json_object_get(json_array_get(json_object_get(o, "per_attempt"), 0), "recovery");
    const char *reason = json_string_value(json_object_get(rec, "reason"));
    char *copy = strdup(reason ? reason : "(no reason)");
    json_decref(o);
    return copy;
}

static void test_recovery_remaining_ms_nil_without_deadline(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX + 16], file[PATH_MAX + 48];
    snprintf(dir, sizeof dir, "%s/policies", f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(file, sizeof file, "%s/recovery.lua", dir);
    write_file(file, remaining_policy, 0644);
    skh_host_close(f->host);
    f->host = NULL;
    assert_int_equal(open_host(f, dir), SKH_OK);
    fake_clock c;
    use_fake_clock(f, &c);
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    skh_error err;
    /* request.timeout_ms 0, as `--timeout 0`: no deadline. */
    assert_int_equal(skh_config_set(f->host, "request.timeout_ms", "0", &err), SKH_OK);

    skh_result *r = NULL;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\"]}", NULL, &r), SKH_EFAILED);
    char *reason = recovery_reason(r);
    assert_string_equal(reason, "remaining nil");
    free(reason);
    skh_result_free(r);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE verdict = 'error'", NULL), 0);

    /* With a deadline the key is there, a number. */
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.timeout_ms = 5000;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\"]}", &eo, &r), SKH_EFAILED);
    reason = recovery_reason(r);
    assert_string_equal(reason, "remaining number");
    free(reason);
    skh_result_free(r);
}

/* The built-in recovery policy (no recovery.lua) without a deadline: no remaining_ms to read. */
static void test_builtin_recovery_without_deadline(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/no-policies", f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    skh_host_close(f->host);
    f->host = NULL;
    assert_int_equal(open_host(f, dir), SKH_OK);
    fake_clock c;
    use_fake_clock(f, &c);
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.timeout_ms = -1;
    skh_result *r = NULL;
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"network\",null]}", &eo, &r), SKH_OK);
    assert_int_equal(skh_result_attempts(r), 2);
    assert_int_equal(c.nwaits, 1);
    skh_result_free(r);
    assert_int_equal(run_flaky(f, "{\"error_by_attempt\":[\"validation\"]}", &eo, &r), SKH_EFAILED);
    char *reason = recovery_reason(r);
    assert_string_equal(reason, "validation: skip");
    free(reason);
    skh_result_free(r);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE verdict = 'error'", NULL), 0);
}

static void test_request_bookkeeping(void **state)
{
    fixture *f = *state;
    fake_clock c;
    skh_free(add_impl(f, "flaky", "flaky.so", "production"));
    use_fake_clock(f, &c);
    static const char *const inputs[] = {
        "{}",                                        /* 1 attempt */
        "{\"fidelity_by_attempt\":[0.5,0.95]}",      /* 2 */
        "{\"fidelity_by_attempt\":[0.1]}",           /* 3, below the bar */
        "{\"error_by_attempt\":[\"network\",null]}", /* 2 */
    };
    for (size_t i = 0; i < 4; i++) {
        skh_result *r = NULL;
        run_flaky(f, inputs[i], NULL, &r);
        skh_result_free(r);
    }
    assert_int_equal(q_int(f,
                           "SELECT counter_value FROM telemetry_counters WHERE counter_name "
                           "= 'total_executions'",
                           NULL),
                     8);
    assert_int_equal(q_int(f,
                           "SELECT counter_value FROM telemetry_counters WHERE counter_name "
                           "= 'total_requests'",
                           NULL),
                     4);
    assert_int_equal(q_int(f,
                           "SELECT counter_value FROM telemetry_counters WHERE counter_name "
                           "= 'react_retry_count'",
                           NULL),
                     3);
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE event_type = "
                           "'react_execution'",
                           NULL),
                     4);
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE event_type = "
                           "'react_execution' AND before_fidelity = 0.5 AND after_fidelity = "
                           "0.95",
                           NULL),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_execute_records_three_rows, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_react_retries_until_fidelity, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_react_stops_at_max_and_options_apply, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failure_is_recorded_and_categorised, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_records_nothing, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_changed_plugin_refused, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_two_hosts_one_database, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_missing_database_without_create, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_network_error_backs_off, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recovery_retry_carries_the_error, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_network_gives_up_after_max, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_validation_is_skipped, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_authentication_fails_at_once, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deadline_bounds_backoff, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_edited_policy_applies_without_restart, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recovery_remaining_ms_nil_without_deadline, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_builtin_recovery_without_deadline, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_request_bookkeeping, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("execute", tests, NULL, NULL);
}
