/*
 * Schema migrations.  The seeds' tables keep their names and columns (DESIGN
 * §6) so the seeds' own SQL runs unchanged; skillhost's additions are extra
 * columns and extra tables.  Timestamps are ISO-8601 UTC text with
 * milliseconds ("2026-11-23T08:15:02.123Z") so they sort as text.
 */
#include "config.h"

#include <stddef.h>

#include "schema.h"
#include "store.h"

/*
 * Notes on version 1:
 * - skills.promotion_state/version mirror the serving variant (production,
 *   else newest staged, else newest prototype).  Triggers keep them right
 *   whoever changes a variant's state (the store, a promotion, a rollback,
 *   or the seeds' SQL), so no caller has to remember to.
 * - executions and the metric tables are WITHOUT ROWID: their key is the
 *   execution_id, so a row lives in one b-tree instead of two, and the hot
 *   recording transaction touches fewer pages.
 * - Metric rows are insert-only (the seeds' bug #1 was rows overwritten in
 *   place); triggers refuse an UPDATE.
 */
// clang-format off
static const char migration_1[] =
"CREATE TABLE skills (\n"
"  skill_id TEXT PRIMARY KEY,\n"                   /* the skill name, as the seeds use it */
"  skill_name TEXT NOT NULL,\n"
"  promotion_state TEXT NOT NULL DEFAULT 'prototype'\n"
"    CHECK (promotion_state IN ('prototype','staged','production','archived')),\n"
"  primary_agent TEXT NOT NULL DEFAULT 'skillhost',\n"
"  intent_type TEXT NOT NULL DEFAULT 'general',\n"
"  created_at TEXT NOT NULL,\n"
"  last_promoted_at TEXT,\n"
"  version TEXT,\n"                                /* the serving variant's N */
"  description TEXT NOT NULL DEFAULT '',\n"
"  positive_class TEXT,\n"
"  evolver TEXT,\n"                                /* the evolver plugin's path, or NULL */
"  CHECK (skill_id = skill_name)\n"
");\n"

"CREATE TABLE skill_variations (\n"
"  variation_id TEXT PRIMARY KEY,\n"               /* "skill@vN" */
"  skill_name TEXT NOT NULL REFERENCES skills(skill_id),\n"
"  version INTEGER NOT NULL CHECK (version >= 1),\n"
"  variation_content TEXT NOT NULL DEFAULT '',\n"
"  impl TEXT NOT NULL,\n"
"  impl_sha256 TEXT NOT NULL DEFAULT '',\n"
"  patterns TEXT NOT NULL DEFAULT '[]',\n"         /* JSON array of step names */
"  state TEXT NOT NULL CHECK (state IN ('prototype','staged','production','archived')),\n"
"  parent_id TEXT REFERENCES skill_variations(variation_id),\n"
"  description TEXT NOT NULL DEFAULT '',\n"
"  promoted INTEGER NOT NULL DEFAULT 0,\n"
"  test_status TEXT,\n"
"  created_at TEXT NOT NULL,\n"
"  state_since TEXT,\n"                           /* when it entered its state; NULL: created so */
"  left_production_at TEXT,\n"                    /* the last time it stopped serving production */
"  rolled_back_at TEXT,\n"                        /* = left_production_at when a rollback did it */
"  UNIQUE (skill_name, version),\n"
"  CHECK (variation_id = skill_name || '@v' || version)\n"
");\n"
"CREATE UNIQUE INDEX skill_variations_one_production ON skill_variations(skill_name)\n"
"  WHERE state = 'production';\n"

"CREATE TRIGGER skill_variations_after_insert AFTER INSERT ON skill_variations\n"
"BEGIN\n"
"  UPDATE skills SET\n"
"    promotion_state = COALESCE((SELECT state FROM skill_variations\n"
"        WHERE skill_name = NEW.skill_name AND state <> 'archived'\n"
"        ORDER BY CASE state WHEN 'production' THEN 0 WHEN 'staged' THEN 1 ELSE 2 END,\n"
"        version DESC LIMIT 1), 'archived'),\n"
"    version = (SELECT version FROM skill_variations\n"
"        WHERE skill_name = NEW.skill_name AND state <> 'archived'\n"
"        ORDER BY CASE state WHEN 'production' THEN 0 WHEN 'staged' THEN 1 ELSE 2 END,\n"
"        version DESC LIMIT 1),\n"
"    last_promoted_at = CASE WHEN NEW.state = 'production' THEN NEW.created_at\n"
"        ELSE last_promoted_at END\n"
"  WHERE skill_id = NEW.skill_name;\n"
"END;\n"

"CREATE TRIGGER skill_variations_after_state AFTER UPDATE OF state ON skill_variations\n"
"BEGIN\n"
"  UPDATE skills SET\n"
"    promotion_state = COALESCE((SELECT state FROM skill_variations\n"
"        WHERE skill_name = NEW.skill_name AND state <> 'archived'\n"
"        ORDER BY CASE state WHEN 'production' THEN 0 WHEN 'staged' THEN 1 ELSE 2 END,\n"
"        version DESC LIMIT 1), 'archived'),\n"
"    version = (SELECT version FROM skill_variations\n"
"        WHERE skill_name = NEW.skill_name AND state <> 'archived'\n"
"        ORDER BY CASE state WHEN 'production' THEN 0 WHEN 'staged' THEN 1 ELSE 2 END,\n"
"        version DESC LIMIT 1),\n"
"    last_promoted_at = CASE WHEN NEW.state = 'production' AND OLD.state <> 'production'\n"
"        THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE last_promoted_at END\n"
"  WHERE skill_id = NEW.skill_name;\n"
"END;\n"

/* ---- one row per attempt, one row per metric type ---------------------- */
"CREATE TABLE executions (\n"
"  execution_id TEXT PRIMARY KEY,\n"               /* UUIDv7: time-ordered */
"  request_id TEXT NOT NULL,\n"
"  skill_id TEXT NOT NULL REFERENCES skills(skill_id),\n"
"  variant_id TEXT NOT NULL REFERENCES skill_variations(variation_id),\n"
"  attempt INTEGER NOT NULL CHECK (attempt >= 1),\n"
"  timestamp TEXT NOT NULL,\n"
"  input TEXT NOT NULL,\n"
"  output TEXT,\n"
"  steps TEXT NOT NULL DEFAULT '[]',\n"
"  error_category TEXT,\n"                         /* NULL on success, else "network", ... */
"  error_message TEXT,\n"
"  session_id TEXT,\n"
"  workflow_phase TEXT,\n"
"  user_query TEXT,\n"
"  tenant TEXT,\n"
"  error_type TEXT GENERATED ALWAYS AS (error_category) VIRTUAL,\n" /* seed 004's name */
"  evaluation INTEGER NOT NULL DEFAULT 0,\n"
"  fallback_from TEXT\n"                          /* an open breaker moved it off this variant */
") WITHOUT ROWID;\n"
"CREATE INDEX executions_variant_time ON executions(variant_id, timestamp);\n"
"CREATE INDEX executions_skill_time ON executions(skill_id, timestamp);\n"
"CREATE INDEX executions_request ON executions(request_id);\n"
/* A variant's benchmark runs, found without walking its live history (rollback baselines). */
"CREATE INDEX executions_variant_evaluation ON executions(variant_id, timestamp)\n"
"  WHERE evaluation = 1;\n"

"CREATE TABLE fidelity_metrics (\n"
"  execution_id TEXT PRIMARY KEY REFERENCES executions(execution_id),\n"
"  skill_id TEXT NOT NULL,\n"
"  variant_id TEXT NOT NULL,\n"
"  pattern_fidelity REAL NOT NULL,\n"
"  patterns_followed INTEGER NOT NULL,\n"
"  patterns_missed INTEGER NOT NULL,\n"
"  missed TEXT NOT NULL DEFAULT '[]',\n"
"  failed_at_step TEXT,\n"
"  agent TEXT NOT NULL DEFAULT 'skillhost',\n"
"  timestamp TEXT NOT NULL\n"
") WITHOUT ROWID;\n"
"CREATE INDEX fidelity_metrics_variant_time ON fidelity_metrics(variant_id, timestamp);\n"

"CREATE TABLE outcome_metrics (\n"
"  execution_id TEXT PRIMARY KEY REFERENCES executions(execution_id),\n"
"  skill_id TEXT NOT NULL,\n"
"  variant_id TEXT NOT NULL,\n"
"  decision TEXT NOT NULL DEFAULT '',\n"
"  correct INTEGER CHECK (correct IN (0, 1)),\n"   /* NULL: no label */
"  confidence REAL,\n"                             /* NULL: none reported */
"  reasoning TEXT,\n"
"  expected TEXT,\n"
"  critical INTEGER NOT NULL DEFAULT 0,\n"
"  timestamp TEXT NOT NULL\n"
") WITHOUT ROWID;\n"
"CREATE INDEX outcome_metrics_variant_time ON outcome_metrics(variant_id, timestamp);\n"

"CREATE TABLE performance_metrics (\n"
"  execution_id TEXT PRIMARY KEY REFERENCES executions(execution_id),\n"
"  skill_id TEXT NOT NULL,\n"
"  variant_id TEXT NOT NULL,\n"
"  execution_time_ms INTEGER NOT NULL,\n"
"  duration_ms REAL,\n"
"  exception INTEGER NOT NULL CHECK (exception IN (0, 1)),\n"
"  error_category TEXT,\n"
"  timestamp TEXT NOT NULL\n"
") WITHOUT ROWID;\n"
"CREATE INDEX performance_metrics_variant_time ON performance_metrics(variant_id, timestamp);\n"

"CREATE TRIGGER fidelity_metrics_insert_only BEFORE UPDATE ON fidelity_metrics\n"
"BEGIN SELECT RAISE(ABORT, 'fidelity_metrics rows are insert-only'); END;\n"
"CREATE TRIGGER outcome_metrics_insert_only BEFORE UPDATE ON outcome_metrics\n"
"BEGIN SELECT RAISE(ABORT, 'outcome_metrics rows are insert-only'); END;\n"
"CREATE TRIGGER performance_metrics_insert_only BEFORE UPDATE ON performance_metrics\n"
"BEGIN SELECT RAISE(ABORT, 'performance_metrics rows are insert-only'); END;\n"

/* ---- lifecycle and audit (DESIGN §7) ------------------------------------ */
"CREATE TABLE human_approvals (\n"
"  approval_id TEXT PRIMARY KEY,\n"
"  skill_id TEXT NOT NULL REFERENCES skills(skill_id),\n"
"  promotion_path TEXT NOT NULL,\n"                /* "prototype->staged", ... */
"  approver TEXT NOT NULL,\n"
"  approval_ticket TEXT NOT NULL,\n"
"  wsp_50_no_duplication INTEGER NOT NULL DEFAULT 0,\n"
"  wsp_50_evidence TEXT,\n"
"  test_coverage_complete INTEGER NOT NULL DEFAULT 0,\n"
"  test_evidence TEXT,\n"
"  instruction_clarity_approved INTEGER NOT NULL DEFAULT 0,\n"
"  dependencies_validated INTEGER NOT NULL DEFAULT 0,\n"
"  dependency_evidence TEXT,\n"
"  security_reviewed INTEGER NOT NULL DEFAULT 0,\n"
"  security_notes TEXT,\n"
"  production_readiness INTEGER,\n"
"  integration_approved INTEGER,\n"
"  monitoring_configured INTEGER,\n"
"  rollback_tested INTEGER,\n"
"  documentation_updated INTEGER,\n"
"  approval_timestamp TEXT NOT NULL,\n"
"  notes TEXT,\n"
"  variant_id TEXT,\n"
"  checklist TEXT\n"                 /* JSON: promotion.lua's items, which may differ from the seeds' */
");\n"
"CREATE INDEX human_approvals_skill ON human_approvals(skill_id, promotion_path,"
" approval_timestamp);\n"

"CREATE TABLE promotion_events (\n"
"  event_id TEXT PRIMARY KEY,\n"
"  skill_id TEXT NOT NULL REFERENCES skills(skill_id),\n"
"  from_state TEXT NOT NULL,\n"
"  to_state TEXT NOT NULL,\n"
"  approver TEXT,\n"
"  approval_ticket TEXT,\n"
"  timestamp TEXT NOT NULL,\n"
"  reason TEXT,\n"
"  variant_id TEXT,\n"                             /* the variant that changed state */
"  demoted_variant_id TEXT\n"                      /* the production variant it replaced */
");\n"
"CREATE INDEX promotion_events_skill_time ON promotion_events(skill_id, timestamp);\n"

"CREATE TABLE rollback_events (\n"
"  event_id TEXT PRIMARY KEY,\n"
"  skill_id TEXT NOT NULL REFERENCES skills(skill_id),\n"
"  from_state TEXT NOT NULL,\n"
"  to_state TEXT NOT NULL,\n"
"  trigger_reason TEXT NOT NULL,\n"
"  trigger_metric TEXT,\n"                         /* "fidelity=0.83" */
"  timestamp TEXT NOT NULL,\n"
"  variant_id TEXT,\n"                             /* the variant rolled back */
"  restored_variant_id TEXT\n"                     /* the production variant brought back */
");\n"
"CREATE INDEX rollback_events_skill_time ON rollback_events(skill_id, timestamp);\n"

"CREATE TABLE learning_events (\n"
"  event_id INTEGER PRIMARY KEY,\n"
"  skill_name TEXT NOT NULL,\n"
"  event_type TEXT NOT NULL,\n"
"  description TEXT,\n"
"  variation_id TEXT,\n"
"  before_fidelity REAL,\n"
"  after_fidelity REAL,\n"
"  timestamp TEXT NOT NULL\n"
");\n"
"CREATE INDEX learning_events_skill_time ON learning_events(skill_name, timestamp);\n"
"CREATE INDEX learning_events_type ON learning_events(event_type);\n"

"CREATE TABLE decisions (\n"
"  decision_id INTEGER PRIMARY KEY,\n"
"  skill_name TEXT NOT NULL,\n"
"  variant_id TEXT,\n"
"  kind TEXT NOT NULL,\n"                          /* "ab", "promotion", "rollback", "breaker" */
"  verdict TEXT NOT NULL,\n"                       /* includes "inconclusive" */
"  observed TEXT,\n"                               /* JSON */
"  thresholds TEXT,\n"                             /* JSON */
"  policy_file TEXT,\n"
"  policy_sha256 TEXT,\n"
"  timestamp TEXT NOT NULL\n"
");\n"
"CREATE INDEX decisions_skill_kind_time ON decisions(skill_name, kind, timestamp);\n"
/* `status`: a skill's latest decisions of any kind, newest first, in O(n). */
"CREATE INDEX decisions_skill_latest ON decisions(skill_name, decision_id);\n"

/* ---- routing: A/B tests, rollout, circuit breakers ---------------------- */
"CREATE TABLE ab_test_assignments (\n"
"  test_id TEXT PRIMARY KEY,\n"
"  skill_name TEXT NOT NULL,\n"
"  control_version TEXT NOT NULL,\n"
"  treatment_version TEXT NOT NULL,\n"
"  start_time TEXT NOT NULL,\n"
"  end_time TEXT,\n"
"  status TEXT DEFAULT 'running',\n"
"  sample_size_target INTEGER DEFAULT 20,\n"
"  control_successes INTEGER DEFAULT 0,\n"
"  control_trials INTEGER DEFAULT 0,\n"
"  treatment_successes INTEGER DEFAULT 0,\n"
"  treatment_trials INTEGER DEFAULT 0,\n"
"  control_attempts INTEGER NOT NULL DEFAULT 0,\n" /* attempts per arm: a guardrail */
"  treatment_attempts INTEGER NOT NULL DEFAULT 0,\n"
"  weight REAL NOT NULL DEFAULT 50 CHECK (weight >= 0 AND weight <= 100),\n" /* treatment % */
"  routing TEXT,\n"
"  decision TEXT,\n"
"  decided_at TEXT,\n"
"  statistic TEXT,\n"                              /* JSON: the statistical guard's numbers */
"  mode TEXT NOT NULL DEFAULT 'ab' CHECK (mode IN ('ab','rollout')),\n"
"  steps TEXT,\n"                                  /* rollout: JSON array of weights */
"  step INTEGER NOT NULL DEFAULT 0,\n"             /* rollout: index into steps */
"  step_started_at TEXT,\n"
"  step_control_trials INTEGER NOT NULL DEFAULT 0,\n" /* counts since the step began */
"  step_control_successes INTEGER NOT NULL DEFAULT 0,\n"
"  step_treatment_trials INTEGER NOT NULL DEFAULT 0,\n"
"  step_treatment_successes INTEGER NOT NULL DEFAULT 0,\n"
"  min_p REAL,\n"                                  /* running minimum of the always-valid p */
"  reason TEXT\n"                                  /* why it ended: the policy's or `ab stop`'s */
");\n"
"CREATE UNIQUE INDEX ab_one_live_test ON ab_test_assignments(skill_name)\n"
"  WHERE status IN ('running','awaiting_approval');\n"
"CREATE INDEX ab_test_assignments_skill ON ab_test_assignments(skill_name, status,"
" start_time);\n"

"CREATE TABLE circuit_breakers (\n"
"  variant_id TEXT PRIMARY KEY,\n"
"  state TEXT NOT NULL DEFAULT 'closed'\n"
"    CHECK (state IN ('closed','open','half_open','frozen')),\n" /* frozen: rollback.lua's freeze */
"  failures INTEGER NOT NULL DEFAULT 0,\n"        /* consecutive */
"  opened_at TEXT,\n"
"  half_open_at TEXT,\n"                          /* when the one probe was let through */
"  reason TEXT\n"
");\n"

/*
 * Where a variant stands in its lifecycle, whoever changes its state: the
 * rollback target is the staged variant that most recently left production
 * without being rolled back (rollback.lua, lifecycle.c), and a state change
 * ends a freeze or an open breaker, which belonged to the variant's old role.
 */
"CREATE TRIGGER skill_variations_state_since AFTER UPDATE OF state ON skill_variations\n"
"WHEN NEW.state IS NOT OLD.state\n"
"BEGIN\n"
"  UPDATE skill_variations SET\n"
"    state_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),\n"
"    left_production_at = CASE WHEN OLD.state = 'production'\n"
"        THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE left_production_at END\n"
"  WHERE variation_id = NEW.variation_id;\n"
"  DELETE FROM circuit_breakers WHERE variant_id = NEW.variation_id;\n"
"END;\n"

/* ---- counters and workspace config -------------------------------------- */
"CREATE TABLE telemetry_counters (\n"
"  counter_name TEXT PRIMARY KEY,\n"
"  counter_value INTEGER DEFAULT 0,\n"
"  last_updated TEXT\n"
");\n"

"CREATE TABLE config (\n"
"  key TEXT PRIMARY KEY,\n"
"  value TEXT NOT NULL,\n"
"  updated_at TEXT NOT NULL\n"
");\n";

/*
 * Version 2: executions.skipped marks the failed execution that ended a
 * request recovery.lua answered "skip" for: the input was at fault, not the
 * variant, so the rollback window leaves it out.
 */
static const char migration_2[] =
"ALTER TABLE executions ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;\n";

/*
 * Version 3: client_sessions names the program behind a session_id (the MCP
 * server records the client's name and version from initialize), so
 * executions join to the agent that asked for them.
 */
static const char migration_3[] =
"CREATE TABLE IF NOT EXISTS client_sessions (\n"
"    session_id       TEXT PRIMARY KEY,\n"
"    transport        TEXT NOT NULL,\n"
"    client_name      TEXT,\n"
"    client_version   TEXT,\n"
"    protocol_version TEXT,\n"
"    started_at       TEXT NOT NULL\n"
");\n";

/*
 * Version 4: shadow policies (policies/shadow/NAME.lua) answer the facts the
 * live policy gets; each answer is kept beside the live one and never acted
 * on.  `skillhost policy diff` reads where they disagreed.
 */
static const char migration_4[] =
"CREATE TABLE shadow_decisions (\n"
"  shadow_id INTEGER PRIMARY KEY,\n"
"  policy TEXT NOT NULL,\n"                        /* "rollback", "ab", ... */
"  fn TEXT NOT NULL,\n"                            /* the decision function */
"  skill_name TEXT,\n"                             /* facts.skill, when the facts name one */
"  live_verdict TEXT NOT NULL,\n"                  /* "rollback", "none", "error", ... */
"  shadow_verdict TEXT NOT NULL,\n"
"  agree INTEGER NOT NULL CHECK (agree IN (0, 1)),\n"
"  facts TEXT,\n"                                  /* JSON: what both saw */
"  live_answer TEXT,\n"                            /* JSON, or NULL when it failed */
"  shadow_answer TEXT,\n"
"  live_error TEXT,\n"
"  shadow_error TEXT,\n"
"  live_file TEXT,\n"
"  live_sha256 TEXT,\n"
"  shadow_file TEXT NOT NULL,\n"
"  shadow_sha256 TEXT,\n"
"  timestamp TEXT NOT NULL\n"
");\n"
"CREATE INDEX shadow_decisions_policy_time ON shadow_decisions(policy, timestamp);\n";

/*
 * Version 5: what the analytics verbs read (DESIGN §8, issue 12).
 * - executions carry the rest of seed 004's invocation context
 *   (alternatives_considered and follow_up_actions as JSON arrays,
 *   selection_rank) and, on the last attempt of a request, whether the
 *   request succeeded (request_success), so sessions can be followed from
 *   phase to phase without re-deriving the verdict;
 * - hourly_rollups: per hour, skill, variant, workflow phase and tenant,
 *   the counts, sums and histograms (fidelity in tenths, duration in
 *   16 log-spaced buckets, errors by category) that analytics, anomalies,
 *   heatmap and report read instead of the raw rows.  An hour is folded in
 *   once it is over (rollup_state.closed_through), by the recording
 *   transaction that finds it so (core/analytics/rollup.c); benchmark
 *   evaluations are not live traffic and stay out.  The history before
 *   this version is folded by the first recording after it, a request
 *   counted as a success when its last attempt had no error, fidelity >=
 *   0.90 (the default threshold) and no wrong label;
 * - anomalies and anomaly_scans: what `skillhost anomalies` found, and
 *   which hours it has judged, so a finding is kept, not recomputed;
 * - recommend_docs / recommend_fts / recommend_state: the FTS5 index behind
 *   `skillhost recommend` (skill descriptions and past user queries with
 *   their success counts), caught up from executions on use.
 */
static const char migration_5[] =
"ALTER TABLE executions ADD COLUMN alternatives_considered TEXT;\n"
"ALTER TABLE executions ADD COLUMN selection_rank INTEGER;\n"
"ALTER TABLE executions ADD COLUMN follow_up_actions TEXT;\n"
"ALTER TABLE executions ADD COLUMN request_success INTEGER;\n"
"CREATE INDEX executions_session ON executions(session_id, timestamp)\n"
"  WHERE session_id IS NOT NULL;\n"
"CREATE TABLE hourly_rollups (\n"
"  hour TEXT NOT NULL,\n"
"  skill_id TEXT NOT NULL,\n"
"  variant_id TEXT NOT NULL,\n"
"  phase TEXT NOT NULL DEFAULT '',\n"
"  tenant TEXT NOT NULL DEFAULT '',\n"
"  executions INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,\n"
"  requests INTEGER NOT NULL DEFAULT 0, successes INTEGER NOT NULL DEFAULT 0,\n"
"  retried INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,\n"
"  fidelity_sum REAL NOT NULL DEFAULT 0, fidelity_sq REAL NOT NULL DEFAULT 0,\n"
"  duration_sum REAL NOT NULL DEFAULT 0, duration_sq REAL NOT NULL DEFAULT 0,\n"
"  duration_max REAL NOT NULL DEFAULT 0,\n"
"  f0 INTEGER NOT NULL DEFAULT 0, f1 INTEGER NOT NULL DEFAULT 0,\n"
"  f2 INTEGER NOT NULL DEFAULT 0, f3 INTEGER NOT NULL DEFAULT 0,\n"
"  f4 INTEGER NOT NULL DEFAULT 0, f5 INTEGER NOT NULL DEFAULT 0,\n"
"  f6 INTEGER NOT NULL DEFAULT 0, f7 INTEGER NOT NULL DEFAULT 0,\n"
"  f8 INTEGER NOT NULL DEFAULT 0, f9 INTEGER NOT NULL DEFAULT 0,\n"
"  f10 INTEGER NOT NULL DEFAULT 0, d0 INTEGER NOT NULL DEFAULT 0,\n"
"  d1 INTEGER NOT NULL DEFAULT 0, d2 INTEGER NOT NULL DEFAULT 0,\n"
"  d3 INTEGER NOT NULL DEFAULT 0, d4 INTEGER NOT NULL DEFAULT 0,\n"
"  d5 INTEGER NOT NULL DEFAULT 0, d6 INTEGER NOT NULL DEFAULT 0,\n"
"  d7 INTEGER NOT NULL DEFAULT 0, d8 INTEGER NOT NULL DEFAULT 0,\n"
"  d9 INTEGER NOT NULL DEFAULT 0, d10 INTEGER NOT NULL DEFAULT 0,\n"
"  d11 INTEGER NOT NULL DEFAULT 0, d12 INTEGER NOT NULL DEFAULT 0,\n"
"  d13 INTEGER NOT NULL DEFAULT 0, d14 INTEGER NOT NULL DEFAULT 0,\n"
"  d15 INTEGER NOT NULL DEFAULT 0, e_network INTEGER NOT NULL DEFAULT 0,\n"
"  e_timeout INTEGER NOT NULL DEFAULT 0, e_rate_limit INTEGER NOT NULL DEFAULT 0,\n"
"  e_unavailable INTEGER NOT NULL DEFAULT 0, e_validation INTEGER NOT NULL DEFAULT 0,\n"
"  e_authentication INTEGER NOT NULL DEFAULT 0, e_not_found INTEGER NOT NULL DEFAULT 0,\n"
"  e_crash INTEGER NOT NULL DEFAULT 0, e_internal INTEGER NOT NULL DEFAULT 0,\n"
"  e_policy INTEGER NOT NULL DEFAULT 0,\n"
"  PRIMARY KEY (hour, skill_id, variant_id, phase, tenant)\n"
") WITHOUT ROWID;\n"

"CREATE TABLE rollup_state (\n"
"  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
"  closed_through TEXT NOT NULL DEFAULT ''\n"     /* the last hour folded into hourly_rollups */
");\n"
"INSERT INTO rollup_state (id) VALUES (1);\n"
"UPDATE executions SET request_success = (error_category IS NULL AND\n"
"  (SELECT pattern_fidelity FROM fidelity_metrics f WHERE f.execution_id = executions.execution_id) >= 0.9\n"
"  AND (SELECT correct FROM outcome_metrics o WHERE o.execution_id = executions.execution_id) IS NOT 0)\n"
"WHERE attempt = (SELECT MAX(x.attempt) FROM executions x WHERE x.request_id = executions.request_id);\n"
"CREATE TABLE anomalies (\n"
"  anomaly_id INTEGER PRIMARY KEY,\n"
"  skill_id TEXT NOT NULL,\n"
"  tenant TEXT NOT NULL DEFAULT '',\n"
"  hour TEXT NOT NULL,\n"
"  metric TEXT NOT NULL,\n"
"  value REAL NOT NULL,\n"
"  baseline_mean REAL,\n"
"  baseline_std REAL,\n"
"  baseline_hours INTEGER,\n"
"  z REAL,\n"
"  direction TEXT,\n"
"  severity TEXT,\n"
"  reason TEXT NOT NULL,\n"
"  statistic TEXT,\n"
"  thresholds TEXT,\n"
"  policy_file TEXT,\n"
"  policy_sha256 TEXT,\n"
"  detected_at TEXT NOT NULL,\n"
"  UNIQUE (skill_id, tenant, hour, metric)\n"
");\n"
"CREATE INDEX anomalies_hour ON anomalies(hour);\n"
"CREATE TABLE anomaly_scans (\n"
"  skill_id TEXT NOT NULL,\n"
"  tenant TEXT NOT NULL DEFAULT '',\n"
"  hour TEXT NOT NULL,\n"
"  scanned_at TEXT NOT NULL,\n"
"  PRIMARY KEY (skill_id, tenant, hour)\n"
") WITHOUT ROWID;\n"
"CREATE TABLE recommend_docs (\n"
"  doc_id INTEGER PRIMARY KEY,\n"
"  skill_id TEXT NOT NULL,\n"
"  source TEXT NOT NULL CHECK (source IN ('description', 'query')),\n"
"  text TEXT NOT NULL,\n"
"  phase TEXT NOT NULL DEFAULT '',\n"
"  tenant TEXT NOT NULL DEFAULT '',\n"
"  requests INTEGER NOT NULL DEFAULT 0,\n"
"  successes INTEGER NOT NULL DEFAULT 0,\n"
"  UNIQUE (skill_id, source, text, phase, tenant)\n"
");\n"
"CREATE VIRTUAL TABLE recommend_fts USING fts5(text, tokenize = 'porter unicode61');\n"
"CREATE TABLE recommend_state (\n"
"  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
"  last_execution_id TEXT NOT NULL DEFAULT ''\n"
");\n";

/*
 * Version 6: skill_variations.isolation is where the variant's .so runs
 * ("process" or "inline"); NULL leaves it to the plugins.isolation key.
 */
static const char migration_6[] =
"ALTER TABLE skill_variations ADD COLUMN isolation TEXT"
" CHECK (isolation IS NULL OR isolation IN ('process', 'inline'));\n";

/*
 * Version 7: one row per request (store_requests.c), so that a request whose
 * process was killed between attempts is found and counted as "abandoned"
 * by the next process; before it, nothing counted it at all.  Requests
 * recorded before this version cannot be told apart and count as done.
 */
static const char migration_7[] =
"CREATE TABLE requests (\n"
"  request_id TEXT PRIMARY KEY,\n"
"  skill_id TEXT NOT NULL,\n"
"  status TEXT NOT NULL CHECK (status IN ('running','done','abandoned')),\n"
"  attempts INTEGER NOT NULL DEFAULT 0,\n"         /* the highest attempt recorded */
"  owner TEXT,\n"                                  /* BOOT_ID/PID/START of the recording process */
"  started_at TEXT NOT NULL,\n"
"  ended_at TEXT\n"
") WITHOUT ROWID;\n"
"CREATE INDEX requests_running ON requests(status) WHERE status = 'running';\n"
"INSERT INTO requests (request_id, skill_id, status, attempts, started_at, ended_at)\n"
"  SELECT request_id, MIN(skill_id), 'done', MAX(attempt), MIN(timestamp), MAX(timestamp)\n"
"  FROM executions GROUP BY request_id;\n";
// clang-format on

static const char *const migrations[] = {migration_1, migration_2, migration_3, migration_4,
                                         migration_5, migration_6, migration_7};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

int schema_version(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

const char *schema_migration(int k)
{
    if (k < 1 || k > schema_version())
        return NULL;
    return migrations[k - 1];
}
