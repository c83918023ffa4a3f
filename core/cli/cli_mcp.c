/* skillhost mcp [--http HOST:PORT] [...]: serve the workspace's skills as MCP tools. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mcp/mcp.h"

#define MAX_ORIGINS 32

static void on_signal(int sig)
{
    (void)sig;
    mcp_stopping = 1;
}

/*
 * The bearer token: the file's first line, without surrounding blanks.  A
 * file others may read is refused, as ssh refuses a readable private key.
 */
static int read_token(const cli *c, const char *path, char **out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cli_usage(c, "mcp", "--token-file %s: %s", path, strerror(errno));
    if (st.st_mode & 077)
        return cli_usage(c, "mcp",
                         "--token-file %s: readable by group or others (mode %03o); chmod 600 it",
                         path, (unsigned)(st.st_mode & 0777));
    skh_error err;
    char *text = NULL;
    char arg[4200];
    snprintf(arg, sizeof arg, "@%s", path);
    if (cli_read_arg(arg, "--token-file", &text, &err))
        return cli_error(c, &err);
    char *s = text, *e;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    for (e = s; *e && *e != '\n' && *e != '\r'; e++)
        ;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *e = '\0';
    if (!*s) {
        free(text);
        return cli_usage(c, "mcp", "--token-file %s: empty", path);
    }
    memmove(text, s, strlen(s) + 1);
    *out = text;
    return 0;
}

int cmd_mcp(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"http", required_argument, NULL, 'H'},
        {"endpoint", required_argument, NULL, 'e'},
        {"token-file", required_argument, NULL, 't'},
        {"allow-origin", required_argument, NULL, 'o'},
        {"max-body", required_argument, NULL, 'b'},
        {"max-clients", required_argument, NULL, 'c'},
        {"ready-fd", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mcp_options mo = {.ready_fd = -1};
    const char *origins[MAX_ORIGINS];
    const char *token_file = NULL;
    char *end;
    int ch;
    cli_take_globals(c, &argc, argv, opts, 0);
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            mo.listen = optarg;
            break;
        case 'e':
            if (optarg[0] != '/')
                return cli_usage(c, "mcp", "--endpoint: a path starting with '/', got '%s'",
                                 optarg);
            mo.endpoint = optarg;
            break;
        case 't':
            token_file = optarg;
            break;
        case 'o':
            if (mo.norigins == MAX_ORIGINS)
                return cli_usage(c, "mcp", "--allow-origin: at most %d", MAX_ORIGINS);
            origins[mo.norigins++] = optarg;
            break;
        case 'b': {
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1024 || v > (1ull << 30))
                return cli_usage(c, "mcp", "--max-body: bytes, 1024..1073741824, got '%s'", optarg);
            mo.max_body = (size_t)v;
            break;
        }
        case 'c': {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || v > 1024)
                return cli_usage(c, "mcp", "--max-clients: 1..1024, got '%s'", optarg);
            mo.max_clients = (int)v;
            break;
        }
        case 'r': {
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > 1 << 20)
                return cli_usage(c, "mcp", "--ready-fd: a file descriptor, got '%s'", optarg);
            mo.ready_fd = (int)v;
            break;
        }
        case 'h':
            return cli_help(cli_verb_find("mcp"));
        case ':':
            return cli_usage(c, "mcp", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage(c, "mcp", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage(c, "mcp", "unexpected argument '%s'", argv[optind]);
    if (!mo.listen && (token_file || mo.norigins || mo.endpoint || mo.max_clients))
        return cli_usage(c, "mcp",
                         "--token-file, --allow-origin, --endpoint and --max-clients "
                         "need --http");
    mo.origins = origins;

    char *token = NULL;
    int rc = token_file ? read_token(c, token_file, &token) : 0;
    if (rc)
        return rc;
    mo.token = token;
    rc = cli_open(c, 0);
    if (rc) {
        free(token);
        return rc;
    }
    mo.host = c->host;
    mo.db = skh_host_db_path(c->host);
    mo.policies = c->policies;
    mo.quiet = c->quiet;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A client that goes away mid-answer is a failed write, not the end of the server. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    skh_error err;
    rc = mo.listen ? mcp_serve_http(&mo, &err) : mcp_serve_stdio(&mo, &err);
    free(token);
    return rc ? cli_error(c, &err) : 0;
}
