/*
 * Shadow policies, the host's half (policy.h has the mechanism): keep every
 * shadow answer beside the live one in shadow_decisions, and answer
 * skh_policy_diff from them.
 *
 * A shadow is never allowed to disturb the live path: its answer is kept
 * best effort (a failure to record it is ignored), its errors are recorded
 * and said once per process, and a decision taken inside a transaction the
 * caller holds is queued and written at the next chance, never nested.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "host_internal.h"
#include "isotime.h"

/* What an answer decided, in one word, so two policies' answers can be compared. */
static const char *verdict_of(const json_t *answer)
{
    static const char *const keys[] = {"action", "winner", "verdict", "decision"};
    if (!answer)
        return "error";
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = json_string_value(json_object_get(answer, keys[i]));
        if (v)
            return v;
    }
    const json_t *ready = json_object_get(answer, "ready");
    if (json_is_boolean(ready))
        return json_is_true(ready) ? "ready" : "not ready";
    return "none";
}

static json_t *text_of(const json_t *j)
{
    char *t = j ? json_dumps(j, SKH_JSON_FLAGS) : NULL;
    json_t *s = t ? json_string(t) : json_null();
    free(t);
    return s;
}

static int write_row(skh_host *host, const json_t *r)
{
#define F(k) json_string_value(json_object_get(r, k))
    store_shadow_row row = {.policy = F("policy"),
                            .fn = F("fn"),
                            .skill = F("skill"),
                            .live_verdict = F("live_verdict"),
                            .shadow_verdict = F("shadow_verdict"),
                            .facts = F("facts"),
                            .live_answer = F("live_answer"),
                            .shadow_answer = F("shadow_answer"),
                            .live_error = F("live_error"),
                            .shadow_error = F("shadow_error"),
                            .live_file = F("live_file"),
                            .live_sha256 = F("live_sha256"),
                            .shadow_file = F("shadow_file"),
                            .shadow_sha256 = F("shadow_sha256")};
#undef F
    skh_error ignored;
    return store_shadow_add(host->st, &row, &ignored);
}

void host_shadow_flush(skh_host *host)
{
    if (!host->shadow_queue || !host->st || store_in_write(host->st))
        return;
    size_t i;
    json_t *r;
    json_array_foreach(host->shadow_queue, i, r) write_row(host, r);
    json_array_clear(host->shadow_queue);
}

void host_shadow_record(void *ctx, const policy_shadow *s)
{
    skh_host *host = ctx;
    const char *skill = json_string_value(json_object_get(s->facts, "skill"));
    json_t *r = json_pack(
        "{s:s, s:s, s:s?, s:s, s:s, s:o, s:o, s:o, s:s?, s:s?, s:s?, s:s?, s:s, s:s?}", "policy",
        s->name, "fn", s->fn, "skill", skill, "live_verdict", verdict_of(s->live), "shadow_verdict",
        verdict_of(s->shadow), "facts", text_of(s->facts), "live_answer", text_of(s->live),
        "shadow_answer", text_of(s->shadow), "live_error", s->live_error, "shadow_error",
        s->shadow_error, "live_file",
        s->live_info && s->live_info->path[0] ? s->live_info->path : NULL, "live_sha256",
        s->live_info && s->live_info->sha256[0] ? s->live_info->sha256 : NULL, "shadow_file",
        s->shadow_info->path, "shadow_sha256",
        s->shadow_info->sha256[0] ? s->shadow_info->sha256 : NULL);
    if (!r)
        return;
    if (s->shadow_error) {
        char key[PATH_MAX + 16];
        snprintf(key, sizeof key, "shadow:%s", s->shadow_info->path);
        if (host_tell_once(host, key))
            fprintf(stderr,
                    "skillhost: shadow policy %s: %s (recorded; the live policy decided; said "
                    "once)\n",
                    s->shadow_info->path, s->shadow_error);
    }
    if (store_in_write(host->st)) {
        if (host->shadow_queue || (host->shadow_queue = json_array()))
            json_array_append(host->shadow_queue, r);
    } else {
        host_shadow_flush(host);
        write_row(host, r);
    }
    json_decref(r);
}

SKH_EXPORT int skh_policy_diff(skh_host *host, const char *policy, const char *since, int examples,
                               char **json, skh_error *err)
{
    *json = NULL;
    error_clear(err);
    if (!name_is_valid(policy))
        return error_set(err, SKH_EINVAL, "policy name", "'%s' must match [a-z0-9_]{1,64}",
                         policy ? policy : "");
    if (examples < 0)
        return error_set(err, SKH_EINVAL, "examples", "must be 0 or more, got %d", examples);
    char from[32] = "";
    if (since && *since && normalise_time(since, from) != 0)
        return error_set(err, SKH_EINVAL, "--since",
                         "'%s' is not a time (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM])", since);
    host_shadow_flush(host);
    json_t *j = NULL;
    int rc = store_shadow_summary(host->st, policy, from, examples, &j, err);
    if (rc)
        return rc;
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/shadow/%s.lua", host->policies_dir, policy);
    json_object_set_new(j, "shadow_file", json_string(file));
    *json = json_dumps(j, SKH_JSON_FLAGS);
    json_decref(j);
    return *json ? SKH_OK : error_set(err, SKH_ENOMEM, policy, "out of memory");
}
