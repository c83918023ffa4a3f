/*
 * Lua 5.4 plugins (DESIGN §3.2): a script returns a descriptor table
 *
 *     return { kind = "skill", name = "x", version = "1.0.0",
 *              execute = function(input, ctx) ... return {...} end }
 *
 * Each plugin owns one sandboxed lua_State (core/lua_sandbox.c), compiled
 * once and kept warm.  A call turns the JSON input into a table, runs the
 * function under the instruction budget, and reports the returned table
 * (as JSON) or the raised error (categorised) through the skh_call.
 *
 * Lua API calls that may allocate run in protected mode only: an
 * allocation refused at the memory cap outside it would abort the host.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <lauxlib.h>

#include "call.h"
#include "error.h"
#include "loader.h"
#include "lua_json.h"
#include "lua_sandbox.h"
#include "trust.h"

/* Longest breadcrumb name ctx:step takes. */
#define LP_STEP_NAME_MAX 256

/* Largest script accepted; real plugins are a few kilobytes. */
#define LP_MAX_SOURCE (16u * 1024u * 1024u)

typedef struct lp_impl {
    lua_State *L;
    int ref;           /* registry reference to the descriptor table */
    size_t output_max; /* plugin_limits.output_max */
} lp_impl;

static const char ctx_key = 'c'; /* ctx[&ctx_key] = the window the ctx belongs to */

/* --------------------------------------------------- reading error values */

/*
 * The string value of t[field] for the table at idx, found with lua_next so
 * that nothing is allocated and no metamethod runs.  *type is its Lua type
 * (LUA_TNIL when absent).  The string lives as long as the table holds it.
 */
static const char *peek_field(lua_State *L, int idx, const char *field, int *type)
{
    size_t flen = strlen(field);
    idx = lua_absindex(L, idx);
    *type = LUA_TNIL;
    if (!lua_checkstack(L, 2))
        return NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tolstring(L, -2, &klen);
            if (klen == flen && memcmp(k, field, flen) == 0) {
                *type = lua_type(L, -1);
                const char *s = *type == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
                lua_pop(L, 2);
                return s;
            }
        }
        lua_pop(L, 1);
    }
    return NULL;
}

/* Copy a traceback message up to its "stack traceback:" part. */
static void first_part(const char *msg, char *buf, size_t len)
{
    const char *cut = strstr(msg, "\nstack traceback:");
    size_t n = cut ? (size_t)(cut - msg) : strlen(msg);
    snprintf(buf, len, "%.*s", n > (size_t)INT32_MAX ? INT32_MAX : (int)n, msg);
}

/*
 * Describe the error value at idx: *category is the one a categorised
 * error ({category = "network", message = "..."}) names, SKH_ERR_INTERNAL
 * for an unknown category name, or `plain` for anything else.
 */
static void describe_error(lua_State *L, int idx, const char *path, int plain, int *category,
                           char *buf, size_t len)
{
    *category = plain;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        const char *msg = lua_tostring(L, idx);
        first_part(msg, buf, len);
        if (strchr(msg, '\n'))
            sandbox_log(L, SKH_LOG_DEBUG, msg);
        return;
    }
    case LUA_TTABLE: {
        int ctype, mtype;
        const char *cat = peek_field(L, idx, "category", &ctype);
        const char *msg = peek_field(L, idx, "message", &mtype);
        if (ctype == LUA_TNIL) {
            snprintf(buf, len, "%s: %s", path, msg ? msg : "error raised with a table value");
            return;
        }
        int c = cat ? skh_category_from_name(cat) : -1;
        if (c <= SKH_ERR_NONE) {
            *category = SKH_ERR_INTERNAL;
            snprintf(buf, len, "%s: error raised with unknown category %s%s%s: %s", path,
                     cat ? "'" : "(a ", cat ? cat : lua_typename(L, ctype), cat ? "'" : ")",
                     msg ? msg : "(no message)");
            return;
        }
        *category = c;
        snprintf(buf, len, "%s", msg ? msg : (cat ? cat : ""));
        return;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(buf, len, "%s: error raised with the number %lld", path,
                     (long long)lua_tointeger(L, idx));
        else
            snprintf(buf, len, "%s: error raised with the number %.14g", path,
                     (double)lua_tonumber(L, idx));
        return;
    default:
        snprintf(buf, len, "%s: error raised with a %s value", path,
                 lua_typename(L, lua_type(L, idx)));
        return;
    }
}

/* ------------------------------------------------------------- descriptor */

typedef struct descriptor {
    const char *path;
    int kind;
    char *name, *version, *description, *patterns;
    char *input_schema, *output_schema; /* JSON text of the tables of those names, or NULL */
    int ref;
    int bad; /* validation failed; msg says why */
    char msg[768];
} descriptor;

static void descriptor_free(descriptor *d)
{
    free(d->name);
    free(d->version);
    free(d->description);
    free(d->patterns);
    free(d->input_schema);
    free(d->output_schema);
    d->name = d->version = d->description = d->patterns = NULL;
    d->input_schema = d->output_schema = NULL;
}

/* Push t[field] without metamethods. */
static int raw_field(lua_State *L, int t, const char *field)
{
    lua_pushstring(L, field);
    return lua_rawget(L, t);
}

/* "'value'" for a string, "a number" for anything else, "nothing" for nil. */
static const char *got(lua_State *L, int idx, char *buf, size_t len)
{
    if (lua_type(L, idx) == LUA_TSTRING)
        snprintf(buf, len, "'%.80s'", lua_tostring(L, idx));
    else if (lua_isnil(L, idx))
        snprintf(buf, len, "nothing");
    else
        snprintf(buf, len, "a %s", luaL_typename(L, idx));
    return buf;
}

__attribute__((format(printf, 2, 3))) static int bad(descriptor *d, const char *fmt, ...)
{
    char why[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(d->msg, sizeof d->msg, "%s: %s", d->path, why);
    d->bad = 1;
    return 0;
}

/* Copy a string into *dst; raise a memory error if it cannot be copied. */
static void take_string(lua_State *L, int idx, char **dst)
{
    *dst = strdup(lua_tostring(L, idx));
    if (!*dst)
        luaL_error(L, "out of memory");
}

/* patterns: "a,b,c" or {"a", "b", "c"}; stored comma-joined.  Leaves the stack as it found it. */
static int read_patterns(lua_State *L, descriptor *d, int t)
{
    char g[128];
    int type = raw_field(L, t, "patterns");
    if (type == LUA_TNIL)
        return 1;
    if (type == LUA_TSTRING) {
        take_string(L, -1, &d->patterns);
        lua_pop(L, 1);
        return 1;
    }
    if (type != LUA_TTABLE)
        return bad(d,
                   "field 'patterns' must be a comma-separated string or an array of strings, "
                   "got %s",
                   got(L, -1, g, sizeof g));
    int arr = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, arr), count = 0;
    lua_pushnil(L);
    while (lua_next(L, arr)) {
        count++;
        lua_pop(L, 1);
    }
    if (count != n)
        return bad(d, "field 'patterns' must be a comma-separated string or an array of strings");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, arr, i) != LUA_TSTRING)
            return bad(d, "field 'patterns' item %lld must be a string, got %s", (long long)i,
                       got(L, -1, g, sizeof g));
        if (strchr(lua_tostring(L, -1), ',') || !*lua_tostring(L, -1))
            return bad(d,
                       "field 'patterns' item %lld must be a non-empty name without commas, got %s",
                       (long long)i, got(L, -1, g, sizeof g));
        if (i > 1)
            luaL_addchar(&b, ',');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    take_string(L, -1, &d->patterns);
    lua_settop(L, arr - 1);
    return 1;
}

/* input_schema / output_schema: an optional table, kept as JSON text. */
static int read_schema(lua_State *L, descriptor *d, int t, const char *field, char **out)
{
    char g[128], why[256];
    int type = raw_field(L, t, field);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return 1;
    }
    if (type != LUA_TTABLE)
        return bad(d, "field '%s' must be a table (a JSON Schema), got %s", field,
                   got(L, -1, g, sizeof g));
    json_t *j = luajson_to_json(L, -1, why, sizeof why);
    if (!json_is_object(j)) {
        json_decref(j);
        return bad(d, "field '%s' must be a JSON Schema object: %s", field,
                   j ? "it is an array" : why);
    }
    *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    lua_pop(L, 1);
    if (!*out)
        return bad(d, "field '%s': out of memory", field);
    return 1;
}

/* A policy decides through any function it chooses, but it must have one. */
static int has_function_field(lua_State *L, int t)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) {
            lua_pop(L, 2);
            return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* Runs protected: (descriptor *, the chunk's result). */
static int check_descriptor(lua_State *L)
{
    static const char *const entry[] = {
        [SKH_KIND_SKILL] = "execute", [SKH_KIND_SCORER] = "score", [SKH_KIND_EVOLVER] = "evolve"};
    descriptor *d = lua_touserdata(L, 1);
    const int t = 2;
    char g[128];
    if (!lua_istable(L, t))
        return bad(d, "the chunk must return a table, got %s", got(L, t, g, sizeof g));

    int type = raw_field(L, t, "kind");
    if (type != LUA_TSTRING || plugin_kind_from_name(lua_tostring(L, -1)) < 0)
        return bad(d, "field 'kind' must be skill, scorer, policy or evolver, got %s",
                   got(L, -1, g, sizeof g));
    d->kind = plugin_kind_from_name(lua_tostring(L, -1));
    lua_pop(L, 1);

    type = raw_field(L, t, "name");
    if (type != LUA_TSTRING || !name_is_valid(lua_tostring(L, -1)))
        return bad(d, "field 'name' must match [a-z0-9_]{1,64}, got %s", got(L, -1, g, sizeof g));
    take_string(L, -1, &d->name);
    lua_pop(L, 1);

    type = raw_field(L, t, "version");
    if (type != LUA_TSTRING || !*lua_tostring(L, -1))
        return bad(d, "field 'version' must be a non-empty string, got %s",
                   got(L, -1, g, sizeof g));
    take_string(L, -1, &d->version);
    lua_pop(L, 1);

    type = raw_field(L, t, "description");
    if (type != LUA_TNIL && type != LUA_TSTRING)
        return bad(d, "field 'description' must be a string, got %s", got(L, -1, g, sizeof g));
    if (type == LUA_TSTRING)
        take_string(L, -1, &d->description);
    lua_pop(L, 1);

    if (!read_patterns(L, d, t))
        return 0;
    if (!read_schema(L, d, t, "input_schema", &d->input_schema) ||
        !read_schema(L, d, t, "output_schema", &d->output_schema))
        return 0;

    if (d->kind == SKH_KIND_POLICY) {
        if (!has_function_field(L, t))
            return bad(d, "a policy must have at least one function field (e.g. 'decide')");
    } else {
        const char *fn = entry[d->kind];
        if (raw_field(L, t, fn) != LUA_TFUNCTION)
            return bad(d, "field '%s' must be a function (kind %s), got %s", fn,
                       plugin_kind_name(d->kind), got(L, -1, g, sizeof g));
        lua_pop(L, 1);
    }

    lua_pushvalue(L, t);
    d->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* ------------------------------------------------------------------ load */

/* All of fd's bytes (at most LP_MAX_SOURCE), read once: what is hashed is what is compiled. */
static int read_source(int fd, const char *path, char **text, size_t *len, skh_error *err)
{
    *text = NULL;
    *len = 0;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            return error_set(err, SKH_ENOMEM, path, "%s: out of memory", path);
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            return error_set(err, SKH_EPLUGIN, path, "%s: cannot read: %s", path, strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n < cap)
            continue;
        if (cap >= LP_MAX_SOURCE) {
            free(buf);
            return error_set(err, SKH_EPLUGIN, path, "%s: larger than %u bytes", path,
                             LP_MAX_SOURCE);
        }
        char *grown = realloc(buf, cap * 2);
        if (!grown)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    *text = buf;
    *len = n;
    return SKH_OK;
}

/*
 * Compile and run the chunk in one window, then check what it returned.
 * On success d holds the descriptor and its registry reference.
 */
static int run_chunk(lua_State *L, const char *path, const char *text, size_t len, descriptor *d,
                     skh_error *err)
{
    char msg[1024];
    size_t idlen = strlen(path) + 2;
    char *chunkname = malloc(idlen);
    if (!chunkname)
        return error_set(err, SKH_ENOMEM, path, "%s: out of memory", path);
    snprintf(chunkname, idlen, "@%s", path);

    int top = lua_gettop(L);
    sandbox_begin(L, NULL);
    int status = luaL_loadbufferx(L, text, len, chunkname, "t");
    free(chunkname);
    if (status == LUA_OK)
        status = sandbox_pcall(L, 0, 1);
    if (status == LUA_OK) {
        lua_pushcfunction(L, check_descriptor);
        lua_pushlightuserdata(L, d);
        lua_pushvalue(L, -3);
        status = lua_pcall(L, 2, 0, 0);
    }
    unsigned flags = sandbox_end(L);

    int rc = SKH_OK;
    if (flags & SANDBOX_LATE) {
        rc = error_set_category(err, SKH_EPLUGIN, SKH_ERR_TIMEOUT, path,
                                "%s: the time limit of %.0f ms was exceeded while loading", path,
                                sandbox_time_limit(L));
    } else if (flags & SANDBOX_TIMEOUT) {
        rc = error_set_category(err, SKH_EPLUGIN, SKH_ERR_TIMEOUT, path,
                                "%s: the instruction budget of %llu instructions was exceeded "
                                "while loading",
                                path, (unsigned long long)sandbox_budget(L));
    } else if (status == LUA_ERRMEM || (status != LUA_OK && (flags & SANDBOX_MEMORY))) {
        rc = error_set_category(err, SKH_EPLUGIN, SKH_ERR_CRASH, path,
                                "%s: memory cap of %zu bytes exceeded while loading", path,
                                sandbox_memory_cap(L));
    } else if (status != LUA_OK) {
        int category;
        describe_error(L, -1, path, SKH_ERR_NONE, &category, msg, sizeof msg);
        if (category != SKH_ERR_NONE)
            rc = error_set_category(err, SKH_EPLUGIN, category, path,
                                    "%s: %s (raised while loading)", path, msg);
        else
            rc = error_set(err, SKH_EPLUGIN, path, "%s", msg);
    } else if (d->bad) {
        rc = error_set(err, SKH_EPLUGIN, path, "%s", d->msg);
    }
    lua_settop(L, top);
    return rc;
}

/* ------------------------------------------------------------------- ctx */

static skh_call *ctx_call(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_rawgetp(L, 1, &ctx_key);
    skh_call *call = sandbox_call(L);
    int isnum;
    lua_Integer window = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!call || !isnum || (uint64_t)window != sandbox_window(L))
        luaL_error(L, "ctx used outside the call it was made for");
    return call;
}

/* ctx:step(name): record a breadcrumb; false when the call holds too many already. */
static int ctx_step(lua_State *L)
{
    skh_call *call = ctx_call(L);
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, len > 0, 2, "step name must not be empty");
    /* Names are identifiers; a long one would be copied for every recorded step. */
    luaL_argcheck(L, len <= LP_STEP_NAME_MAX, 2, "step name longer than 256 bytes");
    lua_pushboolean(L, call_step(call, name) == SKH_PLUGIN_OK);
    return 1;
}

/* ctx:log(level, message) */
static int ctx_log(lua_State *L)
{
    ctx_call(L);
    const char *name = luaL_checkstring(L, 2);
    int level = sandbox_log_level(name);
    if (level < 0)
        return luaL_argerror(
            L, 2, lua_pushfstring(L, "unknown log level '%s' (debug, info, warn, error)", name));
    sandbox_log(L, level, luaL_tolstring(L, 3, NULL));
    return 0;
}

typedef struct run_args {
    int ref;
    const char *fn;
    skh_call *call;
    json_t *input;
    json_t *patterns;
    json_t *context; /* the call's context object, or NULL */
} run_args;

static void push_ctx(lua_State *L, const run_args *a)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, a->call->content);
    lua_setfield(L, -2, "content");
    lua_pushinteger(L, (lua_Integer)a->call->attempt);
    lua_setfield(L, -2, "attempt");
    luajson_push(L, a->patterns);
    lua_setfield(L, -2, "patterns");
    /* The request's context: ctx.session, ctx.phase, ctx.query, ctx.tenant, ... */
    const char *key;
    json_t *value;
    json_object_foreach(a->context, key, value)
    {
        luajson_push(L, value);
        lua_setfield(L, -2, key);
    }
    lua_pushinteger(L, (lua_Integer)sandbox_window(L));
    lua_rawsetp(L, -2, &ctx_key);
    if (luaL_newmetatable(L, "skh.ctx")) {
        static const luaL_Reg methods[] = {{"step", ctx_step}, {"log", ctx_log}, {NULL, NULL}};
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        /* Protected, so no script can add __gc to it. */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}

/* Runs protected: look the function up, build its arguments, call it. */
static int run_body(lua_State *L)
{
    const run_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
    lua_pushstring(L, a->fn);
    if (lua_rawget(L, -2) != LUA_TFUNCTION)
        return luaL_error(L, "no function '%s'", a->fn);
    luajson_push(L, a->input);
    push_ctx(L, a);
    lua_call(L, 2, 1);
    return 1;
}

/* ----------------------------------------------------------- plugin_ops */

typedef struct has_args {
    int ref;
    const char *fn;
    int found;
} has_args;

static int has_body(lua_State *L)
{
    has_args *h = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
    lua_pushstring(L, h->fn);
    h->found = lua_rawget(L, -2) == LUA_TFUNCTION;
    return 0;
}

static int lp_has(const plugin *p, const char *fn)
{
    const lp_impl *impl = p->impl;
    has_args h = {.ref = impl->ref, .fn = fn, .found = 0};
    if (!fn)
        return 0;
    return sandbox_protect(impl->L, has_body, &h) == LUA_OK && h.found;
}

/* A json_dump_callback sink that only counts, and stops past a limit. */
typedef struct size_limit {
    size_t max;
    size_t *len;
} size_limit;

static int count_bytes(const char *buffer, size_t size, void *data)
{
    (void)buffer;
    size_limit *l = data;
    *l->len += size;
    return *l->len > l->max ? -1 : 0;
}

/*
 * The value fn returned (at -1): a table, or JSON object text.  With out,
 * a table is handed over as a JSON value instead of being printed.
 */
static void report_result(const plugin *p, const char *fn, skh_call *call, lua_State *L,
                          json_t **out)
{
    char msg[1024], why[512];
    if (lua_type(L, -1) == LUA_TTABLE) {
        json_t *value = out && call->brief_unless
                            ? luajson_to_json_brief(L, -1, call->brief_unless, why, sizeof why)
                            : luajson_to_json(L, -1, why, sizeof why);
        if (!value) {
            snprintf(msg, sizeof msg, "%s: %s returned a value JSON cannot hold: %s", p->path, fn,
                     why);
            call_fail(call, SKH_ERR_INTERNAL, msg);
            return;
        }
        /* Measured before it is printed: an oversized answer is never turned into text. */
        size_t len = 0;
        if (call->output_max &&
            json_dump_callback(value, count_bytes, &(size_limit){call->output_max, &len},
                               LUAJSON_DUMP_FLAGS) != 0) {
            json_decref(value);
            call_fail_too_big(call, call->output_max + 1, 1);
            return;
        }
        if (out) {
            *out = value;
            call->finished = 1;
            return;
        }
        char *text = json_dumps(value, LUAJSON_DUMP_FLAGS);
        json_decref(value);
        if (!text)
            call_fail(call, SKH_ERR_INTERNAL, "out of memory writing the plugin's output");
        else
            call_output_take(call, text);
        return;
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (call->output_max && len > call->output_max) {
            call_fail_too_big(call, len, 0);
            return;
        }
        json_t *obj = json_loadb(s, len, 0, NULL);
        if (obj && json_is_object(obj)) {
            if (out) {
                *out = obj;
                call->finished = 1;
            } else {
                json_decref(obj);
                call_output(call, s);
            }
            return;
        }
        json_decref(obj);
    }
    char g[128];
    snprintf(msg, sizeof msg, "%s: %s returned no table (got %s)", p->path, fn,
             got(L, -1, g, sizeof g));
    call_fail(call, SKH_ERR_INTERNAL, msg);
}

/* Run fn on input (borrowed); the outcome goes to call, or a table to *out when out is set. */
static int lp_run(plugin *p, const char *fn, json_t *input, skh_call *call, json_t **out,
                  skh_error *err)
{
    lp_impl *impl = p->impl;
    lua_State *L = impl->L;
    char msg[1024];
    if (!lp_has(p, fn))
        return error_set(err, SKH_EPLUGIN, p->path, "%s: no function '%s'", p->path,
                         fn ? fn : "(null)");
    json_error_t jerr;
    json_t *patterns = json_loads(call->patterns ? call->patterns : "[]", 0, &jerr);
    if (!patterns || !json_is_array(patterns)) {
        json_decref(patterns);
        call_fail(call, SKH_ERR_INTERNAL, "the call's expected patterns are not a JSON array");
        return SKH_OK;
    }

    call->output_max = impl->output_max;
    /* Parsed out here, not in the protected call, so an error there cannot leak it. */
    json_t *context = call->context ? json_loads(call->context, 0, NULL) : NULL;
    run_args a = {.ref = impl->ref,
                  .fn = fn,
                  .call = call,
                  .input = input,
                  .patterns = patterns,
                  .context = json_is_object(context) ? context : NULL};
    int top = lua_gettop(L);
    sandbox_begin(L, call);
    lua_pushcfunction(L, run_body);
    lua_pushlightuserdata(L, &a);
    int status = sandbox_pcall(L, 1, 1);
    unsigned flags = sandbox_end(L);
    json_decref(patterns);
    json_decref(context);

    if (flags & SANDBOX_LATE) {
        snprintf(msg, sizeof msg, "%s: %s exceeded its time limit of %.0f ms", p->path, fn,
                 sandbox_time_limit(L));
        call_fail(call, SKH_ERR_TIMEOUT, msg);
    } else if (flags & SANDBOX_TIMEOUT) {
        snprintf(msg, sizeof msg, "%s: %s exceeded the instruction budget of %llu instructions",
                 p->path, fn, (unsigned long long)sandbox_budget(L));
        call_fail(call, SKH_ERR_TIMEOUT, msg);
    } else if (status == LUA_OK) {
        report_result(p, fn, call, L, out);
    } else {
        int plain = p->kind == SKH_KIND_POLICY ? SKH_ERR_POLICY : SKH_ERR_CRASH;
        int category;
        describe_error(L, -1, p->path, plain, &category, msg, sizeof msg);
        /* A plain error after a refused allocation is the memory cap's doing. */
        if (status == LUA_ERRMEM || ((flags & SANDBOX_MEMORY) && category == plain)) {
            snprintf(msg, sizeof msg, "%s: memory cap of %zu bytes exceeded", p->path,
                     sandbox_memory_cap(L));
            category = SKH_ERR_CRASH;
        }
        call_fail(call, category, msg);
    }
    lua_settop(L, top);
    return SKH_OK;
}

static int lp_invoke(plugin *p, const char *fn, skh_call *call, skh_error *err)
{
    json_error_t jerr;
    json_t *input = json_loads(call->input ? call->input : "null", LUAJSON_LOAD_FLAGS, &jerr);
    if (!input) {
        char msg[512];
        snprintf(msg, sizeof msg, "input is not valid JSON: line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        call_fail(call, SKH_ERR_VALIDATION, msg);
        return SKH_OK;
    }
    int rc = lp_run(p, fn, input, call, NULL, err);
    json_decref(input);
    return rc;
}

static int lp_invoke_json(plugin *p, const char *fn, const json_t *input, skh_call *call,
                          json_t **out, skh_error *err)
{
    *out = NULL;
    /* luajson_push only reads the value; jansson's API is not const-correct. */
    return lp_run(p, fn, (json_t *)input, call, out, err);
}

static void lp_close(plugin *p)
{
    if (!p)
        return;
    lp_impl *impl = p->impl;
    if (impl) {
        sandbox_close(impl->L);
        free(impl);
    }
    plugin_free_common(p);
    free(p);
}

static const struct plugin_ops lp_ops = {
    .invoke = lp_invoke,
    .invoke_json = lp_invoke_json,
    .has = lp_has,
    .close = lp_close,
};

int plugin_lua_load(const char *path, const plugin_limits *lim, plugin **out, skh_error *err)
{
    return plugin_lua_load_pinned(path, lim, NULL, out, err);
}

int plugin_lua_load_pinned(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                           plugin **out, skh_error *err)
{
    plugin_limits defaults;
    *out = NULL;
    if (!path || !*path)
        return error_set(err, SKH_EINVAL, "impl", "empty plugin path");
    if (!lim) {
        plugin_limits_default(&defaults);
        lim = &defaults;
    }
    /* Opened once: the trust rules, the hash and the compiler all see this one file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return error_set(err, SKH_EPLUGIN, path, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0;
    int rc = trust_check_fd(path, fd, lim->check_trust, err);
    if (rc == SKH_OK)
        rc = read_source(fd, path, &text, &len, err);
    close(fd);
    if (rc < 0)
        return rc;
    /* The hash of the very bytes compiled, compared before a line of them runs. */
    char sha256[65];
    sha256_hex(text, len, sha256);
    if (pin && pin->sha256 && *pin->sha256 && strcmp(pin->sha256, sha256) != 0) {
        free(text);
        return plugin_pin_refuse(path, pin, sha256, err);
    }
    if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
        free(text);
        return error_set(err, SKH_EPLUGIN, path,
                         "%s: binary chunks are refused; a Lua plugin must be source text", path);
    }
    /* A "#!" line is skipped as lua(1) does: blanked, not cut, so line numbers hold. */
    if (len > 0 && text[0] == '#')
        for (size_t i = 0; i < len && text[i] != '\n'; i++)
            text[i] = ' ';

    plugin *p = calloc(1, sizeof *p);
    lp_impl *impl = calloc(1, sizeof *impl);
    if (!p || !impl) {
        free(p);
        free(impl);
        free(text);
        return error_set(err, SKH_ENOMEM, path, "%s: out of memory", path);
    }
    memcpy(p->sha256, sha256, sizeof p->sha256);
    p->ops = &lp_ops;
    p->impl = impl;
    impl->ref = LUA_NOREF;
    impl->output_max = lim->output_max;

    impl->L = sandbox_open(lim, path, err);
    if (!impl->L) {
        free(text);
        lp_close(p);
        return err ? err->code : SKH_ENOMEM;
    }
    descriptor d = {.path = path, .ref = LUA_NOREF};
    rc = run_chunk(impl->L, path, text, len, &d, err);
    free(text);
    if (rc == SKH_OK) {
        impl->ref = d.ref;
        rc = plugin_fill_common(p, path, d.kind, d.name, d.version, d.description, d.patterns, err);
    }
    if (rc == SKH_OK && d.input_schema)
        rc = plugin_set_schema(p, "input_schema", d.input_schema, err);
    if (rc == SKH_OK && d.output_schema)
        rc = plugin_set_schema(p, "output_schema", d.output_schema, err);
    descriptor_free(&d);
    if (rc < 0) {
        lp_close(p);
        return rc;
    }
    *out = p;
    return SKH_OK;
}
