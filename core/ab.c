/*
 * A/B tests and gradual rollouts (DESIGN §2 steps 1-2 and 7, §4, §5): what
 * the request path asks (the live test, what to do after a trial) and the
 * skh_ab_* embedding API.
 *
 * The decision rule lives in Lua: after every trial ab.lua (or rollout.lua)
 * gets the counts as facts and answers; this file only checks the answer
 * and hands it to the store, which applies it exactly once.  The facts and
 * the answers are described in docs/ab-testing.md and at the top of
 * policies/ab.lua and policies/rollout.lua.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"
#include "hooks.h"
#include "error.h"
#include "stats.h"

#define AB_DEFAULT_WEIGHT 50.0
#define AB_DEFAULT_TARGET 20 /* the seeds' sample_size_target */
#define AB_MAX_STEPS 20
#define AB_SRM_WARN 0.001 /* below this the split itself is broken (docs/statistics.md) */

/* ---- small JSON helpers ------------------------------------------------------ */

/* Set o[k] = v (stolen); *ok is cleared when v is NULL or the set fails. */
static void put(json_t *o, const char *k, json_t *v, int *ok)
{
    if (!v || !o || json_object_set_new(o, k, v) != 0) {
        json_decref(v);
        *ok = 0;
    }
}

static json_t *real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static double rate_of(long long s, long long n)
{
    return n > 0 ? (double)s / (double)n : 0.0;
}

static int is_rollout(const store_ab_test *t)
{
    return t->mode && strcmp(t->mode, "rollout") == 0;
}

static int is_running(const store_ab_test *t)
{
    return t->status && strcmp(t->status, "running") == 0;
}

/* ---- the live test ------------------------------------------------------------- */

int ab_live_test(skh_host *host, const char *skill, ab_live *out, int *found, skh_error *err)
{
    store_ab_test t;
    memset(out, 0, sizeof *out);
    int rc = store_ab_running(host->st, skill, &t, found, err);
    if (rc || !*found)
        return rc;
    if (strlen(t.test_id) >= sizeof out->test_id || strlen(t.control) >= sizeof out->control ||
        strlen(t.treatment) >= sizeof out->treatment) {
        rc = error_set(err, SKH_ESTORE, t.test_id, "test or variant id too long for routing");
        *found = 0;
    } else {
        snprintf(out->test_id, sizeof out->test_id, "%s", t.test_id);
        snprintf(out->control, sizeof out->control, "%s", t.control);
        snprintf(out->treatment, sizeof out->treatment, "%s", t.treatment);
        out->weight = t.weight;
        out->rollout = is_rollout(&t);
    }
    store_ab_test_free(&t);
    return rc;
}

/* ---- facts ----------------------------------------------------------------------- */

static json_t *arm_facts(const char *variant, long long n, long long s, long long attempts)
{
    int ok = 1;
    json_t *a = json_object();
    put(a, "variant", json_string(variant), &ok);
    put(a, "trials", json_integer(n), &ok);
    put(a, "successes", json_integer(s), &ok);
    put(a, "rate", json_real(rate_of(s, n)), &ok);
    put(a, "attempts", json_integer(attempts), &ok);
    put(a, "attempts_mean", json_real(rate_of(attempts, n)), &ok);
    if (!ok) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *step_arm(long long n, long long s)
{
    return json_pack("{s:I, s:I, s:f}", "trials", (json_int_t)n, "successes", (json_int_t)s, "rate",
                     rate_of(s, n));
}

/* The rollout's steps as stored: a JSON array of weights (checked when it was started). */
static json_t *steps_of(const store_ab_test *t, skh_error *err)
{
    json_t *steps = json_loads(t->steps ? t->steps : "", 0, NULL);
    if (!json_is_array(steps) || json_array_size(steps) == 0) {
        json_decref(steps);
        error_set(err, SKH_ESTORE, t->test_id, "stored rollout steps are not a JSON array: %.80s",
                  t->steps ? t->steps : "(none)");
        return NULL;
    }
    return steps;
}

/*
 * What ab.lua and rollout.lua decide on.  *steps (may be NULL) receives the
 * rollout's steps, borrowed from the facts.
 */
static json_t *build_facts(const store_ab_test *t, json_t **steps_out, skh_error *err)
{
    int ok = 1;
    json_t *f = json_object();
    if (steps_out)
        *steps_out = NULL;
    put(f, "test_id", json_string(t->test_id), &ok);
    put(f, "skill", json_string(t->skill), &ok);
    put(f, "mode", json_string(t->mode), &ok);
    put(f, "weight", json_real(t->weight), &ok);
    put(f, "target", json_integer(t->target), &ok);
    put(f, "started_at", json_string(t->start_time), &ok);
    put(f, "min_p", json_real(t->min_p), &ok);
    put(f, "control",
        arm_facts(t->control, t->control_trials, t->control_successes, t->control_attempts), &ok);
    put(f, "treatment",
        arm_facts(t->treatment, t->treatment_trials, t->treatment_successes, t->treatment_attempts),
        &ok);
    if (ok && is_rollout(t)) {
        json_t *steps = steps_of(t, err);
        if (!steps) {
            json_decref(f);
            return NULL;
        }
        size_t count = json_array_size(steps);
        int last = (size_t)t->step + 1 >= count;
        json_t *step = json_object();
        put(step, "index", json_integer(t->step + 1), &ok);
        put(step, "count", json_integer((json_int_t)count), &ok);
        put(step, "weight", json_real(t->weight), &ok);
        put(step, "last", json_boolean(last), &ok);
        if (!last)
            put(step, "next", json_incref(json_array_get(steps, (size_t)t->step + 1)), &ok);
        put(step, "started_at", t->step_started_at ? json_string(t->step_started_at) : json_null(),
            &ok);
        put(step, "control", step_arm(t->step_control_trials, t->step_control_successes), &ok);
        put(step, "treatment", step_arm(t->step_treatment_trials, t->step_treatment_successes),
            &ok);
        put(f, "step", step, &ok);
        if (ok && steps_out)
            *steps_out = steps;
        put(f, "steps", steps, &ok);
    }
    if (!ok) {
        json_decref(f);
        if (steps_out)
            *steps_out = NULL;
        error_set(err, SKH_ENOMEM, t->test_id, "out of memory");
        return NULL;
    }
    return f;
}

/* ---- asking the policy ------------------------------------------------------------ */

static const char *policy_name(const store_ab_test *t)
{
    return is_rollout(t) ? "rollout" : "ab";
}

/*
 * Keep a policy failure: verdict "error" in decisions, and a line on stderr
 * (the news is the error; failing to record it must not hide it).  Mirrors
 * host_policy_decide, which does not hand back the policy's file and sha256
 * the verdicts need.
 */
static void record_policy_error(skh_host *host, const store_ab_test *t, json_t *facts,
                                const policy_info *info, const char *file, const char *msg)
{
    fprintf(stderr, "skillhost: %s (policy %s decided nothing)\n", msg, policy_name(t));
    json_t *seen = json_pack("{s:O?, s:s}", "facts", facts, "error", msg);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    store_decision d = {.skill = t->skill,
                        .variant_id = t->treatment,
                        .kind = policy_name(t),
                        .verdict = "error",
                        .observed = observed,
                        .policy_file = info->path[0] ? info->path : file,
                        .policy_sha256 = info->sha256};
    skh_error ignored;
    store_decision_add(host->st, &d, &ignored);
    free(observed);
    json_decref(seen);
}

/* The answer, checked and turned into a verdict (action -1: nothing to apply). */
typedef struct answer {
    int action; /* store_ab_action, or -1 */
    const char *reason;
    json_t *statistic, *thresholds; /* borrowed from the answer */
    double p;                       /* NAN when the answer gave none */
    double next_weight;
} answer;

static int bad_answer(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad_answer(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

static int on_win_action(json_t *a, char *why, size_t len)
{
    json_t *w = json_object_get(a, "on_win");
    const char *s = json_string_value(w);
    if (!w || json_is_null(w) || (s && strcmp(s, "promote") == 0))
        return STORE_AB_PROMOTE;
    if (s && strcmp(s, "await_approval") == 0)
        return STORE_AB_AWAIT;
    return bad_answer(why, len, "on_win must be \"promote\" or \"await_approval\", got %s",
                      s ? s : "a non-string");
}

/* 0 when the answer is usable, else -1 with why set. */
static int read_answer(const store_ab_test *t, json_t *steps, json_t *a, answer *out, char *why,
                       size_t len)
{
    memset(out, 0, sizeof *out);
    out->action = -1;
    out->p = NAN;
    json_t *reason = json_object_get(a, "reason");
    if (reason && !json_is_null(reason) && !json_is_string(reason))
        return bad_answer(why, len, "reason must be a string");
    out->reason = json_string_value(reason);
    out->statistic = json_object_get(a, "statistic");
    if (out->statistic && !json_is_object(out->statistic))
        out->statistic = NULL;
    out->thresholds = json_object_get(a, "thresholds");
    if (out->thresholds && !json_is_object(out->thresholds))
        out->thresholds = NULL;
    json_t *p = json_object_get(out->statistic, "p");
    if (p) {
        double v = json_number_value(p);
        if (!json_is_number(p) || !(v >= 0.0 && v <= 1.0))
            return bad_answer(why, len, "statistic.p must be a number in [0, 1]");
        out->p = v;
    }

    if (!is_rollout(t)) {
        json_t *w = json_object_get(a, "winner");
        const char *s = json_string_value(w);
        if (!w || json_is_null(w))
            return 0;
        if (s && strcmp(s, "control") == 0) {
            out->action = STORE_AB_ARCHIVE;
            return 0;
        }
        if (s && strcmp(s, "treatment") == 0)
            return (out->action = on_win_action(a, why, len)) < 0 ? -1 : 0;
        return bad_answer(why, len, "winner must be \"treatment\", \"control\" or nil, got %s",
                          s ? s : "a non-string");
    }

    const char *act = json_string_value(json_object_get(a, "action"));
    if (!act)
        return bad_answer(why, len,
                          "action must be \"advance\", \"hold\", \"stop\" or \"promote\"");
    if (strcmp(act, "hold") == 0)
        return 0;
    if (strcmp(act, "stop") == 0) {
        out->action = STORE_AB_STOP;
        return 0;
    }
    if (strcmp(act, "promote") == 0)
        return (out->action = on_win_action(a, why, len)) < 0 ? -1 : 0;
    if (strcmp(act, "advance") == 0) {
        json_t *next = json_array_get(steps, (size_t)t->step + 1);
        if (!next)
            return bad_answer(why, len, "action \"advance\" at the last step; answer \"promote\"");
        out->action = STORE_AB_ADVANCE;
        out->next_weight = json_number_value(next);
        return 0;
    }
    return bad_answer(why, len,
                      "action must be \"advance\", \"hold\", \"stop\" or \"promote\", got %s", act);
}

/*
 * read_answer with the message a policy error carries: the file, the
 * function and why.  The decision path and ab status both use it, so status
 * never shows as a verdict an answer the decision path would refuse.
 */
static int checked_answer(const store_ab_test *t, json_t *steps, json_t *a, const policy_info *info,
                          answer *out, char *msg, size_t len)
{
    char why[512];
    if (read_answer(t, steps, a, out, why, sizeof why) == 0)
        return 0;
    snprintf(msg, len, "%s: decide answered badly: %s", info->path, why);
    return -1;
}

static char *dump_or_null(json_t *j)
{
    return j ? json_dumps(j, SKH_JSON_FLAGS) : NULL;
}

/*
 * Tell hooks.lua, the audit log and the registry about a verdict once it is
 * committed.  Their failures are reported and recorded by hooks.c itself.
 */
static void announce(skh_host *host, const store_ab_test *t, const answer *ans)
{
    static const char *const kinds[] = {"ab_promotion", "ab_archive", "ab_await_approval",
                                        "rollout_advance", "rollout_stop"};
    static const char *const to_states[] = {"production", "archived", NULL, NULL, NULL};
    char ts[32];
    store_timestamp(ts);
    json_t *event = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kind", kinds[ans->action], "skill", t->skill,
        "variant", t->treatment, "reason", ans->reason ? ans->reason : "", "actor",
        is_rollout(t) ? "rollout.lua" : "ab.lua", "test_id", t->test_id, "timestamp", ts);
    if (!event)
        return;
    if (to_states[ans->action])
        json_object_set_new(event, "to_state", json_string(to_states[ans->action]));
    skh_error e;
    if (hooks_after_transition(host, event, &e) != SKH_OK)
        fprintf(stderr, "skillhost: %s: transition hooks failed: %s\n", e.what, e.message);
    json_decref(event);
}

/* Apply a checked answer: a verdict in one transaction, or just the look's p. */
static int apply_answer(skh_host *host, const store_ab_test *t, json_t *facts, json_t *a,
                        const answer *ans, const policy_info *info, skh_error *err)
{
    if (ans->action < 0)
        return isnan(ans->p) ? SKH_OK : store_ab_note_p(host->st, t->test_id, ans->p, err);

    json_t *seen = json_pack("{s:O, s:O}", "facts", facts, "answer", a);
    char *observed = dump_or_null(seen);
    char *statistic = dump_or_null(ans->statistic);
    char *thresholds = dump_or_null(ans->thresholds);
    json_decref(seen);
    int rc;
    if (!observed || (ans->statistic && !statistic) || (ans->thresholds && !thresholds)) {
        rc = error_set(err, SKH_ENOMEM, t->test_id, "out of memory");
    } else {
        store_ab_verdict v = {.test_id = t->test_id,
                              .action = (store_ab_action)ans->action,
                              .reason = ans->reason,
                              .statistic = statistic,
                              .p = ans->p,
                              .from_step = t->step,
                              .next_weight = ans->next_weight,
                              .observed = observed,
                              .thresholds = thresholds,
                              .policy_file = info->path,
                              .policy_sha256 = info->sha256};
        int applied = 0;
        rc = store_ab_apply(host->st, &v, &applied, err);
        if (rc == SKH_OK && applied)
            announce(host, t, ans);
    }
    free(observed);
    free(statistic);
    free(thresholds);
    return rc;
}

/*
 * A policy that fails or answers nonsense decides nothing: that is recorded
 * (decisions, verdict "error") and reported on stderr, and SKH_OK is
 * returned, because the request that triggered the look already succeeded.
 * Only a store failure is returned as an error.
 */
int ab_after_trial(skh_host *host, const char *test_id, skh_error *err)
{
    store_ab_test t;
    int rc = store_ab_get(host->st, test_id, &t, err);
    if (rc)
        return rc;
    if (!is_running(&t)) {
        store_ab_test_free(&t);
        return SKH_OK;
    }
    json_t *steps = NULL, *a = NULL, *latency = NULL;
    /* A look that is due runs first, so the verdict below sees it (and keeps it). */
    if ((rc = ab_latency(host, &t, 1, &latency, err)) != SKH_OK) {
        store_ab_test_free(&t);
        return rc;
    }
    json_t *facts = build_facts(&t, &steps, err);
    if (!facts || (latency && json_object_set_new(facts, "latency", latency) != 0)) {
        json_decref(facts);
        store_ab_test_free(&t);
        return err ? err->code : SKH_ENOMEM;
    }
    policy_info info = {{0}, {0}};
    skh_error perr;
    error_clear(&perr);
    rc = policy_decide(host->policies, policy_name(&t), "decide", facts, &a, &info, &perr);
    if (rc) {
        record_policy_error(host, &t, facts, &info, perr.what, perr.message);
        rc = SKH_OK;
    } else {
        answer ans;
        char msg[PATH_MAX + 560];
        if (checked_answer(&t, steps, a, &info, &ans, msg, sizeof msg) != 0) {
            record_policy_error(host, &t, facts, &info, info.path, msg);
        } else {
            rc = apply_answer(host, &t, facts, a, &ans, &info, err);
        }
    }
    json_decref(a);
    json_decref(facts);
    store_ab_test_free(&t);
    return rc;
}

/* ---- starting a test ----------------------------------------------------------------- */

/*
 * Weights in (0, 100], strictly increasing, ending at 100.  Bad steps are
 * the caller's (--steps: SKH_EINVAL) or the policy's (rollout.lua's steps():
 * SKH_EPLUGIN, category policy, like any other bad policy answer).
 */
static int check_steps(json_t *steps, const char *what, int code, int category, skh_error *err)
{
    size_t n = json_array_size(steps);
    if (!json_is_array(steps) || n == 0)
        return error_set_category(err, code, category, what,
                                  "steps must be a non-empty list of weights");
    if (n > AB_MAX_STEPS)
        return error_set_category(err, code, category, what, "%zu steps; at most %d", n,
                                  AB_MAX_STEPS);
    double prev = 0.0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(steps, i);
        double w = json_number_value(s);
        if (!json_is_number(s) || !(w > 0.0 && w <= 100.0))
            return error_set_category(err, code, category, what,
                                      "step %zu must be a weight in (0, 100]", i + 1);
        if (w <= prev)
            return error_set_category(err, code, category, what,
                                      "steps must increase strictly: %g follows %g", w, prev);
        prev = w;
    }
    if (prev != 100.0)
        return error_set_category(err, code, category, what, "the last step must be 100, got %g",
                                  prev);
    return SKH_OK;
}

/* "10, 50,100" -> [10, 50, 100] */
static int parse_steps(const char *text, json_t **out, skh_error *err)
{
    json_t *arr = json_array();
    *out = NULL;
    if (!arr)
        return error_set(err, SKH_ENOMEM, "--steps", "out of memory");
    const char *s = text;
    for (;;) {
        char *end;
        double w = strtod(s, &end);
        while (end != s && (*end == ' ' || *end == '\t'))
            end++;
        if (end == s || (*end != ',' && *end != '\0') || !isfinite(w)) {
            json_decref(arr);
            return error_set(err, SKH_EINVAL, "--steps",
                             "'%s' is not a list of weights like 10,50,100", text);
        }
        if (json_array_append_new(arr, json_real(w)) != 0) {
            json_decref(arr);
            return error_set(err, SKH_ENOMEM, "--steps", "out of memory");
        }
        if (*end == '\0')
            break;
        s = end + 1;
    }
    int rc = check_steps(arr, "--steps", SKH_EINVAL, SKH_ERR_NONE, err);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return SKH_OK;
}

/* The default steps: rollout.lua's steps() answers {steps = {10, 50, 100}}. */
static int policy_steps(skh_host *host, json_t **out, skh_error *err)
{
    json_t *a = NULL;
    policy_info info;
    *out = NULL;
    int rc = policy_decide(host->policies, "rollout", "steps", NULL, &a, &info, err);
    if (rc)
        return rc;
    json_t *steps = json_object_get(a, "steps");
    char what[PATH_MAX + 16];
    snprintf(what, sizeof what, "%s: steps()", info.path);
    rc = check_steps(steps, what, SKH_EPLUGIN, SKH_ERR_POLICY, err);
    if (rc == SKH_OK)
        *out = json_incref(steps);
    json_decref(a);
    return rc;
}

SKH_EXPORT int skh_ab_start(skh_host *host, const skh_ab_spec *spec_in, char **test_id,
                            skh_error *err)
{
    skh_ab_spec spec;
    memset(&spec, 0, sizeof spec);
    *test_id = NULL;
    error_clear(err);
    if (!spec_in || spec_in->struct_size == 0)
        return error_set(err, SKH_EINVAL, "skh_ab_spec", "struct_size is not set");
    /* A caller built against an older, shorter spec gets zeros for the newer fields. */
    memcpy(&spec, spec_in, spec_in->struct_size < sizeof spec ? spec_in->struct_size : sizeof spec);
    if (!name_is_valid(spec.skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         spec.skill ? spec.skill : "");
    if (!spec.treatment || !*spec.treatment)
        return error_set(err, SKH_EINVAL, "--treatment", "is required (%s@vN)", spec.skill);
    if (!(spec.weight >= 0.0 && spec.weight <= 100.0))
        return error_set(err, SKH_EINVAL, "--weight", "must be a percentage in (0, 100], got %g",
                         spec.weight);
    if (spec.target < 0)
        return error_set(err, SKH_EINVAL, "--target", "must be at least 1, got %ld", spec.target);
    if (spec.steps && !spec.rollout)
        return error_set(err, SKH_EINVAL, "--steps", "only applies to a rollout (--rollout)");

    double weight = spec.weight;
    json_t *steps = NULL;
    char *steps_json = NULL;
    int rc = SKH_OK;
    if (spec.rollout) {
        rc = spec.steps ? parse_steps(spec.steps, &steps, err) : policy_steps(host, &steps, err);
        if (rc)
            return rc;
        double first = json_number_value(json_array_get(steps, 0));
        if (weight == 0.0)
            weight = first;
        if (weight != first)
            rc = error_set(err, SKH_EINVAL, "--weight",
                           "a rollout starts at its first step (%g%%), not %g%%; change the "
                           "steps instead",
                           first, weight);
        else if (!(steps_json = json_dumps(steps, SKH_JSON_FLAGS)))
            rc = error_set(err, SKH_ENOMEM, spec.skill, "out of memory");
        json_decref(steps);
    } else if (weight == 0.0) {
        weight = AB_DEFAULT_WEIGHT;
    }
    if (rc == SKH_OK) {
        store_ab_new n = {.skill = spec.skill,
                          .treatment = spec.treatment,
                          .weight = weight,
                          .target = spec.target ? spec.target : AB_DEFAULT_TARGET,
                          .mode = spec.rollout ? "rollout" : "ab",
                          .steps = steps_json};
        rc = store_ab_create(host->st, &n, test_id, err);
    }
    free(steps_json);
    return rc;
}

SKH_EXPORT int skh_ab_stop(skh_host *host, const char *skill, const char *reason, skh_error *err)
{
    error_clear(err);
    if (!name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    return store_ab_stop(host->st, skill, reason, NULL, err);
}

/* ---- status ---------------------------------------------------------------------------- */

static json_t *arm_status(const char *variant, long long n, long long s, long long attempts)
{
    double lo = 0, hi = 1;
    stats_wilson((long)s, (long)n, 0.95, &lo, &hi);
    json_t *a = arm_facts(variant, n, s, attempts);
    int ok = a != NULL;
    put(a, "interval", json_pack("[f, f]", lo, hi), &ok);
    if (!ok) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/*
 * What the test has cost so far: the successes lost by sending requests to
 * the arm that is worse, compared with serving the better arm only.  With d
 * = treatment rate - control rate, that is n_c * d when the treatment is
 * better and n_t * -d when the control is.  Its range comes from Newcombe's
 * hybrid score interval for d (from the two Wilson intervals): while that
 * interval holds 0, either arm may be the better one, so the low end is 0
 * and the high end the larger of the two ways of being wrong.
 */
static void add_regret(json_t *j, const store_ab_test *t, int *ok)
{
    long sc = (long)t->control_successes, nc = (long)t->control_trials;
    long st = (long)t->treatment_successes, nt = (long)t->treatment_trials;
    double rc = rate_of(sc, nc), rt = rate_of(st, nt), d = rt - rc;
    double lc = 0, uc = 1, lt = 0, ut = 1;
    stats_wilson(sc, nc, 0.95, &lc, &uc);
    stats_wilson(st, nt, 0.95, &lt, &ut);
    double lo = d - sqrt((rt - lt) * (rt - lt) + (uc - rc) * (uc - rc));
    double hi = d + sqrt((ut - rt) * (ut - rt) + (rc - lc) * (rc - lc));
    double cost = d > 0 ? (double)nc * d : d < 0 ? (double)nt * -d : 0.0;
    double cost_lo = lo > 0 ? (double)nc * lo : hi < 0 ? (double)nt * -hi : 0.0;
    double cost_hi = fmax((double)nc * fmax(0.0, hi), (double)nt * fmax(0.0, -lo));
    const char *better = nc == 0 || nt == 0 ? "unknown"
                         : lo > 0           ? "treatment"
                         : hi < 0           ? "control"
                                            : "unclear";
    put(j, "regret",
        json_pack("{s:s, s:I, s:I, s:f, s:[f, f], s:[f, f]}", "better_arm", better,
                  "control_requests", (json_int_t)nc, "treatment_requests", (json_int_t)nt,
                  "lost_successes", cost, "interval", cost_lo, cost_hi, "difference_interval", lo,
                  hi),
        ok);
}

/* The numbers the default tau and alpha give, next to the policy's own in policy_now. */
static void add_statistics(json_t *j, const store_ab_test *t, int *ok)
{
    long sc = (long)t->control_successes, nc = (long)t->control_trials;
    long st = (long)t->treatment_successes, nt = (long)t->treatment_trials;
    /* Counts a hand edit broke (s > n) give "no evidence", not garbage. */
    stats_ztest z = {.z = 0, .p_two_sided = 1, .p_one_sided = 1};
    stats_seq q = {.log_lr = 0, .p = 1, .verdict = 0, .ci_lo = -1, .ci_hi = 1};
    stats_two_proportion_z(sc, nc, st, nt, &z);
    stats_msprt(sc, nc, st, nt, STATS_MSPRT_TAU, STATS_MSPRT_ALPHA, &q);
    put(j, "difference", json_real(rate_of(st, nt) - rate_of(sc, nc)), ok);
    put(j, "ztest",
        json_pack("{s:o, s:o, s:o}", "z", real(z.z), "p_two_sided", real(z.p_two_sided),
                  "p_one_sided", real(z.p_one_sided)),
        ok);
    put(j, "prob_beats", real(stats_prob_beats(sc, nc, st, nt)), ok);
    put(j, "msprt",
        json_pack("{s:f, s:f, s:o, s:o, s:i, s:f, s:[o, o]}", "tau", STATS_MSPRT_TAU, "alpha",
                  STATS_MSPRT_ALPHA, "log_lr", real(q.log_lr), "p", real(q.p), "verdict", q.verdict,
                  "running_min_p", t->min_p, "interval", real(q.ci_lo), real(q.ci_hi)),
        ok);

    /* A rollout's weight changes per step: only the step's own counts share one split. */
    long long srm_c = is_rollout(t) ? t->step_control_trials : t->control_trials;
    long long srm_t = is_rollout(t) ? t->step_treatment_trials : t->treatment_trials;
    double share = t->weight / 100.0;
    double p = share > 0.0 && share < 1.0 ? stats_srm_p((long)srm_c, (long)srm_t, share) : NAN;
    put(j, "srm",
        json_pack("{s:o, s:f, s:I, s:I, s:b}", "p", real(p), "expected_share", share, "control",
                  (json_int_t)srm_c, "treatment", (json_int_t)srm_t, "warning",
                  isfinite(p) && p < AB_SRM_WARN),
        ok);

    add_regret(j, t, ok);

    double cm = rate_of(t->control_attempts, t->control_trials);
    double tm = rate_of(t->treatment_attempts, t->treatment_trials);
    put(j, "guardrail",
        json_pack("{s:s, s:f, s:f, s:f}", "metric", "attempts_mean", "control", cm, "treatment", tm,
                  "difference", tm - cm),
        ok);
}

/* What the policy would decide now, applying nothing and recording nothing. */
static void add_policy_now(skh_host *host, json_t *j, const store_ab_test *t, int *ok)
{
    if (!is_running(t)) {
        put(j, "policy_now", json_null(), ok);
        return;
    }
    skh_error perr;
    error_clear(&perr);
    json_t *steps = NULL, *a = NULL, *latency = NULL;
    json_t *facts = build_facts(t, &steps, &perr);
    /* Only the looks already taken: asking the policy here records nothing. */
    if (facts && ab_latency(host, t, 0, &latency, &perr) == SKH_OK && latency)
        json_object_set_new(facts, "latency", latency);
    policy_info info = {{0}, {0}};
    int rc = facts
                 ? policy_decide(host->policies, policy_name(t), "decide", facts, &a, &info, &perr)
                 : perr.code;
    answer ans;
    char msg[PATH_MAX + 560];
    if (rc)
        put(j, "policy_now", json_pack("{s:s}", "error", perr.message), ok);
    else if (checked_answer(t, steps, a, &info, &ans, msg, sizeof msg) != 0)
        put(j, "policy_now", json_pack("{s:s}", "error", msg), ok);
    else
        put(j, "policy_now", json_incref(a), ok);
    put(j, "policy",
        json_pack("{s:s, s:s, s:s}", "name", policy_name(t), "file", info.path, "sha256",
                  info.sha256),
        ok);
    json_decref(a);
    json_decref(facts);
}

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *status_json(skh_host *host, const store_ab_test *t, skh_error *err)
{
    int ok = 1;
    json_t *j = json_object();
    put(j, "test_id", json_string(t->test_id), &ok);
    put(j, "skill", json_string(t->skill), &ok);
    put(j, "mode", json_string(t->mode), &ok);
    put(j, "status", json_string(t->status), &ok);
    put(j, "live",
        json_boolean(is_running(t) || (t->status && strcmp(t->status, "awaiting_approval") == 0)),
        &ok);
    put(j, "weight", json_real(t->weight), &ok);
    put(j, "target", json_integer(t->target), &ok);
    put(j, "start_time", text_or_null(t->start_time), &ok);
    put(j, "end_time", text_or_null(t->end_time), &ok);
    put(j, "decided_at", text_or_null(t->decided_at), &ok);
    put(j, "decision", text_or_null(t->decision), &ok);
    put(j, "reason", text_or_null(t->reason), &ok);
    json_t *stat = t->statistic ? json_loads(t->statistic, 0, NULL) : NULL;
    put(j, "statistic", stat ? stat : json_null(), &ok);
    put(j, "min_p", json_real(t->min_p), &ok);
    put(j, "control",
        arm_status(t->control, t->control_trials, t->control_successes, t->control_attempts), &ok);
    put(j, "treatment",
        arm_status(t->treatment, t->treatment_trials, t->treatment_successes,
                   t->treatment_attempts),
        &ok);
    if (ok)
        add_statistics(j, t, &ok);
    if (ok && is_rollout(t)) {
        json_t *steps = steps_of(t, err);
        if (!steps) {
            json_decref(j);
            return NULL;
        }
        json_int_t count = (json_int_t)json_array_size(steps);
        put(j, "steps", steps, &ok);
        put(j, "step",
            json_pack("{s:i, s:I, s:f, s:o, s:o, s:o}", "index", t->step + 1, "count", count,
                      "weight", t->weight, "started_at", text_or_null(t->step_started_at),
                      "control", step_arm(t->step_control_trials, t->step_control_successes),
                      "treatment", step_arm(t->step_treatment_trials, t->step_treatment_successes)),
            &ok);
    }
    if (ok) {
        json_t *latency = NULL;
        skh_error lerr;
        /* A store error here leaves the comparison out; status still answers. */
        ab_latency(host, t, 0, &latency, &lerr);
        put(j, "latency", latency ? latency : json_null(), &ok);
    }
    if (ok)
        add_policy_now(host, j, t, &ok);
    if (!ok) {
        json_decref(j);
        error_set(err, SKH_ENOMEM, t->test_id, "out of memory");
        return NULL;
    }
    return j;
}

SKH_EXPORT int skh_ab_status(skh_host *host, const char *skill, char **json, skh_error *err)
{
    store_ab_test t;
    *json = NULL;
    error_clear(err);
    if (!name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    int rc = store_ab_latest(host->st, skill, &t, err);
    if (rc)
        return rc;
    json_t *j = status_json(host, &t, err);
    store_ab_test_free(&t);
    if (!j)
        return err ? err->code : SKH_ENOMEM;
    *json = json_dumps(j, SKH_JSON_FLAGS);
    json_decref(j);
    return *json ? SKH_OK : error_set(err, SKH_ENOMEM, skill, "out of memory");
}
