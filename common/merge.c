/* merge.c: the LSE merge, DeFT's tree-aware global reduction step. Two partial attention states
 * over disjoint token sets combine into the state over their union (proofs/ shows the operator is
 * associative and commutative with (0, -inf) as identity; in float it is commutative bit for bit
 * and associative up to rounding, which tests/test_plan.c measures). */
#include <math.h>

#include "internal.h"

void deft_merge(float *o_a, float *lse_a, const float *o_b, float lse_b, int64_t d)
{
    float la = *lse_a;
    if (lse_b == -INFINITY) return; /* b is empty: a stands */
    if (la == -INFINITY) {          /* a is empty: take b */
        for (int64_t x = 0; x < d; x++) o_a[x] = o_b[x];
        *lse_a = lse_b;
        return;
    }
    float m = la > lse_b ? la : lse_b;
    float wa = expf(la - m), wb = expf(lse_b - m), s = wa + wb;
    float ca = wa / s, cb = wb / s;
    for (int64_t x = 0; x < d; x++) o_a[x] = ca * o_a[x] + cb * o_b[x];
    *lse_a = m + logf(s);
}

void deft_merge_f64(double *o_a, double *lse_a, const float *o_b, double lse_b, int64_t d)
{
    double la = *lse_a;
    if (lse_b == -INFINITY) return;
    if (la == -INFINITY) {
        for (int64_t x = 0; x < d; x++) o_a[x] = o_b[x];
        *lse_a = lse_b;
        return;
    }
    double m = la > lse_b ? la : lse_b;
    double wa = exp(la - m), wb = exp(lse_b - m), s = wa + wb;
    double ca = wa / s, cb = wb / s;
    for (int64_t x = 0; x < d; x++) o_a[x] = ca * o_a[x] + cb * (double)o_b[x];
    *lse_a = m + log(s);
}
