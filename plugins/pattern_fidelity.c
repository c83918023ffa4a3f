/*
 * pattern_fidelity: the share of a variant's expected patterns that the
 * execution's breadcrumbs followed, in order.
 *
 * Input is the execution record the host builds:
 *   {"input": {...}, "output": {...}|null, "steps": [...], "expected": [...],
 *    "error": {"category", "message"}|null, "duration_ms": x}
 *
 * Matching walks the expected patterns with a cursor into the steps: each
 * pattern is searched from the cursor onwards; when found the cursor moves
 * past it, when missed the cursor stays, so one missing step costs one
 * pattern and not everything after it.  Built into libskillhost as a
 * built-in scorer, and buildable as an ordinary plugin.
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

static int strings_only(const json_t *arr)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!json_is_string(json_array_get(arr, i)))
            return 0;
    return 1;
}

static int cb_score(void *state, skh_call *call)
{
    json_error_t jerr;
    json_t *rec = json_loads(skh_input(call), 0, &jerr);
    if (!json_is_object(rec)) {
        char msg[256 + JSON_ERROR_TEXT_LENGTH];
        if (rec)
            snprintf(msg, sizeof msg, "pattern_fidelity: the record must be a JSON object");
        else
            snprintf(msg, sizeof msg,
                     "pattern_fidelity: record is not JSON: line %d, column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        json_decref(rec);
        return skh_fail(call, SKH_ERR_VALIDATION, msg);
    }

    int rc;
    char *followed_text = NULL, *missed_text = NULL, *failed_text = NULL, *out = NULL;
    json_t *followed = json_array(), *missed = json_array();
    json_t *steps = json_object_get(rec, "steps");
    json_t *expected = json_object_get(rec, "expected");
    if ((steps && !json_is_null(steps) && !(json_is_array(steps) && strings_only(steps))) ||
        (expected && !json_is_null(expected) &&
         !(json_is_array(expected) && strings_only(expected)))) {
        rc = skh_fail(call, SKH_ERR_VALIDATION,
                      "pattern_fidelity: steps and expected must be arrays of strings");
        goto out;
    }
    if (!followed || !missed)
        goto oom;

    size_t nsteps = json_array_size(steps), n = json_array_size(expected), cursor = 0;
    const char *first_missed = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *want = json_array_get(expected, i);
        size_t j = cursor;
        while (j < nsteps && !json_equal(json_array_get(steps, j), want))
            j++;
        if (j < nsteps) {
            cursor = j + 1;
            if (json_array_append(followed, want) != 0)
                goto oom;
        } else {
            if (!first_missed)
                first_missed = json_string_value(want);
            if (json_array_append(missed, want) != 0)
                goto oom;
        }
    }
    size_t k = json_array_size(followed);
    double fidelity = n == 0 ? 1.0 : (double)k / (double)n;

    followed_text = json_dumps(followed, JSON_COMPACT);
    missed_text = json_dumps(missed, JSON_COMPACT);
    if (first_missed) {
        json_t *s = json_string(first_missed);
        failed_text = s ? json_dumps(s, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(s);
    } else {
        failed_text = strdup("null");
    }
    if (!followed_text || !missed_text || !failed_text)
        goto oom;

    char num[40];
    fmt_real(fidelity, num);
    static const char fmt[] = "{\"pattern_fidelity\":%s,\"patterns_followed\":%zu,"
                              "\"patterns_missed\":%zu,\"followed\":%s,\"missed\":%s,"
                              "\"failed_at_step\":%s}";
    int len = snprintf(NULL, 0, fmt, num, k, n - k, followed_text, missed_text, failed_text);
    if (len < 0 || !(out = malloc((size_t)len + 1)))
        goto oom;
    snprintf(out, (size_t)len + 1, fmt, num, k, n - k, followed_text, missed_text, failed_text);
    rc = skh_output(call, out);
    goto out;

oom:
    rc = skh_fail(call, SKH_ERR_INTERNAL, "pattern_fidelity: out of memory");
out:
    free(out);
    free(followed_text);
    free(missed_text);
    free(failed_text);
    json_decref(followed);
    json_decref(missed);
    json_decref(rec);
    return rc;
}

SKH_PLUGIN(scorer, "pattern_fidelity", "1.0.0",
           .description = "Share of expected patterns followed in order by the breadcrumbs",
           .score = cb_score)
