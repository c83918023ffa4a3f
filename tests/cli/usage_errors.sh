#!/bin/sh
# Issue 9 item 15: the small refusals, each with its own check.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "register" skill add spam --impl keyword_classifier.so --state production

# --json usage errors carry the runtime errors' shape: code, message, category.
expect 2 "--json: a usage error" --json run spam
out_has '"code": -1' "has the code"
out_has '"message": "run: --input' "a message naming the verb"
out_has '"category": "none"' "and the category, as runtime errors"
expect 2 "--json: a runtime error" --json run nosuch --input '{}'
out_has '"category": "none"' "has the same keys"
expect 2 "--json: an unknown verb" --json frobnicate
out_has '"message": "frobnicate: unknown verb"' "is a JSON error too"

# Integer options take integers written as integers.
for bad in 0x5 5.0 ' 5' '+5' 5x inf; do
    expect 2 "--max-iter '$bad' is refused" run spam --input '{"text": "x"}' --max-iter "$bad"
    expect 2 "ab start --target '$bad' is refused" ab start spam --treatment spam@v1 --target "$bad"
    expect 2 "config set react.max_iterations '$bad' is refused" config set react.max_iterations "$bad"
done
expect 0 "--max-iter 2 is taken" run spam --input '{"text": "x"}' --max-iter 2
expect 0 "config set react.max_iterations 2 is taken" config set react.max_iterations 2
expect 2 "a real option refuses hex" config set react.fidelity_threshold 0x1
expect 0 "and takes 0.85" config set react.fidelity_threshold 0.85
SKILLHOST_REACT_MAX_ITER=0x5 "$SKILLHOST" run spam --input '{"text": "x"}' >/dev/null 2>"$WORK/err"
same "$?" 2 "SKILLHOST_REACT_MAX_ITER=0x5 is refused"

# SKILLHOST_LOG with an unknown level is refused like any other variable.
SKILLHOST_LOG=verbose "$SKILLHOST" skill list >/dev/null 2>"$WORK/err"
same "$?" 2 "SKILLHOST_LOG=verbose is refused"
err_has "SKILLHOST_LOG: expected one of debug, info, warn, error, trace, got 'verbose'" "saying what it takes"
SKILLHOST_LOG=DEBUG "$SKILLHOST" skill list >/dev/null 2>&1
same "$?" 0 "SKILLHOST_LOG=DEBUG is taken"

# --impl twice is refused, not the last one silently kept.
expect 2 "--impl given twice" skill add spam --impl keyword_classifier.so --impl other.so
err_has "--impl given twice" "says so"
same "$(sql 'SELECT COUNT(*) FROM skill_variations')" 1 "and adds nothing"

# A promotion policy error is printed once.
mkdir -p "$WORK/pol"
cp "$top_srcdir"/policies/*.lua "$WORK/pol/"
cat >"$WORK/pol/promotion.lua" <<'LUA'
return { kind = "policy", name = "promotion", version = "1",
  settings = function() error("settings broke") end,
  checklist = function() error("checklist broke") end,
  ready = function() error("ready broke") end }
LUA
expect 0 "a prototype" skill add spam --impl keyword_classifier.so
expect 3 "promote with a broken promotion.lua" --policies "$WORK/pol" promote spam@v2 --to staged
same "$(grep -c 'settings broke' "$WORK/err")" 1 "the policy error is printed once"
expect 3 "approve with a broken promotion.lua" --policies "$WORK/pol" approve spam@v2 \
    --path 'prototype->staged' --approver ann --ticket T-1
same "$(grep -c 'broke' "$WORK/err")" 1 "printed once there too"

# Terminal escapes in user text are shown escaped on a terminal, raw in a pipe.
esc=$(printf 'red \033[31mRED\033]0;title\007 end')
expect 0 "a description with escapes" skill add esc --impl keyword_classifier.so --description "$esc"
if command -v script >/dev/null; then
    script -qec "'$SKILLHOST' skill show esc" /dev/null >"$WORK/tty" 2>&1
    if grep -qF 'red \x1b[31mRED\x1b]0;title\x07 end' "$WORK/tty"; then ok "shown escaped on a terminal"; else
        not_ok "shown escaped on a terminal" "$(cat -v "$WORK/tty" | head -5)"
    fi
    if grep -q "$(printf '\033')" "$WORK/tty"; then not_ok "no raw ESC reaches the terminal"; else
        ok "no raw ESC reaches the terminal"
    fi
else
    ok "# SKIP script(1) missing"
fi
expect 0 "in a pipe" skill show esc
out_has "$esc" "the bytes are unchanged"

done_testing
