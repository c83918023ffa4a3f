/*
 * The SQLite store (DESIGN §6).  Every statement is prepared once, on first
 * use, and kept for the life of the store; values are always bound.  Every
 * write is one BEGIN IMMEDIATE transaction, so a writer waits for the write
 * lock up front (busy_timeout) instead of failing half-way with a snapshot
 * conflict, and any failure rolls the whole transaction back.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "error.h"
#include "schema.h"
#include "store.h"
#include "store_internal.h"
#include "text.h"

enum stmt_id {
    S_BEGIN_WRITE,
    S_BEGIN_READ,
    S_COMMIT,
    S_ROLLBACK,
    S_SKILL_ENSURE,
    S_VARIANT_DEMOTE,
    S_VARIANT_INSERT,
    S_VARIANT_GET,
    S_VARIANT_SERVING,
    S_SKILL_GET,
    S_SKILL_ALL,
    S_SKILL_VARIANTS,
    S_VARIANT_STATS,
    S_EXEC_INSERT,
    S_FIDELITY_INSERT,
    S_OUTCOME_INSERT,
    S_PERFORMANCE_INSERT,
    S_COUNTER_ADD,
    S_COUNTER_GET,
    S_CONFIG_GET,
    S_CONFIG_SET,
    S_CONFIG_DELETE,
    S_CONFIG_ALL,
    S__COUNT
};

/* Column order read by variant_from_row() and variant_json(). */
#define VARIANT_COLUMNS                                                                            \
    "variation_id, skill_name, version, impl, impl_sha256, variation_content, patterns, state,"    \
    " description, created_at, isolation"
/*
 * The newest variant of the best state.  One indexed lookup per state,
 * stopping at the first found (COALESCE is lazy): an ORDER BY over the
 * states would build and sort a temporary table on every request.
 */
#define SERVING_NEWEST(state)                                                                      \
    "(SELECT variation_id FROM skill_variations WHERE skill_name = ?1 AND state = '" state "'"     \
    " ORDER BY version DESC LIMIT 1)"

_Static_assert(S__COUNT <= STORE_STMTS, "store.c has more statements than STORE_STMTS");

static const char *const stmt_sql[S__COUNT] = {
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    /* A skill first registered without a description takes a later one. */
    [S_SKILL_ENSURE] = "INSERT INTO skills (skill_id, skill_name, description, created_at)"
                       " VALUES (?1, ?1, ?2, ?3) ON CONFLICT(skill_id) DO UPDATE"
                       " SET description = excluded.description"
                       " WHERE skills.description = '' AND excluded.description <> ''",
    [S_VARIANT_DEMOTE] = "UPDATE skill_variations SET state = 'staged'"
                         " WHERE skill_name = ?1 AND state = 'production'",
    /* The version is computed inside the INSERT, under the write lock. */
    [S_VARIANT_INSERT] =
        "INSERT INTO skill_variations (variation_id, skill_name, version, variation_content, impl,"
        " impl_sha256, patterns, state, description, created_at, isolation)"
        " SELECT ?1 || '@v' || v, ?1, v, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM"
        " (SELECT COALESCE(MAX(version), 0) + 1 AS v FROM skill_variations WHERE skill_name = ?1)"
        " RETURNING variation_id",
    [S_VARIANT_GET] = "SELECT " VARIANT_COLUMNS " FROM skill_variations WHERE variation_id = ?1",
    [S_VARIANT_SERVING] =
        "SELECT " VARIANT_COLUMNS " FROM skill_variations"
        " WHERE variation_id = COALESCE(" SERVING_NEWEST("production") ", " SERVING_NEWEST(
            "staged") ", " SERVING_NEWEST("prototype") ")",
    [S_SKILL_GET] = "SELECT skill_id, description, positive_class, evolver FROM skills"
                    " WHERE skill_id = ?1",
    [S_SKILL_ALL] = "SELECT skill_id, description FROM skills ORDER BY skill_id",
    [S_SKILL_VARIANTS] =
        "SELECT " VARIANT_COLUMNS " FROM skill_variations WHERE skill_name = ?1 ORDER BY version",
    [S_VARIANT_STATS] = "SELECT (SELECT COUNT(*) FROM fidelity_metrics WHERE variant_id = ?1),"
                        " (SELECT COUNT(*) FROM outcome_metrics WHERE variant_id = ?1),"
                        " (SELECT COUNT(*) FROM performance_metrics WHERE variant_id = ?1),"
                        " (SELECT AVG(pattern_fidelity) FROM fidelity_metrics"
                        "  WHERE variant_id = ?1),"
                        " (SELECT MAX(timestamp) FROM executions WHERE variant_id = ?1)",
    [S_EXEC_INSERT] =
        "INSERT INTO executions (execution_id, request_id, skill_id, variant_id, attempt,"
        " timestamp, input, output, steps, error_category, error_message, session_id,"
        " workflow_phase, user_query, tenant, evaluation, fallback_from, skipped,"
        " alternatives_considered, selection_rank, follow_up_actions, request_success)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22)",
    [S_FIDELITY_INSERT] = "INSERT INTO fidelity_metrics (execution_id, skill_id, variant_id,"
                          " timestamp, pattern_fidelity, patterns_followed, patterns_missed,"
                          " missed, failed_at_step) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_OUTCOME_INSERT] = "INSERT INTO outcome_metrics (execution_id, skill_id, variant_id,"
                         " timestamp, decision, correct, confidence, reasoning, expected,"
                         " critical) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_PERFORMANCE_INSERT] =
        "INSERT INTO performance_metrics (execution_id, skill_id, variant_id, timestamp,"
        " execution_time_ms, duration_ms, exception, error_category)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_COUNTER_ADD] = "INSERT INTO telemetry_counters (counter_name, counter_value, last_updated)"
                      " VALUES (?1, ?2, ?3) ON CONFLICT(counter_name) DO UPDATE SET"
                      " counter_value = COALESCE(counter_value, 0) + excluded.counter_value,"
                      " last_updated = excluded.last_updated",
    [S_COUNTER_GET] = "SELECT counter_value FROM telemetry_counters WHERE counter_name = ?1",
    [S_CONFIG_GET] = "SELECT value FROM config WHERE key = ?1",
    [S_CONFIG_SET] = "INSERT INTO config (key, value, updated_at) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                     " updated_at = excluded.updated_at",
    [S_CONFIG_DELETE] = "DELETE FROM config WHERE key = ?1",
    [S_CONFIG_ALL] = "SELECT key, value FROM config ORDER BY key",
};

static const char *const state_names[] = {"prototype", "staged", "production", "archived"};

/* ---- errors and statements ---------------------------------------------- */

/*
 * Turn an SQLite result code into an SKH_E* code and a message.  Call it
 * before anything else touches the connection: sqlite3_errmsg() describes
 * only the latest call.
 */
int store_db_error(store *st, int rc, skh_error *err, const char *fmt, ...)
{
    char doing[256];
    va_list ap;
    const char *msg = (sqlite3_extended_errcode(st->db) & 0xff) == (rc & 0xff)
                          ? sqlite3_errmsg(st->db)
                          : sqlite3_errstr(rc);

    va_start(ap, fmt);
    vsnprintf(doing, sizeof doing, fmt, ap);
    va_end(ap);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return error_set(err, SKH_ESTORE, st->path, "database is locked (waited %d ms): %s",
                         st->busy_timeout_ms, doing);
    case SQLITE_FULL:
        return error_set(err, SKH_ESTORE, st->path, "disk full: %s: %s", doing, msg);
    case SQLITE_IOERR: {
        /* The system's reason: "File too large" past `ulimit -f`, EIO, ENOSPC... */
        int e = sqlite3_system_errno(st->db);
        if (e)
            return error_set(err, SKH_ESTORE, st->path, "%s: %s (%s)", doing, msg, strerror(e));
        return error_set(err, SKH_ESTORE, st->path, "%s: %s", doing, msg);
    }
    case SQLITE_NOMEM:
        return error_set(err, SKH_ENOMEM, st->path, "out of memory: %s", doing);
    default:
        return error_set(err, SKH_ESTORE, st->path, "%s: %s", doing, msg);
    }
}

int store_no_memory(skh_error *err, const char *what)
{
    return error_set(err, SKH_ENOMEM, what, "out of memory");
}

static sqlite3_stmt *prep(store *st, enum stmt_id id, skh_error *err)
{
    if (!st->stmt[id]) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            store_db_error(st, rc, err, "preparing \"%.60s\"", stmt_sql[id]);
            sqlite3_finalize(st->stmt[id]);
            st->stmt[id] = NULL;
        }
    }
    return st->stmt[id];
}

sqlite3_stmt *store_stmt(store *st, const char *sql, skh_error *err)
{
    for (size_t i = 0; i < st->nextra; i++)
        if (st->extra[i].sql == sql)
            return st->extra[i].stmt;
    if (st->nextra == STORE_EXTRA_STMTS) {
        error_set(err, SKH_ESTORE, st->path, "statement cache full (%d)", STORE_EXTRA_STMTS);
        return NULL;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK) {
        store_db_error(st, rc, err, "preparing \"%.60s\"", sql);
        sqlite3_finalize(stmt);
        return NULL;
    }
    st->extra[st->nextra].sql = sql;
    st->extra[st->nextra++].stmt = stmt;
    return stmt;
}

/* Reset and drop the bindings, which may point into the caller's memory. */
void store_stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Run a statement to completion, ignoring any rows. */
int store_stmt_run(store *st, sqlite3_stmt *s, skh_error *err, const char *doing, const char *id)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        int r = store_db_error(st, rc, err, "%s%s%s", doing, id ? " " : "", id ? id : "");
        store_stmt_done(s);
        return r;
    }
    store_stmt_done(s);
    return SKH_OK;
}

int store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static int bind_failed(store *st, sqlite3_stmt *s, skh_error *err, const char *doing)
{
    store_stmt_done(s);
    return error_set(err, SKH_ESTORE, st->path, "%s: binding parameters failed", doing);
}

int store_query_text(store *st, const char *sql, const char *a, const char *b, const char *missing,
                     char **out, skh_error *err, const char *doing)
{
    *out = NULL;
    sqlite3_stmt *s = store_stmt(st, sql, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, a) | (b ? store_bind_text(s, 2, b) : SQLITE_OK))
        return bind_failed(st, s, err, a);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        rc = v && *v && !(*out = strdup(v)) ? store_no_memory(err, a) : SKH_OK;
    } else if (rc == SQLITE_DONE) {
        rc = missing ? error_set(err, SKH_ENOTFOUND, a, "%s", missing) : SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "%s %s", doing, a);
    }
    store_stmt_done(s);
    return rc;
}

/* ---- transactions ------------------------------------------------------- */

/* Our deferred BEGIN: it takes no lock until the first read. */
static void snapshot_open(store *st)
{
    sqlite3_stmt *s = prep(st, S_BEGIN_READ, NULL);
    st->reading = s && sqlite3_get_autocommit(st->db) && store_stmt_run(st, s, NULL, "", NULL) == 0;
}

static void snapshot_close(store *st)
{
    if (st->reading && !sqlite3_get_autocommit(st->db)) {
        sqlite3_stmt *s = prep(st, S_COMMIT, NULL);
        if (!s || store_stmt_run(st, s, NULL, "", NULL) != SKH_OK)
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL); /* a read has nothing to lose */
    }
    st->reading = 0;
    st->nested = 0;
}

void store_snapshot_begin(store *st)
{
    if (st->snapshot)
        return;
    st->snapshot = 1;
    snapshot_open(st);
}

void store_snapshot_end(store *st)
{
    snapshot_close(st);
    st->snapshot = 0;
}

/* After a write transaction ends inside a snapshot scope, later reads share a new one. */
static void snapshot_resume(store *st)
{
    if (st->snapshot && !st->reading)
        snapshot_open(st);
}

void store_tx_rollback(store *st)
{
    if (st->nested) {
        st->nested--; /* a read that joined the snapshot: nothing to undo */
        return;
    }
    /* SQLite has already rolled back after some errors (full, I/O, busy). */
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_stmt *s = prep(st, S_ROLLBACK, NULL);
        if (s) {
            sqlite3_step(s);
            sqlite3_reset(s);
        } else {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    st->reading = 0;
    snapshot_resume(st);
}

int store_tx_begin(store *st, int write, skh_error *err)
{
    if (st->reading && sqlite3_get_autocommit(st->db))
        st->reading = 0; /* SQLite ended it after an error */
    if (st->reading && !write) {
        st->nested++;
        return SKH_OK;
    }
    /* Never upgrade the snapshot: a stale read lock cannot become the write lock. */
    if (st->reading)
        snapshot_close(st);
    sqlite3_stmt *s = prep(st, write ? S_BEGIN_WRITE : S_BEGIN_READ, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = store_stmt_run(st, s, err, write ? "starting a write transaction" : "starting a read",
                            NULL);
    if (rc)
        snapshot_resume(st);
    return rc;
}

/* Commit, or roll back and fail. */
int store_tx_commit(store *st, skh_error *err)
{
    if (st->nested) {
        st->nested--;
        return SKH_OK;
    }
    sqlite3_stmt *s = prep(st, S_COMMIT, err);
    int rc = s ? store_stmt_run(st, s, err, "committing", NULL) : (err ? err->code : SKH_ESTORE);
    if (rc != SKH_OK)
        store_tx_rollback(st);
    else
        snapshot_resume(st);
    return rc;
}

/* Roll back and pass rc on: for the failure paths inside a transaction. */
int store_tx_fail(store *st, int rc)
{
    store_tx_rollback(st);
    return rc;
}

/* ---- open, migrate, close ----------------------------------------------- */

static int pragma_int(store *st, const char *sql, int *value, skh_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *value = sqlite3_column_int(s, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        rc = store_db_error(st, rc, err, "reading the schema version");
    sqlite3_finalize(s);
    return rc;
}

static int refuse_newer(store *st, int version, skh_error *err)
{
    return error_set(err, SKH_ESTORE, st->path,
                     "database schema version %d is newer than this skillhost (knows %d); "
                     "upgrade skillhost",
                     version, STORE_SCHEMA_VERSION);
}

static int journal_pragma(store *st, const char *sql, char mode[16])
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(s, 0);
        snprintf(mode, 16, "%s", m ? m : "");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

/*
 * Switch to WAL only when needed: the switch takes an exclusive lock.  Two
 * processes switching a fresh file at once both hold a shared lock and want
 * to upgrade; SQLite answers SQLITE_BUSY at once to one of them (waiting
 * would deadlock) without calling the busy handler, so retry here, within
 * the busy timeout, until the other one has switched.
 */
static int ensure_wal(store *st, skh_error *err)
{
    char mode[16] = "";
    struct timespec start;
    int rc = journal_pragma(st, "PRAGMA journal_mode", mode);

    if (rc == SQLITE_OK && strcmp(mode, "wal") == 0)
        return SKH_OK;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned delay_us = 500; rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY;) {
        rc = journal_pragma(st, "PRAGMA journal_mode=WAL", mode);
        if (rc == SQLITE_OK || (rc & 0xff) != SQLITE_BUSY ||
            elapsed_ms(&start) >= st->busy_timeout_ms)
            break;
        struct timespec pause = {0, (long)delay_us * 1000L};
        nanosleep(&pause, NULL);
        if (delay_us < 16000)
            delay_us *= 2;
    }
    if (rc != SQLITE_OK)
        return store_db_error(st, rc, err, "setting WAL journal mode");
    if (strcmp(mode, "wal") != 0)
        return error_set(err, SKH_ESTORE, st->path,
                         "cannot use WAL journal mode (got \"%s\"); is the file on a network or "
                         "read-only file system?",
                         mode);
    return SKH_OK;
}

/* ---- what a file is ------------------------------------------------------ */

/*
 * What kind of file a path holds, decided from reads only (no journal mode
 * change, no write), so that a file that is not a workspace is left exactly
 * as it was found:
 * - SKILLHOST: application_id is STORE_APPLICATION_ID;
 * - LEGACY: a skillhost database written before the id was set (skillhost's
 *   tables and user_version >= 1); it is opened and gets the id;
 * - EMPTY: no tables, user_version 0, no application id: what `init` may
 *   turn into a workspace;
 * - FOREIGN: anything else; *what says what it is.
 */
enum db_kind { DB_SKILLHOST, DB_LEGACY, DB_EMPTY, DB_FOREIGN };

/* The tables every skillhost schema since version 1 has. */
static const char *const own_tables[] = {"skills",           "skill_variations",   "executions",
                                         "fidelity_metrics", "telemetry_counters", "config"};

static int db_classify(store *st, int *kind, int *version, char *what, size_t n, skh_error *err)
{
    int app = 0, ntables = 0, nown = 0;
    char names[160] = "";
    size_t used = 0;
    sqlite3_stmt *s = NULL;
    int rc = pragma_int(st, "PRAGMA application_id", &app, err);
    if (rc == SKH_OK)
        rc = pragma_int(st, "PRAGMA user_version", version, err);
    if (rc != SKH_OK)
        return rc;
    rc = sqlite3_prepare_v2(st->db,
                            "SELECT name FROM sqlite_master WHERE type = 'table'"
                            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                            -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        ntables++;
        for (size_t i = 0; name && i < sizeof own_tables / sizeof own_tables[0]; i++)
            nown += strcmp(name, own_tables[i]) == 0;
        if (name && ntables <= 4 && used < sizeof names) {
            int w = snprintf(names + used, sizeof names - used, "%s%.40s", used ? ", " : "", name);
            used += w > 0 ? (size_t)w : 0;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        return store_db_error(st, rc, err, "reading the list of tables");

    if ((uint32_t)app == STORE_APPLICATION_ID)
        *kind = DB_SKILLHOST;
    else if (app == 0 && *version >= 1 && nown == sizeof own_tables / sizeof own_tables[0])
        *kind = DB_LEGACY;
    else if (app == 0 && *version == 0 && ntables == 0)
        *kind = DB_EMPTY;
    else
        *kind = DB_FOREIGN;
    if (*kind != DB_FOREIGN)
        return SKH_OK;
    if (ntables == 0)
        snprintf(what, n, "an SQLite database with no tables (application_id %#x, user_version %d)",
                 (unsigned)app, *version);
    else
        snprintf(what, n,
                 "another application's SQLite database (application_id %#x, user_version %d, %d "
                 "table%s: %s%s)",
                 (unsigned)app, *version, ntables, ntables == 1 ? "" : "s", names,
                 ntables > 4 ? ", ..." : "");
    return SKH_OK;
}

static int refuse_foreign(const char *path, const char *what, skh_error *err)
{
    return error_set(err, SKH_ESTORE, path,
                     "not a skillhost database: %s; skillhost leaves it unchanged (use another "
                     "--db, or `skillhost init` in a new folder)",
                     what);
}

static int refuse_empty(const char *path, skh_error *err)
{
    return error_set(err, SKH_ESTORE, path,
                     "not a skillhost database: the file is empty; only `skillhost init` makes a "
                     "workspace of it");
}

/* A path that names a device, a folder or a FIFO is never opened as a database. */
static int refuse_not_regular(const char *path, const struct stat *sb, skh_error *err)
{
    const char *what = S_ISDIR(sb->st_mode)    ? "a directory"
                       : S_ISCHR(sb->st_mode)  ? "a character device"
                       : S_ISBLK(sb->st_mode)  ? "a block device"
                       : S_ISFIFO(sb->st_mode) ? "a FIFO"
                       : S_ISSOCK(sb->st_mode) ? "a socket"
                                               : "not a regular file";
    return error_set(err, SKH_ESTORE, path, "not a skillhost database: the path is %s", what);
}

/*
 * SQLite reads a file that is not a database as SQLITE_NOTADB on the first
 * read: say what it holds instead of SQLite's bare "file is not a database".
 */
static int refuse_not_sqlite(const char *path, skh_error *err)
{
    struct stat sb;
    long long size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    return error_set(err, SKH_ESTORE, path,
                     "not a skillhost database: the file is not an SQLite database at all (%lld "
                     "bytes); skillhost leaves it unchanged",
                     size);
}

/*
 * Run the missing migrations and set the application id under the write
 * lock; another process may have done it first, so the file is classified
 * again once the lock is held.
 */
static int migrate(store *st, int create, skh_error *err)
{
    int version = 0, kind = DB_FOREIGN;
    char what[320] = "";
    int rc = store_tx_begin(st, 1, err);
    if (rc != SKH_OK)
        return rc;
    if ((rc = db_classify(st, &kind, &version, what, sizeof what, err)) != SKH_OK)
        return store_tx_fail(st, rc);
    if (kind == DB_FOREIGN)
        return store_tx_fail(st, refuse_foreign(st->path, what, err));
    if (kind == DB_EMPTY && !create)
        return store_tx_fail(st, refuse_empty(st->path, err));
    if (version > STORE_SCHEMA_VERSION)
        return store_tx_fail(st, refuse_newer(st, version, err));
    if (kind != DB_SKILLHOST) {
        /* PRAGMA takes no parameters; the value is our own constant. */
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d", (int)STORE_APPLICATION_ID);
        int src = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (src != SQLITE_OK)
            return store_tx_fail(st, store_db_error(st, src, err, "setting the application id"));
    }
    for (int k = version + 1; k <= STORE_SCHEMA_VERSION; k++) {
        int src = sqlite3_exec(st->db, schema_migration(k), NULL, NULL, NULL);
        if (src != SQLITE_OK)
            return store_tx_fail(
                st, store_db_error(st, src, err, "migrating the schema to version %d", k));
    }
    if (version < STORE_SCHEMA_VERSION) {
        /* PRAGMA takes no parameters; the value is our own constant. */
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
        int src = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (src != SQLITE_OK)
            return store_tx_fail(st, store_db_error(st, src, err, "setting the schema version"));
    }
    return store_tx_commit(st, err);
}

/* The busy timeout store_db_error names and ensure_wal's own retries honour too. */
static int set_busy_timeout(store *st, int ms, skh_error *err)
{
    ms = ms > 0 ? ms : 10000;
    int rc = sqlite3_busy_timeout(st->db, ms);
    if (rc != SQLITE_OK)
        return store_db_error(st, rc, err, "setting the busy timeout");
    st->busy_timeout_ms = ms;
    return SKH_OK;
}

static int set_synchronous(store *st, int full, skh_error *err)
{
    int rc = sqlite3_exec(st->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                          NULL, NULL, NULL);
    return rc == SQLITE_OK ? SKH_OK : store_db_error(st, rc, err, "setting synchronous");
}

int store_apply_settings(store *st, const store_options *opts, skh_error *err)
{
    int rc = SKH_OK;
    if ((opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 10000) != st->busy_timeout_ms)
        rc = set_busy_timeout(st, opts->busy_timeout_ms, err);
    if (rc == SKH_OK)
        rc = set_synchronous(st, opts->durability_full, err);
    return rc;
}

int store_open(const char *path, const store_options *opts, store **out, skh_error *err)
{
    static const store_options defaults = {0};
    struct stat sb;
    int rc, version = 0;

    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (!path || !*path)
        return error_set(err, SKH_EINVAL, "database", "empty database path");
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT && !opts->create)
            return error_set(err, SKH_ENOTFOUND, path, "no such database (run `skillhost init`)");
    } else if (!S_ISREG(sb.st_mode)) {
        return refuse_not_regular(path, &sb, err);
    }

    store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return store_no_memory(err, path);
    }

    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (opts->create ? SQLITE_OPEN_CREATE : 0);
    rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        if (st->db)
            rc = store_db_error(st, rc, err, "cannot open database");
        else
            rc = store_no_memory(err, path);
        store_close(st);
        return rc;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if ((rc = set_busy_timeout(st, opts->busy_timeout_ms, err)) != SKH_OK)
        goto fail;

    /* Refuse a foreign, empty or newer database before changing anything in it. */
    char what[320] = "";
    int kind = DB_FOREIGN;
    if ((rc = db_classify(st, &kind, &version, what, sizeof what, err)) != SKH_OK) {
        if ((sqlite3_extended_errcode(st->db) & 0xff) == SQLITE_NOTADB)
            rc = refuse_not_sqlite(path, err);
        goto fail;
    }
    if (kind == DB_FOREIGN) {
        rc = refuse_foreign(path, what, err);
        goto fail;
    }
    if (kind == DB_EMPTY && !opts->create) {
        rc = refuse_empty(path, err);
        goto fail;
    }
    if (version > STORE_SCHEMA_VERSION) {
        rc = refuse_newer(st, version, err);
        goto fail;
    }
    if ((rc = ensure_wal(st, err)) != SKH_OK)
        goto fail;
    if ((rc = set_synchronous(st, opts->durability_full, err)) != SKH_OK)
        goto fail;
    rc = sqlite3_exec(st->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = store_db_error(st, rc, err, "configuring the connection");
        goto fail;
    }
    if ((version < STORE_SCHEMA_VERSION || kind != DB_SKILLHOST) &&
        (rc = migrate(st, opts->create, err)) != SKH_OK)
        goto fail;
    *out = st;
    return SKH_OK;

fail:
    store_close(st);
    return rc;
}

int store_check(const char *path, skh_error *err)
{
    struct stat sb;
    if (!path || !*path)
        return error_set(err, SKH_EINVAL, "database", "empty database path");
    if (stat(path, &sb) != 0)
        return errno == ENOENT
                   ? error_set(err, SKH_ENOTFOUND, path, "no such database")
                   : error_set(err, SKH_ESTORE, path, "cannot read: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return refuse_not_regular(path, &sb, err);

    store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return store_no_memory(err, path);
    }
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = st->db ? store_db_error(st, rc, err, "cannot open database")
                    : store_no_memory(err, path);
        store_close(st);
        return rc;
    }
    sqlite3_extended_result_codes(st->db, 1);
    char what[320] = "";
    int kind = DB_FOREIGN, version = 0;
    if ((rc = set_busy_timeout(st, 0, err)) == SKH_OK &&
        (rc = db_classify(st, &kind, &version, what, sizeof what, err)) != SKH_OK &&
        (sqlite3_extended_errcode(st->db) & 0xff) == SQLITE_NOTADB)
        rc = refuse_not_sqlite(path, err);
    if (rc == SKH_OK && kind == DB_FOREIGN)
        rc = refuse_foreign(path, what, err);
    else if (rc == SKH_OK && kind == DB_EMPTY)
        rc = refuse_empty(path, err);
    else if (rc == SKH_OK && version > STORE_SCHEMA_VERSION)
        rc = refuse_newer(st, version, err);
    store_close(st);
    return rc;
}

void store_close(store *st)
{
    if (!st)
        return;
    for (int i = 0; i < S__COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (size_t i = 0; i < st->nextra; i++)
        sqlite3_finalize(st->extra[i].stmt);
    /* Every statement is finalized, so close cannot be left pending. */
    sqlite3_close(st->db);
    json_decref(st->frozen_baselines);
    json_decref(st->window_rows);
    free(st->path);
    free(st);
}

const char *store_path(const store *st)
{
    return st->path;
}

/* ---- variants ------------------------------------------------------------ */

static int state_is_valid(const char *state)
{
    for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++)
        if (strcmp(state, state_names[i]) == 0)
            return 1;
    return 0;
}

static int patterns_are_valid(const char *json)
{
    json_t *a = json_loads(json, JSON_DECODE_ANY, NULL);
    int ok = json_is_array(a);
    for (size_t i = 0; ok && i < json_array_size(a); i++)
        ok = json_is_string(json_array_get(a, i));
    json_decref(a);
    return ok;
}

int store_variant_add(store *st, const char *skill, const char *impl, const char *impl_sha256,
                      const char *content, const char *patterns_json, const char *state,
                      const char *description, char **variant_id, skh_error *err)
{
    return store_variant_add_isolated(st, skill, impl, impl_sha256, content, patterns_json, state,
                                      description, NULL, variant_id, err);
}

int store_variant_add_isolated(store *st, const char *skill, const char *impl,
                               const char *impl_sha256, const char *content,
                               const char *patterns_json, const char *state,
                               const char *description, const char *isolation, char **variant_id,
                               skh_error *err)
{
    char now[32];
    int rc;

    *variant_id = NULL;
    if (!skill || !name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill",
                         "\"%s\" is not a valid skill name (expected [a-z0-9_]{1,64})",
                         skill ? skill : "");
    if (!state)
        state = "prototype";
    if (!state_is_valid(state))
        return error_set(err, SKH_EINVAL, "state",
                         "\"%s\" is not a state (expected prototype, staged, production or "
                         "archived)",
                         state);
    if (!impl || !*impl)
        return error_set(err, SKH_EINVAL, "impl", "%s: a variant needs an implementation", skill);
    if (!patterns_json)
        patterns_json = "[]";
    if (!patterns_are_valid(patterns_json))
        return error_set(err, SKH_EINVAL, "patterns",
                         "%s: patterns must be a JSON array of strings, got %.80s", skill,
                         patterns_json);
    if (!description)
        description = "";
    if ((rc = text_check_str("impl", impl, err)) != SKH_OK ||
        (rc = text_check_str("content", content, err)) != SKH_OK ||
        (rc = text_check_str("description", description, err)) != SKH_OK)
        return rc;
    store_timestamp(now);

    sqlite3_stmt *ensure = prep(st, S_SKILL_ENSURE, err);
    sqlite3_stmt *demote = ensure ? prep(st, S_VARIANT_DEMOTE, err) : NULL;
    sqlite3_stmt *ins = demote ? prep(st, S_VARIANT_INSERT, err) : NULL;
    if (!ins)
        return err ? err->code : SKH_ESTORE;
    if ((rc = store_tx_begin(st, 1, err)) != SKH_OK)
        return rc;

    if (store_bind_text(ensure, 1, skill) | store_bind_text(ensure, 2, description) |
        store_bind_text(ensure, 3, now))
        return store_tx_fail(st, bind_failed(st, ensure, err, skill));
    if ((rc = store_stmt_run(st, ensure, err, "adding skill", skill)) != SKH_OK)
        return store_tx_fail(st, rc);
    if (strcmp(state, "production") == 0) {
        if (store_bind_text(demote, 1, skill))
            return store_tx_fail(st, bind_failed(st, demote, err, skill));
        if ((rc = store_stmt_run(st, demote, err, "demoting the production variant of", skill)))
            return store_tx_fail(st, rc);
    }

    if (store_bind_text(ins, 1, skill) | store_bind_text(ins, 2, content ? content : "") |
        store_bind_text(ins, 3, impl) | store_bind_text(ins, 4, impl_sha256 ? impl_sha256 : "") |
        store_bind_text(ins, 5, patterns_json) | store_bind_text(ins, 6, state) |
        store_bind_text(ins, 7, description) | store_bind_text(ins, 8, now) |
        (isolation && *isolation ? store_bind_text(ins, 9, isolation) : sqlite3_bind_null(ins, 9)))
        return store_tx_fail(st, bind_failed(st, ins, err, skill));
    rc = sqlite3_step(ins);
    if (rc != SQLITE_ROW) {
        rc = store_db_error(st, rc, err, "adding a variant of %s", skill);
        store_stmt_done(ins);
        return store_tx_fail(st, rc);
    }
    const char *id = (const char *)sqlite3_column_text(ins, 0);
    char *copy = id ? strdup(id) : NULL;
    if (!copy) {
        store_stmt_done(ins);
        return store_tx_fail(st, store_no_memory(err, skill));
    }
    if ((rc = store_stmt_run(st, ins, err, "adding a variant of", skill)) != SKH_OK ||
        (rc = store_tx_commit(st, err)) != SKH_OK) {
        free(copy);
        return store_tx_fail(st, rc);
    }
    *variant_id = copy;
    return SKH_OK;
}

void store_variant_free(store_variant *v)
{
    if (!v)
        return;
    free(v->variant_id);
    free(v->skill);
    free(v->impl);
    free(v->impl_sha256);
    free(v->content);
    free(v->patterns);
    free(v->state);
    free(v->description);
    free(v->created_at);
    free(v->isolation);
    memset(v, 0, sizeof *v);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return strdup(t ? t : "");
}

/* Fill v from a VARIANT_COLUMNS row. */
static int variant_from_row(sqlite3_stmt *s, store_variant *v, skh_error *err)
{
    memset(v, 0, sizeof *v);
    v->version = sqlite3_column_int(s, 2);
    if (!(v->variant_id = col_dup(s, 0)) || !(v->skill = col_dup(s, 1)) ||
        !(v->impl = col_dup(s, 3)) || !(v->impl_sha256 = col_dup(s, 4)) ||
        !(v->content = col_dup(s, 5)) || !(v->patterns = col_dup(s, 6)) ||
        !(v->state = col_dup(s, 7)) || !(v->description = col_dup(s, 8)) ||
        !(v->created_at = col_dup(s, 9)) || !(v->isolation = col_dup(s, 10))) {
        store_variant_free(v);
        return store_no_memory(err, "variant");
    }
    return SKH_OK;
}

/* Step a one-row variant query; SKH_ENOTFOUND (without a message) when it has none. */
static int variant_query(store *st, sqlite3_stmt *s, const char *key, store_variant *out,
                         skh_error *err)
{
    int rc;
    if (store_bind_text(s, 1, key))
        return bind_failed(st, s, err, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = variant_from_row(s, out, err);
    else if (rc == SQLITE_DONE)
        rc = SKH_ENOTFOUND;
    else
        rc = store_db_error(st, rc, err, "reading variant %s", key);
    store_stmt_done(s);
    return rc;
}

int store_variant_get(store *st, const char *variant_id, store_variant *out, skh_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = prep(st, S_VARIANT_GET, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = variant_query(st, s, variant_id, out, err);
    if (rc == SKH_ENOTFOUND)
        return error_set(err, SKH_ENOTFOUND, variant_id, "no such variant");
    return rc;
}

/* SKH_OK when the skill exists, else SKH_ENOTFOUND naming it. */
static int skill_exists(store *st, const char *skill, skh_error *err)
{
    sqlite3_stmt *s = prep(st, S_SKILL_GET, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, skill))
        return bind_failed(st, s, err, skill);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = SKH_OK;
    else if (rc == SQLITE_DONE)
        rc = error_set(err, SKH_ENOTFOUND, skill, "no such skill");
    else
        rc = store_db_error(st, rc, err, "reading skill %s", skill);
    store_stmt_done(s);
    return rc;
}

int store_variant_serving(store *st, const char *skill, store_variant *out, skh_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = prep(st, S_VARIANT_SERVING, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = variant_query(st, s, skill, out, err);
    if (rc != SKH_ENOTFOUND)
        return rc;
    rc = skill_exists(st, skill, err);
    if (rc != SKH_OK)
        return rc;
    return error_set(err, SKH_ENOTFOUND, skill,
                     "no variant can serve (every variant is archived); add or restore one");
}

/* ---- skill list and show ------------------------------------------------- */

/* One variant as JSON, from a VARIANT_COLUMNS row; with stats when detail. */
static int variant_json(store *st, sqlite3_stmt *row, int detail, json_t **out, skh_error *err)
{
    const char *id = (const char *)sqlite3_column_text(row, 0);
    const char *patterns_text = (const char *)sqlite3_column_text(row, 6);
    json_t *patterns = json_loads(patterns_text ? patterns_text : "", JSON_DECODE_ANY, NULL);

    if (!json_is_array(patterns)) {
        json_decref(patterns);
        return error_set(err, SKH_ESTORE, st->path,
                         "variant %s: stored patterns are not a JSON array", id ? id : "?");
    }
    /* Text another program may have written is repaired, never a false "out of memory". */
    json_t *v = json_pack(
        "{s:o, s:i, s:o, s:o, s:o, s:o, s:o}", "id", text_json(id), "version",
        sqlite3_column_int(row, 2), "state", text_json((const char *)sqlite3_column_text(row, 7)),
        "impl", text_json((const char *)sqlite3_column_text(row, 3)), "description",
        text_json((const char *)sqlite3_column_text(row, 8)), "patterns", patterns, "created_at",
        text_json((const char *)sqlite3_column_text(row, 9)));
    /* Shown only when the variant chose; otherwise plugins.isolation decides. */
    if (v && sqlite3_column_type(row, 10) != SQLITE_NULL &&
        json_object_set_new(v, "isolation",
                            text_json((const char *)sqlite3_column_text(row, 10)))) {
        json_decref(v);
        v = NULL;
    }
    if (!v)
        return store_no_memory(err, id);
    if (detail) {
        sqlite3_stmt *s = prep(st, S_VARIANT_STATS, err);
        if (!s) {
            json_decref(v);
            return err ? err->code : SKH_ESTORE;
        }
        if (store_bind_text(s, 1, id)) {
            json_decref(v);
            return bind_failed(st, s, err, id);
        }
        int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
            rc = store_db_error(st, rc, err, "counting executions of %s", id);
            store_stmt_done(s);
            json_decref(v);
            return rc;
        }
        json_t *mean = sqlite3_column_type(s, 3) == SQLITE_NULL
                           ? json_null()
                           : json_real(sqlite3_column_double(s, 3));
        json_t *counts =
            json_pack("{s:I, s:I, s:I}", "fidelity", (json_int_t)sqlite3_column_int64(s, 0),
                      "outcome", (json_int_t)sqlite3_column_int64(s, 1), "performance",
                      (json_int_t)sqlite3_column_int64(s, 2));
        int bad = !mean || !counts;
        bad |= json_object_set_new(v, "executions", counts);
        bad |= json_object_set_new(v, "mean_fidelity", mean);
        bad |= json_object_set_new(v, "last_run",
                                   sqlite3_column_type(s, 4) == SQLITE_NULL
                                       ? json_null()
                                       : json_string((const char *)sqlite3_column_text(s, 4)));
        store_stmt_done(s);
        if (bad) {
            json_decref(v);
            return store_no_memory(err, id);
        }
    }
    *out = v;
    return SKH_OK;
}

static int skill_json(store *st, const char *skill, const char *description, int detail,
                      json_t **out, skh_error *err)
{
    sqlite3_stmt *serving = prep(st, S_VARIANT_SERVING, err);
    sqlite3_stmt *all = serving ? prep(st, S_SKILL_VARIANTS, err) : NULL;
    json_t *variants = json_array();
    json_t *sk = NULL;
    int rc;

    if (!all) {
        json_decref(variants);
        return err ? err->code : SKH_ESTORE;
    }
    if (!variants)
        return store_no_memory(err, skill);
    if (store_bind_text(all, 1, skill)) {
        json_decref(variants);
        return bind_failed(st, all, err, skill);
    }
    while ((rc = sqlite3_step(all)) == SQLITE_ROW) {
        json_t *v = NULL;
        int r = variant_json(st, all, detail, &v, err);
        if (r == SKH_OK && json_array_append_new(variants, v) != 0)
            r = store_no_memory(err, skill);
        if (r != SKH_OK) {
            store_stmt_done(all);
            json_decref(variants);
            return r;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "listing the variants of %s", skill);
        store_stmt_done(all);
        json_decref(variants);
        return rc;
    }
    store_stmt_done(all);

    if (store_bind_text(serving, 1, skill)) {
        json_decref(variants);
        return bind_failed(st, serving, err, skill);
    }
    rc = sqlite3_step(serving);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "finding the serving variant of %s", skill);
        store_stmt_done(serving);
        json_decref(variants);
        return rc;
    }
    sk = json_pack(
        "{s:o, s:o, s:o, s:o}", "skill", text_json(skill), "description",
        text_json(description ? description : ""), "serving",
        text_json(rc == SQLITE_ROW ? (const char *)sqlite3_column_text(serving, 0) : NULL),
        "variants", variants);
    store_stmt_done(serving);
    if (!sk)
        return store_no_memory(err, skill);
    *out = sk;
    return SKH_OK;
}

int store_skill_list(store *st, json_t **out, skh_error *err)
{
    sqlite3_stmt *s = prep(st, S_SKILL_ALL, err);
    json_t *list = json_array();
    int rc;

    *out = NULL;
    if (!s || !list) {
        json_decref(list);
        return s ? store_no_memory(err, "skills") : (err ? err->code : SKH_ESTORE);
    }
    /* One read transaction: a consistent snapshot across the queries. */
    if ((rc = store_tx_begin(st, 0, err)) != SKH_OK) {
        json_decref(list);
        return rc;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *sk = NULL;
        int r = skill_json(st, (const char *)sqlite3_column_text(s, 0),
                           (const char *)sqlite3_column_text(s, 1), 0, &sk, err);
        if (r == SKH_OK && json_array_append_new(list, sk) != 0)
            r = store_no_memory(err, "skills");
        if (r != SKH_OK) {
            store_stmt_done(s);
            json_decref(list);
            return store_tx_fail(st, r);
        }
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "listing skills");
        store_stmt_done(s);
        json_decref(list);
        return store_tx_fail(st, rc);
    }
    store_stmt_done(s);
    if ((rc = store_tx_commit(st, err)) != SKH_OK) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return SKH_OK;
}

int store_skill_show(store *st, const char *skill, json_t **out, skh_error *err)
{
    sqlite3_stmt *s = prep(st, S_SKILL_GET, err);
    int rc;

    *out = NULL;
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if ((rc = store_tx_begin(st, 0, err)) != SKH_OK)
        return rc;
    if (store_bind_text(s, 1, skill))
        return store_tx_fail(st, bind_failed(st, s, err, skill));
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rc = skill_json(st, skill, (const char *)sqlite3_column_text(s, 1), 1, out, err);
        /* NULL or "": none set (the default rules apply). */
        const char *pos = (const char *)sqlite3_column_text(s, 2);
        const char *evolver = (const char *)sqlite3_column_text(s, 3);
        if (rc == SKH_OK &&
            (json_object_set_new(*out, "positive_class",
                                 pos && *pos ? json_string(pos) : json_null()) ||
             json_object_set_new(*out, "evolver",
                                 evolver && *evolver ? json_string(evolver) : json_null())))
            rc = store_no_memory(err, skill);
    } else if (rc == SQLITE_DONE)
        rc = error_set(err, SKH_ENOTFOUND, skill, "no such skill");
    else
        rc = store_db_error(st, rc, err, "reading skill %s", skill);
    store_stmt_done(s);
    if (rc == SKH_OK && (rc = store_tx_commit(st, err)) != SKH_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc == SKH_OK ? rc : store_tx_fail(st, rc);
}

/* ---- recording ----------------------------------------------------------- */

static int execution_invalid(const store_execution *ex, skh_error *err)
{
    const char *id = ex->execution_id ? ex->execution_id : "execution";
    if (!ex->execution_id || !ex->request_id || !ex->skill || !ex->variant_id || !ex->timestamp ||
        !ex->input)
        return error_set(err, SKH_EINVAL, id,
                         "execution_id, request_id, skill, variant_id, timestamp and input "
                         "are required");
    if (ex->attempt < 1)
        return error_set(err, SKH_EINVAL, id, "attempt is %u, expected >= 1", ex->attempt);
    if (ex->category < 0 || ex->category >= SKH_ERR__COUNT)
        return error_set(err, SKH_EINVAL, id, "error category %d is not an SKH_ERR_* value",
                         ex->category);
    if (!(ex->fidelity >= 0.0 && ex->fidelity <= 1.0))
        return error_set(err, SKH_EINVAL, id, "fidelity %g is not in [0, 1]", ex->fidelity);
    if (ex->correct < -1 || ex->correct > 1)
        return error_set(err, SKH_EINVAL, id, "correct is %d, expected 1, 0 or -1", ex->correct);
    if (!isnan(ex->confidence) && !isfinite(ex->confidence))
        return error_set(err, SKH_EINVAL, id, "confidence %g is not finite", ex->confidence);
    if (!(ex->duration_ms >= 0.0 && isfinite(ex->duration_ms)))
        return error_set(err, SKH_EINVAL, id, "duration_ms %g is not a duration", ex->duration_ms);
    return SKH_OK;
}

/* ?1..?4 of every metric insert: execution_id, skill_id, variant_id, timestamp. */
static int bind_metric_key(sqlite3_stmt *s, const store_execution *ex)
{
    return store_bind_text(s, 1, ex->execution_id) | store_bind_text(s, 2, ex->skill) |
           store_bind_text(s, 3, ex->variant_id) | store_bind_text(s, 4, ex->timestamp);
}

/*
 * The hot path: prepared statements, bind (SQLITE_STATIC: no copies), step,
 * reset.  Nothing is allocated here.
 */
int store_record_execution(store *st, const store_execution *ex, skh_error *err)
{
    sqlite3_stmt *s[4];
    sqlite3_stmt *counter;
    const char *category;
    char now[32];
    int rc;

    if ((rc = execution_invalid(ex, err)) != SKH_OK)
        return rc;
    category = ex->category == SKH_ERR_NONE ? NULL : skh_category_name(ex->category);
    if (!(s[0] = prep(st, S_EXEC_INSERT, err)) || !(s[1] = prep(st, S_FIDELITY_INSERT, err)) ||
        !(s[2] = prep(st, S_OUTCOME_INSERT, err)) ||
        !(s[3] = prep(st, S_PERFORMANCE_INSERT, err)) || !(counter = prep(st, S_COUNTER_ADD, err)))
        return err ? err->code : SKH_ESTORE;
    store_timestamp(now);

    if ((rc = store_tx_begin(st, 1, err)) != SKH_OK)
        return rc;

    int b =
        store_bind_text(s[0], 1, ex->execution_id) | store_bind_text(s[0], 2, ex->request_id) |
        store_bind_text(s[0], 3, ex->skill) | store_bind_text(s[0], 4, ex->variant_id) |
        sqlite3_bind_int64(s[0], 5, ex->attempt) | store_bind_text(s[0], 6, ex->timestamp) |
        store_bind_text(s[0], 7, ex->input) | store_bind_text(s[0], 8, ex->output) |
        store_bind_text(s[0], 9, ex->steps ? ex->steps : "[]") |
        store_bind_text(s[0], 10, category) | store_bind_text(s[0], 11, ex->error_message) |
        store_bind_text(s[0], 12, ex->session_id) | store_bind_text(s[0], 13, ex->workflow_phase) |
        store_bind_text(s[0], 14, ex->user_query) | store_bind_text(s[0], 15, ex->tenant) |
        sqlite3_bind_int(s[0], 16, ex->evaluation != 0) |
        store_bind_text(s[0], 17, ex->fallback_from) |
        sqlite3_bind_int(s[0], 18, ex->skipped != 0) |
        store_bind_text(s[0], 19, ex->alternatives_considered) |
        (ex->selection_rank > 0 ? sqlite3_bind_int(s[0], 20, ex->selection_rank)
                                : sqlite3_bind_null(s[0], 20)) |
        store_bind_text(s[0], 21, ex->follow_up_actions) |
        (ex->end ? sqlite3_bind_int(s[0], 22, ex->end->success != 0) : sqlite3_bind_null(s[0], 22));

    b |= bind_metric_key(s[1], ex) | sqlite3_bind_double(s[1], 5, ex->fidelity) |
         sqlite3_bind_int(s[1], 6, ex->patterns_followed) |
         sqlite3_bind_int(s[1], 7, ex->patterns_missed) |
         store_bind_text(s[1], 8, ex->missed ? ex->missed : "[]") |
         store_bind_text(s[1], 9, ex->failed_at_step);

    b |= bind_metric_key(s[2], ex) | store_bind_text(s[2], 5, ex->decision ? ex->decision : "") |
         (ex->correct < 0 ? sqlite3_bind_null(s[2], 6) : sqlite3_bind_int(s[2], 6, ex->correct)) |
         (isnan(ex->confidence) ? sqlite3_bind_null(s[2], 7)
                                : sqlite3_bind_double(s[2], 7, ex->confidence)) |
         store_bind_text(s[2], 8, ex->reasoning) | store_bind_text(s[2], 9, ex->expected) |
         sqlite3_bind_int(s[2], 10, ex->critical != 0);

    b |= bind_metric_key(s[3], ex) | sqlite3_bind_int64(s[3], 5, llround(ex->duration_ms)) |
         sqlite3_bind_double(s[3], 6, ex->duration_ms) |
         sqlite3_bind_int(s[3], 7, ex->category != SKH_ERR_NONE) |
         store_bind_text(s[3], 8, category);

    b |= store_bind_text(counter, 1, "total_executions") | sqlite3_bind_int64(counter, 2, 1) |
         store_bind_text(counter, 3, now);

    if (b) {
        for (int i = 0; i < 4; i++)
            store_stmt_done(s[i]);
        return store_tx_fail(st, bind_failed(st, counter, err, ex->execution_id));
    }
    static const char *const doing[4] = {"recording execution", "recording fidelity of",
                                         "recording the outcome of",
                                         "recording the performance of"};
    for (int i = 0; i < 4; i++) {
        if ((rc = store_stmt_run(st, s[i], err, doing[i], ex->execution_id)) != SKH_OK) {
            for (int j = i + 1; j < 4; j++)
                store_stmt_done(s[j]);
            store_stmt_done(counter);
            return store_tx_fail(st, rc);
        }
    }
    if ((rc = store_stmt_run(st, counter, err, "counting execution", ex->execution_id)) != SKH_OK)
        return store_tx_fail(st, rc);
    if (!ex->evaluation && (rc = store_rollup_add(st, ex, err)) != SKH_OK)
        return store_tx_fail(st, rc);
    if ((rc = store_request_mark(st, ex, now, err)) != SKH_OK)
        return store_tx_fail(st, rc);
    if (ex->end && (rc = store_request_end_write(st, ex, now, err)) != SKH_OK)
        return store_tx_fail(st, rc);
    return store_tx_commit(st, err);
}

int store_counter_add(store *st, const char *name, long long delta, skh_error *err)
{
    sqlite3_stmt *s = prep(st, S_COUNTER_ADD, err);
    char now[32];
    int rc;

    if (!name || !*name)
        return error_set(err, SKH_EINVAL, "counter", "empty counter name");
    if (!s)
        return err ? err->code : SKH_ESTORE;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)) != SKH_OK)
        return rc;
    if (store_bind_text(s, 1, name) | sqlite3_bind_int64(s, 2, delta) | store_bind_text(s, 3, now))
        return store_tx_fail(st, bind_failed(st, s, err, name));
    if ((rc = store_stmt_run(st, s, err, "adding to counter", name)) != SKH_OK)
        return store_tx_fail(st, rc);
    return store_tx_commit(st, err);
}

int store_counter_get(store *st, const char *name, long long *value, skh_error *err)
{
    sqlite3_stmt *s = prep(st, S_COUNTER_GET, err);
    int rc;

    *value = 0;
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, name))
        return bind_failed(st, s, err, name);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(s, 0);
        rc = SKH_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading counter %s", name);
    }
    store_stmt_done(s);
    return rc;
}

/* ---- workspace config ---------------------------------------------------- */

int store_config_get(store *st, const char *key, char **value, skh_error *err)
{
    sqlite3_stmt *s = prep(st, S_CONFIG_GET, err);
    int rc;

    *value = NULL;
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, key))
        return bind_failed(st, s, err, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rc = (*value = col_dup(s, 0)) ? SKH_OK : store_no_memory(err, key);
    } else if (rc == SQLITE_DONE) {
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading config %s", key);
    }
    store_stmt_done(s);
    return rc;
}

int store_config_set(store *st, const char *key, const char *value, skh_error *err)
{
    sqlite3_stmt *s;
    char now[32];
    int rc;

    if (!key || !*key)
        return error_set(err, SKH_EINVAL, "config", "empty config key");
    if (!(s = prep(st, value ? S_CONFIG_SET : S_CONFIG_DELETE, err)))
        return err ? err->code : SKH_ESTORE;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)) != SKH_OK)
        return rc;
    if (store_bind_text(s, 1, key) |
        (value ? store_bind_text(s, 2, value) | store_bind_text(s, 3, now) : 0))
        return store_tx_fail(st, bind_failed(st, s, err, key));
    if ((rc = store_stmt_run(st, s, err, "setting config", key)) != SKH_OK)
        return store_tx_fail(st, rc);
    return store_tx_commit(st, err);
}

int store_config_all(store *st, json_t **out, skh_error *err)
{
    sqlite3_stmt *s = prep(st, S_CONFIG_ALL, err);
    json_t *obj = json_object();
    int rc;

    *out = NULL;
    if (!s || !obj) {
        json_decref(obj);
        return s ? store_no_memory(err, "config") : (err ? err->code : SKH_ESTORE);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *v = (const char *)sqlite3_column_text(s, 1);
        if (!k || !v || json_object_set_new(obj, k, json_string(v)) != 0) {
            store_stmt_done(s);
            json_decref(obj);
            return store_no_memory(err, "config");
        }
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "reading config");
        store_stmt_done(s);
        json_decref(obj);
        return rc;
    }
    store_stmt_done(s);
    *out = obj;
    return SKH_OK;
}

/* ---- time ---------------------------------------------------------------- */

void store_timestamp(char buf[32])
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}
