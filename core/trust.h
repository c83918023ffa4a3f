/* The trust rules of DESIGN §3.1, and the sha256 that pins a registered file. */
#ifndef SKH_CORE_TRUST_H
#define SKH_CORE_TRUST_H

#include <skillhost/host.h>

/*
 * Refuse a file (or its folder) that is writable by group or others, or
 * owned by someone other than root or the caller (OpenSSH StrictModes).
 */
int trust_check(const char *path, skh_error *err);

/* Lowercase hex sha256 of a file into hex[65]. */
int sha256_file(const char *path, char hex[65], skh_error *err);
/* Of a buffer. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
