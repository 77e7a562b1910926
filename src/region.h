/* SPDX-License-Identifier: GPL-2.0 */
/*
 * region.h - "PATH[:OFFSET[+LENGTH]]" and "PATH:+LENGTH" (SPEC §1 Regions).
 *
 * The suffix is split off at the LAST ':' only if everything after it parses
 * as OFFSET[+LENGTH] or +LENGTH with size_parse(); otherwise the whole
 * argument is the path (so "/dev/disk/by-path/pci-0000:00:1f.2" is a path).
 * This module only parses; whether the path exists, and alignment and range
 * checks, belong to the caller.
 */
#ifndef KCOPY_REGION_H
#define KCOPY_REGION_H

#include <stdbool.h>
#include <stdint.h>

struct region_spec {
	char *path;		/* malloc'ed; never empty */
	uint64_t offset;	/* 0 when not given */
	uint64_t length;	/* valid only when has_length */
	bool has_length;
	/*
	 * Set when the argument contains a ':' whose suffix looked like a
	 * size attempt (starts with a digit, '+' or '-', or is empty) but
	 * did not parse; the
	 * whole argument was then taken as the path. Lets the caller say
	 * "no such file, and '1.5G' is not a valid OFFSET[+LENGTH]".
	 * Points into the path string (just after the ':'), or NULL.
	 */
	const char *bad_suffix;
};

/*
 * Parse @arg into @out. Returns 0, -EINVAL for an empty argument or an
 * empty path (":4096"), -EDESTADDRREQ for an NBD URI without a path part
 * ("nbd://host:10809": the ':' is the port's), -ENOMEM. An NBD URI's
 * suffix is split only after its path starts; a "[ ... ]" server command
 * is all path. On success the caller owns out->path and
 * frees it with region_spec_free(). On failure *@out is zeroed (path NULL),
 * so calling region_spec_free() on it is harmless.
 * A suffix that is out of range ("f:99999999999999999999") counts as one
 * that did not parse: the whole argument is the path, bad_suffix is set.
 */
int region_parse(const char *arg, struct region_spec *out);
void region_spec_free(struct region_spec *r);

/*
 * True when [a_off, a_off + a_len) and [b_off, b_off + b_len) share at
 * least one byte. Empty ranges never overlap. Must not overflow for any
 * input (offsets near UINT64_MAX).
 */
/*
 * Why @suffix (a bad_suffix) is not a valid OFFSET[+LENGTH], in a few
 * words for a message: "'8E' is not a unit (...)", "'-1': a size cannot
 * be negative", "nothing follows the ':'".
 */
void region_suffix_problem(const char *suffix, char *buf, size_t len);

bool region_ranges_overlap(uint64_t a_off, uint64_t a_len,
			   uint64_t b_off, uint64_t b_len);

#endif
