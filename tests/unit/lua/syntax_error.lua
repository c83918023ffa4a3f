-- A deliberate syntax error on line 4 (test_lua.c checks the line).
return {
    kind = "skill",
    version = = "1",
}
