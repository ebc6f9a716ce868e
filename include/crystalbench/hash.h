/* SHA-256 (FIPS 180-4) of bytes, of a stream fed in pieces, and of a file, with
 * lowercase hex output: the content hashes that key datasets and configs in the
 * results store (a run records the hash of the data it saw; the reference cache is
 * keyed by it).  Pure C, no state outside the context struct, any byte order. */
#ifndef CRYSTALBENCH_HASH_H
#define CRYSTALBENCH_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "crystalbench/error.h"

#define CB_SHA256_BYTES 32
#define CB_SHA256_HEX 65 /* 64 hex digits and a NUL */

/* A running hash: init, update any number of times with any split of the input,
 * final once.  The struct is plain data (copy it to fork a hash of a common prefix). */
typedef struct cb_sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes;          /* total bytes fed so far */
    unsigned char block[64];  /* pending partial block */
    size_t nblock;
} cb_sha256_ctx;

void cb_sha256_init(cb_sha256_ctx *c);
void cb_sha256_update(cb_sha256_ctx *c, const void *data, size_t n);
/* Writes the digest; c must be re-initialised before further use. */
void cb_sha256_final(cb_sha256_ctx *c, unsigned char digest[CB_SHA256_BYTES]);
void cb_sha256_final_hex(cb_sha256_ctx *c, char hex[CB_SHA256_HEX]);

/* One-shot digests of a buffer. */
void cb_sha256(const void *data, size_t n, unsigned char digest[CB_SHA256_BYTES]);
void cb_sha256_hex(const void *data, size_t n, char hex[CB_SHA256_HEX]);
/* Digest of a whole file's bytes, read as a stream (any size).  On failure hex is
 * the empty string and err names the file (CB_ERR_IO). */
int cb_sha256_file_hex(const char *path, char hex[CB_SHA256_HEX], cb_error *err);

/* Lowercase hex of n bytes into hex[2n+1], NUL-terminated. */
void cb_hex_encode(const unsigned char *bytes, size_t n, char *hex);

#endif
