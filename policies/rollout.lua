-- rollout.lua: a gradual rollout moves a candidate (the treatment) through traffic
-- steps, 10% -> 50% -> 100% by default, while the rest of the traffic stays on the
-- serving variant (the control).
--
-- steps() answers { steps = { 10, 50, 100 } }: the default steps of
-- `skillhost ab start NAME --treatment NAME@vN --rollout` (--steps overrides them).
--
-- decide(facts) is called after every trial with the facts ab.lua gets
--   facts.test_id, facts.skill, facts.mode ("rollout"), facts.weight, facts.target,
--   facts.min_p, facts.control, facts.treatment   (counts over the whole rollout)
-- plus
--   facts.steps   { 10, 50, 100 }
--   facts.step    { index (1-based), count, weight, next (nil at the last step),
--                   last, started_at,
--                   control = { trials, successes, rate },     -- since this step began
--                   treatment = { trials, successes, rate } }
-- and answers
--   { action = "advance" | "hold" | "stop" | "promote",
--     on_win = "promote" | "await_approval",    -- what "promote" does
--     reason = "...", statistic = { p = P, ... }, thresholds = { ... } }
-- "advance" moves to the next step (its counts start again), "stop" sets the
-- treatment's weight to 0 and ends the rollout (recorded, the variant is kept),
-- "promote" (at the last step) makes the treatment the production variant.
--
-- The checks at each step:
--   stop    when the always-valid mSPRT over the whole rollout says the control is
--           better (p <= alpha at this look), or when, with enough trials, the step's
--           treatment rate is more than stop_margin under the control's and its 95%
--           Wilson upper bound is under the control's rate too, or when the treatment
--           needs stop_extra_attempts more attempts per request;
--   hold    until the step has `target` treatment trials (facts.target, at least
--           min_per_arm) and the control has as many over the rollout;
--   advance when the step's treatment rate is no worse than the control's minus
--           `tolerance` (non-inferiority) and the attempts guardrail holds;
--   promote instead of advancing at the last step (100%).
--
-- breaker(facts) answers the circuit breaker's settings for facts.variant (facts.skill,
-- facts.variant): { failures = N, cooldown_s = S }.  N consecutive failed requests of a
-- variant open its breaker (a failure is what recovery.lua marks breaker = true: a crash by
-- default); requests then fall back to the previous production variant for S seconds, after
-- which exactly one request probes the variant: its success closes the breaker, its failure
-- re-opens it.  Without breaker() the host uses 5 failures and 30 seconds.

local settings = {
  steps = { 10, 50, 100 },
  min_per_arm = 10,           -- floor under facts.target
  tolerance = 0.05,           -- non-inferiority margin for advancing
  stop_margin = 0.10,         -- clearly worse at a step: stop
  alpha = 0.05, tau = 0.10,   -- the always-valid test (docs/statistics.md)
  srm_alpha = 0.001,          -- below this the step's split is broken: hold
  max_extra_attempts = 0.5,   -- advance only while treatment needs at most this many more attempts
  stop_extra_attempts = 1.0,  -- and stop when it needs this many more
  on_win = "promote",         -- "await_approval": wait for the staged->production sign-off
}

local EPS = 1e-9

local function steps()
  return { steps = settings.steps }
end

local function decide(f)
  local s = settings
  local c, t = f.control, f.treatment
  local sc, st = f.step.control, f.step.treatment
  local need = math.max(f.target or 20, s.min_per_arm)
  local seq = skh.stats.msprt(c.successes, c.trials, t.successes, t.trials, s.tau, s.alpha)
  local extra = t.attempts_mean - c.attempts_mean
  local statistic = { test = "msprt", p = seq.p, min_p = math.min(f.min_p or 1, seq.p),
                      log_lr = seq.log_lr, control_rate = c.rate, step_rate = st.rate,
                      extra_attempts = extra }
  local answer = {
    action = "hold", on_win = s.on_win, statistic = statistic,
    thresholds = { trials_per_step = need, tolerance = s.tolerance, stop_margin = s.stop_margin,
                   alpha = s.alpha, tau = s.tau, max_extra_attempts = s.max_extra_attempts,
                   stop_extra_attempts = s.stop_extra_attempts },
  }
  local function say(action, fmt, ...)
    answer.action = action
    answer.reason = string.format("step %d of %d (%g%%): ", f.step.index, f.step.count, f.weight)
                    .. string.format(fmt, ...)
    return answer
  end

  if seq.p <= s.alpha and t.rate < c.rate then
    return say("stop", "control is better: %.3f vs %.3f, always-valid p = %.4f", c.rate, t.rate, seq.p)
  end
  if c.trials < need then
    return say("hold", "%d control trials, %d needed", c.trials, need)
  end
  if st.trials < need then
    return say("hold", "%d of %d treatment trials", st.trials, need)
  end
  local _, hi = skh.stats.wilson(st.successes, st.trials)
  statistic.step_upper = hi
  if c.rate - st.rate > s.stop_margin + EPS and hi < c.rate then
    return say("stop", "treatment is clearly worse: %.3f (95%% upper bound %.3f) vs control %.3f",
               st.rate, hi, c.rate)
  end
  if extra > s.stop_extra_attempts then
    return say("stop", "treatment needs %.2f more attempts per request (limit %.2f)", extra, s.stop_extra_attempts)
  end
  if f.weight > 0 and f.weight < 100 then
    local srm = skh.stats.srm_p(sc.trials, st.trials, f.weight / 100)
    statistic.srm_p = srm
    if srm < s.srm_alpha then
      return say("hold", "sample ratio mismatch (p = %.2g): the split is broken", srm)
    end
  end
  if extra > s.max_extra_attempts then
    return say("hold", "treatment needs %.2f more attempts per request (limit %.2f)", extra, s.max_extra_attempts)
  end
  if st.rate < c.rate - s.tolerance - EPS then
    return say("hold", "treatment %.3f is below control %.3f minus %.2f", st.rate, c.rate, s.tolerance)
  end
  if f.step.last then
    return say("promote", "treatment %.3f vs control %.3f at full traffic: checks passed", st.rate, c.rate)
  end
  return say("advance", "treatment %.3f vs control %.3f: checks passed, next %g%%", st.rate, c.rate, f.step.next)
end

-- The circuit breaker (see breaker() above).
local breaker_settings = {
  failures = 5,      -- consecutive failed requests that open the breaker
  cooldown_s = 30,   -- seconds open before one half-open probe
}

local function breaker(_facts)
  return { failures = breaker_settings.failures, cooldown_s = breaker_settings.cooldown_s }
end

return {
  kind = "policy", name = "rollout", version = "1.0.0",
  description = "Gradual rollout: steps 10/50/100, non-inferiority to advance, stop when clearly worse",
  steps = steps,
  decide = decide,
  breaker = breaker,
}
