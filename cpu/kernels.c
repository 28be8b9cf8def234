/* kernels.c: the element-wise loops of the CPU paths (softmax of a score row, widening of f16 /
 * bf16 rows, axpy). Everything with BLAS shape goes to sgemm; these are what is left, written so
 * gcc vectorizes them: fixed 16-lane accumulators instead of reductions the compiler may not
 * reassociate, and the call-free scalar helpers of expf.h. */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu.h"
#include "expf.h"

/* The exp loops are most of the non-BLAS time; a clone per vector width lets the same binary use
 * AVX-512 where present. The operations are the same IEEE ones in every clone (no contraction in
 * ISO C mode), so every clone gives the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DEFT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DEFT_CLONES
#endif

enum { LANES = 16 };

int deft_cpu_threads(const deft_options *opt)
{
    return opt && opt->threads > 0 ? opt->threads : omp_get_max_threads();
}

deft_status deft_cpu_blas_fits(const deft_problem *p, const char *who, deft_diag *diag)
{
    if (p->shape.hq * p->shape.d > INT_MAX || p->shape.hkv * p->shape.d > INT_MAX ||
        p->tree.total_kv > INT_MAX) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1,
                      "%s: hq*d %lld, hkv*d %lld or total_kv %lld exceeds the BLAS int range", who,
                      (long long)(p->shape.hq * p->shape.d), (long long)(p->shape.hkv * p->shape.d),
                      (long long)p->tree.total_kv);
        return DEFT_ERR_UNSUPPORTED;
    }
    return DEFT_OK;
}

DEFT_CLONES
float deft_cpu_softmax_row(float *s, int64_t n, float *m_out)
{
    float mx[LANES], acc[LANES];
    int64_t nb = n - n % LANES, j;
    for (int k = 0; k < LANES; k++) mx[k] = -INFINITY;
    for (j = 0; j < nb; j += LANES)
        for (int k = 0; k < LANES; k++) mx[k] = s[j + k] > mx[k] ? s[j + k] : mx[k];
    float m = -INFINITY;
    for (int k = 0; k < LANES; k++) m = mx[k] > m ? mx[k] : m;
    for (; j < n; j++) m = s[j] > m ? s[j] : m;
    for (int k = 0; k < LANES; k++) acc[k] = 0.0f;
    for (j = 0; j < nb; j += LANES)
        for (int k = 0; k < LANES; k++) {
            float e = deft_cpu_expf(s[j + k] - m);
            s[j + k] = e;
            acc[k] += e;
        }
    float l = 0.0f;
    for (int k = 0; k < LANES; k++) l += acc[k];
    for (; j < n; j++) {
        float e = deft_cpu_expf(s[j] - m);
        s[j] = e;
        l += e;
    }
    *m_out = m;
    return l;
}

DEFT_CLONES
void deft_cpu_exp(const float *x, float *y, int64_t n)
{
    float buf[LANES];
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) { /* via buf: x and y may be the same array */
        for (int k = 0; k < LANES; k++) buf[k] = deft_cpu_expf(x[i + k]);
        for (int k = 0; k < LANES; k++) y[i + k] = buf[k];
    }
    for (; i < n; i++) y[i] = deft_cpu_expf(x[i]);
}

DEFT_CLONES
static void widen_f16(const uint16_t *restrict src, float *restrict dst, int64_t d)
{
    int64_t x = 0;
    for (; x + LANES <= d; x += LANES)
        for (int k = 0; k < LANES; k++) dst[x + k] = deft_cpu_f16_to_f32(src[x + k]);
    for (; x < d; x++) dst[x] = deft_cpu_f16_to_f32(src[x]);
}

DEFT_CLONES
static void widen_bf16(const uint16_t *restrict src, float *restrict dst, int64_t d)
{
    int64_t x = 0;
    for (; x + LANES <= d; x += LANES)
        for (int k = 0; k < LANES; k++) dst[x + k] = deft_cpu_bf16_to_f32(src[x + k]);
    for (; x < d; x++) dst[x] = deft_cpu_bf16_to_f32(src[x]);
}

void deft_cpu_widen(const void *base, deft_dtype t, size_t first, size_t stride, int64_t rows,
                    int64_t d, float *dst)
{
    for (int64_t r = 0; r < rows; r++) {
        size_t at = first + (size_t)r * stride;
        float *out = dst + (size_t)r * (size_t)d;
        if (t == DEFT_F32)
            memcpy(out, (const float *)base + at, (size_t)d * sizeof *out);
        else if (t == DEFT_F16)
            widen_f16((const uint16_t *)base + at, out, d);
        else
            widen_bf16((const uint16_t *)base + at, out, d);
    }
}

DEFT_CLONES
void deft_cpu_axpy(float a, const float *restrict x, float *restrict y, int64_t d)
{
    int64_t i = 0;
    for (; i + LANES <= d; i += LANES)
        for (int k = 0; k < LANES; k++) y[i + k] += a * x[i + k];
    for (; i < d; i++) y[i] += a * x[i];
}

DEFT_CLONES
void deft_cpu_scale(float a, const float *restrict x, float *restrict y, int64_t d)
{
    int64_t i = 0;
    for (; i + LANES <= d; i += LANES)
        for (int k = 0; k < LANES; k++) y[i + k] = a * x[i + k];
    for (; i < d; i++) y[i] = a * x[i];
}
