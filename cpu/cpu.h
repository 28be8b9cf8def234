/* cpu.h: the CPU paths (not installed). DeFT phases 2 and 3 (deft_cpu.c), the sequence-based
 * baseline (seq_cpu.c), and the vector loops both share (kernels.c). Registered in
 * lib/registry.c. */
#ifndef DEFT_CPU_H
#define DEFT_CPU_H

#include "internal.h"

/* DeFT on the CPU: the plan of common/plan.c (phase 1), sgemm partial attention per (chunk, KV
 * head) with the chunk's queries of all G = hq/hkv heads stacked (phase 2), and a fixed-order LSE
 * merge per query (phase 3). Any valid problem; same bits for any thread count. opt->chunk_tokens
 * 0 picks the CPU's own default (1024 tokens, less on small trees; deft_cpu_plan_options), not
 * DEFT_DEFAULT_CHUNK_TOKENS; the bits depend on the chunks, never on the thread count. */
deft_status deft_cpu_supports(const deft_problem *p, deft_diag *diag);
deft_status deft_cpu_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                         deft_diag *diag);
/* The options deft_cpu_run builds its plan with: opt (NULL = defaults) with chunk_tokens 0
 * replaced by the CPU's default. p must be valid. */
deft_options deft_cpu_plan_options(const deft_problem *p, const deft_options *opt);

/* The sequence-based baseline: each (query, KV head) reads its whole root-to-node path with the
 * same sgemm and softmax; no sharing between queries. opt->threads only. */
deft_status deft_cpu_seq_supports(const deft_problem *p, deft_diag *diag);
deft_status deft_cpu_seq_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                             deft_diag *diag);

/* OpenMP team size for opt (opt->threads when > 0, else the runtime's default). */
int deft_cpu_threads(const deft_options *opt);

/* DEFT_OK when every dimension the CPU paths hand to BLAS (hq*d, hkv*d, total_kv) fits in a BLAS
 * int; DEFT_ERR_UNSUPPORTED with a reason otherwise. p must be valid. */
deft_status deft_cpu_blas_fits(const deft_problem *p, const char *who, deft_diag *diag);

/* s (n >= 1) becomes exp(s - m) with m = max s (returned in *m); returns sum exp(s - m), summed
 * in a fixed order (16 lanes, then the tail), so the result never depends on the caller. */
float deft_cpu_softmax_row(float *s, int64_t n, float *m);

/* y[i] = e^x[i] with deft_cpu_expf (cpu/expf.h); x and y may be the same array. */
void deft_cpu_exp(const float *x, float *y, int64_t n);

/* dst (rows, d) f32 <- rows of d elements of a dtype-t tensor: row r starts at element
 * first + r * stride. Exact for every dtype. */
void deft_cpu_widen(const void *base, deft_dtype t, size_t first, size_t stride, int64_t rows,
                    int64_t d, float *dst);

/* y (d) = a * x (d); x and y do not overlap. */
void deft_cpu_scale(float a, const float *restrict x, float *restrict y, int64_t d);

/* y (d) += a * x (d); x and y do not overlap. */
void deft_cpu_axpy(float a, const float *restrict x, float *restrict y, int64_t d);

#endif
