/* ref_internal.h: the reference's building blocks, shared by ref.c (the definition) and
 * reference.c (the checker's oracle data). Not installed. */
#ifndef DEFT_REF_INTERNAL_H
#define DEFT_REF_INTERNAL_H

#include "internal.h"

/* A run of consecutive visible KV rows. */
typedef struct deft_span {
    int64_t start, len;
} deft_span;

/* What one pass over a problem's queries needs, computed once: per-query node and position,
 * per-node first KV row, and the longest ancestor chain and visible length (buffer sizes). */
typedef struct deft_ref_index {
    int64_t total_q;
    int64_t *q_node;     /* (total_q) node holding query q */
    int64_t *q_pos;      /* (total_q) token index of query q inside its node */
    int64_t *kv_off;     /* (n_nodes) first KV row of each node */
    int64_t max_depth;   /* most nodes on a root-to-node path */
    int64_t max_visible; /* most tokens any query sees */
} deft_ref_index;

deft_status deft_ref_index_build(const deft_tree *t, deft_ref_index *ix, deft_diag *diag);
void deft_ref_index_free(deft_ref_index *ix);

/* The visible rows of query q, root first: every ancestor's rows, then its own rows 0..pos.
 * spans must hold max_depth entries; returns the number written. */
int64_t deft_ref_spans(const deft_tree *t, const deft_ref_index *ix, int64_t q, deft_span *spans);

/* Widens row `row` of a (rows, heads, d) tensor at head h into out[0..d-1]; returns 0 when every
 * value is finite, 1 otherwise. */
int deft_ref_load_row(const void *base, deft_dtype t, int64_t row, int64_t heads, int64_t h,
                      int64_t d, double *out);

/* Optional by-products of a row for the tolerance model: o_mag[x] = sum_j p_j |v_j[x]|,
 * o_spread[x] = sqrt(sum_j p_j^2 v_j[x]^2) (p_j the softmax weights), *s_mag = max_j |s_j|,
 * *s_abs = max_j |scale| sum_x |q_x k_j,x|, *dot_abs = max_j sum_x |q_x k_j,x| (unscaled) and
 * *v_abs = max_j,x |v_j[x]| (the last four must start at 0). */
typedef struct deft_ref_stats {
    double *o_mag, *o_spread, *s_mag, *s_abs, *dot_abs, *v_abs;
} deft_ref_stats;

/* One (query, head) row of the definition, q widened to double, reading KV head kvh:
 *   s_j = scale * q . k_j over the visible tokens j,  m = max_j s_j,  l = sum_j exp(s_j - m),
 *   o = sum_j exp(s_j - m) v_j / l,  lse = m + ln(l).
 * scores holds max_visible doubles, kv holds d; stats may be NULL. Returns 1 (o and lse NaN)
 * when a K or V value read is NaN or infinite, else 0. */
int deft_ref_row(const deft_problem *p, const deft_span *spans, int64_t nspans, const double *q,
                 int64_t kvh, double scale, double *scores, double *kv, double *o, double *lse,
                 const deft_ref_stats *stats);

#endif
