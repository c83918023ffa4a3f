/*
 * The Lua sandbox (DESIGN §3.2): one lua_State per plugin with a memory cap,
 * an instruction budget, text-only loading at every depth, `require` only
 * from the configured folders, guarded pattern functions, and the skh table.
 *
 * Lua code may only run inside a window opened by sandbox_begin and closed
 * by sandbox_end; outside one, any Lua instruction raises at once.
 */
#ifndef SKH_CORE_LUA_SANDBOX_H
#define SKH_CORE_LUA_SANDBOX_H

#include <stdint.h>
#include <lua.h>

#include "call.h"
#include "loader.h"

/*
 * A new sandboxed state.  name labels log lines written while no call is
 * current (e.g. while the chunk loads).  NULL with err set on failure.
 */
lua_State *sandbox_open(const plugin_limits *lim, const char *name, skh_error *err);
void sandbox_close(lua_State *L);

/*
 * Open a window: fresh instruction budget; call (may be NULL) is the
 * current call; the window ends by call->timeout_ms, or without one by the
 * limits' timeout_ms.
 */
void sandbox_begin(lua_State *L, skh_call *call);

/* What went wrong in a window, as flags sandbox_end returns. */
enum {
    SANDBOX_TIMEOUT = 1, /* the instruction budget ran out */
    SANDBOX_MEMORY = 2,  /* an allocation hit the memory cap */
    SANDBOX_LATE = 4     /* with SANDBOX_TIMEOUT: it was the time limit, not the budget */
};
unsigned sandbox_end(lua_State *L);

/* The current call (NULL outside a window), and a number unique to the window. */
skh_call *sandbox_call(lua_State *L);
uint64_t sandbox_window(lua_State *L);

uint64_t sandbox_budget(lua_State *L);   /* instructions per window; 0 = unlimited */
size_t sandbox_memory_cap(lua_State *L); /* bytes; 0 = unlimited */
double sandbox_time_limit(lua_State *L); /* ms of the current (or last) window; 0 = unlimited */

/*
 * For C functions that loop (the pattern functions): past the window's
 * deadline, stop the window and raise the time-limit error.
 */
void sandbox_check_time(lua_State *L);
/* Refuse a pattern subject longer than lua.pattern_subject_max. */
void sandbox_check_subject(lua_State *L, const char *fn, size_t len);

/*
 * lua_pcall with a luaL_traceback message handler: a string error comes
 * back as "where: message\nstack traceback:...", other error values as they
 * were raised.
 */
int sandbox_pcall(lua_State *L, int nargs, int nresults);

/* Run f with ud as its only argument in protected mode; a Lua status. */
int sandbox_protect(lua_State *L, lua_CFunction f, void *ud);

/* "debug" | "info" | "warn" | "error" -> SKH_LOG_*, or -1. */
int sandbox_log_level(const char *name);
/* Log through the current call (or as the sandbox's name when there is none). */
void sandbox_log(lua_State *L, int level, const char *msg);

#endif
