/* The small pieces under every plugin call: the call handle, options, ids, names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "call.h"
#include "error.h"
#include "options.h"
#include "uuid.h"

static void test_call_reads_what_it_was_given(void **state)
{
    (void)state;
    skh_call call;
    call_init(&call, "{\"a\":1}", "content", "[\"x\"]", 2, "p");
    assert_string_equal(skh_input(&call), "{\"a\":1}");
    assert_string_equal(skh_content(&call), "content");
    assert_string_equal(skh_patterns(&call), "[\"x\"]");
    assert_int_equal(skh_attempt(&call), 2);
    call_release(&call);

    call_init(&call, NULL, NULL, NULL, 0, NULL);
    assert_string_equal(skh_content(&call), "");
    assert_string_equal(skh_patterns(&call), "[]");
    assert_int_equal(skh_attempt(&call), 1);
    call_release(&call);
}

/*
 * skh_context(): the host's context, "{}" without one, and "{}" too from a
 * host whose function table predates the member (an ABI 1 host before it
 * was appended) -- the plugin checks struct_size, not the pointer.
 */
static void test_context_accessor(void **state)
{
    (void)state;
    skh_call call;
    call_init(&call, "{}", NULL, NULL, 1, "t");
    assert_string_equal(skh_context(&call), "{}");
    call.context = "{\"phase\":\"triage\"}";
    assert_string_equal(skh_context(&call), "{\"phase\":\"triage\"}");

    skh_host_api old = call_api;
    old.struct_size = (uint32_t)offsetof(skh_host_api, context);
    call.api = &old;
    assert_string_equal(skh_context(&call), "{}");
    call_release(&call);
}

static void test_steps_in_order(void **state)
{
    (void)state;
    skh_call call;
    call_init(&call, "{}", "", "[]", 1, "p");
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        assert_int_equal(skh_step(&call, name), SKH_PLUGIN_OK);
    }
    assert_int_equal(call.nsteps, 40);
    assert_string_equal(call.steps[0], "s0");
    assert_string_equal(call.steps[39], "s39");
    assert_int_equal(skh_step(&call, ""), SKH_PLUGIN_FAILED);
    assert_int_equal(skh_step(&call, NULL), SKH_PLUGIN_FAILED);
    assert_int_equal(call.nsteps, 40);
    call_release(&call);
}

static void test_step_flood_is_capped(void **state)
{
    (void)state;
    skh_call call;
    call_init(&call, "{}", "", "[]", 1, "p");
    int refused = 0;
    for (int i = 0; i < 10000; i++)
        refused += skh_step(&call, "loop") != SKH_PLUGIN_OK;
    assert_true(refused > 0);
    assert_true(call.nsteps < 10000);
    call_release(&call);
}

static void test_first_outcome_wins(void **state)
{
    (void)state;
    skh_call call;
    call_init(&call, "{}", "", "[]", 1, "p");
    assert_int_equal(skh_output(&call, "{\"x\":1}"), SKH_PLUGIN_OK);
    assert_int_equal(skh_fail(&call, SKH_ERR_NETWORK, "late"), SKH_PLUGIN_FAILED);
    assert_string_equal(call.output, "{\"x\":1}");
    assert_int_equal(call.category, SKH_ERR_NONE);
    call_release(&call);

    call_init(&call, "{}", "", "[]", 1, "p");
    assert_int_equal(skh_fail(&call, SKH_ERR_TIMEOUT, "slow"), SKH_PLUGIN_FAILED);
    assert_int_equal(skh_output(&call, "{}"), SKH_PLUGIN_FAILED);
    assert_null(call.output);
    assert_int_equal(call.category, SKH_ERR_TIMEOUT);
    assert_string_equal(call.message, "slow");
    call_release(&call);
}

static void test_unknown_category_becomes_internal(void **state)
{
    (void)state;
    skh_call call;
    call_init(&call, "{}", "", "[]", 1, "p");
    skh_fail(&call, 999, "odd");
    assert_int_equal(call.category, SKH_ERR_INTERNAL);
    call_release(&call);
    call_init(&call, "{}", "", "[]", 1, "p");
    skh_fail(&call, SKH_ERR_NONE, "none is not a failure category");
    assert_int_equal(call.category, SKH_ERR_INTERNAL);
    call_release(&call);
}

static void test_category_names_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"network",    "timeout",        "rate_limit", "unavailable",
                                        "validation", "authentication", "not_found",  "crash",
                                        "internal",   "policy"};
    for (int i = 0; i < 10; i++) {
        int c = skh_category_from_name(names[i]);
        assert_int_equal(c, i + 1);
        assert_string_equal(skh_category_name(c), names[i]);
    }
    assert_int_equal(skh_category_from_name("bogus"), -1);
    assert_null(skh_category_name(SKH_ERR__COUNT));
}

static void test_exit_statuses(void **state)
{
    (void)state;
    assert_int_equal(skh_exit_status(SKH_OK), 0);
    assert_int_equal(skh_exit_status(SKH_EFAILED), 1);
    assert_int_equal(skh_exit_status(SKH_EINVAL), 2);
    assert_int_equal(skh_exit_status(SKH_ENOTFOUND), 2);
    assert_int_equal(skh_exit_status(SKH_EPLUGIN), 3);
    assert_int_equal(skh_exit_status(SKH_ESTORE), 4);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(name_is_valid("keyword_classifier"));
    assert_true(name_is_valid("a"));
    assert_false(name_is_valid(""));
    assert_false(name_is_valid("Spam"));
    assert_false(name_is_valid("a-b"));
    assert_false(name_is_valid(NULL));
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_false(name_is_valid(long_name));
    long_name[64] = '\0';
    assert_true(name_is_valid(long_name));
}

static void test_error_set_formats(void **state)
{
    (void)state;
    skh_error err;
    int rc = error_set(&err, SKH_EINVAL, "--input", "line %d, column %d", 3, 7);
    assert_int_equal(rc, SKH_EINVAL);
    assert_string_equal(err.what, "--input");
    assert_string_equal(err.message, "line 3, column 7");
    assert_int_equal(err.category, SKH_ERR_NONE);
    assert_int_equal(error_set(NULL, SKH_ESTORE, "x", "y"), SKH_ESTORE);
}

static void test_uuid_v7_shape_and_order(void **state)
{
    (void)state;
    char prev[UUID_TEXT_LEN] = "";
    for (int i = 0; i < 5000; i++) {
        char id[UUID_TEXT_LEN];
        uuid_v7(id);
        assert_int_equal(strlen(id), 36);
        assert_int_equal(id[14], '7');
        assert_true(strchr("89ab", id[19]) != NULL);
        assert_true(strcmp(id, prev) > 0);
        memcpy(prev, id, sizeof id);
    }
}

/* A forked child draws its own random bits, not the rest of its parent's pool. */
static void test_uuid_v7_fork(void **state)
{
    (void)state;
    char warm[UUID_TEXT_LEN], parent[UUID_TEXT_LEN], child[UUID_TEXT_LEN] = "";
    uuid_v7(warm); /* the pool now holds bytes the child must not reuse */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[UUID_TEXT_LEN];
        uuid_v7(id);
        _exit(write(fds[1], id, sizeof id) == (ssize_t)sizeof id ? 0 : 1);
    }
    close(fds[1]);
    uuid_v7(parent);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The last 12 hex digits are random: the same would mean the same pool bytes. */
    assert_string_not_equal(parent + 24, child + 24);
}

static void test_options_defaults(void **state)
{
    (void)state;
    unsetenv("SKILLHOST_REACT_MAX_ITER");
    unsetenv("SKILLHOST_REACT_FIDELITY");
    config cfg;
    skh_error err;
    assert_int_equal(config_resolve(&cfg, NULL, &err), SKH_OK);
    assert_int_equal((int)config_num(&cfg, CFG_REACT_MAX_ITER), 3);
    assert_true(fabs(config_num(&cfg, CFG_REACT_FIDELITY) - 0.90) < 1e-12);
    assert_int_equal(cfg.v[CFG_REACT_MAX_ITER].source, CFG_FROM_DEFAULT);
}

static void test_options_precedence(void **state)
{
    (void)state;
    json_t *ws =
        json_pack("{s:s, s:s}", "react.max_iterations", "5", "react.fidelity_threshold", "0.8");
    config cfg;
    skh_error err;
    setenv("SKILLHOST_REACT_MAX_ITER", "7", 1);
    assert_int_equal(config_resolve(&cfg, ws, &err), SKH_OK);
    assert_int_equal((int)config_num(&cfg, CFG_REACT_MAX_ITER), 7);
    assert_int_equal(cfg.v[CFG_REACT_MAX_ITER].source, CFG_FROM_ENV);
    assert_true(fabs(config_num(&cfg, CFG_REACT_FIDELITY) - 0.8) < 1e-12);
    assert_int_equal(cfg.v[CFG_REACT_FIDELITY].source, CFG_FROM_WORKSPACE);
    unsetenv("SKILLHOST_REACT_MAX_ITER");
    json_decref(ws);
}

static void test_options_bad_values_named(void **state)
{
    (void)state;
    config cfg;
    skh_error err;
    setenv("SKILLHOST_REACT_MAX_ITER", "three", 1);
    assert_int_equal(config_resolve(&cfg, NULL, &err), SKH_EINVAL);
    assert_string_equal(err.what, "SKILLHOST_REACT_MAX_ITER");
    assert_non_null(strstr(err.message, "three"));
    setenv("SKILLHOST_REACT_MAX_ITER", "0", 1);
    assert_int_equal(config_resolve(&cfg, NULL, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "outside"));
    unsetenv("SKILLHOST_REACT_MAX_ITER");

    setenv("SKILLHOST_DURABILITY", "sometimes", 1);
    assert_int_equal(config_resolve(&cfg, NULL, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "normal|full"));
    setenv("SKILLHOST_DURABILITY", "full", 1);
    assert_int_equal(config_resolve(&cfg, NULL, &err), SKH_OK);
    assert_int_equal((int)config_num(&cfg, CFG_STORE_DURABILITY), 1);
    unsetenv("SKILLHOST_DURABILITY");

    json_t *ws = json_pack("{s:s}", "react.enabled", "maybe");
    assert_int_equal(config_resolve(&cfg, ws, &err), SKH_EINVAL);
    assert_non_null(strstr(err.what, "react.enabled"));
    json_decref(ws);
    assert_int_equal(config_find("react.enabled"), CFG_REACT_ENABLED);
    assert_int_equal(config_find("nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_reads_what_it_was_given),
        cmocka_unit_test(test_steps_in_order),
        cmocka_unit_test(test_context_accessor),
        cmocka_unit_test(test_step_flood_is_capped),
        cmocka_unit_test(test_first_outcome_wins),
        cmocka_unit_test(test_unknown_category_becomes_internal),
        cmocka_unit_test(test_category_names_round_trip),
        cmocka_unit_test(test_exit_statuses),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_error_set_formats),
        cmocka_unit_test(test_uuid_v7_shape_and_order),
        cmocka_unit_test(test_uuid_v7_fork),
        cmocka_unit_test(test_options_defaults),
        cmocka_unit_test(test_options_precedence),
        cmocka_unit_test(test_options_bad_values_named),
    };
    return cmocka_run_group_tests_name("call", tests, NULL, NULL);
}
