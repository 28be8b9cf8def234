/* deft_cpu.c: DeFT on the CPU. Phase 1 is the plan (common/plan.c); here are phase 2, partial
 * attention of every (chunk, KV head) item with sgemm, and phase 3, the global reduction that
 * merges each query's partials in the plan's fixed order (deft_merge). docs/algorithm.md walks
 * through the steps; the reference (ref/ref.c) is the definition this is checked against.
 *
 * What changed from the sequence-based baseline (seq_cpu.c): a chunk's KV is read once for all
 * the queries that see it, and those queries, times the G = hq/hkv query heads sharing the KV
 * head, are stacked into the rows of one sgemm, so the K and V bytes are amortised over many
 * rows and the sgemm runs at a useful shape. */
#define _DEFAULT_SOURCE /* madvise and MADV_HUGEPAGE, where the system has them */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cpu.h"

/* Rows (stacked query heads) per sgemm block: bounds the per-thread score buffer whatever the
 * number of queries per chunk, while keeping the sgemm tall enough to run near peak. */
#define ROWS_PER_BLOCK 512
/* Pairs whose visible counts differ by at most BAND share one block: the block's P.V sgemm runs
 * over the columns every row sees, and each row adds its own last (at most BAND) columns by
 * axpy. */
#define BAND 32
/* A chunk whose stacked rows are fewer than this is memory-bound (its K and V are read for a few
 * rows); more, compute-bound. The two kinds are interleaved in the work order (order_items). */
#define SMALL_ROWS 64
/* chunk_tokens when the caller leaves it 0. Longer than the GPU's DEFT_DEFAULT_CHUNK_TOKENS: a
 * few dozen CPU threads at most need far fewer chunks to stay busy, and every chunk costs a
 * partial O per (query, head) it serves: on `wide` (f32) 256-token chunks write and read back
 * 1057 MB of partials against 807 MB of K and V, and run in 1016 ms on 2 cores against 890 ms with
 * 1024-token chunks (4096: 909 ms, too few items to even out; docs/performance.md). Halved
 * (down to 64) while the tree would give fewer than MIN_ITEMS items; a constant, not the thread
 * count, so the bits do not depend on the threads. */
#define CPU_CHUNK_TOKENS 1024
#define MIN_ITEMS 128
/* Partials are large (n_pairs * hq * d floats) and touched once: on Linux ask for huge pages, so
 * the first touch costs a fault per 2 MiB instead of per 4 KiB. */
#define HUGE_PAGE ((size_t)1 << 21)

/* Per-thread buffers, sized once per run from the plan. */
typedef struct {
    float *q;     /* (rows_cap, d) stacked queries of one block */
    float *s;     /* (rows_cap, max_chunk_len) scores, then probabilities */
    float *o;     /* (rows_cap, d) unnormalised partial outputs */
    float *m, *l; /* (rows_cap) row max and row sum */
    float *k, *v; /* (max_chunk_len, d) widened K and V of one item; f16 / bf16 only */
} scratch;

/* What every item reads. */
typedef struct {
    const deft_problem *p;
    const deft_plan *pl;
    int64_t hq, hkv, d, g; /* g = hq / hkv query heads per KV head */
    int64_t pairs_cap;     /* most pairs per block */
    float scale;
    float *po;   /* (n_pairs, hq, d) partial outputs, normalised */
    float *pm;   /* (n_pairs, hq) partial row max m; -inf for the empty state */
    float *pls;  /* (n_pairs, hq) ln of the partial row sum: the partial LSE is m + pls */
} job;

static void scratch_free(scratch *s)
{
    free(s->q), free(s->s), free(s->o), free(s->m), free(s->l), free(s->k), free(s->v);
    memset(s, 0, sizeof *s);
}

static int scratch_alloc(scratch *s, const job *j)
{
    size_t rows = (size_t)(j->pairs_cap * j->g), len = (size_t)j->pl->max_chunk_len,
           d = (size_t)j->d;
    memset(s, 0, sizeof *s);
    s->q = malloc(rows * d * sizeof(float));
    s->s = malloc(rows * (len ? len : 1) * sizeof(float));
    s->o = malloc(rows * d * sizeof(float));
    s->m = malloc(rows * sizeof(float));
    s->l = malloc(rows * sizeof(float));
    int ok = s->q && s->s && s->o && s->m && s->l;
    if (j->p->shape.dtype != DEFT_F32) {
        s->k = malloc((len ? len : 1) * d * sizeof(float));
        s->v = malloc((len ? len : 1) * d * sizeof(float));
        ok = ok && s->k && s->v;
    }
    if (!ok) scratch_free(s);
    return ok;
}

/* One block: pairs e0..e1-1 of a chunk whose K and V rows (head g) are kp, vp with row stride
 * ld. Every pair sees at least vlo and at most vhi of the chunk's tokens.
 *   S = scale Q K^T over columns 0..vhi-1 (a row ignores its columns past its own visible count);
 *   P = exp(S - m) over each row's visible columns; O = P V over columns 0..vlo-1 by sgemm, plus
 *   each row's columns vlo..visible-1 by axpy.
 * No row ever multiplies a column it does not see, so a NaN or Inf in a hidden K or V row (a
 * token after a query's position) cannot reach its result. */
static void run_block(const job *j, scratch *sc, int64_t g, int64_t e0, int64_t e1, int64_t vlo,
                      int64_t vhi, const float *kp, const float *vp, int64_t ld)
{
    const deft_problem *p = j->p;
    const int32_t *vis = j->pl->pair_visible, *qry = j->pl->pair_query;
    int64_t G = j->g, d = j->d, hq = j->hq, rows = (e1 - e0) * G;
    /* Q rows: pair-local index * G + head in group; the G heads of a query are adjacent in q */
    for (int64_t e = e0; e < e1; e++)
        deft_cpu_widen(p->q, p->shape.dtype, (size_t)((qry[e] * hq + g * G) * d), (size_t)d, 1,
                       G * d, sc->q + (size_t)((e - e0) * G * d));
    if (vhi > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)vhi, (int)d, j->scale,
                    sc->q, (int)d, kp, (int)ld, 0.0f, sc->s, (int)vhi);
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = vis[e0 + r / G];
        if (n > 0) sc->l[r] = deft_cpu_softmax_row(sc->s + r * vhi, n, &sc->m[r]);
    }
    if (vlo > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)vlo, 1.0f,
                    sc->s, (int)vhi, vp, (int)ld, 0.0f, sc->o, (int)d);
    else
        memset(sc->o, 0, (size_t)(rows * d) * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = vis[e0 + r / G];
        float *orow = sc->o + r * d;
        const float *prow = sc->s + r * vhi;
        for (int64_t c = vlo; c < n; c++) deft_cpu_axpy(prow[c], vp + c * ld, orow, d);
    }
    for (int64_t r = 0; r < rows; r++) {
        int64_t e = e0 + r / G, h = g * G + r % G;
        float *dst = j->po + (size_t)((e * hq + h) * d);
        const float *orow = sc->o + r * d;
        if (vis[e] > 0) {
            float l = sc->l[r];
            deft_cpu_scale(1.0f / l, orow, dst, d);
            j->pm[e * hq + h] = sc->m[r];
            j->pls[e * hq + h] = logf(l);
        } else { /* the plan lists no such pair; if it did, it is the empty state */
            memset(dst, 0, (size_t)d * sizeof *dst);
            j->pm[e * hq + h] = -INFINITY;
            j->pls[e * hq + h] = 0.0f;
        }
    }
}

/* Phase 2 for one item: chunk c against KV head g, its pairs cut into blocks of at most
 * pairs_cap pairs whose visible counts lie within BAND of each other. Returns 0 on a plan
 * that breaks its own bounds (a bug), 1 otherwise. */
static int run_item(const job *j, scratch *sc, int64_t c, int64_t g)
{
    const deft_problem *p = j->p;
    const deft_plan *pl = j->pl;
    int64_t len = pl->chunk_len[c], row0 = pl->chunk_kv_row[c], hkv = j->hkv, d = j->d;
    int64_t e_begin = pl->pair_start[c], e_end = pl->pair_start[c + 1];
    if (len < 0 || len > pl->max_chunk_len || e_end - e_begin > pl->max_chunk_pairs) return 0;
    for (int64_t e = e_begin; e < e_end; e++)
        if (pl->pair_visible[e] < 0 || pl->pair_visible[e] > len) return 0;
    const float *kp, *vp;
    int64_t ld;
    size_t first = (size_t)((row0 * hkv + g) * d);
    if (p->shape.dtype == DEFT_F32) { /* strided straight into sgemm: no copy */
        kp = (const float *)p->k + first;
        vp = (const float *)p->v + first;
        ld = hkv * d;
    } else {
        deft_cpu_widen(p->k, p->shape.dtype, first, (size_t)(hkv * d), len, d, sc->k);
        deft_cpu_widen(p->v, p->shape.dtype, first, (size_t)(hkv * d), len, d, sc->v);
        kp = sc->k, vp = sc->v, ld = d;
    }
    /* even blocks: 270 pairs with a cap of 128 make 3 blocks of 90, not 128 + 128 + 14 */
    int64_t n_blocks = (e_end - e_begin + j->pairs_cap - 1) / j->pairs_cap;
    int64_t cap = n_blocks > 0 ? (e_end - e_begin + n_blocks - 1) / n_blocks : 1;
    for (int64_t e0 = e_begin, e1; e0 < e_end; e0 = e1) {
        int64_t vlo = pl->pair_visible[e0], vhi = vlo;
        for (e1 = e0 + 1; e1 < e_end && e1 - e0 < cap; e1++) {
            int64_t v = pl->pair_visible[e1];
            int64_t lo = v < vlo ? v : vlo, hi = v > vhi ? v : vhi;
            if (hi - lo > BAND) break;
            vlo = lo, vhi = hi;
        }
        run_block(j, sc, g, e0, e1, vlo, vhi, kp, vp, ld);
    }
    return 1;
}

/* Phase 3 for query q: every head starts from the empty state (0, -inf) and merges its pairs'
 * partials in the plan's order (ancestors root first, then its own node; chunks in token order),
 * with the running state in double (deft_merge_f64): a float state would be re-rounded at every
 * merge, and on a chain of thousands of small nodes its LSE drifts past the tolerance. A partial
 * enters as m_e + ln l_e, summed in double. acc holds d doubles. */
static void reduce_query(const job *j, int64_t q, double *acc, float *o, float *lse)
{
    const deft_plan *pl = j->pl;
    int64_t hq = j->hq, d = j->d, k0 = pl->red_start[q], k1 = pl->red_start[q + 1];
    for (int64_t h = 0; h < hq; h++) {
        double l = -INFINITY;
        for (int64_t x = 0; x < d; x++) acc[x] = 0.0;
        for (int64_t k = k0; k < k1; k++) {
            int64_t e = pl->red_pair[k];
            double part = (double)j->pm[e * hq + h] + (double)j->pls[e * hq + h];
            deft_merge_f64(acc, &l, j->po + (size_t)((e * hq + h) * d), part, d);
        }
        float *orow = o + (size_t)((q * hq + h) * d);
        for (int64_t x = 0; x < d; x++) orow[x] = (float)acc[x];
        lse[q * hq + h] = (float)l;
    }
}

static float *alloc_partials(size_t bytes)
{
    void *mem = NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= HUGE_PAGE && !posix_memalign(&mem, HUGE_PAGE, bytes)) {
        madvise(mem, bytes - bytes % HUGE_PAGE, MADV_HUGEPAGE); /* advice only: ignore failure */
        return mem;
    }
#endif
    mem = malloc(bytes);
    return mem;
}

/* The options the plan is built with: the caller's, with chunk_tokens 0 replaced by the CPU's
 * default (CPU_CHUNK_TOKENS, halved down to 64 while the tree would give fewer than MIN_ITEMS
 * (chunk, KV head) items). */
deft_options deft_cpu_plan_options(const deft_problem *p, const deft_options *opt)
{
    deft_options o = {0, 0, 0};
    if (opt) o = *opt;
    if (o.chunk_tokens) return o;
    const deft_tree *t = &p->tree;
    for (o.chunk_tokens = CPU_CHUNK_TOKENS; o.chunk_tokens > 64; o.chunk_tokens /= 2) {
        int64_t chunks = 0;
        for (int64_t i = 0; i < t->n_nodes; i++)
            chunks += (t->kv_len[i] + o.chunk_tokens - 1) / o.chunk_tokens;
        if (chunks * p->shape.hkv >= MIN_ITEMS) break;
    }
    return o;
}

/* The order the threads take items in (item = chunk * hkv + KV head): compute-bound items (at
 * least SMALL_ROWS stacked rows) and memory-bound ones interleaved in proportion to their total
 * cost, so while one thread streams KV for a few rows, another keeps the FMA units busy, and both
 * lists run out together. Each list keeps the plan's order. Any order gives the same bits: items
 * write disjoint partials. */
static void order_items(const job *j, int64_t *order)
{
    const deft_plan *pl = j->pl;
    double big_total = 0, small_total = 0, big_done = 0, small_done = 0;
    for (int64_t c = 0; c < pl->n_chunks; c++) {
        int64_t rows = (pl->pair_start[c + 1] - pl->pair_start[c]) * j->g;
        if (rows >= SMALL_ROWS) big_total += (double)rows * pl->chunk_len[c];
        else small_total += (double)SMALL_ROWS * pl->chunk_len[c];
    }
    int64_t n = 0, cb = 0, cs = 0, nc = pl->n_chunks;
    while (cb < nc || cs < nc) {
        /* next chunk of each kind */
        while (cb < nc && (pl->pair_start[cb + 1] - pl->pair_start[cb]) * j->g < SMALL_ROWS) cb++;
        while (cs < nc && (pl->pair_start[cs + 1] - pl->pair_start[cs]) * j->g >= SMALL_ROWS) cs++;
        if (cb >= nc && cs >= nc) break;
        int take_big = cs >= nc || (cb < nc && big_done * small_total <= small_done * big_total);
        int64_t c = take_big ? cb++ : cs++;
        int64_t rows = (pl->pair_start[c + 1] - pl->pair_start[c]) * j->g;
        if (take_big) big_done += (double)rows * pl->chunk_len[c];
        else small_done += (double)SMALL_ROWS * pl->chunk_len[c];
        for (int64_t g = 0; g < j->hkv; g++) order[n++] = c * j->hkv + g;
    }
}

deft_status deft_cpu_supports(const deft_problem *p, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    return st != DEFT_OK ? st : deft_cpu_blas_fits(p, "cpu", diag);
}

deft_status deft_cpu_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                         deft_diag *diag)
{
    deft_status st = deft_cpu_supports(p, diag);
    if (st != DEFT_OK) return st;
    int64_t tq = deft_tree_total_q(&p->tree);
    if (tq > 0 && (!o || !lse)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "cpu: output o or lse is NULL");
        return DEFT_ERR_NULL;
    }
    int nt = deft_cpu_threads(opt);
    deft_options popt = deft_cpu_plan_options(p, opt);
    deft_plan plan;
    if ((st = deft_plan_build(&p->tree, &popt, &plan, diag)) != DEFT_OK) return st;
    if (tq == 0) {
        deft_plan_free(&plan);
        deft_diag_clear(diag);
        return DEFT_OK;
    }
    if (plan.n_queries != tq) {
        deft_plan_free(&plan);
        deft_diag_set(diag, DEFT_ERR_INTERNAL, -1, "cpu: plan has %d queries, the tree %lld",
                      (int)plan.n_queries, (long long)tq);
        return DEFT_ERR_INTERNAL;
    }
    job j = {p, &plan, p->shape.hq, p->shape.hkv, p->shape.d, p->shape.hq / p->shape.hkv, 0,
             (float)deft_shape_scale(&p->shape), NULL, NULL, NULL};
    int64_t cap = ROWS_PER_BLOCK / j.g;
    if (cap < 1) cap = 1;
    if (cap > plan.max_chunk_pairs) cap = plan.max_chunk_pairs > 0 ? plan.max_chunk_pairs : 1;
    j.pairs_cap = cap;
    size_t n_po, n_lse, bytes;
    if (deft_mul_size(plan.n_pairs, j.hq, &n_lse) || deft_mul_size((int64_t)n_lse, j.d, &n_po) ||
        deft_mul_size((int64_t)n_po, sizeof(float), &bytes)) {
        deft_plan_free(&plan);
        deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "cpu: partials of %d pairs overflow size_t",
                      (int)plan.n_pairs);
        return DEFT_ERR_OVERFLOW;
    }
    j.po = alloc_partials(n_po ? bytes : 1);
    j.pm = malloc((n_lse ? n_lse : 1) * sizeof(float));
    j.pls = malloc((n_lse ? n_lse : 1) * sizeof(float));
    int oom = 0, bad = 0;
    int64_t items = (int64_t)plan.n_chunks * j.hkv;
    int64_t *order = malloc((size_t)(items ? items : 1) * sizeof *order);
    if (j.po && j.pm && j.pls && order) {
        order_items(&j, order);
#pragma omp parallel num_threads(nt) reduction(| : oom, bad)
        {
            /* Only this task's ICV: keeps OpenBLAS single-threaded in a team of one too (it
             * already is in a larger team, where omp_in_parallel() holds). */
            omp_set_num_threads(1);
            scratch sc;
            oom = !scratch_alloc(&sc, &j);
#pragma omp for schedule(dynamic, 1)
            for (int64_t i = 0; i < items; i++)
                if (!oom && !bad) bad = !run_item(&j, &sc, order[i] / j.hkv, order[i] % j.hkv);
            scratch_free(&sc);
        }
    } else {
        oom = 1;
    }
    if (!oom && !bad) {
#pragma omp parallel num_threads(nt) reduction(| : oom)
        {
            double *acc = malloc((size_t)j.d * sizeof *acc);
            oom = !acc;
#pragma omp for schedule(static)
            for (int64_t q = 0; q < tq; q++)
                if (acc) reduce_query(&j, q, acc, o, lse);
            free(acc);
        }
    }
    free(order);
    free(j.po);
    free(j.pm);
    free(j.pls);
    deft_plan_free(&plan);
    if (oom) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "cpu: out of memory for partials or scratch");
        return DEFT_ERR_NO_MEMORY;
    }
    if (bad) {
        deft_diag_set(diag, DEFT_ERR_INTERNAL, -1, "cpu: a plan chunk breaks the plan's bounds");
        return DEFT_ERR_INTERNAL;
    }
    deft_diag_clear(diag);
    return DEFT_OK;
}
