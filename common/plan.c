/* plan.c: DeFT phase 1, the plan. KV-guided grouping (each node's KV with the queries that read
 * it), flattened tree KV splitting (even chunks of at most chunk_tokens, optionally at most
 * chunk_queries queries each) and the reduction map (each query's pairs in a fixed order).
 * Building is linear in nodes plus (chunk, query) pairs; the result is plain int32 arrays. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Scratch of the builder, one int64 array per field. A "token chunk" (tc) is a run of a node's
 * tokens; a plan chunk is a token chunk with all, or (with chunk_queries) a slice, of its queries. */
typedef struct {
    int64_t *off;      /* (n) first KV row of node */
    int64_t *sub;      /* (n) queries strictly below node */
    int64_t *n_tc;     /* (n) token chunks of node */
    int64_t *first_tc; /* (n) id of node's first token chunk */
    int64_t *anc_tc;   /* (n) token chunks of node's proper ancestors */
    int64_t *up;       /* (n) nearest proper ancestor holding tokens, or -1 */
    int64_t *tc_pair;  /* (n_tc + 1) first pair of token chunk; then its fill cursor */
    int64_t *tc_fill;  /* (n_tc) pairs filled so far */
} scratch;

static void scratch_free(scratch *s)
{
    free(s->off), free(s->sub), free(s->n_tc), free(s->first_tc), free(s->anc_tc), free(s->up);
    free(s->tc_pair), free(s->tc_fill);
    memset(s, 0, sizeof *s);
}

static int64_t *alloc64(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(int64_t));
}

/* Token chunk k of a node of len tokens cut into n even chunks: start and length. */
static void tc_bounds(int64_t len, int64_t n, int64_t k, int64_t *start, int64_t *clen)
{
    int64_t base = len / n, extra = len % n;
    *start = k * base + (k < extra ? k : extra);
    *clen = base + (k < extra);
}

/* Own queries of node u (kv_len L, q_len Q, positions L-Q..L-1) at or after token a. */
static int64_t own_from(const deft_tree *t, int64_t u, int64_t a)
{
    int64_t first = t->kv_len[u] - t->q_len[u];
    int64_t from = a > first ? a : first;
    return t->kv_len[u] - from > 0 ? t->kv_len[u] - from : 0;
}

/* Slices of a token chunk read by nq queries, and the size of slice s (even split). */
static int64_t n_slices(int64_t nq, int64_t cq)
{
    return cq > 0 ? (nq + cq - 1) / cq : (nq > 0);
}

void deft_plan_free(deft_plan *plan)
{
    if (!plan) return;
    free(plan->words);
    memset(plan, 0, sizeof *plan);
}

static deft_status too_big(deft_diag *diag, const char *what, int64_t v)
{
    deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "plan: %s (%lld) does not fit int32", what,
                  (long long)v);
    return DEFT_ERR_OVERFLOW;
}

/* Carves the arrays out of one int32 block, in the order the header declares them. */
static deft_status plan_alloc(deft_plan *pl, int64_t chunks, int64_t pairs, int64_t queries,
                              deft_diag *diag)
{
    int64_t words = 4 * chunks + (chunks + 1) + 2 * pairs + (queries + 1) + pairs;
    pl->words = malloc((size_t)words * sizeof(int32_t));
    if (!pl->words) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "plan: out of memory (%lld words)", (long long)words);
        return DEFT_ERR_NO_MEMORY;
    }
    pl->n_words = (size_t)words;
    int32_t *w = pl->words;
    pl->chunk_node = w, w += chunks;
    pl->chunk_tok_start = w, w += chunks;
    pl->chunk_kv_row = w, w += chunks;
    pl->chunk_len = w, w += chunks;
    pl->pair_start = w, w += chunks + 1;
    pl->pair_query = w, w += pairs;
    pl->pair_visible = w, w += pairs;
    pl->red_start = w, w += queries + 1;
    pl->red_pair = w;
    return DEFT_OK;
}

/* Per-node counts: offsets, queries below, token chunks, ancestors' token chunks, skip links. */
static deft_status count_nodes(const deft_tree *t, int64_t ct, scratch *s, int64_t *n_tc_total)
{
    int64_t n = t->n_nodes;
    if (!(s->off = alloc64(n)) || !(s->sub = alloc64(n)) || !(s->n_tc = alloc64(n)) ||
        !(s->first_tc = alloc64(n)) || !(s->anc_tc = alloc64(n)) || !(s->up = alloc64(n)))
        return DEFT_ERR_NO_MEMORY;
    deft_tree_offsets(t, s->off);
    for (int64_t i = n - 1; i >= 0; i--)
        if (t->parent[i] >= 0) s->sub[t->parent[i]] += s->sub[i] + t->q_len[i];
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = t->parent[i];
        s->n_tc[i] = (t->kv_len[i] + ct - 1) / ct;
        s->first_tc[i] = total;
        total += s->n_tc[i];
        s->anc_tc[i] = p < 0 ? 0 : s->anc_tc[p] + s->n_tc[p];
        s->up[i] = p < 0 ? -1 : (t->kv_len[p] > 0 ? p : s->up[p]);
    }
    *n_tc_total = total;
    return DEFT_OK;
}

deft_status deft_plan_build(const deft_tree *t, const deft_options *opt, deft_plan *plan,
                            deft_diag *diag)
{
    if (!plan) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "plan: plan is NULL");
        return DEFT_ERR_NULL;
    }
    memset(plan, 0, sizeof *plan);
    deft_status st = deft_tree_validate(t, diag);
    if (st != DEFT_OK) return st;
    int64_t ct = opt && opt->chunk_tokens ? opt->chunk_tokens : DEFT_DEFAULT_CHUNK_TOKENS;
    int64_t cq = opt ? opt->chunk_queries : 0;
    if (ct < 1 || ct > INT32_MAX || cq < 0 || cq > INT32_MAX) {
        deft_diag_set(diag, DEFT_ERR_ARG, -1, "plan: chunk_tokens %lld or chunk_queries %lld out of range",
                      (long long)ct, (long long)cq);
        return DEFT_ERR_ARG;
    }
    int64_t n = t->n_nodes, tq = deft_tree_total_q(t);
    if (n > INT32_MAX) return too_big(diag, "node count", n);
    if (tq >= INT32_MAX) return too_big(diag, "query count", tq);
    if (t->total_kv > INT32_MAX) return too_big(diag, "total_kv", t->total_kv);

    scratch s = {0};
    int64_t n_tc = 0;
    if ((st = count_nodes(t, ct, &s, &n_tc)) != DEFT_OK) goto oom;
    /* pairs per token chunk, chunk slices, and totals */
    if (!(s.tc_pair = alloc64(n_tc + 1)) || !(s.tc_fill = alloc64(n_tc))) goto oom;
    int64_t pairs = 0, chunks = 0, max_len = 0, max_pairs = 0;
    for (int64_t u = 0; u < n; u++)
        for (int64_t k = 0; k < s.n_tc[u]; k++) {
            int64_t a, len, id = s.first_tc[u] + k;
            tc_bounds(t->kv_len[u], s.n_tc[u], k, &a, &len);
            int64_t nq = s.sub[u] + own_from(t, u, a), sl = n_slices(nq, cq);
            s.tc_pair[id] = pairs;
            pairs += nq;
            chunks += sl;
            if (sl && len > max_len) max_len = len;
            if (sl && (nq + sl - 1) / sl > max_pairs) max_pairs = (nq + sl - 1) / sl;
            if (pairs >= INT32_MAX) {
                scratch_free(&s);
                return too_big(diag, "(chunk, query) pair count", pairs);
            }
        }
    s.tc_pair[n_tc] = pairs;
    if ((st = plan_alloc(plan, chunks, pairs, tq, diag)) != DEFT_OK) {
        scratch_free(&s);
        return st;
    }
    plan->n_nodes = (int32_t)n;
    plan->n_chunks = (int32_t)chunks;
    plan->n_pairs = (int32_t)pairs;
    plan->n_queries = (int32_t)tq;
    plan->chunk_tokens = (int32_t)ct;
    plan->chunk_queries = (int32_t)cq;
    plan->max_chunk_len = (int32_t)max_len;
    plan->max_chunk_pairs = (int32_t)max_pairs;

    /* Fill pairs and the reduction map query by query, ascending, so every chunk's list comes out
     * in ascending query order. Query q of node u at position p belongs to u's token chunks that
     * start at or before p (a causal prefix) and to every token chunk of every ancestor holding
     * tokens (all of it). In q's reduction list, ancestor a's chunks sit after those of a's own
     * ancestors (anc_tc[a]), so the list reads root first whatever order we walk in. */
    int64_t q = 0, red = 0;
    for (int64_t u = 0; u < n; u++)
        for (int64_t j = 0; j < t->q_len[u]; j++, q++) {
            int64_t pos = t->kv_len[u] - t->q_len[u] + j, own = 0;
            for (int64_t k = 0; k < s.n_tc[u]; k++) {
                int64_t a, len, id = s.first_tc[u] + k;
                tc_bounds(t->kv_len[u], s.n_tc[u], k, &a, &len);
                if (a > pos) break;
                int64_t e = s.tc_pair[id] + s.tc_fill[id]++;
                plan->pair_query[e] = (int32_t)q;
                plan->pair_visible[e] = (int32_t)(pos - a + 1 < len ? pos - a + 1 : len);
                plan->red_pair[red + s.anc_tc[u] + own++] = (int32_t)e;
            }
            plan->red_start[q] = (int32_t)red;
            for (int64_t a = s.up[u]; a >= 0; a = s.up[a])
                for (int64_t k = 0; k < s.n_tc[a]; k++) {
                    int64_t id = s.first_tc[a] + k, start, len;
                    tc_bounds(t->kv_len[a], s.n_tc[a], k, &start, &len);
                    int64_t e = s.tc_pair[id] + s.tc_fill[id]++;
                    plan->pair_query[e] = (int32_t)q;
                    plan->pair_visible[e] = (int32_t)len;
                    plan->red_pair[red + s.anc_tc[a] + k] = (int32_t)e;
                }
            red += s.anc_tc[u] + own;
        }
    plan->red_start[tq] = (int32_t)red;

    /* Chunk records: each token chunk with readers, split into even query slices. */
    int64_t c = 0;
    for (int64_t u = 0; u < n; u++)
        for (int64_t k = 0; k < s.n_tc[u]; k++) {
            int64_t a, len, id = s.first_tc[u] + k;
            tc_bounds(t->kv_len[u], s.n_tc[u], k, &a, &len);
            int64_t first = s.tc_pair[id], nq = s.tc_pair[id + 1] - first, sl = n_slices(nq, cq);
            for (int64_t x = 0; x < sl; x++, c++) {
                plan->chunk_node[c] = (int32_t)u;
                plan->chunk_tok_start[c] = (int32_t)a;
                plan->chunk_kv_row[c] = (int32_t)(s.off[u] + a);
                plan->chunk_len[c] = (int32_t)len;
                plan->pair_start[c] = (int32_t)(first + (nq * x) / sl);
            }
        }
    plan->pair_start[chunks] = (int32_t)pairs;
    scratch_free(&s);
    return DEFT_OK;
oom:
    scratch_free(&s);
    deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "plan: out of memory");
    return DEFT_ERR_NO_MEMORY;
}
