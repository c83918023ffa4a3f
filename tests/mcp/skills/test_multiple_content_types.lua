-- Conformance scenario tools-call-mixed-content: text, image and resource blocks.
return {
    kind = "skill", name = "test_multiple_content_types", version = "1.0.0",
    description = "Returns text, an image and a resource (MCP conformance: tools-call-mixed-content)",
    patterns = "answer",
    execute = function(input, ctx)
        ctx:step("answer")
        return { content = {
            { type = "text", text = "Multiple content types test:" },
            { type = "image", mimeType = "image/png", data = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==" },
            { type = "resource", resource = { uri = "test://mixed-content-resource",
                mimeType = "application/json", text = '{"test":"data","value":123}' } },
        } }
    end,
}
