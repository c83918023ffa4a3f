/*
 * A main() for the fuzz targets without libFuzzer: run each file named on
 * the command line (or every file in each folder named) through
 * LLVMFuzzerTestOneInput once.  `make check` replays the committed corpus
 * this way (tests/fuzz/corpus.sh), under ASan/UBSan and valgrind in CI, so
 * every input the fuzzer ever kept, and every crash it found, stays a test.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    /* An exact-size copy, so ASan and valgrind see a read past the end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return 1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int failed = 0, ran = 0;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            perror(argv[i]);
            failed++;
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) {
            failed += run_file(argv[i]);
            ran++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        char **names = NULL;
        size_t nn = 0;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char **grown = realloc(names, (nn + 1) * sizeof *names);
            if (!grown)
                break;
            names = grown;
            size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
            if (!(names[nn] = malloc(len)))
                break;
            snprintf(names[nn++], len, "%s/%s", argv[i], e->d_name);
        }
        if (d)
            closedir(d);
        qsort(names, nn, sizeof *names, cmp);
        for (size_t k = 0; k < nn; k++) {
            failed += run_file(names[k]);
            ran++;
            free(names[k]);
        }
        free(names);
    }
    printf("%d inputs run, %d unreadable\n", ran, failed);
    return failed != 0;
}
