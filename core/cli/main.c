/*
 * skillhost [--db PATH] [--policies DIR] [--json] [-q] VERB ...
 *
 * Global options come before the verb (DESIGN §9); everything after the
 * verb belongs to it, except the global options, which every verb also
 * accepts among its own arguments (cli_take_globals).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

#include "cli.h"

const cli_verb cli_verbs[] = {
    {"init", cmd_init, "init",
     "Create the workspace database (idempotent): --db, else $SKILLHOST_DB, else\n"
     "./.skillhost/skillhost.db.  Every verb finds the workspace as git finds .git:\n"
     "--db, else $SKILLHOST_DB, else the first .skillhost/ folder in the current\n"
     "directory or above it (up to $HOME, or /).  init is the only verb that creates\n"
     "one; run in a folder under a workspace, it reports that workspace.\n"},
    {"skill", cmd_skill, "skill add|set|list|show ...",
     "  skill add NAME --impl FILE|exec:CMD [--content TEXT|@FILE] [--patterns a,b,c]\n"
     "            [--state prototype|staged|production] [--description TEXT]\n"
     "            [--evolver FILE] [--positive-class CLASS] [--isolation process|inline]\n"
     "      Register a new variant of skill NAME; prints NAME@vN.  --impl takes a path,\n"
     "      or a file name looked up in $SKILLHOST_PLUGIN_PATH and then the installed\n"
     "      plugin folder, or exec:CMD, or mcp:CMD#TOOL (one tool of a stdio MCP server,\n"
     "      kept warm; docs/mcp.md).  --patterns overrides the plugin's default patterns.\n"
     "      --evolver sets the skill's evolver plugin (kind evolver), used by 'evolve'.\n"
     "      --isolation: where a .so runs: process (a worker; a crash or hang is the\n"
     "      call's error) or inline (in the host, for trusted plugins); default: the\n"
     "      plugins.isolation key, process unless set.\n"
     "  skill set NAME --positive-class CLASS\n"
     "      The decision that counts as positive for false-positive rates and critical\n"
     "      false negatives (evaluate, rollback.lua, promotion.lua); \"\" clears it: then\n"
     "      the first expected label that is not ham, negative or no.  Also on skill add.\n"
     "  skill list\n"
     "      Every skill with its serving variant.\n"
     "  skill show NAME\n"
     "      One skill: every variant, its state and its recorded executions.\n"},
    {"run", cmd_run, "run NAME --input JSON|@FILE [options]",
     "Route, execute, score and record one request of skill NAME.\n\n"
     "  --input JSON|@FILE|@-   the input object (required)\n"
     "  --variant NAME@vN       run this variant instead of the serving one\n"
     "  --key K                 routing key (sticky A/B arm)\n"
     "  --max-iter N            attempts at most (react.max_iterations)\n"
     "  --threshold F           fidelity an attempt needs (react.fidelity_threshold)\n"
     "  --no-react              no ReAct iterations (recovery retries still apply)\n"
     "  --timeout SECONDS|Nms   the request's deadline (request.timeout_ms; 0: none)\n"
     "  --session ID  --phase P  --query TEXT  --tenant T   invocation context, recorded\n"
     "  --alternatives A,B  --rank N  --follow-up X,Y   the skills weighed before this one,\n"
     "                          the rank it was chosen at, the actions planned after it\n"
     "The context reaches the skill and its scorers (Lua ctx.phase..., skh_context(),\n"
     "$SKILLHOST_CONTEXT for exec: skills).\n\n"
     "Prints the output object on stdout (the whole result with --json).\n"
     "Exit 0 when the skill produced output, 1 when it failed.\n"},
    {"plugin", cmd_plugin, "plugin check FILE...",
     "Load each plugin file (.so, .lua or exec:CMD) and check its contract and\n"
     "trust without running it.  Prints 'FILE: ok (kind name version)' or\n"
     "'FILE: REASON' per file; exit 3 if any fails.\n"},
    {"ab", cmd_ab, "ab start|status|stop NAME ...",
     "  ab start NAME --treatment NAME@vN [--weight PCT] [--target N]\n"
     "  ab start NAME --treatment NAME@vN --rollout [--steps 10,50,100] [--target N]\n"
     "      Run the skill's serving variant (control) against a candidate.  Each request\n"
     "      is one trial; ab.lua promotes the treatment when it truly wins, archives it\n"
     "      when it loses.  --rollout moves the treatment through weight steps instead,\n"
     "      as rollout.lua's checks pass, and stops it when they fail.\n"
     "  ab status NAME\n"
     "      Counts, rates with Wilson intervals, the statistic, sample-ratio check,\n"
     "      attempts guardrail, and what the policy would decide now.\n"
     "  ab stop NAME [--reason TEXT]\n"
     "      End the live test without a verdict.\n"},
    {"evolve", cmd_evolve, "evolve NAME [--evolver FILE] [--weight PCT] [--target N]",
     "Ask the skill's evolver (skill add --evolver, or --evolver here) for a new variant of\n"
     "the serving one, built from its weak patterns and recent failures; the new variant\n"
     "(its parent recorded) enters an A/B test at once.\n"},
    {"evaluate", cmd_evaluate, "evaluate NAME [--variant NAME@vN] --cases FILE.jsonl [--jobs N]",
     "Run benchmark cases ({\"input\", \"expected\", \"critical\"} per line) through the\n"
     "pipeline, recorded and marked as evaluation, and report pattern fidelity, outcome\n"
     "quality, false-positive rate and critical false negatives.  A malformed line is\n"
     "reported with file:line and counted as failed.  --jobs N (1-64) runs N cases at\n"
     "once, for slow exec: skills; the report is the same as with one.  On a terminal\n"
     "a progress line (done/total, rate, ETA) shows on stderr, unless -q.\n"},
    {"approve", cmd_approve,
     "approve NAME@vN --path prototype->staged|staged->production --approver WHO --ticket T\n"
     "                 [--check ITEM=yes|no[:EVIDENCE]]... [--notes TEXT]",
     "Record a human sign-off for one variant and one promotion path.  The checklist\n"
     "items come from promotion.lua; unknown items are refused.\n"},
    {"promote", cmd_promote, "promote NAME@vN --to staged|production",
     "Ask promotion.lua whether the variant is ready.  Not ready: exit 1 and every failed\n"
     "check with its measured value and threshold.  Ready: the state change, its event\n"
     "and the previous production variant kept as the rollback target, in one transaction.\n"},
    {"rollback", cmd_rollback, "rollback NAME --reason TEXT [--to staged|prototype]",
     "Restore the previous production variant by hand (or demote the serving one to\n"
     "--to), recorded with the reason.\n"},
    {"status", cmd_status, "status NAME [--target-state S] [--at TIME]",
     "Every variant with its state, window metrics against thresholds, sample counts per\n"
     "metric table, the running test, breakers, approvals, the latest decisions, and what\n"
     "is missing for the next promotion.  --at TIME: which variant served production then.\n"},
    {"registry", cmd_registry, "registry export [FILE]",
     "Write the registry JSON (skills, variants, states, last_updated) atomically.\n"},
    {"policy", cmd_policy, "policy check [DIR] | policy diff NAME [--since T] [--examples N]",
     "  policy check [DIR]\n"
     "      Load every policy in the policies folder (--policies, $SKILLHOST_POLICIES, or the\n"
     "      installed folder; or DIR) without deciding anything, and report each file as\n"
     "      'FILE: ok (policy NAME VERSION)' or 'FILE:LINE: message'.  Exit 3 if any fails.\n"
     "  policy diff NAME [--since TIME] [--examples N]\n"
     "      Where the shadow policy POLICIES/shadow/NAME.lua (run on the live NAME.lua's\n"
     "      facts at every decision, never acted on) disagreed with the live one: counts\n"
     "      by (live, shadow) verdict and the first N disagreements (default 3) with\n"
     "      their facts and both answers.\n"},
    {"telemetry", cmd_telemetry, "telemetry",
     "The dashboard: executions, requests that needed a retry, the retry rate,\n"
     "A/B variation win rate and fidelity gain, and a row per skill.\n"},
    {"analytics", cmd_analytics,
     "analytics [--by skill|variant|phase|tenant|hour] [--since T] [--skill S] [--tenant T]",
     "Effectiveness per group (requests, success rate, fidelity, retries per request,\n"
     "duration p50/p95, errors), the bottlenecks (the phase / skill pairs that cost the\n"
     "most time and fail the most requests, with their share), and the phase\n"
     "transitions within sessions (which phase follows which; where sessions end after\n"
     "a failure).  Read from the hourly rollups; live traffic only (no evaluations).\n\n"
     "  --by KEY       group by skill, variant, phase (default), tenant or hour\n"
     "  --since T      an age (24h, 7d, 30m) or a UTC time (2026-12-06T10:00)\n"
     "  --until T      a UTC time, exclusive\n"
     "  --skill S  --tenant T  --phase P   only these\n"},
    {"heatmap", cmd_heatmap,
     "heatmap [--rows skill|phase|tenant] [--columns hour|day] [--metric M] [--since T]",
     "Rows against hours of the day (UTC) or days, one shaded cell each, in 80 columns.\n\n"
     "  --rows R       skill, phase (default) or tenant\n"
     "  --columns C    hour (of day, default) or day (the last 31 days with traffic)\n"
     "  --metric M     executions (default), success_rate, fidelity, error_rate,\n"
     "                 duration_p95_ms\n"
     "  --since T  --until T  --skill S  --tenant T  --phase P   as for analytics\n"
     "--json gives the matrix.\n"},
    {"anomalies", cmd_anomalies, "anomalies [--since T] [--skill S] [--tenant T]",
     "Judge every finished hour not judged yet against the trailing hours (z-scores of\n"
     "success rate, fidelity, error rate and duration; the rule is policies/anomaly.lua),\n"
     "keep what is found, offer new findings to hooks.lua (event kind \"anomaly\"), and\n"
     "print every kept anomaly in range.  An hour is judged once; findings are never\n"
     "recomputed.\n"},
    {"config", cmd_config, "config list | get KEY | set KEY VALUE | unset KEY | validate",
     "Every option is declared once; its value comes from a flag, else the environment,\n"
     "else the workspace (set here, kept in the database so every process agrees),\n"
     "else its default.  'list' shows each value and where it came from; 'validate'\n"
     "checks the options' needs and conflicts (exit 1 on a problem).\n"},
    {"mcp", cmd_mcp, "mcp [--http HOST:PORT [--token-file FILE] [--allow-origin ORIGIN]...]",
     "Serve every skill with a serving variant as a Model Context Protocol tool\n"
     "(docs/mcp.md).  Without --http: newline-delimited JSON-RPC on stdin/stdout, for\n"
     "an MCP client that starts skillhost itself.  A tools/call runs the whole pipeline\n"
     "(routing, A/B arms, ReAct, recovery, scoring, recording, rollback checks).\n\n"
     "  --http HOST:PORT        Streamable HTTP on one endpoint instead (port 0: any free)\n"
     "  --endpoint PATH         the HTTP endpoint (default /mcp)\n"
     "  --token-file FILE       clients must send 'Authorization: Bearer TOKEN' (the\n"
     "                          file's first line; mode 600); required off loopback\n"
     "  --allow-origin ORIGIN   an Origin allowed besides http(s)://localhost and\n"
     "                          127.0.0.1 / [::1] (DNS-rebinding protection); repeatable\n"
     "  --max-body BYTES        largest POST body (default 4 MiB; larger: 413)\n"
     "  --max-clients N         concurrent HTTP connections, one host each (default 64)\n"
     "  --ready-fd FD           write the bound port and a newline to FD once listening\n"},
    {"demo", cmd_demo, "demo [--keep]",
     "Tell the whole story on a throw-away database (in $TMPDIR, else /tmp): the\n"
     "keyword classifier in C and Lua, evaluated, signed off and promoted; a spam\n"
     "wave it misses, a variant proposed by its evolver that wins an A/B test and is\n"
     "promoted; a regression rolled back; a retry that recovers (ReAct, then\n"
     "recovery.lua); telemetry.  --keep leaves the database for a look afterwards.\n"},
    {"help", cmd_help, "help [VERB [SUBCOMMAND]]",
     "The verb list, or one verb's --help (with every option it takes).\n"},
    {"version", cmd_version, "version",
     "The version of skillhost and of the plugin ABI it speaks (as -V, --version).\n"},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: skillhost [--db PATH] [--policies DIR] [--json] [-q] VERB [ARGS]\n\n"
               "verbs:\n");
    for (const cli_verb *v = cli_verbs; v->name; v++)
        fprintf(f, "  %s\n", v->usage);
    fprintf(f, "\nGlobal options may also follow the verb.  'skillhost help VERB' (or 'skillhost\n"
               "VERB --help') describes a verb and every option it takes.  -V, --version: the\n"
               "version.  Exit status: 0 done, 1 refused or failed, 2 usage or bad input, 3\n"
               "plugin or policy error, 4 store error.\n");
}

int cmd_init(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("init"));
    if (argc > 1)
        return cli_usage(c, "init", "unexpected argument '%s'", argv[1]);
    int rc = cli_open(c, 1);
    if (rc)
        return rc;
    /* A workspace above this folder is the one to use: init does not split it in two. */
    const char *above = cli_workspace_found_above();
    if (c->json)
        cli_print_json(json_pack("{s:s, s:b, s:s?}", "db", skh_host_db_path(c->host), "ready", 1,
                                 "found_in", above));
    else if (!c->quiet) {
        printf("workspace ready: %s\n", skh_host_db_path(c->host));
        if (above)
            printf("(the workspace of %s, above the current folder; --db PATH makes another)\n",
                   above);
    }
    return 0;
}

/*
 * Every argument is text that may be stored, printed or put in JSON: refuse
 * one that is not UTF-8 before any verb sees it, naming its flag (issue 9
 * item 9).  File names are arguments too; a name that is not UTF-8 could
 * not be shown in --json output either.
 */
static int check_arguments(const cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        skh_error err;
        const char *eq = argv[i][0] == '-' ? strchr(argv[i], '=') : NULL;
        /* --flag=VALUE: the offset is counted in VALUE, as for --flag VALUE. */
        if (eq && skh_text_check(argv[i], argv[i], (size_t)(eq - argv[i]), &err) == SKH_OK) {
            if (skh_text_check(argv[i], eq + 1, strlen(eq + 1), &err) == SKH_OK)
                continue;
            snprintf(err.what, sizeof err.what, "%.*s", (int)(eq - argv[i]), argv[i]);
            return cli_error(c, &err);
        }
        if (!eq && skh_text_check(argv[i], argv[i], strlen(argv[i]), &err) == SKH_OK)
            continue;
        if (i > 1 && argv[i - 1][0] == '-' && argv[i - 1][1] && !strchr(argv[i - 1], '='))
            snprintf(err.what, sizeof err.what, "%s", argv[i - 1]);
        else
            snprintf(err.what, sizeof err.what, "argument %d", i);
        return cli_error(c, &err);
    }
    return 0;
}

/*
 * SKILLHOST_LOG is read where a log line is printed (call.c, cli_trace),
 * which would quietly ignore a level it does not know: refuse it up front,
 * as a bad value of any other variable is refused.
 */
static int check_log_level(const cli *c)
{
    static const char *const levels[] = {"debug", "info", "warn", "warning", "error", "trace"};
    const char *v = getenv("SKILLHOST_LOG");
    if (!v || !*v)
        return 0;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcasecmp(v, levels[i]) == 0)
            return 0;
    skh_error err = {.code = SKH_EINVAL};
    snprintf(err.what, sizeof err.what, "SKILLHOST_LOG");
    snprintf(err.message, sizeof err.message,
             "expected one of debug, info, warn, error, trace, got '%.200s'", v);
    return cli_error(c, &err);
}

static int print_version(const cli *c)
{
    if (c->json)
        cli_print_json(json_pack("{s:s, s:i}", "version", SKH_VERSION_STRING, "plugin_abi",
                                 (int)SKH_ABI_VERSION));
    else
        printf("skillhost %s (plugin ABI %u)\n", SKH_VERSION_STRING, SKH_ABI_VERSION);
    return 0;
}

int cmd_version(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("version"));
    if (argc > 1)
        return cli_usage(c, "version", "unexpected argument '%s'", argv[1]);
    return print_version(c);
}

static int unknown_verb(const char *verb)
{
    const char *hint = cli_verb_suggest(verb);
    fprintf(stderr, "skillhost: %s: unknown verb", verb);
    if (hint)
        fprintf(stderr, "; did you mean '%s'?", hint);
    fprintf(stderr, "\n");
    if (!hint)
        usage(stderr);
    else
        fprintf(stderr, "try 'skillhost help'\n");
    return 2;
}

/* help [VERB [SUBCOMMAND]]: the verb's own --help, so its option table is the one listed. */
int cmd_help(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    const cli_verb *v = cli_verb_find(argv[1]);
    if (!v)
        return unknown_verb(argv[1]);
    if (v->run == cmd_help) {
        usage(stdout);
        return 0;
    }
    char help[] = "--help";
    char *args[4] = {argv[1], argc > 2 ? argv[2] : help, argc > 2 ? help : NULL, NULL};
    return v->run(c, argc > 2 ? 3 : 2, args);
}

int main(int argc, char **argv)
{
    cli c = {0};
    /*
     * Past `ulimit -f`, a write raises SIGXFSZ, whose default kills the
     * process (exit 153) after SQLite may have committed: ignored, the write
     * fails with EFBIG, SQLite reports it, and the store error exits 4.
     */
    signal(SIGXFSZ, SIG_IGN);
    /*
     * Adopt what a skill's program leaves behind in a session of its own
     * (setsid), so the runner can kill it when the call ends (core/proc.h).
     */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"policies", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    /* '+': stop at the verb; what follows is the verb's. */
    while ((ch = getopt_long(argc, argv, "+qhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            c.db = optarg;
            break;
        case 'p':
            c.policies = optarg;
            break;
        case 'j':
            c.json = 1;
            break;
        case 'q':
            c.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            return print_version(&c);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    cli_term_guard();
    int bad = check_arguments(&c, argc, argv);
    if (!bad)
        bad = check_log_level(&c);
    if (bad)
        return bad;
    const char *verb = argv[optind];
    for (const cli_verb *v = cli_verbs; v->name; v++) {
        if (strcmp(v->name, verb) == 0) {
            int rc = v->run(&c, argc - optind, argv + optind);
            skh_host_close(c.host);
            return rc;
        }
    }
    int rc = unknown_verb(verb);
    if (c.json) {
        char msg[300];
        snprintf(msg, sizeof msg, "%.200s: unknown verb", verb);
        cli_print_json(json_pack("{s:{s:i, s:s, s:s}}", "error", "code", SKH_EINVAL, "message", msg,
                                 "category", "none"));
    }
    return rc;
}
