/* UTF-8 at the boundaries (issue 9 item 9): the checker against the RFC 3629 edge cases. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "text.h"

#define VALID ((size_t)-1)

static size_t at(const char *s)
{
    return text_invalid_at(s, strlen(s));
}

static void t_valid(void **state)
{
    (void)state;
    assert_int_equal(at(""), VALID);
    assert_int_equal(at("plain ascii"), VALID);
    assert_int_equal(at("caf\xc3\xa9"), VALID);      /* U+00E9 */
    assert_int_equal(at("\xe2\x82\xac"), VALID);     /* U+20AC */
    assert_int_equal(at("\xed\x9f\xbf"), VALID);     /* U+D7FF, below the surrogates */
    assert_int_equal(at("\xef\xbf\xbd"), VALID);     /* U+FFFD */
    assert_int_equal(at("\xf0\x9f\x98\x80"), VALID); /* U+1F600 */
    assert_int_equal(at("\xf4\x8f\xbf\xbf"), VALID); /* U+10FFFF */
}

static void t_invalid(void **state)
{
    (void)state;
    assert_int_equal(at("ab\xff"), 2);           /* never in UTF-8 */
    assert_int_equal(at("a\x80"), 1);            /* lone continuation */
    assert_int_equal(at("\xc0\x80"), 0);         /* overlong NUL */
    assert_int_equal(at("\xc1\xbf"), 0);         /* overlong */
    assert_int_equal(at("\xe0\x9f\xbf"), 0);     /* overlong 3-byte */
    assert_int_equal(at("\xf0\x8f\xbf\xbf"), 0); /* overlong 4-byte */
    assert_int_equal(at("x\xed\xa0\x80"), 1);    /* U+D800 surrogate */
    assert_int_equal(at("\xf4\x90\x80\x80"), 0); /* above U+10FFFF */
    assert_int_equal(at("\xf5\x80\x80\x80"), 0);
    assert_int_equal(at("ok\xe2\x82"), 2);                   /* cut short at the end */
    assert_int_equal(at("\xe2\x82x"), 0);                    /* cut short in the middle */
    assert_int_equal(text_invalid_at("\xe2\x82\xac", 2), 0); /* the length counts, not the NUL */
}

static void t_check_names_what_and_where(void **state)
{
    (void)state;
    skh_error err = {0};
    assert_int_equal(text_check("--description", "abc", 3, &err), SKH_OK);
    assert_int_equal(text_check("--description", "ab\xff", 3, &err), SKH_EINVAL);
    assert_string_equal(err.what, "--description");
    assert_non_null(strstr(err.message, "byte 2"));
    assert_null(strstr(err.message, "memory"));
    assert_int_equal(text_check("in.json", "{\"a\0\"}", 6, &err), SKH_EINVAL);
    assert_non_null(strstr(err.message, "NUL byte at byte 3"));
    assert_int_equal(text_check_str("x", NULL, &err), SKH_OK);
}

static void t_json_repairs(void **state)
{
    (void)state;
    json_t *j = text_json("a\xff"
                          "b\xc3");
    assert_non_null(j);
    assert_string_equal(json_string_value(j), "a\xef\xbf\xbd"
                                              "b\xef\xbf\xbd");
    json_decref(j);
    j = text_json("caf\xc3\xa9");
    assert_string_equal(json_string_value(j), "caf\xc3\xa9");
    json_decref(j);
    j = text_json(NULL);
    assert_true(json_is_null(j));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_valid),
        cmocka_unit_test(t_invalid),
        cmocka_unit_test(t_check_names_what_and_where),
        cmocka_unit_test(t_json_repairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
