/*
 * The child-process runner behind exec skills and hook commands; see proc.h
 * for what it promises.  vfork + execve, as glibc's posix_spawn does it
 * (CLONE_VM|CLONE_VFORK): starting a program costs the same however much
 * memory the host holds, and an execve failure comes back to the parent.
 * Done by hand rather than through posix_spawn for one thing posix_spawn
 * cannot do: PR_SET_PDEATHSIG, so the program is killed when the host dies,
 * even by SIGKILL.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

extern char **environ;

#define PROC_CHUNK 65536
/* With until_exit the exit is noticed by polling waitid at least this often. */
#define PROC_EXIT_POLL_MS 20
/* After the program exits, how long what it (or a child) still writes is read. */
#define PROC_EXIT_GRACE_MS 100
/* Rounds of killing the orphans a subreaper host adopted during one run. */
#define PROC_ORPHAN_ROUNDS 50

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

/* What the vfork child needs, prepared by the parent: the child may not allocate. */
typedef struct child_args {
    const proc_options *o;
    int in, out, err; /* the ends that become 0, 1, 2 */
    pid_t parent;
    volatile int exec_errno; /* written by the child when execve fails (shared memory) */
} child_args;

static void close_from(int lowest)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = lowest; fd < (max > 0 ? max : 1024); fd++)
        close((int)fd);
}

/*
 * In the vfork child: only system calls from here to execve.  The child has
 * its own signal dispositions (no CLONE_SIGHAND), so resetting them does not
 * touch the host's.
 */
__attribute__((noinline)) static void child_exec(child_args *a)
{
    /* Dies with the host, even when the host is killed by SIGKILL. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent) /* the host died before the line above */
        _exit(127);
    setpgid(0, 0);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL); /* EINVAL for SIGKILL/SIGSTOP and glibc's own: fine */
    }
    if (dup2(a->in, 0) < 0 || dup2(a->out, 1) < 0 || dup2(a->err, 2) < 0) {
        a->exec_errno = errno;
        _exit(127);
    }
    close_from(3);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(a->o->program, a->o->argv, a->o->envp);
    a->exec_errno = errno ? errno : ENOEXEC;
    _exit(127);
}

/* Start the program with its pipes; 0 or an errno value. */
static int spawn(proc_state *s)
{
    const proc_options *o = s->o;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    int e = pipe_high(in);
    if (!e)
        e = pipe_high(out);
    if (!e && !o->merge_stderr)
        e = pipe_high(er);
    if (e)
        goto out;

    child_args a = {.o = o,
                    .in = in[0],
                    .out = out[1],
                    .err = o->merge_stderr ? out[1] : er[1],
                    .parent = getpid(),
                    .exec_errno = 0};
    /* No handler of the host may run on the child's borrowed stack before execve. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        child_exec(&a); /* does not return */
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        e = fork_errno;
        goto out;
    }
    s->pid = pid;
    if (a.exec_errno) {
        /* The child is gone already (it ran _exit); reap it so no zombie stays. */
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        s->pid = -1;
        e = a.exec_errno;
        goto out;
    }
    /* The parent sets the group too, so a kill sent at once reaches it (as shells do). */
    setpgid(pid, pid);
    s->fd_in = in[1];
    s->fd_out = out[0];
    s->fd_err = er[0];
    in[1] = out[0] = er[0] = -1;
    fcntl(s->fd_in, F_SETFL, O_NONBLOCK);
    fcntl(s->fd_out, F_SETFL, O_NONBLOCK);
    if (s->fd_err >= 0)
        fcntl(s->fd_err, F_SETFL, O_NONBLOCK);
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
 * Has the program exited?  Asked without reaping it: while its zombie
 * stays, its pid (the group's id) cannot be reused, so the group can still
 * be killed safely after the exit.
 */
static int exited(proc_state *s)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
        return si.si_pid == s->pid;
    if (errno == EINTR)
        return 0;
    s->res->reaped = -1; /* ECHILD: someone else reaped it (SIGCHLD ignored) */
    return 1;
}

/*
 * One poll() loop over stdin and the outputs until the run ends: with
 * until_exit, when the program exits (then what it or a child still writes
 * is read for a short grace period); otherwise when both outputs reach end
 * of file and the program has exited.  The deadline ends it either way.
 */
static void pump(proc_state *s)
{
    const proc_options *o = s->o;
    int64_t deadline = now_ms() + o->timeout_ms, grace_end = 0;
    int backoff = 1, exit_seen = 0;
    if (o->input_len == 0)
        close_fd(&s->fd_in);
    for (;;) {
        int outputs_open = s->fd_out >= 0 || s->fd_err >= 0;
        if (!exit_seen && (o->until_exit || !outputs_open) && exited(s)) {
            exit_seen = 1;
            close_fd(&s->fd_in);
            int64_t g = now_ms() + PROC_EXIT_GRACE_MS;
            grace_end = g < deadline ? g : deadline;
        }
        if (exit_seen && !outputs_open)
            break;
        int64_t now = now_ms();
        if (exit_seen && now >= grace_end)
            break; /* a child left behind still holds a pipe; it goes with the group */
        if (!exit_seen && now >= deadline) {
            kill_group(s, PROC_KILLED_TIMEOUT);
            break;
        }
        int64_t left = (exit_seen ? grace_end : deadline) - now;
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
        } else if (o->until_exit && !exit_seen && wait_ms > PROC_EXIT_POLL_MS) {
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
    /*
     * The call is over: whatever of its process group is left (a background
     * child, a daemon that did not setsid) is killed now, while the leader's
     * zombie still holds the group's id.
     */
    if (s->res->reaped == 0 && kill(-s->pid, SIGKILL) != 0 && errno != ESRCH)
        kill(s->pid, SIGKILL);
    reap(s);
    /* What a command printed just before it exited is often the most useful part. */
    if (s->fd_out >= 0)
        drain_rest(s, s->fd_out, o->on_stdout);
    if (s->fd_err >= 0)
        drain_rest(s, s->fd_err, o->on_stderr);
    close_fd(&s->fd_in);
    close_fd(&s->fd_out);
    close_fd(&s->fd_err);
}

/* ---- orphans adopted by a subreaper host ------------------------------------ */

/* The pids whose parent is this process, from /proc; *n of them, malloc'd (NULL when none). */
static pid_t *own_children(size_t *n)
{
    *n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return NULL;
    pid_t self = getpid(), *list = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[sizeof de->d_name + 16], text[512];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t got = read(fd, text, sizeof text - 1);
        close(fd);
        if (got <= 0)
            continue;
        text[got] = '\0';
        /* "pid (comm) state ppid ...": comm may hold ')' or spaces, so the last ')' counts. */
        const char *paren = strrchr(text, ')');
        char state;
        long ppid;
        if (!paren || sscanf(paren + 1, " %c %ld", &state, &ppid) != 2 || ppid != (long)self)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            pid_t *grown = realloc(list, cap * sizeof *grown);
            if (!grown)
                break;
            list = grown;
        }
        list[(*n)++] = (pid_t)strtol(de->d_name, NULL, 10);
    }
    closedir(d);
    return list;
}

static int in_list(const pid_t *list, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == pid)
            return 1;
    return 0;
}

/*
 * A host that is a child subreaper (PR_SET_CHILD_SUBREAPER; the skillhost
 * CLI is one) adopts what a program left behind in its own session (setsid
 * escapees) once their parents die.  Anything that became our child during
 * the run, other than the program itself, is such an orphan: killed and
 * reaped, round after round, as its own children are adopted in turn.
 */
static void kill_adopted(const pid_t *before, size_t nbefore, pid_t program)
{
    for (int round = 0; round < PROC_ORPHAN_ROUNDS; round++) {
        size_t n;
        pid_t *now = own_children(&n);
        int found = 0;
        for (size_t i = 0; i < n; i++) {
            if (now[i] == program || in_list(before, nbefore, now[i]))
                continue;
            found = 1;
            kill(now[i], SIGKILL);
            while (waitpid(now[i], NULL, 0) < 0 && errno == EINTR)
                ;
        }
        free(now);
        if (!found)
            return;
    }
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

    int subreaper = 0;
    size_t nbefore = 0;
    pid_t *before = NULL;
    if (prctl(PR_GET_CHILD_SUBREAPER, &subreaper) == 0 && subreaper)
        before = own_children(&nbefore);

    int e = spawn(&s);
    if (!e) {
        pump(&s);
        if (subreaper)
            kill_adopted(before, nbefore, s.pid);
    }
    free(before);

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
