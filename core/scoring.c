#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scoring.h"

/* The built-in scorers' cores (plugins/pattern_fidelity.c, plugins/outcome.c). */
size_t builtin_pattern_match(const char *const *steps, size_t nsteps, const char *const *expected,
                             size_t n, unsigned char *hit);
void builtin_outcome_fields(const json_t *input, const json_t *output, int failed,
                            const char **decision, double *confidence, const char **reasoning,
                            int *correct);

/* Patterns a variant expects, few in practice: on the stack up to this many. */
#define PATTERNS_ON_STACK 32

static int fidelity_of(const scoring_input *in, scores *out, skh_error *err)
{
    size_t n = json_array_size(in->expected);
    const char *stack_v[PATTERNS_ON_STACK];
    unsigned char stack_hit[PATTERNS_ON_STACK];
    const char **ev = n <= PATTERNS_ON_STACK ? stack_v : malloc(n * sizeof *ev);
    unsigned char *hit = n <= PATTERNS_ON_STACK ? stack_hit : malloc(n);
    int rc = SKH_OK;
    if (!ev || !hit) {
        rc = error_set(err, SKH_ENOMEM, "pattern_fidelity", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!(ev[i] = json_string_value(json_array_get(in->expected, i)))) {
            rc = error_set_category(err, SKH_EPLUGIN, SKH_ERR_VALIDATION, "pattern_fidelity",
                                    "scorer failed: expected patterns must be strings");
            goto done;
        }
    size_t k = builtin_pattern_match(in->steps, in->nsteps, ev, n, hit);
    out->fidelity = n == 0 ? 1.0 : (double)k / (double)n;
    out->followed = (int)k;
    out->missed = (int)(n - k);
    /* The common case, nothing missed, needs no JSON at all. */
    json_t *missed = k < n ? json_array() : NULL;
    int oom = k < n && !missed;
    for (size_t i = 0; i < n && !oom; i++) {
        if (hit[i])
            continue;
        if (!out->failed_at_step)
            oom = !(out->failed_at_step = strdup(ev[i]));
        oom = oom || json_array_append(missed, json_array_get(in->expected, i)) != 0;
    }
    if (!oom)
        oom = !(out->missed_json = k == n ? strdup("[]") : json_dumps(missed, JSON_COMPACT));
    json_decref(missed);
    if (oom)
        rc = error_set(err, SKH_ENOMEM, "pattern_fidelity", "out of memory");
done:
    if (ev != stack_v)
        free(ev);
    if (hit != stack_hit)
        free(hit);
    return rc;
}

int scoring_run(const scoring_input *in, scores *out, skh_error *err)
{
    memset(out, 0, sizeof *out);
    out->correct = -1;
    out->confidence = NAN;
    int rc = fidelity_of(in, out, err);
    if (rc == SKH_OK) {
        const char *decision, *reasoning;
        builtin_outcome_fields(in->input, in->output, in->failed, &decision, &out->confidence,
                               &reasoning, &out->correct);
        out->decision = strdup(decision);
        out->reasoning = reasoning ? strdup(reasoning) : NULL;
        if (!out->decision || (reasoning && !out->reasoning))
            rc = error_set(err, SKH_ENOMEM, "outcome", "out of memory");
    }
    if (rc)
        scores_release(out);
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
