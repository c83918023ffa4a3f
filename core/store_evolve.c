/*
 * What evolvers need from the store (DESIGN §1 "evolver"): a skill's
 * evolver, variants evolved from a parent, and the evidence an evolver
 * reads -- a variant's last executions and the patterns they missed.
 *
 * Every read of a window goes through a (variant_id, timestamp) index and
 * stops after n rows, so it costs O(n) however long the history is.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_internal.h"

static const char sql_evolver_set[] = "UPDATE skills SET evolver = ?2 WHERE skill_id = ?1";
static const char sql_evolver_get[] = "SELECT evolver FROM skills WHERE skill_id = ?1";

/*
 * The child takes the parent's skill, impl and sha256 (it is the same
 * plugin with new content), and the next version number, computed inside
 * the INSERT under the write lock as store_variant_add does.
 */
static const char sql_child_insert[] =
    "INSERT INTO skill_variations (variation_id, skill_name, version, variation_content, impl,"
    " impl_sha256, patterns, state, parent_id, description, created_at, isolation)"
    " SELECT p.skill_name || '@v' || n.v, p.skill_name, n.v, ?2, p.impl, p.impl_sha256,"
    " COALESCE(?3, p.patterns), 'prototype', p.variation_id, ?4, ?5, p.isolation"
    " FROM skill_variations AS p,"
    " (SELECT COALESCE(MAX(version), 0) + 1 AS v FROM skill_variations"
    "  WHERE skill_name = (SELECT skill_name FROM skill_variations WHERE variation_id = ?1)) AS n"
    " WHERE p.variation_id = ?1"
    " RETURNING variation_id, skill_name";
static const char sql_child_event[] =
    "INSERT INTO learning_events (skill_name, event_type, description, variation_id,"
    " before_fidelity, after_fidelity, timestamp)"
    " VALUES (?1, 'variation_evolved', ?2, ?3, ?4, NULL, ?5)";
/* The (skill_name, version) index narrows this to the skill's own variants. */
static const char sql_same[] =
    "SELECT variation_id FROM skill_variations WHERE skill_name = ?1"
    " AND variation_content = ?2 AND patterns = ?3 ORDER BY version DESC LIMIT 1";
static const char sql_parent[] = "SELECT parent_id FROM skill_variations WHERE variation_id = ?1";

/*
 * Newest first.  The executions index is (variant_id, timestamp) and, the
 * table being WITHOUT ROWID, carries execution_id after them: both ORDER BY
 * terms come from the index, so no sort and no scan past n rows.
 */
static const char sql_evidence[] =
    "SELECT e.execution_id, e.timestamp, e.input, f.pattern_fidelity, f.missed,"
    " f.failed_at_step, o.decision, o.correct"
    " FROM executions AS e"
    " JOIN fidelity_metrics AS f ON f.execution_id = e.execution_id"
    " LEFT JOIN outcome_metrics AS o ON o.execution_id = e.execution_id"
    " WHERE e.variant_id = ?1"
    " ORDER BY e.timestamp DESC, e.execution_id DESC LIMIT ?2";
static const char sql_window[] =
    "SELECT COUNT(*), AVG(pattern_fidelity), MIN(timestamp) FROM"
    " (SELECT pattern_fidelity, timestamp FROM fidelity_metrics WHERE variant_id = ?1"
    "  ORDER BY timestamp DESC, execution_id DESC LIMIT ?2)";
/* The decisions index is (skill_name, kind, timestamp). */
static const char sql_decision_since[] =
    "SELECT EXISTS (SELECT 1 FROM decisions"
    " WHERE skill_name = ?1 AND kind = ?2 AND timestamp >= ?3)";

static int bind_failed(store *st, sqlite3_stmt *s, skh_error *err, const char *what)
{
    store_stmt_done(s);
    return error_set(err, SKH_ESTORE, store_path(st), "%s: binding parameters failed", what);
}

static sqlite3_stmt *stmt(store *st, const char *sql, skh_error *err, int *rc)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    *rc = s ? SKH_OK : (err ? err->code : SKH_ESTORE);
    return s;
}

/* ---- a skill's evolver ----------------------------------------------------- */

int store_skill_evolver_set(store *st, const char *skill, const char *path, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_evolver_set, err, &rc);
    if (!s)
        return rc;
    if ((rc = store_tx_begin(st, 1, err)) != SKH_OK)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, path))
        return store_tx_fail(st, bind_failed(st, s, err, skill));
    if ((rc = store_stmt_run(st, s, err, "recording the evolver of", skill)) != SKH_OK)
        return store_tx_fail(st, rc);
    if (sqlite3_changes(st->db) != 1)
        return store_tx_fail(st, error_set(err, SKH_ENOTFOUND, skill, "no such skill"));
    return store_tx_commit(st, err);
}

int store_skill_evolver_get(store *st, const char *skill, char **path, skh_error *err)
{
    return store_query_text(st, sql_evolver_get, skill, NULL, "no such skill", path, err,
                            "reading the evolver of");
}

/* ---- evolved variants ------------------------------------------------------ */

static int patterns_valid(const char *json)
{
    json_t *a = json_loads(json, JSON_DECODE_ANY, NULL);
    int ok = json_is_array(a);
    for (size_t i = 0; ok && i < json_array_size(a); i++)
        ok = json_is_string(json_array_get(a, i));
    json_decref(a);
    return ok;
}

/* The learning event of a new child, inside its transaction. */
static int child_event(store *st, const char *skill, const char *id, const char *description,
                       double parent_fidelity, const char *now, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_child_event, err, &rc);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, description) |
        store_bind_text(s, 3, id) |
        (isnan(parent_fidelity) ? sqlite3_bind_null(s, 4)
                                : sqlite3_bind_double(s, 4, parent_fidelity)) |
        store_bind_text(s, 5, now))
        return bind_failed(st, s, err, id);
    return store_stmt_run(st, s, err, "recording the learning event of", id);
}

int store_variant_add_child(store *st, const char *parent_id, const char *content,
                            const char *patterns_json, const char *description,
                            double parent_fidelity, char **variant_id, skh_error *err)
{
    char now[32];
    int rc;

    *variant_id = NULL;
    if (!parent_id || !*parent_id)
        return error_set(err, SKH_EINVAL, "parent", "an evolved variant needs a parent");
    if (patterns_json && !patterns_valid(patterns_json))
        return error_set(err, SKH_EINVAL, "patterns",
                         "%s: patterns must be a JSON array of strings, got %.80s", parent_id,
                         patterns_json);
    sqlite3_stmt *ins = stmt(st, sql_child_insert, err, &rc);
    if (!ins)
        return rc;
    store_timestamp(now);
    if ((rc = store_tx_begin(st, 1, err)) != SKH_OK)
        return rc;
    if (store_bind_text(ins, 1, parent_id) | store_bind_text(ins, 2, content ? content : "") |
        store_bind_text(ins, 3, patterns_json) |
        store_bind_text(ins, 4, description ? description : "") | store_bind_text(ins, 5, now))
        return store_tx_fail(st, bind_failed(st, ins, err, parent_id));
    rc = sqlite3_step(ins);
    if (rc == SQLITE_DONE) {
        store_stmt_done(ins);
        return store_tx_fail(st, error_set(err, SKH_ENOTFOUND, parent_id, "no such variant"));
    }
    if (rc != SQLITE_ROW) {
        rc = store_db_error(st, rc, err, "adding a variant evolved from %s", parent_id);
        store_stmt_done(ins);
        return store_tx_fail(st, rc);
    }
    const char *id = (const char *)sqlite3_column_text(ins, 0);
    const char *sk = (const char *)sqlite3_column_text(ins, 1);
    char *copy = id ? strdup(id) : NULL;
    char *skill = sk ? strdup(sk) : NULL;
    if (!copy || !skill) {
        free(copy);
        free(skill);
        store_stmt_done(ins);
        return store_tx_fail(st, store_no_memory(err, parent_id));
    }
    if ((rc = store_stmt_run(st, ins, err, "adding a variant evolved from", parent_id)) ||
        (rc = child_event(st, skill, copy, description ? description : "", parent_fidelity, now,
                          err)) ||
        (rc = store_tx_commit(st, err))) {
        free(copy);
        free(skill);
        return store_tx_fail(st, rc);
    }
    free(skill);
    *variant_id = copy;
    return SKH_OK;
}

/* A one-text-column, at-most-one-row query: *out is malloc'd, or NULL for no row or NULL. */
static int query_text(store *st, sqlite3_stmt *s, const char *what, char **out, skh_error *err)
{
    int rc = sqlite3_step(s);
    *out = NULL;
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        rc = SKH_OK;
        if (t && !(*out = strdup(t)))
            rc = store_no_memory(err, what);
    } else if (rc == SQLITE_DONE) {
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading %s", what);
    }
    store_stmt_done(s);
    return rc;
}

int store_variant_find(store *st, const char *skill, const char *content, const char *patterns_json,
                       char **variant_id, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_same, err, &rc);
    *variant_id = NULL;
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, content ? content : "") |
        store_bind_text(s, 3, patterns_json ? patterns_json : "[]"))
        return bind_failed(st, s, err, skill);
    return query_text(st, s, "the variants of the skill", variant_id, err);
}

int store_variant_parent(store *st, const char *variant_id, char **parent_id, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_parent, err, &rc);
    *parent_id = NULL;
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 0);
        rc = SKH_OK;
        if (p && !(*parent_id = strdup(p)))
            rc = store_no_memory(err, variant_id);
    } else if (rc == SQLITE_DONE) {
        rc = error_set(err, SKH_ENOTFOUND, variant_id, "no such variant");
    } else {
        rc = store_db_error(st, rc, err, "reading the parent of %s", variant_id);
    }
    store_stmt_done(s);
    return rc;
}

/* ---- evidence -------------------------------------------------------------- */

void store_evidence_free(store_evidence *e)
{
    if (!e)
        return;
    json_decref(e->recent);
    json_decref(e->weak_patterns);
    memset(e, 0, sizeof *e);
    e->mean_fidelity = NAN;
}

/* The request's own input: a ReAct retry's additions say nothing about the case. */
static json_t *input_value(const char *text)
{
    json_t *in = json_loads(text ? text : "null", JSON_DECODE_ANY, NULL);
    if (!in)
        return json_string(text ? text : "");
    if (json_is_object(in)) {
        json_object_del(in, "_react_retry");
        json_object_del(in, "_previous_attempt");
    }
    return in;
}

/* Add one to counts[name] for every string in the JSON array text missed. */
static int count_missed(json_t *counts, const char *missed)
{
    json_t *a = json_loads(missed ? missed : "[]", 0, NULL);
    size_t i;
    json_t *m;
    int rc = 0;
    json_array_foreach(a, i, m)
    {
        const char *name = json_string_value(m);
        if (!name)
            continue;
        json_int_t n = json_integer_value(json_object_get(counts, name));
        if (json_object_set_new(counts, name, json_integer(n + 1)) != 0)
            rc = -1;
    }
    json_decref(a);
    return rc;
}

typedef struct weak {
    const char *pattern;
    json_int_t missed;
} weak;

static int weak_cmp(const void *a, const void *b)
{
    const weak *x = a, *y = b;
    if (x->missed != y->missed)
        return x->missed > y->missed ? -1 : 1;
    return strcmp(x->pattern, y->pattern);
}

/* counts -> [{"pattern", "missed"}], most often missed first, then by name. */
static json_t *weak_list(json_t *counts)
{
    size_t n = json_object_size(counts), k = 0;
    weak *w = calloc(n ? n : 1, sizeof *w);
    json_t *out = json_array();
    const char *key;
    json_t *v;
    if (!w || !out) {
        free(w);
        json_decref(out);
        return NULL;
    }
    json_object_foreach(counts, key, v)
    {
        w[k].pattern = key;
        w[k++].missed = json_integer_value(v);
    }
    qsort(w, k, sizeof *w, weak_cmp);
    for (size_t i = 0; i < k; i++) {
        if (json_array_append_new(out, json_pack("{s:s, s:I}", "pattern", w[i].pattern, "missed",
                                                 w[i].missed)) != 0) {
            json_decref(out);
            out = NULL;
            break;
        }
    }
    free(w);
    return out;
}

/* One evidence row as JSON; counts and sums go into e. */
static json_t *evidence_row(sqlite3_stmt *s, store_evidence *e, json_t *counts, double *sum)
{
    const char *missed = (const char *)sqlite3_column_text(s, 4);
    const char *failed = (const char *)sqlite3_column_text(s, 5);
    const char *decision = (const char *)sqlite3_column_text(s, 6);
    int labelled = sqlite3_column_type(s, 7) != SQLITE_NULL;
    int correct = labelled && sqlite3_column_int(s, 7) != 0;
    double fidelity = sqlite3_column_double(s, 3);
    json_t *missed_json = json_loads(missed ? missed : "[]", 0, NULL);

    if (!json_is_array(missed_json)) {
        json_decref(missed_json);
        missed_json = json_array();
    }
    if (!missed_json || count_missed(counts, missed) != 0) {
        json_decref(missed_json);
        return NULL;
    }
    e->executions++;
    *sum += fidelity;
    e->labelled += labelled;
    e->correct += correct;
    return json_pack(
        "{s:s, s:s, s:o, s:f, s:o, s:o, s:s, s:o}", "execution_id",
        (const char *)sqlite3_column_text(s, 0), "timestamp",
        (const char *)sqlite3_column_text(s, 1), "input",
        input_value((const char *)sqlite3_column_text(s, 2)), "fidelity", fidelity, "missed",
        missed_json, "failed_at_step", failed ? json_string(failed) : json_null(), "decision",
        decision ? decision : "", "correct", labelled ? json_boolean(correct) : json_null());
}

int store_variant_evidence(store *st, const char *variant_id, int n, store_evidence *out,
                           skh_error *err)
{
    int rc;
    double sum = 0;
    memset(out, 0, sizeof *out);
    out->mean_fidelity = NAN;
    if (n < 0)
        n = 0;
    sqlite3_stmt *s = stmt(st, sql_evidence, err, &rc);
    if (!s)
        return rc;
    json_t *counts = json_object();
    out->recent = json_array();
    if (!counts || !out->recent) {
        json_decref(counts);
        store_evidence_free(out);
        return store_no_memory(err, variant_id);
    }
    /* One read transaction: the rows and the metric tables agree. */
    if ((rc = store_tx_begin(st, 0, err)) != SKH_OK)
        goto done;
    if (store_bind_text(s, 1, variant_id) | sqlite3_bind_int(s, 2, n)) {
        rc = store_tx_fail(st, bind_failed(st, s, err, variant_id));
        goto done;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *row = evidence_row(s, out, counts, &sum);
        if (!row || json_array_append_new(out->recent, row) != 0) {
            store_stmt_done(s);
            rc = store_tx_fail(st, store_no_memory(err, variant_id));
            goto done;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "reading the executions of %s", variant_id);
        store_stmt_done(s);
        rc = store_tx_fail(st, rc);
        goto done;
    }
    store_stmt_done(s);
    if ((rc = store_tx_commit(st, err)) != SKH_OK)
        goto done;
    if (!(out->weak_patterns = weak_list(counts))) {
        rc = store_no_memory(err, variant_id);
        goto done;
    }
    if (out->executions > 0)
        out->mean_fidelity = sum / (double)out->executions;
done:
    json_decref(counts);
    if (rc != SKH_OK)
        store_evidence_free(out);
    return rc;
}

int store_variant_window(store *st, const char *variant_id, int n, store_window *out,
                         skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_window, err, &rc);
    memset(out, 0, sizeof *out);
    out->mean_fidelity = NAN;
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id) | sqlite3_bind_int(s, 2, n < 0 ? 0 : n))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *oldest = (const char *)sqlite3_column_text(s, 2);
        out->count = (long)sqlite3_column_int64(s, 0);
        if (sqlite3_column_type(s, 1) != SQLITE_NULL)
            out->mean_fidelity = sqlite3_column_double(s, 1);
        snprintf(out->oldest, sizeof out->oldest, "%s", oldest ? oldest : "");
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading the recent fidelity of %s", variant_id);
    }
    store_stmt_done(s);
    return rc;
}

int store_decision_since(store *st, const char *skill, const char *kind, const char *since,
                         int *found, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_decision_since, err, &rc);
    *found = 0;
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, kind) | store_bind_text(s, 3, since))
        return bind_failed(st, s, err, skill);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *found = sqlite3_column_int(s, 0) != 0;
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "reading the %s decisions of %s", kind, skill);
    }
    store_stmt_done(s);
    return rc;
}
