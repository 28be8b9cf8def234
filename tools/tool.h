/* tool.h: helpers shared by the subcommands of the `deft` program (not part of libdeft). */
#ifndef DEFT_TOOL_H
#define DEFT_TOOL_H

#include <stdio.h>

#include "deft.h"

enum { TOOL_EXIT_OK = 0, TOOL_EXIT_MISMATCH = 1, TOOL_EXIT_BAD = 2 };

/* One --name option of a subcommand; value is NULL until given ("1" for a flag). */
typedef struct tool_opt {
    const char *name;
    int is_flag;
    const char *value;
} tool_opt;

/* Returns 0 when parsed, 1 when --help was asked for, -1 (message printed) on a usage error. */
int tool_parse(int argc, char **argv, tool_opt *opts, int n_opts, const char *cmd);
const char *tool_get(const tool_opt *opts, int n_opts, const char *name);
int tool_int(const char *cmd, const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out);
int tool_heads(const char *cmd, const char *s, int64_t *hq, int64_t *hkv);
double tool_now(void);
/* Reads the run options --chunk-tokens, --chunk-queries, --threads (absent: 0) into opt. */
int tool_run_options(const char *cmd, const tool_opt *opts, int n, deft_options *opt);
/* Reads the generator options --seed, --dtype, --heads, --dim (absent: defaults) into g. */
int tool_gen_options(const char *cmd, const tool_opt *opts, int n, deft_gen_options *g);
/* Prints "deft CMD: STATUS: message" to stderr and returns TOOL_EXIT_BAD. */
int tool_fail(const char *cmd, deft_status st, const deft_diag *diag);
void tool_describe(FILE *f, const deft_problem *p, const char *name);
deft_status tool_alloc_output(const deft_problem *p, float **o, float **lse, deft_diag *diag);
deft_status tool_run_impl(const deft_impl *impl, const deft_problem *p, const deft_options *opt,
                          float **o, float **lse, double *seconds, deft_diag *diag);

int cmd_gen(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* The IO table of deft_io: bytes per approach and the ratio to DeFT. */
void tool_print_io(const deft_io *io);

#endif
