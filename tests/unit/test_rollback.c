/*
 * Automatic rollback, demotion, freeze and circuit breakers: each default
 * trigger of rollback.lua fires, and only then; nothing before the window
 * is full; a rollback with nowhere to go is suppressed and recorded once;
 * two processes roll back exactly once; the next request, in this process
 * and in another, runs the restored variant; staged variants are demoted
 * on backdated timestamps; the breaker opens, falls back, half-opens after
 * its cool-down, closes and re-opens; rollbacks by hand.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
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

#include <jansson.h>
#include <sqlite3.h>

#include "breaker.h"
#include "host_internal.h"
#include "lifecycle.h"
#include "store_rollback.h"
#include "uuid.h"

#include "fixture.h"

/* Every variant is the shipped flaky.so; its content sets what it reports. */
static int setup(void **state)
{
    fixture_options o = {.name = "rb", .impl = "flaky.so"};
    return fixture_setup(state, &o);
}

/* ---- helpers ------------------------------------------------------------------------- */

/* NAME@v1 and NAME@v2 both added as production: v2 serves, v1 is the rollback target. */
static void two_production(fixture *f, const char *skill)
{
    skh_free(add(f, skill, NULL, "production"));
    skh_free(add(f, skill, NULL, "production"));
}

static const char *state_of(const fixture *f, const char *variant, char buf[32])
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT state FROM skill_variations WHERE variation_id = '%s'",
             variant);
    char *t = q_text(f, sql, NULL);
    snprintf(buf, 32, "%s", t);
    free(t);
    return buf;
}

/* ISO-8601 UTC with milliseconds, seconds_ago before now. */
static void iso_ago(double seconds_ago, char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - seconds_ago;
    time_t whole = (time_t)floor(t);
    int ms = (int)((t - floor(t)) * 1000.0);
    struct tm tm;
    gmtime_r(&whole, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, ms);
}

/* One recorded execution, as skh_execute would record it. */
typedef struct rec {
    double fidelity;      /* 1.0 unless set */
    int correct;          /* 1, 0, or -1 (no label) */
    const char *decision; /* "ok" unless set */
    const char *expected;
    int critical;
    double ms;
    int category; /* SKH_ERR_*: an exception */
    int evaluation;
    const char *timestamp; /* NULL: now */
    int skipped;           /* recovery.lua blamed the input */
} rec;

#define GOOD ((rec){.fidelity = 1.0, .correct = -1, .ms = 1.0})

static void record(fixture *f, const char *variant, rec r)
{
    char id[UUID_TEXT_LEN], req[UUID_TEXT_LEN], ts[32], skill[80];
    uuid_v7(id);
    uuid_v7(req);
    if (r.timestamp)
        snprintf(ts, sizeof ts, "%s", r.timestamp);
    else
        store_timestamp(ts);
    snprintf(skill, sizeof skill, "%.*s", (int)strcspn(variant, "@"), variant);
    store_execution ex = {.execution_id = id,
                          .request_id = req,
                          .skill = skill,
                          .variant_id = variant,
                          .attempt = 1,
                          .timestamp = ts,
                          .input = "{}",
                          .output = r.category ? NULL : "{\"decision\":\"ok\"}",
                          .steps = "[]",
                          .category = r.category,
                          .error_message = r.category ? "injected" : NULL,
                          .fidelity = r.fidelity,
                          .patterns_followed = (int)(r.fidelity * 20),
                          .patterns_missed = 20 - (int)(r.fidelity * 20),
                          .missed = "[]",
                          .decision = r.decision ? r.decision : "ok",
                          .correct = r.correct,
                          .confidence = NAN,
                          .duration_ms = r.ms,
                          .evaluation = r.evaluation,
                          .expected = r.expected,
                          .critical = r.critical,
                          .skipped = r.skipped};
    skh_error err;
    if (store_record_execution(f->host->st, &ex, &err))
        fail_msg("record %s: %s: %s", variant, err.what, err.message);
}

static void check(fixture *f, const char *variant)
{
    char skill[80];
    snprintf(skill, sizeof skill, "%.*s", (int)strcspn(variant, "@"), variant);
    skh_error err;
    if (lifecycle_after_request(f->host, skill, variant, &err))
        fail_msg("lifecycle %s: %s: %s", variant, err.what, err.message);
}

/* Record and check, as a request does. */
static void serve(fixture *f, const char *variant, rec r)
{
    record(f, variant, r);
    check(f, variant);
}

static long long rollbacks_of(const fixture *f, const char *skill)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM rollback_events WHERE skill_id = '%s'", skill);
    return q_int(f, sql, NULL);
}

/*
 * Nine executions of `bad` leave the variant in production (the window is
 * not full: inconclusive); the tenth rolls it back with this metric.
 */
static void fires_at_ten(fixture *f, const char *skill, const rec *bad, int nbad,
                         const char *metric)
{
    char v2[80], v1[80], buf[32], sql[512];
    snprintf(v1, sizeof v1, "%s@v1", skill);
    snprintf(v2, sizeof v2, "%s@v2", skill);
    for (int i = 0; i < 9; i++)
        serve(f, v2, bad[i % nbad]);
    assert_string_equal(state_of(f, v2, buf), "production");
    assert_int_equal(rollbacks_of(f, skill), 0);
    serve(f, v2, bad[9 % nbad]);
    assert_string_equal(state_of(f, v2, buf), "staged");
    assert_string_equal(state_of(f, v1, buf), "production");
    snprintf(sql, sizeof sql,
             "SELECT from_state || ' ' || to_state || ' ' || variant_id || ' ' ||"
             " restored_variant_id || ' ' || trigger_metric FROM rollback_events"
             " WHERE skill_id = '%s'",
             skill);
    char want[256];
    snprintf(want, sizeof want, "production staged %s %s %s", v2, v1, metric);
    assert_text(f, sql, NULL, want);
    assert_int_equal(rollbacks_of(f, skill), 1);
}

/* Ten executions of `ok` never roll back. */
static void holds(fixture *f, const char *skill, const rec *ok, int nok)
{
    char v2[80], buf[32];
    snprintf(v2, sizeof v2, "%s@v2", skill);
    for (int i = 0; i < 12; i++)
        serve(f, v2, ok[i % nok]);
    assert_string_equal(state_of(f, v2, buf), "production");
    assert_int_equal(rollbacks_of(f, skill), 0);
}

/* ---- each default trigger, and only then ----------------------------------------------- */

static void test_trigger_fidelity(void **state)
{
    fixture *f = *state;
    two_production(f, "fid");
    two_production(f, "fid_ok");
    rec low = GOOD, edge = GOOD;
    low.fidelity = 0.80;
    edge.fidelity = 0.85; /* not below 0.85 */
    holds(f, "fid_ok", &edge, 1);
    fires_at_ten(f, "fid", &low, 1, "fidelity=0.80");
    assert_text(f, "SELECT trigger_reason FROM rollback_events WHERE skill_id = 'fid'", NULL,
                "pattern fidelity 0.80 below 0.85 over the last 10 executions");
    /* The learning event and the decision, with the policy file that made it. */
    assert_text(f,
                "SELECT printf('%.2f', before_fidelity) || ' ' || variation_id FROM learning_events"
                " WHERE event_type = 'rollback' AND skill_name = 'fid'",
                NULL, "0.80 fid@v2");
    char *file = q_text(f,
                        "SELECT policy_file FROM decisions WHERE kind = 'rollback'"
                        " AND verdict = 'rollback' AND skill_name = 'fid'",
                        NULL);
    assert_non_null(strstr(file, "rollback.lua"));
    free(file);
    assert_int_equal(q_int(f,
                           "SELECT length(policy_sha256) FROM decisions WHERE skill_name = 'fid'"
                           " AND verdict = 'rollback'",
                           NULL),
                     64);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE skill_name = 'fid_ok'", NULL),
                     0);
}

static void test_trigger_outcome(void **state)
{
    fixture *f = *state;
    two_production(f, "out");
    two_production(f, "out_ok");
    rec right = GOOD, wrong = GOOD;
    right.correct = 1;
    wrong.correct = 0;
    /* 8 of 10 right: 0.80 is not below 0.80. */
    rec eight[10] = {right, right, wrong, right, right, right, right, wrong, right, right};
    holds(f, "out_ok", eight, 10);
    /* 7 of 10 right. */
    rec seven[10] = {right, wrong, right, right, wrong, right, right, right, wrong, right};
    fires_at_ten(f, "out", seven, 10, "outcome=0.70");
}

static void test_trigger_critical_false_negative(void **state)
{
    fixture *f = *state;
    two_production(f, "cfn");
    two_production(f, "cfn_ok");
    rec hit = GOOD, missed = GOOD, missed_not_critical = GOOD;
    hit.expected = "spam";
    hit.decision = "spam";
    hit.critical = 1;
    missed = hit;
    missed.decision = "ham";
    missed_not_critical = missed;
    missed_not_critical.critical = 0;
    /* A plain false negative (1 of 10: outcome 0.90) is no critical one. */
    rec calm[10] = {hit, hit, hit, missed_not_critical, hit, hit, hit, hit, hit, hit};
    holds(f, "cfn_ok", calm, 10);
    rec bad[10] = {hit, hit, hit, hit, hit, hit, hit, hit, hit, missed};
    fires_at_ten(f, "cfn", bad, 10, "critical_false_negatives=1");
}

static void test_trigger_false_positive_rate(void **state)
{
    fixture *f = *state;
    two_production(f, "fpr");
    two_production(f, "fpr_ok");
    rec neg = GOOD, fp = GOOD;
    neg.expected = "ham";
    neg.decision = "ham";
    fp.expected = "ham";
    fp.decision = "spam";
    /* 1 of 10 negatives decided positive: 0.10 is not above 0.10. */
    rec one[10] = {neg, neg, neg, neg, fp, neg, neg, neg, neg, neg};
    holds(f, "fpr_ok", one, 10);
    rec two[10] = {neg, fp, neg, neg, neg, neg, fp, neg, neg, neg};
    fires_at_ten(f, "fpr", two, 10, "false_positive_rate=0.20");
}

static void test_trigger_exception_rate(void **state)
{
    fixture *f = *state;
    two_production(f, "exc");
    two_production(f, "exc_ok");
    rec good = GOOD, crash = GOOD;
    crash.category = SKH_ERR_CRASH;
    holds(f, "exc_ok", &good, 1);
    rec bad[10] = {good, good, good, crash, good, good, good, good, good, good};
    fires_at_ten(f, "exc", bad, 10, "exception_rate=0.10");
}

static void test_trigger_mean_time(void **state)
{
    fixture *f = *state;
    two_production(f, "slow");
    two_production(f, "slow_ok");
    two_production(f, "slow_first");
    /* The benchmark baseline: ten evaluation runs at 10 ms. */
    rec bench = GOOD;
    bench.ms = 10;
    bench.evaluation = 1;
    for (int i = 0; i < 10; i++) {
        record(f, "slow@v2", bench);
        record(f, "slow_ok@v2", bench);
    }
    rec thrice = GOOD, slower = GOOD;
    thrice.ms = 30; /* exactly 3x: not over it */
    slower.ms = 40;
    holds(f, "slow_ok", &thrice, 1);
    fires_at_ten(f, "slow", &slower, 1, "mean_time_ms=40.00");
    assert_text(f, "SELECT trigger_reason FROM rollback_events WHERE skill_id = 'slow'", NULL,
                "mean time 40.00 ms is 4.00x the benchmark baseline of 10.00 ms");

    /* Without a benchmark: the first live executions before the window are the baseline. */
    rec fast = GOOD;
    fast.ms = 10;
    for (int i = 0; i < 10; i++)
        serve(f, "slow_first@v2", fast);
    fires_at_ten(f, "slow_first", &slower, 1, "mean_time_ms=40.00");
    assert_text(f, "SELECT trigger_reason FROM rollback_events WHERE skill_id = 'slow_first'", NULL,
                "mean time 40.00 ms is 4.00x the first executions baseline of 10.00 ms");

    /* A sub-millisecond skill's jitter is no regression: 0.1 ms -> 0.5 ms. */
    two_production(f, "jitter");
    rec tiny = GOOD, less_tiny = GOOD;
    tiny.ms = 0.1;
    less_tiny.ms = 0.5;
    for (int i = 0; i < 10; i++)
        serve(f, "jitter@v2", tiny);
    holds(f, "jitter", &less_tiny, 1);
}

/* Copy the shipped rollback.lua into dir, with one line replaced. */
static void edited_policy(const fixture *f, const char *dir, const char *find, const char *put)
{
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/rollback.lua", f->policies);
    snprintf(dst, sizeof dst, "%s/rollback.lua", dir);
    copy_replacing(src, dst, find, put);
}

static void reopen_with(fixture *f, const char *policies)
{
    skh_host_close(f->host);
    f->host = NULL;
    assert_int_equal(open_host(f, policies), SKH_OK);
}

/*
 * The dependency health hook (none by default), and a threshold edited in
 * Lua: both change the gate without rebuilding anything.
 */
static void test_trigger_health_and_edited_threshold(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/pol", f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    edited_policy(f, dir, "local health = {}",
                  "local health = { store = function(f) return false, 'store down' end }");
    reopen_with(f, dir);
    two_production(f, "dep");
    fires_at_ten(f, "dep", &GOOD, 1, "health=store");
    assert_text(f, "SELECT trigger_reason FROM rollback_events WHERE skill_id = 'dep'", NULL,
                "dependency health check store failed: store down");

    /* 0.90 fidelity passes the shipped 0.85 gate; edited to 0.95 it fails. */
    edited_policy(f, dir, "local MIN_FIDELITY = 0.85", "local MIN_FIDELITY = 0.95");
    reopen_with(f, dir);
    two_production(f, "edit");
    rec ninety = GOOD;
    ninety.fidelity = 0.90;
    fires_at_ten(f, "edit", &ninety, 1, "fidelity=0.90");
}

/* ---- the window ------------------------------------------------------------------------ */

static void test_window_is_live_and_since_production(void **state)
{
    fixture *f = *state;
    two_production(f, "win");
    rec low = GOOD, bench = GOOD;
    low.fidelity = 0.5;
    bench.evaluation = 1;
    bench.fidelity = 0.1;
    /* Benchmark runs never count, however bad. */
    for (int i = 0; i < 12; i++)
        serve(f, "win@v2", bench);
    assert_int_equal(rollbacks_of(f, "win"), 0);
    json_t *rows = NULL;
    skh_error err;
    assert_int_equal(store_rb_window(f->host->st, "win@v2", NULL, 10, &rows, &err), SKH_OK);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);

    /* Executions from before the variant became production are not its production window. */
    char old[32];
    iso_ago(3600, old);
    low.timestamp = old;
    for (int i = 0; i < 10; i++)
        record(f, "win@v2", low);
    check(f, "win@v2");
    assert_int_equal(rollbacks_of(f, "win"), 0);

    /* Newest first, every metric present. */
    record(f, "win@v2", GOOD);
    assert_int_equal(store_rb_window(f->host->st, "win@v2", NULL, 3, &rows, &err), SKH_OK);
    assert_int_equal(json_array_size(rows), 3);
    json_t *first = json_array_get(rows, 0);
    assert_true(json_number_value(json_object_get(first, "fidelity")) == 1.0);
    assert_true(json_is_false(json_object_get(first, "exception")));
    assert_string_equal(json_string_value(json_object_get(first, "decision")), "ok");
    assert_true(json_number_value(json_object_get(json_array_get(rows, 1), "fidelity")) == 0.5);
    json_decref(rows);
}

/* ---- skipped requests: the input's fault, not the variant's ------------------------------- */

static int run_flaky(fixture *f, const char *skill, const char *input)
{
    skh_result *r = NULL;
    skh_error err;
    int rc = skh_execute(f->host, skill, input, NULL, &r, &err);
    if (rc != SKH_OK && rc != SKH_EFAILED)
        fail_msg("execute %s: %s: %s", skill, err.what, err.message);
    skh_result_free(r);
    return rc;
}

static void test_skipped_requests_are_no_evidence(void **state)
{
    fixture *f = *state;
    char buf[32];
    skh_error err;
    two_production(f, "bad_input");
    /* One call per failed request: the network failures below are not retried. */
    assert_int_equal(skh_config_set(f->host, "recovery.max_retries", "0", &err), SKH_OK);

    /* recovery.lua skips validation errors: ten of them leave the window empty. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(run_flaky(f, "bad_input", "{\"error_by_attempt\":[\"validation\"]}"),
                         SKH_EFAILED);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM executions WHERE skipped = 1", NULL), 10);
    assert_string_equal(state_of(f, "bad_input@v2", buf), "production");
    assert_int_equal(rollbacks_of(f, "bad_input"), 0);

    /* Ten network failures are the variant's: the tenth fills the window and rolls it back. */
    for (int i = 0; i < 9; i++)
        assert_int_equal(run_flaky(f, "bad_input", "{\"error_by_attempt\":[\"network\"]}"),
                         SKH_EFAILED);
    assert_int_equal(rollbacks_of(f, "bad_input"), 0);
    assert_int_equal(run_flaky(f, "bad_input", "{\"error_by_attempt\":[\"network\"]}"),
                     SKH_EFAILED);
    assert_string_equal(state_of(f, "bad_input@v2", buf), "staged");
    assert_string_equal(state_of(f, "bad_input@v1", buf), "production");
    assert_text(f, "SELECT trigger_metric FROM rollback_events WHERE skill_id = 'bad_input'", NULL,
                "exception_rate=1.00");
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM executions WHERE skipped = 1", NULL), 10);
}

/* The window passes over skipped rows, but reads at most 4n rows for its n. */
static void test_window_passes_over_skipped(void **state)
{
    fixture *f = *state;
    skh_free(add(f, "skw", NULL, "production"));
    rec good = GOOD, skipped = GOOD;
    skipped.category = SKH_ERR_VALIDATION;
    skipped.skipped = 1;
    for (int i = 0; i < 5; i++)
        record(f, "skw@v1", good);
    for (int i = 0; i < 20; i++)
        record(f, "skw@v1", skipped);
    json_t *rows = NULL;
    skh_error err;
    assert_int_equal(store_rb_window(f->host->st, "skw@v1", NULL, 10, &rows, &err), SKH_OK);
    assert_int_equal(json_array_size(rows), 5);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) assert_true(json_is_false(json_object_get(row, "exception")));
    json_decref(rows);

    /* 35 skipped rows: the 40 rows read still hold all five good ones; one more pushes one out. */
    for (int k = 0; k < 15; k++)
        record(f, "skw@v1", skipped);
    assert_int_equal(store_rb_window(f->host->st, "skw@v1", NULL, 10, &rows, &err), SKH_OK);
    assert_int_equal(json_array_size(rows), 5);
    json_decref(rows);
    record(f, "skw@v1", skipped);
    assert_int_equal(store_rb_window(f->host->st, "skw@v1", NULL, 10, &rows, &err), SKH_OK);
    assert_int_equal(json_array_size(rows), 4);
    json_decref(rows);
    /* A window of 2 reads 8 rows, all skipped here; a window of 0 reads none. */
    assert_int_equal(store_rb_window(f->host->st, "skw@v1", NULL, 2, &rows, &err), SKH_OK);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    assert_int_equal(store_rb_window(f->host->st, "skw@v1", NULL, 0, &rows, &err), SKH_OK);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
}

/* ---- suppressed, exactly once -------------------------------------------------------------- */

static void test_suppressed_without_target(void **state)
{
    fixture *f = *state;
    skh_free(add(f, "lone", NULL, "production"));
    rec low = GOOD;
    low.fidelity = 0.5;
    char buf[32];
    for (int i = 0; i < 19; i++)
        serve(f, "lone@v1", low);
    assert_string_equal(state_of(f, "lone@v1", buf), "production");
    assert_int_equal(rollbacks_of(f, "lone"), 0);
    /* Ten checks fired (executions 10..19); one decision, not a storm. */
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE skill_name = 'lone'", NULL), 1);
    assert_text(f,
                "SELECT kind || ' ' || verdict || ' ' || variant_id || ' ' ||"
                " json_extract(observed, '$.suppressed') FROM decisions WHERE skill_name = 'lone'",
                NULL, "rollback suppressed lone@v1 no previous production variant to restore");
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE skill_name = 'lone'"
                           " AND event_type = 'rollback'",
                           NULL),
                     0);
}

static void test_exactly_once_across_processes(void **state)
{
    enum { CHILDREN = 4 };
    fixture *f = *state;
    two_production(f, "race");
    rec low = GOOD;
    low.fidelity = 0.5;
    for (int i = 0; i < 10; i++)
        record(f, "race@v2", low);
    /* A connection must not cross fork(): close ours first. */
    skh_host_close(f->host);
    f->host = NULL;
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            int bad = open_host(f, NULL) != SKH_OK;
            skh_error err;
            if (!bad && lifecycle_after_request(f->host, "race", "race@v2", &err) != SKH_OK) {
                fprintf(stderr, "child %d: %s\n", c, err.message);
                bad = 1;
            }
            skh_host_close(f->host);
            _exit(bad);
        }
    }
    assert_int_equal(wait_children(pids, CHILDREN), 0);
    assert_int_equal(open_host(f, NULL), SKH_OK);
    assert_int_equal(rollbacks_of(f, "race"), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE skill_name = 'race'", NULL), 1);
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE skill_name = 'race'"
                           " AND event_type = 'rollback'",
                           NULL),
                     1);
    char buf[32];
    assert_string_equal(state_of(f, "race@v1", buf), "production");
    assert_string_equal(state_of(f, "race@v2", buf), "staged");
}

/* ---- through skh_execute, in this process and another ------------------------------------ */

static char *run(fixture *f, const char *skill, const char *input)
{
    skh_exec_options o = SKH_EXEC_OPTIONS_INIT;
    o.react = 0;
    return served_by(f, skill, input, &o);
}

static void test_next_request_runs_restored(void **state)
{
    fixture *f = *state;
    skh_free(add(f, "live", NULL, "production"));
    skh_free(add(f, "live", "{\"fidelity\":0.5}", "production"));
    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    skh_host_close(f->host);
    f->host = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A second host, warm before the rollback happens. */
        char byte = 0;
        int bad = open_host(f, NULL) != SKH_OK;
        char *v = bad ? NULL : run(f, "live", "{}");
        bad |= !v || strcmp(v, "live@v2") != 0;
        free(v);
        bad |= write(to_parent[1], "r", 1) != 1;
        bad |= read(to_child[0], &byte, 1) != 1;
        v = bad ? NULL : run(f, "live", "{}");
        if (!v || strcmp(v, "live@v1") != 0) {
            fprintf(stderr, "the second process ran %s, not live@v1\n", v ? v : "nothing");
            bad = 1;
        }
        free(v);
        skh_host_close(f->host);
        _exit(bad);
    }
    char byte = 0;
    assert_int_equal(read(to_parent[0], &byte, 1), 1);
    assert_int_equal(open_host(f, NULL), SKH_OK);
    /* The child's request was the window's first; nine more fill it. */
    for (int i = 0; i < 8; i++) {
        char *v = run(f, "live", "{}");
        assert_string_equal(v, "live@v2");
        free(v);
    }
    assert_int_equal(rollbacks_of(f, "live"), 0);
    char *v = run(f, "live", "{}");
    assert_string_equal(v, "live@v2");
    free(v);
    assert_int_equal(rollbacks_of(f, "live"), 1);
    assert_text(f, "SELECT trigger_metric FROM rollback_events WHERE skill_id = 'live'", NULL,
                "fidelity=0.50");
    v = run(f, "live", "{}");
    assert_string_equal(v, "live@v1");
    free(v);
    assert_int_equal(write(to_child[1], "g", 1), 1);
    assert_int_equal(wait_children(&pid, 1), 0);
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
}

/* ---- staged -> prototype ------------------------------------------------------------------- */

static void promoted_to_staged(fixture *f, const char *variant, double days_ago)
{
    char ts[32], id[UUID_TEXT_LEN], sql[512];
    iso_ago(days_ago * 86400.0, ts);
    uuid_v7(id);
    snprintf(sql, sizeof sql,
             "INSERT INTO promotion_events (event_id, skill_id, from_state, to_state, approver,"
             " timestamp, reason, variant_id) VALUES ('%s', '%.*s', 'prototype', 'staged', 'qa',"
             " '%s', 'test', '%s')",
             id, (int)strcspn(variant, "@"), variant, ts, variant);
    sql_exec(f->db, sql);
}

static void test_demote_staged(void **state)
{
    fixture *f = *state;
    char buf[32], ts[32];
    skh_free(add(f, "stg", NULL, "production"));
    /* v2: staged 8 days ago, 3 executions: the 100-execution milestone was missed. */
    skh_free(add(f, "stg", NULL, "staged"));
    promoted_to_staged(f, "stg@v2", 8);
    /* v3: staged 2 days ago with as little: still within its 7 days. */
    skh_free(add(f, "stg", NULL, "staged"));
    promoted_to_staged(f, "stg@v3", 2);
    for (int i = 0; i < 3; i++) {
        serve(f, "stg@v3", GOOD);
        record(f, "stg@v2", GOOD);
    }
    check(f, "stg@v2");
    assert_string_equal(state_of(f, "stg@v2", buf), "prototype");
    assert_string_equal(state_of(f, "stg@v3", buf), "staged");
    assert_text(f,
                "SELECT from_state || ' ' || to_state || ' ' || trigger_metric || ' ' ||"
                " COALESCE(restored_variant_id, '-') FROM rollback_events"
                " WHERE variant_id = 'stg@v2'",
                NULL, "staged prototype executions=3 -");
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE variation_id = 'stg@v2'"
                           " AND event_type = 'demotion'",
                           NULL),
                     1);
    assert_text(f, "SELECT verdict FROM decisions WHERE variant_id = 'stg@v2'", NULL, "demote");
    assert_string_equal(state_of(f, "stg@v1", buf), "production");

    /* v4: staged 8 days ago, 100 executions within a day, fidelity 0.85: never reached 0.90. */
    skh_free(add(f, "stg", NULL, "staged"));
    promoted_to_staged(f, "stg@v4", 8);
    iso_ago(7 * 86400.0, ts);
    rec meh = GOOD;
    meh.fidelity = 0.85;
    meh.timestamp = ts;
    for (int i = 0; i < 100; i++)
        record(f, "stg@v4", meh);
    check(f, "stg@v4");
    assert_string_equal(state_of(f, "stg@v4", buf), "prototype");
    assert_text(f, "SELECT trigger_metric FROM rollback_events WHERE variant_id = 'stg@v4'", NULL,
                "fidelity=0.85");

    /* v5: staged yesterday, benchmark fidelity 1.0, live 0.80: a regression. */
    skh_free(add(f, "stg", NULL, "staged"));
    promoted_to_staged(f, "stg@v5", 1);
    rec bench = GOOD, worse = GOOD;
    bench.evaluation = 1;
    worse.fidelity = 0.80;
    for (int i = 0; i < 10; i++)
        record(f, "stg@v5", bench);
    for (int i = 0; i < 9; i++)
        serve(f, "stg@v5", worse);
    assert_string_equal(state_of(f, "stg@v5", buf), "staged");
    serve(f, "stg@v5", worse);
    assert_string_equal(state_of(f, "stg@v5", buf), "prototype");
    assert_text(f, "SELECT trigger_reason FROM rollback_events WHERE variant_id = 'stg@v5'", NULL,
                "regression: fidelity 0.80 vs its benchmark 1.00");

    /* A staged variant that left production is a rollback target, not a candidate. */
    skh_free(add(f, "old", NULL, "production"));
    skh_free(add(f, "old", NULL, "production"));
    sql_exec(f->db, "UPDATE skill_variations SET state_since = '2000-01-01T00:00:00.000Z'"
                    " WHERE variation_id = 'old@v1'");
    serve(f, "old@v1", GOOD);
    assert_string_equal(state_of(f, "old@v1", buf), "staged");
}

/* ---- freeze --------------------------------------------------------------------------------- */

static void test_freeze(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX + 16], buf[32];
    snprintf(dir, sizeof dir, "%s/pol", f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    edited_policy(f, dir, "local function decide(f)\n",
                  "local function decide(f)\n"
                  "  if #f.executions >= 3 then\n"
                  "    return { action = 'freeze', reason = 'frozen for the test',"
                  " metric = 'executions=3' }\n"
                  "  end\n");
    reopen_with(f, dir);
    two_production(f, "frz");
    for (int i = 0; i < 3; i++) {
        char *v = run(f, "frz", "{}");
        assert_string_equal(v, "frz@v2");
        free(v);
    }
    assert_text(f,
                "SELECT state || ' ' || reason FROM circuit_breakers WHERE variant_id = 'frz@v2'",
                NULL, "frozen frozen for the test");
    assert_string_equal(state_of(f, "frz@v2", buf), "production");
    assert_text(f, "SELECT verdict FROM decisions WHERE skill_name = 'frz'", NULL, "freeze");
    /* Routing stops sending requests to it; the previous production variant serves. */
    char *v = run(f, "frz", "{}");
    assert_string_equal(v, "frz@v1");
    free(v);
    int allow = 1, clean = -1;
    char *fallback = NULL;
    skh_error err;
    assert_int_equal(breaker_admit(f->host, "frz", "frz@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(allow, 0);
    assert_string_equal(fallback, "frz@v1");
    free(fallback);
    /* Frozen once: later checks change nothing. */
    check(f, "frz@v2");
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE skill_name = 'frz'", NULL), 1);
    /* A state change ends the freeze. */
    char *json = NULL;
    assert_int_equal(skh_rollback(f->host, "frz", "unfreeze by rollback", NULL, &json, &err),
                     SKH_OK);
    skh_free(json);
    assert_int_equal(
        q_int(f, "SELECT COUNT(*) FROM circuit_breakers WHERE variant_id = 'frz@v2'", NULL), 0);
}

/* A policy that raises rolls nothing back; the failure is recorded. */
static void test_policy_error_fails_safe(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX + 16], buf[32];
    snprintf(dir, sizeof dir, "%s/pol", f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    edited_policy(f, dir, "local function decide(f)\n",
                  "local function decide(f)\n  error('broken on purpose')\n");
    reopen_with(f, dir);
    two_production(f, "err");
    rec low = GOOD;
    low.fidelity = 0.1;
    for (int i = 0; i < 10; i++)
        serve(f, "err@v2", low);
    assert_string_equal(state_of(f, "err@v2", buf), "production");
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM decisions WHERE skill_name = 'err'"
                           " AND kind = 'rollback' AND verdict = 'error'",
                           NULL),
                     10);

    /* No rollback policy at all: checks are off, and nothing is recorded. */
    assert_int_equal(unlink(strcat(dir, "/rollback.lua")), 0);
    reopen_with(f, f->dir);
    for (int i = 0; i < 10; i++)
        serve(f, "err@v2", low);
    assert_string_equal(state_of(f, "err@v2", buf), "production");
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE skill_name = 'err'", NULL), 10);
}

/* ---- circuit breaker ------------------------------------------------------------------------ */

static void backdate_opened(fixture *f, const char *variant, int seconds)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE circuit_breakers SET opened_at = strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now',"
             " '-%d seconds'), half_open_at = strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now',"
             " '-%d seconds') WHERE variant_id = '%s'",
             seconds, seconds, variant);
    sql_exec(f->db, sql);
}

/* A success forgets the failures counted before it; routing says when there are none. */
static void test_breaker_success_resets(void **state)
{
    fixture *f = *state;
    two_production(f, "rst");
    int allow = 0, clean = -1;
    char *fallback = NULL;
    skh_error err;
    assert_int_equal(breaker_admit(f->host, "rst", "rst@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(clean, 1); /* no row at all */
    for (int i = 0; i < 2; i++) {
        char *v = run(f, "rst", "{\"error_by_attempt\":[\"crash\"]}");
        free(v);
    }
    assert_text(f, "SELECT state || ' ' || failures FROM circuit_breakers", NULL, "closed 2");
    assert_int_equal(breaker_admit(f->host, "rst", "rst@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(allow, 1);
    assert_int_equal(clean, 0);
    char *v = run(f, "rst", "{}");
    assert_string_equal(v, "rst@v2");
    free(v);
    assert_text(f, "SELECT state || ' ' || failures FROM circuit_breakers", NULL, "closed 0");
    assert_int_equal(breaker_admit(f->host, "rst", "rst@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(clean, 1);
    assert_null(fallback);
}

static void test_breaker(void **state)
{
    fixture *f = *state;
    two_production(f, "brk");
    static const char crash[] = "{\"error_by_attempt\":[\"crash\"]}";
    for (int i = 0; i < 4; i++) {
        char *v = run(f, "brk", crash);
        assert_string_equal(v, "brk@v2");
        free(v);
    }
    assert_text(f, "SELECT state || ' ' || failures FROM circuit_breakers", NULL, "closed 4");
    char *v = run(f, "brk", crash);
    assert_string_equal(v, "brk@v2");
    free(v);
    assert_text(f, "SELECT state || ' ' || failures FROM circuit_breakers", NULL, "open 5");
    assert_text(f,
                "SELECT verdict || ' ' || json_extract(observed, '$.failures') || ' ' ||"
                " json_extract(thresholds, '$.failures') || ' ' ||"
                " json_extract(thresholds, '$.cooldown_s') FROM decisions WHERE kind = 'breaker'",
                NULL, "open 5 5 30");
    char *file = q_text(f, "SELECT policy_file FROM decisions WHERE kind = 'breaker'", NULL);
    assert_non_null(strstr(file, "rollout.lua"));
    free(file);

    /* Open: requests fall back to the previous production variant. */
    v = run(f, "brk", "{}");
    assert_string_equal(v, "brk@v1");
    free(v);
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM executions WHERE variant_id = 'brk@v1'"
                           " AND fallback_from = 'brk@v2'",
                           NULL),
                     1);

    /* After the cool-down one request -- and only one -- probes; its failure re-opens. */
    backdate_opened(f, "brk@v2", 31);
    int allow = 0, clean = -1;
    char *fallback = NULL;
    skh_error err;
    assert_int_equal(breaker_admit(f->host, "brk", "brk@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(allow, 1);
    assert_null(fallback);
    assert_int_equal(breaker_admit(f->host, "brk", "brk@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(allow, 0);
    assert_string_equal(fallback, "brk@v1");
    free(fallback);
    assert_int_equal(breaker_record(f->host, "brk", "brk@v2", 1, &err), SKH_OK);
    assert_text(f, "SELECT state FROM circuit_breakers", NULL, "open");
    assert_text(f,
                "SELECT group_concat(verdict, ',') FROM (SELECT verdict FROM decisions"
                " WHERE kind = 'breaker' ORDER BY decision_id)",
                NULL, "open,half_open,reopen");
    v = run(f, "brk", "{}");
    assert_string_equal(v, "brk@v1");
    free(v);

    /* A probe that never reports is replaced after another cool-down. */
    backdate_opened(f, "brk@v2", 31);
    assert_int_equal(breaker_admit(f->host, "brk", "brk@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(allow, 1);
    backdate_opened(f, "brk@v2", 31);
    /* Its success closes the breaker, and the variant serves again. */
    v = run(f, "brk", "{}");
    assert_string_equal(v, "brk@v2");
    free(v);
    assert_text(f, "SELECT state || ' ' || failures FROM circuit_breakers", NULL, "closed 0");
    assert_text(f,
                "SELECT group_concat(verdict, ',') FROM (SELECT verdict FROM decisions"
                " WHERE kind = 'breaker' ORDER BY decision_id)",
                NULL, "open,half_open,reopen,half_open,half_open,close");
    v = run(f, "brk", "{}");
    assert_string_equal(v, "brk@v2");
    free(v);

    /* Consecutive: a success between failures starts the count again. */
    two_production(f, "brk2");
    for (int i = 0; i < 4; i++)
        free(run(f, "brk2", crash));
    free(run(f, "brk2", "{}"));
    free(run(f, "brk2", crash));
    assert_text(
        f, "SELECT state || ' ' || failures FROM circuit_breakers WHERE variant_id = 'brk2@v2'",
        NULL, "closed 1");
}

/* rollout.lua's breaker() sets the thresholds. */
static void test_breaker_settings_from_policy(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX + 16], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/pol", f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/rollout.lua", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("return { kind = 'policy', name = 'rollout', version = '1',\n"
          "  breaker = function(f) return { failures = 2, cooldown_s = 5 } end }\n",
          fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0644), 0);
    reopen_with(f, dir);
    two_production(f, "cfg");
    skh_error err;
    assert_int_equal(breaker_record(f->host, "cfg", "cfg@v2", 1, &err), SKH_OK);
    assert_text(f, "SELECT state FROM circuit_breakers", NULL, "closed");
    assert_int_equal(breaker_record(f->host, "cfg", "cfg@v2", 1, &err), SKH_OK);
    assert_text(f, "SELECT state FROM circuit_breakers", NULL, "open");
    backdate_opened(f, "cfg@v2", 6);
    int allow = 0, clean = -1;
    char *fallback = NULL;
    assert_int_equal(breaker_admit(f->host, "cfg", "cfg@v2", &allow, &clean, &fallback, &err),
                     SKH_OK);
    assert_int_equal(allow, 1);
    assert_int_equal(breaker_record(f->host, "cfg", "cfg@v2", 0, &err), SKH_OK);
    assert_text(f, "SELECT state FROM circuit_breakers", NULL, "closed");
    assert_text(f, "SELECT thresholds FROM decisions WHERE verdict = 'close'", NULL,
                "{\"failures\":2,\"cooldown_s\":5}");
}

/* ---- by hand -------------------------------------------------------------------------------- */

static int rollback(fixture *f, const char *skill, const char *to, json_t **out, skh_error *err)
{
    char *text = NULL;
    int rc = skh_rollback(f->host, skill, "bad deploy", to, &text, err);
    if (out)
        *out = text ? json_loads(text, 0, NULL) : NULL;
    skh_free(text);
    return rc;
}

static void test_manual_rollback(void **state)
{
    fixture *f = *state;
    char buf[32];
    json_t *j = NULL;
    skh_error err;
    two_production(f, "man");
    assert_int_equal(rollback(f, "man", NULL, &j, &err), SKH_OK);
    assert_string_equal(json_string_value(json_object_get(j, "variant")), "man@v2");
    assert_string_equal(json_string_value(json_object_get(j, "restored")), "man@v1");
    assert_string_equal(json_string_value(json_object_get(j, "to_state")), "staged");
    json_decref(j);
    assert_text(f,
                "SELECT trigger_reason || ' ' || trigger_metric || ' ' || restored_variant_id"
                " FROM rollback_events",
                NULL, "bad deploy manual man@v1");
    assert_text(f, "SELECT verdict || ' ' || kind FROM decisions", NULL, "rollback rollback");
    assert_int_equal(
        q_int(f, "SELECT COUNT(*) FROM learning_events WHERE event_type = 'rollback'", NULL), 1);

    /* man@v2 was rolled back: it is nobody's rollback target. */
    assert_int_equal(rollback(f, "man", NULL, NULL, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "no previous production variant to restore"));
    assert_string_equal(state_of(f, "man@v1", buf), "production");

    /* --to demotes anyway; then the newest staged serves. */
    assert_int_equal(rollback(f, "man", "prototype", &j, &err), SKH_OK);
    assert_true(json_is_null(json_object_get(j, "restored")));
    json_decref(j);
    assert_string_equal(state_of(f, "man@v1", buf), "prototype");
    assert_int_equal(rollback(f, "man", "staged", NULL, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "already staged"));
    assert_int_equal(rollback(f, "man", "prototype", NULL, &err), SKH_OK);
    assert_string_equal(state_of(f, "man@v2", buf), "prototype");
    assert_int_equal(rollback(f, "man", "prototype", NULL, &err), SKH_EFAILED);

    assert_int_equal(rollback(f, "nope", NULL, NULL, &err), SKH_ENOTFOUND);
    assert_int_equal(rollback(f, "man", "production", NULL, &err), SKH_EINVAL);
    assert_int_equal(skh_rollback(f->host, "man", "", NULL, NULL, &err), SKH_EINVAL);
    assert_int_equal(skh_rollback(f->host, "Bad Name", "x", NULL, NULL, &err), SKH_EINVAL);
}

/*
 * The target after a promotion is promotion_events.demoted_variant_id, and
 * a rollback's restored variant serves until a later promotion replaces it.
 */
static void test_target_after_promotions(void **state)
{
    fixture *f = *state;
    skh_free(add(f, "tgt", NULL, "production"));
    skh_free(add(f, "tgt", NULL, NULL));
    skh_ab_spec spec = {.struct_size = sizeof spec, .skill = "tgt", .treatment = "tgt@v2"};
    char *test_id = NULL, *target = NULL;
    skh_error err;
    assert_int_equal(skh_ab_start(f->host, &spec, &test_id, &err), SKH_OK);
    store_ab_verdict v = {.test_id = test_id,
                          .action = STORE_AB_PROMOTE,
                          .reason = "won",
                          .p = NAN,
                          .observed = "{}"};
    int applied = 0;
    assert_int_equal(store_ab_apply(f->host->st, &v, &applied, &err), SKH_OK);
    assert_int_equal(applied, 1);
    skh_free(test_id);
    assert_text(f, "SELECT demoted_variant_id FROM promotion_events", NULL, "tgt@v1");
    assert_int_equal(store_rb_target(f->host->st, "tgt", "tgt@v2", &target, &err), SKH_OK);
    assert_string_equal(target, "tgt@v1");
    free(target);

    /* A prototype that never served production is never a target. */
    skh_free(add(f, "tgt", NULL, "staged"));
    assert_int_equal(store_rb_target(f->host->st, "tgt", "tgt@v2", &target, &err), SKH_OK);
    assert_string_equal(target, "tgt@v1");
    free(target);

    assert_int_equal(rollback(f, "tgt", NULL, NULL, &err), SKH_OK);
    char buf[32];
    assert_string_equal(state_of(f, "tgt@v1", buf), "production");
    assert_int_equal(store_rb_target(f->host->st, "tgt", "tgt@v1", &target, &err), SKH_OK);
    assert_null(target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trigger_fidelity, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_trigger_outcome, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_trigger_critical_false_negative, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_trigger_false_positive_rate, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_trigger_exception_rate, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_trigger_mean_time, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_trigger_health_and_edited_threshold, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_window_is_live_and_since_production, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_skipped_requests_are_no_evidence, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_window_passes_over_skipped, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_suppressed_without_target, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once_across_processes, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_next_request_runs_restored, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_demote_staged, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_freeze, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_policy_error_fails_safe, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_breaker_success_resets, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_breaker, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_breaker_settings_from_policy, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_manual_rollback, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_target_after_promotions, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("rollback", tests, NULL, NULL);
}
