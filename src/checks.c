// SPDX-License-Identifier: GPL-2.0
/*
 * checks.c - see checks.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bmap.h"
#include "checks.h"

struct data_check {
	unsigned nr;
	struct digest *digests[DIGEST_NR];
	char hex[DIGEST_NR][DIGEST_HEX_MAX];
	bool done;			/* the hex digests are made */
	struct bmap_check *bmap;
	uint64_t lost;			/* bytes that never came */
};

int data_check_create(const enum digest_alg *algs, unsigned nr,
		      const struct bmap *bmap, struct data_check **out)
{
	struct data_check *c;
	unsigned i;
	int r = -ENOMEM;

	if (nr > DIGEST_NR)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		r = digest_create(algs[i], &c->digests[i]);
		if (r < 0)
			goto bad;
		c->nr++;
	}
	if (bmap) {
		r = bmap_check_create(bmap, &c->bmap);
		if (r < 0)
			goto bad;
	}
	*out = c;
	return 0;
bad:
	data_check_free(c);
	return r;
}

void data_check_free(struct data_check *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < c->nr; i++)
		digest_destroy(c->digests[i]);
	bmap_check_free(c->bmap);
	free(c);
}

int data_check_feed(struct data_check *c, uint64_t offset, const void *buf,
		    uint64_t length, uint64_t *bad_offset, uint64_t *bad_length)
{
	uint64_t bad_start = 0, bad_end = 0;
	unsigned i;
	int r = 0;

	for (i = 0; i < c->nr && !c->lost; i++) {
		if (buf)
			digest_update(c->digests[i], buf, length);
		else
			digest_update_zeros(c->digests[i], length);
	}
	if (c->bmap)
		r = bmap_check_feed(c->bmap, offset, buf, length, &bad_start, &bad_end);
	if (r < 0) {
		*bad_offset = bad_start;
		*bad_length = bad_end - bad_start;
	}
	return r;
}

void data_check_lost(struct data_check *c, uint64_t offset, uint64_t length)
{
	c->lost += length;
	if (c->bmap)
		bmap_check_lost(c->bmap, offset, length);
}

void data_check_finish(struct data_check *c)
{
	unsigned i;

	if (c->done)
		return;
	for (i = 0; i < c->nr; i++)
		digest_final_hex(c->digests[i], c->hex[i]);
	c->done = true;
}

const char *data_check_hex(const struct data_check *c, unsigned i)
{
	return c && c->done && !c->lost && i < c->nr ? c->hex[i] : NULL;
}

bool data_check_same(const struct data_check *a, const struct data_check *b)
{
	unsigned i;

	if (!a->done || !b->done || a->lost || b->lost || a->nr != b->nr || !a->nr)
		return false;
	for (i = 0; i < a->nr; i++)
		if (strcmp(a->hex[i], b->hex[i]))
			return false;
	return true;
}

uint64_t data_check_lost_bytes(const struct data_check *c)
{
	return c->lost;
}

size_t data_check_ranges_verified(const struct data_check *c)
{
	return c->bmap ? bmap_check_verified(c->bmap) : 0;
}
