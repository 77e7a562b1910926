// SPDX-License-Identifier: GPL-2.0
/*
 * target.c - see target.h.
 */
#define _GNU_SOURCE
#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "target.h"

/* Files are addressed in 512-byte units (SPEC §1). */
#define FILE_BLOCK_SIZE 512

struct target {
	char *path;
	char *canonical;	/* for a missing file: realpath(dir)/name */
	enum target_role role;
	bool buffered;		/* no O_DIRECT, asked or fell back */
	bool fell_back;
	bool exists;
	bool blockdev;
	int fd;
	int fd_buffered;	/* lazily opened for unaligned tails */
	dev_t dev;
	ino_t ino;
	dev_t rdev;
	uint64_t size;
	unsigned block_size;
	bool zoned_hm;
	bool zero_offload;
};

static int fail(char *err, size_t errlen, int r, const char *path,
		const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return r;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return r;
}

static const char *file_type_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "is a directory";
	if (S_ISCHR(mode))
		return "is a character device";
	if (S_ISFIFO(mode))
		return "is a fifo";
	if (S_ISSOCK(mode))
		return "is a socket";
	return "is not a block device or regular file";
}

/* Read a number from the device's queue/ directory in sysfs; -1 if absent. */
static long long sysfs_queue_read(dev_t rdev, const char *attr, char *buf,
				  size_t buflen)
{
	/* A partition's queue/ is its disk's. */
	static const char *const dirs[] = { "./queue", "../queue" };
	char path[PATH_MAX];
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s/%s",
			 major(rdev), minor(rdev), dirs[i], attr);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(buf, (int)buflen, f))
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\n")] = '\0';
		return strtoll(buf, NULL, 10);
	}
	buf[0] = '\0';
	return -1;
}

static int inspect_blockdev(struct target *t, char *err, size_t errlen)
{
	char buf[64];
	int lbs;

	if (ioctl(t->fd, BLKGETSIZE64, &t->size) < 0)
		return fail(err, errlen, -errno, t->path, "cannot get size: %s",
			    strerror(errno));
	if (ioctl(t->fd, BLKSSZGET, &lbs) < 0)
		return fail(err, errlen, -errno, t->path,
			    "cannot get logical block size: %s", strerror(errno));
	t->block_size = (unsigned)lbs;
	t->zero_offload = sysfs_queue_read(t->rdev, "write_zeroes_max_bytes",
					   buf, sizeof(buf)) > 0;
	sysfs_queue_read(t->rdev, "zoned", buf, sizeof(buf));
	t->zoned_hm = !strcmp(buf, "host-managed");
	return 0;
}

static int open_fd(struct target *t, int flags)
{
	int fd;

	if (!t->buffered) {
		fd = open(t->path, flags | O_DIRECT, 0666);
		if (fd >= 0 || errno != EINVAL)
			return fd;
		/* The filesystem refuses O_DIRECT: go buffered, say so. */
		t->buffered = true;
		t->fell_back = true;
	}
	return open(t->path, flags, 0666);
}

static int dest_dir_check(struct target *t, char *err, size_t errlen)
{
	const char *slash = strrchr(t->path, '/');
	const char *base = slash ? slash + 1 : t->path;
	char real[PATH_MAX];
	char *dir;
	int r = 0;

	if (!*base)
		return fail(err, errlen, -EISDIR, t->path, "is a directory");
	dir = slash ? strndup(t->path, (size_t)(slash - t->path) + 1) : strdup(".");
	if (!dir)
		return -ENOMEM;
	/* Compare missing files by canonical path: "a/../x" is "x". */
	if (!realpath(dir, real)) {
		r = fail(err, errlen, -errno, t->path, "cannot create: %s",
			 strerror(errno));
		goto out;
	}
	if (asprintf(&t->canonical, "%s/%s", real, base) < 0) {
		t->canonical = NULL;
		r = -ENOMEM;
	}
out:
	free(dir);
	return r;
}

int target_open(const char *path, enum target_role role, bool buffered,
		struct target **out, char *err, size_t errlen)
{
	struct target *t;
	struct stat st;
	int flags, r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = t->fd_buffered = -1;
	t->role = role;
	t->buffered = buffered;
	t->block_size = FILE_BLOCK_SIZE;
	t->path = strdup(path);
	if (!t->path) {
		r = -ENOMEM;
		goto bad;
	}

	if (stat(path, &st) < 0) {
		if (errno != ENOENT || role == TARGET_SOURCE) {
			r = fail(err, errlen, -errno, path, "%s", strerror(errno));
			goto bad;
		}
		/* Creating through a dangling link could fail only later. */
		if (lstat(path, &st) == 0) {
			r = fail(err, errlen, -ENOENT, path,
				 "is a dangling symbolic link");
			goto bad;
		}
		/* A destination file to be created by target_prepare(). */
		r = dest_dir_check(t, err, errlen);
		if (r < 0)
			goto bad;
		t->zero_offload = true;
		*out = t;
		return 0;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		r = fail(err, errlen, -EINVAL, path, "%s", file_type_name(st.st_mode));
		goto bad;
	}
	t->exists = true;
	t->blockdev = S_ISBLK(st.st_mode);

	flags = O_CLOEXEC | (role == TARGET_SOURCE ? O_RDONLY : O_RDWR);
	if (role == TARGET_DEST && t->blockdev)
		flags |= O_EXCL;
	t->fd = open_fd(t, flags);
	if (t->fd < 0) {
		if (errno == EBUSY)
			r = fail(err, errlen, -EBUSY, path,
				 "device is in use (mounted, or held by another program)");
		else
			r = fail(err, errlen, -errno, path, "%s", strerror(errno));
		goto bad;
	}
	if (fstat(t->fd, &st) < 0) {
		r = fail(err, errlen, -errno, path, "%s", strerror(errno));
		goto bad;
	}
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->rdev = st.st_rdev;
	if (t->blockdev) {
		r = inspect_blockdev(t, err, errlen);
		if (r < 0)
			goto bad;
	} else {
		t->size = (uint64_t)st.st_size;
		t->zero_offload = true;	/* tried at run time, falls back */
	}
	*out = t;
	return 0;

bad:
	target_close(t);
	return r;
}

void target_close(struct target *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (t->fd_buffered >= 0)
		close(t->fd_buffered);
	free(t->canonical);
	free(t->path);
	free(t);
}

int target_prepare(struct target *t, uint64_t end, char *err, size_t errlen)
{
	struct stat st;

	if (t->blockdev)
		return 0;
	if (!t->exists) {
		t->fd = open_fd(t, O_RDWR | O_CREAT | O_CLOEXEC);
		if (t->fd < 0)
			return fail(err, errlen, -errno, t->path, "cannot create: %s",
				    strerror(errno));
		if (fstat(t->fd, &st) < 0)
			return fail(err, errlen, -errno, t->path, "%s", strerror(errno));
		t->exists = true;
		t->dev = st.st_dev;
		t->ino = st.st_ino;
		t->size = (uint64_t)st.st_size;
	}
	if (t->size < end) {
		if (ftruncate(t->fd, (off_t)end) < 0)
			return fail(err, errlen, -errno, t->path,
				    "cannot extend to %llu bytes: %s",
				    (unsigned long long)end, strerror(errno));
		t->size = end;
	}
	return 0;
}

int target_probe_signature(struct target *t, char *what, size_t whatlen)
{
	const char *type = NULL, *label = NULL, *usage = NULL;
	blkid_probe pr;
	int rc, r;

	if (!t->blockdev)
		return 0;
	pr = blkid_new_probe_from_filename(t->path);
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_LABEL | BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);

	rc = blkid_do_safeprobe(pr);
	if (rc == 1) {
		r = 0;
	} else if (rc == -2) {
		snprintf(what, whatlen, "more than one signature (ambivalent probe)");
		r = 1;
	} else if (rc < 0) {
		r = -EIO;
	} else {
		r = 1;
		if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0 &&
		    blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) == 0)
			usage = "partition table";
		blkid_probe_lookup_value(pr, "LABEL", &label, NULL);
		if (!usage)
			blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
		snprintf(what, whatlen, "%s%s%s%s%s%s",
			 type ? type : "unknown",
			 usage ? " " : "", usage ? usage : "",
			 label ? " (label '" : "", label ? label : "",
			 label ? "')" : "");
	}
	blkid_free_probe(pr);
	return r;
}

bool target_same_object(const struct target *a, const struct target *b)
{
	if (!a->exists || !b->exists) {
		if (a->exists || b->exists)
			return false;
		return !strcmp(a->canonical, b->canonical);
	}
	if (a->blockdev != b->blockdev)
		return false;
	if (a->blockdev)
		return a->rdev == b->rdev;
	return a->dev == b->dev && a->ino == b->ino;
}

const char *target_path(const struct target *t)
{
	return t->path;
}

int target_fd(const struct target *t)
{
	return t->fd;
}

bool target_is_blockdev(const struct target *t)
{
	return t->blockdev;
}

bool target_exists(const struct target *t)
{
	return t->exists;
}

bool target_fell_back(const struct target *t)
{
	return t->fell_back;
}

uint64_t target_size(const struct target *t)
{
	return t->size;
}

unsigned target_block_size(const struct target *t)
{
	return t->block_size;
}

bool target_zoned_host_managed(const struct target *t)
{
	return t->zoned_hm;
}

bool target_can_zero_offload(const struct target *t)
{
	return t->zero_offload;
}

int target_zero_range(struct target *t, uint64_t offset, uint64_t length,
		      bool deallocate)
{
	uint64_t range[2] = { offset, length };

	if (deallocate) {
		if (fallocate(t->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)offset, (off_t)length) < 0)
			return -errno;
		return 0;
	}
	if (t->blockdev) {
		if (ioctl(t->fd, BLKZEROOUT, range) < 0)
			return -errno;
		return 0;
	}
	if (fallocate(t->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		      (off_t)offset, (off_t)length) < 0)
		return -errno;
	return 0;
}

static int buffered_fd(struct target *t)
{
	if (t->fd_buffered < 0 && t->buffered)
		return t->fd;
	if (t->fd_buffered < 0) {
		/* No O_EXCL: we already hold the device exclusively. */
		t->fd_buffered = open(t->path, O_CLOEXEC |
				      (t->role == TARGET_SOURCE ? O_RDONLY : O_RDWR));
		if (t->fd_buffered < 0)
			return -errno;
	}
	return t->fd_buffered;
}

int target_pread_tail(struct target *t, void *buf, size_t len, uint64_t offset)
{
	int fd = buffered_fd(t);
	size_t done = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* the file shrank under us */
		done += (size_t)n;
	}
	return 0;
}

int target_pwrite_tail(struct target *t, const void *buf, size_t len,
		       uint64_t offset)
{
	int fd = buffered_fd(t);
	size_t done = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done,
			   (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

int target_flush(struct target *t)
{
	if (t->fd < 0)
		return 0;
	if (fdatasync(t->fd) < 0)
		return -errno;
	if (t->fd_buffered >= 0 && fdatasync(t->fd_buffered) < 0)
		return -errno;
	return 0;
}

int target_next_data(struct target *t, uint64_t offset, uint64_t *data,
		     uint64_t *hole)
{
	off_t d, h;

	if (t->blockdev)
		return -EOPNOTSUPP;
	d = lseek(t->fd, (off_t)offset, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? -ENXIO : -EOPNOTSUPP;
	h = lseek(t->fd, d, SEEK_HOLE);
	if (h < 0)
		return -EOPNOTSUPP;
	*data = (uint64_t)d;
	*hole = (uint64_t)h;
	return 0;
}
