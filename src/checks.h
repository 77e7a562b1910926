/* SPDX-License-Identifier: GPL-2.0 */
/*
 * checks.h - what is checked of a region's data as it passes through the
 * engine (ops.data, in offset order): its digests (--hash) and a bmap's
 * checksum of each mapped range. One for the source of a copy; one for
 * each destination's read-back under --verify.
 */
#ifndef KCOPY_CHECKS_H
#define KCOPY_CHECKS_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"

struct bmap;
struct data_check;

/*
 * Digests @algs (@nr of them, maybe 0) of the data, and the checksums of
 * @bmap's ranges (NULL: none). Returns 0 or -errno.
 */
int data_check_create(const enum digest_alg *algs, unsigned nr,
		      const struct bmap *bmap, struct data_check **out);
void data_check_free(struct data_check *c);

/*
 * [offset, + length) of the data (@buf NULL: zeros). 0, or -EBADMSG with
 * the bmap range that does not match in *@bad_offset, *@bad_length.
 */
int data_check_feed(struct data_check *c, uint64_t offset, const void *buf,
		    uint64_t length, uint64_t *bad_offset, uint64_t *bad_length);
/* Data that will not come: the digests can't be made. */
void data_check_lost(struct data_check *c, uint64_t offset, uint64_t length);

/* Finish the digests; NULL for each when data was lost. */
void data_check_finish(struct data_check *c);
/* The hex digest of algorithm @i (the order given), or NULL. */
const char *data_check_hex(const struct data_check *c, unsigned i);
/* Did the digests of @a and @b come out, and the same? */
bool data_check_same(const struct data_check *a, const struct data_check *b);
uint64_t data_check_lost_bytes(const struct data_check *c);
/* Bmap ranges whose checksum matched. */
size_t data_check_ranges_verified(const struct data_check *c);

#endif
