#!/bin/sh
# skillhost policy check: every policy file loads (nothing is decided), errors
# read FILE:LINE, and no workspace database is needed.
. "$top_srcdir/tests/cli/lib.sh"
umask 022 # policy files must pass the trust rules

P="$WORK/policies"
mkdir -p "$P/examples" "$P/examples/deeper" && chmod 700 "$P" "$P/examples"
cat >"$P/recovery.lua" <<'EOF'
return {
    kind = "policy", name = "recovery", version = "1.2.0",
    decide = function(f) return {action = "retry", delay_ms = 500} end,
}
EOF
cat >"$P/rollback.lua" <<'EOF'
-- Wrong only when it runs: the check loads, it does not decide.
return {
    kind = "policy", name = "rollback", version = "0.1",
    decide = function(f) error("only at run time") end,
}
EOF
cat >"$P/examples/strict.lua" <<'EOF'
return { kind = "policy", name = "strict", version = "2.0", decide = function() return {} end }
EOF
echo 'return {' >"$P/examples/deeper/ignored.lua"
echo 'not a policy' >"$P/README.txt"

expect 0 "policy check --help" policy check --help
out_has "usage: skillhost [GLOBAL OPTIONS] policy check [DIR]" "help names the verb"
expect 0 "policy --help" policy --help
expect 2 "policy without check is a usage error" policy
err_has "try 'skillhost policy --help'" "usage error points at --help"
expect 2 "an extra argument is a usage error" policy check "$P" more

# No workspace database exists in $WORK: the check must not need one.
expect 0 "a good folder passes without a workspace" --policies "$P" policy check
same "$(cat "$WORK/out")" "$P/recovery.lua: ok (policy recovery 1.2.0)
$P/rollback.lua: ok (policy rollback 0.1)
$P/examples/strict.lua: ok (policy strict 2.0)" "one ok line per file, subfolder one level deep"
[ -e "$SKILLHOST_DB" ] && not_ok "no database is created" || ok "no database is created"

A="$WORK/alt"
mkdir "$A" && chmod 700 "$A" && cp "$P/examples/strict.lua" "$A/"
expect 0 "DIR as an argument" --policies "$P" policy check "$A"
same "$(cat "$WORK/out")" "$A/strict.lua: ok (policy strict 2.0)" "only that folder"
saved=${SKILLHOST_POLICIES-}
export SKILLHOST_POLICIES="$A"
skh policy check
same "$status:$(cat "$WORK/out")" "0:$A/strict.lua: ok (policy strict 2.0)" \
    "\$SKILLHOST_POLICIES is the default folder"
SKILLHOST_POLICIES="$WORK/nowhere"
skh --policies "$A" policy check
same "$status" "0" "--policies wins over \$SKILLHOST_POLICIES"
SKILLHOST_POLICIES=$saved

expect 0 "--json" --json --policies "$P" policy check
out_has '"failed": 0' "json counts failures"
out_has '"file": "'"$P"'/recovery.lua", "ok": true, "kind": "policy", "name": "recovery"' \
    "json entry per file"
out_has '"dir": "'"$P"'"' "json names the folder"

# A syntax error: FILE:LINE once, the good files still reported, exit 3.
cat >"$P/promotion.lua" <<'EOF'
return {
    kind = "policy", name = "promotion", version = "1",
    decide = function(f) return {ready = f.fidelity >= } end,
}
EOF
expect 3 "a syntax error fails the check" --policies "$P" policy check
out_has "$P/promotion.lua:3: " "the error reads FILE:LINE"
grep -qF "$P/promotion.lua: $P/promotion.lua" "$WORK/out" && not_ok "the file is named once" ||
    ok "the file is named once"
out_has "$P/recovery.lua: ok (policy recovery 1.2.0)" "good files are still reported"
expect 3 "--json with a failure" --json --policies "$P" policy check
out_has '"failed": 1' "json counts the failure"
out_has '"ok": false, "error": "'"$P"'/promotion.lua:3: ' "json error reads FILE:LINE"
rm "$P/promotion.lua"

# A skill is not a policy.
cat >"$P/classify.lua" <<'EOF'
return { kind = "skill", name = "classify", version = "1", execute = function() return {} end }
EOF
expect 3 "a skill in the policies folder fails the check" --policies "$P" policy check
out_has "$P/classify.lua: is a skill plugin, not a policy" "and says why"
rm "$P/classify.lua"

# The trust rules hold for policies as for plugins.
chmod 666 "$P/recovery.lua"
expect 3 "a world-writable policy is refused" --policies "$P" policy check
out_has "$P/recovery.lua: refused: writable by others" "the reason names the file once"
chmod 644 "$P/recovery.lua"

mkdir "$WORK/empty"
expect 0 "an empty folder passes" policy check "$WORK/empty"
out_has "no policy files" "and says it is empty"

# A missing folder is a missing thing (exit 2), in text and JSON alike.
expect 2 "a missing folder" policy check "$WORK/nowhere"
err_has "skillhost: $WORK/nowhere: no such folder" "named on stderr"
expect 2 "a missing folder with --json" --json policy check "$WORK/nowhere"
out_has '"code": -2' "json error object"

# With a workspace the check behaves the same.
expect 0 "init a workspace" init
expect 0 "the check works inside a workspace" --policies "$P" policy check
out_has "$P/examples/strict.lua: ok" "same report"

# A policy failing at run time: stderr names the file once, as FILE:LINE (--json too).
B="$WORK/boom"
mkdir "$B" && chmod 755 "$B" && cp "$top_srcdir"/policies/*.lua "$B/" && chmod 644 "$B"/*.lua
sed 's/^local function ready(facts)$/&\n  error("no verdict today")/' "$top_srcdir/policies/promotion.lua" \
    >"$B/promotion.lua"
line=$(grep -n 'error("no verdict today")' "$B/promotion.lua" | cut -d: -f1)
[ -n "$line" ] && ok "promotion.lua raising in ready()" || not_ok "promotion.lua raising in ready()" "no line"
expect 0 "a variant to promote" skill add pc --impl keyword_classifier.lua
expect 3 "a policy raising is a policy error" --policies "$B" promote pc@v1 --to staged
same "$(grep -v 'decided nothing' "$WORK/err")" "skillhost: $B/promotion.lua:$line: no verdict today" \
    "stderr: FILE:LINE: message, the file named once"
expect 3 "the same with --json" --json --policies "$B" promote pc@v1 --to staged
same "$(json_at '$.error.message')" "$B/promotion.lua:$line: no verdict today" \
    "json: the file named once"

# The shipped policies all load.
expect 0 "the shipped policies pass" policy check "$top_srcdir/policies"

done_testing
