/* A clock that never sleeps, for the fuzz targets: backoff waits cost nothing. */
#ifndef SKH_TESTS_FUZZ_CLOCK_H
#define SKH_TESTS_FUZZ_CLOCK_H

#include <skillhost/host.h>

static double fuzz_now;

static double fuzz_now_ms(void *ud)
{
    (void)ud;
    return fuzz_now += 1.0;
}

static void fuzz_sleep_ms(void *ud, double ms)
{
    (void)ud;
    if (ms > 0 && ms < 1e12)
        fuzz_now += ms;
}

static double fuzz_random(void *ud)
{
    (void)ud;
    return 0.5;
}

static inline void fuzz_clock(skh_host *host)
{
    skh_clock c = {.struct_size = sizeof c,
                   .now_ms = fuzz_now_ms,
                   .sleep_ms = fuzz_sleep_ms,
                   .random = fuzz_random};
    skh_host_set_clock(host, &c);
}

#endif
