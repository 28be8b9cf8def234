/* gpu_common.c: host-only arithmetic of the GPU paths, built with or without CUDA: how many KV
 * tokens a version-2 chunk may hold, the default chunk size, and the workspace of the partials
 * (DeFT phase 2's output, phase 3's input). */
#include "gpu.h"
#include "gpu_geom.h"
#include "internal.h"

static int fast_shape(const deft_shape *s)
{
    return s && (s->dtype == DEFT_F16 || s->dtype == DEFT_BF16) &&
           (s->d == 64 || s->d == 128 || s->d == 256);
}

int64_t deft_gpu_max_chunk_tokens(const deft_shape *s)
{
    if (!fast_shape(s)) return 0;
    size_t row = (size_t)(s->d + DEFT_GPU_PAD) * 2u;
    size_t left = DEFT_GPU_SMEM_SM90 - 256 - (size_t)DEFT_GPU_QROWS * row - DEFT_GPU_SCRATCH_BYTES(s->d);
    int64_t tokens = (int64_t)(left / (2 * row));
    return tokens / DEFT_GPU_TILE * DEFT_GPU_TILE;
}

/* The cost model behind deft_gpu_choose_chunk_tokens, with constants measured on the H200
 * (gpu/NOTES.md): a pass of 128 rows over a 64-token tile in the persistent kernel takes about
 * T_PASS for D = 128 (proportionally more or less for other D), 132 SMs run passes in parallel but
 * an item's passes run in sequence, and small items, the partials' writes and the reduction's reads
 * move at about BW. */
#define MODEL_T_PASS 3.2e-6
#define MODEL_SMS 132.0
#define MODEL_BW 3.0e12

static double modeled_time(const deft_plan *p, const deft_shape *s)
{
    double passes = 0, crit = 0, small = 0, g = (double)(s->hq / s->hkv);
    double elt = (double)deft_dtype_size(s->dtype);
    for (int32_t c = 0; c < p->n_chunks; c++) {
        double rows = (double)(p->pair_start[c + 1] - p->pair_start[c]) * g;
        double tiles = (double)((p->chunk_len[c] + DEFT_GPU_TILE - 1) / DEFT_GPU_TILE);
        if (rows > DEFT_GPU_SMALL_ROWS) {
            double q = (double)(((int64_t)rows + DEFT_GPU_QROWS - 1) / DEFT_GPU_QROWS) * tiles;
            passes += q * (double)s->hkv;
            if (q > crit) crit = q;
        } else {
            small += (double)p->chunk_len[c] * (double)s->d * elt * 2.0 * (double)s->hkv;
        }
    }
    double partial = (double)p->n_pairs * (double)s->hq * (double)(s->d + 1) * 4.0;
    double big = (passes / MODEL_SMS > crit ? passes / MODEL_SMS : crit) * MODEL_T_PASS * (double)s->d / 128.0;
    return big + small / MODEL_BW + 1.3 * partial / MODEL_BW;
}

int64_t deft_gpu_choose_chunk_tokens(const deft_tree *t, const deft_shape *s)
{
    static const int64_t cand[] = {64, 128, 256};
    int64_t cap = deft_gpu_max_chunk_tokens(s), pick = 0;
    if (cap == 0) return DEFT_DEFAULT_CHUNK_TOKENS;
    double best = 0;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0] && cand[i] <= cap; i++) {
        deft_options o = {cand[i], 0, 0};
        deft_plan p;
        if (deft_plan_build(t, &o, &p, NULL) != DEFT_OK) continue;
        double time = modeled_time(&p, s);
        deft_plan_free(&p);
        if (!pick || time < best) best = time, pick = cand[i];
    }
    return pick ? pick : (cap < DEFT_DEFAULT_CHUNK_TOKENS ? cap : DEFT_DEFAULT_CHUNK_TOKENS);
}

static size_t align256(size_t x)
{
    return (x + 255u) & ~(size_t)255u;
}

size_t deft_gpu_workspace_size(const deft_plan *plan, const deft_shape *s)
{
    if (!plan || !s || plan->n_pairs <= 0 || s->hq < 1 || s->d < 1) return 0;
    size_t rows, elems;
    if (deft_mul_size(plan->n_pairs, s->hq, &rows) || deft_mul_size((int64_t)rows, s->d, &elems))
        return 0;
    if (elems > ((size_t)-1 - 1024) / 8) return 0;
    /* + version 2's counters (256 bytes) and its list of large chunks */
    return align256(elems * sizeof(float)) + align256(rows * sizeof(float)) + 256 +
           align256((size_t)plan->n_chunks * sizeof(int32_t));
}
