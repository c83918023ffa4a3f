/*
 * The store's side of automatic rollback and circuit breakers (DESIGN §4,
 * §7): the last-N window of a variant, its baselines, the rollback target,
 * the rollback, demotion and freeze transitions applied exactly once, and
 * the breaker's state changes as atomic SQL on circuit_breakers.
 *
 * The rollback target of a skill is its staged variant that most recently
 * left production without being rolled back itself: the variant a
 * promotion demoted (promotion_events.demoted_variant_id), one that a
 * `skill add --state production` demoted, or the one an earlier rollback
 * brought back and a later promotion replaced.  skill_variations keeps
 * left_production_at and rolled_back_at for this (schema triggers set the
 * first whoever changes a state).
 */
#ifndef SKH_CORE_STORE_ROLLBACK_H
#define SKH_CORE_STORE_ROLLBACK_H

#include <jansson.h>

#include "store.h"

/* ---- reading ------------------------------------------------------------- */

/* Where a variant stands.  Strings are malloc'd; NULL where unknown. */
typedef struct store_rb_variant {
    char *skill;
    char *state;
    char *since;          /* when it entered its state (ISO-8601) */
    char *positive_class; /* the skill's, or NULL */
    double age_days;      /* now - since, by the database's clock */
    int was_production;   /* it has served production before */
} store_rb_variant;

void store_rb_variant_free(store_rb_variant *v);

/* One indexed read.  SKH_ENOTFOUND for an unknown variant. */
int store_rb_variant_get(store *st, const char *variant_id, store_rb_variant *out, skh_error *err);

/*
 * When a staged variant became staged: its latest promotion to staged
 * (promotion_events), else when it entered the state.  *since malloc'd;
 * *age_days by the database's clock.
 */
int store_rb_staged_since(store *st, const char *variant_id, char **since, double *age_days,
                          skh_error *err);

/*
 * The variant's last n live executions (benchmark evaluations and skipped
 * requests -- the input was at fault -- left out) at or after since (NULL:
 * any time), newest first, in one query through the (variant_id,
 * timestamp) index that reads at most 4n rows: O(n), and after a long run
 * of skipped requests a short window rather than a long scan.  *rows is a JSON array of
 * {"execution_id", "timestamp", "fidelity", "correct", "decision",
 * "expected", "critical", "duration_ms", "exception", "error_category"};
 * a metric table without a row for an execution leaves its members out.
 */
int store_rb_window(store *st, const char *variant_id, const char *since, int n, json_t **rows,
                    skh_error *err);

/*
 * Baselines to compare a window with, each O(100):
 * {"evaluation": {"count", "fidelity", "outcome", "mean_ms"}} over the
 * variant's first 100 benchmark executions, and {"first": {"count",
 * "mean_ms"}} over its first 100 live executions ordered before the
 * execution (before_ts, before_id) -- the window's oldest; NULL: any.
 * A mean is left out when there is nothing to average.
 */
int store_rb_baselines(store *st, const char *variant_id, const char *before_ts,
                       const char *before_id, json_t **out, skh_error *err);

/*
 * The k-th live execution at or after since: *days = how long after since
 * it came, or -1 when the variant has fewer than k.  O(k).
 */
int store_rb_milestone(store *st, const char *variant_id, const char *since, int k, double *days,
                       skh_error *err);

/* The skill's rollback target other than exclude; *target malloc'd, or NULL for none. */
int store_rb_target(store *st, const char *skill, const char *exclude, char **target,
                    skh_error *err);

/* ---- transitions ----------------------------------------------------------- */

/* A decisions row written in the same transaction as what it explains. */
typedef struct store_rb_decision {
    const char *kind;    /* "rollback", "breaker" */
    const char *verdict; /* "rollback", "demote", "freeze", "suppressed", "open", ... */
    const char *observed, *thresholds;
    const char *policy_file, *policy_sha256;
} store_rb_decision;

typedef struct store_rb_transition {
    const char *skill;
    const char *variant_id; /* the variant that goes down */
    const char *from_state; /* the state it must still be in */
    const char *to_state;   /* "staged" or "prototype" */
    int restore;            /* from production: bring the rollback target back */
    int need_target;        /* with restore: no target, no change */
    const char *trigger_reason;
    const char *trigger_metric;
    const char *event_type;     /* learning_events.event_type: "rollback" or "demotion" */
    const char *description;    /* the learning event's */
    double before_fidelity;     /* the variant's window mean; NAN: none */
    int window;                 /* executions the restored variant's after_fidelity averages */
    store_rb_decision decision; /* kind NULL: no decisions row */
} store_rb_transition;

typedef struct store_rb_result {
    int applied;        /* 1: this call made the change */
    int no_target;      /* need_target and there was none: nothing changed */
    char *restored;     /* the variant brought back, malloc'd, or NULL */
    char event_id[40];  /* the rollback_events row */
    char timestamp[32]; /* its time */
} store_rb_result;

void store_rb_result_free(store_rb_result *r);

/*
 * In one BEGIN IMMEDIATE transaction, exactly once: the variant moves from
 * from_state to to_state only while it is still in from_state (so of
 * several processes triggering at once one applies it and the rest get
 * applied = 0), the rollback target (chosen inside the transaction)
 * becomes production, and the rollback_events row, the learning event and
 * the decisions row are written.
 */
int store_rb_apply(store *st, const store_rb_transition *t, store_rb_result *out, skh_error *err);

/*
 * A rollback that had nowhere to go: one decisions row (verdict
 * "suppressed") per variant per window -- none when one was already
 * written at or after since.  *recorded says whether this call wrote it.
 */
int store_rb_suppressed(store *st, const char *skill, const char *variant_id, const char *since,
                        const store_rb_decision *d, int *recorded, skh_error *err);

/*
 * rollback.lua's "freeze": the variant's breaker forced to 'frozen' (no
 * cool-down, no probe) with the reason, so routing falls back as from an
 * open breaker while the variant keeps its state; it lasts until the
 * variant's state changes.  *applied = 0 when it was frozen already, or
 * no longer in state (another process moved it first).
 */
int store_rb_freeze(store *st, const char *skill, const char *variant_id, const char *state,
                    const char *reason, const store_rb_decision *d, int *applied, skh_error *err);

/* ---- circuit breakers ------------------------------------------------------- */

typedef struct store_breaker {
    int exists;
    char state[16]; /* closed, open, half_open, frozen */
    long long failures;
    char opened_at[32], half_open_at[32]; /* "" when NULL */
    double open_age_s, half_open_age_s;   /* seconds since, by the database's clock; -1: NULL */
} store_breaker;

/* One indexed read; exists = 0 when the variant has no row (closed). */
int store_breaker_get(store *st, const char *variant_id, store_breaker *out, skh_error *err);

/*
 * Let one request probe: open -> half_open only while the row is still
 * open since opened_at (or, to replace a probe that never reported, still
 * half_open since half_open_at).  *claimed = 1 for the one caller that won.
 */
int store_breaker_claim(store *st, const char *skill, const char *variant_id,
                        const store_breaker *seen, const store_rb_decision *d, int *claimed,
                        skh_error *err);

/*
 * A failure: failures += 1; a closed breaker at threshold failures opens,
 * a half-open one re-opens.  *opened = 1 when this call opened it (the
 * decisions row d, with its verdict set here, is then written).
 */
int store_breaker_failure(store *st, const char *skill, const char *variant_id, long long threshold,
                          const store_rb_decision *d, int *opened, skh_error *err);

/*
 * A request that did not fail: a half-open breaker closes (decision d,
 * *closed = 1) and a closed one forgets its failures.  Open and frozen
 * breakers stay as they are: only a probe or the cool-down moves them.
 */
int store_breaker_success(store *st, const char *skill, const char *variant_id,
                          const store_rb_decision *d, int *closed, skh_error *err);

#endif
