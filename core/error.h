/* Filling skh_error: what failed and why, in one place. */
#ifndef SKH_CORE_ERROR_H
#define SKH_CORE_ERROR_H

#include <skillhost/host.h>

/* The library is built with -fvisibility=hidden: only what carries this is exported. */
#define SKH_EXPORT __attribute__((visibility("default")))

/*
 * Set err (if not NULL) and return code, so callers can write
 *     return error_set(err, SKH_EINVAL, "--input", "line %d: %s", ...);
 * category is SKH_ERR_NONE unless a plugin failed.
 */
int error_set(skh_error *err, int code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int error_set_category(skh_error *err, int code, int category, const char *what, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));
void error_clear(skh_error *err);

/*
 * How skillhost writes JSON it hands back: compact, and doubles with 15
 * significant digits so 0.95 prints as 0.95 (jansson's default of 17 prints
 * 0.94999999999999996), whichever language the plugin was written in.
 */
#define SKH_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Validate a plugin or skill name: [a-z0-9_]{1,64}. */
int name_is_valid(const char *name);

#endif
