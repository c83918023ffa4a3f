-- Conformance scenario json-schema-2020-12: a declared input schema is listed as it is.
return {
    kind = "skill", name = "json_schema_2020_12_tool", version = "1.0.0",
    description = "Tool with JSON Schema 2020-12 features",
    patterns = "answer",
    input_schema = {
        ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
        type = "object",
        ["$defs"] = { address = { type = "object", properties = {
            street = { type = "string" }, city = { type = "string" } } } },
        properties = { name = { type = "string" }, address = { ["$ref"] = "#/$defs/address" } },
        additionalProperties = false,
    },
    execute = function(input, ctx)
        ctx:step("answer")
        return { received = input }
    end,
}
