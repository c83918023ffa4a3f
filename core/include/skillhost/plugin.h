/*
 * skillhost plugin ABI, version 1.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * skh_plugin_entry, returning a descriptor.  The host hands every callback
 * an opaque call handle whose first member is the host's function table, so
 * plugins never link against libskillhost and a plugin made of several
 * translation units needs no global state (compare SQLite's
 * sqlite3_api_routines and Redis' RedisModule_* pointers).
 *
 * Rules that keep old plugins loading in new hosts:
 *   - skh_plugin and skh_host_api start with abi_version and struct_size;
 *   - new members are only ever appended;
 *   - a different major ABI version, or a struct smaller than the reader
 *     needs, is refused with both numbers in the message.
 *
 * Everything crosses the boundary as JSON text (UTF-8, NUL-terminated).
 *
 *     #include <skillhost/plugin.h>
 *
 *     static int run(void *state, skh_call *call)
 *     {
 *         skh_step(call, "classify");
 *         return skh_output(call, "{\"decision\":\"ham\",\"confidence\":0.9}");
 *     }
 *     SKH_PLUGIN(skill, "my_skill", "1.0.0", .execute = run);
 */
#ifndef SKILLHOST_PLUGIN_H
#define SKILLHOST_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SKH_ABI_VERSION 1u

/* Plugin kinds. */
enum { SKH_KIND_SKILL = 1, SKH_KIND_SCORER = 2, SKH_KIND_POLICY = 3, SKH_KIND_EVOLVER = 4 };

/* Error categories a plugin may fail with (DESIGN §4 recovery.lua). */
enum {
    SKH_ERR_NONE = 0,
    SKH_ERR_NETWORK,
    SKH_ERR_TIMEOUT,
    SKH_ERR_RATE_LIMIT,
    SKH_ERR_UNAVAILABLE,
    SKH_ERR_VALIDATION,
    SKH_ERR_AUTHENTICATION,
    SKH_ERR_NOT_FOUND,
    SKH_ERR_CRASH,
    SKH_ERR_INTERNAL,
    SKH_ERR_POLICY,
    SKH_ERR__COUNT
};

/* Log levels for skh_log. */
enum { SKH_LOG_DEBUG = 0, SKH_LOG_INFO = 1, SKH_LOG_WARN = 2, SKH_LOG_ERROR = 3 };

/* Return values of skh_output / skh_fail and of callbacks. */
#define SKH_PLUGIN_OK 0
#define SKH_PLUGIN_FAILED (-1)

typedef struct skh_call skh_call;
typedef struct skh_host_api skh_host_api;

/*
 * Every callback that does work has this shape: read with skh_input(),
 * report with skh_step(), finish with skh_output() or skh_fail().
 */
typedef int (*skh_callback)(void *state, skh_call *call);

typedef struct skh_plugin {
    uint32_t abi_version; /* SKH_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(skh_plugin) the plugin was built with */
    uint32_t kind;        /* SKH_KIND_* */
    const char *name;     /* [a-z0-9_]{1,64} */
    const char *version;  /* free-form, non-empty, e.g. "1.2.0" */
    const char *description;
    /* Skills: default expected patterns, comma separated ("read,decide"). */
    const char *patterns;

    /* Called once after load; *state is handed to every callback. */
    int (*init)(const skh_host_api *api, void **state);
    /* Called once before unload. */
    void (*fini)(void *state);

    skh_callback execute; /* kind skill */
    skh_callback score;   /* kind scorer */
    skh_callback decide;  /* kind policy */
    skh_callback evolve;  /* kind evolver */

    /*
     * Appended after ABI v1's first release (read only when struct_size
     * covers them).  Skills: the JSON Schema (JSON text, an object) of the
     * input the skill takes and of the output it answers; NULL for none.
     * The MCP server lists them as a tool's inputSchema and outputSchema.
     */
    const char *input_schema;
    const char *output_schema;
} skh_plugin;

/*
 * The host's function table.  Members are appended, never reordered, so a
 * plugin may use a member only when api->struct_size covers it.
 */
struct skh_host_api {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *(*input)(skh_call *call);    /* JSON text of the input */
    const char *(*content)(skh_call *call);  /* the variant's content */
    const char *(*patterns)(skh_call *call); /* JSON array of expected patterns */
    unsigned (*attempt)(skh_call *call);     /* 1 for the first attempt */
    int (*step)(skh_call *call, const char *name);
    int (*output)(skh_call *call, const char *json);
    int (*fail)(skh_call *call, int category, const char *message);
    void (*vlog)(skh_call *call, int level, const char *fmt, va_list ap);
    /*
     * Appended in skillhost 0.1 (ABI 1 still): the request's context as a
     * JSON object -- "session", "phase", "query", "tenant",
     * "alternatives_considered" (array), "selection_rank",
     * "follow_up_actions" (array), each present only when the caller gave
     * it; "{}" when it gave none.  Use skh_context(), which checks
     * struct_size first.
     */
    const char *(*context)(skh_call *call);
};

/*
 * The call handle is opaque except for its first member, which every host
 * sets to its function table.  Plugins must not rely on anything else.
 */
struct skh_call_head {
    const skh_host_api *api;
};

/* Members are called as (api->name)(...) so a function-like macro called
 * fail, step or output in the plugin's own headers (cmocka has fail()) cannot
 * capture the call. */
#define SKH__API(call) (((const struct skh_call_head *)(const void *)(call))->api)

static inline const char *skh_input(skh_call *call)
{
    return (SKH__API(call)->input)(call);
}
static inline const char *skh_content(skh_call *call)
{
    return (SKH__API(call)->content)(call);
}
static inline const char *skh_patterns(skh_call *call)
{
    return (SKH__API(call)->patterns)(call);
}
static inline unsigned skh_attempt(skh_call *call)
{
    return (SKH__API(call)->attempt)(call);
}
/*
 * The request's context (session, workflow phase, user query, tenant...)
 * as JSON object text; "{}" when there is none or the host predates it.
 */
static inline const char *skh_context(skh_call *call)
{
    const skh_host_api *api = SKH__API(call);
    if (api->struct_size < offsetof(skh_host_api, context) + sizeof api->context || !api->context)
        return "{}";
    return (api->context)(call);
}
/* Record a breadcrumb: a step the plugin took, in order. */
static inline int skh_step(skh_call *call, const char *name)
{
    return (SKH__API(call)->step)(call, name);
}
/* Finish with a JSON result; returns SKH_PLUGIN_OK. */
static inline int skh_output(skh_call *call, const char *json)
{
    return (SKH__API(call)->output)(call, json);
}
/* Finish with a categorised error; returns SKH_PLUGIN_FAILED. */
static inline int skh_fail(skh_call *call, int category, const char *message)
{
    return (SKH__API(call)->fail)(call, category, message);
}
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void
skh_log(skh_call *call, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (SKH__API(call)->vlog)(call, level, fmt, ap);
    va_end(ap);
}

#if defined(__GNUC__)
#define SKH_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SKH_PLUGIN_EXPORT
#endif

/*
 * The entry point's name.  Plugins compiled into libskillhost itself (the
 * built-in scorers) define it to a private name before including this file.
 */
#ifndef SKH_PLUGIN_ENTRY
#define SKH_PLUGIN_ENTRY skh_plugin_entry
#endif

typedef const skh_plugin *(*skh_plugin_entry_fn)(const skh_host_api *api);

#define SKH__KIND_skill SKH_KIND_SKILL
#define SKH__KIND_scorer SKH_KIND_SCORER
#define SKH__KIND_policy SKH_KIND_POLICY
#define SKH__KIND_evolver SKH_KIND_EVOLVER

/*
 * SKH_PLUGIN(kind, "name", "version", .execute = fn, ...) defines the entry
 * point and the descriptor; kind is one of skill, scorer, policy, evolver.
 */
#define SKH_PLUGIN(kind_, name_, version_, ...)                                                    \
    SKH_PLUGIN_EXPORT const skh_plugin *SKH_PLUGIN_ENTRY(const skh_host_api *api);                 \
    SKH_PLUGIN_EXPORT const skh_plugin *SKH_PLUGIN_ENTRY(const skh_host_api *api)                  \
    {                                                                                              \
        static const skh_plugin descriptor = {.abi_version = SKH_ABI_VERSION,                      \
                                              .struct_size = sizeof(skh_plugin),                   \
                                              .kind = SKH__KIND_##kind_,                           \
                                              .name = name_,                                       \
                                              .version = version_,                                 \
                                              __VA_ARGS__};                                        \
        (void)api;                                                                                 \
        return &descriptor;                                                                        \
    }

#ifdef __cplusplus
}
#endif
#endif /* SKILLHOST_PLUGIN_H */
