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

/* Shortest text that reads back as the same double, always with a '.' or exponent. */
static void fmt_real(double v, char out[40])
{
    if (!isfinite(v)) {
        snprintf(out, 40, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    if (!strpbrk(out, ".eE"))
        strcat(out, ".0");
}

/* JSON text of a string, or "null"; NULL when out of memory. */
static char *string_or_null(const char *s)
{
    if (!s)
        return strdup("null");
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return text;
}

static int cb_score(void *state, skh_call *call)
{
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

    json_t *output = json_object_get(rec, "output");
    json_t *input = json_object_get(rec, "input");
    json_t *error = json_object_get(rec, "error");
    json_t *decision = json_object_get(output, "decision");
    json_t *confidence = json_object_get(output, "confidence");
    json_t *reasoning = json_object_get(output, "reasoning");
    json_t *label = json_object_get(input, "label");

    const char *dec = json_is_string(decision) ? json_string_value(decision) : "";
    const char *correct = "null";
    if (json_is_string(label)) {
        if (error && !json_is_null(error))
            correct = "false";
        else
            correct = strcmp(json_string_value(label), dec) == 0 ? "true" : "false";
    }
    char conf[40] = "null";
    if (json_is_number(confidence))
        fmt_real(json_number_value(confidence), conf);

    int rc;
    char *out = NULL;
    char *dec_text = string_or_null(dec);
    char *why_text =
        string_or_null(json_is_string(reasoning) ? json_string_value(reasoning) : NULL);
    if (!dec_text || !why_text)
        goto oom;
    static const char fmt[] = "{\"decision\":%s,\"confidence\":%s,\"correct\":%s,\"reasoning\":%s}";
    int len = snprintf(NULL, 0, fmt, dec_text, conf, correct, why_text);
    if (len < 0 || !(out = malloc((size_t)len + 1)))
        goto oom;
    snprintf(out, (size_t)len + 1, fmt, dec_text, conf, correct, why_text);
    rc = skh_output(call, out);
    goto done;
oom:
    rc = skh_fail(call, SKH_ERR_INTERNAL, "outcome: out of memory");
done:
    free(out);
    free(dec_text);
    free(why_text);
    json_decref(rec);
    return rc;
}

SKH_PLUGIN(scorer, "outcome", "1.0.0",
           .description = "Decision, confidence and correctness against the input's label",
           .score = cb_score)
