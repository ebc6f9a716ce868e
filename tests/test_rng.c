/* The RNG: reproducible streams, correct moments, unbiased bounded integers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "crystalbench/rng.h"

static void test_same_seed_same_stream(void **state)
{
    (void)state;
    cb_rng a, b;
    cb_rng_seed(&a, 42);
    cb_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_int_equal(cb_rng_u64(&a), cb_rng_u64(&b));
    cb_rng_seed(&b, 43);
    int same = 0;
    for (int i = 0; i < 1000; i++) same += cb_rng_u64(&a) == cb_rng_u64(&b);
    assert_int_equal(same, 0);
}

/* xoshiro256** reference output for state {1,2,3,4} (from the authors' C code). */
static void test_xoshiro_reference_values(void **state)
{
    (void)state;
    cb_rng r = {{1, 2, 3, 4}, 0, 0};
    static const uint64_t expect[] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL};
    for (int i = 0; i < 4; i++) assert_int_equal(cb_rng_u64(&r), expect[i]);
}

static void test_state_copy_resumes_stream(void **state)
{
    (void)state;
    cb_rng a, saved;
    cb_rng_seed(&a, 7);
    for (int i = 0; i < 17; i++) cb_rng_normal(&a);
    memcpy(&saved, &a, sizeof a); /* what a checkpoint stores */
    double x[8], y[8];
    for (int i = 0; i < 8; i++) x[i] = cb_rng_normal(&a);
    for (int i = 0; i < 8; i++) y[i] = cb_rng_normal(&saved);
    assert_memory_equal(x, y, sizeof x);
}

static void test_uniform_and_normal_moments(void **state)
{
    (void)state;
    cb_rng r;
    cb_rng_seed(&r, 1);
    const int n = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
    for (int i = 0; i < n; i++) {
        double u = cb_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        su += u;
        su2 += u * u;
        double z = cb_rng_normal(&r);
        sn += z;
        sn2 += z * z;
        sn4 += z * z * z * z;
    }
    /* Tolerances are ~5 standard errors. */
    assert_true(fabs(su / n - 0.5) < 5 * sqrt(1.0 / 12 / n));
    assert_true(fabs(su2 / n - 1.0 / 3) < 0.004);
    assert_true(fabs(sn / n) < 5 / sqrt(n));
    assert_true(fabs(sn2 / n - 1.0) < 5 * sqrt(2.0 / n));
    assert_true(fabs(sn4 / n - 3.0) < 5 * sqrt(96.0 / n));
}

static void test_below_is_unbiased_and_bounded(void **state)
{
    (void)state;
    cb_rng r;
    cb_rng_seed(&r, 3);
    int counts[7] = {0};
    const int n = 70000;
    for (int i = 0; i < n; i++) {
        uint64_t k = cb_rng_below(&r, 7);
        assert_true(k < 7);
        counts[k]++;
    }
    for (int k = 0; k < 7; k++) assert_true(fabs(counts[k] - n / 7.0) < 5 * sqrt(n / 7.0));
    assert_int_equal(cb_rng_below(&r, 1), 0);
}

static void test_shuffle_is_a_permutation(void **state)
{
    (void)state;
    cb_rng r;
    cb_rng_seed(&r, 9);
    size_t idx[100];
    for (size_t i = 0; i < 100; i++) idx[i] = i;
    cb_rng_shuffle(&r, idx, 100);
    int seen[100] = {0}, moved = 0;
    for (size_t i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 80);
}

static void test_fork_streams_differ_and_are_reproducible(void **state)
{
    (void)state;
    cb_rng parent, c1, c2, c1b;
    cb_rng_seed(&parent, 5);
    cb_rng_fork(&parent, 1, &c1);
    cb_rng_fork(&parent, 2, &c2);
    cb_rng_fork(&parent, 1, &c1b);
    uint64_t x = cb_rng_u64(&c1);
    assert_int_equal(x, cb_rng_u64(&c1b));
    assert_int_not_equal(x, cb_rng_u64(&c2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_xoshiro_reference_values),
        cmocka_unit_test(test_state_copy_resumes_stream),
        cmocka_unit_test(test_uniform_and_normal_moments),
        cmocka_unit_test(test_below_is_unbiased_and_bounded),
        cmocka_unit_test(test_shuffle_is_a_permutation),
        cmocka_unit_test(test_fork_streams_differ_and_are_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
