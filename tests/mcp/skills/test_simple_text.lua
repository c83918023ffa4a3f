-- Conformance scenario tools-call-simple-text: a skill whose output is one text.
return {
    kind = "skill", name = "test_simple_text", version = "1.0.0",
    description = "Returns a simple text (MCP conformance: tools-call-simple-text)",
    patterns = "answer",
    input_schema = { type = "object", properties = {} },
    execute = function(input, ctx)
        ctx:step("answer")
        return { content = { { type = "text", text = "This is a simple text response for testing." } } }
    end,
}
