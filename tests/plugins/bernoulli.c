/*
 * A skill whose success is a coin with a known bias, for the A/B simulation
 * (tests/sim/ab_sim.c).  Built from <skillhost/plugin.h> and libc alone.
 *
 * The variant's content is {"p": P}: the skill's true success rate.  The
 * input is {"u": U} with U uniform in [0, 1) drawn by the caller, so the
 * outcome is decided by the caller's seeded generator, never in here: when
 * U < P the skill follows both expected patterns (fidelity 1.0), else only
 * the first (fidelity 0.5, under the 0.90 threshold).  A trial therefore
 * succeeds with probability P.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <skillhost/plugin.h>

/*
 * The number after "key": in a flat JSON object.  Enough for the two shapes
 * this plugin reads; a missing key or a non-number gives -1.
 */
static int number_after(const char *json, const char *key, double *out)
{
    const char *s = json ? strstr(json, key) : NULL;
    if (!s)
        return -1;
    s += strlen(key);
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (*s++ != ':')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int cb_execute(void *state, skh_call *call)
{
    (void)state;
    double p, u;
    if (number_after(skh_content(call), "\"p\"", &p) != 0 || p < 0.0 || p > 1.0)
        return skh_fail(call, SKH_ERR_VALIDATION,
                        "content must be {\"p\": P} with P a success rate in [0, 1]");
    if (number_after(skh_input(call), "\"u\"", &u) != 0 || u < 0.0 || u >= 1.0)
        return skh_fail(call, SKH_ERR_VALIDATION,
                        "input must be {\"u\": U} with U uniform in [0, 1)");
    skh_step(call, "a");
    if (u < p)
        skh_step(call, "b");
    return skh_output(call, "{\"decision\":\"ok\"}");
}

SKH_PLUGIN(skill, "bernoulli", "1.0.0",
           .description = "Succeeds (follows a,b) when input u < content p; else follows only a",
           .patterns = "a,b", .execute = cb_execute)
