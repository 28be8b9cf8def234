/* validate.c: the gate every public entry passes through. A forest, a shape and a problem are
 * checked against docs/semantics.md; each bad-input class gets its own status and a diagnostic
 * naming the first offending node or field. Also the small derived counts of a valid tree. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

typedef struct {
    int64_t offset, node;
} span_key;

static int span_cmp(const void *a, const void *b)
{
    const span_key *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->node < y->node ? -1 : (x->node > y->node);
}

/* Given offsets: each node's rows inside 0..total_kv-1, and no two non-empty nodes sharing a row.
 * Sorting by offset makes the overlap test linear after an n log n sort. */
static deft_status check_given_offsets(const deft_tree *t, deft_diag *diag)
{
    int64_t n = t->n_nodes, nonempty = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t off = t->kv_offset[i], end;
        if (off < 0 || deft_add_overflow_i64(off, t->kv_len[i], &end) || end > t->total_kv) {
            deft_diag_set(diag, DEFT_ERR_KV_RANGE, i,
                          "node %lld: kv_offset %lld + kv_len %lld is outside 0..total_kv (%lld)",
                          (long long)i, (long long)off, (long long)t->kv_len[i],
                          (long long)t->total_kv);
            return DEFT_ERR_KV_RANGE;
        }
        nonempty += t->kv_len[i] > 0;
    }
    if (nonempty < 2) return DEFT_OK;
    span_key *keys = malloc((size_t)nonempty * sizeof *keys);
    if (!keys) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "validating kv_offset: out of memory");
        return DEFT_ERR_NO_MEMORY;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (t->kv_len[i] > 0) keys[k++] = (span_key){t->kv_offset[i], i};
    qsort(keys, (size_t)nonempty, sizeof *keys, span_cmp);
    deft_status st = DEFT_OK;
    for (int64_t j = 1; j < nonempty; j++) {
        int64_t a = keys[j - 1].node, b = keys[j].node;
        if (t->kv_offset[a] + t->kv_len[a] > t->kv_offset[b]) {
            int64_t lo = a < b ? a : b, hi = a < b ? b : a;
            deft_diag_set(diag, DEFT_ERR_KV_OVERLAP, hi,
                          "node %lld: KV rows %lld..%lld overlap node %lld's rows %lld..%lld",
                          (long long)hi, (long long)t->kv_offset[hi],
                          (long long)(t->kv_offset[hi] + t->kv_len[hi] - 1), (long long)lo,
                          (long long)t->kv_offset[lo],
                          (long long)(t->kv_offset[lo] + t->kv_len[lo] - 1));
            st = DEFT_ERR_KV_OVERLAP;
            break;
        }
    }
    free(keys);
    return st;
}

deft_status deft_tree_validate(const deft_tree *t, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!t) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "tree is NULL");
        return DEFT_ERR_NULL;
    }
    if (t->n_nodes < 0) {
        deft_diag_set(diag, DEFT_ERR_NODE_COUNT, -1, "n_nodes is %lld, must be >= 0",
                      (long long)t->n_nodes);
        return DEFT_ERR_NODE_COUNT;
    }
    if (t->n_nodes > 0) {
        const char *missing = !t->parent ? "parent" : !t->kv_len ? "kv_len" : !t->q_len ? "q_len" : NULL;
        if (missing) {
            deft_diag_set(diag, DEFT_ERR_NULL, -1, "tree.%s is NULL with %lld nodes", missing,
                          (long long)t->n_nodes);
            return DEFT_ERR_NULL;
        }
    }
    if (t->total_kv < 0) {
        deft_diag_set(diag, DEFT_ERR_KV_RANGE, -1, "total_kv is %lld, must be >= 0",
                      (long long)t->total_kv);
        return DEFT_ERR_KV_RANGE;
    }
    int64_t kv_sum = 0, q_sum = 0;
    for (int64_t i = 0; i < t->n_nodes; i++) {
        int64_t p = t->parent[i];
        if (p != -1 && (p < 0 || p >= i)) {
            deft_diag_set(diag, DEFT_ERR_BAD_PARENT, i,
                          "node %lld: parent %lld is not before it (must be -1 or 0..%lld)",
                          (long long)i, (long long)p, (long long)(i - 1));
            return DEFT_ERR_BAD_PARENT;
        }
        if (t->kv_len[i] < 0 || t->q_len[i] < 0) {
            const char *f = t->kv_len[i] < 0 ? "kv_len" : "q_len";
            deft_diag_set(diag, DEFT_ERR_NEGATIVE_LEN, i, "node %lld: %s is %lld, must be >= 0",
                          (long long)i, f,
                          (long long)(t->kv_len[i] < 0 ? t->kv_len[i] : t->q_len[i]));
            return DEFT_ERR_NEGATIVE_LEN;
        }
        if (t->q_len[i] > t->kv_len[i]) {
            deft_diag_set(diag, DEFT_ERR_QLEN_GT_KVLEN, i,
                          "node %lld: q_len %lld exceeds kv_len %lld", (long long)i,
                          (long long)t->q_len[i], (long long)t->kv_len[i]);
            return DEFT_ERR_QLEN_GT_KVLEN;
        }
        if (deft_add_overflow_i64(kv_sum, t->kv_len[i], &kv_sum) ||
            deft_add_overflow_i64(q_sum, t->q_len[i], &q_sum)) {
            deft_diag_set(diag, DEFT_ERR_OVERFLOW, i,
                          "node %lld: the total KV or query count overflows int64", (long long)i);
            return DEFT_ERR_OVERFLOW;
        }
        if (!t->kv_offset && kv_sum > t->total_kv) {
            deft_diag_set(diag, DEFT_ERR_KV_RANGE, i,
                          "node %lld: packed KV rows end at %lld, past total_kv %lld",
                          (long long)i, (long long)kv_sum, (long long)t->total_kv);
            return DEFT_ERR_KV_RANGE;
        }
    }
    if (t->kv_offset) return check_given_offsets(t, diag);
    return DEFT_OK;
}

deft_status deft_shape_validate(const deft_shape *s, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!s) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "shape is NULL");
        return DEFT_ERR_NULL;
    }
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
static deft_status check_tensor_size(const char *name, int64_t rows, int64_t width, size_t elem,
                                     deft_diag *diag)
{
    size_t n, bytes;
    if (deft_mul_size(rows, width, &n) || __builtin_mul_overflow(n, elem, &bytes)) {
        deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "%s: %lld x %lld elements overflow size_t", name,
                      (long long)rows, (long long)width);
        return DEFT_ERR_OVERFLOW;
    }
    return DEFT_OK;
}

deft_status deft_problem_validate(const deft_problem *p, deft_diag *diag)
{
    if (!p) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "problem is NULL");
        return DEFT_ERR_NULL;
    }
    deft_status st = deft_tree_validate(&p->tree, diag);
    if (st != DEFT_OK) return st;
    st = deft_shape_validate(&p->shape, diag);
    if (st != DEFT_OK) return st;
    int64_t total_q = deft_tree_total_q(&p->tree);
    size_t elem = deft_dtype_size(p->shape.dtype);
    int64_t qw = p->shape.hq * p->shape.d, kvw;
    if (deft_mul_overflow_i64(p->shape.hkv, p->shape.d, &kvw)) return DEFT_ERR_OVERFLOW;
    /* outputs are f32 (4 bytes), the same or wider than any input */
    if ((st = check_tensor_size("q / o", total_q, qw, elem > 4 ? elem : 4, diag)) != DEFT_OK ||
        (st = check_tensor_size("k, v", p->tree.total_kv, kvw, elem, diag)) != DEFT_OK)
        return st;
    if (total_q > 0 && !p->q) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "q is NULL with %lld queries", (long long)total_q);
        return DEFT_ERR_NULL;
    }
    if (p->tree.total_kv > 0 && (!p->k || !p->v)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "%s is NULL with %lld KV rows", !p->k ? "k" : "v",
                      (long long)p->tree.total_kv);
        return DEFT_ERR_NULL;
    }
    return DEFT_OK;
}

int64_t deft_tree_total_q(const deft_tree *t)
{
    int64_t s = 0;
    for (int64_t i = 0; i < t->n_nodes; i++) s += t->q_len[i];
    return s;
}

int64_t deft_tree_kv_offset(const deft_tree *t, int64_t i)
{
    if (t->kv_offset) return t->kv_offset[i];
    int64_t off = 0;
    for (int64_t j = 0; j < i; j++) off += t->kv_len[j];
    return off;
}

void deft_tree_offsets(const deft_tree *t, int64_t *off)
{
    int64_t run = 0;
    for (int64_t i = 0; i < t->n_nodes; i++) {
        off[i] = t->kv_offset ? t->kv_offset[i] : run;
        run += t->kv_len[i];
    }
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
