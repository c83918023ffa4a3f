/*
 * string.find, match, gmatch and gsub for the sandbox, with a clock.
 *
 * Lua's own pattern functions run inside C, where no hook fires: a
 * backtracking pattern such as ("a"):rep(250):find(".-.-.-.-b") runs for a
 * minute in one call.  These are the same functions, written for the
 * sandbox to the Lua 5.4 reference manual (§6.4.1), that count their steps
 * and look at the call's deadline every SANDBOX_PATTERN_STEPS of them
 * (sandbox_check_time raises the timeout error).  They must behave exactly
 * like the stock ones: tests/unit/test_lua_pattern.c runs a corpus and
 * random patterns through both and compares every result and every error.
 *
 * A plain find (no special characters, or plain = true) counts its steps
 * too: a naive search is O(n * m).
 */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_pattern.h"
#include "lua_sandbox.h"

#define PAT_ESC '%'
#define PAT_SPECIALS "^$*+?.([%-"
#define PAT_MAXCAPTURES 32 /* LUA_MAXCAPTURES */
#define PAT_MAXDEPTH 200   /* MAXCCALLS: recursion of the matcher */
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
/* Steps between two looks at the clock: a few microseconds of matching. */
#define PAT_CHECK_MASK 1023u

typedef struct capture {
    const char *init;
    ptrdiff_t len; /* or CAP_UNFINISHED / CAP_POSITION */
} capture;

typedef struct mstate {
    const char *src_init, *src_end; /* the subject */
    const char *p_end;              /* end of the pattern */
    lua_State *L;
    int depth; /* recursion left */
    int level; /* captures open or closed */
    unsigned steps;
    capture cap[PAT_MAXCAPTURES];
} mstate;

static inline void step(mstate *ms)
{
    if ((++ms->steps & PAT_CHECK_MASK) == 0)
        sandbox_check_time(ms->L);
}

static const char *do_match(mstate *ms, const char *s, const char *p);

/* ---------------------------------------------------------- single items */

static int class_matches(int c, int cl)
{
    int res;
    switch (tolower(cl)) {
    case 'a':
        res = isalpha(c);
        break;
    case 'c':
        res = iscntrl(c);
        break;
    case 'd':
        res = isdigit(c);
        break;
    case 'g':
        res = isgraph(c);
        break;
    case 'l':
        res = islower(c);
        break;
    case 'p':
        res = ispunct(c);
        break;
    case 's':
        res = isspace(c);
        break;
    case 'u':
        res = isupper(c);
        break;
    case 'w':
        res = isalnum(c);
        break;
    case 'x':
        res = isxdigit(c);
        break;
    default:
        return cl == c; /* %. %% %( ...: the character itself */
    }
    return isupper(cl) ? !res : res != 0;
}

/* c against the set [..] from p (at '[') to end (at its ']'). */
static int set_matches(int c, const char *p, const char *end)
{
    int found = 1;
    if (p[1] == '^') {
        found = 0;
        p++;
    }
    while (++p < end) {
        if (*p == PAT_ESC) {
            p++;
            if (class_matches(c, (unsigned char)*p))
                return found;
        } else if (p[1] == '-' && p + 2 < end) {
            p += 2;
            if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p)
                return found;
        } else if ((unsigned char)*p == c) {
            return found;
        }
    }
    return !found;
}

/* Where the single item at p ends. */
static const char *item_end(mstate *ms, const char *p)
{
    switch (*p++) {
    case PAT_ESC:
        if (p == ms->p_end)
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    case '[':
        if (*p == '^')
            p++;
        do {
            if (p == ms->p_end)
                luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == PAT_ESC && p < ms->p_end)
                p++; /* %] and friends */
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

static int item_matches(const mstate *ms, const char *s, const char *p, const char *ep)
{
    if (s >= ms->src_end)
        return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return 1;
    case PAT_ESC:
        return class_matches(c, (unsigned char)p[1]);
    case '[':
        return set_matches(c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

/* ------------------------------------------------------- special items */

static const char *match_balance(mstate *ms, const char *s, const char *p)
{
    if (p >= ms->p_end - 1)
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (*s != *p)
        return NULL;
    int open = *p, close = p[1], depth = 1;
    while (++s < ms->src_end) {
        step(ms);
        if (*s == close) {
            if (--depth == 0)
                return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

static const char *expand_max(mstate *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0;
    while (item_matches(ms, s + i, p, ep)) {
        step(ms);
        i++;
    }
    for (; i >= 0; i--) {
        const char *res = do_match(ms, s + i, ep + 1);
        if (res)
            return res;
    }
    return NULL;
}

static const char *expand_min(mstate *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *res = do_match(ms, s, ep + 1);
        if (res)
            return res;
        if (!item_matches(ms, s, p, ep))
            return NULL;
        s++;
    }
}

static const char *capture_open(mstate *ms, const char *s, const char *p, ptrdiff_t what)
{
    int level = ms->level;
    if (level >= PAT_MAXCAPTURES)
        luaL_error(ms->L, "too many captures");
    ms->cap[level].init = s;
    ms->cap[level].len = what;
    ms->level = level + 1;
    const char *res = do_match(ms, s, p);
    if (!res)
        ms->level--;
    return res;
}

static const char *capture_close(mstate *ms, const char *s, const char *p)
{
    int l = ms->level - 1;
    while (l >= 0 && ms->cap[l].len != CAP_UNFINISHED)
        l--;
    if (l < 0)
        luaL_error(ms->L, "invalid pattern capture");
    ms->cap[l].len = s - ms->cap[l].init;
    const char *res = do_match(ms, s, p);
    if (!res)
        ms->cap[l].len = CAP_UNFINISHED;
    return res;
}

static int capture_index(mstate *ms, int l)
{
    l -= '1';
    if (l < 0 || l >= ms->level || ms->cap[l].len == CAP_UNFINISHED)
        return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    return l;
}

static const char *match_backref(mstate *ms, const char *s, int l)
{
    l = capture_index(ms, l);
    size_t len = (size_t)ms->cap[l].len;
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->cap[l].init, s, len) == 0)
        return s + len;
    return NULL;
}

/* ------------------------------------------------------------ matching */

/* Where the match of p from s ends, or NULL. */
static const char *do_match(mstate *ms, const char *s, const char *p)
{
    if (ms->depth-- == 0)
        luaL_error(ms->L, "pattern too complex");
    step(ms);
    for (;;) {
        if (p == ms->p_end)
            break;
        const char *ep;
        switch (*p) {
        case '(':
            if (p[1] == ')')
                s = capture_open(ms, s, p + 2, CAP_POSITION);
            else
                s = capture_open(ms, s, p + 1, CAP_UNFINISHED);
            goto done;
        case ')':
            s = capture_close(ms, s, p + 1);
            goto done;
        case '$':
            if (p + 1 != ms->p_end)
                goto single;
            s = s == ms->src_end ? s : NULL;
            goto done;
        case PAT_ESC:
            switch (p[1]) {
            case 'b':
                s = match_balance(ms, s, p + 2);
                if (s) {
                    p += 4;
                    continue;
                }
                goto done;
            case 'f': {
                p += 2;
                if (*p != '[')
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                ep = item_end(ms, p);
                int before = s == ms->src_init ? '\0' : (unsigned char)s[-1];
                if (!set_matches(before, p, ep - 1) && set_matches((unsigned char)*s, p, ep - 1)) {
                    p = ep;
                    continue;
                }
                s = NULL;
                goto done;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                s = match_backref(ms, s, (unsigned char)p[1]);
                if (s) {
                    p += 2;
                    continue;
                }
                goto done;
            default:
                goto single;
            }
        default:
        single:
            ep = item_end(ms, p);
            if (!item_matches(ms, s, p, ep)) {
                if (*ep == '*' || *ep == '?' || *ep == '-') {
                    p = ep + 1; /* zero of them is a match */
                    continue;
                }
                s = NULL;
                goto done;
            }
            switch (*ep) {
            case '?': {
                const char *res = do_match(ms, s + 1, ep + 1);
                if (res) {
                    s = res;
                    goto done;
                }
                p = ep + 1;
                continue;
            }
            case '+':
                s = expand_max(ms, s + 1, p, ep);
                goto done;
            case '*':
                s = expand_max(ms, s, p, ep);
                goto done;
            case '-':
                s = expand_min(ms, s, p, ep);
                goto done;
            default:
                s++;
                p = ep;
                continue;
            }
        }
    }
done:
    ms->depth++;
    return s;
}

/* ------------------------------------------------------------ captures */

/* Push capture i, or the whole match s..e when the pattern has none. */
static void push_capture(mstate *ms, int i, const char *s, const char *e)
{
    if (i >= ms->level) {
        if (i != 0)
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(ms->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t l = ms->cap[i].len;
    if (l == CAP_UNFINISHED)
        luaL_error(ms->L, "unfinished capture");
    if (l == CAP_POSITION)
        lua_pushinteger(ms->L, (ms->cap[i].init - ms->src_init) + 1);
    else
        lua_pushlstring(ms->L, ms->cap[i].init, (size_t)l);
}

static int push_captures(mstate *ms, const char *s, const char *e)
{
    int n = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_capture(ms, i, s, e);
    return n;
}

static void prepare(mstate *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
    ms->L = L;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
    ms->steps = 0;
}

static void reprepare(mstate *ms)
{
    ms->level = 0;
    ms->depth = PAT_MAXDEPTH;
}

/* ------------------------------------------------------------- helpers */

/* A relative initial position, as string.find reads it: 1-based, negative from the end. */
static size_t start_index(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0)
        return 1;
    if (pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

/* No magic characters anywhere (the pattern may hold NULs, so each piece is checked). */
static int is_plain(const char *p, size_t lp)
{
    size_t upto = 0;
    do {
        if (strpbrk(p + upto, PAT_SPECIALS))
            return 0;
        upto += strlen(p + upto) + 1;
    } while (upto <= lp);
    return 1;
}

static const char *plain_find(mstate *ms, const char *s, size_t ls, const char *p, size_t lp)
{
    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    lp--; /* the first character is found by memchr */
    ls -= lp;
    const char *at;
    while (ls > 0 && (at = memchr(s, *p, ls)) != NULL) {
        step(ms);
        at++;
        if (memcmp(at, p + 1, lp) == 0)
            return at - 1;
        ls -= (size_t)(at - s);
        s = at;
    }
    return NULL;
}

/* ---------------------------------------------------------------- find */

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    sandbox_check_subject(L, find ? "find" : "match", ls);
    if (init > ls) {
        lua_pushnil(L);
        return 1;
    }
    mstate ms;
    prepare(&ms, L, s, ls, p, lp);
    if (find && (lua_toboolean(L, 4) || is_plain(p, lp))) {
        const char *at = plain_find(&ms, s + init, ls - init, p, lp);
        if (at) {
            lua_pushinteger(L, (at - s) + 1);
            lua_pushinteger(L, (lua_Integer)((size_t)(at - s) + lp));
            return 2;
        }
    } else {
        const char *s1 = s + init;
        int anchor = *p == '^';
        if (anchor) {
            p++;
            lp--;
            ms.p_end = p + lp;
        }
        do {
            reprepare(&ms);
            const char *e = do_match(&ms, s1, p);
            if (e) {
                if (find) {
                    lua_pushinteger(L, (s1 - s) + 1);
                    lua_pushinteger(L, e - s);
                    return push_captures(&ms, NULL, 0) + 2;
                }
                return push_captures(&ms, s1, e);
            }
        } while (s1++ < ms.src_end && !anchor);
    }
    lua_pushnil(L);
    return 1;
}

static int pat_find(lua_State *L)
{
    return find_or_match(L, 1);
}

static int pat_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* -------------------------------------------------------------- gmatch */

typedef struct gmatch_state {
    const char *src; /* where the next search starts */
    const char *p;
    const char *lastmatch; /* end of the last match, which may not match empty again */
    mstate ms;
} gmatch_state;

static int gmatch_next(lua_State *L)
{
    gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
    gm->ms.L = L;
    for (const char *src = gm->src; src <= gm->ms.src_end; src++) {
        reprepare(&gm->ms);
        const char *e = do_match(&gm->ms, src, gm->p);
        if (e && e != gm->lastmatch) {
            gm->src = gm->lastmatch = e;
            return push_captures(&gm->ms, src, e);
        }
    }
    return 0;
}

static int pat_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    sandbox_check_subject(L, "gmatch", ls);
    lua_settop(L, 2); /* the strings stay alive as upvalues */
    gmatch_state *gm = lua_newuserdatauv(L, sizeof *gm, 0);
    if (init > ls)
        init = ls + 1; /* past the end: no match */
    prepare(&gm->ms, L, s, ls, p, lp);
    gm->src = s + init;
    gm->p = p;
    gm->lastmatch = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* ---------------------------------------------------------------- gsub */

static void add_replacement_string(mstate *ms, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = ms->L;
    size_t l;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    while ((p = memchr(news, PAT_ESC, l)) != NULL) {
        luaL_addlstring(b, news, (size_t)(p - news));
        p++;
        if (*p == PAT_ESC) {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*p)) {
            push_capture(ms, *p - '1', s, e);
            luaL_addvalue(b); /* a position capture is a number: added as text */
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", PAT_ESC);
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

/* Add the replacement of s..e; 1 when it changed the text. */
static int add_value(mstate *ms, luaL_Buffer *b, const char *s, const char *e, int tr)
{
    lua_State *L = ms->L;
    switch (tr) {
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        push_capture(ms, 0, s, e);
        lua_gettable(L, 3);
        break;
    default:
        add_replacement_string(ms, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s)); /* keep the original */
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int pat_gsub(lua_State *L)
{
    size_t srcl, lp;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *lastmatch = NULL;
    int tr = lua_type(L, 3);
    lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    int anchor = *p == '^';
    lua_Integer n = 0;
    int changed = 0;
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    sandbox_check_subject(L, "gsub", srcl);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (anchor) {
        p++;
        lp--;
    }
    mstate ms;
    prepare(&ms, L, src, srcl, p, lp);
    while (n < max_s) {
        reprepare(&ms);
        const char *e = do_match(&ms, src, p);
        if (e && e != lastmatch) {
            n++;
            changed = add_value(&ms, &b, src, e, tr) | changed;
            src = lastmatch = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void lua_pattern_install(lua_State *L, int string_table)
{
    static const luaL_Reg fns[] = {
        {"find", pat_find},
        {"match", pat_match},
        {"gmatch", pat_gmatch},
        {"gsub", pat_gsub},
    };
    string_table = lua_absindex(L, string_table);
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        lua_pushcfunction(L, fns[i].func);
        lua_setfield(L, string_table, fns[i].name);
    }
}
