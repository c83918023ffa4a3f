/*
 * Hooks after a transition and the registry export: the audit line and the
 * changelog line per event, commands fed the event on stdin, failing
 * commands (a non-zero exit, a sleeper killed at the deadline, a program
 * that does not exist) reported and recorded without failing the call, a
 * broken hooks.lua failing safe, appends from several processes at once
 * giving whole lines only, and registry.json: its content, its timestamp,
 * atomic replacement under a reader that never stops parsing it, and the
 * old file kept when a write fails.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>

#include "hooks.h"

#include "fixture.h"

/* ---- helpers ---------------------------------------------------------------------- */

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; p && *p; p++)
        n += *p == '\n';
    return n;
}

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    assert_true(snprintf(out, n, "%s/%s", dir, name) < (int)n);
}

/* An empty policies folder: no hooks.lua until a test writes one. */
static int setup(void **state)
{
    fixture_options o = {.name = "hooks",
                         .policies = FIXTURE_POLICIES_EMPTY,
                         .skill_file = "echo.lua",
                         .skill_text =
                             "return { kind = 'skill', name = 'echo', version = '1.0.0',\n"
                             "  execute = function(input, ctx) return { decision = 'ok' } end }\n"};
    return fixture_setup(state, &o);
}

/*
 * fork() with the fixture's host closed around it: a child must never use
 * a SQLite connection made before the fork (DESIGN §6), and under valgrind
 * the host's memory would show up as the child's leak.
 */
static pid_t fork_clean(fixture *f)
{
    skh_host_close(f->host);
    f->host = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        assert_int_equal(open_host(f, NULL), SKH_OK);
    return pid;
}

static void write_hooks_lua(fixture *f, const char *text)
{
    char path[PATH_MAX + 32];
    path_in(path, sizeof path, f->policies, "hooks.lua");
    write_file(path, text, 0644);
}

static json_t *promotion_event(void)
{
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "promotion", "skill",
                           "spam", "variant", "spam@v2", "from_state", "staged", "to_state",
                           "production", "reason", "approved by alice, ticket OPS-12", "actor",
                           "alice", "timestamp", "2026-11-23T08:15:02.123Z");
    assert_non_null(ev);
    return ev;
}

static int fire(fixture *f, json_t *ev)
{
    skh_error err;
    int rc = hooks_after_transition(f->host, ev, &err);
    if (rc)
        fprintf(stderr, "hooks_after_transition: %s: %s\n", err.what, err.message);
    json_decref(ev);
    return rc;
}

/* Everything written to fd 2 between begin and end, so messages can be checked. */
typedef struct captured {
    int saved;
    char path[PATH_MAX + 32];
} captured;

static void capture_begin(fixture *f, captured *c)
{
    path_in(c->path, sizeof c->path, f->dir, "stderr.txt");
    fflush(stderr);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
}

static char *capture_end(captured *c)
{
    fflush(stderr);
    assert_int_equal(dup2(c->saved, 2), 2);
    close(c->saved);
    char *text = slurp(c->path);
    assert_non_null(text);
    unlink(c->path);
    return text;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected to find\n  %s\nin\n%s", needle, hay);
}

/* Rows of decisions with this kind and verdict "error"; *observed gets the last one's. */
static int error_decisions(fixture *f, const char *kind, char **observed)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT observed FROM decisions WHERE kind = ?1 AND "
                                        "verdict = 'error' ORDER BY decision_id",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    int n = 0;
    if (observed)
        *observed = NULL;
    while (sqlite3_step(s) == SQLITE_ROW) {
        n++;
        if (observed) {
            free(*observed);
            const char *t = (const char *)sqlite3_column_text(s, 0);
            *observed = strdup(t ? t : "");
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static char *ws_file(fixture *f, const char *name)
{
    char path[PATH_MAX + 64];
    path_in(path, sizeof path, f->ws, name);
    return slurp(path);
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.mmm]Z", or -1. */
static time_t parse_utc(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end)
        return (time_t)-1;
    return timegm(&tm);
}

/* ---- the audit log and the changelog ---------------------------------------------- */

/* No hooks.lua and no built-in: the defaults, quietly; one audit line per event. */
static void test_defaults_without_policy(void **state)
{
    fixture *f = *state;
    captured cap;
    capture_begin(f, &cap);
    int rc1 = fire(f, promotion_event());
    json_t *rb =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "rollback", "skill", "spam",
                  "variant", "spam@v2", "from_state", "production", "to_state", "staged", "reason",
                  "fidelity below 0.85", "actor", "rollback.lua", "metric", "fidelity=0.83");
    int rc2 = fire(f, rb);
    char *errs = capture_end(&cap);
    assert_int_equal(rc1, SKH_OK);
    assert_int_equal(rc2, SKH_OK);
    assert_string_equal(errs, "");
    free(errs);

    char *audit = ws_file(f, "audit.jsonl");
    assert_non_null(audit);
    assert_int_equal(count_lines(audit), 2);
    char *nl = strchr(audit, '\n');
    json_t *first = json_loadb(audit, (size_t)(nl - audit), 0, NULL);
    json_t *second = json_loads(nl + 1, 0, NULL);
    assert_non_null(first);
    assert_non_null(second);
    assert_string_equal(json_string_value(json_object_get(first, "kind")), "promotion");
    assert_string_equal(json_string_value(json_object_get(first, "variant")), "spam@v2");
    assert_string_equal(json_string_value(json_object_get(first, "from_state")), "staged");
    assert_string_equal(json_string_value(json_object_get(first, "to_state")), "production");
    assert_string_equal(json_string_value(json_object_get(first, "actor")), "alice");
    assert_string_equal(json_string_value(json_object_get(first, "timestamp")),
                        "2026-11-23T08:15:02.123Z");
    assert_string_equal(json_string_value(json_object_get(second, "metric")), "fidelity=0.83");
    /* An event without a timestamp is stamped with the real time. */
    time_t ts = parse_utc(json_string_value(json_object_get(second, "timestamp")));
    assert_true(ts != (time_t)-1 && labs((long)(ts - time(NULL))) <= 5);
    json_decref(first);
    json_decref(second);
    free(audit);

    char *log = ws_file(f, "CHANGELOG.md");
    assert_non_null(log);
    char want[512];
    snprintf(want, sizeof want,
             "- 2026-11-23T08:15:02Z  spam  promotion  spam@v2 staged -> production  "
             "(approved by alice, ticket OPS-12)\n"
             "- %.19sZ  spam  rollback  spam@v2 production -> staged  "
             "(fidelity below 0.85, by rollback.lua, fidelity=0.83)\n",
             strchr(log, '\n') + 3);
    assert_string_equal(log, want);
    free(log);

    /* The registry was refreshed beside the database, and nothing was recorded as an error. */
    char *reg = ws_file(f, "registry.json");
    assert_non_null(reg);
    free(reg);
    assert_int_equal(error_decisions(f, "hook", NULL), 0);
    assert_int_equal(error_decisions(f, "hooks", NULL), 0);
}

/* An operator who keeps a plain CHANGELOG gets plain lines in it, and no CHANGELOG.md. */
static void test_plain_changelog(void **state)
{
    fixture *f = *state;
    char plain[PATH_MAX + 32];
    path_in(plain, sizeof plain, f->ws, "CHANGELOG");
    write_file(plain, "history\n", 0644);
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "freeze", "skill", "spam", "variant",
                  "spam@v3", "reason", "breaker\nopen", "timestamp", "2026-01-02T03:04:05.678Z");
    assert_int_equal(fire(f, ev), SKH_OK);
    char *log = slurp(plain);
    assert_string_equal(log, "history\n2026-01-02T03:04:05Z  spam  freeze  spam@v3  "
                             "(breaker open)\n");
    free(log);
    char *md = ws_file(f, "CHANGELOG.md");
    assert_null(md);
}

/* The shipped hooks.lua loads and asks for exactly the defaults. */
static void test_shipped_policy(void **state)
{
    fixture *f = *state;
    char shipped[PATH_MAX + 16];
    snprintf(shipped, sizeof shipped, "%s/policies", fixture_srcdir());
    skh_host_close(f->host);
    f->host = NULL;
    assert_int_equal(open_host(f, shipped), SKH_OK);
    captured cap;
    capture_begin(f, &cap);
    int rc = fire(f, promotion_event());
    char *errs = capture_end(&cap);
    assert_int_equal(rc, SKH_OK);
    assert_string_equal(errs, "");
    free(errs);
    char *audit = ws_file(f, "audit.jsonl"), *log = ws_file(f, "CHANGELOG.md");
    assert_int_equal(count_lines(audit), 1);
    assert_int_equal(count_lines(log), 1);
    free(audit);
    free(log);
    assert_int_equal(error_decisions(f, "hooks", NULL), 0);
    assert_int_equal(error_decisions(f, "hook", NULL), 0);
}

/* ---- commands ------------------------------------------------------------------------ */

/* A command gets the event on stdin, SKILLHOST_DB, and runs after the registry refresh. */
static void test_command_gets_event(void **state)
{
    fixture *f = *state;
    char script[PATH_MAX + 32], got[PATH_MAX + 32], lua[4 * PATH_MAX];
    path_in(script, sizeof script, f->dir, "record.sh");
    path_in(got, sizeof got, f->dir, "got");
    write_file(script,
               "#!/bin/sh\n"
               "cat > \"$1\"\n"
               "printf '%s' \"$SKILLHOST_DB\" > \"$1.db\"\n"
               "cp \"$(dirname \"$SKILLHOST_DB\")/registry.json\" \"$1.registry\"\n"
               "echo 'some chatter on stdout'\n",
               0755);
    snprintf(lua, sizeof lua,
             "return { kind = 'policy', name = 'hooks', version = '1',\n"
             "  after_transition = function(ev)\n"
             "    return { commands = { { '%s', '%s' } }, timeout_ms = 5000 }\n"
             "  end }\n",
             script, got);
    write_hooks_lua(f, lua);

    captured cap;
    capture_begin(f, &cap);
    int rc = fire(f, promotion_event());
    char *errs = capture_end(&cap);
    assert_int_equal(rc, SKH_OK);
    assert_string_equal(errs, "");
    free(errs);

    json_error_t jerr;
    json_t *ev = json_load_file(got, 0, &jerr);
    if (!ev)
        fail_msg("the command's stdin was not the event: %s", jerr.text);
    assert_string_equal(json_string_value(json_object_get(ev, "kind")), "promotion");
    assert_string_equal(json_string_value(json_object_get(ev, "skill")), "spam");
    assert_string_equal(json_string_value(json_object_get(ev, "reason")),
                        "approved by alice, ticket OPS-12");
    json_decref(ev);
    char side[PATH_MAX + 64];
    snprintf(side, sizeof side, "%s.db", got);
    char *db = slurp(side);
    assert_string_equal(db, f->db);
    free(db);
    snprintf(side, sizeof side, "%s.registry", got);
    json_t *reg = json_load_file(side, 0, NULL);
    assert_non_null(reg);
    assert_int_equal(json_integer_value(json_object_get(reg, "version")), 1);
    json_decref(reg);
    /* audit and changelog default to on when hooks.lua does not say. */
    char *audit = ws_file(f, "audit.jsonl");
    assert_int_equal(count_lines(audit), 1);
    free(audit);
    assert_int_equal(error_decisions(f, "hook", NULL), 0);
}

/* `tee -a LOG` as a hook: each event arrives as one line, so two events are two lines. */
static void test_command_appends_lines(void **state)
{
    fixture *f = *state;
    char log[PATH_MAX + 32], lua[2 * PATH_MAX];
    path_in(log, sizeof log, f->dir, "events.jsonl");
    snprintf(lua, sizeof lua,
             "return { kind = 'policy', name = 'hooks', version = '1',\n"
             "  after_transition = function(ev)\n"
             "    return { audit = false, changelog = false,\n"
             "             commands = { { 'tee', '-a', '%s' } }, timeout_ms = 5000 }\n"
             "  end }\n",
             log);
    write_hooks_lua(f, lua);

    assert_int_equal(fire(f, promotion_event()), SKH_OK);
    json_t *second = promotion_event();
    json_object_set_new(second, "variant", json_string("spam@v3"));
    assert_int_equal(fire(f, second), SKH_OK);

    char *text = slurp(log);
    assert_non_null(text);
    assert_int_equal(count_lines(text), 2);
    assert_int_equal(text[strlen(text) - 1], '\n');
    char *nl = strchr(text, '\n');
    *nl = '\0';
    json_t *first = json_loads(text, 0, NULL), *next = json_loads(nl + 1, 0, NULL);
    assert_non_null(first);
    assert_non_null(next);
    assert_string_equal(json_string_value(json_object_get(first, "variant")), "spam@v2");
    assert_string_equal(json_string_value(json_object_get(next, "variant")), "spam@v3");
    json_decref(first);
    json_decref(next);
    free(text);
    assert_int_equal(error_decisions(f, "hook", NULL), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Dead, or a zombie waiting for an init that may never reap it (a
 * container's PID 1 often does not): either way no longer running.
 */
static int sleeper_gone(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    for (int tries = 0; tries < 200; tries++) {
        char *stat = slurp(path);
        const char *paren = stat ? strrchr(stat, ')') : NULL;
        int gone = !stat || (paren && paren[1] == ' ' && paren[2] == 'Z');
        free(stat);
        if (gone)
            return 1;
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL);
    }
    return 0;
}

/*
 * Every way a command can fail is reported on stderr, recorded in
 * decisions with the event, and none of them fails the call or stops the
 * audit log or the next command.
 */
static void test_failing_commands(void **state)
{
    fixture *f = *state;
    char marker[PATH_MAX + 32], lua[4 * PATH_MAX];
    char pidfile[PATH_MAX + 32];
    path_in(marker, sizeof marker, f->dir, "last-ran");
    path_in(pidfile, sizeof pidfile, f->dir, "sleeper.pid");
    snprintf(lua, sizeof lua,
             "return { kind = 'policy', name = 'hooks', version = '1',\n"
             "  after_transition = function(ev)\n"
             "    return { timeout_ms = 300, commands = {\n"
             "      { '/bin/false' },\n"
             "      { '/bin/sh', '-c', 'echo boom >&2; exit 3' },\n"
             "      { '/bin/sh', '-c', 'sleep 30 & echo $! > %s; wait' },\n"
             "      { '/nonexistent/prog' },\n"
             "      { 'skh-no-such-program' },\n"
             "      { '/bin/sh', '-c', 'kill -TERM $$' },\n"
             "      { 'touch', '%s' },\n"
             "    } }\n"
             "  end }\n",
             pidfile, marker);
    write_hooks_lua(f, lua);

    captured cap;
    capture_begin(f, &cap);
    double t0 = now_s();
    int rc = fire(f, promotion_event());
    double took = now_s() - t0;
    char *errs = capture_end(&cap);
    assert_int_equal(rc, SKH_OK);
    /* The sleeper and its child were killed at 300 ms, not waited for. */
    assert_true(took < 10.0);
    assert_contains(errs, "skillhost: hook /bin/false: exited with status 1\n");
    assert_contains(errs, "skillhost: hook /bin/sh -c echo boom >&2; exit 3: exited with status "
                          "3: boom\n");
    char want[2 * PATH_MAX];
    snprintf(want, sizeof want,
             "skillhost: hook /bin/sh -c sleep 30 & echo $! > %s; wait: killed after 300 ms "
             "(timeout)\n",
             pidfile);
    assert_contains(errs, want);
    /* The whole process group went: the shell's background sleep too. */
    char *pid = slurp(pidfile);
    assert_non_null(pid);
    assert_true(sleeper_gone(atoi(pid)));
    free(pid);
    assert_contains(errs, "skillhost: hook /nonexistent/prog: cannot run: No such file or "
                          "directory\n");
    assert_contains(errs, "skillhost: hook skh-no-such-program: not found in PATH\n");
    assert_contains(errs, "skillhost: hook /bin/sh -c kill -TERM $$: killed by signal 15");
    free(errs);

    char *observed = NULL;
    assert_int_equal(error_decisions(f, "hook", &observed), 6);
    json_t *o = json_loads(observed, 0, NULL);
    free(observed);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "event"), "kind")),
                        "promotion");
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "command"), 0)),
                        "/bin/sh");
    assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "signal 15"));
    json_decref(o);

    /* The command after the failures ran, and the transition's audit entry is there. */
    assert_int_equal(access(marker, F_OK), 0);
    char *audit = ws_file(f, "audit.jsonl");
    assert_int_equal(count_lines(audit), 1);
    free(audit);
}

/* A command that exits 0 and leaves a background child holding its output has finished. */
static void test_command_leaving_child(void **state)
{
    fixture *f = *state;
    write_hooks_lua(f, "return { kind = 'policy', name = 'hooks', version = '1',\n"
                       "  after_transition = function(ev)\n"
                       "    return { timeout_ms = 8000, commands = {\n"
                       "      { '/bin/sh', '-c', 'sleep 2 & echo started' } } }\n"
                       "  end }\n");
    double t0 = now_s();
    assert_int_equal(fire(f, promotion_event()), SKH_OK);
    assert_true(now_s() - t0 < 1.5);
    assert_int_equal(error_decisions(f, "hook", NULL), 0);
}

/* ---- hooks.lua failing or asking for less --------------------------------------- */

static void test_broken_policy_fails_safe(void **state)
{
    fixture *f = *state;
    write_hooks_lua(f, "return { kind = 'policy', name = 'hooks',\n");
    captured cap;
    capture_begin(f, &cap);
    int rc = fire(f, promotion_event());
    char *errs = capture_end(&cap);
    assert_int_equal(rc, SKH_OK);
    assert_contains(errs, "hooks.lua");
    assert_contains(errs, "decided nothing; the audit log and the changelog are written anyway");
    free(errs);
    assert_int_equal(error_decisions(f, "hooks", NULL), 1);
    char *audit = ws_file(f, "audit.jsonl"), *log = ws_file(f, "CHANGELOG.md");
    assert_int_equal(count_lines(audit), 1);
    assert_int_equal(count_lines(log), 1);
    free(audit);
    free(log);

    /* Raising at run time: the same. */
    write_hooks_lua(f, "return { kind = 'policy', name = 'hooks', version = '2',\n"
                       "  after_transition = function(ev) error('no hooks today') end }\n");
    capture_begin(f, &cap);
    rc = fire(f, promotion_event());
    errs = capture_end(&cap);
    assert_int_equal(rc, SKH_OK);
    assert_contains(errs, "no hooks today");
    free(errs);
    assert_int_equal(error_decisions(f, "hooks", NULL), 2);
    audit = ws_file(f, "audit.jsonl");
    assert_int_equal(count_lines(audit), 2);
    free(audit);
}

static void test_policy_switches(void **state)
{
    fixture *f = *state;
    /* Off means off; the registry is refreshed whatever hooks.lua answers. */
    write_hooks_lua(f, "return { kind = 'policy', name = 'hooks', version = '1',\n"
                       "  after_transition = function(ev)\n"
                       "    return { audit = false, changelog = false } end }\n");
    assert_int_equal(fire(f, promotion_event()), SKH_OK);
    char *audit = ws_file(f, "audit.jsonl"), *log = ws_file(f, "CHANGELOG.md");
    char *reg = ws_file(f, "registry.json");
    assert_null(audit);
    assert_null(log);
    assert_non_null(reg);
    free(reg);

    /* A switch that is not a boolean, a malformed command, a bad timeout: reported, audit kept. */
    write_hooks_lua(f, "return { kind = 'policy', name = 'hooks', version = '2',\n"
                       "  after_transition = function(ev)\n"
                       "    return { audit = 'yes', commands = { 'not-a-list', {} },\n"
                       "             timeout_ms = -5 } end }\n");
    captured cap;
    capture_begin(f, &cap);
    int rc = fire(f, promotion_event());
    char *errs = capture_end(&cap);
    assert_int_equal(rc, SKH_OK);
    assert_contains(errs, "audit must be true or false; kept on");
    assert_contains(errs, "timeout_ms must be a number >= 1");
    assert_contains(errs, "skillhost: hook commands[1]: expected a list of strings");
    assert_contains(errs, "skillhost: hook commands[2]: expected a list of strings");
    free(errs);
    assert_int_equal(error_decisions(f, "hook", NULL), 4);
    audit = ws_file(f, "audit.jsonl");
    assert_int_equal(count_lines(audit), 1);
    free(audit);
}

static void test_bad_event(void **state)
{
    fixture *f = *state;
    skh_error err;
    json_t *arr = json_array();
    assert_int_equal(hooks_after_transition(f->host, arr, &err), SKH_EINVAL);
    json_decref(arr);
    json_t *noskill = json_pack("{s:s}", "kind", "promotion");
    assert_int_equal(hooks_after_transition(f->host, noskill, &err), SKH_EINVAL);
    assert_contains(err.message, "kind and a skill");
    json_decref(noskill);
    char *audit = ws_file(f, "audit.jsonl");
    assert_null(audit);
}

/* ---- many processes at once ----------------------------------------------------- */

#define WRITERS 4
#define EVENTS_EACH 15
#define REASON_LEN 6000 /* more than PIPE_BUF: one entry may take several write()s */

static int child_fire(fixture *f, int who)
{
    skh_host *host = NULL;
    if (fixture_open(f, NULL, &host) != SKH_OK)
        return 1;
    static char reason[REASON_LEN + 1];
    int bad = 0;
    for (int i = 0; i < EVENTS_EACH && !bad; i++) {
        memset(reason, 'a' + who, REASON_LEN);
        reason[REASON_LEN] = '\0';
        char tag[32];
        int n = snprintf(tag, sizeof tag, "%d:%d:", who, i);
        memcpy(reason, tag, (size_t)n);
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "kind", "promotion", "skill", "spam",
                               "variant", "spam@v2", "reason", reason);
        skh_error err;
        bad = !ev || hooks_after_transition(host, ev, &err) != SKH_OK;
        json_decref(ev);
    }
    skh_host_close(host);
    return bad;
}

static void test_concurrent_appends(void **state)
{
    fixture *f = *state;
    pid_t kids[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        kids[k] = fork_clean(f);
        assert_true(kids[k] >= 0);
        if (kids[k] == 0)
            _exit(child_fire(f, k));
    }
    for (int k = 0; k < WRITERS; k++) {
        int st = 0;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    char *audit = ws_file(f, "audit.jsonl");
    assert_non_null(audit);
    assert_int_equal(count_lines(audit), WRITERS * EVENTS_EACH);
    int seen[WRITERS][EVENTS_EACH];
    memset(seen, 0, sizeof seen);
    char *line = audit;
    for (int n = 0; n < WRITERS * EVENTS_EACH; n++) {
        char *nl = strchr(line, '\n');
        json_error_t jerr;
        json_t *ev = json_loadb(line, (size_t)(nl - line), 0, &jerr);
        if (!ev)
            fail_msg("audit line %d is not whole: %s", n + 1, jerr.text);
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        int who = -1, i = -1;
        assert_int_equal(sscanf(reason, "%d:%d:", &who, &i), 2);
        assert_true(who >= 0 && who < WRITERS && i >= 0 && i < EVENTS_EACH);
        assert_int_equal(strlen(reason), REASON_LEN);
        assert_int_equal(reason[REASON_LEN - 1], 'a' + who);
        seen[who][i]++;
        json_decref(ev);
        line = nl + 1;
    }
    for (int k = 0; k < WRITERS; k++)
        for (int i = 0; i < EVENTS_EACH; i++)
            assert_int_equal(seen[k][i], 1);
    free(audit);

    char *log = ws_file(f, "CHANGELOG.md");
    assert_int_equal(count_lines(log), WRITERS * EVENTS_EACH);
    for (char *p = log; *p; p = strchr(p, '\n') + 1)
        assert_int_equal(strncmp(p, "- ", 2), 0);
    free(log);
}

/* ---- the registry export ------------------------------------------------------------ */

static char *add_variant(fixture *f, const char *skill, const char *state)
{
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = skill,
                             .impl = f->skill_lua,
                             .state = state,
                             .description = "says ok"};
    char *id = NULL;
    skh_error err;
    if (skh_variant_add(f->host, &spec, &id, &err))
        fail_msg("variant add %s: %s: %s", skill, err.what, err.message);
    return id;
}

static void test_registry_content(void **state)
{
    fixture *f = *state;
    skh_free(add_variant(f, "st", "production"));
    skh_free(add_variant(f, "st", NULL));
    skh_free(add_variant(f, "other", "staged"));

    char *written = NULL;
    skh_error err;
    assert_int_equal(skh_registry_export(f->host, NULL, &written, &err), SKH_OK);
    char want[PATH_MAX + 64];
    path_in(want, sizeof want, f->ws, "registry.json");
    assert_string_equal(written, want);
    skh_free(written);

    json_error_t jerr;
    json_t *reg = json_load_file(want, 0, &jerr);
    if (!reg)
        fail_msg("registry.json: %s", jerr.text);
    assert_int_equal(json_integer_value(json_object_get(reg, "version")), 1);
    time_t ts = parse_utc(json_string_value(json_object_get(reg, "last_updated")));
    assert_true(ts != (time_t)-1);
    assert_true(labs((long)(ts - time(NULL))) <= 5);
    char *real_db = realpath(f->db, NULL);
    assert_string_equal(json_string_value(json_object_get(reg, "database")), real_db);
    free(real_db);

    json_t *st = json_object_get(json_object_get(reg, "skills"), "st");
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "serving")), "st@v1");
    assert_string_equal(json_string_value(json_object_get(st, "promotion_state")), "production");
    assert_string_equal(json_string_value(json_object_get(st, "description")), "says ok");
    assert_true(json_is_null(json_object_get(st, "live_test")));
    assert_true(json_is_null(json_object_get(st, "evolver")));
    json_t *vars = json_object_get(st, "variants");
    assert_int_equal(json_object_size(vars), 2);
    json_t *v1 = json_object_get(vars, "st@v1"), *v2 = json_object_get(vars, "st@v2");
    assert_string_equal(json_string_value(json_object_get(v1, "state")), "production");
    assert_string_equal(json_string_value(json_object_get(v2, "state")), "prototype");
    char *real_impl = realpath(f->skill_lua, NULL);
    assert_string_equal(json_string_value(json_object_get(v2, "impl")), real_impl);
    free(real_impl);
    assert_int_equal(strlen(json_string_value(json_object_get(v2, "sha256"))), 64);
    assert_true(json_is_null(json_object_get(v2, "parent")));
    assert_true(json_is_false(json_object_get(v2, "promoted")));
    assert_non_null(json_string_value(json_object_get(v2, "created_at")));
    json_t *other = json_object_get(json_object_get(reg, "skills"), "other");
    assert_string_equal(json_string_value(json_object_get(other, "serving")), "other@v1");
    json_decref(reg);

    /* A live test shows; FILE is written where asked, readable by others. */
    skh_ab_spec ab = {.struct_size = sizeof ab, .skill = "st", .treatment = "st@v2"};
    char *test_id = NULL;
    assert_int_equal(skh_ab_start(f->host, &ab, &test_id, &err), SKH_OK);
    char file[PATH_MAX + 32];
    path_in(file, sizeof file, f->dir, "elsewhere.json");
    assert_int_equal(skh_registry_export(f->host, file, &written, &err), SKH_OK);
    assert_string_equal(written, file);
    skh_free(written);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    reg = json_load_file(file, 0, NULL);
    json_t *live =
        json_object_get(json_object_get(json_object_get(reg, "skills"), "st"), "live_test");
    assert_string_equal(json_string_value(json_object_get(live, "test_id")), test_id);
    assert_string_equal(json_string_value(json_object_get(live, "treatment")), "st@v2");
    assert_string_equal(json_string_value(json_object_get(live, "control")), "st@v1");
    assert_string_equal(json_string_value(json_object_get(live, "status")), "running");
    json_decref(reg);
    skh_free(test_id);

    /* Written with NULL for the out-parameter, and refused for a folder that does not exist. */
    assert_int_equal(skh_registry_export(f->host, file, NULL, &err), SKH_OK);
    path_in(file, sizeof file, f->dir, "no/such/dir.json");
    assert_int_equal(skh_registry_export(f->host, file, &written, &err), SKH_ENOTFOUND);
    assert_null(written);
    assert_string_equal(err.what, file);
}

/* Temp files the export left in dir (there must be none). */
static int temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/*
 * A reader process parses registry.json in a loop while this one rewrites
 * it: every read must be a whole JSON document.  Written in place (open
 * with O_TRUNC, write) the reader sees empty and half files within a few
 * rewrites of a file this size.
 */
static void test_registry_atomic(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 30; i++)
        skh_free(add_variant(f, "big", NULL));
    char path[PATH_MAX + 32], stop[PATH_MAX + 32];
    path_in(path, sizeof path, f->ws, "registry.json");
    path_in(stop, sizeof stop, f->dir, "stop");
    skh_error err;
    assert_int_equal(skh_registry_export(f->host, NULL, NULL, &err), SKH_OK);
    char *first = slurp(path);
    assert_true(strlen(first) > 8000);
    free(first);

    pid_t reader = fork_clean(f);
    assert_true(reader >= 0);
    if (reader == 0) {
        long reads = 0;
        while (access(stop, F_OK) != 0) {
            char *text = slurp(path);
            json_t *j = text ? json_loads(text, 0, NULL) : NULL;
            int whole = j && json_object_get(json_object_get(j, "skills"), "big");
            json_decref(j);
            free(text);
            if (!whole)
                _exit(1);
            reads++;
        }
        _exit(reads > 0 ? 0 : 2);
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(skh_registry_export(f->host, NULL, NULL, &err), SKH_OK);
    write_file(stop, "", 0644);
    int st = 0;
    assert_int_equal(waitpid(reader, &st, 0), reader);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(temp_files(f->ws), 0);
}

/*
 * A write that fails leaves the old file as it was and no temp file
 * behind.  The failure is a file-size limit (root writes to a read-only
 * folder anyway); the read-only folder is tried too when not root.
 */
static void test_registry_failure_keeps_old(void **state)
{
    fixture *f = *state;
    skh_free(add_variant(f, "st", "production"));
    char path[PATH_MAX + 32];
    path_in(path, sizeof path, f->ws, "registry.json");
    skh_error err;
    assert_int_equal(skh_registry_export(f->host, NULL, NULL, &err), SKH_OK);
    char *before = slurp(path);
    assert_non_null(before);

    pid_t kid = fork_clean(f);
    assert_true(kid >= 0);
    if (kid == 0) {
        free(before); /* the parent keeps its copy */
        skh_host *host = NULL;
        if (fixture_open(f, NULL, &host) != SKH_OK)
            _exit(10);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {.rlim_cur = 100, .rlim_max = RLIM_INFINITY};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(11);
        skh_error kerr;
        char *written = NULL;
        int rc = skh_registry_export(host, NULL, &written, &kerr);
        int ok = rc == SKH_EFAILED && !written && strstr(kerr.message, "writing the temp file");
        skh_host_close(host);
        _exit(ok ? 0 : 12);
    }
    int st = 0;
    assert_int_equal(waitpid(kid, &st, 0), kid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char *after = slurp(path);
    assert_string_equal(after, before);
    free(after);
    assert_int_equal(temp_files(f->ws), 0);

    if (geteuid() != 0) {
        assert_int_equal(chmod(f->ws, 0555), 0);
        int rc = skh_registry_export(f->host, NULL, NULL, &err);
        assert_int_equal(chmod(f->ws, 0755), 0);
        assert_int_equal(rc, SKH_EFAILED);
        assert_contains(err.message, "cannot create a temp file");
        after = slurp(path);
        assert_string_equal(after, before);
        free(after);
    }
    free(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_without_policy, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_plain_changelog, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shipped_policy, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_command_gets_event, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_command_appends_lines, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failing_commands, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_command_leaving_child, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_broken_policy_fails_safe, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_policy_switches, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_event, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_registry_content, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_registry_atomic, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_registry_failure_keeps_old, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("hooks", tests, NULL, NULL);
}
