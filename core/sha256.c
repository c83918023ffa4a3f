/*
 * SHA-256 (FIPS 180-4), written out so the core needs no crypto library just
 * to pin the files it registers.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "trust.h"

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    unsigned char block[64];
    size_t used; /* bytes waiting in block */
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_init(sha256_ctx *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->total = 0;
    c->used = 0;
}

static void sha256_block(sha256_ctx *c, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K[i] + w[i];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & cc) ^ (b & cc);
        uint32_t t2 = S0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    c->total += len;
    if (c->used > 0) {
        size_t take = 64 - c->used < len ? 64 - c->used : len;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used < 64)
            return;
        sha256_block(c, c->block);
        c->used = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha256_block(c, p);
    memcpy(c->block, p, len);
    c->used = len;
}

static void sha256_final(sha256_ctx *c, char hex[65])
{
    uint64_t bits = c->total * 8;
    static const unsigned char pad[64] = {0x80};
    /* Pad to 56 mod 64, then the 64-bit big-endian length. */
    size_t padlen = c->used < 56 ? 56 - c->used : 120 - c->used;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, pad, padlen);
    sha256_update(c, len, 8);

    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            unsigned byte = (c->h[i] >> (24 - 8 * j)) & 0xff;
            hex[8 * i + 2 * j] = digits[byte >> 4];
            hex[8 * i + 2 * j + 1] = digits[byte & 0xf];
        }
    hex[64] = '\0';
}

void sha256_hex(const void *data, size_t len, char hex[65])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, hex);
}

int sha256_file(const char *path, char hex[65], skh_error *err)
{
    hex[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, SKH_EPLUGIN, path, "cannot open: %s", strerror(errno));

    enum { CHUNK = 64 * 1024 };
    static _Thread_local unsigned char buf[CHUNK];
    sha256_ctx c;
    sha256_init(&c);
    size_t n;
    while ((n = fread(buf, 1, CHUNK, f)) > 0)
        sha256_update(&c, buf, n);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        return error_set(err, SKH_EPLUGIN, path, "cannot read: %s", strerror(e ? e : EIO));
    }
    fclose(f);
    sha256_final(&c, hex);
    return SKH_OK;
}

int sha256_fd(int fd, int copy_fd, char hex[65], const char *path, skh_error *err)
{
    enum { CHUNK = 64 * 1024 };
    static _Thread_local unsigned char buf[CHUNK];
    sha256_ctx c;
    hex[0] = '\0';
    sha256_init(&c);
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, SKH_EPLUGIN, path, "cannot read: %s", strerror(errno));
        if (n == 0)
            break;
        sha256_update(&c, buf, (size_t)n);
        for (ssize_t off = 0; copy_fd >= 0 && off < n;) {
            ssize_t put = write(copy_fd, buf + off, (size_t)(n - off));
            if (put < 0 && errno == EINTR)
                continue;
            if (put < 0)
                return error_set(err, SKH_EPLUGIN, path, "cannot copy for loading: %s",
                                 strerror(errno));
            off += put;
        }
    }
    sha256_final(&c, hex);
    return SKH_OK;
}
