/*
 * Process isolation for shared-object plugins (DESIGN §3.4).
 *
 * A plugin loaded with isolation "process" never maps into the host.  The
 * host forks one warm worker per loaded plugin; the worker loads the file
 * with plugin_so_load (the same trust check, hash and dlopen as inline) and
 * then answers calls over a socket until the host closes it.  The host
 * waits for each answer no longer than the call's deadline, so whatever
 * the plugin does (segfault, abort, exit(), an endless loop, printing to
 * stdout) the call ends with a categorised error (crash or timeout) and
 * the next call gets a fresh worker.
 *
 * The worker never touches the host's SQLite connection (its descriptors
 * are closed at once and the worker only ever leaves by _exit); it holds
 * the socket (fd 3), stdin from /dev/null, stdout on a pipe the host
 * watches, and the host's stderr.  Its rlimits: address space, open files
 * and file size from the config, and a CPU limit re-armed before each call
 * at the call's deadline (the wall-clock bound is the host's SIGKILL).
 *
 * Protocol (both ways): a frame is a type byte, a u32 length, and a payload
 * of fields (u32 numbers, f64 numbers, u32-length-prefixed strings with their
 * NUL).  host -> worker: CALL.  worker -> host: HELLO once, then per call any
 * number of STEP frames (breadcrumbs as they happen, so a crash keeps the
 * steps before it) and LOG frames (skh_log lines, written by the host), and
 * one DONE.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "error.h"
#include "loader.h"

enum { MSG_HELLO = 'H', MSG_CALL = 'C', MSG_STEP = 'S', MSG_LOG = 'L', MSG_DONE = 'D' };

/* No frame may be larger: bounds what a worker can make the host allocate. */
#define WORKER_MAX_FRAME (64u * 1024u * 1024u)
/* stdout bytes of one call copied to the host's stderr; the rest is counted. */
#define WORKER_STDOUT_ECHO 4096
/* How long a closing worker gets to run fini and leave before SIGKILL. */
#define WORKER_CLOSE_GRACE_MS 500
/* The socket's number in the worker. */
#define WORKER_FD 3
/* Breadcrumbs of one call go to memory shared with the host (see step_area). */
#define WORKER_STEP_AREA (64u * 1024u)

/*
 * Breadcrumbs without a round trip each: the worker appends [u32 length]
 * [name, NUL] entries and then publishes the new end in used (release); the
 * host reads up to used (acquire) when the call ends, however it ends, so
 * the steps before a crash are kept.  When a call's steps do not fit, the
 * rest travel as STEP frames, after the host has read the area.
 */
typedef struct step_area {
    uint32_t used;
    char data[WORKER_STEP_AREA - sizeof(uint32_t)];
} step_area;

static const char *const callback_names[] = {"execute", "score", "decide", "evolve"};

typedef struct worker_impl {
    plugin_limits lim; /* lim.lua_path is not kept: a worker runs no Lua */
    /*
     * The pin every worker loads against: the caller's, or once the first
     * worker has loaded the file, its sha256, so a restarted worker refuses a
     * file changed since then before mapping any of it.
     */
    char pin_sha256[65];
    char *pin_label;  /* may be NULL */
    pid_t pid;        /* 0: no live worker */
    int fd;           /* the socket; -1 with pid 0 */
    int out;          /* read end of the worker's stdout; -1 with pid 0 */
    unsigned has;     /* bit i: callback_names[i] exists */
    unsigned spawns;  /* workers started for this plugin */
    step_area *steps; /* shared with every worker forked after it was mapped */
    uint32_t steps_read;
    char *in; /* bytes read from the socket, not yet a whole frame */
    size_t in_len, in_cap;
} worker_impl;

/* ----------------------------------------------------------------- time */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------- buffers */

typedef struct wbuf {
    char *p;
    size_t n, cap;
    int oom;
} wbuf;

static void wb_put(wbuf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void wb_u32(wbuf *b, uint32_t v)
{
    wb_put(b, &v, sizeof v);
}

static void wb_f64(wbuf *b, double v)
{
    wb_put(b, &v, sizeof v);
}

/* A string with its NUL, so the reader can hand out pointers into the frame. */
static void wb_str(wbuf *b, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    if (n > WORKER_MAX_FRAME) {
        b->oom = 1;
        return;
    }
    wb_u32(b, (uint32_t)n);
    wb_put(b, s, n);
}

/* Start a frame: type and a length patched by wb_end. */
static void wb_begin(wbuf *b, int type)
{
    b->n = 0;
    b->oom = 0;
    char t = (char)type;
    wb_put(b, &t, 1);
    wb_u32(b, 0);
}

static int wb_end(wbuf *b)
{
    if (b->oom || b->n - 5 > WORKER_MAX_FRAME)
        return -1;
    uint32_t len = (uint32_t)(b->n - 5);
    memcpy(b->p + 1, &len, sizeof len);
    return 0;
}

typedef struct rbuf {
    const char *p;
    size_t n, off;
    int bad;
} rbuf;

static uint32_t rb_u32(rbuf *r)
{
    uint32_t v = 0;
    if (r->bad || r->n - r->off < sizeof v) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p + r->off, sizeof v);
    r->off += sizeof v;
    return v;
}

static double rb_f64(rbuf *r)
{
    double v = 0;
    if (r->bad || r->n - r->off < sizeof v) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p + r->off, sizeof v);
    r->off += sizeof v;
    return v;
}

static const char *rb_str(rbuf *r)
{
    uint32_t n = rb_u32(r);
    if (r->bad || n == 0 || r->n - r->off < n || r->p[r->off + n - 1] != '\0') {
        r->bad = 1;
        return "";
    }
    const char *s = r->p + r->off;
    r->off += n;
    return s;
}

/* ------------------------------------------------------------------- io */

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The worker's blocking read: 0, or -1 at EOF or on an error. */
static int recv_all(int fd, char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A whole frame into *payload (malloc'd); -1 on EOF, a bad length or no memory. */
static int recv_frame(int fd, int *type, char **payload, size_t *len)
{
    char head[5];
    *payload = NULL;
    if (recv_all(fd, head, sizeof head) != 0)
        return -1;
    uint32_t n;
    memcpy(&n, head + 1, sizeof n);
    if (n > WORKER_MAX_FRAME)
        return -1;
    char *p = malloc(n ? n : 1);
    if (!p || recv_all(fd, p, n) != 0) {
        free(p);
        return -1;
    }
    *type = (unsigned char)head[0];
    *payload = p;
    *len = n;
    return 0;
}

/* =====================================================================
 * The worker process
 * ===================================================================== */

static int worker_sock = -1;
static step_area *worker_steps;
static int worker_steps_full; /* this call's steps overflowed the area: frames from here on */

static void worker_send(wbuf *b)
{
    if (wb_end(b) != 0 || send_all(worker_sock, b->p, b->n) != 0)
        _exit(0); /* the host is gone or we cannot talk: nothing left to do */
}

/* skh_step in the worker: kept, and sent at once so a crash keeps what came before. */
static int worker_step(skh_call *call, const char *name)
{
    int rc = call_step(call, name);
    if (rc != SKH_PLUGIN_OK)
        return rc;
    size_t n = strlen(name) + 1;
    uint32_t used = __atomic_load_n(&worker_steps->used, __ATOMIC_RELAXED);
    if (!worker_steps_full && used <= sizeof worker_steps->data &&
        n + sizeof(uint32_t) <= sizeof worker_steps->data - used) {
        uint32_t n32 = (uint32_t)n;
        memcpy(worker_steps->data + used, &n32, sizeof n32);
        memcpy(worker_steps->data + used + sizeof n32, name, n);
        __atomic_store_n(&worker_steps->used, used + (uint32_t)(sizeof n32 + n), __ATOMIC_RELEASE);
    } else {
        worker_steps_full = 1;
        wbuf b = {0};
        wb_begin(&b, MSG_STEP);
        wb_str(&b, name);
        worker_send(&b);
        free(b.p);
    }
    return rc;
}

/* skh_log in the worker: the host writes it (and hands it to a request's observer). */
static void worker_vlog(skh_call *call, int level, const char *fmt, va_list ap)
{
    (void)call;
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    wbuf b = {0};
    wb_begin(&b, MSG_LOG);
    wb_u32(&b, (uint32_t)level);
    wb_str(&b, line);
    worker_send(&b);
    free(b.p);
}

static void set_limit(int resource, uint64_t value)
{
    struct rlimit rl;
    if (value == 0 || getrlimit(resource, &rl) != 0)
        return;
    rlim_t v = (rlim_t)value;
    if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max)
        v = rl.rlim_max;
    rl.rlim_cur = v;
    rl.rlim_max = v;
    setrlimit(resource, &rl);
}

/*
 * CPU seconds for the next call: the soft limit sits at what the worker has
 * used plus the call's time, so a warm worker's past calls do not count
 * against this one.  SIGXCPU ends a call that spins on the CPU even if the
 * host's clock were late; the host's kill at the deadline is the real bound.
 */
static void arm_cpu_limit(double timeout_ms)
{
    struct rusage ru;
    struct rlimit rl;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || getrlimit(RLIMIT_CPU, &rl) != 0)
        return;
    double used = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec + 1.0;
    double want = used + (timeout_ms > 0 ? ceil(timeout_ms / 1e3) : 86400.0) + 1.0;
    rlim_t v = (rlim_t)want;
    if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max)
        v = rl.rlim_max;
    rl.rlim_cur = v;
    setrlimit(RLIMIT_CPU, &rl);
}

/*
 * The default action for sig.  A sanitizer build intercepts signal() and
 * keeps its own SIGSEGV handler, which in a worker turns a plugin's fault
 * into a slow report and exit(1); there the kernel is asked directly.
 */
static void default_signal(int sig)
{
#if defined(__SANITIZE_ADDRESS__) && defined(__x86_64__) && defined(SYS_rt_sigaction)
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } ksa = {0};
    ksa.handler = (void *)SIG_DFL;
    syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof ksa.mask);
#else
    signal(sig, SIG_DFL);
#endif
}

/* Put the socket on WORKER_FD, stdin on /dev/null, stdout on its pipe; close the rest. */
static void worker_fds(int sock, int out)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* Move both out of the way of 0..3 before placing them. */
    int s = fcntl(sock, F_DUPFD_CLOEXEC, 10);
    int o = fcntl(out, F_DUPFD_CLOEXEC, 10);
    if (s < 0 || o < 0 || null < 0)
        _exit(127);
    if (dup2(null, 0) < 0 || dup2(o, 1) < 0 || dup2(s, WORKER_FD) < 0)
        _exit(127);
    /* Everything else (the database, other workers' sockets) is the host's. */
    if (close_range(WORKER_FD + 1, ~0u, 0) != 0)
        for (int fd = WORKER_FD + 1; fd < 1024 || fd <= s || fd <= o || fd <= null; fd++)
            close(fd);
    worker_sock = WORKER_FD;
}

static void worker_hello(const plugin *p, int rc, const skh_error *err)
{
    wbuf b = {0};
    wb_begin(&b, MSG_HELLO);
    wb_u32(&b, (uint32_t)-rc);
    if (rc != SKH_OK) {
        wb_u32(&b, (uint32_t)err->category);
        wb_str(&b, err->what);
        wb_str(&b, err->message);
    } else {
        unsigned has = 0;
        for (unsigned i = 0; i < sizeof callback_names / sizeof callback_names[0]; i++)
            if (p->ops->has(p, callback_names[i]))
                has |= 1u << i;
        wb_u32(&b, (uint32_t)p->kind);
        wb_u32(&b, has);
        wb_str(&b, p->name);
        wb_str(&b, p->version);
        wb_str(&b, p->description);
        wb_str(&b, p->patterns);
        wb_str(&b, p->sha256);
    }
    worker_send(&b);
    free(b.p);
}

/* Serve one CALL frame. */
static void worker_call(plugin *p, const skh_host_api *api, rbuf *r)
{
    const char *fn = rb_str(r);
    const char *input = rb_str(r);
    const char *content = rb_str(r);
    const char *patterns = rb_str(r);
    unsigned attempt = rb_u32(r);
    const char *context = rb_str(r);
    double timeout_ms = rb_f64(r);
    if (r->bad)
        _exit(126);

    skh_call call;
    skh_error err;
    error_clear(&err);
    call_init(&call, input, content, patterns, attempt, p->name);
    call.api = api;
    call.context = context;
    call.timeout_ms = timeout_ms;
    worker_steps_full = 0;
    arm_cpu_limit(timeout_ms);
    int rc = p->ops->invoke(p, fn, &call, &err);
    /* What the plugin printed must reach the host before DONE does. */
    fflush(stdout);

    wbuf b = {0};
    wb_begin(&b, MSG_DONE);
    if (rc != SKH_OK) {
        wb_u32(&b, SKH_ERR_INTERNAL);
        wb_str(&b, err.message);
    } else if (call.oom) {
        wb_u32(&b, SKH_ERR_INTERNAL);
        wb_str(&b, "out of memory in the isolation worker");
    } else if (call.category != SKH_ERR_NONE || !call.output) {
        wb_u32(&b, (uint32_t)(call.category ? call.category : SKH_ERR_INTERNAL));
        wb_str(&b, call.message ? call.message : "no output");
    } else {
        wb_u32(&b, SKH_ERR_NONE);
        wb_str(&b, call.output);
    }
    if (b.oom) {
        b.oom = 0;
        wb_begin(&b, MSG_DONE);
        wb_u32(&b, SKH_ERR_CRASH);
        wb_str(&b, "the answer is too large for the isolation worker's channel");
    }
    worker_send(&b);
    free(b.p);
    call_release(&call);
}

__attribute__((noreturn)) static void worker_main(const char *path, const plugin_limits *lim,
                                                  const plugin_pin *pin, step_area *steps, int sock,
                                                  int out, pid_t host)
{
    worker_steps = steps;
    /* Die with the host, and be killable as a group with whatever the plugin starts. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != host)
        _exit(0);
    setpgid(0, 0);
    __fpurge(stdout);
    worker_fds(sock, out);
    /*
     * The host's signal handlers are not the plugin's: a fault must end the
     * worker, not run an embedding program's handler (a test harness's
     * SIGSEGV handler would longjmp back into the harness, in the worker).
     */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            default_signal(sig);
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Address-space limits and the sanitizers' shadow memory do not mix. */
#if !defined(__SANITIZE_ADDRESS__)
    set_limit(RLIMIT_AS, lim->worker_memory);
#endif
    set_limit(RLIMIT_NOFILE, lim->worker_files);
    set_limit(RLIMIT_FSIZE, lim->worker_file_size);

    plugin_limits inl = *lim;
    inl.isolation = PLUGIN_ISOLATION_INLINE;
    plugin *p = NULL;
    skh_error err;
    error_clear(&err);
    arm_cpu_limit(lim->timeout_ms);
    /* The same verified load as inline: hashed, compared with the pin, then mapped. */
    int rc = plugin_so_load_pinned(path, &inl, pin, &p, &err);
    fflush(stdout);
    worker_hello(p, rc, &err);
    if (rc != SKH_OK)
        _exit(0);

    skh_host_api api = call_api;
    api.step = worker_step;
    api.vlog = worker_vlog;
    for (;;) {
        int type;
        char *payload;
        size_t len;
        if (recv_frame(worker_sock, &type, &payload, &len) != 0)
            break; /* the host closed the plugin */
        if (type != MSG_CALL)
            _exit(126);
        rbuf r = {.p = payload, .n = len};
        worker_call(p, &api, &r);
        free(payload);
    }
    arm_cpu_limit(WORKER_CLOSE_GRACE_MS);
    plugin_close(p);
    fflush(stdout);
    _exit(0);
}

/* =====================================================================
 * The host side
 * ===================================================================== */

/* What a worker's end looks like in a message. */
static void describe_status(int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(buf, n, "killed by signal %d (SIG%s)", sig, abbrev ? abbrev : "?");
    } else if (WIFEXITED(status)) {
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, n, "ended (wait status %d)", status);
    }
}

/* Kill the worker (and what it started), reap it, forget it; *status as waitpid. */
static void worker_kill(worker_impl *w, int *status)
{
    int st = 0;
    if (w->pid > 0) {
        kill(-w->pid, SIGKILL);
        kill(w->pid, SIGKILL);
        while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    if (w->fd >= 0)
        close(w->fd);
    if (w->out >= 0)
        close(w->out);
    w->pid = 0;
    w->fd = w->out = -1;
    w->in_len = 0;
    if (status)
        *status = st;
}

/* The worker is gone or going (EOF): reap it and say how it ended. */
static void worker_reap(worker_impl *w, char *buf, size_t n)
{
    int st = 0;
    pid_t pid = w->pid;
    /* EOF came first; the exit follows at once, but do not wait on a process that lingers. */
    double until = mono_ms() + 200;
    pid_t got = 0;
    while (pid > 0 && (got = waitpid(pid, &st, WNOHANG)) == 0 && mono_ms() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (got == pid) {
        w->pid = 0; /* reaped: nothing left to kill */
        worker_kill(w, NULL);
        describe_status(st, buf, n);
    } else {
        worker_kill(w, &st);
        snprintf(buf, n, "closed its channel");
    }
}

/* Copy what the worker printed on stdout to stderr; returns the bytes read. */
static size_t drain_stdout(worker_impl *w, const char *name, size_t *echoed)
{
    size_t total = 0;
    char buf[4096];
    while (w->out >= 0) {
        ssize_t k = read(w->out, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0) {
            /* The worker closed its stdout: nothing more will come, stop polling it. */
            close(w->out);
            w->out = -1;
        }
        if (k <= 0)
            break;
        if (*echoed < WORKER_STDOUT_ECHO) {
            size_t show = (size_t)k;
            if (show > WORKER_STDOUT_ECHO - *echoed)
                show = WORKER_STDOUT_ECHO - *echoed;
            if (*echoed == 0 && total == 0)
                fprintf(stderr, "skillhost: %s: wrote to stdout:\n", name);
            fwrite(buf, 1, show, stderr);
            *echoed += show;
        }
        total += (size_t)k;
    }
    return total;
}

/*
 * Wait for one frame until deadline (ms, monotonic; INFINITY for none),
 * draining the worker's stdout meanwhile.  0 with the frame; 1 on timeout;
 * -1 on EOF, a broken frame or no memory.  Reads as much as is there, so
 * an answer costs one poll and one read.
 */
static int wait_frame(worker_impl *w, const char *name, double deadline, int *type, char **payload,
                      size_t *len, size_t *printed, size_t *echoed)
{
    *payload = NULL;
    for (;;) {
        size_t want = 4096;
        if (w->in_len >= 5) {
            uint32_t n;
            memcpy(&n, w->in + 1, sizeof n);
            if (n > WORKER_MAX_FRAME)
                return -1;
            if (w->in_len >= 5 + (size_t)n) {
                char *body = malloc(n ? n : 1);
                if (!body)
                    return -1;
                memcpy(body, w->in + 5, n);
                *type = (unsigned char)w->in[0];
                w->in_len -= 5 + (size_t)n;
                memmove(w->in, w->in + 5 + n, w->in_len);
                *payload = body;
                *len = n;
                return 0;
            }
            want = 5 + (size_t)n - w->in_len;
        }
        if (w->in_cap - w->in_len < want) {
            size_t cap = w->in_cap ? w->in_cap : 65536;
            while (cap - w->in_len < want)
                cap *= 2;
            char *grown = realloc(w->in, cap);
            if (!grown)
                return -1;
            w->in = grown;
            w->in_cap = cap;
        }
        double left = deadline - mono_ms();
        if (left <= 0)
            return 1;
        struct pollfd pf[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = w->out, .events = POLLIN}};
        int ms = isinf(left) ? -1 : (int)ceil(left > 1e9 ? 1e9 : left);
        int k = poll(pf, 2, ms);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (pf[1].revents & (POLLIN | POLLHUP))
            *printed += drain_stdout(w, name, echoed);
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t got = read(w->fd, w->in + w->in_len, w->in_cap - w->in_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        w->in_len += (size_t)got;
    }
}

/* Hand the breadcrumbs the worker left in the shared area to the call, in order. */
static void drain_steps(worker_impl *w, skh_call *call)
{
    uint32_t used = __atomic_load_n(&w->steps->used, __ATOMIC_ACQUIRE);
    if (used > sizeof w->steps->data)
        used = sizeof w->steps->data;
    while (w->steps_read + sizeof(uint32_t) <= used) {
        uint32_t n;
        memcpy(&n, w->steps->data + w->steps_read, sizeof n);
        const char *name = w->steps->data + w->steps_read + sizeof n;
        if (n == 0 || n > used - w->steps_read - sizeof n || name[n - 1] != '\0')
            break; /* not what the worker writes: ignore the rest */
        call_step(call, name);
        w->steps_read += (uint32_t)(sizeof n + n);
    }
    w->steps_read = used;
}

static int worker_spawn(plugin *p, worker_impl *w, skh_error *err);

static double call_deadline(const worker_impl *w, const skh_call *call)
{
    double t = call->timeout_ms > 0 ? call->timeout_ms : w->lim.timeout_ms;
    return t > 0 ? mono_ms() + t : INFINITY;
}

/* End the call with the worker's death (or silence) as its error. */
static void fail_dead(plugin *p, worker_impl *w, const char *fn, skh_call *call, int timed_out,
                      double timeout_ms)
{
    char how[128], msg[512];
    int category = SKH_ERR_CRASH;
    if (timed_out) {
        worker_kill(w, NULL);
        snprintf(msg, sizeof msg, "%s: %s did not answer within %.0f ms; its worker was killed",
                 p->name, fn, timeout_ms);
        category = SKH_ERR_TIMEOUT;
    } else {
        worker_reap(w, how, sizeof how);
        /* The CPU limit is a time limit too. */
        if (strstr(how, "SIGXCPU"))
            category = SKH_ERR_TIMEOUT;
        snprintf(msg, sizeof msg, "%s: the isolation worker %s during %s%s", p->name, how, fn,
                 strstr(how, "exited") ? " (a plugin must not call exit)" : "");
    }
    /* Whatever the plugin reported before it died no longer stands. */
    free(call->output);
    call->output = NULL;
    free(call->message);
    call->message = NULL;
    call->finished = 0;
    call->category = SKH_ERR_NONE;
    call_fail(call, category, msg);
}

static int wk_invoke(plugin *p, const char *fn, skh_call *call, skh_error *err)
{
    worker_impl *w = p->impl;
    unsigned bit = 0;
    for (; bit < sizeof callback_names / sizeof callback_names[0]; bit++)
        if (fn && strcmp(fn, callback_names[bit]) == 0)
            break;
    if (bit == sizeof callback_names / sizeof callback_names[0] || !(w->has & (1u << bit)))
        return error_set(err, SKH_EPLUGIN, p->path, "plugin %s has no %s callback", p->name,
                         fn ? fn : "(null)");

    wbuf b = {0};
    wb_begin(&b, MSG_CALL);
    wb_str(&b, fn);
    wb_str(&b, call->input);
    wb_str(&b, call->content);
    wb_str(&b, call->patterns);
    wb_u32(&b, call->attempt);
    wb_str(&b, call->context ? call->context : "{}");
    double timeout = call->timeout_ms > 0 ? call->timeout_ms : w->lim.timeout_ms;
    wb_f64(&b, timeout);
    if (wb_end(&b) != 0) {
        free(b.p);
        return error_set(err, SKH_ENOMEM, p->path, "%s: out of memory sending a call", p->name);
    }

    /* A worker that died between calls (or never started) is replaced first. */
    int sent = -1;
    for (int tries = 0; tries < 2 && sent != 0; tries++) {
        if (w->pid <= 0) {
            skh_error serr;
            error_clear(&serr);
            if (worker_spawn(p, w, &serr) != SKH_OK) {
                free(b.p);
                char msg[sizeof serr.message + 64];
                snprintf(msg, sizeof msg, "isolation worker could not start: %s", serr.message);
                call_fail(call, SKH_ERR_CRASH, msg);
                return SKH_OK;
            }
        }
        __atomic_store_n(&w->steps->used, 0, __ATOMIC_RELEASE);
        w->steps_read = 0;
        sent = send_all(w->fd, b.p, b.n);
        if (sent != 0)
            worker_kill(w, NULL);
    }
    free(b.p);
    double deadline = call_deadline(w, call);
    call->output_max = w->lim.output_max; /* the worker's side checks it too */
    if (sent != 0) {
        fail_dead(p, w, fn, call, 0, timeout);
        return SKH_OK;
    }

    size_t printed = 0, echoed = 0;
    for (;;) {
        int type = 0;
        char *payload = NULL;
        size_t len = 0;
        int rc = wait_frame(w, p->name, deadline, &type, &payload, &len, &printed, &echoed);
        if (rc != 0) {
            drain_steps(w, call);
            fail_dead(p, w, fn, call, rc == 1, timeout);
            return SKH_OK;
        }
        rbuf r = {.p = payload, .n = len};
        if (type == MSG_STEP) {
            drain_steps(w, call); /* the area's steps came first */
            call_step(call, rb_str(&r));
            free(payload);
            continue;
        }
        if (type == MSG_LOG) {
            int level = (int)rb_u32(&r);
            call_log(call, level, "%s", rb_str(&r));
            free(payload);
            continue;
        }
        if (type != MSG_DONE) {
            free(payload);
            worker_kill(w, NULL);
            call_fail(call, SKH_ERR_CRASH, "the isolation worker broke the protocol");
            return SKH_OK;
        }
        drain_steps(w, call);
        int category = (int)rb_u32(&r);
        const char *text = rb_str(&r);
        if (r.bad) {
            free(payload);
            worker_kill(w, NULL);
            call_fail(call, SKH_ERR_CRASH, "the isolation worker sent a broken answer");
            return SKH_OK;
        }
        /* What was printed just before DONE is in the pipe already. */
        printed += drain_stdout(w, p->name, &echoed);
        if (printed > 0) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "%s: %s wrote %zu bytes to stdout (shown on stderr); a plugin answers "
                     "through skh_output only",
                     p->name, fn, printed);
            call_fail(call, SKH_ERR_CRASH, msg);
        } else if (category == SKH_ERR_NONE) {
            call_output(call, text);
        } else {
            call_fail(call, category, text);
        }
        free(payload);
        return SKH_OK;
    }
}

static int wk_has(const plugin *p, const char *fn)
{
    const worker_impl *w = p->impl;
    for (unsigned i = 0; fn && i < sizeof callback_names / sizeof callback_names[0]; i++)
        if (strcmp(fn, callback_names[i]) == 0)
            return (w->has >> i) & 1u;
    return 0;
}

/* Close the channel; the worker runs fini and leaves, or is killed after a grace period. */
static void worker_stop(worker_impl *w)
{
    if (w->pid <= 0)
        return;
    close(w->fd);
    w->fd = -1;
    double until = mono_ms() + WORKER_CLOSE_GRACE_MS;
    int st;
    for (;;) {
        pid_t got = waitpid(w->pid, &st, WNOHANG);
        if (got == w->pid || (got < 0 && errno != EINTR)) {
            w->pid = 0;
            break;
        }
        if (mono_ms() >= until)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    worker_kill(w, NULL);
}

static void wk_close(plugin *p)
{
    if (!p)
        return;
    worker_impl *w = p->impl;
    if (w) {
        worker_stop(w);
        if (w->steps)
            munmap(w->steps, sizeof *w->steps);
        free(w->in);
        free(w->pin_label);
        free(w);
    }
    plugin_free_common(p);
    free(p);
}

static const struct plugin_ops worker_ops = {
    .invoke = wk_invoke,
    .has = wk_has,
    .close = wk_close,
};

/*
 * Start a worker for p->path and read its HELLO.  The first start fills p's
 * descriptor fields; a restart must find the same file (same sha256).
 */
static int worker_spawn(plugin *p, worker_impl *w, skh_error *err)
{
    const char *path = p->path;
    int sv[2], pipefd[2];
    if (!w->steps) {
        void *area =
            mmap(NULL, sizeof *w->steps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (area == MAP_FAILED)
            return error_set(err, SKH_EPLUGIN, path, "cannot start an isolation worker: mmap: %s",
                             strerror(errno));
        w->steps = area;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return error_set(err, SKH_EPLUGIN, path, "cannot start an isolation worker: socketpair: %s",
                         strerror(errno));
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return error_set(err, SKH_EPLUGIN, path, "cannot start an isolation worker: pipe: %s",
                         strerror(e));
    }
    /* Nothing the host has buffered may be written twice. */
    fflush(stdout);
    fflush(stderr);
    pid_t host = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        close(pipefd[0]);
        close(pipefd[1]);
        return error_set(err, SKH_EPLUGIN, path, "cannot start an isolation worker: fork: %s",
                         strerror(e));
    }
    if (pid == 0) {
        close(sv[0]);
        close(pipefd[0]);
        plugin_pin pin = {.sha256 = w->pin_sha256, .label = w->pin_label};
        worker_main(path, &w->lim, &pin, w->steps, sv[1], pipefd[1], host);
    }
    close(sv[1]);
    close(pipefd[1]);
    w->pid = pid;
    w->fd = sv[0];
    w->out = pipefd[0];
    w->spawns++;
    fcntl(w->out, F_SETFL, fcntl(w->out, F_GETFL) | O_NONBLOCK);

    int type = 0;
    char *payload = NULL;
    size_t len = 0, printed = 0, echoed = 0;
    double deadline = w->lim.timeout_ms > 0 ? mono_ms() + w->lim.timeout_ms : INFINITY;
    int rc = wait_frame(w, *p->name ? p->name : path, deadline, &type, &payload, &len, &printed,
                        &echoed);
    if (rc != 0 || type != MSG_HELLO) {
        free(payload);
        char how[128];
        if (rc == 1) {
            worker_kill(w, NULL);
            return error_set_category(err, SKH_EPLUGIN, SKH_ERR_TIMEOUT, path,
                                      "loading did not finish within %.0f ms in the isolation "
                                      "worker; it was killed",
                                      w->lim.timeout_ms);
        }
        worker_reap(w, how, sizeof how);
        return error_set_category(err, SKH_EPLUGIN, SKH_ERR_CRASH, path,
                                  "the isolation worker %s while loading the plugin", how);
    }
    rbuf r = {.p = payload, .n = len};
    int code = -(int)rb_u32(&r);
    rc = SKH_OK;
    if (code != SKH_OK) {
        int category = (int)rb_u32(&r);
        const char *what = rb_str(&r);
        const char *message = rb_str(&r);
        if (code < SKH_ENOMEM || code > SKH_OK)
            code = SKH_EPLUGIN;
        rc = error_set_category(err, code, category, *what ? what : path, "%s", message);
    } else {
        int kind = (int)rb_u32(&r);
        unsigned has = rb_u32(&r);
        const char *name = rb_str(&r), *version = rb_str(&r), *description = rb_str(&r);
        const char *patterns = rb_str(&r), *sha = rb_str(&r);
        if (r.bad || !plugin_kind_name(kind) || strlen(sha) != 64) {
            rc = error_set(err, SKH_EPLUGIN, path, "the isolation worker sent a broken descriptor");
        } else if (w->spawns == 1) {
            char *keep = p->path;
            p->path = NULL;
            plugin_free_common(p);
            rc = plugin_fill_common(p, keep, kind, name, version, description, patterns, err);
            free(keep);
            path = p->path;
            memcpy(p->sha256, sha, 65);
            if (!w->pin_sha256[0])
                memcpy(w->pin_sha256, sha, 65);
            w->has = has;
        } else if (strcmp(sha, p->sha256) != 0) {
            rc = error_set(err, SKH_EPLUGIN, path,
                           "changed since it was loaded (sha256 %.12s..., now %.12s...)", p->sha256,
                           sha);
        }
    }
    free(payload);
    if (rc != SKH_OK)
        worker_stop(w);
    return rc;
}

int plugin_worker_load(const char *path, const plugin_limits *lim, const plugin_pin *pin,
                       plugin **out, skh_error *err)
{
    *out = NULL;
    if (!path || !*path)
        return error_set(err, SKH_EINVAL, "plugin", "empty plugin path");
    plugin *p = calloc(1, sizeof *p);
    worker_impl *w = calloc(1, sizeof *w);
    if (!p || !w) {
        free(p);
        free(w);
        return error_set(err, SKH_ENOMEM, path, "out of memory");
    }
    if (lim)
        w->lim = *lim;
    else
        plugin_limits_default(&w->lim);
    w->lim.lua_path = NULL;
    w->fd = w->out = -1;
    p->impl = w;
    p->ops = &worker_ops;
    int rc = plugin_fill_common(p, path, 0, "", "", "", "", err);
    if (rc == SKH_OK && pin && pin->sha256 && *pin->sha256)
        snprintf(w->pin_sha256, sizeof w->pin_sha256, "%s", pin->sha256);
    if (rc == SKH_OK && pin && pin->label && !(w->pin_label = strdup(pin->label)))
        rc = error_set(err, SKH_ENOMEM, path, "out of memory");
    if (rc == SKH_OK)
        rc = worker_spawn(p, w, err);
    if (rc != SKH_OK) {
        wk_close(p);
        return rc;
    }
    *out = p;
    return SKH_OK;
}
