/* deft.h: the one public header of libdeft, exact tree attention and DeFT.
 *
 * Everything a caller needs: the data model (a forest of nodes holding KV tokens, some of them
 * queries), validation with a status and a diagnostic, the reference, the DeFT plan, the
 * implementations behind one signature, the comparison with its tolerance model, the case files
 * (.npy tensors plus a tree file) and the seeded generators. docs/semantics.md defines what is
 * computed; docs/formats.md the files; docs/validation.md the comparison.
 *
 * Conventions. C99. Every fallible function returns a deft_status and, when `diag` is not NULL,
 * writes a one-line diagnostic naming the offending node or field. Nothing here exits or aborts on
 * input. Sizes and indices are int64_t. Tensors are dense, row-major, little-endian host memory
 * unless a function says otherwise. Every LSE that crosses this API is a natural logarithm.
 */
#ifndef DEFT_H
#define DEFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DEFT_VERSION_MAJOR 0
#define DEFT_VERSION_MINOR 1

/* ---------------------------------------------------------------------------------------------
 * Statuses. Each has a one-line meaning from deft_status_str. Bad input gets a distinct status
 * per class (docs/validation.md has the table).
 */
typedef enum deft_status {
    DEFT_OK = 0,
    DEFT_ERR_NULL,             /* a pointer that must hold data is NULL */
    DEFT_ERR_NODE_COUNT,       /* n_nodes < 0 */
    DEFT_ERR_BAD_PARENT,       /* parent[i] is neither -1 nor in 0..i-1 */
    DEFT_ERR_NEGATIVE_LEN,     /* kv_len[i] < 0 or q_len[i] < 0 */
    DEFT_ERR_QLEN_GT_KVLEN,    /* q_len[i] > kv_len[i] */
    DEFT_ERR_HEADS,            /* Hq < 1, Hkv < 1 or Hq % Hkv != 0 */
    DEFT_ERR_DIM,              /* D < 1 */
    DEFT_ERR_OVERFLOW,         /* an element or byte count does not fit in int64_t or size_t */
    DEFT_ERR_KV_RANGE,         /* a node's KV rows fall outside 0..total_kv-1 */
    DEFT_ERR_KV_OVERLAP,       /* two nodes' KV rows overlap */
    DEFT_ERR_DTYPE,            /* unknown dtype, or a tensor file of the wrong dtype */
    DEFT_ERR_SCALE,            /* scale is NaN or infinite */
    DEFT_ERR_NO_MEMORY,        /* an allocation failed */
    DEFT_ERR_IO,               /* a file could not be opened, read or written */
    DEFT_ERR_FORMAT,           /* a file's content does not follow its format */
    DEFT_ERR_TRUNCATED,        /* a file ends before its header says it should */
    DEFT_ERR_SHAPE,            /* a tensor's shape disagrees with the problem */
    DEFT_ERR_ARG,              /* an argument is out of its documented range (a name, an option) */
    DEFT_ERR_UNSUPPORTED,      /* an implementation declines this problem (see its supports) */
    DEFT_ERR_DEVICE,           /* a device (GPU) call failed or no device is present */
    DEFT_ERR_PLUGIN,           /* a plugin could not be loaded or has an incompatible ABI */
    DEFT_ERR_INTERNAL,         /* a broken internal invariant: a bug in libdeft, please report */
    DEFT_STATUS_COUNT
} deft_status;

/* One line, no trailing newline, never NULL (unknown values give "unknown status"). */
const char *deft_status_str(deft_status s);
/* The enum name, e.g. "DEFT_ERR_BAD_PARENT". */
const char *deft_status_name(deft_status s);

/* Where a diagnostic goes. `message` is always NUL-terminated; `node` is the offending node or -1. */
typedef struct deft_diag {
    deft_status status;
    int64_t node;
    char message[256];
} deft_diag;

/* ---------------------------------------------------------------------------------------------
 * Data model (docs/semantics.md).
 */
typedef enum deft_dtype {
    DEFT_F32 = 0,  /* IEEE binary32 */
    DEFT_F16 = 1,  /* IEEE binary16 */
    DEFT_BF16 = 2  /* bfloat16: the upper 16 bits of a binary32 */
} deft_dtype;

/* "f32", "f16", "bf16"; NULL for an unknown value. */
const char *deft_dtype_name(deft_dtype t);
/* Parses "f32" | "f16" | "bf16". DEFT_ERR_DTYPE otherwise. */
deft_status deft_dtype_parse(const char *name, deft_dtype *out);
/* Bytes per element: 4, 2, 2; 0 for an unknown value. */
size_t deft_dtype_size(deft_dtype t);

/* The forest. Node i has parent[i] == -1 (a root) or 0 <= parent[i] < i (topological order),
 * holds kv_len[i] >= 0 tokens of KV cache at rows kv_offset[i] .. kv_offset[i] + kv_len[i] - 1
 * of K and V, and its last q_len[i] (0 <= q_len[i] <= kv_len[i]) tokens are queries.
 * kv_offset == NULL means packed: node i starts where node i-1 ends, node 0 at row 0.
 * total_kv is the number of rows K and V hold; packed nodes must fit in it. */
typedef struct deft_tree {
    int64_t n_nodes;
    const int64_t *parent;    /* (n_nodes) */
    const int64_t *kv_len;    /* (n_nodes) */
    const int64_t *q_len;     /* (n_nodes) */
    const int64_t *kv_offset; /* (n_nodes) or NULL for packed */
    int64_t total_kv;         /* rows of K and V */
} deft_tree;

/* Heads and head dim. Query head h reads KV head h / (hq / hkv). scale == 0 means 1/sqrt(d). */
typedef struct deft_shape {
    int64_t hq, hkv, d;
    double scale;
    deft_dtype dtype; /* of q, k and v */
} deft_shape;

/* A whole problem: forest, shape and input tensors, all borrowed.
 * q: (total_q, hq, d), queries ordered by node, then position.  k, v: (total_kv, hkv, d). */
typedef struct deft_problem {
    deft_tree tree;
    deft_shape shape;
    const void *q, *k, *v;
} deft_problem;

/* Validates the forest alone. DEFT_ERR_NULL, _NODE_COUNT, _BAD_PARENT, _NEGATIVE_LEN,
 * _QLEN_GT_KVLEN, _KV_RANGE, _KV_OVERLAP, _OVERFLOW. The first bad node (lowest index) is named. */
deft_status deft_tree_validate(const deft_tree *t, deft_diag *diag);
/* Validates the shape alone: DEFT_ERR_HEADS, _DIM, _DTYPE, _SCALE, _OVERFLOW (hq*d, hkv*d). */
deft_status deft_shape_validate(const deft_shape *s, deft_diag *diag);
/* Both, plus the tensor sizes (element and byte counts fit in size_t) and non-NULL q, k, v
 * whenever the problem holds queries (tensors of zero elements may be NULL). */
deft_status deft_problem_validate(const deft_problem *p, deft_diag *diag);

/* Counts of a validated tree (undefined on an invalid one). */
int64_t deft_tree_total_q(const deft_tree *t);
/* First KV row of node i, packed or given. */
int64_t deft_tree_kv_offset(const deft_tree *t, int64_t i);
/* The scale actually used: s->scale, or 1/sqrt(d) when it is 0. */
double deft_shape_scale(const deft_shape *s);
/* Visible (query, token) pairs, summed over queries (multiply by hq for query-head pairs). */
int64_t deft_tree_visible_pairs(const deft_tree *t);

/* Widens one stored element (exact for every dtype). */
float deft_load_f32(const void *base, deft_dtype t, size_t index);
/* Rounds a float to f16 / bf16 bits, round to nearest even (NaN stays NaN). */
uint16_t deft_f32_to_f16(float x);
uint16_t deft_f32_to_bf16(float x);
float deft_f16_to_f32(uint16_t h);
float deft_bf16_to_f32(uint16_t h);

/* ---------------------------------------------------------------------------------------------
 * The reference (ref/): the definition, in double, as a plain loop nest.
 * o: (total_q, hq, d) f32; lse: (total_q, hq) f32, natural log. Rows that read a NaN or an
 * infinity get NaN in o and lse (docs/semantics.md, "Non-finite inputs").
 */
deft_status deft_ref_attention(const deft_problem *p, float *o, float *lse, deft_diag *diag);
/* The same in double, for callers that keep the exact values. */
deft_status deft_ref_attention_f64(const deft_problem *p, double *o, double *lse, deft_diag *diag);

/* Options of the DeFT paths (the reference ignores them). */
typedef struct deft_options {
    int64_t chunk_tokens;      /* DeFT plan: most KV tokens per chunk; 0 = default */
    int64_t chunk_queries;     /* DeFT plan: most queries per chunk; 0 = no bound */
    int threads;               /* CPU paths: OpenMP threads; 0 = the runtime's default */
} deft_options;

/* ---------------------------------------------------------------------------------------------
 * The DeFT plan (common/plan.c), phase 1: built from the tree alone, shared by cpu/ and gpu/.
 *
 * KV-guided grouping puts each node's KV together with every query that reads it: the queries of
 * its subtree (they see all of it) and its own queries (a causal prefix). Flattened tree KV
 * splitting cuts each node's tokens into chunks of at most chunk_tokens, of even size, so work is
 * even across workers; chunk_queries, when set, also bounds the queries per chunk (a chunk with
 * more is repeated over the same tokens with disjoint query sets).
 *
 * Chunk c covers tokens chunk_tok_start[c] .. + chunk_len[c] - 1 of node chunk_node[c], stored at
 * KV rows chunk_kv_row[c] .. + chunk_len[c] - 1. Its (chunk, query) pairs are
 * e = pair_start[c] .. pair_start[c+1] - 1, in ascending query order: query pair_query[e] sees the
 * first pair_visible[e] tokens of the chunk (chunk_len[c] for queries below the node; the causal
 * prefix up to the query's own position for the node's own queries). A pair's partial result
 * (O and LSE for every query head) is indexed by e.
 *
 * The reduction map: query q merges the partials of pairs red_pair[red_start[q] .. red_start[q+1]-1]
 * in that order (ancestors root first, then its own node; chunks in token order), so the result is
 * deterministic. Every visible (query, token) pair lies in exactly one chunk's pair; no other does.
 *
 * All arrays are int32 and live in one block (words, n_words) with no pointers into the tree, so
 * a device uploads the block as it is; inside it the arrays follow one another in the order
 * declared below, each at its pointer's offset from words.
 */
typedef struct deft_plan {
    int32_t n_nodes, n_chunks, n_queries, n_pairs;
    int32_t chunk_tokens, chunk_queries; /* the parameters it was built with (after defaults) */
    int32_t max_chunk_len, max_chunk_pairs;
    int32_t *chunk_node, *chunk_tok_start, *chunk_kv_row, *chunk_len; /* (n_chunks) */
    int32_t *pair_start;                  /* (n_chunks + 1) */
    int32_t *pair_query, *pair_visible;   /* (n_pairs) */
    int32_t *red_start;                   /* (n_queries + 1) */
    int32_t *red_pair;                    /* (n_pairs) */
    int32_t *words;                       /* the block every array above points into */
    size_t n_words;
} deft_plan;

/* Default chunk_tokens, chosen by measurement (docs/performance.md). */
#define DEFT_DEFAULT_CHUNK_TOKENS 256

/* Builds the plan of a valid tree (validated here). opt may be NULL (defaults). Linear in nodes
 * plus pairs. DEFT_ERR_OVERFLOW when a count does not fit int32; DEFT_ERR_ARG for negative
 * options; DEFT_ERR_NO_MEMORY. */
deft_status deft_plan_build(const deft_tree *t, const deft_options *opt, deft_plan *plan,
                            deft_diag *diag);
void deft_plan_free(deft_plan *plan);
/* Checks the plan against the tree: bounds, ordering, and that every visible (query, token) pair
 * is covered exactly once. DEFT_OK or DEFT_ERR_INTERNAL with the first violation. */
deft_status deft_plan_verify(const deft_plan *plan, const deft_tree *t, deft_diag *diag);
/* A readable listing: chunks with their queries and the reduction map (up to `limit` lines of
 * each; 0 = all). file is a FILE*. */
void deft_plan_print(const deft_plan *plan, void *file, int64_t limit);

/* Merges partial state b into a: (o_a, lse_a) and (o_b, lse_b) are softmax attention over
 * disjoint token sets (o: (d), lse natural log); the result is the state over their union.
 * The empty state is (0, -inf); merging it changes nothing and never makes NaN.
 *   m = max(lse_a, lse_b), w_a = exp(lse_a - m), w_b = exp(lse_b - m),
 *   o = (w_a o_a + w_b o_b) / (w_a + w_b), lse = m + ln(w_a + w_b). */
void deft_merge(float *o_a, float *lse_a, const float *o_b, float lse_b, int64_t d);
/* The same operator with a double running state (o_a, lse_a) and a float partial: what a
 * reduction over many partials uses. A float state is re-rounded at every merge, so its LSE
 * drifts by about sqrt(k) |lse| 2^-24 over k merges (a chain of 5000 small nodes exceeds the
 * tolerance); in double it stays at the partials' own rounding. */
void deft_merge_f64(double *o_a, double *lse_a, const float *o_b, double lse_b, int64_t d);

/* Bytes read and written by one approach (docs/io-analysis.md). */
typedef struct deft_io_row {
    double kv_read, q_read, partial_write, partial_read, mask_read, out_write;
} deft_io_row;
/* DeFT (this plan), sequence-based (each query reads its whole path) and tree-mask attention
 * (all queries against all tokens in blocks of DEFT_IO_MASK_BLOCK queries, with a byte mask). */
typedef struct deft_io {
    deft_io_row deft, seq, mask;
    double visible_pairs; /* (query, query head, token) triples the semantics make visible */
} deft_io;
#define DEFT_IO_MASK_BLOCK 64
deft_status deft_io_account(const deft_tree *t, const deft_shape *s, const deft_plan *plan,
                            deft_io *io, deft_diag *diag);
double deft_io_total(const deft_io_row *r);

/* ---------------------------------------------------------------------------------------------
 * Implementations: every path answers one signature, so one test loop runs them all.
 */
typedef struct deft_impl deft_impl;
struct deft_impl {
    const char *name;          /* "ref", "cpu", "cpu-seq", ... */
    const char *summary;       /* one line */
    /* DEFT_OK if run would handle p, else DEFT_ERR_UNSUPPORTED (or _DEVICE) with a reason. */
    deft_status (*supports)(const deft_impl *self, const deft_problem *p, deft_diag *diag);
    /* Validates p, then fills o (total_q, hq, d) and lse (total_q, hq, natural log). opt may be NULL. */
    deft_status (*run)(const deft_impl *self, const deft_problem *p, const deft_options *opt,
                       float *o, float *lse, deft_diag *diag);
    const void *ctx;           /* the implementation's own data (a loaded plugin), or NULL */
};

/* impl->supports(impl, p, diag) and impl->run(impl, ...), with a NULL impl rejected. */
deft_status deft_impl_supports(const deft_impl *impl, const deft_problem *p, deft_diag *diag);
deft_status deft_impl_run(const deft_impl *impl, const deft_problem *p, const deft_options *opt,
                          float *o, float *lse, deft_diag *diag);

/* The options impl builds its DeFT plan with for p: opt (NULL = defaults) with chunk_tokens 0
 * replaced by the implementation's own choice (cpu: 1024 tokens, fewer on small trees; gpu: its
 * cost model, deft_gpu_choose_chunk_tokens; gpu-simple: DEFT_DEFAULT_CHUNK_TOKENS), so a caller
 * can build, print or time the very plan a run uses. DEFT_ERR_UNSUPPORTED for an implementation
 * that builds no plan (ref, cpu-seq, plugins); the statuses of deft_problem_validate. */
deft_status deft_impl_plan_options(const deft_impl *impl, const deft_problem *p,
                                   const deft_options *opt, deft_options *out, deft_diag *diag);

int deft_impl_count(void);
const deft_impl *deft_impl_at(int i);          /* NULL out of range */
const deft_impl *deft_impl_find(const char *name); /* NULL if unknown */

/* ---------------------------------------------------------------------------------------------
 * Plugins: a tree-attention kernel in a shared library, judged like the project's own paths
 * (docs/validating-kernels.md). The library exports one object of type deft_plugin_v1 (default
 * symbol "deft_plugin"; any other name with LIB.so:SYMBOL). It need not link libdeft: it reads
 * deft_problem as declared here. ABI version 1 is frozen: later versions add a new struct.
 */
#define DEFT_PLUGIN_ABI_VERSION 1u

typedef struct deft_plugin_v1 {
    uint32_t abi_version;  /* DEFT_PLUGIN_ABI_VERSION */
    uint32_t struct_size;  /* sizeof(deft_plugin_v1) */
    const char *name;      /* short, for reports */
    /* Optional (NULL: handles every valid problem). Returns 0 when run would handle p, else
     * nonzero with a one-line reason in why (why_len bytes, NUL-terminated). */
    int (*supports)(const deft_problem *p, char *why, size_t why_len);
    /* Fills o (total_q, hq, d) and lse (total_q, hq; natural log) for a validated problem.
     * Returns 0 on success, else nonzero with a reason in why. */
    int (*run)(const deft_problem *p, float *o, float *lse, char *why, size_t why_len);
} deft_plugin_v1;

/* Loads "LIB.so" or "LIB.so:SYMBOL" and wraps it as an implementation (*impl, owned: release
 * with deft_plugin_close). DEFT_ERR_PLUGIN when the library cannot be opened, lacks the symbol,
 * or declares another ABI version or a smaller struct; the diagnostic says which. */
deft_status deft_plugin_open(const char *spec, const deft_impl **impl, deft_diag *diag);
void deft_plugin_close(const deft_impl *impl);

/* ---------------------------------------------------------------------------------------------
 * The GPU paths (gpu/, CUDA sm_90): phases 2 and 3 on the device. "gpu-simple" (version 1,
 * gpu/deft_gpu_simple.cu): one block per (chunk, KV head), plain FMA, any dtype. "gpu" (version 2,
 * gpu/deft_gpu.cu): mma.sync tensor cores and cp.async, each chunk's K/V read into shared memory
 * once for all its queries and all query heads sharing the KV head; f16 and bf16, D 64/128/256.
 * Both are also registered as implementations. Built without CUDA (NO_CUDA=1) or run without a
 * device, every entry answers DEFT_ERR_DEVICE with the reason.
 */
/* Largest head dim version 1 takes (one warp holds a row, D / 32 values per lane). */
#define DEFT_GPU_SIMPLE_MAX_D 512

/* DEFT_OK when deft_gpu_run would handle p. Bad input gets its validation status;
 * DEFT_ERR_UNSUPPORTED (with the reason) for f32 inputs or D other than 64, 128, 256, or a shape
 * past the launch limits (hkv > 65535); DEFT_ERR_DEVICE when no usable CUDA device is present
 * ("no CUDA device: cudaGetDeviceCount: <cudaGetErrorString> (error N)") or it is older than
 * sm_90. Shape is checked before the device, so the reason for an unsupported shape is the same
 * on any machine. */
deft_status deft_gpu_supports(const deft_problem *p, deft_diag *diag);

/* Host-memory convenience: p's tensors and o (total_q, hq, d) f32, lse (total_q, hq) f32 natural
 * log are host memory. Builds the plan (opt->chunk_tokens, 0 = deft_gpu_choose_chunk_tokens,
 * clamped to deft_gpu_max_chunk_tokens; opt->chunk_queries as given; opt may be NULL), uploads
 * inputs and plan once, runs, downloads, frees. Device outputs are filled with NaN before the
 * kernels run, so an element a kernel failed to write comes back NaN. Synchronous. */
deft_status deft_gpu_run(const deft_problem *p, const deft_options *opt, float *o, float *lse,
                         deft_diag *diag);

/* Version 1, same contracts: f32, f16, bf16; 1 <= D <= DEFT_GPU_SIMPLE_MAX_D. */
deft_status deft_gpu_simple_supports(const deft_problem *p, deft_diag *diag);
deft_status deft_gpu_simple_run(const deft_problem *p, const deft_options *opt, float *o,
                                float *lse, deft_diag *diag);

/* Most tokens per chunk version 2 takes for shape s: 8192 for D = 64 and 128 (a chunk that fits
 * its shared-memory ring, 640 tokens at D = 64 and 256 at D = 128, stays there while every query
 * tile of the chunk passes over it; a longer one streams through the ring, one query tile per
 * work item), 128 for D = 256 (its chunks always stay resident). f16/bf16; 0 for shapes version
 * 2 does not take. Version 1 takes any chunk length. */
int64_t deft_gpu_max_chunk_tokens(const deft_shape *s);
/* chunk_tokens deft_gpu_run uses when opt->chunk_tokens is 0: of the multiples of 64 up to 1024,
 * of 128 up to 2048, of 256 up to 4096 and of 512 up to 8192 (at most
 * deft_gpu_max_chunk_tokens), the one whose plan has the smallest modeled time: longer chunks
 * mean fewer partials to write and merge, shorter ones split nodes read by many queries over more
 * SMs (the model and its measured constants: gpu/gpu_common.c, gpu/NOTES.md). It builds a plan
 * per candidate: ~0.1 ms of CPU on fewshot, ~3 ms on wide. t must be valid. */
int64_t deft_gpu_choose_chunk_tokens(const deft_tree *t, const deft_shape *s);

/* Device workspace for one run, in bytes: the f32 partials, O (n_pairs, hq, d) and LSE
 * (n_pairs, hq), each 256-byte aligned, then version 2's scheduling state (counters and a list of
 * n_chunks + n_pairs * hq / hkv / 128 + 1 (chunk, unit) int32 pairs). 0 on overflow (or for a
 * plan without pairs). One workspace serves one run at a time. */
size_t deft_gpu_workspace_size(const deft_plan *plan, const deft_shape *s);

/* Device-pointer API: one run of version 2 on `cuda_stream` (a cudaStream_t; NULL = the default
 * stream), asynchronous: it returns after the launches, errors of the kernels themselves surface
 * at the caller's next synchronizing CUDA call.
 *   p             tree arrays and shape in HOST memory; p->q, p->k, p->v DEVICE pointers, with
 *                 the layouts of deft.h (q (total_q, hq, d), k and v (total_kv, hkv, d)),
 *                 16-byte aligned (version 2 copies 16 bytes at a time).
 *   plan          the plan of p->tree, built by deft_plan_build (host copy: counts and offsets);
 *                 its max_chunk_len must be at most deft_gpu_max_chunk_tokens(&p->shape).
 *   plan_words_dev  a DEVICE copy of plan->words (plan->n_words int32), uploaded once per
 *                 problem and reusable across runs.
 *   workspace     DEVICE memory of at least deft_gpu_workspace_size(plan, &p->shape) bytes,
 *                 256-byte aligned (cudaMalloc's are).
 *   o_dev, lse_dev  DEVICE outputs: o (total_q, hq, d) f32, lse (total_q, hq) f32, natural log.
 * Returns DEFT_OK, a validation status, DEFT_ERR_UNSUPPORTED (shape, or chunks longer than fit),
 * DEFT_ERR_ARG (workspace too small, plan not of this tree, NULL or misaligned device pointer) or
 * DEFT_ERR_DEVICE (a launch failed, or the driver cannot describe K/V to the tensor memory
 * accelerator). Same input, same bits: no atomics, fixed merge order. */
deft_status deft_gpu_run_device(const deft_problem *p, const deft_plan *plan,
                                const void *plan_words_dev, void *workspace,
                                size_t workspace_bytes, float *o_dev, float *lse_dev,
                                void *cuda_stream, deft_diag *diag);
/* The same for version 1 (any chunk length). */
deft_status deft_gpu_simple_run_device(const deft_problem *p, const deft_plan *plan,
                                       const void *plan_words_dev, void *workspace,
                                       size_t workspace_bytes, float *o_dev, float *lse_dev,
                                       void *cuda_stream, deft_diag *diag);

/* DEFT_OK when a CUDA device of compute capability 9.0 or newer answers; DEFT_ERR_DEVICE with
 * the CUDA message otherwise (tests print it as their reason to skip). name (may be NULL) gets
 * the device's name, up to len bytes. */
deft_status deft_gpu_device_check(char *name, size_t len, deft_diag *diag);

/* ---------------------------------------------------------------------------------------------
 * Comparison with the reference and the tolerance model (docs/validation.md).
 *
 * deft_reference holds what the checker needs, computed once per problem: the exact result in
 * double, per-element scales for the tolerance, and the anchor: the error of a straightforward
 * float32 evaluation of the same problem.
 */
typedef struct deft_reference {
    int64_t total_q, hq, d;
    double *o;          /* (total_q, hq, d) exact O; NaN on poisoned rows */
    double *lse;        /* (total_q, hq) exact LSE, natural log; NaN on poisoned rows */
    double *o_mag;      /* (total_q, hq, d) sum_j p_j |v_j|: the scale of O's error */
    double *o_spread;   /* (total_q, hq, d) sqrt(sum_j p_j^2 v_j^2): rounding P to the input dtype */
    double *s_mag;      /* (total_q, hq) max_j |scale q.k_j|: the scale of LSE's error */
    double *s_abs;      /* (total_q, hq) max_j scale sum_x |q_x k_j,x|: the scale of score rounding */
    double *w_floor;    /* (total_q, hq) visible tokens x max_j,x |v_j,x| x 2^-149: what weights in
                           float32's subnormal range can move O by (absolute precision only) */
    uint8_t *row_class; /* (total_q, hq) DEFT_ROW_* */
    double anchor_o;    /* max over checked elements of |o32 - o| / o_mag for the f32 evaluation */
    double anchor_lse;  /* max over checked rows of |lse32 - lse| / (1 + s_mag + |lse|) */
    deft_dtype dtype;
} deft_reference;

enum {
    DEFT_ROW_CHECKED = 0,   /* compared under the tolerance */
    DEFT_ROW_NONFINITE = 1, /* reads a NaN or infinite input: output unspecified, not compared */
    DEFT_ROW_F32_RANGE = 2  /* finite inputs beyond float32's range or precision (magnitudes
                               that overflow float32 sums, or scores whose float32 rounding
                               decides the weights; docs/semantics.md): not compared */
};

/* Multiples in the tolerance model; deft_tolerance_default fills the documented values.
 *   |o - o_ref|     <= A (max(anchor_o, floor) + u32 sqrt(D) s_abs) o_mag + B u(dtype) o_spread
 *                      + A w_floor + 64 * 2^-149
 *   |lse - lse_ref| <= A (max(anchor_lse, floor) (1 + s_mag + |lse_ref|) + u32 sqrt(D) s_abs)
 * with u32 = 2^-24 (docs/validation.md). */
typedef struct deft_tolerance {
    double anchor_mult;   /* A: allowed multiple of float32 error, measured and modelled (4) */
    double anchor_floor;  /* smallest anchor used, relative (2^-23) */
    double dtype_mult;    /* B: allowed multiple of u(dtype) * o_spread (4) */
} deft_tolerance;
void deft_tolerance_default(deft_tolerance *t);

deft_status deft_reference_compute(const deft_problem *p, deft_reference *ref, deft_diag *diag);
void deft_reference_free(deft_reference *ref);

typedef struct deft_report {
    int pass;                   /* 1 when every checked element is within tolerance */
    int64_t checked, failed;    /* elements of o and lse compared / out of tolerance */
    int64_t rows_nonfinite, rows_f32_range; /* (query, head) rows not compared, and why */
    double max_abs_err, max_rel_err;        /* over o, checked elements */
    double err_norm_ratio;                  /* ||o - ref|| / ||ref|| over checked elements */
    double lse_max_abs_err;
    double worst_ratio;                     /* max of |err| / tolerance (o and lse) */
    /* The worst element: dim == -1 means the LSE of (query, head). */
    int64_t worst_query, worst_head, worst_dim;
    double worst_got, worst_want, worst_tol;
    int worst_is_nan;                       /* the worst element was NaN where a number is due */
    /* The first failing element in (query, head, dim) order, or -1. */
    int64_t first_query, first_head, first_dim;
    /* The tolerance actually applied: anchors after the floor, u(dtype) (0 for f32), and the
     * multiples of each. */
    double anchor_o, anchor_lse, unit_dtype, anchor_mult, dtype_mult;
    int lse_checked;                        /* 0 when deft_compare got no lse */
} deft_report;

/* Compares o (total_q, hq, d) and lse (total_q, hq; may be NULL to skip) with ref. tol may be
 * NULL for the defaults. NaN where a number is due fails; an infinity must match in sign. */
deft_status deft_compare(const deft_reference *ref, const float *o, const float *lse,
                         const deft_tolerance *tol, deft_report *rep, deft_diag *diag);
/* Writes the report as a few human-readable lines. */
void deft_report_print(const deft_report *rep, void *file /* FILE* */);

/* ---------------------------------------------------------------------------------------------
 * Cases: a problem that owns its memory, as read from or written to a case directory
 * (tree.txt, q.npy, k.npy, v.npy and, when present, out.npy and lse.npy; docs/formats.md).
 */
typedef struct deft_case {
    deft_problem problem;    /* points into the buffers below */
    int64_t *parent, *kv_len, *q_len, *kv_offset; /* kv_offset NULL when packed */
    void *q, *k, *v;
    float *out, *lse;        /* NULL when absent */
    char workload[128];      /* the generator spec, or "" */
} deft_case;

/* Frees everything a case owns and zeroes it (safe on a zeroed case, and twice). Every function
 * that fills a case (read, parse, generate, init) overwrites it without freeing: free a case
 * before filling it again. */
void deft_case_free(deft_case *c);
/* Allocates the tree arrays of n nodes (kv_offset only when with_offsets) and zeroes the rest. */
deft_status deft_case_init(deft_case *c, int64_t n_nodes, int with_offsets, deft_diag *diag);
/* Allocates q, k, v for the current tree and shape (validating both first). */
deft_status deft_case_alloc_data(deft_case *c, deft_diag *diag);

/* Tree file: text, versioned (docs/formats.md). Reads into c's tree and shape. */
deft_status deft_tree_file_read(const char *path, deft_case *c, deft_diag *diag);
deft_status deft_tree_file_parse(const char *text, size_t len, deft_case *c, deft_diag *diag);
deft_status deft_tree_file_write(const char *path, const deft_problem *p, const char *workload,
                                 deft_diag *diag);

/* .npy v1.0 tensors. Reading checks magic, version, header, dtype, byte order, shape and size.
 * dtype strings: "<f4" f32, "<f2" f16, "<u2" bf16 bits (docs/formats.md). */
typedef struct deft_npy {
    char descr[8];           /* "<f4", "<f2", "<u2" */
    int ndim;
    int64_t shape[8];
    void *data;              /* malloc'd, descr-typed, C order */
    size_t nbytes;
} deft_npy;

/* On success out->data is never NULL (a 1-byte block for 0 elements); on failure nothing is
 * left allocated. Numbers in tree files are read and written in the C locale's format: keep
 * LC_NUMERIC at "C" in programs that call these. */
deft_status deft_npy_parse(const void *bytes, size_t len, deft_npy *out, deft_diag *diag);
deft_status deft_npy_read(const char *path, deft_npy *out, deft_diag *diag);
deft_status deft_npy_write(const char *path, const char *descr, int ndim, const int64_t *shape,
                           const void *data, deft_diag *diag);
void deft_npy_free(deft_npy *a);
/* Reads path, requiring descr and exactly this shape; on success *data is malloc'd. */
deft_status deft_npy_read_expect(const char *path, const char *descr, int ndim,
                                 const int64_t *shape, void **data, deft_diag *diag);

/* Case directories. deft_case_read needs tree.txt, q.npy, k.npy, v.npy; out.npy and lse.npy are
 * read when present. deft_case_write writes the inputs, and out/lse when non-NULL. */
deft_status deft_case_read(const char *dir, deft_case *c, deft_diag *diag);
deft_status deft_case_write(const char *dir, const deft_case *c, deft_diag *diag);

/* ---------------------------------------------------------------------------------------------
 * Generators (../shared/workloads.md): fewshot, fewshot50, tot, specstar, specdec, wide,
 * levels:SPEC and random:SEED. Data are seeded uniform values, reproducible bit for bit.
 */
typedef struct deft_gen_options {
    uint64_t seed;           /* data seed (random:SEED takes its own seed from the spec) */
    int64_t hq, hkv, d;      /* 0 = the workload's default (32, 8, 128; random picks its own) */
    int dtype;               /* -1 = the workload's default (f32; random picks its own) */
} deft_gen_options;

void deft_gen_options_default(deft_gen_options *o);
deft_status deft_generate(const char *spec, const deft_gen_options *opt, deft_case *c,
                          deft_diag *diag);
/* The standard workload names, NULL-terminated. */
const char *const *deft_workload_names(void);

#ifdef __cplusplus
}
#endif
#endif /* DEFT_H */
