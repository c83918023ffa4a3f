/*
 * The child-process runner behind exec skills and hook commands; see proc.h
 * for what it promises.  posix_spawn rather than fork: glibc uses
 * CLONE_VM|CLONE_VFORK, so starting a program costs the same however much
 * memory the host holds, and an execve failure comes back as the return
 * value.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

extern char **environ;

#define PROC_CHUNK 65536
/* With until_exit the exit is noticed by polling waitpid at least this often. */
#define PROC_EXIT_POLL_MS 50

typedef struct proc_state {
    const proc_options *o;
    proc_result *res;
    pid_t pid;
    int fd_in, fd_out, fd_err;
    size_t input_off;
} proc_state;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A pipe with both ends above 2, so the dup2 actions onto 0..2 cannot clobber one. */
static int pipe_high(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0)
        return errno;
    for (int i = 0; i < 2; i++) {
        int moved = p[i] > 2 ? p[i] : fcntl(p[i], F_DUPFD_CLOEXEC, 3);
        if (moved < 0)
            return errno; /* the caller closes both ends */
        if (moved != p[i])
            close(p[i]);
        p[i] = moved;
    }
    return 0;
}

/* Start the program with its pipes; 0 or an errno value. */
static int spawn(proc_state *s)
{
    const proc_options *o = s->o;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    int e = pipe_high(in);
    if (!e)
        e = pipe_high(out);
    if (!e && !o->merge_stderr)
        e = pipe_high(er);
    if (e || (e = posix_spawn_file_actions_init(&fa)) != 0)
        goto out;
    if ((e = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        goto out;
    }
    sigfillset(&all);
    sigemptyset(&none);
    e = posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    e = e ? e : posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    e = e ? e : posix_spawn_file_actions_adddup2(&fa, o->merge_stderr ? out[1] : er[1], 2);
    e = e ? e : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    e = e ? e
          : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETSIGMASK);
    e = e ? e : posix_spawnattr_setpgroup(&at, 0);
    e = e ? e : posix_spawnattr_setsigdefault(&at, &all);
    e = e ? e : posix_spawnattr_setsigmask(&at, &none);
    e = e ? e : posix_spawn(&s->pid, o->program, &fa, &at, o->argv, o->envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if (!e) {
        s->fd_in = in[1];
        s->fd_out = out[0];
        s->fd_err = er[0];
        in[1] = out[0] = er[0] = -1;
        fcntl(s->fd_in, F_SETFL, O_NONBLOCK);
        fcntl(s->fd_out, F_SETFL, O_NONBLOCK);
        if (s->fd_err >= 0)
            fcntl(s->fd_err, F_SETFL, O_NONBLOCK);
    }
out:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&er[i]);
    }
    return e;
}

/* Kill the whole group: a shell script's children hold our pipes open too. */
static void kill_group(proc_state *s, int why)
{
    if (!s->res->killed)
        s->res->killed = why;
    if (kill(-s->pid, SIGKILL) != 0)
        kill(s->pid, SIGKILL);
}

static void reap(proc_state *s)
{
    while (!s->res->reaped) {
        pid_t w = waitpid(s->pid, &s->res->status, 0);
        if (w == s->pid)
            s->res->reaped = 1;
        else if (errno != EINTR)
            s->res->reaped = -1;
    }
}

/* Read what one pipe has; 0 at end of file, on an error that ends it, or when the sink stops. */
static int drain(proc_state *s, int fd, proc_sink sink)
{
    char chunk[PROC_CHUNK];
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (got == 0)
        return 0;
    if (sink && sink(s->o->arg, chunk, (size_t)got) != 0) {
        kill_group(s, PROC_KILLED_BY_SINK);
        return 0;
    }
    return 1;
}

/* After the exit: what the pipe still holds, without waiting for a writer left behind. */
static void drain_rest(proc_state *s, int fd, proc_sink sink)
{
    char chunk[PROC_CHUNK];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0 || (got < 0 && errno == EINTR))
        if (got > 0 && sink && sink(s->o->arg, chunk, (size_t)got) != 0)
            return; /* reaped already: nothing left to kill */
}

static void feed(proc_state *s)
{
    size_t left = s->o->input_len - s->input_off;
    ssize_t put =
        write(s->fd_in, s->o->input + s->input_off, left < PROC_CHUNK ? left : PROC_CHUNK);
    if (put > 0)
        s->input_off += (size_t)put;
    else if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        close_fd(&s->fd_in); /* EPIPE: the program does not read its input, its choice */
    if (s->input_off == s->o->input_len)
        close_fd(&s->fd_in);
}

/*
 * One poll() loop over stdin and the outputs until the program has exited
 * or the deadline passes.  Once the outputs are closed, the child is
 * polled with a short growing back-off until it exits.
 */
static void pump(proc_state *s)
{
    const proc_options *o = s->o;
    proc_result *res = s->res;
    int64_t deadline = now_ms() + o->timeout_ms;
    int backoff = 1;
    if (o->input_len == 0)
        close_fd(&s->fd_in);
    while (!res->reaped) {
        int outputs_open = s->fd_out >= 0 || s->fd_err >= 0;
        if (o->until_exit || !outputs_open) {
            pid_t w = waitpid(s->pid, &res->status, WNOHANG);
            if (w == s->pid) {
                res->reaped = 1;
                break;
            }
            if (w < 0 && errno != EINTR) {
                res->reaped = -1; /* ECHILD: someone else reaped it (SIGCHLD ignored) */
                break;
            }
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            kill_group(s, PROC_KILLED_TIMEOUT);
            break;
        }
        struct pollfd pfd[3];
        int n = 0, wait_ms = left > INT_MAX ? INT_MAX : (int)left;
        if (s->fd_in >= 0)
            pfd[n++] = (struct pollfd){.fd = s->fd_in, .events = POLLOUT};
        if (s->fd_out >= 0)
            pfd[n++] = (struct pollfd){.fd = s->fd_out, .events = POLLIN};
        if (s->fd_err >= 0)
            pfd[n++] = (struct pollfd){.fd = s->fd_err, .events = POLLIN};
        if (!outputs_open) {
            wait_ms = wait_ms < backoff ? wait_ms : backoff;
            backoff = backoff < 32 ? backoff * 2 : 50;
        } else if (o->until_exit && wait_ms > PROC_EXIT_POLL_MS) {
            wait_ms = PROC_EXIT_POLL_MS;
        }
        if (poll(pfd, (nfds_t)n, wait_ms) < 0)
            continue; /* EINTR; nothing else is possible with valid fds */
        for (int i = 0; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            if (pfd[i].fd == s->fd_in)
                feed(s);
            else if (pfd[i].fd == s->fd_out && !drain(s, s->fd_out, o->on_stdout))
                close_fd(&s->fd_out);
            else if (pfd[i].fd == s->fd_err && !drain(s, s->fd_err, o->on_stderr))
                close_fd(&s->fd_err);
        }
    }
    reap(s);
    /* What a command printed just before it exited is often the most useful part. */
    if (o->until_exit) {
        if (s->fd_out >= 0)
            drain_rest(s, s->fd_out, o->on_stdout);
        if (s->fd_err >= 0)
            drain_rest(s, s->fd_err, o->on_stderr);
    }
    close_fd(&s->fd_in);
    close_fd(&s->fd_out);
    close_fd(&s->fd_err);
}

int proc_run(const proc_options *o, proc_result *res)
{
    proc_state s = {.o = o, .res = res, .pid = -1, .fd_in = -1, .fd_out = -1, .fd_err = -1};
    *res = (proc_result){0};

    /*
     * A program that exits without reading its input makes our write fail
     * with EPIPE and raise SIGPIPE, which would kill the host.  Block it on
     * this thread while we write and swallow the one we caused, unless one
     * was already pending before we started.
     */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);

    int e = spawn(&s);
    if (!e)
        pump(&s);

    if (!was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) >= 0 || errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return e;
}

int proc_search_path(const char *name, char **out)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    *out = NULL;
    for (const char *dir = path;; dir++) {
        const char *end = strchrnul(dir, ':');
        char *cand = NULL;
        struct stat st;
        /* An empty PATH entry means the current folder (POSIX). */
        if (asprintf(&cand, "%.*s/%s", end > dir ? (int)(end - dir) : 1, end > dir ? dir : ".",
                     name) < 0)
            return ENOMEM;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
            *out = cand;
            return 0;
        }
        free(cand);
        dir = end;
        if (!*end)
            break;
    }
    return ENOENT;
}

char **proc_env(const char *const drop[], size_t ndrop, char *const add[], size_t nadd)
{
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    char **envp = calloc(n + nadd + 1, sizeof *envp);
    if (!envp)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int skip = 0;
        for (size_t j = 0; j < ndrop && !skip; j++)
            skip = strncmp(environ[i], drop[j], strlen(drop[j])) == 0;
        if (!skip)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < nadd; j++)
        if (add[j])
            envp[k++] = add[j];
    return envp;
}
