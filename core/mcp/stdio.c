/*
 * MCP over stdio: newline-delimited JSON-RPC messages on stdin and stdout
 * (nothing else is ever written to stdout; diagnostics go to stderr).
 *
 * One host, warm for the life of the process.  A reader thread takes lines
 * off stdin so that a notifications/cancelled reaches the request it names
 * while that request runs; the main thread answers messages in order.
 * Between messages (and every second when idle) the tool list is compared
 * with the last one seen, and notifications/tools/list_changed is sent when
 * a promotion or rollback changed it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp.h"

#define STDIO_LINE_MAX (64u * 1024u * 1024u)

typedef struct line {
    char *text; /* NULL: a line too long (dropped), answered with an error */
    struct line *next;
} line;

typedef struct stdio_server {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    line *head, *tail;
    int eof;
    mcp_session session;
    pthread_mutex_t out_mu;
} stdio_server;

static int write_msg(stdio_server *sv, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text)
        return -1;
    pthread_mutex_lock(&sv->out_mu);
    int rc = fputs(text, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0 ? -1 : 0;
    pthread_mutex_unlock(&sv->out_mu);
    free(text);
    return rc;
}

static int sink_send(void *ud, const json_t *msg)
{
    return write_msg(ud, msg);
}

static void push_line(stdio_server *sv, char *text)
{
    line *l = calloc(1, sizeof *l);
    if (!l) {
        free(text);
        return;
    }
    l->text = text;
    pthread_mutex_lock(&sv->mu);
    if (sv->tail)
        sv->tail->next = l;
    else
        sv->head = l;
    sv->tail = l;
    pthread_cond_signal(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
}

/* The reader: lines off stdin; a cancellation is applied at once as well as queued. */
static void *reader(void *arg)
{
    stdio_server *sv = arg;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&buf, &cap, stdin)) >= 0) {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (n == 0)
            continue;
        if ((size_t)n > STDIO_LINE_MAX) {
            push_line(sv, NULL);
            continue;
        }
        json_t *msg = json_loadb(buf, (size_t)n, 0, NULL);
        if (msg)
            mcp_cancel_notification(&sv->session, msg);
        json_decref(msg);
        char *copy = strdup(buf);
        if (copy)
            push_line(sv, copy);
    }
    free(buf);
    pthread_mutex_lock(&sv->mu);
    sv->eof = 1;
    pthread_cond_signal(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    return NULL;
}

/* The next line, or NULL after a timeout (*got 0) or at end of input (*got -1). */
static line *next_line(stdio_server *sv, int *got)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&sv->mu);
    while (!sv->head && !sv->eof && !mcp_stopping)
        if (pthread_cond_timedwait(&sv->cv, &sv->mu, &until) == ETIMEDOUT)
            break;
    line *l = sv->head;
    if (l) {
        sv->head = l->next;
        if (!sv->head)
            sv->tail = NULL;
    }
    *got = l ? 1 : sv->eof || mcp_stopping ? -1 : 0;
    pthread_mutex_unlock(&sv->mu);
    return l;
}

static void answer_line(stdio_server *sv, skh_host *host, const char *text, const mcp_sink *sink)
{
    json_t *reply;
    if (!text) {
        reply =
            mcp_error(NULL, MCP_INVALID_REQUEST, "message longer than %u bytes", STDIO_LINE_MAX);
    } else {
        json_error_t jerr;
        json_t *msg = json_loads(text, 0, &jerr);
        if (!msg) {
            reply = mcp_error(NULL, MCP_PARSE_ERROR, "parse error: line %d, column %d: %s",
                              jerr.line, jerr.column, jerr.text);
        } else if (json_is_array(msg)) {
            /* A batch (2025-03-26): every request answered, in one array. */
            reply = json_array_size(msg) ? json_array()
                                         : mcp_error(NULL, MCP_INVALID_REQUEST, "empty batch");
            size_t i;
            json_t *m;
            json_array_foreach(msg, i, m)
            {
                json_t *r = mcp_handle(&sv->session, host, m, sink);
                if (r)
                    json_array_append_new(reply, r);
            }
            if (json_is_array(reply) && json_array_size(reply) == 0) {
                json_decref(reply);
                reply = NULL;
            }
        } else {
            reply = mcp_handle(&sv->session, host, msg, sink);
        }
        json_decref(msg);
    }
    if (reply)
        write_msg(sv, reply);
    json_decref(reply);
}

int mcp_serve_stdio(const mcp_options *o, skh_error *err)
{
    skh_host *host = o->host;
    if (!host) {
        int rc = mcp_open_host(o, &host, err);
        if (rc)
            return rc;
    }
    stdio_server sv;
    memset(&sv, 0, sizeof sv);
    pthread_mutex_init(&sv.mu, NULL);
    pthread_mutex_init(&sv.out_mu, NULL);
    pthread_cond_init(&sv.cv, NULL);
    mcp_session_init(&sv.session, "stdio");
    mcp_sink sink = {.send = sink_send, .ud = &sv};

    pthread_t th;
    if (pthread_create(&th, NULL, reader, &sv) != 0) {
        if (host != o->host)
            skh_host_close(host);
        mcp_session_destroy(&sv.session);
        return mcp_fail(err, SKH_ENOMEM, "mcp", "cannot start the stdin reader thread");
    }
    uint64_t tools = mcp_tools_fingerprint(host);
    struct timespec checked;
    clock_gettime(CLOCK_MONOTONIC, &checked);
    for (;;) {
        int got;
        line *l = next_line(&sv, &got);
        if (got < 0)
            break;
        if (l) {
            answer_line(&sv, host, l->text, &sink);
            free(l->text);
            free(l);
        }
        /* At most twice a second: a busy client must not pay a listing per call. */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - checked.tv_sec) * 1000 + (t.tv_nsec - checked.tv_nsec) / 1000000 <
            MCP_LIST_CHECK_MS)
            continue;
        checked = t;
        uint64_t now = mcp_tools_fingerprint(host);
        pthread_mutex_lock(&sv.session.mu);
        int ready = sv.session.protocol[0] != '\0';
        pthread_mutex_unlock(&sv.session.mu);
        if (now && now != tools && ready) {
            json_t *n = mcp_list_changed();
            write_msg(&sv, n);
            json_decref(n);
        }
        if (now)
            tools = now;
    }
    /* stdin closed (or a signal): the reader is done or blocked on a closed stream. */
    if (mcp_stopping)
        pthread_cancel(th);
    pthread_join(th, NULL);
    for (line *l = sv.head; l;) {
        line *next = l->next;
        free(l->text);
        free(l);
        l = next;
    }
    if (host != o->host)
        skh_host_close(host);
    mcp_session_destroy(&sv.session);
    pthread_cond_destroy(&sv.cv);
    pthread_mutex_destroy(&sv.mu);
    pthread_mutex_destroy(&sv.out_mu);
    return SKH_OK;
}
