-- Probes of the sandbox: input.probe names one; test_lua.c checks the results.
local probes = {}

function probes.ok()
    return { ok = true }
end

function probes.globals()
    return {
        os_execute = type(os.execute),
        os_getenv = type(os.getenv),
        os_exit = type(os.exit),
        os_remove = type(os.remove),
        os_time = type(os.time),
        os_clock = type(os.clock),
        os_date = type(os.date),
        io = type(io),
        debug = type(debug),
        package = type(package),
        loadfile = type(loadfile),
        dofile = type(dofile),
        collectgarbage = type(collectgarbage),
        string_dump = type(string.dump),
        require = type(require),
        load = type(load),
        print = type(print),
        coroutine = type(coroutine),
        utf8 = type(utf8),
        null = type(skh.null),
    }
end

-- Each of these must fail: the function is not there.
function probes.os_execute()
    os.execute("true")
end
function probes.io_open()
    io.open("/etc/passwd")
end
function probes.debug()
    debug.sethook()
end
function probes.string_dump()
    string.dump(probes.ok)
end
function probes.package()
    package.loadlib("libc.so.6", "system")
end
function probes.loadfile()
    loadfile("/etc/passwd")
end
function probes.dofile()
    dofile("/etc/passwd")
end

-- Bytecode: a precompiled chunk's header (what string.dump would have made).
local BINARY = "\27Lua\84\0\25\147\13\10\26\10\4\8\8\120\86\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\40\119\64"

function probes.load_binary_string()
    local f, err = load(BINARY)
    return { loaded = f ~= nil, err = err }
end

function probes.load_binary_reader()
    local parts = { BINARY:sub(1, 3), BINARY:sub(4) }
    local i = 0
    local f, err = load(function()
        i = i + 1
        return parts[i]
    end, "=reader", "b")
    return { loaded = f ~= nil, err = err }
end

function probes.load_binary_nested()
    -- Two levels down, through both forms of load.
    local outer = assert(load([[
        local binary = ...
        local inner = assert(load("local b = ... return load(b)"))
        local f1, e1 = inner(binary)
        local f2, e2 = load(function() local b = binary; binary = nil; return b end)
        return f1 == nil and f2 == nil, e1, e2
    ]]))
    local refused, e1, e2 = outer(BINARY)
    return { refused = refused, e1 = e1, e2 = e2 }
end

function probes.load_text()
    local f = assert(load("loaded_global = 40 + 2; return loaded_global"))
    local g = assert(load("return y", "=chunk", "t", { y = 7 }))
    local h = assert(load("return 1", "=chunk", "b"))
    local bad, err = load("return +", "=broken")
    return { value = f(), global = loaded_global, env = g(), forced_text = h(), bad = bad == nil, err = err }
end

-- Budget.
function probes.loop()
    while true do
    end
end

function probes.pcall_loop()
    while true do
        pcall(probes.loop)
    end
end

function probes.pcall_then_return()
    pcall(probes.loop)
    return { survived = true }
end

function probes.xpcall_loop()
    while true do
        xpcall(probes.loop, function()
            while true do
            end
        end)
    end
end

function probes.coroutine_loop()
    coroutine.wrap(probes.loop)()
end

function probes.coroutine_pcall_loop()
    local co = coroutine.create(probes.pcall_loop)
    while true do
        coroutine.resume(co)
    end
end

-- A to-be-closed variable whose __close never returns: closing must not run it unhooked.
local function closing_loop()
    local guard <close> = setmetatable({}, { __close = probes.loop })
    probes.loop()
end

function probes.wrap_close_loop()
    coroutine.wrap(closing_loop)()
end

function probes.close_after_stop()
    stopped = coroutine.create(closing_loop)
    coroutine.resume(stopped)
    coroutine.close(stopped)
    probes.loop()
end

function probes.close_stopped_later()
    local closed, err = coroutine.close(stopped)
    return { closed = closed, err = tostring(err), status = coroutine.status(stopped) }
end

function probes.coroutines()
    local gen = coroutine.wrap(function(a)
        local b = coroutine.yield(a + 1)
        coroutine.yield(b * 2)
    end)
    local closed = false
    do
        local guard <close> = setmetatable({}, { __close = function()
            closed = true
        end })
    end
    local co = coroutine.create(function()
        coroutine.yield(1)
    end)
    coroutine.resume(co)
    local failing = coroutine.wrap(function()
        error("inside")
    end)
    local ok, err = pcall(failing)
    local xok, xerr = xpcall(function()
        error("handled")
    end, function(m)
        return "handler saw: " .. m
    end)
    local yok, y1, y2 = xpcall(function(p, q)
        return p + q, "second"
    end, print, 2, 3)
    return {
        first = gen(1),
        second = gen(5),
        closed = closed,
        close_suspended = coroutine.close(co),
        wrap_error = not ok and err:find("inside", 1, true) ~= nil,
        xpcall_ok = xok,
        xpcall_err = xerr,
        xpcall_results = { yok, y1, y2 },
    }
end

function probes.count(input)
    local n = 0
    for i = 1, input.n do
        n = n + i
    end
    return { n = n }
end

-- Memory.
function probes.memory_bomb()
    local t, s = {}, string.rep("x", 1024 * 1024)
    local i = 0
    while true do
        i = i + 1
        t[i] = s .. i
    end
end

function probes.memory_pcall()
    local ok, err = pcall(probes.memory_bomb)
    return { ok = ok, err = tostring(err) }
end

function probes.rep_guard()
    return { s = string.rep("x", 1 << 40) }
end

function probes.rep_sep_guard()
    return { s = ("x"):rep(1 << 30, "yyyyyyyy") }
end

-- C loops that no instruction hook can interrupt.
function probes.empty_rep()
    return { len = #string.rep("", math.maxinteger), len_sep = #(""):rep(1 << 62, "") }
end

function probes.table_move()
    table.move({}, 1, 1 << 62, 2)
end

function probes.table_insert()
    local t = setmetatable({}, { __len = function()
        return 1 << 62
    end })
    table.insert(t, 1, "x")
end

function probes.table_remove()
    local t = setmetatable({}, { __len = function()
        return 1 << 62
    end })
    table.remove(t, 1)
end

function probes.table_ops()
    local t = { "a", "b", "c" }
    table.insert(t, "d")
    table.insert(t, 1, "z")
    local removed = table.remove(t, 2)
    local last = table.remove(t)
    local moved = table.move({ 1, 2, 3 }, 2, 3, 1, {})
    local bad = pcall(table.insert, t, 9, "x")
    local wrong = pcall(table.insert, t, 1, 2, 3)
    return {
        t = table.concat(t, ","),
        removed = removed,
        last = last,
        moved = skh.json.encode(moved),
        bad = bad,
        wrong = wrong,
        none = table.remove({}) == nil,
    }
end

function probes.gc()
    setmetatable({}, { __gc = function() end })
end

function probes.protected_metatables()
    return { array_mt = getmetatable(skh.json.array()) }
end

-- Pattern functions.
function probes.pattern(input)
    local s = string.rep("a", input.n)
    local fn = input.fn
    if fn == "find" then
        return { r = s:find("a$") }
    elseif fn == "string.find" then
        return { r = string.find(s, "b", 1, true) or false }
    elseif fn == "match" then
        return { r = #s:match("a*") }
    elseif fn == "gmatch" then
        local n = 0
        for _ in s:gmatch("a") do
            n = n + 1
        end
        return { r = n }
    elseif fn == "gsub" then
        local _, n = s:gsub("a", "b")
        return { r = n }
    elseif fn == "evil" then
        return { r = s:find(".-.-.-b") or false }
    end
end

-- require.
function probes.require()
    local greet = require("greet")
    local strings = require("util.strings")
    return {
        hello = greet.hello("lua"),
        loaded_as = greet.loaded_as,
        shout = strings.shout("lua"),
        cached = rawequal(greet, require("greet")),
    }
end

function probes.require_name(input)
    local ok, err = pcall(require, input.name)
    return { ok = ok, err = tostring(err) }
end

-- JSON inside Lua.
local function nest(n)
    local t = {}
    for _ = 1, n do
        t = { t }
    end
    return t
end

function probes.json()
    local r = {}
    local enc, dec = skh.json.encode, skh.json.decode
    r.empty_array = enc(dec('{"a":[]}'))
    r.empty_object = enc({})
    r.marked = enc(skh.json.array())
    r.sequence = enc({ 1, "two", true, skh.null })
    r.int = math.type(dec("3"))
    r.float = math.type(dec("3.0"))
    r.int_text = enc(3)
    r.float_text = enc(3.0)
    r.null = dec("null") == skh.null
    r.null_text = enc({ skh.null })
    r.utf8 = enc("h\u{e9}llo \u{1F600}")
    r.round = dec(enc({ a = { b = { 1, 2.5 } } })).a.b[2]
    r.nan_ok, r.nan_err = pcall(enc, { x = 0 / 0 })
    r.inf_ok = pcall(enc, math.huge)
    local cycle = {}
    cycle.self = cycle
    r.cycle_ok, r.cycle_err = pcall(enc, cycle)
    r.decode_ok, r.decode_err = pcall(dec, '{"a": tru}')
    r.sparse_ok, r.sparse_err = pcall(enc, { [1] = 1, [3] = 3 })
    r.mixed_ok, r.mixed_err = pcall(enc, { 1, x = 2 })
    r.fn_ok, r.fn_err = pcall(enc, { f = print })
    r.bad_utf8_ok = pcall(enc, "\xff")
    r.deep_ok = pcall(enc, nest(600))
    r.shallow_ok = pcall(enc, nest(100))
    local shared = {}
    for _ = 1, 40 do
        shared = { shared, shared }
    end
    r.blowup_ok, r.blowup_err = pcall(enc, shared)
    local big = ("x"):rep(1 << 20)
    local many = {}
    for i = 1, 100 do
        many[i] = big
    end
    r.bytes_ok, r.bytes_err = pcall(enc, many)
    r.is_array = skh.json.is_array(dec("[]")) and not skh.json.is_array(dec("{}"))
    return r
end

function probes.echo(input)
    return { echo = input.value }
end

return {
    kind = "skill",
    name = "sandbox_probe",
    version = "1",
    description = "sandbox probes for test_lua",
    execute = function(input, ctx)
        return probes[input.probe](input, ctx)
    end,
}
