#!/bin/sh
# The request context (issue 12 item 1): session, phase, query, tenant and
# seed 004's alternatives, rank and follow-ups reach C, Lua and exec skills
# alike, and are recorded with the execution.
. "$top_srcdir/tests/cli/lib.sh"

cat >"$WORK/ctx_lua.lua" <<'LUA'
return {
  kind = "skill", name = "ctx_lua", version = "1.0.0", patterns = "answer",
  execute = function(input, ctx)
    ctx:step("answer")
    return { decision = "ok", session = ctx.session, phase = ctx.phase, query = ctx.query,
             tenant = ctx.tenant, rank = ctx.selection_rank,
             first_alternative = ctx.alternatives_considered and ctx.alternatives_considered[1],
             follow_ups = ctx.follow_up_actions and #ctx.follow_up_actions or 0 }
  end,
}
LUA
chmod 644 "$WORK/ctx_lua.lua"

expect 0 "init" init
expect 0 "C skill" skill add ctx_c --impl "$TP/context_skill.so" --state production
expect 0 "Lua skill" skill add ctx_lua --impl "$WORK/ctx_lua.lua" --state production
expect 0 "exec skill" skill add ctx_exec --impl "exec:$FIX/context_skill.sh" --state production

set -- --session s-1 --phase triage --query "is this spam" --tenant acme \
    --alternatives "spam_v0, regex ,," --rank 2 --follow-up "notify,archive"
expect 0 "C skill with a context" run ctx_c --input '{}' "$@" --json
same "$(json_at '$.output.context.phase')" triage "skh_context() has the phase"
same "$(json_at '$.output.context.session')|$(json_at '$.output.context.tenant')|$(json_at '$.output.context.query')" \
    "s-1|acme|is this spam" "and session, tenant, query"
same "$(json_at '$.output.context.alternatives_considered')" '["spam_v0","regex"]' \
    "alternatives as an array, blanks dropped"
same "$(json_at '$.output.context.selection_rank')|$(json_at '$.output.context.follow_up_actions[1]')" \
    "2|archive" "rank and follow-ups"

expect 0 "Lua skill with a context" run ctx_lua --input '{}' "$@" --json
same "$(json_at '$.output.phase')|$(json_at '$.output.session')|$(json_at '$.output.tenant')" \
    "triage|s-1|acme" "ctx.phase, ctx.session, ctx.tenant"
same "$(json_at '$.output.query')|$(json_at '$.output.rank')|$(json_at '$.output.first_alternative')|$(json_at '$.output.follow_ups')" \
    "is this spam|2|spam_v0|2" "ctx.query, ctx.selection_rank, ctx.alternatives_considered, ctx.follow_up_actions"

expect 0 "exec skill with a context" run ctx_exec --input '{}' "$@" --json
same "$(json_at '$.output.context.phase')|$(json_at '$.output.context.tenant')" "triage|acme" \
    "\$SKILLHOST_CONTEXT carries it"

expect 0 "no context" run ctx_c --input '{}' --json
same "$(json_at '$.output.context')" "{}" "skh_context() is {} without one"
expect 0 "Lua without a context" run ctx_lua --input '{}' --json
same "$(json_at '$.output.phase')" "" "ctx.phase is nil"
SKILLHOST_CONTEXT='{"phase":"forged"}' skh run ctx_exec --input '{}' --json
same "$(json_at '$.output.context')" "{}" "a caller's own \$SKILLHOST_CONTEXT is not passed on"

same "$(sql "SELECT alternatives_considered || '|' || selection_rank || '|' || follow_up_actions
    FROM executions WHERE skill_id = 'ctx_c' AND workflow_phase = 'triage'")" \
    '["spam_v0","regex"]|2|["notify","archive"]' "recorded with the execution"
same "$(sql "SELECT request_success FROM executions WHERE skill_id = 'ctx_c' AND workflow_phase = 'triage'")" \
    1 "the request's success is on its last attempt"
expect 2 "--rank must be a rank" run ctx_c --input '{}' --rank 0
err_has "--rank" "the flag is named"
done_testing
