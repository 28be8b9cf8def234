/* plugins.c: the project's own paths exported through the plugin ABI (deft_plugin_ref,
 * deft_plugin_cpu, deft_plugin_cpu_seq, deft_plugin_gpu and deft_plugin_gpu_simple in libdeft.so),
 * so a test or a fuzzer that drives plugins drives ours the same way:
 * `deft check --plugin build/libdeft.so:deft_plugin_cpu`. */
#include <stdio.h>

#include "internal.h"

static int run_named(const char *name, const deft_problem *p, float *o, float *lse, char *why,
                     size_t why_len)
{
    deft_diag d;
    const deft_impl *impl = deft_impl_find(name);
    deft_status st = impl ? deft_impl_run(impl, p, NULL, o, lse, &d) : DEFT_ERR_ARG;
    if (st != DEFT_OK) snprintf(why, why_len, "%s: %s", deft_status_name(st), impl ? d.message : name);
    return st != DEFT_OK;
}

static int supports_named(const char *name, const deft_problem *p, char *why, size_t why_len)
{
    deft_diag d;
    const deft_impl *impl = deft_impl_find(name);
    deft_status st = impl ? deft_impl_supports(impl, p, &d) : DEFT_ERR_ARG;
    if (st != DEFT_OK) snprintf(why, why_len, "%s: %s", deft_status_name(st), impl ? d.message : name);
    return st != DEFT_OK;
}

#define EXPORT(sym, name)                                                                        \
    static int sym##_run(const deft_problem *p, float *o, float *lse, char *why, size_t n)       \
    {                                                                                            \
        return run_named(name, p, o, lse, why, n);                                               \
    }                                                                                            \
    static int sym##_supports(const deft_problem *p, char *why, size_t n)                        \
    {                                                                                            \
        return supports_named(name, p, why, n);                                                  \
    }                                                                                            \
    const deft_plugin_v1 sym = {DEFT_PLUGIN_ABI_VERSION, sizeof(deft_plugin_v1), name,           \
                                sym##_supports, sym##_run};

EXPORT(deft_plugin_ref, "ref")
EXPORT(deft_plugin_cpu, "cpu")
EXPORT(deft_plugin_cpu_seq, "cpu-seq")
EXPORT(deft_plugin_gpu, "gpu")
EXPORT(deft_plugin_gpu_simple, "gpu-simple")
