/*
 * Circuit breakers (DESIGN §4 rollout.lua): repeated failures of a variant
 * open its breaker; requests then fall back to the previous production
 * variant; after a cool-down one request half-opens it.  State lives in the
 * circuit_breakers table, so every process sees it.
 */
#ifndef SKH_CORE_BREAKER_H
#define SKH_CORE_BREAKER_H

#include "host_internal.h"

/*
 * May a request run variant_id?  *allow = 1 when the breaker is closed, or
 * when it is open, its cool-down has passed and this request wins the one
 * half-open probe (atomic); 0 otherwise.  *fallback (caller frees) names
 * the variant to run instead when not allowed (the previous production
 * variant, or NULL when there is none).  *clean = 1 when the variant has no
 * breaker row, or a closed one with no failure counted: a success then has
 * nothing to reset, and the request need not read the breaker again.
 */
int breaker_admit(skh_host *host, const char *skill, const char *variant_id, int *allow, int *clean,
                  char **fallback, skh_error *err);

/* After the request: count a failure (crash, or as recovery.lua's breaker flag says) or close. */
int breaker_record(skh_host *host, const char *skill, const char *variant_id, int failed,
                   skh_error *err);

#endif
