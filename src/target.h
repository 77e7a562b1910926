/* SPDX-License-Identifier: GPL-2.0 */
/*
 * target.h - a file or block device that kcopy reads or writes.
 *
 * Hides the differences between block devices and regular files from the
 * engine (nbdcopy's rw_ops idea): size, logical block size, write-zeroes
 * offload, flush. Opening is split in two so that nothing is written
 * before every argument has been checked:
 *
 *   target_open()     inspects and opens; never creates or changes anything
 *                     (a missing destination file is only noted);
 *   target_prepare()  creates a missing destination file and extends a
 *                     short one — called only once all checks passed.
 *
 * Functions that fail fill @err with "PATH: reason" for main to print.
 */
#ifndef KCOPY_TARGET_H
#define KCOPY_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct target;

enum target_role {
	TARGET_SOURCE,		/* read only, shared */
	TARGET_DEST,		/* written; block devices opened O_EXCL */
};

enum {
	TARGET_BUFFERED = 1 << 0,	/* no O_DIRECT */
	/*
	 * A destination device opened without O_EXCL: the caller already
	 * holds its whole disk exclusively (a partition of a disk that is
	 * itself a destination), which keeps everyone else out.
	 */
	TARGET_SHARED = 1 << 1,
	/* A source compressed file is copied as it is, not decoded. */
	TARGET_RAW = 1 << 2,
};

/*
 * Open @path. With TARGET_BUFFERED, no O_DIRECT. Without it, an O_DIRECT
 * open that fails with EINVAL is retried buffered (target_fell_back()
 * tells). When @expect is given (the path's stat(2) from an earlier
 * look), the opened object must be that one: a path that changed in
 * between is refused (-ESTALE), so each argument is judged once.
 * Returns 0 or -errno: -ENOENT (source missing, or destination directory
 * missing), -EBUSY (destination device in use), -EINVAL (not a block
 * device or regular file), -EACCES (a new file's directory is not
 * writable), others from open(2)/ioctl(2).
 */
int target_open(const char *path, enum target_role role, unsigned flags,
		const struct stat *expect, struct target **out, char *err,
		size_t errlen);
void target_close(struct target *t);

/*
 * An NBD export (remote.h) as a target: connected now, with up to
 * @connections connections; a destination must be writable. Its size is
 * fixed, as a block device's.
 */
int target_open_remote(const char *spec, enum target_role role,
		       unsigned connections, struct target **out, char *err,
		       size_t errlen);

/*
 * For a destination file: create it if missing (0666 & ~umask) and extend
 * it to @end bytes if shorter. Never truncates. No-op for block devices.
 * target_unprepare() takes it back (removes what was created, truncates
 * back what was extended), for a run refused after all.
 */
int target_prepare(struct target *t, uint64_t end, char *err, size_t errlen);
void target_unprepare(struct target *t);
/* Was the file created by target_prepare()? */
bool target_created(const struct target *t);

/*
 * The storage underneath (SPEC §1: overlap and "in use" are judged on it,
 * not on names): a partition stands on its whole disk from its start, a
 * loop device on its backing file (or device) from its offset, through
 * any depth. Two targets share storage when their backings are the same
 * object; target byte X is backing byte base + X.
 */
enum target_backing_kind {
	BACKING_FILE,		/* a regular file: dev, ino */
	BACKING_DISK,		/* a block device with nothing known below: rdev */
	BACKING_NEW,		/* a file to be created: its canonical path */
	BACKING_REMOTE,		/* an NBD export: its URI or server command */
};

struct target_backing {
	enum target_backing_kind kind;
	dev_t dev;		/* FILE: st_dev; DISK: the device number */
	ino_t ino;		/* FILE only */
	uint64_t base;		/* offset of the target's byte 0 */
	const char *name;	/* a path naming it, for messages */
};

const struct target_backing *target_backing(const struct target *t);

/*
 * Do @a and @b stand on the same storage? When they do, *@a_base and
 * *@b_base are the offsets of their byte 0 on it.
 */
bool target_same_storage(const struct target *a, const struct target *b,
			 uint64_t *a_base, uint64_t *b_base);

/* Is block device @rdev a partition? Then *@disk is its whole disk. */
bool target_partition_of(dev_t rdev, dev_t *disk);

/* Is the block device @rdev @t itself or one it stands on? */
bool target_stands_on(const struct target *t, dev_t rdev);

/*
 * Is [offset, offset + length) of @t in use through another device: a
 * loop device over the same storage (partitions included) that is
 * mounted or held exclusively, and that is not one @ours(rdev) claims?
 * Returns 0 when free, -EBUSY with "PATH: why" in @err when in use.
 */
int target_check_users(const struct target *t, uint64_t offset, uint64_t length,
		       bool (*ours)(dev_t rdev, void *ctx), void *ctx,
		       char *err, size_t errlen);

/*
 * One line naming what @t is now, for the resume map: kind, device and
 * inode numbers, size (and a source file's modification time), and what
 * it stands on. Malloc'ed; NULL on ENOMEM
 * or for a file that does not exist yet.
 */
char *target_object_line(const struct target *t);

/*
 * @path made absolute without symlinks (realpath), malloc'ed; when that is
 * longer than PATH_MAX, the working directory joined with @path. NULL
 * with errno set on failure.
 */
char *target_absolute_path(const char *path);

/* The absolute path without symlinks (a missing file: realpath(dir)/name). */
const char *target_canonical_path(const struct target *t);

/* Is the opened file the one that stat(2) described? */
bool target_is_stat(const struct target *t, const struct stat *st);

/*
 * Look for a filesystem, RAID member or partition table (libblkid).
 * Returns 1 and "TYPE" or "TYPE (label 'L')" in @what when one is found,
 * 0 when none, -errno on failure. Regular files always return 0.
 */
int target_probe_signature(struct target *t, char *what, size_t whatlen);

const char *target_path(const struct target *t);

/*
 * A source read once, front to back (stream.h): "-" (stdin), a pipe,
 * FIFO or socket, or a compressed file (unless TARGET_RAW). Its length
 * is what it yields; target_size() is 0 for a pipe, the compressed
 * file's size otherwise (not the image's).
 */
bool target_is_stream(const struct target *t);
struct stream *target_stream(const struct target *t);
bool target_is_pipe(const struct target *t);
int target_fd(const struct target *t);		/* O_DIRECT unless fell back */
bool target_is_blockdev(const struct target *t);
bool target_exists(const struct target *t);
bool target_is_remote(const struct target *t);
struct remote *target_remote(const struct target *t);	/* or NULL */
/* A block device or an export: never created or extended. */
bool target_is_fixed_size(const struct target *t);	/* false: file to create */
bool target_fell_back(const struct target *t);	/* O_DIRECT -> buffered */
bool target_is_direct(const struct target *t);	/* fd is O_DIRECT */
uint64_t target_size(const struct target *t);	/* current size in bytes */
unsigned target_block_size(const struct target *t);
bool target_zoned_host_managed(const struct target *t);
bool target_can_zero_offload(const struct target *t);

/*
 * Zero [offset, offset+length) without writing buffers: BLKZEROOUT on a
 * device, fallocate(FALLOC_FL_ZERO_RANGE) on a file. With @deallocate the
 * space may be given back instead (PUNCH_HOLE: a sparse copy stays
 * sparse). Blocking; callers keep pieces short. -EOPNOTSUPP/-EINVAL mean
 * "use writes instead".
 */
int target_zero_range(struct target *t, uint64_t offset, uint64_t length,
		      bool deallocate);

/*
 * Synchronous, buffered (page cache) pread/pwrite of a short range that
 * O_DIRECT cannot express (an unaligned file tail). Full length or -errno
 * (-ENODATA: the file ends before: it shrank).
 */
int target_pread_tail(struct target *t, void *buf, size_t len, uint64_t offset);
int target_pwrite_tail(struct target *t, const void *buf, size_t len, uint64_t offset);

/* fdatasync(2) everything written through any of the target's fds. */
int target_flush(struct target *t);

/*
 * Sparse sources: the next data at or after @offset (SEEK_DATA), and the
 * hole after it (SEEK_HOLE). Returns 0, -ENXIO when there is no data at or
 * after @offset, -EOPNOTSUPP for block devices or when lseek can't tell.
 */
int target_next_data(struct target *t, uint64_t offset, uint64_t *data,
		     uint64_t *hole);

#endif
