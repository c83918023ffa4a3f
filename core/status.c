/*
 * skh_status (DESIGN §7): everything about one skill in one JSON object --
 * its variants with their live window and samples, the A/B test, circuit
 * breakers, sign-offs, the latest decisions, what the next promotion still
 * needs (promotion.lua asked now, nothing recorded), and which variant
 * served production at a given time.
 *
 * Every read is bounded: windows through the (variant_id, timestamp)
 * indexes, the latest decisions through (skill_name, decision_id).  Status
 * changes nothing; a policy that fails here is reported in the answer
 * ("warnings", or the next promotion's "error"), not recorded.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isotime.h"
#include "error.h"
#include "host_internal.h"
#include "store_lifecycle.h"

#define STATUS_WINDOW 10   /* rollback.lua's default window, when it names none */
#define STATUS_SAMPLES 100 /* promotion.lua's default window, when it names none */
#define STATUS_DECISIONS 10

/* ---- time ---------------------------------------------------------------------- */

/* Read exactly n digits into *v. */
static int digits(const char **s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return -1;
        x = x * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *v = x;
    return 0;
}

/*
 * ISO-8601 as the store writes it: "YYYY-MM-DD[(T| )HH:MM[:SS[.fff...]]]
 * [Z|+HH:MM|-HH:MM]" (UTC when no zone is given) into
 * "YYYY-MM-DDTHH:MM:SS.mmmZ", which sorts as text against the stored
 * timestamps.  -1 when it is not such a time.
 */
int normalise_time(const char *in, char out[32])
{
    const char *s = in;
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' || digits(&s, 2, &d))
        return -1;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
            return -1;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &sec))
                return -1;
            if (*s == '.') {
                s++;
                int scale = 100, n = 0;
                while (isdigit((unsigned char)*s)) {
                    ms += scale * (*s - '0');
                    scale /= 10;
                    s++;
                    n++;
                }
                if (n == 0)
                    return -1;
            }
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, oh, om;
            if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
                return -1;
            off = sign * (oh * 60 + om);
        }
    }
    if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm) - (time_t)off * 60;
    struct tm utc;
    if (!gmtime_r(&t, &utc))
        return -1;
    /* timegm() folds 31 February into March: refuse a day the month does not have. */
    if (off == 0 && (utc.tm_mday != d || utc.tm_mon != mo - 1))
        return -1;
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &utc);
    if (n == 0)
        return -1;
    snprintf(out + n, 32 - n, ".%03dZ", ms);
    return 0;
}

/* ---- pieces -------------------------------------------------------------------------- */

/* Set o[k] = v (stolen); *ok cleared when v is NULL or the set fails. */
static void put(json_t *o, const char *k, json_t *v, int *ok)
{
    if (!v || !o || json_object_set_new(o, k, v) != 0) {
        json_decref(v);
        *ok = 0;
    }
}

static void warn(json_t *warnings, const char *what, const skh_error *e)
{
    json_array_append_new(warnings, json_pack("{s:s, s:s}", "what", what, "message", e->message));
}

/* policy NAME's settings().window, or dflt (with a warning) when it has none or fails. */
static int policy_window(skh_host *host, const char *name, int dflt, json_t *warnings)
{
    json_t *a = NULL;
    skh_error e;
    error_clear(&e);
    if (policy_decide(host->policies, name, "settings", NULL, &a, NULL, &e) != SKH_OK) {
        char what[64];
        snprintf(what, sizeof what, "%s.lua settings()", name);
        warn(warnings, what, &e);
        return dflt;
    }
    json_t *w = json_object_get(a, "window");
    json_int_t n = json_integer_value(w);
    int usable = json_is_integer(w) && n >= 1 && n <= STORE_LIFECYCLE_MAX_WINDOW;
    json_decref(a);
    return usable ? (int)n : dflt;
}

/* The live window and the gate's samples of every variant that is not archived. */
static int variant_metrics(skh_host *host, json_t *variants, int window, int samples,
                           skh_error *err)
{
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *state = json_string_value(json_object_get(v, "state"));
        if (!id || (state && strcmp(state, "archived") == 0))
            continue;
        json_t *w = NULL, *s = NULL;
        int rc = store_variant_live_window(host->st, id, window, &w, err);
        if (rc == SKH_OK)
            rc = store_variant_live_window(host->st, id, samples, &s, err);
        if (rc) {
            json_decref(w);
            return rc;
        }
        json_t *counts = json_pack("{s:i, s:O, s:O, s:O}", "of", samples, "fidelity_metrics",
                                   json_object_get(s, "fidelity_metrics"), "outcome_metrics",
                                   json_object_get(s, "outcome_metrics"), "performance_metrics",
                                   json_object_get(s, "performance_metrics"));
        json_decref(s);
        int ok = 1;
        put(v, "window", w, &ok);
        put(v, "samples", counts, &ok);
        if (!ok)
            return error_set(err, SKH_ENOMEM, id, "out of memory");
    }
    return SKH_OK;
}

/* skh_ab_status's object, or null when the skill never had a test. */
static json_t *ab_section(skh_host *host, const char *skill, json_t *warnings)
{
    char *text = NULL;
    skh_error e;
    int rc = skh_ab_status(host, skill, &text, &e);
    if (rc == SKH_ENOTFOUND)
        return json_null();
    if (rc) {
        warn(warnings, "A/B test", &e);
        return json_null();
    }
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    return j ? j : json_null();
}

static const char *state_of(json_t *variants, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v)
    {
        const char *vid = json_string_value(json_object_get(v, "id"));
        if (vid && id && strcmp(vid, id) == 0)
            return json_string_value(json_object_get(v, "state"));
    }
    return NULL;
}

/* The newest variant in state (variants are oldest first), or NULL. */
static const char *newest_in(json_t *variants, const char *state)
{
    const char *found = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(variants, i, v)
    {
        const char *s = json_string_value(json_object_get(v, "state"));
        if (s && strcmp(s, state) == 0)
            found = json_string_value(json_object_get(v, "id"));
    }
    return found;
}

/*
 * Which variant is next in line, and for what: an A/B winner awaiting its
 * sign-off for production, else the newest staged variant for production,
 * else the newest prototype for staged.  target_state picks the step.
 */
static void next_candidate(json_t *variants, json_t *ab, const char *target_state,
                           const char **variant, const char **to_state)
{
    const char *st = json_string_value(json_object_get(ab, "status"));
    const char *winner =
        st && strcmp(st, "awaiting_approval") == 0
            ? json_string_value(json_object_get(json_object_get(ab, "treatment"), "variant"))
            : NULL;
    const char *wstate = winner ? state_of(variants, winner) : NULL;
    if (wstate && (strcmp(wstate, "prototype") == 0 || strcmp(wstate, "staged") == 0))
        ; /* still a candidate */
    else
        winner = NULL;
    *variant = NULL;
    *to_state = target_state;
    if (target_state && strcmp(target_state, "staged") == 0) {
        *variant = newest_in(variants, "prototype");
    } else if (target_state) {
        *variant = winner ? winner : newest_in(variants, "staged");
    } else if (winner || newest_in(variants, "staged")) {
        *variant = winner ? winner : newest_in(variants, "staged");
        *to_state = "production";
    } else if ((*variant = newest_in(variants, "prototype"))) {
        *to_state = "staged";
    }
}

static json_t *next_promotion(skh_host *host, json_t *variants, json_t *ab,
                              const char *target_state)
{
    const char *variant, *to_state;
    next_candidate(variants, ab, target_state, &variant, &to_state);
    if (!variant)
        return json_pack("{s:n, s:s?, s:s}", "variant", "to_state", to_state, "note",
                         to_state ? "no variant is in the state before it"
                                  : "nothing to promote: no prototype or staged variant");
    json_t *j = NULL;
    skh_error e;
    int rc = promotion_judge(host, variant, to_state, 0, &j, &e);
    if (rc)
        return json_pack("{s:s, s:s, s:s}", "variant", variant, "to_state", to_state, "error",
                         e.message);
    /* What is missing, by name: the checks that did not pass. */
    json_t *missing = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(j, "checks"), i, c)
    {
        if (!json_is_true(json_object_get(c, "passed")))
            json_array_append(missing, json_object_get(c, "name"));
    }
    json_object_del(j, "facts");
    if (!missing || json_object_set_new(j, "missing", missing) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int target_invalid(const char *t, skh_error *err)
{
    if (!t || !*t || strcmp(t, "staged") == 0 || strcmp(t, "production") == 0)
        return SKH_OK;
    return error_set(err, SKH_EINVAL, "--target-state",
                     "'%s' is not a promotion target (staged or production)", t);
}

/* ---- the whole status ---------------------------------------------------------------- */

static int status_object(skh_host *host, const char *skill, const char *target_state,
                         const char *at, json_t **out, skh_error *err)
{
    json_t *variants = NULL, *warnings = json_array(), *s = NULL, *part = NULL;
    store_variant serving;
    int ok = 1;
    memset(&serving, 0, sizeof serving);
    *out = NULL;
    if (!warnings)
        return error_set(err, SKH_ENOMEM, skill, "out of memory");
    int rc = store_variants_of_skill(host->st, skill, &variants, err);
    if (rc) {
        json_decref(warnings);
        return rc;
    }
    int window = policy_window(host, "rollback", STATUS_WINDOW, warnings);
    int samples = policy_window(host, "promotion", STATUS_SAMPLES, warnings);
    rc = variant_metrics(host, variants, window, samples, err);
    if (rc == SKH_OK && (s = json_pack("{s:s}", "skill", skill)) == NULL)
        rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    if (rc == SKH_OK) {
        skh_error e;
        int src = store_variant_serving(host->st, skill, &serving, &e);
        put(s, "serving", src == SKH_OK ? json_string(serving.variant_id) : json_null(), &ok);
        put(s, "serving_state", src == SKH_OK ? json_string(serving.state) : json_null(), &ok);
        put(s, "window", json_integer(window), &ok);
        put(s, "variants", json_incref(variants), &ok);
        put(s, "ab_test", ab_section(host, skill, warnings), &ok);
        rc = store_breakers_of_skill(host->st, skill, &part, err);
    }
    if (rc == SKH_OK) {
        put(s, "breakers", part, &ok);
        rc = store_approvals_of_skill(host->st, skill, &part, err);
    }
    if (rc == SKH_OK) {
        put(s, "approvals", part, &ok);
        rc = store_decisions_latest(host->st, skill, STATUS_DECISIONS, &part, err);
    }
    if (rc == SKH_OK) {
        put(s, "decisions", part, &ok);
        put(s, "next_promotion",
            next_promotion(host, variants, json_object_get(s, "ab_test"), target_state), &ok);
        if (at) {
            rc = store_served_at(host->st, skill, at, &part, err);
            if (rc == SKH_OK)
                put(s, "served_at", part, &ok);
        }
    }
    if (rc == SKH_OK) {
        put(s, "warnings", warnings, &ok);
        warnings = NULL;
        if (!ok)
            rc = error_set(err, SKH_ENOMEM, skill, "out of memory");
    }
    store_variant_free(&serving);
    json_decref(variants);
    json_decref(warnings);
    if (rc) {
        json_decref(s);
        return rc;
    }
    *out = s;
    return SKH_OK;
}

SKH_EXPORT int skh_status(skh_host *host, const char *skill, const char *target_state,
                          const char *at, char **json, skh_error *err)
{
    char when[32];
    skh_error local;
    *json = NULL;
    if (!err)
        err = &local;
    error_clear(err);
    if (!name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    int rc = target_invalid(target_state, err);
    if (rc)
        return rc;
    if (at && normalise_time(at, when) != 0)
        return error_set(err, SKH_EINVAL, "--at",
                         "'%s' is not a time like 2026-11-23T08:15:02Z (ISO-8601, UTC unless a "
                         "+HH:MM offset is given)",
                         at);
    json_t *j = NULL;
    rc = status_object(host, skill, target_state && *target_state ? target_state : NULL,
                       at ? when : NULL, &j, err);
    if (rc)
        return rc;
    *json = json_dumps(j, SKH_JSON_FLAGS);
    json_decref(j);
    return *json ? SKH_OK : error_set(err, SKH_ENOMEM, skill, "out of memory");
}
