/*
 * The recording path, measured against its floor.
 *
 * recording path: skh_execute() of the C keyword_classifier through the
 * embedding API -- route, invoke, score with both built-in scorers, record
 * in one transaction -- on a host whose policies folder holds no
 * after-request policy, so nothing but the request itself runs.
 * floor: the same rows written with raw SQLite: the same seven statements
 * (executions, three metric tables, total_executions, the request's learning
 * event and total_requests) in one BEGIN IMMEDIATE transaction per
 * execution, on a database with the same schema, the same skill and variant
 * rows, and the same connection settings (synchronous, WAL, foreign keys:
 * the rows are checked against the same constraints).
 * full pipeline: the recording path plus the learning step with the
 * shipped policies (POLICIES_DIR): after each request rollback.lua judges
 * the variant's last 10 executions, as DESIGN §2 step 7 asks.
 *
 * All run in this process, alternating in rounds, so machine noise hits
 * them alike.  Prints executions per second and the ratios.
 *
 * A second measurement (`bench_record policy N POLICIES_DIR`) prices the
 * recovery loop: the same request -- a network error, one recovery
 * decision, a retry that succeeds -- with the decision made by
 * recovery.lua alone (copied into a folder of its own, so no other policy
 * runs) and by the built-in C twin (an empty policies folder), waits
 * skipped by an injected clock.
 *
 * A third (`bench_record isolation N`) prices process isolation: the
 * recording path's request with the .so in its warm worker against the same
 * request with the .so inline.
 *
 *   bench_record [N] [normal|full] [POLICIES_DIR]
 *   bench_record policy [N] POLICIES_DIR
 *   bench_record isolation [N]
 */
#include "config.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <skillhost/host.h>

#include "analytics/analytics.h"
#include "store.h"
#include "uuid.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_record: %s: %s\n", what, why);
    exit(1);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        die(sql, msg ? msg : "failed");
}

/* The statements store.c runs for one execution, with typical values bound. */
static const char *const raw_sql[] = {
    "INSERT INTO executions (execution_id, request_id, skill_id, variant_id, attempt, timestamp, "
    "input, output, steps, error_category, error_message, session_id, workflow_phase, "
    "user_query, tenant, evaluation) VALUES (?1, ?2, 'spam', 'spam@v1', 1, ?3, "
    "'{\"text\":\"free money now\"}', '{\"decision\":\"spam\",\"confidence\":0.6,\"hits\":2}', "
    "'[\"read_input\",\"tokenize\",\"classify\",\"decide\"]', NULL, NULL, NULL, NULL, NULL, "
    "NULL, 0)",
    "INSERT INTO fidelity_metrics (execution_id, skill_id, variant_id, pattern_fidelity, "
    "patterns_followed, patterns_missed, missed, failed_at_step, agent, timestamp) VALUES "
    "(?1, 'spam', 'spam@v1', 1.0, 4, 0, '[]', NULL, 'skillhost', ?3)",
    "INSERT INTO outcome_metrics (execution_id, skill_id, variant_id, decision, correct, "
    "confidence, reasoning, timestamp) VALUES (?1, 'spam', 'spam@v1', 'spam', NULL, 0.6, NULL, ?3)",
    "INSERT INTO performance_metrics (execution_id, skill_id, variant_id, execution_time_ms, "
    "duration_ms, exception, error_category, timestamp) VALUES (?1, 'spam', 'spam@v1', 0, "
    "0.05, 0, NULL, ?3)",
    "INSERT INTO telemetry_counters (counter_name, counter_value, last_updated) VALUES "
    "('total_executions', 1, ?3) ON CONFLICT(counter_name) DO UPDATE SET counter_value = "
    "counter_value + excluded.counter_value, last_updated = excluded.last_updated",
    /* The request's bookkeeping, written with its last (here: only) attempt. */
    "INSERT INTO learning_events (skill_name, event_type, description, variation_id,"
    " before_fidelity, after_fidelity, timestamp) VALUES ('spam', 'react_execution',"
    " '1 attempt, fidelity 1.00 -> 1.00, met the threshold', 'spam@v1', 1.0, 1.0, ?3)",
    "INSERT INTO telemetry_counters (counter_name, counter_value, last_updated) VALUES "
    "('total_requests', 1, ?3) ON CONFLICT(counter_name) DO UPDATE SET counter_value = "
    "counter_value + 1, last_updated = excluded.last_updated",
};
#define NRAW (sizeof raw_sql / sizeof *raw_sql)

/*
 * rollup non-NULL: the floor plus what the hourly rollups cost an execution
 * in the common case (reading the mark of the last folded hour; the fold
 * itself runs once an hour), so its price shows next to the floor.
 */
static double raw_round(sqlite3 *db, sqlite3_stmt **st, int n, sqlite3_stmt *rollup)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        char id[UUID_TEXT_LEN], req[UUID_TEXT_LEN], ts[32];
        uuid_v7(id);
        uuid_v7(req);
        store_timestamp(ts);
        exec_sql(db, "BEGIN IMMEDIATE");
        for (size_t k = 0; k < NRAW; k++) {
            sqlite3_bind_text(st[k], 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st[k], 2, req, -1, SQLITE_STATIC);
            sqlite3_bind_text(st[k], 3, ts, -1, SQLITE_STATIC);
            if (sqlite3_step(st[k]) != SQLITE_DONE)
                die("raw insert", sqlite3_errmsg(db));
            sqlite3_reset(st[k]);
        }
        if (rollup) {
            int rc;
            while ((rc = sqlite3_step(rollup)) == SQLITE_ROW)
                ;
            if (rc != SQLITE_DONE)
                die("rollup mark", sqlite3_errmsg(db));
            sqlite3_reset(rollup);
        }
        exec_sql(db, "COMMIT");
    }
    return now() - t0;
}

static double api_round(skh_host *host, int n)
{
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.react = 0;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        skh_result *r = NULL;
        skh_error err;
        if (skh_execute(host, "spam", "{\"text\":\"free money now\"}", &eo, &r, &err) != SKH_OK)
            die(err.what, err.message);
        skh_result_free(r);
    }
    return now() - t0;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!out)
        die(in ? to : from, "cannot open");
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            die(to, "write failed");
    if (ferror(in) || fclose(out) != 0)
        die(to, "copy failed");
    fclose(in);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double fake_now(void *ud)
{
    return *(double *)ud;
}

static void fake_sleep(void *ud, double ms)
{
    *(double *)ud += ms;
}

/*
 * A host with SKILL served in production by IMPL; policies NULL: the
 * environment's or the installed ones; clock_ms non-NULL: a fake clock.
 */
static skh_host *bench_host(const char *db, const char *policies, const char *skill,
                            const char *impl, double *clock_ms)
{
    skh_host *host = NULL;
    skh_error err;
    skh_host_options o = {
        .struct_size = sizeof o, .db_path = db, .policies_dir = policies, .create = 1};
    if (skh_host_open(&o, &host, &err))
        die(err.what, err.message);
    if (clock_ms) {
        skh_clock c = {
            .struct_size = sizeof c, .now_ms = fake_now, .sleep_ms = fake_sleep, .ud = clock_ms};
        skh_host_set_clock(host, &c);
    }
    skh_variant_spec spec = {
        .struct_size = sizeof spec, .skill = skill, .impl = impl, .state = "production"};
    char *vid = NULL;
    if (skh_variant_add(host, &spec, &vid, &err))
        die(err.what, err.message);
    skh_free(vid);
    return host;
}

static double policy_round(skh_host *host, int n)
{
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.react = 0;
    eo.timeout_ms = -1;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        skh_result *r = NULL;
        skh_error err;
        if (skh_execute(host, "flaky", "{\"error_by_attempt\":[\"network\",null]}", &eo, &r,
                        &err) != SKH_OK)
            die(err.what, err.message);
        if (skh_result_attempts(r) != 2)
            die("policy bench", "expected one retry per request");
        skh_result_free(r);
    }
    return now() - t0;
}

static int bench_policy(int n, const char *policies)
{
    char dir[] = "/tmp/skh-bench-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", "failed");
    char lua_db[PATH_MAX], c_db[PATH_MAX], empty[PATH_MAX];
    snprintf(lua_db, sizeof lua_db, "%s/lua.db", dir);
    snprintf(c_db, sizeof c_db, "%s/c.db", dir);
    snprintf(empty, sizeof empty, "%s/no-policies", dir);
    if (mkdir(empty, 0755) != 0)
        die(empty, "mkdir failed");
    /* dir is a short mkdtemp name, so only and dst have room; src names the caller's folder. */
    char only[PATH_MAX / 2], src[PATH_MAX], dst[PATH_MAX];
    snprintf(only, sizeof only, "%s/recovery-only", dir);
    if ((size_t)snprintf(src, sizeof src, "%s/recovery.lua", policies) >= sizeof src)
        die(policies, "path too long");
    snprintf(dst, sizeof dst, "%s/recovery.lua", only);
    if (mkdir(only, 0755) != 0)
        die(only, "mkdir failed");
    copy_file(src, dst);
    double clock_lua = 0, clock_c = 0;
    skh_host *lua = bench_host(lua_db, only, "flaky", "flaky.so", &clock_lua);
    skh_host *c = bench_host(c_db, empty, "flaky", "flaky.so", &clock_c);
    policy_round(lua, 20);
    policy_round(c, 20);
    int rounds = 5, per = n / rounds > 0 ? n / rounds : 1;
    double tl = 0, tc = 0;
    for (int r = 0; r < rounds; r++) {
        tc += policy_round(c, per);
        tl += policy_round(lua, per);
    }
    int total = per * rounds;
    printf("recovery loop (a network error, one decision, one retry; %d requests each):\n", total);
    printf("  policy in Lua (recovery.lua)    %9.1f us per request\n", 1e6 * tl / total);
    printf("  policy compiled in C (built-in) %9.1f us per request\n", 1e6 * tc / total);
    printf("  ratio Lua/C                     %9.2f\n", tl / tc);
    skh_host_close(lua);
    skh_host_close(c);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/*
 * Process isolation's price (DESIGN §3.4): the same request (the C
 * keyword_classifier, recorded, no after-request policy) on a host whose
 * .so runs in its warm worker and on one where it runs inline, alternating
 * in rounds; the median of the per-round ratios.
 */
static int bench_isolation(int n)
{
    char dir[] = "/tmp/skh-bench-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", "failed");
    char proc_db[PATH_MAX], inl_db[PATH_MAX], empty[PATH_MAX];
    snprintf(proc_db, sizeof proc_db, "%s/process.db", dir);
    snprintf(inl_db, sizeof inl_db, "%s/inline.db", dir);
    snprintf(empty, sizeof empty, "%s/no-policies", dir);
    if (mkdir(empty, 0755) != 0)
        die(empty, "mkdir failed");
    setenv("SKILLHOST_DURABILITY", "normal", 1);
    setenv("SKILLHOST_ISOLATION", "process", 1);
    skh_host *proc = bench_host(proc_db, empty, "spam", "keyword_classifier.so", NULL);
    setenv("SKILLHOST_ISOLATION", "inline", 1);
    skh_host *inl = bench_host(inl_db, empty, "spam", "keyword_classifier.so", NULL);
    unsetenv("SKILLHOST_ISOLATION");
    api_round(proc, 20); /* warm: the worker started, statements prepared */
    api_round(inl, 20);
    int per = 100, rounds = n / per > 0 ? n / per : 1;
    double tp = 0, ti = 0;
    double *ratio = calloc((size_t)rounds, sizeof *ratio);
    if (!ratio)
        die("bench", "out of memory");
    for (int r = 0; r < rounds; r++) {
        double a, b;
        if (r % 2) {
            a = api_round(proc, per);
            b = api_round(inl, per);
        } else {
            b = api_round(inl, per);
            a = api_round(proc, per);
        }
        tp += a;
        ti += b;
        ratio[r] = a / b;
    }
    int total = per * rounds;
    printf("process isolation (C keyword_classifier, recorded, %d requests each, %d rounds):\n",
           total, rounds);
    printf("  isolation = process (warm worker)     %9.1f us per request\n", 1e6 * tp / total);
    printf("  isolation = inline                    %9.1f us per request\n", 1e6 * ti / total);
    printf("  ratio process/inline, median of rounds %7.2f   (target <= 1.3)\n",
           median(ratio, rounds));
    printf("  ratio process/inline, all rounds       %7.2f\n", tp / ti);
    printf("  the worker's round trip costs         %9.1f us per request\n",
           1e6 * (tp - ti) / total);
    free(ratio);
    skh_host_close(proc);
    skh_host_close(inl);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "isolation") == 0)
        return bench_isolation(argc > 2 ? atoi(argv[2]) : 2000);
    if (argc > 1 && strcmp(argv[1], "policy") == 0)
        return bench_policy(argc > 2 ? atoi(argv[2]) : 2000, argc > 3 ? argv[3] : "policies");
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int full = argc > 2 && strcmp(argv[2], "full") == 0;
    const char *policies = argc > 3 ? argv[3] : "policies";
    int per = 100, rounds = n / per > 0 ? n / per : 1;
    char dir[] = "/tmp/skh-bench-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", "failed");
    char api_db[PATH_MAX], bare_db[PATH_MAX], raw_db[PATH_MAX], empty[PATH_MAX], probe[PATH_MAX];
    snprintf(api_db, sizeof api_db, "%s/api.db", dir);
    snprintf(bare_db, sizeof bare_db, "%s/bare.db", dir);
    snprintf(raw_db, sizeof raw_db, "%s/raw.db", dir);
    snprintf(empty, sizeof empty, "%s/no-policies", dir);
    snprintf(probe, sizeof probe, "%s/rollback.lua", policies);
    if (mkdir(empty, 0755) != 0)
        die(empty, "mkdir failed");
    /* A missing folder would quietly turn the full pipeline into the bare one. */
    if (access(probe, R_OK) != 0)
        die(probe, "not readable: pass the shipped policies folder");
    setenv("SKILLHOST_DURABILITY", full ? "full" : "normal", 1);
    /* The recording path's own cost: the .so inline; isolation's price is its own line. */
    setenv("SKILLHOST_ISOLATION", "inline", 1);

    /* The recording path: no policy files, so no after-request checks. */
    skh_host *bare = bench_host(bare_db, empty, "spam", "keyword_classifier.so", NULL);
    /* The full pipeline: the shipped policies, rollback.lua after every request. */
    skh_host *host = bench_host(api_db, policies, "spam", "keyword_classifier.so", NULL);
    /* The floor's database: the same schema, skill and variant, through a host; then raw. */
    skh_host_close(bench_host(raw_db, empty, "spam", "keyword_classifier.so", NULL));

    sqlite3 *db;
    if (sqlite3_open(raw_db, &db) != SQLITE_OK)
        die(raw_db, "cannot open");
    exec_sql(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec_sql(db, "PRAGMA journal_mode=WAL");
    exec_sql(db, "PRAGMA foreign_keys=ON");
    sqlite3_stmt *stmts[NRAW];
    for (size_t k = 0; k < NRAW; k++)
        if (sqlite3_prepare_v2(db, raw_sql[k], -1, &stmts[k], NULL) != SQLITE_OK)
            die(raw_sql[k], sqlite3_errmsg(db));

    api_round(bare, 20); /* warm: plugin loaded, statements prepared */
    api_round(host, 20);
    sqlite3_stmt *rollup = NULL;
    if (sqlite3_prepare_v2(db, "SELECT closed_through FROM rollup_state WHERE id = 1", -1, &rollup,
                           NULL) != SQLITE_OK)
        die("rollup mark", sqlite3_errmsg(db));
    raw_round(db, stmts, 20, NULL);
    raw_round(db, stmts, 20, rollup);
    /*
     * Many short rounds, each contender once per round in a rotating order,
     * and the median of the per-round ratios next to the overall one: a
     * checkpoint's fsync or another tenant's burst lands in a round or two
     * and moves the median little.
     */
    double api = 0, api_bare = 0, raw = 0, raw_rollup = 0;
    double *rr = calloc((size_t)rounds, sizeof *rr), *rf = calloc((size_t)rounds, sizeof *rf);
    double *ru = calloc((size_t)rounds, sizeof *ru);
    if (!rr || !rf || !ru)
        die("bench", "out of memory");
    for (int r = 0; r < rounds; r++) {
        double t[4] = {0, 0, 0, 0};
        for (int k = 0; k < 4; k++) {
            int who = (r + k) % 4;
            t[who] = who == 0   ? raw_round(db, stmts, per, NULL)
                     : who == 1 ? api_round(bare, per)
                     : who == 2 ? api_round(host, per)
                                : raw_round(db, stmts, per, rollup);
        }
        raw += t[0];
        api_bare += t[1];
        api += t[2];
        raw_rollup += t[3];
        rr[r] = t[0] / t[1];
        rf[r] = t[0] / t[2];
        ru[r] = t[3] / t[0];
    }
    int total = per * rounds;
    printf("recording path (%s durability, %d executions each, %d rounds):\n",
           full ? "full" : "normal", total, rounds);
    printf("  skillhost: route, run, score, record %9.0f exec/s  (%.1f us each)\n",
           total / api_bare, 1e6 * api_bare / total);
    printf("  raw SQLite, same rows                %9.0f exec/s  (%.1f us each)\n", total / raw,
           1e6 * raw / total);
    printf("  ratio skillhost/raw, median of rounds %8.2f   (target >= 0.85)\n",
           median(rr, rounds));
    printf("  ratio skillhost/raw, all rounds       %8.2f\n", raw / api_bare);
    printf("hourly rollups (issue 12): the floor with and without their per-execution part:\n");
    printf("  raw SQLite + rollup mark read           %9.0f exec/s  (%.1f us each)\n",
           total / raw_rollup, 1e6 * raw_rollup / total);
    printf("  cost of the rollup, median of rounds  %+7.1f%%  (target <= +5%%)\n",
           100.0 * (median(ru, rounds) - 1.0));
    printf("  cost of the rollup, all rounds        %+7.1f%%\n", 100.0 * (raw_rollup / raw - 1.0));
    printf("full pipeline, + rollback.lua over the last 10 after every request:\n");
    printf("  skillhost, shipped policies          %9.0f exec/s  (%.1f us each)\n", total / api,
           1e6 * api / total);
    printf("  ratio to raw, median of rounds        %8.2f\n", median(rf, rounds));
    printf("  ratio to raw, all rounds              %8.2f\n", raw / api);
    printf("  the learning step costs              %9.1f us per request\n",
           1e6 * (api - api_bare) / total);

    free(rr);
    free(rf);
    free(ru);
    sqlite3_finalize(rollup);
    for (size_t k = 0; k < NRAW; k++)
        sqlite3_finalize(stmts[k]);
    sqlite3_close(db);
    skh_host_close(host);
    skh_host_close(bare);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
