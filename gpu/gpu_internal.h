/* gpu_internal.h: what the CUDA files of gpu/ share (not installed, CUDA C++ only): the argument
 * block every kernel takes by value, CUDA errors as statuses, the reduction (DeFT phase 3) and
 * the host-memory driver that both versions' deft_gpu_*run use. */
#ifndef DEFT_GPU_INTERNAL_H
#define DEFT_GPU_INTERNAL_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "gpu.h"
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
    int *counter;    /* [0]: version 2's work-item counter, [1]: its unit count (set per run) */
    int *big_chunks; /* (n_chunks) version 2: the units of the chunks of more than
                        DEFT_GPU_SMALL_ROWS rows, plan order: chunk c's unit j is (c << 8) | j
                        when qpu > 0, c alone when qpu == 0 (deft_gpu_units) */
    int32_t n_chunks, n_queries, max_chunk_len, max_chunk_pairs;
    int hq, hkv, group, d;
    int qpu; /* version 2: query tiles per unit (0: one unit per chunk) */
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
 * then read once from HBM and again from L2). Returns the qpu of the smallest modeled time among
 * those whose units fit the list of n_chunks entries (0: one unit per chunk), or `force` if it is
 * >= 0 and one of the candidates that fit (for measurement), and, if model_us is not NULL, the
 * modeled time of the large-item kernel with small items beside it (us). gpu/gpu_common.c. */
extern "C" int deft_gpu_units(const deft_plan *plan, const deft_shape *s, int force, double *model_us);

/* Shared memory a block may opt into on the current device (0 if the query fails). */
int deft_gpu_smem_optin(void);

#endif
