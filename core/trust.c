/*
 * Trust rules for plugin files (DESIGN §3.1), after OpenSSH's StrictModes:
 * code the host runs in its own address space must not be replaceable by
 * anyone but root or the user running the host.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "trust.h"

static int owner_ok(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

static int refuse_writable(skh_error *err, const char *path, const char *folder, mode_t mode)
{
    const char *who = (mode & S_IWOTH) ? "others" : "group";
    unsigned bits = (unsigned)(mode & 07777);
    if (folder)
        return error_set(err, SKH_EPLUGIN, path, "refused: folder %s is writable by %s (mode %04o)",
                         folder, who, bits);
    return error_set(err, SKH_EPLUGIN, path, "refused: writable by %s (mode %04o)", who, bits);
}

static int refuse_owner(skh_error *err, const char *path, const char *folder, uid_t uid)
{
    if (folder)
        return error_set(err, SKH_EPLUGIN, path,
                         "refused: folder %s is owned by uid %lu (expected 0 or %lu)", folder,
                         (unsigned long)uid, (unsigned long)geteuid());
    return error_set(err, SKH_EPLUGIN, path, "refused: owned by uid %lu (expected 0 or %lu)",
                     (unsigned long)uid, (unsigned long)geteuid());
}

int trust_check(const char *path, skh_error *err)
{
    /*
     * Resolve symlinks first: the rules apply to the file that will really be
     * mapped and to the folder that really holds it, not to a link's folder.
     */
    char *real = realpath(path, NULL);
    if (!real)
        return error_set(err, SKH_EPLUGIN, path, "cannot resolve: %s", strerror(errno));

    int rc = SKH_OK;
    struct stat st;
    if (stat(real, &st) != 0) {
        rc = error_set(err, SKH_EPLUGIN, path, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = error_set(err, SKH_EPLUGIN, path, "refused: not a regular file");
        goto out;
    }
    if (!owner_ok(st.st_uid)) {
        rc = refuse_owner(err, path, NULL, st.st_uid);
        goto out;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        rc = refuse_writable(err, path, NULL, st.st_mode);
        goto out;
    }

    /* realpath gives an absolute path with no trailing slash, so cutting at the last '/' is safe.
     */
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0'; /* the file sits in "/" */
    else
        *slash = '\0';
    struct stat dst;
    if (stat(real, &dst) != 0) {
        rc = error_set(err, SKH_EPLUGIN, path, "cannot stat folder %s: %s", real, strerror(errno));
        goto out;
    }
    /*
     * Whoever owns the folder can rename another file over ours, so it must
     * be trusted too.
     */
    if (!owner_ok(dst.st_uid)) {
        rc = refuse_owner(err, path, real, dst.st_uid);
        goto out;
    }
    /*
     * In a sticky folder (/tmp) others may create files but not replace or
     * rename ours; the file's own owner was checked above.
     */
    if ((dst.st_mode & (S_IWGRP | S_IWOTH)) && !(dst.st_mode & S_ISVTX)) {
        rc = refuse_writable(err, path, real, dst.st_mode);
        goto out;
    }

out:
    free(real);
    return rc;
}
