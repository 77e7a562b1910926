// SPDX-License-Identifier: GPL-2.0
/*
 * ranges.c - see ranges.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

static int reserve(struct range_set *s, size_t extra)
{
	struct range *r;
	size_t cap;

	if (s->nr + extra <= s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 16;
	while (cap < s->nr + extra)
		cap *= 2;
	r = realloc(s->r, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->r = r;
	s->cap = cap;
	return 0;
}

/* Index of the first range that ends at or after @offset. */
static size_t first_ending_at_or_after(const struct range_set *s, uint64_t offset)
{
	size_t lo = 0, hi = s->nr, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->r[mid].end < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int range_set_add(struct range_set *s, uint64_t start, uint64_t end)
{
	size_t i, j;

	if (start >= end)
		return 0;
	i = first_ending_at_or_after(s, start);
	/* Merge every range that touches [start, end). */
	for (j = i; j < s->nr && s->r[j].start <= end; j++) {
		if (s->r[j].start < start)
			start = s->r[j].start;
		if (s->r[j].end > end)
			end = s->r[j].end;
	}
	if (j > i) {
		s->r[i] = (struct range) { start, end };
		memmove(&s->r[i + 1], &s->r[j], (s->nr - j) * sizeof(*s->r));
		s->nr -= j - i - 1;
		return 0;
	}
	if (reserve(s, 1) < 0)
		return -ENOMEM;
	memmove(&s->r[i + 1], &s->r[i], (s->nr - i) * sizeof(*s->r));
	s->r[i] = (struct range) { start, end };
	s->nr++;
	return 0;
}

int range_set_remove(struct range_set *s, uint64_t start, uint64_t end)
{
	size_t i, j;
	struct range *r;

	if (start >= end)
		return 0;
	i = first_ending_at_or_after(s, start + 1);
	if (i >= s->nr || s->r[i].start >= end)
		return 0;
	r = &s->r[i];
	if (r->start < start && r->end > end) {
		/* [start, end) is inside one range: split it. */
		if (reserve(s, 1) < 0)
			return -ENOMEM;
		memmove(&s->r[i + 1], &s->r[i], (s->nr - i) * sizeof(*s->r));
		s->nr++;
		s->r[i].end = start;
		s->r[i + 1].start = end;
		return 0;
	}
	if (r->start < start) {
		r->end = start;
		i++;
	}
	for (j = i; j < s->nr && s->r[j].end <= end; j++)
		;
	if (j < s->nr && s->r[j].start < end)
		s->r[j].start = end;
	memmove(&s->r[i], &s->r[j], (s->nr - j) * sizeof(*s->r));
	s->nr -= j - i;
	return 0;
}

int range_set_add_set(struct range_set *s, const struct range_set *other)
{
	size_t i;
	int r;

	for (i = 0; i < other->nr; i++) {
		r = range_set_add(s, other->r[i].start, other->r[i].end);
		if (r < 0)
			return r;
	}
	return 0;
}

int range_set_remove_set(struct range_set *s, const struct range_set *other)
{
	size_t i;
	int r;

	for (i = 0; i < other->nr; i++) {
		r = range_set_remove(s, other->r[i].start, other->r[i].end);
		if (r < 0)
			return r;
	}
	return 0;
}

uint64_t range_set_covered_at(const struct range_set *s, uint64_t offset)
{
	size_t i = first_ending_at_or_after(s, offset + 1);

	if (offset == UINT64_MAX || i >= s->nr || s->r[i].start > offset)
		return 0;
	return s->r[i].end - offset;
}

uint64_t range_set_next_start(const struct range_set *s, uint64_t offset)
{
	size_t i = offset == UINT64_MAX ? s->nr : first_ending_at_or_after(s, offset + 1);

	for (; i < s->nr; i++)
		if (s->r[i].start > offset)
			return s->r[i].start;
	return UINT64_MAX;
}

bool range_set_intersects(const struct range_set *s, uint64_t start, uint64_t end)
{
	size_t i;

	if (start >= end)
		return false;
	i = first_ending_at_or_after(s, start + 1);
	return i < s->nr && s->r[i].start < end;
}

uint64_t range_set_bytes(const struct range_set *s)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < s->nr; i++)
		total += s->r[i].end - s->r[i].start;
	return total;
}

void range_set_clear(struct range_set *s)
{
	s->nr = 0;
}

void range_set_free(struct range_set *s)
{
	free(s->r);
	memset(s, 0, sizeof(*s));
}
