/* skillhost run NAME --input JSON|@FILE [...] */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int parse_number(const char *text, double *out)
{
    return skh_number_parse(text, 0, out) == SKH_OK;
}

/* Text mode: the output object on stdout, a one-line account on stderr. */
static void print_text(const cli *c, const skh_result *r)
{
    const char *out = skh_result_output(r);
    if (out) {
        json_t *j = json_loads(out, 0, NULL);
        cli_print_json(j);
    }
    if (c->quiet)
        return;
    unsigned n = skh_result_attempts(r);
    fprintf(stderr, "%s: %u attempt%s, fidelity", skh_result_variant(r), n, n == 1 ? "" : "s");
    for (unsigned i = 0; i < n; i++)
        fprintf(stderr, " %.2f", skh_result_fidelity(r, i));
    fprintf(stderr, ", %s\n", skh_result_recorded(r) ? "recorded" : "NOT recorded");
}

int cmd_run(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"variant", required_argument, NULL, 'v'},
        {"key", required_argument, NULL, 'k'},
        {"max-iter", required_argument, NULL, 'm'},
        {"threshold", required_argument, NULL, 't'},
        {"no-react", no_argument, NULL, 'n'},
        {"session", required_argument, NULL, 's'},
        {"phase", required_argument, NULL, 'p'},
        {"query", required_argument, NULL, 'q'},
        {"tenant", required_argument, NULL, 'T'},
        {"timeout", required_argument, NULL, 'D'},
        {"alternatives", required_argument, NULL, 'A'},
        {"rank", required_argument, NULL, 'R'},
        {"follow-up", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    const char *input_arg = NULL;
    double num;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'i':
            input_arg = optarg;
            break;
        case 'v':
            eo.variant = optarg;
            break;
        case 'k':
            eo.key = optarg;
            break;
        case 'm':
            if (skh_number_parse(optarg, 1, &num) != SKH_OK || num < 1 || num > 100)
                return cli_usage(c, "run", "--max-iter: expected an integer 1..100, got '%s'",
                                 optarg);
            eo.max_iterations = (int)num;
            break;
        case 't':
            if (!parse_number(optarg, &num) || num < 0 || num > 1)
                return cli_usage(c, "run", "--threshold: expected a number 0..1, got '%s'", optarg);
            eo.threshold = num;
            break;
        case 'n':
            eo.react = 0;
            break;
        case 's':
            eo.session_id = optarg;
            break;
        case 'p':
            eo.workflow_phase = optarg;
            break;
        case 'q':
            eo.user_query = optarg;
            break;
        case 'T':
            eo.tenant = optarg;
            break;
        case 'A':
            eo.alternatives_considered = optarg;
            break;
        case 'F':
            eo.follow_up_actions = optarg;
            break;
        case 'R':
            if (!parse_number(optarg, &num) || num < 1 || num > 1e6 || num != floor(num))
                return cli_usage(c, "run", "--rank: expected an integer >= 1, got '%s'", optarg);
            eo.selection_rank = (int)num;
            break;
        case 'D': {
            /* Seconds, or milliseconds with an "ms" suffix; 0 means no deadline. */
            size_t len = strlen(optarg);
            int ms = len > 2 && strcmp(optarg + len - 2, "ms") == 0;
            char buf[64];
            snprintf(buf, sizeof buf, "%.*s", (int)(ms ? len - 2 : len), optarg);
            if (!parse_number(buf, &num) || num < 0)
                return cli_usage(c, "run", "--timeout: expected seconds (or N ms), got '%s'",
                                 optarg);
            eo.timeout_ms = num == 0 ? -1 : (ms ? num : num * 1000.0);
            break;
        }
        case 'h':
            return cli_help(cli_verb_find("run"));
        case ':':
            return cli_usage(c, "run", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "run", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "run", "expected exactly one skill NAME");
    if (!input_arg)
        return cli_usage(c, "run", "--input is required");

    skh_error err;
    char *input = NULL;
    if (cli_read_arg(input_arg, "--input", &input, &err))
        return cli_error(c, &err);
    int rc = cli_open(c, 0);
    if (rc) {
        free(input);
        return rc;
    }
    skh_result *r = NULL;
    int code = skh_execute(c->host, argv[optind], input, &eo, &r, &err);
    free(input);
    if (code == SKH_EINVAL && strcmp(err.what, "input") == 0)
        snprintf(err.what, sizeof err.what, "%s", input_arg[0] == '@' ? input_arg + 1 : "--input");
    if (!r)
        return cli_error(c, &err);

    if (c->json) {
        char *text = NULL;
        if (skh_result_json(r, &text) == SKH_OK)
            cli_print_json(json_loads(text, 0, NULL));
        skh_free(text);
    } else {
        print_text(c, r);
    }
    /* With a result in hand the error still goes to stderr: output and failure are both true. */
    if (code != SKH_OK) {
        int saved = c->json;
        ((cli *)c)->json = 0;
        rc = cli_error(c, &err);
        ((cli *)c)->json = saved;
    }
    skh_result_free(r);
    return rc;
}
