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
same "$(sql 'PRAGMA user_version')" "2" "schema version is 2"

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

done_testing
