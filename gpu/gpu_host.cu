/* gpu_host.cu: what both GPU versions share. The device probe, CUDA errors as statuses, the
 * argument checks of the device-pointer API, DeFT phase 3 (the deterministic reduction kernel:
 * each query's partials merged in the plan's fixed order, no atomics) and the host-memory
 * driver (upload once, poison, run, download). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_internal.h"

deft_status deft_gpu_cuda(cudaError_t e, const char *what, deft_diag *diag)
{
    if (e == cudaSuccess) return DEFT_OK;
    (void)cudaGetLastError(); /* clears it unless it is sticky */
    deft_diag_set(diag, DEFT_ERR_DEVICE, -1, "gpu: %s: %s (error %d)", what, cudaGetErrorString(e),
                  (int)e);
    return DEFT_ERR_DEVICE;
}

extern "C" deft_status deft_gpu_device_check(char *name, size_t len, deft_diag *diag)
{
    int n = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        deft_diag_set(diag, DEFT_ERR_DEVICE, -1, "no CUDA device: cudaGetDeviceCount: %s (error %d)",
                      cudaGetErrorString(e), (int)e);
        return DEFT_ERR_DEVICE;
    }
    if (n < 1) {
        deft_diag_set(diag, DEFT_ERR_DEVICE, -1, "no CUDA device: cudaGetDeviceCount found none");
        return DEFT_ERR_DEVICE;
    }
    deft_status st = deft_gpu_cuda(cudaGetDevice(&dev), "cudaGetDevice", diag);
    cudaDeviceProp prop;
    if (st == DEFT_OK) st = deft_gpu_cuda(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties", diag);
    if (st != DEFT_OK) return st;
    if (name && len) snprintf(name, len, "%s", prop.name);
    if (prop.major < 9) {
        deft_diag_set(diag, DEFT_ERR_DEVICE, -1,
                      "gpu: device %d (%s) is sm_%d%d; libdeft's kernels are built for sm_90", dev,
                      prop.name, prop.major, prop.minor);
        return DEFT_ERR_DEVICE;
    }
    deft_diag_clear(diag);
    return DEFT_OK;
}

int deft_gpu_smem_optin(void)
{
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return v;
}

deft_status deft_gpu_args_fill(const deft_problem *p, const deft_plan *plan,
                               const void *plan_words_dev, void *workspace,
                               size_t workspace_bytes, float *o_dev, float *lse_dev,
                               const char *who, deft_gpu_args *a, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    if (!plan) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "%s: plan is NULL", who);
        return DEFT_ERR_NULL;
    }
    const deft_shape *s = &p->shape;
    int64_t tq = deft_tree_total_q(&p->tree);
    if (plan->n_nodes != p->tree.n_nodes || plan->n_queries != tq || !plan->words) {
        deft_diag_set(diag, DEFT_ERR_ARG, -1,
                      "%s: the plan (%d nodes, %d queries) is not of this tree (%lld nodes, %lld queries)",
                      who, plan->n_nodes, plan->n_queries, (long long)p->tree.n_nodes, (long long)tq);
        return DEFT_ERR_ARG;
    }
    memset(a, 0, sizeof *a);
    if (tq == 0) return DEFT_OK; /* nothing to compute */
    int64_t g = s->hq / s->hkv;
    const size_t unit_cap = deft_gpu_unit_cap(plan, g);
    if (s->hkv > 65535 || (int64_t)plan->max_chunk_pairs * g > INT32_MAX || s->hq > INT32_MAX ||
        (int64_t)plan->n_chunks * s->hkv > INT32_MAX || !unit_cap || unit_cap > (size_t)(INT32_MAX / s->hkv) ||
        tq * s->hq / 8 + 1 > INT32_MAX || s->d > INT32_MAX) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1,
                      "%s: shape past the launch limits (hkv %lld, rows per chunk %lld, rows %lld)", who,
                      (long long)s->hkv, (long long)plan->max_chunk_pairs * g, (long long)(tq * s->hq));
        return DEFT_ERR_UNSUPPORTED;
    }
    size_t need = deft_gpu_workspace_size(plan, s);
    if (need == 0 || workspace_bytes < need || !workspace || !plan_words_dev || !o_dev || !lse_dev) {
        deft_diag_set(diag, DEFT_ERR_ARG, -1,
                      "%s: workspace of %zu bytes at %p (needs %zu), plan %p, o %p, lse %p", who,
                      workspace_bytes, workspace, need, plan_words_dev, (void *)o_dev, (void *)lse_dev);
        return DEFT_ERR_ARG;
    }
    if ((uintptr_t)workspace % 256) { /* the partials' vector loads and stores need their alignment */
        deft_diag_set(diag, DEFT_ERR_ARG, -1, "%s: the workspace %p must be 256-byte aligned", who, workspace);
        return DEFT_ERR_ARG;
    }
    const int32_t *w = (const int32_t *)plan_words_dev;
    a->q = p->q, a->k = p->k, a->v = p->v;
    a->chunk_kv_row = w + (plan->chunk_kv_row - plan->words);
    a->chunk_len = w + (plan->chunk_len - plan->words);
    a->pair_start = w + (plan->pair_start - plan->words);
    a->pair_query = w + (plan->pair_query - plan->words);
    a->pair_visible = w + (plan->pair_visible - plan->words);
    a->red_start = w + (plan->red_start - plan->words);
    a->red_pair = w + (plan->red_pair - plan->words);
    size_t rows = (size_t)plan->n_pairs * (size_t)s->hq;
    a->part_o = (float *)workspace;
    size_t o_bytes = ((size_t)rows * (size_t)s->d * 4u + 255u) & ~(size_t)255u;
    a->part_lse = (float *)((char *)workspace + o_bytes);
    size_t l_bytes = (rows * 4u + 255u) & ~(size_t)255u;
    a->counter = (int *)((char *)workspace + o_bytes + l_bytes);
    a->units = reinterpret_cast<int2 *>(a->counter + 64);
    a->o = o_dev, a->lse = lse_dev;
    a->n_chunks = plan->n_chunks, a->n_queries = plan->n_queries;
    a->max_chunk_len = plan->max_chunk_len, a->max_chunk_pairs = plan->max_chunk_pairs;
    a->unit_cap = (int32_t)unit_cap;
    a->hq = (int)s->hq, a->hkv = (int)s->hkv, a->group = (int)g, a->d = (int)s->d;
    a->scale = (float)deft_shape_scale(s);
    a->dtype = s->dtype;
    return DEFT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Phase 3. One warp per (query, head). Pass 1: lane j reads the LSE of pairs j, j + 32, ... and
 * the warp takes their max M (max is exact: any order gives the same bits). Pass 2, 32 pairs at a
 * time: lane j computes w_j = exp(lse_j - M) for pair j of the batch, then every lane walks the
 * batch in the plan's order, taking (w_j, e_j) by shuffle and adding w_j * o_j for its VEC * NPL
 * dims; the addresses of all 32 pairs are known before the first load, so the loads overlap.
 * Each lane adds the weights in the same order, so the sum is identical in every lane and run.
 * fmaxf skips a NaN LSE, whose exp then makes the row NaN: a row that read a non-finite input
 * stays confined to itself. VEC = 4: float4 loads (d % 4 == 0); lane x holds dims
 * VEC * x + 32 * VEC * i + (0 .. VEC - 1).
 */
template <int VEC> struct vec_t;
template <> struct vec_t<1> { typedef float type; };
template <> struct vec_t<4> { typedef float4 type; };

__device__ __forceinline__ void vfma(float *acc, float w, float v) { acc[0] = fmaf(w, v, acc[0]); }
__device__ __forceinline__ void vfma(float *acc, float w, float4 v)
{
    acc[0] = fmaf(w, v.x, acc[0]), acc[1] = fmaf(w, v.y, acc[1]);
    acc[2] = fmaf(w, v.z, acc[2]), acc[3] = fmaf(w, v.w, acc[3]);
}

/* partial rows whose loads go out with the LSEs' (PRE below), unless a variant names its own */
constexpr int reduce_pre(int vec, int minb)
{
    return vec == 4 ? (minb >= 4 ? 6 : 8) : 0;
}

template <int VEC, int NPL, int MINB = 1, int PRE = reduce_pre(VEC, MINB)>
__global__ void __launch_bounds__(256, MINB) reduce_kernel(const deft_gpu_args a)
{
    typedef typename vec_t<VEC>::type V;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * 8 + warp;
    const bool live = row < (int64_t)a.n_queries * a.hq;
    const int64_t q = live ? row / a.hq : 0;
    const int h = live ? (int)(row % a.hq) : 0;
    const int d = a.d;
    deft_trace(TR_REDUCE_START);
    /* the plan is an input, not a result of the partial kernel: read it before waiting */
    const int r0 = live ? __ldg(a.red_start + q) : 0, r1 = live ? __ldg(a.red_start + q + 1) : 0;
    const int64_t e_first = r0 + lane < r1 ? (int64_t)__ldg(a.red_pair + r0 + lane) * a.hq + h : 0;
    cudaGridDependencySynchronize(); /* the partials of the previous kernel are complete */
    deft_trace(TR_REDUCE_WAITED);
    if (!live) return;
    /* the first PRE partial rows' loads go out with the LSEs' (their addresses are known), not
     * after the max and the weights: one trip to memory less on the chain of a row */
    /* (PRE: 8; 6 at 4 blocks per SM, whose 64 registers spill 48 bytes with 8 rows and 8 with 6;
     * 16 when the rows take at most one block per SM; 0 in the scalar variants, odd d, which
     * would spill) */
    const int n0 = min(32, r1 - r0);
    V pre[PRE ? PRE : 1][NPL];
#pragma unroll
    for (int j = 0; j < PRE; j++) {
        const int64_t ej = __shfl_sync(0xffffffffu, e_first, j);
        const V *src = reinterpret_cast<const V *>(a.part_o + ej * d);
#pragma unroll
        for (int i = 0; i < NPL; i++)
            if (j < n0 && VEC * (lane + 32 * i) < d) pre[j][i] = __ldg(src + lane + 32 * i);
    }
    const float lse_first = r0 + lane < r1 ? __ldg(a.part_lse + e_first) : -INFINITY;
    float m = lse_first;
    for (int r = r0 + 32 + lane; r < r1; r += 32)
        m = fmaxf(m, __ldg(a.part_lse + (int64_t)__ldg(a.red_pair + r) * a.hq + h));
    for (int s = 16; s > 0; s >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
    float acc[NPL][VEC], sum = 0.0f;
#pragma unroll
    for (int i = 0; i < NPL; i++)
#pragma unroll
        for (int v = 0; v < VEC; v++) acc[i][v] = 0.0f;
    for (int base = r0; base < r1; base += 32) {
        const int r = base + lane, n = min(32, r1 - base);
        int64_t e = 0;
        float w = 0.0f;
        int j0 = 0;
        if (base == r0) { /* the first 32 pairs were read above, the first PRE rows too */
            e = e_first;
            w = r < r1 ? expf(lse_first - m) : 0.0f;
#pragma unroll
            for (int j = 0; j < PRE; j++)
                if (j < n) {
                    const float wj = __shfl_sync(0xffffffffu, w, j);
                    sum += wj;
#pragma unroll
                    for (int i = 0; i < NPL; i++)
                        if (VEC * (lane + 32 * i) < d) vfma(acc[i], wj, pre[j][i]);
                }
            j0 = min(n, PRE);
        } else if (r < r1) {
            e = (int64_t)__ldg(a.red_pair + r) * a.hq + h;
            w = expf(__ldg(a.part_lse + e) - m);
        }
#pragma unroll 8
        for (int j = j0; j < n; j++) {
            const float wj = __shfl_sync(0xffffffffu, w, j);
            const int64_t ej = __shfl_sync(0xffffffffu, e, j);
            const V *src = reinterpret_cast<const V *>(a.part_o + ej * d);
            sum += wj;
#pragma unroll
            for (int i = 0; i < NPL; i++)
                if (VEC * (lane + 32 * i) < d) vfma(acc[i], wj, __ldg(src + lane + 32 * i));
        }
    }
    const float inv = 1.0f / sum;
    float *dst = a.o + row * d;
#pragma unroll
    for (int i = 0; i < NPL; i++)
#pragma unroll
        for (int v = 0; v < VEC; v++) {
            const int x = VEC * (lane + 32 * i) + v;
            if (x < d) dst[x] = acc[i][v] * inv;
        }
    if (lane == 0) a.lse[row] = m + logf(sum);
    deft_trace(TR_REDUCE_END);
}

DEFT_TRACE_IO(deft_gpu_trace_host)

template <int VEC, int NPL, int MINB = 1, int PRE = reduce_pre(VEC, MINB)>
static cudaError_t reduce_go(const deft_gpu_args *a, cudaStream_t stream)
{
    int64_t rows = (int64_t)a->n_queries * a->hq;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)((rows + 7) / 8));
    cfg.blockDim = dim3(256);
    cfg.stream = stream;
    cudaLaunchAttribute attr[1] = {};
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, reduce_kernel<VEC, NPL, MINB, PRE>, *a);
}

int deft_gpu_sm_count(void)
{
    static int sms = 0;
    if (!sms) {
        int dev = 0, n = 0;
        if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess)
            sms = n;
        else
            sms = 132;
    }
    return sms;
}

deft_status deft_gpu_reduce_launch(const deft_gpu_args *a, cudaStream_t stream, deft_diag *diag)
{
    if (a->n_queries == 0) return DEFT_OK;
    cudaError_t e;
    const int64_t rows = (int64_t)a->n_queries * a->hq;
    /* d % 4 == 0, d <= 128, by the rows' blocks of 8 warps per SM (H200 measurements):
     *  - at most one (fewshot's 640 rows): sixteen rows' loads ahead, so a query of up to 16
     *    partials waits for one trip to memory, not two (130 registers: one block per SM, which
     *    is all these rows fill). 2026-12-02: fewshot 23.9 -> 23.2 us; at every row count it
     *    slowed specstar 19.3 -> 21.0, specdec 29.6 -> 30.9 and fewshot50 39.0 -> 40.5, whose
     *    200-256 blocks then run in two waves;
     *  - more than three: 4 blocks per SM (64 registers instead of 100, six rows ahead instead
     *    of eight). 2026-12-01: tot 79.5 -> 77.8 us, wide 342.9 -> 341.1, the others within 0.2
     *    (3 blocks per SM, eight rows ahead: no change);
     *  - in between: twelve ahead at 2 blocks per SM (125 registers; 100 with eight). 2026-12-02:
     *    specdec's rows merge up to 10 partials, 29.5 -> 29.0 us, the others within 0.5. */
    const int64_t sms = deft_gpu_sm_count();
    if (a->d % 4 == 0 && a->d <= 128 && rows <= 8 * sms) e = reduce_go<4, 1, 1, 16>(a, stream);
    else if (a->d % 4 == 0 && a->d <= 128 && rows > 3 * 8 * sms) e = reduce_go<4, 1, 4>(a, stream);
    else if (a->d % 4 == 0 && a->d <= 128) e = reduce_go<4, 1, 2, 12>(a, stream);
    else if (a->d % 4 == 0 && a->d <= 256) e = reduce_go<4, 2>(a, stream);
    else if (a->d % 4 == 0) e = reduce_go<4, 4>(a, stream);
    else if (a->d <= 32) e = reduce_go<1, 1>(a, stream);
    else if (a->d <= 64) e = reduce_go<1, 2>(a, stream);
    else if (a->d <= 128) e = reduce_go<1, 4>(a, stream);
    else if (a->d <= 256) e = reduce_go<1, 8>(a, stream);
    else e = reduce_go<1, 16>(a, stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    return deft_gpu_cuda(e, "reduction kernel launch", diag);
}

/* ---------------------------------------------------------------------------------------------
 * The host-memory driver.
 */
typedef struct {
    void *q, *k, *v, *words, *ws;
    float *o, *lse;
} dev_buffers;

static void dev_free(dev_buffers *b)
{
    cudaFree(b->q), cudaFree(b->k), cudaFree(b->v), cudaFree(b->words), cudaFree(b->ws);
    cudaFree(b->o), cudaFree(b->lse);
    (void)cudaGetLastError();
}

static deft_status dev_alloc(void **ptr, size_t bytes, const char *name, deft_diag *diag)
{
    char what[96];
    snprintf(what, sizeof what, "cudaMalloc(%s, %zu bytes)", name, bytes);
    return deft_gpu_cuda(cudaMalloc(ptr, bytes ? bytes : 1), what, diag);
}

static deft_status upload(void *dst, const void *src, size_t bytes, const char *name, deft_diag *diag)
{
    char what[96];
    if (!bytes) return DEFT_OK;
    snprintf(what, sizeof what, "cudaMemcpy(%s, %zu bytes, host to device)", name, bytes);
    return deft_gpu_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), what, diag);
}

deft_status deft_gpu_host_run(const deft_problem *p, const deft_options *opt, int64_t chunk_tokens,
                              deft_gpu_device_fn fn, const char *who, float *o, float *lse,
                              deft_diag *diag)
{
    int64_t tq = deft_tree_total_q(&p->tree);
    if (tq == 0) {
        deft_diag_clear(diag);
        return DEFT_OK;
    }
    if (!o || !lse) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "%s: o or lse is NULL", who);
        return DEFT_ERR_NULL;
    }
    deft_options po = {0, 0, 0};
    if (opt) po = *opt;
    po.chunk_tokens = chunk_tokens;
    deft_plan plan;
    deft_status st = deft_plan_build(&p->tree, &po, &plan, diag);
    if (st != DEFT_OK) return st;
    const deft_shape *s = &p->shape;
    size_t elt = deft_dtype_size(s->dtype);
    size_t nq = (size_t)tq * (size_t)s->hq * (size_t)s->d;
    size_t nkv = (size_t)p->tree.total_kv * (size_t)s->hkv * (size_t)s->d;
    size_t nl = (size_t)tq * (size_t)s->hq;
    size_t ws = deft_gpu_workspace_size(&plan, s);
    dev_buffers b;
    memset(&b, 0, sizeof b);
    if ((st = dev_alloc(&b.q, nq * elt, "q", diag)) || (st = dev_alloc(&b.k, nkv * elt, "k", diag)) ||
        (st = dev_alloc(&b.v, nkv * elt, "v", diag)) ||
        (st = dev_alloc(&b.words, plan.n_words * sizeof(int32_t), "plan", diag)) ||
        (st = dev_alloc(&b.ws, ws, "workspace", diag)) ||
        (st = dev_alloc((void **)&b.o, nq * sizeof(float), "o", diag)) ||
        (st = dev_alloc((void **)&b.lse, nl * sizeof(float), "lse", diag)))
        goto done;
    if ((st = upload(b.q, p->q, nq * elt, "q", diag)) || (st = upload(b.k, p->k, nkv * elt, "k", diag)) ||
        (st = upload(b.v, p->v, nkv * elt, "v", diag)) ||
        (st = upload(b.words, plan.words, plan.n_words * sizeof(int32_t), "plan", diag)))
        goto done;
    /* all-ones bits are a NaN: an element no kernel writes comes back NaN and fails the check */
    if ((st = deft_gpu_cuda(cudaMemset(b.o, 0xff, nq * sizeof(float)), "cudaMemset(o)", diag)) ||
        (st = deft_gpu_cuda(cudaMemset(b.lse, 0xff, nl * sizeof(float)), "cudaMemset(lse)", diag)))
        goto done;
    {
        deft_problem dp = *p;
        dp.q = b.q, dp.k = b.k, dp.v = b.v;
        if ((st = fn(&dp, &plan, b.words, b.ws, ws, b.o, b.lse, NULL, diag)) != DEFT_OK) goto done;
    }
    if ((st = deft_gpu_cuda(cudaDeviceSynchronize(), "kernels", diag)) ||
        (st = deft_gpu_cuda(cudaMemcpy(o, b.o, nq * sizeof(float), cudaMemcpyDeviceToHost),
                            "cudaMemcpy(o, device to host)", diag)) ||
        (st = deft_gpu_cuda(cudaMemcpy(lse, b.lse, nl * sizeof(float), cudaMemcpyDeviceToHost),
                            "cudaMemcpy(lse, device to host)", diag)))
        goto done;
    deft_diag_clear(diag);
done:
    dev_free(&b);
    deft_plan_free(&plan);
    return st;
}
