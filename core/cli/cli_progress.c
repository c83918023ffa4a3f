/*
 * A progress line for long work (evaluate, ingest, export, ...): on stderr,
 * redrawn in place at most ten times a second,
 *
 *   evaluate spam: 120/500 cases (24%)  85.2/s  ETA 4s
 *
 * and erased when the work ends, so what stays on the terminal is the
 * verb's answer.  Nothing is drawn when stderr is not a terminal, with -q,
 * or with SKILLHOST_PROGRESS=never; SKILLHOST_PROGRESS=always draws it
 * off a terminal too (one line per redraw, for logs and tests), -q still wins.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct cli_progress {
    char what[160];
    char unit[32];
    int tty;             /* redraw in place (\r), else one line per redraw */
    double start, drawn; /* monotonic seconds */
    unsigned long long done, total;
    int shown; /* something is on the line */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

cli_progress *cli_progress_start(const cli *c, const char *unit, const char *fmt, ...)
{
    const char *mode = getenv("SKILLHOST_PROGRESS");
    int always = mode && strcmp(mode, "always") == 0;
    if (c->quiet || (mode && strcmp(mode, "never") == 0) || (!always && !isatty(STDERR_FILENO)))
        return NULL;
    cli_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL; /* no progress line is no failure */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->what, sizeof p->what, fmt, ap);
    va_end(ap);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->tty = isatty(STDERR_FILENO);
    p->start = now();
    p->drawn = -1;
    return p;
}

/* "4s", "2m05s", "1h02m" */
static void fmt_duration(double s, char out[24])
{
    long t = (long)(s + 0.5);
    if (t < 60)
        snprintf(out, 24, "%lds", t);
    else if (t < 3600)
        snprintf(out, 24, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, 24, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

static void draw(cli_progress *p, double t)
{
    double elapsed = t - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    char line[320], eta[24] = "";
    int n;
    if (p->total)
        n = snprintf(line, sizeof line, "%s: %llu/%llu%s%s (%llu%%)", p->what, p->done, p->total,
                     p->unit[0] ? " " : "", p->unit, p->done * 100 / p->total);
    else
        n = snprintf(line, sizeof line, "%s: %llu%s%s", p->what, p->done, p->unit[0] ? " " : "",
                     p->unit);
    if (n > 0 && (size_t)n < sizeof line && elapsed > 0 && p->done > 0)
        n += snprintf(line + n, sizeof line - (size_t)n, "  %.1f/s", rate);
    if (n > 0 && (size_t)n < sizeof line && p->total && p->done > 0 && p->done < p->total &&
        rate > 0) {
        fmt_duration((double)(p->total - p->done) / rate, eta);
        snprintf(line + n, sizeof line - (size_t)n, "  ETA %s", eta);
    }
    if (p->tty)
        fprintf(stderr, "\r%s\033[K", line);
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
    p->drawn = t;
    p->shown = p->tty;
}

void cli_progress_set(cli_progress *p, unsigned long long done, unsigned long long total)
{
    if (!p)
        return;
    p->done = done;
    p->total = total;
    double t = now();
    if (p->drawn < 0 || t - p->drawn >= 0.1 || (total && done == total))
        draw(p, t);
}

void cli_progress_end(cli_progress *p)
{
    if (!p)
        return;
    if (p->shown)
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
    free(p);
}

void cli_progress_cb(void *arg, size_t done, size_t total)
{
    cli_progress_set(arg, done, total);
}
