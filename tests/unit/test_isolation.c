/*
 * Process isolation through the embedding API (DESIGN §3.4): a .so that
 * segfaults, aborts, calls exit(0), writes to stdout or never returns is one
 * recorded attempt with category crash or timeout, the host lives on, and
 * the next call gets a fresh worker; inline stays available.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <skillhost/host.h>

#include "fixture.h"
#include "loader.h"

static char hostile[PATH_MAX];

static int setup(void **state)
{
    const char *dir = getenv("SKILLHOST_TEST_PLUGINS");
    if (!dir || snprintf(hostile, sizeof hostile, "%s/hostile.so", dir) >= (int)sizeof hostile)
        return -1;
    fixture_options o = {.name = "isolation"};
    return fixture_setup(state, &o);
}

static char *add_mode(fixture *f, const char *skill, const char *mode, const char *isolation)
{
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = skill,
                             .impl = hostile,
                             .content = mode,
                             .state = "production",
                             .isolation = isolation};
    char *id = NULL;
    skh_error err;
    if (skh_variant_add(f->host, &spec, &id, &err))
        fail_msg("variant add %s: %s: %s", mode, err.what, err.message);
    return id;
}

/* Run skill once (1 s deadline, no ReAct); the result's category, and its message in msg. */
static int run_once(fixture *f, const char *skill, char *msg, size_t n, long *pid)
{
    skh_exec_options o = SKH_EXEC_OPTIONS_INIT;
    o.timeout_ms = 1000;
    o.react = 0;
    skh_result *r = NULL;
    skh_error err;
    int rc = skh_execute(f->host, skill, "{}", &o, &r, &err);
    if (rc != SKH_OK && rc != SKH_EFAILED)
        fail_msg("execute %s: %s: %s", skill, err.what, err.message);
    assert_non_null(r);
    assert_true(skh_result_recorded(r));
    int category = skh_result_error_category(r);
    if (msg)
        snprintf(msg, n, "%s", skh_result_error_message(r) ? skh_result_error_message(r) : "");
    if (pid) {
        json_t *o = json_loads(skh_result_output(r) ? skh_result_output(r) : "{}", 0, NULL);
        *pid = (long)json_integer_value(json_object_get(o, "pid"));
        json_decref(o);
    }
    assert_int_equal(rc, category ? SKH_EFAILED : SKH_OK);
    /* recovery.lua was asked about every failed attempt. */
    char *json = NULL;
    assert_int_equal(skh_result_json(r, &json), SKH_OK);
    json_t *j = json_loads(json, 0, NULL);
    json_t *first = json_array_get(json_object_get(j, "per_attempt"), 0);
    assert_int_equal(json_is_object(json_object_get(first, "recovery")), category != 0);
    json_decref(j);
    skh_free(json);
    skh_result_free(r);
    return category;
}

static void test_misbehaviour_is_one_categorised_attempt(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *mode, *category, *says;
    } cases[] = {
        {"segv", "crash", "signal 11 (SIGSEGV)"},
        {"abort", "crash", "signal 6 (SIGABRT)"},
        {"exit0", "crash", "exited with status"},
        {"stdout", "crash", "wrote 29 bytes to stdout"},
        {"loop", "timeout", "did not answer within"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char skill[32], msg[1024];
        snprintf(skill, sizeof skill, "h_%s", cases[i].mode);
        skh_free(add_mode(f, skill, cases[i].mode, NULL));
        int category = run_once(f, skill, msg, sizeof msg, NULL);
        if (strcmp(skh_category_name(category), cases[i].category) != 0 ||
            !strstr(msg, cases[i].says))
            fail_msg("%s: got %s \"%s\", expected %s \"...%s...\"", cases[i].mode,
                     skh_category_name(category), msg, cases[i].category, cases[i].says);
        /* One attempt, recorded in every metric table with its category and message. */
        char want[64];
        snprintf(want, sizeof want, "%s@v1", skill);
        assert_text(f, "SELECT error_category FROM executions WHERE variant_id = ?1", want,
                    cases[i].category);
        assert_text(f, "SELECT error_category FROM performance_metrics WHERE variant_id = ?1", want,
                    cases[i].category);
        assert_int_equal(
            q_int(f, "SELECT COUNT(*) FROM fidelity_metrics WHERE variant_id = ?1", want), 1);
        char *stored =
            q_text(f, "SELECT error_message FROM executions WHERE variant_id = ?1", want);
        assert_non_null(strstr(stored, cases[i].says));
        free(stored);
        /* The circuit breaker saw it: recovery.lua counts a crash toward it, not a timeout. */
        assert_int_equal(
            q_int(f,
                  "SELECT COALESCE(MAX(failures), 0) FROM circuit_breakers WHERE variant_id = ?1",
                  want),
            strcmp(cases[i].category, "crash") == 0 ? 1 : 0);
    }
    /* The steps reported before a crash are kept (the breadcrumb came over before the fault). */
    skh_free(add_mode(f, "h_steps", "steps_then_segv", NULL));
    assert_int_equal(run_once(f, "h_steps", NULL, 0, NULL), SKH_ERR_CRASH);
    assert_text(f, "SELECT steps FROM executions WHERE variant_id = 'h_steps@v1'", NULL,
                "[\"start\",\"classify\"]");
}

static void test_worker_is_warm_and_respawned(void **state)
{
    fixture *f = *state;
    skh_free(add_mode(f, "h_pid", "pid", NULL));
    skh_free(add_mode(f, "h_segv", "segv", NULL));
    long first = 0, second = 0, third = 0;
    assert_int_equal(run_once(f, "h_pid", NULL, 0, &first), SKH_ERR_NONE);
    assert_int_equal(run_once(f, "h_pid", NULL, 0, &second), SKH_ERR_NONE);
    /* Not the host, and the same worker for both calls. */
    assert_true(first > 0 && first != (long)getpid());
    assert_int_equal(first, second);
    /* The same plugin file, so the same worker: the crash takes it down ... */
    assert_int_equal(run_once(f, "h_segv", NULL, 0, NULL), SKH_ERR_CRASH);
    /* ... and the next call gets a new one. */
    assert_int_equal(run_once(f, "h_pid", NULL, 0, &third), SKH_ERR_NONE);
    assert_true(third > 0 && third != first && third != (long)getpid());
}

static void test_inline_runs_in_the_host(void **state)
{
    fixture *f = *state;
    skh_free(add_mode(f, "h_inline", "pid", "inline"));
    long pid = 0;
    assert_int_equal(run_once(f, "h_inline", NULL, 0, &pid), SKH_ERR_NONE);
    assert_int_equal(pid, (long)getpid());
    char *shown = NULL;
    skh_error err;
    assert_int_equal(skh_skill_show(f->host, "h_inline", &shown, &err), SKH_OK);
    json_t *j = json_loads(shown, 0, NULL);
    json_t *v = json_array_get(json_object_get(j, "variants"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "isolation")), "inline");
    json_decref(j);
    skh_free(shown);

    /* The workspace default: plugins.isolation = inline for variants that did not choose. */
    skh_free(add_mode(f, "h_default", "pid", NULL));
    assert_int_equal(skh_config_set(f->host, "plugins.isolation", "inline", &err), SKH_OK);
    skh_host_close(f->host);
    f->host = NULL;
    assert_int_equal(open_host(f, NULL), 0);
    assert_int_equal(run_once(f, "h_default", NULL, 0, &pid), SKH_ERR_NONE);
    assert_int_equal(pid, (long)getpid());
    /* A variant's own "process" wins over the workspace's inline. */
    skh_free(add_mode(f, "h_process", "pid", "process"));
    assert_int_equal(run_once(f, "h_process", NULL, 0, &pid), SKH_ERR_NONE);
    assert_true(pid != (long)getpid());
    assert_int_equal(skh_config_set(f->host, "plugins.isolation", NULL, &err), SKH_OK);
}

static void test_isolation_is_checked(void **state)
{
    fixture *f = *state;
    skh_variant_spec spec = {
        .struct_size = sizeof spec, .skill = "h_bad", .impl = hostile, .isolation = "sandbox"};
    char *id = NULL;
    skh_error err;
    assert_int_equal(skh_variant_add(f->host, &spec, &id, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "expected process or inline"));
    assert_null(id);
    /* Only shared objects have a choice. */
    spec.impl = "exec:/bin/cat";
    spec.isolation = "inline";
    assert_int_equal(skh_variant_add(f->host, &spec, &id, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "shared-object plugins only"));
    /* A caller built before the member existed is never read past its struct_size. */
    spec.impl = hostile;
    spec.isolation = "sandbox";
    spec.struct_size = offsetof(skh_variant_spec, isolation);
    assert_int_equal(skh_variant_add(f->host, &spec, &id, &err), SKH_OK);
    skh_free(id);
}

/* A plugin that crashes while loading (its init) is a load error, not the host's death. */
static void test_load_failure_is_reported(void **state)
{
    (void)state;
    plugin_limits lim;
    plugin_limits_default(&lim);
    lim.check_trust = 0;
    plugin *p = NULL;
    skh_error err;
    const char *dir = getenv("SKILLHOST_TEST_PLUGINS");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/bad_abi.so", dir);
    assert_int_equal(plugin_load(path, &lim, &p, &err), SKH_EPLUGIN);
    assert_null(p);
    assert_non_null(strstr(err.message, "ABI"));
    snprintf(path, sizeof path, "%s/no_such.so", dir);
    assert_true(plugin_load(path, &lim, &p, &err) < 0);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_misbehaviour_is_one_categorised_attempt, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_worker_is_warm_and_respawned, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inline_runs_in_the_host, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_isolation_is_checked, setup, fixture_teardown),
        cmocka_unit_test(test_load_failure_is_reported),
    };
    return cmocka_run_group_tests_name("isolation", tests, NULL, NULL);
}
