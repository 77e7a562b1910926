/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unit.h - the smallest unit-test harness that does the job.
 *
 * Each tests/unit/test_*.c includes this, runs its CHECKs from main() and
 * ends with "return unit_summary();". Failures go to stderr with file:line
 * and both values; stdout gets exactly one line, "N passed, N failed", and
 * the exit status is 1 when anything failed. Everything here is static
 * (inline), so test programs linked with all of src/ cannot clash.
 */
#ifndef KCOPY_UNIT_H
#define KCOPY_UNIT_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned unit_passed, unit_failed;

static inline bool unit_check(bool ok, const char *file, int line,
			      const char *expr)
{
	if (ok) {
		unit_passed++;
	} else {
		unit_failed++;
		fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, expr);
	}
	return ok;
}

/* a failed comparison: name both sides, then show their values */
static inline bool unit_fail2(const char *file, int line, const char *ea,
			      const char *op, const char *eb)
{
	unit_failed++;
	fprintf(stderr, "%s:%d: FAIL: %s %s %s\n", file, line, ea, op, eb);
	return false;
}

static inline bool unit_check_u64(uint64_t a, uint64_t b, const char *file,
				  int line, const char *ea, const char *eb)
{
	if (a == b)
		return unit_check(true, file, line, ea);
	unit_fail2(file, line, ea, "==", eb);
	fprintf(stderr, "  left:  %" PRIu64 " (0x%" PRIx64 ")\n"
		"  right: %" PRIu64 " (0x%" PRIx64 ")\n", a, a, b, b);
	return false;
}

static inline bool unit_check_int(long long a, long long b, const char *file,
				  int line, const char *ea, const char *eb)
{
	if (a == b)
		return unit_check(true, file, line, ea);
	unit_fail2(file, line, ea, "==", eb);
	fprintf(stderr, "  left:  %lld\n  right: %lld\n", a, b);
	return false;
}

static inline bool unit_check_str(const char *a, const char *b,
				  const char *file, int line, const char *ea,
				  const char *eb)
{
	if (a == b || (a && b && !strcmp(a, b)))
		return unit_check(true, file, line, ea);
	unit_fail2(file, line, ea, "equals", eb);
	fprintf(stderr, "  left:  %s%s%s\n  right: %s%s%s\n",
		a ? "\"" : "", a ? a : "NULL", a ? "\"" : "",
		b ? "\"" : "", b ? b : "NULL", b ? "\"" : "");
	return false;
}

static inline int unit_summary(void)
{
	printf("%u passed, %u failed\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

/* Each evaluates its arguments once and yields true when the check passed. */
#define CHECK(cond) unit_check(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ_U64(a, b) \
	unit_check_u64((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_EQ_INT(a, b) \
	unit_check_int((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_STR(a, b) \
	unit_check_str((a), (b), __FILE__, __LINE__, #a, #b)

#endif
