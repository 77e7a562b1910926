// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_map.c - the resume map's loader (map_parse()).
 *
 * The input is map text for two jobs of known names, objects and lengths;
 * job 1 is fresh (a destination created in this run). Its first byte picks
 * a mode: odd, the harness appends the right end record (the checksum would
 * otherwise stop nearly every input at the door), even, the text is taken
 * as it is. Properties: a map that loads never claims a byte outside its
 * jobs, never claims a byte it holds as failed, and claims nothing of a
 * fresh job; a map that is refused says why in a message, returns
 * -EINVAL or -ESTALE, and gives no map. Everything is freed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "map.h"

#define LEN0 65536
#define LEN1 4096

static const struct map_job_desc jobs[] = {
	{ "copy src /a 0 65536 dst /b 0 65536", "file:1:2:65536:0.000000000 file:1:3:65536",
	  LEN0 },
	{ "zero dst /c 0 4096", NULL, LEN1 },
};

static char *with_end(const char *text, size_t len, size_t *out_len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char *out;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 0x100000001b3ull;
	}
	out = malloc(len + 32);
	if (!out)
		return NULL;
	memcpy(out, text, len);
	*out_len = len + (size_t)sprintf(out + len, "end %016llx\n", (unsigned long long)h);
	return out;
}

static void check_loaded(const struct map *map)
{
	uint64_t start, end, pos, done = 0;
	size_t j;

	for (j = 0; j < 2; j++) {
		uint64_t length = jobs[j].length;

		for (pos = 0; map_next_done(map, j, pos, &start, &end); pos = end) {
			PROPERTY(start >= pos && start < end);
			PROPERTY(end <= length);
			PROPERTY(map_done_at(map, j, start) == end - start);
			done += end - start;
		}
		PROPERTY(map_failed_bytes(map, j) <= length);
		/* Undone ranges and done ranges tile the job exactly. */
		for (pos = 0; map_next_undone(map, j, pos, &start, &end); pos = end) {
			PROPERTY(start >= pos && start < end && end <= length);
			PROPERTY(map_done_at(map, j, start) == 0);
		}
	}
	/* The fresh job claims nothing. */
	PROPERTY(!map_next_done(map, 1, 0, &start, &end));
	(void)done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	size_t len = size ? size - 1 : 0, n;
	struct map *map = NULL;
	char err[512] = "";
	char *buf = NULL;
	int r;

	if (!size)
		return 0;
	if (data[0] & 1) {
		buf = with_end(text, len, &n);
		if (!buf)
			return 0;
		text = buf;
		len = n;
	}
	r = map_parse("m", text, len, jobs, 2, &map, err, sizeof(err));
	if (r == 0) {
		PROPERTY(map != NULL);
		check_loaded(map);
		PROPERTY(map_commit(map) == -EBADF);	/* nowhere to save */
		map_close(map, false);
	} else {
		PROPERTY(r == -EINVAL || r == -ESTALE || r == -ENOMEM);
		PROPERTY(map == NULL);
		PROPERTY(err[0] != '\0');
		PROPERTY(!strncmp(err, "m", 1));
	}
	free(buf);
	return 0;
}
