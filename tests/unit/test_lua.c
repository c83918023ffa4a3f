/*
 * The Lua plugin loader: descriptor checks, calls, errors, the sandbox and
 * its limits, JSON, and plugins/keyword_classifier.lua.
 *
 * Fixtures live in tests/unit/lua/ and are found through fixture_srcdir().
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>

#include "call.h"
#include "error.h"
#include "loader.h"
#include "trust.h"

#include "fixture.h"

static char fixture_dir[4096];
static char lib_dir[4096];
static char classifier_path[4096];
static char tmp_dir[PATH_MAX];

static void fixture_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", fixture_dir, name);
}

static void limits(plugin_limits *lim)
{
    plugin_limits_default(lim);
    lim->check_trust = 0;
    lim->lua_instructions = 2000000; /* enough for every probe, small enough to stop fast */
    lim->lua_memory = 16u * 1024u * 1024u;
    lim->lua_path = lib_dir;
}

static plugin *load_with(const char *path, const plugin_limits *lim)
{
    plugin *p = NULL;
    skh_error err;
    error_clear(&err);
    int rc = plugin_lua_load(path, lim, &p, &err);
    if (rc != SKH_OK)
        fail_msg("loading %s: %d: %s: %s", path, rc, err.what, err.message);
    assert_non_null(p);
    return p;
}

static plugin *load_fixture(const char *name)
{
    char path[4200];
    plugin_limits lim;
    limits(&lim);
    fixture_path(path, sizeof path, name);
    return load_with(path, &lim);
}

/* Expect plugin_lua_load to refuse path with code and a message containing needle. */
static void expect_load_error(const char *path, const plugin_limits *lim, int code,
                              const char *needle)
{
    plugin *p = (plugin *)1;
    skh_error err;
    error_clear(&err);
    int rc = plugin_lua_load(path, lim, &p, &err);
    assert_null(p);
    if (rc != code || !strstr(err.message, needle))
        fail_msg("loading %s: got %d '%s', want %d and '%s'", path, rc, err.message, code, needle);
    assert_string_equal(err.what, path);
}

/* Run fn; the parsed output, or NULL when the call failed (call says why). */
static json_t *run(plugin *p, const char *fn, const char *input, const char *content,
                   skh_call *call)
{
    skh_error err;
    error_clear(&err);
    call_init(call, input, content, "[\"alpha\",\"beta\"]", 2, p->name);
    int rc = p->ops->invoke(p, fn, call, &err);
    if (rc != SKH_OK)
        fail_msg("invoke %s: %d: %s", fn, rc, err.message);
    assert_true(call->finished);
    if (!call->output)
        return NULL;
    json_error_t jerr;
    json_t *out = json_loads(call->output, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!out)
        fail_msg("output is not JSON: %s", call->output);
    return out;
}

static json_t *run_ok(plugin *p, const char *input, const char *content)
{
    skh_call call;
    json_t *out = run(p, "execute", input, content, &call);
    if (!out)
        fail_msg("call failed: %d: %s", call.category, call.message);
    call_release(&call);
    return out;
}

static void expect_fail(plugin *p, const char *fn, const char *input, int category,
                        const char *needle)
{
    skh_call call;
    json_t *out = run(p, fn, input, "", &call);
    if (out)
        fail_msg("%s: expected a failure, got %s", input, call.output);
    if (call.category != category || !strstr(call.message, needle))
        fail_msg("%s: got category %d '%s', want %d and '%s'", input, call.category, call.message,
                 category, needle);
    call_release(&call);
}

/* The sandbox probe's "ok" still runs: the host survived whatever came before. */
static void expect_healthy(plugin *p)
{
    json_t *out = run_ok(p, "{\"probe\":\"ok\"}", "");
    assert_true(json_is_true(json_object_get(out, "ok")));
    json_decref(out);
}

static const char *str_field(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("field %s is not a string", key);
    return s;
}

/* Write text to tmp_dir/name; the path goes to buf. */
static void write_tmp(char *buf, size_t len, const char *name, const char *text)
{
    snprintf(buf, len, "%s/%s", tmp_dir, name);
    FILE *f = fopen(buf, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(buf, 0644), 0);
}

/* ------------------------------------------------------ keyword_classifier */

static void test_classifier_spam_and_ham(void **state)
{
    (void)state;
    plugin_limits lim;
    limits(&lim);
    plugin *p = load_with(classifier_path, &lim);
    assert_int_equal(p->kind, SKH_KIND_SKILL);
    assert_string_equal(p->name, "keyword_classifier");
    assert_string_equal(p->version, "1.0.0");
    assert_string_equal(p->description, "Flags text as spam when enough listed words occur");
    assert_string_equal(p->patterns, "read_input,tokenize,classify,decide");
    assert_int_equal(strlen(p->sha256), 64);

    skh_call call;
    json_t *out = run(p, "execute", "{\"text\":\"BUY now!! Free-money, click:here\"}", "", &call);
    assert_non_null(out);
    assert_string_equal(str_field(out, "decision"), "spam");
    assert_int_equal(json_integer_value(json_object_get(out, "hits")), 4);
    assert_true(json_real_value(json_object_get(out, "confidence")) == 0.6 + 0.1 * (double)(4 - 2));
    static const char *const steps[] = {"read_input", "tokenize", "classify", "decide"};
    assert_int_equal(call.nsteps, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(call.steps[i], steps[i]);
    json_decref(out);
    call_release(&call);

    /* Ham with one hit; "freebies" and "Buyer" are not tokens equal to a word. */
    out = run_ok(p, "{\"text\":\"freebies for the Buyer, free lunch\"}", "  \n\t");
    assert_string_equal(str_field(out, "decision"), "ham");
    assert_int_equal(json_integer_value(json_object_get(out, "hits")), 1);
    assert_true(json_real_value(json_object_get(out, "confidence")) ==
                0.9 - 0.3 * (double)1 / (double)2);
    json_decref(out);

    /* Content: threshold 1, words lowercased; confidence capped at 0.99. */
    out = run_ok(p, "{\"text\":\"a b c d e f\"}",
                 "{\"threshold\":1,\"words\":[\"A\",\"B\",\"C\",\"D\",\"E\",\"F\"]}");
    assert_string_equal(str_field(out, "decision"), "spam");
    assert_int_equal(json_integer_value(json_object_get(out, "hits")), 6);
    assert_true(json_real_value(json_object_get(out, "confidence")) == 0.99);
    json_decref(out);

    out = run_ok(p, "{\"text\":\"nothing here\"}", "");
    assert_true(json_real_value(json_object_get(out, "confidence")) == 0.9);
    json_decref(out);
    plugin_close(p);
}

static void test_classifier_validation(void **state)
{
    (void)state;
    plugin_limits lim;
    limits(&lim);
    plugin *p = load_with(classifier_path, &lim);
    static const struct {
        const char *input, *content, *message;
    } cases[] = {
        {"{\"text\":5}", "", "input.text must be a string"},
        {"{}", "", "input.text must be a string"},
        {"[1]", "", "input.text must be a string"},
        {"{\"text\":\"x\"}", "{\"threshold\":0,\"words\":[]}",
         "content.threshold must be an integer >= 1"},
        {"{\"text\":\"x\"}", "{\"threshold\":1.0,\"words\":[]}",
         "content.threshold must be an integer >= 1"},
        {"{\"text\":\"x\"}", "[2]", "content.threshold must be an integer >= 1"},
        {"{\"text\":\"x\"}", "{\"threshold\":2,\"words\":{}}",
         "content.words must be an array of strings"},
        {"{\"text\":\"x\"}", "{\"threshold\":2,\"words\":[\"a\",1]}",
         "content.words must be an array of strings"},
        {"{\"text\":\"x\"}", "{\"threshold\":2", "content is not JSON: line 1, column "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        skh_call call;
        json_t *out = run(p, "execute", cases[i].input, cases[i].content, &call);
        assert_null(out);
        assert_int_equal(call.category, SKH_ERR_VALIDATION);
        if (strncmp(call.message, cases[i].message, strlen(cases[i].message)) != 0)
            fail_msg("case %zu: '%s', want '%s'", i, call.message, cases[i].message);
        assert_int_equal(call.nsteps, 0);
        call_release(&call);
    }
    /* An empty words array is an array of strings. */
    json_t *out = run_ok(p, "{\"text\":\"buy\"}", "{\"threshold\":1,\"words\":[]}");
    assert_string_equal(str_field(out, "decision"), "ham");
    json_decref(out);
    plugin_close(p);
}

/* --------------------------------------------------------------- loading */

static void test_syntax_error(void **state)
{
    (void)state;
    char path[4200];
    plugin_limits lim;
    limits(&lim);
    fixture_path(path, sizeof path, "syntax_error.lua");

    /* Exactly what Lua itself says about the file. */
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    assert_int_equal(luaL_loadfilex(L, path, "t"), LUA_ERRSYNTAX);
    char want[1024];
    snprintf(want, sizeof want, "%s", lua_tostring(L, -1));
    lua_close(L);
    assert_non_null(strstr(want, "syntax_error.lua:4:"));

    plugin *p = (plugin *)1;
    skh_error err;
    error_clear(&err);
    assert_int_equal(plugin_lua_load(path, &lim, &p, &err), SKH_EPLUGIN);
    assert_null(p);
    assert_string_equal(err.what, path);
    assert_string_equal(err.message, want);

    /* A "#!" line is skipped and the line numbers still hold. */
    write_tmp(path, sizeof path, "shebang.lua", "#!/usr/bin/env lua\n\nreturn {,}\n");
    expect_load_error(path, &lim, SKH_EPLUGIN, "shebang.lua:3:");

    /* The hash is the file's, shebang and all. */
    write_tmp(path, sizeof path, "shebang.lua",
              "#!/usr/bin/env lua\nreturn {kind='skill', name='s', version='1', execute=print}\n");
    plugin *ok = load_with(path, &lim);
    char hex[65];
    assert_int_equal(sha256_file(path, hex, &err), SKH_OK);
    assert_string_equal(ok->sha256, hex);
    plugin_close(ok);
}

static void test_descriptor_checks(void **state)
{
    (void)state;
    static const struct {
        const char *source, *message;
    } cases[] = {
        {"return 42", "the chunk must return a table, got a number"},
        {"return", "the chunk must return a table, got nothing"},
        {"return {name='x', version='1', execute=function() end}",
         "field 'kind' must be skill, scorer, policy or evolver, got nothing"},
        {"return {kind='widget', name='x', version='1'}",
         "field 'kind' must be skill, scorer, policy or evolver, got 'widget'"},
        {"return {kind='skill', name='Bad Name', version='1', execute=function() end}",
         "field 'name' must match [a-z0-9_]{1,64}, got 'Bad Name'"},
        {"return {kind='skill', version='1', execute=function() end}",
         "field 'name' must match [a-z0-9_]{1,64}, got nothing"},
        {"return {kind='skill', name='x', execute=function() end}",
         "field 'version' must be a non-empty string, got nothing"},
        {"return {kind='skill', name='x', version='', execute=function() end}",
         "field 'version' must be a non-empty string, got ''"},
        {"return {kind='skill', name='x', version='1'}",
         "field 'execute' must be a function (kind skill), got nothing"},
        {"return {kind='scorer', name='x', version='1', execute=function() end}",
         "field 'score' must be a function (kind scorer)"},
        {"return {kind='evolver', name='x', version='1', evolve='no'}",
         "field 'evolve' must be a function (kind evolver), got 'no'"},
        {"return {kind='policy', name='x', version='1', threshold=1}",
         "a policy must have at least one function field"},
        {"return {kind='skill', name='x', version='1', description=5, execute=print}",
         "field 'description' must be a string, got a number"},
        {"return {kind='skill', name='x', version='1', patterns={'a', 2}, execute=print}",
         "field 'patterns' item 2 must be a string, got a number"},
        {"return {kind='skill', name='x', version='1', patterns={'a,b'}, execute=print}",
         "field 'patterns' item 1 must be a non-empty name without commas"},
        {"return {kind='skill', name='x', version='1', patterns=true, execute=print}",
         "field 'patterns' must be a comma-separated string or an array of strings"},
        {"error('nope')", "bad.lua:1: nope"},
        {"error({category='network', message='no route'})", "no route (raised while loading)"},
        {"while true do end", "instruction budget of 2000000 instructions was exceeded"},
        {"local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end",
         "memory cap of 16777216 bytes exceeded while loading"},
        {"\033Lua\x54\x00", "binary chunks are refused"},
    };
    plugin_limits lim;
    limits(&lim);
    char path[4200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_tmp(path, sizeof path, "bad.lua", cases[i].source);
        expect_load_error(path, &lim, SKH_EPLUGIN, cases[i].message);
    }

    snprintf(path, sizeof path, "%s/missing.lua", tmp_dir);
    expect_load_error(path, &lim, SKH_EPLUGIN, "cannot open");

    /* A memory cap too small for any state is a load error, not a crash. */
    lim.lua_memory = 1000;
    fixture_path(path, sizeof path, "policy.lua");
    expect_load_error(path, &lim, SKH_EPLUGIN, "too small for a Lua state");

    /* patterns: an array is stored comma-joined; a string as given. */
    limits(&lim);
    write_tmp(path, sizeof path, "ok.lua",
              "return {kind='skill', name='ok', version='2', patterns={'a','b','c'}, "
              "execute=function() return {} end}");
    plugin *p = load_with(path, &lim);
    assert_string_equal(p->patterns, "a,b,c");
    assert_string_equal(p->description, "");
    plugin_close(p);
}

static void test_trust(void **state)
{
    (void)state;
    char path[4200];
    plugin_limits lim;
    limits(&lim);
    lim.check_trust = 1;
    write_tmp(path, sizeof path, "trusted.lua",
              "return {kind='skill', name='t', version='1', execute=function() return {} end}");
    plugin *p = load_with(path, &lim);
    plugin_close(p);
    assert_int_equal(chmod(path, 0666), 0);
    expect_load_error(path, &lim, SKH_EPLUGIN, "writable by others");
}

/* ----------------------------------------------------------------- calls */

static void test_errors(void **state)
{
    (void)state;
    plugin *p = load_fixture("errors.lua");
    expect_fail(p, "execute", "{\"mode\":\"plain\"}", SKH_ERR_CRASH, "errors.lua:3: boom");
    expect_fail(p, "execute", "{\"mode\":\"index\"}", SKH_ERR_CRASH,
                "errors.lua:8: attempt to index a nil value (local 't')");
    expect_fail(p, "execute", "{\"mode\":\"network\"}", SKH_ERR_NETWORK, "upstream timed out");
    expect_fail(p, "execute", "{\"mode\":\"bogus\"}", SKH_ERR_INTERNAL,
                "unknown category 'bogus': what is this");
    expect_fail(p, "execute", "{\"mode\":\"uncategorised\"}", SKH_ERR_CRASH,
                "a table without a category");
    expect_fail(p, "execute", "{\"mode\":\"number\"}", SKH_ERR_CRASH,
                "error raised with the number 42");
    expect_fail(p, "execute", "{\"mode\":\"no_position\"}", SKH_ERR_CRASH, "no position here");
    expect_fail(p, "execute", "{\"mode\":\"return_nil\"}", SKH_ERR_INTERNAL,
                "execute returned no table");
    expect_fail(p, "execute", "{\"mode\":\"return_number\"}", SKH_ERR_INTERNAL,
                "execute returned no table");
    expect_fail(p, "execute", "{\"mode\":\"return_bad_string\"}", SKH_ERR_INTERNAL,
                "execute returned no table");
    expect_fail(p, "execute", "{\"mode\":\"return_json_array_string\"}", SKH_ERR_INTERNAL,
                "execute returned no table");
    expect_fail(p, "execute", "{\"mode\":\"return_nan\"}", SKH_ERR_INTERNAL, "$.x is NaN");
    expect_fail(p, "execute", "{\"mode\":\"return_function\"}", SKH_ERR_INTERNAL,
                "$.f is a function");
    expect_fail(p, "execute", "{\"mode\":\"return_bad_utf8\"}", SKH_ERR_INTERNAL,
                "not valid UTF-8");
    expect_fail(p, "execute", "not json", SKH_ERR_VALIDATION, "input is not valid JSON: line 1");

    json_t *out = run_ok(p, "{\"mode\":\"return_string\"}", "");
    assert_string_equal(str_field(out, "from"), "string");
    json_decref(out);
    out = run_ok(p, "{\"mode\":\"return_array\"}", "");
    assert_true(json_is_array(out) && json_array_size(out) == 3);
    json_decref(out);

    /* A function the table lacks cannot be run at all. */
    skh_call call;
    skh_error err;
    error_clear(&err);
    call_init(&call, "{}", "", "[]", 1, p->name);
    assert_int_equal(p->ops->invoke(p, "score", &call, &err), SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "errors.lua: no function 'score'"));
    assert_false(call.finished);
    call_release(&call);
    assert_true(p->ops->has(p, "execute"));
    assert_false(p->ops->has(p, "score"));
    assert_false(p->ops->has(p, "version"));
    plugin_close(p);
}

static void test_policy(void **state)
{
    (void)state;
    plugin *p = load_fixture("policy.lua");
    assert_int_equal(p->kind, SKH_KIND_POLICY);
    assert_true(p->ops->has(p, "decide"));
    assert_true(p->ops->has(p, "check"));
    assert_false(p->ops->has(p, "threshold"));
    skh_call call;
    json_t *out = run(p, "decide", "{}", "", &call);
    assert_string_equal(str_field(out, "verdict"), "go");
    json_decref(out);
    call_release(&call);
    expect_fail(p, "decide", "{\"fail\":true}", SKH_ERR_POLICY, "policy.lua:8: policy broke");
    out = run(p, "check", "null", "", &call);
    assert_true(json_is_true(json_object_get(out, "checked")));
    json_decref(out);
    call_release(&call);
    plugin_close(p);
}

static void test_ctx(void **state)
{
    (void)state;
    plugin *p = load_fixture("ctx.lua");
    skh_call call;
    json_t *out = run(p, "execute", "{\"list\":[]}", "some content", &call);
    assert_non_null(out);
    assert_string_equal(str_field(out, "content"), "some content");
    assert_int_equal(json_integer_value(json_object_get(out, "attempt")), 2);
    json_t *want = json_loads("[\"alpha\",\"beta\"]", 0, NULL);
    assert_true(json_equal(json_object_get(out, "patterns"), want));
    json_decref(want);
    assert_true(json_is_true(json_object_get(out, "input_is_array")));
    assert_true(json_is_false(json_object_get(out, "empty_step")));
    assert_true(json_is_false(json_object_get(out, "long_step")));
    assert_non_null(strstr(str_field(out, "long_step_err"), "step name longer than 256 bytes"));
    assert_true(json_is_false(json_object_get(out, "bad_level")));
    assert_non_null(strstr(str_field(out, "bad_level_err"), "unknown log level 'loud'"));
    assert_true(json_is_false(json_object_get(out, "ctx_mt")));
    assert_int_equal(call.nsteps, 2);
    assert_string_equal(call.steps[0], "one");
    assert_string_equal(call.steps[1], "two");
    json_decref(out);
    call_release(&call);

    /* A ctx kept from an earlier call is dead. */
    expect_fail(p, "execute", "{\"stale\":true}", SKH_ERR_CRASH,
                "ctx used outside the call it was made for");
    plugin_close(p);
}

static void test_globals_not_shared(void **state)
{
    (void)state;
    plugin *a = load_fixture("globals.lua");
    plugin *b = load_fixture("globals.lua");
    assert_string_equal(a->patterns, "count,report");

    json_t *out = run_ok(a, "{\"set\":\"from a\"}", "");
    assert_string_equal(str_field(out, "seen"), "from a");
    assert_string_equal(str_field(out, "upper"), "nil");
    json_decref(out);

    out = run_ok(b, "{}", "");
    assert_true(json_is_null(json_object_get(out, "seen")));
    assert_string_equal(str_field(out, "upper"), "function");
    assert_int_equal(json_integer_value(json_object_get(out, "counter")), 1);
    json_decref(out);

    /* The state stays warm: a's globals survive between its calls. */
    out = run_ok(a, "{}", "");
    assert_string_equal(str_field(out, "seen"), "from a");
    assert_int_equal(json_integer_value(json_object_get(out, "counter")), 2);
    json_decref(out);
    plugin_close(a);
    plugin_close(b);
}

/* ---------------------------------------------------------------- sandbox */

static void test_sandbox_globals(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    json_t *out = run_ok(p, "{\"probe\":\"globals\"}", "");
    static const struct {
        const char *name, *type;
    } want[] = {
        {"os_execute", "nil"},     {"os_getenv", "nil"},    {"os_exit", "nil"},
        {"os_remove", "nil"},      {"os_time", "function"}, {"os_clock", "function"},
        {"os_date", "function"},   {"io", "nil"},           {"debug", "nil"},
        {"package", "nil"},        {"loadfile", "nil"},     {"dofile", "nil"},
        {"collectgarbage", "nil"}, {"string_dump", "nil"},  {"require", "function"},
        {"load", "function"},      {"print", "function"},   {"coroutine", "table"},
        {"utf8", "table"},         {"null", "userdata"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strcmp(str_field(out, want[i].name), want[i].type) != 0)
            fail_msg("%s is %s, want %s", want[i].name, str_field(out, want[i].name), want[i].type);
    json_decref(out);

    static const char *const calls[] = {"os_execute", "io_open",  "debug", "string_dump",
                                        "package",    "loadfile", "dofile"};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char input[128];
        snprintf(input, sizeof input, "{\"probe\":\"%s\"}", calls[i]);
        expect_fail(p, "execute", input, SKH_ERR_CRASH, "attempt to");
        expect_healthy(p);
    }
    expect_fail(p, "execute", "{\"probe\":\"gc\"}", SKH_ERR_CRASH,
                "__gc metamethods are not allowed");
    out = run_ok(p, "{\"probe\":\"protected_metatables\"}", "");
    assert_true(json_is_false(json_object_get(out, "array_mt")));
    json_decref(out);
    plugin_close(p);
}

static void test_bytecode_refused(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    json_t *out = run_ok(p, "{\"probe\":\"load_binary_string\"}", "");
    assert_true(json_is_false(json_object_get(out, "loaded")));
    assert_non_null(strstr(str_field(out, "err"), "binary chunk"));
    json_decref(out);

    out = run_ok(p, "{\"probe\":\"load_binary_reader\"}", "");
    assert_true(json_is_false(json_object_get(out, "loaded")));
    assert_non_null(strstr(str_field(out, "err"), "attempt to load a binary chunk"));
    json_decref(out);

    out = run_ok(p, "{\"probe\":\"load_binary_nested\"}", "");
    assert_true(json_is_true(json_object_get(out, "refused")));
    assert_non_null(strstr(str_field(out, "e1"), "binary chunk"));
    assert_non_null(strstr(str_field(out, "e2"), "binary chunk"));
    json_decref(out);

    out = run_ok(p, "{\"probe\":\"load_text\"}", "");
    assert_int_equal(json_integer_value(json_object_get(out, "value")), 42);
    assert_int_equal(json_integer_value(json_object_get(out, "global")), 42);
    assert_int_equal(json_integer_value(json_object_get(out, "env")), 7);
    assert_int_equal(json_integer_value(json_object_get(out, "forced_text")), 1);
    assert_true(json_is_true(json_object_get(out, "bad")));
    assert_non_null(strstr(str_field(out, "err"), "broken:1:"));
    json_decref(out);
    plugin_close(p);
}

static void test_instruction_budget(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    static const char *const loops[] = {
        "loop",           "pcall_loop",           "pcall_then_return", "xpcall_loop",
        "coroutine_loop", "coroutine_pcall_loop", "wrap_close_loop",   "close_after_stop"};
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        char input[128];
        snprintf(input, sizeof input, "{\"probe\":\"%s\"}", loops[i]);
        expect_fail(p, "execute", input, SKH_ERR_TIMEOUT,
                    "exceeded the instruction budget of 2000000 instructions");
        expect_healthy(p);
    }
    /*
     * The coroutine stopped by close_after_stop is dead with hooks off; closing
     * it in a later call must not run its looping __close.
     */
    json_t *closed = run_ok(p, "{\"probe\":\"close_stopped_later\"}", "");
    assert_true(json_is_false(json_object_get(closed, "closed")));
    assert_string_equal(str_field(closed, "status"), "dead");
    assert_non_null(strstr(str_field(closed, "err"), "instruction budget"));
    json_decref(closed);

    /* The budget is per call: many calls of 400k instructions each all pass. */
    for (int i = 0; i < 10; i++) {
        json_t *out = run_ok(p, "{\"probe\":\"count\",\"n\":100000}", "");
        assert_int_equal(json_integer_value(json_object_get(out, "n")), 5000050000LL);
        json_decref(out);
    }
    plugin_close(p);
}

/* The replaced xpcall and coroutine.wrap/close still behave as Lua's. */
static void test_coroutines_and_xpcall(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    json_t *out = run_ok(p, "{\"probe\":\"coroutines\"}", "");
    assert_int_equal(json_integer_value(json_object_get(out, "first")), 2);
    assert_int_equal(json_integer_value(json_object_get(out, "second")), 10);
    assert_true(json_is_true(json_object_get(out, "closed")));
    assert_true(json_is_true(json_object_get(out, "close_suspended")));
    assert_true(json_is_true(json_object_get(out, "wrap_error")));
    assert_true(json_is_false(json_object_get(out, "xpcall_ok")));
    assert_non_null(strstr(str_field(out, "xpcall_err"), "handler saw: "));
    assert_non_null(strstr(str_field(out, "xpcall_err"), "sandbox.lua:"));
    json_t *want = json_loads("[true,5,\"second\"]", 0, NULL);
    assert_true(json_equal(json_object_get(out, "xpcall_results"), want));
    json_decref(want);
    json_decref(out);
    plugin_close(p);
}

static void test_memory_cap(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    for (int round = 0; round < 3; round++) {
        expect_fail(p, "execute", "{\"probe\":\"memory_bomb\"}", SKH_ERR_CRASH,
                    "memory cap of 16777216 bytes exceeded");
        expect_healthy(p);
    }
    /* A script that catches the memory error and recovers is allowed to. */
    json_t *out = run_ok(p, "{\"probe\":\"memory_pcall\"}", "");
    assert_true(json_is_false(json_object_get(out, "ok")));
    assert_non_null(strstr(str_field(out, "err"), "not enough memory"));
    json_decref(out);

    expect_fail(p, "execute", "{\"probe\":\"rep_guard\"}", SKH_ERR_CRASH,
                "string.rep: result would exceed the memory cap of 16777216 bytes");
    expect_fail(p, "execute", "{\"probe\":\"rep_sep_guard\"}", SKH_ERR_CRASH,
                "string.rep: result would exceed the memory cap");
    expect_healthy(p);
    plugin_close(p);
}

/* C loops the hook cannot interrupt are bounded before they start. */
static void test_c_loops(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    json_t *out = run_ok(p, "{\"probe\":\"empty_rep\"}", "");
    assert_int_equal(json_integer_value(json_object_get(out, "len")), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "len_sep")), 0);
    json_decref(out);

    static const char *const loops[] = {"table_move", "table_insert", "table_remove"};
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        char input[128];
        snprintf(input, sizeof input, "{\"probe\":\"%s\"}", loops[i]);
        expect_fail(p, "execute", input, SKH_ERR_CRASH, "more than any table here can hold");
        expect_healthy(p);
    }

    out = run_ok(p, "{\"probe\":\"table_ops\"}", "");
    assert_string_equal(str_field(out, "t"), "z,b,c");
    assert_string_equal(str_field(out, "removed"), "a");
    assert_string_equal(str_field(out, "last"), "d");
    assert_string_equal(str_field(out, "moved"), "[2,3]");
    assert_true(json_is_false(json_object_get(out, "bad")));
    assert_true(json_is_false(json_object_get(out, "wrong")));
    assert_true(json_is_true(json_object_get(out, "none")));
    json_decref(out);
    plugin_close(p);
}

static void test_pattern_guard(void **state)
{
    (void)state;
    char path[4200];
    plugin_limits lim;
    limits(&lim);
    lim.lua_pattern_max = 1000;
    fixture_path(path, sizeof path, "sandbox.lua");
    plugin *p = load_with(path, &lim);

    static const char *const fns[] = {"find", "string.find", "match", "gmatch", "gsub"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        char input[128];
        snprintf(input, sizeof input, "{\"probe\":\"pattern\",\"fn\":\"%s\",\"n\":1000}", fns[i]);
        json_decref(run_ok(p, input, ""));
        snprintf(input, sizeof input, "{\"probe\":\"pattern\",\"fn\":\"%s\",\"n\":1001}", fns[i]);
        expect_fail(p, "execute", input, SKH_ERR_CRASH,
                    "subject of 1001 bytes exceeds the pattern limit of 1000 bytes");
    }
    /* DESIGN §3.2's pathological pattern is refused at once instead of running for minutes. */
    expect_fail(p, "execute", "{\"probe\":\"pattern\",\"fn\":\"evil\",\"n\":4000}", SKH_ERR_CRASH,
                "string.find: subject of 4000 bytes exceeds the pattern limit");
    expect_healthy(p);
    plugin_close(p);
}

static void test_require(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    json_t *out = run_ok(p, "{\"probe\":\"require\"}", "");
    assert_string_equal(str_field(out, "hello"), "hello lua");
    assert_string_equal(str_field(out, "loaded_as"), "greet");
    assert_string_equal(str_field(out, "shout"), "HELLO LUA!");
    assert_true(json_is_true(json_object_get(out, "cached")));
    json_decref(out);

    static const struct {
        const char *name, *message;
    } refused[] = {
        {"sandbox", "module 'sandbox' not found in the Lua module path"}, /* exists, not in path */
        {"../sandbox", "must match [A-Za-z0-9_.]+"},
        {"/etc/passwd", "must match [A-Za-z0-9_.]+"},
        {"os", "module 'os' not found"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char input[256];
        snprintf(input, sizeof input, "{\"probe\":\"require_name\",\"name\":\"%s\"}",
                 refused[i].name);
        out = run_ok(p, input, "");
        assert_true(json_is_false(json_object_get(out, "ok")));
        if (!strstr(str_field(out, "err"), refused[i].message))
            fail_msg("require %s: '%s'", refused[i].name, str_field(out, "err"));
        json_decref(out);
    }
    plugin_close(p);

    /* Without a module path nothing can be required. */
    char path[4200];
    plugin_limits lim;
    limits(&lim);
    lim.lua_path = NULL;
    fixture_path(path, sizeof path, "sandbox.lua");
    p = load_with(path, &lim);
    out = run_ok(p, "{\"probe\":\"require_name\",\"name\":\"greet\"}", "");
    assert_non_null(strstr(str_field(out, "err"), "no Lua module path is configured"));
    json_decref(out);
    plugin_close(p);
}

/* ------------------------------------------------------------------- JSON */

static void test_json_round_trip(void **state)
{
    (void)state;
    plugin *p = load_fixture("sandbox.lua");
    static const char *const values[] = {
        "{\"a\":[],\"b\":{},\"c\":{\"d\":[1,2.5,null,true,false,\"x\",[[]]]}}",
        "{\"u\":\"h\\u00e9llo \\u2713 \\ud83d\\ude00\",\"nul\":\"a\\u0000b\"}",
        "{\"big\":9007199254740993,\"neg\":-3,\"f\":1.0,\"e\":1e-07,\"zero\":0.0}",
        "[null,null]",
        "[]",
        "\"just a string\"",
        "12",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char input[512];
        snprintf(input, sizeof input, "{\"probe\":\"echo\",\"value\":%s}", values[i]);
        json_t *out = run_ok(p, input, "");
        json_t *want = json_loads(values[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(want);
        /* json_equal tells integers from reals, so 1.0 must come back as 1.0. */
        if (!json_equal(json_object_get(out, "echo"), want)) {
            char *got = json_dumps(out, JSON_ENCODE_ANY);
            fail_msg("echo of %s gave %s", values[i], got);
        }
        json_decref(want);
        json_decref(out);
    }

    json_t *out = run_ok(p, "{\"probe\":\"json\"}", "");
    static const struct {
        const char *field, *value;
    } strings[] = {
        {"empty_array", "{\"a\":[]}"},
        {"empty_object", "{}"},
        {"marked", "[]"},
        {"sequence", "[1,\"two\",true,null]"},
        {"int", "integer"},
        {"float", "float"},
        {"int_text", "3"},
        {"float_text", "3.0"},
        {"null_text", "[null]"},
        {"utf8", "\"h\xc3\xa9llo \xf0\x9f\x98\x80\""},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (strcmp(str_field(out, strings[i].field), strings[i].value) != 0)
            fail_msg("%s is '%s', want '%s'", strings[i].field, str_field(out, strings[i].field),
                     strings[i].value);
    assert_true(json_is_true(json_object_get(out, "null")));
    assert_true(json_real_value(json_object_get(out, "round")) == 2.5);
    assert_true(json_is_true(json_object_get(out, "is_array")));
    static const struct {
        const char *ok, *err, *message;
    } failures[] = {
        {"nan_ok", "nan_err", "$.x is NaN"},
        {"cycle_ok", "cycle_err", "$.self is a table that contains itself"},
        {"decode_ok", "decode_err", "skh.json.decode: line 1 column"},
        {"sparse_ok", "sparse_err", "not the sequence 1..n"},
        {"mixed_ok", "mixed_err", "mixes integer and string keys"},
        {"fn_ok", "fn_err", "$.f is a function"},
        {"blowup_ok", "blowup_err", "past the limit of 1000000 JSON values"},
        {"bytes_ok", "bytes_err", "[65] is past the limit of 67108864 bytes"},
    };
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        assert_true(json_is_false(json_object_get(out, failures[i].ok)));
        if (!strstr(str_field(out, failures[i].err), failures[i].message))
            fail_msg("%s: '%s'", failures[i].err, str_field(out, failures[i].err));
    }
    assert_true(json_is_false(json_object_get(out, "inf_ok")));
    assert_true(json_is_false(json_object_get(out, "bad_utf8_ok")));
    assert_true(json_is_false(json_object_get(out, "deep_ok")));
    assert_true(json_is_true(json_object_get(out, "shallow_ok")));
    json_decref(out);
    plugin_close(p);
}

/* ------------------------------------------------------------------ setup */

static int group_setup(void **state)
{
    (void)state;
    const char *top = fixture_srcdir();
    if (strlen(top) > 2048)
        return -1;
    snprintf(fixture_dir, sizeof fixture_dir, "%.2048s/tests/unit/lua", top);
    snprintf(lib_dir, sizeof lib_dir, "%.2048s/tests/unit/lua/lib", top);
    snprintf(classifier_path, sizeof classifier_path, "%.2048s/plugins/keyword_classifier.lua",
             top);
    return fixture_tmpdir(tmp_dir, sizeof tmp_dir, "lua");
}

static int group_teardown(void **state)
{
    (void)state;
    return fixture_rmtree(tmp_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifier_spam_and_ham),
        cmocka_unit_test(test_classifier_validation),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_descriptor_checks),
        cmocka_unit_test(test_trust),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_ctx),
        cmocka_unit_test(test_globals_not_shared),
        cmocka_unit_test(test_sandbox_globals),
        cmocka_unit_test(test_bytecode_refused),
        cmocka_unit_test(test_instruction_budget),
        cmocka_unit_test(test_coroutines_and_xpcall),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_c_loops),
        cmocka_unit_test(test_pattern_guard),
        cmocka_unit_test(test_require),
        cmocka_unit_test(test_json_round_trip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
