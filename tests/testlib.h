/* testlib.h: helpers shared by the Check suites: an independent dense masked attention (the
 * definition evaluated over the whole forest with a per-row mask, optionally with one planted
 * bug), problem builders and output utilities. */
#ifndef DEFT_TESTLIB_H
#define DEFT_TESTLIB_H

#include <check.h>
#include <stdio.h>

#include "deft.h"

/* Planted bugs for the dense attention, each a realistic kernel mistake. */
typedef struct mutation {
    int drop_ancestors;  /* queries ignore every ancestor's tokens (sees its own node only) */
    int causal_shift;    /* -1: a query misses its own token; +1: sees one token past it */
    int wrong_gqa;       /* query head h reads KV head h % Hkv instead of h / (Hq / Hkv) */
    double scale_factor; /* multiplies the scale (1 = none) */
    int lse_base2;       /* writes log2 instead of ln */
    int round_weights;   /* not a bug: rounds each softmax weight to the input dtype before P.V,
                            as a tensor-core kernel does with f16/bf16 inputs */
} mutation;

extern const mutation NO_MUTATION;

/* Dense masked attention in double over all total_kv rows: row r is visible to query q when the
 * node holding r is an ancestor of q's node, or is q's node at a position <= q's. o and lse are
 * (total_q, hq, d) and (total_q, hq). Independent of ref/: no spans, no walks per query. */
void dense_attention(const deft_problem *p, const mutation *m, double *o, double *lse);

/* f32 copies of a double output. */
float *to_f32(const double *x, size_t n);
size_t out_elems(const deft_problem *p);  /* total_q * hq * d */
size_t lse_elems(const deft_problem *p);  /* total_q * hq */

/* Generates spec with a small shape for tests (hq, hkv, d; dtype -1 keeps the default). */
void gen_small(deft_case *c, const char *spec, int64_t hq, int64_t hkv, int64_t d, int dtype);

Suite *validate_suite(void);
Suite *dtype_suite(void);
Suite *ref_suite(void);
Suite *compare_suite(void);
Suite *gen_suite(void);
Suite *io_suite(void);
Suite *plan_suite(void);
Suite *cpu_suite(void);
Suite *gpuhost_suite(void);

#endif
