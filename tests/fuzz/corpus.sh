#!/bin/sh
# Replay every fuzz target's committed corpus (tests/fuzz/corpus/TARGET)
# once, built without libFuzzer (standalone.c): each input the fuzzer kept,
# and each crash it ever found, stays a regression test, under ASan/UBSan in
# the sanitizer build.  The fuzzing itself is scripts/fuzz.
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
n=0
for t in input cases policy exec config descriptor; do
    n=$((n + 1))
    prog="$top_builddir/tests/fuzz/fuzz_$t"
    log="$top_builddir/tests/fuzz/corpus_$t.log"
    if "$prog" "$top_srcdir/tests/fuzz/corpus/$t" >"$log" 2>&1; then
        echo "ok $n - fuzz_$t: $(tail -1 "$log")"
    else
        echo "not ok $n - fuzz_$t over tests/fuzz/corpus/$t"
        tail -20 "$log" | sed 's/^/# /'
    fi
done
echo "1..$n"
