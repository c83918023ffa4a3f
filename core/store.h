/*
 * The store: every SQL statement skillhost runs lives behind this interface
 * (DESIGN §6, §11).  SQLite in WAL mode, busy timeout, BEGIN IMMEDIATE for
 * every write, prepared statements kept for the life of the store.
 *
 * One store per thread; many stores (in many processes) per database file.
 */
#ifndef SKH_CORE_STORE_H
#define SKH_CORE_STORE_H

#include <stddef.h>
#include <jansson.h>
#include <skillhost/host.h>

/* The schema version this binary writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 1

typedef struct store store;

typedef struct store_options {
    int create;          /* create the file (not its folder) when missing */
    int durability_full; /* synchronous=FULL instead of NORMAL */
    int busy_timeout_ms; /* 0: 10000 */
} store_options;

/*
 * Open (and create or migrate) a database.  A database whose user_version is
 * newer than STORE_SCHEMA_VERSION is refused with SKH_ESTORE naming both
 * versions.  A missing file without create is SKH_ENOTFOUND.
 */
int store_open(const char *path, const store_options *opts, store **out, skh_error *err);
void store_close(store *st);
const char *store_path(const store *st);

/* ---- variants -------------------------------------------------------------- */

typedef struct store_variant {
    char *variant_id; /* "skill@vN" */
    char *skill;
    int version;       /* N */
    char *impl;        /* resolved absolute path, or "exec:..." */
    char *impl_sha256; /* "" for exec */
    char *content;
    char *patterns; /* JSON array text */
    char *state;    /* prototype|staged|production|archived */
    char *description;
    char *created_at;
} store_variant;

void store_variant_free(store_variant *v); /* frees members, not v */

/*
 * Add a variant: creates the skill row if needed and gives the variant the
 * next version number of its skill, atomically (two processes adding at once
 * get v1 and v2).  A state of "production" demotes the previous production
 * variant to "staged" in the same transaction.  *variant_id is malloc'd.
 */
int store_variant_add(store *st, const char *skill, const char *impl, const char *impl_sha256,
                      const char *content, const char *patterns_json, const char *state,
                      const char *description, char **variant_id, skh_error *err);
/* By id ("skill@v2"). SKH_ENOTFOUND if absent. */
int store_variant_get(store *st, const char *variant_id, store_variant *out, skh_error *err);
/*
 * The variant that serves a skill: its production variant, else its newest
 * staged one, else its newest prototype.  SKH_ENOTFOUND if the skill is
 * unknown or has none (archived variants never serve).
 */
int store_variant_serving(store *st, const char *skill, store_variant *out, skh_error *err);

/* JSON array of {"skill","description","serving","variants":[...]}; caller json_decref()s. */
int store_skill_list(store *st, json_t **out, skh_error *err);
/* One skill with every variant and its execution counts per metric table. */
int store_skill_show(store *st, const char *skill, json_t **out, skh_error *err);

/* ---- recording ------------------------------------------------------------ */

/* What the last attempt of a request adds to its recording transaction. */
typedef struct store_request_end {
    unsigned attempts;      /* calls the request made */
    double before_fidelity; /* the first attempt's */
    double after_fidelity;  /* the last attempt's */
    const char *description;
    /* A/B: the request is one trial of test_id (NULL: none) in arm 0 (control) or 1. */
    const char *test_id;
    int arm;
    int success; /* final fidelity >= threshold */
} store_request_end;

typedef struct store_execution {
    const char *execution_id; /* UUIDv7 text */
    const char *request_id;
    const char *skill;
    const char *variant_id;
    unsigned attempt;          /* 1-based */
    const char *timestamp;     /* ISO-8601 UTC with milliseconds */
    const char *input;         /* JSON text */
    const char *output;        /* JSON text or NULL */
    const char *steps;         /* JSON array text */
    int category;              /* SKH_ERR_* */
    const char *error_message; /* NULL when none */

    double fidelity;
    int patterns_followed;
    int patterns_missed;
    const char *missed;         /* JSON array text */
    const char *failed_at_step; /* NULL when none */

    const char *decision; /* "" when none */
    int correct;          /* 1, 0, or -1 for unknown (no label) */
    double confidence;    /* NAN when none */
    const char *reasoning;

    double duration_ms;

    const char *session_id, *workflow_phase, *user_query, *tenant;
    int evaluation;

    const char *expected; /* the benchmark label (evaluate), NULL when none */
    int critical;         /* a benchmark case whose false negative is critical */
    /*
     * Non-NULL on the last attempt of a request: the same transaction also
     * writes the request's react_execution learning event, total_requests
     * += 1 and, when it took more than one attempt, react_retry_count += 1.
     */
    const store_request_end *end;
} store_execution;

/*
 * One transaction: the executions row, one row in each of fidelity_metrics,
 * outcome_metrics and performance_metrics, and total_executions += 1.
 * On failure nothing is written and err says why (a locked database names
 * the busy timeout).
 */
int store_record_execution(store *st, const store_execution *ex, skh_error *err);

/* ---- decisions (DESIGN §7) ------------------------------------------------ */

typedef struct store_decision {
    const char *skill;
    const char *variant_id; /* may be NULL */
    const char *kind;       /* "recovery", "ab", "promotion", "rollback", "breaker", ... */
    const char *verdict;    /* "retry", "promote", "inconclusive", "error", ... */
    const char *observed;   /* JSON text: the facts the policy saw */
    const char *thresholds; /* JSON text or NULL */
    const char *policy_file;
    const char *policy_sha256;
} store_decision;

/* Keep an automated decision, with what it saw and which policy file made it. */
int store_decision_add(store *st, const store_decision *d, skh_error *err);

/* Add delta to a telemetry counter, atomically. */
int store_counter_add(store *st, const char *name, long long delta, skh_error *err);
/* 0 when the counter does not exist. */
int store_counter_get(store *st, const char *name, long long *value, skh_error *err);

/* ---- workspace config (DESIGN §9) ------------------------------------------ */

/* *value is malloc'd, or NULL when unset. */
int store_config_get(store *st, const char *key, char **value, skh_error *err);
/* A NULL value removes the key. */
int store_config_set(store *st, const char *key, const char *value, skh_error *err);
/* JSON object of every key set in the workspace. */
int store_config_all(store *st, json_t **out, skh_error *err);

/* ---- telemetry ------------------------------------------------------------- */

/*
 * The dashboard (DESIGN §8) as a JSON object, read in one transaction:
 * retry_count, total_executions, total_requests, retry_rate,
 * retry_per_execution, variation_win_rate, avg_fidelity_delta,
 * variations_tested, variations_promoted, since, generated_at, and "skills":
 * a row per registered skill.  Rates and means are rounded as the seeds'
 * round(x, 3).  Caller json_decref()s.
 */
int store_telemetry(store *st, json_t **out, skh_error *err);

/* ---- time ------------------------------------------------------------------ */

/* Now as ISO-8601 UTC with milliseconds: "2026-11-23T08:15:02.123Z". */
void store_timestamp(char buf[32]);

#endif
