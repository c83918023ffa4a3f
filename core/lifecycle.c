/*
 * Automatic rollback and demotion (DESIGN §4 rollback.lua, §7), and
 * `skillhost rollback` by hand.
 *
 * After each recorded request of a serving variant the host reads the
 * variant's last-N live executions (one O(N) query), asks rollback.lua, and
 * applies its answer in one transaction that only the first of several
 * racing processes wins.  The next request, in this process or any other,
 * resolves the serving variant from the database and so already runs the
 * restored one.
 *
 * What is checked:
 *   production  decide(facts) over the executions since it became
 *               production: "rollback" restores the previous production
 *               variant (the rollback target, store_rollback.h) and moves
 *               this one to staged; "demote" does the same but to
 *               prototype; "freeze" stops routing to it, state kept.
 *   staged      demote_staged(facts), for a variant promoted to staged
 *               that never served production.  A staged variant that left
 *               production is a rollback target, not a candidate: the
 *               staged milestones do not apply to it.
 * A rollback with no target is suppressed: nothing changes, one decisions
 * row per window says so (not one per request), and stderr once per host.
 *
 * Only fired, suppressed and failed checks are kept in decisions: a check
 * that passes, or is inconclusive, after every request would bury them.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hooks.h"
#include "host_internal.h"
#include "lifecycle.h"
#include "store_rollback.h"

#define POLICY "rollback"
#define WINDOW_MAX 100000 /* settings() beyond this is a typo, not a window */

typedef struct checked {
    json_t *answer; /* the policy's answer, owned */
    policy_info info;
    int absent; /* no rollback policy anywhere: checks are off */
} checked;

/*
 * Keep a policy failure: verdict "error" in decisions and a line on stderr.
 * Mirrors host_policy_decide, which does not hand back the file and sha256
 * the decisions of a check that fired need.
 */
static void policy_error(skh_host *host, const char *skill, const char *variant, json_t *facts,
                         const policy_info *info, const char *file, const char *msg)
{
    fprintf(stderr, "skillhost: %s (policy " POLICY " decided nothing)\n", msg);
    json_t *seen = json_pack("{s:O?, s:s}", "facts", facts, "error", msg);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    store_decision d = {.skill = skill,
                        .variant_id = variant,
                        .kind = POLICY,
                        .verdict = "error",
                        .observed = observed,
                        .policy_file = info->path[0] ? info->path : file,
                        .policy_sha256 = info->sha256};
    skh_error ignored;
    store_decision_add(host->st, &d, &ignored);
    free(observed);
    json_decref(seen);
}

/*
 * Ask rollback.lua.  A failure is recorded and reported, and the caller
 * does nothing (fail safe: no rollback storm).  A host with no rollback
 * policy at all (no file, no built-in) has its checks off, silently: that
 * is a configuration, not an error to repeat after every request.
 */
static int ask(skh_host *host, const char *fn, json_t *facts, const char *skill,
               const char *variant, checked *out)
{
    memset(out, 0, sizeof *out);
    skh_error perr;
    error_clear(&perr);
    /* settings() is configuration: asked once per file version, not after every request. */
    /* A verdict with no action is not kept: its explanation need not cross from Lua. */
    int rc =
        strcmp(fn, "settings") == 0
            ? policy_decide_memo(host->policies, POLICY, fn, facts, &out->answer, &out->info, &perr)
            : policy_decide_brief(host->policies, POLICY, fn, facts, "action", &out->answer,
                                  &out->info, &perr);
    if (rc == SKH_OK)
        return SKH_OK;
    /* EPLUGIN with no file or built-in named: there is no such policy. */
    if (!out->info.path[0] && rc == SKH_EPLUGIN) {
        out->absent = 1;
        return rc;
    }
    policy_error(host, skill, variant, facts, &out->info, perr.what, perr.message);
    return rc;
}

static void bad_answer(skh_host *host, const char *skill, const char *variant, json_t *facts,
                       const checked *c, const char *fn, const char *why)
{
    char msg[PATH_MAX + 512];
    snprintf(msg, sizeof msg, "%s: %s answered badly: %s", c->info.path, fn, why);
    policy_error(host, skill, variant, facts, &c->info, c->info.path, msg);
}

/* settings(): the window N and the staged milestone M. */
static int settings(skh_host *host, const char *skill, const char *variant, int *window,
                    int *staged)
{
    checked c;
    json_t *facts = json_pack("{s:s, s:s}", "skill", skill, "variant", variant);
    if (!facts)
        return SKH_ENOMEM;
    int rc = ask(host, "settings", facts, skill, variant, &c);
    if (rc == SKH_OK) {
        json_t *w = json_object_get(c.answer, "window");
        json_t *m = json_object_get(c.answer, "staged_executions");
        if (!json_is_integer(w) || json_integer_value(w) < 1 ||
            json_integer_value(w) > WINDOW_MAX || (m && !json_is_integer(m)) ||
            (m && (json_integer_value(m) < 1 || json_integer_value(m) > WINDOW_MAX))) {
            bad_answer(host, skill, variant, facts, &c, "settings",
                       "window and staged_executions must be whole numbers in [1, 100000]");
            rc = SKH_EPLUGIN;
        } else {
            *window = (int)json_integer_value(w);
            *staged = m ? (int)json_integer_value(m) : 100;
        }
    }
    json_decref(c.answer);
    json_decref(facts);
    return rc;
}

/* ---- facts --------------------------------------------------------------------- */

static double window_fidelity(json_t *rows, size_t n)
{
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n && i < json_array_size(rows); i++) {
        json_t *f = json_object_get(json_array_get(rows, i), "fidelity");
        if (json_is_number(f)) {
            sum += json_number_value(f);
            k++;
        }
    }
    return k ? sum / (double)k : NAN;
}

/* A member of the oldest of the first n rows (newest first); NULL when none. */
static const char *oldest(json_t *rows, size_t n, const char *key)
{
    size_t k = json_array_size(rows) < n ? json_array_size(rows) : n;
    return k ? json_string_value(json_object_get(json_array_get(rows, k - 1), key)) : NULL;
}

typedef struct facts_in {
    skh_host *host;
    const char *skill, *variant;
    const store_rb_variant *v;
    int window, staged_n;
    json_t *facts; /* built here */
    char *since;   /* when it entered its state (staged: its promotion) */
    double before; /* the window's mean fidelity */
    char window_oldest[32];
} facts_in;

static int set_new(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

static int build_facts(facts_in *in, skh_error *err)
{
    store *st = in->host->st;
    const store_rb_variant *v = in->v;
    int staged = strcmp(v->state, "staged") == 0;
    double age = v->age_days, milestone = -1;
    json_t *rows = NULL, *base = NULL, *window = NULL;
    char *target = NULL;
    int rc;

    if (staged)
        rc = store_rb_staged_since(st, in->variant, &in->since, &age, err);
    else
        rc = (in->since = strdup(v->since))
                 ? SKH_OK
                 : error_set(err, SKH_ENOMEM, in->variant, "out of memory");
    int n = staged && in->staged_n > in->window ? in->staged_n : in->window;
    if (rc == SKH_OK)
        rc = store_rb_window(st, in->variant, in->since, n, &rows, err);
    if (rc == SKH_OK) {
        const char *o = oldest(rows, (size_t)in->window, "timestamp");
        snprintf(in->window_oldest, sizeof in->window_oldest, "%s", o ? o : "");
        in->before = window_fidelity(rows, (size_t)in->window);
        rc = store_rb_baselines(st, in->variant, o,
                                oldest(rows, (size_t)in->window, "execution_id"), &base, err);
    }
    if (rc == SKH_OK)
        rc = store_rb_target(st, v->skill, in->variant, &target, err);
    if (rc == SKH_OK && staged)
        rc = store_rb_milestone(st, in->variant, in->since, in->staged_n, &milestone, err);
    if (rc) {
        json_decref(rows);
        json_decref(base);
        free(target);
        return rc;
    }

    /* The policy's window is the newest N; a staged variant's sample is all M. */
    window = json_array();
    for (size_t i = 0; window && i < json_array_size(rows) && i < (size_t)in->window; i++)
        if (json_array_append(window, json_array_get(rows, i)))
            json_decref(window), window = NULL;
    json_t *f = json_object();
    int bad = !f || !window;
    if (!bad) {
        bad =
            set_new(f, "skill", json_string(in->skill)) |
            set_new(f, "variant", json_string(in->variant)) |
            set_new(f, "state", json_string(v->state)) |
            set_new(f, "since", json_string(in->since)) |
            set_new(f, "window", json_integer(in->window)) |
            json_object_set(f, "executions", window) | json_object_set(f, "baseline", base) |
            (target ? set_new(f, "target", json_string(target)) : 0) |
            (v->positive_class ? set_new(f, "positive_class", json_string(v->positive_class)) : 0);
    }
    if (!bad && staged) {
        double sample_fidelity = window_fidelity(rows, json_array_size(rows));
        json_t *sample = json_pack("{s:I}", "count", (json_int_t)json_array_size(rows));
        if (sample && !isnan(sample_fidelity))
            bad = set_new(sample, "fidelity", json_real(sample_fidelity));
        bad |= set_new(f, "age_days", json_real(age)) |
               (milestone >= 0 ? set_new(f, "milestone_days", json_real(milestone)) : 0) |
               set_new(f, "sample", sample);
    }
    json_decref(window);
    json_decref(rows);
    json_decref(base);
    free(target);
    if (bad) {
        json_decref(f);
        return error_set(err, SKH_ENOMEM, in->variant, "out of memory");
    }
    in->facts = f;
    return SKH_OK;
}

/* ---- applying an answer ---------------------------------------------------------- */

/* What the decisions row keeps: the checks and the verdict, not the raw rows. */
static char *observed_of(json_t *facts, json_t *answer, const char *extra_key, json_t *extra)
{
    json_t *o = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:I, s:O?, s:O?}", "verdict", json_object_get(answer, "verdict"),
        "reason", json_object_get(answer, "reason"), "metric", json_object_get(answer, "metric"),
        "trigger", json_object_get(answer, "trigger"), "executions",
        (json_int_t)json_array_size(json_object_get(facts, "executions")), "since",
        json_object_get(facts, "since"), "checks", json_object_get(answer, "checks"));
    if (o && json_object_get(facts, "target"))
        json_object_set(o, "target", json_object_get(facts, "target"));
    if (o && extra_key)
        json_object_set(o, extra_key, extra);
    char *text = o ? json_dumps(o, SKH_JSON_FLAGS) : NULL;
    json_decref(o);
    return text;
}

static void run_hooks(skh_host *host, const char *kind, const char *skill, const char *variant,
                      const char *from, const char *to, const char *reason, const char *metric,
                      const char *actor, const char *restored, const char *timestamp)
{
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?}", "kind", kind, "skill",
                  skill, "variant", variant, "from_state", from, "to_state", to, "reason", reason,
                  "actor", actor, "metric", metric, "restored", restored, "timestamp", timestamp);
    skh_error herr;
    error_clear(&herr);
    /* hooks.c reports and records each failed hook itself; the transition stands. */
    if (!ev || hooks_after_transition(host, ev, &herr) != SKH_OK)
        fprintf(stderr, "skillhost: %s: after-transition hooks: %s\n", skill,
                ev ? herr.message : "out of memory");
    json_decref(ev);
}

typedef struct verdict {
    const char *action, *reason, *metric;
    char *thresholds; /* JSON text or NULL */
} verdict;

/* 0 when the answer is usable; why set otherwise. */
static int read_verdict(json_t *a, int staged, verdict *v, char *why, size_t len)
{
    memset(v, 0, sizeof *v);
    json_t *act = json_object_get(a, "action");
    if (!act || json_is_null(act))
        return 0;
    v->action = json_string_value(act);
    if (!v->action) {
        snprintf(why, len, "action must be a string or nil");
        return -1;
    }
    int ok = strcmp(v->action, "freeze") == 0 || strcmp(v->action, "demote") == 0 ||
             (!staged && strcmp(v->action, "rollback") == 0);
    if (!ok) {
        snprintf(why, len, "action must be %s or nil, got \"%.60s\"",
                 staged ? "\"demote\" or \"freeze\"" : "\"rollback\", \"demote\" or \"freeze\"",
                 v->action);
        return -1;
    }
    v->reason = json_string_value(json_object_get(a, "reason"));
    v->metric = json_string_value(json_object_get(a, "metric"));
    if (!v->reason || !*v->reason) {
        snprintf(why, len, "action \"%s\" needs a reason (a non-empty string)", v->action);
        return -1;
    }
    json_t *m = json_object_get(a, "metric");
    if (m && !json_is_null(m) && !v->metric) {
        snprintf(why, len, "metric must be a string like \"fidelity=0.83\"");
        return -1;
    }
    json_t *t = json_object_get(a, "thresholds");
    if (json_is_object(t) && !(v->thresholds = json_dumps(t, SKH_JSON_FLAGS))) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    return 0;
}

static int apply_freeze(facts_in *in, const checked *c, const verdict *vd, skh_error *err)
{
    char *observed = observed_of(in->facts, c->answer, NULL, NULL);
    if (!observed)
        return error_set(err, SKH_ENOMEM, in->variant, "out of memory");
    store_rb_decision d = {.kind = POLICY,
                           .verdict = "freeze",
                           .observed = observed,
                           .thresholds = vd->thresholds,
                           .policy_file = c->info.path,
                           .policy_sha256 = c->info.sha256};
    int applied = 0;
    int rc = store_rb_freeze(in->host->st, in->skill, in->variant, in->v->state, vd->reason, &d,
                             &applied, err);
    free(observed);
    if (rc == SKH_OK && applied) {
        char now[32];
        store_timestamp(now);
        fprintf(stderr, "skillhost: %s: froze %s: %s%s%s%s\n", in->skill, in->variant, vd->reason,
                vd->metric ? " (" : "", vd->metric ? vd->metric : "", vd->metric ? ")" : "");
        run_hooks(in->host, "freeze", in->skill, in->variant, in->v->state, in->v->state,
                  vd->reason, vd->metric, "rollback.lua", NULL, now);
    }
    return rc;
}

static int apply_transition(facts_in *in, const checked *c, const verdict *vd, skh_error *err)
{
    int production = strcmp(in->v->state, "production") == 0;
    const char *to = production && strcmp(vd->action, "rollback") == 0 ? "staged" : "prototype";
    const char *verdict_name =
        production && strcmp(vd->action, "rollback") == 0 ? "rollback" : "demote";
    char description[512];
    snprintf(description, sizeof description, "Automatic %s of %s (%s -> %s): %s%s%s%s",
             production ? "rollback" : "demotion", in->variant, in->v->state, to, vd->reason,
             vd->metric ? " (" : "", vd->metric ? vd->metric : "", vd->metric ? ")" : "");
    char *observed = observed_of(in->facts, c->answer, NULL, NULL);
    if (!observed)
        return error_set(err, SKH_ENOMEM, in->variant, "out of memory");
    store_rb_transition t = {.skill = in->skill,
                             .variant_id = in->variant,
                             .from_state = in->v->state,
                             .to_state = to,
                             .restore = production,
                             .need_target = production,
                             .trigger_reason = vd->reason,
                             .trigger_metric = vd->metric,
                             .event_type = production ? "rollback" : "demotion",
                             .description = description,
                             .before_fidelity = in->before,
                             .window = in->window,
                             .decision = {.kind = POLICY,
                                          .verdict = verdict_name,
                                          .observed = observed,
                                          .thresholds = vd->thresholds,
                                          .policy_file = c->info.path,
                                          .policy_sha256 = c->info.sha256}};
    store_rb_result r;
    int rc = store_rb_apply(in->host->st, &t, &r, err);
    if (rc == SKH_OK && r.applied) {
        if (r.restored)
            fprintf(stderr, "skillhost: %s: rolled back %s -> %s: %s%s%s%s\n", in->skill,
                    in->variant, r.restored, vd->reason, vd->metric ? " (" : "",
                    vd->metric ? vd->metric : "", vd->metric ? ")" : "");
        else
            fprintf(stderr, "skillhost: %s: demoted %s to %s: %s%s%s%s\n", in->skill, in->variant,
                    to, vd->reason, vd->metric ? " (" : "", vd->metric ? vd->metric : "",
                    vd->metric ? ")" : "");
        run_hooks(in->host, production ? "rollback" : "demotion", in->skill, in->variant,
                  in->v->state, to, vd->reason, vd->metric, "rollback.lua", r.restored,
                  r.timestamp);
    } else if (rc == SKH_OK && r.no_target) {
        /* Nothing to restore: keep serving, and say so once per window. */
        free(observed);
        json_t *why = json_string("no previous production variant to restore");
        observed = why ? observed_of(in->facts, c->answer, "suppressed", why) : NULL;
        json_decref(why);
        if (!observed) {
            store_rb_result_free(&r);
            return error_set(err, SKH_ENOMEM, in->variant, "out of memory");
        }
        store_rb_decision d = t.decision;
        d.verdict = "suppressed";
        d.observed = observed;
        int recorded = 0;
        rc = store_rb_suppressed(in->host->st, in->skill, in->variant, in->window_oldest, &d,
                                 &recorded, err);
        /* decisions keeps one row per window; stderr says it once per process. */
        char key[256];
        snprintf(key, sizeof key, "suppressed %s", in->variant);
        if (rc == SKH_OK && recorded && host_tell_once(in->host, key))
            fprintf(stderr,
                    "skillhost: %s: %s of %s suppressed: no previous production variant to "
                    "restore (%s%s%s)\n",
                    in->skill, verdict_name, in->variant, vd->reason, vd->metric ? ", " : "",
                    vd->metric ? vd->metric : "");
    }
    store_rb_result_free(&r);
    free(observed);
    return rc;
}

int lifecycle_after_request(skh_host *host, const char *skill, const char *variant_id,
                            skh_error *err)
{
    store_rb_variant v;
    int window = 0, staged_n = 0;
    error_clear(err);
    /* First settings(): with no rollback policy there is nothing to read. */
    if (settings(host, skill, variant_id, &window, &staged_n) != SKH_OK)
        return SKH_OK; /* recorded and reported, or no policy: nothing to check */
    int rc = store_rb_variant_get(host->st, variant_id, &v, err);
    if (rc)
        return rc;
    int production = strcmp(v.state, "production") == 0;
    int staged = strcmp(v.state, "staged") == 0 && !v.was_production;
    if ((!production && !staged) || strcmp(v.skill, skill) != 0) {
        store_rb_variant_free(&v);
        return SKH_OK;
    }

    facts_in in = {.host = host,
                   .skill = skill,
                   .variant = variant_id,
                   .v = &v,
                   .window = window,
                   .staged_n = staged_n,
                   .before = NAN};
    checked c = {0};
    verdict vd = {0};
    if ((rc = build_facts(&in, err)) != SKH_OK)
        goto done;
    const char *fn = production ? "decide" : "demote_staged";
    if (ask(host, fn, in.facts, skill, variant_id, &c) != SKH_OK)
        goto done;
    char why[256];
    if (read_verdict(c.answer, staged, &vd, why, sizeof why) != 0) {
        bad_answer(host, skill, variant_id, in.facts, &c, fn, why);
        goto done;
    }
    if (!vd.action)
        goto done;
    if (strcmp(vd.action, "freeze") == 0)
        rc = apply_freeze(&in, &c, &vd, err);
    else
        rc = apply_transition(&in, &c, &vd, err);

done:
    free(vd.thresholds);
    json_decref(c.answer);
    json_decref(in.facts);
    free(in.since);
    store_rb_variant_free(&v);
    return rc;
}

/* ---- by hand --------------------------------------------------------------------- */

/* The serving variant and its state: production, else the newest staged. */
static int serving_of(skh_host *host, const char *skill, store_variant *out, skh_error *err)
{
    skh_error e;
    error_clear(&e);
    int rc = store_variant_serving(host->st, skill, out, &e);
    if (rc == SKH_ENOTFOUND && !strstr(e.message, "no such"))
        return error_set(err, SKH_EFAILED, skill, "has no serving variant to roll back");
    if (rc && err)
        *err = e;
    return rc;
}

SKH_EXPORT int skh_rollback(skh_host *host, const char *skill, const char *reason,
                            const char *to_state, char **json, skh_error *err)
{
    error_clear(err);
    if (json)
        *json = NULL;
    if (!skill || !name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    if (!reason || !*reason)
        return error_set(err, SKH_EINVAL, "--reason", "a rollback needs a reason");
    if (to_state && strcmp(to_state, "staged") != 0 && strcmp(to_state, "prototype") != 0)
        return error_set(err, SKH_EINVAL, "--to", "must be staged or prototype, got '%s'",
                         to_state);

    store_variant v;
    int rc = serving_of(host, skill, &v, err);
    if (rc)
        return rc;
    int production = strcmp(v.state, "production") == 0;
    const char *to = to_state ? to_state : "staged";
    if (!production && strcmp(v.state, "staged") != 0)
        rc = error_set(err, SKH_EFAILED, v.variant_id,
                       "is %s, the lowest state a serving variant can have: nothing to roll back",
                       v.state);
    else if (!production && strcmp(to, "staged") == 0)
        rc = error_set(err, SKH_EFAILED, v.variant_id,
                       "is already staged (%s has no production variant); use --to prototype to "
                       "demote it",
                       skill);
    if (rc) {
        store_variant_free(&v);
        return rc;
    }

    int window = 10, staged_n = 100;
    settings(host, skill, v.variant_id, &window, &staged_n);
    json_t *rows = NULL;
    double before = NAN;
    if (store_rb_window(host->st, v.variant_id, NULL, window, &rows, err) == SKH_OK)
        before = window_fidelity(rows, (size_t)window);
    json_decref(rows);

    char description[512];
    snprintf(description, sizeof description, "Manual rollback of %s (%s -> %s): %s", v.variant_id,
             v.state, to, reason);
    json_t *seen = json_pack("{s:s, s:s, s:s, s:s}", "trigger", "manual", "reason", reason,
                             "from_state", v.state, "to_state", to);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    json_decref(seen);
    if (!observed) {
        store_variant_free(&v);
        return error_set(err, SKH_ENOMEM, skill, "out of memory");
    }
    /* Without --to the point is to restore: no target, no change. */
    store_rb_transition t = {.skill = skill,
                             .variant_id = v.variant_id,
                             .from_state = v.state,
                             .to_state = to,
                             .restore = production,
                             .need_target = production && !to_state,
                             .trigger_reason = reason,
                             .trigger_metric = "manual",
                             .event_type = production ? "rollback" : "demotion",
                             .description = description,
                             .before_fidelity = before,
                             .window = window,
                             .decision = {.kind = POLICY,
                                          .verdict = production ? "rollback" : "demote",
                                          .observed = observed}};
    store_rb_result r;
    rc = store_rb_apply(host->st, &t, &r, err);
    free(observed);
    if (rc == SKH_OK && r.no_target)
        rc = error_set(err, SKH_EFAILED, skill,
                       "no previous production variant to restore (%s stays in production; "
                       "--to staged or --to prototype demotes it anyway)",
                       v.variant_id);
    else if (rc == SKH_OK && !r.applied)
        rc = error_set(err, SKH_EFAILED, v.variant_id,
                       "changed state while rolling back (another process moved it); nothing "
                       "done");
    if (rc == SKH_OK) {
        run_hooks(host, production ? "rollback" : "demotion", skill, v.variant_id, v.state, to,
                  reason, "manual", "manual", r.restored, r.timestamp);
        if (json) {
            json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s}", "skill", skill,
                                  "variant", v.variant_id, "from_state", v.state, "to_state", to,
                                  "restored", r.restored, "reason", reason, "metric", "manual",
                                  "event_id", r.event_id, "timestamp", r.timestamp);
            *json = j ? json_dumps(j, SKH_JSON_FLAGS) : NULL;
            json_decref(j);
            if (!*json)
                rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
        }
    }
    store_rb_result_free(&r);
    store_variant_free(&v);
    return rc;
}
