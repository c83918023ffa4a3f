/* skillhost policy diff NAME [--since TIME] [--examples N] */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *str_of(const json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

static long long int_of(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* A JSON value on one line, cut to width so a fact-heavy example stays readable. */
static void print_short(const char *label, const json_t *v, int width)
{
    char *t = v && !json_is_null(v) ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!t) {
        printf("    %-8s -\n", label);
        return;
    }
    int n = (int)strlen(t);
    printf("    %-8s %.*s%s\n", label, n > width ? width : n, t, n > width ? " ..." : "");
    free(t);
}

static void print_diff(const json_t *d)
{
    long long n = int_of(d, "decisions"), bad = int_of(d, "disagreed");
    const char *since = str_of(d, "since", "");
    printf("shadow %s against the live %s.lua%s%s: %lld decisions, %lld agreed, %lld disagreed\n",
           str_of(d, "shadow_file", "?"), str_of(d, "policy", "?"), *since ? " since " : "", since,
           n, int_of(d, "agreed"), bad);
    if (n == 0) {
        printf("no shadow decisions yet: put a candidate at %s; it runs on the live policy's facts "
               "from the next decision on\n",
               str_of(d, "shadow_file", "?"));
        return;
    }
    printf("\n  %-18s %-18s %8s\n", "LIVE", "SHADOW", "COUNT");
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(d, "by_verdict"), i, r)
        printf("  %-18s %-18s %8lld%s\n", str_of(r, "live", "?"), str_of(r, "shadow", "?"),
               int_of(r, "count"), json_is_true(json_object_get(r, "agree")) ? "" : "  DISAGREE");
    const json_t *ex = json_object_get(d, "examples");
    if (json_array_size(ex) == 0)
        return;
    printf("\nfirst disagreements:\n");
    json_array_foreach(ex, i, r)
    {
        printf("  #%lld %s %s%s%s: live %s, shadow %s\n", int_of(r, "shadow_id"),
               str_of(r, "timestamp", "?"), str_of(r, "fn", "?"),
               json_is_string(json_object_get(r, "skill")) ? " of " : "", str_of(r, "skill", ""),
               str_of(r, "live", "?"), str_of(r, "shadow", "?"));
        const json_t *sa = json_object_get(r, "shadow_answer");
        const json_t *la = json_object_get(r, "live_answer");
        if (json_is_string(json_object_get(la, "reason")))
            printf("    live     %s\n", str_of(la, "reason", ""));
        if (json_is_string(json_object_get(sa, "reason")))
            printf("    shadow   %s\n", str_of(sa, "reason", ""));
        if (json_is_string(json_object_get(r, "shadow_error")))
            printf("    shadow   error: %s\n", str_of(r, "shadow_error", ""));
        print_short("facts", json_object_get(r, "facts"), 160);
    }
}

int cli_policy_diff(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"examples", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *since = NULL;
    long examples = 3;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0; /* 0, not 1: GNU getopt starts over, permuting operands after options */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            since = optarg;
            break;
        case 'e': {
            char *end;
            examples = strtol(optarg, &end, 10);
            if (end == optarg || *end || examples < 0 || examples > 1000)
                return cli_usage(c, "policy diff", "--examples: expected 0 to 1000, got '%s'",
                                 optarg);
            break;
        }
        case 'h':
            return cli_help(cli_verb_find("policy"));
        default:
            return cli_usage(c, "policy diff", "unknown option or missing value '%s'",
                             argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "policy diff", "expected exactly one policy NAME (rollback, ab, ...)");
    const char *name = argv[optind];
    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *text = NULL;
    if (skh_policy_diff(c->host, name, since, (int)examples, &text, &err))
        return cli_error(c, &err);
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    if (!j) {
        skh_error oom = {.code = SKH_ENOMEM};
        snprintf(oom.what, sizeof oom.what, "policy diff");
        snprintf(oom.message, sizeof oom.message, "out of memory");
        return cli_error(c, &oom);
    }
    if (c->json) {
        cli_print_json(j);
    } else {
        print_diff(j);
        json_decref(j);
    }
    return 0;
}
