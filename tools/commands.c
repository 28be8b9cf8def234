/* commands.c: `deft gen`, `deft run` and `deft check`, the round trip a kernel author makes:
 * generate a case, run a kernel on it (ours or theirs, from any language), judge the output. */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define N_OPTS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const deft_impl *find_impl(const char *cmd, const char *name)
{
    const deft_impl *impl = deft_impl_find(name);
    if (!impl) {
        fprintf(stderr, "deft %s: unknown implementation '%s'; known:", cmd, name);
        for (int i = 0; i < deft_impl_count(); i++) fprintf(stderr, " %s", deft_impl_at(i)->name);
        fprintf(stderr, "\n");
    }
    return impl;
}

int cmd_gen(int argc, char **argv)
{
    tool_opt opts[] = {{"--workload", 0, NULL}, {"--seed", 0, NULL}, {"--dtype", 0, NULL},
                       {"--heads", 0, NULL},    {"--dim", 0, NULL},  {"--out", 0, NULL},
                       {"--no-ref", 1, NULL}};
    int r = tool_parse(argc, argv, opts, N_OPTS(opts), "gen");
    if (r > 0 || (r == 0 && (!tool_get(opts, N_OPTS(opts), "--workload") ||
                             !tool_get(opts, N_OPTS(opts), "--out")))) {
        FILE *f = r > 0 ? stdout : stderr;
        fprintf(f, "usage: deft gen --workload NAME [--seed N] [--dtype f32|f16|bf16] [--heads HQ:HKV]\n"
                   "                [--dim D] [--no-ref] --out DIR\n\n"
                   "Writes a case directory: tree.txt, q.npy, k.npy, v.npy and the reference's out.npy\n"
                   "and lse.npy (natural-log LSE; --no-ref skips them). NAME is fewshot, fewshot50, tot,\n"
                   "specstar, specdec, wide, levels:SPEC or random:SEED. Defaults: seed 0, f32, 32:8, D 128\n"
                   "(random:SEED draws its own shape unless given).\n");
        return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_BAD;
    }
    if (r < 0) return TOOL_EXIT_BAD;
    deft_gen_options g;
    if (tool_gen_options("gen", opts, N_OPTS(opts), &g)) return TOOL_EXIT_BAD;
    const char *spec = tool_get(opts, N_OPTS(opts), "--workload");
    const char *dir = tool_get(opts, N_OPTS(opts), "--out");
    deft_case c;
    deft_diag diag;
    deft_status st = deft_generate(spec, &g, &c, &diag);
    if (st != DEFT_OK) return tool_fail("gen", st, &diag);
    if (!tool_get(opts, N_OPTS(opts), "--no-ref")) {
        st = tool_alloc_output(&c.problem, &c.out, &c.lse, &diag);
        if (st == DEFT_OK) st = deft_ref_attention(&c.problem, c.out, c.lse, &diag);
        if (st != DEFT_OK) {
            deft_case_free(&c);
            return tool_fail("gen", st, &diag);
        }
    }
    st = deft_case_write(dir, &c, &diag);
    if (st == DEFT_OK) {
        printf("wrote %s: ", dir);
        tool_describe(stdout, &c.problem, spec);
        printf("\n");
    }
    deft_case_free(&c);
    return st == DEFT_OK ? TOOL_EXIT_OK : tool_fail("gen", st, &diag);
}

int cmd_run(int argc, char **argv)
{
    tool_opt opts[] = {{"--case", 0, NULL},          {"--impl", 0, NULL},
                       {"--out", 0, NULL},           {"--lse", 0, NULL},
                       {"--chunk-tokens", 0, NULL},  {"--chunk-queries", 0, NULL},
                       {"--threads", 0, NULL}};
    int n = N_OPTS(opts);
    int r = tool_parse(argc, argv, opts, n, "run");
    if (r > 0 || (r == 0 && !tool_get(opts, n, "--case"))) {
        FILE *f = r > 0 ? stdout : stderr;
        fprintf(f, "usage: deft run --case DIR [--impl NAME] [--out FILE] [--lse FILE]\n"
                   "                [--chunk-tokens N] [--chunk-queries N] [--threads N]\n\n"
                   "Runs an implementation (default ref; see deft impls) on a case and writes O\n"
                   "(total_q, Hq, D) and LSE (total_q, Hq; natural log) as float32 .npy files when\n"
                   "asked. Prints the time taken.\n");
        return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_BAD;
    }
    if (r < 0) return TOOL_EXIT_BAD;
    deft_options opt;
    if (tool_run_options("run", opts, n, &opt)) return TOOL_EXIT_BAD;
    const char *name = tool_get(opts, n, "--impl") ? tool_get(opts, n, "--impl") : "ref";
    const deft_impl *impl = find_impl("run", name);
    if (!impl) return TOOL_EXIT_BAD;
    deft_case c;
    deft_diag diag;
    deft_status st = deft_case_read(tool_get(opts, n, "--case"), &c, &diag);
    if (st != DEFT_OK) return tool_fail("run", st, &diag);
    float *o = NULL, *lse = NULL;
    double secs = 0;
    st = tool_run_impl(impl, &c.problem, &opt, &o, &lse, &secs, &diag);
    if (st == DEFT_OK) {
        const deft_problem *p = &c.problem;
        int64_t tq = deft_tree_total_q(&p->tree);
        int64_t shape[3] = {tq, p->shape.hq, p->shape.d};
        const char *out = tool_get(opts, n, "--out"), *lf = tool_get(opts, n, "--lse");
        if (out) st = deft_npy_write(out, "<f4", 3, shape, o, &diag);
        if (st == DEFT_OK && lf) st = deft_npy_write(lf, "<f4", 2, shape, lse, &diag);
        if (st == DEFT_OK) {
            printf("%s on ", impl->name);
            tool_describe(stdout, p, c.workload);
            printf("\n  %.3f ms%s%s%s%s\n", secs * 1e3, out ? ", o -> " : "", out ? out : "",
                   lf ? ", lse -> " : "", lf ? lf : "");
        }
    }
    free(o);
    free(lse);
    deft_case_free(&c);
    return st == DEFT_OK ? TOOL_EXIT_OK : tool_fail("run", st, &diag);
}

