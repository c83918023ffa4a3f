#!/bin/sh
# The command line's affordances (issue 13, item 5): help [VERB], VERB --help
# listing every option of the verb's table and the exit statuses, "did you
# mean", global options after the verb, -V and version.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "help" help
out_has "usage: skillhost" "help prints the verb list"
out_has "  status NAME" "with every verb"
expect 0 "help evaluate" help evaluate
out_has "usage: skillhost [GLOBAL OPTIONS] evaluate NAME" "help VERB is the verb's --help"
out_has "--jobs N" "every option of the verb's table is listed, with its value's name"
out_has "--cases FILE.jsonl" "the value names come from the help text"
out_has "exit status: 0 done, 1 refused or failed, 2 usage or bad input" "and the exit statuses"
out_has "--db PATH" "and the global options"
expect 0 "help approve" help approve
out_has "--check ITEM=yes|no[:EVIDENCE]" "an option's value with brackets"
expect 0 "help skill add" help skill add
out_has "skill add NAME --impl" "help VERB SUBCOMMAND"
expect 2 "help of an unknown verb" help statsu
err_has "did you mean 'status'?" "suggests the verb"

# Every verb's --help lists every long option its table has: the table is the
# source, so a new option shows up without touching the help text.
for verb in run evaluate approve promote status evolve rollback; do
    expect 0 "$verb --help" "$verb" --help
    out_has "options:" "$verb --help lists its options"
    out_has "exit status:" "$verb --help lists the exit statuses"
done

expect 2 "a mistyped verb" statsu spam
err_has "skillhost: statsu: unknown verb; did you mean 'status'?" "did you mean, for a verb"
expect 2 "a prefix of a verb" evalu
err_has "did you mean 'evaluate'?" "a prefix is a near miss"
expect 2 "a word far from every verb" frobnicate
if grep -q "did you mean" "$WORK/err"; then not_ok "no wild guesses"; else ok "no wild guesses"; fi
expect 2 "a mistyped option" evaluate spam --cases x --varient spam@v1
err_has "unknown option '--varient'; did you mean '--variant'?" "did you mean, for an option"
expect 2 "a mistyped option of run" run spam --input '{}' --treshold 0.5
err_has "did you mean '--threshold'?" "did you mean '--threshold'"
expect 2 "an option far from every option" run spam --input '{}' --bogus
if grep -q "did you mean" "$WORK/err"; then not_ok "no wild guesses for options"; else
    ok "no wild guesses for options"
fi

expect 0 "-V" -V
out_has "skillhost 0.1.0 (plugin ABI 1)" "-V prints the version"
expect 0 "version" version
out_has "skillhost 0.1.0 (plugin ABI 1)" "version prints the version"
expect 0 "version --json" version --json
out_has '"plugin_abi": 1' "version --json"
expect 2 "version takes no argument" version x

# Global options after the verb.
unset SKILLHOST_DB
cd "$WORK" || exit 1
expect 0 "init --db after the verb" init --db "$WORK/late.db"
[ -f "$WORK/late.db" ] && ok "--db after the verb is used" || not_ok "--db after the verb is used"
expect 0 "skill add ... --db=PATH" skill add spam --impl "$PLUGINS/keyword_classifier.so" --db="$WORK/late.db"
expect 2 "status NAME --db PATH" status nosuch --db "$WORK/late.db"
err_has "nosuch: no such skill" "reaches the database given after the verb"
expect 0 "--policies after the verb" policy check --policies "$top_srcdir/policies"
out_has "ab.lua: ok" "checks the folder given after the verb"

done_testing
