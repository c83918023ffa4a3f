/*
 * External-command skills: the protocol (stdin, stdout, stderr breadcrumbs,
 * environment), the exit-status table, the limits, and the process hygiene
 * (no zombies, no leaked descriptors, no SIGPIPE death).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "call.h"
#include "error.h"
#include "loader.h"
#include "trust.h"

#include "fixture.h"

static char fixdir[PATH_MAX];

static int load_cmd(int timeout_ms, plugin **p, skh_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int load_cmd(int timeout_ms, plugin **p, skh_error *err, const char *fmt, ...)
{
    char cmd[PATH_MAX + 4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    plugin_limits lim;
    plugin_limits_default(&lim);
    lim.exec_timeout_ms = timeout_ms;
    lim.check_trust = 0; /* the checkout's folders are not ours to judge; see test_trust */
    error_clear(err);
    return plugin_exec_load(cmd, &lim, p, err);
}

/* Load "exec:FIXDIR/ARGS" and insist it works. */
static plugin *exec_fixture(int timeout_ms, const char *args)
{
    plugin *p = NULL;
    skh_error err;
    int rc = load_cmd(timeout_ms, &p, &err, "exec:%s/%s", fixdir, args);
    if (rc != SKH_OK)
        fail_msg("load %s: %s", args, err.message);
    assert_non_null(p);
    return p;
}

static void run(plugin *p, skh_call *call, const char *input, const char *content,
                const char *patterns, unsigned attempt)
{
    skh_error err;
    call_init(call, input, content, patterns, attempt, p->name);
    assert_int_equal(p->ops->invoke(p, "execute", call, &err), SKH_OK);
    assert_true(call->finished);
}

static json_t *output_json(const skh_call *call)
{
    if (!call->output)
        fail_msg("no output; failed with %d: %s", call->category,
                 call->message ? call->message : "");
    json_error_t jerr;
    json_t *o = json_loads(call->output, 0, &jerr);
    assert_non_null(o);
    return o;
}

static void assert_fails(const skh_call *call, int category, const char *fragment)
{
    if (call->category != category || !call->message || !strstr(call->message, fragment))
        fail_msg("expected category %d with \"%s\", got %d: %s", category, fragment, call->category,
                 call->message ? call->message : "(output)");
    assert_null(call->output);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A temporary folder with one file in it; both removed by rm_tmp. */
static void make_tmp(char dir[64], char file[PATH_MAX], const char *name, const char *text,
                     mode_t mode)
{
    snprintf(dir, 64, "/tmp/skh_exec_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(file, PATH_MAX, "%s/%s", dir, name);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(file, mode), 0);
}

static void rm_tmp(const char *dir, const char *file)
{
    unlink(file);
    chmod(dir, 0700);
    rmdir(dir);
}

static char *repeat(char c, size_t n, const char *prefix, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);
    assert_non_null(s);
    memcpy(s, prefix, a);
    memset(s + a, c, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

/* ---- the protocol --------------------------------------------------------- */

static void test_output_steps_and_input(void **state)
{
    (void)state;
    plugin *p = exec_fixture(10000, "echo_skill.sh");
    assert_string_equal(p->name, "echo_skill_sh");
    assert_string_equal(p->version, "exec");
    assert_int_equal(p->kind, SKH_KIND_SKILL);
    assert_string_equal(p->patterns, "");
    assert_true(p->ops->has(p, "execute"));
    assert_false(p->ops->has(p, "score"));

    skh_call call;
    run(p, &call, "{\"text\": \"hello\", \"n\": [1, 2]}", NULL, NULL, 1);
    json_t *o = output_json(&call);
    assert_string_equal(json_string_value(json_object_get(o, "decision")), "ham");
    assert_true(json_real_value(json_object_get(o, "confidence")) == 0.5);
    json_t *echo = json_object_get(o, "echo");
    assert_string_equal(json_string_value(json_object_get(echo, "text")), "hello");
    assert_int_equal(json_array_size(json_object_get(echo, "n")), 2);
    assert_int_equal(call.nsteps, 2);
    assert_string_equal(call.steps[0], "read");
    assert_string_equal(call.steps[1], "classify");
    json_decref(o);
    call_release(&call);

    skh_error err;
    call_init(&call, "{}", NULL, NULL, 1, p->name);
    assert_int_equal(p->ops->invoke(p, "score", &call, &err), SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "score"));
    call_release(&call);
    plugin_close(p);
}

static void test_environment(void **state)
{
    (void)state;
    plugin *p = exec_fixture(10000, "env_skill.sh");
    setenv("EXEC_TEST_MARK", "42", 1);
    setenv("SKILLHOST_CONTENT", "stale", 1); /* the host's own must never leak through */
    skh_call call;
    run(p, &call, "{}", "be brief", "[\"read\",\"decide\"]", 2);
    json_t *o = output_json(&call);
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "content")), "be brief");
    json_t *pat = json_object_get(o, "patterns");
    assert_int_equal(json_array_size(pat), 2);
    assert_string_equal(json_string_value(json_array_get(pat, 1)), "decide");
    assert_string_equal(json_string_value(json_object_get(o, "name")), "env_skill_sh");
    assert_string_equal(json_string_value(json_object_get(o, "mark")), "42");
    json_decref(o);
    call_release(&call);

    /* 64 KiB of content still fits; one byte more is left out, not truncated. */
    char *content = repeat('a', 64 * 1024, "", "");
    run(p, &call, "{}", content, "[]", 1);
    o = output_json(&call);
    assert_string_equal(json_string_value(json_object_get(o, "content")), content);
    json_decref(o);
    call_release(&call);
    free(content);
    content = repeat('a', 64 * 1024 + 1, "", "");
    run(p, &call, "{}", content, "[]", 1);
    o = output_json(&call);
    assert_true(json_is_null(json_object_get(o, "content")));
    json_decref(o);
    call_release(&call);
    free(content);

    unsetenv("EXEC_TEST_MARK");
    unsetenv("SKILLHOST_CONTENT");
    plugin_close(p);
}

static void test_error_object_category(void **state)
{
    (void)state;
    plugin *p = exec_fixture(10000, "fail_network.sh");
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    assert_fails(&call, SKH_ERR_NETWORK, "upstream down");
    call_release(&call);
    plugin_close(p);

    p = exec_fixture(10000,
                     "exit_code.sh 3 '{\"error\":{\"category\":\"cosmic\",\"message\":\"rays\"}}'");
    run(p, &call, "{}", NULL, NULL, 1);
    assert_fails(&call, SKH_ERR_INTERNAL, "unknown error category \"cosmic\": rays");
    call_release(&call);
    plugin_close(p);
}

static void test_exit_status_table(void **state)
{
    (void)state;
    static const struct {
        int status, category;
    } rows[] = {
        {64, SKH_ERR_VALIDATION},     {65, SKH_ERR_VALIDATION},  {66, SKH_ERR_NOT_FOUND},
        {68, SKH_ERR_NETWORK},        {69, SKH_ERR_UNAVAILABLE}, {75, SKH_ERR_UNAVAILABLE},
        {77, SKH_ERR_AUTHENTICATION}, {124, SKH_ERR_TIMEOUT},    {126, SKH_ERR_INTERNAL},
        {127, SKH_ERR_NOT_FOUND},     {1, SKH_ERR_CRASH},        {2, SKH_ERR_CRASH},
        {67, SKH_ERR_CRASH},          {255, SKH_ERR_CRASH},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char args[64], want[128];
        snprintf(args, sizeof args, "exit_code.sh %d", rows[i].status);
        snprintf(want, sizeof want, "exited with status %d: exit_code: exiting with status %d",
                 rows[i].status, rows[i].status);
        plugin *p = exec_fixture(10000, args);
        skh_call call;
        run(p, &call, "{}", NULL, NULL, 1);
        assert_fails(&call, rows[i].category, want);
        call_release(&call);
        plugin_close(p);
    }
}

static void test_signal_is_crash(void **state)
{
    (void)state;
    plugin *p = exec_fixture(10000, "segv.sh");
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    assert_fails(&call, SKH_ERR_CRASH, "killed by signal 11 (");
    call_release(&call);
    plugin_close(p);
}

static void test_bad_json_is_crash(void **state)
{
    (void)state;
    plugin *p = exec_fixture(10000, "bad_json.sh");
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    assert_fails(&call, SKH_ERR_CRASH, "stdout is not JSON: line 1, column ");
    call_release(&call);
    plugin_close(p);

    p = exec_fixture(10000, "exit_code.sh 0 '[1, 2]'");
    run(p, &call, "{}", NULL, NULL, 1);
    assert_fails(&call, SKH_ERR_CRASH, "not an object");
    call_release(&call);
    plugin_close(p);
}

static void test_output_cap(void **state)
{
    (void)state;
    plugin *p = NULL;
    skh_error err;
    assert_int_equal(load_cmd(10000, &p, &err, "exec:head -c 17000000 /dev/zero"), SKH_OK);
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    assert_fails(&call, SKH_ERR_CRASH, "output larger than the limit of 16777216 bytes");
    call_release(&call);
    plugin_close(p);
}

/* The process is gone when its /proc entry is, or when only its zombie waits for init. */
static int process_gone(pid_t pid)
{
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *close_paren = strrchr(text, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

static void test_timeout_kills_group(void **state)
{
    (void)state;
    char dir[64], pidfile[PATH_MAX], args[PATH_MAX + 32];
    make_tmp(dir, pidfile, "pids", "", 0600);
    snprintf(args, sizeof args, "sleeper.sh %s", pidfile);
    plugin *p = exec_fixture(300, args);

    int64_t start = now_ms();
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    int64_t took = now_ms() - start;
    assert_fails(&call, SKH_ERR_TIMEOUT, "killed after 300 ms");
    assert_true(took >= 300);
    assert_true(took < 3000);

    long shell = 0, child = 0;
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &shell, &child), 2);
    fclose(f);
    /* Reaped, not a zombie: */
    assert_int_equal(kill((pid_t)shell, 0), -1);
    assert_int_equal(errno, ESRCH);
    int status;
    assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    /* The grandchild holding the pipes went with the group (init reaps it). */
    int64_t until = now_ms() + 2000;
    while (!process_gone((pid_t)child) && now_ms() < until)
        usleep(1000);
    assert_true(process_gone((pid_t)child));

    call_release(&call);
    plugin_close(p);
    rm_tmp(dir, pidfile);
}

static void test_sigpipe_survived(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE that escaped would end this test program */
    char *input = repeat('x', 1024 * 1024, "{\"s\":\"", "\"}");
    plugin *p = exec_fixture(10000, "noread.sh");
    for (int i = 0; i < 3; i++) {
        skh_call call;
        run(p, &call, input, NULL, NULL, 1);
        assert_string_equal(call.output, "{}");
        call_release(&call);
    }
    sigset_t mask, pending;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    assert_false(sigismember(&mask, SIGPIPE));
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE));

    /* A caller that blocks SIGPIPE itself keeps it blocked. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    skh_call call;
    run(p, &call, input, NULL, NULL, 1);
    call_release(&call);
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    assert_true(sigismember(&now, SIGPIPE));
    pthread_sigmask(SIG_UNBLOCK, &mask, NULL);

    plugin_close(p);
    free(input);
}

static void test_chatty_child_no_deadlock(void **state)
{
    (void)state;
    char *input = repeat('x', 1024 * 1024, "{\"s\":\"", "\"}");
    plugin *p = exec_fixture(10000, "chatty.sh");
    skh_call call;
    run(p, &call, input, NULL, NULL, 1);
    json_t *o = output_json(&call);
    assert_int_equal(json_integer_value(json_object_get(o, "read")), (json_int_t)strlen(input));
    json_decref(o);
    call_release(&call);
    plugin_close(p);
    free(input);
}

/* ---- the command line ----------------------------------------------------- */

static void run_words(const char *args, const char *want_key, const char *want_value)
{
    plugin *p = exec_fixture(10000, args);
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    json_t *o = output_json(&call);
    assert_string_equal(json_string_value(json_object_get(o, want_key)), want_value);
    json_decref(o);
    call_release(&call);
    plugin_close(p);
}

static void test_quoting(void **state)
{
    (void)state;
    run_words("exit_code.sh 0 '{\"a\": \"b c\"}'", "a", "b c");
    run_words("exit_code.sh 0 \"{\\\"k\\\":\\\"x\\\\\\\\y\\\"}\"", "k", "x\\y");
    run_words("exit_code.sh 0 \"{\\\"v\\\":\\\"a\\nb\\\"}\"", "v", "a\nb");
    run_words("exit_code.sh 0 {\\\"n\\\":\\ \\\"1\\\"}", "n", "1");
    run_words("exit_code.sh 0 '{\"m\":'\"\\\"mixed\\\"\"'}'", "m", "mixed");

    /* The output is the program's own text, only trimmed. */
    plugin *p = exec_fixture(10000, "exit_code.sh 0 '  {\"a\": 0.1}  '");
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    assert_string_equal(call.output, "{\"a\": 0.1}");
    call_release(&call);
    plugin_close(p);

    skh_error err;
    assert_int_equal(load_cmd(0, &p, &err, "exec:/bin/echo 'abc"), SKH_EINVAL);
    assert_null(p);
    assert_non_null(strstr(err.message, "unterminated single quote opened at column 16"));
    assert_int_equal(load_cmd(0, &p, &err, "/bin/echo a \"b"), SKH_EINVAL);
    assert_non_null(strstr(err.message, "double quote opened at column 13"));
    assert_int_equal(load_cmd(0, &p, &err, "exec:/bin/echo a\\"), SKH_EINVAL);
    assert_non_null(strstr(err.message, "column 17"));
    assert_int_equal(load_cmd(0, &p, &err, "exec:   "), SKH_EINVAL);

    /* Without the prefix, and found through PATH. */
    assert_int_equal(load_cmd(0, &p, &err, "printf {}"), SKH_OK);
    assert_string_equal(p->name, "printf");
    assert_string_equal(p->path, "printf {}");
    assert_string_equal(p->description, "printf {}");
    run(p, &call, "{}", NULL, NULL, 1);
    assert_string_equal(call.output, "{}");
    call_release(&call);
    plugin_close(p);
}

/*
 * valgrind runs glibc's CLONE_VFORK spawn as a plain fork, so the child's
 * execve error cannot reach posix_spawn and shows as glibc's exit 127.
 */
static int under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
}

static void test_not_found(void **state)
{
    (void)state;
    plugin *p = NULL;
    skh_error err;
    assert_int_equal(load_cmd(0, &p, &err, "exec:no_such_program_skh_test --x"), SKH_ENOTFOUND);
    assert_null(p);
    assert_string_equal(err.message, "exec: no_such_program_skh_test: not found in PATH");
    assert_int_equal(load_cmd(0, &p, &err, "exec:/nonexistent/skh/prog"), SKH_ENOTFOUND);
    assert_int_equal(load_cmd(0, &p, &err, "exec:/tmp"), SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "not a regular file"));

    char dir[64], file[PATH_MAX];
    make_tmp(dir, file, "plain.sh", "#!/bin/sh\necho {}\n", 0644);
    assert_int_equal(load_cmd(0, &p, &err, "exec:%s", file), SKH_EPLUGIN);
    assert_non_null(strstr(err.message, "not executable"));
    rm_tmp(dir, file);

    /* Executable but not a program the kernel can run: failed call, not a crash. */
    make_tmp(dir, file, "noshebang", "echo {}\n", 0755);
    assert_int_equal(load_cmd(0, &p, &err, "exec:%s", file), SKH_OK);
    skh_call call;
    run(p, &call, "{}", NULL, NULL, 1);
    if (under_valgrind())
        assert_fails(&call, SKH_ERR_NOT_FOUND, "exited with status 127");
    else
        assert_fails(&call, SKH_ERR_INTERNAL, "cannot execute: Exec format error");
    call_release(&call);
    plugin_close(p);
    rm_tmp(dir, file);

    /* A bare name is searched in PATH, fixtures included. */
    char *old = strdup(getenv("PATH"));
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "/nonexistent::%s", fixdir);
    setenv("PATH", path, 1);
    int rc = load_cmd(0, &p, &err, "exec:echo_skill.sh");
    setenv("PATH", old, 1);
    free(old);
    assert_int_equal(rc, SKH_OK);
    assert_string_equal(p->name, "echo_skill_sh");
    plugin_close(p);
}

static void test_name_and_fingerprint(void **state)
{
    (void)state;
    char dir[64], file[PATH_MAX];
    make_tmp(dir, file, "My-Skill.PY", "#!/bin/sh\necho '{}'\n", 0755);
    plugin *p = NULL;
    skh_error err;
    assert_int_equal(load_cmd(0, &p, &err, "exec:%s", file), SKH_OK);
    assert_string_equal(p->name, "my_skill_py");
    plugin_close(p);

    /* sha256 over "<program>\n<each argument that is a file>\n". */
    char sh[65], script[65], text[200], want[65];
    assert_int_equal(sha256_file("/bin/sh", sh, &err), SKH_OK);
    assert_int_equal(sha256_file(file, script, &err), SKH_OK);
    snprintf(text, sizeof text, "%s\n%s\n", sh, script);
    sha256_hex(text, strlen(text), want);
    assert_int_equal(load_cmd(0, &p, &err, "exec:/bin/sh %s --not-a-file", file), SKH_OK);
    assert_string_equal(p->sha256, want);
    plugin_close(p);

    FILE *f = fopen(file, "a");
    assert_non_null(f);
    fputs("# edited\n", f);
    fclose(f);
    assert_int_equal(load_cmd(0, &p, &err, "exec:/bin/sh %s --not-a-file", file), SKH_OK);
    assert_string_not_equal(p->sha256, want);
    plugin_close(p);
    rm_tmp(dir, file);

    char *longname = repeat('A', 70, "", ".sh");
    make_tmp(dir, file, longname, "#!/bin/sh\necho '{}'\n", 0755);
    assert_int_equal(load_cmd(0, &p, &err, "exec:%s", file), SKH_OK);
    assert_int_equal(strlen(p->name), 64);
    assert_int_equal(p->name[0], 'a');
    plugin_close(p);
    rm_tmp(dir, file);
    free(longname);
}

static void test_trust(void **state)
{
    (void)state;
    char dir[64], file[PATH_MAX], cmd[PATH_MAX + 8];
    make_tmp(dir, file, "skill.sh", "#!/bin/sh\necho '{}'\n", 0755);
    snprintf(cmd, sizeof cmd, "exec:%s", file);
    plugin_limits lim;
    plugin_limits_default(&lim);
    plugin *p = NULL;
    skh_error err;
    assert_int_equal(plugin_exec_load(cmd, &lim, &p, &err), SKH_OK);
    plugin_close(p);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(plugin_exec_load(cmd, &lim, &p, &err), SKH_EPLUGIN);
    assert_null(p);
    assert_non_null(strstr(err.message, "writable by others"));
    rm_tmp(dir, file);
}

/* ---- hygiene -------------------------------------------------------------- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_no_fd_leak(void **state)
{
    (void)state;
    skh_error err;
    plugin *ok = NULL;
    assert_int_equal(load_cmd(10000, &ok, &err, "exec:printf {}"), SKH_OK);
    plugin *failing = exec_fixture(10000, "exit_code.sh 3");
    plugin *noread = exec_fixture(10000, "noread.sh");
    char *input = repeat('x', 256 * 1024, "\"", "\"");

    int before = count_fds();
    for (int i = 0; i < 1000; i++) {
        skh_call call;
        plugin *p = i % 50 == 1 ? failing : i % 50 == 2 ? noread : ok;
        run(p, &call, p == noread ? input : "{}", NULL, NULL, 1);
        assert_int_equal(call.category, p == failing ? SKH_ERR_CRASH : SKH_ERR_NONE);
        call_release(&call);
    }
    assert_int_equal(count_fds(), before);

    free(input);
    plugin_close(ok);
    plugin_close(failing);
    plugin_close(noread);
}

int main(void)
{
    snprintf(fixdir, sizeof fixdir, "%s/tests/cli/fixtures", fixture_srcdir());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_steps_and_input),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_error_object_category),
        cmocka_unit_test(test_exit_status_table),
        cmocka_unit_test(test_signal_is_crash),
        cmocka_unit_test(test_bad_json_is_crash),
        cmocka_unit_test(test_output_cap),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_sigpipe_survived),
        cmocka_unit_test(test_chatty_child_no_deadlock),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_name_and_fingerprint),
        cmocka_unit_test(test_trust),
        cmocka_unit_test(test_no_fd_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
