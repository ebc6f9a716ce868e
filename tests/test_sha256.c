/* SHA-256: FIPS 180-4 example vectors, padding boundaries, streaming in every split,
 * and the file digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crystalbench/hash.h"
#include "testutil.h"

static void check_hex(const char *msg, size_t n, const char *want)
{
    char hex[CB_SHA256_HEX];
    cb_sha256_hex(msg, n, hex);
    assert_string_equal(hex, want);
}

/* FIPS 180-4 / NIST CSRC examples (SHA256.pdf, SHA2_Additional.pdf). */
static void test_fips_vectors(void **state)
{
    (void)state;
    check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_hex(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                       "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_hex(four, strlen(four), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    unsigned char one = 0xbd;
    check_hex((const char *)&one, 1, "68325720aabd7c82f30f554b313d0570c95accbb7dc4b5aae11204c08ffe732b");
    unsigned char four_bytes[4] = {0xc9, 0x8c, 0x8e, 0x55};
    check_hex((const char *)four_bytes, 4, "7abc22c0ae5af26ce93dbb94433a0e0b2e119d014f8e7f65bd56c61ccccd9504");

    /* One million 'a', fed in uneven pieces. */
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    check_hex(a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    cb_sha256_ctx c;
    cb_sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t take = step < 1000000 - off ? step : 1000000 - off;
        cb_sha256_update(&c, a + off, take);
        off += take;
        step = step * 3 % 997 + 1;
    }
    char hex[CB_SHA256_HEX];
    cb_sha256_final_hex(&c, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* Lengths around the 55/56/64-byte padding edges (expected digests from sha256sum). */
static void test_padding_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char buf[128];
    memset(buf, 'a', sizeof buf);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_hex(buf, cases[i].n, cases[i].hex);
        /* Every two-piece split gives the same digest. */
        for (size_t cut = 0; cut <= cases[i].n; cut++) {
            cb_sha256_ctx c;
            cb_sha256_init(&c);
            cb_sha256_update(&c, buf, cut);
            cb_sha256_update(&c, buf + cut, cases[i].n - cut);
            char hex[CB_SHA256_HEX];
            cb_sha256_final_hex(&c, hex);
            assert_string_equal(hex, cases[i].hex);
        }
    }
}

static void test_file(void **state)
{
    (void)state;
    char *dir = cb_test_tmpdir();
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.bin", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    /* 200 000 bytes: more than one 64 KiB read. */
    unsigned char *bytes = malloc(200000);
    assert_non_null(bytes);
    for (size_t i = 0; i < 200000; i++) bytes[i] = (unsigned char)(i * 131 + (i >> 9));
    assert_int_equal(fwrite(bytes, 1, 200000, f), 200000);
    fclose(f);
    char want[CB_SHA256_HEX], got[CB_SHA256_HEX];
    cb_sha256_hex(bytes, 200000, want);
    cb_error err = {0};
    assert_int_equal(cb_sha256_file_hex(path, got, &err), CB_OK);
    assert_string_equal(got, want);

    snprintf(path, sizeof path, "%s/empty", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(cb_sha256_file_hex(path, got, &err), CB_OK);
    assert_string_equal(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    snprintf(path, sizeof path, "%s/missing.csv", dir);
    assert_int_equal(cb_sha256_file_hex(path, got, &err), CB_ERR_IO);
    assert_string_equal(got, "");
    assert_non_null(strstr(err.msg, "missing.csv"));
    assert_null(strchr(err.msg, '\n'));
    free(bytes);
    cb_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
