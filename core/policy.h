/*
 * Policies (DESIGN §4): operator-written decision plugins, usually Lua,
 * loaded once per host from the policies folder and re-read when their file
 * changes, so an embedding host picks up an edited threshold without a
 * restart.
 *
 * A policy named NAME is DIR/NAME.lua, else DIR/NAME.so (kind policy); when
 * neither exists the built-in C policy "builtin:NAME" is used if there is one
 * (plugin_builtin_load), so a host without an installed policies folder still
 * behaves as documented.
 *
 * Every decision function takes one JSON object of facts and returns one
 * JSON object.  A policy that cannot be loaded or that raises decides
 * nothing: policy_decide returns SKH_EPLUGIN with err->category =
 * SKH_ERR_POLICY and the caller applies its fail-safe.
 */
#ifndef SKH_CORE_POLICY_H
#define SKH_CORE_POLICY_H

#include <jansson.h>
#include <limits.h>

#include "loader.h"

typedef struct policy_set policy_set;

/* Which file made a decision, for the decisions table. */
typedef struct policy_info {
    char path[PATH_MAX]; /* the file, or "builtin:NAME" */
    char sha256[65];     /* "" for built-ins */
} policy_info;

/*
 * A shadow policy: DIR/shadow/NAME.lua (or .so) beside a live DIR/NAME.lua.
 * After every policy_decide and policy_decide_brief of NAME, the shadow
 * runs on exactly the same facts and its answer goes to the set's shadow
 * callback with the live one; nothing acts on it.  A shadow that fails or
 * runs out of budget is reported to the callback as an error and never
 * changes the live answer or its return code.
 */
typedef struct policy_shadow {
    const char *name, *fn;
    json_t *facts;          /* what both saw (may be NULL: {}) */
    json_t *live;           /* the live answer, NULL when it failed */
    const char *live_error; /* NULL when it answered */
    const policy_info *live_info;
    json_t *shadow; /* the shadow's answer, NULL when it failed */
    const char *shadow_error;
    const policy_info *shadow_info;
} policy_shadow;

typedef void (*policy_shadow_fn)(void *ctx, const policy_shadow *s);

/* Run shadows and hand them to fn (NULL: no shadows, the default). */
void policy_set_on_shadow(policy_set *ps, policy_shadow_fn fn, void *ctx);

/* dir may not exist: then only built-ins answer.  lim is copied. */
int policy_set_open(const char *dir, const plugin_limits *lim, policy_set **out, skh_error *err);
void policy_set_close(policy_set *ps);

/*
 * Run function fn of policy name on facts (NULL: {}).  On SKH_OK *decision
 * is a JSON object the caller json_decref()s.  info (may be NULL) names the
 * file used, also when it failed: path is set once a file or built-in was
 * found (even if it did not load), sha256 once it loaded; both "" when there
 * is no such policy.  The file is stat()ed on every call and reloaded when
 * its mtime (to the nanosecond), size or inode changed; a reload that fails
 * is reported, on every call until the file is fixed (never silently
 * replaced by the old version).  Every failure has err->category =
 * SKH_ERR_POLICY and err->message naming the file ("FILE:LINE: why" for a
 * Lua error); err->what is the file, or the folder when there is no policy.
 */
int policy_decide(policy_set *ps, const char *name, const char *fn, json_t *facts,
                  json_t **decision, policy_info *info, skh_error *err);

/*
 * policy_decide for a check run after every request, whose answer is kept
 * only when it acts: unless the answer has the member `unless` (rollback's
 * "action"), a Lua policy's answer comes back without its table-valued
 * members (the checks, the thresholds), which are then never converted.
 */
int policy_decide_brief(policy_set *ps, const char *name, const char *fn, json_t *facts,
                        const char *unless, json_t **decision, policy_info *info, skh_error *err);

/*
 * policy_decide for functions that answer configuration (rollback.lua's
 * settings, rollout.lua's steps): the same facts to the same loaded file
 * get the same answer, so it is asked once and remembered until the file
 * changes.  *decision is shared with the memo: read it, never change it.
 * Failures are not remembered (each call reports them again).
 */
int policy_decide_memo(policy_set *ps, const char *name, const char *fn, json_t *facts,
                       json_t **decision, policy_info *info, skh_error *err);

/*
 * Load (never run) every *.lua and *.so file in dir, sorted by name; with
 * recurse, then the files one level down in each subfolder (examples/...),
 * subfolders sorted by name.  A file must load and be of kind policy.
 * *report is a JSON array of {"file", "ok": true, "kind", "name",
 * "version"} or {"file", "ok": false, "error": "file:line: message"}, where
 * file is DIR/NAME as opened and error always starts with it.  *failed
 * counts the failures; SKH_OK even when some failed.  A missing dir is
 * SKH_ENOTFOUND ("no such folder").
 */
int policy_check_dir(const char *dir, const plugin_limits *lim, int recurse, json_t **report,
                     int *failed, skh_error *err);

#endif
