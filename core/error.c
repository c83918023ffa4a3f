/* skh_error helpers and the small public helpers around categories and codes. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static void error_vset(skh_error *err, int code, int category, const char *what, const char *fmt,
                       va_list ap)
{
    if (!err)
        return;
    err->code = code;
    err->category = category;
    snprintf(err->what, sizeof err->what, "%s", what ? what : "");
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

int error_set(skh_error *err, int code, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, SKH_ERR_NONE, what, fmt, ap);
    va_end(ap);
    return code;
}

int error_set_category(skh_error *err, int code, int category, const char *what, const char *fmt,
                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, category, what, fmt, ap);
    va_end(ap);
    return code;
}

void error_clear(skh_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

int name_is_valid(const char *name)
{
    size_t n = 0;
    if (!name)
        return 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

static const char *const category_names[SKH_ERR__COUNT] = {
    [SKH_ERR_NONE] = "none",
    [SKH_ERR_NETWORK] = "network",
    [SKH_ERR_TIMEOUT] = "timeout",
    [SKH_ERR_RATE_LIMIT] = "rate_limit",
    [SKH_ERR_UNAVAILABLE] = "unavailable",
    [SKH_ERR_VALIDATION] = "validation",
    [SKH_ERR_AUTHENTICATION] = "authentication",
    [SKH_ERR_NOT_FOUND] = "not_found",
    [SKH_ERR_CRASH] = "crash",
    [SKH_ERR_INTERNAL] = "internal",
    [SKH_ERR_POLICY] = "policy",
};

SKH_EXPORT const char *skh_category_name(int category)
{
    if (category < 0 || category >= SKH_ERR__COUNT)
        return NULL;
    return category_names[category];
}

SKH_EXPORT int skh_category_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < SKH_ERR__COUNT; i++)
        if (strcmp(category_names[i], name) == 0)
            return i;
    return -1;
}

SKH_EXPORT int skh_exit_status(int code)
{
    switch (code) {
    case SKH_OK:
        return 0;
    case SKH_EFAILED:
        return 1;
    case SKH_EINVAL:
    case SKH_ENOTFOUND:
        return 2;
    case SKH_EPLUGIN:
        return 3;
    default:
        return 4;
    }
}

SKH_EXPORT void skh_free(void *p)
{
    free(p);
}
