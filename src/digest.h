/* SPDX-License-Identifier: GPL-2.0 */
/*
 * digest.h - message digests taken as data passes: SHA-256, SHA-1 and
 * BLAKE2b-512 through OpenSSL's libcrypto (SHA-NI where the CPU has it),
 * XXH128 through libxxhash. Printed as sha256sum, xxh128sum, b2sum do.
 */
#ifndef KCOPY_DIGEST_H
#define KCOPY_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum digest_alg { DIGEST_SHA256, DIGEST_SHA1, DIGEST_XXH128, DIGEST_BLAKE2B, DIGEST_NR };

#define DIGEST_MAX_SIZE 64
#define DIGEST_HEX_MAX (2 * DIGEST_MAX_SIZE + 1)

struct digest;

/* "sha256", "sha1", "xxh128", "blake2b" -> @out; -EINVAL if unknown. */
int digest_alg_parse(const char *name, enum digest_alg *out);
const char *digest_alg_name(enum digest_alg alg);
/* The command whose output format ours is: "sha256sum", ... */
const char *digest_alg_tool(enum digest_alg alg);
unsigned digest_alg_size(enum digest_alg alg);

int digest_create(enum digest_alg alg, struct digest **out);
void digest_update(struct digest *d, const void *buf, size_t len);
/* @len zero bytes (a hole), without a buffer of the caller's. */
void digest_update_zeros(struct digest *d, uint64_t len);
/* Finish: the raw digest into @out (digest_alg_size bytes). Once. */
void digest_final(struct digest *d, unsigned char *out);
/* Finish: lowercase hex into @hex (DIGEST_HEX_MAX). Once. */
void digest_final_hex(struct digest *d, char *hex);
void digest_destroy(struct digest *d);

#endif
