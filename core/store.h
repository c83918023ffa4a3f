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
#define STORE_SCHEMA_VERSION 7
/*
 * PRAGMA application_id of every skillhost database ("SKH1"), so that file(1)
 * and skillhost itself can tell a workspace from another application's file.
 */
#define STORE_APPLICATION_ID 0x534b4831u

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
 *
 * Only a skillhost database is opened: one with STORE_APPLICATION_ID, or an
 * older one with skillhost's tables and user_version >= 1 (it gets the id).
 * An empty file (no tables, user_version 0) is made a workspace only with
 * create; anything else (another application's SQLite file, a file that is
 * not SQLite, a device) is refused with SKH_ESTORE saying what it is, and
 * left exactly as it was: nothing is written to it, not even the journal
 * mode.
 */
int store_open(const char *path, const store_options *opts, store **out, skh_error *err);
/*
 * Is path a skillhost database this binary can open?  SKH_OK when it is,
 * SKH_ENOTFOUND when nothing is there, SKH_ESTORE saying what the file is
 * otherwise (an empty file included).  Reads only; never creates, migrates
 * or changes the file.
 */
int store_check(const char *path, skh_error *err);
/*
 * Mark the requests whose recording process is gone while they were still
 * running (killed between attempts) as "abandoned" and count them:
 * total_requests, abandoned_requests, and react_retry_count when they made
 * more than one attempt; each in its own transaction, so of several
 * processes sweeping at once exactly one counts a request.  *abandoned (may
 * be NULL): how many this call marked.  skh_host_open() runs it.
 */
int store_requests_sweep(store *st, long *abandoned, skh_error *err);
/*
 * Change the busy timeout and synchronous of an open store (create is
 * ignored): the host learns the workspace's store.* options only once the
 * store is open to read them.
 */
int store_apply_settings(store *st, const store_options *opts, skh_error *err);
void store_close(store *st);

/*
 * A read snapshot over a run of reads: one read transaction for all of
 * them instead of one per statement, each of which costs a lock round
 * trip and a WAL-index check.  A write inside the scope ends the snapshot
 * first (a read transaction is never upgraded, which could only fail with
 * SQLITE_BUSY_SNAPSHOT) and the reads after its commit share a fresh one.
 * Never keep one open across a skill call or anything slow: it pins the
 * WAL against checkpoints.  If it cannot start, each read runs on its own.
 */
void store_snapshot_begin(store *st);
void store_snapshot_end(store *st);
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
    char *isolation; /* "process" | "inline"; "" when plugins.isolation decides */
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
/* The same with the variant's own isolation ("process" | "inline"; NULL: the workspace's). */
int store_variant_add_isolated(store *st, const char *skill, const char *impl,
                               const char *impl_sha256, const char *content,
                               const char *patterns_json, const char *state,
                               const char *description, const char *isolation, char **variant_id,
                               skh_error *err);
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
    int success; /* final fidelity >= threshold, and correct when labelled */
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
    const char *fallback_from; /* an open circuit breaker moved the request off it; NULL: no */
    int skipped; /* recovery.lua said skip: the input was at fault (no rollback evidence) */
    /* Seed 004's rest of the context: JSON array texts and a rank (0: none), or NULL. */
    const char *alternatives_considered, *follow_up_actions;
    int selection_rank;
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

/* ---- shadow policies (policy.h) ------------------------------------------ */

typedef struct store_shadow_row {
    const char *policy, *fn, *skill;
    const char *live_verdict, *shadow_verdict;       /* equal: they agreed */
    const char *facts, *live_answer, *shadow_answer; /* JSON text or NULL */
    const char *live_error, *shadow_error;
    const char *live_file, *live_sha256, *shadow_file, *shadow_sha256;
} store_shadow_row;

/* Is a transaction the caller opened still open (a write could not start one of its own)? */
int store_in_write(const store *st);
int store_shadow_add(store *st, const store_shadow_row *r, skh_error *err);
/*
 * `policy diff`: the shadow decisions of policy since a timestamp, counted
 * by (live verdict, shadow verdict), and the first `examples` disagreements
 * with their facts and both answers.
 */
int store_shadow_summary(store *st, const char *policy, const char *since, int examples,
                         json_t **out, skh_error *err);

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

/* ---- evolvers (store_evolve.c) --------------------------------------------- */

/* Record the skill's evolver plugin (an absolute path); SKH_ENOTFOUND for an unknown skill. */
int store_skill_evolver_set(store *st, const char *skill, const char *path, skh_error *err);
/* The skill's evolver: *path is malloc'd, or NULL when it has none. */
int store_skill_evolver_get(store *st, const char *skill, char **path, skh_error *err);

/*
 * Register a variant evolved from parent_id: the parent's skill, impl and
 * impl sha256, the given content, patterns_json (NULL: the parent's), state
 * prototype and parent_id recorded; the next version number is taken under
 * the write lock, as store_variant_add does.  The same transaction writes a
 * variation_evolved learning event (before_fidelity = parent_fidelity, NAN
 * for none).  *variant_id is malloc'd.
 */
int store_variant_add_child(store *st, const char *parent_id, const char *content,
                            const char *patterns_json, const char *description,
                            double parent_fidelity, char **variant_id, skh_error *err);
/*
 * The newest variant of skill holding exactly this content and these
 * patterns (JSON array text): *variant_id is malloc'd, or NULL for none.
 */
int store_variant_find(store *st, const char *skill, const char *content, const char *patterns_json,
                       char **variant_id, skh_error *err);
/* The variant an evolved variant came from: *parent_id is malloc'd, or NULL for none. */
int store_variant_parent(store *st, const char *variant_id, char **parent_id, skh_error *err);

/* What an evolver learns about a variant from its last executions. */
typedef struct store_evidence {
    /*
     * Newest first: [{"execution_id", "timestamp", "input" (the request's
     * input, without the ReAct retry fields), "fidelity", "missed" (array),
     * "failed_at_step" (or null), "decision", "correct" (bool or null)}].
     */
    json_t *recent;
    /* [{"pattern", "missed"}]: patterns missed in those executions, most often first. */
    json_t *weak_patterns;
    long executions;      /* how many executions recent holds */
    double mean_fidelity; /* over them; NAN when none */
    long labelled;        /* executions whose correctness is known */
    long correct;         /* ... and right */
} store_evidence;

/*
 * The last n executions of a variant, read in one transaction through the
 * (variant_id, timestamp) index: O(n), whatever the history.
 */
int store_variant_evidence(store *st, const char *variant_id, int n, store_evidence *out,
                           skh_error *err);
void store_evidence_free(store_evidence *e);

/* A variant's last n executions, summed up. */
typedef struct store_window {
    long count;           /* how many exist, <= n */
    double mean_fidelity; /* NAN when none */
    char oldest[32];      /* timestamp of the oldest of them; "" when none */
} store_window;

int store_variant_window(store *st, const char *variant_id, int n, store_window *out,
                         skh_error *err);
/* Is there a decision of this kind about the skill at or after since (a timestamp)? */
int store_decision_since(store *st, const char *skill, const char *kind, const char *since,
                         int *found, skh_error *err);

/* ---- A/B tests ------------------------------------------------------------- */

/* A test id ("NAME-ab-UUIDv7", the name shortened to fit) is shorter than this. */
#define STORE_AB_ID_MAX 64

/* One row of ab_test_assignments.  Strings are malloc'd; NULL where the column is NULL. */
typedef struct store_ab_test {
    char *test_id, *skill, *control, *treatment; /* variant ids */
    char *mode;                                  /* "ab" or "rollout" */
    char *status; /* running, awaiting_approval, promoted, archived, stopped */
    char *start_time, *end_time, *decided_at, *step_started_at;
    char *decision;  /* "treatment", "control", "stop" once decided */
    char *statistic; /* JSON text: the deciding policy's numbers */
    char *steps;     /* rollout: JSON array of weights */
    char *reason;
    double weight; /* treatment share, percent */
    long long target;
    int step; /* rollout: 0-based index into steps */
    long long control_trials, control_successes, control_attempts;
    long long treatment_trials, treatment_successes, treatment_attempts;
    long long step_control_trials, step_control_successes;
    long long step_treatment_trials, step_treatment_successes;
    double min_p; /* running minimum of the always-valid p; 1 before any look */
} store_ab_test;

void store_ab_test_free(store_ab_test *t); /* frees members, not t */

/* Request durations (ms, the sum of a request's attempts) per arm since a test began. */
typedef struct store_durations {
    double *control, *treatment;
    size_t n_control, n_treatment;
    size_t cap_control, cap_treatment;
} store_durations;

/* Live requests of the skill routed to either arm since t->start_time; evaluations left out. */
int store_ab_durations(store *st, const store_ab_test *t, store_durations *out, skh_error *err);
void store_durations_free(store_durations *d);
/* The observed JSON of the test's newest latency look (a 'latency' decision); NULL if none. */
int store_ab_latency_latest(store *st, const store_ab_test *t, char **observed, skh_error *err);

typedef struct store_ab_new {
    const char *skill;
    const char *treatment; /* variant id; the control is chosen here */
    double weight;         /* percent, checked by the caller */
    long long target;
    const char *mode;  /* "ab" or "rollout" */
    const char *steps; /* rollout: JSON array text; NULL otherwise */
} store_ab_new;

/*
 * Start a test in one BEGIN IMMEDIATE transaction.  The control is the
 * skill's serving variant other than the treatment (production if any).
 * Refused, with a message naming the value: an unknown skill or variant
 * (SKH_ENOTFOUND), a treatment of another skill (SKH_EINVAL), an archived
 * treatment, a treatment that is already production, no variant left to be
 * the control, or a live test already running (SKH_EFAILED; the unique
 * index ab_one_live_test settles races).  The treatment's test_status
 * becomes 'testing'.  *test_id is malloc'd.
 */
int store_ab_create(store *st, const store_ab_new *n, char **test_id, skh_error *err);
/* By id; SKH_ENOTFOUND when there is none. */
int store_ab_get(store *st, const char *test_id, store_ab_test *out, skh_error *err);
/* The skill's running test, the one routing uses; *found is 0 or 1.  One indexed read. */
int store_ab_running(store *st, const char *skill, store_ab_test *out, int *found, skh_error *err);
/* The skill's live test (running or awaiting approval), else its latest; SKH_ENOTFOUND if none. */
int store_ab_latest(store *st, const char *skill, store_ab_test *out, skh_error *err);
/* Fold one look's always-valid p into min_p, atomically (a running test only). */
int store_ab_note_p(store *st, const char *test_id, double p, skh_error *err);
/*
 * End the skill's live test without a verdict: status 'stopped', the reason
 * kept, the treatment's test_status 'stopped'.  SKH_ENOTFOUND when the skill
 * has no live test.  *test_id (may be NULL) is malloc'd.
 */
int store_ab_stop(store *st, const char *skill, const char *reason, char **test_id, skh_error *err);

typedef enum store_ab_action {
    STORE_AB_PROMOTE, /* the treatment becomes production */
    STORE_AB_ARCHIVE, /* the treatment lost: archived */
    STORE_AB_AWAIT,   /* the treatment won; promotion waits for sign-off */
    STORE_AB_ADVANCE, /* rollout: next step */
    STORE_AB_STOP     /* rollout: treatment weight 0, stopped */
} store_ab_action;

typedef struct store_ab_verdict {
    const char *test_id;
    store_ab_action action;
    const char *reason;
    const char *statistic; /* JSON text or NULL */
    double p;              /* this look's always-valid p, folded into min_p; NAN: none */
    int from_step;         /* ADVANCE: the step it was decided at */
    double next_weight;    /* ADVANCE: the new weight */
    /* The decisions row. */
    const char *observed;
    const char *thresholds;
    const char *policy_file;
    const char *policy_sha256;
} store_ab_verdict;

/*
 * Apply a verdict in one transaction, exactly once: the test's row changes
 * only while it is still running (and, to advance, still at from_step), so
 * of several processes deciding at the same moment one applies it and the
 * others get *applied = 0 and change nothing.  A promotion also makes the
 * treatment production (the previous production variant becomes staged,
 * the rollback target, named in promotion_events.demoted_variant_id), sets
 * promoted = 1, and writes a variation_promoted learning event whose
 * before/after fidelity is the mean final-attempt fidelity of the control's
 * and the treatment's requests since the test started.  Every verdict
 * writes a decisions row (kind "ab" or "rollout").
 */
int store_ab_apply(store *st, const store_ab_verdict *v, int *applied, skh_error *err);

/* ---- time ------------------------------------------------------------------ */

/* Now as ISO-8601 UTC with milliseconds: "2026-11-23T08:15:02.123Z". */
void store_timestamp(char buf[32]);

#endif
