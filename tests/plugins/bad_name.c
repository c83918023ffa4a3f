/* A name outside [a-z0-9_]{1,64}: refused at load. */
#include <skillhost/plugin.h>

static int run(void *state, skh_call *call)
{
    return skh_output(call, "{}");
}

SKH_PLUGIN(skill, "Bad Name!", "1.0.0", .execute = run)
