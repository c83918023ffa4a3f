-- A policy: plain errors are SKH_ERR_POLICY, not CRASH.
return {
    kind = "policy",
    name = "test_policy",
    version = "0.1",
    decide = function(input)
        if input.fail then
            error("policy broke")
        end
        return { verdict = "go" }
    end,
    check = function()
        return { checked = true }
    end,
    threshold = 0.9,
}
