-- Errors a skill can raise; test_lua.c checks the line numbers below.
local function fail_plain()
    error("boom")
end

local function fail_index()
    local t = nil
    return t.field
end

local modes = {
    plain = fail_plain,
    index = fail_index,
    network = function()
        error({ category = "network", message = "upstream timed out" })
    end,
    bogus = function()
        error({ category = "bogus", message = "what is this" })
    end,
    uncategorised = function()
        error({ message = "a table without a category" })
    end,
    number = function()
        error(42)
    end,
    no_position = function()
        error("no position here", 0)
    end,
    return_nil = function()
        return nil
    end,
    return_number = function()
        return 7
    end,
    return_string = function()
        return '{"from":"string"}'
    end,
    return_bad_string = function()
        return "not json"
    end,
    return_json_array_string = function()
        return "[1,2]"
    end,
    return_nan = function()
        return { x = 0 / 0 }
    end,
    return_function = function()
        return { f = print }
    end,
    return_bad_utf8 = function()
        return { s = "\xff\xfe" }
    end,
    return_array = function()
        return { 1, 2, 3 }
    end,
}

return {
    kind = "skill",
    name = "errors_probe",
    version = "1",
    execute = function(input)
        return modes[input.mode]()
    end,
}
