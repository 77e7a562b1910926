// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_region.c - region_parse() and region_ranges_overlap().
 *
 * The input is one region argument. The split is recomputed from
 * region.h's rule (only the last ':' starts a suffix, and only if all of
 * it parses; size_parse() has its own fuzzer and serves as the oracle
 * here): the path is never empty, a split-off path is the input up to its
 * last ':', offset and length are what the suffix says, and bad_suffix
 * points just after that ':' exactly when the suffix looked like a size.
 * A split region printed back as "PATH:OFFSET+LENGTH" parses to the same.
 *
 * region_ranges_overlap() is checked against 128-bit arithmetic on the
 * parsed range and on numbers read from the input's first 32 bytes:
 * symmetric, never true for an empty range. Everything is freed, so that
 * LeakSanitizer sees a leak.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "region.h"
#include "size.h"

typedef unsigned __int128 u128;

/* An NBD URI (remote.h), by its scheme. */
static bool ref_uri(const char *s)
{
	static const char *const schemes[] = {
		"nbd://", "nbds://", "nbd+unix://", "nbds+unix://",
		"nbd+vsock://", "nbds+vsock://",
	};
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (!strncmp(s, schemes[i], strlen(schemes[i])))
			return true;
	return false;
}

/* Where a URI's path starts: the first '/' after "://"; NULL if none. */
static const char *ref_uri_path(const char *s)
{
	return ref_uri(s) ? strchr(strstr(s, "://") + 3, '/') : NULL;
}

/* "[ ... ]": a server command, all path. */
static bool ref_command(const char *s)
{
	size_t n = strlen(s);

	return n >= 4 && !strncmp(s, "[ ", 2) && !strcmp(s + n - 2, " ]");
}

/* The suffix after a ':' as region.h reads it: OFFSET, OFFSET+LENGTH, +LENGTH. */
static bool ref_suffix(const char *s, uint64_t *off, uint64_t *len,
		       bool *has_len)
{
	const char *plus = strchr(s, '+');
	char *head;
	bool ok;

	*off = 0;
	*len = 0;
	*has_len = plus != NULL;
	if (!plus)
		return size_parse(s, off) == 0;
	if (size_parse(plus + 1, len))
		return false;
	if (plus == s)
		return true;
	head = strndup(s, (size_t)(plus - s));
	if (!head)
		abort();
	ok = size_parse(head, off) == 0;
	free(head);
	return ok;
}

static void check_overlap(uint64_t a_off, uint64_t a_len, uint64_t b_off,
			  uint64_t b_len)
{
	bool got = region_ranges_overlap(a_off, a_len, b_off, b_len);
	u128 a_end = (u128)a_off + a_len, b_end = (u128)b_off + b_len;
	bool want = a_len && b_len && a_off < b_end && b_off < a_end;

	PROPERTY(got == region_ranges_overlap(b_off, b_len, a_off, a_len));
	if (!a_len || !b_len)
		PROPERTY(!got);
	PROPERTY(got == want);
}

static void check_overlaps(const uint8_t *data, size_t size,
			   const struct region_spec *r)
{
	uint64_t n[4] = { 0 }, len = r->has_length ? r->length : 0;
	unsigned i;

	memcpy(n, data, size < sizeof(n) ? size : sizeof(n));
	for (i = 0; i < 4; i++) {
		check_overlap(n[i], n[(i + 1) % 4], n[(i + 2) % 4], n[(i + 3) % 4]);
		check_overlap(r->offset, len, n[i], n[(i + 1) % 4]);
		check_overlap(UINT64_MAX - n[i], n[i], r->offset, len);
	}
	/* the edges: touching, one byte in, ranges that run past 2^64 */
	check_overlap(r->offset, len, r->offset + len, 1);
	check_overlap(r->offset, len, r->offset + len - 1, 1);
	check_overlap(r->offset, len, r->offset - 1, 1);
	check_overlap(r->offset, UINT64_MAX, r->offset - 1, UINT64_MAX);
	check_overlap(r->offset, len, r->offset, 0);
}

/* "PATH:OFFSET+LENGTH" parses back to the same path and numbers. */
static void check_print_back(const struct region_spec *r)
{
	struct region_spec again;
	size_t len = strlen(r->path) + 2 * 20 + 3;
	char *text = malloc(len);

	if (!text)
		return;
	if (r->has_length)
		snprintf(text, len, "%s:%" PRIu64 "+%" PRIu64, r->path,
			 r->offset, r->length);
	else
		snprintf(text, len, "%s:%" PRIu64, r->path, r->offset);
	PROPERTY(region_parse(text, &again) == 0);
	PROPERTY(!strcmp(again.path, r->path));
	PROPERTY(again.offset == r->offset);
	PROPERTY(again.has_length == r->has_length);
	if (r->has_length)
		PROPERTY(again.length == r->length);
	PROPERTY(again.bad_suffix == NULL);
	region_spec_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct region_spec r;
	uint64_t off, len;
	char *arg = fuzz_strdup(data, size);
	const char *colon;
	size_t n, plen;
	bool has_len, split;
	int ret;

	if (!arg)
		return 0;
	n = strlen(arg);
	colon = strrchr(arg, ':');
	/* An NBD URI's suffix starts after its path does; a command has none. */
	if (ref_command(arg) || (colon && ref_uri_path(arg) && colon < ref_uri_path(arg)))
		colon = NULL;
	split = colon && ref_suffix(colon + 1, &off, &len, &has_len);

	memset(&r, 0xa5, sizeof(r));
	ret = region_parse(arg, &r);
	PROPERTY(ret == 0 || ret == -EINVAL || ret == -ENOMEM ||
		 ret == -EDESTADDRREQ);
	/* exactly the URIs without a path part */
	PROPERTY((ret == -EDESTADDRREQ) == (ref_uri(arg) && !ref_uri_path(arg)));
	if (ret == -EDESTADDRREQ) {
		PROPERTY(!r.path && !r.bad_suffix);
		free(arg);
		return 0;
	}
	if (ret) {
		/* zeroed, so that region_spec_free() is harmless */
		PROPERTY(!r.path && !r.bad_suffix && !r.offset && !r.length &&
			 !r.has_length);
		PROPERTY(ret == -ENOMEM || !n || (split && colon == arg));
		region_spec_free(&r);
		free(arg);
		return 0;
	}

	PROPERTY(n && !(split && colon == arg));
	PROPERTY(r.path);
	plen = strlen(r.path);
	PROPERTY(plen > 0);
	PROPERTY(!strncmp(r.path, arg, plen));
	if (split) {
		/* the input, up to its last ':' */
		PROPERTY(arg + plen == colon);
		PROPERTY(r.offset == off);
		PROPERTY(r.has_length == has_len);
		if (has_len)
			PROPERTY(r.length == len);
		PROPERTY(!r.bad_suffix);
		check_print_back(&r);
	} else {
		PROPERTY(plen == n);
		PROPERTY(r.offset == 0 && !r.has_length);
		/* a size attempt: a digit, a sign, or nothing after the ':' */
		if (colon && ((colon[1] >= '0' && colon[1] <= '9') ||
			      colon[1] == '+' || colon[1] == '-' || !colon[1]))
		{
			char why[16];	/* small: the explanation must truncate safely */

			PROPERTY(r.bad_suffix == r.path + (colon - arg) + 1);
			region_suffix_problem(r.bad_suffix, why, sizeof(why));
			PROPERTY(why[0] != '\0' && strlen(why) < sizeof(why));
		} else
			PROPERTY(!r.bad_suffix);
	}

	check_overlaps(data, size, &r);
	region_spec_free(&r);
	PROPERTY(!r.path && !r.bad_suffix);
	region_spec_free(&r);	/* twice is harmless */
	region_spec_free(NULL);
	free(arg);
	return 0;
}
