/*
 * External-command skills (DESIGN §3.3): impl = "exec:PROGRAM ARGS...".
 *
 * The protocol a program follows:
 *   - stdin:  the call's input, JSON text, then end of file;
 *   - stdout: on exit status 0, exactly one JSON object (the output); on a
 *             non-zero status it may hold {"error": {"category": "...",
 *             "message": "..."}} to pick the error category itself;
 *   - stderr: lines that are JSON objects with a string "step" are
 *             breadcrumbs, in order; any other line is logged (info) and the
 *             last one is quoted in the error message;
 *   - environment: the host's, plus SKILLHOST_ATTEMPT (1-based),
 *             SKILLHOST_CONTENT (the variant's content; left unset when it is
 *             longer than 64 KiB, because one environment string may not
 *             exceed 128 KiB on Linux and big content belongs in a file),
 *             SKILLHOST_PATTERNS (JSON array), SKILLHOST_SKILL_NAME and
 *             SKILLHOST_CONTEXT (the request context, a JSON object: "session",
 *             "phase", "query", "tenant"..., "{}" when none);
 *   - limits: the whole process group is killed with SIGKILL after the
 *             timeout (TIMEOUT) or when stdout passes plugins.output_max_bytes
 *             (16 MiB by default; CRASH).
 *
 * The command line is split into words without a shell; the program runs in
 * its own process group with only its three pipes open.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "call.h"
#include "error.h"
#include "loader.h"
#include "proc.h"
#include "trust.h"

#define EXEC_PREFIX "exec:"
#define EXEC_STDERR_TAIL 4096u
/* Longer stderr lines are cut: they are never breadcrumbs and only the tail is kept. */
#define EXEC_STDERR_LINE_MAX (64u * 1024u)
#define EXEC_CONTENT_ENV_MAX (64u * 1024u)
#define EXEC_NAME_MAX 64

/*
 * Exit status → error category, for programs that exit non-zero without an
 * {"error": {...}} object on stdout.  The codes follow sysexits.h, timeout(1)
 * and the shell; docs/plugins.md carries a copy of this table.
 *
 *   status  meaning                         category
 *   64      EX_USAGE                        validation
 *   65      EX_DATAERR                      validation
 *   66      EX_NOINPUT                      not_found
 *   68      EX_NOHOST                       network
 *   69      EX_UNAVAILABLE                  unavailable
 *   75      EX_TEMPFAIL                     unavailable
 *   77      EX_NOPERM                       authentication
 *   124     timeout(1) gave up              timeout
 *   126     found but not executable        internal
 *   127     command not found               not_found
 *   other   any other non-zero status       crash
 *   signal  killed by a signal              crash
 *
 * Host-side limits: the timeout → timeout, stdout over plugins.output_max_bytes → crash,
 * exit 0 with stdout that is not one JSON object → crash.
 */
static const struct {
    int status;
    int category;
} exit_categories[] = {
    {64, SKH_ERR_VALIDATION},     {65, SKH_ERR_VALIDATION},  {66, SKH_ERR_NOT_FOUND},
    {68, SKH_ERR_NETWORK},        {69, SKH_ERR_UNAVAILABLE}, {75, SKH_ERR_UNAVAILABLE},
    {77, SKH_ERR_AUTHENTICATION}, {124, SKH_ERR_TIMEOUT},    {126, SKH_ERR_INTERNAL},
    {127, SKH_ERR_NOT_FOUND},
};

typedef struct exec_impl {
    char **argv; /* the words, NULL-terminated; argv[0] is PROGRAM as written */
    size_t argc;
    char *program; /* the resolved file handed to execve */
    int timeout_ms;
    size_t output_max; /* stdout past this many bytes kills the program (CRASH) */
} exec_impl;

/* A growable byte buffer that stays NUL-terminated. */
typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void free_words(char **words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(words[i]);
    free(words);
}

/* ---- parsing the command line ------------------------------------------- */

/*
 * Shell-like word splitting without a shell: no expansion of any kind, so a
 * command line means the same thing wherever it is stored.  Columns in
 * messages count from 1 in the command line as given (base = offset of line).
 */
static int split_words(const char *cmdline, size_t base, char ***out, size_t *count, skh_error *err)
{
    const char *line = cmdline + base;
    char **words = NULL;
    size_t n = 0, cap = 0, i = 0;
    buf w = {0};
    int rc = SKH_OK;

    for (;;) {
        while (line[i] && isspace((unsigned char)line[i]))
            i++;
        if (!line[i])
            break;
        w.len = 0;
        if (buf_add(&w, "", 0) < 0)
            goto oom;
        while (line[i] && !isspace((unsigned char)line[i])) {
            char c = line[i];
            size_t open = i;
            if (c == '\'' || c == '"') {
                for (i++; line[i] && line[i] != c; i++) {
                    if (c == '"' && line[i] == '\\' && (line[i + 1] == '"' || line[i + 1] == '\\'))
                        i++;
                    if (buf_add(&w, &line[i], 1) < 0)
                        goto oom;
                }
                if (!line[i]) {
                    rc = error_set(err, SKH_EINVAL, cmdline,
                                   "exec: unterminated %s quote opened at column %zu",
                                   c == '"' ? "double" : "single", base + open + 1);
                    goto fail;
                }
                i++;
            } else if (c == '\\') {
                if (!line[i + 1]) {
                    rc = error_set(err, SKH_EINVAL, cmdline,
                                   "exec: backslash at column %zu escapes nothing", base + i + 1);
                    goto fail;
                }
                if (buf_add(&w, &line[i + 1], 1) < 0)
                    goto oom;
                i += 2;
            } else {
                if (buf_add(&w, &c, 1) < 0)
                    goto oom;
                i++;
            }
        }
        if (n + 2 > cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **grown = realloc(words, ncap * sizeof *grown);
            if (!grown)
                goto oom;
            words = grown;
            cap = ncap;
        }
        words[n++] = w.data;
        words[n] = NULL;
        w = (buf){0};
    }
    free(w.data);
    if (n == 0) {
        free(words);
        return error_set(err, SKH_EINVAL, cmdline, "exec: no program named");
    }
    *out = words;
    *count = n;
    return SKH_OK;
oom:
    rc = error_set(err, SKH_ENOMEM, cmdline, "out of memory");
fail:
    free(w.data);
    free_words(words, n);
    return rc;
}

/* PROGRAM with a '/' names a file; a bare name is searched in $PATH as execvp would. */
static int resolve_program(const char *cmdline, const char *word, char **out, skh_error *err)
{
    char *found = NULL;
    if (strchr(word, '/')) {
        struct stat st;
        if (stat(word, &st) != 0)
            return error_set(err,
                             (errno == ENOENT || errno == ENOTDIR) ? SKH_ENOTFOUND : SKH_EPLUGIN,
                             cmdline, "exec: %s: %s", word, strerror(errno));
        if (!S_ISREG(st.st_mode))
            return error_set(err, SKH_EPLUGIN, cmdline, "exec: %s: not a regular file", word);
        if (access(word, X_OK) != 0)
            return error_set(err, SKH_EPLUGIN, cmdline, "exec: %s: not executable (%s)", word,
                             strerror(errno));
        found = realpath(word, NULL);
        if (!found)
            return error_set(err, SKH_EPLUGIN, cmdline, "exec: %s: %s", word, strerror(errno));
        *out = found;
        return SKH_OK;
    }

    char *cand = NULL;
    if (proc_search_path(word, &cand) == ENOMEM)
        return error_set(err, SKH_ENOMEM, cmdline, "out of memory");
    if (cand)
        found = realpath(cand, NULL);
    free(cand);
    if (!found)
        return error_set(err, SKH_ENOTFOUND, cmdline, "exec: %s: not found in PATH", word);
    *out = found;
    return SKH_OK;
}

/*
 * What the registry pins: the program, and every argument that names a
 * regular file, so editing a script run by an interpreter ("python3
 * skill.py") is noticed as well as replacing the interpreter.
 */
static int exec_fingerprint(const char *cmdline, const exec_impl *impl, char hex[65],
                            skh_error *err)
{
    char one[65];
    buf text = {0};
    int rc = sha256_file(impl->program, one, err);
    if (rc != SKH_OK)
        return rc;
    if (buf_add(&text, one, 64) < 0 || buf_add(&text, "\n", 1) < 0)
        goto oom;
    for (size_t i = 1; i < impl->argc; i++) {
        struct stat st;
        if (stat(impl->argv[i], &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        rc = sha256_file(impl->argv[i], one, err);
        if (rc != SKH_OK) {
            free(text.data);
            return rc;
        }
        if (buf_add(&text, one, 64) < 0 || buf_add(&text, "\n", 1) < 0)
            goto oom;
    }
    sha256_hex(text.data, text.len, hex);
    free(text.data);
    return SKH_OK;
oom:
    free(text.data);
    return error_set(err, SKH_ENOMEM, cmdline, "out of memory");
}

/* "my-skill.py" → "my_skill_py": a valid plugin name from any file name. */
static void exec_name(const char *word, char name[EXEC_NAME_MAX + 1])
{
    const char *slash = strrchr(word, '/');
    const char *base = slash ? slash + 1 : word;
    size_t n = 0;
    for (; base[n] && n < EXEC_NAME_MAX; n++) {
        char c = (char)tolower((unsigned char)base[n]);
        name[n] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') ? c : '_';
    }
    name[n] = '\0';
}

/* ---- running one call ----------------------------------------------------- */

typedef struct exec_run {
    skh_call *call;
    size_t out_max;
    buf out;
    buf line;                    /* the stderr line being read */
    int line_cut;                /* the line passed EXEC_STDERR_LINE_MAX; the rest is dropped */
    char tail[EXEC_STDERR_TAIL]; /* last bytes of non-breadcrumb stderr, lines end in '\n' */
    size_t tail_len;
    int oom;
} exec_run;

static void tail_add(exec_run *r, const char *s, size_t n)
{
    if (n + 1 >= EXEC_STDERR_TAIL) {
        s += n - (EXEC_STDERR_TAIL - 1);
        n = EXEC_STDERR_TAIL - 1;
        r->tail_len = 0;
    } else if (r->tail_len + n + 1 > EXEC_STDERR_TAIL) {
        size_t drop = r->tail_len + n + 1 - EXEC_STDERR_TAIL;
        memmove(r->tail, r->tail + drop, r->tail_len - drop);
        r->tail_len -= drop;
    }
    memcpy(r->tail + r->tail_len, s, n);
    r->tail_len += n;
    r->tail[r->tail_len++] = '\n';
}

/* The last line the program wrote to stderr that was not a breadcrumb, or "". */
static void tail_last_line(const exec_run *r, char out[EXEC_STDERR_TAIL])
{
    size_t end = r->tail_len ? r->tail_len - 1 : 0, start = end;
    while (start > 0 && r->tail[start - 1] != '\n')
        start--;
    memcpy(out, r->tail + start, end - start);
    out[end - start] = '\0';
}

static void stderr_line(exec_run *r)
{
    skh_call *call = r->call;
    char *s = r->line.data;
    size_t n = r->line.len;
    if (!s)
        return;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    if (n == 0)
        return;
    if (s[0] == '{' && !r->line_cut) {
        json_t *o = json_loadb(s, n, 0, NULL);
        const char *step = json_string_value(json_object_get(o, "step"));
        if (step) {
            if (call_step(call, step) != SKH_PLUGIN_OK)
                call_log(call, SKH_LOG_WARN, "breadcrumb \"%.200s\" not recorded", step);
            json_decref(o);
            return;
        }
        json_decref(o);
    }
    call_log(call, SKH_LOG_INFO, "%s%s", s, r->line_cut ? " [line cut]" : "");
    tail_add(r, s, n);
}

/* proc_sink for stderr: split into lines, each a breadcrumb or a log line. */
static int stderr_bytes(void *arg, const char *s, size_t n)
{
    exec_run *r = arg;
    while (n > 0) {
        const char *nl = memchr(s, '\n', n);
        size_t take = nl ? (size_t)(nl - s) : n;
        size_t room = EXEC_STDERR_LINE_MAX - r->line.len;
        if (take > room)
            r->line_cut = 1;
        if (buf_add(&r->line, s, take < room ? take : room) < 0)
            r->oom = 1;
        if (nl) {
            stderr_line(r);
            r->line.len = 0;
            r->line_cut = 0;
            take++;
        }
        s += take;
        n -= take;
    }
    return 0;
}

/* proc_sink for stdout: kept whole, up to the output cap; past it the program is killed. */
static int stdout_bytes(void *arg, const char *s, size_t n)
{
    exec_run *r = arg;
    if (r->out.len + n > r->out_max)
        return 1;
    if (buf_add(&r->out, s, n) < 0) {
        r->oom = 1;
        return 1;
    }
    return 0;
}

/*
 * The host's environment minus any SKILLHOST_* variable we set, plus ours:
 * a stale SKILLHOST_CONTENT from the caller must not pass for the variant's.
 */
static char **build_env(const plugin *p, const skh_call *call, char *own[5], skh_error *err)
{
    static const char *const ours[] = {
        "SKILLHOST_ATTEMPT=", "SKILLHOST_CONTENT=", "SKILLHOST_PATTERNS=", "SKILLHOST_SKILL_NAME=",
        "SKILLHOST_CONTEXT="};
    int ok = asprintf(&own[0], "SKILLHOST_ATTEMPT=%u", call->attempt) >= 0;
    ok = ok && asprintf(&own[1], "SKILLHOST_PATTERNS=%s", call->patterns) >= 0;
    ok = ok && asprintf(&own[2], "SKILLHOST_SKILL_NAME=%s", p->name) >= 0;
    if (ok && strlen(call->content) <= EXEC_CONTENT_ENV_MAX)
        ok = asprintf(&own[3], "SKILLHOST_CONTENT=%s", call->content) >= 0;
    /* The request's context, as skh_context() gives it; the caller's own is never passed on. */
    const char *context = call->context ? call->context : "{}";
    if (ok && strlen(context) <= EXEC_CONTENT_ENV_MAX)
        ok = asprintf(&own[4], "SKILLHOST_CONTEXT=%s", context) >= 0;
    char **envp = ok ? proc_env(ours, 5, own, 5) : NULL;
    if (!envp)
        error_set(err, SKH_ENOMEM, p->path, "out of memory");
    return envp;
}

static void fail_fmt(skh_call *call, int category, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_fmt(skh_call *call, int category, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    call_fail(call, category, msg ? msg : "out of memory describing the failure");
    free(msg);
}

static int exit_category(int status)
{
    for (size_t i = 0; i < sizeof exit_categories / sizeof exit_categories[0]; i++)
        if (exit_categories[i].status == status)
            return exit_categories[i].category;
    return SKH_ERR_CRASH;
}

/*
 * Hand the program's own text over (trimmed), not a re-serialisation:
 * jansson would print 0.1 as 0.10000000000000001.
 */
static void output_trimmed(exec_run *r, skh_call *call)
{
    char *s = r->out.data;
    size_t start = 0, end = r->out.len;
    while (start < end && isspace((unsigned char)s[start]))
        start++;
    while (end > start && isspace((unsigned char)s[end - 1]))
        end--;
    memmove(s, s + start, end - start);
    s[end - start] = '\0';
    r->out.data = NULL;
    call_output_take(call, s);
}

/* Turn how the program ended into an output or a categorised failure. */
static void judge(const exec_impl *impl, const proc_result *pr, exec_run *r, skh_call *call)
{
    const char *prog = impl->argv[0];
    char last[EXEC_STDERR_TAIL];
    tail_last_line(r, last);
    const char *sep = last[0] ? ": " : "";
    json_error_t jerr;

    if (r->oom) {
        fail_fmt(call, SKH_ERR_INTERNAL, "exec: %s: out of memory reading its output", prog);
    } else if (pr->killed == PROC_KILLED_TIMEOUT) {
        fail_fmt(call, SKH_ERR_TIMEOUT, "exec: %s: killed after %d ms", prog, impl->timeout_ms);
    } else if (pr->killed == PROC_KILLED_BY_SINK) {
        fail_fmt(call, SKH_ERR_CRASH,
                 "exec: %s: output larger than the limit of %zu bytes (plugins.output_max_bytes)",
                 prog, impl->output_max);
    } else if (pr->reaped < 0) {
        fail_fmt(call, SKH_ERR_INTERNAL, "exec: %s: exit status lost (is SIGCHLD ignored?)", prog);
    } else if (WIFSIGNALED(pr->status)) {
        int sig = WTERMSIG(pr->status);
        fail_fmt(call, SKH_ERR_CRASH, "exec: %s killed by signal %d (%s)%s%s", prog, sig,
                 strsignal(sig), sep, last);
    } else if (WEXITSTATUS(pr->status) == 0) {
        json_t *o = json_loadb(r->out.data ? r->out.data : "", r->out.len, 0, &jerr);
        if (!o)
            fail_fmt(call, SKH_ERR_CRASH, "exec: %s: stdout is not JSON: line %d, column %d: %s",
                     prog, jerr.line, jerr.column, jerr.text);
        else if (!json_is_object(o))
            fail_fmt(call, SKH_ERR_CRASH, "exec: %s: stdout is JSON but not an object", prog);
        else if (memchr(r->out.data, '\0', r->out.len))
            fail_fmt(call, SKH_ERR_CRASH, "exec: %s: stdout holds a NUL byte", prog);
        else
            output_trimmed(r, call);
        json_decref(o);
    } else {
        int code = WEXITSTATUS(pr->status);
        json_t *o = json_loadb(r->out.data ? r->out.data : "", r->out.len, 0, NULL);
        json_t *e = json_object_get(o, "error");
        const char *cat = json_string_value(json_object_get(e, "category"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (cat) {
            int c = skh_category_from_name(cat);
            if (c <= SKH_ERR_NONE)
                fail_fmt(call, SKH_ERR_INTERNAL,
                         "exec: %s exited with status %d and unknown error category \"%s\": %s",
                         prog, code, cat, msg ? msg : last);
            else if (msg && *msg)
                call_fail(call, c, msg);
            else
                fail_fmt(call, c, "exec: %s exited with status %d%s%s", prog, code, sep, last);
        } else {
            fail_fmt(call, exit_category(code), "exec: %s exited with status %d%s%s", prog, code,
                     sep, last);
        }
        json_decref(o);
    }
}

static int exec_invoke(plugin *p, const char *fn, skh_call *call, skh_error *err)
{
    exec_impl *impl = p->impl;
    if (!fn || strcmp(fn, "execute") != 0)
        return error_set(err, SKH_EPLUGIN, p->path, "exec skill %s has no %s callback", p->name,
                         fn ? fn : "(null)");

    char *own[5] = {NULL, NULL, NULL, NULL, NULL};
    char **envp = build_env(p, call, own, err);
    if (!envp) {
        for (int i = 0; i < 5; i++)
            free(own[i]);
        return SKH_ENOMEM;
    }
    if (strlen(call->content) > EXEC_CONTENT_ENV_MAX)
        call_log(call, SKH_LOG_WARN,
                 "content is %zu bytes; SKILLHOST_CONTENT left unset (limit %u)",
                 strlen(call->content), EXEC_CONTENT_ENV_MAX);

    exec_run r = {.call = call, .out_max = impl->output_max};
    proc_options po = {.program = impl->program,
                       .argv = impl->argv,
                       .envp = envp,
                       .input = call->input,
                       .input_len = strlen(call->input),
                       .timeout_ms = impl->timeout_ms,
                       .on_stdout = stdout_bytes,
                       .on_stderr = stderr_bytes,
                       .arg = &r,
                       /* The direct child's exit ends the call, whatever it left running. */
                       .until_exit = 1};
    proc_result pr;
    int e = proc_run(&po, &pr);
    if (e) {
        fail_fmt(call, e == ENOENT ? SKH_ERR_NOT_FOUND : SKH_ERR_INTERNAL,
                 "exec: %s: cannot execute: %s", impl->argv[0], strerror(e));
    } else {
        if (r.line.len > 0)
            stderr_line(&r); /* a last line without a newline */
        judge(impl, &pr, &r, call);
    }

    free(r.out.data);
    free(r.line.data);
    for (int i = 0; i < 5; i++)
        free(own[i]);
    free(envp);
    return SKH_OK;
}

static int exec_has(const plugin *p, const char *fn)
{
    (void)p;
    return fn && strcmp(fn, "execute") == 0;
}

static void exec_close(plugin *p)
{
    if (!p)
        return;
    exec_impl *impl = p->impl;
    if (impl) {
        free_words(impl->argv, impl->argc);
        free(impl->program);
        free(impl);
    }
    plugin_free_common(p);
    free(p);
}

static const struct plugin_ops exec_ops = {
    .invoke = exec_invoke,
    .has = exec_has,
    .close = exec_close,
};

int plugin_exec_load(const char *cmdline, const plugin_limits *lim, plugin **out, skh_error *err)
{
    *out = NULL;
    if (!cmdline)
        return error_set(err, SKH_EINVAL, "impl", "exec: no command line");
    size_t base = strncmp(cmdline, EXEC_PREFIX, strlen(EXEC_PREFIX)) == 0 ? strlen(EXEC_PREFIX) : 0;

    plugin *p = calloc(1, sizeof *p);
    exec_impl *impl = calloc(1, sizeof *impl);
    if (!p || !impl) {
        free(p);
        free(impl);
        return error_set(err, SKH_ENOMEM, cmdline, "out of memory");
    }
    p->ops = &exec_ops;
    p->impl = impl;
    impl->timeout_ms =
        lim && lim->exec_timeout_ms > 0 ? lim->exec_timeout_ms : PLUGIN_DEFAULT_EXEC_TIMEOUT_MS;
    impl->output_max = lim && lim->output_max ? lim->output_max : PLUGIN_DEFAULT_OUTPUT_MAX;

    char name[EXEC_NAME_MAX + 1];
    int rc = split_words(cmdline, base, &impl->argv, &impl->argc, err);
    if (rc == SKH_OK)
        rc = resolve_program(cmdline, impl->argv[0], &impl->program, err);
    if (rc == SKH_OK && lim && lim->check_trust)
        rc = trust_check(impl->program, err);
    if (rc == SKH_OK)
        rc = exec_fingerprint(cmdline, impl, p->sha256, err);
    if (rc == SKH_OK) {
        exec_name(impl->argv[0], name);
        if (!name_is_valid(name))
            rc = error_set(err, SKH_EINVAL, cmdline, "exec: %s: no usable name in it",
                           impl->argv[0]);
    }
    if (rc == SKH_OK)
        rc = plugin_fill_common(p, cmdline, SKH_KIND_SKILL, name, "exec", cmdline, "", err);
    if (rc != SKH_OK) {
        exec_close(p);
        return rc;
    }
    *out = p;
    return SKH_OK;
}

/*
 * What exec: does to a command line before anything runs -- split it,
 * resolve the program, check its trust, pin it and its file arguments --
 * for the other kinds that run a command (mcp:).  On SKH_OK the caller owns
 * *argv (exec_words_free) and *program.
 */
int exec_command_parse(const char *cmdline, size_t base, const plugin_limits *lim, char ***argv,
                       size_t *argc, char **program, char sha256[65], skh_error *err)
{
    exec_impl impl = {0};
    int rc = split_words(cmdline, base, &impl.argv, &impl.argc, err);
    if (rc == SKH_OK)
        rc = resolve_program(cmdline, impl.argv[0], &impl.program, err);
    if (rc == SKH_OK && lim && lim->check_trust)
        rc = trust_check(impl.program, err);
    if (rc == SKH_OK)
        rc = exec_fingerprint(cmdline, &impl, sha256, err);
    if (rc != SKH_OK) {
        if (impl.argv)
            free_words(impl.argv, impl.argc);
        free(impl.program);
        return rc;
    }
    *argv = impl.argv;
    *argc = impl.argc;
    *program = impl.program;
    return SKH_OK;
}

void exec_words_free(char **words, size_t n)
{
    if (words)
        free_words(words, n);
}
