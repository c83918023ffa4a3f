/*
 * A skill that misbehaves as its variant's content says, for the isolation
 * tests: "segv", "abort", "exit0", "stdout", "loop", "steps_then_segv",
 * "sleep_ms N" (answers after N ms), "log" (a warning through skh_log), "pid"
 * (answers with its process id),
 * anything else: a proper answer.  Run inline, most of these take the host
 * down; under process isolation each must be one categorised attempt.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <skillhost/plugin.h>

static volatile unsigned sink; /* unsigned: wraps, never overflows (UBSan) */

static int cb_execute(void *state, skh_call *call)
{
    (void)state;
    const char *mode = skh_content(call);
    skh_step(call, "start");
    if (strcmp(mode, "segv") == 0) {
        /* A real fault, but no undefined behaviour a sanitizer would stop to report first. */
        volatile char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page != MAP_FAILED)
            page[0] = 1;
        raise(SIGSEGV);
    } else if (strcmp(mode, "abort") == 0) {
        abort();
    } else if (strcmp(mode, "exit0") == 0) {
        exit(0);
    } else if (strcmp(mode, "stdout") == 0) {
        printf("{\"not\": \"the host's output\"}\n");
    } else if (strcmp(mode, "loop") == 0) {
        for (;;)
            sink++;
    } else if (strcmp(mode, "steps_then_segv") == 0) {
        skh_step(call, "classify");
        raise(SIGSEGV);
    } else if (strncmp(mode, "sleep_ms ", 9) == 0) {
        long ms = atol(mode + 9);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    } else if (strcmp(mode, "log") == 0) {
        skh_log(call, SKH_LOG_WARN, "hostile says %s", "hi");
    } else if (strcmp(mode, "pid") == 0) {
        char out[64];
        snprintf(out, sizeof out, "{\"decision\":\"ham\",\"pid\":%ld}", (long)getpid());
        skh_step(call, "decide");
        return skh_output(call, out);
    }
    skh_step(call, "decide");
    return skh_output(call, "{\"decision\":\"ham\",\"confidence\":0.5}");
}

SKH_PLUGIN(skill, "hostile", "1.0.0", .description = "misbehaves on request",
           .patterns = "start,decide", .execute = cb_execute);
