/*
 * libskillhost embedding API.
 *
 * A host is one process's runtime: configuration, the SQLite store, the
 * loaded plugins and their Lua states.
 *
 * Threads: a skh_host is not thread-safe; use one host per thread.  Any
 * number of hosts, in one process or in many, may share one database: every
 * write is a short BEGIN IMMEDIATE transaction and every counter changes by
 * atomic SQL, so no update is lost.
 *
 * Errors: functions return SKH_OK (0) or a negative SKH_E* code and, when
 * err is not NULL, fill it with what failed (a field, file or verb) and why.
 * Strings returned through char ** are owned by the caller: skh_free() them.
 */
#ifndef SKILLHOST_HOST_H
#define SKILLHOST_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <skillhost/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SKH_VERSION_STRING "0.1.0"

enum {
    SKH_OK = 0,
    SKH_EINVAL = -1,    /* bad input: JSON, a flag, a name (exit 2) */
    SKH_ENOTFOUND = -2, /* no such skill, variant or file (exit 2) */
    SKH_EPLUGIN = -3,   /* a plugin or policy could not be loaded (exit 3) */
    SKH_ESTORE = -4,    /* the database failed (exit 4) */
    SKH_EFAILED = -5,   /* the skill failed, or a request was refused (exit 1) */
    SKH_ENOMEM = -6     /* out of memory (exit 4) */
};

typedef struct skh_error {
    int code;           /* SKH_E* */
    int category;       /* SKH_ERR_* when a plugin failed, else SKH_ERR_NONE */
    char what[256];     /* the thing that failed: "--input", a file, a skill */
    char message[1024]; /* why, with line and column where there are some */
} skh_error;

typedef struct skh_host skh_host;
typedef struct skh_result skh_result;

typedef struct skh_host_options {
    uint32_t struct_size;     /* sizeof(skh_host_options) */
    const char *db_path;      /* NULL: $SKILLHOST_DB, then ./.skillhost/skillhost.db */
    const char *policies_dir; /* NULL: $SKILLHOST_POLICIES, then the installed folder */
    const char *plugin_path;  /* NULL: $SKILLHOST_PLUGIN_PATH, then the installed folder */
    int create; /* create the database (and its folder) if missing, or set up an empty file */
} skh_host_options;

/* Open a host; the database schema is created or migrated as needed. */
int skh_host_open(const skh_host_options *opts, skh_host **out, skh_error *err);
void skh_host_close(skh_host *host);
/* The database path the host uses. */
const char *skh_host_db_path(const skh_host *host);
/*
 * Is db_path a skillhost workspace database?  SKH_OK when it is one this
 * binary can open, SKH_ENOTFOUND when nothing is there, SKH_ESTORE with a
 * message saying what the file is otherwise (another application's SQLite
 * file, an empty file, not SQLite at all, a device).  Reads only: it never
 * creates, migrates or changes the file.  skh_host_open() makes the same
 * check; only create (`skillhost init`) makes a workspace of an empty file.
 */
int skh_workspace_check(const char *db_path, skh_error *err);

/* ---- time ----------------------------------------------------------------- */

/*
 * Where a host gets its time and randomness: backoff waits, their jitter,
 * request deadlines.  Tests and simulations install their own so nothing
 * sleeps for real; NULL members keep the real ones.
 */
typedef struct skh_clock {
    uint32_t struct_size;       /* sizeof(skh_clock) */
    double (*now_ms)(void *ud); /* monotonic milliseconds */
    void (*sleep_ms)(void *ud, double ms);
    double (*random)(void *ud); /* uniform in [0, 1) */
    void *ud;
} skh_clock;

/* Install a clock (copied); NULL restores the real clock and random source. */
void skh_host_set_clock(skh_host *host, const skh_clock *clock);

/* ---- skills and variants ------------------------------------------------ */

typedef struct skh_variant_spec {
    uint32_t struct_size;    /* sizeof(skh_variant_spec) */
    const char *skill;       /* skill name, [a-z0-9_]{1,64} */
    const char *impl;        /* path or file name of a .so/.lua, or "exec:CMD ARGS" */
    const char *content;     /* NULL: "" */
    const char *patterns;    /* comma separated; NULL: the plugin's defaults */
    const char *state;       /* NULL: "prototype" */
    const char *description; /* NULL: the plugin's description */
    const char *evolver;     /* the skill's evolver plugin (path or file name); NULL: keep */
    /*
     * The skill's positive class for false-positive rates and critical
     * false negatives ("spam"); NULL: keep; "": clear (then evaluate and
     * rollback.lua take the first expected label that is not "ham",
     * "negative" or "no").
     */
    const char *positive_class;
    /*
     * Where the variant's shared-object plugin runs: "process" (a worker
     * process, so a crash, exit() or hang is the call's error) or "inline"
     * (in the host: faster, for plugins you trust).  NULL: the workspace's
     * plugins.isolation, "process" by default.  Refused for Lua and exec:
     * plugins, which are sandboxed or separate processes already.
     */
    const char *isolation;
} skh_variant_spec;

/* Register a new variant; *variant_id (e.g. "spam@v2") is skh_free()d by the caller. */
int skh_variant_add(skh_host *host, const skh_variant_spec *spec, char **variant_id,
                    skh_error *err);
/* Set (or with NULL or "", clear) the skill's positive class; see skh_variant_spec. */
int skh_skill_set_positive_class(skh_host *host, const char *skill, const char *positive_class,
                                 skh_error *err);
/* JSON array of skills with their variants. */
int skh_skill_list(skh_host *host, char **json, skh_error *err);
/* JSON object: the skill, each variant, execution counts. */
int skh_skill_show(skh_host *host, const char *skill, char **json, skh_error *err);
/*
 * Every skill with a serving variant, as the MCP server lists its tools:
 * a JSON array of {"name", "description", "variant", "input_schema",
 * "output_schema"} (schemas as the serving variant's plugin declares them,
 * or null), sorted by name.  The serving plugins are loaded (and kept warm)
 * to read their schemas; a skill whose plugin cannot be loaded is listed
 * with "error" set instead of schemas.
 */
int skh_skill_tools(skh_host *host, char **json, skh_error *err);

/* ---- execution ---------------------------------------------------------- */

/*
 * What a running request reports as it goes (skh_exec_options.on_event):
 * an attempt starting, a breadcrumb, a plugin's log line.  The MCP server
 * turns them into progress and logging notifications.  text is borrowed
 * for the call only.
 */
enum { SKH_EVENT_ATTEMPT = 1, SKH_EVENT_STEP = 2, SKH_EVENT_LOG = 3 };
typedef struct skh_event {
    int kind;         /* SKH_EVENT_* */
    unsigned attempt; /* 1-based */
    int level;        /* SKH_LOG_* for SKH_EVENT_LOG, else 0 */
    const char *text; /* the variant (ATTEMPT), the step's name, or the log line */
} skh_event;

typedef struct skh_exec_options {
    uint32_t struct_size; /* sizeof(skh_exec_options) */
    const char *variant;  /* NULL: route; else "name@vN" */
    const char *key;      /* routing key; NULL: random */
    const char *session_id;
    const char *workflow_phase;
    const char *user_query;
    const char *tenant;
    int max_iterations;   /* 0: configured value */
    double threshold;     /* < 0: configured value */
    int react;            /* -1: configured, 0 off, 1 on */
    int evaluation;       /* mark the executions as benchmark evaluation */
    double timeout_ms;    /* request deadline; 0: request.timeout_ms; < 0: none */
    const char *expected; /* benchmark label recorded with the outcome (evaluate); NULL: none */
    int critical;         /* a benchmark case whose false negative is critical */
    /* Appended; read only when struct_size covers them. */
    void (*on_event)(void *ud, const skh_event *ev); /* NULL: no events */
    void *event_ud;
    /*
     * Cancellation: when *cancel turns non-zero (set from any thread), no
     * further attempt or backoff wait starts; the attempt under way ends as
     * it would, and is recorded.  NULL: not cancellable.
     */
    const volatile int *cancel;
    /*
     * The rest of seed 004's invocation context, recorded with every
     * execution and handed to the skill and its scorers (skh_context()):
     * the skills the caller weighed before this one and the actions it
     * plans after it, comma separated (NULL: none), and the rank its
     * selection gave this skill (1 = first choice; 0: none).
     */
    const char *alternatives_considered;
    const char *follow_up_actions;
    int selection_rank;
} skh_exec_options;

#define SKH_EXEC_OPTIONS_INIT                                                                      \
    {                                                                                              \
        .struct_size = sizeof(skh_exec_options), .threshold = -1.0, .react = -1                    \
    }

/*
 * Run a skill: route, execute, score and record.  SKH_OK when the skill
 * produced output; SKH_EFAILED when it failed (the result still describes
 * every attempt); other codes when nothing could run.  *result is set
 * whenever any attempt ran, even on SKH_EFAILED, and is freed by the caller.
 */
int skh_execute(skh_host *host, const char *skill, const char *input_json,
                const skh_exec_options *opts, skh_result **result, skh_error *err);

/* The final output (JSON text), or NULL when the skill failed. */
const char *skh_result_output(const skh_result *r);
const char *skh_result_variant(const skh_result *r);
unsigned skh_result_attempts(const skh_result *r);
double skh_result_fidelity(const skh_result *r, unsigned attempt); /* 0-based */
const char *skh_result_execution_id(const skh_result *r, unsigned attempt);
int skh_result_recorded(const skh_result *r);
/* The last attempt's error category (SKH_ERR_NONE on success) and message. */
int skh_result_error_category(const skh_result *r);
const char *skh_result_error_message(const skh_result *r);
/* The whole result as the JSON object `skillhost run --json` prints. */
int skh_result_json(const skh_result *r, char **json);
void skh_result_free(skh_result *r);

/*
 * Name the client behind a session_id (table client_sessions): the MCP
 * server records each session's transport ("stdio", "http"), the client's
 * name and version from initialize, and the protocol revision agreed.  A
 * session recorded again keeps its first row.  NULL members are stored NULL.
 */
int skh_session_record(skh_host *host, const char *session_id, const char *transport,
                       const char *client_name, const char *client_version,
                       const char *protocol_version, skh_error *err);

/* ---- plugins ------------------------------------------------------------ */

/*
 * Load and check a plugin file without running it: contract, trust, syntax.
 * On success *json describes it: {"kind","name","version","description",...}.
 */
int skh_plugin_check(skh_host *host, const char *path, char **json, skh_error *err);
/* Resolve a plugin file name against the plugin path; caller frees. */
int skh_plugin_resolve(skh_host *host, const char *name, char **path, skh_error *err);

/* ---- A/B tests and gradual rollouts (DESIGN §2, §4, §5) ------------------ */

typedef struct skh_ab_spec {
    uint32_t struct_size; /* sizeof(skh_ab_spec) */
    const char *skill;
    const char *treatment; /* "skill@vN"; the control is the skill's serving variant */
    double weight;         /* treatment share in percent; 0: 50 (a rollout: its first step) */
    long target;           /* sample-size target per arm; 0: 20 (the seeds') */
    int rollout;           /* 1: a gradual rollout through steps instead of a fixed split */
    const char *steps;     /* rollout steps in percent, "10,50,100"; NULL: rollout.lua's */
} skh_ab_spec;

/* Start the one live test of a skill; *test_id is skh_free()d by the caller. */
int skh_ab_start(skh_host *host, const skh_ab_spec *spec, char **test_id, skh_error *err);
/*
 * The skill's live test (or its latest one): counts, rates, Wilson
 * intervals, the statistic, the sample-ratio check, the attempts guardrail,
 * and what ab.lua (or rollout.lua) would decide now.  JSON object.
 */
int skh_ab_status(skh_host *host, const char *skill, char **json, skh_error *err);
/* Stop the skill's live test without a verdict (status "stopped"). */
int skh_ab_stop(skh_host *host, const char *skill, const char *reason, skh_error *err);

/* ---- evolvers ------------------------------------------------------------- */

/*
 * Ask an evolver (evolver_impl, or NULL for the skill's own) for a new
 * variant of the skill's serving variant, register it (its parent
 * recorded) and start an A/B test for it at once.  Either out may be NULL.
 */
int skh_evolve(skh_host *host, const char *skill, const char *evolver_impl, char **variant_id,
               char **test_id, skh_error *err);

typedef struct skh_evolve_options {
    uint32_t struct_size; /* sizeof(skh_evolve_options) */
    const char *evolver;  /* evolver plugin (path or file name); NULL: the skill's own */
    double weight;        /* the A/B test's treatment share in percent; 0: 50 */
    long target;          /* the A/B test's sample-size target per arm; 0: 20 */
} skh_evolve_options;

/*
 * skh_evolve with the A/B test's knobs (opts NULL: all defaults), answering
 * with the whole report: *json is {"skill", "variant", "parent", "test_id",
 * "content", "patterns", "description", "evolver"} (the new variant, the
 * one it was made from, the test it entered, what the evolver proposed and
 * why, and the evolver's path).  A weight outside [0, 100] or a negative
 * target is refused (SKH_EINVAL) before the evolver is asked.  *json is
 * NULL on any error.
 */
int skh_evolve_report(skh_host *host, const char *skill, const skh_evolve_options *opts,
                      char **json, skh_error *err);

/* ---- lifecycle (DESIGN §4, §7) --------------------------------------------- */

/*
 * Run every case of a JSONL file ({"input", "expected", "critical"} per
 * line) through the pipeline against variant (NULL: the serving one),
 * recorded and marked as evaluation.  *json: {"variant", "cases", "run",
 * "failed", "fidelity", "outcome", "false_positive_rate",
 * "critical_false_negatives", "positive_class", "errors": [{"line", ...}]}.
 * A malformed line is reported with file:line and counted as failed.
 */
int skh_evaluate(skh_host *host, const char *skill, const char *variant, const char *cases_path,
                 char **json, skh_error *err);

/* skh_evaluate with more choices; NULL options: skh_evaluate's. */
typedef struct skh_evaluate_options {
    uint32_t struct_size; /* sizeof(skh_evaluate_options) */
    const char *variant;  /* "skill@vN"; NULL: the serving variant */
    /*
     * Cases run side by side, each worker on a host of its own opened on the
     * same database (0 or 1: one at a time on host).  The report is the same
     * for any number: cases are reported in file order.
     */
    unsigned jobs;
    /*
     * Called with 0 before the first case and after each case that ran, from
     * the worker that ran it (one call at a time): done of total cases.
     */
    void (*progress)(void *arg, size_t done, size_t total);
    void *progress_arg;
} skh_evaluate_options;
int skh_evaluate_with(skh_host *host, const char *skill, const char *cases_path,
                      const skh_evaluate_options *opts, char **json, skh_error *err);

typedef struct skh_approval {
    uint32_t struct_size; /* sizeof(skh_approval) */
    const char *variant;  /* "skill@vN" */
    const char *path;     /* "prototype->staged" or "staged->production" */
    const char *approver;
    const char *ticket;
    const char *const *checks; /* "ITEM=yes|no[:EVIDENCE]" each */
    size_t nchecks;
    const char *notes;
} skh_approval;

/* Record a human sign-off; items come from promotion.lua (unknown ones refused). */
int skh_approve(skh_host *host, const skh_approval *a, char **approval_id, skh_error *err);
/*
 * Ask promotion.lua whether variant is ready for to_state; when ready, move
 * it (state, promotion_events, the previous production kept as the rollback
 * target) in one transaction.  *json lists every check with its measured
 * value and threshold.  SKH_EFAILED when not ready.
 */
int skh_promote(skh_host *host, const char *variant, const char *to_state, char **json,
                skh_error *err);
/* Roll the skill back by hand: restore the previous production variant (or demote to to_state). */
int skh_rollback(skh_host *host, const char *skill, const char *reason, const char *to_state,
                 char **json, skh_error *err);
/*
 * Everything about a skill: variants, states, window metrics against the
 * thresholds, sample counts per metric table, the live test, breakers,
 * approvals, recent decisions and what is missing for the next promotion
 * (or for target_state).  at (ISO-8601, may be NULL) also answers which
 * variant served production at that time.
 */
int skh_status(skh_host *host, const char *skill, const char *target_state, const char *at,
               char **json, skh_error *err);
/* Write the registry JSON atomically (temp file + rename); path NULL: beside the database. */
int skh_registry_export(skh_host *host, const char *path, char **written, skh_error *err);

/* ---- configuration (DESIGN §9) ------------------------------------------ */

/*
 * Every option with its value and where the value came from:
 * {"options": [{"name","value","source","default","env","type","status",
 * "description","needs","conflicts"}]}.
 */
int skh_config_list(skh_host *host, char **json, skh_error *err);
/* Set (value non-NULL) or unset (NULL) an option in the workspace; checked first. */
int skh_config_set(skh_host *host, const char *key, const char *value, skh_error *err);
/* Check needs and conflicts: {"ok": bool, "problems": ["..."]}; SKH_EINVAL when not ok. */
int skh_config_validate(skh_host *host, char **json, skh_error *err);

/* ---- policies ----------------------------------------------------------- */

/*
 * Load every policy file in dir (NULL: the host's policies folder, or with
 * host NULL too, $SKILLHOST_POLICIES then the installed folder) without
 * deciding anything.  *json: {"dir", "policies": [{"file","ok",...,"error"}],
 * "failed": N}.  SKH_EPLUGIN when any file fails; *json is then still set
 * (it says which files failed).  On any other error *json is NULL.
 */
int skh_policy_check(skh_host *host, const char *dir, char **json, skh_error *err);

/*
 * Where the shadow of a policy (POLICIES/shadow/NAME.lua, run on the same
 * facts as the live NAME.lua and never acted on) disagreed with it since a
 * timestamp (NULL or "": ever).  *json: {"policy", "since", "decisions",
 * "agreed", "disagreed", "by_verdict": [{"live", "shadow", "count",
 * "agree", "first", "last"}], "examples": [the first `examples`
 * disagreements with their facts and both answers], "shadow_file"}.
 */
int skh_policy_diff(skh_host *host, const char *policy, const char *since, int examples,
                    char **json, skh_error *err);

/* ---- telemetry ---------------------------------------------------------- */

/*
 * The dashboard (DESIGN §8): retry_count, total_executions, total_requests,
 * retry_rate, variation_win_rate, avg_fidelity_delta, variations_tested,
 * variations_promoted, and a row per skill.  JSON object.
 */
int skh_telemetry(skh_host *host, char **json, skh_error *err);

/* ---- analytics (DESIGN §8, docs/observability.md) -------------------------- */

typedef struct skh_analytics_options {
    uint32_t struct_size; /* sizeof(skh_analytics_options) */
    const char *since;    /* an age ("24h", "7d") or an ISO-8601 UTC time; NULL: all */
    const char *until;    /* ISO-8601 UTC, exclusive; NULL: now */
    const char *skill;    /* filters; NULL: all */
    const char *tenant;
    const char *phase;
    const char *by;      /* skh_analytics: skill, variant, phase (default), tenant or hour */
    const char *rows;    /* skh_heatmap: skill, phase (default) or tenant */
    const char *columns; /* skh_heatmap: hour (of day, default) or day */
    const char *metric;  /* skh_heatmap: executions (default), success_rate, fidelity,
                            error_rate or duration_p95_ms */
} skh_analytics_options;

/*
 * Effectiveness per group (requests, success rate, fidelity, retries,
 * duration p50/p95, errors by category), the bottlenecks (the phase x skill
 * pairs costing the most time and failing the most requests, with their
 * share) and the phase transitions within sessions.  JSON object.
 */
int skh_analytics(skh_host *host, const skh_analytics_options *opts, char **json, skh_error *err);
/* The rows x hours-of-day (or days) matrix of one metric.  JSON object. */
int skh_heatmap(skh_host *host, const skh_analytics_options *opts, char **json, skh_error *err);
/*
 * Judge every finished hour not judged yet against its trailing hours
 * (anomaly.lua), keep what is found, offer new findings to hooks.lua, and
 * answer every kept anomaly since opts->since (skill and tenant filters
 * apply).  JSON object.
 */
int skh_anomalies(skh_host *host, const skh_analytics_options *opts, char **json, skh_error *err);

/* ---- helpers ------------------------------------------------------------ */

/* "network", "timeout", ...; NULL for an unknown category. */
const char *skh_category_name(int category);
/* SKH_ERR_* for a name, or -1. */
int skh_category_from_name(const char *name);
/*
 * Text crossing into skillhost must be UTF-8 without NUL bytes: SKH_OK, or
 * SKH_EINVAL with err->what = what and a message giving the byte offset of
 * the first invalid byte (or of the NUL).
 */
int skh_text_check(const char *what, const char *s, size_t n, skh_error *err);
/*
 * Parse a number strictly: an optional '-' and digits, and for a real
 * (integer == 0) an optional fraction and exponent.  "0x5", "5.0" (for an
 * integer), " 5", "+5", "inf" and "nan" are refused.  SKH_OK and *out set,
 * or SKH_EINVAL.
 */
int skh_number_parse(const char *text, int integer, double *out);
/* Process exit status for an SKH_E* code (DESIGN §9). */
int skh_exit_status(int code);
void skh_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* SKILLHOST_HOST_H */
