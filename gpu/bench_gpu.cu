/* bench_gpu.cu: `make gpu-bench`, the GPU paths as numbers. Per workload, implementation and
 * chunk size: the CUDA-event median of the device-pointer run (partial kernel + reduction) over
 * input copies rotated so the working set is well over the 60 MB L2, the plan-build time on its
 * own (host), unique bytes (../shared/workloads.md: K and V once per KV head, Q and O once) and
 * the time that takes at the bandwidth of a device-to-device copy probe measured in the same run,
 * as a ratio; and the launch floor (three empty kernels launched as a run is, timed the same way).
 * Writes a CSV that gpu/bench_torch.py joins with PyTorch's numbers.
 *
 * usage: bench_gpu [--workloads LIST] [--impls gpu,gpu-simple] [--chunk-tokens LIST]
 *                  (a LIST is split at ';' when it holds one, so levels:SPEC names fit:
 *                  --workloads 'tot;levels:1,10_4096,416')
 *                  [--dtype f16|bf16|f32] [--heads HQ:HKV] [--dim D] [--reps N] [--spin-us US]
 *                  [--csv FILE]
 * --chunk-tokens 0 (the default) takes deft_gpu_choose_chunk_tokens for "gpu". A benchmark, not a
 * test: it only checks that every output element came back finite. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deft.h"
#include "gpu.h"

#define CHECK(call)                                                                             \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) {                                                                \
            fprintf(stderr, "bench_gpu: %s: %s (error %d)\n", #call, cudaGetErrorString(e_),   \
                    (int)e_);                                                                   \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_float);
    return n % 2 ? t[n / 2] : 0.5f * (t[n / 2 - 1] + t[n / 2]);
}

/* Holds the GPU busy for ~us microseconds so the host queues the timed region behind it: the
 * events then time the GPU's work, not the host's launch rate. */
__global__ void spin(long long ns)
{
    unsigned long long t0, t1;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
    } while ((long long)(t1 - t0) < ns);
}

/* Device-to-device copy of 1 GiB: bytes read plus written over the median time, bytes/s. */
static double copy_probe(int reps)
{
    size_t n = (size_t)1 << 30;
    void *a, *b;
    CHECK(cudaMalloc(&a, n));
    CHECK(cudaMalloc(&b, n));
    CHECK(cudaMemset(a, 1, n));
    CHECK(cudaMemset(b, 2, n));
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    float *t = (float *)malloc((size_t)reps * sizeof *t);
    for (int r = 0; r < reps + 2; r++) {
        CHECK(cudaEventRecord(e0));
        CHECK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice));
        CHECK(cudaEventRecord(e1));
        CHECK(cudaEventSynchronize(e1));
        if (r >= 2) CHECK(cudaEventElapsedTime(&t[r - 2], e0, e1));
    }
    double bw = 2.0 * (double)n / (median(t, reps) * 1e-3);
    free(t);
    cudaFree(a), cudaFree(b);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return bw;
}

/* The launch floor: what the CUDA-event timing below shows for kernels that do nothing, launched
 * as a run of "gpu" is (ordinary launch of a persistent-sized grid, then two kernels with
 * programmatic dependent launch, each waiting for the one before), behind the same spin. No run
 * of three kernels can time below it; the small trees' times are read against it
 * (docs/performance.md). Median of reps, us. */
__global__ void floor_first(int x)
{
    if (x == 0x7fffffff) printf("never\n"); /* a body the compiler keeps */
    cudaTriggerProgrammaticLaunchCompletion();
}
__global__ void floor_dependent(int x)
{
    cudaTriggerProgrammaticLaunchCompletion();
    cudaGridDependencySynchronize();
    if (x == 0x7fffffff) printf("never\n");
}
static cudaError_t floor_pdl(unsigned grid, unsigned block)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(grid);
    cfg.blockDim = dim3(block);
    cudaLaunchAttribute attr[1] = {};
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, floor_dependent, 1);
}
static float launch_probe(int reps, int spin_us)
{
    int sms = 132;
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    float *t = (float *)malloc((size_t)reps * sizeof *t);
    for (int r = -3; r < reps; r++) {
        spin<<<1, 1>>>(1000LL * spin_us);
        CHECK(cudaEventRecord(e0));
        floor_first<<<sms, 384>>>(1);
        CHECK(floor_pdl(3u * sms, 128));
        CHECK(floor_pdl(8u * sms, 256));
        CHECK(cudaEventRecord(e1));
        CHECK(cudaEventSynchronize(e1));
        if (r >= 0) CHECK(cudaEventElapsedTime(&t[r], e0, e1));
    }
    float us = median(t, reps) * 1000.0f;
    free(t);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return us;
}

typedef struct {
    const char *name;
    deft_status (*run_device)(const deft_problem *, const deft_plan *, const void *, void *, size_t,
                              float *, float *, void *, deft_diag *);
} impl;

static const impl impls[] = {{"gpu", deft_gpu_run_device}, {"gpu-simple", deft_gpu_simple_run_device}};

#ifdef DEFT_GPU_TRACE
/* the measurement build's timeline (gpu/gpu_internal.h): each point's first and last pass, in us
 * after the run's first kernel (classify_kernel, or the persistent kernel when classify_kernel is
 * not needed) started, median of 9 runs */
extern "C" void deft_gpu_trace_v2(int reset, unsigned long long *lo, unsigned long long *hi);
extern "C" void deft_gpu_trace_host(int reset, unsigned long long *lo, unsigned long long *hi);
static const char *const trace_names[] = {"classify start", "classify end", "large start", "large waited",
                                          "large 1st item", "large end", "small start", "small done",
                                          "small end", "reduce start", "reduce waited", "reduce end"};
#define TRN 12
/* a run's start: its first kernel's first block (a run without classify_kernel starts at [2]) */
static unsigned long long run_start(const unsigned long long *lo)
{
    return lo[0] < lo[2] ? lo[0] : lo[2];
}
static void trace_runs(const impl *im, deft_problem *dp, const deft_plan *plan, void *dw, void *dws, size_t ws,
                       float *dout, float *dlse, void **dq, void **dk, void **dv, int copies)
{
    float lo[TRN][9], hi[TRN][9];
    deft_diag diag;
    for (int r = 0; r < 9; r++) {
        unsigned long long a[TRN], b[TRN], c[TRN], d[TRN];
        deft_gpu_trace_v2(1, NULL, NULL);
        deft_gpu_trace_host(1, NULL, NULL);
        int k = r % copies;
        dp->q = dq[k], dp->k = dk[k], dp->v = dv[k];
        spin<<<1, 1>>>(200000);
        im->run_device(dp, plan, dw, dws, ws, dout, dlse, NULL, &diag);
        CHECK(cudaDeviceSynchronize());
        deft_gpu_trace_v2(0, a, b);
        deft_gpu_trace_host(0, c, d);
        for (int i = 9; i < TRN; i++) /* the reduction's points, from gpu_host.cu */ a[i] = c[i], b[i] = d[i];
        const unsigned long long t0 = run_start(a);
        for (int i = 0; i < TRN; i++) {
            lo[i][r] = a[i] == ~0ull ? -1.0f : (float)((double)(long long)(a[i] - t0) * 1e-3);
            hi[i][r] = b[i] == 0 ? -1.0f : (float)((double)(long long)(b[i] - t0) * 1e-3);
        }
    }
    for (int i = 0; i < TRN; i++)
        printf("    trace %-15s first %7.1f  last %7.1f\n", trace_names[i], median(lo[i], 9), median(hi[i], 9));
    deft_gpu_trace_v2(2, NULL, NULL); /* the tile and pass stamps of the last run */
    if (getenv("DEFT_GPU_ITEMS")) { /* the last run's item log, after its first kernel's start */
        unsigned long long a[TRN], b[TRN];
        deft_gpu_trace_v2(0, a, b);
        a[0] = run_start(a); /* mode 3 prints times after a[0] */
        deft_gpu_trace_v2(3, a, NULL);
    }
}
#endif

/* a list split at ';' when it has one (levels:SPEC names hold commas), else at ',' */
static int split(char *s, char **out, int max)
{
    const char *sep = strchr(s, ';') ? ";" : ",";
    int n = 0;
    for (char *t = strtok(s, sep); t && n < max; t = strtok(NULL, sep)) out[n++] = t;
    return n;
}

int main(int argc, char **argv)
{
    char wl_buf[1024] = "fewshot,fewshot50,tot,specstar,specdec,wide", im_buf[128] = "gpu,gpu-simple";
    char ct_buf[512] = "0";
    const char *csv_path = "build/gpu_bench.csv";
    deft_gen_options go;
    deft_gen_options_default(&go);
    go.dtype = DEFT_F16;
    go.hq = 32, go.hkv = 8, go.d = 128;
    int reps = 50, spin_us = 40;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--workloads")) snprintf(wl_buf, sizeof wl_buf, "%s", v);
        else if (!strcmp(k, "--impls")) snprintf(im_buf, sizeof im_buf, "%s", v);
        else if (!strcmp(k, "--chunk-tokens")) snprintf(ct_buf, sizeof ct_buf, "%s", v);
        else if (!strcmp(k, "--csv")) csv_path = v;
        else if (!strcmp(k, "--reps")) reps = atoi(v);
        else if (!strcmp(k, "--spin-us")) spin_us = atoi(v);
        else if (!strcmp(k, "--dim")) go.d = atoi(v);
        else if (!strcmp(k, "--heads")) sscanf(v, "%lld:%lld", (long long *)&go.hq, (long long *)&go.hkv);
        else if (!strcmp(k, "--dtype")) {
            deft_dtype t;
            if (deft_dtype_parse(v, &t) != DEFT_OK) return 2;
            go.dtype = (int)t;
        } else {
            fprintf(stderr, "usage: bench_gpu [--workloads L] [--impls L] [--chunk-tokens L] [--dtype T] "
                            "[--heads HQ:HKV] [--dim D] [--reps N] [--spin-us US] [--csv FILE]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    char name[256];
    deft_diag diag;
    if (deft_gpu_device_check(name, sizeof name, &diag) != DEFT_OK) {
        printf("GPU bench: skipped: %s\n", diag.message);
        return 0;
    }
    double copy_bw = copy_probe(20);
    printf("device: %s; copy probe %.0f GB/s (1 GiB device-to-device, read + write, median of 20)\n",
           name, copy_bw * 1e-9);
    const float floor_launch = launch_probe(50, spin_us);
    printf("launch floor %.2f us (three empty kernels launched as a run of gpu is, median of 50)\n",
           floor_launch);
    printf("shape: hq %lld, hkv %lld, d %lld, %s; median of %d CUDA-event timings\n", (long long)go.hq,
           (long long)go.hkv, (long long)go.d, deft_dtype_name((deft_dtype)go.dtype), reps);
    FILE *csv = fopen(csv_path, "w");
    if (csv)
        fprintf(csv, "workload,impl,chunk_tokens,median_us,plan_us,unique_bytes,floor_us,ratio_to_copy,"
                     "partial_bytes,copy_GBps,copies,launch_floor_us\n");
    printf("%-10s %-10s %6s %10s %9s %10s %9s %8s %11s %6s\n", "workload", "impl", "chunk", "median_us",
           "plan_us", "unique_MB", "floor_us", "of_copy", "partials_MB", "copies");

    char *wls[32], *ims[4], *cts[64];
    int nw = split(wl_buf, wls, 32), ni = split(im_buf, ims, 4), nc = split(ct_buf, cts, 64);
    cudaEvent_t *ev = (cudaEvent_t *)malloc(2 * (size_t)reps * sizeof *ev);
    for (int r = 0; r < 2 * reps; r++) CHECK(cudaEventCreate(&ev[r]));
    float *times = (float *)malloc((size_t)reps * sizeof *times);
    for (int w = 0; w < nw; w++) {
        deft_case c;
        if (deft_generate(wls[w], &go, &c, &diag) != DEFT_OK) {
            printf("%s: %s\n", wls[w], diag.message);
            continue;
        }
        deft_problem *p = &c.problem;
        size_t elt = deft_dtype_size(p->shape.dtype);
        int64_t tq = deft_tree_total_q(&p->tree);
        size_t nq = (size_t)tq * (size_t)p->shape.hq * (size_t)p->shape.d;
        size_t nkv = (size_t)p->tree.total_kv * (size_t)p->shape.hkv * (size_t)p->shape.d;
        size_t in_bytes = (nq + 2 * nkv) * elt;
        double unique = (double)(2 * nkv + 2 * nq) * (double)elt; /* workloads.md's floor bytes */
        double floor_us = unique / copy_bw * 1e6;
        /* enough input copies that one pass over them is >= 512 MB (8x the L2) */
        int copies = (int)((512.0 * 1048576.0 + (double)in_bytes - 1) / (double)in_bytes);
        if (copies < 2) copies = 2;
        if (copies > 256) copies = 256;
        void **dq = (void **)calloc((size_t)copies, sizeof *dq), **dk = (void **)calloc((size_t)copies, sizeof *dk);
        void **dv = (void **)calloc((size_t)copies, sizeof *dv);
        for (int k = 0; k < copies; k++) {
            CHECK(cudaMalloc(&dq[k], nq * elt));
            CHECK(cudaMalloc(&dk[k], nkv * elt));
            CHECK(cudaMalloc(&dv[k], nkv * elt));
            CHECK(cudaMemcpy(dq[k], p->q, nq * elt, cudaMemcpyHostToDevice));
            CHECK(cudaMemcpy(dk[k], p->k, nkv * elt, cudaMemcpyHostToDevice));
            CHECK(cudaMemcpy(dv[k], p->v, nkv * elt, cudaMemcpyHostToDevice));
        }
        float *dout, *dlse;
        CHECK(cudaMalloc((void **)&dout, nq * sizeof(float)));
        CHECK(cudaMalloc((void **)&dlse, (size_t)tq * (size_t)p->shape.hq * sizeof(float)));
        for (int ci = 0; ci < nc; ci++)
            for (int ii = 0; ii < ni; ii++) {
                const impl *im = NULL;
                for (size_t x = 0; x < sizeof impls / sizeof impls[0]; x++)
                    if (!strcmp(impls[x].name, ims[ii])) im = &impls[x];
                if (!im) continue;
                int64_t ct = atoll(cts[ci]);
                if (ct == 0) ct = !strcmp(im->name, "gpu") ? deft_gpu_choose_chunk_tokens(&p->tree, &p->shape)
                                                           : DEFT_DEFAULT_CHUNK_TOKENS;
                if (!strcmp(im->name, "gpu")) {
                    if (deft_gpu_supports(p, &diag) != DEFT_OK) {
                        printf("%-10s %-10s skipped: %s\n", wls[w], im->name, diag.message);
                        continue;
                    }
                    int64_t cap = deft_gpu_max_chunk_tokens(&p->shape);
                    if (ct > cap) ct = cap;
                }
                deft_options po = {ct, 0, 0};
                deft_plan plan;
                float plan_t[21];
                for (int r = 0; r < 21; r++) {
                    double t0 = now();
                    if (deft_plan_build(&p->tree, &po, &plan, &diag) != DEFT_OK) {
                        printf("plan: %s\n", diag.message);
                        return 1;
                    }
                    plan_t[r] = (float)((now() - t0) * 1e6);
                    if (r < 20) deft_plan_free(&plan);
                }
                float plan_us = median(plan_t, 21);
                size_t ws = deft_gpu_workspace_size(&plan, &p->shape);
                void *dw, *dws;
                CHECK(cudaMalloc(&dw, plan.n_words * sizeof(int32_t)));
                CHECK(cudaMalloc(&dws, ws));
                CHECK(cudaMemcpy(dw, plan.words, plan.n_words * sizeof(int32_t), cudaMemcpyHostToDevice));
                CHECK(cudaMemset(dout, 0xff, nq * sizeof(float)));
                deft_problem dp = *p;
                int bad = 0;
                for (int r = -3; r < reps && !bad; r++) { /* 3 warm-ups */
                    int k = (r + 3) % copies;
                    dp.q = dq[k], dp.k = dk[k], dp.v = dv[k];
                    spin<<<1, 1>>>(r < 0 ? 1000 : 1000LL * spin_us);
                    if (r >= 0) CHECK(cudaEventRecord(ev[2 * r]));
                    if (im->run_device(&dp, &plan, dw, dws, ws, dout, dlse, NULL, &diag) != DEFT_OK) {
                        printf("%s %s: %s\n", wls[w], im->name, diag.message);
                        bad = 1;
                    }
                    if (r >= 0) CHECK(cudaEventRecord(ev[2 * r + 1]));
                    if (r < 0 || r % 8 == 7) CHECK(cudaDeviceSynchronize());
                }
                CHECK(cudaDeviceSynchronize());
                if (bad) continue;
                for (int r = 0; r < reps; r++) CHECK(cudaEventElapsedTime(&times[r], ev[2 * r], ev[2 * r + 1]));
                float t_us = median(times, reps) * 1000.0f;
                /* sanity: every output written and finite */
                float *o = (float *)malloc(nq * sizeof(float));
                CHECK(cudaMemcpy(o, dout, nq * sizeof(float), cudaMemcpyDeviceToHost));
                size_t nan = 0;
                for (size_t x = 0; x < nq; x++) nan += !isfinite(o[x]);
                free(o);
                double partial = (double)ws;
                printf("%-10s %-10s %6lld %10.1f %9.1f %10.1f %9.1f %7.1f%% %11.1f %6d%s\n", wls[w], im->name,
                       (long long)ct, t_us, plan_us, unique / 1e6, floor_us, 100.0 * floor_us / t_us,
                       partial / 1e6, copies, nan ? "  NON-FINITE OUTPUT" : "");
                fflush(stdout);
#ifdef DEFT_GPU_TRACE
                trace_runs(im, &dp, &plan, dw, dws, ws, dout, dlse, dq, dk, dv, copies);
#endif
                if (csv)
                    fprintf(csv, "\"%s\",%s,%lld,%.2f,%.2f,%.0f,%.2f,%.4f,%.0f,%.1f,%d,%.2f\n", wls[w], im->name,
                            (long long)ct, t_us, plan_us, unique, floor_us, floor_us / t_us, partial,
                            copy_bw * 1e-9, copies, floor_launch); /* quoted: levels: names hold commas */
                cudaFree(dw), cudaFree(dws);
                deft_plan_free(&plan);
            }
        for (int k = 0; k < copies; k++) cudaFree(dq[k]), cudaFree(dk[k]), cudaFree(dv[k]);
        free(dq), free(dk), free(dv);
        cudaFree(dout), cudaFree(dlse);
        deft_case_free(&c);
    }
    if (csv) fclose(csv);
    free(times);
    return 0;
}
