/* gpu_geom.h: the block geometry of version 2 (gpu/deft_gpu.cu), shared with the host C code
 * that sizes chunks (gpu/gpu_common.c), so both agree on what fits in shared memory. */
#ifndef DEFT_GPU_GEOM_H
#define DEFT_GPU_GEOM_H

#ifndef DEFT_GPU_WARPS
#define DEFT_GPU_WARPS 8                        /* warps per block of version 2 */
#endif
#define DEFT_GPU_QROWS (16 * DEFT_GPU_WARPS)    /* query rows per pass: 16 per warp (one mma M) */
#define DEFT_GPU_TILE 64                        /* KV tokens per ring slot (large items) */
#define DEFT_GPU_SMALL_ROWS 16                  /* items of at most this many rows go to the
                                                   warp-split kernel (one 16-row mma tile) */
#define DEFT_GPU_SMALL_TILE 16                  /* KV tokens per stage there */
/* An item (chunk of `len` tokens with `rows` rows, one KV head) goes to the small kernel when it
 * has at most one 16-row mma tile of rows (one warp takes it, or 2 or 4 split its tokens:
 * deft_gpu_small_warps), or when its chunk is
 * one small tile of tokens and it has at most 4 row tiles (a warp each): a persistent pass of
 * 128 rows over a 64-token tile is the same few-microsecond chain however few tokens it has, and
 * the draft tokens of speculative decoding are one-token nodes with a few queries below. */
#define DEFT_GPU_IS_SMALL(rows, len)                                                            \
    ((rows) <= DEFT_GPU_SMALL_ROWS || ((len) <= DEFT_GPU_SMALL_TILE && (rows) <= 4 * DEFT_GPU_SMALL_ROWS))
#define DEFT_GPU_PAD 8                          /* elements of padding per shared row: 16 bytes,
                                                   so ldmatrix's 8 row addresses hit 8 bank groups */
#define DEFT_GPU_SMEM_SM90 232448               /* opt-in shared memory per block on sm_90 */
#define DEFT_GPU_MAX_SLOTS 16                   /* ring slots of the persistent kernel, at most */
#define DEFT_GPU_MAX_CHUNK 8192                 /* tokens per chunk version 2 takes at D <=
                                                   DEFT_GPU_QREGS_MAX_D: a chunk longer than its
                                                   ring streams through it */
#ifndef DEFT_GPU_QREGS_MAX_D
#define DEFT_GPU_QREGS_MAX_D 128                /* the largest D whose query fragments stay in
                                                   registers for a whole pass (and whose chunks
                                                   may stream); larger D keep chunks resident */
#endif

/* Steps of two tiles (wgmma at D = 128): the consumers compute tiles t and t + 1 of a streamed
 * chunk as one step of 128 tokens (one softmax over twice the independent work per thread, the
 * step's fixed costs paid once) when the chunk has more than 4 query tiles of rows and at least
 * `step_min` tiles: its units then read it at about the same time, all but one from L2, and the
 * steps are compute-bound. A run takes the kernel with steps only when some chunk qualifies
 * (deft_gpu_steps); the others run the kernel without them, its code and registers unchanged.
 * Measured (2026-12-02, H200, gpu/NOTES.md): wide 339.6 -> 319.4 us (125-tile chunks),
 * levels:1,512_4096,64 126.5 -> 120.7 (64 tiles), and wide gains at every chunk size down to 16
 * tiles; tot's root (16 tiles, 9 query tiles, its units among the first items, fed from HBM
 * under the start-up loads) loses 3 us at every chunk size. Hence the default step_min of 32
 * tiles; the host and the kernel test a chunk alike. */
#define DEFT_GPU_STEP_MIN 32
#define DEFT_GPU_STEPS(ntiles, nslot, rows, step_min)                                          \
    ((step_min) > 0 && (ntiles) > (nslot) && (ntiles) >= (step_min) && (rows) > 4 * DEFT_GPU_QROWS)

/* Shared bytes of a version-2 block for head dim d (2-byte elements) holding `tokens` KV rows:
 * the query tile plus K and V, each row padded (the persistent kernel keeps K/V tiles in the
 * unpadded canonical layout of wgmma, inside slots of this padded size). */
#define DEFT_GPU_SMEM_BYTES(d, tokens) \
    ((size_t)(DEFT_GPU_QROWS + 2 * (size_t)(tokens)) * (size_t)((d) + DEFT_GPU_PAD) * 2u)

/* Version 2 splits an item of few rows across warps by token tiles and merges the warps' softmax
 * states (m, l and 16 x d accumulators: (4 + d / 2) floats per lane) in a shared scratch of this
 * many states: 4 for d <= 128, none for d = 256 (no room beside the ring). */
#define DEFT_GPU_SPLIT_STATES(d) ((d) <= 128 ? 4 : 0)
#define DEFT_GPU_SCRATCH_BYTES(d) ((size_t)DEFT_GPU_SPLIT_STATES(d) * (4u + (size_t)(d) / 2u) * 32u * 4u)

/* The first units of version 2's list (plan order), computed on the host and passed to the
 * persistent kernel as a parameter: block b's first item is unit b / hkv with KV head b % hkv, so
 * a block whose unit is here issues its loads at once, without reading the plan first. At most
 * DEFT_GPU_FIRST_MAX units (the parameter stays under 4 KiB with the argument block and the two
 * tensor maps); blocks past them read the list classify_kernel writes. */
#define DEFT_GPU_FIRST_MAX 150
/* A run whose first units number at most DEFT_GPU_FIRST_FEW (every tree at hkv >= 7 on a GPU of
 * 132 SMs: 2 x 132 / 7 = 38) launches the persistent kernel's instance whose parameter holds that
 * many (1.2 KiB instead of 3.4): measured 0.2-0.6 us faster on the small trees (gpu/NOTES.md). */
#define DEFT_GPU_FIRST_FEW 40
typedef struct deft_gpu_first_unit {
    int kv0, len, ps, pe, j; /* the chunk's first KV row, length and pairs [ps, pe); query tile j */
} deft_gpu_first_unit;
typedef struct deft_gpu_first {
    int n;     /* units listed here */
    int total; /* units in the whole list (what classify_kernel counts) */
    deft_gpu_first_unit u[DEFT_GPU_FIRST_MAX];
} deft_gpu_first;

/* Whether a run needs classify_kernel's list and zeroed counter: some block's first or second
 * item is past `first` (more units than it holds), or there are more items than the persistent
 * grid's blocks take as their first and second (the rest are handed out by the counter).
 * Otherwise classify_kernel is not launched and the persistent kernel is the run's first kernel.
 * The host and the persistent kernel decide it alike. */
#ifdef __CUDACC__
__host__ __device__
#endif
static inline int deft_gpu_listed(int n, int total, int hkv, int blocks)
{
    return total > n || (long long)total * hkv > 2LL * blocks;
}

#endif
