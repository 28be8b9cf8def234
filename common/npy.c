/* npy.c: NumPy .npy tensors, the container of a case's q, k, v, out and lse (docs/formats.md).
 * Input side of every file-driven run: the parser trusts no byte (it is fuzzed under ASan/UBSan),
 * checks the declared size against the bytes present before allocating, and never recurses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deft.h"
#include "internal.h"

#define NPY_MAX_DIMS 8
/* NumPy itself refuses headers over 10000 bytes by default; 1 MiB bounds our reads of a lying
 * header length (version 2.0 stores it in 32 bits) long before it could hurt. */
#define NPY_MAX_HEADER (1u << 20)
/* NumPy >= 1.23 leaves this many characters after the dict so the first axis can grow in place. */
#define NPY_GROWTH_DIGITS 21
#define NPY_ALIGN 64

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Reports status s as "name: message" (the path, or "npy" for bytes in memory) and returns s. */
static deft_status npy_fail(deft_diag *diag, deft_status s, const char *name, const char *fmt, ...)
    DEFT_PRINTF(4, 5);
static deft_status npy_fail(deft_diag *diag, deft_status s, const char *name, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    deft_diag_set(diag, s, -1, "%s: %s", name, msg);
    return s;
}

/* Bytes of untrusted text shown in a message: printable ASCII kept, the rest '?', at most 24. */
static void npy_show(const unsigned char *s, size_t n, char out[32])
{
    size_t k = 0;
    for (; k < n && k < 24; k++) out[k] = (s[k] >= 0x20 && s[k] < 0x7f) ? (char)s[k] : '?';
    if (n > 24) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

/* The three descrs this library stores, and their element sizes. 0 for anything else. */
static size_t npy_descr_size(const char *descr)
{
    if (strcmp(descr, "<f4") == 0) return 4;
    if (strcmp(descr, "<f2") == 0 || strcmp(descr, "<u2") == 0) return 2;
    return 0;
}

/* ---- the prelude: magic, version, header length -------------------------------------------- */

/* From the first bytes (len may be short) finds where the data start: 10 + HEADER_LEN for
 * version 1.0 (uint16 length), 12 + HEADER_LEN for 2.0 and 3.0 (uint32 length). */
static deft_status npy_prelude(const unsigned char *b, size_t len, size_t *data_start,
                               const char *name, deft_diag *diag)
{
    size_t m = len < sizeof npy_magic ? len : sizeof npy_magic;
    if (memcmp(b, npy_magic, m) != 0)
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "not a .npy file (bad magic)");
    if (len < 8)
        return npy_fail(diag, DEFT_ERR_TRUNCATED, name, "%zu bytes, too short for a .npy prelude",
                        len);
    unsigned major = b[6], minor = b[7];
    size_t width;
    if (major == 1 && minor == 0) width = 2;
    else if ((major == 2 || major == 3) && minor == 0) width = 4;
    else
        return npy_fail(diag, DEFT_ERR_FORMAT, name,
                        "unknown .npy version %u.%u (this reader knows 1.0, 2.0, 3.0)", major,
                        minor);
    if (len < 8 + width)
        return npy_fail(diag, DEFT_ERR_TRUNCATED, name, "file ends inside the header length");
    size_t hlen = 0;
    for (size_t i = width; i-- > 0;) hlen = (hlen << 8) | b[8 + i]; /* little-endian */
    if (hlen > NPY_MAX_HEADER)
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "header length %zu exceeds %u bytes", hlen,
                        NPY_MAX_HEADER);
    *data_start = 8 + width + hlen;
    /* NumPy aligns the data to 64 bytes (16 before 1.14); anything else is not NumPy's. */
    if (*data_start % 16 != 0)
        return npy_fail(diag, DEFT_ERR_FORMAT, name,
                        "data start %zu is not 16-byte aligned (header length %zu)", *data_start,
                        hlen);
    return DEFT_OK;
}

/* ---- the header dict: a tiny cursor parser for the literal NumPy writes --------------------- */

typedef struct npy_cursor {
    const unsigned char *p, *end;
} npy_cursor;

static void npy_skip_ws(npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes ch after optional whitespace; 1 if it was there. */
static int npy_eat(npy_cursor *c, unsigned char ch)
{
    npy_skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int npy_eat_word(npy_cursor *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* A Python string literal in '' or "" without escapes (NumPy never writes any). */
static int npy_quoted(npy_cursor *c, const unsigned char **s, size_t *n)
{
    npy_skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    unsigned char q = *c->p++;
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n') return 0;
        c->p++;
    }
    if (c->p >= c->end) return 0;
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return 1;
}

/* One dimension: decimal digits. A '-' is reported as a negative dimension (FORMAT); more than
 * INT64_MAX as OVERFLOW. */
static deft_status npy_dim(npy_cursor *c, int64_t *v, const char *name, deft_diag *diag)
{
    npy_skip_ws(c);
    if (c->p < c->end && *c->p == '-')
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "negative dimension in shape");
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "shape: expected a dimension");
    int64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p++ - '0';
        if (x > (INT64_MAX - d) / 10)
            return npy_fail(diag, DEFT_ERR_OVERFLOW, name, "a dimension exceeds 2^63 - 1");
        x = x * 10 + d;
    }
    *v = x;
    return DEFT_OK;
}

/* A shape tuple as Python writes it: (), (n,), (n, m), ... A one-element tuple needs its comma. */
static deft_status npy_shape(npy_cursor *c, deft_npy *h, const char *name, deft_diag *diag)
{
    if (!npy_eat(c, '('))
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "shape is not a tuple");
    h->ndim = 0;
    if (npy_eat(c, ')')) return DEFT_OK;
    for (;;) {
        if (h->ndim == NPY_MAX_DIMS)
            return npy_fail(diag, DEFT_ERR_FORMAT, name, "more than %d dimensions",
                            NPY_MAX_DIMS);
        deft_status st = npy_dim(c, &h->shape[h->ndim], name, diag);
        if (st != DEFT_OK) return st;
        h->ndim++;
        int comma = npy_eat(c, ',');
        if (npy_eat(c, ')')) {
            if (h->ndim == 1 && !comma)
                return npy_fail(diag, DEFT_ERR_FORMAT, name, "shape (n) is not a tuple");
            return DEFT_OK;
        }
        if (!comma) return npy_fail(diag, DEFT_ERR_FORMAT, name, "shape: expected ',' or ')'");
    }
}

/* The value of 'descr': a string (copied, at most 7 characters, else "?" so it fails later), or
 * a list, which is a structured dtype: unsupported. */
static deft_status npy_descr(npy_cursor *c, deft_npy *h, const char *name, deft_diag *diag)
{
    const unsigned char *s;
    size_t n;
    npy_skip_ws(c);
    if (c->p < c->end && *c->p == '[')
        return npy_fail(diag, DEFT_ERR_DTYPE, name, "structured dtypes are not supported");
    if (!npy_quoted(c, &s, &n))
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "descr is not a string");
    if (n < sizeof h->descr) {
        memcpy(h->descr, s, n);
        h->descr[n] = '\0';
    } else {
        char shown[32];
        npy_show(s, n, shown);
        return npy_fail(diag, DEFT_ERR_DTYPE, name,
                        "descr '%s' is not '<f4', '<f2' or '<u2'", shown);
    }
    return DEFT_OK;
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

/* One "'key': value" entry; *seen collects the keys so far (a repeat is an error). */
static deft_status npy_entry(npy_cursor *c, deft_npy *h, int *seen, int *fortran,
                             const char *name, deft_diag *diag)
{
    const unsigned char *k;
    size_t n;
    if (!npy_quoted(c, &k, &n))
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "header: expected a quoted key");
    int key = (n == 5 && memcmp(k, "descr", 5) == 0)           ? KEY_DESCR
              : (n == 13 && memcmp(k, "fortran_order", 13) == 0) ? KEY_FORTRAN
              : (n == 5 && memcmp(k, "shape", 5) == 0)           ? KEY_SHAPE
                                                                 : 0;
    char shown[32];
    npy_show(k, n, shown);
    if (!key) return npy_fail(diag, DEFT_ERR_FORMAT, name, "header: unknown key '%s'", shown);
    if (*seen & key) return npy_fail(diag, DEFT_ERR_FORMAT, name, "header: repeated key '%s'", shown);
    *seen |= key;
    if (!npy_eat(c, ':')) return npy_fail(diag, DEFT_ERR_FORMAT, name, "header: expected ':'");
    if (key == KEY_DESCR) return npy_descr(c, h, name, diag);
    if (key == KEY_SHAPE) return npy_shape(c, h, name, diag);
    npy_skip_ws(c);
    if (npy_eat_word(c, "True")) *fortran = 1;
    else if (npy_eat_word(c, "False")) *fortran = 0;
    else return npy_fail(diag, DEFT_ERR_FORMAT, name, "fortran_order is not True or False");
    return DEFT_OK;
}

/* Elements and bytes of the shape, both fitting int64_t and size_t. A zero dimension makes the
 * count 0 whatever the others are, as in NumPy. */
static deft_status npy_size(deft_npy *h, size_t item, const char *name, deft_diag *diag)
{
    int64_t count = 1, bytes;
    for (int i = 0; i < h->ndim; i++)
        if (h->shape[i] == 0) count = 0;
    for (int i = 0; i < h->ndim && count != 0; i++)
        if (deft_mul_overflow_i64(count, h->shape[i], &count))
            return npy_fail(diag, DEFT_ERR_OVERFLOW, name, "shape has more than 2^63 elements");
    if (deft_mul_overflow_i64(count, (int64_t)item, &bytes))
        return npy_fail(diag, DEFT_ERR_OVERFLOW, name, "byte count exceeds 2^63");
#if SIZE_MAX < INT64_MAX
    if (bytes > (int64_t)SIZE_MAX)
        return npy_fail(diag, DEFT_ERR_OVERFLOW, name, "byte count exceeds size_t");
#endif
    h->nbytes = (size_t)bytes;
    return DEFT_OK;
}

/* Parses the header b[0 .. data_start) (the prelude already checked) into h's descr, ndim, shape
 * and nbytes. The dict must end in '\n', with only whitespace between '}' and it. */
static deft_status npy_header(const unsigned char *b, size_t data_start, size_t dict_start,
                              deft_npy *h, const char *name, deft_diag *diag)
{
    if (data_start <= dict_start || b[data_start - 1] != '\n')
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "header does not end in a newline");
    npy_cursor c = {b + dict_start, b + data_start};
    int seen = 0, fortran = 0;
    if (!npy_eat(&c, '{')) return npy_fail(diag, DEFT_ERR_FORMAT, name, "header is not a dict");
    while (!npy_eat(&c, '}')) {
        deft_status st = npy_entry(&c, h, &seen, &fortran, name, diag);
        if (st != DEFT_OK) return st;
        if (npy_eat(&c, ',')) continue;
        if (npy_eat(&c, '}')) break;
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "header: expected ',' or '}'");
    }
    npy_skip_ws(&c);
    if (c.p != c.end) return npy_fail(diag, DEFT_ERR_FORMAT, name, "header: bytes after the dict");
    if (seen != (KEY_DESCR | KEY_FORTRAN | KEY_SHAPE))
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "header: missing key '%s'",
                        !(seen & KEY_DESCR) ? "descr" : !(seen & KEY_FORTRAN) ? "fortran_order"
                                                                               : "shape");
    if (fortran)
        return npy_fail(diag, DEFT_ERR_FORMAT, name, "fortran_order True is not supported");
    size_t item = npy_descr_size(h->descr);
    if (item == 0) {
        if (h->descr[0] == '>')
            return npy_fail(diag, DEFT_ERR_DTYPE, name,
                            "descr '%s' is big-endian; only little-endian is supported", h->descr);
        char shown[32];
        npy_show((const unsigned char *)h->descr, strlen(h->descr), shown);
        return npy_fail(diag, DEFT_ERR_DTYPE, name, "descr '%s' is not '<f4', '<f2' or '<u2'",
                        shown);
    }
    return npy_size(h, item, name, diag);
}

/* The prelude and header of bytes[0 .. len): on success h is filled but for data. */
static deft_status npy_parse_meta(const unsigned char *b, size_t len, deft_npy *h,
                                  size_t *data_start, const char *name, deft_diag *diag)
{
    deft_status st = npy_prelude(b, len, data_start, name, diag);
    if (st != DEFT_OK) return st;
    if (*data_start > len)
        return npy_fail(diag, DEFT_ERR_TRUNCATED, name,
                        "header says %zu bytes, file has %zu", *data_start, len);
    size_t dict_start = b[6] == 1 ? 10 : 12;
    return npy_header(b, *data_start, dict_start, h, name, diag);
}

/* The data must be exactly nbytes: fewer is a truncated file, more a lying header. */
static deft_status npy_check_length(size_t have, size_t want, const char *name, deft_diag *diag)
{
    if (have < want)
        return npy_fail(diag, DEFT_ERR_TRUNCATED, name, "data has %zu bytes, shape needs %zu", have,
                        want);
    if (have > want)
        return npy_fail(diag, DEFT_ERR_FORMAT, name,
                        "%zu bytes after the data (shape needs %zu, file has %zu)", have - want,
                        want, have);
    return DEFT_OK;
}

/* Zero-element arrays get a 1-byte buffer, so data is never NULL on success. */
static deft_status npy_alloc(deft_npy *h, const char *name, deft_diag *diag)
{
    h->data = malloc(h->nbytes ? h->nbytes : 1);
    if (!h->data)
        return npy_fail(diag, DEFT_ERR_NO_MEMORY, name, "cannot allocate %zu bytes", h->nbytes);
    return DEFT_OK;
}

deft_status deft_npy_parse(const void *bytes, size_t len, deft_npy *out, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!out) return npy_fail(diag, DEFT_ERR_NULL, "npy", "out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && len > 0) return npy_fail(diag, DEFT_ERR_NULL, "npy", "bytes is NULL");
    static const unsigned char empty[1];
    const unsigned char *b = bytes ? (const unsigned char *)bytes : empty;
    size_t data_start = 0;
    deft_npy h;
    memset(&h, 0, sizeof h);
    deft_status st = npy_parse_meta(b, len, &h, &data_start, "npy", diag);
    if (st == DEFT_OK) st = npy_check_length(len - data_start, h.nbytes, "npy", diag);
    if (st == DEFT_OK) st = npy_alloc(&h, "npy", diag);
    if (st != DEFT_OK) return st;
    if (h.nbytes) memcpy(h.data, b + data_start, h.nbytes);
    *out = h;
    return DEFT_OK;
}

/* ---- files ------------------------------------------------------------------------------------ */

/* Reads exactly n bytes at the current position: short because of EOF is TRUNCATED (the file
 * shrank under us), otherwise IO with strerror. */
static deft_status npy_fread(FILE *f, void *buf, size_t n, const char *path, deft_diag *diag)
{
    if (n == 0 || fread(buf, 1, n, f) == n) return DEFT_OK;
    if (feof(f)) return npy_fail(diag, DEFT_ERR_TRUNCATED, path, "file ended early");
    return npy_fail(diag, DEFT_ERR_IO, path, "read failed: %s", strerror(errno));
}

/* Opens path for reading and finds its size; only regular files (a size we can check). */
static deft_status npy_open(const char *path, FILE **f, size_t *size, deft_diag *diag)
{
    *f = fopen(path, "rb");
    if (!*f) return npy_fail(diag, DEFT_ERR_IO, path, "cannot open: %s", strerror(errno));
    struct stat sb;
    const char *why = NULL;
    if (fstat(fileno(*f), &sb) != 0) why = strerror(errno);
    else if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    else if (sb.st_size < 0 || (uint64_t)sb.st_size > (uint64_t)SIZE_MAX) why = "size out of range";
    if (why) {
        fclose(*f);
        *f = NULL;
        return npy_fail(diag, DEFT_ERR_IO, path, "cannot read: %s", why);
    }
    *size = (size_t)sb.st_size;
    return DEFT_OK;
}

/* Header first (bounded by the prelude), then the data straight into its buffer: one copy of a
 * tensor in memory, and no allocation before the declared size matches the file's. */
static deft_status npy_read_file(FILE *f, size_t size, deft_npy *h, const char *path,
                                 deft_diag *diag)
{
    unsigned char pre[12];
    size_t npre = size < sizeof pre ? size : sizeof pre, data_start = 0;
    deft_status st = npy_fread(f, pre, npre, path, diag);
    if (st == DEFT_OK) st = npy_prelude(pre, npre, &data_start, path, diag);
    if (st != DEFT_OK) return st;
    if (data_start > size)
        return npy_fail(diag, DEFT_ERR_TRUNCATED, path, "header says %zu bytes, file has %zu",
                        data_start, size);
    unsigned char *hdr = malloc(data_start);
    if (!hdr) return npy_fail(diag, DEFT_ERR_NO_MEMORY, path, "cannot allocate the header");
    memcpy(hdr, pre, npre);
    st = npy_fread(f, hdr + npre, data_start - npre, path, diag);
    if (st == DEFT_OK) st = npy_parse_meta(hdr, data_start, h, &data_start, path, diag);
    free(hdr);
    if (st == DEFT_OK) st = npy_check_length(size - data_start, h->nbytes, path, diag);
    if (st == DEFT_OK) st = npy_alloc(h, path, diag);
    if (st == DEFT_OK) st = npy_fread(f, h->data, h->nbytes, path, diag);
    return st;
}

deft_status deft_npy_read(const char *path, deft_npy *out, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!out) return npy_fail(diag, DEFT_ERR_NULL, "npy", "out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return npy_fail(diag, DEFT_ERR_NULL, "npy", "path is NULL");
    FILE *f;
    size_t size = 0;
    deft_status st = npy_open(path, &f, &size, diag);
    if (st != DEFT_OK) return st;
    deft_npy h;
    memset(&h, 0, sizeof h);
    st = npy_read_file(f, size, &h, path, diag);
    fclose(f); /* read-only: a close error cannot lose data */
    if (st != DEFT_OK) {
        deft_npy_free(&h);
        return st;
    }
    *out = h;
    return DEFT_OK;
}

void deft_npy_free(deft_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* "(2, 3)", "(5,)", "()": the shape as Python's repr writes it (at most 8 x 20 digits). */
static void npy_shape_repr(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    snprintf(buf + k, cap - k, ndim == 1 ? ",)" : ")");
}

/* The header NumPy >= 1.23 writes for a C-order array: the dict with sorted keys, 21 - digits of
 * shape[0] spaces of growth room, then spaces and '\n' up to the next multiple of 64 (a whole 64
 * more when already aligned, as NumPy does). So our files are byte-identical to np.save's.
 * buf holds 10 + the returned length. */
static size_t npy_build_header(const char *descr, int ndim, const int64_t *shape,
                               unsigned char *buf, size_t cap)
{
    char sh[8 * 24 + 8], dict[320];
    npy_shape_repr(ndim, shape, sh, sizeof sh);
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, sh);
    if (n < 0 || (size_t)n >= sizeof dict) return 0;
    size_t len = (size_t)n;
    if (ndim > 0) {
        char first[24];
        size_t digits = (size_t)snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        len += NPY_GROWTH_DIGITS - digits;
    }
    size_t hlen = len + 1, pad = NPY_ALIGN - (10 + hlen) % NPY_ALIGN, total = 10 + hlen + pad;
    if (total > cap) return 0; /* unreachable with ndim <= 8: cap is sized for the worst case */
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)((hlen + pad) & 0xff);
    buf[9] = (unsigned char)((hlen + pad) >> 8);
    memset(buf + 10, ' ', total - 10);
    memcpy(buf + 10, dict, (size_t)n);
    buf[total - 1] = '\n';
    return total;
}

/* Checks write's arguments and computes the data's byte count. */
static deft_status npy_write_args(const char *path, const char *descr, int ndim,
                                  const int64_t *shape, const void *data, size_t *nbytes,
                                  deft_diag *diag)
{
    const char *name = path ? path : "npy";
    if (!path || !descr || (ndim > 0 && !shape))
        return npy_fail(diag, DEFT_ERR_NULL, name, "path, descr or shape is NULL");
    size_t item = npy_descr_size(descr);
    if (item == 0)
        return npy_fail(diag, DEFT_ERR_DTYPE, name, "descr must be '<f4', '<f2' or '<u2'");
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return npy_fail(diag, DEFT_ERR_ARG, name, "ndim %d is outside 0..%d", ndim, NPY_MAX_DIMS);
    deft_npy h;
    memset(&h, 0, sizeof h);
    h.ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return npy_fail(diag, DEFT_ERR_ARG, name, "dimension %d is negative (%lld)", i,
                            (long long)shape[i]);
        h.shape[i] = shape[i];
    }
    deft_status st = npy_size(&h, item, name, diag);
    if (st != DEFT_OK) return st;
    if (h.nbytes > 0 && !data)
        return npy_fail(diag, DEFT_ERR_NULL, name, "data is NULL for %zu bytes", h.nbytes);
    *nbytes = h.nbytes;
    return DEFT_OK;
}

deft_status deft_npy_write(const char *path, const char *descr, int ndim, const int64_t *shape,
                           const void *data, deft_diag *diag)
{
    deft_diag_clear(diag);
    size_t nbytes = 0;
    deft_status st = npy_write_args(path, descr, ndim, shape, data, &nbytes, diag);
    if (st != DEFT_OK) return st;
    unsigned char hdr[512];
    size_t hlen = npy_build_header(descr, ndim, shape, hdr, sizeof hdr);
    if (hlen == 0) return npy_fail(diag, DEFT_ERR_INTERNAL, path, "header does not fit");
    FILE *f = fopen(path, "wb");
    if (!f) return npy_fail(diag, DEFT_ERR_IO, path, "cannot create: %s", strerror(errno));
    int ok = fwrite(hdr, 1, hlen, f) == hlen && (nbytes == 0 || fwrite(data, 1, nbytes, f) == nbytes);
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(path); /* no half-written tensor left behind to be read later */
        return npy_fail(diag, DEFT_ERR_IO, path, "write failed: %s", strerror(e));
    }
    return DEFT_OK;
}

/* "(2, 3)" for messages. */
static const char *npy_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    npy_shape_repr(ndim, shape, buf, cap);
    return buf;
}

deft_status deft_npy_read_expect(const char *path, const char *descr, int ndim,
                                 const int64_t *shape, void **data, deft_diag *diag)
{
    if (data) *data = NULL;
    if (!data || !descr || (ndim > 0 && !shape)) {
        deft_diag_clear(diag);
        return npy_fail(diag, DEFT_ERR_NULL, path ? path : "npy", "descr, shape or data is NULL");
    }
    deft_npy a;
    deft_status st = deft_npy_read(path, &a, diag);
    if (st != DEFT_OK) return st;
    char got[200], want[200];
    if (strcmp(a.descr, descr) != 0) {
        st = npy_fail(diag, DEFT_ERR_DTYPE, path, "descr '%s', expected '%s'", a.descr, descr);
    } else {
        int same = a.ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = a.shape[i] == shape[i];
        if (!same)
            st = npy_fail(diag, DEFT_ERR_SHAPE, path, "shape %s, expected %s",
                          npy_shape_str(a.ndim, a.shape, got, sizeof got),
                          npy_shape_str(ndim < 0 ? 0 : ndim > 8 ? 8 : ndim, shape, want,
                                        sizeof want));
    }
    if (st != DEFT_OK) {
        deft_npy_free(&a);
        return st;
    }
    *data = a.data;
    return DEFT_OK;
}
