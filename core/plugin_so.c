/*
 * Shared-object plugins (DESIGN §3.1) and the plugins compiled into the
 * library.  Both go through one contract check: the descriptor is read only
 * as far as its abi_version and struct_size say it is safe to.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "call.h"
#include "error.h"
#include "loader.h"
#include "trust.h"

/* Plugins compiled into the library: the scorers and the fallback recovery policy (plugins/). */
const skh_plugin *builtin_pattern_fidelity_entry(const skh_host_api *api);
const skh_plugin *builtin_outcome_entry(const skh_host_api *api);
const skh_plugin *builtin_recovery_entry(const skh_host_api *api);

static const struct {
    const char *name;
    skh_plugin_entry_fn entry;
} builtins[] = {
    {"pattern_fidelity", builtin_pattern_fidelity_entry},
    {"outcome", builtin_outcome_entry},
    {"recovery", builtin_recovery_entry},
};

/* The smallest descriptor this host accepts: everything ABI v1 defined. */
#define SKH_PLUGIN_V1_SIZE (offsetof(skh_plugin, evolve) + sizeof(skh_callback))

typedef struct so_impl {
    void *dl;          /* NULL for built-ins */
    skh_plugin d;      /* the descriptor, copied up to the size both sides know */
    void *state;       /* from init */
    int has_state;     /* init ran and succeeded, so fini is owed */
    size_t output_max; /* plugin_limits.output_max */
} so_impl;

static skh_callback so_callback(const so_impl *impl, const char *fn)
{
    if (!fn)
        return NULL;
    if (strcmp(fn, "execute") == 0)
        return impl->d.execute;
    if (strcmp(fn, "score") == 0)
        return impl->d.score;
    if (strcmp(fn, "decide") == 0)
        return impl->d.decide;
    if (strcmp(fn, "evolve") == 0)
        return impl->d.evolve;
    return NULL;
}

static int so_has(const plugin *p, const char *fn)
{
    return so_callback(p->impl, fn) != NULL;
}

/*
 * A plugin must finish every call through skh_output or skh_fail; anything
 * else is the plugin's bug, reported as INTERNAL so it is scored and
 * recorded like any other failure instead of passing as a silent success.
 */
static int so_invoke(plugin *p, const char *fn, skh_call *call, skh_error *err)
{
    so_impl *impl = p->impl;
    skh_callback cb = so_callback(impl, fn);
    if (!cb)
        return error_set(err, SKH_EPLUGIN, p->path, "plugin %s has no %s callback", p->name,
                         fn ? fn : "(null)");

    call->output_max = impl->output_max;
    int rc = cb(impl->state, call);
    char msg[256];
    if (!call->finished) {
        snprintf(msg, sizeof msg, "%s returned %d without skh_output or skh_fail", p->name, rc);
        call_fail(call, SKH_ERR_INTERNAL, msg);
    } else if (rc != SKH_PLUGIN_OK && call->category == SKH_ERR_NONE) {
        /* Output and a failure return contradict each other: trust neither. */
        free(call->output);
        call->output = NULL;
        call->finished = 0;
        snprintf(msg, sizeof msg, "%s returned %d after skh_output", p->name, rc);
        call_fail(call, SKH_ERR_INTERNAL, msg);
    }
    return SKH_OK;
}

static void so_close(plugin *p)
{
    if (!p)
        return;
    so_impl *impl = p->impl;
    if (impl) {
        if (impl->has_state && impl->d.fini)
            impl->d.fini(impl->state);
        if (impl->dl)
            dlclose(impl->dl);
        free(impl);
    }
    plugin_free_common(p);
    free(p);
}

static const struct plugin_ops so_ops = {
    .invoke = so_invoke,
    .has = so_has,
    .close = so_close,
};

static const char *required_callback(uint32_t kind, const skh_plugin *d, int *present)
{
    switch (kind) {
    case SKH_KIND_SKILL:
        *present = d->execute != NULL;
        return "execute";
    case SKH_KIND_SCORER:
        *present = d->score != NULL;
        return "score";
    case SKH_KIND_POLICY:
        *present = d->decide != NULL;
        return "decide";
    case SKH_KIND_EVOLVER:
        *present = d->evolve != NULL;
        return "evolve";
    default:
        *present = 0;
        return NULL;
    }
}

/*
 * The contract check shared by shared objects and built-ins, then init and
 * the plugin object.  Owns dl: it is closed on every failure.
 */
static int plugin_from_descriptor(const char *path, const char *sha256, void *dl,
                                  const skh_plugin *desc, plugin **out, skh_error *err)
{
    int rc;
    so_impl *impl = NULL;
    plugin *p = NULL;

    if (!desc) {
        rc = error_set(err, SKH_EPLUGIN, path, "skh_plugin_entry returned NULL");
        goto fail;
    }
    /* Version and size first: nothing past them may be read until they pass. */
    if (desc->abi_version != SKH_ABI_VERSION) {
        rc = error_set(err, SKH_EPLUGIN, path, "plugin ABI version %u, host supports %u",
                       (unsigned)desc->abi_version, (unsigned)SKH_ABI_VERSION);
        goto fail;
    }
    if (desc->struct_size < SKH_PLUGIN_V1_SIZE) {
        rc = error_set(err, SKH_EPLUGIN, path, "descriptor is %u bytes, ABI v%u needs at least %zu",
                       (unsigned)desc->struct_size, (unsigned)SKH_ABI_VERSION,
                       (size_t)SKH_PLUGIN_V1_SIZE);
        goto fail;
    }

    impl = calloc(1, sizeof *impl);
    if (!impl) {
        rc = error_set(err, SKH_ENOMEM, path, "out of memory");
        goto fail;
    }
    /* A newer plugin's descriptor may be larger; read only what this host knows. */
    memcpy(&impl->d, desc, desc->struct_size < sizeof impl->d ? desc->struct_size : sizeof impl->d);
    const skh_plugin *d = &impl->d;

    if (d->kind < SKH_KIND_SKILL || d->kind > SKH_KIND_EVOLVER) {
        rc = error_set(err, SKH_EPLUGIN, path, "unknown plugin kind %u", (unsigned)d->kind);
        goto fail;
    }
    if (!d->name || !name_is_valid(d->name)) {
        rc = error_set(err, SKH_EPLUGIN, path,
                       "invalid plugin name \"%.64s\" (expected [a-z0-9_]{1,64})",
                       d->name ? d->name : "(null)");
        goto fail;
    }
    if (!d->version || !*d->version) {
        rc = error_set(err, SKH_EPLUGIN, path, "plugin %s has no version", d->name);
        goto fail;
    }
    int present;
    const char *cbname = required_callback(d->kind, d, &present);
    if (!present) {
        rc = error_set(err, SKH_EPLUGIN, path, "kind %s needs .%s", plugin_kind_name((int)d->kind),
                       cbname);
        goto fail;
    }

    p = calloc(1, sizeof *p);
    if (!p) {
        rc = error_set(err, SKH_ENOMEM, path, "out of memory");
        goto fail;
    }
    rc = plugin_fill_common(p, path, (int)d->kind, d->name, d->version, d->description, d->patterns,
                            err);
    if (rc != SKH_OK)
        goto fail;
    /* Zero when the plugin's descriptor ends before them (the memcpy above stopped short). */
    if (d->input_schema && (rc = plugin_set_schema(p, "input_schema", d->input_schema, err)))
        goto fail;
    if (d->output_schema && (rc = plugin_set_schema(p, "output_schema", d->output_schema, err)))
        goto fail;
    snprintf(p->sha256, sizeof p->sha256, "%s", sha256);

    if (d->init) {
        int irc = d->init(&call_api, &impl->state);
        if (irc != 0) {
            rc = error_set(err, SKH_EPLUGIN, path, "init failed (returned %d)", irc);
            goto fail;
        }
    }
    impl->has_state = 1;
    impl->dl = dl;
    p->impl = impl;
    p->ops = &so_ops;
    *out = p;
    return SKH_OK;

fail:
    if (p) {
        plugin_free_common(p);
        free(p);
    }
    free(impl);
    if (dl)
        dlclose(dl);
    return rc;
}

/*
 * A copy of the bytes hashed, for dlopen to map: a sealed memory file.
 * -1 when the kernel has no memfd (or refuses executable ones), in which
 * case the file opened is mapped instead (see plugin_so_open_verified).
 */
static int sealed_copy(void)
{
#ifdef MFD_ALLOW_SEALING
    return memfd_create("skillhost-plugin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
#else
    return -1;
#endif
}

/*
 * dlopen fd's file by a /proc/self/fd name.  The dynamic linker knows a
 * loaded object by its name first: if an object loaded earlier under the
 * same name is still mapped (an fd number reused after a plugin that cannot
 * be unloaded), dlopen would hand that one back.  So a name already known
 * is never used: the fd moves to another number first.
 */
static void *dlopen_fd(int fd, const char *path, skh_error *err)
{
    int use = fd, moved[16], nmoved = 0;
    void *dl = NULL;
    char name[64];
    for (;;) {
        snprintf(name, sizeof name, "/proc/self/fd/%d", use);
        void *old = dlopen(name, RTLD_NOW | RTLD_NOLOAD | RTLD_LOCAL);
        if (!old)
            break;
        dlclose(old);
        if (nmoved == (int)(sizeof moved / sizeof moved[0]) ||
            (use = fcntl(fd, F_DUPFD_CLOEXEC, use + 1)) < 0) {
            error_set(err, SKH_EPLUGIN, path, "cannot load: no unused /proc/self/fd name");
            goto out;
        }
        moved[nmoved++] = use;
    }
    dlerror();
    dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        error_set(err, SKH_EPLUGIN, path, "cannot load: %s", why ? why : "dlopen failed");
    }
out:
    for (int i = 0; i < nmoved; i++)
        close(moved[i]);
    return dl;
}

int plugin_so_open_verified(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                            void **dl, char sha256[65], skh_error *err)
{
    *dl = NULL;
    sha256[0] = '\0';
    if (!path || !*path)
        return error_set(err, SKH_EINVAL, "plugin", "empty plugin path");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return error_set(err, SKH_EPLUGIN, path, "cannot open: %s", strerror(errno));
    int copy = -1;
    int rc = trust_check_fd(path, fd, lim ? lim->check_trust : 1, err);
    if (rc == SKH_OK) {
        copy = sealed_copy();
        rc = sha256_fd(fd, copy, sha256, path, err);
    }
    if (rc == SKH_OK && pin && pin->sha256 && *pin->sha256 && strcmp(pin->sha256, sha256) != 0)
        rc = plugin_pin_refuse(path, pin, sha256, err);
    if (rc == SKH_OK && copy >= 0) {
#ifdef F_SEAL_WRITE
        /* Sealed: not even this process can change the bytes that were hashed. */
        if (fcntl(copy, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
            rc = error_set(err, SKH_EPLUGIN, path, "cannot seal the copy to load: %s",
                           strerror(errno));
#endif
    }
    if (rc == SKH_OK) {
        /*
         * Without a memory file, the file opened is mapped: one renamed over
         * path since cannot run, one rewritten in place by its owner could.
         */
        *dl = dlopen_fd(copy >= 0 ? copy : fd, path, err);
        if (!*dl)
            rc = err ? err->code : SKH_EPLUGIN;
    }
    if (copy >= 0)
        close(copy);
    close(fd);
    if (rc != SKH_OK)
        sha256[0] = '\0';
    return rc;
}

int plugin_so_load_pinned(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                          plugin **out, skh_error *err)
{
    *out = NULL;
    void *dl;
    char sha[65];
    int rc = plugin_so_open_verified(path, lim, pin, &dl, sha, err);
    if (rc != SKH_OK)
        return rc;

    dlerror();
    void *sym = dlsym(dl, "skh_plugin_entry");
    if (!sym) {
        dlclose(dl);
        return error_set(err, SKH_EPLUGIN, path,
                         "no symbol skh_plugin_entry (not a skillhost plugin?)");
    }
    /* ISO C has no void * to function pointer conversion; POSIX guarantees the bits match. */
    skh_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    rc = plugin_from_descriptor(path, sha, dl, entry(&call_api), out, err);
    if (rc == SKH_OK)
        ((so_impl *)(*out)->impl)->output_max = lim ? lim->output_max : PLUGIN_DEFAULT_OUTPUT_MAX;
    return rc;
}

int plugin_so_load(const char *path, const plugin_limits *lim, plugin **out, skh_error *err)
{
    return plugin_so_load_pinned(path, lim, NULL, out, err);
}

int plugin_builtin_load(const char *name, plugin **out, skh_error *err)
{
    *out = NULL;
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (name && strcmp(name, builtins[i].name) == 0) {
            char path[96];
            snprintf(path, sizeof path, "builtin:%s", name);
            return plugin_from_descriptor(path, "", NULL, builtins[i].entry(&call_api), out, err);
        }
    }
    return error_set(err, SKH_EPLUGIN, name ? name : "(null)", "no built-in plugin of that name");
}
