/* test_compare.c: the checker bites. Rounding-level noise and a kernel that rounds its softmax
 * weights to the input dtype pass; a dropped ancestor, an off-by-one causal boundary, a wrong
 * GQA mapping, a wrong scale, an LSE in base 2 and one unwritten output element each fail. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

typedef struct {
    deft_case c;
    deft_reference ref;
} checked_case;

static void setup(checked_case *k, const char *spec, int64_t hq, int64_t hkv, int64_t d, int dtype)
{
    gen_small(&k->c, spec, hq, hkv, d, dtype);
    deft_diag diag;
    ck_assert_int_eq(deft_reference_compute(&k->c.problem, &k->ref, &diag), DEFT_OK);
}

static void teardown(checked_case *k)
{
    deft_reference_free(&k->ref);
    deft_case_free(&k->c);
}

/* Runs the dense attention with m and judges it; returns the report. */
static deft_report judge(const checked_case *k, const mutation *m, void (*edit)(float *, float *, size_t))
{
    const deft_problem *p = &k->c.problem;
    size_t n = out_elems(p), r = lse_elems(p);
    double *o = malloc(n * 8), *l = malloc(r * 8);
    ck_assert(o && l);
    dense_attention(p, m, o, l);
    float *of = to_f32(o, n), *lf = to_f32(l, r);
    if (edit) edit(of, lf, n);
    deft_report rep;
    deft_diag diag;
    ck_assert_int_eq(deft_compare(&k->ref, of, lf, NULL, &rep, &diag), DEFT_OK);
    free(o), free(l), free(of), free(lf);
    return rep;
}

/* Moves every element by one or two ulps in a fixed pseudo-random pattern. */
static void add_ulp_noise(float *o, float *lse, size_t n)
{
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        int steps = (int)((x >> 16) % 5) - 2;
        for (; steps > 0; steps--) o[i] = nextafterf(o[i], INFINITY);
        for (; steps < 0; steps++) o[i] = nextafterf(o[i], -INFINITY);
    }
    lse[0] = nextafterf(lse[0], INFINITY);
}

static size_t poisoned_index;
static void leave_one_unwritten(float *o, float *lse, size_t n)
{
    (void)lse;
    poisoned_index = n / 3;
    o[poisoned_index] = NAN;
}

static void assert_fails(const checked_case *k, const mutation *m, const char *what)
{
    deft_report rep = judge(k, m, NULL);
    ck_assert_msg(!rep.pass, "%s on %s passed the checker (worst %.3g x tolerance)", what,
                  k->c.workload, rep.worst_ratio);
}

static void check_case(const char *spec, int64_t hq, int64_t hkv, int64_t d, int dtype)
{
    checked_case k;
    setup(&k, spec, hq, hkv, d, dtype);
    deft_report rep = judge(&k, &NO_MUTATION, NULL);
    ck_assert_msg(rep.pass, "exact answer failed on %s: worst %.3g", spec, rep.worst_ratio);
    rep = judge(&k, &NO_MUTATION, add_ulp_noise);
    ck_assert_msg(rep.pass, "ulp noise failed on %s: worst %.3g", spec, rep.worst_ratio);
    mutation m = NO_MUTATION;
    m.round_weights = 1;
    rep = judge(&k, &m, NULL);
    ck_assert_msg(rep.pass, "weights rounded to the dtype failed on %s: worst %.3g", spec, rep.worst_ratio);

    m = NO_MUTATION, m.drop_ancestors = 1;
    assert_fails(&k, &m, "a dropped ancestor");
    m = NO_MUTATION, m.causal_shift = -1;
    assert_fails(&k, &m, "a causal boundary one short");
    m = NO_MUTATION, m.wrong_gqa = 1;
    assert_fails(&k, &m, "a wrong GQA mapping");
    m = NO_MUTATION, m.scale_factor = sqrt((double)d); /* the scale left out */
    assert_fails(&k, &m, "a dropped scale");
    m = NO_MUTATION, m.scale_factor = 1.0 + 1.0 / 64;
    assert_fails(&k, &m, "a scale 1.6% off");
    m = NO_MUTATION, m.lse_base2 = 1;
    assert_fails(&k, &m, "an LSE in base 2");
    rep = judge(&k, &NO_MUTATION, leave_one_unwritten);
    ck_assert(!rep.pass && rep.failed == 1 && rep.worst_is_nan);
    size_t row = poisoned_index / (size_t)d;
    ck_assert_int_eq(rep.first_query, (int64_t)(row / (size_t)hq));
    ck_assert_int_eq(rep.first_head, (int64_t)(row % (size_t)hq));
    ck_assert_int_eq(rep.first_dim, (int64_t)(poisoned_index % (size_t)d));
    teardown(&k);
}

START_TEST(bites_on_tot_f32) { check_case("tot", 4, 2, 16, DEFT_F32); }
END_TEST
START_TEST(bites_on_levels_bf16) { check_case("levels:1,2,4_30,20,10", 8, 2, 8, DEFT_BF16); }
END_TEST
START_TEST(bites_on_specdec_f16) { check_case("specdec", 4, 2, 16, DEFT_F16); }
END_TEST

START_TEST(causal_one_past_on_prefill)
{
    /* a query that is not its node's last token must not see the next one */
    checked_case k;
    for (int seed = 0, found = 0; found < 5 && seed < 200; seed++) {
        char spec[32];
        snprintf(spec, sizeof spec, "random:%d", seed);
        setup(&k, spec, 0, 0, 0, -1);
        int has = 0;
        for (int64_t i = 0; i < k.c.problem.tree.n_nodes; i++) has |= k.c.q_len[i] >= 2;
        if (has) {
            mutation m = NO_MUTATION;
            m.causal_shift = 1;
            assert_fails(&k, &m, "a causal boundary one past");
            found++;
        }
        teardown(&k);
        if (seed == 199) ck_assert_msg(found == 5, "too few prefill forests");
    }
}
END_TEST

START_TEST(random_sweep)
{
    /* on seeded random forests: the exact answer and rounded weights always pass, and each bug
     * that moves some element by more than 5% of its scale is always caught */
    int caught = 0;
    for (int seed = 0; seed < 80; seed++) {
        char spec[32];
        snprintf(spec, sizeof spec, "random:%d", seed);
        checked_case k;
        setup(&k, spec, 0, 0, 0, -1);
        deft_report rep = judge(&k, &NO_MUTATION, NULL);
        ck_assert_msg(rep.pass, "%s: exact answer failed (worst %.3g)", spec, rep.worst_ratio);
        mutation m = NO_MUTATION;
        m.round_weights = 1;
        rep = judge(&k, &m, NULL);
        ck_assert_msg(rep.pass, "%s: rounded weights failed (worst %.3g)", spec, rep.worst_ratio);
        const deft_problem *p = &k.c.problem;
        size_t n = out_elems(p), r = lse_elems(p);
        double *ob = malloc((n ? n : 1) * 8), *lb = malloc((r ? r : 1) * 8);
        ck_assert(ob && lb);
        for (int bug = 0; bug < 4; bug++) {
            m = NO_MUTATION;
            if (bug == 0) m.drop_ancestors = 1;
            if (bug == 1) m.causal_shift = -1;
            if (bug == 2) m.wrong_gqa = 1;
            if (bug == 3) m.scale_factor = 2;
            dense_attention(p, &m, ob, lb);
            double moved = 0;
            for (size_t i = 0; i < n; i++)
                if (k.ref.row_class[i / (size_t)p->shape.d] == DEFT_ROW_CHECKED && k.ref.o_mag[i] > 0)
                    moved = fmax(moved, fabs(ob[i] - k.ref.o[i]) / k.ref.o_mag[i]);
            if (moved > 0.05) {
                rep = judge(&k, &m, NULL);
                ck_assert_msg(!rep.pass, "%s: bug %d moved o by %.3g but passed", spec, bug, moved);
                caught++;
            }
        }
        free(ob), free(lb);
        teardown(&k);
    }
    ck_assert_msg(caught >= 100, "only %d applicable bug cases", caught);
}
END_TEST

START_TEST(infinities_and_nan_policy)
{
    /* an infinity where a finite value is due fails, in LSE and in O */
    checked_case k;
    setup(&k, "specstar", 2, 1, 4, DEFT_F32);
    const deft_problem *p = &k.c.problem;
    size_t n = out_elems(p), r = lse_elems(p);
    double *o = malloc(n * 8), *l = malloc(r * 8);
    dense_attention(p, &NO_MUTATION, o, l);
    float *of = to_f32(o, n), *lf = to_f32(l, r);
    deft_report rep;
    deft_diag diag;
    lf[3] = INFINITY;
    ck_assert_int_eq(deft_compare(&k.ref, of, lf, NULL, &rep, &diag), DEFT_OK);
    ck_assert(!rep.pass && rep.first_dim == -1 && rep.first_query == 1 && rep.first_head == 1);
    lf[3] = (float)l[3];
    of[5] = -INFINITY;
    ck_assert_int_eq(deft_compare(&k.ref, of, lf, NULL, &rep, &diag), DEFT_OK);
    ck_assert(!rep.pass);
    /* where the reference itself holds an infinity (planted here in a compared element), only
     * the same infinity passes: not the other sign, not a finite value, not NaN */
    of[5] = (float)o[5];
    double keep = k.ref.o[5];
    k.ref.o[5] = INFINITY;
    float tries[4] = {INFINITY, -INFINITY, 1.0f, NAN};
    for (int i = 0; i < 4; i++) {
        of[5] = tries[i];
        ck_assert_int_eq(deft_compare(&k.ref, of, lf, NULL, &rep, &diag), DEFT_OK);
        ck_assert_msg(rep.pass == (i == 0), "reference +inf, output %g: pass %d", tries[i], rep.pass);
    }
    k.ref.o[5] = keep;
    /* rows the reference marks non-finite are reported, not compared */
    of[5] = (float)o[5];
    k.ref.row_class[0] = DEFT_ROW_NONFINITE;
    of[0] = 12345.0f;
    ck_assert_int_eq(deft_compare(&k.ref, of, lf, NULL, &rep, &diag), DEFT_OK);
    ck_assert(rep.pass && rep.rows_nonfinite == 1);
    ck_assert_int_eq(deft_compare(NULL, of, lf, NULL, &rep, &diag), DEFT_ERR_NULL);
    free(o), free(l), free(of), free(lf);
    teardown(&k);
}
END_TEST

Suite *compare_suite(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("bites");
    tcase_add_test(tc, bites_on_tot_f32);
    tcase_add_test(tc, bites_on_levels_bf16);
    tcase_add_test(tc, bites_on_specdec_f16);
    tcase_add_test(tc, causal_one_past_on_prefill);
    tcase_add_test(tc, random_sweep);
    tcase_add_test(tc, infinities_and_nan_policy);
    suite_add_tcase(s, tc);
    return s;
}
