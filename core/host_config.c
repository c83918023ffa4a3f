/* The configuration verbs of the embedding API: list, set, validate. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "host_internal.h"

static const char *const type_names[] = {"bool", "int", "number", "enum"};

static int dump(json_t *j, char **out, skh_error *err)
{
    *out = j ? json_dumps(j, SKH_JSON_FLAGS) : NULL;
    json_decref(j);
    return *out ? SKH_OK : error_set(err, SKH_ENOMEM, "config", "out of memory");
}

SKH_EXPORT int skh_config_list(skh_host *host, char **json, skh_error *err)
{
    json_t *list = json_array();
    for (int i = 0; list && i < CFG__COUNT; i++) {
        const cfg_option *o = &cfg_options[i];
        const cfg_value *v = &host->cfg.v[i];
        json_t *row = json_pack(
            "{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:s}", "name", o->name, "value", v->text,
            "source", config_source_name(v->source), "default", o->def, "env",
            o->env ? json_string(o->env) : json_null(), "type", type_names[o->type], "status",
            o->status, "needs", o->needs ? json_string(o->needs) : json_null(), "conflicts",
            o->conflicts ? json_string(o->conflicts) : json_null(), "description", o->description);
        if (row && o->choices)
            json_object_set_new(row, "choices", json_string(o->choices));
        json_array_append_new(list, row);
    }
    return dump(list ? json_pack("{s:o}", "options", list) : NULL, json, err);
}

SKH_EXPORT int skh_config_set(skh_host *host, const char *key, const char *value, skh_error *err)
{
    int id = config_find(key);
    if (id < 0)
        return error_set(err, SKH_EINVAL, key ? key : "",
                         "no such option (see skillhost config list)");
    if (value) {
        cfg_value parsed;
        int rc = config_parse((cfg_id)id, value, &parsed, key, err);
        if (rc)
            return rc;
        value = parsed.text;
        rc = store_config_set(host->st, key, value, err);
        if (rc == SKH_OK && host->cfg.v[id].source <= CFG_FROM_WORKSPACE) {
            host->cfg.v[id] = parsed;
            host->cfg.v[id].source = CFG_FROM_WORKSPACE;
            /* What config list shows as in effect must be in effect on this connection too. */
            if (id == CFG_STORE_BUSY_TIMEOUT_MS || id == CFG_STORE_DURABILITY) {
                store_options so = {
                    .durability_full = config_num(&host->cfg, CFG_STORE_DURABILITY) == 1,
                    .busy_timeout_ms = (int)config_num(&host->cfg, CFG_STORE_BUSY_TIMEOUT_MS),
                };
                rc = store_apply_settings(host->st, &so, err);
            }
        }
        return rc;
    }
    return store_config_set(host->st, key, NULL, err);
}

/* An option "matters" when it is a bool that is on, or any other type at all. */
static int enabled(const skh_host *host, const char *name)
{
    int id = config_find(name);
    return id >= 0 && (cfg_options[id].type != CFG_BOOL || host->cfg.v[id].num != 0);
}

SKH_EXPORT int skh_config_validate(skh_host *host, char **json, skh_error *err)
{
    json_t *problems = json_array();
    char msg[256];
    for (int i = 0; problems && i < CFG__COUNT; i++) {
        const cfg_option *o = &cfg_options[i];
        const cfg_value *v = &host->cfg.v[i];
        if (v->source == CFG_FROM_DEFAULT)
            continue;
        if (o->needs && !enabled(host, o->needs)) {
            snprintf(msg, sizeof msg, "%s is set (%s) but has no effect: %s is off", o->name,
                     config_source_name(v->source), o->needs);
            json_array_append_new(problems, json_string(msg));
        }
        if (o->conflicts && enabled(host, o->conflicts) && enabled(host, o->name)) {
            snprintf(msg, sizeof msg, "%s conflicts with %s", o->name, o->conflicts);
            json_array_append_new(problems, json_string(msg));
        }
        if (strcmp(o->status, "deprecated") == 0) {
            snprintf(msg, sizeof msg, "%s is deprecated", o->name);
            json_array_append_new(problems, json_string(msg));
        }
    }
    size_t n = json_array_size(problems);
    int rc = dump(json_pack("{s:b, s:o}", "ok", n == 0, "problems", problems), json, err);
    if (rc == SKH_OK && n)
        rc = error_set(err, SKH_EINVAL, "config", "%zu problem%s", n, n == 1 ? "" : "s");
    return rc;
}
