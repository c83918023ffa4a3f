/* skillhost policy check [DIR] */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_report(const json_t *report)
{
    const json_t *policies = json_object_get(report, "policies");
    size_t i;
    const json_t *f;
    if (json_array_size(policies) == 0) {
        printf("%s: no policy files\n", json_string_value(json_object_get(report, "dir")));
        return;
    }
    json_array_foreach(policies, i, f)
    {
        /* The error already reads "FILE:LINE: message"; print it as it is. */
        if (json_is_true(json_object_get(f, "ok")))
            printf("%s: ok (policy %s %s)\n", json_string_value(json_object_get(f, "file")),
                   json_string_value(json_object_get(f, "name")),
                   json_string_value(json_object_get(f, "version")));
        else
            printf("%s\n", json_string_value(json_object_get(f, "error")));
    }
}

int cmd_policy(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("policy"));
    if (argc >= 2 && strcmp(argv[1], "diff") == 0)
        return cli_policy_diff(c, argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "check") != 0)
        return cli_usage(c, "policy", "expected 'check [DIR]' or 'diff NAME'");
    if (argc > 3)
        return cli_usage(c, "policy check", "unexpected argument '%s'", argv[3]);

    /* No database is needed to check policies; use the workspace's limits when there is one. */
    cli_workspace(c, 0, 0);
    skh_host_options o = {.struct_size = sizeof o, .db_path = c->db, .policies_dir = c->policies};
    skh_error err;
    if (skh_host_open(&o, &c->host, &err) != SKH_OK)
        c->host = NULL;

    const char *dir = argc == 3 ? argv[2] : c->policies;
    char *text = NULL;
    int rc = skh_policy_check(c->host, dir, &text, &err);
    if (!text)
        return cli_error(c, &err); /* the folder itself could not be read */

    json_t *report = json_loads(text, 0, NULL);
    skh_free(text);
    if (!report) {
        skh_error oom = {.code = SKH_ENOMEM};
        snprintf(oom.what, sizeof oom.what, "policy check");
        snprintf(oom.message, sizeof oom.message, "out of memory");
        return cli_error(c, &oom);
    }
    if (c->json) {
        cli_print_json(report);
    } else {
        print_report(report);
        json_decref(report);
    }
    return rc ? skh_exit_status(rc) : 0;
}
