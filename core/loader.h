/*
 * A loaded plugin of any flavour: shared object, Lua script or external
 * command.  The rest of the host sees only this interface.
 */
#ifndef SKH_CORE_LOADER_H
#define SKH_CORE_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <skillhost/host.h>
#include "call.h"

typedef struct plugin plugin;

struct plugin_ops {
    /*
     * Run the callback called fn ("execute", "score", "decide", "evolve", or
     * for Lua any function the script's table holds) on call.  The loader
     * reports the plugin's outcome through call (output or category); it
     * returns SKH_OK when the callback ran, whatever it decided, and a
     * negative code only when it could not be run at all (fn missing).
     */
    int (*invoke)(plugin *p, const char *fn, skh_call *call, skh_error *err);
    /*
     * Optional (NULL when the loader has none): invoke with the input as a
     * JSON value and, on success, the output as one (*out, owned) instead
     * of text.  The host's own calls (policies) use it to skip a print and
     * a parse on each side; the outcome is reported as with invoke, except
     * that a successful output lands in *out, not in call->output.
     */
    int (*invoke_json)(plugin *p, const char *fn, const json_t *input, skh_call *call, json_t **out,
                       skh_error *err);
    /* Does the plugin provide fn? */
    int (*has)(const plugin *p, const char *fn);
    void (*close)(plugin *p);
};

struct plugin {
    const struct plugin_ops *ops;
    char *path; /* the file loaded, or the "exec:..." command line */
    int kind;   /* SKH_KIND_* */
    char *name; /* from the descriptor */
    char *version;
    char *description;   /* "" when absent */
    char *patterns;      /* default expected patterns, comma separated; "" when absent */
    char sha256[65];     /* of the file loaded; for exec, of the program and its file arguments */
    void *impl;          /* the loader's own state */
    char *input_schema;  /* JSON Schema text of the input (skills), or NULL: none declared */
    char *output_schema; /* JSON Schema text of the output (skills), or NULL */
};

/* Limits and switches every loader takes. */
typedef struct plugin_limits {
    uint64_t lua_instructions; /* per call; 0 = unlimited */
    size_t lua_memory;         /* bytes per Lua state; 0 = unlimited */
    size_t lua_pattern_max;    /* longest subject string handed to Lua pattern functions */
    int exec_timeout_ms;       /* per call of an external command */
    int check_trust;           /* refuse files writable by others (DESIGN §3.1) */
    const char *lua_path;      /* folders `require` may load from, ';' separated; may be NULL */
    /*
     * Wall-clock limit of a call that brings no deadline of its own
     * (skh_call.timeout_ms == 0): evolvers, loading, policies (whose set
     * sets it to lua.policy_timeout_ms).  0 = unlimited.
     */
    double timeout_ms;
    double policy_timeout_ms; /* what policy_set_open puts in timeout_ms; 0 = as timeout_ms */
    int isolation;            /* PLUGIN_ISOLATION_*: where a shared object runs */
    /* rlimits of an isolation worker; 0 = unlimited */
    uint64_t worker_memory;    /* RLIMIT_AS, bytes */
    uint64_t worker_files;     /* RLIMIT_NOFILE */
    uint64_t worker_file_size; /* RLIMIT_FSIZE, bytes */
    size_t output_max;         /* bytes of serialised output one call may return; 0 = unlimited */
} plugin_limits;

/* plugins.isolation: the order of its choices in options.c. */
enum { PLUGIN_ISOLATION_PROCESS = 0, PLUGIN_ISOLATION_INLINE = 1 };

/* The documented defaults (docs/plugins.md). */
#define PLUGIN_DEFAULT_LUA_INSTRUCTIONS 50000000ull /* about 0.1-0.5 s of Lua */
#define PLUGIN_DEFAULT_LUA_MEMORY (64u * 1024u * 1024u)
#define PLUGIN_DEFAULT_LUA_PATTERN_MAX (256u * 1024u)
#define PLUGIN_DEFAULT_EXEC_TIMEOUT_MS 30000
#define PLUGIN_DEFAULT_TIMEOUT_MS 30000.0
#define PLUGIN_DEFAULT_POLICY_TIMEOUT_MS 500.0
#define PLUGIN_DEFAULT_WORKER_MEMORY (1024ull * 1024u * 1024u)
#define PLUGIN_DEFAULT_WORKER_FILES 64u
#define PLUGIN_DEFAULT_WORKER_FILE_SIZE (64ull * 1024u * 1024u)
#define PLUGIN_DEFAULT_OUTPUT_MAX (16u * 1024u * 1024u)

void plugin_limits_default(plugin_limits *lim);

/*
 * What a load must match before anything of the plugin runs: the sha256
 * recorded at registration.  A loader hashes the bytes it read and compares
 * them with the pin before it maps or compiles anything (DESIGN §3.4).
 */
typedef struct plugin_pin {
    const char *sha256; /* expected sha256 of the impl; NULL or "" = not pinned */
    const char *label;  /* who pinned it, for messages ("spam@v3"); may be NULL */
} plugin_pin;

/* The refusal for a pin mismatch: what changed, that nothing ran, how to accept it. */
int plugin_pin_refuse(const char *path, const plugin_pin *pin, const char *now, skh_error *err);

/* Each loader: on failure *out is NULL and err names the file and the reason. */
int plugin_so_load(const char *path, const plugin_limits *lim, plugin **out, skh_error *err);
/*
 * A shared object in an isolation worker (plugin_worker.c): a process
 * forked for it that loads it with plugin_so_load and answers its calls
 * over a socket, so a crash, exit() or hang ends the call, not the host.
 */
int plugin_worker_load(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                       plugin **out, skh_error *err);
/* "process" | "inline" -> PLUGIN_ISOLATION_*, or -1. */
int plugin_isolation_from_name(const char *name);
const char *plugin_isolation_name(int isolation);
int plugin_lua_load(const char *path, const plugin_limits *lim, plugin **out, skh_error *err);
/* The same with a pin (NULL = none). */
int plugin_so_load_pinned(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                          plugin **out, skh_error *err);
int plugin_lua_load_pinned(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                           plugin **out, skh_error *err);

/*
 * The one verified way a shared object gets mapped, for the in-process
 * loader and the isolation worker alike: open path once, apply the trust
 * rules to the open file (lim->check_trust), hash its bytes while copying
 * them into a sealed memory file, compare the hash with pin (when set), and
 * only then dlopen the sealed copy through /proc/self/fd.  What is mapped is
 * exactly what was hashed: a file renamed over path or rewritten in place
 * after the open cannot run.  Nothing of the plugin (constructor, entry,
 * init) runs before the comparison.  On success *dl is the dlopen handle and
 * sha256 the hash; on failure *dl is NULL and err says why.
 */
int plugin_so_open_verified(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                            void **dl, char sha256[65], skh_error *err);
int plugin_exec_load(const char *cmdline, const plugin_limits *lim, plugin **out, skh_error *err);
/*
 * impl = "mcp:COMMAND ARGS#TOOL": one tool of an MCP server run over stdio
 * (plugin_mcp.c), the server kept warm while the plugin is loaded.
 */
int plugin_mcp_load(const char *impl, const plugin_limits *lim, plugin **out, skh_error *err);
/*
 * exec:'s command handling, shared with mcp: (plugin_exec.c): split the
 * command line from offset base, resolve the program, check its trust
 * (lim->check_trust) and pin it with its file arguments (sha256).
 */
int exec_command_parse(const char *cmdline, size_t base, const plugin_limits *lim, char ***argv,
                       size_t *argc, char **program, char sha256[65], skh_error *err);
void exec_words_free(char **words, size_t n);
/* A plugin compiled into libskillhost (the built-in scorers). */
int plugin_builtin_load(const char *name, plugin **out, skh_error *err);

/* Pick the loader by form: "exec:..." , "*.lua", else shared object. */
int plugin_load(const char *impl, const plugin_limits *lim, plugin **out, skh_error *err);
/* The same, refusing before anything runs when the bytes do not match pin (NULL = none). */
int plugin_load_pinned(const char *impl, const plugin_limits *lim, const plugin_pin *pin,
                       plugin **out, skh_error *err);
void plugin_close(plugin *p);

/* Shared by loaders: fill the common fields from a checked descriptor. */
int plugin_fill_common(plugin *p, const char *path, int kind, const char *name, const char *version,
                       const char *description, const char *patterns, skh_error *err);
void plugin_free_common(plugin *p);
/*
 * Set p's input or output schema (which: "input_schema" or
 * "output_schema") from JSON text, which must be an object; err names the
 * file and the field otherwise.
 */
int plugin_set_schema(plugin *p, const char *which, const char *json, skh_error *err);

const char *plugin_kind_name(int kind);      /* "skill", ...; NULL if unknown */
int plugin_kind_from_name(const char *name); /* SKH_KIND_* or -1 */

#endif
