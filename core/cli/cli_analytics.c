/*
 * The analytics verbs (issue 12): analytics, heatmap, anomalies.  One
 * option parser serves all three (as git's parse-options serves every
 * builtin); each prints text, or with --json the library's object.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef int (*analytics_fn)(skh_host *, const skh_analytics_options *, char **, skh_error *);

/* Parse the shared options; returns -1 when the verb may go on, else an exit status. */
static int parse(cli *c, const char *verb, int argc, char **argv, skh_analytics_options *o)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"skill", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"phase", required_argument, NULL, 'p'},
        {"by", required_argument, NULL, 'b'},
        {"rows", required_argument, NULL, 'r'},
        {"columns", required_argument, NULL, 'c'},
        {"metric", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->since = optarg;
            break;
        case 'u':
            o->until = optarg;
            break;
        case 'k':
            o->skill = optarg;
            break;
        case 't':
            o->tenant = optarg;
            break;
        case 'p':
            o->phase = optarg;
            break;
        case 'b':
        case 'r':
        case 'c':
        case 'm':
            /* Only the verb each belongs to takes it. */
            if ((ch == 'b') != (strcmp(verb, "analytics") == 0) && ch == 'b')
                return cli_usage(c, verb, "unknown option '%s'", argv[optind - 1]);
            if (ch != 'b' && strcmp(verb, "heatmap") != 0)
                return cli_usage(c, verb, "unknown option '%s'", argv[optind - 1]);
            if (ch == 'b')
                o->by = optarg;
            else if (ch == 'r')
                o->rows = optarg;
            else if (ch == 'c')
                o->columns = optarg;
            else
                o->metric = optarg;
            break;
        case 'h':
            return cli_help(cli_verb_find(verb));
        case ':':
            return cli_usage(c, verb, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage(c, verb, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage(c, verb, "unexpected argument '%s'", argv[optind]);
    return -1;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double real(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static long long whole(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* "-" for a missing number, else v with `decimals` decimals and the suffix. */
static const char *fmt(char *buf, size_t n, int decimals, const char *suffix, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.*f%s", decimals, v, suffix);
    return buf;
}

static void print_row(const char *name, const json_t *r)
{
    char sr[16], fi[16], re[16], p50[16], p95[16], er[16];
    printf("%-16.16s %6lld %7s %8s %7s %8s %8s %6lld %6s\n", name, whole(r, "requests"),
           fmt(sr, sizeof sr, 1, "%", real(r, "success_rate") * 100),
           fmt(fi, sizeof fi, 3, "", real(r, "fidelity")),
           fmt(re, sizeof re, 2, "", real(r, "retries_per_request")),
           fmt(p50, sizeof p50, 1, "", real(r, "duration_p50_ms")),
           fmt(p95, sizeof p95, 1, "", real(r, "duration_p95_ms")), whole(r, "errors"),
           fmt(er, sizeof er, 1, "%", real(r, "error_rate") * 100));
}

static void print_analytics(const json_t *d)
{
    const char *by = str(d, "by");
    const json_t *since = json_object_get(d, "since");
    printf("effectiveness by %s%s%s\n", by, json_is_string(since) ? " since " : "",
           json_is_string(since) ? json_string_value(since) : "");
    char head[17];
    snprintf(head, sizeof head, "%s", by);
    for (char *p = head; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    printf("%-16s %6s %7s %8s %7s %8s %8s %6s %6s\n", head, "REQS", "SUCCESS", "FIDELITY",
           "RETRIES", "P50 MS", "P95 MS", "ERRORS", "RATE");
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(d, "rows"), i, r) print_row(str(r, by), r);
    print_row("(total)", json_object_get(d, "total"));

    const json_t *bn = json_object_get(d, "bottlenecks");
    printf("\nbottlenecks: where the time goes (phase / skill, share of all time)\n");
    json_array_foreach(json_object_get(bn, "time"), i, r)
        printf("  %zu. %s / %s  %.1f ms  %.1f%%\n", i + 1, str(r, "phase"), str(r, "skill"),
               real(r, "duration_total_ms"), real(r, "share") * 100);
    if (!json_array_size(json_object_get(bn, "time")))
        printf("  (no executions)\n");
    printf("bottlenecks: where requests fail (share of all failed requests)\n");
    json_array_foreach(json_object_get(bn, "failures"), i, r) printf(
        "  %zu. %s / %s  %lld of %lld failed  %.1f%%\n", i + 1, str(r, "phase"), str(r, "skill"),
        whole(r, "failed_requests"), whole(r, "requests"), real(r, "share") * 100);
    if (!json_array_size(json_object_get(bn, "failures")))
        printf("  (no failed requests)\n");

    const json_t *t = json_object_get(d, "transitions");
    printf("\nphase transitions within sessions (%lld sessions, %lld requests)\n",
           whole(t, "sessions"), whole(t, "requests"));
    json_array_foreach(json_object_get(t, "pairs"), i, r)
        printf("  %s -> %s  %lld  (%lld after a failure)\n", str(r, "from"), str(r, "to"),
               whole(r, "count"), whole(r, "after_failure"));
    json_array_foreach(json_object_get(t, "ends"), i, r)
        printf("  sessions ending in %s  %lld  (%lld right after a failure)\n", str(r, "phase"),
               whole(r, "count"), whole(r, "after_failure"));
}

/* Ten shades, light to dark; the legend prints them with their ranges. */
static const char shades[] = " .:-=+*#%@";

static void print_heatmap(const json_t *d)
{
    const json_t *cols = json_object_get(d, "columns");
    double max = real(d, "scale_max");
    size_t ncol = json_array_size(cols), i;
    int days = strcmp(str(d, "columns_by"), "day") == 0;
    printf("%s by %s and %s%s%s\n", str(d, "metric"), str(d, "rows_by"),
           days ? "day" : "hour of day (UTC)",
           json_is_string(json_object_get(d, "since")) ? ", since " : "", str(d, "since"));
    /* Column labels: hours every third column, days by their day of month. */
    printf("%-16s ", "");
    for (i = 0; i < ncol; i++) {
        const char *label = json_string_value(json_array_get(cols, i));
        if (days)
            printf("%2.2s", label + strlen(label) - 2);
        else
            printf("%-2.2s", i % 3 == 0 ? label : "");
    }
    printf("\n");
    const json_t *r;
    json_array_foreach(json_object_get(d, "rows"), i, r)
    {
        printf("%-16.16s ", str(r, "name"));
        const json_t *values = json_object_get(r, "values");
        for (size_t c = 0; c < ncol; c++) {
            const json_t *v = json_array_get(values, c);
            if (!json_is_number(v) || max <= 0) {
                printf("  ");
                continue;
            }
            int k = (int)floor(json_number_value(v) / max * 9.0 + 0.5);
            k = k < 0 ? 0 : k > 9 ? 9 : k;
            /* A cell with traffic is never blank: the lightest shade is '.'. */
            if (k == 0 && json_number_value(v) > 0)
                k = 1;
            printf("%c%c", shades[k], shades[k]);
        }
        printf("\n");
    }
    if (!json_array_size(json_object_get(d, "rows")))
        printf("(no executions in range)\n");
    /* Shade k covers values around k/9 of the maximum. */
    printf("legend: '%s' = none, then ninths of the maximum, %.4g\n", shades, max);
}

static void print_anomalies(const json_t *d)
{
    const json_t *list = json_object_get(d, "anomalies");
    printf("judged %lld new hour%s, %lld new anomal%s; %zu kept in range\n",
           whole(d, "judged_hours"), whole(d, "judged_hours") == 1 ? "" : "s", whole(d, "new"),
           whole(d, "new") == 1 ? "y" : "ies", json_array_size(list));
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        char z[16];
        printf("%s  %-8s %-16.16s %-12s %s z=%s%s\n  %s\n", str(a, "hour"), str(a, "severity"),
               str(a, "skill"), str(a, "metric"), str(a, "direction"),
               fmt(z, sizeof z, 1, "", real(a, "z")),
               json_is_true(json_object_get(a, "new")) ? "  (new)" : "", str(a, "reason"));
    }
}

static int run(cli *c, const char *verb, int argc, char **argv, analytics_fn fn,
               void (*print)(const json_t *))
{
    skh_analytics_options o = {.struct_size = sizeof o};
    int rc = parse(c, verb, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = cli_open(c, 0)) != 0)
        return rc;
    char *text = NULL;
    skh_error err;
    if (fn(c->host, &o, &text, &err) != SKH_OK)
        return cli_error(c, &err);
    json_t *d = json_loads(text, 0, NULL);
    skh_free(text);
    if (c->json)
        cli_print_json(d);
    else {
        print(d);
        json_decref(d);
    }
    return 0;
}

int cmd_analytics(cli *c, int argc, char **argv)
{
    return run(c, "analytics", argc, argv, skh_analytics, print_analytics);
}

int cmd_heatmap(cli *c, int argc, char **argv)
{
    return run(c, "heatmap", argc, argv, skh_heatmap, print_heatmap);
}

int cmd_anomalies(cli *c, int argc, char **argv)
{
    return run(c, "anomalies", argc, argv, skh_anomalies, print_anomalies);
}
