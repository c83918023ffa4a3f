#!/bin/sh
# skillhost demo runs on a throw-away database and tells the story.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "demo runs" demo
out_has "spam_filter@v1" "the C variant"
out_has "spam_filter@v2" "the Lua variant"
out_has "fidelity_metrics 6, outcome_metrics 6, performance_metrics 6" "rows recorded per variant"
if grep -q WRONG "$WORK/out"; then not_ok "every demo message decided correctly"; else ok "every demo message decided correctly"; fi
[ ! -e "$SKILLHOST_DB" ] && ok "the user's workspace is untouched" || not_ok "the user's workspace is untouched"
db=$(sed -n 's/.*throw-away database: //p' "$WORK/out")
[ -n "$db" ] && [ ! -e "$db" ] && ok "the throw-away database is removed" || not_ok "the throw-away database is removed" "$db"
expect 0 "demo --json" --json demo
out_has '"correct": 6' "json report"

done_testing
