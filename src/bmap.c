// SPDX-License-Identifier: GPL-2.0
/*
 * bmap.c - see bmap.h. A small strict reader of the one XML shape bmap
 * files have (bmaptool's BmapCreate.py writes it, BmapCopy.py reads it):
 *
 *   <bmap version="2.0">
 *     <ImageSize> N </ImageSize> <BlockSize> N </BlockSize>
 *     <BlocksCount> N </BlocksCount> <MappedBlocksCount> N </MappedBlocksCount>
 *     <ChecksumType> sha256 </ChecksumType>        (2.0; 1.x: SHA-1)
 *     <BmapFileChecksum> HEX </BmapFileChecksum>   (1.3, 1.4: BmapFileSHA1)
 *     <BlockMap> <Range chksum="HEX"> A-B </Range> <Range ...> C </Range> </BlockMap>
 *   </bmap>
 *
 * The file's own checksum is of the file with that checksum's text
 * replaced by as many '0's, as BmapCopy.py computes it. No XML library:
 * the shape is fixed, and a parser this size is easy to fuzz whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmap.h"

/* A bmap larger than this is not one bmaptool wrote. */
#define BMAP_MAX_FILE (256u << 20)

struct bmap {
	char version[16];
	unsigned major;
	uint64_t image_size;
	unsigned block_size;
	uint64_t blocks_count, mapped_count;
	enum digest_alg alg;
	struct bmap_range *ranges;
	size_t nr, cap;
};

struct parser {
	const char *text, *p, *end;
	struct bmap *b;
	char *err;
	size_t errlen;
	/* What the file said, before it is checked. */
	bool have_size, have_block, have_blocks, have_mapped;
	const char *file_sum;		/* the file checksum's text in @text */
	size_t file_sum_len;
	enum digest_alg file_sum_alg;
	bool have_type;
};

static unsigned line_of(const struct parser *ps)
{
	unsigned line = 1;
	const char *q;

	for (q = ps->text; q < ps->p && q < ps->end; q++)
		line += *q == '\n';
	return line;
}

static int fail(struct parser *ps, int r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(ps->err, ps->errlen, "line %u: ", line_of(ps));

	if (n >= 0 && (size_t)n < ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool at(const struct parser *ps, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, s, n);
}

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end && strchr(" \t\r\n", *ps->p) && *ps->p)
		ps->p++;
}

/* Past @close from here; false when it never comes. */
static bool skip_past(struct parser *ps, const char *close)
{
	const char *q = memmem(ps->p, (size_t)(ps->end - ps->p), close, strlen(close));

	if (!q)
		return false;
	ps->p = q + strlen(close);
	return true;
}

/* Blanks, comments and <?...?> between elements. */
static int skip_misc(struct parser *ps)
{
	for (;;) {
		skip_space(ps);
		if (at(ps, "<!--")) {
			if (!skip_past(ps, "-->"))
				return fail(ps, -EINVAL, "a comment is not closed");
		} else if (at(ps, "<?")) {
			if (!skip_past(ps, "?>"))
				return fail(ps, -EINVAL, "'<?' is not closed");
		} else {
			return 0;
		}
	}
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ':';
}

struct tag {
	const char *name;
	size_t name_len;
	bool closing, empty;
	/* The one attribute bmaps use per element (version, chksum, sha1). */
	char attr[24];
	const char *value;
	size_t value_len;
};

static int read_attrs(struct parser *ps, struct tag *t)
{
	const char *n;
	char quote;

	for (;;) {
		skip_space(ps);
		if (at(ps, "/>")) {
			t->empty = true;
			ps->p += 2;
			return 0;
		}
		if (at(ps, ">")) {
			ps->p++;
			return 0;
		}
		n = ps->p;
		while (ps->p < ps->end && name_char(*ps->p))
			ps->p++;
		if (ps->p == n)
			return fail(ps, -EINVAL, "malformed tag");
		if (t->value || (size_t)(ps->p - n) >= sizeof(t->attr))
			return fail(ps, -EINVAL, "unexpected attribute '%.*s'",
				    (int)(ps->p - n), n);
		memcpy(t->attr, n, (size_t)(ps->p - n));
		t->attr[ps->p - n] = '\0';
		skip_space(ps);
		if (!at(ps, "="))
			return fail(ps, -EINVAL, "attribute '%s' without a value", t->attr);
		ps->p++;
		skip_space(ps);
		if (!at(ps, "\"") && !at(ps, "'"))
			return fail(ps, -EINVAL, "attribute '%s' is not quoted", t->attr);
		quote = *ps->p++;
		t->value = ps->p;
		while (ps->p < ps->end && *ps->p != quote)
			ps->p++;
		if (ps->p >= ps->end)
			return fail(ps, -EINVAL, "attribute '%s' is not closed", t->attr);
		t->value_len = (size_t)(ps->p - t->value);
		ps->p++;
	}
}

static int read_tag(struct parser *ps, struct tag *t)
{
	int r = skip_misc(ps);

	if (r < 0)
		return r;
	memset(t, 0, sizeof(*t));
	if (!at(ps, "<"))
		return fail(ps, -EINVAL, ps->p < ps->end ? "text where a tag must be" :
			    "the file ends early (no </bmap>?)");
	ps->p++;
	if (at(ps, "/")) {
		t->closing = true;
		ps->p++;
	}
	t->name = ps->p;
	while (ps->p < ps->end && name_char(*ps->p))
		ps->p++;
	t->name_len = (size_t)(ps->p - t->name);
	if (!t->name_len)
		return fail(ps, -EINVAL, "malformed tag");
	if (t->closing) {
		skip_space(ps);
		if (!at(ps, ">"))
			return fail(ps, -EINVAL, "malformed closing tag");
		ps->p++;
		return 0;
	}
	return read_attrs(ps, t);
}

static bool tag_is(const struct tag *t, const char *name)
{
	return t->name_len == strlen(name) && !memcmp(t->name, name, t->name_len);
}

/* The text of a leaf element up to its </name>, blanks trimmed. */
static int read_text(struct parser *ps, const struct tag *t, const char **text,
		     size_t *len)
{
	const char *s = ps->p, *e;
	struct tag close;
	int r;

	while (ps->p < ps->end && *ps->p != '<')
		ps->p++;
	e = ps->p;
	r = read_tag(ps, &close);
	if (r < 0)
		return r;
	if (!close.closing || close.name_len != t->name_len ||
	    memcmp(close.name, t->name, t->name_len))
		return fail(ps, -EINVAL, "<%.*s> is not closed", (int)t->name_len, t->name);
	while (s < e && strchr(" \t\r\n", *s))
		s++;
	while (e > s && strchr(" \t\r\n", e[-1]))
		e--;
	*text = s;
	*len = (size_t)(e - s);
	return 0;
}

static int parse_u64(struct parser *ps, const char *what, const char *s, size_t len,
		     uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 20)
		return fail(ps, -EINVAL, "%s: not a number: '%.*s'", what, (int)len, s);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return fail(ps, -EINVAL, "%s: not a number: '%.*s'", what,
				    (int)len, s);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int parse_hex(struct parser *ps, const char *s, size_t len, unsigned size,
		     unsigned char *out)
{
	size_t i;
	int hi, lo;

	if (len != 2u * size)
		return fail(ps, -EINVAL, "a checksum of %zu hex digits where %u are due",
			    len, 2 * size);
	for (i = 0; i < size; i++) {
		hi = s[2 * i] >= 'a' ? s[2 * i] - 'a' + 10 : s[2 * i] >= 'A' ?
		     s[2 * i] - 'A' + 10 : s[2 * i] - '0';
		lo = s[2 * i + 1] >= 'a' ? s[2 * i + 1] - 'a' + 10 : s[2 * i + 1] >= 'A' ?
		     s[2 * i + 1] - 'A' + 10 : s[2 * i + 1] - '0';
		if (!strchr("0123456789abcdefABCDEF", s[2 * i]) || !s[2 * i] ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]) || !s[2 * i + 1])
			return fail(ps, -EINVAL, "a checksum that is not hex: '%.*s'",
				    (int)len, s);
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int add_range(struct parser *ps, const struct tag *t, const char *s, size_t len)
{
	struct bmap *b = ps->b;
	struct bmap_range *rg;
	const char *dash = memchr(s, '-', len);
	size_t cap;
	int r;

	if (b->nr == b->cap) {
		cap = b->cap ? b->cap * 2 : 64;
		rg = realloc(b->ranges, cap * sizeof(*rg));
		if (!rg)
			return -ENOMEM;
		b->ranges = rg;
		b->cap = cap;
	}
	rg = &b->ranges[b->nr];
	memset(rg, 0, sizeof(*rg));
	if (dash) {
		r = parse_u64(ps, "Range", s, (size_t)(dash - s), &rg->first);
		if (r == 0)
			r = parse_u64(ps, "Range", dash + 1, len - (size_t)(dash - s) - 1,
				      &rg->last);
	} else {
		r = parse_u64(ps, "Range", s, len, &rg->first);
		rg->last = rg->first;
	}
	if (r < 0)
		return r;
	if (rg->last < rg->first)
		return fail(ps, -EINVAL, "range %" PRIu64 "-%" PRIu64 " goes backwards",
			    rg->first, rg->last);
	if (b->nr && rg->first <= b->ranges[b->nr - 1].last)
		return fail(ps, -EINVAL, "range %" PRIu64 "-%" PRIu64 " is not after the "
			    "one before it", rg->first, rg->last);
	if (t->value) {
		if (strcmp(t->attr, "chksum") && strcmp(t->attr, "sha1"))
			return fail(ps, -EINVAL, "unexpected attribute '%s'", t->attr);
		r = parse_hex(ps, t->value, t->value_len, digest_alg_size(b->alg),
			      rg->checksum);
		if (r < 0)
			return r;
		rg->has_checksum = true;
	}
	b->nr++;
	return 0;
}

static int parse_block_map(struct parser *ps)
{
	const char *text = NULL;
	struct tag t;
	size_t len = 0;
	int r;

	for (;;) {
		r = read_tag(ps, &t);
		if (r < 0)
			return r;
		if (t.closing && tag_is(&t, "BlockMap"))
			return 0;
		if (t.closing || !tag_is(&t, "Range") || t.empty)
			return fail(ps, -EINVAL, "<%.*s> where a <Range> must be",
				    (int)t.name_len, t.name);
		r = read_text(ps, &t, &text, &len);
		if (r == 0)
			r = add_range(ps, &t, text, len);
		if (r < 0)
			return r;
	}
}

static int checksum_type(struct parser *ps, const char *s, size_t len)
{
	if (len == 6 && !memcmp(s, "sha256", 6))
		ps->b->alg = DIGEST_SHA256;
	else if (len == 4 && !memcmp(s, "sha1", 4))
		ps->b->alg = DIGEST_SHA1;
	else
		return fail(ps, -EINVAL, "checksum type '%.*s' is not known", (int)len, s);
	ps->have_type = true;
	return 0;
}

/* One element inside <bmap>. */
static int parse_field(struct parser *ps, const struct tag *t)
{
	struct bmap *b = ps->b;
	const char *s = NULL;
	uint64_t v = 0;
	size_t len = 0;
	int r;

	if (tag_is(t, "BlockMap")) {
		if (!ps->have_type && b->major >= 2)
			return fail(ps, -EINVAL, "<ChecksumType> must come before <BlockMap>");
		return t->empty ? 0 : parse_block_map(ps);
	}
	if (t->empty)
		return 0;
	r = read_text(ps, t, &s, &len);
	if (r < 0)
		return r;
	if (tag_is(t, "ImageSize") || tag_is(t, "BlockSize") ||
	    tag_is(t, "BlocksCount") || tag_is(t, "MappedBlocksCount")) {
		r = parse_u64(ps, "number", s, len, &v);
		if (r < 0)
			return r;
		if (tag_is(t, "ImageSize"))
			b->image_size = v, ps->have_size = true;
		else if (tag_is(t, "BlockSize"))
			ps->have_block = v <= (1u << 30), b->block_size = (unsigned)v;
		else if (tag_is(t, "BlocksCount"))
			b->blocks_count = v, ps->have_blocks = true;
		else
			b->mapped_count = v, ps->have_mapped = true;
		return 0;
	}
	if (tag_is(t, "ChecksumType"))
		return checksum_type(ps, s, len);
	if (tag_is(t, "BmapFileChecksum") || tag_is(t, "BmapFileSHA1")) {
		ps->file_sum = s;
		ps->file_sum_len = len;
		ps->file_sum_alg = tag_is(t, "BmapFileSHA1") ? DIGEST_SHA1 : b->alg;
		return 0;
	}
	return 0;	/* an element of a later minor version: not ours */
}

static int parse_root(struct parser *ps)
{
	struct bmap *b = ps->b;
	struct tag t;
	char *dot;
	int r;

	r = read_tag(ps, &t);
	if (r < 0)
		return r;
	if (t.closing || !tag_is(&t, "bmap") || t.empty)
		return fail(ps, -EINVAL, "not a bmap file (no <bmap> element)");
	if (!t.value || strcmp(t.attr, "version") || !t.value_len ||
	    t.value_len >= sizeof(b->version))
		return fail(ps, -EINVAL, "<bmap> has no version");
	memcpy(b->version, t.value, t.value_len);
	b->major = (unsigned)strtoul(b->version, &dot, 10);
	if (dot == b->version || (*dot && *dot != '.') || (b->major != 1 && b->major != 2))
		return fail(ps, -EINVAL, "version %s is not supported (1.x and 2.x are)",
			    b->version);
	b->alg = b->major >= 2 ? DIGEST_SHA256 : DIGEST_SHA1;
	for (;;) {
		r = read_tag(ps, &t);
		if (r < 0)
			return r;
		if (t.closing && tag_is(&t, "bmap"))
			break;
		if (t.closing)
			return fail(ps, -EINVAL, "unexpected </%.*s>", (int)t.name_len, t.name);
		r = parse_field(ps, &t);
		if (r < 0)
			return r;
	}
	r = skip_misc(ps);
	if (r == 0 && ps->p < ps->end)
		return fail(ps, -EINVAL, "text after </bmap>");
	return r;
}

static int fail_plain(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* What the numbers say of each other, and of the ranges. */
static int check_consistent(struct parser *ps)
{
	struct bmap *b = ps->b;
	uint64_t mapped = 0, blocks;
	size_t i;

	if (!ps->have_size || !ps->have_block || !ps->have_blocks || !ps->have_mapped)
		return fail_plain(ps, "an element is missing (ImageSize, BlockSize, "
				  "BlocksCount and MappedBlocksCount are needed)");
	if (b->block_size < 512 || (b->block_size & (b->block_size - 1)))
		return fail_plain(ps, "block size %u is not a power of two of 512 or "
				  "more", b->block_size);
	blocks = b->image_size / b->block_size + !!(b->image_size % b->block_size);
	if (b->blocks_count != blocks)
		return fail_plain(ps, "BlocksCount %" PRIu64 " does not fit ImageSize %"
				  PRIu64 " (%" PRIu64 " blocks of %u)", b->blocks_count,
				  b->image_size, blocks, b->block_size);
	for (i = 0; i < b->nr; i++) {
		if (b->ranges[i].last >= blocks)
			return fail_plain(ps, "range %" PRIu64 "-%" PRIu64 " is beyond the "
					  "image's %" PRIu64 " blocks", b->ranges[i].first,
					  b->ranges[i].last, blocks);
		mapped += b->ranges[i].last - b->ranges[i].first + 1;
	}
	if (mapped != b->mapped_count)
		return fail_plain(ps, "MappedBlocksCount %" PRIu64 " but the ranges map %"
				  PRIu64 " blocks", b->mapped_count, mapped);
	return 0;
}

/* The file's checksum, of the file with its text as '0's. */
static int check_file_sum(struct parser *ps, size_t len)
{
	unsigned char want[DIGEST_MAX_SIZE], got[DIGEST_MAX_SIZE];
	unsigned size = digest_alg_size(ps->file_sum_alg);
	size_t at_sum = (size_t)(ps->file_sum - ps->text), i;
	struct digest *d;
	int r;

	if (!ps->file_sum)
		return 0;	/* before 1.3, bmaps had none */
	ps->p = ps->file_sum;
	r = parse_hex(ps, ps->file_sum, ps->file_sum_len, size, want);
	if (r < 0)
		return r;
	r = digest_create(ps->file_sum_alg, &d);
	if (r < 0)
		return r;
	digest_update(d, ps->text, at_sum);
	for (i = 0; i < ps->file_sum_len; i++)
		digest_update(d, "0", 1);
	digest_update(d, ps->file_sum + ps->file_sum_len,
		      len - at_sum - ps->file_sum_len);
	digest_final(d, got);
	digest_destroy(d);
	if (memcmp(want, got, size)) {
		snprintf(ps->err, ps->errlen, "the bmap's checksum does not match its "
			 "contents (corrupted, or edited?)");
		return -EBADMSG;
	}
	return 0;
}

int bmap_parse(const char *text, size_t len, struct bmap **out, char *err,
	       size_t errlen)
{
	struct parser ps = { .text = text, .p = text, .end = text + len,
			     .err = err, .errlen = errlen };
	int r;

	if (errlen)
		err[0] = '\0';
	if (memchr(text, '\0', len))
		return fail(&ps, -EINVAL, "not a bmap file (binary data)");
	ps.b = calloc(1, sizeof(*ps.b));
	if (!ps.b)
		return -ENOMEM;
	r = parse_root(&ps);
	if (r == 0)
		r = check_consistent(&ps);
	if (r == 0)
		r = check_file_sum(&ps, len);
	if (r < 0) {
		bmap_free(ps.b);
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		return r;
	}
	*out = ps.b;
	return 0;
}

int bmap_load(const char *path, struct bmap **out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0, n;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return r;
	}
	text = malloc(BMAP_MAX_FILE);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	while ((n = fread(text + len, 1, BMAP_MAX_FILE - len, f)) > 0)
		len += n;
	r = ferror(f) ? -EIO : 0;
	if (r == 0 && len == BMAP_MAX_FILE) {
		snprintf(err, errlen, "too large for a bmap file");
		r = -EFBIG;
	} else if (r < 0) {
		snprintf(err, errlen, "%s", strerror(EIO));
	}
	fclose(f);
	if (r == 0)
		r = bmap_parse(text, len, out, err, errlen);
	free(text);
	return r;
}

void bmap_free(struct bmap *b)
{
	if (!b)
		return;
	free(b->ranges);
	free(b);
}

uint64_t bmap_image_size(const struct bmap *b)
{
	return b->image_size;
}

unsigned bmap_block_size(const struct bmap *b)
{
	return b->block_size;
}

const char *bmap_version(const struct bmap *b)
{
	return b->version;
}

enum digest_alg bmap_checksum_alg(const struct bmap *b)
{
	return b->alg;
}

size_t bmap_nr_ranges(const struct bmap *b)
{
	return b->nr;
}

const struct bmap_range *bmap_range(const struct bmap *b, size_t i)
{
	return &b->ranges[i];
}

void bmap_range_bytes(const struct bmap *b, size_t i, uint64_t *start, uint64_t *end)
{
	uint64_t e = (b->ranges[i].last + 1) * b->block_size;

	*start = b->ranges[i].first * b->block_size;
	*end = e < b->image_size ? e : b->image_size;
}

uint64_t bmap_mapped_bytes(const struct bmap *b)
{
	uint64_t total = 0, s, e;
	size_t i;

	for (i = 0; i < b->nr; i++) {
		bmap_range_bytes(b, i, &s, &e);
		total += e - s;
	}
	return total;
}

/* The first range that ends after @offset. */
static size_t first_after(const struct bmap *b, uint64_t offset)
{
	size_t lo = 0, hi = b->nr, mid;
	uint64_t s, e;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		bmap_range_bytes(b, mid, &s, &e);
		if (e <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bmap_next_data(const struct bmap *b, uint64_t offset, uint64_t *data,
		   uint64_t *hole)
{
	size_t i = first_after(b, offset);
	uint64_t s, e;

	if (i == b->nr)
		return -ENXIO;
	bmap_range_bytes(b, i, &s, &e);
	*data = s > offset ? s : offset;
	*hole = e;
	return 0;
}

ssize_t bmap_find(const struct bmap *b, uint64_t offset)
{
	size_t i = first_after(b, offset);
	uint64_t s, e;

	if (i == b->nr)
		return -1;
	bmap_range_bytes(b, i, &s, &e);
	return s <= offset ? (ssize_t)i : -1;
}

/*-----------------------------------------------------------------
 * Checking the ranges as the data passes.
 *---------------------------------------------------------------*/
struct bmap_check {
	const struct bmap *b;
	size_t i;		/* the range being fed */
	uint64_t pos;		/* fed up to here in it */
	bool broken;		/* part of it did not come: no verdict */
	struct digest *d;
	size_t verified;
};

int bmap_check_create(const struct bmap *b, struct bmap_check **out)
{
	struct bmap_check *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->b = b;
	c->i = SIZE_MAX;
	*out = c;
	return 0;
}

void bmap_check_free(struct bmap_check *c)
{
	if (!c)
		return;
	digest_destroy(c->d);
	free(c);
}

size_t bmap_check_verified(const struct bmap_check *c)
{
	return c->verified;
}

/* Start on range @i: its digest from nothing. */
static int start_range(struct bmap_check *c, size_t i)
{
	uint64_t e;

	digest_destroy(c->d);
	c->d = NULL;
	c->i = i;
	c->broken = false;
	bmap_range_bytes(c->b, i, &c->pos, &e);
	if (!c->b->ranges[i].has_checksum)
		return 0;
	return digest_create(c->b->alg, &c->d);
}

/* Range c->i is all fed: its verdict. */
static int end_range(struct bmap_check *c, uint64_t *bad_start, uint64_t *bad_end)
{
	unsigned char got[DIGEST_MAX_SIZE];
	const struct bmap_range *rg = &c->b->ranges[c->i];

	if (!c->d || c->broken)
		return 0;
	digest_final(c->d, got);
	if (!memcmp(got, rg->checksum, digest_alg_size(c->b->alg))) {
		c->verified++;
		return 0;
	}
	bmap_range_bytes(c->b, c->i, bad_start, bad_end);
	return -EBADMSG;
}

int bmap_check_feed(struct bmap_check *c, uint64_t offset, const void *buf,
		    uint64_t len, uint64_t *bad_start, uint64_t *bad_end)
{
	const unsigned char *p = buf;
	uint64_t end = offset + len, s, e, n;
	size_t i;
	int r, bad = 0;

	while (offset < end) {
		i = first_after(c->b, offset);
		if (i == c->b->nr)
			break;
		bmap_range_bytes(c->b, i, &s, &e);
		if (s >= end)
			break;
		if (s > offset) {	/* not mapped: not ours */
			if (p)
				p += s - offset;
			offset = s;
		}
		if (i != c->i) {
			r = start_range(c, i);
			if (r < 0)
				return r;
		}
		if (offset != c->pos)
			c->broken = true;	/* a part of it was jumped over */
		n = (e < end ? e : end) - offset;
		if (c->d && !c->broken) {
			if (p)
				digest_update(c->d, p, n);
			else
				digest_update_zeros(c->d, n);
		}
		if (p)
			p += n;
		offset += n;
		c->pos = offset;
		if (offset == e && !bad && end_range(c, bad_start, bad_end) < 0)
			bad = -EBADMSG;
	}
	return bad;
}

void bmap_check_lost(struct bmap_check *c, uint64_t offset, uint64_t len)
{
	uint64_t s, e;

	if (c->i == SIZE_MAX || c->i >= c->b->nr)
		return;
	bmap_range_bytes(c->b, c->i, &s, &e);
	if (offset < e && offset + len > s)
		c->broken = true;
}
