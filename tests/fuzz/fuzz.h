/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz.h - what every libFuzzer harness in tests/fuzz/ shares.
 *
 * A harness checks properties, not only the absence of crashes: a broken
 * property calls PROPERTY_FAILED, which names the file, line and condition
 * on stderr and aborts, so libFuzzer saves the input as a crash artifact.
 * Everything here is static (inline), so harnesses linked with all of src/
 * cannot clash.
 */
#ifndef KCOPY_FUZZ_H
#define KCOPY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROPERTY(cond) do {						\
	if (!(cond))							\
		fuzz_failed(__FILE__, __LINE__, #cond);			\
} while (0)

static inline void __attribute__((noreturn))
fuzz_failed(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
	abort();
}

/*
 * The input as a C string: a malloc'ed copy of @size bytes plus a NUL.
 * An embedded NUL ends the string early, as it would for argv. Out of
 * memory is not a finding: the harness then skips the input (NULL).
 */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return NULL;
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
