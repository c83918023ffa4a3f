#!/bin/sh
# The CLI contract: help, version, exit statuses, the error form, init.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "--help exits 0" --help
out_has "usage: skillhost" "--help prints usage"
expect 0 "--version exits 0" --version
out_has "plugin ABI 1" "--version names the plugin ABI"
expect 2 "no verb is a usage error" 
expect 2 "an unknown verb is a usage error" frobnicate
err_has "skillhost: frobnicate: unknown verb" "unknown verb error names it"

for verb in init skill run plugin demo; do
    expect 0 "$verb --help exits 0" "$verb" --help
    out_has "usage: skillhost" "$verb --help prints usage"
done
expect 0 "skill add --help" skill add --help
expect 0 "plugin check --help" plugin check --help

expect 4 "run without a workspace is a store error" run spam --input '{}'
err_has "skillhost: " "store error uses the skillhost: WHAT: WHY form"
err_has "skillhost init" "missing workspace tells the user to run init"

expect 0 "init creates the workspace" init
[ -f "$SKILLHOST_DB" ] && ok "database file exists" || not_ok "database file exists"
expect 0 "init is idempotent" init
same "$(sql 'PRAGMA journal_mode')" "wal" "database is in WAL mode"
same "$(sql 'PRAGMA user_version')" "7" "schema version is 7"

expect 0 "init --json" --json init
out_has '"ready": true' "init --json answers an object"

expect 2 "run needs --input" run spam
err_has "--input is required" "missing --input is named"
expect 2 "run rejects an unknown option" run spam --input '{}' --bogus
expect 2 "run with --json reports usage errors as JSON too" --json run spam
out_has '"error"' "JSON error object on stdout"
expect 2 "unknown skill is bad input" run nosuchskill --input '{}'
err_has "nosuchskill" "unknown skill is named"
expect 2 "bad skill name is bad input" run 'Bad Name' --input '{}'

# --json and -q after the verb, for every verb: the answer (or the error) is the
# JSON object, and no verb calls them unknown.  Most of these fail (no such skill):
# what matters is how.
for args in "init" "skill list" "skill show nosuch" "skill add nosuch --impl nosuch.so" \
    "skill set nosuch --positive-class spam" "run nosuch --input {}" \
    "plugin check $PLUGINS/flaky.so" "policy check" "ab start nosuch --treatment nosuch@v2" \
    "ab status nosuch" "ab stop nosuch" "evolve nosuch" "evaluate nosuch --cases $WORK/none" \
    "approve nosuch@v1 --path prototype->staged --approver a --ticket t" \
    "promote nosuch@v1 --to staged" "rollback nosuch --reason r" "status nosuch" \
    "registry export $WORK/registry.json" "telemetry" "config list" "config validate"; do
    # shellcheck disable=SC2086 # the words of $args are the arguments
    skh $args --json
    if grep -q -- "--json" "$WORK/err" || [ "$(head -c1 "$WORK/out")" != "{" ]; then
        not_ok "$args --json: global option after the verb" "exit $status"
    else
        ok "$args --json: global option after the verb"
    fi
    # shellcheck disable=SC2086
    skh $args -q
    if grep -q -- "'-q'" "$WORK/err"; then not_ok "$args -q: global option after the verb"; else
        ok "$args -q: global option after the verb"
    fi
done
expect 0 "skill --json list: before a subcommand too" skill --json list
out_has '"skills": [' "the JSON answer"
expect 0 "-q and --json after the verb, with --db before it" --db "$SKILLHOST_DB" telemetry -q --json
out_has '"total_executions"' "telemetry answers in JSON"

# The CLI uses only the embedding API (<skillhost/host.h>, DESIGN §10): no
# core/cli file includes a runtime header, and the objects the command is
# linked from call nothing of the runtime's but skh_* functions.  (skillhost
# links the runtime statically, so the linker cannot refuse internal calls.)
bad=""
for f in "$top_srcdir"/core/cli/*.c "$top_srcdir"/core/cli/*.h; do
    for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' "$f"); do
        case "$h" in
        config.h | cli.h | skillhost/host.h | skillhost/plugin.h) ;;
        # The MCP server is a front end over host.h too (checked below).
        mcp/mcp.h) ;;
        *) if [ -e "$top_srcdir/core/$h" ] || [ -e "$top_srcdir/core/cli/$h" ] ||
            [ -e "$top_srcdir/core/include/$h" ]; then bad="$bad $(basename "$f"):$h"; fi ;;
        esac
    done
done
same "$bad" "" "core/cli includes only cli.h and <skillhost/host.h> of the project's headers"
bad=""
for f in "$top_srcdir"/core/mcp/*.c "$top_srcdir"/core/mcp/*.h; do
    for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' "$f"); do
        case "$h" in
        config.h | mcp.h | skillhost/host.h | skillhost/plugin.h) ;;
        *) if [ -e "$top_srcdir/core/$h" ] || [ -e "$top_srcdir/core/include/$h" ]; then
            bad="$bad $(basename "$f"):$h"
        fi ;;
        esac
    done
done
same "$bad" "" "core/mcp (the MCP server) includes only <skillhost/host.h> of the runtime's headers"
objs=$(ls "$top_builddir"/core/cli/*.o 2>/dev/null)
if command -v nm >/dev/null 2>&1 && [ -n "$objs" ] && ls "$top_builddir"/.libs/libskillhost_core.a >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # one word per object
    nm -u $objs | awk 'NF >= 2 { print $NF }' | LC_ALL=C sort -u >"$WORK/cli.undef"
    nm -g --defined-only "$top_builddir"/.libs/lib*.a | awk 'NF == 3 { print $3 }' |
        LC_ALL=C sort -u >"$WORK/core.defs"
    same "$(LC_ALL=C comm -12 "$WORK/cli.undef" "$WORK/core.defs" | grep -v '^skh_' | tr '\n' ' ')" "" \
        "the CLI objects call only skh_* of the runtime's symbols"
else
    ok "the CLI objects call only skh_* of the runtime's symbols # SKIP no nm or no objects"
fi

done_testing
