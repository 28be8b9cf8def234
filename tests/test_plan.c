/* test_plan.c: the DeFT plan. Exact arrays on a small tree; the coverage invariant (every
 * visible (query, token) pair in exactly one chunk, no other) on hundreds of random forests and
 * chunk sizes; the verifier rejects broken plans; building stays linear on long empty chains;
 * the LSE merge's algebra; the IO accounting by hand. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib.h"

static void build(const deft_tree *t, int64_t ct, int64_t cq, deft_plan *pl)
{
    deft_options o = {ct, cq, 0};
    deft_diag d;
    deft_status st = deft_plan_build(t, &o, pl, &d);
    ck_assert_msg(st == DEFT_OK, "plan: %s", d.message);
    st = deft_plan_verify(pl, t, &d);
    ck_assert_msg(st == DEFT_OK, "verify: %s", d.message);
}

/* root 5 tokens; A under it, 3 tokens, all queries (prefill); B under it, 2 tokens, 1 query */
static int64_t P[3] = {-1, 0, 0}, KV[3] = {5, 3, 2}, Q[3] = {0, 3, 1};
static const deft_tree SMALL = {3, P, KV, Q, NULL, 10};

START_TEST(exact_arrays_on_a_small_tree)
{
    deft_plan pl;
    build(&SMALL, 2, 0, &pl);
    ck_assert_int_eq(pl.n_chunks, 6);
    ck_assert_int_eq(pl.n_pairs, 17);
    int32_t node[6] = {0, 0, 0, 1, 1, 2}, start[6] = {0, 2, 4, 0, 2, 0}, len[6] = {2, 2, 1, 2, 1, 2};
    int32_t row[6] = {0, 2, 4, 5, 7, 8}, ps[7] = {0, 4, 8, 12, 15, 16, 17};
    for (int c = 0; c < 6; c++) {
        ck_assert_int_eq(pl.chunk_node[c], node[c]);
        ck_assert_int_eq(pl.chunk_tok_start[c], start[c]);
        ck_assert_int_eq(pl.chunk_len[c], len[c]);
        ck_assert_int_eq(pl.chunk_kv_row[c], row[c]);
    }
    for (int c = 0; c < 7; c++) ck_assert_int_eq(pl.pair_start[c], ps[c]);
    /* A's first chunk: its query at position 0 sees 1 token, the others both */
    ck_assert(pl.pair_query[12] == 0 && pl.pair_visible[12] == 1);
    ck_assert(pl.pair_query[13] == 1 && pl.pair_visible[13] == 2);
    ck_assert(pl.pair_query[14] == 2 && pl.pair_visible[14] == 2);
    ck_assert(pl.pair_query[15] == 2 && pl.pair_visible[15] == 1);
    ck_assert(pl.pair_query[16] == 3 && pl.pair_visible[16] == 2);
    /* reduction: query 2 merges root chunks 0,1,2 then A's 3,4; query 3 root then B's 5 */
    int32_t r2[5] = {2, 6, 10, 14, 15}, r3[4] = {3, 7, 11, 16};
    ck_assert_int_eq(pl.red_start[2], 8); /* query 0: 3 root chunks + A0; query 1 the same */
    for (int i = 0; i < 5; i++) ck_assert_int_eq(pl.red_pair[pl.red_start[2] + i], r2[i]);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(pl.red_pair[pl.red_start[3] + i], r3[i]);
    ck_assert_int_eq(pl.max_chunk_len, 2);
    ck_assert_int_eq(pl.max_chunk_pairs, 4);
    deft_plan_free(&pl);
    /* bounded queries: the root's chunks are split into slices of 2 queries */
    build(&SMALL, 2, 2, &pl);
    ck_assert_int_eq(pl.n_chunks, 3 * 2 + 2 + 1 + 1);
    ck_assert_int_eq(pl.n_pairs, 17);
    ck_assert_int_eq(pl.max_chunk_pairs, 2);
    deft_plan_free(&pl);
}
END_TEST

START_TEST(even_splitting)
{
    /* 1000 tokens in chunks of at most 256: four chunks of 250 */
    int64_t p[2] = {-1, 0}, kv[2] = {1000, 1}, q[2] = {0, 1};
    deft_tree t = {2, p, kv, q, NULL, 1001};
    deft_plan pl;
    build(&t, 256, 0, &pl);
    ck_assert_int_eq(pl.n_chunks, 5);
    for (int c = 0; c < 4; c++) ck_assert_int_eq(pl.chunk_len[c], 250);
    deft_plan_free(&pl);
    /* a node no query reads costs nothing */
    int64_t p2[3] = {-1, 0, -1}, kv2[3] = {10, 4, 7}, q2[3] = {0, 1, 0};
    deft_tree t2 = {3, p2, kv2, q2, NULL, 21};
    build(&t2, 4, 0, &pl);
    for (int c = 0; c < pl.n_chunks; c++) ck_assert_int_ne(pl.chunk_node[c], 2);
    deft_plan_free(&pl);
}
END_TEST

START_TEST(invariants_on_random_forests)
{
    static const int64_t sizes[][2] = {{256, 0}, {1, 0}, {2, 1}, {3, 2}, {7, 3}, {16, 0}, {5, 1}};
    for (int seed = 0; seed < 400; seed++) {
        char spec[32];
        snprintf(spec, sizeof spec, "random:%d", seed);
        deft_case c;
        gen_small(&c, spec, 1, 1, 1, DEFT_F32);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            deft_plan pl;
            build(&c.problem.tree, sizes[k][0], sizes[k][1], &pl);
            deft_plan_free(&pl);
        }
        deft_case_free(&c);
    }
    static const char *const std[] = {"fewshot", "fewshot50", "tot", "specstar", "specdec", "wide",
                                      "levels:1,2,4,8,16,32,64,128,1024_16,16,16,16,16,16,16,16,16", NULL};
    for (int i = 0; std[i]; i++) {
        deft_case c;
        gen_small(&c, std[i], 1, 1, 1, DEFT_F32);
        deft_plan pl;
        build(&c.problem.tree, 0, 0, &pl);
        deft_plan_free(&pl);
        build(&c.problem.tree, 100, 16, &pl);
        deft_plan_free(&pl);
        deft_case_free(&c);
    }
}
END_TEST

START_TEST(verifier_rejects_broken_plans)
{
    deft_plan pl;
    deft_diag d;
    for (int bug = 0; bug < 6; bug++) {
        build(&SMALL, 2, 0, &pl);
        switch (bug) {
        case 0: pl.pair_visible[12] = 2; break;              /* causal boundary one past */
        case 1: pl.red_pair[pl.red_start[3] + 1] = 3; break; /* a chunk merged twice */
        case 2: pl.red_start[1]++; break;                    /* a query loses a chunk */
        case 3: pl.chunk_tok_start[1] = 1, pl.chunk_kv_row[1] = 1; break; /* overlapping chunks */
        case 4: pl.pair_query[5] = 3; break;                 /* a pair given to another query */
        case 5: pl.chunk_kv_row[5] = 7; break;               /* reads the wrong rows */
        }
        ck_assert_msg(deft_plan_verify(&pl, &SMALL, &d) == DEFT_ERR_INTERNAL, "bug %d passed", bug);
        deft_plan_free(&pl);
    }
}
END_TEST

START_TEST(linear_on_long_chains_and_wide_stars)
{
    /* 400000 empty nodes in a chain, then a node of 4000 tokens that are all queries: a walk
     * over every ancestor per query would take 1.6e9 steps; the plan skips empty ancestors */
    int64_t n = 400001;
    int64_t *p = malloc((size_t)n * 8), *kv = calloc((size_t)n, 8), *q = calloc((size_t)n, 8);
    ck_assert(p && kv && q);
    for (int64_t i = 0; i < n; i++) p[i] = i - 1;
    kv[n - 1] = q[n - 1] = 4000;
    kv[0] = 10;
    deft_tree t = {n, p, kv, q, NULL, 4010};
    deft_plan pl;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    deft_options o = {256, 0, 0};
    deft_diag d;
    ck_assert_int_eq(deft_plan_build(&t, &o, &pl, &d), DEFT_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    ck_assert_msg(secs < 1.0, "plan build took %.3f s", secs); /* linear: a few ms */
    ck_assert_int_eq(pl.n_queries, 4000);
    deft_plan_free(&pl);
    /* the wide star: a root of 10 tokens and 400000 one-token leaves, each a query. Pairs are
     * 2 per query (root chunk, own token); anything that walks the siblings per query would take
     * 1.6e11 steps */
    for (int64_t i = 0; i < n; i++) p[i] = i ? 0 : -1, kv[i] = i ? 1 : 10, q[i] = i ? 1 : 0;
    deft_tree star = {n, p, kv, q, NULL, 10 + n - 1};
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(deft_plan_build(&star, &o, &pl, &d), DEFT_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    ck_assert_msg(secs < 1.0, "star plan build took %.3f s", secs);
    ck_assert_int_eq(pl.n_queries, n - 1);
    ck_assert_int_eq(pl.n_pairs, 2 * (n - 1));
    deft_plan_free(&pl);
    free(p), free(kv), free(q);
}
END_TEST

START_TEST(bad_input)
{
    deft_plan pl;
    deft_diag d;
    int64_t p[1] = {3}, kv[1] = {1}, q[1] = {1};
    deft_tree t = {1, p, kv, q, NULL, 1};
    ck_assert_int_eq(deft_plan_build(&t, NULL, &pl, &d), DEFT_ERR_BAD_PARENT);
    ck_assert_int_eq(deft_plan_build(&SMALL, NULL, NULL, &d), DEFT_ERR_NULL);
    deft_options o = {-1, 0, 0};
    ck_assert_int_eq(deft_plan_build(&SMALL, &o, &pl, &d), DEFT_ERR_ARG);
    int64_t kv2[1] = {INT64_C(1) << 33}, p2[1] = {-1}, q2[1] = {0};
    deft_tree big = {1, p2, kv2, q2, NULL, INT64_C(1) << 33};
    ck_assert_int_eq(deft_plan_build(&big, NULL, &pl, &d), DEFT_ERR_OVERFLOW);
    deft_plan_free(&pl); /* safe on a zeroed plan */
}
END_TEST

/* A partial state of one query over tokens [a, b) of a small fixed problem, in float. */
static void partial(const double *s, const float *v, int a, int b, float *o, float *lse)
{
    double m = -INFINITY, l = 0, acc = 0;
    for (int j = a; j < b; j++) m = fmax(m, s[j]);
    for (int j = a; j < b; j++) l += exp(s[j] - m), acc += exp(s[j] - m) * v[j];
    *o = (float)(acc / l);
    *lse = (float)(m + log(l));
}

START_TEST(merge_algebra)
{
    float o[1], l, ob[1], lb;
    /* identity both ways, exactly */
    o[0] = 3.5f, l = 2.25f;
    deft_merge(o, &l, (float[]){99.0f}, -INFINITY, 1);
    ck_assert(o[0] == 3.5f && l == 2.25f);
    float e[1] = {0}, le = -INFINITY;
    deft_merge(e, &le, o, l, 1);
    ck_assert(e[0] == 3.5f && le == 2.25f);
    /* empty with empty stays empty, no NaN */
    float z[1] = {0}, lz = -INFINITY;
    deft_merge(z, &lz, (float[]){0.0f}, -INFINITY, 1);
    ck_assert(z[0] == 0.0f && lz == -INFINITY);
    /* the double-state variant: same identity and emptiness rules */
    double od[1] = {0}, ld = -INFINITY;
    deft_merge_f64(od, &ld, (float[]){3.5f}, 2.25, 1);
    ck_assert(od[0] == 3.5 && ld == 2.25);
    deft_merge_f64(od, &ld, (float[]){99.0f}, -INFINITY, 1);
    ck_assert(od[0] == 3.5 && ld == 2.25);
    deft_merge_f64(od, &ld, (float[]){1.5f}, 2.25, 1);
    ck_assert(od[0] == 2.5 && fabs(ld - (2.25 + log(2.0))) < 1e-15);
    /* large magnitudes: no overflow, the dominant side wins */
    o[0] = 1, l = 1e30f, ob[0] = 7, lb = -1e30f;
    deft_merge(o, &l, ob, lb, 1);
    ck_assert(o[0] == 1.0f && l == 1e30f);
    o[0] = 1, l = 80.0f, ob[0] = 2, lb = 80.0f;
    deft_merge(o, &l, ob, lb, 1);
    ck_assert(fabsf(o[0] - 1.5f) <= 1e-6f && fabsf(l - (80.0f + logf(2.0f))) <= 1e-5f);
    /* commutative bit for bit, associative to rounding, and equal to attention over the union */
    double s[12];
    float v[12];
    unsigned x = 7;
    for (int trial = 0; trial < 2000; trial++) {
        for (int j = 0; j < 12; j++) {
            x = x * 1103515245u + 12345u;
            s[j] = ((double)(x >> 8) / (1 << 24) - 0.5) * (trial % 3 == 0 ? 400 : 8);
            x = x * 1103515245u + 12345u;
            v[j] = (float)((double)(x >> 8) / (1 << 24) - 0.5);
        }
        float oa, la, obb, lbb, oc, lc;
        partial(s, v, 0, 4, &oa, &la);
        partial(s, v, 4, 9, &obb, &lbb);
        partial(s, v, 9, 12, &oc, &lc);
        float ab = oa, lab = la, ba = obb, lba = lbb;
        deft_merge(&ab, &lab, &obb, lbb, 1);
        deft_merge(&ba, &lba, &oa, la, 1);
        ck_assert(memcmp(&ab, &ba, 4) == 0 && memcmp(&lab, &lba, 4) == 0);
        float left = ab, lleft = lab;           /* (a b) c */
        deft_merge(&left, &lleft, &oc, lc, 1);
        float bc = obb, lbc = lbb, right = oa, lright = la; /* a (b c) */
        deft_merge(&bc, &lbc, &oc, lc, 1);
        deft_merge(&right, &lright, &bc, lbc, 1);
        float all, lall;
        partial(s, v, 0, 12, &all, &lall);
        /* a merge turns the partial LSEs' rounding (|lse| ulp) into relative weight error, so
         * the bound scales with the LSE magnitude, as the tolerance model's anchor does */
        float mag = 1 + fmaxf(fabsf(la), fmaxf(fabsf(lbb), fabsf(lc)));
        float tol = 8 * FLT_EPSILON * mag;
        ck_assert_msg(fabsf(left - right) <= tol && fabsf(lleft - lright) <= tol,
                      "trial %d: %a vs %a", trial, left, right);
        ck_assert_msg(fabsf(left - all) <= tol && fabsf(lleft - lall) <= tol,
                      "trial %d: merged %a, union %a", trial, left, all);
        /* the double running state the CPU reduction keeps: from empty, a then b then c, and
         * c then b then a, agree with each other to double rounding and with the union to the
         * partials' own float rounding (their O and LSE were stored as float) */
        double fwd = 0, lfwd = -INFINITY, bwd = 0, lbwd = -INFINITY;
        deft_merge_f64(&fwd, &lfwd, &oa, la, 1);
        deft_merge_f64(&fwd, &lfwd, &obb, lbb, 1);
        deft_merge_f64(&fwd, &lfwd, &oc, lc, 1);
        deft_merge_f64(&bwd, &lbwd, &oc, lc, 1);
        deft_merge_f64(&bwd, &lbwd, &obb, lbb, 1);
        deft_merge_f64(&bwd, &lbwd, &oa, la, 1);
        double tol64 = 16 * DBL_EPSILON * mag;
        ck_assert_msg(fabs(fwd - bwd) <= tol64 && fabs(lfwd - lbwd) <= tol64,
                      "trial %d: double state, order changed %a vs %a", trial, fwd, bwd);
        ck_assert_msg(fabs(fwd - all) <= tol && fabs(lfwd - lall) <= tol,
                      "trial %d: double state %a, union %a", trial, fwd, all);
    }
}
END_TEST

START_TEST(io_accounting_by_hand)
{
    /* root of 4 tokens, two children of 1 token with a query each; Hq 2, Hkv 1, D 2, f32 */
    int64_t p[3] = {-1, 0, 0}, kv[3] = {4, 1, 1}, q[3] = {0, 1, 1};
    deft_tree t = {3, p, kv, q, NULL, 6};
    deft_shape s = {2, 1, 2, 0.0, DEFT_F32};
    deft_plan pl;
    build(&t, 256, 0, &pl);
    deft_io io;
    deft_diag d;
    ck_assert_int_eq(deft_io_account(&t, &s, &pl, &io, &d), DEFT_OK);
    /* a token's K and V: 2 x Hkv x D x 4 bytes = 16 */
    ck_assert(io.deft.kv_read == 6 * 16 && io.deft.q_read == 4 * 2 * 2 * 4);
    ck_assert(io.deft.partial_write == 4 * 2 * 3 * 4 && io.deft.partial_read == 96);
    ck_assert(io.deft.out_write == 2 * 2 * 3 * 4);
    ck_assert(io.seq.kv_read == 10 * 16 && io.seq.q_read == 2 * 2 * 2 * 4 && io.seq.partial_read == 0);
    ck_assert(io.mask.kv_read == 6 * 16 && io.mask.mask_read == 2 * 6);
    ck_assert(io.visible_pairs == 2 * 5 * 2);
    ck_assert(deft_io_total(&io.seq) == 160 + 32 + 48);
    deft_plan_free(&pl);
}
END_TEST

Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, exact_arrays_on_a_small_tree);
    tcase_add_test(tc, even_splitting);
    tcase_add_test(tc, invariants_on_random_forests);
    tcase_add_test(tc, verifier_rejects_broken_plans);
    tcase_add_test(tc, linear_on_long_chains_and_wide_stars);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, merge_algebra);
    tcase_add_test(tc, io_accounting_by_hand);
    suite_add_tcase(s, tc);
    return s;
}
