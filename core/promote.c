/*
 * The promotion gate (DESIGN §4, §7): skh_approve records a human sign-off,
 * skh_promote asks promotion.lua and, when it answers ready, moves the
 * variant in one transaction and runs the transition hooks.
 *
 * Which items a sign-off has, and every threshold, live in
 * policies/promotion.lua; this file gathers the facts (store_lifecycle.c),
 * checks the policy's answer, and refuses anything it cannot read: a broken
 * policy promotes nothing.  Every answer, ready or not, is kept in the
 * decisions table with the facts, the thresholds and the policy's sha256.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "hooks.h"
#include "host_internal.h"
#include "store_lifecycle.h"

#define PATH_STAGED "prototype->staged"
#define PATH_PRODUCTION "staged->production"
#define DEFAULT_WINDOW 100

/* ---- paths and states ----------------------------------------------------------- */

/* The sign-off path that leads to to_state; NULL for a state no promotion leads to. */
static const char *path_to(const char *to_state)
{
    if (!to_state)
        return NULL;
    if (strcmp(to_state, "staged") == 0)
        return PATH_STAGED;
    if (strcmp(to_state, "production") == 0)
        return PATH_PRODUCTION;
    return NULL;
}

static const char *target_of_path(const char *path)
{
    if (!path)
        return NULL;
    if (strcmp(path, PATH_STAGED) == 0)
        return "staged";
    if (strcmp(path, PATH_PRODUCTION) == 0)
        return "production";
    return NULL;
}

/*
 * May a variant in state take the step to to_state?  prototype -> staged and
 * staged -> production; and the treatment of an A/B test that won and waits
 * for sign-off (ab.lua's on_win = "await_approval") may go to production from
 * whatever serving state it is in: its sign-off is the staged->production one.
 */
static int step_allowed(const char *variant, const char *state, const char *to_state,
                        int awaiting_ab, skh_error *err)
{
    if (strcmp(state, "archived") == 0)
        return error_set(err, SKH_EFAILED, variant,
                         "is archived; register it again to take it through the gate");
    if (strcmp(state, to_state) == 0)
        return error_set(err, SKH_EFAILED, variant, "is %s already", state);
    if (strcmp(to_state, "staged") == 0) {
        if (strcmp(state, "prototype") == 0)
            return SKH_OK;
        return error_set(err, SKH_EFAILED, variant, "is %s: only a prototype is promoted to staged",
                         state);
    }
    if (strcmp(state, "staged") == 0 || (awaiting_ab && strcmp(state, "prototype") == 0))
        return SKH_OK;
    if (strcmp(state, "production") == 0)
        return error_set(err, SKH_EFAILED, variant, "is production already");
    return error_set(err, SKH_EFAILED, variant,
                     "is %s: promote it to staged first (skillhost promote %s --to staged)", state,
                     variant);
}

/* ---- asking the policy ----------------------------------------------------------- */

/*
 * A policy that fails decides nothing: kept in decisions (verdict "error")
 * with the file and sha256 this gate knows.  Not printed here: every path
 * that records also returns the error, and the caller (the CLI) prints it,
 * once.
 */
static void record_policy_error(skh_host *host, const char *skill, const char *variant,
                                json_t *facts, const policy_info *info, const char *message)
{
    json_t *seen = json_pack("{s:O?, s:s}", "facts", facts, "error", message);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    store_decision d = {.skill = skill,
                        .variant_id = variant,
                        .kind = "promotion",
                        .verdict = "error",
                        .observed = observed,
                        .policy_file = info->path[0] ? info->path : "promotion",
                        .policy_sha256 = info->sha256};
    skh_error ignored;
    store_decision_add(host->st, &d, &ignored);
    free(observed);
    json_decref(seen);
}

/* Call promotion.lua's fn; on failure the error is recorded when record. */
static int ask(skh_host *host, const char *fn, json_t *facts, const char *skill,
               const char *variant, int record, json_t **answer, policy_info *info, skh_error *err)
{
    int rc = policy_decide(host->policies, "promotion", fn, facts, answer, info, err);
    if (rc && record)
        record_policy_error(host, skill, variant, facts, info, err->message);
    return rc;
}

/* An answer the gate cannot use is a policy error: SKH_EPLUGIN naming the file. */
static int bad_answer(skh_host *host, const char *skill, const char *variant, json_t *facts,
                      const policy_info *info, int record, const char *fn, const char *why,
                      skh_error *err)
{
    char msg[PATH_MAX + 640];
    snprintf(msg, sizeof msg, "%s: %s answered badly: %s", info->path, fn, why);
    if (record)
        record_policy_error(host, skill, variant, facts, info, msg);
    return error_set_category(err, SKH_EPLUGIN, SKH_ERR_POLICY, info->path, "%s", msg);
}

/* settings().window: how many live executions per metric table the facts read. */
static int policy_window(skh_host *host, const char *skill, const char *variant, int record,
                         int *window, skh_error *err)
{
    json_t *a = NULL;
    policy_info info;
    *window = DEFAULT_WINDOW;
    int rc = ask(host, "settings", NULL, skill, variant, record, &a, &info, err);
    if (rc)
        return rc;
    json_t *w = json_object_get(a, "window");
    if (w) {
        json_int_t n = json_integer_value(w);
        if (!json_is_integer(w) || n < 1 || n > STORE_LIFECYCLE_MAX_WINDOW) {
            char why[128];
            snprintf(why, sizeof why, "window must be an integer in [1, %d]",
                     STORE_LIFECYCLE_MAX_WINDOW);
            json_decref(a);
            return bad_answer(host, skill, variant, NULL, &info, record, "settings", why, err);
        }
        *window = (int)n;
    }
    json_decref(a);
    return SKH_OK;
}

static const char *check_status(json_t *c)
{
    const char *s = json_string_value(json_object_get(c, "status"));
    if (s && (strcmp(s, "pass") == 0 || strcmp(s, "fail") == 0 || strcmp(s, "inconclusive") == 0))
        return s;
    if (!s && json_is_boolean(json_object_get(c, "passed")))
        return json_is_true(json_object_get(c, "passed")) ? "pass" : "fail";
    return NULL;
}

/*
 * Check ready()'s answer and normalise it: every check gets status and
 * passed; the verdict is the checks' (a policy saying "ready" while a check
 * failed is refused, fail safe); thresholds default to each check's.
 */
static int read_ready(json_t *a, json_t **checks_out, const char **verdict, json_t **thresholds,
                      char *why, size_t len)
{
    json_t *checks = json_object_get(a, "checks");
    json_t *ready = json_object_get(a, "ready");
    *checks_out = NULL;
    *thresholds = NULL;
    if (!json_is_boolean(ready)) {
        snprintf(why, len, "ready must be true or false");
        return -1;
    }
    /* An empty Lua table arrives as {}. */
    if (json_is_object(checks) && json_object_size(checks) == 0)
        checks = NULL;
    if (checks && !json_is_array(checks)) {
        snprintf(why, len, "checks must be a list");
        return -1;
    }
    json_t *norm = json_array(), *th = json_object();
    if (!norm || !th) {
        json_decref(norm);
        json_decref(th);
        snprintf(why, len, "out of memory");
        return -1;
    }
    int failed = 0, unsure = 0;
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *st = json_is_object(c) ? check_status(c) : NULL;
        if (!name || !st) {
            snprintf(why, len, "check %zu needs a name and a status (pass, fail or inconclusive)",
                     i + 1);
            json_decref(norm);
            json_decref(th);
            return -1;
        }
        json_t *copy = json_deep_copy(c);
        int bad = !copy || json_object_set_new(copy, "status", json_string(st)) ||
                  json_object_set_new(copy, "passed", json_boolean(strcmp(st, "pass") == 0)) ||
                  json_array_append_new(norm, copy);
        json_t *t = json_object_get(c, "threshold");
        if (!bad && t)
            bad = json_object_set(th, name, t);
        if (bad) {
            snprintf(why, len, "out of memory");
            json_decref(norm);
            json_decref(th);
            return -1;
        }
        failed |= strcmp(st, "fail") == 0;
        unsure |= strcmp(st, "inconclusive") == 0;
    }
    const char *v = failed ? "not_ready" : unsure ? "inconclusive" : "ready";
    if (json_is_true(ready) && strcmp(v, "ready") != 0) {
        snprintf(why, len, "ready = true, but a check is %s", failed ? "failed" : "inconclusive");
        json_decref(norm);
        json_decref(th);
        return -1;
    }
    /* ready = false with every check passing: the policy's own reason; not ready. */
    if (!json_is_true(ready) && strcmp(v, "ready") == 0)
        v = "not_ready";
    json_t *given = json_object_get(a, "thresholds");
    if (json_is_object(given) && json_object_size(given) > 0) {
        json_decref(th);
        th = json_incref(given);
    }
    *checks_out = norm;
    *thresholds = th;
    *verdict = v;
    return 0;
}

int promotion_judge(skh_host *host, const char *variant_id, const char *to_state, int record_errors,
                    json_t **out, skh_error *err)
{
    json_t *facts = NULL, *a = NULL, *checks = NULL, *thresholds = NULL;
    const char *path = path_to(to_state), *verdict = NULL;
    policy_info info = {{0}, {0}};
    store_variant v;
    int window, rc;
    char why[512];

    *out = NULL;
    if (!path)
        return error_set(err, SKH_EINVAL, "--to",
                         "'%s' is not a promotion target (staged or production)",
                         to_state ? to_state : "");
    if ((rc = store_variant_get(host->st, variant_id, &v, err)))
        return rc;
    rc = policy_window(host, v.skill, variant_id, record_errors, &window, err);
    if (rc == SKH_OK)
        rc = store_promotion_facts(host->st, variant_id, path, window, &facts, err);
    if (rc == SKH_OK) {
        json_t *ab = json_object_get(facts, "ab");
        const char *ab_status = json_string_value(json_object_get(ab, "status"));
        int awaiting = ab_status && strcmp(ab_status, "awaiting_approval") == 0;
        const char *state = json_string_value(json_object_get(facts, "from_state"));
        rc = step_allowed(variant_id, state ? state : v.state, to_state, awaiting, err);
    }
    if (rc == SKH_OK && json_object_set_new(facts, "to_state", json_string(to_state)))
        rc = error_set(err, SKH_ENOMEM, variant_id, "out of memory");
    if (rc == SKH_OK)
        rc = ask(host, "ready", facts, v.skill, variant_id, record_errors, &a, &info, err);
    if (rc == SKH_OK && read_ready(a, &checks, &verdict, &thresholds, why, sizeof why) != 0)
        rc = bad_answer(host, v.skill, variant_id, facts, &info, record_errors, "ready", why, err);
    if (rc == SKH_OK) {
        *out = json_pack("{s:s, s:s, s:O, s:s, s:s, s:b, s:s, s:o, s:o, s:{s:s, s:s}, s:O}",
                         "variant", variant_id, "skill", v.skill, "from_state",
                         json_object_get(facts, "from_state"), "to_state", to_state, "path", path,
                         "ready", strcmp(verdict, "ready") == 0, "verdict", verdict, "checks",
                         checks, "thresholds", thresholds, "policy", "file", info.path, "sha256",
                         info.sha256, "facts", facts);
        checks = thresholds = NULL; /* stolen, also on failure */
        if (!*out)
            rc = error_set(err, SKH_ENOMEM, variant_id, "out of memory");
    }
    json_decref(checks);
    json_decref(thresholds);
    json_decref(a);
    json_decref(facts);
    store_variant_free(&v);
    return rc;
}

/* ---- approve -------------------------------------------------------------------------- */

typedef struct checklist {
    char **names;
    size_t n;
} checklist;

static void checklist_free(checklist *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    c->names = NULL;
    c->n = 0;
}

/* checklist({path}).items[].name, in the policy's order. */
static int policy_checklist(skh_host *host, const char *skill, const char *variant,
                            const char *path, checklist *out, skh_error *err)
{
    json_t *a = NULL,
           *facts = json_pack("{s:s, s:s, s:s}", "path", path, "skill", skill, "variant", variant);
    policy_info info;
    memset(out, 0, sizeof *out);
    if (!facts)
        return error_set(err, SKH_ENOMEM, variant, "out of memory");
    int rc = ask(host, "checklist", facts, skill, variant, 1, &a, &info, err);
    json_t *items = rc ? NULL : json_object_get(a, "items");
    if (rc == SKH_OK && (!json_is_array(items) || json_array_size(items) == 0))
        rc = bad_answer(host, skill, variant, facts, &info, 1, "checklist",
                        "items must be a non-empty list of {name = ...}", err);
    if (rc == SKH_OK && !(out->names = calloc(json_array_size(items), sizeof *out->names)))
        rc = error_set(err, SKH_ENOMEM, variant, "out of memory");
    size_t i;
    json_t *it;
    json_array_foreach(rc == SKH_OK ? items : NULL, i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        if (!name || !*name || strchr(name, '=')) {
            char why[96];
            snprintf(why, sizeof why, "item %zu needs a name (text without '=')", i + 1);
            rc = bad_answer(host, skill, variant, facts, &info, 1, "checklist", why, err);
            break;
        }
        if (!(out->names[out->n] = strdup(name))) {
            rc = error_set(err, SKH_ENOMEM, variant, "out of memory");
            break;
        }
        out->n++;
    }
    json_decref(a);
    json_decref(facts);
    if (rc)
        checklist_free(out);
    return rc;
}

static int known_list(const checklist *c, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->n && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", c->names[i]);
        if (n < 0)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

static int blank(const char *s)
{
    if (!s)
        return 1;
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/*
 * "ITEM=yes|no[:EVIDENCE]" into items[k] of the policy's list.  An unknown
 * item is refused naming the known ones; an item given twice is refused.
 */
static int parse_check(const char *text, const checklist *c, store_approval_item *items,
                       char **evidence, const char *path, skh_error *err)
{
    const char *eq = strchr(text, '=');
    char known[1024];
    if (!eq || eq == text)
        return error_set(err, SKH_EINVAL, "--check", "'%s' is not ITEM=yes|no[:EVIDENCE]", text);
    size_t nlen = (size_t)(eq - text);
    size_t k = 0;
    while (k < c->n && !(strlen(c->names[k]) == nlen && strncmp(c->names[k], text, nlen) == 0))
        k++;
    if (k == c->n) {
        known_list(c, known, sizeof known);
        return error_set(err, SKH_EINVAL, "--check",
                         "unknown item '%.*s' for %s; promotion.lua's items are: %s", (int)nlen,
                         text, path, known);
    }
    if (items[k].given)
        return error_set(err, SKH_EINVAL, "--check", "item '%s' given twice", c->names[k]);
    const char *value = eq + 1, *colon = strchr(value, ':');
    size_t vlen = colon ? (size_t)(colon - value) : strlen(value);
    int passed;
    if (vlen == 3 && strncasecmp(value, "yes", 3) == 0)
        passed = 1;
    else if (vlen == 2 && strncasecmp(value, "no", 2) == 0)
        passed = 0;
    else
        return error_set(err, SKH_EINVAL, "--check", "item '%s': '%.*s' is not yes or no",
                         c->names[k], (int)vlen, value);
    items[k].passed = passed;
    items[k].given = 1;
    if (colon && !blank(colon + 1)) {
        if (!(evidence[k] = strdup(colon + 1)))
            return error_set(err, SKH_ENOMEM, "--check", "out of memory");
        items[k].evidence = evidence[k];
    }
    return SKH_OK;
}

/* A prototype that won an A/B test and waits for its staged->production sign-off? */
static int awaiting_ab(skh_host *host, const char *skill, const char *variant, int *awaiting,
                       skh_error *err)
{
    store_ab_test t;
    skh_error e;
    *awaiting = 0;
    int rc = store_ab_latest(host->st, skill, &t, &e);
    if (rc == SKH_ENOTFOUND)
        return SKH_OK;
    if (rc) {
        *err = e;
        return rc;
    }
    *awaiting = t.status && strcmp(t.status, "awaiting_approval") == 0 && t.treatment &&
                strcmp(t.treatment, variant) == 0;
    store_ab_test_free(&t);
    return SKH_OK;
}

static int approval_invalid(const skh_approval *a, skh_error *err)
{
    if (!a || a->struct_size < sizeof *a)
        return error_set(err, SKH_EINVAL, "approval", "struct_size %u is smaller than %zu",
                         a ? a->struct_size : 0, sizeof *a);
    if (!a->variant || !*a->variant)
        return error_set(err, SKH_EINVAL, "approval", "no variant (NAME@vN)");
    if (!target_of_path(a->path))
        return error_set(err, SKH_EINVAL, "--path",
                         "'%s' is not a promotion path (prototype->staged or staged->production)",
                         a->path ? a->path : "");
    if (blank(a->approver))
        return error_set(err, SKH_EINVAL, "--approver", "who approves must be named");
    if (blank(a->ticket))
        return error_set(err, SKH_EINVAL, "--ticket", "an approval ticket is required");
    if (a->nchecks && !a->checks)
        return error_set(err, SKH_EINVAL, "--check", "%zu checks but no list", a->nchecks);
    return SKH_OK;
}

SKH_EXPORT int skh_approve(skh_host *host, const skh_approval *a, char **approval_id,
                           skh_error *err)
{
    store_variant v;
    checklist c = {NULL, 0};
    store_approval_item *items = NULL;
    char **evidence = NULL;
    int awaiting = 0;
    skh_error local;

    *approval_id = NULL;
    if (!err)
        err = &local; /* the policy's errors are recorded from it */
    error_clear(err);
    int rc = approval_invalid(a, err);
    if (rc)
        return rc;
    if ((rc = store_variant_get(host->st, a->variant, &v, err)))
        return rc;
    const char *to_state = target_of_path(a->path);
    rc = awaiting_ab(host, v.skill, a->variant, &awaiting, err);
    if (rc == SKH_OK)
        rc = step_allowed(a->variant, v.state, to_state, awaiting, err);
    if (rc == SKH_OK)
        rc = policy_checklist(host, v.skill, a->variant, a->path, &c, err);
    if (rc == SKH_OK &&
        (!(items = calloc(c.n, sizeof *items)) || !(evidence = calloc(c.n, sizeof *evidence))))
        rc = error_set(err, SKH_ENOMEM, a->variant, "out of memory");
    for (size_t i = 0; rc == SKH_OK && i < c.n; i++)
        items[i].name = c.names[i];
    for (size_t i = 0; rc == SKH_OK && i < a->nchecks; i++)
        rc = parse_check(a->checks[i] ? a->checks[i] : "", &c, items, evidence, a->path, err);
    if (rc == SKH_OK) {
        /* Items left out are kept as "no", given = 0: promote names them. */
        store_approval_new n = {.variant_id = a->variant,
                                .path = a->path,
                                .approver = a->approver,
                                .ticket = a->ticket,
                                .notes = a->notes,
                                .items = items,
                                .nitems = c.n};
        rc = store_approval_add(host->st, &n, approval_id, err);
    }
    for (size_t i = 0; evidence && i < c.n; i++)
        free(evidence[i]);
    free(evidence);
    free(items);
    checklist_free(&c);
    store_variant_free(&v);
    return rc;
}

/* ---- promote ------------------------------------------------------------------------------ */

static char *dump(json_t *j)
{
    return j ? json_dumps(j, SKH_JSON_FLAGS) : NULL;
}

/* The decisions row of a refusal (the ready one is written with the promotion). */
static int record_refusal(skh_host *host, json_t *j, skh_error *err)
{
    json_t *seen = json_pack("{s:O, s:O}", "facts", json_object_get(j, "facts"), "checks",
                             json_object_get(j, "checks"));
    char *observed = dump(seen), *thresholds = dump(json_object_get(j, "thresholds"));
    json_t *policy = json_object_get(j, "policy");
    int rc;
    if (!observed || !thresholds) {
        rc = error_set(err, SKH_ENOMEM, "decision", "out of memory");
    } else {
        store_decision d = {
            .skill = json_string_value(json_object_get(j, "skill")),
            .variant_id = json_string_value(json_object_get(j, "variant")),
            .kind = "promotion",
            .verdict = json_string_value(json_object_get(j, "verdict")),
            .observed = observed,
            .thresholds = thresholds,
            .policy_file = json_string_value(json_object_get(policy, "file")),
            .policy_sha256 = json_string_value(json_object_get(policy, "sha256")),
        };
        rc = store_decision_add(host->st, &d, err);
    }
    free(observed);
    free(thresholds);
    json_decref(seen);
    return rc;
}

/* "fidelity_metrics: 37/100 executions (needs >= 100); ..." for the error message. */
static void failed_summary(json_t *checks, char *buf, size_t len, int *nfailed)
{
    size_t used = 0, i;
    json_t *c;
    *nfailed = 0;
    buf[0] = '\0';
    json_array_foreach(checks, i, c)
    {
        if (json_is_true(json_object_get(c, "passed")))
            continue;
        (*nfailed)++;
        if (used >= len)
            continue;
        const char *detail = json_string_value(json_object_get(c, "detail"));
        int n = snprintf(buf + used, len - used, "%s%s%s%s", used ? "; " : "",
                         json_string_value(json_object_get(c, "name")), detail ? ": " : "",
                         detail ? detail : "");
        if (n > 0)
            used += (size_t)n;
    }
}

static void count_checks(json_t *checks, size_t *passed, size_t *total)
{
    size_t i;
    json_t *c;
    *passed = 0;
    *total = json_array_size(checks);
    json_array_foreach(checks, i, c) *passed += json_is_true(json_object_get(c, "passed"));
}

/* After the transition: hooks.lua, the audit log, the registry; never undoes it. */
static void run_hooks(skh_host *host, json_t *j, const char *reason, const store_promoted *done,
                      const char *actor)
{
    json_t *event = json_pack(
        "{s:s, s:O, s:O, s:O, s:O, s:s, s:s, s:s, s:s}", "kind", "promotion", "skill",
        json_object_get(j, "skill"), "variant", json_object_get(j, "variant"), "from_state",
        json_object_get(j, "from_state"), "to_state", json_object_get(j, "to_state"), "reason",
        reason, "actor", actor, "timestamp", done->timestamp, "event_id", done->event_id);
    skh_error herr;
    error_clear(&herr);
    int ok = event != NULL;
    if (ok && done->demoted)
        ok = json_object_set_new(event, "demoted_variant", json_string(done->demoted)) == 0;
    json_t *approval = json_object_get(json_object_get(j, "facts"), "approval");
    if (ok && approval)
        ok = json_object_set(event, "approval_id", json_object_get(approval, "approval_id")) == 0 &&
             json_object_set(event, "ticket", json_object_get(approval, "ticket")) == 0;
    int rc = ok ? hooks_after_transition(host, event, &herr)
                : error_set(&herr, SKH_ENOMEM, "hooks", "out of memory");
    /* hooks.c reports and records its own failures; the answer says so too. */
    json_object_set_new(j, "hooks", rc == SKH_OK ? json_string("ok") : json_string(herr.message));
    json_decref(event);
}

static int transition(skh_host *host, json_t *j, skh_error *err)
{
    json_t *facts = json_object_get(j, "facts");
    json_t *approval = json_object_get(facts, "approval");
    json_t *policy = json_object_get(j, "policy");
    const char *approver = json_string_value(json_object_get(approval, "approver"));
    const char *ticket = json_string_value(json_object_get(approval, "ticket"));
    const char *approval_id = json_string_value(json_object_get(approval, "approval_id"));
    size_t passed, total;
    char reason[1024];

    count_checks(json_object_get(j, "checks"), &passed, &total);
    if (approval_id)
        snprintf(reason, sizeof reason,
                 "promotion.lua: ready, %zu of %zu checks passed; sign-off %s by %s (ticket %s)",
                 passed, total, approval_id, approver ? approver : "?", ticket ? ticket : "?");
    else
        snprintf(reason, sizeof reason,
                 "promotion.lua: ready, %zu of %zu checks passed; no sign-off required", passed,
                 total);

    json_t *seen = json_pack("{s:O, s:O}", "facts", facts, "checks", json_object_get(j, "checks"));
    char *observed = dump(seen), *thresholds = dump(json_object_get(j, "thresholds"));
    json_decref(seen);
    if (!observed || !thresholds) {
        free(observed);
        free(thresholds);
        return error_set(err, SKH_ENOMEM, "promotion", "out of memory");
    }
    store_promotion p = {
        .variant_id = json_string_value(json_object_get(j, "variant")),
        .from_state = json_string_value(json_object_get(j, "from_state")),
        .to_state = json_string_value(json_object_get(j, "to_state")),
        .approver = approver,
        .ticket = ticket,
        .reason = reason,
        .observed = observed,
        .thresholds = thresholds,
        .policy_file = json_string_value(json_object_get(policy, "file")),
        .policy_sha256 = json_string_value(json_object_get(policy, "sha256")),
    };
    store_promoted done;
    int rc = store_promote(host->st, &p, &done, err);
    free(observed);
    free(thresholds);
    if (rc)
        return rc;
    int ok =
        json_object_set_new(j, "event_id", json_string(done.event_id)) == 0 &&
        json_object_set_new(j, "timestamp", json_string(done.timestamp)) == 0 &&
        json_object_set_new(j, "demoted_variant",
                            done.demoted ? json_string(done.demoted) : json_null()) == 0 &&
        json_object_set_new(j, "ab_test_closed",
                            done.ab_test_id ? json_string(done.ab_test_id) : json_null()) == 0 &&
        json_object_set_new(j, "reason", json_string(reason)) == 0;
    run_hooks(host, j, reason, &done, approver ? approver : "skillhost");
    store_promoted_free(&done);
    /* The promotion is committed; a short answer must not read as a refusal. */
    if (!ok)
        fprintf(stderr, "skillhost: %s: promoted, but out of memory describing it\n", p.variant_id);
    return SKH_OK;
}

SKH_EXPORT int skh_promote(skh_host *host, const char *variant, const char *to_state, char **json,
                           skh_error *err)
{
    json_t *j = NULL;
    skh_error local;
    *json = NULL;
    if (!err)
        err = &local; /* the policy's errors are recorded from it */
    error_clear(err);
    if (!variant || !*variant)
        return error_set(err, SKH_EINVAL, "promote", "no variant (NAME@vN)");
    int rc = promotion_judge(host, variant, to_state, 1, &j, err);
    if (rc)
        return rc;
    int answered = 1; /* the answer goes back: promoted, or refused by the gate */
    if (json_is_true(json_object_get(j, "ready"))) {
        rc = transition(host, j, err);
        answered = rc == SKH_OK;
    } else {
        char summary[768];
        int nfailed;
        skh_error rerr;
        failed_summary(json_object_get(j, "checks"), summary, sizeof summary, &nfailed);
        /* The refusal is the answer; failing to record it is reported, not hidden. */
        if (record_refusal(host, j, &rerr) != SKH_OK)
            fprintf(stderr, "skillhost: %s: the refusal was not recorded: %s\n", rerr.what,
                    rerr.message);
        rc = error_set(err, SKH_EFAILED, variant, "not ready for %s (%s): %d check%s failed: %s",
                       to_state, json_string_value(json_object_get(j, "verdict")), nfailed,
                       nfailed == 1 ? "" : "s", summary);
    }
    if (answered) {
        /* The facts stay in the decisions table; the answer keeps to the verdict. */
        json_object_del(j, "facts");
        *json = json_dumps(j, SKH_JSON_FLAGS);
        if (!*json && rc == SKH_OK)
            fprintf(stderr, "skillhost: %s: promoted, but out of memory describing it\n", variant);
    }
    json_decref(j);
    return rc;
}
