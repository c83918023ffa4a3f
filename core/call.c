/*
 * The host side of a plugin call: the function table every skh_call carries
 * and the state it accumulates (breadcrumbs, output, error).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <skillhost/host.h>

#include "call.h"

/* A plugin that loops on skh_step must not exhaust memory before its deadline does. */
#define CALL_MAX_STEPS 4096

static const char *cb_input(skh_call *call)
{
    return call->input;
}

static const char *cb_content(skh_call *call)
{
    return call->content;
}

static const char *cb_patterns(skh_call *call)
{
    return call->patterns;
}

static unsigned cb_attempt(skh_call *call)
{
    return call->attempt;
}

static const char *cb_context(skh_call *call)
{
    return call->context ? call->context : "{}";
}

static int cb_step(skh_call *call, const char *name)
{
    return call_step(call, name);
}

static int cb_output(skh_call *call, const char *json)
{
    return call_output(call, json);
}

static int cb_fail(skh_call *call, int category, const char *message)
{
    return call_fail(call, category, message);
}

static int log_threshold(void)
{
    static int threshold = -1;
    if (threshold < 0) {
        const char *v = getenv("SKILLHOST_LOG");
        threshold = SKH_LOG_WARN;
        if (v && strcasecmp(v, "debug") == 0)
            threshold = SKH_LOG_DEBUG;
        else if (v && strcasecmp(v, "info") == 0)
            threshold = SKH_LOG_INFO;
        else if (v && strcasecmp(v, "error") == 0)
            threshold = SKH_LOG_ERROR;
    }
    return threshold;
}

static void cb_vlog(skh_call *call, int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    if (level < SKH_LOG_DEBUG)
        level = SKH_LOG_DEBUG;
    if (level > SKH_LOG_ERROR)
        level = SKH_LOG_ERROR;
    int observed = call && call->observe;
    if (level < log_threshold() && !observed)
        return;
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    if (observed)
        call->observe(call->observe_ud, SKH_EVENT_LOG, level, line);
    if (level < log_threshold())
        return;
    fprintf(stderr, "skillhost: %s: %s: %s\n",
            call && call->plugin_name ? call->plugin_name : "plugin", names[level], line);
}

const skh_host_api call_api = {
    .abi_version = SKH_ABI_VERSION,
    .struct_size = sizeof(skh_host_api),
    .input = cb_input,
    .content = cb_content,
    .patterns = cb_patterns,
    .attempt = cb_attempt,
    .step = cb_step,
    .output = cb_output,
    .fail = cb_fail,
    .vlog = cb_vlog,
    .context = cb_context,
};

void call_init(skh_call *call, const char *input, const char *content, const char *patterns,
               unsigned attempt, const char *plugin_name)
{
    memset(call, 0, sizeof *call);
    call->api = &call_api;
    call->input = input ? input : "{}";
    call->content = content ? content : "";
    call->patterns = patterns ? patterns : "[]";
    call->attempt = attempt ? attempt : 1;
    call->plugin_name = plugin_name;
}

void call_release(skh_call *call)
{
    for (size_t i = 0; i < call->nsteps; i++)
        free(call->steps[i]);
    free(call->steps);
    free(call->output);
    free(call->message);
    call->steps = NULL;
    call->nsteps = call->capsteps = 0;
    call->output = call->message = NULL;
    call->category = SKH_ERR_NONE;
    call->finished = 0;
    call->oom = 0;
}

int call_step(skh_call *call, const char *name)
{
    if (!name || !*name)
        return SKH_PLUGIN_FAILED;
    if (call->nsteps >= CALL_MAX_STEPS)
        return SKH_PLUGIN_FAILED;
    if (call->nsteps == call->capsteps) {
        size_t cap = call->capsteps ? call->capsteps * 2 : 16;
        char **grown = realloc(call->steps, cap * sizeof *grown);
        if (!grown) {
            call->oom = 1;
            return SKH_PLUGIN_FAILED;
        }
        call->steps = grown;
        call->capsteps = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        call->oom = 1;
        return SKH_PLUGIN_FAILED;
    }
    call->steps[call->nsteps++] = copy;
    if (call->observe)
        call->observe(call->observe_ud, SKH_EVENT_STEP, 0, copy);
    return SKH_PLUGIN_OK;
}

/* The first outcome a plugin reports wins; a second skh_output/skh_fail is ignored. */
int call_output_take(skh_call *call, char *json)
{
    if (call->finished) {
        free(json);
        return call->category ? SKH_PLUGIN_FAILED : SKH_PLUGIN_OK;
    }
    if (!json) {
        call->oom = 1;
        return SKH_PLUGIN_FAILED;
    }
    size_t len;
    if (call->output_max && (len = strlen(json)) > call->output_max) {
        free(json);
        return call_fail_too_big(call, len, 0);
    }
    call->output = json;
    call->finished = 1;
    return SKH_PLUGIN_OK;
}

int call_output(skh_call *call, const char *json)
{
    if (call->finished)
        return call->category ? SKH_PLUGIN_FAILED : SKH_PLUGIN_OK;
    if (!json)
        return call_fail(call, SKH_ERR_INTERNAL, "skh_output called with NULL");
    /* Measured up to one byte past the cap, so a huge output is neither walked nor copied. */
    if (call->output_max && strnlen(json, call->output_max + 1) > call->output_max)
        return call_fail_too_big(call, call->output_max + 1, 1);
    return call_output_take(call, strdup(json));
}

/*
 * Too big is a crash: the same category as an exec skill's stdout past the
 * cap, it fails the request without a retry (recovery.lua) and counts
 * toward the circuit breaker, as a skill that misbehaves should.
 */
int call_fail_too_big(skh_call *call, size_t len, int at_least)
{
    char msg[256];
    snprintf(msg, sizeof msg,
             "output of %s%zu bytes is larger than the limit of %zu bytes "
             "(plugins.output_max_bytes)",
             at_least ? "more than " : "", at_least ? len - 1 : len, call->output_max);
    return call_fail(call, SKH_ERR_CRASH, msg);
}

int call_fail(skh_call *call, int category, const char *message)
{
    if (call->finished)
        return SKH_PLUGIN_FAILED;
    if (category <= SKH_ERR_NONE || category >= SKH_ERR__COUNT)
        category = SKH_ERR_INTERNAL;
    call->category = category;
    call->message = strdup(message ? message : "");
    if (!call->message)
        call->oom = 1;
    call->finished = 1;
    return SKH_PLUGIN_FAILED;
}

void call_log(skh_call *call, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cb_vlog(call, level, fmt, ap);
    va_end(ap);
}
