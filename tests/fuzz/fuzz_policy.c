/*
 * Policy answers crossing back from Lua.  The input is a Lua expression;
 * recovery.lua, rollback.lua and promotion.lua answer it from every one of
 * their functions, and the host reads those answers: a failing request
 * (recovery), the rollback check after it, `status` and `promote`
 * (promotion's settings, checklist and readiness).  Whatever comes back (a
 * wrong type, a NaN, a huge number, a cycle, an error) must decide nothing
 * and be reported, never crash or corrupt.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "fuzz_clock.h"

static skh_host *host;
static char policies[256];

static const char *const names[] = {"recovery", "rollback", "promotion"};

static void write_policies(const char *expr, size_t n)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t cap = n + 1024;
        char *src = malloc(cap);
        if (!src)
            abort();
        int len = snprintf(src, cap,
                           "local function answer(facts)\n  return %.*s\nend\n"
                           "return { kind = 'policy', name = '%s', version = '1',\n"
                           "  decide = answer, settings = answer, demote_staged = answer,\n"
                           "  checklist = answer, ready = answer }\n",
                           (int)n, expr, names[i]);
        char path[320];
        snprintf(path, sizeof path, "%s/%s.lua", policies, names[i]);
        fuzz_write(path, src, (size_t)len);
        free(src);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096 || memchr(data, '\0', size))
        return 0;
    if (!host) {
        /* A runaway expression stops at a small budget instead of the default's seconds. */
        setenv("SKILLHOST_LUA_INSTRUCTIONS", "200000", 1);
        fuzz_path(policies, sizeof policies, "policies");
        mkdir(policies, 0700);
        write_policies("nil", 3);
        host = fuzz_host(policies);
        fuzz_clock(host);
        skh_variant_spec v = {.struct_size = sizeof v, .skill = "echo"};
        char lua[256], *id = NULL;
        skh_error err;
        fuzz_path(lua, sizeof lua, "echo.lua");
        v.impl = lua;
        if (skh_variant_add(host, &v, &id, &err) != SKH_OK)
            abort();
        skh_free(id);
    }
    write_policies((const char *)data, size);

    skh_exec_options o = SKH_EXEC_OPTIONS_INIT;
    skh_result *r = NULL;
    skh_error err;
    skh_execute(host, "echo", "{\"fail\": \"network\", \"message\": \"down\"}", &o, &r, &err);
    skh_result_free(r);
    r = NULL;
    skh_execute(host, "echo", "{\"output\": {\"decision\": \"spam\"}}", &o, &r, &err);
    skh_result_free(r);

    char *json = NULL;
    skh_status(host, "echo", "production", NULL, &json, &err);
    skh_free(json);
    json = NULL;
    skh_promote(host, "echo@v2", "staged", &json, &err);
    skh_free(json);
    return 0;
}
