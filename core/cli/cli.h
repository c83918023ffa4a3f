/*
 * The skillhost command: thin verbs over <skillhost/host.h>.  Each verb
 * parses its own arguments and returns the process exit status.
 */
#ifndef SKH_CLI_H
#define SKH_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <skillhost/host.h>

typedef struct cli {
    int json;  /* --json: one JSON object on stdout */
    int quiet; /* -q */
    const char *db;
    const char *policies;
    skh_host *host;
} cli;

typedef struct cli_verb {
    const char *name;
    int (*run)(cli *c, int argc, char **argv); /* argv[0] is the verb */
    const char *usage;                         /* one line, after "skillhost " */
    const char *help;                          /* the rest of --help */
} cli_verb;

/*
 * Open the host once per process; on failure prints the error and returns its exit status.
 * Without --db or $SKILLHOST_DB the workspace is found first (cli_workspace); only
 * init passes create.
 */
int cli_open(cli *c, int create);
/*
 * Find the workspace (cli_workspace.c): --db, else $SKILLHOST_DB, else the first
 * .skillhost/ in the current directory or above it, up to $HOME or /.  Sets c->db.
 * Not found: with create, leaves c->db NULL (the host makes ./.skillhost/); without,
 * says where it looked (when report) and returns exit status 4.
 */
int cli_workspace(cli *c, int create, int report);
/* The folder the workspace was found in when it is above the current one, else NULL. */
const char *cli_workspace_found_above(void);
/*
 * A progress line on stderr for long work (cli_progress.c): done/total, rate,
 * ETA, redrawn in place and erased at the end.  NULL -- and every call a
 * no-op -- when stderr is not a terminal, with -q, or with
 * SKILLHOST_PROGRESS=never (SKILLHOST_PROGRESS=always: draw anyway, one line
 * per redraw).  unit names what is counted ("cases", "lines"); fmt the work.
 */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_start(const cli *c, const char *unit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* done of total (0: unknown); redraws at most ten times a second, and at the end. */
void cli_progress_set(cli_progress *p, unsigned long long done, unsigned long long total);
/* Erase the line and free p. */
void cli_progress_end(cli_progress *p);
/* cli_progress_set as a callback (arg is the cli_progress), for skh_*_options.progress. */
void cli_progress_cb(void *arg, size_t done, size_t total);
/* With SKILLHOST_LOG=trace: "skillhost: trace: ..." on stderr. */
void cli_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print `skillhost: WHAT: WHY` (and the JSON error object with --json); returns the exit status. */
int cli_error(const cli *c, const skh_error *err);
/* A usage error: message, then "try 'skillhost VERB --help'"; returns 2. */
int cli_usage(const cli *c, const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Print a verb's --help (cli_help.c): its usage and text, then every option of
 * the verb's getopt table (the one cli_take_globals last saw), the global
 * options and the exit statuses.
 */
int cli_help(const cli_verb *v);
/* The verb's option table for cli_help and cli_bad_option (cli_take_globals sets it). */
void cli_help_set_options(const struct option *opts);
/* "unknown option 'ARG'; did you mean '--NAME'?" from the verb's table; returns 2. */
int cli_bad_option(const cli *c, const char *verb, const char *arg);
/* The candidate nearest word (a few edits, or word starts it), or NULL. */
const char *cli_did_you_mean(const char *word, const char *const *candidates, size_t n);
/* The verb nearest a mistyped one, or NULL. */
const char *cli_verb_suggest(const char *word);
const cli_verb *cli_verb_find(const char *name);
/* Is argv[1..] asking for help? */
int cli_wants_help(int argc, char **argv);
/*
 * --json, -q, --quiet, --db PATH and --policies DIR after the verb (DESIGN §9
 * puts them before it; both work; --db and --policies stay the verb's when its
 * table has them): take them out of argv[1..*argc-1], setting c->json and c->quiet, so
 * the verb parses only its own arguments.  What is the value of one of the
 * verb's options (opts, may be NULL: "--notes -q") stays, and so does
 * everything from "--" on.  leading: stop at the first operand, a
 * dispatcher's subcommand, whose own call takes the rest with its table.
 */
void cli_take_globals(cli *c, int *argc, char **argv, const struct option *opts, int leading);
/* Print j as the JSON answer (pretty when stdout is a terminal); steals j. */
void cli_print_json(json_t *j);
/* On a terminal, show control characters in stdout and stderr escaped (cli_term.c). */
void cli_term_guard(void);
/* "TEXT", "@FILE" or "@-": the text itself, a file's contents, or stdin; malloc'd. */
int cli_read_arg(const char *arg, const char *flag, char **out, skh_error *err);

int cmd_init(cli *c, int argc, char **argv);
int cmd_skill(cli *c, int argc, char **argv);
int cmd_run(cli *c, int argc, char **argv);
int cmd_plugin(cli *c, int argc, char **argv);
int cmd_demo(cli *c, int argc, char **argv);
int cmd_policy(cli *c, int argc, char **argv);
/* policy diff NAME [--since T] [--examples N] (cli_policy_diff.c); argv[0] is "diff". */
int cli_policy_diff(cli *c, int argc, char **argv);
int cmd_telemetry(cli *c, int argc, char **argv);
int cmd_config(cli *c, int argc, char **argv);
int cmd_ab(cli *c, int argc, char **argv);
int cmd_evolve(cli *c, int argc, char **argv);
int cmd_evaluate(cli *c, int argc, char **argv);
int cmd_approve(cli *c, int argc, char **argv);
int cmd_promote(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);
int cmd_rollback(cli *c, int argc, char **argv);
int cmd_registry(cli *c, int argc, char **argv);
int cmd_help(cli *c, int argc, char **argv);
int cmd_version(cli *c, int argc, char **argv);
int cmd_mcp(cli *c, int argc, char **argv);

int cmd_analytics(cli *c, int argc, char **argv);
int cmd_heatmap(cli *c, int argc, char **argv);
int cmd_anomalies(cli *c, int argc, char **argv);

extern const cli_verb cli_verbs[];

#endif
