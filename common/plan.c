/* plan.c: DeFT phase 1, the plan. KV-guided grouping (each node's KV with the queries that read
 * it), flattened tree KV splitting (even chunks of at most chunk_tokens, optionally at most
 * chunk_queries queries each) and the reduction map (each query's pairs in a fixed order).
 * Building is linear in nodes plus (chunk, query) pairs; the result is plain int32 arrays.
 *
 * proofs/frama-c/plan proves the functions below with WP, deft_plan_free aside (free and a memset
 * through a char pointer are outside WP's typed memory model). For each one, it proves the contract
 * and that nothing inside it makes an out-of-bounds access, overflows, divides by zero or converts
 * out of int32 range, on every input its precondition allows:
 *   the token-chunk and slice arithmetic (tc_number, tc_bounds, own_from, n_slices, slice_start,
 *     slice_max);
 *   the counts and the token chunks (count_below, count_chunks, count_links, count_pairs,
 *     split_tokens);
 *   the pairs and the reduction map (fill_one, fill_query, one_query, fill_pairs);
 *   the chunk records (put_chunk, emit_slices, fill_chunks);
 *   build's stages (node_chunks, count_all, fill_records, fill_arrays, plan_sizes, fill_plan) and
 *     build itself; the plan's layout and its zeroing (plan_alloc, plan_clear), validate_tree, the
 *     diagnostics, and deft_plan_build, whose postcondition plan_ok is the bounds the kernels rely
 *     on;
 *   the ghost lemmas the steps call (tokens_step, rs_step, sum_step, records_step, done_step,
 *     chunks_ascend, chunked_end, sum_mono).
 * plan_ok says nothing of coverage (each visible pair once): deft_plan_verify checks that on every
 * plan the tests and fuzzers build, and proofs/coq/Plan.v proves it of the construction. Four
 * counting facts are checked at run time instead of proved (DEFT_ERR_INTERNAL if one ever failed;
 * none can for a valid tree, and proofs/coq/Plan.v proves the counts over an abstract model):
 *   1. the queries below a node number at most all queries (count_below);
 *   2. a token chunk's fill cursor stays inside its pair range (fill_pairs, before each fill);
 *   3. a query's reduction list ends inside the pair count (fill_pairs, before each query);
 *   4. in the end every token chunk's pairs are filled and the reduction lists add up to the pair
 *      count (fill_pairs).
 * They cost a comparison per pair, per query, per node and per token chunk. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Scratch of the builder. A "token chunk" (tc) is a run of a node's tokens; a plan chunk is a
 * token chunk with all, or (with chunk_queries) a slice, of its queries. Per node (one block):
 *   off       first KV row of node          sub       queries strictly below node
 *   n_tc      token chunks of node          anc_tc    token chunks of node's proper ancestors
 *   up        nearest proper ancestor holding tokens, or -1
 *   first_tc  id of node's first token chunk (n + 1 entries: first_tc[n] is the token chunk count)
 * Per token chunk (n_tcs + 1 entries, one block): tc_pair, its first pair (tc_pair[n_tcs] is the
 * pair count); tc_chunk, its first plan chunk (tc_chunk[n_tcs] is the plan chunk count). And
 * tc_fill (n_tcs): the pairs filled so far. */

/* Shapes of the contracts below that the provers must see through when memory changes around
 * them, written as macros so that each expands in place into its quantified formula. */
/* The per-node counts and links and the token chunks that fill_pairs and its steps read. */
#define TC_READABLE(n, n_tcs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair) \
    (\valid_read((n_tc) + (0 .. (n) - 1)) && \valid_read((first_tc) + (0 .. (n) - 1)) && \
     \valid_read((anc_tc) + (0 .. (n) - 1)) && \valid_read((up) + (0 .. (n) - 1)) && \
     \valid_read((tc_a) + (0 .. (n_tcs) - 1)) && \valid_read((tc_n) + (0 .. (n_tcs) - 1)) && \
     \valid_read((tc_pair) + (0 .. (n_tcs))))
/* fill_pairs, while it runs: token chunk i's fill cursor inside its pair range ... */
#define FILL_BOUNDS(n_tcs, tc_pair, tc_fill) \
    (\forall integer i_, j_; 0 <= i_ < (n_tcs) && j_ == i_ + 1 ==> \
       0 <= (tc_fill)[i_] <= (tc_pair)[j_] - (tc_pair)[i_])
/* ... and the pairs filled so far: a query below qb, a visible count of 1 up to the chunk's length. */
#define FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, qb, pairs) \
    (\forall integer i_, e_; 0 <= i_ < (n_tcs) && (tc_pair)[i_] <= e_ < (tc_pair)[i_] + (tc_fill)[i_] ==> \
       0 <= e_ < (pairs) && 0 <= (pq)[e_] < (qb) && 1 <= (pv)[e_] <= (tc_n)[i_])
/* When fill_pairs is done: every pair of every token chunk filled. */
#define FILLED(n_tcs, tc_pair, tc_n, pq, pv, tq) \
    (\forall integer i_, j_, e_; 0 <= i_ < (n_tcs) && j_ == i_ + 1 && (tc_pair)[i_] <= e_ < (tc_pair)[j_] ==> \
       0 <= (pq)[e_] < (tq) && 1 <= (pv)[e_] <= (tc_n)[i_])
/* fill_chunks, while it runs, plan chunks 0 .. c - 1 are done: they are records (RECORDS); the
 * first starts at pair 0 and each later one where the one before it ends, the last one ending at b
 * (PF_ENDS, PF_IN, PF_UP); each of their pairs sees 1 up to its chunk's length tokens (PF_VIS, and
 * PF_LAST for the last chunk, whose pairs end at b). Neighbours are named c1_ < c2_ <= c1_ + 1,
 * neither c1_ + 1 inside an array index nor c2_ == c1_ + 1, which WP rewrites into it: either would
 * hand the provers a quantifier that instantiates itself without end. */
#define PF_ENDS(c, b, pairs, ps) \
    (((c) > 0 ==> (ps)[0] == 0 && (ps)[(c) - 1] <= (b)) && ((c) == 0 ==> (b) == 0) && (b) <= (pairs))
#define PF_IN(c, pairs, ps) (\forall integer c1_; 0 <= c1_ < (c) ==> 0 <= (ps)[c1_] <= (pairs))
#define PF_UP(c, ps) (\forall integer c1_, c2_; 0 <= c1_ < c2_ <= c1_ + 1 && c2_ < (c) ==> (ps)[c1_] <= (ps)[c2_])
#define PF_VIS(c, ps, cl, pv) \
    (\forall integer c1_, c2_, e_; 0 <= c1_ < c2_ <= c1_ + 1 && c2_ < (c) && (ps)[c1_] <= e_ < (ps)[c2_] ==> \
       1 <= (pv)[e_] <= (cl)[c1_])
#define PF_LAST(c, b, ps, cl, pv) \
    ((c) > 0 ==> \forall integer e_; (ps)[(c) - 1] <= e_ < (b) ==> 1 <= (pv)[e_] <= (cl)[(c) - 1])
/* fill_pairs, while it runs: the reduction lists of queries 0 .. q - 1 start in order from slot 0,
 * inside the red slots filled so far. */
#define RS_OK(rs, q, red) \
    (((q) > 0 ==> (rs)[0] == 0) && (\forall integer i_; 0 <= i_ < (q) ==> 0 <= (rs)[i_] <= (red)) && \
     (\forall integer i_, j_; 0 <= i_ < j_ <= i_ + 1 && j_ < (q) ==> (rs)[i_] <= (rs)[j_]))
/* Reduction slots lo .. hi - 1 hold pairs. */
#define RED_OK(rp, lo, hi, pairs) (\forall integer r_; (lo) <= r_ < (hi) ==> 0 <= (rp)[r_] < (pairs))
/* The reduction map: red_start ascending from 0 to the pair count, every entry a pair. */
#define REDUCED(rs, rp, tq, pairs) \
    ((rs)[0] == 0 && (rs)[tq] == (pairs) && \
     (\forall integer q1_, q2_; 0 <= q1_ < q2_ <= q1_ + 1 && q2_ <= (tq) ==> (rs)[q1_] <= (rs)[q2_]) && \
     RED_OK(rp, 0, pairs, pairs))
/* The chunk records: each chunk a run of 1 to ct tokens inside its node and inside K/V ... */
#define RECORDS(n, kv_len, total_kv, ct, chunks, cn, cts, ckr, cl) \
    (\forall integer c_; 0 <= c_ < (chunks) ==> \
       0 <= (cn)[c_] < (n) && 1 <= (cl)[c_] <= (ct) && 0 <= (cts)[c_] && (cts)[c_] + (cl)[c_] <= (kv_len)[(cn)[c_]] && \
       0 <= (ckr)[c_] && (ckr)[c_] + (cl)[c_] <= (total_kv))
/* ... pair_start ascending from 0 to the pair count; each pair sees 1 up to its chunk's length
 * tokens; every pair names a query. */
#define CHUNKED(tq, chunks, pairs, cl, ps, pq, pv) \
    ((ps)[0] == 0 && (ps)[chunks] == (pairs) && \
     (\forall integer c1_, c2_; 0 <= c1_ < c2_ <= c1_ + 1 && c2_ <= (chunks) ==> (ps)[c1_] <= (ps)[c2_]) && \
     (\forall integer c1_, c2_, e_; 0 <= c1_ < c2_ <= c1_ + 1 && c2_ <= (chunks) && (ps)[c1_] <= e_ < (ps)[c2_] ==> \
        1 <= (pv)[e_] <= (cl)[c1_]) && \
     (\forall integer e_; 0 <= e_ < (pairs) ==> 0 <= (pq)[e_] < (tq)))

/*@
  // Token chunks (tc_start, tc_len): a node of L tokens cut into n even chunks; chunk k.
  logic integer tc_count(integer L, integer ct) = (L + ct - 1) / ct;
  logic integer tc_first(integer L, integer n, integer k) = k * (L / n) + (k < L % n ? k : L % n);
  logic integer tc_size(integer L, integer n, integer k) = L / n + (k < L % n ? 1 : 0);
  // Slice x of sl over nq pairs starts at pair nq x / sl.
  logic integer sstart(integer nq, integer sl, integer x) = nq * x / sl;

  // A validated forest (docs/semantics.md, "The problem", sums aside) of n nodes whose sizes fit
  // int32, as the builder's steps see it: the tree's arrays.
  predicate forest_facts(integer n, int64_t *parent, int64_t *kv_len, int64_t *q_len, integer total_kv) =
    \forall integer i; 0 <= i < n ==>
      (parent[i] == -1 || 0 <= parent[i] < i) && 0 <= q_len[i] <= kv_len[i] <= total_kv;
  predicate forest(integer n, int64_t *parent, int64_t *kv_len, int64_t *q_len, integer total_kv) =
    0 <= n <= INT32_MAX && 0 <= total_kv <= INT32_MAX &&
    \valid_read(parent + (0 .. n - 1)) && \valid_read(kv_len + (0 .. n - 1)) &&
    \valid_read(q_len + (0 .. n - 1)) && forest_facts(n, parent, kv_len, q_len, total_kv);

  // A validated tree (sums aside) whose sizes fit int32.
  predicate tree_ok(deft_tree *t) =
    deft_tree_readable(t) && deft_tree_shape(t) && t->n_nodes <= INT32_MAX && t->total_kv <= INT32_MAX;

  // m int64s (int32s) at p share no memory with the forest's arrays.
  predicate apart(int64_t *p, integer m, integer n, int64_t *parent, int64_t *kv_len, int64_t *q_len) =
    \separated(p + (0 .. m - 1), parent + (0 .. n - 1)) && \separated(p + (0 .. m - 1), kv_len + (0 .. n - 1)) &&
    \separated(p + (0 .. m - 1), q_len + (0 .. n - 1));
  predicate apart32(int32_t *p, integer m, integer n, int64_t *parent, int64_t *kv_len, int64_t *q_len) =
    \separated(p + (0 .. m - 1), parent + (0 .. n - 1)) && \separated(p + (0 .. m - 1), kv_len + (0 .. n - 1)) &&
    \separated(p + (0 .. m - 1), q_len + (0 .. n - 1));

  // What the allocation wrappers return: m elements, sharing no memory with the tree, its arrays,
  // the plan, the diagnostic, or the blocks allocated before (b1, b2, b3 of m1, m2, m3 int64s); an
  // int32 block is moreover another allocation than the plan (so a write to the plan's fields leaves
  // every entry of the block as it was, whatever its index).
  predicate fresh64(int64_t *p, integer m, deft_tree *t, deft_plan *pl, deft_diag *d,
                    int64_t *b1, integer m1, int64_t *b2, integer m2, int64_t *b3, integer m3) =
    \valid(p + (0 .. m - 1)) && deft_apart(p, m, t) && \separated(p + (0 .. m - 1), pl) &&
    (d == \null || \separated(p + (0 .. m - 1), d)) &&
    \separated(p + (0 .. m - 1), b1 + (0 .. m1 - 1)) && \separated(p + (0 .. m - 1), b2 + (0 .. m2 - 1)) &&
    \separated(p + (0 .. m - 1), b3 + (0 .. m3 - 1));
  predicate fresh32(int32_t *p, integer m, deft_tree *t, deft_plan *pl, deft_diag *d,
                    int64_t *b1, integer m1, int64_t *b2, integer m2, int64_t *b3, integer m3,
                    int32_t *f, integer mf) =
    \separated(p + (0 .. m - 1), f + (0 .. mf - 1)) && \base_addr(p) != \base_addr(pl) &&
    \valid(p + (0 .. m - 1)) && \separated(p + (0 .. m - 1), t) &&
    (t->n_nodes > 0 ==> apart32(p, m, t->n_nodes, t->parent, t->kv_len, t->q_len) &&
       (t->kv_offset == \null || \separated(p + (0 .. m - 1), t->kv_offset + (0 .. t->n_nodes - 1)))) &&
    \separated(p + (0 .. m - 1), pl) && (d == \null || \separated(p + (0 .. m - 1), d)) &&
    \separated(p + (0 .. m - 1), b1 + (0 .. m1 - 1)) && \separated(p + (0 .. m - 1), b2 + (0 .. m2 - 1)) &&
    \separated(p + (0 .. m - 1), b3 + (0 .. m3 - 1));

  // Node by node (count_chunks, count_links): n_tc[i] token chunks, numbered from first_tc[i] ...
  predicate counted(integer n, int64_t *kv_len, integer ct, int64_t *n_tc) =
    \forall integer i; 0 <= i < n ==>
      n_tc[i] == tc_count(kv_len[i], ct) && 0 <= n_tc[i] <= kv_len[i] && (kv_len[i] > 0 ==> 1 <= n_tc[i]);
  predicate sized(integer n, int64_t *kv_len, int64_t *n_tc) =
    \forall integer i; 0 <= i < n ==> 0 <= n_tc[i] <= kv_len[i] && (kv_len[i] > 0 ==> 1 <= n_tc[i]);
  predicate numbered(integer n, int64_t *n_tc, int64_t *first_tc) =
    (\forall integer i, j; 0 <= i < j <= i + 1 && j <= n ==> first_tc[j] == first_tc[i] + n_tc[i]) &&
    first_tc[0] == 0 && (\forall integer i, j; 0 <= i <= j <= n ==> first_tc[i] <= first_tc[j]);
  // ... the nearest proper ancestor holding tokens (up) and the token chunks of all proper
  // ancestors (anc_tc): those of up's proper ancestors, then up's own.
  predicate links(integer n, int64_t *n_tc, int64_t *anc_tc, int64_t *up) =
    (\forall integer i; 0 <= i < n ==> 0 <= anc_tc[i] <= i * INT32_MAX && -1 <= up[i] < i &&
       (up[i] == -1 ==> anc_tc[i] == 0)) &&
    (\forall integer i, a; 0 <= i < n && 0 <= a && a == up[i] ==>
       1 <= n_tc[a] && anc_tc[i] == anc_tc[a] + n_tc[a]);

  // Token chunk by token chunk (split_tokens): token chunk i holds tokens tc_a[i] .. tc_a[i] +
  // tc_n[i] - 1 of node tc_node[i], 1 to ct of them.
  predicate tokens(integer n, int64_t *kv_len, integer ct, integer n_tcs, int64_t *tc_node,
                   int64_t *tc_a, int64_t *tc_n) =
    \forall integer i; 0 <= i < n_tcs ==>
      0 <= tc_node[i] < n && 0 <= tc_a[i] && 1 <= tc_n[i] <= ct && tc_a[i] + tc_n[i] <= kv_len[tc_node[i]];

  // (count_pairs) The pairs of token chunk i are tc_pair[i] .. tc_pair[i + 1] - 1 ...
  predicate pair_ranges(integer n_tcs, int64_t *tc_pair, integer pairs) =
    tc_pair[0] == 0 && tc_pair[n_tcs] == pairs &&
    (\forall integer i, j; 0 <= i <= j <= n_tcs ==> 0 <= tc_pair[i] <= tc_pair[j] <= pairs);
  // ... and its plan chunks tc_chunk[i] .. tc_chunk[i + 1] - 1, one per query slice: none
  // without pairs, else 1 up to the pair count.
  predicate chunk_ranges(integer n_tcs, int64_t *tc_pair, int64_t *tc_chunk, integer pairs) =
    tc_chunk[0] == 0 && 0 <= tc_chunk[n_tcs] <= pairs &&
    (\forall integer i, j; 0 <= i < j <= i + 1 && j <= n_tcs ==>
       (tc_pair[j] == tc_pair[i] ==> tc_chunk[j] == tc_chunk[i]) &&
       (tc_pair[j] > tc_pair[i] ==> 1 <= tc_chunk[j] - tc_chunk[i] <= tc_pair[j] - tc_pair[i]));

  // fill_chunks's progress (PF_ENDS .. PF_LAST above), as predicates: stated and used whole, they
  // pass from one contract to the next without the provers unfolding them.
  predicate records(integer n, int64_t *kv_len, integer total_kv, integer ct, integer c, int32_t *cn,
                    int32_t *cts, int32_t *ckr, int32_t *cl) = RECORDS(n, kv_len, total_kv, ct, c, cn, cts, ckr, cl);
  predicate pf_ends(integer c, integer b, integer pairs, int32_t *ps) = PF_ENDS(c, b, pairs, ps);
  predicate pf_in(integer c, integer pairs, int32_t *ps) = PF_IN(c, pairs, ps);
  predicate pf_up(integer c, int32_t *ps) = PF_UP(c, ps);
  predicate pf_vis(integer c, int32_t *ps, int32_t *cl, int32_t *pv) = PF_VIS(c, ps, cl, pv);
  predicate pf_last(integer c, integer b, int32_t *ps, int32_t *cl, int32_t *pv) = PF_LAST(c, b, ps, cl, pv);

  // The chunk records' pair ranges and the reduction map, as predicates (as records above), so that
  // they pass from fill_arrays' contract to plan_ok as they stand.
  predicate chunked(integer tq, integer chunks, integer pairs, int32_t *cl, int32_t *ps, int32_t *pq, int32_t *pv) =
    CHUNKED(tq, chunks, pairs, cl, ps, pq, pv);
  predicate reduced(int32_t *rs, int32_t *rp, integer tq, integer pairs) = REDUCED(rs, rp, tq, pairs);

  // deft_plan_build's result: the facts the kernels rely on.
  predicate plan_ok(deft_plan *p, deft_tree *t) =
    p->n_nodes == t->n_nodes && 0 <= p->n_chunks && 0 <= p->n_pairs && 0 <= p->n_queries &&
    1 <= p->chunk_tokens &&
    \valid(p->chunk_node + (0 .. p->n_chunks - 1)) && \valid(p->chunk_tok_start + (0 .. p->n_chunks - 1)) &&
    \valid(p->chunk_kv_row + (0 .. p->n_chunks - 1)) && \valid(p->chunk_len + (0 .. p->n_chunks - 1)) &&
    \valid(p->pair_start + (0 .. p->n_chunks)) && \valid(p->pair_query + (0 .. p->n_pairs - 1)) &&
    \valid(p->pair_visible + (0 .. p->n_pairs - 1)) && \valid(p->red_start + (0 .. p->n_queries)) &&
    \valid(p->red_pair + (0 .. p->n_pairs - 1)) &&
    records(t->n_nodes, t->kv_len, t->total_kv, p->chunk_tokens, p->n_chunks, p->chunk_node,
            p->chunk_tok_start, p->chunk_kv_row, p->chunk_len) &&
    chunked(p->n_queries, p->n_chunks, p->n_pairs, p->chunk_len, p->pair_start, p->pair_query,
            p->pair_visible) &&
    reduced(p->red_start, p->red_pair, p->n_queries, p->n_pairs);
*/

/* Trusted (admit): WP does not model calloc, malloc and free, so the proof does not go inside
 * these wrappers. Each returns what the call returns; trusted is that a block calloc or malloc
 * returns holds n elements (calloc: zeros) and is fresh: it shares no memory with what existed
 * before (the tree, the plan, the diagnostic, the blocks named by the ghost parameters), and an
 * int32 block is an allocation of its own, not the plan's (another base address). calloc
 * checks n * 8 for overflow itself, so any n is safe to ask for. */
/*@ requires 0 <= n;
    assigns \result \from indirect:n, indirect:__fc_heap_status;
    assigns __fc_heap_status \from indirect:n, __fc_heap_status;
    admit ensures \result == \null ||
      (fresh64(\result, n, t, pl, d, b1, m1, b2, m2, b3, m3) &&
       \forall integer i; 0 <= i < n ==> \result[i] == 0); */
static int64_t *alloc64(int64_t n) /*@ ghost (const deft_tree *t, deft_plan *pl, deft_diag *d,
    int64_t *b1, int64_t m1, int64_t *b2, int64_t m2, int64_t *b3, int64_t m3) */
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(int64_t));
}

/*@ requires 0 < n <= INT64_MAX / 4;
    assigns \result \from indirect:n, indirect:__fc_heap_status;
    assigns __fc_heap_status \from indirect:n, __fc_heap_status;
    admit ensures \result == \null || fresh32(\result, n, t, pl, d, b1, m1, b2, m2, b3, m3, f, mf); */
static int32_t *alloc32(int64_t n) /*@ ghost (const deft_tree *t, deft_plan *pl, deft_diag *d,
    int64_t *b1, int64_t m1, int64_t *b2, int64_t m2, int64_t *b3, int64_t m3, int32_t *f, int64_t mf) */
{
    return malloc((size_t)n * sizeof(int32_t));
}

/*@ requires 0 <= n;
    assigns \result \from indirect:n, indirect:__fc_heap_status;
    assigns __fc_heap_status \from indirect:n, __fc_heap_status;
    admit ensures \result == \null ||
      (fresh32(\result, n, t, pl, d, b1, m1, b2, m2, b3, m3, \null, 0) &&
       \forall integer i; 0 <= i < n ==> \result[i] == 0); */
static int32_t *zalloc32(int64_t n) /*@ ghost (const deft_tree *t, deft_plan *pl, deft_diag *d,
    int64_t *b1, int64_t m1, int64_t *b2, int64_t m2, int64_t *b3, int64_t m3) */
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(int32_t));
}

/*@ assigns __fc_heap_status \from __fc_heap_status; */
static void release64(int64_t *p)
{
    free(p);
}

/*@ assigns __fc_heap_status \from __fc_heap_status; */
static void release32(int32_t *p)
{
    free(p);
}

/* Token chunks of a node of len tokens: ceil(len / ct). */
/*@ requires 0 <= len <= INT32_MAX && 1 <= ct <= INT32_MAX;
    assigns \nothing;
    ensures \result == tc_count(len, ct) && 0 <= \result <= len && (len > 0 ==> 1 <= \result); */
static int64_t tc_number(int64_t len, int64_t ct)
{
    return (len + ct - 1) / ct;
}

/* Token chunk k of a node of len tokens cut into n even chunks: start and length (ct, ghost: the
 * chunk_tokens that gave n = ceil(len / ct), so no chunk is longer). */
/*@ requires 1 <= n <= len <= INT32_MAX && 0 <= k < n;
    requires 1 <= ct && n == tc_count(len, ct);
    requires \valid(start) && \valid(clen) && \separated(start, clen);
    assigns *start, *clen;
    ensures 0 <= *start && 1 <= *clen <= ct && *start + *clen <= len; */
static void tc_bounds(int64_t len, int64_t n, int64_t k, int64_t *start, int64_t *clen)
    /*@ ghost (int64_t ct) */
{
    int64_t base = len / n, extra = len % n;
    //@ assert len == n * base + extra && 0 <= extra < n && 1 <= base;
    //@ assert k * base + base <= n * base;
    *start = k * base + (k < extra ? k : extra);
    *clen = base + (k < extra);
}

/* Own queries of a node of L tokens, Q of them queries (positions L-Q..L-1), at or after token a. */
/*@ requires 0 <= Q <= L <= INT32_MAX && 0 <= a <= L;
    assigns \nothing;
    ensures 0 <= \result <= Q; */
static int64_t own_from(int64_t L, int64_t Q, int64_t a)
{
    int64_t first = L - Q;
    int64_t from = a > first ? a : first;
    return L - from > 0 ? L - from : 0;
}

/* Slices of a token chunk read by nq queries: none without queries, else 1 up to nq. */
/*@ requires 0 <= nq <= 3 * INT32_MAX && 0 <= cq <= INT32_MAX;
    assigns \nothing;
    ensures nq == 0 ==> \result == 0;
    ensures nq > 0 ==> 1 <= \result <= nq; */
static int64_t n_slices(int64_t nq, int64_t cq)
{
    return cq > 0 ? (nq + cq - 1) / cq : (nq > 0);
}

/* Slice x of sl over nq pairs starts at pair nq x / sl (so the slices even out); the largest holds
 * ceil(nq / sl). The ghost prev is slice x - 1's start. */
/*@ requires 0 <= nq <= INT32_MAX && 1 <= sl <= nq && 0 <= x < sl;
    requires x == 0 ==> prev == 0;
    requires x > 0 ==> prev == sstart(nq, sl, x - 1);
    assigns \nothing;
    ensures \result == sstart(nq, sl, x) && prev <= \result <= nq; */
static int64_t slice_start(int64_t nq, int64_t sl, int64_t x) /*@ ghost (int64_t prev) */
{
    return (nq * x) / sl;
}

/*@ requires 1 <= sl <= nq <= INT32_MAX;
    assigns \nothing;
    ensures 1 <= \result <= nq; */
static int64_t slice_max(int64_t nq, int64_t sl)
{
    return (nq + sl - 1) / sl;
}

/* Outside the proof: WP's typed memory model covers neither free nor a memset of the plan through a
 * char pointer. */
void deft_plan_free(deft_plan *plan)
{
    if (!plan) return;
    free(plan->words);
    memset(plan, 0, sizeof *plan);
}

/*@ requires d == \null || \valid(d);
    assigns *d;
    ensures \result == DEFT_ERR_OVERFLOW; */
static deft_status too_big(deft_diag *d, const char *what, int64_t v)
{
    deft_diag_set(d, DEFT_ERR_OVERFLOW, -1, "plan: %s (%lld) does not fit int32", what, (long long)v);
    return DEFT_ERR_OVERFLOW;
}

/* A counting fact the proofs leave to run time failed (a bug; see the header). */
/*@ requires d == \null || \valid(d);
    assigns *d;
    ensures \result == DEFT_ERR_INTERNAL; */
static deft_status broken(deft_diag *d, const char *what)
{
    deft_diag_set(d, DEFT_ERR_INTERNAL, -1, "plan: internal error: %s", what);
    return DEFT_ERR_INTERNAL;
}

/*@ requires d == \null || \valid(d);
    assigns *d;
    ensures \result == DEFT_ERR_NO_MEMORY; */
static deft_status out_of_memory(deft_diag *d)
{
    deft_diag_set(d, DEFT_ERR_NO_MEMORY, -1, "plan: out of memory");
    return DEFT_ERR_NO_MEMORY;
}

/*@ requires d == \null || \valid(d);
    assigns *d;
    ensures \result == DEFT_ERR_NO_MEMORY; */
static deft_status words_oom(deft_diag *d, int64_t words)
{
    deft_diag_set(d, DEFT_ERR_NO_MEMORY, -1, "plan: out of memory (%lld words)", (long long)words);
    return DEFT_ERR_NO_MEMORY;
}

/* Queries strictly below each node (sub, zero on entry), adding each node into its parent from the
 * last node up. Returns 0, or -1 if the queries below a node exceed tq (run-time check 1). */
/*@ requires forest(n, parent, kv_len, q_len, total_kv) && 0 <= tq < INT32_MAX;
    requires \valid(sub + (0 .. n - 1)) && apart(sub, n, n, parent, kv_len, q_len);
    requires \forall integer i; 0 <= i < n ==> sub[i] == 0;
    assigns sub[0 .. n - 1];
    ensures \result == 0 || \result == -1;
    ensures \result == 0 ==> \forall integer i; 0 <= i < n ==> 0 <= sub[i] <= tq; */
static int count_below(int64_t n, const int64_t *parent, const int64_t *q_len, int64_t tq,
                       int64_t *sub) /*@ ghost (const int64_t *kv_len, int64_t total_kv) */
{
    /*@ loop invariant -1 <= i < n && forest_facts(n, parent, kv_len, q_len, total_kv);
        loop invariant \forall integer j; 0 <= j < n ==> 0 <= sub[j] <= tq;
        loop assigns i, sub[0 .. n - 1];
        loop variant i + 1; */
    for (int64_t i = n - 1; i >= 0; i--) {
        int64_t p = parent[i];
        if (p >= 0) {
            sub[p] += sub[i] + q_len[i];
            if (sub[p] > tq) return -1;
        }
    }
    return 0;
}

/* Token chunks of each node, numbered node by node: returns their count. */
/*@ requires forest(n, parent, kv_len, q_len, total_kv) && 1 <= ct <= INT32_MAX;
    requires \valid(n_tc + (0 .. n - 1)) && \valid(first_tc + (0 .. n));
    requires \separated(n_tc + (0 .. n - 1), first_tc + (0 .. n));
    requires apart(n_tc, n, n, parent, kv_len, q_len) && apart(first_tc, n + 1, n, parent, kv_len, q_len);
    assigns n_tc[0 .. n - 1], first_tc[0 .. n];
    ensures 0 <= \result <= n * INT32_MAX && first_tc[n] == \result;
    ensures counted(n, kv_len, ct, n_tc) && sized(n, kv_len, n_tc);
    ensures numbered(n, n_tc, first_tc);
    ensures forest_facts(n, parent, kv_len, q_len, total_kv);
    ensures \forall integer i; 0 <= i < n ==> 0 <= first_tc[i] && first_tc[i] + n_tc[i] <= \result; */
static int64_t count_chunks(int64_t n, const int64_t *kv_len, int64_t ct, int64_t *n_tc,
                            int64_t *first_tc) /*@ ghost (const int64_t *parent, const int64_t *q_len, int64_t total_kv) */
{
    int64_t total = 0;
    /*@ loop invariant 0 <= i <= n && 0 <= total <= i * INT32_MAX;
        loop invariant forest_facts(n, parent, kv_len, q_len, total_kv);
        loop invariant i == 0 ==> total == 0;
        loop invariant i > 0 ==> first_tc[0] == 0 && total == first_tc[i - 1] + n_tc[i - 1];
        loop invariant \forall integer j; 0 <= j < i ==>
          n_tc[j] == tc_count(kv_len[j], ct) && 0 <= n_tc[j] <= kv_len[j] && (kv_len[j] > 0 ==> 1 <= n_tc[j]);
        loop invariant \forall integer j, j1; 0 <= j < j1 <= j + 1 && j1 < i ==> first_tc[j1] == first_tc[j] + n_tc[j];
        loop invariant \forall integer j; 0 <= j < i ==> 0 <= first_tc[j] && first_tc[j] + n_tc[j] <= total;
        loop invariant \forall integer j1, j2; 0 <= j1 <= j2 < i ==> first_tc[j1] <= first_tc[j2];
        loop assigns i, total, n_tc[0 .. n - 1], first_tc[0 .. n - 1];
        loop variant n - i; */
    for (int64_t i = 0; i < n; i++) {
        n_tc[i] = tc_number(kv_len[i], ct);
        first_tc[i] = total;
        total += n_tc[i];
    }
    first_tc[n] = total;
    return total;
}

/* For each node, its nearest proper ancestor holding tokens (up, or -1) and the token chunks of
 * all its proper ancestors (anc_tc). */
/*@ requires forest(n, parent, kv_len, q_len, total_kv);
    requires \valid_read(n_tc + (0 .. n - 1)) && \valid(anc_tc + (0 .. n - 1)) && \valid(up + (0 .. n - 1));
    requires \separated(n_tc + (0 .. n - 1), anc_tc + (0 .. n - 1), up + (0 .. n - 1));
    requires apart(anc_tc, n, n, parent, kv_len, q_len) && apart(up, n, n, parent, kv_len, q_len);
    requires sized(n, kv_len, n_tc);
    assigns anc_tc[0 .. n - 1], up[0 .. n - 1];
    ensures links(n, n_tc, anc_tc, up);
    ensures forest_facts(n, parent, kv_len, q_len, total_kv); */
static void count_links(int64_t n, const int64_t *parent, const int64_t *kv_len,
                        const int64_t *n_tc, int64_t *anc_tc, int64_t *up)
    /*@ ghost (const int64_t *q_len, int64_t total_kv) */
{
    /*@ loop invariant 0 <= i <= n && forest_facts(n, parent, kv_len, q_len, total_kv);
        loop invariant \forall integer j; 0 <= j < n ==> 0 <= n_tc[j] <= kv_len[j] && (kv_len[j] > 0 ==> 1 <= n_tc[j]);
        loop invariant \forall integer j; 0 <= j < i ==> 0 <= anc_tc[j] <= j * INT32_MAX && -1 <= up[j] < j &&
          (up[j] == -1 ==> anc_tc[j] == 0);
        loop invariant \forall integer j, a; 0 <= j < i && 0 <= a && a == up[j] ==> 1 <= n_tc[a];
        loop invariant \forall integer j, a; 0 <= j < i && 0 <= a && a == up[j] ==> anc_tc[j] == anc_tc[a] + n_tc[a];
        loop assigns i, anc_tc[0 .. n - 1], up[0 .. n - 1];
        loop variant n - i; */
    for (int64_t i = 0; i < n; i++) {
        int64_t p = parent[i], anc = 0, link = -1;
        if (p >= 0) {
            /*@ assert up[p] >= 0 ==> 1 <= n_tc[up[p]] && anc_tc[p] == anc_tc[up[p]] + n_tc[up[p]]; */
            anc = anc_tc[p] + n_tc[p];
            link = kv_len[p] > 0 ? p : up[p];
        }
        anc_tc[i] = anc;
        up[i] = link;
    }
}

/* Token chunks 0 .. m - 1 are in order and so is token chunk m: so are 0 .. m. */
/*@ ghost
  /@ requires tokens(n, kv_len, ct, m, tc_node, tc_a, tc_n);
     requires 0 <= tc_node[m] < n && 0 <= tc_a[m] && 1 <= tc_n[m] <= ct && tc_a[m] + tc_n[m] <= kv_len[tc_node[m]];
     assigns \nothing;
     ensures tokens(n, kv_len, ct, m + 1, tc_node, tc_a, tc_n); @/
  static void tokens_step(int64_t n, const int64_t *kv_len, int64_t ct, int64_t m, const int64_t *tc_node,
                          const int64_t *tc_a, const int64_t *tc_n)
  {
  }
*/

/* Each token chunk's node, first token and length (tc_node, tc_a, tc_n), node by node. */
/*@ requires forest(n, parent, kv_len, q_len, total_kv) && 1 <= ct <= INT32_MAX;
    requires counted(n, kv_len, ct, n_tc) && numbered(n, n_tc, first_tc) && first_tc[n] == n_tcs;
    requires \valid_read(n_tc + (0 .. n - 1)) && \valid_read(first_tc + (0 .. n));
    requires \valid(tc_node + (0 .. n_tcs - 1)) && \valid(tc_a + (0 .. n_tcs - 1)) && \valid(tc_n + (0 .. n_tcs - 1));
    requires \separated(tc_node + (0 .. n_tcs - 1), tc_a + (0 .. n_tcs - 1), tc_n + (0 .. n_tcs - 1),
                        n_tc + (0 .. n - 1), first_tc + (0 .. n));
    requires apart(tc_node, n_tcs, n, parent, kv_len, q_len) && apart(tc_a, n_tcs, n, parent, kv_len, q_len) &&
             apart(tc_n, n_tcs, n, parent, kv_len, q_len);
    assigns tc_node[0 .. n_tcs - 1], tc_a[0 .. n_tcs - 1], tc_n[0 .. n_tcs - 1];
    ensures tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n); */
static void split_tokens(int64_t n, const int64_t *kv_len, const int64_t *n_tc,
                         const int64_t *first_tc, int64_t *tc_node, int64_t *tc_a, int64_t *tc_n)
    /*@ ghost (int64_t ct, int64_t n_tcs, const int64_t *parent, const int64_t *q_len, int64_t total_kv) */
{
    /*@ loop invariant 0 <= u <= n && \let v = u; 0 <= \at(first_tc[v], Pre) <= n_tcs;
        loop invariant \let v = u; tokens(n, kv_len, ct, \at(first_tc[v], Pre), tc_node, tc_a, tc_n);
        loop assigns u, tc_node[0 .. n_tcs - 1], tc_a[0 .. n_tcs - 1], tc_n[0 .. n_tcs - 1];
        loop variant n - u; */
    for (int64_t u = 0; u < n; u++) {
        int64_t len = kv_len[u], cnt = n_tc[u], base = first_tc[u];
        //@ assert \let v = u; base == \at(first_tc[v], Pre) && cnt == \at(n_tc[v], Pre) && len == \at(kv_len[v], Pre);
        //@ assert \let v = u + 1; \at(first_tc[v], Pre) == base + cnt && \at(first_tc[v], Pre) <= n_tcs;
        //@ assert 0 <= cnt <= len <= INT32_MAX && cnt == tc_count(len, ct);
        /*@ loop invariant 0 <= k <= cnt;
            loop invariant tokens(n, kv_len, ct, base + k, tc_node, tc_a, tc_n);
            loop assigns k, tc_node[0 .. n_tcs - 1], tc_a[0 .. n_tcs - 1], tc_n[0 .. n_tcs - 1];
            loop variant cnt - k; */
        for (int64_t k = 0; k < cnt; k++) {
            tc_node[base + k] = u;
            tc_bounds(len, cnt, k, &tc_a[base + k], &tc_n[base + k]) /*@ ghost (ct) */;
            /* tc_bounds wrote token chunk base + k only: the ones before it read as they did. */
            /*@ assert \forall integer i; 0 <= i < base + k ==>
                  tc_node[i] == \at(tc_node[i], LoopCurrent) && tc_a[i] == \at(tc_a[i], LoopCurrent) &&
                  tc_n[i] == \at(tc_n[i], LoopCurrent); */
            //@ assert \forall integer j; 0 <= j < n ==> kv_len[j] == \at(kv_len[j], LoopCurrent);
            //@ assert tokens(n, kv_len, ct, base + k, tc_node, tc_a, tc_n);
            //@ assert tc_node[base + k] == u && kv_len[u] == len;
            /*@ assert 0 <= tc_node[base + k] < n && 0 <= tc_a[base + k] && 1 <= tc_n[base + k] <= ct &&
                  tc_a[base + k] + tc_n[base + k] <= kv_len[tc_node[base + k]]; */
            //@ ghost tokens_step(n, kv_len, ct, base + k, tc_node, tc_a, tc_n);
        }
    }
}

/* Pairs per token chunk: the queries below its node and its node's own queries at or after its
 * first token; and its plan chunks, one per query slice. tc_pair[n_tcs] is the pair count,
 * tc_chunk[n_tcs] the plan chunk count. Returns the pair count, or the running count that first
 * reached INT32_MAX (the caller reports DEFT_ERR_OVERFLOW). */
/*@ requires forest(n, parent, kv_len, q_len, total_kv) && 0 <= cq <= INT32_MAX && 0 <= tq < INT32_MAX;
    requires 0 <= n_tcs && tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
    requires \forall integer i; 0 <= i < n ==> 0 <= sub[i] <= tq;
    requires \valid_read(sub + (0 .. n - 1)) && \valid_read(tc_node + (0 .. n_tcs - 1)) &&
             \valid_read(tc_a + (0 .. n_tcs - 1));
    requires \valid(tc_pair + (0 .. n_tcs)) && \valid(tc_chunk + (0 .. n_tcs));
    requires apart(tc_pair, n_tcs + 1, n, parent, kv_len, q_len) && apart(tc_chunk, n_tcs + 1, n, parent, kv_len, q_len);
    requires \separated(tc_pair + (0 .. n_tcs), tc_chunk + (0 .. n_tcs), sub + (0 .. n - 1),
                        tc_node + (0 .. n_tcs - 1), tc_a + (0 .. n_tcs - 1));
    assigns tc_pair[0 .. n_tcs], tc_chunk[0 .. n_tcs];
    ensures 0 <= \result <= 3 * INT32_MAX;
    ensures \result < INT32_MAX ==>
      pair_ranges(n_tcs, tc_pair, \result) && chunk_ranges(n_tcs, tc_pair, tc_chunk, \result); */
static int64_t count_pairs(const int64_t *kv_len, const int64_t *q_len, int64_t cq,
                           const int64_t *sub, int64_t n_tcs, const int64_t *tc_node,
                           const int64_t *tc_a, int64_t *tc_pair, int64_t *tc_chunk)
    /*@ ghost (int64_t n, const int64_t *parent, int64_t total_kv, int64_t ct, int64_t tq, const int64_t *tc_n) */
{
    int64_t pairs = 0, chunks = 0;
    /*@ loop invariant 0 <= id <= n_tcs && 0 <= chunks <= pairs < INT32_MAX;
        loop invariant \forall integer i; 0 <= i < n_tcs ==>
          tc_node[i] == \at(tc_node[i], Pre) && tc_a[i] == \at(tc_a[i], Pre);
        loop invariant id == 0 ==> pairs == 0 && chunks == 0;
        loop invariant id > 0 ==> tc_pair[0] == 0 && tc_chunk[0] == 0;
        loop invariant \forall integer i, j; 0 <= i <= j < id ==> 0 <= tc_pair[i] <= tc_pair[j] <= pairs;
        loop invariant \forall integer i, j; 0 <= i < id && j == i + 1 && j < id ==>
          (tc_pair[j] == tc_pair[i] ==> tc_chunk[j] == tc_chunk[i]) &&
          (tc_pair[j] > tc_pair[i] ==> 1 <= tc_chunk[j] - tc_chunk[i] <= tc_pair[j] - tc_pair[i]);
        loop invariant id > 0 ==>
          (pairs == tc_pair[id - 1] ==> chunks == tc_chunk[id - 1]) &&
          (pairs > tc_pair[id - 1] ==> 1 <= chunks - tc_chunk[id - 1] <= pairs - tc_pair[id - 1]);
        loop assigns id, pairs, chunks, tc_pair[0 .. n_tcs - 1], tc_chunk[0 .. n_tcs - 1];
        loop variant n_tcs - id; */
    for (int64_t id = 0; id < n_tcs; id++) {
        int64_t u = tc_node[id], a = tc_a[id];
        //@ assert \let i = id; 0 <= u < n && 0 <= a <= kv_len[u] && u == \at(tc_node[i], Pre) && a == \at(tc_a[i], Pre);
        //@ assert 0 <= sub[u] <= tq && 0 <= q_len[u] <= kv_len[u] <= INT32_MAX;
        int64_t nq = sub[u] + own_from(kv_len[u], q_len[u], a), sl = n_slices(nq, cq);
        tc_pair[id] = pairs;
        tc_chunk[id] = chunks;
        /* Entry id goes in apart from the earlier ones, which read as they did. */
        /*@ assert \forall integer i; 0 <= i < id ==>
              tc_pair[i] == \at(tc_pair[i], LoopCurrent) && tc_chunk[i] == \at(tc_chunk[i], LoopCurrent); */
        //@ assert \forall integer i, j; 0 <= i <= j <= id ==> 0 <= tc_pair[i] <= tc_pair[j] <= pairs;
        /*@ assert id > 0 ==>
              (tc_pair[id] == tc_pair[id - 1] ==> tc_chunk[id] == tc_chunk[id - 1]) &&
              (tc_pair[id] > tc_pair[id - 1] ==> 1 <= tc_chunk[id] - tc_chunk[id - 1] <= tc_pair[id] - tc_pair[id - 1]); */
        pairs += nq;
        chunks += sl;
        if (pairs >= INT32_MAX) return pairs;
    }
    /* The last entries go in apart from the others: pair_ranges and chunk_ranges step by step. */
    //@ assert \separated(tc_pair + n_tcs, tc_chunk + (0 .. n_tcs)) && \separated(tc_chunk + n_tcs, tc_pair + (0 .. n_tcs));
    tc_pair[n_tcs] = pairs;
    tc_chunk[n_tcs] = chunks;
    //@ assert tc_pair[n_tcs] == pairs && tc_chunk[n_tcs] == chunks && tc_pair[0] == 0 && tc_chunk[0] == 0;
    //@ assert \forall integer i, j; 0 <= i <= j < n_tcs ==> 0 <= tc_pair[i] <= tc_pair[j] <= pairs;
    //@ assert pair_ranges(n_tcs, tc_pair, pairs);
    /*@ assert \forall integer i, j; 0 <= i < n_tcs && j == i + 1 && j < n_tcs ==>
          (tc_pair[j] == tc_pair[i] ==> tc_chunk[j] == tc_chunk[i]) &&
          (tc_pair[j] > tc_pair[i] ==> 1 <= tc_chunk[j] - tc_chunk[i] <= tc_pair[j] - tc_pair[i]); */
    /*@ assert \let i = n_tcs - 1; n_tcs > 0 ==>
          (tc_pair[n_tcs] == tc_pair[i] ==> tc_chunk[n_tcs] == tc_chunk[i]) &&
          (tc_pair[n_tcs] > tc_pair[i] ==> 1 <= tc_chunk[n_tcs] - tc_chunk[i] <= tc_pair[n_tcs] - tc_pair[i]); */
    /*@ assert \forall integer i, j; 0 <= i < j <= i + 1 && j <= n_tcs ==>
          (tc_pair[j] == tc_pair[i] ==> tc_chunk[j] == tc_chunk[i]) &&
          (tc_pair[j] > tc_pair[i] ==> 1 <= tc_chunk[j] - tc_chunk[i] <= tc_pair[j] - tc_pair[i]); */
    //@ assert chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs);
    return pairs;
}

/* One pair: the next free pair e of token chunk i (run-time check 2: there is one) gets query q
 * seeing vis tokens, and reduction slot slot names it. Returns 0, or 1 if token chunk i was full. */
/*@ requires 0 <= i < n_tcs && 0 <= q < qb <= INT32_MAX && 1 <= vis <= tc_n[i] && vis <= INT32_MAX;
    requires 0 <= slot < pairs < INT32_MAX;
    requires 0 <= lo <= slot && 0 <= lo2 && hi2 <= pairs && (slot < lo2 || hi2 <= slot);
    requires RED_OK(rp, lo, slot, pairs) && RED_OK(rp, lo2, hi2, pairs);
    requires pair_ranges(n_tcs, tc_pair, pairs);
    requires FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, qb, pairs);
    requires \valid_read(tc_pair + (0 .. n_tcs)) && \valid_read(tc_n + (0 .. n_tcs - 1)) &&
             \valid(tc_fill + (0 .. n_tcs - 1)) && \valid(pq + (0 .. pairs - 1)) && \valid(pv + (0 .. pairs - 1)) &&
             \valid(rp + (0 .. pairs - 1));
    requires \separated(tc_fill + (0 .. n_tcs - 1), pq + (0 .. pairs - 1), pv + (0 .. pairs - 1), rp + (0 .. pairs - 1));
    assigns tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rp[lo .. pairs - 1];
    ensures \result == 0 || \result == 1;
    ensures \result == 0 ==> FILL_BOUNDS(n_tcs, tc_pair, tc_fill);
    ensures \result == 0 ==> FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, qb, pairs);
    ensures \result == 0 ==> RED_OK(rp, lo, slot + 1, pairs) && RED_OK(rp, lo2, hi2, pairs); */
static int fill_one(int64_t i, int64_t q, int64_t vis, int64_t slot, const int64_t *tc_pair,
                    int32_t *tc_fill, int32_t *pq, int32_t *pv, int32_t *rp)
    /*@ ghost (int64_t n_tcs, int64_t pairs, const int64_t *tc_n, int64_t qb, int64_t lo, int64_t lo2, int64_t hi2) */
{
    int64_t f = tc_fill[i], first = tc_pair[i], end = tc_pair[i + 1];
    if (f >= end - first) return 1;
    int64_t e = first + f;
    /*@ assert others: \forall integer i2, j2; 0 <= i2 < n_tcs && j2 == i2 + 1 && i2 != i ==>
          tc_pair[j2] <= first || end <= tc_pair[i2]; */
    /*@ assert unfilled: \forall integer i2, e2; 0 <= i2 < n_tcs && tc_pair[i2] <= e2 < tc_pair[i2] + tc_fill[i2] ==>
          e2 != e; */
    tc_fill[i] = (int32_t)(f + 1);
    pq[e] = (int32_t)q;
    pv[e] = (int32_t)vis;
    rp[slot] = (int32_t)e;
    /*@ assert \forall integer e2; 0 <= e2 < pairs && e2 != e ==>
          pq[e2] == \at(pq[e2], Pre) && pv[e2] == \at(pv[e2], Pre); */
    /*@ assert \forall integer i2; 0 <= i2 < n_tcs && i2 != i ==> tc_fill[i2] == \at(tc_fill[i2], Pre); */
    return 0;
}

/* The pairs of query q, of node u at position pos: one in each of u's token chunks that start at
 * or before pos (own of them, seeing up to pos) and one in every token chunk of every ancestor
 * holding tokens (seeing all of it); and its reduction list, reduction slots red .. red +
 * anc_tc[u] + own - 1: ancestor a's chunks after those of a's own ancestors (anc_tc[a]), so the
 * list reads root first, then u's own chunks, in token order. Returns own, or -1 if a token chunk
 * was full or the list would pass the pair count (run-time checks 2 and 3). */
/*@ requires 0 <= u < n <= INT32_MAX && 0 <= q < tq < INT32_MAX && 0 <= red <= pairs < INT32_MAX && 0 <= n_tcs;
    requires 0 <= pos <= INT32_MAX && \forall integer i; 0 <= i < n ==> n_tc[i] <= INT32_MAX;
    requires sized(n, kv_len, n_tc) && links(n, n_tc, anc_tc, up);
    requires \forall integer i; 0 <= i < n ==> 0 <= first_tc[i] && first_tc[i] + n_tc[i] <= n_tcs;
    requires tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n) && ct <= INT32_MAX;
    requires pair_ranges(n_tcs, tc_pair, pairs);
    requires FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q + 1, pairs);
    requires TC_READABLE(n, n_tcs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair);
    requires \valid(tc_fill + (0 .. n_tcs - 1)) && \valid(pq + (0 .. pairs - 1)) && \valid(pv + (0 .. pairs - 1)) &&
             \valid(rp + (0 .. pairs - 1));
    requires \separated(tc_fill + (0 .. n_tcs - 1), pq + (0 .. pairs - 1), pv + (0 .. pairs - 1), rp + (0 .. pairs - 1));
    assigns tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rp[red .. pairs - 1];
    ensures -1 <= \result <= n_tc[u];
    ensures \result >= 0 ==> red + anc_tc[u] + \result <= pairs;
    ensures \result >= 0 ==> FILL_BOUNDS(n_tcs, tc_pair, tc_fill);
    ensures \result >= 0 ==> FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q + 1, pairs);
    ensures \result >= 0 ==> RED_OK(rp, red, red + anc_tc[u] + \result, pairs); */
static int64_t fill_query(int64_t u, int64_t pos, int64_t q, int64_t red, int64_t pairs,
                          const int64_t *n_tc, const int64_t *first_tc, const int64_t *anc_tc,
                          const int64_t *up, const int64_t *tc_a, const int64_t *tc_n,
                          const int64_t *tc_pair, int32_t *tc_fill, int32_t *pq, int32_t *pv,
                          int32_t *rp)
    /*@ ghost (int64_t n, const int64_t *kv_len, int64_t ct, int64_t tq, int64_t n_tcs, const int64_t *tc_node) */
{
    int64_t anc = anc_tc[u], cnt = n_tc[u], base = first_tc[u], own = 0;
    if (red + anc + cnt > pairs) return -1;
    /*@ loop invariant 0 <= k <= cnt && own == k;
        loop invariant FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q + 1, pairs);
        loop invariant RED_OK(rp, red + anc, red + anc + own, pairs);
        loop assigns k, own, tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rp[red .. pairs - 1];
        loop variant cnt - k; */
    for (int64_t k = 0; k < cnt; k++) {
        int64_t id = base + k, a = tc_a[id], len = tc_n[id];
        //@ assert 0 <= id < n_tcs && 0 <= a && 1 <= len <= INT32_MAX && red + anc + own < pairs;
        if (a > pos) break;
        if (fill_one(id, q, pos - a + 1 < len ? pos - a + 1 : len, red + anc + own, tc_pair, tc_fill, pq,
                     pv, rp) /*@ ghost (n_tcs, pairs, tc_n, q + 1, red + anc, 0, 0) */)
            return -1;
        own++;
    }
    /*@ loop invariant -1 <= a < u && (a >= 0 ==> anc_tc[a] + n_tc[a] <= anc);
        loop invariant FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q + 1, pairs);
        loop invariant RED_OK(rp, red + (a < 0 ? 0 : anc_tc[a] + n_tc[a]), red + anc + own, pairs);
        loop assigns a, tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rp[red .. pairs - 1];
        loop variant a; */
    for (int64_t a = up[u]; a >= 0; a = up[a]) {
        int64_t acnt = n_tc[a], abase = first_tc[a], aanc = anc_tc[a];
        //@ assert 0 <= aanc && aanc + acnt <= anc && 0 <= abase && abase + acnt <= n_tcs;
        //@ assert up[a] >= 0 ==> anc_tc[up[a]] + n_tc[up[a]] == aanc && up[a] < a;
        /*@ loop invariant 0 <= k <= acnt;
            loop invariant FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q + 1, pairs);
            loop invariant RED_OK(rp, red + aanc, red + aanc + k, pairs) && RED_OK(rp, red + aanc + acnt, red + anc + own, pairs);
            loop assigns k, tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rp[red .. pairs - 1];
            loop variant acnt - k; */
        for (int64_t k = 0; k < acnt; k++) {
            //@ assert 1 <= tc_n[abase + k] <= INT32_MAX && red <= red + aanc + k < pairs && 0 <= abase + k < n_tcs;
            if (fill_one(abase + k, q, tc_n[abase + k], red + aanc + k, tc_pair, tc_fill, pq, pv,
                         rp) /*@ ghost (n_tcs, pairs, tc_n, q + 1, red + aanc, red + aanc + acnt, red + anc + own) */)
                return -1;
        }
    }
    return own;
}

/* The reduction lists of queries 0 .. q - 1 start in order inside the first red slots, and query
 * q's starts at red: so do those of queries 0 .. q, inside the first red2 >= red slots. */
/*@ ghost
  /@ requires 0 <= q && RS_OK(rs, q, red) && rs[q] == red && 0 <= red <= red2 && (q == 0 ==> red == 0);
     assigns \nothing;
     ensures RS_OK(rs, q + 1, red2); @/
  static void rs_step(const int32_t *rs, int64_t q, int64_t red, int64_t red2)
  {
  }
*/

/* Query q's pairs and reduction list (fill_query), the list from reduction slot red on; rs[q]
 * records where it starts. Returns what fill_query returns. */
/*@ requires 0 <= u < n <= INT32_MAX && 0 <= q < tq < INT32_MAX && 0 <= red <= pairs < INT32_MAX && 0 <= n_tcs;
    requires 0 <= pos <= INT32_MAX && \forall integer i; 0 <= i < n ==> n_tc[i] <= INT32_MAX;
    requires sized(n, kv_len, n_tc) && links(n, n_tc, anc_tc, up);
    requires \forall integer i; 0 <= i < n ==> 0 <= first_tc[i] && first_tc[i] + n_tc[i] <= n_tcs;
    requires tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n) && ct <= INT32_MAX;
    requires pair_ranges(n_tcs, tc_pair, pairs);
    requires FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q, pairs);
    requires RED_OK(rp, 0, red, pairs) && RS_OK(rs, q, red) && (q == 0 ==> red == 0);
    requires TC_READABLE(n, n_tcs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair);
    requires \valid(tc_fill + (0 .. n_tcs - 1)) && \valid(pq + (0 .. pairs - 1)) && \valid(pv + (0 .. pairs - 1)) &&
             \valid(rs + (0 .. tq)) && \valid(rp + (0 .. pairs - 1));
    requires \separated(tc_fill + (0 .. n_tcs - 1), pq + (0 .. pairs - 1), pv + (0 .. pairs - 1), rs + (0 .. tq),
                        rp + (0 .. pairs - 1));
    assigns tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rs[q], rp[red .. pairs - 1];
    ensures -1 <= \result <= n_tc[u];
    ensures \result >= 0 ==> red + anc_tc[u] + \result <= pairs;
    ensures \result >= 0 ==> FILL_BOUNDS(n_tcs, tc_pair, tc_fill);
    ensures \result >= 0 ==> FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q + 1, pairs);
    ensures \result >= 0 ==> RED_OK(rp, 0, red + anc_tc[u] + \result, pairs);
    ensures \result >= 0 ==> RS_OK(rs, q + 1, red + anc_tc[u] + \result); */
static int64_t one_query(int64_t u, int64_t pos, int64_t q, int64_t red, int64_t pairs,
                         const int64_t *n_tc, const int64_t *first_tc, const int64_t *anc_tc,
                         const int64_t *up, const int64_t *tc_a, const int64_t *tc_n,
                         const int64_t *tc_pair, int32_t *tc_fill, int32_t *pq, int32_t *pv, int32_t *rs,
                         int32_t *rp)
    /*@ ghost (int64_t n, const int64_t *kv_len, int64_t ct, int64_t tq, int64_t n_tcs, const int64_t *tc_node) */
{
    /* rs, and the reduction slots before red, are apart from what fill_query writes: said point by
     * point here, so that carrying them across the call does not ask the provers to split the
     * ranges of the precondition themselves. */
    /*@ assert \forall integer i; 0 <= i <= tq ==> \separated(rs + i, tc_fill + (0 .. n_tcs - 1)) &&
          \separated(rs + i, pq + (0 .. pairs - 1)) && \separated(rs + i, pv + (0 .. pairs - 1)) &&
          \separated(rs + i, rp + (red .. pairs - 1)); */
    /*@ assert \forall integer r; 0 <= r < red ==> \separated(rp + r, tc_fill + (0 .. n_tcs - 1)) &&
          \separated(rp + r, pq + (0 .. pairs - 1)) && \separated(rp + r, pv + (0 .. pairs - 1)); */
    int64_t own = fill_query(u, pos, q, red, pairs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair, tc_fill,
                             pq, pv, rp) /*@ ghost (n, kv_len, ct, tq, n_tcs, tc_node) */;
    if (own < 0) return own;
    //@ assert \forall integer i; 0 <= i <= tq ==> rs[i] == \at(rs[i], Pre);
    //@ assert RED_OK(rp, 0, red, pairs) && RS_OK(rs, q, red);
    rs[q] = (int32_t)red;
    /* rs is apart from the pairs, the fill cursors and the lists. */
    //@ assert FILL_BOUNDS(n_tcs, tc_pair, tc_fill);
    //@ assert FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q + 1, pairs);
    //@ assert RED_OK(rp, 0, red + anc_tc[u] + own, pairs) && RS_OK(rs, q, red);
    //@ ghost rs_step(rs, q, red, red + anc_tc[u] + own);
    return own;
}

/* A step of a prefix sum: sum(a, u + 1) = sum(a, u) + a[u], and it stays below a bound of all
 * prefix sums. */
/*@ ghost
  /@ requires 0 <= u < n && \valid_read(a + (0 .. n - 1));
     requires \forall integer i; 0 <= i <= n ==> deft_sum(a, i) <= b;
     assigns \nothing;
     ensures deft_sum(a, u + 1) == deft_sum(a, u) + a[u] <= b; @/
  static void sum_step(const int64_t *a, int64_t n, int64_t u, int64_t b)
  {
  }
*/

/* Fills the pairs and the reduction map query by query, ascending, so every chunk's list comes out
 * in ascending query order (fill_query). Returns 0; 1 if a run-time check of fill_query failed;
 * 2 if in the end a token chunk is not full or the reduction lists do not add up to the pair count
 * (run-time check 4). */
/*@ requires 0 <= n <= INT32_MAX && 0 <= tq < INT32_MAX && 0 <= pairs < INT32_MAX && 0 <= n_tcs && 1 <= ct <= INT32_MAX;
    requires \valid_read(kv_len + (0 .. n - 1)) && \valid_read(q_len + (0 .. n - 1));
    requires \forall integer i; 0 <= i < n ==> 0 <= q_len[i] <= kv_len[i] <= INT32_MAX && n_tc[i] <= INT32_MAX;
    requires tq == deft_sum(q_len, n) && \forall integer i; 0 <= i <= n ==> deft_sum(q_len, i) <= tq;
    requires sized(n, kv_len, n_tc) && links(n, n_tc, anc_tc, up);
    requires \forall integer i; 0 <= i < n ==> 0 <= first_tc[i] && first_tc[i] + n_tc[i] <= n_tcs;
    requires tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n) && pair_ranges(n_tcs, tc_pair, pairs);
    requires TC_READABLE(n, n_tcs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair);
    requires \valid(tc_fill + (0 .. n_tcs - 1)) && \valid(pq + (0 .. pairs - 1)) && \valid(pv + (0 .. pairs - 1)) &&
             \valid(rs + (0 .. tq)) && \valid(rp + (0 .. pairs - 1));
    requires \separated(tc_fill + (0 .. n_tcs - 1), pq + (0 .. pairs - 1), pv + (0 .. pairs - 1), rs + (0 .. tq),
                        rp + (0 .. pairs - 1));
    requires \forall integer i; 0 <= i < n_tcs ==> tc_fill[i] == 0;
    assigns tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rs[0 .. tq], rp[0 .. pairs - 1];
    ensures 0 <= \result <= 2;
    ensures \result == 0 ==> FILLED(n_tcs, tc_pair, tc_n, pq, pv, tq);
    ensures \result == 0 ==> REDUCED(rs, rp, tq, pairs); */
static int fill_pairs(int64_t n, const int64_t *kv_len, const int64_t *q_len, int64_t tq,
                      int64_t pairs, const int64_t *n_tc, const int64_t *first_tc,
                      const int64_t *anc_tc, const int64_t *up, const int64_t *tc_a,
                      const int64_t *tc_n, const int64_t *tc_pair, int64_t n_tcs, int32_t *tc_fill,
                      int32_t *pq, int32_t *pv, int32_t *rs, int32_t *rp)
    /*@ ghost (int64_t ct, const int64_t *tc_node) */
{
    int64_t q = 0, red = 0;
    /*@ loop invariant 0 <= u <= n && q == deft_sum(q_len, u) && 0 <= q <= tq && 0 <= red <= pairs;
        loop invariant q == 0 ==> red == 0;
        loop invariant FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q, pairs);
        loop invariant RED_OK(rp, 0, red, pairs);
        loop invariant RS_OK(rs, q, red);
        loop assigns u, q, red, tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rs[0 .. tq],
                     rp[0 .. pairs - 1];
        loop variant n - u; */
    for (int64_t u = 0; u < n; u++) {
        int64_t len = kv_len[u], nq = q_len[u];
        //@ ghost sum_step(q_len, n, u, tq);
        /*@ loop invariant 0 <= j <= nq && q == deft_sum(q_len, u) + j && 0 <= red <= pairs;
            loop invariant q == 0 ==> red == 0;
            loop invariant FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, q, pairs);
            loop invariant RED_OK(rp, 0, red, pairs);
            loop invariant RS_OK(rs, q, red);
            loop assigns j, q, red, tc_fill[0 .. n_tcs - 1], pq[0 .. pairs - 1], pv[0 .. pairs - 1], rs[0 .. tq],
                         rp[0 .. pairs - 1];
            loop variant nq - j; */
        for (int64_t j = 0; j < nq; j++, q++) {
            int64_t own = one_query(u, len - nq + j, q, red, pairs, n_tc, first_tc, anc_tc, up, tc_a, tc_n,
                                    tc_pair, tc_fill, pq, pv, rs, rp) /*@ ghost (n, kv_len, ct, tq, n_tcs, tc_node) */;
            if (own < 0) return 1;
            red += anc_tc[u] + own;
        }
    }
    /*@ assert \separated(rs + tq, tc_fill + (0 .. n_tcs - 1)) && \separated(rs + tq, pq + (0 .. pairs - 1)) &&
          \separated(rs + tq, pv + (0 .. pairs - 1)) && \separated(rs + tq, rp + (0 .. pairs - 1)); */
    rs[tq] = (int32_t)red;
    //@ assert FILL_BOUNDS(n_tcs, tc_pair, tc_fill) && FILL_VALS(n_tcs, tc_pair, tc_n, tc_fill, pq, pv, tq, pairs);
    if (red != pairs) return 2;
    /*@ loop invariant 0 <= i <= n_tcs;
        loop invariant \forall integer i1, j1; 0 <= i1 < i && j1 == i1 + 1 ==> tc_fill[i1] == tc_pair[j1] - tc_pair[i1];
        loop assigns i;
        loop variant n_tcs - i; */
    for (int64_t i = 0; i < n_tcs; i++)
        if (tc_fill[i] != tc_pair[i + 1] - tc_pair[i]) return 2;
    return 0;
}

/* The plan chunks' arrays and the pairs', as fill_chunks writes them: all of them apart. */
#define CHUNK_ARRAYS(chunks, pairs, cn, cts, ckr, cl, ps, pq, pv) \
    (\valid(cn + (0 .. (chunks) - 1)) && \valid(cts + (0 .. (chunks) - 1)) && \valid(ckr + (0 .. (chunks) - 1)) && \
     \valid(cl + (0 .. (chunks) - 1)) && \valid(ps + (0 .. (chunks))) && \
     \separated(cn + (0 .. (chunks) - 1), cts + (0 .. (chunks) - 1), ckr + (0 .. (chunks) - 1), \
                cl + (0 .. (chunks) - 1), ps + (0 .. (chunks)), pq + (0 .. (pairs) - 1), pv + (0 .. (pairs) - 1)))

/* Plan chunk c's record (node u, tokens a .. a + len - 1 at KV rows row .., pairs from p). It writes
 * record c only: the chunks before it, and the pairs, read as they did. */
/*@ requires 0 <= c < chunks && 0 <= pairs && CHUNK_ARRAYS(chunks, pairs, cn, cts, ckr, cl, ps, pq, pv);
    requires 0 <= u <= INT32_MAX && 0 <= a <= INT32_MAX && 0 <= row <= INT32_MAX && 0 <= len <= INT32_MAX;
    requires 0 <= p <= INT32_MAX;
    requires records(n, kv_len, total_kv, ct, c, cn, cts, ckr, cl);
    requires pf_ends(c, b, pairs, ps) && pf_in(c, pairs, ps) && pf_up(c, ps);
    requires pf_vis(c, ps, cl, pv) && pf_last(c, b, ps, cl, pv) && ps[chunks] == pairs;
    assigns cn[c], cts[c], ckr[c], cl[c], ps[c];
    ensures cn[c] == u && cts[c] == a && ckr[c] == row && cl[c] == len && ps[c] == p;
    ensures records(n, kv_len, total_kv, ct, c, cn, cts, ckr, cl);
    ensures pf_ends(c, b, pairs, ps);
    ensures pf_in(c, pairs, ps);
    ensures pf_up(c, ps);
    ensures pf_vis(c, ps, cl, pv);
    ensures pf_last(c, b, ps, cl, pv) && ps[chunks] == pairs;
    ensures kept: \forall integer e; 0 <= e < pairs ==> pv[e] == \old(pv[e]) && pq[e] == \old(pq[e]); */
static void put_chunk(int64_t c, int64_t u, int64_t a, int64_t row, int64_t len, int64_t p, int32_t *cn,
                      int32_t *cts, int32_t *ckr, int32_t *cl, int32_t *ps)
    /*@ ghost (int64_t n, const int64_t *kv_len, int64_t total_kv, int64_t ct, int64_t chunks, int64_t pairs,
               int64_t b, const int32_t *pq, const int32_t *pv) */
{
    cn[c] = (int32_t)u;
    cts[c] = (int32_t)a;
    ckr[c] = (int32_t)row;
    cl[c] = (int32_t)len;
    ps[c] = (int32_t)p;
}

/* Chunks 0 .. c - 1 are records, and so is chunk c: so are 0 .. c. */
/*@ ghost
  /@ requires 0 <= c && records(n, kv_len, total_kv, ct, c, cn, cts, ckr, cl);
     requires 0 <= cn[c] < n && 1 <= cl[c] <= ct && 0 <= cts[c] && cts[c] + cl[c] <= kv_len[cn[c]] &&
              0 <= ckr[c] && ckr[c] + cl[c] <= total_kv;
     assigns \nothing;
     ensures records(n, kv_len, total_kv, ct, c + 1, cn, cts, ckr, cl); @/
  static void records_step(int64_t n, const int64_t *kv_len, int64_t total_kv, int64_t ct, int64_t c,
                           const int32_t *cn, const int32_t *cts, const int32_t *ckr, const int32_t *cl)
  {
  }
*/

/* Chunks 0 .. c - 1 are done with their last pairs ending at b, and chunk c starts at or before b,
 * where chunk c - 1 ends, with pairs up to b2 that see 1 up to its length tokens: chunks 0 .. c are
 * done, the last one's pairs ending at b2. */
/*@ ghost
  /@ requires 0 <= c && pf_ends(c, b, pairs, ps) && pf_in(c, pairs, ps) && pf_up(c, ps);
     requires pf_vis(c, ps, cl, pv) && pf_last(c, b, ps, cl, pv);
     requires 0 <= ps[c] <= b2 <= pairs && (c == 0 ==> ps[c] == 0) && (c > 0 ==> ps[c - 1] <= ps[c] <= b);
     requires \forall integer e; ps[c] <= e < b2 ==> 1 <= pv[e] <= cl[c];
     assigns \nothing;
     ensures pf_ends(c + 1, b2, pairs, ps);
     ensures pf_in(c + 1, pairs, ps);
     ensures pf_up(c + 1, ps);
     ensures pf_vis(c + 1, ps, cl, pv);
     ensures pf_last(c + 1, b2, ps, cl, pv); @/
  static void done_step(int64_t c, int64_t b, int64_t b2, int64_t pairs, const int32_t *ps, const int32_t *cl,
                        const int32_t *pv)
  {
  }
*/

/* The plan chunks of one token chunk with queries: sl query slices of its nq pairs, from pair
 * first, each a record (node u, tokens a .. a + len - 1, KV rows row ..) starting at chunk c0, where
 * the chunks done so far end (c0, first); the pairs stay as they were. */
/*@ requires 0 <= u < n <= INT32_MAX && 0 <= a && 1 <= len <= ct && a + len <= kv_len[u] && a + len <= INT32_MAX;
    requires 0 <= row && row + len <= total_kv <= INT32_MAX;
    requires 0 <= first && first + nq <= pairs < INT32_MAX && 1 <= sl <= nq;
    requires 0 <= c0 && c0 + sl <= chunks && CHUNK_ARRAYS(chunks, pairs, cn, cts, ckr, cl, ps, pq, pv);
    requires \forall integer e; first <= e < first + nq ==> 1 <= pv[e] <= len;
    requires records(n, kv_len, total_kv, ct, c0, cn, cts, ckr, cl);
    requires pf_ends(c0, first, pairs, ps) && pf_in(c0, pairs, ps) && pf_up(c0, ps);
    requires pf_vis(c0, ps, cl, pv) && pf_last(c0, first, ps, cl, pv) && ps[chunks] == pairs;
    assigns cn[c0 .. c0 + sl - 1], cts[c0 .. c0 + sl - 1], ckr[c0 .. c0 + sl - 1], cl[c0 .. c0 + sl - 1],
            ps[c0 .. c0 + sl - 1];
    ensures records(n, kv_len, total_kv, ct, c0 + sl, cn, cts, ckr, cl);
    ensures pf_ends(c0 + sl, first + nq, pairs, ps);
    ensures pf_in(c0 + sl, pairs, ps);
    ensures pf_up(c0 + sl, ps);
    ensures pf_vis(c0 + sl, ps, cl, pv);
    ensures pf_last(c0 + sl, first + nq, ps, cl, pv) && ps[chunks] == pairs;
    ensures kept: \forall integer e; 0 <= e < pairs ==> pv[e] == \old(pv[e]) && pq[e] == \old(pq[e]); */
static void emit_slices(int64_t u, int64_t a, int64_t len, int64_t row, int64_t first, int64_t nq,
                        int64_t sl, int64_t c0, int32_t *cn, int32_t *cts, int32_t *ckr, int32_t *cl,
                        int32_t *ps) /*@ ghost (int64_t n, const int64_t *kv_len, int64_t total_kv, int64_t ct,
                        int64_t chunks, int64_t pairs, const int32_t *pq, const int32_t *pv) */
{
    /*@ ghost int64_t prev = 0, b = first; */
    /*@ loop invariant 0 <= x <= sl && 0 <= prev <= nq && (x == 0 ==> prev == 0) && (x > 0 ==> prev == sstart(nq, sl, x - 1));
        loop invariant (x == 0 ==> b == first) && (x > 0 ==> b == first + nq && ps[c0 + x - 1] == first + prev);
        loop invariant records(n, kv_len, total_kv, ct, c0 + x, cn, cts, ckr, cl);
        loop invariant pf_ends(c0 + x, b, pairs, ps);
        loop invariant pf_in(c0 + x, pairs, ps);
        loop invariant pf_up(c0 + x, ps);
        loop invariant pf_vis(c0 + x, ps, cl, pv);
        loop invariant pf_last(c0 + x, b, ps, cl, pv) && ps[chunks] == pairs;
        loop invariant \forall integer e; 0 <= e < pairs ==> pv[e] == \at(pv[e], Pre) && pq[e] == \at(pq[e], Pre);
        loop assigns x, prev, b, cn[c0 .. c0 + sl - 1], cts[c0 .. c0 + sl - 1], ckr[c0 .. c0 + sl - 1],
                     cl[c0 .. c0 + sl - 1], ps[c0 .. c0 + sl - 1];
        loop variant sl - x; */
    /* != rather than <: at the loop's exit x == sl, with no inequalities to combine, so the
     * invariants become the postconditions as they stand. */
    for (int64_t x = 0; x != sl; x++) {
        int64_t c = c0 + x, start = slice_start(nq, sl, x) /*@ ghost (prev) */;
        put_chunk(c, u, a, row, len, first + start, cn, cts, ckr, cl, ps)
            /*@ ghost (n, kv_len, total_kv, ct, chunks, pairs, b, pq, pv) */;
        //@ ghost records_step(n, kv_len, total_kv, ct, c, cn, cts, ckr, cl);
        /* The pairs read as on entry: chunk c's see 1 up to len tokens. */
        //@ assert \forall integer e; first + start <= e < first + nq ==> 1 <= pv[e] <= len;
        //@ ghost done_step(c, b, first + nq, pairs, ps, cl, pv);
        /*@ ghost prev = start; b = first + nq; */
    }
}

/* The plan chunk ranges of the token chunks ascend (chunk_ranges steps one token chunk at a time). */
/*@ ghost
  /@ requires 0 <= n_tcs && chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs);
     requires \forall integer i, j; 0 <= i <= j <= n_tcs ==> tc_pair[i] <= tc_pair[j];
     assigns \nothing;
     ensures \forall integer i; 0 <= i <= n_tcs ==> 0 <= tc_chunk[i] <= tc_chunk[n_tcs]; @/
  static void chunks_ascend(int64_t n_tcs, const int64_t *tc_pair, const int64_t *tc_chunk, int64_t pairs)
  {
    /@ loop invariant 0 <= k <= n_tcs && \forall integer i; 0 <= i <= k ==> 0 <= tc_chunk[i] <= tc_chunk[k];
       loop assigns k;
       loop variant n_tcs - k; @/
    for (int64_t k = 0; k < n_tcs; k++) ;
  }
*/

/* All chunks done, the last one's pairs ending at the pair count, which pair_start's last entry
 * holds; every pair names a query: the pair ranges of the plan (CHUNKED). */
/*@ ghost
  /@ requires 0 <= chunks && pf_ends(chunks, pairs, pairs, ps) && pf_up(chunks, ps);
     requires pf_vis(chunks, ps, cl, pv) && pf_last(chunks, pairs, ps, cl, pv);
     requires ps[chunks] == pairs && \forall integer e; 0 <= e < pairs ==> 0 <= pq[e] < tq;
     assigns \nothing;
     ensures CHUNKED(tq, chunks, pairs, cl, ps, pq, pv); @/
  static void chunked_end(int64_t chunks, int64_t pairs, int64_t tq, const int32_t *ps, const int32_t *cl,
                          const int32_t *pq, const int32_t *pv)
  {
  }
*/

/* Chunk records: each token chunk with readers, split into even query slices (emit_slices); the
 * largest chunk's tokens and pairs. */
/*@ requires 0 <= n <= INT32_MAX && 0 <= total_kv <= INT32_MAX && 1 <= ct <= INT32_MAX && 0 <= tq;
    requires 0 <= n_tcs && 0 <= chunks <= pairs < INT32_MAX;
    requires \valid_read(kv_len + (0 .. n - 1)) && \valid_read(off + (0 .. n - 1));
    requires \forall integer i; 0 <= i < n ==> 0 <= off[i] && off[i] + kv_len[i] <= total_kv;
    requires tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
    requires pair_ranges(n_tcs, tc_pair, pairs) && chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs) && tc_chunk[n_tcs] == chunks;
    requires FILLED(n_tcs, tc_pair, tc_n, pq, pv, tq);
    requires \valid_read(tc_node + (0 .. n_tcs - 1)) && \valid_read(tc_a + (0 .. n_tcs - 1)) &&
             \valid_read(tc_n + (0 .. n_tcs - 1)) && \valid_read(tc_pair + (0 .. n_tcs)) &&
             \valid_read(tc_chunk + (0 .. n_tcs)) && \valid_read(pq + (0 .. pairs - 1)) && \valid_read(pv + (0 .. pairs - 1));
    requires \valid(cn + (0 .. chunks - 1)) && \valid(cts + (0 .. chunks - 1)) && \valid(ckr + (0 .. chunks - 1)) &&
             \valid(cl + (0 .. chunks - 1)) && \valid(ps + (0 .. chunks)) && \valid(max_len) && \valid(max_pairs);
    requires \separated(cn + (0 .. chunks - 1), cts + (0 .. chunks - 1), ckr + (0 .. chunks - 1),
                        cl + (0 .. chunks - 1), ps + (0 .. chunks), max_len, max_pairs,
                        pq + (0 .. pairs - 1), pv + (0 .. pairs - 1));
    assigns cn[0 .. chunks - 1], cts[0 .. chunks - 1], ckr[0 .. chunks - 1], cl[0 .. chunks - 1], ps[0 .. chunks],
            *max_len, *max_pairs;
    ensures RECORDS(n, kv_len, total_kv, ct, chunks, cn, cts, ckr, cl);
    ensures CHUNKED(tq, chunks, pairs, cl, ps, pq, pv); */
static void fill_chunks(const int64_t *off, const int64_t *tc_node, const int64_t *tc_a,
                        const int64_t *tc_n, const int64_t *tc_pair, const int64_t *tc_chunk,
                        int64_t n_tcs, int64_t chunks, int64_t pairs, int32_t *cn, int32_t *cts,
                        int32_t *ckr, int32_t *cl, int32_t *ps, int32_t *max_len, int32_t *max_pairs)
    /*@ ghost (int64_t n, const int64_t *kv_len, int64_t total_kv, int64_t ct, int64_t tq, const int32_t *pq, const int32_t *pv) */
{
    int64_t c = 0, top_len = 0, top_pairs = 0;
    //@ ghost chunks_ascend(n_tcs, tc_pair, tc_chunk, pairs);
    /* pair_start's last entry goes in first: the records below never touch it, so it is one fact
     * to carry, where a write after them would have every fact about them to carry across it. */
    ps[chunks] = (int32_t)pairs;
    /* The chunks done so far (records .. pf_last) and the pairs (pq, pv), which only fill_pairs
     * writes: queried reads them as on entry, kept says they still are. */
    /*@ loop invariant 0 <= id <= n_tcs && c == tc_chunk[id] && 0 <= c <= chunks;
        loop invariant 0 <= top_len <= ct && 0 <= top_pairs <= pairs;
        loop invariant records(n, kv_len, total_kv, ct, c, cn, cts, ckr, cl);
        loop invariant pf_ends(c, tc_pair[id], pairs, ps);
        loop invariant pf_in(c, pairs, ps);
        loop invariant pf_up(c, ps);
        loop invariant pf_vis(c, ps, cl, pv);
        loop invariant pf_last(c, tc_pair[id], ps, cl, pv) && ps[chunks] == pairs;
        loop invariant queried: \forall integer e; 0 <= e < tc_pair[id] ==> 0 <= \at(pq[e], Pre) < tq;
        loop invariant kept: \forall integer e; 0 <= e < pairs ==> pv[e] == \at(pv[e], Pre) && pq[e] == \at(pq[e], Pre);
        loop assigns id, c, top_len, top_pairs, cn[0 .. chunks - 1], cts[0 .. chunks - 1], ckr[0 .. chunks - 1],
                     cl[0 .. chunks - 1], ps[0 .. chunks - 1];
        loop variant n_tcs - id; */
    /* != rather than <, as in emit_slices. */
    for (int64_t id = 0; id != n_tcs; id++) {
        int64_t sl = tc_chunk[id + 1] - tc_chunk[id];
        //@ assert 0 <= sl && c + sl <= chunks && (sl == 0 <==> tc_pair[id + 1] == tc_pair[id]);
        /* No query reads token chunk id: it has no pairs and no plan chunk. */
        if (!sl) continue;
        int64_t u = tc_node[id], a = tc_a[id], len = tc_n[id];
        int64_t first = tc_pair[id], nq = tc_pair[id + 1] - first, most = slice_max(nq, sl);
        if (len > top_len) top_len = len;
        if (most > top_pairs) top_pairs = most;
        //@ assert \forall integer e; first <= e < first + nq ==> 1 <= pv[e] <= len;
        emit_slices(u, a, len, off[u] + a, first, nq, sl, c, cn, cts, ckr, cl, ps)
            /*@ ghost (n, kv_len, total_kv, ct, chunks, pairs, pq, pv) */;
        c += sl;
    }
    /* All chunks done: the pair ranges of CHUNKED, before the two writes that cannot touch them. */
    //@ assert \forall integer e; 0 <= e < pairs ==> 0 <= pq[e] < tq;
    //@ ghost chunked_end(chunks, pairs, tq, ps, cl, pq, pv);
    *max_len = (int32_t)top_len;
    *max_pairs = (int32_t)top_pairs;
}

/* The plan's arrays in its block of words, in the order the header declares them. */
#define PLAN_LAYOUT(pl, chunks, pairs, queries) \
    ((pl)->chunk_node == (pl)->words && (pl)->chunk_tok_start == (pl)->words + (chunks) && \
     (pl)->chunk_kv_row == (pl)->words + 2 * (chunks) && (pl)->chunk_len == (pl)->words + 3 * (chunks) && \
     (pl)->pair_start == (pl)->words + 4 * (chunks) && (pl)->pair_query == (pl)->words + 5 * (chunks) + 1 && \
     (pl)->pair_visible == (pl)->words + 5 * (chunks) + 1 + (pairs) && \
     (pl)->red_start == (pl)->words + 5 * (chunks) + 1 + 2 * (pairs) && \
     (pl)->red_pair == (pl)->words + 5 * (chunks) + 2 + 2 * (pairs) + (queries))

/* Carves the plan's arrays out of one int32 block, in the order the header declares them. Returns
 * 0, or the word count it could not allocate (the caller reports it): it writes no diagnostic
 * itself, so that on success it writes nothing but the plan's pointers and size, and every fact
 * about the int64 arrays stands across it as it is. */
/*@ requires \valid(pl) && 0 <= chunks <= pairs < INT32_MAX && 0 <= queries < INT32_MAX;
    requires d == \null || (\valid(d) && \separated(d, pl));
    requires \valid_read(t) && \separated(pl, t) &&
             (t->n_nodes > 0 ==> \separated(pl, t->parent + (0 .. t->n_nodes - 1), t->kv_len + (0 .. t->n_nodes - 1),
                                            t->q_len + (0 .. t->n_nodes - 1)) &&
                (t->kv_offset == \null || \separated(pl, t->kv_offset + (0 .. t->n_nodes - 1))));
    assigns pl->words, pl->n_words, pl->chunk_node, pl->chunk_tok_start, pl->chunk_kv_row, pl->chunk_len,
            pl->pair_start, pl->pair_query, pl->pair_visible, pl->red_start, pl->red_pair, __fc_heap_status;
    ensures \result == 0 || \result == 5 * chunks + 3 * pairs + queries + 2;
    ensures \result == 0 ==>
      fresh32(pl->words, 5 * chunks + 3 * pairs + queries + 2, t, pl, d, b1, m1, b2, m2, b3, m3, f, mf) &&
      pl->n_words == 5 * chunks + 3 * pairs + queries + 2 && PLAN_LAYOUT(pl, chunks, pairs, queries); */
static int64_t plan_alloc(deft_plan *pl, int64_t chunks, int64_t pairs, int64_t queries)
    /*@ ghost (const deft_tree *t, deft_diag *d, int64_t *b1, int64_t m1, int64_t *b2, int64_t m2,
               int64_t *b3, int64_t m3, int32_t *f, int64_t mf) */
{
    int64_t words = 4 * chunks + (chunks + 1) + 2 * pairs + (queries + 1) + pairs;
    int32_t *w = alloc32(words) /*@ ghost (t, pl, d, b1, m1, b2, m2, b3, m3, f, mf) */;
    pl->words = w;
    if (!w) return words;
    pl->n_words = (size_t)words;
    pl->chunk_node = w, w += chunks;
    pl->chunk_tok_start = w, w += chunks;
    pl->chunk_kv_row = w, w += chunks;
    pl->chunk_len = w, w += chunks;
    pl->pair_start = w, w += chunks + 1;
    pl->pair_query = w, w += pairs;
    pl->pair_visible = w, w += pairs;
    pl->red_start = w, w += queries + 1;
    pl->red_pair = w;
    return 0;
}

/* Every field zero, as on return from a failed deft_plan_build. Field by field: the plan's int32,
 * pointer and size fields change, nothing else (a whole-struct assignment would, to WP, change
 * every kind of memory under the plan, the int64 arrays' sums among them). The ghost t: the tree's
 * fields and each part of deft_tree_valid read as before, part by part (the provers do not take
 * the whole predicate apart on both sides in time). */
/*@ requires \valid(p) && (t == \null || (\valid_read(t) && \separated(p, t)));
    assigns p->n_nodes, p->n_chunks, p->n_queries, p->n_pairs, p->chunk_tokens, p->chunk_queries,
            p->max_chunk_len, p->max_chunk_pairs, p->chunk_node, p->chunk_tok_start, p->chunk_kv_row,
            p->chunk_len, p->pair_start, p->pair_query, p->pair_visible, p->red_start, p->red_pair,
            p->words, p->n_words;
    ensures t1: t != \null ==> t->n_nodes == \old(t->n_nodes) && t->parent == \old(t->parent) &&
                t->kv_len == \old(t->kv_len) && t->q_len == \old(t->q_len) && t->kv_offset == \old(t->kv_offset) &&
                t->total_kv == \old(t->total_kv);
    ensures t2: t != \null ==> \forall integer i; 0 <= i < t->n_nodes ==> (deft_node_ok(t, i) <==> \old(deft_node_ok(t, i)));
    ensures t3: t != \null ==> (deft_sums_fit(t) <==> \old(deft_sums_fit(t)));
    ensures t4: t != \null ==> (deft_packed_fits(t) <==> \old(deft_packed_fits(t)));
    ensures t5: t != \null ==> (deft_ranges_ok(t) <==> \old(deft_ranges_ok(t)));
    ensures t6: t != \null ==> (deft_rows_disjoint(t) <==> \old(deft_rows_disjoint(t))); */
static void plan_clear(deft_plan *p) /*@ ghost (const deft_tree *t) */
{
    p->n_nodes = p->n_chunks = p->n_queries = p->n_pairs = 0;
    p->chunk_tokens = p->chunk_queries = p->max_chunk_len = p->max_chunk_pairs = 0;
    p->chunk_node = p->chunk_tok_start = p->chunk_kv_row = p->chunk_len = p->pair_start = NULL;
    p->pair_query = p->pair_visible = p->red_start = p->red_pair = p->words = NULL;
    p->n_words = 0;
}

/* deft_tree_validate, and its verdict on the tree before the call carried to the state after it:
 * the call writes only *diag, so each prefix sum is unchanged (a ghost induction shows it). */
/*@ requires diag == \null || \valid(diag);
    requires t == \null || (deft_tree_readable(t) && deft_diag_apart(diag, t));
    assigns *diag, __fc_heap_status;
    ensures deft_tree_status(\result);
    ensures \result == DEFT_OK ==> \old(deft_tree_valid(t)) && deft_tree_valid(t) && deft_tree_shape(t);
    ensures \result == DEFT_OK ==>
      \forall integer i; 0 <= i <= t->n_nodes ==> deft_sum(t->q_len, i) == \old(deft_sum(t->q_len, i)); */
static deft_status validate_tree(const deft_tree *t, deft_diag *diag)
{
    deft_status st = deft_tree_validate(t, diag);
    if (st != DEFT_OK) return st;
    /*@ ghost
      /@ loop invariant 0 <= i <= t->n_nodes;
         loop invariant \forall integer j; 0 <= j <= i ==>
           deft_sum(t->kv_len, j) == \at(deft_sum(t->kv_len, j), Pre) &&
           deft_sum(t->q_len, j) == \at(deft_sum(t->q_len, j), Pre);
         loop assigns i;
         loop variant t->n_nodes - i; @/
      for (int64_t i = 0; i < t->n_nodes; i++) ;
    */
    return st;
}

/* Prefix sums of a non-negative array ascend: each is at most the last. */
/*@ ghost
  /@ requires 0 <= n && \valid_read(a + (0 .. n - 1)) && \forall integer i; 0 <= i < n ==> a[i] >= 0;
     assigns \nothing;
     ensures \forall integer i; 0 <= i <= n ==> 0 <= deft_sum(a, i) <= deft_sum(a, n); @/
  static void sum_mono(const int64_t *a, int64_t n)
  {
    /@ loop invariant 0 <= k <= n && \forall integer i; 0 <= i <= k ==> 0 <= deft_sum(a, i) <= deft_sum(a, k);
       loop assigns k;
       loop variant n - k; @/
    for (int64_t k = 0; k < n; k++) ;
  }
*/

/* build's stages. build calls deft_tree_offsets and the counting steps one after the other, each
 * writing int64 scratch arrays, the same kind of memory as the tree's arrays: every fact a later
 * step reads has to be carried across each of those writes. In build's context the provers time
 * out on that; so build calls three stages instead, each with a contract that passes on, as they
 * stand after its writes, the facts the next one needs, and each carrying them across its own few
 * writes in a context of its own. */

/* Node i's token chunks end inside the n_tcs of them (tc_first); its KV rows start at off[i], inside
 * total_kv (offs). Predicates rather than macros: the stages pass them on whole, and WP matches a
 * fact stated whole with the same fact where it is needed, without the provers. */
/*@ predicate tc_first(integer n, int64_t *n_tc, int64_t *first_tc, integer n_tcs) =
      \forall integer i; 0 <= i < n ==> 0 <= first_tc[i] && first_tc[i] + n_tc[i] <= n_tcs;
    predicate offs(integer n, int64_t *off, int64_t *kv_len, integer total_kv) =
      \forall integer i; 0 <= i < n ==> 0 <= off[i] && off[i] + kv_len[i] <= total_kv; */

/* The tree's sums as build's steps read them: tq queries in all, every prefix sum between 0 and tq. */
/*@ predicate summed(integer n, int64_t *q_len, integer tq) =
      tq == deft_sum(q_len, n) && \forall integer i; 0 <= i <= n ==> 0 <= deft_sum(q_len, i) <= tq; */

/* Stage 1: each node's first KV row (off) and token chunks (n_tc, first_tc); returns the token chunk
 * count. The ghost sub: the zeroed queries-below array, whose zeros stand across the writes here. */
/*@ requires tree_ok(t) && deft_tree_valid(t) && 1 <= ct <= INT32_MAX;
    requires n == t->n_nodes && parent == t->parent && kv_len == t->kv_len && q_len == t->q_len;
    requires summed(n, q_len, tq);
    requires \valid(off + (0 .. n - 1)) && \valid(n_tc + (0 .. n - 1)) && \valid(first_tc + (0 .. n)) &&
             \valid_read(sub + (0 .. n - 1));
    requires \separated(off + (0 .. n - 1), n_tc + (0 .. n - 1), first_tc + (0 .. n), sub + (0 .. n - 1));
    requires deft_apart(off, n, t) && deft_apart(n_tc, n, t) && deft_apart(first_tc, n + 1, t);
    requires \forall integer i; 0 <= i < n ==> sub[i] == 0;
    assigns off[0 .. n - 1], n_tc[0 .. n - 1], first_tc[0 .. n];
    ensures t->n_nodes == n && t->total_kv == \old(t->total_kv);
    ensures forest(n, parent, kv_len, q_len, t->total_kv);
    ensures summed(n, q_len, tq);
    ensures 0 <= \result <= n * INT32_MAX && first_tc[n] == \result;
    ensures counted(n, kv_len, ct, n_tc) && sized(n, kv_len, n_tc) && numbered(n, n_tc, first_tc);
    ensures tc_first(n, n_tc, first_tc, \result);
    ensures offs(n, off, kv_len, t->total_kv);
    ensures \forall integer i; 0 <= i < n ==> sub[i] == 0; */
static int64_t node_chunks(const deft_tree *t, int64_t n, const int64_t *kv_len, int64_t ct, int64_t *off,
                           int64_t *n_tc, int64_t *first_tc)
    /*@ ghost (const int64_t *parent, const int64_t *q_len, int64_t tq, const int64_t *sub) */
{
    //@ assert forest(n, parent, kv_len, q_len, t->total_kv);
    deft_tree_offsets(t, off);
    /* It wrote off only: the tree's fields and arrays read as on entry. */
    //@ assert t->n_nodes == n && t->total_kv == \at(t->total_kv, Pre);
    /*@ assert \forall integer i; 0 <= i < n ==>
          parent[i] == \at(parent[i], Pre) && kv_len[i] == \at(kv_len[i], Pre) && q_len[i] == \at(q_len[i], Pre); */
    //@ assert forest(n, parent, kv_len, q_len, t->total_kv);
    int64_t n_tcs = count_chunks(n, kv_len, ct, n_tc, first_tc) /*@ ghost (parent, q_len, t->total_kv) */;
    /* The sums of q_len read as on entry: one prefix at a time. */
    /*@ ghost
      /@ loop invariant 0 <= i <= n;
         loop invariant \forall integer j; 0 <= j <= i ==> deft_sum(q_len, j) == \at(deft_sum(q_len, j), Pre);
         loop assigns i;
         loop variant n - i; @/
      for (int64_t i = 0; i < n; i++) ;
    */
    return n_tcs;
}

/* Stage 2: each token chunk's tokens (split_tokens), the queries below each node (count_below), the
 * pairs and plan chunks (count_pairs), the links (count_links; it neither reads nor writes what
 * count_pairs does, so it may come last). Returns -1 if count_below's run-time check failed, else
 * what count_pairs returns. After each step, the facts the later ones read are restated as they
 * stand, each across one call's writes. The sums of q_len are not among them (their recursion
 * would slow every other goal here): it passes on that they are unchanged, and build restates them. */
/*@ requires forest(n, parent, kv_len, q_len, total_kv);
    requires 1 <= ct <= INT32_MAX && 0 <= cq <= INT32_MAX && 0 <= tq < INT32_MAX && 0 <= n_tcs <= INT32_MAX;
    requires counted(n, kv_len, ct, n_tc) && sized(n, kv_len, n_tc) && numbered(n, n_tc, first_tc) &&
             first_tc[n] == n_tcs && tc_first(n, n_tc, first_tc, n_tcs);
    requires \valid_read(off + (0 .. n - 1)) && \valid_read(n_tc + (0 .. n - 1)) && \valid_read(first_tc + (0 .. n));
    requires offs(n, off, kv_len, total_kv);
    requires \valid(sub + (0 .. n - 1)) && \valid(anc_tc + (0 .. n - 1)) && \valid(up + (0 .. n - 1));
    requires \valid(tc_node + (0 .. n_tcs - 1)) && \valid(tc_a + (0 .. n_tcs - 1)) && \valid(tc_n + (0 .. n_tcs - 1)) &&
             \valid(tc_pair + (0 .. n_tcs)) && \valid(tc_chunk + (0 .. n_tcs));
    requires \forall integer i; 0 <= i < n ==> sub[i] == 0;
    requires \separated(off + (0 .. n - 1), n_tc + (0 .. n - 1), first_tc + (0 .. n), sub + (0 .. n - 1),
                        anc_tc + (0 .. n - 1), up + (0 .. n - 1), tc_node + (0 .. n_tcs - 1), tc_a + (0 .. n_tcs - 1),
                        tc_n + (0 .. n_tcs - 1), tc_pair + (0 .. n_tcs), tc_chunk + (0 .. n_tcs));
    requires apart(sub, n, n, parent, kv_len, q_len) && apart(anc_tc, n, n, parent, kv_len, q_len) &&
             apart(up, n, n, parent, kv_len, q_len);
    requires apart(tc_node, n_tcs, n, parent, kv_len, q_len) && apart(tc_a, n_tcs, n, parent, kv_len, q_len) &&
             apart(tc_n, n_tcs, n, parent, kv_len, q_len);
    requires apart(tc_pair, n_tcs + 1, n, parent, kv_len, q_len) && apart(tc_chunk, n_tcs + 1, n, parent, kv_len, q_len);
    requires \valid_read(t) && t->n_nodes == n && t->total_kv == total_kv;
    requires \separated(t, sub + (0 .. n - 1), anc_tc + (0 .. n - 1), up + (0 .. n - 1), tc_node + (0 .. n_tcs - 1),
                        tc_a + (0 .. n_tcs - 1), tc_n + (0 .. n_tcs - 1), tc_pair + (0 .. n_tcs), tc_chunk + (0 .. n_tcs));
    assigns sub[0 .. n - 1], anc_tc[0 .. n - 1], up[0 .. n - 1], tc_node[0 .. n_tcs - 1], tc_a[0 .. n_tcs - 1],
            tc_n[0 .. n_tcs - 1], tc_pair[0 .. n_tcs], tc_chunk[0 .. n_tcs];
    ensures -1 <= \result <= 3 * INT32_MAX;
    ensures 0 <= \result < INT32_MAX ==> t->n_nodes == n && t->total_kv == total_kv;
    ensures 0 <= \result < INT32_MAX ==> forest(n, parent, kv_len, q_len, total_kv);
    ensures 0 <= \result < INT32_MAX ==>
      \forall integer i; 0 <= i <= n ==> deft_sum(q_len, i) == \old(deft_sum(q_len, i));
    ensures 0 <= \result < INT32_MAX ==> sized(n, kv_len, n_tc) && tc_first(n, n_tc, first_tc, n_tcs);
    ensures 0 <= \result < INT32_MAX ==> offs(n, off, kv_len, total_kv);
    ensures 0 <= \result < INT32_MAX ==> tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
    ensures linked: 0 <= \result < INT32_MAX ==> links(n, n_tc, anc_tc, up);
    ensures 0 <= \result < INT32_MAX ==>
      pair_ranges(n_tcs, tc_pair, \result) && chunk_ranges(n_tcs, tc_pair, tc_chunk, \result); */
static int64_t count_all(int64_t n, const int64_t *parent, const int64_t *kv_len, const int64_t *q_len,
                         int64_t cq, int64_t tq, const int64_t *n_tc, const int64_t *first_tc, int64_t *sub,
                         int64_t *anc_tc, int64_t *up, int64_t n_tcs, int64_t *tc_node, int64_t *tc_a,
                         int64_t *tc_n, int64_t *tc_pair, int64_t *tc_chunk)
    /*@ ghost (int64_t ct, int64_t total_kv, const int64_t *off, const deft_tree *t) */
{
    split_tokens(n, kv_len, n_tc, first_tc, tc_node, tc_a, tc_n) /*@ ghost (ct, n_tcs, parent, q_len, total_kv) */;
    //@ assert forest(n, parent, kv_len, q_len, total_kv);
    //@ assert sized(n, kv_len, n_tc);
    //@ assert tc_first(n, n_tc, first_tc, n_tcs);
    //@ assert offs(n, off, kv_len, total_kv);
    //@ assert \forall integer i; 0 <= i < n ==> sub[i] == 0 && q_len[i] == \at(q_len[i], Pre);
    //@ assert t->n_nodes == n && t->total_kv == total_kv;
    int64_t pairs = -1;
    if (count_below(n, parent, q_len, tq, sub) /*@ ghost (kv_len, total_kv) */ == 0) {
        //@ assert forest(n, parent, kv_len, q_len, total_kv);
        //@ assert sized(n, kv_len, n_tc);
        //@ assert tc_first(n, n_tc, first_tc, n_tcs);
        //@ assert offs(n, off, kv_len, total_kv);
        //@ assert tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
        //@ assert \forall integer i; 0 <= i < n ==> q_len[i] == \at(q_len[i], Pre);
        //@ assert t->n_nodes == n && t->total_kv == total_kv;
        //@ assert \forall integer i; 0 <= i < n ==> 0 <= sub[i] <= tq;
        pairs = count_pairs(kv_len, q_len, cq, sub, n_tcs, tc_node, tc_a, tc_pair, tc_chunk)
            /*@ ghost (n, parent, total_kv, ct, tq, tc_n) */;
        //@ assert forest(n, parent, kv_len, q_len, total_kv);
        //@ assert sized(n, kv_len, n_tc);
        //@ assert tc_first(n, n_tc, first_tc, n_tcs);
        //@ assert offs(n, off, kv_len, total_kv);
        //@ assert tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
        //@ assert \forall integer i; 0 <= i < n ==> q_len[i] == \at(q_len[i], Pre);
        //@ assert t->n_nodes == n && t->total_kv == total_kv;
        //@ assert 0 <= pairs < INT32_MAX ==> pair_ranges(n_tcs, tc_pair, pairs) && chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs);
        /* count_links last: its links would stand in the way of carrying facts across a later step. */
        /*@ ghost Counted: ; */
        count_links(n, parent, kv_len, n_tc, anc_tc, up) /*@ ghost (q_len, total_kv) */;
        /*@ assert \forall integer i; 0 <= i <= n_tcs ==>
              tc_pair[i] == \at(tc_pair[i], Counted) && tc_chunk[i] == \at(tc_chunk[i], Counted); */
        //@ assert forest(n, parent, kv_len, q_len, total_kv);
        //@ assert sized(n, kv_len, n_tc);
        //@ assert tc_first(n, n_tc, first_tc, n_tcs);
        //@ assert offs(n, off, kv_len, total_kv);
        //@ assert tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
        //@ assert \forall integer i; 0 <= i < n ==> q_len[i] == \at(q_len[i], Pre);
        //@ assert t->n_nodes == n && t->total_kv == total_kv;
        //@ assert 0 <= pairs < INT32_MAX ==> pair_ranges(n_tcs, tc_pair, pairs) && chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs);
        /* The sums of q_len read as on entry: one prefix at a time. */
        /*@ ghost
          /@ loop invariant 0 <= i <= n;
             loop invariant \forall integer j; 0 <= j <= i ==> deft_sum(q_len, j) == \at(deft_sum(q_len, j), Pre);
             loop assigns i;
             loop variant n - i; @/
          for (int64_t i = 0; i < n; i++) ;
        */
    }
    return pairs;
}

/* fill_arrays' second step: the chunk records (fill_chunks), with the reduction map that fill_pairs
 * left carried across them. A function of its own: apart from the facts fill_pairs needed, the
 * provers carry the map across fill_chunks' writes in time. */
/*@ requires 0 <= n <= INT32_MAX && 0 <= total_kv <= INT32_MAX && 1 <= ct <= INT32_MAX && 0 <= tq < INT32_MAX;
    requires 0 <= n_tcs && 0 <= chunks <= pairs < INT32_MAX;
    requires \valid_read(kv_len + (0 .. n - 1)) && \valid_read(off + (0 .. n - 1)) && offs(n, off, kv_len, total_kv);
    requires tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
    requires pair_ranges(n_tcs, tc_pair, pairs) && chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs) && tc_chunk[n_tcs] == chunks;
    requires \valid_read(tc_node + (0 .. n_tcs - 1)) && \valid_read(tc_a + (0 .. n_tcs - 1)) &&
             \valid_read(tc_n + (0 .. n_tcs - 1)) && \valid_read(tc_pair + (0 .. n_tcs)) && \valid_read(tc_chunk + (0 .. n_tcs));
    requires \valid(plan) && PLAN_LAYOUT(plan, chunks, pairs, tq);
    requires \valid(plan->words + (0 .. 5 * chunks + 3 * pairs + tq + 1));
    requires \separated(plan->words + (0 .. 5 * chunks + 3 * pairs + tq + 1), plan);
    requires FILLED(n_tcs, tc_pair, tc_n, plan->pair_query, plan->pair_visible, tq);
    requires reduced(plan->red_start, plan->red_pair, tq, pairs);
    assigns plan->words[0 .. 5 * chunks], plan->max_chunk_len, plan->max_chunk_pairs;
    ensures records(n, kv_len, total_kv, ct, chunks, plan->chunk_node, plan->chunk_tok_start, plan->chunk_kv_row,
                    plan->chunk_len);
    ensures chunked(tq, chunks, pairs, plan->chunk_len, plan->pair_start, plan->pair_query, plan->pair_visible);
    ensures reduced(plan->red_start, plan->red_pair, tq, pairs); */
static void fill_records(deft_plan *plan, int64_t chunks, int64_t pairs, const int64_t *off, int64_t n_tcs,
                         const int64_t *tc_node, const int64_t *tc_a, const int64_t *tc_n, const int64_t *tc_pair,
                         const int64_t *tc_chunk)
    /*@ ghost (int64_t n, const int64_t *kv_len, int64_t total_kv, int64_t ct, int64_t tq) */
{
    fill_chunks(off, tc_node, tc_a, tc_n, tc_pair, tc_chunk, n_tcs, chunks, pairs, plan->chunk_node,
                plan->chunk_tok_start, plan->chunk_kv_row, plan->chunk_len, plan->pair_start,
                &plan->max_chunk_len, &plan->max_chunk_pairs)
        /*@ ghost (n, kv_len, total_kv, ct, tq, plan->pair_query, plan->pair_visible) */;
    /* fill_chunks wrote the chunk records only: the reduction map reads as before. */
    //@ assert \forall integer k; 0 <= k <= tq ==> plan->red_start[k] == \at(plan->red_start[k], Pre);
    //@ assert \forall integer k; 0 <= k < pairs ==> plan->red_pair[k] == \at(plan->red_pair[k], Pre);
}

/* Stage 3's fill, into the plan's block (laid out by plan_alloc): the pairs and the reduction map
 * (fill_pairs), then, if fill_pairs returned 0, the chunk records (fill_chunks); returns what
 * fill_pairs returned. A function of its own so that the facts of the fill are proved apart from
 * those of the block's allocation. */
/*@ requires 0 <= n <= INT32_MAX && 0 <= total_kv <= INT32_MAX && 1 <= ct <= INT32_MAX && 0 <= tq < INT32_MAX;
    requires 0 <= n_tcs && 0 <= chunks <= pairs < INT32_MAX;
    requires \valid_read(kv_len + (0 .. n - 1)) && \valid_read(q_len + (0 .. n - 1));
    requires \forall integer i; 0 <= i < n ==> 0 <= q_len[i] <= kv_len[i] <= total_kv;
    requires summed(n, q_len, tq);
    requires sized(n, kv_len, n_tc) && links(n, n_tc, anc_tc, up);
    requires tc_first(n, n_tc, first_tc, n_tcs);
    requires \valid_read(off + (0 .. n - 1)) && offs(n, off, kv_len, total_kv);
    requires tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
    requires pair_ranges(n_tcs, tc_pair, pairs) && chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs) && tc_chunk[n_tcs] == chunks;
    requires TC_READABLE(n, n_tcs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair) &&
             \valid_read(tc_node + (0 .. n_tcs - 1)) && \valid_read(tc_chunk + (0 .. n_tcs));
    requires \valid(tc_fill + (0 .. n_tcs - 1)) && \forall integer i; 0 <= i < n_tcs ==> tc_fill[i] == 0;
    requires \valid(plan) && PLAN_LAYOUT(plan, chunks, pairs, tq);
    requires \valid(plan->words + (0 .. 5 * chunks + 3 * pairs + tq + 1));
    requires \separated(plan->words + (0 .. 5 * chunks + 3 * pairs + tq + 1), plan, tc_fill + (0 .. n_tcs - 1));
    requires \separated(tc_fill + (0 .. n_tcs - 1), plan);
    assigns tc_fill[0 .. n_tcs - 1], plan->words[0 .. 5 * chunks + 3 * pairs + tq + 1], plan->max_chunk_len,
            plan->max_chunk_pairs;
    ensures 0 <= \result <= 2;
    ensures \result == 0 ==>
      records(n, kv_len, total_kv, ct, chunks, plan->chunk_node, plan->chunk_tok_start, plan->chunk_kv_row,
              plan->chunk_len);
    ensures \result == 0 ==> chunked(tq, chunks, pairs, plan->chunk_len, plan->pair_start, plan->pair_query, plan->pair_visible);
    ensures \result == 0 ==> reduced(plan->red_start, plan->red_pair, tq, pairs); */
static int fill_arrays(deft_plan *plan, int64_t n, const int64_t *kv_len, const int64_t *q_len, int64_t tq,
                       int64_t pairs, int64_t chunks, const int64_t *off, const int64_t *n_tc,
                       const int64_t *first_tc, const int64_t *anc_tc, const int64_t *up, int64_t n_tcs,
                       const int64_t *tc_node, const int64_t *tc_a, const int64_t *tc_n, const int64_t *tc_pair,
                       const int64_t *tc_chunk, int32_t *tc_fill) /*@ ghost (int64_t ct, int64_t total_kv) */
{
    int r = fill_pairs(n, kv_len, q_len, tq, pairs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair, n_tcs, tc_fill,
                       plan->pair_query, plan->pair_visible, plan->red_start, plan->red_pair) /*@ ghost (ct, tc_node) */;
    if (r != 0) return r;
    fill_records(plan, chunks, pairs, off, n_tcs, tc_node, tc_a, tc_n, tc_pair, tc_chunk)
        /*@ ghost (n, kv_len, total_kv, ct, tq) */;
    return 0;
}

/* Stage 3's last step: the plan's sizes, set once its arrays are filled (on a failed fill the plan is
 * zeroed, so the order makes no difference to what a caller sees); the plan is then whole: plan_ok. */
/*@ requires \valid_read(t) && t->n_nodes == n && 0 <= t->total_kv <= INT32_MAX;
    requires \valid(plan) && \separated(plan, t);
    requires 0 <= n <= INT32_MAX && 0 <= chunks <= pairs < INT32_MAX && 0 <= tq < INT32_MAX;
    requires 1 <= ct <= INT32_MAX && 0 <= cq <= INT32_MAX;
    requires PLAN_LAYOUT(plan, chunks, pairs, tq) && \valid(plan->words + (0 .. 5 * chunks + 3 * pairs + tq + 1)) &&
             \base_addr(plan->words) != \base_addr(plan);
    requires records(n, t->kv_len, t->total_kv, ct, chunks, plan->chunk_node, plan->chunk_tok_start,
                     plan->chunk_kv_row, plan->chunk_len);
    requires chunked(tq, chunks, pairs, plan->chunk_len, plan->pair_start, plan->pair_query, plan->pair_visible);
    requires reduced(plan->red_start, plan->red_pair, tq, pairs);
    assigns plan->n_nodes, plan->n_chunks, plan->n_pairs, plan->n_queries, plan->chunk_tokens, plan->chunk_queries;
    ensures plan_ok(plan, t) && plan->n_queries == tq; */
static void plan_sizes(deft_plan *plan, int64_t n, int64_t chunks, int64_t pairs, int64_t tq, int64_t ct, int64_t cq)
    /*@ ghost (const deft_tree *t) */
{
    plan->n_nodes = (int32_t)n;
    plan->n_chunks = (int32_t)chunks;
    plan->n_pairs = (int32_t)pairs;
    plan->n_queries = (int32_t)tq;
    plan->chunk_tokens = (int32_t)ct;
    plan->chunk_queries = (int32_t)cq;
    /* The fields are outside the block: every entry of every array reads as before, array by array
     * (at any index: a write to another block leaves the whole of this one as it was, so no index
     * has to be shown inside its range first). */
    /*@ assert \forall integer c;
          plan->chunk_node[c] == \at(plan->chunk_node[c], Pre) && plan->chunk_tok_start[c] == \at(plan->chunk_tok_start[c], Pre) &&
          plan->chunk_kv_row[c] == \at(plan->chunk_kv_row[c], Pre) && plan->chunk_len[c] == \at(plan->chunk_len[c], Pre); */
    //@ assert \forall integer c; plan->pair_start[c] == \at(plan->pair_start[c], Pre);
    /*@ assert \forall integer e;
          plan->pair_query[e] == \at(plan->pair_query[e], Pre) && plan->pair_visible[e] == \at(plan->pair_visible[e], Pre) &&
          plan->red_pair[e] == \at(plan->red_pair[e], Pre); */
    //@ assert \forall integer q; plan->red_start[q] == \at(plan->red_start[q], Pre);
    /*@ assert records(n, t->kv_len, t->total_kv, ct, chunks, plan->chunk_node, plan->chunk_tok_start,
                       plan->chunk_kv_row, plan->chunk_len); */
    //@ assert chunked(tq, chunks, pairs, plan->chunk_len, plan->pair_start, plan->pair_query, plan->pair_visible);
    //@ assert reduced(plan->red_start, plan->red_pair, tq, pairs);
    /*@ assert \valid(plan->chunk_node + (0 .. chunks - 1)) && \valid(plan->chunk_tok_start + (0 .. chunks - 1)) &&
          \valid(plan->chunk_kv_row + (0 .. chunks - 1)) && \valid(plan->chunk_len + (0 .. chunks - 1)) &&
          \valid(plan->pair_start + (0 .. chunks)) && \valid(plan->pair_query + (0 .. pairs - 1)) &&
          \valid(plan->pair_visible + (0 .. pairs - 1)) && \valid(plan->red_start + (0 .. tq)) &&
          \valid(plan->red_pair + (0 .. pairs - 1)); */
    /*@ assert plan->n_nodes == t->n_nodes && plan->n_chunks == chunks && plan->n_pairs == pairs &&
          plan->n_queries == tq && plan->chunk_tokens == ct; */
}

/* Stage 3: the plan: its block (plan_alloc), the pairs, the reduction map and the chunk records
 * (fill_arrays), then its sizes (plan_sizes). It writes no int64 memory on its way to DEFT_OK (the
 * diagnostic is written only on the way out with an error), so every fact about the int64 arrays
 * stands through it as it is; the ghost t is the tree the plan is for. */
/*@ requires \valid_read(t) && t->n_nodes == n && t->kv_len == kv_len && 0 <= t->total_kv <= INT32_MAX;
    requires \valid(plan) && \separated(plan, t) &&
             (n > 0 ==> \separated(plan, t->parent + (0 .. n - 1), t->kv_len + (0 .. n - 1), t->q_len + (0 .. n - 1)) &&
                (t->kv_offset == \null || \separated(plan, t->kv_offset + (0 .. n - 1))));
    requires diag == \null || (\valid(diag) && \separated(diag, plan));
    requires 0 <= n <= INT32_MAX && \valid_read(kv_len + (0 .. n - 1)) && \valid_read(q_len + (0 .. n - 1));
    requires \forall integer i; 0 <= i < n ==> 0 <= q_len[i] <= kv_len[i] <= t->total_kv;
    requires summed(n, q_len, tq);
    requires 1 <= ct <= INT32_MAX && 0 <= cq <= INT32_MAX && 0 <= tq < INT32_MAX && 0 <= n_tcs && 0 <= pairs < INT32_MAX;
    requires sized(n, kv_len, n_tc) && links(n, n_tc, anc_tc, up);
    requires tc_first(n, n_tc, first_tc, n_tcs);
    requires \valid_read(off + (0 .. n - 1)) && offs(n, off, kv_len, t->total_kv);
    requires tokens(n, kv_len, ct, n_tcs, tc_node, tc_a, tc_n);
    requires pair_ranges(n_tcs, tc_pair, pairs) && chunk_ranges(n_tcs, tc_pair, tc_chunk, pairs);
    requires TC_READABLE(n, n_tcs, n_tc, first_tc, anc_tc, up, tc_a, tc_n, tc_pair) &&
             \valid_read(tc_node + (0 .. n_tcs - 1)) && \valid_read(tc_chunk + (0 .. n_tcs));
    requires \valid(tc_fill + (0 .. n_tcs - 1)) && \forall integer i; 0 <= i < n_tcs ==> tc_fill[i] == 0;
    requires \separated(tc_fill + (0 .. n_tcs - 1), plan) && (diag == \null || \separated(tc_fill + (0 .. n_tcs - 1), diag));
    ensures \result == DEFT_OK || \result == DEFT_ERR_NO_MEMORY || \result == DEFT_ERR_INTERNAL;
    ensures \result == DEFT_OK ==> plan_ok(plan, t) && plan->n_queries == tq; */
static deft_status fill_plan(deft_plan *plan, int64_t n, const int64_t *kv_len, const int64_t *q_len,
                             int64_t ct, int64_t cq, int64_t tq, const int64_t *off, const int64_t *n_tc,
                             const int64_t *first_tc, const int64_t *anc_tc, const int64_t *up, int64_t n_tcs,
                             const int64_t *tc_node, const int64_t *tc_a, const int64_t *tc_n,
                             const int64_t *tc_pair, const int64_t *tc_chunk, int32_t *tc_fill, int64_t pairs,
                             deft_diag *diag) /*@ ghost (const deft_tree *t) */
{
    int64_t chunks = tc_chunk[n_tcs];
    int64_t missing = plan_alloc(plan, chunks, pairs, tq)
        /*@ ghost (t, diag, NULL, 0, NULL, 0, NULL, 0, tc_fill, n_tcs) */;
    if (missing) return words_oom(diag, missing);
    if (fill_arrays(plan, n, kv_len, q_len, tq, pairs, chunks, off, n_tc, first_tc, anc_tc, up, n_tcs, tc_node, tc_a,
                    tc_n, tc_pair, tc_chunk, tc_fill) /*@ ghost (ct, t->total_kv) */ != 0) {
        release32(plan->words);
        plan_clear(plan) /*@ ghost (t) */;
        return broken(diag, "a token chunk's pairs or the reduction lists do not add up");
    }
    plan_sizes(plan, n, chunks, pairs, tq, ct, cq) /*@ ghost (t) */;
    return DEFT_OK;
}

/* The builder proper, on a validated tree of int32 sizes with tq queries: the scratch blocks and
 * the checks between the stages. */
/*@ requires tree_ok(t) && deft_tree_valid(t) && tq == deft_sum(t->q_len, t->n_nodes) && 0 <= tq < INT32_MAX;
    requires 1 <= ct <= INT32_MAX && 0 <= cq <= INT32_MAX;
    requires \valid(plan) && \separated(plan, t) &&
             (t->n_nodes > 0 ==> \separated(plan, t->parent + (0 .. t->n_nodes - 1), t->kv_len + (0 .. t->n_nodes - 1),
                                           t->q_len + (0 .. t->n_nodes - 1)) &&
                (t->kv_offset == \null || \separated(plan, t->kv_offset + (0 .. t->n_nodes - 1))));
    requires deft_diag_apart(diag, t) && (diag == \null || \separated(diag, plan));
    ensures \result == DEFT_OK || \result == DEFT_ERR_NO_MEMORY || \result == DEFT_ERR_OVERFLOW ||
            \result == DEFT_ERR_INTERNAL;
    ensures \result == DEFT_OK ==> plan_ok(plan, t) && plan->n_queries == tq; */
static deft_status build(const deft_tree *t, int64_t ct, int64_t cq, int64_t tq, deft_plan *plan,
                         deft_diag *diag)
{
    int64_t n = t->n_nodes;
    const int64_t *parent = t->parent, *kv_len = t->kv_len, *q_len = t->q_len;
    //@ ghost sum_mono(q_len, n);
    int64_t *nodes = alloc64(6 * n + 1) /*@ ghost (t, plan, diag, NULL, 0, NULL, 0, NULL, 0) */;
    if (!nodes) return out_of_memory(diag);
    int64_t *off = nodes, *sub = nodes + n, *n_tc = nodes + 2 * n, *anc_tc = nodes + 3 * n;
    int64_t *up = nodes + 4 * n, *first_tc = nodes + 5 * n;
    int64_t n_tcs = node_chunks(t, n, kv_len, ct, off, n_tc, first_tc) /*@ ghost (parent, q_len, tq, sub) */;
    if (n_tcs > INT32_MAX) {
        release64(nodes);
        return too_big(diag, "token chunk count", n_tcs);
    }
    int64_t *tcs = alloc64(5 * n_tcs + 2) /*@ ghost (t, plan, diag, nodes, 6 * n + 1, NULL, 0, NULL, 0) */;
    int32_t *tc_fill = NULL;
    if (tcs) tc_fill = zalloc32(n_tcs) /*@ ghost (t, plan, diag, nodes, 6 * n + 1, tcs, 5 * n_tcs + 2, NULL, 0) */;
    if (!tc_fill) {
        release64(tcs);
        release64(nodes);
        return out_of_memory(diag);
    }
    int64_t *tc_node = tcs, *tc_a = tcs + n_tcs, *tc_n = tcs + 2 * n_tcs, *tc_pair = tcs + 3 * n_tcs;
    int64_t *tc_chunk = tcs + 4 * n_tcs + 1;
    deft_status st = DEFT_OK;
    int64_t pairs = count_all(n, parent, kv_len, q_len, cq, tq, n_tc, first_tc, sub, anc_tc, up, n_tcs, tc_node,
                              tc_a, tc_n, tc_pair, tc_chunk) /*@ ghost (ct, t->total_kv, off, t) */;
    if (pairs < 0) {
        st = broken(diag, "the queries below a node exceed the query count");
        goto done;
    }
    if (pairs >= INT32_MAX) {
        st = too_big(diag, "(chunk, query) pair count", pairs);
        goto done;
    }
    //@ assert summed(n, q_len, tq);
    st = fill_plan(plan, n, kv_len, q_len, ct, cq, tq, off, n_tc, first_tc, anc_tc, up, n_tcs, tc_node, tc_a,
                   tc_n, tc_pair, tc_chunk, tc_fill, pairs, diag) /*@ ghost (t) */;
done:
    release32(tc_fill);
    release64(tcs);
    release64(nodes);
    return st;
}

/*@ requires plan == \null || \valid(plan);
    requires diag == \null || \valid(diag);
    requires t == \null || (deft_tree_readable(t) && deft_diag_apart(diag, t));
    requires opt == \null || \valid_read(opt);
    requires plan != \null && t != \null ==> \separated(plan, t) &&
      (t->n_nodes > 0 ==> \separated(plan, t->parent + (0 .. t->n_nodes - 1), t->kv_len + (0 .. t->n_nodes - 1),
                                     t->q_len + (0 .. t->n_nodes - 1)) &&
         (t->kv_offset == \null || \separated(plan, t->kv_offset + (0 .. t->n_nodes - 1))));
    requires plan != \null && diag != \null ==> \separated(plan, diag);
    ensures \result == DEFT_OK ==> \old(deft_tree_valid(t)) && plan_ok(plan, t) &&
      plan->n_queries == \old(deft_sum(t->q_len, t->n_nodes)); */
deft_status deft_plan_build(const deft_tree *t, const deft_options *opt, deft_plan *plan,
                            deft_diag *diag)
{
    if (!plan) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "plan: plan is NULL");
        return DEFT_ERR_NULL;
    }
    /* Zeroing the plan (then validate_tree, writing *diag) leaves the tree as it was on entry: the
     * plan and diag share no memory with the tree. The steps go field by field first, then to what
     * rests on the fields; plan_clear's contract carries the parts of deft_tree_valid across. */
    /*@ assert plan_apart: t != \null ==>
          \separated(&t->n_nodes, plan) && \separated(&t->parent, plan) && \separated(&t->kv_len, plan) &&
          \separated(&t->q_len, plan) && \separated(&t->kv_offset, plan) && \separated(&t->total_kv, plan); */
    /*@ assert diag_apart: t != \null && diag != \null ==>
          \separated(&t->n_nodes, diag) && \separated(&t->parent, diag) && \separated(&t->kv_len, diag) &&
          \separated(&t->q_len, diag) && \separated(&t->kv_offset, diag) && \separated(&t->total_kv, diag); */
    plan_clear(plan) /*@ ghost (t) */;
    /*@ assert zeroed_fields: t != \null ==>
          t->n_nodes == \at(t->n_nodes, Pre) && t->parent == \at(t->parent, Pre) &&
          t->kv_len == \at(t->kv_len, Pre) && t->q_len == \at(t->q_len, Pre) &&
          t->kv_offset == \at(t->kv_offset, Pre) && t->total_kv == \at(t->total_kv, Pre); */
    //@ assert zeroed_read: t != \null ==> deft_tree_readable(t);
    //@ assert zeroed_diag: t != \null ==> deft_diag_apart(diag, t);
    //@ assert zeroed_valid: t != \null ==> deft_tree_valid(t) ==> \at(deft_tree_valid(t), Pre);
    /*@ assert zeroed_sum: t != \null ==>
          deft_sum(t->q_len, t->n_nodes) == \at(deft_sum(t->q_len, t->n_nodes), Pre); */
    deft_status st = validate_tree(t, diag);
    if (st != DEFT_OK) return st;
    /*@ assert checked_fields:
          t->n_nodes == \at(t->n_nodes, Pre) && t->parent == \at(t->parent, Pre) &&
          t->kv_len == \at(t->kv_len, Pre) && t->q_len == \at(t->q_len, Pre) &&
          t->kv_offset == \at(t->kv_offset, Pre) && t->total_kv == \at(t->total_kv, Pre); */
    //@ assert checked_read: deft_tree_readable(t);
    //@ assert checked_diag: deft_diag_apart(diag, t);
    /*@ assert checked_sum: deft_sum(t->q_len, t->n_nodes) == \at(deft_sum(t->q_len, t->n_nodes), Pre); */
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
    return build(t, ct, cq, tq, plan, diag);
}
