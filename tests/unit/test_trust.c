/* sha256 against the FIPS 180-2 vectors, and the trust rules of DESIGN §3.1. */
#include "trust.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char million_a[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

static void test_sha256_vectors(void **state)
{
    char hex[65];
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    sha256_hex(a, 1000000, hex);
    assert_string_equal(hex, million_a);
    free(a);
}

/* ---- temp files ------------------------------------------------------------ */

typedef struct tmp {
    char dir[PATH_MAX];       /* realpath of the temp folder */
    char file[PATH_MAX + 16]; /* dir/plugin.so */
} tmp;

static void tmp_make(tmp *t, const char *content, size_t len)
{
    char templ[] = "/tmp/skh_trust_XXXXXX";
    assert_non_null(mkdtemp(templ));
    assert_non_null(realpath(templ, t->dir));
    assert_int_equal(chmod(t->dir, 0755), 0);
    snprintf(t->file, sizeof t->file, "%s/plugin.so", t->dir);
    FILE *f = fopen(t->file, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(t->file, 0644), 0);
}

static void tmp_remove(tmp *t)
{
    chmod(t->dir, 0700);
    unlink(t->file);
    assert_int_equal(rmdir(t->dir), 0);
}

static void test_sha256_file(void **state)
{
    tmp t;
    tmp_make(&t, "abc", 3);
    char hex[65];
    assert_int_equal(sha256_file(t.file, hex, NULL), SKH_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* One byte changed: a different digest, so a replaced plugin is noticed. */
    FILE *f = fopen(t.file, "r+b");
    assert_non_null(f);
    fputc('x', f);
    fclose(f);
    char changed[65];
    assert_int_equal(sha256_file(t.file, changed, NULL), SKH_OK);
    assert_string_not_equal(changed, hex);
    sha256_hex("xbc", 3, hex);
    assert_string_equal(changed, hex);
    tmp_remove(&t);

    /* Bigger than one 64 KiB read. */
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    tmp_make(&t, a, 1000000);
    free(a);
    assert_int_equal(sha256_file(t.file, hex, NULL), SKH_OK);
    assert_string_equal(hex, million_a);

    skh_error err = {0};
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/missing.so", t.dir);
    assert_int_equal(sha256_file(missing, hex, &err), SKH_EPLUGIN);
    assert_string_equal(err.what, missing);
    assert_string_equal(err.message, "cannot open: No such file or directory");
    tmp_remove(&t);
}

/* ---- trust_check ------------------------------------------------------------ */

/*
 * The refusal starts with the reason (message) and, for a loose mode or a
 * foreign owner, goes on with the fix: "; fix: FIX, or ... check_trust 0".
 */
static void expect_refused_fix(const char *path, const char *message, const char *fix)
{
    skh_error err = {0};
    assert_int_equal(trust_check(path, &err), SKH_EPLUGIN);
    assert_int_equal(err.code, SKH_EPLUGIN);
    assert_string_equal(err.what, path);
    if (strncmp(err.message, message, strlen(message)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", err.message, message);
    if (fix) {
        char want[PATH_MAX + 256];
        snprintf(want, sizeof want,
                 "; fix: %s, or, in a throw-away sandbox only, skillhost config set "
                 "plugins.check_trust 0",
                 fix);
        assert_string_equal(err.message + strlen(message), want);
    } else {
        assert_string_equal(err.message, message);
    }

    /* The same rules on an open file. */
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        skh_error ferr = {0};
        assert_int_equal(trust_check_fd(path, fd, 1, &ferr), SKH_EPLUGIN);
        assert_string_equal(ferr.message, err.message);
        close(fd);
    }
}

static void expect_refused(const char *path, const char *message)
{
    expect_refused_fix(path, message, NULL);
}

static void expect_trusted(const char *path)
{
    skh_error err = {0};
    if (trust_check(path, &err) != SKH_OK)
        fail_msg("%s: %s", err.what, err.message);
}

static void test_trust_file_mode(void **state)
{
    tmp t;
    tmp_make(&t, "x", 1);
    expect_trusted(t.file);
    char fix[PATH_MAX + 32];
    assert_int_equal(chmod(t.file, 0666), 0);
    snprintf(fix, sizeof fix, "chmod o-w %s", t.file);
    expect_refused_fix(t.file, "refused: writable by others (mode 0666)", fix);
    /* Group-writable is fine when the group is the owner's private group (a normal checkout). */
    assert_int_equal(chmod(t.file, 0664), 0);
    struct stat st;
    assert_int_equal(stat(t.file, &st), 0);
    snprintf(fix, sizeof fix, "chmod g-w %s", t.file);
    if (trust_group_is_private(st.st_gid, st.st_uid))
        expect_trusted(t.file);
    assert_int_equal(chmod(t.file, 0755), 0);
    expect_trusted(t.file);
    tmp_remove(&t);
}

/* A group that is not the owner's private group: refused, with the chmod that fixes it. */
static void test_trust_shared_group(void **state)
{
    if (geteuid() != 0)
        skip(); /* only root can hand a file to any group */
    tmp t;
    tmp_make(&t, "x", 1);
    assert_int_equal(trust_group_is_private(12345, 0), 0); /* no such group */
    assert_int_equal(chown(t.file, 0, 12345), 0);
    assert_int_equal(chmod(t.file, 0664), 0);
    char fix[PATH_MAX + 32];
    snprintf(fix, sizeof fix, "chmod g-w %s", t.file);
    expect_refused_fix(
        t.file,
        "refused: writable by group 12345, which is not the owner's private group (mode 0664)",
        fix);
    assert_int_equal(chmod(t.file, 0644), 0);
    expect_trusted(t.file);

    assert_int_equal(chown(t.dir, 0, 12345), 0);
    assert_int_equal(chmod(t.dir, 0775), 0);
    char msg[PATH_MAX + 128];
    snprintf(msg, sizeof msg,
             "refused: folder %s is writable by group 12345, which is not the owner's private "
             "group (mode 0775)",
             t.dir);
    snprintf(fix, sizeof fix, "chmod g-w %s", t.dir);
    expect_refused_fix(t.file, msg, fix);

    /* The owner's private group (root's, here, when root holds it alone) is accepted. */
    assert_int_equal(chown(t.dir, 0, 0), 0);
    assert_int_equal(chown(t.file, 0, 0), 0);
    assert_int_equal(chmod(t.file, 0664), 0);
    if (trust_group_is_private(0, 0))
        expect_trusted(t.file);
    tmp_remove(&t);
}

static void test_trust_folder_mode(void **state)
{
    tmp t;
    tmp_make(&t, "x", 1);
    char msg[PATH_MAX + 128];

    char fix[PATH_MAX + 32];
    assert_int_equal(chmod(t.dir, 0777), 0);
    snprintf(msg, sizeof msg, "refused: folder %s is writable by others (mode 0777)", t.dir);
    snprintf(fix, sizeof fix, "chmod o-w %s", t.dir);
    expect_refused_fix(t.file, msg, fix);

    /* Sticky (like /tmp): others cannot replace our file there. */
    assert_int_equal(chmod(t.dir, 01777), 0);
    expect_trusted(t.file);

    /* A file writable by others is refused even in a sticky folder. */
    assert_int_equal(chmod(t.file, 0666), 0);
    snprintf(fix, sizeof fix, "chmod o-w %s", t.file);
    expect_refused_fix(t.file, "refused: writable by others (mode 0666)", fix);
    tmp_remove(&t);
}

static void test_trust_symlink_resolved(void **state)
{
    /* A link in a good folder to a file in a bad one: the real folder decides. */
    tmp bad, good;
    tmp_make(&bad, "x", 1);
    tmp_make(&good, "y", 1);
    assert_int_equal(chmod(bad.dir, 0777), 0);
    char link[PATH_MAX + 16];
    snprintf(link, sizeof link, "%s/link.so", good.dir);
    assert_int_equal(symlink(bad.file, link), 0);
    char msg[PATH_MAX + 128];
    snprintf(msg, sizeof msg, "refused: folder %s is writable by others (mode 0777)", bad.dir);
    char fix[PATH_MAX + 32];
    snprintf(fix, sizeof fix, "chmod o-w %s", bad.dir);
    expect_refused_fix(link, msg, fix);
    unlink(link);
    tmp_remove(&bad);
    tmp_remove(&good);
}

static void test_trust_not_regular(void **state)
{
    tmp t;
    tmp_make(&t, "x", 1);
    expect_refused(t.dir, "refused: not a regular file");

    skh_error err = {0};
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/missing.so", t.dir);
    assert_int_equal(trust_check(missing, &err), SKH_EPLUGIN);
    assert_string_equal(err.message, "cannot stat: No such file or directory");
    tmp_remove(&t);
}

static void test_trust_owner(void **state)
{
    if (geteuid() != 0)
        skip(); /* only root can hand a file to another user */
    tmp t;
    tmp_make(&t, "x", 1);
    char msg[PATH_MAX + 128];
    assert_int_equal(chown(t.file, 12345, 12345), 0);
    char fix[PATH_MAX + 32];
    snprintf(fix, sizeof fix, "chown 0 %s", t.file);
    expect_refused_fix(t.file, "refused: owned by uid 12345 (expected 0 or 0)", fix);
    assert_int_equal(chown(t.file, 0, 0), 0);

    /* The folder's owner could rename another file over ours. */
    assert_int_equal(chown(t.dir, 12345, 12345), 0);
    snprintf(msg, sizeof msg, "refused: folder %s is owned by uid 12345 (expected 0 or 0)", t.dir);
    snprintf(fix, sizeof fix, "chown 0 %s", t.dir);
    expect_refused_fix(t.file, msg, fix);
    assert_int_equal(chown(t.dir, 0, 0), 0);
    expect_trusted(t.file);
    tmp_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),     cmocka_unit_test(test_sha256_file),
        cmocka_unit_test(test_trust_file_mode),    cmocka_unit_test(test_trust_folder_mode),
        cmocka_unit_test(test_trust_shared_group), cmocka_unit_test(test_trust_symlink_resolved),
        cmocka_unit_test(test_trust_not_regular),  cmocka_unit_test(test_trust_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
