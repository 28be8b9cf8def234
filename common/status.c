/* status.c: the status codes' names and one-line meanings, and the diagnostic helpers.
 * Every fallible entry of libdeft reports through these. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const status_text[DEFT_STATUS_COUNT] = {
    [DEFT_OK] = "success",
    [DEFT_ERR_NULL] = "a pointer that must hold data is NULL",
    [DEFT_ERR_NODE_COUNT] = "the node count is negative",
    [DEFT_ERR_BAD_PARENT] = "a parent is neither -1 nor an earlier node",
    [DEFT_ERR_NEGATIVE_LEN] = "a KV or query length is negative",
    [DEFT_ERR_QLEN_GT_KVLEN] = "a node has more queries than KV tokens",
    [DEFT_ERR_HEADS] = "head counts are invalid (Hq and Hkv >= 1, Hq a multiple of Hkv)",
    [DEFT_ERR_DIM] = "the head dimension is below 1",
    [DEFT_ERR_OVERFLOW] = "a size or element count overflows",
    [DEFT_ERR_KV_RANGE] = "a node's KV rows fall outside the K/V tensors",
    [DEFT_ERR_KV_OVERLAP] = "two nodes' KV rows overlap",
    [DEFT_ERR_DTYPE] = "unknown or mismatched data type",
    [DEFT_ERR_SCALE] = "the scale is NaN or infinite",
    [DEFT_ERR_NO_MEMORY] = "out of memory",
    [DEFT_ERR_IO] = "a file could not be opened, read or written",
    [DEFT_ERR_FORMAT] = "a file does not follow its format",
    [DEFT_ERR_TRUNCATED] = "a file ends early",
    [DEFT_ERR_SHAPE] = "a tensor's shape does not match the problem",
    [DEFT_ERR_ARG] = "an argument is out of range",
    [DEFT_ERR_UNSUPPORTED] = "the implementation does not support this problem",
    [DEFT_ERR_DEVICE] = "a device call failed or no device is present",
    [DEFT_ERR_PLUGIN] = "a plugin could not be loaded or is incompatible",
    [DEFT_ERR_INTERNAL] = "internal error (a bug in libdeft)",
};

static const char *const status_names[DEFT_STATUS_COUNT] = {
    [DEFT_OK] = "DEFT_OK",
    [DEFT_ERR_NULL] = "DEFT_ERR_NULL",
    [DEFT_ERR_NODE_COUNT] = "DEFT_ERR_NODE_COUNT",
    [DEFT_ERR_BAD_PARENT] = "DEFT_ERR_BAD_PARENT",
    [DEFT_ERR_NEGATIVE_LEN] = "DEFT_ERR_NEGATIVE_LEN",
    [DEFT_ERR_QLEN_GT_KVLEN] = "DEFT_ERR_QLEN_GT_KVLEN",
    [DEFT_ERR_HEADS] = "DEFT_ERR_HEADS",
    [DEFT_ERR_DIM] = "DEFT_ERR_DIM",
    [DEFT_ERR_OVERFLOW] = "DEFT_ERR_OVERFLOW",
    [DEFT_ERR_KV_RANGE] = "DEFT_ERR_KV_RANGE",
    [DEFT_ERR_KV_OVERLAP] = "DEFT_ERR_KV_OVERLAP",
    [DEFT_ERR_DTYPE] = "DEFT_ERR_DTYPE",
    [DEFT_ERR_SCALE] = "DEFT_ERR_SCALE",
    [DEFT_ERR_NO_MEMORY] = "DEFT_ERR_NO_MEMORY",
    [DEFT_ERR_IO] = "DEFT_ERR_IO",
    [DEFT_ERR_FORMAT] = "DEFT_ERR_FORMAT",
    [DEFT_ERR_TRUNCATED] = "DEFT_ERR_TRUNCATED",
    [DEFT_ERR_SHAPE] = "DEFT_ERR_SHAPE",
    [DEFT_ERR_ARG] = "DEFT_ERR_ARG",
    [DEFT_ERR_UNSUPPORTED] = "DEFT_ERR_UNSUPPORTED",
    [DEFT_ERR_DEVICE] = "DEFT_ERR_DEVICE",
    [DEFT_ERR_PLUGIN] = "DEFT_ERR_PLUGIN",
    [DEFT_ERR_INTERNAL] = "DEFT_ERR_INTERNAL",
};

const char *deft_status_str(deft_status s)
{
    if ((int)s < 0 || s >= DEFT_STATUS_COUNT) return "unknown status";
    return status_text[s];
}

const char *deft_status_name(deft_status s)
{
    if ((int)s < 0 || s >= DEFT_STATUS_COUNT) return "DEFT_UNKNOWN_STATUS";
    return status_names[s];
}

#ifdef __FRAMAC__
/* The proofs do not go inside deft_diag_set (its contract, in internal.h, is trusted): these two
 * compiler builtins it calls have no contract of their own, so they are given the least one, that
 * they write nothing the caller can see (the va_list is deft_diag_set's own). */
/*@ assigns \nothing; */
void __builtin_va_start(va_list ap);
/*@ assigns \nothing; */
void __builtin_va_end(va_list ap);
#endif

void deft_diag_set(deft_diag *d, deft_status s, int64_t node, const char *fmt, ...)
{
    if (!d) return;
    d->status = s;
    d->node = node;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
}

void deft_diag_clear(deft_diag *d)
{
    if (!d) return;
    d->status = DEFT_OK;
    d->node = -1;
    d->message[0] = '\0';
}

/* Checked arithmetic in plain C (the same answers as __builtin_*_overflow, which Frama-C does not
 * know): division bounds the operands before the operation, so nothing ever overflows.
 * Theorem: the contracts in internal.h (proofs/frama-c/validate), helped by the four facts below
 * about division by a nonzero int64 (ghost functions, proved with the rest). */
/*@ ghost
  /@ requires a > 0 && b > 0 && m >= 0;
     assigns \nothing;
     ensures a <= m / b <==> a * b <= m; @/
  static void mul_le_pos(int64_t a, int64_t b, int64_t m) {}

  /@ requires a > 0 && b < 0 && m < 0;
     assigns \nothing;
     ensures b >= m / a <==> a * b >= m; @/
  static void mul_ge_negb(int64_t a, int64_t b, int64_t m) {}

  /@ requires a < 0 && b > 0 && m < 0;
     assigns \nothing;
     ensures a >= m / b <==> a * b >= m; @/
  static void mul_ge_nega(int64_t a, int64_t b, int64_t m) {}

  /@ requires a < 0 && b < 0 && m > 0;
     assigns \nothing;
     ensures b >= m / a <==> a * b <= m; @/
  static void mul_le_negab(int64_t a, int64_t b, int64_t m) {}
*/
int deft_mul_overflow_i64(int64_t a, int64_t b, int64_t *out)
{
    /*@ ghost
      if (a > 0) {
        if (b > 0) mul_le_pos(a, b, INT64_MAX);
        else if (b < 0) mul_ge_negb(a, b, INT64_MIN);
      } else if (a < 0) {
        if (b > 0) mul_ge_nega(a, b, INT64_MIN);
        else if (b < 0) mul_le_negab(a, b, INT64_MAX);
      }
    */
    if (a > 0) {
        if (b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a) return 1;
    } else if (a < 0) {
        if (b > 0 ? a < INT64_MIN / b : b < 0 && b < INT64_MAX / a) return 1;
    }
    *out = a * b;
    return 0;
}

int deft_add_overflow_i64(int64_t a, int64_t b, int64_t *out)
{
    if (b > 0 ? a > INT64_MAX - b : a < INT64_MIN - b) return 1;
    *out = a + b;
    return 0;
}

int deft_mul_size(int64_t a, int64_t b, size_t *out)
{
    if (a < 0 || b < 0) return 1;
    if (b != 0 && (size_t)a > SIZE_MAX / (size_t)b) return 1;
    *out = (size_t)a * (size_t)b;
    return 0;
}
