#!/bin/sh
# The official MCP conformance suite (server scenarios) against
# `skillhost mcp --http`, with the scenarios that call tools by fixed names
# served by the Lua skills of tests/mcp/skills: the host's own mapping of
# content, errors, progress and logging is what they test.  Needs the
# packages `scripts/bootstrap --with-mcp-tests` installs.
. "$top_srcdir/tests/cli/lib.sh"

MCPT="${SKILLHOST_MCP_TESTS:-$top_srcdir/.mcp-tests}"
if [ ! -x "$MCPT/node_modules/.bin/conformance" ] || [ ! -x "$MCPT/node_modules/.bin/node" ]; then
    ok "conformance suite # SKIP not installed in $MCPT: run scripts/bootstrap --with-mcp-tests"
    done_testing
fi
export PATH="$MCPT/node_modules/.bin:$PATH"

expect 0 "init" init -q
for f in "$top_srcdir"/tests/mcp/skills/*.lua; do
    n=$(basename "$f" .lua)
    expect 0 "skill $n" skill add "$n" --impl "$f" --state production -q
done

mkfifo "$WORK/ready"
"$SKILLHOST" mcp --http 127.0.0.1:0 --ready-fd 5 5>"$WORK/ready" 2>"$WORK/srv.err" &
server=$!
port=$(head -1 "$WORK/ready")
(cd "$WORK" && timeout 600 conformance server --url "http://localhost:$port/mcp" --suite all \
    --expected-failures "$top_srcdir/tests/mcp/conformance-skips.yaml" -o "$WORK/results" \
    >"$WORK/conformance.out" 2>&1)
rc=$?
kill -TERM "$server"
wait "$server"
same "$?" "0" "the server stops cleanly after the suite"

# One line per scenario: its checks, and whether it is one the baseline skips.
skips=$(sed -n 's/^  - //p' "$top_srcdir/tests/mcp/conformance-skips.yaml")
passed=0
for d in "$WORK"/results/*/; do
    name=$(basename "$d" | sed 's/^server-//; s/-20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T.*//')
    bad=$(sqlite3 -batch -noheader :memory: \
        "SELECT count(*) FROM json_each(readfile('$d/checks.json')) WHERE value->>'status' IN ('FAILURE', 'WARNING')")
    if echo "$skips" | grep -qx "$name"; then
        ok "conformance: $name # SKIP does not apply to a tools-only server (docs/mcp.md)"
    elif [ "$bad" = 0 ]; then
        ok "conformance: $name"
        passed=$((passed + 1))
    else
        not_ok "conformance: $name" "$(sqlite3 -batch -noheader :memory: \
            "SELECT value->>'id' || ': ' || coalesce(value->>'errorMessage', '') FROM json_each(readfile('$d/checks.json')) WHERE value->>'status' IN ('FAILURE', 'WARNING')")"
    fi
done
echo "# conformance: $passed scenarios passed"
if [ $rc = 0 ]; then ok "the suite's baseline check passes"; else
    not_ok "the suite's baseline check passes" "$(tail -20 "$WORK/conformance.out")"
fi
[ $passed -ge 15 ] && ok "at least the 15 applicable scenarios ran and passed" ||
    not_ok "at least the 15 applicable scenarios ran and passed" "only $passed"
done_testing
