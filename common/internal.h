/* internal.h: helpers shared inside libdeft (not installed).
 * Diagnostics, overflow-checked arithmetic and tree walks used by common/, ref/, cpu/ and gpu/. */
#ifndef DEFT_INTERNAL_H
#define DEFT_INTERNAL_H

#include <stdlib.h> /* for the proofs: deft_tree_validate's contract below names the heap state */

#include "deft.h"

#if defined(__GNUC__)
#define DEFT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DEFT_PRINTF(a, b)
#endif

/* Fills d (if not NULL) with status s, node (or -1) and a printf-style message.
 * Its body (vsnprintf) is outside the proofs; this contract is trusted (docs/proofs.md). */
/*@ requires d == \null || \valid(d);
    assigns d->status, d->node, d->message[0 .. 255];
    ensures d != \null ==> d->status == s && d->node == node; */
void deft_diag_set(deft_diag *d, deft_status s, int64_t node, const char *fmt, ...) DEFT_PRINTF(4, 5);
/* Sets d (if not NULL) to DEFT_OK, node -1, empty message. */
/*@ requires d == \null || \valid(d);
    assigns d->status, d->node, d->message[0];
    ensures d != \null ==> d->status == DEFT_OK && d->node == -1; */
void deft_diag_clear(deft_diag *d);

/* deft_dtype_size (deft.h, common/dtype.c), with its contract for the proofs: 4 for f32, 2 for f16
 * and bf16, 0 for anything else. */
/*@ assigns \nothing;
    ensures t == DEFT_F32 ==> \result == 4;
    ensures t == DEFT_F16 || t == DEFT_BF16 ==> \result == 2;
    ensures t != DEFT_F32 && t != DEFT_F16 && t != DEFT_BF16 ==> \result == 0; */
size_t deft_dtype_size(deft_dtype t);

/* Return 1 on overflow (and leave *out unspecified), 0 otherwise. Checked arithmetic in plain C
 * (proofs/frama-c/validate proves the contracts below: 1 exactly when the true result does not
 * fit). */
/*@ requires \valid(out);
    assigns *out;
    behavior fits:
      assumes INT64_MIN <= a * b <= INT64_MAX;
      ensures \result == 0 && *out == a * b;
    behavior overflows:
      assumes !(INT64_MIN <= a * b <= INT64_MAX);
      assigns \nothing;
      ensures \result == 1;
    complete behaviors;
    disjoint behaviors; */
int deft_mul_overflow_i64(int64_t a, int64_t b, int64_t *out);
/*@ requires \valid(out);
    assigns *out;
    behavior fits:
      assumes INT64_MIN <= a + b <= INT64_MAX;
      ensures \result == 0 && *out == a + b;
    behavior overflows:
      assumes !(INT64_MIN <= a + b <= INT64_MAX);
      assigns \nothing;
      ensures \result == 1;
    complete behaviors;
    disjoint behaviors; */
int deft_add_overflow_i64(int64_t a, int64_t b, int64_t *out);
/* a * b as size_t; 1 on overflow or when either is negative. */
/*@ requires \valid(out);
    assigns *out;
    behavior fits:
      assumes 0 <= a && 0 <= b && a * b <= SIZE_MAX;
      ensures \result == 0 && *out == a * b;
    behavior fails:
      assumes !(0 <= a && 0 <= b && a * b <= SIZE_MAX);
      assigns \nothing;
      ensures \result == 1;
    complete behaviors;
    disjoint behaviors; */
int deft_mul_size(int64_t a, int64_t b, size_t *out);

/* ---------------------------------------------------------------------------------------------
 * The data model in ACSL, for the proofs (proofs/frama-c, docs/proofs.md). Sums take the array
 * itself, not the tree, so that writes to pointer fields leave them alone.
 */
/*@
  // An int64 array of n elements the caller can read (one that exists has n * 8 <= PTRDIFF_MAX).
  predicate deft_rd(int64_t *p, integer n) = n <= PTRDIFF_MAX / 8 && \valid_read(p + (0 .. n - 1));

  // The tree's arrays are readable wherever they are not NULL (the validator rejects a NULL
  // parent, kv_len or q_len when there are nodes; kv_offset NULL means packed).
  predicate deft_tree_readable(deft_tree *t) =
    \valid_read(t) &&
    (t->n_nodes > 0 ==>
       (t->parent == \null || deft_rd(t->parent, t->n_nodes)) &&
       (t->kv_len == \null || deft_rd(t->kv_len, t->n_nodes)) &&
       (t->q_len == \null || deft_rd(t->q_len, t->n_nodes)) &&
       (t->kv_offset == \null || deft_rd(t->kv_offset, t->n_nodes)));

  // diag (when given) is writable and shares no memory with the tree.
  predicate deft_diag_apart(deft_diag *d, deft_tree *t) =
    d == \null ||
    (\valid(d) && \separated(d, t) &&
     (t->n_nodes > 0 ==>
        (t->parent == \null || \separated(d, t->parent + (0 .. t->n_nodes - 1))) &&
        (t->kv_len == \null || \separated(d, t->kv_len + (0 .. t->n_nodes - 1))) &&
        (t->q_len == \null || \separated(d, t->q_len + (0 .. t->n_nodes - 1))) &&
        (t->kv_offset == \null || \separated(d, t->kv_offset + (0 .. t->n_nodes - 1)))));

  // Sum of a[0 .. i-1]; the number of positive entries among them.
  logic integer deft_sum{L}(int64_t *a, integer i) = i <= 0 ? 0 : deft_sum{L}(a, i - 1) + \at(a[i - 1], L);
  logic integer deft_npos{L}(int64_t *a, integer i) =
    i <= 0 ? 0 : deft_npos{L}(a, i - 1) + (\at(a[i - 1], L) > 0 ? 1 : 0);

  // docs/semantics.md, "The problem", for node i.
  predicate deft_node_ok(deft_tree *t, integer i) =
    (t->parent[i] == -1 || 0 <= t->parent[i] < i) &&
    0 <= t->kv_len[i] && 0 <= t->q_len[i] && t->q_len[i] <= t->kv_len[i];

  // Running totals of KV tokens and queries fit int64 (DEFT_ERR_OVERFLOW otherwise).
  predicate deft_sums_fit(deft_tree *t) =
    \forall integer i; 0 <= i <= t->n_nodes ==>
      deft_sum(t->kv_len, i) <= INT64_MAX && deft_sum(t->q_len, i) <= INT64_MAX;

  // Layout: packed nodes end inside total_kv; given offsets keep each node inside 0..total_kv
  // and no two non-empty nodes share a row.
  predicate deft_packed_fits(deft_tree *t) =
    \forall integer i; 0 <= i <= t->n_nodes ==> deft_sum(t->kv_len, i) <= t->total_kv;
  predicate deft_ranges_ok(deft_tree *t) =
    \forall integer i; 0 <= i < t->n_nodes ==>
      0 <= t->kv_offset[i] && t->kv_offset[i] + t->kv_len[i] <= t->total_kv;
  predicate deft_rows_disjoint(deft_tree *t) =
    \forall integer i, j; 0 <= i < t->n_nodes && 0 <= j < t->n_nodes && i != j &&
      t->kv_len[i] > 0 && t->kv_len[j] > 0 ==>
      t->kv_offset[i] + t->kv_len[i] <= t->kv_offset[j] ||
      t->kv_offset[j] + t->kv_len[j] <= t->kv_offset[i];

  // What deft_tree_validate accepts (it returns DEFT_OK exactly on these trees, barring
  // DEFT_ERR_NO_MEMORY).
  predicate deft_tree_valid(deft_tree *t) =
    t != \null && t->n_nodes >= 0 &&
    (t->n_nodes > 0 ==> t->parent != \null && t->kv_len != \null && t->q_len != \null) &&
    t->total_kv >= 0 &&
    (\forall integer i; 0 <= i < t->n_nodes ==> deft_node_ok(t, i)) &&
    deft_sums_fit(t) &&
    (t->kv_offset == \null ==> deft_packed_fits(t)) &&
    (t->kv_offset != \null ==> deft_ranges_ok(t) && deft_rows_disjoint(t));

  // m int64s at p share no memory with the tree or its arrays (scratch arrays of the callers).
  predicate deft_apart(int64_t *p, integer m, deft_tree *t) =
    \separated(p + (0 .. m - 1), t) &&
    (t->n_nodes > 0 ==>
       (t->parent == \null || \separated(p + (0 .. m - 1), t->parent + (0 .. t->n_nodes - 1))) &&
       (t->kv_len == \null || \separated(p + (0 .. m - 1), t->kv_len + (0 .. t->n_nodes - 1))) &&
       (t->q_len == \null || \separated(p + (0 .. m - 1), t->q_len + (0 .. t->n_nodes - 1))) &&
       (t->kv_offset == \null || \separated(p + (0 .. m - 1), t->kv_offset + (0 .. t->n_nodes - 1))));

  // The facts about a valid tree that need no sums: what callers rely on after validation.
  predicate deft_tree_shape(deft_tree *t) =
    t != \null && t->n_nodes >= 0 && t->total_kv >= 0 &&
    (t->n_nodes > 0 ==> t->parent != \null && t->kv_len != \null && t->q_len != \null) &&
    (\forall integer i; 0 <= i < t->n_nodes ==> deft_node_ok(t, i) && t->kv_len[i] <= t->total_kv) &&
    (t->kv_offset != \null ==> deft_ranges_ok(t) && deft_rows_disjoint(t));

  // The statuses deft_tree_validate returns (its contract, and the contracts that pass it on).
  predicate deft_tree_status(integer r) =
    r == DEFT_OK || r == DEFT_ERR_NULL || r == DEFT_ERR_NODE_COUNT || r == DEFT_ERR_BAD_PARENT ||
    r == DEFT_ERR_NEGATIVE_LEN || r == DEFT_ERR_QLEN_GT_KVLEN || r == DEFT_ERR_OVERFLOW ||
    r == DEFT_ERR_KV_RANGE || r == DEFT_ERR_KV_OVERLAP || r == DEFT_ERR_NO_MEMORY;
*/

/* deft_tree_validate (deft.h), with its contract for the proofs: proofs/frama-c/validate proves it
 * against common/validate.c; the plan builder's proof reads it here, without the validator's code. */
/*@ requires diag == \null || \valid(diag);
    requires t == \null || (deft_tree_readable(t) && deft_diag_apart(diag, t));
    assigns *diag, __fc_heap_status;
    ensures deft_tree_status(\result);
    ensures accepts_valid: \old(deft_tree_valid(t)) ==> \result == DEFT_OK || \result == DEFT_ERR_NO_MEMORY;
    ensures only_valid: \result == DEFT_OK ==> \old(deft_tree_valid(t));
    ensures shape: \result == DEFT_OK ==> deft_tree_shape(t);
*/
deft_status deft_tree_validate(const deft_tree *t, deft_diag *diag);

/* The following take a validated tree (their contracts: proved the same way). */
/* deft_tree_total_q (deft.h): the sum of q_len. */
/*@ requires deft_tree_readable(t) && deft_tree_valid(t);
    assigns \nothing;
    ensures \result == deft_sum(t->q_len, t->n_nodes) && 0 <= \result; */
int64_t deft_tree_total_q(const deft_tree *t);
/* q_start (n_nodes + 1): index of node i's first query; q_start[n_nodes] = total_q. */
void deft_tree_query_starts(const deft_tree *t, int64_t *q_start);
/* off (n_nodes): node i's first KV row, packed or given; every node's rows inside 0..total_kv-1. */
/*@ requires deft_tree_readable(t) && deft_tree_valid(t);
    requires \valid(off + (0 .. t->n_nodes - 1)) && deft_apart(off, t->n_nodes, t);
    assigns off[0 .. t->n_nodes - 1];
    ensures inside: \forall integer i; 0 <= i < t->n_nodes ==>
      0 <= off[i] && off[i] + t->kv_len[i] <= t->total_kv;
    ensures packed: t->kv_offset == \null ==>
      \forall integer i; 0 <= i < t->n_nodes ==> off[i] == deft_sum(t->kv_len, i);
    ensures given: t->kv_offset != \null ==>
      \forall integer i; 0 <= i < t->n_nodes ==> off[i] == t->kv_offset[i]; */
void deft_tree_offsets(const deft_tree *t, int64_t *off);
/* anc (n_nodes): KV tokens in node i's proper ancestors. */
void deft_tree_ancestor_tokens(const deft_tree *t, int64_t *anc);

#endif
