/* stub.c: the GPU entry points of a libdeft built with NO_CUDA=1 (no nvcc). Each validates its
 * input like the real one, then answers DEFT_ERR_DEVICE, so callers and tests see a clean "no
 * device" instead of a missing symbol. gpu_common.c's host arithmetic is built either way. */
#include "gpu.h"
#include "internal.h"

static deft_status no_cuda(deft_diag *diag)
{
    deft_diag_set(diag, DEFT_ERR_DEVICE, -1, "no CUDA device: libdeft was built with NO_CUDA=1");
    return DEFT_ERR_DEVICE;
}

deft_status deft_gpu_device_check(char *name, size_t len, deft_diag *diag)
{
    if (name && len) name[0] = '\0';
    return no_cuda(diag);
}

static deft_status validate_then_fail(const deft_problem *p, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    return st != DEFT_OK ? st : no_cuda(diag);
}

deft_status deft_gpu_supports(const deft_problem *p, deft_diag *diag)
{
    return validate_then_fail(p, diag);
}

deft_status deft_gpu_simple_supports(const deft_problem *p, deft_diag *diag)
{
    return validate_then_fail(p, diag);
}

deft_status deft_gpu_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                         deft_diag *diag)
{
    (void)opt, (void)o, (void)lse;
    return validate_then_fail(p, diag);
}

deft_status deft_gpu_simple_run(const deft_problem *p, const deft_options *opt, float *o,
                                float *lse, deft_diag *diag)
{
    (void)opt, (void)o, (void)lse;
    return validate_then_fail(p, diag);
}

deft_status deft_gpu_run_device(const deft_problem *p, const deft_plan *plan,
                                const void *plan_words_dev, void *workspace,
                                size_t workspace_bytes, float *o_dev, float *lse_dev,
                                void *cuda_stream, deft_diag *diag)
{
    (void)plan, (void)plan_words_dev, (void)workspace, (void)workspace_bytes, (void)o_dev;
    (void)lse_dev, (void)cuda_stream;
    return validate_then_fail(p, diag);
}

deft_status deft_gpu_simple_run_device(const deft_problem *p, const deft_plan *plan,
                                       const void *plan_words_dev, void *workspace,
                                       size_t workspace_bytes, float *o_dev, float *lse_dev,
                                       void *cuda_stream, deft_diag *diag)
{
    return deft_gpu_run_device(p, plan, plan_words_dev, workspace, workspace_bytes, o_dev, lse_dev,
                               cuda_stream, diag);
}
