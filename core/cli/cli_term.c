/*
 * User text shown on a terminal is shown, never obeyed (issue 9 item 15): a
 * description, a reason or a plugin's message may hold escape sequences
 * that would recolour, retitle or rewrite the user's terminal.  When stdout
 * or stderr is a terminal, it is wrapped in a stream that writes control
 * characters as visible escapes: C0 controls other than newline and tab,
 * and DEL, as \xHH; the C1 controls U+0080..U+009F (which some terminals
 * obey as CSI and OSC) as \uHHHH, which is also what JSON would say.
 * Pipes and files get the bytes unchanged, so scripts see exactly what was
 * stored.
 */
#define _GNU_SOURCE
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct guard {
    int fd;
    unsigned char pending; /* a 0xc2 lead byte whose follower has not been written yet */
} guard;

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t guard_write(void *cookie, const char *buf, size_t size)
{
    guard *g = cookie;
    char out[4096 + 16];
    size_t o = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (o > sizeof out - 16) {
            if (write_all(g->fd, out, o) != 0)
                return -1;
            o = 0;
        }
        if (g->pending) {
            g->pending = 0;
            if (c >= 0x80 && c <= 0x9f) {
                o += (size_t)snprintf(out + o, 16, "\\u%04x", c);
                continue;
            }
            out[o++] = (char)0xc2;
        }
        if (c == 0xc2) {
            g->pending = 1;
        } else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            o += (size_t)snprintf(out + o, 16, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (o && write_all(g->fd, out, o) != 0)
        return -1;
    return (ssize_t)size;
}

static int guard_close(void *cookie)
{
    guard *g = cookie;
    int rc = g->pending ? write_all(g->fd, "\xc2", 1) : 0;
    free(g);
    return rc;
}

static FILE *guarded(FILE *f, const char *mode)
{
    int fd = fileno(f);
    if (fd < 0 || !isatty(fd))
        return f;
    guard *g = calloc(1, sizeof *g);
    if (!g)
        return f;
    g->fd = fd;
    cookie_io_functions_t io = {.write = guard_write, .close = guard_close};
    FILE *wrapped = fopencookie(g, mode, io);
    if (!wrapped) {
        free(g);
        return f;
    }
    fflush(f);
    /* Line-buffered like a terminal's stdout; stderr unbuffered would split escapes. */
    setvbuf(wrapped, NULL, _IOLBF, 0);
    return wrapped;
}

void cli_term_guard(void)
{
    stdout = guarded(stdout, "w");
    stderr = guarded(stderr, "w");
}
