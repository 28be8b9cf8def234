/* parsers.c: the file parsers on arbitrary bytes. Every input goes to both the .npy reader
 * (deft_npy_parse) and the tree-file reader (deft_tree_file_parse). Each must return a known
 * status with a diagnostic that agrees, leave nothing allocated on failure (the driver's leak check)
 * and a zeroed case, never read past the input (the driver hands over exactly len bytes) and never
 * crash or hang. What parses must be valid and must survive a round trip through the writer:
 * write, read back, same problem (tree files) or same tensor (.npy). Each input is also parsed one
 * byte shorter. A failing input is its own reproducer: build/fuzz/replay_parsers FILE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

const char fuzz_harness_name[] = "parsers";

/* Scratch files for the round trips, made once per process. */
static char npy_path[64], tree_path[64];

static void remove_scratch(void)
{
    if (npy_path[0]) unlink(npy_path);
    if (tree_path[0]) unlink(tree_path);
}

static void make_scratch(char *path, size_t cap, const char *dir, const char *what)
{
    snprintf(path, cap, "%s/deft-fuzz-%s-XXXXXX", dir, what);
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "parsers: cannot create a scratch file in %s\n", dir);
        exit(2);
    }
    close(fd);
}

void fuzz_setup(void)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    make_scratch(npy_path, sizeof npy_path, dir, "npy");
    make_scratch(tree_path, sizeof tree_path, dir, "tree");
    atexit(remove_scratch);
}

static size_t descr_size(const char *descr)
{
    if (!strcmp(descr, "<f4")) return 4;
    if (!strcmp(descr, "<f2") || !strcmp(descr, "<u2")) return 2;
    return 0;
}

/* A parsed tensor: one of the three descrs, 0..8 dims, nbytes matching the shape, data present;
 * then written and read back unchanged. */
static void check_npy(const deft_npy *a)
{
    size_t item = descr_size(a->descr);
    if (!memchr(a->descr, 0, sizeof a->descr) || item == 0)
        fuzz_fail("npy parse accepted descr '%.8s'", a->descr);
    if (a->ndim < 0 || a->ndim > 8) fuzz_fail("npy parse accepted %d dimensions", a->ndim);
    if (!a->data) fuzz_fail("npy parse returned DEFT_OK with NULL data");
    size_t elems = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0) fuzz_fail("npy parse accepted dimension %lld", (long long)a->shape[i]);
        if (a->shape[i] && elems > SIZE_MAX / (size_t)a->shape[i])
            fuzz_fail("npy parse accepted a shape whose size overflows");
        elems *= (size_t)a->shape[i];
    }
    if (elems > SIZE_MAX / item || elems * item != a->nbytes)
        fuzz_fail("npy parse: nbytes %zu for %zu elements of %zu bytes", a->nbytes, elems, item);

    deft_diag diag;
    deft_status st = deft_npy_write(npy_path, a->descr, a->ndim, a->shape, a->data, &diag);
    fuzz_check_status("npy write", st, &diag);
    if (st != DEFT_OK) fuzz_fail("npy write of a parsed tensor: %s", diag.message);
    deft_npy b;
    st = deft_npy_read(npy_path, &b, &diag);
    fuzz_check_status("npy read", st, &diag);
    if (st != DEFT_OK) fuzz_fail("npy read of a written tensor: %s", diag.message);
    int same = !strcmp(a->descr, b.descr) && a->ndim == b.ndim && a->nbytes == b.nbytes &&
               !memcmp(a->shape, b.shape, (size_t)a->ndim * sizeof a->shape[0]) &&
               (a->nbytes == 0 || !memcmp(a->data, b.data, a->nbytes));
    deft_npy_free(&b);
    if (!same) fuzz_fail("npy round trip changed the tensor");
}

static int same_ints(const int64_t *a, const int64_t *b, int64_t n)
{
    if (!a || !b) return a == b;
    return n == 0 || !memcmp(a, b, (size_t)n * sizeof *a);
}

/* A parsed tree file: a valid forest and shape; then written and read back unchanged. */
static void check_tree(const deft_case *c)
{
    deft_diag diag;
    deft_status st = deft_tree_validate(&c->problem.tree, &diag);
    if (st == DEFT_OK) st = deft_shape_validate(&c->problem.shape, &diag);
    if (st != DEFT_OK) fuzz_fail("tree parse accepted an invalid problem: %s", diag.message);
    if (!memchr(c->workload, 0, sizeof c->workload)) fuzz_fail("tree parse: workload not terminated");

    st = deft_tree_file_write(tree_path, &c->problem, c->workload, &diag);
    fuzz_check_status("tree write", st, &diag);
    if (st != DEFT_OK) fuzz_fail("tree write of a parsed tree: %s", diag.message);
    deft_case b;
    st = deft_tree_file_read(tree_path, &b, &diag);
    fuzz_check_status("tree read", st, &diag);
    if (st != DEFT_OK) fuzz_fail("tree read of a written tree: %s", diag.message);
    const deft_tree *t = &c->problem.tree, *u = &b.problem.tree;
    const deft_shape *s = &c->problem.shape, *v = &b.problem.shape;
    int same = t->n_nodes == u->n_nodes && t->total_kv == u->total_kv &&
               same_ints(t->parent, u->parent, t->n_nodes) &&
               same_ints(t->kv_len, u->kv_len, t->n_nodes) &&
               same_ints(t->q_len, u->q_len, t->n_nodes) &&
               same_ints(t->kv_offset, u->kv_offset, t->n_nodes) && s->hq == v->hq &&
               s->hkv == v->hkv && s->d == v->d && s->dtype == v->dtype && s->scale == v->scale &&
               !strcmp(c->workload, b.workload);
    deft_case_free(&b);
    if (!same) fuzz_fail("tree file round trip changed the problem");
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static void parse_both(const uint8_t *data, size_t len)
{
    deft_diag diag;
    deft_npy a;
    deft_status st = deft_npy_parse(data, len, &a, &diag);
    fuzz_check_status("npy parse", st, &diag);
    if (st == DEFT_OK) {
        check_npy(&a);
        deft_npy_free(&a);
    }

    deft_case c;
    memset(&c, 0x5A, sizeof c); /* output only: whatever was there must not matter */
    st = deft_tree_file_parse((const char *)data, len, &c, &diag);
    fuzz_check_status("tree parse", st, &diag);
    if (st == DEFT_OK) {
        check_tree(&c);
        deft_case_free(&c);
    } else if (!is_zero(&c, sizeof c)) {
        fuzz_fail("tree parse failed (%s) but left the case non-zero", deft_status_name(st));
    }
}

/* The input, then the input one byte shorter (in a buffer of exactly that size, so an over-read
 * of one byte shows): random deletions rarely land exactly on a declared length, and off-by-one
 * length checks live there. */
void fuzz_one(const uint8_t *data, size_t len)
{
    parse_both(data, len);
    if (len == 0) return;
    uint8_t *shorter = malloc(len - 1 ? len - 1 : 1);
    if (!shorter) fuzz_fail("out of memory");
    memcpy(shorter, data, len - 1);
    parse_both(shorter, len - 1);
    free(shorter);
}
