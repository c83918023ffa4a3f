-- A module for require() tests.
local name = ...
return {
    loaded_as = name,
    hello = function(who)
        return "hello " .. who
    end,
}
