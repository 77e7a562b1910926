// SPDX-License-Identifier: GPL-2.0
/*
 * region.c - split "PATH[:OFFSET[+LENGTH]]" and "PATH:+LENGTH".
 *
 * Only the LAST ':' can start a suffix, and only if everything after it
 * parses; anything else is part of the path. That keeps by-path names like
 * "pci-0000:00:1f.2" usable without quoting rules. The price is that a path
 * whose last component ends in ":DIGITS" ("pci-0000:00") is read as
 * offset 0 of "pci-0000"; write "pci-0000:00:0" to mean the whole device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region.h"
#include "remote.h"
#include "size.h"

/*
 * Parse the suffix @s (everything after the ':') in place: the '+' is
 * briefly replaced by a NUL so that size_parse() sees each half alone.
 * Sizes never contain '+' (size_parse() refuses signs), so the first '+'
 * is the separator.
 */
static int parse_suffix(char *s, struct region_spec *r)
{
	char *plus = strchr(s, '+');
	uint64_t off = 0, len = 0;
	int ret;

	if (!plus) {
		ret = size_parse(s, &off);
		if (ret)
			return ret;
		r->offset = off;
		r->has_length = false;
		return 0;
	}

	*plus = '\0';
	ret = plus == s ? 0 : size_parse(s, &off);
	*plus = '+';
	if (ret)
		return ret;
	ret = size_parse(plus + 1, &len);
	if (ret)
		return ret;
	r->offset = off;
	r->length = len;
	r->has_length = true;
	return 0;
}

/* A suffix that was meant as a size: digits, a sign, or nothing at all. */
static bool looks_like_size(const char *s)
{
	return (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || !*s;
}

/* Why @s (one size of a suffix, @n bytes) is not a SIZE. */
static void size_problem(const char *s, size_t n, char *buf, size_t len)
{
	char part[64];
	uint64_t v;
	size_t digits;

	/* Judged on what is shown: at most 60 bytes of it. */
	snprintf(part, sizeof(part), "%.*s", (int)(n < 60 ? n : 60), s);
	n = strlen(part);
	for (digits = 0; digits < n && part[digits] >= '0' && part[digits] <= '9'; digits++)
		;
	if (!n)
		snprintf(buf, len, "a size is missing");
	else if (part[0] == '-')
		snprintf(buf, len, "'%s': a size cannot be negative", part);
	else if (digits < n && part[digits] == '.')
		snprintf(buf, len, "'%s': sizes are whole numbers (no fractions)", part);
	else if (size_parse(part, &v) == -ERANGE)
		snprintf(buf, len, "'%s' is too large", part);
	else if (digits && digits < n)
		snprintf(buf, len, "'%s' is not a unit: use s, K, M, G, T, P (or "
			 "KiB...), KB, MB, GB, TB or PB", part + digits);
	else
		snprintf(buf, len, "'%s' is not a size", part);
}

void region_suffix_problem(const char *suffix, char *buf, size_t len)
{
	const char *plus = strchr(suffix, '+');
	uint64_t v;

	if (!*suffix) {
		snprintf(buf, len, "nothing follows the ':'");
		return;
	}
	if (!plus) {
		size_problem(suffix, strlen(suffix), buf, len);
		return;
	}
	if (plus != suffix) {
		char part[64];

		snprintf(part, sizeof(part), "%.*s", (int)(plus - suffix), suffix);
		if (size_parse(part, &v) < 0) {
			size_problem(suffix, (size_t)(plus - suffix), buf, len);
			return;
		}
	}
	size_problem(plus + 1, strlen(plus + 1), buf, len);
}

int region_parse(const char *arg, struct region_spec *out)
{
	struct region_spec r = { 0 };
	char *colon;

	memset(out, 0, sizeof(*out));
	if (!arg || !*arg)
		return -EINVAL;

	/* A server command is one region, all of its export. */
	if (remote_is_spec(arg) && !remote_is_uri(arg)) {
		r.path = strdup(arg);
		if (!r.path)
			return -ENOMEM;
		*out = r;
		return 0;
	}
	/* A URI's ':' before its path is the port's, never a suffix. */
	if (remote_is_uri(arg) && !remote_uri_path(arg))
		return -EDESTADDRREQ;

	r.path = strdup(arg);
	if (!r.path)
		return -ENOMEM;

	colon = strrchr(r.path, ':');
	if (colon && remote_is_uri(arg) &&
	    colon < r.path + (remote_uri_path(arg) - arg))
		colon = NULL;
	if (colon && !parse_suffix(colon + 1, &r)) {
		if (colon == r.path) {
			free(r.path);
			return -EINVAL;
		}
		*colon = '\0';
	} else if (colon && looks_like_size(colon + 1)) {
		r.bad_suffix = colon + 1;
	}

	*out = r;
	return 0;
}

void region_spec_free(struct region_spec *r)
{
	if (!r)
		return;
	free(r->path);
	r->path = NULL;
	r->bad_suffix = NULL;
}

bool region_ranges_overlap(uint64_t a_off, uint64_t a_len,
			   uint64_t b_off, uint64_t b_len)
{
	if (!a_len || !b_len)
		return false;
	/*
	 * Compare distances instead of end points: a_off + a_len may wrap,
	 * b_off - a_off cannot when b_off >= a_off.
	 */
	if (a_off <= b_off)
		return b_off - a_off < a_len;
	return a_off - b_off < b_len;
}
