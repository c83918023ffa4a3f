/*
 * The SQLite store: schema, the seeds' own SQL, variants, recording,
 * locking, atomicity and several processes on one database.
 * Every test gets a fresh database in its own temporary folder.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "host_internal.h"
#include "store.h"
#include "store_rollback.h"
#include "store_internal.h"

#include "fixture.h"

static int setup_dir(void **state)
{
    return store_fixture_setup_dir(state, "store");
}

static int setup(void **state)
{
    return store_fixture_setup(state, "store");
}

/* ---- raw SQLite helpers: look at the file the way the seeds' code would ---- */

/* First column of the first row of sql (?1 = arg when not NULL); -1 when no row. */
static long long db_int(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (arg)
        sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* First column as text into buf ("(null)" for NULL, "" when no row). */
static const char *db_text(sqlite3 *db, const char *sql, const char *arg, char *buf, size_t n)
{
    sqlite3_stmt *s = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (arg)
        sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        snprintf(buf, n, "%s", t ? t : "(null)");
    }
    sqlite3_finalize(s);
    return buf;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", msg ? msg : "?");
        sqlite3_free(msg);
        fail_msg("%s: %s", sql, copy);
    }
}

static long long count_rows(const char *path, const char *table)
{
    char sql[128];
    sqlite3 *db = raw_open(path);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    long long n = db_int(db, sql, NULL);
    sqlite3_close(db);
    return n;
}

static char *add_variant(store *st, const char *skill, const char *state)
{
    char *id = NULL;
    skh_error err = {0};
    int rc =
        store_variant_add(st, skill, "/opt/skills/spam.so", "abc123", "be strict",
                          "[\"load\",\"classify\",\"explain\"]", state, "detects spam", &id, &err);
    if (rc != SKH_OK)
        fail_msg("store_variant_add(%s, %s): %s", skill, state ? state : "NULL", err.message);
    return id;
}

static store_execution make_ex(const char *execution_id, const char *variant_id)
{
    store_execution ex = {
        .execution_id = execution_id,
        .request_id = "req-1",
        .skill = "spam",
        .variant_id = variant_id,
        .attempt = 1,
        .timestamp = "2026-11-23T08:15:02.123Z",
        .input = "{\"text\":\"win money\"}",
        .output = "{\"decision\":\"spam\"}",
        .steps = "[\"load\",\"classify\"]",
        .category = SKH_ERR_NONE,
        .fidelity = 0.75,
        .patterns_followed = 2,
        .patterns_missed = 1,
        .missed = "[\"explain\"]",
        .decision = "spam",
        .correct = 1,
        .confidence = 0.9,
        .reasoning = "keyword match",
        .duration_ms = 12.6,
        .session_id = "sess-1",
    };
    return ex;
}

/* ---- schema --------------------------------------------------------------- */

static void t_schema_created(void **state)
{
    store_fixture *fx = *state;
    static const char *const tables[][2] = {
        {"skills", "skill_id, skill_name, promotion_state, primary_agent, intent_type, created_at,"
                   " last_promoted_at, version, description, positive_class"},
        {"executions", "execution_id, request_id, skill_id, variant_id, attempt, timestamp, input,"
                       " output, steps, error_category, error_message, session_id,"
                       " workflow_phase, user_query, tenant, error_type, evaluation, skipped"},
        {"fidelity_metrics", "execution_id, skill_id, variant_id, pattern_fidelity,"
                             " patterns_followed, patterns_missed, missed, failed_at_step, agent,"
                             " timestamp"},
        {"outcome_metrics", "execution_id, skill_id, variant_id, decision, correct, confidence,"
                            " reasoning, expected, critical, timestamp"},
        {"performance_metrics", "execution_id, skill_id, variant_id, execution_time_ms,"
                                " duration_ms, exception, error_category, timestamp"},
        {"human_approvals",
         "approval_id, skill_id, promotion_path, approver, approval_ticket,"
         " wsp_50_no_duplication, wsp_50_evidence, test_coverage_complete, test_evidence,"
         " instruction_clarity_approved, dependencies_validated, dependency_evidence,"
         " security_reviewed, security_notes, production_readiness, integration_approved,"
         " monitoring_configured, rollback_tested, documentation_updated, approval_timestamp,"
         " notes"},
        {"promotion_events", "event_id, skill_id, from_state, to_state, approver, approval_ticket,"
                             " timestamp, reason"},
        {"rollback_events", "event_id, skill_id, from_state, to_state, trigger_reason,"
                            " trigger_metric, timestamp"},
        {"skill_variations", "variation_id, skill_name, version, variation_content, impl,"
                             " impl_sha256, patterns, state, parent_id, description, promoted,"
                             " test_status, created_at"},
        {"ab_test_assignments",
         "test_id, skill_name, control_version, treatment_version, start_time, end_time, status,"
         " sample_size_target, control_successes, control_trials, treatment_successes,"
         " treatment_trials, weight, routing, decision, decided_at, statistic"},
        {"learning_events", "event_id, skill_name, event_type, description, variation_id,"
                            " before_fidelity, after_fidelity, timestamp"},
        {"telemetry_counters", "counter_name, counter_value, last_updated"},
        {"decisions", "decision_id, skill_name, variant_id, kind, verdict, observed, thresholds,"
                      " policy_file, policy_sha256, timestamp"},
        {"circuit_breakers", "variant_id, state, failures, opened_at, half_open_at"},
        {"config", "key, value, updated_at"},
        {"requests", "request_id, skill_id, status, attempts, owner, started_at, ended_at"},
    };
    sqlite3 *db = raw_open(fx->path);
    assert_int_equal(db_int(db, "PRAGMA user_version", NULL), STORE_SCHEMA_VERSION);
    assert_int_equal(STORE_SCHEMA_VERSION, 7);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[1024];
        sqlite3_stmt *s = NULL;
        snprintf(sql, sizeof sql, "SELECT %s FROM %s LIMIT 0", tables[i][1], tables[i][0]);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
            fail_msg("%s: %s", tables[i][0], sqlite3_errmsg(db));
        sqlite3_finalize(s);
        /* Real tables, not views, so the seeds' UPDATEs work on them. */
        assert_int_equal(db_int(db,
                                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'"
                                " AND name = ?1",
                                tables[i][0]),
                         1);
    }
    sqlite3_close(db);
}

/* The seeds' own statements, verbatim, against a skillhost database. */
static void t_seed_queries(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", "production");
    store_execution ex = make_ex("e1", v1);
    skh_error err = {0};
    char buf[128];

    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    sqlite3 *db = raw_open(fx->path);
    sqlite3_stmt *s = NULL;

    /* seed 000: metric coverage before staged -> production */
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT\n"
                                        "    (SELECT COUNT(*) FROM fidelity_metrics WHERE skill_id"
                                        " = ?) as fidelity_count,\n"
                                        "    (SELECT COUNT(*) FROM outcome_metrics WHERE skill_id"
                                        " = ?) as outcome_count,\n"
                                        "    (SELECT COUNT(*) FROM performance_metrics WHERE"
                                        " skill_id = ?) as perf_count",
                                        -1, &s, NULL),
                     SQLITE_OK);
    for (int i = 1; i <= 3; i++)
        sqlite3_bind_text(s, i, "spam", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sqlite3_column_int(s, i), 1);
    sqlite3_finalize(s);

    assert_int_equal(db_int(db,
                            "SELECT * FROM human_approvals\n"
                            "    WHERE skill_id = ? AND promotion_path = 'prototype->staged'\n"
                            "    ORDER BY approval_timestamp DESC LIMIT 1",
                            "spam"),
                     -1);

    /* seed 002: A/B tests */
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO ab_test_assignments (\n"
                                        "    test_id, skill_name, control_version,"
                                        " treatment_version,\n"
                                        "    start_time, sample_size_target\n"
                                        ") VALUES (?, ?, ?, ?, ?, ?)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, "ab_spam_1", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, "spam", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, "spam@v1", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, "spam@v2", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, "2026-11-23T08:15:02.123", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, 20);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    assert_string_equal(db_text(db,
                                "SELECT status FROM ab_test_assignments\n"
                                "    WHERE skill_name = ? AND status = 'running'\n"
                                "    ORDER BY start_time DESC LIMIT 1",
                                "spam", buf, sizeof buf),
                        "running");
    raw_exec(db, "UPDATE ab_test_assignments SET control_trials = control_trials + 1,"
                 " control_successes = control_successes + 1 WHERE test_id = 'ab_spam_1'");
    assert_int_equal(db_int(db,
                            "SELECT control_trials + control_successes + weight FROM"
                            " ab_test_assignments WHERE test_id = ?",
                            "ab_spam_1"),
                     52);

    raw_exec(db, "UPDATE skill_variations\n"
                 "        SET promoted = 1, test_status = 'promoted'\n"
                 "        WHERE variation_id = 'spam@v1'");
    assert_int_equal(sqlite3_changes(db), 1);
    raw_exec(db, "UPDATE skill_variations SET test_status = 'archived'"
                 " WHERE variation_id = 'nobody@v1'");
    assert_int_equal(db_int(db,
                            "SELECT SUM(CASE WHEN promoted = 1 THEN 1 ELSE 0 END) as promoted\n"
                            "        FROM skill_variations\n"
                            "        WHERE test_status IN ('promoted', 'archived')",
                            NULL),
                     1);
    assert_string_equal(db_text(db,
                                "SELECT variation_content FROM skill_variations"
                                " WHERE variation_id = ?",
                                "spam@v1", buf, sizeof buf),
                        "be strict");

    /* seed 002: telemetry counters, twice through the same upsert */
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO telemetry_counters (counter_name,"
                                        " counter_value, last_updated)\n"
                                        "        VALUES (?, ?, ?)\n"
                                        "        ON CONFLICT(counter_name) DO UPDATE SET\n"
                                        "            counter_value = counter_value + ?,\n"
                                        "            last_updated = ?",
                                        -1, &s, NULL),
                     SQLITE_OK);
    for (int round = 0; round < 2; round++) {
        sqlite3_bind_text(s, 1, "react_retry_count", -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, 3);
        sqlite3_bind_text(s, 3, "2026-11-23T08:15:02", -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, 3);
        sqlite3_bind_text(s, 5, "2026-11-23T08:15:02", -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    long long v = 0;
    assert_int_equal(store_counter_get(fx->st, "react_retry_count", &v, &err), SKH_OK);
    assert_int_equal(v, 6);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM telemetry_counters", NULL), 2);
    assert_int_equal(db_int(db,
                            "SELECT AVG(after_fidelity - before_fidelity) as avg_delta\n"
                            "        FROM learning_events\n"
                            "        WHERE event_type = 'variation_promoted'\n"
                            "          AND before_fidelity IS NOT NULL\n"
                            "          AND after_fidelity IS NOT NULL",
                            NULL),
                     0);
    sqlite3_close(db);
    free(v1);
}

static void t_newer_schema_refused(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    free(v1);
    store_close(fx->st);
    fx->st = NULL;

    sqlite3 *db = raw_open(fx->path);
    raw_exec(db, "PRAGMA user_version = 99");
    sqlite3_close(db);

    skh_error err = {0};
    store *st = NULL;
    store_options o = {.create = 1};
    assert_int_equal(store_open(fx->path, &o, &st, &err), SKH_ESTORE);
    assert_null(st);
    assert_non_null(strstr(err.message, "99"));
    char knows[32];
    snprintf(knows, sizeof knows, "knows %d", STORE_SCHEMA_VERSION);
    assert_non_null(strstr(err.message, knows));
    assert_string_equal(err.what, fx->path);

    db = raw_open(fx->path);
    assert_int_equal(db_int(db, "PRAGMA user_version", NULL), 99);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM skill_variations", NULL), 1);
    sqlite3_close(db);
}

/* What version 5 added, taken away again: a database as version 4 left it. */
/* What version 6 added (skill_variations.isolation). */
#define V6_UNDO "ALTER TABLE skill_variations DROP COLUMN isolation; "
#define V5_UNDO                                                                                    \
    "DROP TABLE hourly_rollups; DROP TABLE anomalies; DROP TABLE anomaly_scans;"                   \
    " DROP TABLE recommend_docs; DROP TABLE recommend_fts; DROP TABLE recommend_state;"            \
    " DROP TABLE rollup_state;"                                                                    \
    " DROP INDEX executions_session;"                                                              \
    " ALTER TABLE executions DROP COLUMN alternatives_considered;"                                 \
    " ALTER TABLE executions DROP COLUMN selection_rank;"                                          \
    " ALTER TABLE executions DROP COLUMN follow_up_actions;"                                       \
    " ALTER TABLE executions DROP COLUMN request_success;"

/*
 * A version 4 database gains the rollups, folded from its history by the
 * first recording after the migration: live executions only, a request's
 * success judged on its last attempt.
 */
static void t_migrates_from_v4(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    skh_error err = {0};
    store_request_end end = {.attempts = 2, .description = "d", .success = 1};
    store_execution ex = make_ex("e1", v1);
    ex.request_id = "r1";
    ex.fidelity = 0.5;
    ex.duration_ms = 3;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    ex = make_ex("e2", v1);
    ex.request_id = "r1";
    ex.attempt = 2;
    ex.fidelity = 1.0;
    ex.duration_ms = 40;
    ex.workflow_phase = "triage";
    ex.end = &end;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    ex = make_ex("e3", v1);
    ex.request_id = "r3";
    ex.evaluation = 1;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    store_close(fx->st);
    fx->st = NULL;
    sqlite3 *db = raw_open(fx->path);
    int live = db_int(db, "SELECT SUM(executions) FROM hourly_rollups", NULL);
    assert_int_equal(live, 2);
    raw_exec(db, V6_UNDO V5_UNDO "DROP TABLE requests; PRAGMA user_version = 4");
    sqlite3_close(db);

    assert_int_equal(store_open(fx->path, NULL, &fx->st, &err), SKH_OK);
    db = raw_open(fx->path);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM hourly_rollups", NULL), 0);
    sqlite3_close(db);
    /* The first recording after the migration folds the history, its own row with it. */
    ex = make_ex("e4", v1);
    ex.request_id = "r4";
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    db = raw_open(fx->path);
    assert_int_equal(db_int(db, "SELECT SUM(executions) FROM hourly_rollups", NULL), 3);
    assert_int_equal(db_int(db, "SELECT SUM(requests) FROM hourly_rollups", NULL), 1);
    assert_int_equal(db_int(db, "SELECT SUM(successes) FROM hourly_rollups", NULL), 1);
    assert_int_equal(db_int(db, "SELECT SUM(retried) FROM hourly_rollups", NULL), 1);
    assert_int_equal(db_int(db, "SELECT SUM(attempts) FROM hourly_rollups", NULL), 2);
    assert_int_equal(
        db_int(db, "SELECT SUM(f5) + 10 * SUM(f10) + 100 * SUM(f7) FROM hourly_rollups", NULL),
        111);
    assert_int_equal(
        db_int(db, "SELECT SUM(d2) + 10 * SUM(d5) + 100 * SUM(d4) FROM hourly_rollups", NULL), 111);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM hourly_rollups WHERE phase = 'triage'", NULL),
                     1);
    assert_int_equal(
        db_int(db, "SELECT request_success FROM executions WHERE execution_id = 'e2'", NULL), 1);
    assert_int_equal(
        db_int(db, "SELECT request_success IS NULL FROM executions WHERE execution_id = 'e1'",
               NULL),
        1);
    sqlite3_close(db);
    free(v1);
}

/* A version 1 database gains executions.skipped, and the old rows read as not skipped. */
static void t_migrates_from_v1(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    store_execution ex = make_ex("e1", v1);
    skh_error err = {0};
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    store_close(fx->st);
    fx->st = NULL;
    sqlite3 *db = raw_open(fx->path);
    /* Undo what versions 2 and up added, so the file is what version 1 wrote. */
    raw_exec(db, V6_UNDO V5_UNDO
             "ALTER TABLE executions DROP COLUMN skipped; DROP TABLE client_sessions;"
             " DROP TABLE shadow_decisions; DROP TABLE requests;"
             " PRAGMA user_version = 1");
    sqlite3_close(db);

    if (store_open(fx->path, NULL, &fx->st, &err) != SKH_OK)
        fail_msg("%s: %s", err.what, err.message);
    ex = make_ex("e2", v1);
    ex.skipped = 1;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    db = raw_open(fx->path);
    assert_int_equal(db_int(db, "PRAGMA user_version", NULL), STORE_SCHEMA_VERSION);
    assert_int_equal(db_int(db, "SELECT skipped FROM executions WHERE execution_id = 'e1'", NULL),
                     0);
    assert_int_equal(db_int(db, "SELECT skipped FROM executions WHERE execution_id = 'e2'", NULL),
                     1);
    /* Migration 3 counts the requests recorded before it as done. */
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM requests WHERE status = 'done'", NULL), 1);
    sqlite3_close(db);
    free(v1);
}

static void t_missing_file(void **state)
{
    store_fixture *fx = *state;
    skh_error err = {0};
    store *st = NULL;
    store_options o = {0};
    assert_int_equal(store_open(fx->path, &o, &st, &err), SKH_ENOTFOUND);
    assert_null(st);
    assert_non_null(strstr(err.message, "skillhost init"));
    assert_int_equal(access(fx->path, F_OK), -1);
    assert_int_equal(store_open(fx->path, NULL, &st, &err), SKH_ENOTFOUND);
}

static void t_not_a_database(void **state)
{
    store_fixture *fx = *state;
    FILE *f = fopen(fx->path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", f);
    fclose(f);
    skh_error err = {0};
    store *st = NULL;
    assert_int_equal(store_open(fx->path, NULL, &st, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "not an SQLite database"));
    assert_int_equal(store_check(fx->path, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "not an SQLite database"));
}

/* Item 8 of issue 9: another application's SQLite file is refused and left untouched. */
static void t_foreign_database(void **state)
{
    store_fixture *fx = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    raw_exec(db, "PRAGMA journal_mode=DELETE; CREATE TABLE photos (id INTEGER, path TEXT);"
                 " PRAGMA user_version = 7");
    sqlite3_close(db);
    struct stat before, after;
    assert_int_equal(stat(fx->path, &before), 0);

    for (int create = 0; create <= 1; create++) {
        skh_error err = {0};
        store *st = NULL;
        store_options o = {.create = create};
        assert_int_equal(store_open(fx->path, &o, &st, &err), SKH_ESTORE);
        assert_null(st);
        assert_non_null(strstr(err.message, "not a skillhost database"));
        assert_non_null(strstr(err.message, "1 table: photos"));
        assert_non_null(strstr(err.message, "user_version 7"));
        assert_string_equal(err.what, fx->path);
    }
    skh_error err = {0};
    assert_int_equal(store_check(fx->path, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "photos"));

    /* Not switched to WAL, no table added, not a byte changed. */
    assert_int_equal(stat(fx->path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(before.st_mtime, after.st_mtime);
    db = raw_open(fx->path);
    char buf[32];
    assert_string_equal(db_text(db, "PRAGMA journal_mode", NULL, buf, sizeof buf), "delete");
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM sqlite_master", NULL), 1);
    assert_int_equal(db_int(db, "PRAGMA application_id", NULL), 0);
    sqlite3_close(db);
}

/* An empty file becomes a workspace only when asked to create (init). */
static void t_empty_file(void **state)
{
    store_fixture *fx = *state;
    FILE *f = fopen(fx->path, "w");
    assert_non_null(f);
    fclose(f);
    skh_error err = {0};
    store *st = NULL;
    assert_int_equal(store_open(fx->path, NULL, &st, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "empty"));
    assert_non_null(strstr(err.message, "skillhost init"));
    assert_int_equal(store_check(fx->path, &err), SKH_ESTORE);
    struct stat sb;
    assert_int_equal(stat(fx->path, &sb), 0);
    assert_int_equal(sb.st_size, 0);

    store_options o = {.create = 1};
    assert_int_equal(store_open(fx->path, &o, &st, &err), SKH_OK);
    store_close(st);
    assert_int_equal(store_check(fx->path, &err), SKH_OK);
    sqlite3 *db = raw_open(fx->path);
    assert_int_equal((unsigned)db_int(db, "PRAGMA application_id", NULL), STORE_APPLICATION_ID);
    sqlite3_close(db);
    /* And now any open takes it. */
    assert_int_equal(store_open(fx->path, NULL, &st, &err), SKH_OK);
    store_close(st);
}

/* A device is never opened: no /dev/null-journal. */
static void t_not_a_file(void **state)
{
    (void)state;
    skh_error err = {0};
    store *st = NULL;
    store_options o = {.create = 1};
    assert_int_equal(store_open("/dev/null", &o, &st, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "character device"));
    assert_int_equal(access("/dev/null-journal", F_OK), -1);
    assert_int_equal(store_open("/tmp", NULL, &st, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "directory"));
    assert_int_equal(store_check("/dev/null", &err), SKH_ESTORE);
}

/* A skillhost database from before the application id opens and gets it. */
static void t_legacy_gets_application_id(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    free(v1);
    store_close(fx->st);
    fx->st = NULL;
    sqlite3 *db = raw_open(fx->path);
    raw_exec(db, "PRAGMA application_id = 0");
    sqlite3_close(db);

    skh_error err = {0};
    assert_int_equal(store_check(fx->path, &err), SKH_OK);
    assert_int_equal(store_open(fx->path, NULL, &fx->st, &err), SKH_OK);
    db = raw_open(fx->path);
    assert_int_equal((unsigned)db_int(db, "PRAGMA application_id", NULL), STORE_APPLICATION_ID);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM skill_variations", NULL), 1);
    sqlite3_close(db);

    /* Without skillhost's tables, user_version >= 1 alone is not enough. */
    db = raw_open(fx->path);
    raw_exec(db, "PRAGMA application_id = 0; DROP TABLE config");
    sqlite3_close(db);
    store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(store_open(fx->path, NULL, &fx->st, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "not a skillhost database"));
}

static void t_wal_mode(void **state)
{
    store_fixture *fx = *state;
    char buf[32];
    sqlite3 *db = raw_open(fx->path);
    assert_string_equal(db_text(db, "PRAGMA journal_mode", NULL, buf, sizeof buf), "wal");
    sqlite3_close(db);

    /* Reopening an existing WAL database, with full durability, works. */
    store *st = NULL;
    skh_error err = {0};
    store_options o = {.durability_full = 1};
    assert_int_equal(store_open(fx->path, &o, &st, &err), SKH_OK);
    assert_string_equal(store_path(st), fx->path);
    store_close(st);
}

/* ---- variants ------------------------------------------------------------- */

static void t_variant_versions(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    char *v2 = add_variant(fx->st, "spam", "staged");
    char *o1 = add_variant(fx->st, "other", NULL);
    assert_string_equal(v1, "spam@v1");
    assert_string_equal(v2, "spam@v2");
    assert_string_equal(o1, "other@v1");

    store_variant v;
    skh_error err = {0};
    assert_int_equal(store_variant_get(fx->st, "spam@v2", &v, &err), SKH_OK);
    assert_string_equal(v.variant_id, "spam@v2");
    assert_string_equal(v.skill, "spam");
    assert_int_equal(v.version, 2);
    assert_string_equal(v.impl, "/opt/skills/spam.so");
    assert_string_equal(v.impl_sha256, "abc123");
    assert_string_equal(v.content, "be strict");
    assert_string_equal(v.patterns, "[\"load\",\"classify\",\"explain\"]");
    assert_string_equal(v.state, "staged");
    assert_string_equal(v.description, "detects spam");
    assert_int_equal(strlen(v.created_at), 24);
    store_variant_free(&v);
    assert_int_equal(store_variant_get(fx->st, "spam@v1", &v, &err), SKH_OK);
    assert_string_equal(v.state, "prototype");
    store_variant_free(&v);

    assert_int_equal(store_variant_get(fx->st, "spam@v9", &v, &err), SKH_ENOTFOUND);
    assert_string_equal(err.what, "spam@v9");
    free(v1);
    free(v2);
    free(o1);
}

static void t_production_demotes(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", "production");
    char *v2 = add_variant(fx->st, "spam", "production");
    store_variant v;
    skh_error err = {0};
    char buf[64];

    assert_int_equal(store_variant_get(fx->st, v1, &v, &err), SKH_OK);
    assert_string_equal(v.state, "staged");
    store_variant_free(&v);
    assert_int_equal(store_variant_get(fx->st, v2, &v, &err), SKH_OK);
    assert_string_equal(v.state, "production");
    store_variant_free(&v);

    sqlite3 *db = raw_open(fx->path);
    assert_string_equal(db_text(db, "SELECT promotion_state FROM skills WHERE skill_id = ?", "spam",
                                buf, sizeof buf),
                        "production");
    assert_string_equal(
        db_text(db, "SELECT version FROM skills WHERE skill_id = ?", "spam", buf, sizeof buf), "2");
    assert_int_equal(
        db_int(db, "SELECT last_promoted_at IS NOT NULL FROM skills WHERE skill_id = ?", "spam"),
        1);
    /* At most one production variant per skill, whoever writes. */
    assert_int_not_equal(sqlite3_exec(db,
                                      "UPDATE skill_variations SET state = 'production'"
                                      " WHERE variation_id = 'spam@v1'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    /* Archiving the production variant leaves the staged one serving. */
    raw_exec(db, "UPDATE skill_variations SET state = 'archived' WHERE variation_id = 'spam@v2'");
    assert_string_equal(db_text(db,
                                "SELECT promotion_state || ' ' || version FROM skills"
                                " WHERE skill_id = ?",
                                "spam", buf, sizeof buf),
                        "staged 1");
    sqlite3_close(db);
    free(v1);
    free(v2);
}

static void expect_serving(store *st, const char *skill, const char *want)
{
    store_variant v;
    skh_error err = {0};
    assert_int_equal(store_variant_serving(st, skill, &v, &err), SKH_OK);
    assert_string_equal(v.variant_id, want);
    store_variant_free(&v);
}

static void t_serving_order(void **state)
{
    store_fixture *fx = *state;
    store_variant v;
    skh_error err = {0};
    char *ids[5];

    assert_int_equal(store_variant_serving(fx->st, "spam", &v, &err), SKH_ENOTFOUND);
    assert_non_null(strstr(err.message, "no such skill"));

    ids[0] = add_variant(fx->st, "spam", "prototype");
    expect_serving(fx->st, "spam", "spam@v1");
    ids[1] = add_variant(fx->st, "spam", "prototype");
    expect_serving(fx->st, "spam", "spam@v2"); /* newest prototype */
    ids[2] = add_variant(fx->st, "spam", "staged");
    ids[3] = add_variant(fx->st, "spam", "prototype");
    expect_serving(fx->st, "spam", "spam@v3"); /* staged beats a newer prototype */
    ids[4] = add_variant(fx->st, "spam", "production");
    expect_serving(fx->st, "spam", "spam@v5");

    char *a = add_variant(fx->st, "gone", "archived");
    assert_int_equal(store_variant_serving(fx->st, "gone", &v, &err), SKH_ENOTFOUND);
    assert_non_null(strstr(err.message, "archived"));
    assert_null(v.variant_id);
    free(a);
    for (int i = 0; i < 5; i++)
        free(ids[i]);
}

static void t_bad_input_refused(void **state)
{
    store_fixture *fx = *state;
    char *id = (char *)"untouched";
    skh_error err = {0};

    assert_int_equal(
        store_variant_add(fx->st, "spam", "/x.so", "", "", "[]", "live", "", &id, &err),
        SKH_EINVAL);
    assert_null(id);
    assert_non_null(strstr(err.message, "\"live\""));
    assert_non_null(strstr(err.message, "prototype"));
    assert_non_null(strstr(err.message, "archived"));

    assert_int_equal(store_variant_add(fx->st, "Spam!", "/x.so", "", "", "[]", NULL, "", &id, &err),
                     SKH_EINVAL);
    assert_non_null(strstr(err.message, "Spam!"));
    assert_int_equal(
        store_variant_add(fx->st, "spam", "/x.so", "", "", "{\"a\":1}", NULL, "", &id, &err),
        SKH_EINVAL);
    assert_int_equal(store_variant_add(fx->st, "spam", "/x.so", "", "", "[1]", NULL, "", &id, &err),
                     SKH_EINVAL);
    assert_int_equal(store_variant_add(fx->st, "spam", "", "", "", "[]", NULL, "", &id, &err),
                     SKH_EINVAL);
    assert_int_equal(count_rows(fx->path, "skills"), 0);
    assert_int_equal(count_rows(fx->path, "skill_variations"), 0);
}

static void t_skill_list_show(void **state)
{
    store_fixture *fx = *state;
    json_t *j = NULL;
    skh_error err = {0};

    assert_int_equal(store_skill_list(fx->st, &j, &err), SKH_OK);
    assert_true(json_is_array(j) && json_array_size(j) == 0);
    json_decref(j);

    char *v1 = add_variant(fx->st, "spam", "production");
    char *v2 = add_variant(fx->st, "spam", NULL);
    char *o1 = add_variant(fx->st, "alpha", "archived");
    store_execution ex = make_ex("e1", v1);
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    ex = make_ex("e2", v1);
    ex.fidelity = 0.25;
    ex.timestamp = "2026-11-23T09:00:00.000Z";
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);

    assert_int_equal(store_skill_list(fx->st, &j, &err), SKH_OK);
    assert_int_equal(json_array_size(j), 2);
    json_t *alpha = json_array_get(j, 0), *spam = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_object_get(alpha, "skill")), "alpha");
    assert_true(json_is_null(json_object_get(alpha, "serving")));
    assert_string_equal(json_string_value(json_object_get(spam, "serving")), "spam@v1");
    assert_string_equal(json_string_value(json_object_get(spam, "description")), "detects spam");
    json_t *vs = json_object_get(spam, "variants");
    assert_int_equal(json_array_size(vs), 2);
    json_t *first = json_array_get(vs, 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), "spam@v1");
    assert_int_equal(json_integer_value(json_object_get(first, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(first, "state")), "production");
    assert_string_equal(json_string_value(json_object_get(first, "impl")), "/opt/skills/spam.so");
    assert_int_equal(json_array_size(json_object_get(first, "patterns")), 3);
    assert_non_null(json_string_value(json_object_get(first, "created_at")));
    assert_null(json_object_get(first, "executions"));
    json_decref(j);

    assert_int_equal(store_skill_show(fx->st, "spam", &j, &err), SKH_OK);
    vs = json_object_get(j, "variants");
    first = json_array_get(vs, 0);
    json_t *counts = json_object_get(first, "executions");
    assert_int_equal(json_integer_value(json_object_get(counts, "fidelity")), 2);
    assert_int_equal(json_integer_value(json_object_get(counts, "outcome")), 2);
    assert_int_equal(json_integer_value(json_object_get(counts, "performance")), 2);
    assert_float_equal(json_real_value(json_object_get(first, "mean_fidelity")), 0.5, 1e-9);
    assert_string_equal(json_string_value(json_object_get(first, "last_run")),
                        "2026-11-23T09:00:00.000Z");
    json_t *second = json_array_get(vs, 1);
    assert_true(json_is_null(json_object_get(second, "mean_fidelity")));
    assert_true(json_is_null(json_object_get(second, "last_run")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(second, "executions"), "fidelity")), 0);
    json_decref(j);

    j = NULL;
    assert_int_equal(store_skill_show(fx->st, "nope", &j, &err), SKH_ENOTFOUND);
    assert_null(j);
    assert_string_equal(err.what, "nope");
    free(v1);
    free(v2);
    free(o1);
}

/* ---- recording ------------------------------------------------------------ */

static void t_record_execution(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    store_execution ex = make_ex("e1", v1);
    skh_error err = {0};
    char buf[128];

    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    sqlite3 *db = raw_open(fx->path);
    static const char *const tables[] = {"executions", "fidelity_metrics", "outcome_metrics",
                                         "performance_metrics"};
    for (int i = 0; i < 4; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE execution_id = 'e1'", tables[i]);
        assert_int_equal(db_int(db, sql, NULL), 1);
    }
    assert_int_equal(db_int(db, "SELECT execution_time_ms FROM performance_metrics", NULL), 13);
    assert_int_equal(db_int(db, "SELECT exception FROM performance_metrics", NULL), 0);
    assert_int_equal(db_int(db, "SELECT correct FROM outcome_metrics", NULL), 1);
    assert_int_equal(db_int(db, "SELECT confidence * 10 FROM outcome_metrics", NULL), 9);
    assert_string_equal(db_text(db, "SELECT decision || '|' || reasoning FROM outcome_metrics",
                                NULL, buf, sizeof buf),
                        "spam|keyword match");
    assert_string_equal(db_text(db,
                                "SELECT pattern_fidelity || '|' || patterns_followed || '|' ||"
                                " patterns_missed || '|' || missed || '|' || agent"
                                " FROM fidelity_metrics",
                                NULL, buf, sizeof buf),
                        "0.75|2|1|[\"explain\"]|skillhost");
    assert_string_equal(db_text(db, "SELECT error_type FROM executions", NULL, buf, sizeof buf),
                        "(null)");
    assert_string_equal(db_text(db,
                                "SELECT skill_id || '|' || variant_id || '|' || session_id"
                                " FROM executions",
                                NULL, buf, sizeof buf),
                        "spam|spam@v1|sess-1");

    long long total = 0;
    assert_int_equal(store_counter_get(fx->st, "total_executions", &total, &err), SKH_OK);
    assert_int_equal(total, 1);

    /* A failed attempt: category name, seed 004's error_type, the exception flag. */
    ex = make_ex("e2", v1);
    ex.attempt = 2;
    ex.output = NULL;
    ex.category = SKH_ERR_NETWORK;
    ex.error_message = "connection refused";
    ex.fidelity = 0.0;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    assert_string_equal(db_text(db,
                                "SELECT error_category || '|' || error_type || '|' ||"
                                " error_message || '|' || attempt || '|' || (output IS NULL)"
                                " FROM executions WHERE execution_id = ?",
                                "e2", buf, sizeof buf),
                        "network|network|connection refused|2|1");
    assert_string_equal(db_text(db,
                                "SELECT exception || '|' || error_category FROM"
                                " performance_metrics WHERE execution_id = ?",
                                "e2", buf, sizeof buf),
                        "1|network");
    assert_int_equal(store_counter_get(fx->st, "total_executions", &total, &err), SKH_OK);
    assert_int_equal(total, 2);

    /* Metric rows are insert-only. */
    assert_int_not_equal(
        sqlite3_exec(db, "UPDATE fidelity_metrics SET pattern_fidelity = 1", NULL, NULL, NULL),
        SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(db), "insert-only"));
    sqlite3_close(db);
    free(v1);
}

static void t_unknown_values_null(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    store_execution ex = make_ex("e1", v1);
    skh_error err = {0};
    char buf[64];

    ex.confidence = NAN;
    ex.correct = -1;
    ex.decision = NULL;
    ex.expected = "ham";
    ex.critical = 1;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    sqlite3 *db = raw_open(fx->path);
    assert_string_equal(db_text(db,
                                "SELECT typeof(confidence) || '|' || typeof(correct) || '|' ||"
                                " decision || '|' || expected || '|' || critical"
                                " FROM outcome_metrics",
                                NULL, buf, sizeof buf),
                        "null|null||ham|1");
    sqlite3_close(db);
    free(v1);
}

static void t_invalid_execution(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    skh_error err = {0};

    store_execution ex = make_ex("e1", v1);
    ex.fidelity = NAN;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_EINVAL);
    assert_string_equal(err.what, "e1");
    ex = make_ex("e1", v1);
    ex.attempt = 0;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_EINVAL);
    ex = make_ex("e1", v1);
    ex.input = NULL;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_EINVAL);
    ex = make_ex("e1", v1);
    ex.duration_ms = INFINITY;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_EINVAL);
    /* A variant the store does not know is refused by the foreign key. */
    ex = make_ex("e1", "spam@v7");
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "FOREIGN KEY"));
    assert_int_equal(count_rows(fx->path, "executions"), 0);
    free(v1);
}

static void t_locked(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    store *st = NULL;
    skh_error err = {0};
    store_options o = {.busy_timeout_ms = 50};

    assert_int_equal(store_open(fx->path, &o, &st, &err), SKH_OK);
    sqlite3 *db = raw_open(fx->path);
    raw_exec(db, "BEGIN IMMEDIATE");

    store_execution ex = make_ex("e1", v1);
    assert_int_equal(store_record_execution(st, &ex, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "locked"));
    assert_non_null(strstr(err.message, "50 ms"));
    assert_string_equal(err.what, fx->path);
    char *id = NULL;
    assert_int_equal(store_variant_add(st, "spam", "/x.so", "", "", "[]", NULL, "", &id, &err),
                     SKH_ESTORE);
    assert_null(id);
    assert_int_equal(store_counter_add(st, "x", 1, &err), SKH_ESTORE);
    assert_int_equal(store_config_set(st, "k", "v", &err), SKH_ESTORE);
    raw_exec(db, "ROLLBACK");

    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM executions", NULL), 0);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM fidelity_metrics", NULL), 0);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM skill_variations", NULL), 1);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM telemetry_counters", NULL), 0);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM config", NULL), 0);

    /* The same store works once the lock is gone. */
    assert_int_equal(store_record_execution(st, &ex, &err), SKH_OK);
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM performance_metrics", NULL), 1);
    sqlite3_close(db);
    store_close(st);
    free(v1);
}

static void t_atomic(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    skh_error err = {0};
    long long total = -1;

    store_execution ex = make_ex("e1", v1);
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "e1"));
    assert_non_null(strstr(err.message, "UNIQUE"));

    /*
     * "e2" already has a performance row, so the fourth insert fails after
     * three succeeded: none of the three may stay.
     */
    sqlite3 *db = raw_open(fx->path);
    raw_exec(db, "INSERT INTO performance_metrics (execution_id, skill_id, variant_id,"
                 " execution_time_ms, exception, timestamp)"
                 " VALUES ('e2', 'spam', 'spam@v1', 1, 0, '2026-01-01T00:00:00.000Z')");
    ex = make_ex("e2", v1);
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "performance"));
    assert_int_equal(db_int(db, "SELECT COUNT(*) FROM executions WHERE execution_id = 'e2'", NULL),
                     0);
    assert_int_equal(
        db_int(db, "SELECT COUNT(*) FROM fidelity_metrics WHERE execution_id = 'e2'", NULL), 0);
    assert_int_equal(
        db_int(db, "SELECT COUNT(*) FROM outcome_metrics WHERE execution_id = 'e2'", NULL), 0);
    sqlite3_close(db);
    assert_int_equal(count_rows(fx->path, "executions"), 1);
    assert_int_equal(store_counter_get(fx->st, "total_executions", &total, &err), SKH_OK);
    assert_int_equal(total, 1);

    /* The store is usable after a failed transaction. */
    ex = make_ex("e3", v1);
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    assert_int_equal(count_rows(fx->path, "outcome_metrics"), 2);
    free(v1);
}

/*
 * Disk full.  A file system cannot be filled cheaply and safely in a unit
 * test, so a VFS wrapped around the default one answers SQLITE_FULL to
 * every write once armed: exactly what the unix VFS returns on ENOSPC.
 */
enum { FULL_KINDS = 4 }; /* the unix VFS uses different methods for the db and its WAL */
static const sqlite3_io_methods *real_methods[FULL_KINDS];
static sqlite3_io_methods full_methods[FULL_KINDS];
static sqlite3_vfs *real_vfs;
static sqlite3_vfs full_vfs;
static int disk_is_full;

static int full_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    int k = (int)(f->pMethods - full_methods);
    if (disk_is_full)
        return SQLITE_FULL;
    return real_methods[k]->xWrite(f, buf, n, off);
}

static int full_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    int rc = real_vfs->xOpen(real_vfs, name, f, flags, out);
    if (rc != SQLITE_OK || !f->pMethods)
        return rc;
    for (int k = 0; k < FULL_KINDS; k++) {
        if (!real_methods[k]) {
            real_methods[k] = f->pMethods;
            full_methods[k] = *f->pMethods;
            full_methods[k].xWrite = full_write;
        }
        if (real_methods[k] == f->pMethods) {
            f->pMethods = &full_methods[k];
            return rc;
        }
    }
    fail_msg("more kinds of files than the test VFS knows");
    return rc;
}

static void t_disk_full(void **state)
{
    store_fixture *fx = *state;
    skh_error err = {0};

    free(add_variant(fx->st, "spam", NULL));
    store_close(fx->st);
    fx->st = NULL;

    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    full_vfs = *real_vfs;
    full_vfs.zName = "skh-test-full";
    full_vfs.xOpen = full_open;
    assert_int_equal(sqlite3_vfs_register(&full_vfs, 1), SQLITE_OK);

    assert_int_equal(store_open(fx->path, NULL, &fx->st, &err), SKH_OK);
    disk_is_full = 1;
    store_execution ex = make_ex("e1", "spam@v1");
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_ESTORE);
    assert_non_null(strstr(err.message, "disk full"));
    assert_string_equal(err.what, fx->path);
    disk_is_full = 0;
    /* Nothing was half-written, and the store still works. */
    assert_int_equal(count_rows(fx->path, "executions"), 0);
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(count_rows(fx->path, "fidelity_metrics"), 1);
}

/* Put the real VFS back even when the test failed half-way. */
static int teardown_vfs(void **state)
{
    disk_is_full = 0;
    if (real_vfs) {
        sqlite3_vfs_register(real_vfs, 1);
        sqlite3_vfs_unregister(&full_vfs);
    }
    return store_fixture_teardown(state);
}

/* ---- several processes ---------------------------------------------------- */

/*
 * Issue 9 item 12: a request whose process died between attempts is marked
 * abandoned and counted once by the next sweep; a live owner's is left alone.
 */
static void t_abandoned_requests(void **state)
{
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    skh_error err = {0};
    long n = -1;
    long long v = 0;

    /* This process's own running request: alive, not swept. */
    store_execution ex = make_ex("live-1", v1);
    ex.request_id = "live";
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);

    /* A child records two attempts of a request and dies without ending it. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store *st = NULL;
        if (store_open(fx->path, NULL, &st, &err) != SKH_OK)
            _exit(1);
        store_execution a = make_ex("dead-1", v1), b = make_ex("dead-2", v1);
        a.request_id = b.request_id = "dead";
        b.attempt = 2;
        int bad = store_record_execution(st, &a, &err) || store_record_execution(st, &b, &err);
        /* No store_close: the process just ends, as a kill would end it. */
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_int_equal(store_requests_sweep(fx->st, &n, &err), SKH_OK);
    assert_int_equal(n, 1);
    sqlite3 *db = raw_open(fx->path);
    char buf[32];
    assert_string_equal(
        db_text(db, "SELECT status FROM requests WHERE request_id = ?1", "dead", buf, sizeof buf),
        "abandoned");
    assert_string_equal(
        db_text(db, "SELECT status FROM requests WHERE request_id = ?1", "live", buf, sizeof buf),
        "running");
    assert_int_equal(db_int(db, "SELECT attempts FROM requests WHERE request_id = ?1", "dead"), 2);
    sqlite3_close(db);
    assert_int_equal(store_counter_get(fx->st, "total_requests", &v, &err), SKH_OK);
    assert_int_equal(v, 1);
    assert_int_equal(store_counter_get(fx->st, "abandoned_requests", &v, &err), SKH_OK);
    assert_int_equal(v, 1);
    assert_int_equal(store_counter_get(fx->st, "react_retry_count", &v, &err), SKH_OK);
    assert_int_equal(v, 1);

    /* Nothing is counted twice; the live request ends normally. */
    assert_int_equal(store_requests_sweep(fx->st, &n, &err), SKH_OK);
    assert_int_equal(n, 0);
    store_request_end end = {.attempts = 2, .description = "done"};
    ex = make_ex("live-2", v1);
    ex.request_id = "live";
    ex.attempt = 2;
    ex.end = &end;
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    db = raw_open(fx->path);
    assert_string_equal(
        db_text(db, "SELECT status FROM requests WHERE request_id = ?1", "live", buf, sizeof buf),
        "done");
    sqlite3_close(db);
    assert_int_equal(store_counter_get(fx->st, "total_requests", &v, &err), SKH_OK);
    assert_int_equal(v, 2);
    free(v1);
}

static int child_record(const char *path, int child, int n)
{
    store *st = NULL;
    skh_error err = {0};
    if (store_open(path, NULL, &st, &err) != SKH_OK) {
        fprintf(stderr, "child %d: %s\n", child, err.message);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "c%d-%d", child, i);
        store_execution ex = make_ex(id, "spam@v1");
        if (store_record_execution(st, &ex, &err) != SKH_OK) {
            fprintf(stderr, "child %d: %s\n", child, err.message);
            store_close(st);
            return 1;
        }
    }
    store_close(st);
    return 0;
}

static void t_concurrent_writers(void **state)
{
    enum { CHILDREN = 4, EACH = 200 };
    store_fixture *fx = *state;
    char *v1 = add_variant(fx->st, "spam", NULL);
    pid_t pids[CHILDREN];

    /* A connection must not cross fork(): close ours first. */
    store_close(fx->st);
    fx->st = NULL;
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0)
            _exit(child_record(fx->path, c, EACH));
    }
    assert_int_equal(wait_children(pids, CHILDREN), 0);

    assert_int_equal(count_rows(fx->path, "executions"), CHILDREN * EACH);
    assert_int_equal(count_rows(fx->path, "fidelity_metrics"), CHILDREN * EACH);
    assert_int_equal(count_rows(fx->path, "outcome_metrics"), CHILDREN * EACH);
    assert_int_equal(count_rows(fx->path, "performance_metrics"), CHILDREN * EACH);
    sqlite3 *db = raw_open(fx->path);
    assert_int_equal(db_int(db,
                            "SELECT counter_value FROM telemetry_counters"
                            " WHERE counter_name = 'total_executions'",
                            NULL),
                     CHILDREN * EACH);
    sqlite3_close(db);
    free(v1);
}

static void t_concurrent_variant_add(void **state)
{
    enum { CHILDREN = 4, EACH = 10 };
    store_fixture *fx = *state;
    pid_t pids[CHILDREN];

    store_close(fx->st);
    fx->st = NULL;
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            store *st = NULL;
            skh_error err = {0};
            int bad = store_open(fx->path, NULL, &st, &err) != SKH_OK;
            for (int i = 0; !bad && i < EACH; i++) {
                char *id = NULL;
                bad = store_variant_add(st, "race", "/x.so", "", "", "[]", NULL, "", &id, &err) !=
                      SKH_OK;
                free(id);
            }
            if (bad)
                fprintf(stderr, "child %d: %s\n", c, err.message);
            store_close(st);
            _exit(bad);
        }
    }
    assert_int_equal(wait_children(pids, CHILDREN), 0);
    sqlite3 *db = raw_open(fx->path);
    assert_int_equal(db_int(db, "SELECT COUNT(DISTINCT version) FROM skill_variations", NULL),
                     CHILDREN * EACH);
    assert_int_equal(db_int(db, "SELECT MAX(version) FROM skill_variations", NULL),
                     CHILDREN * EACH);
    sqlite3_close(db);
}

static void t_concurrent_open_fresh(void **state)
{
    enum { ROUNDS = 6, CHILDREN = 4 };
    store_fixture *fx = *state;

    for (int r = 0; r < ROUNDS; r++) {
        char path[PATH_MAX + 32];
        int gate[2];
        pid_t pids[CHILDREN];
        snprintf(path, sizeof path, "%s/fresh%d.db", fx->dir, r);
        assert_int_equal(pipe(gate), 0);
        for (int c = 0; c < CHILDREN; c++) {
            pids[c] = fork();
            assert_true(pids[c] >= 0);
            if (pids[c] == 0) {
                char b;
                store *st = NULL;
                skh_error err = {0};
                store_options o = {.create = 1};
                close(gate[1]);
                /* Everyone starts when the parent closes the pipe. */
                while (read(gate[0], &b, 1) < 0 && errno == EINTR)
                    ;
                int rc = store_open(path, &o, &st, &err);
                if (rc != SKH_OK)
                    fprintf(stderr, "child %d: %s\n", c, err.message);
                store_close(st);
                _exit(rc != SKH_OK);
            }
        }
        close(gate[0]);
        close(gate[1]);
        assert_int_equal(wait_children(pids, CHILDREN), 0);

        sqlite3 *db = raw_open(path);
        char buf[16];
        assert_int_equal(db_int(db, "PRAGMA user_version", NULL), STORE_SCHEMA_VERSION);
        assert_string_equal(db_text(db, "PRAGMA journal_mode", NULL, buf, sizeof buf), "wal");
        assert_int_equal(db_int(db, "SELECT COUNT(*) FROM config", NULL), 0);
        sqlite3_close(db);
    }
}

/* ---- the workspace's store.* options on the host's connection ------------- */

static void store_env_clear(void)
{
    unsetenv("SKILLHOST_BUSY_TIMEOUT_MS");
    unsetenv("SKILLHOST_DURABILITY");
}

static int setup_host(void **state)
{
    store_env_clear();
    fixture_options o = {.name = "store-ws", .policies = FIXTURE_POLICIES_EMPTY};
    return fixture_setup(state, &o);
}

static int teardown_host(void **state)
{
    store_env_clear();
    return fixture_teardown(state);
}

static void reopen(fixture *f)
{
    skh_host_close(f->host);
    f->host = NULL;
    assert_int_equal(open_host(f, NULL), SKH_OK);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A write under someone else's lock: how long it waited, its error in err. */
static double locked_write_ms(fixture *f, skh_error *err)
{
    sqlite3 *db = raw_open(f->db);
    raw_exec(db, "BEGIN IMMEDIATE");
    double t0 = mono_ms();
    assert_int_equal(skh_config_set(f->host, "react.max_iterations", "4", err), SKH_ESTORE);
    double waited = mono_ms() - t0;
    raw_exec(db, "ROLLBACK");
    sqlite3_close(db);
    assert_non_null(strstr(err->message, "locked"));
    return waited;
}

static void t_workspace_busy_timeout(void **state)
{
    fixture *f = *state;
    skh_error err;
    assert_int_equal(skh_config_set(f->host, "store.busy_timeout_ms", "200", &err), SKH_OK);
    reopen(f);
    /* The default is 10 s: anything under 5 s is the workspace's 200 ms. */
    double waited = locked_write_ms(f, &err);
    assert_true(waited < 5000);
    assert_non_null(strstr(err.message, "waited 200 ms"));

    /* The environment wins over the workspace. */
    setenv("SKILLHOST_BUSY_TIMEOUT_MS", "300", 1);
    reopen(f);
    waited = locked_write_ms(f, &err);
    assert_true(waited < 5000);
    assert_non_null(strstr(err.message, "waited 300 ms"));
}

/* PRAGMA synchronous on the host's own connection: 1 NORMAL, 2 FULL. */
static int host_synchronous(const fixture *f)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    assert_int_equal(sqlite3_prepare_v2(f->host->st->db, "PRAGMA synchronous", -1, &s, NULL),
                     SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void t_workspace_durability(void **state)
{
    fixture *f = *state;
    skh_error err;
    assert_int_equal(host_synchronous(f), 1);
    assert_int_equal(skh_config_set(f->host, "store.durability", "full", &err), SKH_OK);
    assert_int_equal(host_synchronous(f), 2); /* at once on the host that set it */
    reopen(f);
    assert_int_equal(host_synchronous(f), 2); /* and on every host opened after */

    setenv("SKILLHOST_DURABILITY", "normal", 1);
    reopen(f);
    assert_int_equal(host_synchronous(f), 1);
    store_env_clear();
    assert_int_equal(skh_config_set(f->host, "store.durability", "normal", &err), SKH_OK);
    reopen(f);
    assert_int_equal(host_synchronous(f), 1);
}

/* ---- counters, config, indexes, time -------------------------------------- */

/*
 * A snapshot spans reads; a write inside it ends it first (never an upgrade
 * of a stale read lock) and the reads after its commit see a fresh one.
 */
static void t_snapshot(void **state)
{
    store_fixture *fx = *state;
    skh_error err = {0};
    long long v = -1;
    sqlite3 *db = raw_open(fx->path);
    assert_int_equal(store_counter_add(fx->st, "c", 1, &err), SKH_OK);

    store_snapshot_begin(fx->st);
    assert_int_equal(store_counter_get(fx->st, "c", &v, &err), SKH_OK);
    assert_int_equal(v, 1);
    raw_exec(db, "UPDATE telemetry_counters SET counter_value = 10 WHERE counter_name = 'c'");
    /* Still the snapshot's view: one read transaction for the whole scope. */
    assert_int_equal(store_counter_get(fx->st, "c", &v, &err), SKH_OK);
    assert_int_equal(v, 1);
    /* A write inside the scope applies to the newest data, not the snapshot's. */
    assert_int_equal(store_counter_add(fx->st, "c", 5, &err), SKH_OK);
    assert_int_equal(store_counter_get(fx->st, "c", &v, &err), SKH_OK);
    assert_int_equal(v, 15);
    /* Reads that bring their own read transaction join the scope's. */
    json_t *all = NULL;
    assert_int_equal(store_skill_list(fx->st, &all, &err), SKH_OK);
    json_decref(all);
    store_snapshot_end(fx->st);

    /* Nothing is left open: another writer gets the lock at once. */
    raw_exec(db, "BEGIN IMMEDIATE");
    raw_exec(db, "UPDATE telemetry_counters SET counter_value = 20 WHERE counter_name = 'c'");
    raw_exec(db, "COMMIT");
    assert_int_equal(store_counter_get(fx->st, "c", &v, &err), SKH_OK);
    assert_int_equal(v, 20);
    sqlite3_close(db);
}

/*
 * Window rows are kept once complete; a row still missing a metric row is
 * read again, so a late outcome row shows in the next window.
 */
static void t_window_rows(void **state)
{
    store_fixture *fx = *state;
    skh_error err = {0};
    char *v1 = add_variant(fx->st, "spam", NULL);
    store_execution ex = make_ex("e1", v1);
    assert_int_equal(store_record_execution(fx->st, &ex, &err), SKH_OK);
    sqlite3 *db = raw_open(fx->path);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO executions (execution_id, request_id, skill_id, variant_id, attempt,"
             " timestamp, input) VALUES ('e2', 'r2', 'spam', '%s', 1,"
             " '2026-11-23T08:15:03.000Z', '{}');"
             "INSERT INTO fidelity_metrics (execution_id, skill_id, variant_id, pattern_fidelity,"
             " patterns_followed, patterns_missed, timestamp) VALUES ('e2', 'spam', '%s', 0.5, 1,"
             " 1, '2026-11-23T08:15:03.000Z');"
             "INSERT INTO performance_metrics (execution_id, skill_id, variant_id,"
             " execution_time_ms, exception, timestamp) VALUES ('e2', 'spam', '%s', 3, 0,"
             " '2026-11-23T08:15:03.000Z');",
             v1, v1, v1);
    raw_exec(db, sql);

    for (int pass = 0; pass < 3; pass++) {
        json_t *rows = NULL;
        assert_int_equal(store_rb_window(fx->st, v1, "", 10, &rows, &err), SKH_OK);
        assert_int_equal(json_array_size(rows), 2);
        json_t *newest = json_array_get(rows, 0), *oldest = json_array_get(rows, 1);
        assert_string_equal(json_string_value(json_object_get(newest, "execution_id")), "e2");
        assert_string_equal(json_string_value(json_object_get(oldest, "decision")), "spam");
        assert_true(fabs(json_number_value(json_object_get(oldest, "fidelity")) - 0.75) < 1e-12);
        /* e2's outcome row arrives after the first read. */
        const char *decision = json_string_value(json_object_get(newest, "decision"));
        if (pass == 0) {
            assert_null(decision);
            snprintf(sql, sizeof sql,
                     "INSERT INTO outcome_metrics (execution_id, skill_id, variant_id, decision,"
                     " timestamp) VALUES ('e2', 'spam', '%s', 'ham', '2026-11-23T08:15:03.000Z')",
                     v1);
            raw_exec(db, sql);
        } else {
            assert_string_equal(decision, "ham");
        }
        json_decref(rows);
    }
    sqlite3_close(db);
    free(v1);
}

static void t_counters(void **state)
{
    store_fixture *fx = *state;
    skh_error err = {0};
    long long v = -1;

    assert_int_equal(store_counter_get(fx->st, "react_retry_count", &v, &err), SKH_OK);
    assert_int_equal(v, 0);
    assert_int_equal(store_counter_add(fx->st, "react_retry_count", 5, &err), SKH_OK);
    assert_int_equal(store_counter_add(fx->st, "react_retry_count", -2, &err), SKH_OK);
    assert_int_equal(store_counter_get(fx->st, "react_retry_count", &v, &err), SKH_OK);
    assert_int_equal(v, 3);
    assert_int_equal(store_counter_add(fx->st, "", 1, &err), SKH_EINVAL);
}

static void t_config(void **state)
{
    store_fixture *fx = *state;
    skh_error err = {0};
    char *v = (char *)"untouched";
    json_t *all = NULL;

    assert_int_equal(store_config_get(fx->st, "react.max_iterations", &v, &err), SKH_OK);
    assert_null(v);
    assert_int_equal(store_config_set(fx->st, "react.max_iterations", "3", &err), SKH_OK);
    assert_int_equal(store_config_set(fx->st, "react.threshold", "0.9", &err), SKH_OK);
    assert_int_equal(store_config_set(fx->st, "react.max_iterations", "5", &err), SKH_OK);
    assert_int_equal(store_config_get(fx->st, "react.max_iterations", &v, &err), SKH_OK);
    assert_string_equal(v, "5");
    free(v);

    assert_int_equal(store_config_all(fx->st, &all, &err), SKH_OK);
    assert_int_equal(json_object_size(all), 2);
    assert_string_equal(json_string_value(json_object_get(all, "react.threshold")), "0.9");
    assert_string_equal(json_string_value(json_object_get(all, "react.max_iterations")), "5");
    json_decref(all);

    assert_int_equal(store_config_set(fx->st, "react.threshold", NULL, &err), SKH_OK);
    assert_int_equal(store_config_get(fx->st, "react.threshold", &v, &err), SKH_OK);
    assert_null(v);
    assert_int_equal(store_config_set(fx->st, "", "x", &err), SKH_EINVAL);
}

static void expect_plan(sqlite3 *db, const char *sql, const char *index)
{
    char plan[1024] = "";
    sqlite3_stmt *s = NULL;
    char q[512];
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t n = strlen(plan);
        snprintf(plan + n, sizeof plan - n, "%s; ", (const char *)sqlite3_column_text(s, 3));
    }
    sqlite3_finalize(s);
    if (!strstr(plan, index) || strstr(plan, "TEMP B-TREE"))
        fail_msg("%s: plan \"%s\" does not use %s alone", sql, plan, index);
}

static void t_indexes_used(void **state)
{
    store_fixture *fx = *state;
    sqlite3 *db = raw_open(fx->path);
    expect_plan(db,
                "SELECT pattern_fidelity FROM fidelity_metrics WHERE variant_id = ?"
                " ORDER BY timestamp DESC LIMIT 10",
                "fidelity_metrics_variant_time");
    expect_plan(db,
                "SELECT correct FROM outcome_metrics WHERE variant_id = ?"
                " ORDER BY timestamp DESC LIMIT 10",
                "outcome_metrics_variant_time");
    expect_plan(db,
                "SELECT exception FROM performance_metrics WHERE variant_id = ?"
                " ORDER BY timestamp DESC LIMIT 10",
                "performance_metrics_variant_time");
    expect_plan(db,
                "SELECT * FROM executions WHERE variant_id = ? ORDER BY timestamp DESC LIMIT 10",
                "executions_variant_time");
    expect_plan(db, "SELECT * FROM executions WHERE request_id = ?", "executions_request");
    expect_plan(db, "SELECT * FROM executions WHERE skill_id = ? ORDER BY timestamp DESC LIMIT 10",
                "executions_skill_time");
    sqlite3_close(db);
}

static void t_timestamp(void **state)
{
    char a[32], b[32];
    store_timestamp(a);
    store_timestamp(b);
    assert_int_equal(strlen(a), 24);
    assert_true(a[4] == '-' && a[7] == '-' && a[10] == 'T' && a[13] == ':' && a[16] == ':' &&
                a[19] == '.' && a[23] == 'Z');
    assert_true(strcmp(a, b) <= 0);
    assert_true(strncmp(a, "20", 2) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_schema_created, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_seed_queries, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_newer_schema_refused, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_migrates_from_v4, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_migrates_from_v1, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_missing_file, setup_dir, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_not_a_database, setup_dir, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_foreign_database, setup_dir, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_empty_file, setup_dir, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_not_a_file, setup_dir, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_legacy_gets_application_id, setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_wal_mode, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_variant_versions, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_production_demotes, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_serving_order, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_bad_input_refused, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_skill_list_show, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_record_execution, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_unknown_values_null, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_invalid_execution, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_locked, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_atomic, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_disk_full, setup, teardown_vfs),
        cmocka_unit_test_setup_teardown(t_concurrent_writers, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_abandoned_requests, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_concurrent_variant_add, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_concurrent_open_fresh, setup_dir, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_workspace_busy_timeout, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(t_workspace_durability, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(t_snapshot, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_window_rows, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_counters, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_config, setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(t_indexes_used, setup, store_fixture_teardown),
        cmocka_unit_test(t_timestamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
