/* evaluate's case files: JSONL parsing, labels, the report. */
#include "config.h"

#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_clock.h"

static skh_host *host;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Every case is a request: keep files small so the fuzzer stays fast. */
    if (size > 8192)
        return 0;
    if (!host) {
        host = fuzz_host(NULL);
        fuzz_clock(host);
    }
    char path[256];
    fuzz_path(path, sizeof path, "cases.jsonl");
    fuzz_write(path, data, size);
    char *json = NULL;
    skh_error err;
    int rc = skh_evaluate(host, "echo", NULL, path, &json, &err);
    if (rc == SKH_OK && !json)
        abort();
    skh_free(json);
    return 0;
}
