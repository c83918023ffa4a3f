-- anomaly.lua: is an hour of a skill's traffic out of line with the hours before it?
--
-- judge(facts) is called once per skill (and tenant, when `anomalies --tenant` asks)
-- for every hour that is over and not judged yet, with
--   facts.skill, facts.tenant ("" for all), facts.hour ("2026-12-06T10")
--   facts.executions, facts.requests   this hour's counts
--   facts.metrics     one entry per metric seed 004 watches:
--                     success_rate  requests that met the threshold / requests
--                     fidelity      mean pattern fidelity of the executions
--                     error_rate    failed executions / executions
--                     duration_ms   mean execution time
--                     each { value, baseline = { mean, std, hours, executions } }, where
--                     the baseline is the trailing hours with traffic before this one
--                     (up to 24; std is the spread of their hourly values); a metric
--                     with no value this hour (no requests) is absent
-- and answers
--   { findings = { { metric = "...", direction = "low" | "high", severity = "warning" |
--                    "critical", reason = "...", statistic = { z = Z, ... },
--                    thresholds = { ... } }, ... },
--     reason = "...", statistic = {...}, thresholds = {...} }   -- for the hour as a whole
-- Every finding is recorded in the anomalies table (kept: an hour is judged once),
-- printed by `skillhost anomalies`, and offered to hooks.lua (event.kind = "anomaly").
--
-- The rule (seed 004's z-score detection, with the guards a z-score needs):
--   1. judge nothing until the baseline has `min_baseline_hours` hours with traffic,
--      and no hour with fewer than `min_executions` executions (rates of a handful
--      of calls swing by chance);
--   2. z = (value - baseline mean) / max(baseline std, floor), where the floor is
--      `min_std` for rates and `min_std_ratio` x the mean for durations: a baseline
--      that never moved would otherwise make any wiggle infinitely unusual;
--   3. only the harmful direction counts: success rate and fidelity low, error rate
--      and duration high;
--   4. |z| >= `z_warning` is a warning, >= `z_critical` critical;
--   5. and the change must matter in absolute terms too (`min_change`): a z of 5 on
--      a rate that moved from 0.999 to 0.99 is not worth a page.
-- To change the rule, edit `settings` or judge() below; the host re-reads this file
-- before the next scan.  See docs/observability.md.

local settings = {
  min_baseline_hours = 6,   -- rule 1: six hours of history before any judgement
  min_executions = 5,       -- rule 1: an hour with fewer calls is not judged
  min_std = 0.02,           -- rule 2: rates are never trusted to be steadier than 2 points
  min_std_ratio = 0.10,     -- rule 2: durations never steadier than 10% of their mean
  z_warning = 3.0,          -- rule 4: seed 004's threshold; 3 sigma is ~1 in 700 one-sided
  z_critical = 5.0,         -- rule 4: far past anything chance produces in a year of hours
  min_change = {            -- rule 5: the smallest absolute change worth reporting
    success_rate = 0.05, fidelity = 0.05, error_rate = 0.05, duration_ms = 5,
  },
}

-- Rule 3: which way is bad.
local harmful = { success_rate = "low", fidelity = "low", error_rate = "high", duration_ms = "high" }

local function judge_metric(name, m)
  local b = m.baseline
  local floor = name == "duration_ms" and settings.min_std_ratio * b.mean or settings.min_std
  local spread = math.max(b.std, floor)
  local z = (m.value - b.mean) / spread
  local change = m.value - b.mean
  local thresholds = { z_warning = settings.z_warning, z_critical = settings.z_critical,
                       min_change = settings.min_change[name], std_floor = floor }
  local statistic = { z = z, value = m.value, mean = b.mean, std = b.std, hours = b.hours }
  local bad = harmful[name] == "low" and z <= -settings.z_warning
      or harmful[name] == "high" and z >= settings.z_warning
  if not bad or math.abs(change) < settings.min_change[name] then
    return nil
  end
  local severity = math.abs(z) >= settings.z_critical and "critical" or "warning"
  return {
    metric = name, direction = harmful[name], severity = severity,
    reason = string.format("%s %.4g against %.4g +- %.4g over the %d hours before (z = %+.1f)",
                           name, m.value, b.mean, spread, b.hours, z),
    statistic = statistic, thresholds = thresholds,
  }
end

local function judge(facts)
  local thresholds = { min_baseline_hours = settings.min_baseline_hours,
                       min_executions = settings.min_executions }
  if facts.executions < settings.min_executions then
    return { findings = {}, thresholds = thresholds,
             reason = string.format("%d executions, fewer than %d: not judged",
                                    facts.executions, settings.min_executions) }
  end
  local findings = {}
  local judged = 0
  for _, name in ipairs({ "success_rate", "fidelity", "error_rate", "duration_ms" }) do
    local m = facts.metrics[name]
    if m and m.baseline.hours >= settings.min_baseline_hours then
      judged = judged + 1
      local f = judge_metric(name, m)
      if f then findings[#findings + 1] = f end
    end
  end
  return {
    findings = findings, thresholds = thresholds, statistic = { metrics_judged = judged },
    reason = judged == 0 and string.format("baseline under %d hours: inconclusive",
                                           settings.min_baseline_hours)
        or string.format("%d of %d metrics out of line", #findings, judged),
  }
end

return {
  kind = "policy", name = "anomaly", version = "1.0.0",
  description = "Which hours of a skill's traffic are anomalies (z-score against the trailing hours)",
  judge = judge,
}
