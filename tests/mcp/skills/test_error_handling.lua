-- Conformance scenario tools-call-error: a skill that fails answers isError: true
-- with its category, never a JSON-RPC error.
return {
    kind = "skill", name = "test_error_handling", version = "1.0.0",
    description = "Always fails (MCP conformance: tools-call-error)",
    patterns = "fail",
    execute = function(input, ctx)
        ctx:step("fail")
        error({ category = "validation", message = "This tool intentionally returns an error for testing" })
    end,
}
