/*
 * A/B tests and rollouts in the store (DESIGN §2 step 7, §7): starting a
 * test, reading it, and applying a verdict exactly once.
 *
 * Trials are counted elsewhere (store_events.c, in the request's recording
 * transaction).  Here every change of a test's row is guarded by
 * "AND status = 'running'" and checked with RETURNING, so when several
 * processes reach the same verdict at the same moment the first one applies
 * it and the rest change nothing.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_internal.h"
#include "uuid.h"

/* Column order read by test_from_row(). */
#define AB_COLUMNS                                                                                 \
    "test_id, skill_name, control_version, treatment_version, mode, status, start_time,"           \
    " end_time, decided_at, step_started_at, decision, statistic, steps, reason, weight,"          \
    " sample_size_target, step, control_trials, control_successes, control_attempts,"              \
    " treatment_trials, treatment_successes, treatment_attempts, step_control_trials,"             \
    " step_control_successes, step_treatment_trials, step_treatment_successes,"                    \
    " COALESCE(min_p, 1)"

static const char sql_get[] = "SELECT " AB_COLUMNS " FROM ab_test_assignments WHERE test_id = ?1";
static const char sql_running[] = "SELECT " AB_COLUMNS " FROM ab_test_assignments"
                                  " WHERE skill_name = ?1 AND status = 'running'";
static const char sql_latest[] =
    "SELECT " AB_COLUMNS " FROM ab_test_assignments WHERE skill_name = ?1"
    " ORDER BY status IN ('running', 'awaiting_approval') DESC, start_time DESC, test_id DESC"
    " LIMIT 1";
static const char sql_skill[] = "SELECT 1 FROM skills WHERE skill_id = ?1";
static const char sql_variant[] =
    "SELECT skill_name, state FROM skill_variations WHERE variation_id = ?1";
/* The serving order of store.c, the treatment left out. */
static const char sql_control[] =
    "SELECT variation_id FROM skill_variations"
    " WHERE skill_name = ?1 AND state <> 'archived' AND variation_id <> ?2"
    " ORDER BY CASE state WHEN 'production' THEN 0 WHEN 'staged' THEN 1 ELSE 2 END, version DESC"
    " LIMIT 1";
static const char sql_live_id[] =
    "SELECT test_id, status FROM ab_test_assignments"
    " WHERE skill_name = ?1 AND status IN ('running', 'awaiting_approval')";
static const char sql_insert[] =
    "INSERT INTO ab_test_assignments (test_id, skill_name, control_version, treatment_version,"
    " start_time, status, sample_size_target, weight, routing, mode, steps, step, step_started_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8, ?9, ?10, 0, ?5)";
static const char sql_test_status[] =
    "UPDATE skill_variations SET test_status = ?2 WHERE variation_id = ?1";
static const char sql_note_p[] =
    "UPDATE ab_test_assignments SET min_p = MIN(COALESCE(min_p, 1), ?2)"
    " WHERE test_id = ?1 AND status = 'running'";
static const char sql_stop[] =
    "UPDATE ab_test_assignments SET status = 'stopped', end_time = ?2, reason = ?3"
    " WHERE skill_name = ?1 AND status IN ('running', 'awaiting_approval')"
    " RETURNING test_id, treatment_version";

/* A verdict that ends the test.  ?2 status, ?3 now, ?4 decision, ?7 p (NULL: none). */
static const char sql_end[] =
    "UPDATE ab_test_assignments SET status = ?2, end_time = CASE WHEN ?2 = 'awaiting_approval'"
    " THEN NULL ELSE ?3 END, decided_at = ?3, decision = ?4, statistic = ?5, reason = ?6,"
    " min_p = MIN(COALESCE(min_p, 1), COALESCE(?7, 1)),"
    " weight = CASE WHEN ?2 = 'stopped' THEN 0 ELSE weight END"
    " WHERE test_id = ?1 AND status = 'running'"
    " RETURNING skill_name, control_version, treatment_version, start_time, mode";
/* A rollout's next step: the step's own counts start again. */
static const char sql_advance[] =
    "UPDATE ab_test_assignments SET weight = ?3, step = step + 1, step_started_at = ?4,"
    " step_control_trials = 0, step_control_successes = 0, step_treatment_trials = 0,"
    " step_treatment_successes = 0, min_p = MIN(COALESCE(min_p, 1), COALESCE(?5, 1))"
    " WHERE test_id = ?1 AND status = 'running' AND step = ?2"
    " RETURNING skill_name, control_version, treatment_version, start_time, mode";

static const char sql_production[] =
    "SELECT variation_id FROM skill_variations"
    " WHERE skill_name = ?1 AND state = 'production' AND variation_id <> ?2";
static const char sql_demote[] = "UPDATE skill_variations SET state = 'staged'"
                                 " WHERE skill_name = ?1 AND state = 'production'"
                                 " AND variation_id <> ?2";
static const char sql_promote[] =
    "UPDATE skill_variations SET state = 'production', promoted = 1, test_status = 'promoted'"
    " WHERE variation_id = ?1";
/* A variant that became production some other way since is left serving. */
static const char sql_archive[] =
    "UPDATE skill_variations SET test_status = 'archived',"
    " state = CASE WHEN state = 'production' THEN state ELSE 'archived' END"
    " WHERE variation_id = ?1";
/*
 * Mean fidelity of a variant's requests since the test started, one value
 * per request: its final attempt.  Benchmark evaluations are left out.
 * Runs forced with --variant in that window count too: executions do not
 * say whether their request was a trial.
 */
static const char sql_mean_fidelity[] =
    "SELECT AVG(f.pattern_fidelity) FROM executions e"
    " JOIN fidelity_metrics f ON f.execution_id = e.execution_id"
    " WHERE e.variant_id = ?1 AND e.timestamp >= ?2 AND e.evaluation = 0"
    " AND e.attempt = (SELECT MAX(x.attempt) FROM executions x WHERE x.request_id = e.request_id)";
static const char sql_learning[] =
    "INSERT INTO learning_events (skill_name, event_type, description, variation_id,"
    " before_fidelity, after_fidelity, timestamp) VALUES (?1, 'variation_promoted', ?2, ?3, ?4,"
    " ?5, ?6)";
static const char sql_promotion_event[] =
    "INSERT INTO promotion_events (event_id, skill_id, from_state, to_state, approver,"
    " approval_ticket, timestamp, reason, variant_id, demoted_variant_id)"
    " VALUES (?1, ?2, ?3, 'production', NULL, ?4, ?5, ?6, ?7, ?8)";
static const char sql_decision[] =
    "INSERT INTO decisions (skill_name, variant_id, kind, verdict, observed, thresholds,"
    " policy_file, policy_sha256, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/* ---- reading -------------------------------------------------------------- */

void store_ab_test_free(store_ab_test *t)
{
    if (!t)
        return;
    char **strs[] = {&t->test_id,    &t->skill,           &t->control,    &t->treatment,
                     &t->mode,       &t->status,          &t->start_time, &t->end_time,
                     &t->decided_at, &t->step_started_at, &t->decision,   &t->statistic,
                     &t->steps,      &t->reason};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    memset(t, 0, sizeof *t);
}

/* NULL stays NULL; *ok is cleared when a copy fails. */
static char *col_text(sqlite3_stmt *s, int i, int *ok)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    char *d = strdup(t);
    if (!d)
        *ok = 0;
    return d;
}

static int test_from_row(sqlite3_stmt *s, store_ab_test *t, skh_error *err)
{
    int ok = 1;
    memset(t, 0, sizeof *t);
    char **strs[] = {&t->test_id,    &t->skill,           &t->control,    &t->treatment,
                     &t->mode,       &t->status,          &t->start_time, &t->end_time,
                     &t->decided_at, &t->step_started_at, &t->decision,   &t->statistic,
                     &t->steps,      &t->reason};
    int n = (int)(sizeof strs / sizeof strs[0]);
    for (int i = 0; i < n; i++)
        *strs[i] = col_text(s, i, &ok);
    if (!ok) {
        store_ab_test_free(t);
        return store_no_memory(err, "A/B test");
    }
    t->weight = sqlite3_column_double(s, n);
    t->target = sqlite3_column_int64(s, n + 1);
    t->step = sqlite3_column_int(s, n + 2);
    long long *counts[] = {&t->control_trials,        &t->control_successes,
                           &t->control_attempts,      &t->treatment_trials,
                           &t->treatment_successes,   &t->treatment_attempts,
                           &t->step_control_trials,   &t->step_control_successes,
                           &t->step_treatment_trials, &t->step_treatment_successes};
    for (int i = 0; i < (int)(sizeof counts / sizeof counts[0]); i++)
        *counts[i] = sqlite3_column_int64(s, n + 3 + i);
    t->min_p = sqlite3_column_double(s, n + 3 + (int)(sizeof counts / sizeof counts[0]));
    return SKH_OK;
}

/* One row of an AB_COLUMNS query keyed by ?1: SKH_OK, or SKH_ENOTFOUND without a message. */
static int test_query(store *st, const char *sql, const char *key, store_ab_test *out,
                      skh_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, sql, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, key)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding %s failed", key);
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = test_from_row(s, out, err);
    else if (rc == SQLITE_DONE)
        rc = SKH_ENOTFOUND;
    else
        rc = store_db_error(st, rc, err, "reading the A/B test of %s", key);
    store_stmt_done(s);
    return rc;
}

int store_ab_get(store *st, const char *test_id, store_ab_test *out, skh_error *err)
{
    int rc = test_query(st, sql_get, test_id, out, err);
    if (rc == SKH_ENOTFOUND)
        return error_set(err, SKH_ENOTFOUND, test_id, "no such A/B test");
    return rc;
}

int store_ab_running(store *st, const char *skill, store_ab_test *out, int *found, skh_error *err)
{
    *found = 0;
    int rc = test_query(st, sql_running, skill, out, err);
    if (rc == SKH_ENOTFOUND)
        return SKH_OK;
    if (rc == SKH_OK)
        *found = 1;
    return rc;
}

/* 1 when the skill exists, 0 when not, or a negative code. */
static int skill_known(store *st, const char *skill, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_skill, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, skill)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding %s failed", skill);
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = 1;
    else if (rc == SQLITE_DONE)
        rc = 0;
    else
        rc = store_db_error(st, rc, err, "reading skill %s", skill);
    store_stmt_done(s);
    return rc;
}

int store_ab_latest(store *st, const char *skill, store_ab_test *out, skh_error *err)
{
    int rc = test_query(st, sql_latest, skill, out, err);
    if (rc != SKH_ENOTFOUND)
        return rc;
    rc = skill_known(st, skill, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return error_set(err, SKH_ENOTFOUND, skill, "no such skill");
    return error_set(err, SKH_ENOTFOUND, skill,
                     "no A/B test yet; start one with `skillhost ab start %s --treatment %s@vN`",
                     skill, skill);
}

/* ---- starting a test ------------------------------------------------------ */

/*
 * "NAME-ab-UUIDv7": time-ordered, and readable in a list.  A long skill
 * name is shortened so the id fits STORE_AB_ID_MAX; the UUID alone is
 * unique.
 */
static void new_test_id(const char *skill, char out[STORE_AB_ID_MAX])
{
    char uuid[UUID_TEXT_LEN];
    uuid_v7(uuid);
    int room = STORE_AB_ID_MAX - 1 - (int)strlen("-ab-") - (UUID_TEXT_LEN - 1);
    snprintf(out, STORE_AB_ID_MAX, "%.*s-ab-%s", room, skill, uuid);
}

/* Read one text column of a one-row query bound to a and b; *out NULL when no row. */
static int one_text(store *st, const char *sql, const char *a, const char *b, char **out,
                    char **out2, skh_error *err, const char *doing)
{
    *out = NULL;
    if (out2)
        *out2 = NULL;
    sqlite3_stmt *s = store_stmt(st, sql, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, a) | (b ? store_bind_text(s, 2, b) : SQLITE_OK)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "%s: binding failed", doing);
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int ok = 1;
        *out = col_text(s, 0, &ok);
        if (out2)
            *out2 = col_text(s, 1, &ok);
        rc = ok ? SKH_OK : store_no_memory(err, doing);
    } else if (rc == SQLITE_DONE) {
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "%s", doing);
    }
    store_stmt_done(s);
    return rc;
}

/* The checks of store_ab_create, inside its transaction; *control is malloc'd. */
static int check_new(store *st, const store_ab_new *n, char **control, skh_error *err)
{
    char *owner = NULL, *state = NULL, *live = NULL, *live_status = NULL;
    *control = NULL;
    int rc = skill_known(st, n->skill, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return error_set(err, SKH_ENOTFOUND, n->skill, "no such skill");
    rc =
        one_text(st, sql_variant, n->treatment, NULL, &owner, &state, err, "reading the treatment");
    if (rc == SKH_OK && !owner)
        rc = error_set(err, SKH_ENOTFOUND, n->treatment, "no such variant");
    else if (rc == SKH_OK && strcmp(owner, n->skill) != 0)
        rc = error_set(err, SKH_EINVAL, "--treatment", "%s is a variant of %s, not of %s",
                       n->treatment, owner, n->skill);
    else if (rc == SKH_OK && strcmp(state, "archived") == 0)
        rc = error_set(err, SKH_EFAILED, n->treatment, "is archived; register it again to test it");
    else if (rc == SKH_OK && strcmp(state, "production") == 0)
        rc = error_set(err, SKH_EFAILED, n->treatment,
                       "is already the production variant of %s: the treatment and the control "
                       "would be the same variant",
                       n->skill);
    if (rc == SKH_OK)
        rc = one_text(st, sql_control, n->skill, n->treatment, control, NULL, err,
                      "choosing the control");
    if (rc == SKH_OK && !*control)
        rc = error_set(err, SKH_EFAILED, n->skill,
                       "no variant but %s can serve, so there is no control to test it against",
                       n->treatment);
    if (rc == SKH_OK)
        rc = one_text(st, sql_live_id, n->skill, NULL, &live, &live_status, err,
                      "looking for a live test");
    if (rc == SKH_OK && live)
        rc = error_set(err, SKH_EFAILED, n->skill,
                       "already has a live A/B test, %s (%s); stop it first with `skillhost ab "
                       "stop %s`",
                       live, live_status, n->skill);
    free(owner);
    free(state);
    free(live);
    free(live_status);
    if (rc) {
        free(*control);
        *control = NULL;
    }
    return rc;
}

static int insert_test(store *st, const store_ab_new *n, const char *id, const char *control,
                       const char *now, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_insert, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, id) | store_bind_text(s, 2, n->skill) |
        store_bind_text(s, 3, control) | store_bind_text(s, 4, n->treatment) |
        store_bind_text(s, 5, now) | sqlite3_bind_int64(s, 6, n->target) |
        sqlite3_bind_double(s, 7, n->weight) |
        store_bind_text(s, 8, "splitmix64(fnv1a64(test_id \":\" key)) % 10000") |
        store_bind_text(s, 9, n->mode) | store_bind_text(s, 10, n->steps)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the new test failed");
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        store_stmt_done(s);
        return SKH_OK;
    }
    /* Another process started one between our check and this insert. */
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        store_stmt_done(s);
        return error_set(err, SKH_EFAILED, n->skill,
                         "already has a live A/B test; stop it first with `skillhost ab stop %s`",
                         n->skill);
    }
    rc = store_db_error(st, rc, err, "starting the A/B test of %s", n->skill);
    store_stmt_done(s);
    return rc;
}

static int set_test_status(store *st, const char *variant, const char *status, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_test_status, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, variant) | store_bind_text(s, 2, status)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding %s failed", variant);
    }
    return store_stmt_run(st, s, err, "marking the test status of", variant);
}

int store_ab_create(store *st, const store_ab_new *n, char **test_id, skh_error *err)
{
    char id[STORE_AB_ID_MAX], now[32];
    char *control = NULL;
    *test_id = NULL;
    if (!n->skill || !n->treatment || !n->mode)
        return error_set(err, SKH_EINVAL, "A/B test", "skill, treatment and mode are required");
    new_test_id(n->skill, id);
    store_timestamp(now);
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    rc = check_new(st, n, &control, err);
    if (rc == SKH_OK)
        rc = insert_test(st, n, id, control, now, err);
    if (rc == SKH_OK)
        rc = set_test_status(st, n->treatment, "testing", err);
    free(control);
    if (rc)
        return store_tx_fail(st, rc);
    if ((rc = store_tx_commit(st, err)) != SKH_OK)
        return rc;
    if (!(*test_id = strdup(id)))
        return store_no_memory(err, id);
    return SKH_OK;
}

/* ---- looks and stops ------------------------------------------------------- */

int store_ab_note_p(store *st, const char *test_id, double p, skh_error *err)
{
    if (!(p >= 0.0 && p <= 1.0))
        return error_set(err, SKH_EINVAL, test_id, "p-value %g is not in [0, 1]", p);
    sqlite3_stmt *s = store_stmt(st, sql_note_p, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    if (store_bind_text(s, 1, test_id) | sqlite3_bind_double(s, 2, p)) {
        store_stmt_done(s);
        return store_tx_fail(st, error_set(err, SKH_ESTORE, store_path(st), "binding failed"));
    }
    if ((rc = store_stmt_run(st, s, err, "keeping the running minimum p of", test_id)))
        return store_tx_fail(st, rc);
    return store_tx_commit(st, err);
}

int store_ab_stop(store *st, const char *skill, const char *reason, char **test_id, skh_error *err)
{
    char now[32];
    char *id = NULL, *treatment = NULL;
    if (test_id)
        *test_id = NULL;
    store_timestamp(now);
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    sqlite3_stmt *s = store_stmt(st, sql_stop, err);
    if (!s)
        return store_tx_fail(st, err ? err->code : SKH_ESTORE);
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, now) |
        store_bind_text(s, 3, reason ? reason : "stopped by hand")) {
        store_stmt_done(s);
        return store_tx_fail(st, error_set(err, SKH_ESTORE, store_path(st), "binding failed"));
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int ok = 1;
        id = col_text(s, 0, &ok);
        treatment = col_text(s, 1, &ok);
        rc = ok ? SKH_OK : store_no_memory(err, skill);
        if (rc == SKH_OK && sqlite3_step(s) != SQLITE_DONE)
            rc = store_db_error(st, sqlite3_errcode(st->db), err, "stopping the test of %s", skill);
    } else if (rc == SQLITE_DONE) {
        rc = SKH_ENOTFOUND;
    } else {
        rc = store_db_error(st, rc, err, "stopping the test of %s", skill);
    }
    store_stmt_done(s);
    if (rc == SKH_ENOTFOUND) {
        int known = skill_known(st, skill, err);
        rc = known < 0   ? known
             : known > 0 ? error_set(err, SKH_ENOTFOUND, skill, "has no live A/B test to stop")
                         : error_set(err, SKH_ENOTFOUND, skill, "no such skill");
    }
    if (rc == SKH_OK)
        rc = set_test_status(st, treatment, "stopped", err);
    if (rc == SKH_OK)
        rc = store_tx_commit(st, err);
    else
        store_tx_rollback(st);
    free(treatment);
    if (rc == SKH_OK && test_id)
        *test_id = id;
    else
        free(id);
    return rc;
}

/* ---- verdicts -------------------------------------------------------------- */

/* What the guarded UPDATE returned about the test it changed. */
typedef struct ended {
    char *skill, *control, *treatment, *start_time, *mode;
} ended;

static void ended_free(ended *e)
{
    free(e->skill);
    free(e->control);
    free(e->treatment);
    free(e->start_time);
    free(e->mode);
}

/* Step the guarded UPDATE ... RETURNING: *applied = 1 when it changed the row. */
static int step_guarded(store *st, sqlite3_stmt *s, const char *test_id, ended *e, int *applied,
                        skh_error *err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int ok = 1;
        e->skill = col_text(s, 0, &ok);
        e->control = col_text(s, 1, &ok);
        e->treatment = col_text(s, 2, &ok);
        e->start_time = col_text(s, 3, &ok);
        e->mode = col_text(s, 4, &ok);
        if (!ok) {
            store_stmt_done(s);
            return store_no_memory(err, test_id);
        }
        *applied = 1;
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        rc = store_db_error(st, rc, err, "applying the verdict of %s", test_id);
        store_stmt_done(s);
        return rc;
    }
    store_stmt_done(s);
    return SKH_OK;
}

static int bind_p(sqlite3_stmt *s, int i, double p)
{
    return isnan(p) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, p);
}

static const char *end_status(store_ab_action a)
{
    switch (a) {
    case STORE_AB_PROMOTE:
        return "promoted";
    case STORE_AB_ARCHIVE:
        return "archived";
    case STORE_AB_AWAIT:
        return "awaiting_approval";
    default:
        return "stopped";
    }
}

static const char *decision_of(store_ab_action a)
{
    switch (a) {
    case STORE_AB_PROMOTE:
    case STORE_AB_AWAIT:
        return "treatment";
    case STORE_AB_ARCHIVE:
        return "control";
    case STORE_AB_ADVANCE:
        return "advance";
    default:
        return "stop";
    }
}

static const char *verdict_name(store_ab_action a)
{
    switch (a) {
    case STORE_AB_PROMOTE:
        return "promote";
    case STORE_AB_ARCHIVE:
        return "archive";
    case STORE_AB_AWAIT:
        return "await_approval";
    case STORE_AB_ADVANCE:
        return "advance";
    default:
        return "stop";
    }
}

static int guarded_update(store *st, const store_ab_verdict *v, const char *now, ended *e,
                          int *applied, skh_error *err)
{
    int adv = v->action == STORE_AB_ADVANCE;
    sqlite3_stmt *s = store_stmt(st, adv ? sql_advance : sql_end, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int bad;
    if (adv)
        bad = store_bind_text(s, 1, v->test_id) | sqlite3_bind_int(s, 2, v->from_step) |
              sqlite3_bind_double(s, 3, v->next_weight) | store_bind_text(s, 4, now) |
              bind_p(s, 5, v->p);
    else
        bad = store_bind_text(s, 1, v->test_id) | store_bind_text(s, 2, end_status(v->action)) |
              store_bind_text(s, 3, now) | store_bind_text(s, 4, decision_of(v->action)) |
              store_bind_text(s, 5, v->statistic) | store_bind_text(s, 6, v->reason) |
              bind_p(s, 7, v->p);
    if (bad) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the verdict failed");
    }
    return step_guarded(st, s, v->test_id, e, applied, err);
}

/* The mean final-attempt fidelity of a variant since start; *has 0 when it has none. */
static int mean_fidelity(store *st, const char *variant, const char *since, double *mean, int *has,
                         skh_error *err)
{
    *has = 0;
    sqlite3_stmt *s = store_stmt(st, sql_mean_fidelity, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, variant) | store_bind_text(s, 2, since)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding failed");
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
            *mean = sqlite3_column_double(s, 0);
            *has = 1;
        }
        rc = SKH_OK;
    } else {
        rc = store_db_error(st, rc, err, "averaging the fidelity of %s", variant);
    }
    store_stmt_done(s);
    return rc;
}

static int bind_mean(sqlite3_stmt *s, int i, double mean, int has)
{
    return has ? sqlite3_bind_double(s, i, mean) : sqlite3_bind_null(s, i);
}

/* The treatment becomes production; the variant it replaces stays as the rollback target. */
static int promote(store *st, const store_ab_verdict *v, const ended *e, const char *now,
                   skh_error *err)
{
    char *demoted = NULL, *owner = NULL, *from_state = NULL;
    char event_id[UUID_TEXT_LEN], desc[512];
    double before = 0, after = 0;
    int has_before, has_after;
    sqlite3_stmt *s;

    int rc = one_text(st, sql_production, e->skill, e->treatment, &demoted, NULL, err,
                      "reading the production variant");
    if (rc == SKH_OK)
        rc = one_text(st, sql_variant, e->treatment, NULL, &owner, &from_state, err,
                      "reading the treatment");
    if (rc == SKH_OK && !from_state)
        rc = error_set(err, SKH_ENOTFOUND, e->treatment, "the treatment variant is gone");
    if (rc == SKH_OK)
        rc = mean_fidelity(st, e->control, e->start_time, &before, &has_before, err);
    if (rc == SKH_OK)
        rc = mean_fidelity(st, e->treatment, e->start_time, &after, &has_after, err);
    if (rc == SKH_OK && !(s = store_stmt(st, sql_demote, err)))
        rc = err ? err->code : SKH_ESTORE;
    if (rc == SKH_OK) {
        if (store_bind_text(s, 1, e->skill) | store_bind_text(s, 2, e->treatment)) {
            store_stmt_done(s);
            rc = error_set(err, SKH_ESTORE, store_path(st), "binding failed");
        } else {
            rc = store_stmt_run(st, s, err, "demoting the production variant of", e->skill);
        }
    }
    if (rc == SKH_OK && !(s = store_stmt(st, sql_promote, err)))
        rc = err ? err->code : SKH_ESTORE;
    if (rc == SKH_OK) {
        if (store_bind_text(s, 1, e->treatment)) {
            store_stmt_done(s);
            rc = error_set(err, SKH_ESTORE, store_path(st), "binding failed");
        } else {
            rc = store_stmt_run(st, s, err, "promoting", e->treatment);
        }
    }

    snprintf(desc, sizeof desc, "Auto-promoted %s via A/B win over %s (test %s)%s%s", e->treatment,
             e->control, v->test_id, v->reason ? ": " : "", v->reason ? v->reason : "");
    if (rc == SKH_OK && !(s = store_stmt(st, sql_learning, err)))
        rc = err ? err->code : SKH_ESTORE;
    if (rc == SKH_OK) {
        if (store_bind_text(s, 1, e->skill) | store_bind_text(s, 2, desc) |
            store_bind_text(s, 3, e->treatment) | bind_mean(s, 4, before, has_before) |
            bind_mean(s, 5, after, has_after) | store_bind_text(s, 6, now)) {
            store_stmt_done(s);
            rc = error_set(err, SKH_ESTORE, store_path(st), "binding failed");
        } else {
            rc = store_stmt_run(st, s, err, "recording the promotion of", e->treatment);
        }
    }

    uuid_v7(event_id);
    if (rc == SKH_OK && !(s = store_stmt(st, sql_promotion_event, err)))
        rc = err ? err->code : SKH_ESTORE;
    if (rc == SKH_OK) {
        if (store_bind_text(s, 1, event_id) | store_bind_text(s, 2, e->skill) |
            store_bind_text(s, 3, from_state) | store_bind_text(s, 4, v->test_id) |
            store_bind_text(s, 5, now) | store_bind_text(s, 6, desc) |
            store_bind_text(s, 7, e->treatment) | store_bind_text(s, 8, demoted)) {
            store_stmt_done(s);
            rc = error_set(err, SKH_ESTORE, store_path(st), "binding failed");
        } else {
            rc = store_stmt_run(st, s, err, "recording the promotion event of", e->treatment);
        }
    }
    free(demoted);
    free(owner);
    free(from_state);
    return rc;
}

static int treatment_effects(store *st, const store_ab_verdict *v, const ended *e, const char *now,
                             skh_error *err)
{
    sqlite3_stmt *s;
    switch (v->action) {
    case STORE_AB_PROMOTE:
        return promote(st, v, e, now, err);
    case STORE_AB_ARCHIVE:
        if (!(s = store_stmt(st, sql_archive, err)))
            return err ? err->code : SKH_ESTORE;
        if (store_bind_text(s, 1, e->treatment)) {
            store_stmt_done(s);
            return error_set(err, SKH_ESTORE, store_path(st), "binding failed");
        }
        return store_stmt_run(st, s, err, "archiving", e->treatment);
    case STORE_AB_AWAIT:
        return set_test_status(st, e->treatment, "awaiting_approval", err);
    case STORE_AB_STOP:
        return set_test_status(st, e->treatment, "stopped", err);
    case STORE_AB_ADVANCE:
        return SKH_OK;
    }
    return error_set(err, SKH_EINVAL, v->test_id, "unknown verdict %d", (int)v->action);
}

static int decision_row(store *st, const store_ab_verdict *v, const ended *e, const char *now,
                        skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_decision, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    const char *kind = e->mode && strcmp(e->mode, "rollout") == 0 ? "rollout" : "ab";
    if (store_bind_text(s, 1, e->skill) | store_bind_text(s, 2, e->treatment) |
        store_bind_text(s, 3, kind) | store_bind_text(s, 4, verdict_name(v->action)) |
        store_bind_text(s, 5, v->observed) | store_bind_text(s, 6, v->thresholds) |
        store_bind_text(s, 7, v->policy_file) | store_bind_text(s, 8, v->policy_sha256) |
        store_bind_text(s, 9, now)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the decision failed");
    }
    return store_stmt_run(st, s, err, "recording the decision of", v->test_id);
}

int store_ab_apply(store *st, const store_ab_verdict *v, int *applied, skh_error *err)
{
    char now[32];
    ended e = {0};
    *applied = 0;
    if (!v->test_id)
        return error_set(err, SKH_EINVAL, "verdict", "no test id");
    if (v->action == STORE_AB_ADVANCE && !(v->next_weight > 0.0 && v->next_weight <= 100.0))
        return error_set(err, SKH_EINVAL, v->test_id, "next weight %g is not in (0, 100]",
                         v->next_weight);
    store_timestamp(now);
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    rc = guarded_update(st, v, now, &e, applied, err);
    if (rc == SKH_OK && *applied)
        rc = treatment_effects(st, v, &e, now, err);
    if (rc == SKH_OK && *applied)
        rc = decision_row(st, v, &e, now, err);
    ended_free(&e);
    if (rc) {
        *applied = 0;
        return store_tx_fail(st, rc);
    }
    rc = store_tx_commit(st, err);
    if (rc)
        *applied = 0;
    return rc;
}

/* ---- request durations per arm (the latency guard) --------------------------------- */

/* A request's duration is the sum of its attempts'; every attempt of it has one variant. */
static const char sql_durations[] =
    "SELECT e.variant_id = ?3, SUM(COALESCE(p.duration_ms, p.execution_time_ms))"
    " FROM executions e JOIN performance_metrics p ON p.execution_id = e.execution_id"
    " WHERE e.skill_id = ?1 AND e.timestamp >= ?2 AND e.variant_id IN (?3, ?4)"
    "   AND e.evaluation = 0"
    " GROUP BY e.request_id";

static int push_duration(store_durations *d, int treatment, double ms)
{
    double **v = treatment ? &d->treatment : &d->control;
    size_t *n = treatment ? &d->n_treatment : &d->n_control;
    size_t *cap = treatment ? &d->cap_treatment : &d->cap_control;
    if (*n == *cap) {
        size_t want = *cap ? *cap * 2 : 256;
        double *grown = realloc(*v, want * sizeof **v);
        if (!grown)
            return SKH_ENOMEM;
        *v = grown;
        *cap = want;
    }
    (*v)[(*n)++] = ms;
    return SKH_OK;
}

int store_ab_durations(store *st, const store_ab_test *t, store_durations *out, skh_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, sql_durations, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    if (store_bind_text(s, 1, t->skill) | store_bind_text(s, 2, t->start_time) |
        store_bind_text(s, 3, t->treatment) | store_bind_text(s, 4, t->control)) {
        store_stmt_done(s);
        return error_set(err, SKH_ESTORE, store_path(st), "binding the durations of %s failed",
                         t->test_id);
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (push_duration(out, sqlite3_column_int(s, 0), sqlite3_column_double(s, 1)) != SKH_OK) {
            store_stmt_done(s);
            store_durations_free(out);
            return store_no_memory(err, "reading request durations");
        }
    rc = rc == SQLITE_DONE
             ? SKH_OK
             : store_db_error(st, rc, err, "reading the request durations of %s", t->test_id);
    store_stmt_done(s);
    if (rc)
        store_durations_free(out);
    return rc;
}

void store_durations_free(store_durations *d)
{
    free(d->control);
    free(d->treatment);
    memset(d, 0, sizeof *d);
}

/* The newest latency look of the test: decisions of kind 'latency' name their test. */
static const char sql_latency_latest[] =
    "SELECT observed FROM decisions WHERE skill_name = ?1 AND kind = 'latency'"
    "   AND json_extract(observed, '$.test_id') = ?2"
    " ORDER BY timestamp DESC, decision_id DESC LIMIT 1";

int store_ab_latency_latest(store *st, const store_ab_test *t, char **observed, skh_error *err)
{
    return one_text(st, sql_latency_latest, t->skill, t->test_id, observed, NULL, err,
                    "reading the latest latency look");
}
