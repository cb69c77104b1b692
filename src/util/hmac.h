/* HMAC-SHA256 (RFC 2104 over FIPS 180-4, util/sha256.c) and a constant-time comparison, for
 * webhook signatures. */
#ifndef NC_UTIL_HMAC_H
#define NC_UTIL_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/sha256.h"

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SHA256_DIGEST_SIZE]);
/* The same as lowercase hex with a terminating NUL. */
void hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                     char out[SHA256_HEX_SIZE]);
/* Whether a and b (n bytes each) are equal, in a time that depends only on n. */
bool hmac_equal(const void *a, const void *b, size_t n);

#endif
