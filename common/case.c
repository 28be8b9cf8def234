/* case.c: a problem that owns its memory, and its directory form (tree.txt + q/k/v .npy, with
 * out.npy and lse.npy when an answer is stored; docs/formats.md). What generators fill, tests and
 * benchmarks load, and the command-line tool writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "deft.h"
#include "internal.h"

void deft_case_free(deft_case *c)
{
    if (!c) return;
    free(c->parent);
    free(c->kv_len);
    free(c->q_len);
    free(c->kv_offset);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->out);
    free(c->lse);
    memset(c, 0, sizeof *c);
}

/* calloc of n int64 (at least one, so a 0-node tree still has non-NULL arrays). */
static int64_t *case_ints(int64_t n)
{
    return calloc(n > 0 ? (size_t)n : 1, sizeof(int64_t));
}

deft_status deft_case_init(deft_case *c, int64_t n_nodes, int with_offsets, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!c) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "case is NULL");
        return DEFT_ERR_NULL;
    }
    memset(c, 0, sizeof *c);
    size_t bytes;
    if (n_nodes < 0) {
        deft_diag_set(diag, DEFT_ERR_NODE_COUNT, -1, "n_nodes is %lld, must be >= 0",
                      (long long)n_nodes);
        return DEFT_ERR_NODE_COUNT;
    }
    if (deft_mul_size(n_nodes, (int64_t)sizeof(int64_t), &bytes)) {
        deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "%lld nodes overflow size_t", (long long)n_nodes);
        return DEFT_ERR_OVERFLOW;
    }
    c->parent = case_ints(n_nodes);
    c->kv_len = case_ints(n_nodes);
    c->q_len = case_ints(n_nodes);
    if (with_offsets) c->kv_offset = case_ints(n_nodes);
    if (!c->parent || !c->kv_len || !c->q_len || (with_offsets && !c->kv_offset)) {
        deft_case_free(c);
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "case: cannot allocate %lld nodes",
                      (long long)n_nodes);
        return DEFT_ERR_NO_MEMORY;
    }
    deft_tree *t = &c->problem.tree;
    t->n_nodes = n_nodes;
    t->parent = c->parent;
    t->kv_len = c->kv_len;
    t->q_len = c->q_len;
    t->kv_offset = c->kv_offset;
    return DEFT_OK;
}

/* The .npy descr that stores dtype t (bf16 as its raw bits: NumPy has no bfloat16). */
static const char *case_descr(deft_dtype t)
{
    switch (t) {
    case DEFT_F32: return "<f4";
    case DEFT_F16: return "<f2";
    case DEFT_BF16: return "<u2";
    }
    return NULL;
}

/* The tensor shapes of a validated problem: q and out (total_q, hq, d), k and v
 * (total_kv, hkv, d), lse (total_q, hq). */
typedef struct case_dims {
    int64_t q[3], kv[3], lse[2];
} case_dims;

static case_dims case_dims_of(const deft_problem *p)
{
    int64_t total_q = deft_tree_total_q(&p->tree);
    case_dims s = {{total_q, p->shape.hq, p->shape.d},
                   {p->tree.total_kv, p->shape.hkv, p->shape.d},
                   {total_q, p->shape.hq}};
    return s;
}

/* Bytes of a (a, b, c) tensor of elem-byte elements, or 1 on overflow. */
static int case_bytes(const int64_t *dims, size_t elem, size_t *bytes)
{
    size_t ab, abc;
    if (deft_mul_size(dims[0], dims[1], &ab) || ab > (size_t)INT64_MAX ||
        deft_mul_size((int64_t)ab, dims[2], &abc))
        return 1;
    if (abc > SIZE_MAX / elem) return 1;
    *bytes = abc * elem;
    return 0;
}

deft_status deft_case_alloc_data(deft_case *c, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!c) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "case is NULL");
        return DEFT_ERR_NULL;
    }
    deft_status st = deft_tree_validate(&c->problem.tree, diag);
    if (st == DEFT_OK) st = deft_shape_validate(&c->problem.shape, diag);
    if (st != DEFT_OK) return st;
    case_dims s = case_dims_of(&c->problem);
    size_t elem = deft_dtype_size(c->problem.shape.dtype), qb, kvb;
    if (case_bytes(s.q, elem, &qb) || case_bytes(s.kv, elem, &kvb)) {
        deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "case: q, k or v overflows size_t");
        return DEFT_ERR_OVERFLOW;
    }
    free(c->q);
    free(c->k);
    free(c->v);
    /* zero-element tensors get one byte so the pointers are non-NULL */
    c->q = calloc(qb ? qb : 1, 1);
    c->k = calloc(kvb ? kvb : 1, 1);
    c->v = calloc(kvb ? kvb : 1, 1);
    c->problem.q = c->q;
    c->problem.k = c->k;
    c->problem.v = c->v;
    if (!c->q || !c->k || !c->v) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "case: cannot allocate q, k, v (%zu + 2 x %zu bytes)",
                      qb, kvb);
        return DEFT_ERR_NO_MEMORY;
    }
    return DEFT_OK;
}

/* dir + "/" + name, malloc'd; NULL when out of memory. */
static char *case_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Reads dir/name, which must hold exactly descr and shape, into *data. */
static deft_status case_read_tensor(const char *dir, const char *name, const char *descr, int ndim,
                                    const int64_t *shape, void **data, deft_diag *diag)
{
    char *path = case_path(dir, name);
    if (!path) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "%s/%s: out of memory", dir, name);
        return DEFT_ERR_NO_MEMORY;
    }
    deft_status st = deft_npy_read_expect(path, descr, ndim, shape, data, diag);
    free(path);
    return st;
}

/* An optional tensor: absent (ENOENT) is fine and leaves *data NULL; anything else is read. */
static deft_status case_read_optional(const char *dir, const char *name, int ndim,
                                      const int64_t *shape, float **data, deft_diag *diag)
{
    char *path = case_path(dir, name);
    if (!path) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "%s/%s: out of memory", dir, name);
        return DEFT_ERR_NO_MEMORY;
    }
    struct stat sb;
    int absent = stat(path, &sb) != 0 && errno == ENOENT;
    free(path);
    if (absent) return DEFT_OK;
    void *p = NULL;
    deft_status st = case_read_tensor(dir, name, "<f4", ndim, shape, &p, diag);
    *data = p;
    return st;
}

static deft_status case_read_all(const char *dir, deft_case *c, deft_diag *diag)
{
    char *tree = case_path(dir, "tree.txt");
    if (!tree) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "%s: out of memory", dir);
        return DEFT_ERR_NO_MEMORY;
    }
    deft_status st = deft_tree_file_read(tree, c, diag);
    free(tree);
    if (st != DEFT_OK) return st;
    case_dims s = case_dims_of(&c->problem);
    const char *descr = case_descr(c->problem.shape.dtype);
    if ((st = case_read_tensor(dir, "q.npy", descr, 3, s.q, &c->q, diag)) != DEFT_OK ||
        (st = case_read_tensor(dir, "k.npy", descr, 3, s.kv, &c->k, diag)) != DEFT_OK ||
        (st = case_read_tensor(dir, "v.npy", descr, 3, s.kv, &c->v, diag)) != DEFT_OK ||
        (st = case_read_optional(dir, "out.npy", 3, s.q, &c->out, diag)) != DEFT_OK ||
        (st = case_read_optional(dir, "lse.npy", 2, s.lse, &c->lse, diag)) != DEFT_OK)
        return st;
    c->problem.q = c->q;
    c->problem.k = c->k;
    c->problem.v = c->v;
    return deft_problem_validate(&c->problem, diag);
}

deft_status deft_case_read(const char *dir, deft_case *c, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (c) memset(c, 0, sizeof *c);
    if (!dir || !c) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "case dir or case is NULL");
        return DEFT_ERR_NULL;
    }
    deft_status st = case_read_all(dir, c, diag);
    if (st != DEFT_OK) deft_case_free(c);
    return st;
}

/* Writes dir/name when data is non-NULL; otherwise removes a stale dir/name, so the directory
 * never pairs new inputs with an old answer. */
static deft_status case_write_optional(const char *dir, const char *name, int ndim,
                                       const int64_t *shape, const float *data, deft_diag *diag);

static deft_status case_write_tensor(const char *dir, const char *name, const char *descr, int ndim,
                                     const int64_t *shape, const void *data, deft_diag *diag)
{
    char *path = case_path(dir, name);
    if (!path) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "%s/%s: out of memory", dir, name);
        return DEFT_ERR_NO_MEMORY;
    }
    deft_status st = deft_npy_write(path, descr, ndim, shape, data, diag);
    free(path);
    return st;
}

static deft_status case_write_optional(const char *dir, const char *name, int ndim,
                                       const int64_t *shape, const float *data, deft_diag *diag)
{
    if (data) return case_write_tensor(dir, name, "<f4", ndim, shape, data, diag);
    char *path = case_path(dir, name);
    if (!path) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "%s/%s: out of memory", dir, name);
        return DEFT_ERR_NO_MEMORY;
    }
    deft_status st = DEFT_OK;
    if (remove(path) != 0 && errno != ENOENT) {
        deft_diag_set(diag, DEFT_ERR_IO, -1, "%s: cannot remove the stale file: %s", path,
                      strerror(errno));
        st = DEFT_ERR_IO;
    }
    free(path);
    return st;
}

deft_status deft_case_write(const char *dir, const deft_case *c, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!dir || !c) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "case dir or case is NULL");
        return DEFT_ERR_NULL;
    }
    const deft_problem *p = &c->problem;
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    if (!memchr(c->workload, '\0', sizeof c->workload)) {
        deft_diag_set(diag, DEFT_ERR_ARG, -1, "case: workload is not NUL-terminated");
        return DEFT_ERR_ARG;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        deft_diag_set(diag, DEFT_ERR_IO, -1, "%s: cannot create directory: %s", dir,
                      strerror(errno));
        return DEFT_ERR_IO;
    }
    char *tree = case_path(dir, "tree.txt");
    if (!tree) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "%s: out of memory", dir);
        return DEFT_ERR_NO_MEMORY;
    }
    st = deft_tree_file_write(tree, p, c->workload, diag);
    free(tree);
    case_dims s = case_dims_of(p);
    const char *descr = case_descr(p->shape.dtype);
    if (st == DEFT_OK) st = case_write_tensor(dir, "q.npy", descr, 3, s.q, p->q, diag);
    if (st == DEFT_OK) st = case_write_tensor(dir, "k.npy", descr, 3, s.kv, p->k, diag);
    if (st == DEFT_OK) st = case_write_tensor(dir, "v.npy", descr, 3, s.kv, p->v, diag);
    if (st == DEFT_OK) st = case_write_optional(dir, "out.npy", 3, s.q, c->out, diag);
    if (st == DEFT_OK) st = case_write_optional(dir, "lse.npy", 2, s.lse, c->lse, diag);
    return st;
}
