/*
 * Private to the store's files (store.c, store_*.c): the connection, the
 * statement caches and the transaction helpers.  Nothing outside the store
 * includes this; everyone else goes through store.h.
 */
#ifndef SKH_CORE_STORE_INTERNAL_H
#define SKH_CORE_STORE_INTERNAL_H

#include <jansson.h>
#include <sqlite3.h>

#include "store.h"

#define STORE_STMTS 32        /* store.c's own statements, by enum */
#define STORE_EXTRA_STMTS 256 /* everyone else's, keyed by their SQL's address */

struct store {
    sqlite3 *db;
    char *path;
    int busy_timeout_ms;
    sqlite3_stmt *stmt[STORE_STMTS];
    struct {
        const char *sql; /* static text: its address is the key */
        sqlite3_stmt *stmt;
    } extra[STORE_EXTRA_STMTS];
    size_t nextra;
    /*
     * Rollback baselines that can no longer change, per variant: the first
     * BASELINE_ROWS benchmark runs or live executions, once that many exist
     * (store_rollback.c).  A JSON object keyed by variant id.
     */
    json_t *frozen_baselines;
    /* Complete rollback-window rows by execution id (store_rollback.c): they never change. */
    json_t *window_rows;
    /*
     * store_snapshot_begin/end: `snapshot` while the caller wants one,
     * `reading` while our deferred BEGIN is open, `nested` for the
     * store_tx_begin(read) calls that joined it.
     */
    int snapshot, reading, nested;
};

/*
 * A prepared statement for sql, which must be static text: it is prepared
 * once per store and kept (the cache is keyed by the pointer).
 */
sqlite3_stmt *store_stmt(store *st, const char *sql, skh_error *err);

/*
 * Turn an SQLite result code into an SKH_E* code and a message.  Call it
 * before anything else touches the connection: sqlite3_errmsg() describes
 * only the latest call.
 */
int store_db_error(store *st, int rc, skh_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int store_no_memory(skh_error *err, const char *what);
/* Reset and drop the bindings, which may point into the caller's memory. */
void store_stmt_done(sqlite3_stmt *s);
/* Run a statement to completion, ignoring any rows. */
int store_stmt_run(store *st, sqlite3_stmt *s, skh_error *err, const char *doing, const char *id);
/* Bind text or NULL. */
int store_bind_text(sqlite3_stmt *s, int i, const char *v);
/*
 * The first column of sql's first row (sql static, ?1 = a, ?2 = b unless
 * NULL), malloc'd in *out; NULL for SQL NULL or "".  No row: *out NULL and
 * SKH_OK, or SKH_ENOTFOUND "A: MISSING" when missing is set.  A database
 * error says "DOING A".
 */
int store_query_text(store *st, const char *sql, const char *a, const char *b, const char *missing,
                     char **out, skh_error *err, const char *doing);

int store_tx_begin(store *st, int write, skh_error *err);
/* Commit, or roll back and fail. */
int store_tx_commit(store *st, skh_error *err);
/* Roll back and pass rc on: for the failure paths inside a transaction. */
int store_tx_fail(store *st, int rc);
void store_tx_rollback(store *st);

/*
 * The request's row in `requests`, inside store_record_execution's
 * transaction: "running" and owned by this process, or "done" on the last
 * attempt (store_requests.c).
 */
int store_request_mark(store *st, const store_execution *ex, const char *now, skh_error *err);
/* The request bookkeeping of store_record_execution, inside its transaction (store_events.c). */
int store_request_end_write(store *st, const store_execution *ex, const char *now, skh_error *err);

/*
 * The hourly rollup row of ex's hour, skill, variant, phase and tenant, one
 * atomic upsert inside store_record_execution's transaction
 * (core/analytics/rollup.c).
 */
int store_rollup_add(store *st, const store_execution *ex, skh_error *err);
/* The last hour folded into hourly_rollups ("" for none yet). */
int store_rollup_closed(store *st, char closed[14], skh_error *err);

#endif
