/*
 * The Lua sandbox (DESIGN §3.2).
 *
 * What a script can reach: the base library without dofile, loadfile and
 * collectgarbage; string without dump; table, math, utf8, coroutine; os
 * reduced to time, clock and date; and the skh table.  No io, debug or
 * package.  `load` and `require` are replaced by versions that only ever
 * compile text, and `require` reads only from the configured folders.
 *
 * What bounds a script: a per-state memory cap in the allocator, and an
 * instruction budget per window counted by a count hook that every
 * coroutine inherits.  Once the budget is gone the hook raises on every
 * instruction of any thread that runs, so pcall cannot swallow the stop.
 * The hook does not fire inside C functions, hence the size guards on the
 * pattern functions and string.rep.  Finalizers run with hooks off, so
 * setmetatable refuses __gc and the host's own metatables are protected.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "error.h"
#include "lua_json.h"
#include "lua_pattern.h"
#include "lua_sandbox.h"
#include "lua_stats.h"
#include "trust.h"

/* Instructions between two budget checks: small enough to stop promptly, big enough to be free. */
#define SANDBOX_HOOK_PERIOD 1000

/* require() module names: [A-Za-z0-9_.]+ of at most this many bytes. */
#define SANDBOX_MODULE_NAME_MAX 128

typedef struct sandbox {
    lua_State *main;
    size_t used, cap; /* bytes the state holds; cap 0 = unlimited */
    int mem_hit;      /* an allocation was refused at the cap in this window */
    uint64_t budget;  /* instructions per window; 0 = unlimited */
    uint64_t spent;
    int period; /* hook count between checks */
    int open;   /* a window is open: Lua code may run */
    int exceeded;
    int late;          /* what exceeded: the window's time, not the budget */
    double timeout_ms; /* a window's time when its call brings none; 0 = unlimited */
    double limit_ms;   /* this window's time */
    double deadline;   /* monotonic ms; INFINITY for none */
    unsigned allocs;   /* allocations in this window, for a look at the clock now and then */
    unsigned compares; /* table.sort comparisons, likewise */
    uint64_t window;
    size_t pattern_max;
    int check_trust;
    char *lua_path; /* ';' separated folders, or NULL */
    char *name;
    skh_call *call;
} sandbox;

static const char loaded_key = 'l'; /* registry: require's cache */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sb_hook(lua_State *L, lua_Debug *ar);

/* Time is up: every thread that runs Lua stops at its next instruction (the hook raises). */
static void mark_late(sandbox *sb, lua_State *L)
{
    sb->exceeded = 1;
    sb->late = 1;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
    if (L != sb->main)
        lua_sethook(sb->main, sb_hook, LUA_MASKCOUNT, 1);
}

static sandbox *sb_get(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* ------------------------------------------------------------- allocator */

/*
 * Lua assumes a shrink never fails, so shrinks are never refused and a
 * failed shrinking realloc keeps the old (larger) block.
 */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sandbox *sb = ud;
    if (!ptr)
        osize = 0; /* then osize is a type tag, not a size */
    if (nsize == 0) {
        free(ptr);
        sb->used -= osize;
        return NULL;
    }
    if (sb->cap && nsize > osize && nsize - osize > sb->cap - sb->used) {
        sb->mem_hit = 1;
        return NULL;
    }
    /*
     * C functions that allocate as they go (string.rep, table.concat, load)
     * run unhooked; past the deadline their next growth fails.
     */
    if (sb->open && nsize > osize &&
        (sb->late ||
         ((++sb->allocs & 255u) == 0 && !isinf(sb->deadline) && mono_ms() >= sb->deadline))) {
        if (!sb->late)
            mark_late(sb, sb->main);
        return NULL;
    }
    void *q = realloc(ptr, nsize);
    if (!q)
        return nsize <= osize ? ptr : NULL;
    sb->used = sb->used - osize + nsize;
    return q;
}

/* ------------------------------------------------------ instruction budget */

static void sb_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    sandbox *sb = sb_get(L);
    if (sb->open && !sb->exceeded) {
        int count = lua_gethookcount(L);
        if (sb->budget)
            sb->spent += (uint64_t)count;
        if (!sb->budget || sb->spent < sb->budget) {
            /* One look at the clock per period: a few ns per thousand instructions. */
            if (!isinf(sb->deadline) && mono_ms() >= sb->deadline) {
                mark_late(sb, L);
            } else {
                /* A thread left re-armed at 1 by an earlier window goes back to the normal pace. */
                if (count != sb->period)
                    lua_sethook(L, sb_hook, LUA_MASKCOUNT, sb->period);
                return;
            }
        }
        sb->exceeded = 1;
    }
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
    if (!sb->open)
        luaL_error(L, "Lua code ran outside a plugin call");
    if (sb->late)
        luaL_error(L, "time limit of %d ms exceeded", (int)ceil(sb->limit_ms));
    luaL_error(L, "instruction budget of %I instructions exceeded", (lua_Integer)sb->budget);
}

void sandbox_begin(lua_State *L, skh_call *call)
{
    sandbox *sb = sb_get(L);
    sb->open = 1;
    sb->exceeded = 0;
    sb->late = 0;
    sb->spent = 0;
    sb->allocs = 0;
    sb->mem_hit = 0;
    sb->call = call;
    sb->window++;
    /* The call's own time (a request's time left), else the sandbox's. */
    sb->limit_ms = call && call->timeout_ms > 0 ? call->timeout_ms : sb->timeout_ms;
    sb->deadline = sb->limit_ms > 0 ? mono_ms() + sb->limit_ms : INFINITY;
    lua_sethook(sb->main, sb_hook, LUA_MASKCOUNT, sb->period);
}

unsigned sandbox_end(lua_State *L)
{
    sandbox *sb = sb_get(L);
    /* Give the garbage of a memory bomb back now, so the next call starts with room. */
    if (sb->mem_hit)
        lua_gc(L, LUA_GCCOLLECT);
    unsigned flags = (sb->exceeded ? SANDBOX_TIMEOUT : 0u) | (sb->mem_hit ? SANDBOX_MEMORY : 0u) |
                     (sb->late ? SANDBOX_LATE : 0u);
    sb->open = 0;
    sb->exceeded = 0;
    sb->late = 0;
    sb->call = NULL;
    lua_sethook(sb->main, sb_hook, LUA_MASKCOUNT, 1);
    return flags;
}

skh_call *sandbox_call(lua_State *L)
{
    return sb_get(L)->call;
}

uint64_t sandbox_window(lua_State *L)
{
    return sb_get(L)->window;
}

uint64_t sandbox_budget(lua_State *L)
{
    return sb_get(L)->budget;
}

double sandbox_time_limit(lua_State *L)
{
    return sb_get(L)->limit_ms;
}

void sandbox_check_time(lua_State *L)
{
    sandbox *sb = sb_get(L);
    if (!sb->open || sb->exceeded || isinf(sb->deadline) || mono_ms() < sb->deadline)
        return;
    mark_late(sb, L);
    luaL_error(L, "time limit of %d ms exceeded", (int)ceil(sb->limit_ms));
}

void sandbox_check_subject(lua_State *L, const char *fn, size_t len)
{
    sandbox *sb = sb_get(L);
    if (sb->pattern_max && len > sb->pattern_max)
        luaL_error(L, "string.%s: subject of %I bytes exceeds the pattern limit of %I bytes", fn,
                   (lua_Integer)len, (lua_Integer)sb->pattern_max);
}

size_t sandbox_memory_cap(lua_State *L)
{
    return sb_get(L)->cap;
}

/* ------------------------------------------------------- protected calls */

static int sb_msgh(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

int sandbox_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, sb_msgh);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

int sandbox_protect(lua_State *L, lua_CFunction f, void *ud)
{
    int top = lua_gettop(L);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    int status = lua_pcall(L, 1, 0, 0);
    lua_settop(L, top);
    return status;
}

/* ------------------------------------------------------------------ log */

int sandbox_log_level(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    static const int levels[] = {SKH_LOG_DEBUG, SKH_LOG_INFO, SKH_LOG_WARN, SKH_LOG_ERROR};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return levels[i];
    return -1;
}

void sandbox_log(lua_State *L, int level, const char *msg)
{
    sandbox *sb = sb_get(L);
    if (sb->call) {
        call_log(sb->call, level, "%s", msg);
        return;
    }
    skh_call tmp;
    call_init(&tmp, NULL, NULL, NULL, 1, sb->name);
    call_log(&tmp, level, "%s", msg);
    call_release(&tmp);
}

static int sb_skh_log(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int level = sandbox_log_level(name);
    if (level < 0)
        return luaL_argerror(
            L, 1, lua_pushfstring(L, "unknown log level '%s' (debug, info, warn, error)", name));
    sandbox_log(L, level, luaL_tolstring(L, 2, NULL));
    return 0;
}

/* print(...) logs its arguments, tab separated, at info level. */
static int sb_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    sandbox_log(L, SKH_LOG_INFO, lua_tostring(L, -1));
    return 0;
}

/* ------------------------------------------------------------------ load */

/* Call the function in upvalue 1 with every argument; return all it returns. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* The slot generic_reader keeps the current piece in, so it is not collected (as lbaselib). */
#define RESERVEDSLOT 5

static const char *generic_reader(lua_State *L, void *ud, size_t *size)
{
    (void)ud;
    luaL_checkstack(L, 2, "too many nested functions");
    lua_pushvalue(L, 1);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        *size = 0;
        return NULL;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "reader function must return a string");
    lua_replace(L, RESERVEDSLOT);
    return lua_tolstring(L, RESERVEDSLOT, size);
}

/*
 * load(chunk [, chunkname [, mode [, env]]]) that compiles text only,
 * whatever mode says.  Every chunk it makes sees this same function as
 * `load`, so a load nested at any depth is text-only too.
 */
static int sb_load(lua_State *L)
{
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    int env = !lua_isnone(L, 4) ? 4 : 0;
    int status;
    if (s) {
        const char *chunkname = luaL_optstring(L, 2, s);
        if (len > 0 && s[0] == LUA_SIGNATURE[0]) {
            luaL_pushfail(L);
            lua_pushliteral(L, "attempt to load a binary chunk (the sandbox loads text only)");
            return 2;
        }
        status = luaL_loadbufferx(L, s, len, chunkname, "t");
    } else {
        const char *chunkname = luaL_optstring(L, 2, "=(load)");
        luaL_checktype(L, 1, LUA_TFUNCTION);
        lua_settop(L, RESERVEDSLOT);
        status = lua_load(L, generic_reader, NULL, chunkname, "t");
    }
    if (status != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, env);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

/* --------------------------------------------------------------- require */

static int module_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > SANDBOX_MODULE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* Load and run FOLDER/NAME.lua (dots in NAME become '/'); cache the result per state. */
static int sb_require(lua_State *L)
{
    sandbox *sb = sb_get(L);
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    if (!module_name_ok(name, len))
        return luaL_error(L, "require: module name '%s' must match [A-Za-z0-9_.]+", name);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &loaded_key); /* 2 */
    if (lua_getfield(L, 2, name) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (!sb->lua_path || !*sb->lua_path)
        return luaL_error(L, "module '%s' not found: no Lua module path is configured", name);

    const char *rel = luaL_gsub(L, name, ".", "/"); /* 3 */
    lua_pushliteral(L, "");                         /* 4: the files tried, for the message */
    for (const char *seg = sb->lua_path; seg;) {
        const char *semi = strchr(seg, ';');
        size_t seglen = semi ? (size_t)(semi - seg) : strlen(seg);
        const char *next = semi ? semi + 1 : NULL;
        if (seglen == 0) {
            seg = next;
            continue;
        }
        lua_pushlstring(L, seg, seglen);
        const char *path = lua_pushfstring(L, "%s/%s.lua", lua_tostring(L, -1), rel); /* 6 */
        struct stat st;
        if (stat(path, &st) != 0) {
            lua_pushfstring(L, "%s\n\tno file '%s'", lua_tostring(L, 4), path);
            lua_replace(L, 4);
            lua_pop(L, 2);
            seg = next;
            continue;
        }
        if (sb->check_trust) {
            skh_error err;
            error_clear(&err);
            if (trust_check(path, &err) < 0)
                return luaL_error(L, "module '%s': %s: %s", name, path, err.message);
        }
        if (luaL_loadfilex(L, path, "t") != LUA_OK)
            return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path,
                              lua_tostring(L, -1));
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 6);
        lua_call(L, 2, 1);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushboolean(L, 1);
        }
        lua_pushvalue(L, -1);
        lua_setfield(L, 2, name);
        return 1;
    }
    return luaL_error(L, "module '%s' not found in the Lua module path:%s", name,
                      lua_tostring(L, 4));
}

/* ---------------------------------------------------------------- guards */

/* string.rep: refuse a result bigger than the memory cap with a message that says so. */
static int sb_rep(lua_State *L)
{
    sandbox *sb = sb_get(L);
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    /* Lua's own rep loops n times even when there is nothing to copy. */
    if (n > 0 && l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    if (sb->cap && n > 0) {
        size_t per = l + lsep;
        int too_big = (uint64_t)n > (uint64_t)(sb->cap / per) + 1;
        if (!too_big)
            too_big = l * (size_t)n + lsep * ((size_t)n - 1) > sb->cap;
        if (too_big)
            return luaL_error(L, "string.rep: result would exceed the memory cap of %I bytes",
                              (lua_Integer)sb->cap);
    }
    return call_original(L);
}

/*
 * table.insert/remove/move shift elements in a C loop whose length comes
 * from __len or from the arguments, not from what the table holds, so
 * table.move({}, 1, 1 << 62, 2) would spin unhooked.  No real table holds
 * more elements than the memory cap has room for (16 bytes each) or than
 * the budget could have stored, which bounds every legitimate shift.
 */
static void check_shift(lua_State *L, const char *fn, lua_Unsigned count)
{
    sandbox *sb = sb_get(L);
    uint64_t limit = UINT64_MAX;
    if (sb->cap)
        limit = sb->cap / 16;
    if (sb->budget && sb->budget < limit)
        limit = sb->budget;
    if (count > limit)
        luaL_error(L, "table.%s: would move %I elements, more than any table here can hold", fn,
                   (lua_Integer)(count > LUA_MAXINTEGER ? LUA_MAXINTEGER : count));
}

/* ltablib's tinsert with the shift bounded; __len is consulted once, as there. */
static int sb_tinsert(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer e = luaL_intop(+, luaL_len(L, 1), 1); /* first empty element */
    lua_Integer pos = e;
    switch (lua_gettop(L)) {
    case 2:
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        check_shift(L, "insert", (lua_Unsigned)e - (lua_Unsigned)pos);
        for (lua_Integer i = e; i > pos; i--) {
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int sb_tremove(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer size = luaL_len(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
    if (pos < size)
        check_shift(L, "remove", (lua_Unsigned)size - (lua_Unsigned)pos);
    lua_geti(L, 1, pos);
    for (; pos < size; pos++) {
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

/* table.move(a1, f, e, t [, a2]): the count comes from integer arguments, so check, then delegate.
 */
static int sb_tmove(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    if (e >= f)
        check_shift(L, "move", (lua_Unsigned)e - (lua_Unsigned)f + 1u);
    return call_original(L);
}

/* table.sort's comparison when the script gives none: Lua's own, with a look at the clock. */
static int sb_sort_less(lua_State *L)
{
    sandbox *sb = sb_get(L);
    if ((++sb->compares & 255u) == 0)
        sandbox_check_time(L);
    lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
    return 1;
}

/*
 * table.sort without a comparator compares in C, unhooked: n log n over a
 * table the memory cap allows is seconds.  With sb_sort_less it stops at the
 * deadline; a script's own comparator is Lua and hooked already.
 */
static int sb_tsort(lua_State *L)
{
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_pushcfunction(L, sb_sort_less);
    }
    return call_original(L);
}

/* setmetatable: no __gc, since finalizers run with hooks off and could loop forever. */
static int sb_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in plugins");
        lua_pop(L, 1);
    }
    return call_original(L);
}

/* ------------------------------------------- hooks-off paths of the VM */

/*
 * An error raised from the count hook unwinds past the point where Lua
 * turns hooks back on; pcall restores them, but two places run Lua code
 * before that happens:
 *
 *  - xpcall's message handler runs at the error point, so a handler that
 *    loops after a budget stop would never be stopped.  Here the handler
 *    runs after unwinding instead (without the debug library a script
 *    cannot tell the difference);
 *  - a coroutine that died of such an error keeps hooks off, and closing it
 *    (coroutine.close, or coroutine.wrap after an error) runs its pending
 *    __close handlers unhooked.  Here a coroutine that died of an error is
 *    never closed: its to-be-closed variables are left for the collector,
 *    as Lua does when nobody calls coroutine.close.
 */
static int finish_xpcall(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushvalue(L, 2); /* the handler */
        lua_insert(L, -2);
        lua_pcall(L, 1, 1, 0); /* its error, if any, stands in for its result */
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

static int sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2); /* true, f below f's arguments */
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 0, 2, finish_xpcall);
    return finish_xpcall(L, status, 2);
}

static int co_died_of_error(lua_State *co)
{
    int status = lua_status(co);
    return status != LUA_OK && status != LUA_YIELD;
}

/* coroutine.close(co), except for a coroutine that died of an error: false, its error. */
static int sb_coclose(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    if (!co_died_of_error(co))
        return call_original(L);
    lua_pushboolean(L, 0);
    if (lua_gettop(co) > 0) {
        lua_pushvalue(co, -1);
        lua_xmove(co, L, 1);
    } else {
        lua_pushnil(L);
    }
    return 2;
}

/* lcorolib's auxwrap, minus closing the coroutine when it fails. */
static int sb_cowrap_call(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int narg = lua_gettop(L), nres;
    if (!lua_checkstack(co, narg))
        return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, narg);
    int status = lua_resume(co, L, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            return luaL_error(L, "too many results to resume");
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int sb_cowrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, sb_cowrap_call, 1);
    return 1;
}

/* ----------------------------------------------------------------- setup */

static void wrap_field(lua_State *L, int table, const char *field, lua_CFunction guard)
{
    lua_getfield(L, table, field);
    lua_pushstring(L, field);
    lua_pushcclosure(L, guard, 2);
    lua_setfield(L, table, field);
}

/*
 * The skh table scripts see.  Everything the host offers to Lua hangs off
 * it; add new members (skh.stats, ...) here.
 */
static void open_skh(lua_State *L)
{
    lua_createtable(L, 0, 5);
    lua_pushcfunction(L, sb_skh_log);
    lua_setfield(L, -2, "log");
    luajson_open(L);
    lua_setfield(L, -2, "json");
    luajson_push_null(L);
    lua_setfield(L, -2, "null");
    lua_stats_push(L);
    lua_setfield(L, -2, "stats");
}

static int sb_setup(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},
        {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
        {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }

    lua_pushglobaltable(L);
    int g = lua_gettop(L);

    /* os: the clock only. */
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_createtable(L, 0, 3);
    static const char *const os_keep[] = {"time", "clock", "date"};
    for (size_t i = 0; i < sizeof os_keep / sizeof os_keep[0]; i++) {
        lua_getfield(L, -2, os_keep[i]);
        lua_setfield(L, -2, os_keep[i]);
    }
    lua_setfield(L, g, "os");
    lua_pop(L, 1);

    static const char *const drop[] = {"dofile", "loadfile", "collectgarbage"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        lua_pushnil(L);
        lua_setfield(L, g, drop[i]);
    }
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, g, "print");
    lua_pushcfunction(L, sb_load);
    lua_setfield(L, g, "load");
    lua_pushcfunction(L, sb_require);
    lua_setfield(L, g, "require");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setfield(L, g, "setmetatable");
    lua_pushcfunction(L, sb_xpcall);
    lua_setfield(L, g, "xpcall");

    lua_getfield(L, g, "table");
    lua_pushcfunction(L, sb_tinsert);
    lua_setfield(L, -2, "insert");
    lua_pushcfunction(L, sb_tremove);
    lua_setfield(L, -2, "remove");
    lua_getfield(L, -1, "move");
    lua_pushcclosure(L, sb_tmove, 1);
    lua_setfield(L, -2, "move");
    lua_getfield(L, -1, "sort");
    lua_pushcclosure(L, sb_tsort, 1);
    lua_setfield(L, -2, "sort");
    lua_pop(L, 1);

    lua_getfield(L, g, "coroutine");
    lua_pushcfunction(L, sb_cowrap);
    lua_setfield(L, -2, "wrap");
    lua_getfield(L, -1, "close");
    lua_pushcclosure(L, sb_coclose, 1);
    lua_setfield(L, -2, "close");
    lua_pop(L, 1);

    /* The string table is also the strings' __index, so s:find() is guarded too. */
    lua_getfield(L, g, "string");
    int str = lua_gettop(L);
    lua_pushnil(L);
    lua_setfield(L, str, "dump");
    /* Pattern functions that watch the clock (lua_pattern.c) instead of Lua's own. */
    lua_pattern_install(L, str);
    wrap_field(L, str, "rep", sb_rep);
    lua_pop(L, 1);

    open_skh(L);
    lua_setfield(L, g, "skh");

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &loaded_key);
    lua_pop(L, 1);
    return 0;
}

static void sb_free(sandbox *sb)
{
    if (!sb)
        return;
    free(sb->lua_path);
    free(sb->name);
    free(sb);
}

lua_State *sandbox_open(const plugin_limits *lim, const char *name, skh_error *err)
{
    sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) {
        error_set(err, SKH_ENOMEM, name, "out of memory");
        return NULL;
    }
    sb->cap = lim->lua_memory;
    sb->budget = lim->lua_instructions;
    sb->period =
        sb->budget && sb->budget < SANDBOX_HOOK_PERIOD ? (int)sb->budget : SANDBOX_HOOK_PERIOD;
    sb->pattern_max = lim->lua_pattern_max;
    sb->timeout_ms = lim->timeout_ms;
    sb->deadline = INFINITY;
    sb->check_trust = lim->check_trust;
    sb->name = strdup(name ? name : "lua");
    sb->lua_path = lim->lua_path ? strdup(lim->lua_path) : NULL;
    if (!sb->name || (lim->lua_path && !sb->lua_path)) {
        sb_free(sb);
        error_set(err, SKH_ENOMEM, name, "out of memory");
        return NULL;
    }

    lua_State *L = lua_newstate(sb_alloc, sb);
    if (!L) {
        if (sb->mem_hit)
            error_set(err, SKH_EPLUGIN, name,
                      "%s: the memory cap of %zu bytes is too small for a Lua state", name,
                      sb->cap);
        else
            error_set(err, SKH_ENOMEM, name, "cannot create a Lua state: out of memory");
        sb_free(sb);
        return NULL;
    }
    sb->main = L;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1); /* closed until the first window */
    if (sandbox_protect(L, sb_setup, sb) != LUA_OK) {
        if (sb->mem_hit)
            error_set(err, SKH_EPLUGIN, name,
                      "%s: the memory cap of %zu bytes is too small for a Lua state", name,
                      sb->cap);
        else
            error_set(err, SKH_ENOMEM, name, "cannot set up the Lua sandbox: out of memory");
        lua_close(L);
        sb_free(sb);
        return NULL;
    }
    return L;
}

void sandbox_close(lua_State *L)
{
    if (!L)
        return;
    sandbox *sb = sb_get(L);
    lua_close(L);
    sb_free(sb);
}
