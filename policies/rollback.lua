-- rollback.lua: should a serving variant go back down?
--
-- The host calls it after every recorded request of a production or staged variant
-- (benchmark evaluations never count), and after a `skillhost rollback` only to read
-- settings():
--
-- settings(facts) -> { window = N, staged_executions = M }
--     N: how many of the variant's latest live executions the host reads (the window);
--     M: the staged milestone (executions), the sample read for staged variants.
--
-- decide(facts) -> answer            for a production variant
-- demote_staged(facts) -> answer     for a staged variant that never served production
--   answer = { action = "rollback" | "freeze" | "demote" | nil,
--              verdict = "rollback" | "freeze" | "demote" | "ok" | "inconclusive",
--              reason = "...",               -- kept as rollback_events.trigger_reason
--              metric = "fidelity=0.83",     -- kept as rollback_events.trigger_metric
--              trigger = "fidelity",         -- the check that fired
--              checks = { CHECK, ... }, thresholds = { NAME = ..., ... } }
--   CHECK = { name, status = "pass" | "fail" | "inconclusive", measured, threshold, detail }
--   "rollback": the variant goes back to staged and the previous production variant
--               (facts.target) serves again, in one transaction; with no target the
--               rollback is "suppressed": recorded once per window, nothing changes.
--   "freeze":   routing stops sending requests to the variant (they fall back to the
--               target, as from an open circuit breaker) but its state stays; the freeze
--               ends when the variant's state changes (`skillhost rollback`, a promotion).
--   "demote":   a staged variant goes back to prototype.
--   nil:        nothing to do; verdict says whether the checks passed or the sample was
--               too small ("inconclusive" -- never a pass).
--
-- facts (both functions):
--   skill, variant, state ("production" | "staged"), since (when it entered that state;
--   for staged: its promotion to staged), window (N), target (the variant a rollback would
--   restore, or nil), positive_class (the skill's, or nil: the first expected value that is
--   not "ham", "negative" or "no"),
--   executions   the last N live executions since `since`, newest first, skipped ones left
--                out (recovery.lua blamed the input; at most 4N are read, so a run of them
--                leaves the window short):
--                { execution_id, timestamp, fidelity, correct, decision, expected, critical,
--                  duration_ms, exception, error_category }   (members of a metric table
--                  with no row for it are nil; correct is nil without a label)
--   baseline     { evaluation = { count, fidelity, outcome, mean_ms }   -- its first 100
--                                                                        benchmark runs
--                  first = { count, mean_ms } }   -- its first 100 live executions before
--                                                    the window
-- demote_staged also gets
--   age_days         days since it became staged (the promotion_events timestamp vs now)
--   milestone_days   how long after becoming staged its M-th live execution came, or nil
--   sample           { count, fidelity } over its last M live executions since staged
--
-- The production triggers (DESIGN §4, the seeds' rollback policy), over the window:
--   critical false negative (a critical case whose positive label was missed), fidelity
--   < 0.85, outcome < 0.80, false-positive rate > 0.10, exception rate > 0.05, mean time
--   > 3x baseline, or a dependency health check failing.  The time baseline is the
--   variant's benchmark mean time (`skillhost evaluate`), else the mean of its first 100
--   live executions before the window; either needs BASELINE_MIN executions, and the
--   window must also be TIME_MIN_EXCESS_MS slower in absolute terms, so timing noise of a
--   sub-millisecond skill is no regression.  Outcome and false-positive rate are judged
--   only over LABELLED_MIN labelled (NEGATIVES_MIN negative) executions of the window.
-- The staged -> prototype rules: the 100-execution milestone not reached within 7 days
-- of becoming staged; after those 7 days, fidelity over its last 100 executions still
-- under 0.90 (it never reached the production gate); or, over the window, fidelity or
-- outcome more than REGRESSION_MARGIN under its own benchmark (prototype) results.
--
-- Every threshold is a constant right below; the host re-reads this file when it
-- changes.  An error raised here rolls nothing back: it is recorded and reported.

local WINDOW = 10                    -- N: the last N executions
local MIN_FIDELITY = 0.85            -- roll back under this mean pattern fidelity
local MIN_OUTCOME = 0.80             -- ... under this share of labelled executions decided right
local MAX_CRITICAL_FALSE_NEGATIVES = 0
local MAX_FALSE_POSITIVE_RATE = 0.10 -- ... over this share of negative cases decided positive
local MAX_EXCEPTION_RATE = 0.05      -- ... over this share of executions that raised
local MAX_TIME_FACTOR = 3.0          -- ... when the mean time is over this many baselines
local TIME_MIN_EXCESS_MS = 20        -- ... and at least this much slower
local BASELINE_MIN = 10              -- executions a time baseline needs
local LABELLED_MIN = 5               -- labelled executions the outcome check needs
local NEGATIVES_MIN = 5              -- negative cases the false-positive check needs

local STAGED_EXECUTIONS = 100        -- the staged milestone ...
local STAGED_DAYS = 7                -- ... to be reached within this many days
local STAGED_MIN_FIDELITY = 0.90     -- the production gate a staged variant must reach
local REGRESSION_MARGIN = 0.05       -- window this far under its benchmark: a regression

local NEGATIVE = { ham = true, negative = true, no = true }

-- Means are sums of doubles: ten 0.85s average to 0.8499999...; a threshold is met within this.
local EPS = 1e-9

-- Dependency health checks: name = function(facts) returning ok, why.  A check that
-- answers false rolls the production variant back (metric "health=NAME").  None by
-- default; for example, a data store that keeps answering "unavailable":
--   health.store = function(f)
--     for _, e in ipairs(f.executions) do
--       if e.error_category ~= "unavailable" then return true end
--     end
--     return #f.executions == 0, "every execution of the window found it unavailable"
--   end
local health = {}

local function settings()
  return { window = WINDOW, staged_executions = STAGED_EXECUTIONS }
end

-- ---- building checks --------------------------------------------------------------------

local function fmt(x)
  if x == nil then return "none" end
  if math.type(x) == "integer" then return tostring(x) end
  return string.format("%.2f", x)
end

local function check(checks, name, status, measured, threshold, detail)
  checks[#checks + 1] = { name = name, status = status, measured = measured,
                          threshold = threshold, detail = detail }
  return status == "fail"
end

local function mean(list, key)
  local sum, n = 0, 0
  for _, e in ipairs(list) do
    local v = e[key]
    if type(v) == "number" then sum, n = sum + v, n + 1 end
  end
  if n == 0 then return nil, 0 end
  return sum / n, n
end

-- A correctness the scorer could not judge is judged against the expected label.
local function correct_of(e)
  if e.correct ~= nil then return e.correct end
  if e.expected ~= nil then return e.decision == e.expected end
  return nil
end

local function positive_class(f)
  if f.positive_class then return f.positive_class end
  for i = #f.executions, 1, -1 do -- oldest first
    local x = f.executions[i].expected
    if x and x ~= "" and not NEGATIVE[x] then return x end
  end
  return nil
end

local function is_positive(decision, positive)
  if decision == nil or decision == "" then return false end
  if positive then return decision == positive end
  return not NEGATIVE[decision]
end

-- The window's figures, each nil when there is nothing to measure.
local function measure(f)
  local w = f.executions
  local m = { n = #w }
  m.fidelity, m.fidelity_n = mean(w, "fidelity")
  m.mean_ms, m.performance_n = mean(w, "duration_ms")
  local labelled, right, exceptions, cfn, negatives, fps = 0, 0, 0, 0, 0, 0
  local positive = positive_class(f)
  for _, e in ipairs(w) do
    local ok = correct_of(e)
    if ok ~= nil then
      labelled = labelled + 1
      if ok then right = right + 1 end
    end
    if e.exception then exceptions = exceptions + 1 end
    if e.expected ~= nil and e.expected ~= "" then
      local expected_positive = is_positive(e.expected, positive)
      local decided_positive = is_positive(e.decision, positive)
      if e.critical and expected_positive and not decided_positive then cfn = cfn + 1 end
      if not expected_positive then
        negatives = negatives + 1
        if decided_positive then fps = fps + 1 end
      end
    end
  end
  m.labelled, m.negatives, m.false_positives = labelled, negatives, fps
  m.outcome = labelled > 0 and right / labelled or nil
  m.false_positive_rate = negatives > 0 and fps / negatives or nil
  m.critical_false_negatives = cfn
  m.exceptions = exceptions
  m.exception_rate = m.performance_n > 0 and exceptions / m.performance_n or nil
  m.positive_class = positive
  return m
end

local function time_baseline(f)
  local b = f.baseline or {}
  local e, first = b.evaluation or {}, b.first or {}
  if (e.count or 0) >= BASELINE_MIN and e.mean_ms then
    return e.mean_ms, "benchmark", e.count
  end
  if (first.count or 0) >= BASELINE_MIN and first.mean_ms then
    return first.mean_ms, "first executions", first.count
  end
  return nil, nil, math.max(e.count or 0, first.count or 0)
end

local function thresholds()
  return { window = WINDOW, min_fidelity = MIN_FIDELITY, min_outcome = MIN_OUTCOME,
           max_critical_false_negatives = MAX_CRITICAL_FALSE_NEGATIVES,
           max_false_positive_rate = MAX_FALSE_POSITIVE_RATE,
           max_exception_rate = MAX_EXCEPTION_RATE, max_time_factor = MAX_TIME_FACTOR,
           time_min_excess_ms = TIME_MIN_EXCESS_MS, baseline_min = BASELINE_MIN,
           labelled_min = LABELLED_MIN, negatives_min = NEGATIVES_MIN,
           staged_executions = STAGED_EXECUTIONS, staged_days = STAGED_DAYS,
           staged_min_fidelity = STAGED_MIN_FIDELITY, regression_margin = REGRESSION_MARGIN }
end

local function answer(action, verdict, checks, reason, metric, trigger)
  return { action = action, verdict = verdict, reason = reason, metric = metric,
           trigger = trigger, checks = checks, thresholds = thresholds() }
end

-- ---- production -> staged ------------------------------------------------------------------

local function decide(f)
  local checks = {}
  local n = #f.executions
  if n < WINDOW then
    check(checks, "window", "inconclusive", n, ">= " .. WINDOW,
          string.format("%d of %d executions since %s", n, WINDOW, f.since or "?"))
    return answer(nil, "inconclusive", checks,
                  string.format("inconclusive: %d of %d executions", n, WINDOW))
  end
  check(checks, "window", "pass", n, ">= " .. WINDOW, string.format("last %d executions", n))
  local m = measure(f)
  local fired -- the first failing check, in the order below

  local function fire(name, reason, metric)
    if not fired then fired = { name = name, reason = reason, metric = metric } end
  end

  if check(checks, "critical_false_negatives",
           m.critical_false_negatives > MAX_CRITICAL_FALSE_NEGATIVES and "fail" or "pass",
           m.critical_false_negatives, "<= " .. MAX_CRITICAL_FALSE_NEGATIVES,
           string.format("%d critical false negatives", m.critical_false_negatives)) then
    fire("critical_false_negatives",
         string.format("critical false negative: a critical %s case was missed", m.positive_class or "positive"),
         "critical_false_negatives=" .. m.critical_false_negatives)
  end

  if m.fidelity == nil or m.fidelity_n < WINDOW then
    check(checks, "fidelity", "inconclusive", m.fidelity, ">= " .. fmt(MIN_FIDELITY),
          string.format("%d fidelity rows in the window", m.fidelity_n))
  elseif check(checks, "fidelity", m.fidelity < MIN_FIDELITY - EPS and "fail" or "pass", m.fidelity,
               ">= " .. fmt(MIN_FIDELITY),
               string.format("%s over %d executions", fmt(m.fidelity), m.fidelity_n)) then
    fire("fidelity", string.format("pattern fidelity %s below %s over the last %d executions",
                                   fmt(m.fidelity), fmt(MIN_FIDELITY), m.fidelity_n),
         "fidelity=" .. fmt(m.fidelity))
  end

  if m.outcome == nil or m.labelled < LABELLED_MIN then
    check(checks, "outcome", "inconclusive", m.outcome, ">= " .. fmt(MIN_OUTCOME),
          string.format("%d labelled executions (needs %d)", m.labelled, LABELLED_MIN))
  elseif check(checks, "outcome", m.outcome < MIN_OUTCOME - EPS and "fail" or "pass", m.outcome,
               ">= " .. fmt(MIN_OUTCOME),
               string.format("%s over %d labelled executions", fmt(m.outcome), m.labelled)) then
    fire("outcome", string.format("outcome quality %s below %s over %d labelled executions",
                                  fmt(m.outcome), fmt(MIN_OUTCOME), m.labelled),
         "outcome=" .. fmt(m.outcome))
  end

  if m.false_positive_rate == nil or m.negatives < NEGATIVES_MIN then
    check(checks, "false_positive_rate", "inconclusive", m.false_positive_rate,
          "<= " .. fmt(MAX_FALSE_POSITIVE_RATE),
          string.format("%d negative cases (needs %d)", m.negatives, NEGATIVES_MIN))
  elseif check(checks, "false_positive_rate",
               m.false_positive_rate > MAX_FALSE_POSITIVE_RATE + EPS and "fail" or "pass",
               m.false_positive_rate, "<= " .. fmt(MAX_FALSE_POSITIVE_RATE),
               string.format("%d of %d negative cases decided positive", m.false_positives,
                             m.negatives)) then
    fire("false_positive_rate",
         string.format("false-positive rate %s above %s (%d of %d negative cases)",
                       fmt(m.false_positive_rate), fmt(MAX_FALSE_POSITIVE_RATE),
                       m.false_positives, m.negatives),
         "false_positive_rate=" .. fmt(m.false_positive_rate))
  end

  if m.exception_rate == nil then
    check(checks, "exception_rate", "inconclusive", nil, "<= " .. fmt(MAX_EXCEPTION_RATE),
          "no performance rows in the window")
  elseif check(checks, "exception_rate", m.exception_rate > MAX_EXCEPTION_RATE + EPS and "fail" or "pass",
               m.exception_rate, "<= " .. fmt(MAX_EXCEPTION_RATE),
               string.format("%d of %d executions raised", m.exceptions, m.performance_n)) then
    fire("exception_rate", string.format("exception rate %s above %s (%d of %d executions)",
                                         fmt(m.exception_rate), fmt(MAX_EXCEPTION_RATE),
                                         m.exceptions, m.performance_n),
         "exception_rate=" .. fmt(m.exception_rate))
  end

  local base, source, base_n = time_baseline(f)
  if base == nil or m.mean_ms == nil then
    check(checks, "mean_time", "inconclusive", m.mean_ms, "<= " .. fmt(MAX_TIME_FACTOR) .. "x baseline",
          string.format("no baseline of %d executions yet (%d)", BASELINE_MIN, base_n))
  else
    local factor = base > 0 and m.mean_ms / base or math.huge
    local slow = factor > MAX_TIME_FACTOR + EPS and m.mean_ms - base >= TIME_MIN_EXCESS_MS - EPS
    if check(checks, "mean_time", slow and "fail" or "pass", m.mean_ms,
             string.format("<= %sx %s ms (%s)", fmt(MAX_TIME_FACTOR), fmt(base), source),
             string.format("%s ms, %sx the %s baseline of %s ms", fmt(m.mean_ms), fmt(factor),
                           source, fmt(base))) then
      fire("mean_time", string.format("mean time %s ms is %sx the %s baseline of %s ms",
                                      fmt(m.mean_ms), fmt(factor), source, fmt(base)),
           "mean_time_ms=" .. fmt(m.mean_ms))
    end
  end

  local names = {}
  for name in pairs(health) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local ok, why = health[name](f)
    if check(checks, "health." .. name, ok and "pass" or "fail", ok and "ok" or "failing", "ok",
             ok and "ok" or tostring(why or "failing")) then
      fire("health", string.format("dependency health check %s failed: %s", name,
                                   tostring(why or "failing")), "health=" .. name)
    end
  end

  if fired then
    return answer("rollback", "rollback", checks, fired.reason, fired.metric, fired.name)
  end
  return answer(nil, "ok", checks, string.format("every check passed over %d executions", n))
end

-- ---- staged -> prototype ----------------------------------------------------------------

local function demote_staged(f)
  local checks = {}
  local fired
  local function fire(name, reason, metric)
    if not fired then fired = { name = name, reason = reason, metric = metric } end
  end
  local age = f.age_days or 0
  local sample = f.sample or { count = 0 }
  local reached = f.milestone_days ~= nil and f.milestone_days <= STAGED_DAYS

  if reached then
    check(checks, "milestone", "pass", STAGED_EXECUTIONS, "within " .. STAGED_DAYS .. " days",
          string.format("%d executions after %s days", STAGED_EXECUTIONS, fmt(f.milestone_days)))
  elseif age <= STAGED_DAYS then
    check(checks, "milestone", "inconclusive", sample.count, STAGED_EXECUTIONS .. " within " .. STAGED_DAYS .. " days",
          string.format("%d executions, %s of %d days", sample.count, fmt(age), STAGED_DAYS))
  else
    local detail = f.milestone_days
        and string.format("reached after %s days", fmt(f.milestone_days))
        or string.format("%d executions after %s days", sample.count, fmt(age))
    check(checks, "milestone", "fail", sample.count,
          STAGED_EXECUTIONS .. " within " .. STAGED_DAYS .. " days", detail)
    fire("milestone",
         string.format("the %d-execution milestone was not reached within %d days of becoming staged (%s)",
                       STAGED_EXECUTIONS, STAGED_DAYS, detail),
         f.milestone_days and ("milestone_days=" .. fmt(f.milestone_days))
                          or ("executions=" .. sample.count))
  end

  if age > STAGED_DAYS and sample.count >= STAGED_EXECUTIONS and sample.fidelity ~= nil then
    if check(checks, "staged_fidelity", sample.fidelity < STAGED_MIN_FIDELITY - EPS and "fail" or "pass",
             sample.fidelity, ">= " .. fmt(STAGED_MIN_FIDELITY),
             string.format("%s over its last %d executions", fmt(sample.fidelity), sample.count)) then
      fire("staged_fidelity",
           string.format("pattern fidelity never reached %s: %s over its last %d executions after %d days staged",
                         fmt(STAGED_MIN_FIDELITY), fmt(sample.fidelity), sample.count, STAGED_DAYS),
           "fidelity=" .. fmt(sample.fidelity))
    end
  else
    check(checks, "staged_fidelity", "inconclusive", sample.fidelity, ">= " .. fmt(STAGED_MIN_FIDELITY),
          string.format("judged after %d days over %d executions", STAGED_DAYS, STAGED_EXECUTIONS))
  end

  local e = (f.baseline or {}).evaluation or {}
  if #f.executions < WINDOW or (e.count or 0) == 0 then
    check(checks, "regression", "inconclusive", nil, "benchmark - " .. fmt(REGRESSION_MARGIN),
          string.format("%d of %d executions, %d benchmark runs", #f.executions, WINDOW, e.count or 0))
  else
    local m = measure(f)
    local worse_f = e.fidelity and m.fidelity and m.fidelity < e.fidelity - REGRESSION_MARGIN - EPS
    local worse_o = e.outcome and m.outcome and m.labelled >= LABELLED_MIN
                    and m.outcome < e.outcome - REGRESSION_MARGIN - EPS
    if check(checks, "regression", (worse_f or worse_o) and "fail" or "pass",
             worse_o and not worse_f and m.outcome or m.fidelity,
             "benchmark - " .. fmt(REGRESSION_MARGIN),
             string.format("fidelity %s vs benchmark %s, outcome %s vs %s", fmt(m.fidelity),
                           fmt(e.fidelity), fmt(m.outcome), fmt(e.outcome))) then
      if worse_f then
        fire("regression", string.format("regression: fidelity %s vs its benchmark %s",
                                         fmt(m.fidelity), fmt(e.fidelity)),
             "fidelity=" .. fmt(m.fidelity))
      else
        fire("regression", string.format("regression: outcome %s vs its benchmark %s",
                                         fmt(m.outcome), fmt(e.outcome)),
             "outcome=" .. fmt(m.outcome))
      end
    end
  end

  if fired then
    return answer("demote", "demote", checks, fired.reason, fired.metric, fired.name)
  end
  local pending = false
  for _, c in ipairs(checks) do
    if c.status == "inconclusive" then pending = true end
  end
  return answer(nil, pending and "inconclusive" or "ok", checks,
                pending and "staged: still collecting evidence" or "staged: every check passed")
end

return {
  kind = "policy", name = "rollback", version = "1.0.0",
  description = "Roll production back on the window's metrics; demote staged variants that stall",
  settings = settings,
  decide = decide,
  demote_staged = demote_staged,
}
