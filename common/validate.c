/* validate.c: the gate every public entry passes through. A forest, a shape and a problem are
 * checked against docs/semantics.md; each bad-input class gets its own status and a diagnostic
 * naming the first offending node or field. Also the small derived counts of a valid tree. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

/* A non-empty node's first row and index. Both are >= 0 (the range check comes first), so they
 * are kept unsigned: the proofs' typed memory model keeps unsigned cells apart from the tree's
 * int64 ones, so that writing the keys visibly leaves the tree's arrays as they were. */
typedef struct {
    uint64_t offset, node;
} span_key;

static int span_cmp(const void *a, const void *b)
{
    const span_key *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->node < y->node ? -1 : (x->node > y->node);
}

/*@
  // The per-node half of deft_tree_valid: each node's parent and lengths, the running sums, and
  // packed rows inside total_kv.
  predicate deft_nodes_ok(deft_tree *t) =
    (\forall integer i; 0 <= i < t->n_nodes ==> deft_node_ok(t, i)) && deft_sums_fit(t) &&
    (t->kv_offset == \null ==> deft_packed_fits(t));

  // The given-offsets half: every node inside 0..total_kv, no two non-empty nodes on one row.
  predicate deft_offsets_ok(deft_tree *t) = deft_ranges_ok(t) && deft_rows_disjoint(t);

  // What the checks below need of the tree when the offsets are given.
  predicate deft_given_tree(deft_tree *t) =
    deft_tree_readable(t) && t->n_nodes >= 0 && t->total_kv >= 0 && t->kv_offset != \null &&
    (t->n_nodes > 0 ==> t->kv_len != \null) &&
    (\forall integer i; 0 <= i < t->n_nodes ==> t->kv_len[i] >= 0);

  // keys[0 .. n-1] name non-empty nodes, with their offsets.
  predicate deft_keys_name_nodes(deft_tree *t, span_key *keys, integer n) =
    \forall integer j; 0 <= j < n ==>
      0 <= keys[j].node < t->n_nodes && t->kv_len[keys[j].node] > 0 &&
      keys[j].offset == t->kv_offset[keys[j].node];

  // Every non-empty node is named by some key.
  predicate deft_keys_all_named(deft_tree *t, span_key *keys, integer n) =
    \forall integer x; 0 <= x < t->n_nodes && t->kv_len[x] > 0 ==>
      \exists integer j; 0 <= j < n && keys[j].node == x;

  // Each key's rows end before the next key's begin.
  predicate deft_keys_apart(deft_tree *t, span_key *keys, integer n) =
    \forall integer j1, j2; 0 <= j1 < j2 < n ==>
      keys[j1].offset + t->kv_len[keys[j1].node] <= keys[j2].offset;
*/

/* The proofs (proofs/frama-c/validate) do not go inside qsort: this wrapper's contract is trusted
 * (docs/proofs.md, "Trusted"). qsort permutes the keys, so what holds of every key before (which
 * node, its offset) holds of every key after, and every node named before is named after;
 * span_cmp orders them by (offset, node). t is a ghost parameter: the contract names the tree,
 * the code does not. */
/*@ requires 0 <= n && \valid(keys + (0 .. n - 1)) && \valid_read(t);
    requires t->n_nodes >= 0 &&
      (t->n_nodes > 0 ==> deft_rd(t->kv_len, t->n_nodes) && deft_rd(t->kv_offset, t->n_nodes));
    requires \separated(keys + (0 .. n - 1), t, t->kv_len + (0 .. t->n_nodes - 1),
                        t->kv_offset + (0 .. t->n_nodes - 1));
    requires keys_name_nodes: deft_keys_name_nodes(t, keys, n);
    requires distinct: \forall integer i, j; 0 <= i < j < n ==> keys[i].node != keys[j].node;
    requires all_named: deft_keys_all_named(t, keys, n);
    assigns keys[0 .. n - 1];
    admit ensures sorted: \forall integer j1, j2; 0 <= j1 < j2 < n ==>
      keys[j1].offset < keys[j2].offset ||
      (keys[j1].offset == keys[j2].offset && keys[j1].node < keys[j2].node);
    admit ensures keys_name_nodes: deft_keys_name_nodes(t, keys, n);
    admit ensures all_named: deft_keys_all_named(t, keys, n);
*/
static void sort_spans(span_key *keys, int64_t n) /*@ ghost (const deft_tree *t) */
{
    qsort(keys, (size_t)n, sizeof *keys, span_cmp);
}

/* Given offsets, part 1: each node's rows inside 0..total_kv-1. Returns the number of non-empty
 * nodes, or -1 - i for the first node i outside. */
/*@ requires deft_given_tree(t);
    requires fields:
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    assigns \nothing;
    ensures range_bad: \result < 0 ==> 0 <= -1 - \result < t->n_nodes && !deft_ranges_ok(t);
    ensures range_ok: \result >= 0 ==> deft_ranges_ok(t);
    ensures single: 0 <= \result < 2 ==> deft_rows_disjoint(t);
    ensures count: \result >= 0 ==>
      \result == deft_npos(t->kv_len, t->n_nodes) && \result <= t->n_nodes &&
      \forall integer j; 0 <= j <= t->n_nodes ==> deft_npos(t->kv_len, j) <= \result;
*/
static int64_t count_in_range(const deft_tree *t)
{
    int64_t n = t->n_nodes, nonempty = 0;
    /*@ loop invariant 0 <= i <= n && 0 <= nonempty <= i;
        loop invariant nonempty == deft_npos(t->kv_len, i);
        loop invariant \forall integer j; 0 <= j <= i ==> deft_npos(t->kv_len, j) <= nonempty;
        loop invariant \forall integer j; 0 <= j < i ==>
          0 <= t->kv_offset[j] && t->kv_offset[j] + t->kv_len[j] <= t->total_kv;
        loop invariant one: \forall integer j; 0 <= j < i && t->kv_len[j] > 0 ==> nonempty >= 1;
        loop invariant two: \forall integer j1, j2; 0 <= j1 < j2 < i && t->kv_len[j1] > 0 &&
          t->kv_len[j2] > 0 ==> nonempty >= 2;
        loop assigns i, nonempty;
        loop variant n - i; */
    for (int64_t i = 0; i < n; i++) {
        int64_t off = t->kv_offset[i];
        if (off < 0 || t->kv_len[i] > t->total_kv - off) return -1 - i;
        nonempty += t->kv_len[i] > 0;
    }
    return nonempty;
}

/* Given offsets, part 2: keys (nonempty) receives (offset, node) of each non-empty node, in node
 * order. */
/*@ requires deft_given_tree(t) && deft_ranges_ok(t);
    requires fields:
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    requires nonempty == deft_npos(t->kv_len, t->n_nodes);
    requires \forall integer j; 0 <= j <= t->n_nodes ==> deft_npos(t->kv_len, j) <= nonempty;
    requires 0 <= nonempty && \valid(keys + (0 .. nonempty - 1));
    requires \separated(keys + (0 .. nonempty - 1), t, t->kv_len + (0 .. t->n_nodes - 1),
                        t->kv_offset + (0 .. t->n_nodes - 1));
    assigns keys[0 .. nonempty - 1];
    ensures keys_name_nodes: deft_keys_name_nodes(t, keys, nonempty);
    ensures distinct: \forall integer i, j; 0 <= i < j < nonempty ==> keys[i].node < keys[j].node;
    ensures all_named: deft_keys_all_named(t, keys, nonempty);
*/
static void fill_keys(const deft_tree *t, span_key *keys, int64_t nonempty)
{
    (void)nonempty; /* the contract's bound on k; the loop needs no check */
    int64_t n = t->n_nodes, k = 0;
    /*@ loop invariant 0 <= i <= n && 0 <= k <= nonempty;
        loop invariant k == deft_npos(t->kv_len, i);
        loop invariant names: \forall integer j; 0 <= j < k ==>
          0 <= keys[j].node < i && t->kv_len[keys[j].node] > 0 &&
          keys[j].offset == t->kv_offset[keys[j].node];
        loop invariant distinct: \forall integer j1, j2; 0 <= j1 < j2 < k ==>
          keys[j1].node < keys[j2].node;
        loop invariant all_named: \forall integer x; 0 <= x < i && t->kv_len[x] > 0 ==>
          \exists integer j; 0 <= j < k && keys[j].node == x;
        loop assigns i, k, keys[0 .. nonempty - 1];
        loop variant n - i; */
    for (int64_t i = 0; i < n; i++)
        if (t->kv_len[i] > 0) {
            //@ assert deft_npos(t->kv_len, i + 1) == k + 1 && k < nonempty && 0 <= t->kv_offset[i];
            keys[k].offset = (uint64_t)t->kv_offset[i];
            keys[k].node = (uint64_t)i;
            k++;
        }
}

/* Keys in offset order that end before the next one begins, naming every non-empty node: no two
 * non-empty nodes share a row (two nodes' keys are in one order or the other). */
/*@ ghost
  /@ requires \valid_read(t) && 0 <= n;
     requires deft_keys_name_nodes(t, keys, n) && deft_keys_all_named(t, keys, n);
     requires deft_keys_apart(t, keys, n);
     assigns \nothing;
     ensures deft_rows_disjoint(t); @/
  static void keys_apart_disjoint(const deft_tree *t, const span_key *keys, int64_t n) {}
*/

/* Given offsets, part 3: keys (n) sorted by (offset, node) name the non-empty nodes; with them
 * in offset order, overlaps can only be adjacent, so one pass finds one if there is any. The first
 * overlap in that order is named. */
/*@ requires deft_given_tree(t) && deft_diag_apart(diag, t) && deft_ranges_ok(t);
    requires fields:
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    requires diag == \null || \valid(diag);
    requires 0 <= n && \valid_read(keys + (0 .. n - 1));
    requires diag == \null || \separated(diag, keys + (0 .. n - 1));
    requires sorted: \forall integer j1, j2; 0 <= j1 < j2 < n ==>
      keys[j1].offset < keys[j2].offset ||
      (keys[j1].offset == keys[j2].offset && keys[j1].node < keys[j2].node);
    requires keys_name_nodes: deft_keys_name_nodes(t, keys, n);
    requires all_named: deft_keys_all_named(t, keys, n);
    assigns *diag;
    ensures \result == DEFT_OK || \result == DEFT_ERR_KV_OVERLAP;
    ensures apart: \result == DEFT_OK ==>
      \old(deft_rows_disjoint(t)) && deft_rows_disjoint(t) && deft_ranges_ok(t);
    ensures overlap: \result == DEFT_ERR_KV_OVERLAP ==> !\old(deft_rows_disjoint(t));
*/
static deft_status scan_sorted(const deft_tree *t, const span_key *keys, int64_t n, deft_diag *diag)
{
    /*@ loop invariant 1 <= j <= (n > 1 ? n : 1);
        loop invariant apart: deft_keys_apart(t, keys, j);
        loop invariant last_ends: \forall integer j1; 0 <= j1 < j ==>
          keys[j1].offset + t->kv_len[keys[j1].node] <=
          keys[j - 1].offset + t->kv_len[keys[j - 1].node];
        loop assigns j;
        loop variant n - j; */
    for (int64_t j = 1; j < n; j++) {
        int64_t a = (int64_t)keys[j - 1].node, b = (int64_t)keys[j].node;
        //@ assert 0 <= a < t->n_nodes && 0 <= b < t->n_nodes && a != b;
        //@ assert keys[j - 1].offset == t->kv_offset[a] && keys[j].offset == t->kv_offset[b];
        //@ assert t->kv_offset[a] <= t->kv_offset[b] && t->kv_len[a] > 0 && t->kv_len[b] > 0;
        //@ assert 0 <= t->kv_offset[a] && t->kv_offset[a] + t->kv_len[a] <= t->total_kv;
        //@ assert 0 <= t->kv_offset[b] && t->kv_offset[b] + t->kv_len[b] <= t->total_kv;
        if (t->kv_offset[a] + t->kv_len[a] > t->kv_offset[b]) {
            int64_t lo = a < b ? a : b, hi = a < b ? b : a;
            /*@ assert overlap: !deft_rows_disjoint(t); */
            deft_diag_set(diag, DEFT_ERR_KV_OVERLAP, hi,
                          "node %lld: KV rows %lld..%lld overlap node %lld's rows %lld..%lld",
                          (long long)hi, (long long)t->kv_offset[hi],
                          (long long)(t->kv_offset[hi] + t->kv_len[hi] - 1), (long long)lo,
                          (long long)t->kv_offset[lo],
                          (long long)(t->kv_offset[lo] + t->kv_len[lo] - 1));
            return DEFT_ERR_KV_OVERLAP;
        }
        //@ assert end_before: keys[j - 1].offset + t->kv_len[a] <= keys[j].offset;
        /*@ assert new_apart: \forall integer j1; 0 <= j1 < j ==>
              keys[j1].offset + t->kv_len[keys[j1].node] <= keys[j].offset; */
    }
    //@ ghost keys_apart_disjoint(t, keys, n);
    return DEFT_OK;
}

/* Given offsets, part 2 + 3, on keys (nonempty) the caller provides. */
/*@ requires deft_given_tree(t) && deft_diag_apart(diag, t) && deft_ranges_ok(t);
    requires fields:
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    requires diag == \null || \valid(diag);
    requires nonempty == deft_npos(t->kv_len, t->n_nodes);
    requires \forall integer j; 0 <= j <= t->n_nodes ==> deft_npos(t->kv_len, j) <= nonempty;
    requires 0 <= nonempty && \valid(keys + (0 .. nonempty - 1));
    requires \separated(keys + (0 .. nonempty - 1), t, t->kv_len + (0 .. t->n_nodes - 1),
                        t->kv_offset + (0 .. t->n_nodes - 1));
    requires diag == \null || \separated(diag, keys + (0 .. nonempty - 1));
    assigns keys[0 .. nonempty - 1], *diag;
    ensures \result == DEFT_OK || \result == DEFT_ERR_KV_OVERLAP;
    ensures apart: \result == DEFT_OK ==>
      \old(deft_rows_disjoint(t)) && deft_rows_disjoint(t) && deft_ranges_ok(t);
    ensures overlap: \result == DEFT_ERR_KV_OVERLAP ==> !\old(deft_rows_disjoint(t));
*/
static deft_status find_overlap(const deft_tree *t, span_key *keys, int64_t nonempty,
                                deft_diag *diag)
{
    fill_keys(t, keys, nonempty);
    sort_spans(keys, nonempty) /*@ ghost (t) */;
    return scan_sorted(t, keys, nonempty, diag);
}

/* find_overlap on keys from malloc, freed before returning; DEFT_ERR_NO_MEMORY (not diagnosed) if
 * malloc fails. WP does not model malloc: it cannot see that the block is fresh, so it can show
 * neither that the keys are valid and apart from the tree and diag, nor that writing them changes
 * nothing the caller can see (the assigns clause), nor that free may release them. This wrapper
 * is therefore outside the proof and its contract is trusted (docs/proofs.md, "Trusted"): its
 * preconditions are find_overlap's, less those on the keys, which malloc provides; its
 * postconditions are find_overlap's (malloc and free leave the tree and diag as they are). */
/*@ requires deft_given_tree(t) && deft_diag_apart(diag, t) && deft_ranges_ok(t);
    requires fields:
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    requires diag == \null || \valid(diag);
    requires nonempty == deft_npos(t->kv_len, t->n_nodes);
    requires \forall integer j; 0 <= j <= t->n_nodes ==> deft_npos(t->kv_len, j) <= nonempty;
    requires 0 < nonempty <= t->n_nodes;
    assigns *diag, __fc_heap_status;
    admit ensures \result == DEFT_OK || \result == DEFT_ERR_KV_OVERLAP ||
                  \result == DEFT_ERR_NO_MEMORY;
    admit ensures apart: \result == DEFT_OK ==>
      \old(deft_rows_disjoint(t)) && deft_rows_disjoint(t) && deft_ranges_ok(t);
    admit ensures overlap: \result == DEFT_ERR_KV_OVERLAP ==> !\old(deft_rows_disjoint(t));
*/
static deft_status find_overlap_scratch(const deft_tree *t, int64_t nonempty, deft_diag *diag)
{
    span_key *keys = malloc((size_t)nonempty * sizeof *keys);
    if (!keys) return DEFT_ERR_NO_MEMORY;
    deft_status st = find_overlap(t, keys, nonempty, diag);
    free(keys);
    return st;
}

/* Given offsets: each node's rows inside 0..total_kv-1, and no two non-empty nodes sharing a row.
 * Sorting by offset makes the overlap test linear after an n log n sort. */
/*@ requires deft_given_tree(t) && deft_diag_apart(diag, t);
    requires fields:
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    requires diag == \null || \valid(diag);
    assigns *diag, __fc_heap_status;
    ensures \result == DEFT_OK || \result == DEFT_ERR_KV_RANGE || \result == DEFT_ERR_KV_OVERLAP ||
            \result == DEFT_ERR_NO_MEMORY;
    ensures ok: \result == DEFT_OK ==> \old(deft_offsets_ok(t)) && deft_offsets_ok(t);
    ensures bad: \result == DEFT_ERR_KV_RANGE || \result == DEFT_ERR_KV_OVERLAP ==>
      !\old(deft_offsets_ok(t));
*/
static deft_status check_given_offsets(const deft_tree *t, deft_diag *diag)
{
    int64_t nonempty = count_in_range(t);
    if (nonempty < 0) {
        int64_t i = -1 - nonempty;
        deft_diag_set(diag, DEFT_ERR_KV_RANGE, i,
                      "node %lld: kv_offset %lld + kv_len %lld is outside 0..total_kv (%lld)",
                      (long long)i, (long long)t->kv_offset[i], (long long)t->kv_len[i],
                      (long long)t->total_kv);
        return DEFT_ERR_KV_RANGE;
    }
    if (nonempty < 2) return DEFT_OK;
    deft_status st = find_overlap_scratch(t, nonempty, diag);
    if (st == DEFT_ERR_NO_MEMORY)
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "validating kv_offset: out of memory");
    return st;
}

/* Per node: the parent before it, lengths >= 0 and q_len <= kv_len; the running KV and query
 * sums fit int64; packed rows end inside total_kv. The first bad node is named. It writes
 * nothing when it accepts, so what it says of the tree holds before and after. */
/*@ requires deft_tree_readable(t) && deft_diag_apart(diag, t);
    requires fields:
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    requires diag == \null || \valid(diag);
    requires t->n_nodes >= 0 && t->total_kv >= 0;
    requires t->n_nodes > 0 ==> t->parent != \null && t->kv_len != \null && t->q_len != \null;
    assigns *diag;
    ensures \result == DEFT_OK || \result == DEFT_ERR_BAD_PARENT ||
            \result == DEFT_ERR_NEGATIVE_LEN || \result == DEFT_ERR_QLEN_GT_KVLEN ||
            \result == DEFT_ERR_OVERFLOW || \result == DEFT_ERR_KV_RANGE;
    ensures ok: \result == DEFT_OK ==> \old(deft_nodes_ok(t));
    ensures bad: \result != DEFT_OK ==> !\old(deft_nodes_ok(t));
    ensures nodes: \result == DEFT_OK ==> \old(\forall integer i; 0 <= i < t->n_nodes ==>
      deft_node_ok(t, i) && (t->kv_offset == \null ==> t->kv_len[i] <= t->total_kv));
    ensures tree: \result == DEFT_OK ==> deft_tree_readable(t) && deft_diag_apart(diag, t) &&
      t->n_nodes >= 0 && t->total_kv >= 0;
    ensures offsets: \result == DEFT_OK ==> (deft_offsets_ok(t) <==> \old(deft_offsets_ok(t)));
*/
static deft_status check_nodes(const deft_tree *t, deft_diag *diag)
{
    /* The tests below join their comparisons with | and &, not || and &&: every operand is safe
     * to evaluate, and one branch per test keeps the number of paths the proof follows small. */
    int64_t kv_sum = 0, q_sum = 0;
    /*@ loop invariant 0 <= i <= t->n_nodes;
        loop invariant nodes_before: \forall integer j; 0 <= j < i ==> deft_node_ok(t, j);
        loop invariant kv_sum == deft_sum(t->kv_len, i) && q_sum == deft_sum(t->q_len, i);
        loop invariant 0 <= kv_sum && 0 <= q_sum;
        loop invariant \forall integer j; 0 <= j <= i ==>
          0 <= deft_sum(t->kv_len, j) <= INT64_MAX && 0 <= deft_sum(t->q_len, j) <= INT64_MAX;
        loop invariant t->kv_offset == \null ==>
          \forall integer j; 0 <= j <= i ==> deft_sum(t->kv_len, j) <= t->total_kv;
        loop invariant t->kv_offset == \null ==>
          \forall integer j; 0 <= j < i ==> t->kv_len[j] <= t->total_kv;
        loop assigns i, kv_sum, q_sum;
        loop variant t->n_nodes - i; */
    for (int64_t i = 0; i < t->n_nodes; i++) {
        int64_t p = t->parent[i];
        if ((p != -1) & ((p < 0) | (p >= i))) {
            //@ assert !deft_node_ok(t, i) && !deft_nodes_ok(t);
            deft_diag_set(diag, DEFT_ERR_BAD_PARENT, i,
                          "node %lld: parent %lld is not before it (must be -1 or 0..%lld)",
                          (long long)i, (long long)p, (long long)(i - 1));
            return DEFT_ERR_BAD_PARENT;
        }
        int64_t kv = t->kv_len[i], q = t->q_len[i];
        if ((kv < 0) | (q < 0)) {
            //@ assert !deft_node_ok(t, i) && !deft_nodes_ok(t);
            deft_diag_set(diag, DEFT_ERR_NEGATIVE_LEN, i, "node %lld: %s is %lld, must be >= 0",
                          (long long)i, kv < 0 ? "kv_len" : "q_len", (long long)(kv < 0 ? kv : q));
            return DEFT_ERR_NEGATIVE_LEN;
        }
        if (q > kv) {
            //@ assert !deft_node_ok(t, i) && !deft_nodes_ok(t);
            deft_diag_set(diag, DEFT_ERR_QLEN_GT_KVLEN, i,
                          "node %lld: q_len %lld exceeds kv_len %lld", (long long)i, (long long)q,
                          (long long)kv);
            return DEFT_ERR_QLEN_GT_KVLEN;
        }
        /* both sums and both lengths are >= 0 here, so this is deft_add_overflow_i64's test */
        if ((kv > INT64_MAX - kv_sum) | (q > INT64_MAX - q_sum)) {
            /*@ assert deft_sum(t->kv_len, i + 1) > INT64_MAX ||
                  deft_sum(t->q_len, i + 1) > INT64_MAX; */
            //@ assert !deft_sums_fit(t) && !deft_nodes_ok(t);
            deft_diag_set(diag, DEFT_ERR_OVERFLOW, i,
                          "node %lld: the total KV or query count overflows int64", (long long)i);
            return DEFT_ERR_OVERFLOW;
        }
        kv_sum += kv;
        q_sum += q;
        if ((t->kv_offset == NULL) & (kv_sum > t->total_kv)) {
            //@ assert deft_sum(t->kv_len, i + 1) > t->total_kv;
            //@ assert !deft_packed_fits(t) && !deft_nodes_ok(t);
            deft_diag_set(diag, DEFT_ERR_KV_RANGE, i,
                          "node %lld: packed KV rows end at %lld, past total_kv %lld",
                          (long long)i, (long long)kv_sum, (long long)t->total_kv);
            return DEFT_ERR_KV_RANGE;
        }
    }
    return DEFT_OK;
}

/* The checks of deft_tree_validate, in order; the first failing one fills diag (status, node and
 * message) and gives the status. */
/*@ requires t == \null || (deft_tree_readable(t) && deft_diag_apart(diag, t));
    requires fields: t != \null ==>
      \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
      \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv);
    requires diag == \null || \valid(diag);
    assigns *diag, __fc_heap_status;
    ensures deft_tree_status(\result);
    ensures accepts_valid: \old(deft_tree_valid(t)) ==>
      \result == DEFT_OK || \result == DEFT_ERR_NO_MEMORY;
    ensures only_valid: \result == DEFT_OK ==> \old(deft_tree_valid(t));
    ensures shape: \result == DEFT_OK ==> \old(deft_tree_shape(t));
*/
static deft_status check_tree(const deft_tree *t, deft_diag *diag)
{
    if (!t) {
        //@ assert !deft_tree_valid(t);
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "tree is NULL");
        return DEFT_ERR_NULL;
    }
    if (t->n_nodes < 0) {
        //@ assert !deft_tree_valid(t);
        deft_diag_set(diag, DEFT_ERR_NODE_COUNT, -1, "n_nodes is %lld, must be >= 0",
                      (long long)t->n_nodes);
        return DEFT_ERR_NODE_COUNT;
    }
    /* | and & rather than || and &&, as in check_nodes */
    if ((t->n_nodes > 0) & ((t->parent == NULL) | (t->kv_len == NULL) | (t->q_len == NULL))) {
        //@ assert !deft_tree_valid(t);
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "tree.%s is NULL with %lld nodes",
                      !t->parent ? "parent" : !t->kv_len ? "kv_len" : "q_len",
                      (long long)t->n_nodes);
        return DEFT_ERR_NULL;
    }
    if (t->total_kv < 0) {
        //@ assert !deft_tree_valid(t);
        deft_diag_set(diag, DEFT_ERR_KV_RANGE, -1, "total_kv is %lld, must be >= 0",
                      (long long)t->total_kv);
        return DEFT_ERR_KV_RANGE;
    }
    deft_status st = check_nodes(t, diag);
    //@ assert st != DEFT_OK ==> !\at(deft_tree_valid(t), Pre);
    if (st != DEFT_OK) return st;
    if (t->kv_offset) {
        st = check_given_offsets(t, diag);
        //@ assert st == DEFT_OK ==> \at(deft_tree_valid(t), Pre);
        /*@ assert st == DEFT_ERR_KV_RANGE || st == DEFT_ERR_KV_OVERLAP ==>
              !\at(deft_tree_valid(t), Pre); */
        return st;
    }
    //@ assert \at(deft_tree_valid(t), Pre);
    return DEFT_OK;
}

/* Theorem: deft_tree_validate accepts exactly the trees of docs/semantics.md (deft_tree_valid;
 * proofs/frama-c/validate), and every tree it accepts is one Coq's Forest.v describes. The
 * contract is at the declaration in internal.h. */
deft_status deft_tree_validate(const deft_tree *t, deft_diag *diag)
{
    /* A rejection fills all of diag that clearing it would (status, node, message[0] on), so diag
     * is cleared only on success: the checks then read the tree exactly as the caller passed it. */
    deft_status st = check_tree(t, diag);
    if (st != DEFT_OK) return st;
    deft_diag_clear(diag);
    /* Clearing diag wrote an int64 (its node), apart from the tree: the tree reads as before. */
    /*@ assert same: t->n_nodes == \at(t->n_nodes, Pre) && t->total_kv == \at(t->total_kv, Pre); */
    /*@ assert same_parent: \forall integer i; 0 <= i < t->n_nodes ==>
          t->parent[i] == \at(t->parent[i], Pre); */
    /*@ assert same_kv_len: \forall integer i; 0 <= i < t->n_nodes ==>
          t->kv_len[i] == \at(t->kv_len[i], Pre); */
    /*@ assert same_q_len: \forall integer i; 0 <= i < t->n_nodes ==>
          t->q_len[i] == \at(t->q_len[i], Pre); */
    /*@ assert same_kv_offset: t->kv_offset != \null ==> \forall integer i;
          0 <= i < t->n_nodes ==> t->kv_offset[i] == \at(t->kv_offset[i], Pre); */
    //@ assert deft_tree_shape(t);
    return DEFT_OK;
}

/*@ requires s == \null || \valid_read(s);
    requires diag == \null || (\valid(diag) && (s == \null || \separated(diag, s)));
    assigns *diag;
    ensures ok: \result == DEFT_OK ==>
      s != \null && s->hq >= 1 && s->hkv >= 1 && s->d >= 1 && s->hq * s->d <= INT64_MAX;
*/
deft_status deft_shape_validate(const deft_shape *s, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!s) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "shape is NULL");
        return DEFT_ERR_NULL;
    }
    /*@ assert fields: \valid_read(&s->hq) && \valid_read(&s->hkv) && \valid_read(&s->d) &&
          \valid_read(&s->scale) && \valid_read(&s->dtype); */
    if (s->hq < 1 || s->hkv < 1 || s->hq % s->hkv != 0) {
        deft_diag_set(diag, DEFT_ERR_HEADS, -1,
                      "heads %lld:%lld: need Hq >= 1, Hkv >= 1 and Hq a multiple of Hkv",
                      (long long)s->hq, (long long)s->hkv);
        return DEFT_ERR_HEADS;
    }
    if (s->d < 1) {
        deft_diag_set(diag, DEFT_ERR_DIM, -1, "head dim D is %lld, must be >= 1", (long long)s->d);
        return DEFT_ERR_DIM;
    }
    if (deft_dtype_size(s->dtype) == 0) {
        deft_diag_set(diag, DEFT_ERR_DTYPE, -1, "dtype %d is not f32, f16 or bf16", (int)s->dtype);
        return DEFT_ERR_DTYPE;
    }
    if (!isfinite(s->scale)) {
        deft_diag_set(diag, DEFT_ERR_SCALE, -1, "scale is %g, must be finite", s->scale);
        return DEFT_ERR_SCALE;
    }
    int64_t row;
    if (deft_mul_overflow_i64(s->hq, s->d, &row)) {
        deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "Hq * D overflows");
        return DEFT_ERR_OVERFLOW;
    }
    return DEFT_OK;
}

/* Checks that rows x width elements of elem bytes fit in size_t, naming the tensor otherwise. */
/*@ requires diag == \null || \valid(diag);
    assigns *diag;
    ensures \result == DEFT_OK || \result == DEFT_ERR_OVERFLOW;
*/
static deft_status check_tensor_size(const char *name, int64_t rows, int64_t width, size_t elem,
                                     deft_diag *diag)
{
    size_t n;
    if (deft_mul_size(rows, width, &n) || (elem != 0 && n > SIZE_MAX / elem)) {
        deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "%s: %lld x %lld elements overflow size_t", name,
                      (long long)rows, (long long)width);
        return DEFT_ERR_OVERFLOW;
    }
    return DEFT_OK;
}

/*@ requires p == \null || (\valid_read(p) && deft_tree_readable(&p->tree) &&
                              deft_diag_apart(diag, &p->tree));
    requires diag == \null || (\valid(diag) && (p == \null || \separated(diag, p)));
    assigns *diag, __fc_heap_status;
    ensures valid: \result == DEFT_OK ==> \old(deft_tree_valid(&p->tree));
*/
deft_status deft_problem_validate(const deft_problem *p, deft_diag *diag)
{
    if (!p) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "problem is NULL");
        return DEFT_ERR_NULL;
    }
    /*@ assert fields: \valid_read(&p->tree.total_kv) && \valid_read(&p->shape.hq) &&
          \valid_read(&p->shape.hkv) && \valid_read(&p->shape.d) && \valid_read(&p->shape.dtype) &&
          \valid_read(&p->q) && \valid_read(&p->k) && \valid_read(&p->v); */
    deft_status st = deft_tree_validate(&p->tree, diag);
    if (st != DEFT_OK) return st;
    st = deft_shape_validate(&p->shape, diag);
    if (st != DEFT_OK) return st;
    /* The two validations wrote diag alone, apart from the tree: the tree reads as on entry, and
     * so do the sums over its arrays, so it is still valid. */
    /*@ ghost
      /@ assert same: p->tree.n_nodes == \at(p->tree.n_nodes, Pre) &&
           p->tree.total_kv == \at(p->tree.total_kv, Pre); @/
      /@ assert same_parent: \forall integer i; 0 <= i < p->tree.n_nodes ==>
           p->tree.parent[i] == \at(p->tree.parent[i], Pre); @/
      /@ assert same_kv_len: \forall integer i; 0 <= i < p->tree.n_nodes ==>
           p->tree.kv_len[i] == \at(p->tree.kv_len[i], Pre); @/
      /@ assert same_q_len: \forall integer i; 0 <= i < p->tree.n_nodes ==>
           p->tree.q_len[i] == \at(p->tree.q_len[i], Pre); @/
      /@ assert same_kv_offset: p->tree.kv_offset != \null ==> \forall integer i;
           0 <= i < p->tree.n_nodes ==> p->tree.kv_offset[i] == \at(p->tree.kv_offset[i], Pre); @/
      /@ loop invariant 0 <= j <= p->tree.n_nodes;
         loop invariant \forall integer k; 0 <= k <= j ==>
           deft_sum(p->tree.kv_len, k) == deft_sum{Pre}(p->tree.kv_len, k) &&
           deft_sum(p->tree.q_len, k) == deft_sum{Pre}(p->tree.q_len, k);
         loop assigns j;
         loop variant p->tree.n_nodes - j; @/
      for (int64_t j = 0; j < p->tree.n_nodes; j++);
    */
    /*@ assert nodes_same:
          (\forall integer i; 0 <= i < p->tree.n_nodes ==> deft_node_ok(&p->tree, i)) <==>
          \at(\forall integer i; 0 <= i < p->tree.n_nodes ==> deft_node_ok(&p->tree, i), Pre); */
    //@ assert fit_same: deft_sums_fit(&p->tree) <==> \at(deft_sums_fit(&p->tree), Pre);
    //@ assert packed_same: deft_packed_fits(&p->tree) <==> \at(deft_packed_fits(&p->tree), Pre);
    /*@ assert ranges_same: p->tree.kv_offset != \null ==>
          (deft_ranges_ok(&p->tree) <==> \at(deft_ranges_ok(&p->tree), Pre)); */
    /*@ assert rows_same: p->tree.kv_offset != \null ==>
          (deft_rows_disjoint(&p->tree) <==> \at(deft_rows_disjoint(&p->tree), Pre)); */
    //@ assert deft_tree_valid(&p->tree);
    int64_t total_q = deft_tree_total_q(&p->tree);
    size_t elem = deft_dtype_size(p->shape.dtype);
    int64_t qw = p->shape.hq * p->shape.d, kvw;
    if (deft_mul_overflow_i64(p->shape.hkv, p->shape.d, &kvw)) return DEFT_ERR_OVERFLOW;
    /* outputs are f32 (4 bytes), the same or wider than any input */
    if ((st = check_tensor_size("q / o", total_q, qw, elem > 4 ? elem : 4, diag)) != DEFT_OK ||
        (st = check_tensor_size("k, v", p->tree.total_kv, kvw, elem, diag)) != DEFT_OK)
        return st;
    /* | and & rather than || and &&, as in check_nodes */
    if ((total_q > 0) & (p->q == NULL)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "q is NULL with %lld queries", (long long)total_q);
        return DEFT_ERR_NULL;
    }
    if ((p->tree.total_kv > 0) & ((p->k == NULL) | (p->v == NULL))) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "%s is NULL with %lld KV rows", !p->k ? "k" : "v",
                      (long long)p->tree.total_kv);
        return DEFT_ERR_NULL;
    }
    return DEFT_OK;
}

/* Its contract is at the declaration in internal.h. */
int64_t deft_tree_total_q(const deft_tree *t)
{
    /*@ assert fields:
          \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
          \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv); */
    int64_t s = 0;
    /*@ loop invariant 0 <= i <= t->n_nodes && s == deft_sum(t->q_len, i) && 0 <= s;
        loop assigns i, s;
        loop variant t->n_nodes - i; */
    for (int64_t i = 0; i < t->n_nodes; i++) {
        //@ assert deft_sum(t->q_len, i + 1) == s + t->q_len[i] <= INT64_MAX;
        s += t->q_len[i];
    }
    return s;
}

int64_t deft_tree_kv_offset(const deft_tree *t, int64_t i)
{
    if (t->kv_offset) return t->kv_offset[i];
    int64_t off = 0;
    for (int64_t j = 0; j < i; j++) off += t->kv_len[j];
    return off;
}

/* off (n_nodes) gets each node's first KV row; every node's rows lie inside 0..total_kv-1. Its
 * contract is at the declaration in internal.h. */
void deft_tree_offsets(const deft_tree *t, int64_t *off)
{
    /*@ assert fields:
          \valid_read(&t->n_nodes) && \valid_read(&t->parent) && \valid_read(&t->kv_len) &&
          \valid_read(&t->q_len) && \valid_read(&t->kv_offset) && \valid_read(&t->total_kv); */
    int64_t n = t->n_nodes, run = 0;
    const int64_t *len = t->kv_len, *given = t->kv_offset;
    /*@ loop invariant 0 <= i <= n && run == deft_sum{Pre}(len, i) && 0 <= run;
        loop invariant \forall integer j; 0 <= j < i ==>
          0 <= off[j] && off[j] + \at(t->kv_len[j], Pre) <= \at(t->total_kv, Pre);
        loop invariant t->kv_offset == \null ==>
          \forall integer j; 0 <= j < i ==> off[j] == deft_sum{Pre}(len, j);
        loop invariant t->kv_offset != \null ==>
          \forall integer j; 0 <= j < i ==> off[j] == \at(t->kv_offset[j], Pre);
        loop invariant fits: t->kv_offset == \null ==>
          \forall integer j; 0 <= j <= n ==> deft_sum{Pre}(len, j) <= \at(t->total_kv, Pre);
        loop assigns i, run, off[0 .. n - 1];
        loop variant n - i; */
    for (int64_t i = 0; i < n; i++) {
        /*@ assert \let k = i; len[k] == \at(t->kv_len[k], Pre) &&
              (t->kv_offset != \null ==> given[k] == \at(t->kv_offset[k], Pre)); */
        //@ assert deft_sum{Pre}(len, i + 1) == run + len[i] <= INT64_MAX;
        //@ assert t->kv_offset == \null ==> run + len[i] <= \at(t->total_kv, Pre);
        off[i] = given ? given[i] : run;
        run += len[i];
    }
    /* Writing off changed no length: the sums over len are the same as on entry. */
    /*@ ghost
      /@ loop invariant 0 <= j <= n;
         loop invariant \forall integer k; 0 <= k <= j ==>
           deft_sum(len, k) == deft_sum{Pre}(len, k);
         loop assigns j;
         loop variant n - j; @/
      for (int64_t j = 0; j < n; j++);
    */
}

void deft_tree_ancestor_tokens(const deft_tree *t, int64_t *anc)
{
    for (int64_t i = 0; i < t->n_nodes; i++) {
        int64_t p = t->parent[i];
        anc[i] = p < 0 ? 0 : anc[p] + t->kv_len[p];
    }
}

void deft_tree_query_starts(const deft_tree *t, int64_t *q_start)
{
    q_start[0] = 0;
    for (int64_t i = 0; i < t->n_nodes; i++) q_start[i + 1] = q_start[i] + t->q_len[i];
}

double deft_shape_scale(const deft_shape *s)
{
    return s->scale != 0.0 ? s->scale : 1.0 / sqrt((double)s->d);
}

int64_t deft_tree_visible_pairs(const deft_tree *t)
{
    if (t->n_nodes == 0) return 0;
    int64_t *anc = malloc((size_t)t->n_nodes * sizeof *anc);
    if (!anc) return -1;
    deft_tree_ancestor_tokens(t, anc);
    int64_t pairs = 0;
    for (int64_t i = 0; i < t->n_nodes; i++) {
        /* queries at positions kv_len-q_len .. kv_len-1 see anc + position + 1 tokens */
        int64_t first = t->kv_len[i] - t->q_len[i];
        for (int64_t pos = first; pos < t->kv_len[i]; pos++) pairs += anc[i] + pos + 1;
    }
    free(anc);
    return pairs;
}
