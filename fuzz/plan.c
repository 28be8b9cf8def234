/* plan.c: phase 1 of DeFT (the plan) on any forest the bytes decode to (decode.c, plan profile:
 * up to 64 nodes and thousands of tokens, or raw values that are often invalid). An invalid forest
 * must get the validator's status from deft_plan_build too; a valid one a plan that passes
 * deft_plan_verify and this harness's own coverage check (written apart from plan_check.c, so one
 * checker's blind spot is not the other's), is built the same twice, and can be accounted
 * (deft_io_account) and printed. A failing input reproduces with build/fuzz/replay_plan FILE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "driver.h"

const char fuzz_harness_name[] = "plan";

static FILE *devnull;

#define PLAN_MAX_VISIBLE 200000.0

/* Visible (query, token) pairs of a valid tree in double, in closed form (never overflows; exact
 * while small): node i's queries at positions f..kv-1 see anc + pos + 1 tokens each. */
static double visible_pairs(const deft_tree *t)
{
    double anc[64 + 1], total = 0.0;
    for (int64_t i = 0; i < t->n_nodes && i < 64; i++) {
        int64_t p = t->parent[i];
        anc[i] = p < 0 ? 0.0 : anc[p] + (double)t->kv_len[p];
        double q = (double)t->q_len[i], kv = (double)t->kv_len[i];
        total += q * anc[i] + q * (2.0 * kv - q + 1.0) / 2.0;
    }
    return total;
}

void fuzz_setup(void)
{
    devnull = fopen("/dev/null", "w");
    if (!devnull) {
        fprintf(stderr, "plan: cannot open /dev/null\n");
        exit(2);
    }
}

/* Plan sizes and chunk-level facts: every array inside the block, chunks inside their nodes and
 * the parameters, rows where the tree puts them. */
static void check_chunks(const deft_plan *pl, const deft_tree *t)
{
    if (pl->n_nodes != t->n_nodes) fuzz_fail("plan has %d nodes, tree %lld", pl->n_nodes, (long long)t->n_nodes);
    if (pl->n_queries != deft_tree_total_q(t)) fuzz_fail("plan has %d queries", pl->n_queries);
    size_t need = 4 * (size_t)pl->n_chunks + (size_t)pl->n_chunks + 1 + 3 * (size_t)pl->n_pairs +
                  (size_t)pl->n_queries + 1;
    if (pl->n_words < need) fuzz_fail("plan block holds %zu words, needs %zu", pl->n_words, need);
    int32_t *const arrays[] = {pl->chunk_node, pl->chunk_tok_start, pl->chunk_kv_row, pl->chunk_len,
                               pl->pair_start, pl->pair_query, pl->pair_visible, pl->red_start,
                               pl->red_pair};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        if (arrays[i] < pl->words || arrays[i] > pl->words + pl->n_words)
            fuzz_fail("plan array %zu points outside its block", i);
    int32_t max_len = 0, max_pairs = 0;
    for (int32_t c = 0; c < pl->n_chunks; c++) {
        int32_t u = pl->chunk_node[c], a = pl->chunk_tok_start[c], len = pl->chunk_len[c];
        int32_t np = pl->pair_start[c + 1] - pl->pair_start[c];
        if (u < 0 || u >= t->n_nodes || a < 0 || len < 1 || a + len > t->kv_len[u] ||
            len > pl->chunk_tokens)
            fuzz_fail("chunk %d: node %d tokens %d+%d out of range", c, u, a, len);
        if (pl->chunk_kv_row[c] != deft_tree_kv_offset(t, u) + a)
            fuzz_fail("chunk %d: kv row %d, want %lld", c, pl->chunk_kv_row[c],
                      (long long)(deft_tree_kv_offset(t, u) + a));
        if (np < 1 || (pl->chunk_queries > 0 && np > pl->chunk_queries))
            fuzz_fail("chunk %d has %d queries (bound %d)", c, np, pl->chunk_queries);
        if (len > max_len) max_len = len;
        if (np > max_pairs) max_pairs = np;
    }
    if (pl->n_chunks && (max_len != pl->max_chunk_len || max_pairs != pl->max_chunk_pairs))
        fuzz_fail("plan maxima %d/%d, actual %d/%d", pl->max_chunk_len, pl->max_chunk_pairs,
                  max_len, max_pairs);
    if (pl->pair_start[0] != 0 || pl->pair_start[pl->n_chunks] != pl->n_pairs)
        fuzz_fail("pair_start does not run 0..n_pairs");
    if (pl->red_start[0] != 0 || pl->red_start[pl->n_queries] != pl->n_pairs)
        fuzz_fail("red_start does not run 0..n_pairs");
}

/* Coverage: query q's reduction list, in order, walks its path root first and covers every token
 * of each ancestor and tokens 0..pos of its own node, contiguously and exactly once. Since every
 * listed pair names q and the lists add up to n_pairs, every pair is reduced exactly once. */
static void check_coverage(const deft_plan *pl, const deft_tree *t, const int32_t *chunk_of)
{
    int64_t path[64 + 1];
    int64_t q = 0;
    for (int64_t u = 0; u < t->n_nodes; u++)
        for (int64_t k = 0; k < t->q_len[u]; k++, q++) {
            int64_t pos = t->kv_len[u] - t->q_len[u] + k, depth = 0;
            for (int64_t a = u; a >= 0 && depth <= 64; a = t->parent[a]) path[depth++] = a;
            int32_t r = pl->red_start[q], r_end = pl->red_start[q + 1];
            if (r > r_end) fuzz_fail("query %lld: reduction list runs backwards", (long long)q);
            for (int64_t i = depth - 1; i >= 0; i--) {
                int64_t a = path[i], end = a == u ? pos + 1 : t->kv_len[a], covered = 0;
                while (covered < end) {
                    if (r >= r_end)
                        fuzz_fail("query %lld misses token %lld of node %lld", (long long)q,
                                  (long long)covered, (long long)a);
                    int32_t e = pl->red_pair[r++];
                    if (e < 0 || e >= pl->n_pairs) fuzz_fail("query %lld: pair %d out of range", (long long)q, e);
                    int32_t c = chunk_of[e];
                    if (pl->pair_query[e] != q)
                        fuzz_fail("query %lld reduces pair %d of query %d", (long long)q, e, pl->pair_query[e]);
                    if (pl->chunk_node[c] != a || pl->chunk_tok_start[c] != covered)
                        fuzz_fail("query %lld: pair %d covers node %d from %d, want node %lld from %lld",
                                  (long long)q, e, pl->chunk_node[c], pl->chunk_tok_start[c],
                                  (long long)a, (long long)covered);
                    int32_t vis = pl->pair_visible[e];
                    if (vis < 1 || vis > pl->chunk_len[c] || covered + vis > end ||
                        (covered + vis < end && vis != pl->chunk_len[c]))
                        fuzz_fail("query %lld: pair %d sees %d of %d tokens at %lld (node %lld ends at %lld)",
                                  (long long)q, e, vis, pl->chunk_len[c], (long long)covered,
                                  (long long)a, (long long)end);
                    covered += vis;
                }
            }
            if (r != r_end)
                fuzz_fail("query %lld: %d extra pairs in its reduction list", (long long)q, r_end - r);
        }
}

/* Pair e's chunk (pair_start ascending was checked by check_chunks' per-chunk counts). */
static int32_t *chunks_of_pairs(const deft_plan *pl)
{
    int32_t *chunk_of = malloc(((size_t)pl->n_pairs + 1) * sizeof *chunk_of);
    if (!chunk_of) fuzz_fail("out of memory");
    for (int32_t c = 0; c < pl->n_chunks; c++)
        for (int32_t e = pl->pair_start[c]; e < pl->pair_start[c + 1]; e++) chunk_of[e] = c;
    return chunk_of;
}

static void check_valid(const fuzz_case *fc, const deft_plan *pl)
{
    const deft_tree *t = &fc->c.problem.tree;
    deft_diag diag;
    deft_status st = deft_plan_verify(pl, t, &diag);
    fuzz_check_status("plan verify", st, &diag);
    if (st != DEFT_OK) fuzz_fail("deft_plan_verify: %s", diag.message);
    int64_t ct = fc->opt.chunk_tokens ? fc->opt.chunk_tokens : DEFT_DEFAULT_CHUNK_TOKENS;
    if (pl->chunk_tokens != ct || pl->chunk_queries != fc->opt.chunk_queries)
        fuzz_fail("plan records chunk_tokens %d, chunk_queries %d", pl->chunk_tokens, pl->chunk_queries);
    check_chunks(pl, t);
    int32_t *chunk_of = chunks_of_pairs(pl);
    check_coverage(pl, t, chunk_of);
    free(chunk_of);

    deft_plan again;
    st = deft_plan_build(t, &fc->opt, &again, &diag);
    if (st != DEFT_OK || again.n_words != pl->n_words ||
        memcmp(again.words, pl->words, pl->n_words * sizeof *pl->words))
        fuzz_fail("the same tree planned twice gave different plans");
    deft_plan_free(&again);

    deft_io io;
    st = deft_io_account(t, &fc->c.problem.shape, pl, &io, &diag);
    fuzz_check_status("io account", st, &diag);
    if (st != DEFT_OK && st != DEFT_ERR_OVERFLOW) fuzz_fail("deft_io_account: %s", diag.message);
    deft_plan_print(pl, devnull, 8);
}

void fuzz_one(const uint8_t *data, size_t len)
{
    fuzz_case fc;
    deft_diag diag;
    deft_status st = fuzz_decode(data, len, FUZZ_PROFILE_PLAN, &fc, &diag);
    if (st != DEFT_OK) fuzz_fail("decode: %s", diag.message);
    const deft_tree *t = &fc.c.problem.tree;

    deft_status valid = deft_tree_validate(t, &diag);
    fuzz_check_status("tree validate", valid, &diag);
    if (!fc.raw && valid != DEFT_OK) fuzz_fail("decoder built an invalid tree: %s", diag.message);
    if (valid == DEFT_OK) {
        /* raw forests are not held to the decoder's work bound: skip the rare huge one unless
         * the plan's cheap size guards reject it (totals beyond int32) */
        double visible = visible_pairs(t), total_q = 0.0;
        for (int64_t i = 0; i < t->n_nodes; i++) total_q += (double)t->q_len[i];
        if (visible <= PLAN_MAX_VISIBLE && deft_tree_visible_pairs(t) != (int64_t)visible)
            fuzz_fail("deft_tree_visible_pairs gives %lld, want %.0f",
                      (long long)deft_tree_visible_pairs(t), visible);
        if (visible > PLAN_MAX_VISIBLE && total_q < INT32_MAX && t->total_kv <= INT32_MAX) {
            fuzz_case_free(&fc);
            return;
        }
    }

    deft_plan plan;
    memset(&plan, 0x5A, sizeof plan);
    st = deft_plan_build(t, &fc.opt, &plan, &diag);
    fuzz_check_status("plan build", st, &diag);
    int opt_ok = fc.opt.chunk_tokens >= 0 && fc.opt.chunk_queries >= 0;
    if (valid != DEFT_OK) {
        if (st != valid)
            fuzz_fail("invalid tree (%s) but plan build returned %s", deft_status_name(valid),
                      deft_status_name(st));
    } else if (st == DEFT_OK) {
        if (!opt_ok) fuzz_fail("plan built with chunk_tokens %lld, chunk_queries %lld",
                               (long long)fc.opt.chunk_tokens, (long long)fc.opt.chunk_queries);
        check_valid(&fc, &plan);
        deft_plan_free(&plan);
    } else if (!(st == DEFT_ERR_ARG && !opt_ok) && st != DEFT_ERR_OVERFLOW && st != DEFT_ERR_NO_MEMORY) {
        fuzz_fail("valid tree but plan build returned %s: %s", deft_status_name(st), diag.message);
    }
    fuzz_case_free(&fc);
}
