#!/bin/sh
# A third party builds a plugin with only `pkg-config --cflags skillhost`
# against the installed header, and the installed skillhost loads it.
. "$top_srcdir/tests/cli/lib.sh"

dest="$WORK/dest"
make -s -C "$top_builddir" install DESTDIR="$dest" >"$WORK/install.log" 2>&1
if [ $? -eq 0 ]; then ok "make install into a staging folder"; else not_ok "make install" "$(tail -5 "$WORK/install.log")"; fi

pc=$(find "$dest" -name skillhost.pc | head -1)
[ -n "$pc" ] && ok "skillhost.pc installed" || not_ok "skillhost.pc installed"
prefix=$(sed -n 's/^prefix=//p' "$pc")
for f in include/skillhost/plugin.h include/skillhost/host.h bin/skillhost; do
    [ -e "$dest$prefix/$f" ] && ok "installed $f" || not_ok "installed $f"
done
ls "$dest$prefix"/lib*/libskillhost.so* >/dev/null 2>&1 && ok "installed libskillhost" || not_ok "installed libskillhost"
ls "$dest$prefix"/lib*/skillhost/plugins/keyword_classifier.so >/dev/null 2>&1 &&
    ok "installed the C plugin" || not_ok "installed the C plugin"
ls "$dest$prefix"/lib*/skillhost/plugins/keyword_classifier.lua >/dev/null 2>&1 &&
    ok "installed the Lua plugin" || not_ok "installed the Lua plugin"

cflags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$dest$prefix" --cflags skillhost)
case "$cflags" in *"$dest"*) ok "pkg-config --cflags points into the install" ;; *) not_ok "pkg-config --cflags" "$cflags" ;; esac

cat >"$WORK/hello.c" <<'C'
#include <skillhost/plugin.h>

static int run(void *state, skh_call *call)
{
    (void)state;
    skh_step(call, "greet");
    skh_log(call, SKH_LOG_DEBUG, "attempt %u", skh_attempt(call));
    return skh_output(call, "{\"decision\":\"hello\",\"confidence\":1}");
}

SKH_PLUGIN(skill, "hello", "0.1.0", .execute = run, .description = "says hello",
           .patterns = "greet");
C
mkdir -p "$WORK/plug" && chmod 755 "$WORK/plug"
if ${CC:-cc} $cflags -Wall -Wextra -Werror -fPIC -shared -o "$WORK/plug/hello.so" "$WORK/hello.c" 2>"$WORK/cc.log"; then
    ok "an out-of-tree plugin compiles with pkg-config --cflags only"
else
    not_ok "out-of-tree plugin compiles" "$(cat "$WORK/cc.log")"
fi
chmod 755 "$WORK/plug/hello.so"
expect 0 "plugin check accepts it" plugin check "$WORK/plug/hello.so"
out_has "ok (skill hello 0.1.0)" "descriptor read"
expect 0 "init" init
expect 0 "register it" skill add hello --impl "$WORK/plug/hello.so" --state production
expect 0 "run it" run hello --input '{}'
out_has '"decision": "hello"' "its output"

# The embedding guide's program, built against the installed library only.
libs=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$dest$prefix" --libs skillhost)
# A sanitizer build installs an instrumented library; a program using it must be instrumented too.
san=""
if ldd "$(ls "$dest$prefix"/lib*/libskillhost.so | head -1)" 2>/dev/null | grep -q libasan; then
    san="-fsanitize=address,undefined"
fi
if ${CC:-cc} $cflags -Wall -Wextra -Werror $san -o "$WORK/embed" "$top_srcdir/docs/examples/embed.c" $libs 2>"$WORK/cc.log"; then
    ok "docs/examples/embed.c builds with pkg-config --cflags --libs"
else
    not_ok "docs/examples/embed.c builds" "$(cat "$WORK/cc.log")"
fi
libdir=$(dirname "$(ls "$dest$prefix"/lib*/libskillhost.so | head -1)")
LD_LIBRARY_PATH="$libdir" "$WORK/embed" "$WORK/embed.db" keyword_classifier.so "free money click now" >"$WORK/out" 2>"$WORK/err"
same "$?" 0 "the embedding example runs"
out_has "registered spam@v1" "it registers a variant"
out_has "recorded" "and records a run"
out_has '"decision":"spam"' "with the skill's output"

done_testing
