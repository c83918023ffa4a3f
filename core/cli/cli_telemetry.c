/* skillhost telemetry: the dashboard (DESIGN §8) as text, or as the JSON object with --json. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static double real_of(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* A rate as a percentage with one decimal: the store already rounded it to 0.1%. */
static void percent(char out[16], double rate)
{
    snprintf(out, 16, "%.1f%%", rate * 100.0);
}

static void print_skills(const json_t *rows)
{
    size_t i, width = strlen("SKILL");
    json_t *r;

    /* Skill names run to 64 characters: size the first column to the longest. */
    json_array_foreach(rows, i, r)
    {
        size_t n = strlen(json_string_value(json_object_get(r, "skill")));
        if (n > width)
            width = n;
    }
    printf("%-*s  %8s  %10s  %10s  %13s  %10s  %s\n", (int)width, "SKILL", "REQUESTS", "EXECUTIONS",
           "RETRY RATE", "MEAN FIDELITY", "ERROR RATE", "LAST RUN");
    json_array_foreach(rows, i, r)
    {
        const json_t *mean = json_object_get(r, "mean_fidelity");
        const json_t *last = json_object_get(r, "last_run");
        char retry[16], errors[16], fid[16] = "-";
        percent(retry, real_of(r, "retry_rate"));
        percent(errors, real_of(r, "error_rate"));
        if (json_is_number(mean))
            snprintf(fid, sizeof fid, "%.3f", json_number_value(mean));
        printf("%-*s  %8lld  %10lld  %10s  %13s  %10s  %s\n", (int)width,
               json_string_value(json_object_get(r, "skill")), int_of(r, "requests"),
               int_of(r, "executions"), retry, fid, errors,
               json_is_string(last) ? json_string_value(last) : "-");
    }
}

static void print_text(const json_t *d)
{
    const json_t *since = json_object_get(d, "since");
    const json_t *rows = json_object_get(d, "skills");
    char retry[16], win[16];

    if (json_is_string(since))
        printf("skillhost telemetry (since %s)\n", json_string_value(since));
    else
        printf("skillhost telemetry (no executions yet)\n");
    percent(retry, real_of(d, "retry_rate"));
    percent(win, real_of(d, "variation_win_rate"));
    printf("  total executions  %8lld\n", int_of(d, "total_executions"));
    printf("  requests          %8lld\n", int_of(d, "total_requests"));
    printf("  retried requests  %8lld   (retry rate %s, %.3f retries per execution)\n",
           int_of(d, "retry_count"), retry, real_of(d, "retry_per_execution"));
    printf("  variations tested %8lld   promoted %lld   win rate %s   avg fidelity delta %+.3f\n",
           int_of(d, "variations_tested"), int_of(d, "variations_promoted"), win,
           real_of(d, "avg_fidelity_delta"));
    if (json_array_size(rows) > 0) {
        printf("\n");
        print_skills(rows);
    } else {
        printf("\nno skills yet: add one with 'skillhost skill add NAME --impl FILE'\n");
    }
}

int cmd_telemetry(cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("telemetry"));
    cli_take_globals(c, &argc, argv, NULL, 0);
    if (argc > 1)
        return cli_usage(c, "telemetry", "unexpected argument '%s'", argv[1]);
    int rc = cli_open(c, 0);
    if (rc)
        return rc;

    skh_error err;
    char *text = NULL;
    if (skh_telemetry(c->host, &text, &err))
        return cli_error(c, &err);
    json_t *d = json_loads(text, 0, NULL);
    skh_free(text);
    if (!d) {
        err = (skh_error){.code = SKH_ENOMEM};
        snprintf(err.what, sizeof err.what, "telemetry");
        snprintf(err.message, sizeof err.message, "out of memory");
        return cli_error(c, &err);
    }
    if (c->json) {
        cli_print_json(d);
    } else {
        print_text(d);
        json_decref(d);
    }
    return 0;
}
