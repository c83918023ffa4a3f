/*
 * MCP over Streamable HTTP (revisions 2025-03-26 and later), on
 * libmicrohttpd: one endpoint; POST carries client messages and answers
 * with JSON, or with an SSE stream for a tools/call (its progress and log
 * notifications, then the response); GET opens a stream for
 * notifications/tools/list_changed; DELETE ends a session.
 *
 * Security (docs/mcp.md): the Host of a loopback-bound server must be a
 * loopback name and any Origin must be a loopback origin or one allowed by
 * --allow-origin (DNS-rebinding protection, 403 otherwise); with a token,
 * every request needs "Authorization: Bearer TOKEN" (401); a token is
 * required to bind off loopback; bodies past --max-body get 413.
 *
 * Threads: libmicrohttpd runs a thread per connection (at most
 * --max-clients).  A request borrows a host from a pool (one skh_host per
 * thread at a time, as host.h requires), and gives it back when answered.
 * An SSE answer is written by a thread of its own into a pipe that
 * libmicrohttpd streams to the client; a failed write (the client went
 * away) cancels the request.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "mcp.h"

#define MAX_SESSIONS 256
/*
 * A GET stream writes a comment this often: a client that went away is
 * noticed (and its connection freed) only when a write fails.
 */
#define KEEPALIVE_MS 1000
#define JSON_OUT_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

typedef struct http_session {
    mcp_session s;
    int refs;         /* requests using it; under server.mu */
    int closed;       /* DELETEd or evicted: streams end, new requests get 404 */
    double last_used; /* monotonic ms */
} http_session;

typedef struct server {
    const mcp_options *o;
    const char *endpoint;
    size_t max_body;
    int loopback; /* bound to a loopback address */
    pthread_mutex_t mu;
    pthread_cond_t idle;   /* signalled when workers drops */
    skh_host **free_hosts; /* the pool */
    size_t nfree, capfree;
    skh_host **all_hosts; /* every host opened, to close at the end */
    size_t nall, capall;
    http_session *sessions[MAX_SESSIONS];
    int workers; /* SSE threads running */
} server;

/* What one HTTP request accumulates between the access handler's calls. */
typedef struct request {
    char *body;
    size_t len, cap;
    int too_big;
} request;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* ---- the host pool ---------------------------------------------------------- */

static skh_host *host_checkout(server *sv, skh_error *err)
{
    pthread_mutex_lock(&sv->mu);
    skh_host *h = sv->nfree ? sv->free_hosts[--sv->nfree] : NULL;
    pthread_mutex_unlock(&sv->mu);
    if (h)
        return h;
    if (mcp_open_host(sv->o, &h, err) != SKH_OK)
        return NULL;
    pthread_mutex_lock(&sv->mu);
    int ok = 1;
    if (sv->nall == sv->capall) {
        size_t cap = sv->capall ? sv->capall * 2 : 8;
        skh_host **a = realloc(sv->all_hosts, cap * sizeof *a);
        skh_host **f = a ? realloc(sv->free_hosts, cap * sizeof *f) : NULL;
        if (a)
            sv->all_hosts = a;
        if (f) {
            sv->free_hosts = f;
            sv->capall = sv->capfree = cap;
        } else {
            ok = 0;
        }
    }
    if (ok)
        sv->all_hosts[sv->nall++] = h;
    pthread_mutex_unlock(&sv->mu);
    if (!ok) {
        skh_host_close(h);
        mcp_fail(err, SKH_ENOMEM, "mcp", "out of memory");
        return NULL;
    }
    return h;
}

static void host_checkin(server *sv, skh_host *h)
{
    pthread_mutex_lock(&sv->mu);
    sv->free_hosts[sv->nfree++] = h; /* capfree >= nall >= nfree + 1 */
    pthread_mutex_unlock(&sv->mu);
}

/* ---- sessions ------------------------------------------------------------------ */

static http_session *session_new(server *sv)
{
    http_session *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    mcp_session_init(&hs->s, "http");
    hs->refs = 1;
    hs->last_used = now_ms();
    pthread_mutex_lock(&sv->mu);
    int slot = -1, oldest = -1;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        http_session *o = sv->sessions[i];
        if (!o) {
            slot = i;
            break;
        }
        if (o->refs == 0 && (oldest < 0 || o->last_used < sv->sessions[oldest]->last_used))
            oldest = i;
    }
    if (slot < 0 && oldest >= 0) {
        /* Full: the session idle longest goes (its client gets 404 and initializes again). */
        mcp_session_destroy(&sv->sessions[oldest]->s);
        free(sv->sessions[oldest]);
        sv->sessions[oldest] = NULL;
        slot = oldest;
    }
    if (slot >= 0)
        sv->sessions[slot] = hs;
    pthread_mutex_unlock(&sv->mu);
    if (slot < 0) {
        mcp_session_destroy(&hs->s);
        free(hs);
        return NULL;
    }
    return hs;
}

/* The session called id, with a reference taken; NULL if there is none. */
static http_session *session_get(server *sv, const char *id)
{
    http_session *found = NULL;
    pthread_mutex_lock(&sv->mu);
    for (int i = 0; id && i < MAX_SESSIONS; i++) {
        http_session *hs = sv->sessions[i];
        if (hs && !hs->closed && strcmp(hs->s.id, id) == 0) {
            hs->refs++;
            hs->last_used = now_ms();
            found = hs;
            break;
        }
    }
    pthread_mutex_unlock(&sv->mu);
    return found;
}

static void session_put(server *sv, http_session *hs)
{
    pthread_mutex_lock(&sv->mu);
    hs->refs--;
    if (hs->refs == 0 && hs->closed) {
        for (int i = 0; i < MAX_SESSIONS; i++)
            if (sv->sessions[i] == hs)
                sv->sessions[i] = NULL;
        mcp_session_destroy(&hs->s);
        free(hs);
    }
    pthread_mutex_unlock(&sv->mu);
}

static void session_close(server *sv, http_session *hs)
{
    pthread_mutex_lock(&sv->mu);
    hs->closed = 1;
    pthread_mutex_unlock(&sv->mu);
}

/* ---- responses ---------------------------------------------------------------- */

static enum MHD_Result respond_text(struct MHD_Connection *con, unsigned status, const char *type,
                                    const char *text, const char *session_id)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (session_id)
        MHD_add_response_header(r, "Mcp-Session-Id", session_id);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST, DELETE");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"skillhost\"");
    enum MHD_Result rc = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result respond_json(struct MHD_Connection *con, unsigned status, json_t *j,
                                    const char *session_id)
{
    char *text = j ? json_dumps(j, JSON_OUT_FLAGS) : NULL;
    json_decref(j);
    if (!text)
        return respond_text(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n",
                            NULL);
    enum MHD_Result rc = respond_text(con, status, "application/json", text, session_id);
    free(text);
    return rc;
}

/* An HTTP-level refusal, with a JSON-RPC error body (id null) saying why. */
static enum MHD_Result refuse(struct MHD_Connection *con, unsigned status, int code,
                              const char *why)
{
    return respond_json(con, status, mcp_error(NULL, code, "%s", why), NULL);
}

/* ---- checks ------------------------------------------------------------------- */

/* "localhost", "127.0.0.1", "[::1]", each with an optional ":PORT". */
static int is_loopback_host(const char *h, size_t n)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t k = strlen(names[i]);
        if (n >= k && strncasecmp(h, names[i], k) == 0) {
            if (n == k)
                return 1;
            if (h[k] != ':' || n == k + 1)
                continue;
            size_t j = k + 1;
            while (j < n && h[j] >= '0' && h[j] <= '9')
                j++;
            if (j == n)
                return 1;
        }
    }
    return 0;
}

static int origin_allowed(const server *sv, const char *origin)
{
    for (size_t i = 0; i < sv->o->norigins; i++)
        if (strcmp(sv->o->origins[i], origin) == 0)
            return 1;
    const char *rest = strncmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                             : NULL;
    return rest && is_loopback_host(rest, strlen(rest));
}

/* Compare without an early exit, so timing tells nothing about the token. */
static int token_ok(const char *token, const char *header)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return 0;
    const char *given = header + 7;
    size_t a = strlen(token), b = strlen(given);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)given[i] ^ (unsigned char)token[i % (a ? a : 1)];
    return diff == 0;
}

static const char *header(struct MHD_Connection *con, const char *name)
{
    return MHD_lookup_connection_value(con, MHD_HEADER_KIND, name);
}

static int accepts(const char *accept, const char *type)
{
    return !accept || strstr(accept, type) || strstr(accept, "*/*");
}

/* ---- SSE streams --------------------------------------------------------------- */

typedef struct stream {
    server *sv;
    http_session *hs;
    json_t *msg; /* the tools/call to answer; NULL for a GET stream */
    int fd;      /* the pipe's write end */
} stream;

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sse_send(void *ud, const json_t *msg)
{
    stream *st = ud;
    char *text = json_dumps(msg, JSON_OUT_FLAGS);
    if (!text)
        return -1;
    int rc = write_all(st->fd, "event: message\ndata: ", 21) ||
                     write_all(st->fd, text, strlen(text)) || write_all(st->fd, "\n\n", 2)
                 ? -1
                 : 0;
    free(text);
    return rc;
}

static void stream_end(stream *st)
{
    close(st->fd);
    session_put(st->sv, st->hs);
    json_decref(st->msg);
    pthread_mutex_lock(&st->sv->mu);
    st->sv->workers--;
    pthread_cond_broadcast(&st->sv->idle);
    pthread_mutex_unlock(&st->sv->mu);
    free(st);
}

/* A tools/call answered on its own stream: notifications as they come, then the response. */
static void *call_stream(void *arg)
{
    stream *st = arg;
    skh_error err;
    skh_host *h = host_checkout(st->sv, &err);
    json_t *reply;
    if (h) {
        mcp_sink sink = {.send = sse_send, .ud = st};
        reply = mcp_handle(&st->hs->s, h, st->msg, &sink);
        host_checkin(st->sv, h);
    } else {
        reply = mcp_error(json_object_get(st->msg, "id"), MCP_INTERNAL_ERROR, "%s: %s", err.what,
                          err.message);
    }
    if (reply)
        sse_send(st, reply);
    json_decref(reply);
    stream_end(st);
    return NULL;
}

/* A GET stream: tools/list_changed when the list changes, a comment now and then to keep it. */
static void *notify_stream(void *arg)
{
    stream *st = arg;
    uint64_t seen = 0;
    double last_write = now_ms();
    if (write_all(st->fd, ": skillhost notifications\n\n", 27) == 0) {
        for (;;) {
            pthread_mutex_lock(&st->sv->mu);
            int closed = st->hs->closed;
            pthread_mutex_unlock(&st->sv->mu);
            if (closed || mcp_stopping)
                break;
            skh_error err;
            skh_host *h = host_checkout(st->sv, &err);
            uint64_t now = h ? mcp_tools_fingerprint(h) : 0;
            if (h)
                host_checkin(st->sv, h);
            if (seen && now && now != seen) {
                json_t *n = mcp_list_changed();
                int rc = sse_send(st, n);
                json_decref(n);
                if (rc)
                    break;
                last_write = now_ms();
            }
            if (now)
                seen = now;
            if (now_ms() - last_write > KEEPALIVE_MS) {
                if (write_all(st->fd, ": keepalive\n\n", 13))
                    break;
                last_write = now_ms();
            }
            usleep(MCP_LIST_CHECK_MS * 1000);
        }
    }
    stream_end(st);
    return NULL;
}

/* Answer with an SSE stream fed by a thread running fn. */
static enum MHD_Result respond_stream(server *sv, struct MHD_Connection *con, http_session *hs,
                                      json_t *msg, void *(*fn)(void *))
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        json_decref(msg);
        session_put(sv, hs);
        return refuse(con, MHD_HTTP_SERVICE_UNAVAILABLE, MCP_INTERNAL_ERROR, strerror(errno));
    }
    struct MHD_Response *r = MHD_create_response_from_pipe(p[0]);
    stream *st = r ? calloc(1, sizeof *st) : NULL;
    if (!st) {
        if (r)
            MHD_destroy_response(r);
        else
            close(p[0]);
        close(p[1]);
        json_decref(msg);
        session_put(sv, hs);
        return refuse(con, MHD_HTTP_SERVICE_UNAVAILABLE, MCP_INTERNAL_ERROR, "out of memory");
    }
    *st = (stream){.sv = sv, .hs = hs, .msg = msg, .fd = p[1]};
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "Mcp-Session-Id", hs->s.id);
    pthread_mutex_lock(&sv->mu);
    sv->workers++;
    pthread_mutex_unlock(&sv->mu);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, fn, st) != 0) {
        pthread_attr_destroy(&attr);
        MHD_destroy_response(r);
        stream_end(st);
        return refuse(con, MHD_HTTP_SERVICE_UNAVAILABLE, MCP_INTERNAL_ERROR,
                      "cannot start a thread");
    }
    pthread_attr_destroy(&attr);
    enum MHD_Result rc = MHD_queue_response(con, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- POST ---------------------------------------------------------------------- */

static int is_request(const json_t *m)
{
    return json_is_object(m) && json_is_string(json_object_get(m, "method")) &&
           json_object_get(m, "id");
}

static enum MHD_Result handle_post(server *sv, struct MHD_Connection *con, request *rq)
{
    const char *type = header(con, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *accept = header(con, MHD_HTTP_HEADER_ACCEPT);
    if (!type || strncasecmp(type, "application/json", 16) != 0)
        return refuse(con, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, MCP_INVALID_REQUEST,
                      "Content-Type must be application/json");
    if (!accepts(accept, "application/json") && !accepts(accept, "text/event-stream"))
        return refuse(con, MHD_HTTP_NOT_ACCEPTABLE, MCP_INVALID_REQUEST,
                      "Accept must include application/json and text/event-stream");
    if (rq->too_big) {
        char why[128];
        snprintf(why, sizeof why, "request body larger than %zu bytes", sv->max_body);
        return refuse(con, MHD_HTTP_CONTENT_TOO_LARGE, MCP_INVALID_REQUEST, why);
    }
    json_error_t jerr;
    json_t *msg = json_loadb(rq->body ? rq->body : "", rq->len, 0, &jerr);
    if (!msg) {
        char why[300];
        snprintf(why, sizeof why, "parse error: line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return refuse(con, MHD_HTTP_BAD_REQUEST, MCP_PARSE_ERROR, why);
    }
    if (!json_is_object(msg) && !(json_is_array(msg) && json_array_size(msg) > 0)) {
        json_decref(msg);
        return refuse(con, MHD_HTTP_BAD_REQUEST, MCP_INVALID_REQUEST,
                      "a message must be a JSON-RPC object (or a non-empty batch of them)");
    }
    const char *version = header(con, "MCP-Protocol-Version");
    if (version && !mcp_version_supported(version)) {
        json_decref(msg);
        char why[200];
        snprintf(why, sizeof why, "unsupported MCP-Protocol-Version '%.40s'", version);
        return refuse(con, MHD_HTTP_BAD_REQUEST, MCP_INVALID_REQUEST, why);
    }

    http_session *hs;
    if (mcp_is_initialize(msg)) {
        if (!(hs = session_new(sv))) {
            json_decref(msg);
            return refuse(con, MHD_HTTP_SERVICE_UNAVAILABLE, MCP_INTERNAL_ERROR, "out of memory");
        }
    } else {
        const char *sid = header(con, "Mcp-Session-Id");
        if (!sid) {
            json_decref(msg);
            return refuse(con, MHD_HTTP_BAD_REQUEST, MCP_INVALID_REQUEST,
                          "Mcp-Session-Id header required (initialize first)");
        }
        if (!(hs = session_get(sv, sid))) {
            json_decref(msg);
            return refuse(con, MHD_HTTP_NOT_FOUND, MCP_INVALID_REQUEST,
                          "unknown or ended session; initialize again");
        }
    }

    /* A tools/call, when the client takes a stream: answered by a thread as it runs. */
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (is_request(msg) && method && strcmp(method, "tools/call") == 0 && accept &&
        strstr(accept, "text/event-stream"))
        return respond_stream(sv, con, hs, msg, call_stream);

    skh_error err;
    skh_host *h = host_checkout(sv, &err);
    if (!h) {
        json_decref(msg);
        session_put(sv, hs);
        char why[1400];
        snprintf(why, sizeof why, "%s: %s", err.what, err.message);
        return refuse(con, MHD_HTTP_SERVICE_UNAVAILABLE, MCP_INTERNAL_ERROR, why);
    }
    json_t *reply;
    if (json_is_array(msg)) {
        reply = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(msg, i, m)
        {
            json_t *r = mcp_is_initialize(m)
                            ? mcp_error(json_object_get(m, "id"), MCP_INVALID_REQUEST,
                                        "initialize cannot be part of a batch")
                            : mcp_handle(&hs->s, h, m, NULL);
            if (r)
                json_array_append_new(reply, r);
        }
        if (json_array_size(reply) == 0) {
            json_decref(reply);
            reply = NULL;
        }
    } else {
        reply = mcp_handle(&hs->s, h, msg, NULL);
    }
    host_checkin(sv, h);
    json_decref(msg);
    enum MHD_Result rc;
    if (reply)
        rc = respond_json(con, MHD_HTTP_OK, reply, hs->s.id);
    else /* only notifications or responses */
        rc = respond_text(con, MHD_HTTP_ACCEPTED, NULL, "", NULL);
    session_put(sv, hs);
    return rc;
}

/* ---- the access handler ---------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    server *sv = cls;
    request *rq = *con_cls;
    (void)version;
    if (!rq) {
        /* First call: headers only.  Refuse what can be refused before reading a body. */
        if (strcmp(url, sv->endpoint) != 0)
            return refuse(con, MHD_HTTP_NOT_FOUND, MCP_INVALID_REQUEST,
                          "no such endpoint (the MCP endpoint is the configured one)");
        const char *host = header(con, MHD_HTTP_HEADER_HOST);
        if (sv->loopback && (!host || !is_loopback_host(host, strlen(host))))
            return refuse(con, MHD_HTTP_FORBIDDEN, MCP_INVALID_REQUEST,
                          "Host is not a loopback name (DNS-rebinding protection)");
        const char *origin = header(con, "Origin");
        if (origin && !origin_allowed(sv, origin))
            return refuse(con, MHD_HTTP_FORBIDDEN, MCP_INVALID_REQUEST,
                          "Origin not allowed (DNS-rebinding protection; see --allow-origin)");
        if (sv->o->token && !token_ok(sv->o->token, header(con, MHD_HTTP_HEADER_AUTHORIZATION)))
            return refuse(con, MHD_HTTP_UNAUTHORIZED, MCP_INVALID_REQUEST,
                          "a valid 'Authorization: Bearer TOKEN' header is required");
        if (strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0) {
            const char *sid = header(con, "Mcp-Session-Id");
            http_session *hs = sid ? session_get(sv, sid) : NULL;
            if (!sid)
                return refuse(con, MHD_HTTP_BAD_REQUEST, MCP_INVALID_REQUEST,
                              "Mcp-Session-Id header required");
            if (!hs)
                return refuse(con, MHD_HTTP_NOT_FOUND, MCP_INVALID_REQUEST, "unknown session");
            if (method[0] == 'D') {
                session_close(sv, hs);
                session_put(sv, hs);
                return respond_text(con, MHD_HTTP_OK, NULL, "", NULL);
            }
            if (!accepts(header(con, MHD_HTTP_HEADER_ACCEPT), "text/event-stream")) {
                session_put(sv, hs);
                return refuse(con, MHD_HTTP_NOT_ACCEPTABLE, MCP_INVALID_REQUEST,
                              "GET opens an SSE stream: Accept must include text/event-stream");
            }
            return respond_stream(sv, con, hs, NULL, notify_stream);
        }
        if (strcmp(method, "POST") != 0)
            return refuse(con, MHD_HTTP_METHOD_NOT_ALLOWED, MCP_INVALID_REQUEST,
                          "the MCP endpoint takes GET, POST and DELETE");
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!rq->too_big && rq->len + n > sv->max_body) {
            rq->too_big = 1;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
        }
        if (!rq->too_big) {
            if (rq->len + n + 1 > rq->cap) {
                size_t cap = rq->cap ? rq->cap : 4096;
                while (cap < rq->len + n + 1)
                    cap *= 2;
                char *grown = realloc(rq->body, cap);
                if (!grown)
                    return MHD_NO;
                rq->body = grown;
                rq->cap = cap;
            }
            memcpy(rq->body + rq->len, upload_data, n);
            rq->len += n;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return handle_post(sv, con, rq);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* ---- serving -------------------------------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT" -> an address; loopback says whether it is one. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, int *loopback,
                        skh_error *err)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host)
        return mcp_fail(err, SKH_EINVAL, "--http", "expected HOST:PORT, got '%s'", spec);
    size_t hl = (size_t)(colon - spec);
    const char *h = spec;
    if (spec[0] == '[' && spec[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return mcp_fail(err, SKH_EINVAL, "--http", "port must be 0..65535, got '%s'", colon + 1);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, NULL, &hints, &res);
    if (g != 0 || !res)
        return mcp_fail(err, SKH_EINVAL, "--http", "%s: %s", host, gai_strerror(g));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return SKH_OK;
}

int mcp_serve_http(const mcp_options *o, skh_error *err)
{
    struct sockaddr_storage ss;
    int loopback = 0;
    int rc = parse_listen(o->listen, &ss, &loopback, err);
    if (rc)
        return rc;
    if (!loopback && !o->token)
        return mcp_fail(err, SKH_EINVAL, "--http",
                        "%s is not a loopback address: a bearer token (--token-file) is required "
                        "to serve beyond this machine",
                        o->listen);
    server sv;
    memset(&sv, 0, sizeof sv);
    sv.o = o;
    sv.endpoint = o->endpoint ? o->endpoint : "/mcp";
    sv.max_body = o->max_body ? o->max_body : MCP_DEFAULT_MAX_BODY;
    sv.loopback = loopback;
    pthread_mutex_init(&sv.mu, NULL);
    pthread_cond_init(&sv.idle, NULL);
    if (o->host) {
        sv.all_hosts = malloc(8 * sizeof *sv.all_hosts);
        sv.free_hosts = malloc(8 * sizeof *sv.free_hosts);
        if (!sv.all_hosts || !sv.free_hosts) {
            free(sv.all_hosts);
            free(sv.free_hosts);
            return mcp_fail(err, SKH_ENOMEM, "mcp", "out of memory");
        }
        sv.capall = sv.capfree = 8;
        sv.all_hosts[sv.nall++] = o->host;
        sv.free_hosts[sv.nfree++] = o->host;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    unsigned max_clients =
        (unsigned)(o->max_clients > 0 ? o->max_clients : MCP_DEFAULT_MAX_CLIENTS);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, max_clients, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &sv, MHD_OPTION_END);
    if (!d) {
        rc = mcp_fail(err, SKH_EINVAL, "--http", "cannot listen on %s: %s", o->listen,
                      errno ? strerror(errno) : "libmicrohttpd refused");
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        unsigned port = info ? info->port : 0;
        char addr[INET6_ADDRSTRLEN] = "?";
        if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
        if (!o->quiet)
            fprintf(stderr, "skillhost: mcp: listening on http://%s%s%s:%u%s\n",
                    ss.ss_family == AF_INET6 ? "[" : "", addr, ss.ss_family == AF_INET6 ? "]" : "",
                    port, sv.endpoint);
        if (o->ready_fd >= 0) {
            char line[32];
            int n = snprintf(line, sizeof line, "%u\n", port);
            if (write_all(o->ready_fd, line, (size_t)n) != 0)
                fprintf(stderr, "skillhost: mcp: --ready-fd %d: %s\n", o->ready_fd,
                        strerror(errno));
            close(o->ready_fd);
        }
        while (!mcp_stopping)
            usleep(100 * 1000);
        /* Streams see mcp_stopping and end; calls under way finish (their deadline bounds them). */
        pthread_mutex_lock(&sv.mu);
        while (sv.workers > 0)
            pthread_cond_wait(&sv.idle, &sv.mu);
        pthread_mutex_unlock(&sv.mu);
        MHD_stop_daemon(d);
    }
    for (size_t i = 0; i < sv.nall; i++)
        if (sv.all_hosts[i] != o->host)
            skh_host_close(sv.all_hosts[i]);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (sv.sessions[i]) {
            mcp_session_destroy(&sv.sessions[i]->s);
            free(sv.sessions[i]);
        }
    }
    free(sv.all_hosts);
    free(sv.free_hosts);
    pthread_cond_destroy(&sv.idle);
    pthread_mutex_destroy(&sv.mu);
    return rc;
}
