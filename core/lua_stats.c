/*
 * skh.stats: core/stats.c for Lua policies.  Bad arguments are Lua errors
 * naming the argument and the value (luaL_argerror), so a policy mistake
 * surfaces as a categorised policy error instead of a quiet NaN.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_stats.h"
#include "stats.h"

static long check_count(lua_State *L, int arg)
{
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v < 0)
        luaL_argerror(L, arg, lua_pushfstring(L, "count must be >= 0, got %I", v));
#if LUA_MAXINTEGER > LONG_MAX
    if (v > LONG_MAX)
        luaL_argerror(L, arg, lua_pushfstring(L, "count too large: %I", v));
#endif
    return (long)v;
}

/* Successes at s_arg out of trials at s_arg + 1. */
static void check_arm(lua_State *L, int s_arg, long *s, long *n)
{
    *s = check_count(L, s_arg);
    *n = check_count(L, s_arg + 1);
    if (*s > *n)
        luaL_argerror(L, s_arg,
                      lua_pushfstring(L, "successes (%I) exceed trials (%I)", (lua_Integer)*s,
                                      (lua_Integer)*n));
}

/* A number strictly inside (0, 1); NaN fails the comparison and is refused too. */
static double check_open_unit(lua_State *L, int arg, double def, const char *what)
{
    double v = luaL_optnumber(L, arg, def);
    if (!(v > 0.0 && v < 1.0))
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must be in (0, 1), got %f", what, v));
    return v;
}

static void set_number(lua_State *L, const char *key, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

/* two_proportion_z(s_c, n_c, s_t, n_t) -> {z, p_two_sided, p_one_sided} */
static int l_two_proportion_z(lua_State *L)
{
    long s1, n1, s2, n2;
    check_arm(L, 1, &s1, &n1);
    check_arm(L, 3, &s2, &n2);
    stats_ztest t;
    stats_two_proportion_z(s1, n1, s2, n2, &t);
    lua_createtable(L, 0, 3);
    set_number(L, "z", t.z);
    set_number(L, "p_two_sided", t.p_two_sided);
    set_number(L, "p_one_sided", t.p_one_sided);
    return 1;
}

/* wilson(s, n [, confidence = 0.95]) -> lo, hi */
static int l_wilson(lua_State *L)
{
    long s, n;
    check_arm(L, 1, &s, &n);
    double conf = check_open_unit(L, 3, 0.95, "confidence");
    double lo, hi;
    stats_wilson(s, n, conf, &lo, &hi);
    lua_pushnumber(L, lo);
    lua_pushnumber(L, hi);
    return 2;
}

/* prob_beats(s_c, n_c, s_t, n_t) -> P(treatment rate > control rate) */
static int l_prob_beats(lua_State *L)
{
    long sc, nc, st, nt;
    check_arm(L, 1, &sc, &nc);
    check_arm(L, 3, &st, &nt);
    lua_pushnumber(L, stats_prob_beats(sc, nc, st, nt));
    return 1;
}

/* msprt(s_c, n_c, s_t, n_t [, tau = 0.1 [, alpha = 0.05]]) -> {log_lr, p, verdict, ci_lo, ci_hi} */
static int l_msprt(lua_State *L)
{
    long sc, nc, st, nt;
    check_arm(L, 1, &sc, &nc);
    check_arm(L, 3, &st, &nt);
    double tau = luaL_optnumber(L, 5, STATS_MSPRT_TAU);
    if (!(tau > 0.0 && tau <= 1.0))
        luaL_argerror(L, 5, lua_pushfstring(L, "tau must be in (0, 1], got %f", tau));
    double alpha = check_open_unit(L, 6, STATS_MSPRT_ALPHA, "alpha");
    stats_seq q;
    stats_msprt(sc, nc, st, nt, tau, alpha, &q);
    lua_createtable(L, 0, 5);
    set_number(L, "log_lr", q.log_lr);
    set_number(L, "p", q.p);
    set_number(L, "ci_lo", q.ci_lo);
    set_number(L, "ci_hi", q.ci_hi);
    lua_pushinteger(L, q.verdict);
    lua_setfield(L, -2, "verdict");
    return 1;
}

/* srm_p(n_c, n_t [, expected_treatment_share = 0.5]) -> p */
static int l_srm_p(lua_State *L)
{
    long nc = check_count(L, 1);
    long nt = check_count(L, 2);
    double share = check_open_unit(L, 3, 0.5, "expected treatment share");
    lua_pushnumber(L, stats_srm_p(nc, nt, share));
    return 1;
}

static double check_finite(lua_State *L, int arg)
{
    double v = luaL_checknumber(L, arg);
    if (!isfinite(v))
        luaL_argerror(L, arg, lua_pushfstring(L, "must be finite, got %f", v));
    return v;
}

/* zscore(x, mean, sd) -> (x - mean) / sd; +-inf when sd = 0 and x ~= mean */
static int l_zscore(lua_State *L)
{
    double x = check_finite(L, 1);
    double mean = check_finite(L, 2);
    double sd = check_finite(L, 3);
    if (sd < 0.0)
        luaL_argerror(L, 3, lua_pushfstring(L, "sd must be >= 0, got %f", sd));
    lua_pushnumber(L, stats_zscore(x, mean, sd));
    return 1;
}

/*
 * mean_sd({x1, ..., xn}) -> mean, sd (sample, n - 1).  The values are
 * copied into a userdata rather than malloc'd: it counts against the
 * state's memory cap and is collected if a later element raises an error.
 */
static int l_mean_sd(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Unsigned n = lua_rawlen(L, 1);
    if (n == 0)
        luaL_argerror(L, 1, "need at least one value");
    if (n > SIZE_MAX / sizeof(double))
        luaL_argerror(L, 1, "too many values");
    double *xs = lua_newuserdatauv(L, (size_t)n * sizeof(double), 0);
    for (lua_Unsigned i = 0; i < n; i++) {
        if (lua_rawgeti(L, 1, (lua_Integer)i + 1) != LUA_TNUMBER)
            luaL_argerror(L, 1,
                          lua_pushfstring(L, "element %I must be a number, got %s",
                                          (lua_Integer)i + 1, luaL_typename(L, -1)));
        double v = lua_tonumber(L, -1);
        if (!isfinite(v))
            luaL_argerror(
                L, 1,
                lua_pushfstring(L, "element %I must be finite, got %f", (lua_Integer)i + 1, v));
        xs[i] = v;
        lua_pop(L, 1);
    }
    double mean, sd;
    stats_mean_sd(xs, (size_t)n, &mean, &sd);
    lua_pushnumber(L, mean);
    lua_pushnumber(L, sd);
    return 2;
}

void lua_stats_push(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"two_proportion_z", l_two_proportion_z},
        {"wilson", l_wilson},
        {"prob_beats", l_prob_beats},
        {"msprt", l_msprt},
        {"srm_p", l_srm_p},
        {"zscore", l_zscore},
        {"mean_sd", l_mean_sd},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
}
