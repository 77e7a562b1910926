// SPDX-License-Identifier: GPL-2.0
/* test_region.c - region_parse() and region_ranges_overlap() */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "region.h"
#include "remote.h"
#include "unit.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* PATH with OFFSET and no LENGTH */
#define OFF(arg, want_path, want_off) do {				\
	struct region_spec r_;						\
	if (CHECK_EQ_INT(region_parse(arg, &r_), 0)) {			\
		CHECK_STR(r_.path, (want_path));			\
		CHECK_EQ_U64(r_.offset, (want_off));			\
		CHECK(!r_.has_length);					\
		CHECK(r_.bad_suffix == NULL);				\
		region_spec_free(&r_);					\
	}								\
} while (0)

/* PATH with OFFSET and LENGTH */
#define LEN(arg, want_path, want_off, want_len) do {			\
	struct region_spec r_;						\
	if (CHECK_EQ_INT(region_parse(arg, &r_), 0)) {			\
		CHECK_STR(r_.path, (want_path));			\
		CHECK_EQ_U64(r_.offset, (want_off));			\
		CHECK(r_.has_length);					\
		CHECK_EQ_U64(r_.length, (want_len));			\
		CHECK(r_.bad_suffix == NULL);				\
		region_spec_free(&r_);					\
	}								\
} while (0)

/* the whole argument is the path; @want_bad is the bad suffix or NULL */
#define PATH(arg, want_bad) do {					\
	struct region_spec r_;						\
	const char *want_ = (want_bad);					\
	if (CHECK_EQ_INT(region_parse(arg, &r_), 0)) {			\
		CHECK_STR(r_.path, (arg));				\
		CHECK_EQ_U64(r_.offset, 0);				\
		CHECK(!r_.has_length);					\
		CHECK_STR(r_.bad_suffix, want_);			\
		if (want_)						\
			CHECK(r_.bad_suffix > r_.path &&		\
			      r_.bad_suffix[-1] == ':');		\
		region_spec_free(&r_);					\
	}								\
} while (0)

#define FAIL(arg, err) do {						\
	struct region_spec r_;						\
	CHECK_EQ_INT(region_parse(arg, &r_), (err));			\
	CHECK(r_.path == NULL);						\
	region_spec_free(&r_);						\
} while (0)

static void test_suffix_forms(void)
{
	OFF("f:4096", "f", 4096);
	OFF("f:0", "f", 0);
	OFF("f:8s", "f", 4096);
	OFF("f:0x1000", "f", 4096);
	OFF("/dev/sdb:1G", "/dev/sdb", GiB);
	LEN("f:4096+1M", "f", 4096, MiB);
	LEN("f:0+0", "f", 0, 0);
	LEN("f:1GiB+2GB", "f", GiB, UINT64_C(2000000000));
	LEN("f:+8s", "f", 0, 4096);
	LEN("f:+0", "f", 0, 0);
	LEN("/dev/sdb:+1M", "/dev/sdb", 0, MiB);
	OFF("f:18446744073709551615", "f", UINT64_MAX);
	LEN("f:+18446744073709551615", "f", 0, UINT64_MAX);
}

static void test_no_suffix(void)
{
	PATH("f", NULL);
	PATH("/dev/sdb", NULL);
	PATH("./relative/file.img", NULL);
	PATH("f+4096", NULL);		/* no ':' at all */
	PATH("f:", "");		/* empty suffix: a size attempt left out */
	PATH("f::", "");
	PATH("f:abc", NULL);		/* not a size attempt */
	PATH("f:K", NULL);
	PATH(":", "");
	PATH(":abc", NULL);
	PATH("C:\\disk", NULL);
	PATH("-", NULL);
}

static void test_colons(void)
{
	/* the SPEC's example: "1f.2" does not parse, so it is all path */
	PATH("/dev/disk/by-path/pci-0000:00:1f.2", "1f.2");
	/* the documented price of the rule: a trailing ":00" is an offset */
	OFF("/dev/disk/by-path/pci-0000:00", "/dev/disk/by-path/pci-0000", 0);
	/* only the last ':' splits */
	OFF("a:b:c:4096", "a:b:c", 4096);
	LEN("/dev/disk/by-path/pci-0000:00:1f.2:1M+1M",
	    "/dev/disk/by-path/pci-0000:00:1f.2", MiB, MiB);
	PATH("a:4096:b", NULL);
	OFF("f::4096", "f:", 4096);
}

static void test_bad_suffix(void)
{
	PATH("f:1.5G", "1.5G");
	PATH("f:12abc", "12abc");
	PATH("f:4096+", "4096+");
	PATH("f:+", "+");
	PATH("f:++1", "++1");
	PATH("f:+-1", "+-1");
	PATH("f:1+2+3", "1+2+3");
	PATH("f:4096+1.5M", "4096+1.5M");
	PATH("f:0x", "0x");
	PATH("f:1 ", "1 ");
	PATH("f:4KK", "4KK");
	/* out of range counts as "did not parse" */
	PATH("f:18446744073709551616", "18446744073709551616");
	PATH("f:+16384P", "+16384P");
	PATH(":1.5G", "1.5G");
	/* '-' is a size attempt (a negative one); ' ' is not */
	PATH("f:-1", "-1");
	PATH("f: 1", NULL);
}

static void test_errors(void)
{
	FAIL(NULL, -EINVAL);
	FAIL("", -EINVAL);
	FAIL(":1", -EINVAL);
	FAIL(":4096", -EINVAL);
	FAIL(":+1M", -EINVAL);
	FAIL(":0+0", -EINVAL);

	/* freeing twice, or freeing NULL, is harmless */
	{
		struct region_spec r;

		if (CHECK_EQ_INT(region_parse("f:1", &r), 0)) {
			region_spec_free(&r);
			CHECK(r.path == NULL);
			region_spec_free(&r);
		}
		region_spec_free(NULL);
	}
}

/* NBD URIs: the ':' of a port is never a suffix; commands are all path. */
static void test_nbd(void)
{
	OFF("nbd://host:10809/exp:4096", "nbd://host:10809/exp", 4096);
	OFF("nbd://host:10809/:1M", "nbd://host:10809/", MiB);
	LEN("nbd+unix:///?socket=/tmp/s.sock:1M+4M",
	       "nbd+unix:///?socket=/tmp/s.sock", MiB, 4 * MiB);
	LEN("nbds://h/e:+1G", "nbds://h/e", 0, GiB);
	PATH("nbd://host:10809/", NULL);
	PATH("nbd+unix:///e?socket=/tmp/a:b", NULL);
	FAIL("nbd://host:10809", -EDESTADDRREQ);
	FAIL("nbd://host", -EDESTADDRREQ);
	FAIL("nbds+unix://", -EDESTADDRREQ);
	PATH("[ qemu-nbd -f qcow2 a:1 ]", NULL);
	PATH("[ nbdkit memory 1G ]", NULL);
}

/* A server command travels as one word and comes back the same. */
static void test_command_join(void)
{
	char *w1[] = { "qemu-nbd", "-f", "qcow2", "my disk.qcow2" };
	char *w2[] = { "nbdkit", "sh", "-", "it's" };
	char *s;

	s = remote_command_join(w1, 4);
	CHECK_STR(s, "[ qemu-nbd -f qcow2 'my disk.qcow2' ]");
	CHECK(s && remote_is_spec(s) && !remote_is_uri(s));
	free(s);
	s = remote_command_join(w2, 4);
	CHECK_STR(s, "[ nbdkit sh - 'it'\\''s' ]");
	free(s);
	CHECK(remote_is_uri("nbd+unix:///?socket=/s"));
	CHECK(!remote_is_spec("nbd:/x"));
	CHECK(!remote_is_spec("[ ]x"));
	CHECK(!remote_is_spec("/dev/sda"));
}

static void test_overlap(void)
{
	const uint64_t M = UINT64_MAX;

	/* disjoint, touching, sharing one byte */
	CHECK(!region_ranges_overlap(0, 10, 10, 10));
	CHECK(!region_ranges_overlap(10, 10, 0, 10));
	CHECK(region_ranges_overlap(0, 11, 10, 10));
	CHECK(region_ranges_overlap(10, 10, 0, 11));
	CHECK(!region_ranges_overlap(0, 5, 100, 5));
	CHECK(!region_ranges_overlap(100, 5, 0, 5));

	/* identical, nested, partial */
	CHECK(region_ranges_overlap(0, 1, 0, 1));
	CHECK(region_ranges_overlap(4096, 4096, 4096, 4096));
	CHECK(region_ranges_overlap(0, 100, 10, 5));
	CHECK(region_ranges_overlap(10, 5, 0, 100));
	CHECK(region_ranges_overlap(0, 100, 50, 100));
	CHECK(region_ranges_overlap(50, 100, 0, 100));

	/* empty ranges never overlap, even inside another */
	CHECK(!region_ranges_overlap(0, 0, 0, 0));
	CHECK(!region_ranges_overlap(5, 0, 0, 10));
	CHECK(!region_ranges_overlap(0, 10, 5, 0));
	CHECK(!region_ranges_overlap(0, 0, 0, M));

	/* near UINT64_MAX: no wrap-around */
	CHECK(region_ranges_overlap(0, M, M - 1, 1));
	CHECK(!region_ranges_overlap(0, M, M, 1));	/* [0,M) vs [M,M+1) */
	CHECK(!region_ranges_overlap(M, 1, 0, M));
	CHECK(region_ranges_overlap(M, 1, M, 1));
	CHECK(region_ranges_overlap(M, M, M, M));
	CHECK(region_ranges_overlap(M - 1, M, M, M));
	CHECK(region_ranges_overlap(M, M, M - 1, 2));
	CHECK(!region_ranges_overlap(M, M, M - 1, 1));
	CHECK(!region_ranges_overlap(M - 1, 1, M, M));
	CHECK(region_ranges_overlap(0, M, 0, M));
	CHECK(region_ranges_overlap(1, M, 0, 2));
	CHECK(!region_ranges_overlap(1, M, 0, 1));
	/* a range running past 2^64 must not wrap round and hit offset 0 */
	CHECK(!region_ranges_overlap(M - 10, 100, 0, 10));
	CHECK(!region_ranges_overlap(0, 10, M - 10, 100));
	CHECK(region_ranges_overlap(M - 10, 100, M - 20, 11));
}

int main(void)
{
	test_nbd();
	test_command_join();
	test_suffix_forms();
	test_no_suffix();
	test_colons();
	test_bad_suffix();
	test_errors();
	test_overlap();
	return unit_summary();
}
