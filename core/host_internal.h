/* What a host holds; shared by host.c, execute.c and scoring.c only. */
#ifndef SKH_CORE_HOST_INTERNAL_H
#define SKH_CORE_HOST_INTERNAL_H

#include <skillhost/host.h>

#include "loader.h"
#include "options.h"
#include "policy.h"
#include "store.h"

/* A loaded skill plugin, kept warm for the life of the host. */
typedef struct host_plugin {
    char *impl;    /* as registered */
    int isolation; /* PLUGIN_ISOLATION_* it was loaded with */
    plugin *p;
} host_plugin;

struct skh_host {
    char *db_path;
    char *policies_dir;
    char *plugin_path; /* ':'-separated folders searched before the installed one */
    char *lua_path;    /* ';'-separated folders Lua `require` may load from */
    store *st;
    config cfg;
    plugin_limits limits;

    host_plugin *plugins; /* small: one per impl a host has run */
    size_t nplugins, capplugins;

    policy_set *policies; /* loaded lazily, re-read when their files change */
    skh_clock clock;      /* real unless a test installed its own */
    json_t *told;         /* stderr notices this host gave once already, by key */
    json_t *shadow_queue; /* shadow answers taken inside a caller's transaction (host_shadow.c) */
};

/* policy_shadow_fn for host->policies: keep a shadow answer (host_shadow.c). */
void host_shadow_record(void *ctx, const policy_shadow *s);
/* Write the queued shadow answers, when no transaction of the caller's is open. */
void host_shadow_flush(skh_host *host);

/*
 * 1 the first time this host asks about key, 0 after (and when memory runs
 * out): for notices worth one stderr line per process, not one per request.
 */
int host_tell_once(skh_host *host, const char *key);

/* The host's clock and random source (skh_host_set_clock). */
double host_now_ms(const skh_host *host);
void host_sleep_ms(const skh_host *host, double ms);
double host_random(const skh_host *host);

/*
 * Ask a policy.  A policy that cannot be loaded or that raises decides
 * nothing: the error is recorded in the decisions table (verdict "error"),
 * reported on stderr, and returned so the caller applies its fail-safe.
 */
int host_policy_decide(skh_host *host, const char *name, const char *fn, json_t *facts,
                       const char *skill, const char *variant_id, json_t **decision,
                       skh_error *err);

/*
 * The plugin for a variant's impl, loaded on first use and checked against
 * the sha256 recorded at registration: a file changed since is refused.
 */
int host_variant_plugin(skh_host *host, const store_variant *v, plugin **out, skh_error *err);

#endif
