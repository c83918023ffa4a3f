#!/bin/sh
# skillhost plugin check: the contract and trust checks, never a crash.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "the shipped C plugin passes" plugin check "$PLUGINS/keyword_classifier.so"
same "$(cat "$WORK/out")" "$PLUGINS/keyword_classifier.so: ok (skill keyword_classifier 1.0.0)" \
    "ok line names kind, name and version"
expect 0 "the shipped Lua plugin passes, found by name" plugin check keyword_classifier.lua
out_has "keyword_classifier.lua: ok (skill keyword_classifier 1.0.0)" "Lua ok line"

check_bad() {
    expect 3 "$1 is refused" plugin check "$TP/$1.so"
    out_has "$2" "$1: $2"
}
check_bad bad_abi "ABI version 7, host supports 1"
check_bad no_entry "skh_plugin_entry"
check_bad small_struct "16 bytes"
check_bad bad_name "name"
check_bad no_execute "execute"
check_bad bad_kind "kind"

expect 3 "one bad file among good ones fails the whole check" plugin check \
    "$PLUGINS/keyword_classifier.so" "$TP/bad_abi.so"
out_has "keyword_classifier.so: ok" "the good file is still reported ok"
expect 3 "a missing file fails the check" plugin check "$WORK/none.so"
out_has "none.so: " "and is named"
expect 3 "a missing file among others" plugin check "$WORK/none.so" "$PLUGINS/keyword_classifier.so"

mkdir -p "$WORK/p" && chmod 755 "$WORK/p"
cp "$PLUGINS/keyword_classifier.so" "$WORK/p/ww.so"
chmod 666 "$WORK/p/ww.so"
expect 3 "a world-writable plugin is refused" plugin check "$WORK/p/ww.so"
same "$(cat "$WORK/out")" "$WORK/p/ww.so: refused: writable by others (mode 0666); fix: chmod o-w $WORK/p/ww.so, or, in a throw-away sandbox only, skillhost config set plugins.check_trust 0" \
    "the reason says writable and names the fix, the file named once"
# A relative name resolves to an absolute path inside; the line names the file as given, once.
(cd "$WORK/p" && skh plugin check ./ww.so && echo "$status" >"$WORK/status")
same "$(cat "$WORK/status"):$(cat "$WORK/out")" "3:./ww.so: refused: writable by others (mode 0666); fix: chmod o-w $WORK/p/ww.so, or, in a throw-away sandbox only, skillhost config set plugins.check_trust 0" \
    "./FILE: the reason, the fix on the resolved file"
chmod 644 "$WORK/p/ww.so"
chmod 777 "$WORK/p"
expect 3 "a plugin in a world-writable folder is refused" plugin check "$WORK/p/ww.so"
chmod 755 "$WORK/p"
expect 0 "the same file in a safe folder passes" plugin check "$WORK/p/ww.so"

printf 'return {kind = "skill", name = "x", version = "1",\n  execute = function( end }\n' >"$WORK/syntax.lua"
expect 3 "a Lua syntax error is refused" plugin check "$WORK/syntax.lua"
case $(cat "$WORK/out") in
"$WORK/syntax.lua:2: "*) ok "with file:line, the file named once" ;;
*) not_ok "with file:line, the file named once" "$(cat "$WORK/out")" ;;
esac
(cd "$WORK" && skh plugin check ./syntax.lua)
case $(cat "$WORK/out") in
"./syntax.lua:2: "*) ok "./FILE:LINE as given" ;;
*) not_ok "./FILE:LINE as given" "$(cat "$WORK/out")" ;;
esac

printf 'not an elf' >"$WORK/junk.so"
expect 3 "a file that is not a shared object" plugin check "$WORK/junk.so"

expect 0 "--json" --json plugin check "$PLUGINS/keyword_classifier.so"
out_has '"ok": true' "json result"

done_testing
