/*
 * skillhost demo: the whole story on a throw-away database, through the
 * same embedding API a user's program would call.
 *
 *   1. a skill as a C and a Lua variant, evaluated on benchmark cases
 *   2. human sign-off and the promotion gates: prototype -> staged -> production
 *   3. an A/B test won by a better variant, promoted automatically
 *   4. a regression pushed to production, rolled back automatically
 *   5. the telemetry dashboard
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *const messages[][2] = {
    {"Click here to claim your free prize money", "spam"},
    {"Are we still on for lunch tomorrow?", "ham"},
    {"Cheap offer: buy now, winner takes all", "spam"},
    {"The build is green again, thanks for the fix", "ham"},
    {"Free money! Click to claim the offer", "spam"},
    {"Minutes from the planning meeting are attached", "ham"},
};
#define NMESSAGES (sizeof messages / sizeof *messages)

typedef struct demo {
    cli *c;
    char dir[64];
    json_t *report; /* what --json prints */
    int failed;
} demo;

/* Text mode narrates; --json stays silent until the report. */
static void say(const demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const demo *d, const char *fmt, ...)
{
    if (d->c->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static int check(demo *d, int rc, const skh_error *err)
{
    if (rc != SKH_OK && !d->failed) {
        d->failed = 1;
        cli_error(d->c, err);
    }
    return rc == SKH_OK;
}

/* Parse what an API call returned as JSON text; takes ownership of text. */
static json_t *parsed(char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    skh_free(text);
    return j;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static double num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* ---- steps ----------------------------------------------------------------- */

static char *add(demo *d, const char *skill, const char *impl, const char *content,
                 const char *state)
{
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = skill,
                             .impl = impl,
                             .content = content,
                             .state = state};
    char *id = NULL;
    skh_error err;
    if (!check(d, skh_variant_add(d->c->host, &spec, &id, &err), &err))
        return NULL;
    return id;
}

/* Run one request; returns 1 when it met the threshold. */
static int run(demo *d, const char *skill, const char *variant, const char *input, const char *key,
               char *served, size_t served_len, char *decision, size_t decision_len)
{
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.variant = variant;
    eo.key = key;
    eo.session_id = "demo";
    skh_result *r = NULL;
    skh_error err;
    int rc = skh_execute(d->c->host, skill, input, &eo, &r, &err);
    if (rc != SKH_OK && rc != SKH_EFAILED)
        check(d, rc, &err);
    int met = 0;
    if (r) {
        char *json = NULL;
        if (skh_result_json(r, &json) == SKH_OK) {
            json_t *j = parsed(json);
            met = json_is_true(json_object_get(j, "met_threshold"));
            json_decref(j);
        }
        if (served)
            snprintf(served, served_len, "%s", skh_result_variant(r));
        if (decision) {
            json_t *out = skh_result_output(r) ? json_loads(skh_result_output(r), 0, NULL) : NULL;
            snprintf(decision, decision_len, "%s", str(out, "decision"));
            json_decref(out);
        }
        skh_result_free(r);
    }
    return met;
}

static char *labelled(size_t i)
{
    json_t *in = json_pack("{s:s, s:s}", "text", messages[i % NMESSAGES][0], "label",
                           messages[i % NMESSAGES][1]);
    char *text = in ? json_dumps(in, JSON_COMPACT) : NULL;
    json_decref(in);
    return text;
}

static void traffic(demo *d, const char *skill, const char *variant, int n)
{
    for (int i = 0; i < n && !d->failed; i++) {
        char *input = labelled((size_t)i);
        run(d, skill, variant, input, NULL, NULL, 0, NULL, 0);
        free(input);
    }
}

/* The cases file ships beside the plugins (build tree) or in the examples folder (installed). */
static int find_cases(char *path, size_t len)
{
    const char *pp = getenv("SKILLHOST_PLUGIN_PATH");
    for (const char *s = pp ? pp : ""; *s;) {
        size_t n = strcspn(s, ":");
        snprintf(path, len, "%.*s/keyword_cases.jsonl", (int)n, s);
        if (access(path, R_OK) == 0)
            return 1;
        s += n + (s[n] == ':');
    }
    snprintf(path, len, "%s/keyword_cases.jsonl", SKH_EXAMPLEDIR);
    return access(path, R_OK) == 0;
}

static void approve(demo *d, const char *variant, const char *path, const char *const *items,
                    size_t nitems, const char *approver, const char *ticket)
{
    skh_approval a = {.struct_size = sizeof a,
                      .variant = variant,
                      .path = path,
                      .approver = approver,
                      .ticket = ticket,
                      .checks = items,
                      .nchecks = nitems,
                      .notes = "demo sign-off"};
    char *id = NULL;
    skh_error err;
    if (check(d, skh_approve(d->c->host, &a, &id, &err), &err))
        say(d, "   %s signs off %s for %s (ticket %s)\n", approver, variant, path, ticket);
    skh_free(id);
}

/* Promote, printing each failed check when the gate says no. */
static int promote(demo *d, const char *variant, const char *to)
{
    char *text = NULL;
    skh_error err;
    int rc = skh_promote(d->c->host, variant, to, &text, &err);
    json_t *j = parsed(text);
    if (rc == SKH_OK) {
        say(d, "   promote %s --to %s: ready, done\n", variant, to);
    } else if (rc == SKH_EFAILED && j) {
        size_t i;
        json_t *chk;
        say(d, "   promote %s --to %s: not ready\n", variant, to);
        json_array_foreach(json_object_get(j, "checks"), i, chk)
        {
            if (strcmp(str(chk, "status"), "pass") != 0)
                say(d, "     %-4s %s: %s\n",
                    strcmp(str(chk, "status"), "fail") == 0 ? "FAIL" : "WAIT", str(chk, "name"),
                    str(chk, "detail"));
        }
    } else {
        check(d, rc, &err);
    }
    json_decref(j);
    return rc == SKH_OK;
}

static void part_gates(demo *d, const char *c_variant, const char *lua_variant)
{
    char cases[PATH_MAX];
    skh_error err;
    say(d, "\n2. Evaluate %s on the bundled benchmark cases.\n", c_variant);
    if (!find_cases(cases, sizeof cases)) {
        say(d, "   (keyword_cases.jsonl not found; set SKILLHOST_PLUGIN_PATH)\n");
        d->failed = 1;
        return;
    }
    char *text = NULL;
    if (!check(d, skh_evaluate(d->c->host, "spam_filter", c_variant, cases, &text, &err), &err))
        return;
    json_t *ev = parsed(text);
    say(d,
        "   %lld cases: fidelity %.2f, outcome %.2f, false-positive rate %.2f, "
        "critical false negatives %lld\n",
        (long long)json_integer_value(json_object_get(ev, "run")), num(ev, "fidelity"),
        num(ev, "outcome"), num(ev, "false_positive_rate"),
        (long long)json_integer_value(json_object_get(ev, "critical_false_negatives")));
    json_object_set_new(d->report, "evaluation", ev);

    say(d, "\n3. prototype -> staged: the gate wants a recorded sign-off first.\n");
    promote(d, c_variant, "staged");
    static const char *const staged_items[] = {
        "wsp_50_no_duplication=yes:checked the skill registry",
        "test_coverage_complete=yes:12 benchmark cases",
        "instruction_clarity_approved=yes",
        "dependencies_validated=yes:libc and jansson only",
        "security_reviewed=yes:no network access",
        "pattern_completeness=yes",
        "performance_review=yes"};
    approve(d, c_variant, "prototype->staged", staged_items,
            sizeof staged_items / sizeof *staged_items, "alice", "OPS-101");
    if (!promote(d, c_variant, "staged"))
        return;

    say(d, "\n4. staged -> production needs 100 live executions in each metric table.\n");
    traffic(d, "spam_filter", NULL, 40);
    static const char *const prod_items[] = {
        "production_readiness=yes",  "integration_approved=yes:mail gateway",
        "monitoring_configured=yes", "rollback_tested=yes:automatic rollback drill",
        "documentation_updated=yes", "capacity_planning=yes"};
    approve(d, c_variant, "staged->production", prod_items, sizeof prod_items / sizeof *prod_items,
            "bob", "OPS-102");
    say(d, "   after 40 requests:\n");
    promote(d, c_variant, "production");
    traffic(d, "spam_filter", NULL, 60);
    say(d, "   after 100 requests:\n");
    promote(d, c_variant, "production");

    say(d, "\n   The Lua twin decides identically:\n");
    for (size_t i = 0; i < 3 && !d->failed; i++) {
        char *input = labelled(i);
        char served[64], decision[32];
        run(d, "spam_filter", lua_variant, input, NULL, served, sizeof served, decision,
            sizeof decision);
        say(d, "   %s: %-44s -> %s\n", served, messages[i][0], decision);
        free(input);
    }
}

static void part_ab(demo *d)
{
    skh_error err;
    say(d, "\n5. A/B test.  triage@v1 serves production and follows 85%% of its expected\n"
           "   steps; a candidate, triage@v2, follows 95%%.  Each request is one trial\n"
           "   (success = fidelity >= 0.90); ab.lua decides after every trial, with an\n"
           "   always-valid sequential test so looking that often is safe.\n");
    char *v1 = add(d, "triage", "flaky.so", "{\"fidelity\": 0.85}", "production");
    char *v2 = add(d, "triage", "flaky.so", "{\"fidelity\": 0.95}", NULL);
    skh_ab_spec spec = {.struct_size = sizeof spec, .skill = "triage", .treatment = v2};
    char *test = NULL;
    if (v1 && v2 && check(d, skh_ab_start(d->c->host, &spec, &test, &err), &err)) {
        int n = 0;
        char *status_text = NULL;
        json_t *st = NULL;
        for (; n < 400 && !d->failed; n++) {
            char key[32];
            snprintf(key, sizeof key, "user-%d", n);
            run(d, "triage", NULL, "{\"ticket\": \"printer on fire\"}", key, NULL, 0, NULL, 0);
            if (!check(d, skh_ab_status(d->c->host, "triage", &status_text, &err), &err))
                break;
            json_decref(st);
            st = parsed(status_text);
            if (strcmp(str(st, "status"), "running") != 0)
                break;
        }
        json_t *ctl = json_object_get(st, "control"), *trt = json_object_get(st, "treatment");
        say(d, "   after %d requests: control %lld/%lld, treatment %lld/%lld -> %s\n", n + 1,
            (long long)json_integer_value(json_object_get(ctl, "successes")),
            (long long)json_integer_value(json_object_get(ctl, "trials")),
            (long long)json_integer_value(json_object_get(trt, "successes")),
            (long long)json_integer_value(json_object_get(trt, "trials")), str(st, "status"));
        json_object_set_new(d->report, "ab", st);
    }
    skh_free(test);
    skh_free(v1);
    skh_free(v2);
}

static void part_rollback(demo *d)
{
    say(d, "\n6. A hotfix goes straight to production and regresses: triage@v3 follows\n"
           "   half its steps.  rollback.lua watches the last 10 executions.\n");
    char *v3 = add(d, "triage", "flaky.so", "{\"fidelity\": 0.5}", "production");
    char served[64] = "";
    int n = 0;
    for (; n < 30 && !d->failed; n++) {
        run(d, "triage", NULL, "{\"ticket\": \"vpn down\"}", NULL, served, sizeof served, NULL, 0);
        if (v3 && strcmp(served, v3) != 0)
            break;
    }
    say(d, "   request %d was served by %s: rolled back automatically\n", n + 1, served);
    char *text = NULL;
    skh_error err;
    if (check(d, skh_status(d->c->host, "triage", NULL, NULL, &text, &err), &err)) {
        json_t *st = parsed(text);
        json_object_set_new(d->report, "triage_status", st);
    }
    skh_free(v3);
}

static void part_telemetry(demo *d)
{
    char *text = NULL;
    skh_error err;
    if (!check(d, skh_telemetry(d->c->host, &text, &err), &err))
        return;
    json_t *t = parsed(text);
    say(d,
        "\n7. Telemetry: %lld executions for %lld requests, %lld needed a retry; "
        "variation win rate %.2f.\n",
        (long long)json_integer_value(json_object_get(t, "total_executions")),
        (long long)json_integer_value(json_object_get(t, "total_requests")),
        (long long)json_integer_value(json_object_get(t, "retry_count")),
        num(t, "variation_win_rate"));
    json_object_set_new(d->report, "telemetry", t);
}

static void remove_tree(const char *dir)
{
    /* Only files the demo made: the database, its WAL, the audit log, the registry. */
    static const char *const files[] = {"skillhost.db", "skillhost.db-wal", "skillhost.db-shm",
                                        "audit.jsonl",  "CHANGELOG.md",     "registry.json"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int cmd_demo(cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("demo"));
    if (argc > 1)
        return cli_usage(c, "demo", "unexpected argument '%s'", argv[1]);

    demo d = {.c = c};
    snprintf(d.dir, sizeof d.dir, "/tmp/skillhost-demo-XXXXXX");
    if (!mkdtemp(d.dir)) {
        perror("skillhost: demo: mkdtemp");
        return 4;
    }
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/skillhost.db", d.dir);
    c->db = db;
    d.report = json_object();
    int rc = cli_open(c, 1);
    if (rc) {
        remove_tree(d.dir);
        json_decref(d.report);
        return rc;
    }
    say(&d,
        "skillhost demo on a throw-away database: %s\n\n"
        "1. Register spam_filter twice: the keyword classifier in C and in Lua.\n",
        db);
    char *c_variant = add(&d, "spam_filter", "keyword_classifier.so", NULL, NULL);
    char *lua_variant = add(&d, "spam_filter", "keyword_classifier.lua", NULL, NULL);
    if (c_variant && lua_variant) {
        say(&d,
            "   %s  keyword_classifier.so   (prototype)\n"
            "   %s  keyword_classifier.lua  (prototype)\n",
            c_variant, lua_variant);
        part_gates(&d, c_variant, lua_variant);
    }
    if (!d.failed)
        part_ab(&d);
    if (!d.failed)
        part_rollback(&d);
    if (!d.failed)
        part_telemetry(&d);
    if (!d.failed && c->json)
        cli_print_json(json_pack("{s:s, s:O}", "db", db, "demo", d.report));
    else if (!d.failed)
        say(&d,
            "\nEvery step above is in the database: skillhost --db %s status triage\n"
            "(this demo removes it now).  Try it yourself:\n"
            "  skillhost init\n"
            "  skillhost skill add spam --impl keyword_classifier.so\n"
            "  skillhost run spam --input '{\"text\": \"free money\"}'\n",
            db);
    skh_free(c_variant);
    skh_free(lua_variant);
    json_decref(d.report);
    skh_host_close(c->host);
    c->host = NULL;
    remove_tree(d.dir);
    return d.failed ? 1 : 0;
}
