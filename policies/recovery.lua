-- recovery.lua: what to do when an attempt fails, per error category.
--
-- decide(facts) is called after every failed attempt with
--   facts.category      "network", "timeout", "rate_limit", "unavailable", "validation",
--                       "authentication", "not_found", "crash", "internal", "policy"
--   facts.message       the error message
--   facts.retry         recovery retries already made for this attempt (0 the first time)
--   facts.attempt       the call number within the request (1-based)
--   facts.elapsed_ms    time since the request started
--   facts.remaining_ms  time left before the request's deadline (absent, so nil: no deadline)
--   facts.skill, facts.variant
-- and answers one of
--   { action = "retry", delay_ms = D, jitter = "full" | "none" }
--        run the same attempt again after a wait: with full jitter the host waits a
--        uniformly random time in [0, D); a wait that would overrun the deadline fails
--   { action = "skip" }   the input, not the skill, is at fault: end the request now,
--                         marked skipped (no retry of any kind, no circuit-breaker count,
--                         left out of rollback.lua's window)
--   { action = "fail" }   end the request now
-- plus an optional reason (shown and recorded) and breaker = true (the failure counts
-- toward the variant's circuit breaker).  An unknown category, or an error raised
-- here, fails safe: the request fails and nothing is retried.
--
-- The host stat()s this file before every decision: edits apply to the next request.

local rules = {
  network        = { action = "retry", max = 5, base_ms = 500,  cap_ms = 2000 },  -- 0.5 s, 1 s, 2 s, 2 s, 2 s
  timeout        = { action = "retry", max = 3, base_ms = 500,  cap_ms = 4000 },
  rate_limit     = { action = "retry", max = 5, base_ms = 1000, cap_ms = 8000 },
  unavailable    = { action = "retry", max = 3, base_ms = 500,  cap_ms = 4000 },
  validation     = { action = "skip" },
  authentication = { action = "fail" },
  not_found      = { action = "fail" },
  crash          = { action = "fail", breaker = true },
  internal       = { action = "fail" },
  policy         = { action = "fail" },
}

local function decide(facts)
  local rule = rules[facts.category]
  if rule == nil then
    return { action = "fail", reason = "no rule for category " .. tostring(facts.category) }
  end
  if rule.action ~= "retry" then
    return { action = rule.action, breaker = rule.breaker or false,
             reason = facts.category .. ": " .. rule.action }
  end
  if facts.retry >= rule.max then
    return { action = "fail",
             reason = string.format("%s: gave up after %d retries", facts.category, facts.retry) }
  end
  -- Exponential backoff: base, 2 x base, 4 x base, ... capped; the host adds the jitter.
  local delay = math.min(rule.cap_ms, rule.base_ms * 2 ^ facts.retry)
  return { action = "retry", delay_ms = delay, jitter = "full",
           reason = string.format("%s: retry %d of %d", facts.category, facts.retry + 1, rule.max) }
end

return {
  kind = "policy", name = "recovery", version = "1.0.0",
  description = "Retry, skip or fail a failed attempt by error category",
  decide = decide,
}
