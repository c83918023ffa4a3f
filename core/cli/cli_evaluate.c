/* skillhost evaluate NAME [--variant NAME@vN] --cases FILE.jsonl [--jobs N] */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static long long num(const json_t *j, const char *key)
{
    return (long long)json_integer_value(json_object_get(j, key));
}

/* A rate as text: "-" when there was nothing to measure (null). */
static void fmt_rate(const json_t *v, char out[32])
{
    if (json_is_number(v))
        snprintf(out, 32, "%.4g", json_number_value(v));
    else
        snprintf(out, 32, "-");
}

static void print_text(const json_t *r)
{
    char fid[32], out[32], fpr[32];
    fmt_rate(json_object_get(r, "fidelity"), fid);
    fmt_rate(json_object_get(r, "outcome"), out);
    fmt_rate(json_object_get(r, "false_positive_rate"), fpr);
    const char *pos = json_string_value(json_object_get(r, "positive_class"));
    const char *source = json_string_value(json_object_get(r, "positive_class_source"));
    const char *from = !source                           ? ""
                       : strcmp(source, "skill") == 0    ? " (set for the skill)"
                       : strcmp(source, "expected") == 0 ? " (first positive expected label)"
                                                         : " (first positive decision)";

    printf("evaluated %s on %s\n", json_string_value(json_object_get(r, "variant")),
           json_string_value(json_object_get(r, "file")));
    printf("  cases                     %lld (%lld run, %lld failed)\n", num(r, "cases"),
           num(r, "run"), num(r, "failed"));
    printf("  pattern fidelity          %s\n", fid);
    printf("  outcome (share correct)   %s (%lld of %lld)\n", out, num(r, "correct"),
           num(r, "run"));
    printf("  positive class            %s%s\n", pos ? pos : "none", from);
    printf("  false-positive rate       %s (%lld of %lld negatives)\n", fpr,
           num(r, "false_positives"), num(r, "negatives"));
    printf("  critical false negatives  %lld\n", num(r, "critical_false_negatives"));

    json_t *wrong = json_object_get(r, "wrong");
    size_t i;
    json_t *w;
    if (json_array_size(wrong))
        printf("wrong answers:\n");
    json_array_foreach(wrong, i, w)
    {
        const char *d = json_string_value(json_object_get(w, "decision"));
        printf("  line %lld: expected %s, %s%s%s\n", num(w, "line"),
               json_string_value(json_object_get(w, "expected")), d ? "decided " : "no decision",
               d ? d : "", json_is_true(json_object_get(w, "critical")) ? " (critical)" : "");
    }
}

int cmd_evaluate(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"variant", required_argument, NULL, 'v'},
        {"cases", required_argument, NULL, 'c'},
        {"jobs", required_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *variant = NULL, *cases = NULL;
    unsigned jobs = 1;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'v':
            variant = optarg;
            break;
        case 'c':
            cases = optarg;
            break;
        case 'J': {
            double n;
            if (skh_number_parse(optarg, 1, &n) != SKH_OK || n < 1 || n > 64)
                return cli_usage(c, "evaluate", "--jobs: '%s' is not a number from 1 to 64",
                                 optarg);
            jobs = (unsigned)n;
            break;
        }
        case 'h':
            return cli_help(cli_verb_find("evaluate"));
        case ':':
            return cli_usage(c, "evaluate", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "evaluate", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "evaluate", "expected exactly one skill NAME");
    if (!cases)
        return cli_usage(c, "evaluate", "--cases FILE.jsonl is required");

    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *text = NULL;
    cli_progress *p = cli_progress_start(c, "cases", "evaluate %s", argv[optind]);
    skh_evaluate_options o = {.struct_size = sizeof o,
                              .variant = variant,
                              .jobs = jobs,
                              .progress = p ? cli_progress_cb : NULL,
                              .progress_arg = p};
    rc = skh_evaluate_with(c->host, argv[optind], cases, &o, &text, &err);
    cli_progress_end(p);
    if (rc)
        return cli_error(c, &err);
    json_t *r = json_loads(text, 0, NULL);
    skh_free(text);
    if (!r) {
        fprintf(stderr, "skillhost: evaluate: out of memory\n");
        return 4;
    }

    /* Every line that did not count: FILE:LINE and why, malformed or failed. */
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r, "errors"), i, e)
        fprintf(stderr, "skillhost: %s\n", json_string_value(json_object_get(e, "error")));

    rc = num(r, "failed") > 0 ? 1 : 0;
    if (c->json)
        cli_print_json(r);
    else {
        print_text(r);
        json_decref(r);
    }
    return rc;
}
