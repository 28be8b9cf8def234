/* dtype.c: the three input dtypes: names, sizes, exact widening to float and
 * round-to-nearest-even narrowing. Every path reads stored inputs through these. */
#include <string.h>

#include "internal.h"

const char *deft_dtype_name(deft_dtype t)
{
    switch (t) {
    case DEFT_F32: return "f32";
    case DEFT_F16: return "f16";
    case DEFT_BF16: return "bf16";
    }
    return NULL;
}

deft_status deft_dtype_parse(const char *name, deft_dtype *out)
{
    if (!name || !out) return DEFT_ERR_NULL;
    if (strcmp(name, "f32") == 0) *out = DEFT_F32;
    else if (strcmp(name, "f16") == 0) *out = DEFT_F16;
    else if (strcmp(name, "bf16") == 0) *out = DEFT_BF16;
    else return DEFT_ERR_DTYPE;
    return DEFT_OK;
}

size_t deft_dtype_size(deft_dtype t)
{
    switch (t) {
    case DEFT_F32: return 4;
    case DEFT_F16: return 2;
    case DEFT_BF16: return 2;
    }
    return 0;
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Every value is exact in binary32. */
float deft_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13)); /* inf, NaN */
    if (exp != 0) return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0) return bits_to_f32(sign);
    /* subnormal: man * 2^-24, exact in binary32 */
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

uint16_t deft_f32_to_f16(float x)
{
    uint32_t u = f32_to_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xffu;
    uint32_t man = u & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u); /* overflow to infinity */
    if (e <= 0) {
        /* subnormal or zero in binary16: shift the full significand, round to nearest even */
        if (e < -10) return sign;
        uint32_t m = man | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = 1u << (shift - 1);
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++; /* may carry into inf: correct */
    return (uint16_t)(sign | r);
}

float deft_bf16_to_f32(uint16_t h)
{
    return bits_to_f32((uint32_t)h << 16);
}

uint16_t deft_f32_to_bf16(float x)
{
    uint32_t u = f32_to_bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) return (uint16_t)((u >> 16) | 0x40u);
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

float deft_load_f32(const void *base, deft_dtype t, size_t index)
{
    switch (t) {
    case DEFT_F32: return ((const float *)base)[index];
    case DEFT_F16: return deft_f16_to_f32(((const uint16_t *)base)[index]);
    case DEFT_BF16: return deft_bf16_to_f32(((const uint16_t *)base)[index]);
    }
    return 0.0f;
}
