/* deft.c: the command-line program. Generates cases, runs any registered implementation on them,
 * judges outputs against the reference, and runs the demo. It sits on top of libdeft and uses
 * only the public header. Exit codes: 0 success or pass, 1 mismatch, 2 bad input or usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deft.h"
#include "tool.h"

/* ------------------------------------------------------------------------------------------- */
/* Option parsing shared by the subcommands: every option is --name VALUE or a bare --flag.    */

int tool_parse(int argc, char **argv, tool_opt *opts, int n_opts, const char *cmd)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        int found = 0;
        for (int k = 0; k < n_opts; k++) {
            if (strcmp(a, opts[k].name)) continue;
            found = 1;
            if (opts[k].is_flag) {
                opts[k].value = "1";
            } else if (i + 1 >= argc) {
                fprintf(stderr, "deft %s: %s needs a value\n", cmd, a);
                return -1;
            } else {
                opts[k].value = argv[++i];
            }
        }
        if (!found) {
            fprintf(stderr, "deft %s: unknown argument '%s' (see deft %s --help)\n", cmd, a, cmd);
            return -1;
        }
    }
    return 0;
}

const char *tool_get(const tool_opt *opts, int n_opts, const char *name)
{
    for (int k = 0; k < n_opts; k++)
        if (!strcmp(opts[k].name, name)) return opts[k].value;
    return NULL;
}

int tool_int(const char *cmd, const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "deft %s: %s must be an integer in %lld..%lld, not '%s'\n", cmd, name,
                (long long)lo, (long long)hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int tool_run_options(const char *cmd, const tool_opt *opts, int n, deft_options *opt)
{
    memset(opt, 0, sizeof *opt);
    const char *s;
    int64_t v;
    if ((s = tool_get(opts, n, "--chunk-tokens"))) {
        if (tool_int(cmd, "--chunk-tokens", s, 1, INT32_MAX, &v)) return -1;
        opt->chunk_tokens = v;
    }
    if ((s = tool_get(opts, n, "--chunk-queries"))) {
        if (tool_int(cmd, "--chunk-queries", s, 0, INT32_MAX, &v)) return -1;
        opt->chunk_queries = v;
    }
    if ((s = tool_get(opts, n, "--threads"))) {
        if (tool_int(cmd, "--threads", s, 1, 1024, &v)) return -1;
        opt->threads = (int)v;
    }
    return 0;
}

int tool_gen_options(const char *cmd, const tool_opt *opts, int n, deft_gen_options *g)
{
    deft_gen_options_default(g);
    const char *s;
    int64_t v;
    if ((s = tool_get(opts, n, "--seed"))) {
        if (tool_int(cmd, "--seed", s, 0, INT64_MAX, &v)) return -1;
        g->seed = (uint64_t)v;
    }
    if ((s = tool_get(opts, n, "--dtype"))) {
        deft_dtype t;
        if (deft_dtype_parse(s, &t) != DEFT_OK) {
            fprintf(stderr, "deft %s: --dtype must be f32, f16 or bf16, not '%s'\n", cmd, s);
            return -1;
        }
        g->dtype = (int)t;
    }
    if ((s = tool_get(opts, n, "--heads")) && tool_heads(cmd, s, &g->hq, &g->hkv)) return -1;
    if ((s = tool_get(opts, n, "--dim")) && tool_int(cmd, "--dim", s, 1, 65536, &g->d)) return -1;
    return 0;
}

double tool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tool_fail(const char *cmd, deft_status st, const deft_diag *diag)
{
    fprintf(stderr, "deft %s: %s: %s\n", cmd, deft_status_name(st),
            diag && diag->message[0] ? diag->message : deft_status_str(st));
    return TOOL_EXIT_BAD;
}

/* Reads --heads HQ:HKV. */
int tool_heads(const char *cmd, const char *s, int64_t *hq, int64_t *hkv)
{
    long long a, b;
    char tail;
    if (sscanf(s, "%lld:%lld%c", &a, &b, &tail) != 2 || a < 1 || b < 1 || a > 4096 || b > 4096) {
        fprintf(stderr, "deft %s: --heads wants HQ:HKV (e.g. 32:8), not '%s'\n", cmd, s);
        return -1;
    }
    *hq = a;
    *hkv = b;
    return 0;
}

void tool_describe(FILE *f, const deft_problem *p, const char *name)
{
    int64_t tq = deft_tree_total_q(&p->tree), kv = 0;
    for (int64_t i = 0; i < p->tree.n_nodes; i++) kv += p->tree.kv_len[i];
    fprintf(f, "%s: %lld nodes, %lld KV tokens, %lld queries, heads %lld:%lld, D %lld, %s, scale %.6g",
            name && *name ? name : "case", (long long)p->tree.n_nodes, (long long)kv, (long long)tq,
            (long long)p->shape.hq, (long long)p->shape.hkv, (long long)p->shape.d,
            deft_dtype_name(p->shape.dtype), deft_shape_scale(&p->shape));
}

/* Allocates o (total_q, hq, d) and lse (total_q, hq), poisoned with NaN so that an element an
 * implementation forgets to write cannot pass the check. */
deft_status tool_alloc_output(const deft_problem *p, float **o, float **lse, deft_diag *diag)
{
    size_t rows = (size_t)deft_tree_total_q(&p->tree) * (size_t)p->shape.hq;
    size_t n = rows * (size_t)p->shape.d;
    *o = malloc((n ? n : 1) * sizeof **o);
    *lse = malloc((rows ? rows : 1) * sizeof **lse);
    if (!*o || !*lse) {
        free(*o);
        free(*lse);
        *o = *lse = NULL;
        if (diag) snprintf(diag->message, sizeof diag->message, "out of memory for the output");
        return DEFT_ERR_NO_MEMORY;
    }
    uint32_t nan_bits = 0x7fc00bad;
    for (size_t i = 0; i < n; i++) memcpy(&(*o)[i], &nan_bits, 4);
    for (size_t i = 0; i < rows; i++) memcpy(&(*lse)[i], &nan_bits, 4);
    return DEFT_OK;
}

/* Runs impl on p into fresh, poisoned o and lse; *seconds gets the wall time of the run. */
deft_status tool_run_impl(const deft_impl *impl, const deft_problem *p, const deft_options *opt,
                          float **o, float **lse, double *seconds, deft_diag *diag)
{
    deft_status st = deft_impl_supports(impl, p, diag);
    if (st != DEFT_OK) return st;
    if ((st = tool_alloc_output(p, o, lse, diag)) != DEFT_OK) return st;
    double t0 = tool_now();
    st = deft_impl_run(impl, p, opt, *o, *lse, diag);
    if (seconds) *seconds = tool_now() - t0;
    if (st != DEFT_OK) {
        free(*o);
        free(*lse);
        *o = *lse = NULL;
    }
    return st;
}

static int usage(FILE *f)
{
    fprintf(f,
            "deft: exact tree attention and DeFT (Decoding with Flash Tree-attention)\n"
            "\n"
            "usage: deft COMMAND [options]   (deft COMMAND --help for each)\n"
            "\n"
            "  gen     write a case directory: a workload's tree, inputs and the reference output\n"
            "  run     run an implementation on a case\n"
            "  check   judge an output (a file, or an implementation's) against the reference\n"
            "  demo    run the main job on the embedded default workload\n"
            "  plan    show DeFT's plan for a tree: chunks, reduction map, IO against the alternatives\n"
            "  explain walk one tree through DeFT step by step, with its numbers and pictures\n"
            "  bench   time implementations on workloads against bandwidth and sgemm probes\n"
            "  impls   list the implementations\n"
            "\n"
            "Exit status: 0 success (check: pass), 1 check mismatch, 2 bad input or usage.\n"
            "Docs: docs/semantics.md, docs/formats.md, docs/validation.md.\n");
    return f == stderr ? TOOL_EXIT_BAD : TOOL_EXIT_OK;
}

static int cmd_impls(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        printf("usage: deft impls\n\nLists the registered implementations (for --impl).\n");
        return TOOL_EXIT_OK;
    }
    for (int i = 0; i < deft_impl_count(); i++)
        printf("%-10s %s\n", deft_impl_at(i)->name, deft_impl_at(i)->summary);
    return TOOL_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) return usage(stdout);
    if (!strcmp(cmd, "gen")) return cmd_gen(argc - 2, argv + 2);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "check")) return cmd_check(argc - 2, argv + 2);
    if (!strcmp(cmd, "demo")) return cmd_demo(argc - 2, argv + 2);
    if (!strcmp(cmd, "impls")) return cmd_impls(argc - 2, argv + 2);
    if (!strcmp(cmd, "plan")) return cmd_plan(argc - 2, argv + 2);
    if (!strcmp(cmd, "explain")) return cmd_explain(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    fprintf(stderr, "deft: unknown command '%s'\n\n", cmd);
    return usage(stderr);
}
