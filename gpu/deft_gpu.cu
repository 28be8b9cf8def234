/* deft_gpu.cu: version 2 of DeFT on the GPU, "gpu": tensor cores and asynchronous copies, DeFT
 * phase 2 (phase 3 is the shared reduction of gpu/gpu_host.cu).
 * What changed from version 1 (gpu/deft_gpu_simple.cu), where a warp walks one row's tokens in FMA:
 * - a work item (chunk, KV head) brings its K and V into shared memory once (at D = 128 on sm_90a
 *   by the tensor memory accelerator, elsewhere with cp.async), and every row of the item (its
 *   queries times the G query heads sharing this KV head, 128 rows per pass) is computed against
 *   them: each K/V byte leaves HBM once per KV head, however many queries and heads read it
 *   (DeFT's Triton kernel re-reads K/V per query head and per 32-query block). A chunk longer than
 *   the ring streams through it instead, one 128-row query tile per work item, its other query
 *   tiles' items reading it again from L2 at about the same time;
 * - S = Q K^T and P V run on the tensor cores (f16/bf16 operands, f32 accumulation) with an online
 *   softmax in f32 (exp2 of pre-scaled scores) and P rounded to the input type: in the large-item
 *   kernel at D = 128 as wgmma (sm_90a: a warpgroup's 64 rows at once, K and V read by the tensor
 *   cores from shared memory), otherwise as mma.sync m16n8k16, 16 rows per warp;
 * - items of at most 16 rows, most of the bytes in decode trees, and items of at most 64 rows over
 *   a chunk of one 16-token tile (DEFT_GPU_IS_SMALL) run in a light kernel (one warp per item, or
 *   2-4 warps splitting an item's tokens or its row tiles, each warp double-buffering its own
 *   tiles, 3 blocks per SM) beside the persistent kernel, on the SMs it leaves free; the others
 *   run in the persistent kernel (blocks of 8 warps, at most one per SM, a ring of 64-token
 *   slots refilled with the next item's tiles while the current one computes), their query
 *   tiles cut into units of a few tiles (deft_gpu_units) so that a tall chunk's tiles run on
 *   several SMs at once; a one-block kernel lists the large units first. Which kernel, the units
 *   and how an item's tiles are split depend on the plan, the shape and the item alone, so the
 *   bits do not depend on the schedule;
 * - the causal boundary comes from the plan's pair_visible: hidden scores become -inf by selection
 *   (never by adding a mask), so P is exactly 0 there, and non-finite V values are zeroed in shared
 *   memory as they land, so 0 * Inf never happens (rows that do read such a token are unspecified,
 *   docs/semantics.md); the V rows of a tile past its chunk's end are zero (cp.async fills them,
 *   the tensor-copy path clears them as the tile lands).
 * Kernels are chained with programmatic dependent launch. f16 and bf16; D = 64, 128, 256; chunks of
 * at most deft_gpu_max_chunk_tokens. gpu/NOTES.md has the measurements behind each choice. */
#include <cudaTypedefs.h> /* CUtensorMap and the type of cuTensorMapEncodeTiled (no -lcuda) */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <type_traits>
#include <stdlib.h>
#include <string.h>

#include "gpu_geom.h"
#include "gpu_internal.h"

namespace {

constexpr int NWARPS = DEFT_GPU_WARPS, NTHREADS = 32 * NWARPS, QROWS = DEFT_GPU_QROWS;
constexpr int TK = DEFT_GPU_TILE, PAD = DEFT_GPU_PAD;
constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;

/* ---- small PTX wrappers ---- */
__device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, asynchronously; src_bytes 0 fills the 16 bytes with zeros. */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, int src_bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
/* the same with an L2 eviction policy (createpolicy): data read once, marked to leave L2 first */
__device__ __forceinline__ void cp_async16_hint(uint32_t dst, const void *src, int src_bytes, uint64_t policy)
{
    asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes), "l"(policy));
}
__device__ __forceinline__ uint64_t policy_evict_first()
{
    uint64_t p;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
    return p;
}
__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t r[4])
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t addr, uint32_t r[4])
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* Per-dtype pieces: the mma instruction, packing two floats into the operand type, and the
 * exponent mask that marks an infinity or NaN in each 16-bit half of a word. */
template <typename T> struct ops;
template <> struct ops<__half> {
    static constexpr uint32_t EXP2 = 0x7c007c00u;
    __device__ static __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    __device__ static __forceinline__ uint32_t pack(float lo, float hi)
    {
        __half2 h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
};
template <> struct ops<__nv_bfloat16> {
    static constexpr uint32_t EXP2 = 0x7f807f80u;
    __device__ static __forceinline__ void mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    __device__ static __forceinline__ uint32_t pack(float lo, float hi)
    {
        __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
};

/* ---- wgmma (sm_90a) ----
 * The large-item kernel's S = Q K^T and O += P V at D = 128 run as warpgroup MMAs: the 4 warps
 * of a warpgroup (64 rows, 16 per warp) issue one m64nNk16 together, A (the query or P fragments)
 * from registers in the mma.m16n8k16 layout, B (K or V) read by the tensor cores straight from
 * shared memory, so no warp loads K/V fragments itself (mma.sync needs one ldmatrix per two MMAs,
 * and shared-memory bandwidth caps it near half the tensor rate). The accumulators come back in
 * the mma.m16n8 layout, 8 columns per 4 registers, so the softmax code is shared. Only the sm_90a
 * pass of nvcc has them (DEFT_WGMMA); the PTX kept for other GPUs runs the mma.sync path.
 * K/V tiles are written by the tensor memory accelerator (issue_tile) in the 128-byte swizzle:
 * a [64 tokens][D] tile is D / 64 boxes of [64][64] (8 KiB each, 128 bytes a row), and in each
 * 1024-byte group of 8 rows, 16-byte chunk j of row r sits at chunk j ^ (r % 8). A descriptor
 * holds the tile's address, LBO and SBO (bytes, >> 4) and the layout type (1: 128-byte swizzle):
 * K, K-major (N = tokens, K = D): SBO 1024 (8-row groups), LBO unused, a k16 step 32 bytes into
 * the box; V, read transposed (MN-major: N = D, K = tokens): LBO 8192 (the next 64 columns), SBO
 * 1024 (8-token groups), a k16 step 2048 bytes (the layouts of CUTLASS's GmmaDescriptor). */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(DEFT_GPU_NO_WGMMA)
#define DEFT_WGMMA 1
#else
#define DEFT_WGMMA 0
#endif
/* The persistent kernel's threads: with wgmma (D = 128) a producer warpgroup beside the NWARPS
 * consumer warps (partial_kernel); the host reads the count back from the kernel's attributes,
 * since which pass runs (sm_90a or the PTX) is the driver's choice. */
#if DEFT_WGMMA
#define DEFT_GPU_PTHREADS(d) ((d) == 128 ? NTHREADS + 128 : NTHREADS)
#else
#define DEFT_GPU_PTHREADS(d) NTHREADS
#endif

[[maybe_unused]] __device__ __forceinline__ uint64_t wg_desc(uint32_t addr, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((addr >> 4) & 0x3fffu) | ((uint64_t)((lbo >> 4) & 0x3fffu) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3fffu) << 32);
}
/* the same with the 128-byte swizzle (layout type 1 in bits 62-63): within each 1024-byte group of
 * 8 rows of 128 bytes, 16-byte chunk j of row r sits at chunk j ^ r (what the tensor copies write
 * with CU_TENSOR_MAP_SWIZZLE_128B) */
[[maybe_unused]] __device__ __forceinline__ uint64_t wg_desc_sw128(uint32_t addr, uint32_t lbo, uint32_t sbo)
{
    return wg_desc(addr, lbo, sbo) | (1ull << 62);
}
/* descriptor d moved by off 16-byte units: a 32-bit add to its start-address field (bits 0-13)
 * alone, the high word unchanged. Shared addresses are below 232 448 bytes (14 528 units) and the
 * steps below 1024 units, so the field never carries (a 64-bit add costs a carry chain per MMA) */
[[maybe_unused]] __device__ __forceinline__ uint64_t wg_desc_add(uint64_t d, uint32_t off)
{
    uint64_t r;
    asm("mov.b64 %0, {%1, %2};" : "=l"(r) : "r"((uint32_t)d + off), "r"((uint32_t)(d >> 32)));
    return r;
}
__device__ __forceinline__ void wg_fence()
{
#if DEFT_WGMMA
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wg_commit()
{
#if DEFT_WGMMA
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
/* wait until at most N committed groups of this warp are still running */
template <int N> __device__ __forceinline__ void wg_wait()
{
#if DEFT_WGMMA
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
/* Registers an MMA in flight reads or writes: the compiler sees them defined at the issue, so
 * every use after the wait goes through this empty definition, which it cannot move above the
 * wait, and the registers stay put until then. */
template <int N> __device__ __forceinline__ void reg_fence(float (&r)[N][4])
{
#pragma unroll
    for (int j = 0; j < N; j++)
#pragma unroll
        for (int x = 0; x < 4; x++) asm volatile("" : "+f"(r[j][x])::"memory");
}
template <int N> __device__ __forceinline__ void reg_fence(uint32_t (&r)[N][4])
{
#pragma unroll
    for (int j = 0; j < N; j++)
#pragma unroll
        for (int x = 0; x < 4; x++) asm volatile("" : "+r"(r[j][x])::"memory");
}
/* S = Q K^T: d (64 x 64 per warpgroup: 8 groups of 4 per thread) = a b, + d when acc; B K-major */
#define WG_D8(d) "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), \
    "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]),  \
    "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),  \
    "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]),  \
    "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
#define WG_R32 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25," \
    "%26,%27,%28,%29,%30,%31}"
#define WG_R64 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25," \
    "%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51," \
    "%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}"
template <typename T>
__device__ __forceinline__ void wg_qk(float (&d)[8][4], const uint32_t (&a)[4], uint64_t b, int acc)
{
#if DEFT_WGMMA
    if constexpr (std::is_same<T, __half>::value)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %36, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " WG_R32 ", {%32,%33,%34,%35}, %37, p, 1, 1, 0;\n}\n"
                     : WG_D8(d) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(acc), "l"(b));
    else
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %36, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " WG_R32 ", {%32,%33,%34,%35}, %37, p, 1, 1, 0;\n}\n"
                     : WG_D8(d) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(acc), "l"(b));
#endif
}
/* O += P V: d (64 x 128 per warpgroup) += a b, B transposed (V is K = tokens by N = D) */
template <typename T>
__device__ __forceinline__ void wg_pv(float (&d)[16][4], const uint32_t (&a)[4], uint64_t b)
{
#if DEFT_WGMMA
    float (&x)[8][4] = *reinterpret_cast<float (*)[8][4]>(&d[0]);
    float (&y)[8][4] = *reinterpret_cast<float (*)[8][4]>(&d[8]);
    if constexpr (std::is_same<T, __half>::value)
        asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " WG_R64 ", {%64,%65,%66,%67}, %68, 1, 1, 1, 1;\n"
                     : WG_D8(x), WG_D8(y) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
    else
        asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " WG_R64 ", {%64,%65,%66,%67}, %68, 1, 1, 1, 1;\n"
                     : WG_D8(x), WG_D8(y) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
#endif
}

/* Zeroes every infinite or NaN 16-bit element of a 4-word vector (exponent all ones). The test
 * that any element is one costs three instructions a word: adding the exponent's lowest bit to
 * the masked exponent carries into bit 15 of a half exactly when its exponent is all ones (f16:
 * 0x7c00 + 0x0400 = 0x8000; bf16: 0x7f80 + 0x0080 = 0x8000), and never across halves; the
 * element-wise masks are built only when one is found (rare). */
template <typename T> __device__ __forceinline__ void zero_nonfinite(uint4 *p)
{
    constexpr uint32_t LOW = ops<T>::EXP2 & ~(ops<T>::EXP2 << 1); /* lowest exponent bit per half */
    uint4 w = *p;
    const uint32_t any = ((w.x & ops<T>::EXP2) + LOW) | ((w.y & ops<T>::EXP2) + LOW) |
                         ((w.z & ops<T>::EXP2) + LOW) | ((w.w & ops<T>::EXP2) + LOW);
    if (!(any & 0x80008000u)) return;
    uint32_t m0 = __vcmpeq2(w.x & ops<T>::EXP2, ops<T>::EXP2), m1 = __vcmpeq2(w.y & ops<T>::EXP2, ops<T>::EXP2);
    uint32_t m2 = __vcmpeq2(w.z & ops<T>::EXP2, ops<T>::EXP2), m3 = __vcmpeq2(w.w & ops<T>::EXP2, ops<T>::EXP2);
    if (m0 | m1 | m2 | m3) *p = make_uint4(w.x & ~m0, w.y & ~m1, w.z & ~m2, w.w & ~m3);
}

/* mbarriers: a slot's barrier completes a phase when every thread's copies into it have landed */
__device__ __forceinline__ void mbar_init(uint32_t bar, int count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
/* this thread's arrival on bar, made when all of its earlier cp.async have landed */
__device__ __forceinline__ void mbar_arrive_cp(uint32_t bar)
{
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
/* the tensor-memory-accelerator path (wgmma kernels): one thread arms the slot's barrier with the
 * bytes its copies will bring, and each copy counts its bytes off as it lands */
[[maybe_unused]] __device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
/* box (c0, c1, c2) of a 3-d tensor map into shared memory at dst; out-of-range elements are zero */
[[maybe_unused]] __device__ __forceinline__ void tma_load3(uint32_t dst, const CUtensorMap *map, int c0, int c1, int c2, uint32_t bar)
{
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(dst), "l"(reinterpret_cast<uint64_t>(map)),
                 "r"(c0), "r"(c1), "r"(c2), "r"(bar)
                 : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity)
{
    uint32_t done;
    do {
        asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     " selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!done);
}

/* a plain arrival on bar (the consumers releasing a ring slot, or publishing an item) */
__device__ __forceinline__ void mbar_arrive(uint32_t bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* The consumer warps' block barrier (named barrier 1 over the NTHREADS consumer threads): the
 * producer warpgroup of the wgmma kernel never joins it. csync_or: with the OR of p over them. */
__device__ __forceinline__ void csync()
{
    asm volatile("bar.sync 1, %0;\n" ::"n"(NTHREADS) : "memory");
}
__device__ __forceinline__ int csync_or(int p)
{
    int r;
    asm volatile("{\n .reg .pred a, b;\n setp.ne.s32 a, %1, 0;\n bar.red.or.pred b, 1, %2, a;\n"
                 " selp.s32 %0, 1, 0, b;\n}\n"
                 : "=r"(r)
                 : "r"(p), "n"(NTHREADS)
                 : "memory");
    return r;
}

/* 2^x on the special-function unit; inputs far below -126 give 0 (their weights are below any
 * float32 sum's rounding) */
__device__ __forceinline__ float ex2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* The online-softmax step of one warp's 16 rows over one tile of 8 * NT tokens, in the mma
 * accumulator layout (s[j][0..1]: row lane / 4, s[j][2..3]: row lane / 4 + 8; columns
 * col0 + 8 j + {0, 1}). Scores become scale2 * s (log2 units); unless `full`, a column at or past a
 * row's visible count becomes -inf by selection, never by arithmetic, so its weight is exactly 0.
 * m and l are the reference max and (per-lane partial) sum of each row, o its 16 x D
 * accumulators. The reference max moves, and o and l are rescaled, only when a row's max exceeds
 * it by more than LAZY (log2 units; the warp's first tile just takes the tile's max, o and l being
 * zero): below that the weights exp2(s - m) stay at most 2^LAZY, far from any overflow in f32 and
 * in the 16-bit P, and the result is the same real number (O = sum p v / sum p and LSE = m +
 * log2 sum p hold for any reference m), without the 4 D / 8 products on most tiles.
 * On return s holds the weights exp2(s - m). RAW (the wgmma path): s comes unscaled and scale2 is
 * positive; the max is taken of s and scaled after (a positive product keeps the order, rounding
 * included), and each weight is exp2(fma(s, scale2, -m)): one instruction a score fewer. */
constexpr float LAZY = 8.0f;
template <int NT, int ND, bool RAW = false>
__device__ __forceinline__ void online_softmax(float (&s)[NT][4], float (&o)[ND][4], float (&m)[2],
                                               float (&l)[2], float scale2, bool full, bool fresh,
                                               int col0, int visA, int visB)
{
    if (RAW) { /* s stays unscaled (scale2 > 0): the max commutes with the product */
        if (!full)
#pragma unroll
            for (int j = 0; j < NT; j++) {
                const int col = col0 + j * 8;
                s[j][0] = col < visA ? s[j][0] : -INFINITY;
                s[j][1] = col + 1 < visA ? s[j][1] : -INFINITY;
                s[j][2] = col < visB ? s[j][2] : -INFINITY;
                s[j][3] = col + 1 < visB ? s[j][3] : -INFINITY;
            }
    } else if (full) {
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int x = 0; x < 4; x++) s[j][x] *= scale2;
    } else {
#pragma unroll
        for (int j = 0; j < NT; j++) {
            const int col = col0 + j * 8;
            s[j][0] = col < visA ? s[j][0] * scale2 : -INFINITY;
            s[j][1] = col + 1 < visA ? s[j][1] * scale2 : -INFINITY;
            s[j][2] = col < visB ? s[j][2] * scale2 : -INFINITY;
            s[j][3] = col + 1 < visB ? s[j][3] * scale2 : -INFINITY;
        }
    }
    /* row maxima as a tree, not a chain */
    float mx[NT][2];
#pragma unroll
    for (int j = 0; j < NT; j++) mx[j][0] = fmaxf(s[j][0], s[j][1]), mx[j][1] = fmaxf(s[j][2], s[j][3]);
#pragma unroll
    for (int w = 1; w < NT; w *= 2)
#pragma unroll
        for (int j = 0; j + w < NT; j += 2 * w) mx[j][0] = fmaxf(mx[j][0], mx[j + w][0]), mx[j][1] = fmaxf(mx[j][1], mx[j + w][1]);
    float tmA = mx[0][0], tmB = mx[0][1];
    tmA = fmaxf(tmA, __shfl_xor_sync(0xffffffffu, tmA, 1));
    tmB = fmaxf(tmB, __shfl_xor_sync(0xffffffffu, tmB, 1));
    tmA = fmaxf(tmA, __shfl_xor_sync(0xffffffffu, tmA, 2));
    tmB = fmaxf(tmB, __shfl_xor_sync(0xffffffffu, tmB, 2));
    if (RAW) tmA *= scale2, tmB *= scale2;
    const float mnA = fmaxf(m[0], tmA), mnB = fmaxf(m[1], tmB);
    if (fresh) {
        m[0] = mnA, m[1] = mnB;
    } else {
        /* -inf + LAZY is -inf: a row that saw nothing so far moves to its first finite max */
        const bool upA = mnA > m[0] + LAZY, upB = mnB > m[1] + LAZY;
        if (__any_sync(0xffffffffu, upA || upB)) {
            const float alA = upA ? ex2(m[0] - mnA) : 1.0f, alB = upB ? ex2(m[1] - mnB) : 1.0f;
            l[0] *= alA, l[1] *= alB;
#pragma unroll
            for (int j = 0; j < ND; j++) o[j][0] *= alA, o[j][1] *= alA, o[j][2] *= alB, o[j][3] *= alB;
            if (upA) m[0] = mnA;
            if (upB) m[1] = mnB;
        }
    }
    /* a row with nothing visible so far keeps max -inf: subtract 0 so exp2 gives 0, not NaN */
    const float muA = m[0] == -INFINITY ? 0.0f : m[0], muB = m[1] == -INFINITY ? 0.0f : m[1];
    float sA[NT], sB[NT];
#pragma unroll
    for (int j = 0; j < NT; j++) {
        if (RAW) {
            s[j][0] = ex2(fmaf(s[j][0], scale2, -muA)), s[j][1] = ex2(fmaf(s[j][1], scale2, -muA));
            s[j][2] = ex2(fmaf(s[j][2], scale2, -muB)), s[j][3] = ex2(fmaf(s[j][3], scale2, -muB));
        } else {
            s[j][0] = ex2(s[j][0] - muA), s[j][1] = ex2(s[j][1] - muA);
            s[j][2] = ex2(s[j][2] - muB), s[j][3] = ex2(s[j][3] - muB);
        }
        sA[j] = s[j][0] + s[j][1], sB[j] = s[j][2] + s[j][3];
    }
#pragma unroll
    for (int w = 1; w < NT; w *= 2)
#pragma unroll
        for (int j = 0; j + w < NT; j += 2 * w) sA[j] += sA[j + w], sB[j] += sB[j + w];
    l[0] += sA[0], l[1] += sB[0];
}

/* A warp's softmax state of its 16 rows (m and l per half, o[ND][4]) in a merge scratch: lane's
 * values at st[32 i], i < 4 + 4 ND (st = the state's base + lane), so a warp's stores and loads
 * are 32 consecutive words. Both kernels split an item's tokens across warps and merge the states
 * in part order with these two. */
template <int ND>
__device__ __forceinline__ void state_put(float *st, const float (&m)[2], const float (&l)[2],
                                          const float (&o)[ND][4])
{
    st[0] = m[0], st[32] = m[1], st[64] = l[0], st[96] = l[1];
#pragma unroll
    for (int j = 0; j < ND; j++)
#pragma unroll
        for (int x = 0; x < 4; x++) st[(4 + 4 * j + x) * 32] = o[j][x];
}

/* Merges the state at sk (state_put's layout) into this warp's: both rescaled to the larger max
 * (a max of -inf, no token seen, counts as 0 so that no -inf - -inf arises). */
template <int ND>
__device__ __forceinline__ void state_merge(const float *sk, float (&m)[2], float (&l)[2], float (&o)[ND][4])
{
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const float mk = sk[32 * half], lk = sk[64 + 32 * half];
        const float mn = fmaxf(m[half], mk), mu = mn == -INFINITY ? 0.0f : mn;
        const float a0 = ex2(m[half] - mu), a1 = ex2(mk - mu);
        m[half] = mn;
        l[half] = a0 * l[half] + a1 * lk;
#pragma unroll
        for (int j = 0; j < ND; j++)
#pragma unroll
            for (int x = 2 * half; x < 2 * half + 2; x++) o[j][x] = a0 * o[j][x] + a1 * sk[(4 + 4 * j + x) * 32];
    }
}

/* A warp's 16 rows' partials: O / l and LSE = ln 2 * (m + log2 l), l first summed over the
 * lane's quad (each of the 4 lanes holds a quarter of the row's tokens' weights). Row r of the
 * item (rowA, rowB: this lane's two, in the mma layout) is pair ps + r / G and query head
 * g * G + r % G; rows past nrows are not written. */
template <int D>
__device__ __forceinline__ void put_partials(const deft_gpu_args &a, int ps, int g, int G, int nrows, int rowA,
                                             int rowB, const float (&m)[2], float (&l)[2],
                                             const float (&o)[D / 8][4])
{
    const int lane = threadIdx.x & 31;
    l[0] += __shfl_xor_sync(0xffffffffu, l[0], 1);
    l[0] += __shfl_xor_sync(0xffffffffu, l[0], 2);
    l[1] += __shfl_xor_sync(0xffffffffu, l[1], 1);
    l[1] += __shfl_xor_sync(0xffffffffu, l[1], 2);
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int row = half ? rowB : rowA;
        if (row >= nrows) continue;
        const size_t prow = (size_t)(ps + row / G) * a.hq + g * G + row % G;
        const float inv = 1.0f / l[half];
        float *dst = a.part_o + prow * D + 2 * (lane & 3);
#pragma unroll
        for (int j = 0; j < D / 8; j++)
            *reinterpret_cast<float2 *>(dst + j * 8) = make_float2(o[j][2 * half] * inv, o[j][2 * half + 1] * inv);
        if ((lane & 3) == 0) a.part_lse[prow] = (m[half] + log2f(l[half])) * LN2;
    }
}

constexpr int MAX_SLOTS = DEFT_GPU_MAX_SLOTS;

/* One work item: a chunk of the plan with KV head g (its first KV row kv0, its length, its first
 * pair ps); its K/V tiles are tiles seq0 .. seq0 + ntiles - 1 of the block's stream, tile s living
 * in ring slot s % nslot, whose barrier is in phase (s / nslot) % 2: the item keeps slot0 =
 * seq0 % nslot and par0 = (seq0 / nslot) % 2 (no division in the loops; ntiles <= nslot). */
struct item {
    int g, kv0, len, ps, nrows, ntiles, qt0, nqt; /* query tiles qt0 .. qt0 + nqt - 1 */
    int slot0, par0;
};

/* Units (deft_gpu_units) of chunk c for the plan's classification: 0 for a small chunk; one per
 * query tile for a chunk of more tiles than the ring holds (streamed through it), else qpu query
 * tiles each (all of them when qpu == 0). */
__device__ __forceinline__ int chunk_units(const deft_gpu_args &a, int c)
{
    const int rows = (__ldg(a.pair_start + c + 1) - __ldg(a.pair_start + c)) * a.group;
    const int len = __ldg(a.chunk_len + c);
    if (DEFT_GPU_IS_SMALL(rows, len)) return 0;
    const int nqt = (rows + QROWS - 1) / QROWS;
    if ((len + TK - 1) / TK > a.nslot) return nqt;
    return a.qpu ? (nqt + a.qpu - 1) / a.qpu : 1;
}

/* ---- the partial kernel ----
 * Persistent blocks (at most one per SM: deft_gpu_persistent_blocks) take the large work items
 * (unit of a chunk's query tiles, KV head) in plan order (the ancestors' tall chunks start
 * first). Block b's first item is item b, whose unit the host passes in `first`, loaded at once,
 * and its second is fixed too (second_item); the items past 2 grid come from a counter over the
 * list classify_kernel wrote, the item after next taken while an item runs, off the critical
 * path. Shared
 * memory:
 * qs [QROWS][D+PAD] and a ring of nslot slots, each the K and V of one 64-token tile ([TK][D+PAD]
 * each). An item's tiles stay in their slots while all its query tiles pass over them (so its K/V
 * leaves HBM once per unit; the units of one chunk run at about the same time, on other SMs, so
 * their repeated reads come from L2); during the last pass each slot, once every warp is done with
 * it, is refilled with a tile of the next item, and the next item's first query tile is fetched
 * as soon as the current one sits in registers: loads of item i + 1 overlap compute of item i.
 * With wgmma (D = 128) the refills are a producer warpgroup's (PROD): the 8 consumer warps
 * release each slot with an mbarrier arrival and go on, where a block barrier before each refill
 * held both warpgroups to the slower one (measured 2026-12-01, against that: wide 381.9 -> 344.8
 * us, tot 83.6 -> 79.5, fewshot50 41.2 -> 38.9, specdec 30.8 -> 29.4, specstar 20.1 -> 19.3).
 * Row r of an item is pair ps + r / G and query head g * G + r % G. Warp w owns rows
 * qt * QROWS + 16 w .. + 15 of query tile qt; in mma layout, lane holds rows lane / 4 and
 * lane / 4 + 8 of those 16 and columns 2 (lane % 4) + {0, 1} of every 8-wide n-tile. */
/* The persistent kernel's first units (deft_gpu_first's fields with room for N): N is
 * DEFT_GPU_FIRST_MAX, or DEFT_GPU_FIRST_FEW for the runs that need no more (gpu_geom.h). */
template <int N> struct first_units {
    int n, total;
    deft_gpu_first_unit u[N];
};

template <int D, typename T, bool STEPS, int NF>
__global__ void __launch_bounds__(DEFT_GPU_PTHREADS(D), 1)
partial_kernel(const deft_gpu_args a, const __grid_constant__ CUtensorMap tmk, const __grid_constant__ CUtensorMap tmv,
               const __grid_constant__ first_units<NF> first)
{
    const int nslot = a.nslot;
    constexpr int S = D + PAD;       /* shared row stride, elements */
    constexpr int CPR = D / 8;       /* 16-byte pieces per row */
    constexpr bool QREGS = D <= DEFT_GPU_QREGS_MAX_D; /* Q fragments stay in registers for the whole query tile */
    /* warpgroup MMAs (A from registers) at D = 128, the benchmarks' shape. D = 64 stays on mma.sync:
     * its wgmma variant (m64n64k16 for P V) gave wrong results on items of more than one tile in
     * testing, for a reason not yet found (gpu/NOTES.md); D = 256 has no room for its registers. */
    constexpr bool WG = DEFT_WGMMA && D == 128 && QREGS;
    /* With wgmma a producer warpgroup (threads NTHREADS ..) issues the K/V tiles' tensor copies,
     * each into its slot once the consumers have released it (ebars), so no consumer waits for
     * the others before a refill; the consumers publish the block's items to it in order (iq). */
    constexpr bool PROD = WG;
    /* STEPS (the host's choice per run, deft_gpu_steps): steps of two tiles (128 tokens) on the
     * streamed chunks DEFT_GPU_STEPS picks, the consumers at 240 registers (the step's 64 scores
     * a thread spill at 232) and the producer at 24. The kernel without STEPS keeps 232 / 40: the
     * runs without such chunks keep its code and registers (gpu/gpu_geom.h). */
    constexpr bool STEP2 = WG && STEPS;
    static_assert(!PROD || DEFT_GPU_PTHREADS(D) == NTHREADS + 128, "a producer warpgroup with wgmma");
    static_assert(NWARPS % 4 == 0, "warpgroups of 4 warps");
    constexpr int KD = D / 16, NT = TK / 8, ND = D / 8;
    constexpr int QPT = QROWS * CPR / NTHREADS; /* Q pieces per thread */
    constexpr int STATE = 4 + 4 * ND;           /* floats per lane of a warp's softmax state */
    constexpr int NSCR = DEFT_GPU_SPLIT_STATES(D); /* warp states the merge scratch holds */
    /* 1024-byte aligned: the tensor copies' destinations, in the 128-byte swizzle, whose pattern
     * repeats every 1024 bytes of address (slots at multiples of 1024 bytes from here) */
    extern __shared__ __align__(1024) unsigned char smem[];
    __shared__ __align__(8) uint64_t bars[MAX_SLOTS + 1]; /* [nslot] is the Q tile's */
    __shared__ int next_item[2][6]; /* double-buffered: item i + 2 is taken while i runs */
    /* PROD: ebars[s] completes a phase when every consumer thread is done with slot s's tile;
     * iq[k] (kv0, ntiles, g; ntiles -1: no more items) is the block's item 2 i + k, published
     * with an arrival on ibars[k] */
    __shared__ __align__(8) uint64_t ebars[PROD ? MAX_SLOTS : 1], ibars[2];
    __shared__ int iq[2][3];
    T *qs = reinterpret_cast<T *>(smem);
    T *ring = qs + QROWS * S;
    float *scratch = reinterpret_cast<float *>(ring + (size_t)nslot * 2 * TK * S); /* NSCR states */

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int G = a.group;
    deft_trace(TR_LARGE_START);
    /* Copies of Q and K/V tiles: thread tid moves 16-byte piece cpiece0 of rows crow0, crow0 + STEP, ...
     * (consecutive threads, consecutive pieces of a row). Row r + STEP of a query tile is pair
     * (r / G) + dq, head (r % G) + dr, plus one pair when the head passes G: one division per tile,
     * not one per piece. */
    constexpr int STEP = NTHREADS / CPR; /* 32, 16, 8 rows for D = 64, 128, 256 */
    const int crow0 = tid / CPR, cpiece0 = tid % CPR;
    /* cp.async K/V tiles (the mma.sync path) are in the canonical layout without swizzle (see
     * issue_tile): thread tid moves piece kpiece0 of rows
     * krow0 + STEP k; a warp reads 128 contiguous bytes of each of 4 rows (whole lines, as many
     * as a row-major copy), 8 lanes per row */
    static_assert(STEP % 8 == 0 && CPR % 8 == 0, "a round of K/V copies is whole 8-row groups");
    const int krow0 = (tid / (4 * CPR)) * 4 + ((tid >> 3) & 3), kpiece0 = ((tid >> 5) % (CPR / 8)) * 8 + (tid & 7);
    const int dq = STEP / G, dr = STEP % G;
    int n_big = 0, n_items = 0; /* units and items: first.total, the host's count, and its hkv times */
    const T *Q = static_cast<const T *>(a.q), *K = static_cast<const T *>(a.k), *V = static_cast<const T *>(a.v);
    const float scale2 = a.scale * LOG2E;
    /* the wgmma softmax's positive scale (online_softmax, RAW). A scale whose f32 product
     * underflows to 0 becomes FLT_MIN: a masked score's weight is then exp2(-inf * FLT_MIN - m) = 0,
     * not exp2(-inf * 0) = NaN, and every visible weight is 1 as with 0 */
    const float rscale = fmaxf(fabsf(scale2), FLT_MIN);
    const uint32_t qbar = smem_addr(&bars[nslot]);

    /* One thread (lane 0 of the last warp, idle in items of few rows) takes work items: the item
     * after next is taken when an item starts and published in next_item[buf] when it ends, so
     * the counter's and the chunk's latencies hide behind the item's work. Items 0 .. 2 grid - 1
     * are the blocks' first and second items (second_item, from `first` before the wait,
     * below); the counter hands out the rest. */
    const bool grabber = tid == NTHREADS - 32;
    /* Block b's first item is item b, its second item grid + (grid - 1 - b): the plan lists tall
     * chunks first, so the blocks whose first items are the lightest take the heaviest second
     * ones. Both are fixed, not taken from the counter, so a block reads its second item from
     * `first` with no trip to memory on the way to its first item's tiles (the counter, the
     * list and the chunk were ~2 us of dependent reads under the start's load). Measured
     * 2026-12-01: specdec 33.0 -> 32.1 us; with grid + b instead, its four second items went
     * behind root items, 33.0 -> 33.4. The counter hands out the rest, from item 2 grid on.
     * k = 0: the first item, 1: the second. */
    auto second_item = [&](int k) {
        return k ? 2 * (int)gridDim.x - 1 - (int)blockIdx.x : (int)blockIdx.x;
    };
    int g_w = 0, g_info[5] = {0, 0, 0, 0, 0};
    auto chunk_info = [&](int c, int j, int *info) {
        info[0] = __ldg(a.chunk_kv_row + c), info[1] = __ldg(a.chunk_len + c);
        info[2] = __ldg(a.pair_start + c), info[3] = __ldg(a.pair_start + c + 1), info[4] = j;
    };
    auto grab_chunk = [&](int w) {
        const int2 e = __ldg(a.units + min(w / a.hkv, n_big - 1));
        chunk_info(e.x, e.y, g_info);
    };
    auto grab_start = [&](bool listed) {
        if (grabber) {
            if (!listed) { /* every item is a block's first or second: none left, no list */
                g_w = n_items;
                return;
            }
            g_w = 2 * (int)gridDim.x + atomicAdd(a.counter, 1);
            grab_chunk(g_w);
        }
    };
    auto grab_publish = [&](int buf) {
        if (grabber) {
            next_item[buf][0] = g_w;
            next_item[buf][1] = g_info[0], next_item[buf][2] = g_info[1];
            next_item[buf][3] = g_info[2], next_item[buf][4] = g_info[3], next_item[buf][5] = g_info[4];
        }
    };
    auto read_item = [&](item &it, int buf) {
        const int w = next_item[buf][0];
        if (w >= n_items) return false;
        it.g = w % a.hkv;
        it.kv0 = next_item[buf][1], it.len = next_item[buf][2], it.ps = next_item[buf][3];
        it.nrows = (next_item[buf][4] - it.ps) * G;
        it.ntiles = (it.len + TK - 1) / TK;
        const int nqt = (it.nrows + QROWS - 1) / QROWS, j = next_item[buf][5];
        if (it.ntiles > nslot) it.qt0 = j, it.nqt = 1; /* streamed: one query tile */
        else if (a.qpu) it.qt0 = j * a.qpu, it.nqt = min(a.qpu, nqt - it.qt0);
        else it.qt0 = 0, it.nqt = nqt;
        return true;
    };
    /* query tile qt of it into qs, in two halves: the query indices (q_index: loads), then the
     * copies (q_copy), so a pass can read the next tile's indices early and issue its copies
     * later, when qs is free, without waiting for them (under load a read takes ~1 us) */
    struct qrows {
        int idx[QPT], h[QPT];
    };
    auto q_index = [&](const item &it, int qt, qrows &r) {
        int row = qt * QROWS + crow0, pq = row / G, ph = row - pq * G; /* pair, head in the group */
#pragma unroll
        for (int k = 0; k < QPT; k++) {
            r.idx[k] = row < it.nrows ? __ldg(a.pair_query + it.ps + pq) : -1;
            r.h[k] = ph;
            row += STEP, pq += dq, ph += dr;
            if (ph >= G) ph -= G, pq++;
        }
    };
    auto q_copy = [&](const item &it, const qrows &r) {
        const size_t hoff = (size_t)it.g * G * D + cpiece0 * 8;
        const uint32_t dst = smem_addr(qs + crow0 * S + cpiece0 * 8);
#pragma unroll
        for (int k = 0; k < QPT; k++) {
            const T *src = r.idx[k] < 0 ? Q : Q + ((size_t)r.idx[k] * a.hq + r.h[k]) * D + hoff;
            cp_async16(dst + k * STEP * S * (int)sizeof(T), src, r.idx[k] < 0 ? 0 : 16);
        }
        mbar_arrive_cp(qbar);
    };
    auto issue_q = [&](const item &it, int qt) {
        qrows r;
        q_index(it, qt, r);
        q_copy(it, r);
    };
    /* With wgmma (WG): the producer warpgroup's thread has the tensor memory accelerator bring
     * tile t of the chunk at kv0, KV head g, into ring slot `slot`: per 64 columns of D one box of
     * K and one of V, [64 tokens][64] in the 128-byte swizzle (see wg_desc_sw128), the slot's
     * barrier armed with the tile's bytes. The copies do not go through the threads' load path:
     * 256 threads' cp.async kept too few bytes in flight to stream a chunk longer than the ring
     * (a streamed tile waited ~2450 cycles for its data, against ~2000 of compute; gpu/NOTES.md),
     * and 16-byte boxes without swizzle were slower than cp.async. Rows past the chunk's end hold
     * other tokens (zeros past the tensor's end): land() zeroes their V. */
    auto tma_tile = [&](int slot, int kv0, int g, int t) { /* tile t of the chunk at kv0, KV head g */
        const uint32_t bar = smem_addr(&bars[slot]);
        const uint32_t kd = smem_addr(ring + (size_t)slot * 2 * TK * S), vd = kd + TK * S * (int)sizeof(T);
        mbar_expect_tx(bar, 2u * TK * D * (uint32_t)sizeof(T));
#pragma unroll
        for (int c = 0; c < D / 64; c++) {
            tma_load3(kd + c * TK * 128, &tmk, c * 64, g, kv0 + t * TK, bar);
            tma_load3(vd + c * TK * 128, &tmv, c * 64, g, kv0 + t * TK, bar);
        }
    };
    /* Without wgmma (the mma.sync path; with it the producer issues every tile, and no path
     * reaches this): K/V tile t of it into the next ring slot (islot: tiles issued so far, mod
     * nslot), every thread copying its pieces with cp.async into the canonical layout without
     * swizzle, (row / 8) 8 D + (col / 8) 64 + (row % 8) 8 + col % 8, rows past the chunk's end
     * zero-filled by the copies. */
    int islot = 0;
    auto issue_tile = [&](const item &it, int t) {
        const uint32_t kd = smem_addr(ring + (size_t)islot * 2 * TK * S + (krow0 & ~7) * D + kpiece0 * 64 +
                                      (krow0 & 7) * 8);
        const uint32_t vd = kd + TK * S * (int)sizeof(T);
        const int tok0 = t * TK + krow0;
        const size_t off0 = ((size_t)(it.kv0 + tok0) * a.hkv + it.g) * D + kpiece0 * 8;
        const size_t rstride = (size_t)STEP * a.hkv * D;
#pragma unroll
        for (int k = 0; k < (TK + STEP - 1) / STEP; k++) {
            if (TK % STEP && krow0 + k * STEP >= TK) break; /* a partial last round */
            const bool in = tok0 + k * STEP < it.len;
            const size_t off = in ? off0 + k * rstride : 0;
            cp_async16(kd + k * STEP * D * (int)sizeof(T), K + off, in ? 16 : 0);
            cp_async16(vd + k * STEP * D * (int)sizeof(T), V + off, in ? 16 : 0);
        }
        mbar_arrive_cp(smem_addr(&bars[islot]));
        islot = islot + 1 == nslot ? 0 : islot + 1;
    };

    if (tid == 0) { /* ring slots: one arrival (the tensor copies' issuer) with wgmma, else every thread */
        for (int i = 0; i <= nslot; i++) mbar_init(smem_addr(&bars[i]), WG && i < nslot ? 1 : NTHREADS);
        if (PROD) {
            for (int i = 0; i < nslot; i++) mbar_init(smem_addr(&ebars[i]), NTHREADS);
            mbar_init(smem_addr(&ibars[0]), 1), mbar_init(smem_addr(&ibars[1]), 1);
        }
    }
    /* Block b's first item is item b: unit b / hkv of the list classify_kernel writes (plan
     * order), KV head b % hkv. The host put the first units of that list in `first`, so the
     * item's Q and K/V loads are issued at once, before the wait for classify_kernel: they read
     * only inputs (finding the unit in the plan here took ~2 us of dependent reads on the small
     * trees, on their critical path). A block past them reads the list after the wait. The host
     * passes the units of the second items too, when they fit. */
    if (tid == 0) /* the first item in next_item[0], the second in next_item[1] */
        for (int k = 0; k < 2; k++) {
            const int w = second_item(k), u = w / a.hkv;
            next_item[k][0] = u < first.n ? w : -1;
            if (u < first.n) {
                const deft_gpu_first_unit f = first.u[u];
                next_item[k][1] = f.kv0, next_item[k][2] = f.len, next_item[k][3] = f.ps;
                next_item[k][4] = f.pe, next_item[k][5] = f.j;
            }
        }
    __syncthreads(); /* the barriers are initialized; next_item[0] and [1] are published */
#if DEFT_WGMMA
    if constexpr (PROD) {
        /* The producer warpgroup gives its registers to the consumers (40 + 2 x 232 per lane of
         * each warpgroup: 64 512 of the 65 536). Its first thread walks the block's tile stream
         * (the items in iq's order, each item's tiles in order): stream tile s goes into slot
         * s % nslot once the consumers have released the slot's previous tile (round s / nslot
         * - 1 of its ebar), the slot's full barrier armed with the tile's bytes (tma_tile). */
        if (warp >= NWARPS) {
            asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(STEP2 ? 24 : 40) : "memory");
            /* the block's trigger for the small kernel's launch (the first call in a block counts,
             * so the consumers' call below has no effect here); triggering only once the first
             * tile or query tile had landed was measured slower (2026-12-02, gpu/NOTES.md) */
            cudaTriggerProgrammaticLaunchCompletion();
            if (tid == NTHREADS) {
                int slot = 0;
                uint32_t round = 0, iph = 0;
                for (int k = 0;; k ^= 1) {
                    mbar_wait(smem_addr(&ibars[k]), (iph >> k) & 1u);
                    iph ^= 1u << k;
                    const int kv0 = iq[k][0], nt = iq[k][1], g = iq[k][2];
                    if (nt < 0) break;
                    for (int t = 0; t < nt; t++) {
                        if (round) mbar_wait(smem_addr(&ebars[slot]), (round - 1) & 1u);
                        tma_tile(slot, kv0, g, t);
                        if (++slot == nslot) slot = 0, round++;
                    }
                }
            }
            return;
        }
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(STEP2 ? 240 : 232) : "memory");
    }
#endif
    /* PROD: item `it` (live false: the end of the block's items) to the producer, in entry k */
    auto publish = [&](const item &it, bool live, int k) {
        if (PROD && tid == 0) {
            iq[k][0] = it.kv0, iq[k][1] = live ? it.ntiles : -1, iq[k][2] = it.g;
            mbar_arrive(smem_addr(&ibars[k]));
        }
    };
    item cur = {}, nxt = {};
    /* The block's K/V tiles form one stream (cur's, then nxt's, ...) through the ring: when an
     * item starts, the first nslot tiles of the stream from its first tile on are issued (all of
     * its own when they fit, then the next item's), and in its last pass each consumed tile t
     * makes room for stream tile t + nslot: a later tile of its own when the chunk is longer
     * than the ring (streamed), else one of the next item's. */
    auto issue_cur = [&]() {
        for (int t = 0; t < cur.ntiles && t < nslot; t++) issue_tile(cur, t);
    };
    const bool early = next_item[0][0] >= 0, early2 = next_item[1][0] >= 0;
    n_items = INT32_MAX; /* the count is set after the wait below (set here, ptxas spilled at D = 256) */
    if (early) {
        read_item(cur, 0);
        cur.slot0 = 0, cur.par0 = 0;
        issue_q(cur, cur.qt0);
        if constexpr (PROD) publish(cur, true, 0);
        else issue_cur();
    }
    /* The small kernel may launch now: every persistent block is resident (it takes no SM from
     * them), and the previous run's reduction is over (the run's first kernel, classify_kernel or
     * this one, is an ordinary launch: it began after it), so it may write partials. (With the
     * producer warpgroup its warps' call above, at the block's start, came first.) */
    cudaTriggerProgrammaticLaunchCompletion();
    /* classify_kernel's list and counter are read only by a block whose first item is past
     * `first` or which has a second item (it takes a third from the counter): only such a block
     * waits for it, and only when the run has them at all (deft_gpu_listed; otherwise
     * classify_kernel was not launched, and this kernel, the run's first, an ordinary launch,
     * has nothing to wait for). A block of one item from `first` goes straight on to its pass (its
     * partials may be written: the previous run's reduction ended before the run's first kernel
     * began). Measured 2026-12-01, against waiting in every block: specstar 21.3 -> 20.5 us. */
    const bool listed = deft_gpu_listed(first.n, first.total, a.hkv, (int)gridDim.x);
    if (listed && (!early || second_item(1) < first.total * a.hkv)) {
        cudaGridDependencySynchronize(); /* the list of units is written, the counter zeroed */
        deft_trace(TR_LARGE_WAITED);
    }
    n_big = first.total, n_items = n_big * a.hkv; /* the host counted the units */
    if (!early) {
        if ((int)blockIdx.x >= n_items) { /* the whole block: no item for it */
            publish(cur, false, 0);
            deft_trace(TR_LARGE_END);
            return;
        }
        csync(); /* every thread has read next_item[0][0] */
        if (grabber) {
            g_w = (int)blockIdx.x;
            grab_chunk(g_w);
        }
        grab_publish(0);
        csync();
        read_item(cur, 0);
        cur.slot0 = 0, cur.par0 = 0;
        issue_q(cur, cur.qt0);
        if constexpr (PROD) publish(cur, true, 0);
        else issue_cur();
    }
    /* The next item (the block's second, second_item(1)), known now so that its loads overlap
     * this one's work: from `first`, or past it from the list (a chain of two dependent reads).
     * When the grid holds every item (the small trees: one item per block) there is none. (Until
     * 2026-12-01 a block whose first item was loaded early took its second one only at the
     * first one's end, so the second item's loads started without overlap: specdec's last
     * items, a second round on a few SMs, took ~3 us more each.) */
    bool has_next = false;
    int buf = 0;
    if (early2) { /* from `first` */
        has_next = read_item(nxt, 1);
    } else if (second_item(1) < n_items) { /* past `first`: from the list */
        csync(); /* every thread has read next_item[1][0] */
        if (grabber) {
            g_w = second_item(1);
            grab_chunk(g_w);
        }
        grab_publish(1);
        csync();
        has_next = read_item(nxt, 1);
    }
    publish(nxt, has_next, 1);
    int pk = 0; /* iq's entry for the block's next item */
    uint32_t qphase = 0;
#ifdef DEFT_GPU_TRACE
    unsigned long long item_t0 = deft_now(); /* the item log: the first item from here */
#endif
    [[maybe_unused]] int npass = 0; /* passes so far (the timeline build's stamps) */
    [[maybe_unused]] bool first_item = true;

    for (;;) {
        if (has_next) grab_start(listed); /* the item after next */
        int nxt_issued = 0;
        if (has_next) { /* the next item's first tiles go into the slots this one leaves free */
            const int s1 = cur.slot0 + cur.ntiles; /* its first tile's place in the stream */
            nxt.slot0 = s1 % nslot, nxt.par0 = cur.par0 ^ ((s1 / nslot) & 1);
            if constexpr (!PROD)
                while (nxt_issued < nxt.ntiles && cur.ntiles + nxt_issued < nslot) issue_tile(nxt, nxt_issued++);
        }
        const int g = cur.g, nrows = cur.nrows, ps = cur.ps;

        const int qt_end = cur.qt0 + cur.nqt;
        for (int qt = cur.qt0; qt < qt_end; qt++) {
            DEFT_PASS_STAMP(npass, 0);
            /* the next query tile's indices, read now: their latency overlaps this tile's own reads */
            const int qnext = qt + 1 < qt_end ? 1 : has_next ? 2 : 0; /* of cur, of nxt, none */
            qrows qn;
            if (QREGS && qnext == 1) q_index(cur, qt + 1, qn);
            else if (QREGS && qnext == 2) q_index(nxt, nxt.qt0, qn);
            /* Split: an item of one query tile with M < 8 row tiles of 16 gives its spare warps
             * token tiles: warp w takes row tile w / K and tiles t with t % K == w % K, and the K
             * partial states of a row tile are merged in shared memory (fixed order) at the end.
             * K depends on the item alone, so the bits do not depend on the schedule. */
            /* With wgmma the unit is a warpgroup (4 warps, 64 rows): an item of at most 64 rows
             * splits its tiles between the two warpgroups (K = 2, warp w taking row tile w % 4),
             * and a warpgroup runs a tile when any of its 64 rows sees it. */
            const int M = min(NWARPS, (nrows - qt * QROWS + 15) / 16);
            int K = 1;
            const bool resident = cur.ntiles <= nslot; /* a split lands all tiles first */
            if (WG) {
                if (cur.nqt == 1 && NSCR >= 4 && NWARPS == 8 && M <= 4 && cur.ntiles >= 2 && resident) K = 2;
            } else if (cur.nqt == 1 && NSCR > 0 && resident) {
                K = min(cur.ntiles, NWARPS / M);
                while (K > 1 && M * (K - 1) > NSCR) K--;
            }
            const int mi = WG ? (K == 2 ? warp & 3 : warp) : warp / K;
            const int kpart = WG ? (K == 2 ? warp >> 2 : 0) : warp % K;
            const int r0 = qt * QROWS + mi * 16;
            const bool active = mi < M;
            const bool gactive = WG ? (K == 2 || (warp & ~3) < M) : active; /* this warp computes */
            const int rowA = r0 + (lane >> 2), rowB = rowA + 8;
            const int visA = rowA < nrows ? __ldg(a.pair_visible + ps + rowA / G) : 0;
            const int visB = rowB < nrows ? __ldg(a.pair_visible + ps + rowB / G) : 0;
            /* the rows a tile must serve (the warp's, or with wgmma its warpgroup's 64) */
            int uX = visA, uY = visB, nX = rowA < nrows ? visA : INT32_MAX, nY = rowB < nrows ? visB : INT32_MAX;
            if (WG) {
                const int rX = qt * QROWS + (K == 2 ? 0 : (warp >> 2) * 64) + lane, rY = rX + 32;
                uX = rX < nrows ? __ldg(a.pair_visible + ps + rX / G) : 0;
                uY = rY < nrows ? __ldg(a.pair_visible + ps + rY / G) : 0;
                nX = rX < nrows ? uX : INT32_MAX, nY = rY < nrows ? uY : INT32_MAX;
            }
            /* V's non-finite values must be zeroed only where some row of the item does not see
             * them (a row that reads one is unspecified anyway): on the first pass, any pair of the
             * item that sees less than the whole chunk makes its tiles scanned as they land */
            int dirty = 0;
            if (QREGS && qt == cur.qt0) {
                const int rhi = min(nrows, qt_end * QROWS);
                for (int p = qt * QROWS / G + tid; p <= (rhi - 1) / G; p += NTHREADS)
                    dirty |= __ldg(a.pair_visible + ps + p) < cur.len;
            }
            mbar_wait(qbar, qphase & 1); /* query tile qt has landed */
            qphase++;
            const int wvis = __reduce_max_sync(0xffffffffu, max(uX, uY)); /* tokens any row sees */
            const int wmin = __reduce_min_sync(0xffffffffu, min(nX, nY));
            DEFT_PASS_STAMP(npass, 1);
            const uint32_t qrow_addr = smem_addr(qs + (mi * 16 + (lane & 15)) * S + (lane >> 4) * 8);

            uint32_t qf[QREGS ? KD : 1][4];
            int scan = 1; /* scan the tiles of this item as they land (QREGS: only when dirty) */
            if (QREGS) {
                if (gactive) {
#pragma unroll
                    for (int kk = 0; kk < (QREGS ? KD : 1); kk++) ldsm_x4(qrow_addr + kk * 32, qf[kk]);
                    /* wgmma path: the softmax takes unscaled scores and a positive scale (one
                     * FFMA per score instead of a product and a difference); for a negative
                     * scale, -Q (exact) turns S and the scale both around */
                    if (WG && scale2 < 0.0f)
#pragma unroll
                        for (int kk = 0; kk < (QREGS ? KD : 1); kk++)
#pragma unroll
                            for (int x = 0; x < 4; x++) qf[kk][x] ^= 0x80008000u;
                }
                scan = csync_or(dirty); /* Q lives in registers now: fetch the next query tile behind it */
                if (qnext == 1) q_copy(cur, qn);
                else if (qnext == 2) q_copy(nxt, qn);
            }
            DEFT_PASS_STAMP(npass, 2);

            float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
            bool fresh = true; /* no tile computed yet in this pass */
            float o[ND][4];
#pragma unroll
            for (int j = 0; j < ND; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;

            /* first pass: wait for a tile, zero its non-finite V values, publish it; one tile at a
             * time (compute overlaps the later tiles' arrival) unless the item is split */
            /* whether tile t runs past the chunk's end */
            auto tail = [&](int t) { return (t + 1) * TK > cur.len; };
            /* tile t lives in ring slot (slot0 + t) % nslot, whose barrier is in phase
             * par0 ^ ((slot0 + t) / nslot) % 2 (a streamed chunk wraps the ring several times):
             * the callers keep slot and phase as they go (a division per tile was ~7% of wide's
             * stall samples, on the path from one tile to the next). Landing writes to the tile
             * (touched, block-uniform) when it runs past the chunk's end or the item's tiles are
             * scanned: only then must the block wait for every thread's writes; else with the
             * tensor copies each thread's own wait on the slot's barrier makes the tile visible
             * to it. */
            auto land = [&](int slot, uint32_t phase, int t, bool touched) {
                mbar_wait(smem_addr(&bars[slot]), phase);
                if (touched) { /* block-uniform */
                    T *vslot = ring + (size_t)slot * 2 * TK * S + TK * S;
                    if (WG && tail(t)) /* rows past the chunk's end: V = 0 (P is 0 there) */
                        for (int i = tid; i < TK * CPR; i += NTHREADS) /* 16-byte piece i is in row (i / 8) % TK */
                            if ((i >> 3) % TK >= cur.len - t * TK) *reinterpret_cast<uint4 *>(vslot + i * 8) = make_uint4(0, 0, 0, 0);
                    if (scan)
                        for (int i = tid; i < TK * CPR; i += NTHREADS) /* either layout: V is TK * D elements */
                            zero_nonfinite<T>(reinterpret_cast<uint4 *>(vslot + i * 8));
                    /* the tile, written by the copies and the scan, is read next by the tensor
                     * cores (the async proxy); the barrier after land orders it for the others */
                    if constexpr (WG) asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
                }
            };
            if (qt == cur.qt0 && K > 1) { /* resident: cur.ntiles <= nslot, so one wrap at most */
                for (int t = 0, sl = cur.slot0; t < cur.ntiles; t++, sl = sl + 1 == nslot ? 0 : sl + 1)
                    land(sl, (uint32_t)cur.par0 ^ (cur.slot0 + t >= nslot), t, scan || tail(t));
                csync();
            }
            /* The warpgroup's step over tile t (NS = 1) or tiles t and t + 1 (NS = 2, K/V in two
             * ring slots): S = Q K^T (64 rows x 64 NS tokens, 8 MMAs of k16 a tile), the online
             * softmax, O += P V (4 MMAs of k16 a tile, N = D), waiting for each. Every wgmma is
             * issued and waited for in this one block: ptxas serializes them when a group stays in
             * flight across the warp's branches, as a softmax overlapped with the previous step's
             * P V would need (gpu/NOTES.md). */
            [[maybe_unused]] auto wg_step = [&](auto two_tag, int t, const T *kslot, const T *vslot, const T *kslot2,
                                                const T *vslot2) {
                constexpr int NS = decltype(two_tag)::value ? 2 : 1;
                float s[NS * NT][4];
                uint32_t pa[NS * TK / 16][4];
                /* 128-byte swizzle (issue_tile): K-major K, 8-token groups 1024 bytes apart
                 * (SBO); a k16 step is 32 bytes into a 64-column box, boxes TK * 128 apart */
                const uint64_t kd = wg_desc_sw128(smem_addr(kslot), 16, 1024);
                const uint64_t kd2 = wg_desc_sw128(smem_addr(kslot2), 16, 1024);
                float (&s0)[NT][4] = *reinterpret_cast<float (*)[NT][4]>(&s[0]);
                float (&s1)[NT][4] = *reinterpret_cast<float (*)[NT][4]>(&s[NS - 1 ? NT : 0]);
                DEFT_TILE_STAMP(t, 0);
                wg_fence();
#pragma unroll
                for (int kk = 0; kk < KD; kk++) /* + 2 core matrices along D per step */
                    wg_qk<T>(s0, qf[QREGS ? kk : 0], wg_desc_add(kd, (kk >> 2) * TK * 8 + (kk & 3) * 2), kk > 0);
                if constexpr (NS == 2)
#pragma unroll
                    for (int kk = 0; kk < KD; kk++)
                        wg_qk<T>(s1, qf[QREGS ? kk : 0], wg_desc_add(kd2, (kk >> 2) * TK * 8 + (kk & 3) * 2), kk > 0);
                wg_commit();
                wg_wait<0>();
                reg_fence(s);
                online_softmax<NS * NT, ND, true>(s, o, m, l, rscale, (t + NS) * TK <= wmin, fresh,
                                                  t * TK + 2 * (lane & 3), visA, visB);
                fresh = false;
                DEFT_TILE_STAMP(t, 1);
#pragma unroll
                for (int kt = 0; kt < NS * TK / 16; kt++) {
                    pa[kt][0] = ops<T>::pack(s[2 * kt][0], s[2 * kt][1]);
                    pa[kt][1] = ops<T>::pack(s[2 * kt][2], s[2 * kt][3]);
                    pa[kt][2] = ops<T>::pack(s[2 * kt + 1][0], s[2 * kt + 1][1]);
                    pa[kt][3] = ops<T>::pack(s[2 * kt + 1][2], s[2 * kt + 1][3]);
                }
                /* V read transposed (MN-major): 64-column boxes TK * 128 bytes apart (LBO),
                 * 8-token groups 1024 bytes apart (SBO); a k16 step is 2048 bytes */
                const uint64_t vd = wg_desc_sw128(smem_addr(vslot), TK * 128, 1024);
                const uint64_t vd2 = wg_desc_sw128(smem_addr(vslot2), TK * 128, 1024);
                wg_fence();
#pragma unroll
                for (int kt = 0; kt < NS * TK / 16; kt++) /* + 2 token groups per step */
                    wg_pv<T>(o, pa[kt], wg_desc_add(kt < TK / 16 ? vd : vd2, (kt % (TK / 16)) * 128));
                wg_commit();
                wg_wait<0>();
                reg_fence(o);
                reg_fence(pa);
                DEFT_TILE_STAMP(t, 2);
            };
            const bool pairs = STEP2 && DEFT_GPU_STEPS(cur.ntiles, nslot, nrows, a.step_min);
            int slot = cur.slot0, tk = 0;     /* (slot0 + t) % nslot */
            uint32_t phase = (uint32_t)cur.par0; /* its barrier's phase */
            for (int t = 0; t < cur.ntiles; t++) {
                const T *kslot = ring + (size_t)slot * 2 * TK * S, *vslot = kslot + TK * S;
                /* STEP2 (wgmma), K = 1, a chunk DEFT_GPU_STEPS picks (streamed, long, more than 4
                 * query tiles of rows): tiles t and t + 1 as one step of 128 tokens when both
                 * exist (block-uniform): one softmax of twice the independent work per thread, the
                 * step's fixed costs (MMA latency, row maxima, the path between steps) paid once.
                 * Such a chunk streams once per query tile, through as many units at about the
                 * same time, all but one reading it from L2: their tiles land fast and the steps
                 * are compute-bound (gpu/gpu_geom.h says where they are not). */
                const bool two = pairs && K == 1 && t + 1 < cur.ntiles;
                const int slot2 = slot + 1 == nslot ? 0 : slot + 1;
                const uint32_t phase2 = slot + 1 == nslot ? phase ^ 1 : phase;
                const T *kslot2 = ring + (size_t)slot2 * 2 * TK * S, *vslot2 = kslot2 + TK * S;
                if (qt == cur.qt0 && K == 1) {
                    DEFT_TILE_STAMP(t, 3);
                    const bool touched = scan || tail(t);
                    land(slot, phase, t, touched);
                    if constexpr (WG) {
                        const bool touched2 = two && (scan || tail(t + 1));
                        if (two) land(slot2, phase2, t + 1, touched2);
                        if (touched || touched2) csync();
                    } else {
                        csync();
                    }
                    DEFT_TILE_STAMP(t, 4);
                }
                if (gactive && tk == kpart && t * TK < wvis) {
                    if constexpr (WG) {
                        if (two && (t + 1) * TK < wvis) wg_step(std::true_type{}, t, kslot, vslot, kslot2, vslot2);
                        else wg_step(std::false_type{}, t, kslot, vslot, kslot, vslot);
                    } else {
                        /* ldmatrix rows in the canonical layout: lane's 8-row matrix is core matrix
                         * (token group, d group) of the 16 x 16 block (np or kt, kk or np) */
                        const uint32_t krow_addr =
                            smem_addr(kslot + (lane >> 4) * 8 * D + ((lane >> 3) & 1) * 64 + (lane & 7) * 8);
                        const uint32_t vrow_addr =
                            smem_addr(vslot + ((lane >> 3) & 1) * 8 * D + (lane >> 4) * 64 + (lane & 7) * 8);
                        /* One tile: S = Q K^T (16 rows x TK tokens), the online softmax, O += P V with P
                         * rounded to T. A tile every row of the warp sees whole (FULL) runs straight-line
                         * code with no mask and no bounds, so the compiler can issue the ldmatrix loads
                         * ahead of the mma that use them; otherwise only the 16-token steps some row sees
                         * are computed, and the softmax masks by selection. */
                        auto tile = [&](auto full_tag) {
                            constexpr bool FULL = decltype(full_tag)::value;
                            const int lim = FULL ? TK : wvis - t * TK; /* tokens worth computing */
                            float s[NT][4];
#pragma unroll
                            for (int j = 0; j < NT; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
                            for (int kk = 0; kk < KD; kk++) {
                                uint32_t af[4];
                                if (QREGS) {
                                    af[0] = qf[QREGS ? kk : 0][0], af[1] = qf[QREGS ? kk : 0][1];
                                    af[2] = qf[QREGS ? kk : 0][2], af[3] = qf[QREGS ? kk : 0][3];
                                } else {
                                    ldsm_x4(qrow_addr + kk * 32, af);
                                }
#pragma unroll
                                for (int np = 0; np < TK / 16; np++) {
                                    if (!FULL && np * 16 >= lim) break;
                                    uint32_t b[4];
                                    ldsm_x4(krow_addr + (np * 16 * D + kk * 128) * 2, b);
                                    ops<T>::mma(s[2 * np], af, b[0], b[1]);
                                    ops<T>::mma(s[2 * np + 1], af, b[2], b[3]);
                                }
                            }
                            online_softmax<NT, ND>(s, o, m, l, scale2, FULL, fresh, t * TK + 2 * (lane & 3), visA, visB);
                            fresh = false;
#pragma unroll
                            for (int kt = 0; kt < TK / 16; kt++) {
                                if (!FULL && kt * 16 >= lim) break;
                                uint32_t pa[4];
                                pa[0] = ops<T>::pack(s[2 * kt][0], s[2 * kt][1]);
                                pa[1] = ops<T>::pack(s[2 * kt][2], s[2 * kt][3]);
                                pa[2] = ops<T>::pack(s[2 * kt + 1][0], s[2 * kt + 1][1]);
                                pa[3] = ops<T>::pack(s[2 * kt + 1][2], s[2 * kt + 1][3]);
#pragma unroll
                                for (int np = 0; np < D / 16; np++) {
                                    uint32_t b[4];
                                    ldsm_x4_trans(vrow_addr + (kt * 16 * D + np * 128) * 2, b);
                                    ops<T>::mma(o[2 * np], pa, b[0], b[1]);
                                    ops<T>::mma(o[2 * np + 1], pa, b[2], b[3]);
                                }
                            }
                        };
                        if ((t + 1) * TK <= wmin) tile(std::true_type{});
                        else tile(std::false_type{});
                    }
                }
                /* last use of this slot: refill it with stream tile t + nslot (this item's own
                 * when streamed, else the next item's). Only Q in registers (D <= 128) streams:
                 * at D = 256 the extra copy site makes ptxas spill, and its ring holds 128 tokens
                 * anyway (deft_gpu_max_chunk_tokens keeps its chunks resident). */
                if constexpr (PROD) { /* the producer refills it (this thread is done with it) */
                    if (K == 1 && qt == qt_end - 1) {
                        mbar_arrive(smem_addr(&ebars[slot]));
                        if (two) mbar_arrive(smem_addr(&ebars[slot2]));
                    }
                } else {
                    const bool own = QREGS && t + nslot < cur.ntiles;
                    if (K == 1 && qt == qt_end - 1 && (own || (has_next && nxt_issued < nxt.ntiles))) {
                        csync();
                        if (own) issue_tile(cur, t + nslot);
                        else issue_tile(nxt, nxt_issued++);
                    }
                }
                if (++slot == nslot) slot = 0, phase ^= 1;
                if (two) {
                    if (++slot == nslot) slot = 0, phase ^= 1;
                    t++;
                }
                if (++tk == K) tk = 0;
            }

            DEFT_PASS_STAMP(npass, 3);
            if (K > 1) { /* merge: the warps of parts 1..K-1 hand their state to part 0's warp */
                float *st = scratch + (size_t)(mi * (K - 1) + kpart - 1) * STATE * 32 + lane;
                if (active && kpart > 0) state_put<ND>(st, m, l, o);
                csync();
                /* every warp is done with this item's tiles: refill their slots */
                if (PROD)
                    for (int t = 0, sl = cur.slot0; t < cur.ntiles; t++, sl = sl + 1 == nslot ? 0 : sl + 1)
                        mbar_arrive(smem_addr(&ebars[sl]));
                else
                    while (has_next && nxt_issued < nxt.ntiles && nxt_issued < nslot) issue_tile(nxt, nxt_issued++);
                if (active && kpart == 0)
                    for (int k = 1; k < K; k++)
                        state_merge<ND>(scratch + (size_t)(mi * (K - 1) + k - 1) * STATE * 32 + lane, m, l, o);
            }

            /* the query tile's partials: O / l and LSE = ln 2 * (m + log2 l) */
/* DEFT_GPU_NO_PARTIALS: a measurement build, the partials' stores left out (wrong results). The
 * test is one the compiler cannot decide (nrows >= 0 always), so the tiles' work stays: a constant
 * false would let it drop the MMAs that only the stores use. */
#ifdef DEFT_GPU_NO_PARTIALS
            if (active && kpart == 0 && nrows < 0) {
#else
            if (active && kpart == 0) {
#endif
                put_partials<D>(a, ps, g, G, nrows, rowA, rowB, m, l, o);
            }
            DEFT_PASS_STAMP(npass, 4);
            npass++;
            if (!QREGS) { /* every warp is done with qs: load the next query tile */
                csync();
                if (qnext == 1) issue_q(cur, qt + 1);
                else if (qnext == 2) issue_q(nxt, nxt.qt0);
            }
        }
        if (first_item) deft_trace(TR_LARGE_FIRST), first_item = false;
#ifdef DEFT_GPU_TRACE
        if (tid == 0) deft_trace_item(0, item_t0, cur.ntiles * cur.nqt, cur.nrows);
        item_t0 = deft_now();
#endif
        if (!has_next) break;
        grab_publish(buf);
        csync(); /* next_item[buf] is published; everyone is done with this item */
        cur = nxt;
        has_next = read_item(nxt, buf);
        buf ^= 1;
        publish(nxt, has_next, pk);
        pk ^= 1;
    }
    deft_trace(TR_LARGE_END);
}

/* ---- scheduling: the units of the large chunks ----
 * One block lists, in plan order, the units (a.qpu query tiles each) of the chunks that are not
 * DEFT_GPU_IS_SMALL (they go to the persistent kernel above; the others to small_kernel),
 * and zeroes the work counter. */
__global__ void __launch_bounds__(1024) classify_kernel(const deft_gpu_args a)
{
    __shared__ int warp_base[33];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    deft_trace(TR_CLASSIFY_START);
    /* the persistent blocks may launch now: their first items' loads need nothing from here */
    cudaTriggerProgrammaticLaunchCompletion();
    int base = 0;
    for (int c0 = 0; c0 < a.n_chunks; c0 += 1024) {
        const int c = c0 + tid, u = c < a.n_chunks ? chunk_units(a, c) : 0;
        int incl = u; /* inclusive scan over the warp, then over the warps' totals */
        for (int d = 1; d < 32; d <<= 1) {
            const int y = __shfl_up_sync(0xffffffffu, incl, d);
            if (lane >= d) incl += y;
        }
        if (lane == 31) warp_base[warp] = incl;
        __syncthreads();
        if (warp == 0) { /* exclusive scan of the 32 warp totals; the total in [32] */
            const int v = warp_base[lane];
            int x = v;
            for (int d = 1; d < 32; d <<= 1) {
                const int y = __shfl_up_sync(0xffffffffu, x, d);
                if (lane >= d) x += y;
            }
            warp_base[lane] = x - v;
            if (lane == 31) warp_base[32] = x;
        }
        __syncthreads();
        int2 *dst = a.units + base + warp_base[warp] + incl - u;
        for (int j = 0; j < u; j++) dst[j] = make_int2(c, j);
        base += warp_base[32];
        __syncthreads();
    }
    if (tid == 0) a.counter[0] = 0; /* (base, the units' count, is first.total: the host counts them too) */
    deft_trace(TR_CLASSIFY_END);
}

/* ---- the small kernel ----
 * Items of at most 16 rows (one mma row tile: decode leaves, a few queries of a node), and items
 * of at most 4 row tiles whose chunk is one 16-token tile (DEFT_GPU_IS_SMALL: one-token draft
 * nodes of speculative decoding with a few queries below), are many and light: here a block of 4
 * warps takes one, or up to four of one row tile (below). Each warp streams its tiles through its
 * own two-slot cp.async double buffer (no block-wide barrier while streaming). Small blocks fit
 * three to an SM, so their latencies overlap. Q fragments are read straight from global memory.
 * Same masking and V cleaning as the large kernel. The split depends on the item and the shape
 * alone, so the bits do not depend on the schedule. */
template <int D, typename T>
__global__ void __launch_bounds__(128) small_kernel(const deft_gpu_args a)
{
    constexpr int S = D + PAD, CPR = D / 8, KD = D / 16, ND = D / 8, TS = DEFT_GPU_SMALL_TILE;
    constexpr int SLOT = 2 * TS * S; /* elements: K rows, then V rows */
    constexpr int STATE = 4 + 4 * ND;
    extern __shared__ __align__(1024) unsigned char smem[];
    T *ring = reinterpret_cast<T *>(smem);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int c = blockIdx.x / a.hkv, g0 = blockIdx.x % a.hkv, G = a.group;
    /* the chunk's four words in one trip to memory (kv0 read after the test below was a second
     * dependent trip, ~0.5 us on every small item's chain) */
    const int ps = __ldg(a.pair_start + c), pe = __ldg(a.pair_start + c + 1), len = __ldg(a.chunk_len + c);
    const int kv0 = __ldg(a.chunk_kv_row + c), nrows = (pe - ps) * G, nt = (len + TS - 1) / TS;
    deft_trace(TR_SMALL_START);
#ifdef DEFT_GPU_TRACE
    const unsigned long long item_t0 = deft_now();
#endif
    /* No wait at the start: this kernel launches once every persistent block has started (the
     * previous run's reduction ended before the run's first kernel began), writes only the partials of
     * small items, and runs on the SMs the persistent kernel leaves free, beside it.
     * Block 0 alone waits for the persistent kernel's end before it exits, so this kernel ends
     * after it and the reduction, which waits for this kernel, sees every partial. */
    /* A block of one row tile's items takes P = 4 / W of them, KV heads g0 .. g0 + P - 1 of its
     * chunk, W = a.small_w warps each (deft_gpu_small_warps: one warp per item runs the most
     * items at once, each paying its fixed chain of dependent reads, ~4 us under load, beside
     * the others; more warps per item shorten its chain of tiles when the small items bound the
     * run); the blocks of heads g0 % P != 0 have nothing to do. The W warps of an item split its
     * tokens, warp w taking the 16-token tiles t with t % W == w % W, and their states are merged
     * in shared memory in warp order; one row tile over one token tile (`solo`) is its first
     * warp's alone, with no merge (the others' states would be empty). An item of M > 1 row
     * tiles is the block's alone (P = 1): warp w has row tile w and all the tokens, and a warp
     * past the last row tile has nothing to do (warp 0 always has a row tile: block 0's wait
     * below stays). P and W depend on the plan and the shape alone, so the bits do not depend on
     * the schedule. */
    const int M = (nrows + 15) >> 4;
    const int lw = M > 1 || a.small_w == 4 ? 2 : a.small_w == 2 ? 1 : 0; /* log2 W (shifts) */
    const int W = 1 << lw, P = 4 >> lw;
    const int sub = warp & (W - 1), g = g0 + (warp >> lw); /* place in the item; the item's head */
    const int tstep = M == 1 ? W : 1, rt = M == 1 ? 0 : warp;
    const bool solo = M == 1 && nt == 1;
    if (!DEFT_GPU_IS_SMALL(nrows, len) || (g0 & (P - 1)) || rt >= M || (solo && sub > 0)) {
        if (blockIdx.x == 0) cudaTriggerProgrammaticLaunchCompletion(), cudaGridDependencySynchronize();
        deft_trace(TR_SMALL_END);
        return;
    }
    const T *K = static_cast<const T *>(a.k), *V = static_cast<const T *>(a.v);
    const float scale2 = a.scale * LOG2E;
    T *mine = ring + (size_t)warp * 2 * SLOT;

    /* tile t into slot (0 or 1) of this warp; an empty group past the end keeps the count. Lane
     * moves piece lane % CPR of rows lane / CPR + SSTEP k (addresses kept incrementally). */
    constexpr int SSTEP = 32 / CPR;
    const int lr0 = lane / CPR, lpiece = lane % CPR;
    const size_t lrstride = (size_t)SSTEP * a.hkv * D;
    /* A small item's K/V is read once (its chunk has one item per KV head): marked to leave L2
     * first, it no longer pushes out what is read again, the partials the reduction reads and
     * the K/V that a large chunk's units share (2026-12-01: fewshot50 45.9 -> 44.0 us, tot 91.9
     * -> 90.0, wide 387.9 -> 384.4, levels:1,256_256,32 37.4 -> 34.0; the others within 0.2) */
    const uint64_t once = policy_evict_first();
    auto issue = [&](int t, int slot) {
        if (t < nt) {
            const uint32_t kd = smem_addr(mine + slot * SLOT + lr0 * S + lpiece * 8);
            const uint32_t vd = kd + TS * S * (int)sizeof(T);
            const int tok0 = t * TS + lr0;
            const size_t off0 = ((size_t)(kv0 + tok0) * a.hkv + g) * D + lpiece * 8;
#pragma unroll
            for (int k = 0; k < TS / SSTEP; k++) {
                const bool in = tok0 + k * SSTEP < len;
                const size_t off = in ? off0 + k * lrstride : 0;
                cp_async16_hint(kd + k * SSTEP * S * (int)sizeof(T), K + off, in ? 16 : 0, once);
                cp_async16_hint(vd + k * SSTEP * S * (int)sizeof(T), V + off, in ? 16 : 0, once);
            }
        }
        asm volatile("cp.async.commit_group;\n" ::: "memory");
    };
    const int tfirst = M == 1 ? sub : 0;
    issue(tfirst, 0);
    issue(tfirst + tstep, 1);

    /* the 16 rows of row tile rt: lane holds rows 16 rt + lane / 4 and + 8; Q fragments from
     * global memory */
    const int rowA = 16 * rt + (lane >> 2), rowB = rowA + 8;
    const int visA = rowA < nrows ? __ldg(a.pair_visible + ps + rowA / G) : 0;
    const int visB = rowB < nrows ? __ldg(a.pair_visible + ps + rowB / G) : 0;
    const int wvis = __reduce_max_sync(0xffffffffu, max(visA, visB));
    const int wmin = __reduce_min_sync(0xffffffffu, min(rowA < nrows ? visA : INT32_MAX,
                                                        rowB < nrows ? visB : INT32_MAX));
    uint32_t qf[KD][4];
    {
        const uint32_t *qa = NULL, *qb = NULL;
        if (rowA < nrows)
            qa = reinterpret_cast<const uint32_t *>(static_cast<const T *>(a.q) +
                 ((size_t)__ldg(a.pair_query + ps + rowA / G) * a.hq + g * G + rowA % G) * D);
        if (rowB < nrows)
            qb = reinterpret_cast<const uint32_t *>(static_cast<const T *>(a.q) +
                 ((size_t)__ldg(a.pair_query + ps + rowB / G) * a.hq + g * G + rowB % G) * D);
        const int col = lane & 3; /* 32-bit word: elements 2 col, 2 col + 1 of each 8 */
#pragma unroll
        for (int kk = 0; kk < KD; kk++) {
            qf[kk][0] = qa ? __ldg(qa + kk * 8 + col) : 0u;
            qf[kk][1] = qb ? __ldg(qb + kk * 8 + col) : 0u;
            qf[kk][2] = qa ? __ldg(qa + kk * 8 + 4 + col) : 0u;
            qf[kk][3] = qb ? __ldg(qb + kk * 8 + 4 + col) : 0u;
        }
    }

    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    bool fresh = true; /* no tile computed yet by this warp */
    float o[ND][4];
#pragma unroll
    for (int j = 0; j < ND; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;

    for (int i = 0, t = tfirst; t < nt; i++, t += tstep) {
        const int slot = i & 1;
        const T *kslot = mine + slot * SLOT, *vslot = kslot + TS * S;
        asm volatile("cp.async.wait_group 1;\n" ::: "memory"); /* tile t is here (t + 4 may not be) */
        if (wmin < len) /* some row does not see every token: clean V (else a row that reads a
                           non-finite value is unspecified anyway, and decode leaves skip this) */
            for (int x = lane; x < TS * CPR; x += 32)
                zero_nonfinite<T>(reinterpret_cast<uint4 *>(const_cast<T *>(vslot) + (x / CPR) * S + (x % CPR) * 8));
        __syncwarp();
        if (t * TS < wvis) {
            float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
            const uint32_t krow = smem_addr(kslot + ((lane & 7) + ((lane >> 4) << 3)) * S + ((lane >> 3) & 1) * 8);
#pragma unroll
            for (int kk = 0; kk < KD; kk++) {
                uint32_t b[4];
                ldsm_x4(krow + kk * 32, b);
                ops<T>::mma(s[0], qf[kk], b[0], b[1]);
                ops<T>::mma(s[1], qf[kk], b[2], b[3]);
            }
            online_softmax<2, ND>(s, o, m, l, scale2, (t + 1) * TS <= wmin, fresh, t * TS + 2 * (lane & 3), visA, visB);
            fresh = false;
            uint32_t pa[4];
            pa[0] = ops<T>::pack(s[0][0], s[0][1]);
            pa[1] = ops<T>::pack(s[0][2], s[0][3]);
            pa[2] = ops<T>::pack(s[1][0], s[1][1]);
            pa[3] = ops<T>::pack(s[1][2], s[1][3]);
            const uint32_t vrow = smem_addr(vslot + ((lane & 7) + ((lane >> 3) & 1) * 8) * S + (lane >> 4) * 8);
#pragma unroll
            for (int np = 0; np < D / 16; np++) {
                uint32_t b[4];
                ldsm_x4_trans(vrow + np * 32, b);
                ops<T>::mma(o[2 * np], pa, b[0], b[1]);
                ops<T>::mma(o[2 * np + 1], pa, b[2], b[3]);
            }
        }
        __syncwarp(); /* the slot is read: refill it */
        issue(t + 2 * tstep, slot);
    }
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");

    if (M == 1 && W > 1 && !solo) { /* block-uniform: merge each item's W warps' states (warp
                                       order) in shared memory the tiles no longer need */
        __syncthreads();
        float *scratch = reinterpret_cast<float *>(smem) + (size_t)(warp >> lw) * (W - 1) * STATE * 32 + lane;
        if (sub > 0) state_put<ND>(scratch + (size_t)(sub - 1) * STATE * 32, m, l, o);
        __syncthreads();
        if (sub > 0) return;
        for (int k = 1; k < W; k++) state_merge<ND>(scratch + (size_t)(k - 1) * STATE * 32, m, l, o);
    }
    put_partials<D>(a, ps, g, G, nrows, rowA, rowB, m, l, o);
    deft_trace(TR_SMALL_DONE);
    if (lane == 0 && sub == 0 && rt == 0) deft_trace_item(1, item_t0, nt, nrows);
    /* Block 0 ends after the large kernel (see above). Its trigger lets the reduction launch once
     * every other small block has exited: its blocks then wait on the SMs the small items left,
     * not behind this kernel's end (~1 us of launch on the small trees) */
    if (blockIdx.x == 0) cudaTriggerProgrammaticLaunchCompletion(), cudaGridDependencySynchronize();
    deft_trace(TR_SMALL_END);
}

/* PDL launch: the kernel may start while the previous one finishes, and waits for it in
 * cudaGridDependencySynchronize */
template <typename... KArgs, typename... Args>
cudaError_t launch_pdl(void (*kernel)(KArgs...), unsigned grid, unsigned block, size_t smem,
                       cudaStream_t stream, bool pdl, const Args &...args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(grid);
    cfg.blockDim = dim3(block);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1] = {};
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, args...);
}

/* Blocks of the partial kernel: `want` (deft_gpu_persistent_blocks: at most one per SM), or one
 * per work item of the upper bound n_items when the environment sets DEFT_GPU_GRID=items (the
 * unscheduled layout, kept for measurement); DEFT_GPU_PGRID=N (for measurement) caps `want`. */
int grid_blocks(int n_items, int want)
{
    static int per_item = -1;
    if (per_item < 0) {
        const char *env = getenv("DEFT_GPU_GRID");
        per_item = env && !strcmp(env, "items");
    }
    if (per_item) return n_items;
    const char *cap = getenv("DEFT_GPU_PGRID");
    if (cap && *cap && atoi(cap) > 0 && atoi(cap) < want) want = atoi(cap);
    return want;
}

/* DEFT_GPU_FIRST=N (testing): at most N first units from the host, so blocks past them read their
 * first item from classify_kernel's list after the wait (the path of the blocks past
 * DEFT_GPU_FIRST_MAX units on a GPU of more SMs); -1 when unset. Read at every run (a few
 * hundred ns), so a test can change it between runs. */
int forced_first(void)
{
    const char *env = getenv("DEFT_GPU_FIRST");
    return env && *env ? atoi(env) : -1;
}

/* the persistent kernel's blocks for a run: grid_blocks of an upper bound of the large items and
 * of the host's choice */
int persistent_grid(const deft_gpu_args *a, const deft_plan *plan, const deft_shape *s)
{
    return grid_blocks((int)((unsigned)a->unit_cap * (unsigned)a->hkv),
                       deft_gpu_persistent_blocks(plan, s, a->qpu, deft_gpu_sm_count()));
}

/* Kernel parameters live in a 4 KiB space: the persistent kernel's are the argument block, the
 * two tensor maps (64-byte aligned) and the first units, in the larger of its two instances. The
 * host's deft_gpu_first fills either (launch_persistent copies its n units). */
static_assert(sizeof(deft_gpu_args) + 64 + 2 * sizeof(CUtensorMap) + sizeof(first_units<DEFT_GPU_FIRST_MAX>) <= 4096,
              "the persistent kernel's parameters fit the 4 KiB parameter space");
static_assert(DEFT_GPU_FIRST_FEW <= DEFT_GPU_FIRST_MAX, "the small instance's units are a prefix of the host's");

/* DEFT_GPU_QPU=N (measurement, and test_gpu's few_blocks()): query tiles per unit N instead of
 * the model's choice, where N is one of the candidates that fit (0: one unit per chunk); -1 when
 * unset. Read at every run, so a test can change it between runs. */
int forced_qpu(void)
{
    const char *env = getenv("DEFT_GPU_QPU");
    return env && *env ? atoi(env) : -1;
}

/* DEFT_GPU_SMALL_W=N (for measurement): N warps per small item of one row tile (1, 2 or 4) when
 * 4 / N divides hkv, instead of deft_gpu_small_warps' rule; read at every run. */
int forced_small_w(void)
{
    const char *env = getenv("DEFT_GPU_SMALL_W");
    return env && *env ? atoi(env) : 0;
}

/* DEFT_GPU_FIRST_FEW=0 (measurement, and test_gpu's first_params()): never the persistent
 * kernel's instance with the small parameter (DEFT_GPU_FIRST_FEW units), so both instances run
 * on the same case; read at every run. */
int forced_many(void)
{
    const char *env = getenv("DEFT_GPU_FIRST_FEW");
    return env && *env && atoi(env) == 0;
}

/* DEFT_GPU_STEP=N (measurement, and test_gpu's steps()): steps of two tiles on streamed chunks of
 * at least N tiles (DEFT_GPU_STEPS; 0: none) instead of DEFT_GPU_STEP_MIN; -1 when unset. Read at
 * every run, so a test can change it between runs. */
int forced_step(void)
{
    const char *env = getenv("DEFT_GPU_STEP");
    return env && *env ? atoi(env) : -1;
}

/* The partial launches: list the large chunks, the persistent kernel on them, the small kernel
 * on the rest. The run's first kernel is an ordinary launch (it waits for whatever the stream ran
 * before). classify_kernel runs only when the run needs its list or its counter
 * (deft_gpu_listed: more items than the blocks' first and second, or units past `first`); the
 * persistent kernel then starts its first items' loads while it runs and waits for it before
 * taking more; without it (the small trees, wide) the persistent kernel is the first kernel,
 * ~0.8 us earlier. The small kernel runs beside the persistent kernel on the SMs it leaves free
 * and ends after it (its block 0 waits), so the reduction that follows, waiting for the small
 * kernel, waits for all. */
/* The persistent kernel's instance for a run: with steps of two tiles when a.step_min > 0 (at D =
 * 128 only; deft_gpu_steps decided it on the host), else without. */
template <int D, typename T, int NF> auto partial_instance(const deft_gpu_args *a)
{
    if constexpr (D == 128)
        if (a->step_min > 0) return partial_kernel<D, T, true, NF>;
    return partial_kernel<D, T, false, NF>;
}

/* The persistent kernel's launch with the first units in a parameter of room NF (>= first->n) */
template <int D, typename T, int NF>
cudaError_t launch_persistent(const deft_gpu_args *a, size_t smem, const CUtensorMap *maps,
                              const deft_gpu_first *first, int blocks, int threads, bool listed, cudaStream_t stream)
{
    const auto pk = partial_instance<D, T, NF>(a);
    cudaError_t e = cudaFuncSetAttribute(pk, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    first_units<NF> f = {};
    f.n = first->n, f.total = first->total;
    memcpy(f.u, first->u, (size_t)first->n * sizeof f.u[0]);
    return launch_pdl(pk, (unsigned)blocks, (unsigned)threads, smem, stream, listed, *a, maps[0], maps[1], f);
}

template <int D, typename T>
cudaError_t launch_dt(const deft_gpu_args *a, size_t smem, const CUtensorMap *maps, const deft_gpu_first *first,
                      int blocks, cudaStream_t stream)
{
    const size_t small_smem = (size_t)4 * 2 * 2 * DEFT_GPU_SMALL_TILE * (D + PAD) * sizeof(T);
    cudaError_t e = cudaFuncSetAttribute(small_kernel<D, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)small_smem);
    if (e != cudaSuccess) return e;
    /* the block's threads: the loaded binary's bound (DEFT_GPU_PTHREADS: 384 for the sm_90a
     * pass at D = 128, else NTHREADS), read once (every instance has the same bound) */
    static int threads = 0;
    if (!threads) {
        cudaFuncAttributes fa;
        if ((e = cudaFuncGetAttributes(&fa, partial_instance<D, T, DEFT_GPU_FIRST_MAX>(a))) != cudaSuccess) return e;
        threads = fa.maxThreadsPerBlock > NTHREADS ? fa.maxThreadsPerBlock : NTHREADS;
    }
    const bool listed = deft_gpu_listed(first->n, first->total, a->hkv, blocks);
    if (listed) {
        classify_kernel<<<1, 1024, 0, stream>>>(*a);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    /* the instance whose parameter holds the run's first units: few of them, or up to the most */
    e = first->n <= DEFT_GPU_FIRST_FEW && !forced_many()
            ? launch_persistent<D, T, DEFT_GPU_FIRST_FEW>(a, smem, maps, first, blocks, threads, listed, stream)
            : launch_persistent<D, T, DEFT_GPU_FIRST_MAX>(a, smem, maps, first, blocks, threads, listed, stream);
    const unsigned items = (unsigned)a->n_chunks * (unsigned)a->hkv; /* small kernel: per chunk */
    if (e == cudaSuccess) e = launch_pdl(small_kernel<D, T>, items, 128, small_smem, stream, true, *a);
    return e == cudaSuccess ? cudaGetLastError() : e;
}

template <typename T>
cudaError_t launch_t(const deft_gpu_args *a, size_t smem, const CUtensorMap *maps, const deft_gpu_first *first,
                     int blocks, cudaStream_t stream)
{
    if (a->d == 64) return launch_dt<64, T>(a, smem, maps, first, blocks, stream);
    if (a->d == 128) return launch_dt<128, T>(a, smem, maps, first, blocks, stream);
    return launch_dt<256, T>(a, smem, maps, first, blocks, stream);
}

/* The tensor maps of K and V (total_kv, hkv, d) for the wgmma kernels' copies: boxes of 64
 * tokens x 64 elements of one KV head in the 128-byte swizzle (issue_tile). Built per run on the host (a few us of CPU,
 * no device work); the driver's encoder is found through the runtime, so nothing links -lcuda. */
deft_status kv_maps(const deft_problem *p, CUtensorMap maps[2], deft_diag *diag)
{
    static PFN_cuTensorMapEncodeTiled_v12000 encode = NULL;
    static int looked = 0;
    if (!looked) {
        void *fn = NULL;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) ==
                cudaSuccess && q == cudaDriverEntryPointSuccess)
            encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
        (void)cudaGetLastError();
        looked = 1;
    }
    if (!encode) {
        deft_diag_set(diag, DEFT_ERR_DEVICE, -1, "gpu: the driver has no cuTensorMapEncodeTiled");
        return DEFT_ERR_DEVICE;
    }
    const deft_shape *s = &p->shape;
    const cuuint64_t dims[3] = {(cuuint64_t)s->d, (cuuint64_t)s->hkv, (cuuint64_t)p->tree.total_kv};
    const cuuint64_t strides[2] = {(cuuint64_t)s->d * 2u, (cuuint64_t)(s->hkv * s->d) * 2u}; /* bytes */
    const cuuint32_t box[3] = {64, 1, DEFT_GPU_TILE}, one[3] = {1, 1, 1};
    const CUtensorMapDataType dt = s->dtype == DEFT_F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    for (int i = 0; i < 2; i++) {
        CUresult r = encode(&maps[i], dt, 3, const_cast<void *>(i ? p->v : p->k), dims, strides, box, one,
                            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
        if (r != CUDA_SUCCESS) {
            deft_diag_set(diag, DEFT_ERR_DEVICE, -1, "gpu: cuTensorMapEncodeTiled(%s) failed (CUresult %d)",
                          i ? "v" : "k", (int)r);
            return DEFT_ERR_DEVICE;
        }
    }
    return DEFT_OK;
}

deft_status shape_supported(const deft_shape *s, deft_diag *diag)
{
    if (s->dtype != DEFT_F16 && s->dtype != DEFT_BF16) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1,
                      "gpu: dtype %s has no tensor-core path (f16, bf16); gpu-simple takes it",
                      deft_dtype_name(s->dtype) ? deft_dtype_name(s->dtype) : "?");
        return DEFT_ERR_UNSUPPORTED;
    }
    if (s->d != 64 && s->d != 128 && s->d != 256) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1,
                      "gpu: D = %lld has no tensor-core path (64, 128, 256); gpu-simple takes it",
                      (long long)s->d);
        return DEFT_ERR_UNSUPPORTED;
    }
    return DEFT_OK;
}

} // namespace

DEFT_TRACE_IO(deft_gpu_trace_v2)

extern "C" deft_status deft_gpu_supports(const deft_problem *p, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    if ((st = shape_supported(&p->shape, diag)) != DEFT_OK) return st;
    return deft_gpu_device_check(NULL, 0, diag);
}

extern "C" deft_status deft_gpu_run_device(const deft_problem *p, const deft_plan *plan,
                                           const void *plan_words_dev, void *workspace,
                                           size_t workspace_bytes, float *o_dev, float *lse_dev,
                                           void *cuda_stream, deft_diag *diag)
{
    deft_gpu_args a;
    deft_status st = deft_gpu_args_fill(p, plan, plan_words_dev, workspace, workspace_bytes, o_dev,
                                        lse_dev, "gpu", &a, diag);
    if (st != DEFT_OK || a.n_queries == 0) return st;
    if ((st = shape_supported(&p->shape, diag)) != DEFT_OK) return st;
    int64_t cap = deft_gpu_max_chunk_tokens(&p->shape);
    if (plan->max_chunk_len > cap) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1,
                      "gpu: the plan's chunks hold up to %d tokens; version 2 takes at most %lld "
                      "(build the plan with chunk_tokens <= %lld)",
                      plan->max_chunk_len, (long long)cap, (long long)cap);
        return DEFT_ERR_UNSUPPORTED;
    }
    /* the ring: as many 64-token slots as fit; longer chunks stream through it */
    const int nslot = deft_gpu_ring_slots(&p->shape);
    size_t smem = DEFT_GPU_SMEM_BYTES(p->shape.d, (size_t)nslot * DEFT_GPU_TILE) +
                  DEFT_GPU_SCRATCH_BYTES(p->shape.d);
    if ((int64_t)smem > deft_gpu_smem_optin()) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1,
                      "gpu: a block needs %zu bytes of shared memory; the device allows %d", smem,
                      deft_gpu_smem_optin());
        return DEFT_ERR_UNSUPPORTED;
    }
    /* 16-byte copies (cp.async and the tensor copies alike) need 16-byte aligned tensors */
    if ((uintptr_t)p->q % 16 || (uintptr_t)p->k % 16 || (uintptr_t)p->v % 16) {
        deft_diag_set(diag, DEFT_ERR_ARG, -1, "gpu: q %p, k %p and v %p must be 16-byte aligned", p->q, p->k, p->v);
        return DEFT_ERR_ARG;
    }
    CUtensorMap maps[2];
    memset(maps, 0, sizeof maps);
    if (p->shape.d == 128 && (st = kv_maps(p, maps, diag)) != DEFT_OK) return st;
    a.qpu = deft_gpu_units(plan, &p->shape, forced_qpu(), NULL);
    a.small_w = deft_gpu_small_warps(plan, &p->shape, a.qpu, forced_small_w());
    a.nslot = nslot;
    /* steps of two tiles on the chunks DEFT_GPU_STEPS picks, if any (else the kernel without) */
    const int step_min = forced_step();
    a.step_min = step_min >= 0 ? step_min : DEFT_GPU_STEP_MIN;
    if (!deft_gpu_steps(plan, &p->shape, a.step_min)) a.step_min = 0;
    /* the blocks' first and second units: twice as many items as the persistent grid has
     * blocks, over the KV heads */
    deft_gpu_first first;
    const int first_cap = forced_first();
    const int blocks = persistent_grid(&a, plan, &p->shape);
    int want = (2 * blocks + a.hkv - 1) / a.hkv;
    if (first_cap >= 0 && first_cap < want) want = first_cap;
    deft_gpu_first_units(plan, a.group, a.qpu, nslot, want, &first);
    cudaStream_t stream = (cudaStream_t)cuda_stream;
    cudaError_t e = a.dtype == DEFT_F16 ? launch_t<__half>(&a, smem, maps, &first, blocks, stream)
                                        : launch_t<__nv_bfloat16>(&a, smem, maps, &first, blocks, stream);
    if ((st = deft_gpu_cuda(e, "gpu: partial kernel launch", diag)) != DEFT_OK) return st;
    return deft_gpu_reduce_launch(&a, stream, diag);
}

extern "C" deft_status deft_gpu_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                                    deft_diag *diag)
{
    deft_status st = deft_gpu_supports(p, diag);
    if (st != DEFT_OK) return st;
    int64_t cap = deft_gpu_max_chunk_tokens(&p->shape);
    int64_t ct = opt && opt->chunk_tokens ? opt->chunk_tokens : deft_gpu_choose_chunk_tokens(&p->tree, &p->shape);
    if (ct > cap) ct = cap;
    return deft_gpu_host_run(p, opt, ct, deft_gpu_run_device, "gpu", o, lse, diag);
}
