/*
 * The store's side of the promotion gate (DESIGN §4, §7): sign-offs, the
 * facts promotion.lua judges, the promotion itself in one transaction, and
 * the reads behind `skillhost status`.  Every read of metrics is bounded by
 * a window through the (variant_id, timestamp) indexes: O(window), whatever
 * the history.
 */
#ifndef SKH_CORE_STORE_LIFECYCLE_H
#define SKH_CORE_STORE_LIFECYCLE_H

#include <stddef.h>
#include <jansson.h>

#include "store.h"

/* Longest window a caller may ask for: a policy answering more is capped here. */
#define STORE_LIFECYCLE_MAX_WINDOW 100000

/* ---- sign-off -------------------------------------------------------------- */

typedef struct store_approval_item {
    const char *name;     /* a checklist item of promotion.lua */
    int passed;           /* 1 yes, 0 no */
    int given;            /* 0: left out of the sign-off, which counts as no */
    const char *evidence; /* NULL when none */
} store_approval_item;

typedef struct store_approval_new {
    const char *variant_id;
    const char *path; /* "prototype->staged" or "staged->production" */
    const char *approver;
    const char *ticket;
    const char *notes; /* may be NULL */
    const store_approval_item *items;
    size_t nitems;
} store_approval_new;

/*
 * Record a sign-off: a human_approvals row (approval_id a UUIDv7) with the
 * seeds' columns filled from the items named like them (yes 1, no 0, the
 * evidence in the seeds' *_evidence/security_notes column), the whole
 * checklist as JSON, the variant and the notes.  *approval_id is malloc'd.
 * SKH_ENOTFOUND for an unknown variant.
 */
int store_approval_add(store *st, const store_approval_new *a, char **approval_id, skh_error *err);

/*
 * The latest sign-off of a variant for a path, or *out = NULL when there is
 * none: {"approval_id", "variant", "path", "approver", "ticket",
 * "timestamp", "notes"?, "items": [{"name", "passed", "given", "evidence"?}]}.
 */
int store_approval_latest(store *st, const char *variant_id, const char *path, json_t **out,
                          skh_error *err);

/* The latest sign-off per variant and path of a skill, newest first: a JSON array. */
int store_approvals_of_skill(store *st, const char *skill, json_t **out, skh_error *err);

/* ---- facts ------------------------------------------------------------------- */

/*
 * What promotion.lua judges, read in one transaction: {"skill", "variant",
 * "from_state" (the variant's state now), "evaluation": {...}, "window":
 * {...}, "approval": {...} (absent when none), "ab": {...} (absent unless
 * the variant is the treatment of a live test)}.  See policies/promotion.lua
 * for every field.  The window is the variant's last `window` live
 * executions per metric table; benchmark (evaluation) executions are read
 * through their own partial index.  SKH_ENOTFOUND for an unknown variant.
 */
int store_promotion_facts(store *st, const char *variant_id, const char *path, int window,
                          json_t **out, skh_error *err);

/* A variant's last n live executions per metric table (status): the "window" object above. */
int store_variant_live_window(store *st, const char *variant_id, int n, json_t **out,
                              skh_error *err);

/* ---- the promotion ------------------------------------------------------------- */

typedef struct store_promotion {
    const char *variant_id;
    const char *from_state; /* the state the gate judged; a variant since moved is refused */
    const char *to_state;   /* "staged" or "production" */
    const char *approver;   /* from the sign-off used; may be NULL */
    const char *ticket;
    const char *reason;
    /* The decisions row (kind "promotion", verdict "ready"). */
    const char *observed;
    const char *thresholds;
    const char *policy_file;
    const char *policy_sha256;
} store_promotion;

/* What a promotion did; strings malloc'd, NULL when not applicable. */
typedef struct store_promoted {
    char *event_id;
    char *timestamp;
    char *demoted;    /* the production variant kept as staged, the rollback target */
    char *ab_test_id; /* the A/B test of this treatment closed as promoted */
} store_promoted;

void store_promoted_free(store_promoted *p); /* frees members, not p */

/*
 * One BEGIN IMMEDIATE transaction: the variant's state (only while it is
 * still from_state, else SKH_EFAILED and nothing changes); for production,
 * the previous production variant to staged (kept as the rollback target,
 * named in promotion_events.demoted_variant_id) and a live or
 * awaiting-approval A/B test of this treatment closed as promoted (with its
 * variation_promoted learning event, as an A/B promotion writes); the
 * promotion_events row; the decisions row.  The skills row follows through
 * the schema's triggers.
 */
int store_promote(store *st, const store_promotion *p, store_promoted *out, skh_error *err);

/* ---- status reads -------------------------------------------------------------- */

/* The circuit_breakers rows of a skill's variants: a JSON array. */
int store_breakers_of_skill(store *st, const char *skill, json_t **out, skh_error *err);
/* The skill's latest n decisions, newest first, observed/thresholds parsed: a JSON array. */
int store_decisions_latest(store *st, const char *skill, int n, json_t **out, skh_error *err);
/*
 * Which variant served production at time at (normalised ISO-8601 UTC), from
 * promotion_events and rollback_events: {"at", "variant" (or null),
 * "since" (or null), "source"}.
 */
int store_served_at(store *st, const char *skill, const char *at, json_t **out, skh_error *err);
/* The skill's variants, oldest first: [{"id", "state", "impl", "created_at", "parent",
 * "test_status"}]. */
int store_variants_of_skill(store *st, const char *skill, json_t **out, skh_error *err);

/* ---- the gate itself (core/promote.c), shared with core/status.c ------------------ */

/*
 * Ask promotion.lua whether variant_id is ready for to_state, without
 * changing anything.  *out: {"variant", "skill", "from_state", "to_state",
 * "path", "ready", "verdict", "checks": [...], "thresholds": {...},
 * "policy": {"file", "sha256"}, "facts": {...}}.  A variant that cannot
 * take that step (wrong state) is SKH_EFAILED; a policy that fails or
 * answers badly is SKH_EPLUGIN, recorded in decisions when record_errors.
 */
int promotion_judge(skh_host *host, const char *variant_id, const char *to_state, int record_errors,
                    json_t **out, skh_error *err);

#endif
