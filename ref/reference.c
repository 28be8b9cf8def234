/* reference.c: the checker's oracle data (docs/validation.md). For every (query, head) row it
 * keeps the exact result in double, the scales the tolerance model needs, and the error of a
 * straightforward float32 evaluation of the same row: the anchor that keeps tolerances honest. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_internal.h"

/* The straightforward float32 evaluation of one row: the definition's formula with every
 * product, sum, exp and log in float, tokens in the reference's order. Inputs are widened
 * exactly, so only the arithmetic differs from the double reference. */
static void f32_row(const deft_problem *p, const deft_span *spans, int64_t nspans, const float *q,
                    int64_t kvh, float scale, double *row, float *scores, float *o, float *lse)
{
    int64_t d = p->shape.d, hkv = p->shape.hkv, n = 0;
    deft_dtype t = p->shape.dtype;
    float m = -INFINITY;
    for (int64_t s = 0; s < nspans; s++)
        for (int64_t r = spans[s].start; r < spans[s].start + spans[s].len; r++, n++) {
            deft_ref_load_row(p->k, t, r, hkv, kvh, d, row); /* exact: values fit in float */
            float dot = 0.0f;
            for (int64_t x = 0; x < d; x++) dot += q[x] * (float)row[x];
            scores[n] = scale * dot;
            if (scores[n] > m) m = scores[n];
        }
    float l = 0.0f;
    for (int64_t x = 0; x < d; x++) o[x] = 0.0f;
    n = 0;
    for (int64_t s = 0; s < nspans; s++)
        for (int64_t r = spans[s].start; r < spans[s].start + spans[s].len; r++, n++) {
            deft_ref_load_row(p->v, t, r, hkv, kvh, d, row);
            float w = expf(scores[n] - m);
            l += w;
            for (int64_t x = 0; x < d; x++) o[x] += w * (float)row[x];
        }
    for (int64_t x = 0; x < d; x++) o[x] /= l;
    *lse = m + logf(l);
}

void deft_reference_free(deft_reference *ref)
{
    if (!ref) return;
    free(ref->o);
    free(ref->lse);
    free(ref->o_mag);
    free(ref->o_spread);
    free(ref->s_mag);
    free(ref->s_abs);
    free(ref->w_floor);
    free(ref->row_class);
    memset(ref, 0, sizeof *ref);
}

static deft_status reference_alloc(deft_reference *ref, size_t rows, size_t d, deft_diag *diag)
{
    size_t n = rows * d > 0 ? rows * d : 1, r = rows > 0 ? rows : 1;
    ref->o = malloc(n * sizeof(double));
    ref->o_mag = malloc(n * sizeof(double));
    ref->o_spread = malloc(n * sizeof(double));
    ref->lse = malloc(r * sizeof(double));
    ref->s_mag = malloc(r * sizeof(double));
    ref->s_abs = malloc(r * sizeof(double));
    ref->w_floor = malloc(r * sizeof(double));
    ref->row_class = malloc(r);
    if (!ref->o || !ref->o_mag || !ref->o_spread || !ref->lse || !ref->s_mag || !ref->s_abs ||
        !ref->w_floor || !ref->row_class) {
        deft_reference_free(ref);
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "reference: out of memory");
        return DEFT_ERR_NO_MEMORY;
    }
    return DEFT_OK;
}

/* What a float32 kernel can be held to on one row. Rows outside it are reported, not judged
 * (docs/semantics.md, "Non-finite inputs" rule 3):
 *  - the straightforward float32 evaluation overflows, or the LSE is beyond FLT_MAX;
 *  - an unnormalized weighted sum of V (weights up to 1, as flash-style kernels accumulate it)
 *    could overflow: visible tokens x max |v| > FLT_MAX / 4;
 *  - a float32 dot product could overflow: sum_x |q_x k_x| > FLT_MAX / 4;
 *  - the scores' float32 rounding (u32 sqrt(D) s_abs, the tolerance model's score term) exceeds
 *    2^-6: the softmax weights are then set by rounding, and no float32 result means anything. */
typedef struct {
    double s_abs, dot_abs, v_abs, tokens;
} row_range;

static int classify_row(int64_t d, const double *o, double lse, const double *o_mag, double s_mag,
                        const row_range *rr, const float *o32, float lse32, double *err_o,
                        double *err_lse)
{
    int finite = isfinite(lse32) && fabs(lse) <= FLT_MAX;
    for (int64_t x = 0; x < d && finite; x++) finite = isfinite(o32[x]);
    if (!finite || rr->tokens * rr->v_abs > FLT_MAX / 4 || rr->dot_abs > FLT_MAX / 4 ||
        0x1p-24 * sqrt((double)d) * rr->s_abs > 0x1p-6)
        return DEFT_ROW_F32_RANGE;
    *err_o = 0.0;
    for (int64_t x = 0; x < d; x++)
        if (o_mag[x] > 0.0) {
            double e = fabs((double)o32[x] - o[x]) / o_mag[x];
            if (e > *err_o) *err_o = e;
        }
    *err_lse = fabs((double)lse32 - lse) / (1.0 + s_mag + fabs(lse));
    return DEFT_ROW_CHECKED;
}

deft_status deft_reference_compute(const deft_problem *p, deft_reference *ref, deft_diag *diag)
{
    if (!ref) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "reference: ref is NULL");
        return DEFT_ERR_NULL;
    }
    memset(ref, 0, sizeof *ref);
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    const deft_tree *t = &p->tree;
    int64_t tq = deft_tree_total_q(t), hq = p->shape.hq, d = p->shape.d;
    ref->total_q = tq;
    ref->hq = hq;
    ref->d = d;
    ref->dtype = p->shape.dtype;
    if ((st = reference_alloc(ref, (size_t)tq * (size_t)hq, (size_t)d, diag)) != DEFT_OK) return st;
    deft_ref_index ix;
    if ((st = deft_ref_index_build(t, &ix, diag)) != DEFT_OK) {
        deft_reference_free(ref);
        return st;
    }
    int64_t group = hq / p->shape.hkv;
    double scale = deft_shape_scale(&p->shape);
    double anchor_o = 0.0, anchor_lse = 0.0;
    int oom = 0;
#pragma omp parallel reduction(| : oom) reduction(max : anchor_o, anchor_lse)
    {
        size_t dd = (size_t)d, nv = (size_t)ix.max_visible;
        deft_span *spans = malloc((size_t)ix.max_depth * sizeof *spans);
        double *scores = malloc(nv * sizeof *scores), *qrow = malloc(dd * sizeof *qrow);
        double *kv = malloc(dd * sizeof *kv);
        float *fscores = malloc(nv * sizeof *fscores), *q32 = malloc(dd * sizeof *q32);
        float *o32 = malloc(dd * sizeof *o32);
        oom = !spans || !scores || !qrow || !kv || !fscores || !q32 || !o32;
#pragma omp for schedule(dynamic, 1)
        for (int64_t q = 0; q < tq; q++) {
            if (oom) continue;
            int64_t nspans = deft_ref_spans(t, &ix, q, spans);
            for (int64_t h = 0; h < hq; h++) {
                size_t row = (size_t)q * (size_t)hq + (size_t)h;
                double *o = ref->o + row * dd;
                row_range rr = {0, 0, 0, 0};
                deft_ref_stats stats = {ref->o_mag + row * dd, ref->o_spread + row * dd,
                                        ref->s_mag + row, ref->s_abs + row, &rr.dot_abs, &rr.v_abs};
                ref->s_mag[row] = ref->s_abs[row] = 0.0;
                int bad = deft_ref_load_row(p->q, p->shape.dtype, q, hq, h, d, qrow);
                bad |= deft_ref_row(p, spans, nspans, qrow, h / group, scale, scores, kv, o,
                                    ref->lse + row, &stats);
                if (bad) {
                    for (int64_t x = 0; x < d; x++) o[x] = NAN;
                    ref->lse[row] = NAN;
                    ref->row_class[row] = DEFT_ROW_NONFINITE;
                    continue;
                }
                for (int64_t x = 0; x < d; x++) q32[x] = (float)qrow[x];
                float lse32;
                f32_row(p, spans, nspans, q32, h / group, (float)scale, kv, fscores, o32, &lse32);
                double eo = 0.0, el = 0.0;
                rr.s_abs = ref->s_abs[row];
                for (int64_t sp = 0; sp < nspans; sp++) rr.tokens += (double)spans[sp].len;
                ref->w_floor[row] = rr.tokens * rr.v_abs * 0x1p-149;
                ref->row_class[row] = (uint8_t)classify_row(d, o, ref->lse[row], stats.o_mag,
                                                             ref->s_mag[row], &rr, o32, lse32, &eo, &el);
                if (eo > anchor_o) anchor_o = eo;
                if (el > anchor_lse) anchor_lse = el;
            }
        }
        free(spans);
        free(scores);
        free(qrow);
        free(kv);
        free(fscores);
        free(q32);
        free(o32);
    }
    deft_ref_index_free(&ix);
    if (oom) {
        deft_reference_free(ref);
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "reference: out of memory for row buffers");
        return DEFT_ERR_NO_MEMORY;
    }
    ref->anchor_o = anchor_o;
    ref->anchor_lse = anchor_lse;
    return DEFT_OK;
}
