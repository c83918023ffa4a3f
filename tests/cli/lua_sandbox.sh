#!/bin/sh
# Lua skills run sandboxed: runaway scripts become categorised failures, the
# host lives on and records them.
. "$top_srcdir/tests/cli/lib.sh"

lua_skill() { # NAME BODY: a Lua skill whose execute runs BODY
    cat >"$WORK/$1.lua" <<LUA
return {
  kind = "skill", name = "$1", version = "1.0.0", patterns = "start",
  execute = function(input, ctx)
    ctx:step("start")
    $2
    return { decision = "ok" }
  end,
}
LUA
    chmod 644 "$WORK/$1.lua"
}

expect 0 "init" init
lua_skill spin 'while true do end'
lua_skill spin_pcall 'while true do pcall(function() while true do end end) end'
lua_skill bomb 'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end'
lua_skill osexec 'os.execute("touch /tmp/skh-pwned")'
lua_skill ioopen 'io.open("/etc/passwd")'
lua_skill dbg 'debug.getinfo(1)'
lua_skill dump 'string.dump(function() end)'
lua_skill bytecode 'assert(load("\27LuaT\0"))()'
lua_skill fine 'local x = 1'

for s in spin spin_pcall bomb osexec ioopen dbg dump bytecode fine; do
    skh skill add "$s" --impl "$WORK/$s.lua" --state production
done

export SKILLHOST_LUA_INSTRUCTIONS=2000000
# A runaway script is a timeout, which recovery.lua retries; once is enough here.
export SKILLHOST_RECOVERY_MAX_RETRIES=0
expect 1 "an infinite loop is stopped" run spin --input '{}'
err_has "timeout" "as a timeout"
expect 1 "an infinite loop under pcall is stopped too" run spin_pcall --input '{}'
err_has "timeout" "also a timeout"
export SKILLHOST_LUA_MEMORY_MB=16
expect 1 "a memory bomb is stopped" run bomb --input '{}'
err_has "memory" "the error names memory"
expect 1 "os.execute is unavailable" run osexec --input '{}'
[ ! -e /tmp/skh-pwned ] && ok "nothing was executed" || not_ok "nothing was executed"
expect 1 "io is unavailable" run ioopen --input '{}'
expect 1 "debug is unavailable" run dbg --input '{}'
expect 1 "string.dump is unavailable" run dump --input '{}'
expect 1 "bytecode load is refused" run bytecode --input '{}'
expect 0 "a well-behaved skill still runs" run fine --input '{}'
same "$(sql "SELECT COUNT(*) FROM performance_metrics WHERE exception = 1")" 8 \
    "every stopped run is recorded as a failure"
same "$(sql "SELECT error_category FROM performance_metrics WHERE skill_id = 'spin'")" timeout \
    "with its category"

done_testing
