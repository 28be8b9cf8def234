/* main.c: runs every Check suite (CK_FORK stays on: a crash fails one test, not the run).
 * CK_RUN_SUITE / CK_RUN_CASE select a part, as Check documents. */
#include <stdlib.h>

#include "testlib.h"

int main(void)
{
    SRunner *sr = srunner_create(validate_suite());
    srunner_add_suite(sr, dtype_suite());
    srunner_add_suite(sr, ref_suite());
    srunner_add_suite(sr, compare_suite());
    srunner_add_suite(sr, gen_suite());
    srunner_add_suite(sr, io_suite());
    srunner_add_suite(sr, plan_suite());
    srunner_add_suite(sr, cpu_suite());
    srunner_add_suite(sr, gpuhost_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
