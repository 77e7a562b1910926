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

struct target;

enum target_role {
	TARGET_SOURCE,		/* read only, shared */
	TARGET_DEST,		/* written; block devices opened O_EXCL */
};

/*
 * Open @path. With @buffered, no O_DIRECT. Without it, an O_DIRECT open
 * that fails with EINVAL is retried buffered (target_fell_back() tells).
 * Returns 0 or -errno: -ENOENT (source missing, or destination directory
 * missing), -EBUSY (destination device in use), -EINVAL (not a block
 * device or regular file), others from open(2)/ioctl(2).
 */
int target_open(const char *path, enum target_role role, bool buffered,
		struct target **out, char *err, size_t errlen);
void target_close(struct target *t);

/*
 * For a destination file: create it if missing (0666 & ~umask) and extend
 * it to @end bytes if shorter. Never truncates. No-op for block devices.
 */
int target_prepare(struct target *t, uint64_t end, char *err, size_t errlen);

/*
 * Look for a filesystem, RAID member or partition table (libblkid).
 * Returns 1 and "TYPE" or "TYPE (label 'L')" in @what when one is found,
 * 0 when none, -errno on failure. Regular files always return 0.
 */
int target_probe_signature(struct target *t, char *what, size_t whatlen);

/*
 * True when @a and @b are the same file or device: then regions on them
 * must not overlap. A missing destination file compares by path.
 */
bool target_same_object(const struct target *a, const struct target *b);

const char *target_path(const struct target *t);
int target_fd(const struct target *t);		/* O_DIRECT unless fell back */
bool target_is_blockdev(const struct target *t);
bool target_exists(const struct target *t);	/* false: file to create */
bool target_fell_back(const struct target *t);	/* O_DIRECT -> buffered */
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
 * O_DIRECT cannot express (an unaligned file tail). Full length or -errno.
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
