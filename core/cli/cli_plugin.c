/* skillhost plugin check FILE... */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

/*
 * Whether err->what names the file the user gave as arg: the same text, or
 * the resolved path the loader was handed (a bare name found on the plugin
 * path, ./x.so made absolute).
 */
static int is_the_file(const cli *c, const char *arg, const char *what)
{
    if (strcmp(arg, what) == 0)
        return 1;
    char *resolved = NULL;
    skh_error ignored;
    int same = skh_plugin_resolve(c->host, arg, &resolved, &ignored) == SKH_OK &&
               strcmp(resolved, what) == 0;
    skh_free(resolved);
    return same;
}

/*
 * "ARG: reason" with the file named once: loaders set err->what to the
 * resolved path and some also start the message with it ("/abs/x.lua:2:
 * ..."); that prefix becomes ARG, so the line number stays.
 */
static void print_failure(const cli *c, const char *arg, const skh_error *err)
{
    const char *what = err->what, *msg = err->message;
    size_t n = strlen(what);
    int prefixed = n > 0 && strncmp(msg, what, n) == 0 && msg[n] == ':';
    if (!what[0])
        printf("%s: %s\n", arg, msg);
    else if (is_the_file(c, arg, what))
        printf("%s%s%s\n", arg, prefixed ? "" : ": ", prefixed ? msg + n : msg);
    else if (prefixed)
        printf("%s: %s\n", arg, msg);
    else
        printf("%s: %s: %s\n", arg, what, msg);
}

int cmd_plugin(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("plugin"));
    if (argc < 2 || strcmp(argv[1], "check") != 0)
        return cli_usage(c, "plugin", "expected 'check FILE...'");
    if (argc < 3)
        return cli_usage(c, "plugin check", "expected at least one FILE");

    /* No database is needed to check a file; use the workspace's limits when there is one. */
    skh_host_options o = {.struct_size = sizeof o, .db_path = c->db, .policies_dir = c->policies};
    skh_error err;
    if (skh_host_open(&o, &c->host, &err) != SKH_OK)
        c->host = NULL;

    int failed = 0;
    json_t *results = json_array();
    for (int i = 2; i < argc; i++) {
        char *desc = NULL;
        if (skh_plugin_check(c->host, argv[i], &desc, &err) == SKH_OK) {
            json_t *d = json_loads(desc, 0, NULL);
            if (!c->json)
                printf("%s: ok (%s %s %s)\n", argv[i],
                       json_string_value(json_object_get(d, "kind")),
                       json_string_value(json_object_get(d, "name")),
                       json_string_value(json_object_get(d, "version")));
            json_object_set_new(d, "file", json_string(argv[i]));
            json_object_set_new(d, "ok", json_true());
            json_array_append_new(results, d);
        } else {
            failed++;
            if (!c->json)
                print_failure(c, argv[i], &err);
            json_array_append_new(results, json_pack("{s:s, s:b, s:s}", "file", argv[i], "ok", 0,
                                                     "error", err.message));
        }
        skh_free(desc);
    }
    if (c->json)
        cli_print_json(json_pack("{s:o, s:i}", "plugins", results, "failed", failed));
    else
        json_decref(results);
    return failed ? 3 : 0;
}
