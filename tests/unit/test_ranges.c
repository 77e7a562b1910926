// SPDX-License-Identifier: GPL-2.0
/*
 * test_ranges.c - range sets, and the resume map built on them: a map
 * never claims a range that failed, whatever order things happen in.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "ranges.h"
#include "unit.h"

/* A bitmap model of a set over [0, MODEL) to check against. */
#define MODEL 256

static bool model_ok(const struct range_set *s, const bool *bits)
{
	uint64_t i, prev_end = 0;
	size_t k;

	for (k = 0; k < s->nr; k++) {
		/* sorted, non-empty, disjoint and not touching */
		if (s->r[k].start >= s->r[k].end)
			return false;
		if (k && s->r[k].start <= prev_end)
			return false;
		prev_end = s->r[k].end;
	}
	for (i = 0; i < MODEL; i++) {
		bool in = range_set_covered_at(s, i) > 0;

		if (in != bits[i])
			return false;
	}
	return true;
}

static void test_random_against_model(void)
{
	struct range_set s = { 0 };
	bool bits[MODEL] = { false }, ok = true;
	unsigned seed = 12345, step;

	for (step = 0; step < 20000 && ok; step++) {
		uint64_t a, b, i;

		seed = seed * 1103515245 + 12345;
		a = (seed >> 8) % MODEL;
		seed = seed * 1103515245 + 12345;
		b = a + (seed >> 8) % 24;
		if (b > MODEL)
			b = MODEL;
		if (seed & (1u << 30)) {
			CHECK_EQ_INT(range_set_add(&s, a, b), 0);
			for (i = a; i < b; i++)
				bits[i] = true;
		} else {
			CHECK_EQ_INT(range_set_remove(&s, a, b), 0);
			for (i = a; i < b; i++)
				bits[i] = false;
		}
		ok = model_ok(&s, bits);
	}
	CHECK(ok);
	range_set_free(&s);
}

static void test_edges(void)
{
	struct range_set s = { 0 };

	CHECK_EQ_INT(range_set_add(&s, 10, 20), 0);
	CHECK_EQ_INT(range_set_add(&s, 20, 30), 0);	/* touching: merged */
	CHECK_EQ_U64(s.nr, 1);
	CHECK_EQ_U64(range_set_covered_at(&s, 10), 20);
	CHECK_EQ_U64(range_set_covered_at(&s, 29), 1);
	CHECK_EQ_U64(range_set_covered_at(&s, 30), 0);
	CHECK_EQ_INT(range_set_remove(&s, 15, 16), 0);	/* split */
	CHECK_EQ_U64(s.nr, 2);
	CHECK_EQ_U64(range_set_bytes(&s), 19);
	CHECK(range_set_intersects(&s, 14, 15));
	CHECK(!range_set_intersects(&s, 15, 16));
	CHECK(!range_set_intersects(&s, 30, 40));
	CHECK_EQ_INT(range_set_remove(&s, 0, 100), 0);
	CHECK_EQ_U64(s.nr, 0);
	/* the far end of the number line */
	CHECK_EQ_INT(range_set_add(&s, UINT64_MAX - 10, UINT64_MAX), 0);
	CHECK_EQ_U64(range_set_covered_at(&s, UINT64_MAX - 1), 1);
	CHECK_EQ_U64(range_set_covered_at(&s, UINT64_MAX), 0);
	CHECK_EQ_INT(range_set_remove(&s, UINT64_MAX - 5, UINT64_MAX), 0);
	CHECK_EQ_U64(range_set_bytes(&s), 5);
	range_set_free(&s);
}

static const struct map_job_desc job = { "copy src /a 0 65536 dst /b 0 65536",
					 "file:1:2:65536 file:1:3:65536", 65536 };

static struct map *parse(const char *text, int *r)
{
	struct map *map = NULL;
	char err[512];

	*r = map_parse("m", text, strlen(text), &job, 1, &map, err, sizeof(err));
	return map;
}

static const char head[] = "# c\nkcopy-map 2\njobs 1\n"
			   "job 0 copy src /a 0 65536 dst /b 0 65536\n"
			   "objects 0 file:1:2:65536 file:1:3:65536\n";

/* The checksum the map's end record carries. */
static char *with_end(const char *body)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char *out = NULL;
	const char *p;

	for (p = body; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	}
	if (asprintf(&out, "%send %016llx\n", body, (unsigned long long)h) < 0)
		abort();
	return out;
}

static void test_map_loader(void)
{
	char body[1024], *text;
	struct map *map;
	uint64_t start, end;
	int r;

	snprintf(body, sizeof(body), "%sdone 0 0 8192\ndone 0 4096 8192\n"
		 "failed 0 6144 1024\n", head);
	text = with_end(body);
	map = parse(text, &r);
	free(text);
	CHECK_EQ_INT(r, 0);
	if (map) {
		/* failed wins over done, whatever the file says */
		CHECK_EQ_U64(map_done_at(map, 0, 0), 6144);
		CHECK_EQ_U64(map_done_at(map, 0, 6144), 0);
		CHECK_EQ_U64(map_done_at(map, 0, 7168), 12288 - 7168);
		CHECK(map_next_done(map, 0, 6144, &start, &end));
		CHECK_EQ_U64(start, 7168);
		CHECK_EQ_U64(map_failed_bytes(map, 0), 1024);
		map_close(map, false);
	}
	/* refused: a range past the job, a sign, a leading zero, no jobs line */
	const char *bad[] = { "done 0 65536 1\n", "done 0 0 -1\n", "done 0 00 1\n",
			      "done 0 0 65537\n", "done 1 0 1\n", "done 0 0 0\n",
			      "failed 0 1 65536\n", "junk\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "%s%s", head, bad[i]);
		text = with_end(body);
		map = parse(text, &r);
		free(text);
		CHECK_EQ_INT(r, -EINVAL);
		CHECK(map == NULL);
	}
	text = with_end("kcopy-map 2\n");
	map = parse(text, &r);
	free(text);
	CHECK_EQ_INT(r, -EINVAL);
	/* other objects under the same names: refused as stale */
	snprintf(body, sizeof(body), "%s", head);
	body[strlen(body) - 2] = '9';
	text = with_end(body);
	map = parse(text, &r);
	free(text);
	CHECK_EQ_INT(r, -ESTALE);
}

int main(void)
{
	test_edges();
	test_random_against_model();
	test_map_loader();
	return unit_summary();
}
