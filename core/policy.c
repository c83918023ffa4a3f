/*
 * Policies (DESIGN §4): a small cache of loaded decision plugins keyed by
 * policy name, checked against the file on every decision so an operator's
 * edit takes effect on the next call, and a folder check that loads every
 * policy file without deciding anything.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "call.h"
#include "error.h"
#include "policy.h"

/*
 * One policy name: where it was found and the identity of the file when it
 * was loaded.  p is NULL when nothing is loaded (never yet, or the last load
 * failed), so a broken edit is never answered by the version before it.
 */
typedef struct policy_entry {
    char *name;
    char path[PATH_MAX]; /* the file, or "builtin:NAME"; "" when p is NULL */
    plugin *p;
    int is_file;
    struct timespec mtim;
    off_t size;
    ino_t ino;
    dev_t dev;
    /* policy_decide_memo's answers from the loaded file: fn + "\n" + facts -> answer. */
    json_t *memo;
} policy_entry;

#define MEMO_MAX 64 /* answers per policy; beyond it the memo starts over */

struct policy_set {
    char *dir; /* NULL: built-ins only */
    plugin_limits lim;
    char *lua_path; /* lim.lua_path points here */
    policy_entry *entries;
    size_t n, cap;
    /* Shadows: DIR/shadow as a set of its own (its own entries and budget), opened lazily. */
    policy_shadow_fn on_shadow;
    void *on_shadow_ctx;
    policy_set *shadow;
};

/* ------------------------------------------------------------ helpers */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Loader messages usually start with the file already ("F:3: ..."); some
 * (trust, dlopen, a categorised raise) do not.  Every policy error reads
 * "FILE...: reason" exactly once.
 */
static void with_file(char *buf, size_t len, const char *file, const char *msg)
{
    size_t n = strlen(file);
    if (strncmp(msg, file, n) == 0 && (msg[n] == ':' || msg[n] == '\0'))
        snprintf(buf, len, "%s", msg);
    else
        snprintf(buf, len, "%s: %s", file, msg);
}

/* A policy failure: SKH_EPLUGIN (or SKH_ENOMEM) with category policy, message naming the file. */
static int policy_fail(skh_error *err, int code, const char *file, const char *msg)
{
    char buf[sizeof err->message];
    if (!err)
        return code;
    with_file(buf, sizeof buf, file, msg);
    return error_set_category(err, code == SKH_ENOMEM ? SKH_ENOMEM : SKH_EPLUGIN, SKH_ERR_POLICY,
                              file, "%s", buf);
}

static int join_path(char *buf, size_t len, const char *dir, const char *name, const char *ext)
{
    return snprintf(buf, len, "%s/%s%s", dir, name, ext) < (int)len;
}

/* ---------------------------------------------------------------- the set */

int policy_set_open(const char *dir, const plugin_limits *lim, policy_set **out, skh_error *err)
{
    *out = NULL;
    policy_set *ps = calloc(1, sizeof *ps);
    if (!ps)
        return error_set(err, SKH_ENOMEM, "policies", "out of memory");
    if (lim)
        ps->lim = *lim;
    else
        plugin_limits_default(&ps->lim);
    /*
     * Policies are the operator's own code, run in process (DESIGN §3.2),
     * each call bounded by the policy time limit rather than a request's.
     */
    ps->lim.isolation = PLUGIN_ISOLATION_INLINE;
    if (ps->lim.policy_timeout_ms > 0)
        ps->lim.timeout_ms = ps->lim.policy_timeout_ms;
    /* The limits are copied; the string they point to must be too. */
    if (ps->lim.lua_path && !(ps->lua_path = strdup(ps->lim.lua_path)))
        goto nomem;
    ps->lim.lua_path = ps->lua_path;
    if (dir && !(ps->dir = strdup(dir)))
        goto nomem;
    *out = ps;
    return SKH_OK;
nomem:
    policy_set_close(ps);
    return error_set(err, SKH_ENOMEM, "policies", "out of memory");
}

static void entry_unload(policy_entry *e)
{
    plugin_close(e->p);
    e->p = NULL;
    json_decref(e->memo);
    e->memo = NULL;
    e->path[0] = '\0';
    e->is_file = 0;
}

void policy_set_close(policy_set *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++) {
        entry_unload(&ps->entries[i]);
        free(ps->entries[i].name);
    }
    free(ps->entries);
    free(ps->dir);
    free(ps->lua_path);
    policy_set_close(ps->shadow);
    free(ps);
}

void policy_set_on_shadow(policy_set *ps, policy_shadow_fn fn, void *ctx)
{
    ps->on_shadow = fn;
    ps->on_shadow_ctx = ctx;
}

static int entry_find(policy_set *ps, const char *name, policy_entry **out, skh_error *err)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->entries[i].name, name) == 0) {
            *out = &ps->entries[i];
            return SKH_OK;
        }
    }
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        policy_entry *grown = realloc(ps->entries, cap * sizeof *grown);
        if (!grown)
            return error_set(err, SKH_ENOMEM, name, "out of memory");
        ps->entries = grown;
        ps->cap = cap;
    }
    policy_entry *e = &ps->entries[ps->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return error_set(err, SKH_ENOMEM, name, "out of memory");
    ps->n++;
    *out = e;
    return SKH_OK;
}

/*
 * Which source answers for name right now: DIR/NAME.lua, else DIR/NAME.so
 * (*st filled), else "builtin:NAME" (*is_file 0).
 */
static int resolve(const policy_set *ps, const char *name, char *path, size_t len, int *is_file,
                   struct stat *st, skh_error *err)
{
    static const char *const exts[] = {".lua", ".so"};
    *is_file = 0;
    for (size_t i = 0; ps->dir && i < sizeof exts / sizeof exts[0]; i++) {
        if (!join_path(path, len, ps->dir, name, exts[i]))
            return error_set_category(err, SKH_EINVAL, SKH_ERR_POLICY, ps->dir,
                                      "policy path for '%s' is too long", name);
        if (stat(path, st) == 0) {
            *is_file = 1;
            return SKH_OK;
        }
    }
    snprintf(path, len, "builtin:%s", name);
    return SKH_OK;
}

static int same_file(const policy_entry *e, const struct stat *st)
{
    return e->mtim.tv_sec == st->st_mtim.tv_sec && e->mtim.tv_nsec == st->st_mtim.tv_nsec &&
           e->size == st->st_size && e->ino == st->st_ino && e->dev == st->st_dev;
}

/*
 * Make e hold the current version of policy name, loading or reloading as
 * needed.  tried (PATH_MAX bytes) receives the file or built-in tried, even
 * when it fails to load.
 */
static int entry_refresh(policy_set *ps, policy_entry *e, char *tried, skh_error *err)
{
    char path[PATH_MAX];
    int is_file;
    struct stat st;
    int rc = resolve(ps, e->name, path, sizeof path, &is_file, &st, err);
    if (rc)
        return rc;
    snprintf(tried, PATH_MAX, "%s", path);
    if (e->p && strcmp(e->path, path) == 0 && e->is_file == is_file &&
        (!is_file || same_file(e, &st)))
        return SKH_OK;

    /* Changed, gone or never loaded: whatever was there no longer answers. */
    entry_unload(e);
    plugin *p = NULL;
    skh_error lerr;
    error_clear(&lerr);
    if (is_file) {
        rc = plugin_load(path, &ps->lim, &p, &lerr);
    } else {
        rc = plugin_builtin_load(e->name, &p, &lerr);
        if (rc == SKH_EPLUGIN) {
            tried[0] = '\0';
            if (ps->dir)
                return error_set_category(err, SKH_EPLUGIN, SKH_ERR_POLICY, ps->dir,
                                          "no policy %s in %s (no %s.lua, %s.so or built-in)",
                                          e->name, ps->dir, e->name, e->name);
            return error_set_category(err, SKH_EPLUGIN, SKH_ERR_POLICY, e->name,
                                      "no built-in policy %s and no policies folder", e->name);
        }
    }
    if (rc)
        return policy_fail(err, rc, path, lerr.message);
    if (p->kind != SKH_KIND_POLICY) {
        char msg[256];
        snprintf(msg, sizeof msg, "is a %s plugin, not a policy", plugin_kind_name(p->kind));
        plugin_close(p);
        return policy_fail(err, SKH_EPLUGIN, path, msg);
    }
    e->p = p;
    snprintf(e->path, sizeof e->path, "%s", path);
    e->is_file = is_file;
    if (is_file) {
        /* The identity seen before loading: an edit racing the load is caught next call. */
        e->mtim = st.st_mtim;
        e->size = st.st_size;
        e->ino = st.st_ino;
        e->dev = st.st_dev;
    }
    return SKH_OK;
}

/* Run fn on the facts and check that it answered with an object. */
/*
 * Run fn on facts.  A loader that takes JSON values (Lua) gets the facts as
 * they are and hands its table back as one; the others get text.
 */
static int run_decision(plugin *p, const char *name, const char *fn, json_t *facts,
                        const char *brief_unless, json_t **decision, skh_error *err)
{
    skh_call call;
    skh_error ierr;
    char msg[sizeof ierr.message];
    char *text = NULL;
    json_t *d = NULL;
    error_clear(&ierr);
    int rc;
    if (p->ops->invoke_json) {
        call_init(&call, "{}", "", "[]", 1, name);
        call.brief_unless = brief_unless;
        rc = p->ops->invoke_json(p, fn, facts, &call, &d, &ierr);
    } else {
        if (!(text = json_dumps(facts, SKH_JSON_FLAGS)))
            return error_set_category(err, SKH_ENOMEM, SKH_ERR_POLICY, name, "out of memory");
        call_init(&call, text, "", "[]", 1, name);
        rc = p->ops->invoke(p, fn, &call, &ierr);
    }
    if (rc) {
        rc = policy_fail(err, rc, p->path, ierr.message);
    } else if (call.oom) {
        rc = error_set_category(err, SKH_ENOMEM, SKH_ERR_POLICY, p->path,
                                "out of memory recording the decision of %s", fn);
    } else if (call.category != SKH_ERR_NONE) {
        /* Whatever the script raised, to the caller it is a policy failure: fail safe. */
        rc = policy_fail(err, SKH_EPLUGIN, p->path, call.message ? call.message : "");
    } else if (!d && !call.output) {
        snprintf(msg, sizeof msg, "%s returned no decision", fn);
        rc = policy_fail(err, SKH_EPLUGIN, p->path, msg);
    } else {
        json_error_t jerr;
        if (!d && !(d = json_loads(call.output, JSON_DECODE_ANY, &jerr))) {
            snprintf(msg, sizeof msg, "%s returned invalid JSON: %s", fn, jerr.text);
            rc = policy_fail(err, SKH_EPLUGIN, p->path, msg);
        } else if (!json_is_object(d)) {
            snprintf(msg, sizeof msg, "%s returned a JSON %s, not a table", fn,
                     json_is_array(d) ? "array" : "scalar");
            rc = policy_fail(err, SKH_EPLUGIN, p->path, msg);
        } else {
            *decision = d;
            d = NULL;
        }
    }
    json_decref(d);
    call_release(&call);
    free(text);
    return rc;
}

/* The loaded, current entry of name that has fn, with info filled. */
static int entry_ready(policy_set *ps, const char *name, const char *fn, json_t *facts,
                       policy_entry **out, policy_info *info, skh_error *err)
{
    info->path[0] = '\0';
    info->sha256[0] = '\0';
    if (!name_is_valid(name))
        return error_set_category(err, SKH_EINVAL, SKH_ERR_POLICY, "policy",
                                  "name '%s' must match [a-z0-9_]{1,64}", name ? name : "(null)");
    if (!fn || !*fn)
        return error_set_category(err, SKH_EINVAL, SKH_ERR_POLICY, name,
                                  "no decision function named");
    if (facts && !json_is_object(facts))
        return error_set_category(err, SKH_EINVAL, SKH_ERR_POLICY, name,
                                  "the facts must be a JSON object");

    policy_entry *e = NULL;
    int rc = entry_find(ps, name, &e, err);
    if (rc == SKH_OK)
        rc = entry_refresh(ps, e, info->path, err);
    if (rc) {
        if (err && err->code == rc)
            err->category = SKH_ERR_POLICY;
        return rc;
    }
    snprintf(info->sha256, sizeof info->sha256, "%s", e->p->sha256);
    if (!e->p->ops->has(e->p, fn)) {
        char msg[128];
        snprintf(msg, sizeof msg, "no function '%s'", fn);
        return policy_fail(err, SKH_EPLUGIN, e->p->path, msg);
    }
    *out = e;
    return SKH_OK;
}

static int decide_entry(policy_entry *e, const char *name, const char *fn, json_t *facts,
                        const char *brief_unless, json_t **decision, skh_error *err)
{
    json_t *none = facts ? NULL : json_object();
    if (!facts && !none)
        return error_set_category(err, SKH_ENOMEM, SKH_ERR_POLICY, name, "out of memory");
    int rc = run_decision(e->p, name, fn, facts ? facts : none, brief_unless, decision, err);
    json_decref(none);
    return rc;
}

/*
 * Is there a shadow file for name?  Only files count: a built-in has no
 * shadow.  Without a shadow folder this costs one stat() per decision.
 */
static int shadow_exists(const policy_set *ps, const char *name)
{
    static const char *const exts[] = {".lua", ".so"};
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/shadow", ps->dir) >= (int)sizeof path ||
        stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (snprintf(path, sizeof path, "%s/shadow/%s%s", ps->dir, name, exts[i]) <
                (int)sizeof path &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    return 0;
}

/*
 * Run the shadow of name, if there is one, on the facts the live policy saw
 * and hand both answers to the callback.  Everything here is best effort:
 * the live answer and its code are already decided and stay as they are.
 */
static void run_shadow(policy_set *ps, const char *name, const char *fn, json_t *facts, int live_rc,
                       json_t *live, const policy_info *live_info, const skh_error *live_err)
{
    if (!ps->on_shadow || !ps->dir || !name_is_valid(name) || !shadow_exists(ps, name))
        return;
    if (!ps->shadow) {
        char dir[PATH_MAX];
        skh_error oerr;
        if (snprintf(dir, sizeof dir, "%s/shadow", ps->dir) >= (int)sizeof dir ||
            policy_set_open(dir, &ps->lim, &ps->shadow, &oerr) != SKH_OK)
            return;
    }
    policy_info sinfo;
    policy_entry *e = NULL;
    json_t *answer = NULL;
    skh_error serr;
    error_clear(&serr);
    int rc = entry_ready(ps->shadow, name, fn, facts, &e, &sinfo, &serr);
    if (rc == SKH_OK)
        rc = decide_entry(e, name, fn, facts, NULL, &answer, &serr);
    if (!sinfo.path[0])
        snprintf(sinfo.path, sizeof sinfo.path, "%s/shadow/%s", ps->dir, name);
    policy_shadow s = {.name = name,
                       .fn = fn,
                       .facts = facts,
                       .live = live_rc == SKH_OK ? live : NULL,
                       .live_error = live_rc == SKH_OK ? NULL
                                     : live_err        ? live_err->message
                                                       : "failed",
                       .live_info = live_info,
                       .shadow = rc == SKH_OK ? answer : NULL,
                       .shadow_error = rc == SKH_OK ? NULL : serr.message,
                       .shadow_info = &sinfo};
    ps->on_shadow(ps->on_shadow_ctx, &s);
    json_decref(answer);
}

int policy_decide(policy_set *ps, const char *name, const char *fn, json_t *facts,
                  json_t **decision, policy_info *info, skh_error *err)
{
    return policy_decide_brief(ps, name, fn, facts, NULL, decision, info, err);
}

int policy_decide_brief(policy_set *ps, const char *name, const char *fn, json_t *facts,
                        const char *unless, json_t **decision, policy_info *info, skh_error *err)
{
    policy_info scratch;
    policy_entry *e = NULL;
    skh_error own;
    *decision = NULL;
    if (!info)
        info = &scratch;
    if (!err)
        err = &own;
    int rc = entry_ready(ps, name, fn, facts, &e, info, err);
    if (rc == SKH_OK)
        rc = decide_entry(e, name, fn, facts, unless, decision, err);
    run_shadow(ps, name, fn, facts, rc, *decision, info, err);
    return rc;
}

int policy_decide_memo(policy_set *ps, const char *name, const char *fn, json_t *facts,
                       json_t **decision, policy_info *info, skh_error *err)
{
    policy_info scratch;
    policy_entry *e = NULL;
    *decision = NULL;
    int rc = entry_ready(ps, name, fn, facts, &e, info ? info : &scratch, err);
    if (rc)
        return rc;
    char *text = facts ? json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    char *key = NULL;
    if (!text || asprintf(&key, "%s\n%s", fn, text) < 0)
        key = NULL;
    free(text);
    json_t *known = key ? json_object_get(e->memo, key) : NULL;
    if (known) {
        free(key);
        *decision = json_incref(known);
        return SKH_OK;
    }
    rc = decide_entry(e, name, fn, facts, NULL, decision, err);
    /* The memo is only a saving: when it cannot grow, the answer still stands. */
    if (rc == SKH_OK && key && (e->memo || (e->memo = json_object()))) {
        if (json_object_size(e->memo) >= MEMO_MAX)
            json_object_clear(e->memo);
        json_object_set(e->memo, key, *decision);
    }
    free(key);
    return rc;
}

/* ------------------------------------------------------------ the check */

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static int list_add(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **grown = realloc(l->v, cap * sizeof *grown);
        if (!grown)
            return 0;
        l->v = grown;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return 0;
    l->n++;
    return 1;
}

static void list_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The policy files (and, into dirs, the subfolders) directly in dir, each sorted by name. */
static int scan_dir(const char *dir, name_list *files, name_list *dirs, skh_error *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return error_set(err, SKH_ENOTFOUND, dir,
                             errno == ENOENT ? "no such folder" : "not a folder");
        return error_set(err, SKH_EPLUGIN, dir, "cannot read folder: %s", strerror(errno));
    }
    struct dirent *de;
    char path[PATH_MAX];
    int rc = SKH_OK;
    errno = 0;
    while (rc == SKH_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int is_policy = ends_with(de->d_name, ".lua") || ends_with(de->d_name, ".so");
        if (!is_policy && !dirs)
            continue;
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
            stat(path, &st) != 0)
            st.st_mode = S_IFREG; /* let the loader say what is wrong with it */
        if (S_ISDIR(st.st_mode)) {
            if (dirs && !list_add(dirs, de->d_name))
                rc = error_set(err, SKH_ENOMEM, dir, "out of memory");
        } else if (is_policy && !list_add(files, de->d_name)) {
            rc = error_set(err, SKH_ENOMEM, dir, "out of memory");
        }
    }
    if (rc == SKH_OK && errno != 0)
        rc = error_set(err, SKH_EPLUGIN, dir, "cannot read folder: %s", strerror(errno));
    closedir(d);
    if (files->n > 1)
        qsort(files->v, files->n, sizeof *files->v, cmp_names);
    if (dirs && dirs->n > 1)
        qsort(dirs->v, dirs->n, sizeof *dirs->v, cmp_names);
    return rc;
}

/* Load one file (never run it) and describe it. */
static json_t *check_file(const char *path, const plugin_limits *lim)
{
    plugin *p = NULL;
    skh_error err;
    char msg[sizeof err.message + PATH_MAX];
    error_clear(&err);
    int rc = plugin_load(path, lim, &p, &err);
    json_t *j;
    if (rc == SKH_OK && p->kind == SKH_KIND_POLICY) {
        j = json_pack("{s:s, s:b, s:s, s:s, s:s}", "file", path, "ok", 1, "kind", "policy", "name",
                      p->name, "version", p->version);
    } else {
        if (rc == SKH_OK) {
            char why[128];
            snprintf(why, sizeof why, "is a %s plugin, not a policy", plugin_kind_name(p->kind));
            with_file(msg, sizeof msg, path, why);
        } else {
            with_file(msg, sizeof msg, path, err.message);
        }
        j = json_pack("{s:s, s:b, s:s}", "file", path, "ok", 0, "error", msg);
    }
    plugin_close(p);
    return j;
}

static int check_files(const char *dir, const name_list *files, const plugin_limits *lim,
                       json_t *report, int *failed, skh_error *err)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < files->n; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, files->v[i]) >= (int)sizeof path)
            return error_set(err, SKH_EINVAL, dir, "path too long for %s", files->v[i]);
        json_t *j = check_file(path, lim);
        if (!j || json_array_append_new(report, j) != 0)
            return error_set(err, SKH_ENOMEM, path, "out of memory");
        if (!json_is_true(json_object_get(j, "ok")))
            (*failed)++;
    }
    return SKH_OK;
}

int policy_check_dir(const char *dir, const plugin_limits *lim, int recurse, json_t **report,
                     int *failed, skh_error *err)
{
    name_list files = {0}, dirs = {0}, sub = {0};
    char subdir[PATH_MAX];
    *report = NULL;
    *failed = 0;
    if (!dir || !*dir)
        return error_set(err, SKH_EINVAL, "policies", "no policies folder given");
    json_t *r = json_array();
    if (!r)
        return error_set(err, SKH_ENOMEM, dir, "out of memory");
    int rc = scan_dir(dir, &files, recurse ? &dirs : NULL, err);
    if (rc == SKH_OK)
        rc = check_files(dir, &files, lim, r, failed, err);
    for (size_t i = 0; rc == SKH_OK && i < dirs.n; i++) {
        if (snprintf(subdir, sizeof subdir, "%s/%s", dir, dirs.v[i]) >= (int)sizeof subdir) {
            rc = error_set(err, SKH_EINVAL, dir, "path too long for %s", dirs.v[i]);
            break;
        }
        rc = scan_dir(subdir, &sub, NULL, err);
        if (rc == SKH_OK)
            rc = check_files(subdir, &sub, lim, r, failed, err);
        list_free(&sub);
    }
    list_free(&files);
    list_free(&dirs);
    list_free(&sub);
    if (rc) {
        json_decref(r);
        *failed = 0;
        return rc;
    }
    *report = r;
    return SKH_OK;
}
