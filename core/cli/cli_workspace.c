/*
 * Finding the workspace as git finds .git: --db, else $SKILLHOST_DB, else
 * the first .skillhost/ folder in the current directory or above it,
 * stopping at $HOME (when the current directory is under it) or at /.
 *
 * Only `init` creates a workspace, and only where none was found: a verb
 * run in a subdirectory of a workspace uses that workspace, so no second,
 * empty database appears beside the first (a split brain).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define WS_DIR ".skillhost"
#define WS_DB ".skillhost/skillhost.db"

static char found_db[PATH_MAX + sizeof "/" WS_DB];
static char found_above[PATH_MAX];

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir is path, or path is inside dir (both absolute, no trailing slash but "/"). */
static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (strcmp(dir, "/") == 0)
        return 1;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The parent of an absolute path, in place; 0 at "/". */
static int go_up(char *dir)
{
    if (strcmp(dir, "/") == 0)
        return 0;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 1;
}

const char *cli_workspace_found_above(void)
{
    return found_above[0] ? found_above : NULL;
}

int cli_workspace(cli *c, int create, int report)
{
    const char *env = getenv("SKILLHOST_DB");
    if ((c->db && *c->db) || (env && *env))
        return 0;

    char cwd[PATH_MAX], home[PATH_MAX] = "";
    skh_error err = {.code = SKH_ESTORE};
    if (!getcwd(cwd, sizeof cwd)) {
        snprintf(err.what, sizeof err.what, "workspace");
        snprintf(err.message, sizeof err.message, "cannot read the current directory: %s",
                 strerror(errno));
        return report ? cli_error(c, &err) : skh_exit_status(err.code);
    }
    /* $HOME as the filesystem spells it, so a symlinked home still stops the walk. */
    const char *h = getenv("HOME");
    if (h && *h && !realpath(h, home))
        home[0] = '\0';
    int stop_at_home = home[0] && strcmp(home, "/") != 0 && under(cwd, home);

    char dir[PATH_MAX], cand[PATH_MAX + sizeof "/" WS_DIR];
    snprintf(dir, sizeof dir, "%s", cwd);
    for (;;) {
        snprintf(cand, sizeof cand, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, WS_DIR);
        if (is_dir(cand)) {
            if (strcmp(dir, cwd) == 0) {
                c->db = WS_DB; /* here: as before, a relative path */
            } else {
                snprintf(found_db, sizeof found_db, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir,
                         WS_DB);
                snprintf(found_above, sizeof found_above, "%s", dir);
                c->db = found_db;
            }
            cli_trace("workspace: %s (found from %s)", c->db, cwd);
            return 0;
        }
        if ((stop_at_home && strcmp(dir, home) == 0) || !go_up(dir))
            break;
    }
    if (create) {
        cli_trace("workspace: none found from %s; init makes ./%s", cwd, WS_DB);
        return 0; /* the host's default: ./.skillhost/skillhost.db */
    }
    snprintf(err.what, sizeof err.what, "no workspace");
    snprintf(err.message, sizeof err.message,
             "no %s/ folder in %.700s or any folder above it up to %s; 'skillhost init' makes "
             "one in the current folder (or give --db PATH or $SKILLHOST_DB)",
             WS_DIR, cwd, stop_at_home ? "$HOME" : "/");
    return report ? cli_error(c, &err) : skh_exit_status(err.code);
}
