/*
 * What skh_execute hands back: the request's attempts, its final output and
 * how it ended.  Shared by execute.c (which fills it) and result.c.
 */
#ifndef SKH_CORE_RESULT_H
#define SKH_CORE_RESULT_H

#include <skillhost/host.h>

#include "uuid.h"

typedef struct attempt_rec {
    char execution_id[UUID_TEXT_LEN];
    unsigned iteration; /* the ReAct iteration this call belonged to */
    double fidelity;
    double duration_ms;
    int category;
    char *message;
    char *failed_at_step;
    char *missed_json;
    char *recovery; /* what recovery.lua decided after this attempt, or NULL */
} attempt_rec;

struct skh_result {
    char request_id[UUID_TEXT_LEN];
    char *variant;
    char *output; /* final output, NULL when the skill failed */
    attempt_rec *attempts;
    unsigned nattempts, capattempts;
    int recorded;
    int early_success;
    int met_threshold;
    int skipped;             /* recovery.lua said skip: the input, not the variant, was at fault */
    char test_id[64];        /* the A/B test the request was a trial of, "" if none */
    int arm;                 /* 0 control, 1 treatment */
    char fallback_from[160]; /* an open circuit breaker moved the request off this variant */
    double threshold;
    int cancelled; /* the caller cancelled it (skh_exec_options.cancel) before it was done */
};

/* Free the attempts' strings and the array. */
void result_free_attempts(skh_result *r);

#endif
