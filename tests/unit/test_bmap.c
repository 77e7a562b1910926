// SPDX-License-Identifier: GPL-2.0
/*
 * test_bmap.c - bmap.c: a bmap's numbers and ranges, what it refuses, the
 * range checker, and digest.c's known answers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bmap.h"
#include "digest.h"
#include "unit.h"

/* SHA-256 of 4096 zero bytes. */
#define ZERO_BLOCK_SHA256 "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7"

/* A 2.0 bmap without its own checksum: 3 blocks and 100 bytes, two ranges. */
static const char good[] =
	"<?xml version=\"1.0\" ?>\n<!-- made by hand -->\n<bmap version=\"2.0\">\n"
	"  <ImageSize> 12388 </ImageSize>\n  <BlockSize> 4096 </BlockSize>\n"
	"  <BlocksCount> 4 </BlocksCount>\n  <MappedBlocksCount> 2 </MappedBlocksCount>\n"
	"  <ChecksumType> sha256 </ChecksumType>\n  <BlockMap>\n"
	"    <Range chksum=\"" ZERO_BLOCK_SHA256 "\"> 0 </Range>\n"
	"    <Range> 2 </Range>\n  </BlockMap>\n</bmap>\n";

static int parse(const char *text, struct bmap **b, char *err)
{
	return bmap_parse(text, strlen(text), b, err, 256);
}

static void test_good(void)
{
	uint64_t s, e, data, hole, bad_s = 0, bad_e = 0;
	char err[256], block[4096];
	struct bmap_check *c;
	struct bmap *b;

	CHECK_EQ_INT(parse(good, &b, err), 0);
	CHECK_EQ_U64(bmap_image_size(b), 12388);
	CHECK_EQ_INT(bmap_block_size(b), 4096);
	CHECK_EQ_INT(bmap_nr_ranges(b), 2);
	bmap_range_bytes(b, 1, &s, &e);
	CHECK_EQ_U64(s, 8192);
	CHECK_EQ_U64(e, 12288);
	CHECK_EQ_INT(bmap_next_data(b, 100, &data, &hole), 0);
	CHECK_EQ_U64(data, 100);
	CHECK_EQ_U64(hole, 4096);
	CHECK_EQ_INT(bmap_next_data(b, 4096, &data, &hole), 0);
	CHECK_EQ_U64(data, 8192);
	CHECK_EQ_INT(bmap_next_data(b, 12288, &data, &hole), -ENXIO);
	CHECK_EQ_INT(bmap_find(b, 5000), -1);
	CHECK_EQ_INT(bmap_find(b, 9000), 1);

	/* Zeros match range 0's checksum, fed in two pieces. */
	CHECK_EQ_INT(bmap_check_create(b, &c), 0);
	CHECK_EQ_INT(bmap_check_feed(c, 0, NULL, 1000, &bad_s, &bad_e), 0);
	CHECK_EQ_INT(bmap_check_feed(c, 1000, NULL, 3096, &bad_s, &bad_e), 0);
	CHECK_EQ_INT(bmap_check_verified(c), 1);
	bmap_check_free(c);

	/* One byte changed: that range, by its bytes. */
	memset(block, 0, sizeof(block));
	block[77] = 1;
	CHECK_EQ_INT(bmap_check_create(b, &c), 0);
	CHECK_EQ_INT(bmap_check_feed(c, 0, block, sizeof(block), &bad_s, &bad_e), -EBADMSG);
	CHECK_EQ_U64(bad_s, 0);
	CHECK_EQ_U64(bad_e, 4096);
	bmap_check_free(c);

	/* A jump over part of a range: no verdict, not a mismatch. */
	CHECK_EQ_INT(bmap_check_create(b, &c), 0);
	CHECK_EQ_INT(bmap_check_feed(c, 512, block, 512, &bad_s, &bad_e), 0);
	CHECK_EQ_INT(bmap_check_feed(c, 1024, NULL, 3072, &bad_s, &bad_e), 0);
	CHECK_EQ_INT(bmap_check_verified(c), 0);
	bmap_check_free(c);
	bmap_free(b);
}

/* @from replaced by @to in the good bmap must be refused with @r. */
static void refused(const char *from, const char *to, int want)
{
	char text[2048], err[256] = "";
	const char *at = strstr(good, from);
	struct bmap *b = NULL;

	CHECK(at != NULL);
	if (!at)
		return;
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, to,
		 at + strlen(from));
	CHECK_EQ_INT(parse(text, &b, err), want);
	CHECK(err[0] != '\0');
}

static void test_refusals(void)
{
	refused("version=\"2.0\"", "version=\"3.0\"", -EINVAL);
	refused("<BlocksCount> 4 ", "<BlocksCount> 5 ", -EINVAL);
	refused("<MappedBlocksCount> 2 ", "<MappedBlocksCount> 3 ", -EINVAL);
	refused("<BlockSize> 4096 ", "<BlockSize> 4000 ", -EINVAL);
	refused("<Range> 2 </Range>", "<Range> 0 </Range>", -EINVAL);
	refused("<Range> 2 </Range>", "<Range> 4 </Range>", -EINVAL);
	refused("<Range> 2 </Range>", "<Range> 2-1 </Range>", -EINVAL);
	refused("<Range> 2 </Range>", "<Range> 2x </Range>", -EINVAL);
	refused("</bmap>", "</bmap> junk", -EINVAL);
	refused("</bmap>", "", -EINVAL);
	refused(ZERO_BLOCK_SHA256, "ad7f", -EINVAL);
	refused("sha256 </Checksum", "md5 </Checksum", -EINVAL);
	/* A file checksum that is not the file's. */
	refused("<BlockMap>", "<BmapFileChecksum> " ZERO_BLOCK_SHA256
		" </BmapFileChecksum><BlockMap>", -EBADMSG);
}

static void test_digests(void)
{
	static const struct { enum digest_alg alg; const char *hex; } known[] = {
		{ DIGEST_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ DIGEST_SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ DIGEST_XXH128, "06b05ab6733a618578af5f94892f3950" },
	};
	char hex[DIGEST_HEX_MAX];
	struct digest *d;
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		CHECK_EQ_INT(digest_create(known[i].alg, &d), 0);
		digest_update(d, "a", 1);
		digest_update(d, "bc", 2);
		digest_final_hex(d, hex);
		CHECK_STR(hex, known[i].hex);
		digest_destroy(d);
	}
	CHECK_EQ_INT(digest_create(DIGEST_SHA256, &d), 0);
	digest_update_zeros(d, 4096);
	digest_final_hex(d, hex);
	CHECK_STR(hex, ZERO_BLOCK_SHA256);
	digest_destroy(d);
}

int main(void)
{
	test_good();
	test_refusals();
	test_digests();
	return unit_summary();
}
