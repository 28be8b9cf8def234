/* driver.c: the main() every harness shares. Under afl-clang-fast (__AFL_COMPILER) it is an AFL++
 * persistent-mode loop over shared-memory test cases; otherwise a replay program that runs the
 * harness on each file named (directories: every file inside, in name order), which is how the
 * corpora and saved crashes are replayed as regression tests. After each input, a growth of the
 * heap triggers a leak check, so a leak is a failure of that input, not of the process. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if !defined(FUZZ_ASAN) && defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/allocator_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

const char *fuzz_input_name = "stdin";

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "deft fuzz %s: FAILURE: ", fuzz_harness_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  input: %s\n", fuzz_input_name);
    fflush(stderr);
    abort();
}

void fuzz_check_status(const char *what, deft_status st, const deft_diag *diag)
{
    if ((int)st < 0 || st >= DEFT_STATUS_COUNT) fuzz_fail("%s returned unknown status %d", what, (int)st);
    if (!memchr(diag->message, 0, sizeof diag->message))
        fuzz_fail("%s: diagnostic message not NUL-terminated", what);
    if (diag->status != st)
        fuzz_fail("%s returned %s but its diagnostic says %s (%s)", what, deft_status_name(st),
                  deft_status_name(diag->status), diag->message);
    if (st != DEFT_OK && !diag->message[0])
        fuzz_fail("%s returned %s with an empty diagnostic", what, deft_status_name(st));
}

/* Runs the harness on a private copy of exactly len bytes, then checks for leaks. */
static void run_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) fuzz_fail("driver: out of memory for a %zu-byte input", len);
    if (len) memcpy(copy, data, len);
#ifdef FUZZ_ASAN
    size_t before = __sanitizer_get_current_allocated_bytes();
#endif
    fuzz_one(copy, len);
#ifdef FUZZ_ASAN
    /* lazily created globals (stdio buffers, BLAS state) grow the heap too: only an unreachable
     * block is a leak, and the full check runs only when the heap grew */
    if (__sanitizer_get_current_allocated_bytes() > before && __lsan_do_recoverable_leak_check())
        fuzz_fail("memory leaked (LeakSanitizer's report above)");
#endif
    free(copy);
}

#ifdef __AFL_COMPILER

__AFL_FUZZ_INIT();

int main(void)
{
    fuzz_setup();
    __AFL_INIT();
    const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000)) run_one(buf, __AFL_FUZZ_TESTCASE_LEN);
    return 0;
}

#else

#ifdef FUZZ_ASAN
static void name_input_on_death(void)
{
    fprintf(stderr, "deft fuzz %s: died on input %s\n", fuzz_harness_name, fuzz_input_name);
}
#endif

/* Reads a whole file; returns 0 on success. */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

static int replay_file(const char *path, long *count)
{
    uint8_t *data;
    size_t len;
    if (read_file(path, &data, &len)) {
        fprintf(stderr, "replay_%s: cannot read %s: %s\n", fuzz_harness_name, path, strerror(errno));
        return -1;
    }
    fuzz_input_name = path;
    run_one(data, len);
    free(data);
    (*count)++;
    return 0;
}

/* Hidden files and README* in a corpus directory are not inputs. */
static int is_input(const struct dirent *e)
{
    return e->d_name[0] != '.' && strncmp(e->d_name, "README", 6) != 0;
}

static int replay_path(const char *path, long *count)
{
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "replay_%s: %s: %s\n", fuzz_harness_name, path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return replay_file(path, count);
    struct dirent **list;
    int n = scandir(path, &list, is_input, alphasort), bad = n < 0;
    for (int i = 0; i < n; i++) {
        size_t sz = strlen(path) + strlen(list[i]->d_name) + 2;
        char *full = malloc(sz);
        if (!full) bad = 1;
        else {
            snprintf(full, sz, "%s/%s", path, list[i]->d_name);
            struct stat fs;
            if (!stat(full, &fs) && S_ISREG(fs.st_mode) && replay_file(full, count)) bad = 1;
            free(full);
        }
        free(list[i]);
    }
    if (n >= 0) free(list);
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: replay_%s [FILE | DIR]...\n\nRuns the %s harness on each file (a directory: "
               "every file in it); no argument: stdin.\nExit 0 when every input passes; a failing "
               "input aborts with its name.\n", fuzz_harness_name, fuzz_harness_name);
        return 0;
    }
#ifdef FUZZ_ASAN
    __sanitizer_set_death_callback(name_input_on_death);
#endif
    fuzz_setup();
    long count = 0;
    int bad = 0;
    if (argc == 1) {
        uint8_t *data;
        size_t len;
        if (read_file("/dev/stdin", &data, &len)) {
            fprintf(stderr, "replay_%s: cannot read stdin\n", fuzz_harness_name);
            return 2;
        }
        run_one(data, len);
        free(data);
        count = 1;
    }
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count)) bad = 1;
    printf("replay_%s: %ld inputs passed\n", fuzz_harness_name, count);
    return bad ? 2 : 0;
}

#endif
