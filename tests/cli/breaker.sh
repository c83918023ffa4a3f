#!/bin/sh
# The circuit breaker from the command line: five crashing requests open the
# production variant's breaker (rollout.lua's defaults: 5 failures, 30 s);
# requests then fall back to the previous production variant; after the
# cool-down (backdated here) one request probes: its failure re-opens the
# breaker, its success closes it.  Every change is a decision.
. "$top_srcdir/tests/cli/lib.sh"

CRASH='{"error_by_attempt":["crash"]}'

breaker() {
    sql "SELECT state || ' ' || failures FROM circuit_breakers WHERE variant_id = 'br@v2'"
}

# variant_of INPUT: run br once and print the variant that served it.
variant_of() {
    skh --json run br --no-react --input "$1"
    json_get variant
}

cool_down() { # as if the breaker had opened (or half-opened) 31 s ago
    sql "UPDATE circuit_breakers SET
           opened_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-31 seconds'),
           half_open_at = CASE WHEN half_open_at IS NULL THEN NULL
                          ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-31 seconds') END
         WHERE variant_id = 'br@v2'"
}

verdicts() {
    sql "SELECT group_concat(verdict, ',') FROM
           (SELECT verdict FROM decisions WHERE kind = 'breaker' ORDER BY decision_id)"
}

expect 0 "init" init
expect 0 "v1: production" skill add br --impl flaky.so --state production
expect 0 "v2: production (v1 is its fallback)" skill add br --impl flaky.so --state production

n=0
while [ "$n" -lt 4 ]; do
    n=$((n + 1))
    skh run br --no-react --input "$CRASH"
done
same "$status" 1 "a crashing request fails"
same "$(breaker)" "closed 4" "four crashes: still closed, four counted"
expect 1 "the fifth crash" run br --no-react --input "$CRASH"
err_has "circuit breaker of br@v2 open" "opens the breaker"
same "$(breaker)" "open 5" "open after 5"
same "$(sql "SELECT json_extract(thresholds, '$.failures') || ' ' || json_extract(thresholds, '$.cooldown_s') FROM decisions WHERE kind = 'breaker'")" \
    "5 30" "the decision keeps rollout.lua's thresholds"

same "$(variant_of '{}')" br@v1 "open: the request falls back to the previous production variant"
out_has '"fallback": {"from": "br@v2", "reason": "circuit breaker open"}' \
    "the result says which variant it fell back from"
same "$(sql "SELECT COUNT(*) FROM executions WHERE variant_id = 'br@v1' AND fallback_from = 'br@v2'")" \
    1 "recorded as a fallback"
same "$(variant_of '{}')" br@v1 "still open before the cool-down"

cool_down
same "$(variant_of "$CRASH")" br@v2 "after the cool-down one request probes the variant"
err_has "open again: the probe failed" "its failure re-opens the breaker"
same "$(variant_of '{}')" br@v1 "open again: falling back"

cool_down
same "$(variant_of '{}')" br@v2 "the next probe"
err_has "circuit breaker of br@v2 closed" "succeeds and closes it"
same "$(breaker)" "closed 0" "closed, the count forgotten"
same "$(variant_of '{}')" br@v2 "the variant serves again"
same "$(verdicts)" "open,half_open,reopen,half_open,close" "every change is in decisions"

done_testing
