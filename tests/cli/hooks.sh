#!/bin/sh
# Hooks and the registry from the command line: `registry export` to the
# default path and to FILE (text and --json), its content and timestamp, its
# refusals; the shipped hooks.lua passes `policy check`; a rollback run from
# the CLI appends to audit.jsonl and CHANGELOG.md and refreshes registry.json;
# a failing hook command is reported and recorded while the rollback stands.
. "$top_srcdir/tests/cli/lib.sh"
umask 022 # policy files must pass the trust rules

WS="$WORK/ws"
REG="$WS/registry.json"

# jx FILE PATH: one value of a JSON file (SQLite's JSON functions; no jq needed).
jx() {
    sqlite3 -batch -noheader :memory: "SELECT json_extract(readfile('$1'), '$2')"
}
valid() {
    sqlite3 -batch -noheader :memory: "SELECT json_valid(readfile('$1'))"
}
# fresh TS: 1 when TS (ISO-8601 UTC) is within 10 seconds of now.
fresh() {
    ts=$(sqlite3 -batch -noheader :memory: "SELECT strftime('%s', substr('$1', 1, 19))")
    now=$(date +%s)
    [ -n "$ts" ] && [ $((now - ts)) -le 10 ] && [ $((ts - now)) -le 10 ] && echo 1 || echo 0
}

expect 0 "init" init
expect 0 "v1 in production" skill add st --impl keyword_classifier.lua --state production
expect 0 "v2 in production, v1 kept as the rollback target" \
    skill add st --impl keyword_classifier.lua --state production

# ---- registry export ------------------------------------------------------------

expect 0 "registry export --help" registry export --help
out_has "registry export [FILE]" "help names the verb"

expect 0 "registry export: beside the database" registry export
same "$(cat "$WORK/out")" "$REG" "prints the path written"
same "$(valid "$REG")" 1 "registry.json is JSON"
same "$(jx "$REG" '$.version')" 1 "version 1"
same "$(jx "$REG" '$.skills.st.serving')" "st@v2" "the serving variant"
same "$(jx "$REG" '$.skills.st.promotion_state')" "production" "the skill's state"
same "$(jx "$REG" '$."skills"."st"."variants"."st@v1"."state"')" "staged" "v1 is staged"
same "$(jx "$REG" '$."skills"."st"."variants"."st@v2"."promoted"')" 0 "promoted is false"
same "$(jx "$REG" '$."skills"."st"."variants"."st@v2"."sha256"' | wc -c)" 65 "the impl's sha256"
same "$(jx "$REG" '$.database')" "$(realpath "$SKILLHOST_DB")" "names the database"
same "$(fresh "$(jx "$REG" '$.last_updated')")" 1 "last_updated is now"
same "$(ls "$WS" | grep -c '\.tmp\.')" 0 "no temp file left"

expect 0 "registry export FILE" registry export "$WORK/elsewhere.json"
same "$(cat "$WORK/out")" "$WORK/elsewhere.json" "prints FILE"
same "$(jx "$WORK/elsewhere.json" '$.skills.st.serving')" "st@v2" "FILE holds the registry"
same "$(stat -c %a "$WORK/elsewhere.json")" 644 "readable by others, not mkstemp's 0600"

expect 0 "--json registry export" --json registry export
same "$(json_get path)" "$REG" "--json: path"
same "$(fresh "$(json_get last_updated)")" 1 "--json: last_updated is now"
same "$(json_get last_updated)" "$(jx "$REG" '$.last_updated')" "--json: the timestamp written"

expect 2 "registry export into a missing folder" registry export "$WORK/no/such/r.json"
err_has "skillhost: $WORK/no/such/r.json: cannot create a temp file beside it" "says why"
expect 2 "two FILEs refused" registry export a.json b.json
expect 2 "stdout refused: the export is atomic" registry export -
expect 2 "unknown subcommand" registry import
expect 2 "no subcommand" registry

# ---- hooks.lua ------------------------------------------------------------------------

expect 0 "policy check: the shipped policies" policy check
out_has "hooks.lua: ok (policy hooks" "hooks.lua loads"

# ---- a transition from the CLI ------------------------------------------------------

before=$(jx "$REG" '$.last_updated')
sleep 0.01 2>/dev/null || sleep 1
expect 0 "rollback from the CLI" rollback st --reason "fidelity dropped"
same "$(wc -l <"$WS/audit.jsonl")" 1 "audit.jsonl: one line"
same "$(valid "$WS/audit.jsonl")" 1 "the audit line is JSON"
same "$(jx "$WS/audit.jsonl" '$.kind')" rollback "audit: the kind"
same "$(jx "$WS/audit.jsonl" '$.variant')" "st@v2" "audit: the variant"
same "$(jx "$WS/audit.jsonl" '$.reason')" "fidelity dropped" "audit: the reason"
if grep -q "^- [0-9T:-]*Z  st  rollback  st@v2 production -> staged  (fidelity dropped, by hand)$" \
    "$WS/CHANGELOG.md"; then
    ok "CHANGELOG.md: a readable line"
else
    not_ok "CHANGELOG.md: a readable line" "$(cat "$WS/CHANGELOG.md")"
fi
same "$(jx "$REG" '$.skills.st.serving')" "st@v1" "registry.json refreshed: v1 serves again"
if [ "$(jx "$REG" '$.last_updated')" \> "$before" ]; then
    ok "registry.json: a newer last_updated"
else
    not_ok "registry.json: a newer last_updated" "$before -> $(jx "$REG" '$.last_updated')"
fi

# A failing hook is reported on stderr and recorded; the transition stands.
P="$WORK/policies"
mkdir -p "$P" && chmod 755 "$P"
cp "$top_srcdir"/policies/*.lua "$P/"
cat >"$P/hooks.lua" <<'EOF'
return {
  kind = "policy", name = "hooks", version = "1.0.0",
  after_transition = function(event)
    return { commands = { { "/bin/sh", "-c", "echo cannot reach the indexer >&2; exit 4" } },
             timeout_ms = 5000 }
  end,
}
EOF
expect 0 "v3 in production" skill add st --impl keyword_classifier.lua --state production
expect 0 "rollback with a failing hook: still done" --policies "$P" rollback st --reason "regressed"
err_has "skillhost: hook /bin/sh -c echo cannot reach the indexer >&2; exit 4: exited with status 4: cannot reach the indexer" \
    "the failure on stderr"
same "$(sql "SELECT COUNT(*) FROM decisions WHERE kind = 'hook' AND verdict = 'error'")" 1 \
    "recorded in decisions"
same "$(sql "SELECT json_extract(observed, '\$.event.reason') FROM decisions WHERE kind = 'hook'")" \
    "regressed" "with the event"
same "$(sql "SELECT state FROM skill_variations WHERE variation_id = 'st@v3'")" staged \
    "the rollback stands"
same "$(wc -l <"$WS/audit.jsonl")" 2 "audit.jsonl: the second transition"
same "$(jx "$REG" '$.skills.st.serving')" "st@v1" "registry.json refreshed again"

done_testing
