/* decode.h: the one decoder of the fuzzers. Any byte string becomes a problem (a forest, a shape,
 * DeFT options and Q/K/V data) or, in the plan profile, possibly an invalid forest. The plan and
 * differential harnesses and the converter (tocase) share it, so a saved input reproduces exactly.
 * The byte layout is documented in decode.c and fuzz/README.md. */
#ifndef DEFT_FUZZ_DECODE_H
#define DEFT_FUZZ_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "deft.h"

/* How the bytes are read.
 * FUZZ_PROFILE_DIFF: always a valid, small problem with data (<= 24 nodes, <= 40 tokens a node,
 *   bounded work), for the differential harness and the converter.
 * FUZZ_PROFILE_PLAN: a forest alone (no data), larger (<= 64 nodes, up to ~2000 tokens a node) and,
 *   when the flags ask for it, raw: parents, lengths, offsets and options taken from the bytes
 *   unchecked, so the validators see invalid forests too. */
typedef enum fuzz_profile { FUZZ_PROFILE_DIFF = 0, FUZZ_PROFILE_PLAN = 1 } fuzz_profile;

/* Data modes (flags bits 4-6): how a data byte becomes a value. */
enum {
    FUZZ_DATA_PLAIN = 0,     /* (int8)b / 16: -8 .. 7.9375, exact in every dtype (modes 0, 1) */
    FUZZ_DATA_EXACT = 2,     /* 0 or +-2^k, k in -4..3: every product and sum exact */
    FUZZ_DATA_WIDE = 3,      /* +-2^e over (most of) the dtype's exponent range, subnormals too */
    FUZZ_DATA_NEGATIVE = 4,  /* q > 0, k < 0, large: every score very negative */
    FUZZ_DATA_HUGE_V = 5,    /* plain q and k; v up to the dtype's largest finite value */
    FUZZ_DATA_TINY = 6,      /* zeros (both signs) and subnormal-sized values */
    FUZZ_DATA_NONFINITE = 7  /* plain, with NaN, +Inf and -Inf sprinkled in */
};

typedef struct fuzz_case {
    deft_case c;          /* owned; c.problem is the problem (data NULL in the plan profile) */
    deft_options opt;     /* chunk_tokens, chunk_queries for the DeFT paths */
    int data_mode;        /* FUZZ_DATA_* */
    int raw;              /* 1 when the tree came from raw bytes (plan profile): may be invalid */
} fuzz_case;

/* Decodes data[0..len) under profile. Returns DEFT_OK with *fc filled (free with fuzz_case_free),
 * or, in the plan profile, DEFT_OK with a raw forest that deft_tree_validate may reject. Any other
 * status means the bytes could not be turned into a case (only DEFT_ERR_NO_MEMORY in practice);
 * *fc is then freed. Pure: the same bytes give the same case, bit for bit. */
deft_status fuzz_decode(const uint8_t *data, size_t len, fuzz_profile profile, fuzz_case *fc,
                        deft_diag *diag);
void fuzz_case_free(fuzz_case *fc);

/* One line describing the case (nodes, parents, lengths, shape, dtype, scale, options, mode). */
void fuzz_case_describe(FILE *f, const fuzz_case *fc);

#endif
