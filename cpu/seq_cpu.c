/* seq_cpu.c: the sequence-based baseline the DeFT paper compares against (Flash-Decoding style:
 * each query is a sequence of its own). Every (query, KV head) item reads the query's whole
 * root-to-node path, so a prefix shared by many queries is read once per query. Same BLAS, same
 * softmax and widening as deft_cpu.c, so the two differ in memory traffic and sgemm shape only.
 *
 * For an item: Q is the query's G = hq/hkv heads (G x d); per node on the path, root first (its
 * own node up to the query's position), S[:, span] = scale Q K_span^T by sgemm; a softmax over
 * the whole path; then O = sum over spans P[:, span] V_span, by sgemm with beta = 1 after the
 * first span. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

typedef struct {
    int64_t start, len; /* KV rows start .. start + len - 1 */
} span;

/* Per-query and per-node facts, computed once. */
typedef struct {
    const deft_problem *p;
    int64_t hq, hkv, d, g;
    float scale;
    int64_t *q_node, *q_pos; /* (total_q) */
    int64_t *off;            /* (n_nodes) first KV row */
    int64_t max_depth;       /* most nodes on a root-to-node path */
    int64_t max_visible;     /* most tokens a query sees */
} seq_job;

typedef struct {
    span *spans; /* (max_depth) */
    float *q;    /* (g, d) widened queries; f16 / bf16 only */
    float *s;    /* (g, max_visible) scores, then probabilities */
    float *m, *l; /* (g) row max and row sum */
    float *k, *v; /* (max_visible, d) the path's widened K and V; f16 / bf16 only */
} seq_scratch;

static void seq_job_free(seq_job *j)
{
    free(j->q_node), free(j->q_pos), free(j->off);
    j->q_node = j->q_pos = j->off = NULL;
}

static int seq_job_init(seq_job *j, const deft_problem *p)
{
    const deft_tree *t = &p->tree;
    int64_t n = t->n_nodes, tq = deft_tree_total_q(t);
    memset(j, 0, sizeof *j);
    j->p = p;
    j->hq = p->shape.hq, j->hkv = p->shape.hkv, j->d = p->shape.d, j->g = j->hq / j->hkv;
    j->scale = (float)deft_shape_scale(&p->shape);
    j->q_node = malloc((size_t)(tq ? tq : 1) * sizeof(int64_t));
    j->q_pos = malloc((size_t)(tq ? tq : 1) * sizeof(int64_t));
    j->off = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t *depth = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t *anc = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!j->q_node || !j->q_pos || !j->off || !depth || !anc) {
        free(depth), free(anc);
        seq_job_free(j);
        return 0;
    }
    deft_tree_offsets(t, j->off);
    deft_tree_ancestor_tokens(t, anc);
    j->max_depth = 1, j->max_visible = 1;
    for (int64_t i = 0, q = 0; i < n; i++) {
        int64_t par = t->parent[i];
        depth[i] = par < 0 ? 1 : depth[par] + 1;
        if (depth[i] > j->max_depth) j->max_depth = depth[i];
        if (t->q_len[i] > 0 && anc[i] + t->kv_len[i] > j->max_visible)
            j->max_visible = anc[i] + t->kv_len[i];
        for (int64_t k = 0; k < t->q_len[i]; k++, q++) {
            j->q_node[q] = i;
            j->q_pos[q] = t->kv_len[i] - t->q_len[i] + k;
        }
    }
    free(depth), free(anc);
    return 1;
}

static void seq_scratch_free(seq_scratch *s)
{
    free(s->spans), free(s->q), free(s->s), free(s->m), free(s->l), free(s->k), free(s->v);
    memset(s, 0, sizeof *s);
}

static int seq_scratch_alloc(seq_scratch *s, const seq_job *j)
{
    size_t vis = (size_t)j->max_visible, d = (size_t)j->d, g = (size_t)j->g;
    memset(s, 0, sizeof *s);
    s->spans = malloc((size_t)j->max_depth * sizeof *s->spans);
    s->s = malloc(g * vis * sizeof(float));
    s->m = malloc(g * sizeof(float));
    s->l = malloc(g * sizeof(float));
    int ok = s->spans && s->s && s->m && s->l;
    if (j->p->shape.dtype != DEFT_F32) {
        s->q = malloc(g * d * sizeof(float));
        s->k = malloc(vis * d * sizeof(float));
        s->v = malloc(vis * d * sizeof(float));
        ok = ok && s->q && s->k && s->v;
    }
    if (!ok) seq_scratch_free(s);
    return ok;
}

/* Query q's visible rows, root first: each non-empty ancestor whole, then its own node's rows
 * 0..pos. Returns the span count; *total gets the token count. */
static int64_t path_spans(const seq_job *j, int64_t q, span *sp, int64_t *total)
{
    const deft_tree *t = &j->p->tree;
    int64_t u = j->q_node[q], n = 0, sum = 0;
    for (int64_t a = t->parent[u]; a >= 0; a = t->parent[a])
        if (t->kv_len[a] > 0) sp[n++] = (span){j->off[a], t->kv_len[a]};
    for (int64_t i = 0, k = n - 1; i < k; i++, k--) {
        span x = sp[i];
        sp[i] = sp[k];
        sp[k] = x;
    }
    sp[n++] = (span){j->off[u], j->q_pos[q] + 1};
    for (int64_t i = 0; i < n; i++) sum += sp[i].len;
    *total = sum;
    return n;
}

/* One item: query q against KV head g; writes its G rows of o and lse. */
static void seq_item(const seq_job *j, seq_scratch *sc, int64_t q, int64_t g, float *o, float *lse)
{
    const deft_problem *p = j->p;
    int64_t G = j->g, d = j->d, hq = j->hq, hkv = j->hkv, n;
    int64_t ns = path_spans(j, q, sc->spans, &n);
    size_t q_first = (size_t)((q * hq + g * G) * d);
    int f32 = p->shape.dtype == DEFT_F32;
    const float *qp = sc->q;
    if (f32) {
        qp = (const float *)p->q + q_first;
    } else {
        deft_cpu_widen(p->q, p->shape.dtype, q_first, (size_t)d, 1, G * d, sc->q);
        qp = sc->q;
        for (int64_t s = 0, col = 0; s < ns; col += sc->spans[s].len, s++) {
            size_t first = (size_t)((sc->spans[s].start * hkv + g) * d);
            deft_cpu_widen(p->k, p->shape.dtype, first, (size_t)(hkv * d), sc->spans[s].len, d,
                           sc->k + col * d);
            deft_cpu_widen(p->v, p->shape.dtype, first, (size_t)(hkv * d), sc->spans[s].len, d,
                           sc->v + col * d);
        }
    }
    /* K and V of span s: strided rows of the input (f32), or the widened copy */
    int64_t ld = f32 ? hkv * d : d;
    for (int64_t s = 0, col = 0; s < ns; col += sc->spans[s].len, s++) {
        const float *kp = f32 ? (const float *)p->k + (size_t)((sc->spans[s].start * hkv + g) * d)
                              : sc->k + col * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)G, (int)sc->spans[s].len, (int)d,
                    j->scale, qp, (int)d, kp, (int)ld, 0.0f, sc->s + col, (int)n);
    }
    for (int64_t i = 0; i < G; i++) sc->l[i] = deft_cpu_softmax_row(sc->s + i * n, n, &sc->m[i]);
    float *out = o + q_first; /* the item's G rows of o are adjacent */
    for (int64_t s = 0, col = 0; s < ns; col += sc->spans[s].len, s++) {
        const float *vp = f32 ? (const float *)p->v + (size_t)((sc->spans[s].start * hkv + g) * d)
                              : sc->v + col * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)G, (int)d,
                    (int)sc->spans[s].len, 1.0f, sc->s + col, (int)n, vp, (int)ld,
                    s ? 1.0f : 0.0f, out, (int)d);
    }
    for (int64_t i = 0; i < G; i++) {
        for (int64_t x = 0; x < d; x++) out[i * d + x] /= sc->l[i];
        lse[q * hq + g * G + i] = sc->m[i] + logf(sc->l[i]);
    }
}

deft_status deft_cpu_seq_supports(const deft_problem *p, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    return st != DEFT_OK ? st : deft_cpu_blas_fits(p, "cpu-seq", diag);
}

deft_status deft_cpu_seq_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                             deft_diag *diag)
{
    deft_status st = deft_cpu_seq_supports(p, diag);
    if (st != DEFT_OK) return st;
    int64_t tq = deft_tree_total_q(&p->tree);
    if (tq > 0 && (!o || !lse)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "cpu-seq: output o or lse is NULL");
        return DEFT_ERR_NULL;
    }
    if (tq == 0) {
        deft_diag_clear(diag);
        return DEFT_OK;
    }
    seq_job j;
    if (!seq_job_init(&j, p)) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "cpu-seq: out of memory for the query index");
        return DEFT_ERR_NO_MEMORY;
    }
    int nt = deft_cpu_threads(opt), oom = 0;
    int64_t items = tq * j.hkv;
#pragma omp parallel num_threads(nt) reduction(| : oom)
    {
        omp_set_num_threads(1); /* this task only: OpenBLAS stays single-threaded (deft_cpu.c) */
        seq_scratch sc;
        oom = !seq_scratch_alloc(&sc, &j);
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < items; i++)
            if (!oom) seq_item(&j, &sc, i / j.hkv, i % j.hkv, o, lse);
        seq_scratch_free(&sc);
    }
    seq_job_free(&j);
    if (oom) {
        deft_diag_set(diag, DEFT_ERR_NO_MEMORY, -1, "cpu-seq: out of memory for scratch");
        return DEFT_ERR_NO_MEMORY;
    }
    deft_diag_clear(diag);
    return DEFT_OK;
}
