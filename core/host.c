/*
 * The host: where the database, the configuration and the loaded plugins
 * meet.  Opening a host is cheap on purpose (no Lua state, no plugin is
 * loaded until a request needs it) because `skillhost run` opens one per
 * process.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "evolve.h"
#include "host_internal.h"
#include "store_evaluate.h"
#include "text.h"

#define DEFAULT_DB_PATH ".skillhost/skillhost.db"

SKH_EXPORT const char *skh_host_db_path(const skh_host *host)
{
    return host->db_path;
}

SKH_EXPORT int skh_text_check(const char *what, const char *s, size_t n, skh_error *err)
{
    error_clear(err);
    return text_check(what ? what : "text", s, n, err);
}

SKH_EXPORT int skh_number_parse(const char *text, int integer, double *out)
{
    return text_number(text, integer, out) == 0 ? SKH_OK : SKH_EINVAL;
}

SKH_EXPORT int skh_workspace_check(const char *db_path, skh_error *err)
{
    error_clear(err);
    return store_check(db_path, err);
}

static const char *first_set(const char *a, const char *env)
{
    if (a && *a)
        return a;
    const char *e = getenv(env);
    return e && *e ? e : NULL;
}

/* mkdir -p for the folder that will hold the database file. */
static int make_parent_dirs(const char *path, skh_error *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return error_set(err, SKH_EINVAL, path, "path too long");
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return SKH_OK;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return error_set(err, SKH_ESTORE, buf, "cannot create folder: %s", strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return error_set(err, SKH_ESTORE, buf, "cannot create folder: %s", strerror(errno));
    return SKH_OK;
}

static void apply_limits(skh_host *host)
{
    const config *c = &host->cfg;
    plugin_limits_default(&host->limits);
    host->limits.lua_instructions = (uint64_t)config_num(c, CFG_LUA_INSTRUCTIONS);
    host->limits.lua_memory = (size_t)config_num(c, CFG_LUA_MEMORY_MB) * 1024u * 1024u;
    host->limits.lua_pattern_max = (size_t)config_num(c, CFG_LUA_PATTERN_MAX);
    host->limits.exec_timeout_ms = (int)config_num(c, CFG_EXEC_TIMEOUT_MS);
    host->limits.check_trust = config_num(c, CFG_PLUGINS_TRUST) != 0;
    host->limits.output_max = (size_t)config_num(c, CFG_PLUGINS_OUTPUT_MAX);
    host->limits.lua_path = host->lua_path;
    host->limits.timeout_ms = config_num(c, CFG_PLUGINS_TIMEOUT_MS);
    host->limits.policy_timeout_ms = config_num(c, CFG_LUA_POLICY_TIMEOUT_MS);
    host->limits.isolation = (int)config_num(c, CFG_PLUGINS_ISOLATION);
    host->limits.worker_memory = (uint64_t)config_num(c, CFG_WORKER_MEMORY_MB) * 1024u * 1024u;
    host->limits.worker_files = (uint64_t)config_num(c, CFG_WORKER_FILES);
    host->limits.worker_file_size =
        (uint64_t)config_num(c, CFG_WORKER_FILE_SIZE_MB) * 1024u * 1024u;
}

/* Lua `require` may load from the policies folder and every plugin folder. */
static char *make_lua_path(const skh_host *host)
{
    size_t n = strlen(host->policies_dir) + strlen(host->plugin_path) + sizeof SKH_PLUGINDIR + 4;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s;%s;%s", host->policies_dir, host->plugin_path, SKH_PLUGINDIR);
    for (char *p = s + strlen(host->policies_dir) + 1; *p; p++)
        if (*p == ':')
            *p = ';';
    return s;
}

SKH_EXPORT int skh_host_open(const skh_host_options *opts, skh_host **out, skh_error *err)
{
    skh_host_options defaults = {.struct_size = sizeof defaults};
    if (!opts)
        opts = &defaults;
    *out = NULL;
    error_clear(err);

    skh_host *host = calloc(1, sizeof *host);
    if (!host)
        return error_set(err, SKH_ENOMEM, "host", "out of memory");
    const char *db = first_set(opts->db_path, "SKILLHOST_DB");
    const char *pol = first_set(opts->policies_dir, "SKILLHOST_POLICIES");
    const char *pp = first_set(opts->plugin_path, "SKILLHOST_PLUGIN_PATH");
    host->db_path = strdup(db ? db : DEFAULT_DB_PATH);
    host->policies_dir = strdup(pol ? pol : SKH_POLICYDIR);
    host->plugin_path = strdup(pp ? pp : "");
    int rc = SKH_OK;
    if (!host->db_path || !host->policies_dir || !host->plugin_path ||
        !(host->lua_path = make_lua_path(host))) {
        rc = error_set(err, SKH_ENOMEM, "host", "out of memory");
        goto fail;
    }

    /* Environment first: it decides how the store is opened (and migrated). */
    rc = config_resolve(&host->cfg, NULL, err);
    if (rc)
        goto fail;
    if (opts->create && (rc = make_parent_dirs(host->db_path, err)))
        goto fail;
    store_options so = {
        .create = opts->create,
        .durability_full = config_num(&host->cfg, CFG_STORE_DURABILITY) == 1,
        .busy_timeout_ms = (int)config_num(&host->cfg, CFG_STORE_BUSY_TIMEOUT_MS),
    };
    rc = store_open(host->db_path, &so, &host->st, err);
    /* No workspace yet is the store's failure to open, not bad input (exit 4). */
    if (rc == SKH_ENOTFOUND) {
        rc = SKH_ESTORE;
        if (err)
            err->code = rc;
    }
    if (rc)
        goto fail;

    json_t *ws = NULL;
    rc = store_config_all(host->st, &ws, err);
    if (rc == SKH_OK)
        rc = config_resolve(&host->cfg, ws, err);
    json_decref(ws);
    if (rc)
        goto fail;
    /* Workspace store.* values are known only now; the environment still wins over them. */
    store_options now = {
        .durability_full = config_num(&host->cfg, CFG_STORE_DURABILITY) == 1,
        .busy_timeout_ms = (int)config_num(&host->cfg, CFG_STORE_BUSY_TIMEOUT_MS),
    };
    if ((now.durability_full != so.durability_full || now.busy_timeout_ms != so.busy_timeout_ms) &&
        (rc = store_apply_settings(host->st, &now, err)) != SKH_OK)
        goto fail;
    /*
     * Requests a killed process left between attempts are counted now
     * (issue 9 item 12).  A failure here (the database locked past the busy
     * timeout) leaves them for the next process; it does not stop this one.
     */
    skh_error ignored;
    store_requests_sweep(host->st, NULL, &ignored);
    apply_limits(host);
    rc = policy_set_open(host->policies_dir, &host->limits, &host->policies, err);
    if (rc)
        goto fail;
    policy_set_on_shadow(host->policies, host_shadow_record, host);
    skh_host_set_clock(host, NULL);
    *out = host;
    return SKH_OK;
fail:
    skh_host_close(host);
    return rc;
}

int host_tell_once(skh_host *host, const char *key)
{
    if (!host->told && !(host->told = json_object()))
        return 0;
    if (json_object_get(host->told, key))
        return 0;
    return json_object_set_new(host->told, key, json_true()) == 0;
}

SKH_EXPORT void skh_host_close(skh_host *host)
{
    if (!host)
        return;
    for (size_t i = 0; i < host->nplugins; i++) {
        plugin_close(host->plugins[i].p);
        free(host->plugins[i].impl);
    }
    free(host->plugins);
    host_shadow_flush(host);
    json_decref(host->shadow_queue);
    policy_set_close(host->policies);
    json_decref(host->told);
    store_close(host->st);
    free(host->db_path);
    free(host->policies_dir);
    free(host->plugin_path);
    free(host->lua_path);
    free(host);
}

/* ---- time ------------------------------------------------------------------ */

static double real_now_ms(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void real_sleep_ms(void *ud, double ms)
{
    (void)ud;
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1e3),
                          .tv_nsec = (long)((ms - (double)(time_t)(ms / 1e3) * 1e3) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double real_random(void *ud)
{
    (void)ud;
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x)
        x = (uint64_t)clock() * 0x9e3779b97f4a7c15ull;
    return (double)(x >> 11) / 9007199254740992.0; /* 53 bits into [0, 1) */
}

SKH_EXPORT void skh_host_set_clock(skh_host *host, const skh_clock *clock)
{
    skh_clock c = {.struct_size = sizeof c,
                   .now_ms = real_now_ms,
                   .sleep_ms = real_sleep_ms,
                   .random = real_random};
    if (clock && clock->now_ms)
        c.now_ms = clock->now_ms;
    if (clock && clock->sleep_ms)
        c.sleep_ms = clock->sleep_ms;
    if (clock && clock->random)
        c.random = clock->random;
    c.ud = clock ? clock->ud : NULL;
    host->clock = c;
}

double host_now_ms(const skh_host *host)
{
    return host->clock.now_ms(host->clock.ud);
}

void host_sleep_ms(const skh_host *host, double ms)
{
    host->clock.sleep_ms(host->clock.ud, ms);
}

double host_random(const skh_host *host)
{
    return host->clock.random(host->clock.ud);
}

int host_policy_decide(skh_host *host, const char *name, const char *fn, json_t *facts,
                       const char *skill, const char *variant_id, json_t **decision, skh_error *err)
{
    policy_info info = {{0}, {0}};
    int rc = policy_decide(host->policies, name, fn, facts, decision, &info, err);
    if (rc == SKH_OK)
        return rc;
    /* The error is the news here; failing to record it must not hide it. */
    fprintf(stderr, "skillhost: %s (policy %s decided nothing)\n", err->message, name);
    json_t *seen = json_pack("{s:O, s:s}", "facts", facts, "error", err->message);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    store_decision d = {.skill = skill,
                        .variant_id = variant_id,
                        .kind = name,
                        .verdict = "error",
                        .observed = observed,
                        .policy_file = info.path[0] ? info.path : err->what,
                        .policy_sha256 = info.sha256};
    skh_error ignored;
    store_decision_add(host->st, &d, &ignored);
    free(observed);
    json_decref(seen);
    return rc;
}

/* ---- plugin files ---------------------------------------------------------- */

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * A name with a '/' is a path; a bare file name is looked up in the plugin
 * path and then the installed plugin folder.  The result is absolute, so a
 * variant keeps working whatever folder the next command runs in.
 */
SKH_EXPORT int skh_plugin_resolve(skh_host *host, const char *name, char **path, skh_error *err)
{
    *path = NULL;
    if (!name || !*name)
        return error_set(err, SKH_EINVAL, "--impl", "empty plugin name");
    if (strncmp(name, "exec:", 5) == 0 || strncmp(name, "builtin:", 8) == 0 ||
        strncmp(name, "mcp:", 4) == 0) {
        *path = strdup(name);
        return *path ? SKH_OK : error_set(err, SKH_ENOMEM, name, "out of memory");
    }
    char candidate[PATH_MAX];
    int found = 0;
    if (strchr(name, '/')) {
        found = snprintf(candidate, sizeof candidate, "%s", name) < (int)sizeof candidate &&
                is_file(candidate);
    } else {
        const char *dirs[2] = {host ? host->plugin_path : getenv("SKILLHOST_PLUGIN_PATH"),
                               SKH_PLUGINDIR};
        for (int d = 0; d < 2 && !found; d++) {
            const char *s = dirs[d] ? dirs[d] : "";
            while (*s && !found) {
                size_t len = strcspn(s, ":");
                if (len > 0 && snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, s, name) <
                                   (int)sizeof candidate)
                    found = is_file(candidate);
                s += len + (s[len] == ':');
            }
        }
    }
    if (!found)
        return error_set(err, SKH_ENOTFOUND, name,
                         strchr(name, '/')
                             ? "no such file"
                             : "not found in SKILLHOST_PLUGIN_PATH or " SKH_PLUGINDIR);
    *path = realpath(candidate, NULL);
    if (!*path)
        return error_set(err, SKH_ENOTFOUND, candidate, "%s", strerror(errno));
    return SKH_OK;
}

static json_t *describe_plugin(const plugin *p)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", plugin_kind_name(p->kind), "name",
                     p->name, "version", p->version, "description", p->description, "patterns",
                     p->patterns, "path", p->path);
}

SKH_EXPORT int skh_plugin_check(skh_host *host, const char *path, char **json, skh_error *err)
{
    char *resolved = NULL;
    plugin *p = NULL;
    plugin_limits lim;
    *json = NULL;
    if (host)
        lim = host->limits;
    else
        plugin_limits_default(&lim);
    int rc = skh_plugin_resolve(host, path, &resolved, err);
    if (rc == SKH_OK)
        rc = plugin_load(resolved, &lim, &p, err);
    if (rc == SKH_OK) {
        json_t *d = describe_plugin(p);
        *json = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        if (!*json)
            rc = error_set(err, SKH_ENOMEM, path, "out of memory");
    }
    plugin_close(p);
    free(resolved);
    return rc;
}

int host_variant_plugin(skh_host *host, const store_variant *v, plugin **out, skh_error *err)
{
    /* The variant's own choice, else the workspace's (plugins.isolation). */
    int isolation = plugin_isolation_from_name(v->isolation);
    if (isolation < 0)
        isolation = host->limits.isolation;
    for (size_t i = 0; i < host->nplugins; i++) {
        if (strcmp(host->plugins[i].impl, v->impl) == 0 &&
            host->plugins[i].isolation == isolation) {
            *out = host->plugins[i].p;
            return SKH_OK;
        }
    }
    if (host->nplugins == host->capplugins) {
        size_t cap = host->capplugins ? host->capplugins * 2 : 4;
        host_plugin *grown = realloc(host->plugins, cap * sizeof *grown);
        if (!grown)
            return error_set(err, SKH_ENOMEM, v->variant_id, "out of memory");
        host->plugins = grown;
        host->capplugins = cap;
    }
    plugin *p = NULL;
    /* The pin is compared inside the loader, before anything of the plugin runs. */
    plugin_pin pin = {.sha256 = v->impl_sha256, .label = v->variant_id};
    plugin_limits lim = host->limits;
    lim.isolation = isolation;
    int rc = plugin_load_pinned(v->impl, &lim, &pin, &p, err);
    if (rc)
        return rc;
    if (p->kind != SKH_KIND_SKILL) {
        error_set(err, SKH_EPLUGIN, v->impl, "is a %s plugin, not a skill",
                  plugin_kind_name(p->kind));
        plugin_close(p);
        return SKH_EPLUGIN;
    }
    host->plugins[host->nplugins].impl = strdup(v->impl);
    if (!host->plugins[host->nplugins].impl) {
        plugin_close(p);
        return error_set(err, SKH_ENOMEM, v->variant_id, "out of memory");
    }
    host->plugins[host->nplugins].isolation = isolation;
    host->plugins[host->nplugins++].p = p;
    *out = p;
    return SKH_OK;
}

/* ---- skills and variants ------------------------------------------------------ */

/* "a, b,c" -> ["a","b","c"]; an empty item is refused. */
static int patterns_to_json(const char *list, char **out, skh_error *err)
{
    json_t *arr = json_array();
    if (!arr)
        return error_set(err, SKH_ENOMEM, "--patterns", "out of memory");
    const char *s = list ? list : "";
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        size_t len = strcspn(s, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (s[trimmed - 1] == ' ' || s[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed == 0) {
            json_decref(arr);
            return error_set(err, SKH_EINVAL, "--patterns", "empty pattern in '%s'", list);
        }
        json_array_append_new(arr, json_stringn(s, trimmed));
        s += len + (s[len] == ',');
    }
    *out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return *out ? SKH_OK : error_set(err, SKH_ENOMEM, "--patterns", "out of memory");
}

/* Does the caller's struct (its struct_size) reach member m?  Older callers' do not. */
#define spec_has(s, m) ((s)->struct_size >= offsetof(__typeof__(*(s)), m) + sizeof((s)->m))

SKH_EXPORT int skh_variant_add(skh_host *host, const skh_variant_spec *spec, char **variant_id,
                               skh_error *err)
{
    *variant_id = NULL;
    error_clear(err);
    if (!name_is_valid(spec->skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         spec->skill ? spec->skill : "");
    char *impl = NULL, *patterns = NULL, *evolver = NULL;
    plugin *p = NULL;
    const char *isolation = spec_has(spec, isolation) ? spec->isolation : NULL;
    plugin_limits lim = host->limits;
    int rc = skh_plugin_resolve(host, spec->impl, &impl, err);
    if (rc == SKH_OK && isolation) {
        lim.isolation = plugin_isolation_from_name(isolation);
        if (lim.isolation < 0)
            rc = error_set(err, SKH_EINVAL, "--isolation",
                           "'%s' is not an isolation (expected process or inline)", isolation);
        else if (strncmp(impl, "exec:", 5) == 0 || strncmp(impl, "builtin:", 8) == 0 ||
                 (strlen(impl) > 4 && strcmp(impl + strlen(impl) - 4, ".lua") == 0))
            rc = error_set(err, SKH_EINVAL, "--isolation",
                           "%s: isolation applies to shared-object plugins only (Lua runs "
                           "sandboxed in process, exec: programs are processes already)",
                           impl);
    }
    if (rc == SKH_OK)
        rc = plugin_load(impl, &lim, &p, err);
    if (rc == SKH_OK && p->kind != SKH_KIND_SKILL)
        rc = error_set(err, SKH_EPLUGIN, impl, "is a %s plugin; only skills can be variants",
                       plugin_kind_name(p->kind));
    if (rc == SKH_OK)
        rc = patterns_to_json(spec->patterns ? spec->patterns : p->patterns, &patterns, err);
    if (rc == SKH_OK && spec->evolver)
        rc = evolve_check_evolver(host, spec->evolver, &evolver, err);
    if (rc == SKH_OK)
        rc = store_variant_add_isolated(host->st, spec->skill, impl, p->sha256,
                                        spec->content ? spec->content : "", patterns, spec->state,
                                        spec->description ? spec->description : p->description,
                                        isolation, variant_id, err);
    if (rc == SKH_OK && evolver)
        rc = store_skill_evolver_set(host->st, spec->skill, evolver, err);
    if (rc == SKH_OK && spec_has(spec, positive_class) && spec->positive_class)
        rc = store_skill_positive_class_set(host->st, spec->skill, spec->positive_class, err);
    if (rc != SKH_OK) {
        free(*variant_id);
        *variant_id = NULL;
    }
    plugin_close(p);
    free(impl);
    free(patterns);
    free(evolver);
    return rc;
}

SKH_EXPORT int skh_skill_set_positive_class(skh_host *host, const char *skill,
                                            const char *positive_class, skh_error *err)
{
    error_clear(err);
    if (!name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    return store_skill_positive_class_set(host->st, skill, positive_class, err);
}

static int dump_json(json_t *j, char **out, skh_error *err)
{
    *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return *out ? SKH_OK : error_set(err, SKH_ENOMEM, "json", "out of memory");
}

SKH_EXPORT int skh_skill_list(skh_host *host, char **json, skh_error *err)
{
    json_t *j = NULL;
    int rc = store_skill_list(host->st, &j, err);
    return rc ? rc : dump_json(j, json, err);
}

SKH_EXPORT int skh_skill_show(skh_host *host, const char *skill, char **json, skh_error *err)
{
    json_t *j = NULL;
    int rc = store_skill_show(host->st, skill, &j, err);
    return rc ? rc : dump_json(j, json, err);
}
