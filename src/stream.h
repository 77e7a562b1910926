/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stream.h - a sequential byte stream from a file descriptor, decoded
 * in-process when it is compressed (gzip, xz, zstd, bzip2).
 *
 * The "stream" storage backend reads from this inside the single-threaded
 * event loop, so nothing here blocks once the stream is open: with no input
 * available a read returns -EAGAIN, and the caller polls stream_poll_fd()
 * for POLLIN. Decoded bytes go straight into the caller's buffer.
 *
 * Concatenation is followed as the tools' own -d does: gzip members, xz
 * streams (and their padding), zstd frames (skippable frames are skipped),
 * bzip2 streams. What follows the last one must be nothing — for gzip,
 * zero bytes are allowed too (gzip -d ignores them) — anything else is
 * -EBADMSG, "trailing data after the compressed stream".
 */
#ifndef KCOPY_STREAM_H
#define KCOPY_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum stream_format { STREAM_RAW, STREAM_GZIP, STREAM_XZ, STREAM_ZSTD, STREAM_BZIP2 };

struct stream;

/*
 * Take @fd (the stream owns it and closes it in stream_close). If @detect,
 * the first bytes are read (blocking, with poll() if @fd is non-blocking:
 * this runs at plan time) and the format is chosen by magic: gzip 1f 8b 08,
 * xz fd 37 7a 58 5a 00, zstd 28 b5 2f fd (or skippable frames
 * 0x184D2A50..5F followed by a frame), bzip2 "BZh[1-9]" followed by a block
 * or end-of-stream magic; anything else, or fewer bytes, is RAW. Those bytes
 * are given back by stream_read (a pipe cannot be rewound). Without
 * @detect: RAW. Then @fd is set O_NONBLOCK (its old flags come back in
 * stream_close, so a shared stdin is left as it was found).
 *
 * Returns 0 or -errno (-ENOMEM, a read error). @fd is taken either way:
 * on failure it is closed too, so the caller has one path.
 */
int stream_open(int fd, bool detect, struct stream **out);
enum stream_format stream_format(const struct stream *s);
/* "raw", "gzip", "xz", "zstd", "bzip2" */
const char *stream_format_name(enum stream_format f);

/*
 * Decode up to @len bytes into @buf. Returns bytes (> 0, possibly fewer
 * than @len: the caller loops), 0 at the end of the stream (every
 * member/frame done and the input at EOF; also for @len 0), -EAGAIN when
 * no input is available now (poll stream_poll_fd() for POLLIN), or -errno:
 * a read error of the fd as read() gave it (-EIO, ...), -EBADMSG for
 * corrupt compressed data, a truncated stream (EOF inside a frame) or
 * trailing data, -ENOMEM. After an error every later call returns the same
 * error, and stream_error() says why in one line.
 */
ssize_t stream_read(struct stream *s, void *buf, size_t len);

/*
 * Decode and throw away up to @len bytes. Returns as stream_read: the bytes
 * skipped (> 0; at most 16 MiB a call, so that one call never holds the
 * event loop for long), 0 at the end, -EAGAIN, -errno.
 */
ssize_t stream_skip(struct stream *s, uint64_t len);

/* Decoded bytes given out so far (read and skipped). */
uint64_t stream_position(const struct stream *s);
/* Bytes of the fd consumed by the decoder so far (for progress). */
uint64_t stream_input_bytes(const struct stream *s);
/* The fd to poll for POLLIN after -EAGAIN. */
int stream_poll_fd(const struct stream *s);
/* The last error in one line ("xz: compressed data is corrupt"), or "". */
const char *stream_error(const struct stream *s);
/* Close the fd and free everything; NULL is fine. */
void stream_close(struct stream *s);

#endif
