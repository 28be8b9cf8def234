/* tocase.c: turns a differential-fuzzer input (a saved crash, a corpus file) into a case directory
 * (tree.txt, q/k/v.npy and the reference's out.npy/lse.npy) with the decoder the harness uses, so
 * `deft check --case DIR --impl NAME` or `--plugin LIB.so` reproduces a mismatch outside AFL++.
 *   usage: tocase INPUT DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

static int read_all(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown) free(buf);
        buf = grown;
        cap *= 2;
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc == 3 ? stdout : stderr,
                "usage: tocase INPUT DIR\n\nDecodes a differential-fuzzer input as the harness does and "
                "writes it as a case\ndirectory (with the reference's out.npy and lse.npy), then "
                "prints the deft check\ncommands that reproduce a mismatch.\n");
        return argc == 3 ? 0 : 2;
    }
    uint8_t *data;
    size_t len;
    if (read_all(argv[1], &data, &len)) {
        perror(argv[1]);
        return 2;
    }
    fuzz_case fc;
    deft_diag diag;
    deft_status st = fuzz_decode(data, len, FUZZ_PROFILE_DIFF, &fc, &diag);
    free(data);
    if (st != DEFT_OK) {
        fprintf(stderr, "tocase: %s: %s\n", argv[1], diag.message);
        return 2;
    }
    deft_case *c = &fc.c;
    size_t rows = (size_t)(deft_tree_total_q(&c->problem.tree) * c->problem.shape.hq);
    c->out = malloc((rows * (size_t)c->problem.shape.d + 1) * sizeof(float));
    c->lse = malloc((rows + 1) * sizeof(float));
    if (!c->out || !c->lse) {
        fprintf(stderr, "tocase: out of memory\n");
        fuzz_case_free(&fc);
        return 2;
    }
    st = deft_ref_attention(&c->problem, c->out, c->lse, &diag);
    if (st == DEFT_OK) st = deft_case_write(argv[2], c, &diag);
    if (st != DEFT_OK) {
        fprintf(stderr, "tocase: %s\n", diag.message);
        fuzz_case_free(&fc);
        return 2;
    }
    printf("tocase: %s -> %s\n  ", argv[1], argv[2]);
    fuzz_case_describe(stdout, &fc);
    printf("  reproduce: build/deft check --case %s --impl cpu", argv[2]);
    if (fc.opt.chunk_tokens) printf(" --chunk-tokens %lld", (long long)fc.opt.chunk_tokens);
    if (fc.opt.chunk_queries) printf(" --chunk-queries %lld", (long long)fc.opt.chunk_queries);
    printf("\n             build/deft check --case %s --impl cpu-seq\n", argv[2]);
    printf("             build/deft check --case %s --plugin LIB.so\n", argv[2]);
    fuzz_case_free(&fc);
    return 0;
}
