/*
 * The MCP server (DESIGN §3.6): skills as Model Context Protocol tools.
 *
 * A front end over <skillhost/host.h>, as the CLI is: it uses the embedding
 * API only.  protocol.c speaks JSON-RPC 2.0 and MCP (initialize and version
 * negotiation, tools/list, tools/call through skh_execute, logging,
 * progress, cancellation); stdio.c and http.c carry its messages.
 */
#ifndef SKH_MCP_H
#define SKH_MCP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <skillhost/host.h>

/* The revisions served, newest first; the first is offered when the client's is unknown. */
extern const char *const mcp_protocol_versions[];

typedef struct mcp_options {
    skh_host *host;       /* an open host, used first (stdio: the only one); not closed here */
    const char *db;       /* for more hosts (HTTP: one per thread); NULL: the host's default */
    const char *policies; /* NULL: the host's default */
    const char *listen;   /* "HOST:PORT" for Streamable HTTP; NULL: stdio */
    const char *endpoint; /* the HTTP path; NULL: "/mcp" */
    const char *token;    /* bearer token clients must send over HTTP; NULL: none */
    const char *const *origins; /* Origin values allowed besides loopback ones */
    size_t norigins;
    size_t max_body; /* bytes of a POST body; 0: MCP_DEFAULT_MAX_BODY */
    int max_clients; /* concurrent HTTP connections (and hosts); 0: MCP_DEFAULT_MAX_CLIENTS */
    int quiet;       /* no "listening on" line */
    int ready_fd;    /* >= 0: write "PORT\n" there once listening, then close it */
} mcp_options;

#define MCP_DEFAULT_MAX_BODY (4u * 1024u * 1024u)
#define MCP_DEFAULT_MAX_CLIENTS 64

/* JSON-RPC 2.0 error codes (and the MCP ones). */
enum {
    MCP_PARSE_ERROR = -32700,
    MCP_INVALID_REQUEST = -32600,
    MCP_METHOD_NOT_FOUND = -32601,
    MCP_INVALID_PARAMS = -32602,
    MCP_INTERNAL_ERROR = -32603
};

/* A request being answered, so notifications/cancelled can find it. */
typedef struct mcp_inflight {
    json_t *id;
    volatile int cancel;
    struct mcp_inflight *next;
} mcp_inflight;

/* One client's session: what initialize agreed, and the requests it has running. */
typedef struct mcp_session {
    pthread_mutex_t mu;
    char id[40];
    const char *transport; /* "stdio" or "http" */
    char protocol[16];     /* the negotiated revision; "" before initialize */
    char client_name[128];
    char client_version[64];
    int initialized; /* notifications/initialized arrived */
    int log_level;   /* index into the MCP levels; messages below it are not sent */
    int recorded;    /* client_sessions row written */
    mcp_inflight *inflight;
} mcp_session;

/* Where a request's notifications go (progress, log messages); 0 sent, -1 the client is gone. */
typedef struct mcp_sink {
    int (*send)(void *ud, const json_t *msg);
    void *ud;
} mcp_sink;

void mcp_session_init(mcp_session *s, const char *transport);
void mcp_session_destroy(mcp_session *s);
/* A fresh random id (32 hex digits). */
void mcp_random_id(char out[33]);

/*
 * Handle one parsed JSON-RPC message of session s with host.  Returns the
 * response to send (owned by the caller), or NULL for a notification or a
 * response.  Notifications the request raises go through sink (may be NULL).
 */
json_t *mcp_handle(mcp_session *s, skh_host *host, const json_t *msg, const mcp_sink *sink);
/* A JSON-RPC error response (id may be NULL: null). */
json_t *mcp_error(const json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Is msg a notifications/cancelled?  Then flag the request it names in s (if running). */
int mcp_cancel_notification(mcp_session *s, const json_t *msg);
/* Is msg an initialize request? */
int mcp_is_initialize(const json_t *msg);
/* Is version one of mcp_protocol_versions? */
int mcp_version_supported(const char *version);

/*
 * A fingerprint of what tools/list answers now (0 when it cannot be read),
 * so a transport can tell the client when the list changed.
 */
uint64_t mcp_tools_fingerprint(skh_host *host);
/* The notifications/tools/list_changed message (owned by the caller). */
json_t *mcp_list_changed(void);

/* How often a transport compares the tool list with the last one sent. */
#define MCP_LIST_CHECK_MS 500

/* Fill err (code, what, message) and return code. */
int mcp_fail(skh_error *err, int code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Open a host as the options say. */
int mcp_open_host(const mcp_options *o, skh_host **out, skh_error *err);

int mcp_serve_stdio(const mcp_options *o, skh_error *err);
int mcp_serve_http(const mcp_options *o, skh_error *err);

/* Set by SIGINT/SIGTERM: the server stops taking requests and exits. */
extern volatile int mcp_stopping;

#endif
