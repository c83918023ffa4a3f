/*
 * keyword_classifier: flags text as spam when enough listed words occur.
 *
 * plugins/keyword_classifier.lua implements the same specification; their
 * outputs must agree value for value, so every rule below (tokenizing,
 * counting, the confidence formula and the order of its arithmetic) is
 * deliberate and mirrored there.
 *
 * Content (the variant's parameters): {"threshold": N, "words": [...]}, or
 * empty for the defaults below.  Input: {"text": "..."}.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <skillhost/plugin.h>

static const char *const default_words[] = {"buy",   "free",  "winner", "click",
                                            "offer", "money", "prize",  "cheap"};
enum { DEFAULT_THRESHOLD = 2 };

typedef struct params {
    long long threshold;
    char **words; /* lowercased, owned */
    size_t nwords;
} params;

static void params_free(params *p)
{
    for (size_t i = 0; i < p->nwords; i++)
        free(p->words[i]);
    free(p->words);
    p->words = NULL;
    p->nwords = 0;
}

static char *lower_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    return d;
}

static int add_word(params *p, const char *w)
{
    char *d = lower_dup(w);
    if (!d)
        return -1;
    p->words[p->nwords++] = d;
    return 0;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

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

/* Returns 0, or a skh_fail result already reported on call. */
static int params_load(skh_call *call, params *p)
{
    const char *content = skh_content(call);
    size_t n = sizeof default_words / sizeof default_words[0];
    memset(p, 0, sizeof *p);

    if (!content || is_blank(content)) {
        p->threshold = DEFAULT_THRESHOLD;
        p->words = calloc(n, sizeof *p->words);
        if (!p->words)
            return skh_fail(call, SKH_ERR_INTERNAL, "out of memory");
        for (size_t i = 0; i < n; i++)
            if (add_word(p, default_words[i]) != 0) {
                params_free(p);
                return skh_fail(call, SKH_ERR_INTERNAL, "out of memory");
            }
        return 0;
    }

    json_error_t jerr;
    json_t *root = json_loads(content, JSON_DECODE_ANY, &jerr);
    if (!root) {
        char msg[256 + JSON_ERROR_TEXT_LENGTH];
        snprintf(msg, sizeof msg, "content is not JSON: line %d, column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return skh_fail(call, SKH_ERR_VALIDATION, msg);
    }
    int rc = 0;
    json_t *th = json_object_get(root, "threshold");
    json_t *words = json_object_get(root, "words");
    if (!json_is_integer(th) || json_integer_value(th) < 1) {
        rc = skh_fail(call, SKH_ERR_VALIDATION, "content.threshold must be an integer >= 1");
        goto out;
    }
    int ok = json_is_array(words);
    for (size_t i = 0; ok && i < json_array_size(words); i++)
        ok = json_is_string(json_array_get(words, i));
    if (!ok) {
        rc = skh_fail(call, SKH_ERR_VALIDATION, "content.words must be an array of strings");
        goto out;
    }
    p->threshold = json_integer_value(th);
    n = json_array_size(words);
    p->words = calloc(n ? n : 1, sizeof *p->words);
    if (!p->words) {
        rc = skh_fail(call, SKH_ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (add_word(p, json_string_value(json_array_get(words, i))) != 0) {
            params_free(p);
            rc = skh_fail(call, SKH_ERR_INTERNAL, "out of memory");
            goto out;
        }
out:
    json_decref(root);
    return rc;
}

static int is_listed(const params *p, const char *tok, size_t len)
{
    for (size_t i = 0; i < p->nwords; i++)
        if (strlen(p->words[i]) == len && memcmp(p->words[i], tok, len) == 0)
            return 1;
    return 0;
}

static int is_token_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int cb_execute(void *state, skh_call *call)
{
    params p;
    int rc = params_load(call, &p);
    if (rc != 0)
        return rc;

    json_error_t jerr;
    json_t *in = json_loads(skh_input(call), JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    json_t *text = json_object_get(in, "text");
    if (!json_is_string(text)) {
        json_decref(in);
        params_free(&p);
        return skh_fail(call, SKH_ERR_VALIDATION, "input.text must be a string");
    }
    skh_step(call, "read_input");

    /* Text may hold NUL bytes (JSON "\u0000"): they separate tokens like any other byte. */
    size_t len = json_string_length(text);
    char *low = malloc(len + 1);
    if (!low) {
        json_decref(in);
        params_free(&p);
        return skh_fail(call, SKH_ERR_INTERNAL, "out of memory");
    }
    const char *src = json_string_value(text);
    for (size_t i = 0; i < len; i++)
        low[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
    low[len] = '\0';
    json_decref(in);
    skh_step(call, "tokenize");

    long long hits = 0;
    for (size_t i = 0; i < len;) {
        if (!is_token_byte((unsigned char)low[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && is_token_byte((unsigned char)low[i]))
            i++;
        hits += is_listed(&p, low + start, i - start);
    }
    free(low);
    skh_step(call, "classify");

    long long t = p.threshold;
    params_free(&p);
    int spam = hits >= t;
    double conf = spam ? fmin(0.99, 0.6 + 0.1 * (double)(hits - t))
                       : fmin(0.99, 0.9 - 0.3 * (double)hits / (double)t);
    skh_step(call, "decide");

    char num[40], out[160];
    fmt_real(conf, num);
    snprintf(out, sizeof out, "{\"decision\":\"%s\",\"confidence\":%s,\"hits\":%lld}",
             spam ? "spam" : "ham", num, hits);
    return skh_output(call, out);
}

SKH_PLUGIN(skill, "keyword_classifier", "1.0.0",
           .description = "Flags text as spam when enough listed words occur",
           .patterns = "read_input,tokenize,classify,decide", .execute = cb_execute)
