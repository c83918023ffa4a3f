-- What a skill sees through ctx.
return {
    kind = "skill",
    name = "ctx_probe",
    version = "1",
    execute = function(input, ctx)
        if input.stale then
            return { stale = saved_ctx:step("late") }
        end
        saved_ctx = ctx
        ctx:step("one")
        ctx:step("two")
        ctx:log("debug", "a debug line")
        skh.log("info", "an info line")
        print("printed", 1, true, nil)
        local empty_ok = pcall(ctx.step, ctx, "")
        local long_ok, long_err = pcall(ctx.step, ctx, ("s"):rep(257))
        local level_ok, level_err = pcall(skh.log, "loud", "x")
        return {
            content = ctx.content,
            attempt = ctx.attempt,
            patterns = ctx.patterns,
            input_is_array = skh.json.is_array(input.list),
            empty_step = empty_ok,
            long_step = long_ok,
            long_step_err = long_err,
            bad_level = level_ok,
            bad_level_err = level_err,
            ctx_mt = getmetatable(ctx),
        }
    end,
}
