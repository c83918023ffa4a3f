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

done_testing
