/*
 * Help that cannot drift from the code: `skillhost help [VERB]`, each verb's
 * --help with every option of its getopt table listed (new options appear
 * by themselves), the exit statuses, and "did you mean" for a mistyped verb
 * or option.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The option table of the verb being parsed, as cli_take_globals last saw it. */
static const struct option *verb_opts;

void cli_help_set_options(const struct option *opts)
{
    verb_opts = opts;
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps), capped. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *cli_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t len = strlen(word);
    /* Close enough: a third of the word, at least one edit, at most three. */
    size_t limit = len / 3 < 1 ? 1 : len / 3 > 3 ? 3 : len / 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, candidates[i]);
        /* A word that starts another ("stat" for "status") is a near miss too. */
        if (len >= 3 && strncmp(candidates[i], word, len) == 0)
            d = 1;
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

const char *cli_verb_suggest(const char *word)
{
    const char *names[64];
    size_t n = 0;
    for (const cli_verb *v = cli_verbs; v->name && n < 64; v++)
        names[n++] = v->name;
    return cli_did_you_mean(word, names, n);
}

int cli_bad_option(const cli *c, const char *verb, const char *arg)
{
    const char *names[128];
    size_t n = 0;
    const char *name = arg;
    while (*name == '-')
        name++;
    char word[128];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(name, "="), name);
    for (const struct option *o = verb_opts; o && o->name && n < 64; o++)
        names[n++] = o->name;
    const char *hint = cli_did_you_mean(word, names, n);
    if (hint)
        return cli_usage(c, verb, "unknown option '%s'; did you mean '--%s'?", arg, hint);
    return cli_usage(c, verb, "unknown option '%s'", arg);
}

/*
 * What the help text calls an option's value: the word after "--NAME " in the
 * usage line or the help ("--cases FILE.jsonl" -> FILE.jsonl), else VALUE.
 */
static void metavar(const cli_verb *v, const char *name, char out[48])
{
    char pat[80];
    snprintf(pat, sizeof pat, "--%s ", name);
    const char *texts[] = {v->usage, v->help};
    for (size_t i = 0; i < 2; i++) {
        for (const char *p = strstr(texts[i], pat); p; p = strstr(p + 1, pat)) {
            const char *w = p + strlen(pat);
            size_t n = strcspn(w, " \n,");
            /* "[--check ITEM=yes|no[:EVIDENCE]]": keep the brackets the word opened. */
            int open = 0;
            for (size_t k = 0; k < n; k++)
                if (w[k] == '[')
                    open++;
                else if (w[k] == ']' && open-- <= 0) {
                    n = k;
                    break;
                }
            if (n > 0 && n < 48 && w[0] != '-' && w[0] != '[' && w[0] != ' ') {
                snprintf(out, 48, "%.*s", (int)n, w);
                return;
            }
        }
    }
    snprintf(out, 48, "VALUE");
}

static void list_options(const cli_verb *v, const struct option *opts)
{
    int col = 2;
    printf(" ");
    for (const struct option *o = opts; o->name; o++) {
        char item[160], meta[48] = "";
        if (o->has_arg != no_argument)
            metavar(v, o->name, meta);
        snprintf(item, sizeof item, " --%s%s%s%s%s", o->name,
                 o->has_arg == optional_argument ? "[="
                 : meta[0]                       ? " "
                                                 : "",
                 meta, o->has_arg == optional_argument ? "]" : "", o[1].name ? "," : "");
        int len = (int)strlen(item);
        if (col + len > 78) {
            printf("\n ");
            col = 2;
        }
        fputs(item, stdout);
        col += len;
    }
    printf("\n");
}

int cli_help(const cli_verb *v)
{
    printf("usage: skillhost [GLOBAL OPTIONS] %s\n\n%s", v->usage, v->help);
    if (verb_opts && verb_opts->name) {
        printf("\noptions:\n");
        list_options(v, verb_opts);
    }
    printf("\nglobal options (before or after the verb):\n"
           "  --db PATH, --policies DIR, --json, -q/--quiet, -h/--help, -V/--version\n");
    printf("\nexit status: 0 done, 1 refused or failed, 2 usage or bad input, 3 a plugin\n"
           "or policy could not be loaded, 4 the store failed.\n");
    return 0;
}
