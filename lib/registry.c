/* registry.c: the one table of implementations. Every path (the reference, DeFT on the CPU, the
 * sequence-based baseline, the GPU) answers the same signature, so tests, `deft` and plugins
 * treat them alike. A new variant is one file and one line here. */
#include <string.h>

#include "internal.h"
#include "../cpu/cpu.h"

/* A built-in path: its supports and run, reached through the table entry's ctx, and for the
 * DeFT paths the options it builds its plan with (NULL for paths without a plan). */
typedef struct {
    deft_status (*supports)(const deft_problem *p, deft_diag *diag);
    deft_status (*run)(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                       deft_diag *diag);
    deft_options (*plan_options)(const deft_problem *p, const deft_options *opt);
} path_fns;

static deft_status path_supports(const deft_impl *self, const deft_problem *p, deft_diag *diag)
{
    return ((const path_fns *)self->ctx)->supports(p, diag);
}

static deft_status path_run(const deft_impl *self, const deft_problem *p, const deft_options *opt,
                            float *o, float *lse, deft_diag *diag)
{
    return ((const path_fns *)self->ctx)->run(p, opt, o, lse, diag);
}

static deft_status ref_supports(const deft_problem *p, deft_diag *diag)
{
    return deft_problem_validate(p, diag);
}

static deft_status ref_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                           deft_diag *diag)
{
    (void)opt;
    return deft_ref_attention(p, o, lse, diag);
}

/* deft_gpu_run's choice: its cost model, clamped to what its shared memory holds. */
static deft_options gpu_plan_options(const deft_problem *p, const deft_options *opt)
{
    deft_options o = {0, 0, 0};
    if (opt) o = *opt;
    if (!o.chunk_tokens) o.chunk_tokens = deft_gpu_choose_chunk_tokens(&p->tree, &p->shape);
    int64_t cap = deft_gpu_max_chunk_tokens(&p->shape);
    if (cap > 0 && o.chunk_tokens > cap) o.chunk_tokens = cap;
    return o;
}

/* deft_gpu_simple_run's: the library default. */
static deft_options default_plan_options(const deft_problem *p, const deft_options *opt)
{
    (void)p;
    deft_options o = {0, 0, 0};
    if (opt) o = *opt;
    if (!o.chunk_tokens) o.chunk_tokens = DEFT_DEFAULT_CHUNK_TOKENS;
    return o;
}

static const path_fns REF = {ref_supports, ref_run, NULL};
static const path_fns CPU = {deft_cpu_supports, deft_cpu_run, deft_cpu_plan_options};
static const path_fns CPU_SEQ = {deft_cpu_seq_supports, deft_cpu_seq_run, NULL};
static const path_fns GPU = {deft_gpu_supports, deft_gpu_run, gpu_plan_options};
static const path_fns GPU_SIMPLE = {deft_gpu_simple_supports, deft_gpu_simple_run, default_plan_options};

static const deft_impl impls[] = {
    {"ref", "the definition: plain loop nest in double (ref/ref.c)", path_supports, path_run, &REF},
    {"cpu",
     "DeFT on the CPU: KV-guided grouping, flattened KV splitting, sgemm partials, LSE merge "
     "(cpu/deft_cpu.c)",
     path_supports, path_run, &CPU},
    {"cpu-seq", "sequence-based baseline: each query reads its whole path, same BLAS (cpu/seq_cpu.c)",
     path_supports, path_run, &CPU_SEQ},
    {"gpu",
     "DeFT on an NVIDIA GPU: persistent blocks, wgmma and tensor-memory copies at D = 128 on sm_90a "
     "(mma.sync and cp.async elsewhere), K/V read once per chunk and KV head (gpu/deft_gpu.cu)",
     path_supports, path_run, &GPU},
    {"gpu-simple", "DeFT on an NVIDIA GPU, version 1 for reading: one block per item, plain FMA "
     "(gpu/deft_gpu_simple.cu)", path_supports, path_run, &GPU_SIMPLE},
};

int deft_impl_count(void)
{
    return (int)(sizeof impls / sizeof impls[0]);
}

const deft_impl *deft_impl_at(int i)
{
    return i >= 0 && i < deft_impl_count() ? &impls[i] : NULL;
}

const deft_impl *deft_impl_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < deft_impl_count(); i++)
        if (!strcmp(impls[i].name, name)) return &impls[i];
    return NULL;
}

deft_status deft_impl_supports(const deft_impl *impl, const deft_problem *p, deft_diag *diag)
{
    if (!impl) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "implementation is NULL");
        return DEFT_ERR_NULL;
    }
    return impl->supports(impl, p, diag);
}

deft_status deft_impl_run(const deft_impl *impl, const deft_problem *p, const deft_options *opt,
                          float *o, float *lse, deft_diag *diag)
{
    if (!impl) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "implementation is NULL");
        return DEFT_ERR_NULL;
    }
    return impl->run(impl, p, opt, o, lse, diag);
}

deft_status deft_impl_plan_options(const deft_impl *impl, const deft_problem *p,
                                   const deft_options *opt, deft_options *out, deft_diag *diag)
{
    if (!impl || !p || !out) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "plan options: impl, problem or out is NULL");
        return DEFT_ERR_NULL;
    }
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    /* only the table's own entries carry path_fns in ctx; a plugin's ctx is its library */
    int builtin = impl >= impls && impl < impls + deft_impl_count();
    const path_fns *f = builtin ? (const path_fns *)impl->ctx : NULL;
    if (!f || !f->plan_options) {
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1, "%s builds no DeFT plan", impl->name);
        return DEFT_ERR_UNSUPPORTED;
    }
    *out = f->plan_options(p, opt);
    return DEFT_OK;
}
