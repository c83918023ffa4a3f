/* The throw-away workspace the fuzz targets share; see fuzz.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char dir[64];

static const char echo_lua[] =
    "-- The fuzz targets' skill: the input decides everything.\n"
    "return {\n"
    "  kind = 'skill', name = 'echo', version = '1.0.0', patterns = 'read,decide',\n"
    "  execute = function(input, ctx)\n"
    "    if type(input) == 'table' then\n"
    "      if type(input.steps) == 'table' then\n"
    "        for _, s in ipairs(input.steps) do\n"
    "          if type(s) == 'string' then ctx:step(s) end\n"
    "        end\n"
    "      end\n"
    "      if input.fail ~= nil then\n"
    "        error({ category = tostring(input.fail), message = tostring(input.message) })\n"
    "      end\n"
    "      if input.output ~= nil then return input.output end\n"
    "    end\n"
    "    return { decision = 'ham', confidence = 0.5 }\n"
    "  end,\n"
    "}\n";

static void cleanup(void)
{
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "fuzz: could not remove %s\n", dir);
    }
}

const char *fuzz_dir(void)
{
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/skh-fuzz.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        chmod(dir, 0700);
        atexit(cleanup);
    }
    return dir;
}

void fuzz_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", fuzz_dir(), name);
}

void fuzz_write(const char *path, const void *data, size_t n)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0 || rename(tmp, path) != 0) {
        perror(path);
        abort();
    }
}

char *fuzz_text(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

skh_host *fuzz_host(const char *policies_dir)
{
    char db[256], lua[256];
    fuzz_path(db, sizeof db, "ws.db");
    fuzz_path(lua, sizeof lua, "echo.lua");
    int fresh = access(db, F_OK) != 0;
    if (fresh)
        fuzz_write(lua, echo_lua, sizeof echo_lua - 1);
    /* The fuzzer's folder is its own; quiet and quick. */
    setenv("SKILLHOST_PLUGIN_TRUST", "0", 1);
    setenv("SKILLHOST_LOG", "error", 1);
    skh_host_options o = {.struct_size = sizeof o,
                          .db_path = db,
                          .policies_dir = policies_dir ? policies_dir : SKH_FUZZ_POLICIES,
                          .create = 1};
    skh_host *host = NULL;
    skh_error err;
    if (skh_host_open(&o, &host, &err) != SKH_OK) {
        fprintf(stderr, "fuzz: %s: %s\n", err.what, err.message);
        abort();
    }
    if (fresh) {
        skh_variant_spec v = {
            .struct_size = sizeof v, .skill = "echo", .impl = lua, .state = "production"};
        char *id = NULL;
        if (skh_variant_add(host, &v, &id, &err) != SKH_OK) {
            fprintf(stderr, "fuzz: %s: %s\n", err.what, err.message);
            abort();
        }
        skh_free(id);
    }
    return host;
}
