#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "uuid.h"

/*
 * Random bytes come from a per-thread pool refilled 256 bytes at a time:
 * one getrandom() per 16 ids instead of one per id, which the recording
 * path makes two of per request.  A forked child starts with an empty pool
 * so it never repeats its parent's bytes.
 */
#define POOL 256
static __thread uint8_t pool[POOL];
static __thread size_t pool_left;
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
    pool_left = 0;
}

static void register_fork_hook(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

static void random_bytes(uint8_t *b, size_t n, const struct timespec *ts)
{
    pthread_once(&fork_hook, register_fork_hook);
    if (pool_left < n) {
        if (getrandom(pool, sizeof pool, 0) == (ssize_t)sizeof pool) {
            pool_left = sizeof pool;
        } else {
            /* getrandom on Linux does not fail once booted; mix the clock in anyway. */
            uint64_t x = (uint64_t)ts->tv_nsec ^ ((uint64_t)ts->tv_sec << 20);
            for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t)(x >> (8 * (i % 8))) ^ (uint8_t)i;
            return;
        }
    }
    memcpy(b, pool + sizeof pool - pool_left, n);
    pool_left -= n;
}

/*
 * 48 bits of Unix milliseconds, then a 12-bit counter (rand_a) that
 * increases within one millisecond so ids from one thread stay ordered
 * (RFC 9562 §6.2 method 1), then 62 random bits.
 */
void uuid_v7(char buf[UUID_TEXT_LEN])
{
    static __thread uint64_t last_ms;
    static __thread uint16_t counter;
    static const char hex[] = "0123456789abcdef";
    struct timespec ts;
    uint8_t b[16];

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    random_bytes(b, sizeof b, &ts);
    if (ms <= last_ms) {
        ms = last_ms;
        counter = (uint16_t)((counter + 1) & 0x0fff);
        if (counter == 0)
            ms = ++last_ms;
    } else {
        counter = (uint16_t)(((b[6] << 8) | b[7]) & 0x07ff); /* leave room to count up */
        last_ms = ms;
    }
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (counter >> 8));
    b[7] = (uint8_t)counter;
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    /* 8-4-4-4-12 hex digits */
    char *o = buf;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
}
