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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <skillhost/plugin.h>

static int strings_only(const json_t *arr)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!json_is_string(json_array_get(arr, i)))
            return 0;
    return 1;
}

/*
 * The matching itself, on plain strings: hit[i] = 1 when expected[i] was
 * followed.  Returns how many were.  Not static in the built-in copy: the
 * host scores the breadcrumbs it holds with it, with no JSON in between.
 */
#ifdef SKH_BUILTIN_SCORERS
size_t builtin_pattern_match(const char *const *steps, size_t nsteps, const char *const *expected,
                             size_t n, unsigned char *hit);
#else
static
#endif
size_t builtin_pattern_match(const char *const *steps, size_t nsteps, const char *const *expected,
                             size_t n, unsigned char *hit)
{
    size_t cursor = 0, followed = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = cursor;
        while (j < nsteps && strcmp(steps[j], expected[i]) != 0)
            j++;
        hit[i] = j < nsteps;
        if (hit[i]) {
            cursor = j + 1;
            followed++;
        }
    }
    return followed;
}

/* The strings of a JSON array of strings (n of them), or NULL when memory ran out. */
static const char **strings_of(const json_t *arr, size_t n)
{
    const char **v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_string_value(json_array_get(arr, i));
    return v;
}

/* The scores of one record, as a JSON object; NULL with why set when it is unusable. */
static json_t *pattern_fidelity_score(const json_t *rec, char *why, size_t whylen)
{
    json_t *steps = json_object_get(rec, "steps");
    json_t *expected = json_object_get(rec, "expected");
    if ((steps && !json_is_null(steps) && !(json_is_array(steps) && strings_only(steps))) ||
        (expected && !json_is_null(expected) &&
         !(json_is_array(expected) && strings_only(expected)))) {
        snprintf(why, whylen, "pattern_fidelity: steps and expected must be arrays of strings");
        return NULL;
    }
    size_t nsteps = json_array_size(steps), n = json_array_size(expected);
    const char **sv = strings_of(steps, nsteps), **ev = strings_of(expected, n);
    unsigned char *hit = malloc(n ? n : 1);
    json_t *followed = json_array(), *missed = json_array(), *out = NULL;
    if (!sv || !ev || !hit || !followed || !missed)
        goto oom;
    size_t k = builtin_pattern_match(sv, nsteps, ev, n, hit);
    const char *first_missed = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!hit[i] && !first_missed)
            first_missed = ev[i];
        if (json_array_append(hit[i] ? followed : missed, json_array_get(expected, i)) != 0)
            goto oom;
    }
    double fidelity = n == 0 ? 1.0 : (double)k / (double)n;
    /* "o" hands followed and missed over, also when the pack fails. */
    out = json_pack("{s:f, s:I, s:I, s:o, s:o, s:s?}", "pattern_fidelity", fidelity,
                    "patterns_followed", (json_int_t)k, "patterns_missed", (json_int_t)(n - k),
                    "followed", followed, "missed", missed, "failed_at_step", first_missed);
    followed = missed = NULL;
    if (out)
        goto done;
oom:
    json_decref(followed);
    json_decref(missed);
    snprintf(why, whylen, "pattern_fidelity: out of memory");
done:
    free(sv);
    free(ev);
    free(hit);
    return out;
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
    char why[256 + JSON_ERROR_TEXT_LENGTH];
    json_t *rec = json_loads(skh_input(call), 0, &jerr);
    if (!json_is_object(rec)) {
        if (rec)
            snprintf(why, sizeof why, "pattern_fidelity: the record must be a JSON object");
        else
            snprintf(why, sizeof why,
                     "pattern_fidelity: record is not JSON: line %d, column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        json_decref(rec);
        return skh_fail(call, SKH_ERR_VALIDATION, why);
    }
    json_t *scores = pattern_fidelity_score(rec, why, sizeof why);
    json_decref(rec);
    if (!scores)
        return skh_fail(call, strstr(why, "memory") ? SKH_ERR_INTERNAL : SKH_ERR_VALIDATION, why);
    char *text = dump_exact(scores);
    json_decref(scores);
    int rc = text ? skh_output(call, text)
                  : skh_fail(call, SKH_ERR_INTERNAL, "pattern_fidelity: out of memory");
    free(text);
    return rc;
}

SKH_PLUGIN(scorer, "pattern_fidelity", "1.0.0",
           .description = "Share of expected patterns followed in order by the breadcrumbs",
           .score = cb_score)
