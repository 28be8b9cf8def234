/* treefile.c: the versioned text tree file ("deft-tree 1", docs/formats.md): a case's forest and
 * attention shape. Input side of every file-driven run; the parser takes text + length, trusts no
 * byte (embedded NULs, huge lines, lying counts) and ends in deft_tree_validate/deft_shape_validate. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deft.h"
#include "internal.h"

/* A lying "nodes" line must not make us allocate terabytes: 2^26 nodes is far past any tree a
 * benchmark uses, and the row count is also bounded by the bytes left (8 per row at least). */
#define TF_MAX_NODES ((int64_t)1 << 26)
#define TF_MIN_ROW_BYTES 8 /* 4 one-character tokens, 3 blanks, and the newline before "end" */
#define TF_MAX_TOKENS 6    /* a row has 5; one more tells "too many" */
#define TF_WORKLOAD_MAX 127

typedef struct tf_reader {
    const char *p, *end; /* the rest of the text */
    int64_t line_no;     /* of the line last returned */
    const char *name;    /* prefix of messages (the path), or NULL */
    deft_diag *diag;
} tf_reader;

/* A significant line split at blanks; tokens point into the text (not NUL-terminated). */
typedef struct tf_line {
    const char *tok[TF_MAX_TOKENS];
    size_t len[TF_MAX_TOKENS];
    int ntok; /* TF_MAX_TOKENS + 1 when there were more than TF_MAX_TOKENS */
    int64_t no;
} tf_line;

/* Everything before the rows. */
typedef struct tf_header {
    char workload[TF_WORKLOAD_MAX + 1];
    int64_t nodes, total_kv;
    int has_total_kv, given;
    deft_shape shape;
} tf_header;

/* Reports "name: line N: message" (no line part when line is 0) and returns s. */
static deft_status tf_fail(const tf_reader *r, int64_t line, deft_status s, const char *fmt, ...)
    DEFT_PRINTF(4, 5);
static deft_status tf_fail(const tf_reader *r, int64_t line, deft_status s, const char *fmt, ...)
{
    char msg[256], where[48] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0) snprintf(where, sizeof where, "line %lld: ", (long long)line);
    deft_diag_set(r->diag, s, -1, "%s%s%s%s", r->name ? r->name : "", r->name ? ": " : "", where,
                  msg);
    return s;
}

/* A token of untrusted text for a message: printable ASCII, '?' for the rest, at most 24. */
static const char *tf_show(const char *s, size_t n, char out[32])
{
    size_t k = 0;
    for (; k < n && k < 24; k++) {
        unsigned char ch = (unsigned char)s[k];
        out[k] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (n > 24) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static int tf_is(const tf_line *ln, int i, const char *word)
{
    size_t n = strlen(word);
    return i < ln->ntok && ln->len[i] == n && memcmp(ln->tok[i], word, n) == 0;
}

static int tf_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

static void tf_split(const char *s, const char *e, tf_line *ln)
{
    ln->ntok = 0;
    while (s < e) {
        while (s < e && tf_blank(*s)) s++;
        if (s == e) break;
        const char *t = s;
        while (s < e && !tf_blank(*s)) s++;
        if (ln->ntok == TF_MAX_TOKENS) {
            ln->ntok = TF_MAX_TOKENS + 1;
            return;
        }
        ln->tok[ln->ntok] = t;
        ln->len[ln->ntok] = (size_t)(s - t);
        ln->ntok++;
    }
}

/* Next significant line (blank and '#' lines skipped). *got is 0 at the end of the text. */
static deft_status tf_next(tf_reader *r, tf_line *ln, int *got)
{
    *got = 0;
    while (r->p < r->end) {
        const char *s = r->p, *nl = memchr(s, '\n', (size_t)(r->end - s));
        const char *e = nl ? nl : r->end;
        r->p = nl ? nl + 1 : r->end;
        r->line_no++;
        if (memchr(s, '\0', (size_t)(e - s)))
            return tf_fail(r, r->line_no, DEFT_ERR_FORMAT, "NUL byte in a text file");
        tf_split(s, e, ln);
        if (ln->ntok == 0 || ln->tok[0][0] == '#') continue;
        ln->no = r->line_no;
        *got = 1;
        return DEFT_OK;
    }
    return DEFT_OK;
}

/* Next significant line, which must exist: the end of the text here is TRUNCATED. */
static deft_status tf_require(tf_reader *r, tf_line *ln, const char *what)
{
    int got;
    deft_status st = tf_next(r, ln, &got);
    if (st == DEFT_OK && !got)
        return tf_fail(r, 0, DEFT_ERR_TRUNCATED, "file ends where %s is due (line %lld)", what,
                       (long long)r->line_no + 1);
    return st;
}

/* The line must be `key` and nvals values. */
static deft_status tf_key(tf_reader *r, const tf_line *ln, const char *key, int nvals)
{
    char shown[32];
    if (!tf_is(ln, 0, key))
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "expected '%s', found '%s'", key,
                       tf_show(ln->tok[0], ln->len[0], shown));
    if (ln->ntok != 1 + nvals)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "'%s' takes %d value%s", key, nvals,
                       nvals == 1 ? "" : "s");
    return DEFT_OK;
}

/* A decimal int64: optional sign, digits only. Out of int64 range is OVERFLOW. */
static deft_status tf_int(tf_reader *r, const tf_line *ln, int i, const char *what, int64_t *v)
{
    const char *s = ln->tok[i];
    size_t n = ln->len[i], k = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    char shown[32], buf[24];
    int digits = k < n;
    for (size_t j = k; j < n; j++) digits &= s[j] >= '0' && s[j] <= '9';
    if (!digits)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "%s '%s' is not an integer", what,
                       tf_show(s, n, shown));
    size_t z = k;
    while (z + 1 < n && s[z] == '0') z++; /* leading zeros do not count toward the range */
    if (n - z > 19)
        return tf_fail(r, ln->no, DEFT_ERR_OVERFLOW, "%s '%s' is out of int64 range", what,
                       tf_show(s, n, shown));
    buf[0] = s[0] == '-' ? '-' : '+';
    memcpy(buf + 1, s + z, n - z);
    buf[1 + n - z] = '\0';
    errno = 0;
    long long x = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
        return tf_fail(r, ln->no, DEFT_ERR_OVERFLOW, "%s '%s' is out of int64 range", what,
                       tf_show(s, n, shown));
    *v = (int64_t)x;
    return DEFT_OK;
}

/* "default" (0: 1/sqrt(d)) or a C floating literal, e.g. 0.08838834764831845. Non-finite
 * literals are left to deft_shape_validate (DEFT_ERR_SCALE); a literal too large for a double is
 * DEFT_ERR_SCALE here. */
static deft_status tf_scale(tf_reader *r, const tf_line *ln, double *v)
{
    char buf[64], shown[32], *endp;
    const char *s = ln->tok[1];
    size_t n = ln->len[1];
    if (tf_is(ln, 1, "default")) {
        *v = 0.0;
        return DEFT_OK;
    }
    if (n >= sizeof buf)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "scale '%s' is too long", tf_show(s, n, shown));
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    double x = strtod(buf, &endp);
    if (endp != buf + n || n == 0)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "scale '%s' is not 'default' or a number",
                       tf_show(s, n, shown));
    if (errno == ERANGE && (x > 1.0 || x < -1.0))
        return tf_fail(r, ln->no, DEFT_ERR_SCALE, "scale '%s' is out of double range",
                       tf_show(s, n, shown));
    *v = x;
    return DEFT_OK;
}

static deft_status tf_magic(tf_reader *r, tf_line *ln)
{
    char shown[32];
    deft_status st = tf_require(r, ln, "'deft-tree 1'");
    if (st != DEFT_OK) return st;
    if (!tf_is(ln, 0, "deft-tree") || ln->ntok != 2)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "not a tree file (expected 'deft-tree 1')");
    if (!tf_is(ln, 1, "1"))
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT,
                       "unknown tree file version '%s' (this reader knows 1)",
                       tf_show(ln->tok[1], ln->len[1], shown));
    return DEFT_OK;
}

/* The workload spec: one printable token, copied for c->workload. */
static deft_status tf_workload(tf_reader *r, const tf_line *ln, tf_header *h)
{
    deft_status st = tf_key(r, ln, "workload", 1);
    if (st != DEFT_OK) return st;
    if (ln->len[1] > TF_WORKLOAD_MAX)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "workload is longer than %d characters",
                       TF_WORKLOAD_MAX);
    for (size_t i = 0; i < ln->len[1]; i++) {
        unsigned char ch = (unsigned char)ln->tok[1][i];
        if (ch <= 0x20 || ch >= 0x7f)
            return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "workload has a non-printable byte");
    }
    memcpy(h->workload, ln->tok[1], ln->len[1]);
    h->workload[ln->len[1]] = '\0';
    return DEFT_OK;
}

static deft_status tf_nodes(tf_reader *r, const tf_line *ln, tf_header *h)
{
    deft_status st = tf_key(r, ln, "nodes", 1);
    if (st == DEFT_OK) st = tf_int(r, ln, 1, "nodes", &h->nodes);
    if (st != DEFT_OK) return st;
    if (h->nodes < 0)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "nodes is %lld, must be >= 0",
                       (long long)h->nodes);
    if (h->nodes > TF_MAX_NODES)
        return tf_fail(r, ln->no, DEFT_ERR_OVERFLOW, "nodes is %lld, the most is %lld",
                       (long long)h->nodes, (long long)TF_MAX_NODES);
    return DEFT_OK;
}

static deft_status tf_dtype(tf_reader *r, const tf_line *ln, tf_header *h)
{
    char buf[8], shown[32];
    deft_status st = tf_key(r, ln, "dtype", 1);
    if (st != DEFT_OK) return st;
    size_t n = ln->len[1];
    if (n < sizeof buf) {
        memcpy(buf, ln->tok[1], n);
        buf[n] = '\0';
        if (deft_dtype_parse(buf, &h->shape.dtype) == DEFT_OK) return DEFT_OK;
    }
    return tf_fail(r, ln->no, DEFT_ERR_DTYPE, "dtype '%s' is not f32, f16 or bf16",
                   tf_show(ln->tok[1], n, shown));
}

/* "offsets packed|given", then the column header line that goes with it. */
static deft_status tf_offsets(tf_reader *r, tf_line *ln, tf_header *h)
{
    deft_status st = tf_key(r, ln, "offsets", 1);
    if (st != DEFT_OK) return st;
    if (tf_is(ln, 1, "given")) h->given = 1;
    else if (!tf_is(ln, 1, "packed"))
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "offsets must be 'packed' or 'given'");
    if (h->given && !h->has_total_kv)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "'offsets given' needs a total_kv line");
    if ((st = tf_require(r, ln, "the column header")) != DEFT_OK) return st;
    static const char *const cols[5] = {"node", "parent", "kv_len", "q_len", "kv_offset"};
    int want = h->given ? 5 : 4, ok = ln->ntok == want;
    for (int i = 0; ok && i < want; i++) ok = tf_is(ln, i, cols[i]);
    if (!ok)
        return tf_fail(r, ln->no, DEFT_ERR_FORMAT, "expected the column header '%s'",
                       h->given ? "node parent kv_len q_len kv_offset" : "node parent kv_len q_len");
    return DEFT_OK;
}

/* Every key line up to and including the column header, in the documented order. */
static deft_status tf_read_header(tf_reader *r, tf_header *h)
{
    tf_line ln;
    deft_status st = tf_magic(r, &ln);
    if (st == DEFT_OK) st = tf_require(r, &ln, "'nodes'");
    if (st == DEFT_OK && tf_is(&ln, 0, "workload")) {
        st = tf_workload(r, &ln, h);
        if (st == DEFT_OK) st = tf_require(r, &ln, "'nodes'");
    }
    if (st == DEFT_OK) st = tf_nodes(r, &ln, h);
    if (st == DEFT_OK) st = tf_require(r, &ln, "'heads'");
    if (st == DEFT_OK) st = tf_key(r, &ln, "heads", 2);
    if (st == DEFT_OK) st = tf_int(r, &ln, 1, "hq", &h->shape.hq);
    if (st == DEFT_OK) st = tf_int(r, &ln, 2, "hkv", &h->shape.hkv);
    if (st == DEFT_OK) st = tf_require(r, &ln, "'dim'");
    if (st == DEFT_OK) st = tf_key(r, &ln, "dim", 1);
    if (st == DEFT_OK) st = tf_int(r, &ln, 1, "dim", &h->shape.d);
    if (st == DEFT_OK) st = tf_require(r, &ln, "'dtype'");
    if (st == DEFT_OK) st = tf_dtype(r, &ln, h);
    if (st == DEFT_OK) st = tf_require(r, &ln, "'scale'");
    if (st == DEFT_OK) st = tf_key(r, &ln, "scale", 1);
    if (st == DEFT_OK) st = tf_scale(r, &ln, &h->shape.scale);
    if (st == DEFT_OK) st = tf_require(r, &ln, "'offsets'");
    if (st == DEFT_OK && tf_is(&ln, 0, "total_kv")) {
        st = tf_key(r, &ln, "total_kv", 1);
        if (st == DEFT_OK) st = tf_int(r, &ln, 1, "total_kv", &h->total_kv);
        if (st == DEFT_OK && h->total_kv < 0)
            st = tf_fail(r, ln.no, DEFT_ERR_FORMAT, "total_kv is %lld, must be >= 0",
                         (long long)h->total_kv);
        h->has_total_kv = 1;
        if (st == DEFT_OK) st = tf_require(r, &ln, "'offsets'");
    }
    if (st == DEFT_OK) st = tf_offsets(r, &ln, h);
    return st;
}

/* Row i: "i parent kv_len q_len [kv_offset]". An early 'end' or end of text is TRUNCATED. */
static deft_status tf_row(tf_reader *r, const tf_header *h, int64_t i, deft_case *c)
{
    tf_line ln;
    char shown[32];
    int got;
    deft_status st = tf_next(r, &ln, &got);
    if (st != DEFT_OK) return st;
    if (!got || tf_is(&ln, 0, "end"))
        return tf_fail(r, got ? ln.no : 0, DEFT_ERR_TRUNCATED, "%s after %lld of %lld rows",
                       got ? "'end'" : "file ends", (long long)i, (long long)h->nodes);
    int want = h->given ? 5 : 4;
    if (ln.ntok != want)
        return tf_fail(r, ln.no, DEFT_ERR_FORMAT, "a row has %d fields, found %s%d", want,
                       ln.ntok > TF_MAX_TOKENS ? "more than " : "",
                       ln.ntok > TF_MAX_TOKENS ? TF_MAX_TOKENS : ln.ntok);
    int64_t id;
    if ((st = tf_int(r, &ln, 0, "node", &id)) != DEFT_OK) return st;
    if (id != i)
        return tf_fail(r, ln.no, DEFT_ERR_FORMAT, "expected node %lld, found '%s'", (long long)i,
                       tf_show(ln.tok[0], ln.len[0], shown));
    if ((st = tf_int(r, &ln, 1, "parent", &c->parent[i])) != DEFT_OK ||
        (st = tf_int(r, &ln, 2, "kv_len", &c->kv_len[i])) != DEFT_OK ||
        (st = tf_int(r, &ln, 3, "q_len", &c->q_len[i])) != DEFT_OK)
        return st;
    if (h->given) return tf_int(r, &ln, 4, "kv_offset", &c->kv_offset[i]);
    return DEFT_OK;
}

/* After the rows: 'end', then nothing but blank and comment lines. */
static deft_status tf_end(tf_reader *r, const tf_header *h)
{
    tf_line ln;
    int got;
    deft_status st = tf_next(r, &ln, &got);
    if (st != DEFT_OK) return st;
    if (!got) return tf_fail(r, 0, DEFT_ERR_TRUNCATED, "missing 'end'");
    if (!tf_is(&ln, 0, "end") || ln.ntok != 1) {
        int64_t ignored;
        tf_reader quiet = *r;
        quiet.diag = NULL;
        if (ln.ntok >= 4 && tf_int(&quiet, &ln, 0, "node", &ignored) == DEFT_OK)
            return tf_fail(r, ln.no, DEFT_ERR_FORMAT, "more rows than 'nodes %lld' declares",
                           (long long)h->nodes);
        return tf_fail(r, ln.no, DEFT_ERR_FORMAT, "expected 'end'");
    }
    if ((st = tf_next(r, &ln, &got)) != DEFT_OK) return st;
    if (got) return tf_fail(r, ln.no, DEFT_ERR_FORMAT, "content after 'end'");
    return DEFT_OK;
}

/* Packed files may leave total_kv out: then it is the sum of kv_len. */
static deft_status tf_total_kv(tf_reader *r, const tf_header *h, deft_case *c)
{
    int64_t sum = 0;
    if (h->has_total_kv) {
        c->problem.tree.total_kv = h->total_kv;
        return DEFT_OK;
    }
    for (int64_t i = 0; i < h->nodes; i++)
        if (deft_add_overflow_i64(sum, c->kv_len[i], &sum))
            return tf_fail(r, 0, DEFT_ERR_OVERFLOW, "the sum of kv_len overflows int64");
    c->problem.tree.total_kv = sum;
    return DEFT_OK;
}

/* The validators' diagnostic, behind the file name when there is one. */
static deft_status tf_validate(const tf_reader *r, deft_case *c)
{
    deft_diag local;
    deft_status st = deft_tree_validate(&c->problem.tree, &local);
    if (st == DEFT_OK) st = deft_shape_validate(&c->problem.shape, &local);
    if (st != DEFT_OK) {
        if (r->name) deft_diag_set(r->diag, st, local.node, "%s: %s", r->name, local.message);
        else deft_diag_set(r->diag, st, local.node, "%s", local.message);
    }
    return st;
}

static deft_status tf_parse(tf_reader *r, deft_case *c)
{
    tf_header h;
    memset(&h, 0, sizeof h);
    deft_status st = tf_read_header(r, &h);
    if (st != DEFT_OK) return st;
    if (h.nodes > (r->end - r->p) / TF_MIN_ROW_BYTES)
        return tf_fail(r, 0, DEFT_ERR_TRUNCATED, "'nodes %lld' but only %lld bytes of rows follow",
                       (long long)h.nodes, (long long)(r->end - r->p));
    st = deft_case_init(c, h.nodes, h.given, r->diag);
    for (int64_t i = 0; st == DEFT_OK && i < h.nodes; i++) st = tf_row(r, &h, i, c);
    if (st == DEFT_OK) st = tf_end(r, &h);
    if (st == DEFT_OK) st = tf_total_kv(r, &h, c);
    if (st != DEFT_OK) return st;
    c->problem.shape = h.shape;
    memcpy(c->workload, h.workload, sizeof c->workload);
    return tf_validate(r, c);
}

/* name: the path for messages, or NULL. */
static deft_status tf_parse_named(const char *text, size_t len, deft_case *c, const char *name,
                                  deft_diag *diag)
{
    deft_diag_clear(diag);
    tf_reader r = {text, text + len, 0, name, diag};
    if (!c) return tf_fail(&r, 0, DEFT_ERR_NULL, "case is NULL");
    memset(c, 0, sizeof *c);
    if (!text && len > 0) return tf_fail(&r, 0, DEFT_ERR_NULL, "text is NULL");
    if (!text) r.p = r.end = "";
    deft_status st = tf_parse(&r, c);
    if (st != DEFT_OK) deft_case_free(c);
    return st;
}

deft_status deft_tree_file_parse(const char *text, size_t len, deft_case *c, deft_diag *diag)
{
    return tf_parse_named(text, len, c, NULL, diag);
}

/* The whole file in one malloc'd buffer (tree files are small: ~20 bytes a node). */
static deft_status tf_slurp(const char *path, char **text, size_t *len, deft_diag *diag)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        deft_diag_set(diag, DEFT_ERR_IO, -1, "%s: cannot open: %s", path, strerror(errno));
        return DEFT_ERR_IO;
    }
    struct stat sb;
    const char *why = NULL;
    if (fstat(fileno(f), &sb) != 0) why = strerror(errno);
    else if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    else if (sb.st_size < 0 || (uint64_t)sb.st_size >= (uint64_t)SIZE_MAX) why = "too large";
    else if (!(*text = malloc((size_t)sb.st_size + 1))) why = "out of memory";
    else if (fread(*text, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)
        why = ferror(f) ? strerror(errno) : "file shrank while being read";
    fclose(f);
    if (why) {
        free(*text);
        *text = NULL;
        deft_status st = strcmp(why, "out of memory") == 0 ? DEFT_ERR_NO_MEMORY : DEFT_ERR_IO;
        deft_diag_set(diag, st, -1, "%s: cannot read: %s", path, why);
        return st;
    }
    *len = (size_t)sb.st_size;
    return DEFT_OK;
}

deft_status deft_tree_file_read(const char *path, deft_case *c, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (c) memset(c, 0, sizeof *c);
    if (!path || !c) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "tree file: path or case is NULL");
        return DEFT_ERR_NULL;
    }
    char *text;
    size_t len = 0;
    deft_status st = tf_slurp(path, &text, &len, diag);
    if (st != DEFT_OK) return st;
    st = tf_parse_named(text, len, c, path, diag);
    free(text);
    return st;
}

/* ---- writing ---------------------------------------------------------------------------------- */

/* NULL or "" writes no workload line; anything else must parse back as one token. */
static deft_status tf_check_workload(const char *path, const char *w, deft_diag *diag)
{
    size_t n = w ? strlen(w) : 0;
    int ok = n <= TF_WORKLOAD_MAX;
    for (size_t i = 0; ok && i < n; i++) ok = (unsigned char)w[i] > 0x20 && (unsigned char)w[i] < 0x7f;
    if (!ok) {
        deft_diag_set(diag, DEFT_ERR_ARG, -1,
                      "%s: workload must be at most %d printable characters without blanks", path,
                      TF_WORKLOAD_MAX);
        return DEFT_ERR_ARG;
    }
    return DEFT_OK;
}

/* Writes the whole file to f; 0 on a write error. */
static int tf_emit(FILE *f, const deft_problem *p, const char *workload)
{
    const deft_tree *t = &p->tree;
    const deft_shape *s = &p->shape;
    int ok = fprintf(f, "deft-tree 1\n") > 0;
    if (ok && workload && workload[0]) ok = fprintf(f, "workload %s\n", workload) > 0;
    if (ok) ok = fprintf(f, "nodes %" PRId64 "\nheads %" PRId64 " %" PRId64 "\ndim %" PRId64
                            "\ndtype %s\n",
                         t->n_nodes, s->hq, s->hkv, s->d, deft_dtype_name(s->dtype)) > 0;
    if (ok) ok = s->scale == 0.0 ? fprintf(f, "scale default\n") > 0
                                 : fprintf(f, "scale %.17g\n", s->scale) > 0;
    if (ok) ok = fprintf(f, "total_kv %" PRId64 "\noffsets %s\n", t->total_kv,
                         t->kv_offset ? "given" : "packed") > 0;
    if (ok) ok = fprintf(f, t->kv_offset ? "node parent kv_len q_len kv_offset\n"
                                         : "node parent kv_len q_len\n") > 0;
    for (int64_t i = 0; ok && i < t->n_nodes; i++) {
        ok = fprintf(f, "%" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, i, t->parent[i],
                     t->kv_len[i], t->q_len[i]) > 0;
        if (ok && t->kv_offset) ok = fprintf(f, " %" PRId64, t->kv_offset[i]) > 0;
        if (ok) ok = fputc('\n', f) != EOF;
    }
    if (ok) ok = fprintf(f, "end\n") > 0;
    return ok;
}

deft_status deft_tree_file_write(const char *path, const deft_problem *p, const char *workload,
                                 deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!path || !p) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "tree file: path or problem is NULL");
        return DEFT_ERR_NULL;
    }
    deft_status st = deft_tree_validate(&p->tree, diag);
    if (st == DEFT_OK) st = deft_shape_validate(&p->shape, diag);
    if (st == DEFT_OK) st = tf_check_workload(path, workload, diag);
    if (st != DEFT_OK) return st;
    if (p->tree.n_nodes > TF_MAX_NODES) {
        deft_diag_set(diag, DEFT_ERR_OVERFLOW, -1, "%s: %lld nodes, a tree file holds at most %lld",
                      path, (long long)p->tree.n_nodes, (long long)TF_MAX_NODES);
        return DEFT_ERR_OVERFLOW;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        deft_diag_set(diag, DEFT_ERR_IO, -1, "%s: cannot create: %s", path, strerror(errno));
        return DEFT_ERR_IO;
    }
    int ok = tf_emit(f, p, workload);
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(path); /* no half-written tree left behind */
        deft_diag_set(diag, DEFT_ERR_IO, -1, "%s: write failed: %s", path, strerror(e));
        return DEFT_ERR_IO;
    }
    return DEFT_OK;
}
