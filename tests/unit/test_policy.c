/*
 * Policies: decisions through Lua files, reload on edit, errors that name
 * file and line, fallbacks, and the folder check.
 *
 * Every fixture is written by the test into a fresh mkdtemp folder, so a
 * test can edit, break and delete its policies freely.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"
#include "policy.h"

typedef struct fx {
    char dir[128];
    plugin_limits lim;
    policy_set *ps;
} fx;

/* A fixed, distinct mtime per write, so coarse file-system clocks cannot hide an edit. */
static time_t next_mtime = 1700000000;

static void write_at(const fx *f, const char *name, const char *text, time_t mtime)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    assert_int_equal(fputs(text, out) >= 0, 1);
    assert_int_equal(fclose(out), 0);
    chmod(path, 0644);
    struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void write_file(const fx *f, const char *name, const char *text)
{
    write_at(f, name, text, next_mtime++);
}

static void path_of(const fx *f, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", f->dir, name);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/skh_test_policy_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    plugin_limits_default(&f->lim);
    f->lim.check_trust = 0;
    f->lim.lua_instructions = 1000000;
    f->lim.lua_memory = 16u * 1024u * 1024u;
    skh_error err;
    if (policy_set_open(f->dir, &f->lim, &f->ps, &err) != SKH_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    policy_set_close(f->ps);
    int rc = nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

/* Decide and expect success; the decision is returned for the caller to decref. */
static json_t *decide_ok(policy_set *ps, const char *name, const char *fn, const char *facts,
                         policy_info *info)
{
    json_t *in = json_loads(facts, 0, NULL);
    assert_non_null(in);
    json_t *d = NULL;
    skh_error err;
    error_clear(&err);
    int rc = policy_decide(ps, name, fn, in, &d, info, &err);
    json_decref(in);
    if (rc != SKH_OK)
        fail_msg("policy %s.%s: %d: %s: %s", name, fn, rc, err.what, err.message);
    assert_non_null(d);
    assert_true(json_is_object(d));
    return d;
}

/* Decide and expect failure; err is filled. */
static int decide_info_err(policy_set *ps, const char *name, const char *fn, const char *facts,
                           policy_info *info, skh_error *err)
{
    json_t *in = json_loads(facts, 0, NULL);
    assert_non_null(in);
    json_t *d = (json_t *)1;
    error_clear(err);
    int rc = policy_decide(ps, name, fn, in, &d, info, err);
    json_decref(in);
    assert_null(d);
    assert_int_not_equal(rc, SKH_OK);
    assert_int_equal(err->code, rc);
    return rc;
}

static int decide_err(policy_set *ps, const char *name, const char *fn, const char *facts,
                      skh_error *err)
{
    return decide_info_err(ps, name, fn, facts, NULL, err);
}

static json_int_t int_field(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("field %s is not an integer", k);
    return json_integer_value(v);
}

static const char *str_field(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (!s)
        fail_msg("field %s is not a string", k);
    return s;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                               \
    } while (0)

/* ------------------------------------------------------------ decisions */

static const char recovery_lua[] =
    "return {\n"
    "    kind = 'policy', name = 'recovery', version = '1.2.0',\n"
    "    decide = function(f)\n"
    "        if f.category == 'network' and f.attempt < 5 then\n"
    "            return {action = 'retry', delay_ms = 500 * f.attempt}\n"
    "        end\n"
    "        return {action = 'fail', seen = f.category}\n"
    "    end,\n"
    "}\n";

static void test_decide(void **state)
{
    fx *f = *state;
    write_file(f, "recovery.lua", recovery_lua);
    char path[512];
    path_of(f, "recovery.lua", path, sizeof path);

    policy_info info;
    json_t *d =
        decide_ok(f->ps, "recovery", "decide", "{\"category\":\"network\",\"attempt\":1}", &info);
    assert_string_equal(str_field(d, "action"), "retry");
    assert_int_equal(int_field(d, "delay_ms"), 500);
    json_decref(d);
    assert_string_equal(info.path, path);
    assert_int_equal(strlen(info.sha256), 64);

    /* The facts reach the script. */
    d = decide_ok(f->ps, "recovery", "decide", "{\"category\":\"network\",\"attempt\":3}", NULL);
    assert_int_equal(int_field(d, "delay_ms"), 1500);
    json_decref(d);
    d = decide_ok(f->ps, "recovery", "decide", "{\"category\":\"authentication\",\"attempt\":1}",
                  NULL);
    assert_string_equal(str_field(d, "action"), "fail");
    assert_string_equal(str_field(d, "seen"), "authentication");
    json_decref(d);

    /* NULL facts are an empty object. */
    json_t *out = NULL;
    skh_error err;
    assert_int_equal(policy_decide(f->ps, "recovery", "decide", NULL, &out, NULL, &err), SKH_OK);
    assert_string_equal(str_field(out, "action"), "fail");
    json_decref(out);

    /* Facts that are not an object are the caller's mistake. */
    json_t *arr = json_array();
    assert_int_equal(policy_decide(f->ps, "recovery", "decide", arr, &out, NULL, &err), SKH_EINVAL);
    json_decref(arr);
    assert_null(out);
    assert_int_equal(policy_decide(f->ps, "Bad-Name", "decide", NULL, &out, NULL, &err),
                     SKH_EINVAL);
}

static void test_raises(void **state)
{
    fx *f = *state;
    write_file(f, "guard.lua",
               "return { kind = 'policy', name = 'guard', version = '1',\n"
               "  decide = function(f)\n"
               "    if f.boom then error('threshold missing') end\n"
               "    if f.net then error({category = 'network', message = 'no route'}) end\n"
               "    if f.number then return 42 end\n"
               "    if f.spin then while true do end end\n"
               "    return {ok = true}\n"
               "  end }\n");
    char path[512], where[600];
    path_of(f, "guard.lua", path, sizeof path);
    skh_error err;

    policy_info info;
    assert_int_equal(decide_info_err(f->ps, "guard", "decide", "{\"boom\":true}", &info, &err),
                     SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    assert_string_equal(err.what, path);
    /* The decisions table can still say which version failed. */
    assert_string_equal(info.path, path);
    assert_int_equal(strlen(info.sha256), 64);
    snprintf(where, sizeof where, "%s:3: ", path);
    assert_contains(err.message, where);
    assert_contains(err.message, "threshold missing");
    assert_null(strstr(err.message, "stack traceback"));

    /* A categorised raise is still a policy failure, and still names the file once. */
    assert_int_equal(decide_err(f->ps, "guard", "decide", "{\"net\":true}", &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    snprintf(where, sizeof where, "%s: no route", path);
    assert_string_equal(err.message, where);

    assert_int_equal(decide_err(f->ps, "guard", "decide", "{\"number\":true}", &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    assert_contains(err.message, "no table");
    assert_int_equal(strncmp(err.message, path, strlen(path)), 0);

    /* A runaway policy stops at the budget and decides nothing. */
    assert_int_equal(decide_err(f->ps, "guard", "decide", "{\"spin\":true}", &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    assert_contains(err.message, "instruction budget");

    /* The same state still answers afterwards. */
    json_t *d = decide_ok(f->ps, "guard", "decide", "{}", NULL);
    assert_true(json_is_true(json_object_get(d, "ok")));
    json_decref(d);
}

static const char threshold_fmt[] =
    "local calls = 0\n"
    "return { kind = 'policy', name = 'promotion', version = '%s',\n"
    "  decide = function(f)\n"
    "    calls = calls + 1\n"
    "    return {promote = f.fidelity >= %s, calls = calls}\n"
    "  end }\n";

static void write_threshold(const fx *f, const char *version, const char *threshold)
{
    char text[512];
    snprintf(text, sizeof text, threshold_fmt, version, threshold);
    write_file(f, "promotion.lua", text);
}

static void expect_promotion(const fx *f, int promote, json_int_t calls)
{
    json_t *d = decide_ok(f->ps, "promotion", "decide", "{\"fidelity\":0.85}", NULL);
    assert_int_equal(json_is_true(json_object_get(d, "promote")), promote);
    assert_int_equal(int_field(d, "calls"), calls);
    json_decref(d);
}

static void test_reload_on_edit(void **state)
{
    fx *f = *state;
    write_threshold(f, "1", "0.90");
    expect_promotion(f, 0, 1);
    /* Unchanged: the warm state answers again (its counter goes on). */
    expect_promotion(f, 0, 2);

    /* Same size, same inode, new content: only the mtime tells. */
    char path[512];
    path_of(f, "promotion.lua", path, sizeof path);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    write_threshold(f, "1", "0.80");
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    expect_promotion(f, 1, 1);
    expect_promotion(f, 1, 2);

    /* A broken edit is an error, every time, never the stale version. */
    write_file(f, "promotion.lua",
               "return { kind = 'policy', name = 'promotion', version = '2',\n"
               "  decide = function(f)\n"
               "    return {promote = f.fidelity >= }\n"
               "  end }\n");
    char where[600];
    snprintf(where, sizeof where, "%s:3:", path);
    for (int i = 0; i < 2; i++) {
        skh_error err;
        policy_info info;
        assert_int_equal(
            decide_info_err(f->ps, "promotion", "decide", "{\"fidelity\":0.85}", &info, &err),
            SKH_EPLUGIN);
        assert_string_equal(info.path, path);
        assert_string_equal(info.sha256, "");
        assert_int_equal(err.category, SKH_ERR_POLICY);
        assert_string_equal(err.what, path);
        assert_contains(err.message, where);
    }

    /* Fixed again: the next decision uses the fix. */
    write_threshold(f, "3", "0.95");
    expect_promotion(f, 0, 1);

    /* Replaced by a new file (a new inode, as editors do). */
    char tmp[512];
    path_of(f, "promotion.new", tmp, sizeof tmp);
    FILE *out = fopen(tmp, "w");
    assert_non_null(out);
    fprintf(out, threshold_fmt, "4", "0.50");
    assert_int_equal(fclose(out), 0);
    assert_int_equal(rename(tmp, path), 0);
    expect_promotion(f, 1, 1);
}

static void test_not_a_policy(void **state)
{
    fx *f = *state;
    write_file(f, "classify.lua",
               "return { kind = 'skill', name = 'classify', version = '1',\n"
               "  execute = function(input) return {label = 'x'} end }\n");
    char path[512], want[700];
    path_of(f, "classify.lua", path, sizeof path);
    skh_error err;
    assert_int_equal(decide_err(f->ps, "classify", "execute", "{}", &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    snprintf(want, sizeof want, "%s: is a skill plugin, not a policy", path);
    assert_string_equal(err.message, want);

    /* A missing function names itself and the file. */
    write_file(f, "recovery.lua", recovery_lua);
    path_of(f, "recovery.lua", path, sizeof path);
    assert_int_equal(decide_err(f->ps, "recovery", "evolve", "{}", &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    snprintf(want, sizeof want, "%s: no function 'evolve'", path);
    assert_string_equal(err.message, want);
}

static void test_missing_and_fallbacks(void **state)
{
    fx *f = *state;
    skh_error err;
    /* Neither a file nor a built-in. */
    policy_info info;
    assert_int_equal(decide_info_err(f->ps, "absent", "decide", "{}", &info, &err), SKH_EPLUGIN);
    assert_string_equal(info.path, "");
    assert_int_equal(err.category, SKH_ERR_POLICY);
    assert_string_equal(err.what, f->dir);
    assert_contains(err.message, "no policy absent in ");
    assert_contains(err.message, f->dir);

    /* No file: the built-in of that name is used (here a scorer, so refused as one). */
    assert_int_equal(decide_err(f->ps, "outcome", "decide", "{}", &err), SKH_EPLUGIN);
    assert_string_equal(err.message, "builtin:outcome: is a scorer plugin, not a policy");
    /* A file of that name takes precedence once it appears... */
    write_file(f, "outcome.lua",
               "return { kind = 'policy', name = 'outcome', version = '1',\n"
               "  decide = function() return {from = 'file'} end }\n");
    json_t *d = decide_ok(f->ps, "outcome", "decide", "{}", NULL);
    assert_string_equal(str_field(d, "from"), "file");
    json_decref(d);
    /* ...and once deleted, the built-in answers again. */
    char path[512];
    path_of(f, "outcome.lua", path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(decide_err(f->ps, "outcome", "decide", "{}", &err), SKH_EPLUGIN);
    assert_string_equal(err.message, "builtin:outcome: is a scorer plugin, not a policy");

    /* A loaded policy whose file is deleted is gone, not kept. */
    write_file(f, "recovery.lua", recovery_lua);
    d = decide_ok(f->ps, "recovery", "decide", "{}", NULL);
    json_decref(d);
    path_of(f, "recovery.lua", path, sizeof path);
    assert_int_equal(unlink(path), 0);
    json_t *maybe = NULL;
    int rc = policy_decide(f->ps, "recovery", "decide", NULL, &maybe, &info, &err);
    if (rc == SKH_OK) {
        /* A built-in recovery policy exists: it, not the deleted file, must answer. */
        assert_string_equal(info.path, "builtin:recovery");
        json_decref(maybe);
    } else {
        assert_int_equal(rc, SKH_EPLUGIN);
        assert_contains(err.message, "no policy recovery in ");
    }

    /* NAME.lua wins over NAME.so; a bad NAME.so alone is reported as the file it is. */
    write_file(f, "rollback.so", "not an elf");
    path_of(f, "rollback.so", path, sizeof path);
    assert_int_equal(decide_err(f->ps, "rollback", "decide", "{}", &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    assert_string_equal(err.what, path);
    assert_int_equal(strncmp(err.message, path, strlen(path)), 0);
    write_file(f, "rollback.lua",
               "return { kind = 'policy', name = 'rollback', version = '1',\n"
               "  decide = function() return {rollback = false} end }\n");
    d = decide_ok(f->ps, "rollback", "decide", "{}", &info);
    assert_false(json_is_true(json_object_get(d, "rollback")));
    json_decref(d);
    assert_true(strstr(info.path, "rollback.lua") != NULL);

    /* A folder that does not exist: only built-ins answer. */
    policy_set *none;
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/nowhere", f->dir);
    assert_int_equal(policy_set_open(nodir, &f->lim, &none, &err), SKH_OK);
    d = (json_t *)1;
    assert_int_equal(policy_decide(none, "absent", "decide", NULL, &d, NULL, &err), SKH_EPLUGIN);
    assert_null(d);
    assert_contains(err.message, nodir);
    policy_set_close(none);
}

/* The limits are copied, including the module path, and used for every load. */
static void test_limits_copied(void **state)
{
    fx *f = *state;
    char lib[600];
    snprintf(lib, sizeof lib, "%s/lib", f->dir);
    assert_int_equal(mkdir(lib, 0700), 0);
    write_file(f, "lib/limits.lua", "return {max_retries = 7}\n");
    write_file(f, "retries.lua",
               "local limits = require('limits')\n"
               "return { kind = 'policy', name = 'retries', version = '1',\n"
               "  decide = function() return {max = limits.max_retries} end }\n");

    plugin_limits lim = f->lim;
    char *path = strdup(lib);
    assert_non_null(path);
    lim.lua_path = path;
    policy_set *ps;
    skh_error err;
    assert_int_equal(policy_set_open(f->dir, &lim, &ps, &err), SKH_OK);
    memset(path, 'x', strlen(path));
    free(path);
    json_t *d = decide_ok(ps, "retries", "decide", "{}", NULL);
    assert_int_equal(int_field(d, "max"), 7);
    json_decref(d);
    policy_set_close(ps);

    /* The trust rules apply to policies too, and the reason names the file once. */
    lim = f->lim;
    lim.check_trust = 1;
    assert_int_equal(policy_set_open(f->dir, &lim, &ps, &err), SKH_OK);
    write_file(f, "recovery.lua", recovery_lua);
    char file[600], want[800];
    snprintf(file, sizeof file, "%s/recovery.lua", f->dir);
    assert_int_equal(chmod(file, 0666), 0);
    assert_int_equal(decide_err(ps, "recovery", "decide", "{}", &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    snprintf(want, sizeof want, "%s: refused: writable by others", file);
    assert_contains(err.message, want);
    /* chmod alone changes no mtime: a fixed file must still be picked up. */
    assert_int_equal(chmod(file, 0644), 0);
    d = decide_ok(ps, "recovery", "decide", "{}", NULL);
    json_decref(d);
    policy_set_close(ps);
}

/* ---------------------------------------------------------------- check */

static const json_t *entry(const json_t *report, size_t i)
{
    const json_t *e = json_array_get(report, i);
    assert_non_null(e);
    return e;
}

static void test_check_dir(void **state)
{
    fx *f = *state;
    write_file(f, "good.lua", recovery_lua);
    write_file(f, "bad_syntax.lua",
               "return { kind = 'policy', name = 'bad_syntax', version = '1',\n"
               "  decide = function(f) return {x = = 1} end }\n");
    write_file(f, "runtime_bad.lua",
               "return { kind = 'policy', name = 'runtime_bad', version = '0.3',\n"
               "  decide = function(f) error('only at run time') end }\n");
    write_file(f, "notes.txt", "not a policy");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/examples", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(f, "examples/strict.lua",
               "return { kind = 'policy', name = 'strict', version = '2.0',\n"
               "  decide = function(f) return {} end }\n");
    /* Deeper than one level is never looked at. */
    snprintf(sub, sizeof sub, "%s/examples/deeper", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(f, "examples/deeper/broken.lua", "return {");

    json_t *report = NULL;
    int failed = -1;
    skh_error err;
    assert_int_equal(policy_check_dir(f->dir, &f->lim, 0, &report, &failed, &err), SKH_OK);
    assert_int_equal(failed, 1);
    assert_int_equal(json_array_size(report), 3);

    char path[600], where[700];
    const json_t *e = entry(report, 0);
    snprintf(path, sizeof path, "%s/bad_syntax.lua", f->dir);
    assert_string_equal(str_field(e, "file"), path);
    assert_false(json_is_true(json_object_get(e, "ok")));
    snprintf(where, sizeof where, "%s:2:", path);
    assert_int_equal(strncmp(str_field(e, "error"), where, strlen(where)), 0);

    e = entry(report, 1);
    snprintf(path, sizeof path, "%s/good.lua", f->dir);
    assert_string_equal(str_field(e, "file"), path);
    assert_true(json_is_true(json_object_get(e, "ok")));
    assert_string_equal(str_field(e, "kind"), "policy");
    assert_string_equal(str_field(e, "name"), "recovery");
    assert_string_equal(str_field(e, "version"), "1.2.0");

    e = entry(report, 2);
    assert_string_equal(str_field(e, "name"), "runtime_bad");
    assert_true(json_is_true(json_object_get(e, "ok")));
    json_decref(report);

    /* recurse: one level of subfolders, after the folder's own files. */
    assert_int_equal(policy_check_dir(f->dir, &f->lim, 1, &report, &failed, &err), SKH_OK);
    assert_int_equal(failed, 1);
    assert_int_equal(json_array_size(report), 4);
    e = entry(report, 3);
    snprintf(path, sizeof path, "%s/examples/strict.lua", f->dir);
    assert_string_equal(str_field(e, "file"), path);
    assert_string_equal(str_field(e, "version"), "2.0");
    json_decref(report);

    /* A skill file is a failure of the check. */
    write_file(f, "skill.lua",
               "return { kind = 'skill', name = 'skill', version = '1',\n"
               "  execute = function() return {} end }\n");
    assert_int_equal(policy_check_dir(f->dir, &f->lim, 0, &report, &failed, &err), SKH_OK);
    assert_int_equal(failed, 2);
    e = entry(report, 3);
    snprintf(path, sizeof path, "%s/skill.lua: is a skill plugin, not a policy", f->dir);
    assert_string_equal(str_field(e, "error"), path);
    json_decref(report);

    /* An empty folder checks clean. */
    snprintf(sub, sizeof sub, "%s/empty", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(policy_check_dir(sub, &f->lim, 1, &report, &failed, &err), SKH_OK);
    assert_int_equal(json_array_size(report), 0);
    assert_int_equal(failed, 0);
    json_decref(report);

    /* A missing folder. */
    snprintf(sub, sizeof sub, "%s/nowhere", f->dir);
    report = (json_t *)1;
    assert_int_equal(policy_check_dir(sub, &f->lim, 1, &report, &failed, &err), SKH_ENOTFOUND);
    assert_null(report);
    assert_string_equal(err.what, sub);
    assert_string_equal(err.message, "no such folder");
}

/* A brief answer keeps its plain members; the explanation crosses only with an action. */
static void test_brief_answer(void **state)
{
    fx *f = *state;
    write_file(f, "rollback.lua",
               "return { kind = 'policy', name = 'rollback', version = '1',\n"
               "  decide = function(facts)\n"
               "    return { action = facts.act, verdict = facts.act and 'rollback' or 'ok',\n"
               "             n = 3, checks = { { name = 'fidelity', status = 'pass' } },\n"
               "             thresholds = { min = 0.85 } }\n"
               "  end }\n");
    const char *const facts[] = {"{}", "{\"act\":\"rollback\"}"};
    for (int acts = 0; acts < 2; acts++) {
        json_t *in = json_loads(facts[acts], 0, NULL), *d = NULL;
        skh_error err;
        error_clear(&err);
        assert_int_equal(
            policy_decide_brief(f->ps, "rollback", "decide", in, "action", &d, NULL, &err), SKH_OK);
        assert_string_equal(json_string_value(json_object_get(d, "verdict")),
                            acts ? "rollback" : "ok");
        assert_int_equal(int_field(d, "n"), 3);
        assert_int_equal(json_object_get(d, "checks") != NULL, acts);
        assert_int_equal(json_object_get(d, "thresholds") != NULL, acts);
        if (acts)
            assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(d, "checks"), 0), "name")),
                                "fidelity");
        json_decref(d);
        json_decref(in);
    }
    /* Without brief, the same answer comes whole. */
    json_t *d = decide_ok(f->ps, "rollback", "decide", "{}", NULL);
    assert_non_null(json_object_get(d, "checks"));
    json_decref(d);
}

/* ---------------------------------------------------------------- shadows */

typedef struct seen_shadow {
    int calls;
    char live[64], shadow[64], error[512], file[600];
    char facts[256];
} seen_shadow;

static void on_shadow(void *ctx, const policy_shadow *s)
{
    seen_shadow *w = ctx;
    w->calls++;
    const char *lv = s->live ? json_string_value(json_object_get(s->live, "action")) : "error";
    const char *sv = s->shadow ? json_string_value(json_object_get(s->shadow, "action")) : "error";
    snprintf(w->live, sizeof w->live, "%s", lv ? lv : "none");
    snprintf(w->shadow, sizeof w->shadow, "%s", sv ? sv : "none");
    snprintf(w->error, sizeof w->error, "%s", s->shadow_error ? s->shadow_error : "");
    snprintf(w->file, sizeof w->file, "%s", s->shadow_info->path);
    char *t = s->facts ? json_dumps(s->facts, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(w->facts, sizeof w->facts, "%s", t ? t : "");
    free(t);
}

static const char threshold_lua[] =
    "return { kind = 'policy', name = 'gate', version = '1',\n"
    "  decide = function(f) if f.x > %d then return {action = 'act'} end return {} end }\n";

/*
 * Issue 15, item 3: a shadow runs on exactly the live policy's facts, its
 * answer goes to the callback and never replaces the live one; a failing or
 * runaway shadow changes nothing live; no file, no call.
 */
static void test_shadow(void **state)
{
    fx *f = *state;
    char text[512];
    snprintf(text, sizeof text, threshold_lua, 10);
    write_file(f, "gate.lua", text);
    seen_shadow w = {0};
    policy_set_on_shadow(f->ps, on_shadow, &w);

    /* No shadow file: the callback is never called. */
    json_t *d = decide_ok(f->ps, "gate", "decide", "{\"x\": 7}", NULL);
    json_decref(d);
    assert_int_equal(w.calls, 0);

    char shadow_dir[600];
    snprintf(shadow_dir, sizeof shadow_dir, "%s/shadow", f->dir);
    assert_int_equal(mkdir(shadow_dir, 0700), 0);
    snprintf(text, sizeof text, threshold_lua, 5);
    write_file(f, "shadow/gate.lua", text);
    d = decide_ok(f->ps, "gate", "decide", "{\"x\": 7}", NULL);
    assert_null(json_object_get(d, "action")); /* the live answer stands */
    json_decref(d);
    assert_int_equal(w.calls, 1);
    assert_string_equal(w.live, "none");
    assert_string_equal(w.shadow, "act");
    assert_string_equal(w.facts, "{\"x\":7}");
    char want[700];
    snprintf(want, sizeof want, "%s/shadow/gate.lua", f->dir);
    assert_string_equal(w.file, want);

    /* Brief calls are shadowed too; the shadow's answer comes whole. */
    json_t *in = json_loads("{\"x\": 20}", 0, NULL);
    d = NULL;
    skh_error err;
    assert_int_equal(policy_decide_brief(f->ps, "gate", "decide", in, "action", &d, NULL, &err),
                     SKH_OK);
    assert_int_equal(w.calls, 2);
    assert_string_equal(w.live, "act");
    assert_string_equal(w.shadow, "act");
    json_decref(d);
    json_decref(in);

    /* A broken shadow: the live answer and its code are untouched, the error is handed on. */
    write_file(f, "shadow/gate.lua", "return {\n");
    d = decide_ok(f->ps, "gate", "decide", "{\"x\": 20}", NULL);
    assert_string_equal(json_string_value(json_object_get(d, "action")), "act");
    json_decref(d);
    assert_int_equal(w.calls, 3);
    assert_string_equal(w.shadow, "error");
    assert_contains(w.error, "shadow/gate.lua:");

    /* A runaway shadow is stopped by its own budget; the live one still answers. */
    write_file(f, "shadow/gate.lua",
               "return { kind = 'policy', name = 'gate', version = '1',\n"
               "  decide = function(f) while true do end end }\n");
    d = decide_ok(f->ps, "gate", "decide", "{\"x\": 20}", NULL);
    assert_string_equal(json_string_value(json_object_get(d, "action")), "act");
    json_decref(d);
    assert_int_equal(w.calls, 4);
    assert_string_equal(w.shadow, "error");

    /* The live policy failing is shadowed as well (the shadow still answers). */
    snprintf(text, sizeof text, threshold_lua, 5);
    write_file(f, "shadow/gate.lua", text);
    write_file(f, "gate.lua",
               "return { kind = 'policy', name = 'gate', version = '1',\n"
               "  decide = function(f) error('live broke') end }\n");
    assert_int_equal(decide_err(f->ps, "gate", "decide", "{\"x\": 20}", &err), SKH_EPLUGIN);
    assert_int_equal(w.calls, 5);
    assert_string_equal(w.live, "error");
    assert_string_equal(w.shadow, "act");

    /* Without a callback nothing runs the shadow. */
    policy_set_on_shadow(f->ps, NULL, NULL);
    write_file(f, "gate.lua", text);
    d = decide_ok(f->ps, "gate", "decide", "{\"x\": 20}", NULL);
    json_decref(d);
    assert_int_equal(w.calls, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decide, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_on_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_copied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_brief_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow, setup, teardown),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
