/* demo.c: `deft demo`, the main job on the embedded default workload: generate the
 * tree-of-thoughts step (`tot`), run every registered implementation on it, and judge each one
 * against the reference, printing what was done and how long it took. */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

int cmd_demo(int argc, char **argv)
{
    tool_opt opts[] = {{"--workload", 0, NULL}};
    int r = tool_parse(argc, argv, opts, 1, "demo");
    if (r != 0) {
        FILE *f = r > 0 ? stdout : stderr;
        fprintf(f, "usage: deft demo [--workload NAME]\n\n"
                   "Generates the default workload (tot: a tree-of-thoughts step, Llama-3-8B shape,\n"
                   "f32), runs every implementation that supports it, and checks each against the\n"
                   "reference. Exit 0 when all pass.\n");
        return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_BAD;
    }
    const char *spec = opts[0].value ? opts[0].value : "tot";
    deft_case c;
    deft_diag diag;
    double t0 = tool_now();
    deft_status st = deft_generate(spec, NULL, &c, &diag);
    if (st != DEFT_OK) return tool_fail("demo", st, &diag);
    printf("deft demo: generated ");
    tool_describe(stdout, &c.problem, spec);
    printf(" (%.0f ms)\n", (tool_now() - t0) * 1e3);
    deft_reference ref;
    t0 = tool_now();
    st = deft_reference_compute(&c.problem, &ref, &diag);
    if (st != DEFT_OK) {
        deft_case_free(&c);
        return tool_fail("demo", st, &diag);
    }
    printf("reference (double) and float32 anchor evaluation: %.0f ms\n", (tool_now() - t0) * 1e3);
    int failures = 0;
    for (int i = 0; i < deft_impl_count(); i++) {
        const deft_impl *impl = deft_impl_at(i);
        float *o = NULL, *lse = NULL;
        double secs = 0;
        st = tool_run_impl(impl, &c.problem, NULL, &o, &lse, &secs, &diag);
        if (st == DEFT_ERR_UNSUPPORTED || st == DEFT_ERR_DEVICE) {
            printf("%-8s skipped: %s\n", impl->name, diag.message);
            continue;
        }
        deft_report rep;
        if (st == DEFT_OK) st = deft_compare(&ref, o, lse, NULL, &rep, &diag);
        if (st != DEFT_OK) {
            printf("%-8s error: %s: %s\n", impl->name, deft_status_name(st), diag.message);
            failures++;
        } else {
            printf("%-8s %9.2f ms  %s  max abs err %.2e, error norm ratio %.2e, worst %.2f x tolerance\n",
                   impl->name, secs * 1e3, rep.pass ? "PASS" : "FAIL", rep.max_abs_err,
                   rep.err_norm_ratio, rep.worst_ratio);
            failures += !rep.pass;
        }
        free(o);
        free(lse);
    }
    deft_reference_free(&ref);
    deft_case_free(&c);
    printf("deft demo: %s\n", failures ? "FAILED" : "all implementations match the reference");
    return failures ? TOOL_EXIT_MISMATCH : TOOL_EXIT_OK;
}
