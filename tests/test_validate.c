/* test_validate.c: every bad-input class gets its own status, and the diagnostic names the
 * offending node or field; valid corner cases (empty forest, empty nodes, gaps) pass. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "testlib.h"

/* A 5-node tree: 0 root (4 tokens), 1 and 2 under 0, 3 under 1, 4 under 2; queries at 3 and 4. */
static int64_t par[5], kvl[5], ql[5], off[5];

static deft_tree base_tree(void)
{
    int64_t p[5] = {-1, 0, 0, 1, 2}, k[5] = {4, 2, 2, 1, 1}, q[5] = {0, 0, 0, 1, 1};
    memcpy(par, p, sizeof p);
    memcpy(kvl, k, sizeof k);
    memcpy(ql, q, sizeof q);
    return (deft_tree){5, par, kvl, ql, NULL, 10};
}

static void expect(const deft_tree *t, deft_status want, int64_t node, const char *needle)
{
    deft_diag d;
    deft_status st = deft_tree_validate(t, &d);
    ck_assert_msg(st == want, "got %s (%s), want %s", deft_status_name(st), d.message,
                  deft_status_name(want));
    ck_assert_int_eq(d.status, want);
    if (node >= 0) ck_assert_int_eq(d.node, node);
    if (needle) ck_assert_msg(strstr(d.message, needle), "'%s' lacks '%s'", d.message, needle);
}

START_TEST(valid_trees)
{
    deft_tree t = base_tree();
    expect(&t, DEFT_OK, -1, NULL);
    deft_tree empty = {0, NULL, NULL, NULL, NULL, 0};
    expect(&empty, DEFT_OK, -1, NULL);
    kvl[2] = 0; /* an empty inner node */
    ql[2] = 0;
    t.total_kv = 8;
    expect(&t, DEFT_OK, -1, NULL);
    /* given offsets in shuffled order with gaps, and an empty node anywhere */
    int64_t o[5] = {20, 0, 24, 10, 14}; /* the empty node may sit at the very end */
    memcpy(off, o, sizeof o);
    t.kv_offset = off;
    t.total_kv = 24;
    expect(&t, DEFT_OK, -1, NULL);
}
END_TEST

START_TEST(null_pointers)
{
    expect(NULL, DEFT_ERR_NULL, -1, NULL);
    deft_tree t = base_tree();
    t.parent = NULL;
    expect(&t, DEFT_ERR_NULL, -1, "parent");
    t = base_tree();
    t.q_len = NULL;
    expect(&t, DEFT_ERR_NULL, -1, "q_len");
}
END_TEST

START_TEST(bad_parent)
{
    deft_tree t = base_tree();
    par[3] = 5;
    expect(&t, DEFT_ERR_BAD_PARENT, 3, "node 3");
    par[3] = 3; /* itself */
    expect(&t, DEFT_ERR_BAD_PARENT, 3, "node 3");
    par[3] = -2;
    expect(&t, DEFT_ERR_BAD_PARENT, 3, "parent -2");
    par[3] = 4; /* after it */
    expect(&t, DEFT_ERR_BAD_PARENT, 3, NULL);
}
END_TEST

START_TEST(bad_lengths)
{
    deft_tree t = base_tree();
    kvl[2] = -1;
    expect(&t, DEFT_ERR_NEGATIVE_LEN, 2, "kv_len");
    t = base_tree();
    ql[1] = -3;
    expect(&t, DEFT_ERR_NEGATIVE_LEN, 1, "q_len");
    t = base_tree();
    ql[4] = 2;
    expect(&t, DEFT_ERR_QLEN_GT_KVLEN, 4, "node 4");
    t = base_tree();
    t.n_nodes = -1;
    expect(&t, DEFT_ERR_NODE_COUNT, -1, NULL);
}
END_TEST

START_TEST(overflowing_counts)
{
    deft_tree t = base_tree();
    kvl[0] = INT64_MAX;
    kvl[1] = INT64_MAX;
    t.total_kv = INT64_MAX;
    expect(&t, DEFT_ERR_OVERFLOW, 1, NULL);
    /* a K tensor whose element count overflows size_t */
    deft_tree empty = {0, NULL, NULL, NULL, NULL, INT64_C(1) << 62};
    deft_problem p = {empty, {32, 8, 128, 0.0, DEFT_F32}, NULL, NULL, NULL};
    deft_diag d;
    ck_assert_int_eq(deft_problem_validate(&p, &d), DEFT_ERR_OVERFLOW);
    ck_assert_ptr_nonnull(strstr(d.message, "k, v"));
    deft_shape s = {INT64_C(1) << 40, 1, INT64_C(1) << 40, 0.0, DEFT_F32};
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_ERR_OVERFLOW);
}
END_TEST

START_TEST(kv_offsets)
{
    deft_tree t = base_tree();
    t.total_kv = 9; /* packed needs 10 */
    expect(&t, DEFT_ERR_KV_RANGE, 4, "node 4");
    t.total_kv = -1;
    expect(&t, DEFT_ERR_KV_RANGE, -1, "total_kv");
    int64_t o[5] = {0, 4, 6, 8, 9};
    memcpy(off, o, sizeof o);
    t.kv_offset = off;
    t.total_kv = 10;
    expect(&t, DEFT_OK, -1, NULL);
    off[2] = -1;
    expect(&t, DEFT_ERR_KV_RANGE, 2, "node 2");
    off[2] = 9; /* 9..10 runs past total_kv */
    expect(&t, DEFT_ERR_KV_RANGE, 2, NULL);
    off[2] = INT64_MAX; /* offset + length overflows */
    expect(&t, DEFT_ERR_KV_RANGE, 2, NULL);
    off[2] = 5; /* rows 5..6 overlap node 1's 4..5 */
    expect(&t, DEFT_ERR_KV_OVERLAP, 2, "node 1");
    off[2] = 6;
    off[4] = 8; /* node 4 on node 3's row */
    expect(&t, DEFT_ERR_KV_OVERLAP, 4, "node 3");
    kvl[3] = 0; /* an empty node overlaps nothing */
    ql[3] = 0;
    expect(&t, DEFT_OK, -1, NULL);
}
END_TEST

START_TEST(bad_shapes)
{
    deft_diag d;
    deft_shape s = {32, 8, 128, 0.0, DEFT_F32};
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_OK);
    s.hkv = 6;
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_ERR_HEADS);
    ck_assert_ptr_nonnull(strstr(d.message, "32:6"));
    s.hkv = 0;
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_ERR_HEADS);
    s = (deft_shape){32, 8, 0, 0.0, DEFT_F32};
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_ERR_DIM);
    s = (deft_shape){32, 8, 128, 0.0, (deft_dtype)7};
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_ERR_DTYPE);
    s = (deft_shape){32, 8, 128, NAN, DEFT_F32};
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_ERR_SCALE);
    s.scale = INFINITY;
    ck_assert_int_eq(deft_shape_validate(&s, &d), DEFT_ERR_SCALE);
    ck_assert_int_eq(deft_shape_validate(NULL, &d), DEFT_ERR_NULL);
}
END_TEST

START_TEST(problem_data_pointers)
{
    deft_tree t = base_tree();
    float buf[64];
    deft_problem p = {t, {2, 1, 2, 0.0, DEFT_F32}, buf, buf, buf};
    deft_diag d;
    ck_assert_int_eq(deft_problem_validate(&p, &d), DEFT_OK);
    p.q = NULL;
    ck_assert_int_eq(deft_problem_validate(&p, &d), DEFT_ERR_NULL);
    ck_assert_ptr_nonnull(strstr(d.message, "q is NULL"));
    p.q = buf;
    p.v = NULL;
    ck_assert_int_eq(deft_problem_validate(&p, &d), DEFT_ERR_NULL);
    ck_assert_ptr_nonnull(strstr(d.message, "v is NULL"));
    ck_assert_int_eq(deft_problem_validate(NULL, &d), DEFT_ERR_NULL);
    /* no queries and no KV: no tensor is needed */
    deft_tree none = {0, NULL, NULL, NULL, NULL, 0};
    deft_problem e = {none, {2, 1, 2, 0.0, DEFT_F32}, NULL, NULL, NULL};
    ck_assert_int_eq(deft_problem_validate(&e, &d), DEFT_OK);
    /* the reference validates too, and never crashes on bad input */
    float o[8], l[4];
    p.v = buf;
    par[2] = 7;
    ck_assert_int_eq(deft_ref_attention(&p, o, l, &d), DEFT_ERR_BAD_PARENT);
    ck_assert_int_eq(d.node, 2);
}
END_TEST

START_TEST(status_strings)
{
    for (int s = 0; s < DEFT_STATUS_COUNT; s++) {
        ck_assert_ptr_nonnull(deft_status_str((deft_status)s));
        ck_assert_msg(strncmp(deft_status_name((deft_status)s), "DEFT_", 5) == 0, "status %d", s);
        for (int r = 0; r < s; r++)
            ck_assert_str_ne(deft_status_str((deft_status)s), deft_status_str((deft_status)r));
    }
    ck_assert_str_eq(deft_status_str((deft_status)999), "unknown status");
}
END_TEST

Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, valid_trees);
    tcase_add_test(tc, null_pointers);
    tcase_add_test(tc, bad_parent);
    tcase_add_test(tc, bad_lengths);
    tcase_add_test(tc, overflowing_counts);
    tcase_add_test(tc, kv_offsets);
    tcase_add_test(tc, bad_shapes);
    tcase_add_test(tc, problem_data_pointers);
    tcase_add_test(tc, status_strings);
    suite_add_tcase(s, tc);
    return s;
}
