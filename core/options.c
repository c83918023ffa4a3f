/* The option table and how a value is resolved. */
#include "config.h"

#include "options.h"
#include "text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"

const cfg_option cfg_options[CFG__COUNT] = {
    [CFG_REACT_ENABLED] = {"react.enabled", CFG_BOOL, "1", "SKILLHOST_REACT_MODE", "stable", NULL,
                           0, 1, NULL, NULL,
                           "retry a request while its pattern fidelity is under the threshold"},
    [CFG_REACT_MAX_ITER] = {"react.max_iterations", CFG_INT, "3", "SKILLHOST_REACT_MAX_ITER",
                            "stable", NULL, 1, 100, "react.enabled", NULL,
                            "attempts per request at most (ReAct iterations)"},
    [CFG_REACT_FIDELITY] = {"react.fidelity_threshold", CFG_REAL, "0.90",
                            "SKILLHOST_REACT_FIDELITY", "stable", NULL, 0, 1, NULL, NULL,
                            "pattern fidelity an attempt needs to count as a success"},
    [CFG_REQUEST_TIMEOUT_MS] = {"request.timeout_ms", CFG_INT, "60000",
                                "SKILLHOST_REQUEST_TIMEOUT_MS", "stable", NULL, 0, 86400000, NULL,
                                NULL,
                                "a request's deadline: no attempt starts and no backoff wait "
                                "ends after it (0 = none)"},
    [CFG_RECOVERY_MAX_RETRIES] = {"recovery.max_retries", CFG_INT, "5",
                                  "SKILLHOST_RECOVERY_MAX_RETRIES", "stable", NULL, 0, 100, NULL,
                                  NULL,
                                  "ceiling on recovery retries per attempt, whatever "
                                  "recovery.lua says"},
    [CFG_LUA_INSTRUCTIONS] = {"lua.instruction_budget", CFG_INT, "50000000",
                              "SKILLHOST_LUA_INSTRUCTIONS", "stable", NULL, 0, 1e15, NULL, NULL,
                              "Lua VM instructions one plugin call may run (0 = unlimited)"},
    [CFG_LUA_MEMORY_MB] = {"lua.memory_mb", CFG_INT, "64", "SKILLHOST_LUA_MEMORY_MB", "stable",
                           NULL, 0, 65536, NULL, NULL,
                           "memory one Lua plugin state may hold (0 = unlimited)"},
    [CFG_LUA_PATTERN_MAX] = {"lua.pattern_subject_max", CFG_INT, "262144",
                             "SKILLHOST_LUA_PATTERN_MAX", "stable", NULL, 1, 1e12, NULL, NULL,
                             "longest string Lua pattern functions accept (bytes)"},
    [CFG_EXEC_TIMEOUT_MS] = {"exec.timeout_ms", CFG_INT, "30000", "SKILLHOST_EXEC_TIMEOUT_MS",
                             "stable", NULL, 1, 86400000, NULL, NULL,
                             "an external-command skill is killed after this long"},
    [CFG_STORE_BUSY_TIMEOUT_MS] = {"store.busy_timeout_ms", CFG_INT, "10000",
                                   "SKILLHOST_BUSY_TIMEOUT_MS", "stable", NULL, 0, 600000, NULL,
                                   NULL, "how long a writer waits for the database lock"},
    [CFG_STORE_DURABILITY] = {"store.durability", CFG_ENUM, "normal", "SKILLHOST_DURABILITY",
                              "stable", "normal|full", 0, 0, NULL, NULL,
                              "normal: no committed row lost to a crash; full: none lost to "
                              "power loss either (fsync every commit)"},
    [CFG_PLUGINS_TRUST] = {"plugins.check_trust", CFG_BOOL, "1", "SKILLHOST_PLUGIN_TRUST", "stable",
                           NULL, 0, 1, NULL, NULL,
                           "refuse plugin files writable by others (or by a group that is not "
                           "the owner's private group) or owned by another user"},
    [CFG_PLUGINS_OUTPUT_MAX] = {"plugins.output_max_bytes", CFG_INT, "16777216",
                                "SKILLHOST_OUTPUT_MAX", "stable", NULL, 1, 1e12, NULL, NULL,
                                "largest output (serialised JSON) one plugin call may return, "
                                "in process or exec; larger is the call's crash"},
    [CFG_EVOLVE_AUTO] = {"evolve.auto", CFG_BOOL, "0", "SKILLHOST_EVOLVE_AUTO", "experimental",
                         NULL, 0, 1, NULL, NULL,
                         "after a request, evolve the skill when its serving variant's recent "
                         "fidelity is under the threshold and no test runs"},
    [CFG_EVOLVE_WINDOW] = {"evolve.window", CFG_INT, "10", "SKILLHOST_EVOLVE_WINDOW",
                           "experimental", NULL, 1, 10000, "evolve.auto", NULL,
                           "executions of the serving variant auto-evolve looks at"},
    [CFG_PLUGINS_ISOLATION] = {"plugins.isolation", CFG_ENUM, "process", "SKILLHOST_ISOLATION",
                               "stable", "process|inline", 0, 0, NULL, NULL,
                               "where a variant's .so plugin runs unless the variant says: in a "
                               "worker process (a crash or hang is the call's error) or inline"},
    [CFG_PLUGINS_TIMEOUT_MS] = {"plugins.timeout_ms", CFG_INT, "30000",
                                "SKILLHOST_PLUGIN_TIMEOUT_MS", "stable", NULL, 1, 86400000, NULL,
                                NULL,
                                "wall-clock limit of a Lua or isolated .so plugin call that has no "
                                "request deadline (evolvers, loading)"},
    [CFG_LUA_POLICY_TIMEOUT_MS] = {"lua.policy_timeout_ms", CFG_INT, "500",
                                   "SKILLHOST_LUA_POLICY_TIMEOUT_MS", "stable", NULL, 1, 86400000,
                                   NULL, NULL,
                                   "wall-clock limit of one policy call; past it the policy "
                                   "decides nothing, as when it raises"},
    [CFG_WORKER_MEMORY_MB] = {"isolation.memory_mb", CFG_INT, "1024",
                              "SKILLHOST_ISOLATION_MEMORY_MB", "stable", NULL, 0, 1048576, NULL,
                              NULL,
                              "address space of an isolation worker, RLIMIT_AS (0 = unlimited)"},
    [CFG_WORKER_FILES] = {"isolation.open_files", CFG_INT, "64", "SKILLHOST_ISOLATION_OPEN_FILES",
                          "stable", NULL, 8, 1048576, NULL, NULL,
                          "file descriptors an isolation worker may hold, RLIMIT_NOFILE"},
    [CFG_WORKER_FILE_SIZE_MB] = {"isolation.file_size_mb", CFG_INT, "64",
                                 "SKILLHOST_ISOLATION_FILE_SIZE_MB", "stable", NULL, 0, 1048576,
                                 NULL, NULL,
                                 "largest file an isolation worker may write, RLIMIT_FSIZE "
                                 "(0 = unlimited)"},
};

int config_find(const char *name)
{
    for (int i = 0; name && i < CFG__COUNT; i++)
        if (strcmp(cfg_options[i].name, name) == 0)
            return i;
    return -1;
}

const char *config_source_name(cfg_source s)
{
    switch (s) {
    case CFG_FROM_FLAG:
        return "flag";
    case CFG_FROM_ENV:
        return "environment";
    case CFG_FROM_WORKSPACE:
        return "workspace";
    default:
        return "default";
    }
}

static int parse_bool(const char *t, double *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(t, yes[i]) == 0)
            return (*out = 1, 1);
        if (strcasecmp(t, no[i]) == 0)
            return (*out = 0, 1);
    }
    return 0;
}

/* The index of t among the '|'-separated choices, or -1. */
static int parse_choice(const char *choices, const char *t)
{
    size_t n = strlen(t);
    int index = 0;
    for (const char *c = choices; *c; index++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, t, n) == 0)
            return index;
        if (!bar)
            break;
        c = bar + 1;
    }
    return -1;
}

int config_parse(cfg_id id, const char *text, cfg_value *out, const char *what, skh_error *err)
{
    const cfg_option *o = &cfg_options[id];
    char *end = NULL;
    double num = 0;

    if (!text || strlen(text) >= sizeof out->text)
        return error_set(err, SKH_EINVAL, what, "%s: value is empty or too long", o->name);
    switch (o->type) {
    case CFG_BOOL:
        if (!parse_bool(text, &num))
            return error_set(err, SKH_EINVAL, what,
                             "%s: expected 1/0, true/false, yes/no, got '%s'", o->name, text);
        break;
    case CFG_INT:
    case CFG_REAL:
        (void)end;
        if (text_number(text, o->type == CFG_INT, &num) != 0)
            return error_set(err, SKH_EINVAL, what, "%s: expected %s, got '%s'", o->name,
                             o->type == CFG_INT ? "an integer" : "a number", text);
        if (num < o->min || num > o->max)
            return error_set(err, SKH_EINVAL, what, "%s: %s is outside %g..%g", o->name, text,
                             o->min, o->max);
        break;
    case CFG_ENUM: {
        int index = parse_choice(o->choices, text);
        if (index < 0)
            return error_set(err, SKH_EINVAL, what, "%s: expected one of %s, got '%s'", o->name,
                             o->choices, text);
        num = index;
        break;
    }
    }
    snprintf(out->text, sizeof out->text, "%s", text);
    out->num = num;
    return SKH_OK;
}

int config_resolve(config *cfg, json_t *workspace, skh_error *err)
{
    for (int i = 0; i < CFG__COUNT; i++) {
        const cfg_option *o = &cfg_options[i];
        int rc = config_parse(i, o->def, &cfg->v[i], o->name, err);
        if (rc)
            return rc;
        cfg->v[i].source = CFG_FROM_DEFAULT;

        json_t *w = workspace ? json_object_get(workspace, o->name) : NULL;
        if (json_is_string(w)) {
            char what[128];
            snprintf(what, sizeof what, "workspace config %s", o->name);
            rc = config_parse(i, json_string_value(w), &cfg->v[i], what, err);
            if (rc)
                return rc;
            cfg->v[i].source = CFG_FROM_WORKSPACE;
        }
        const char *e = o->env ? getenv(o->env) : NULL;
        if (e && *e) {
            rc = config_parse(i, e, &cfg->v[i], o->env, err);
            if (rc)
                return rc;
            cfg->v[i].source = CFG_FROM_ENV;
        }
    }
    return SKH_OK;
}
