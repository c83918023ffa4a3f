#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scoring.h"

/* The built-in scorers' cores (plugins/pattern_fidelity.c, plugins/outcome.c). */
json_t *builtin_pattern_fidelity_score(const json_t *rec, char *why, size_t whylen);
json_t *builtin_outcome_score(const json_t *rec);

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

    /*
     * The built-ins are called on the record as it is: the plugin ABI's
     * print and parse on each side cost more than scoring itself.
     */
    char why[256];
    json_t *fid = builtin_pattern_fidelity_score(record, why, sizeof why);
    json_t *outc = fid ? builtin_outcome_score(record) : NULL;
    int rc = SKH_OK;
    if (!fid)
        rc = error_set_category(err, SKH_EPLUGIN,
                                strstr(why, "memory") ? SKH_ERR_INTERNAL : SKH_ERR_VALIDATION,
                                "pattern_fidelity", "scorer failed: %s", why);
    else if (!outc)
        rc = error_set(err, SKH_ENOMEM, "outcome", "out of memory");
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
