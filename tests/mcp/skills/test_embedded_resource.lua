-- Conformance scenario tools-call-embedded-resource.
return {
    kind = "skill", name = "test_embedded_resource", version = "1.0.0",
    description = "Returns an embedded text resource (MCP conformance: tools-call-embedded-resource)",
    patterns = "answer",
    execute = function(input, ctx)
        ctx:step("answer")
        return { content = { { type = "resource", resource = {
            uri = "test://embedded-resource", mimeType = "text/plain",
            text = "This is an embedded resource content." } } } }
    end,
}
