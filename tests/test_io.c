/* test_io.c: the file formats: .npy tensors, the "deft-tree 1" text file and case directories.
 * Round trips for every dtype and layout, NumPy's own bytes, and one test per rejection class
 * asserting its exact status (docs/formats.md). Files live in mkdtemp dirs, removed afterwards. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deft.h"
#include "testlib.h" /* io_suite's prototype */

/* ---- helpers ---------------------------------------------------------------------------------- */

/* A fresh directory under /tmp; the caller removes it with tmp_remove. */
static char *tmp_make(void)
{
    char *dir = strdup("/tmp/deft-io-XXXXXX");
    ck_assert_ptr_nonnull(dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

/* Removes dir and the files and (one level of) subdirectories in it. */
static void tmp_remove(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) tmp_remove(path);
            else unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The whole file, malloc'd. */
static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A .npy v<major>.0 of the given dict text: the dict padded with spaces and '\n' to a 64-byte
 * data start (as NumPy does), then ndata bytes 0x5a. Returns the total length. */
static size_t make_npy(unsigned char *buf, size_t cap, int major, const char *dict, size_t ndata)
{
    size_t pre = major >= 2 && major <= 3 ? 12 : 10, n = strlen(dict);
    size_t total = (pre + n + 1 + 63) / 64 * 64;
    ck_assert_uint_le(total + ndata, cap);
    size_t hlen = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (pre == 12) buf[10] = buf[11] = 0;
    memset(buf + pre, ' ', hlen);
    memcpy(buf + pre, dict, n);
    buf[total - 1] = '\n';
    memset(buf + total, 0x5a, ndata);
    return total + ndata;
}

static deft_status parse_dict(const char *dict, size_t ndata, deft_diag *diag)
{
    unsigned char buf[1024];
    size_t len = make_npy(buf, sizeof buf, 1, dict, ndata);
    deft_npy a;
    deft_status st = deft_npy_parse(buf, len, &a, diag);
    if (st != DEFT_OK) ck_assert_ptr_null(a.data);
    deft_npy_free(&a);
    return st;
}

/* ---- .npy ------------------------------------------------------------------------------------- */

static const char *const descrs[3] = {"<f4", "<f2", "<u2"};

/* Every descr through write, read and parse, for a scalar, 0-size and 1..8-D shapes. */
START_TEST(npy_roundtrip)
{
    static const struct {
        int ndim;
        int64_t shape[8];
    } shapes[] = {{0, {0}},          {1, {0}},          {1, {7}},
                  {2, {2, 3}},       {3, {2, 0, 5}},    {4, {1, 2, 3, 4}},
                  {3, {3, 1, 37}},   {8, {1, 1, 2, 1, 1, 3, 1, 1}}};
    const char *descr = descrs[_i];
    size_t item = _i == 0 ? 4 : 2;
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "t.npy");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t count = 1;
        for (int i = 0; i < shapes[s].ndim; i++) count *= (size_t)shapes[s].shape[i];
        size_t nbytes = count * item;
        unsigned char *data = malloc(nbytes + 1);
        for (size_t i = 0; i < nbytes; i++) data[i] = (unsigned char)(i * 37 + s + (size_t)_i);
        deft_diag diag;
        ck_assert_int_eq(deft_npy_write(path, descr, shapes[s].ndim, shapes[s].shape, data, &diag),
                         DEFT_OK);
        deft_npy a;
        ck_assert_msg(deft_npy_read(path, &a, &diag) == DEFT_OK, "%s", diag.message);
        ck_assert_str_eq(a.descr, descr);
        ck_assert_int_eq(a.ndim, shapes[s].ndim);
        for (int i = 0; i < a.ndim; i++) ck_assert_int_eq(a.shape[i], shapes[s].shape[i]);
        ck_assert_uint_eq(a.nbytes, nbytes);
        ck_assert_ptr_nonnull(a.data); /* documented: never NULL on success, even for 0 bytes */
        if (nbytes) ck_assert_mem_eq(a.data, data, nbytes);
        deft_npy_free(&a);
        ck_assert_ptr_null(a.data);

        /* the same bytes from memory; the data start is 64-byte aligned */
        size_t flen;
        unsigned char *file = read_all(path, &flen);
        ck_assert_uint_eq((flen - nbytes) % 64, 0);
        ck_assert_int_eq(deft_npy_parse(file, flen, &a, &diag), DEFT_OK);
        ck_assert_uint_eq(a.nbytes, nbytes);
        if (nbytes) ck_assert_mem_eq(a.data, data, nbytes);
        deft_npy_free(&a);

        /* read_expect hands over the buffer */
        void *got = NULL;
        ck_assert_int_eq(deft_npy_read_expect(path, descr, shapes[s].ndim, shapes[s].shape, &got,
                                              &diag),
                         DEFT_OK);
        ck_assert_ptr_nonnull(got);
        if (nbytes) ck_assert_mem_eq(got, data, nbytes);
        free(got);
        free(file);
        free(data);
    }
    tmp_remove(dir);
    free(dir);
}
END_TEST

/* np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3)) with NumPy >= 1.23 (1.24 included):
 * the sorted-key dict, 21 - len("2") = 20 spaces of growth room, then spaces and '\n' to 128. */
static const char numpy_header[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    "                                                          \n";

START_TEST(npy_numpy_bytes)
{
    ck_assert_uint_eq(sizeof numpy_header - 1, 128);
    unsigned char file[128 + 24];
    float want[6] = {0, 1, 2, 3, 4, 5};
    memcpy(file, numpy_header, 128);
    memcpy(file + 128, want, sizeof want); /* little-endian host, as the library assumes */
    deft_npy a;
    deft_diag diag;
    ck_assert_msg(deft_npy_parse(file, sizeof file, &a, &diag) == DEFT_OK, "%s", diag.message);
    ck_assert_str_eq(a.descr, "<f4");
    ck_assert_int_eq(a.ndim, 2);
    ck_assert_int_eq(a.shape[0], 2);
    ck_assert_int_eq(a.shape[1], 3);
    ck_assert_uint_eq(a.nbytes, 24);
    ck_assert_mem_eq(a.data, want, 24);
    deft_npy_free(&a);

    /* and our writer produces exactly these bytes */
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "a.npy");
    int64_t shape[2] = {2, 3};
    ck_assert_int_eq(deft_npy_write(path, "<f4", 2, shape, want, &diag), DEFT_OK);
    size_t len;
    unsigned char *got = read_all(path, &len);
    ck_assert_uint_eq(len, sizeof file);
    ck_assert_mem_eq(got, file, sizeof file);
    free(got);
    tmp_remove(dir);
    free(dir);
}
END_TEST

/* Older NumPy aligned to 16, version 2.0 has a 4-byte length, keys may come in any order. */
START_TEST(npy_header_variants)
{
    static const char old[] = "\x93NUMPY\x01\x00\x46\x00"
                              "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }            \n";
    unsigned char buf[256];
    ck_assert_uint_eq(sizeof old - 1, 80);
    memcpy(buf, old, 80);
    memset(buf + 80, 0, 6);
    deft_npy a;
    deft_diag diag;
    ck_assert_msg(deft_npy_parse(buf, 86, &a, &diag) == DEFT_OK, "%s", diag.message);
    ck_assert_int_eq(a.ndim, 1);
    ck_assert_int_eq(a.shape[0], 3);
    deft_npy_free(&a);

    size_t len = make_npy(buf, sizeof buf, 2, "{\"shape\":(4,1),'descr':'<u2' ,'fortran_order':False}", 8);
    ck_assert_msg(deft_npy_parse(buf, len, &a, &diag) == DEFT_OK, "%s", diag.message);
    ck_assert_str_eq(a.descr, "<u2");
    ck_assert_int_eq(a.ndim, 2);
    ck_assert_int_eq(a.shape[0], 4);
    deft_npy_free(&a);

    /* a header whose end is neither 64- nor 16-aligned */
    memcpy(buf, old, 80);
    buf[8] = 0x47;
    ck_assert_int_eq(deft_npy_parse(buf, 86, &a, &diag), DEFT_ERR_FORMAT);
}
END_TEST

START_TEST(npy_bad_magic)
{
    unsigned char buf[256];
    size_t len = make_npy(buf, sizeof buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    buf[5] = 'X';
    deft_npy a;
    deft_diag diag;
    ck_assert_int_eq(deft_npy_parse(buf, len, &a, &diag), DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "magic"));
    ck_assert_int_eq(deft_npy_parse("PK\x03\x04", 4, &a, &diag), DEFT_ERR_FORMAT);
}
END_TEST

START_TEST(npy_version_9)
{
    unsigned char buf[256];
    size_t len = make_npy(buf, sizeof buf, 9, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    deft_npy a;
    deft_diag diag;
    ck_assert_int_eq(deft_npy_parse(buf, len, &a, &diag), DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "9.0"));
}
END_TEST

START_TEST(npy_truncated_header)
{
    unsigned char file[152];
    memcpy(file, numpy_header, 128);
    memset(file + 128, 0, 24);
    deft_npy a;
    deft_diag diag;
    ck_assert_int_eq(deft_npy_parse(file, 60, &a, &diag), DEFT_ERR_TRUNCATED);
    ck_assert_int_eq(deft_npy_parse(file, 9, &a, &diag), DEFT_ERR_TRUNCATED);
    ck_assert_int_eq(deft_npy_parse(file, 0, &a, &diag), DEFT_ERR_TRUNCATED);
    /* every proper prefix fails cleanly, with nothing allocated */
    for (size_t n = 0; n < sizeof file; n++) {
        ck_assert_int_ne(deft_npy_parse(file, n, &a, NULL), DEFT_OK);
        ck_assert_ptr_null(a.data);
    }
}
END_TEST

START_TEST(npy_truncated_data)
{
    unsigned char file[152];
    memcpy(file, numpy_header, 128);
    memset(file + 128, 0, 24);
    deft_npy a;
    deft_diag diag;
    ck_assert_int_eq(deft_npy_parse(file, 148, &a, &diag), DEFT_ERR_TRUNCATED);
    ck_assert_ptr_null(a.data);
    /* and from a file */
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "short.npy");
    write_file(path, file, 140);
    ck_assert_int_eq(deft_npy_read(path, &a, &diag), DEFT_ERR_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(diag.message, path));
    tmp_remove(dir);
    free(dir);
}
END_TEST

START_TEST(npy_trailing_data)
{
    unsigned char file[160];
    memcpy(file, numpy_header, 128);
    memset(file + 128, 0, 32);
    deft_npy a;
    deft_diag diag;
    ck_assert_int_eq(deft_npy_parse(file, 156, &a, &diag), DEFT_ERR_FORMAT);
    ck_assert_ptr_null(a.data);
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "long.npy");
    write_file(path, file, 153);
    ck_assert_int_eq(deft_npy_read(path, &a, &diag), DEFT_ERR_FORMAT);
    tmp_remove(dir);
    free(dir);
}
END_TEST

START_TEST(npy_big_endian)
{
    deft_diag diag;
    ck_assert_int_eq(parse_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, &diag),
                     DEFT_ERR_DTYPE);
    ck_assert_ptr_nonnull(strstr(diag.message, "big-endian"));
}
END_TEST

START_TEST(npy_unknown_descr)
{
    deft_diag diag;
    ck_assert_int_eq(parse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, &diag),
                     DEFT_ERR_DTYPE);
    ck_assert_int_eq(parse_dict("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 2, &diag),
                     DEFT_ERR_DTYPE);
    ck_assert_int_eq(parse_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                                8, &diag),
                     DEFT_ERR_DTYPE);
}
END_TEST

START_TEST(npy_fortran_order)
{
    deft_diag diag;
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "fortran_order"));
}
END_TEST

START_TEST(npy_negative_dim)
{
    deft_diag diag;
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 0, &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "negative"));
}
END_TEST

START_TEST(npy_shape_overflow)
{
    deft_diag diag;
    /* 2^62 * 4 elements overflow int64; 2^61 * 4 elements of 4 bytes overflow the byte count */
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (4611686018427387904, 4), }", 0, &diag),
                     DEFT_ERR_OVERFLOW);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (2305843009213693952, 4), }", 0, &diag),
                     DEFT_ERR_OVERFLOW);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (99999999999999999999,), }", 0, &diag),
                     DEFT_ERR_OVERFLOW);
    /* a huge but valid size is checked against the bytes present before any allocation */
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (1048576, 1048576), }", 0, &diag),
                     DEFT_ERR_TRUNCATED);
    /* a zero dimension makes the rest irrelevant, as in NumPy */
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (0, 4611686018427387904, 4), }", 0, &diag),
                     DEFT_OK);
}
END_TEST

START_TEST(npy_ndim_9)
{
    deft_diag diag;
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2), }", 8, &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2,), }", 8, &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (1, 1, 1, 1, 1, 1, 1, 2), }", 8, &diag),
                     DEFT_OK);
}
END_TEST

START_TEST(npy_missing_key)
{
    deft_diag diag;
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, }", 4, &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "shape"));
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'shape': (1,), }", 4, &diag), DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "fortran_order"));
    /* and the other syntax errors a header can have */
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4,
                                &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
                                "'shape': (1,), }", 4, &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", 4, &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,) } x", 4,
                                &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, &diag),
                     DEFT_ERR_FORMAT);
}
END_TEST

/* Every single-byte change of a valid file either parses consistently or fails; never crashes
 * (the ASan/UBSan build of this test is the point). */
START_TEST(npy_byte_flips)
{
    unsigned char good[152], file[152];
    memcpy(good, numpy_header, 128);
    memset(good + 128, 0x3f, 24);
    static const unsigned char vals[] = {0, 0x7f, 0xff, '(', ')', ',', '-', '9', '\'', '}', ' ', '\n'};
    for (size_t pos = 0; pos < 128; pos++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(file, good, sizeof file);
            file[pos] = vals[v];
            deft_npy a;
            deft_status st = deft_npy_parse(file, sizeof file, &a, NULL);
            if (st == DEFT_OK) {
                ck_assert_ptr_nonnull(a.data);
                ck_assert_uint_le(a.nbytes, 24);
            } else {
                ck_assert_ptr_null(a.data);
            }
            deft_npy_free(&a);
        }
    }
}
END_TEST

START_TEST(npy_read_expect_mismatch)
{
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "q.npy");
    int64_t shape[3] = {2, 3, 4}, other[3] = {2, 3, 5};
    float data[24] = {0};
    deft_diag diag;
    ck_assert_int_eq(deft_npy_write(path, "<f4", 3, shape, data, &diag), DEFT_OK);
    void *got = (void *)1;
    ck_assert_int_eq(deft_npy_read_expect(path, "<f4", 3, other, &got, &diag), DEFT_ERR_SHAPE);
    ck_assert_ptr_null(got);
    ck_assert_ptr_nonnull(strstr(diag.message, "(2, 3, 4)"));
    ck_assert_ptr_nonnull(strstr(diag.message, "(2, 3, 5)"));
    ck_assert_int_eq(deft_npy_read_expect(path, "<f4", 2, shape, &got, &diag), DEFT_ERR_SHAPE);
    ck_assert_int_eq(deft_npy_read_expect(path, "<f2", 3, shape, &got, &diag), DEFT_ERR_DTYPE);
    ck_assert_ptr_null(got);
    ck_assert_ptr_nonnull(strstr(diag.message, "<f2"));
    ck_assert_int_eq(deft_npy_read_expect(path, "<u2", 3, shape, &got, &diag), DEFT_ERR_DTYPE);
    tmp_remove(dir);
    free(dir);
}
END_TEST

START_TEST(npy_nonexistent)
{
    deft_npy a;
    deft_diag diag;
    const char *path = "/nonexistent-deft-dir/x.npy";
    ck_assert_int_eq(deft_npy_read(path, &a, &diag), DEFT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(diag.message, path));
    ck_assert_ptr_nonnull(strstr(diag.message, "No such file"));
    int64_t shape[1] = {1};
    float x = 1;
    ck_assert_int_eq(deft_npy_write(path, "<f4", 1, shape, &x, &diag), DEFT_ERR_IO);
    ck_assert_int_eq(deft_npy_write("/tmp/never.npy", "<f8", 1, shape, &x, &diag), DEFT_ERR_DTYPE);
    /* a directory is not a tensor */
    ck_assert_int_eq(deft_npy_read("/tmp", &a, &diag), DEFT_ERR_IO);
}
END_TEST

/* ---- tree file -------------------------------------------------------------------------------- */

/* Six nodes, two roots, an empty node and queries in inner nodes. Given offsets lay the nodes out
 * backwards with gaps, so they differ from packed. */
static const int64_t t_parent[6] = {-1, 0, 0, 1, 1, -1};
static const int64_t t_kv_len[6] = {10, 3, 4, 2, 0, 5};
static const int64_t t_q_len[6] = {0, 1, 2, 2, 0, 5};
static const int64_t t_offset[6] = {20, 16, 11, 8, 8, 1};

static void sample_problem(deft_problem *p, int given, deft_dtype dtype, double scale)
{
    memset(p, 0, sizeof *p);
    p->tree.n_nodes = 6;
    p->tree.parent = t_parent;
    p->tree.kv_len = t_kv_len;
    p->tree.q_len = t_q_len;
    p->tree.kv_offset = given ? t_offset : NULL;
    p->tree.total_kv = given ? 31 : 24;
    p->shape.hq = 4;
    p->shape.hkv = 2;
    p->shape.d = 3;
    p->shape.scale = scale;
    p->shape.dtype = dtype;
}

static void assert_same_problem(const deft_problem *a, const deft_problem *b)
{
    ck_assert_int_eq(a->tree.n_nodes, b->tree.n_nodes);
    ck_assert_int_eq(a->tree.total_kv, b->tree.total_kv);
    for (int64_t i = 0; i < a->tree.n_nodes; i++) {
        ck_assert_int_eq(a->tree.parent[i], b->tree.parent[i]);
        ck_assert_int_eq(a->tree.kv_len[i], b->tree.kv_len[i]);
        ck_assert_int_eq(a->tree.q_len[i], b->tree.q_len[i]);
    }
    ck_assert_int_eq(!a->tree.kv_offset, !b->tree.kv_offset);
    if (a->tree.kv_offset)
        for (int64_t i = 0; i < a->tree.n_nodes; i++)
            ck_assert_int_eq(a->tree.kv_offset[i], b->tree.kv_offset[i]);
    ck_assert_int_eq(a->shape.hq, b->shape.hq);
    ck_assert_int_eq(a->shape.hkv, b->shape.hkv);
    ck_assert_int_eq(a->shape.d, b->shape.d);
    ck_assert_int_eq(a->shape.dtype, b->shape.dtype);
    ck_assert(a->shape.scale == b->shape.scale); /* bit-exact through %.17g */
}

/* _i: dtype (3) x offsets packed/given (2) x scale default/explicit (2). */
START_TEST(tree_roundtrip)
{
    deft_dtype dtype = (deft_dtype)(_i % 3);
    int given = (_i / 3) % 2;
    double scale = (_i / 6) ? 0.08838834764831845 : 0.0;
    deft_problem p;
    sample_problem(&p, given, dtype, scale);
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "tree.txt");
    deft_diag diag;
    const char *workload = _i % 2 ? "levels:1,4_100,10" : NULL;
    ck_assert_msg(deft_tree_file_write(path, &p, workload, &diag) == DEFT_OK, "%s", diag.message);
    deft_case c;
    ck_assert_msg(deft_tree_file_read(path, &c, &diag) == DEFT_OK, "%s", diag.message);
    assert_same_problem(&p, &c.problem);
    ck_assert_str_eq(c.workload, workload ? workload : "");
    ck_assert_ptr_eq(c.problem.tree.parent, c.parent);
    ck_assert_ptr_null(c.problem.q);
    ck_assert_int_eq(!c.kv_offset, !given);

    /* the text itself, through parse */
    size_t len;
    unsigned char *text = read_all(path, &len);
    ck_assert(memcmp(text, "deft-tree 1\n", 12) == 0);
    deft_case c2;
    ck_assert_int_eq(deft_tree_file_parse((const char *)text, len, &c2, &diag), DEFT_OK);
    assert_same_problem(&c.problem, &c2.problem);
    deft_case_free(&c2);
    deft_case_free(&c);
    free(text);
    tmp_remove(dir);
    free(dir);
}
END_TEST

static deft_status parse_text(const char *text, deft_diag *diag)
{
    deft_case c;
    deft_status st = deft_tree_file_parse(text, strlen(text), &c, diag);
    if (st != DEFT_OK) ck_assert_ptr_null(c.parent); /* left freed and empty */
    deft_case_free(&c);
    return st;
}

/* Comments, blank lines, CRLF and extra blanks are fine; total_kv defaults to the sum. */
START_TEST(tree_parse_tolerant)
{
    const char *text = "# a hand-written tree\n\n"
                       "deft-tree 1\r\n"
                       "workload   tot\n"
                       "   # comments anywhere\n"
                       "nodes 3\nheads 8\t2\ndim 64\ndtype bf16\nscale 1e-1\n"
                       "offsets packed\n"
                       "node  parent kv_len q_len\n"
                       "0 -1 100 0\n\n1 0 7 7\n2 0 3 1   \n"
                       "end\n# trailing comment\n\n";
    deft_case c;
    deft_diag diag;
    ck_assert_msg(deft_tree_file_parse(text, strlen(text), &c, &diag) == DEFT_OK, "%s",
                  diag.message);
    ck_assert_int_eq(c.problem.tree.n_nodes, 3);
    ck_assert_int_eq(c.problem.tree.total_kv, 110);
    ck_assert_int_eq(c.problem.shape.hq, 8);
    ck_assert_int_eq(c.problem.shape.hkv, 2);
    ck_assert_int_eq(c.problem.shape.d, 64);
    ck_assert_int_eq(c.problem.shape.dtype, DEFT_BF16);
    ck_assert(c.problem.shape.scale == 0.1);
    ck_assert_str_eq(c.workload, "tot");
    ck_assert_int_eq(c.q_len[1], 7);
    ck_assert_ptr_null(c.kv_offset);
    deft_case_free(&c);

    /* zero nodes is a valid, empty forest */
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 0\nheads 1 1\ndim 1\ndtype f32\nscale default\n"
                                "offsets packed\nnode parent kv_len q_len\nend\n", &diag),
                     DEFT_OK);
}
END_TEST

#define T_HEAD "deft-tree 1\nnodes 3\nheads 4 2\ndim 8\ndtype f16\nscale default\n"

START_TEST(tree_unknown_version)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text("deft-tree 2\nnodes 0\n", &diag), DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "'2'"));
    ck_assert_ptr_nonnull(strstr(diag.message, "line 1"));
    ck_assert_int_eq(parse_text("deft-forest 1\n", &diag), DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_text("", &diag), DEFT_ERR_TRUNCATED);
}
END_TEST

START_TEST(tree_missing_end)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text(T_HEAD "offsets packed\nnode parent kv_len q_len\n0 -1 4 0\n1 0 2 1\n"
                                       "2 0 2 1\n", &diag),
                     DEFT_ERR_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(diag.message, "end"));
    /* a file cut inside the keys */
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 3\nheads 4 2\n", &diag), DEFT_ERR_TRUNCATED);
}
END_TEST

START_TEST(tree_fewer_rows)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text(T_HEAD "offsets packed\nnode parent kv_len q_len\n0 -1 400 0\n"
                                       "1 0 20 10\nend\n", &diag),
                     DEFT_ERR_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(diag.message, "2 of 3"));
    /* a nodes line larger than the bytes left could hold fails before allocating */
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 60000000\nheads 4 2\ndim 8\ndtype f16\n"
                                "scale default\noffsets packed\nnode parent kv_len q_len\n0 -1 4 0\n"
                                "end\n", &diag),
                     DEFT_ERR_TRUNCATED);
}
END_TEST

START_TEST(tree_extra_rows)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text(T_HEAD "offsets packed\nnode parent kv_len q_len\n0 -1 4 0\n1 0 2 1\n"
                                       "2 0 2 1\n3 0 2 1\nend\n", &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "more rows"));
    ck_assert_int_eq(parse_text(T_HEAD "offsets packed\nnode parent kv_len q_len\n0 -1 4 0\n1 0 2 1\n"
                                       "2 0 2 1\nend\n0 -1 1 1\n", &diag),
                     DEFT_ERR_FORMAT);
}
END_TEST

START_TEST(tree_bad_number)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text(T_HEAD "offsets packed\nnode parent kv_len q_len\n0 -1 4x 0\n1 0 2 1\n"
                                       "2 0 2 1\nend\n", &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "line 9"));
    ck_assert_ptr_nonnull(strstr(diag.message, "kv_len"));
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 3\nheads 4 0x2\n", &diag), DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 1\nheads 4 2\ndim 8\ndtype f16\nscale 0.1.2\n",
                                &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 1\nheads 4 2\ndim 8\ndtype f16\nscale 1e999\n",
                                &diag),
                     DEFT_ERR_SCALE);
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 1\nheads 4 2 2\n", &diag), DEFT_ERR_FORMAT);
    /* an int64 out of range in a row */
    ck_assert_int_eq(parse_text(T_HEAD "offsets packed\nnode parent kv_len q_len\n"
                                       "0 -1 9223372036854775808 0\n1 0 2 1\n2 0 2 1\nend\n", &diag),
                     DEFT_ERR_OVERFLOW);
    /* keys out of order */
    ck_assert_int_eq(parse_text("deft-tree 1\nheads 4 2\nnodes 3\n", &diag), DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "expected 'nodes'"));
}
END_TEST

START_TEST(tree_node_order)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text(T_HEAD "offsets packed\nnode parent kv_len q_len\n0 -1 4 0\n2 0 2 1\n"
                                       "1 0 2 1\nend\n", &diag),
                     DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "expected node 1"));
}
END_TEST

START_TEST(tree_bad_parent)
{
    deft_diag diag;
    const char *text = "deft-tree 1\nnodes 6\nheads 4 2\ndim 8\ndtype f32\nscale default\n"
                       "offsets packed\nnode parent kv_len q_len\n"
                       "0 -1 4 0\n1 0 2 1\n2 0 2 1\n3 5 2 1\n4 0 1 1\n5 0 1 1\nend\n";
    ck_assert_int_eq(parse_text(text, &diag), DEFT_ERR_BAD_PARENT);
    ck_assert_ptr_nonnull(strstr(diag.message, "node 3"));
    ck_assert_int_eq(diag.node, 3);
    /* through a file, the path comes first */
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "tree.txt");
    write_file(path, text, strlen(text));
    deft_case c;
    ck_assert_int_eq(deft_tree_file_read(path, &c, &diag), DEFT_ERR_BAD_PARENT);
    ck_assert_ptr_nonnull(strstr(diag.message, path));
    ck_assert_ptr_nonnull(strstr(diag.message, "node 3"));
    ck_assert_ptr_null(c.parent);
    tmp_remove(dir);
    free(dir);
}
END_TEST

START_TEST(tree_nodes_huge)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 134217728\nheads 4 2\n", &diag),
                     DEFT_ERR_OVERFLOW);
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 99999999999999999999999\nheads 4 2\n", &diag),
                     DEFT_ERR_OVERFLOW);
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes -1\nheads 4 2\n", &diag), DEFT_ERR_FORMAT);
}
END_TEST

START_TEST(tree_embedded_nul)
{
    static const char text[] = T_HEAD "offsets packed\nnode parent kv_len q_len\n0 -1 4\0 0\n1 0 2 1\n"
                                      "2 0 2 1\nend\n";
    deft_case c;
    deft_diag diag;
    ck_assert_int_eq(deft_tree_file_parse(text, sizeof text - 1, &c, &diag), DEFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(diag.message, "NUL"));
    ck_assert_ptr_null(c.parent);
}
END_TEST

START_TEST(tree_unknown_dtype)
{
    deft_diag diag;
    ck_assert_int_eq(parse_text("deft-tree 1\nnodes 1\nheads 4 2\ndim 8\ndtype f64\n", &diag),
                     DEFT_ERR_DTYPE);
    ck_assert_ptr_nonnull(strstr(diag.message, "f64"));
}
END_TEST

START_TEST(tree_given_offsets_rules)
{
    deft_diag diag;
    /* given offsets need total_kv */
    ck_assert_int_eq(parse_text(T_HEAD "offsets given\nnode parent kv_len q_len kv_offset\n"
                                       "0 -1 4 0 0\n1 0 2 1 4\n2 0 2 1 6\nend\n", &diag),
                     DEFT_ERR_FORMAT);
    /* the column header must match the offsets mode */
    ck_assert_int_eq(parse_text(T_HEAD "total_kv 8\noffsets given\nnode parent kv_len q_len\n", &diag),
                     DEFT_ERR_FORMAT);
    /* overlapping given offsets come back from deft_tree_validate */
    ck_assert_int_eq(parse_text(T_HEAD "total_kv 8\noffsets given\nnode parent kv_len q_len kv_offset\n"
                                       "0 -1 4 0 0\n1 0 2 1 3\n2 0 2 1 6\nend\n", &diag),
                     DEFT_ERR_KV_OVERLAP);
    ck_assert_int_eq(parse_text(T_HEAD "total_kv 8\noffsets given\nnode parent kv_len q_len kv_offset\n"
                                       "0 -1 4 0 0\n1 0 2 1 4\n2 0 2 1 6\nend\n", &diag),
                     DEFT_OK);
}
END_TEST

/* Every prefix of a valid file fails cleanly (only the last '\n' may go). */
START_TEST(tree_prefixes)
{
    const char *text = "deft-tree 1\nworkload tot\nnodes 3\nheads 4 2\ndim 8\ndtype f16\n"
                       "scale 0.25\ntotal_kv 9\noffsets given\nnode parent kv_len q_len kv_offset\n"
                       "0 -1 4 0 5\n1 0 2 1 0\n2 0 2 1 2\nend\n";
    size_t n = strlen(text);
    for (size_t k = 0; k + 1 < n; k++) {
        char *copy = malloc(k + 1); /* exactly k bytes visible to ASan */
        memcpy(copy, text, k);
        deft_case c;
        ck_assert_int_ne(deft_tree_file_parse(copy, k, &c, NULL), DEFT_OK);
        ck_assert_ptr_null(c.parent);
        free(copy);
    }
    deft_case c;
    ck_assert_int_eq(deft_tree_file_parse(text, n - 1, &c, NULL), DEFT_OK);
    deft_case_free(&c);
    ck_assert_int_eq(deft_tree_file_parse(text, n, &c, NULL), DEFT_OK);
    deft_case_free(&c);
}
END_TEST

START_TEST(tree_write_rejects)
{
    deft_problem p;
    sample_problem(&p, 0, DEFT_F32, 0.0);
    deft_diag diag;
    char *dir = tmp_make(), path[4096];
    join(path, sizeof path, dir, "tree.txt");
    ck_assert_int_eq(deft_tree_file_write(path, &p, "two words", &diag), DEFT_ERR_ARG);
    int64_t bad_parent[6] = {-1, 0, 0, 5, 1, -1};
    p.tree.parent = bad_parent;
    ck_assert_int_eq(deft_tree_file_write(path, &p, NULL, &diag), DEFT_ERR_BAD_PARENT);
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing written */
    deft_case c;
    ck_assert_int_eq(deft_tree_file_read(path, &c, &diag), DEFT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(diag.message, "tree.txt"));
    tmp_remove(dir);
    free(dir);
}
END_TEST

/* ---- case directories ------------------------------------------------------------------------- */

/* The sample tree as a case with q/k/v filled with a byte pattern, and out/lse when asked. */
static void sample_case(deft_case *c, deft_dtype dtype, int given, int with_out)
{
    deft_problem p;
    sample_problem(&p, given, dtype, given ? 0.5 : 0.0);
    deft_diag diag;
    ck_assert_int_eq(deft_case_init(c, 6, given, &diag), DEFT_OK);
    for (int i = 0; i < 6; i++) {
        c->parent[i] = t_parent[i];
        c->kv_len[i] = t_kv_len[i];
        c->q_len[i] = t_q_len[i];
        if (given) c->kv_offset[i] = t_offset[i];
    }
    c->problem.tree.total_kv = p.tree.total_kv;
    c->problem.shape = p.shape;
    strcpy(c->workload, "random:7");
    ck_assert_msg(deft_case_alloc_data(c, &diag) == DEFT_OK, "%s", diag.message);
    size_t elem = deft_dtype_size(dtype);
    size_t qb = 10 * 4 * 3 * elem, kvb = (size_t)p.tree.total_kv * 2 * 3 * elem;
    for (size_t i = 0; i < qb; i++) ((unsigned char *)c->q)[i] = (unsigned char)(i * 7 + 1);
    for (size_t i = 0; i < kvb; i++) ((unsigned char *)c->k)[i] = (unsigned char)(i * 11 + 2);
    for (size_t i = 0; i < kvb; i++) ((unsigned char *)c->v)[i] = (unsigned char)(i * 13 + 3);
    if (with_out) {
        c->out = malloc(10 * 4 * 3 * sizeof(float));
        c->lse = malloc(10 * 4 * sizeof(float));
        for (int i = 0; i < 120; i++) c->out[i] = (float)i * 0.25f - 3.0f;
        for (int i = 0; i < 40; i++) c->lse[i] = (float)i * 0.5f;
    }
}

/* _i: dtype (3) x out/lse absent/present (2); offsets given on odd dtypes. */
START_TEST(case_roundtrip)
{
    deft_dtype dtype = (deft_dtype)(_i % 3);
    int with_out = _i / 3, given = _i % 2;
    deft_case c, r;
    sample_case(&c, dtype, given, with_out);
    char *dir = tmp_make(), sub[4096];
    join(sub, sizeof sub, dir, "case"); /* does not exist yet: write creates it */
    deft_diag diag;
    ck_assert_msg(deft_case_write(sub, &c, &diag) == DEFT_OK, "%s", diag.message);
    ck_assert_msg(deft_case_read(sub, &r, &diag) == DEFT_OK, "%s", diag.message);
    assert_same_problem(&c.problem, &r.problem);
    ck_assert_str_eq(r.workload, "random:7");
    size_t elem = deft_dtype_size(dtype), kvb = (size_t)c.problem.tree.total_kv * 6 * elem;
    ck_assert_ptr_eq(r.problem.q, r.q);
    ck_assert_mem_eq(r.q, c.q, 120 * elem);
    ck_assert_mem_eq(r.k, c.k, kvb);
    ck_assert_mem_eq(r.v, c.v, kvb);
    if (with_out) {
        ck_assert_ptr_nonnull(r.out);
        ck_assert_ptr_nonnull(r.lse);
        ck_assert_mem_eq(r.out, c.out, 120 * sizeof(float));
        ck_assert_mem_eq(r.lse, c.lse, 40 * sizeof(float));
    } else {
        ck_assert_ptr_null(r.out);
        ck_assert_ptr_null(r.lse);
    }
    /* writing again into the existing directory is fine */
    ck_assert_int_eq(deft_case_write(sub, &r, &diag), DEFT_OK);
    deft_case_free(&r);
    deft_case_free(&c);
    tmp_remove(dir);
    free(dir);
}
END_TEST

/* Rewriting a case without an answer removes the old out.npy/lse.npy. */
START_TEST(case_stale_answer_removed)
{
    deft_case c, r;
    sample_case(&c, DEFT_F32, 0, 1);
    char *dir = tmp_make(), path[4096];
    deft_diag diag;
    ck_assert_int_eq(deft_case_write(dir, &c, &diag), DEFT_OK);
    free(c.out);
    free(c.lse);
    c.out = NULL;
    c.lse = NULL;
    ck_assert_int_eq(deft_case_write(dir, &c, &diag), DEFT_OK);
    join(path, sizeof path, dir, "out.npy");
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(deft_case_read(dir, &r, &diag), DEFT_OK);
    ck_assert_ptr_null(r.out);
    deft_case_free(&r);
    deft_case_free(&c);
    tmp_remove(dir);
    free(dir);
}
END_TEST

START_TEST(case_wrong_q_shape)
{
    deft_case c, r;
    sample_case(&c, DEFT_F16, 0, 0);
    char *dir = tmp_make(), path[4096];
    deft_diag diag;
    ck_assert_int_eq(deft_case_write(dir, &c, &diag), DEFT_OK);
    join(path, sizeof path, dir, "q.npy");
    int64_t shape[3] = {11, 4, 3}; /* one query too many */
    static const unsigned char zeros[1024]; /* big enough for every tensor below */
    ck_assert_int_eq(deft_npy_write(path, "<f2", 3, shape, zeros, &diag), DEFT_OK);
    ck_assert_int_eq(deft_case_read(dir, &r, &diag), DEFT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(diag.message, "q.npy"));
    ck_assert_ptr_null(r.parent);
    ck_assert_ptr_null(r.q);
    /* and an out.npy of the wrong shape */
    shape[0] = 10;
    ck_assert_int_eq(deft_npy_write(path, "<f2", 3, shape, zeros, &diag), DEFT_OK);
    join(path, sizeof path, dir, "lse.npy");
    ck_assert_int_eq(deft_npy_write(path, "<f4", 3, shape, zeros, &diag), DEFT_OK);
    ck_assert_int_eq(deft_case_read(dir, &r, &diag), DEFT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(diag.message, "lse.npy"));
    /* and a k.npy of the wrong dtype */
    unlink(path);
    join(path, sizeof path, dir, "k.npy");
    int64_t kshape[3] = {24, 2, 3};
    ck_assert_int_eq(deft_npy_write(path, "<f4", 3, kshape, zeros, &diag), DEFT_OK);
    ck_assert_int_eq(deft_case_read(dir, &r, &diag), DEFT_ERR_DTYPE);
    deft_case_free(&c);
    tmp_remove(dir);
    free(dir);
}
END_TEST

START_TEST(case_missing_files)
{
    deft_case c, r;
    sample_case(&c, DEFT_BF16, 1, 1);
    char *dir = tmp_make(), path[4096];
    deft_diag diag;
    ck_assert_int_eq(deft_case_write(dir, &c, &diag), DEFT_OK);
    join(path, sizeof path, dir, "k.npy");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(deft_case_read(dir, &r, &diag), DEFT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(diag.message, "k.npy"));
    ck_assert_ptr_null(r.q); /* q was read, then freed */
    join(path, sizeof path, dir, "tree.txt");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(deft_case_read(dir, &r, &diag), DEFT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(diag.message, "tree.txt"));
    ck_assert_int_eq(deft_case_read("/nonexistent-deft-case", &r, &diag), DEFT_ERR_IO);
    deft_case_free(&c);
    tmp_remove(dir);
    free(dir);
}
END_TEST

START_TEST(case_init_and_free)
{
    deft_case c;
    deft_diag diag;
    memset(&c, 0, sizeof c);
    deft_case_free(&c); /* a zeroed case */
    deft_case_free(NULL);
    ck_assert_int_eq(deft_case_init(&c, 0, 1, &diag), DEFT_OK);
    ck_assert_ptr_nonnull(c.parent);
    ck_assert_ptr_nonnull(c.kv_offset);
    ck_assert_ptr_eq(c.problem.tree.kv_offset, c.kv_offset);
    ck_assert_int_eq(c.problem.tree.n_nodes, 0);
    ck_assert_str_eq(c.workload, "");
    c.problem.shape.hq = c.problem.shape.hkv = c.problem.shape.d = 1;
    ck_assert_int_eq(deft_case_alloc_data(&c, &diag), DEFT_OK);
    ck_assert_ptr_nonnull(c.q); /* zero elements, one byte */
    ck_assert_ptr_nonnull(c.k);
    deft_case_free(&c);
    ck_assert_ptr_null(c.parent);
    deft_case_free(&c); /* twice */
    ck_assert_int_eq(deft_case_init(&c, -1, 0, &diag), DEFT_ERR_NODE_COUNT);
    ck_assert_int_eq(deft_case_init(&c, 3, 0, &diag), DEFT_OK);
    ck_assert_ptr_null(c.kv_offset);
    for (int i = 0; i < 3; i++) c.parent[i] = -1; /* a valid forest of three empty roots */
    /* an invalid shape is refused before allocating */
    ck_assert_int_eq(deft_case_alloc_data(&c, &diag), DEFT_ERR_HEADS);
    ck_assert_ptr_null(c.q);
    deft_case_free(&c);
}
END_TEST

Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *npy = tcase_create("npy");
    tcase_add_loop_test(npy, npy_roundtrip, 0, 3);
    tcase_add_test(npy, npy_numpy_bytes);
    tcase_add_test(npy, npy_header_variants);
    tcase_add_test(npy, npy_bad_magic);
    tcase_add_test(npy, npy_version_9);
    tcase_add_test(npy, npy_truncated_header);
    tcase_add_test(npy, npy_truncated_data);
    tcase_add_test(npy, npy_trailing_data);
    tcase_add_test(npy, npy_big_endian);
    tcase_add_test(npy, npy_unknown_descr);
    tcase_add_test(npy, npy_fortran_order);
    tcase_add_test(npy, npy_negative_dim);
    tcase_add_test(npy, npy_shape_overflow);
    tcase_add_test(npy, npy_ndim_9);
    tcase_add_test(npy, npy_missing_key);
    tcase_add_test(npy, npy_byte_flips);
    tcase_add_test(npy, npy_read_expect_mismatch);
    tcase_add_test(npy, npy_nonexistent);
    suite_add_tcase(s, npy);

    TCase *tree = tcase_create("treefile");
    tcase_add_loop_test(tree, tree_roundtrip, 0, 12);
    tcase_add_test(tree, tree_parse_tolerant);
    tcase_add_test(tree, tree_unknown_version);
    tcase_add_test(tree, tree_missing_end);
    tcase_add_test(tree, tree_fewer_rows);
    tcase_add_test(tree, tree_extra_rows);
    tcase_add_test(tree, tree_bad_number);
    tcase_add_test(tree, tree_node_order);
    tcase_add_test(tree, tree_bad_parent);
    tcase_add_test(tree, tree_nodes_huge);
    tcase_add_test(tree, tree_embedded_nul);
    tcase_add_test(tree, tree_unknown_dtype);
    tcase_add_test(tree, tree_given_offsets_rules);
    tcase_add_test(tree, tree_prefixes);
    tcase_add_test(tree, tree_write_rejects);
    suite_add_tcase(s, tree);

    TCase *cs = tcase_create("case");
    tcase_add_loop_test(cs, case_roundtrip, 0, 6);
    tcase_add_test(cs, case_stale_answer_removed);
    tcase_add_test(cs, case_wrong_q_shape);
    tcase_add_test(cs, case_missing_files);
    tcase_add_test(cs, case_init_and_free);
    suite_add_tcase(s, cs);
    return s;
}
