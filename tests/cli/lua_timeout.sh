#!/bin/sh
# Wall-clock bounds for Lua (DESIGN §3.4): skills end at the request's
# deadline and policies at lua.policy_timeout_ms, whatever the script does,
# pattern functions included; a policy that runs out of time fails safe.
. "$top_srcdir/tests/cli/lib.sh"

export SKILLHOST_RECOVERY_MAX_RETRIES=0
# The instruction budget is a second bound; off here, so the clock alone must stop them.
export SKILLHOST_LUA_INSTRUCTIONS=0
expect 0 "init" init

skill() {
    cat >"$WORK/$1.lua" <<LUA
return { kind = "skill", name = "$1", version = "1",
  execute = function(input, ctx)
    ctx:step("start")
    $2
    return { decision = "ham" }
  end }
LUA
    chmod 644 "$WORK/$1.lua"
    expect 0 "register $1" skill add "$1" --impl "$WORK/$1.lua" --state production
}

# How long a bounded run may take, start-up included (valgrind's is seconds).
bound=5000
[ "${SKH_VALGRIND:-0}" = 1 ] && bound=60000

# elapsed CMD...: run skillhost, leaving the milliseconds it took in $took.
elapsed() {
    t0=$(date +%s%N)
    skh "$@"
    took=$((($(date +%s%N) - t0) / 1000000))
}

skill spin 'while true do end'
skill backtrack 'local r = ("a"):rep(250):find(".-.-.-.-b")'
skill spin_pcall 'for i = 1, 100 do pcall(string.find, ("a"):rep(250), ".-.-.-.-b") end while true do end'
for s in spin backtrack spin_pcall; do
    elapsed --json run "$s" --input '{}' --timeout 1 --no-react
    same "$status" 1 "$s: the request fails"
    same "$(json_at '$.error.category')" timeout "$s: as a timeout"
    err_has "time limit of" "$s: the message names the time limit"
    if [ "$took" -lt "$bound" ]; then ok "$s: within the deadline (${took} ms)"; else not_ok "$s: took ${took} ms"; fi
    same "$(sql "SELECT error_category FROM performance_metrics WHERE variant_id = '$s@v1'")" \
        timeout "$s: recorded as a timeout"
done

# A policy: the same line in rollback.lua used to make every run hang.
cp -R "$SKILLHOST_POLICIES" "$WORK/policies"
chmod -R go-w "$WORK/policies"
sed -i '1i local slow = ("a"):rep(250):find(".-.-.-.-b")' "$WORK/policies/rollback.lua"
export SKILLHOST_POLICIES="$WORK/policies"
export SKILLHOST_LUA_POLICY_TIMEOUT_MS=500 # the default, whatever lib.sh set
expect 0 "register a C skill" skill add spam --impl keyword_classifier.so --state production
elapsed run spam --input '{"text": "free money"}'
same "$status" 0 "the request still succeeds"
if [ "$took" -lt "$bound" ]; then ok "and ends (${took} ms)"; else not_ok "took ${took} ms"; fi
err_has "time limit of 500 ms" "the policy's time limit is reported"
same "$(grep -c 'time limit' "$WORK/err")" 1 "once"
same "$(sql "SELECT COUNT(*) FROM decisions WHERE kind = 'rollback' AND verdict = 'error'")" 1 \
    "and recorded as the policy's error"
unset SKILLHOST_LUA_POLICY_TIMEOUT_MS
expect 0 "lua.policy_timeout_ms" config set lua.policy_timeout_ms 100
expect 0 "a second run" run spam --input '{"text": "free money"}'
err_has "time limit of 100 ms" "takes the configured limit"
expect 2 "lua.policy_timeout_ms must be positive" config set lua.policy_timeout_ms 0

done_testing
