/*
 * The recovery policy compiled in C: the same rules as policies/recovery.lua.
 * It answers when the policies folder holds no recovery.lua (an embedding
 * host without installed policies), and it is the baseline scripts/bench
 * measures the Lua policy against.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <skillhost/plugin.h>

typedef struct rule {
    const char *category;
    const char *action; /* retry, skip, fail */
    int max;
    double base_ms, cap_ms;
    int breaker;
} rule;

static const rule rules[] = {
    {"network", "retry", 5, 500, 2000, 0},     {"timeout", "retry", 3, 500, 4000, 0},
    {"rate_limit", "retry", 5, 1000, 8000, 0}, {"unavailable", "retry", 3, 500, 4000, 0},
    {"validation", "skip", 0, 0, 0, 0},        {"authentication", "fail", 0, 0, 0, 0},
    {"not_found", "fail", 0, 0, 0, 0},         {"crash", "fail", 0, 0, 0, 1},
    {"internal", "fail", 0, 0, 0, 0},          {"policy", "fail", 0, 0, 0, 0},
};

static int answer(skh_call *call, json_t *decision)
{
    char *text = decision ? json_dumps(decision, JSON_COMPACT) : NULL;
    json_decref(decision);
    if (!text)
        return skh_fail(call, SKH_ERR_INTERNAL, "recovery: out of memory");
    int rc = skh_output(call, text);
    free(text);
    return rc;
}

static int decide(void *state, skh_call *call)
{
    (void)state;
    char reason[160];
    json_error_t jerr;
    json_t *facts = json_loads(skh_input(call), 0, &jerr);
    const char *category = json_string_value(json_object_get(facts, "category"));
    long long retry = json_integer_value(json_object_get(facts, "retry"));
    const rule *r = NULL;
    for (size_t i = 0; category && i < sizeof rules / sizeof *rules; i++)
        if (strcmp(rules[i].category, category) == 0)
            r = &rules[i];

    json_t *d;
    if (!r) {
        snprintf(reason, sizeof reason, "no rule for category %s", category ? category : "nil");
        d = json_pack("{s:s, s:s}", "action", "fail", "reason", reason);
    } else if (strcmp(r->action, "retry") != 0) {
        snprintf(reason, sizeof reason, "%s: %s", r->category, r->action);
        d = json_pack("{s:s, s:b, s:s}", "action", r->action, "breaker", r->breaker, "reason",
                      reason);
    } else if (retry >= r->max) {
        snprintf(reason, sizeof reason, "%s: gave up after %lld retries", r->category, retry);
        d = json_pack("{s:s, s:s}", "action", "fail", "reason", reason);
    } else {
        snprintf(reason, sizeof reason, "%s: retry %lld of %d", r->category, retry + 1, r->max);
        d = json_pack("{s:s, s:f, s:s, s:s}", "action", "retry", "delay_ms",
                      fmin(r->cap_ms, r->base_ms * pow(2.0, (double)retry)), "jitter", "full",
                      "reason", reason);
    }
    json_decref(facts);
    return answer(call, d);
}

SKH_PLUGIN(policy, "recovery", "1.0.0", .decide = decide,
           .description = "Retry, skip or fail a failed attempt by error category (built in)");
