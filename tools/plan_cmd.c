/* plan_cmd.c: `deft plan`, DeFT's phase 1 made visible: the chunks after KV-guided grouping and
 * flattened splitting, the reduction map, and the IO accounting of DeFT against
 * sequence-based and tree-mask attention. */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static void print_io_row(const char *name, const deft_io_row *r, double deft_total)
{
    double mb = 1e6, t = deft_io_total(r);
    printf("%-16s %10.2f %9.2f %10.2f %9.2f %9.2f %11.2f %8.2fx\n", name, r->kv_read / mb,
           r->q_read / mb, (r->partial_write + r->partial_read) / mb, r->mask_read / mb,
           r->out_write / mb, t / mb, t / deft_total);
}

void tool_print_io(const deft_io *io)
{
    printf("IO (MB)             KV read    Q read   partials      mask       out       total  vs DeFT\n");
    double d = deft_io_total(&io->deft);
    print_io_row("DeFT", &io->deft, d);
    print_io_row("sequence-based", &io->seq, d);
    print_io_row("tree mask", &io->mask, d);
    printf("visible (query, head, token) triples: %.0f\n", io->visible_pairs);
}

int cmd_plan(int argc, char **argv)
{
    tool_opt opts[] = {{"--workload", 0, NULL},      {"--case", 0, NULL},
                       {"--chunk-tokens", 0, NULL},  {"--chunk-queries", 0, NULL},
                       {"--limit", 0, NULL},         {"--heads", 0, NULL},
                       {"--dim", 0, NULL},           {"--dtype", 0, NULL}};
    int n = (int)(sizeof opts / sizeof opts[0]);
    int r = tool_parse(argc, argv, opts, n, "plan");
    int have_w = tool_get(opts, n, "--workload") != NULL, have_c = tool_get(opts, n, "--case") != NULL;
    if (r > 0 || (r == 0 && have_w == have_c)) {
        FILE *f = r > 0 ? stdout : stderr;
        fprintf(f, "usage: deft plan (--workload NAME | --case DIR) [--chunk-tokens N] [--chunk-queries N]\n"
                   "                 [--limit N] [--heads HQ:HKV] [--dim D] [--dtype T]\n\n"
                   "Builds DeFT's plan for a tree and prints it: each chunk (node, tokens, KV rows, the\n"
                   "queries that read it; q(v) sees only the first v tokens), each query's reduction map,\n"
                   "and the bytes DeFT, sequence-based and tree-mask attention move. --limit caps the\n"
                   "listed lines (default 40; 0 lists all). The plan is verified before printing.\n");
        return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_BAD;
    }
    if (r < 0) return TOOL_EXIT_BAD;
    deft_options opt;
    deft_gen_options g;
    int64_t limit = 40;
    const char *s;
    if (tool_run_options("plan", opts, n, &opt) || tool_gen_options("plan", opts, n, &g))
        return TOOL_EXIT_BAD;
    if ((s = tool_get(opts, n, "--limit")) && tool_int("plan", "--limit", s, 0, INT64_MAX, &limit))
        return TOOL_EXIT_BAD;
    deft_case c;
    deft_diag diag;
    deft_status st;
    if (have_c) {
        st = deft_case_read(tool_get(opts, n, "--case"), &c, &diag);
    } else {
        /* the IO table needs a shape: the standard one (32:8, D 128) unless asked */
        if (!g.hq) g.hq = 32, g.hkv = 8;
        if (!g.d) g.d = 128;
        st = deft_generate(tool_get(opts, n, "--workload"), &g, &c, &diag);
    }
    if (st != DEFT_OK) return tool_fail("plan", st, &diag);
    /* the build time printed is the median of five after a first, cold one */
    deft_plan pl;
    double times[5], build = 0;
    st = deft_plan_build(&c.problem.tree, &opt, &pl, &diag);
    for (int rep = 0; rep < 5 && st == DEFT_OK; rep++) {
        deft_plan_free(&pl);
        double t0 = tool_now();
        st = deft_plan_build(&c.problem.tree, &opt, &pl, &diag);
        times[rep] = tool_now() - t0;
    }
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            if (times[b] < times[a]) {
                double x = times[a];
                times[a] = times[b];
                times[b] = x;
            }
    build = times[2];
    if (st == DEFT_OK) st = deft_plan_verify(&pl, &c.problem.tree, &diag);
    deft_io io;
    if (st == DEFT_OK) st = deft_io_account(&c.problem.tree, &c.problem.shape, &pl, &io, &diag);
    if (st == DEFT_OK) {
        tool_describe(stdout, &c.problem, c.workload);
        printf("\nbuilt in %.3f ms (median of 5), verified: every visible (query, token) pair in exactly one chunk\n",
               build * 1e3);
        deft_plan_print(&pl, stdout, limit);
        tool_print_io(&io);
    }
    deft_plan_free(&pl);
    deft_case_free(&c);
    return st == DEFT_OK ? TOOL_EXIT_OK : tool_fail("plan", st, &diag);
}
