# Shared by the CLI scenario tests: a throw-away workspace, a TAP reporter,
# and `skh`, which runs the freshly built skillhost (under valgrind when
# SKH_VALGRIND=1, where any leak or memory error fails the test).
set -u
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"

SKILLHOST="$top_builddir/skillhost"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/skh-cli.XXXXXX")
chmod 700 "$WORK"
trap 'rm -rf "$WORK"' EXIT
export SKILLHOST_DB="$WORK/ws/skillhost.db"
unset SKILLHOST_REACT_MODE SKILLHOST_REACT_MAX_ITER SKILLHOST_REACT_FIDELITY
FIX="$top_srcdir/tests/cli/fixtures"
TP="${SKILLHOST_TEST_PLUGINS:-$top_builddir/tests/plugins/.libs}"
PLUGINS="$top_builddir/plugins/.libs"

tap_n=0
tap_failed=0

ok() {
    tap_n=$((tap_n + 1))
    echo "ok $tap_n - $1"
}

not_ok() {
    tap_n=$((tap_n + 1))
    tap_failed=$((tap_failed + 1))
    echo "not ok $tap_n - $1"
    shift
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/# /'
    done
    if [ -f "$WORK/out" ]; then sed 's/^/# stdout: /' "$WORK/out" | head -20; fi
    if [ -f "$WORK/err" ]; then sed 's/^/# stderr: /' "$WORK/err" | head -20; fi
}

# Under valgrind everything runs ~50x slower: policies get room (lua.policy_timeout_ms).
if [ "${SKH_VALGRIND:-0}" = 1 ]; then
    export SKILLHOST_LUA_POLICY_TIMEOUT_MS="${SKILLHOST_LUA_POLICY_TIMEOUT_MS:-20000}"
fi

# skh ARGS...: run skillhost; stdout in $WORK/out, stderr in $WORK/err, status in $status.
skh() {
    if [ "${SKH_VALGRIND:-0}" = 1 ]; then
        valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
            "$SKILLHOST" "$@" >"$WORK/out" 2>"$WORK/err"
    else
        "$SKILLHOST" "$@" >"$WORK/out" 2>"$WORK/err"
    fi
    status=$?
}

# expect STATUS DESCRIPTION ARGS...: run skillhost and check its exit status.
expect() {
    want=$1
    desc=$2
    shift 2
    skh "$@"
    if [ "$status" = "$want" ]; then ok "$desc"; else not_ok "$desc" "exit $status, expected $want: skillhost $*"; fi
}

# out_has TEXT DESCRIPTION / err_has TEXT DESCRIPTION: the last run printed TEXT.
out_has() {
    if grep -qF -- "$1" "$WORK/out"; then ok "$2"; else not_ok "$2" "stdout lacks: $1"; fi
}
err_has() {
    if grep -qF -- "$1" "$WORK/err"; then ok "$2"; else not_ok "$2" "stderr lacks: $1"; fi
}

# same ACTUAL EXPECTED DESCRIPTION
same() {
    if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3" "got '$1', expected '$2'"; fi
}

sql() {
    sqlite3 -batch -noheader "$SKILLHOST_DB" "$1"
}

# json_get KEY: a top-level scalar of the JSON on stdout (good enough for tests).
json_get() {
    sed -n "s/.*\"$1\": *\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" "$WORK/out" | head -1 | tr -d '"'
}

# hold_lock SQL: another connection takes the database's write lock, runs SQL
# inside its transaction and keeps the lock until release_lock rolls it back.
hold_lock() {
    mkfifo "$WORK/lock.fifo"
    sqlite3 "$SKILLHOST_DB" <"$WORK/lock.fifo" >/dev/null 2>&1 &
    lock_holder=$!
    exec 3>"$WORK/lock.fifo"
    # The holder waits for the lock (.timeout): the probe below holds it for an
    # instant, and a holder without a busy timeout would then fail its BEGIN.
    echo ".timeout 10000" >&3
    echo "BEGIN IMMEDIATE; $1" >&3
    # Wait until the other connection really holds the write lock.
    lock_i=0
    while sqlite3 "$SKILLHOST_DB" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 &&
        [ $lock_i -lt 50 ]; do
        sleep 0.1
        lock_i=$((lock_i + 1))
    done
}
release_lock() {
    echo "ROLLBACK;" >&3
    exec 3>&-
    wait $lock_holder
    rm -f "$WORK/lock.fifo"
}

# json_at PATH: one value of the JSON on stdout, by an SQLite JSON path such
# as '$.a.b' (the order of keys a Lua policy returned is not fixed).
json_at() {
    sqlite3 -batch -noheader :memory: "SELECT json_extract(readfile('$WORK/out'), '$1')"
}

done_testing() {
    echo "1..$tap_n"
    exit 0
}
