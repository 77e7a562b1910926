// SPDX-License-Identifier: GPL-2.0
/*
 * size.c - parse and format byte counts (SPEC §1 Regions, numbers).
 *
 * Modelled on util-linux strtosize(), but stricter: no strtoull() (which
 * skips blanks and accepts a sign), no fractions, and exactly one number
 * followed by at most one unit. Syntax is checked before range, so
 * "99999999999999999999zz" is -EINVAL, not -ERANGE.
 *
 * Accepted units, after the digits:
 *   (none), B          1
 *   s                  512 (lower case only, like the SPEC; "S" is junk)
 *   K, Ki, KiB         1024^1, the letter and "iB" in any case ("kib", "KIB")
 *   KB                 1000^1, in any case ("kb", "kB")
 *   ... and the same for M G T P (1024^2..1024^5, 1000^2..1000^5).
 * A lone lower-case "b" is refused: dd reads it as 512-byte blocks, and
 * silently taking it as bytes would be a nasty surprise.
 * E (exa) is not a unit: 16 EiB does not fit in uint64_t anyway, and the
 * SPEC stops at P.
 *
 * Decimal numbers may have leading zeros ("010" is ten, never octal).
 * Hex numbers are "0x" or "0X" followed by at least one hex digit. The hex
 * digits are taken greedily before looking for a unit, so "0x1B" is 27
 * bytes (B is a digit) and "0x1KB" is 1000; write "0x1b" with care.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "size.h"

static int digit_value(char c, unsigned base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return (unsigned)v < base ? v : -1;
}

/*
 * Read the digits at @s into *@val and point *@end past them.
 * -EINVAL when there is no digit at all. On overflow the scan still runs
 * to the end of the digits and returns -ERANGE, so that the caller can
 * check the unit first and report junk as junk.
 */
static int parse_digits(const char *s, unsigned base, uint64_t *val,
			const char **end)
{
	const char *p = s;
	uint64_t v = 0;
	bool overflow = false;
	int d;

	for (; (d = digit_value(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (unsigned)d) / base)
			overflow = true;
		else
			v = v * base + (unsigned)d;
	}
	if (p == s)
		return -EINVAL;
	*end = p;
	*val = v;
	return overflow ? -ERANGE : 0;
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* Map the unit suffix @p (possibly "") to its multiplier. */
static int parse_unit(const char *p, uint64_t *mult)
{
	static const char prefixes[] = "KMGTP";
	const char *q;
	uint64_t base = 1024, m = 1;
	int exp;

	if (!*p || !strcmp(p, "B")) {
		*mult = 1;
		return 0;
	}
	if (!strcmp(p, "s")) {
		*mult = 512;
		return 0;
	}

	q = strchr(prefixes, ascii_upper(*p));
	if (!q)
		return -EINVAL;
	exp = (int)(q - prefixes) + 1;
	p++;

	if (*p == 'i' || *p == 'I') {
		p++;
		if (*p == 'B' || *p == 'b')
			p++;
	} else if (*p == 'B' || *p == 'b') {
		base = 1000;
		p++;
	}
	if (*p)
		return -EINVAL;

	/* 1024^5 = 2^50 and 1000^5 = 10^15: no overflow possible here */
	while (exp--)
		m *= base;
	*mult = m;
	return 0;
}

int size_parse(const char *str, uint64_t *bytes)
{
	const char *p = str, *end;
	unsigned base = 10;
	uint64_t val, mult;
	int r, ru;

	if (!str)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}

	r = parse_digits(p, base, &val, &end);
	if (r == -EINVAL)
		return r;
	ru = parse_unit(end, &mult);
	if (ru)
		return ru;
	if (r)
		return r;

	if (val > UINT64_MAX / mult)
		return -ERANGE;
	*bytes = val * mult;
	return 0;
}

char *size_format(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
	};
	unsigned u = 1, shift;
	uint64_t whole, rem, tenths;

	if (!len)
		return buf;
	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}

	/* KiB at least (so shift >= 10 below), then the largest unit <= bytes */
	while (u + 1 < sizeof(units) / sizeof(units[0]) &&
	       bytes >> (10 * (u + 1)))
		u++;
	shift = 10 * u;
	whole = bytes >> shift;
	rem = bytes & ((UINT64_C(1) << shift) - 1);

	/*
	 * Round to the nearest tenth in integers: a double cannot hold every
	 * uint64_t, and rem * 10 < 2^64 since rem < 2^60.
	 */
	tenths = (rem * 10 + (UINT64_C(1) << (shift - 1))) >> shift;
	if (tenths == 10) {
		whole++;
		tenths = 0;
	}
	/* 1023.96 KiB would print as "1024.0 KiB": say "1.0 MiB" instead */
	if (whole == 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		whole = 1;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 ".%" PRIu64 " %s", whole, tenths,
		 units[u]);
	return buf;
}
