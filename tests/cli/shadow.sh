#!/bin/sh
# Shadow policies (issue 15, item 3): a candidate rollback.lua in
# policies/shadow/ runs on exactly the facts the live one gets, after every
# request, is recorded and never acted on; `policy diff` summarises where the
# two disagreed; a broken shadow changes nothing live and is said once.
. "$top_srcdir/tests/cli/lib.sh"

POL="$WORK/policies"
mkdir -p "$POL/shadow"
cp "$top_srcdir"/policies/*.lua "$POL/"
chmod -R go-w "$POL"
export SKILLHOST_POLICIES="$POL" SKILLHOST_PLUGIN_PATH="$PLUGINS"
# The candidate: roll back under 0.95 mean fidelity instead of 0.85.
sed 's/^local MIN_FIDELITY = 0.85 /local MIN_FIDELITY = 0.95 /' "$POL/rollback.lua" >"$POL/shadow/rollback.lua"
same "$(grep -c '^local MIN_FIDELITY = 0.95 ' "$POL/shadow/rollback.lua")" 1 "the shadow differs in one threshold"

expect 0 "init" init
expect 0 "v1" skill add fl --impl flaky.so --state production
expect 0 "v2: fidelity 0.90, fine for the live rule, not for the shadow" \
    skill add fl --impl flaky.so --content '{"fidelity":0.9}' --state production

expect 0 "policy diff before any decision" policy diff rollback
out_has "0 decisions" "nothing yet"
out_has "$POL/shadow/rollback.lua" "names the shadow file"

n=0
while [ "$n" -lt 12 ]; do
    n=$((n + 1))
    skh run fl --no-react --input '{}'
done
same "$(sql "SELECT state FROM skill_variations WHERE variation_id = 'fl@v2'")" production \
    "the shadow's rollback was not acted on"
same "$(sql 'SELECT COUNT(*) FROM rollback_events')" 0 "no rollback event"
same "$(sql "SELECT COUNT(*) FROM shadow_decisions WHERE policy = 'rollback'")" 12 \
    "one shadow decision per request"
same "$(sql "SELECT live_verdict || '/' || shadow_verdict || ' ' || COUNT(*) FROM shadow_decisions WHERE agree = 0 GROUP BY live_verdict, shadow_verdict")" \
    "ok/rollback 3" "the full windows: live ok, shadow rollback"
same "$(sql "SELECT COUNT(*) FROM shadow_decisions WHERE facts IS NULL OR json_extract(facts, '\$.variant') <> 'fl@v2'")" 0 \
    "each keeps the facts it saw"

expect 0 "policy diff rollback" policy diff rollback
out_has "12 decisions, 9 agreed, 3 disagreed" "the summary line"
out_has "DISAGREE" "the disagreeing row is marked"
out_has "pattern fidelity 0.90 below 0.95" "the shadow's reason"
out_has "every check passed over 10 executions" "the live reason"

expect 0 "policy diff --json --examples 1" --json policy diff rollback --examples 1
same "$(json_at '$.disagreed') $(json_at '$.agreed') $(json_at '$.decisions')" "3 9 12" "counts in JSON"
same "$(json_at '$.examples[0].shadow_answer.action')" rollback "the example carries the shadow answer"
same "$(json_at '$.examples[1].shadow')" "" "--examples 1 gives one example"
same "$(json_at '$.examples[0].facts.window')" 10 "and the facts"

expect 0 "--since in the future: nothing" policy diff rollback --since 2999-01-01
out_has "0 decisions" "nothing since then"
expect 2 "a bad --since" policy diff rollback --since yesterday
err_has "--since" "names the option"
expect 2 "no policy name" policy diff
expect 2 "a bad policy name" policy diff 'Roll back'
expect 2 "a bad --examples" policy diff rollback --examples -1

# A broken shadow: requests go on exactly as before; the error is recorded and said once.
printf 'return {\n' >"$POL/shadow/rollback.lua"
expect 0 "a request with a broken shadow" run fl --no-react --input '{}'
err_has "shadow policy $POL/shadow/rollback.lua" "the broken shadow is said"
err_has "the live policy decided" "and that the live one decided"
same "$(sql "SELECT shadow_verdict FROM shadow_decisions ORDER BY shadow_id DESC LIMIT 1")" error \
    "the failure is recorded"
same "$(sql "SELECT shadow_error LIKE '%shadow/rollback.lua:%' FROM shadow_decisions ORDER BY shadow_id DESC LIMIT 1")" 1 \
    "with the file and line"
same "$(sql "SELECT state FROM skill_variations WHERE variation_id = 'fl@v2'")" production \
    "the live path is untouched"

# Without a shadow folder nothing is recorded.
rm -rf "$POL/shadow"
before=$(sql 'SELECT COUNT(*) FROM shadow_decisions')
expect 0 "a request without a shadow" run fl --no-react --input '{}'
same "$(sql 'SELECT COUNT(*) FROM shadow_decisions')" "$before" "no shadow, no row"

done_testing
