/*
 * The registry export (DESIGN §7): one JSON file that says, for every
 * skill, which variant serves, every variant's state and where its code
 * lives, for tools that should not open the database (a dashboard, a
 * deploy script, a search index).
 *
 * Readers may open the file at any moment, also while another process
 * rewrites it, so it is replaced atomically: the new text goes to a temp
 * file in the same folder, is fsync()ed, renamed over the old name, and the
 * folder is fsync()ed so the rename itself survives a crash.  A reader sees
 * the old file or the new one, never a mix; on any failure the old file is
 * left as it was and the temp file is removed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "host_internal.h"
#include "store_registry.h"

#define REGISTRY_VERSION 1
#define REGISTRY_FILE "registry.json"

/* The folder part of path ("." for a bare name), into dir[PATH_MAX]; -1 when too long. */
static int dir_of(const char *path, char dir[PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(dir, PATH_MAX, ".") < PATH_MAX ? 0 : -1;
    if (slash == path)
        return snprintf(dir, PATH_MAX, "/") < PATH_MAX ? 0 : -1;
    int n = snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
    return n >= 0 && n < PATH_MAX ? 0 : -1;
}

static int io_error(skh_error *err, int e, const char *what, const char *doing)
{
    return error_set(err, e == ENOENT || e == ENOTDIR ? SKH_ENOTFOUND : SKH_EFAILED, what, "%s: %s",
                     doing, strerror(e));
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Write text to path atomically.  The new file keeps the mode of the one it
 * replaces (0644 for a first export): mkstemp's 0600 would lock readers out.
 */
static int replace_file(const char *path, const char *text, skh_error *err)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    if (dir_of(path, dir) != 0 || snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= PATH_MAX)
        return error_set(err, SKH_EINVAL, path, "path too long");
    struct stat old;
    mode_t mode = stat(path, &old) == 0 ? (old.st_mode & 07777) : 0644;

    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return io_error(err, errno, path, "cannot create a temp file beside it");
    const char *doing = NULL;
    if (fchmod(fd, mode) != 0)
        doing = "setting the temp file's mode";
    else if (write_all(fd, text, strlen(text)) != 0)
        doing = "writing the temp file";
    else if (fsync(fd) != 0)
        doing = "syncing the temp file";
    int e = errno;
    if (close(fd) != 0 && !doing) {
        e = errno;
        doing = "closing the temp file";
    }
    if (!doing && rename(tmp, path) != 0) {
        e = errno;
        doing = "renaming the temp file over it";
    }
    if (doing) {
        unlink(tmp);
        return io_error(err, e, path, doing);
    }

    /* The rename is only durable once the folder's entry is on disk. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return io_error(err, errno, dir, "written, but the folder cannot be opened to sync it");
    if (fsync(dfd) != 0) {
        e = errno;
        close(dfd);
        /* Some file systems cannot sync a folder; the file is in place all the same. */
        if (e == EINVAL || e == EROFS)
            return SKH_OK;
        return io_error(err, e, dir, "written, but syncing the folder failed");
    }
    close(dfd);
    return SKH_OK;
}

/* The database path as an absolute one when it exists (readers run from anywhere). */
static char *database_path(const skh_host *host)
{
    char *abs = realpath(host->db_path, NULL);
    return abs ? abs : strdup(host->db_path);
}

/* DIR/registry.json for the database's folder; malloc'd, NULL when out of memory. */
static char *default_path(const skh_host *host)
{
    char dir[PATH_MAX];
    char *out = NULL;
    if (dir_of(host->db_path, dir) != 0)
        return NULL;
    if (asprintf(&out, "%s/%s", dir, REGISTRY_FILE) < 0)
        return NULL;
    return out;
}

SKH_EXPORT int skh_registry_export(skh_host *host, const char *path, char **written, skh_error *err)
{
    if (written)
        *written = NULL;
    error_clear(err);
    if (!host)
        return error_set(err, SKH_EINVAL, "registry", "no host");
    if (path && !*path)
        return error_set(err, SKH_EINVAL, "registry", "empty file name");

    char *target = path ? strdup(path) : default_path(host);
    if (!target)
        return error_set(err, SKH_ENOMEM, "registry", "out of memory (or database path too long)");

    json_t *skills = NULL;
    int rc = store_registry(host->st, &skills, err);
    if (rc != SKH_OK) {
        free(target);
        return rc;
    }

    /* Stamped after the read: last_updated never claims a state older than it shows. */
    char now[32];
    store_timestamp(now);
    char *db = database_path(host);
    json_t *root = db ? json_pack("{s:i, s:s, s:s, s:o}", "version", REGISTRY_VERSION,
                                  "last_updated", now, "database", db, "skills", skills)
                      : NULL;
    if (!db)
        json_decref(skills);
    free(db);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(root);
    char *line = NULL;
    if (!text || asprintf(&line, "%s\n", text) < 0) {
        free(text);
        free(target);
        return error_set(err, SKH_ENOMEM, "registry", "out of memory");
    }
    free(text);

    rc = replace_file(target, line, err);
    free(line);
    if (rc == SKH_OK && written) {
        *written = target;
        target = NULL;
    }
    free(target);
    return rc;
}
