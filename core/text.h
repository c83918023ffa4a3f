/*
 * Text at the boundaries (issue 9 item 9): every string that enters
 * skillhost (an argument, a file, a row another program wrote) is UTF-8
 * without NUL bytes, or it is refused saying where.  JSON (jansson) and the
 * terminal both depend on it; an encoding failure must never surface later
 * as a false "out of memory" from a json_pack() that refused the text.
 */
#ifndef SKH_CORE_TEXT_H
#define SKH_CORE_TEXT_H

#include <stddef.h>

#include <jansson.h>
#include <skillhost/host.h>

/*
 * The offset of the first byte of s[0..n) that does not belong to a
 * well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or (size_t)-1 when all of it is UTF-8.  A NUL
 * byte is UTF-8 here; text_check() refuses it separately.
 */
size_t text_invalid_at(const char *s, size_t n);

/*
 * SKH_OK, or SKH_EINVAL with err naming what ("--description", a file) and
 * the byte offset of the first invalid byte, or of a NUL byte.
 */
int text_check(const char *what, const char *s, size_t n, skh_error *err);

/* text_check() for a NUL-terminated string; NULL passes. */
int text_check_str(const char *what, const char *s, skh_error *err);

/*
 * A number as skillhost writes one, and nothing else: an optional '-',
 * digits, and for a real (integer == 0) an optional fraction and exponent
 * ("0.9", "1e3").  No sign '+', no space, no hex ("0x5"), no "inf" or "nan",
 * and for an integer no fraction ("5.0"): strtod takes all of those.
 * 0 and *out set when text is one, else -1.
 */
int text_number(const char *text, int integer, double *out);

/*
 * A JSON string of text read back from the database, where rows written by
 * another program (the seeds' SQL, an older skillhost) may hold bytes that
 * are not UTF-8: each such byte becomes U+FFFD, so one bad row never makes a
 * whole listing fail.  NULL only when memory runs out; NULL s gives JSON null.
 */
json_t *text_json(const char *s);

#endif
