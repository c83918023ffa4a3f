-- keyword_evolver: proposes a better keyword_classifier variant from the
-- serving variant's recent executions.
--
-- It reads the variant's content ({"threshold": N, "words": [...]}, or empty
-- for keyword_classifier's defaults) and the recent evidence the host hands
-- every evolver, and changes one thing, deterministically:
--
--   * labelled spam decided ham (missed spam), and no ham decided spam:
--     lower the threshold by one (not below 1) and add up to 3 words that
--     occur most often in the missed spam texts, are not listed yet, and
--     never occur in a text labelled ham;
--   * ham decided spam, and no missed spam: raise the threshold by one;
--   * both: only add words (a threshold move would trade one error for the
--     other);
--   * nothing labelled: lower the threshold by one when the mean fidelity is
--     under the host's threshold.
--
-- Otherwise it proposes no change (the host then registers nothing).  The
-- description says what was changed and why, with the counts it used.

local DEFAULT_THRESHOLD = 2
local DEFAULT_WORDS = { "buy", "free", "winner", "click", "offer", "money", "prize", "cheap" }
local MAX_NEW_WORDS = 3
local MIN_WORD_LENGTH = 3

-- Words too common to say anything about spam.
local STOP_WORDS = {}
for w in ([[the and for you your are with this that have from our not all was but can
    get has had its it's out now one two new any how who why what when where which will
    just than then them they their there here into onto over also only more most very
    been being were would could should about after before again off his her him she
    per via yes]]):gmatch("%S+") do
    STOP_WORDS[w] = true
end

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

-- The same rules as keyword_classifier's read_content.
local function read_content(content)
    if type(content) ~= "string" or not content:find("%S") then
        local words = {}
        for i, w in ipairs(DEFAULT_WORDS) do
            words[i] = w
        end
        return DEFAULT_THRESHOLD, words
    end
    local ok, config = pcall(skh.json.decode, content)
    if not ok or type(config) ~= "table" or skh.json.is_array(config) then
        invalid("content is not a keyword_classifier object: " .. tostring(config))
    end
    local threshold, words = config.threshold, config.words
    if math.type(threshold) ~= "integer" or threshold < 1 then
        invalid("content.threshold must be an integer >= 1")
    end
    if type(words) ~= "table" or not skh.json.is_array(words) then
        invalid("content.words must be an array of strings")
    end
    local copy = {}
    for i, w in ipairs(words) do
        if type(w) ~= "string" then
            invalid("content.words must be an array of strings")
        end
        copy[i] = w
    end
    return threshold, copy
end

local function tokens(text)
    local out = {}
    for token in ascii_lower(text):gmatch("[a-z0-9]+") do
        out[#out + 1] = token
    end
    return out
end

local function text_of(r)
    local input = r.input
    if type(input) == "table" and type(input.text) == "string" then
        return input.text, input.label
    end
    return nil, type(input) == "table" and input.label or nil
end

-- Up to MAX_NEW_WORDS candidates: in the most missed-spam texts, then most
-- often overall, then alphabetically, so the same evidence gives the same words.
local function new_words(missed_texts, listed, ham_tokens)
    local texts_with, total = {}, {}
    for _, text in ipairs(missed_texts) do
        local seen = {}
        for _, t in ipairs(tokens(text)) do
            if #t >= MIN_WORD_LENGTH and not t:match("^%d+$") and not STOP_WORDS[t]
                and not listed[t] and not ham_tokens[t] then
                total[t] = (total[t] or 0) + 1
                if not seen[t] then
                    seen[t] = true
                    texts_with[t] = (texts_with[t] or 0) + 1
                end
            end
        end
    end
    local candidates = {}
    for t in pairs(total) do
        candidates[#candidates + 1] = t
    end
    table.sort(candidates, function(a, b)
        if texts_with[a] ~= texts_with[b] then
            return texts_with[a] > texts_with[b]
        end
        if total[a] ~= total[b] then
            return total[a] > total[b]
        end
        return a < b
    end)
    local picked = {}
    for i = 1, math.min(MAX_NEW_WORDS, #candidates) do
        picked[i] = candidates[i]
    end
    return picked
end

local function evolve(facts, ctx)
    if type(facts) ~= "table" then
        invalid("facts must be an object")
    end
    local threshold, words = read_content(facts.content)
    local listed = {}
    for _, w in ipairs(words) do
        listed[ascii_lower(w)] = true
    end

    local recent = type(facts.recent) == "table" and facts.recent or {}
    local missed_texts, false_spam, labelled, ham_tokens = {}, 0, 0, {}
    for _, r in ipairs(recent) do
        local text, label = text_of(r)
        if r.correct == true or r.correct == false then
            labelled = labelled + 1
        end
        if r.correct == false and r.decision == "ham" then
            if text then
                missed_texts[#missed_texts + 1] = text
            end
        elseif r.correct == false and r.decision == "spam" then
            false_spam = false_spam + 1
        end
        if label == "ham" and text then
            for _, t in ipairs(tokens(text)) do
                ham_tokens[t] = true
            end
        end
    end

    local new_threshold, added, why = threshold, {}, nil
    local missed = #missed_texts
    local window = string.format("in the last %d execution%s", #recent, #recent == 1 and "" or "s")
    if missed > 0 then
        added = new_words(missed_texts, listed, ham_tokens)
        if false_spam == 0 then
            new_threshold = math.max(1, threshold - 1)
        end
        why = string.format("%d labelled spam decided ham %s", missed, window)
        if false_spam > 0 then
            why = why .. string.format(" (and %d ham decided spam: threshold kept)", false_spam)
        end
    elseif false_spam > 0 then
        new_threshold = threshold + 1
        why = string.format("%d labelled ham decided spam %s", false_spam, window)
    elseif labelled == 0 then
        local mean = facts.metrics and facts.metrics.mean_fidelity
        local bar = type(facts.threshold) == "number" and facts.threshold or 0.9
        if type(mean) == "number" and mean < bar then
            new_threshold = math.max(1, threshold - 1)
            why = string.format("nothing labelled %s and mean fidelity %.2f is under %.2f",
                window, mean, bar)
        end
    end

    if new_threshold == threshold and #added == 0 then
        return {
            content = facts.content,
            description = why and (why .. "; no change found to make")
                or string.format("no evidence to act on %s", window),
        }
    end

    local changes = {}
    if new_threshold ~= threshold then
        changes[#changes + 1] = string.format("threshold %d -> %d", threshold, new_threshold)
    end
    for _, w in ipairs(added) do
        words[#words + 1] = w
    end
    if #added > 0 then
        changes[#changes + 1] = "added words: " .. table.concat(added, ", ")
    end
    ctx:log("info", why .. ": " .. table.concat(changes, "; "))
    return {
        content = skh.json.encode({ threshold = new_threshold, words = skh.json.array(words) }),
        description = why .. ": " .. table.concat(changes, "; "),
    }
end

return {
    kind = "evolver",
    name = "keyword_evolver",
    version = "1.0.0",
    description = "Tunes keyword_classifier's threshold and word list from recent mistakes",
    evolve = evolve,
}
