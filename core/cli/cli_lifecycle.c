/*
 * skillhost approve | promote | status: the promotion gate from the command
 * line (DESIGN §7).  The checklist items and every threshold come from
 * promotion.lua; these verbs parse, call host.h and print.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int nomem(const cli *c, const char *what)
{
    skh_error err = {.code = SKH_ENOMEM};
    snprintf(err.what, sizeof err.what, "%s", what);
    snprintf(err.message, sizeof err.message, "out of memory");
    return cli_error(c, &err);
}

static const char *str_of(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* ---- approve ------------------------------------------------------------------ */

int cmd_approve(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"path", required_argument, NULL, 'p'},   {"approver", required_argument, NULL, 'a'},
        {"ticket", required_argument, NULL, 't'}, {"check", required_argument, NULL, 'c'},
        {"notes", required_argument, NULL, 'n'},  {NULL, 0, NULL, 0},
    };
    skh_approval a = {.struct_size = sizeof a};
    int ch;

    cli_help_set_options(opts);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("approve"));
    /* At most one --check per argument: argc bounds them. */
    const char **checks = calloc((size_t)argc, sizeof *checks);
    if (!checks)
        return nomem(c, "approve");
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            a.path = optarg;
            break;
        case 'a':
            a.approver = optarg;
            break;
        case 't':
            a.ticket = optarg;
            break;
        case 'c':
            checks[a.nchecks++] = optarg;
            break;
        case 'n':
            a.notes = optarg;
            break;
        case ':':
            free(checks);
            return cli_usage(c, "approve", "%s needs a value", argv[optind - 1]);
        default:
            free(checks);
            return cli_bad_option(c, "approve", argv[optind - 1]);
        }
    }
    a.checks = checks;
    const char *missing = optind != argc - 1 ? "expected exactly one variant NAME@vN"
                          : !a.path     ? "--path prototype->staged|staged->production is required"
                          : !a.approver ? "--approver WHO is required"
                          : !a.ticket   ? "--ticket T is required"
                                        : NULL;
    if (missing) {
        free(checks);
        return cli_usage(c, "approve", "%s", missing);
    }
    a.variant = argv[optind];

    int rc = cli_open(c, 0);
    if (rc) {
        free(checks);
        return rc;
    }
    skh_error err;
    char *id = NULL;
    rc = skh_approve(c->host, &a, &id, &err);
    free(checks);
    if (rc)
        return cli_error(c, &err);
    if (c->json)
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "approval_id", id, "variant",
                                 a.variant, "path", a.path, "approver", a.approver, "ticket",
                                 a.ticket));
    else
        printf("%s\n", id);
    skh_free(id);
    return 0;
}

/* ---- promote ------------------------------------------------------------------- */

static int is_inconclusive(const json_t *check)
{
    return strcmp(str_of(check, "status", ""), "inconclusive") == 0;
}

/*
 * Every check that did not pass, one per line: "  FAIL name: detail", or
 * "  WAIT name: detail" when the sample is too small to judge yet (as the
 * demo prints them).
 */
static void print_failed(FILE *f, const json_t *answer)
{
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(answer, "checks"), i, ch)
    {
        if (json_is_true(json_object_get(ch, "passed")))
            continue;
        fprintf(f, "  %s %s: %s\n", is_inconclusive(ch) ? "WAIT" : "FAIL", str_of(ch, "name", "?"),
                str_of(ch, "detail", "failed"));
    }
}

/* The checks not passed: *failed outright, *waiting inconclusive. */
static void count_not_passed(const json_t *answer, size_t *failed, size_t *waiting)
{
    size_t i;
    json_t *ch;
    *failed = *waiting = 0;
    json_array_foreach(json_object_get(answer, "checks"), i, ch)
    {
        if (json_is_true(json_object_get(ch, "passed")))
            continue;
        if (is_inconclusive(ch))
            (*waiting)++;
        else
            (*failed)++;
    }
}

int cmd_promote(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *to = NULL;
    int ch;

    cli_help_set_options(opts);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("promote"));
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            to = optarg;
            break;
        case ':':
            return cli_usage(c, "promote", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "promote", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "promote", "expected exactly one variant NAME@vN");
    if (!to)
        return cli_usage(c, "promote", "--to staged|production is required");
    const char *variant = argv[optind];

    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *text = NULL;
    rc = skh_promote(c->host, variant, to, &text, &err);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    skh_free(text);
    if (rc && !j)
        return cli_error(c, &err);
    if (!j)
        return nomem(c, variant);

    if (rc) {
        /* Not ready: the answer (with every check) on stdout, the refusal on stderr. */
        size_t n, waiting;
        count_not_passed(j, &n, &waiting);
        if (c->json) {
            cli_print_json(j);
        } else {
            printf("%s: not ready for %s (%s)\n", variant, to, str_of(j, "verdict", "not_ready"));
            print_failed(stdout, j);
            json_decref(j);
        }
        if (waiting)
            fprintf(stderr,
                    "skillhost: %s: not ready for %s: %zu check%s failed, %zu inconclusive\n",
                    variant, to, n, n == 1 ? "" : "s", waiting);
        else
            fprintf(stderr, "skillhost: %s: not ready for %s: %zu check%s failed\n", variant, to, n,
                    n == 1 ? "" : "s");
        return skh_exit_status(rc);
    }
    if (c->json) {
        cli_print_json(j);
        return 0;
    }
    if (!c->quiet) {
        printf("%s: %s -> %s\n", variant, str_of(j, "from_state", "?"), str_of(j, "to_state", to));
        const char *demoted = str_of(j, "demoted_variant", NULL);
        if (demoted)
            printf("  %s is staged now, kept as the rollback target\n", demoted);
        const char *test = str_of(j, "ab_test_closed", NULL);
        if (test)
            printf("  A/B test %s closed as promoted\n", test);
        const char *hooks = str_of(j, "hooks", "ok");
        if (strcmp(hooks, "ok") != 0)
            printf("  hooks: %s\n", hooks);
    }
    json_decref(j);
    return 0;
}

/* ---- status -------------------------------------------------------------------------- */

/* o[key] with decimals places, or "-" when there is no such number. */
static void cell_real(char *buf, size_t len, const json_t *o, const char *key, int decimals)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_number(v))
        snprintf(buf, len, "%.*f", decimals, json_number_value(v));
    else
        snprintf(buf, len, "-");
}

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void print_variants(const json_t *s)
{
    const json_t *vs = json_object_get(s, "variants");
    size_t i;
    json_t *v;
    printf("%-22s %-10s %-9s %-8s %-9s %-6s %s\n", "VARIANT", "STATE", "FIDELITY", "OUTCOME",
           "MEAN MS", "EXC", "SAMPLES fid/out/perf");
    json_array_foreach(vs, i, v)
    {
        const json_t *w = json_object_get(v, "window"), *n = json_object_get(v, "samples");
        char fid[16], out[16], ms[24], exc[16], samples[64];
        cell_real(fid, sizeof fid, w, "fidelity", 3);
        cell_real(out, sizeof out, w, "outcome", 3);
        cell_real(ms, sizeof ms, w, "mean_ms", 1);
        cell_real(exc, sizeof exc, w, "exception_rate", 2);
        if (n)
            snprintf(samples, sizeof samples, "%lld/%lld/%lld of %lld",
                     int_of(n, "fidelity_metrics"), int_of(n, "outcome_metrics"),
                     int_of(n, "performance_metrics"), int_of(n, "of"));
        else
            snprintf(samples, sizeof samples, "-");
        printf("%-22s %-10s %-9s %-8s %-9s %-6s %s\n", str_of(v, "id", "?"),
               str_of(v, "state", "?"), fid, out, ms, exc, samples);
    }
    printf("(window: the last %lld live executions of each variant)\n", int_of(s, "window"));
}

static void print_ab(const json_t *ab)
{
    if (!json_is_object(ab))
        return;
    const json_t *ct = json_object_get(ab, "control"), *tr = json_object_get(ab, "treatment");
    printf("\nA/B test %s: %s\n", str_of(ab, "test_id", "?"), str_of(ab, "status", "?"));
    printf("  control %s %lld/%lld, treatment %s %lld/%lld\n", str_of(ct, "variant", "?"),
           int_of(ct, "successes"), int_of(ct, "trials"), str_of(tr, "variant", "?"),
           int_of(tr, "successes"), int_of(tr, "trials"));
    const json_t *now = json_object_get(ab, "policy_now");
    if (json_is_object(now) && str_of(now, "error", NULL))
        printf("  policy now: policy error: %s\n", str_of(now, "error", ""));
    else if (json_is_object(now) && str_of(now, "reason", NULL))
        printf("  policy now: %s\n", str_of(now, "reason", ""));
    else if (str_of(ab, "reason", NULL))
        printf("  %s\n", str_of(ab, "reason", ""));
}

static void print_breakers(const json_t *bs)
{
    size_t i;
    json_t *b;
    if (json_array_size(bs) == 0)
        return;
    printf("\ncircuit breakers:\n");
    json_array_foreach(bs, i, b)
    {
        printf("  %-22s %-9s %lld failures", str_of(b, "variant", "?"), str_of(b, "state", "?"),
               int_of(b, "failures"));
        if (str_of(b, "opened_at", NULL))
            printf(", opened %s", str_of(b, "opened_at", ""));
        printf("\n");
    }
}

static void print_approvals(const json_t *as)
{
    size_t i, k;
    json_t *a, *it;
    if (json_array_size(as) == 0)
        return;
    printf("\nsign-offs (latest per variant and path):\n");
    json_array_foreach(as, i, a)
    {
        size_t yes = 0, n = 0;
        json_array_foreach(json_object_get(a, "items"), k, it)
        {
            n++;
            yes += json_is_true(json_object_get(it, "passed"));
        }
        printf("  %-22s %-19s %s, ticket %s, %s: %zu/%zu yes\n", str_of(a, "variant", "?"),
               str_of(a, "path", "?"), str_of(a, "approver", "?"), str_of(a, "ticket", "?"),
               str_of(a, "timestamp", "?"), yes, n);
    }
}

static void print_decisions(const json_t *ds)
{
    size_t i;
    json_t *d;
    if (json_array_size(ds) == 0)
        return;
    printf("\nlatest decisions:\n");
    json_array_foreach(ds, i, d)
    {
        const json_t *obs = json_object_get(d, "observed");
        const json_t *checks = json_object_get(obs, "checks");
        char why[160];
        snprintf(
            why, sizeof why, "%s",
            str_of(obs, "reason",
                   str_of(json_object_get(obs, "answer"), "reason", str_of(obs, "error", ""))));
        if (!why[0] && json_is_array(checks)) {
            size_t k, passed = 0;
            json_t *ch;
            json_array_foreach(checks, k, ch) passed += json_is_true(json_object_get(ch, "passed"));
            snprintf(why, sizeof why, "%zu of %zu checks passed", passed, json_array_size(checks));
        }
        printf("  %s %-9s %-22s %-13s %s\n", str_of(d, "timestamp", "?"), str_of(d, "kind", "?"),
               str_of(d, "variant", "-"), str_of(d, "verdict", "?"), why);
    }
}

static void print_next(const json_t *n)
{
    if (!json_is_object(n))
        return;
    const char *variant = str_of(n, "variant", NULL), *to = str_of(n, "to_state", NULL);
    printf("\nnext promotion: ");
    if (!variant) {
        printf("%s\n", str_of(n, "note", "none"));
        return;
    }
    if (str_of(n, "error", NULL)) {
        printf("%s -> %s: %s\n", variant, to ? to : "?", str_of(n, "error", ""));
        return;
    }
    printf("%s %s -> %s: %s\n", variant, str_of(n, "from_state", "?"), to ? to : "?",
           str_of(n, "verdict", "?"));
    print_failed(stdout, n);
}

static void print_served(const json_t *s)
{
    if (!json_is_object(s))
        return;
    const char *v = str_of(s, "variant", NULL);
    printf("\nproduction at %s: %s", str_of(s, "at", "?"), v ? v : "none");
    if (str_of(s, "event_id", NULL))
        printf(" (from %s %s)", str_of(s, "source", "?"), str_of(s, "event_id", ""));
    printf("\n");
}

static void print_status(const json_t *s)
{
    const char *serving = str_of(s, "serving", NULL);
    printf("%s: serving %s", str_of(s, "skill", "?"), serving ? serving : "nothing");
    if (serving)
        printf(" (%s)", str_of(s, "serving_state", "?"));
    printf("\n\n");
    print_variants(s);
    print_ab(json_object_get(s, "ab_test"));
    print_breakers(json_object_get(s, "breakers"));
    print_approvals(json_object_get(s, "approvals"));
    print_decisions(json_object_get(s, "decisions"));
    print_next(json_object_get(s, "next_promotion"));
    print_served(json_object_get(s, "served_at"));
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(s, "warnings"), i, w)
        printf("warning: %s: %s\n", str_of(w, "what", "?"), str_of(w, "message", "?"));
}

int cmd_status(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"target-state", required_argument, NULL, 't'},
        {"at", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *target = NULL, *at = NULL;
    int ch;

    cli_help_set_options(opts);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("status"));
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            target = optarg;
            break;
        case 'a':
            at = optarg;
            break;
        case ':':
            return cli_usage(c, "status", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "status", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "status", "expected exactly one skill NAME");
    const char *skill = argv[optind];

    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *text = NULL;
    if (skh_status(c->host, skill, target, at, &text, &err))
        return cli_error(c, &err);
    json_t *j = json_loads(text, 0, NULL);
    skh_free(text);
    if (!j)
        return nomem(c, skill);
    if (c->json) {
        cli_print_json(j);
    } else {
        print_status(j);
        json_decref(j);
    }
    return 0;
}
