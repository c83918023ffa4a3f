#!/bin/sh
# Issue 9 item 8: no foreign file becomes a workspace.  Only `init` sets up
# an empty file; every other verb refuses a file that is not a skillhost
# database (exit 4, saying what the file is) and leaves it untouched.
. "$top_srcdir/tests/cli/lib.sh"

other="$WORK/other.db"
sqlite3 "$other" "CREATE TABLE photos (id INTEGER, path TEXT); INSERT INTO photos VALUES (1, 'a.jpg');"
cp "$other" "$WORK/other.orig"
for verb in "skill list" "status spam" "telemetry" "config list" "init"; do
    # shellcheck disable=SC2086
    expect 4 "$verb refuses another application's database" --db "$other" $verb
    err_has "not a skillhost database" "$verb: says it is not a workspace"
done
err_has "1 table: photos" "the message names what the file holds"
if cmp -s "$other" "$WORK/other.orig"; then ok "the file is unchanged"; else not_ok "the file is unchanged"; fi
same "$(sqlite3 "$other" 'PRAGMA journal_mode')" "delete" "not switched to WAL"
same "$(ls "$WORK" | grep -c 'other.db-')" 0 "no -wal, -shm or -journal beside it"

: >"$WORK/empty.db"
expect 4 "an empty file is not set up by skill list" --db "$WORK/empty.db" skill list
err_has "only \`skillhost init\`" "the message says init does it"
same "$(wc -c <"$WORK/empty.db" | tr -d ' ')" 0 "the empty file stays empty"
expect 0 "init sets up an empty file" --db "$WORK/empty.db" init
same "$(sqlite3 "$WORK/empty.db" 'PRAGMA application_id')" 1397442609 "init sets the application id (SKH1)"
expect 0 "then skill list opens it" --db "$WORK/empty.db" skill list

printf 'name,score\nann,3\n' >"$WORK/data.csv"
expect 4 "a text file is refused" --db "$WORK/data.csv" run spam --input '{}'
err_has "not an SQLite database" "and named as not SQLite"
same "$(cat "$WORK/data.csv")" "$(printf 'name,score\nann,3')" "the text file is unchanged"

expect 4 "/dev/null is refused" --db /dev/null skill list
err_has "character device" "as a device"
expect 4 "init on /dev/null is refused too" --db /dev/null init
if [ -e /dev/null-journal ]; then not_ok "no /dev/null-journal"; else ok "no /dev/null-journal"; fi
expect 4 "a folder is refused" --db "$WORK" skill list
err_has "directory" "as a directory"

expect 4 "--json: the same refusal" --json --db "$other" skill list
out_has '"code": -4' "as a JSON error with the store's code"

# A workspace written before the application id existed still opens and gets it.
expect 0 "init" init
expect 0 "register" skill add spam --impl keyword_classifier.so
sql "PRAGMA application_id = 0"
expect 0 "an older skillhost database opens" skill list
same "$(sql 'PRAGMA application_id')" 1397442609 "and gets the application id"

done_testing
