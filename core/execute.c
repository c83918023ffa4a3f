/*
 * execute_skill (DESIGN §2): resolve the variant, run attempts, score and
 * record each one, recover from errors as recovery.lua says, and retry
 * ReAct-style while the fidelity stays under the bar.
 *
 * Two loops, one budget (DESIGN §2 "Retry at one layer"):
 *   - a ReAct iteration re-runs the skill with what went wrong
 *     (_react_retry, _previous_attempt) while fidelity < threshold;
 *   - inside an iteration, a failed call is retried after the backoff
 *     recovery.lua asks for, at most recovery.max_retries times, its input
 *     carrying the error in _previous_attempt; "skip" (bad input) and
 *     "fail" end the request at once.
 * So a request makes at most max_iterations x (1 + max_retries) calls, and
 * the request deadline bounds both: no call starts and no backoff ends after
 * it.
 *
 * Every call is recorded in its own transaction as soon as it is scored, so a
 * crash between attempts loses nothing already run; the last one also carries
 * the request's bookkeeping (learning event, request and retry counters).
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"
#include "breaker.h"
#include "error.h"
#include "evolve.h"
#include "host_internal.h"
#include "lifecycle.h"
#include "router.h"
#include "result.h"
#include "scoring.h"

/* What the request does after a call. */
typedef enum { NEXT_END, NEXT_RETRY_SAME, NEXT_ITERATION } next_step;

typedef struct request {
    skh_host *host;
    plugin *p;
    const store_variant *v;
    const char *skill;
    const char *input_json; /* the caller's text, which parsed */
    json_t *expected;       /* the variant's patterns, parsed once per request */
    const skh_exec_options *opts;
    skh_result *r;
    int max_iter;
    int max_retries;
    double started_ms;
    double deadline_ms;  /* absolute, on the host clock; INFINITY for none */
    const char *test_id; /* the A/B test this request is a trial of, or NULL */
    int arm;             /* 0 control, 1 treatment */
    int breaker_failure; /* the request failed in a way recovery.lua counts toward the breaker */
    int breaker_clean;   /* routing found the variant's breaker with nothing to reset */
    char fallback_from[160]; /* the variant whose open breaker sent us elsewhere, or "" */
    /* The request's context (request_context), owned; NULL when the caller gave none. */
    char *context;
    char *alternatives, *follow_ups; /* JSON arrays of the comma lists, owned, or NULL */
    int selection_rank;
} request;

/* The members appended to skh_exec_options, when the caller's struct has them. */
#define EXEC_OPTS_HAS(o, member)                                                                   \
    ((o) && (o)->struct_size >= offsetof(skh_exec_options, member) + sizeof((o)->member))

/* "a, b,,c" -> ["a","b","c"]; NULL or nothing but commas -> NULL. */
static int comma_list(const char *text, char **json, skh_error *err)
{
    *json = NULL;
    if (!text)
        return SKH_OK;
    json_t *a = json_array();
    const char *p = text;
    while (a && *p) {
        size_t n = strcspn(p, ",");
        size_t b = 0, e = n;
        while (b < e && (p[b] == ' ' || p[b] == '\t'))
            b++;
        while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t'))
            e--;
        if (e > b && json_array_append_new(a, json_stringn(p + b, e - b)) != 0) {
            json_decref(a);
            a = NULL;
        }
        p += n + (p[n] == ',');
    }
    if (a && json_array_size(a) > 0 && !(*json = json_dumps(a, SKH_JSON_FLAGS))) {
        json_decref(a);
        a = NULL;
    }
    if (!a)
        return error_set(err, SKH_ENOMEM, "context", "out of memory");
    json_decref(a);
    return SKH_OK;
}

/*
 * The context every call of the request sees (skh_context(), Lua ctx.phase,
 * SKILLHOST_CONTEXT): only what the caller gave.
 */
static int request_context(request *q, skh_error *err)
{
    const skh_exec_options *o = q->opts;
    if (!o)
        return SKH_OK;
    int rc = SKH_OK;
    if (EXEC_OPTS_HAS(o, selection_rank)) {
        if (o->selection_rank < 0)
            return error_set(err, SKH_EINVAL, "selection_rank", "%d is not a rank (1, 2, ...)",
                             o->selection_rank);
        q->selection_rank = o->selection_rank;
        rc = comma_list(o->alternatives_considered, &q->alternatives, err);
        if (rc == SKH_OK)
            rc = comma_list(o->follow_up_actions, &q->follow_ups, err);
        if (rc)
            return rc;
    }
    if (!o->session_id && !o->workflow_phase && !o->user_query && !o->tenant && !q->alternatives &&
        !q->follow_ups && !q->selection_rank)
        return SKH_OK;
    json_t *c = json_object();
    int bad = !c;
    const char *names[] = {"session", "phase", "query", "tenant"};
    const char *values[] = {o->session_id, o->workflow_phase, o->user_query, o->tenant};
    for (int i = 0; !bad && i < 4; i++)
        if (values[i])
            bad = json_object_set_new(c, names[i], json_string(values[i])) != 0;
    if (!bad && q->alternatives)
        bad = json_object_set_new(c, "alternatives_considered",
                                  json_loads(q->alternatives, 0, NULL)) != 0;
    if (!bad && q->selection_rank)
        bad = json_object_set_new(c, "selection_rank", json_integer(q->selection_rank)) != 0;
    if (!bad && q->follow_ups)
        bad = json_object_set_new(c, "follow_up_actions", json_loads(q->follow_ups, 0, NULL)) != 0;
    if (!bad)
        bad = !(q->context = json_dumps(c, SKH_JSON_FLAGS | JSON_SORT_KEYS));
    json_decref(c);
    if (bad)
        return error_set(err, SKH_ENOMEM, "context", "out of memory");
    return SKH_OK;
}

/* The request's event sink, forwarded from the call (call.h observe). */
static void request_observe(void *ud, int kind, int level, const char *text)
{
    const request *q = ud;
    skh_event ev = {
        .kind = kind, .attempt = q->r ? q->r->nattempts : 0, .level = level, .text = text};
    q->opts->on_event(q->opts->event_ud, &ev);
}

static int request_cancelled(const request *q)
{
    return EXEC_OPTS_HAS(q->opts, cancel) && q->opts->cancel &&
           __atomic_load_n(q->opts->cancel, __ATOMIC_RELAXED) != 0;
}

/* The request's knobs: flag > environment > workspace > default (DESIGN §9). */
static void request_settings(request *q)
{
    const config *c = &q->host->cfg;
    const skh_exec_options *o = q->opts;
    int react = config_num(c, CFG_REACT_ENABLED) != 0;
    double timeout = config_num(c, CFG_REQUEST_TIMEOUT_MS);

    q->max_iter = (int)config_num(c, CFG_REACT_MAX_ITER);
    q->r->threshold = config_num(c, CFG_REACT_FIDELITY);
    q->max_retries = (int)config_num(c, CFG_RECOVERY_MAX_RETRIES);
    if (o && o->react >= 0)
        react = o->react != 0;
    if (o && o->max_iterations > 0)
        q->max_iter = o->max_iterations;
    if (o && o->threshold >= 0)
        q->r->threshold = o->threshold;
    if (o && o->timeout_ms != 0)
        timeout = o->timeout_ms;
    if (!react)
        q->max_iter = 1;
    q->started_ms = host_now_ms(q->host);
    q->deadline_ms = timeout > 0 ? q->started_ms + timeout : INFINITY;
}

/* What a retry tells the skill about the attempt before it. */
static json_t *previous_attempt(unsigned n, const attempt_rec *a, const scores *sc)
{
    char feedback[512];
    json_t *missed = json_loads(a->missed_json ? a->missed_json : "[]", 0, NULL);
    if (a->category)
        snprintf(feedback, sizeof feedback, "failed with %s: %s", skh_category_name(a->category),
                 a->message ? a->message : "");
    else
        snprintf(feedback, sizeof feedback,
                 "followed %d of %d expected patterns (fidelity %.2f)%s%s", sc->followed,
                 sc->followed + sc->missed, a->fidelity,
                 a->failed_at_step ? "; first missed: " : "",
                 a->failed_at_step ? a->failed_at_step : "");
    json_t *err = a->category ? json_pack("{s:s, s:s}", "category", skh_category_name(a->category),
                                          "message", a->message ? a->message : "")
                              : json_null();
    return json_pack(
        "{s:I, s:f, s:o, s:o, s:o, s:s}", "attempt", (json_int_t)n, "fidelity", a->fidelity,
        "failed_at_step", a->failed_at_step ? json_string(a->failed_at_step) : json_null(),
        "patterns_missed", missed ? missed : json_array(), "error", err, "feedback", feedback);
}

static json_t *steps_array(const skh_call *call)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < call->nsteps; i++)
        json_array_append_new(a, json_string(call->steps[i]));
    return a;
}

/*
 * The plugin's output must be one JSON object; anything else makes the
 * attempt a crash of the skill, not of the host.
 */
static json_t *checked_output(skh_call *call)
{
    if (call->category || !call->output)
        return NULL;
    json_error_t jerr;
    json_t *o = json_loads(call->output, 0, &jerr);
    if (json_is_object(o))
        return o;
    json_decref(o);
    char msg[400];
    if (o)
        snprintf(msg, sizeof msg, "output is JSON but not an object");
    else
        snprintf(msg, sizeof msg, "output is not JSON: line %d, column %d: %s", jerr.line,
                 jerr.column, jerr.text);
    free(call->output);
    call->output = NULL;
    call->finished = 0;
    call_fail(call, SKH_ERR_CRASH, msg);
    return NULL;
}

static attempt_rec *new_attempt(skh_result *r)
{
    if (r->nattempts == r->capattempts) {
        unsigned cap = r->capattempts ? r->capattempts * 2 : 4;
        attempt_rec *grown = realloc(r->attempts, cap * sizeof *grown);
        if (!grown)
            return NULL;
        r->attempts = grown;
        r->capattempts = cap;
    }
    attempt_rec *a = &r->attempts[r->nattempts++];
    memset(a, 0, sizeof *a);
    return a;
}

/*
 * Ask recovery.lua what to do about a failed call.  Returns the next step
 * and, for a retry, the wait; a policy that cannot answer fails safe.
 */
static next_step recover(request *q, attempt_rec *a, unsigned retry, double *wait_ms)
{
    double now = host_now_ms(q->host);
    json_t *facts =
        json_pack("{s:s, s:s, s:I, s:I, s:f, s:s, s:s}", "category", skh_category_name(a->category),
                  "message", a->message ? a->message : "", "retry", (json_int_t)retry, "attempt",
                  (json_int_t)q->r->nattempts, "elapsed_ms", now - q->started_ms, "skill", q->skill,
                  "variant", q->v->variant_id);
    /* No deadline, no key: nil in Lua, so `facts.remaining_ms and ...` reads naturally. */
    if (facts && !isinf(q->deadline_ms) &&
        json_object_set_new(facts, "remaining_ms", json_real(q->deadline_ms - now))) {
        json_decref(facts);
        facts = NULL;
    }
    json_t *d = NULL;
    skh_error perr;
    error_clear(&perr);
    next_step next = NEXT_END;
    const char *action = NULL;
    char note[256] = "";

    if (facts && host_policy_decide(q->host, "recovery", "decide", facts, q->skill,
                                    q->v->variant_id, &d, &perr) == SKH_OK)
        action = json_string_value(json_object_get(d, "action"));
    if (action && strcmp(action, "retry") == 0) {
        double delay = json_number_value(json_object_get(d, "delay_ms"));
        const char *jitter = json_string_value(json_object_get(d, "jitter"));
        if (!(delay >= 0) || !isfinite(delay))
            delay = 0;
        /* Full jitter (AWS architecture blog): uniform in [0, delay). */
        *wait_ms = jitter && strcmp(jitter, "full") == 0 ? host_random(q->host) * delay : delay;
        if ((int)retry >= q->max_retries)
            snprintf(note, sizeof note, "recovery.max_retries (%d) reached", q->max_retries);
        else if (now + *wait_ms > q->deadline_ms)
            snprintf(note, sizeof note, "a %.0f ms wait would overrun the request deadline",
                     *wait_ms);
        else
            next = NEXT_RETRY_SAME;
    } else if (action && strcmp(action, "skip") == 0) {
        /* Bad input, not a bad variant: no retry of any kind, and no trial against it. */
        q->r->skipped = 1;
    } else if (!action || strcmp(action, "fail") != 0) {
        snprintf(note, sizeof note, "%.200s", d ? "unknown action: failing safe" : perr.message);
    }
    q->breaker_failure = json_is_true(json_object_get(d, "breaker"));
    json_t *kept = d ? json_deep_copy(d) : json_pack("{s:s}", "action", "fail");
    if (kept && note[0])
        json_object_set_new(kept, "overruled", json_string(note));
    if (kept && next == NEXT_RETRY_SAME)
        json_object_set_new(kept, "wait_ms", json_real(*wait_ms));
    a->recovery = kept ? json_dumps(kept, SKH_JSON_FLAGS) : NULL;
    json_decref(kept);
    json_decref(d);
    json_decref(facts);
    return next;
}

/*
 * Invoke, validate, score.  On SKH_OK the call, output, scores and the
 * breadcrumbs as JSON text (*steps_text) belong to the caller.
 */
static int run_call(request *q, const char *input_text, unsigned n, attempt_rec *a, skh_call *call,
                    json_t *input, json_t **output, scores *sc, char **steps_text, skh_error *err)
{
    call_init(call, input_text, q->v->content, q->v->patterns, n, q->p->name);
    call->context = q->context;
    if (EXEC_OPTS_HAS(q->opts, on_event) && q->opts->on_event) {
        skh_event ev = {.kind = SKH_EVENT_ATTEMPT, .attempt = n, .text = q->v->variant_id};
        q->opts->on_event(q->opts->event_ud, &ev);
        call->observe = request_observe;
        call->observe_ud = q;
    }
    double t0 = host_now_ms(q->host);
    /* The call may take the request's time left (DESIGN §3.4); none: the loader's own limit. */
    if (!isinf(q->deadline_ms))
        call->timeout_ms = q->deadline_ms - t0 > 1 ? q->deadline_ms - t0 : 1;
    int rc = q->p->ops->invoke(q->p, "execute", call, err);
    a->duration_ms = host_now_ms(q->host) - t0;
    if (rc == SKH_OK && call->oom)
        rc = error_set(err, SKH_ENOMEM, q->skill, "out of memory while recording the call");
    if (rc)
        return rc;
    *output = checked_output(call);
    a->category = call->category;
    a->message = call->message ? strdup(call->message) : NULL;
    uuid_v7(a->execution_id);

    json_t *steps = steps_array(call);
    *steps_text = steps ? json_dumps(steps, JSON_COMPACT) : NULL;
    json_decref(steps);
    scoring_input si = {.input = input,
                        .output = *output,
                        .steps = (const char *const *)call->steps,
                        .nsteps = call->nsteps,
                        .expected = q->expected,
                        .failed = call->category != SKH_ERR_NONE,
                        .context = q->context};
    rc = *steps_text ? scoring_run(&si, sc, err)
                     : error_set(err, SKH_ENOMEM, q->skill, "out of memory");
    if (rc)
        return rc;
    a->fidelity = sc->fidelity;
    a->failed_at_step = sc->failed_at_step ? strdup(sc->failed_at_step) : NULL;
    a->missed_json = strdup(sc->missed_json);
    return SKH_OK;
}

static int record_call(request *q, const char *request_id, const char *input_text, unsigned n,
                       const attempt_rec *a, const skh_call *call, const json_t *output,
                       const scores *sc, const char *steps_text, const store_request_end *end,
                       skh_error *err)
{
    char ts[32];
    store_timestamp(ts);
    const skh_exec_options *o = q->opts;
    store_execution ex = {
        .execution_id = a->execution_id,
        .request_id = request_id,
        .skill = q->skill,
        .variant_id = q->v->variant_id,
        .attempt = n,
        .timestamp = ts,
        .input = input_text,
        .output = output ? call->output : NULL,
        .steps = steps_text,
        .category = call->category,
        .error_message = call->message,
        .fidelity = sc->fidelity,
        .patterns_followed = sc->followed,
        .patterns_missed = sc->missed,
        .missed = sc->missed_json,
        .failed_at_step = sc->failed_at_step,
        .decision = sc->decision,
        .correct = sc->correct,
        .confidence = sc->confidence,
        .reasoning = sc->reasoning,
        .duration_ms = a->duration_ms,
        .session_id = o ? o->session_id : NULL,
        .workflow_phase = o ? o->workflow_phase : NULL,
        .user_query = o ? o->user_query : NULL,
        .tenant = o ? o->tenant : NULL,
        .evaluation = o ? o->evaluation : 0,
        .fallback_from = q->fallback_from[0] ? q->fallback_from : NULL,
        /* recover() ran before the record: a skip ends the request with this attempt. */
        .skipped = q->r->skipped,
        .expected = o ? o->expected : NULL,
        .critical = o ? o->critical : 0,
        .end = end,
        .alternatives_considered = q->alternatives,
        .follow_up_actions = q->follow_ups,
        .selection_rank = q->selection_rank,
    };
    return store_record_execution(q->host->st, &ex, err);
}

/* The input of the next ReAct iteration: the original plus what went wrong. */
static json_t *retry_input(json_t *input, unsigned n, const attempt_rec *a, const scores *sc)
{
    json_t *next = json_deep_copy(input);
    json_t *prev = previous_attempt(n, a, sc);
    if (!next || !prev || json_object_set_new(next, "_react_retry", json_true()) ||
        json_object_set_new(next, "_previous_attempt", prev)) {
        json_decref(next);
        return NULL;
    }
    return next;
}

/*
 * The attempt loop.  Returns SKH_OK with the final output in r->output,
 * SKH_EFAILED when the last call failed, SKH_ESTORE when some call could not
 * be recorded (the result is complete anyway), or another code when a call
 * could not run at all.
 */
static int run_request(request *q, json_t *input, skh_error *err)
{
    skh_result *r = q->r;
    json_t *attempt_input = json_incref(input);
    json_t *final_output = NULL;
    unsigned iteration = 1, retry = 0;
    int rc = SKH_OK, store_rc = SKH_OK;
    skh_error store_err;
    double before = NAN;

    for (unsigned n = 1;; n++) {
        /* The first attempt runs on the caller's own text, which parsed: no need to print it.
         */
        char *printed = attempt_input == input ? NULL : json_dumps(attempt_input, JSON_COMPACT);
        const char *input_text = attempt_input == input ? q->input_json : printed;
        attempt_rec *a = input_text ? new_attempt(r) : NULL;
        if (!a) {
            free(printed);
            rc = error_set(err, SKH_ENOMEM, q->skill, "out of memory");
            break;
        }
        a->iteration = iteration;
        skh_call call;
        json_t *output = NULL;
        scores sc;
        char *steps_text = NULL;
        memset(&sc, 0, sizeof sc);
        rc = run_call(q, input_text, n, a, &call, attempt_input, &output, &sc, &steps_text, err);
        if (rc) {
            /* Nothing ran, or it could not be scored: not an attempt to record. */
            call_release(&call);
            scores_release(&sc);
            json_decref(output);
            free(steps_text);
            free(printed);
            r->nattempts--;
            free(a->message);
            free(a->failed_at_step);
            free(a->missed_json);
            break;
        }
        if (isnan(before))
            before = a->fidelity;

        /* Decide what comes next before recording, so the last record can close the request. */
        double wait_ms = 0;
        next_step next;
        int success = !a->category && a->fidelity >= r->threshold;
        if (a->category)
            next = recover(q, a, retry, &wait_ms);
        else
            next = !success && iteration < (unsigned)q->max_iter ? NEXT_ITERATION : NEXT_END;
        if (next != NEXT_END &&
            host_now_ms(q->host) + (next == NEXT_RETRY_SAME ? wait_ms : 0) >= q->deadline_ms)
            next = NEXT_END; /* no call may start after the deadline */
        if (next != NEXT_END && request_cancelled(q)) {
            next = NEXT_END; /* the caller gave up: this attempt is the request's last */
            r->cancelled = 1;
        }

        char description[160];
        store_request_end end = {.attempts = n,
                                 .before_fidelity = before,
                                 .after_fidelity = a->fidelity,
                                 .description = description,
                                 .test_id = r->skipped ? NULL : q->test_id,
                                 .arm = q->arm,
                                 /* a labelled request decided wrong is no success */
                                 .success = success && sc.correct != 0};
        snprintf(description, sizeof description, "%u attempt%s, fidelity %.2f -> %.2f, %s", n,
                 n == 1 ? "" : "s", before, a->fidelity,
                 a->category ? skh_category_name(a->category)
                 : success   ? "met the threshold"
                             : "below the threshold");
        int wrc = record_call(q, r->request_id, input_text, n, a, &call, output, &sc, steps_text,
                              next == NEXT_END ? &end : NULL, err);
        if (wrc && store_rc == SKH_OK) {
            /* Keep going: the caller still gets the output, marked recorded: false. */
            store_rc = wrc;
            store_err = *err;
            r->recorded = 0;
        }

        /* Every retry, a recovery's too, tells the skill what went wrong (DESIGN §2 step 3). */
        json_t *following = NULL;
        if (next != NEXT_END && !(following = retry_input(input, n, a, &sc))) {
            rc = error_set(err, SKH_ENOMEM, q->skill, "out of memory");
            next = NEXT_END;
        }
        call_release(&call);
        scores_release(&sc);
        free(steps_text);
        free(printed);
        json_decref(final_output);
        final_output = output;

        if (next == NEXT_END) {
            r->met_threshold = success;
            r->early_success = success && iteration < (unsigned)q->max_iter;
            break;
        }
        json_decref(attempt_input);
        attempt_input = following;
        if (next == NEXT_RETRY_SAME) {
            host_sleep_ms(q->host, wait_ms);
            retry++;
        } else {
            iteration++;
            retry = 0;
        }
    }
    json_decref(attempt_input);

    /* Sorted keys: the same output reads the same whatever language the plugin is in. */
    if (rc == SKH_OK && final_output &&
        !(r->output = json_dumps(final_output, SKH_JSON_FLAGS | JSON_SORT_KEYS)))
        rc = error_set(err, SKH_ENOMEM, q->skill, "out of memory");
    json_decref(final_output);
    if (rc == SKH_OK && store_rc) {
        rc = store_rc;
        *err = store_err;
    } else if (rc == SKH_OK && !r->output && r->nattempts > 0) {
        const attempt_rec *last = &r->attempts[r->nattempts - 1];
        rc = error_set_category(err, SKH_EFAILED, last->category, q->skill, "%s error: %s",
                                skh_category_name(last->category),
                                last->message ? last->message : "");
    }
    return rc;
}

/* A key for a request that brought none: each such request draws its own arm. */
static void random_key(skh_host *host, char key[33])
{
    uint64_t hi = (uint64_t)(host_random(host) * 18446744073709551616.0);
    uint64_t lo = (uint64_t)(host_random(host) * 18446744073709551616.0);
    snprintf(key, 33, "%016llx%016llx", (unsigned long long)hi, (unsigned long long)lo);
}

/*
 * Steps 1-2 of DESIGN §2: an explicit --variant runs as asked (and is no
 * trial); a skill with a live test routes the key to an arm; otherwise the
 * serving variant.
 */
static int resolve_variant(request *q, store_variant *v, ab_live *live, skh_error *err)
{
    skh_host *host = q->host;
    const skh_exec_options *opts = q->opts;
    if (opts && opts->variant) {
        int rc = store_variant_get(host->st, opts->variant, v, err);
        if (rc)
            return rc;
        if (strcmp(v->skill, q->skill) != 0) {
            error_set(err, SKH_EINVAL, "--variant", "%s is a variant of %s, not of %s",
                      opts->variant, v->skill, q->skill);
            store_variant_free(v);
            return SKH_EINVAL;
        }
        return SKH_OK;
    }
    int found = 0;
    int rc = ab_live_test(host, q->skill, live, &found, err);
    if (rc)
        return rc;
    if (!found)
        return store_variant_serving(host->st, q->skill, v, err);
    char drawn[33];
    const char *key = opts && opts->key ? opts->key : (random_key(host, drawn), drawn);
    q->arm = router_in_treatment(live->test_id, key, live->weight);
    q->test_id = live->test_id;
    return store_variant_get(host->st, q->arm ? live->treatment : live->control, v, err);
}

/*
 * The circuit breaker of the chosen variant (DESIGN §2 step 2): an open
 * breaker sends the request to the fallback -- an A/B treatment's control,
 * else the previous production variant -- and the request is then no trial,
 * since the router did not put it there.  With nowhere to fall back to, the
 * request fails fast rather than hammer a failing variant.
 */
static int admit_variant(request *q, store_variant *v, const ab_live *live, skh_error *err)
{
    int allow = 1;
    char *fallback = NULL;
    int rc =
        breaker_admit(q->host, q->skill, v->variant_id, &allow, &q->breaker_clean, &fallback, err);
    if (rc || allow) {
        free(fallback);
        return rc;
    }
    q->breaker_clean = 0; /* said of the variant we are not running */
    const char *to = q->test_id && q->arm ? live->control : fallback;
    if (!to) {
        error_set_category(err, SKH_EFAILED, SKH_ERR_UNAVAILABLE, q->skill,
                           "circuit breaker open for %s and no previous production variant to "
                           "fall back to; it half-opens after its cool-down",
                           v->variant_id);
        store_variant_free(v);
        return SKH_EFAILED;
    }
    snprintf(q->fallback_from, sizeof q->fallback_from, "%s", v->variant_id);
    store_variant_free(v);
    rc = store_variant_get(q->host->st, to, v, err);
    free(fallback);
    q->test_id = NULL;
    return rc;
}

/*
 * Step 7 of DESIGN §2, once the request is recorded: the A/B verdict and,
 * when configured, auto-evolution.  Their failures are reported but do not
 * fail a request that already ran and was recorded.
 */
static void after_request(request *q)
{
    skh_error e;
    skh_result *r = q->r;
    /* Benchmark runs are no live traffic: no breaker, rollback or evolution follows them. */
    if (!r->nattempts || (q->opts && q->opts->evaluation))
        return;
    int failed = !r->output && !r->skipped && q->breaker_failure;
    /*
     * A success on a breaker routing found clean has nothing to reset.  A
     * failure another process counted while this request ran stays counted:
     * the success came before it as far as routing could tell.
     */
    if ((failed || !q->breaker_clean) &&
        breaker_record(q->host, q->skill, q->v->variant_id, failed, &e) != SKH_OK)
        fprintf(stderr, "skillhost: %s: circuit breaker not updated: %s\n", e.what, e.message);
    if (q->test_id && r->recorded && !r->skipped &&
        ab_after_trial(q->host, q->test_id, &e) != SKH_OK)
        fprintf(stderr, "skillhost: %s: A/B decision skipped: %s\n", e.what, e.message);
    if (r->recorded && lifecycle_after_request(q->host, q->skill, q->v->variant_id, &e) != SKH_OK)
        fprintf(stderr, "skillhost: %s: rollback check skipped: %s\n", e.what, e.message);
    if (evolve_maybe_auto(q->host, q->skill, &e) != SKH_OK)
        fprintf(stderr, "skillhost: %s: auto-evolve failed: %s\n", e.what, e.message);
}

SKH_EXPORT int skh_execute(skh_host *host, const char *skill, const char *input_json,
                           const skh_exec_options *opts, skh_result **result, skh_error *err)
{
    *result = NULL;
    error_clear(err);
    if (!name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    json_error_t jerr;
    json_t *input = json_loads(input_json ? input_json : "", JSON_REJECT_DUPLICATES, &jerr);
    if (!input)
        return error_set(err, SKH_EINVAL, "input", "line %d, column %d: %s", jerr.line, jerr.column,
                         jerr.text);
    if (!json_is_object(input)) {
        json_decref(input);
        return error_set(err, SKH_EINVAL, "input", "must be a JSON object");
    }

    store_variant v;
    ab_live live;
    memset(&v, 0, sizeof v);
    request q = {.host = host, .skill = skill, .input_json = input_json, .opts = opts, .v = &v};
    /* Routing reads one snapshot, released before the skill runs. */
    store_snapshot_begin(host->st);
    int rc = resolve_variant(&q, &v, &live, err);
    if (rc == SKH_OK && !(opts && opts->variant))
        rc = admit_variant(&q, &v, &live, err);
    store_snapshot_end(host->st);
    if (rc == SKH_OK)
        rc = host_variant_plugin(host, &v, &q.p, err);
    if (rc == SKH_OK && !(q.expected = json_loads(v.patterns ? v.patterns : "[]", 0, NULL)))
        q.expected = json_array(); /* the store refuses patterns that are not an array */
    if (rc == SKH_OK && !q.expected)
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    if (rc == SKH_OK)
        rc = request_context(&q, err);
    if (rc == SKH_OK && !(q.r = calloc(1, sizeof *q.r)))
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    if (rc == SKH_OK && !(q.r->variant = strdup(v.variant_id)))
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    if (rc == SKH_OK) {
        uuid_v7(q.r->request_id);
        q.r->recorded = 1;
        request_settings(&q);
        if (q.test_id) {
            snprintf(q.r->test_id, sizeof q.r->test_id, "%s", q.test_id);
            q.r->arm = q.arm;
        }
        snprintf(q.r->fallback_from, sizeof q.r->fallback_from, "%s", q.fallback_from);
        rc = run_request(&q, input, err);
        store_snapshot_begin(host->st);
        after_request(&q);
        store_snapshot_end(host->st);
    }
    store_variant_free(&v);
    free(q.context);
    free(q.alternatives);
    free(q.follow_ups);
    json_decref(q.expected);
    json_decref(input);
    if (q.r && q.r->nattempts == 0) {
        skh_result_free(q.r);
        q.r = NULL;
    }
    *result = q.r;
    return rc;
}
