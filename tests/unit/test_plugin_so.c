/*
 * Shared-object loading: the contract check refuses every malformed plugin
 * with its reason and the host carries on; the shipped C plugins and the
 * built-in scorers behave as specified.
 */
#include "call.h"
#include "loader.h"
#include "trust.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* ---- finding the plugins ---------------------------------------------- */

static char test_dir[4096];
static char ship_dir[4096];

static void find_dirs(void)
{
    const char *t = getenv("SKILLHOST_TEST_PLUGINS");
    snprintf(test_dir, sizeof test_dir, "%s", t && *t ? t : "./tests/plugins/.libs");
    const char *s = getenv("SKILLHOST_PLUGIN_PATH");
    if (s && *s) {
        size_t n = strcspn(s, ":");
        snprintf(ship_dir, sizeof ship_dir, "%.*s", (int)n, s);
    } else {
        snprintf(ship_dir, sizeof ship_dir, "./plugins/.libs");
    }
}

static char *path_in(const char *dir, const char *file)
{
    static char buf[4][4200];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, file);
    return p;
}

static plugin_limits no_trust(void)
{
    plugin_limits lim;
    plugin_limits_default(&lim);
    /* The build tree's permissions are the builder's business; test_trust covers the rules. */
    lim.check_trust = 0;
    return lim;
}

static plugin *load_ok(const char *path)
{
    plugin_limits lim = no_trust();
    plugin *p = NULL;
    skh_error err = {0};
    int rc = plugin_so_load(path, &lim, &p, &err);
    if (rc != SKH_OK)
        fail_msg("%s: %s: %s", path, err.what, err.message);
    assert_non_null(p);
    return p;
}

static void expect_refused(const char *file, const char *message)
{
    const char *path = path_in(test_dir, file);
    plugin_limits lim = no_trust();
    plugin *p = (plugin *)(uintptr_t)1;
    skh_error err = {0};
    assert_int_equal(plugin_so_load(path, &lim, &p, &err), SKH_EPLUGIN);
    assert_null(p);
    assert_int_equal(err.code, SKH_EPLUGIN);
    assert_string_equal(err.what, path);
    assert_string_equal(err.message, message);
}

/* ---- running a call ----------------------------------------------------- */

typedef struct run {
    skh_call call;
    json_t *out; /* parsed output, NULL on failure */
} run;

static void run_fn(plugin *p, const char *fn, run *r, const char *input, const char *content,
                   const char *patterns, unsigned attempt)
{
    skh_error err = {0};
    call_init(&r->call, input, content, patterns, attempt, p->name);
    assert_int_equal(p->ops->invoke(p, fn, &r->call, &err), SKH_OK);
    assert_true(r->call.finished);
    r->out = NULL;
    if (r->call.output) {
        json_error_t jerr;
        r->out = json_loads(r->call.output, 0, &jerr);
        if (!r->out)
            fail_msg("output is not JSON: %s: %s", r->call.output, jerr.text);
    }
}

static void run_done(run *r)
{
    json_decref(r->out);
    call_release(&r->call);
}

static void assert_steps(const skh_call *c, const char *const *want, size_t n)
{
    assert_int_equal(c->nsteps, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(c->steps[i], want[i]);
}

static void assert_failed(const run *r, int category, const char *message)
{
    assert_null(r->call.output);
    assert_int_equal(r->call.category, category);
    assert_string_equal(r->call.message, message);
}

/* ---- the contract check ------------------------------------------------- */

static void test_bad_plugins_refused(void **state)
{
    char msg[128];
    expect_refused("bad_abi.so", "plugin ABI version 7, host supports 1");
    expect_refused("no_entry.so", "no symbol skh_plugin_entry (not a skillhost plugin?)");
    snprintf(msg, sizeof msg, "descriptor is 16 bytes, ABI v1 needs at least %zu",
             offsetof(skh_plugin, evolve) + sizeof(skh_callback));
    expect_refused("small_struct.so", msg);
    expect_refused("bad_name.so", "invalid plugin name \"Bad Name!\" (expected [a-z0-9_]{1,64})");
    expect_refused("no_execute.so", "kind skill needs .execute");
    expect_refused("bad_kind.so", "unknown plugin kind 99");
    expect_refused("does_not_exist.so", "cannot open: No such file or directory");

    /* After all of that the host still loads and runs a good plugin. */
    plugin *p = load_ok(path_in(test_dir, "good_skill.so"));
    run r;
    run_fn(p, "execute", &r, "{}", NULL, NULL, 1);
    assert_non_null(r.out);
    run_done(&r);
    plugin_close(p);
}

static void test_not_a_shared_object(void **state)
{
    char dir[] = "/tmp/skh_so_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = path_in(dir, "text.so");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not ELF\n", f);
    fclose(f);

    plugin_limits lim = no_trust();
    plugin *p = NULL;
    skh_error err = {0};
    assert_int_equal(plugin_so_load(path, &lim, &p, &err), SKH_EPLUGIN);
    assert_null(p);
    assert_string_equal(err.what, path);
    assert_non_null(strstr(err.message, "cannot load: "));
    unlink(path);
    rmdir(dir);
}

static void test_trust_applied_when_asked(void **state)
{
    /* A copy of a good plugin made writable by others must not load. */
    char dir[] = "/tmp/skh_so_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    char *dst = path_in(dir, "good_skill.so");
    FILE *in = fopen(path_in(test_dir, "good_skill.so"), "rb");
    FILE *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);

    plugin_limits lim;
    plugin_limits_default(&lim);
    assert_true(lim.check_trust);
    plugin *p = NULL;
    skh_error err = {0};
    assert_int_equal(chmod(dst, 0666), 0);
    assert_int_equal(plugin_so_load(dst, &lim, &p, &err), SKH_EPLUGIN);
    assert_null(p);
    assert_non_null(
        strstr(err.message, "refused: writable by others (mode 0666); fix: chmod o-w "));

    assert_int_equal(chmod(dst, 0644), 0);
    assert_int_equal(plugin_so_load(dst, &lim, &p, &err), SKH_OK);
    plugin_close(p);
    unlink(dst);
    rmdir(dir);
}

static void test_good_skill(void **state)
{
    const char *path = path_in(test_dir, "good_skill.so");
    plugin *p = load_ok(path);
    assert_int_equal(p->kind, SKH_KIND_SKILL);
    assert_string_equal(p->path, path);
    assert_string_equal(p->name, "good_skill");
    assert_string_equal(p->version, "1.0.0");
    assert_string_equal(p->description, "A skill that always answers ok");
    assert_string_equal(p->patterns, "a,b");
    char sha[65];
    assert_int_equal(sha256_file(path, sha, NULL), SKH_OK);
    assert_string_equal(p->sha256, sha);
    assert_true(p->ops->has(p, "execute"));
    assert_false(p->ops->has(p, "score"));
    assert_false(p->ops->has(p, "nonsense"));

    static const char *const ab[] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        run r;
        run_fn(p, "execute", &r, "{\"x\":1}", NULL, NULL, 1);
        assert_steps(&r.call, ab, 2);
        assert_int_equal(r.call.category, SKH_ERR_NONE);
        assert_string_equal(json_string_value(json_object_get(r.out, "decision")), "ok");
        assert_true(json_real_value(json_object_get(r.out, "confidence")) == 1.0);
        run_done(&r);
    }

    skh_call call;
    skh_error err = {0};
    call_init(&call, "{}", NULL, NULL, 1, p->name);
    assert_int_equal(p->ops->invoke(p, "score", &call, &err), SKH_EPLUGIN);
    assert_false(call.finished);
    call_release(&call);
    plugin_close(p);
}

static void test_plugin_must_finish(void **state)
{
    plugin *p = load_ok(path_in(test_dir, "good_skill.so"));
    static const char *const a[] = {"a"};
    run r;
    run_fn(p, "execute", &r, "{\"mode\":\"silent\"}", NULL, NULL, 1);
    assert_failed(&r, SKH_ERR_INTERNAL, "good_skill returned 0 without skh_output or skh_fail");
    assert_steps(&r.call, a, 1);
    run_done(&r);

    run_fn(p, "execute", &r, "{\"mode\":\"contradict\"}", NULL, NULL, 1);
    assert_failed(&r, SKH_ERR_INTERNAL, "good_skill returned 1 after skh_output");
    run_done(&r);
    plugin_close(p);
}

static void test_init_failure(void **state)
{
    const char *path = path_in(test_dir, "good_skill.so");
    plugin_limits lim = no_trust();
    plugin *p = NULL;
    skh_error err = {0};
    setenv("GOOD_SKILL_INIT_FAIL", "3", 1);
    int rc = plugin_so_load(path, &lim, &p, &err);
    unsetenv("GOOD_SKILL_INIT_FAIL");
    assert_int_equal(rc, SKH_EPLUGIN);
    assert_null(p);
    assert_string_equal(err.message, "init failed (returned 3)");
}

/* ---- keyword_classifier -------------------------------------------------- */

static const char *const kw_steps[] = {"read_input", "tokenize", "classify", "decide"};
static const char kw_patterns[] = "[\"read_input\",\"tokenize\",\"classify\",\"decide\"]";

static void kw_expect(plugin *p, const char *text, const char *content, const char *decision,
                      double confidence, long long hits)
{
    json_t *in = json_pack("{s:s}", "text", text);
    char *input = json_dumps(in, JSON_COMPACT);
    json_decref(in);
    assert_non_null(input);
    run r;
    run_fn(p, "execute", &r, input, content, kw_patterns, 1);
    free(input);
    if (!r.out)
        fail_msg("%s: failed: %s", text, r.call.message);
    assert_steps(&r.call, kw_steps, 4);
    assert_string_equal(json_string_value(json_object_get(r.out, "decision")), decision);
    json_t *c = json_object_get(r.out, "confidence");
    assert_true(json_is_real(c));
    if (json_real_value(c) != confidence)
        fail_msg("%s: confidence %.17g, want %.17g", text, json_real_value(c), confidence);
    assert_int_equal(json_integer_value(json_object_get(r.out, "hits")), hits);
    run_done(&r);
}

/* Validation failures come before any step; prefix compares only the message's start. */
static void kw_expect_fail(plugin *p, const char *input, const char *content, const char *message,
                           int prefix)
{
    run r;
    run_fn(p, "execute", &r, input, content, kw_patterns, 1);
    assert_null(r.call.output);
    assert_int_equal(r.call.category, SKH_ERR_VALIDATION);
    if (prefix ? strncmp(r.call.message, message, strlen(message)) != 0
               : strcmp(r.call.message, message) != 0)
        fail_msg("message \"%s\", want \"%s\"%s", r.call.message, message, prefix ? "..." : "");
    assert_int_equal(r.call.nsteps, 0);
    run_done(&r);
}

static void test_keyword_classifier(void **state)
{
    plugin *p = load_ok(path_in(ship_dir, "keyword_classifier.so"));
    assert_string_equal(p->name, "keyword_classifier");
    assert_string_equal(p->version, "1.0.0");
    assert_string_equal(p->description, "Flags text as spam when enough listed words occur");
    assert_string_equal(p->patterns, "read_input,tokenize,classify,decide");

    /* Defaults: threshold 2. */
    kw_expect(p, "Click to win a FREE prize", NULL, "spam", 0.6 + 0.1 * 1.0, 3);
    kw_expect(p, "free money", "  \n\t", "spam", 0.6, 2);
    kw_expect(p, "Meeting moved to noon", "", "ham", 0.9, 0);
    kw_expect(p, "Feel free to call", "", "ham", 0.9 - 0.3 * 1.0 / 2.0, 1);
    /* Tokens are runs of [a-z0-9]; any other byte, non-ASCII included, separates. */
    kw_expect(p, "FREE-money", "", "spam", 0.6, 2);
    kw_expect(p, "freemoney buy2 4free", "", "ham", 0.9, 0);
    kw_expect(p,
              "caf\xc3\xa9"
              "free\xc3\xa9"
              "buy",
              "", "spam", 0.6, 2);
    kw_expect(p, "free free free free free free free free free", "", "spam", 0.99, 9);

    /* Content: own threshold and words, words compared lowercased. */
    kw_expect(p, "hello world", "{\"threshold\":1,\"words\":[\"Hello\"]}", "spam", 0.6, 1);
    kw_expect(p, "goodbye world", "{\"threshold\":3,\"words\":[\"hello\",\"world\"]}", "ham",
              0.9 - 0.3 * 1.0 / 3.0, 1);
    kw_expect(p, "nothing listed", "{\"threshold\":1,\"words\":[]}", "ham", 0.9, 0);

    /* The exact text, so the Lua twin can be compared byte for byte. */
    run r;
    run_fn(p, "execute", &r, "{\"text\":\"free money now\"}", NULL, kw_patterns, 1);
    assert_string_equal(r.call.output, "{\"decision\":\"spam\",\"confidence\":0.6,\"hits\":2}");
    run_done(&r);

    kw_expect_fail(p, "{\"text\":\"x\"}", "{\"threshold\":0,\"words\":[]}",
                   "content.threshold must be an integer >= 1", 0);
    kw_expect_fail(p, "{\"text\":\"x\"}", "{\"threshold\":1.5,\"words\":[]}",
                   "content.threshold must be an integer >= 1", 0);
    kw_expect_fail(p, "{\"text\":\"x\"}", "{\"words\":[]}",
                   "content.threshold must be an integer >= 1", 0);
    kw_expect_fail(p, "{\"text\":\"x\"}", "{\"threshold\":2,\"words\":[\"a\",1]}",
                   "content.words must be an array of strings", 0);
    kw_expect_fail(p, "{\"text\":\"x\"}", "{\"threshold\":2,\"words\":\"a\"}",
                   "content.words must be an array of strings", 0);
    kw_expect_fail(p, "{\"text\":\"x\"}", "{\"threshold\": 2,",
                   "content is not JSON: line 1, column ", 1);
    kw_expect_fail(p, "{\"text\":5}", NULL, "input.text must be a string", 0);
    kw_expect_fail(p, "{}", NULL, "input.text must be a string", 0);
    plugin_close(p);
}

/* ---- flaky ---------------------------------------------------------------- */

/* The plugin's own default patterns as the JSON array the host would hand it. */
static char *flaky_patterns(const plugin *p)
{
    json_t *arr = json_array();
    char *copy = strdup(p->patterns);
    assert_non_null(copy);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_string(tok));
    free(copy);
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

static void flaky_run(plugin *p, const char *patterns, const char *input, unsigned attempt, run *r)
{
    run_fn(p, "execute", r, input, NULL, patterns, attempt);
}

static void test_flaky(void **state)
{
    plugin *p = load_ok(path_in(ship_dir, "flaky.so"));
    assert_string_equal(p->description, "Test skill whose fidelity and errors follow its input");
    char *patterns = flaky_patterns(p);
    json_t *parr = json_loads(patterns, 0, NULL);
    assert_int_equal(json_array_size(parr), 20);
    assert_string_equal(json_string_value(json_array_get(parr, 19)), "s20");
    json_decref(parr);

    run r;
    flaky_run(p, patterns, "{}", 1, &r);
    assert_int_equal(r.call.nsteps, 20);
    assert_true(json_real_value(json_object_get(r.out, "confidence")) == 1.0);
    assert_int_equal(json_integer_value(json_object_get(r.out, "attempt")), 1);
    assert_string_equal(json_string_value(json_object_get(r.out, "decision")), "ok");
    run_done(&r);

    const char *by_attempt = "{\"fidelity_by_attempt\":[0.5,0.95],\"note\":\"kept\"}";
    flaky_run(p, patterns, by_attempt, 1, &r);
    assert_int_equal(r.call.nsteps, 10);
    assert_string_equal(r.call.steps[0], "s1");
    assert_string_equal(r.call.steps[9], "s10");
    assert_true(json_real_value(json_object_get(r.out, "confidence")) == 0.5);
    json_t *sent = json_loads(by_attempt, 0, NULL);
    assert_true(json_equal(json_object_get(r.out, "echo"), sent));
    json_decref(sent);
    run_done(&r);

    flaky_run(p, patterns, by_attempt, 2, &r);
    assert_int_equal(r.call.nsteps, 19);
    assert_string_equal(r.call.steps[18], "s19");
    assert_int_equal(json_integer_value(json_object_get(r.out, "attempt")), 2);
    assert_non_null(strstr(r.call.output, "\"confidence\":0.95}"));
    run_done(&r);

    /* The last element repeats. */
    flaky_run(p, patterns, by_attempt, 5, &r);
    assert_int_equal(r.call.nsteps, 19);
    run_done(&r);

    /* Errors by attempt: the steps are followed first, then the failure. */
    const char *errs = "{\"error_by_attempt\":[\"network\",null,\"rate_limit\"]}";
    flaky_run(p, patterns, errs, 1, &r);
    assert_failed(&r, SKH_ERR_NETWORK, "flaky: injected network error on attempt 1");
    assert_int_equal(r.call.nsteps, 20);
    run_done(&r);
    flaky_run(p, patterns, errs, 2, &r);
    assert_non_null(r.out);
    run_done(&r);
    flaky_run(p, patterns, errs, 4, &r);
    assert_failed(&r, SKH_ERR_RATE_LIMIT, "flaky: injected rate_limit error on attempt 4");
    run_done(&r);

    flaky_run(p, patterns, "{\"error_by_attempt\":[\"bogus\"]}", 1, &r);
    assert_failed(&r, SKH_ERR_VALIDATION, "flaky: unknown error category \"bogus\" on attempt 1");
    assert_int_equal(r.call.nsteps, 0);
    run_done(&r);

    flaky_run(p, patterns, "{\"fidelity_by_attempt\":[0]}", 1, &r);
    assert_int_equal(r.call.nsteps, 0);
    run_done(&r);
    flaky_run(p, "[]", "{\"fidelity_by_attempt\":[0.5]}", 1, &r);
    assert_int_equal(r.call.nsteps, 0);
    run_done(&r);

    free(patterns);
    plugin_close(p);
}

/* ---- built-in scorers ------------------------------------------------------ */

static void test_builtin_load(void **state)
{
    plugin *p = NULL;
    skh_error err = {0};
    assert_int_equal(plugin_builtin_load("pattern_fidelity", &p, &err), SKH_OK);
    assert_string_equal(p->path, "builtin:pattern_fidelity");
    assert_string_equal(p->sha256, "");
    assert_int_equal(p->kind, SKH_KIND_SCORER);
    assert_true(p->ops->has(p, "score"));
    assert_false(p->ops->has(p, "execute"));
    plugin_close(p);

    assert_int_equal(plugin_builtin_load("outcome", &p, &err), SKH_OK);
    assert_string_equal(p->name, "outcome");
    plugin_close(p);

    p = (plugin *)(uintptr_t)1;
    assert_int_equal(plugin_builtin_load("nope", &p, &err), SKH_EPLUGIN);
    assert_null(p);
}

static void score(plugin *p, const char *record, run *r)
{
    run_fn(p, "score", r, record, NULL, NULL, 1);
    if (!r->out)
        fail_msg("%s failed: %s", p->name, r->call.message);
}

static void fidelity_expect(plugin *p, const char *steps, const char *expected, double fid,
                            const char *followed, const char *missed, const char *failed_at)
{
    char record[1024];
    snprintf(record, sizeof record,
             "{\"input\":{},\"output\":{},\"steps\":%s,\"expected\":%s,\"error\":null,"
             "\"duration_ms\":3}",
             steps, expected);
    run r;
    score(p, record, &r);
    json_t *f = json_loads(followed, 0, NULL), *m = json_loads(missed, 0, NULL);
    assert_true(json_real_value(json_object_get(r.out, "pattern_fidelity")) == fid);
    assert_int_equal(json_integer_value(json_object_get(r.out, "patterns_followed")),
                     json_array_size(f));
    assert_int_equal(json_integer_value(json_object_get(r.out, "patterns_missed")),
                     json_array_size(m));
    assert_true(json_equal(json_object_get(r.out, "followed"), f));
    assert_true(json_equal(json_object_get(r.out, "missed"), m));
    json_t *at = json_object_get(r.out, "failed_at_step");
    if (failed_at)
        assert_string_equal(json_string_value(at), failed_at);
    else
        assert_true(json_is_null(at));
    json_decref(f);
    json_decref(m);
    run_done(&r);
}

static void test_pattern_fidelity(void **state)
{
    plugin *p = NULL;
    assert_int_equal(plugin_builtin_load("pattern_fidelity", &p, NULL), SKH_OK);
    fidelity_expect(p, "[\"a\",\"b\",\"c\"]", "[\"a\",\"b\",\"c\"]", 1.0, "[\"a\",\"b\",\"c\"]",
                    "[]", NULL);
    /* In order: c is searched after b, so the c before it does not count. */
    fidelity_expect(p, "[\"a\",\"c\",\"b\",\"d\"]", "[\"a\",\"b\",\"c\",\"d\"]", 0.75,
                    "[\"a\",\"b\",\"d\"]", "[\"c\"]", "c");
    /* A miss leaves the cursor where it was. */
    fidelity_expect(p, "[\"a\",\"d\"]", "[\"a\",\"x\",\"d\"]", 2.0 / 3.0, "[\"a\",\"d\"]",
                    "[\"x\"]", "x");
    /* Duplicates each need their own step. */
    fidelity_expect(p, "[\"a\",\"b\"]", "[\"a\",\"a\",\"b\"]", 2.0 / 3.0, "[\"a\",\"b\"]",
                    "[\"a\"]", "a");
    fidelity_expect(p, "[\"a\",\"a\",\"b\"]", "[\"a\",\"a\",\"b\"]", 1.0, "[\"a\",\"a\",\"b\"]",
                    "[]", NULL);
    fidelity_expect(p, "[\"a\"]", "[]", 1.0, "[]", "[]", NULL);
    fidelity_expect(p, "[]", "[\"r\",\"s\"]", 0.0, "[]", "[\"r\",\"s\"]", "r");

    run r;
    score(p, "{\"steps\":[\"a\",\"x\"],\"expected\":[\"a\",\"b\"],\"output\":null}", &r);
    assert_string_equal(r.call.output,
                        "{\"pattern_fidelity\":0.5,\"patterns_followed\":1,\"patterns_missed\":1,"
                        "\"followed\":[\"a\"],\"missed\":[\"b\"],\"failed_at_step\":\"b\"}");
    run_done(&r);

    run_fn(p, "score", &r, "{\"steps\":[1],\"expected\":[]}", NULL, NULL, 1);
    assert_int_equal(r.call.category, SKH_ERR_VALIDATION);
    run_done(&r);
    plugin_close(p);
}

static void outcome_expect(plugin *p, const char *record, const char *want)
{
    run r;
    score(p, record, &r);
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    if (!json_equal(r.out, w))
        fail_msg("outcome of %s: %s, want %s", record, r.call.output, want);
    json_decref(w);
    run_done(&r);
}

static void test_outcome(void **state)
{
    plugin *p = NULL;
    assert_int_equal(plugin_builtin_load("outcome", &p, NULL), SKH_OK);
    outcome_expect(p,
                   "{\"input\":{\"label\":\"spam\"},\"output\":{\"decision\":\"spam\","
                   "\"confidence\":0.97,\"reasoning\":\"two words\"},\"error\":null}",
                   "{\"decision\":\"spam\",\"confidence\":0.97,\"correct\":true,"
                   "\"reasoning\":\"two words\"}");
    outcome_expect(p,
                   "{\"input\":{\"label\":\"ham\"},\"output\":{\"decision\":\"spam\","
                   "\"confidence\":1},\"error\":null}",
                   "{\"decision\":\"spam\",\"confidence\":1.0,\"correct\":false,"
                   "\"reasoning\":null}");
    outcome_expect(p,
                   "{\"input\":{\"text\":\"x\"},\"output\":{\"decision\":\"ham\","
                   "\"confidence\":\"high\",\"reasoning\":7},\"error\":null}",
                   "{\"decision\":\"ham\",\"confidence\":null,\"correct\":null,"
                   "\"reasoning\":null}");
    outcome_expect(p,
                   "{\"input\":{\"label\":\"spam\"},\"output\":null,"
                   "\"error\":{\"category\":\"network\",\"message\":\"down\"}}",
                   "{\"decision\":\"\",\"confidence\":null,\"correct\":false,"
                   "\"reasoning\":null}");
    outcome_expect(p, "{\"input\":{},\"output\":null,\"error\":{\"category\":\"crash\"}}",
                   "{\"decision\":\"\",\"confidence\":null,\"correct\":null,\"reasoning\":null}");

    run r;
    score(p, "{\"input\":{},\"output\":{\"decision\":\"ok\",\"confidence\":0.97}}", &r);
    assert_string_equal(r.call.output, "{\"decision\":\"ok\",\"confidence\":0.97,\"correct\":null,"
                                       "\"reasoning\":null}");
    run_done(&r);

    run_fn(p, "score", &r, "not json", NULL, NULL, 1);
    assert_int_equal(r.call.category, SKH_ERR_VALIDATION);
    assert_non_null(strstr(r.call.message, "outcome: record is not JSON: line 1"));
    run_done(&r);
    plugin_close(p);
}

int main(void)
{
    find_dirs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_plugins_refused),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_trust_applied_when_asked),
        cmocka_unit_test(test_good_skill),
        cmocka_unit_test(test_plugin_must_finish),
        cmocka_unit_test(test_init_failure),
        cmocka_unit_test(test_keyword_classifier),
        cmocka_unit_test(test_flaky),
        cmocka_unit_test(test_builtin_load),
        cmocka_unit_test(test_pattern_fidelity),
        cmocka_unit_test(test_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
