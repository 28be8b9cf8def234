/* registry.c: the one table of implementations. Every path (the reference, DeFT on the CPU, the
 * sequence-based baseline, the GPU) answers the same signature, so tests, `deft` and plugins
 * treat them alike. A new variant is one file and one line here. */
#include <string.h>

#include "internal.h"
#include "../cpu/cpu.h"

static deft_status supports_any(const deft_problem *p, deft_diag *diag)
{
    return deft_problem_validate(p, diag);
}

static deft_status ref_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                           deft_diag *diag)
{
    (void)opt;
    return deft_ref_attention(p, o, lse, diag);
}

static const deft_impl impls[] = {
    {"ref", "the definition: plain loop nest in double (ref/ref.c)", supports_any, ref_run},
    {"cpu",
     "DeFT on the CPU: KV-guided grouping, flattened KV splitting, sgemm partials, LSE merge "
     "(cpu/deft_cpu.c)",
     deft_cpu_supports, deft_cpu_run},
    {"cpu-seq",
     "sequence-based baseline: each query reads its whole path, same BLAS (cpu/seq_cpu.c)",
     deft_cpu_seq_supports, deft_cpu_seq_run},
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
