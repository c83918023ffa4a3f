/*
 * Request input JSON through the whole execute path: parsing, the Lua
 * skill's view of it (lua_json), the output it echoes back, breadcrumbs,
 * the built-in scorers, ReAct retry inputs, recovery, and the recording
 * transaction.  The echo skill (fuzz.h) lets the input choose the output,
 * the steps and the error category.
 */
#include "config.h"

#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_clock.h"

static skh_host *host;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    if (!host) {
        host = fuzz_host(NULL);
        fuzz_clock(host);
    }
    char *input = fuzz_text(data, size);
    skh_exec_options o = SKH_EXEC_OPTIONS_INIT;
    o.user_query = input; /* free text, recorded */
    skh_result *r = NULL;
    skh_error err;
    skh_execute(host, "echo", input, &o, &r, &err);
    if (r) {
        char *json = NULL;
        if (skh_result_json(r, &json) == SKH_OK && !json)
            abort(); /* SKH_OK promises the text */
        skh_free(json);
        skh_result_free(r);
    }
    free(input);
    return 0;
}
