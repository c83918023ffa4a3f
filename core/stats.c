/*
 * Statistics for A/B decisions (DESIGN §5).  Pure functions over counts,
 * libm only, so they can be checked digit by digit against independently
 * computed values (tests/unit/stats_vectors.py).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <skillhost/host.h>

#include "stats.h"

static int counts_ok(long s, long n)
{
    return n >= 0 && s >= 0 && s <= n;
}

/* ---------------------------------------------------------------- normal */

/* erfc keeps full relative accuracy in the lower tail, where 1 - erf would not. */
double stats_norm_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

/*
 * Wichura's AS241 (PPND16), Applied Statistics 37 (1988) 477-484:
 * relative error about 1e-16 over the whole range, so no refinement step.
 * Coefficients highest power first; the three rational approximations
 * cover |p - 0.5| <= 0.425, then r = sqrt(-log(min(p, 1 - p))) <= 5, then
 * the far tails.
 */
static const double central_num[8] = {2.5090809287301226727e+3, 3.3430575583588128105e+4,
                                      6.7265770927008700853e+4, 4.5921953931549871457e+4,
                                      1.3731693765509461125e+4, 1.9715909503065514427e+3,
                                      1.3314166789178437745e+2, 3.3871328727963666080e+0};
static const double central_den[8] = {5.2264952788528545610e+3, 2.8729085735721942674e+4,
                                      3.9307895800092710610e+4, 2.1213794301586595867e+4,
                                      5.3941960214247511077e+3, 6.8718700749205790830e+2,
                                      4.2313330701600911252e+1, 1.0};
static const double mid_num[8] = {7.74545014278341407640e-4, 2.27238449892691845833e-2,
                                  2.41780725177450611770e-1, 1.27045825245236838258e+0,
                                  3.64784832476320460504e+0, 5.76949722146069140550e+0,
                                  4.63033784615654529590e+0, 1.42343711074968357734e+0};
static const double mid_den[8] = {1.05075007164441684324e-9, 5.47593808499534494600e-4,
                                  1.51986665636164571966e-2, 1.48103976427480074590e-1,
                                  6.89767334985100004550e-1, 1.67638483018380384940e+0,
                                  2.05319162663775882187e+0, 1.0};
static const double tail_num[8] = {2.01033439929228813265e-7, 2.71155556874348757815e-5,
                                   1.24266094738807843860e-3, 2.65321895265761230930e-2,
                                   2.96560571828504891230e-1, 1.78482653991729133580e+0,
                                   5.46378491116411436990e+0, 6.65790464350110377720e+0};
static const double tail_den[8] = {2.04426310338993978564e-15, 1.42151175831644588870e-7,
                                   1.84631831751005468180e-5,  7.86869131145613259100e-4,
                                   1.48753612908506148525e-2,  1.36929880922735805310e-1,
                                   5.99832206555887937690e-1,  1.0};

static double horner(const double c[8], double x)
{
    double y = c[0];
    for (int i = 1; i < 8; i++)
        y = y * x + c[i];
    return y;
}

double stats_norm_ppf(double p)
{
    if (isnan(p) || p < 0.0 || p > 1.0)
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;

    double q = p - 0.5;
    if (fabs(q) <= 0.425) {
        double r = 0.180625 - q * q;
        return q * horner(central_num, r) / horner(central_den, r);
    }
    double r = sqrt(-log(q < 0.0 ? p : 1.0 - p));
    double x = r <= 5.0 ? horner(mid_num, r - 1.6) / horner(mid_den, r - 1.6)
                        : horner(tail_num, r - 5.0) / horner(tail_den, r - 5.0);
    return q < 0.0 ? -x : x;
}

/* ------------------------------------------------------- two proportions */

int stats_two_proportion_z(long s1, long n1, long s2, long n2, stats_ztest *out)
{
    if (!out)
        return SKH_EINVAL;
    out->z = 0.0;
    out->p_two_sided = 1.0;
    out->p_one_sided = 1.0;
    if (!counts_ok(s1, n1) || !counts_ok(s2, n2))
        return SKH_EINVAL;
    if (n1 == 0 || n2 == 0)
        return SKH_OK;

    double pool = ((double)s1 + (double)s2) / ((double)n1 + (double)n2);
    double var = pool * (1.0 - pool) * (1.0 / (double)n1 + 1.0 / (double)n2);
    /* Both arms all-success or all-failure: the difference is exactly 0, nothing to test. */
    if (!(var > 0.0))
        return SKH_OK;
    double diff = (double)s2 / (double)n2 - (double)s1 / (double)n1;
    out->z = diff / sqrt(var);
    out->p_two_sided = erfc(fabs(out->z) / M_SQRT2);
    out->p_one_sided = 0.5 * erfc(out->z / M_SQRT2);
    return SKH_OK;
}

/* ---------------------------------------------------------------- Wilson */

int stats_wilson(long s, long n, double confidence, double *lo, double *hi)
{
    if (!lo || !hi)
        return SKH_EINVAL;
    *lo = 0.0;
    *hi = 1.0;
    if (!counts_ok(s, n) || !(confidence > 0.0 && confidence < 1.0))
        return SKH_EINVAL;
    if (n == 0)
        return SKH_OK;

    /* The upper (1 + c) / 2 quantile, taken from the lower tail for accuracy near c = 1. */
    double z = -stats_norm_ppf((1.0 - confidence) / 2.0);
    double nn = (double)n, p = (double)s / nn, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double centre = (p + z2 / (2.0 * nn)) / denom;
    double half = z / denom * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
    /* At s = 0 (s = n) the bound is 0 (1) exactly; rounding would leave a residue. */
    *lo = s == 0 ? 0.0 : fmax(0.0, centre - half);
    *hi = s == n ? 1.0 : fmin(1.0, centre + half);
    return SKH_OK;
}

/* ----------------------------------------------------- P(treatment wins) */

/*
 * Evan Miller's closed form for P(X_B > X_A), X_A ~ Beta(aa, ba),
 * X_B ~ Beta(ab, bb), integer parameters:
 *     sum_{i < ab} B(aa + i, ba + bb) / ((bb + i) B(1 + i, bb) B(aa, ba)).
 * Term 0 is B(aa, ba + bb) / B(aa, ba); term i + 1 is term i times
 * (aa + i)(bb + i) / ((aa + ba + bb + i)(1 + i)).  The terms are carried
 * as logarithms and summed against the running maximum, because at counts
 * in the thousands the first term can be e^-1000 while the largest is ~1.
 */
static double miller_sum(double aa, double ba, double ab, double bb)
{
    double lt = lgamma(ba + bb) + lgamma(aa + ba) - lgamma(aa + ba + bb) - lgamma(ba);
    double top = lt, acc = 1.0; /* sum = exp(top) * acc */
    long terms = (long)ab;
    for (long i = 0; i + 1 < terms; i++) {
        double di = (double)i;
        lt += log((aa + di) * (bb + di) / ((aa + ba + bb + di) * (1.0 + di)));
        if (lt > top) {
            acc = acc * exp(top - lt) + 1.0;
            top = lt;
        } else {
            acc += exp(lt - top);
        }
    }
    return exp(top) * acc;
}

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

/*
 * The sum runs over one Beta parameter; by P(B > A) = 1 - P(A > B) and
 * P(B > A) = P(1 - B < 1 - A) any of the four can be the one, so take the
 * smallest: the cost is O(min(s_c, f_c, s_t, f_t)).
 */
double stats_prob_beats(long s_c, long n_c, long s_t, long n_t)
{
    if (!counts_ok(s_c, n_c) || !counts_ok(s_t, n_t))
        return NAN;
    double aa = 1.0 + (double)s_c, ba = 1.0 + (double)(n_c - s_c);
    double ab = 1.0 + (double)s_t, bb = 1.0 + (double)(n_t - s_t);
    double k = fmin(fmin(aa, ba), fmin(ab, bb));

    if (k > (double)STATS_PROB_BEATS_EXACT_MAX) {
        /* Both posteriors are nearly normal here (every parameter > 5e4). */
        double ma = aa / (aa + ba), mb = ab / (ab + bb);
        double va = aa * ba / ((aa + ba) * (aa + ba) * (aa + ba + 1.0));
        double vb = ab * bb / ((ab + bb) * (ab + bb) * (ab + bb + 1.0));
        return stats_norm_cdf((mb - ma) / sqrt(va + vb));
    }
    if (k == ab)
        return clamp01(miller_sum(aa, ba, ab, bb));
    if (k == aa)
        return clamp01(1.0 - miller_sum(ab, bb, aa, ba));
    if (k == ba)
        return clamp01(miller_sum(bb, ab, ba, aa));
    return clamp01(1.0 - miller_sum(ba, aa, bb, ab));
}

/* ------------------------------------------------------------------ mSPRT */

/*
 * The normal mixture SPRT of Johari, Koomen, Pekelis and Walsh ("Peeking
 * at A/B tests", KDD 2017) for theta = p_t - p_c:
 *     LR = sqrt(V / (V + tau^2)) * exp(tau^2 theta^2 / (2 V (V + tau^2)))
 * with theta the observed difference and V its variance.  V is taken under
 * the null (pooled rate), as in the pooled z-test: the unpooled estimate is
 * 0 whenever each arm is still all-success or all-failure, which would make
 * the very first looks infinitely convincing.
 */
int stats_msprt(long s_c, long n_c, long s_t, long n_t, double tau, double alpha, stats_seq *out)
{
    if (!out)
        return SKH_EINVAL;
    out->log_lr = 0.0;
    out->p = 1.0;
    out->verdict = 0;
    out->ci_lo = -1.0;
    out->ci_hi = 1.0;
    if (!counts_ok(s_c, n_c) || !counts_ok(s_t, n_t) || !(tau > 0.0) || !isfinite(tau) ||
        !(alpha > 0.0 && alpha < 1.0))
        return SKH_EINVAL;
    if (n_c == 0 || n_t == 0)
        return SKH_OK;

    double pool = ((double)s_c + (double)s_t) / ((double)n_c + (double)n_t);
    double v = pool * (1.0 - pool) * (1.0 / (double)n_c + 1.0 / (double)n_t);
    /* No variance means both arms identical (all 0 or all 1): no evidence either way. */
    if (!(v > 0.0))
        return SKH_OK;
    double theta = (double)s_t / (double)n_t - (double)s_c / (double)n_c;
    double t2 = tau * tau;
    out->log_lr = -0.5 * log1p(t2 / v) + t2 * theta * theta / (2.0 * v * (v + t2));
    out->p = out->log_lr > 0.0 ? exp(-out->log_lr) : 1.0;
    /*
     * Invert the same ratio: a difference d is inside while the ratio of
     * (theta - d) stays under 1/alpha, i.e. |theta - d| < half.  The ratio at
     * d = 0 is out->log_lr, so the interval leaves out 0 exactly when p <= alpha.
     */
    double half = sqrt(2.0 * v * (v + t2) / t2 * (-log(alpha) + 0.5 * log1p(t2 / v)));
    out->ci_lo = fmax(-1.0, theta - half);
    out->ci_hi = fmin(1.0, theta + half);
    if (out->p <= alpha)
        out->verdict = theta > 0.0 ? 1 : -1;
    return SKH_OK;
}

/* -------------------------------------------------------------------- SRM */

/* For 1 degree of freedom the chi-square survival function is erfc(sqrt(x / 2)). */
double stats_srm_p(long n_c, long n_t, double expected_treatment_share)
{
    double share = expected_treatment_share;
    if (n_c < 0 || n_t < 0 || !(share > 0.0 && share < 1.0))
        return NAN;
    double total = (double)n_c + (double)n_t;
    if (total == 0.0)
        return 1.0;
    double et = total * share, ec = total * (1.0 - share);
    double dt = (double)n_t - et, dc = (double)n_c - ec;
    double chi2 = dt * dt / et + dc * dc / ec;
    return erfc(sqrt(chi2 / 2.0));
}

/* ---------------------------------------------------------- anomaly score */

double stats_zscore(double x, double mean, double sd)
{
    if (!isfinite(x) || !isfinite(mean) || !isfinite(sd) || sd < 0.0)
        return NAN;
    if (sd == 0.0)
        return x == mean ? 0.0 : copysign(INFINITY, x - mean);
    return (x - mean) / sd;
}

/* Welford's update: no catastrophic cancellation when the values sit far from 0. */
int stats_mean_sd(const double *xs, size_t n, double *mean, double *sd)
{
    if (!xs || !mean || !sd || n == 0)
        return SKH_EINVAL;
    double m = 0.0, m2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(xs[i]))
            return SKH_EINVAL;
        double d = xs[i] - m;
        m += d / (double)(i + 1);
        m2 += d * (xs[i] - m);
    }
    *mean = m;
    *sd = n > 1 ? sqrt(m2 / (double)(n - 1)) : 0.0;
    return SKH_OK;
}

/* ------------------------------------------------------------ rank test */

typedef struct ranked {
    double v;
    int treatment;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return (x > y) - (x < y);
}

int stats_mann_whitney(const double *control, size_t n_c, const double *treatment, size_t n_t,
                       stats_rank *out)
{
    if (!out || (n_c && !control) || (n_t && !treatment))
        return SKH_EINVAL;
    *out = (stats_rank){.u = 0.0, .z = 0.0, .p_larger = 1.0, .p_smaller = 1.0};
    for (size_t i = 0; i < n_c; i++)
        if (!isfinite(control[i]))
            return SKH_EINVAL;
    for (size_t i = 0; i < n_t; i++)
        if (!isfinite(treatment[i]))
            return SKH_EINVAL;
    if (n_c == 0 || n_t == 0)
        return SKH_OK;
    size_t n = n_c + n_t;
    ranked *r = malloc(n * sizeof *r);
    if (!r)
        return SKH_ENOMEM;
    for (size_t i = 0; i < n_c; i++)
        r[i] = (ranked){control[i], 0};
    for (size_t i = 0; i < n_t; i++)
        r[n_c + i] = (ranked){treatment[i], 1};
    qsort(r, n, sizeof *r, cmp_ranked);

    /* Midranks over each run of ties; the runs also give the tie correction. */
    double rank_sum = 0.0, ties = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && r[j + 1].v == r[i].v)
            j++;
        double mid = ((double)i + (double)j) / 2.0 + 1.0, t = (double)(j - i + 1);
        for (size_t k = i; k <= j; k++)
            if (r[k].treatment)
                rank_sum += mid;
        ties += t * t * t - t;
        i = j + 1;
    }
    free(r);
    double nc = (double)n_c, nt = (double)n_t, nn = (double)n;
    out->u = rank_sum - nt * (nt + 1.0) / 2.0;
    double mu = nc * nt / 2.0;
    double var = nc * nt / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)));
    if (!(var > 0.0))
        return SKH_OK;
    double sd = sqrt(var);
    out->z = (out->u - mu) / sd;
    /* Upper tails as lower tails of -z, so small p-values keep their digits. */
    out->p_larger = fmin(1.0, stats_norm_cdf(-(out->u - mu - 0.5) / sd));
    out->p_smaller = fmin(1.0, stats_norm_cdf((out->u - mu + 0.5) / sd));
    return SKH_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double stats_quantile(double *xs, size_t n, double q)
{
    if (!xs || n == 0 || !(q >= 0.0 && q <= 1.0))
        return NAN;
    qsort(xs, n, sizeof *xs, cmp_double);
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return xs[lo] + (h - (double)lo) * (xs[hi] - xs[lo]);
}
