/*
 * Statistics for A/B decisions (DESIGN §5), exposed to Lua as skh.stats.
 *
 * Arm order is always control first, treatment second, and every signed
 * quantity is treatment minus control.  Counts are successes s out of
 * trials n with 0 <= s <= n.  Functions returning int give SKH_OK or
 * SKH_EINVAL (bad counts or parameters); functions returning double give
 * NaN for arguments outside their domain.  Degenerate but legal inputs (an
 * empty arm, no variance) give defined "no evidence" answers, never NaN.
 * Only libm is used; docs/statistics.md says what each one is for.
 */
#ifndef SKH_CORE_STATS_H
#define SKH_CORE_STATS_H

#include <stddef.h>

/* Default mixing scale of the mSPRT: effects of about 10 points (DESIGN §4, ab.lua margin). */
#define STATS_MSPRT_TAU 0.1
#define STATS_MSPRT_ALPHA 0.05

/*
 * stats_prob_beats sums min(1+s_c, 1+n_c-s_c, 1+s_t, 1+n_t-s_t) terms
 * exactly while that is at most this many (about 1 ms); past it, a normal
 * approximation of the two Beta posteriors, whose error there is below 1e-7.
 * The cap also bounds the time a Lua policy can spend in one call.
 */
#define STATS_PROB_BEATS_EXACT_MAX 50000L

typedef struct stats_ztest {
    double z;           /* (p_t - p_c) / pooled standard error */
    double p_two_sided; /* P(|Z| >= |z|) */
    double p_one_sided; /* P(Z >= z): small when treatment is better */
} stats_ztest;

typedef struct stats_seq {
    double log_lr; /* log of the mixture likelihood ratio against "no difference" */
    double p;      /* always-valid p-value at this look: min(1, 1/LR) */
    int verdict;   /* +1 treatment better, -1 control better, 0 continue */
    /*
     * The always-valid interval for p_t - p_c at this look: every difference
     * d whose mixture ratio against the data stays under 1/alpha.  It excludes
     * 0 exactly when p <= alpha.  [-1, 1] before there is any variance.
     */
    double ci_lo, ci_hi;
} stats_seq;

/* Standard normal CDF and quantile (Wichura AS241).  ppf(0) = -inf, ppf(1) = +inf. */
double stats_norm_cdf(double z);
double stats_norm_ppf(double p);

/*
 * Pooled two-proportion z-test, arm 1 = control, arm 2 = treatment.  An
 * empty arm or a pooled rate of 0 or 1 gives z = 0 and both p-values 1.
 */
int stats_two_proportion_z(long s1, long n1, long s2, long n2, stats_ztest *out);

/* Wilson score interval for s/n at confidence in (0, 1); n = 0 gives [0, 1]. */
int stats_wilson(long s, long n, double confidence, double *lo, double *hi);

/*
 * P(p_t > p_c) when each rate has the posterior Beta(1 + s, 1 + n - s)
 * (uniform prior): Evan Miller's closed form, in log space.  NaN for bad counts.
 */
double stats_prob_beats(long s_c, long n_c, long s_t, long n_t);

/*
 * Mixture SPRT (Johari et al. 2017) on p_t - p_c with mixing N(0, tau^2),
 * tau > 0, alpha in (0, 1).  out->p is valid at this look only; to monitor
 * continuously the caller keeps the running minimum of out->p over looks
 * and stops the first time it is <= alpha.  out->ci_lo/ci_hi is the
 * matching interval for the difference (same pooled variance, same alpha).
 */
int stats_msprt(long s_c, long n_c, long s_t, long n_t, double tau, double alpha, stats_seq *out);

/*
 * Sample ratio mismatch: p-value of the chi-square (1 df) test that the
 * assignment counts fit the expected treatment share in (0, 1).  No
 * assignments gives 1; NaN for bad arguments.
 */
double stats_srm_p(long n_c, long n_t, double expected_treatment_share);

/*
 * (x - mean) / sd.  sd = 0 gives 0 when x equals the mean and +-inf
 * otherwise (any change from a constant history is off the scale); NaN for
 * sd < 0 or non-finite arguments.
 */
double stats_zscore(double x, double mean, double sd);

/* Mean and sample standard deviation (n - 1); n = 1 gives sd 0; n = 0 or non-finite -> EINVAL. */
int stats_mean_sd(const double *xs, size_t n, double *mean, double *sd);

typedef struct stats_rank {
    double u;        /* Mann-Whitney U of the treatment: pairs it is larger in, ties half */
    double z;        /* (U - n_c n_t / 2) / sd, tie-corrected; > 0: treatment larger */
    double p_larger; /* one-sided P, continuity-corrected: small when the treatment is larger */
    double p_smaller;
} stats_rank;

/*
 * Mann-Whitney U (Wilcoxon rank-sum) test of two samples, control first,
 * with the normal approximation, tie correction and continuity correction
 * (scipy.stats.mannwhitneyu(method="asymptotic")).  Neither input is
 * changed.  An empty sample or all values tied gives z = 0 and both p 1;
 * EINVAL for a non-finite value or no memory for the ranks.
 */
int stats_mann_whitney(const double *control, size_t n_c, const double *treatment, size_t n_t,
                       stats_rank *out);

/* The q-quantile (0 <= q <= 1) of xs, sorting xs in place (linear interpolation); NaN if n = 0. */
double stats_quantile(double *xs, size_t n, double q);

#endif
