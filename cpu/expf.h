/* expf.h: scalar building blocks the CPU paths inline into their vector loops (cpu/kernels.c):
 * a branch-free single-precision exp and the f16 / bf16 widenings. Plain C with no calls, so gcc
 * vectorizes the loops that use them. Not installed. */
#ifndef DEFT_CPU_EXPF_H
#define DEFT_CPU_EXPF_H

#include <stdint.h>

static inline uint32_t deft_cpu_bits(float x)
{
    union {
        float f;
        uint32_t u;
    } c;
    c.f = x;
    return c.u;
}

static inline float deft_cpu_float(uint32_t u)
{
    union {
        float f;
        uint32_t u;
    } c;
    c.u = u;
    return c.f;
}

/* e^x in float, max error about 1.5 ulp over the whole range (tests/test_cpu.c measures it).
 * Cody-Waite reduction x = n ln2 + r with |r| <= ln2/2 (ln2 split in a 9-bit head, so n * head is
 * exact), the Cephes degree-6 polynomial for e^r, then 2^n as two exact power-of-two factors
 * 2^(n/2) 2^(n - n/2): each is a normal float for n in -152..128, so results that are subnormal
 * round once, in the last multiply, and very negative x (down to -inf) gives +0, never NaN.
 * Above 88.8 the result is +inf; NaN stays NaN. n is read from the bits of x log2e + 1.5 * 2^23
 * (its low mantissa bits hold n + 2^22), which avoids a float-to-int conversion of NaN. */
static inline float deft_cpu_expf(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    /* clamp to [-105, 88.8]: e^-105 < 2^-151 rounds to 0 like anything below it, e^88.8 >
     * FLT_MAX overflows like anything above it. Written as independent selects so gcc does not
     * thread them into branches (which would stop it vectorizing); NaN falls through to NaN. */
    float lo = x < -105.0f ? -105.0f : x, hi = x > 88.8f ? 88.8f : x;
    x = x < 0.0f ? lo : hi;
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    int32_t ni = (int32_t)(deft_cpu_bits(t) & 0x7fffffu) - 0x400000;
    int32_t n1 = ni / 2, n2 = ni - n1;
    float s1 = deft_cpu_float((uint32_t)(n1 + 127) << 23);
    float s2 = deft_cpu_float((uint32_t)(n2 + 127) << 23);
    return y * s1 * s2;
}

/* IEEE binary16 to float, exact, branch-free: normals rebias the exponent, subnormals convert
 * the integer mantissa (times 2^-24, so no subnormal float arithmetic), inf/NaN keep payload. */
static inline float deft_cpu_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    uint32_t normal = (em << 13) + ((uint32_t)(127 - 15) << 23);
    uint32_t sub = deft_cpu_bits((float)(int32_t)em * 0x1p-24f);
    uint32_t special = 0x7f800000u | (em << 13);
    /* selects as masks: chained ?: here gets threaded into branches, which stops vectorizing */
    uint32_t is_sub = 0u - (uint32_t)(em < 0x400u), is_special = 0u - (uint32_t)(em >= 0x7c00u);
    uint32_t mag = (sub & is_sub) | (special & is_special) | (normal & ~(is_sub | is_special));
    return deft_cpu_float(mag | sign);
}

static inline float deft_cpu_bf16_to_f32(uint16_t h)
{
    return deft_cpu_float((uint32_t)h << 16);
}

#endif
