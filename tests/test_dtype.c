/* test_dtype.c: widening is exact and narrowing rounds to nearest even, for every f16 and bf16
 * bit pattern; dtype names parse both ways. */
#include <math.h>
#include <string.h>

#include "testlib.h"

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

START_TEST(f16_every_pattern_round_trips)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = deft_f16_to_f32((uint16_t)h);
        if (isnan(f)) {
            ck_assert((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu));
            ck_assert(isnan(deft_f16_to_f32(deft_f32_to_f16(f))));
            continue;
        }
        ck_assert_msg(deft_f32_to_f16(f) == h, "f16 0x%04x -> %a -> 0x%04x", h, f, deft_f32_to_f16(f));
    }
    ck_assert(deft_f16_to_f32(0x3c00) == 1.0f);
    ck_assert(deft_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(deft_f16_to_f32(0x7bff) == 65504.0f);
}
END_TEST

START_TEST(f16_rounding)
{
    /* halfway between 1 and 1+2^-10 rounds to even (1); just above rounds up */
    ck_assert_uint_eq(deft_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    ck_assert_uint_eq(deft_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    ck_assert_uint_eq(deft_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie to even upward */
    ck_assert_uint_eq(deft_f32_to_f16(65520.0f), 0x7c00);            /* overflows to inf */
    ck_assert_uint_eq(deft_f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(deft_f32_to_f16(0x1p-25f), 0x0000);            /* tie to even: zero */
    ck_assert_uint_eq(deft_f32_to_f16(0x1p-25f * 3), 0x0002);        /* 1.5 ulp: tie to 2 */
    ck_assert_uint_eq(deft_f32_to_f16(-INFINITY), 0xfc00);
    ck_assert_uint_eq(deft_f32_to_f16(-0.0f), 0x8000);
}
END_TEST

START_TEST(bf16_every_pattern_round_trips)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = deft_bf16_to_f32((uint16_t)h);
        ck_assert_uint_eq(bits(f), h << 16);
        if (!isnan(f)) ck_assert_uint_eq(deft_f32_to_bf16(f), h);
        else ck_assert(isnan(deft_bf16_to_f32(deft_f32_to_bf16(f))));
    }
    ck_assert_uint_eq(deft_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);  /* tie to even */
    ck_assert_uint_eq(deft_f32_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82);
}
END_TEST

START_TEST(names_and_loads)
{
    deft_dtype t;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(deft_dtype_parse(deft_dtype_name((deft_dtype)i), &t), DEFT_OK);
        ck_assert_int_eq(t, i);
    }
    ck_assert_int_eq(deft_dtype_parse("f64", &t), DEFT_ERR_DTYPE);
    ck_assert_ptr_null(deft_dtype_name((deft_dtype)9));
    ck_assert_uint_eq(deft_dtype_size(DEFT_F32), 4);
    ck_assert_uint_eq(deft_dtype_size(DEFT_BF16), 2);
    uint16_t h[2] = {0x3c00, 0xc000};
    ck_assert(deft_load_f32(h, DEFT_F16, 1) == -2.0f);
    uint16_t b[1] = {0x4040};
    ck_assert(deft_load_f32(b, DEFT_BF16, 0) == 3.0f);
}
END_TEST

Suite *dtype_suite(void)
{
    Suite *s = suite_create("dtype");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, f16_every_pattern_round_trips);
    tcase_add_test(tc, f16_rounding);
    tcase_add_test(tc, bf16_every_pattern_round_trips);
    tcase_add_test(tc, names_and_loads);
    suite_add_tcase(s, tc);
    return s;
}
