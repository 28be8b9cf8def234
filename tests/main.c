/* main.c: runs the Check suites (CK_FORK stays on: a crash fails one test, not the run).
 * CK_RUN_SUITE / CK_RUN_CASE select a part, as Check documents. `test_deft cpu` runs the cpu
 * suite alone and `test_deft rest` every other suite: `make check-unit` runs the two at once,
 * one per core (the cpu suite is about half of the whole under the sanitizers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

int main(int argc, char **argv)
{
    const char *part = argc > 1 ? argv[1] : "all";
    if (strcmp(part, "all") && strcmp(part, "cpu") && strcmp(part, "rest")) {
        fprintf(stderr, "usage: test_deft [all | cpu | rest]\n");
        return 2;
    }
    const int cpu = strcmp(part, "rest") != 0, rest = strcmp(part, "cpu") != 0;
    SRunner *sr = srunner_create(NULL);
    if (rest) {
        srunner_add_suite(sr, validate_suite());
        srunner_add_suite(sr, dtype_suite());
        srunner_add_suite(sr, ref_suite());
        srunner_add_suite(sr, compare_suite());
        srunner_add_suite(sr, gen_suite());
        srunner_add_suite(sr, io_suite());
        srunner_add_suite(sr, plan_suite());
    }
    if (cpu) srunner_add_suite(sr, cpu_suite());
    if (rest) srunner_add_suite(sr, gpuhost_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
