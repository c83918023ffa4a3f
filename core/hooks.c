/*
 * After a transition (DESIGN §7): hooks.lua says what runs; the audit log
 * and the changelog beside the database get an entry, registry.json is
 * refreshed, and the commands hooks.lua names run with the event on stdin.
 *
 * The transition is already committed when this runs, so nothing here can
 * undo it; what can go wrong is a hook, and a failed hook is reported on
 * stderr and recorded in the decisions table, never swallowed.  When
 * hooks.lua cannot be loaded or raises, the host fails safe the audit way:
 * the audit log and the changelog are still written (losing an audit entry
 * to a typo in a policy is worse than a line nobody asked for) and no
 * command runs.
 *
 * Several processes share one database and so one audit.jsonl: each entry
 * is appended under an exclusive flock() with O_APPEND, and a write that
 * fails half-way is cut back, so readers only ever see whole lines.
 *
 * Why not plugin_exec: an exec skill must print one JSON object on stdout
 * and exit 0, and anything else is a failure; a hook (a notifier, a
 * re-index) usually prints nothing, and its argument list comes as an array
 * rather than a command line to split.  Both run through the same runner
 * (proc.h): no shell, its own process group, the whole group killed at the
 * deadline, SIGPIPE kept away from the host.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "hooks.h"
#include "proc.h"
#include "trust.h"

#define HOOKS_POLICY "hooks"
#define HOOKS_FN "after_transition"
#define HOOKS_AUDIT_FILE "audit.jsonl"
#define HOOKS_DEFAULT_TIMEOUT_MS 10000
#define HOOKS_MAX_TIMEOUT_MS (10 * 60 * 1000)
#define HOOKS_OUTPUT_TAIL 4096 /* bytes of a command's output kept to quote on failure */
#define HOOKS_QUOTE_MAX 300    /* of which the last line is quoted, at most this long */
#define HOOKS_LABEL_MAX 256
#define HOOKS_WHY_MAX 1024

typedef struct hook_ctx {
    skh_host *host;
    json_t *event;
    const char *skill, *variant;
    char dir[PATH_MAX];         /* the database's folder */
    char policy_file[PATH_MAX]; /* hooks.lua (or .so, or builtin:hooks); "" when none */
    char policy_sha256[65];
    int oom;
} hook_ctx;

typedef struct hook_plan {
    int audit, changelog;
    json_t *commands; /* borrowed from the decision: an array, or NULL */
    int timeout_ms;
} hook_plan;

/* ---- reporting ------------------------------------------------------------- */

/*
 * A hook failed: say so on stderr and keep it in decisions (kind "hook",
 * verdict "error", observed = the event, the hook and the error).  If even
 * that cannot be recorded, that is reported too.
 */
static void hook_failed(hook_ctx *c, const char *label, json_t *command, const char *why)
{
    fprintf(stderr, "skillhost: hook %s: %s\n", label, why);
    json_t *seen = json_pack("{s:O, s:s, s:O?, s:s}", "event", c->event, "hook", label, "command",
                             command, "error", why);
    char *observed = seen ? json_dumps(seen, SKH_JSON_FLAGS) : NULL;
    json_decref(seen);
    if (!observed) {
        c->oom = 1;
        fprintf(stderr, "skillhost: hook %s: not recorded in decisions: out of memory\n", label);
        return;
    }
    store_decision d = {.skill = c->skill,
                        .variant_id = c->variant,
                        .kind = "hook",
                        .verdict = "error",
                        .observed = observed,
                        .policy_file = c->policy_file[0] ? c->policy_file : NULL,
                        .policy_sha256 = c->policy_sha256[0] ? c->policy_sha256 : NULL};
    skh_error rerr;
    error_clear(&rerr);
    if (store_decision_add(c->host->st, &d, &rerr) != SKH_OK)
        fprintf(stderr, "skillhost: hook %s: not recorded in decisions: %s\n", label, rerr.message);
    free(observed);
}

static void hook_failed_fmt(hook_ctx *c, const char *label, json_t *command, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void hook_failed_fmt(hook_ctx *c, const char *label, json_t *command, const char *fmt, ...)
{
    char why[HOOKS_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    hook_failed(c, label, command, why);
}

/* ---- appending whole lines ------------------------------------------------- */

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
 * Append one line to path under an exclusive lock.  O_APPEND alone places
 * each write() at the end, but a long line may take several write()s, and
 * a write cut short by a full disk would leave half a line for the next
 * entry to run into: the lock keeps the writes together and a failure cuts
 * the file back to where it was.  0, or an errno value.
 */
static int append_line(const char *path, const char *line, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int e = 0;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            e = errno;
            close(fd);
            return e;
        }
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        e = errno;
    } else if (write_all(fd, line, len) != 0) {
        e = errno;
        if (ftruncate(fd, st.st_size) != 0) {
            /* Nothing more can be done; the caller reports the write's error. */
        }
    } else if (fdatasync(fd) != 0) {
        e = errno;
    }
    if (close(fd) != 0 && !e)
        e = errno;
    return e;
}

/* ---- the audit log and the changelog ------------------------------------- */

static void write_audit(hook_ctx *c)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", c->dir, HOOKS_AUDIT_FILE) >= (int)sizeof path) {
        hook_failed_fmt(c, "audit", NULL, "%s/%s: path too long", c->dir, HOOKS_AUDIT_FILE);
        return;
    }
    char *text = json_dumps(c->event, SKH_JSON_FLAGS);
    char *line = NULL;
    if (!text || asprintf(&line, "%s\n", text) < 0) {
        free(text);
        c->oom = 1;
        hook_failed(c, "audit", NULL, "out of memory");
        return;
    }
    free(text);
    int e = append_line(path, line, strlen(line));
    free(line);
    if (e)
        hook_failed_fmt(c, "audit", NULL, "%s: %s", path, strerror(e));
}

static const char *event_str(const json_t *ev, const char *key)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s && *s ? s : NULL;
}

/* Append s to b (capacity cap) with control characters as spaces: one entry, one line. */
static void add_flat(char *b, size_t cap, const char *s)
{
    size_t n = strlen(b);
    for (; *s && n + 1 < cap; s++)
        b[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
    b[n] = '\0';
}

/*
 * "2026-11-23T08:15:02Z  spam  promotion  spam@v2 staged -> production
 * (approved by alice, ticket OPS-12)": time to the second, skill, kind,
 * what moved, and in parentheses why (the reason, the actor when the
 * reason does not already name them, the metric).
 */
static void changelog_entry(const json_t *ev, int markdown, char *out, size_t cap)
{
    const char *ts = event_str(ev, "timestamp"), *variant = event_str(ev, "variant");
    const char *from = event_str(ev, "from_state"), *to = event_str(ev, "to_state");
    const char *reason = event_str(ev, "reason"), *actor = event_str(ev, "actor");
    const char *metric = event_str(ev, "metric");
    char when[32] = "";
    if (ts && strlen(ts) > 19 && ts[19] == '.' && ts[strlen(ts) - 1] == 'Z')
        snprintf(when, sizeof when, "%.19sZ", ts);
    else
        snprintf(when, sizeof when, "%.31s", ts ? ts : "");

    out[0] = '\0';
    if (markdown)
        add_flat(out, cap, "- ");
    add_flat(out, cap, when);
    add_flat(out, cap, "  ");
    add_flat(out, cap, event_str(ev, "skill"));
    add_flat(out, cap, "  ");
    add_flat(out, cap, event_str(ev, "kind"));
    if (variant || from || to)
        add_flat(out, cap, " ");
    if (variant) {
        add_flat(out, cap, " ");
        add_flat(out, cap, variant);
    }
    if (from || to) {
        add_flat(out, cap, " ");
        add_flat(out, cap, from ? from : "?");
        add_flat(out, cap, " -> ");
        add_flat(out, cap, to ? to : "?");
    }
    /*
     * A rollback by hand names "manual" as both actor and metric (the
     * trigger_metric column's word): in prose that is "by hand", once.
     */
    int by_hand = actor && strcmp(actor, "manual") == 0;
    if (metric && strcmp(metric, "manual") == 0)
        metric = NULL;
    int parts = 0;
    const char *why[3] = {reason,
                          by_hand                                       ? "hand"
                          : actor && !(reason && strstr(reason, actor)) ? actor
                                                                        : NULL,
                          metric && !(reason && strstr(reason, metric)) ? metric : NULL};
    for (int i = 0; i < 3; i++) {
        if (!why[i])
            continue;
        add_flat(out, cap, parts++ ? ", " : "  (");
        if (i == 1)
            add_flat(out, cap, "by ");
        add_flat(out, cap, why[i]);
    }
    if (parts)
        add_flat(out, cap, ")");
    /* Room for the newline is kept whatever the entry's length. */
    size_t n = strlen(out);
    if (n + 2 > cap)
        n = cap - 2;
    out[n] = '\n';
    out[n + 1] = '\0';
}

/* CHANGELOG.md, or a plain CHANGELOG the operator already keeps there. */
static void write_changelog(hook_ctx *c)
{
    char md[PATH_MAX], plain[PATH_MAX];
    if (snprintf(md, sizeof md, "%s/CHANGELOG.md", c->dir) >= (int)sizeof md ||
        snprintf(plain, sizeof plain, "%s/CHANGELOG", c->dir) >= (int)sizeof plain) {
        hook_failed_fmt(c, "changelog", NULL, "%s/CHANGELOG.md: path too long", c->dir);
        return;
    }
    struct stat st;
    int markdown = !(stat(md, &st) != 0 && stat(plain, &st) == 0);
    const char *path = markdown ? md : plain;
    char line[4096];
    changelog_entry(c->event, markdown, line, sizeof line);
    int e = append_line(path, line, strlen(line));
    if (e)
        hook_failed_fmt(c, "changelog", NULL, "%s: %s", path, strerror(e));
}

/* ---- running a command ------------------------------------------------------ */

/* The last HOOKS_OUTPUT_TAIL bytes of what the command printed. */
typedef struct hook_tail {
    char data[HOOKS_OUTPUT_TAIL];
    size_t len;
} hook_tail;

/* proc_sink: keep the tail of the output (stdout and stderr share the pipe). */
static int tail_add(void *arg, const char *s, size_t n)
{
    hook_tail *t = arg;
    if (n >= HOOKS_OUTPUT_TAIL) {
        memcpy(t->data, s + n - HOOKS_OUTPUT_TAIL, HOOKS_OUTPUT_TAIL);
        t->len = HOOKS_OUTPUT_TAIL;
        return 0;
    }
    if (t->len + n > HOOKS_OUTPUT_TAIL) {
        size_t drop = t->len + n - HOOKS_OUTPUT_TAIL;
        memmove(t->data, t->data + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    return 0;
}

/* The last non-empty line the command printed, cut to HOOKS_QUOTE_MAX, or "". */
static void tail_last_line(const hook_tail *t, char out[HOOKS_QUOTE_MAX + 1])
{
    size_t end = t->len;
    while (end > 0 && (unsigned char)t->data[end - 1] <= ' ')
        end--;
    size_t start = end;
    while (start > 0 && t->data[start - 1] != '\n')
        start--;
    if (end - start > HOOKS_QUOTE_MAX)
        start = end - HOOKS_QUOTE_MAX;
    size_t n = 0;
    for (size_t i = start; i < end; i++)
        out[n++] = (unsigned char)t->data[i] < 0x20 ? ' ' : t->data[i];
    out[n] = '\0';
}

/*
 * The file to execute: argv[0] itself when it has a '/', else the first
 * executable regular file of that name in $PATH, as execvp would find it.
 * Resolving here rather than in posix_spawnp gives a clear message for a
 * missing program, and never falls back to running a file through
 * /bin/sh as posix_spawnp does for one without a #! line.  *out is
 * malloc'd; 0, 1 with why[] filled, or -1 when out of memory.
 */
static int resolve_program(const char *word, char **out, char why[HOOKS_WHY_MAX])
{
    struct stat st;
    *out = NULL;
    if (strchr(word, '/')) {
        if (stat(word, &st) != 0) {
            snprintf(why, HOOKS_WHY_MAX, "cannot run: %s", strerror(errno));
            return 1;
        }
        if (!S_ISREG(st.st_mode) || access(word, X_OK) != 0) {
            snprintf(why, HOOKS_WHY_MAX, "cannot run: %s",
                     S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
            return 1;
        }
        return (*out = strdup(word)) ? 0 : -1;
    }
    int e = proc_search_path(word, out);
    if (e == ENOMEM)
        return -1;
    if (e) {
        snprintf(why, HOOKS_WHY_MAX, "not found in PATH");
        return 1;
    }
    return 0;
}

/*
 * Run one command (argv, NULL-terminated) with input on stdin, stdout and
 * stderr in one pipe, the host's environment with SKILLHOST_DB naming this
 * database.  The run ends when the command exits: a notifier that leaves a
 * background child holding the pipe has still finished.  0 when it exited
 * with status 0; otherwise why[] says what happened and 1 is returned (-1
 * when out of memory).
 */
static int run_command(const skh_host *host, char *const argv[], const char *input, int timeout_ms,
                       char why[HOOKS_WHY_MAX])
{
    static const char *const db_key[] = {"SKILLHOST_DB="};
    char *program = NULL;
    int failed = resolve_program(argv[0], &program, why);
    if (failed)
        return failed;
    char *own = NULL;
    char **envp = NULL;
    if (asprintf(&own, "%s%s", db_key[0], host->db_path) < 0)
        own = NULL;
    else
        envp = proc_env(db_key, 1, &own, 1);
    if (!envp) {
        free(own);
        free(program);
        return -1;
    }
    hook_tail tail = {.len = 0};
    proc_options po = {.program = program,
                       .argv = argv,
                       .envp = envp,
                       .input = input,
                       .input_len = strlen(input),
                       .timeout_ms = timeout_ms,
                       .on_stdout = tail_add,
                       .arg = &tail,
                       .merge_stderr = 1,
                       .until_exit = 1};
    proc_result pr;
    failed = 1;
    int e = proc_run(&po, &pr);
    if (e) {
        snprintf(why, HOOKS_WHY_MAX, "cannot run: %s", strerror(e));
    } else {
        char last[HOOKS_QUOTE_MAX + 1];
        tail_last_line(&tail, last);
        const char *sep = last[0] ? ": " : "";
        if (pr.killed == PROC_KILLED_TIMEOUT)
            snprintf(why, HOOKS_WHY_MAX, "killed after %d ms (timeout)%s%s", timeout_ms, sep, last);
        else if (pr.reaped < 0)
            snprintf(why, HOOKS_WHY_MAX, "exit status lost (is SIGCHLD ignored?)");
        else if (WIFSIGNALED(pr.status))
            snprintf(why, HOOKS_WHY_MAX, "killed by signal %d (%s)%s%s", WTERMSIG(pr.status),
                     strsignal(WTERMSIG(pr.status)), sep, last);
        else if (WEXITSTATUS(pr.status) != 0)
            snprintf(why, HOOKS_WHY_MAX, "exited with status %d%s%s", WEXITSTATUS(pr.status), sep,
                     last);
        else
            failed = 0;
    }
    free(own);
    free(envp);
    free(program);
    return failed;
}

/* "prog arg ..." for messages, cut to HOOKS_LABEL_MAX. */
static void command_label(const json_t *cmd, char out[HOOKS_LABEL_MAX])
{
    size_t i;
    json_t *w;
    out[0] = '\0';
    json_array_foreach(cmd, i, w)
    {
        size_t n = strlen(out);
        snprintf(out + n, HOOKS_LABEL_MAX - n, "%s%s", i ? " " : "",
                 json_is_string(w) ? json_string_value(w) : "?");
    }
}

static void run_commands(hook_ctx *c, const hook_plan *plan)
{
    size_t n = json_array_size(plan->commands);
    if (n == 0)
        return;
    /* One line per event: a command appending its stdin to a log keeps events apart. */
    char *event = json_dumps(c->event, SKH_JSON_FLAGS), *input = NULL;
    if (event && asprintf(&input, "%s\n", event) < 0)
        input = NULL;
    free(event);
    if (!input) {
        c->oom = 1;
        hook_failed(c, "commands", plan->commands, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *cmd = json_array_get(plan->commands, i);
        char label[HOOKS_LABEL_MAX], why[HOOKS_WHY_MAX];
        size_t argc = json_array_size(cmd), k;
        json_t *w;
        int ok = json_is_array(cmd) && argc > 0;
        json_array_foreach(cmd, k, w) ok = ok && json_is_string(w);
        if (!ok || !*json_string_value(json_array_get(cmd, 0))) {
            char name[32];
            snprintf(name, sizeof name, "commands[%zu]", i + 1);
            hook_failed(c, name, cmd,
                        "expected a list of strings, the program first, e.g. "
                        "{ \"/usr/local/bin/notify\", \"--channel\", \"ops\" }");
            continue;
        }
        command_label(cmd, label);
        char **argv = calloc(argc + 1, sizeof *argv);
        if (!argv) {
            c->oom = 1;
            hook_failed(c, label, cmd, "out of memory");
            continue;
        }
        json_array_foreach(cmd, k, w) argv[k] = (char *)json_string_value(w);
        int rc = run_command(c->host, argv, input, plan->timeout_ms, why);
        free(argv);
        if (rc < 0) {
            c->oom = 1;
            hook_failed(c, label, cmd, "out of memory");
        } else if (rc > 0) {
            hook_failed(c, label, cmd, why);
        }
    }
    free(input);
}

/* ---- the plan ---------------------------------------------------------------- */

/*
 * Is there a hooks policy to ask?  Without hooks.lua, hooks.so or a
 * built-in the defaults apply quietly: that is a plain installation, not
 * an error to report.
 */
static int policy_present(hook_ctx *c)
{
    static const char *const exts[] = {".lua", ".so"};
    const char *dir = c->host->policies_dir;
    struct stat st;
    for (size_t i = 0; dir && i < sizeof exts / sizeof exts[0]; i++) {
        int n =
            snprintf(c->policy_file, sizeof c->policy_file, "%s/%s%s", dir, HOOKS_POLICY, exts[i]);
        if (n < (int)sizeof c->policy_file && stat(c->policy_file, &st) == 0) {
            skh_error e;
            if (sha256_file(c->policy_file, c->policy_sha256, &e) != SKH_OK)
                c->policy_sha256[0] = '\0';
            return 1;
        }
    }
    plugin *p = NULL;
    skh_error e;
    error_clear(&e);
    if (plugin_builtin_load(HOOKS_POLICY, &p, &e) == SKH_OK) {
        plugin_close(p);
        snprintf(c->policy_file, sizeof c->policy_file, "builtin:%s", HOOKS_POLICY);
        return 1;
    }
    c->policy_file[0] = '\0';
    return 0;
}

/* A switch that is not true or false keeps its default (on): reported, never dropped. */
static int plan_switch(hook_ctx *c, const json_t *d, const char *key)
{
    json_t *v = json_object_get(d, key);
    if (!v || json_is_null(v))
        return 1;
    if (json_is_boolean(v))
        return json_is_true(v);
    hook_failed_fmt(c, c->policy_file, NULL, "%s must be true or false; kept on", key);
    return 1;
}

static void plan_from(hook_ctx *c, json_t *d, hook_plan *plan)
{
    plan->audit = plan_switch(c, d, "audit");
    plan->changelog = plan_switch(c, d, "changelog");

    json_t *cmds = json_object_get(d, "commands");
    /* An empty Lua table arrives as {}. */
    if (json_is_array(cmds))
        plan->commands = cmds;
    else if (cmds && !json_is_null(cmds) && !(json_is_object(cmds) && json_object_size(cmds) == 0))
        hook_failed_fmt(c, c->policy_file, NULL,
                        "commands must be a list of commands, each a list of strings; "
                        "none was run");

    json_t *t = json_object_get(d, "timeout_ms");
    if (t && !json_is_null(t)) {
        double ms = json_number_value(t);
        if (!json_is_number(t) || !(ms >= 1))
            hook_failed_fmt(c, c->policy_file, NULL, "timeout_ms must be a number >= 1; using %d",
                            plan->timeout_ms);
        else
            plan->timeout_ms = ms > HOOKS_MAX_TIMEOUT_MS ? HOOKS_MAX_TIMEOUT_MS : (int)ms;
    }
}

/* The folder part of path ("." for a bare name); -1 when too long. */
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

/* ---- the entry point --------------------------------------------------------- */

int hooks_after_transition(skh_host *host, json_t *event, skh_error *err)
{
    error_clear(err);
    if (!host || !json_is_object(event))
        return error_set(err, SKH_EINVAL, "hooks", "the event must be a JSON object");
    const char *kind = event_str(event, "kind"), *skill = event_str(event, "skill");
    if (!kind || !skill)
        return error_set(err, SKH_EINVAL, "hooks", "the event needs a kind and a skill");

    hook_ctx c = {.host = host};
    c.event = json_deep_copy(event);
    if (!c.event)
        return error_set(err, SKH_ENOMEM, "hooks", "out of memory");
    if (!json_is_string(json_object_get(c.event, "timestamp"))) {
        char now[32];
        store_timestamp(now);
        if (json_object_set_new(c.event, "timestamp", json_string(now)) != 0) {
            json_decref(c.event);
            return error_set(err, SKH_ENOMEM, "hooks", "out of memory");
        }
    }
    c.skill = event_str(c.event, "skill");
    c.variant = event_str(c.event, "variant");

    hook_plan plan = {.audit = 1, .changelog = 1, .timeout_ms = HOOKS_DEFAULT_TIMEOUT_MS};
    json_t *decision = NULL;
    if (policy_present(&c)) {
        skh_error perr;
        error_clear(&perr);
        /* On failure host_policy_decide has reported and recorded it; the defaults stand. */
        if (host_policy_decide(host, HOOKS_POLICY, HOOKS_FN, c.event, c.skill, c.variant, &decision,
                               &perr) == SKH_OK)
            plan_from(&c, decision, &plan);
        else
            fprintf(stderr,
                    "skillhost: hook %s: decided nothing; the audit log and the changelog are "
                    "written anyway, no command runs\n",
                    c.policy_file);
    }

    if (dir_of(host->db_path, c.dir) != 0) {
        hook_failed_fmt(&c, "audit", NULL, "%s: path too long", host->db_path);
    } else {
        if (plan.audit)
            write_audit(&c);
        if (plan.changelog)
            write_changelog(&c);
    }

    /* Before the commands: a re-index or a notifier may read the fresh registry. */
    skh_error rerr;
    error_clear(&rerr);
    if (skh_registry_export(host, NULL, NULL, &rerr) != SKH_OK) {
        if (rerr.code == SKH_ENOMEM)
            c.oom = 1;
        hook_failed_fmt(&c, "registry", NULL, "%s: %s", rerr.what, rerr.message);
    }

    run_commands(&c, &plan);

    json_decref(decision);
    json_decref(c.event);
    if (c.oom)
        return error_set(err, SKH_ENOMEM, "hooks",
                         "out of memory running the hooks (each failure was reported)");
    return SKH_OK;
}
