/*
 * skillhost demo: the whole story on a throw-away database, through the
 * same embedding API a user's program would call.
 *
 *   1. a skill as a C and a Lua variant, with an evolver
 *   2. the C variant evaluated on benchmark cases
 *   3-4. human sign-off and the promotion gates: prototype -> staged -> production
 *   5. labelled traffic the production variant gets wrong; the evolver proposes
 *      a variant from those executions, it enters an A/B test, wins it on the
 *      same traffic and is promoted by ab.lua
 *   6. a regression pushed to production, rolled back automatically
 *   7. a retry that recovers: a low-fidelity attempt retried by ReAct, a
 *      network error retried by recovery.lua, each second attempt meeting the bar
 *   8. the telemetry dashboard
 *
 * Text mode narrates; --json prints one report; --keep leaves the database
 * (in $TMPDIR, else /tmp) for a look afterwards.
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
    char dir[PATH_MAX];
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
                 const char *state, const char *evolver)
{
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = skill,
                             .impl = impl,
                             .content = content,
                             .state = state,
                             .evolver = evolver};
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

/* ---- 5. evolution ------------------------------------------------------------ */

/*
 * Step 5's new mail: a spam wave whose words spam_filter@v1 does not list,
 * and a ham that names one listed word, so the evolved variant is not better
 * on every message and the A/B test has to weigh the trade.
 */
static const char *const wave[][2] = {
    {"Your crypto wallet is locked: verify your account today", "spam"},
    {"Feel free to call me after the meeting", "ham"},
    {"Double your crypto in a week, guaranteed returns", "spam"},
    {"Urgent: verify your wallet or lose your savings", "spam"},
};

/* Step 5's mail cycles through these: steps 2-4's six messages with the wave in between. */
static const char *const *const mail[] = {messages[0], wave[0], messages[1], messages[2], wave[1],
                                          messages[3], wave[2], messages[4], messages[5], wave[3]};
#define NMAIL (sizeof mail / sizeof *mail)
#define EVIDENCE 30      /* requests spam_filter@v1 serves before the evolver is asked */
#define MAX_AB_MAIL 2000 /* the A/B test gets at most this many */
#define EVOLVER "keyword_evolver.lua"
_Static_assert(EVIDENCE >= NMAIL, "step 5 records every message's first decision as evidence");

/*
 * Send the n-th message of step 5 (mail[n % NMAIL]) from its own sender, the
 * routing key; returns 1 when the decision matches the label (the outcome
 * scorer's rule).  served and decision, when not NULL, get what happened.
 */
static int send_mail(demo *d, int n, char *served, size_t served_len, char *decision,
                     size_t decision_len)
{
    const char *const *m = mail[(size_t)n % NMAIL];
    json_t *in = json_pack("{s:s, s:s}", "text", m[0], "label", m[1]);
    char *input = in ? json_dumps(in, JSON_COMPACT) : NULL;
    json_decref(in);
    if (!input) {
        const skh_error err = {.code = SKH_ENOMEM, .what = "demo", .message = "out of memory"};
        check(d, SKH_ENOMEM, &err);
        return 0;
    }
    char key[32], got[32] = "";
    snprintf(key, sizeof key, "sender-%d", n);
    run(d, "spam_filter", NULL, input, key, served, served_len, got, sizeof got);
    free(input);
    if (decision)
        snprintf(decision, decision_len, "%s", got);
    return strcmp(got, m[1]) == 0;
}

/* The member key of the variant id in a status or skill show answer, or NULL. */
static json_t *variant_member(json_t *answer, const char *id, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(answer, "variants"), i, v)
    {
        if (strcmp(str(v, "id"), id) == 0)
            return json_object_get(v, key);
    }
    return NULL;
}

/* skh_status (full) or skh_skill_show of spam_filter, parsed; NULL on failure. */
static json_t *skill_answer(demo *d, int full)
{
    char *text = NULL;
    skh_error err;
    int rc = full ? skh_status(d->c->host, "spam_filter", NULL, NULL, &text, &err)
                  : skh_skill_show(d->c->host, "spam_filter", &text, &err);
    return check(d, rc, &err) ? parsed(text) : NULL;
}

/* Did rollback.lua want spam_filter@v1 back down, with nothing to restore? */
static int rollback_suppressed(json_t *status)
{
    size_t i;
    json_t *dec;
    json_array_foreach(json_object_get(status, "decisions"), i, dec)
    {
        if (strcmp(str(dec, "kind"), "rollback") == 0 &&
            strcmp(str(dec, "verdict"), "suppressed") == 0)
            return 1;
    }
    return 0;
}

/* Mail from message first on, until ab.lua ends the test; returns how many were sent. */
static int ab_traffic(demo *d, int first, json_t **status)
{
    int n = 0;
    while (n < MAX_AB_MAIL && !d->failed) {
        char *text = NULL;
        skh_error err;
        send_mail(d, first + n++, NULL, 0, NULL, 0);
        if (!check(d, skh_ab_status(d->c->host, "spam_filter", &text, &err), &err))
            break;
        json_decref(*status);
        *status = parsed(text);
        if (strcmp(str(*status, "status"), "running") != 0)
            break;
    }
    return n;
}

static void say_arm(const demo *d, const char *name, json_t *arm)
{
    say(d, "   %-9s %-15s %3lld of %3lld trials succeeded (%.2f)\n", name, str(arm, "variant"),
        (long long)json_integer_value(json_object_get(arm, "successes")),
        (long long)json_integer_value(json_object_get(arm, "trials")), num(arm, "rate"));
}

/* After the verdict: the cycle once more, beside what the serving variant decided before. */
static void before_after(demo *d, json_t *ev, char before[][16], int first)
{
    json_t *rows = json_array();
    say(d,
        "\n   One cycle of the mail again, beside what %s decided before:\n"
        "   %-56s %-5s %-5s %s\n",
        str(ev, "serving_before"), "", "label", "was", "now");
    for (int i = 0; i < (int)NMAIL && !d->failed; i++) {
        char served[64] = "", after[32] = "";
        const char *const *m = mail[(size_t)(first + i) % NMAIL];
        send_mail(d, first + i, served, sizeof served, after, sizeof after);
        say(d, "   %-56s %-5s %-5s %s%s\n", m[0], m[1], before[(size_t)(first + i) % NMAIL], after,
            strcmp(after, m[1]) == 0 ? "" : "  (wrong)");
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "text", m[0], "label",
                                              m[1], "before", before[(size_t)(first + i) % NMAIL],
                                              "after", after, "served_by", served));
    }
    json_object_set_new(ev, "mail", rows);
}

static void part_evolve(demo *d, const char *serving)
{
    json_t *ev = json_object();
    char before[NMAIL][16];
    int right = 0;
    json_object_set_new(d->report, "evolution", ev);
    json_object_set_new(ev, "skill", json_string("spam_filter"));
    json_object_set_new(ev, "evolver", json_string(EVOLVER));
    json_object_set_new(ev, "serving_before", json_string(serving));

    say(d,
        "\n5. Evolution.  A spam wave arrives whose words %s does not list.\n"
        "   The mail cycles through ten labelled messages: steps 2-4's six, three of the\n"
        "   wave, and a ham that names one listed word.  Each comes from its own sender,\n"
        "   the routing key.\n",
        serving);
    for (int n = 0; n < EVIDENCE && !d->failed; n++)
        right += send_mail(d, n, NULL, 0, (size_t)n < NMAIL ? before[n] : NULL, sizeof *before);
    json_t *st = d->failed ? NULL : skill_answer(d, 1);
    if (!st)
        return;
    say(d, "   %d messages: %s decides %d right and calls %d spam ham.\n", EVIDENCE, serving, right,
        EVIDENCE - right);
    if (rollback_suppressed(st))
        say(d, "   rollback.lua flags its outcome, under 0.80 (the suppressed rollbacks on\n"
               "   stderr), but there is no earlier production variant to return to.\n");
    json_decref(st);
    json_object_set_new(ev, "evidence",
                        json_pack("{s:i, s:i}", "requests", EVIDENCE, "right", right));

    char *variant = NULL, *test = NULL;
    skh_error err;
    if (!check(d, skh_evolve(d->c->host, "spam_filter", NULL, &variant, &test, &err), &err))
        return;
    json_t *show = skill_answer(d, 0);
    st = show ? skill_answer(d, 1) : NULL;
    const char *why = json_string_value(variant_member(show, variant, "description"));
    const char *parent = json_string_value(variant_member(st, variant, "parent"));
    say(d,
        "\n   keyword_evolver.lua, spam_filter's evolver, reads %s's recent\n"
        "   executions and proposes %s (parent %s):\n"
        "     \"%s\"\n"
        "   The host registers it and starts A/B test %s\n"
        "   against %s: half the senders get %s.  A trial (one request)\n"
        "   succeeds when it follows the expected steps (fidelity >= 0.90) and, its\n"
        "   message being labelled, decides it right.  ab.lua looks after every trial.\n",
        serving, variant, parent ? parent : "-", why ? why : "-", test, serving, variant);
    json_object_set_new(ev, "variant", json_string(variant));
    json_object_set_new(ev, "parent", parent ? json_string(parent) : json_null());
    json_object_set_new(ev, "description", why ? json_string(why) : json_null());
    json_object_set_new(ev, "test_id", json_string(test));
    json_decref(show);
    json_decref(st);
    skh_free(variant);
    skh_free(test);

    json_t *ab = NULL;
    int n = d->failed ? 0 : ab_traffic(d, EVIDENCE, &ab);
    if (d->failed || !ab) {
        json_decref(ab);
        return;
    }
    json_t *ctl = json_object_get(ab, "control"), *trt = json_object_get(ab, "treatment");
    say(d, "   after %d more requests:\n", n);
    say_arm(d, "control", ctl);
    say_arm(d, "treatment", trt);
    /* A running test has no verdict yet: what ab.lua answers now says why. */
    const char *status = str(ab, "status");
    int running = strcmp(status, "running") == 0;
    const char *reason = str(running ? json_object_get(ab, "policy_now") : ab, "reason");
    say(d, "   -> %s: %s\n", running ? "no verdict" : status, reason);
    json_object_set_new(ev, "requests_to_decision", running ? json_null() : json_integer(n));
    json_object_set_new(ev, "trials_to_decision",
                        running ? json_null()
                                : json_integer(json_integer_value(json_object_get(ctl, "trials")) +
                                               json_integer_value(json_object_get(trt, "trials"))));
    json_object_set_new(ev, "status", json_string(status));
    json_object_set_new(ev, "reason", json_string(reason));
    json_object_set_new(d->report, "ab", ab);

    if (!(st = skill_answer(d, 1)))
        return;
    const char *now = str(st, "serving");
    const char *was = json_string_value(variant_member(st, serving, "state"));
    json_object_set_new(ev, "serving_after", json_string(now));
    if (strcmp(now, serving) != 0)
        say(d, "   %s serves production now; %s is %s, kept to roll back to.\n", now, serving,
            was ? was : "-");
    else
        say(d, "   %s still serves.\n", serving);
    json_decref(st);
    if (strcmp(status, "promoted") != 0)
        return;
    /* Fresh senders from the start of a cycle, so the table reads in the cycle's order. */
    int next = EVIDENCE + n;
    before_after(d, ev, before, next + (int)((NMAIL - (size_t)next % NMAIL) % NMAIL));
}

static void part_rollback(demo *d)
{
    say(d, "\n6. Another skill, triage: triage@v1 serves production and follows 95%% of\n"
           "   its expected steps.  A hotfix goes straight to production and regresses:\n"
           "   triage@v2 follows half its steps.  rollback.lua watches the last 10\n"
           "   executions.\n");
    char *v1 = add(d, "triage", "flaky.so", "{\"fidelity\": 0.95}", "production", NULL);
    char *v2 = v1 ? add(d, "triage", "flaky.so", "{\"fidelity\": 0.5}", "production", NULL) : NULL;
    char served[64] = "";
    int n = 0;
    for (; v2 && n < 30 && !d->failed; n++) {
        run(d, "triage", NULL, "{\"ticket\": \"vpn down\"}", NULL, served, sizeof served, NULL, 0);
        if (strcmp(served, v2) != 0)
            break;
    }
    say(d, "   request %d was served by %s: rolled back automatically\n", n + 1, served);
    char *text = NULL;
    skh_error err;
    if (check(d, skh_status(d->c->host, "triage", NULL, NULL, &text, &err), &err)) {
        json_t *st = parsed(text);
        json_object_set_new(d->report, "triage_status", st);
    }
    skh_free(v1);
    skh_free(v2);
}

/* ---- 7. a retry that recovers ------------------------------------------------ */

/* Step 7's requests: flaky.so does what its input says, attempt by attempt. */
static const char *const recoveries[] = {
    "{\"order\": \"A-1001\", \"fidelity_by_attempt\": [0.5, 1.0]}",
    "{\"order\": \"A-1002\", \"error_by_attempt\": [\"network\", null]}",
};

/* One request's attempts on a line: "attempt 1: fidelity 0.50 -> attempt 2: ...". */
static void say_attempts(const demo *d, json_t *res)
{
    size_t i;
    json_t *a;
    say(d, "     ");
    json_array_foreach(json_object_get(res, "per_attempt"), i, a)
    {
        json_t *error = json_object_get(a, "error");
        say(d, "%sattempt %lld: ", i ? " -> " : "",
            (long long)json_integer_value(json_object_get(a, "attempt")));
        if (json_is_object(error))
            say(d, "%s error", str(error, "category"));
        else
            say(d, "fidelity %.2f", num(a, "fidelity"));
    }
    say(d, ", %s the threshold (%.2f)\n",
        json_is_true(json_object_get(res, "met_threshold")) ? "met" : "below",
        num(res, "threshold"));
}

/* Why the attempt after a failed or weak one ran: ReAct's feedback, or recovery.lua's rule. */
static void say_why(const demo *d, json_t *res)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(res, "per_attempt"), i, a)
    {
        json_t *rec = json_object_get(a, "recovery");
        if (json_is_object(rec) && strcmp(str(rec, "action"), "retry") == 0)
            say(d, "     recovery.lua: \"%s\", after a %.0f ms wait (full jitter under %.0f ms)\n",
                str(rec, "reason"), num(rec, "wait_ms"), num(rec, "delay_ms"));
    }
    json_t *prev = json_object_get(json_object_get(json_object_get(res, "output"), "echo"),
                                   "_previous_attempt");
    if (json_is_object(prev) && !json_is_object(json_object_get(prev, "error")))
        say(d,
            "     the retry's input carried _previous_attempt, whose feedback reads\n"
            "       \"%s\"\n",
            str(prev, "feedback"));
}

static void part_retry(demo *d)
{
    say(d, "\n7. A retry that recovers.  order_lookup (flaky.so again) is asked twice, and each\n"
           "   input says how its attempts go.  ReAct runs an attempt again when it follows\n"
           "   too few of its steps, recovery.lua when it fails with an error it can retry.\n");
    char *variant = add(d, "order_lookup", "flaky.so", NULL, NULL, NULL);
    if (!variant)
        return;
    json_t *rows = json_array();
    for (size_t i = 0; i < sizeof recoveries / sizeof *recoveries && !d->failed; i++) {
        skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
        eo.session_id = "demo";
        skh_result *r = NULL;
        skh_error err;
        char *text = NULL;
        /* SKH_EFAILED too ends the story: both requests are meant to recover. */
        int rc = skh_execute(d->c->host, "order_lookup", recoveries[i], &eo, &r, &err);
        if (rc == SKH_OK && skh_result_json(r, &text) != SKH_OK) {
            rc = SKH_ENOMEM;
            err = (skh_error){.code = SKH_ENOMEM, .what = "demo", .message = "out of memory"};
        }
        skh_result_free(r);
        if (!check(d, rc, &err))
            break;
        json_t *res = parsed(text);
        say(d, "   input %s\n", recoveries[i]);
        say_attempts(d, res);
        say_why(d, res);
        json_array_append_new(rows, res);
    }
    json_object_set_new(d->report, "retry",
                        json_pack("{s:s, s:s, s:o}", "skill", "order_lookup", "variant", variant,
                                  "requests", rows));
    skh_free(variant);
}

static void part_telemetry(demo *d)
{
    char *text = NULL;
    skh_error err;
    if (!check(d, skh_telemetry(d->c->host, &text, &err), &err))
        return;
    json_t *t = parsed(text);
    say(d,
        "\n8. Telemetry: %lld executions for %lld requests, %lld needed a retry; "
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
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int cmd_demo(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("demo"));
    int keep = argc == 2 && strcmp(argv[1], "--keep") == 0;
    if (argc > 1 + keep)
        return cli_usage(c, "demo", "unexpected argument '%s'", argv[1 + keep]);

    demo d = {.c = c};
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/')
        tmp = "/tmp";
    if ((size_t)snprintf(d.dir, sizeof d.dir, "%s/skillhost-demo-XXXXXX", tmp) >= sizeof d.dir) {
        fprintf(stderr, "skillhost: demo: TMPDIR: the path %s is too long\n", tmp);
        return 2;
    }
    if (!mkdtemp(d.dir)) {
        perror("skillhost: demo: mkdtemp");
        return 4;
    }
    char db[sizeof d.dir + sizeof "/skillhost.db"];
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
        "1. Register spam_filter twice: the keyword classifier in C and in Lua;\n"
        "   keyword_evolver.lua is the skill's evolver (step 5).\n",
        db);
    char *c_variant = add(&d, "spam_filter", "keyword_classifier.so", NULL, NULL, EVOLVER);
    char *lua_variant =
        c_variant ? add(&d, "spam_filter", "keyword_classifier.lua", NULL, NULL, NULL) : NULL;
    if (c_variant && lua_variant) {
        say(&d,
            "   %s  keyword_classifier.so   (prototype)\n"
            "   %s  keyword_classifier.lua  (prototype)\n",
            c_variant, lua_variant);
        part_gates(&d, c_variant, lua_variant);
    }
    if (!d.failed)
        part_evolve(&d, c_variant);
    if (!d.failed)
        part_rollback(&d);
    if (!d.failed)
        part_retry(&d);
    if (!d.failed)
        part_telemetry(&d);
    if (!d.failed && c->json)
        cli_print_json(json_pack("{s:s, s:b, s:O}", "db", db, "kept", keep, "demo", d.report));
    else if (!d.failed)
        say(&d,
            "\nEvery step above is in the database: skillhost --db %s status spam_filter\n"
            "(%s).  Try it yourself:\n"
            "  skillhost init\n"
            "  skillhost skill add spam --impl keyword_classifier.so --state production \\\n"
            "      --evolver keyword_evolver.lua\n"
            "  skillhost run spam --input '{\"text\": \"crypto wallet\", \"label\": \"spam\"}'\n"
            "  skillhost evolve spam\n",
            db, keep ? "kept: remove the folder when done" : "this demo removes it now");
    skh_free(c_variant);
    skh_free(lua_variant);
    json_decref(d.report);
    skh_host_close(c->host);
    c->host = NULL;
    if (!keep)
        remove_tree(d.dir);
    return d.failed ? 1 : 0;
}
