/*
 * outcome: what the execution decided and whether that was right.
 *
 * From the execution record (see pattern_fidelity.c): the output's decision,
 * confidence and reasoning, and correct = (input.label == decision) when the
 * input carries a label.  A failed execution with a label is never correct;
 * without a label correctness is unknown (null), not false.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <skillhost/plugin.h>

/*
 * What an execution decided, from its input and output objects: decision
 * ("" when none), confidence (NAN when none), reasoning (NULL when none),
 * correct (1, 0, or -1 when the input has no label).  The strings are
 * borrowed from output.  Not static in the built-in copy: the host scores
 * the objects it holds with it, with no record in between.
 */
#ifdef SKH_BUILTIN_SCORERS
void builtin_outcome_fields(const json_t *input, const json_t *output, int failed,
                            const char **decision, double *confidence, const char **reasoning,
                            int *correct);
#else
static
#endif
void builtin_outcome_fields(const json_t *input, const json_t *output, int failed,
                            const char **decision, double *confidence, const char **reasoning,
                            int *correct)
{
    /* jansson's getters take non-const objects but only read them. */
    json_t *out = (json_t *)output, *in = (json_t *)input;
    json_t *dec = json_object_get(out, "decision"), *conf = json_object_get(out, "confidence");
    json_t *why = json_object_get(out, "reasoning"), *label = json_object_get(in, "label");
    *decision = json_is_string(dec) ? json_string_value(dec) : "";
    *confidence = json_is_number(conf) ? json_number_value(conf) : NAN;
    *reasoning = json_is_string(why) ? json_string_value(why) : NULL;
    *correct =
        json_is_string(label) ? !failed && strcmp(json_string_value(label), *decision) == 0 : -1;
}

/* What the record decided, as a JSON object; NULL when memory ran out. */
static json_t *outcome_score(const json_t *rec)
{
    json_t *error = json_object_get(rec, "error");
    const char *dec, *why;
    double conf;
    int correct;
    builtin_outcome_fields(json_object_get(rec, "input"), json_object_get(rec, "output"),
                           error && !json_is_null(error), &dec, &conf, &why, &correct);
    return json_pack("{s:s, s:o, s:o, s:o}", "decision", dec, "confidence",
                     isnan(conf) ? json_null() : json_real(conf), "correct",
                     correct < 0 ? json_null() : json_boolean(correct), "reasoning",
                     why ? json_string(why) : json_null());
}

/* The shortest text that reads back as the same value, reals included. */
static char *dump_exact(const json_t *v)
{
    for (int p = 15; p <= 17; p++) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(p));
        json_t *back = text && p < 17 ? json_loads(text, 0, NULL) : NULL;
        int same = p == 17 || json_equal(v, back);
        json_decref(back);
        if (same || !text)
            return text;
        free(text);
    }
    return NULL;
}

static int cb_score(void *state, skh_call *call)
{
    (void)state;
    json_error_t jerr;
    json_t *rec = json_loads(skh_input(call), 0, &jerr);
    if (!json_is_object(rec)) {
        char msg[256 + JSON_ERROR_TEXT_LENGTH];
        if (rec)
            snprintf(msg, sizeof msg, "outcome: the record must be a JSON object");
        else
            snprintf(msg, sizeof msg, "outcome: record is not JSON: line %d, column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        json_decref(rec);
        return skh_fail(call, SKH_ERR_VALIDATION, msg);
    }
    json_t *scores = outcome_score(rec);
    json_decref(rec);
    char *text = scores ? dump_exact(scores) : NULL;
    json_decref(scores);
    int rc =
        text ? skh_output(call, text) : skh_fail(call, SKH_ERR_INTERNAL, "outcome: out of memory");
    free(text);
    return rc;
}

SKH_PLUGIN(scorer, "outcome", "1.0.0",
           .description = "Decision, confidence and correctness against the input's label",
           .score = cb_score)
