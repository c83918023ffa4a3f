/*
 * Evolvers: the evidence the store gathers, keyword_evolver's proposals,
 * skh_evolve end to end, its refusals, and auto-evolve's conditions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <skillhost/host.h>

#include "call.h"
#include "evolve.h"
#include "host_internal.h"
#include "loader.h"
#include "store.h"

#include "fixture.h"

static int setup(void **state)
{
    fixture_options o = {.name = "evolve"};
    return fixture_setup(state, &o);
}

typedef struct variant_args {
    const char *skill, *impl, *state, *content, *patterns, *evolver;
} variant_args;

static char *add_variant(fixture *f, const variant_args *a)
{
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = a->skill,
                             .impl = a->impl ? a->impl : "keyword_classifier.so",
                             .state = a->state,
                             .content = a->content,
                             .patterns = a->patterns,
                             .evolver = a->evolver};
    char *id = NULL;
    skh_error err;
    if (skh_variant_add(f->host, &spec, &id, &err) != SKH_OK)
        fail_msg("variant add %s: %s: %s", a->skill, err.what, err.message);
    return id;
}

#define ADD(f, ...) add_variant((f), &(variant_args){__VA_ARGS__})

static void run(fixture *f, const char *skill, const char *input)
{
    skh_exec_options o = SKH_EXEC_OPTIONS_INIT;
    o.react = 0;
    skh_result *r = NULL;
    skh_error err;
    int rc = skh_execute(f->host, skill, input, &o, &r, &err);
    if (rc != SKH_OK)
        fail_msg("execute %s: %s: %s", skill, err.what, err.message);
    skh_result_free(r);
}

/* A temporary Lua evolver with the given body for evolve(facts, ctx). */
static void write_evolver(const fixture *f, const char *name, const char *body, char *path,
                          size_t len)
{
    assert_true(snprintf(path, len, "%s/%s.lua", f->dir, name) < (int)len);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "return { kind = 'evolver', name = '%s', version = '1',\n"
            "  evolve = function(facts, ctx)\n%s\nend }\n",
            name, body);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0644), 0); /* the trust check refuses group-writable files */
}

/* ---- the store's evidence ------------------------------------------------ */

static void record(fixture *f, const char *id, const char *variant, const char *ts,
                   const char *input, double fidelity, const char *missed, const char *failed,
                   const char *decision, int correct)
{
    store_execution ex = {
        .execution_id = id,
        .request_id = id,
        .skill = "spam",
        .variant_id = variant,
        .attempt = 1,
        .timestamp = ts,
        .input = input,
        .steps = "[]",
        .fidelity = fidelity,
        .missed = missed,
        .failed_at_step = failed,
        .decision = decision,
        .correct = correct,
        .confidence = NAN,
    };
    skh_error err;
    if (store_record_execution(f->host->st, &ex, &err) != SKH_OK)
        fail_msg("record %s: %s", id, err.message);
}

static void test_evidence_and_weak_patterns(void **state)
{
    fixture *f = *state;
    skh_free(ADD(f, .skill = "spam", .state = "production"));
    skh_free(ADD(f, .skill = "spam"));
    /* Oldest first; the window of 3 sees e3, e4, e5 only. */
    record(f, "e1", "spam@v1", "2026-01-01T00:00:01.000Z", "{\"text\":\"old\"}", 0.5,
           "[\"classify\",\"decide\"]", "classify", "ham", 0);
    record(f, "e2", "spam@v2", "2026-01-01T00:00:02.000Z", "{\"text\":\"other\"}", 0.25,
           "[\"decide\"]", "decide", "ham", 0);
    record(f, "e3", "spam@v1", "2026-01-01T00:00:03.000Z", "{\"text\":\"a\",\"label\":\"spam\"}",
           0.75, "[\"decide\"]", "decide", "ham", 0);
    record(f, "e4", "spam@v1", "2026-01-01T00:00:04.000Z",
           "{\"text\":\"b\",\"_react_retry\":true,\"_previous_attempt\":{\"attempt\":1}}", 0.5,
           "[\"tokenize\",\"decide\"]", "tokenize", "spam", -1);
    record(f, "e5", "spam@v1", "2026-01-01T00:00:05.000Z", "{\"text\":\"c\",\"label\":\"ham\"}",
           1.0, "[]", NULL, "ham", 1);

    store_evidence ev;
    skh_error err;
    assert_int_equal(store_variant_evidence(f->host->st, "spam@v1", 3, &ev, &err), SKH_OK);
    assert_int_equal(ev.executions, 3);
    assert_int_equal(ev.labelled, 2);
    assert_int_equal(ev.correct, 1);
    assert_true(fabs(ev.mean_fidelity - 0.75) < 1e-12);
    assert_int_equal(json_array_size(ev.recent), 3);

    json_t *newest = json_array_get(ev.recent, 0);
    assert_string_equal(json_string_value(json_object_get(newest, "execution_id")), "e5");
    assert_true(json_is_true(json_object_get(newest, "correct")));
    assert_true(json_is_null(json_object_get(newest, "failed_at_step")));
    json_t *retry = json_array_get(ev.recent, 1);
    assert_string_equal(json_string_value(json_object_get(retry, "execution_id")), "e4");
    assert_true(json_is_null(json_object_get(retry, "correct")));
    assert_string_equal(json_string_value(json_object_get(retry, "decision")), "spam");
    assert_string_equal(json_string_value(json_object_get(retry, "failed_at_step")), "tokenize");
    /* The retry's own additions are not part of the case. */
    json_t *in = json_object_get(retry, "input");
    assert_string_equal(json_string_value(json_object_get(in, "text")), "b");
    assert_null(json_object_get(in, "_react_retry"));
    assert_null(json_object_get(in, "_previous_attempt"));
    json_t *oldest = json_array_get(ev.recent, 2);
    assert_string_equal(json_string_value(json_object_get(oldest, "execution_id")), "e3");
    assert_true(json_is_false(json_object_get(oldest, "correct")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(oldest, "input"), "label")), "spam");
    assert_true(fabs(json_real_value(json_object_get(oldest, "fidelity")) - 0.75) < 1e-12);

    /* decide twice, tokenize once; classify only outside the window; most missed first. */
    char *weak = json_dumps(ev.weak_patterns, JSON_COMPACT);
    assert_string_equal(weak, "[{\"pattern\":\"decide\",\"missed\":2},{\"pattern\":\"tokenize\","
                              "\"missed\":1}]");
    free(weak);
    store_evidence_free(&ev);

    /* No executions: empty, not an error. */
    assert_int_equal(store_variant_evidence(f->host->st, "spam@v9", 10, &ev, &err), SKH_OK);
    assert_int_equal(ev.executions, 0);
    assert_true(isnan(ev.mean_fidelity));
    assert_int_equal(json_array_size(ev.weak_patterns), 0);
    store_evidence_free(&ev);

    store_window w;
    assert_int_equal(store_variant_window(f->host->st, "spam@v1", 2, &w, &err), SKH_OK);
    assert_int_equal(w.count, 2);
    assert_true(fabs(w.mean_fidelity - 0.75) < 1e-12);
    assert_string_equal(w.oldest, "2026-01-01T00:00:04.000Z");
    assert_int_equal(store_variant_window(f->host->st, "spam@v1", 10, &w, &err), SKH_OK);
    assert_int_equal(w.count, 4);
}

static void test_child_variant(void **state)
{
    fixture *f = *state;
    skh_free(ADD(f, .skill = "spam", .state = "production", .content = "{\"threshold\":3}",
                 .patterns = "read_input,decide"));
    char *id = NULL, *parent = NULL;
    skh_error err;
    assert_int_equal(store_variant_add_child(f->host->st, "spam@v1", "{\"threshold\":2}", NULL,
                                             "why", 0.5, &id, &err),
                     SKH_OK);
    assert_string_equal(id, "spam@v2");
    free(id);
    assert_int_equal(store_variant_add_child(f->host->st, "spam@v2", "x", "[\"decide\"]", "again",
                                             NAN, &id, &err),
                     SKH_OK);
    assert_string_equal(id, "spam@v3");
    free(id);
    assert_text(f,
                "SELECT parent_id || ' ' || state || ' ' || (impl = (SELECT impl FROM "
                "skill_variations WHERE variation_id = 'spam@v1')) || ' ' || patterns || ' ' "
                "|| variation_content FROM skill_variations WHERE variation_id = 'spam@v2'",
                NULL, "spam@v1 prototype 1 [\"read_input\",\"decide\"] {\"threshold\":2}");
    assert_text(f, "SELECT patterns FROM skill_variations WHERE variation_id = 'spam@v3'", NULL,
                "[\"decide\"]");
    assert_text(f,
                "SELECT COUNT(*) FROM skill_variations WHERE impl_sha256 = (SELECT impl_sha256 "
                "FROM skill_variations WHERE variation_id = 'spam@v1')",
                NULL, "3");
    assert_text(f,
                "SELECT description || ' ' || before_fidelity FROM learning_events WHERE "
                "event_type = 'variation_evolved' AND variation_id = 'spam@v2'",
                NULL, "why 0.5");
    assert_text(f,
                "SELECT before_fidelity IS NULL FROM learning_events WHERE event_type = "
                "'variation_evolved' AND variation_id = 'spam@v3'",
                NULL, "1");
    assert_int_equal(store_variant_parent(f->host->st, "spam@v3", &parent, &err), SKH_OK);
    assert_string_equal(parent, "spam@v2");
    free(parent);
    assert_int_equal(store_variant_parent(f->host->st, "spam@v1", &parent, &err), SKH_OK);
    assert_null(parent);

    assert_int_equal(store_variant_add_child(f->host->st, "spam@v7", "x", NULL, "", NAN, &id, &err),
                     SKH_ENOTFOUND);
    assert_null(id);
    assert_int_equal(
        store_variant_add_child(f->host->st, "spam@v1", "x", "{\"a\":1}", "", NAN, &id, &err),
        SKH_EINVAL);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM skill_variations", NULL), 3);
}

/* ---- keyword_evolver on hand-made facts ------------------------------------ */

static json_t *call_evolver(const char *facts, int *category)
{
    plugin_limits lim;
    plugin_limits_default(&lim);
    plugin *p = NULL;
    skh_error err;
    char evolver_lua[PATH_MAX + 64];
    snprintf(evolver_lua, sizeof evolver_lua, "%s/plugins/keyword_evolver.lua", fixture_srcdir());
    if (plugin_load(evolver_lua, &lim, &p, &err) != SKH_OK)
        fail_msg("load %s: %s", evolver_lua, err.message);
    assert_int_equal(p->kind, SKH_KIND_EVOLVER);
    assert_string_equal(p->name, "keyword_evolver");
    skh_call call;
    call_init(&call, facts, "", "[]", 1, p->name);
    assert_int_equal(p->ops->invoke(p, "evolve", &call, &err), SKH_OK);
    *category = call.category;
    json_t *out = call.output ? json_loads(call.output, 0, NULL) : NULL;
    call_release(&call);
    plugin_close(p);
    return out;
}

static const char *field(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    assert_non_null(s);
    return s;
}

static void test_keyword_evolver_lowers_and_adds(void **state)
{
    (void)state;
    /* Three spam texts missed; "claim" and "prize" recur, "meeting" is also in ham. */
    const char *facts =
        "{\"skill\":\"spam\",\"variant\":\"spam@v1\",\"threshold\":0.9,"
        "\"content\":\"{\\\"threshold\\\":3,\\\"words\\\":[\\\"buy\\\",\\\"free\\\"]}\","
        "\"recent\":["
        "{\"input\":{\"text\":\"Claim your PRIZE now\",\"label\":\"spam\"},\"decision\":\"ham\","
        "\"correct\":false,\"fidelity\":1.0},"
        "{\"input\":{\"text\":\"claim the prize, urgent meeting\",\"label\":\"spam\"},"
        "\"decision\":\"ham\",\"correct\":false,\"fidelity\":1.0},"
        "{\"input\":{\"text\":\"prize jackpot jackpot 2024\",\"label\":\"spam\"},"
        "\"decision\":\"ham\",\"correct\":false,\"fidelity\":1.0},"
        "{\"input\":{\"text\":\"team meeting at noon\",\"label\":\"ham\"},\"decision\":\"ham\","
        "\"correct\":true,\"fidelity\":1.0},"
        "{\"input\":{\"text\":\"buy free stuff\",\"label\":\"spam\"},\"decision\":\"spam\","
        "\"correct\":true,\"fidelity\":1.0}],"
        "\"metrics\":{\"executions\":5,\"mean_fidelity\":1.0,\"accuracy\":0.4,\"labelled\":5}}";
    int category;
    json_t *out = call_evolver(facts, &category);
    assert_int_equal(category, SKH_ERR_NONE);
    assert_non_null(out);
    /* prize: 3 texts; claim: 2; jackpot: 1 text but twice; urgent: 1 (alphabetical tie-break). */
    assert_string_equal(field(out, "content"),
                        "{\"threshold\":2,\"words\":[\"buy\",\"free\",\"prize\",\"claim\","
                        "\"jackpot\"]}");
    const char *why = field(out, "description");
    assert_non_null(strstr(why, "3 labelled spam decided ham in the last 5 executions"));
    assert_non_null(strstr(why, "threshold 3 -> 2"));
    assert_non_null(strstr(why, "added words: prize, claim, jackpot"));
    json_decref(out);

    /* Ham decided spam, nothing missed: raise the threshold; empty content means the defaults. */
    out = call_evolver("{\"content\":\"\",\"recent\":[{\"input\":{\"text\":\"free lunch, buy "
                       "tickets\",\"label\":\"ham\"},\"decision\":\"spam\",\"correct\":false}],"
                       "\"metrics\":{\"mean_fidelity\":1.0}}",
                       &category);
    assert_non_null(out);
    assert_string_equal(field(out, "content"),
                        "{\"threshold\":3,\"words\":[\"buy\",\"free\",\"winner\",\"click\","
                        "\"offer\",\"money\",\"prize\",\"cheap\"]}");
    assert_non_null(strstr(field(out, "description"), "threshold 2 -> 3"));
    json_decref(out);

    /* Nothing labelled, low fidelity: lower the threshold, and say why. */
    out = call_evolver("{\"content\":\"{\\\"threshold\\\":2,\\\"words\\\":[\\\"x\\\"]}\","
                       "\"threshold\":0.9,\"recent\":[{\"input\":{\"text\":\"hello\"},"
                       "\"decision\":\"ham\",\"correct\":null,\"fidelity\":0.5}],"
                       "\"metrics\":{\"mean_fidelity\":0.5}}",
                       &category);
    assert_non_null(out);
    assert_string_equal(field(out, "content"), "{\"threshold\":1,\"words\":[\"x\"]}");
    assert_non_null(strstr(field(out, "description"), "mean fidelity 0.50 is under 0.90"));
    json_decref(out);

    /* Nothing to act on: the same content back, explained. */
    out = call_evolver("{\"content\":\"{\\\"threshold\\\":2,\\\"words\\\":[]}\",\"recent\":[],"
                       "\"metrics\":{\"mean_fidelity\":null}}",
                       &category);
    assert_non_null(out);
    assert_string_equal(field(out, "content"), "{\"threshold\":2,\"words\":[]}");
    assert_non_null(strstr(field(out, "description"), "no evidence to act on"));
    json_decref(out);

    /* Content keyword_classifier would refuse is refused here too. */
    out = call_evolver("{\"content\":\"{\\\"threshold\\\":0,\\\"words\\\":[]}\",\"recent\":[]}",
                       &category);
    assert_null(out);
    assert_int_equal(category, SKH_ERR_VALIDATION);
}

/* ---- skh_evolve end to end ---------------------------------------------- */

static const char strict[] = "{\"threshold\":3,\"words\":[\"buy\",\"free\",\"money\"]}";

static void test_evolve_end_to_end(void **state)
{
    fixture *f = *state;
    skh_free(ADD(f, .skill = "spam", .state = "production", .content = strict,
                 .evolver = "keyword_evolver.lua"));
    assert_text(f, "SELECT evolver LIKE '/%/keyword_evolver.lua' FROM skills", NULL, "1");
    run(f, "spam", "{\"text\":\"Claim your prize, winner\",\"label\":\"spam\"}");
    run(f, "spam", "{\"text\":\"prize waiting: claim it\",\"label\":\"spam\"}");
    run(f, "spam", "{\"text\":\"buy free money now\",\"label\":\"spam\"}");
    run(f, "spam", "{\"text\":\"lunch at noon?\",\"label\":\"ham\"}");

    char *vid = NULL, *tid = NULL;
    skh_error err;
    int rc = skh_evolve(f->host, "spam", NULL, &vid, &tid, &err);
    if (rc != SKH_OK)
        fail_msg("evolve: %s: %s", err.what, err.message);
    assert_string_equal(vid, "spam@v2");
    assert_non_null(tid);
    assert_text(f,
                "SELECT parent_id || ' ' || state FROM skill_variations WHERE variation_id = "
                "'spam@v2'",
                NULL, "spam@v1 prototype");
    assert_text(f,
                "SELECT COUNT(*) FROM skill_variations a, skill_variations b WHERE a.variation_id "
                "= 'spam@v1' AND b.variation_id = 'spam@v2' AND a.impl = b.impl AND "
                "a.impl_sha256 = b.impl_sha256 AND a.patterns = b.patterns",
                NULL, "1");
    assert_text(f, "SELECT variation_content FROM skill_variations WHERE variation_id = 'spam@v2'",
                NULL,
                "{\"threshold\":2,\"words\":[\"buy\",\"free\",\"money\",\"claim\",\"prize\","
                "\"waiting\"]}");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT control_version || ' ' || treatment_version || ' ' || status FROM "
             "ab_test_assignments WHERE test_id = '%s'",
             tid);
    assert_text(f, sql, NULL, "spam@v1 spam@v2 running");
    assert_int_equal(
        q_int(f, "SELECT COUNT(*) FROM learning_events WHERE event_type = 'variation_evolved'",
              NULL),
        1);
    skh_free(vid);
    skh_free(tid);

    /* One test per skill: a second evolve is refused before the evolver runs. */
    assert_int_equal(skh_evolve(f->host, "spam", NULL, NULL, NULL, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "still running"));
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM skill_variations", NULL), 2);

    /* The same evidence proposes what spam@v2 holds: nothing new to test. */
    assert_int_equal(skh_ab_stop(f->host, "spam", "make room", &err), SKH_OK);
    assert_int_equal(skh_evolve(f->host, "spam", NULL, NULL, NULL, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "proposed what spam@v2 already holds"));
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM skill_variations", NULL), 2);
    /* New evidence, a new proposal, still evolved from the serving variant. */
    run(f, "spam", "{\"text\":\"jackpot! claim the jackpot\",\"label\":\"spam\"}");
    rc = skh_evolve(f->host, "spam", NULL, &vid, NULL, &err);
    if (rc != SKH_OK)
        fail_msg("evolve: %s: %s", err.what, err.message);
    assert_string_equal(vid, "spam@v3");
    skh_free(vid);
    assert_text(f, "SELECT parent_id FROM skill_variations WHERE variation_id = 'spam@v3'", NULL,
                "spam@v1");
}

static void test_refusals(void **state)
{
    fixture *f = *state;
    skh_error err;
    skh_free(ADD(f, .skill = "plain", .state = "production"));

    assert_int_equal(skh_evolve(f->host, "nope", NULL, NULL, NULL, &err), SKH_ENOTFOUND);
    assert_string_equal(err.what, "nope");

    assert_int_equal(skh_evolve(f->host, "plain", NULL, NULL, NULL, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "skill plain has no evolver"));
    assert_non_null(strstr(err.message, "--evolver FILE"));

    /* A skill is not an evolver, neither at registration nor when asked for. */
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = "plain",
                             .impl = "keyword_classifier.so",
                             .evolver = "keyword_classifier.lua"};
    char *id = NULL;
    assert_int_equal(skh_variant_add(f->host, &spec, &id, &err), SKH_EPLUGIN);
    assert_null(id);
    assert_non_null(strstr(err.message, "is a skill plugin, not an evolver"));
    spec.evolver = "no_such_evolver.lua";
    assert_int_equal(skh_variant_add(f->host, &spec, &id, &err), SKH_ENOTFOUND);
    assert_int_equal(skh_evolve(f->host, "plain", "keyword_classifier.lua", NULL, NULL, &err),
                     SKH_EPLUGIN);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM skill_variations", NULL), 1);
    assert_text(f, "SELECT evolver IS NULL FROM skills WHERE skill_id = 'plain'", NULL, "1");

    /* A prototype serving the skill would be displaced by its own child. */
    skh_free(ADD(f, .skill = "proto", .evolver = "keyword_evolver.lua"));
    assert_int_equal(skh_evolve(f->host, "proto", NULL, NULL, NULL, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "is a prototype"));
    assert_int_equal(skh_evolve(f->host, "Bad!", NULL, NULL, NULL, &err), SKH_EINVAL);

    /* A test that won and awaits sign-off still holds the skill's one test slot. */
    skh_free(ADD(f, .skill = "held", .state = "production", .evolver = "keyword_evolver.lua"));
    char *cand = ADD(f, .skill = "held");
    char *tid = NULL;
    skh_ab_spec ab = {.struct_size = sizeof ab, .skill = "held", .treatment = cand};
    assert_int_equal(skh_ab_start(f->host, &ab, &tid, &err), SKH_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE ab_test_assignments SET status = 'awaiting_approval' "
                                  "WHERE skill_name = 'held'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(skh_evolve(f->host, "held", NULL, NULL, NULL, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "is awaiting approval"));
    assert_non_null(strstr(err.message, tid));
    skh_free(cand);
    skh_free(tid);
}

static void test_failing_evolver_registers_nothing(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    skh_error err;
    skh_free(ADD(f, .skill = "spam", .state = "production", .content = strict));

    write_evolver(f, "raises", "error({category = 'validation', message = 'cannot read it'})", path,
                  sizeof path);
    assert_int_equal(skh_evolve(f->host, "spam", path, NULL, NULL, &err), SKH_EPLUGIN);
    assert_int_equal(err.category, SKH_ERR_VALIDATION);
    assert_non_null(strstr(err.message, "cannot read it"));

    write_evolver(f, "empty", "return { description = 'no idea' }", path, sizeof path);
    assert_int_equal(skh_evolve(f->host, "spam", path, NULL, NULL, &err), SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "returned no content"));

    write_evolver(f, "badpat", "return { content = 'x', patterns = 'a,,b' }", path, sizeof path);
    assert_int_equal(skh_evolve(f->host, "spam", path, NULL, NULL, &err), SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "empty pattern"));

    write_evolver(f, "same", "return { content = facts.content, description = 'looks fine' }", path,
                  sizeof path);
    assert_int_equal(skh_evolve(f->host, "spam", path, NULL, NULL, &err), SKH_EFAILED);
    assert_non_null(strstr(err.message, "proposed no change to spam@v1 (looks fine)"));

    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM skill_variations", NULL), 1);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM ab_test_assignments", NULL), 0);
    assert_int_equal(q_int(f,
                           "SELECT COUNT(*) FROM learning_events WHERE event_type = "
                           "'variation_evolved'",
                           NULL),
                     0);

    /* Patterns as a comma string are accepted, trimmed, and replace the parent's. */
    write_evolver(f, "pats",
                  "assert(facts.variant == 'spam@v1' and facts.skill == 'spam')\n"
                  "assert(ctx.content == facts.content and #facts.patterns == 4)\n"
                  "return { content = 'new', patterns = ' read_input , decide', "
                  "description = 'fewer steps' }",
                  path, sizeof path);
    json_t *report = NULL;
    int rc = evolve_run(f->host, "spam", path, 30, 40, &report, &err);
    if (rc != SKH_OK)
        fail_msg("evolve_run: %s: %s", err.what, err.message);
    assert_string_equal(field(report, "variant"), "spam@v2");
    assert_string_equal(field(report, "parent"), "spam@v1");
    assert_string_equal(field(report, "content"), "new");
    assert_string_equal(field(report, "description"), "fewer steps");
    char *pats = json_dumps(json_object_get(report, "patterns"), JSON_COMPACT);
    assert_string_equal(pats, "[\"read_input\",\"decide\"]");
    free(pats);
    assert_text(f, "SELECT patterns FROM skill_variations WHERE variation_id = 'spam@v2'", NULL,
                "[\"read_input\",\"decide\"]");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT weight || ' ' || sample_size_target FROM ab_test_assignments WHERE test_id "
             "= '%s'",
             field(report, "test_id"));
    assert_text(f, sql, NULL, "30.0 40");
    json_decref(report);
}

/* ---- auto-evolve ----------------------------------------------------------- */

static long long variants(const fixture *f)
{
    return q_int(f, "SELECT COUNT(*) FROM skill_variations", NULL);
}

static void set_config(fixture *f, const char *key, const char *value)
{
    skh_error err;
    if (skh_config_set(f->host, key, value, &err) != SKH_OK)
        fail_msg("config set %s: %s", key, err.message);
}

/*
 * skh_execute calls evolve_maybe_auto after every request, so the requests
 * that build each window run with auto-evolve off; the checks then call it
 * directly and see its answer.
 */
static void test_auto_evolve(void **state)
{
    fixture *f = *state;
    skh_error err;
    /* An expected step the classifier never takes: fidelity 0.8 on every request. */
    skh_free(ADD(f, .skill = "weak", .state = "production", .evolver = "keyword_evolver.lua",
                 .patterns = "read_input,tokenize,classify,decide,explain"));
    skh_free(ADD(f, .skill = "fine", .state = "production", .evolver = "keyword_evolver.lua"));
    for (int i = 0; i < 4; i++) {
        run(f, "weak", "{\"text\":\"hello there\"}");
        run(f, "fine", "{\"text\":\"hello there\"}");
    }

    /* Off by default. */
    assert_int_equal(evolve_maybe_auto(f->host, "weak", &err), SKH_OK);
    assert_int_equal(variants(f), 2);

    set_config(f, "evolve.auto", "1");
    /* Fewer executions than the window: not yet. */
    set_config(f, "evolve.window", "5");
    assert_int_equal(evolve_maybe_auto(f->host, "weak", &err), SKH_OK);
    assert_int_equal(variants(f), 2);
    set_config(f, "evolve.window", "4");

    /* Fidelity at or above the threshold: nothing to do. */
    assert_int_equal(evolve_maybe_auto(f->host, "fine", &err), SKH_OK);
    assert_int_equal(variants(f), 2);

    /* A test already runs: nothing to do. */
    char *cand = ADD(f, .skill = "weak");
    char *tid = NULL;
    skh_ab_spec ab = {.struct_size = sizeof ab, .skill = "weak", .treatment = cand};
    if (skh_ab_start(f->host, &ab, &tid, &err) != SKH_OK)
        fail_msg("ab start: %s", err.message);
    assert_int_equal(evolve_maybe_auto(f->host, "weak", &err), SKH_OK);
    assert_int_equal(variants(f), 3);
    assert_int_equal(skh_ab_stop(f->host, "weak", "make room", &err), SKH_OK);
    skh_free(cand);
    skh_free(tid);

    /* Every condition holds: evolve once, and keep the decision. */
    assert_int_equal(evolve_maybe_auto(f->host, "weak", &err), SKH_OK);
    assert_int_equal(variants(f), 4);
    assert_text(f,
                "SELECT parent_id || ' ' || variation_content FROM skill_variations WHERE "
                "variation_id = 'weak@v3'",
                NULL,
                "weak@v1 {\"threshold\":1,\"words\":[\"buy\",\"free\",\"winner\",\"click\","
                "\"offer\",\"money\",\"prize\",\"cheap\"]}");
    assert_text(f,
                "SELECT treatment_version FROM ab_test_assignments WHERE skill_name = 'weak' AND "
                "status = 'running'",
                NULL, "weak@v3");
    assert_text(f, "SELECT verdict || ' ' || variant_id FROM decisions WHERE kind = 'evolve'", NULL,
                "evolve weak@v1");
    assert_int_equal(evolve_maybe_auto(f->host, "weak", &err), SKH_OK);
    assert_int_equal(variants(f), 4);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE kind = 'evolve'", NULL), 1);
}

static void test_auto_evolve_tries_once_per_window(void **state)
{
    fixture *f = *state;
    skh_error err;
    char path[PATH_MAX];
    write_evolver(f, "broken", "error('no idea')", path, sizeof path);
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = "weak",
                             .impl = "keyword_classifier.so",
                             .state = "production",
                             .patterns = "read_input,explain",
                             .evolver = path};
    char *id = NULL;
    assert_int_equal(skh_variant_add(f->host, &spec, &id, &err), SKH_OK);
    skh_free(id);
    run(f, "weak", "{\"text\":\"a\"}");
    run(f, "weak", "{\"text\":\"b\"}");
    set_config(f, "evolve.auto", "1");
    set_config(f, "evolve.window", "2");

    /* The evolver's failure is returned and kept... */
    assert_int_equal(evolve_maybe_auto(f->host, "weak", &err), SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "no idea"));
    assert_text(f, "SELECT verdict FROM decisions WHERE kind = 'evolve'", NULL, "error");
    /*
     * ...and not retried after every request (this one's own check and the
     * direct one see a window that started before the attempt), only once
     * the window holds nothing older than it.  Timestamps have millisecond
     * resolution, hence the pauses.
     */
    usleep(2000);
    run(f, "weak", "{\"text\":\"c\"}");
    assert_int_equal(evolve_maybe_auto(f->host, "weak", &err), SKH_OK);
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE kind = 'evolve'", NULL), 1);
    run(f, "weak", "{\"text\":\"d\"}"); /* skh_execute tries again, and fails again */
    assert_int_equal(q_int(f, "SELECT COUNT(*) FROM decisions WHERE kind = 'evolve'", NULL), 2);
    assert_int_equal(variants(f), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evidence_and_weak_patterns, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_child_variant, setup, fixture_teardown),
        cmocka_unit_test(test_keyword_evolver_lowers_and_adds),
        cmocka_unit_test_setup_teardown(test_evolve_end_to_end, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failing_evolver_registers_nothing, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_auto_evolve, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_auto_evolve_tries_once_per_window, setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests_name("evolve", tests, NULL, NULL);
}
