-- ab.lua: who wins an A/B test between a skill's serving variant (the control)
-- and a candidate (the treatment)?
--
-- decide(facts) is called after every trial (one request routed by the test; its
-- success = the request's final fidelity >= the threshold) with
--   facts.test_id, facts.skill, facts.mode ("ab"), facts.started_at
--   facts.weight      the treatment's share of the traffic, in percent
--   facts.target      the test's sample-size target (`ab start --target`, default 20)
--   facts.min_p       the smallest always-valid p-value answered at earlier looks
--                     (1 before any); the host keeps it from statistic.p below
--   facts.control, facts.treatment
--                     { variant, trials, successes, rate, attempts, attempts_mean }
--   facts.latency     nil until both arms reach the first planned look; then the
--                     latest rank comparison of request durations (docs/statistics.md):
--                     { look, alpha, control = {n, median_ms, p95_ms},
--                       treatment = {n, median_ms, p95_ms},
--                       mann_whitney = {u, z, p_slower, p_faster} }
-- and answers
--   { winner = "treatment" | "control" | nil,     -- nil: keep going
--     on_win = "promote" | "await_approval",      -- what a treatment win does
--     reason = "...",                             -- shown by `ab status`, kept with the verdict
--     statistic = { p = P, ... },                 -- P: this look's always-valid p-value
--     thresholds = { ... } }                      -- kept with the verdict
-- A treatment win promotes it (it serves at once; the old production variant is kept
-- as the rollback target); a control win archives the treatment.  An error raised
-- here decides nothing: it is recorded and the test keeps running.
--
-- The rule, checked after every trial:
--   1. no verdict before `target` trials in EACH arm (and never under min_per_arm);
--   2. none while the split itself looks broken (sample ratio mismatch);
--   3. the always-valid mSPRT (docs/statistics.md) must have reached p <= alpha at
--      some look: unlike a z-test or a bare margin, it stays valid however often
--      it is checked.  Its mixing scale tau is the seeds' 10-point margin: the test
--      is powered for an effect of that size, and the margin is a statement about
--      the effect, not a bar one noisy observed difference must clear (that bar,
--      the previous rule, is policies/examples/ab_observed_margin.lua);
--   4. the winner is the arm the data favour now, and the answer carries the
--      always-valid interval for the difference;
--   5. a winning treatment must not need many more attempts per request (guardrail);
--   6. nor be much slower than the control running beside it: a rank test of the
--      request durations, valid under its planned looks, holds the verdict when the
--      treatment is significantly slower AND its median is over `latency_ratio` times
--      the control's AND at least `latency_min_ms` more.
-- To change the rule, edit `settings` or decide() below; the host re-reads this file
-- before the next decision.  See docs/ab-testing.md.

local settings = {
  min_per_arm = 10,          -- floor under facts.target
  margin = 0.10,             -- the seeds' margin: the effect the test is powered for (tau)
  alpha = 0.05,              -- false-decision bound of the sequential test (both directions)
  srm_alpha = 0.001,         -- below this p the router's split is broken: no verdict
  max_extra_attempts = 0.5,  -- treatment may need at most this many more attempts per request
  latency_ratio = 1.5,       -- hold a win when the treatment's median time is over 1.5x ...
  latency_min_ms = 20,       -- ... and at least 20 ms over the control's (both must hold)
  on_win = "promote",        -- "await_approval": wait for the staged->production sign-off
}

local function pct(x) return string.format("%+.3f", x) end

-- Rule 6: is the treatment held for being slower?  Returns a reason or nil.
local function latency_hold(lat, s, statistic)
  if not lat or not lat.mann_whitney then return nil end
  local c, t, mw = lat.control, lat.treatment, lat.mann_whitney
  statistic.latency = { look = lat.look, alpha = lat.alpha, p_slower = mw.p_slower,
                        control_median_ms = c.median_ms, treatment_median_ms = t.median_ms }
  if not (c.median_ms and t.median_ms) or mw.p_slower > lat.alpha then return nil end
  if t.median_ms <= s.latency_ratio * c.median_ms then return nil end
  if t.median_ms - c.median_ms < s.latency_min_ms then return nil end
  return string.format("held by latency: treatment median %.1f ms vs control %.1f ms (over %.1fx and %g ms slower; rank test p = %.3g <= %.3g at look %d)",
                       t.median_ms, c.median_ms, s.latency_ratio, s.latency_min_ms,
                       mw.p_slower, lat.alpha, lat.look)
end

local function decide(f)
  local s = settings
  local c, t = f.control, f.treatment
  local need = math.max(f.target or 20, s.min_per_arm)
  local seq = skh.stats.msprt(c.successes, c.trials, t.successes, t.trials, s.margin, s.alpha)
  local min_p = math.min(f.min_p or 1, seq.p)
  local diff = t.rate - c.rate
  local statistic = { test = "msprt", p = seq.p, min_p = min_p, log_lr = seq.log_lr,
                      difference = diff, interval = { seq.ci_lo, seq.ci_hi },
                      tau = s.margin, alpha = s.alpha }
  local answer = {
    on_win = s.on_win,
    statistic = statistic,
    thresholds = { target_per_arm = need, margin = s.margin, alpha = s.alpha, tau = s.margin,
                   srm_alpha = s.srm_alpha, max_extra_attempts = s.max_extra_attempts,
                   latency_ratio = s.latency_ratio, latency_min_ms = s.latency_min_ms },
  }

  if c.trials < need or t.trials < need then
    answer.reason = string.format("inconclusive: %d control and %d treatment trials, %d needed in each arm",
                                  c.trials, t.trials, need)
    return answer
  end
  if f.weight > 0 and f.weight < 100 then
    local srm = skh.stats.srm_p(c.trials, t.trials, f.weight / 100)
    statistic.srm_p = srm
    if srm < s.srm_alpha then
      answer.reason = string.format("no verdict: sample ratio mismatch (p = %.2g for a %g%% split); the assignment is broken",
                                    srm, f.weight)
      return answer
    end
  end
  local interval = string.format("[%s, %s]", pct(seq.ci_lo), pct(seq.ci_hi))
  if min_p > s.alpha then
    answer.reason = string.format("inconclusive: always-valid p = %.3f > %.2f (rates %.3f vs %.3f, difference %s, interval %s)",
                                  min_p, s.alpha, c.rate, t.rate, pct(diff), interval)
    return answer
  end
  if diff > 0 then
    local extra = t.attempts_mean - c.attempts_mean
    statistic.extra_attempts = extra
    if extra > s.max_extra_attempts then
      answer.reason = string.format("held by the guardrail: treatment needs %.2f more attempts per request (limit %.2f)",
                                    extra, s.max_extra_attempts)
      return answer
    end
    local held = latency_hold(f.latency, s, statistic)
    if held then
      answer.reason = held
      return answer
    end
    answer.winner = "treatment"
    answer.reason = string.format("treatment wins: %.3f vs %.3f (%s, interval %s), always-valid p = %.4f <= %.2f",
                                  t.rate, c.rate, pct(diff), interval, min_p, s.alpha)
  elseif diff < 0 then
    answer.winner = "control"
    answer.reason = string.format("control wins: %.3f vs %.3f (%s, interval %s), always-valid p = %.4f <= %.2f",
                                  c.rate, t.rate, pct(diff), interval, min_p, s.alpha)
  else
    answer.reason = string.format("inconclusive: p = %.4f was reached, but the rates are equal now (%.3f)",
                                  min_p, t.rate)
  end
  return answer
end

return {
  kind = "policy", name = "ab", version = "2.0.0",
  description = "A/B winner: sample-size target, always-valid mSPRT powered for the seeds' 10-point margin, attempts and latency guardrails",
  decide = decide,
}
