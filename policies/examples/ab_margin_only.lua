-- ab_margin_only.lua: the seeds' A/B rule, kept for comparison with ab.lua.
--
--   after sample_size_target trials (default 20) in each arm, the arm whose observed
--   success rate leads by 0.10 or more wins; checked after every trial.
--
-- Do not use it to decide: checked after every trial it declares a winner in most
-- tests where both variants are equally good (docs/statistics.md, "Why peeking
-- breaks the z-test and the margin rule").  To try it anyway, copy it over
-- policies/ab.lua (its facts and answer are the same).
--
-- The seeds' own check_ab_promotion() counted the trials of both arms together
-- (control_trials + treatment_trials >= sample_size_target); this file asks the
-- target of each arm, as docs/statistics.md measured it.  For the seeds' count,
-- replace the `if` below with: if c.trials + t.trials < target then
-- Like the seeds, it compares the rates exactly, with no statistical test.

local function decide(f)
  local c, t = f.control, f.treatment
  local target = f.target or 20
  if c.trials < target or t.trials < target then
    return { reason = string.format("inconclusive: %d and %d trials, %d needed in each arm",
                                    c.trials, t.trials, target) }
  end
  local control_rate = c.successes / math.max(c.trials, 1)
  local treatment_rate = t.successes / math.max(t.trials, 1)
  local margin = treatment_rate - control_rate
  local answer = { statistic = { test = "margin", difference = margin },
                   thresholds = { target_per_arm = target, margin = 0.10 } }
  if margin >= 0.10 then
    answer.winner = "treatment"
  elseif margin <= -0.10 then
    answer.winner = "control"
  end
  answer.reason = string.format("margin %+.3f (%s)", margin, answer.winner or "inconclusive")
  return answer
end

return {
  kind = "policy", name = "ab_margin_only", version = "1.0.0",
  description = "The seeds' A/B rule: a 10-point margin after the sample-size target, no statistics",
  decide = decide,
}
