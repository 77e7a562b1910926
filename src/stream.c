// SPDX-License-Identifier: GPL-2.0
/*
 * stream.c - see stream.h.
 *
 * One input buffer is filled by read() and drained by the format's library,
 * which writes into the caller's buffer. Each format is a step: one call of
 * its library on what input there is, which reports progress, a need for
 * more input, the end, or an error. decode() runs steps until the caller's
 * buffer is full, the fd has nothing more for now, or the stream ends.
 *
 * gzip members, xz streams and bzip2 streams are chained here (next_member)
 * rather than by the libraries (liblzma's LZMA_CONCATENATED calls garbage
 * after a stream "corrupt data", and libbz2 knows no concatenation): so
 * trailing data is told apart from corruption. libzstd chains frames and
 * skips skippable ones by itself.
 */
#define _GNU_SOURCE
#define ZLIB_CONST
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lzma.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "stream.h"

/* Big enough that a read() is rarely short of a decoder's appetite. */
#define STREAM_BUF_SIZE (256u << 10)
#define SKIP_BUF_SIZE (256u << 10)
/* One stream_skip() call decodes at most this much: the loop stays live. */
#define SKIP_MAX (16u << 20)
/*
 * zstd's default limit is a 128 MiB window (27); disk images are often
 * made with --long=31, which zstd -d then refuses without --memory. The
 * window is touched only as far as the frame uses it.
 */
#define ZSTD_WINDOW_LOG_MAX 31

/* a sniff that needs more bytes to tell */
#define SNIFF_MORE (-1)

enum step { STEP_MORE, STEP_NEED_INPUT, STEP_END };

struct out {
	unsigned char *buf;
	size_t len, pos;
};

struct stream {
	int fd;
	int fd_flags;			/* as found; put back in stream_close */
	enum stream_format format;
	int err;			/* sticky -errno, or 0 */
	bool eof;			/* read() gave 0 */
	bool done;			/* ended cleanly: reads give 0 */
	unsigned char *in;		/* [in_pos, in_len) not yet consumed */
	size_t in_pos, in_len;
	unsigned char *skip_buf;	/* stream_skip's scratch, on first use */
	uint64_t position, input_bytes;
	bool between;			/* gzip, xz, bzip2: after a member */
	uint64_t padding;		/* zero bytes seen since that member */
	bool zstd_in_frame;		/* input taken since the last frame's end */
	bool dec_live;			/* dec holds library state */
	union {
		z_stream z;
		lzma_stream lz;
		ZSTD_DStream *zs;
		bz_stream bz;
	} dec;
	char msg[160];
};

static const unsigned char gzip_magic[] = { 0x1f, 0x8b, 0x08 };
static const unsigned char xz_magic[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
static const unsigned char zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };
/* 0x184D2A50..5F little-endian, with the low nibble masked off */
static const unsigned char zstd_skippable_magic[] = { 0x50, 0x2a, 0x4d, 0x18 };
static const unsigned char bzip2_block_magic[] = { 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 };
static const unsigned char bzip2_eos_magic[] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };

const char *stream_format_name(enum stream_format f)
{
	static const char *const names[] = {
		[STREAM_RAW] = "raw", [STREAM_GZIP] = "gzip", [STREAM_XZ] = "xz",
		[STREAM_ZSTD] = "zstd", [STREAM_BZIP2] = "bzip2",
	};

	if ((unsigned)f >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[f];
}

/* --- errors: each sets the sticky error and its line, and returns it ---- */

__attribute__((format(printf, 3, 4)))
static int fail(struct stream *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	s->err = err;
	return err;
}

static int corrupt(struct stream *s, const char *why)
{
	if (!why)
		return fail(s, -EBADMSG, "%s: compressed data is corrupt",
			    stream_format_name(s->format));
	return fail(s, -EBADMSG, "%s: compressed data is corrupt (%s)",
		    stream_format_name(s->format), why);
}

static int truncated(struct stream *s)
{
	return fail(s, -EBADMSG, "%s: unexpected end of input (truncated file?)",
		    stream_format_name(s->format));
}

static int trailing(struct stream *s)
{
	return fail(s, -EBADMSG, "%s: trailing data after the compressed stream",
		    stream_format_name(s->format));
}

static int nomem(struct stream *s)
{
	return fail(s, -ENOMEM, "%s: out of memory", stream_format_name(s->format));
}

static int read_error(struct stream *s, int err)
{
	return fail(s, err, "read: %s", strerror(-err));
}

/* --- input --------------------------------------------------------------- */

static size_t in_avail(const struct stream *s)
{
	return s->in_len - s->in_pos;
}

static void consume(struct stream *s, size_t n)
{
	s->in_pos += n;
	s->input_bytes += n;
}

/* One read() into the input buffer: 1 (bytes came), 0 (EOF), -EAGAIN, -errno. */
static int fill(struct stream *s)
{
	ssize_t r;

	if (s->in_pos == s->in_len) {
		s->in_pos = s->in_len = 0;
	} else if (s->in_len == STREAM_BUF_SIZE) {
		/*
		 * A magic cut by the end of the buffer (decoders take all they
		 * are given; a peek wants at most a few bytes): to the front.
		 */
		memmove(s->in, s->in + s->in_pos, in_avail(s));
		s->in_len -= s->in_pos;
		s->in_pos = 0;
	}
	do
		r = read(s->fd, s->in + s->in_len, STREAM_BUF_SIZE - s->in_len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : read_error(s, -errno);
	if (!r) {
		s->eof = true;
		return 0;
	}
	s->in_len += (size_t)r;
	return 1;
}

static int wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, -1) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* --- detection ----------------------------------------------------------- */

/* 1: @p starts with @m; 0: it does not; SNIFF_MORE: too short to tell. */
static int starts(const unsigned char *p, size_t n, const unsigned char *m, size_t len)
{
	if (memcmp(p, m, n < len ? n : len))
		return 0;
	return n < len ? SNIFF_MORE : 1;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* "BZh" and a block size digit: what starts every bzip2 stream. */
static int bzip2_head(const unsigned char *p, size_t n)
{
	int r = starts(p, n, (const unsigned char *)"BZh", 3);

	if (r != 1)
		return r;
	if (n < 4)
		return SNIFF_MORE;
	return p[3] >= '1' && p[3] <= '9';
}

/* The head, then a block or (an empty stream) the end-of-stream magic. */
static int sniff_bzip2(const unsigned char *p, size_t n)
{
	int r = bzip2_head(p, n);

	if (r != 1)
		return r;
	r = starts(p + 4, n - 4, bzip2_block_magic, sizeof(bzip2_block_magic));
	return r ? r : starts(p + 4, n - 4, bzip2_eos_magic, sizeof(bzip2_eos_magic));
}

/* 1: a zstd frame; 2: a skippable frame; 0: neither; SNIFF_MORE */
static int zstd_frame_magic(const unsigned char *p, size_t n)
{
	unsigned char q[4];
	size_t k = n < 4 ? n : 4;
	int r = starts(p, n, zstd_magic, sizeof(zstd_magic));

	if (r)
		return r;
	memcpy(q, p, k);
	if (k)
		q[0] &= 0xf0;
	r = starts(q, k, zstd_skippable_magic, sizeof(zstd_skippable_magic));
	return r == 1 ? 2 : r;
}

/* A frame, maybe after skippable frames (pzstd's, a seekable index...). */
static int sniff_zstd(const unsigned char *p, size_t n)
{
	size_t off = 0;
	int r;

	for (;;) {
		r = zstd_frame_magic(p + off, n - off);
		if (r != 2)
			return r;
		if (n - off < 8)
			return SNIFF_MORE;
		off += 8 + (size_t)le32(p + off + 4);
		if (off > n)
			return SNIFF_MORE;
	}
}

/* The format @p[0..n) starts, or SNIFF_MORE when more bytes would tell. */
static int sniff(const unsigned char *p, size_t n)
{
	int gz = starts(p, n, gzip_magic, sizeof(gzip_magic));
	int xz = starts(p, n, xz_magic, sizeof(xz_magic));
	int zst = sniff_zstd(p, n);
	int bz = sniff_bzip2(p, n);

	if (gz == 1)
		return STREAM_GZIP;
	if (xz == 1)
		return STREAM_XZ;
	if (zst == 1)
		return STREAM_ZSTD;
	if (bz == 1)
		return STREAM_BZIP2;
	if (gz == SNIFF_MORE || xz == SNIFF_MORE || zst == SNIFF_MORE || bz == SNIFF_MORE)
		return SNIFF_MORE;
	return STREAM_RAW;
}

static int sniff_input(struct stream *s)
{
	int f, r;

	for (;;) {
		f = sniff(s->in, s->in_len);
		if (f != SNIFF_MORE)
			break;
		/* A magic cut short by the end of the input: not that format. */
		if (s->eof) {
			f = STREAM_RAW;
			break;
		}
		/* Only a walk over skippable frames looks this far: trust it. */
		if (s->in_len == STREAM_BUF_SIZE) {
			f = STREAM_ZSTD;
			break;
		}
		r = fill(s);
		if (r == -EAGAIN)
			r = wait_readable(s->fd);
		if (r < 0)
			return r;
	}
	s->format = f;
	return 0;
}

/* --- the decoders -------------------------------------------------------- */

static unsigned clamp_uint(size_t n)
{
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

static int gzip_init(struct stream *s)
{
	/* 16 + MAX_WBITS: a gzip wrapper, not zlib's */
	int r = inflateInit2(&s->dec.z, 16 + MAX_WBITS);

	if (r != Z_OK)
		return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	return 0;
}

static int gzip_step(struct stream *s, struct out *o)
{
	z_stream *z = &s->dec.z;
	unsigned in = clamp_uint(in_avail(s)), out = clamp_uint(o->len - o->pos);
	int r;

	z->next_in = s->in + s->in_pos;
	z->avail_in = in;
	z->next_out = o->buf + o->pos;
	z->avail_out = out;
	r = inflate(z, Z_NO_FLUSH);
	consume(s, in - z->avail_in);
	o->pos += out - z->avail_out;
	switch (r) {
	case Z_OK:
		return STEP_MORE;
	case Z_STREAM_END:
		s->between = true;
		return STEP_MORE;
	case Z_BUF_ERROR:		/* no input, so no progress */
		return s->eof ? truncated(s) : STEP_NEED_INPUT;
	case Z_MEM_ERROR:
		return nomem(s);
	default:			/* Z_DATA_ERROR, Z_NEED_DICT */
		return corrupt(s, z->msg);
	}
}

static int xz_init(struct stream *s)
{
	/*
	 * No LZMA_CONCATENATED: next_member() chains the streams. No memory
	 * limit: the dictionary size is the image maker's choice, as for xz -d.
	 */
	lzma_ret r = lzma_stream_decoder(&s->dec.lz, UINT64_MAX, 0);

	if (r == LZMA_MEM_ERROR)
		return -ENOMEM;
	return r == LZMA_OK ? 0 : -EINVAL;
}

static int xz_step(struct stream *s, struct out *o)
{
	lzma_stream *lz = &s->dec.lz;
	size_t in = in_avail(s), out = o->len - o->pos;
	lzma_ret r;

	lz->next_in = s->in + s->in_pos;
	lz->avail_in = in;
	lz->next_out = o->buf + o->pos;
	lz->avail_out = out;
	r = lzma_code(lz, LZMA_RUN);
	consume(s, in - lz->avail_in);
	o->pos += out - lz->avail_out;
	switch (r) {
	case LZMA_OK:
	case LZMA_BUF_ERROR:		/* a second call in a row without input */
		if (in != lz->avail_in || out != lz->avail_out)
			return STEP_MORE;
		return s->eof ? truncated(s) : STEP_NEED_INPUT;
	case LZMA_STREAM_END:
		s->between = true;
		return STEP_MORE;
	case LZMA_MEM_ERROR:
		return nomem(s);
	case LZMA_OPTIONS_ERROR:
		return corrupt(s, "unsupported options");
	default:			/* LZMA_DATA_ERROR, LZMA_FORMAT_ERROR */
		return corrupt(s, NULL);
	}
}

static int zstd_init(struct stream *s)
{
	s->dec.zs = ZSTD_createDStream();
	if (!s->dec.zs)
		return -ENOMEM;
	ZSTD_DCtx_setParameter(s->dec.zs, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
	return 0;
}

static int zstd_error(struct stream *s, size_t r)
{
	switch (ZSTD_getErrorCode(r)) {
	case ZSTD_error_memory_allocation:
		return nomem(s);
	case ZSTD_error_prefix_unknown:
		/* no frame's magic where a frame would start */
		if (!s->zstd_in_frame)
			return trailing(s);
		break;
	default:
		break;
	}
	return corrupt(s, ZSTD_getErrorName(r));
}

static int zstd_step(struct stream *s, struct out *o)
{
	ZSTD_inBuffer in = { s->in + s->in_pos, in_avail(s), 0 };
	ZSTD_outBuffer out = { o->buf + o->pos, o->len - o->pos, 0 };
	size_t r = ZSTD_decompressStream(s->dec.zs, &out, &in);

	consume(s, in.pos);
	o->pos += out.pos;
	if (ZSTD_isError(r))
		return zstd_error(s, r);
	if (in.pos || out.pos) {
		/* 0: a frame (skippable or not) is over and all flushed */
		s->zstd_in_frame = r != 0;
		return STEP_MORE;
	}
	if (!s->eof)
		return STEP_NEED_INPUT;
	return s->zstd_in_frame ? truncated(s) : STEP_END;
}

static int bzip2_init(struct stream *s)
{
	int r = BZ2_bzDecompressInit(&s->dec.bz, 0, 0);

	if (r != BZ_OK)
		return r == BZ_MEM_ERROR ? -ENOMEM : -EINVAL;
	s->dec_live = true;
	return 0;
}

static int bzip2_step(struct stream *s, struct out *o)
{
	bz_stream *bz = &s->dec.bz;
	unsigned in = clamp_uint(in_avail(s)), out = clamp_uint(o->len - o->pos);
	int r;

	bz->next_in = (char *)s->in + s->in_pos;
	bz->avail_in = in;
	bz->next_out = (char *)o->buf + o->pos;
	bz->avail_out = out;
	r = BZ2_bzDecompress(bz);
	consume(s, in - bz->avail_in);
	o->pos += out - bz->avail_out;
	switch (r) {
	case BZ_OK:
		if (in != bz->avail_in || out != bz->avail_out)
			return STEP_MORE;
		return s->eof ? truncated(s) : STEP_NEED_INPUT;
	case BZ_STREAM_END:
		/* libbz2 cannot be reset: a new stream is a new decoder */
		BZ2_bzDecompressEnd(bz);
		s->dec_live = false;
		s->between = true;
		return STEP_MORE;
	case BZ_MEM_ERROR:
		return nomem(s);
	default:			/* BZ_DATA_ERROR, BZ_DATA_ERROR_MAGIC */
		return corrupt(s, NULL);
	}
}

static int decoder_init(struct stream *s)
{
	int r;

	switch (s->format) {
	case STREAM_GZIP:
		r = gzip_init(s);
		break;
	case STREAM_XZ:
		r = xz_init(s);
		break;
	case STREAM_ZSTD:
		r = zstd_init(s);
		break;
	case STREAM_BZIP2:
		return bzip2_init(s);
	default:
		return 0;
	}
	s->dec_live = !r;
	return r;
}

static void decoder_end(struct stream *s)
{
	if (!s->dec_live)
		return;
	switch (s->format) {
	case STREAM_GZIP:
		inflateEnd(&s->dec.z);
		break;
	case STREAM_XZ:
		lzma_end(&s->dec.lz);
		break;
	case STREAM_ZSTD:
		ZSTD_freeDStream(s->dec.zs);
		break;
	case STREAM_BZIP2:
		BZ2_bzDecompressEnd(&s->dec.bz);
		break;
	default:
		break;
	}
	s->dec_live = false;
}

/* Ready the decoder for the member that starts at the input. */
static int member_reset(struct stream *s)
{
	int r = 0;

	switch (s->format) {
	case STREAM_GZIP:
		inflateReset(&s->dec.z);
		break;
	case STREAM_XZ:
		r = xz_init(s);		/* liblzma reuses the coder in place */
		break;
	case STREAM_BZIP2:
		r = bzip2_init(s);
		break;
	default:
		break;
	}
	return r == -ENOMEM ? nomem(s) : r;
}

/* Does the input start another member? 1, 0, SNIFF_MORE */
static int member_magic(const struct stream *s)
{
	const unsigned char *p = s->in + s->in_pos;
	size_t n = in_avail(s);

	switch (s->format) {
	case STREAM_GZIP:
		/* not the method byte: zlib names a wrong one */
		return starts(p, n, gzip_magic, 2);
	case STREAM_XZ:
		return starts(p, n, xz_magic, sizeof(xz_magic));
	default:
		return bzip2_head(p, n);
	}
}

/*
 * After a gzip member, an xz or bzip2 stream: another, or the end. gzip -d
 * ignores zero bytes at the end; xz has stream padding (zero bytes, a
 * multiple of four, between and after streams). Anything else is trailing
 * data, an error: kcopy would otherwise write an image that is not the one
 * that was compressed, without a word.
 */
static int next_member(struct stream *s)
{
	int r;

	if (s->format != STREAM_BZIP2) {
		while (s->in_pos < s->in_len && !s->in[s->in_pos]) {
			consume(s, 1);
			s->padding++;
		}
	}
	if (!in_avail(s) && !s->eof)
		return STEP_NEED_INPUT;
	if (s->format == STREAM_XZ && s->padding % 4)
		return corrupt(s, "stream padding is not a multiple of four bytes");
	if (!in_avail(s))
		return STEP_END;
	if (s->format == STREAM_GZIP && s->padding)
		return trailing(s);
	r = member_magic(s);
	if (r == SNIFF_MORE && !s->eof)
		return STEP_NEED_INPUT;
	if (r != 1)
		return trailing(s);
	r = member_reset(s);
	if (r)
		return r;
	s->between = false;
	s->padding = 0;
	return STEP_MORE;
}

static int step(struct stream *s, struct out *o)
{
	if (s->between)
		return next_member(s);
	switch (s->format) {
	case STREAM_GZIP:
		return gzip_step(s, o);
	case STREAM_XZ:
		return xz_step(s, o);
	case STREAM_ZSTD:
		return zstd_step(s, o);
	default:
		return bzip2_step(s, o);
	}
}

static ssize_t decode(struct stream *s, unsigned char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	int r;

	/*
	 * A step comes before each read(): a decoder may hold output that
	 * needs no more input, and the fd may have none for now.
	 */
	while (o.pos < o.len) {
		r = step(s, &o);
		if (r < 0)
			break;
		if (r == STEP_MORE)
			continue;
		if (r == STEP_END) {
			s->done = true;
			break;
		}
		/* A step at EOF never needs input; were it to, input is short. */
		if (s->eof) {
			truncated(s);
			break;
		}
		r = fill(s);
		if (r < 0)
			break;
	}
	/* Bytes decoded before an error are good: they go first. */
	if (o.pos)
		return (ssize_t)o.pos;
	if (s->err)
		return s->err;
	return s->done ? 0 : -EAGAIN;
}

static ssize_t raw_read(struct stream *s, unsigned char *buf, size_t len)
{
	size_t n = in_avail(s);
	ssize_t r;

	if (n) {
		/* the detection's bytes first */
		if (n > len)
			n = len;
		memcpy(buf, s->in + s->in_pos, n);
		consume(s, n);
		if (!in_avail(s)) {
			free(s->in);
			s->in = NULL;
			s->in_pos = s->in_len = 0;
		}
		return (ssize_t)n;
	}
	if (s->eof) {
		s->done = true;
		return 0;
	}
	do
		r = read(s->fd, buf, len);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		s->input_bytes += (uint64_t)r;
		return r;
	}
	if (!r) {
		s->eof = s->done = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -EAGAIN;
	return read_error(s, -errno);
}

/* --- the interface ------------------------------------------------------- */

int stream_open(int fd, bool detect, struct stream **out)
{
	struct stream *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->format = STREAM_RAW;
	s->fd_flags = fcntl(fd, F_GETFL);
	if (s->fd_flags < 0) {
		r = -errno;
		goto bad_free;
	}
	if (detect) {
		s->in = malloc(STREAM_BUF_SIZE);
		if (!s->in) {
			r = -ENOMEM;
			goto bad_free;
		}
		r = sniff_input(s);
		if (r)
			goto bad_buf;
		r = decoder_init(s);
		if (r)
			goto bad_buf;
	}
	if (!(s->fd_flags & O_NONBLOCK) &&
	    fcntl(fd, F_SETFL, s->fd_flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto bad_decoder;
	}
	*out = s;
	return 0;

bad_decoder:
	decoder_end(s);
bad_buf:
	free(s->in);
bad_free:
	free(s);
	close(fd);
	return r;
}

enum stream_format stream_format(const struct stream *s)
{
	return s->format;
}

ssize_t stream_read(struct stream *s, void *buf, size_t len)
{
	ssize_t r;

	if (s->err)
		return s->err;
	if (s->done || !len)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (s->format == STREAM_RAW)
		r = raw_read(s, buf, len);
	else
		r = decode(s, buf, len);
	if (r > 0)
		s->position += (uint64_t)r;
	return r;
}

ssize_t stream_skip(struct stream *s, uint64_t len)
{
	uint64_t want = len < SKIP_MAX ? len : SKIP_MAX;
	size_t done = 0, n;
	ssize_t r;

	if (s->err)
		return s->err;
	if (s->done || !len)
		return 0;
	if (!s->skip_buf) {
		s->skip_buf = malloc(SKIP_BUF_SIZE);
		if (!s->skip_buf)
			return fail(s, -ENOMEM, "out of memory");
	}
	while (done < want) {
		n = want - done < SKIP_BUF_SIZE ? want - done : SKIP_BUF_SIZE;
		r = stream_read(s, s->skip_buf, n);
		if (r <= 0)
			return done ? (ssize_t)done : r;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

uint64_t stream_position(const struct stream *s)
{
	return s->position;
}

uint64_t stream_input_bytes(const struct stream *s)
{
	return s->input_bytes;
}

int stream_poll_fd(const struct stream *s)
{
	return s->fd;
}

const char *stream_error(const struct stream *s)
{
	return s->msg;
}

void stream_close(struct stream *s)
{
	if (!s)
		return;
	decoder_end(s);
	/* The fd may be a shared stdin: leave its description as found. */
	if (!(s->fd_flags & O_NONBLOCK))
		fcntl(s->fd, F_SETFL, s->fd_flags);
	close(s->fd);
	free(s->in);
	free(s->skip_buf);
	free(s);
}
