/*
 * JSON <-> Lua values for Lua plugins, and the skh.json table.
 *
 * Lua -> JSON never raises and never allocates Lua memory: it runs after a
 * plugin call returned, sometimes at the memory cap, and a Lua error there
 * would leak the half-built jansson value.  JSON -> Lua raises only Lua's
 * own memory errors; callers own the json_t and free it whatever happens
 * (skh.json.decode keeps it in a collectable box for that).
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_json.h"

/* Registry keys (their addresses) and the null sentinel (its address is skh.null). */
static const char array_mt_key = 'a';
static const char box_mt_key = 'b';
static const char null_sentinel = 'n';

/* ---------------------------------------------------------------- helpers */

int luajson_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned long cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

void luajson_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&null_sentinel);
}

int luajson_is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &null_sentinel;
}

/* Needs two free stack slots; allocates nothing. */
static int is_marked_array(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    int marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

void luajson_mark_array(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, idx);
}

/* ------------------------------------------------------------ JSON -> Lua */

void luajson_push(lua_State *L, const json_t *v)
{
    luaL_checkstack(L, 4, "JSON value nests too deeply");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *obj = (json_t *)v; /* jansson's iterators take non-const */
        const char *key;
        size_t klen;
        json_t *val;
        size_t n = json_object_size(obj);
        lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
        json_object_keylen_foreach(obj, key, klen, val)
        {
            lua_pushlstring(L, key, klen);
            luajson_push(L, val);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            luajson_push(L, json_array_get(v, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        luajson_mark_array(L, -1);
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
    default:
        luajson_push_null(L);
        break;
    }
}

/* ------------------------------------------------------------ Lua -> JSON */

typedef struct enc {
    lua_State *L;
    const void *ancestors[LUAJSON_MAX_DEPTH]; /* tables on the path to the current value */
    int depth;
    size_t values, bytes; /* written so far, against LUAJSON_MAX_* */
    char path[200];       /* "$.items[3].name", for messages */
    size_t pathlen;
    char *why;
    size_t whylen;
    int brief; /* an object's table-valued members are left out (luajson_to_json_brief) */
} enc;

__attribute__((format(printf, 2, 3))) static json_t *enc_fail(enc *e, const char *fmt, ...)
{
    char reason[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (e->why && e->whylen)
        snprintf(e->why, e->whylen, "%s %s", e->path, reason);
    return NULL;
}

/* Append a path segment; returns the length to restore afterwards. */
static size_t enc_path_key(enc *e, const char *key, size_t klen)
{
    size_t old = e->pathlen, room = sizeof e->path - old;
    int n = snprintf(e->path + old, room, ".%.*s", klen > 40 ? 40 : (int)klen, key);
    e->pathlen = (n < 0 || (size_t)n >= room) ? sizeof e->path - 1 : old + (size_t)n;
    return old;
}

static size_t enc_path_index(enc *e, lua_Integer i)
{
    size_t old = e->pathlen, room = sizeof e->path - old;
    int n = snprintf(e->path + old, room, "[%lld]", (long long)i);
    e->pathlen = (n < 0 || (size_t)n >= room) ? sizeof e->path - 1 : old + (size_t)n;
    return old;
}

static void enc_path_restore(enc *e, size_t old)
{
    e->pathlen = old;
    e->path[old] = '\0';
}

static json_t *enc_value(enc *e, int idx);

static json_t *enc_array(enc *e, int idx, lua_Integer n)
{
    json_t *arr = json_array();
    if (!arr)
        return enc_fail(e, "could not be converted: out of memory");
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(e->L, idx, i);
        size_t old = enc_path_index(e, i);
        json_t *v = enc_value(e, -1);
        enc_path_restore(e, old);
        lua_pop(e->L, 1);
        if (!v || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return v ? enc_fail(e, "could not be converted: out of memory") : NULL;
        }
    }
    return arr;
}

static json_t *enc_object(enc *e, int idx)
{
    lua_State *L = e->L;
    json_t *obj = json_object();
    if (!obj)
        return enc_fail(e, "could not be converted: out of memory");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        const char *key = lua_tolstring(L, -2, &klen); /* keys are strings here: no conversion */
        if (!luajson_utf8_valid(key, klen)) {
            json_decref(obj);
            return enc_fail(e, "has a key that is not valid UTF-8");
        }
        if (klen > LUAJSON_MAX_BYTES - e->bytes) {
            json_decref(obj);
            return enc_fail(e, "is past the limit of %u bytes of text in one document",
                            LUAJSON_MAX_BYTES);
        }
        if (e->brief && lua_type(L, -1) == LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        e->bytes += klen;
        size_t old = enc_path_key(e, key, klen);
        json_t *v = enc_value(e, -1);
        if (!v) {
            json_decref(obj);
            return NULL; /* the caller restores the stack */
        }
        enc_path_restore(e, old);
        lua_pop(L, 1);
        if (json_object_setn_new_nocheck(obj, key, klen, v) != 0) {
            json_decref(obj);
            return enc_fail(e, "could not be converted: out of memory");
        }
    }
    return obj;
}

static json_t *enc_table(enc *e, int idx)
{
    lua_State *L = e->L;
    const void *self = lua_topointer(L, idx);
    for (int i = 0; i < e->depth; i++)
        if (e->ancestors[i] == self)
            return enc_fail(e, "is a table that contains itself (a cycle)");
    if (e->depth >= LUAJSON_MAX_DEPTH)
        return enc_fail(e, "nests deeper than %d levels", LUAJSON_MAX_DEPTH);
    if (!lua_checkstack(L, 4))
        return enc_fail(e, "nests too deeply for the Lua stack");

    int top = lua_gettop(L);
    int marked = is_marked_array(L, idx);
    lua_Integer count = 0, nint = 0, nstr = 0, minint = LUA_MAXINTEGER, maxint = 0;
    int other = LUA_TNONE;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        if (lua_type(L, -2) == LUA_TSTRING) {
            nstr++;
        } else if (lua_isinteger(L, -2)) {
            lua_Integer k = lua_tointeger(L, -2);
            nint++;
            if (k < minint)
                minint = k;
            if (k > maxint)
                maxint = k;
        } else {
            other = lua_type(L, -2);
        }
        lua_pop(L, 1);
    }

    json_t *out = NULL;
    if (other != LUA_TNONE) {
        out = enc_fail(e, "has a %s key (JSON object keys are strings)",
                       other == LUA_TNUMBER ? "non-integer number" : lua_typename(L, other));
    } else if (marked || (count > 0 && nint == count)) {
        if (nint != count)
            out = enc_fail(e, "is marked as an array but has string keys");
        else if (count > 0 && (minint != 1 || maxint != count))
            out = enc_fail(e, "has integer keys that are not the sequence 1..n");
        else {
            e->ancestors[e->depth++] = self;
            out = enc_array(e, idx, count);
            e->depth--;
        }
    } else if (nint > 0) {
        out = enc_fail(e, "mixes integer and string keys");
    } else {
        e->ancestors[e->depth++] = self;
        out = enc_object(e, idx);
        e->depth--;
    }
    lua_settop(L, top);
    return out;
}

static json_t *enc_value(enc *e, int idx)
{
    lua_State *L = e->L;
    json_t *v = NULL;
    idx = lua_absindex(L, idx);
    if (++e->values > LUAJSON_MAX_VALUES)
        return enc_fail(e, "is past the limit of %u JSON values in one document",
                        LUAJSON_MAX_VALUES);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        v = json_null();
        break;
    case LUA_TBOOLEAN:
        v = json_boolean(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (!isfinite(d))
                return enc_fail(e, "is %s, which JSON cannot represent",
                                isnan(d) ? "NaN" : (d > 0 ? "inf" : "-inf"));
            v = json_real(d);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!luajson_utf8_valid(s, len))
            return enc_fail(e, "is a string that is not valid UTF-8");
        if (len > LUAJSON_MAX_BYTES - e->bytes)
            return enc_fail(e, "is past the limit of %u bytes of text in one document",
                            LUAJSON_MAX_BYTES);
        e->bytes += len;
        v = json_stringn_nocheck(s, len);
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (luajson_is_null(L, idx)) {
            v = json_null();
            break;
        }
        return enc_fail(e, "is a light userdata other than skh.null");
    case LUA_TTABLE:
        return enc_table(e, idx);
    default:
        return enc_fail(e, "is a %s, which JSON cannot represent",
                        lua_typename(L, lua_type(L, idx)));
    }
    if (!v)
        return enc_fail(e, "could not be converted: out of memory");
    return v;
}

static json_t *to_json(lua_State *L, int idx, int brief, char *why, size_t whylen)
{
    /* Big (the ancestor stack), so on the heap rather than on a deep C stack. */
    enc *e = calloc(1, sizeof *e);
    if (!e) {
        if (why && whylen)
            snprintf(why, whylen, "out of memory");
        return NULL;
    }
    e->L = L;
    e->why = why;
    e->whylen = whylen;
    e->brief = brief;
    e->path[0] = '$';
    e->pathlen = 1;
    int top = lua_gettop(L);
    json_t *v = enc_value(e, idx);
    lua_settop(L, top);
    free(e);
    return v;
}

json_t *luajson_to_json(lua_State *L, int idx, char *why, size_t whylen)
{
    return to_json(L, idx, 0, why, whylen);
}

json_t *luajson_to_json_brief(lua_State *L, int idx, const char *unless, char *why, size_t whylen)
{
    idx = lua_absindex(L, idx);
    int brief = lua_type(L, idx) == LUA_TTABLE;
    /* A raw walk, not lua_getfield: no metamethod and no allocation outside protected mode. */
    if (brief) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), unless) == 0) {
                lua_pop(L, 1);
                brief = 0;
                break;
            }
        }
    }
    return to_json(L, idx, brief, why, whylen);
}

/* -------------------------------------------------------------- skh.json */

/*
 * A box owning jansson memory while Lua code that may raise (a memory
 * error in lua_pushlstring) runs; the collector frees what an error left.
 */
typedef struct json_box {
    json_t *json;
    char *text;
} json_box;

static int box_gc(lua_State *L)
{
    json_box *b = lua_touserdata(L, 1);
    if (b) {
        json_decref(b->json);
        free(b->text);
        b->json = NULL;
        b->text = NULL;
    }
    return 0;
}

static json_box *box_new(lua_State *L)
{
    json_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->json = NULL;
    b->text = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &box_mt_key);
    lua_setmetatable(L, -2);
    return b;
}

static int lj_encode(lua_State *L)
{
    char why[300];
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    json_box *b = box_new(L);
    b->json = luajson_to_json(L, 1, why, sizeof why);
    if (!b->json)
        return luaL_error(L, "skh.json.encode: %s", why);
    b->text = json_dumps(b->json, LUAJSON_DUMP_FLAGS);
    if (!b->text)
        return luaL_error(L, "skh.json.encode: out of memory");
    lua_pushstring(L, b->text);
    /* Free now rather than at the next collection. */
    json_decref(b->json);
    free(b->text);
    b->json = NULL;
    b->text = NULL;
    return 1;
}

static int lj_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    json_box *b = box_new(L);
    json_error_t jerr;
    b->json = json_loadb(text, len, LUAJSON_LOAD_FLAGS, &jerr);
    if (!b->json)
        return luaL_error(L, "skh.json.decode: line %d column %d: %s", jerr.line, jerr.column,
                          jerr.text);
    luajson_push(L, b->json);
    json_decref(b->json);
    b->json = NULL;
    return 1;
}

/* skh.json.array([t]): mark t (or a new table) as a JSON array, so {} encodes as []. */
static int lj_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    luajson_mark_array(L, -1);
    return 1;
}

static int lj_is_array(lua_State *L)
{
    lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && is_marked_array(L, 1));
    return 1;
}

void luajson_open(lua_State *L)
{
    /*
     * The array mark is protected (__metatable): a script could otherwise
     * add __gc to it and have finalizers run where hooks are off.
     */
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "skh.json.array");
    lua_setfield(L, -2, "__name");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_mt_key);

    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &box_mt_key);

    static const luaL_Reg fns[] = {
        {"encode", lj_encode},     {"decode", lj_decode}, {"array", lj_array},
        {"is_array", lj_is_array}, {NULL, NULL},
    };
    luaL_newlib(L, fns);
}
