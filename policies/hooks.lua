-- hooks.lua: what runs after a variant changes state.
--
-- after_transition(event) is called once after every transition has been committed
-- (a promotion, a rollback, a demotion, an A/B verdict, a rollout step, a breaker
-- freeze...) with
--   event.kind        "promotion", "rollback", "demotion", "ab_promotion", "ab_archive",
--                     "rollout_advance", "rollout_stop", "freeze", ...
--   event.skill       the skill
--   event.variant     the variant that changed ("spam@v2")
--   event.from_state, event.to_state
--   event.reason      why, in words ("approved by alice, ticket OPS-12")
--   event.actor       who or what decided: an approver, "rollback.lua", "ab.lua"
--   event.metric      the metric that triggered it, when one did ("fidelity=0.83")
--   event.timestamp   ISO-8601 UTC
-- and answers
--   { audit = true | false,          -- append the event to audit.jsonl beside the database
--     changelog = true | false,      -- append a readable line to CHANGELOG.md beside it
--     commands = { { "/path/prog", "arg", ... }, ... },
--     timeout_ms = N }               -- per command; it is killed after that
--
-- Each command runs without a shell (the first word is the program, found in $PATH
-- when it has no '/'), with the event as one JSON object on its standard input and
-- SKILLHOST_DB naming the database.  A command that exits non-zero, is killed by the
-- timeout or cannot be started is reported on stderr ("skillhost: hook CMD: why")
-- and recorded in the decisions table (kind "hook", verdict "error"); it never
-- undoes the transition.  registry.json beside the database is refreshed after
-- every transition whatever this file answers.
--
-- If this file fails to load or raises, the host fails safe: the audit log and
-- the changelog are still written (an audit entry must not be lost to a typo
-- here) and no command runs; the error is reported and recorded.
--
-- The host stat()s this file before every transition: edits apply to the next one.

local settings = {
  audit = true,
  changelog = true,
  timeout_ms = 10000,
}

local function after_transition(event)
  local commands = {}
  -- Examples: re-index a search service after a promotion, notify on a rollback.
  --
  -- if event.kind == "promotion" or event.kind == "ab_promotion" then
  --   commands[#commands + 1] = { "/usr/local/bin/reindex-skills", "--skill", event.skill }
  -- end
  -- if event.kind == "rollback" then
  --   commands[#commands + 1] = { "/usr/local/bin/notify", "#ops",
  --     string.format("%s rolled back: %s", event.variant, tostring(event.reason)) }
  -- end
  return {
    audit = settings.audit,
    changelog = settings.changelog,
    commands = commands,
    timeout_ms = settings.timeout_ms,
  }
end

return {
  kind = "policy", name = "hooks", version = "1.0.0",
  description = "What runs after a state transition: audit log, changelog, commands",
  after_transition = after_transition,
}
