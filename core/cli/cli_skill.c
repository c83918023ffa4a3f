/* skillhost skill add | set | list | show */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int skill_add(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"impl", required_argument, NULL, 'i'},
        {"content", required_argument, NULL, 'c'},
        {"patterns", required_argument, NULL, 'p'},
        {"state", required_argument, NULL, 's'},
        {"description", required_argument, NULL, 'd'},
        {"evolver", required_argument, NULL, 'e'},
        {"positive-class", required_argument, NULL, 'P'},
        {"isolation", required_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    skh_variant_spec spec = {.struct_size = sizeof spec};
    const char *content_arg = NULL;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'i':
            if (spec.impl)
                return cli_usage(c, "skill add",
                                 "--impl given twice ('%s' and '%s'); a variant has one", spec.impl,
                                 optarg);
            spec.impl = optarg;
            break;
        case 'c':
            content_arg = optarg;
            break;
        case 'p':
            spec.patterns = optarg;
            break;
        case 's':
            spec.state = optarg;
            break;
        case 'd':
            spec.description = optarg;
            break;
        case 'e':
            spec.evolver = optarg;
            break;
        case 'P':
            spec.positive_class = optarg;
            break;
        case 'I':
            if (strcmp(optarg, "process") != 0 && strcmp(optarg, "inline") != 0)
                return cli_usage(c, "skill add",
                                 "--isolation: expected process or inline, got '%s'", optarg);
            spec.isolation = optarg;
            break;
        case ':':
            return cli_usage(c, "skill add", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "skill add", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "skill add", "expected exactly one skill NAME");
    if (!spec.impl)
        return cli_usage(c, "skill add", "--impl is required");
    spec.skill = argv[optind];

    skh_error err;
    char *content = NULL, *id = NULL;
    int rc = 0;
    if (content_arg && cli_read_arg(content_arg, "--content", &content, &err))
        return cli_error(c, &err);
    spec.content = content;
    if ((rc = cli_open(c, 0)) == 0) {
        if (skh_variant_add(c->host, &spec, &id, &err))
            rc = cli_error(c, &err);
        else if (c->json)
            cli_print_json(json_pack("{s:s, s:s}", "variant", id, "skill", spec.skill));
        else
            printf("%s\n", id);
    }
    skh_free(id);
    free(content);
    return rc;
}

/* skill set NAME --positive-class CLASS: a setting of the skill, not of a variant. */
static int skill_set(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"positive-class", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    const char *positive = NULL;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (ch == 'P')
            positive = optarg;
        else if (ch == ':')
            return cli_usage(c, "skill set", "%s needs a value", argv[optind - 1]);
        else
            return cli_bad_option(c, "skill set", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return cli_usage(c, "skill set", "expected exactly one skill NAME");
    if (!positive)
        return cli_usage(c, "skill set", "nothing to set (--positive-class CLASS)");
    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    if (skh_skill_set_positive_class(c->host, argv[optind], positive, &err))
        return cli_error(c, &err);
    if (c->json)
        cli_print_json(json_pack("{s:s, s:s?}", "skill", argv[optind], "positive_class",
                                 *positive ? positive : NULL));
    else if (*positive)
        printf("%s: positive class %s\n", argv[optind], positive);
    else
        printf("%s: positive class cleared (the first expected label that is not ham, negative "
               "or no)\n",
               argv[optind]);
    return 0;
}

static void print_list_text(json_t *skills)
{
    size_t i;
    json_t *s;
    if (json_array_size(skills) == 0) {
        printf("no skills yet: add one with 'skillhost skill add NAME --impl FILE'\n");
        return;
    }
    printf("%-24s %-28s %s\n", "SKILL", "SERVING", "VARIANTS");
    json_array_foreach(skills, i, s)
    {
        json_t *serving = json_object_get(s, "serving");
        printf("%-24s %-28s %zu\n", json_string_value(json_object_get(s, "skill")),
               json_is_string(serving) ? json_string_value(serving) : "-",
               json_array_size(json_object_get(s, "variants")));
    }
}

static void print_show_text(json_t *sk)
{
    size_t i;
    json_t *v;
    json_t *serving = json_object_get(sk, "serving");
    printf("skill %s: %s\n", json_string_value(json_object_get(sk, "skill")),
           json_string_value(json_object_get(sk, "description"))
               ? json_string_value(json_object_get(sk, "description"))
               : "");
    printf("serving: %s\n", json_is_string(serving) ? json_string_value(serving) : "-");
    json_t *pos = json_object_get(sk, "positive_class");
    json_t *evolver = json_object_get(sk, "evolver");
    printf("positive class: %s\n", json_is_string(pos) ? json_string_value(pos)
                                                       : "(default: first expected label "
                                                         "not ham/negative/no)");
    printf("evolver: %s\n\n", json_is_string(evolver) ? json_string_value(evolver) : "-");
    printf("%-20s %-11s %8s %8s %8s %9s  %s\n", "VARIANT", "STATE", "FIDELITY", "OUTCOME", "PERF",
           "MEAN FID", "IMPL");
    json_array_foreach(json_object_get(sk, "variants"), i, v)
    {
        json_t *ex = json_object_get(v, "executions");
        json_t *mf = json_object_get(v, "mean_fidelity");
        char mean[16] = "-";
        if (json_is_number(mf))
            snprintf(mean, sizeof mean, "%.3f", json_number_value(mf));
        printf("%-20s %-11s %8lld %8lld %8lld %9s  %s\n",
               json_string_value(json_object_get(v, "id")),
               json_string_value(json_object_get(v, "state")),
               (long long)json_integer_value(json_object_get(ex, "fidelity")),
               (long long)json_integer_value(json_object_get(ex, "outcome")),
               (long long)json_integer_value(json_object_get(ex, "performance")), mean,
               json_string_value(json_object_get(v, "impl")));
    }
}

static int skill_query(cli *c, int argc, char **argv, int show)
{
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (show && argc != 2)
        return cli_usage(c, "skill show", "expected exactly one skill NAME");
    if (!show && argc != 1)
        return cli_usage(c, "skill list", "unexpected argument '%s'", argv[1]);
    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *text = NULL;
    if (show ? skh_skill_show(c->host, argv[1], &text, &err) : skh_skill_list(c->host, &text, &err))
        return cli_error(c, &err);
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    if (c->json)
        cli_print_json(show ? j : json_pack("{s:o}", "skills", j));
    else {
        show ? print_show_text(j) : print_list_text(j);
        json_decref(j);
    }
    return 0;
}

int cmd_skill(cli *c, int argc, char **argv)
{
    const cli_verb *verb = cli_verb_find("skill");
    cli_take_globals(c, &argc, argv, NULL, 1);
    if (argc < 2)
        return cli_usage(c, "skill", "expected add, set, list or show");
    if (cli_wants_help(argc, argv))
        return cli_help(verb);
    if (strcmp(argv[1], "add") == 0)
        return skill_add(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "set") == 0)
        return skill_set(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return skill_query(c, argc - 1, argv + 1, 0);
    if (strcmp(argv[1], "show") == 0)
        return skill_query(c, argc - 1, argv + 1, 1);
    return cli_usage(c, "skill", "unknown subcommand '%s' (expected add, set, list or show)",
                     argv[1]);
}
