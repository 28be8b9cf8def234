/* internal.h: helpers shared inside libdeft (not installed).
 * Diagnostics, overflow-checked arithmetic and tree walks used by common/, ref/, cpu/ and gpu/. */
#ifndef DEFT_INTERNAL_H
#define DEFT_INTERNAL_H

#include "deft.h"

#if defined(__GNUC__)
#define DEFT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DEFT_PRINTF(a, b)
#endif

/* Fills d (if not NULL) with status s, node (or -1) and a printf-style message. */
void deft_diag_set(deft_diag *d, deft_status s, int64_t node, const char *fmt, ...) DEFT_PRINTF(4, 5);
/* Sets d (if not NULL) to DEFT_OK, node -1, empty message. */
void deft_diag_clear(deft_diag *d);

/* Return 1 on overflow (and leave *out unspecified), 0 otherwise. */
int deft_mul_overflow_i64(int64_t a, int64_t b, int64_t *out);
int deft_add_overflow_i64(int64_t a, int64_t b, int64_t *out);
/* a * b as size_t; 1 on overflow or when either is negative. */
int deft_mul_size(int64_t a, int64_t b, size_t *out);

/* The following take a validated tree. */
/* q_start (n_nodes + 1): index of node i's first query; q_start[n_nodes] = total_q. */
void deft_tree_query_starts(const deft_tree *t, int64_t *q_start);
/* off (n_nodes): node i's first KV row, packed or given. */
void deft_tree_offsets(const deft_tree *t, int64_t *off);
/* anc (n_nodes): KV tokens in node i's proper ancestors. */
void deft_tree_ancestor_tokens(const deft_tree *t, int64_t *anc);

#endif
