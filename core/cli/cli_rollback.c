/* skillhost rollback NAME --reason TEXT [--to staged|prototype] */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_rollback(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"to", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    cli_help_set_options(opts);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("rollback"));
    const char *reason = NULL, *to = NULL;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            reason = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case ':':
            return cli_usage(c, "rollback", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "rollback", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "rollback", "expected exactly one skill NAME");
    if (!reason || !*reason)
        return cli_usage(c, "rollback", "--reason TEXT is required");
    if (to && strcmp(to, "staged") != 0 && strcmp(to, "prototype") != 0)
        return cli_usage(c, "rollback", "--to must be staged or prototype, got '%s'", to);
    const char *skill = argv[optind];

    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *text = NULL;
    if (skh_rollback(c->host, skill, reason, to, &text, &err))
        return cli_error(c, &err);
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    if (!j) {
        fprintf(stderr, "skillhost: rollback: out of memory\n");
        return skh_exit_status(SKH_ENOMEM);
    }
    if (c->json) {
        cli_print_json(j);
        return 0;
    }
    if (!c->quiet) {
        const char *restored = json_string_value(json_object_get(j, "restored"));
        printf("%s: %s -> %s (%s)\n", skill, json_string_value(json_object_get(j, "variant")),
               restored ? restored : json_string_value(json_object_get(j, "to_state")), reason);
    }
    json_decref(j);
    return 0;
}
