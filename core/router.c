#include "config.h"

#include <string.h>

#include "router.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= FNV_PRIME;
    }
    return h;
}

/* SplitMix64's finaliser (Steele, Lea, Flood 2014). */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t router_hash64(const char *test_id, const char *key)
{
    uint64_t h = fnv1a(FNV_OFFSET, test_id);
    h = fnv1a(h, ":");
    return mix64(fnv1a(h, key));
}

unsigned router_bucket(const char *test_id, const char *key)
{
    return (unsigned)(router_hash64(test_id, key) % ROUTER_BUCKETS);
}

int router_in_treatment(const char *test_id, const char *key, double weight_percent)
{
    return (double)router_bucket(test_id, key) < weight_percent * (ROUTER_BUCKETS / 100.0);
}
