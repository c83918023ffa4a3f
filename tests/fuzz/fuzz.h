/*
 * Shared by the fuzz targets (tests/fuzz/README.md): a throw-away workspace
 * with a Lua skill whose output and breadcrumbs the input controls, so a
 * fuzzed input reaches the scoring and recording path.
 *
 * Every target defines LLVMFuzzerTestOneInput and may define
 * LLVMFuzzerInitialize.  Built with clang's -fsanitize=fuzzer they are
 * libFuzzer targets (scripts/fuzz); built with standalone.c they replay a
 * corpus in `make check` (tests/fuzz/corpus.sh).
 */
#ifndef SKH_TESTS_FUZZ_H
#define SKH_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <skillhost/host.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The folder everything lives in (made once, removed at exit). */
const char *fuzz_dir(void);
/* FOLDER/name, in a static buffer per call site's copy: copy it if you keep it. */
void fuzz_path(char *buf, size_t n, const char *name);
/* Write bytes to a file, replacing it; aborts on failure. */
void fuzz_write(const char *path, const void *data, size_t n);
/* data as a NUL-terminated malloc'd string (NUL bytes inside stay). */
char *fuzz_text(const uint8_t *data, size_t n);

/*
 * A host on FOLDER/ws.db (created once) with the policies in policies_dir
 * (NULL: the source tree's policies/), trust checks off (the folder is the
 * fuzzer's own), and the skill "echo" registered in production: a Lua skill
 * that reports input.steps as breadcrumbs, fails with input.fail as its
 * category when set, and answers input.output (else {"decision": "ham"}).
 */
skh_host *fuzz_host(const char *policies_dir);

#endif
