/* check.c: `deft check`, judging an output against the reference: from files (a kernel in any
 * language), from a registered implementation, or from a plugin; on one case, or on N seeded
 * random forests, stopping at the first mismatch with a reproducible case written to disk. */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define N_OPTS(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct {
    tool_opt *opts;
    int n;
} args;

static const char *get(const args *a, const char *name)
{
    return tool_get(a->opts, a->n, name);
}

/* The implementation under judgement: --impl NAME or --plugin LIB.so[:SYMBOL]. *owned is set
 * when it must be closed with deft_plugin_close. */
static const deft_impl *pick_impl(const args *a, int *owned)
{
    *owned = 0;
    if (get(a, "--impl")) {
        const deft_impl *impl = deft_impl_find(get(a, "--impl"));
        if (!impl) fprintf(stderr, "deft check: unknown implementation '%s' (see deft impls)\n", get(a, "--impl"));
        return impl;
    }
    const deft_impl *impl = NULL;
    deft_diag diag;
    deft_status st = deft_plugin_open(get(a, "--plugin"), &impl, &diag);
    if (st != DEFT_OK) {
        tool_fail("check", st, &diag);
        return NULL;
    }
    *owned = 1;
    return impl;
}

/* One case directory against --out files, --impl or --plugin. */
static int check_case(const args *a)
{
    deft_options opt;
    if (tool_run_options("check", a->opts, a->n, &opt)) return TOOL_EXIT_BAD;
    deft_case c;
    deft_diag diag;
    deft_status st = deft_case_read(get(a, "--case"), &c, &diag);
    if (st != DEFT_OK) return tool_fail("check", st, &diag);
    const deft_problem *p = &c.problem;
    float *o = NULL, *lse = NULL;
    const char *what = get(a, "--out");
    const deft_impl *impl = NULL;
    int owned = 0, code = TOOL_EXIT_BAD;
    if (what) {
        int64_t shape[3] = {deft_tree_total_q(&p->tree), p->shape.hq, p->shape.d};
        st = deft_npy_read_expect(what, "<f4", 3, shape, (void **)&o, &diag);
        if (st == DEFT_OK && get(a, "--lse"))
            st = deft_npy_read_expect(get(a, "--lse"), "<f4", 2, shape, (void **)&lse, &diag);
    } else if ((impl = pick_impl(a, &owned))) {
        what = impl->name;
        st = tool_run_impl(impl, p, &opt, &o, &lse, NULL, &diag);
    } else {
        deft_case_free(&c);
        return TOOL_EXIT_BAD;
    }
    deft_reference ref;
    memset(&ref, 0, sizeof ref);
    deft_report rep;
    if (st == DEFT_OK) st = deft_reference_compute(p, &ref, &diag);
    if (st == DEFT_OK) st = deft_compare(&ref, o, lse, NULL, &rep, &diag);
    if (st == DEFT_OK) {
        printf("%s against the reference on ", what);
        tool_describe(stdout, p, c.workload);
        printf("\n");
        deft_report_print(&rep, stdout);
        if (!lse) printf("  (give --lse FILE to check the LSE too)\n");
        code = rep.pass ? TOOL_EXIT_OK : TOOL_EXIT_MISMATCH;
    } else {
        tool_fail("check", st, &diag);
    }
    deft_reference_free(&ref);
    free(o), free(lse);
    if (owned) deft_plugin_close(impl);
    deft_case_free(&c);
    return code;
}

/* Writes the failing case, with the reference's answer, and says how to reproduce it. */
static void save_case(const args *a, deft_case *c, uint64_t seed)
{
    char dflt[64], cmd[600];
    snprintf(dflt, sizeof dflt, "deft-mismatch-%llu", (unsigned long long)seed);
    const char *dir = get(a, "--save") ? get(a, "--save") : dflt;
    deft_diag diag;
    deft_status st = tool_alloc_output(&c->problem, &c->out, &c->lse, &diag);
    if (st == DEFT_OK) st = deft_ref_attention(&c->problem, c->out, c->lse, &diag);
    if (st == DEFT_OK) st = deft_case_write(dir, c, &diag);
    if (st != DEFT_OK) {
        tool_fail("check", st, &diag);
        return;
    }
    snprintf(cmd, sizeof cmd, "deft check --case %.200s %s %.300s", dir,
             get(a, "--impl") ? "--impl" : "--plugin", get(a, "--impl") ? get(a, "--impl") : get(a, "--plugin"));
    printf("  case written to %s; reproduce with: %s\n", dir, cmd);
}

/* N seeded random forests, stopping at the first mismatch or nondeterminism. */
static int check_random(const args *a)
{
    deft_options opt;
    int64_t n, seed = 0;
    if (tool_run_options("check", a->opts, a->n, &opt) || tool_int("check", "--random", get(a, "--random"), 1, INT32_MAX, &n) ||
        (get(a, "--seed") && tool_int("check", "--seed", get(a, "--seed"), 0, INT64_MAX / 2, &seed)))
        return TOOL_EXIT_BAD;
    int owned;
    const deft_impl *impl = pick_impl(a, &owned);
    if (!impl) return TOOL_EXIT_BAD;
    int check_bits = get(a, "--allow-nondeterminism") == NULL;
    int64_t passed = 0, skipped = 0;
    int code = TOOL_EXIT_OK;
    char first_skip[256] = "";
    for (int64_t i = 0; i < n && code == TOOL_EXIT_OK; i++) {
        char spec[48];
        snprintf(spec, sizeof spec, "random:%lld", (long long)(seed + i));
        deft_case c;
        deft_diag diag;
        deft_status st = deft_generate(spec, NULL, &c, &diag);
        if (st != DEFT_OK) {
            code = tool_fail("check", st, &diag);
            break;
        }
        const deft_problem *p = &c.problem;
        float *o = NULL, *lse = NULL, *o2 = NULL, *lse2 = NULL;
        st = tool_run_impl(impl, p, &opt, &o, &lse, NULL, &diag);
        if (st == DEFT_ERR_UNSUPPORTED) {
            if (!skipped++) snprintf(first_skip, sizeof first_skip, "%s: %.200s", spec, diag.message);
            deft_case_free(&c);
            continue;
        }
        deft_reference ref;
        memset(&ref, 0, sizeof ref);
        deft_report rep;
        if (st == DEFT_OK) st = deft_reference_compute(p, &ref, &diag);
        if (st == DEFT_OK) st = deft_compare(&ref, o, lse, NULL, &rep, &diag);
        if (st != DEFT_OK) {
            printf("%s: ", spec);
            code = tool_fail("check", st, &diag);
        } else if (!rep.pass) {
            printf("MISMATCH on %s: ", spec);
            tool_describe(stdout, p, spec);
            printf("\n");
            deft_report_print(&rep, stdout);
            save_case(a, &c, (uint64_t)(seed + i));
            code = TOOL_EXIT_MISMATCH;
        } else if (check_bits) {
            st = tool_run_impl(impl, p, &opt, &o2, &lse2, NULL, &diag);
            size_t no = (size_t)ref.total_q * (size_t)ref.hq, nd = no * (size_t)ref.d;
            if (st != DEFT_OK) {
                code = tool_fail("check", st, &diag);
            } else if (memcmp(o, o2, nd * 4) || memcmp(lse, lse2, no * 4)) {
                printf("NONDETERMINISTIC on %s: two runs on the same input differ in some bits "
                       "(--allow-nondeterminism to accept)\n", spec);
                save_case(a, &c, (uint64_t)(seed + i));
                code = TOOL_EXIT_MISMATCH;
            }
        }
        if (code == TOOL_EXIT_OK) passed++;
        deft_reference_free(&ref);
        free(o), free(lse), free(o2), free(lse2);
        deft_case_free(&c);
    }
    printf("%s on random forests %lld..: %lld passed, %lld skipped (declined), %s\n", impl->name,
           (long long)seed, (long long)passed, (long long)skipped,
           code == TOOL_EXIT_OK ? "0 failed" : "stopped at the first failure");
    if (skipped) printf("  first declined: %s\n", first_skip);
    if (code == TOOL_EXIT_OK && passed == 0) {
        /* a kernel that declines everything has not been shown right: never a pass */
        fprintf(stderr, "deft check: %s declined all %lld forests: nothing was checked\n", impl->name,
                (long long)n);
        code = TOOL_EXIT_BAD;
    }
    if (owned) deft_plugin_close(impl);
    return code;
}

int cmd_check(int argc, char **argv)
{
    tool_opt opts[] = {{"--case", 0, NULL},          {"--out", 0, NULL},
                       {"--lse", 0, NULL},           {"--impl", 0, NULL},
                       {"--plugin", 0, NULL},        {"--random", 0, NULL},
                       {"--seed", 0, NULL},          {"--save", 0, NULL},
                       {"--allow-nondeterminism", 1, NULL},
                       {"--chunk-tokens", 0, NULL},  {"--chunk-queries", 0, NULL},
                       {"--threads", 0, NULL}};
    args a = {opts, N_OPTS(opts)};
    int r = tool_parse(argc, argv, opts, a.n, "check");
    int sources = !!get(&a, "--out") + !!get(&a, "--impl") + !!get(&a, "--plugin");
    int random = get(&a, "--random") != NULL, have_case = get(&a, "--case") != NULL;
    int usable = random ? (!have_case && !get(&a, "--out") && sources == 1) : (have_case && sources == 1);
    if (r > 0 || (r == 0 && !usable)) {
        FILE *f = r > 0 ? stdout : stderr;
        fprintf(f,
                "usage: deft check --case DIR (--out FILE [--lse FILE] | --impl NAME | --plugin LIB.so[:SYM])\n"
                "       deft check --random N [--seed S] [--save DIR] [--allow-nondeterminism]\n"
                "                  (--impl NAME | --plugin LIB.so[:SYM])\n"
                "       run options: --chunk-tokens N --chunk-queries N --threads N\n\n"
                "Judges an output against the reference computed from the inputs, under the tolerance\n"
                "model of docs/validation.md. Files are float32 .npy: O (total_q, Hq, D) and LSE\n"
                "(total_q, Hq), natural log. --random runs N seeded random forests (random:S ..\n"
                "random:S+N-1), each twice to check the bits agree, and stops at the first mismatch,\n"
                "writing that case to --save DIR (default deft-mismatch-SEED). Cases the\n"
                "implementation declines count as skipped, never as passed; when it declines them all,\n"
                "nothing was checked and the exit is 2. Exit 0 pass, 1 mismatch, 2 bad input.\n");
        return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_BAD;
    }
    if (r < 0) return TOOL_EXIT_BAD;
    return random ? check_random(&a) : check_case(&a);
}
