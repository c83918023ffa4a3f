/*
 * Configuration values: every option's parser (int, real, bool, enum), as
 * the environment, the workspace (`config set`) and `config validate` see
 * them.  Byte 0 picks the option; the rest is the value.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "options.h"

static skh_host *host;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256)
        return 0;
    if (!host)
        host = fuzz_host(NULL);
    const cfg_option *o = &cfg_options[data[0] % CFG__COUNT];
    char *value = fuzz_text(data + 1, size - 1);

    cfg_value v;
    skh_error err;
    config_parse((cfg_id)(data[0] % CFG__COUNT), value, &v, "fuzz", &err);

    /* The same text through the environment and the workspace. */
    config cfg;
    if (o->env && !memchr(data + 1, '\0', size - 1)) {
        setenv(o->env, value, 1);
        config_resolve(&cfg, NULL, &err);
        unsetenv(o->env);
    }
    if (skh_config_set(host, o->name, value, &err) == SKH_OK) {
        char *json = NULL;
        skh_config_validate(host, &json, &err);
        skh_free(json);
        json = NULL;
        skh_config_list(host, &json, &err);
        skh_free(json);
    }
    free(value);
    return 0;
}
