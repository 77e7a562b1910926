/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bmap.h - the block map of bmap-tools (bmaptool create), versions 1.x
 * and 2.0: the image's size, its mapped ranges and their checksums.
 */
#ifndef KCOPY_BMAP_H
#define KCOPY_BMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"

struct bmap_range {
	uint64_t first, last;	/* block numbers, inclusive */
	bool has_checksum;
	unsigned char checksum[DIGEST_MAX_SIZE];
};

struct bmap;
struct bmap_check;

int bmap_load(const char *path, struct bmap **out, char *err, size_t errlen);
int bmap_parse(const char *text, size_t len, struct bmap **out, char *err,
	       size_t errlen);
void bmap_free(struct bmap *b);
uint64_t bmap_image_size(const struct bmap *b);
unsigned bmap_block_size(const struct bmap *b);
uint64_t bmap_mapped_bytes(const struct bmap *b);
const char *bmap_version(const struct bmap *b);
enum digest_alg bmap_checksum_alg(const struct bmap *b);
size_t bmap_nr_ranges(const struct bmap *b);
const struct bmap_range *bmap_range(const struct bmap *b, size_t i);
void bmap_range_bytes(const struct bmap *b, size_t i, uint64_t *start,
		      uint64_t *end);
int bmap_next_data(const struct bmap *b, uint64_t offset, uint64_t *data,
		   uint64_t *hole);
ssize_t bmap_find(const struct bmap *b, uint64_t offset);

int bmap_check_create(const struct bmap *b, struct bmap_check **out);
int bmap_check_feed(struct bmap_check *c, uint64_t offset, const void *buf,
		    uint64_t len, uint64_t *bad_start, uint64_t *bad_end);
void bmap_check_lost(struct bmap_check *c, uint64_t offset, uint64_t len);
size_t bmap_check_verified(const struct bmap_check *c);
void bmap_check_free(struct bmap_check *c);

#endif
