/* merge.c: the LSE merge, DeFT's tree-aware global reduction step. Two partial attention states
 * over disjoint token sets combine into the state over their union (proofs/ shows the operator is
 * associative and commutative with (0, -inf) as identity; in float it is commutative bit for bit
 * and associative up to rounding, which tests/test_plan.c measures).
 *
 * proofs/frama-c/merge proves the contracts below with WP, in IEEE arithmetic as z3 decides it
 * (bit-precise). It runs with -warn-special-float none: infinities and NaN are values the merge
 * must carry, not errors (docs/semantics.md: a row that reads one has an unspecified result; an
 * LSE past the float range is reported, not compared), so instead of an alarm on every float
 * operation the contracts state the float facts that matter, for LSEs that are -inf (the empty
 * state) or finite, of any magnitude:
 *   - an empty side leaves the other as it was, exactly;
 *   - with both sides non-empty, the weights' sum s = w_a + w_b lies in [1, 2] (one weight is
 *     exp(0) = 1, the other in [0, 1]), so neither division divides by zero, and the merged LSE
 *     m + ln s is finite;
 *   - deft_merge, given non-empty sides' O finite with |O| <= 2^126 (8.5e37; the sum of two such
 *     stays below FLT_MAX), also: the merged LSE is at least each side's, ca, cb lie in [0, 1],
 *     and every merged O is finite.
 * deft_merge_f64's contract leaves out those last facts and its copy of b into an empty a: z3
 * 4.8.12 (the one prover here with floating point; Debian's cvc4 1.8 has none) runs out of time
 * or memory on any quantified fact about an array of doubles, and needs 10 to 35 s for one 53-bit
 * monotonicity fact (m <= m + ln s) or multiplication or division. */
#include <math.h>

#include "internal.h"

/*@ // An LSE the contracts cover: -inf (the empty state) or finite.
    predicate lse_f32(float l) = \is_minus_infinity(l) || \is_finite(l);
    predicate lse_f64(double l) = \is_minus_infinity(l) || \is_finite(l);
    // An O element deft_merge covers.
    predicate in_f32(float v) =
      \is_finite(v) && \le_float((float)-0x1p126, v) && \le_float(v, (float)0x1p126);
    // Finite and in [0, 1]; finite and in [1, 2].
    predicate unit_f32(float v) = \is_finite(v) && \le_float((float)0, v) && \le_float(v, (float)1);
    predicate unit_f64(double v) = \is_finite(v) && \le_double((double)0, v) && \le_double(v, (double)1);
    predicate sum_f32(float v) = \is_finite(v) && \le_float((float)1, v) && \le_float(v, (float)2);
    predicate sum_f64(double v) = \is_finite(v) && \le_double((double)1, v) && \le_double(v, (double)2);
*/

/* The proof does not go inside these six functions: their ensures are trusted (admit); their
 * requires are proved at each call. Each returns exactly what the call or test it wraps computes.
 * - exp_*, log_*: Frama-C's libc contracts say only that exp is finite and positive. Trusted: the
 *   values every libm gets right: exp of an argument <= 0 (-inf included) lies in [0, 1] (the true
 *   value does, and 0 and 1 are representable, so any faithful rounding stays there), and
 *   exp(+-0) is exactly 1; ln of an argument in [1, 2] lies in [0, 1] (the true value is in
 *   [0, 0.694]). They may set errno (underflow), hence the assigns.
 * - empty_*: the test lse == -INFINITY. Under Frama-C's libc INFINITY is a function call, so the
 *   test is stated rather than computed. */
/*@ requires \le_float(x, (float)0);
    assigns errno, \result \from x;
    admit ensures unit_f32(\result);
    admit ensures \eq_float(x, (float)0) ==> \eq_float(\result, (float)1); */
static float exp_f32(float x)
{
    return expf(x);
}

/*@ requires \le_double(x, (double)0);
    assigns errno, \result \from x;
    admit ensures unit_f64(\result);
    admit ensures \eq_double(x, (double)0) ==> \eq_double(\result, (double)1); */
static double exp_f64(double x)
{
    return exp(x);
}

/*@ requires sum_f32(x);
    assigns errno, \result \from x;
    admit ensures unit_f32(\result); */
static float log_f32(float x)
{
    return logf(x);
}

/*@ requires sum_f64(x);
    assigns errno, \result \from x;
    admit ensures unit_f64(\result); */
static double log_f64(double x)
{
    return log(x);
}

/*@ assigns \result \from l;
    admit ensures \result != 0 <==> \is_minus_infinity(l); */
static int empty_f32(float l)
{
    return l == -INFINITY;
}

/*@ assigns \result \from l;
    admit ensures \result != 0 <==> \is_minus_infinity(l); */
static int empty_f64(double l)
{
    return l == -INFINITY;
}

/* The steps of the merge as small functions, each proved where nothing else is in scope (z3
 * bit-blasts every float operation of a goal's context, so a long one is slow).
 * weight: exp(l - m) for l <= m, the max: in [0, 1], exactly 1 for the max itself (l - m may
 * round to -inf when the LSEs are far apart; its exp is then 0). */
/*@ requires \is_finite(l) && \is_finite(m) && \le_float(l, m);
    assigns errno;
    ensures unit_f32(\result);
    ensures \eq_float(l, m) ==> \eq_float(\result, (float)1); */
static float weight_f32(float l, float m)
{
    return exp_f32(l - m);
}

/*@ requires \is_finite(l) && \is_finite(m) && \le_double(l, m);
    assigns errno;
    ensures unit_f64(\result);
    ensures \eq_double(l, m) ==> \eq_double(\result, (double)1); */
static double weight_f64(double l, double m)
{
    return exp_f64(l - m);
}

/* The merged LSE m + ln s, given ln s in [0, 1]: finite, and (float) at least m. */
/*@ requires \is_finite(m) && unit_f32(ln_s);
    assigns \nothing;
    ensures \is_finite(\result) && \le_float(m, \result); */
static float add_ln_f32(float m, float ln_s)
{
    return m + ln_s;
}

/*@ requires \is_finite(m) && unit_f64(ln_s);
    assigns \nothing;
    ensures \is_finite(\result); */
static double add_ln_f64(double m, double ln_s)
{
    return m + ln_s;
}

/* w / s: a weight over the weights' sum, in [0, 1]. */
/*@ requires unit_f32(w) && sum_f32(s) && \le_float(w, s);
    assigns \nothing;
    ensures unit_f32(\result); */
static float div_f32(float w, float s)
{
    return w / s;
}

/* c o for c in [0, 1] and |o| <= 2^126: |c o| <= 2^126. */
/*@ requires unit_f32(c) && in_f32(o);
    assigns \nothing;
    ensures in_f32(\result); */
static float mul_f32(float c, float o)
{
    return c * o;
}

/* o_a = ca o_a + cb o_b, element by element (d elements). */
/*@ requires 0 <= d;
    requires \valid(o_a + (0 .. d - 1)) && \valid_read(o_b + (0 .. d - 1));
    requires \separated(o_a + (0 .. d - 1), o_b + (0 .. d - 1));
    requires unit_f32(ca) && unit_f32(cb);
    requires \forall integer i; 0 <= i < d ==> in_f32(o_a[i]) && in_f32(o_b[i]);
    assigns o_a[0 .. d - 1];
    ensures \forall integer i; 0 <= i < d ==> \is_finite(o_a[i]); */
static void mix_f32(float *o_a, const float *o_b, float ca, float cb, int64_t d)
{
    /*@ loop invariant 0 <= x <= d;
        loop invariant \forall integer y; 0 <= y < x ==> \is_finite(o_a[y]);
        loop invariant \forall integer y; x <= y < d ==> in_f32(o_a[y]);
        loop assigns x, o_a[0 .. d - 1];
        loop variant d - x; */
    for (int64_t x = 0; x < d; x++) o_a[x] = mul_f32(ca, o_a[x]) + mul_f32(cb, o_b[x]);
}

/*@ requires 0 <= d;
    requires \valid(o_a + (0 .. d - 1)) && \valid(lse_a) && \valid_read(o_b + (0 .. d - 1));
    requires \separated(o_a + (0 .. d - 1), o_b + (0 .. d - 1), lse_a);
    requires lse_f32(*lse_a) && lse_f32(lse_b);
    requires \is_finite(*lse_a) ==> \forall integer i; 0 <= i < d ==> in_f32(o_a[i]);
    requires \is_finite(lse_b) ==> \forall integer i; 0 <= i < d ==> in_f32(o_b[i]);
    assigns o_a[0 .. d - 1], *lse_a, errno;
    behavior b_empty:
      assumes \is_minus_infinity(lse_b);
      assigns \nothing;
    behavior a_empty:
      assumes \is_finite(lse_b) && \is_minus_infinity(*lse_a);
      assigns o_a[0 .. d - 1], *lse_a;
      ensures \eq_float(*lse_a, lse_b);
      ensures \forall integer i; 0 <= i < d ==> \eq_float(o_a[i], o_b[i]);
    behavior both:
      assumes \is_finite(lse_b) && \is_finite(*lse_a);
      ensures \is_finite(*lse_a) && \le_float(\old(*lse_a), *lse_a) && \le_float(lse_b, *lse_a);
      ensures \forall integer i; 0 <= i < d ==> \is_finite(o_a[i]);
    complete behaviors;
    disjoint behaviors; */
void deft_merge(float *o_a, float *lse_a, const float *o_b, float lse_b, int64_t d)
{
    float la = *lse_a;
    if (empty_f32(lse_b)) return; /* b is empty: a stands */
    if (empty_f32(la)) {          /* a is empty: take b */
        /*@ loop invariant 0 <= x <= d;
            loop invariant \forall integer y; 0 <= y < x ==> \eq_float(o_a[y], \at(o_b[y], Pre));
            loop assigns x, o_a[0 .. d - 1];
            loop variant d - x; */
        for (int64_t x = 0; x < d; x++) o_a[x] = o_b[x];
        *lse_a = lse_b;
        return;
    }
    float m = la > lse_b ? la : lse_b;
    float wa = weight_f32(la, m), wb = weight_f32(lse_b, m), s = wa + wb;
    //@ assert no_division_by_zero: sum_f32(s);
    float ca = div_f32(wa, s), cb = div_f32(wb, s);
    mix_f32(o_a, o_b, ca, cb, d);
    *lse_a = add_ln_f32(m, log_f32(s));
}

/*@ requires 0 <= d;
    requires \valid(o_a + (0 .. d - 1)) && \valid(lse_a) && \valid_read(o_b + (0 .. d - 1));
    requires \separated(o_a + (0 .. d - 1), o_b + (0 .. d - 1), lse_a);
    requires lse_f64(*lse_a) && lse_f64(lse_b);
    assigns o_a[0 .. d - 1], *lse_a, errno;
    behavior b_empty:
      assumes \is_minus_infinity(lse_b);
      assigns \nothing;
    behavior a_empty:
      assumes \is_finite(lse_b) && \is_minus_infinity(*lse_a);
      assigns o_a[0 .. d - 1], *lse_a;
      ensures \eq_double(*lse_a, lse_b);
    behavior both:
      assumes \is_finite(lse_b) && \is_finite(*lse_a);
      ensures \is_finite(*lse_a);
    complete behaviors;
    disjoint behaviors; */
void deft_merge_f64(double *o_a, double *lse_a, const float *o_b, double lse_b, int64_t d)
{
    double la = *lse_a;
    if (empty_f64(lse_b)) return;
    if (empty_f64(la)) {
        /*@ loop invariant 0 <= x <= d;
            loop assigns x, o_a[0 .. d - 1];
            loop variant d - x; */
        for (int64_t x = 0; x < d; x++) o_a[x] = o_b[x];
        *lse_a = lse_b;
        return;
    }
    double m = la > lse_b ? la : lse_b;
    double wa = weight_f64(la, m), wb = weight_f64(lse_b, m), s = wa + wb;
    //@ assert no_division_by_zero: sum_f64(s);
    double ca = wa / s, cb = wb / s;
    /*@ loop invariant 0 <= x <= d;
        loop assigns x, o_a[0 .. d - 1];
        loop variant d - x; */
    for (int64_t x = 0; x < d; x++) o_a[x] = ca * o_a[x] + cb * (double)o_b[x];
    *lse_a = add_ln_f64(m, log_f64(s));
}
