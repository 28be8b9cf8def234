/* deft_gpu_simple.cu: version 1 of DeFT on the GPU, "gpu-simple", written to be read.
 * Phase 2 as one block per (chunk, KV head) of the plan (common/plan.c); each of its 4 warps takes
 * one query row (pair, query head) at a time and walks the row's visible tokens in order with an
 * online softmax in plain FMA: a warp-wide dot product q.k, the running max and sum, the running
 * weighted sum of V. K and V rows are read straight from global memory (L1/L2 serve the rows the
 * other warps read too). Only visible tokens are ever touched, so a NaN or an infinity in a hidden
 * token cannot reach the row. Phase 3 is the shared reduction kernel (gpu/gpu_host.cu).
 * Any dtype, any D up to DEFT_GPU_SIMPLE_MAX_D. Version 2 (gpu/deft_gpu.cu) is the fast one. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "gpu_internal.h"

namespace {

__device__ __forceinline__ float load(const float *p, size_t i) { return __ldg(p + i); }
__device__ __forceinline__ float load(const __half *p, size_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float load(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }

/* NPL: dims per lane (d <= 32 * NPL); lane x holds dims x, x + 32, ... */
template <typename T, int NPL>
__global__ void __launch_bounds__(128) partial_kernel(const deft_gpu_args a)
{
    const int c = blockIdx.x, g = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const T *Q = (const T *)a.q, *K = (const T *)a.k, *V = (const T *)a.v;
    const int d = a.d, G = a.group;
    const int kv0 = a.chunk_kv_row[c], ps = a.pair_start[c];
    const int rows = (a.pair_start[c + 1] - ps) * G;
    for (int r = warp; r < rows; r += 4) {
        const int e = ps + r / G, h = g * G + r % G;
        const int query = a.pair_query[e], visible = a.pair_visible[e];
        float qv[NPL], acc[NPL];
        const size_t qbase = ((size_t)query * a.hq + h) * d;
#pragma unroll
        for (int i = 0; i < NPL; i++) {
            const int x = lane + 32 * i;
            qv[i] = x < d ? load(Q, qbase + x) : 0.0f;
            acc[i] = 0.0f;
        }
        float m = -INFINITY, l = 0.0f;
        for (int j = 0; j < visible; j++) {
            const size_t kvbase = ((size_t)(kv0 + j) * a.hkv + g) * d;
            float part = 0.0f;
#pragma unroll
            for (int i = 0; i < NPL; i++)
                if (lane + 32 * i < d) part = fmaf(qv[i], load(K, kvbase + lane + 32 * i), part);
            for (int s = 16; s > 0; s >>= 1) part += __shfl_xor_sync(0xffffffffu, part, s);
            const float sc = part * a.scale;
            const float mn = fmaxf(m, sc);
            const float alpha = expf(m - mn); /* 0 on the first token (m = -inf) */
            const float p = expf(sc - mn);
            l = l * alpha + p;
#pragma unroll
            for (int i = 0; i < NPL; i++)
                if (lane + 32 * i < d) acc[i] = fmaf(p, load(V, kvbase + lane + 32 * i), acc[i] * alpha);
            m = mn;
        }
        const size_t prow = (size_t)e * a.hq + h;
        const float inv = 1.0f / l;
#pragma unroll
        for (int i = 0; i < NPL; i++)
            if (lane + 32 * i < d) a.part_o[prow * d + lane + 32 * i] = acc[i] * inv;
        if (lane == 0) a.part_lse[prow] = m + logf(l);
    }
}

template <typename T>
cudaError_t launch_t(const deft_gpu_args *a, cudaStream_t stream)
{
    dim3 grid((unsigned)a->n_chunks, (unsigned)a->hkv), block(128);
    if (a->d <= 32) partial_kernel<T, 1><<<grid, block, 0, stream>>>(*a);
    else if (a->d <= 64) partial_kernel<T, 2><<<grid, block, 0, stream>>>(*a);
    else if (a->d <= 128) partial_kernel<T, 4><<<grid, block, 0, stream>>>(*a);
    else if (a->d <= 256) partial_kernel<T, 8><<<grid, block, 0, stream>>>(*a);
    else partial_kernel<T, 16><<<grid, block, 0, stream>>>(*a);
    return cudaGetLastError();
}

} // namespace

extern "C" deft_status deft_gpu_simple_supports(const deft_problem *p, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    if (p->shape.d > DEFT_GPU_SIMPLE_MAX_D) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1, "gpu-simple: D = %lld is over %d",
                      (long long)p->shape.d, DEFT_GPU_SIMPLE_MAX_D);
        return DEFT_ERR_UNSUPPORTED;
    }
    return deft_gpu_device_check(NULL, 0, diag);
}

extern "C" deft_status deft_gpu_simple_run_device(const deft_problem *p, const deft_plan *plan,
                                                  const void *plan_words_dev, void *workspace,
                                                  size_t workspace_bytes, float *o_dev,
                                                  float *lse_dev, void *cuda_stream, deft_diag *diag)
{
    deft_gpu_args a;
    deft_status st = deft_gpu_args_fill(p, plan, plan_words_dev, workspace, workspace_bytes, o_dev,
                                        lse_dev, "gpu-simple", &a, diag);
    if (st != DEFT_OK || a.n_queries == 0) return st;
    if (p->shape.d > DEFT_GPU_SIMPLE_MAX_D) return deft_gpu_simple_supports(p, diag);
    cudaStream_t stream = (cudaStream_t)cuda_stream;
    cudaError_t e = a.dtype == DEFT_F32   ? launch_t<float>(&a, stream)
                    : a.dtype == DEFT_F16 ? launch_t<__half>(&a, stream)
                                          : launch_t<__nv_bfloat16>(&a, stream);
    if ((st = deft_gpu_cuda(e, "gpu-simple: partial kernel launch", diag)) != DEFT_OK) return st;
    return deft_gpu_reduce_launch(&a, stream, diag);
}

extern "C" deft_status deft_gpu_simple_run(const deft_problem *p, const deft_options *opt, float *o,
                                           float *lse, deft_diag *diag)
{
    deft_status st = deft_gpu_simple_supports(p, diag);
    if (st != DEFT_OK) return st;
    int64_t ct = opt && opt->chunk_tokens ? opt->chunk_tokens : DEFT_DEFAULT_CHUNK_TOKENS;
    return deft_gpu_host_run(p, opt, ct, deft_gpu_simple_run_device, "gpu-simple", o, lse, diag);
}
