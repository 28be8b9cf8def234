/* decode.c: bytes -> a fuzz case (forest, shape, DeFT options, Q/K/V data). Every byte string
 * decodes to something, so AFL++'s mutations all land on a problem; missing header bytes read as
 * 0 and data past the input comes from a PRNG seeded by the header, so a short input is a full
 * case. Layout (all single bytes; fuzz/README.md has the same table):
 *
 *   0 flags   bits 0-1 dtype (0 f32, 1 f16, 2 bf16, 3 f32); bit 2 given offsets (shuffled, with
 *             gaps whose rows hold NaN); bit 3 raw (plan profile: values unchecked); bits 4-6 data
 *             mode (FUZZ_DATA_*); bit 7 a scale from the table below instead of the default
 *   1 nodes   n = b % 25 (plan: b % 65; raw: b % 17)
 *   2 heads   hkv = 1 + b % 3, hq = hkv << ((b >> 2) & 3): GQA ratio 1, 2, 4 or 8
 *   3 dim     d = {1, 2, 3, 4, 8, 16, 32, 37, 64}[b % 9]
 *   4 scale   scales[b % 16] when flags bit 7
 *   5 chunk   chunk_tokens = b % 17 (0: default; plan: b, 0..255; raw: (int8)b)
 *   6 chunkq  chunk_queries = b % 5 (plan: b % 9; raw: (int8)b)
 *   7 seed    PRNG seed for the data past the input (raw: total_kv when nonzero)
 *   then per node i: parent, kv_len, q_len [, placement when offsets are given]
 *     parent = b % (i + 1) - 1 (-1 is a root); kv_len = b % 41 (plan: b >= 192 gives
 *     (b - 191) * 64 tokens); q_len = b % (kv_len + 1); placement: gap = b & 3 rows before the
 *     node, nodes laid out in ascending order of b >> 2 (ties by index)
 *     raw: each value is (int8)b, with 127 -> INT64_MAX and -128 -> INT64_MIN
 *   then data bytes for Q, K, V in that order, one byte an element, mapped by the data mode.
 *
 * Work is bounded so the differential harness stays fast: total_kv * hq * d <= 8192 and
 * total_kv <= 160 (kv_len is clamped as nodes are read), and in the plan profile the visible
 * (query, token) pairs stay under 50 000 (q_len is cut to 0 beyond). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define DIFF_MAX_NODES 24
#define DIFF_MAX_KV_NODE 40
#define DIFF_MAX_TOTAL_KV 160
#define DIFF_MAX_WORK 8192 /* total_kv * hq * d */
#define PLAN_MAX_NODES 64
#define RAW_MAX_NODES 16
#define PLAN_MAX_VISIBLE 50000

static const int64_t dims[9] = {1, 2, 3, 4, 8, 16, 32, 37, 64};
static const double scales[16] = {1.0,  0.5,   2.0,  0.125, 8.0,  -1.0, -0.25, 1e-3,
                                  1e-6, 30.0,  100.0, 1000.0, 0.08838834764831845, 3.0, 1e4, 1e-30};
static const char *const mode_names[8] = {"plain", "plain", "exact", "wide",
                                          "negative", "huge-v", "tiny", "nonfinite"};

typedef struct reader {
    const uint8_t *p;
    size_t len, pos;
    uint64_t prng;
} reader;

/* The next input byte, 0 past the end (header and tree). */
static unsigned next_byte(reader *r)
{
    return r->pos < r->len ? r->p[r->pos++] : 0u;
}

/* The next data byte: the input while it lasts, then splitmix64. */
static unsigned data_byte(reader *r)
{
    if (r->pos < r->len) return r->p[r->pos++];
    uint64_t z = (r->prng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (unsigned)((z ^ (z >> 31)) >> 56);
}

/* A raw byte as a signed value, with the two extremes standing for the int64 extremes. */
static int64_t raw_value(unsigned b)
{
    int v = (int)(int8_t)(uint8_t)b;
    if (v == 127) return INT64_MAX;
    if (v == -128) return INT64_MIN;
    return v;
}

void fuzz_case_free(fuzz_case *fc)
{
    if (!fc) return;
    deft_case_free(&fc->c);
    memset(fc, 0, sizeof *fc);
}

/* The exponent range the wide mode spreads values over, per dtype (products stay in float range). */
static void wide_range(deft_dtype t, int *lo, int *hi)
{
    *lo = t == DEFT_F16 ? -24 : t == DEFT_BF16 ? -133 : -149;
    *hi = t == DEFT_F16 ? 15 : 60;
}

static float largest(deft_dtype t)
{
    return t == DEFT_F16 ? 65504.0f : t == DEFT_BF16 ? 0x1.fep127f : FLT_MAX;
}

static float smallest_subnormal(deft_dtype t)
{
    return t == DEFT_F16 ? 0x1p-24f : t == DEFT_BF16 ? 0x1p-133f : 0x1p-149f;
}

/* Byte b of tensor which (0 q, 1 k, 2 v) as a value, by data mode. */
static float data_value(int mode, int which, deft_dtype t, unsigned b)
{
    float plain = (float)(int8_t)(uint8_t)b / 16.0f;
    float sign = (b & 0x80) ? -1.0f : 1.0f;
    switch (mode) {
    case FUZZ_DATA_EXACT:
        if ((b >> 4) == 0xF) return 0.0f;
        return ldexpf((b & 1) ? -1.0f : 1.0f, (int)((b >> 1) & 7) - 4);
    case FUZZ_DATA_WIDE: {
        int lo, hi;
        wide_range(t, &lo, &hi);
        int e = lo + (int)(b & 63) * (hi - lo) / 63;
        return sign * ldexpf((b & 0x40) ? 1.5f : 1.0f, e);
    }
    case FUZZ_DATA_NEGATIVE:
        if (which == 2) return plain;
        return (which == 0 ? 16.0f : -16.0f) * (float)(1 + (b & 15));
    case FUZZ_DATA_HUGE_V:
        if (which != 2) return plain;
        return sign * largest(t) * ((float)(b & 127) / 127.0f);
    case FUZZ_DATA_TINY:
        if ((b & 3) == 0) return (b & 4) ? -0.0f : 0.0f;
        return sign * smallest_subnormal(t) * (float)((b >> 2) & 31);
    case FUZZ_DATA_NONFINITE:
        if (b == 255) return NAN;
        if (b == 254) return INFINITY;
        if (b == 253) return -INFINITY;
        return plain;
    default:
        return plain;
    }
}

static void store(void *base, deft_dtype t, size_t i, float x)
{
    switch (t) {
    case DEFT_F16: ((uint16_t *)base)[i] = deft_f32_to_f16(x); break;
    case DEFT_BF16: ((uint16_t *)base)[i] = deft_f32_to_bf16(x); break;
    default: ((float *)base)[i] = x; break;
    }
}

/* Given offsets: nodes placed in ascending key order (ties by index), each after a gap of
 * gap[i] rows; returns total_kv (the end, plus a trailing gap). */
static int64_t place_nodes(int64_t n, const int64_t *kv_len, const unsigned *key,
                           const unsigned *gap, unsigned tail, int64_t *off)
{
    int64_t cursor = 0;
    for (unsigned k = 0; k < 64; k++)
        for (int64_t i = 0; i < n; i++)
            if (key[i] == k) {
                off[i] = cursor + gap[i];
                cursor = off[i] + kv_len[i];
            }
    return cursor + tail;
}

/* The tree of the plan or differential profile: always valid, within the work bounds. */
static void decode_tree(reader *r, fuzz_profile profile, int given, int64_t hq, int64_t d,
                        fuzz_case *fc, unsigned seed)
{
    deft_case *c = &fc->c;
    int64_t n = c->problem.tree.n_nodes;
    int64_t budget = DIFF_MAX_WORK / (hq * d);
    if (budget > DIFF_MAX_TOTAL_KV) budget = DIFF_MAX_TOTAL_KV;
    if (budget < 1) budget = 1;
    int64_t anc[PLAN_MAX_NODES]; /* tokens in node i's proper ancestors */
    unsigned key[PLAN_MAX_NODES], gap[PLAN_MAX_NODES];
    int64_t used = 0, visible = 0;
    for (int64_t i = 0; i < n; i++) {
        unsigned bp = next_byte(r), bk = next_byte(r), bq = next_byte(r);
        c->parent[i] = (int64_t)(bp % (unsigned)(i + 1)) - 1;
        int64_t kv;
        if (profile == FUZZ_PROFILE_DIFF) {
            kv = bk % (DIFF_MAX_KV_NODE + 1);
            if (kv > budget - used) kv = budget - used;
        } else {
            kv = bk < 192 ? (int64_t)(bk % 41) : (int64_t)(bk - 191) * 64;
        }
        used += kv;
        int64_t q = (int64_t)(bq % (unsigned)(kv + 1));
        anc[i] = c->parent[i] >= 0 ? anc[c->parent[i]] + c->kv_len[c->parent[i]] : 0;
        /* each query sees at most its ancestors' tokens and its whole node */
        if (profile == FUZZ_PROFILE_PLAN && visible + q * (anc[i] + kv) > PLAN_MAX_VISIBLE) q = 0;
        visible += q * (anc[i] + kv);
        c->kv_len[i] = kv;
        c->q_len[i] = q;
        if (given) {
            unsigned b = next_byte(r);
            gap[i] = b & 3;
            key[i] = b >> 2;
        }
    }
    if (given)
        c->problem.tree.total_kv = place_nodes(n, c->kv_len, key, gap, seed & 3, c->kv_offset);
    else
        c->problem.tree.total_kv = used;
}

/* The raw tree of the plan profile: values straight from the bytes, valid or not. */
static void decode_raw_tree(reader *r, int given, unsigned total_byte, fuzz_case *fc)
{
    deft_case *c = &fc->c;
    int64_t n = c->problem.tree.n_nodes, sum = 0;
    for (int64_t i = 0; i < n; i++) {
        c->parent[i] = raw_value(next_byte(r));
        c->kv_len[i] = raw_value(next_byte(r));
        c->q_len[i] = raw_value(next_byte(r));
        if (given) c->kv_offset[i] = raw_value(next_byte(r));
        if (c->kv_len[i] > 0 && c->kv_len[i] < 1000) sum += c->kv_len[i];
    }
    c->problem.tree.total_kv = total_byte ? raw_value(total_byte) : sum;
}

/* Q, K and V of a valid problem; rows of K and V that no node owns hold NaN (never read). */
static void decode_data(reader *r, fuzz_case *fc)
{
    deft_problem *p = &fc->c.problem;
    deft_dtype t = p->shape.dtype;
    int64_t hq = p->shape.hq, hkv = p->shape.hkv, d = p->shape.d;
    size_t nq = (size_t)(deft_tree_total_q(&p->tree) * hq * d);
    size_t row = (size_t)(hkv * d), nkv = (size_t)p->tree.total_kv * row;
    for (size_t i = 0; i < nq; i++) store(fc->c.q, t, i, data_value(fc->data_mode, 0, t, data_byte(r)));
    for (int which = 1; which <= 2; which++) {
        void *base = which == 1 ? fc->c.k : fc->c.v;
        for (size_t i = 0; i < nkv; i++) store(base, t, i, NAN);
        for (int64_t u = 0; u < p->tree.n_nodes; u++) {
            size_t first = (size_t)deft_tree_kv_offset(&p->tree, u) * row;
            size_t count = (size_t)p->tree.kv_len[u] * row;
            for (size_t i = 0; i < count; i++)
                store(base, t, first + i, data_value(fc->data_mode, which, t, data_byte(r)));
        }
    }
}

deft_status fuzz_decode(const uint8_t *data, size_t len, fuzz_profile profile, fuzz_case *fc,
                        deft_diag *diag)
{
    memset(fc, 0, sizeof *fc);
    reader r = {data, data ? len : 0, 0, 0};
    unsigned flags = next_byte(&r), bn = next_byte(&r), bh = next_byte(&r), bd = next_byte(&r);
    unsigned bs = next_byte(&r), bct = next_byte(&r), bcq = next_byte(&r), seed = next_byte(&r);
    static const deft_dtype dtypes[4] = {DEFT_F32, DEFT_F16, DEFT_BF16, DEFT_F32};
    int given = (flags >> 2) & 1;
    fc->raw = profile == FUZZ_PROFILE_PLAN && ((flags >> 3) & 1);
    fc->data_mode = (int)((flags >> 4) & 7);
    if (fc->data_mode == 1) fc->data_mode = FUZZ_DATA_PLAIN;
    r.prng = 0x6A09E667F3BCC909ull ^ seed;

    int64_t n = profile == FUZZ_PROFILE_DIFF ? bn % (DIFF_MAX_NODES + 1)
                : fc->raw ? bn % (RAW_MAX_NODES + 1) : bn % (PLAN_MAX_NODES + 1);
    deft_status st = deft_case_init(&fc->c, n, given, diag);
    if (st != DEFT_OK) {
        fuzz_case_free(fc);
        return st;
    }
    deft_shape *s = &fc->c.problem.shape;
    s->hkv = 1 + bh % 3;
    s->hq = s->hkv << ((bh >> 2) & 3);
    s->d = dims[bd % 9];
    s->dtype = dtypes[flags & 3];
    s->scale = (flags & 0x80) ? scales[bs % 16] : 0.0;

    if (profile == FUZZ_PROFILE_DIFF) {
        fc->opt.chunk_tokens = bct % 17;
        fc->opt.chunk_queries = bcq % 5;
    } else if (!fc->raw) {
        fc->opt.chunk_tokens = bct;
        fc->opt.chunk_queries = bcq % 9;
    } else {
        fc->opt.chunk_tokens = (int8_t)(uint8_t)bct;
        fc->opt.chunk_queries = (int8_t)(uint8_t)bcq;
    }

    if (fc->raw) decode_raw_tree(&r, given, seed, fc);
    else decode_tree(&r, profile, given, s->hq, s->d, fc, seed);
    if (profile == FUZZ_PROFILE_PLAN) return DEFT_OK;

    st = deft_case_alloc_data(&fc->c, diag);
    if (st != DEFT_OK) {
        /* the decoder builds valid problems only: anything but memory is a bug here */
        if (st != DEFT_ERR_NO_MEMORY) st = DEFT_ERR_INTERNAL;
        fuzz_case_free(fc);
        return st;
    }
    decode_data(&r, fc);
    return DEFT_OK;
}

static void print_list(FILE *f, const char *name, const int64_t *a, int64_t n)
{
    fprintf(f, " %s=[", name);
    for (int64_t i = 0; i < n; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)a[i]);
    fprintf(f, "]");
}

void fuzz_case_describe(FILE *f, const fuzz_case *fc)
{
    const deft_problem *p = &fc->c.problem;
    const deft_tree *t = &p->tree;
    fprintf(f, "nodes=%lld", (long long)t->n_nodes);
    print_list(f, "parent", t->parent, t->n_nodes);
    print_list(f, "kv_len", t->kv_len, t->n_nodes);
    print_list(f, "q_len", t->q_len, t->n_nodes);
    if (t->kv_offset) print_list(f, "kv_offset", t->kv_offset, t->n_nodes);
    else fprintf(f, " offsets=packed");
    const char *dt = deft_dtype_name(p->shape.dtype);
    fprintf(f, " total_kv=%lld hq=%lld hkv=%lld d=%lld dtype=%s scale=%.17g", (long long)t->total_kv,
            (long long)p->shape.hq, (long long)p->shape.hkv, (long long)p->shape.d, dt ? dt : "?",
            p->shape.scale);
    fprintf(f, " chunk_tokens=%lld chunk_queries=%lld data=%s%s\n", (long long)fc->opt.chunk_tokens,
            (long long)fc->opt.chunk_queries, mode_names[fc->data_mode & 7], fc->raw ? " raw" : "");
}
