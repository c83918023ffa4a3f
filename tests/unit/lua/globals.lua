-- Loaded twice by test_lua.c: each copy must see only its own globals.
counter = 0
skh.log("debug", "globals probe loading")
print("globals probe", "loading")

return {
    kind = "skill",
    name = "globals_probe",
    version = "1",
    patterns = { "count", "report" },
    execute = function(input)
        counter = counter + 1
        if input.set then
            shared_value = input.set
            string.upper = nil
        end
        return { counter = counter, seen = shared_value or skh.null, upper = type(string.upper) }
    end,
}
