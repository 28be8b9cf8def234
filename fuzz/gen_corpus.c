/* gen_corpus.c: writes the seed corpora of the three harnesses (committed under fuzz/corpus/;
 * `make fuzz-corpus` regenerates them, deterministically). Seeds for plan and differential are
 * byte strings in decode.c's layout describing the shapes the house style asks for: a single node,
 * chains, stars, empty nodes, multi-root forests, queries in inner nodes, head dims 1, 3, 37, GQA
 * ratios 1/2/4/8, every dtype and data mode, given offsets with gaps, small chunks; plan adds big
 * nodes and raw invalid forests. Seeds for parsers are .npy files of each dtype and version and tree
 * files, valid and broken.
 *   usage: gen_corpus DIR   (writes DIR/parsers, DIR/plan, DIR/differential) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "deft.h"

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s\n", what);
    exit(1);
}

static void make_dir(const char *sub)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, sub);
    if (mkdir(path, 0755) && errno != EEXIST) die(path);
}

static void write_bytes(const char *sub, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", root, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f)) die(path);
}

static void write_text(const char *sub, const char *name, const char *text)
{
    write_bytes(sub, name, text, strlen(text));
}

/* ---- plan and differential: decode.c's byte layout -------------------------------------------- */

enum { F32 = 0, F16 = 1, BF16 = 2 };
enum { GIVEN = 4, RAW = 8, SCALE = 0x80 };
#define MODE(m) ((m) << 4)

typedef struct seed {
    unsigned flags;
    int hkv, ratio_log2, dim_index; /* dims: 1 2 3 4 8 16 32 37 64 */
    unsigned scale, chunk_tokens, chunk_queries, rng;
    int n;
    int parent[64], kv[64], q[64], place[64];
} seed;

static size_t encode(const seed *s, unsigned char *out)
{
    size_t k = 0;
    out[k++] = (unsigned char)s->flags;
    out[k++] = (unsigned char)s->n;
    out[k++] = (unsigned char)((s->hkv - 1) | (s->ratio_log2 << 2));
    out[k++] = (unsigned char)s->dim_index;
    out[k++] = (unsigned char)s->scale;
    out[k++] = (unsigned char)s->chunk_tokens;
    out[k++] = (unsigned char)s->chunk_queries;
    out[k++] = (unsigned char)s->rng;
    for (int i = 0; i < s->n; i++) {
        if (s->flags & RAW) {
            out[k++] = (unsigned char)(signed char)s->parent[i];
            out[k++] = (unsigned char)(signed char)s->kv[i];
            out[k++] = (unsigned char)(signed char)s->q[i];
        } else {
            out[k++] = (unsigned char)(s->parent[i] + 1); /* decoded as b % (i + 1) - 1 */
            out[k++] = (unsigned char)s->kv[i];
            out[k++] = (unsigned char)s->q[i];
        }
        if (s->flags & GIVEN) out[k++] = (unsigned char)s->place[i];
    }
    return k;
}

static void put(const char *sub, const char *name, const seed *s)
{
    unsigned char buf[8 + 4 * 64];
    write_bytes(sub, name, buf, encode(s, buf));
}

/* A node list: parent, kv_len, q_len triples. */
static void nodes(seed *s, int n, const int *triples)
{
    s->n = n;
    for (int i = 0; i < n; i++) {
        s->parent[i] = triples[3 * i];
        s->kv[i] = triples[3 * i + 1];
        s->q[i] = triples[3 * i + 2];
        s->place[i] = ((n - i) * 4 + (i % 4)) & 0xFF; /* reversed layout, gaps 0..3 */
    }
}

static seed base(unsigned flags, int hkv, int ratio_log2, int dim_index)
{
    seed s;
    memset(&s, 0, sizeof s);
    s.flags = flags;
    s.hkv = hkv;
    s.ratio_log2 = ratio_log2;
    s.dim_index = dim_index;
    s.rng = 7;
    return s;
}

static const int t_single[] = {-1, 8, 8};
static const int t_chain[] = {-1, 10, 0, 0, 5, 0, 1, 3, 0, 2, 1, 1};
static const int t_star[] = {-1, 12, 0, 0, 3, 1, 0, 3, 1, 0, 2, 1, 0, 1, 1, 0, 4, 2};
static const int t_forest[] = {-1, 6, 2, -1, 5, 1, 0, 3, 1, -1, 4, 4, 1, 2, 2, 3, 1, 1};
static const int t_empty[] = {-1, 0, 0, 0, 0, 0, 1, 4, 4, 0, 3, 1, -1, 0, 0, 4, 2, 1};
static const int t_inner[] = {-1, 6, 3, 0, 4, 2, 1, 2, 2, 0, 5, 0, 3, 3, 1};
static const int t_spec[] = {-1, 6, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 4, 1, 1, 5, 1, 1};
static const int t_split[] = {-1, 20, 0, 0, 9, 5, 0, 7, 7, 1, 3, 2};
static const int t_deep[] = {-1, 3, 1, 0, 3, 1, 1, 3, 1, 2, 3, 1, 3, 3, 1, 4, 3, 1, 5, 3, 3};

/* 24 nodes of a fixed pseudo-random forest, the largest the differential profile decodes. */
static void random_forest(seed *s, unsigned x)
{
    s->n = 24;
    for (int i = 0; i < 24; i++) {
        x = x * 1103515245u + 12345u;
        s->parent[i] = i == 0 || (x >> 16) % 5 == 0 ? -1 : (int)((x >> 8) % (unsigned)i);
        s->kv[i] = (int)((x >> 4) % 9);
        s->q[i] = s->kv[i] ? (int)((x >> 12) % (unsigned)(s->kv[i] + 1)) : 0;
        s->place[i] = (int)((x >> 20) & 0xFF);
    }
}

static void differential_seeds(const char *d)
{
    seed s;
    s = base(F32, 1, 0, 0);
    put(d, "empty-forest", &s);
    s = base(F32, 1, 0, 4);
    nodes(&s, 1, t_single);
    put(d, "single-prefill-f32-d8", &s);
    s = base(F16, 2, 1, 5);
    nodes(&s, 4, t_chain);
    put(d, "chain-decode-f16-d16-gqa2", &s);
    s = base(BF16, 1, 2, 6);
    nodes(&s, 6, t_star);
    put(d, "star-bf16-d32-mqa4", &s);
    s = base(F32, 3, 0, 2);
    nodes(&s, 6, t_forest);
    put(d, "forest-f32-d3-mha3", &s);
    s = base(F16, 2, 0, 0);
    nodes(&s, 6, t_empty);
    put(d, "empty-nodes-f16-d1", &s);
    s = base(BF16, 3, 0, 7);
    nodes(&s, 5, t_inner);
    put(d, "inner-queries-bf16-d37", &s);
    s = base(F32, 1, 3, 3);
    nodes(&s, 8, t_spec);
    put(d, "spec-tree-f32-d4-gqa8", &s);
    s = base(F32 | GIVEN, 2, 1, 4);
    nodes(&s, 6, t_forest);
    put(d, "given-offsets-gaps-f32", &s);
    s = base(F16, 1, 1, 3);
    nodes(&s, 4, t_split);
    s.chunk_tokens = 3;
    s.chunk_queries = 2;
    put(d, "chunks-3-queries-2-f16", &s);
    s = base(F32 | MODE(2), 2, 1, 2);
    nodes(&s, 7, t_deep);
    s.chunk_tokens = 2;
    put(d, "exact-deep-f32", &s);
    s = base(F16 | MODE(3), 1, 2, 4);
    nodes(&s, 6, t_star);
    put(d, "wide-f16", &s);
    s = base(BF16 | MODE(3), 2, 0, 3);
    nodes(&s, 6, t_forest);
    put(d, "wide-bf16", &s);
    s = base(F32 | MODE(4), 1, 1, 0);
    nodes(&s, 4, t_chain);
    put(d, "negative-scores-f32-d1", &s);
    s = base(BF16 | MODE(4), 2, 0, 4);
    nodes(&s, 6, t_empty);
    put(d, "negative-scores-bf16", &s);
    s = base(BF16 | MODE(5), 1, 1, 4);
    nodes(&s, 6, t_star);
    put(d, "huge-v-bf16", &s);
    s = base(F16 | MODE(5), 1, 0, 3);
    nodes(&s, 5, t_inner);
    put(d, "huge-v-f16", &s);
    s = base(F32 | MODE(6), 2, 1, 2);
    nodes(&s, 6, t_forest);
    put(d, "tiny-zero-f32", &s);
    s = base(F32 | MODE(7) | GIVEN, 1, 1, 3);
    nodes(&s, 6, t_star);
    put(d, "nonfinite-given-f32", &s);
    s = base(F16 | MODE(7), 3, 0, 1);
    nodes(&s, 5, t_inner);
    s.rng = 200;
    put(d, "nonfinite-f16", &s);
    s = base(F32 | SCALE, 1, 0, 4);
    nodes(&s, 4, t_split);
    s.scale = 14; /* 1e4: one token takes all the weight */
    put(d, "scale-1e4-f32", &s);
    s = base(BF16 | SCALE, 2, 1, 1);
    nodes(&s, 5, t_inner);
    s.scale = 5; /* -1 */
    put(d, "scale-negative-bf16", &s);
    s = base(F32, 1, 0, 8);
    nodes(&s, 4, t_chain);
    put(d, "d64-f32", &s);
    s = base(F16 | GIVEN, 1, 1, 2);
    random_forest(&s, 1);
    s.chunk_tokens = 4;
    s.chunk_queries = 3;
    put(d, "random-24-given-f16", &s);
    s = base(BF16, 2, 2, 0);
    random_forest(&s, 2);
    put(d, "random-24-bf16", &s);
}

static void plan_seeds(const char *d)
{
    seed s;
    s = base(F32, 1, 0, 0);
    put(d, "empty-forest", &s);
    s = base(F32, 1, 0, 0);
    nodes(&s, 1, t_single);
    put(d, "single", &s);
    s = base(F32, 1, 0, 0);
    nodes(&s, 4, t_chain);
    s.chunk_tokens = 2;
    put(d, "chain-chunks-2", &s);
    s = base(F32, 1, 0, 0);
    nodes(&s, 6, t_star);
    s.chunk_tokens = 1;
    s.chunk_queries = 1;
    put(d, "star-chunks-1-1", &s);
    s = base(F32 | GIVEN, 1, 0, 0);
    nodes(&s, 6, t_empty);
    put(d, "empty-nodes-given", &s);
    s = base(F32, 1, 0, 0);
    nodes(&s, 5, t_inner);
    s.chunk_tokens = 3;
    s.chunk_queries = 2;
    put(d, "inner-queries", &s);
    s = base(F32, 1, 0, 0);
    nodes(&s, 3, (const int[]){-1, 200, 0, 0, 230, 10, 0, 30, 30});
    put(d, "big-nodes-default-chunks", &s);
    s = base(F32 | GIVEN, 1, 0, 0);
    random_forest(&s, 3);
    s.chunk_tokens = 5;
    s.chunk_queries = 4;
    put(d, "random-24-given", &s);
    /* raw: invalid forests and options for the validators */
    s = base(RAW, 1, 0, 0);
    nodes(&s, 3, (const int[]){-1, 4, 1, 5, 2, 1, 0, 3, 1});
    put(d, "raw-bad-parent", &s);
    s = base(RAW, 1, 0, 0);
    nodes(&s, 2, (const int[]){-1, -3, 0, 0, 2, 1});
    put(d, "raw-negative-len", &s);
    s = base(RAW, 1, 0, 0);
    nodes(&s, 2, (const int[]){-1, 4, 0, 0, 2, 3});
    put(d, "raw-qlen-gt-kvlen", &s);
    s = base(RAW, 1, 0, 0);
    nodes(&s, 2, (const int[]){-1, 127, 0, 0, 127, 1});
    put(d, "raw-overflow", &s);
    s = base(RAW | GIVEN, 1, 0, 0);
    nodes(&s, 2, (const int[]){-1, 4, 1, 0, 4, 1});
    s.place[0] = 0;
    s.place[1] = 2; /* overlaps node 0 */
    s.rng = 8;      /* total_kv */
    put(d, "raw-overlap", &s);
    s = base(RAW | GIVEN, 1, 0, 0);
    nodes(&s, 2, (const int[]){-1, 4, 1, 0, 4, 1});
    s.place[0] = 0;
    s.place[1] = 6; /* 6..9 beyond total_kv 8 */
    s.rng = 8;
    put(d, "raw-kv-range", &s);
    s = base(RAW, 1, 0, 0);
    nodes(&s, 2, (const int[]){-1, 4, 1, 0, 4, 1});
    s.chunk_tokens = 0xFF; /* -1 */
    put(d, "raw-negative-chunk", &s);
}

/* ---- parsers: .npy and tree files ------------------------------------------------------------- */

static void npy_seed(const char *name, const char *descr, int ndim, const int64_t *shape,
                     const void *data)
{
    char path[4096];
    deft_diag diag;
    snprintf(path, sizeof path, "%s/parsers/%s", root, name);
    if (deft_npy_write(path, descr, ndim, shape, data, &diag) != DEFT_OK) die(diag.message);
}

/* A hand-made .npy: prelude of version major (1: 2-byte length, else 4), header text padded with
 * spaces so the data start at a multiple of align, then data. */
static void npy_raw(const char *name, int major, const char *dict, size_t align, const void *data,
                    size_t nbytes, size_t cut)
{
    unsigned char buf[1024];
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = pre + dl + 1;
    total = (total + align - 1) / align * align;
    size_t hl = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)(hl & 0xFF);
        buf[9] = (unsigned char)(hl >> 8);
    } else {
        for (int i = 0; i < 4; i++) buf[8 + i] = (unsigned char)(hl >> (8 * i));
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, nbytes);
    size_t len = total + nbytes;
    write_bytes("parsers", name, buf, cut && cut < len ? cut : len);
}

static const char tree_example[] =
    "deft-tree 1\n# comments start with '#'\nworkload tot\nnodes 4\nheads 32 8\ndim 128\n"
    "dtype f16\nscale default\ntotal_kv 1500\noffsets packed\nnode parent kv_len q_len\n"
    "0 -1 1000 0\n1 0 200 1\n2 0 200 1\n3 -1 100 100\nend\n";

static void parser_seeds(void)
{
    const char *d = "parsers";
    float f[24];
    uint16_t h[24], b[24];
    for (int i = 0; i < 24; i++) {
        f[i] = (float)(i - 11) / 4.0f;
        h[i] = deft_f32_to_f16(f[i]);
        b[i] = deft_f32_to_bf16(f[i]);
    }
    npy_seed("f32-2x3.npy", "<f4", 2, (const int64_t[]){2, 3}, f);
    npy_seed("f16-4.npy", "<f2", 1, (const int64_t[]){4}, h);
    npy_seed("bf16-1x2x3.npy", "<u2", 3, (const int64_t[]){1, 2, 3}, b);
    npy_seed("f32-scalar.npy", "<f4", 0, NULL, f);
    npy_seed("f16-empty-0x5.npy", "<f2", 2, (const int64_t[]){0, 5}, h);
    npy_seed("f32-8dims.npy", "<f4", 8, (const int64_t[]){1, 1, 1, 1, 1, 1, 2, 1}, f);
    npy_raw("v2-single-quotes.npy", 2, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }",
            64, h, 6, 0);
    npy_raw("v3-double-quotes-16.npy", 3,
            "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<u2\"}", 16, b, 8, 0);
    npy_raw("v1-aligned-16.npy", 1, "{'descr':'<f4','fortran_order':False,'shape':(2,)}", 16, f, 8, 0);
    npy_raw("bad-truncated.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
            64, f, 24, 80);
    npy_raw("bad-fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 64,
            f, 8, 0);
    npy_raw("bad-big-endian.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
            64, f, 8, 0);
    npy_raw("bad-extra-key.npy", 1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 64, f, 4, 0);
    npy_raw("bad-trailing-data.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
            64, h, 6, 0);
    write_bytes(d, "bad-magic.npy", "\x93NUMPX\x01\x00\x10\x00", 10);

    write_text(d, "tree-example.txt", tree_example);
    write_text(d, "tree-given.txt",
               "deft-tree 1\nnodes 3\nheads 4 2\ndim 8\ndtype bf16\nscale 0x1p-3\ntotal_kv 20\n"
               "offsets given\nnode parent kv_len q_len kv_offset\n0 -1 6 0 10\n1 0 2 1 0\n"
               "2 0 2 2 16\nend\n");
    write_text(d, "tree-crlf-comments.txt",
               "\r\n# a comment\r\ndeft-tree 1\r\n\r\nnodes 2\r\nheads 1 1\r\ndim 1\r\ndtype f32\r\n"
               "scale 1e-1\r\noffsets packed\r\nnode parent kv_len q_len\r\n0 -1 3 3\r\n"
               "\t# mid\r\n1 0 +02 1\r\nend\r\n# after\r\n");
    write_text(d, "tree-zero-nodes.txt",
               "deft-tree 1\nworkload levels:1,4_100,10\nnodes 0\nheads 8 8\ndim 64\ndtype f32\n"
               "scale default\ntotal_kv 0\noffsets packed\nnode parent kv_len q_len\nend\n");
    write_text(d, "bad-tree-no-end.txt",
               "deft-tree 1\nnodes 1\nheads 1 1\ndim 1\ndtype f32\nscale default\noffsets packed\n"
               "node parent kv_len q_len\n0 -1 1 1\n");
    write_text(d, "bad-tree-version.txt", "deft-tree 2\nnodes 0\n");
    write_text(d, "bad-tree-parent.txt",
               "deft-tree 1\nnodes 2\nheads 1 1\ndim 1\ndtype f16\nscale default\noffsets packed\n"
               "node parent kv_len q_len\n0 -1 1 1\n1 5 1 1\nend\n");
    write_text(d, "bad-tree-overflow.txt",
               "deft-tree 1\nnodes 99999999999999999999\nheads 1 1\n");
    write_bytes(d, "bad-tree-nul.txt", "deft-tree 1\nnodes 0\0\n", 21);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    root = argv[1];
    if (mkdir(root, 0755) && errno != EEXIST) die(root);
    make_dir("parsers");
    make_dir("plan");
    make_dir("differential");
    parser_seeds();
    plan_seeds("plan");
    differential_seeds("differential");
    return 0;
}
