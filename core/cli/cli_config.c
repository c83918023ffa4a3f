/* skillhost config list | get KEY | set KEY VALUE | unset KEY | validate */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static json_t *options(cli *c, skh_error *err)
{
    char *text = NULL;
    if (skh_config_list(c->host, &text, err))
        return NULL;
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    return j;
}

static json_t *find(json_t *all, const char *key)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(all, "options"), i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "name")), key) == 0)
            return o;
    }
    return NULL;
}

static int list(cli *c)
{
    skh_error err;
    json_t *all = options(c, &err);
    if (!all)
        return cli_error(c, &err);
    if (c->json) {
        cli_print_json(all);
        return 0;
    }
    size_t i;
    json_t *o;
    printf("%-28s %-10s %-12s %s\n", "OPTION", "VALUE", "FROM", "ENVIRONMENT");
    json_array_foreach(json_object_get(all, "options"), i, o)
    {
        json_t *env = json_object_get(o, "env");
        printf("%-28s %-10s %-12s %s\n", json_string_value(json_object_get(o, "name")),
               json_string_value(json_object_get(o, "value")),
               json_string_value(json_object_get(o, "source")),
               json_is_string(env) ? json_string_value(env) : "-");
        if (!c->quiet)
            printf("    %s\n", json_string_value(json_object_get(o, "description")));
    }
    json_decref(all);
    return 0;
}

static int get(cli *c, const char *key)
{
    skh_error err;
    json_t *all = options(c, &err);
    if (!all)
        return cli_error(c, &err);
    json_t *o = find(all, key);
    int rc = 0;
    if (!o)
        rc = cli_usage(c, "config get", "no such option '%s' (see skillhost config list)", key);
    else if (c->json)
        cli_print_json(json_incref(o));
    else
        printf("%s\n", json_string_value(json_object_get(o, "value")));
    json_decref(all);
    return rc;
}

static int validate(cli *c)
{
    skh_error err;
    char *text = NULL;
    int rc = skh_config_validate(c->host, &text, &err);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    skh_free(text);
    if (!j)
        return cli_error(c, &err);
    if (c->json) {
        cli_print_json(j);
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(j, "problems"), i, p)
            printf("%s\n", json_string_value(p));
        if (rc == SKH_OK)
            printf("configuration ok\n");
        json_decref(j);
    }
    return rc == SKH_OK ? 0 : 1;
}

int cmd_config(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("config"));
    if (argc < 2)
        return cli_usage(c, "config", "expected list, get, set, unset or validate");
    const char *sub = argv[1];
    struct {
        const char *name;
        int args;
    } shapes[] = {{"list", 0}, {"get", 1}, {"set", 2}, {"unset", 1}, {"validate", 0}};
    int known = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        if (strcmp(sub, shapes[i].name) == 0) {
            known = 1;
            if (argc - 2 != shapes[i].args)
                return cli_usage(c, "config", "%s takes %d argument%s", sub, shapes[i].args,
                                 shapes[i].args == 1 ? "" : "s");
        }
    }
    if (!known)
        return cli_usage(c, "config", "unknown subcommand '%s'", sub);
    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    if (strcmp(sub, "list") == 0)
        return list(c);
    if (strcmp(sub, "get") == 0)
        return get(c, argv[2]);
    if (strcmp(sub, "validate") == 0)
        return validate(c);
    skh_error err;
    const char *value = strcmp(sub, "set") == 0 ? argv[3] : NULL;
    if (skh_config_set(c->host, argv[2], value, &err))
        return cli_error(c, &err);
    if (c->json)
        cli_print_json(json_pack("{s:s, s:o}", "option", argv[2], "value",
                                 value ? json_string(value) : json_null()));
    else if (!c->quiet)
        printf("%s %s\n", argv[2], value ? value : "unset");
    return 0;
}
