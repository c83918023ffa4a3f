/*
 * JSON <-> Lua for Lua plugins (DESIGN §3.2), on top of jansson.
 *
 * JSON object -> table; JSON array -> table carrying the array mark (a
 * shared metatable), so an empty array comes back as [] and not {};
 * null -> skh.null (a light userdata); integers stay integers, reals stay
 * floats.  Lua -> JSON: a table with the array mark or with exactly the keys
 * 1..n is an array, a table with only string keys (or empty) is an object.
 */
#ifndef SKH_CORE_LUA_JSON_H
#define SKH_CORE_LUA_JSON_H

#include <stddef.h>
#include <jansson.h>
#include <lua.h>

/* Deepest nesting luajson_to_json accepts (below jansson's parser limit, so it round-trips). */
#define LUAJSON_MAX_DEPTH 512

/*
 * The most a Lua value may expand to.  Shared subtables are written once
 * per reference, so a small Lua value can stand for an exponentially large
 * JSON one ({t, t} nested 40 times); these bound the C-side copy.
 */
#define LUAJSON_MAX_VALUES 1000000u
#define LUAJSON_MAX_BYTES (64u * 1024u * 1024u) /* of string and key text */

/* How JSON made from Lua values is written: compact, keys sorted so output is stable. */
#define LUAJSON_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
/* How JSON text is read: any value at top level, \u0000 allowed (Lua strings hold NUL). */
#define LUAJSON_LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/*
 * Create the array mark and the other per-state bits, and push the skh.json
 * table {encode, decode, array, is_array}.  Raises Lua errors (memory).
 */
void luajson_open(lua_State *L);

/* Push v as a Lua value.  Raises Lua errors (memory, stack). */
void luajson_push(lua_State *L, const json_t *v);

/* Push skh.null / is the value at idx skh.null? */
void luajson_push_null(lua_State *L);
int luajson_is_null(lua_State *L, int idx);

/* Give the table at idx the array mark. */
void luajson_mark_array(lua_State *L, int idx);

/*
 * Convert the value at idx to a new JSON value.  Never raises a Lua error
 * and never allocates Lua memory, so it is safe outside protected mode.  On
 * failure returns NULL with the reason, naming the offending value's place
 * ("$.items[3] is a function"), in why.
 */
json_t *luajson_to_json(lua_State *L, int idx, char *why, size_t whylen);

/*
 * luajson_to_json, but unless the table at idx has the member `unless`,
 * its table-valued members are left out: the plain fields of a policy
 * answer that decided nothing, without the explanation nobody will keep.
 */
json_t *luajson_to_json_brief(lua_State *L, int idx, const char *unless, char *why, size_t whylen);

/* Is [s, s+len) valid UTF-8 (what a JSON string may hold)? */
int luajson_utf8_valid(const char *s, size_t len);

#endif
