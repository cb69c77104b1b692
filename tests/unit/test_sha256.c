/* src/util/sha256.c against the NIST example vectors (empty, "abc", the 448-bit and 896-bit
 * messages, one million 'a'), the padding boundaries around 55/56/64 bytes, and the incremental
 * interface fed in every split. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/sha256.h"

static void check_hex(const void *data, size_t len, const char *want)
{
    char got[SHA256_HEX_SIZE];
    sha256_hex(data, len, got);
    assert_string_equal(got, want);
}

static void test_fips_vectors(void **state)
{
    (void)state;
    check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_hex(m448, strlen(m448),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_hex(m896, strlen(m896),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
    (void)state;
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    check_hex(a, 1000000, want);
    /* The same through the incremental interface in odd-sized pieces. */
    sha256_ctx c;
    sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = 1000000 - off < step ? 1000000 - off : step;
        sha256_update(&c, a + off, n);
        off += n;
        step = step * 3 % 1000 + 1;
    }
    uint8_t d[SHA256_DIGEST_SIZE];
    char hex[SHA256_HEX_SIZE];
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    assert_string_equal(hex, want);
    free(a);
}

/* Lengths where the padding needs one block or spills into a second. Expected values from an
 * independent implementation (Python hashlib) over bytes i % 251. */
static void test_padding_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t len;
        const char *hex;
    } cases[] = {
        {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
        {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
        {57, "2fe741af801cc238602ac0ec6a7b0c3a8a87c7fc7d7f02a3fe03d1c12eac4d8f"},
        {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
        {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
        {65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"},
        {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
        {120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"},
        {128, "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5"},
    };
    uint8_t buf[128];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i % 251);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        check_hex(buf, cases[k].len, cases[k].hex);
        /* Every two-piece split gives the same digest. */
        for (size_t split = 0; split <= cases[k].len; split++) {
            sha256_ctx c;
            uint8_t d[SHA256_DIGEST_SIZE];
            char hex[SHA256_HEX_SIZE];
            sha256_init(&c);
            sha256_update(&c, buf, split);
            sha256_update(&c, buf + split, cases[k].len - split);
            sha256_final(&c, d);
            sha256_to_hex(d, hex);
            if (strcmp(hex, cases[k].hex) != 0)
                fail_msg("len %zu split %zu: got %s", cases[k].len, split, hex);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_padding_boundaries),
    };
    return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}
