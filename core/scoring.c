#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scoring.h"

static int run_scorer(plugin **slot, const char *name, const char *record_text, json_t **out,
                      skh_error *err)
{
    if (!*slot) {
        int rc = plugin_builtin_load(name, slot, err);
        if (rc)
            return rc;
    }
    skh_call call;
    call_init(&call, record_text, "", "[]", 1, name);
    int rc = (*slot)->ops->invoke(*slot, "score", &call, err);
    if (rc == SKH_OK && call.category != SKH_ERR_NONE)
        rc = error_set_category(err, SKH_EPLUGIN, call.category, name, "scorer failed: %s",
                                call.message ? call.message : "");
    if (rc == SKH_OK) {
        json_error_t jerr;
        *out = json_loads(call.output ? call.output : "", 0, &jerr);
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            rc = error_set(err, SKH_EPLUGIN, name, "scorer output is not a JSON object: %s",
                           jerr.text);
        }
    }
    call_release(&call);
    return rc;
}

static char *dup_string_member(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

int scoring_run(skh_host *host, json_t *record, scores *out, skh_error *err)
{
    memset(out, 0, sizeof *out);
    out->correct = -1;
    out->confidence = NAN;

    char *text = json_dumps(record, JSON_COMPACT);
    if (!text)
        return error_set(err, SKH_ENOMEM, "scoring", "out of memory");
    json_t *fid = NULL, *outc = NULL;
    int rc = run_scorer(&host->scorer_fidelity, "pattern_fidelity", text, &fid, err);
    if (rc == SKH_OK)
        rc = run_scorer(&host->scorer_outcome, "outcome", text, &outc, err);
    free(text);
    if (rc)
        goto done;

    out->fidelity = json_number_value(json_object_get(fid, "pattern_fidelity"));
    out->followed = (int)json_integer_value(json_object_get(fid, "patterns_followed"));
    out->missed = (int)json_integer_value(json_object_get(fid, "patterns_missed"));
    json_t *missed = json_object_get(fid, "missed");
    out->missed_json = json_is_array(missed) ? json_dumps(missed, JSON_COMPACT) : strdup("[]");
    out->failed_at_step = dup_string_member(fid, "failed_at_step");

    out->decision = dup_string_member(outc, "decision");
    if (!out->decision)
        out->decision = strdup("");
    json_t *correct = json_object_get(outc, "correct");
    out->correct = json_is_boolean(correct) ? json_is_true(correct) : -1;
    json_t *conf = json_object_get(outc, "confidence");
    out->confidence = json_is_number(conf) ? json_number_value(conf) : NAN;
    out->reasoning = dup_string_member(outc, "reasoning");
    if (!out->missed_json || !out->decision) {
        scores_release(out);
        rc = error_set(err, SKH_ENOMEM, "scoring", "out of memory");
    }
done:
    json_decref(fid);
    json_decref(outc);
    return rc;
}

void scores_release(scores *s)
{
    free(s->missed_json);
    free(s->failed_at_step);
    free(s->decision);
    free(s->reasoning);
    memset(s, 0, sizeof *s);
}
