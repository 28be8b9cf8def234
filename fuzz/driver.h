/* driver.h: what each harness provides and what the shared driver (driver.c) gives it. Built with
 * afl-clang-fast, driver.c is an AFL++ persistent-mode main; built with plain clang it is a replay
 * main that runs the harness on files and directories (the corpora, a saved crash). */
#ifndef DEFT_FUZZ_DRIVER_H
#define DEFT_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "deft.h"

/* Provided by each harness. */
extern const char fuzz_harness_name[];
/* Once per process, before the fork server starts (environment, plugins, scratch files). */
void fuzz_setup(void);
/* One input, data[0..len) (exactly len bytes allocated, so ASan sees any over-read). Returns
 * normally when the input passed; calls fuzz_fail otherwise. */
void fuzz_one(const uint8_t *data, size_t len);

/* Provided by the driver. */
/* The input being run ("stdin" under AFL++), for messages. */
extern const char *fuzz_input_name;
/* Prints "deft fuzz HARNESS: FAILURE: ..." and the input name to stderr, then aborts (AFL++
 * saves the input as a crash; the replay run dies). */
void fuzz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((noreturn, format(printf, 1, 2)))
#endif
    ;
/* Fails unless st is a known status and diag agrees with it: diag->status == st, a
 * NUL-terminated message, non-empty on failure. what names the call. */
void fuzz_check_status(const char *what, deft_status st, const deft_diag *diag);

#endif
