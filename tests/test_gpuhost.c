/* test_gpuhost.c: the GPU path's host arithmetic (gpu/gpu_common.c), which is built and used with
 * or without CUDA, so it is tested here, on every machine: the chunk limits per shape, the ring's
 * slots, the workspace (its list of work units must hold the most units any plan can have: one
 * per 128-row query tile of every chunk, when every chunk streams), the chunk-size choice, and the
 * persistent blocks' first units (the head of the list classify_kernel writes on the device), the
 * small kernel's warps per item, the persistent kernel's blocks and which runs take steps of two
 * tiles. */
#include <stdint.h>

#include "testlib.h"
#include "../gpu/gpu_geom.h"

int deft_gpu_ring_slots(const deft_shape *s); /* gpu/gpu_common.c, internal */
void deft_gpu_first_units(const deft_plan *p, int64_t g, int qpu, int nslot, int want, deft_gpu_first *f);
int deft_gpu_small_warps(const deft_plan *plan, const deft_shape *s, int qpu, int force);
int deft_gpu_persistent_blocks(const deft_plan *plan, const deft_shape *s, int qpu, int sms);
int deft_gpu_steps(const deft_plan *plan, const deft_shape *s, int step_min);

static deft_shape shape(int64_t hq, int64_t hkv, int64_t d, deft_dtype dt)
{
    deft_shape s = {hq, hkv, d, 0.0, dt};
    return s;
}

START_TEST(chunk_limits_per_shape)
{
    deft_shape s128 = shape(32, 8, 128, DEFT_F16), s64 = shape(8, 2, 64, DEFT_BF16);
    deft_shape s256 = shape(4, 4, 256, DEFT_F16), f32 = shape(32, 8, 128, DEFT_F32);
    deft_shape d96 = shape(8, 2, 96, DEFT_F16);
    /* the ring: 227 KiB less the query tile and the split scratch, in 64-token slots */
    ck_assert_int_eq(deft_gpu_ring_slots(&s128), 4);
    ck_assert_int_eq(deft_gpu_ring_slots(&s64), 10);
    ck_assert_int_eq(deft_gpu_ring_slots(&s256), 2);
    ck_assert_int_eq(deft_gpu_ring_slots(&f32), 0);
    /* D <= 128 streams chunks longer than the ring; D = 256 keeps them resident */
    ck_assert_int_eq(deft_gpu_max_chunk_tokens(&s128), DEFT_GPU_MAX_CHUNK);
    ck_assert_int_eq(deft_gpu_max_chunk_tokens(&s64), DEFT_GPU_MAX_CHUNK);
    ck_assert_int_eq(deft_gpu_max_chunk_tokens(&s256), 2 * DEFT_GPU_TILE);
    ck_assert_int_eq(deft_gpu_max_chunk_tokens(&f32), 0);
    ck_assert_int_eq(deft_gpu_max_chunk_tokens(&d96), 0);
}
END_TEST

static size_t up256(size_t x)
{
    return (x + 255u) & ~(size_t)255u;
}

/* Workspace of plan p for shape s against the most units p can have, counted from the plan
 * itself: every chunk of more than 16 rows streamed, one unit per 128-row query tile. */
static void check_workspace(const deft_plan *p, const deft_shape *s, const char *what)
{
    size_t ws = deft_gpu_workspace_size(p, s);
    ck_assert_msg(ws > 0, "%s: workspace 0", what);
    int64_t g = s->hq / s->hkv, units = 0;
    for (int32_t c = 0; c < p->n_chunks; c++) {
        int64_t rows = (int64_t)(p->pair_start[c + 1] - p->pair_start[c]) * g;
        if (rows > DEFT_GPU_SMALL_ROWS) units += (rows + DEFT_GPU_QROWS - 1) / DEFT_GPU_QROWS;
    }
    size_t rows = (size_t)p->n_pairs * (size_t)s->hq;
    size_t fixed = up256(rows * (size_t)s->d * 4u) + up256(rows * 4u) + 256u;
    ck_assert_msg(ws >= fixed + (size_t)units * 8u,
                  "%s: workspace %zu < partials and counters %zu + %lld units of 8 bytes", what, ws,
                  fixed, (long long)units);
}

START_TEST(workspace_holds_every_unit)
{
    /* many chunks of few rows and few chunks of many rows, GQA 1 to 8, several chunk sizes */
    static const char *specs[] = {"levels:1,10_4096,416", "levels:1,64_300,17", "levels:64_33",
                                  "tot", "specdec", "random:5", "random:17"};
    static const int64_t heads[][2] = {{8, 8}, {8, 1}, {16, 2}, {32, 8}};
    static const int64_t cts[] = {7, 64, 1000, 8192};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        for (int h = 0; h < 4; h++) {
            deft_gen_options go;
            deft_case c;
            deft_diag d;
            deft_gen_options_default(&go);
            go.hq = heads[h][0], go.hkv = heads[h][1], go.d = 64, go.dtype = DEFT_F16;
            ck_assert_msg(deft_generate(specs[i], &go, &c, &d) == DEFT_OK, "%s: %s", specs[i], d.message);
            for (int k = 0; k < 4; k++) {
                deft_options o = {cts[k], k == 1 ? 3 : 0, 0};
                deft_plan p;
                ck_assert(deft_plan_build(&c.problem.tree, &o, &p, &d) == DEFT_OK);
                check_workspace(&p, &c.problem.shape, specs[i]);
                deft_plan_free(&p);
            }
            deft_case_free(&c);
        }
}
END_TEST

START_TEST(workspace_overflow_is_zero)
{
    /* counts and shape only: the sizes must not wrap */
    deft_plan p;
    memset(&p, 0, sizeof p);
    p.n_pairs = INT32_MAX, p.n_chunks = INT32_MAX;
    deft_shape s = shape((int64_t)1 << 40, 1, (int64_t)1 << 20, DEFT_F16);
    ck_assert_uint_eq(deft_gpu_workspace_size(&p, &s), 0);
    s = shape(32, 8, (int64_t)1 << 40, DEFT_F16);
    ck_assert_uint_eq(deft_gpu_workspace_size(&p, &s), 0);
    ck_assert_uint_eq(deft_gpu_workspace_size(NULL, &s), 0);
    p.n_pairs = 0;
    ck_assert_uint_eq(deft_gpu_workspace_size(&p, &s), 0);
}
END_TEST

START_TEST(chosen_chunk_is_a_candidate_that_fits)
{
    const char *const *names = deft_workload_names();
    static const int64_t dims[] = {64, 128, 256};
    for (int w = 0; names[w]; w++)
        for (int k = 0; k < 3; k++) {
            deft_gen_options go;
            deft_case c;
            deft_diag d;
            deft_gen_options_default(&go);
            go.hq = 8, go.hkv = 2, go.d = dims[k], go.dtype = DEFT_BF16;
            ck_assert(deft_generate(names[w], &go, &c, &d) == DEFT_OK);
            int64_t ct = deft_gpu_choose_chunk_tokens(&c.problem.tree, &c.problem.shape);
            int64_t cap = deft_gpu_max_chunk_tokens(&c.problem.shape);
            /* the candidates: multiples of 64 up to 1024, of 128 up to 2048, 256 up to 4096, 512 */
            int64_t step = ct <= 1024 ? 64 : ct <= 2048 ? 128 : ct <= 4096 ? 256 : 512;
            ck_assert_msg(ct >= 64 && ct <= cap && ct % step == 0, "%s D %lld: chunk %lld (cap %lld)",
                          names[w], (long long)dims[k], (long long)ct, (long long)cap);
            deft_case_free(&c);
        }
}
END_TEST

/* The first units must be the head of the device's list: the large chunks' units in plan order,
 * (chunk, 0), (chunk, 1), ..., as many per chunk as classify_kernel lists (one per 128-row query
 * tile when the chunk streams, more tiles than nslot; else qpu query tiles a unit, all of them
 * for qpu 0), and no small chunk. Each entry carries its chunk's words. */
/* units classify_kernel lists for chunk c: 0 for a small chunk */
static int64_t chunk_units(const deft_plan *p, int64_t g, int qpu, int nslot, int32_t c)
{
    int64_t rows = (int64_t)(p->pair_start[c + 1] - p->pair_start[c]) * g, len = p->chunk_len[c];
    if (DEFT_GPU_IS_SMALL(rows, len)) return 0;
    int64_t nqt = (rows + DEFT_GPU_QROWS - 1) / DEFT_GPU_QROWS;
    return (len + DEFT_GPU_TILE - 1) / DEFT_GPU_TILE > nslot ? nqt : qpu ? (nqt + qpu - 1) / qpu : 1;
}

static void check_first(const deft_plan *p, int64_t g, int qpu, int nslot, int want, const char *what)
{
    static deft_gpu_first f;
    deft_gpu_first_units(p, g, qpu, nslot, want, &f);
    int k = 0; /* the next entry expected */
    for (int32_t c = 0; c < p->n_chunks && k < f.n; c++) {
        int64_t units = chunk_units(p, g, qpu, nslot, c);
        for (int64_t j = 0; j < units && k < f.n; j++, k++) {
            const deft_gpu_first_unit *u = &f.u[k];
            ck_assert_msg(u->kv0 == p->chunk_kv_row[c] && u->len == p->chunk_len[c] && u->ps == p->pair_start[c] &&
                              u->pe == p->pair_start[c + 1] && u->j == j,
                          "%s (qpu %d, nslot %d, want %d): entry %d is (kv0 %d, len %d, pairs %d-%d, j %d), "
                          "expected chunk %d unit %lld", what, qpu, nslot, want, k, u->kv0, u->len, u->ps,
                          u->pe, u->j, c, (long long)j);
        }
    }
    ck_assert_msg(k == f.n, "%s: %d entries, only %d expected ones", what, f.n, k);
    int cap = want < DEFT_GPU_FIRST_MAX ? want : DEFT_GPU_FIRST_MAX;
    ck_assert_msg(f.n <= cap, "%s: %d entries for want %d", what, f.n, want);
    int64_t total = 0; /* the whole list's units, which the persistent kernel takes from f.total */
    for (int32_t c = 0; c < p->n_chunks; c++) total += chunk_units(p, g, qpu, nslot, c);
    ck_assert_msg(f.total == total, "%s: total %d, the list has %lld units", what, f.total, (long long)total);
    if (f.n < cap) /* the list was shorter: every large chunk's units are in */
        ck_assert_msg(f.n == total, "%s: %d entries of %lld units", what, f.n, (long long)total);
}

/* fn(plan, spec, chunk_tokens) on the plan of every tree of specs at every chunk size of cts: the
 * tree matters to the host arithmetic, not the data (generated at the smallest shape) */
typedef void (*plan_fn)(const deft_plan *p, const char *spec, int64_t ct);
static void for_each_plan(const char *const *specs, size_t n_specs, const int64_t *cts, size_t n_cts, plan_fn fn)
{
    for (size_t i = 0; i < n_specs; i++) {
        deft_gen_options go;
        deft_case c;
        deft_diag d;
        deft_gen_options_default(&go);
        go.hq = 1, go.hkv = 1, go.d = 8, go.dtype = DEFT_F16;
        ck_assert_msg(deft_generate(specs[i], &go, &c, &d) == DEFT_OK, "%s: %s", specs[i], d.message);
        for (size_t k = 0; k < n_cts; k++) {
            deft_options o = {cts[k], 0, 0};
            deft_plan p;
            ck_assert(deft_plan_build(&c.problem.tree, &o, &p, &d) == DEFT_OK);
            fn(&p, specs[i], cts[k]);
            deft_plan_free(&p);
        }
        deft_case_free(&c);
    }
}
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void first_units_of(const deft_plan *p, const char *spec, int64_t ct)
{
    static const int64_t gs[] = {1, 4, 8}; /* query heads per KV head: the plan is the tree's alone */
    static const int wants[] = {1, 17, 132, 1000};
    static const int qpus[][2] = {{0, 4}, {1, 4}, {2, 2}, {3, 10}}; /* qpu and ring slots */
    (void)ct;
    for (size_t h = 0; h < N_OF(gs); h++)
        for (size_t q = 0; q < N_OF(qpus); q++)
            for (size_t w = 0; w < N_OF(wants); w++) check_first(p, gs[h], qpus[q][0], qpus[q][1], wants[w], spec);
}
START_TEST(first_units_head_the_list)
{
    static const char *const specs[] = {"tot", "specdec", "wide", "levels:1,10_4096,416", "random:5", "random:17"};
    static const int64_t cts[] = {64, 512, 8192};
    for_each_plan(specs, N_OF(specs), cts, N_OF(cts), first_units_of);
}
END_TEST

/* The small kernel's blocks take 4 / W items of consecutive KV heads of one chunk, so W must be 1,
 * 2 or 4 with 4 / W dividing hkv, whatever the plan; a forced W is taken exactly when it is one
 * of those, and an impossible one falls back to the rule (so a measurement cannot break a run). */
static void small_warps_of(const deft_plan *p, const char *spec, int64_t ct)
{
    static const int64_t hkvs[] = {1, 2, 3, 4, 6, 8};
    for (size_t h = 0; h < N_OF(hkvs); h++) {
        deft_shape sh = shape(4 * hkvs[h], hkvs[h], 128, DEFT_F16);
        const int rule = deft_gpu_small_warps(p, &sh, 0, 0);
        ck_assert_msg((rule == 1 || rule == 2 || rule == 4) && hkvs[h] % (4 / rule) == 0,
                      "%s chunk %lld hkv %lld: W %d", spec, (long long)ct, (long long)hkvs[h], rule);
        for (int f = -1; f <= 5; f++) {
            const int w = deft_gpu_small_warps(p, &sh, 0, f);
            const int ok = (f == 1 || f == 2 || f == 4) && hkvs[h] % (4 / f) == 0;
            ck_assert_msg(w == (ok ? f : rule), "%s hkv %lld: forced %d gave %d (rule %d)", spec,
                          (long long)hkvs[h], f, w, rule);
        }
    }
}
START_TEST(small_warps_divide_the_heads)
{
    static const char *const specs[] = {"fewshot", "fewshot50", "tot", "specstar", "wide",
                                        "levels:1,4,16_512,256,128", "random:5", "random:17"};
    static const int64_t cts[] = {64, 384, 8192};
    for_each_plan(specs, N_OF(specs), cts, N_OF(cts), small_warps_of);
}
END_TEST

/* The persistent kernel launches deft_gpu_persistent_blocks blocks: at least one (a launch of none
 * fails, and its block triggers the small kernel's launch), at most one per SM, and no more than
 * there are large items, whatever the plan, the shape and the SM count. */
static void persistent_blocks_of(const deft_plan *p, const char *spec, int64_t ct)
{
    static const int sms[] = {1, 16, 132, 1000};
    for (int64_t hkv = 1; hkv <= 8; hkv *= 2) {
        deft_shape sh = shape(4 * hkv, hkv, 128, DEFT_F16);
        const int slots = deft_gpu_ring_slots(&sh);
        for (int qpu = 0; qpu < 3; qpu++) {
            int64_t items = 0;
            for (int32_t c = 0; c < p->n_chunks; c++) items += chunk_units(p, 4, qpu, slots, c);
            items *= hkv;
            for (size_t m = 0; m < N_OF(sms); m++) {
                const int b = deft_gpu_persistent_blocks(p, &sh, qpu, sms[m]);
                ck_assert_msg(b >= 1 && b <= sms[m] && (b <= items || b == 1),
                              "%s chunk %lld hkv %lld qpu %d sms %d: %d blocks for %lld items", spec, (long long)ct,
                              (long long)hkv, qpu, sms[m], b, (long long)items);
            }
        }
    }
}
START_TEST(persistent_blocks_fit)
{
    static const char *const specs[] = {"fewshot", "fewshot50", "tot", "specstar", "specdec", "wide",
                                        "levels:1,256_256,32", "random:5", "random:17"};
    static const int64_t cts[] = {64, 384, 1024, 8192};
    for_each_plan(specs, N_OF(specs), cts, N_OF(cts), persistent_blocks_of);
}
END_TEST

/* A run takes the persistent kernel with steps of two tiles (deft_gpu_steps) when some large
 * chunk streams (more tiles than the ring's 4 at D = 128), has at least step_min tiles and more
 * than 4 query tiles of rows; never at other D or dtypes, nor for step_min 0. */
static int steps_of(const char *spec, int64_t ct, int64_t d, deft_dtype dt, int step_min)
{
    deft_gen_options go;
    deft_case c;
    deft_diag diag;
    deft_gen_options_default(&go);
    go.hq = 1, go.hkv = 1, go.d = 8, go.dtype = DEFT_F16;
    ck_assert(deft_generate(spec, &go, &c, &diag) == DEFT_OK);
    deft_options o = {ct, 0, 0};
    deft_plan p;
    ck_assert(deft_plan_build(&c.problem.tree, &o, &p, &diag) == DEFT_OK);
    deft_shape sh = shape(32, 8, d, dt);
    const int r = deft_gpu_steps(&p, &sh, step_min);
    deft_plan_free(&p);
    deft_case_free(&c);
    return r;
}
START_TEST(steps_on_long_tall_streams)
{
    /* wide's root (1024 rows, 32000 tokens) in 4 even chunks of 8000 tokens: 125 tiles */
    ck_assert(steps_of("wide", 8192, 128, DEFT_F16, DEFT_GPU_STEP_MIN));
    ck_assert(steps_of("wide", 8192, 128, DEFT_BF16, 125));
    ck_assert(!steps_of("wide", 8192, 128, DEFT_F16, 126));
    ck_assert(!steps_of("wide", 8192, 128, DEFT_F16, 0));
    ck_assert(!steps_of("wide", 8192, 64, DEFT_F16, 1));
    ck_assert(!steps_of("wide", 8192, 256, DEFT_BF16, 1));
    ck_assert(!steps_of("wide", 8192, 128, DEFT_F32, 1));
    ck_assert(!steps_of("wide", 256, 128, DEFT_F16, 1)); /* 4 tiles: resident in the ring */
    ck_assert(steps_of("wide", 320, 128, DEFT_F16, 1));  /* 5 tiles: streamed */
    /* tot's root: 1080 rows over 1000 tokens (16 tiles) */
    ck_assert(steps_of("tot", 1024, 128, DEFT_F16, 16));
    ck_assert(!steps_of("tot", 1024, 128, DEFT_F16, 17));
    /* fewshot50's root has 200 rows: 2 query tiles */
    ck_assert(!steps_of("fewshot50", 4096, 128, DEFT_F16, 1));
    ck_assert(steps_of("levels:1,129_4000,1", 4096, 128, DEFT_F16, 1)); /* 516 rows */
    ck_assert(!steps_of("levels:1,128_4000,1", 4096, 128, DEFT_F16, 1)); /* 512 rows */
}
END_TEST

Suite *gpuhost_suite(void)
{
    Suite *s = suite_create("gpuhost");
    TCase *tc = tcase_create("arithmetic");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, chunk_limits_per_shape);
    tcase_add_test(tc, workspace_holds_every_unit);
    tcase_add_test(tc, workspace_overflow_is_zero);
    tcase_add_test(tc, chosen_chunk_is_a_candidate_that_fits);
    tcase_add_test(tc, first_units_head_the_list);
    tcase_add_test(tc, small_warps_divide_the_heads);
    tcase_add_test(tc, persistent_blocks_fit);
    tcase_add_test(tc, steps_on_long_tall_streams);
    suite_add_tcase(s, tc);
    return s;
}
