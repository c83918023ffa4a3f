/*
 * Trust rules for plugin files (DESIGN §3.1), after OpenSSH's StrictModes
 * as Debian ships it: code the host runs must not be replaceable by anyone
 * but root or the user running the host.
 *
 * A file or folder writable by its group is accepted when that group is the
 * owner's user-private group (Debian's "user-group-modes"): its only member
 * is the owner, so group-writable grants nobody else anything.  That is what
 * a normal checkout looks like under umask 002 (`git archive` writes 0664).
 * Every refusal names its fix: the chmod/chown that makes the file safe, or
 * the configuration key that turns the check off in a throw-away sandbox.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "trust.h"

#define TRUST_OFF "or, in a throw-away sandbox only, skillhost config set plugins.check_trust 0"

static int owner_ok(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/*
 * Is gid a group whose only member is owner?  Primary members (every user
 * whose login group it is) and supplementary members (the group file's
 * list) are counted, as Debian's OpenSSH does; a group with no member at all
 * (as setgid programs use) is not private.  Enumerating users runs only for
 * group-writable files, which are rare.
 */
int trust_group_is_private(gid_t gid, uid_t owner)
{
    char *gbuf = NULL, *pbuf = NULL;
    long gsz = sysconf(_SC_GETGR_R_SIZE_MAX), psz = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t gn = gsz > 0 ? (size_t)gsz : 16384, pn = psz > 0 ? (size_t)psz : 16384;
    struct group gr, *grp = NULL;
    struct passwd pw, *pwp = NULL;
    int private = 0, members = 0;

    /* Large groups need a larger buffer than sysconf suggests (ERANGE). */
    for (;;) {
        free(gbuf);
        gbuf = malloc(gn);
        if (!gbuf)
            goto out;
        int e = getgrgid_r(gid, &gr, gbuf, gn, &grp);
        if (e != ERANGE || gn > (1u << 24))
            break;
        gn *= 2;
    }
    pbuf = malloc(pn);
    if (!grp || !pbuf || getpwuid_r(owner, &pw, pbuf, pn, &pwp) != 0 || !pwp)
        goto out;
    if (gr.gr_mem[0]) {
        if (strcmp(gr.gr_mem[0], pw.pw_name) != 0 || gr.gr_mem[1])
            goto out;
        members++;
    }
    if (pw.pw_gid == gid)
        members++;
    /* Nobody else may have it as a login group. */
    setpwent();
    struct passwd *other;
    int shared = 0;
    while ((other = getpwent()) != NULL)
        if (other->pw_gid == gid && other->pw_uid != owner)
            shared = 1;
    endpwent();
    private = !shared && members > 0;
out:
    free(gbuf);
    free(pbuf);
    return private;
}

static void group_name(gid_t gid, char *out, size_t n)
{
    struct group *g = getgrgid(gid);
    if (g && g->gr_name)
        snprintf(out, n, "%s", g->gr_name);
    else
        snprintf(out, n, "%lu", (unsigned long)gid);
}

/* Writable by someone it should not be?  0 when fine; else the chmod letter ('o' or 'g'). */
static char loose_bit(const struct stat *st)
{
    if (st->st_mode & S_IWOTH)
        return 'o';
    if ((st->st_mode & S_IWGRP) && !trust_group_is_private(st->st_gid, st->st_uid))
        return 'g';
    return 0;
}

static int refuse_writable(skh_error *err, const char *path, const char *folder,
                           const struct stat *st, char who)
{
    unsigned bits = (unsigned)(st->st_mode & 07777);
    const char *target = folder ? folder : path;
    char grp[64] = "";
    char whom[128];
    if (who == 'o') {
        snprintf(whom, sizeof whom, "others");
    } else {
        group_name(st->st_gid, grp, sizeof grp);
        snprintf(whom, sizeof whom, "group %s, which is not the owner's private group", grp);
    }
    if (folder)
        return error_set(err, SKH_EPLUGIN, path,
                         "refused: folder %s is writable by %s (mode %04o); fix: chmod %c-w %s, "
                         "" TRUST_OFF,
                         folder, whom, bits, who, target);
    return error_set(err, SKH_EPLUGIN, path,
                     "refused: writable by %s (mode %04o); fix: chmod %c-w %s, " TRUST_OFF, whom,
                     bits, who, target);
}

static int refuse_owner(skh_error *err, const char *path, const char *folder, uid_t uid)
{
    const char *target = folder ? folder : path;
    unsigned long me = (unsigned long)geteuid();
    if (folder)
        return error_set(err, SKH_EPLUGIN, path,
                         "refused: folder %s is owned by uid %lu (expected 0 or %lu); fix: chown "
                         "%lu %s, " TRUST_OFF,
                         folder, (unsigned long)uid, me, me, target);
    return error_set(err, SKH_EPLUGIN, path,
                     "refused: owned by uid %lu (expected 0 or %lu); fix: chown %lu %s, " TRUST_OFF,
                     (unsigned long)uid, me, me, target);
}

/* The rules for the file itself, on a stat of the very file that will be read. */
static int check_file(const struct stat *st, const char *path, skh_error *err)
{
    if (!S_ISREG(st->st_mode))
        return error_set(err, SKH_EPLUGIN, path, "refused: not a regular file");
    if (!owner_ok(st->st_uid))
        return refuse_owner(err, path, NULL, st->st_uid);
    char who = loose_bit(st);
    if (who)
        return refuse_writable(err, path, NULL, st, who);
    return SKH_OK;
}

/* The rules for the folder that really holds path (symlinks resolved). */
static int check_folder(const char *path, skh_error *err)
{
    char *real = realpath(path, NULL);
    if (!real)
        return error_set(err, SKH_EPLUGIN, path, "cannot resolve: %s", strerror(errno));
    int rc = SKH_OK;
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
    /* Whoever owns the folder can rename another file over ours, so it must be trusted too. */
    if (!owner_ok(dst.st_uid)) {
        rc = refuse_owner(err, path, real, dst.st_uid);
        goto out;
    }
    /*
     * In a sticky folder (/tmp) others may create files but not replace or
     * rename ours; the file's own owner was checked already.
     */
    char who = (dst.st_mode & S_ISVTX) ? 0 : loose_bit(&dst);
    if (who)
        rc = refuse_writable(err, path, real, &dst, who);
out:
    free(real);
    return rc;
}

int trust_check(const char *path, skh_error *err)
{
    /*
     * Resolve symlinks first: the rules apply to the file that will really be
     * read and to the folder that really holds it, not to a link's folder.
     */
    struct stat st;
    if (stat(path, &st) != 0)
        return error_set(err, SKH_EPLUGIN, path, "cannot stat: %s", strerror(errno));
    int rc = check_file(&st, path, err);
    return rc != SKH_OK ? rc : check_folder(path, err);
}

int trust_check_fd(const char *path, int fd, int check, skh_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return error_set(err, SKH_EPLUGIN, path, "cannot stat: %s", strerror(errno));
    if (!check)
        return S_ISREG(st.st_mode)
                   ? SKH_OK
                   : error_set(err, SKH_EPLUGIN, path, "refused: not a regular file");
    int rc = check_file(&st, path, err);
    return rc != SKH_OK ? rc : check_folder(path, err);
}
