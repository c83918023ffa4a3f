/*
 * Sticky routing (DESIGN §2): which arm of a test a routing key lands in.
 *
 *   bucket = splitmix64(fnv1a64(test_id ":" key)) % 10000
 *   treatment when bucket < weight * 100   (weight in percent, 0..100)
 *
 * FNV-1a spreads the text; the SplitMix64 finaliser mixes the high bits
 * into the low ones so the modulo sees all of them.  The same key always
 * gets the same bucket within a test, and raising the weight only adds
 * buckets to treatment, so a key already in treatment stays there.
 */
#ifndef SKH_CORE_ROUTER_H
#define SKH_CORE_ROUTER_H

#include <stdint.h>

#define ROUTER_BUCKETS 10000u

uint64_t router_hash64(const char *test_id, const char *key);
unsigned router_bucket(const char *test_id, const char *key);
/* 1 for treatment, 0 for control. */
int router_in_treatment(const char *test_id, const char *key, double weight_percent);

#endif
