/* Reading what skh_execute returned; the JSON of `skillhost run --json`. */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "result.h"

void result_free_attempts(skh_result *r)
{
    for (unsigned i = 0; i < r->nattempts; i++) {
        free(r->attempts[i].message);
        free(r->attempts[i].failed_at_step);
        free(r->attempts[i].missed_json);
        free(r->attempts[i].recovery);
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
            json_pack("{s:I, s:I, s:s, s:f, s:f, s:o, s:o, s:o}", "attempt", (json_int_t)(i + 1),
                      "iteration", (json_int_t)a->iteration, "execution_id", a->execution_id,
                      "fidelity", a->fidelity, "duration_ms", a->duration_ms, "failed_at_step",
                      a->failed_at_step ? json_string(a->failed_at_step) : json_null(), "error",
                      a->category
                          ? json_pack("{s:s, s:s}", "category", skh_category_name(a->category),
                                      "message", a->message ? a->message : "")
                          : json_null(),
                      "recovery", a->recovery ? json_loads(a->recovery, 0, NULL) : json_null()));
    }
    json_t *out = r->output ? json_loads(r->output, JSON_DECODE_ANY, NULL) : json_null();
    int cat = skh_result_error_category(r);
    json_t *o =
        json_pack("{s:s, s:o, s:s, s:I, s:o, s:o, s:o, s:b, s:b, s:b, s:b, s:f, s:o}", "request_id",
                  r->request_id, "execution_ids", ids, "variant", r->variant, "attempts",
                  (json_int_t)r->nattempts, "fidelity", fids, "per_attempt", per, "output",
                  out ? out : json_null(), "recorded", r->recorded, "early_success",
                  r->early_success, "met_threshold", r->met_threshold, "skipped", r->skipped,
                  "threshold", r->threshold, "error",
                  cat ? json_pack("{s:s, s:s}", "category", skh_category_name(cat), "message",
                                  skh_result_error_message(r) ? skh_result_error_message(r) : "")
                      : json_null());
    if (o)
        json_object_set_new(o, "ab",
                            r->test_id[0] ? json_pack("{s:s, s:s}", "test_id", r->test_id, "arm",
                                                      r->arm ? "treatment" : "control")
                                          : json_null());
    if (o)
        json_object_set_new(o, "fallback",
                            r->fallback_from[0] ? json_pack("{s:s, s:s}", "from", r->fallback_from,
                                                            "reason", "circuit breaker open")
                                                : json_null());
    if (o && r->cancelled)
        json_object_set_new(o, "cancelled", json_true());
    if (!o)
        return SKH_ENOMEM;
    *json = json_dumps(o, SKH_JSON_FLAGS);
    json_decref(o);
    return *json ? SKH_OK : SKH_ENOMEM;
}
