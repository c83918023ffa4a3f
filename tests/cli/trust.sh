#!/bin/sh
# Trust before execution (issue 9): a changed plugin never runs, not even its
# constructor; every refusal says what changed and how to accept it.
. "$top_srcdir/tests/cli/lib.sh"

P="$WORK/p"
mkdir -p "$P" && chmod 755 "$P"
export SKH_MARKER="$WORK/marker"
ran() { if [ -e "$SKH_MARKER" ]; then echo ran; else echo "not run"; fi; }

expect 0 "init" init

# ---- a .so changed after registration: refused before dlopen ---------------
cp "$TP/marker.so" "$P/marker.so"
chmod 644 "$P/marker.so"
expect 0 "register the marker plugin" skill add mk --impl "$P/marker.so" --state production
rm -f "$SKH_MARKER"
expect 0 "the registered bytes run" run mk --input '{}'
same "$(ran)" "ran" "its constructor ran (the marker works)"
rm -f "$SKH_MARKER"
printf 'x' >>"$P/marker.so"
expect 3 "a .so changed in place is refused" run mk --input '{}'
err_has "changed since it was registered as mk@v1" "the refusal names the variant"
err_has "refused before any of it was loaded or run" "and says nothing ran"
same "$(ran)" "not run" "the changed plugin's constructor never ran"

# Swapped by rename: another valid plugin in its place.
cp "$TP/good_skill.so" "$P/other.so"
cp "$TP/marker.so" "$P/marker.so.new"
printf 'y' >>"$P/marker.so.new"
mv "$P/marker.so.new" "$P/marker.so"
rm -f "$SKH_MARKER"
expect 3 "a .so swapped by rename is refused" run mk --input '{}'
same "$(ran)" "not run" "the swapped plugin's constructor never ran"
same "$(sql 'SELECT COUNT(*) FROM executions')" 1 "nothing recorded for the refused runs"

# ---- a Lua file changed after registration: refused before it is compiled ----
cat >"$P/ok.lua" <<'LUA'
return {kind = "skill", name = "ok", version = "1",
        execute = function(input, ctx) ctx:step("a"); return {decision = "ok"} end}
LUA
chmod 644 "$P/ok.lua"
expect 0 "register a Lua skill" skill add luaok --impl "$P/ok.lua" --state production
expect 0 "it runs" run luaok --input '{}'
cat >"$P/ok.lua" <<'LUA'
error("the changed chunk ran")
LUA
expect 3 "a changed Lua file is refused" run luaok --input '{}'
err_has "changed since it was registered as luaok@v1" "the refusal names the variant"
if grep -q "the changed chunk ran" "$WORK/err"; then
    not_ok "the changed chunk was never run"
else
    ok "the changed chunk was never run"
fi

# ---- output caps for in-process skills (plugins.output_max_bytes) -----------
cat >"$P/big.lua" <<'LUA'
return {kind = "skill", name = "big", version = "1",
        execute = function(input, ctx)
          ctx:step("a")
          if input.as_text then
            return '{"text": "' .. string.rep("b", input.n) .. '"}'
          end
          return {text = string.rep("a", input.n)}
        end}
LUA
chmod 644 "$P/big.lua"
expect 0 "register a Lua skill with a big answer" skill add big --impl "$P/big.lua" --state production
expect 0 "a small answer passes" run big --no-react --input '{"n": 10}'
# Default cap 16 MiB: 17 MiB is refused as the skill's crash and not recorded.
expect 1 "a Lua table over 16 MiB is refused" --json run big --no-react --input '{"n": 17825792}'
out_has '"category": "crash"' "as a crash"
err_has "larger than the limit of 16777216 bytes (plugins.output_max_bytes)" "the message names the limit and its key"
same "$(sql "SELECT error_category, COALESCE(LENGTH(output), 0) < 1000 FROM executions WHERE variant_id='big@v1' ORDER BY timestamp DESC LIMIT 1")" \
    "crash|1" "recorded as a crash without the output"
expect 1 "JSON text over the cap is refused too" run big --no-react --input '{"n": 17825792, "as_text": true}'
err_has "plugins.output_max_bytes" "with the same message"
export SKILLHOST_OUTPUT_MAX=100
expect 1 "the cap comes from the config (env)" run big --no-react --input '{"n": 200}'
unset SKILLHOST_OUTPUT_MAX
err_has "larger than the limit of 100 bytes" "a 100-byte cap"
expect 0 "set the cap in the workspace" config set plugins.output_max_bytes 20
expect 0 "register a C skill" skill add csk --impl "$TP/good_skill.so" --state production
expect 1 "a .so answer over the cap is refused before it is copied" --json run csk --no-react --input '{}'
out_has '"category": "crash"' "as a crash"
out_has 'output of more than 20 bytes is larger than the limit of 20 bytes' "the message says so"
expect 0 "back to the default" config set plugins.output_max_bytes 16777216
expect 0 "the C skill answers again" run csk --no-react --input '{}'

# ---- exec skills: the direct child's exit ends the call; nothing outlives it ----
export LEFT_PIDS="$WORK/left"
# gone PID: the process is gone (or a zombie) within 3 s.
gone() {
    i=0
    while [ $i -lt 60 ]; do
        st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
        if [ -z "$st" ] || [ "$st" = Z ]; then echo gone; return; fi
        sleep 0.05
        i=$((i + 1))
    done
    echo "alive"
}
all_gone() {
    for pid in $(cat "$LEFT_PIDS"); do
        if [ "$(gone "$pid")" != gone ]; then echo "$pid alive"; kill -9 "$pid"; return; fi
    done
    echo "all gone"
}
export SKILLHOST_EXEC_TIMEOUT_MS=8000
expect 0 "register a program that leaves a child holding stdout" \
    skill add leaver --impl "exec:$FIX/leaves_child.sh" --state production
: >"$LEFT_PIDS"
t0=$(date +%s)
expect 0 "valid output and exit 0 is a success, not a timeout" --json run leaver --no-react --input '{}'
t1=$(date +%s)
out_has '"decision": "ok"' "the output is the program's"
same "$([ $((t1 - t0)) -lt 5 ] && echo fast || echo slow)" fast "the call ends at the program's exit, not at the deadline"
same "$(all_gone)" "all gone" "the background child in its group was killed with the call"

expect 0 "register a program whose child escapes with setsid" \
    skill add escaper --impl "exec:$FIX/leaves_child.sh setsid" --state production
: >"$LEFT_PIDS"
expect 0 "it succeeds too" run escaper --no-react --input '{}'
same "$(wc -l <"$LEFT_PIDS" | tr -d ' ')" 2 "two children were left behind"
same "$(all_gone)" "all gone" "the setsid escapee was adopted and killed as well"

# A host killed with SIGKILL takes its running program with it (PR_SET_PDEATHSIG).
expect 0 "register a program that waits" skill add waiter --impl "exec:$FIX/waits.sh" --state production
: >"$LEFT_PIDS"
"$SKILLHOST" run waiter --no-react --input '{}' >/dev/null 2>&1 &
host=$!
i=0
while [ ! -s "$LEFT_PIDS" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $host
wait $host 2>/dev/null
same "$(all_gone)" "all gone" "the program died with the host"
unset SKILLHOST_EXEC_TIMEOUT_MS

done_testing
