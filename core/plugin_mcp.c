/*
 * MCP tools as skill implementations (DESIGN §3.6):
 * impl = "mcp:COMMAND ARGS#TOOL".
 *
 * COMMAND is an MCP server speaking stdio (newline-delimited JSON-RPC).  It
 * is handled as exec: handles its command (split without a shell, trust
 * checked, pinned with the files it names) and started at the first call,
 * in its own process group, with its stderr sent to /dev/null.  It is
 * initialised once and kept warm for the life of the plugin (the host's):
 * each attempt is one tools/call of TOOL with the input object as its
 * arguments.  A server that died is started again at the next call; at
 * close, or after a timeout, its whole process group is killed.
 *
 * Outcomes (docs/mcp.md):
 *   - result, isError false: the output is structuredContent when it is an
 *     object, else the one text block when it holds a JSON object, else
 *     {"content": [...], "text": "the text blocks joined"};
 *   - result, isError true: the category the tool states
 *     (_meta["skillhost/category"] or structuredContent.error.category),
 *     else validation for a text starting "MCP error -32602" (how the
 *     TypeScript SDK reports arguments its schema refused), else internal;
 *     the message is the text blocks;
 *   - a JSON-RPC error: -32602 -> validation, -32601 -> not_found, else
 *     internal;
 *   - no answer within the call's timeout -> timeout (the server is killed);
 *     the server exited or its pipes closed -> unavailable.
 * Breadcrumbs: the strings of _meta["skillhost/steps"], else of
 * structuredContent.steps, in order.  Log notifications the server sends
 * during the call become the plugin's log lines.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "call.h"
#include "error.h"
#include "loader.h"

#define MCP_PREFIX "mcp:"
#define MCP_LINE_MAX (16u * 1024u * 1024u)
#define MCP_PROTOCOL "2025-06-18"

typedef struct mcp_impl {
    char **argv;
    size_t argc;
    char *program;
    char *tool;
    int timeout_ms;
    pid_t pid; /* 0: not running */
    int to_fd, from_fd;
    char *buf; /* what was read and not yet taken as lines */
    size_t len, cap;
    long next_id;
} mcp_impl;

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static void fail_fmt(skh_call *call, int category, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_fmt(skh_call *call, int category, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    call_fail(call, category, msg);
}

/* ---- the server process ------------------------------------------------------ */

static void server_stop(mcp_impl *m)
{
    if (m->pid > 0) {
        kill(-m->pid, SIGKILL); /* the whole group: an npx or a shell leaves children */
        while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (m->to_fd >= 0)
        close(m->to_fd);
    if (m->from_fd >= 0)
        close(m->from_fd);
    m->pid = 0;
    m->to_fd = m->from_fd = -1;
    m->len = 0;
}

static int server_start(mcp_impl *m)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        int e = errno;
        if (in[0] >= 0) {
            close(in[0]);
            close(in[1]);
        }
        return e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    int e = posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    e = e ? e : posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    e = e ? e : posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    e = e ? e
          : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETSIGMASK);
    e = e ? e : posix_spawnattr_setpgroup(&at, 0);
    e = e ? e : posix_spawnattr_setsigdefault(&at, &all);
    e = e ? e : posix_spawnattr_setsigmask(&at, &none);
    extern char **environ;
    e = e ? e : posix_spawn(&m->pid, m->program, &fa, &at, m->argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (e) {
        close(in[1]);
        close(out[0]);
        m->pid = 0;
        return e;
    }
    m->to_fd = in[1];
    m->from_fd = out[0];
    m->len = 0;
    return 0;
}

/* Write all of s; SIGPIPE (the server is gone) is kept from the host. */
static int send_line(mcp_impl *m, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text)
        return ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n';
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    int e = 0;
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = write(m->to_fd, text + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : EPIPE;
            break;
        }
        off += (size_t)w;
    }
    if (!was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) >= 0 || errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    free(text);
    return e;
}

/* The next message from the server: 0 with *msg, ETIMEDOUT, EPIPE (closed) or ENOMEM. */
static int read_msg(mcp_impl *m, double deadline, json_t **msg)
{
    *msg = NULL;
    for (;;) {
        char *nl = m->len ? memchr(m->buf, '\n', m->len) : NULL;
        while (nl) {
            size_t n = (size_t)(nl - m->buf);
            json_t *j = json_loadb(m->buf, n, 0, NULL);
            memmove(m->buf, nl + 1, m->len - n - 1);
            m->len -= n + 1;
            if (j) { /* other lines (a server's stray prints) are skipped */
                *msg = j;
                return 0;
            }
            nl = m->len ? memchr(m->buf, '\n', m->len) : NULL;
        }
        double left = deadline - mono_ms();
        if (left <= 0)
            return ETIMEDOUT;
        struct pollfd pfd = {.fd = m->from_fd, .events = POLLIN};
        int r = poll(&pfd, 1, left > 1e6 ? 1000000 : (int)left + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            continue;
        if (m->len + 65536 > m->cap) {
            if (m->cap >= MCP_LINE_MAX)
                return EPIPE; /* a line past 16 MiB: treat the server as broken */
            size_t cap = m->cap ? m->cap * 2 : 65536;
            char *grown = realloc(m->buf, cap);
            if (!grown)
                return ENOMEM;
            m->buf = grown;
            m->cap = cap;
        }
        ssize_t got = read(m->from_fd, m->buf + m->len, m->cap - m->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return EPIPE;
        m->len += (size_t)got;
    }
}

/*
 * Send a request and wait for its response, answering what the server asks
 * meanwhile (method not found: a skill cannot sample or elicit) and handing
 * its log notifications to call.  0 with *resp, or an errno value.
 */
static int request(mcp_impl *m, skh_call *call, const char *method, json_t *params, double deadline,
                   json_t **resp)
{
    long id = ++m->next_id;
    json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id,
                            "method", method, "params", params ? params : json_object());
    int e = req ? send_line(m, req) : ENOMEM;
    json_decref(req);
    while (!e) {
        json_t *msg;
        if ((e = read_msg(m, deadline, &msg)) != 0)
            break;
        const json_t *mid = json_object_get(msg, "id");
        const char *mm = json_string_value(json_object_get(msg, "method"));
        if (!mm && json_is_integer(mid) && json_integer_value(mid) == id) {
            *resp = msg;
            return 0;
        }
        if (mm && mid) {
            json_t *no = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", mid, "error",
                                   "code", -32601, "message", "not supported by skillhost");
            if (no)
                send_line(m, no);
            json_decref(no);
        } else if (mm && call && strcmp(mm, "notifications/message") == 0) {
            const json_t *p = json_object_get(msg, "params");
            const char *level = json_string_value(json_object_get(p, "level"));
            const json_t *data = json_object_get(p, "data");
            char *text = json_is_string(data) ? strdup(json_string_value(data))
                                              : json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
            int lv = !level                                                       ? SKH_LOG_INFO
                     : strcmp(level, "debug") == 0                                ? SKH_LOG_DEBUG
                     : strcmp(level, "info") == 0 || strcmp(level, "notice") == 0 ? SKH_LOG_INFO
                     : strcmp(level, "warning") == 0                              ? SKH_LOG_WARN
                                                                                  : SKH_LOG_ERROR;
            call_log(call, lv, "%s", text ? text : "");
            free(text);
        }
        json_decref(msg);
    }
    return e;
}

/* Start the server if it is not running (or died) and initialise it. */
static int ensure_server(mcp_impl *m, skh_call *call, double deadline)
{
    if (m->pid > 0) {
        int status;
        pid_t r = waitpid(m->pid, &status, WNOHANG);
        if (r == 0)
            return 0;
        if (r == m->pid)
            m->pid = 0; /* reaped: do not kill a group that is gone */
        server_stop(m);
        call_log(call, SKH_LOG_WARN, "mcp: %s: the server had exited; starting it again",
                 m->argv[0]);
    }
    int e = server_start(m);
    if (e)
        return e;
    json_t *resp = NULL;
    e = request(m, call, "initialize",
                json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", MCP_PROTOCOL,
                          "capabilities", "clientInfo", "name", "skillhost", "version",
                          SKH_VERSION_STRING),
                deadline, &resp);
    if (!e && !json_object_get(resp, "result"))
        e = EPROTO;
    json_decref(resp);
    json_t *note =
        e ? NULL : json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    if (note)
        e = send_line(m, note);
    json_decref(note);
    if (e)
        server_stop(m);
    return e;
}

/* ---- one call ------------------------------------------------------------------ */

/* The text blocks of a result, joined by newlines (malloc'd, maybe ""). */
static char *joined_text(const json_t *content)
{
    size_t i, n = 0;
    json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *t = json_string_value(json_object_get(b, "text"));
        n += t ? strlen(t) + 1 : 0;
    }
    char *s = calloc(1, n + 1), *p = s;
    json_array_foreach(content, i, b)
    {
        const char *t = json_string_value(json_object_get(b, "text"));
        if (s && t)
            p += sprintf(p, "%s%s", p == s ? "" : "\n", t);
    }
    return s;
}

static void report_steps(skh_call *call, const json_t *result)
{
    const json_t *steps = json_object_get(json_object_get(result, "_meta"), "skillhost/steps");
    if (!json_is_array(steps))
        steps = json_object_get(json_object_get(result, "structuredContent"), "steps");
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s)
    {
        if (json_is_string(s))
            call_step(call, json_string_value(s));
    }
}

static void judge_result(const mcp_impl *m, const json_t *result, skh_call *call)
{
    const json_t *content = json_object_get(result, "content");
    const json_t *sc = json_object_get(result, "structuredContent");
    char *text = joined_text(content);
    report_steps(call, result);
    if (json_is_true(json_object_get(result, "isError"))) {
        const char *cat = json_string_value(
            json_object_get(json_object_get(result, "_meta"), "skillhost/category"));
        if (!cat)
            cat = json_string_value(json_object_get(json_object_get(sc, "error"), "category"));
        int c = cat ? skh_category_from_name(cat) : -1;
        /* The TypeScript SDK reports arguments its schema refused as an isError result. */
        if (!cat && text && strncmp(text, "MCP error -32602", 16) == 0)
            c = SKH_ERR_VALIDATION;
        fail_fmt(call, c > SKH_ERR_NONE ? c : SKH_ERR_INTERNAL, "mcp: %s: %s", m->tool,
                 text && *text ? text : "the tool reported an error");
        free(text);
        return;
    }
    json_t *out = NULL;
    if (json_is_object(sc)) {
        out = json_incref((json_t *)sc);
    } else if (text) {
        json_t *j = json_loads(text, 0, NULL);
        if (json_is_object(j))
            out = j;
        else
            json_decref(j);
    }
    if (!out)
        out = json_pack("{s:O, s:s}", "content", content ? content : json_array(), "text",
                        text ? text : "");
    char *dumped = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(out);
    free(text);
    if (dumped)
        call_output_take(call, dumped);
    else
        call_fail(call, SKH_ERR_INTERNAL, "out of memory");
}

static int mcp_invoke(plugin *p, const char *fn, skh_call *call, skh_error *err)
{
    mcp_impl *m = p->impl;
    if (!fn || strcmp(fn, "execute") != 0)
        return error_set(err, SKH_EPLUGIN, p->path, "mcp skill %s has no %s callback", p->name,
                         fn ? fn : "(null)");
    double deadline = mono_ms() + m->timeout_ms;
    json_t *args = json_loads(call->input, 0, NULL);
    if (!json_is_object(args)) {
        json_decref(args);
        fail_fmt(call, SKH_ERR_VALIDATION, "mcp: %s: the input is not a JSON object", m->tool);
        return SKH_OK;
    }
    int e = ensure_server(m, call, deadline);
    if (e) {
        json_decref(args);
        fail_fmt(call, e == ETIMEDOUT ? SKH_ERR_TIMEOUT : SKH_ERR_UNAVAILABLE,
                 "mcp: %s: the server did not start: %s", m->argv[0],
                 e == ETIMEDOUT ? "no answer to initialize in time" : strerror(e));
        return SKH_OK;
    }
    json_t *resp = NULL;
    e = request(m, call, "tools/call", json_pack("{s:s, s:o}", "name", m->tool, "arguments", args),
                deadline, &resp);
    if (e == ETIMEDOUT) {
        server_stop(m); /* its answer may still come: start clean next time */
        fail_fmt(call, SKH_ERR_TIMEOUT, "mcp: %s: no answer within %d ms", m->tool, m->timeout_ms);
    } else if (e) {
        server_stop(m);
        fail_fmt(call, SKH_ERR_UNAVAILABLE, "mcp: %s: the server went away (%s)", m->argv[0],
                 strerror(e));
    } else if (json_object_get(resp, "error")) {
        const json_t *er = json_object_get(resp, "error");
        json_int_t code = json_integer_value(json_object_get(er, "code"));
        const char *msg = json_string_value(json_object_get(er, "message"));
        fail_fmt(call,
                 code == -32602   ? SKH_ERR_VALIDATION
                 : code == -32601 ? SKH_ERR_NOT_FOUND
                                  : SKH_ERR_INTERNAL,
                 "mcp: %s: JSON-RPC error %lld: %s", m->tool, (long long)code, msg ? msg : "");
    } else {
        judge_result(m, json_object_get(resp, "result"), call);
    }
    json_decref(resp);
    return SKH_OK;
}

static int mcp_has(const plugin *p, const char *fn)
{
    (void)p;
    return fn && strcmp(fn, "execute") == 0;
}

static void mcp_close(plugin *p)
{
    if (!p)
        return;
    mcp_impl *m = p->impl;
    if (m) {
        server_stop(m);
        exec_words_free(m->argv, m->argc);
        free(m->program);
        free(m->tool);
        free(m->buf);
        free(m);
    }
    plugin_free_common(p);
    free(p);
}

static const struct plugin_ops mcp_ops = {
    .invoke = mcp_invoke,
    .has = mcp_has,
    .close = mcp_close,
};

int plugin_mcp_load(const char *impl, const plugin_limits *lim, plugin **out, skh_error *err)
{
    *out = NULL;
    const char *hash = strrchr(impl, '#');
    if (strncmp(impl, MCP_PREFIX, strlen(MCP_PREFIX)) != 0 || !hash || !hash[1])
        return error_set(err, SKH_EINVAL, impl, "expected mcp:COMMAND ARGS#TOOL");
    plugin *p = calloc(1, sizeof *p);
    mcp_impl *m = calloc(1, sizeof *m);
    char *cmd = strndup(impl, (size_t)(hash - impl));
    if (!p || !m || !cmd) {
        free(p);
        free(m);
        free(cmd);
        return error_set(err, SKH_ENOMEM, impl, "out of memory");
    }
    p->ops = &mcp_ops;
    p->impl = m;
    m->to_fd = m->from_fd = -1;
    m->timeout_ms =
        lim && lim->exec_timeout_ms > 0 ? lim->exec_timeout_ms : PLUGIN_DEFAULT_EXEC_TIMEOUT_MS;
    m->tool = strdup(hash + 1);
    int rc = m->tool ? SKH_OK : error_set(err, SKH_ENOMEM, impl, "out of memory");
    if (rc == SKH_OK)
        rc = exec_command_parse(cmd, strlen(MCP_PREFIX), lim, &m->argv, &m->argc, &m->program,
                                p->sha256, err);
    free(cmd);
    char name[65];
    size_t n = 0;
    for (const char *t = m->tool ? m->tool : ""; *t && n < 64; t++) {
        char c = *t >= 'A' && *t <= 'Z' ? (char)(*t - 'A' + 'a') : *t;
        name[n++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '_';
    }
    name[n] = '\0';
    if (rc == SKH_OK && !name_is_valid(name))
        rc = error_set(err, SKH_EINVAL, impl, "mcp: tool '%s' gives no usable name", m->tool);
    if (rc == SKH_OK)
        rc = plugin_fill_common(p, impl, SKH_KIND_SKILL, name, "mcp", impl, "", err);
    if (rc != SKH_OK) {
        mcp_close(p);
        return rc;
    }
    *out = p;
    return SKH_OK;
}
