#!/bin/sh
# The doc test in the suite: scripts/doctest over README.md and docs/*.md,
# as TAP, one case per file.  A file listed in tests/doctest-pending (with
# why) is reported as a TODO until its walkthrough runs as pasted; every other
# file -- a new doc included -- must pass.
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
pending="$top_srcdir/tests/doctest-pending"
n=0
failed=0
out=$(mktemp "${TMPDIR:-/tmp}/skh-doctest-out.XXXXXX")
trap 'rm -f "$out"' EXIT
# What the doc test said about one file, as TAP comments.
show() {
    awk -v f="doctest: $1:" 'index($0, f) == 1 { p = 1; print; next } /^doctest: / { p = 0 } p' \
        "$out" | sed 's/^/# /'
}

"$top_srcdir/scripts/doctest" >"$out" 2>&1
for md in "$top_srcdir/README.md" "$top_srcdir"/docs/*.md; do
    rel=${md#"$top_srcdir"/}
    n=$((n + 1))
    why=$(sed -n "s|^$rel: ||p" "$pending" 2>/dev/null)
    if grep -qxF "doctest: $rel: ok" "$out"; then
        if [ -n "$why" ]; then
            echo "ok $n - $rel runs as pasted # TODO now passes: take it off tests/doctest-pending"
        else
            echo "ok $n - $rel runs as pasted"
        fi
    elif [ -n "$why" ]; then
        echo "not ok $n - $rel runs as pasted # TODO $why"
        show "$rel" | head -8
    else
        failed=$((failed + 1))
        echo "not ok $n - $rel runs as pasted"
        show "$rel"
    fi
done

# The doc test itself: a broken block, a changed output, an "# exit N" and a
# file block, in a doc of our own.
doc=$(mktemp -d "${TMPDIR:-/tmp}/skh-doctest-self.XXXXXX")
trap 'rm -f "$out"; rm -rf "$doc"' EXIT
cat >"$doc/t.md" <<'MD'
# t

<!-- doctest: file hello.txt -->
```text
hello
```

```sh
cat hello.txt
skillhost promote nosuch@v1 --to staged 2>/dev/null   # exit 4
```
```
hello
```

<!-- doctest: illustrative -->
```sh
false
```

```console
$ echo "id 01a2083e-02db-70f6-ad4d-bb0250c6e66a took 0.25 ms"
id 01a2083e-02db-70f6-ad4d-bb0250c6e66a took 0.31 ms
$ printf 'a\nb\nc\n'
a
...
c
```
MD
check() {
    n=$((n + 1))
    if grep -qF -- "$2" "$out"; then echo "ok $n - $1"; else
        echo "not ok $n - $1"
        sed 's/^/# /' "$out"
        failed=$((failed + 1))
    fi
}
"$top_srcdir/scripts/doctest" "$doc/t.md" >"$out" 2>&1
check "a doc that runs: file blocks, # exit N, output blocks, console, illustrative" "doctest: $doc/t.md: ok"
sed 's/^hello$/bye/' "$doc/t.md" >"$doc/u.md"
sed -i '0,/^bye$/s//hello/' "$doc/u.md"
"$top_srcdir/scripts/doctest" "$doc/u.md" >"$out" 2>&1
check "a changed output is named with its line" "doctest: $doc/u.md:9: block 002: the output no longer matches"
sed 's/# exit 4/# exit 1/' "$doc/t.md" >"$doc/v.md"
"$top_srcdir/scripts/doctest" "$doc/v.md" >"$out" 2>&1
check "a wrong exit status is named with its line" "doctest: $doc/v.md:10: block 002: exit 4 where the doc says # exit 1"
sed 's/^cat hello.txt$/cat nosuch.txt/' "$doc/t.md" >"$doc/w.md"
"$top_srcdir/scripts/doctest" "$doc/w.md" >"$out" 2>&1
check "a failing command is named with its line" "doctest: $doc/w.md:9: block 002: exit 1: cat nosuch.txt"
echo "1..$n"
