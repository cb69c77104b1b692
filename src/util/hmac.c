#include "util/hmac.h"

#include <string.h>

#include "util/banned.h"

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SHA256_DIGEST_SIZE])
{
    uint8_t k[64] = {0}; /* the key, hashed first when longer than a block (RFC 2104) */
    if (key_len > sizeof(k))
        sha256(key, key_len, k);
    else if (key_len)
        memcpy(k, key, key_len);
    uint8_t pad[64];
    sha256_ctx c;
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&c);
    sha256_update(&c, pad, sizeof(pad));
    sha256_update(&c, data, len);
    uint8_t inner[SHA256_DIGEST_SIZE];
    sha256_final(&c, inner);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&c);
    sha256_update(&c, pad, sizeof(pad));
    sha256_update(&c, inner, sizeof(inner));
    sha256_final(&c, out);
    explicit_bzero(k, sizeof(k));
    explicit_bzero(pad, sizeof(pad));
}

void hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                     char out[SHA256_HEX_SIZE])
{
    uint8_t d[SHA256_DIGEST_SIZE];
    hmac_sha256(key, key_len, data, len, d);
    sha256_to_hex(d, out);
}

bool hmac_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= x[i] ^ y[i];
    return acc == 0;
}
