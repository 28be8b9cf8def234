/* merge_bound.c: the float32 LSE merge (deft_merge, common/merge.c) against the bound
 * docs/proofs.md derives for it, on random states. The Coq theorems (proofs/coq/Merge.v) are
 * about the merge over the reals; this measures how far one float32 merge lands from the real
 * merge of the same (already rounded) inputs, computed here in double:
 *
 *   |o - o*|     <= 8 u max(|o_a|, |o_b|) + 3 * 2^-149           u = 2^-24
 *   |lse - lse*| <= u (|lse*| + 4)
 *
 * Usage: merge_bound [TRIALS] [SEED] [--planted]. Prints the worst ratio of error to bound for O
 * and LSE; exits 1 if any trial exceeds the bound, or if the worst ratio is below 1/16 (a bound
 * that loose would not be worth stating). --planted runs a merge with one classic slip (below)
 * and must exceed the bound: the check can fail. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft.h"

static uint64_t rng;
static double uniform(void) /* [0, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* A state's LSE: mostly moderate, sometimes huge; the second one near the first or far below. */
static void draw(float *la, float *lb, float *oa, float *ob)
{
    double scale[] = {1, 30, 1e4, 1e30};
    double base = (uniform() * 2 - 1) * scale[(int)(uniform() * 4)];
    double gap[] = {1e-6, 1, 20, 100, 200};
    double delta = uniform() * gap[(int)(uniform() * 5)];
    *la = (float)base;
    *lb = (float)(base - delta);
    if (uniform() < 0.5) { float t = *la; *la = *lb; *lb = t; }
    double mag[] = {1e-30, 1, 1e20};
    double m = mag[(int)(uniform() * 3)];
    *oa = (float)((uniform() * 2 - 1) * m);
    *ob = (float)((uniform() * 2 - 1) * m * (uniform() < 0.1 ? 1e-10 : 1));
}

/* The real merge of the same inputs, in double (its own error, ~1e-16 relative, is negligible). */
static void exact(float la, float lb, float oa, float ob, double *o, double *lse)
{
    double m = la > lb ? la : lb, wa = exp((double)la - m), wb = exp((double)lb - m), s = wa + wb;
    *o = (wa * oa + wb * ob) / s;
    *lse = m + log(s);
}

/* The slip: the LSE without the max shift, log(exp(la) + exp(lb)), the textbook formula that
 * overflows above 88 and underflows below -103 in float32. */
static void planted(float *o_a, float *lse_a, const float *o_b, float lse_b)
{
    float la = *lse_a;
    deft_merge(o_a, lse_a, o_b, lse_b, 1);
    *lse_a = logf(expf(la) + expf(lse_b));
}

int main(int argc, char **argv)
{
    long trials = argc > 1 ? atol(argv[1]) : 1000000;
    rng = argc > 2 ? strtoull(argv[2], NULL, 10) * 2654435761u + 1 : 88172645463325252ull;
    int plant = argc > 3 && strcmp(argv[3], "--planted") == 0;
    const double u = ldexp(1, -24), tiny = ldexp(1, -149);
    double worst_o = 0, worst_l = 0;
    long over = 0;
    for (long i = 0; i < trials; i++) {
        float la, lb, oa, ob;
        draw(&la, &lb, &oa, &ob);
        double o_ref, l_ref;
        exact(la, lb, oa, ob, &o_ref, &l_ref);
        float o = oa, l = la;
        if (plant) planted(&o, &l, &ob, lb);
        else deft_merge(&o, &l, &ob, lb, 1);
        double bo = 8 * u * fmax(fabs(oa), fabs(ob)) + 3 * tiny;
        double bl = u * (fabs(l_ref) + 4);
        double ro = fabs(o - o_ref) / bo, rl = fabs(l - l_ref) / bl;
        if (!(ro <= 1 && rl <= 1)) {
            if (over++ < 3)
                printf("  over the bound: la %a lb %a oa %a ob %a: o %a (want %a), lse %a (want %a)\n",
                       la, lb, oa, ob, o, o_ref, l, l_ref);
        }
        if (ro > worst_o) worst_o = ro;
        if (rl > worst_l) worst_l = rl;
    }
    printf("merge bound%s: %ld trials, worst |o - o*| = %.3f of 8u max|o| (+3 * 2^-149), "
           "worst |lse - lse*| = %.3f of u (|lse*| + 4), %ld over\n",
           plant ? " (planted slip)" : "", trials, worst_o, worst_l, over);
    if (over) return 1;
    if (worst_o < 1.0 / 16 || worst_l < 1.0 / 16) {
        printf("merge bound: the bound is more than 16x looser than any error seen\n");
        return 1;
    }
    return 0;
}
