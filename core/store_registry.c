/*
 * The registry export's read (DESIGN §7): every skill, its variants and its
 * live test, in one read transaction so registry.json is one snapshot even
 * while other processes promote and roll back.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_internal.h"
#include "store_registry.h"

/* skills.version is the serving variant's N, kept right by the schema's triggers. */
static const char sql_skills[] =
    "SELECT skill_id, description, promotion_state,"
    " CASE WHEN version IS NULL THEN NULL ELSE skill_id || '@v' || version END,"
    " last_promoted_at, evolver FROM skills ORDER BY skill_id";
static const char sql_variants[] =
    "SELECT skill_name, variation_id, state, impl, impl_sha256, parent_id, promoted, test_status,"
    " created_at FROM skill_variations ORDER BY skill_name, version";
static const char sql_live[] =
    "SELECT skill_name, test_id, mode, status, control_version, treatment_version, weight,"
    " start_time FROM ab_test_assignments WHERE status IN ('running', 'awaiting_approval')"
    " ORDER BY skill_name";

/*
 * A text column as JSON: null for NULL.  Text that is not UTF-8 (a path
 * can be any bytes) keeps its ASCII and shows '?' for the rest, so the
 * export stays valid JSON.  NULL only when out of memory.
 */
static json_t *col_json(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        return json_null();
    json_t *j = json_string(t);
    if (j)
        return j;
    char *copy = strdup(t);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Set key to v (stolen); 0 on success, -1 when v is NULL or jansson ran out of memory. */
static int put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

static int read_skills(store *st, json_t *skills, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_skills, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        json_t *sk = json_object();
        int bad = !name || !sk;
        bad = bad || put(sk, "description", col_json(s, 1));
        bad = bad || put(sk, "promotion_state", col_json(s, 2));
        bad = bad || put(sk, "serving", col_json(s, 3));
        bad = bad || put(sk, "last_promoted_at", col_json(s, 4));
        bad = bad || put(sk, "evolver", col_json(s, 5));
        bad = bad || put(sk, "variants", json_object());
        bad = bad || put(sk, "live_test", json_null());
        if (bad || json_object_set_new(skills, name, sk) != 0) {
            if (bad)
                json_decref(sk);
            store_stmt_done(s);
            return store_no_memory(err, "registry");
        }
    }
    if (rc != SQLITE_DONE)
        rc = store_db_error(st, rc, err, "reading the skills for the registry");
    else
        rc = SKH_OK;
    store_stmt_done(s);
    return rc;
}

static int read_variants(store *st, json_t *skills, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_variants, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *skill = (const char *)sqlite3_column_text(s, 0);
        const char *id = (const char *)sqlite3_column_text(s, 1);
        /* The foreign key guarantees the skill row; a missing one is skipped, not invented. */
        json_t *variants = json_object_get(json_object_get(skills, skill ? skill : ""), "variants");
        if (!variants || !id)
            continue;
        json_t *v = json_object();
        int bad = !v;
        bad = bad || put(v, "state", col_json(s, 2));
        bad = bad || put(v, "impl", col_json(s, 3));
        bad = bad || put(v, "sha256", col_json(s, 4));
        bad = bad || put(v, "parent", col_json(s, 5));
        bad = bad || put(v, "promoted", json_boolean(sqlite3_column_int(s, 6) != 0));
        bad = bad || put(v, "test_status", col_json(s, 7));
        bad = bad || put(v, "created_at", col_json(s, 8));
        if (bad || json_object_set_new(variants, id, v) != 0) {
            if (bad)
                json_decref(v);
            store_stmt_done(s);
            return store_no_memory(err, "registry");
        }
    }
    if (rc != SQLITE_DONE)
        rc = store_db_error(st, rc, err, "reading the variants for the registry");
    else
        rc = SKH_OK;
    store_stmt_done(s);
    return rc;
}

static int read_live_tests(store *st, json_t *skills, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_live, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *skill = (const char *)sqlite3_column_text(s, 0);
        json_t *sk = json_object_get(skills, skill ? skill : "");
        if (!sk)
            continue;
        json_t *t = json_object();
        int bad = !t;
        bad = bad || put(t, "test_id", col_json(s, 1));
        bad = bad || put(t, "mode", col_json(s, 2));
        bad = bad || put(t, "status", col_json(s, 3));
        bad = bad || put(t, "control", col_json(s, 4));
        bad = bad || put(t, "treatment", col_json(s, 5));
        bad = bad || put(t, "weight", json_real(sqlite3_column_double(s, 6)));
        bad = bad || put(t, "start_time", col_json(s, 7));
        if (bad || json_object_set_new(sk, "live_test", t) != 0) {
            if (bad)
                json_decref(t);
            store_stmt_done(s);
            return store_no_memory(err, "registry");
        }
    }
    if (rc != SQLITE_DONE)
        rc = store_db_error(st, rc, err, "reading the live tests for the registry");
    else
        rc = SKH_OK;
    store_stmt_done(s);
    return rc;
}

int store_registry(store *st, json_t **out, skh_error *err)
{
    *out = NULL;
    json_t *skills = json_object();
    if (!skills)
        return store_no_memory(err, "registry");
    int rc = store_tx_begin(st, 0, err);
    if (rc != SKH_OK) {
        json_decref(skills);
        return rc;
    }
    rc = read_skills(st, skills, err);
    if (rc == SKH_OK)
        rc = read_variants(st, skills, err);
    if (rc == SKH_OK)
        rc = read_live_tests(st, skills, err);
    if (rc != SKH_OK) {
        json_decref(skills);
        return store_tx_fail(st, rc);
    }
    if ((rc = store_tx_commit(st, err)) != SKH_OK) {
        json_decref(skills);
        return rc;
    }
    *out = skills;
    return SKH_OK;
}
