/* gpu_internal.h: what the CUDA files of gpu/ share (not installed, CUDA C++ only): the argument
 * block every kernel takes by value, CUDA errors as statuses, the reduction (DeFT phase 3) and
 * the host-memory driver that both versions' deft_gpu_*run use. */
#ifndef DEFT_GPU_INTERNAL_H
#define DEFT_GPU_INTERNAL_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "gpu.h"
#include "gpu_geom.h"
extern "C" { /* common/internal.h is C without its own guards */
#include "internal.h"
}

/* Everything a kernel of gpu/ reads, by value. Plan arrays point into the device copy of
 * plan->words. Partials: part_o (n_pairs, hq, d) f32, part_lse (n_pairs, hq) f32 natural log,
 * both indexed by pair e; o (total_q, hq, d) and lse (total_q, hq) are the outputs. */
typedef struct deft_gpu_args {
    const void *q, *k, *v;
    const int32_t *chunk_kv_row, *chunk_len, *pair_start, *pair_query, *pair_visible;
    const int32_t *red_start, *red_pair;
    float *part_o, *part_lse, *o, *lse;
    int *counter;    /* [0]: version 2's work-item counter (zeroed per run by classify_kernel) */
    int2 *units;     /* version 2: the units of the chunks that are not DEFT_GPU_IS_SMALL,
                        plan order, as (chunk, j): query tiles j * qpu .. of a resident chunk
                        (all of them when qpu == 0), query tile j of a streamed one
                        (deft_gpu_units); room for unit_cap */
    int32_t n_chunks, n_queries, max_chunk_len, max_chunk_pairs;
    int32_t unit_cap; /* deft_gpu_unit_cap: no plan has more units */
    int hq, hkv, group, d;
    int qpu;   /* version 2: query tiles per unit of a resident chunk (0: one unit per chunk) */
    int nslot; /* version 2: 64-token slots of the persistent kernel's ring; a chunk of more
                  tiles is streamed (units of one query tile each) */
    int small_w; /* version 2: warps of the small kernel per item of one row tile (1, 2 or 4;
                    deft_gpu_small_warps) */
    int step_min; /* version 2 at D = 128 with wgmma: a streamed chunk of at least step_min
                     64-token tiles and more than 4 query tiles of rows is computed in steps of
                     two tiles (deft_gpu_steps); 0: no steps, the kernel without them */
    float scale; /* natural scale, deft_shape_scale */
    deft_dtype dtype;
} deft_gpu_args;

/* DEFT_OK for cudaSuccess; else DEFT_ERR_DEVICE with "gpu: <what>: <cudaGetErrorString> (error
 * N)" (the error is also cleared when it is not sticky). */
deft_status deft_gpu_cuda(cudaError_t e, const char *what, deft_diag *diag);

/* Validates a device-pointer run and fills the argument block. DEFT_ERR_* as deft_gpu_run_device
 * documents. */
deft_status deft_gpu_args_fill(const deft_problem *p, const deft_plan *plan,
                               const void *plan_words_dev, void *workspace,
                               size_t workspace_bytes, float *o_dev, float *lse_dev,
                               const char *who, deft_gpu_args *a, deft_diag *diag);

/* Phase 3 on the device: for each (query, head) the partials of red_pair[red_start[q] ..] merged
 * in that order (max of the LSEs first, then one weighted sum), written to o and lse. Launched
 * with programmatic dependent launch, so it starts while the last partial blocks finish and
 * waits for them in cudaGridDependencySynchronize. */
deft_status deft_gpu_reduce_launch(const deft_gpu_args *a, cudaStream_t stream, deft_diag *diag);
/* the current device's SMs (132 if the query fails), asked once */
int deft_gpu_sm_count(void);

/* One device run of a version, as deft_gpu_run_device. */
typedef deft_status (*deft_gpu_device_fn)(const deft_problem *p, const deft_plan *plan,
                                          const void *plan_words_dev, void *workspace,
                                          size_t workspace_bytes, float *o_dev, float *lse_dev,
                                          void *cuda_stream, deft_diag *diag);

/* The host-memory convenience of both versions: plan with chunk_tokens, upload once, NaN-poison
 * the device outputs, run `fn`, synchronize, download, free. */
deft_status deft_gpu_host_run(const deft_problem *p, const deft_options *opt, int64_t chunk_tokens,
                              deft_gpu_device_fn fn, const char *who, float *o, float *lse,
                              deft_diag *diag);

/* Version 2 cuts each large chunk's query tiles into units of qpu tiles (a work item is a unit
 * with one KV head), so the query tiles of a tall chunk run on several SMs at once (its K/V is
 * then read once from HBM and again from L2); a chunk longer than the ring (streamed) always has
 * units of one query tile. Returns the qpu of the smallest modeled time (0: one unit per resident
 * chunk), or `force` if it is >= 0 and one of the candidates (for measurement), and, if model_us
 * is not NULL, the modeled time of the large-item kernel with small items beside it (us).
 * gpu/gpu_common.c. */
extern "C" int deft_gpu_units(const deft_plan *plan, const deft_shape *s, int force, double *model_us);
/* Blocks of version 2's persistent kernel on a GPU of `sms` SMs: one per large item at most, and
 * fewer when the small items' bytes are many, so that they stream on the SMs left free from the
 * start (gpu/gpu_common.c); at least 1. */
extern "C" int deft_gpu_persistent_blocks(const deft_plan *plan, const deft_shape *s, int qpu, int sms);
/* Warps per small item of one row tile in version 2's small kernel (its blocks of 4 warps take
 * 4 / W items of consecutive KV heads of one chunk): 1, 2 or 4, with 4 / W dividing hkv; `force`
 * when it is one of those (for measurement), else the rule of gpu/gpu_common.c. */
extern "C" int deft_gpu_small_warps(const deft_plan *plan, const deft_shape *s, int qpu, int force);
/* Whether a run of version 2 with step_min (deft_gpu_args) has a chunk that takes steps of two
 * tiles (DEFT_GPU_STEPS in gpu/gpu_geom.h): D = 128 with f16 or bf16, a large chunk longer than
 * the ring with at least step_min tiles and more than 4 query tiles of rows. gpu/gpu_common.c. */
extern "C" int deft_gpu_steps(const deft_plan *plan, const deft_shape *s, int step_min);
/* Slots of version 2's ring for shape s (64 tokens each): as many as fit in shared memory beside
 * the query tile and the split scratch, at most DEFT_GPU_MAX_SLOTS; 0 for shapes it does not take. */
extern "C" int deft_gpu_ring_slots(const deft_shape *s);
/* The most work units (version 2's list) a plan with G = g query heads per KV head can have: one
 * per 128-row query tile of every chunk, n_chunks + n_pairs g / 128 + 1; 0 on overflow. */
extern "C" size_t deft_gpu_unit_cap(const deft_plan *p, int64_t g);
/* The first min(want, DEFT_GPU_FIRST_MAX) units of version 2's list for a plan with G = g query
 * heads per KV head, qpu and nslot as in deft_gpu_args: the same rule, in the same order, as
 * classify_kernel (gpu/gpu_common.c). */
extern "C" void deft_gpu_first_units(const deft_plan *p, int64_t g, int qpu, int nslot, int want,
                                     deft_gpu_first *f);

/* DEFT_GPU_TRACE (a measurement build, e.g. `make build/bench_gpu NVFLAGS_EXTRA=-DDEFT_GPU_TRACE`):
 * the timeline of a run, as the earliest and latest %globaltimer (ns) at which any block passed
 * each of these points, kept per CUDA file and read by deft_gpu_trace (bench_gpu prints it). */
enum {
    TR_CLASSIFY_START, TR_CLASSIFY_END,   /* classify_kernel: entry, exit */
    TR_LARGE_START, TR_LARGE_WAITED,      /* persistent kernel: entry, past its wait for classify */
    TR_LARGE_FIRST, TR_LARGE_END,         /* first item's partials written, exit */
    TR_SMALL_START, TR_SMALL_DONE,        /* small kernel: entry, its item's partials written */
    TR_SMALL_END,                         /* exit (block 0 waits for the persistent kernel) */
    TR_REDUCE_START, TR_REDUCE_WAITED,    /* reduction: entry, past its wait */
    TR_REDUCE_END, TR_N
};
#ifdef DEFT_GPU_TRACE
#include <stdio.h>
#include <stdlib.h>
static __device__ unsigned long long deft_trace_lo[TR_N], deft_trace_hi[TR_N];
__device__ __forceinline__ unsigned long long deft_now()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
__device__ __forceinline__ void deft_trace(int point)
{
    if (threadIdx.x != 0) return;
    const unsigned long long t = deft_now();
    atomicMin(&deft_trace_lo[point], t);
    atomicMax(&deft_trace_hi[point], t);
}
/* every work item's span: kind (0 large, 1 small), SM, globaltimer at its start and end, tiles
 * (64 tokens large, 16 small), rows; a measurement log, read out by DEFT_TRACE_IO's mode 3 */
struct deft_trace_rec {
    unsigned long long t0, t1;
    int kind, sm, tiles, rows;
};
#define DEFT_TRACE_LOG_CAP 32768
static __device__ deft_trace_rec deft_trace_log[DEFT_TRACE_LOG_CAP];
static __device__ unsigned int deft_trace_nlog;
__device__ __forceinline__ void deft_trace_item(int kind, unsigned long long t0, int tiles, int rows)
{ /* one thread per item calls it */
    const unsigned int i = atomicAdd(&deft_trace_nlog, 1u);
    if (i >= DEFT_TRACE_LOG_CAP) return;
    unsigned int sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    deft_trace_log[i] = deft_trace_rec{t0, deft_now(), kind, (int)sm, tiles, rows};
}
/* clock64 stamps of the first tiles of block 0's warps 0 and 4 (the two warpgroups' first warps):
 * [w][t][0..2] = before S = Q K^T, softmax done, O += P V done; [3..4] = before and after the
 * tile's (or step's) landing in a pass that lands its tiles one at a time */
static __device__ long long deft_tile_clk[2][8][5];
#define DEFT_TILE_STAMP(t, k)                                                                   \
    do {                                                                                        \
        if (blockIdx.x == 0 && (threadIdx.x == 0 || threadIdx.x == 128) && (t) < 8)            \
            deft_tile_clk[threadIdx.x >> 7][t][k] = clock64();                                  \
    } while (0)
/* clock64 stamps of block 0's thread 0 in its passes (query tile over an item's tiles), the last
 * 16 in a ring: [pass % 16][k], k = 0 start, 1 visibility counts in and the query tile landed,
 * 2 the query fragments in registers (block barrier), 3 tiles done, 4 partials written */
static __device__ long long deft_pass_clk[16][6];
#define DEFT_PASS_STAMP(p, k)                                                                   \
    do {                                                                                        \
        if (blockIdx.x == 0 && threadIdx.x == 0) {                                              \
            deft_pass_clk[(p) & 15][k] = clock64();                                             \
            deft_pass_clk[(p) & 15][5] = (p);                                                   \
        }                                                                                       \
    } while (0)
/* reset 1: lo to all ones, hi to 0, the pass stamps and the item log to 0; 0: copies both out
 * (TR_N each); 2: prints the tile and pass stamps; 3: prints the item log, times after *lo */
#define DEFT_TRACE_IO(name)                                                                     \
    extern "C" void name(int reset, unsigned long long *lo, unsigned long long *hi)            \
    {                                                                                           \
        if (reset == 1) {                                                                       \
            unsigned long long l[TR_N], h[TR_N];                                                \
            for (int i = 0; i < TR_N; i++) l[i] = ~0ull, h[i] = 0;                              \
            cudaMemcpyToSymbol(deft_trace_lo, l, sizeof l);                                     \
            cudaMemcpyToSymbol(deft_trace_hi, h, sizeof h);                                     \
            long long z[16][6] = {};                                                            \
            cudaMemcpyToSymbol(deft_pass_clk, z, sizeof z);                                     \
            unsigned int n0 = 0;                                                                \
            cudaMemcpyToSymbol(deft_trace_nlog, &n0, sizeof n0);                                \
        } else if (reset == 3) { /* the item log, times in ns after *lo */                      \
            unsigned int n = 0;                                                                 \
            cudaMemcpyFromSymbol(&n, deft_trace_nlog, sizeof n);                                \
            if (n > DEFT_TRACE_LOG_CAP) n = DEFT_TRACE_LOG_CAP;                                 \
            deft_trace_rec *r = (deft_trace_rec *)malloc(n * sizeof *r + 1);                    \
            if (r && cudaMemcpyFromSymbol(r, deft_trace_log, n * sizeof *r) == cudaSuccess)     \
                for (unsigned int i = 0; i < n; i++)                                            \
                    printf("item,%d,%d,%lld,%lld,%d,%d\n", r[i].kind, r[i].sm,                 \
                           (long long)(r[i].t0 - *lo), (long long)(r[i].t1 - *lo), r[i].tiles,  \
                           r[i].rows);                                                          \
            free(r);                                                                            \
        } else if (reset == 0) {                                                                \
            cudaMemcpyFromSymbol(lo, deft_trace_lo, sizeof(unsigned long long) * TR_N);         \
            cudaMemcpyFromSymbol(hi, deft_trace_hi, sizeof(unsigned long long) * TR_N);         \
        } else {                                                                                \
            long long c[2][8][5];                                                               \
            if (cudaMemcpyFromSymbol(c, deft_tile_clk, sizeof c) == cudaSuccess && c[0][0][0])  \
                for (int w = 0; w < 2; w++)                                                     \
                    for (int t = 0; t < 8; t++)                                                 \
                        if (c[w][t][2] > c[w][t][0]) {                                          \
                            int u = t + 1; /* the next stamped tile (t + 2 after a step of two) */ \
                            while (u < 8 && !c[w][u][0]) u++;                                   \
                            printf("    tile wg%d t%d: QK + softmax %lld, P V %lld, to the next tile %lld " \
                                   "cycles (landing %lld)\n", w, t,                            \
                                   c[w][t][1] - c[w][t][0], c[w][t][2] - c[w][t][1],            \
                                   u < 8 && c[w][u][0] > c[w][t][2] ? c[w][u][0] - c[w][t][2] : 0, \
                                   c[w][t][4] > c[w][t][3] ? c[w][t][4] - c[w][t][3] : 0);      \
                        }                                                                       \
            long long q[16][6];                                                                 \
            if (cudaMemcpyFromSymbol(q, deft_pass_clk, sizeof q) == cudaSuccess)                \
                for (int i = 0; i < 16; i++)                                                    \
                    if (q[i][4] > q[i][0])                                                      \
                        printf("    pass %lld: vis + Q landed %lld, Q to registers %lld, tiles %lld, " \
                               "partials %lld cycles\n", q[i][5], q[i][1] - q[i][0],          \
                               q[i][2] - q[i][1], q[i][3] - q[i][2], q[i][4] - q[i][3]);        \
        }                                                                                       \
    }
#else
#define deft_trace(point) ((void)0)
#define deft_trace_item(kind, t0, tiles, rows) ((void)0)
#define DEFT_TILE_STAMP(t, k) ((void)0)
#define DEFT_PASS_STAMP(p, k) ((void)0)
#define DEFT_TRACE_IO(name)
#endif

/* Shared memory a block may opt into on the current device (0 if the query fails). */
int deft_gpu_smem_optin(void);

#endif
