/*
 * The promotion gate: sign-offs (checklist items from promotion.lua, the
 * seeds' columns filled, unknown items refused), promotion refused without
 * a sign-off, with an item answered no, with too few rows in any one of the
 * three metric tables; a ready promotion (state, event, the previous
 * production kept as staged, the decision, an awaiting A/B test closed) in
 * one transaction; a threshold edited in promotion.lua changing the gate
 * without reopening the host; the evaluation figures the gate sees; and
 * status, including which variant served production at a given time.
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>

#include <skillhost/host.h>

#include "fixture.h"

static const char *const STAGED_ITEMS[] = {
    "wsp_50_no_duplication=yes:searched the registry, nothing alike",
    "test_coverage_complete=yes:tests/unit/test_x.c",
    "instruction_clarity_approved=yes",
    "dependencies_validated=yes:none beyond libc",
    "security_reviewed=yes:no secrets in content",
    "pattern_completeness=yes",
    "performance_review=yes",
};
static const char *const PRODUCTION_ITEMS[] = {
    "production_readiness=yes",  "integration_approved=yes",
    "monitoring_configured=yes", "rollback_tested=yes:drill 2026-05-02",
    "documentation_updated=yes", "capacity_planning=yes",
};
#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))
#define assert_near(a, b, eps) assert_true(fabs((a) - (b)) <= (eps))

/*
 * Fidelity = the share of the patterns a,b its content names ("a b": 1.0,
 * "a": 0.5); the decision is input.say, so a test picks right and wrong.
 */
static const char stepper_lua[] =
    "return { kind = 'skill', name = 'stepper', version = '1.0.0', patterns = 'a,b',\n"
    "  execute = function(input, ctx)\n"
    "    for w in ctx.content:gmatch('[^%s,]+') do ctx:step(w) end\n"
    "    return { decision = input.say or 'ok' }\n"
    "  end }\n";

/* The policies are a copy, so a test may edit a threshold in place. */
static int setup(void **state)
{
    fixture_options o = {.name = "gate",
                         .policies = FIXTURE_POLICIES_COPY,
                         .skill_file = "stepper.lua",
                         .skill_text = stepper_lua};
    return fixture_setup(state, &o);
}

/* ---- helpers ------------------------------------------------------------------------ */

static void add_named(fixture *f, const char *skill, const char *content, const char *state,
                      const char *want)
{
    char *id = add(f, skill, content, state);
    assert_string_equal(id, want);
    skh_free(id);
}

static int approve(fixture *f, const char *variant, const char *path, const char *const *checks,
                   size_t n, char **id, skh_error *err)
{
    skh_approval a = {.struct_size = sizeof a,
                      .variant = variant,
                      .path = path,
                      .approver = "alice",
                      .ticket = "OPS-12",
                      .checks = checks,
                      .nchecks = n,
                      .notes = "looks good"};
    *id = NULL;
    return skh_approve(f->host, &a, id, err);
}

static void approve_ok(fixture *f, const char *variant, const char *path, const char *const *checks,
                       size_t n)
{
    char *id = NULL;
    skh_error err;
    if (approve(f, variant, path, checks, n, &id, &err))
        fail_msg("approve %s: %s: %s", variant, err.what, err.message);
    skh_free(id);
}

/* Promote; the answer parsed (NULL when none). */
static json_t *promote(fixture *f, const char *variant, const char *to, int want_rc)
{
    char *text = NULL;
    skh_error err;
    int rc = skh_promote(f->host, variant, to, &text, &err);
    if (rc != want_rc)
        fail_msg("promote %s --to %s: %d, want %d: %s: %s", variant, to, rc, want_rc, err.what,
                 rc ? err.message : "");
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    skh_free(text);
    return j;
}

static json_t *check_named(json_t *answer, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(answer, "checks"), i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

static const char *check_status(json_t *answer, const char *name)
{
    json_t *c = check_named(answer, name);
    if (!c)
        fail_msg("no check named %s", name);
    return json_string_value(json_object_get(c, "status"));
}

/* Benchmark cases through the pipeline: n cases, the first wrong of them decided wrong. */
static void evaluate(fixture *f, const char *variant, int n, int wrong)
{
    for (int i = 0; i < n; i++) {
        int spam = i % 2 == 0;
        const char *expected = spam ? "spam" : "ham";
        const char *said = i < wrong ? (spam ? "ham" : "spam") : expected;
        char input[128];
        snprintf(input, sizeof input, "{\"say\": \"%s\", \"label\": \"%s\"}", said, expected);
        skh_exec_options o = SKH_EXEC_OPTIONS_INIT;
        o.variant = variant;
        o.evaluation = 1;
        o.expected = expected;
        o.critical = 1;
        o.react = 0;
        skh_result *r = NULL;
        skh_error err;
        char skill[64];
        snprintf(skill, sizeof skill, "%.*s", (int)strcspn(variant, "@"), variant);
        if (skh_execute(f->host, skill, input, &o, &r, &err) != SKH_OK)
            fail_msg("evaluate %s: %s: %s", variant, err.what, err.message);
        skh_result_free(r);
    }
}

/*
 * Live rows written straight into the tables, as an ingest of another
 * tool's metrics would: n executions, but only n_fid / n_out / n_perf of
 * them in each metric table.  evaluation marks them as benchmark runs.
 */
static void insert_rows(const fixture *f, const char *variant, int n, int n_fid, int n_out,
                        int n_perf, double fidelity, int evaluation, const char *day)
{
    sqlite3 *db = raw_open(f->db);
    char skill[64];
    snprintf(skill, sizeof skill, "%.*s", (int)strcspn(variant, "@"), variant);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < n; i++) {
        char id[96], ts[40];
        snprintf(id, sizeof id, "%s-%s-%d-%04d", variant, day, evaluation, i);
        snprintf(ts, sizeof ts, "%sT%02d:%02d:%02d.000Z", day, i / 3600, (i / 60) % 60, i % 60);
        char *sql = sqlite3_mprintf(
            "INSERT INTO executions (execution_id, request_id, skill_id, variant_id, attempt,"
            " timestamp, input, evaluation) VALUES (%Q, %Q, %Q, %Q, 1, %Q, '{}', %d);",
            id, id, skill, variant, ts, evaluation);
        if (i < n_fid)
            sql = sqlite3_mprintf("%z INSERT INTO fidelity_metrics (execution_id, skill_id,"
                                  " variant_id, pattern_fidelity, patterns_followed,"
                                  " patterns_missed, timestamp) VALUES (%Q, %Q, %Q, %f, 2, 0, %Q);",
                                  sql, id, skill, variant, fidelity, ts);
        if (i < n_out)
            sql = sqlite3_mprintf("%z INSERT INTO outcome_metrics (execution_id, skill_id,"
                                  " variant_id, decision, correct, expected, timestamp)"
                                  " VALUES (%Q, %Q, %Q, 'spam', 1, 'spam', %Q);",
                                  sql, id, skill, variant, ts);
        if (i < n_perf)
            sql = sqlite3_mprintf("%z INSERT INTO performance_metrics (execution_id, skill_id,"
                                  " variant_id, execution_time_ms, duration_ms, exception,"
                                  " timestamp) VALUES (%Q, %Q, %Q, 3, 2.5, 0, %Q);",
                                  sql, id, skill, variant, ts);
        char *msg = NULL;
        if (!sql || sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("insert: %s", msg ? msg : "out of memory");
        sqlite3_free(sql);
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A staged variant with its benchmark baseline and 100 good live executions, signed off. */
static void ready_for_production(fixture *f, const char *variant)
{
    insert_rows(f, variant, 12, 12, 12, 12, 1.0, 1, "2026-05-01");
    insert_rows(f, variant, 100, 100, 100, 100, 0.95, 0, "2026-05-02");
    approve_ok(f, variant, "staged->production", PRODUCTION_ITEMS, NITEMS(PRODUCTION_ITEMS));
}

/* ---- sign-off ------------------------------------------------------------------------ */

static void test_approval_fills_seed_columns(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", NULL, "gate@v1");
    add_named(f, "gate", "a b", "staged", "gate@v2");
    char *id = NULL;
    skh_error err;
    /* test_coverage_complete answered no, instruction_clarity_approved left out. */
    const char *checks[] = {"wsp_50_no_duplication=yes:searched the registry",
                            "test_coverage_complete=no:edge cases missing",
                            "dependencies_validated=YES:none",
                            "security_reviewed=yes:reviewed",
                            "pattern_completeness=yes",
                            "performance_review=no"};
    assert_int_equal(approve(f, "gate@v1", "prototype->staged", checks, NITEMS(checks), &id, &err),
                     SKH_OK);
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '7'); /* UUIDv7 */

    char *row = q_text(f,
                       "SELECT skill_id || '|' || promotion_path || '|' || approver || '|' ||"
                       " approval_ticket || '|' || wsp_50_no_duplication || '|' || wsp_50_evidence"
                       " || '|' || test_coverage_complete || '|' || test_evidence || '|' ||"
                       " instruction_clarity_approved || '|' || dependencies_validated || '|' ||"
                       " dependency_evidence || '|' || security_reviewed || '|' || security_notes"
                       " || '|' || (production_readiness IS NULL) || '|' || notes || '|' ||"
                       " variant_id FROM human_approvals WHERE approval_id = ?1",
                       id);
    assert_string_equal(row, "gate|prototype->staged|alice|OPS-12|1|searched the registry|0|"
                             "edge cases missing|0|1|none|1|reviewed|1|looks good|gate@v1");
    free(row);
    /* The whole checklist, in promotion.lua's order, the left-out item kept as given = false. */
    char *list = q_text(f, "SELECT checklist FROM human_approvals WHERE approval_id = ?1", id);
    json_t *items = json_loads(list, 0, NULL);
    free(list);
    assert_int_equal(json_array_size(items), 7);
    json_t *clarity = json_array_get(items, 2);
    assert_string_equal(json_string_value(json_object_get(clarity, "name")),
                        "instruction_clarity_approved");
    assert_true(json_is_false(json_object_get(clarity, "given")));
    assert_true(json_is_false(json_object_get(clarity, "passed")));
    json_t *perf = json_array_get(items, 6);
    assert_string_equal(json_string_value(json_object_get(perf, "name")), "performance_review");
    assert_true(json_is_true(json_object_get(perf, "given")));
    assert_true(json_is_false(json_object_get(perf, "passed")));
    json_decref(items);
    skh_free(id);

    /* A production sign-off fills the production columns; the staged ones stay 0. */
    assert_int_equal(approve(f, "gate@v2", "staged->production", PRODUCTION_ITEMS,
                             NITEMS(PRODUCTION_ITEMS), &id, &err),
                     SKH_OK);
    assert_text(f,
                "SELECT production_readiness || integration_approved || monitoring_configured ||"
                " rollback_tested || documentation_updated || wsp_50_no_duplication"
                " FROM human_approvals WHERE approval_id = ?1",
                id, "111110");
    skh_free(id);
}

static void test_approval_refusals(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", NULL, "gate@v1");
    char *id = NULL;
    skh_error err;

    const char *unknown[] = {"wsp_50_no_duplication=yes", "looks_fine=yes"};
    assert_int_equal(approve(f, "gate@v1", "prototype->staged", unknown, 2, &id, &err), SKH_EINVAL);
    assert_null(id);
    assert_string_equal(err.what, "--check");
    assert_non_null(strstr(err.message, "unknown item 'looks_fine'"));
    assert_non_null(strstr(err.message, "wsp_50_no_duplication, test_coverage_complete"));
    /* An item of the other path is unknown on this one. */
    const char *other[] = {"rollback_tested=yes"};
    assert_int_equal(approve(f, "gate@v1", "prototype->staged", other, 1, &id, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "unknown item 'rollback_tested'"));

    const char *maybe[] = {"security_reviewed=maybe"};
    assert_int_equal(approve(f, "gate@v1", "prototype->staged", maybe, 1, &id, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "'maybe' is not yes or no"));
    const char *twice[] = {"security_reviewed=yes", "security_reviewed=no"};
    assert_int_equal(approve(f, "gate@v1", "prototype->staged", twice, 2, &id, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "given twice"));
    const char *noeq[] = {"security_reviewed"};
    assert_int_equal(approve(f, "gate@v1", "prototype->staged", noeq, 1, &id, &err), SKH_EINVAL);

    /* The path must lead from the variant's state. */
    assert_int_equal(approve(f, "gate@v1", "staged->production", NULL, 0, &id, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "promote it to staged first"));
    assert_int_equal(approve(f, "gate@v1", "prototype->production", NULL, 0, &id, &err),
                     SKH_EINVAL);
    assert_string_equal(err.what, "--path");
    assert_int_equal(approve(f, "gate@v9", "prototype->staged", NULL, 0, &id, &err), SKH_ENOTFOUND);

    skh_approval a = {.struct_size = sizeof a,
                      .variant = "gate@v1",
                      .path = "prototype->staged",
                      .approver = " ",
                      .ticket = "T"};
    assert_int_equal(skh_approve(f->host, &a, &id, &err), SKH_EINVAL);
    assert_string_equal(err.what, "--approver");
    a.approver = "bob";
    a.ticket = NULL;
    assert_int_equal(skh_approve(f->host, &a, &id, &err), SKH_EINVAL);
    assert_string_equal(err.what, "--ticket");
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM human_approvals", NULL), 0);
}

/* ---- prototype -> staged ----------------------------------------------------------------- */

static void test_evaluation_figures(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", NULL, "gate@v1");
    /* 20 cases, the first 3 decided wrong: 2 spam missed (critical), 1 ham flagged. */
    evaluate(f, "gate@v1", 20, 3);
    skh_error err;
    char *text = NULL;
    assert_int_equal(skh_promote(f->host, "gate@v1", "staged", &text, &err), SKH_EFAILED);
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    json_t *fpr = check_named(j, "false_positive_rate");
    assert_near(json_real_value(json_object_get(fpr, "measured")), 0.1, 1e-12);
    assert_string_equal(check_status(j, "false_positive_rate"), "fail");
    json_t *outcome = check_named(j, "outcome");
    assert_near(json_real_value(json_object_get(outcome, "measured")), 17.0 / 20.0, 1e-12);
    assert_string_equal(check_status(j, "outcome"), "pass"); /* 0.85 >= 0.85 */
    json_t *cfn = check_named(j, "critical_false_negatives");
    assert_int_equal(json_integer_value(json_object_get(cfn, "measured")), 2);
    assert_string_equal(check_status(j, "critical_false_negatives"), "fail");
    assert_string_equal(check_status(j, "fidelity"), "pass");
    assert_string_equal(check_status(j, "evaluation_cases"), "pass");
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "not_ready");
    json_decref(j);
}

static void test_staged_gate(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", NULL, "gate@v1");
    evaluate(f, "gate@v1", 12, 0);

    /* No sign-off: refused, the approval check says so, the refusal is kept. */
    json_t *j = promote(f, "gate@v1", "staged", SKH_EFAILED);
    assert_false(json_is_true(json_object_get(j, "ready")));
    assert_string_equal(check_status(j, "approval"), "fail");
    assert_string_equal(check_status(j, "fidelity"), "pass");
    assert_null(check_named(j, "checklist.security_reviewed"));
    json_decref(j);
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v1",
                "prototype");
    assert_text(f,
                "SELECT verdict || ' ' || kind || ' ' || (length(policy_sha256) = 64) || ' ' ||"
                " (policy_file LIKE '%/promotion.lua') FROM decisions WHERE variant_id = ?1"
                " ORDER BY decision_id DESC LIMIT 1",
                "gate@v1", "not_ready promotion 1 1");

    /* A sign-off with one item answered no, one left out: both named. */
    const char *checks[] = {STAGED_ITEMS[0],
                            STAGED_ITEMS[1],
                            STAGED_ITEMS[2],
                            STAGED_ITEMS[3],
                            "security_reviewed=no:a token in the content",
                            STAGED_ITEMS[5]};
    approve_ok(f, "gate@v1", "prototype->staged", checks, NITEMS(checks));
    char *text = NULL;
    skh_error err;
    assert_int_equal(skh_promote(f->host, "gate@v1", "staged", &text, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "checklist.security_reviewed"));
    assert_non_null(strstr(err.message, "checklist.performance_review"));
    j = json_loads(text, 0, NULL);
    skh_free(text);
    assert_string_equal(check_status(j, "approval"), "pass");
    assert_string_equal(check_status(j, "checklist.security_reviewed"), "fail");
    assert_string_equal(json_string_value(json_object_get(
                            check_named(j, "checklist.performance_review"), "measured")),
                        "missing");
    assert_string_equal(check_status(j, "checklist.wsp_50_no_duplication"), "pass");
    json_decref(j);

    /* A complete sign-off: promoted, with its event and decision. */
    approve_ok(f, "gate@v1", "prototype->staged", STAGED_ITEMS, NITEMS(STAGED_ITEMS));
    j = promote(f, "gate@v1", "staged", SKH_OK);
    assert_true(json_is_true(json_object_get(j, "ready")));
    assert_string_equal(json_string_value(json_object_get(j, "from_state")), "prototype");
    assert_true(json_is_null(json_object_get(j, "demoted_variant")));
    json_decref(j);
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v1",
                "staged");
    assert_text(f,
                "SELECT from_state || '>' || to_state || ' ' || approver || ' ' || approval_ticket"
                " || ' ' || variant_id || ' ' || (demoted_variant_id IS NULL) FROM promotion_events"
                " WHERE variant_id = ?1",
                "gate@v1", "prototype>staged alice OPS-12 gate@v1 1");
    assert_text(f,
                "SELECT verdict FROM decisions WHERE variant_id = ?1 AND kind = 'promotion'"
                " ORDER BY decision_id DESC LIMIT 1",
                "gate@v1", "ready");
    assert_text(f, "SELECT promotion_state FROM skills WHERE skill_id = ?1", "gate", "staged");

    /* Not twice. */
    assert_int_equal(skh_promote(f->host, "gate@v1", "staged", &text, &err), SKH_EFAILED);
    assert_null(text);
    assert_non_null(strstr(err.message, "staged already"));
    assert_int_equal(skh_promote(f->host, "gate@v1", "archived", &text, &err), SKH_EINVAL);
    assert_int_equal(skh_promote(f->host, "gate@v7", "staged", &text, &err), SKH_ENOTFOUND);
}

/* ---- staged -> production ----------------------------------------------------------------- */

static void test_production_one_table_short(void **state)
{
    fixture *f = *state;
    static const char *const tables[] = {"fidelity_metrics", "outcome_metrics",
                                         "performance_metrics"};
    for (int t = 0; t < 3; t++) {
        char skill[32], variant[40];
        snprintf(skill, sizeof skill, "short%d", t);
        snprintf(variant, sizeof variant, "%s@v1", skill);
        add_named(f, skill, "a b", "staged", variant);
        insert_rows(f, variant, 12, 12, 12, 12, 1.0, 1, "2026-05-01");
        insert_rows(f, variant, 100, t == 0 ? 37 : 100, t == 1 ? 37 : 100, t == 2 ? 37 : 100, 0.95,
                    0, "2026-05-02");
        approve_ok(f, variant, "staged->production", PRODUCTION_ITEMS, NITEMS(PRODUCTION_ITEMS));

        char *text = NULL;
        skh_error err;
        assert_int_equal(skh_promote(f->host, variant, "production", &text, &err), SKH_EFAILED);
        char want[96];
        snprintf(want, sizeof want, "%s: 37/100 executions (needs >= 100)", tables[t]);
        if (!strstr(err.message, want))
            fail_msg("%s lacks '%s'", err.message, want);
        json_t *j = json_loads(text, 0, NULL);
        skh_free(text);
        for (int o = 0; o < 3; o++)
            assert_string_equal(check_status(j, tables[o]), o == t ? "fail" : "pass");
        assert_string_equal(json_string_value(json_object_get(j, "verdict")), "not_ready");
        json_decref(j);
        assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", variant,
                    "staged");
    }
    /* Benchmark runs never count as live executions. */
    add_named(f, "evalonly", "a b", "staged", "evalonly@v1");
    insert_rows(f, "evalonly@v1", 150, 150, 150, 150, 1.0, 1, "2026-05-01");
    json_t *j = promote(f, "evalonly@v1", "production", SKH_EFAILED);
    assert_int_equal(
        json_integer_value(json_object_get(check_named(j, "fidelity_metrics"), "measured")), 0);
    assert_string_equal(check_status(j, "fidelity"), "inconclusive");
    json_decref(j);
}

static void test_production_ready(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", "production", "gate@v1");
    add_named(f, "gate", "a b", "staged", "gate@v2");
    ready_for_production(f, "gate@v2");
    /* An A/B test won by v2, waiting for this sign-off. */
    sql_exec(f->db, "INSERT INTO ab_test_assignments (test_id, skill_name, control_version,"
                    " treatment_version, start_time, status, decision) VALUES ('gate-ab-1', 'gate',"
                    " 'gate@v1', 'gate@v2', '2026-05-02T00:00:00.000Z', 'awaiting_approval',"
                    " 'treatment')");

    json_t *j = promote(f, "gate@v2", "production", SKH_OK);
    assert_string_equal(json_string_value(json_object_get(j, "demoted_variant")), "gate@v1");
    assert_string_equal(json_string_value(json_object_get(j, "ab_test_closed")), "gate-ab-1");
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "ready");
    assert_string_equal(check_status(j, "regression"), "pass");
    assert_string_equal(check_status(j, "mean_time_ms"), "pass");
    json_decref(j);

    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v2",
                "production");
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v1",
                "staged");
    assert_text(f,
                "SELECT from_state || '>' || to_state || ' ' || demoted_variant_id || ' ' ||"
                " approver || ' ' || approval_ticket FROM promotion_events WHERE variant_id = ?1",
                "gate@v2", "staged>production gate@v1 alice OPS-12");
    assert_text(f, "SELECT promotion_state || ' ' || version FROM skills WHERE skill_id = ?1",
                "gate", "production 2");
    assert_text(f, "SELECT status || ' ' || decision FROM ab_test_assignments WHERE test_id = ?1",
                "gate-ab-1", "promoted treatment");
    assert_text(f,
                "SELECT promoted || ' ' || test_status FROM skill_variations"
                " WHERE variation_id = ?1",
                "gate@v2", "1 promoted");
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE event_type ="
                           " 'variation_promoted' AND variation_id = ?1",
                           "gate@v2"),
                     1);
    /* The decision keeps what was seen, the thresholds and which policy decided. */
    char *observed = q_text(f,
                            "SELECT observed FROM decisions WHERE variant_id = ?1 AND verdict ="
                            " 'ready'",
                            "gate@v2");
    json_t *seen = json_loads(observed, 0, NULL);
    free(observed);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(seen, "facts"), "window"), "outcome_metrics")),
        100);
    json_decref(seen);
    char *th =
        q_text(f, "SELECT thresholds FROM decisions WHERE variant_id = ?1 AND verdict = 'ready'",
               "gate@v2");
    assert_non_null(strstr(th, "\"fidelity\":\">= 0.900\""));
    free(th);
    assert_text(f,
                "SELECT COUNT(*) FROM skill_variations WHERE skill_name = ?1 AND state ="
                " 'production'",
                "gate", "1");
}

/* A prototype that won an A/B test and waits for sign-off goes straight to production. */
static void test_ab_winner_awaiting_signoff(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", "production", "gate@v1");
    add_named(f, "gate", "a b", NULL, "gate@v2");
    char *id = NULL;
    skh_error err;
    /* Without the awaiting test, a prototype cannot take the production path. */
    assert_int_equal(approve(f, "gate@v2", "staged->production", PRODUCTION_ITEMS,
                             NITEMS(PRODUCTION_ITEMS), &id, &err),
                     SKH_EFAILED);
    sql_exec(f->db, "INSERT INTO ab_test_assignments (test_id, skill_name, control_version,"
                    " treatment_version, start_time, status, decision) VALUES ('gate-ab-1', 'gate',"
                    " 'gate@v1', 'gate@v2', '2026-05-02T00:00:00.000Z', 'awaiting_approval',"
                    " 'treatment')");
    ready_for_production(f, "gate@v2");
    json_t *j = promote(f, "gate@v2", "production", SKH_OK);
    assert_string_equal(json_string_value(json_object_get(j, "from_state")), "prototype");
    assert_string_equal(json_string_value(json_object_get(j, "ab_test_closed")), "gate-ab-1");
    json_decref(j);
    assert_text(f,
                "SELECT from_state || '>' || to_state FROM promotion_events WHERE variant_id = ?1",
                "gate@v2", "prototype>production");
    /* A prototype with no such test still needs staged first. */
    add_named(f, "gate", "a b", NULL, "gate@v3");
    char *text = NULL;
    assert_int_equal(skh_promote(f->host, "gate@v3", "production", &text, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "promote it to staged first"));
}

static void test_promotion_is_one_transaction(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", "production", "gate@v1");
    add_named(f, "gate", "a b", "staged", "gate@v2");
    ready_for_production(f, "gate@v2");
    sql_exec(f->db,
             "INSERT INTO ab_test_assignments (test_id, skill_name, control_version,"
             " treatment_version, start_time, status) VALUES ('gate-ab-1', 'gate', 'gate@v1',"
             " 'gate@v2', '2026-05-02T00:00:00.000Z', 'awaiting_approval')");
    /* The last write of the transaction fails: nothing before it may stay. */
    sql_exec(f->db, "CREATE TRIGGER injected BEFORE INSERT ON decisions WHEN NEW.verdict = 'ready'"
                    " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    char *text = NULL;
    skh_error err;
    assert_int_equal(skh_promote(f->host, "gate@v2", "production", &text, &err), SKH_ESTORE);
    assert_null(text);
    assert_non_null(strstr(err.message, "injected failure"));
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v1",
                "production");
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v2",
                "staged");
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM promotion_events", NULL), 0);
    assert_text(f, "SELECT status FROM ab_test_assignments WHERE test_id = ?1", "gate-ab-1",
                "awaiting_approval");
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE event_type ="
                           " 'variation_promoted'",
                           NULL),
                     0);
    sql_exec(f->db, "DROP TRIGGER injected");
    json_decref(promote(f, "gate@v2", "production", SKH_OK));
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v2",
                "production");
}

/* ---- the policy is the gate ------------------------------------------------------------------ */

static void replace_in_file(const char *path, const char *from, const char *to)
{
    copy_replacing(path, path, from, to);
    /* A new mtime even on a file system with coarse timestamps. */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    struct timespec times[2] = {sb.st_atim, sb.st_mtim};
    times[1].tv_sec += 2;
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void test_threshold_edit_changes_gate(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a", NULL, "gate@v1"); /* fidelity 0.5 on every case */
    evaluate(f, "gate@v1", 12, 0);
    approve_ok(f, "gate@v1", "prototype->staged", STAGED_ITEMS, NITEMS(STAGED_ITEMS));
    json_t *j = promote(f, "gate@v1", "staged", SKH_EFAILED);
    assert_string_equal(check_status(j, "fidelity"), "fail");
    assert_string_equal(json_string_value(json_object_get(check_named(j, "fidelity"), "threshold")),
                        ">= 0.900");
    json_decref(j);

    /* The operator lowers the bar in promotion.lua: same host, no rebuild, no reopen. */
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/promotion.lua", f->policies);
    replace_in_file(path, "local STAGED_MIN_FIDELITY = 0.90", "local STAGED_MIN_FIDELITY = 0.50");
    j = promote(f, "gate@v1", "staged", SKH_OK);
    assert_string_equal(json_string_value(json_object_get(check_named(j, "fidelity"), "threshold")),
                        ">= 0.500");
    json_decref(j);
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v1",
                "staged");

    /* A broken edit promotes nothing and is recorded. */
    add_named(f, "gate", "a b", NULL, "gate@v2");
    replace_in_file(path, "local function ready(facts)",
                    "local function ready(facts) error('oops')");
    char *text = NULL;
    skh_error err;
    assert_int_equal(skh_promote(f->host, "gate@v2", "staged", &text, &err), SKH_EPLUGIN);
    assert_null(text);
    assert_int_equal(err.category, SKH_ERR_POLICY);
    assert_non_null(strstr(err.message, "oops"));
    assert_text(f,
                "SELECT verdict FROM decisions WHERE variant_id = ?1 ORDER BY decision_id DESC"
                " LIMIT 1",
                "gate@v2", "error");
    assert_text(f, "SELECT state FROM skill_variations WHERE variation_id = ?1", "gate@v2",
                "prototype");
}

/* ---- status and history ------------------------------------------------------------------------
 */

static json_t *status(fixture *f, const char *skill, const char *target, const char *at)
{
    char *text = NULL;
    skh_error err;
    if (skh_status(f->host, skill, target, at, &text, &err) != SKH_OK)
        fail_msg("status %s: %s: %s", skill, err.what, err.message);
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    assert_non_null(j);
    return j;
}

static const char *served(fixture *f, const char *at, char *buf, size_t len)
{
    json_t *j = status(f, "gate", NULL, at);
    json_t *v = json_object_get(json_object_get(j, "served_at"), "variant");
    snprintf(buf, len, "%s", json_is_string(v) ? json_string_value(v) : "(none)");
    json_decref(j);
    return buf;
}

static void test_served_at(void **state)
{
    fixture *f = *state;
    char buf[64];
    add_named(f, "gate", "a b", "production", "gate@v1");
    add_named(f, "gate", "a b", "staged", "gate@v2");
    add_named(f, "gate", "a b", "staged", "gate@v3");
    sql_exec(f->db,
             "UPDATE skill_variations SET created_at = '2026-01-01T00:00:00.000Z';"
             "UPDATE skill_variations SET state = 'staged' WHERE variation_id = 'gate@v1';"
             "UPDATE skill_variations SET state = 'production' WHERE variation_id = 'gate@v3';"
             "INSERT INTO promotion_events (event_id, skill_id, from_state, to_state,"
             " timestamp, variant_id, demoted_variant_id) VALUES"
             " ('e1', 'gate', 'staged', 'production', '2026-02-01T00:00:00.000Z', 'gate@v2',"
             " 'gate@v1'),"
             " ('e3', 'gate', 'staged', 'production', '2026-04-01T00:00:00.000Z', 'gate@v3',"
             " 'gate@v1'),"
             " ('e0', 'gate', 'prototype', 'staged', '2026-01-15T00:00:00.000Z', 'gate@v3',"
             " NULL);"
             "INSERT INTO rollback_events (event_id, skill_id, from_state, to_state,"
             " trigger_reason, trigger_metric, timestamp, variant_id, restored_variant_id)"
             " VALUES ('r2', 'gate', 'production', 'staged', 'fidelity < 0.85',"
             " 'fidelity=0.83', '2026-03-01T00:00:00.000Z', 'gate@v2', 'gate@v1')");
    assert_string_equal(served(f, "2025-12-01", buf, sizeof buf), "(none)");
    assert_string_equal(served(f, "2026-01-20T12:00:00Z", buf, sizeof buf), "gate@v1");
    assert_string_equal(served(f, "2026-02-01T00:00:00.000Z", buf, sizeof buf), "gate@v2");
    assert_string_equal(served(f, "2026-02-15 08:30", buf, sizeof buf), "gate@v2");
    assert_string_equal(served(f, "2026-03-15T00:00:00+02:00", buf, sizeof buf), "gate@v1");
    assert_string_equal(served(f, "2026-05-01", buf, sizeof buf), "gate@v3");
    /* 01:00 at +02:00 is the previous day in UTC, before the rollback of 1 March. */
    assert_string_equal(served(f, "2026-03-01T01:00:00+02:00", buf, sizeof buf), "gate@v2");

    json_t *j = status(f, "gate", NULL, "2026-03-15");
    json_t *s = json_object_get(j, "served_at");
    assert_string_equal(json_string_value(json_object_get(s, "at")), "2026-03-15T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(s, "source")), "rollback_events");
    assert_string_equal(json_string_value(json_object_get(s, "event_id")), "r2");
    json_decref(j);

    char *text = NULL;
    skh_error err;
    assert_int_equal(skh_status(f->host, "gate", NULL, "yesterday", &text, &err), SKH_EINVAL);
    assert_string_equal(err.what, "--at");
    assert_int_equal(skh_status(f->host, "gate", NULL, "2026-02-30", &text, &err), SKH_EINVAL);
    assert_int_equal(skh_status(f->host, "gate", "archived", NULL, &text, &err), SKH_EINVAL);
    assert_int_equal(skh_status(f->host, "nope", NULL, NULL, &text, &err), SKH_ENOTFOUND);
    assert_null(text);
}

static void test_status_json(void **state)
{
    fixture *f = *state;
    add_named(f, "gate", "a b", "production", "gate@v1");
    add_named(f, "gate", "a b", "staged", "gate@v2");
    add_named(f, "gate", "a", NULL, "gate@v3");
    insert_rows(f, "gate@v2", 37, 37, 37, 37, 0.95, 0, "2026-05-02");
    approve_ok(f, "gate@v2", "staged->production", PRODUCTION_ITEMS, NITEMS(PRODUCTION_ITEMS));
    json_decref(promote(f, "gate@v2", "production", SKH_EFAILED));

    json_t *j = status(f, "gate", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "serving")), "gate@v1");
    json_t *variants = json_object_get(j, "variants");
    assert_int_equal(json_array_size(variants), 3);
    json_t *v2 = json_array_get(variants, 1);
    assert_string_equal(json_string_value(json_object_get(v2, "state")), "staged");
    /* The window is rollback.lua's (10 by default), the same for every variant. */
    json_t *w = json_object_get(v2, "window");
    json_int_t size = json_integer_value(json_object_get(j, "window"));
    assert_true(size >= 1);
    assert_int_equal(json_integer_value(json_object_get(w, "size")), size);
    assert_int_equal(json_integer_value(json_object_get(w, "fidelity_metrics")),
                     size < 37 ? size : 37);
    assert_near(json_real_value(json_object_get(w, "fidelity")), 0.95, 1e-9);
    assert_near(json_real_value(json_object_get(w, "exception_rate")), 0.0, 1e-12);
    json_t *samples = json_object_get(v2, "samples");
    assert_int_equal(json_integer_value(json_object_get(samples, "outcome_metrics")), 37);
    assert_int_equal(json_integer_value(json_object_get(samples, "of")), 100);

    /* Next in line: the staged variant, for production, and what it lacks. */
    json_t *next = json_object_get(j, "next_promotion");
    assert_string_equal(json_string_value(json_object_get(next, "variant")), "gate@v2");
    assert_string_equal(json_string_value(json_object_get(next, "to_state")), "production");
    assert_false(json_is_true(json_object_get(next, "ready")));
    json_t *missing = json_object_get(next, "missing");
    assert_string_equal(json_string_value(json_array_get(missing, 0)), "fidelity_metrics");
    assert_null(json_object_get(next, "facts"));

    json_t *approvals = json_object_get(j, "approvals");
    assert_int_equal(json_array_size(approvals), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(approvals, 0), "path")),
                        "staged->production");
    json_t *decisions = json_object_get(j, "decisions");
    assert_string_equal(json_string_value(json_object_get(json_array_get(decisions, 0), "verdict")),
                        "not_ready");
    assert_true(json_is_object(json_object_get(json_array_get(decisions, 0), "observed")));
    assert_true(json_is_array(json_object_get(j, "breakers")));
    assert_true(json_is_null(json_object_get(j, "ab_test")));
    assert_null(json_object_get(j, "served_at"));
    json_decref(j);

    /* --target-state staged: the newest prototype. */
    j = status(f, "gate", "staged", NULL);
    next = json_object_get(j, "next_promotion");
    assert_string_equal(json_string_value(json_object_get(next, "variant")), "gate@v3");
    assert_string_equal(check_status(next, "evaluation_cases"), "inconclusive");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_approval_fills_seed_columns, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_approval_refusals, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_evaluation_figures, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_staged_gate, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_production_one_table_short, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_production_ready, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_ab_winner_awaiting_signoff, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_promotion_is_one_transaction, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_threshold_edit_changes_gate, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_served_at, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_status_json, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
