/*
 * The promotion gate in the store (DESIGN §4, §7): sign-offs, the facts
 * promotion.lua judges, a promotion in one transaction, and the reads
 * behind `skillhost status`.
 *
 * Metric reads go through the (variant_id, timestamp) indexes newest first
 * and stop at the window, so they cost O(window) whatever the history; a
 * variant's benchmark runs are found through the partial index on
 * executions WHERE evaluation = 1.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_internal.h"
#include "store_lifecycle.h"
#include "uuid.h"

/* ---- statements -------------------------------------------------------------- */

static const char sql_variant[] =
    "SELECT skill_name, state FROM skill_variations WHERE variation_id = ?1";

static const char sql_approval_insert[] =
    "INSERT INTO human_approvals (approval_id, skill_id, promotion_path, approver,"
    " approval_ticket, wsp_50_no_duplication, wsp_50_evidence, test_coverage_complete,"
    " test_evidence, instruction_clarity_approved, dependencies_validated, dependency_evidence,"
    " security_reviewed, security_notes, production_readiness, integration_approved,"
    " monitoring_configured, rollback_tested, documentation_updated, approval_timestamp, notes,"
    " variant_id, checklist) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)";
#define APPROVAL_COLUMNS                                                                           \
    "approval_id, variant_id, promotion_path, approver, approval_ticket, approval_timestamp,"      \
    " notes, checklist"
static const char sql_approval_latest[] =
    "SELECT " APPROVAL_COLUMNS " FROM human_approvals"
    " WHERE skill_id = ?1 AND promotion_path = ?2 AND variant_id = ?3"
    " ORDER BY approval_timestamp DESC, approval_id DESC LIMIT 1";
static const char sql_approvals_skill[] =
    "SELECT " APPROVAL_COLUMNS " FROM human_approvals WHERE skill_id = ?1"
    " ORDER BY approval_timestamp DESC, approval_id DESC";

/*
 * A variant's benchmark cases: one per evaluation request, judged on its
 * last attempt.  The partial index executions_variant_evaluation finds them
 * without walking the live history.
 */
static const char sql_eval_cases[] =
    "SELECT e.error_category, f.pattern_fidelity, o.decision, o.correct, o.expected, o.critical"
    " FROM executions e"
    " LEFT JOIN fidelity_metrics f ON f.execution_id = e.execution_id"
    " LEFT JOIN outcome_metrics o ON o.execution_id = e.execution_id"
    " WHERE e.variant_id = ?1 AND e.evaluation = 1"
    " AND e.attempt = (SELECT MAX(x.attempt) FROM executions x WHERE x.request_id = e.request_id)";
/*
 * The positive class, as skillhost evaluate chooses it: the skill's own,
 * else the first expected label that is not a negative one, else the first
 * such decision; in run order.
 */
static const char sql_positive_class[] =
    "SELECT COALESCE((SELECT positive_class FROM skills WHERE skill_id = ?2),"
    " (SELECT o.expected FROM executions e JOIN outcome_metrics o ON o.execution_id ="
    " e.execution_id WHERE e.variant_id = ?1 AND e.evaluation = 1 AND o.expected IS NOT NULL"
    " AND lower(o.expected) NOT IN ('ham', 'negative', 'no')"
    " ORDER BY e.timestamp, e.execution_id LIMIT 1),"
    " (SELECT o.decision FROM executions e JOIN outcome_metrics o ON o.execution_id ="
    " e.execution_id WHERE e.variant_id = ?1 AND e.evaluation = 1 AND o.decision <> ''"
    " AND lower(o.decision) NOT IN ('ham', 'negative', 'no')"
    " ORDER BY e.timestamp, e.execution_id LIMIT 1))";

/*
 * The last ?2 live rows of each metric table.  Benchmark runs are left out
 * (LEFT JOIN: a metric row ingested without its executions row counts as
 * live), so each table is counted on its own and a gap in one shows.
 */
static const char sql_window_fidelity[] =
    "SELECT COUNT(*), AVG(pattern_fidelity) FROM (SELECT f.pattern_fidelity"
    " FROM fidelity_metrics f LEFT JOIN executions e ON e.execution_id = f.execution_id"
    " WHERE f.variant_id = ?1 AND COALESCE(e.evaluation, 0) = 0"
    " ORDER BY f.timestamp DESC LIMIT ?2)";
static const char sql_window_outcome[] =
    "SELECT COUNT(*), COALESCE(SUM(correct IS NOT NULL), 0), COALESCE(SUM(correct = 1), 0),"
    " COALESCE(SUM(critical = 1 AND correct = 0), 0) FROM (SELECT o.correct, o.critical"
    " FROM outcome_metrics o LEFT JOIN executions e ON e.execution_id = o.execution_id"
    " WHERE o.variant_id = ?1 AND COALESCE(e.evaluation, 0) = 0"
    " ORDER BY o.timestamp DESC LIMIT ?2)";
static const char sql_window_performance[] =
    "SELECT COUNT(*), AVG(ms), COALESCE(SUM(exception), 0),"
    " COALESCE(SUM(error_category = 'crash'), 0) FROM (SELECT"
    " COALESCE(p.duration_ms, p.execution_time_ms) AS ms, p.exception, p.error_category"
    " FROM performance_metrics p LEFT JOIN executions e ON e.execution_id = p.execution_id"
    " WHERE p.variant_id = ?1 AND COALESCE(e.evaluation, 0) = 0"
    " ORDER BY p.timestamp DESC LIMIT ?2)";

static const char sql_ab_of_treatment[] =
    "SELECT test_id, status, control_version, control_trials, control_successes,"
    " treatment_trials, treatment_successes, decision, start_time FROM ab_test_assignments"
    " WHERE skill_name = ?1 AND treatment_version = ?2"
    " AND status IN ('running', 'awaiting_approval')";

/* The promotion. */
static const char sql_demote[] =
    "UPDATE skill_variations SET state = 'staged'"
    " WHERE skill_name = ?1 AND state = 'production' AND variation_id <> ?2"
    " RETURNING variation_id";
static const char sql_move[] =
    "UPDATE skill_variations SET state = ?3 WHERE variation_id = ?1 AND state = ?2";
static const char sql_ab_close[] =
    "UPDATE ab_test_assignments SET status = 'promoted', end_time = ?3,"
    " decided_at = COALESCE(decided_at, ?3), decision = 'treatment', reason = ?4"
    " WHERE skill_name = ?1 AND treatment_version = ?2"
    " AND status IN ('running', 'awaiting_approval')"
    " RETURNING test_id, control_version, start_time";
static const char sql_variant_promoted[] =
    "UPDATE skill_variations SET promoted = 1, test_status = 'promoted' WHERE variation_id = ?1";
/* As store_ab.c measures an A/B promotion: mean final-attempt fidelity since the test began. */
static const char sql_mean_fidelity[] =
    "SELECT AVG(f.pattern_fidelity) FROM executions e"
    " JOIN fidelity_metrics f ON f.execution_id = e.execution_id"
    " WHERE e.variant_id = ?1 AND e.timestamp >= ?2 AND e.evaluation = 0"
    " AND e.attempt = (SELECT MAX(x.attempt) FROM executions x WHERE x.request_id = e.request_id)";
static const char sql_learning[] =
    "INSERT INTO learning_events (skill_name, event_type, description, variation_id,"
    " before_fidelity, after_fidelity, timestamp) VALUES (?1, 'variation_promoted', ?2, ?3, ?4,"
    " ?5, ?6)";
static const char sql_event[] =
    "INSERT INTO promotion_events (event_id, skill_id, from_state, to_state, approver,"
    " approval_ticket, timestamp, reason, variant_id, demoted_variant_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_decision[] =
    "INSERT INTO decisions (skill_name, variant_id, kind, verdict, observed, thresholds,"
    " policy_file, policy_sha256, timestamp)"
    " VALUES (?1, ?2, 'promotion', 'ready', ?3, ?4, ?5, ?6, ?7)";

/* Status. */
static const char sql_skill[] = "SELECT 1 FROM skills WHERE skill_id = ?1";
static const char sql_variants[] =
    "SELECT variation_id, state, impl, created_at, parent_id, test_status"
    " FROM skill_variations WHERE skill_name = ?1 ORDER BY version";
static const char sql_breakers[] =
    "SELECT b.variant_id, b.state, b.failures, b.opened_at, b.half_open_at"
    " FROM circuit_breakers b JOIN skill_variations v ON v.variation_id = b.variant_id"
    " WHERE v.skill_name = ?1 ORDER BY v.version";
static const char sql_decisions[] =
    "SELECT decision_id, timestamp, kind, variant_id, verdict, observed, thresholds,"
    " policy_file, policy_sha256 FROM decisions WHERE skill_name = ?1"
    " ORDER BY decision_id DESC LIMIT ?2";
/*
 * Production changes of a skill: a promotion to production (the variant it
 * replaced in demoted_variant_id) or a rollback from production (the
 * variant it brought back in restored_variant_id, NULL when none).
 */
#define PRODUCTION_CHANGES                                                                         \
    "SELECT 'promotion_events' AS source, event_id, timestamp, variant_id AS became,"              \
    " demoted_variant_id AS replaced FROM promotion_events"                                        \
    " WHERE skill_id = ?1 AND to_state = 'production' AND variant_id IS NOT NULL"                  \
    " UNION ALL SELECT 'rollback_events', event_id, timestamp, restored_variant_id, variant_id"    \
    " FROM rollback_events WHERE skill_id = ?1 AND from_state = 'production'"
static const char sql_change_before[] =
    "SELECT source, event_id, timestamp, became, replaced FROM (" PRODUCTION_CHANGES ")"
    " WHERE timestamp <= ?2 ORDER BY timestamp DESC, event_id DESC LIMIT 1";
static const char sql_change_after[] =
    "SELECT source, event_id, timestamp, became, replaced FROM (" PRODUCTION_CHANGES ")"
    " WHERE timestamp > ?2 ORDER BY timestamp, event_id LIMIT 1";
static const char sql_created[] = "SELECT created_at FROM skill_variations WHERE variation_id = ?1";
static const char sql_production_now[] = "SELECT variation_id, created_at FROM skill_variations"
                                         " WHERE skill_name = ?1 AND state = 'production'";

/* ---- small helpers --------------------------------------------------------------- */

static sqlite3_stmt *stmt(store *st, const char *sql, int *rc, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql, err);
    *rc = s ? SKH_OK : (err ? err->code : SKH_ESTORE);
    return s;
}

static int bind_failed(store *st, sqlite3_stmt *s, skh_error *err, const char *doing)
{
    store_stmt_done(s);
    return error_set(err, SKH_ESTORE, store_path(st), "%s: binding parameters failed", doing);
}

/* Set o[k] = v (stolen); *ok cleared when v is NULL or the set fails. */
static void put(json_t *o, const char *k, json_t *v, int *ok)
{
    if (!v || !o || json_object_set_new(o, k, v) != 0) {
        json_decref(v);
        *ok = 0;
    }
}

static char *col_dup(sqlite3_stmt *s, int i, int *ok)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    char *d = strdup(t);
    if (!d)
        *ok = 0;
    return d;
}

/*
 * One row as a JSON object, column i named names[i]; a name starting with
 * '@' is a JSON text column, parsed (kept as a string when it is not JSON).
 */
static json_t *row_object(sqlite3_stmt *s, const char *const *names, int n)
{
    json_t *o = json_object();
    int ok = o != NULL;
    for (int i = 0; ok && i < n; i++) {
        const char *k = names[i];
        int parse = k[0] == '@';
        json_t *v;
        switch (sqlite3_column_type(s, i)) {
        case SQLITE_NULL:
            v = json_null();
            break;
        case SQLITE_INTEGER:
            v = json_integer((json_int_t)sqlite3_column_int64(s, i));
            break;
        case SQLITE_FLOAT:
            v = json_real(sqlite3_column_double(s, i));
            break;
        default: {
            const char *t = (const char *)sqlite3_column_text(s, i);
            v = parse ? json_loads(t ? t : "", JSON_DECODE_ANY, NULL) : NULL;
            if (!v)
                v = json_string(t ? t : "");
            if (!v) /* not UTF-8: say so rather than fail the whole read */
                v = json_string("(not UTF-8)");
        }
        }
        put(o, parse ? k + 1 : k, v, &ok);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Step a bound statement to the end: every row appended to a new JSON array. */
static int rows_json(store *st, sqlite3_stmt *s, const char *const *names, int n, json_t **out,
                     skh_error *err, const char *doing)
{
    json_t *arr = json_array();
    int rc;
    *out = NULL;
    if (!arr) {
        store_stmt_done(s);
        return store_no_memory(err, doing);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *o = row_object(s, names, n);
        if (!o || json_array_append_new(arr, o) != 0) {
            store_stmt_done(s);
            json_decref(arr);
            return store_no_memory(err, doing);
        }
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "%s", doing);
        store_stmt_done(s);
        json_decref(arr);
        return rc;
    }
    store_stmt_done(s);
    *out = arr;
    return SKH_OK;
}

/* The skill and state of a variant; SKH_ENOTFOUND (with a message) when there is none. */
static int variant_row(store *st, const char *variant_id, char **skill, char **state,
                       skh_error *err)
{
    int rc;
    *skill = *state = NULL;
    sqlite3_stmt *s = stmt(st, sql_variant, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int ok = 1;
        *skill = col_dup(s, 0, &ok);
        *state = col_dup(s, 1, &ok);
        rc = ok && *skill && *state ? SKH_OK : store_no_memory(err, variant_id);
    } else if (rc == SQLITE_DONE) {
        rc = error_set(err, SKH_ENOTFOUND, variant_id, "no such variant");
    } else {
        rc = store_db_error(st, rc, err, "reading variant %s", variant_id);
    }
    store_stmt_done(s);
    if (rc) {
        free(*skill);
        free(*state);
        *skill = *state = NULL;
    }
    return rc;
}

/* ---- sign-off ---------------------------------------------------------------------- */

/*
 * The seeds' human_approvals columns: which checklist item fills which
 * column (bind position) and where its evidence goes.  The first five are
 * NOT NULL in the seeds (0 when the item is not on this path's list); the
 * production ones stay NULL on a prototype->staged sign-off.
 */
static const struct seed_column {
    const char *item;
    int col, evidence_col, nullable;
} seed_columns[] = {
    {"wsp_50_no_duplication", 6, 7, 0},
    {"test_coverage_complete", 8, 9, 0},
    {"instruction_clarity_approved", 10, 0, 0},
    {"dependencies_validated", 11, 12, 0},
    {"security_reviewed", 13, 14, 0},
    {"production_readiness", 15, 0, 1},
    {"integration_approved", 16, 0, 1},
    {"monitoring_configured", 17, 0, 1},
    {"rollback_tested", 18, 0, 1},
    {"documentation_updated", 19, 0, 1},
};

static const store_approval_item *find_item(const store_approval_new *a, const char *name)
{
    for (size_t i = 0; i < a->nitems; i++)
        if (strcmp(a->items[i].name, name) == 0)
            return &a->items[i];
    return NULL;
}

static char *checklist_json(const store_approval_new *a)
{
    json_t *arr = json_array();
    int ok = arr != NULL;
    for (size_t i = 0; ok && i < a->nitems; i++) {
        const store_approval_item *it = &a->items[i];
        json_t *o = json_pack("{s:s, s:b, s:b}", "name", it->name, "passed", it->passed, "given",
                              it->given);
        if (o && it->evidence)
            put(o, "evidence", json_string(it->evidence), &ok);
        if (!o || json_array_append_new(arr, o) != 0)
            ok = 0;
    }
    char *text = ok ? json_dumps(arr, SKH_JSON_FLAGS) : NULL;
    json_decref(arr);
    return text;
}

static int bind_approval(sqlite3_stmt *s, const store_approval_new *a, const char *id,
                         const char *skill, const char *now, const char *checklist)
{
    int bad = store_bind_text(s, 1, id) | store_bind_text(s, 2, skill) |
              store_bind_text(s, 3, a->path) | store_bind_text(s, 4, a->approver) |
              store_bind_text(s, 5, a->ticket) | store_bind_text(s, 20, now) |
              store_bind_text(s, 21, a->notes) | store_bind_text(s, 22, a->variant_id) |
              store_bind_text(s, 23, checklist);
    for (size_t i = 0; i < sizeof seed_columns / sizeof seed_columns[0]; i++) {
        const struct seed_column *c = &seed_columns[i];
        const store_approval_item *it = find_item(a, c->item);
        if (it)
            bad |= sqlite3_bind_int(s, c->col, it->given && it->passed);
        else
            bad |= c->nullable ? sqlite3_bind_null(s, c->col) : sqlite3_bind_int(s, c->col, 0);
        if (c->evidence_col)
            bad |= store_bind_text(s, c->evidence_col, it ? it->evidence : NULL);
    }
    return bad;
}

int store_approval_add(store *st, const store_approval_new *a, char **approval_id, skh_error *err)
{
    char id[UUID_TEXT_LEN], now[32];
    char *skill = NULL, *state = NULL;
    *approval_id = NULL;
    char *checklist = checklist_json(a);
    if (!checklist)
        return store_no_memory(err, a->variant_id);
    uuid_v7(id);
    store_timestamp(now);
    int rc = store_tx_begin(st, 1, err);
    if (rc) {
        free(checklist);
        return rc;
    }
    rc = variant_row(st, a->variant_id, &skill, &state, err);
    sqlite3_stmt *s = rc ? NULL : stmt(st, sql_approval_insert, &rc, err);
    if (s) {
        if (bind_approval(s, a, id, skill, now, checklist))
            rc = bind_failed(st, s, err, a->variant_id);
        else
            rc = store_stmt_run(st, s, err, "recording the sign-off of", a->variant_id);
    }
    free(checklist);
    free(skill);
    free(state);
    if (rc)
        return store_tx_fail(st, rc);
    if ((rc = store_tx_commit(st, err)))
        return rc;
    if (!(*approval_id = strdup(id)))
        return store_no_memory(err, id);
    return SKH_OK;
}

static const char *const approval_names[] = {"approval_id", "variant",   "path",  "approver",
                                             "ticket",      "timestamp", "notes", "@items"};
#define APPROVAL_NCOLS ((int)(sizeof approval_names / sizeof approval_names[0]))

/* An approval row as JSON: notes left out when NULL, items always an array. */
static json_t *approval_object(sqlite3_stmt *s)
{
    json_t *o = row_object(s, approval_names, APPROVAL_NCOLS);
    if (!o)
        return NULL;
    if (json_is_null(json_object_get(o, "notes")))
        json_object_del(o, "notes");
    if (!json_is_array(json_object_get(o, "items")) &&
        json_object_set_new(o, "items", json_array()) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* store_approval_latest without a transaction of its own; skill known. */
static int approval_latest(store *st, const char *skill, const char *variant_id, const char *path,
                           json_t **out, skh_error *err)
{
    int rc;
    *out = NULL;
    sqlite3_stmt *s = stmt(st, sql_approval_latest, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, path) |
        store_bind_text(s, 3, variant_id))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = (*out = approval_object(s)) ? SKH_OK : store_no_memory(err, variant_id);
    else if (rc == SQLITE_DONE)
        rc = SKH_OK;
    else
        rc = store_db_error(st, rc, err, "reading the sign-off of %s", variant_id);
    store_stmt_done(s);
    return rc;
}

int store_approval_latest(store *st, const char *variant_id, const char *path, json_t **out,
                          skh_error *err)
{
    char *skill = NULL, *state = NULL;
    *out = NULL;
    int rc = store_tx_begin(st, 0, err);
    if (rc)
        return rc;
    rc = variant_row(st, variant_id, &skill, &state, err);
    if (rc == SKH_OK)
        rc = approval_latest(st, skill, variant_id, path, out, err);
    free(skill);
    free(state);
    if (rc == SKH_OK && (rc = store_tx_commit(st, err)) == SKH_OK)
        return SKH_OK;
    json_decref(*out);
    *out = NULL;
    return rc == SKH_OK ? rc : store_tx_fail(st, rc);
}

int store_approvals_of_skill(store *st, const char *skill, json_t **out, skh_error *err)
{
    int rc;
    *out = NULL;
    sqlite3_stmt *s = stmt(st, sql_approvals_skill, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill))
        return bind_failed(st, s, err, skill);
    json_t *arr = json_array();
    if (!arr) {
        store_stmt_done(s);
        return store_no_memory(err, skill);
    }
    /* Newest first: the first row of each (variant, path) is its latest. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 1);
        const char *p = (const char *)sqlite3_column_text(s, 2);
        int seen = 0;
        size_t i;
        json_t *a;
        json_array_foreach(arr, i, a)
        {
            const char *av = json_string_value(json_object_get(a, "variant"));
            const char *ap = json_string_value(json_object_get(a, "path"));
            if (av && v && ap && p && strcmp(av, v) == 0 && strcmp(ap, p) == 0)
                seen = 1;
        }
        if (seen)
            continue;
        json_t *o = approval_object(s);
        if (!o || json_array_append_new(arr, o) != 0) {
            rc = store_no_memory(err, skill);
            break;
        }
    }
    if (rc == SQLITE_DONE)
        rc = SKH_OK;
    else if (rc > 0)
        rc = store_db_error(st, rc, err, "reading the sign-offs of %s", skill);
    store_stmt_done(s);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return SKH_OK;
}

/* ---- facts ----------------------------------------------------------------------- */

static int is_positive(const char *decision, const char *positive)
{
    return decision && positive && strcmp(decision, positive) == 0;
}

/* The benchmark figures of a variant (see policies/promotion.lua, facts.evaluation). */
static int evaluation_facts(store *st, const char *skill, const char *variant_id, json_t **out,
                            skh_error *err)
{
    int rc;
    char *positive = NULL;
    *out = NULL;
    sqlite3_stmt *s = stmt(st, sql_positive_class, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id) | store_bind_text(s, 2, skill))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int ok = 1;
        positive = col_dup(s, 0, &ok);
        rc = ok ? SKH_OK : store_no_memory(err, variant_id);
    } else {
        rc = store_db_error(st, rc, err, "finding the positive class of %s", skill);
    }
    store_stmt_done(s);
    if (rc)
        return rc;

    long cases = 0, failed = 0, nfid = 0, labelled = 0, correct = 0;
    long positives = 0, negatives = 0, fp = 0, cfn = 0;
    double fid_sum = 0.0;
    if (!(s = stmt(st, sql_eval_cases, &rc, err))) {
        free(positive);
        return rc;
    }
    if (store_bind_text(s, 1, variant_id)) {
        free(positive);
        return bind_failed(st, s, err, variant_id);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int error = sqlite3_column_type(s, 0) != SQLITE_NULL;
        const char *decision = error ? NULL : (const char *)sqlite3_column_text(s, 2);
        const char *expected = (const char *)sqlite3_column_text(s, 4);
        int critical = sqlite3_column_int(s, 5) != 0;
        cases++;
        failed += error;
        if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
            fid_sum += sqlite3_column_double(s, 1);
            nfid++;
        }
        if (expected) {
            labelled++;
            correct += decision && strcmp(decision, expected) == 0;
            if (is_positive(expected, positive)) {
                positives++;
                cfn += critical && !is_positive(decision, positive);
            } else {
                negatives++;
                fp += is_positive(decision, positive);
            }
        } else if (sqlite3_column_type(s, 3) != SQLITE_NULL) {
            labelled++;
            correct += !error && sqlite3_column_int(s, 3) == 1;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "reading the benchmark cases of %s", variant_id);
        store_stmt_done(s);
        free(positive);
        return rc;
    }
    store_stmt_done(s);

    int ok = 1;
    json_t *e = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "cases", (json_int_t)cases,
                          "failed", (json_int_t)failed, "labelled", (json_int_t)labelled, "correct",
                          (json_int_t)correct, "positives", (json_int_t)positives, "negatives",
                          (json_int_t)negatives, "false_positives", (json_int_t)fp,
                          "critical_false_negatives", (json_int_t)cfn);
    if (!e)
        ok = 0;
    if (ok && nfid > 0)
        put(e, "fidelity", json_real(fid_sum / (double)nfid), &ok);
    if (ok && labelled > 0)
        put(e, "outcome", json_real((double)correct / (double)labelled), &ok);
    /* Without a positive class nothing can be a false positive: the rate is unknown. */
    if (ok && negatives > 0 && positive)
        put(e, "false_positive_rate", json_real((double)fp / (double)negatives), &ok);
    if (ok && positive)
        put(e, "positive_class", json_string(positive), &ok);
    free(positive);
    if (!ok) {
        json_decref(e);
        return store_no_memory(err, variant_id);
    }
    *out = e;
    return SKH_OK;
}

/* Run one window query bound to (variant, n); the row stays on s for the caller. */
static int window_step(store *st, const char *sql, const char *variant_id, int n,
                       sqlite3_stmt **out, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql, &rc, err);
    *out = NULL;
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant_id) | sqlite3_bind_int(s, 2, n))
        return bind_failed(st, s, err, variant_id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = store_db_error(st, rc, err, "reading the last %d executions of %s", n, variant_id);
        store_stmt_done(s);
        return rc;
    }
    *out = s;
    return SKH_OK;
}

/* facts.window: the variant's last n live rows of each metric table. */
static int window_facts(store *st, const char *variant_id, int n, json_t **out, skh_error *err)
{
    sqlite3_stmt *s;
    int ok = 1;
    json_t *w = json_pack("{s:i}", "size", n);
    *out = NULL;
    if (!w)
        return store_no_memory(err, variant_id);

    int rc = window_step(st, sql_window_fidelity, variant_id, n, &s, err);
    if (rc == SKH_OK) {
        put(w, "fidelity_metrics", json_integer(sqlite3_column_int64(s, 0)), &ok);
        if (sqlite3_column_type(s, 1) != SQLITE_NULL)
            put(w, "fidelity", json_real(sqlite3_column_double(s, 1)), &ok);
        store_stmt_done(s);
        rc = window_step(st, sql_window_outcome, variant_id, n, &s, err);
    }
    if (rc == SKH_OK) {
        long long labelled = sqlite3_column_int64(s, 1), correct = sqlite3_column_int64(s, 2);
        put(w, "outcome_metrics", json_integer(sqlite3_column_int64(s, 0)), &ok);
        put(w, "labelled", json_integer(labelled), &ok);
        put(w, "correct", json_integer(correct), &ok);
        put(w, "critical_false_negatives", json_integer(sqlite3_column_int64(s, 3)), &ok);
        if (labelled > 0)
            put(w, "outcome", json_real((double)correct / (double)labelled), &ok);
        store_stmt_done(s);
        rc = window_step(st, sql_window_performance, variant_id, n, &s, err);
    }
    if (rc == SKH_OK) {
        long long np = sqlite3_column_int64(s, 0), exceptions = sqlite3_column_int64(s, 2);
        put(w, "performance_metrics", json_integer(np), &ok);
        put(w, "exceptions", json_integer(exceptions), &ok);
        put(w, "crashes", json_integer(sqlite3_column_int64(s, 3)), &ok);
        if (np > 0) {
            put(w, "mean_ms", json_real(sqlite3_column_double(s, 1)), &ok);
            put(w, "exception_rate", json_real((double)exceptions / (double)np), &ok);
        }
        store_stmt_done(s);
    }
    if (rc == SKH_OK && !ok)
        rc = store_no_memory(err, variant_id);
    if (rc) {
        json_decref(w);
        return rc;
    }
    *out = w;
    return SKH_OK;
}

int store_variant_live_window(store *st, const char *variant_id, int n, json_t **out,
                              skh_error *err)
{
    if (n < 1 || n > STORE_LIFECYCLE_MAX_WINDOW)
        return error_set(err, SKH_EINVAL, variant_id, "window %d is not in [1, %d]", n,
                         STORE_LIFECYCLE_MAX_WINDOW);
    int rc = store_tx_begin(st, 0, err);
    if (rc)
        return rc;
    rc = window_facts(st, variant_id, n, out, err);
    if (rc == SKH_OK && (rc = store_tx_commit(st, err)) == SKH_OK)
        return SKH_OK;
    json_decref(*out);
    *out = NULL;
    return rc == SKH_OK ? rc : store_tx_fail(st, rc);
}

/* facts.ab: a live test whose treatment is this variant, or *out NULL. */
static int ab_facts(store *st, const char *skill, const char *variant_id, json_t **out,
                    skh_error *err)
{
    static const char *const names[] = {"test_id",
                                        "status",
                                        "control",
                                        "control_trials",
                                        "control_successes",
                                        "treatment_trials",
                                        "treatment_successes",
                                        "decision",
                                        "start_time"};
    int rc;
    json_t *arr = NULL;
    *out = NULL;
    sqlite3_stmt *s = stmt(st, sql_ab_of_treatment, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, variant_id))
        return bind_failed(st, s, err, variant_id);
    rc = rows_json(st, s, names, (int)(sizeof names / sizeof names[0]), &arr, err,
                   "reading the A/B test of the variant");
    if (rc)
        return rc;
    json_t *first = json_array_get(arr, 0);
    if (first)
        *out = json_incref(first);
    json_decref(arr);
    return SKH_OK;
}

int store_promotion_facts(store *st, const char *variant_id, const char *path, int window,
                          json_t **out, skh_error *err)
{
    char *skill = NULL, *state = NULL;
    json_t *evaluation = NULL, *win = NULL, *approval = NULL, *ab = NULL, *f = NULL;
    *out = NULL;
    if (window < 1 || window > STORE_LIFECYCLE_MAX_WINDOW)
        return error_set(err, SKH_EINVAL, variant_id, "window %d is not in [1, %d]", window,
                         STORE_LIFECYCLE_MAX_WINDOW);
    /* One read transaction: the policy judges one consistent snapshot. */
    int rc = store_tx_begin(st, 0, err);
    if (rc)
        return rc;
    rc = variant_row(st, variant_id, &skill, &state, err);
    if (rc == SKH_OK)
        rc = evaluation_facts(st, skill, variant_id, &evaluation, err);
    if (rc == SKH_OK)
        rc = window_facts(st, variant_id, window, &win, err);
    if (rc == SKH_OK)
        rc = approval_latest(st, skill, variant_id, path, &approval, err);
    if (rc == SKH_OK)
        rc = ab_facts(st, skill, variant_id, &ab, err);
    if (rc == SKH_OK) {
        f = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "skill", skill, "variant", variant_id,
                      "from_state", state, "path", path, "evaluation", evaluation, "window", win);
        evaluation = win = NULL; /* stolen, also on failure */
        int ok = f != NULL;
        if (ok && approval)
            put(f, "approval", json_incref(approval), &ok);
        if (ok && ab)
            put(f, "ab", json_incref(ab), &ok);
        if (!ok)
            rc = store_no_memory(err, variant_id);
    }
    free(skill);
    free(state);
    json_decref(evaluation);
    json_decref(win);
    json_decref(approval);
    json_decref(ab);
    if (rc == SKH_OK && (rc = store_tx_commit(st, err)) == SKH_OK) {
        *out = f;
        return SKH_OK;
    }
    json_decref(f);
    return rc == SKH_OK ? rc : store_tx_fail(st, rc);
}

/* ---- the promotion ------------------------------------------------------------------ */

void store_promoted_free(store_promoted *p)
{
    if (!p)
        return;
    free(p->event_id);
    free(p->timestamp);
    free(p->demoted);
    free(p->ab_test_id);
    memset(p, 0, sizeof *p);
}

/* Step a statement that returns at most one row of text columns into outs. */
static int step_returning(store *st, sqlite3_stmt *s, char **outs, int n, skh_error *err,
                          const char *doing, const char *id)
{
    int rc = sqlite3_step(s), ok = 1;
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n; i++)
            outs[i] = col_dup(s, i, &ok);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "%s %s", doing, id);
        store_stmt_done(s);
        return rc;
    }
    store_stmt_done(s);
    return ok ? SKH_OK : store_no_memory(err, id);
}

static int mean_fidelity(store *st, const char *variant, const char *since, double *mean,
                         skh_error *err)
{
    int rc;
    *mean = NAN;
    sqlite3_stmt *s = stmt(st, sql_mean_fidelity, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant) | store_bind_text(s, 2, since))
        return bind_failed(st, s, err, variant);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(s, 0) != SQLITE_NULL)
            *mean = sqlite3_column_double(s, 0);
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "averaging the fidelity of %s", variant);
    }
    store_stmt_done(s);
    return rc;
}

static int bind_mean(sqlite3_stmt *s, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
}

/*
 * A live or awaiting-approval A/B test of this treatment ends as promoted
 * (a human made the call), recorded as an A/B promotion is: the variant's
 * promoted flag and a variation_promoted learning event, which the
 * telemetry's win rate and fidelity delta count.
 */
static int close_ab(store *st, const char *skill, const store_promotion *p, const char *now,
                    char **test_id, skh_error *err)
{
    char *row[3] = {NULL, NULL, NULL}; /* test_id, control, start_time */
    char reason[512], desc[768];
    double before = NAN, after = NAN;
    int rc;
    *test_id = NULL;
    snprintf(reason, sizeof reason, "promoted by hand through the promotion gate%s%s",
             p->ticket ? ", ticket " : "", p->ticket ? p->ticket : "");
    sqlite3_stmt *s = stmt(st, sql_ab_close, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, p->variant_id) |
        store_bind_text(s, 3, now) | store_bind_text(s, 4, reason))
        return bind_failed(st, s, err, p->variant_id);
    rc = step_returning(st, s, row, 3, err, "closing the A/B test of", p->variant_id);
    if (rc == SKH_OK && row[0]) {
        if (!(s = stmt(st, sql_variant_promoted, &rc, err)))
            goto done;
        if (store_bind_text(s, 1, p->variant_id)) {
            rc = bind_failed(st, s, err, p->variant_id);
            goto done;
        }
        if ((rc = store_stmt_run(st, s, err, "marking as promoted", p->variant_id)))
            goto done;
        if ((rc = mean_fidelity(st, row[1], row[2], &before, err)) ||
            (rc = mean_fidelity(st, p->variant_id, row[2], &after, err)))
            goto done;
        snprintf(desc, sizeof desc, "Promoted %s over %s (test %s) through the promotion gate",
                 p->variant_id, row[1] ? row[1] : "?", row[0]);
        if (!(s = stmt(st, sql_learning, &rc, err)))
            goto done;
        if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, desc) |
            store_bind_text(s, 3, p->variant_id) | bind_mean(s, 4, before) |
            bind_mean(s, 5, after) | store_bind_text(s, 6, now)) {
            rc = bind_failed(st, s, err, p->variant_id);
            goto done;
        }
        rc = store_stmt_run(st, s, err, "recording the promotion of", p->variant_id);
    }
done:
    if (rc == SKH_OK)
        *test_id = row[0];
    else
        free(row[0]);
    free(row[1]);
    free(row[2]);
    return rc;
}

static int promotion_rows(store *st, const store_promotion *p, const char *skill,
                          const char *event_id, const char *now, const char *demoted,
                          skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_event, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, event_id) | store_bind_text(s, 2, skill) |
        store_bind_text(s, 3, p->from_state) | store_bind_text(s, 4, p->to_state) |
        store_bind_text(s, 5, p->approver) | store_bind_text(s, 6, p->ticket) |
        store_bind_text(s, 7, now) | store_bind_text(s, 8, p->reason) |
        store_bind_text(s, 9, p->variant_id) | store_bind_text(s, 10, demoted))
        return bind_failed(st, s, err, p->variant_id);
    if ((rc = store_stmt_run(st, s, err, "recording the promotion event of", p->variant_id)))
        return rc;
    if (!(s = stmt(st, sql_decision, &rc, err)))
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, p->variant_id) |
        store_bind_text(s, 3, p->observed) | store_bind_text(s, 4, p->thresholds) |
        store_bind_text(s, 5, p->policy_file) | store_bind_text(s, 6, p->policy_sha256) |
        store_bind_text(s, 7, now))
        return bind_failed(st, s, err, p->variant_id);
    return store_stmt_run(st, s, err, "recording the promotion decision of", p->variant_id);
}

static int move_variant(store *st, const store_promotion *p, const char *skill, char **demoted,
                        skh_error *err)
{
    int rc;
    sqlite3_stmt *s;
    *demoted = NULL;
    if (strcmp(p->to_state, "production") == 0) {
        /* First: the unique index allows one production variant at a time. */
        if (!(s = stmt(st, sql_demote, &rc, err)))
            return rc;
        if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, p->variant_id))
            return bind_failed(st, s, err, skill);
        if ((rc = step_returning(st, s, demoted, 1, err, "demoting the production variant of",
                                 skill)))
            return rc;
    }
    if (!(s = stmt(st, sql_move, &rc, err)))
        return rc;
    if (store_bind_text(s, 1, p->variant_id) | store_bind_text(s, 2, p->from_state) |
        store_bind_text(s, 3, p->to_state))
        return bind_failed(st, s, err, p->variant_id);
    if ((rc = store_stmt_run(st, s, err, "promoting", p->variant_id)))
        return rc;
    if (sqlite3_changes(st->db) != 1)
        return error_set(err, SKH_EFAILED, p->variant_id, "is no longer %s", p->from_state);
    return SKH_OK;
}

int store_promote(store *st, const store_promotion *p, store_promoted *out, skh_error *err)
{
    char event_id[UUID_TEXT_LEN], now[32];
    char *skill = NULL, *state = NULL;
    memset(out, 0, sizeof *out);
    if (!p->variant_id || !p->from_state || !p->to_state)
        return error_set(err, SKH_EINVAL, "promotion", "variant, from_state and to_state needed");
    uuid_v7(event_id);
    store_timestamp(now);
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    rc = variant_row(st, p->variant_id, &skill, &state, err);
    /* The gate judged the variant in from_state; another process may have moved it since. */
    if (rc == SKH_OK && strcmp(state, p->from_state) != 0)
        rc = error_set(err, SKH_EFAILED, p->variant_id,
                       "is %s now, not %s: it changed while the gate decided; ask again", state,
                       p->from_state);
    if (rc == SKH_OK)
        rc = move_variant(st, p, skill, &out->demoted, err);
    if (rc == SKH_OK && strcmp(p->to_state, "production") == 0)
        rc = close_ab(st, skill, p, now, &out->ab_test_id, err);
    if (rc == SKH_OK)
        rc = promotion_rows(st, p, skill, event_id, now, out->demoted, err);
    free(skill);
    free(state);
    if (rc == SKH_OK && (rc = store_tx_commit(st, err)) == SKH_OK) {
        out->event_id = strdup(event_id);
        out->timestamp = strdup(now);
        if (!out->event_id || !out->timestamp) {
            /* Committed: the promotion stands; only the report is short. */
            store_promoted_free(out);
            return store_no_memory(err, p->variant_id);
        }
        return SKH_OK;
    }
    store_promoted_free(out);
    return rc == SKH_OK ? rc : store_tx_fail(st, rc);
}

/* ---- status reads --------------------------------------------------------------------- */

/* 1 when the skill exists, 0 when not, or a negative code. */
static int skill_known(store *st, const char *skill, skh_error *err)
{
    int rc;
    sqlite3_stmt *s = stmt(st, sql_skill, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill))
        return bind_failed(st, s, err, skill);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = 1;
    else if (rc == SQLITE_DONE)
        rc = 0;
    else
        rc = store_db_error(st, rc, err, "reading skill %s", skill);
    store_stmt_done(s);
    return rc;
}

static int skill_rows(store *st, const char *sql, const char *skill, const char *const *names,
                      int n, json_t **out, skh_error *err, const char *doing)
{
    int rc;
    *out = NULL;
    sqlite3_stmt *s = stmt(st, sql, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill))
        return bind_failed(st, s, err, skill);
    return rows_json(st, s, names, n, out, err, doing);
}

int store_variants_of_skill(store *st, const char *skill, json_t **out, skh_error *err)
{
    static const char *const names[] = {"id",         "state",  "impl",
                                        "created_at", "parent", "test_status"};
    *out = NULL;
    int known = skill_known(st, skill, err);
    if (known < 0)
        return known;
    if (!known)
        return error_set(err, SKH_ENOTFOUND, skill, "no such skill");
    return skill_rows(st, sql_variants, skill, names, (int)(sizeof names / sizeof names[0]), out,
                      err, "listing the variants");
}

int store_breakers_of_skill(store *st, const char *skill, json_t **out, skh_error *err)
{
    static const char *const names[] = {"variant", "state", "failures", "opened_at",
                                        "half_open_at"};
    return skill_rows(st, sql_breakers, skill, names, (int)(sizeof names / sizeof names[0]), out,
                      err, "reading the circuit breakers");
}

int store_decisions_latest(store *st, const char *skill, int n, json_t **out, skh_error *err)
{
    static const char *const names[] = {"decision_id", "timestamp",   "kind",
                                        "variant",     "verdict",     "@observed",
                                        "@thresholds", "policy_file", "policy_sha256"};
    int rc;
    *out = NULL;
    sqlite3_stmt *s = stmt(st, sql_decisions, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | sqlite3_bind_int(s, 2, n))
        return bind_failed(st, s, err, skill);
    return rows_json(st, s, names, (int)(sizeof names / sizeof names[0]), out, err,
                     "reading the latest decisions");
}

/* One row of a PRODUCTION_CHANGES query: source, event_id, timestamp, became, replaced. */
static int change_row(store *st, const char *sql, const char *skill, const char *at, char *row[5],
                      skh_error *err)
{
    int rc;
    for (int i = 0; i < 5; i++)
        row[i] = NULL;
    sqlite3_stmt *s = stmt(st, sql, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, at))
        return bind_failed(st, s, err, skill);
    return step_returning(st, s, row, 5, err, "reading the production history of", skill);
}

/* *existed = 1 when the variant was created at or before at. */
static int existed_at(store *st, const char *variant, const char *at, int *existed, skh_error *err)
{
    char *created = NULL;
    int rc;
    *existed = 0;
    sqlite3_stmt *s = stmt(st, sql_created, &rc, err);
    if (!s)
        return rc;
    if (store_bind_text(s, 1, variant))
        return bind_failed(st, s, err, variant);
    rc = step_returning(st, s, &created, 1, err, "reading variant", variant);
    *existed = created && strcmp(created, at) <= 0;
    free(created);
    return rc;
}

static void free_row(char *row[], int n)
{
    for (int i = 0; i < n; i++)
        free(row[i]);
}

/*
 * The production variant at time at: the latest production change at or
 * before it says what became production; failing that, the first change
 * after it says what was replaced (if that variant existed at the time);
 * with no change recorded at all, today's production variant if it existed.
 */
static int served_at(store *st, const char *skill, const char *at, json_t **out, skh_error *err)
{
    char *row[5];
    const char *variant = NULL, *since = NULL, *source = NULL, *event = NULL;
    int existed = 0;
    char *now_row[2] = {NULL, NULL};

    int rc = change_row(st, sql_change_before, skill, at, row, err);
    if (rc)
        return rc;
    if (row[0]) {
        variant = row[3];
        since = row[2];
        source = row[0];
        event = row[1];
    } else {
        free_row(row, 5);
        if ((rc = change_row(st, sql_change_after, skill, at, row, err)))
            return rc;
        if (row[0]) {
            source = row[0];
            event = row[1];
            if (row[4] && (rc = existed_at(st, row[4], at, &existed, err)) == SKH_OK && existed)
                variant = row[4];
        } else {
            sqlite3_stmt *s = stmt(st, sql_production_now, &rc, err);
            if (s && store_bind_text(s, 1, skill))
                rc = bind_failed(st, s, err, skill);
            else if (s)
                rc = step_returning(st, s, now_row, 2, err, "reading the production variant of",
                                    skill);
            if (rc == SKH_OK && now_row[0] && now_row[1] && strcmp(now_row[1], at) <= 0) {
                variant = now_row[0];
                since = now_row[1];
            }
            source = "skill_variations";
        }
    }
    if (rc == SKH_OK) {
        *out = json_pack("{s:s, s:s?, s:s?, s:s, s:s?}", "at", at, "variant", variant, "since",
                         since, "source", source, "event_id", event);
        if (!*out)
            rc = store_no_memory(err, skill);
    }
    free_row(row, 5);
    free_row(now_row, 2);
    return rc;
}

int store_served_at(store *st, const char *skill, const char *at, json_t **out, skh_error *err)
{
    *out = NULL;
    int rc = store_tx_begin(st, 0, err);
    if (rc)
        return rc;
    int known = skill_known(st, skill, err);
    if (known < 0)
        return store_tx_fail(st, known);
    if (!known)
        return store_tx_fail(st, error_set(err, SKH_ENOTFOUND, skill, "no such skill"));
    rc = served_at(st, skill, at, out, err);
    if (rc == SKH_OK && (rc = store_tx_commit(st, err)) == SKH_OK)
        return SKH_OK;
    json_decref(*out);
    *out = NULL;
    return rc == SKH_OK ? rc : store_tx_fail(st, rc);
}
