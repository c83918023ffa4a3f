/*
 * skh_skill_tools: the workspace's skills as tools (DESIGN §3.6).  A skill
 * is a tool when it has a serving variant; its schemas are what the serving
 * variant's plugin declares, so the plugin is loaded (and stays warm in the
 * host, ready for the call that usually follows a listing).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "host_internal.h"
#include "store_internal.h"

/* The tool's description: the skill's, else the variant's, else the plugin's, else a default. */
static json_t *tool_description(const char *skill, const char *skill_desc, const store_variant *v,
                                const plugin *p)
{
    if (skill_desc && *skill_desc)
        return json_string(skill_desc);
    if (v->description && *v->description)
        return json_string(v->description);
    if (p && p->description && *p->description)
        return json_string(p->description);
    return json_sprintf("skill %s (variant %s)", skill, v->variant_id);
}

static json_t *schema_or_null(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    return j ? j : json_null();
}

/* One tool; *tool is NULL (and SKH_OK) when the skill has no serving variant. */
static int one_tool(skh_host *host, const json_t *sk, json_t **tool, skh_error *err)
{
    const char *skill = json_string_value(json_object_get(sk, "skill"));
    const char *serving = json_string_value(json_object_get(sk, "serving"));
    *tool = NULL;
    if (!skill || !serving)
        return SKH_OK;
    store_variant v;
    memset(&v, 0, sizeof v);
    int rc = store_variant_get(host->st, serving, &v, err);
    if (rc)
        return rc;
    plugin *p = NULL;
    skh_error perr;
    error_clear(&perr);
    int prc = host_variant_plugin(host, &v, &p, &perr);
    json_t *t =
        json_pack("{s:s, s:o, s:s}", "name", skill, "description",
                  tool_description(skill, json_string_value(json_object_get(sk, "description")), &v,
                                   prc ? NULL : p),
                  "variant", v.variant_id);
    if (t && prc == SKH_OK) {
        json_object_set_new(t, "input_schema", schema_or_null(p->input_schema));
        json_object_set_new(t, "output_schema", schema_or_null(p->output_schema));
    } else if (t) {
        json_object_set_new(t, "input_schema", json_null());
        json_object_set_new(t, "output_schema", json_null());
        json_object_set_new(t, "error", json_sprintf("%s: %s", perr.what, perr.message));
    }
    store_variant_free(&v);
    if (!t)
        return error_set(err, SKH_ENOMEM, skill, "out of memory");
    *tool = t;
    return SKH_OK;
}

SKH_EXPORT int skh_skill_tools(skh_host *host, char **json, skh_error *err)
{
    *json = NULL;
    error_clear(err);
    json_t *skills = NULL;
    int rc = store_skill_list(host->st, &skills, err);
    if (rc)
        return rc;
    json_t *tools = json_array();
    size_t i;
    json_t *sk;
    if (!tools)
        rc = error_set(err, SKH_ENOMEM, "tools", "out of memory");
    json_array_foreach(skills, i, sk)
    {
        json_t *t = NULL;
        if (rc == SKH_OK)
            rc = one_tool(host, sk, &t, err);
        if (t && json_array_append_new(tools, t))
            rc = error_set(err, SKH_ENOMEM, "tools", "out of memory");
    }
    json_decref(skills);
    if (rc == SKH_OK && !(*json = json_dumps(tools, SKH_JSON_FLAGS)))
        rc = error_set(err, SKH_ENOMEM, "tools", "out of memory");
    json_decref(tools);
    return rc;
}

SKH_EXPORT int skh_session_record(skh_host *host, const char *session_id, const char *transport,
                                  const char *client_name, const char *client_version,
                                  const char *protocol_version, skh_error *err)
{
    static const char sql[] =
        "INSERT INTO client_sessions (session_id, transport, client_name, client_version, "
        "protocol_version, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (session_id) DO NOTHING";
    error_clear(err);
    if (!session_id || !*session_id || !transport)
        return error_set(err, SKH_EINVAL, "session", "a session id and a transport are required");
    char ts[32];
    store_timestamp(ts);
    int rc = store_tx_begin(host->st, 1, err);
    if (rc)
        return rc;
    sqlite3_stmt *s = store_stmt(host->st, sql, err);
    if (!s)
        return store_tx_fail(host->st, err->code);
    if (store_bind_text(s, 1, session_id) || store_bind_text(s, 2, transport) ||
        store_bind_text(s, 3, client_name) || store_bind_text(s, 4, client_version) ||
        store_bind_text(s, 5, protocol_version) || store_bind_text(s, 6, ts)) {
        store_stmt_done(s);
        return store_tx_fail(host->st, error_set(err, SKH_ESTORE, session_id,
                                                 "recording the session: binding failed"));
    }
    rc = store_stmt_run(host->st, s, err, "recording session", session_id);
    if (rc)
        return store_tx_fail(host->st, rc);
    return store_tx_commit(host->st, err);
}
