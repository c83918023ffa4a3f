-- promotion.lua: is a variant ready to move up, prototype -> staged -> production?
--
-- The host (`skillhost approve`, `skillhost promote`, `skillhost status`) calls:
--
-- settings(facts) -> { window = N }
--     how many of the variant's latest live executions the host reads per metric
--     table for the staged -> production facts below (the "last 100").
--
-- checklist(facts) -> { path = P, items = { { name = ..., description = ... }, ... } }
--     facts.path is "prototype->staged" or "staged->production".  The human sign-off
--     items of that path: `skillhost approve --check ITEM=yes|no[:EVIDENCE]` accepts
--     exactly these names (anything else is refused) and an item left out counts as
--     "no".  Items named like the seeds' human_approvals columns fill those columns.
--
-- ready(facts) -> { ready = bool, verdict = "ready" | "not_ready" | "inconclusive",
--                   path = P, checks = { CHECK, ... }, thresholds = { NAME = ..., ... } }
--     CHECK = { name, status = "pass" | "fail" | "inconclusive", passed = bool,
--               measured, threshold, detail }
--     detail is what `skillhost promote` prints after "FAIL name: ".  A check whose
--     sample is too small is "inconclusive", never a pass.  verdict: "ready" when every
--     check passed, "not_ready" when one failed, else "inconclusive".
--     facts:
--       skill, variant, path, from_state, to_state
--       evaluation   the variant's recorded benchmark cases (`skillhost evaluate`; one
--                    case = one evaluation request, judged on its last attempt):
--                    { cases, failed, fidelity, labelled, correct, outcome,
--                      positive_class, positives, negatives, false_positives,
--                      false_positive_rate, critical_false_negatives }
--       window       the variant's last `window` live executions, per metric table
--                    (benchmark runs left out):
--                    { size, fidelity_metrics, outcome_metrics, performance_metrics,
--                      fidelity, labelled, correct, outcome, critical_false_negatives,
--                      mean_ms, exceptions, exception_rate, crashes }
--       approval     the latest sign-off of this variant for this path, or nil:
--                    { approval_id, approver, ticket, timestamp, notes,
--                      items = { { name, passed, given, evidence }, ... } }
--       ab           the A/B test that made this variant a winner awaiting sign-off, or nil:
--                    { test_id, status, control, treatment = { trials, successes } ... }
--     A measurement that does not exist (no cases, no labels) is nil.
--
-- Every threshold is a constant right below: edit one and the next `promote` or
-- `status` uses it (the host re-reads this file when it changes).  An error raised
-- here promotes nothing: it is recorded and the promotion is refused.

-- prototype -> staged: the benchmark evaluation and the sign-off ---------------------
local STAGED_MIN_CASES = 10                   -- fewer recorded benchmark cases: inconclusive
local STAGED_MIN_FIDELITY = 0.90              -- mean pattern fidelity over all cases
local STAGED_MIN_OUTCOME = 0.85               -- share of cases decided as expected
local STAGED_MAX_CRITICAL_FALSE_NEGATIVES = 0
local STAGED_MAX_FALSE_POSITIVE_RATE = 0.05   -- must stay strictly below

-- staged -> production: live executions and the sign-off -----------------------------
local PRODUCTION_WINDOW = 100                 -- "the last 100"
local PRODUCTION_MIN_EXECUTIONS = 100         -- in EACH of the three metric tables
local PRODUCTION_MIN_FIDELITY = 0.90          -- sustained over the window
local PRODUCTION_MIN_OUTCOME = 0.85           -- sustained over the window's labelled executions
local PRODUCTION_MIN_LABELLED = 20            -- fewer labelled outcomes: inconclusive
local PRODUCTION_MAX_CRITICAL_FAILURES = 0    -- critical false negatives + crashes in the window
local PRODUCTION_MAX_MEAN_MS = 5000           -- mean execution time must stay under this ...
local PRODUCTION_MAX_MEAN_MS_BY_SKILL = {     -- ... or under the skill's own limit
  -- spam_detection = 2000,
}
local PRODUCTION_REGRESSION_TOLERANCE = 0.05  -- live fidelity may sit this far under the
                                              -- variant's benchmark (prototype) fidelity

-- The sign-off lists of the seeds' checklist template; the first five of each path
-- are the seeds' human_approvals columns.
local CHECKLISTS = {
  ["prototype->staged"] = {
    { name = "wsp_50_no_duplication", description = "no duplication: existing code checked (WSP 50)" },
    { name = "test_coverage_complete", description = "edge cases covered by tests" },
    { name = "instruction_clarity_approved", description = "instructions unambiguous for the agent" },
    { name = "dependencies_validated", description = "every dependency exists and is tested" },
    { name = "security_reviewed", description = "no credential leaks, input handled safely" },
    { name = "pattern_completeness", description = "every expected pattern is defined" },
    { name = "performance_review", description = "no bottlenecks" },
  },
  ["staged->production"] = {
    { name = "production_readiness", description = "ready for production traffic" },
    { name = "integration_approved", description = "integration with its callers approved" },
    { name = "monitoring_configured", description = "metrics and alerts in place" },
    { name = "rollback_tested", description = "the rollback plan was exercised" },
    { name = "documentation_updated", description = "documentation describes this version" },
    { name = "capacity_planning", description = "capacity for the expected load planned" },
  },
}

local function settings()
  return { window = PRODUCTION_WINDOW }
end

local function checklist(facts)
  local items = CHECKLISTS[facts.path]
  if not items then
    error(string.format("unknown promotion path %q (expected prototype->staged or staged->production)",
                        tostring(facts.path)))
  end
  return { path = facts.path, items = items }
end

-- ---- building checks ------------------------------------------------------------------

local function fmt(x)
  if x == nil then return "none" end
  if math.type(x) == "integer" then return tostring(x) end
  return string.format("%.3f", x)
end

local function check(checks, name, status, measured, threshold, detail)
  checks[#checks + 1] = { name = name, status = status, passed = status == "pass",
                          measured = measured, threshold = threshold, detail = detail }
end

-- measured >= min (or > min when strict); nil measured, or a sample under min_n: inconclusive.
local function at_least(checks, name, measured, min, n, min_n, what)
  local threshold = ">= " .. fmt(min)
  if measured == nil or n < min_n then
    check(checks, name, "inconclusive", measured, threshold,
          string.format("%s over %d (needs >= %s over at least %d; inconclusive)",
                        fmt(measured), n, fmt(min), min_n))
  else
    check(checks, name, measured >= min and "pass" or "fail", measured, threshold,
          string.format("%s over %d %s (needs %s)", fmt(measured), n, what, threshold))
  end
end

local function approval_checks(checks, facts)
  local a = facts.approval
  if a == nil then
    check(checks, "approval", "fail", nil, "recorded",
          string.format("no %s sign-off recorded (skillhost approve %s --path %s ...)",
                        facts.path, facts.variant, facts.path))
    return
  end
  check(checks, "approval", "pass", a.approval_id, "recorded",
        string.format("%s by %s, ticket %s", a.approval_id, a.approver, a.ticket))
  local given = {}
  for _, item in ipairs(a.items or {}) do given[item.name] = item end
  for _, want in ipairs(CHECKLISTS[facts.path]) do
    local item = given[want.name]
    local measured = (item == nil or not item.given) and "missing" or (item.passed and "yes" or "no")
    local detail = measured == "missing" and "not answered in the sign-off (counts as no)"
                   or ("answered " .. measured)
    if item and item.evidence then detail = detail .. " (" .. item.evidence .. ")" end
    check(checks, "checklist." .. want.name, measured == "yes" and "pass" or "fail", measured,
          "yes", detail .. " (needs yes)")
  end
end

local function staged_checks(checks, facts)
  local e = facts.evaluation or {}
  local cases, failed = e.cases or 0, e.failed or 0
  if cases < STAGED_MIN_CASES then
    check(checks, "evaluation_cases", "inconclusive", cases, ">= " .. STAGED_MIN_CASES,
          string.format("%d benchmark cases recorded (needs >= %d; run skillhost evaluate %s --variant %s --cases FILE)",
                        cases, STAGED_MIN_CASES, facts.skill, facts.variant))
  else
    check(checks, "evaluation_cases", failed == 0 and "pass" or "fail", cases - failed, "all",
          string.format("%d/%d benchmark cases executed without error (needs all)", cases - failed, cases))
  end
  at_least(checks, "fidelity", e.fidelity, STAGED_MIN_FIDELITY, cases, STAGED_MIN_CASES,
           "benchmark cases")
  at_least(checks, "outcome", e.outcome, STAGED_MIN_OUTCOME, e.labelled or 0, STAGED_MIN_CASES,
           "labelled cases")
  local cfn = e.critical_false_negatives or 0
  if cases < STAGED_MIN_CASES then
    check(checks, "critical_false_negatives", "inconclusive", cfn, "<= " .. STAGED_MAX_CRITICAL_FALSE_NEGATIVES,
          string.format("%d over %d cases (inconclusive)", cfn, cases))
  else
    check(checks, "critical_false_negatives", cfn <= STAGED_MAX_CRITICAL_FALSE_NEGATIVES and "pass" or "fail",
          cfn, "<= " .. STAGED_MAX_CRITICAL_FALSE_NEGATIVES,
          string.format("%d (needs <= %d)", cfn, STAGED_MAX_CRITICAL_FALSE_NEGATIVES))
  end
  local fpr, negatives = e.false_positive_rate, e.negatives or 0
  local threshold = "< " .. fmt(STAGED_MAX_FALSE_POSITIVE_RATE)
  if fpr == nil or cases < STAGED_MIN_CASES then
    check(checks, "false_positive_rate", "inconclusive", fpr, threshold,
          string.format("%s over %d negative cases (needs %s; inconclusive)", fmt(fpr), negatives, threshold))
  else
    check(checks, "false_positive_rate", fpr < STAGED_MAX_FALSE_POSITIVE_RATE and "pass" or "fail", fpr,
          threshold, string.format("%s (%d of %d negative cases; needs %s)", fmt(fpr),
                                   e.false_positives or 0, negatives, threshold))
  end
end

local function production_checks(checks, facts)
  local w = facts.window or {}
  local full = true
  for _, table_name in ipairs({ "fidelity_metrics", "outcome_metrics", "performance_metrics" }) do
    local n = w[table_name] or 0
    if n < PRODUCTION_MIN_EXECUTIONS then full = false end
    check(checks, table_name, n >= PRODUCTION_MIN_EXECUTIONS and "pass" or "fail", n,
          ">= " .. PRODUCTION_MIN_EXECUTIONS,
          string.format("%d/%d executions (needs >= %d)", n, PRODUCTION_MIN_EXECUTIONS,
                        PRODUCTION_MIN_EXECUTIONS))
  end
  local nf, no, np = w.fidelity_metrics or 0, w.outcome_metrics or 0, w.performance_metrics or 0
  at_least(checks, "fidelity", w.fidelity, PRODUCTION_MIN_FIDELITY, nf, PRODUCTION_MIN_EXECUTIONS,
           "live executions")
  at_least(checks, "outcome", w.outcome, PRODUCTION_MIN_OUTCOME, w.labelled or 0,
           PRODUCTION_MIN_LABELLED, "labelled live executions")

  local critical = (w.critical_false_negatives or 0) + (w.crashes or 0)
  local status = critical > PRODUCTION_MAX_CRITICAL_FAILURES and "fail"
                 or (full and "pass" or "inconclusive")
  check(checks, "critical_failures", status, critical, "<= " .. PRODUCTION_MAX_CRITICAL_FAILURES,
        string.format("%d critical false negatives and %d crashes in the last %d (needs <= %d%s)",
                      w.critical_false_negatives or 0, w.crashes or 0, math.max(no, np),
                      PRODUCTION_MAX_CRITICAL_FAILURES, full and "" or "; inconclusive"))

  local limit = PRODUCTION_MAX_MEAN_MS_BY_SKILL[facts.skill] or PRODUCTION_MAX_MEAN_MS
  local mean = w.mean_ms
  if mean == nil or np < PRODUCTION_MIN_EXECUTIONS then
    check(checks, "mean_time_ms", "inconclusive", mean, "< " .. limit,
          string.format("%s ms over %d (needs < %d ms over at least %d; inconclusive)", fmt(mean),
                        np, limit, PRODUCTION_MIN_EXECUTIONS))
  else
    check(checks, "mean_time_ms", mean < limit and "pass" or "fail", mean, "< " .. limit,
          string.format("%.1f ms (needs < %d ms)", mean, limit))
  end

  local baseline = (facts.evaluation or {}).fidelity
  if baseline == nil then
    check(checks, "regression", "inconclusive", w.fidelity, "baseline - " .. fmt(PRODUCTION_REGRESSION_TOLERANCE),
          "no prototype baseline: the variant has no recorded benchmark cases (skillhost evaluate)")
  elseif w.fidelity == nil or nf < PRODUCTION_MIN_EXECUTIONS then
    check(checks, "regression", "inconclusive", w.fidelity, baseline - PRODUCTION_REGRESSION_TOLERANCE,
          string.format("live fidelity %s over %d vs baseline %s (inconclusive)", fmt(w.fidelity), nf,
                        fmt(baseline)))
  else
    local floor = baseline - PRODUCTION_REGRESSION_TOLERANCE
    check(checks, "regression", w.fidelity >= floor and "pass" or "fail", w.fidelity, floor,
          string.format("live fidelity %s vs baseline %s (needs >= %s)", fmt(w.fidelity),
                        fmt(baseline), fmt(floor)))
  end
end

local function ready(facts)
  if not CHECKLISTS[facts.path] then
    error(string.format("unknown promotion path %q", tostring(facts.path)))
  end
  local checks = {}
  if facts.path == "prototype->staged" then
    staged_checks(checks, facts)
  else
    production_checks(checks, facts)
  end
  approval_checks(checks, facts)

  local failed, unsure, thresholds = false, false, {}
  for _, c in ipairs(checks) do
    if c.status == "fail" then failed = true
    elseif c.status == "inconclusive" then unsure = true end
    thresholds[c.name] = c.threshold
  end
  local verdict = failed and "not_ready" or (unsure and "inconclusive" or "ready")
  return { ready = verdict == "ready", verdict = verdict, path = facts.path,
           checks = checks, thresholds = thresholds }
end

return {
  kind = "policy", name = "promotion", version = "1.0.0",
  description = "Promotion gates: benchmark and sign-off for staged, live window and sign-off for production",
  settings = settings,
  checklist = checklist,
  ready = ready,
}
