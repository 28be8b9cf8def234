/* ref.c: the reference, the definition of exact tree attention (docs/semantics.md) as a plain
 * loop nest in double: for each query and head, walk the visible tokens (every ancestor's, then
 * the query's own node up to its position), two-pass softmax, write O and LSE. No DeFT machinery:
 * this is the oracle every other path is judged by. */
#include <math.h>
#include <stdlib.h>

#include "ref_internal.h"

deft_status deft_ref_index_build(const deft_tree *t, deft_ref_index *ix, deft_diag *diag)
{
    int64_t n = t->n_nodes, tq = deft_tree_total_q(t);
    ix->total_q = tq;
    ix->q_node = malloc((size_t)(tq ? tq : 1) * sizeof(int64_t));
    ix->q_pos = malloc((size_t)(tq ? tq : 1) * sizeof(int64_t));
    ix->kv_off = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t *depth = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t *anc = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!ix->q_node || !ix->q_pos || !ix->kv_off || !depth || !anc) {
        free(depth);
        free(anc);
        deft_ref_index_free(ix);
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "reference: out of memory for the query index");
        return DEFT_ERR_NO_MEMORY;
    }
    deft_tree_offsets(t, ix->kv_off);
    deft_tree_ancestor_tokens(t, anc);
    ix->max_depth = 1;
    ix->max_visible = 1;
    int64_t q = 0;
    for (int64_t i = 0; i < n; i++) {
        depth[i] = t->parent[i] < 0 ? 1 : depth[t->parent[i]] + 1;
        if (depth[i] > ix->max_depth) ix->max_depth = depth[i];
        if (t->q_len[i] > 0 && anc[i] + t->kv_len[i] > ix->max_visible)
            ix->max_visible = anc[i] + t->kv_len[i];
        for (int64_t k = 0; k < t->q_len[i]; k++, q++) {
            ix->q_node[q] = i;
            ix->q_pos[q] = t->kv_len[i] - t->q_len[i] + k;
        }
    }
    free(depth);
    free(anc);
    return DEFT_OK;
}

void deft_ref_index_free(deft_ref_index *ix)
{
    free(ix->q_node);
    free(ix->q_pos);
    free(ix->kv_off);
    ix->q_node = ix->q_pos = ix->kv_off = NULL;
}

int64_t deft_ref_spans(const deft_tree *t, const deft_ref_index *ix, int64_t q, deft_span *spans)
{
    int64_t u = ix->q_node[q], n = 0;
    /* collect ancestors leaf to root, then reverse so the walk is root first */
    for (int64_t a = t->parent[u]; a >= 0; a = t->parent[a])
        if (t->kv_len[a] > 0) spans[n++] = (deft_span){ix->kv_off[a], t->kv_len[a]};
    for (int64_t i = 0, j = n - 1; i < j; i++, j--) {
        deft_span s = spans[i];
        spans[i] = spans[j];
        spans[j] = s;
    }
    spans[n++] = (deft_span){ix->kv_off[u], ix->q_pos[q] + 1};
    return n;
}

int deft_ref_load_row(const void *base, deft_dtype t, int64_t row, int64_t heads, int64_t h,
                      int64_t d, double *out)
{
    size_t first = ((size_t)row * (size_t)heads + (size_t)h) * (size_t)d;
    int bad = 0;
    /* one loop per dtype: widening is exact, and the loops vectorize */
    if (t == DEFT_F32) {
        const float *src = (const float *)base + first;
        for (int64_t x = 0; x < d; x++) out[x] = src[x];
    } else if (t == DEFT_F16) {
        const uint16_t *src = (const uint16_t *)base + first;
        for (int64_t x = 0; x < d; x++) out[x] = deft_f16_to_f32(src[x]);
    } else {
        const uint16_t *src = (const uint16_t *)base + first;
        for (int64_t x = 0; x < d; x++) out[x] = deft_bf16_to_f32(src[x]);
    }
    for (int64_t x = 0; x < d; x++) bad |= !isfinite(out[x]);
    return bad;
}

/* q . k in double, in four interleaved partial sums added at the end: a fixed order, so the
 * result is deterministic, and four independent chains instead of one long one. */
static double dot(const double *q, const double *k, int64_t d)
{
    double s[4] = {0, 0, 0, 0};
    int64_t x = 0;
    for (; x + 4 <= d; x += 4)
        for (int i = 0; i < 4; i++) s[i] += q[x + i] * k[x + i];
    for (; x < d; x++) s[0] += q[x] * k[x];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

int deft_ref_row(const deft_problem *p, const deft_span *spans, int64_t nspans, const double *q,
                 int64_t kvh, double scale, double *scores, double *kv, double *o, double *lse,
                 const deft_ref_stats *stats)
{
    int64_t d = p->shape.d, hkv = p->shape.hkv, n = 0;
    int bad = 0;
    double m = -INFINITY;
    for (int64_t s = 0; s < nspans; s++)
        for (int64_t r = spans[s].start; r < spans[s].start + spans[s].len; r++, n++) {
            bad |= deft_ref_load_row(p->k, p->shape.dtype, r, hkv, kvh, d, kv);
            scores[n] = scale * dot(q, kv, d);
            if (scores[n] > m) m = scores[n];
            if (stats) {
                double a = 0.0;
                for (int64_t x = 0; x < d; x++) a += fabs(q[x] * kv[x]);
                *stats->s_mag = fmax(*stats->s_mag, fabs(scores[n]));
                *stats->s_abs = fmax(*stats->s_abs, fabs(scale) * a);
                *stats->dot_abs = fmax(*stats->dot_abs, a);
            }
        }
    double l = 0.0;
    for (int64_t x = 0; x < d; x++) o[x] = 0.0;
    if (stats)
        for (int64_t x = 0; x < d; x++) stats->o_mag[x] = stats->o_spread[x] = 0.0;
    n = 0;
    for (int64_t s = 0; s < nspans; s++)
        for (int64_t r = spans[s].start; r < spans[s].start + spans[s].len; r++, n++) {
            bad |= deft_ref_load_row(p->v, p->shape.dtype, r, hkv, kvh, d, kv);
            double w = exp(scores[n] - m);
            l += w;
            for (int64_t x = 0; x < d; x++) o[x] += w * kv[x];
            if (stats)
                for (int64_t x = 0; x < d; x++) {
                    stats->o_mag[x] += w * fabs(kv[x]);
                    stats->o_spread[x] += (w * kv[x]) * (w * kv[x]);
                    *stats->v_abs = fmax(*stats->v_abs, fabs(kv[x]));
                }
        }
    if (bad) {
        for (int64_t x = 0; x < d; x++) o[x] = NAN;
        *lse = NAN;
        return 1;
    }
    for (int64_t x = 0; x < d; x++) o[x] /= l;
    *lse = m + log(l);
    if (stats)
        for (int64_t x = 0; x < d; x++) {
            stats->o_mag[x] /= l;
            stats->o_spread[x] = sqrt(stats->o_spread[x]) / l;
        }
    return 0;
}

deft_status deft_ref_attention_f64(const deft_problem *p, double *o, double *lse, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    const deft_tree *t = &p->tree;
    int64_t tq = deft_tree_total_q(t), hq = p->shape.hq, d = p->shape.d;
    if (tq > 0 && (!o || !lse)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "reference: output o or lse is NULL");
        return DEFT_ERR_NULL;
    }
    deft_ref_index ix;
    if ((st = deft_ref_index_build(t, &ix, diag)) != DEFT_OK) return st;
    int64_t group = hq / p->shape.hkv;
    double scale = deft_shape_scale(&p->shape);
    int oom = 0;
#pragma omp parallel reduction(| : oom)
    {
        deft_span *spans = malloc((size_t)ix.max_depth * sizeof *spans);
        double *scores = malloc((size_t)ix.max_visible * sizeof *scores);
        double *qrow = malloc((size_t)d * sizeof *qrow), *kv = malloc((size_t)d * sizeof *kv);
        oom = !spans || !scores || !qrow || !kv;
#pragma omp for schedule(dynamic, 1)
        for (int64_t q = 0; q < tq; q++) {
            if (oom) continue;
            int64_t nspans = deft_ref_spans(t, &ix, q, spans);
            for (int64_t h = 0; h < hq; h++) {
                int bad = deft_ref_load_row(p->q, p->shape.dtype, q, hq, h, d, qrow);
                double *orow = o + ((size_t)q * (size_t)hq + (size_t)h) * (size_t)d;
                double *l = lse + (size_t)q * (size_t)hq + (size_t)h;
                deft_ref_row(p, spans, nspans, qrow, h / group, scale, scores, kv, orow, l, NULL);
                if (bad) {
                    for (int64_t x = 0; x < d; x++) orow[x] = NAN;
                    *l = NAN;
                }
            }
        }
        free(spans);
        free(scores);
        free(qrow);
        free(kv);
    }
    deft_ref_index_free(&ix);
    if (oom) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "reference: out of memory for row buffers");
        return DEFT_ERR_NO_MEMORY;
    }
    return DEFT_OK;
}

deft_status deft_ref_attention(const deft_problem *p, float *o, float *lse, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    int64_t tq = deft_tree_total_q(&p->tree);
    size_t rows = (size_t)tq * (size_t)p->shape.hq, n = rows * (size_t)p->shape.d;
    if (tq > 0 && (!o || !lse)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "reference: output o or lse is NULL");
        return DEFT_ERR_NULL;
    }
    double *o64 = malloc((n ? n : 1) * sizeof *o64), *l64 = malloc((rows ? rows : 1) * sizeof *l64);
    if (!o64 || !l64) {
        free(o64);
        free(l64);
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "reference: out of memory for the result");
        return DEFT_ERR_NO_MEMORY;
    }
    st = deft_ref_attention_f64(p, o64, l64, diag);
    if (st == DEFT_OK) {
        for (size_t i = 0; i < n; i++) o[i] = (float)o64[i];
        for (size_t i = 0; i < rows; i++) lse[i] = (float)l64[i];
    }
    free(o64);
    free(l64);
    return st;
}
