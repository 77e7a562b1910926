/* SPDX-License-Identifier: GPL-2.0 */
/*
 * size.h - byte counts as users type them, and as reports print them.
 *
 * Accepted syntax (SPEC §1): a non-negative integer in decimal or 0x hex,
 * optionally followed by one unit suffix:
 *   s                      512-byte sectors
 *   K M G T P (or KiB...)  powers of 1024 (also lower case k m g t p)
 *   KB MB GB TB PB         powers of 1000
 *   B                      bytes (no-op)
 * Fractions ("1.5G"), signs ("-1", "+4"), blanks, empty strings and junk
 * ("12abc") are rejected. Overflow is detected before every multiply.
 */
#ifndef KCOPY_SIZE_H
#define KCOPY_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse @str into *@bytes.
 * Returns 0, -EINVAL for bad syntax, -ERANGE when the value does not fit in
 * uint64_t. *@bytes is untouched on failure.
 */
int size_parse(const char *str, uint64_t *bytes);

/*
 * Format @bytes for humans with binary units, e.g. "512 B", "4.0 KiB",
 * "1.5 GiB" (one decimal above KiB). Writes at most @len bytes including
 * the NUL; returns @buf.
 */
char *size_format(uint64_t bytes, char *buf, size_t len);

#endif
