/* skillhost registry export [FILE] */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static int registry_export(cli *c, int argc, char **argv)
{
    const char *file = NULL;
    cli_take_globals(c, &argc, argv, NULL, 0);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cli_bad_option(c, "registry export", argv[i]);
        else if (file)
            return cli_usage(c, "registry export", "expected at most one FILE");
        else
            file = argv[i];
    }
    if (file && strcmp(file, "-") == 0)
        return cli_usage(c, "registry export",
                         "FILE must be a file: the export is atomic (temp file + rename), "
                         "so it cannot go to stdout");
    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *written = NULL;
    if (skh_registry_export(c->host, file, &written, &err))
        return cli_error(c, &err);
    if (c->json) {
        /* The timestamp as written; a later export by another process may replace the file. */
        json_t *reg = json_load_file(written, 0, NULL);
        const char *when = json_string_value(json_object_get(reg, "last_updated"));
        cli_print_json(json_pack("{s:s, s:s?}", "path", written, "last_updated", when));
        json_decref(reg);
    } else if (!c->quiet) {
        printf("%s\n", written);
    }
    skh_free(written);
    return 0;
}

int cmd_registry(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 1);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("registry"));
    if (argc < 2)
        return cli_usage(c, "registry", "expected export");
    if (strcmp(argv[1], "export") == 0)
        return registry_export(c, argc - 1, argv + 1);
    return cli_usage(c, "registry", "unknown subcommand '%s' (expected export)", argv[1]);
}
