#!/usr/bin/env python3
"""Reference values for tests/unit/test_stats.c (core/stats.c).

Computed independently of the C code, with the Python 3.11 standard library
only: exact rationals (fractions) where the statistic is rational, and
100-digit decimal arithmetic (Taylor series for erf, Newton for the normal
quantile, an exact product/recurrence for the Beta-Binomial sum) where it is
not.  Every value is cross-checked against a second route (NormalDist,
math.erfc, math.lgamma, a fixed-seed Monte Carlo) before it is printed.

    python3 tests/unit/stats_vectors.py > /tmp/vectors.inc

prints the C tables pasted into test_stats.c between the "generated" fences.
Not run by `make check`; kept so the numbers can be reproduced.
"""
import math
import random
import statistics
import sys
from decimal import Decimal as D, getcontext
from fractions import Fraction as F

getcontext().prec = 110
getcontext().Emin = -999999999
getcontext().Emax = 999999999

# Must match STATS_PROB_BEATS_EXACT_MAX in core/stats.h.
EXACT_MAX = 50000


def dpi():
    """pi to the context precision (the recipe from the decimal docs)."""
    getcontext().prec += 2
    three = D(3)
    lasts, t, s, n, na, d, da = 0, three, 3, 1, 0, 0, 24
    while s != lasts:
        lasts = s
        n, na = n + na, na + 8
        d, da = d + da, da + 32
        t = (t * n) / d
        s += t
    getcontext().prec -= 2
    return +s


PI = dpi()
SQRT2 = D(2).sqrt()


def derf(x):
    """erf(x) by its Taylor series; fine for |x| < 8 at 110 digits."""
    x = D(x)
    term = x
    total = x
    n = 0
    eps = D(10) ** (-getcontext().prec - 5)
    while True:
        n += 1
        term = -term * x * x / n
        add = term / (2 * n + 1)
        total += add
        if abs(add) < eps:
            break
    return 2 / PI.sqrt() * total


def dcdf(z):
    """Standard normal CDF in decimal."""
    z = D(z)
    if z < 0:
        return (1 - derf(-z / SQRT2)) / 2
    return (1 + derf(z / SQRT2)) / 2


def dpdf(z):
    z = D(z)
    return (-z * z / 2).exp() / (2 * PI).sqrt()


def dppf(p):
    """Normal quantile: AS241 start (NormalDist), then Newton in decimal."""
    x = D(statistics.NormalDist().inv_cdf(float(p)))
    p = D(p)
    for _ in range(60):
        step = (dcdf(x) - p) / dpdf(x)
        x -= step
        if abs(step) < D(10) ** -60:
            break
    return x


def g(v):
    """A double literal that round-trips."""
    v = float(v)
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return repr(v)


def close(a, b, tol, what):
    a, b = float(a), float(b)
    if not abs(a - b) <= tol * max(1.0, abs(b)):
        sys.exit(f"cross-check failed: {what}: {a!r} vs {b!r}")


# ---------------------------------------------------------------- normal


def normal_tables(out):
    nd = statistics.NormalDist()
    zs = ["-10", "-8.5", "-6", "-3.5", "-1.96", "-1", "-0.5", "0", "0.25", "1",
          "1.6448536269514722", "1.96", "2.5758293035489004", "3", "5", "8"]
    out.append("static const struct { double z, cdf; } cdf_vectors[] = {")
    for z in zs:
        c = dcdf(D(float(z)))
        close(c, nd.cdf(float(z)), 1e-14, f"cdf({z})")
        out.append(f"    {{{g(z)}, {g(c)}}},")
    out.append("};")

    ps = ["1e-20", "1e-10", "1e-6", "0.001", "0.025", "0.05", "0.1", "0.3", "0.5",
          "0.7", "0.9", "0.975", "0.995", "0.999999", "0.999999999999"]
    out.append("static const struct { double p, z; } ppf_vectors[] = {")
    for p in ps:
        # The quantile of the double nearest p, which is what C receives.
        z = dppf(D(float(p)))
        close(z, nd.inv_cdf(float(p)), 1e-13, f"ppf({p})")
        out.append(f"    {{{g(p)}, {g(z)}}},")
    out.append("};")


# ------------------------------------------------------ two proportions


def ztest(s1, n1, s2, n2):
    p1, p2 = F(s1, n1), F(s2, n2)
    pool = F(s1 + s2, n1 + n2)
    var = pool * (1 - pool) * (F(1, n1) + F(1, n2))
    diff = p2 - p1
    z = (D(diff.numerator) / D(diff.denominator)) / (D(var.numerator) / D(var.denominator)).sqrt()
    p_two = 2 * dcdf(-abs(z))
    p_one = dcdf(-z)
    return z, p_two, p_one


def ztest_tables(out):
    cases = [(45, 100, 60, 100), (200, 1000, 240, 1000), (81, 263, 100, 270), (0, 10, 3, 10),
             (10, 10, 7, 10), (1, 2, 2, 2), (500, 10000, 560, 10000), (8000, 10000, 7900, 10000),
             (30, 50, 2, 3), (16, 20, 19, 20)]
    nd = statistics.NormalDist()
    out.append("static const struct { long s1, n1, s2, n2; double z, p_two, p_one; } "
               "ztest_vectors[] = {")
    for s1, n1, s2, n2 in cases:
        z, p2, p1 = ztest(s1, n1, s2, n2)
        a, b = s1 / n1, s2 / n2
        pool = (s1 + s2) / (n1 + n2)
        zf = (b - a) / math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
        close(z, zf, 1e-12, "z")
        close(p2, 2 * (1 - nd.cdf(abs(zf))), 1e-12, "p two-sided")
        out.append(f"    {{{s1}, {n1}, {s2}, {n2}, {g(z)}, {g(p2)}, {g(p1)}}},")
    out.append("};")


# ---------------------------------------------------------------- Wilson


def wilson_tables(out):
    cases = [(81, 263, 0.95), (0, 10, 0.95), (10, 10, 0.95), (1, 1, 0.9), (50, 100, 0.99),
             (5, 1000, 0.95), (9990, 10000, 0.999), (3, 7, 0.5), (1, 2, 0.95)]
    out.append("static const struct { long s, n; double conf, lo, hi; } wilson_vectors[] = {")
    for s, n, conf in cases:
        # z for the double the C code receives: the (1 + conf) / 2 quantile.
        c = D(conf)
        z = dppf((1 + c) / 2)
        p = D(s) / D(n)
        z2 = z * z
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z / denom * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt()
        lo, hi = max(D(0), centre - half), min(D(1), centre + half)
        # centre - half is 0 exactly when s = 0 (and centre + half 1 when
        # s = n); 110 digits leave a 1e-110 residue, so state the limit.
        if s == 0:
            lo = D(0)
        if s == n:
            hi = D(1)
        # Second route: the textbook form with floats.
        zf = statistics.NormalDist().inv_cdf((1 + conf) / 2)
        pf = s / n
        cf = (pf + zf * zf / (2 * n)) / (1 + zf * zf / n)
        hf = zf / (1 + zf * zf / n) * math.sqrt(pf * (1 - pf) / n + zf * zf / (4 * n * n))
        close(lo, max(0.0, cf - hf), 1e-12, "wilson lo")
        close(hi, min(1.0, cf + hf), 1e-12, "wilson hi")
        out.append(f"    {{{s}, {n}, {g(conf)}, {g(lo)}, {g(hi)}}},")
    out.append("};")


# ----------------------------------------------------- P(treatment wins)


def miller_decimal(s_c, n_c, s_t, n_t):
    """Evan Miller's sum for P(p_B > p_A), exactly as published, in decimal.

    A = control ~ Beta(1+s_c, 1+n_c-s_c), B = treatment likewise;
    P = sum_{i=0}^{aB-1} B(aA+i, bA+bB) / ((bB+i) B(1+i, bB) B(aA, bA)).
    The i = 0 term is B(aA, bA+bB)/B(aA, bA) = prod_{k<aA} (bA+k)/(bA+bB+k)
    (integer parameters), and each term follows from the one before by
    (aA+i)(bB+i) / ((aA+bA+bB+i)(1+i)).
    """
    getcontext().prec = 50
    aA, bA, aB, bB = 1 + s_c, 1 + n_c - s_c, 1 + s_t, 1 + n_t - s_t
    t = D(1)
    for k in range(aA):
        t = t * (bA + k) / (bA + bB + k)
    total = D(0)
    for i in range(aB):
        total += t
        t = t * (aA + i) * (bB + i) / ((aA + bA + bB + i) * (1 + i))
    getcontext().prec = 110
    return total


def miller_lgamma(s_c, n_c, s_t, n_t):
    """The same sum term by term with math.lgamma, as Evan Miller writes it."""
    def lbeta(a, b):
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    aA, bA, aB, bB = 1 + s_c, 1 + n_c - s_c, 1 + s_t, 1 + n_t - s_t
    return math.fsum(math.exp(lbeta(aA + i, bB + bA) - math.log(bB + i) - lbeta(1 + i, bB)
                              - lbeta(aA, bA)) for i in range(aB))


def monte_carlo(s_c, n_c, s_t, n_t, rng, draws=40000):
    wins = 0
    for _ in range(draws):
        a = rng.betavariate(1 + s_c, 1 + n_c - s_c)
        b = rng.betavariate(1 + s_t, 1 + n_t - s_t)
        wins += b > a
    return wins / draws


def normal_approx(s_c, n_c, s_t, n_t):
    def mv(s, n):
        a, b = F(1 + s), F(1 + n - s)
        return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    mA, vA = mv(s_c, n_c)
    mB, vB = mv(s_t, n_t)
    d = mB - mA
    v = vA + vB
    return dcdf((D(d.numerator) / D(d.denominator)) / (D(v.numerator) / D(v.denominator)).sqrt())


def beats_tables(out):
    cases = [(0, 0, 0, 0), (1, 1, 0, 0), (0, 0, 1, 1), (10, 20, 15, 20), (45, 100, 60, 100),
             (200, 1000, 240, 1000), (3, 50, 40, 50), (40, 50, 3, 50), (1, 10, 9, 10),
             (8000, 10000, 7900, 10000), (5000, 10000, 5100, 10000), (9990, 10000, 9995, 10000),
             (1, 10, 9000, 10000), (6000, 10000, 6000, 10000), (120, 1000, 70, 300),
             (9000, 10000, 9100, 10000)]
    rng = random.Random(20170813)
    out.append("static const struct { long s_c, n_c, s_t, n_t; double p; } beats_vectors[] = {")
    for c in cases:
        exact = miller_decimal(*c)
        close(exact, miller_lgamma(*c), 1e-8, f"lgamma route {c}")
        mc = monte_carlo(*c, rng)
        pe = float(exact)
        if abs(mc - pe) > 5 * math.sqrt(pe * (1 - pe) / 40000) + 1e-3:
            sys.exit(f"Monte Carlo disagrees for {c}: {mc} vs {pe}")
        out.append(f"    {{{c[0]}, {c[1]}, {c[2]}, {c[3]}, {g(exact)}}},")
    out.append("};")
    if abs(float(miller_decimal(1, 1, 0, 0)) - 1 / 3) > 1e-15:
        sys.exit("P(Beta(1,1) > Beta(2,1)) is 1/3")

    # Both sides of the exact/approximate switch: the smallest of the four
    # Beta parameters is EXACT_MAX (exact sum) and EXACT_MAX + 1 (normal).
    below = (EXACT_MAX - 1, 120000, EXACT_MAX + 100, 120000)
    above = (EXACT_MAX, 120000, EXACT_MAX + 101, 120000)
    out.append("static const struct { long s_c, n_c, s_t, n_t; double exact, approx; } "
               "switch_vectors[] = {")
    for c in (below, above):
        ex = miller_decimal(*c)
        ap = normal_approx(*c)
        out.append(f"    {{{c[0]}, {c[1]}, {c[2]}, {c[3]}, {g(ex)}, {g(ap)}}},")
        print(f"switch {c}: exact {float(ex)!r} normal {float(ap)!r} "
              f"diff {float(ex - ap):.3g}", file=sys.stderr)
    out.append("};")


# ------------------------------------------------------------------ mSPRT


def msprt(s_c, n_c, s_t, n_t, tau, alpha):
    """Johari et al. (2017), the normal mixture SPRT on theta = p_t - p_c.

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 theta^2 / (2 V (V + tau^2))),
    theta the observed difference and V its variance under H0 (the pooled
    rate, as in the pooled z-test).  With one observation per arm per step,
    V = sigma^2 / n and this is the paper's
    sqrt(sigma^2 / (sigma^2 + n tau^2)) exp(n^2 tau^2 theta^2 / (2 sigma^2 (sigma^2 + n tau^2))).
    """
    theta = F(s_t, n_t) - F(s_c, n_c)
    pool = F(s_c + s_t, n_c + n_t)
    V = pool * (1 - pool) * (F(1, n_c) + F(1, n_t))
    t2 = F(tau) ** 2
    log_lr = (D((V / (V + t2)).numerator) / D((V / (V + t2)).denominator)).ln() / 2
    expo = t2 * theta * theta / (2 * V * (V + t2))
    log_lr += D(expo.numerator) / D(expo.denominator)
    p = min(D(1), (-log_lr).exp())
    verdict = 0
    if p <= D(alpha):
        verdict = 1 if theta > 0 else -1
    return log_lr, p, verdict


def msprt_tables(out):
    cases = [(80, 100, 95, 100, 0.1, 0.05), (95, 100, 80, 100, 0.1, 0.05),
             (400, 500, 430, 500, 0.1, 0.05), (800, 1000, 800, 1000, 0.1, 0.05),
             (45, 100, 60, 100, 0.1, 0.05), (2000, 10000, 2150, 10000, 0.1, 0.05),
             (2000, 10000, 2150, 10000, 0.02, 0.05), (1, 1, 0, 1, 0.1, 0.05),
             (30, 40, 35, 38, 0.2, 0.1), (16, 20, 20, 20, 0.1, 0.05),
             (700, 1000, 760, 1000, 0.05, 0.01), (5, 300, 0, 20, 0.1, 0.05),
             (2000, 10000, 2300, 10000, 0.1, 0.05), (300, 400, 200, 380, 0.1, 0.05)]
    out.append("static const struct { long s_c, n_c, s_t, n_t; double tau, alpha, log_lr, p; "
               "int verdict; } msprt_vectors[] = {")
    for c in cases:
        log_lr, p, v = msprt(*c)
        # Second route: the paper's per-pair form when the arms are equal.
        s_c, n_c, s_t, n_t, tau, alpha = c
        if n_c == n_t:
            n = n_c
            pool = (s_c + s_t) / (n_c + n_t)
            sig2 = 2 * pool * (1 - pool)
            th = s_t / n_t - s_c / n_c
            lf = 0.5 * math.log(sig2 / (sig2 + n * tau * tau)) + \
                n * n * tau * tau * th * th / (2 * sig2 * (sig2 + n * tau * tau))
            close(log_lr, lf, 1e-9, f"msprt {c}")
        out.append(f"    {{{s_c}, {n_c}, {s_t}, {n_t}, {g(tau)}, {g(alpha)}, {g(log_lr)}, "
                   f"{g(p)}, {v}}},")
    out.append("};")


# -------------------------------------------------------------------- SRM


def srm_tables(out):
    cases = [(5000, 5000, 0.5), (5000, 5200, 0.5), (50000, 51000, 0.5), (900, 100, 0.1),
             (880, 120, 0.1), (10, 0, 0.5), (1000, 1100, 0.5), (4900, 2100, 0.3),
             (4800, 2200, 0.3), (1, 2, 0.5)]
    out.append("static const struct { long n_c, n_t; double share, p; } srm_vectors[] = {")
    for n_c, n_t, share in cases:
        N = n_c + n_t
        sh = F(share)
        et, ec = N * sh, N * (1 - sh)
        chi2 = (n_t - et) ** 2 / et + (n_c - ec) ** 2 / ec
        x = (D(chi2.numerator) / D(chi2.denominator)).sqrt()
        p = 2 * dcdf(-x)
        close(p, math.erfc(math.sqrt(float(chi2) / 2)), 1e-12, "srm erfc")
        out.append(f"    {{{n_c}, {n_t}, {g(share)}, {g(p)}}},")
    out.append("};")


# ------------------------------------------------------------ mean and sd


def moments_tables(out):
    arrays = [[1, 2, 3, 4, 5], [0.9, 0.95, 0.85, 1.0, 0.8, 0.92],
              [1e9 + 1, 1e9 + 2, 1e9 + 3], [-3.5, 12.25, 0.125, 7.0, -1.0, 2.5, 9.75],
              [0.42]]
    out.append("static const double moments_a0[] = {" + ", ".join(g(x) for x in arrays[0]) + "};")
    for i, a in enumerate(arrays):
        if i:
            out.append(f"static const double moments_a{i}[] = {{" + ", ".join(g(x) for x in a) + "};")
    out.append("static const struct { const double *xs; size_t n; double mean, sd; } "
               "moments_vectors[] = {")
    for i, a in enumerate(arrays):
        fr = [F(x) for x in a]
        mean = sum(fr) / len(fr)
        if len(fr) > 1:
            var = sum((x - mean) ** 2 for x in fr) / (len(fr) - 1)
            sd = (D(var.numerator) / D(var.denominator)).sqrt()
            close(sd, statistics.stdev(a), 1e-12, "stdev")
        else:
            sd = D(0)
        close(mean, statistics.fmean(a), 1e-15, "mean")
        out.append(f"    {{moments_a{i}, {len(a)}, {g(mean)}, {g(sd)}}},")
    out.append("};")


def main():
    out = ["/* generated by tests/unit/stats_vectors.py */"]
    normal_tables(out)
    ztest_tables(out)
    wilson_tables(out)
    beats_tables(out)
    msprt_tables(out)
    srm_tables(out)
    moments_tables(out)
    out.append("/* end generated */")
    print("\n".join(out))


if __name__ == "__main__":
    main()
