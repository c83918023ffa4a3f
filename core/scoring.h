/*
 * Scoring one execution: the built-in scorers (plugins/pattern_fidelity.c,
 * plugins/outcome.c) read an execution record and return their scores.
 */
#ifndef SKH_CORE_SCORING_H
#define SKH_CORE_SCORING_H

#include <jansson.h>

#include "host_internal.h"

typedef struct scores {
    double fidelity;
    int followed, missed;
    char *missed_json;    /* JSON array text */
    char *failed_at_step; /* NULL when none */
    char *decision;       /* never NULL */
    int correct;          /* 1, 0, -1 unknown */
    double confidence;    /* NAN when none */
    char *reasoning;      /* NULL when none */
} scores;

/*
 * record: {"input","output","steps","expected","error","duration_ms"}.
 * A scorer that fails is a SKH_EPLUGIN error naming it: an execution is
 * never recorded with made-up scores.
 */
int scoring_run(skh_host *host, json_t *record, scores *out, skh_error *err);
void scores_release(scores *s);

#endif
