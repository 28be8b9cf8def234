/* mutant.c: a small chunked tree-attention kernel as a plugin (deft_plugin_v1), compiled once per
 * planted bug (-DBUG_<NAME>; none for the control `correct`). Each bug is one realistic kernel
 * mistake; `deft check --random` and the differential fuzzer must catch every one of them while
 * passing the control (tests/plugins.sh). One more, shuffled_order, merges in a run-dependent
 * order but within tolerance: only the bit-for-bit determinism check can catch it. Standalone on purpose: a plugin needs only deft.h.
 *
 * The kernel: for each query and head, walk the query's path root first, cut each node's visible
 * tokens into chunks of CHUNK, compute each chunk's partial state (o, lse) with a two-pass softmax
 * in float, and merge the partials in order with the LSE merge. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft.h"

#define CHUNK 4

static float widen(const void *base, deft_dtype t, size_t i)
{
    uint32_t u;
    float f;
    if (t == DEFT_F32) return ((const float *)base)[i];
    uint16_t h = ((const uint16_t *)base)[i];
    if (t == DEFT_BF16) {
        u = (uint32_t)h << 16;
    } else {
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
        if (e == 0x1f) u = sign | 0x7f800000u | (m << 13);
        else if (e) u = sign | ((e + 112u) << 23) | (m << 13);
        else {
            f = (float)m * 5.9604644775390625e-8f;
            return sign ? -f : f;
        }
    }
    memcpy(&f, &u, 4);
    return f;
}

/* Partial attention of one query-head row over KV rows [r0, r1) of KV head g. */
static void chunk_state(const deft_problem *p, const float *q, int64_t g, int64_t r0, int64_t r1,
                        float scale, float *s, float *o, float *lse)
{
    int64_t d = p->shape.d, hkv = p->shape.hkv;
#ifdef BUG_MAX_STARTS_AT_ZERO
    float m = 0.0f; /* the running max starts at 0: very negative scores underflow to 0/0 */
#else
    float m = -INFINITY;
#endif
    for (int64_t r = r0; r < r1; r++) {
        float dot = 0;
        for (int64_t x = 0; x < d; x++) dot += q[x] * widen(p->k, p->shape.dtype, (size_t)((r * hkv + g) * d + x));
        s[r - r0] = scale * dot;
        if (s[r - r0] > m) m = s[r - r0];
    }
    float l = 0;
    for (int64_t x = 0; x < d; x++) o[x] = 0;
    for (int64_t r = r0; r < r1; r++) {
        float w = expf(s[r - r0] - m);
        l += w;
        for (int64_t x = 0; x < d; x++) o[x] += w * widen(p->v, p->shape.dtype, (size_t)((r * hkv + g) * d + x));
    }
    for (int64_t x = 0; x < d; x++) o[x] /= l;
    *lse = m + logf(l);
}

/* The LSE merge; the correct kernel skips empty states, the empty_node_nan bug does not. */
static void merge(float *oa, float *la, const float *ob, float lb, int64_t d)
{
#ifndef BUG_EMPTY_NODE_NAN
    if (lb == -INFINITY) return;
    if (*la == -INFINITY) {
        memcpy(oa, ob, (size_t)d * sizeof *oa);
        *la = lb;
        return;
    }
#endif
    float m = fmaxf(*la, lb), wa = expf(*la - m), wb = expf(lb - m);
    for (int64_t x = 0; x < d; x++) oa[x] = (wa * oa[x] + wb * ob[x]) / (wa + wb);
    *la = m + logf(wa + wb);
#ifdef BUG_NONDETERMINISTIC_ORDER
    /* accumulating the running LSE in half precision, in an order that changes run to run */
    *la = (float)(int)(*la * 64.0f) / 64.0f;
#endif
}

typedef struct {
    int64_t node, r0, r1; /* a chunk: KV rows [r0, r1) of node */
} span;

/* The chunks a query reads, root first: every ancestor's tokens, then its own up to pos. */
static int64_t query_chunks(const deft_problem *p, const int64_t *off, int64_t u, int64_t pos,
                            int64_t *path, span *out)
{
    const deft_tree *t = &p->tree;
    int64_t depth = 0, n = 0;
    for (int64_t a = t->parent[u]; a >= 0; a = t->parent[a]) path[depth++] = a;
#ifdef BUG_SKIPPED_ANCESTOR
    if (depth >= 2) path[0] = -1; /* the walk starts one level too high when the parent has one */
#endif
    for (int64_t i = depth - 1; i >= -1; i--) {
        int64_t a = i >= 0 ? path[i] : u;
        if (a < 0) continue;
#ifdef BUG_CAUSAL_OFF_BY_ONE
        int64_t end = a == u ? pos : t->kv_len[a]; /* '<' for '<=': a query misses itself */
#else
        int64_t end = a == u ? pos + 1 : t->kv_len[a];
#endif
        int64_t c = 0;
        do { /* an empty node still yields one (empty) chunk */
            int64_t r0 = off[a] + c, r1 = off[a] + (c + CHUNK < end ? c + CHUNK : end);
            out[n++] = (span){a, r0, r1 > r0 ? r1 : r0};
            c += CHUNK;
        } while (c < end);
#ifdef BUG_CHUNK_TWICE
        if (a != u && end > 0) n++, out[n - 1] = out[n - 2]; /* the last chunk merged twice */
#endif
    }
    return n;
}

#ifdef BUG_UNWRITTEN_ELEMENT
static int64_t deft_total_queries(const deft_tree *t)
{
    int64_t n = 0;
    for (int64_t i = 0; i < t->n_nodes; i++) n += t->q_len[i];
    return n;
}
#endif

static int run(const deft_problem *p, float *o, float *lse, char *why, size_t why_len)
{
    const deft_tree *t = &p->tree;
    int64_t n = t->n_nodes, hq = p->shape.hq, hkv = p->shape.hkv, d = p->shape.d;
    float scale = p->shape.scale != 0 ? (float)p->shape.scale : 1.0f / sqrtf((float)d);
#ifdef BUG_DROPPED_SCALE
    scale = 1.0f;
#endif
    int64_t *off = malloc((size_t)(n + 1) * 8), *path = malloc((size_t)(n + 1) * 8);
    span *ch = malloc((size_t)(t->total_kv + 2 * n + 4) * sizeof *ch);
    float *s = malloc(CHUNK * sizeof *s), *qv = malloc((size_t)d * 4), *po = malloc((size_t)d * 4);
    float *acc = malloc((size_t)d * 4);
    if (!off || !path || !ch || !s || !qv || !po || !acc) {
        free(off), free(path), free(ch), free(s), free(qv), free(po), free(acc);
        strncpy(why, "out of memory", why_len - 1);
        return 1;
    }
    for (int64_t i = 0, run = 0; i < n; i++) {
        off[i] = t->kv_offset ? t->kv_offset[i] : run;
        run += t->kv_len[i];
    }
    static unsigned calls; /* changes the merge order from run to run */
    calls++;
    int64_t q = 0;
    for (int64_t u = 0; u < n; u++)
        for (int64_t j = 0; j < t->q_len[u]; j++, q++) {
            int64_t pos = t->kv_len[u] - t->q_len[u] + j;
            int64_t nc = query_chunks(p, off, u, pos, path, ch);
#if defined(BUG_NONDETERMINISTIC_ORDER) || defined(BUG_SHUFFLED_ORDER)
            for (int64_t c = nc - 1; c > 0; c--) {
                int64_t k = (int64_t)((calls * 2654435761u + (unsigned)c) % (unsigned)(c + 1));
                span tmp = ch[c];
                ch[c] = ch[k], ch[k] = tmp;
            }
#endif
            for (int64_t h = 0; h < hq; h++) {
#ifdef BUG_GQA_WRONG
                int64_t g = h % hkv;
#else
                int64_t g = h / (hq / hkv);
#endif
                for (int64_t x = 0; x < d; x++) qv[x] = widen(p->q, p->shape.dtype, (size_t)((q * hq + h) * d + x));
                float l = -INFINITY;
                for (int64_t x = 0; x < d; x++) acc[x] = 0;
                for (int64_t c = 0; c < nc; c++) {
                    float pl;
                    chunk_state(p, qv, g, ch[c].r0, ch[c].r1, scale, s, po, &pl);
                    merge(acc, &l, po, pl, d);
                }
                int64_t store = d;
#ifdef BUG_UNWRITTEN_ELEMENT
                /* the last element of the last row is never stored: whatever the buffer held stays */
                if (q == deft_total_queries(t) - 1 && h == hq - 1) store = d - 1;
#endif
                memcpy(o + (q * hq + h) * d, acc, (size_t)store * sizeof *acc);
#ifdef BUG_LSE_BASE2
                l = l / logf(2.0f);
#endif
                lse[q * hq + h] = l;
            }
        }
    free(off), free(path), free(ch), free(s), free(qv), free(po), free(acc);
    return 0;
}

#ifndef MUTANT_NAME
#define MUTANT_NAME "correct"
#endif
/* tests/plugins.sh builds one with a wrong ABI version, which the loader must refuse */
#ifndef ABI_VERSION
#define ABI_VERSION DEFT_PLUGIN_ABI_VERSION
#endif

/* tests/plugins.sh also builds one that declines every problem (-DDECLINE_ODD declines those with
 * an odd head dim only): declined cases must never count as checked */
#if defined(DECLINE_ALL) || defined(DECLINE_ODD)
static int supports(const deft_problem *p, char *why, size_t why_len)
{
#ifdef DECLINE_ODD
    if (p->shape.d % 2 == 0) return 0;
#else
    (void)p;
#endif
    snprintf(why, why_len, "this kernel handles no head dim of this kind");
    return 1;
}
#define SUPPORTS supports
#else
#define SUPPORTS NULL
#endif

const deft_plugin_v1 deft_plugin = {ABI_VERSION, sizeof(deft_plugin_v1), MUTANT_NAME, SUPPORTS, run};
