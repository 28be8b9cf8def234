/* bench.c: `deft bench`, performance as numbers. Per workload and implementation: the median time,
 * the plan-build time on its own, unique bytes and achieved GB/s, visible (query, head, token)
 * triples and achieved GFLOP/s, and the floor (../shared/workloads.md) from a memory-copy probe and
 * an sgemm probe measured in the same run, as a ratio. A benchmark, not a test: it judges nothing
 * unless --check is given. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Memory bandwidth: both cores copy halves of a 256 MB buffer (8x the L3); bytes read plus
 * written over the median time. */
static double probe_copy(int reps)
{
    size_t n = (size_t)256 << 20;
    char *src = malloc(n), *dst = malloc(n);
    if (!src || !dst) {
        free(src), free(dst);
        return 0;
    }
    memset(src, 1, n);
    memset(dst, 2, n);
    double *t = malloc((size_t)reps * sizeof *t);
    for (int r = 0; r < reps; r++) {
        double t0 = tool_now();
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (int part = 0; part < 64; part++)
                memcpy(dst + (size_t)part * (n / 64), src + (size_t)part * (n / 64), n / 64);
        }
        t[r] = tool_now() - t0;
    }
    double bw = 2.0 * (double)n / median(t, reps);
    free(src), free(dst), free(t);
    return bw;
}

/* sgemm rate: a 2048^3 single-precision product through OpenBLAS on all cores. */
static double probe_sgemm(int reps)
{
    int n = 2048;
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 7) - 3, b[i] = (float)(i % 5) - 2;
    double *t = malloc((size_t)reps * sizeof *t);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int r = 0; r < reps; r++) {
        double t0 = tool_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[r] = tool_now() - t0;
    }
    double rate = 2.0 * n * (double)n * n / median(t, reps);
    free(a), free(b), free(c), free(t);
    return rate;
}

/* Splits a comma-separated list in place; returns the count (at most max). */
static int split(char *s, char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) out[n++] = tok;
    return n;
}

typedef struct {
    int reps, check;
    deft_gen_options gen;
    deft_options opt;
} bench_cfg;

/* The bytes that must move: each KV token once per KV head (K and V), each query once, each
 * output once (O in float32), with the inputs' element size. */
static double floor_bytes(const deft_problem *p)
{
    double e = (double)deft_dtype_size(p->shape.dtype), kv = 0;
    for (int64_t i = 0; i < p->tree.n_nodes; i++) kv += (double)p->tree.kv_len[i];
    double tq = (double)deft_tree_total_q(&p->tree);
    return 2.0 * kv * (double)p->shape.hkv * (double)p->shape.d * e +
           tq * (double)p->shape.hq * (double)p->shape.d * (e + 4.0);
}

/* The median time to build the very plan impl runs with (its own chunk size), in ms, as text;
 * "-" for an implementation without a plan. t: scratch for reps times. */
static void plan_time(const deft_impl *impl, const deft_problem *p, const deft_options *opt,
                      double *t, int reps, char *out, size_t n)
{
    deft_options po;
    deft_diag diag;
    snprintf(out, n, "-");
    if (deft_impl_plan_options(impl, p, opt, &po, &diag) != DEFT_OK) return;
    for (int r = 0; r < reps; r++) {
        deft_plan pl;
        double t0 = tool_now();
        deft_status st = deft_plan_build(&p->tree, &po, &pl, &diag);
        t[r] = tool_now() - t0;
        deft_plan_free(&pl);
        if (st != DEFT_OK) return;
    }
    snprintf(out, n, "%.3f", median(t, reps) * 1e3);
}

static int bench_workload(const char *spec, char **impls, int n_impls, const bench_cfg *cfg,
                          double copy_bw, double sgemm_rate)
{
    deft_case c;
    deft_diag diag;
    deft_status st = deft_generate(spec, &cfg->gen, &c, &diag);
    if (st != DEFT_OK) return tool_fail("bench", st, &diag);
    const deft_problem *p = &c.problem;
    double bytes = floor_bytes(p);
    double triples = (double)deft_tree_visible_pairs(&p->tree) * (double)p->shape.hq;
    double flops = 4.0 * (double)p->shape.d * triples;
    double floor_s = bytes / copy_bw > flops / sgemm_rate ? bytes / copy_bw : flops / sgemm_rate;
    double *t = malloc((size_t)cfg->reps * sizeof *t);
    deft_reference ref;
    memset(&ref, 0, sizeof ref);
    if (cfg->check && (st = deft_reference_compute(p, &ref, &diag)) != DEFT_OK) {
        free(t);
        deft_case_free(&c);
        return tool_fail("bench", st, &diag);
    }
    double seq_ms = 0, cpu_ms = 0;
    int code = TOOL_EXIT_OK;
    for (int i = 0; i < n_impls; i++) {
        const deft_impl *impl = deft_impl_find(impls[i]);
        if (!impl) {
            fprintf(stderr, "deft bench: unknown implementation '%s'\n", impls[i]);
            code = TOOL_EXIT_BAD;
            continue;
        }
        float *o = NULL, *lse = NULL;
        double secs = 0;
        /* one warm-up run, then the timed repetitions */
        st = tool_run_impl(impl, p, &cfg->opt, &o, &lse, &secs, &diag);
        const char *verdict = "";
        if (st == DEFT_OK && cfg->check) {
            deft_report rep;
            deft_compare(&ref, o, lse, NULL, &rep, &diag);
            verdict = rep.pass ? "  PASS" : "  FAIL";
            if (!rep.pass) code = TOOL_EXIT_MISMATCH;
        }
        for (int r = 0; r < cfg->reps && st == DEFT_OK; r++) {
            double t0 = tool_now();
            st = deft_impl_run(impl, p, &cfg->opt, o, lse, &diag);
            t[r] = tool_now() - t0;
        }
        free(o), free(lse);
        if (st != DEFT_OK) {
            printf("%-10s %-8s %s: %s\n", spec, impl->name, deft_status_name(st), diag.message);
            if (st != DEFT_ERR_UNSUPPORTED && st != DEFT_ERR_DEVICE) code = TOOL_EXIT_BAD;
            continue;
        }
        double s = median(t, cfg->reps);
        char plan_col[32];
        plan_time(impl, p, &cfg->opt, t, cfg->reps, plan_col, sizeof plan_col);
        printf("%-10s %-8s %10.2f %8s %9.1f %8.2f %10.1f %8.1f %9.2f %8.2fx%s\n", spec, impl->name,
               s * 1e3, plan_col, bytes / 1e6, bytes / s / 1e9, triples / 1e6, flops / s / 1e9,
               floor_s * 1e3, s / floor_s, verdict);
        if (!strcmp(impl->name, "cpu")) cpu_ms = s;
        if (!strcmp(impl->name, "cpu-seq")) seq_ms = s;
        fflush(stdout);
    }
    if (cpu_ms > 0 && seq_ms > 0) printf("%-10s cpu is %.2fx faster than cpu-seq\n", spec, seq_ms / cpu_ms);
    free(t);
    deft_reference_free(&ref);
    deft_case_free(&c);
    return code;
}

int cmd_bench(int argc, char **argv)
{
    tool_opt opts[] = {{"--impl", 0, NULL},         {"--workload", 0, NULL}, {"--reps", 0, NULL},
                       {"--dtype", 0, NULL},        {"--heads", 0, NULL},    {"--dim", 0, NULL},
                       {"--chunk-tokens", 0, NULL}, {"--chunk-queries", 0, NULL},
                       {"--threads", 0, NULL},      {"--check", 1, NULL}};
    int n = (int)(sizeof opts / sizeof opts[0]);
    int r = tool_parse(argc, argv, opts, n, "bench");
    if (r > 0 || (r == 0 && (!tool_get(opts, n, "--impl") || !tool_get(opts, n, "--workload")))) {
        FILE *f = r > 0 ? stdout : stderr;
        fprintf(f, "usage: deft bench --impl LIST --workload LIST [--reps N] [--dtype T] [--heads HQ:HKV]\n"
                   "                  [--dim D] [--chunk-tokens N] [--chunk-queries N] [--threads N] [--check]\n\n"
                   "Times each implementation on each workload (comma-separated lists) and prints the\n"
                   "median of N runs (default 5) after one warm-up; the time to build the plan that\n"
                   "implementation runs with, alone (the run's time includes it; '-' without a plan);\n"
                   "unique bytes and GB/s; visible (query, head, token) triples and GFLOP/s (4 D flops\n"
                   "each); and the floor: max(bytes / copy bandwidth, flops / sgemm rate), both probed\n"
                   "in the same run. --check also judges each output.\n");
        return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_BAD;
    }
    if (r < 0) return TOOL_EXIT_BAD;
    bench_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    int64_t v;
    const char *s;
    cfg.reps = 5;
    if ((s = tool_get(opts, n, "--reps"))) {
        if (tool_int("bench", "--reps", s, 1, 1000, &v)) return TOOL_EXIT_BAD;
        cfg.reps = (int)v;
    }
    if (tool_gen_options("bench", opts, n, &cfg.gen) || tool_run_options("bench", opts, n, &cfg.opt))
        return TOOL_EXIT_BAD;
    cfg.check = tool_get(opts, n, "--check") != NULL;
    char *impl_list = strdup(tool_get(opts, n, "--impl"));
    char *work_list = strdup(tool_get(opts, n, "--workload"));
    char *impls[32], *works[64];
    int ni = split(impl_list, impls, 32), nw = split(work_list, works, 64);
    double bw = probe_copy(cfg.reps > 3 ? cfg.reps : 3), rate = probe_sgemm(cfg.reps > 3 ? cfg.reps : 3);
    printf("probes: memory copy %.1f GB/s (read + written), sgemm %.1f GFLOP/s; %d reps, median\n",
           bw / 1e9, rate / 1e9, cfg.reps);
    printf("%-10s %-8s %10s %8s %9s %8s %10s %8s %9s %9s\n", "workload", "impl", "median ms",
           "plan ms", "bytes MB", "GB/s", "triples M", "GFLOP/s", "floor ms", "x floor");
    int code = TOOL_EXIT_OK;
    for (int w = 0; w < nw; w++) {
        int c = bench_workload(works[w], impls, ni, &cfg, bw, rate);
        if (c > code) code = c;
    }
    free(impl_list), free(work_list);
    return code;
}
