/*
 * The sandbox's pattern functions (core/lua_pattern.c) against stock Lua:
 * the same corpus and a few thousand random patterns through string.find,
 * match, gmatch and gsub in a plain lua_State and in a sandbox must give
 * the same results and the same errors.  Then the point of them: a
 * pattern that backtracks for a minute ends at the call's time limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "loader.h"
#include "lua_sandbox.h"

/* Runs every case through the four functions; one line of results per call. */
static const char driver[] =
    "local cases = ...\n"
    "local function ser(ok, ...)\n"
    "  local t = {tostring(ok)}\n"
    "  for i = 1, select('#', ...) do\n"
    "    local v = select(i, ...)\n"
    "    t[#t + 1] = type(v) .. ':' .. tostring(v)\n"
    "  end\n"
    "  return table.concat(t, '|')\n"
    "end\n"
    "local out = {}\n"
    "local function put(s) out[#out + 1] = s end\n"
    "for _, c in ipairs(cases) do\n"
    "  local s, p, init = c[1], c[2], c[3]\n"
    "  put(ser(pcall(string.find, s, p, init)))\n"
    "  put(ser(pcall(string.find, s, p, init, true)))\n"
    "  put(ser(pcall(string.match, s, p, init)))\n"
    "  local ok, it = pcall(string.gmatch, s, p, init)\n"
    "  if ok then\n"
    "    local r = {}\n"
    "    local ok2, err = pcall(function()\n"
    "      for a, b in it do\n"
    "        r[#r + 1] = tostring(a) .. ',' .. tostring(b)\n"
    "        if #r > 40 then break end\n"
    "      end\n"
    "    end)\n"
    "    put(table.concat(r, ';') .. '/' .. tostring(ok2) .. '/' .. tostring(err))\n"
    "  else\n"
    "    put('gmatch ' .. tostring(it))\n"
    "  end\n"
    "  put(ser(pcall(string.gsub, s, p, '<%0>')))\n"
    "  put(ser(pcall(string.gsub, s, p, '[%1%%]')))\n"
    "  put(ser(pcall(string.gsub, s, p, '%')))\n"
    "  put(ser(pcall(string.gsub, s, p, function(...) return select('#', ...) .. '' end)))\n"
    "  put(ser(pcall(string.gsub, s, p, {a = 'A', [''] = false, b = 1}, 2)))\n"
    "  put(ser(pcall(string.gsub, s, p, function() return {} end)))\n"
    "end\n"
    "return table.concat(out, '\\n')\n";

typedef struct pcase {
    char s[48];
    char p[48];
    int has_init;
    int init;
} pcase;

/* Patterns the reference manual's examples and the usual mistakes are made of. */
static const char *const fixed[][2] = {
    {"hello world from Lua", "(%w+) (%w+)"},
    {"hello world", "o w"},
    {"hello", ""},
    {"", ""},
    {"", "x*"},
    {"abc", "^(a)(b)(c)$"},
    {"key = value", "(%w+)%s*=%s*(%w+)"},
    {"THE (quick) fox", "%f[%a]%a+"},
    {"THE (quick) fox", "%f[%l]%a+"},
    {"f(a(b)c)d", "%b()"},
    {"f(a(b)c", "%b()"},
    {"aaa", "a-b"},
    {"aaab", "a-b"},
    {"aaab", "a*"},
    {"aaab", "a+?"},
    {"  x  ", "^%s*(.-)%s*$"},
    {"abcabc", "(abc)%1"},
    {"abcab", "(abc)%1"},
    {"hello", "()ll()"},
    {"hello", "%"},
    {"hello", "[a"},
    {"hello", "[]"},
    {"hello", "[^]"},
    {"hello", "[]]"},
    {"a]b", "[]]"},
    {"hello", "%f"},
    {"hello", "%fx"},
    {"hello", "(()"},
    {"hello", "())"},
    {"hello", "%1"},
    {"hello", "(l)%2"},
    {"hello", "%0"},
    {"hello", "%b"},
    {"hello", "%bx"},
    {"a.b", "%."},
    {"a.b", "."},
    {"a-b", "a%-b"},
    {"x^y", "x^y"},
    {"x$y", "x$y"},
    {"xy$", "y$"},
    {"a1_B", "[%w_]+"},
    {"a1_B", "[^%d]+"},
    {"a-z", "[a%-z]+"},
    {"hello.", "[%p]"},
    {"\t\n ", "%s+"},
    {"0x1F", "%x+"},
    {"aaaaaaaaaa", "(a*(.)%w(%s*))"},
    {"one two  three", "%S+"},
    {"abc", "((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))"},
    {"abc", "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))"},
    {"banana", "an"},
    {"banana", "a(n)"},
    {"banana", "^b"},
    {"banana", "^a"},
    {"banana", "a$"},
    {"x", "x?x?x?x?xxxx"},
};

static const char *const tokens[] = {
    "a",      "b",     "c",  ".", "%a", "%d", "%s", "%w", "%A", "%S", "[ab]", "[^a]",
    "[a-c]",  "[%a_]", "(",  ")", "()", "*",  "+",  "-",  "?",  "^",  "$",    "%b()",
    "%f[%w]", "%1",    "%2", "%", "[",  "]",  "%%", "x",  " ",  "%.", "[]",   "%z",
};
static const char subject_chars[] = "aabbc(x) 1_.%";

static void random_case(pcase *c, unsigned *seed)
{
    size_t n = (size_t)(rand_r(seed) % 12);
    for (size_t i = 0; i < n; i++)
        c->s[i] = subject_chars[rand_r(seed) % (sizeof subject_chars - 1)];
    c->s[n] = '\0';
    c->p[0] = '\0';
    int items = rand_r(seed) % 6;
    for (int i = 0; i < items; i++) {
        const char *t = tokens[rand_r(seed) % (sizeof tokens / sizeof tokens[0])];
        if (strlen(c->p) + strlen(t) < sizeof c->p)
            strcat(c->p, t);
    }
    static const int inits[] = {1, 0, -1, -3, 2, 5, 100, -100};
    c->has_init = rand_r(seed) % 3 == 0;
    c->init = inits[rand_r(seed) % (sizeof inits / sizeof inits[0])];
}

static void push_cases(lua_State *L, const pcase *cases, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 3, 0);
        lua_pushstring(L, cases[i].s);
        lua_rawseti(L, -2, 1);
        lua_pushstring(L, cases[i].p);
        lua_rawseti(L, -2, 2);
        if (cases[i].has_init) {
            lua_pushinteger(L, cases[i].init);
            lua_rawseti(L, -2, 3);
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* The driver's output on L, malloc'd. */
static char *run_driver(lua_State *L, const pcase *cases, size_t n)
{
    if (luaL_loadbufferx(L, driver, sizeof driver - 1, "=driver", "t") != LUA_OK)
        fail_msg("driver: %s", lua_tostring(L, -1));
    push_cases(L, cases, n);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        fail_msg("driver failed: %s", lua_tostring(L, -1));
    char *out = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    assert_non_null(out);
    return out;
}

static lua_State *sandbox(double timeout_ms)
{
    plugin_limits lim;
    plugin_limits_default(&lim);
    lim.lua_instructions = 0;
    lim.timeout_ms = timeout_ms;
    skh_error err;
    lua_State *L = sandbox_open(&lim, "test", &err);
    if (!L)
        fail_msg("sandbox: %s", err.message);
    return L;
}

static void compare(const pcase *cases, size_t n)
{
    lua_State *stock = luaL_newstate();
    assert_non_null(stock);
    luaL_openlibs(stock);
    lua_State *sb = sandbox(0);
    char *want = run_driver(stock, cases, n);
    sandbox_begin(sb, NULL);
    char *got = run_driver(sb, cases, n);
    assert_int_equal(sandbox_end(sb), 0);
    if (strcmp(want, got) != 0) {
        /* Name the first case that differs. */
        const char *w = want, *g = got;
        size_t line = 0;
        while (*w && *w == *g) {
            if (*w == '\n')
                line++;
            w++;
            g++;
        }
        size_t per = 10; /* lines the driver writes per case */
        const pcase *c = &cases[line / per];
        const char *wl = w, *gl = g;
        while (wl > want && wl[-1] != '\n')
            wl--;
        while (gl > got && gl[-1] != '\n')
            gl--;
        fail_msg("case s=\"%s\" p=\"%s\" init=%d%s (call %zu):\n stock:   %.200s\n sandbox: %.200s",
                 c->s, c->p, c->init, c->has_init ? "" : " (none)", line % per, wl, gl);
    }
    free(want);
    free(got);
    lua_close(stock);
    sandbox_close(sb);
}

static void test_same_as_stock_on_the_corpus(void **state)
{
    (void)state;
    size_t n = sizeof fixed / sizeof fixed[0];
    pcase *cases = calloc(n * 3, sizeof *cases);
    assert_non_null(cases);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            pcase *c = &cases[i * 3 + (size_t)k];
            snprintf(c->s, sizeof c->s, "%s", fixed[i][0]);
            snprintf(c->p, sizeof c->p, "%s", fixed[i][1]);
            c->has_init = k > 0;
            c->init = k == 1 ? 2 : -2;
        }
    }
    compare(cases, n * 3);
    free(cases);
}

static void test_same_as_stock_on_random_patterns(void **state)
{
    (void)state;
    enum { N = 4000 };
    pcase *cases = calloc(N, sizeof *cases);
    assert_non_null(cases);
    unsigned seed = 20261206u;
    for (size_t i = 0; i < N; i++)
        random_case(&cases[i], &seed);
    compare(cases, N);
    free(cases);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Run code in a window of a sandbox with a 200 ms limit; its error (or "ok"), how long it took. */
static void run_timed(lua_State *L, const char *code, char *msg, size_t n, double *ms,
                      unsigned *flags)
{
    double t0 = now_ms();
    sandbox_begin(L, NULL);
    int status = luaL_loadstring(L, code);
    if (status == LUA_OK)
        status = sandbox_pcall(L, 0, 0);
    *flags = sandbox_end(L);
    *ms = now_ms() - t0;
    snprintf(msg, n, "%s",
             status == LUA_OK      ? "ok"
             : lua_tostring(L, -1) ? lua_tostring(L, -1)
                                   : "?");
    lua_settop(L, 0);
}

static void test_backtracking_ends_at_the_time_limit(void **state)
{
    (void)state;
    lua_State *L = sandbox(200);
    static const char *const slow[] = {
        /* 64 s with Lua's own matcher */
        "return ('a'):rep(250):find('.-.-.-.-b')",
        "return ('a'):rep(250):match('.-.-.-.-b')",
        "for _ in ('a'):rep(300):gmatch('.-.-.-.-b') do end",
        "return ('a'):rep(300):gsub('.-.-.-.-b', 'x')",
        /* and pcall cannot swallow the stop */
        "for i = 1, 10 do pcall(string.find, ('a'):rep(250), '.-.-.-.-b') end while true do end",
        "while true do end",
        "local t = {} while true do t[#t + 1] = ('x'):rep(100) .. #t end",
    };
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++) {
        char msg[512];
        double ms;
        unsigned flags;
        run_timed(L, slow[i], msg, sizeof msg, &ms, &flags);
        if (!(flags & SANDBOX_LATE) || ms > 3000)
            fail_msg("%s: flags %u after %.0f ms: %s", slow[i], flags, ms, msg);
        /* A memory error stands in for the timeout when the clock ran out mid-allocation. */
        if (!strstr(msg, "time limit of 200 ms exceeded") && !strstr(msg, "not enough memory"))
            fail_msg("%s: %s", slow[i], msg);
        /* The next window starts afresh. */
        run_timed(L, "return ('a'):rep(20):find('.-b')", msg, sizeof msg, &ms, &flags);
        assert_string_equal(msg, "ok");
        assert_int_equal(flags, 0);
    }
    /*
     * A naive plain find is O(n * m).  With a vectorised memcmp it may well
     * finish inside the limit on a quiet machine (158 ms was seen) and past
     * it on a loaded one: either way it must end, and soon.
     */
    char msg[512];
    double ms;
    unsigned flags;
    run_timed(L, "return ('a'):rep(200000):find(('a'):rep(60000) .. 'b', 1, true)", msg, sizeof msg,
              &ms, &flags);
    int ended = strcmp(msg, "ok") == 0 ||
                ((flags & SANDBOX_LATE) && (strstr(msg, "time limit of 200 ms exceeded") ||
                                            strstr(msg, "not enough memory")));
    if (ms > 3000 || !ended)
        fail_msg("plain find: flags %u after %.0f ms: %s", flags, ms, msg);
    sandbox_close(L);
}

/* table.sort without a comparator sorts with the sandbox's clocked one: same answers, same errors.
 */
static void test_sort_same_as_stock(void **state)
{
    (void)state;
    static const char code[] =
        "local out = {}\n"
        "for _, t in ipairs({{3, 1, 2}, {'b', 'a', 'c'}, {1.5, -2, 1e9, 0}, {}, {1}, {2, 'x'},"
        " {1, nil, 3}}) do\n"
        "  local ok, err = pcall(table.sort, t)\n"
        "  local r = {}\n"
        "  for i = 1, #t do r[i] = tostring(t[i]) end\n"
        "  out[#out + 1] = tostring(ok) .. ':' .. tostring(err) .. ':' .. table.concat(r, ',')\n"
        "end\n"
        "local big = {}\n"
        "for i = 1, 5000 do big[i] = (i * 7919) % 10007 end\n"
        "table.sort(big)\n"
        "for i = 2, #big do assert(big[i - 1] <= big[i]) end\n"
        "return table.concat(out, '\\n')\n";
    lua_State *stock = luaL_newstate();
    assert_non_null(stock);
    luaL_openlibs(stock);
    lua_State *sb = sandbox(0);
    assert_int_equal(luaL_loadstring(stock, code), LUA_OK);
    if (lua_pcall(stock, 0, 1, 0) != LUA_OK)
        fail_msg("stock: %s", lua_tostring(stock, -1));
    sandbox_begin(sb, NULL);
    assert_int_equal(luaL_loadstring(sb, code), LUA_OK);
    if (sandbox_pcall(sb, 0, 1) != LUA_OK)
        fail_msg("sandbox: %s", lua_tostring(sb, -1));
    assert_int_equal(sandbox_end(sb), 0);
    assert_string_equal(lua_tostring(sb, -1), lua_tostring(stock, -1));
    lua_close(stock);
    sandbox_close(sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_stock_on_the_corpus),
        cmocka_unit_test(test_same_as_stock_on_random_patterns),
        cmocka_unit_test(test_backtracking_ends_at_the_time_limit),
        cmocka_unit_test(test_sort_same_as_stock),
    };
    return cmocka_run_group_tests_name("lua_pattern", tests, NULL, NULL);
}
