/* plan_check.c: the plan's invariants, checked against the tree (used by tests, fuzzers and
 * `deft plan --verify`), and its readable listing (the teaching tools build on it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static deft_status broken(deft_diag *diag, int64_t node, const char *fmt, long long a, long long b)
{
    char msg[200];
    snprintf(msg, sizeof msg, fmt, a, b);
    deft_diag_set(diag, DEFT_ERR_INTERNAL, node, "plan invariant: %s", msg);
    return DEFT_ERR_INTERNAL;
}

/* Chunk-level bounds: token ranges inside their node, rows inside K/V, sizes within the
 * parameters, pair lists ascending by query with visibility in 1..chunk_len. */
static deft_status verify_chunks(const deft_plan *pl, const deft_tree *t, const int64_t *off,
                                 deft_diag *diag)
{
    if (pl->pair_start[0] != 0 || pl->pair_start[pl->n_chunks] != pl->n_pairs)
        return broken(diag, -1, "pair_start runs %lld..%lld, not 0..n_pairs", pl->pair_start[0],
                      pl->pair_start[pl->n_chunks]);
    for (int64_t c = 0; c < pl->n_chunks; c++) {
        int64_t u = pl->chunk_node[c], a = pl->chunk_tok_start[c], len = pl->chunk_len[c];
        if (u < 0 || u >= t->n_nodes) return broken(diag, -1, "chunk %lld names node %lld", c, u);
        if (len < 1 || len > pl->chunk_tokens || a < 0 || a + len > t->kv_len[u])
            return broken(diag, u, "chunk %lld has tokens outside its node or size %lld", c, len);
        if (pl->chunk_kv_row[c] != off[u] + a)
            return broken(diag, u, "chunk %lld starts at row %lld", c, pl->chunk_kv_row[c]);
        int64_t p0 = pl->pair_start[c], p1 = pl->pair_start[c + 1];
        if (p1 <= p0 || (pl->chunk_queries > 0 && p1 - p0 > pl->chunk_queries))
            return broken(diag, u, "chunk %lld has %lld queries", c, p1 - p0);
        if (len > pl->max_chunk_len || p1 - p0 > pl->max_chunk_pairs)
            return broken(diag, u, "chunk %lld exceeds the recorded maxima (%lld tokens)", c, len);
        for (int64_t e = p0; e < p1; e++) {
            if (e > p0 && pl->pair_query[e] <= pl->pair_query[e - 1])
                return broken(diag, u, "chunk %lld: queries not ascending at pair %lld", c, e);
            if (pl->pair_visible[e] < 1 || pl->pair_visible[e] > len)
                return broken(diag, u, "pair %lld sees %lld tokens", e, pl->pair_visible[e]);
        }
    }
    return DEFT_OK;
}

/* Query-level coverage: walking q's reduction list in order must cover, root first, every token
 * of every ancestor and tokens 0..pos of q's own node, each exactly once, in token order. */
static deft_status verify_query(const deft_plan *pl, const deft_tree *t, int64_t q, int64_t u,
                                int64_t pos, int64_t *path, int64_t *chunk_of, char *seen,
                                deft_diag *diag)
{
    int64_t depth = 0;
    for (int64_t a = u; a >= 0; a = t->parent[a]) path[depth++] = a;
    int64_t r = pl->red_start[q], r_end = pl->red_start[q + 1];
    for (int64_t i = depth - 1; i >= 0; i--) {
        int64_t a = path[i], end = a == u ? pos + 1 : t->kv_len[a];
        for (int64_t tok = 0; tok < end;) {
            if (r >= r_end) return broken(diag, a, "query %lld misses token %lld of this node", q, tok);
            int64_t e = pl->red_pair[r++];
            if (e < 0 || e >= pl->n_pairs) return broken(diag, a, "query %lld lists pair %lld", q, e);
            int64_t c = chunk_of[e], vis = pl->pair_visible[e];
            if (seen[e]++) return broken(diag, a, "pair %lld is merged twice (query %lld)", e, q);
            if (pl->pair_query[e] != q || pl->chunk_node[c] != a || pl->chunk_tok_start[c] != tok)
                return broken(diag, a, "query %lld: pair %lld is not the next chunk of its path", q, e);
            int64_t want = end - tok < pl->chunk_len[c] ? end - tok : pl->chunk_len[c];
            if (vis != want) return broken(diag, a, "query %lld sees %lld tokens of a chunk", q, vis);
            tok += vis;
        }
    }
    if (r != r_end) return broken(diag, u, "query %lld merges %lld extra pairs", q, r_end - r);
    return DEFT_OK;
}

deft_status deft_plan_verify(const deft_plan *pl, const deft_tree *t, deft_diag *diag)
{
    deft_status st = deft_tree_validate(t, diag);
    if (st != DEFT_OK) return st;
    if (!pl || pl->n_nodes != t->n_nodes || pl->n_queries != deft_tree_total_q(t))
        return broken(diag, -1, "plan built for %lld nodes, tree has %lld",
                      pl ? (long long)pl->n_nodes : -1LL, (long long)t->n_nodes);
    int64_t n = t->n_nodes, np = pl->n_pairs;
    int64_t *off = malloc((size_t)(n ? n : 1) * 8), *path = malloc((size_t)(n ? n : 1) * 8);
    int64_t *chunk_of = malloc((size_t)(np ? np : 1) * 8);
    char *seen = calloc((size_t)(np ? np : 1), 1);
    if (!off || !path || !chunk_of || !seen) {
        st = DEFT_ERR_NO_MEMORY;
        deft_diag_set(diag, st, -1, "plan verify: out of memory");
        goto done;
    }
    deft_tree_offsets(t, off);
    if ((st = verify_chunks(pl, t, off, diag)) != DEFT_OK) goto done;
    for (int64_t c = 0; c < pl->n_chunks; c++)
        for (int64_t e = pl->pair_start[c]; e < pl->pair_start[c + 1]; e++) chunk_of[e] = c;
    if (pl->red_start[0] != 0 || pl->red_start[pl->n_queries] != np) {
        st = broken(diag, -1, "red_start runs %lld..%lld, not 0..n_pairs", pl->red_start[0],
                    pl->red_start[pl->n_queries]);
        goto done;
    }
    int64_t q = 0;
    for (int64_t u = 0; u < n && st == DEFT_OK; u++)
        for (int64_t j = 0; j < t->q_len[u] && st == DEFT_OK; j++, q++) {
            if (pl->red_start[q + 1] < pl->red_start[q]) {
                st = broken(diag, u, "red_start decreases at query %lld (%lld)", q, pl->red_start[q + 1]);
                break;
            }
            st = verify_query(pl, t, q, u, t->kv_len[u] - t->q_len[u] + j, path, chunk_of, seen, diag);
        }
    for (int64_t e = 0; e < np && st == DEFT_OK; e++)
        if (!seen[e]) st = broken(diag, -1, "pair %lld (query %lld) is never merged", e, pl->pair_query[e]);
done:
    free(off), free(path), free(chunk_of), free(seen);
    return st;
}

/* Prints a chunk's queries compactly: runs of consecutive queries that see the whole chunk as
 * "a-b", a query that sees a causal prefix as "q(v)". */
static void print_queries(FILE *f, const deft_plan *pl, int64_t c)
{
    int64_t e = pl->pair_start[c], end = pl->pair_start[c + 1], len = pl->chunk_len[c];
    while (e < end) {
        int64_t q = pl->pair_query[e];
        if (pl->pair_visible[e] < len) {
            fprintf(f, " %lld(%d)", (long long)q, pl->pair_visible[e]);
            e++;
            continue;
        }
        int64_t last = e;
        while (last + 1 < end && pl->pair_visible[last + 1] == len &&
               pl->pair_query[last + 1] == pl->pair_query[last] + 1)
            last++;
        if (last == e) fprintf(f, " %lld", (long long)q);
        else fprintf(f, " %lld-%lld", (long long)q, (long long)pl->pair_query[last]);
        e = last + 1;
    }
}

void deft_plan_print(const deft_plan *pl, void *file, int64_t limit)
{
    FILE *f = file ? (FILE *)file : stdout;
    fprintf(f, "plan: %d nodes, %d queries, %d chunks, %d (chunk, query) pairs; chunk_tokens %d, "
               "chunk_queries %d%s\n",
            pl->n_nodes, pl->n_queries, pl->n_chunks, pl->n_pairs, pl->chunk_tokens,
            pl->chunk_queries, pl->chunk_queries ? "" : " (unbounded)");
    fprintf(f, "chunk   node  tokens         kv rows          queries (q(v): sees the first v tokens)\n");
    for (int64_t c = 0; c < pl->n_chunks && (limit <= 0 || c < limit); c++) {
        char tok[32], rows[32];
        snprintf(tok, sizeof tok, "%d..%d", pl->chunk_tok_start[c], pl->chunk_tok_start[c] + pl->chunk_len[c] - 1);
        snprintf(rows, sizeof rows, "%d..%d", pl->chunk_kv_row[c], pl->chunk_kv_row[c] + pl->chunk_len[c] - 1);
        fprintf(f, "%5lld %6d  %-14s %-16s %d:", (long long)c, pl->chunk_node[c], tok, rows,
                pl->pair_start[c + 1] - pl->pair_start[c]);
        print_queries(f, pl, c);
        fprintf(f, "\n");
    }
    if (limit > 0 && pl->n_chunks > limit) fprintf(f, "  ... %lld more chunks\n", (long long)(pl->n_chunks - limit));
    fprintf(f, "reduction map (query: chunks merged in order)\n");
    int64_t *chunk_of = malloc((size_t)(pl->n_pairs ? pl->n_pairs : 1) * 8);
    if (!chunk_of) return;
    for (int64_t c = 0; c < pl->n_chunks; c++)
        for (int64_t e = pl->pair_start[c]; e < pl->pair_start[c + 1]; e++) chunk_of[e] = c;
    for (int64_t q = 0; q < pl->n_queries && (limit <= 0 || q < limit); q++) {
        fprintf(f, "%5lld:", (long long)q);
        for (int64_t r = pl->red_start[q]; r < pl->red_start[q + 1]; r++)
            fprintf(f, " %lld", (long long)chunk_of[pl->red_pair[r]]);
        fprintf(f, "\n");
    }
    if (limit > 0 && pl->n_queries > limit) fprintf(f, "  ... %lld more queries\n", (long long)(pl->n_queries - limit));
    free(chunk_of);
}
