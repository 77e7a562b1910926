// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_size.c - size_parse() and size_format() against their contract.
 *
 * The input is one SIZE argument. size_parse() is checked against a
 * reference parser written from the grammar in size.h and atop size.c, in
 * 128-bit arithmetic so that it needs no overflow reasoning. A few
 * properties are also checked on their own, first, so that a finding names
 * the rule it breaks: a sign is always refused, plain decimal digits mean
 * what they say, a failure leaves *bytes alone, a parsed value prints and
 * parses back.
 *
 * size_format() is run on the parsed value and on the input's first eight
 * bytes taken as a number, into buffers of exactly the size passed (ASan
 * catches a byte too many); its text must be well formed, at most 10
 * characters, and within half a tenth of its unit from the true value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "size.h"

typedef unsigned __int128 u128;

#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* The multiplier of the unit @u (possibly ""), or 0 when it is no unit. */
static uint64_t ref_unit(const char *u)
{
	static const char prefixes[] = "kmgtp";
	const char *q;
	uint64_t base, m = 1;
	char rest[3] = "";
	size_t n = strlen(u), i;

	if (!strcmp(u, "") || !strcmp(u, "B"))
		return 1;
	if (!strcmp(u, "s"))
		return 512;
	if (n > 3 || !(q = strchr(prefixes, lower(u[0]))))
		return 0;
	for (i = 1; i < n; i++)
		rest[i - 1] = lower(u[i]);
	if (!strcmp(rest, "") || !strcmp(rest, "i") || !strcmp(rest, "ib"))
		base = 1024;
	else if (!strcmp(rest, "b"))
		base = 1000;
	else
		return 0;
	for (i = 0; i <= (size_t)(q - prefixes); i++)
		m *= base;
	return m;
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* size.h's grammar, read literally: syntax first, then range. */
static int ref_parse(const char *s, uint64_t *bytes)
{
	const u128 limit = (u128)UINT64_MAX + 1;
	const char *p = s;
	unsigned base = 10;
	u128 v = 0;
	uint64_t mult;
	int d;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!(base == 16 ? hex_value(*p) >= 0 : is_digit(*p)))
		return -EINVAL;
	for (; (d = base == 16 ? hex_value(*p) : is_digit(*p) ? *p - '0' : -1) >= 0;
	     p++) {
		v = v * base + (unsigned)d;
		if (v > limit)
			v = limit;	/* saturate: it is too big either way */
	}
	mult = ref_unit(p);
	if (!mult)
		return -EINVAL;
	if (v >= limit || v * mult >= limit)
		return -ERANGE;
	*bytes = (uint64_t)(v * mult);
	return 0;
}

static void check_parse_back(uint64_t v)
{
	char text[64];
	uint64_t b = SENTINEL;

	snprintf(text, sizeof(text), "%" PRIu64, v);
	PROPERTY(size_parse(text, &b) == 0 && b == v);
	snprintf(text, sizeof(text), "0x%" PRIx64, v);
	PROPERTY(size_parse(text, &b) == 0 && b == v);
	snprintf(text, sizeof(text), "%" PRIu64 "s", v / 512);
	PROPERTY(size_parse(text, &b) == 0 && b == v / 512 * 512);
}

static void check_parse(const char *s)
{
	uint64_t got = SENTINEL, want = SENTINEL, naive = 0;
	size_t n = strlen(s), i;
	bool digits = n > 0;
	int r, rr;

	r = size_parse(s, &got);
	PROPERTY(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r)
		PROPERTY(got == SENTINEL);

	if (s[0] == '-' || s[0] == '+')
		PROPERTY(r == -EINVAL);
	if (!n)
		PROPERTY(r == -EINVAL);
	/* no blank, sign, dot or other junk anywhere in a valid size */
	for (i = 0; i < n && !r; i++)
		PROPERTY(is_alnum(s[i]));

	/* Up to 19 decimal digits always fit; 20 may not. */
	for (i = 0; i < n; i++)
		digits = digits && is_digit(s[i]);
	if (digits && n <= 19) {
		for (i = 0; i < n; i++)
			naive = naive * 10 + (uint64_t)(s[i] - '0');
		PROPERTY(r == 0 && got == naive);
	}

	/* and everything else as size.h says */
	rr = ref_parse(s, &want);
	PROPERTY(r == rr);
	if (!r) {
		PROPERTY(got == want);
		check_parse_back(got);
	}
}

/*
 * The full text of size_format(@v): "N B" exactly below 1 KiB, else
 * "W.T UNIT" with 1 <= W <= 1023, within half a tenth of a UNIT of @v.
 */
static void check_format_text(uint64_t v, const char *text)
{
	static const char *const units[] = {
		"KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
	};
	unsigned long long w, t;
	char unit[8], again[64];
	unsigned u, shift;
	u128 shown, exact, err;

	if (v < 1024) {
		snprintf(again, sizeof(again), "%" PRIu64 " B", v);
		PROPERTY(!strcmp(text, again));
		return;
	}
	PROPERTY(sscanf(text, "%llu.%llu %7s", &w, &t, unit) == 3);
	PROPERTY(w >= 1 && w <= 1023 && t <= 9);
	snprintf(again, sizeof(again), "%llu.%llu %s", w, t, unit);
	PROPERTY(!strcmp(text, again));
	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		if (!strcmp(unit, units[u]))
			break;
	PROPERTY(u < sizeof(units) / sizeof(units[0]));
	shift = 10 * (u + 1);
	/* |(10 W + T) 2^shift - 10 v| <= 2^shift / 2 */
	shown = (u128)(10 * w + t) << shift;
	exact = (u128)v * 10;
	err = shown > exact ? shown - exact : exact - shown;
	PROPERTY(err <= (u128)1 << (shift - 1));
}

static void check_format(uint64_t v)
{
	static const size_t lens[] = { 1, 2, 3, 5, 8, 9, 11, 16 };
	char full[64], *buf;
	size_t i, len;

	PROPERTY(size_format(v, NULL, 0) == NULL);
	PROPERTY(size_format(v, full, sizeof(full)) == full);
	/* "1023.9 KiB" is the longest: 11 bytes always do */
	PROPERTY(strnlen(full, sizeof(full)) <= 10);
	check_format_text(v, full);

	/* exactly @len bytes, so that ASan sees any byte written past them */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		buf = malloc(len);
		if (!buf)
			return;
		PROPERTY(size_format(v, buf, len) == buf);
		PROPERTY(strnlen(buf, len) < len);
		PROPERTY(!strncmp(buf, full, len - 1));
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t raw = 0, v = SENTINEL;
	char *s = fuzz_strdup(data, size);

	if (!s)
		return 0;
	check_parse(s);
	if (!size_parse(s, &v))
		check_format(v);

	memcpy(&raw, data, size < sizeof(raw) ? size : sizeof(raw));
	check_format(raw);
	check_format(~raw);
	free(s);
	return 0;
}
