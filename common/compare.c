/* compare.c: the one comparison routine (docs/validation.md). Every test and `deft check` judge an
 * output (o, lse) against the reference's exact values under the tolerance model: an allowance
 * anchored to the error of a straightforward float32 evaluation of the same case, plus the error
 * a kernel may add by rounding softmax weights to the input dtype. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void deft_tolerance_default(deft_tolerance *t)
{
    t->anchor_mult = 4.0;
    t->anchor_floor = 0x1p-23;
    t->dtype_mult = 4.0;
}

/* Unit roundoff of the input dtype: the relative error of rounding a weight to it. */
static double dtype_unit(deft_dtype t)
{
    switch (t) {
    case DEFT_F16: return 0x1p-11;
    case DEFT_BF16: return 0x1p-8;
    default: return 0.0;
    }
}

/* 64 steps of float32's smallest subnormal, 2^-149: an absolute allowance (9e-44) that only
 * matters where outputs are themselves subnormal. */
#define SUBNORMAL_FLOOR (64 * 0x1p-149)

typedef struct {
    deft_report *rep;
    double err2, ref2;
} tally;

/* Judges one element; dim == -1 is the LSE of (q, h). Returns 1 when it fails. */
static int judge(tally *t, int64_t q, int64_t h, int64_t dim, double got, double want, double tol)
{
    deft_report *r = t->rep;
    double err;
    int fail;
    if (isnan(got)) {
        err = INFINITY;
        fail = 1;
    } else if (isinf(want) || isinf(got)) {
        fail = got != want;
        err = fail ? INFINITY : 0.0;
    } else {
        err = fabs(got - want);
        fail = err > tol;
    }
    r->checked++;
    if (dim >= 0 && isfinite(err)) {
        if (err > r->max_abs_err) r->max_abs_err = err;
        if (want != 0.0 && err / fabs(want) > r->max_rel_err) r->max_rel_err = err / fabs(want);
        t->err2 += err * err;
        t->ref2 += want * want;
    } else if (dim >= 0) {
        r->max_abs_err = r->max_rel_err = INFINITY;
        t->err2 = INFINITY;
    } else if (err > r->lse_max_abs_err) {
        r->lse_max_abs_err = err;
    }
    double ratio = tol > 0.0 ? err / tol : (err > 0.0 ? INFINITY : 0.0);
    if (fail) {
        if (r->failed++ == 0) {
            r->first_query = q;
            r->first_head = h;
            r->first_dim = dim;
        }
    }
    /* the first NaN is the worst element; otherwise the largest error over tolerance */
    int nan_now = isnan(got) && !isnan(want);
    if (!r->worst_is_nan && (nan_now || ratio > r->worst_ratio || r->worst_query < 0)) {
        r->worst_ratio = ratio;
        r->worst_query = q;
        r->worst_head = h;
        r->worst_dim = dim;
        r->worst_got = got;
        r->worst_want = want;
        r->worst_tol = tol;
        r->worst_is_nan = nan_now;
    }
    return fail;
}

deft_status deft_compare(const deft_reference *ref, const float *o, const float *lse,
                         const deft_tolerance *tol, deft_report *rep, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!ref || !rep) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "compare: reference or report is NULL");
        return DEFT_ERR_NULL;
    }
    memset(rep, 0, sizeof *rep);
    rep->worst_query = rep->worst_head = rep->worst_dim = -1;
    rep->first_query = rep->first_head = rep->first_dim = -1;
    int64_t rows = ref->total_q * ref->hq, d = ref->d;
    if (rows > 0 && (!o || !ref->o)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "compare: output o is NULL");
        return DEFT_ERR_NULL;
    }
    deft_tolerance def;
    if (!tol) {
        deft_tolerance_default(&def);
        tol = &def;
    }
    double a_o = tol->anchor_mult * fmax(ref->anchor_o, tol->anchor_floor);
    double a_l = tol->anchor_mult * fmax(ref->anchor_lse, tol->anchor_floor);
    double u = tol->dtype_mult * dtype_unit(ref->dtype);
    rep->anchor_o = fmax(ref->anchor_o, tol->anchor_floor);
    rep->anchor_lse = fmax(ref->anchor_lse, tol->anchor_floor);
    rep->unit_dtype = dtype_unit(ref->dtype);
    rep->anchor_mult = tol->anchor_mult;
    rep->dtype_mult = tol->dtype_mult;
    rep->lse_checked = lse != NULL;
    /* rounding a score's float32 dot product of D terms: u32 sqrt(D) relative to sum |q_x k_x| */
    double u_score = 0x1p-24 * sqrt((double)d);
    tally t = {rep, 0.0, 0.0};
    for (int64_t row = 0; row < rows; row++) {
        int64_t q = row / ref->hq, h = row % ref->hq;
        if (ref->row_class[row] == DEFT_ROW_NONFINITE) {
            rep->rows_nonfinite++;
            continue;
        }
        if (ref->row_class[row] == DEFT_ROW_F32_RANGE) {
            rep->rows_f32_range++;
            continue;
        }
        double score = tol->anchor_mult * u_score * ref->s_abs[row];
        double weights = tol->anchor_mult * ref->w_floor[row];
        for (int64_t x = 0; x < d; x++) {
            size_t i = (size_t)row * (size_t)d + (size_t)x;
            /* + a few float32 subnormal steps: near 2^-126 float32 spacing stops shrinking, so no
             * relative allowance can be met below it */
            judge(&t, q, h, x, o[i], ref->o[i],
                  (a_o + score) * ref->o_mag[i] + u * ref->o_spread[i] + weights + SUBNORMAL_FLOOR);
        }
        if (lse)
            judge(&t, q, h, -1, lse[row], ref->lse[row],
                  a_l * (1.0 + ref->s_mag[row] + fabs(ref->lse[row])) + score);
    }
    rep->err_norm_ratio = t.ref2 > 0.0 ? sqrt(t.err2 / t.ref2) : (t.err2 > 0.0 ? INFINITY : 0.0);
    rep->pass = rep->failed == 0;
    return DEFT_OK;
}

static void print_element(FILE *f, int64_t q, int64_t h, int64_t dim)
{
    if (dim < 0) fprintf(f, "query %lld, head %lld, lse", (long long)q, (long long)h);
    else fprintf(f, "query %lld, head %lld, dim %lld", (long long)q, (long long)h, (long long)dim);
}

void deft_report_print(const deft_report *r, void *file)
{
    FILE *f = file ? (FILE *)file : stdout;
    fprintf(f, "check: %s: %lld of %lld elements out of tolerance\n", r->pass ? "PASS" : "FAIL",
            (long long)r->failed, (long long)r->checked);
    fprintf(f, "  o:   max abs err %.3g, max rel err %.3g, error norm ratio %.3g\n",
            r->max_abs_err, r->max_rel_err, r->err_norm_ratio);
    if (r->lse_checked) fprintf(f, "  lse: max abs err %.3g (natural log)\n", r->lse_max_abs_err);
    else fprintf(f, "  lse: not checked\n");
    if (r->worst_query >= 0) {
        fprintf(f, "  worst: ");
        print_element(f, r->worst_query, r->worst_head, r->worst_dim);
        fprintf(f, ": got %.9g, want %.9g, tolerance %.3g (%.3g x)%s\n", r->worst_got,
                r->worst_want, r->worst_tol, r->worst_ratio, r->worst_is_nan ? ", NaN" : "");
    }
    if (r->first_query >= 0) {
        fprintf(f, "  first failure: ");
        print_element(f, r->first_query, r->first_head, r->first_dim);
        fprintf(f, "\n");
    }
    fprintf(f, "  rows not compared: %lld (non-finite inputs), %lld (beyond float32 range)\n",
            (long long)r->rows_nonfinite, (long long)r->rows_f32_range);
    fprintf(f, "  tolerance: %g x (float32-evaluation error (o %.3g, lse %.3g, relative) + score rounding)",
            r->anchor_mult, r->anchor_o, r->anchor_lse);
    if (r->unit_dtype > 0.0)
        fprintf(f, " + %g x u(dtype) %.3g x weight spread", r->dtype_mult, r->unit_dtype);
    fprintf(f, "\n");
}
