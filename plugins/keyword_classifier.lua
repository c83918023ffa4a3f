-- keyword_classifier: flags text as spam when enough listed words occur.
--
-- The Lua twin of plugins/keyword_classifier.c: same content, same input,
-- same steps, same output, same errors.
--
-- content (JSON, optional): {"threshold": N, "words": ["buy", ...]}
-- input:                    {"text": "..."}
-- output:                   {"decision": "spam"|"ham", "confidence": x, "hits": n}

local DEFAULT_THRESHOLD = 2
local DEFAULT_WORDS = { "buy", "free", "winner", "click", "offer", "money", "prize", "cheap" }

-- ASCII only, whatever the process locale: [A-Z] in a pattern compares bytes.
local UPPER_TO_LOWER = {}
for b = string.byte("A"), string.byte("Z") do
    UPPER_TO_LOWER[string.char(b)] = string.char(b + 32)
end

local function ascii_lower(s)
    return (s:gsub("[A-Z]", UPPER_TO_LOWER))
end

local function invalid(message)
    error({ category = "validation", message = message })
end

local function read_content(content)
    if not content:find("%S") then
        return DEFAULT_THRESHOLD, DEFAULT_WORDS
    end
    local ok, config = pcall(skh.json.decode, content)
    if not ok then
        local line, column, why = tostring(config):match("line (%d+) column (%d+): (.*)$")
        invalid(string.format("content is not JSON: line %s, column %s: %s", line, column, why))
    end
    local threshold, words
    if type(config) == "table" and not skh.json.is_array(config) then
        threshold, words = config.threshold, config.words
    end
    if math.type(threshold) ~= "integer" or threshold < 1 then
        invalid("content.threshold must be an integer >= 1")
    end
    if type(words) ~= "table" or not skh.json.is_array(words) then
        invalid("content.words must be an array of strings")
    end
    for _, w in ipairs(words) do
        if type(w) ~= "string" then
            invalid("content.words must be an array of strings")
        end
    end
    return threshold, words
end

local function execute(input, ctx)
    local threshold, words = read_content(ctx.content)
    if type(input) ~= "table" or type(input.text) ~= "string" then
        invalid("input.text must be a string")
    end
    ctx:step("read_input")

    ctx:step("tokenize")
    local tokens = {}
    for token in ascii_lower(input.text):gmatch("[a-z0-9]+") do
        tokens[#tokens + 1] = token
    end

    ctx:step("classify")
    local listed = {}
    for _, w in ipairs(words) do
        listed[ascii_lower(w)] = true
    end
    local hits = 0
    for _, token in ipairs(tokens) do
        if listed[token] then
            hits = hits + 1
        end
    end

    ctx:step("decide")
    local spam = hits >= threshold
    local confidence
    if spam then
        confidence = math.min(0.99, 0.6 + 0.1 * (hits - threshold))
    else
        confidence = math.min(0.99, 0.9 - 0.3 * hits / threshold)
    end
    return { decision = spam and "spam" or "ham", confidence = confidence, hits = hits }
end

return {
    kind = "skill",
    name = "keyword_classifier",
    version = "1.0.0",
    description = "Flags text as spam when enough listed words occur",
    patterns = "read_input,tokenize,classify,decide",
    execute = execute,
}
