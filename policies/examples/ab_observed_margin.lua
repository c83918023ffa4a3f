-- ab_observed_margin.lua: the previous default A/B rule (skillhost 0.1), kept for
-- comparison with ab.lua.  It asks the OBSERVED difference to clear the seeds' 10-point
-- margin at the same look as the always-valid test, which costs power: with a true
-- +10 effect the observed difference sits under 0.10 about half the time
-- (docs/statistics.md, "Where the margin lives").  To use it, copy it over ab.lua.
--
-- Who wins an A/B test between a skill's serving variant (the control)
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
--      it is checked;
--   4. and the observed rates must differ by at least the seeds' 10-point margin,
--      in the winner's favour;
--   5. a winning treatment must not need many more attempts per request (guardrail).
-- To change the rule, edit `settings` or decide() below; the host re-reads this file
-- before the next decision.  See docs/ab-testing.md.

local settings = {
  min_per_arm = 10,          -- floor under facts.target
  margin = 0.10,             -- the seeds' margin, on observed success rates
  alpha = 0.05,              -- false-decision bound of the sequential test
  tau = 0.10,                -- mSPRT mixing scale: tuned to effects of about 10 points
  srm_alpha = 0.001,         -- below this p the router's split is broken: no verdict
  max_extra_attempts = 0.5,  -- treatment may need at most this many more attempts per request
  on_win = "promote",        -- "await_approval": wait for the staged->production sign-off
}

-- Rates are ratios of counts: 18/20 - 16/20 is 0.0999999...; a margin is met within this.
local EPS = 1e-9

local function decide(f)
  local s = settings
  local c, t = f.control, f.treatment
  local need = math.max(f.target or 20, s.min_per_arm)
  local seq = skh.stats.msprt(c.successes, c.trials, t.successes, t.trials, s.tau, s.alpha)
  local min_p = math.min(f.min_p or 1, seq.p)
  local diff = t.rate - c.rate
  local statistic = { test = "msprt", p = seq.p, min_p = min_p, log_lr = seq.log_lr,
                      difference = diff, tau = s.tau, alpha = s.alpha }
  local answer = {
    on_win = s.on_win,
    statistic = statistic,
    thresholds = { target_per_arm = need, margin = s.margin, alpha = s.alpha, tau = s.tau,
                   srm_alpha = s.srm_alpha, max_extra_attempts = s.max_extra_attempts },
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
  if min_p > s.alpha then
    answer.reason = string.format("inconclusive: always-valid p = %.3f > %.2f (rates %.3f vs %.3f)",
                                  min_p, s.alpha, c.rate, t.rate)
    return answer
  end
  if diff >= s.margin - EPS then
    local extra = t.attempts_mean - c.attempts_mean
    statistic.extra_attempts = extra
    if extra > s.max_extra_attempts then
      answer.reason = string.format("held by the guardrail: treatment needs %.2f more attempts per request (limit %.2f)",
                                    extra, s.max_extra_attempts)
      return answer
    end
    answer.winner = "treatment"
    answer.reason = string.format("treatment wins: %.3f vs %.3f (%+.3f, margin %.2f), always-valid p = %.4f <= %.2f",
                                  t.rate, c.rate, diff, s.margin, min_p, s.alpha)
  elseif diff <= -s.margin + EPS then
    answer.winner = "control"
    answer.reason = string.format("control wins: %.3f vs %.3f (%+.3f, margin %.2f), always-valid p = %.4f <= %.2f",
                                  c.rate, t.rate, diff, s.margin, min_p, s.alpha)
  else
    answer.reason = string.format("inconclusive: significant (p = %.4f) but the difference %+.3f is under the %.2f margin",
                                  min_p, diff, s.margin)
  end
  return answer
end

return {
  kind = "policy", name = "ab_observed_margin", version = "1.0.0",
  description = "A/B winner: sample-size target, always-valid mSPRT and the seeds' 10-point margin",
  decide = decide,
}
