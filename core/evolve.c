/*
 * Evolvers (DESIGN §1, issue 4 item 8): test-time self-improvement.  An
 * evolver plugin reads what the serving variant is and how it has been
 * doing, and proposes new content; the proposal becomes a new variant (its
 * parent recorded) that enters an A/B test against the serving variant at
 * once, so it replaces it only if ab.lua finds it truly better.
 *
 * The evolver is called like any plugin: its input is the facts object
 *
 *   {skill, variant, content, patterns, threshold,
 *    weak_patterns: [{pattern, missed}],
 *    recent: [{input, fidelity, missed, failed_at_step, decision, correct, ...}],
 *    metrics: {executions, mean_fidelity, accuracy, labelled}}
 *
 * (a Lua evolver receives it as its first argument), and it answers
 * {content = "...", patterns = optional array or "a,b,c", description = "why"}.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"
#include "call.h"
#include "error.h"
#include "evolve.h"
#include "host_internal.h"

/* What an evolver proposed, checked. */
typedef struct proposal {
    char *content;
    char *patterns; /* JSON array text, or NULL for the parent's */
    char *description;
} proposal;

static void proposal_free(proposal *p)
{
    free(p->content);
    free(p->patterns);
    free(p->description);
    memset(p, 0, sizeof *p);
}

/* The evolver to use: the one asked for, else the skill's own. *path is malloc'd. */
static int evolver_path(skh_host *host, const char *skill, const char *impl, char **path,
                        skh_error *err)
{
    if (impl)
        return skh_plugin_resolve(host, impl, path, err);
    int rc = store_skill_evolver_get(host->st, skill, path, err);
    if (rc == SKH_OK && !*path)
        rc = error_set(err, SKH_EINVAL, skill,
                       "skill %s has no evolver: skill add %s ... --evolver FILE or evolve %s "
                       "--evolver FILE",
                       skill, skill, skill);
    return rc;
}

static int load_evolver(skh_host *host, const char *path, plugin **out, skh_error *err)
{
    int rc = plugin_load(path, &host->limits, out, err);
    if (rc == SKH_OK && (*out)->kind != SKH_KIND_EVOLVER) {
        rc = error_set(err, SKH_EPLUGIN, path, "is a %s plugin, not an evolver",
                       plugin_kind_name((*out)->kind));
        plugin_close(*out);
        *out = NULL;
    }
    return rc;
}

int evolve_check_evolver(skh_host *host, const char *name, char **path, skh_error *err)
{
    plugin *p = NULL;
    int rc = skh_plugin_resolve(host, name, path, err);
    if (rc == SKH_OK)
        rc = load_evolver(host, *path, &p, err);
    plugin_close(p);
    if (rc != SKH_OK) {
        free(*path);
        *path = NULL;
    }
    return rc;
}

static json_t *number_or_null(double x)
{
    return isnan(x) ? json_null() : json_real(x);
}

static json_t *make_facts(const skh_host *host, const store_variant *v, const store_evidence *ev)
{
    json_t *patterns = json_loads(v->patterns, 0, NULL);
    if (!json_is_array(patterns)) {
        json_decref(patterns);
        patterns = json_array();
    }
    double accuracy = ev->labelled > 0 ? (double)ev->correct / (double)ev->labelled : NAN;
    return json_pack("{s:s, s:s, s:s, s:o, s:f, s:O, s:O, s:{s:I, s:o, s:o, s:I}}", "skill",
                     v->skill, "variant", v->variant_id, "content", v->content, "patterns",
                     patterns, "threshold", config_num(&host->cfg, CFG_REACT_FIDELITY),
                     "weak_patterns", ev->weak_patterns, "recent", ev->recent, "metrics",
                     "executions", (json_int_t)ev->executions, "mean_fidelity",
                     number_or_null(ev->mean_fidelity), "accuracy", number_or_null(accuracy),
                     "labelled", (json_int_t)ev->labelled);
}

/* Append one pattern name to arr; an empty name (after trimming) is refused. */
static int add_pattern(json_t *arr, const char *s, size_t len, const char *path, skh_error *err)
{
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return error_set(err, SKH_EPLUGIN, path, "evolve returned an empty pattern name");
    if (memchr(s, ',', len))
        return error_set(err, SKH_EPLUGIN, path,
                         "evolve returned the pattern name '%.*s', which holds a comma",
                         (int)(len > 80 ? 80 : len), s);
    if (json_array_append_new(arr, json_stringn(s, len)) != 0)
        return error_set(err, SKH_ENOMEM, path, "out of memory");
    return SKH_OK;
}

/* patterns: absent or null (keep the parent's), "a,b,c", or ["a", "b", "c"]. */
static int read_patterns(const json_t *p, const char *path, char **out, skh_error *err)
{
    *out = NULL;
    if (!p || json_is_null(p))
        return SKH_OK;
    json_t *arr = json_array();
    int rc = arr ? SKH_OK : error_set(err, SKH_ENOMEM, path, "out of memory");
    if (rc == SKH_OK && json_is_string(p)) {
        const char *s = json_string_value(p);
        for (;;) {
            size_t len = strcspn(s, ",");
            if ((rc = add_pattern(arr, s, len, path, err)) != SKH_OK || !s[len])
                break;
            s += len + 1;
        }
    } else if (rc == SKH_OK && json_is_array(p)) {
        size_t i;
        json_t *item;
        json_array_foreach(p, i, item)
        {
            if (!json_is_string(item)) {
                rc = error_set(err, SKH_EPLUGIN, path,
                               "evolve returned patterns[%zu] that is not a string", i);
                break;
            }
            if ((rc = add_pattern(arr, json_string_value(item), json_string_length(item), path,
                                  err)) != SKH_OK)
                break;
        }
    } else if (rc == SKH_OK) {
        rc = error_set(err, SKH_EPLUGIN, path,
                       "evolve returned patterns that are neither an array of names nor a "
                       "comma-separated string");
    }
    if (rc == SKH_OK && !(*out = json_dumps(arr, JSON_COMPACT)))
        rc = error_set(err, SKH_ENOMEM, path, "out of memory");
    json_decref(arr);
    return rc;
}

static int read_proposal(const plugin *p, const char *output, proposal *out, skh_error *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *o = json_loads(output, 0, &jerr);
    int rc = SKH_OK;
    if (!json_is_object(o)) {
        rc = error_set(err, SKH_EPLUGIN, p->path, "evolve returned no JSON object");
        goto done;
    }
    json_t *content = json_object_get(o, "content");
    json_t *why = json_object_get(o, "description");
    if (!json_is_string(content) || json_string_length(content) == 0) {
        rc = error_set(err, SKH_EPLUGIN, p->path,
                       "evolve returned no content (expected {content = \"...\", "
                       "description = \"why\"})");
        goto done;
    }
    if (why && !json_is_string(why) && !json_is_null(why)) {
        rc = error_set(err, SKH_EPLUGIN, p->path,
                       "evolve returned a description that is not "
                       "a string");
        goto done;
    }
    if ((rc = read_patterns(json_object_get(o, "patterns"), p->path, &out->patterns, err)))
        goto done;
    out->content = strdup(json_string_value(content));
    if (json_is_string(why) && json_string_length(why) > 0)
        out->description = strdup(json_string_value(why));
    else
        out->description = strdup("proposed by the evolver without a reason");
    if (!out->content || !out->description)
        rc = error_set(err, SKH_ENOMEM, p->path, "out of memory");
done:
    json_decref(o);
    if (rc)
        proposal_free(out);
    return rc;
}

/*
 * A proposal some variant of the skill already holds -- the parent, or an
 * earlier proposal that lost or was stopped -- has nothing new to test.
 */
static int already_held(skh_host *host, const store_variant *v, const plugin *p, const proposal *pr,
                        skh_error *err)
{
    char *same = NULL;
    int rc = store_variant_find(host->st, v->skill, pr->content,
                                pr->patterns ? pr->patterns : v->patterns, &same, err);
    if (rc == SKH_OK && same && strcmp(same, v->variant_id) == 0)
        rc = error_set(err, SKH_EFAILED, p->path,
                       "evolver %s proposed no change to %s (%s); nothing registered", p->name,
                       v->variant_id, pr->description);
    else if (rc == SKH_OK && same)
        rc = error_set(err, SKH_EFAILED, p->path,
                       "evolver %s proposed what %s already holds (%s); nothing registered",
                       p->name, same, pr->description);
    free(same);
    return rc;
}

/* Run the evolver on the facts; on success *pr holds its checked proposal. */
static int ask_evolver(skh_host *host, plugin *p, const store_variant *v, const store_evidence *ev,
                       proposal *pr, skh_error *err)
{
    json_t *facts = make_facts(host, v, ev);
    char *text = facts ? json_dumps(facts, SKH_JSON_FLAGS) : NULL;
    json_decref(facts);
    if (!text)
        return error_set(err, SKH_ENOMEM, v->variant_id, "out of memory");
    skh_call call;
    call_init(&call, text, v->content, v->patterns, 1, p->name);
    int rc = p->ops->invoke(p, "evolve", &call, err);
    if (rc == SKH_OK && call.oom)
        rc = error_set(err, SKH_ENOMEM, p->path, "out of memory while running the evolver");
    else if (rc == SKH_OK && call.category)
        rc = error_set_category(err, SKH_EPLUGIN, call.category, p->path,
                                "evolver %s failed (%s): %s", p->name,
                                skh_category_name(call.category), call.message ? call.message : "");
    else if (rc == SKH_OK && !call.output)
        rc = error_set(err, SKH_EPLUGIN, p->path, "evolver %s returned nothing", p->name);
    if (rc == SKH_OK)
        rc = read_proposal(p, call.output, pr, err);
    call_release(&call);
    free(text);
    return rc;
}

/*
 * The skill's live test, running or awaiting approval (ab_live_test sees
 * only the running kind, but either holds the skill's one test slot):
 * *found is 0 or 1; when 1, what names it.
 */
static int live_test(skh_host *host, const char *skill, int *found, char *what, size_t len,
                     skh_error *err)
{
    store_ab_test t;
    skh_error none;
    *found = 0;
    int rc = store_ab_latest(host->st, skill, &t, &none);
    if (rc == SKH_ENOTFOUND)
        return SKH_OK;
    if (rc != SKH_OK) {
        if (err)
            *err = none;
        return rc;
    }
    if (t.status &&
        (strcmp(t.status, "running") == 0 || strcmp(t.status, "awaiting_approval") == 0)) {
        *found = 1;
        snprintf(what, len, "A/B test %s (%s against %s) is %s", t.test_id,
                 t.treatment ? t.treatment : "?", t.control ? t.control : "?",
                 strcmp(t.status, "running") == 0 ? "still running" : "awaiting approval");
    }
    store_ab_test_free(&t);
    return SKH_OK;
}

/* One test per skill: refuse before asking the evolver rather than orphan its variant. */
static int no_live_test(skh_host *host, const char *skill, skh_error *err)
{
    char what[512];
    int found = 0;
    int rc = live_test(host, skill, &found, what, sizeof what, err);
    if (rc == SKH_OK && found)
        rc = error_set(err, SKH_EFAILED, skill,
                       "%s; one test per skill: wait for its verdict or `skillhost ab stop %s`",
                       what, skill);
    return rc;
}

/*
 * A prototype serves only when nothing better exists, and the new variant,
 * a newer prototype, would then take its place before any test.
 */
static int can_be_control(const store_variant *v, skh_error *err)
{
    if (strcmp(v->state, "prototype") != 0)
        return SKH_OK;
    return error_set(err, SKH_EFAILED, v->skill,
                     "the serving variant %s is a prototype, and an evolved variant (a newer "
                     "prototype) would replace it before any test; promote %s, or register a "
                     "staged or production variant, first",
                     v->variant_id, v->variant_id);
}

static int start_test(skh_host *host, const char *skill, const char *id, const char *parent,
                      double weight, long target, char **test_id, skh_error *err)
{
    skh_ab_spec spec = {.struct_size = sizeof spec,
                        .skill = skill,
                        .treatment = id,
                        .weight = weight,
                        .target = target};
    int rc = skh_ab_start(host, &spec, test_id, err);
    if (rc != SKH_OK) {
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err->message);
        error_set_category(err, rc, err->category, skill,
                           "%s was registered (parent %s) but its A/B test did not start: %s; "
                           "start it with `skillhost ab start %s --treatment %s`",
                           id, parent, why, skill, id);
    }
    return rc;
}

static json_t *make_report(const char *skill, const char *id, const store_variant *parent,
                           const char *test_id, const proposal *pr, const plugin *p)
{
    json_t *patterns = json_loads(pr->patterns ? pr->patterns : parent->patterns, 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "skill", skill, "variant", id,
                     "parent", parent->variant_id, "test_id", test_id, "content", pr->content,
                     "patterns", patterns ? patterns : json_array(), "description", pr->description,
                     "evolver", p->path);
}

int evolve_run(skh_host *host, const char *skill, const char *evolver_impl, double weight,
               long target, json_t **report, skh_error *err)
{
    store_variant v;
    store_evidence ev;
    proposal pr;
    plugin *p = NULL;
    char *path = NULL, *id = NULL, *test_id = NULL;
    skh_error local;

    if (!err)
        err = &local;
    memset(&v, 0, sizeof v);
    memset(&ev, 0, sizeof ev);
    memset(&pr, 0, sizeof pr);
    if (report)
        *report = NULL;
    if (!name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    int rc = store_variant_serving(host->st, skill, &v, err);
    if (rc == SKH_OK)
        rc = can_be_control(&v, err);
    if (rc == SKH_OK)
        rc = no_live_test(host, skill, err);
    if (rc == SKH_OK)
        rc = evolver_path(host, skill, evolver_impl, &path, err);
    if (rc == SKH_OK)
        rc = load_evolver(host, path, &p, err);
    if (rc == SKH_OK)
        rc = store_variant_evidence(host->st, v.variant_id, EVOLVE_RECENT, &ev, err);
    if (rc == SKH_OK)
        rc = ask_evolver(host, p, &v, &ev, &pr, err);
    if (rc == SKH_OK)
        rc = already_held(host, &v, p, &pr, err);
    if (rc == SKH_OK)
        rc = store_variant_add_child(host->st, v.variant_id, pr.content, pr.patterns,
                                     pr.description, ev.mean_fidelity, &id, err);
    if (rc == SKH_OK)
        rc = start_test(host, skill, id, v.variant_id, weight, target, &test_id, err);
    if (rc == SKH_OK && report && !(*report = make_report(skill, id, &v, test_id, &pr, p)))
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");

    skh_free(test_id);
    free(id);
    proposal_free(&pr);
    store_evidence_free(&ev);
    plugin_close(p);
    free(path);
    store_variant_free(&v);
    return rc;
}

SKH_EXPORT int skh_evolve(skh_host *host, const char *skill, const char *evolver_impl,
                          char **variant_id, char **test_id, skh_error *err)
{
    json_t *report = NULL;
    if (variant_id)
        *variant_id = NULL;
    if (test_id)
        *test_id = NULL;
    error_clear(err);
    int rc = evolve_run(host, skill, evolver_impl, 0, 0, &report, err);
    if (rc != SKH_OK)
        return rc;
    if (variant_id &&
        !(*variant_id = strdup(json_string_value(json_object_get(report, "variant")))))
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    if (rc == SKH_OK && test_id &&
        !(*test_id = strdup(json_string_value(json_object_get(report, "test_id")))))
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    if (rc != SKH_OK && variant_id) {
        free(*variant_id);
        *variant_id = NULL;
    }
    json_decref(report);
    return rc;
}

SKH_EXPORT int skh_evolve_report(skh_host *host, const char *skill,
                                 const skh_evolve_options *opts_in, char **json, skh_error *err)
{
    skh_evolve_options opts;
    memset(&opts, 0, sizeof opts);
    *json = NULL;
    error_clear(err);
    if (opts_in && opts_in->struct_size == 0)
        return error_set(err, SKH_EINVAL, "skh_evolve_options", "struct_size is not set");
    /* A caller built against an older, shorter struct gets zeros (defaults) for the rest. */
    if (opts_in)
        memcpy(&opts, opts_in,
               opts_in->struct_size < sizeof opts ? opts_in->struct_size : sizeof opts);
    /* Checked here, not by skh_ab_start: by then the evolved variant would be registered. */
    if (!(opts.weight >= 0.0 && opts.weight <= 100.0))
        return error_set(err, SKH_EINVAL, "--weight", "must be a percentage in (0, 100], got %g",
                         opts.weight);
    if (opts.target < 0)
        return error_set(err, SKH_EINVAL, "--target", "must be at least 1, got %ld", opts.target);
    json_t *report = NULL;
    int rc = evolve_run(host, skill, opts.evolver, opts.weight, opts.target, &report, err);
    if (rc == SKH_OK && !(*json = json_dumps(report, SKH_JSON_FLAGS)))
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    json_decref(report);
    return rc;
}

/* ---- auto-evolve ------------------------------------------------------------ */

/* Keep the automated decision (DESIGN §7): what was seen, the bar, and what came of it. */
static void record_auto(skh_host *host, const char *skill, const char *variant,
                        const store_window *w, int window, double threshold, const json_t *report,
                        const skh_error *failure)
{
    json_t *seen = json_pack(
        "{s:s, s:I, s:f, s:s, s:o, s:o, s:o}", "variant", variant, "executions",
        (json_int_t)w->count, "mean_fidelity", w->mean_fidelity, "since", w->oldest, "evolved",
        report ? json_incref(json_object_get((json_t *)report, "variant")) : json_null(), "test_id",
        report ? json_incref(json_object_get((json_t *)report, "test_id")) : json_null(), "error",
        failure ? json_string(failure->message) : json_null());
    json_t *bar =
        json_pack("{s:f, s:i}", "react.fidelity_threshold", threshold, "evolve.window", window);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    char *thresholds = bar ? json_dumps(bar, SKH_JSON_FLAGS) : NULL;
    store_decision d = {.skill = skill,
                        .variant_id = variant,
                        .kind = "evolve",
                        .verdict = failure ? "error" : "evolve",
                        .observed = observed,
                        .thresholds = thresholds};
    skh_error ignored;
    /* The evolve itself succeeded or failed already; losing its note must not change that. */
    if (store_decision_add(host->st, &d, &ignored) != SKH_OK)
        fprintf(stderr, "skillhost: %s: could not record the auto-evolve decision: %s\n", skill,
                ignored.message);
    free(observed);
    free(thresholds);
    json_decref(seen);
    json_decref(bar);
}

int evolve_maybe_auto(skh_host *host, const char *skill, skh_error *err)
{
    if (config_num(&host->cfg, CFG_EVOLVE_AUTO) == 0)
        return SKH_OK;
    const int window = (int)config_num(&host->cfg, CFG_EVOLVE_WINDOW);
    const double threshold = config_num(&host->cfg, CFG_REACT_FIDELITY);
    char *evolver = NULL;
    store_variant v;
    store_window w;
    ab_live live;
    char what[512];
    int found = 0, tried = 0;
    skh_error local;

    if (!err)
        err = &local;
    memset(&v, 0, sizeof v);
    int rc = store_skill_evolver_get(host->st, skill, &evolver, err);
    if (rc != SKH_OK || !evolver)
        return rc;
    free(evolver);
    /* The per-request common case, a running test, in one indexed read. */
    if ((rc = ab_live_test(host, skill, &live, &found, err)) != SKH_OK || found)
        return rc;
    if ((rc = store_variant_serving(host->st, skill, &v, err)) != SKH_OK)
        return rc;
    if (strcmp(v.state, "prototype") != 0 &&
        (rc = store_variant_window(host->st, v.variant_id, window, &w, err)) == SKH_OK &&
        w.count >= window && w.mean_fidelity < threshold &&
        (rc = store_decision_since(host->st, skill, "evolve", w.oldest, &tried, err)) == SKH_OK &&
        !tried && (rc = live_test(host, skill, &found, what, sizeof what, err)) == SKH_OK &&
        !found) {
        json_t *report = NULL;
        rc = evolve_run(host, skill, NULL, 0, 0, &report, err);
        record_auto(host, skill, v.variant_id, &w, window, threshold, report,
                    rc == SKH_OK ? NULL : err);
        json_decref(report);
    }
    store_variant_free(&v);
    return rc;
}
