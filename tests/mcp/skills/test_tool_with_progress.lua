-- Conformance scenario tools-call-with-progress: the attempt and each
-- breadcrumb reach a client that sent a progressToken as notifications/progress.
return {
    kind = "skill", name = "test_tool_with_progress", version = "1.0.0",
    description = "Reports progress as it goes (MCP conformance: tools-call-with-progress)",
    patterns = "begin,half,done",
    execute = function(input, ctx)
        ctx:step("begin")
        ctx:step("half")
        ctx:step("done")
        return { content = { { type = "text", text = "Tool with progress executed successfully" } } }
    end,
}
