#!/bin/sh
# Issue 9 items 9 and 10: every text argument and every text read from a
# file is UTF-8 without NUL bytes, or refused with exit 2 naming the flag or
# file and the byte offset; never a false "out of memory".
. "$top_srcdir/tests/cli/lib.sh"

expect 0 "init" init
expect 0 "register" skill add spam --impl keyword_classifier.so --state production

bad=$(printf 'bad\377text')
expect 2 "an invalid --description is refused" skill add spam --impl keyword_classifier.so \
    --description "$bad"
err_has "--description: invalid UTF-8 at byte 3 (0xff)" "naming the flag and the byte offset"
expect 2 "--flag=VALUE: the offset is counted in the value" skill add spam \
    --impl keyword_classifier.so "--content=x$(printf '\300\200')"
err_has "--content: invalid UTF-8 at byte 1 (0xc0)" "an overlong NUL at byte 1"
expect 2 "an invalid --reason" rollback spam --reason "$bad"
err_has "--reason: invalid UTF-8" "names --reason"
expect 2 "an invalid --approver" approve spam@v1 --path 'prototype->staged' --approver "$bad" --ticket T
err_has "--approver: invalid UTF-8" "names --approver"
expect 2 "an invalid --ticket" approve spam@v1 --path 'prototype->staged' --approver ann --ticket "$bad"
err_has "--ticket: invalid UTF-8" "names --ticket"
expect 2 "an invalid --positive-class" skill set spam --positive-class "$bad"
err_has "--positive-class: invalid UTF-8" "names --positive-class"
expect 2 "an invalid --query" run spam --input '{"text": "hi"}' --query "$bad"
err_has "--query: invalid UTF-8" "names --query"
expect 2 "an invalid config value" config set react.max_iterations "$bad"
expect 2 "an invalid --input" run spam --input "{\"text\": \"$bad\"}"
err_has "--input: invalid UTF-8 at byte 13" "names --input and the offset"
same "$(sql 'SELECT COUNT(*) FROM skill_variations')" 1 "no variant was added"
same "$(sql 'SELECT COUNT(*) FROM executions')" 0 "nothing was recorded"

printf '{"text": "caf\303\251 \377"}' >"$WORK/in.json"
expect 2 "invalid UTF-8 in an --input file" run spam --input "@$WORK/in.json"
err_has "--input @$WORK/in.json: invalid UTF-8 at byte 16 (0xff)" "names the file and the offset"
printf 'x\376' >"$WORK/content.txt"
expect 2 "invalid UTF-8 in a --content file" skill add spam --impl keyword_classifier.so \
    --content "@$WORK/content.txt"
err_has "--content @$WORK/content.txt: invalid UTF-8 at byte 1" "names the content file"
printf '{"text": "spam"}' | "$SKILLHOST" run spam --input @- >/dev/null 2>&1 && ok "stdin input still works" ||
    not_ok "stdin input still works"
printf '{"text": "\377"}' | "$SKILLHOST" run spam --input @- >/dev/null 2>"$WORK/err"
same "$?" 2 "invalid UTF-8 on stdin is refused"
err_has "--input @-: invalid UTF-8 at byte 10" "naming stdin"

# Item 10: a NUL byte is refused, not silently cut; a folder says so.
printf '{"text": "ham"}\000{"text": "spam"}' >"$WORK/nul.json"
expect 2 "an --input file with a NUL byte is refused" run spam --input "@$WORK/nul.json"
err_has "a NUL byte at byte 15" "with the offset of the NUL"
expect 2 "--input @DIR is refused" run spam --input "@$WORK"
err_has "Is a directory" "saying it is a directory"
same "$(sql 'SELECT COUNT(*) FROM executions')" 1 "only the stdin request was recorded"

# Case files: checked whole before any case runs.
printf '{"input": {"text": "hi"}, "expected": "ham"}\n{"input": {"text": "\377"}, "expected": "ham"}\n' \
    >"$WORK/cases.jsonl"
expect 2 "a case file with invalid UTF-8 is refused" evaluate spam --cases "$WORK/cases.jsonl"
err_has "cases.jsonl: line 2: invalid UTF-8 at byte 65 (0xff)" "naming the file, line and offset"
same "$(sql 'SELECT COUNT(*) FROM executions')" 1 "and no case of it ran"
expect 2 "--cases DIR is refused" evaluate spam --cases "$WORK"
err_has "Is a directory" "saying it is a directory"

# Bad bytes another program wrote into the database never fail the whole listing.
sql "UPDATE skills SET description = CAST(x'61ff62' AS TEXT)"
expect 0 "skill list still works" skill list
expect 0 "skill show still works" skill show spam
out_has "$(printf 'a\357\277\275b')" "the bad byte is shown as U+FFFD"
expect 0 "--json skill list is valid JSON" --json skill list
if grep -qi "out of memory" "$WORK/err"; then not_ok "no false out of memory"; else ok "no false out of memory"; fi

done_testing
