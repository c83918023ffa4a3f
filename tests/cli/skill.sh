#!/bin/sh
# skill add / list / show.
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "add the C classifier by file name" skill add spam --impl keyword_classifier.so
same "$(cat "$WORK/out")" "spam@v1" "first variant is spam@v1"
expect 0 "add the Lua classifier by file name" skill add spam --impl keyword_classifier.lua
same "$(cat "$WORK/out")" "spam@v2" "second variant is spam@v2"
same "$(sql "SELECT patterns FROM skill_variations WHERE variation_id='spam@v1'")" \
    '["read_input","tokenize","classify","decide"]' "default patterns come from the descriptor"
same "$(sql "SELECT patterns FROM skill_variations WHERE variation_id='spam@v2'")" \
    '["read_input","tokenize","classify","decide"]' "Lua descriptor patterns too"
expect 0 "--patterns overrides" skill add spam --impl keyword_classifier.so --patterns 'read_input, decide'
same "$(sql "SELECT patterns FROM skill_variations WHERE variation_id='spam@v3'")" \
    '["read_input","decide"]' "patterns stored as given"
case "$(sql "SELECT impl FROM skill_variations WHERE variation_id='spam@v1'")" in
/*keyword_classifier.so) ok "impl stored as an absolute path" ;;
*) not_ok "impl stored as an absolute path" ;;
esac
same "$(sql "SELECT length(impl_sha256) FROM skill_variations WHERE variation_id='spam@v1'")" 64 \
    "sha256 of the impl recorded"

echo '{"threshold": 1, "words": ["hello"]}' >"$WORK/content.json"
expect 0 "--content @FILE" skill add greet --impl keyword_classifier.so --content "@$WORK/content.json" --state production
same "$(sql "SELECT variation_content FROM skill_variations WHERE variation_id='greet@v1'")" \
    '{"threshold": 1, "words": ["hello"]}' "content read from the file"
same "$(sql "SELECT state FROM skill_variations WHERE variation_id='greet@v1'")" production "--state"

expect 0 "skill list" skill list
out_has "spam" "list shows spam"
out_has "greet@v1" "list shows the serving variant"
expect 0 "skill list --json" --json skill list
out_has '"skills"' "list --json"
expect 0 "skill show" skill show spam
out_has "spam@v3" "show lists every variant"
expect 0 "skill show --json" --json skill show spam
out_has '"variants"' "show --json"
expect 2 "show an unknown skill" skill show nope

expect 2 "missing plugin file" skill add spam --impl /nonexistent/x.so
err_has "/nonexistent/x.so" "missing file is named"
expect 2 "plugin name not on the path" skill add spam --impl nothere.so
err_has "SKILLHOST_PLUGIN_PATH" "the search path is mentioned"
expect 2 "invalid skill name" skill add 'Spam!' --impl keyword_classifier.so
expect 2 "invalid state" skill add spam --impl keyword_classifier.so --state gold
expect 2 "empty pattern" skill add spam --impl keyword_classifier.so --patterns 'a,,b'
expect 2 "--impl required" skill add spam
expect 3 "a broken plugin cannot be registered" skill add spam --impl "$TP/bad_abi.so"
err_has "ABI" "the ABI problem is reported"
same "$(sql "SELECT COUNT(*) FROM skill_variations WHERE skill_name='spam'")" 3 "nothing added by the failures"

done_testing
