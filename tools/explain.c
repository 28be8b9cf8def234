/* explain.c: `deft explain`, DeFT taught on one tree with its real numbers: the tree, phase 1
 * (KV-guided groups, flattened tree KV splitting and the load balance it buys), phase 3's
 * reduction map for one query, phases 2 and 3 with the actual partial states (O, LSE) on small
 * cases, checked against the reference on every run, and the IO table. docs/algorithm.md walks
 * through the same steps. The output is stable, with no timings, addresses or thread-dependent
 * numbers (tests/golden/ holds it), and every line fits WIDTH columns. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define N_OPTS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define WIDTH 100        /* columns every line fits in (tests/explain.sh checks) */
#define MAX_INDENT 20    /* tree levels drawn with their own indentation before "..." */
#define CHECK_WORK 5e7   /* visible (query, head, token) triples x D up to which we check numbers */

/* ------------------------------------------------------------------------------------------- */
/* Small text helpers.                                                                          */

/* Display width of a UTF-8 string: every character this file prints is one column wide. */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* Sorted values as "a..b, c, d..e" in at most max_w columns (ending "..." when cut). */
static void fmt_ranges(char *buf, size_t cap, const int64_t *v, int64_t n, int max_w)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1) j++;
        char item[48];
        if (j == i) snprintf(item, sizeof item, "%s%lld", i ? ", " : "", (long long)v[i]);
        else snprintf(item, sizeof item, "%s%lld..%lld", i ? ", " : "", (long long)v[i], (long long)v[j]);
        int last = j + 1 >= n;
        /* room for this item, and for ", ..." after it unless it is the last */
        if ((int)(len + strlen(item)) + (last ? 0 : 5) > max_w || len + strlen(item) + 6 > cap) {
            snprintf(buf + len, cap - len, "%s...", i ? ", " : "");
            return;
        }
        memcpy(buf + len, item, strlen(item) + 1);
        len += strlen(item);
        i = j + 1;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void rule(const char *title)
{
    printf("\n%s\n", title);
    for (int i = text_width(title); i > 0; i--) putchar('-');
    putchar('\n');
}

/* A vector of d values as "(+0.123456, -1.000000)". */
static void fmt_vec(char *buf, size_t cap, const double *x, int64_t d, int digits)
{
    size_t len = 0;
    for (int64_t i = 0; i < d && len + 16 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%+.*f", i ? ", " : "(", digits, x[i]);
    snprintf(buf + len, cap - len, ")");
}

/* Prints head and tail on one line when they fit WIDTH, else tail on a line of its own under
 * `indent` spaces. */
static void print_fit(const char *head, const char *tail, int indent)
{
    if (text_width(head) + 2 + text_width(tail) <= WIDTH) printf("%s, %s\n", head, tail);
    else printf("%s\n%*s%s\n", head, indent, "", tail);
}

static void fmt_lse(char *buf, size_t cap, double lse)
{
    if (lse == -INFINITY) snprintf(buf, cap, "-inf");
    else snprintf(buf, cap, "%+.6f", lse);
}

/* ------------------------------------------------------------------------------------------- */
/* What every section reads: the problem, its plan and per-node / per-query indexes.            */

typedef struct {
    int64_t first, m;  /* the nodes this line stands for: pool[first .. first + m - 1] */
    int64_t run;       /* alike siblings under each parent of the line above */
    int64_t depth;     /* 0 for roots */
    int64_t parent;    /* index of the line above, -1 for roots */
    int last;          /* the last line among its siblings */
} tree_line;

typedef struct {
    const deft_problem *p;
    const deft_tree *t;
    const char *name;
    int has_data;          /* q, k, v hold real values (cases, random:SEED, the tiny example) */
    int plant;             /* --plant-bug: leave each query's last partial out of its merge */
    deft_plan pl;
    int64_t n, tq, query;
    int64_t *q_start;      /* (n + 1) first query of each node */
    int64_t *q_node;       /* (tq) node of each query */
    int64_t *sub;          /* (n) queries strictly below each node */
    int64_t *kid_start;    /* (n + 2) children of u: kid[kid_start[u] .. kid_start[u+1] - 1]; */
    int64_t *kid;          /*   index n stands for a virtual parent of the roots */
    int64_t *cls;          /* (n) shape class: the id of one node drawn alike (classify) */
    int64_t *chunk_of;     /* (n_pairs) chunk of each pair */
    int64_t *node_chunk0;  /* (n + 1) first plan chunk of each node (chunks run node by node) */
    int64_t *pool;         /* (n) the nodes of each tree line, line after line */
    tree_line *lines;
    int64_t n_lines;
} ctx;

static void ctx_free(ctx *e)
{
    free(e->q_start), free(e->q_node), free(e->sub), free(e->kid_start), free(e->kid);
    free(e->cls), free(e->chunk_of), free(e->node_chunk0), free(e->pool), free(e->lines);
    deft_plan_free(&e->pl);
}

static int64_t *alloc64(int64_t n)
{
    return malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
}

static int64_t kids_of(const ctx *e, int64_t u, const int64_t **k)
{
    *k = e->kid + e->kid_start[u];
    return e->kid_start[u + 1] - e->kid_start[u];
}

/* Two nodes look alike when they hold as many tokens and queries and their children, in order,
 * look alike pairwise: then their drawings are identical and a run of them is drawn once. */
static int alike(const ctx *e, int64_t a, int64_t b)
{
    const deft_tree *t = e->t;
    const int64_t *ka, *kb;
    int64_t na = kids_of(e, a, &ka), nb = kids_of(e, b, &kb);
    if (t->kv_len[a] != t->kv_len[b] || t->q_len[a] != t->q_len[b] || na != nb) return 0;
    for (int64_t i = 0; i < na; i++)
        if (e->cls[ka[i]] != e->cls[kb[i]]) return 0;
    return 1;
}

/* Shape classes bottom-up (children come after their parents, so theirs are final), through a
 * hash of each node's (tokens, queries, children's classes); a class is named by its first member
 * found. full == 1 gives every node its own class. */
static int classify(ctx *e, int full)
{
    int64_t n = e->n, size = 16;
    while (size < 2 * n) size *= 2;
    int64_t *table = alloc64(size);
    if (!table) return -1;
    for (int64_t i = 0; i < size; i++) table[i] = -1;
    for (int64_t u = n - 1; u >= 0; u--) {
        e->cls[u] = u;
        if (full) continue;
        const int64_t *k;
        int64_t nk = kids_of(e, u, &k);
        uint64_t h = (uint64_t)e->t->kv_len[u] * 0x9e3779b97f4a7c15ull ^ (uint64_t)e->t->q_len[u];
        for (int64_t i = 0; i < nk; i++) h = (h ^ (uint64_t)e->cls[k[i]]) * 0x100000001b3ull;
        h ^= h >> 29;
        int64_t slot = (int64_t)(h & (uint64_t)(size - 1));
        while (table[slot] >= 0 && !alike(e, table[slot], u)) slot = (slot + 1) & (size - 1);
        if (table[slot] >= 0) e->cls[u] = e->cls[table[slot]];
        else table[slot] = u;
    }
    free(table);
    return 0;
}

/* The drawing's lines, depth first. A line is a run of alike siblings, under every parent the line
 * above stands for, so its node list is the union of that run over those parents. An explicit
 * stack keeps deep chains off the C stack. */
static int build_lines(ctx *e)
{
    typedef struct {
        int64_t line, pos, rep; /* the parent line (-1: the virtual root), next child, its node */
    } frame;
    int64_t n = e->n, sp = 0, used = 0;
    frame *st = malloc((size_t)(n + 1) * sizeof *st);
    e->pool = alloc64(n);
    e->lines = malloc((size_t)(n ? n : 1) * sizeof *e->lines);
    if (!st || !e->pool || !e->lines) {
        free(st);
        return -1;
    }
    st[sp++] = (frame){-1, 0, n};
    while (sp > 0) {
        frame *f = &st[sp - 1];
        const int64_t *k;
        int64_t nk = kids_of(e, f->rep, &k);
        if (f->pos >= nk) {
            sp--;
            continue;
        }
        int64_t run = 1, pos = f->pos;
        while (pos + run < nk && e->cls[k[pos + run]] == e->cls[k[pos]]) run++;
        tree_line *ln = &e->lines[e->n_lines];
        ln->first = used;
        ln->run = run;
        ln->parent = f->line;
        ln->last = pos + run == nk;
        ln->depth = f->line < 0 ? 0 : e->lines[f->line].depth + 1;
        if (f->line < 0) {
            for (int64_t i = 0; i < run; i++) e->pool[used++] = k[pos + i];
        } else {
            const tree_line *up = &e->lines[f->line];
            for (int64_t x = up->first; x < up->first + up->m; x++) {
                const int64_t *kx;
                kids_of(e, e->pool[x], &kx);
                for (int64_t i = 0; i < run; i++) e->pool[used++] = kx[pos + i];
            }
        }
        ln->m = used - ln->first;
        f->pos += run;
        st[sp++] = (frame){e->n_lines++, 0, k[pos]};
    }
    free(st);
    return 0;
}

static deft_status ctx_init(ctx *e, const deft_problem *p, const deft_options *opt, int full,
                            deft_diag *diag)
{
    const deft_tree *t = &p->tree;
    e->p = p;
    e->t = t;
    e->n = t->n_nodes;
    e->tq = deft_tree_total_q(t);
    deft_status st = deft_plan_build(t, opt, &e->pl, diag);
    if (st == DEFT_OK) st = deft_plan_verify(&e->pl, t, diag);
    if (st != DEFT_OK) return st;
    int64_t n = e->n;
    e->q_start = alloc64(n + 1), e->q_node = alloc64(e->tq), e->sub = alloc64(n);
    e->kid_start = alloc64(n + 2), e->kid = alloc64(n), e->cls = alloc64(n);
    e->chunk_of = alloc64(e->pl.n_pairs), e->node_chunk0 = alloc64(n + 1);
    if (!e->q_start || !e->q_node || !e->sub || !e->kid_start || !e->kid || !e->cls ||
        !e->chunk_of || !e->node_chunk0)
        goto oom;
    e->q_start[0] = 0;
    for (int64_t u = 0; u < n; u++) {
        e->q_start[u + 1] = e->q_start[u] + t->q_len[u];
        for (int64_t q = e->q_start[u]; q < e->q_start[u + 1]; q++) e->q_node[q] = u;
        e->sub[u] = 0;
    }
    for (int64_t u = n - 1; u >= 0; u--)
        if (t->parent[u] >= 0) e->sub[t->parent[u]] += e->sub[u] + t->q_len[u];
    /* children in index order; the roots are the children of virtual node n */
    memset(e->kid_start, 0, (size_t)(n + 2) * sizeof(int64_t));
    for (int64_t u = 0; u < n; u++) e->kid_start[(t->parent[u] < 0 ? n : t->parent[u]) + 1]++;
    for (int64_t u = 0; u <= n; u++) e->kid_start[u + 1] += e->kid_start[u];
    int64_t *fill = alloc64(n + 1);
    if (!fill) goto oom;
    memcpy(fill, e->kid_start, (size_t)(n + 1) * sizeof(int64_t));
    for (int64_t u = 0; u < n; u++) e->kid[fill[t->parent[u] < 0 ? n : t->parent[u]]++] = u;
    free(fill);
    for (int64_t c = 0; c < e->pl.n_chunks; c++)
        for (int64_t x = e->pl.pair_start[c]; x < e->pl.pair_start[c + 1]; x++) e->chunk_of[x] = c;
    /* the plan lists chunks node by node */
    for (int64_t u = 0, c = 0; u <= n; u++) {
        while (c < e->pl.n_chunks && e->pl.chunk_node[c] < u) c++;
        e->node_chunk0[u] = c;
    }
    if (classify(e, full) || build_lines(e)) goto oom;
    return DEFT_OK;
oom:
    if (diag) {
        diag->status = DEFT_ERR_NO_MEMORY;
        snprintf(diag->message, sizeof diag->message, "explain: out of memory");
    }
    return DEFT_ERR_NO_MEMORY;
}

/* ------------------------------------------------------------------------------------------- */
/* 1. The tree.                                                                                 */

static void node_label(char *buf, size_t cap, const deft_tree *t, int64_t u, int64_t run)
{
    char q[32] = "", r[32] = "";
    if (t->q_len[u] == 1) snprintf(q, sizeof q, ", q");
    else if (t->q_len[u] > 1) snprintf(q, sizeof q, ", %lld q", (long long)t->q_len[u]);
    if (run > 1) snprintf(r, sizeof r, "%lld \xc3\x97 ", (long long)run); /* U+00D7 */
    snprintf(buf, cap, "%s[%lld tok%s]", r, (long long)t->kv_len[u], q);
}

/* "node 5" or "nodes 1..20", then "query 3" / "queries 0..19", in at most max_w columns. */
static void line_ids(char *buf, size_t cap, const ctx *e, const tree_line *ln, int64_t *tmp, int max_w)
{
    char r1[160], r2[160];
    int64_t m = ln->m, nq = 0;
    memcpy(tmp, e->pool + ln->first, (size_t)m * sizeof *tmp);
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_i64);
    int64_t u0 = tmp[0], ql = e->t->q_len[u0];
    int budget = ql > 0 ? (max_w - 18) / 2 : max_w - 6;
    fmt_ranges(r1, sizeof r1, tmp, m, budget);
    if (ql > 0) {
        for (int64_t i = 0; i < m; i++) {
            int64_t u = e->pool[ln->first + i];
            for (int64_t q = e->q_start[u]; q < e->q_start[u + 1]; q++) tmp[nq++] = q;
        }
        qsort(tmp, (size_t)nq, sizeof *tmp, cmp_i64);
        fmt_ranges(r2, sizeof r2, tmp, nq, max_w - text_width(r1) - 18);
        snprintf(buf, cap, "%s %s, %s %s", m > 1 ? "nodes" : "node", r1, nq > 1 ? "queries" : "query", r2);
    } else {
        snprintf(buf, cap, "%s %s", m > 1 ? "nodes" : "node", r1);
    }
}

static int section_tree(const ctx *e, int64_t limit)
{
    rule("1. The tree");
    printf("[L tok, k q]: a node holding L tokens of KV cache, whose last k are queries (q: the last\n"
           "one). n \xc3\x97 [...]: n alike siblings (same tokens, queries and subtree) drawn once; "
           "--full\ndraws every node.\n\n");
    int64_t *tmp = alloc64(e->n > e->tq ? e->n : e->tq);
    char *lastf = calloc((size_t)e->n + 2, 1);
    if (!tmp || !lastf) {
        free(tmp), free(lastf);
        return -1;
    }
    int64_t drawn = 0, i;
    for (i = 0; i < e->n_lines && (limit <= 0 || i < limit); i++) {
        const tree_line *ln = &e->lines[i];
        char line[512], label[64], ids[400];
        size_t len = 0;
        int64_t d = ln->depth, from = d > MAX_INDENT ? d - MAX_INDENT + 1 : 1;
        lastf[d] = (char)ln->last;
        len += (size_t)snprintf(line + len, sizeof line - len, "  %s", from > 1 ? "..." : "");
        for (int64_t l = from; l < d; l++)
            len += (size_t)snprintf(line + len, sizeof line - len, "%s", lastf[l] ? "   " : "\xe2\x94\x82  ");
        if (d > 0)
            len += (size_t)snprintf(line + len, sizeof line - len, "%s",
                                    ln->last ? "\xe2\x94\x94\xe2\x94\x80 " : "\xe2\x94\x9c\xe2\x94\x80 ");
        node_label(label, sizeof label, e->t, e->pool[ln->first], ln->run);
        len += (size_t)snprintf(line + len, sizeof line - len, "%s", label);
        int w = text_width(line), col = w + 2 > 44 ? w + 2 : 44;
        line_ids(ids, sizeof ids, e, ln, tmp, WIDTH - col);
        printf("%s%*s%s\n", line, col - w, "", ids);
        drawn += ln->m;
    }
    if (i < e->n_lines)
        printf("  ... %lld more lines (%lld nodes): --limit 0 draws them all\n",
               (long long)(e->n_lines - i), (long long)(e->n - drawn));
    free(tmp), free(lastf);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* 2. KV-guided grouping.                                                                       */

/* Consecutive nodes a..b that print alike in a per-node table: the end of the run from a. */
static int64_t node_run(const ctx *e, int64_t a, int (*same)(const ctx *, int64_t, int64_t))
{
    int64_t b = a;
    while (b + 1 < e->n && same(e, a, b + 1)) b++;
    return b;
}

static int same_group(const ctx *e, int64_t a, int64_t b)
{
    const deft_tree *t = e->t;
    return t->kv_len[a] == t->kv_len[b] && t->q_len[a] == t->q_len[b] && e->sub[a] == e->sub[b];
}

static void nodes_text(char *buf, size_t cap, int64_t a, int64_t b)
{
    if (a == b) snprintf(buf, cap, "%lld", (long long)a);
    else snprintf(buf, cap, "%lld..%lld", (long long)a, (long long)b);
}

static void read_by(char *buf, size_t cap, const ctx *e, int64_t u)
{
    const deft_tree *t = e->t;
    int64_t L = t->kv_len[u], Q = t->q_len[u], sub = e->sub[u];
    char below[64] = "", own[96] = "";
    if (sub > 0) snprintf(below, sizeof below, "%lld below read all", (long long)sub);
    if (Q == 1)
        snprintf(own, sizeof own, "own at token %lld reads 0..%lld", (long long)(L - 1), (long long)(L - 1));
    else if (Q > 1)
        snprintf(own, sizeof own, "%lld own at tokens %lld..%lld read 0..p", (long long)Q,
                 (long long)(L - Q), (long long)(L - 1));
    if (L == 0) snprintf(buf, cap, "(empty: nothing to load)");
    else if (!sub && !Q) snprintf(buf, cap, "no query: never loaded");
    else snprintf(buf, cap, "%s%s%s", below, *below && *own ? "; " : "", own);
}

static void section_groups(const ctx *e, int64_t limit)
{
    rule("2. Phase 1: KV-guided grouping");
    printf("Each node's KV makes one group with every query that reads it: the queries below the node\n"
           "read all of it, the node's own queries a causal prefix (a query at token p reads tokens\n"
           "0..p). So the group's K and V are loaded once for all its readers. deft_plan_build\n"
           "(common/plan.c) counts each node's readers: queries below it, and its own.\n\n");
    printf("  %-16s %12s  %s\n", "node(s)", "tokens", "read by");
    int64_t rows = 0, a;
    for (a = 0; a < e->n && (limit <= 0 || rows < limit); rows++) {
        int64_t b = node_run(e, a, same_group);
        char nodes[48], tok[32], rb[160];
        nodes_text(nodes, sizeof nodes, a, b);
        snprintf(tok, sizeof tok, "%lld%s", (long long)e->t->kv_len[a], b > a ? " each" : "");
        read_by(rb, sizeof rb, e, a);
        printf("  %-16s %12s  %s\n", nodes, tok, rb);
        a = b + 1;
    }
    if (a < e->n) printf("  ... nodes %lld..%lld: --limit 0 lists them all\n", (long long)a, (long long)(e->n - 1));
    int64_t grouped = 0;
    for (int64_t u = 0; u < e->n; u++)
        if (e->sub[u] + e->t->q_len[u] > 0) grouped += e->t->kv_len[u];
    int64_t seq = deft_tree_visible_pairs(e->t);
    printf("\nGrouped, K and V leave memory once per KV head for all their readers: %lld tokens.\n",
           (long long)grouped);
    printf("Sequence-based attention loads every query's whole path instead: %lld tokens", (long long)seq);
    if (grouped > 0) printf(" (%.2fx).\n", (double)seq / (double)grouped);
    else printf(".\n");
}

/* ------------------------------------------------------------------------------------------- */
/* 3. Flattened tree KV splitting and the load balance it buys.                                 */

/* A node's chunk sizes from the plan: "16 x 250" or "1 x 334, 2 x 333". */
static void chunk_sizes(char *buf, size_t cap, const ctx *e, int64_t u)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int64_t c = e->node_chunk0[u]; c < e->node_chunk0[u + 1];) {
        int64_t c2 = c;
        while (c2 + 1 < e->node_chunk0[u + 1] && e->pl.chunk_len[c2 + 1] == e->pl.chunk_len[c]) c2++;
        if (len + 40 < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s%lld \xc3\x97 %d", len ? ", " : "",
                                    (long long)(c2 - c + 1), e->pl.chunk_len[c]);
        c = c2 + 1;
    }
}

static int64_t node_pairs(const ctx *e, int64_t u)
{
    return e->pl.pair_start[e->node_chunk0[u + 1]] - e->pl.pair_start[e->node_chunk0[u]];
}

static int same_split(const ctx *e, int64_t a, int64_t b)
{
    char x[128], y[128];
    chunk_sizes(x, sizeof x, e, a);
    chunk_sizes(y, sizeof y, e, b);
    return e->t->kv_len[a] == e->t->kv_len[b] && node_pairs(e, a) == node_pairs(e, b) && !strcmp(x, y);
}

/* A chunk's queries: runs of consecutive ones that see the whole chunk as "a..b", one that sees a
 * causal prefix as "q(v)"; cut with "..." at max_w columns. */
static void chunk_queries_text(char *buf, size_t cap, const deft_plan *pl, int64_t c, int max_w)
{
    int64_t e0 = pl->pair_start[c], end = pl->pair_start[c + 1], len = pl->chunk_len[c];
    size_t n = (size_t)snprintf(buf, cap, "%lld:", (long long)(end - e0));
    for (int64_t x = e0; x < end;) {
        char item[48];
        int64_t last = x;
        if (pl->pair_visible[x] < len) {
            snprintf(item, sizeof item, " %d(%d)", pl->pair_query[x], pl->pair_visible[x]);
        } else {
            while (last + 1 < end && pl->pair_visible[last + 1] == len &&
                   pl->pair_query[last + 1] == pl->pair_query[last] + 1)
                last++;
            if (last == x) snprintf(item, sizeof item, " %d", pl->pair_query[x]);
            else snprintf(item, sizeof item, " %d..%d", pl->pair_query[x], pl->pair_query[last]);
        }
        if ((int)(n + strlen(item)) + (last + 1 < end ? 4 : 0) > max_w || n + strlen(item) + 5 > cap) {
            snprintf(buf + n, cap - n, " ...");
            return;
        }
        memcpy(buf + n, item, strlen(item) + 1);
        n += strlen(item);
        x = last + 1;
    }
}

/* Greedy list scheduling: items in order, each to the worker that frees up first (a min-heap of
 * finish times). Returns when the last worker finishes. */
static int64_t makespan(const int64_t *cost, int64_t n, int w)
{
    int64_t *h = calloc((size_t)w, sizeof *h), end = 0;
    if (!h) return 0;
    for (int64_t i = 0; i < n; i++) {
        h[0] += cost[i];
        for (int k = 0;;) { /* sift the grown root down */
            int l = 2 * k + 1, r = l + 1, s = k;
            if (l < w && h[l] < h[s]) s = l;
            if (r < w && h[r] < h[s]) s = r;
            if (s == k) break;
            int64_t x = h[k];
            h[k] = h[s], h[s] = x, k = s;
        }
    }
    for (int k = 0; k < w; k++) end = h[k] > end ? h[k] : end;
    free(h);
    return end;
}

static void balance_row(const char *name, const int64_t *cost, int64_t n)
{
    static const int workers[2] = {16, 132};
    int64_t mx = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        total += cost[i];
        mx = cost[i] > mx ? cost[i] : mx;
    }
    double mean = n ? (double)total / (double)n : 0;
    printf("  %-20s %7lld %10lld %10.1f %9.2f", name, (long long)n, (long long)mx, mean,
           mean > 0 ? (double)mx / mean : 0.0);
    for (int k = 0; k < 2; k++) {
        int64_t span = makespan(cost, n, workers[k]);
        printf(" %11.1f%%", span > 0 ? 100.0 * (double)total / ((double)workers[k] * (double)span) : 0.0);
    }
    printf("\n");
}

static int section_split(const ctx *e, int64_t limit)
{
    const deft_plan *pl = &e->pl;
    char title[96];
    snprintf(title, sizeof title, "3. Phase 1: flattened tree KV splitting (chunk_tokens %d)", pl->chunk_tokens);
    rule(title);
    printf("Groups are as uneven as the tree: one node may hold thousands of tokens, its children a\n"
           "few. Splitting cuts every node into ceil(tokens / chunk_tokens) chunks of even size\n"
           "(tc_bounds in common/plan.c); a chunk keeps its group's queries, each seeing the whole\n"
           "chunk or, in its own node, a causal prefix of it.");
    if (pl->chunk_queries)
        printf(" A chunk read by more than %d queries is repeated\nover the same tokens with disjoint query "
               "slices.", pl->chunk_queries);
    printf("\n\n  %-16s %8s %7s  %-30s %s\n", "node(s)", "tokens", "chunks", "chunk sizes", "(chunk, query) pairs");
    int64_t rows = 0, a;
    for (a = 0; a < e->n && (limit <= 0 || rows < limit); rows++) {
        int64_t b = node_run(e, a, same_split);
        char nodes[48], sizes[128], pairs[32];
        nodes_text(nodes, sizeof nodes, a, b);
        chunk_sizes(sizes, sizeof sizes, e, a);
        snprintf(pairs, sizeof pairs, "%lld%s", (long long)node_pairs(e, a), b > a ? " each" : "");
        printf("  %-16s %8lld %7lld  %-*s %s\n", nodes, (long long)e->t->kv_len[a],
               (long long)(e->node_chunk0[a + 1] - e->node_chunk0[a]),
               30 + (text_width(sizes) < (int)strlen(sizes) ? (int)strlen(sizes) - text_width(sizes) : 0),
               *sizes ? sizes : "-", pairs);
        a = b + 1;
    }
    if (a < e->n) printf("  ... nodes %lld..%lld: --limit 0 lists them all\n", (long long)a, (long long)(e->n - 1));
    printf("  %d chunks, %d (chunk, query) pairs; the longest chunk %d tokens, the most queries %d.\n",
           pl->n_chunks, pl->n_pairs, pl->max_chunk_len, pl->max_chunk_pairs);

    int64_t shown = pl->n_chunks < 8 ? pl->n_chunks : 8;
    printf("\nThe plan as phases 2 and 3 read it (`deft plan` lists every chunk): chunk c holds\n"
           "chunk_len[c] tokens of node chunk_node[c] from token chunk_tok_start[c], at K/V rows\n"
           "chunk_kv_row[c]..; its pairs pair_start[c]..pair_start[c+1]-1 each name a query and how\n"
           "many of the chunk's tokens it sees (q(v): only the first v).\n\n");
    printf("  %5s %6s  %-13s %-15s %-13s %s\n", "chunk", "node", "tokens", "kv rows", "pairs", "queries");
    for (int64_t c = 0; c < shown; c++) {
        char tok[32], kv[32], pr[32], qs[128], head[128];
        snprintf(tok, sizeof tok, "%d..%d", pl->chunk_tok_start[c], pl->chunk_tok_start[c] + pl->chunk_len[c] - 1);
        snprintf(kv, sizeof kv, "%d..%d", pl->chunk_kv_row[c], pl->chunk_kv_row[c] + pl->chunk_len[c] - 1);
        snprintf(pr, sizeof pr, "%d..%d", pl->pair_start[c], pl->pair_start[c + 1] - 1);
        snprintf(head, sizeof head, "  %5lld %6d  %-13s %-15s %-13s ", (long long)c, pl->chunk_node[c], tok, kv, pr);
        chunk_queries_text(qs, sizeof qs, pl, c, WIDTH - (int)strlen(head));
        printf("%s%s\n", head, qs);
    }
    if (shown < pl->n_chunks) printf("  ... %lld more chunks\n", (long long)(pl->n_chunks - shown));

    /* load balance: one item per (node, KV head) before splitting, per (chunk, KV head) after */
    int64_t hkv = e->p->shape.hkv, nb = 0, na = 0;
    int64_t *before = alloc64(e->n * hkv), *after = alloc64((int64_t)pl->n_chunks * hkv);
    if (!before || !after) {
        free(before), free(after);
        return -1;
    }
    for (int64_t u = 0; u < e->n; u++)
        if (e->t->kv_len[u] > 0 && e->sub[u] + e->t->q_len[u] > 0)
            for (int64_t g = 0; g < hkv; g++) before[nb++] = e->t->kv_len[u];
    for (int64_t c = 0; c < pl->n_chunks; c++)
        for (int64_t g = 0; g < hkv; g++) after[na++] = pl->chunk_len[c];
    printf("\nLoad balance. Phase 2 runs one work item per (chunk, KV head), %lld KV head%s here; an\n"
           "item mostly streams its chunk's K and V, so count its work in tokens. W workers finish\n"
           "when the busiest one does.\n\n", (long long)hkv, hkv == 1 ? "" : "s");
    printf("  %-20s %7s %10s %10s %9s %12s %12s\n", "", "items", "max tok", "mean tok", "max/mean",
           "busy W=16", "busy W=132");
    balance_row("one chunk per node", before, nb);
    balance_row("after splitting", after, na);
    printf("\nbusy: all the work / (W x when the last worker finishes), items handed out in plan order\n"
           "to whichever worker frees up first; 16 is a CPU's cores, 132 an H200's multiprocessors.\n");
    free(before), free(after);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* 4. The reduction map of one query.                                                           */

static int64_t query_pos(const ctx *e, int64_t q)
{
    int64_t u = e->q_node[q];
    return e->t->kv_len[u] - e->t->q_len[u] + (q - e->q_start[u]);
}

static void section_reduction(const ctx *e)
{
    const deft_plan *pl = &e->pl;
    int64_t q = e->query, u = e->q_node[q], pos = query_pos(e, q);
    int64_t r0 = pl->red_start[q], r1 = pl->red_start[q + 1], seen = 0;
    char title[96];
    snprintf(title, sizeof title, "4. The reduction map of query %lld (built in phase 1, run in phase 3)",
             (long long)q);
    rule(title);
    for (int64_t r = r0; r < r1; r++) seen += pl->pair_visible[pl->red_pair[r]];
    printf("Query %lld is token %lld of node %lld and sees %lld tokens: its ancestors' and its own up to\n"
           "itself. Phase 2 leaves one partial state (O, LSE) per (chunk, query) pair; phase 3 merges\n"
           "the query's in the plan's fixed order, red_pair[red_start[%lld] .. red_start[%lld] - 1]:\n"
           "ancestors root first, then its own node, chunks in token order. Same order, same bits.\n\n",
           (long long)q, (long long)pos, (long long)u, (long long)seen, (long long)q, (long long)(q + 1));
    printf("  %-7s %-9s %-16s %-14s %-9s %s\n", "node", "role", "chunks", "tokens", "visible",
           "queries sharing each chunk");
    int64_t *ids = alloc64(r1 - r0);
    if (!ids) return;
    for (int64_t r = r0; r < r1;) {
        int64_t c0 = e->chunk_of[pl->red_pair[r]], a = pl->chunk_node[c0], r2 = r, vis = 0;
        int64_t smin = INT64_MAX, smax = 0, nid = 0;
        while (r2 < r1 && pl->chunk_node[e->chunk_of[pl->red_pair[r2]]] == a) {
            int64_t x = pl->red_pair[r2], c = e->chunk_of[x], sh = pl->pair_start[c + 1] - pl->pair_start[c];
            ids[nid++] = c;
            vis += pl->pair_visible[x];
            smin = sh < smin ? sh : smin;
            smax = sh > smax ? sh : smax;
            r2++;
        }
        int64_t x_last = pl->red_pair[r2 - 1], c_last = e->chunk_of[x_last];
        char ch[64], tok[32], sh[32];
        fmt_ranges(ch, sizeof ch, ids, nid, 16);
        snprintf(tok, sizeof tok, "%d..%lld", pl->chunk_tok_start[c0],
                 (long long)(pl->chunk_tok_start[c_last] + pl->pair_visible[x_last] - 1));
        if (smin == smax) snprintf(sh, sizeof sh, "%lld", (long long)smin);
        else snprintf(sh, sizeof sh, "%lld..%lld", (long long)smin, (long long)smax);
        printf("  %-7lld %-9s %-16s %-14s %-9lld %s\n", (long long)a, a == u ? "own node" : "ancestor",
               ch, tok, (long long)vis, sh);
        r = r2;
    }
    int64_t x_own = pl->red_pair[r1 - 1], c_own = e->chunk_of[x_own];
    if (r1 > r0 && pl->pair_visible[x_own] < pl->chunk_len[c_own])
        printf("  (the causal boundary cuts c%lld: the query sees %d of its %d tokens, pair_visible)\n",
               (long long)c_own, pl->pair_visible[x_own], pl->chunk_len[c_own]);
    int64_t k = r1 - r0;
    printf("\n%lld partial state%s, %lld merge%s, left to right: ", (long long)k, k == 1 ? "" : "s",
           (long long)(k > 0 ? k - 1 : 0), k == 2 ? "" : "s");
    for (int64_t r = r0; r < r1; r++) {
        if (k > 8 && r == r0 + 4) {
            printf(" \xe2\x8a\x95 ...");
            r = r1 - 3;
            continue;
        }
        printf("%sc%lld", r == r0 ? "" : " \xe2\x8a\x95 ", (long long)e->chunk_of[pl->red_pair[r]]);
    }
    printf("\n");
    free(ids);
}

/* ------------------------------------------------------------------------------------------- */
/* 5. Phases 2 and 3 with numbers, checked against the reference.                               */

/* Phase 2 of one pair x (chunk c) for query head h, as a kernel computes it but in double: the
 * scores of the tokens the query sees in the chunk, m = max s_j, l = sum exp(s_j - m),
 * O = sum exp(s_j - m) v_j / l, LSE = m + ln l; O and LSE are then rounded to float, like the
 * kernels' partials. s (optional) gets the first min(visible, 4) scores. */
static void partial_state(const deft_problem *p, const deft_plan *pl, int64_t x, int64_t c, int64_t h,
                          float *o, float *lse, double *m_out, double *l_out, double *s, double *acc)
{
    int64_t d = p->shape.d, hq = p->shape.hq, hkv = p->shape.hkv, g = h / (hq / hkv);
    int64_t query = pl->pair_query[x], vis = pl->pair_visible[x], row0 = pl->chunk_kv_row[c];
    double scale = deft_shape_scale(&p->shape), m = -INFINITY, l = 0;
    deft_dtype t = p->shape.dtype;
    size_t qb = (size_t)((query * hq + h) * d);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < d; i++) acc[i] = 0;
        for (int64_t j = 0; j < vis; j++) {
            size_t kb = (size_t)(((row0 + j) * hkv + g) * d);
            double sj = 0;
            for (int64_t i = 0; i < d; i++)
                sj += (double)deft_load_f32(p->q, t, qb + (size_t)i) * (double)deft_load_f32(p->k, t, kb + (size_t)i);
            sj *= scale;
            if (pass == 0) {
                m = sj > m ? sj : m;
                if (s && j < 4) s[j] = sj;
                continue;
            }
            double w = exp(sj - m);
            l += w;
            for (int64_t i = 0; i < d; i++) acc[i] += w * (double)deft_load_f32(p->v, t, kb + (size_t)i);
        }
    }
    for (int64_t i = 0; i < d; i++) o[i] = (float)(acc[i] / l);
    *lse = (float)(m + log(l));
    if (m_out) *m_out = m;
    if (l_out) *l_out = l;
}

/* DeFT by hand for every query and head: each pair's partial state, merged from the empty state
 * (0, -inf) in the plan's reduction order, with the running state in double as the CPU path keeps
 * it (deft_merge_f64). o: (tq, hq, d), lse: (tq, hq). */
static int deft_by_hand(const ctx *e, float *o, float *lse)
{
    const deft_problem *p = e->p;
    const deft_plan *pl = &e->pl;
    int64_t d = p->shape.d, hq = p->shape.hq;
    float *ob = malloc((size_t)d * sizeof *ob);
    double *acc = malloc((size_t)d * sizeof *acc), *state = malloc((size_t)d * sizeof *state);
    if (!ob || !acc || !state) {
        free(ob), free(acc), free(state);
        return -1;
    }
    for (int64_t q = 0; q < e->tq; q++)
        for (int64_t h = 0; h < hq; h++) {
            float lb;
            double l = -INFINITY;
            for (int64_t x = 0; x < d; x++) state[x] = 0.0;
            for (int64_t r = pl->red_start[q]; r < pl->red_start[q + 1] - (e->plant ? 1 : 0); r++) {
                int64_t x = pl->red_pair[r];
                partial_state(p, pl, x, e->chunk_of[x], h, ob, &lb, NULL, NULL, NULL, acc);
                deft_merge_f64(state, &l, ob, lb, d);
            }
            float *orow = o + (size_t)((q * hq + h) * d);
            for (int64_t x = 0; x < d; x++) orow[x] = (float)state[x];
            lse[q * hq + h] = (float)l;
        }
    free(ob), free(acc), free(state);
    return 0;
}

/* Up to four values of a float or double vector, "(+0.123456, ...)" with "..." when cut. */
static void vec_text(char *buf, size_t cap, const float *f, const double *x, int64_t d)
{
    double v[4] = {0, 0, 0, 0};
    int64_t k = d < 4 ? d : 4;
    for (int64_t i = 0; i < k; i++) v[i] = f ? (double)f[i] : x[i];
    fmt_vec(buf, cap, v, k, 6);
    if (d > 4) snprintf(buf + strlen(buf) - 1, cap - strlen(buf) + 1, ", ...)");
}

static void section_phase2(const ctx *e)
{
    const deft_plan *pl = &e->pl;
    int64_t G = e->p->shape.hq / e->p->shape.hkv, hkv = e->p->shape.hkv, rmax = 0, rsum = 0;
    double scores = 0;
    for (int64_t c = 0; c < pl->n_chunks; c++) {
        int64_t rows = (pl->pair_start[c + 1] - pl->pair_start[c]) * G;
        rmax = rows > rmax ? rows : rmax;
        rsum += rows;
        for (int64_t x = pl->pair_start[c]; x < pl->pair_start[c + 1]; x++) scores += pl->pair_visible[x];
    }
    rule("5. Phase 2: partial attention of every (chunk, KV head)");
    printf("Item (c, g) stacks chunk c's queries times the G = %lld query head%s sharing KV head g into\n"
           "the rows of one matrix, loads the chunk's K and V rows once, and computes S = scale Q K^T,\n"
           "a softmax per row over the columns that row sees, and O = P V. Each row leaves a partial\n"
           "state: O normalised, and LSE = m + ln l (m the row's max score, l its sum of exp(s - m)).\n"
           "cpu/deft_cpu.c (run_item, run_block) does this with sgemm; gpu/deft_gpu_simple.cu with one\n"
           "warp per row; gpu/deft_gpu.cu with tensor cores.\n\n",
           (long long)G, G == 1 ? "" : "s");
    printf("  %lld items; rows (one query, one query head) per item: max %lld, mean %.1f\n"
           "  scores per KV head: %.0f (G x the visible (query, token) pairs)\n",
           (long long)pl->n_chunks * hkv, (long long)rmax,
           pl->n_chunks ? (double)rsum / (double)pl->n_chunks : 0.0, scores * (double)G);
}

/* The numbers of one (query, head): its partials, each merge, and the reference's answer. */
static void show_numbers(const ctx *e, const deft_reference *ref, int64_t h)
{
    const deft_problem *p = e->p;
    const deft_plan *pl = &e->pl;
    int64_t q = e->query, d = p->shape.d, hq = p->shape.hq, g = h / (hq / p->shape.hkv);
    int64_t r0 = pl->red_start[q], r1 = pl->red_start[q + 1] - (e->plant ? 1 : 0), k = r1 - r0;
    float *ob = malloc((size_t)d * sizeof *ob), *oa = malloc((size_t)d * sizeof *oa), lb, la = -INFINITY;
    double *acc = malloc((size_t)d * sizeof *acc), *qv = malloc((size_t)d * sizeof *qv), s[4], m, l;
    if (!ob || !oa || !acc || !qv) goto done;
    char v[96], lt[32];
    for (int64_t i = 0; i < d; i++)
        qv[i] = deft_load_f32(p->q, p->shape.dtype, (size_t)((q * hq + h) * d + i));
    vec_text(v, sizeof v, NULL, qv, d);
    printf("\nThe numbers of query %lld, head %lld (it reads KV head %lld; scale %.6g):\n  q = %s\n",
           (long long)q, (long long)h, (long long)g, deft_shape_scale(&p->shape), v);
    printf("\nPhase 2, the query's partial state in each chunk it reads (s: its scores there):\n");
    for (int64_t r = r0; r < r1; r++) {
        int64_t x = pl->red_pair[r], c = e->chunk_of[x], vis = pl->pair_visible[x];
        if (k > 14 && r == r0 + 10) printf("  ... %lld more chunks\n", (long long)(k - 12));
        if (k > 14 && r >= r0 + 10 && r < r1 - 2) continue;
        partial_state(p, pl, x, c, h, ob, &lb, &m, &l, s, acc);
        char sv[96], tok[48];
        fmt_vec(sv, sizeof sv, s, vis < 4 ? vis : 4, 4);
        if (vis > 4) snprintf(sv + strlen(sv) - 1, sizeof sv - strlen(sv) + 1, ", ...)");
        if (vis == 1) snprintf(tok, sizeof tok, "node %d, token %d", pl->chunk_node[c], pl->chunk_tok_start[c]);
        else snprintf(tok, sizeof tok, "node %d, tokens %d..%lld", pl->chunk_node[c], pl->chunk_tok_start[c],
                      (long long)(pl->chunk_tok_start[c] + vis - 1));
        printf("  c%-5lld %-26s s = %s\n", (long long)c, tok, sv);
        vec_text(v, sizeof v, ob, NULL, d);
        fmt_lse(lt, sizeof lt, lb);
        char head[160], tail[128];
        snprintf(head, sizeof head, "         m %+.6f, l %.6f: LSE %s", m, l, lt);
        snprintf(tail, sizeof tail, "O %s", v);
        print_fit(head, tail, 9);
    }
    printf("\nPhase 3, merged in that order from the empty state (O = 0, LSE = -inf) by deft_merge:\n"
           "  M = max(L, L'), a = e^(L-M) / (e^(L-M) + e^(L'-M)), b = 1 - a:\n"
           "  (O, L) \xe2\x8a\x95 (O', L') = (a O + b O', M + ln(e^(L-M) + e^(L'-M)))\n");
    for (int64_t i = 0; i < d; i++) oa[i] = 0;
    for (int64_t r = r0; r < r1; r++) {
        int64_t x = pl->red_pair[r], c = e->chunk_of[x];
        partial_state(p, pl, x, c, h, ob, &lb, NULL, NULL, NULL, acc);
        /* the weights deft_merge applies, for display */
        float mm = la > lb ? la : lb, wa = la == -INFINITY ? 0.0f : expf(la - mm), wb = expf(lb - mm);
        deft_merge(oa, &la, ob, lb, d);
        if (k > 14 && r == r0 + 10) printf("  ... %lld more merges\n", (long long)(k - 12));
        if (k > 14 && r >= r0 + 10 && r < r1 - 2) continue;
        char cn[16];
        snprintf(cn, sizeof cn, "c%lld", (long long)c);
        vec_text(v, sizeof v, oa, NULL, d);
        fmt_lse(lt, sizeof lt, la);
        char head[160], tail[128];
        snprintf(head, sizeof head, "  \xe2\x8a\x95 %-6s a %.6f, b %.6f: LSE %s", cn, (double)(wa / (wa + wb)),
                 (double)(wb / (wa + wb)), lt);
        snprintf(tail, sizeof tail, "O %s", v);
        print_fit(head, tail, 11);
    }
    vec_text(v, sizeof v, oa, NULL, d);
    fmt_lse(lt, sizeof lt, la);
    printf("\nDeFT's answer, then the reference's (exact, in double: ref/):\n");
    char head[64], tail[128];
    snprintf(head, sizeof head, "  DeFT       LSE %s", lt);
    snprintf(tail, sizeof tail, "O %s", v);
    print_fit(head, tail, 13);
    vec_text(v, sizeof v, NULL, ref->o + (size_t)((q * hq + h) * d), d);
    fmt_lse(lt, sizeof lt, ref->lse[q * hq + h]);
    snprintf(head, sizeof head, "  reference  LSE %s", lt);
    snprintf(tail, sizeof tail, "O %s", v);
    print_fit(head, tail, 13);
done:
    free(ob), free(oa), free(acc), free(qv);
}

/* Runs DeFT by hand over the whole problem and judges it with deft_compare. Returns 1 on a
 * mismatch, 0 on a pass or when the problem has no data or is too large, -1 on an error. */
static int section_numbers(const ctx *e, deft_diag *diag)
{
    const deft_problem *p = e->p;
    if (!e->has_data) {
        printf("\nFor the numbers of every partial state and merge on a tiny tree, checked against the\n"
               "reference: deft explain --tiny.\n");
        return 0;
    }
    double work = (double)deft_tree_visible_pairs(e->t) * (double)p->shape.hq * (double)p->shape.d;
    if (work > CHECK_WORK || e->tq == 0) {
        printf("\nNumbers: skipped, the case is large (deft check --case DIR --impl cpu judges the CPU\n"
               "path on it).\n");
        return 0;
    }
    deft_reference ref;
    float *o = NULL, *lse = NULL;
    int rc = -1;
    if (deft_reference_compute(p, &ref, diag) != DEFT_OK) return -1;
    if (tool_alloc_output(p, &o, &lse, diag) != DEFT_OK) goto done;
    if (deft_by_hand(e, o, lse)) goto done;
    show_numbers(e, &ref, 0);
    deft_report rep;
    if (deft_compare(&ref, o, lse, NULL, &rep, diag) != DEFT_OK) goto done;
    printf("\nEvery query and head done this way (the plan, a partial per pair, deft_merge), against the\n"
           "reference with deft_compare: %lld values of O and LSE\n", (long long)rep.checked);
    printf("checked: %s\n", rep.pass ? "PASS" : "FAIL");
    if (!rep.pass) deft_report_print(&rep, stdout);
    rc = !rep.pass;
done:
    free(o), free(lse);
    deft_reference_free(&ref);
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* 6. IO.                                                                                       */

static int section_io(const ctx *e, deft_diag *diag)
{
    const deft_plan *pl = &e->pl;
    const deft_tree *t = e->t;
    deft_shape shape = e->p->shape;
    deft_io io;
    rule("6. IO: DeFT against sequence-based and tree-mask attention");
    double tokens = 0, chunk_tok = 0, scores = 0, visible = (double)deft_tree_visible_pairs(t);
    for (int64_t u = 0; u < e->n; u++) tokens += (double)t->kv_len[u];
    for (int64_t c = 0; c < pl->n_chunks; c++) chunk_tok += pl->chunk_len[c];
    for (int64_t x = 0; x < pl->n_pairs; x++) scores += pl->pair_visible[x];
    double blocks = (double)((e->tq + DEFT_IO_MASK_BLOCK - 1) / DEFT_IO_MASK_BLOCK);
    printf("K and V tokens read per KV head, and (query, token) scores computed per query head:\n\n");
    printf("  %-16s %14s %14s\n", "", "tokens read", "scores");
    printf("  %-16s %14.0f %14.0f\n", "DeFT", chunk_tok, scores);
    printf("  %-16s %14.0f %14.0f   each query reads its whole path\n", "sequence-based", visible, visible);
    printf("  %-16s %14.0f %14.0f   each block of %d queries reads all KV\n", "tree mask",
           blocks * tokens, (double)e->tq * tokens, DEFT_IO_MASK_BLOCK);
    deft_status st = deft_io_account(t, &shape, pl, &io, diag);
    if (st != DEFT_OK) return -1;
    int standard = deft_io_total(&io.seq) < 1e5;
    if (standard) { /* a tiny problem's bytes round to 0.00 MB: count them at the standard shape */
        shape = (deft_shape){32, 8, 128, 0.0, DEFT_F32};
        if (deft_io_account(t, &shape, pl, &io, diag) != DEFT_OK) return -1;
    }
    printf("\nBytes (common/io.c, deft_io_account; docs/io-analysis.md gives the formulas), at heads\n"
           "%lld:%lld, D %lld, %s%s:\n\n", (long long)shape.hq, (long long)shape.hkv, (long long)shape.d,
           deft_dtype_name(shape.dtype), standard ? " (the standard shape: this problem's bytes are tiny)" : "");
    tool_print_io(&io);
    double d = deft_io_total(&io.deft), sq = deft_io_total(&io.seq) / d, mk = deft_io_total(&io.mask) / d;
    if (sq >= 1) printf("\nDeFT moves %.2fx fewer bytes than sequence-based attention", sq);
    else printf("\nDeFT moves %.2fx the bytes of sequence-based attention (its partials and repeated Q\n"
                "reads outweigh the little KV shared here)", 1 / sq);
    double extra = scores > 0 ? (double)e->tq * tokens / scores : 1.0;
    if (mk < 1) {
        printf(";\ntree mask moves %.2fx DeFT's bytes (its %lld quer%s fit in %.0f block%s)", mk,
               (long long)e->tq, e->tq == 1 ? "y" : "ies", blocks, blocks == 1 ? "" : "s");
        if (extra > 1.005) printf(" but computes %.2fx\nthe scores, the extra ones masked away.\n", extra);
        else printf(".\n");
    } else
        printf(" and %.2fx fewer\nthan tree-mask attention.\n", mk);
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* --dot: Graphviz pictures of the groups and chunks, and of the reduction of one query.        */

static const char *const palette[12] = {"#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
                                        "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"};

/* The palette colour of group i, or its half-way blend with white. */
static void colour(char *buf, size_t cap, int64_t i, int light)
{
    unsigned r, g, b;
    sscanf(palette[i % 12] + 1, "%2x%2x%2x", &r, &g, &b);
    if (light) r = (r + 255) / 2, g = (g + 255) / 2, b = (b + 255) / 2;
    snprintf(buf, cap, "#%02x%02x%02x", r, g, b);
}

static int64_t pair_of(const ctx *e, int64_t q, int64_t c)
{
    for (int64_t x = e->pl.pair_start[c]; x < e->pl.pair_start[c + 1]; x++)
        if (e->pl.pair_query[x] == q) return x;
    return -1;
}

static void dot_chunk_cell(FILE *f, const ctx *e, int64_t c, int64_t li, int on_path)
{
    char bg[16];
    colour(bg, sizeof bg, li, (c - e->node_chunk0[e->pl.chunk_node[c]]) % 2);
    int64_t x = on_path ? pair_of(e, e->query, c) : -1;
    const deft_plan *pl = &e->pl;
    fprintf(f, "<TD BGCOLOR=\"%s\"%s>c%lld<BR/><FONT POINT-SIZE=\"8\">%d..%d", bg,
            x >= 0 ? " BORDER=\"3\" COLOR=\"#c0392b\"" : "", (long long)c, pl->chunk_tok_start[c],
            pl->chunk_tok_start[c] + pl->chunk_len[c] - 1);
    if (x >= 0 && pl->pair_visible[x] < pl->chunk_len[c])
        fprintf(f, "<BR/>sees %d of %d", pl->pair_visible[x], pl->chunk_len[c]);
    fprintf(f, "</FONT></TD>");
}

static void dot_tree(FILE *f, const ctx *e, const char *on_path, int64_t *line_of, int64_t *tmp)
{
    int64_t max_lines = 60;
    fprintf(f, "  subgraph cluster_tree {\n    label=\"groups (one colour per node) cut into chunks "
               "(cells: c<id>, token range); red: the chunks query %lld reads\";\n"
               "    style=rounded; color=\"#999999\";\n", (long long)e->query);
    for (int64_t i = 0; i < e->n_lines && i < max_lines; i++) {
        const tree_line *ln = &e->lines[i];
        int64_t rep = e->pool[ln->first];
        for (int64_t x = ln->first; x < ln->first + ln->m; x++) {
            line_of[e->pool[x]] = i;
            if (on_path[e->pool[x]]) rep = e->pool[x];
        }
        memcpy(tmp, e->pool + ln->first, (size_t)ln->m * sizeof *tmp);
        qsort(tmp, (size_t)ln->m, sizeof *tmp, cmp_i64);
        char ids[96], head[16];
        fmt_ranges(ids, sizeof ids, tmp, ln->m, 40);
        colour(head, sizeof head, i, 0);
        int64_t c0 = e->node_chunk0[rep], c1 = e->node_chunk0[rep + 1], nc = c1 - c0;
        int64_t cols = nc > 8 ? 8 : (nc ? nc : 1);
        fprintf(f, "    L%lld [label=<<TABLE BORDER=\"%d\" CELLBORDER=\"1\" CELLSPACING=\"0\" "
                   "CELLPADDING=\"3\"><TR><TD COLSPAN=\"%lld\" BGCOLOR=\"%s\"><B>",
                (long long)i, on_path[rep] ? 2 : 0, (long long)cols, head);
        if (ln->run > 1) fprintf(f, "%lld &#215; ", (long long)ln->run);
        fprintf(f, "node%s %s</B><BR/>%lld tok%s", ln->m > 1 ? "s" : "", ids, (long long)e->t->kv_len[rep],
                ln->m > 1 ? " each" : "");
        if (e->t->q_len[rep] == e->t->kv_len[rep] && e->t->q_len[rep] > 0)
            fprintf(f, e->t->q_len[rep] == 1 ? ", a query" : ", all queries");
        else if (e->t->q_len[rep] == 1) fprintf(f, ", the last a query");
        else if (e->t->q_len[rep] > 1) fprintf(f, ", the last %lld queries", (long long)e->t->q_len[rep]);
        if (ln->m > 1) fprintf(f, "<BR/>(cells: node %lld's)", (long long)rep);
        fprintf(f, "</TD></TR><TR>");
        for (int64_t c = c0; c < c1; c++) {
            if (nc > 8 && c == c0 + 5) {
                fprintf(f, "<TD>... %lld<BR/>more ...</TD>", (long long)(nc - 7));
                c = c1 - 3;
                continue;
            }
            dot_chunk_cell(f, e, c, i, on_path[rep]);
        }
        if (!nc) fprintf(f, "<TD>no chunk</TD>");
        fprintf(f, "</TR></TABLE>>];\n");
        if (ln->parent >= 0) fprintf(f, "    L%lld -> L%lld;\n", (long long)ln->parent, (long long)i);
    }
    if (e->n_lines > max_lines)
        fprintf(f, "    more [label=\"... %lld more lines\"];\n", (long long)(e->n_lines - max_lines));
    fprintf(f, "  }\n");
}

/* The reduction: a comb of partial states (one per chunk, or one per node when it has many) and
 * merges, left to right, ending in the query's O and LSE. */
static void dot_reduction(FILE *f, const ctx *e, const int64_t *line_of)
{
    const deft_plan *pl = &e->pl;
    int64_t q = e->query, r0 = pl->red_start[q], r1 = pl->red_start[q + 1], np = 0;
    fprintf(f, "  subgraph cluster_reduce {\n    label=\"phase 3: query %lld (node %lld, token %lld) "
               "merges its partial states in the plan's order\";\n    style=rounded; color=\"#999999\";\n",
            (long long)q, (long long)e->q_node[q], (long long)query_pos(e, q));
    for (int64_t r = r0; r < r1;) {
        int64_t c = e->chunk_of[pl->red_pair[r]], a = pl->chunk_node[c], r2 = r;
        while (r2 < r1 && pl->chunk_node[e->chunk_of[pl->red_pair[r2]]] == a) r2++;
        int64_t per = r2 - r > 3 ? r2 - r : 1; /* many chunks of one node: one box */
        for (int64_t s = r; s < r2; s += per, np++) {
            char bg[16];
            int64_t cs = e->chunk_of[pl->red_pair[s]], ce = e->chunk_of[pl->red_pair[s + per - 1]], vis = 0;
            for (int64_t t = s; t < s + per; t++) vis += pl->pair_visible[pl->red_pair[t]];
            colour(bg, sizeof bg, line_of[a] >= 0 ? line_of[a] : 0, 0);
            if (per > 1)
                fprintf(f, "    P%lld [shape=box, style=\"rounded,filled\", fillcolor=\"%s\", label=\"c%lld..c%lld: "
                           "%lld partials\\nnode %lld, %lld tok\\n(merged in order)\"];\n",
                        (long long)np, bg, (long long)cs, (long long)ce, (long long)per, (long long)a, (long long)vis);
            else
                fprintf(f, "    P%lld [shape=box, style=\"rounded,filled\", fillcolor=\"%s\", label=\"c%lld\\n"
                           "node %lld, %lld tok\\n(O, LSE)\"];\n",
                        (long long)np, bg, (long long)cs, (long long)a, (long long)vis);
            if (np >= 1) {
                fprintf(f, "    M%lld [shape=circle, label=\"&#8853;\", width=0.3, fixedsize=true];\n", (long long)np);
                fprintf(f, "    %s%lld -> M%lld; P%lld -> M%lld;\n", np == 1 ? "P" : "M",
                        (long long)(np == 1 ? 0 : np - 1), (long long)np, (long long)np, (long long)np);
            }
        }
        r = r2;
    }
    fprintf(f, "    R [shape=box, style=bold, label=\"query %lld: O, LSE\"];\n", (long long)q);
    if (np > 0) fprintf(f, "    %s%lld -> R;\n", np == 1 ? "P" : "M", (long long)(np == 1 ? 0 : np - 1));
    /* partials left to right in merge order: a same-rank chain of invisible edges */
    fprintf(f, "    { rank=same;");
    for (int64_t i = 0; i < np; i++) fprintf(f, " P%lld;", (long long)i);
    fprintf(f, " }\n");
    for (int64_t i = 1; i < np; i++) fprintf(f, "    P%lld -> P%lld [style=invis];\n", (long long)(i - 1), (long long)i);
    if (np > 1) {
        fprintf(f, "    { rank=same;");
        for (int64_t i = 1; i < np; i++) fprintf(f, " M%lld;", (long long)i);
        fprintf(f, " }\n");
    }
    fprintf(f, "  }\n");
    if (np > 0 && line_of[e->q_node[q]] >= 0)
        fprintf(f, "  L%lld -> P0 [style=invis];\n", (long long)line_of[e->q_node[q]]);
}

static int write_dot(const ctx *e, const char *path)
{
    FILE *f = fopen(path, "w");
    char *on_path = calloc((size_t)e->n + 1, 1);
    int64_t *line_of = alloc64(e->n), *tmp = alloc64(e->n);
    if (!f || !on_path || !line_of || !tmp) {
        if (f) fclose(f);
        free(on_path), free(line_of), free(tmp);
        return -1;
    }
    for (int64_t u = 0; u < e->n; u++) line_of[u] = -1;
    if (e->tq > 0)
        for (int64_t a = e->q_node[e->query]; a >= 0; a = e->t->parent[a]) on_path[a] = 1;
    fprintf(f, "// deft explain --dot: %s, chunk_tokens %d. Render: dot -Tsvg FILE -o FILE.svg\n",
            e->name, e->pl.chunk_tokens);
    fprintf(f, "digraph deft {\n  graph [fontname=\"Helvetica\", fontsize=12, labelloc=t, nodesep=0.2, "
               "ranksep=0.35, ordering=out, label=\"DeFT on %s: %lld nodes, %d chunks of at most %d tokens\"];\n"
               "  node [shape=plaintext, fontname=\"Helvetica\", fontsize=10];\n"
               "  edge [color=\"#555555\", arrowsize=0.6];\n",
            e->name, (long long)e->n, e->pl.n_chunks, e->pl.chunk_tokens);
    dot_tree(f, e, on_path, line_of, tmp);
    if (e->tq > 0) dot_reduction(f, e, line_of);
    fprintf(f, "}\n");
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    free(on_path), free(line_of), free(tmp);
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------- */
/* The tiny example and the command.                                                            */

/* A prompt of 6 tokens shared by two branches: branch 1 (3 tokens) decodes one query at its last
 * token; branch 2 (4 tokens) verifies two tokens at once, so its first query sees only part of
 * the last chunk (the causal boundary inside a chunk). Heads 2:1 (both query heads share one KV
 * head), D 4, so scale 1/2; values on a grid of 1/2 (q) and 1/4 (k, v) that a reader can follow by hand. */
static const int64_t tiny_parent[3] = {-1, 0, 0}, tiny_kv[3] = {6, 3, 4}, tiny_q[3] = {0, 1, 2};
enum { TINY_KV = 13, TINY_Q = 3, TINY_HQ = 2, TINY_HKV = 1, TINY_D = 4 };

static void tiny_problem(deft_problem *p, float *q, float *k, float *v)
{
    for (int i = 0; i < TINY_Q * TINY_HQ * TINY_D; i++) q[i] = 0.5f * (float)((i * 7 + 3) % 5 - 2);
    for (int i = 0; i < TINY_KV * TINY_HKV * TINY_D; i++) {
        k[i] = 0.25f * (float)((2 * i * i + 2 * i + 1) % 13 - 6);
        v[i] = 0.25f * (float)((i * i * 3 + 5 * i + 2) % 13 - 6);
    }
    memset(p, 0, sizeof *p);
    p->tree = (deft_tree){3, tiny_parent, tiny_kv, tiny_q, NULL, TINY_KV};
    p->shape = (deft_shape){TINY_HQ, TINY_HKV, TINY_D, 0.0, DEFT_F32};
    p->q = q, p->k = k, p->v = v;
}

static void tiny_inputs(const deft_problem *p)
{
    const float *q = p->q, *k = p->k, *v = p->v;
    double x[TINY_D], y[TINY_D];
    char a[64], b[64];
    rule("0. The tiny example's inputs");
    printf("Three nodes: a shared prompt (node 0, 6 tokens), a branch decoding one query (node 1,\n"
           "3 tokens) and a branch verifying two draft tokens (node 2, 4 tokens, the last 2 queries).\n"
           "Heads 2:1 (two query heads share one KV head), D 4, scale 1/2, f32.\n\n");
    printf("  %-4s %-5s %-6s %-28s %s\n", "row", "node", "token", "k", "v");
    for (int r = 0, u = 0, j = 0; r < TINY_KV; r++, j++) {
        while (j >= tiny_kv[u]) j = 0, u++;
        for (int i = 0; i < TINY_D; i++) x[i] = k[r * TINY_D + i], y[i] = v[r * TINY_D + i];
        fmt_vec(a, sizeof a, x, TINY_D, 2);
        fmt_vec(b, sizeof b, y, TINY_D, 2);
        printf("  %-4d %-5d %-6d %-28s %s\n", r, u, j, a, b);
    }
    printf("\n  %-5s %-5s %-6s %-28s %s\n", "query", "node", "token", "q, head 0", "q, head 1");
    for (int qq = 0; qq < TINY_Q; qq++) {
        for (int i = 0; i < TINY_D; i++) x[i] = q[(qq * 2) * TINY_D + i], y[i] = q[(qq * 2 + 1) * TINY_D + i];
        fmt_vec(a, sizeof a, x, TINY_D, 2);
        fmt_vec(b, sizeof b, y, TINY_D, 2);
        printf("  %-5d %-5d %-6d %-28s %s\n", qq, qq ? 2 : 1, qq ? qq + 1 : 2, a, b);
    }
}

static int usage(int r)
{
    FILE *f = r > 0 ? stdout : stderr;
    fprintf(f, "usage: deft explain (--workload NAME | --case DIR | --tiny) [--query Q] [--chunk-size N]\n"
               "                    [--chunk-queries N] [--dot FILE] [--full] [--limit N]\n"
               "                    [--heads HQ:HKV] [--dim D] [--dtype T] [--plant-bug]\n\n"
               "Walks one tree through DeFT, phase by phase, with the real numbers: the tree; phase 1's\n"
               "KV-guided groups, chunks after flattened tree KV splitting and the load balance that buys;\n"
               "the reduction map of query Q (default 0; 1 for --tiny); phase 2's work; and the bytes DeFT,\n"
               "sequence-based and tree-mask attention move. On a case with data that is small enough\n"
               "(--tiny: a built-in tree with D = 4 and 13 tokens; random:SEED; --case), it also prints\n"
               "query Q's partial states (O, LSE) and each merge, and checks DeFT done by hand against the\n"
               "reference (exit 1 if it fails). --chunk-size (alias --chunk-tokens) sets chunk_tokens\n"
               "(default 256; 3 for --tiny). --dot writes a Graphviz picture of the groups, chunks and\n"
               "query Q's reduction. --full draws every node (no collapsing of alike siblings); --limit\n"
               "caps each listing (default 40; 0 = all). --heads/--dim/--dtype: the shape of the IO table\n"
               "(default 32:8, D 128, f32; random:SEED draws its own). --plant-bug leaves each query's\n"
               "last partial state out of the checked merge, to see the check fail (exit 1).\n"
               "docs/algorithm.md walks through the same steps.\n");
    return r > 0 ? TOOL_EXIT_OK : TOOL_EXIT_BAD;
}

int cmd_explain(int argc, char **argv)
{
    tool_opt opts[] = {{"--workload", 0, NULL},   {"--case", 0, NULL},         {"--tiny", 1, NULL},
                       {"--query", 0, NULL},      {"--chunk-size", 0, NULL},   {"--chunk-tokens", 0, NULL},
                       {"--chunk-queries", 0, NULL}, {"--dot", 0, NULL},       {"--full", 1, NULL},
                       {"--limit", 0, NULL},      {"--heads", 0, NULL},        {"--dim", 0, NULL},
                       {"--dtype", 0, NULL},      {"--plant-bug", 1, NULL}};
    int n = N_OPTS(opts);
    int r = tool_parse(argc, argv, opts, n, "explain");
    const char *wl = tool_get(opts, n, "--workload"), *cs = tool_get(opts, n, "--case");
    int tiny = tool_get(opts, n, "--tiny") != NULL;
    if (r > 0 || (r == 0 && (!!wl + !!cs + tiny) != 1)) return usage(r > 0 ? 1 : -1);
    if (r < 0) return TOOL_EXIT_BAD;
    deft_options opt;
    deft_gen_options g;
    int64_t limit = 40, query = tiny ? 1 : 0, v;
    const char *s;
    if (tool_run_options("explain", opts, n, &opt) || tool_gen_options("explain", opts, n, &g))
        return TOOL_EXIT_BAD;
    if ((s = tool_get(opts, n, "--chunk-size"))) {
        if (tool_int("explain", "--chunk-size", s, 1, INT32_MAX, &v)) return TOOL_EXIT_BAD;
        opt.chunk_tokens = v;
    }
    if (tiny && !opt.chunk_tokens) opt.chunk_tokens = 3;
    if ((s = tool_get(opts, n, "--limit")) && tool_int("explain", "--limit", s, 0, INT64_MAX, &limit))
        return TOOL_EXIT_BAD;
    if ((s = tool_get(opts, n, "--query")) && tool_int("explain", "--query", s, 0, INT32_MAX, &query))
        return TOOL_EXIT_BAD;

    deft_case c;
    deft_problem tp, *p = &c.problem;
    float tq[TINY_Q * TINY_HQ * TINY_D], tk[TINY_KV * TINY_D], tv[TINY_KV * TINY_D];
    deft_diag diag;
    deft_status st = DEFT_OK;
    int has_data = 1;
    memset(&c, 0, sizeof c);
    memset(&diag, 0, sizeof diag);
    const char *name = "case";
    if (tiny) {
        tiny_problem(&tp, tq, tk, tv);
        p = &tp;
        name = "the tiny example";
    } else if (cs) {
        st = deft_case_read(cs, &c, &diag);
        if (c.workload[0]) name = c.workload;
    } else if (!strncmp(wl, "random:", 7)) {
        st = deft_generate(wl, &g, &c, &diag);
        name = wl;
    } else {
        /* Every other workload's tree is independent of the shape (shared/workloads.md): generate
         * the tree with one head of dim 1, so wide's 800 MB of data is never made, then account
         * for the shape asked (default: the standard 32:8, D 128, f32). */
        deft_gen_options small = g;
        small.hq = small.hkv = small.d = 1;
        st = deft_generate(wl, &small, &c, &diag);
        c.problem.shape = (deft_shape){g.hq ? g.hq : 32, g.hkv ? g.hkv : 8, g.d ? g.d : 128, 0.0,
                                       g.dtype >= 0 ? (deft_dtype)g.dtype : DEFT_F32};
        if (st == DEFT_OK) st = deft_shape_validate(&c.problem.shape, &diag);
        has_data = 0;
        name = wl;
    }
    if (st != DEFT_OK) {
        deft_case_free(&c);
        return tool_fail("explain", st, &diag);
    }
    /* a levels: spec can be long: cut the name so the description line fits WIDTH */
    char short_name[64];
    int room = 40;
    char *desc = NULL;
    size_t desc_len = 0;
    FILE *mem = open_memstream(&desc, &desc_len);
    if (mem) {
        tool_describe(mem, p, "");
        fclose(mem);
        room = WIDTH - (desc ? (int)strlen(desc) - 4 : 60); /* tool_describe says "case" for "" */
        free(desc);
    }
    room = room < 12 ? 12 : room > 60 ? 60 : room;
    if ((int)strlen(name) > room) {
        snprintf(short_name, sizeof short_name, "%.*s...", room - 3, name);
        name = short_name;
    }
    ctx e;
    memset(&e, 0, sizeof e);
    e.name = name;
    e.has_data = has_data;
    e.plant = tool_get(opts, n, "--plant-bug") != NULL;
    st = ctx_init(&e, p, &opt, tool_get(opts, n, "--full") != NULL, &diag);
    int rc = TOOL_EXIT_OK;
    if (st == DEFT_OK && e.tq > 0 && query >= e.tq) {
        fprintf(stderr, "deft explain: --query must be in 0..%lld for %s, not %lld\n",
                (long long)(e.tq - 1), name, (long long)query);
        rc = TOOL_EXIT_BAD;
    }
    e.query = query;
    if (st == DEFT_OK && rc == TOOL_EXIT_OK && (s = tool_get(opts, n, "--dot")) && write_dot(&e, s)) {
        fprintf(stderr, "deft explain: cannot write %s\n", s);
        rc = TOOL_EXIT_BAD;
    }
    if (st == DEFT_OK && rc == TOOL_EXIT_OK) {
        printf("deft explain\n");
        tool_describe(stdout, p, name);
        printf("\n");
        if (tiny) tiny_inputs(p);
        int bad = section_tree(&e, limit);
        if (e.tq == 0) {
            printf("\nThis tree holds no query: nothing reads its KV, DeFT's plan is empty and there is\n"
                   "nothing to compute.\n");
            goto out;
        }
        section_groups(&e, limit);
        bad |= section_split(&e, limit);
        section_reduction(&e);
        section_phase2(&e);
        int num = section_numbers(&e, &diag);
        if (num < 0) {
            st = diag.status != DEFT_OK ? diag.status : DEFT_ERR_NO_MEMORY;
        } else {
            if (num > 0) rc = TOOL_EXIT_MISMATCH;
            bad |= section_io(&e, &diag);
            printf("\nNext: docs/algorithm.md walks these steps through the code; --dot FILE draws them.\n");
        }
        if (bad && st == DEFT_OK) st = diag.status != DEFT_OK ? diag.status : DEFT_ERR_NO_MEMORY;
    out:;
    }
    ctx_free(&e);
    deft_case_free(&c);
    if (st != DEFT_OK) return tool_fail("explain", st, &diag);
    return rc;
}
