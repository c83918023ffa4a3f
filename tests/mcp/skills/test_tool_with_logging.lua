-- Conformance scenario tools-call-with-logging: ctx:log lines reach the client
-- as notifications/message (at or above the level the client set).
return {
    kind = "skill", name = "test_tool_with_logging", version = "1.0.0",
    description = "Logs three lines while it runs (MCP conformance: tools-call-with-logging)",
    patterns = "start,process,finish",
    execute = function(input, ctx)
        ctx:step("start")
        ctx:log("info", "Tool execution started")
        ctx:step("process")
        ctx:log("info", "Tool processing data")
        ctx:step("finish")
        ctx:log("info", "Tool execution completed")
        return { content = { { type = "text", text = "Tool with logging executed successfully" } } }
    end,
}
