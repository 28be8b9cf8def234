/* differential.c: every path against the reference on the problems the bytes decode to (decode.c,
 * differential profile: small valid forests of any topology, GQA ratios 1-8, odd head dims, three
 * dtypes, extreme and non-finite data). For each implementation (cpu and cpu-seq, or those listed
 * in DEFT_FUZZ_IMPLS, and the plugin named by DEFT_FUZZ_PLUGIN=LIB.so[:SYMBOL]) the outputs are
 * poisoned with NaN and guarded by canaries, the run is judged by deft_compare under the default tolerance model, inputs must come
 * back unchanged, and a second run must give the same bits (DEFT_FUZZ_NO_DETERMINISM=1 skips that
 * for third-party kernels). Any failure aborts, so AFL++ saves the input; build/fuzz/tocase INPUT
 * DIR turns it into a case directory that `deft check` reproduces. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "driver.h"

const char fuzz_harness_name[] = "differential";

#define MAX_IMPLS 8
#define CANARY 16 /* guard floats past the end of o and lse */

static const deft_impl *impls[MAX_IMPLS];
static int n_impls, plugin_index = -1, check_determinism = 1;
static const char *plugin_spec;

static void close_plugin(void)
{
    if (plugin_index >= 0) deft_plugin_close(impls[plugin_index]);
    plugin_index = -1;
}

/* DEFT_FUZZ_IMPLS: the registered implementations to judge, comma-separated (default cpu,cpu-seq;
 * "none" for a plugin alone). */
static void add_registered(void)
{
    const char *list = getenv("DEFT_FUZZ_IMPLS");
    if (!list) list = "cpu,cpu-seq";
    while (*list) {
        size_t n = strcspn(list, ",");
        char name[64];
        if (n > 0 && n < sizeof name && !(n == 4 && !strncmp(list, "none", 4))) {
            memcpy(name, list, n);
            name[n] = '\0';
            const deft_impl *im = deft_impl_find(name);
            if (!im || n_impls == MAX_IMPLS - 1) {
                fprintf(stderr, "differential: DEFT_FUZZ_IMPLS: unknown implementation '%s'\n", name);
                exit(2);
            }
            impls[n_impls++] = im;
        }
        list += n + (list[n] == ',');
    }
}

void fuzz_setup(void)
{
    add_registered();
    const char *spec = getenv("DEFT_FUZZ_PLUGIN");
    if (spec && spec[0]) {
        deft_diag diag;
        deft_status st = deft_plugin_open(spec, &impls[n_impls], &diag);
        if (st != DEFT_OK) {
            fprintf(stderr, "differential: %s: %s\n", spec, diag.message);
            exit(2);
        }
        plugin_index = n_impls++;
        plugin_spec = spec;
        atexit(close_plugin);
    }
    const char *nd = getenv("DEFT_FUZZ_NO_DETERMINISM");
    check_determinism = !(nd && nd[0] && strcmp(nd, "0"));
}

/* A canary pattern no kernel writes by accident: a signalling-NaN bit pattern. */
static const uint32_t canary_bits = 0x7fa5a5a5u;

typedef struct outputs {
    float *o, *lse;
    size_t n_o, n_lse;
} outputs;

static void outputs_alloc(outputs *out, size_t n_o, size_t n_lse)
{
    out->n_o = n_o;
    out->n_lse = n_lse;
    out->o = malloc((n_o + CANARY) * sizeof(float));
    out->lse = malloc((n_lse + CANARY) * sizeof(float));
    if (!out->o || !out->lse) fuzz_fail("out of memory");
}

static void outputs_free(outputs *out)
{
    free(out->o);
    free(out->lse);
}

/* NaN in every element an implementation must write; the canary past the end. */
static void poison(outputs *out)
{
    for (size_t i = 0; i < out->n_o; i++) out->o[i] = NAN;
    for (size_t i = 0; i < out->n_lse; i++) out->lse[i] = NAN;
    for (size_t i = 0; i < CANARY; i++) {
        memcpy(&out->o[out->n_o + i], &canary_bits, sizeof canary_bits);
        memcpy(&out->lse[out->n_lse + i], &canary_bits, sizeof canary_bits);
    }
}

static int canaries_intact(const outputs *out)
{
    for (size_t i = 0; i < CANARY; i++)
        if (memcmp(&out->o[out->n_o + i], &canary_bits, sizeof canary_bits) ||
            memcmp(&out->lse[out->n_lse + i], &canary_bits, sizeof canary_bits))
            return 0;
    return 1;
}

static void describe_failure(const fuzz_case *fc, const deft_impl *im)
{
    fprintf(stderr, "deft fuzz differential: %s on ", im->name);
    fuzz_case_describe(stderr, fc);
    fprintf(stderr, "  reproduce: build/fuzz/tocase %s DIR && build/deft check --case DIR ",
            fuzz_input_name);
    if (plugin_index >= 0 && im == impls[plugin_index]) {
        fprintf(stderr, "--plugin %s\n", plugin_spec);
        return;
    }
    fprintf(stderr, "--impl %s", im->name);
    if (fc->opt.chunk_tokens) fprintf(stderr, " --chunk-tokens %lld", (long long)fc->opt.chunk_tokens);
    if (fc->opt.chunk_queries) fprintf(stderr, " --chunk-queries %lld", (long long)fc->opt.chunk_queries);
    fprintf(stderr, "\n");
}

/* Runs im on the case into out (poisoned first); fails on an error status or a trampled canary.
 * Returns 0 when the implementation declined the problem. */
static int run_impl(const deft_impl *im, const fuzz_case *fc, outputs *out)
{
    const deft_problem *p = &fc->c.problem;
    deft_diag diag;
    poison(out);
    deft_status st = deft_impl_run(im, p, &fc->opt, out->o, out->lse, &diag);
    if (st == DEFT_ERR_UNSUPPORTED) return 0;
    if (st != DEFT_OK) {
        describe_failure(fc, im);
        fuzz_fail("%s returned %s on a valid problem: %s", im->name, deft_status_name(st), diag.message);
    }
    if (!canaries_intact(out)) {
        describe_failure(fc, im);
        fuzz_fail("%s wrote past the end of o or lse", im->name);
    }
    return 1;
}

/* Copies of q, k, v to check that no implementation writes its inputs. */
typedef struct inputs {
    void *q, *k, *v;
    size_t nq, nkv;
} inputs;

static void inputs_save(inputs *in, const deft_problem *p)
{
    size_t elem = deft_dtype_size(p->shape.dtype);
    in->nq = (size_t)(deft_tree_total_q(&p->tree) * p->shape.hq * p->shape.d) * elem;
    in->nkv = (size_t)(p->tree.total_kv * p->shape.hkv * p->shape.d) * elem;
    in->q = malloc(in->nq + 1);
    in->k = malloc(in->nkv + 1);
    in->v = malloc(in->nkv + 1);
    if (!in->q || !in->k || !in->v) fuzz_fail("out of memory");
    memcpy(in->q, p->q, in->nq);
    memcpy(in->k, p->k, in->nkv);
    memcpy(in->v, p->v, in->nkv);
}

static int inputs_same(const inputs *in, const deft_problem *p)
{
    return !memcmp(in->q, p->q, in->nq) && !memcmp(in->k, p->k, in->nkv) &&
           !memcmp(in->v, p->v, in->nkv);
}

static void inputs_free(inputs *in)
{
    free(in->q);
    free(in->k);
    free(in->v);
}

static void check_impl(const deft_impl *im, const fuzz_case *fc, const deft_reference *ref,
                       const inputs *in, outputs *a, outputs *b)
{
    const deft_problem *p = &fc->c.problem;
    deft_diag diag;
    deft_status sup = deft_impl_supports(im, p, &diag);
    if (sup == DEFT_ERR_UNSUPPORTED || sup == DEFT_ERR_DEVICE) return;
    if (sup != DEFT_OK) {
        describe_failure(fc, im);
        fuzz_fail("%s: supports returned %s on a valid problem: %s", im->name,
                  deft_status_name(sup), diag.message);
    }
    if (!run_impl(im, fc, a)) return;
    if (!inputs_same(in, p)) {
        describe_failure(fc, im);
        fuzz_fail("%s modified its inputs q, k or v", im->name);
    }
    deft_report rep;
    deft_status st = deft_compare(ref, a->o, a->lse, NULL, &rep, &diag);
    if (st != DEFT_OK) fuzz_fail("deft_compare: %s", diag.message);
    if (!rep.pass) {
        describe_failure(fc, im);
        deft_report_print(&rep, stderr);
        fuzz_fail("%s disagrees with the reference", im->name);
    }
    if (!check_determinism) return;
    if (!run_impl(im, fc, b)) {
        describe_failure(fc, im);
        fuzz_fail("%s ran once, then declined the same problem", im->name);
    }
    if (memcmp(a->o, b->o, a->n_o * sizeof(float)) || memcmp(a->lse, b->lse, a->n_lse * sizeof(float))) {
        size_t i = 0;
        while (i < a->n_o && !memcmp(&a->o[i], &b->o[i], sizeof(float))) i++;
        describe_failure(fc, im);
        fuzz_fail("%s is not deterministic: two runs differ (first at o[%zu]: %.9g vs %.9g)",
                  im->name, i, i < a->n_o ? a->o[i] : 0.0, i < a->n_o ? b->o[i] : 0.0);
    }
}

void fuzz_one(const uint8_t *data, size_t len)
{
    fuzz_case fc;
    deft_diag diag;
    deft_status st = fuzz_decode(data, len, FUZZ_PROFILE_DIFF, &fc, &diag);
    if (st == DEFT_ERR_NO_MEMORY) return;
    if (st != DEFT_OK) fuzz_fail("decode: %s: %s", deft_status_name(st), diag.message);
    const deft_problem *p = &fc.c.problem;

    deft_reference ref;
    st = deft_reference_compute(p, &ref, &diag);
    fuzz_check_status("reference compute", st, &diag);
    if (st != DEFT_OK) fuzz_fail("reference on a valid problem: %s", diag.message);
    size_t rows = (size_t)(deft_tree_total_q(&p->tree) * p->shape.hq);
    outputs a, b;
    outputs_alloc(&a, rows * (size_t)p->shape.d, rows);
    outputs_alloc(&b, rows * (size_t)p->shape.d, rows);
    inputs in;
    inputs_save(&in, p);
    for (int i = 0; i < n_impls; i++) check_impl(impls[i], &fc, &ref, &in, &a, &b);
    inputs_free(&in);
    outputs_free(&a);
    outputs_free(&b);
    deft_reference_free(&ref);
    fuzz_case_free(&fc);
}
