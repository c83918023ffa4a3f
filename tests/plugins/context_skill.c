/*
 * A skill that answers with the request context the host gave it
 * (skh_context()), so tests can see what crossed the plugin boundary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <skillhost/plugin.h>

static int cb_execute(void *state, skh_call *call)
{
    (void)state;
    const char *context = skh_context(call);
    size_t n = strlen(context) + 64;
    char *out = malloc(n);
    if (!out)
        return skh_fail(call, SKH_ERR_INTERNAL, "out of memory");
    skh_step(call, "answer");
    snprintf(out, n, "{\"decision\":\"ok\",\"context\":%s}", context);
    int rc = skh_output(call, out);
    free(out);
    return rc;
}

SKH_PLUGIN(skill, "context_skill", "1.0.0", .description = "Answers with its request context",
           .patterns = "answer", .execute = cb_execute)
