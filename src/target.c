// SPDX-License-Identifier: GPL-2.0
/*
 * target.c - see target.h.
 */
#define _GNU_SOURCE
#include <blkid.h>
#include <dirent.h>
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "remote.h"
#include "stream.h"
#include "target.h"

/* Files are addressed in 512-byte units (SPEC §1). */
#define FILE_BLOCK_SIZE 512

/* How deep partitions and loop devices may stack before we give up. */
#define MAX_STACK 8

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
	struct timespec mtime;	/* a source file's, for the map */
	uint64_t size;
	unsigned block_size;
	bool zoned_hm;
	bool zero_offload;
	bool created;		/* by target_prepare() */
	bool extended;		/* by target_prepare(), from orig_size */
	uint64_t orig_size;
	struct target_backing backing;
	char *backing_name;
	struct remote *remote;	/* an NBD export, or NULL */
	struct stream *stream;	/* a source read once (pipe, compressed), or NULL */
	bool pipe;		/* that stream is a pipe, FIFO or socket */
	dev_t chain[MAX_STACK];	/* block devices it stands on, itself first */
	unsigned nr_chain;
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

/*-----------------------------------------------------------------
 * The storage underneath: partitions and loop devices, through sysfs.
 *---------------------------------------------------------------*/
/* Read a sysfs attribute of block device @rdev into @buf; false if absent. */
static bool sysfs_block_attr(dev_t rdev, const char *attr, char *buf,
			     size_t buflen)
{
	char path[PATH_MAX];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", major(rdev),
		 minor(rdev), attr);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, (int)buflen, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static bool sysfs_block_u64(dev_t rdev, const char *attr, uint64_t *out)
{
	char buf[64], *end;

	if (!sysfs_block_attr(rdev, attr, buf, sizeof(buf)) || !buf[0])
		return false;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return !errno && !*end;
}

/* The whole disk a partition belongs to: its sysfs directory's parent. */
static bool partition_parent(dev_t rdev, dev_t *parent)
{
	char link[PATH_MAX], real[PATH_MAX], *slash;
	unsigned maj, min;
	FILE *f;
	int n;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(rdev),
		 minor(rdev));
	if (!realpath(link, real))
		return false;
	slash = strrchr(real, '/');
	if (!slash)
		return false;
	*slash = '\0';
	if (strlen(real) + sizeof("/dev") > sizeof(real))
		return false;
	strcat(real, "/dev");
	f = fopen(real, "re");
	if (!f)
		return false;
	n = fscanf(f, "%u:%u", &maj, &min);
	fclose(f);
	if (n != 2)
		return false;
	*parent = makedev(maj, min);
	return true;
}

/* "/dev/NAME" of block device @rdev, from its uevent; malloc'ed. */
static char *blockdev_name(dev_t rdev)
{
	char path[PATH_MAX], line[256], *name = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(rdev),
		 minor(rdev));
	f = fopen(path, "re");
	while (f && !name && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "DEVNAME=", 8) &&
		    asprintf(&name, "/dev/%s", line + 8) < 0)
			name = NULL;
	}
	if (f)
		fclose(f);
	if (!name && asprintf(&name, "/dev/block/%u:%u", major(rdev),
			      minor(rdev)) < 0)
		name = NULL;
	return name;
}

/*
 * Follow block device @rdev down to what it stands on, adding @base as
 * each layer maps its byte 0 further in. Fills @b (name malloc'ed into
 * *@name) and the chain of devices passed through.
 */
static void resolve_blockdev(dev_t rdev, uint64_t base, struct target_backing *b,
			     char **name, dev_t *chain, unsigned *nr_chain)
{
	char file[PATH_MAX];
	uint64_t start, offset;
	struct stat st;
	dev_t parent;
	size_t len;

	if (*nr_chain < MAX_STACK)
		chain[(*nr_chain)++] = rdev;
	if (*nr_chain < MAX_STACK && sysfs_block_u64(rdev, "partition", &start) &&
	    sysfs_block_u64(rdev, "start", &start) && partition_parent(rdev, &parent)) {
		resolve_blockdev(parent, base + start * 512, b, name, chain, nr_chain);
		return;
	}
	if (*nr_chain < MAX_STACK &&
	    sysfs_block_attr(rdev, "loop/backing_file", file, sizeof(file)) &&
	    sysfs_block_u64(rdev, "loop/offset", &offset)) {
		len = strlen(file);
		/* A deleted backing file can't be named by anyone else. */
		if (!(len > 10 && !strcmp(file + len - 10, " (deleted)")) &&
		    stat(file, &st) == 0) {
			if (S_ISBLK(st.st_mode)) {
				resolve_blockdev(st.st_rdev, base + offset, b, name,
						 chain, nr_chain);
				return;
			}
			if (S_ISREG(st.st_mode)) {
				*b = (struct target_backing) { BACKING_FILE,
					st.st_dev, st.st_ino, base + offset, NULL };
				*name = strdup(file);
				return;
			}
		}
	}
	*b = (struct target_backing) { BACKING_DISK, rdev, 0, base, NULL };
	*name = blockdev_name(rdev);
}

bool target_partition_of(dev_t rdev, dev_t *disk)
{
	uint64_t nr;

	return sysfs_block_u64(rdev, "partition", &nr) && partition_parent(rdev, disk);
}

static void resolve_backing(struct target *t)
{
	free(t->backing_name);
	t->backing_name = NULL;
	t->nr_chain = 0;
	if (t->remote) {
		/* The same URI (or server command) is the same storage. */
		t->backing = (struct target_backing) { .kind = BACKING_REMOTE };
		t->backing_name = strdup(t->path);
	} else if (!t->exists) {
		t->backing = (struct target_backing) { .kind = BACKING_NEW };
		t->backing_name = strdup(t->canonical ? t->canonical : t->path);
	} else if (t->blockdev) {
		resolve_blockdev(t->rdev, 0, &t->backing, &t->backing_name,
				 t->chain, &t->nr_chain);
	} else {
		t->backing = (struct target_backing) { BACKING_FILE, t->dev, t->ino,
						       0, NULL };
		t->backing_name = strdup(t->canonical ? t->canonical : t->path);
	}
	t->backing.name = t->backing_name ? t->backing_name : t->path;
}

const struct target_backing *target_backing(const struct target *t)
{
	return &t->backing;
}

bool target_same_storage(const struct target *a, const struct target *b,
			 uint64_t *a_base, uint64_t *b_base)
{
	const struct target_backing *x = &a->backing, *y = &b->backing;

	if (x->kind != y->kind)
		return false;
	if (x->kind == BACKING_NEW || x->kind == BACKING_REMOTE ?
	    strcmp(x->name, y->name) :
	    x->dev != y->dev || (x->kind == BACKING_FILE && x->ino != y->ino))
		return false;
	*a_base = x->base;
	*b_base = y->base;
	return true;
}

bool target_stands_on(const struct target *t, dev_t rdev)
{
	unsigned i;

	for (i = 0; i < t->nr_chain; i++)
		if (t->chain[i] == rdev)
			return true;
	return false;
}

/*
 * Is loop device @name (sysfs block name) over @t's storage where
 * [lo, hi) of it lies, and busy? Busy means an exclusive open fails:
 * mounted, held by device-mapper or by another program, or one of its
 * partitions is.
 */
static bool loop_user_busy(const struct target *t, const char *name,
			   uint64_t lo, uint64_t hi,
			   bool (*ours)(dev_t rdev, void *ctx), void *ctx,
			   char *busy, size_t busylen)
{
	struct target_backing b;
	char path[PATH_MAX], *bname = NULL;
	dev_t chain[MAX_STACK], rdev;
	unsigned nr_chain = 0, maj, min;
	uint64_t size = 0;
	bool hit = false;
	FILE *f;
	int fd, n;

	snprintf(path, sizeof(path), "/sys/block/%s/dev", name);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fscanf(f, "%u:%u", &maj, &min);
	fclose(f);
	rdev = makedev(maj, min);
	if (n != 2 || (ours && ours(rdev, ctx)))
		return false;
	resolve_blockdev(rdev, 0, &b, &bname, chain, &nr_chain);
	if (sysfs_block_u64(rdev, "size", &size) &&
	    b.kind == t->backing.kind && b.dev == t->backing.dev &&
	    (b.kind != BACKING_FILE || b.ino == t->backing.ino) &&
	    b.base < hi && lo < b.base + size * 512) {
		snprintf(path, sizeof(path), "/dev/%s", name);
		fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NOCTTY);
		if (fd >= 0)
			close(fd);
		else if (errno == EBUSY) {
			snprintf(busy, busylen, "%s", path);
			hit = true;
		}
	}
	free(bname);
	return hit;
}

int target_check_users(const struct target *t, uint64_t offset, uint64_t length,
		       bool (*ours)(dev_t rdev, void *ctx), void *ctx,
		       char *err, size_t errlen)
{
	uint64_t lo = t->backing.base + offset, hi = lo + length;
	char busy[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int r = 0;

	if (t->backing.kind == BACKING_NEW || t->remote || !length)
		return 0;
	dir = opendir("/sys/block");
	if (!dir)
		return 0;	/* no sysfs: nothing stands on anything */
	while (r == 0 && (de = readdir(dir))) {
		if (strncmp(de->d_name, "loop", 4) || !de->d_name[4])
			continue;
		if (loop_user_busy(t, de->d_name, lo, hi, ours, ctx, busy,
				   sizeof(busy)))
			r = fail(err, errlen, -EBUSY, t->path, "in use: it is "
				 "under %s, which is mounted or held by another "
				 "program", busy);
	}
	closedir(dir);
	return r;
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

/*
 * An exclusive open of a device that found it busy, tried again for a
 * while: a kcopy killed with I/O in flight on io_uring still holds its
 * devices for a moment after it is gone (the kernel ends those requests
 * and tears the ring down after the exit), and a re-run right after the
 * kill -9 must not call them in use. A device that stays busy is.
 */
#define EXCL_RETRY_MS 1500
#define EXCL_RETRY_STEP_MS 10

static int open_fd_excl(struct target *t, int flags)
{
	struct timespec step = { 0, EXCL_RETRY_STEP_MS * 1000000L };
	int fd, waited;

	for (waited = 0;; waited += EXCL_RETRY_STEP_MS) {
		fd = open_fd(t, flags);
		if (fd >= 0 || errno != EBUSY || !(flags & O_EXCL) ||
		    waited >= EXCL_RETRY_MS)
			return fd;
		nanosleep(&step, NULL);
	}
}

/*
 * The absolute path of @path without symlinks (realpath), malloc'ed. Where
 * that is longer than PATH_MAX (a deep directory: open() still works with
 * a short relative path), the working directory joined with @path.
 */
char *target_absolute_path(const char *path)
{
	char *real = realpath(path, NULL), *cwd, *abs = NULL;

	if (real || errno != ENAMETOOLONG)
		return real;
	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&abs, "%s/%s", cwd, path) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

static int dest_dir_check(struct target *t, char *err, size_t errlen)
{
	const char *slash = strrchr(t->path, '/');
	const char *base = slash ? slash + 1 : t->path;
	char *dir, *real;
	int r = 0;

	if (!*base)
		return fail(err, errlen, -EISDIR, t->path, "is a directory");
	dir = slash ? strndup(t->path, (size_t)(slash - t->path) + 1) : strdup(".");
	if (!dir)
		return -ENOMEM;
	/* Compare missing files by canonical path: "a/../x" is "x". */
	real = target_absolute_path(dir);
	if (!real) {
		r = fail(err, errlen, -errno, t->path, "cannot create: %s",
			 strerror(errno));
		goto out;
	}
	/* Checked now, so that a refusal comes before anything is written. */
	if (access(dir, W_OK | X_OK) < 0) {
		r = fail(err, errlen, -errno, t->path, "cannot create: %s",
			 strerror(errno));
		goto out;
	}
	if (asprintf(&t->canonical, "%s/%s", real, base) < 0) {
		t->canonical = NULL;
		r = -ENOMEM;
	}
out:
	free(real);
	free(dir);
	return r;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT))
		return false;
	if (S_ISBLK(a->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

bool target_is_stat(const struct target *t, const struct stat *st)
{
	struct stat mine = { .st_mode = t->blockdev ? S_IFBLK : S_IFREG,
			     .st_dev = t->dev, .st_ino = t->ino, .st_rdev = t->rdev };

	return t->exists && !t->remote && same_file(&mine, st);
}

/*
 * A source read once, from @fd (stdin, a pipe, a FIFO): decoded when
 * its first bytes say it is compressed (unless TARGET_RAW).
 */
static int open_pipe(struct target *t, int fd, unsigned flags, char *err,
		     size_t errlen)
{
	int r;

	if (fd < 0)
		return fail(err, errlen, -errno, t->path, "%s", strerror(errno));
	r = stream_open(fd, !(flags & TARGET_RAW), &t->stream);
	if (r < 0)
		return fail(err, errlen, r, t->path, "cannot read: %s", strerror(-r));
	t->exists = true;
	t->pipe = true;
	t->buffered = true;
	t->block_size = FILE_BLOCK_SIZE;
	t->backing = (struct target_backing) { .kind = BACKING_NEW };
	t->backing_name = strdup(t->path);
	t->backing.name = t->backing_name ? t->backing_name : t->path;
	return 0;
}

/* Do these first bytes start a gzip, xz, zstd (or skippable) or bzip2 stream? */
static bool compressed_magic(const unsigned char *m)
{
	return (m[0] == 0x1f && m[1] == 0x8b && m[2] == 8) ||
	       !memcmp(m, "\xfd" "7zXZ\0", 6) ||
	       !memcmp(m, "\x28\xb5\x2f\xfd", 4) ||
	       ((m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d && m[3] == 0x18) ||
	       (!memcmp(m, "BZh", 3) && m[3] >= '1' && m[3] <= '9');
}

/*
 * A regular source file whose first bytes are gzip, xz, zstd or bzip2
 * magic is an image compressed: it is read as a stream and decoded.
 */
static int sniff_compressed(struct target *t, char *err, size_t errlen)
{
	unsigned char magic[6];
	struct stream *s;
	int fd, r;

	/*
	 * A look at 6 bytes, only where the file has data: a hole at 0 is
	 * zeros (no magic), and a sparse copy must read no hole. A file
	 * that can't be read there is copied, and that read fails then.
	 */
	if (t->size < sizeof(magic) || lseek(t->fd, 0, SEEK_DATA) != 0)
		return 0;
	fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(err, errlen, -errno, t->path, "%s", strerror(errno));
	if (pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    !compressed_magic(magic)) {
		close(fd);
		return 0;
	}
	r = stream_open(fd, true, &s);
	if (r < 0)
		return fail(err, errlen, r, t->path, "cannot read: %s", strerror(-r));
	if (stream_format(s) == STREAM_RAW) {
		stream_close(s);
		return 0;
	}
	t->stream = s;
	t->buffered = true;
	return 0;
}

int target_open(const char *path, enum target_role role, unsigned flags,
		const struct stat *expect, struct target **out, char *err,
		size_t errlen)
{
	struct target *t;
	struct stat st;
	int oflags, r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = t->fd_buffered = -1;
	t->role = role;
	t->buffered = flags & TARGET_BUFFERED;
	t->block_size = FILE_BLOCK_SIZE;
	t->path = strdup(path);
	if (!t->path) {
		r = -ENOMEM;
		goto bad;
	}

	if (role == TARGET_SOURCE && !strcmp(path, "-")) {
		r = open_pipe(t, dup(STDIN_FILENO), flags, err, errlen);
		if (r < 0)
			goto bad;
		*out = t;
		return 0;
	}
	if (stat(path, &st) < 0) {
		if (errno != ENOENT || role == TARGET_SOURCE || expect) {
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
		resolve_backing(t);
		*out = t;
		return 0;
	}
	if (role == TARGET_SOURCE && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		r = open_pipe(t, open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), flags,
			      err, errlen);
		if (r < 0)
			goto bad;
		*out = t;
		return 0;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		r = fail(err, errlen, -EINVAL, path, "%s", file_type_name(st.st_mode));
		goto bad;
	}
	t->exists = true;
	t->blockdev = S_ISBLK(st.st_mode);

	oflags = O_CLOEXEC | O_NOCTTY | (role == TARGET_SOURCE ? O_RDONLY : O_RDWR);
	if (role == TARGET_DEST && t->blockdev && !(flags & TARGET_SHARED))
		oflags |= O_EXCL;
	t->fd = open_fd_excl(t, oflags);
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
	/* The object judged earlier must be the one now open. */
	if (expect && !same_file(expect, &st)) {
		r = fail(err, errlen, -ESTALE, path, "changed while it was being checked");
		goto bad;
	}
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->rdev = st.st_rdev;
	t->mtime = st.st_mtim;
	t->canonical = target_absolute_path(path);
	if (t->blockdev) {
		r = inspect_blockdev(t, err, errlen);
		if (r < 0)
			goto bad;
	} else {
		t->size = (uint64_t)st.st_size;
		t->zero_offload = true;	/* tried at run time, falls back */
	}
	if (role == TARGET_SOURCE && !t->blockdev && !(flags & TARGET_RAW)) {
		r = sniff_compressed(t, err, errlen);
		if (r < 0)
			goto bad;
	}
	resolve_backing(t);
	*out = t;
	return 0;

bad:
	target_close(t);
	return r;
}

int target_open_remote(const char *spec, enum target_role role,
		       unsigned connections, struct target **out, char *err,
		       size_t errlen)
{
	struct target *t;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = t->fd_buffered = -1;
	t->role = role;
	t->path = strdup(spec);
	if (!t->path) {
		r = -ENOMEM;
		goto bad;
	}
	r = remote_open(spec, role == TARGET_DEST, connections, &t->remote, err,
			errlen);
	if (r < 0)
		goto bad;
	t->exists = true;
	t->buffered = true;	/* no page cache of ours, nothing to align for */
	t->size = remote_info(t->remote)->size;
	t->block_size = remote_info(t->remote)->block_size;
	t->zero_offload = remote_info(t->remote)->can_zero;
	resolve_backing(t);
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
	remote_close(t->remote);
	stream_close(t->stream);
	if (t->fd >= 0)
		close(t->fd);
	if (t->fd_buffered >= 0)
		close(t->fd_buffered);
	free(t->backing_name);
	free(t->canonical);
	free(t->path);
	free(t);
}

int target_prepare(struct target *t, uint64_t end, char *err, size_t errlen)
{
	struct stat st;

	if (t->blockdev || t->remote)
		return 0;
	if (!t->exists) {
		/*
		 * O_EXCL: a file that appeared since the checks is not ours.
		 * Created without O_DIRECT (a filesystem that refuses it may
		 * create the file and then fail the open), then opened.
		 */
		int fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
			      O_NOCTTY, 0666);

		if (fd < 0)
			return fail(err, errlen, -errno, t->path, "cannot create: %s",
				    strerror(errno));
		t->created = true;
		if (fstat(fd, &st) < 0) {
			close(fd);
			return fail(err, errlen, -errno, t->path, "%s", strerror(errno));
		}
		close(fd);
		t->exists = true;
		t->dev = st.st_dev;
		t->ino = st.st_ino;
		t->size = (uint64_t)st.st_size;
		t->fd = open_fd(t, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (t->fd < 0)
			return fail(err, errlen, -errno, t->path, "cannot open: %s",
				    strerror(errno));
		resolve_backing(t);
	}
	if (t->size < end) {
		if (ftruncate(t->fd, (off_t)end) < 0)
			return fail(err, errlen, -errno, t->path,
				    "cannot extend to %llu bytes: %s",
				    (unsigned long long)end, strerror(errno));
		if (!t->extended)
			t->orig_size = t->size;
		t->extended = true;
		t->size = end;
	}
	return 0;
}

void target_unprepare(struct target *t)
{
	struct stat st;

	if (t->created) {
		/* Only the file we made: not one that replaced it since. */
		if (stat(t->path, &st) == 0 && st.st_dev == t->dev &&
		    st.st_ino == t->ino)
			unlink(t->path);
		close(t->fd);
		t->fd = -1;
		t->created = t->exists = t->extended = false;
		resolve_backing(t);
	} else if (t->extended) {
		if (ftruncate(t->fd, (off_t)t->orig_size) == 0) {
			t->size = t->orig_size;
			t->extended = false;
		}
	}
}

bool target_created(const struct target *t)
{
	return t->created;
}

char *target_object_line(const struct target *t)
{
	const struct target_backing *b = &t->backing;
	char *line = NULL;
	int n;

	if (!t->exists)
		return NULL;
	if (t->pipe)
		return NULL;	/* nothing names what a pipe carries */
	if (t->remote)
		/* Nothing names an export's identity but its name and size. */
		n = asprintf(&line, "nbd:%llu", (unsigned long long)t->size);
	else if (t->stream)
		/* The compressed file, as a source file is; decoded. */
		n = asprintf(&line, "%s:%llu:%llu:%llu:%lld.%09ld",
			     stream_format_name(stream_format(t->stream)),
			     (unsigned long long)t->dev, (unsigned long long)t->ino,
			     (unsigned long long)t->size, (long long)t->mtime.tv_sec,
			     t->mtime.tv_nsec);
	else if (t->blockdev)
		n = asprintf(&line, "blk:%u:%u:%llu", major(t->rdev), minor(t->rdev),
			     (unsigned long long)t->size);
	else if (t->role == TARGET_SOURCE)
		/* A source file changed since the map was made is another file. */
		n = asprintf(&line, "file:%llu:%llu:%llu:%lld.%09ld",
			     (unsigned long long)t->dev, (unsigned long long)t->ino,
			     (unsigned long long)t->size, (long long)t->mtime.tv_sec,
			     t->mtime.tv_nsec);
	else
		n = asprintf(&line, "file:%llu:%llu:%llu", (unsigned long long)t->dev,
			     (unsigned long long)t->ino, (unsigned long long)t->size);
	if (n >= 0 && t->blockdev) {
		char *more = NULL;

		/* What a loop device or partition stands on is part of it. */
		if (b->kind == BACKING_FILE)
			n = asprintf(&more, "%s@file:%llu:%llu+%llu", line,
				     (unsigned long long)b->dev,
				     (unsigned long long)b->ino,
				     (unsigned long long)b->base);
		else
			n = asprintf(&more, "%s@blk:%u:%u+%llu", line, major(b->dev),
				     minor(b->dev), (unsigned long long)b->base);
		free(line);
		line = n >= 0 ? more : NULL;
	}
	return n >= 0 ? line : NULL;
}

const char *target_canonical_path(const struct target *t)
{
	return t->canonical ? t->canonical : t->path;
}

/*
 * libblkid's USAGE in a user's words: "ext4 file system", "LVM2_member
 * RAID member"... or nothing where the type says it all ("swap other").
 */
static const char *usage_words(const char *usage)
{
	if (!strcmp(usage, "filesystem"))
		return "file system";
	if (!strcmp(usage, "raid"))
		return "(RAID or volume member)";
	if (!strcmp(usage, "crypto"))
		return "(encrypted volume)";
	return NULL;
}

/*
 * An export's signatures, where libblkid looks for them: its first and
 * last MiB (superblocks, partition tables and their backups, RAID and
 * volume labels at the end) read into a sparse memory file of the
 * export's size, probed as a device would be.
 */
#define PROBE_SPAN (1u << 20)

static int remote_copy_span(struct target *t, int image, void *buf, uint64_t off,
			    size_t len)
{
	int r = remote_pread(t->remote, buf, len, off);

	if (r < 0)
		return r;
	if (pwrite(image, buf, len, (off_t)off) != (ssize_t)len)
		return -errno;
	return 0;
}

static int remote_probe(struct target *t, blkid_probe *out, int *image_out)
{
	uint64_t size = t->size, head = size < PROBE_SPAN ? size : PROBE_SPAN;
	uint64_t tail = size - head < PROBE_SPAN ? size - head : PROBE_SPAN;
	void *buf = malloc(PROBE_SPAN);
	int image = memfd_create("kcopy-probe", MFD_CLOEXEC), r;
	blkid_probe pr = NULL;

	if (!buf || image < 0) {
		r = buf ? -errno : -ENOMEM;
		goto bad;
	}
	if (ftruncate(image, (off_t)size) < 0) {
		r = -errno;
		goto bad;
	}
	r = remote_copy_span(t, image, buf, 0, head);
	if (r == 0 && tail)
		r = remote_copy_span(t, image, buf, size - tail, tail);
	if (r < 0)
		goto bad;
	pr = blkid_new_probe();
	if (!pr || blkid_probe_set_device(pr, image, 0, (blkid_loff_t)size) < 0) {
		r = -ENOMEM;
		goto bad;
	}
	free(buf);
	*out = pr;
	*image_out = image;
	return 0;

bad:
	if (pr)
		blkid_free_probe(pr);
	if (image >= 0)
		close(image);
	free(buf);
	return r;
}

int target_probe_signature(struct target *t, char *what, size_t whatlen)
{
	const char *type = NULL, *label = NULL, *usage = NULL;
	blkid_probe pr = NULL;
	int rc, r, image = -1;

	if (!t->blockdev && !t->remote)
		return 0;
	if (t->remote) {
		r = remote_probe(t, &pr, &image);
		if (r < 0 || !pr)
			return r < 0 ? r : -EIO;
	} else {
		pr = blkid_new_probe_from_filename(t->path);
		if (!pr)
			return errno ? -errno : -EIO;
	}
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
		if (!usage && blkid_probe_lookup_value(pr, "USAGE", &usage, NULL) == 0)
			usage = usage_words(usage);
		snprintf(what, whatlen, "%s%s%s%s%s%s",
			 type ? type : "unknown",
			 usage ? " " : "", usage ? usage : "",
			 label ? " (label '" : "", label ? label : "",
			 label ? "')" : "");
	}
	blkid_free_probe(pr);
	if (image >= 0)
		close(image);
	return r;
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

bool target_is_remote(const struct target *t)
{
	return t->remote;
}

struct remote *target_remote(const struct target *t)
{
	return t->remote;
}

bool target_is_stream(const struct target *t)
{
	return t->stream;
}

struct stream *target_stream(const struct target *t)
{
	return t->stream;
}

bool target_is_pipe(const struct target *t)
{
	return t->pipe;
}

bool target_is_fixed_size(const struct target *t)
{
	return t->blockdev || t->remote;
}

bool target_exists(const struct target *t)
{
	return t->exists;
}

bool target_fell_back(const struct target *t)
{
	return t->fell_back;
}

bool target_is_direct(const struct target *t)
{
	return !t->buffered;
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
			return -ENODATA;	/* the file shrank under us */
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
	if (t->remote)
		return remote_flush(t->remote);
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

	if (t->blockdev || t->remote)
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
