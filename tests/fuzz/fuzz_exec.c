/*
 * An exec: skill's stdout and stderr: the output JSON, the {"step": ...}
 * breadcrumb lines, other stderr chatter, and the exit status mapped to a
 * category.  The program is a shell script that prints what the input
 * says: byte 0 is the exit status, bytes 1-2 where stdout ends and stderr
 * begins.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_clock.h"

static skh_host *host;
static char out_path[256], err_path[256], code_path[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 65536)
        return 0;
    if (!host) {
        char script[256], impl[300], text[1024];
        fuzz_path(out_path, sizeof out_path, "exec.out");
        fuzz_path(err_path, sizeof err_path, "exec.err");
        fuzz_path(code_path, sizeof code_path, "exec.code");
        fuzz_path(script, sizeof script, "emit.sh");
        int n = snprintf(text, sizeof text, "#!/bin/sh\ncat '%s'\ncat '%s' >&2\nexit $(cat '%s')\n",
                         out_path, err_path, code_path);
        fuzz_write(script, text, (size_t)n);
        host = fuzz_host(NULL);
        fuzz_clock(host);
        snprintf(impl, sizeof impl, "exec:/bin/sh %s", script);
        skh_variant_spec v = {.struct_size = sizeof v,
                              .skill = "shell",
                              .impl = impl,
                              .patterns = "read,decide",
                              .state = "production"};
        char *id = NULL;
        skh_error err;
        if (skh_variant_add(host, &v, &id, &err) != SKH_OK) {
            fprintf(stderr, "fuzz: %s: %s\n", err.what, err.message);
            abort();
        }
        skh_free(id);
    }
    static const int codes[] = {0, 0, 0, 1, 2, 75, 124, 126};
    char code[8];
    int n = snprintf(code, sizeof code, "%d\n", codes[data[0] % 8]);
    size_t split = ((size_t)data[1] << 8 | data[2]) % (size - 2);
    fuzz_write(code_path, code, (size_t)n);
    fuzz_write(out_path, data + 3, split);
    fuzz_write(err_path, data + 3 + split, size - 3 - split);

    skh_exec_options o = SKH_EXEC_OPTIONS_INIT;
    o.max_iterations = 1;
    skh_result *r = NULL;
    skh_error err;
    skh_execute(host, "shell", "{\"text\": \"x\"}", &o, &r, &err);
    if (r) {
        char *json = NULL;
        skh_result_json(r, &json);
        skh_free(json);
        skh_result_free(r);
    }
    return 0;
}
