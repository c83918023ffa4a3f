/* The workspace fixture the unit tests share; see fixture.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fixture.h"

/* ---- the source tree and temporary folders -------------------------------------------- */

const char *fixture_srcdir(void)
{
    static char dir[PATH_MAX];
    const char *top = getenv("top_srcdir");
    if (top && *top)
        return top;
    const char *file = __FILE__, *at = strstr(file, "tests/unit/fixture.c");
    int n = at ? (int)(at - file) : 0;
    while (n > 1 && file[n - 1] == '/')
        n--;
    snprintf(dir, sizeof dir, "%.*s", n, file);
    return dir[0] ? dir : ".";
}

int fixture_tmpdir(char *dir, size_t n, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    int len = snprintf(dir, n, "%s/skh-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (len < 0 || (size_t)len >= n || !mkdtemp(dir)) {
        if (n)
            dir[0] = '\0';
        return -1;
    }
    return 0;
}

/* Pre-order: give every folder back to its owner so its entries can go. */
static int rm_open(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, (sb->st_mode & 07777) | S_IRWXU);
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) {
        fprintf(stderr, "could not remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int fixture_rmtree(const char *dir)
{
    if (!dir || !dir[0])
        return 0;
    if (nftw(dir, rm_open, 16, FTW_PHYS) != 0 ||
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
        return -1;
    }
    return 0;
}

/* ---- files --------------------------------------------------------------------------- */

static int put_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    int bad = fputs(text, fp) < 0;
    bad |= fclose(fp) != 0;
    return bad ? -1 : chmod(path, mode);
}

void write_file(const char *path, const char *text, mode_t mode)
{
    if (put_file(path, text, mode) != 0)
        fail_msg("cannot write %s: %s", path, strerror(errno));
}

char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t got;
    while ((got = fread(b + len, 1, cap - len - 1, fp)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    fclose(fp);
    b[len] = '\0';
    return b;
}

void copy_replacing(const char *src, const char *dst, const char *from, const char *to)
{
    char *text = slurp(src);
    if (!text)
        fail_msg("cannot read %s", src);
    char *at = strstr(text, from);
    if (!at) {
        free(text);
        fail_msg("%s lacks '%s'", src, from);
    }
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    free(text);
    int rc = put_file(dst, out, 0644);
    free(out);
    if (rc != 0)
        fail_msg("cannot write %s: %s", dst, strerror(errno));
}

/* Every *.lua of the shipped policies into dir; 0 or -1. */
static int copy_policies(const char *dir)
{
    char from[PATH_MAX];
    snprintf(from, sizeof from, "%s/policies", fixture_srcdir());
    DIR *d = opendir(from);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0)
            continue;
        char src[PATH_MAX + 256], dst[PATH_MAX + 256];
        snprintf(src, sizeof src, "%s/%s", from, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", dir, e->d_name);
        char *text = slurp(src);
        rc = text ? put_file(dst, text, 0644) : -1;
        free(text);
    }
    closedir(d);
    return rc;
}

/* ---- a host on a temporary workspace --------------------------------------------------- */

/* Nothing from the caller's environment may change what a test measures. */
static void clean_env(void)
{
    static const char *const vars[] = {"SKILLHOST_REACT_MODE", "SKILLHOST_REACT_MAX_ITER",
                                       "SKILLHOST_REACT_FIDELITY", "SKILLHOST_EVOLVE_AUTO",
                                       "SKILLHOST_EVOLVE_WINDOW"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    if (!getenv("SKILLHOST_PLUGIN_PATH")) {
        char pp[PATH_MAX + 32];
        snprintf(pp, sizeof pp, "plugins/.libs:%s/plugins", fixture_srcdir());
        setenv("SKILLHOST_PLUGIN_PATH", pp, 1);
    }
}

int fixture_setup(void **state, const fixture_options *o)
{
    fixture *f = calloc(1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    clean_env();
    if (fixture_tmpdir(f->dir, sizeof f->dir, o->name) != 0) {
        free(f);
        *state = NULL;
        return -1;
    }
    snprintf(f->ws, sizeof f->ws, "%s/ws", f->dir);
    snprintf(f->db, sizeof f->db, "%s/skillhost.db", f->ws);
    int bad = 0;
    if (o->policies == FIXTURE_POLICIES_SHIPPED) {
        snprintf(f->policies, sizeof f->policies, "%s/policies", fixture_srcdir());
    } else {
        snprintf(f->policies, sizeof f->policies, "%s/policies", f->dir);
        bad = mkdir(f->policies, 0755) != 0;
        if (!bad && o->policies == FIXTURE_POLICIES_COPY)
            bad = copy_policies(f->policies) != 0;
    }
    if (!bad && o->skill_file) {
        snprintf(f->skill_lua, sizeof f->skill_lua, "%s/%s", f->dir, o->skill_file);
        bad = put_file(f->skill_lua, o->skill_text, 0644) != 0;
    }
    f->impl = o->impl ? o->impl : f->skill_lua;
    if (bad || open_host(f, NULL) != SKH_OK) {
        fprintf(stderr, "fixture %s: setup failed\n", f->dir);
        fixture_teardown(state); /* cmocka skips the teardown when the setup fails */
        return -1;
    }
    return 0;
}

int fixture_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    skh_host_close(f->host);
    int rc = fixture_rmtree(f->dir);
    free(f);
    *state = NULL;
    return rc;
}

int fixture_open(const fixture *f, const char *policies, skh_host **out)
{
    skh_host_options o = {.struct_size = sizeof o,
                          .db_path = f->db,
                          .policies_dir = policies ? policies : f->policies,
                          .create = 1};
    skh_error err;
    int rc = skh_host_open(&o, out, &err);
    if (rc)
        fprintf(stderr, "skh_host_open: %s: %s\n", err.what, err.message);
    return rc;
}

int open_host(fixture *f, const char *policies)
{
    return fixture_open(f, policies, &f->host);
}

char *add(fixture *f, const char *skill, const char *content, const char *state)
{
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = skill,
                             .impl = f->impl,
                             .content = content,
                             .state = state};
    char *id = NULL;
    skh_error err;
    if (skh_variant_add(f->host, &spec, &id, &err))
        fail_msg("variant add %s: %s: %s", skill, err.what, err.message);
    return id;
}

char *served_by(fixture *f, const char *skill, const char *input, const skh_exec_options *o)
{
    skh_result *r = NULL;
    skh_error err;
    int rc = skh_execute(f->host, skill, input, o, &r, &err);
    if (rc != SKH_OK && rc != SKH_EFAILED)
        fail_msg("execute %s: %s: %s", skill, err.what, err.message);
    assert_non_null(r);
    char *v = strdup(skh_result_variant(r));
    skh_result_free(r);
    assert_non_null(v);
    return v;
}

/* ---- the database as the seeds' own code sees it --------------------------------------- */

sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        fail_msg("%s: %s", path, msg);
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(db);
        fail_msg("%s: %s", sql, copy);
    }
    sqlite3_close(db);
}

char *q_text(const fixture *f, const char *sql, const char *arg)
{
    sqlite3 *db = raw_open(f->db);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        fail_msg("%s: %s", sql, msg);
    }
    if (arg)
        sqlite3_bind_text(s, 1, arg, -1, SQLITE_TRANSIENT);
    char *out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        out = strdup((const char *)sqlite3_column_text(s, 0));
    else
        out = strdup("");
    sqlite3_finalize(s);
    sqlite3_close(db);
    assert_non_null(out);
    return out;
}

long long q_int(const fixture *f, const char *sql, const char *arg)
{
    char *t = q_text(f, sql, arg);
    long long v = *t ? strtoll(t, NULL, 10) : -1;
    free(t);
    return v;
}

double q_real(const fixture *f, const char *sql, const char *arg)
{
    char *t = q_text(f, sql, arg);
    double v = *t ? strtod(t, NULL) : NAN;
    free(t);
    return v;
}

void assert_text(const fixture *f, const char *sql, const char *arg, const char *want)
{
    char *t = q_text(f, sql, arg);
    if (strcmp(t, want) != 0) {
        fprintf(stderr, "%s [%s]: got '%s', want '%s'\n", sql, arg ? arg : "", t, want);
        free(t);
        fail();
    }
    free(t);
}

/* ---- processes ----------------------------------------------------------------------- */

int wait_children(const pid_t *pids, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int status = 0;
        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad++;
    }
    return bad;
}

/* ---- a bare store on a temporary folder ------------------------------------------------ */

int store_fixture_setup_dir(void **state, const char *name)
{
    store_fixture *fx = calloc(1, sizeof *fx);
    *state = fx;
    if (!fx)
        return -1;
    if (fixture_tmpdir(fx->dir, sizeof fx->dir, name) != 0) {
        free(fx);
        *state = NULL;
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/skillhost.db", fx->dir);
    return 0;
}

int store_fixture_setup(void **state, const char *name)
{
    if (store_fixture_setup_dir(state, name) != 0)
        return -1;
    store_fixture *fx = *state;
    store_options o = {.create = 1};
    skh_error err = {0};
    if (store_open(fx->path, &o, &fx->st, &err) != SKH_OK) {
        fprintf(stderr, "store_open: %s: %s\n", err.what, err.message);
        store_fixture_teardown(state); /* cmocka skips the teardown when the setup fails */
        return -1;
    }
    return 0;
}

int store_fixture_teardown(void **state)
{
    store_fixture *fx = *state;
    if (!fx)
        return 0;
    store_close(fx->st);
    int rc = fixture_rmtree(fx->dir);
    free(fx);
    *state = NULL;
    return rc;
}
