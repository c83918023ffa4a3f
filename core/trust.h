/* The trust rules of DESIGN §3.1, and the sha256 that pins a registered file. */
#ifndef SKH_CORE_TRUST_H
#define SKH_CORE_TRUST_H

#include <sys/types.h>
#include <skillhost/host.h>

/*
 * Refuse a file (or its folder) that is writable by others, writable by a
 * group other than its owner's private group, or owned by someone other
 * than root or the caller (OpenSSH StrictModes, Debian's reading).  The
 * message names the fix.
 */
int trust_check(const char *path, skh_error *err);

/*
 * The same rules for an open file: the file checks apply to what fd is
 * (fstat), so a file renamed over path after the open cannot pass in its
 * place; the folder is path's.  With check 0 only "is a regular file" is
 * checked.
 */
int trust_check_fd(const char *path, int fd, int check, skh_error *err);

/* Does group gid hold owner and nobody else (a user-private group)? */
int trust_group_is_private(gid_t gid, uid_t owner);

/* Lowercase hex sha256 of a file into hex[65]. */
int sha256_file(const char *path, char hex[65], skh_error *err);
/*
 * Of everything fd holds from its offset on; each chunk read is also
 * written to copy_fd when copy_fd >= 0, so the copy is the bytes hashed.
 */
int sha256_fd(int fd, int copy_fd, char hex[65], const char *path, skh_error *err);
/* Of a buffer. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
