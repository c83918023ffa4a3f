/*
 * What the unit tests that need a workspace share: a fresh temporary folder
 * per test with a host (or a bare store) on a database in it, and the raw
 * SQLite, file and process helpers the tests look at that workspace with.
 *
 * Include it after <cmocka.h>: the helpers fail the running test.
 */
#ifndef SKH_TESTS_UNIT_FIXTURE_H
#define SKH_TESTS_UNIT_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include <sqlite3.h>

#include <skillhost/host.h>

#include "store.h"

/* ---- the source tree and temporary folders -------------------------------------------- */

/* $top_srcdir under make check, else found from this file's own path ("." at worst). */
const char *fixture_srcdir(void);

/* mkdtemp of $TMPDIR/skh-NAME-XXXXXX (TMPDIR defaults to /tmp) into dir; 0 or -1. */
int fixture_tmpdir(char *dir, size_t n, const char *name);

/* Remove dir with everything in it, read-only folders a test left behind included; 0 or -1. */
int fixture_rmtree(const char *dir);

/* ---- files --------------------------------------------------------------------------- */

/* Write text to path with mode, or fail the test. */
void write_file(const char *path, const char *text, mode_t mode);

/* The whole file, malloc'd; NULL when it cannot be opened. */
char *slurp(const char *path);

/* Copy src to dst (0644) with the first `from` replaced by `to`; src may be dst. */
void copy_replacing(const char *src, const char *dst, const char *from, const char *to);

/* ---- a host on a temporary workspace --------------------------------------------------- */

enum fixture_policies {
    FIXTURE_POLICIES_SHIPPED, /* $top_srcdir/policies, as installed */
    FIXTURE_POLICIES_COPY,    /* a copy of those in dir/policies, free to edit */
    FIXTURE_POLICIES_EMPTY,   /* an empty dir/policies: the host's built-in defaults */
};

typedef struct fixture_options {
    const char *name; /* the folder is $TMPDIR/skh-NAME-XXXXXX */
    enum fixture_policies policies;
    const char *skill_file; /* a Lua skill written as dir/SKILL_FILE; NULL for none */
    const char *skill_text;
    const char *impl; /* what add() registers; NULL: the skill above */
} fixture_options;

typedef struct fixture {
    char dir[PATH_MAX];            /* removed with all in it by fixture_teardown */
    char ws[PATH_MAX + 16];        /* dir/ws: the database's folder, made by the host */
    char db[PATH_MAX + 32];        /* ws/skillhost.db */
    char policies[PATH_MAX + 32];  /* as fixture_options.policies says */
    char skill_lua[PATH_MAX + 32]; /* dir/SKILL_FILE, "" without one */
    const char *impl;              /* what add() registers */
    skh_host *host;
} fixture;

/*
 * A cmocka setup: the folder, the policies, the skill and f->host open on
 * a new database, with the SKILLHOST_REACT_* and SKILLHOST_EVOLVE_*
 * variables cleared and SKILLHOST_PLUGIN_PATH defaulted to the build's
 * plugins.  -1 (everything undone) when any step fails.
 */
int fixture_setup(void **state, const fixture_options *o);
int fixture_teardown(void **state);

/* Open a host on f->db with policies (NULL: f->policies) into *out; a failure is printed. */
int fixture_open(const fixture *f, const char *policies, skh_host **out);
/* The same into f->host. */
int open_host(fixture *f, const char *policies);

/* Register f->impl as a variant of skill, or fail the test; the new id, skh_free it. */
char *add(fixture *f, const char *skill, const char *content, const char *state);

/*
 * Execute skill once with o (NULL: the defaults): the variant that served
 * it, malloc'd.  A request that failed (SKH_EFAILED) was still served; any
 * other error fails the test.
 */
char *served_by(fixture *f, const char *skill, const char *input, const skh_exec_options *o);

/* ---- the database as the seeds' own code sees it --------------------------------------- */

/* A second connection to path (read-write, 10 s busy timeout), or fail the test. */
sqlite3 *raw_open(const char *path);
/* Run sql on such a connection, or fail the test. */
void sql_exec(const char *path, const char *sql);
/* The first column of the first row (?1 = arg unless NULL) as text, "" for NULL or no row. */
char *q_text(const fixture *f, const char *sql, const char *arg);
/* The same as a number: -1 (NAN) when there is no value. */
long long q_int(const fixture *f, const char *sql, const char *arg);
double q_real(const fixture *f, const char *sql, const char *arg);
void assert_text(const fixture *f, const char *sql, const char *arg, const char *want);

/* ---- processes ----------------------------------------------------------------------- */

/* Wait for every child; how many did not exit 0. */
int wait_children(const pid_t *pids, int n);

/* ---- a bare store on a temporary folder ------------------------------------------------ */

typedef struct store_fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX + 32]; /* dir/skillhost.db */
    store *st;
} store_fixture;

/* The folder only (st stays NULL), or the folder with a store created in it. */
int store_fixture_setup_dir(void **state, const char *name);
int store_fixture_setup(void **state, const char *name);
int store_fixture_teardown(void **state);

#endif
