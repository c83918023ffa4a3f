#!/bin/sh
# skillhost mcp --http: Streamable HTTP with sessions and protocol-version
# headers, JSON and SSE answers, DNS-rebinding protection (Host and Origin),
# the bearer token, the body cap, JSON-RPC errors, several clients at once
# with exact counters, and list_changed on a GET stream.
. "$top_srcdir/tests/cli/lib.sh"

if ! command -v curl >/dev/null 2>&1; then
    ok "MCP over HTTP # SKIP curl not installed (scripts/bootstrap installs it)"
    done_testing
fi
SK="$top_srcdir/tests/mcp/skills"
expect 0 "init" init -q
expect 0 "a skill" skill add spam --impl keyword_classifier.lua --state production -q
expect 0 "a skill that fails" skill add test_error_handling --impl "$SK/test_error_handling.lua" \
    --state production -q

# serve ARGS...: start the server on a free port; $port and $server are set.
serve() {
    rm -f "$WORK/ready"
    mkfifo "$WORK/ready"
    "$SKILLHOST" mcp --http 127.0.0.1:0 --ready-fd 5 "$@" 5>"$WORK/ready" 2>"$WORK/srv.err" &
    server=$!
    port=$(head -1 "$WORK/ready")
    url="http://127.0.0.1:$port/mcp"
}
stop() {
    kill -TERM "$server"
    wait "$server"
    stopped=$?
}
# post BODY [CURL ARGS...]: POST to the endpoint; body in $WORK/reply, headers in $WORK/hdr, $code.
post() {
    body=$1
    shift
    code=$(curl -s -o "$WORK/reply" -D "$WORK/hdr" -w '%{http_code}' -X POST "$url" \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        "$@" --data-binary "$body")
}
at() { sqlite3 -batch -noheader :memory: "SELECT json_extract(readfile('$WORK/reply'), '$1')"; }
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl-agent","version":"8"}}}'

serve
same "$(echo "$port" | grep -c '^[0-9][0-9]*$')" "1" "--ready-fd reports the port"
post "$INIT"
same "$code" "200" "initialize: 200"
sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([0-9a-f]*\).*/\1/p' "$WORK/hdr")
same "${#sid}" "32" "initialize: an Mcp-Session-Id"
same "$(at '$.result.protocolVersion')" "2025-06-18" "initialize: the revision agreed"
H="Mcp-Session-Id: $sid"
post '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "$H" -H 'MCP-Protocol-Version: 2025-06-18'
same "$code" "202" "a notification: 202 Accepted"
post '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' -H "$H"
same "$code" "200" "tools/list: 200"
same "$(grep -i '^content-type' "$WORK/hdr" | tr -d '\r' | cut -d' ' -f2)" "application/json" \
    "tools/list answers with JSON"
same "$(at '$.result.tools[1].name')" "spam" "tools/list over HTTP"

# A tools/call answered on an SSE stream: progress, then the result.
post '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"spam","arguments":{"text":"win free money now"},"_meta":{"progressToken":5,"tenant":"t-http"}}}' -H "$H"
same "$(grep -i '^content-type' "$WORK/hdr" | tr -d '\r' | cut -d' ' -f2)" "text/event-stream" \
    "tools/call answers with an SSE stream"
grep -q '^data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":5' "$WORK/reply" &&
    ok "the stream carries progress" || not_ok "the stream carries progress"
grep '^data: .*"id":3' "$WORK/reply" | sed 's/^data: //' >"$WORK/r3"
cp "$WORK/r3" "$WORK/reply"
same "$(at '$.result.structuredContent.decision')" "spam" "... and ends with the result"
# A client that takes JSON only gets JSON.
code=$(curl -s -o "$WORK/reply" -w '%{http_code}' -X POST "$url" -H 'Content-Type: application/json' \
    -H 'Accept: application/json' -H "$H" \
    --data-binary '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"test_error_handling"}}')
same "$(at '$.result.isError')" "1" "a failing skill over HTTP: isError (JSON answer)"
same "$(sql "SELECT c.client_name || '/' || c.transport FROM executions e JOIN client_sessions c USING (session_id) WHERE e.tenant = 't-http'")" \
    "curl-agent/http" "the HTTP session and client are recorded"

# Session and header rules.
post '{"jsonrpc":"2.0","id":5,"method":"ping"}'
same "$code" "400" "no Mcp-Session-Id: 400"
post '{"jsonrpc":"2.0","id":5,"method":"ping"}' -H 'Mcp-Session-Id: 00000000000000000000000000000000'
same "$code" "404" "an unknown session: 404"
post '{"jsonrpc":"2.0","id":5,"method":"ping"}' -H "$H" -H 'MCP-Protocol-Version: 1999-01-01'
same "$code" "400" "an unsupported MCP-Protocol-Version: 400"
post '{"jsonrpc":"2.0","id":5,"method":"ping"' -H "$H"
same "$code/$(at '$.error.code')" "400/-32700" "malformed JSON: 400 and -32700"
post '[{"jsonrpc":"2.0","id":6,"method":"ping"},{"jsonrpc":"2.0","id":7,"method":"nope"}]' -H "$H"
same "$(at '$[0].result')/$(at '$[1].error.code')" "{}/-32601" "a batch is answered in one array"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url" -H 'Content-Type: text/plain' -H "$H" -d x)
same "$code" "415" "a body that is not JSON by Content-Type: 415"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$url" -H "$H" -d x)
same "$code" "405" "PUT: 405"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/other" -H "$H" -d x)
same "$code" "404" "another path: 404"

# DNS-rebinding protection.
post "$INIT" -H 'Origin: http://evil.example.com'
same "$code" "403" "a foreign Origin: 403"
post "$INIT" -H 'Host: evil.example.com'
same "$code" "403" "a foreign Host on a loopback server: 403"
post "$INIT" -H "Origin: http://localhost:$port"
same "$code" "200" "a loopback Origin is allowed"

# The body cap.
head -c 5000 /dev/zero | tr '\0' ' ' >"$WORK/big"
printf '{"jsonrpc":"2.0","id":9,"method":"ping"}' >>"$WORK/big"
stop
serve --max-body 4096
post "$INIT"
sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([0-9a-f]*\).*/\1/p' "$WORK/hdr")
H="Mcp-Session-Id: $sid"
post "@$WORK/big" -H "$H"
same "$code" "413" "a body over --max-body: 413"

# Several clients at once, one host per thread: counters stay exact.
before=$(sql "SELECT count(*) FROM executions")
for c in 1 2 3 4 5 6; do
    (
        for i in 1 2 3 4 5; do
            curl -s -o /dev/null -X POST "$url" -H 'Content-Type: application/json' \
                -H 'Accept: application/json' -H "$H" \
                --data-binary "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"spam\",\"arguments\":{\"text\":\"client $c call $i\"}}}"
        done
    ) &
done
wait_clients=0
for job in $(jobs -p); do
    [ "$job" = "$server" ] || wait "$job" || wait_clients=1
done
same "$(($(sql "SELECT count(*) FROM executions") - before))" "30" "6 clients x 5 calls at once: 30 executions"
same "$(sql "SELECT counter_value FROM telemetry_counters WHERE counter_name = 'total_executions'")" \
    "$(sql "SELECT count(*) FROM executions")" "total_executions counts every one of them"

# list_changed on the GET stream.
curl -s -N -H "$H" -H 'Accept: text/event-stream' "$url" >"$WORK/stream" &
reader=$!
sleep 1
expect 0 "a new skill while the stream is open" skill add later --impl keyword_classifier.lua -q
i=0
while ! grep -q 'tools/list_changed' "$WORK/stream" && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
grep -q '^data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}' "$WORK/stream" &&
    ok "GET stream: notifications/tools/list_changed" || not_ok "GET stream: notifications/tools/list_changed"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url" -H "$H")
same "$code" "200" "DELETE ends the session"
wait "$reader"
ok "the GET stream ends with its session"
post '{"jsonrpc":"2.0","id":10,"method":"ping"}' -H "$H"
same "$code" "404" "an ended session: 404"
stop
same "$stopped" "0" "SIGTERM stops the server cleanly"

# The bearer token.
printf 'sekret-token\n' >"$WORK/token"
chmod 600 "$WORK/token"
serve --token-file "$WORK/token"
post "$INIT"
same "$code" "401" "no token: 401"
grep -qi '^www-authenticate: Bearer' "$WORK/hdr" && ok "401 names the Bearer scheme" || not_ok "401 names the Bearer scheme"
post "$INIT" -H 'Authorization: Bearer wrong-token!'
same "$code" "401" "a wrong token: 401"
post "$INIT" -H 'Authorization: Bearer sekret-token'
same "$code" "200" "the right token: 200"
stop

chmod 644 "$WORK/token"
expect 2 "a token file others can read is refused" mcp --http 127.0.0.1:0 --token-file "$WORK/token"
err_has "chmod 600" "... saying what to do"
expect 2 "off loopback without a token: refused" mcp --http 0.0.0.0:0
err_has "bearer token" "... saying why"
expect 2 "--http without a port" mcp --http 127.0.0.1
done_testing
