/* gpu.h: the GPU paths of DeFT (CUDA, sm_90), phases 2 and 3 on the device: partial attention per
 * (chunk, KV head) of the plan of common/plan.c, then a fixed-order LSE merge per query. C99 with C
 * linkage, so the lead can move these declarations into deft.h as they are. Two versions:
 *   "gpu-simple"  version 1 (gpu/deft_gpu_simple.cu): one block per (chunk, KV head), plain FMA;
 *                 any dtype, any D up to DEFT_GPU_SIMPLE_MAX_D.
 *   "gpu"         version 2 (gpu/deft_gpu.cu): mma.sync tensor cores, cp.async, the chunk's K/V
 *                 read once into shared memory for all its queries and all G query heads;
 *                 f16 and bf16, D = 64, 128 or 256.
 * Both write the same f32 partials and share the reduction kernel (gpu/gpu_host.cu).
 * Every CUDA error becomes DEFT_ERR_DEVICE with cudaGetErrorString in the diagnostic. */
#ifndef DEFT_GPU_H
#define DEFT_GPU_H

/* The GPU entries are public: their declarations live in deft.h ("The GPU paths"). */
#include "deft.h"

#endif /* DEFT_GPU_H */
