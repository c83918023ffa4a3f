/* What every loader shares: limits, the descriptor copy, and picking a loader by form. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "loader.h"

static const char *const kind_names[] = {
    [SKH_KIND_SKILL] = "skill",
    [SKH_KIND_SCORER] = "scorer",
    [SKH_KIND_POLICY] = "policy",
    [SKH_KIND_EVOLVER] = "evolver",
};

const char *plugin_kind_name(int kind)
{
    if (kind < SKH_KIND_SKILL || kind > SKH_KIND_EVOLVER)
        return NULL;
    return kind_names[kind];
}

int plugin_kind_from_name(const char *name)
{
    for (int k = SKH_KIND_SKILL; name && k <= SKH_KIND_EVOLVER; k++)
        if (strcmp(kind_names[k], name) == 0)
            return k;
    return -1;
}

void plugin_limits_default(plugin_limits *lim)
{
    memset(lim, 0, sizeof *lim);
    lim->lua_instructions = PLUGIN_DEFAULT_LUA_INSTRUCTIONS;
    lim->lua_memory = PLUGIN_DEFAULT_LUA_MEMORY;
    lim->lua_pattern_max = PLUGIN_DEFAULT_LUA_PATTERN_MAX;
    lim->exec_timeout_ms = PLUGIN_DEFAULT_EXEC_TIMEOUT_MS;
    lim->check_trust = 1;
    lim->output_max = PLUGIN_DEFAULT_OUTPUT_MAX;
    lim->timeout_ms = PLUGIN_DEFAULT_TIMEOUT_MS;
    lim->policy_timeout_ms = PLUGIN_DEFAULT_POLICY_TIMEOUT_MS;
    lim->isolation = PLUGIN_ISOLATION_PROCESS;
    lim->worker_memory = PLUGIN_DEFAULT_WORKER_MEMORY;
    lim->worker_files = PLUGIN_DEFAULT_WORKER_FILES;
    lim->worker_file_size = PLUGIN_DEFAULT_WORKER_FILE_SIZE;
}

int plugin_isolation_from_name(const char *name)
{
    if (name && strcmp(name, "process") == 0)
        return PLUGIN_ISOLATION_PROCESS;
    if (name && strcmp(name, "inline") == 0)
        return PLUGIN_ISOLATION_INLINE;
    return -1;
}

const char *plugin_isolation_name(int isolation)
{
    return isolation == PLUGIN_ISOLATION_INLINE ? "inline" : "process";
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int plugin_load_pinned(const char *impl, const plugin_limits *lim, const plugin_pin *pin,
                       plugin **out, skh_error *err)
{
    *out = NULL;
    if (!impl || !*impl)
        return error_set(err, SKH_EINVAL, "impl", "empty plugin path");
    int rc;
    if (strncmp(impl, "exec:", 5) == 0) {
        /* Nothing of an exec skill runs at load; the pin is compared before it can. */
        rc = plugin_exec_load(impl, lim, out, err);
        if (rc == SKH_OK && pin && pin->sha256 && *pin->sha256 &&
            strcmp(pin->sha256, (*out)->sha256) != 0) {
            rc = plugin_pin_refuse(impl, pin, (*out)->sha256, err);
            plugin_close(*out);
            *out = NULL;
        }
        return rc;
    }
    if (strncmp(impl, "mcp:", 4) == 0) {
        /* The server starts at the first call, after the pin was compared. */
        rc = plugin_mcp_load(impl, lim, out, err);
        if (rc == SKH_OK && pin && pin->sha256 && *pin->sha256 &&
            strcmp(pin->sha256, (*out)->sha256) != 0) {
            rc = plugin_pin_refuse(impl, pin, (*out)->sha256, err);
            plugin_close(*out);
            *out = NULL;
        }
        return rc;
    }
    if (strncmp(impl, "builtin:", 8) == 0)
        return plugin_builtin_load(impl + 8, out, err);
    if (ends_with(impl, ".lua"))
        return plugin_lua_load_pinned(impl, lim, pin, out, err);
    /* Shared objects run in a worker unless the caller chose inline (DESIGN §3.4). */
    if (!lim || lim->isolation != PLUGIN_ISOLATION_INLINE)
        return plugin_worker_load(impl, lim, pin, out, err);
    return plugin_so_load_pinned(impl, lim, pin, out, err);
}

int plugin_load(const char *impl, const plugin_limits *lim, plugin **out, skh_error *err)
{
    return plugin_load_pinned(impl, lim, NULL, out, err);
}

int plugin_pin_refuse(const char *path, const plugin_pin *pin, const char *now, skh_error *err)
{
    const char *label = pin && pin->label ? pin->label : NULL;
    return error_set(err, SKH_EPLUGIN, path,
                     "changed since it was registered%s%s (sha256 %.12s..., now %.12s...); "
                     "refused before any of it was loaded or run; register it again with "
                     "`skillhost skill add`",
                     label ? " as " : "", label ? label : "", pin ? pin->sha256 : "", now);
}

void plugin_close(plugin *p)
{
    if (p)
        p->ops->close(p);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

int plugin_fill_common(plugin *p, const char *path, int kind, const char *name, const char *version,
                       const char *description, const char *patterns, skh_error *err)
{
    p->kind = kind;
    p->path = dup_or_empty(path);
    p->name = dup_or_empty(name);
    p->version = dup_or_empty(version);
    p->description = dup_or_empty(description);
    p->patterns = dup_or_empty(patterns);
    if (!p->path || !p->name || !p->version || !p->description || !p->patterns) {
        plugin_free_common(p);
        return error_set(err, SKH_ENOMEM, path, "out of memory");
    }
    return SKH_OK;
}

void plugin_free_common(plugin *p)
{
    free(p->path);
    free(p->name);
    free(p->version);
    free(p->description);
    free(p->patterns);
    free(p->input_schema);
    free(p->output_schema);
    p->path = p->name = p->version = p->description = p->patterns = NULL;
    p->input_schema = p->output_schema = NULL;
}

int plugin_set_schema(plugin *p, const char *which, const char *text, skh_error *err)
{
    char **slot = strcmp(which, "input_schema") == 0 ? &p->input_schema : &p->output_schema;
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        return error_set(err, SKH_EPLUGIN, p->path, "%s: line %d, column %d: %s", which, jerr.line,
                         jerr.column, jerr.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return error_set(err, SKH_EPLUGIN, p->path, "%s must be a JSON object (a JSON Schema)",
                         which);
    }
    char *dumped = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!dumped)
        return error_set(err, SKH_ENOMEM, p->path, "out of memory");
    free(*slot);
    *slot = dumped;
    return SKH_OK;
}
