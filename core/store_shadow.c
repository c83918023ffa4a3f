/*
 * shadow_decisions: what a shadow policy answered beside the live one
 * (policy.h, "A shadow policy"), and the summary `policy diff` reads.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_internal.h"

int store_in_write(const store *st)
{
    /* A deferred read snapshot is ours to end; any other open transaction is the caller's. */
    return !sqlite3_get_autocommit(st->db) && !st->reading;
}

static const char sql_shadow_add[] =
    "INSERT INTO shadow_decisions (policy, fn, skill_name, live_verdict, shadow_verdict, agree,"
    " facts, live_answer, shadow_answer, live_error, shadow_error, live_file, live_sha256,"
    " shadow_file, shadow_sha256, timestamp)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?4 = ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

int store_shadow_add(store *st, const store_shadow_row *r, skh_error *err)
{
    char now[32];
    store_timestamp(now);
    sqlite3_stmt *s = store_stmt(st, sql_shadow_add, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = store_tx_begin(st, 1, err);
    if (rc) {
        store_stmt_done(s);
        return rc;
    }
    const char *v[] = {
        r->policy,    r->fn,          r->skill,         r->live_verdict,  r->shadow_verdict,
        r->facts,     r->live_answer, r->shadow_answer, r->live_error,    r->shadow_error,
        r->live_file, r->live_sha256, r->shadow_file,   r->shadow_sha256, now};
    int bad = 0;
    for (int i = 0; i < (int)(sizeof v / sizeof v[0]); i++)
        bad |= store_bind_text(s, i + 1, v[i]);
    if (bad) {
        store_stmt_done(s);
        return store_tx_fail(
            st, error_set(err, SKH_ESTORE, store_path(st), "binding a shadow decision failed"));
    }
    if ((rc = store_stmt_run(st, s, err, "recording a shadow decision of", r->policy)) != SKH_OK)
        return store_tx_fail(st, rc);
    return store_tx_commit(st, err);
}

static const char sql_counts[] =
    "SELECT live_verdict, shadow_verdict, COUNT(*), MIN(timestamp), MAX(timestamp)"
    " FROM shadow_decisions WHERE policy = ?1 AND timestamp >= ?2"
    " GROUP BY live_verdict, shadow_verdict ORDER BY COUNT(*) DESC, live_verdict, shadow_verdict";

static const char sql_examples[] =
    "SELECT shadow_id, timestamp, fn, skill_name, live_verdict, shadow_verdict, facts,"
    " live_answer, shadow_answer, live_error, shadow_error, shadow_file, shadow_sha256"
    " FROM shadow_decisions WHERE policy = ?1 AND timestamp >= ?2 AND agree = 0"
    " ORDER BY shadow_id LIMIT ?3";

/* A text column as JSON: parsed when it is JSON text (facts, answers), else a string. */
static json_t *column_json(sqlite3_stmt *s, int i, int parse)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        return json_null();
    json_t *j = parse ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_string(t);
}

static int read_counts(store *st, const char *policy, const char *since, json_t *out,
                       long long *total, long long *disagree, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_counts, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, policy) | store_bind_text(s, 2, since)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the shadow summary failed");
    }
    int rc, ok = 1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *lv = (const char *)sqlite3_column_text(s, 0);
        const char *sv = (const char *)sqlite3_column_text(s, 1);
        long long n = sqlite3_column_int64(s, 2);
        *total += n;
        if (strcmp(lv ? lv : "", sv ? sv : "") != 0)
            *disagree += n;
        json_t *row =
            json_pack("{s:s?, s:s?, s:I, s:b, s:o, s:o}", "live", lv, "shadow", sv, "count",
                      (json_int_t)n, "agree", strcmp(lv ? lv : "", sv ? sv : "") == 0, "first",
                      column_json(s, 3, 0), "last", column_json(s, 4, 0));
        ok &= row && json_array_append_new(out, row) == 0;
    }
    rc = rc == SQLITE_DONE ? SKH_OK : store_db_error(st, rc, err, "reading shadow decisions");
    store_stmt_done(s);
    return rc ? rc : ok ? SKH_OK : store_no_memory(err, "reading shadow decisions");
}

static int read_examples(store *st, const char *policy, const char *since, int limit, json_t *out,
                         skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_examples, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, policy) | store_bind_text(s, 2, since) |
        sqlite3_bind_int(s, 3, limit)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the shadow examples failed");
    }
    static const char *const names[] = {
        "shadow_id",    "timestamp",   "fn",           "skill",         "live",
        "shadow",       "facts",       "live_answer",  "shadow_answer", "live_error",
        "shadow_error", "shadow_file", "shadow_sha256"};
    int rc, ok = 1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *ex = json_object();
        ok &= ex != NULL;
        for (int i = 0; ex && i < (int)(sizeof names / sizeof names[0]); i++) {
            json_t *v = i == 0 ? json_integer(sqlite3_column_int64(s, 0))
                               : column_json(s, i, i >= 6 && i <= 8);
            ok &= v && json_object_set_new(ex, names[i], v) == 0;
        }
        ok &= ex && json_array_append_new(out, ex) == 0;
    }
    rc = rc == SQLITE_DONE ? SKH_OK : store_db_error(st, rc, err, "reading shadow decisions");
    store_stmt_done(s);
    return rc ? rc : ok ? SKH_OK : store_no_memory(err, "reading shadow decisions");
}

int store_shadow_summary(store *st, const char *policy, const char *since, int examples,
                         json_t **out, skh_error *err)
{
    *out = NULL;
    json_t *counts = json_array(), *ex = json_array();
    long long total = 0, disagree = 0;
    int rc = counts && ex ? SKH_OK : store_no_memory(err, "reading shadow decisions");
    if (rc == SKH_OK)
        rc = store_tx_begin(st, 0, err);
    if (rc == SKH_OK) {
        rc = read_counts(st, policy, since, counts, &total, &disagree, err);
        if (rc == SKH_OK)
            rc = read_examples(st, policy, since, examples, ex, err);
        if (rc == SKH_OK)
            rc = store_tx_commit(st, err);
        else
            store_tx_fail(st, rc);
    }
    if (rc == SKH_OK &&
        !(*out =
              json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "policy", policy, "since", since,
                        "decisions", (json_int_t)total, "agreed", (json_int_t)(total - disagree),
                        "disagreed", (json_int_t)disagree, "by_verdict", counts, "examples", ex))) {
        return store_no_memory(err, "reading shadow decisions");
    }
    if (rc) {
        json_decref(counts);
        json_decref(ex);
    }
    return rc;
}
