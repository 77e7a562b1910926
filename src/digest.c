// SPDX-License-Identifier: GPL-2.0
/*
 * digest.c - see digest.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <xxhash.h>

#include "digest.h"

struct digest {
	enum digest_alg alg;
	EVP_MD_CTX *md;		/* the libcrypto ones */
	XXH3_state_t *xxh;	/* xxh128 */
	bool final;
};

static const struct {
	const char *name, *tool;
	unsigned size;
} algs[DIGEST_NR] = {
	[DIGEST_SHA256] = { "sha256", "sha256sum", 32 },
	[DIGEST_SHA1] = { "sha1", "sha1sum", 20 },
	[DIGEST_XXH128] = { "xxh128", "xxh128sum", 16 },
	[DIGEST_BLAKE2B] = { "blake2b", "b2sum", 64 },
};

int digest_alg_parse(const char *name, enum digest_alg *out)
{
	unsigned i;

	for (i = 0; i < DIGEST_NR; i++)
		if (!strcmp(name, algs[i].name)) {
			*out = (enum digest_alg)i;
			return 0;
		}
	return -EINVAL;
}

const char *digest_alg_name(enum digest_alg alg)
{
	return algs[alg].name;
}

const char *digest_alg_tool(enum digest_alg alg)
{
	return algs[alg].tool;
}

unsigned digest_alg_size(enum digest_alg alg)
{
	return algs[alg].size;
}

static const EVP_MD *evp_md(enum digest_alg alg)
{
	switch (alg) {
	case DIGEST_SHA256:
		return EVP_sha256();
	case DIGEST_SHA1:
		return EVP_sha1();
	case DIGEST_BLAKE2B:
		return EVP_blake2b512();
	case DIGEST_XXH128:
	case DIGEST_NR:
		break;
	}
	return NULL;
}

int digest_create(enum digest_alg alg, struct digest **out)
{
	struct digest *d;

	if ((unsigned)alg >= DIGEST_NR)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->alg = alg;
	if (alg == DIGEST_XXH128) {
		d->xxh = XXH3_createState();
		if (!d->xxh || XXH3_128bits_reset(d->xxh) != XXH_OK)
			goto bad;
	} else {
		d->md = EVP_MD_CTX_new();
		if (!d->md || EVP_DigestInit_ex(d->md, evp_md(alg), NULL) != 1)
			goto bad;
	}
	*out = d;
	return 0;
bad:
	digest_destroy(d);
	return -ENOMEM;
}

void digest_update(struct digest *d, const void *buf, size_t len)
{
	if (d->xxh)
		XXH3_128bits_update(d->xxh, buf, len);
	else
		EVP_DigestUpdate(d->md, buf, len);
}

void digest_update_zeros(struct digest *d, uint64_t len)
{
	static const unsigned char zeros[64 * 1024];
	size_t n;

	while (len) {
		n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		digest_update(d, zeros, n);
		len -= n;
	}
}

void digest_final(struct digest *d, unsigned char *out)
{
	unsigned int n = 0;

	if (d->final)
		return;
	d->final = true;
	if (d->xxh) {
		XXH128_canonical_t c;

		/* xxh128sum prints the canonical (big-endian) form. */
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(d->xxh));
		memcpy(out, c.digest, sizeof(c.digest));
	} else {
		EVP_DigestFinal_ex(d->md, out, &n);
	}
}

void digest_final_hex(struct digest *d, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[DIGEST_MAX_SIZE] = { 0 };
	unsigned i, size = algs[d->alg].size;

	digest_final(d, raw);
	for (i = 0; i < size; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[2 * size] = '\0';
}

void digest_destroy(struct digest *d)
{
	if (!d)
		return;
	if (d->xxh)
		XXH3_freeState(d->xxh);
	EVP_MD_CTX_free(d->md);
	free(d);
}
