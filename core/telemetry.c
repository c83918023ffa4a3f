/*
 * skh_telemetry: the dashboard (DESIGN §8) for embedders and the CLI.  The
 * numbers come from the store in one read transaction; this only hands them
 * out as JSON text.
 */
#include "config.h"

#include <jansson.h>

#include "error.h"
#include "host_internal.h"

SKH_EXPORT int skh_telemetry(skh_host *host, char **json, skh_error *err)
{
    json_t *j = NULL;
    int rc;

    *json = NULL;
    error_clear(err);
    if ((rc = store_telemetry(host->st, &j, err)) != SKH_OK)
        return rc;
    *json = json_dumps(j, SKH_JSON_FLAGS);
    json_decref(j);
    return *json ? SKH_OK : error_set(err, SKH_ENOMEM, "telemetry", "out of memory");
}
