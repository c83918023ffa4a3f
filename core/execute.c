/*
 * execute_skill (DESIGN §2): resolve the variant, run attempts, score and
 * record each one, retry ReAct-style while the fidelity stays under the bar.
 *
 * Every attempt is recorded in its own transaction as soon as it is scored,
 * so a crash between attempts loses nothing already run.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "host_internal.h"
#include "scoring.h"
#include "uuid.h"

typedef struct attempt_rec {
    char execution_id[UUID_TEXT_LEN];
    double fidelity;
    double duration_ms;
    int category;
    char *message;
    char *failed_at_step;
    char *missed_json;
} attempt_rec;

struct skh_result {
    char request_id[UUID_TEXT_LEN];
    char *variant;
    char *output; /* final output, NULL when the skill failed */
    attempt_rec *attempts;
    unsigned nattempts;
    int recorded;
    int early_success;
    int met_threshold;
    double threshold;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The request's knobs: flag > environment > workspace > default (DESIGN §9). */
static void request_settings(const skh_host *host, const skh_exec_options *opts, int *react,
                             int *max_iter, double *threshold)
{
    *react = config_num(&host->cfg, CFG_REACT_ENABLED) != 0;
    *max_iter = (int)config_num(&host->cfg, CFG_REACT_MAX_ITER);
    *threshold = config_num(&host->cfg, CFG_REACT_FIDELITY);
    if (opts && opts->react >= 0)
        *react = opts->react != 0;
    if (opts && opts->max_iterations > 0)
        *max_iter = opts->max_iterations;
    if (opts && opts->threshold >= 0)
        *threshold = opts->threshold;
    if (!*react)
        *max_iter = 1;
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

static void result_free_attempts(skh_result *r)
{
    for (unsigned i = 0; i < r->nattempts; i++) {
        free(r->attempts[i].message);
        free(r->attempts[i].failed_at_step);
        free(r->attempts[i].missed_json);
    }
    free(r->attempts);
}

SKH_EXPORT void skh_result_free(skh_result *r)
{
    if (!r)
        return;
    result_free_attempts(r);
    free(r->variant);
    free(r->output);
    free(r);
}

/* Run one attempt: invoke, score, record.  Fills *a; *output_out gets the output object. */
static int run_attempt(skh_host *host, plugin *p, const store_variant *v, const char *skill,
                       const char *request_id, json_t *input, unsigned n,
                       const skh_exec_options *opts, attempt_rec *a, scores *sc,
                       json_t **output_out, int *recorded, skh_error *err)
{
    char *input_text = json_dumps(input, JSON_COMPACT);
    if (!input_text)
        return error_set(err, SKH_ENOMEM, skill, "out of memory");

    skh_call call;
    call_init(&call, input_text, v->content, v->patterns, n, p->name);
    double t0 = now_ms();
    int rc = p->ops->invoke(p, "execute", &call, err);
    a->duration_ms = now_ms() - t0;
    if (rc) {
        call_release(&call);
        free(input_text);
        return rc;
    }
    if (call.oom) {
        call_release(&call);
        free(input_text);
        return error_set(err, SKH_ENOMEM, skill, "out of memory while recording the call");
    }
    json_t *output = checked_output(&call);
    a->category = call.category;
    a->message = call.message ? strdup(call.message) : NULL;
    uuid_v7(a->execution_id);

    json_t *expected = json_loads(v->patterns, 0, NULL);
    json_t *record = json_pack(
        "{s:O, s:O, s:o, s:o, s:o, s:f}", "input", input, "output", output ? output : json_null(),
        "steps", steps_array(&call), "expected", expected ? expected : json_array(), "error",
        call.category ? json_pack("{s:s, s:s}", "category", skh_category_name(call.category),
                                  "message", call.message ? call.message : "")
                      : json_null(),
        "duration_ms", a->duration_ms);
    rc = record ? scoring_run(host, record, sc, err)
                : error_set(err, SKH_ENOMEM, skill, "out of memory");
    json_decref(record);
    if (rc) {
        json_decref(output);
        call_release(&call);
        free(input_text);
        return rc;
    }
    a->fidelity = sc->fidelity;
    a->failed_at_step = sc->failed_at_step ? strdup(sc->failed_at_step) : NULL;
    a->missed_json = strdup(sc->missed_json);

    char ts[32];
    store_timestamp(ts);
    json_t *steps = steps_array(&call);
    char *steps_text = steps ? json_dumps(steps, JSON_COMPACT) : NULL;
    json_decref(steps);
    store_execution ex = {
        .execution_id = a->execution_id,
        .request_id = request_id,
        .skill = skill,
        .variant_id = v->variant_id,
        .attempt = n,
        .timestamp = ts,
        .input = input_text,
        .output = output ? call.output : NULL,
        .steps = steps_text ? steps_text : "[]",
        .category = call.category,
        .error_message = call.message,
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
        .session_id = opts ? opts->session_id : NULL,
        .workflow_phase = opts ? opts->workflow_phase : NULL,
        .user_query = opts ? opts->user_query : NULL,
        .tenant = opts ? opts->tenant : NULL,
        .evaluation = opts ? opts->evaluation : 0,
    };
    /* A failed write is reported, but the skill's output still reaches the caller. */
    rc = store_record_execution(host->st, &ex, err);
    *recorded = *recorded && rc == SKH_OK;
    free(steps_text);
    call_release(&call);
    free(input_text);
    *output_out = output;
    return rc == SKH_OK ? SKH_OK : rc;
}

static int resolve_variant(skh_host *host, const char *skill, const skh_exec_options *opts,
                           store_variant *v, skh_error *err)
{
    if (opts && opts->variant) {
        int rc = store_variant_get(host->st, opts->variant, v, err);
        if (rc)
            return rc;
        if (strcmp(v->skill, skill) != 0) {
            store_variant_free(v);
            return error_set(err, SKH_EINVAL, "--variant", "%s is a variant of %s, not of %s",
                             opts->variant, v->skill, skill);
        }
        return SKH_OK;
    }
    return store_variant_serving(host->st, skill, v, err);
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
    memset(&v, 0, sizeof v);
    plugin *p = NULL;
    int rc = resolve_variant(host, skill, opts, &v, err);
    if (rc == SKH_OK)
        rc = host_variant_plugin(host, &v, &p, err);
    skh_result *r = rc ? NULL : calloc(1, sizeof *r);
    if (rc == SKH_OK && !r)
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    if (rc) {
        store_variant_free(&v);
        json_decref(input);
        return rc;
    }

    int react, max_iter;
    request_settings(host, opts, &react, &max_iter, &r->threshold);
    uuid_v7(r->request_id);
    r->variant = strdup(v.variant_id);
    r->attempts = calloc((size_t)max_iter, sizeof *r->attempts);
    r->recorded = 1;
    if (!r->variant || !r->attempts) {
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
        goto out;
    }

    json_t *attempt_input = json_incref(input);
    json_t *output = NULL;
    int store_rc = SKH_OK;
    skh_error store_err;
    for (unsigned n = 1; n <= (unsigned)max_iter; n++) {
        attempt_rec *a = &r->attempts[r->nattempts];
        scores sc;
        json_decref(output);
        output = NULL;
        rc = run_attempt(host, p, &v, skill, r->request_id, attempt_input, n, opts, a, &sc, &output,
                         &r->recorded, err);
        r->nattempts++; /* even a failed attempt owns strings result_free_attempts frees */
        if (rc && rc != SKH_ESTORE) {
            /* Nothing ran or scoring failed: not an attempt to count. */
            result_free_attempts(r);
            r->attempts = NULL;
            r->nattempts = 0;
            break;
        }
        if (rc == SKH_ESTORE && store_rc == SKH_OK) {
            store_rc = rc;
            store_err = *err;
        }
        rc = SKH_OK;
        int success = !a->category && a->fidelity >= r->threshold;
        int retry = !a->category && !success && n < (unsigned)max_iter;
        if (retry) {
            json_t *next = json_deep_copy(input);
            json_t *prev = previous_attempt(n, a, &sc);
            if (!next || !prev || json_object_set_new(next, "_react_retry", json_true()) ||
                json_object_set_new(next, "_previous_attempt", prev)) {
                json_decref(next);
                rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
                scores_release(&sc);
                break;
            }
            json_decref(attempt_input);
            attempt_input = next;
        }
        scores_release(&sc);
        if (!retry) {
            r->early_success = success && n < (unsigned)max_iter;
            r->met_threshold = success;
            break;
        }
    }
    json_decref(attempt_input);
    if (rc == SKH_OK && output) {
        r->output = json_dumps(output, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!r->output)
            rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    }
    json_decref(output);
    if (rc == SKH_OK && store_rc) {
        rc = store_rc;
        *err = store_err;
    } else if (rc == SKH_OK && !r->output && r->nattempts > 0) {
        const attempt_rec *last = &r->attempts[r->nattempts - 1];
        rc = error_set_category(err, SKH_EFAILED, last->category, skill, "%s error: %s",
                                skh_category_name(last->category),
                                last->message ? last->message : "");
    }
out:
    store_variant_free(&v);
    json_decref(input);
    if (r && r->nattempts == 0) {
        skh_result_free(r);
        r = NULL;
    }
    *result = r;
    return rc;
}

/* ---- reading a result ---------------------------------------------------------- */

SKH_EXPORT const char *skh_result_output(const skh_result *r)
{
    return r->output;
}

SKH_EXPORT const char *skh_result_variant(const skh_result *r)
{
    return r->variant;
}

SKH_EXPORT unsigned skh_result_attempts(const skh_result *r)
{
    return r->nattempts;
}

SKH_EXPORT double skh_result_fidelity(const skh_result *r, unsigned attempt)
{
    return attempt < r->nattempts ? r->attempts[attempt].fidelity : NAN;
}

SKH_EXPORT const char *skh_result_execution_id(const skh_result *r, unsigned attempt)
{
    return attempt < r->nattempts ? r->attempts[attempt].execution_id : NULL;
}

SKH_EXPORT int skh_result_recorded(const skh_result *r)
{
    return r->recorded;
}

SKH_EXPORT int skh_result_error_category(const skh_result *r)
{
    return r->nattempts ? r->attempts[r->nattempts - 1].category : SKH_ERR_NONE;
}

SKH_EXPORT const char *skh_result_error_message(const skh_result *r)
{
    return r->nattempts ? r->attempts[r->nattempts - 1].message : NULL;
}

SKH_EXPORT int skh_result_json(const skh_result *r, char **json)
{
    *json = NULL;
    json_t *ids = json_array(), *fids = json_array(), *per = json_array();
    for (unsigned i = 0; ids && fids && per && i < r->nattempts; i++) {
        const attempt_rec *a = &r->attempts[i];
        json_array_append_new(ids, json_string(a->execution_id));
        json_array_append_new(fids, json_real(a->fidelity));
        json_array_append_new(
            per,
            json_pack("{s:I, s:s, s:f, s:f, s:o, s:o}", "attempt", (json_int_t)(i + 1),
                      "execution_id", a->execution_id, "fidelity", a->fidelity, "duration_ms",
                      a->duration_ms, "failed_at_step",
                      a->failed_at_step ? json_string(a->failed_at_step) : json_null(), "error",
                      a->category
                          ? json_pack("{s:s, s:s}", "category", skh_category_name(a->category),
                                      "message", a->message ? a->message : "")
                          : json_null()));
    }
    json_t *out = r->output ? json_loads(r->output, JSON_DECODE_ANY, NULL) : json_null();
    int cat = skh_result_error_category(r);
    json_t *o = json_pack(
        "{s:s, s:o, s:s, s:I, s:o, s:o, s:o, s:b, s:b, s:b, s:f, s:o}", "request_id", r->request_id,
        "execution_ids", ids, "variant", r->variant, "attempts", (json_int_t)r->nattempts,
        "fidelity", fids, "per_attempt", per, "output", out ? out : json_null(), "recorded",
        r->recorded, "early_success", r->early_success, "met_threshold", r->met_threshold,
        "threshold", r->threshold, "error",
        cat ? json_pack("{s:s, s:s}", "category", skh_category_name(cat), "message",
                        skh_result_error_message(r) ? skh_result_error_message(r) : "")
            : json_null());
    if (!o)
        return SKH_ENOMEM;
    *json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return *json ? SKH_OK : SKH_ENOMEM;
}
