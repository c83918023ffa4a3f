/*
 * Requests that never finished (issue 9 item 12).  A request is recorded one
 * attempt at a time, each attempt in its own transaction; the last one also
 * counts the request (total_requests, react_retry_count, the A/B trial).  A
 * process killed between two attempts leaves attempts that no counter ever
 * sees.  So every attempt also upserts the request's row in `requests`:
 * status "running" with the recording process as owner, "done" on the last
 * attempt.  Whoever opens the database next (every skillhost process does,
 * status and telemetry included) marks the running requests whose owner is
 * gone as "abandoned" and counts them, in one transaction each, so that
 * total_requests equals the number of distinct request ids in executions.
 *
 * An abandoned request counts as a request and, with more than one attempt,
 * as a retried one; it is no A/B trial (it has no final outcome) and writes
 * no react_execution learning event.
 *
 * The owner is "BOOT_ID/PID/START": the kernel's boot id and the process's
 * start time (clock ticks since boot, /proc/PID/stat field 22), so neither a
 * reboot nor a reused pid passes for the owner.  Processes on other machines
 * cannot share a WAL database, so a local check is enough.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"
#include "store_internal.h"

static const char sql_upsert[] =
    "INSERT INTO requests (request_id, skill_id, status, attempts, owner, started_at, ended_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?3 = 'done' THEN ?6 END)"
    " ON CONFLICT(request_id) DO UPDATE SET status = excluded.status,"
    " attempts = MAX(requests.attempts, excluded.attempts), ended_at = excluded.ended_at"
    " WHERE requests.status = 'running'";
static const char sql_running[] =
    "SELECT request_id, owner FROM requests WHERE status = 'running' ORDER BY request_id";
static const char sql_abandon[] =
    "UPDATE requests SET status = 'abandoned', ended_at = ?2"
    " WHERE request_id = ?1 AND status = 'running' RETURNING attempts";
static const char sql_count[] =
    "INSERT INTO telemetry_counters (counter_name, counter_value, last_updated)"
    " VALUES (?1, 1, ?2) ON CONFLICT(counter_name) DO UPDATE SET"
    " counter_value = COALESCE(counter_value, 0) + 1, last_updated = excluded.last_updated";

/* Field 22 of /proc/PID/stat (after the parenthesised command, which may hold spaces). */
static int process_start(pid_t pid, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After ") ": field 3 (state) ... field 22 is the 20th from here. */
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    return sscanf(p, "%llu", start) == 1 ? 0 : -1;
}

static void boot_id(char out[40])
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    out[0] = '\0';
    if (f) {
        if (!fgets(out, 40, f))
            out[0] = '\0';
        fclose(f);
    }
    out[strcspn(out, "\n")] = '\0';
}

/* This process as an owner; recomputed after a fork (the pid changed). */
static const char *self_owner(void)
{
    static char owner[96];
    static pid_t for_pid;
    pid_t pid = getpid();
    if (for_pid != pid) {
        char boot[40];
        unsigned long long start = 0;
        boot_id(boot);
        if (process_start(pid, &start) != 0)
            start = 0;
        snprintf(owner, sizeof owner, "%s/%ld/%llu", boot, (long)pid, start);
        for_pid = pid;
    }
    return owner;
}

/* Is the process an owner string names still running?  When unsure, yes. */
static int owner_alive(const char *owner)
{
    char boot[40], mine[40];
    long pid = 0;
    unsigned long long start = 0, now = 0;
    if (!owner || sscanf(owner, "%39[^/]/%ld/%llu", boot, &pid, &start) != 3 || pid <= 0) {
        /* "/PID/START" when the boot id was unreadable. */
        if (!owner || sscanf(owner, "/%ld/%llu", &pid, &start) != 2 || pid <= 0)
            return 1;
        boot[0] = '\0';
    }
    boot_id(mine);
    if (boot[0] && mine[0] && strcmp(boot, mine) != 0)
        return 0; /* the machine rebooted since */
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    if (start && process_start((pid_t)pid, &now) == 0 && now != start)
        return 0; /* the pid was reused */
    return 1;
}

int store_request_mark(store *st, const store_execution *ex, const char *now, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_upsert, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, ex->request_id) | store_bind_text(s, 2, ex->skill) |
        store_bind_text(s, 3, ex->end ? "done" : "running") |
        sqlite3_bind_int64(s, 4, ex->attempt) | store_bind_text(s, 5, self_owner()) |
        store_bind_text(s, 6, now)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the request %s failed",
                         ex->request_id);
    }
    return store_stmt_run(st, s, err, "recording the request", ex->request_id);
}

static int count(store *st, const char *name, const char *now, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_count, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, name) | store_bind_text(s, 2, now)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding counter %s failed", name);
    }
    return store_stmt_run(st, s, err, "counting", name);
}

/*
 * One request, in its own transaction; of several sweepers exactly one
 * counts it (*counted = 1).
 */
static int abandon(store *st, const char *request_id, int *counted, skh_error *err)
{
    char now[32];
    store_timestamp(now);
    sqlite3_stmt *s = store_stmt(st, sql_abandon, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = store_tx_begin(st, 1, err);
    if (rc != SKH_OK)
        return rc;
    if (store_bind_text(s, 1, request_id) | store_bind_text(s, 2, now)) {
        store_stmt_done(s);
        return store_tx_fail(st, error_set(err, SKH_ESTORE, store_path(st),
                                           "binding the request %s failed", request_id));
    }
    long long attempts = -1;
    *counted = 0;
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        attempts = sqlite3_column_int64(s, 0);
        src = sqlite3_step(s);
    }
    if (src != SQLITE_DONE) {
        rc = store_db_error(st, src, err, "marking the request %s abandoned", request_id);
        store_stmt_done(s);
        return store_tx_fail(st, rc);
    }
    store_stmt_done(s);
    if (attempts >= 0) {
        rc = count(st, "total_requests", now, err);
        if (rc == SKH_OK)
            rc = count(st, "abandoned_requests", now, err);
        if (rc == SKH_OK && attempts > 1)
            rc = count(st, "react_retry_count", now, err);
        if (rc != SKH_OK)
            return store_tx_fail(st, rc);
    }
    rc = store_tx_commit(st, err);
    *counted = rc == SKH_OK && attempts >= 0;
    return rc;
}

int store_requests_sweep(store *st, long *abandoned, skh_error *err)
{
    long n = 0;
    char **ids = NULL;
    size_t nids = 0, cap = 0;
    int rc = SKH_OK;

    if (abandoned)
        *abandoned = 0;
    sqlite3_stmt *s = store_stmt(st, sql_running, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    /* Read first, decide outside any transaction (the /proc reads), then write. */
    if ((rc = store_tx_begin(st, 0, err)) != SKH_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        const char *owner = (const char *)sqlite3_column_text(s, 1);
        if (!id || owner_alive(owner))
            continue;
        if (nids == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **grown = realloc(ids, ncap * sizeof *ids);
            if (!grown) {
                rc = store_no_memory(err, "requests");
                break;
            }
            ids = grown;
            cap = ncap;
        }
        if (!(ids[nids] = strdup(id))) {
            rc = store_no_memory(err, "requests");
            break;
        }
        nids++;
    }
    if (rc == SKH_OK && src != SQLITE_DONE)
        rc = store_db_error(st, src, err, "listing running requests");
    store_stmt_done(s);
    if (rc == SKH_OK)
        rc = store_tx_commit(st, err);
    else
        store_tx_rollback(st);
    for (size_t i = 0; i < nids; i++) {
        int counted = 0;
        if (rc == SKH_OK && (rc = abandon(st, ids[i], &counted, err)) == SKH_OK)
            n += counted;
        free(ids[i]);
    }
    free(ids);
    if (abandoned)
        *abandoned = n;
    return rc;
}
