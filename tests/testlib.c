/* testlib.c: the dense masked attention the reference is tested against, and small helpers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

const mutation NO_MUTATION = {0, 0, 0, 1.0, 0, 0};

size_t out_elems(const deft_problem *p)
{
    return (size_t)deft_tree_total_q(&p->tree) * (size_t)p->shape.hq * (size_t)p->shape.d;
}

size_t lse_elems(const deft_problem *p)
{
    return (size_t)deft_tree_total_q(&p->tree) * (size_t)p->shape.hq;
}

float *to_f32(const double *x, size_t n)
{
    float *f = malloc((n ? n : 1) * sizeof *f);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    return f;
}

void gen_small(deft_case *c, const char *spec, int64_t hq, int64_t hkv, int64_t d, int dtype)
{
    deft_gen_options g;
    deft_gen_options_default(&g);
    g.hq = hq;
    g.hkv = hkv;
    g.d = d;
    g.dtype = dtype;
    deft_diag diag;
    deft_status st = deft_generate(spec, &g, c, &diag);
    ck_assert_msg(st == DEFT_OK, "generate %s: %s", spec, diag.message);
}

static int is_ancestor_or_self(const deft_tree *t, int64_t a, int64_t u)
{
    for (; u >= 0; u = t->parent[u])
        if (u == a) return 1;
    return 0;
}

void dense_attention(const deft_problem *p, const mutation *m, double *o, double *lse)
{
    const deft_tree *t = &p->tree;
    int64_t n = t->n_nodes, hq = p->shape.hq, hkv = p->shape.hkv, d = p->shape.d;
    int64_t rows = t->total_kv;
    /* owner and position of every storage row; -1 for rows no node owns */
    int64_t *owner = malloc((size_t)(rows ? rows : 1) * sizeof *owner);
    int64_t *pos = malloc((size_t)(rows ? rows : 1) * sizeof *pos);
    ck_assert(owner && pos);
    for (int64_t r = 0; r < rows; r++) owner[r] = -1;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < t->kv_len[i]; j++) {
            int64_t r = deft_tree_kv_offset(t, i) + j;
            owner[r] = i;
            pos[r] = j;
        }
    double scale = deft_shape_scale(&p->shape) * m->scale_factor;
    double *s = malloc((size_t)(rows ? rows : 1) * sizeof *s);
    ck_assert_ptr_nonnull(s);
    int64_t q = 0;
    for (int64_t u = 0; u < n; u++)
        for (int64_t k = 0; k < t->q_len[u]; k++, q++) {
            int64_t qpos = t->kv_len[u] - t->q_len[u] + k;
            for (int64_t h = 0; h < hq; h++) {
                int64_t kvh = m->wrong_gqa ? h % hkv : h / (hq / hkv);
                double mx = -INFINITY, l = 0;
                int bad = 0;
                for (int64_t r = 0; r < rows; r++) {
                    int64_t a = owner[r];
                    int vis = a >= 0 && ((a == u && pos[r] <= qpos + m->causal_shift) ||
                                         (a != u && !m->drop_ancestors && is_ancestor_or_self(t, a, u)));
                    s[r] = -INFINITY;
                    if (!vis) continue;
                    double dot = 0;
                    for (int64_t x = 0; x < d; x++) {
                        double qv = deft_load_f32(p->q, p->shape.dtype, (size_t)((q * hq + h) * d + x));
                        double kv = deft_load_f32(p->k, p->shape.dtype, (size_t)((r * hkv + kvh) * d + x));
                        double vv = deft_load_f32(p->v, p->shape.dtype, (size_t)((r * hkv + kvh) * d + x));
                        bad |= !isfinite(qv) || !isfinite(kv) || !isfinite(vv);
                        dot += qv * kv;
                    }
                    s[r] = scale * dot;
                    if (s[r] > mx) mx = s[r];
                }
                double *orow = o + (q * hq + h) * d;
                for (int64_t x = 0; x < d; x++) orow[x] = 0;
                for (int64_t r = 0; r < rows; r++) {
                    if (s[r] == -INFINITY) continue;
                    double w = exp(s[r] - mx);
                    l += w;
                    if (m->round_weights && p->shape.dtype == DEFT_F16)
                        w = deft_f16_to_f32(deft_f32_to_f16((float)w));
                    else if (m->round_weights && p->shape.dtype == DEFT_BF16)
                        w = deft_bf16_to_f32(deft_f32_to_bf16((float)w));
                    for (int64_t x = 0; x < d; x++)
                        orow[x] += w * deft_load_f32(p->v, p->shape.dtype, (size_t)((r * hkv + kvh) * d + x));
                }
                for (int64_t x = 0; x < d; x++) orow[x] = bad ? NAN : orow[x] / l;
                double e = mx + log(l);
                lse[q * hq + h] = bad ? NAN : (m->lse_base2 ? e / log(2.0) : e);
            }
        }
    free(owner);
    free(pos);
    free(s);
}
