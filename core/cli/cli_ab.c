/* skillhost ab start | status | stop */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
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

/* ---- start ---------------------------------------------------------------- */

static int parse_number(const char *s, double *out)
{
    return skh_number_parse(s, 0, out) == SKH_OK ? 0 : -1;
}

static int ab_start(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"treatment", required_argument, NULL, 't'}, {"weight", required_argument, NULL, 'w'},
        {"target", required_argument, NULL, 'n'},    {"rollout", no_argument, NULL, 'r'},
        {"steps", required_argument, NULL, 's'},     {NULL, 0, NULL, 0},
    };
    skh_ab_spec spec = {.struct_size = sizeof spec};
    double v;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            spec.treatment = optarg;
            break;
        case 'w':
            if (parse_number(optarg, &v) != 0 || !(v > 0.0 && v <= 100.0))
                return cli_usage(c, "ab start",
                                 "--weight must be a percentage in (0, 100], got '%s'", optarg);
            spec.weight = v;
            break;
        case 'n':
            if (skh_number_parse(optarg, 1, &v) != SKH_OK || v < 1 || v > 1e9)
                return cli_usage(c, "ab start", "--target must be a whole number >= 1, got '%s'",
                                 optarg);
            spec.target = (long)v;
            break;
        case 'r':
            spec.rollout = 1;
            break;
        case 's':
            spec.steps = optarg;
            break;
        case ':':
            return cli_usage(c, "ab start", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "ab start", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "ab start", "expected exactly one skill NAME");
    if (!spec.treatment)
        return cli_usage(c, "ab start", "--treatment NAME@vN is required");
    if (spec.steps && !spec.rollout)
        return cli_usage(c, "ab start", "--steps only applies with --rollout");
    spec.skill = argv[optind];

    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *id = NULL;
    if (skh_ab_start(c->host, &spec, &id, &err))
        return cli_error(c, &err);
    if (c->json)
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "test_id", id, "skill", spec.skill,
                                 "treatment", spec.treatment, "mode",
                                 spec.rollout ? "rollout" : "ab"));
    else
        printf("%s\n", id);
    skh_free(id);
    return 0;
}

/* ---- status ----------------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static double num_of(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void arm_cell(char out[64], const json_t *arm)
{
    const json_t *iv = json_object_get(arm, "interval");
    snprintf(out, 64, "%.3f [%.3f, %.3f]", num_of(arm, "rate"),
             json_number_value(json_array_get(iv, 0)), json_number_value(json_array_get(iv, 1)));
}

static void print_arms(const json_t *s)
{
    const json_t *c = json_object_get(s, "control"), *t = json_object_get(s, "treatment");
    double w = num_of(s, "weight");
    char cw[32], tw[32], cr[64], tr[64];
    snprintf(cw, sizeof cw, "%g%%", 100.0 - w);
    snprintf(tw, sizeof tw, "%g%%", w);
    arm_cell(cr, c);
    arm_cell(tr, t);
    printf("  %-22s %-28s %s\n", "", "CONTROL", "TREATMENT");
    printf("  %-22s %-28s %s\n", "variant", str_of(c, "variant", "-"), str_of(t, "variant", "-"));
    printf("  %-22s %-28s %s\n", "traffic", cw, tw);
    printf("  %-22s %-28lld %lld\n", "trials", int_of(c, "trials"), int_of(t, "trials"));
    printf("  %-22s %-28lld %lld\n", "successes", int_of(c, "successes"), int_of(t, "successes"));
    printf("  %-22s %-28s %s\n", "rate [95% Wilson]", cr, tr);
    printf("  %-22s %-28.2f %.2f\n", "mean attempts", num_of(c, "attempts_mean"),
           num_of(t, "attempts_mean"));
}

static void print_step(const json_t *s)
{
    const json_t *step = json_object_get(s, "step");
    if (!step)
        return;
    const json_t *steps = json_object_get(s, "steps"), *x;
    size_t i;
    printf("\nrollout step %lld of %lld at %g%% (steps", int_of(step, "index"),
           int_of(step, "count"), num_of(step, "weight"));
    json_array_foreach(steps, i, x) printf("%s%g", i ? " -> " : " ", json_number_value(x));
    printf("), since %s\n", str_of(step, "started_at", "-"));
    const json_t *c = json_object_get(step, "control"), *t = json_object_get(step, "treatment");
    printf("  this step: control %lld/%lld (%.3f), treatment %lld/%lld (%.3f)\n",
           int_of(c, "successes"), int_of(c, "trials"), num_of(c, "rate"), int_of(t, "successes"),
           int_of(t, "trials"), num_of(t, "rate"));
}

static void print_statistics(const json_t *s)
{
    const json_t *z = json_object_get(s, "ztest"), *m = json_object_get(s, "msprt");
    const json_t *srm = json_object_get(s, "srm"), *g = json_object_get(s, "guardrail");
    long verdict = (long)int_of(m, "verdict");
    printf("\n  difference             %+.3f (treatment - control)\n", num_of(s, "difference"));
    printf("  z-test (one look only) z = %.3f, p = %.4f two-sided\n", num_of(z, "z"),
           num_of(z, "p_two_sided"));
    printf("  P(treatment better)    %.3f\n", num_of(s, "prob_beats"));
    printf("  mSPRT (always valid)   p = %.4f, running min %.4f, log LR %.3f (tau %g, alpha %g): "
           "%s\n",
           num_of(m, "p"), num_of(m, "running_min_p"), num_of(m, "log_lr"), num_of(m, "tau"),
           num_of(m, "alpha"),
           verdict > 0   ? "treatment better"
           : verdict < 0 ? "control better"
                         : "keep going");
    const json_t *iv = json_object_get(m, "interval");
    printf("  always-valid interval  [%+.3f, %+.3f] for the difference\n",
           json_number_value(json_array_get(iv, 0)), json_number_value(json_array_get(iv, 1)));
    if (json_is_number(json_object_get(srm, "p")))
        printf("  sample ratio           p = %.4f (expected %g%% treatment)%s\n", num_of(srm, "p"),
               100.0 * num_of(srm, "expected_share"),
               json_is_true(json_object_get(srm, "warning"))
                   ? "  WARNING: sample ratio mismatch, the split is broken; no verdict is "
                     "trustworthy"
                   : "");
    else
        printf("  sample ratio           - (not checked at a %g%% split)\n",
               100.0 * num_of(srm, "expected_share"));
    printf("  guardrail              mean attempts %.2f vs %.2f (%+.2f)\n", num_of(g, "control"),
           num_of(g, "treatment"), num_of(g, "difference"));
}

/* The rank test of request durations at its latest planned look (ab_latency.c). */
static void print_latency(const json_t *s)
{
    const json_t *lat = json_object_get(s, "latency");
    if (!json_is_object(lat)) {
        printf("  latency                - (first look at %d requests in the smaller arm)\n", 50);
        return;
    }
    const json_t *c = json_object_get(lat, "control"), *t = json_object_get(lat, "treatment");
    const json_t *mw = json_object_get(lat, "mann_whitney");
    char label[32];
    snprintf(label, sizeof label, "latency (look %lld)", int_of(lat, "look"));
    printf("  %-22s median %.3g vs %.3g ms, p95 %.3g vs %.3g ms (%lld and %lld requests)\n", label,
           num_of(c, "median_ms"), num_of(t, "median_ms"), num_of(c, "p95_ms"), num_of(t, "p95_ms"),
           int_of(c, "n"), int_of(t, "n"));
    printf("  rank test              treatment slower p = %.3g, faster p = %.3g (alpha %.3g at "
           "this look)\n",
           num_of(mw, "p_slower"), num_of(mw, "p_faster"), num_of(lat, "alpha"));
}

/* What the test has cost so far against serving the better arm only. */
static void print_regret(const json_t *s)
{
    const json_t *r = json_object_get(s, "regret");
    const json_t *iv = json_object_get(r, "interval");
    const char *better = str_of(r, "better_arm", "unknown");
    printf("  cost so far            %.1f successes lost to the worse arm (95%%: %.1f to %.1f); "
           "better arm: %s\n",
           num_of(r, "lost_successes"), json_number_value(json_array_get(iv, 0)),
           json_number_value(json_array_get(iv, 1)), better);
}

static void print_policy_now(const json_t *s)
{
    const json_t *now = json_object_get(s, "policy_now");
    if (!json_is_object(now))
        return;
    const char *error = str_of(now, "error", NULL);
    const char *reason = str_of(now, "reason", "");
    /* A failed policy or an answer the decision path would refuse (ab.c says which file). */
    if (error) {
        printf("  policy now             policy error: %s\n", error);
        return;
    }
    const char *winner = str_of(now, "winner", NULL), *action = str_of(now, "action", NULL);
    const char *on_win = str_of(now, "on_win", "promote");
    char what[96];
    if (winner && strcmp(winner, "treatment") == 0)
        snprintf(what, sizeof what, "treatment wins (%s)", on_win);
    else if (winner)
        snprintf(what, sizeof what, "control wins (archive the treatment)");
    else if (action)
        snprintf(what, sizeof what, "%s", action);
    else
        snprintf(what, sizeof what, "no verdict yet");
    printf("  policy now             %s: %s\n", what, reason);
}

static void print_status(const json_t *s)
{
    printf("%s test %s of %s: %s\n",
           strcmp(str_of(s, "mode", "ab"), "rollout") == 0 ? "rollout" : "A/B",
           str_of(s, "test_id", "?"), str_of(s, "skill", "?"), str_of(s, "status", "?"));
    printf("started %s, target %lld trials per arm", str_of(s, "start_time", "-"),
           int_of(s, "target"));
    if (json_is_string(json_object_get(s, "decided_at")))
        printf(", decided %s: %s", str_of(s, "decided_at", ""), str_of(s, "decision", "-"));
    else if (json_is_string(json_object_get(s, "end_time")))
        printf(", ended %s", str_of(s, "end_time", ""));
    printf("\n");
    if (json_is_string(json_object_get(s, "reason")))
        printf("reason: %s\n", str_of(s, "reason", ""));
    printf("\n");
    print_arms(s);
    print_step(s);
    print_statistics(s);
    if (strcmp(str_of(s, "mode", "ab"), "ab") == 0)
        print_latency(s);
    print_regret(s);
    print_policy_now(s);
}

static int ab_status(cli *c, int argc, char **argv)
{
    const char *skill = NULL;
    cli_take_globals(c, &argc, argv, NULL, 0);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            return cli_bad_option(c, "ab status", argv[i]);
        else if (skill)
            return cli_usage(c, "ab status", "expected exactly one skill NAME");
        else
            skill = argv[i];
    }
    if (!skill)
        return cli_usage(c, "ab status", "expected exactly one skill NAME");
    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    char *text = NULL;
    if (skh_ab_status(c->host, skill, &text, &err))
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

/* ---- stop --------------------------------------------------------------------- */

static int ab_stop(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *reason = NULL;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            reason = optarg;
            break;
        case ':':
            return cli_usage(c, "ab stop", "%s needs a value", argv[optind - 1]);
        default:
            return cli_bad_option(c, "ab stop", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage(c, "ab stop", "expected exactly one skill NAME");
    const char *skill = argv[optind];
    int rc = cli_open(c, 0);
    if (rc)
        return rc;
    skh_error err;
    if (skh_ab_stop(c->host, skill, reason, &err))
        return cli_error(c, &err);
    if (c->json)
        cli_print_json(json_pack("{s:s, s:b}", "skill", skill, "stopped", 1));
    else if (!c->quiet)
        printf("stopped the A/B test of %s\n", skill);
    return 0;
}

int cmd_ab(cli *c, int argc, char **argv)
{
    cli_take_globals(c, &argc, argv, NULL, 1);
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("ab"));
    if (argc < 2)
        return cli_usage(c, "ab", "expected start, status or stop");
    if (strcmp(argv[1], "start") == 0)
        return ab_start(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return ab_status(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "stop") == 0)
        return ab_stop(c, argc - 1, argv + 1);
    return cli_usage(c, "ab", "unknown subcommand '%s' (expected start, status or stop)", argv[1]);
}
