/* UTF-8 checks at the boundaries; see text.h. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "text.h"

/* The length of the well-formed sequence at p (p < end), or 0. */
static size_t sequence_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

size_t text_invalid_at(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        /* ASCII runs, the common case, a byte at a time without the table. */
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t len = sequence_len(p, end);
        if (!len)
            return (size_t)(p - (const unsigned char *)s);
        p += len;
    }
    return (size_t)-1;
}

int text_check(const char *what, const char *s, size_t n, skh_error *err)
{
    const char *nul = memchr(s, '\0', n);
    size_t bad = text_invalid_at(s, nul ? (size_t)(nul - s) : n);
    if (bad != (size_t)-1)
        return error_set(err, SKH_EINVAL, what, "invalid UTF-8 at byte %zu (0x%02x)", bad,
                         (unsigned)(unsigned char)s[bad]);
    if (nul)
        return error_set(err, SKH_EINVAL, what, "a NUL byte at byte %zu; text cannot hold one",
                         (size_t)(nul - s));
    return SKH_OK;
}

static const char *digits(const char *p)
{
    const char *start = p;
    while (*p >= '0' && *p <= '9')
        p++;
    return p > start ? p : NULL;
}

int text_number(const char *text, int integer, double *out)
{
    const char *p = text;
    if (!p)
        return -1;
    if (*p == '-')
        p++;
    if (!(p = digits(p)))
        return -1;
    if (!integer && *p == '.' && !(p = digits(p + 1)))
        return -1;
    if (!integer && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(p = digits(p)))
            return -1;
    }
    if (*p)
        return -1;
    errno = 0;
    double v = strtod(text, NULL);
    if (errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int text_check_str(const char *what, const char *s, skh_error *err)
{
    return s ? text_check(what, s, strlen(s), err) : SKH_OK;
}

json_t *text_json(const char *s)
{
    if (!s)
        return json_null();
    size_t n = strlen(s);
    if (text_invalid_at(s, n) == (size_t)-1)
        return json_stringn(s, n);
    /* At most three bytes (U+FFFD) for each byte replaced. */
    char *fixed = malloc(3 * n + 1);
    if (!fixed)
        return NULL;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t o = 0;
    while (p < end) {
        size_t len = sequence_len(p, end);
        if (len) {
            memcpy(fixed + o, p, len);
            o += len;
            p += len;
        } else {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    json_t *j = json_stringn(fixed, o);
    free(fixed);
    return j;
}
