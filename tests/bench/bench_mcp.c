/*
 * MCP figures for scripts/bench, each a ratio against a baseline measured
 * in the same run:
 *
 *   1. a warm mcp: skill's call (plugin_mcp.c: JSON-RPC framing, parsing,
 *      output mapping) against the same tools/call written to the same
 *      server's pipe by hand: the overhead per call (target <= 0.3 ms);
 *   2. the warm mcp: skill against the same program as an exec: skill,
 *      one interpreter start per request (target >= 20x);
 *   3. skillhost mcp's throughput, tools/call of the C keyword classifier
 *      per second over stdio and over HTTP, against skh_execute in process.
 *
 *   bench_mcp N SKILLHOST NODE ECHO_SERVER_JS
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <skillhost/host.h>

#include "call.h"
#include "loader.h"

extern char **environ;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_mcp: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A child with its stdin and stdout on pipes (and fd 3 on a third, for --ready-fd). */
typedef struct child {
    pid_t pid;
    FILE *to, *from;
    int ready;
} child;

static child start(char *const argv[], int with_ready)
{
    int in[2], out[2], rd[2] = {-1, -1};
    if (pipe(in) || pipe(out) || (with_ready && pipe(rd)))
        die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (with_ready)
        posix_spawn_file_actions_adddup2(&fa, rd[1], 3);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    child c = {0};
    if (posix_spawn(&c.pid, argv[0], &fa, NULL, argv, environ) != 0)
        die(argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    c.to = fdopen(in[1], "w");
    c.from = fdopen(out[0], "r");
    c.ready = rd[0];
    if (with_ready)
        close(rd[1]);
    return c;
}

static void stop(child *c)
{
    fclose(c->to);
    kill(c->pid, SIGTERM);
    waitpid(c->pid, NULL, 0);
    fclose(c->from);
    if (c->ready >= 0)
        close(c->ready);
}

/* One request line, one answer line (notifications skipped). */
static void rpc(child *c, const char *line, char **buf, size_t *cap)
{
    fputs(line, c->to);
    fputc('\n', c->to);
    fflush(c->to);
    for (;;) {
        if (getline(buf, cap, c->from) < 0)
            die("reading the server's answer");
        if (strstr(*buf, "\"id\""))
            return;
    }
}

static const char INIT[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}";

static double plugin_calls(plugin *p, int n)
{
    skh_error err;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        skh_call call;
        call_init(&call, "{\"message\":\"hello\"}", "", "[]", 1, p->name);
        if (p->ops->invoke(p, "execute", &call, &err) != SKH_OK || !call.output) {
            fprintf(stderr, "bench_mcp: %s: %s\n", p->path,
                    call.message ? call.message : err.message);
            exit(1);
        }
        call_release(&call);
    }
    return now_ms() - t0;
}

static double pipe_calls(child *c, int n)
{
    char *buf = NULL;
    size_t cap = 0;
    char line[256];
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"echo\",\"arguments\":{\"message\":\"hello\"}}}",
                 i + 1);
        rpc(c, line, &buf, &cap);
    }
    free(buf);
    return now_ms() - t0;
}

/* ---- HTTP: a keep-alive client good enough for JSON answers with Content-Length ---- */

static int http_post(int fd, int port, const char *sid, const char *body, char *out, size_t outsz,
                     char *sid_out)
{
    char req[4096];
    int n = snprintf(
        req, sizeof req,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        "Accept: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n%s",
        port, sid ? "Mcp-Session-Id: " : "", sid ? sid : "", sid ? "\r\n" : "", strlen(body), body);
    if (write(fd, req, (size_t)n) != n)
        die("write");
    size_t got = 0;
    char *end = NULL;
    while (!(end = strstr(out, "\r\n\r\n"))) {
        ssize_t r = read(fd, out + got, outsz - got - 1);
        if (r <= 0)
            die("read");
        got += (size_t)r;
        out[got] = '\0';
    }
    char *cl = strcasestr(out, "Content-Length:");
    size_t len = cl ? strtoul(cl + 15, NULL, 10) : 0;
    size_t head = (size_t)(end + 4 - out);
    while (got < head + len) {
        ssize_t r = read(fd, out + got, outsz - got - 1);
        if (r <= 0)
            die("read body");
        got += (size_t)r;
        out[got] = '\0';
    }
    if (sid_out) {
        char *s = strcasestr(out, "Mcp-Session-Id: ");
        if (s)
            sscanf(s + 16, "%32s", sid_out);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_mcp N SKILLHOST NODE ECHO_SERVER_JS\n");
        return 2;
    }
    int n = atoi(argv[1]);
    const char *skillhost = argv[2], *node = argv[3], *js = argv[4];
    signal(SIGPIPE, SIG_IGN);
    plugin_limits lim;
    plugin_limits_default(&lim);
    lim.check_trust = 0;
    skh_error err;
    char impl[4096];

    /* 1. The warm mcp: skill vs the same call written to the pipe by hand. */
    plugin *mcp = NULL;
    snprintf(impl, sizeof impl, "mcp:%s %s mcp#echo", node, js);
    if (plugin_load(impl, &lim, &mcp, &err) != SKH_OK) {
        fprintf(stderr, "bench_mcp: %s: %s\n", err.what, err.message);
        return 1;
    }
    char *args[] = {(char *)node, (char *)js, (char *)"mcp", NULL};
    child direct = start(args, 0);
    char *buf = NULL;
    size_t cap = 0;
    rpc(&direct, INIT, &buf, &cap);
    plugin_calls(mcp, 200); /* warm: the server started, JIT warmed up */
    pipe_calls(&direct, 200);
    double t_plugin = 0, t_pipe = 0;
    int rounds = 20, per = n / rounds > 0 ? n / rounds : 1;
    for (int r = 0; r < rounds; r++) {
        if (r % 2) {
            t_plugin += plugin_calls(mcp, per);
            t_pipe += pipe_calls(&direct, per);
        } else {
            t_pipe += pipe_calls(&direct, per);
            t_plugin += plugin_calls(mcp, per);
        }
    }
    int calls = rounds * per;
    stop(&direct);
    double per_plugin = t_plugin / calls, per_pipe = t_pipe / calls;
    printf("mcp: skill, warm (node %s, %d calls each, alternating):\n", js, calls);
    printf("  mcp: plugin call (plugin_mcp.c)           %8.3f ms\n", per_plugin);
    printf("  the same tools/call over the pipe by hand %8.3f ms\n", per_pipe);
    printf("  overhead per call                         %8.3f ms   (target <= 0.3)\n",
           per_plugin - per_pipe);

    /* 2. The warm mcp: skill vs the same program as an exec: skill. */
    plugin *ex = NULL;
    snprintf(impl, sizeof impl, "exec:%s %s exec", node, js);
    if (plugin_load(impl, &lim, &ex, &err) != SKH_OK) {
        fprintf(stderr, "bench_mcp: %s: %s\n", err.what, err.message);
        return 1;
    }
    int spawns = n / 50 > 10 ? n / 50 : 10;
    double t_exec = plugin_calls(ex, spawns) / spawns;
    printf("\nmcp: vs exec: (the same node program, %d exec: calls):\n", spawns);
    printf("  exec: (an interpreter start per request)  %8.3f ms\n", t_exec);
    printf("  mcp: (warm)                               %8.3f ms\n", per_plugin);
    printf("  ratio exec:/mcp:                          %8.1f x  (target >= 20)\n",
           t_exec / per_plugin);
    plugin_close(ex);
    plugin_close(mcp);

    /* 3. Throughput of skillhost mcp against skh_execute in process. */
    char dir[] = "/tmp/skh-bench-mcp.XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    char db[512];
    snprintf(db, sizeof db, "%s/skillhost.db", dir);
    skh_host_options ho = {.struct_size = sizeof ho, .db_path = db, .create = 1};
    skh_host *host = NULL;
    char *path = NULL, *vid = NULL;
    if (skh_host_open(&ho, &host, &err) ||
        skh_plugin_resolve(host, "keyword_classifier.so", &path, &err)) {
        fprintf(stderr, "bench_mcp: %s: %s\n", err.what, err.message);
        return 1;
    }
    skh_variant_spec vs = {
        .struct_size = sizeof vs, .skill = "spam", .impl = path, .state = "production"};
    if (skh_variant_add(host, &vs, &vid, &err)) {
        fprintf(stderr, "bench_mcp: %s: %s\n", err.what, err.message);
        return 1;
    }
    skh_free(vid);
    skh_free(path);
    const char *input = "{\"text\":\"win free money now\"}";
    int m = n / 2 > 50 ? n / 2 : 50;
    double t0 = 0;
    for (int i = -20; i < m; i++) { /* 20 warm-up calls: the plugin loaded, the cache filled */
        if (i == 0)
            t0 = now_ms();
        skh_result *res = NULL;
        skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
        if (skh_execute(host, "spam", input, &eo, &res, &err) != SKH_OK) {
            fprintf(stderr, "bench_mcp: skh_execute: %s\n", err.message);
            return 1;
        }
        skh_result_free(res);
    }
    double t_inproc = now_ms() - t0;
    skh_host_close(host);

    char *sargs[] = {(char *)skillhost, (char *)"--db", db, (char *)"mcp", NULL};
    child sv = start(sargs, 0);
    rpc(&sv, INIT, &buf, &cap);
    char line[256];
    t0 = now_ms();
    for (int i = 0; i < m; i++) {
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"spam\",\"arguments\":{\"text\":\"win free money now\"}}}",
                 i + 1);
        rpc(&sv, line, &buf, &cap);
    }
    double t_stdio = now_ms() - t0;
    stop(&sv);

    char *hargs[] = {(char *)skillhost,
                     (char *)"--db",
                     db,
                     (char *)"-q",
                     (char *)"mcp",
                     (char *)"--http",
                     (char *)"127.0.0.1:0",
                     (char *)"--ready-fd",
                     (char *)"3",
                     NULL};
    child hv = start(hargs, 1);
    char portbuf[32] = "";
    ssize_t pr = read(hv.ready, portbuf, sizeof portbuf - 1);
    int port = pr > 0 ? atoi(portbuf) : 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!port || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connecting to skillhost mcp --http");
    static char resp[1 << 20];
    char sid[40] = "";
    resp[0] = '\0';
    http_post(fd, port, NULL, INIT, resp, sizeof resp, sid);
    t0 = now_ms();
    for (int i = 0; i < m; i++) {
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"spam\",\"arguments\":{\"text\":\"win free money now\"}}}",
                 i + 1);
        resp[0] = '\0';
        http_post(fd, port, sid, line, resp, sizeof resp, NULL);
        if (!strstr(resp, "\"isError\":false")) {
            fprintf(stderr, "bench_mcp: HTTP answer: %.300s\n", resp);
            return 1;
        }
    }
    double t_http = now_ms() - t0;
    close(fd);
    stop(&hv);

    printf("\nskillhost mcp throughput (keyword_classifier.so, %d calls each, recorded):\n", m);
    printf("  skh_execute in process                    %8.0f calls/s\n", m / t_inproc * 1000);
    printf("  tools/call over stdio                     %8.0f calls/s   (%.2f of in-process)\n",
           m / t_stdio * 1000, t_inproc / t_stdio);
    printf("  tools/call over HTTP (keep-alive, JSON)   %8.0f calls/s   (%.2f of in-process)\n",
           m / t_http * 1000, t_inproc / t_http);
    free(buf);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_mcp: could not remove %s\n", dir);
    return 0;
}
