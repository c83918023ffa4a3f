/* skillhost evolve NAME [--evolver FILE] [--weight PCT] [--target N] */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int parse_weight(const char *s, double *out)
{
    double v;
    if (skh_number_parse(s, 0, &v) != SKH_OK || !(v > 0 && v <= 100))
        return -1;
    *out = v;
    return 0;
}

static int parse_target(const char *s, long *out)
{
    double v;
    if (skh_number_parse(s, 1, &v) != SKH_OK || v < 1 || v > 1e9)
        return -1;
    *out = (long)v;
    return 0;
}

int cmd_evolve(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"evolver", required_argument, NULL, 'e'},
        {"weight", required_argument, NULL, 'w'},
        {"target", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *evolver = NULL;
    double weight = 0;
    long target = 0;
    int ch;

    cli_help_set_options(opts);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("evolve"));
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'e':
            evolver = optarg;
            break;
        case 'w':
            if (parse_weight(optarg, &weight))
                return cli_usage(c, "evolve", "--weight must be a percentage in (0, 100], got '%s'",
                                 optarg);
            break;
        case 't':
            if (parse_target(optarg, &target))
                return cli_usage(c, "evolve", "--target must be a whole number >= 1, got '%s'",
                                 optarg);
            break;
        case ':':
            return cli_usage(c, "evolve", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "evolve", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "evolve", "expected exactly one skill NAME");
    const char *skill = argv[optind];

    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_evolve_options eo = {
        .struct_size = sizeof eo, .evolver = evolver, .weight = weight, .target = target};
    skh_error err;
    char *text = NULL;
    if (skh_evolve_report(c->host, skill, &eo, &text, &err))
        return cli_error(c, &err);
    json_t *report = json_loads(text, 0, NULL);
    skh_free(text);
    if (!report) {
        const skh_error oom = {.code = SKH_ENOMEM, .what = "evolve", .message = "out of memory"};
        return cli_error(c, &oom);
    }
    if (c->json) {
        cli_print_json(report);
        return 0;
    }
    printf("%s (parent %s), A/B test %s started\n",
           json_string_value(json_object_get(report, "variant")),
           json_string_value(json_object_get(report, "parent")),
           json_string_value(json_object_get(report, "test_id")));
    if (!c->quiet)
        printf("  %s\n", json_string_value(json_object_get(report, "description")));
    json_decref(report);
    return 0;
}
