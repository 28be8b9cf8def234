/* test_gpu.c: the GPU paths ("gpu", version 2, and "gpu-simple", version 1) against the reference
 * (deft_reference_compute + deft_compare, default tolerance) and against the CPU path, on seeded
 * random forests, random big topologies (the stress run), every standard workload at small shapes
 * and at the full Llama shape, planted NaN/Inf in hidden tokens, and the device-pointer API.
 * Outputs are NaN-poisoned before each run (on the host, and on the device by deft_gpu_run), so an
 * unwritten element fails; a second run must give the same bits. A case a path declines
 * (DEFT_ERR_UNSUPPORTED) is counted and printed as skipped, never as passed.
 *
 * usage: test_gpu [--quick | --sanitize] [--only SECTION] [--seeds N] [--stress N] [--no-full-shape]
 *                 [--verbose]
 *   (default)   the whole set (`make gpu-test`)
 *   --quick     a small set (`make test` runs it; it is what CI sees: "skipped" without a GPU)
 *   --sanitize  a representative subset small enough for compute-sanitizer
 *   --only S    one section of the mode's set (api, random, nonfinite, scales, drafts, levels,
 *               workloads, streamed, steps, late_first, first_params, few_blocks, small_warps,
 *               stress): a section the mode does not run fails ("no case ran")
 * No device: prints "GPU tests: skipped: <reason>" and exits 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft.h"
#include "../gpu/gpu.h"
#include "../gpu/gpu_geom.h"

#ifndef DEFT_NO_CUDA
#include <cuda_runtime_api.h>
#endif

typedef struct {
    const char *name;
    deft_status (*supports)(const deft_problem *, deft_diag *);
    deft_status (*run)(const deft_problem *, const deft_options *, float *, float *, deft_diag *);
    int pass, skip, fail;
} path;

static path paths[2] = {
    {"gpu", deft_gpu_supports, deft_gpu_run, 0, 0, 0},
    {"gpu-simple", deft_gpu_simple_supports, deft_gpu_simple_run, 0, 0, 0},
};
enum { P_GPU = 1, P_SIMPLE = 2, P_BOTH = 3 };

static int verbose = 0, other_fail = 0, other_pass = 0;
static double max_gpu_cpu = 0.0; /* largest |gpu - cpu| over compared elements, for the summary */
static int cpu_compared = 0;

/* ---- small helpers ---- */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int64_t rng_below(uint64_t *s, int64_t n)
{
    return n <= 1 ? 0 : (int64_t)(rng_next(s) % (uint64_t)n);
}

static void describe(const deft_case *c, const deft_options *opt, char *buf, size_t len)
{
    const deft_problem *p = &c->problem;
    const char *step = getenv("DEFT_GPU_STEP"); /* steps() sets it */
    char tag[48] = "";
    if (step && *step) snprintf(tag, sizeof tag, " DEFT_GPU_STEP=%.16s", step);
    snprintf(buf, len, "%s%s: %s D=%lld hq=%lld hkv=%lld nodes=%lld kv=%lld q=%lld%s chunk_tokens=%lld chunk_queries=%lld",
             c->workload[0] ? c->workload : "(custom)", tag, deft_dtype_name(p->shape.dtype),
             (long long)p->shape.d, (long long)p->shape.hq, (long long)p->shape.hkv,
             (long long)p->tree.n_nodes, (long long)p->tree.total_kv,
             (long long)deft_tree_total_q(&p->tree), p->tree.kv_offset ? " offsets" : "",
             (long long)(opt ? opt->chunk_tokens : 0), (long long)(opt ? opt->chunk_queries : 0));
}

static void poison(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

/* Runs every path in `mask` on c: skip on DEFT_ERR_UNSUPPORTED, else judge against the reference
 * (computed once, on first need), and check a second run for identical bits when `twice`.
 * With_cpu also runs "cpu" and records the largest |gpu - cpu|. Returns the number of failures. */
static int check_case(deft_case *c, const deft_options *opt, int mask, int twice, int with_cpu,
                      int expect_nonfinite)
{
    const deft_problem *p = &c->problem;
    char desc[400];
    describe(c, opt, desc, sizeof desc);
    size_t no = (size_t)deft_tree_total_q(&p->tree) * (size_t)p->shape.hq * (size_t)p->shape.d;
    size_t nl = (size_t)deft_tree_total_q(&p->tree) * (size_t)p->shape.hq;
    float *o = malloc((no ? no : 1) * sizeof *o), *lse = malloc((nl ? nl : 1) * sizeof *lse);
    float *o2 = malloc((no ? no : 1) * sizeof *o2), *lse2 = malloc((nl ? nl : 1) * sizeof *lse2);
    deft_reference ref;
    int have_ref = 0, fails = 0;
    deft_diag diag;
    float *gpu_o = NULL;
    if (!o || !lse || !o2 || !lse2) {
        printf("FAIL (out of host memory) %s\n", desc);
        free(o), free(lse), free(o2), free(lse2);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        path *pa = &paths[i];
        if (!(mask & (1 << i))) continue;
        deft_status st = pa->supports(p, &diag);
        if (st == DEFT_ERR_UNSUPPORTED) {
            pa->skip++;
            printf("skip %s %s: %s\n", pa->name, desc, diag.message);
            continue;
        }
        if (!have_ref) {
            if ((st = deft_reference_compute(p, &ref, &diag)) != DEFT_OK) {
                printf("FAIL reference %s: %s\n", desc, diag.message);
                fails++;
                break;
            }
            have_ref = 1;
        }
        poison(o, no), poison(lse, nl);
        st = pa->run(p, opt, o, lse, &diag);
        if (st != DEFT_OK) {
            pa->fail++, fails++;
            printf("FAIL %s %s: %s: %s\n", pa->name, desc, deft_status_name(st), diag.message);
            continue;
        }
        deft_report rep;
        deft_compare(&ref, o, lse, NULL, &rep, &diag);
        int ok = rep.pass;
        if (ok && expect_nonfinite && rep.rows_nonfinite == 0) {
            printf("FAIL %s %s: no row read the planted non-finite values\n", pa->name, desc);
            ok = 0;
        }
        if (ok && twice) {
            poison(o2, no), poison(lse2, nl);
            st = pa->run(p, opt, o2, lse2, &diag);
            if (st != DEFT_OK || memcmp(o, o2, no * sizeof *o) || memcmp(lse, lse2, nl * sizeof *lse)) {
                printf("FAIL %s %s: a second run gave different bits (%s)\n", pa->name, desc,
                       deft_status_name(st));
                ok = 0;
            }
        }
        if (ok) {
            pa->pass++;
            if (verbose) printf("pass %s %s: worst %.3g x tolerance, %lld non-finite rows\n", pa->name,
                                desc, rep.worst_ratio, (long long)rep.rows_nonfinite);
        } else {
            pa->fail++, fails++;
            if (!rep.pass) {
                printf("FAIL %s %s\n", pa->name, desc);
                deft_report_print(&rep, stdout);
            }
        }
        if (i == 0 || !gpu_o) { /* keep the first path's output for the cpu comparison */
            free(gpu_o);
            gpu_o = malloc((no ? no : 1) * sizeof *gpu_o);
            if (gpu_o) memcpy(gpu_o, o, no * sizeof *o);
        }
    }
    const deft_impl *cpu = with_cpu && gpu_o && have_ref ? deft_impl_find("cpu") : NULL;
    if (cpu && deft_impl_supports(cpu, p, &diag) == DEFT_OK) {
        poison(o2, no), poison(lse2, nl);
        if (deft_impl_run(cpu, p, opt, o2, lse2, &diag) == DEFT_OK) {
            deft_report rep;
            deft_compare(&ref, o2, lse2, NULL, &rep, &diag);
            for (size_t x = 0; x < no; x++) {
                size_t row = x / (size_t)p->shape.d;
                if (ref.row_class[row] != DEFT_ROW_CHECKED) continue;
                double e = fabs((double)gpu_o[x] - (double)o2[x]);
                if (e > max_gpu_cpu) max_gpu_cpu = e;
            }
            cpu_compared++;
            if (!rep.pass) printf("note: cpu fails on %s too\n", desc);
        }
    }
    free(gpu_o);
    if (have_ref) deft_reference_free(&ref);
    free(o), free(lse), free(o2), free(lse2);
    return fails;
}

static int gen(const char *spec, int64_t hq, int64_t hkv, int64_t d, int dtype, uint64_t seed,
               deft_case *c)
{
    deft_gen_options go;
    deft_diag diag;
    deft_gen_options_default(&go);
    go.hq = hq, go.hkv = hkv, go.d = d, go.dtype = dtype, go.seed = seed;
    if (deft_generate(spec, &go, c, &diag) != DEFT_OK) {
        printf("FAIL generate %s: %s\n", spec, diag.message);
        other_fail++;
        return -1;
    }
    return 0;
}

/* ---- random forests (random:SEED) ---- */
static void random_forests(int n_seeds, int first_seed)
{
    static const int64_t cts[] = {0, 1000, 16, 7, 64, 100}; /* 1000: long nodes stream (gpu) */
    static const int64_t ratios[] = {1, 2, 4, 8};
    for (int s = first_seed; s < first_seed + n_seeds; s++) {
        char spec[32];
        deft_case c;
        snprintf(spec, sizeof spec, "random:%d", s);
        deft_options opt = {cts[s % 6], s % 5 == 0 ? 3 : 0, 0};
        /* 1. the seed's own shape (any D, any dtype): gpu-simple takes all; gpu declines most */
        if (gen(spec, 0, 0, 0, -1, 0, &c) == 0) {
            check_case(&c, &opt, P_BOTH, s % 10 == 0, s % 10 == 0, 0);
            deft_case_free(&c);
        }
        /* 2. the same topology on version 2's shapes: D 64/128/256, f16/bf16, GQA 1/2/4/8 */
        int64_t hkv = 1 + s % 2, d = s % 3 == 0 ? 64 : s % 3 == 1 ? 128 : 256;
        if (gen(spec, hkv * ratios[(s / 2) % 4], hkv, d, s % 2 ? DEFT_F16 : DEFT_BF16, 0, &c) == 0) {
            check_case(&c, &opt, P_GPU, s % 10 == 1, s % 10 == 1, 0);
            deft_case_free(&c);
        }
    }
}

/* ---- explicit scales ----
 * The generated cases all use the default scale 1/sqrt(D). A kernel may lean on its sign (the max
 * of scaled scores is the scaled max only for a positive scale) or on its being nonzero (-inf
 * times 0 is NaN), so: a negative scale, a small and a large one, one that is 0 in f32, on every
 * D of version 2, resident and streamed chunks (levels:), and chunks whose rows see fewer tokens
 * than the tile holds (specdec's one-token nodes: masked tiles). */
static void scales(void)
{
    static const double sc[] = {-0.3, 0.02, 1.5, -1.0, 1e-50}; /* 1e-50: 0 as an f32 product */
    static const int64_t ds[] = {64, 128, 256};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) {
            deft_case c;
            deft_options opt = {ds[j] == 256 ? 64 : (i % 2 ? 1000 : 128), 0, 0};
            if (gen(i % 2 ? "levels:1,8_1500,40" : "specdec", 8, 2, ds[j], i % 2 ? DEFT_BF16 : DEFT_F16,
                    (uint64_t)(11 + i), &c) != 0)
                continue;
            c.problem.shape.scale = sc[i];
            check_case(&c, &opt, P_BOTH, j == 1, j == 1, 0);
            deft_case_free(&c);
        }
}

/* ---- big random topologies: the stress run ----
 * Up to 40 nodes in one of five styles, nodes up to 700 tokens (so several chunks and query tiles
 * per node), decode leaves, prefill nodes, queries in inner nodes, several roots, given offsets
 * with gaps; lengths are halved until the reference's work stays bounded. */
static int gen_big(uint64_t seed, int64_t hq, int64_t hkv, int64_t d, deft_dtype dt, deft_case *c)
{
    uint64_t r = seed * 0x2545f4914f6cdd1dull + 17;
    int style = (int)rng_below(&r, 5);
    int64_t n = 1 + rng_below(&r, 40);
    int offsets = rng_below(&r, 2) == 0;
    deft_diag diag;
    if (deft_case_init(c, n, offsets, &diag) != DEFT_OK) return -1;
    snprintf(c->workload, sizeof c->workload, "big:%llu", (unsigned long long)seed);
    for (int64_t i = 0; i < n; i++) {
        int64_t par;
        switch (style) {
        case 0: par = i == 0 ? -1 : 0; break;                                         /* star */
        case 1: par = i - 1; break;                                                   /* chain */
        case 2: par = rng_below(&r, 6) == 0 ? -1 : rng_below(&r, i + 1) - 1; break;   /* forest */
        case 3: par = i == 0 ? -1 : (i - 1) / 3; break;                               /* 3-ary */
        default: par = rng_below(&r, i + 1) - 1; break;                               /* random */
        }
        c->parent[i] = par;
        c->kv_len[i] = rng_below(&r, 8) == 0 ? 0 : 1 + rng_below(&r, i == 0 ? 2000 : 700);
    }
    char *has_child = calloc((size_t)n, 1);
    if (!has_child) return -1;
    for (int64_t i = 0; i < n; i++)
        if (c->parent[i] >= 0) has_child[c->parent[i]] = 1;
    int qmode = (int)rng_below(&r, 4);
    for (int64_t i = 0; i < n; i++) {
        int64_t kv = c->kv_len[i], q;
        switch (qmode) {
        case 0: q = !has_child[i] && kv > 0; break;                   /* decode at leaves */
        case 1: q = rng_below(&r, kv + 1); break;                     /* anywhere */
        case 2: q = kv < 300 ? kv : rng_below(&r, 300); break;        /* prefill */
        default: q = has_child[i] ? rng_below(&r, 3) : (kv > 0 ? 1 + rng_below(&r, kv < 8 ? kv : 8) : 0);
        }
        c->q_len[i] = q < kv ? q : kv;
    }
    free(has_child);
    for (;;) { /* bound the reference: visible pairs x hq x d */
        deft_tree t = {n, c->parent, c->kv_len, c->q_len, NULL, 0};
        int64_t vp = deft_tree_visible_pairs(&t);
        if (vp * hq * d <= 300000000) break;
        for (int64_t i = 0; i < n; i++) {
            c->kv_len[i] /= 2;
            if (c->q_len[i] > c->kv_len[i]) c->q_len[i] = c->kv_len[i];
        }
    }
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (offsets) { /* reverse order with gaps of 0..2 rows */
            total += rng_below(&r, 3);
        }
        total += c->kv_len[i];
    }
    if (offsets) {
        int64_t at = 0;
        for (int64_t i = n - 1; i >= 0; i--) {
            at += rng_below(&r, 3);
            c->kv_offset[i] = at;
            at += c->kv_len[i];
        }
        total = at + 1;
    }
    c->problem.tree.total_kv = total;
    c->problem.shape = (deft_shape){hq, hkv, d, 0.0, dt};
    if (deft_case_alloc_data(c, &diag) != DEFT_OK) return -1;
    size_t nq = (size_t)deft_tree_total_q(&c->problem.tree) * (size_t)hq * (size_t)d;
    size_t nkv = (size_t)total * (size_t)hkv * (size_t)d;
    for (int which = 0; which < 3; which++) {
        void *dst = which == 0 ? c->q : which == 1 ? c->k : c->v;
        size_t cnt = which == 0 ? nq : nkv;
        float lo = which == 2 ? -1.0f : -2.0f, w = which == 2 ? 2.0f : 4.0f;
        for (size_t i = 0; i < cnt; i++) {
            float x = lo + w * (float)((rng_next(&r) >> 41) * 0x1p-23);
            if (dt == DEFT_F32) ((float *)dst)[i] = x;
            else if (dt == DEFT_F16) ((uint16_t *)dst)[i] = deft_f32_to_f16(x);
            else ((uint16_t *)dst)[i] = deft_f32_to_bf16(x);
        }
    }
    return 0;
}

static void stress(int n, uint64_t first)
{
    static const int64_t shapes[][3] = {{32, 8, 128}, {8, 1, 128}, {8, 2, 64}, {4, 4, 256}, {16, 2, 64}, {8, 8, 128}};
    printf("stress: %d random big topologies, gpu and gpu-simple against the reference\n", n);
    for (int i = 0; i < n; i++) {
        uint64_t seed = first + (uint64_t)i;
        const int64_t *sh = shapes[seed % 6];
        deft_case c;
        /* chunk 1024: nodes of 257-700 tokens are chunks longer than the ring at D = 128 */
        deft_options opt = {seed % 3 == 0 ? 64 : seed % 3 == 1 ? 1024 : 0, seed % 7 == 0 ? 5 : 0, 0};
        if (gen_big(seed, sh[0], sh[1], sh[2], seed % 2 ? DEFT_F16 : DEFT_BF16, &c) != 0) {
            printf("FAIL stress seed %llu: generation\n", (unsigned long long)seed);
            other_fail++;
            deft_case_free(&c);
            continue;
        }
        char desc[400];
        describe(&c, &opt, desc, sizeof desc);
        printf("stress seed %llu: %s\n", (unsigned long long)seed, desc);
        fflush(stdout);
        check_case(&c, &opt, seed % 4 == 0 ? P_BOTH : P_GPU, seed % 5 == 0, seed % 8 == 0, 0);
        deft_case_free(&c);
    }
}

/* ---- the standard workloads ---- */
static void workloads(int full_shape, int quick)
{
    const char *const *names = deft_workload_names();
    static const int64_t small[][3] = {{4, 2, 64}, {8, 1, 128}, {2, 2, 256}, {8, 2, 37}};
    for (int w = 0; names[w]; w++) {
        deft_case c;
        for (int k = 0; k < (quick ? 1 : 4); k++) { /* smaller shapes, every dtype */
            int dt = (w + k) % 3;
            if (gen(names[w], small[k][0], small[k][1], small[k][2], dt, 7, &c)) continue;
            deft_options opt = {0, 0, 0};
            check_case(&c, &opt, P_BOTH, k == 0, k == 0, 0);
            deft_case_free(&c);
        }
        if (!full_shape) continue;
        for (int dt = DEFT_F16; dt <= DEFT_BF16; dt++) { /* the full shape: Hq 32, Hkv 8, D 128 */
            if (gen(names[w], 32, 8, 128, dt, 1, &c)) continue;
            deft_options opt = {0, 0, 0};
            printf("workload %s %s (full shape)\n", names[w], deft_dtype_name((deft_dtype)dt));
            fflush(stdout);
            check_case(&c, &opt, dt == DEFT_F16 ? P_BOTH : P_GPU, 1, 1, 0);
            deft_case_free(&c);
        }
    }
}

/* levels: trees: four roots, deep chains, queries at many leaves */
static void levels(void)
{
    static const char *specs[] = {"levels:4,16,64_300,100,40", "levels:1,2,4,8,16,32_16,16,16,16,16,16",
                                  "levels:1,10_700,90", "levels:64_33"};
    for (int i = 0; i < 4; i++) {
        deft_case c;
        if (gen(specs[i], 8, 2, i % 2 ? 64 : 128, i % 2 ? DEFT_F16 : DEFT_BF16, 3, &c)) continue;
        deft_options opt = {i == 2 ? 320 : 0, i == 3 ? 2 : 0, 0};
        check_case(&c, &opt, P_BOTH, 1, 1, 0);
        deft_case_free(&c);
    }
}

/* ---- one-tile chunks with 17-64 rows (DEFT_GPU_IS_SMALL): the small kernel's warps take a row
 * tile each instead of splitting the tokens. Draft trees of one-token nodes (specdec: node i <= 4
 * has 21 queries below it, node 5-20 five), GQA 1 to 8 so the rows run 21 (two row tiles) to 64
 * (four), and random forests cut into chunks of at most 16 tokens, whose rows see different
 * prefixes of a chunk (the non-finite scan of V); D 64, 128 and 256 ---- */
/* Chunks of c's plan (with opt) for which pick(rows, tokens) holds, rows = pairs x G: the path
 * sections check that their cases reach the path they are named after (-1: no plan). */
static int plan_chunks(const deft_case *c, const deft_options *opt, int (*pick)(int64_t rows, int64_t len))
{
    deft_plan plan;
    deft_diag diag;
    if (deft_plan_build(&c->problem.tree, opt, &plan, &diag) != DEFT_OK) return -1;
    const int64_t g = c->problem.shape.hq / c->problem.shape.hkv;
    int n = 0;
    for (int32_t k = 0; k < plan.n_chunks; k++)
        n += pick((int64_t)(plan.pair_start[k + 1] - plan.pair_start[k]) * g, plan.chunk_len[k]);
    deft_plan_free(&plan);
    return n;
}
/* small by their length, not their rows (drafts) */
static int small_by_length(int64_t rows, int64_t len)
{
    return rows > DEFT_GPU_SMALL_ROWS && DEFT_GPU_IS_SMALL(rows, len);
}
/* the persistent kernel's (late_first) */
static int large(int64_t rows, int64_t len)
{
    return !DEFT_GPU_IS_SMALL(rows, len);
}

static void drafts(void)
{
    static const struct {
        const char *spec;
        int64_t hq, hkv, d, chunk;
    } cases[] = {
        {"specdec", 8, 8, 128, 0},                 /* G 1: nodes 1-4 have 21 rows */
        {"specdec", 16, 2, 64, 0},                 /* G 8: nodes 5-20 have 40 rows */
        {"levels:1,4,16,64_500,1,1,1", 8, 2, 256, 0}, /* G 4: level 1 has 64 rows */
        {"random:31", 8, 2, 128, 16},              /* 11 such chunks, 10 with rows of fewer tokens */
        {"random:13", 12, 3, 64, 16},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        deft_case c;
        if (gen(cases[i].spec, cases[i].hq, cases[i].hkv, cases[i].d, i % 2 ? DEFT_BF16 : DEFT_F16, 5, &c))
            continue;
        deft_options opt = {cases[i].chunk, 0, 0};
        /* the case must reach the path: chunks that are small by their length, not their rows */
        int n = plan_chunks(&c, &opt, small_by_length);
        if (n <= 0) {
            printf("FAIL drafts %s: no chunk of one small tile with 17-64 rows\n", cases[i].spec);
            other_fail++;
        }
        check_case(&c, &opt, P_BOTH, i < 2, i < 2, 0);
        deft_case_free(&c);
    }
}

/* ---- small items of one row tile, W warps each (DEFT_GPU_SMALL_W forces W; a block takes 4 / W
 * items, consecutive KV heads of one chunk): every W the heads allow, hkv 8, 4 and 2, one-token
 * leaves (solo) and leaves of many tiles, D 64, 128 and 256 ---- */
static int small_split(int64_t rows, int64_t len)
{
    return rows <= DEFT_GPU_SMALL_ROWS && len > DEFT_GPU_SMALL_TILE;
}
static int small_solo(int64_t rows, int64_t len)
{
    return rows <= DEFT_GPU_SMALL_ROWS && len <= DEFT_GPU_SMALL_TILE;
}
static void small_warps(int quick)
{
    static const struct {
        const char *spec;
        int64_t hq, hkv, d, chunk;
        int (*pick)(int64_t rows, int64_t len);
    } cases[] = {
        {"fewshot", 8, 8, 128, 128, small_split},    /* leaves of 7 tiles, G 1 */
        {"tot", 16, 4, 64, 256, small_split},        /* G 4: 4 rows */
        {"specstar", 16, 8, 128, 0, small_solo},     /* one-token leaves */
        {"random:7", 8, 2, 256, 64, small_split},    /* hkv 2: W = 1 is refused, the rule runs */
        {"levels:1,8,64_300,40,50", 8, 8, 64, 0, small_split}, /* two levels of small items */
    };
    static const char *ws[] = {"1", "2", "4"};
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        if (quick && i >= 3) continue;
        deft_case c;
        if (gen(cases[i].spec, cases[i].hq, cases[i].hkv, cases[i].d, i % 2 ? DEFT_BF16 : DEFT_F16, 13, &c))
            continue;
        deft_options opt = {cases[i].chunk, 0, 0};
        int n = plan_chunks(&c, &opt, cases[i].pick);
        if (n <= 0) {
            printf("FAIL small_warps %s: no small chunk of the kind wanted\n", cases[i].spec);
            other_fail++;
        }
        for (int k = 0; k < 3; k++) {
            setenv("DEFT_GPU_SMALL_W", ws[k], 1);
            check_case(&c, &opt, P_GPU, k == 0, 0, 0);
        }
        unsetenv("DEFT_GPU_SMALL_W");
        deft_case_free(&c);
    }
}

/* ---- late first items: a persistent block whose first unit is not among the host's first
 * units (at most DEFT_GPU_FIRST_MAX, 150: all of them on a GPU of 132 SMs) reads it from
 * classify_kernel's list after its wait. DEFT_GPU_FIRST caps the host's units, so the path runs
 * here: 0 sends every block there, 2 mixes both kinds ---- */
static void late_first(int quick)
{
    static const struct {
        const char *spec;
        int64_t hq, hkv, d, chunk;
    } cases[] = {
        {"tot", 8, 2, 128, 256},                     /* many units, resident and split */
        {"levels:1,10_4096,416", 8, 2, 128, 1024},   /* streamed units */
        {"random:23", 16, 2, 64, 64},                /* D = 64, GQA 8: 4 large chunks of 13 */
    };
    static const char *caps[] = {"0", "2"};
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        if (quick && i == 2) continue;
        deft_case c;
        if (gen(cases[i].spec, cases[i].hq, cases[i].hkv, cases[i].d, i % 2 ? DEFT_BF16 : DEFT_F16, 7, &c))
            continue;
        deft_options opt = {cases[i].chunk, 0, 0};
        /* the case must have large units, or no block takes the path */
        int n = plan_chunks(&c, &opt, large);
        if (n < 3) {
            printf("FAIL late_first %s: %d large chunks (3 or more wanted)\n", cases[i].spec, n);
            other_fail++;
        }
        for (int k = 0; k < 2; k++) {
            setenv("DEFT_GPU_FIRST", caps[k], 1);
            check_case(&c, &opt, P_GPU, k == 0, 0, 0);
        }
        unsetenv("DEFT_GPU_FIRST");
        deft_case_free(&c);
    }
}

/* Runs case c on the gpu path with the environment variable `env` unset, then set to each of
 * vals: every run checked against the reference (check_case), and every set run's bits compared
 * with the unset run's (a knob that changes the schedule, not the units or the splits, must give
 * the same bits). Failures are printed under `section` and counted; each comparison that holds
 * counts as an api check passed. `env` is unset on return. */
static void same_bits(const char *section, deft_case *c, const deft_options *opt, const char *env,
                      const char *const *vals, int n_vals)
{
    const deft_problem *p = &c->problem;
    const size_t nl = (size_t)deft_tree_total_q(&p->tree) * (size_t)p->shape.hq, no = nl * (size_t)p->shape.d;
    float *o = malloc((no ? no : 1) * sizeof *o), *lse = malloc((nl ? nl : 1) * sizeof *lse);
    float *o2 = malloc((no ? no : 1) * sizeof *o2), *lse2 = malloc((nl ? nl : 1) * sizeof *lse2);
    deft_diag diag;
    deft_status st = DEFT_OK;
    unsetenv(env);
    /* the unset run's bits, once that run has passed check_case (which printed any failure) */
    int have = o && lse && o2 && lse2 && check_case(c, opt, P_GPU, 0, 0, 0) == 0;
    if (have && (st = deft_gpu_run(p, opt, o, lse, &diag)) != DEFT_OK) {
        printf("FAIL %s %s: the run with %s unset: %s: %s\n", section, c->workload, env, deft_status_name(st),
               diag.message);
        other_fail++;
        have = 0;
    } else if (!(o && lse && o2 && lse2)) {
        printf("FAIL %s %s: out of host memory\n", section, c->workload);
        other_fail++;
    }
    for (int k = 0; have && k < n_vals; k++) {
        setenv(env, vals[k], 1);
        if (check_case(c, opt, P_GPU, 0, 0, 0)) continue; /* printed and counted */
        poison(o2, no), poison(lse2, nl);
        if (deft_gpu_run(p, opt, o2, lse2, &diag) != DEFT_OK || memcmp(o, o2, no * sizeof *o) ||
            memcmp(lse, lse2, nl * sizeof *lse)) {
            printf("FAIL %s %s: %s=%s gave other bits than %s unset\n", section, c->workload, env, vals[k], env);
            other_fail++;
        } else
            other_pass++;
    }
    unsetenv(env);
    free(o), free(lse), free(o2), free(lse2);
}

/* A case of the sections that compare a knob's bits: a generated tree, its heads and D, and
 * chunk_tokens. */
typedef struct {
    const char *spec;
    int64_t hq, hkv, d, chunk;
} knob_case;

/* same_bits on each of the first n_cases of cases[0 .. n) (f16 and bf16 in turn, data seed
 * `seed`), each first checked to plan a chunk that `pick` accepts (`wanted` names it): without
 * one the knob would have nothing to change, and that fails. */
static void same_bits_cases(const char *section, const knob_case *cases, int n, int n_cases, uint64_t seed,
                            int (*pick)(int64_t rows, int64_t len), const char *wanted, const char *env,
                            const char *const *vals, int n_vals)
{
    for (int i = 0; i < n && i < n_cases; i++) {
        deft_case c;
        if (gen(cases[i].spec, cases[i].hq, cases[i].hkv, cases[i].d, i % 2 ? DEFT_BF16 : DEFT_F16, seed, &c))
            continue;
        deft_options opt = {cases[i].chunk, 0, 0};
        if (plan_chunks(&c, &opt, pick) <= 0) {
            printf("FAIL %s %s: no %s\n", section, cases[i].spec, wanted);
            other_fail++;
        }
        same_bits(section, &c, &opt, env, vals, n_vals);
        deft_case_free(&c);
    }
}

/* ---- the persistent kernel's two parameter sizes: a run whose first units number at most
 * DEFT_GPU_FIRST_FEW takes the instance with the small parameter, DEFT_GPU_FIRST_FEW=0 the one
 * with room for DEFT_GPU_FIRST_MAX; the same units, so the same bits. DEFT_GPU_FIRST caps the
 * first units at DEFT_GPU_FIRST_FEW for both runs, so the first run takes the small instance
 * whatever the GPU's SM count ---- */
static void first_params(int n_cases)
{
    static const knob_case cases[] = {
        {"levels:1,8_1000,64", 32, 8, 128, 256},   /* 4 root units of 32 rows, GQA 4 */
        {"levels:1,10_4096,416", 8, 2, 128, 1024}, /* streamed units, bf16 */
        {"tot", 8, 4, 64, 256},                    /* D = 64, units past the cap */
    };
    static const char *const off[] = {"0"};
    char cap[16];
    snprintf(cap, sizeof cap, "%d", DEFT_GPU_FIRST_FEW);
    setenv("DEFT_GPU_FIRST", cap, 1);
    same_bits_cases("first_params", cases, (int)(sizeof cases / sizeof cases[0]), n_cases, 29, large,
                    "large chunk", "DEFT_GPU_FIRST_FEW", off, 1);
    unsetenv("DEFT_GPU_FIRST");
}

/* ---- few persistent blocks: DEFT_GPU_PGRID caps version 2's persistent grid, so each block
 * runs many items back to back, its K/V stream (and at D = 128 on sm_90a the producer's slot
 * releases) crossing from one item to the next; DEFT_GPU_QPU=0 makes each resident chunk a single
 * unit, so an item of several query tiles makes a pass per tile over K/V it must keep until its
 * last pass (a slot handed back sooner gets the next item's tile while it is still read). The
 * full grid gives the same units, so every cap must give its bits too. Cases: resident chunks of
 * several query tiles at D = 128 and 64 (mma.sync, consumer refills), streamed chunks ---- */
static int multi_tile(int64_t rows, int64_t len)
{
    return !DEFT_GPU_IS_SMALL(rows, len) && rows > DEFT_GPU_QROWS;
}
static void few_blocks(int n_cases)
{
    static const knob_case cases[] = {
        {"tot", 8, 2, 128, 256},                    /* 9 query tiles at the root, 3 at level 1 */
        {"levels:1,40_2000,64", 8, 1, 128, 2048},   /* streamed: 3 units of one query tile */
        {"tot", 16, 4, 64, 512},                    /* D = 64: 8 tiles a chunk, the ring 10 */
        {"levels:1,4,32_200,150,40", 16, 2, 128, 0}, /* the root: 2 query tiles, bf16 */
    };
    static const char *const caps[] = {"1", "3"};
    setenv("DEFT_GPU_QPU", "0", 1);
    same_bits_cases("few_blocks", cases, (int)(sizeof cases / sizeof cases[0]), n_cases, 17, multi_tile,
                    "large chunk of several query tiles", "DEFT_GPU_PGRID", caps, 2);
    unsetenv("DEFT_GPU_QPU");
}

/* ---- streamed chunks: chunks longer than version 2's ring (256 tokens at D = 128, 640 at
 * D = 64) stream through it, one query tile per unit; trees with long shared nodes, several
 * query tiles, GQA 1-8, multi-root, a node split by chunk_queries ---- */
static void streamed(int quick)
{
    static const struct {
        const char *spec;
        int64_t hq, hkv, d, chunk, cq;
    } cases[] = {
        {"levels:1,10_4096,416", 8, 2, 128, 1024, 0}, /* 40 rows: one query tile, 4 chunks */
        {"levels:1,40_2000,64", 8, 1, 128, 2048, 0},  /* 320 rows: three query tiles, one chunk */
        {"levels:1,6_1500,100", 4, 4, 64, 1000, 0},   /* D = 64: 1000 > its 640-token ring */
        {"levels:2,24_1200,70", 16, 2, 128, 512, 0},  /* two roots, GQA 8: 96 rows per root */
        {"levels:1,50_3000,40", 8, 2, 128, 1024, 7},  /* the root's queries cut into chunks of 7 */
        {"levels:1,4,16_900,300,20", 8, 8, 64, 4096, 0},
        /* GQA 16, 640 rows over a 15-tile chunk (the last 4 tokens). With DEFT_GPU_STEP=1
         * (steps()): steps of two tiles (more than 4 query tiles, streamed) and a last step of one */
        {"levels:1,40_900,30", 16, 1, 128, 1024, 0},
        {"levels:1,48_1000,1", 16, 1, 128, 1024, 0}, /* 768 rows, one-token leaves, bf16 */
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        if (quick && i % 2) continue;
        deft_case c;
        if (gen(cases[i].spec, cases[i].hq, cases[i].hkv, cases[i].d, i % 2 ? DEFT_BF16 : DEFT_F16, 11, &c))
            continue;
        deft_options opt = {cases[i].chunk, cases[i].cq, 0};
        check_case(&c, &opt, P_BOTH, i < 2, i < 2, 0);
        deft_case_free(&c);
    }
}

/* ---- non-finite inputs: NaN / Inf in tokens some queries see and others do not ---- */
static void nonfinite_case(int k)
{
    {
        /* a chain of prefill nodes: each token is hidden from the queries before it; k = 4: the
         * first node 700 tokens longer and chunks of 1024 (streamed, D = 128). At D = 128 node 0's
         * last tile runs into node 1 and its +Inf: with the tensor-copy path's clearing of V past
         * a chunk's end planted out, k = 0 and 1 fail (checked on the device). k = 5: at most 3
         * queries per chunk (12 rows), so every chunk is a small item of the warp-split kernel,
         * whose rows see different prefixes: with its cleaning of V planted out, k = 5 fails */
        int64_t n = 3, extra = k == 4 ? 700 : 0;
        deft_case c;
        deft_diag diag;
        if (deft_case_init(&c, n, 0, &diag) != DEFT_OK) return;
        snprintf(c.workload, sizeof c.workload, "nonfinite:%d", k);
        int64_t lens[3] = {150 + extra, 90, 200}, total = 440 + extra;
        for (int64_t i = 0; i < n; i++) {
            c.parent[i] = i - 1;
            c.kv_len[i] = lens[i];
            c.q_len[i] = lens[i] - (i == 0 ? 100 : 0);
        }
        c.problem.tree.total_kv = total;
        deft_dtype dt = k % 2 ? DEFT_BF16 : DEFT_F16;
        int64_t d = k < 2 || k >= 4 ? 128 : 64;
        c.problem.shape = (deft_shape){8, 2, d, 0.0, dt};
        if (deft_case_alloc_data(&c, &diag) != DEFT_OK) {
            deft_case_free(&c);
            return;
        }
        uint64_t r = 99 + (uint64_t)k;
        size_t nq = (size_t)deft_tree_total_q(&c.problem.tree) * 8 * (size_t)d, nkv = (size_t)total * 2 * (size_t)d;
        for (int which = 0; which < 3; which++) {
            uint16_t *dst = which == 0 ? c.q : which == 1 ? c.k : c.v;
            size_t cnt = which == 0 ? nq : nkv;
            for (size_t i = 0; i < cnt; i++) {
                float x = -1.0f + 2.0f * (float)((rng_next(&r) >> 41) * 0x1p-23);
                dst[i] = dt == DEFT_F16 ? deft_f32_to_f16(x) : deft_f32_to_bf16(x);
            }
        }
        uint16_t inf = dt == DEFT_F16 ? 0x7c00 : 0x7f80, nan = dt == DEFT_F16 ? 0x7e00 : 0x7fc0;
        uint16_t *K = c.k, *V = c.v, *Q = c.q;
        /* row 170 (node 1, token 20), KV head 0: V = +Inf; row 330 (node 2, token 90) K = NaN in
         * head 1; row 439 (the last token) V = -Inf in every head; one query element NaN (rows
         * past node 0 shifted by extra); k = 4: also V = +Inf at node 0's token 500, which its
         * queries at tokens 100-499 do not see */
        const size_t x = (size_t)extra;
        V[((170 + x) * 2 + 0) * (size_t)d + 5] = inf;
        K[((330 + x) * 2 + 1) * (size_t)d + 1] = nan;
        V[((439 + x) * 2 + 0) * (size_t)d + 0] = (uint16_t)(inf | 0x8000);
        V[((439 + x) * 2 + 1) * (size_t)d + 9] = (uint16_t)(inf | 0x8000);
        if (k == 4) V[(500 * 2 + 0) * (size_t)d + 7] = inf;
        Q[(size_t)(10 * 8 + 3) * (size_t)d + 2] = nan;
        deft_options opt = {k == 3 ? 64 : k == 4 ? 1024 : 0, k == 5 ? 3 : 0, 0};
        check_case(&c, &opt, P_BOTH, 1, 0, 1);
        deft_case_free(&c);
    }
}
static void nonfinite(void)
{
    for (int k = 0; k < 6; k++) nonfinite_case(k);
}

/* ---- steps of two tiles: a run whose plan has a streamed chunk of at least step_min tiles
 * and more than 4 query tiles of rows takes the persistent kernel with steps (deft_gpu_steps,
 * DEFT_GPU_STEPS). DEFT_GPU_STEP=1 makes every such chunk step, whatever its length: the GQA 16
 * cases of streamed() (15 tiles: a last step of one tile; 16 tiles), nonfinite:4 (750 causal
 * queries over an 850-token chunk: rows that see part of a step, non-finite V beyond them); the
 * last case takes steps under the default rule (a 33-tile chunk of 640 rows). Each run is
 * checked to take the kernel with steps. ---- */
int deft_gpu_steps(const deft_plan *plan, const deft_shape *s, int step_min); /* gpu/gpu_common.c */
static int plan_steps(const deft_case *c, const deft_options *opt, int step_min)
{
    deft_plan plan;
    deft_diag diag;
    if (deft_plan_build(&c->problem.tree, opt, &plan, &diag) != DEFT_OK) return 0;
    const int r = deft_gpu_steps(&plan, &c->problem.shape, step_min);
    deft_plan_free(&plan);
    return r;
}

static void steps(int quick)
{
    static const struct {
        const char *spec;
        int64_t hq, hkv, d, chunk;
        int step_min;
    } cases[] = {
        {"levels:1,40_900,30", 16, 1, 128, 1024, 1},
        {"levels:1,48_1000,1", 16, 1, 128, 1024, 1},
        {"levels:1,160_2100,20", 32, 8, 128, 4096, DEFT_GPU_STEP_MIN},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        if (quick && i == 1) continue;
        deft_case c;
        if (gen(cases[i].spec, cases[i].hq, cases[i].hkv, cases[i].d, i % 2 ? DEFT_BF16 : DEFT_F16, 23, &c))
            continue;
        deft_options opt = {cases[i].chunk, 0, 0};
        char v[16];
        snprintf(v, sizeof v, "%d", cases[i].step_min);
        if (cases[i].step_min != DEFT_GPU_STEP_MIN) setenv("DEFT_GPU_STEP", v, 1);
        if (!plan_steps(&c, &opt, cases[i].step_min)) {
            printf("FAIL steps %s: the run takes no steps\n", cases[i].spec);
            other_fail++;
        }
        check_case(&c, &opt, P_BOTH, 1, i == 0, 0);
        unsetenv("DEFT_GPU_STEP");
        deft_case_free(&c);
    }
    setenv("DEFT_GPU_STEP", "1", 1);
    nonfinite_case(4);
    unsetenv("DEFT_GPU_STEP");
}

/* ---- API: bad input, unsupported shapes, the device-pointer entry ---- */
static void expect(int cond, const char *what)
{
    if (cond) other_pass++;
    else {
        other_fail++;
        printf("FAIL api: %s\n", what);
    }
}

static void api(void)
{
    deft_case c;
    deft_diag diag;
    if (gen("specdec", 8, 2, 64, DEFT_F32, 1, &c)) return;
    expect(deft_gpu_supports(&c.problem, &diag) == DEFT_ERR_UNSUPPORTED && strstr(diag.message, "f32"),
           "gpu declines f32 with a reason");
    expect(deft_gpu_simple_supports(&c.problem, &diag) == DEFT_OK, "gpu-simple takes f32");
    c.parent[3] = 7; /* not before its child */
    expect(deft_gpu_supports(&c.problem, &diag) == DEFT_ERR_BAD_PARENT, "bad parent is bad input");
    expect(deft_gpu_run(&c.problem, NULL, NULL, NULL, &diag) == DEFT_ERR_BAD_PARENT,
           "run validates first");
    deft_case_free(&c);
    if (gen("specstar", 4, 2, 96, DEFT_F16, 1, &c)) return;
    expect(deft_gpu_supports(&c.problem, &diag) == DEFT_ERR_UNSUPPORTED && strstr(diag.message, "D = 96"),
           "gpu declines D = 96 with a reason");
    deft_case_free(&c);
#ifndef DEFT_NO_CUDA
    /* the device-pointer API on fewshot (f16, 8/2/128): poisoned device outputs, a stream */
    if (gen("fewshot", 8, 2, 128, DEFT_F16, 5, &c)) return;
    deft_problem *p = &c.problem;
    deft_plan plan;
    deft_options po = {256, 0, 0};
    if (deft_plan_build(&p->tree, &po, &plan, &diag) != DEFT_OK) {
        expect(0, "plan build");
        deft_case_free(&c);
        return;
    }
    size_t nq = (size_t)deft_tree_total_q(&p->tree) * 8 * 128, nkv = (size_t)p->tree.total_kv * 2 * 128;
    size_t nl = nq / 128, ws = deft_gpu_workspace_size(&plan, &p->shape);
    void *dq = NULL, *dk = NULL, *dv = NULL, *dw = NULL, *dws = NULL, *dout = NULL, *dlse = NULL;
    cudaStream_t stream = NULL;
    int ok = cudaMalloc(&dq, nq * 2) == cudaSuccess && cudaMalloc(&dk, nkv * 2) == cudaSuccess &&
             cudaMalloc(&dv, nkv * 2) == cudaSuccess && cudaMalloc(&dw, plan.n_words * 4) == cudaSuccess &&
             cudaMalloc(&dws, ws) == cudaSuccess && cudaMalloc(&dout, nq * 4) == cudaSuccess &&
             cudaMalloc(&dlse, nl * 4) == cudaSuccess && cudaStreamCreate(&stream) == cudaSuccess &&
             cudaMemcpy(dq, p->q, nq * 2, cudaMemcpyHostToDevice) == cudaSuccess &&
             cudaMemcpy(dk, p->k, nkv * 2, cudaMemcpyHostToDevice) == cudaSuccess &&
             cudaMemcpy(dv, p->v, nkv * 2, cudaMemcpyHostToDevice) == cudaSuccess &&
             cudaMemcpy(dw, plan.words, plan.n_words * 4, cudaMemcpyHostToDevice) == cudaSuccess;
    expect(ok, "device buffers");
    if (ok) {
        deft_problem dp = *p;
        dp.q = dq, dp.k = dk, dp.v = dv;
        expect(deft_gpu_run_device(&dp, &plan, dw, dws, ws - 1, dout, dlse, stream, &diag) == DEFT_ERR_ARG,
               "a workspace one byte short is DEFT_ERR_ARG");
        deft_problem mis = dp;
        mis.k = (const char *)dk + 2; /* element-aligned, not 16-byte aligned */
        expect(deft_gpu_run_device(&mis, &plan, dw, dws, ws, dout, dlse, stream, &diag) == DEFT_ERR_ARG &&
                   strstr(diag.message, "16-byte aligned"),
               "a K pointer off 16-byte alignment is DEFT_ERR_ARG");
        expect(deft_gpu_run_device(&dp, &plan, dw, (char *)dws + 16, ws, dout, dlse, stream, &diag) ==
                       DEFT_ERR_ARG && strstr(diag.message, "256-byte aligned"),
               "a workspace off 256-byte alignment is DEFT_ERR_ARG");
        deft_reference ref;
        deft_reference_compute(p, &ref, &diag);
        float *o = malloc(nq * 4), *lse = malloc(nl * 4);
        for (int v = 0; v < 2 && o && lse; v++) {
            cudaMemsetAsync(dout, 0xff, nq * 4, stream);
            cudaMemsetAsync(dlse, 0xff, nl * 4, stream);
            /* the workspace poisoned too (partials NaN, counters -1): a run must not depend on
             * what it finds there */
            cudaMemsetAsync(dws, 0xff, ws, stream);
            deft_status st = (v ? deft_gpu_simple_run_device : deft_gpu_run_device)(
                &dp, &plan, dw, dws, ws, dout, dlse, stream, &diag);
            expect(st == DEFT_OK, v ? "simple device run" : "device run");
            ok = cudaStreamSynchronize(stream) == cudaSuccess &&
                 cudaMemcpy(o, dout, nq * 4, cudaMemcpyDeviceToHost) == cudaSuccess &&
                 cudaMemcpy(lse, dlse, nl * 4, cudaMemcpyDeviceToHost) == cudaSuccess;
            deft_report rep;
            deft_compare(&ref, o, lse, NULL, &rep, &diag);
            expect(ok && rep.pass, v ? "simple device run matches the reference" : "device run matches the reference");
            if (!rep.pass) deft_report_print(&rep, stdout);
        }
        free(o), free(lse);
        deft_reference_free(&ref);
        /* a plan of 1000-token chunks: longer than the ring at D = 128 (streamed), and longer
         * than version 2 takes at D = 256 (its chunks stay resident: 128 tokens) */
        deft_plan big;
        deft_options bo = {1000, 0, 0};
        if (deft_plan_build(&p->tree, &bo, &big, &diag) == DEFT_OK) {
            size_t bws = deft_gpu_workspace_size(&big, &p->shape);
            void *bw = NULL, *bwk = NULL;
            if (cudaMalloc(&bw, big.n_words * 4) == cudaSuccess && cudaMalloc(&bwk, bws) == cudaSuccess &&
                cudaMemcpy(bw, big.words, big.n_words * 4, cudaMemcpyHostToDevice) == cudaSuccess) {
                deft_reference ref;
                deft_reference_compute(p, &ref, &diag);
                cudaMemsetAsync(dout, 0xff, nq * 4, stream);
                cudaMemsetAsync(dlse, 0xff, nl * 4, stream);
                deft_status st = deft_gpu_run_device(&dp, &big, bw, bwk, bws, dout, dlse, stream, &diag);
                float *o = malloc(nq * 4), *lse = malloc(nl * 4);
                int got = st == DEFT_OK && o && lse && cudaStreamSynchronize(stream) == cudaSuccess &&
                          cudaMemcpy(o, dout, nq * 4, cudaMemcpyDeviceToHost) == cudaSuccess &&
                          cudaMemcpy(lse, dlse, nl * 4, cudaMemcpyDeviceToHost) == cudaSuccess;
                deft_report rep;
                rep.pass = 0;
                if (got) deft_compare(&ref, o, lse, NULL, &rep, &diag);
                expect(got && rep.pass, "1000-token chunks (streamed through the ring) match the reference");
                free(o), free(lse);
                deft_reference_free(&ref);
                deft_problem wide = dp; /* refused before any kernel reads the (D = 128) buffers */
                wide.shape.d = 256;
                size_t ws256 = deft_gpu_workspace_size(&big, &wide.shape);
                void *wk256 = NULL;
                if (cudaMalloc(&wk256, ws256) == cudaSuccess) {
                    st = deft_gpu_run_device(&wide, &big, bw, wk256, ws256, dout, dlse, stream, &diag);
                    expect(st == DEFT_ERR_UNSUPPORTED && strstr(diag.message, "chunk_tokens"),
                           "chunks longer than version 2 takes (D = 256: 128) are DEFT_ERR_UNSUPPORTED");
                    cudaFree(wk256);
                }
                st = deft_gpu_simple_run_device(&dp, &big, bw, bwk, bws, dout, dlse, stream, &diag);
                expect(st == DEFT_OK && cudaStreamSynchronize(stream) == cudaSuccess,
                       "gpu-simple takes any chunk length");
            }
            cudaFree(bw), cudaFree(bwk);
            deft_plan_free(&big);
        }
    }
    if (stream) cudaStreamDestroy(stream);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dw), cudaFree(dws), cudaFree(dout), cudaFree(dlse);
    deft_plan_free(&plan);
    deft_case_free(&c);
#endif
}

/* --only NAME: the sections a run may name (one section and nothing else, at the size of the
 * run's mode: for a kernel variant, or a planted error, whose failure one section decides) */
static const char *const sections[] = {"api",      "random",    "nonfinite",  "scales",      "drafts",   "levels",
                                       "workloads", "streamed", "steps",      "late_first", "first_params", "few_blocks",
                                       "small_warps", "stress"};

int main(int argc, char **argv)
{
    int quick = 0, sanitize = 0, seeds = 300, n_stress = 40, full_shape = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--sanitize")) sanitize = 1;
        else if (!strcmp(argv[i], "--no-full-shape")) full_shape = 0;
        else if (!strcmp(argv[i], "--verbose")) verbose = 1;
        else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stress") && i + 1 < argc) n_stress = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: test_gpu [--quick | --sanitize] [--only SECTION] [--seeds N] [--stress N] "
                            "[--no-full-shape] [--verbose]\n");
            return 2;
        }
    }
    if (only) {
        size_t k = 0;
        while (k < sizeof sections / sizeof sections[0] && strcmp(sections[k], only)) k++;
        if (k == sizeof sections / sizeof sections[0]) {
            fprintf(stderr, "test_gpu: no section '%s'; sections:", only);
            for (k = 0; k < sizeof sections / sizeof sections[0]; k++) fprintf(stderr, " %s", sections[k]);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    char name[256];
    deft_diag diag;
    if (deft_gpu_device_check(name, sizeof name, &diag) != DEFT_OK) {
        printf("GPU tests: skipped: %s\n", diag.message);
        return 0;
    }
    printf("GPU tests on %s (%s%s%s)\n", name, quick ? "quick" : sanitize ? "sanitizer subset" : "full",
           only ? ", only " : "", only ? only : "");
    fflush(stdout);
#define RUN(sec, call) \
    do { \
        if (!only || !strcmp(only, sec)) call; \
    } while (0)
    RUN("api", api());
    if (sanitize) { /* small enough for racecheck: every kernel and path, few rows */
        RUN("random", random_forests(12, 1));
        RUN("nonfinite", nonfinite());
        RUN("scales", scales());
        RUN("drafts", drafts());
        RUN("levels", levels());
        RUN("streamed", streamed(1));
        RUN("steps", steps(1));
        RUN("late_first", late_first(1));
        RUN("first_params", first_params(1));
        RUN("few_blocks", few_blocks(1));
        RUN("small_warps", small_warps(1));
    } else if (quick) {
        RUN("random", random_forests(seeds < 40 ? seeds : 40, 1));
        RUN("nonfinite", nonfinite());
        RUN("scales", scales());
        RUN("drafts", drafts());
        RUN("workloads", workloads(0, 1));
        RUN("streamed", streamed(1));
        RUN("steps", steps(1));
        RUN("late_first", late_first(1));
        RUN("first_params", first_params(3));
        RUN("few_blocks", few_blocks(3));
        RUN("small_warps", small_warps(1));
    } else {
        RUN("random", random_forests(seeds, 1));
        RUN("nonfinite", nonfinite());
        RUN("scales", scales());
        RUN("drafts", drafts());
        RUN("levels", levels());
        RUN("streamed", streamed(0));
        RUN("steps", steps(0));
        RUN("late_first", late_first(0));
        RUN("first_params", first_params(3));
        RUN("few_blocks", few_blocks(4));
        RUN("small_warps", small_warps(0));
        RUN("workloads", workloads(full_shape, 0));
        RUN("stress", stress(n_stress, 1000));
    }
#undef RUN
    int fails = other_fail;
    for (int i = 0; i < 2; i++) {
        printf("GPU tests: %-10s %4d passed, %4d skipped (unsupported), %4d failed\n", paths[i].name,
               paths[i].pass, paths[i].skip, paths[i].fail);
        fails += paths[i].fail;
    }
    printf("GPU tests: api checks %d passed, %d failed; |gpu - cpu| max %.3g over %d cases\n",
           other_pass, other_fail, max_gpu_cpu, cpu_compared);
    int ran = other_pass + other_fail;
    for (int i = 0; i < 2; i++) ran += paths[i].pass + paths[i].fail;
    if (!ran) { /* a section the mode does not run (levels under --quick, stress outside the full set) */
        printf("GPU tests: FAILED: no case ran\n");
        return 1;
    }
    printf("GPU tests: %s\n", fails ? "FAILED" : "all passed");
    return fails ? 1 : 0;
}
