/*
 * Plugin descriptor validation on arbitrary struct contents: the ABI
 * version and size, the kind, the name, version, description and pattern
 * strings (or NULL), which callbacks are set, and what init returns.  The
 * checks run on the descriptor a shared object's skh_plugin_entry returns;
 * here the struct is filled from the input instead of from a .so (loading
 * arbitrary bytes as a .so is out of scope).
 */
#include "../../core/plugin_so.c"

#include "fuzz.h"

static int cb(void *state, skh_call *call)
{
    (void)state;
    return skh_output(call, "{}");
}

static int init_rc;
static int fake_init(const skh_host_api *api, void **state)
{
    (void)api;
    *state = NULL;
    return init_rc;
}

static void fake_fini(void *state)
{
    (void)state;
}

/* The next NUL-terminated string of the input, or NULL when it is used up. */
static const char *take(const char **p, const char *end)
{
    if (*p >= end)
        return NULL;
    const char *s = *p;
    const char *nul = memchr(s, '\0', (size_t)(end - s));
    *p = nul ? nul + 1 : end;
    return nul ? s : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16 || size > 4096)
        return 0;
    /* A copy with a terminating NUL, so the strings carved from it end. */
    char *buf = fuzz_text(data, size);
    const char *p = buf + 16, *end = buf + size + 1;
    uint32_t words[3];
    memcpy(words, buf, sizeof words);
    uint8_t flags = (uint8_t)buf[12], sel = (uint8_t)buf[13];

    skh_plugin *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    /* Mostly the right version and size, so the fuzzer gets past the first checks. */
    d->abi_version = flags & 1 ? SKH_ABI_VERSION : words[0];
    d->struct_size = flags & 2 ? (uint32_t)sizeof *d : words[1] % 512;
    d->kind = flags & 4 ? (uint32_t)(sel % 6) : words[2];
    d->name = sel & 0x08 ? take(&p, end) : NULL;
    d->version = sel & 0x10 ? take(&p, end) : NULL;
    d->description = sel & 0x20 ? take(&p, end) : NULL;
    d->patterns = sel & 0x40 ? take(&p, end) : NULL;
    d->execute = flags & 0x08 ? cb : NULL;
    d->score = flags & 0x10 ? cb : NULL;
    d->decide = flags & 0x20 ? cb : NULL;
    d->evolve = flags & 0x40 ? cb : NULL;
    d->init = flags & 0x80 ? fake_init : NULL;
    d->fini = sel & 0x80 ? fake_fini : NULL;
    init_rc = (uint8_t)buf[14] % 3 == 0 ? -1 : 0;

    plugin *pl = NULL;
    skh_error err;
    int rc = plugin_from_descriptor("fuzz.so", "0", NULL, d, &pl, &err);
    if (rc == SKH_OK) {
        /* A plugin that passed has a valid name, a version and its kind's callback. */
        if (!pl || !name_is_valid(pl->name) || !pl->version[0] ||
            !pl->ops->has(pl, required_callback(d->kind, d, &(int){0})))
            abort();
        plugin_close(pl);
    } else if (pl || !err.message[0]) {
        abort();
    }
    free(d);
    free(buf);
    return 0;
}
