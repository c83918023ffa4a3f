/* skh.stats for Lua policies (DESIGN §5): the functions of stats.h, argument-checked. */
#ifndef SKH_CORE_LUA_STATS_H
#define SKH_CORE_LUA_STATS_H

#include <lua.h>

/*
 * Push a new table {two_proportion_z, wilson, prob_beats, msprt, srm_p,
 * zscore, mean_sd}.  Raises a Lua error on memory exhaustion.
 */
void lua_stats_push(lua_State *L);

#endif
