/*
 * A/B tests and gradual rollouts (DESIGN §2 steps 1-2 and 7, §4 ab.lua and
 * rollout.lua): what the request path needs from them.
 */
#ifndef SKH_CORE_AB_H
#define SKH_CORE_AB_H

#include "host_internal.h"

/* A skill's running test, as routing needs it. */
typedef struct ab_live {
    char test_id[64];
    char control[160]; /* variant ids */
    char treatment[160];
    double weight; /* treatment share, percent */
    int rollout;   /* a gradual rollout rather than a fixed split */
} ab_live;

/* The skill's running test: *found is 0 or 1.  One indexed read. */
int ab_live_test(skh_host *host, const char *skill, ab_live *out, int *found, skh_error *err);

/*
 * After a request of a running test was recorded as a trial: ask ab.lua (or
 * rollout.lua) and apply what it decides -- promote the treatment, archive
 * it, wait for approval, advance or stop a rollout -- in one transaction,
 * exactly once even when several processes decide at the same moment.  A
 * policy error decides nothing (it is recorded in decisions).
 */
int ab_after_trial(skh_host *host, const char *test_id, skh_error *err);

/*
 * The test's latest latency look (ab_latency.c): a rank test of the arms'
 * request durations at planned sample sizes, or NULL before the first.
 * update: run and record a look that is due (the decision path); 0: only
 * read the latest (status).  Rollouts have none.
 */
int ab_latency(skh_host *host, const store_ab_test *t, int update, json_t **out, skh_error *err);

#endif
