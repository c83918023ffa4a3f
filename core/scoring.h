/*
 * Scoring one execution with the built-in scorers' cores
 * (plugins/pattern_fidelity.c, plugins/outcome.c), called on what the host
 * holds: no execution record is built and no scores object comes back.
 */
#ifndef SKH_CORE_SCORING_H
#define SKH_CORE_SCORING_H

#include <jansson.h>

#include <skillhost/host.h>

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

/* What the built-in scorers read of one execution; everything borrowed. */
typedef struct scoring_input {
    const json_t *input;  /* the attempt's input object */
    const json_t *output; /* the output object, NULL when the call failed */
    const char *const *steps;
    size_t nsteps;
    const json_t *expected; /* JSON array of strings: the variant's patterns */
    int failed;             /* the call ended in an error */
    /* The request's context (JSON object text) for scorer calls' skh_context(); NULL: "{}". */
    const char *context;
} scoring_input;

/*
 * Pattern fidelity and outcome of one execution.  A scorer that fails is a
 * SKH_EPLUGIN error naming it: an execution is never recorded with made-up
 * scores.
 */
int scoring_run(const scoring_input *in, scores *out, skh_error *err);
void scores_release(scores *s);

#endif
