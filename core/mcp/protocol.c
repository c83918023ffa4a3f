/*
 * MCP over JSON-RPC 2.0: the messages, whatever carries them.
 *
 * Methods: initialize (version negotiation), ping, tools/list, tools/call,
 * logging/setLevel; notifications initialized and cancelled.  Every skill
 * with a serving variant is a tool; a tools/call runs skh_execute, the
 * whole pipeline (routing, A/B arms, ReAct, recovery, scoring, recording,
 * rollback checks).  A skill that fails answers isError: true with its
 * error category; only a message that is not a valid call (unknown tool,
 * bad params) is a JSON-RPC error.  docs/mcp.md documents the mapping.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mcp.h"

const char *const mcp_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
                                             NULL};

/* RFC 5424 levels as MCP names them, lowest first. */
static const char *const log_levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};
#define LOG_LEVEL_DEFAULT 3 /* warning: a client that never set a level hears of problems only */

/* The host tools: their names are reserved, a skill of the same name is not listed. */
#define TOOL_STATUS "skillhost_status"

volatile int mcp_stopping;

void mcp_random_id(char out[33])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    for (size_t i = got; i < sizeof b; i++) /* getrandom never fails on Linux >= 3.17 */
        b[i] = (unsigned char)(rand() & 0xff);
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void mcp_session_init(mcp_session *s, const char *transport)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->transport = transport;
    s->log_level = LOG_LEVEL_DEFAULT;
    char id[33];
    mcp_random_id(id);
    snprintf(s->id, sizeof s->id, "%s", id);
}

void mcp_session_destroy(mcp_session *s)
{
    pthread_mutex_destroy(&s->mu);
}

int mcp_version_supported(const char *version)
{
    for (size_t i = 0; version && mcp_protocol_versions[i]; i++)
        if (strcmp(mcp_protocol_versions[i], version) == 0)
            return 1;
    return 0;
}

json_t *mcp_error(const json_t *id, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                     id ? (json_t *)id : json_null(), "error", "code", code, "message", msg);
}

static json_t *result_of(const json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", (json_t *)id, "result",
                     result ? result : json_object());
}

int mcp_is_initialize(const json_t *msg)
{
    const char *m = json_string_value(json_object_get(msg, "method"));
    return m && strcmp(m, "initialize") == 0 && json_object_get(msg, "id");
}

json_t *mcp_list_changed(void)
{
    return json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/tools/list_changed");
}

/* ---- in-flight requests --------------------------------------------------- */

static void inflight_add(mcp_session *s, mcp_inflight *f, const json_t *id)
{
    f->id = json_deep_copy(id);
    f->cancel = 0;
    pthread_mutex_lock(&s->mu);
    f->next = s->inflight;
    s->inflight = f;
    pthread_mutex_unlock(&s->mu);
}

static void inflight_remove(mcp_session *s, mcp_inflight *f)
{
    pthread_mutex_lock(&s->mu);
    for (mcp_inflight **pp = &s->inflight; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    json_decref(f->id);
    f->id = NULL;
}

int mcp_cancel_notification(mcp_session *s, const json_t *msg)
{
    const char *m = json_string_value(json_object_get(msg, "method"));
    if (!m || strcmp(m, "notifications/cancelled") != 0)
        return 0;
    const json_t *rid = json_object_get(json_object_get(msg, "params"), "requestId");
    pthread_mutex_lock(&s->mu);
    for (mcp_inflight *f = s->inflight; rid && f; f = f->next)
        if (json_equal(f->id, (json_t *)rid))
            __atomic_store_n(&f->cancel, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mu);
    return 1;
}

/* ---- initialize ----------------------------------------------------------- */

static json_t *do_initialize(mcp_session *s, skh_host *host, const json_t *id, const json_t *params)
{
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    if (!asked)
        return mcp_error(id, MCP_INVALID_PARAMS, "initialize: params.protocolVersion is required");
    /* The client's revision if served, else the newest; the client decides whether to go on. */
    const char *agreed = mcp_version_supported(asked) ? asked : mcp_protocol_versions[0];
    const json_t *info = json_object_get(params, "clientInfo");
    const char *name = json_string_value(json_object_get(info, "name"));
    const char *version = json_string_value(json_object_get(info, "version"));

    pthread_mutex_lock(&s->mu);
    snprintf(s->protocol, sizeof s->protocol, "%s", agreed);
    snprintf(s->client_name, sizeof s->client_name, "%s", name ? name : "");
    snprintf(s->client_version, sizeof s->client_version, "%s", version ? version : "");
    int record = !s->recorded;
    s->recorded = 1;
    pthread_mutex_unlock(&s->mu);

    skh_error err;
    if (record && skh_session_record(host, s->id, s->transport, name, version, agreed, &err))
        fprintf(stderr, "skillhost: mcp: session %s not recorded: %s: %s\n", s->id, err.what,
                err.message);

    return result_of(
        id, json_pack("{s:s, s:{s:{s:b}, s:{}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", agreed,
                      "capabilities", "tools", "listChanged", 1, "logging", "serverInfo", "name",
                      "skillhost", "title", "skillhost skills", "version", SKH_VERSION_STRING,
                      "instructions",
                      "Each tool is a skillhost skill: calls are routed (A/B tests, rollouts), "
                      "scored and recorded. skillhost_status describes a skill's variants."));
}

/* ---- tools/list ----------------------------------------------------------- */

static json_t *default_input_schema(void)
{
    return json_pack("{s:s, s:s, s:b}", "type", "object", "description",
                     "The skill's input object, handed to the skill as it is.",
                     "additionalProperties", 1);
}

static json_t *host_tools(void)
{
    return json_pack(
        "[{s:s, s:s, s:s, s:{s:s, s:{s:{s:s, s:s}, s:{s:s, s:s}}, s:[s], s:b}}]", "name",
        TOOL_STATUS, "title", "Skill status", "description",
        "A skill's variants and their states, window metrics against the thresholds, the live "
        "A/B test with its verdict, circuit breakers, and what is missing for the next "
        "promotion.",
        "inputSchema", "type", "object", "properties", "skill", "type", "string", "description",
        "the skill's name", "target_state", "type", "string", "description",
        "staged or production: what the next promotion needs", "required", "skill",
        "additionalProperties", 0);
}

/* Every skill with a serving variant, then the host tools; NULL with err on failure. */
static json_t *list_tools(skh_host *host, skh_error *err)
{
    char *text = NULL;
    if (skh_skill_tools(host, &text, err) != SKH_OK)
        return NULL;
    json_t *skills = json_loads(text, 0, NULL);
    skh_free(text);
    json_t *tools = host_tools();
    size_t i;
    json_t *t;
    json_array_foreach(skills, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!name || strcmp(name, TOOL_STATUS) == 0)
            continue;
        json_t *in = json_object_get(t, "input_schema");
        json_t *out = json_object_get(t, "output_schema");
        json_t *tool = json_pack("{s:s, s:O, s:o}", "name", name, "description",
                                 json_object_get(t, "description"), "inputSchema",
                                 json_is_object(in) ? json_incref(in) : default_input_schema());
        if (tool && json_is_object(out))
            json_object_set(tool, "outputSchema", out);
        if (tool)
            json_object_set_new(
                tool, "_meta",
                json_pack("{s:O}", "skillhost/variant", json_object_get(t, "variant")));
        json_array_append_new(tools, tool);
    }
    json_decref(skills);
    return tools;
}

uint64_t mcp_tools_fingerprint(skh_host *host)
{
    skh_error err;
    char *text = NULL;
    if (skh_skill_tools(host, &text, &err) != SKH_OK)
        return 0;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    skh_free(text);
    return h ? h : 1;
}

/* ---- tools/call ----------------------------------------------------------- */

typedef struct call_ctx {
    mcp_session *s;
    const mcp_sink *sink;
    const json_t *progress_token; /* NULL: the client asked for no progress */
    mcp_inflight *f;
    const char *skill;
    unsigned events;
    json_t *steps; /* the breadcrumbs of the latest attempt */
} call_ctx;

static void notify(call_ctx *c, json_t *msg)
{
    if (msg && c->sink && c->sink->send(c->sink->ud, msg) != 0)
        __atomic_store_n(&c->f->cancel, 1, __ATOMIC_RELAXED); /* the client is gone */
    json_decref(msg);
}

/*
 * Attempts and breadcrumbs become progress notifications (a count: the
 * total is not known ahead), log lines become notifications/message at or
 * above the session's level.
 */
static void on_event(void *ud, const skh_event *ev)
{
    call_ctx *c = ud;
    if (ev->kind == SKH_EVENT_ATTEMPT)
        json_array_clear(c->steps);
    else if (ev->kind == SKH_EVENT_STEP)
        json_array_append_new(c->steps, json_string(ev->text ? ev->text : ""));
    if (ev->kind == SKH_EVENT_LOG) {
        static const int map[] = {0, 1, 3, 4}; /* SKH_LOG_* -> MCP level */
        int lvl = ev->level >= 0 && ev->level <= 3 ? map[ev->level] : 1;
        pthread_mutex_lock(&c->s->mu);
        int wanted = lvl >= c->s->log_level;
        pthread_mutex_unlock(&c->s->mu);
        if (wanted) {
            char logger[80];
            snprintf(logger, sizeof logger, "skill/%s", c->skill);
            notify(c, json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "jsonrpc", "2.0", "method",
                                "notifications/message", "params", "level", log_levels[lvl],
                                "logger", logger, "data", ev->text ? ev->text : ""));
        }
        return;
    }
    if (!c->progress_token)
        return;
    char message[300];
    if (ev->kind == SKH_EVENT_ATTEMPT)
        snprintf(message, sizeof message, "attempt %u: %s", ev->attempt, ev->text ? ev->text : "");
    else
        snprintf(message, sizeof message, "attempt %u: step %s", ev->attempt,
                 ev->text ? ev->text : "");
    c->events++;
    notify(c, json_pack("{s:s, s:s, s:{s:O, s:I, s:s}}", "jsonrpc", "2.0", "method",
                        "notifications/progress", "params", "progressToken", c->progress_token,
                        "progress", (json_int_t)c->events, "message", message));
}

/* A skill's output may carry MCP content blocks itself: {"content": [{"type": ...}]}. */
static int is_content_blocks(const json_t *a)
{
    static const char *const types[] = {"text", "image", "audio", "resource", "resource_link"};
    if (!json_is_array(a) || json_array_size(a) == 0)
        return 0;
    size_t i;
    json_t *b;
    json_array_foreach(a, i, b)
    {
        const char *t = json_string_value(json_object_get(b, "type"));
        int known = 0;
        for (size_t k = 0; t && k < sizeof types / sizeof types[0]; k++)
            known |= strcmp(t, types[k]) == 0;
        if (!known)
            return 0;
    }
    return 1;
}

static int structured_ok(const mcp_session *s)
{
    return strcmp(s->protocol, "2025-06-18") >= 0; /* structuredContent arrived in 2025-06-18 */
}

static json_t *tool_error_result(const char *category, const char *message, json_t *meta)
{
    json_t *r = json_pack("{s:[{s:s, s:s++}], s:b, s:{s:s, s:s}}", "content", "type", "text",
                          "text", category, ": ", message, "isError", 1, "_meta",
                          "skillhost/category", category, "skillhost/message", message);
    if (r && meta)
        json_object_set(json_object_get(r, "_meta"), "skillhost/result", meta);
    return r;
}

/* The context keys a client may send in params._meta (docs/mcp.md). */
static const char *meta_text(const json_t *meta, const char *a, const char *b)
{
    const char *v = json_string_value(json_object_get(meta, a));
    return v ? v : json_string_value(json_object_get(meta, b));
}

static json_t *call_skill(mcp_session *s, skh_host *host, const json_t *id, const char *skill,
                          const json_t *args, const json_t *meta, const mcp_sink *sink,
                          mcp_inflight *f)
{
    char *input = json_dumps(args, JSON_COMPACT);
    if (!input)
        return mcp_error(id, MCP_INTERNAL_ERROR, "out of memory");
    call_ctx c = {.s = s, .sink = sink, .f = f, .skill = skill, .steps = json_array()};
    const json_t *token = json_object_get(meta, "progressToken");
    if (json_is_string(token) || json_is_integer(token))
        c.progress_token = token;

    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.session_id = s->id;
    eo.tenant = meta_text(meta, "skillhost/tenant", "tenant");
    eo.workflow_phase = meta_text(meta, "skillhost/phase", "phase");
    eo.user_query = meta_text(meta, "skillhost/query", "query");
    eo.key = meta_text(meta, "skillhost/key", "key");
    eo.on_event = on_event;
    eo.event_ud = &c;
    eo.cancel = &f->cancel;

    skh_result *r = NULL;
    skh_error err;
    int rc = skh_execute(host, skill, input, &eo, &r, &err);
    free(input);
    json_t *meta_out = NULL;
    if (r) {
        char *rj = NULL;
        if (skh_result_json(r, &rj) == SKH_OK) {
            meta_out = json_loads(rj, 0, NULL);
            json_object_del(meta_out, "output");
        }
        skh_free(rj);
    }
    json_t *result = NULL;
    const char *out = r ? skh_result_output(r) : NULL;
    if (rc == SKH_ENOTFOUND && !r) {
        json_decref(meta_out);
        json_decref(c.steps);
        return mcp_error(id, MCP_INVALID_PARAMS, "unknown tool '%s': %s", skill, err.message);
    }
    if (out) {
        json_t *o = json_loads(out, 0, NULL);
        json_t *blocks = json_object_get(o, "content");
        if (is_content_blocks(blocks))
            result = json_pack("{s:O, s:b}", "content", blocks, "isError", 0);
        else
            result = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", out,
                               "isError", 0);
        if (result && o && structured_ok(s))
            json_object_set(result, "structuredContent", o);
        if (result)
            json_object_set_new(result, "_meta",
                                json_pack("{s:O, s:O}", "skillhost/result",
                                          meta_out ? meta_out : json_null(), "skillhost/steps",
                                          c.steps ? c.steps : json_null()));
        json_decref(o);
    } else {
        int cat = r ? skh_result_error_category(r) : err.category;
        const char *name = cat > SKH_ERR_NONE ? skh_category_name(cat) : NULL;
        if (!name)
            name = rc == SKH_EINVAL ? "validation" : "internal";
        const char *msg =
            r && skh_result_error_message(r) ? skh_result_error_message(r) : err.message;
        result = tool_error_result(name, msg, meta_out);
    }
    json_decref(meta_out);
    json_decref(c.steps);
    skh_result_free(r);
    return result ? result_of(id, result) : mcp_error(id, MCP_INTERNAL_ERROR, "out of memory");
}

static json_t *call_status(skh_host *host, const json_t *id, const json_t *args)
{
    const char *skill = json_string_value(json_object_get(args, "skill"));
    const json_t *target = json_object_get(args, "target_state");
    if (!skill || (target && !json_is_string(target)))
        return result_of(id, tool_error_result("validation",
                                               "arguments: skill (a string) is required; "
                                               "target_state, when given, is a string",
                                               NULL));
    char *text = NULL;
    skh_error err;
    if (skh_status(host, skill, json_string_value(target), NULL, &text, &err) != SKH_OK) {
        char msg[1400];
        snprintf(msg, sizeof msg, "%s: %s", err.what, err.message);
        return result_of(
            id, tool_error_result(err.code == SKH_ENOTFOUND ? "not_found" : "internal", msg, NULL));
    }
    json_t *o = json_loads(text, 0, NULL);
    json_t *r =
        json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text, "isError", 0);
    skh_free(text);
    if (r && o)
        json_object_set_new(r, "structuredContent", o);
    else
        json_decref(o);
    return r ? result_of(id, r) : mcp_error(id, MCP_INTERNAL_ERROR, "out of memory");
}

static json_t *do_tools_call(mcp_session *s, skh_host *host, const json_t *id, const json_t *params,
                             const mcp_sink *sink)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    const json_t *args = json_object_get(params, "arguments");
    const json_t *meta = json_object_get(params, "_meta");
    if (!name)
        return mcp_error(id, MCP_INVALID_PARAMS, "tools/call: params.name must be a string");
    if (args && !json_is_object(args) && !json_is_null(args))
        return mcp_error(id, MCP_INVALID_PARAMS, "tools/call: params.arguments must be an object");
    if (meta && !json_is_object(meta))
        return mcp_error(id, MCP_INVALID_PARAMS, "tools/call: params._meta must be an object");
    json_t *empty = NULL;
    if (!json_is_object(args))
        args = empty = json_object();
    json_t *reply;
    if (strcmp(name, TOOL_STATUS) == 0) {
        reply = call_status(host, id, args);
    } else {
        mcp_inflight f;
        inflight_add(s, &f, id);
        reply = call_skill(s, host, id, name, args, meta, sink, &f);
        if (__atomic_load_n(&f.cancel, __ATOMIC_RELAXED)) {
            /* Cancelled (or its client is gone): no answer, as the spec asks; the record stays. */
            json_decref(reply);
            reply = NULL;
        }
        inflight_remove(s, &f);
    }
    json_decref(empty);
    return reply;
}

/* ---- dispatch ------------------------------------------------------------- */

static json_t *do_set_level(mcp_session *s, const json_t *id, const json_t *params)
{
    const char *level = json_string_value(json_object_get(params, "level"));
    for (int i = 0; level && i < (int)(sizeof log_levels / sizeof log_levels[0]); i++) {
        if (strcmp(log_levels[i], level) == 0) {
            pthread_mutex_lock(&s->mu);
            s->log_level = i;
            pthread_mutex_unlock(&s->mu);
            return result_of(id, NULL);
        }
    }
    return mcp_error(id, MCP_INVALID_PARAMS,
                     "logging/setLevel: level must be one of debug, info, notice, warning, "
                     "error, critical, alert, emergency");
}

json_t *mcp_handle(mcp_session *s, skh_host *host, const json_t *msg, const mcp_sink *sink)
{
    if (!json_is_object(msg))
        return mcp_error(NULL, MCP_INVALID_REQUEST, "a JSON-RPC message must be an object");
    const json_t *id = json_object_get(msg, "id");
    const char *jsonrpc = json_string_value(json_object_get(msg, "jsonrpc"));
    const json_t *method_j = json_object_get(msg, "method");
    const char *method = json_string_value(method_j);
    int valid_id = id && (json_is_string(id) || json_is_integer(id));

    if (!method_j && id && (json_object_get(msg, "result") || json_object_get(msg, "error")))
        return NULL; /* a response: this server sends no requests, so nothing waits for one */
    if (!jsonrpc || strcmp(jsonrpc, "2.0") != 0)
        return mcp_error(valid_id ? id : NULL, MCP_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
    if (!method)
        return mcp_error(valid_id ? id : NULL, MCP_INVALID_REQUEST, "\"method\" must be a string");
    if (id && !valid_id)
        return mcp_error(NULL, MCP_INVALID_REQUEST,
                         "\"id\" must be a string or an integer (null is not allowed)");
    const json_t *params = json_object_get(msg, "params");
    if (params && !json_is_object(params))
        return id ? mcp_error(id, MCP_INVALID_PARAMS, "\"params\" must be an object") : NULL;

    if (!id) {
        /* Notifications get no answer, even when unknown. */
        if (strcmp(method, "notifications/initialized") == 0) {
            pthread_mutex_lock(&s->mu);
            s->initialized = 1;
            pthread_mutex_unlock(&s->mu);
        } else {
            mcp_cancel_notification(s, msg);
        }
        return NULL;
    }
    if (strcmp(method, "initialize") == 0)
        return do_initialize(s, host, id, params);
    if (strcmp(method, "ping") == 0)
        return result_of(id, NULL);
    if (strcmp(method, "tools/list") == 0) {
        skh_error err;
        json_t *tools = list_tools(host, &err);
        if (!tools)
            return mcp_error(id, MCP_INTERNAL_ERROR, "tools/list: %s: %s", err.what, err.message);
        return result_of(id, json_pack("{s:o}", "tools", tools));
    }
    if (strcmp(method, "tools/call") == 0)
        return do_tools_call(s, host, id, params, sink);
    if (strcmp(method, "logging/setLevel") == 0)
        return do_set_level(s, id, params);
    return mcp_error(id, MCP_METHOD_NOT_FOUND,
                     "method '%s' not found (this server has tools and logging only)", method);
}

int mcp_open_host(const mcp_options *o, skh_host **out, skh_error *err)
{
    skh_host_options ho = {.struct_size = sizeof ho, .db_path = o->db, .policies_dir = o->policies};
    return skh_host_open(&ho, out, err);
}

int mcp_fail(skh_error *err, int code, const char *what, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->category = SKH_ERR_NONE;
    snprintf(err->what, sizeof err->what, "%s", what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}
