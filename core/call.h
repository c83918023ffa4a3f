/*
 * The call handle behind skh_call: what one plugin invocation reads
 * (input, content, expected patterns, attempt) and what it reports
 * (breadcrumbs, output or a categorised error, log lines).
 *
 * Every loader (shared object, Lua, external command) fills the same
 * structure, so scoring and recording never care how a plugin ran.
 */
#ifndef SKH_CORE_CALL_H
#define SKH_CORE_CALL_H

#include <stddef.h>
#include <skillhost/plugin.h>

struct skh_call {
    const skh_host_api *api; /* must stay first: plugin.h reaches it by cast */
    const char *input;       /* JSON text, borrowed */
    const char *content;     /* borrowed, never NULL */
    const char *patterns;    /* JSON array text, borrowed, never NULL */
    unsigned attempt;        /* 1-based */
    const char *plugin_name; /* for log lines, borrowed */

    char **steps; /* breadcrumbs, owned */
    size_t nsteps, capsteps;
    char *output;  /* JSON text set by skh_output, owned; NULL until then */
    int category;  /* SKH_ERR_* set by skh_fail; SKH_ERR_NONE until then */
    char *message; /* owned, set with category */
    int finished;  /* output or fail was called */
    int oom;       /* an allocation failed while recording; the call is unusable */
    /*
     * Set by the host for a policy answer: unless the answer has this
     * member, only its plain (non-table) members are wanted.
     */
    const char *brief_unless;
    /*
     * Set by execute for a request that asked for events: each breadcrumb
     * and log line is also handed to it as it happens (SKH_EVENT_*).
     */
    void (*observe)(void *ud, int kind, int level, const char *text);
    void *observe_ud;
    /*
     * Largest output the call may report, in bytes of JSON text (0 =
     * unlimited), set by the loader from plugins.output_max_bytes.  A larger
     * one is refused as the call's crash before it is copied.
     */
    size_t output_max;
    /*
     * The request's context, JSON object text (skh_context()), borrowed;
     * NULL: "{}".  Set by whoever runs the call for a request -- the skill
     * and every scorer of its attempts see the same one; a worker process
     * gets it with the rest of the call.
     */
    const char *context;
    /*
     * The wall-clock time the call may take, in ms (the request's time
     * left); 0: the loader's own limit (plugin_limits.timeout_ms).
     */
    double timeout_ms;
};

/* The function table every call carries. */
extern const skh_host_api call_api;

/* Prepare a call; borrowed strings must outlive it.  NULL content/patterns become "" / "[]". */
void call_init(skh_call *call, const char *input, const char *content, const char *patterns,
               unsigned attempt, const char *plugin_name);
/* Free what the call owns; the call may be initialised again afterwards. */
void call_release(skh_call *call);

/* The same operations the plugin ABI exposes, for loaders to use directly. */
int call_step(skh_call *call, const char *name);
int call_output(skh_call *call, const char *json);
int call_fail(skh_call *call, int category, const char *message);
/* Take ownership of an already-allocated output string. */
int call_output_take(skh_call *call, char *json);
/* Fail the call because its output of len bytes (or more, when at_least) passed output_max. */
int call_fail_too_big(skh_call *call, size_t len, int at_least);

/*
 * Where plugin log lines go.  The default writes "skillhost: PLUGIN: LEVEL: text"
 * to stderr for warnings and errors, and drops debug/info unless
 * SKILLHOST_LOG=debug|info.
 */
void call_log(skh_call *call, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
