// SPDX-License-Identifier: GPL-2.0
/*
 * test_stream.c - the decoded byte stream: detection, every format, members
 * and frames in a row, trailing data, truncated and corrupt input, a
 * non-blocking pipe that runs dry, skip and the counters.
 *
 * The compressed data is made here with the libraries' own encoders (zlib,
 * liblzma, libzstd, libbz2): no fixtures, and any size.
 */
#define _GNU_SOURCE
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "stream.h"
#include "unit.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static const enum stream_format formats[] = {
	STREAM_GZIP, STREAM_XZ, STREAM_ZSTD, STREAM_BZIP2,
};
#define NR_FORMATS (sizeof(formats) / sizeof(formats[0]))

struct blob {
	unsigned char *p;
	size_t n, cap;
};

static void die(const char *what)
{
	fprintf(stderr, "test_stream: %s failed\n", what);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("malloc");
	return p;
}

/* room for @n more bytes at b->p + b->n */
static unsigned char *reserve(struct blob *b, size_t n)
{
	if (b->n + n > b->cap || !b->p) {
		b->cap = (b->n + n) * 2 + 16;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			die("realloc");
	}
	return b->p + b->n;
}

static void append(struct blob *b, const void *p, size_t n)
{
	memcpy(reserve(b, n), p, n);
	b->n += n;
}

static void append_fill(struct blob *b, int c, size_t n)
{
	memset(reserve(b, n), c, n);
	b->n += n;
}

static void blob_free(struct blob *b)
{
	free(b->p);
	*b = (struct blob) { 0 };
}

/* Data like a disk image: a tenth random, the rest runs and text. */
static unsigned char *make_data(size_t len, unsigned seed)
{
	unsigned char *p = xmalloc(len);
	uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if ((i >> 12) % 10 == 3)
			p[i] = (unsigned char)x;
		else if ((i >> 12) % 10 < 6)
			p[i] = 0;
		else
			p[i] = "kcopy stream "[i % 13];
	}
	return p;
}

static void enc_gzip(struct blob *b, const void *in, size_t len, bool header)
{
	z_stream z = { 0 };
	gz_header h = { 0 };
	size_t bound;

	if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2");
	if (header) {
		/* what gzip(1) writes, and more: a name, an extra field, a CRC */
		h.name = (Bytef *)"disk.img";
		h.extra = (Bytef *)"KC\4\0abcd";
		h.extra_len = 8;
		h.hcrc = 1;
		deflateSetHeader(&z, &h);
	}
	bound = deflateBound(&z, len) + 64;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = reserve(b, bound);
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		die("deflate");
	b->n += bound - z.avail_out;
	deflateEnd(&z);
}

static void enc_xz(struct blob *b, const void *in, size_t len)
{
	size_t bound = lzma_stream_buffer_bound(len), pos = 0;

	if (lzma_easy_buffer_encode(3, LZMA_CHECK_CRC64, NULL, in, len,
				    reserve(b, bound), &pos, bound) != LZMA_OK)
		die("lzma_easy_buffer_encode");
	b->n += pos;
}

static void enc_zstd(struct blob *b, const void *in, size_t len)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(len), r;

	if (!c)
		die("ZSTD_createCCtx");
	/* a checksum, as zstd(1) writes: corruption of literals shows */
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	r = ZSTD_compress2(c, reserve(b, bound), bound, in, len);
	if (ZSTD_isError(r))
		die("ZSTD_compress2");
	b->n += r;
	ZSTD_freeCCtx(c);
}

/* 100 kB blocks: a stream of several, and output before its end */
static void enc_bzip2(struct blob *b, const void *in, size_t len)
{
	unsigned bound = (unsigned)(len + len / 100 + 600);

	if (BZ2_bzBuffToBuffCompress((char *)reserve(b, bound), &bound, (char *)in,
				     (unsigned)len, 1, 0, 0) != BZ_OK)
		die("BZ2_bzBuffToBuffCompress");
	b->n += bound;
}

static void encode(struct blob *b, enum stream_format f, const void *in, size_t len)
{
	switch (f) {
	case STREAM_GZIP:
		enc_gzip(b, in, len, false);
		break;
	case STREAM_XZ:
		enc_xz(b, in, len);
		break;
	case STREAM_ZSTD:
		enc_zstd(b, in, len);
		break;
	case STREAM_BZIP2:
		enc_bzip2(b, in, len);
		break;
	default:
		append(b, in, len);
		break;
	}
}

static void zstd_skippable(struct blob *b, unsigned nibble, size_t len)
{
	unsigned char h[8] = { 0x50 | (nibble & 0xf), 0x2a, 0x4d, 0x18,
			       (unsigned char)len, (unsigned char)(len >> 8),
			       (unsigned char)(len >> 16), (unsigned char)(len >> 24) };

	append(b, h, sizeof(h));
	append_fill(b, 0xa5, len);
}

/* a regular file holding @p[0..n), at its start */
static int memfd(const void *p, size_t n)
{
	int fd = memfd_create("test_stream", 0);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || lseek(fd, 0, SEEK_SET))
		die("memfd");
	return fd;
}

static struct stream *open_blob(const struct blob *b, bool detect)
{
	struct stream *s = NULL;
	int fd = memfd(b->p, b->n);

	if (stream_open(fd, detect, &s))
		die("stream_open");
	return s;
}

/* Wait until the stream's fd has input (or EOF, or an error). */
static void wait_input(const struct stream *s)
{
	struct pollfd p = { .fd = stream_poll_fd(s), .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		die("poll");
}

/*
 * Read everything, @chunk bytes a call, into @out; waits on -EAGAIN.
 * Returns what ended it: 0 (the end) or the error.
 */
static ssize_t read_all(struct stream *s, size_t chunk, struct blob *out)
{
	ssize_t r;

	for (;;) {
		r = stream_read(s, reserve(out, chunk), chunk);
		if (r == -EAGAIN) {
			wait_input(s);
			continue;
		}
		if (r <= 0)
			return r;
		if ((size_t)r > chunk)
			die("stream_read: more than asked");
		out->n += (size_t)r;
	}
}

static bool same(const struct blob *b, const void *p, size_t n)
{
	return b->n == n && !memcmp(b->p, p, n);
}

static bool contains(const char *s, const char *what)
{
	return s && strstr(s, what);
}

static void test_names(void)
{
	CHECK_STR(stream_format_name(STREAM_RAW), "raw");
	CHECK_STR(stream_format_name(STREAM_GZIP), "gzip");
	CHECK_STR(stream_format_name(STREAM_XZ), "xz");
	CHECK_STR(stream_format_name(STREAM_ZSTD), "zstd");
	CHECK_STR(stream_format_name(STREAM_BZIP2), "bzip2");
	stream_close(NULL);
}

/* Each format, read in odd-sized pieces and one byte at a time. */
static void test_formats(void)
{
	size_t len = MiB + 3, small = 20 * KiB + 1;
	unsigned char *data = make_data(len, 1);
	struct blob b = { 0 }, out = { 0 };
	struct stream *s;
	size_t i;

	for (i = 0; i < NR_FORMATS; i++) {
		encode(&b, formats[i], data, len);
		s = open_blob(&b, true);
		CHECK_EQ_INT(stream_format(s), formats[i]);
		CHECK_STR(stream_error(s), "");
		CHECK_EQ_INT(read_all(s, 64 * KiB + 7, &out), 0);
		CHECK(same(&out, data, len));
		CHECK_EQ_U64(stream_position(s), len);
		CHECK_EQ_U64(stream_input_bytes(s), b.n);
		/* the end stays the end */
		CHECK_EQ_INT(stream_read(s, out.p, 1), 0);
		CHECK_EQ_INT(stream_skip(s, 1), 0);
		stream_close(s);
		blob_free(&b);
		blob_free(&out);

		/* the output buffer full at every byte */
		encode(&b, formats[i], data, small);
		s = open_blob(&b, true);
		CHECK_EQ_INT(read_all(s, 1, &out), 0);
		CHECK(same(&out, data, small));
		stream_close(s);
		blob_free(&b);
		blob_free(&out);
	}
	/* gzip's optional header fields, as gzip(1) and others write them */
	enc_gzip(&b, data, small, true);
	s = open_blob(&b, true);
	CHECK_EQ_INT(stream_format(s), STREAM_GZIP);
	CHECK_EQ_INT(read_all(s, 4096, &out), 0);
	CHECK(same(&out, data, small));
	stream_close(s);
	blob_free(&b);
	blob_free(&out);
	free(data);
}

/* Not compressed: the bytes read to tell come back first. */
static void check_raw(const void *p, size_t n, bool detect)
{
	struct blob b = { 0 }, out = { 0 };
	struct stream *s;

	append(&b, p, n);
	s = open_blob(&b, detect);
	CHECK_EQ_INT(stream_format(s), STREAM_RAW);
	CHECK_EQ_INT(read_all(s, 1000, &out), 0);
	CHECK(same(&out, p, n));
	CHECK_EQ_U64(stream_position(s), n);
	CHECK_EQ_U64(stream_input_bytes(s), n);
	stream_close(s);
	blob_free(&b);
	blob_free(&out);
}

static void test_raw(void)
{
	size_t len = 300 * KiB + 5;	/* more than a read of the detection */
	unsigned char *data = make_data(len, 2);
	struct blob b = { 0 };
	unsigned i;
	static const struct {
		const char *p;
		size_t n;
	} near[] = {
		{ "", 0 },
		{ "\x1f", 1 },
		{ "\x1f\x8b", 2 },			/* gzip, cut short */
		{ "\x1f\x8b\x07xyz", 6 },		/* not deflate */
		{ "\xfd" "7zXZ", 5 },			/* xz, cut short */
		{ "\x28\xb5\x2f", 3 },			/* zstd, cut short */
		{ "BZh9", 4 },
		{ "BZh9 hello", 10 },			/* no block after it */
		{ "BZh0\x31\x41\x59\x26\x53\x59", 10 },	/* no such level */
		/* a skippable frame with no frame after it */
		{ "\x5a\x2a\x4d\x18\x02\x00\x00\x00zz", 10 },
		{ "\x5a\x2a\x4d\x18\x02\x00\x00\x00zzhello", 15 },
	};

	check_raw(data, len, true);
	check_raw(data, len, false);
	for (i = 0; i < sizeof(near) / sizeof(near[0]); i++)
		check_raw(near[i].p, near[i].n, true);
	/* without detection compressed data is raw too */
	encode(&b, STREAM_ZSTD, data, len);
	check_raw(b.p, b.n, false);
	blob_free(&b);
	free(data);
}

/* Members and frames in a row decode as one stream, as the tools' -d does. */
static void check_concat(const struct blob *b, enum stream_format f,
			 const unsigned char *a, size_t na,
			 const unsigned char *c, size_t nc)
{
	struct blob out = { 0 };
	struct stream *s = open_blob(b, true);

	CHECK_EQ_INT(stream_format(s), f);
	CHECK_EQ_INT(read_all(s, 100 * KiB, &out), 0);
	CHECK(out.n == na + nc && !memcmp(out.p, a, na) && !memcmp(out.p + na, c, nc));
	CHECK_EQ_U64(stream_position(s), na + nc);
	CHECK_EQ_U64(stream_input_bytes(s), b->n);
	stream_close(s);
	blob_free(&out);
}

static void test_concat(void)
{
	size_t na = 200 * KiB + 1, nc = 77 * KiB;
	unsigned char *a = make_data(na, 3), *c = make_data(nc, 4);
	struct blob b = { 0 };
	size_t i;

	for (i = 0; i < NR_FORMATS; i++) {
		encode(&b, formats[i], a, na);
		encode(&b, formats[i], c, nc);
		check_concat(&b, formats[i], a, na, c, nc);
		blob_free(&b);
		/* an empty member between */
		encode(&b, formats[i], a, na);
		encode(&b, formats[i], "", 0);
		encode(&b, formats[i], c, nc);
		check_concat(&b, formats[i], a, na, c, nc);
		blob_free(&b);
	}
	/* gzip -d ignores zero bytes at the end */
	encode(&b, STREAM_GZIP, a, na);
	append_fill(&b, 0, 1000);
	check_concat(&b, STREAM_GZIP, a, na, c, 0);
	blob_free(&b);
	/* xz stream padding: zero bytes in fours, between and after */
	encode(&b, STREAM_XZ, a, na);
	append_fill(&b, 0, 8);
	encode(&b, STREAM_XZ, c, nc);
	append_fill(&b, 0, 4);
	check_concat(&b, STREAM_XZ, a, na, c, nc);
	blob_free(&b);
	/* zstd: skippable frames first and between (pzstd's, an index) */
	zstd_skippable(&b, 0, 16);
	zstd_skippable(&b, 0xf, 0);
	encode(&b, STREAM_ZSTD, a, na);
	zstd_skippable(&b, 7, 300 * KiB);	/* longer than the input buffer */
	encode(&b, STREAM_ZSTD, c, nc);
	zstd_skippable(&b, 1, 3);
	check_concat(&b, STREAM_ZSTD, a, na, c, nc);
	blob_free(&b);
	free(a);
	free(c);
}

/*
 * Read to the end: an -EBADMSG whose reason names @why, and it stays. What
 * came before it is @data's start, unless @data is NULL: corruption is
 * often seen only at a checksum, after its bytes were given out.
 */
static void check_bad(const struct blob *b, const char *why,
		      const unsigned char *data, size_t len)
{
	struct blob out = { 0 };
	struct stream *s = open_blob(b, true);
	char buf[16];

	CHECK_EQ_INT(read_all(s, 64 * KiB, &out), -EBADMSG);
	if (!CHECK(contains(stream_error(s), why)))
		fprintf(stderr, "  error: \"%s\", wanted \"%s\"\n", stream_error(s), why);
	CHECK(contains(stream_error(s), stream_format_name(stream_format(s))));
	if (data)
		CHECK(out.n <= len && !memcmp(out.p, data, out.n));
	CHECK_EQ_U64(stream_position(s), out.n);
	CHECK_EQ_INT(stream_read(s, buf, sizeof(buf)), -EBADMSG);
	CHECK_EQ_INT(stream_skip(s, 10), -EBADMSG);
	CHECK_EQ_U64(stream_position(s), out.n);
	stream_close(s);
	blob_free(&out);
}

static void test_trailing(void)
{
	size_t len = 100 * KiB;
	unsigned char *data = make_data(len, 5);
	struct blob b = { 0 };
	size_t i;

	for (i = 0; i < NR_FORMATS; i++) {
		encode(&b, formats[i], data, len);
		append(&b, "garbage!", 8);
		check_bad(&b, "trailing data after the compressed stream", data, len);
		blob_free(&b);
		/*
		 * A magic's first byte alone. libzstd takes it in as the start
		 * of a frame's header: for zstd it is a frame cut short.
		 */
		encode(&b, formats[i], data, len);
		append(&b, formats[i] == STREAM_GZIP ? "\x1f" : formats[i] == STREAM_XZ ?
		       "\xfd" : formats[i] == STREAM_ZSTD ? "\x28" : "B", 1);
		check_bad(&b, formats[i] == STREAM_ZSTD ? "unexpected end of input" :
			  "trailing data", data, len);
		blob_free(&b);
	}
	/* gzip: zeros, then something else */
	encode(&b, STREAM_GZIP, data, len);
	append_fill(&b, 0, 10);
	append(&b, "x", 1);
	check_bad(&b, "trailing data", data, len);
	blob_free(&b);
	/* zstd: zeros are not a frame */
	encode(&b, STREAM_ZSTD, data, len);
	append_fill(&b, 0, 8);
	check_bad(&b, "trailing data", data, len);
	blob_free(&b);
	/* xz: padding not in fours */
	encode(&b, STREAM_XZ, data, len);
	append_fill(&b, 0, 3);
	check_bad(&b, "padding", data, len);
	blob_free(&b);
	free(data);
}

static void test_truncated(void)
{
	size_t len = 300 * KiB, cut;
	unsigned char *data = make_data(2 * len, 6);
	struct blob b = { 0 };
	size_t i, full;
	unsigned k;

	for (i = 0; i < NR_FORMATS; i++) {
		encode(&b, formats[i], data, len);
		full = b.n;
		/* in the middle, in the trailer's last byte, after the magic */
		for (k = 0; k < 3; k++) {
			cut = k == 0 ? full / 2 : k == 1 ? full - 1 : 11;
			b.n = cut;
			check_bad(&b, "unexpected end of input (truncated file?)", data, len);
		}
		blob_free(&b);
		/* the second member cut short */
		encode(&b, formats[i], data, len);
		full = b.n;
		encode(&b, formats[i], data + len, len);
		b.n = full + (b.n - full) / 2;
		check_bad(&b, "unexpected end of input", data, 2 * len);
		blob_free(&b);
	}
	free(data);
}

static void test_corrupt(void)
{
	size_t len = 300 * KiB;
	unsigned char *data = make_data(len, 7);
	struct blob b = { 0 };
	size_t i;

	for (i = 0; i < NR_FORMATS; i++) {
		encode(&b, formats[i], data, len);
		b.p[b.n / 2] ^= 0x55;
		check_bad(&b, "compressed data is corrupt", NULL, len);
		blob_free(&b);
	}
	free(data);
}

/* A pipe with part of the input: data, then -EAGAIN, then the rest. */
static void check_pipe(enum stream_format f)
{
	size_t len = 400 * KiB, half, got = 0;
	unsigned char *data = make_data(len, 8);
	struct blob b = { 0 }, out = { 0 };
	struct pollfd pfd;
	struct stream *s = NULL;
	int fds[2];
	ssize_t r;

	encode(&b, f, data, len);
	if (pipe(fds) || fcntl(fds[1], F_SETPIPE_SZ, (int)MiB) < (int)b.n)
		die("pipe");
	half = b.n / 2;
	if (write(fds[1], b.p, half) != (ssize_t)half)
		die("write");
	CHECK_EQ_INT(stream_open(fds[0], true, &s), 0);
	CHECK_EQ_INT(stream_format(s), f);
	CHECK(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
	CHECK_EQ_INT(stream_poll_fd(s), fds[0]);
	for (;;) {
		r = stream_read(s, reserve(&out, 32 * KiB), 32 * KiB);
		if (r <= 0)
			break;
		out.n += (size_t)r;
	}
	CHECK_EQ_INT(r, -EAGAIN);
	got = out.n;
	CHECK(got > 0 && got < len);
	/* asked again, and again: still nothing, still no error */
	CHECK_EQ_INT(stream_read(s, reserve(&out, 1), 1), -EAGAIN);
	CHECK_EQ_INT(stream_skip(s, 1), -EAGAIN);
	CHECK_EQ_INT(stream_read(s, reserve(&out, KiB), KiB), -EAGAIN);
	CHECK_EQ_U64(stream_position(s), got);
	pfd = (struct pollfd) { .fd = fds[0], .events = POLLIN };
	CHECK_EQ_INT(poll(&pfd, 1, 0), 0);

	if (write(fds[1], b.p + half, b.n - half) != (ssize_t)(b.n - half))
		die("write");
	close(fds[1]);
	r = read_all(s, 32 * KiB, &out);
	CHECK_EQ_INT(r, 0);
	CHECK(same(&out, data, len));
	CHECK_EQ_U64(stream_input_bytes(s), b.n);
	stream_close(s);
	blob_free(&b);
	blob_free(&out);
	free(data);
}

static void test_pipe(void)
{
	size_t i;

	check_pipe(STREAM_RAW);
	for (i = 0; i < NR_FORMATS; i++)
		check_pipe(formats[i]);
}

/*
 * A child that writes @p[0..first) to @fd, then after 100 ms the rest
 * (@p[0..n) again from @first), and exits. It frees @data and @b first:
 * valgrind would call the copies a leak.
 */
static pid_t slow_writer(int fds[2], struct blob *b, size_t first, unsigned char *data)
{
	pid_t pid;
	int r = 0;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid) {
		close(fds[1]);
		return pid;
	}
	close(fds[0]);
	if (write(fds[1], b->p, first) != (ssize_t)first)
		r = 1;
	usleep(100 * 1000);
	if (!r && write(fds[1], b->p + first, b->n - first) != (ssize_t)(b->n - first))
		r = 1;
	blob_free(b);
	free(data);
	_exit(r);
}

static bool reaped(pid_t pid)
{
	int st;

	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st);
}

/*
 * Detection on a slow pipe waits for the bytes that tell: a blocking pipe
 * in read(), a non-blocking one in poll(). The flags of the pipe's
 * description are as found after the close.
 */
static void test_detect_waits(void)
{
	size_t len = 50 * KiB;
	unsigned char *data = make_data(len, 9);
	struct blob b = { 0 }, out = { 0 };
	struct stream *s = NULL;
	int fds[2], dupfd;
	pid_t pid;

	encode(&b, STREAM_XZ, data, len);
	if (pipe(fds))
		die("pipe");
	pid = slow_writer(fds, &b, 2, data);
	dupfd = dup(fds[0]);
	CHECK_EQ_INT(stream_open(fds[0], true, &s), 0);
	CHECK_EQ_INT(stream_format(s), STREAM_XZ);
	CHECK(fcntl(dupfd, F_GETFL) & O_NONBLOCK);
	CHECK_EQ_INT(read_all(s, 16 * KiB, &out), 0);
	CHECK(same(&out, data, len));
	stream_close(s);
	CHECK(!(fcntl(dupfd, F_GETFL) & O_NONBLOCK));
	close(dupfd);
	CHECK(reaped(pid));
	blob_free(&b);
	blob_free(&out);

	/* nothing at first, then two bytes of a gzip magic: raw */
	append(&b, "\x1f\x8b", 2);
	if (pipe2(fds, O_NONBLOCK))
		die("pipe2");
	pid = slow_writer(fds, &b, 0, data);
	dupfd = dup(fds[0]);
	CHECK_EQ_INT(stream_open(fds[0], true, &s), 0);
	CHECK_EQ_INT(stream_format(s), STREAM_RAW);
	CHECK_EQ_INT(read_all(s, 16, &out), 0);
	CHECK(same(&out, "\x1f\x8b", 2));
	stream_close(s);
	CHECK(fcntl(dupfd, F_GETFL) & O_NONBLOCK);
	close(dupfd);
	CHECK(reaped(pid));

	blob_free(&b);
	blob_free(&out);
	free(data);
}

static void check_skip(enum stream_format f)
{
	size_t len = 700 * KiB + 9;
	unsigned char *data = make_data(len, 10);
	struct blob b = { 0 }, out = { 0 };
	struct stream *s;

	encode(&b, f, data, len);
	s = open_blob(&b, true);
	CHECK_EQ_INT(stream_skip(s, 3), 3);
	CHECK_EQ_U64(stream_position(s), 3);
	CHECK_EQ_INT(stream_read(s, reserve(&out, 5000), 5000), 5000);
	out.n = 5000;
	CHECK(!memcmp(out.p, data + 3, 5000));
	CHECK_EQ_U64(stream_position(s), 5003);
	CHECK_EQ_INT(stream_skip(s, 0), 0);
	CHECK_EQ_INT(stream_skip(s, 300 * KiB), 300 * KiB);
	out.n = 0;
	CHECK_EQ_INT(stream_read(s, reserve(&out, 100), 100), 100);
	CHECK(!memcmp(out.p, data + 5003 + 300 * KiB, 100));
	/* past the end: what there was, then the end */
	CHECK_EQ_INT(stream_skip(s, UINT64_MAX), len - 5103 - 300 * KiB);
	CHECK_EQ_U64(stream_position(s), len);
	CHECK_EQ_INT(stream_skip(s, 1), 0);
	CHECK_EQ_INT(stream_read(s, out.p, 1), 0);
	if (f == STREAM_RAW)
		CHECK_EQ_U64(stream_input_bytes(s), len);
	else
		CHECK_EQ_U64(stream_input_bytes(s), b.n);
	stream_close(s);
	blob_free(&b);
	blob_free(&out);
	free(data);
}

static void test_skip(void)
{
	size_t len = 20 * MiB;
	unsigned char *zero = calloc(1, len);
	struct blob b = { 0 };
	struct stream *s;
	size_t i;

	check_skip(STREAM_RAW);
	for (i = 0; i < NR_FORMATS; i++)
		check_skip(formats[i]);
	/* one call skips at most 16 MiB: the event loop stays live */
	if (!zero)
		die("calloc");
	encode(&b, STREAM_ZSTD, zero, len);
	s = open_blob(&b, true);
	CHECK_EQ_INT(stream_skip(s, UINT64_MAX), 16 * MiB);
	CHECK_EQ_INT(stream_skip(s, UINT64_MAX), 4 * MiB);
	CHECK_EQ_INT(stream_skip(s, UINT64_MAX), 0);
	CHECK_EQ_U64(stream_position(s), len);
	stream_close(s);
	blob_free(&b);
	free(zero);
}

/* A read error of the fd: at open (detection), or later, and it stays. */
static void test_read_error(void)
{
	struct stream *s = NULL;
	char buf[16];
	int fd = open("/", O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		die("open /");
	CHECK_EQ_INT(stream_open(fd, true, &s), -EISDIR);
	CHECK(s == NULL);
	/* taken on failure too: closed */
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	fd = open("/", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		die("open /");
	CHECK_EQ_INT(stream_open(fd, false, &s), 0);
	if (!CHECK(s != NULL))
		return;
	CHECK_EQ_INT(stream_read(s, buf, sizeof(buf)), -EISDIR);
	CHECK(contains(stream_error(s), "read: "));
	CHECK_EQ_INT(stream_read(s, buf, sizeof(buf)), -EISDIR);
	CHECK_EQ_INT(stream_skip(s, 1), -EISDIR);
	CHECK_EQ_U64(stream_position(s), 0);
	stream_close(s);
}

int main(void)
{
	test_names();
	test_formats();
	test_raw();
	test_concat();
	test_trailing();
	test_truncated();
	test_corrupt();
	test_pipe();
	test_detect_waits();
	test_skip();
	test_read_error();
	return unit_summary();
}
