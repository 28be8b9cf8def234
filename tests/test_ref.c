/* test_ref.c: the reference on hand-made cases with exact expected values, against the dense
 * masked attention on many seeded forests and the standard workload topologies, and the
 * non-finite-input definition of docs/semantics.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

/* Runs the reference (f32 outputs), failing the test on a non-OK status. */
static void run_ref(const deft_problem *p, float *o, float *lse)
{
    deft_diag d;
    deft_status st = deft_ref_attention(p, o, lse, &d);
    ck_assert_msg(st == DEFT_OK, "ref: %s", d.message);
}

START_TEST(single_token_is_exact)
{
    /* one node, one token, one query: o = v, lse = scale * q.k = 0.5 * 2 = 1 */
    int64_t par[1] = {-1}, kv[1] = {1}, q[1] = {1};
    float qd[2] = {1, 0}, kd[2] = {2, 7}, vd[2] = {0.375f, -3};
    deft_problem p = {{1, par, kv, q, NULL, 1}, {1, 1, 2, 0.5, DEFT_F32}, qd, kd, vd};
    float o[2], lse[1];
    run_ref(&p, o, lse);
    ck_assert(o[0] == 0.375f && o[1] == -3.0f);
    ck_assert(lse[0] == 1.0f);
    /* default scale 1/sqrt(4) = 0.5 exactly */
    float q4[4] = {1, 1, 0, 0}, k4[4] = {1, 1, 5, 5}, v4[4] = {1, 2, 3, 4};
    deft_problem p4 = {{1, par, kv, q, NULL, 1}, {1, 1, 4, 0.0, DEFT_F32}, q4, k4, v4};
    float o4[4];
    run_ref(&p4, o4, lse);
    ck_assert(lse[0] == 1.0f);
    ck_assert(o4[3] == 4.0f);
}
END_TEST

START_TEST(tree_with_equal_scores_is_a_mean)
{
    /* root of 3 tokens, two children of 1 token, a query in each child. k = 0 makes every score
     * 0, so o is the mean of the 4 visible v and lse = ln 4; all exact in binary. */
    int64_t par[3] = {-1, 0, 0}, kv[3] = {3, 1, 1}, q[3] = {0, 1, 1};
    float qd[2] = {3, -1}, kd[5] = {0}, vd[5] = {1, 2, 4, 9, -7};
    deft_problem p = {{3, par, kv, q, NULL, 5}, {1, 1, 1, 0.0, DEFT_F32}, qd, kd, vd};
    float o[2], lse[2];
    run_ref(&p, o, lse);
    ck_assert(o[0] == (1 + 2 + 4 + 9) / 4.0f);
    ck_assert(o[1] == (1 + 2 + 4 - 7) / 4.0f);
    ck_assert(lse[0] == (float)log(4.0) && lse[1] == (float)log(4.0));
}
END_TEST

START_TEST(causal_inside_a_node)
{
    /* prefill: 4 tokens, 4 queries; query p sees tokens 0..p, all scores 0 */
    int64_t par[1] = {-1}, kv[1] = {4}, q[1] = {4};
    float qd[4] = {1, 1, 1, 1}, kd[4] = {0}, vd[4] = {1, 3, 2, 6};
    deft_problem p = {{1, par, kv, q, NULL, 4}, {1, 1, 1, 0.0, DEFT_F32}, qd, kd, vd};
    float o[4], lse[4];
    run_ref(&p, o, lse);
    ck_assert(o[0] == 1 && o[1] == 2 && o[2] == 2 && o[3] == 3);
    ck_assert(lse[0] == 0.0f && lse[3] == (float)log(4.0));
}
END_TEST

START_TEST(gqa_head_mapping)
{
    /* Hq 4, Hkv 2: query heads 0,1 read KV head 0 and heads 2,3 read KV head 1. One token, so
     * o is exactly the v of the mapped KV head. */
    int64_t par[1] = {-1}, kv[1] = {1}, q[1] = {1};
    float qd[4] = {1, 1, 1, 1}, kd[2] = {1, 1}, vd[2] = {10, 20};
    deft_problem p = {{1, par, kv, q, NULL, 1}, {4, 2, 1, 0.0, DEFT_F32}, qd, kd, vd};
    float o[4], lse[4];
    run_ref(&p, o, lse);
    ck_assert(o[0] == 10 && o[1] == 10 && o[2] == 20 && o[3] == 20);
}
END_TEST

START_TEST(f16_inputs_widen_exactly)
{
    /* the same exact case stored as f16 and bf16 gives the same bits */
    int64_t par[3] = {-1, 0, 0}, kv[3] = {3, 1, 1}, q[3] = {0, 1, 1};
    float vf[5] = {1, 2, 4, 9, -7};
    uint16_t qh[2], kh[5], vh[5], qb[2], kb[5], vb[5];
    for (int i = 0; i < 5; i++) {
        kh[i] = deft_f32_to_f16(0.0f);
        kb[i] = deft_f32_to_bf16(0.0f);
        vh[i] = deft_f32_to_f16(vf[i]);
        vb[i] = deft_f32_to_bf16(vf[i]);
    }
    qh[0] = qh[1] = deft_f32_to_f16(1.5f);
    qb[0] = qb[1] = deft_f32_to_bf16(1.5f);
    float o[2], lse[2], ob[2], lb[2];
    deft_problem p = {{3, par, kv, q, NULL, 5}, {1, 1, 1, 0.0, DEFT_F16}, qh, kh, vh};
    run_ref(&p, o, lse);
    p.shape.dtype = DEFT_BF16;
    p.q = qb, p.k = kb, p.v = vb;
    run_ref(&p, ob, lb);
    ck_assert(o[0] == 4.0f && ob[0] == 4.0f && o[1] == 0.0f && ob[1] == 0.0f);
}
END_TEST

/* Reference (double) against dense masked attention on a generated case. */
static void compare_with_dense(const char *spec, int64_t hq, int64_t hkv, int64_t d, int dtype)
{
    deft_case c;
    gen_small(&c, spec, hq, hkv, d, dtype);
    size_t n = out_elems(&c.problem), r = lse_elems(&c.problem);
    double *o = malloc((n ? n : 1) * 8), *l = malloc((r ? r : 1) * 8);
    double *od = malloc((n ? n : 1) * 8), *ld = malloc((r ? r : 1) * 8);
    ck_assert(o && l && od && ld);
    deft_diag diag;
    ck_assert_int_eq(deft_ref_attention_f64(&c.problem, o, l, &diag), DEFT_OK);
    dense_attention(&c.problem, &NO_MUTATION, od, ld);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(o[i] - od[i]) <= 1e-12 * (1 + fabs(od[i])), "%s: o[%zu] %.17g vs %.17g",
                      spec, i, o[i], od[i]);
    for (size_t i = 0; i < r; i++)
        ck_assert_msg(fabs(l[i] - ld[i]) <= 1e-12 * (1 + fabs(ld[i])), "%s: lse[%zu]", spec, i);
    free(o), free(l), free(od), free(ld);
    deft_case_free(&c);
}

START_TEST(matches_dense_on_random_forests)
{
    char spec[32];
    for (int seed = 0; seed < 150; seed++) {
        snprintf(spec, sizeof spec, "random:%d", seed);
        compare_with_dense(spec, 0, 0, 0, -1);
    }
}
END_TEST

START_TEST(matches_dense_on_standard_topologies)
{
    static const char *const specs[] = {"fewshot", "tot", "specstar", "specdec",
                                        "levels:1,2,4_30,20,10", "levels:4,16_8,3",
                                        "levels:256_5", NULL};
    for (int i = 0; specs[i]; i++) compare_with_dense(specs[i], 4, 2, 3, i % 3);
}
END_TEST

START_TEST(storage_order_does_not_matter)
{
    /* the same forest with packed offsets and with nodes stored in reverse: identical bits */
    int64_t par[4] = {-1, 0, 1, 0}, kv[4] = {3, 2, 2, 1}, q[4] = {0, 1, 2, 1}, off[4] = {5, 3, 1, 0};
    float qd[4 * 2 * 3], kd[8 * 1 * 3], vd[8 * 1 * 3], kr[8 * 3], vr[8 * 3];
    for (int i = 0; i < 24; i++) qd[i] = (float)((i * 7) % 11) / 4 - 1;
    for (int i = 0; i < 24; i++) kd[i] = (float)((i * 5) % 13) / 8 - 0.75f, vd[i] = (float)(i % 9) - 4;
    int64_t packed[4] = {0, 3, 5, 7};
    for (int node = 0; node < 4; node++)
        for (int j = 0; j < kv[node]; j++)
            for (int x = 0; x < 3; x++) {
                kr[(off[node] + j) * 3 + x] = kd[(packed[node] + j) * 3 + x];
                vr[(off[node] + j) * 3 + x] = vd[(packed[node] + j) * 3 + x];
            }
    deft_problem a = {{4, par, kv, q, NULL, 8}, {2, 1, 3, 0.0, DEFT_F32}, qd, kd, vd};
    deft_problem b = {{4, par, kv, q, off, 8}, {2, 1, 3, 0.0, DEFT_F32}, qd, kr, vr};
    float oa[24], la[8], ob[24], lb[8];
    run_ref(&a, oa, la);
    run_ref(&b, ob, lb);
    ck_assert(memcmp(oa, ob, sizeof oa) == 0 && memcmp(la, lb, sizeof la) == 0);
}
END_TEST

START_TEST(nonfinite_inputs_poison_only_their_rows)
{
    /* tot-shaped forest; put a NaN in one K value of node 5 (a level-2 thought), an infinity in a
     * V value of node 40 (a generating leaf) and a NaN in one q row. Exactly the rows that read
     * them turn NaN; every other row keeps its bits. */
    deft_case c;
    gen_small(&c, "tot", 4, 2, 3, DEFT_F32);
    deft_problem *p = &c.problem;
    size_t n = out_elems(p), r = lse_elems(p);
    float *o0 = malloc(n * 4), *l0 = malloc(r * 4), *o1 = malloc(n * 4), *l1 = malloc(r * 4);
    ck_assert(o0 && l0 && o1 && l1);
    run_ref(p, o0, l0);
    float *k = c.k, *v = c.v, *q = c.q;
    int64_t off5 = deft_tree_kv_offset(&p->tree, 5), off40 = deft_tree_kv_offset(&p->tree, 40);
    k[((off5 + 7) * 2 + 1) * 3 + 2] = NAN;     /* node 5, token 7, KV head 1 */
    v[((off40 + 99) * 2 + 0) * 3 + 0] = INFINITY; /* node 40, its last token, KV head 0 */
    q[(11 * 4 + 2) * 3 + 1] = NAN;             /* query 11, head 2 */
    run_ref(p, o1, l1);
    /* node 5 is under node 1 (level 1) -> its frontier descendants are nodes 13+3*(5-4)..;
     * decide visibility by walking parents instead of by hand */
    int64_t qi = 0;
    for (int64_t u = 0; u < p->tree.n_nodes; u++)
        for (int64_t k2 = 0; k2 < p->tree.q_len[u]; k2++, qi++)
            for (int64_t h = 0; h < 4; h++) {
                int under5 = 0;
                for (int64_t a = u; a >= 0; a = p->tree.parent[a]) under5 |= a == 5;
                int poisoned = (under5 && h / 2 == 1) || (u == 40 && h / 2 == 0) || (qi == 11 && h == 2);
                size_t row = (size_t)(qi * 4 + h);
                if (poisoned) {
                    ck_assert_msg(isnan(l1[row]), "row %zu should be NaN", row);
                    for (int x = 0; x < 3; x++) ck_assert(isnan(o1[row * 3 + x]));
                } else {
                    ck_assert_msg(memcmp(&l0[row], &l1[row], 4) == 0, "row %zu changed", row);
                    ck_assert(memcmp(&o0[row * 3], &o1[row * 3], 12) == 0);
                }
            }
    free(o0), free(l0), free(o1), free(l1);
    deft_case_free(&c);
}
END_TEST

START_TEST(masked_nonfinite_tokens_are_invisible)
{
    /* a NaN in a token after a query's position in its own node, or in a sibling, changes
     * nothing for that query */
    int64_t par[2] = {-1, -1}, kv[2] = {3, 2}, q[2] = {2, 1};
    float qd[3] = {1, 2, 3}, kd[5] = {1, 2, NAN, 1, 1}, vd[5] = {1, 2, INFINITY, 4, 5};
    deft_problem p = {{2, par, kv, q, NULL, 5}, {1, 1, 1, 0.0, DEFT_F32}, qd, kd, vd};
    float o[3], lse[3];
    run_ref(&p, o, lse);
    /* query 0 is node 0's token 1: sees tokens 0, 1 only */
    ck_assert(isfinite(o[0]) && isfinite(lse[0]));
    ck_assert(isnan(o[1]) && isnan(lse[1])); /* token 2 itself */
    ck_assert(isfinite(o[2]) && isfinite(lse[2])); /* node 1, a separate root */
}
END_TEST

START_TEST(empty_and_queryless)
{
    deft_tree none = {0, NULL, NULL, NULL, NULL, 0};
    deft_problem p = {none, {1, 1, 1, 0.0, DEFT_F32}, NULL, NULL, NULL};
    deft_diag d;
    ck_assert_int_eq(deft_ref_attention(&p, NULL, NULL, &d), DEFT_OK);
    int64_t par[2] = {-1, 0}, kv[2] = {0, 0}, q[2] = {0, 0};
    deft_problem e = {{2, par, kv, q, NULL, 0}, {1, 1, 1, 0.0, DEFT_F32}, NULL, NULL, NULL};
    ck_assert_int_eq(deft_ref_attention(&e, NULL, NULL, &d), DEFT_OK);
    /* queries but no output buffer: a status, not a crash */
    int64_t kv1[1] = {1}, q1[1] = {1}, par1[1] = {-1};
    float x[1] = {1};
    deft_problem f = {{1, par1, kv1, q1, NULL, 1}, {1, 1, 1, 0.0, DEFT_F32}, x, x, x};
    ck_assert_int_eq(deft_ref_attention(&f, NULL, NULL, &d), DEFT_ERR_NULL);
}
END_TEST

Suite *ref_suite(void)
{
    Suite *s = suite_create("ref");
    TCase *tc = tcase_create("exact");
    tcase_add_test(tc, single_token_is_exact);
    tcase_add_test(tc, tree_with_equal_scores_is_a_mean);
    tcase_add_test(tc, causal_inside_a_node);
    tcase_add_test(tc, gqa_head_mapping);
    tcase_add_test(tc, f16_inputs_widen_exactly);
    tcase_add_test(tc, storage_order_does_not_matter);
    tcase_add_test(tc, empty_and_queryless);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("dense");
    tcase_add_test(td, matches_dense_on_random_forests);
    tcase_add_test(td, matches_dense_on_standard_topologies);
    suite_add_tcase(s, td);
    TCase *tn = tcase_create("nonfinite");
    tcase_add_test(tn, nonfinite_inputs_poison_only_their_rows);
    tcase_add_test(tn, masked_nonfinite_tokens_are_invisible);
    suite_add_tcase(s, tn);
    return s;
}
