/*
 * Every option, declared once (DESIGN §9): name, type, default, environment
 * variable, status, description, and the options it needs or conflicts with.
 * A value comes from, in order: flag > environment > workspace (the config
 * table of the database) > default.
 */
#ifndef SKH_CORE_OPTIONS_H
#define SKH_CORE_OPTIONS_H

#include <jansson.h>
#include <skillhost/host.h>

typedef enum {
    CFG_REACT_ENABLED,
    CFG_REACT_MAX_ITER,
    CFG_REACT_FIDELITY,
    CFG_REQUEST_TIMEOUT_MS,
    CFG_RECOVERY_MAX_RETRIES,
    CFG_LUA_INSTRUCTIONS,
    CFG_LUA_MEMORY_MB,
    CFG_LUA_PATTERN_MAX,
    CFG_EXEC_TIMEOUT_MS,
    CFG_STORE_BUSY_TIMEOUT_MS,
    CFG_STORE_DURABILITY,
    CFG_PLUGINS_TRUST,
    CFG_PLUGINS_OUTPUT_MAX,
    CFG_EVOLVE_AUTO,
    CFG_EVOLVE_WINDOW,
    CFG_PLUGINS_ISOLATION,
    CFG_PLUGINS_TIMEOUT_MS,
    CFG_LUA_POLICY_TIMEOUT_MS,
    CFG_WORKER_MEMORY_MB,
    CFG_WORKER_FILES,
    CFG_WORKER_FILE_SIZE_MB,
    CFG__COUNT
} cfg_id;

typedef enum { CFG_BOOL, CFG_INT, CFG_REAL, CFG_ENUM } cfg_type;
typedef enum { CFG_FROM_DEFAULT, CFG_FROM_WORKSPACE, CFG_FROM_ENV, CFG_FROM_FLAG } cfg_source;

typedef struct cfg_option {
    const char *name; /* "react.max_iterations" */
    cfg_type type;
    const char *def;       /* default, as text */
    const char *env;       /* environment variable, or NULL */
    const char *status;    /* "stable", "experimental", "deprecated" */
    const char *choices;   /* CFG_ENUM: "normal|full" */
    double min, max;       /* CFG_INT / CFG_REAL bounds */
    const char *needs;     /* option that must be enabled for this one to matter, or NULL */
    const char *conflicts; /* option it cannot be combined with, or NULL */
    const char *description;
} cfg_option;

typedef struct cfg_value {
    char text[64];
    double num; /* bools are 0/1, enums the index of the choice */
    cfg_source source;
} cfg_value;

typedef struct config {
    cfg_value v[CFG__COUNT];
} config;

extern const cfg_option cfg_options[CFG__COUNT];

/* Defaults, then workspace values (a JSON object of key -> text, may be NULL), then environment. */
int config_resolve(config *cfg, json_t *workspace, skh_error *err);
/* Parse and check one value for an option; what names where the value came from. */
int config_parse(cfg_id id, const char *text, cfg_value *out, const char *what, skh_error *err);
/* -1 if unknown. */
int config_find(const char *name);
const char *config_source_name(cfg_source s);

static inline double config_num(const config *cfg, cfg_id id)
{
    return cfg->v[id].num;
}

#endif
