/*
 * The sandbox's pattern functions (string.find, match, gmatch, gsub): Lua
 * 5.4's semantics, with a step count that lets the call's deadline stop a
 * pattern that backtracks for minutes (lua_pattern.c).
 */
#ifndef SKH_CORE_LUA_PATTERN_H
#define SKH_CORE_LUA_PATTERN_H

#include <lua.h>

/* Set find, match, gmatch and gsub in the table at index string_table. */
void lua_pattern_install(lua_State *L, int string_table);

#endif
