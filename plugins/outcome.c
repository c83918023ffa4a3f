/*
 * outcome: what the execution decided and whether that was right.
 *
 * From the execution record (see pattern_fidelity.c): the output's decision,
 * confidence and reasoning, and correct = (input.label == decision) when the
 * input carries a label.  A failed execution with a label is never correct;
 * without a label correctness is unknown (null), not false.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <skillhost/plugin.h>

/*
 * What the record decided, as a JSON object; NULL when memory ran out.
 * Not static in the built-in copy: the host calls it on the record it
 * already holds, without the text round trip of the plugin ABI.
 */
#ifdef SKH_BUILTIN_SCORERS
json_t *builtin_outcome_score(const json_t *rec);
#else
static
#endif
json_t *builtin_outcome_score(const json_t *rec)
{
    json_t *output = json_object_get(rec, "output");
    json_t *input = json_object_get(rec, "input");
    json_t *error = json_object_get(rec, "error");
    json_t *decision = json_object_get(output, "decision");
    json_t *confidence = json_object_get(output, "confidence");
    json_t *reasoning = json_object_get(output, "reasoning");
    json_t *label = json_object_get(input, "label");

    const char *dec = json_is_string(decision) ? json_string_value(decision) : "";
    json_t *correct = json_null();
    if (json_is_string(label))
        correct = json_boolean((!error || json_is_null(error)) &&
                               strcmp(json_string_value(label), dec) == 0);
    return json_pack(
        "{s:s, s:o, s:o, s:O}", "decision", dec, "confidence",
        json_is_number(confidence) ? json_real(json_number_value(confidence)) : json_null(),
        "correct", correct, "reasoning", json_is_string(reasoning) ? reasoning : json_null());
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
    json_t *scores = builtin_outcome_score(rec);
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
