// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_bmap.c - bmap_parse() on any text, and what it accepts.
 *
 * The input is a bmap file. Whatever it is, the parser must not crash,
 * leak or read outside the buffer (ASan), and must give a reason when it
 * refuses. What it accepts must be what bmap.h promises: ranges sorted,
 * disjoint, inside the image; next_data() and find() agree with them; the
 * checker fed the image's zeros front to back never reads outside.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bmap.h"
#include "fuzz.h"

static void check_accepted(const struct bmap *b)
{
	uint64_t s, e, prev_end = 0, data, hole, size = bmap_image_size(b);
	struct bmap_check *c;
	size_t i, n = bmap_nr_ranges(b);

	for (i = 0; i < n; i++) {
		bmap_range_bytes(b, i, &s, &e);
		PROPERTY(s < e && e <= size);
		PROPERTY(i == 0 || s >= prev_end);
		PROPERTY(bmap_find(b, s) == (ssize_t)i);
		PROPERTY(bmap_next_data(b, s, &data, &hole) == 0 && data == s && hole == e);
		prev_end = e;
	}
	PROPERTY(bmap_next_data(b, prev_end, &data, &hole) == -ENXIO || n == 0 ||
		 prev_end < size);
	if (bmap_check_create(b, &c) == 0) {
		uint64_t off, bs, bad_s, bad_e;

		/* Zeros, a bounded walk: each range's verdict is given once. */
		for (i = 0, off = 0; i < n && i < 64; i++) {
			bmap_range_bytes(b, i, &s, &e);
			bs = e - s > (1u << 20) ? (1u << 20) : e - s;
			bmap_check_feed(c, s, NULL, bs, &bad_s, &bad_e);
			off = s + bs;
		}
		(void)off;
		PROPERTY(bmap_check_verified(c) <= n);
		bmap_check_free(c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bmap *b = NULL;
	char err[256];
	char *text = malloc(size ? size : 1);
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	err[0] = '\0';
	r = bmap_parse(text, size, &b, err, sizeof(err));
	if (r < 0) {
		PROPERTY(err[0] != '\0' || r == -ENOMEM);
	} else {
		check_accepted(b);
		bmap_free(b);
	}
	free(text);
	return 0;
}
