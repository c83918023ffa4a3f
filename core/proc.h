/*
 * Running a child program with a deadline (internal): the one runner under
 * exec skills (plugin_exec.c) and hook commands (hooks.c).
 *
 * The program runs without a shell, in its own process group, with default
 * signal dispositions, an empty signal mask and only its pipes open.  Its
 * stdin is fed from memory in the same poll() loop that reads its output,
 * so a program that writes a lot before it reads cannot deadlock against
 * the host, and the SIGPIPE a program that does not read its input would
 * raise is kept away from the host.
 *
 * Nothing it starts outlives the run: when the run ends (exit, deadline or
 * a sink's stop) the whole process group is killed, so a background child
 * left holding a pipe or sleeping goes too; a host that is a child
 * subreaper (the skillhost CLI) also kills what escaped the group with
 * setsid and was adopted by it; and the program gets PR_SET_PDEATHSIG
 * (SIGKILL), so it dies with the host even when the host is killed with
 * SIGKILL.
 */
#ifndef SKH_CORE_PROC_H
#define SKH_CORE_PROC_H

#include <stddef.h>

/* A chunk of output.  0 goes on; non-zero stops reading that pipe and kills the group. */
typedef int (*proc_sink)(void *arg, const char *data, size_t len);

typedef struct proc_options {
    const char *program; /* the file to execute, already resolved */
    char *const *argv;   /* NULL-terminated; argv[0] as the user wrote it */
    char *const *envp;
    const char *input; /* written to stdin, then end of file */
    size_t input_len;
    int timeout_ms;
    proc_sink on_stdout; /* NULL: read and dropped */
    proc_sink on_stderr; /* NULL: read and dropped; unused with merge_stderr */
    void *arg;           /* handed to both sinks */
    int merge_stderr;    /* stderr goes to the stdout pipe, so lines interleave as written */
    /*
     * 0: the run lasts until both outputs reach end of file and the program
     *    has exited, so nothing it writes is missed;
     * 1: it ends when the program exits; what it or a child still writes
     *    is read for a short grace period (100 ms) and then the group is
     *    killed: a background child left holding the pipes does not keep
     *    the run going until the deadline.
     */
    int until_exit;
} proc_options;

enum { PROC_KILLED_TIMEOUT = 1, PROC_KILLED_BY_SINK = 2 };

typedef struct proc_result {
    int status; /* the waitpid() status, when reaped == 1 */
    int reaped; /* 1, or -1 when the exit status was lost (SIGCHLD ignored) */
    int killed; /* 0, or PROC_KILLED_*: why the group was killed, the first reason */
} proc_result;

/* 0 with *res filled, or an errno value when the program could not be started. */
int proc_run(const proc_options *o, proc_result *res);

/*
 * The first executable regular file called name in $PATH, as execvp would
 * find it (an empty entry is the current folder).  0 with *out malloc'd,
 * ENOENT, or ENOMEM.
 */
int proc_search_path(const char *name, char **out);

/*
 * The host's environment without the variables that start with one of
 * drop[] ("NAME="), followed by the non-NULL entries of add[].  The array
 * is calloc'd (free it, not its strings); NULL when out of memory.
 */
char **proc_env(const char *const drop[], size_t ndrop, char *const add[], size_t nadd);

#endif
