/* skh_policy_check: `skillhost policy check` for embedders. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "host_internal.h"
#include "policy.h"

/*
 * The folder checked is the one `require` must search first: a policy in
 * DIR that requires a helper module next to it loads as it would at run
 * time, even when DIR is not the host's own policies folder.
 */
static char *lua_path_for(const char *dir, const char *rest)
{
    size_t n = strlen(dir) + (rest ? strlen(rest) : 0) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", dir, rest && *rest ? ";" : "", rest ? rest : "");
    return s;
}

SKH_EXPORT int skh_policy_check(skh_host *host, const char *dir, char **json, skh_error *err)
{
    *json = NULL;
    error_clear(err);
    if (!dir || !*dir) {
        const char *env = getenv("SKILLHOST_POLICIES");
        dir = host ? host->policies_dir : (env && *env ? env : SKH_POLICYDIR);
    }
    plugin_limits lim;
    if (host)
        lim = host->limits;
    else
        plugin_limits_default(&lim);
    char *lua_path = lua_path_for(dir, lim.lua_path);
    if (!lua_path)
        return error_set(err, SKH_ENOMEM, dir, "out of memory");
    lim.lua_path = lua_path;

    json_t *report = NULL;
    int failed = 0;
    int rc = policy_check_dir(dir, &lim, 1, &report, &failed, err);
    free(lua_path);
    if (rc)
        return rc;
    size_t total = json_array_size(report);
    json_t *j = json_pack("{s:s, s:o, s:i}", "dir", dir, "policies", report, "failed", failed);
    if (j)
        *json = json_dumps(j, SKH_JSON_FLAGS);
    json_decref(j);
    if (!*json)
        return error_set(err, SKH_ENOMEM, dir, "out of memory");
    /* The report is handed back with the failure: it says which files failed and why. */
    if (failed)
        return error_set(err, SKH_EPLUGIN, dir, "%d of %zu policy files failed", failed, total);
    return SKH_OK;
}
