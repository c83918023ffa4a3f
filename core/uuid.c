#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "uuid.h"

/*
 * 48 bits of Unix milliseconds, then a 12-bit counter (rand_a) that
 * increases within one millisecond so ids from one process stay ordered
 * (RFC 9562 §6.2 method 1), then 62 random bits.
 */
void uuid_v7(char buf[UUID_TEXT_LEN])
{
    static uint64_t last_ms;
    static uint16_t counter;
    struct timespec ts;
    uint8_t b[16];

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* getrandom on Linux does not fail for 16 bytes once booted; mix the clock in anyway. */
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
        memcpy(b, &x, sizeof x);
        memcpy(b + 8, &ms, sizeof ms);
    }
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
    snprintf(buf, UUID_TEXT_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
