/* gpu_common.c: host-only arithmetic of the GPU paths, built with or without CUDA: how many KV
 * tokens a version-2 chunk may hold, the default chunk size, and the workspace of the partials
 * (DeFT phase 2's output, phase 3's input). */
#include "gpu.h"
#include "gpu_geom.h"
#include "internal.h"

int deft_gpu_units(const deft_plan *p, const deft_shape *s, int force, double *model_us);
size_t deft_gpu_unit_cap(const deft_plan *p, int64_t g);
void deft_gpu_first_units(const deft_plan *p, int64_t g, int qpu, int nslot, int want, deft_gpu_first *f);
int deft_gpu_steps(const deft_plan *p, const deft_shape *s, int step_min);

static int fast_shape(const deft_shape *s)
{
    return s && (s->dtype == DEFT_F16 || s->dtype == DEFT_BF16) &&
           (s->d == 64 || s->d == 128 || s->d == 256);
}

int deft_gpu_ring_slots(const deft_shape *s)
{
    if (!fast_shape(s)) return 0;
    size_t row = (size_t)(s->d + DEFT_GPU_PAD) * 2u;
    size_t left = DEFT_GPU_SMEM_SM90 - 256 - (size_t)DEFT_GPU_QROWS * row - DEFT_GPU_SCRATCH_BYTES(s->d);
    size_t slots = left / (2 * row) / DEFT_GPU_TILE;
    return slots < DEFT_GPU_MAX_SLOTS ? (int)slots : DEFT_GPU_MAX_SLOTS;
}

int64_t deft_gpu_max_chunk_tokens(const deft_shape *s)
{
    if (!fast_shape(s)) return 0;
    return s->d <= DEFT_GPU_QREGS_MAX_D ? DEFT_GPU_MAX_CHUNK : (int64_t)deft_gpu_ring_slots(s) * DEFT_GPU_TILE;
}

/* The cost model behind deft_gpu_choose_chunk_tokens and deft_gpu_units, with constants measured
 * on the H200 (gpu/NOTES.md): a pass of 128 rows over a 64-token tile in the persistent kernel
 * takes about T_PASS for D = 128 (proportionally more or less for other D), and each work item
 * (unit of query tiles, KV head) costs T_UNIT more (its loads, its first tile's wait); 132 SMs run
 * items in parallel but the passes of one item run in sequence; small items run beside the
 * persistent kernel on the SMs it leaves free, and they, the partials' writes and the reduction's
 * reads move at about BW; on top of its bytes, each partial row (pair, query head) costs T_ROW (the
 * reduction's chain of dependent loads per row, the scattered stores of the partials: fitted to
 * the chunk-size sweeps of gpu/NOTES.md, where the small trees gain more from fewer partials than
 * their bytes say). A chunk longer than the ring streams through it, one query tile per unit, at
 * the same T_PASS per tile. T_PASS was refit on 2026-12-01 once the tensor copies fed the ring
 * (3.2 -> 1.6 us): the model then picks the measured best chunk of the 256-8192 sweep on all six
 * standard trees (within 0.4 us on tot); on the finer candidates of deft_gpu_choose_chunk_tokens,
 * see there. */
#define MODEL_T_PASS 1.6e-6
#define MODEL_T_UNIT 1.0e-6
#define MODEL_T_ROW 5.0e-10
#define MODEL_SMS 132.0
#define MODEL_BW 3.0e12

/* Query tiles of chunk c if it is a large chunk (not DEFT_GPU_IS_SMALL), else 0. */
static int64_t chunk_qtiles(const deft_plan *p, int64_t g, int32_t c)
{
    int64_t rows = (int64_t)(p->pair_start[c + 1] - p->pair_start[c]) * g;
    return DEFT_GPU_IS_SMALL(rows, p->chunk_len[c]) ? 0 : (rows + DEFT_GPU_QROWS - 1) / DEFT_GPU_QROWS;
}

/* Query tiles per unit of a large chunk of nqt query tiles and nt 64-token tiles (chunk_units of
 * gpu/deft_gpu.cu): one when it is longer than the ring's `slots` (streamed), else q (all of them
 * for q 0, or q >= nqt); the chunk has ceil(nqt / per) units. */
static int64_t unit_qtiles(int64_t nqt, int64_t nt, int64_t q, int slots)
{
    return nt > slots ? 1 : q && q < nqt ? q : nqt;
}

/* classify_kernel of gpu/deft_gpu.cu on the host: the large chunks' units in plan order */
void deft_gpu_first_units(const deft_plan *p, int64_t g, int qpu, int nslot, int want, deft_gpu_first *f)
{
    if (want > DEFT_GPU_FIRST_MAX) want = DEFT_GPU_FIRST_MAX;
    f->n = 0, f->total = 0;
    for (int32_t c = 0; c < p->n_chunks; c++) {
        int64_t nqt = chunk_qtiles(p, g, c);
        if (!nqt) continue;
        int64_t per = unit_qtiles(nqt, (p->chunk_len[c] + DEFT_GPU_TILE - 1) / DEFT_GPU_TILE, qpu, nslot);
        int64_t nu = (nqt + per - 1) / per;
        f->total += (int)nu;
        for (int64_t j = 0; j < nu && f->n < want; j++) {
            deft_gpu_first_unit *u = &f->u[f->n++];
            u->kv0 = p->chunk_kv_row[c], u->len = p->chunk_len[c];
            u->ps = p->pair_start[c], u->pe = p->pair_start[c + 1], u->j = (int)j;
        }
    }
}

/* Units of query tiles for qpu q (0: one per chunk; a chunk of more than `slots` tiles, streamed,
 * has units of one query tile), their largest pass count and all passes. */
static void units_of(const deft_plan *p, int64_t g, int64_t q, int slots, int64_t *units,
                     double *crit, double *passes)
{
    *units = 0, *crit = 0, *passes = 0;
    for (int32_t c = 0; c < p->n_chunks; c++) {
        int64_t nqt = chunk_qtiles(p, g, c);
        if (!nqt) continue;
        int64_t nt = (p->chunk_len[c] + DEFT_GPU_TILE - 1) / DEFT_GPU_TILE;
        double tiles = (double)nt;
        int64_t per = unit_qtiles(nqt, nt, q, slots);
        *units += (nqt + per - 1) / per;
        *passes += (double)nqt * tiles;
        if ((double)per * tiles > *crit) *crit = (double)per * tiles;
    }
}

/* The modeled time (s) of one work item of `tiles` passes (a query tile over a 64-token tile),
 * which run in sequence, at shape s's head dimension. */
static double unit_time(double tiles, const deft_shape *s)
{
    return tiles * MODEL_T_PASS * ((double)s->d / 128.0) + MODEL_T_UNIT;
}

/* The persistent kernel's modeled time (s) for qpu q, with small items' time beside it. */
static double big_time(const deft_plan *p, const deft_shape *s, int64_t q, double small_s)
{
    int64_t units;
    double crit, passes, dscale = (double)s->d / 128.0;
    units_of(p, s->hq / s->hkv, q, deft_gpu_ring_slots(s), &units, &crit, &passes);
    double work = (passes * MODEL_T_PASS * dscale + (double)units * MODEL_T_UNIT) * (double)s->hkv / MODEL_SMS +
                  small_s;
    double chain = unit_time(crit, s);
    return work > chain ? work : chain;
}

static double small_time(const deft_plan *p, const deft_shape *s)
{
    double small = 0, elt = (double)deft_dtype_size(s->dtype);
    for (int32_t c = 0; c < p->n_chunks; c++)
        if (!chunk_qtiles(p, s->hq / s->hkv, c))
            small += (double)p->chunk_len[c] * (double)s->d * elt * 2.0 * (double)s->hkv;
    return small / MODEL_BW;
}

int deft_gpu_units(const deft_plan *p, const deft_shape *s, int force, double *model_us)
{
    int64_t g = s->hq / s->hkv, max_nqt = 0;
    for (int32_t c = 0; c < p->n_chunks; c++) {
        int64_t n = chunk_qtiles(p, g, c);
        if (n > max_nqt) max_nqt = n;
    }
    double sm = small_time(p, s);
    int pick = 0;
    double best = big_time(p, s, 0, sm);
    if (force != 0)
        for (int64_t q = 1; q < max_nqt; q = q < 4 ? q + 1 : 2 * q) {
            double t = big_time(p, s, q, sm);
            if (t < best || q == force) best = t, pick = (int)q;
            if (q == force) break;
        }
    if (model_us) *model_us = best * 1e6;
    return pick;
}

int deft_gpu_small_warps(const deft_plan *p, const deft_shape *s, int qpu, int force)
{
    if ((force == 1 || force == 2 || force == 4) && s->hkv % (4 / force) == 0) return force;
    /* Measured (2026-12-01, H200, the standard trees and three levels: trees at W = 1, 2, 4): an
     * item's fixed chain (the chunk's words, the query's index, then Q: ~4 us under load) is paid
     * once however many warps share its tiles, so one warp per item runs the most items at once
     * (tot 103.7 -> 92.3 us, wide 393.4 -> 387.2) and disturbs the large items least while they
     * bound the run (fewshot 26.8 -> 25.6). When the small items bound the run instead, more
     * warps per item shorten each item's own chain of tiles, as many as the SMs hold: 12 warps
     * on every SM the large items leave free at the start, or on all of them when the large items
     * take every SM (fewshot50 47.6 -> 46.2 at W = 2; levels:1,10_4096,416 38.9 -> 25.8 and
     * levels:1,4,16_512,256,128 22.2 -> 18.9 at W = 4). They bound it when their bytes at
     * MODEL_BW take more than half the large items' chain, or one item (4 us plus 0.5 us per
     * 16-token tile on one warp) more than the whole chain. Items of one 16-token tile have no
     * tiles to share: with no others, W stays 4 (one item per block, as before). */
    int64_t g = s->hq / s->hkv, n1 = 0, nt_max = 0, units;
    double crit, passes, bytes = 0, elt = (double)deft_dtype_size(s->dtype);
    units_of(p, g, qpu, deft_gpu_ring_slots(s), &units, &crit, &passes);
    for (int32_t c = 0; c < p->n_chunks; c++) {
        int64_t rows = (int64_t)(p->pair_start[c + 1] - p->pair_start[c]) * g, len = p->chunk_len[c];
        if (rows > 0 && rows <= DEFT_GPU_SMALL_ROWS && len > DEFT_GPU_SMALL_TILE) {
            n1 += s->hkv;
            bytes += (double)len * (double)s->d * elt * 2.0 * (double)s->hkv;
            int64_t nt = (len + DEFT_GPU_SMALL_TILE - 1) / DEFT_GPU_SMALL_TILE;
            if (nt > nt_max) nt_max = nt;
        }
    }
    if (n1 == 0) return 4;
    const double chain = unit_time(crit, s); /* with no large units, T_UNIT: the test below holds */
    int w = 1;
    if (bytes / MODEL_BW > 0.5 * chain || 4e-6 + 0.5e-6 * (double)nt_max > chain) {
        int64_t large = units * s->hkv;
        int64_t free_sms = large < (int64_t)MODEL_SMS ? (int64_t)MODEL_SMS - large : (int64_t)MODEL_SMS;
        while (w < 4 && n1 * 2 * w <= 12 * free_sms) w *= 2;
    }
    while (s->hkv % (4 / w)) w *= 2; /* the block's 4 / W items are KV heads of one chunk */
    return w;
}

int deft_gpu_steps(const deft_plan *p, const deft_shape *s, int step_min)
{
    if (!fast_shape(s) || s->d != 128 || step_min <= 0) return 0;
    const int64_t g = s->hq / s->hkv;
    const int slots = deft_gpu_ring_slots(s);
    for (int32_t c = 0; c < p->n_chunks; c++) {
        int64_t rows = (int64_t)(p->pair_start[c + 1] - p->pair_start[c]) * g;
        int64_t nt = (p->chunk_len[c] + DEFT_GPU_TILE - 1) / DEFT_GPU_TILE;
        if (!DEFT_GPU_IS_SMALL(rows, p->chunk_len[c]) && DEFT_GPU_STEPS(nt, slots, rows, step_min)) return 1;
    }
    return 0;
}

int deft_gpu_persistent_blocks(const deft_plan *p, const deft_shape *s, int qpu, int sms)
{
    /* A persistent block holds its SM's whole register file, so a small item runs only where no
     * large item does. Measured (2026-12-01, H200, tot): the large items hold every SM until ~38
     * us while moving ~1 TB/s, and its 110 MB of leaves wait for them; at most 100 persistent
     * blocks, 32 SMs stream leaves from the start: 90.3 -> 84.0 us (124: 89.1, 116: 87.7, 108:
     * 85.0). Fewer blocks than the long items (root and level 1, 96) put some of them in a
     * second round (92: 93.0), as it does specdec's 112 root units (116: 32.0 -> 34.3, 108:
     * 45.0). So: when the small items' bytes at MODEL_BW take more than half the longest unit,
     * the units that take at least half of it get a block each, and 4 more; otherwise every
     * unit may have one. Never more blocks than units, so none starts only to leave. */
    int64_t g = s->hq / s->hkv, units, n_long = 0;
    double crit, passes;
    const int slots = deft_gpu_ring_slots(s);
    units_of(p, g, qpu, slots, &units, &crit, &passes);
    const double t_max = unit_time(crit, s);
    for (int32_t c = 0; c < p->n_chunks; c++) {
        int64_t nqt = chunk_qtiles(p, g, c);
        if (!nqt) continue;
        int64_t nt = (p->chunk_len[c] + DEFT_GPU_TILE - 1) / DEFT_GPU_TILE;
        int64_t per = unit_qtiles(nqt, nt, qpu, slots);
        if (unit_time((double)(per * nt), s) >= 0.5 * t_max) n_long += (nqt + per - 1) / per;
    }
    int64_t items = units * s->hkv, want = items;
    if (small_time(p, s) > 0.5 * t_max) want = n_long * s->hkv + 4;
    if (want > items) want = items;
    if (want > sms) want = sms;
    return want < 1 ? 1 : (int)want;
}

static double modeled_time(const deft_plan *p, const deft_shape *s)
{
    double big;
    deft_gpu_units(p, s, -1, &big);
    double rows = (double)p->n_pairs * (double)s->hq, partial = rows * (double)(s->d + 1) * 4.0;
    return big * 1e-6 + 2.0 * partial / MODEL_BW + rows * MODEL_T_ROW; /* written once, read once */
}

/* The candidates: multiples of 64 tokens (one tile) up to 1024, then of 128 up to 2048, of 256 up
 * to 4096 and of 512 up to 8192 (40 plans built and modeled: 0.1 ms of CPU on fewshot, 1 ms on
 * tot, 3 ms on wide). How a node splits into chunks decides how many SMs its items take and how
 * many are left to the small items, and the powers of two alone missed the best split by 2-9%
 * (H200, 2026-12-01, the model's picks: fewshot 384 tokens 26.0 us against 27.0 at 512,
 * fewshot50 1408 (the three root chunks of 1536) 46.1 against 50.6 at 1024, specdec 576 33.1
 * against 34.5 at 512, where 704-768 measured 32.0: the model does not count the SMs a node's
 * items leave to the small items; gpu/NOTES.md). */
static int64_t next_candidate(int64_t c)
{
    return c + (c < 1024 ? 64 : c < 2048 ? 128 : c < 4096 ? 256 : 512);
}

int64_t deft_gpu_choose_chunk_tokens(const deft_tree *t, const deft_shape *s)
{
    int64_t cap = deft_gpu_max_chunk_tokens(s), pick = 0;
    if (cap == 0) return DEFT_DEFAULT_CHUNK_TOKENS;
    double best = 0;
    for (int64_t c = 64; c <= cap; c = next_candidate(c)) { /* cap <= DEFT_GPU_MAX_CHUNK */
        deft_options o = {c, 0, 0};
        deft_plan p;
        if (deft_plan_build(t, &o, &p, NULL) != DEFT_OK) continue;
        double time = modeled_time(&p, s);
        deft_plan_free(&p);
        if (!pick || time < best) best = time, pick = c;
    }
    return pick ? pick : (cap < DEFT_DEFAULT_CHUNK_TOKENS ? cap : DEFT_DEFAULT_CHUNK_TOKENS);
}

static size_t align256(size_t x)
{
    return (x + 255u) & ~(size_t)255u;
}

size_t deft_gpu_unit_cap(const deft_plan *p, int64_t g)
{
    size_t rows; /* one unit per 128-row query tile at most: sum of ceil(rows_c / 128) */
    if (deft_mul_size(p->n_pairs, g > 0 ? g : 1, &rows)) return 0;
    return rows / DEFT_GPU_QROWS + (size_t)p->n_chunks + 1;
}

size_t deft_gpu_workspace_size(const deft_plan *plan, const deft_shape *s)
{
    if (!plan || !s || plan->n_pairs <= 0 || s->hq < 1 || s->d < 1) return 0;
    size_t rows, elems;
    if (deft_mul_size(plan->n_pairs, s->hq, &rows) || deft_mul_size((int64_t)rows, s->d, &elems))
        return 0;
    if (elems > ((size_t)-1 - 8192) / 16) return 0;
    /* + version 2's counters (256 bytes) and its list of units of large chunks, (chunk, j) int32
     * pairs (deft_gpu_unit_cap of them) */
    size_t units = deft_gpu_unit_cap(plan, s->hkv > 0 ? s->hq / s->hkv : 0);
    if (!units || units > ((size_t)-1 - 4096 - elems * sizeof(float) - rows * sizeof(float)) / 8) return 0;
    return align256(elems * sizeof(float)) + align256(rows * sizeof(float)) + 256 + align256(units * 8u);
}
