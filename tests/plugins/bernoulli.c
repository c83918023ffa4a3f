/*
 * A skill whose success is a coin with a known bias, for the A/B simulation
 * (tests/sim/ab_sim.c).  Built from <skillhost/plugin.h> and libc alone.
 *
 * The variant's content is {"p": P}: the skill's true success rate.  The
 * input is {"u": U} with U uniform in [0, 1) drawn by the caller, so the
 * outcome is decided by the caller's seeded generator, never in here: when
 * U < P the skill follows every expected pattern (fidelity 1.0), else all
 * but the last one (fidelity (k-1)/k for k patterns: 0.5 with the default
 * "a,b", under the 0.90 threshold).  A trial therefore succeeds with
 * probability P.  The caller chooses k through the variant's patterns.
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

/*
 * Follow the patterns of a JSON array of names (["a","b",...]), all of them
 * or all but the last.  Names are plain [a-z0-9_] words; an escaped quote
 * would only end one early.  -1 when the array holds no name or a name is
 * too long.
 */
static int follow(skh_call *call, const char *patterns, int skip_last)
{
    char name[128], prev[128];
    int n = 0;
    const char *s = patterns ? patterns : "";
    prev[0] = '\0';
    while ((s = strchr(s, '"'))) {
        const char *end = strchr(s + 1, '"');
        if (!end || (size_t)(end - s - 1) >= sizeof name)
            return -1;
        memcpy(name, s + 1, (size_t)(end - s - 1));
        name[end - s - 1] = '\0';
        /* Each step is taken once the next name is known, so the last can be left out. */
        if (n++ > 0)
            skh_step(call, prev);
        memcpy(prev, name, sizeof prev);
        s = end + 1;
    }
    if (n == 0)
        return -1;
    if (!skip_last)
        skh_step(call, prev);
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
    if (follow(call, skh_patterns(call), u >= p) != 0)
        return skh_fail(call, SKH_ERR_VALIDATION,
                        "expected patterns must be a non-empty list of short names");
    return skh_output(call, "{\"decision\":\"ok\"}");
}

SKH_PLUGIN(
    skill, "bernoulli", "1.0.0",
    .description = "Follows every expected pattern when input u < content p, else all but the last",
    .patterns = "a,b", .execute = cb_execute)
