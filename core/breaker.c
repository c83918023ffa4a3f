/*
 * Circuit breakers (DESIGN §2 step 2, §4 rollout.lua).
 *
 *   closed     requests run; a failure counts (failures += 1), a request
 *              that did not fail resets the count
 *   open       after `failures` consecutive failures: requests fall back to
 *              the previous production variant (the rollback target) for
 *              `cooldown_s` seconds
 *   half_open  after the cool-down exactly one request -- the one whose
 *              conditional UPDATE wins -- runs the variant as a probe; its
 *              success closes the breaker, its failure re-opens it (a new
 *              cool-down).  A probe that never reports (its process died)
 *              is replaced after another cool-down.
 *   frozen     rollback.lua's "freeze": like open, with no cool-down and no
 *              probe; it ends when the variant's state changes.
 *
 * What counts as a failure is the caller's to say (breaker_record's
 * failed): execute.c counts a request that failed with an error recovery.lua
 * marked breaker = true -- by default a crash.
 *
 * The state lives in circuit_breakers and changes only by atomic SQL, so
 * every process on the database sees it and none loses a count.  Times are
 * the database's ISO timestamps compared with julianday('now'): wall-clock
 * time, comparable across processes (the host's injectable clock is
 * monotonic and per process).  The thresholds come from rollout.lua's
 * breaker(), read only when a breaker is not plainly closed; a rollout.lua
 * without breaker() (or none at all) means the defaults below.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "error.h"
#include "store_rollback.h"

#define POLICY "rollout"
#define FN "breaker"
#define DEFAULT_FAILURES 5
#define DEFAULT_COOLDOWN_S 30.0

typedef struct breaker_cfg {
    long long failures;
    double cooldown_s;
    policy_info info;
    char thresholds[128]; /* JSON text */
} breaker_cfg;

static void record_error(skh_host *host, const char *skill, const char *variant,
                         const breaker_cfg *cfg, const char *file, const char *msg)
{
    fprintf(stderr, "skillhost: %s (policy " POLICY " decided nothing; breaker defaults used)\n",
            msg);
    json_t *seen = json_pack("{s:s, s:s}", "error", msg, "used", cfg->thresholds);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    json_decref(seen);
    store_decision d = {.skill = skill,
                        .variant_id = variant,
                        .kind = "breaker",
                        .verdict = "error",
                        .observed = observed,
                        .policy_file = cfg->info.path[0] ? cfg->info.path : file,
                        .policy_sha256 = cfg->info.sha256};
    skh_error ignored;
    store_decision_add(host->st, &d, &ignored);
    free(observed);
}

static void fill_thresholds(breaker_cfg *cfg)
{
    snprintf(cfg->thresholds, sizeof cfg->thresholds, "{\"failures\":%lld,\"cooldown_s\":%g}",
             cfg->failures, cfg->cooldown_s);
}

/*
 * rollout.lua's breaker(facts) -> { failures = N, cooldown_s = S }.  Any
 * failure leaves the defaults, which are safe: a breaker must keep working
 * when its policy does not.
 */
static void breaker_settings(skh_host *host, const char *skill, const char *variant,
                             breaker_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->failures = DEFAULT_FAILURES;
    cfg->cooldown_s = DEFAULT_COOLDOWN_S;
    fill_thresholds(cfg);
    json_t *facts = json_pack("{s:s, s:s}", "skill", skill, "variant", variant);
    json_t *a = NULL;
    skh_error perr;
    error_clear(&perr);
    int rc = facts ? policy_decide(host->policies, POLICY, FN, facts, &a, &cfg->info, &perr)
                   : SKH_ENOMEM;
    json_decref(facts);
    if (rc != SKH_OK) {
        /* No rollout policy, or one without breaker(): the defaults are the setting. */
        int absent = !cfg->info.path[0] || strstr(perr.message, "no function '" FN "'");
        if (!(rc == SKH_EPLUGIN && absent))
            record_error(host, skill, variant, cfg, perr.what, perr.message);
        return;
    }
    json_t *f = json_object_get(a, "failures"), *c = json_object_get(a, "cooldown_s");
    double cd = json_number_value(c);
    if (!json_is_integer(f) || json_integer_value(f) < 1 || !json_is_number(c) || !(cd >= 0) ||
        cd > 7 * 86400.0) {
        char msg[PATH_MAX + 200];
        snprintf(msg, sizeof msg,
                 "%s: " FN " answered badly: failures must be a whole number >= 1 and "
                 "cooldown_s seconds in [0, 604800]",
                 cfg->info.path);
        record_error(host, skill, variant, cfg, cfg->info.path, msg);
    } else {
        cfg->failures = (long long)json_integer_value(f);
        cfg->cooldown_s = cd;
        fill_thresholds(cfg);
    }
    json_decref(a);
}

static store_rb_decision decision_of(const breaker_cfg *cfg, const char *verdict,
                                     const char *observed)
{
    store_rb_decision d = {.kind = "breaker",
                           .verdict = verdict,
                           .observed = observed,
                           .thresholds = cfg->thresholds,
                           .policy_file = cfg->info.path[0] ? cfg->info.path : NULL,
                           .policy_sha256 = cfg->info.sha256[0] ? cfg->info.sha256 : NULL};
    return d;
}

int breaker_admit(skh_host *host, const char *skill, const char *variant_id, int *allow, int *clean,
                  char **fallback, skh_error *err)
{
    store_breaker b;
    *allow = 1;
    *clean = 0;
    *fallback = NULL;
    int rc = store_breaker_get(host->st, variant_id, &b, err);
    if (rc == SKH_OK)
        *clean = !b.exists || (strcmp(b.state, "closed") == 0 && b.failures == 0);
    if (rc || !b.exists || strcmp(b.state, "closed") == 0)
        return rc;

    int half = strcmp(b.state, "half_open") == 0;
    if (half || strcmp(b.state, "open") == 0) {
        breaker_cfg cfg;
        breaker_settings(host, skill, variant_id, &cfg);
        double age = half ? b.half_open_age_s : b.open_age_s;
        if (age >= cfg.cooldown_s) {
            /* A half-open breaker whose probe never reported gets a new probe. */
            char observed[160];
            snprintf(observed, sizeof observed,
                     "{\"from\":\"%s\",\"to\":\"half_open\",\"%s\":%.3f,\"failures\":%lld}",
                     b.state, half ? "probe_silent_for_s" : "open_for_s", age, b.failures);
            store_rb_decision d = decision_of(&cfg, "half_open", observed);
            int claimed = 0;
            if ((rc = store_breaker_claim(host->st, skill, variant_id, &b, &d, &claimed, err)))
                return rc;
            if (claimed)
                return SKH_OK;
        }
    }
    *allow = 0;
    return store_rb_target(host->st, skill, variant_id, fallback, err);
}

int breaker_record(skh_host *host, const char *skill, const char *variant_id, int failed,
                   skh_error *err)
{
    store_breaker b;
    int rc = store_breaker_get(host->st, variant_id, &b, err);
    if (rc)
        return rc;
    /* The common case writes nothing and asks no policy. */
    if (!failed && (!b.exists || (strcmp(b.state, "closed") == 0 && b.failures == 0)))
        return SKH_OK;
    if (!failed && strcmp(b.state, "closed") == 0) {
        int closed = 0;
        return store_breaker_success(host->st, skill, variant_id, NULL, &closed, err);
    }
    if (!failed && strcmp(b.state, "half_open") != 0)
        return SKH_OK; /* open or frozen: only a probe or the cool-down moves it */

    breaker_cfg cfg;
    breaker_settings(host, skill, variant_id, &cfg);
    store_rb_decision d = decision_of(&cfg, failed ? "open" : "close", NULL);
    if (!failed) {
        int closed = 0;
        rc = store_breaker_success(host->st, skill, variant_id, &d, &closed, err);
        if (rc == SKH_OK && closed)
            fprintf(stderr, "skillhost: %s: circuit breaker of %s closed: the probe succeeded\n",
                    skill, variant_id);
        return rc;
    }
    int opened = 0;
    rc = store_breaker_failure(host->st, skill, variant_id, cfg.failures, &d, &opened, err);
    if (rc == SKH_OK && opened)
        fprintf(stderr,
                "skillhost: %s: circuit breaker of %s open%s; requests fall back for %g s\n", skill,
                variant_id, strcmp(b.state, "half_open") == 0 ? " again: the probe failed" : "",
                cfg.cooldown_s);
    return rc;
}
