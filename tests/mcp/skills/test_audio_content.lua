-- Conformance scenario tools-call-audio: an audio content block (an empty WAV).
return {
    kind = "skill", name = "test_audio_content", version = "1.0.0",
    description = "Returns a tiny WAV (MCP conformance: tools-call-audio)",
    patterns = "answer",
    execute = function(input, ctx)
        ctx:step("answer")
        return { content = { { type = "audio", mimeType = "audio/wav",
            data = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=" } } }
    end,
}
