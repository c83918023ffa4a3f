-- A module in a sub-folder: require("util.strings").
local greet = require("greet")
return {
    shout = function(s)
        return string.upper(greet.hello(s)) .. "!"
    end,
}
