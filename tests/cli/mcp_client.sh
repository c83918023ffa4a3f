#!/bin/sh
# mcp:COMMAND#TOOL implementations: one tool of an MCP server as a skill
# variant.  The server is skillhost itself (`skillhost mcp` on a second
# workspace), so the error mapping, breadcrumbs, warm reuse, timeouts and
# restarts are tested without npm; then the reference server-everything
# (installed by scripts/bootstrap --with-mcp-tests) serves a skill in an A/B
# test against a Lua variant.
. "$top_srcdir/tests/cli/lib.sh"

SK="$top_srcdir/tests/mcp/skills"
INNER="$WORK/inner/skillhost.db"
# The inner workspace: the skills the MCP server offers.
SKILLHOST_DB="$INNER" expect 0 "inner workspace" init -q
SKILLHOST_DB="$INNER" expect 0 "inner: the keyword classifier" \
    skill add spam --impl keyword_classifier.lua --state production -q
SKILLHOST_DB="$INNER" expect 0 "inner: a failing skill" \
    skill add test_error_handling --impl "$SK/test_error_handling.lua" --state production -q
SKILLHOST_DB="$INNER" expect 0 "inner: a slow skill" \
    skill add slow --impl "exec:$top_srcdir/tests/mcp/slow_network.sh" --state production -q
# A script, not "skillhost --db FILE": an mcp: command is pinned with every
# file its arguments name, and the inner database changes with each call.
printf '#!/bin/sh\nexec "%s" --db "%s" mcp\n' "$SKILLHOST" "$INNER" >"$WORK/inner.sh"
chmod 700 "$WORK/inner.sh"
SERVER="$WORK/inner.sh"

expect 0 "init" init -q
expect 0 "an MCP tool as a skill variant" skill add spam \
    --impl "mcp:$SERVER#spam" --patterns read_input,tokenize,classify,decide --state production -q
expect 0 "run it: routed, recorded" run spam --input '{"text":"win free money now"}' --json
same "$(json_at '$.output.decision')" "spam" "the tool's structuredContent is the output"
same "$(json_at '$.per_attempt[0].fidelity')" "1.0" \
    "its breadcrumbs (_meta skillhost/steps) are scored against the patterns"
same "$(sql "SELECT count(*) FROM executions")" "1" "recorded in the outer workspace"
same "$(sql "SELECT count(*) FROM executions" | SKILLHOST_DB="$INNER" sqlite3 -batch "$INNER" "SELECT count(*) FROM executions")" \
    "1" "... and by the inner skillhost too"

expect 0 "a failing tool" skill add failing --impl "mcp:$SERVER#test_error_handling" \
    --state production -q
expect 1 "its isError answer fails the attempt" run failing --input '{}' --json
same "$(json_at '$.error.category')" "validation" "with the category the tool states"
expect 0 "an unknown tool" skill add missing --impl "mcp:$SERVER#no_such_tool" --state production -q
expect 1 "... fails" run missing --input '{}' --json
same "$(json_at '$.error.category')" "validation" "a JSON-RPC invalid-params error: validation"

expect 0 "a server that exits at once" skill add dead --impl "mcp:/bin/true#x" --state production -q
expect 1 "... fails" run dead --input '{}' --json --no-react
same "$(json_at '$.error.category')" "unavailable" "a dead server: unavailable"

expect 0 "a slow tool" skill add slowtool --impl "mcp:$SERVER#slow" --state production -q
SKILLHOST_EXEC_TIMEOUT_MS=200 expect 1 "... past exec.timeout_ms" run slowtool --input '{}' --json \
    --no-react --max-iter 1
same "$(json_at '$.per_attempt[0].error.category')" "timeout" "a tool that does not answer in time: timeout"

expect 2 "mcp: without a tool" skill add bad --impl "mcp:$SERVER" -q
err_has "mcp:COMMAND ARGS#TOOL" "... names the syntax"
expect 2 "mcp: with a missing program" skill add bad --impl "mcp:/no/such/server#t" -q

# Warm: in one host (the MCP server of the outer workspace) the inner server
# starts once for many calls; a killed server is started again.
mkfifo "$WORK/in"
"$SKILLHOST" mcp <"$WORK/in" >"$WORK/mcp.out" 2>"$WORK/mcp.err" &
outer=$!
exec 3>"$WORK/in"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' >&3
for i in 2 3 4 5 6; do
    printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"spam\",\"arguments\":{\"text\":\"call $i\"}}}" >&3
done
i=0
while ! grep -q '"id":6,' "$WORK/mcp.out" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
same "$(pgrep -f -c -- "--db $INNER mcp")" "1" "five calls, one warm inner server"
inner_pid=$(pgrep -f -- "--db $INNER mcp")
kill -KILL "$inner_pid"
printf '%s\n' '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"spam","arguments":{"text":"after the kill"}}}' >&3
i=0
while ! grep -q '"id":7,' "$WORK/mcp.out" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep '"id":7,' "$WORK/mcp.out" >"$WORK/reply"
same "$(sqlite3 -batch -noheader :memory: "SELECT json_extract(readfile('$WORK/reply'), '\$.result.isError')")" \
    "0" "a killed server is started again at the next call"
exec 3>&-
wait $outer
i=0
while pgrep -f -- "--db $INNER mcp" >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
same "$(pgrep -f -c -- "--db $INNER mcp")" "0" "closing the host kills the server's process group"

# The reference server-everything, A/B-tested against a Lua variant.
MCPT="${SKILLHOST_MCP_TESTS:-$top_srcdir/.mcp-tests}"
EVERY="$MCPT/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
if [ ! -x "$MCPT/node_modules/.bin/node" ] || [ ! -f "$EVERY" ]; then
    ok "server-everything # SKIP not installed in $MCPT: run scripts/bootstrap --with-mcp-tests"
    done_testing
fi
cat >"$WORK/echo.lua" <<'EOF'
return { kind = "skill", name = "echo_lua", version = "1", description = "echo in Lua",
    execute = function(input, ctx) return { text = "Echo: " .. tostring(input.message) } end }
EOF
expect 0 "echo: a Lua variant in production" skill add echo --impl "$WORK/echo.lua" \
    --state production -q
expect 0 "echo: server-everything's echo tool as a second variant" skill add echo \
    --impl "mcp:$MCPT/node_modules/.bin/node $EVERY stdio#echo" -q
expect 0 "an A/B test between them" ab start echo --treatment echo@v2 --weight 50 --target 1000 -q
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' >"$WORK/calls"
for i in $(seq 2 21); do
    printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"m$i\"},\"_meta\":{\"key\":\"user-$i\"}}}" >>"$WORK/calls"
done
timeout 120 "$SKILLHOST" mcp <"$WORK/calls" >"$WORK/out" 2>"$WORK/err"
same "$(grep -c '"isError":false' "$WORK/out")" "20" "20 calls through the A/B test answered"
arms=$(sql "SELECT count(DISTINCT variant_id) FROM executions WHERE variant_id LIKE 'echo@%'")
same "$arms" "2" "both arms served (server-everything and Lua)"
same "$(sql "SELECT control_trials + treatment_trials FROM ab_test_assignments WHERE skill_name = 'echo'")" \
    "20" "every request is one trial"
same "$(sql "SELECT count(*) FROM executions WHERE variant_id = 'echo@v2' AND error_type IS NULL AND output LIKE '%Echo: m%'")" \
    "$(sql "SELECT count(*) FROM executions WHERE variant_id = 'echo@v2' AND output IS NOT NULL")" \
    "server-everything's answers are recorded"
expect 1 "a bad argument to server-everything's echo" run echo --variant echo@v2 --input '{"nomessage":1}' --json
same "$(json_at '$.error.category')" "validation" "its schema refusal maps to validation"
done_testing
