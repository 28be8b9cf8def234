/* test_cpu.c: the CPU paths (cpu: DeFT, cpu-seq: the sequence-based baseline) against the
 * reference under the tolerance model, on hundreds of seeded random forests, with small chunks
 * that force splitting, on the standard workload trees at a small shape and in every dtype; bitwise
 * determinism across runs and thread counts; a NaN / Inf in a causally hidden token that must not
 * reach the rows that do not see it; the fast exp and the widenings element by element; bad
 * input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"
#include "../cpu/expf.h"
#include "testlib.h"

#define CANARY 16
static const float SENTINEL = 1234.5f;

/* Outputs with NaN poison and a canary region past the end of each. */
typedef struct {
    float *o, *lse;
    size_t n, r;
} outputs;

static void outputs_alloc(outputs *x, const deft_problem *p)
{
    x->n = out_elems(p), x->r = lse_elems(p);
    x->o = malloc((x->n + CANARY) * sizeof(float));
    x->lse = malloc((x->r + CANARY) * sizeof(float));
    ck_assert(x->o && x->lse);
}

static void outputs_poison(outputs *x)
{
    for (size_t i = 0; i < x->n; i++) x->o[i] = NAN;
    for (size_t i = 0; i < x->r; i++) x->lse[i] = NAN;
    for (size_t i = 0; i < CANARY; i++) x->o[x->n + i] = x->lse[x->r + i] = SENTINEL;
}

static int canaries_intact(const outputs *x)
{
    for (size_t i = 0; i < CANARY; i++)
        if (x->o[x->n + i] != SENTINEL || x->lse[x->r + i] != SENTINEL) return 0;
    return 1;
}

static void outputs_free(outputs *x)
{
    free(x->o), free(x->lse);
    x->o = x->lse = NULL;
}

static const deft_impl *impl(const char *name)
{
    const deft_impl *im = deft_impl_find(name);
    ck_assert_msg(im != NULL, "implementation %s is not registered", name);
    return im;
}

/* One line that regenerates the case: spec, shape, options, and the worst element. */
static void describe(char *buf, size_t size, const char *spec, const deft_problem *p,
                     const char *name, const deft_options *opt, const deft_report *rep)
{
    int n = snprintf(buf, size,
                     "%s impl=%s chunk_tokens=%lld chunk_queries=%lld threads=%d nodes=%lld "
                     "queries=%lld hq=%lld hkv=%lld d=%lld %s",
                     spec, name, (long long)opt->chunk_tokens, (long long)opt->chunk_queries,
                     opt->threads, (long long)p->tree.n_nodes,
                     (long long)deft_tree_total_q(&p->tree), (long long)p->shape.hq,
                     (long long)p->shape.hkv, (long long)p->shape.d,
                     deft_dtype_name(p->shape.dtype));
    if (rep && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n,
                 ": failed %lld/%lld, worst (q %lld, h %lld, dim %lld) got %.9g want %.9g tol %.3g",
                 (long long)rep->failed, (long long)rep->checked, (long long)rep->worst_query,
                 (long long)rep->worst_head, (long long)rep->worst_dim, rep->worst_got,
                 rep->worst_want, rep->worst_tol);
}

/* Runs `name` on p with opt and judges it against ref; returns 1 on pass, else writes why. */
static int run_judged(const char *name, const char *spec, const deft_problem *p,
                      const deft_reference *ref, const deft_options *opt, outputs *x, char *why,
                      size_t why_size)
{
    deft_diag d;
    outputs_poison(x);
    deft_status st = deft_impl_run(impl(name), p, opt, x->o, x->lse, &d);
    if (st != DEFT_OK) {
        describe(why, why_size, spec, p, name, opt, NULL);
        size_t k = strlen(why);
        snprintf(why + k, why_size - k, ": status %s: %s", deft_status_name(st), d.message);
        return 0;
    }
    if (!canaries_intact(x)) {
        describe(why, why_size, spec, p, name, opt, NULL);
        size_t k = strlen(why);
        snprintf(why + k, why_size - k, ": wrote past the end of o or lse");
        return 0;
    }
    deft_report rep;
    st = deft_compare(ref, x->o, x->lse, NULL, &rep, &d);
    ck_assert_msg(st == DEFT_OK, "compare: %s", d.message);
    if (!rep.pass) {
        describe(why, why_size, spec, p, name, opt, &rep);
        return 0;
    }
    return 1;
}

/* A generated case with its reference, and a tally of failures that reports the first. */
typedef struct {
    int runs, failures;
    char first[512];
} tally;

static void tally_add(tally *t, int ok, const char *why)
{
    t->runs++;
    if (ok) return;
    if (!t->failures++) snprintf(t->first, sizeof t->first, "%s", why);
    if (t->failures <= 10) fprintf(stderr, "FAIL %s\n", why);
}

static void tally_check(const tally *t)
{
    ck_assert_msg(t->failures == 0, "%d of %d runs failed; first: %s", t->failures, t->runs,
                  t->first);
}

/* Runs every (impl, options) combination on one problem. */
static void judge_problem(tally *t, const char *label, const deft_problem *p,
                          const char *const *names, const deft_options *opts, int n_opts)
{
    deft_reference ref;
    deft_diag diag;
    ck_assert_msg(deft_reference_compute(p, &ref, &diag) == DEFT_OK, "%s: %s", label,
                  diag.message);
    outputs x;
    outputs_alloc(&x, p);
    char why[512];
    for (int i = 0; names[i]; i++)
        for (int k = 0; k < n_opts; k++) {
            int ok = run_judged(names[i], label, p, &ref, &opts[k], &x, why, sizeof why);
            tally_add(t, ok, why);
        }
    outputs_free(&x);
    deft_reference_free(&ref);
}

static void judge_case(tally *t, const char *spec, int64_t hq, int64_t hkv, int64_t d, int dtype,
                       const char *const *names, const deft_options *opts, int n_opts)
{
    deft_case c;
    gen_small(&c, spec, hq, hkv, d, dtype);
    judge_problem(t, spec, &c.problem, names, opts, n_opts);
    deft_case_free(&c);
}

/* "prefill": node 0, a root of 300 tokens, all queries (full prefill); node 1 under it, 40
 * tokens, all queries; node 2, a separate root of 20 tokens with its last 5 as queries. Stored
 * out of order with gaps: node 1 at rows 10..49, node 0 at 60..359, node 2 at 370..389 of 400.
 * Own-node queries differ in visible count within every chunk: the banded P.V path. */
static const char *const PREFILL = "prefill";

static void make_prefill(deft_case *c, int64_t hq, int64_t hkv, int64_t d, int dtype)
{
    deft_diag diag;
    ck_assert(deft_case_init(c, 3, 1, &diag) == DEFT_OK);
    static const int64_t par[3] = {-1, 0, -1}, kv[3] = {300, 40, 20}, q[3] = {300, 40, 5},
                         off[3] = {60, 10, 370};
    for (int i = 0; i < 3; i++)
        c->parent[i] = par[i], c->kv_len[i] = kv[i], c->q_len[i] = q[i], c->kv_offset[i] = off[i];
    c->problem.tree.total_kv = 400;
    c->problem.shape = (deft_shape){hq, hkv, d, 0.0, (deft_dtype)dtype};
    ck_assert_msg(deft_case_alloc_data(c, &diag) == DEFT_OK, "%s", diag.message);
    size_t nq = out_elems(&c->problem), nkv = (size_t)(400 * hkv * d);
    uint64_t st = 7;
    void *dst[3] = {c->q, c->k, c->v};
    size_t cnt[3] = {nq, nkv, nkv};
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < cnt[a]; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            float x = (float)((double)(st >> 41) * 0x1p-23 * 4.0 - 2.0) * (a == 2 ? 0.5f : 1.0f);
            if (dtype == DEFT_F32) ((float *)dst[a])[i] = x;
            else if (dtype == DEFT_F16) ((uint16_t *)dst[a])[i] = deft_f32_to_f16(x);
            else ((uint16_t *)dst[a])[i] = deft_f32_to_bf16(x);
        }
}

static const char *const CPU_ONLY[] = {"cpu", NULL};
static const char *const SEQ_ONLY[] = {"cpu-seq", NULL};
static const char *const BOTH[] = {"cpu", "cpu-seq", NULL};

/* ---------------------------------------------------------------------------------------------
 * Differential tests against the reference. */

START_TEST(cpu_random_forests)
{
    tally t = {0, 0, ""};
    deft_options def = {0, 0, 0};
    char spec[32];
    for (int seed = 0; seed < 300; seed++) {
        snprintf(spec, sizeof spec, "random:%d", seed);
        judge_case(&t, spec, 0, 0, 0, -1, CPU_ONLY, &def, 1);
    }
    tally_check(&t);
}
END_TEST


START_TEST(cpu_random_forests_small_chunks)
{
    /* every chunk size with every query bound, threads 1 and 2, spread over the seeds */
    static const int64_t cts[] = {1, 3, 7}, cqs[] = {0, 1, 2};
    tally t = {0, 0, ""};
    char spec[32];
    for (int seed = 0; seed < 120; seed++) {
        snprintf(spec, sizeof spec, "random:%d", seed);
        deft_options o[2];
        for (int k = 0; k < 2; k++) {
            int v = seed * 2 + k;
            o[k] = (deft_options){cts[v % 3], cqs[(v / 3) % 3], 1 + (v / 9) % 2};
        }
        judge_case(&t, spec, 0, 0, 0, -1, CPU_ONLY, o, 2);
    }
    tally_check(&t);
}
END_TEST

START_TEST(seq_random_forests)
{
    tally t = {0, 0, ""};
    deft_options o[2] = {{0, 0, 0}, {0, 0, 1}};
    char spec[32];
    for (int seed = 0; seed < 150; seed++) {
        snprintf(spec, sizeof spec, "random:%d", seed);
        judge_case(&t, spec, 0, 0, 0, -1, SEQ_ONLY, &o[seed % 2], 1);
    }
    tally_check(&t);
}
END_TEST

START_TEST(standard_workloads_small_shape)
{
    static const char *const specs[] = {"fewshot", "fewshot50", "tot", "specstar", "specdec",
                                        "wide", "levels:1,2,4_30,20,10", NULL};
    tally t = {0, 0, ""};
    deft_options def = {0, 0, 0};
    for (int i = 0; specs[i]; i++)
        for (int dt = 0; dt < 3; dt++) {
            /* wide is large (97536 tokens): one dtype keeps the suite quick */
            if (!strcmp(specs[i], "wide") && dt != (i % 3)) continue;
            judge_case(&t, specs[i], 8, 2, 8, dt, BOTH, &def, 1);
        }
    tally_check(&t);
}
END_TEST

START_TEST(prefill_split_into_many_chunks)
{
    /* GQA 4, D 37, chunk sizes around BAND (32) and query bounds */
    static const deft_options opts[] = {{0, 0, 0}, {31, 0, 2}, {33, 0, 1}, {64, 5, 2},
                                        {300, 0, 1}, {1, 0, 2}, {7, 2, 1}};
    tally t = {0, 0, ""};
    for (int dt = 0; dt < 3; dt++) {
        deft_case c;
        make_prefill(&c, 4, 1, 37, dt);
        judge_problem(&t, PREFILL, &c.problem, BOTH, opts, (int)(sizeof opts / sizeof opts[0]));
        deft_case_free(&c);
    }
    tally_check(&t);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Determinism. */

static void run_ok(const char *name, const deft_problem *p, const deft_options *opt, outputs *x)
{
    deft_diag d;
    outputs_poison(x);
    deft_status st = deft_impl_run(impl(name), p, opt, x->o, x->lse, &d);
    ck_assert_msg(st == DEFT_OK, "%s: %s", name, d.message);
}

static void same_bits(const char *name, const char *spec, int64_t hq, int64_t hkv, int64_t d,
                      int dtype, int64_t ct)
{
    deft_case c;
    if (spec == PREFILL) make_prefill(&c, hq, hkv, d, dtype);
    else gen_small(&c, spec, hq, hkv, d, dtype);
    outputs a, b;
    outputs_alloc(&a, &c.problem);
    outputs_alloc(&b, &c.problem);
    deft_options two = {ct, 0, 2}, one = {ct, 0, 1};
    run_ok(name, &c.problem, &two, &a);
    for (int rep = 0; rep < 2; rep++) {
        run_ok(name, &c.problem, rep ? &one : &two, &b);
        ck_assert_msg(memcmp(a.o, b.o, a.n * sizeof(float)) == 0 &&
                          memcmp(a.lse, b.lse, a.r * sizeof(float)) == 0,
                      "%s on %s: outputs differ between runs (threads 2 vs %d)", name, spec,
                      rep ? 1 : 2);
    }
    outputs_free(&a), outputs_free(&b);
    deft_case_free(&c);
}

START_TEST(bitwise_deterministic)
{
    same_bits("cpu", "tot", 8, 2, 16, DEFT_F32, 0);
    same_bits("cpu", "tot", 8, 2, 16, DEFT_F16, 37);
    same_bits("cpu", PREFILL, 4, 1, 37, DEFT_F32, 33);
    same_bits("cpu", PREFILL, 4, 2, 16, DEFT_F32, 0); /* default chunks on a small tree */
    same_bits("cpu-seq", PREFILL, 4, 1, 37, DEFT_F16, 0);
    same_bits("cpu-seq", "tot", 8, 2, 16, DEFT_BF16, 0);
    char spec[32];
    for (int seed = 0; seed < 20; seed++) {
        snprintf(spec, sizeof spec, "random:%d", seed);
        same_bits("cpu", spec, 0, 0, 0, -1, seed % 2 ? 0 : 1 + seed % 5);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * A NaN or infinity in a token a query does not see must not reach it. The reference marks the
 * rows that do see one (not compared); every other row must match, and so must be finite. */

static void poison_token(deft_case *c, int64_t row, int64_t kvh, float kval, float vval)
{
    deft_problem *p = &c->problem;
    size_t at = (size_t)((row * p->shape.hkv + kvh) * p->shape.d + (p->shape.d - 1));
    if (p->shape.dtype == DEFT_F32) {
        ((float *)c->k)[at] = kval;
        ((float *)c->v)[at] = vval;
    } else if (p->shape.dtype == DEFT_F16) {
        ((uint16_t *)c->k)[at] = deft_f32_to_f16(kval);
        ((uint16_t *)c->v)[at] = deft_f32_to_f16(vval);
    } else {
        ((uint16_t *)c->k)[at] = deft_f32_to_bf16(kval);
        ((uint16_t *)c->v)[at] = deft_f32_to_bf16(vval);
    }
}

START_TEST(hidden_nonfinite_tokens_stay_hidden)
{
    /* The prefill case. Poison node 0's last token (K NaN, V +Inf; KV head 0), its token 149,
     * the last of its first chunk at the default size (K -Inf, V NaN; KV head 1), and node 1's
     * last token (V -Inf; KV head 0). A query before a poisoned token must not see it, even when
     * that token is in the same chunk as the query's own visible tokens. */
    static const deft_options opts[] = {{0, 0, 0}, {7, 0, 2}, {1, 0, 1}, {150, 3, 2}, {512, 0, 1},
                                        {40, 0, 2}};
    tally t = {0, 0, ""};
    char why[512];
    for (int dt = 0; dt < 3; dt++) {
        deft_case c;
        make_prefill(&c, 4, 2, 16, dt);
        deft_problem *p = &c.problem;
        int64_t r0 = deft_tree_kv_offset(&p->tree, 0), r1 = deft_tree_kv_offset(&p->tree, 1);
        poison_token(&c, r0 + 299, 0, NAN, INFINITY);
        poison_token(&c, r0 + 149, 1, -INFINITY, NAN);
        poison_token(&c, r1 + 39, 0, 1.0f, -INFINITY);
        deft_reference ref;
        deft_diag diag;
        ck_assert(deft_reference_compute(p, &ref, &diag) == DEFT_OK);
        /* the test means something: some rows read a poisoned token, most do not */
        int64_t rows = (int64_t)lse_elems(p), nonfinite = 0;
        for (int64_t r = 0; r < rows; r++) nonfinite += ref.row_class[r] == DEFT_ROW_NONFINITE;
        ck_assert_msg(nonfinite > 0 && nonfinite < rows / 2, "%lld of %lld rows poisoned",
                      (long long)nonfinite, (long long)rows);
        outputs x;
        outputs_alloc(&x, p);
        for (int i = 0; BOTH[i]; i++)
            for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
                int ok = run_judged(BOTH[i], "prefill+poison", p, &ref, &opts[k], &x, why,
                                    sizeof why);
                for (int64_t r = 0; ok && r < rows; r++)
                    if (ref.row_class[r] == DEFT_ROW_CHECKED && !isfinite(x.lse[r])) ok = 0;
                tally_add(&t, ok, why);
            }
        outputs_free(&x);
        deft_reference_free(&ref);
        deft_case_free(&c);
    }
    tally_check(&t);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Building blocks. */

/* |got - want| in units of the float spacing at want (subnormal spacing below 2^-126). */
static double ulps(float got, double want)
{
    if (got == want) return 0;
    double a = fabs(want);
    int e;
    frexp(a < 0x1p-126 ? 0x1p-126 : a, &e);
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

START_TEST(fast_exp_accuracy)
{
    /* [-104, 0] densely (the softmax's range, with the subnormal tail), then [0, 88.7] */
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    ck_assert(x && y);
    double worst = 0, worst_x = 0;
    for (int part = 0; part < 2; part++) {
        double lo = part ? 0.0 : -104.0, hi = part ? 88.7 : 0.0;
        for (int i = 0; i < N; i++) x[i] = (float)(lo + (hi - lo) * i / (N - 1));
        deft_cpu_exp(x, y, N);
        for (int i = 0; i < N; i++) {
            double u = ulps(y[i], exp((double)x[i]));
            if (u > worst) worst = u, worst_x = x[i];
            ck_assert(memcmp(&y[i], &(float){deft_cpu_expf(x[i])}, 4) == 0); /* clones agree */
        }
    }
    /* random bit patterns of negative floats down to -104 */
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float v = -deft_cpu_float((uint32_t)(s >> 33) & 0x7fffffffu);
        x[i] = isfinite(v) && v >= -104.0f ? v : -1.0f;
    }
    deft_cpu_exp(x, y, N);
    for (int i = 0; i < N; i++) {
        double u = ulps(y[i], exp((double)x[i]));
        if (u > worst) worst = u, worst_x = x[i];
    }
    fprintf(stderr, "fast exp: worst %.3f ulp at x = %.9g\n", worst, worst_x);
    ck_assert_msg(worst <= 2.0, "fast exp: %.3f ulp at x = %.9g", worst, worst_x);
    /* special values, in place */
    float sp[8] = {-INFINITY, -1000.0f, -105.0f, 0.0f, -0.0f, 89.0f, INFINITY, NAN};
    deft_cpu_exp(sp, sp, 8);
    ck_assert(sp[0] == 0.0f && !signbit(sp[0]) && sp[1] == 0.0f && sp[2] == 0.0f);
    ck_assert(sp[3] == 1.0f && sp[4] == 1.0f);
    ck_assert(isinf(sp[5]) && sp[5] > 0 && isinf(sp[6]) && sp[6] > 0);
    ck_assert(isnan(sp[7]));
    free(x), free(y);
}
END_TEST

START_TEST(widening_is_exact)
{
    /* every f16 and bf16 bit pattern, against the library's scalar conversions; rows and strides */
    static uint16_t src[65536 + 3];
    static float dst[65536];
    for (int dt = DEFT_F16; dt <= DEFT_BF16; dt++) {
        for (uint32_t i = 0; i < 65536; i++) src[i + 3] = (uint16_t)i;
        deft_cpu_widen(src, (deft_dtype)dt, 3, 256, 256, 256, dst);
        for (uint32_t i = 0; i < 65536; i++) {
            uint16_t b = (uint16_t)i;
            float want = dt == DEFT_F16 ? deft_f16_to_f32(b) : deft_bf16_to_f32(b);
            if (isnan(want))
                ck_assert_msg(isnan(dst[i]), "dtype %d bits %04x", dt, i);
            else
                ck_assert_msg(memcmp(&want, &dst[i], 4) == 0, "dtype %d bits %04x: %g vs %g", dt,
                              i, dst[i], want);
        }
    }
    /* f32 rows with a stride: every other row of 5 */
    float f[40], g[20];
    for (int i = 0; i < 40; i++) f[i] = (float)i;
    deft_cpu_widen(f, DEFT_F32, 1, 10, 4, 5, g);
    for (int r = 0; r < 4; r++)
        for (int x = 0; x < 5; x++) ck_assert(g[r * 5 + x] == (float)(1 + 10 * r + x));
}
END_TEST

START_TEST(softmax_row_matches_double)
{
    float s[200];
    uint64_t st = 99;
    for (int n = 1; n <= 200; n += 7) {
        double want_m = -INFINITY, want_l = 0;
        for (int j = 0; j < n; j++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            s[j] = (float)((double)(st >> 40) * 0x1p-24 * 40.0 - 30.0);
            if (s[j] > want_m) want_m = s[j];
        }
        float orig[200];
        memcpy(orig, s, sizeof orig);
        for (int j = 0; j < n; j++) want_l += exp((double)orig[j] - want_m);
        float m, l = deft_cpu_softmax_row(s, n, &m);
        ck_assert(m == (float)want_m);
        ck_assert_msg(fabs(l - want_l) <= 1e-6 * want_l, "n %d: l %.9g vs %.9g", n, l, want_l);
        for (int j = 0; j < n; j++) { /* the argument is rounded to float first */
            double w = exp((double)(orig[j] - m));
            ck_assert_msg(fabs(s[j] - w) <= 2.5e-7 * w + 1e-45, "n %d, j %d: %.9g vs %.9g", n, j,
                          s[j], w);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Bad input: a status, never a crash. */

START_TEST(bad_input)
{
    int64_t par[2] = {-1, 0}, kv[2] = {3, 2}, q[2] = {1, 2};
    float qd[3 * 2 * 4], kvd[5 * 1 * 4], o[3 * 2 * 4], lse[3 * 2];
    memset(qd, 0, sizeof qd), memset(kvd, 0, sizeof kvd);
    deft_problem p = {{2, par, kv, q, NULL, 5}, {2, 1, 4, 0.0, DEFT_F32}, qd, kvd, kvd};
    deft_diag d;
    for (int i = 0; BOTH[i]; i++) {
        const deft_impl *im = impl(BOTH[i]);
        ck_assert_int_eq(deft_impl_supports(im, &p, &d), DEFT_OK);
        ck_assert_int_eq(deft_impl_run(im, &p, NULL, o, lse, &d), DEFT_OK);
        ck_assert_int_eq(deft_impl_run(im, &p, NULL, NULL, lse, &d), DEFT_ERR_NULL);
        ck_assert_int_eq(deft_impl_run(im, &p, NULL, o, NULL, &d), DEFT_ERR_NULL);
        ck_assert(d.message[0] != '\0');
        deft_problem b = p;
        int64_t badpar[2] = {-1, 1};
        b.tree.parent = badpar;
        ck_assert_int_eq(deft_impl_run(im, &b, NULL, o, lse, &d), DEFT_ERR_BAD_PARENT);
        ck_assert_int_eq(deft_impl_supports(im, &b, &d), DEFT_ERR_BAD_PARENT);
        b = p;
        b.shape.hkv = 3;
        ck_assert_int_eq(deft_impl_run(im, &b, NULL, o, lse, &d), DEFT_ERR_HEADS);
        b = p;
        b.q = NULL;
        ck_assert_int_eq(deft_impl_run(im, &b, NULL, o, lse, &d), DEFT_ERR_NULL);
        b = p;
        b.shape.scale = NAN;
        ck_assert_int_eq(deft_impl_run(im, &b, NULL, o, lse, &d), DEFT_ERR_SCALE);
        /* no queries: nothing to write, NULL outputs are fine */
        int64_t q0[2] = {0, 0};
        b = p;
        b.tree.q_len = q0;
        ck_assert_int_eq(deft_impl_run(im, &b, NULL, NULL, NULL, &d), DEFT_OK);
        deft_tree none = {0, NULL, NULL, NULL, NULL, 0};
        b = p;
        b.tree = none;
        ck_assert_int_eq(deft_impl_run(im, &b, NULL, NULL, NULL, &d), DEFT_OK);
    }
    /* options the plan rejects */
    deft_options neg = {-1, 0, 0};
    ck_assert_int_eq(deft_impl_run(impl("cpu"), &p, &neg, o, lse, &d), DEFT_ERR_ARG);
    neg = (deft_options){0, -2, 0};
    ck_assert_int_eq(deft_impl_run(impl("cpu"), &p, &neg, o, lse, &d), DEFT_ERR_ARG);
}
END_TEST

START_TEST(deep_chain_many_merges)
{
    /* 5000 nodes of 2 tokens in a chain, one query at the bottom: 5000 partials to merge. A float
     * running state drifts by sqrt(5000) |lse| 2^-24 past the tolerance; the reduction keeps it
     * in double. */
    int64_t n = 5000;
    deft_case c;
    deft_diag d;
    ck_assert_int_eq(deft_case_init(&c, n, 0, &d), DEFT_OK);
    for (int64_t i = 0; i < n; i++) c.parent[i] = i - 1, c.kv_len[i] = 2, c.q_len[i] = i == n - 1;
    c.problem.tree.total_kv = 2 * n;
    c.problem.shape = (deft_shape){2, 1, 2, 0.0, DEFT_F32};
    ck_assert_int_eq(deft_case_alloc_data(&c, &d), DEFT_OK);
    float *k = c.k, *v = c.v, *q = c.q;
    uint32_t x = 99;
    for (int64_t i = 0; i < 4 * n; i++) {
        x = x * 1103515245u + 12345u;
        k[i] = (float)((x >> 9) % 4096) / 1024.0f - 2.0f;
        x = x * 1103515245u + 12345u;
        v[i] = (float)((x >> 9) % 4096) / 2048.0f - 1.0f;
    }
    for (int i = 0; i < 4; i++) q[i] = 0.5f * (float)(i + 1);
    deft_reference ref;
    ck_assert_int_eq(deft_reference_compute(&c.problem, &ref, &d), DEFT_OK);
    float o[4], lse[2];
    deft_options opt = {2, 0, 0};
    for (int chunked = 0; chunked < 2; chunked++) {
        ck_assert_int_eq(deft_impl_run(impl("cpu"), &c.problem, chunked ? &opt : NULL, o, lse, &d), DEFT_OK);
        deft_report rep;
        ck_assert_int_eq(deft_compare(&ref, o, lse, NULL, &rep, &d), DEFT_OK);
        ck_assert_msg(rep.pass, "deep chain: worst %.3g x tolerance", rep.worst_ratio);
    }
    deft_reference_free(&ref);
    deft_case_free(&c);
}
END_TEST

Suite *cpu_suite(void)
{
    Suite *s = suite_create("cpu");
    TCase *tb = tcase_create("blocks");
    tcase_add_test(tb, fast_exp_accuracy);
    tcase_add_test(tb, widening_is_exact);
    tcase_add_test(tb, softmax_row_matches_double);
    tcase_add_test(tb, bad_input);
    suite_add_tcase(s, tb);
    TCase *td = tcase_create("differential");
    tcase_add_test(td, cpu_random_forests);
    tcase_add_test(td, deep_chain_many_merges);
    tcase_add_test(td, cpu_random_forests_small_chunks);
    tcase_add_test(td, seq_random_forests);
    tcase_add_test(td, standard_workloads_small_shape);
    tcase_add_test(td, prefill_split_into_many_chunks);
    suite_add_tcase(s, td);
    TCase *tr = tcase_create("robust");
    tcase_add_test(tr, bitwise_deterministic);
    tcase_add_test(tr, hidden_nonfinite_tokens_stay_hidden);
    suite_add_tcase(s, tr);
    return s;
}
