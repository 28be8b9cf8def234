/* generate.c: seeded generators for the standard workloads of ../shared/workloads.md, for
 * levels:SPEC trees and for random:SEED forests. Topology, lengths, shape and data come from
 * integer arithmetic on a splitmix64 stream, so a seed reproduces a case bit for bit anywhere. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* splitmix64: a tiny, well-mixed generator; state advances by a constant. */
typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform integer in 0..n-1 (n >= 1); the tiny modulo bias is irrelevant here. */
static int64_t rng_below(rng *r, int64_t n)
{
    return (int64_t)(rng_next(r) % (uint64_t)n);
}

static const char *const workload_names[] = {"fewshot", "fewshot50", "tot", "specstar",
                                              "specdec", "wide", NULL};

const char *const *deft_workload_names(void)
{
    return workload_names;
}

void deft_gen_options_default(deft_gen_options *o)
{
    o->seed = 0;
    o->hq = o->hkv = o->d = 0;
    o->dtype = -1;
}

/* A growable list of (parent, kv_len, q_len) rows. */
typedef struct {
    int64_t n, cap;
    int64_t *parent, *kv_len, *q_len;
} node_list;

static int nodes_push(node_list *l, int64_t parent, int64_t kv_len, int64_t q_len)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        int64_t *p = realloc(l->parent, (size_t)cap * sizeof *p);
        if (p) l->parent = p;
        int64_t *k = realloc(l->kv_len, (size_t)cap * sizeof *k);
        if (k) l->kv_len = k;
        int64_t *q = realloc(l->q_len, (size_t)cap * sizeof *q);
        if (q) l->q_len = q;
        if (!p || !k || !q) return -1;
        l->cap = cap;
    }
    l->parent[l->n] = parent;
    l->kv_len[l->n] = kv_len;
    l->q_len[l->n] = q_len;
    l->n++;
    return 0;
}

static void nodes_free(node_list *l)
{
    free(l->parent);
    free(l->kv_len);
    free(l->q_len);
    memset(l, 0, sizeof *l);
}

/* fewshot / fewshot50 / wide / specstar: a root and `children` leaves with one query each. */
static int build_star(node_list *l, int64_t root_len, int64_t children, int64_t child_len)
{
    if (nodes_push(l, -1, root_len, 0)) return -1;
    for (int64_t i = 0; i < children; i++)
        if (nodes_push(l, 0, child_len, 1)) return -1;
    return 0;
}

/* tot: root 1000; three levels of 3 children per node, 200 tokens each, numbered level by
 * level; under each of the 27 frontier thoughts, 10 generating thoughts of 100 with a query. */
static int build_tot(node_list *l)
{
    if (nodes_push(l, -1, 1000, 0)) return -1;
    int64_t first = 0, count = 1;
    for (int level = 0; level < 3; level++) {
        int64_t next = l->n;
        for (int64_t p = first; p < first + count; p++)
            for (int c = 0; c < 3; c++)
                if (nodes_push(l, p, 200, 0)) return -1;
        first = next;
        count *= 3;
    }
    for (int64_t p = first; p < first + count; p++)
        for (int c = 0; c < 10; c++)
            if (nodes_push(l, p, 100, 1)) return -1;
    return 0;
}

/* specdec: root 4000; token node i (1..64) has parent 0 when i <= 4, else (i-1)/4; every token
 * node is one token and one query. */
static int build_specdec(node_list *l)
{
    if (nodes_push(l, -1, 4000, 0)) return -1;
    for (int64_t i = 1; i <= 64; i++)
        if (nodes_push(l, i <= 4 ? 0 : (i - 1) / 4, 1, 1)) return -1;
    return 0;
}

/* Parses a comma-separated list of positive integers into v (at most max); returns the count or
 * -1. */
static int parse_list(const char *s, const char *end, int64_t *v, int max)
{
    int n = 0;
    while (s < end) {
        if (n == max || *s < '0' || *s > '9') return -1;
        int64_t x = 0;
        while (s < end && *s >= '0' && *s <= '9') {
            if (x > (INT64_C(1) << 40)) return -1;
            x = x * 10 + (*s++ - '0');
        }
        if (x < 1) return -1;
        v[n++] = x;
        if (s < end && *s++ != ',') return -1;
        if (s == end && s[-1] == ',') return -1;
    }
    return n;
}

/* levels:n1,n2,..._c1,c2,...: level l has n_l nodes of c_l tokens; node j of level l has parent
 * prev[(j * len(prev)) / n_l]; level 0 nodes are roots; one query at every leaf. */
static deft_status build_levels(node_list *l, const char *spec, deft_diag *diag)
{
    enum { MAX_LEVELS = 64 };
    int64_t n[MAX_LEVELS], c[MAX_LEVELS];
    const char *us = strchr(spec, '_');
    int nl = us ? parse_list(spec, us, n, MAX_LEVELS) : -1;
    int cl = us ? parse_list(us + 1, us + strlen(us), c, MAX_LEVELS) : -1;
    if (nl < 1 || cl != nl) {
        deft_diag_set(diag, DEFT_ERR_ARG, -1,
                      "levels:%s: want n1,n2,..._c1,c2,... with as many sizes as counts", spec);
        return DEFT_ERR_ARG;
    }
    int64_t total = 0;
    for (int i = 0; i < nl; i++) {
        total += n[i];
        if (total > (1 << 22) || c[i] > (1 << 24)) {
            deft_diag_set(diag, DEFT_ERR_ARG, -1, "levels:%s: too large (at most 4194304 nodes)", spec);
            return DEFT_ERR_ARG;
        }
    }
    int64_t prev_first = 0, prev_count = 0;
    for (int lv = 0; lv < nl; lv++) {
        int64_t first = l->n;
        for (int64_t j = 0; j < n[lv]; j++) {
            int64_t parent = lv == 0 ? -1 : prev_first + (j * prev_count) / n[lv];
            if (nodes_push(l, parent, c[lv], 0)) return DEFT_ERR_NO_MEMORY;
        }
        prev_first = first;
        prev_count = n[lv];
    }
    /* one query at every leaf: a node no other node names as parent */
    char *has_child = calloc((size_t)l->n, 1);
    if (!has_child) return DEFT_ERR_NO_MEMORY;
    for (int64_t i = 0; i < l->n; i++)
        if (l->parent[i] >= 0) has_child[l->parent[i]] = 1;
    for (int64_t i = 0; i < l->n; i++) l->q_len[i] = has_child[i] ? 0 : 1;
    free(has_child);
    return DEFT_OK;
}

/* Shrinks a random forest until the reference's work (visible pairs x Hq x D) stays small enough
 * for a test suite that runs hundreds of them. */
static void bound_random_work(node_list *l, int64_t hq, int64_t d)
{
    for (;;) {
        deft_tree t = {l->n, l->parent, l->kv_len, l->q_len, NULL, 0};
        int64_t pairs = deft_tree_visible_pairs(&t);
        if (pairs >= 0 && pairs * hq * d <= 3000000) return;
        for (int64_t i = 0; i < l->n; i++) {
            l->kv_len[i] /= 2;
            if (l->q_len[i] > l->kv_len[i]) l->q_len[i] = l->kv_len[i];
        }
    }
}

typedef struct {
    int64_t hq, hkv, d;
    int dtype;
    int offsets_given;
    int data_mode; /* 0 plain, 1 peaky (large q), 2 very negative scores, 3 tiny values */
} random_shape;

/* random:SEED: a forest of 1..24 nodes in one of several styles (random, chain, star, deep,
 * batch of roots, single node), lengths with empty nodes, query patterns from decode to full
 * prefill, and a random shape: Hkv 1..3, GQA ratio 1/2/4/8, D from 1 to 256, any dtype. */
static int build_random(node_list *l, rng *r, random_shape *sh)
{
    static const int64_t dims[] = {1, 2, 3, 4, 8, 16, 37, 64, 128, 256};
    static const int64_t ratios[] = {1, 2, 4, 8};
    static const int64_t lens[] = {1, 3, 8, 20, 60};
    int style = (int)rng_below(r, 7);
    int64_t n = style == 4 ? 1 : 1 + rng_below(r, 24);
    int64_t maxlen = lens[rng_below(r, 5)];
    int qmode = (int)rng_below(r, 5); /* 0 leaves decode, 1 random, 2 prefill, 3 spec verify, 4 mixed */
    for (int64_t i = 0; i < n; i++) {
        int64_t parent;
        switch (style) {
        case 1: parent = i - 1; break;                                  /* chain */
        case 2: parent = i == 0 ? -1 : 0; break;                        /* star */
        case 3: parent = rng_below(r, 10) < 7 ? i - 1 : rng_below(r, i + 1) - 1; break; /* deep */
        case 5: parent = -1; break;                                     /* batch of requests */
        default: parent = rng_below(r, 8) == 0 ? -1 : rng_below(r, i + 1) - 1; break;
        }
        int64_t kv = rng_below(r, 7) == 0 ? 0 : 1 + rng_below(r, maxlen);
        if (qmode == 3) kv = 1;
        if (nodes_push(l, parent, kv, 0)) return -1;
    }
    char *has_child = calloc((size_t)n, 1);
    if (!has_child) return -1;
    for (int64_t i = 0; i < n; i++)
        if (l->parent[i] >= 0) has_child[l->parent[i]] = 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t kv = l->kv_len[i], q = 0;
        switch (qmode) {
        case 0: q = !has_child[i] && kv > 0; break;
        case 1: q = rng_below(r, kv + 1); break;
        case 2: q = kv; break;
        case 3: q = kv; break;
        default: q = has_child[i] ? (rng_below(r, 3) == 0 ? rng_below(r, kv + 1) : 0) : kv > 0; break;
        }
        l->q_len[i] = q;
    }
    free(has_child);
    sh->hkv = 1 + rng_below(r, 3);
    sh->hq = sh->hkv * ratios[rng_below(r, 4)];
    sh->d = dims[rng_below(r, 10)];
    sh->dtype = (int)rng_below(r, 3);
    sh->offsets_given = rng_below(r, 3) == 0;
    sh->data_mode = rng_below(r, 3) == 0 ? 1 + (int)rng_below(r, 3) : 0;
    return 0;
}

/* Uniform values in [lo, lo + width) on a 2^-22 grid (exact in binary32), stored as dtype. */
static void fill_tensor(void *dst, deft_dtype t, size_t n, uint64_t seed, double lo, double width)
{
    rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        double u = (double)(rng_next(&r) >> 41) * 0x1p-23; /* [0, 1) on a 2^-23 grid */
        float x = (float)(lo + width * u);
        if (t == DEFT_F32) ((float *)dst)[i] = x;
        else if (t == DEFT_F16) ((uint16_t *)dst)[i] = deft_f32_to_f16(x);
        else ((uint16_t *)dst)[i] = deft_f32_to_bf16(x);
    }
}

/* Places nodes at shuffled offsets with gaps, so kernels cannot assume packed, ordered KV. */
static int64_t place_shuffled(const node_list *l, int64_t *off, rng *r)
{
    int64_t *order = malloc((size_t)(l->n ? l->n : 1) * sizeof *order);
    if (!order) return -1;
    for (int64_t i = 0; i < l->n; i++) order[i] = i;
    for (int64_t i = l->n - 1; i > 0; i--) {
        int64_t j = rng_below(r, i + 1), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    int64_t at = 0;
    for (int64_t i = 0; i < l->n; i++) {
        at += rng_below(r, 3);
        off[order[i]] = at;
        at += l->kv_len[order[i]];
    }
    free(order);
    return at + rng_below(r, 3);
}

static deft_status fill_case(deft_case *c, const node_list *l, const random_shape *sh,
                             uint64_t seed, rng *r, deft_diag *diag)
{
    deft_status st = deft_case_init(c, l->n, sh->offsets_given, diag);
    if (st != DEFT_OK) return st;
    int64_t total_kv = 0;
    for (int64_t i = 0; i < l->n; i++) {
        c->parent[i] = l->parent[i];
        c->kv_len[i] = l->kv_len[i];
        c->q_len[i] = l->q_len[i];
        total_kv += l->kv_len[i];
    }
    if (sh->offsets_given) {
        total_kv = place_shuffled(l, c->kv_offset, r);
        if (total_kv < 0) {
            deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "generate: out of memory");
            return DEFT_ERR_NO_MEMORY;
        }
    }
    c->problem.tree.total_kv = total_kv;
    c->problem.shape = (deft_shape){sh->hq, sh->hkv, sh->d, 0.0, (deft_dtype)sh->dtype};
    if ((st = deft_case_alloc_data(c, diag)) != DEFT_OK) return st;
    int64_t tq = deft_tree_total_q(&c->problem.tree);
    size_t nq = (size_t)tq * (size_t)sh->hq * (size_t)sh->d;
    size_t nkv = (size_t)total_kv * (size_t)sh->hkv * (size_t)sh->d;
    deft_dtype t = (deft_dtype)sh->dtype;
    /* q and k in [-2, 2): scores of spread about 1.3 at the default scale; v in [-1, 1) */
    double qlo = -2, qw = 4, klo = -2, kw = 4, vlo = -1, vw = 2;
    switch (sh->data_mode) {
    case 1: qlo = -32, qw = 64; break;                 /* peaky softmax: scores of tens */
    case 2: qlo = 0.5, qw = 2, klo = -64, kw = 32; break; /* every score far below zero */
    case 3: qlo = -0x1p-10, qw = 0x1p-9, vlo = -0x1p-10, vw = 0x1p-9; break; /* tiny values */
    }
    fill_tensor(c->q, t, nq, seed * 3 + 1, qlo, qw);
    fill_tensor(c->k, t, nkv, seed * 3 + 2, klo, kw);
    fill_tensor(c->v, t, nkv, seed * 3 + 3, vlo, vw);
    return DEFT_OK;
}

static deft_status parse_seed(const char *s, uint64_t *seed, deft_diag *diag)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-') {
        deft_diag_set(diag, DEFT_ERR_ARG, -1, "random:%s: the seed must be a decimal integer", s);
        return DEFT_ERR_ARG;
    }
    *seed = v;
    return DEFT_OK;
}

deft_status deft_generate(const char *spec, const deft_gen_options *opt, deft_case *c,
                          deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!spec || !c) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "generate: spec or case is NULL");
        return DEFT_ERR_NULL;
    }
    memset(c, 0, sizeof *c);
    deft_gen_options def;
    if (!opt) {
        deft_gen_options_default(&def);
        opt = &def;
    }
    node_list l = {0};
    random_shape sh = {32, 8, 128, DEFT_F32, 0, 0};
    uint64_t seed = opt->seed;
    rng r = {0};
    deft_status st = DEFT_OK;
    int bad = 0;
    if (!strcmp(spec, "fewshot")) bad = build_star(&l, 4000, 20, 100);
    else if (!strcmp(spec, "fewshot50")) bad = build_star(&l, 4000, 50, 400);
    else if (!strcmp(spec, "tot")) bad = build_tot(&l);
    else if (!strcmp(spec, "specstar")) bad = build_star(&l, 1000, 64, 1);
    else if (!strcmp(spec, "specdec")) bad = build_specdec(&l);
    else if (!strcmp(spec, "wide")) bad = build_star(&l, 32000, 256, 256);
    else if (!strncmp(spec, "levels:", 7)) st = build_levels(&l, spec + 7, diag);
    else if (!strncmp(spec, "random:", 7)) {
        if ((st = parse_seed(spec + 7, &seed, diag)) == DEFT_OK) {
            r.s = seed ^ 0x5eedull;
            bad = build_random(&l, &r, &sh);
        }
    } else {
        deft_diag_set(diag, DEFT_ERR_ARG, -1,
                      "unknown workload '%s' (fewshot, fewshot50, tot, specstar, specdec, wide, "
                      "levels:SPEC, random:SEED)", spec);
        st = DEFT_ERR_ARG;
    }
    if (bad) st = DEFT_ERR_NO_MEMORY;
    if (st == DEFT_ERR_NO_MEMORY) deft_diag_set(diag, st, -1, "generate %s: out of memory", spec);
    if (st == DEFT_OK) {
        if (opt->hq > 0) sh.hq = opt->hq;
        if (opt->hkv > 0) sh.hkv = opt->hkv;
        if (opt->d > 0) sh.d = opt->d;
        if (opt->dtype >= 0) sh.dtype = opt->dtype;
        if (!strncmp(spec, "random:", 7)) bound_random_work(&l, sh.hq, sh.d);
        deft_shape s = {sh.hq, sh.hkv, sh.d, 0.0, (deft_dtype)sh.dtype};
        st = deft_shape_validate(&s, diag);
    }
    if (st == DEFT_OK) st = fill_case(c, &l, &sh, seed, &r, diag);
    nodes_free(&l);
    if (st != DEFT_OK) {
        deft_case_free(c);
        return st;
    }
    snprintf(c->workload, sizeof c->workload, "%s", spec);
    return DEFT_OK;
}
