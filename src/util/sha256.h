/* SHA-256 (FIPS 180-4), for digests of what nanocell sends and records: policy profiles in
 * every run log, cache keys. Not for secrets that need constant-time comparison. */
#ifndef NC_UTIL_SHA256_H
#define NC_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE 65 /* 64 lowercase hex digits and a NUL */

/* Incremental interface: init, any number of updates, final. The context holds no pointers and
 * needs no release; after sha256_final it must be initialised again before reuse. */
typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes; /* message length so far; FIPS 180-4 limits messages to 2^64 - 1 bits */
    uint8_t block[64];
    size_t fill; /* bytes waiting in block, always < 64 between calls */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE]);

/* One-shot forms. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE]);
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE]);
/* Formats a digest as lowercase hex with a terminating NUL. */
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char out[SHA256_HEX_SIZE]);

#endif
