-- Conformance scenario tools-call-image: MCP content blocks in the skill's output.
return {
    kind = "skill", name = "test_image_content", version = "1.0.0",
    description = "Returns a 1x1 PNG (MCP conformance: tools-call-image)",
    patterns = "answer",
    execute = function(input, ctx)
        ctx:step("answer")
        return { content = { { type = "image", mimeType = "image/png",
            data = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==" } } }
    end,
}
