/*
 * flaky: a skill whose behaviour is dictated by its input, so retries,
 * ReAct iterations and error recovery can be tested deterministically.
 *
 * Input (both optional; element k-1 applies to attempt k, the last element
 * repeats for later attempts):
 *   "fidelity_by_attempt": [0.5, 0.95, ...]   share of expected patterns followed
 *   "error_by_attempt": ["network", null, ...] fail with that category after the steps
 *
 * Content (optional): {"fidelity": F} is the share followed when the input
 * says nothing, so two variants of one skill can differ in quality (the
 * demo's A/B test and regression).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <skillhost/plugin.h>

static const struct {
    const char *name;
    int category;
} categories[] = {
    {"network", SKH_ERR_NETWORK},       {"timeout", SKH_ERR_TIMEOUT},
    {"rate_limit", SKH_ERR_RATE_LIMIT}, {"unavailable", SKH_ERR_UNAVAILABLE},
    {"validation", SKH_ERR_VALIDATION}, {"authentication", SKH_ERR_AUTHENTICATION},
    {"not_found", SKH_ERR_NOT_FOUND},   {"crash", SKH_ERR_CRASH},
    {"internal", SKH_ERR_INTERNAL},     {"policy", SKH_ERR_POLICY},
};

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

/* Element k-1 of an optional array, the last one when k runs past it; NULL when absent. */
static json_t *for_attempt(json_t *arr, unsigned k)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return NULL;
    return json_array_get(arr, k - 1 < n ? k - 1 : n - 1);
}

static int cb_execute(void *state, skh_call *call)
{
    unsigned k = skh_attempt(call);
    if (k == 0)
        k = 1;
    json_error_t jerr;
    json_t *in = json_loads(skh_input(call), JSON_DECODE_ANY, &jerr);
    if (!in) {
        char msg[256 + JSON_ERROR_TEXT_LENGTH];
        snprintf(msg, sizeof msg, "flaky: input is not JSON: line %d, column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return skh_fail(call, SKH_ERR_VALIDATION, msg);
    }
    json_t *patterns = json_loads(skh_patterns(call), 0, &jerr);
    int rc;

    json_t *fa = json_object_get(in, "fidelity_by_attempt");
    json_t *ea = json_object_get(in, "error_by_attempt");
    if ((fa && !json_is_array(fa)) || (ea && !json_is_array(ea))) {
        rc = skh_fail(call, SKH_ERR_VALIDATION,
                      "flaky: fidelity_by_attempt and error_by_attempt must be arrays");
        goto out;
    }
    double f = 1.0;
    json_t *content = json_loads(skh_content(call), 0, NULL);
    json_t *cf = json_object_get(content, "fidelity");
    if (json_is_number(cf))
        f = json_number_value(cf);
    json_decref(content);
    json_t *fv = for_attempt(fa, k);
    if (fv) {
        if (!json_is_number(fv)) {
            rc = skh_fail(call, SKH_ERR_VALIDATION, "flaky: fidelity_by_attempt must hold numbers");
            goto out;
        }
        f = json_number_value(fv);
    }
    int category = SKH_ERR_NONE;
    const char *category_name = NULL;
    json_t *ev = for_attempt(ea, k);
    if (ev && !json_is_null(ev)) {
        category_name = json_string_value(ev);
        for (size_t i = 0; category_name && i < sizeof categories / sizeof categories[0]; i++)
            if (strcmp(categories[i].name, category_name) == 0)
                category = categories[i].category;
        if (category == SKH_ERR_NONE) {
            char msg[256];
            snprintf(msg, sizeof msg, "flaky: unknown error category %s%.64s%s on attempt %u",
                     category_name ? "\"" : "", category_name ? category_name : "(not a string)",
                     category_name ? "\"" : "", k);
            rc = skh_fail(call, SKH_ERR_VALIDATION, msg);
            goto out;
        }
    }

    /* The small epsilon keeps 0.95 * 20 (= 19.000000000000004) at 19 steps. */
    size_t n = json_array_size(patterns);
    double want = ceil(f * (double)n - 1e-9);
    size_t m = want <= 0 ? 0 : want >= (double)n ? n : (size_t)want;
    for (size_t i = 0; i < m; i++) {
        const char *name = json_string_value(json_array_get(patterns, i));
        if (name)
            skh_step(call, name);
    }

    if (category != SKH_ERR_NONE) {
        char msg[128];
        snprintf(msg, sizeof msg, "flaky: injected %s error on attempt %u", category_name, k);
        rc = skh_fail(call, category, msg);
        goto out;
    }

    char *echo = json_dumps(in, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!echo) {
        rc = skh_fail(call, SKH_ERR_INTERNAL, "flaky: out of memory");
        goto out;
    }
    char num[40];
    fmt_real(f, num);
    static const char fmt[] = "{\"echo\":%s,\"attempt\":%u,\"decision\":\"ok\",\"confidence\":%s}";
    int len = snprintf(NULL, 0, fmt, echo, k, num);
    char *out = len < 0 ? NULL : malloc((size_t)len + 1);
    if (!out) {
        free(echo);
        rc = skh_fail(call, SKH_ERR_INTERNAL, "flaky: out of memory");
        goto out;
    }
    snprintf(out, (size_t)len + 1, fmt, echo, k, num);
    free(echo);
    rc = skh_output(call, out);
    free(out);
out:
    json_decref(patterns);
    json_decref(in);
    return rc;
}

SKH_PLUGIN(skill, "flaky", "1.0.0",
           .description = "Test skill whose fidelity and errors follow its input",
           .patterns = "s1,s2,s3,s4,s5,s6,s7,s8,s9,s10,s11,s12,s13,s14,s15,s16,s17,s18,s19,s20",
           .execute = cb_execute)
