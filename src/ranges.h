/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ranges.h - sets of byte ranges: sorted, merged, half-open [start, end).
 *
 * The resume map keeps what is done and what failed as range sets, and
 * must be able to take a failure back out of what was done (SPEC §3: the
 * map never claims work that is not on every destination), so a set
 * supports removal as well as addition.
 */
#ifndef KCOPY_RANGES_H
#define KCOPY_RANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct range {
	uint64_t start, end;
};

struct range_set {
	struct range *r;	/* nr ranges, sorted, disjoint, not touching */
	size_t nr, cap;
};

/* Add [start, end); merges with what it touches. 0 or -ENOMEM. */
int range_set_add(struct range_set *s, uint64_t start, uint64_t end);
/* Remove [start, end); may split a range. 0 or -ENOMEM. */
int range_set_remove(struct range_set *s, uint64_t start, uint64_t end);
/* Add every range of @other. 0 or -ENOMEM. */
int range_set_add_set(struct range_set *s, const struct range_set *other);
/* Remove every range of @other. 0 or -ENOMEM. */
int range_set_remove_set(struct range_set *s, const struct range_set *other);
/* Bytes covered from @offset on without a gap (0: @offset is not covered). */
uint64_t range_set_covered_at(const struct range_set *s, uint64_t offset);
/* Where the first range starting after @offset starts (UINT64_MAX: none). */
uint64_t range_set_next_start(const struct range_set *s, uint64_t offset);
/* Does any range share a byte with [start, end)? */
bool range_set_intersects(const struct range_set *s, uint64_t start, uint64_t end);
/* Total bytes in the set. */
uint64_t range_set_bytes(const struct range_set *s);
void range_set_clear(struct range_set *s);
void range_set_free(struct range_set *s);

#endif
