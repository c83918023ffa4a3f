#!/bin/sh
# skillhost mcp over stdio, driven by a scripted client: initialize and
# version negotiation, tools/list with declared and default schemas,
# tools/call through the whole pipeline (recorded with the MCP context),
# isError for a failing skill, JSON-RPC errors for bad messages, progress,
# logging, cancellation, list_changed after a promotion, skillhost_status.
. "$top_srcdir/tests/cli/lib.sh"

SK="$top_srcdir/tests/mcp/skills"
expect 0 "init" init -q
expect 0 "a Lua skill" skill add spam --impl keyword_classifier.lua --state production -q
expect 0 "a skill with a declared input schema" skill add json_schema_2020_12_tool \
    --impl "$SK/json_schema_2020_12_tool.lua" --state production -q
expect 0 "a skill that logs" skill add test_tool_with_logging \
    --impl "$SK/test_tool_with_logging.lua" --state production -q
expect 0 "a skill that fails" skill add test_error_handling --impl "$SK/test_error_handling.lua" \
    --state production -q
expect 0 "a slow skill that fails with network errors" skill add slow \
    --impl "exec:$top_srcdir/tests/mcp/slow_network.sh" --state production -q
expect 0 "a prototype only (still a serving variant)" skill add proto \
    --impl "$SK/test_simple_text.lua" -q

# The client: a FIFO into `skillhost mcp`, its stdout in a file read line by line.
mkfifo "$WORK/in"
"$SKILLHOST" mcp <"$WORK/in" >"$WORK/mcp.out" 2>"$WORK/mcp.err" &
server=$!
exec 3>"$WORK/in"
send() { printf '%s\n' "$1" >&3; }
# reply ID: wait (10 s at most) for the response with that id; it lands in $WORK/reply.
reply() {
    i=0
    while ! grep -q "\"id\":$1[,}]" "$WORK/mcp.out" && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    grep "\"id\":$1[,}]" "$WORK/mcp.out" | head -1 >"$WORK/reply"
}
# at PATH: a value of the last reply.
at() { sqlite3 -batch -noheader :memory: "SELECT json_extract(readfile('$WORK/reply'), '$1')"; }

send '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"scripted-agent","version":"4.2"}}}'
reply 1
same "$(at '$.result.protocolVersion')" "2025-06-18" "initialize: the client's revision is agreed"
same "$(at '$.result.serverInfo.name')" "skillhost" "initialize: serverInfo"
same "$(at '$.result.capabilities.tools.listChanged')" "1" "initialize: tools.listChanged"
send '{"jsonrpc":"2.0","method":"notifications/initialized"}'

send '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
reply 2
tools=$(sqlite3 -batch -noheader :memory: "SELECT group_concat(value->>'name', ' ') FROM json_each(readfile('$WORK/reply'), '$.result.tools')")
same "$tools" "skillhost_status json_schema_2020_12_tool proto slow spam test_error_handling test_tool_with_logging" \
    "tools/list: every skill with a serving variant, and the host tool"
same "$(sqlite3 -batch -noheader :memory: "SELECT value->>'\$.inputSchema.\$defs.address.type' FROM json_each(readfile('$WORK/reply'), '\$.result.tools') WHERE value->>'name' = 'json_schema_2020_12_tool'")" \
    "object" "tools/list: a declared input schema is listed as declared"
same "$(sqlite3 -batch -noheader :memory: "SELECT value->>'\$.inputSchema.additionalProperties' FROM json_each(readfile('$WORK/reply'), '\$.result.tools') WHERE value->>'name' = 'spam'")" \
    "1" "tools/list: the default input schema takes any object"

send '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"spam","arguments":{"text":"win free money now"},"_meta":{"progressToken":"tok-3","tenant":"acme","phase":"triage","query":"is this spam?"}}}'
reply 3
same "$(at '$.result.isError')" "0" "tools/call: the skill's answer"
same "$(at '$.result.structuredContent.decision')" "spam" "tools/call: structuredContent is the output"
same "$(at '$.result._meta."skillhost/result".variant')" "spam@v1" "tools/call: the variant that served"
grep -q '"progressToken":"tok-3","progress":1' "$WORK/mcp.out" && ok "progress notifications for a progressToken" ||
    not_ok "progress notifications for a progressToken"
same "$(sql "SELECT tenant || '|' || workflow_phase || '|' || user_query FROM executions WHERE skill_id = (SELECT skill_id FROM skills WHERE skill_name = 'spam')")" \
    "acme|triage|is this spam?" "the _meta context is recorded with the execution"
same "$(sql "SELECT c.client_name || ' ' || c.client_version || ' ' || c.transport || ' ' || c.protocol_version FROM executions e JOIN client_sessions c ON c.session_id = e.session_id")" \
    "scripted-agent 4.2 stdio 2025-06-18" "the session and the client's name/version are recorded"

send '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"test_error_handling","arguments":{}}}'
reply 4
same "$(at '$.result.isError')" "1" "a failed skill answers isError: true"
same "$(at '$.result._meta."skillhost/category"')" "validation" "... with its error category"
case "$(at '$.result.content[0].text')" in
validation:*"intentionally returns an error"*) ok "... and its message" ;;
*) not_ok "... and its message" "$(cat "$WORK/reply")" ;;
esac

send '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"no_such_skill","arguments":{}}}'
reply 5
same "$(at '$.error.code')" "-32602" "an unknown tool is a JSON-RPC invalid-params error"
send '{"jsonrpc":"2.0","id":6,"method":"resources/list"}'
reply 6
same "$(at '$.error.code')" "-32601" "an unknown method: -32601"
send '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":"nope"}'
reply 7
same "$(at '$.error.code')" "-32602" "params that are not an object: -32602"
send '{"jsonrpc":"1.0","id":8,"method":"ping"}'
reply 8
same "$(at '$.error.code')" "-32600" "a wrong jsonrpc version: -32600"
send '{not json'
i=0
while ! grep -q '"code":-32700' "$WORK/mcp.out" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q '"id":null,"error":{"code":-32700' "$WORK/mcp.out" && ok "malformed JSON: -32700 with id null" ||
    not_ok "malformed JSON: -32700 with id null"
send '{"jsonrpc":"2.0","id":9,"method":"ping"}'
reply 9
same "$(at '$.result')" "{}" "the server goes on after bad messages"

send '{"jsonrpc":"2.0","id":10,"method":"logging/setLevel","params":{"level":"info"}}'
reply 10
send '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"test_tool_with_logging","arguments":{}}}'
reply 11
same "$(grep -c '"method":"notifications/message".*"level":"info"' "$WORK/mcp.out")" "3" \
    "ctx:log lines at the client's level reach it as notifications/message"
send '{"jsonrpc":"2.0","id":12,"method":"logging/setLevel","params":{"level":"loud"}}'
reply 12
same "$(at '$.error.code')" "-32602" "logging/setLevel refuses an unknown level"

send '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"skillhost_status","arguments":{"skill":"spam"}}}'
reply 13
same "$(at '$.result.structuredContent.serving')" "spam@v1" "skillhost_status: the skill's status"
send '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"skillhost_status","arguments":{"skill":"nothing_here"}}}'
reply 14
same "$(at '$.result.isError')" "1" "skillhost_status of an unknown skill: isError"

# Cancellation: the slow skill fails (network) and recovery.lua would retry it;
# cancelled during its first attempt, the request ends after that attempt.
send '{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"slow","arguments":{}}}'
sleep 0.2
send '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":15,"reason":"user gave up"}}'
send '{"jsonrpc":"2.0","id":16,"method":"ping"}'
reply 16
same "$(sql "SELECT count(*) FROM executions WHERE variant_id = 'slow@v1'")" "1" \
    "a cancelled request starts no further attempt"
grep -q '"id":15[,}]' "$WORK/mcp.out" && not_ok "no response to a cancelled request" ||
    ok "no response to a cancelled request"

# A promotion elsewhere changes the list: the client is told.
expect 0 "a new skill, registered by another process" \
    skill add spam_two --impl keyword_classifier.lua --state production -q
i=0
while ! grep -q 'notifications/tools/list_changed' "$WORK/mcp.out" && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
grep -q '"method":"notifications/tools/list_changed"' "$WORK/mcp.out" &&
    ok "notifications/tools/list_changed when the tools change" ||
    not_ok "notifications/tools/list_changed when the tools change"

exec 3>&-
wait $server
same "$?" "0" "end of input ends the server with status 0"
if grep -q . "$WORK/mcp.err"; then
    not_ok "nothing on stderr" "$(head -5 "$WORK/mcp.err")"
else
    ok "nothing on stderr"
fi
# stdout holds JSON-RPC messages only.
same "$(grep -vc '^{"jsonrpc":"2.0",' "$WORK/mcp.out")" "0" "stdout holds only JSON-RPC messages"

# Version negotiation: an unknown revision gets the newest one offered.
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"old","version":"0"}}}' |
    "$SKILLHOST" mcp >"$WORK/reply" 2>"$WORK/err"
same "$(at '$.result.protocolVersion')" "2025-11-25" "an unknown revision is answered with the newest served"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"older","version":"0"}}}' \
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"spam","arguments":{"text":"hello"}}}' |
    "$SKILLHOST" mcp >"$WORK/out" 2>"$WORK/err"
grep '"id":2' "$WORK/out" >"$WORK/reply"
same "$(at '$.result.structuredContent')" "" "2025-03-26: no structuredContent (it came in 2025-06-18)"

expect 2 "mcp: an unknown option" mcp --frobnicate
expect 2 "mcp: --token-file without --http" mcp --token-file /nonexistent
done_testing
