/* What every verb shares: opening the host, printing errors and JSON, reading @FILE arguments. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* message starts with what, then ":" or nothing. */
static int message_names(const char *message, const char *what)
{
    size_t n = strlen(what);
    return n > 0 && strncmp(message, what, n) == 0 && (message[n] == ':' || message[n] == '\0');
}

int cli_error(const cli *c, const skh_error *err)
{
    /*
     * Policy and Lua loader messages start with the file already
     * ("F:239: ..."), and err->what is that file: name it once.
     */
    const char *what = message_names(err->message, err->what) ? "" : err->what;
    if (what[0])
        fprintf(stderr, "skillhost: %s: %s\n", what, err->message);
    else
        fprintf(stderr, "skillhost: %s\n", err->message);
    if (c->json) {
        char msg[sizeof err->what + sizeof err->message + 4];
        snprintf(msg, sizeof msg, "%s%s%s", what, what[0] ? ": " : "", err->message);
        json_t *e =
            json_pack("{s:{s:i, s:s, s:s}}", "error", "code", err->code, "message", msg, "category",
                      err->category ? skh_category_name(err->category) : "none");
        cli_print_json(e);
    }
    return skh_exit_status(err->code);
}

int cli_usage(const cli *c, const char *verb, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "skillhost: %s: %s\ntry 'skillhost %s --help'\n", verb, msg, verb);
    if (c->json) {
        /* The same shape as cli_error's: one error object everywhere. */
        char full[600];
        snprintf(full, sizeof full, "%s: %s", verb, msg);
        cli_print_json(json_pack("{s:{s:i, s:s, s:s}}", "error", "code", SKH_EINVAL, "message",
                                 full, "category", "none"));
    }
    return 2;
}

const cli_verb *cli_verb_find(const char *name)
{
    for (const cli_verb *v = cli_verbs; v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v;
    return NULL;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/*
 * Does tok name one of opts that takes a value: "--name", or an unambiguous
 * prefix of it, as getopt_long reads it?
 */
static int takes_value(const struct option *opts, const char *tok)
{
    if (!opts || strncmp(tok, "--", 2) != 0 || strchr(tok, '='))
        return 0;
    const char *name = tok + 2;
    size_t n = strlen(name);
    const struct option *hit = NULL;
    int hits = 0;
    for (const struct option *o = opts; o->name; o++) {
        if (strncmp(o->name, name, n) != 0)
            continue;
        if (o->name[n] == '\0')
            return o->has_arg == required_argument;
        hit = o;
        hits++;
    }
    return hits == 1 && hit->has_arg == required_argument;
}

/* Is name one of the verb's own options (then --db or --policies after the verb is the verb's)? */
static int verb_has(const struct option *opts, const char *name)
{
    for (const struct option *o = opts; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return 1;
    return 0;
}

/* "--db PATH" or "--db=PATH" at argv[*i] (name "db"): take its value; 1 when taken. */
static int take_valued(char **argv, int argc, int *i, const char *name, const char **out)
{
    const char *t = argv[*i - 1];
    size_t n = strlen(name);
    if (strncmp(t, "--", 2) != 0 || strncmp(t + 2, name, n) != 0)
        return 0;
    if (t[2 + n] == '=') {
        *out = t + 3 + n;
        return 1;
    }
    if (t[2 + n] != '\0' || *i >= argc)
        return 0;
    *out = argv[(*i)++];
    return 1;
}

void cli_take_globals(cli *c, int *argc, char **argv, const struct option *opts, int leading)
{
    int i = 1, out = 1;
    cli_help_set_options(opts);
    while (i < *argc && strcmp(argv[i], "--") != 0) {
        char *t = argv[i++];
        if (!verb_has(opts, "db") && take_valued(argv, *argc, &i, "db", &c->db))
            continue;
        if (!verb_has(opts, "policies") && take_valued(argv, *argc, &i, "policies", &c->policies))
            continue;
        if (strcmp(t, "--json") == 0) {
            c->json = 1;
            continue;
        }
        if (strcmp(t, "-q") == 0 || strcmp(t, "--quiet") == 0) {
            c->quiet = 1;
            continue;
        }
        argv[out++] = t;
        if (takes_value(opts, t) && i < *argc)
            argv[out++] = argv[i++];
        else if (leading && t[0] != '-')
            break;
    }
    while (i < *argc)
        argv[out++] = argv[i++];
    argv[out] = NULL;
    *argc = out;
}

void cli_print_json(json_t *j)
{
    if (!j)
        return;
    /* 15 significant digits: 0.95 prints as 0.95, not 0.94999999999999996. */
    size_t flags = isatty(STDOUT_FILENO) ? JSON_INDENT(2) : 0; /* one line, as "k": v */
    json_dumpf(j, stdout, flags | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
    json_decref(j);
}

int cli_open(cli *c, int create)
{
    if (c->host)
        return 0;
    int rc = cli_workspace(c, create, 1);
    if (rc)
        return rc;
    skh_host_options o = {
        .struct_size = sizeof o, .db_path = c->db, .policies_dir = c->policies, .create = create};
    skh_error err;
    rc = skh_host_open(&o, &c->host, &err);
    return rc ? cli_error(c, &err) : 0;
}

void cli_trace(const char *fmt, ...)
{
    const char *v = getenv("SKILLHOST_LOG");
    if (!v || strcasecmp(v, "trace") != 0)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "skillhost: trace: %s\n", line);
}

/* The whole stream, NUL-terminated; *len excludes the terminator.  NULL on a read error. */
static char *read_stream(FILE *f, size_t *len_out)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
        }
    }
    if (buf && ferror(f)) {
        free(buf);
        return NULL;
    }
    if (buf)
        buf[len] = '\0';
    *len_out = len;
    return buf;
}

static int read_arg_error(skh_error *err, int code, const char *what, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    err->category = 0;
    snprintf(err->what, sizeof err->what, "%s", what);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

/*
 * The text of an argument: the argument itself, or a file's or stdin's
 * whole contents.  Either way it must be UTF-8 without NUL bytes (issue 9
 * items 9 and 10): a file is never silently cut at a NUL, and a folder says
 * so instead of reading as empty.
 */
int cli_read_arg(const char *arg, const char *flag, char **out, skh_error *err)
{
    size_t len = 0;
    *out = NULL;
    if (arg[0] != '@') {
        if (skh_text_check(flag, arg, strlen(arg), err))
            return err->code;
        if (!(*out = strdup(arg)))
            return read_arg_error(err, SKH_ENOMEM, flag, "out of memory");
        return 0;
    }
    const char *path = arg + 1;
    int from_stdin = strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "r");
    if (!f)
        return read_arg_error(err, errno == ENOENT ? SKH_ENOTFOUND : SKH_EINVAL, path,
                              "cannot read %s: %s", flag, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (!from_stdin)
            fclose(f);
        return read_arg_error(err, SKH_EINVAL, path, "cannot read %s: %s", flag, strerror(EISDIR));
    }
    errno = 0;
    *out = read_stream(f, &len);
    int e = errno;
    int failed = !*out && ferror(f);
    if (!from_stdin)
        fclose(f);
    if (failed)
        return read_arg_error(err, SKH_EINVAL, path, "cannot read %s: %s", flag,
                              strerror(e ? e : EIO));
    if (!*out)
        return read_arg_error(err, SKH_ENOMEM, flag, "out of memory");
    if (skh_text_check(path, *out, len, err)) {
        snprintf(err->what, sizeof err->what, "%s %s", flag, arg);
        free(*out);
        *out = NULL;
        return err->code;
    }
    return 0;
}
