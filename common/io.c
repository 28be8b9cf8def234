/* io.c: the IO accounting of the DeFT paper's analysis, for any problem: bytes of KV, Q, partial
 * results, mask and outputs that DeFT (this plan), sequence-based attention and tree-mask
 * attention read and write (docs/io-analysis.md gives the formulas). */
#include <stdlib.h>

#include "internal.h"

double deft_io_total(const deft_io_row *r)
{
    return r->kv_read + r->q_read + r->partial_write + r->partial_read + r->mask_read + r->out_write;
}

deft_status deft_io_account(const deft_tree *t, const deft_shape *s, const deft_plan *plan,
                            deft_io *io, deft_diag *diag)
{
    deft_status st = deft_tree_validate(t, diag);
    if (st == DEFT_OK) st = deft_shape_validate(s, diag);
    if (st != DEFT_OK) return st;
    if (!plan || !io) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "io: plan or io is NULL");
        return DEFT_ERR_NULL;
    }
    double e = (double)deft_dtype_size(s->dtype), hq = (double)s->hq, hkv = (double)s->hkv;
    double d = (double)s->d, tq = (double)deft_tree_total_q(t), tokens = 0;
    for (int64_t i = 0; i < t->n_nodes; i++) tokens += (double)t->kv_len[i];
    double kv_token = 2.0 * hkv * d * e;       /* K and V of one token, all KV heads */
    double out = tq * hq * (d + 1.0) * 4.0;    /* O and LSE in float32 */
    double visible = (double)deft_tree_visible_pairs(t);
    io->visible_pairs = visible * hq;

    /* DeFT: every chunk's K/V once (per KV head, for all its queries and query heads), each
     * query's Q once per chunk it reads, one partial (O and LSE) per pair written then read. */
    deft_io_row *r = &io->deft;
    double chunk_tokens = 0;
    for (int32_t c = 0; c < plan->n_chunks; c++) chunk_tokens += plan->chunk_len[c];
    r->kv_read = chunk_tokens * kv_token;
    r->q_read = (double)plan->n_pairs * hq * d * e;
    r->partial_write = r->partial_read = (double)plan->n_pairs * hq * (d + 1.0) * 4.0;
    r->mask_read = 0;
    r->out_write = out;

    /* Sequence-based: each query reads every token of its path once per KV head. */
    r = &io->seq;
    r->kv_read = visible * kv_token;
    r->q_read = tq * hq * d * e;
    r->partial_write = r->partial_read = r->mask_read = 0;
    r->out_write = out;

    /* Tree mask: blocks of DEFT_IO_MASK_BLOCK queries each read the whole tree's K/V, plus one
     * byte of mask per (query, token). */
    r = &io->mask;
    double blocks = tq > 0 ? (double)((deft_tree_total_q(t) + DEFT_IO_MASK_BLOCK - 1) / DEFT_IO_MASK_BLOCK) : 0;
    r->kv_read = blocks * tokens * kv_token;
    r->q_read = tq * hq * d * e;
    r->partial_write = r->partial_read = 0;
    r->mask_read = tq * tokens;
    r->out_write = out;
    return DEFT_OK;
}
