/* test_gen.c: the generators build the trees of ../shared/workloads.md (counts of nodes, KV
 * tokens and queries), levels:SPEC follows its parent rule, and a seed reproduces a case bit for
 * bit while random:SEED covers every shape class the tests rely on. */
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static void counts(const deft_case *c, int64_t *nodes, int64_t *kv, int64_t *q)
{
    *nodes = c->problem.tree.n_nodes;
    *kv = *q = 0;
    for (int64_t i = 0; i < *nodes; i++) *kv += c->kv_len[i], *q += c->q_len[i];
}

START_TEST(standard_workload_counts)
{
    static const struct {
        const char *name;
        int64_t nodes, kv, q;
    } want[] = {{"fewshot", 21, 6000, 20},    {"fewshot50", 51, 24000, 50}, {"tot", 310, 35800, 270},
                {"specstar", 65, 1064, 64},   {"specdec", 65, 4064, 64},    {"wide", 257, 97536, 256},
                {"levels:1,10_4096,416", 11, 4096 + 4160, 10},
                {"levels:4,16,256,512_1024,256,64,32", 788, 4096 + 4096 + 16384 + 16384, 512},
                {"levels:256_1024", 256, 262144, 256}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        deft_case c;
        gen_small(&c, want[i].name, 1, 1, 1, -1);
        int64_t n, kv, q;
        counts(&c, &n, &kv, &q);
        ck_assert_msg(n == want[i].nodes && kv == want[i].kv && q == want[i].q,
                      "%s: %lld nodes %lld kv %lld q", want[i].name, (long long)n, (long long)kv,
                      (long long)q);
        ck_assert_str_eq(c.workload, want[i].name);
        deft_case_free(&c);
    }
}
END_TEST

START_TEST(default_shape_and_topology_details)
{
    deft_case c;
    deft_diag d;
    ck_assert_int_eq(deft_generate("specdec", NULL, &c, &d), DEFT_OK);
    ck_assert(c.problem.shape.hq == 32 && c.problem.shape.hkv == 8 && c.problem.shape.d == 128);
    ck_assert_int_eq(c.problem.shape.dtype, DEFT_F32);
    for (int64_t i = 1; i <= 64; i++) ck_assert_int_eq(c.parent[i], i <= 4 ? 0 : (i - 1) / 4);
    deft_case_free(&c);
    gen_small(&c, "tot", 1, 1, 1, -1);
    /* level-by-level numbering: nodes 1..3 under 0, 4..12 under 1..3, 13..39 under 4..12, then
     * ten generating thoughts under each frontier node in order */
    ck_assert(c.parent[1] == 0 && c.parent[3] == 0 && c.parent[4] == 1 && c.parent[12] == 3);
    ck_assert(c.parent[13] == 4 && c.parent[39] == 12 && c.parent[40] == 13 && c.parent[309] == 39);
    ck_assert(c.q_len[40] == 1 && c.q_len[39] == 0 && c.kv_len[40] == 100 && c.kv_len[5] == 200);
    deft_case_free(&c);
    /* levels: node j of level l has parent prev[(j * len(prev)) / n_l]; queries at leaves */
    gen_small(&c, "levels:2,3_5,7", 1, 1, 1, -1);
    ck_assert(c.parent[0] == -1 && c.parent[1] == -1);
    ck_assert(c.parent[2] == 0 && c.parent[3] == 0 && c.parent[4] == 1);
    ck_assert(c.q_len[0] == 0 && c.q_len[2] == 1 && c.kv_len[4] == 7);
    deft_case_free(&c);
    gen_small(&c, "levels:3,1_5,7", 1, 1, 1, -1); /* nodes 1 and 2 get no child: leaves too */
    ck_assert(c.q_len[0] == 0 && c.q_len[1] == 1 && c.q_len[2] == 1 && c.q_len[3] == 1);
    deft_case_free(&c);
}
END_TEST

static int same_case(const deft_case *a, const deft_case *b)
{
    const deft_problem *p = &a->problem, *q = &b->problem;
    if (p->tree.n_nodes != q->tree.n_nodes || p->tree.total_kv != q->tree.total_kv ||
        memcmp(&p->shape, &q->shape, sizeof p->shape) || (!a->kv_offset) != (!b->kv_offset))
        return 0;
    size_t n = (size_t)p->tree.n_nodes * 8;
    if (memcmp(a->parent, b->parent, n) || memcmp(a->kv_len, b->kv_len, n) ||
        memcmp(a->q_len, b->q_len, n) || (a->kv_offset && memcmp(a->kv_offset, b->kv_offset, n)))
        return 0;
    size_t e = deft_dtype_size(p->shape.dtype);
    size_t nq = (size_t)deft_tree_total_q(&p->tree) * (size_t)p->shape.hq * (size_t)p->shape.d * e;
    size_t nk = (size_t)p->tree.total_kv * (size_t)p->shape.hkv * (size_t)p->shape.d * e;
    return !memcmp(a->q, b->q, nq) && !memcmp(a->k, b->k, nk) && !memcmp(a->v, b->v, nk);
}

START_TEST(seeds_reproduce)
{
    deft_gen_options g;
    deft_gen_options_default(&g);
    g.hq = 4, g.hkv = 2, g.d = 8, g.seed = 7;
    deft_case a, b;
    deft_diag d;
    ck_assert_int_eq(deft_generate("tot", &g, &a, &d), DEFT_OK);
    ck_assert_int_eq(deft_generate("tot", &g, &b, &d), DEFT_OK);
    ck_assert(same_case(&a, &b));
    deft_case_free(&b);
    g.seed = 8;
    ck_assert_int_eq(deft_generate("tot", &g, &b, &d), DEFT_OK);
    ck_assert(!same_case(&a, &b));
    deft_case_free(&a), deft_case_free(&b);
    for (int s = 0; s < 50; s++) {
        char spec[32];
        snprintf(spec, sizeof spec, "random:%d", s);
        gen_small(&a, spec, 0, 0, 0, -1);
        gen_small(&b, spec, 0, 0, 0, -1);
        ck_assert_msg(same_case(&a, &b), "%s differs between runs", spec);
        ck_assert_int_eq(deft_problem_validate(&a.problem, &d), DEFT_OK);
        deft_case_free(&a), deft_case_free(&b);
    }
}
END_TEST

START_TEST(random_covers_the_shape_classes)
{
    /* 300 seeds must include every class the differential tests promise */
    int chain = 0, star = 0, multiroot = 0, single = 0, empty = 0, prefill = 0, inner_q = 0;
    int ratio[9] = {0}, dtype[3] = {0}, dims[257] = {0}, offsets = 0, deep = 0;
    for (int s = 0; s < 300; s++) {
        char spec[32];
        snprintf(spec, sizeof spec, "random:%d", s);
        deft_case c;
        gen_small(&c, spec, 0, 0, 0, -1);
        const deft_tree *t = &c.problem.tree;
        int64_t roots = 0, is_chain = t->n_nodes > 2, is_star = t->n_nodes > 2, depth = 0;
        for (int64_t i = 0; i < t->n_nodes; i++) {
            roots += t->parent[i] < 0;
            is_chain &= t->parent[i] == i - 1;
            is_star &= i == 0 ? t->parent[i] == -1 : t->parent[i] == 0;
            empty |= t->kv_len[i] == 0;
            prefill |= t->q_len[i] == t->kv_len[i] && t->q_len[i] >= 2;
            int64_t dd = 0;
            for (int64_t a = i; a >= 0; a = t->parent[a]) dd++;
            if (dd > depth) depth = dd;
            for (int64_t j = i + 1; j < t->n_nodes; j++)
                if (t->parent[j] == i && t->q_len[i] > 0) inner_q = 1;
        }
        chain += is_chain, star += is_star, multiroot += roots > 1, single += t->n_nodes == 1;
        deep += depth >= 8;
        ratio[c.problem.shape.hq / c.problem.shape.hkv]++;
        dtype[c.problem.shape.dtype]++;
        dims[c.problem.shape.d]++;
        offsets += c.kv_offset != NULL;
        deft_case_free(&c);
    }
    ck_assert(chain && star && multiroot && single && empty && prefill && inner_q && deep && offsets);
    ck_assert(ratio[1] && ratio[2] && ratio[4] && ratio[8]);
    ck_assert(dtype[0] && dtype[1] && dtype[2]);
    ck_assert(dims[1] && dims[3] && dims[37] && dims[64] && dims[128] && dims[256]);
}
END_TEST

START_TEST(bad_specs)
{
    static const char *const bad[] = {"nope", "random:", "random:-1", "random:1x", "levels:",
                                      "levels:1,2_3", "levels:1,0_3,3", "levels:a_b",
                                      "levels:1,_3,", "levels:99999999_1", NULL};
    for (int i = 0; bad[i]; i++) {
        deft_case c;
        deft_diag d;
        ck_assert_msg(deft_generate(bad[i], NULL, &c, &d) == DEFT_ERR_ARG, "%s accepted", bad[i]);
        ck_assert(d.message[0]);
    }
    deft_gen_options g;
    deft_gen_options_default(&g);
    g.hq = 6, g.hkv = 4;
    deft_case c;
    deft_diag d;
    ck_assert_int_eq(deft_generate("tot", &g, &c, &d), DEFT_ERR_HEADS);
    ck_assert_int_eq(deft_generate(NULL, &g, &c, &d), DEFT_ERR_NULL);
}
END_TEST

Suite *gen_suite(void)
{
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, standard_workload_counts);
    tcase_add_test(tc, default_shape_and_topology_details);
    tcase_add_test(tc, seeds_reproduce);
    tcase_add_test(tc, random_covers_the_shape_classes);
    tcase_add_test(tc, bad_specs);
    suite_add_tcase(s, tc);
    return s;
}
