/*
 * A well-behaved skill built from <skillhost/plugin.h> and libc alone, as a
 * third party would.  Two inputs make it misbehave on purpose so the host's
 * handling can be tested: {"mode":"silent"} returns without skh_output or
 * skh_fail, {"mode":"contradict"} outputs and then returns failure.  With
 * GOOD_SKILL_INIT_FAIL set in the environment its init fails.
 */
#include <stdlib.h>
#include <string.h>
#include <skillhost/plugin.h>

typedef struct counter {
    unsigned calls;
} counter;

static int cb_init(const skh_host_api *api, void **state)
{
    const char *fail = getenv("GOOD_SKILL_INIT_FAIL");
    if (fail && *fail)
        return atoi(fail);
    counter *c = calloc(1, sizeof *c);
    if (!c)
        return 1;
    *state = c;
    return 0;
}

static void cb_fini(void *state)
{
    free(state);
}

static int cb_execute(void *state, skh_call *call)
{
    counter *c = state;
    c->calls++;
    const char *in = skh_input(call);
    skh_step(call, "a");
    if (strstr(in, "\"silent\""))
        return 0;
    skh_step(call, "b");
    if (strstr(in, "\"contradict\"")) {
        skh_output(call, "{\"decision\":\"ok\",\"confidence\":1.0}");
        return 1;
    }
    return skh_output(call, "{\"decision\":\"ok\",\"confidence\":1.0}");
}

SKH_PLUGIN(skill, "good_skill", "1.0.0", .description = "A skill that always answers ok",
           .patterns = "a,b", .init = cb_init, .fini = cb_fini, .execute = cb_execute)
