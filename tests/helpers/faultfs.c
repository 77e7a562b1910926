/*
 * faultfs - a one-file FUSE filesystem for fault injection in kcopy's tests.
 *
 * Usage:
 *   faultfs -f [fuse opts] --image=PATH --name=NAME
 *           [--read-fail=OFF+LEN[,OFF+LEN...]]...
 *           [--write-fail=OFF+LEN[,OFF+LEN...]]...
 *           [--corrupt-write=OFF+LEN[,OFF+LEN...]]...
 *           [--log=PATH] [--size=BYTES] [--delay-us=USEC]
 *           [--fsync-fail] [--fsync-lose=N] [--no-fallocate] [--faults=PATH]
 *           MOUNTPOINT
 *
 * MOUNTPOINT/NAME is the only file; it is backed by the image file PATH
 * (pread/pwrite on it, size = image size).  All files are opened with
 * direct_io, attribute/entry caching is off.
 *
 *  --read-fail   a read request overlapping a range fails with EIO.
 *  --write-fail  a write request overlapping a range fails with EIO and the
 *                image is left untouched (the whole request fails).  A data-
 *                changing fallocate (PUNCH_HOLE / ZERO_RANGE) overlapping a
 *                range fails the same way.
 *  --corrupt-write  a write request overlapping a range succeeds, but the
 *                bytes of it inside the range reach the image inverted
 *                (XOR 0xff): silent corruption, for --verify.
 *  --log         append one line per request, at arrival, in arrival order:
 *                  "R OFF LEN"  read          "W OFF LEN"  write
 *                  "F OFF LEN MODE"  fallocate (MODE in decimal)
 *                  "S 0 0"      fsync/fdatasync
 *                  "T SIZE 0"   truncate
 * (failed requests are logged too).
 *  --size        create PATH if missing and set its size to BYTES at start.
 *  --delay-us    sleep USEC microseconds before serving each read/write.
 *  --fsync-delay-us  sleep USEC microseconds before serving each fsync.
 *  --fsync-fail  fsync/fdatasync of the file returns EIO.
 *  --fsync-lose  the next N fsync/fdatasync calls (N = 0: all of them) fail
 *                with EIO, and each one undoes the writes made since the
 *                last fsync that succeeded: the image gets back the bytes it
 *                had, as if a volatile write cache had lost them (a later
 *                fsync may succeed; what it lost stays lost).  Only writes
 *                made while --fsync-lose is in force are undone, and only
 *                within the image's size at the time of the write.
 *  --no-fallocate  fallocate returns EOPNOTSUPP.
 *  --faults      the fault set is read again from PATH at every open of the
 *                file, so that a test can change the faults between two runs
 *                of a program without a remount (which would give the file
 *                another st_dev).  PATH holds whitespace-separated words
 *                --read-fail=..., --write-fail=..., --corrupt-write=...,
 *                --fsync-fail,
 *                --fsync-lose=N and --delay-us=USEC, with the syntax above
 *                (N counts from the load); together they
 *                replace the faults and the delay given on the command line.
 *                A missing or empty PATH means no faults and no delay; a bad
 *                word fails the open with EINVAL (and a message on stderr).
 *                Change PATH only while no request is in flight.
 *
 * Numbers are decimal bytes (0x hex accepted) with optional suffix
 * s (512), K, M, G, T (powers of 1024).
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

struct range {
	uint64_t off;
	uint64_t len;
};

struct range_list {
	struct range *r;
	size_t n;
	size_t cap;
};

static struct {
	char *image;
	char *name;
	char *log;
	char *size;
	char *delay;
	char *fsync_delay;
	char *faults;
	char *fsync_lose;
	int fsync_fail;
	int no_fallocate;
	int show_help;
} opts;

static struct range_list read_fail, write_fail, corrupt_write;
static int fsync_fail;
static long fsync_lose = -1;	/* -1: off; 0: every fsync; N: the first N */
static long fsync_lose_left;	/* of those N, still to fail */
/* the range lists, fsync_fail, fsync_lose and delay_us (--faults) */
static pthread_rwlock_t faults_lock = PTHREAD_RWLOCK_INITIALIZER;

/* --fsync-lose: the old bytes under each write since the last good fsync */
struct undo {
	off_t off;
	size_t len;
	char *old;
};
static struct undo *undo_log;
static size_t nr_undo, cap_undo;
static int undo_on;		/* --fsync-lose or --faults given */
static pthread_mutex_t undo_lock = PTHREAD_MUTEX_INITIALIZER;
static int img_fd = -1;
static int log_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long delay_us;
static unsigned long fsync_delay_us;	/* --fsync-delay-us, fixed */
static char file_path[PATH_MAX + 2]; /* "/" NAME */

enum { KEY_READ_FAIL, KEY_WRITE_FAIL, KEY_CORRUPT_WRITE, KEY_HELP };

#define OPT(t, p) { t, offsetof(__typeof__(opts), p), 1 }
static const struct fuse_opt faultfs_opts[] = {
	OPT("--image=%s", image),
	OPT("--name=%s", name),
	OPT("--log=%s", log),
	OPT("--size=%s", size),
	OPT("--delay-us=%s", delay),
	OPT("--fsync-delay-us=%s", fsync_delay),
	OPT("--faults=%s", faults),
	OPT("--fsync-lose=%s", fsync_lose),
	OPT("--fsync-fail", fsync_fail),
	OPT("--no-fallocate", no_fallocate),
	FUSE_OPT_KEY("--read-fail=", KEY_READ_FAIL),
	FUSE_OPT_KEY("--write-fail=", KEY_WRITE_FAIL),
	FUSE_OPT_KEY("--corrupt-write=", KEY_CORRUPT_WRITE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_END
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s -f [fuse opts] --image=PATH --name=NAME\n"
		"       [--read-fail=OFF+LEN[,...]]... [--write-fail=OFF+LEN[,...]]...\n"
		"       [--corrupt-write=OFF+LEN[,...]]...\n"
		"       [--log=PATH] [--size=BYTES] [--delay-us=USEC]\n"
		"       [--fsync-fail] [--fsync-lose=N] [--no-fallocate] [--faults=PATH]\n"
		"       MOUNTPOINT\n",
		prog);
}

/* Parse an unsigned number with optional 0x prefix and s/K/M/G/T suffix.
 * On success store it and return a pointer past it, else NULL. */
static const char *parse_num(const char *s, uint64_t *out)
{
	char *end;
	int base = 10;
	uint64_t v, mul = 1;

	if (*s < '0' || *s > '9')
		return NULL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return NULL;
	}
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || end == s)
		return NULL;
	switch (*end) {
	case 's': mul = 512; end++; break;
	case 'K': case 'k': mul = 1ULL << 10; end++; break;
	case 'M': case 'm': mul = 1ULL << 20; end++; break;
	case 'G': case 'g': mul = 1ULL << 30; end++; break;
	case 'T': case 't': mul = 1ULL << 40; end++; break;
	default: break;
	}
	if (mul != 1 && v > UINT64_MAX / mul)
		return NULL;
	*out = v * mul;
	return end;
}

static int add_ranges(struct range_list *l, const char *spec, const char *what)
{
	const char *p = spec;

	while (*p) {
		struct range r;
		const char *q;

		if (*p == ',') {
			p++;
			continue;
		}
		q = parse_num(p, &r.off);
		if (!q || *q != '+')
			goto bad;
		q = parse_num(q + 1, &r.len);
		if (!q || (*q && *q != ',') || r.len == 0 ||
		    r.off > UINT64_MAX - r.len)
			goto bad;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 8;
			struct range *nr = realloc(l->r, cap * sizeof(*nr));
			if (!nr) {
				perror("faultfs: realloc");
				return -1;
			}
			l->r = nr;
			l->cap = cap;
		}
		l->r[l->n++] = r;
		p = q;
	}
	return 0;
bad:
	fprintf(stderr, "faultfs: bad %s range list '%s' (want OFF+LEN[,OFF+LEN...])\n",
		what, spec);
	return -1;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	switch (key) {
	case KEY_READ_FAIL:
		return add_ranges(&read_fail, arg + strlen("--read-fail="), "--read-fail");
	case KEY_WRITE_FAIL:
		return add_ranges(&write_fail, arg + strlen("--write-fail="), "--write-fail");
	case KEY_CORRUPT_WRITE:
		return add_ranges(&corrupt_write, arg + strlen("--corrupt-write="),
				  "--corrupt-write");
	case KEY_HELP:
		opts.show_help = 1;
		return 1; /* let fuse print its own options too */
	default:
		return 1; /* keep (mountpoint, fuse options) */
	}
}

static int overlaps(const struct range_list *l, uint64_t off, uint64_t len)
{
	int hit = 0;

	if (len == 0)
		return 0;
	pthread_rwlock_rdlock(&faults_lock);
	for (size_t i = 0; i < l->n && !hit; i++) {
		const struct range *r = &l->r[i];
		if (off < r->off + r->len && r->off < off + len)
			hit = 1;
	}
	pthread_rwlock_unlock(&faults_lock);
	return hit;
}

static int parse_delay(const char *s, unsigned long *out)
{
	uint64_t d;
	const char *e = parse_num(s, &d);

	if (!e || *e || d > 3600ULL * 1000000) {
		fprintf(stderr, "faultfs: bad --delay-us '%s'\n", s);
		return -1;
	}
	*out = (unsigned long)d;
	return 0;
}

static int parse_lose(const char *s, long *out)
{
	uint64_t n;
	const char *e = parse_num(s, &n);

	if (!e || *e || n > 1000000) {
		fprintf(stderr, "faultfs: bad --fsync-lose '%s'\n", s);
		return -1;
	}
	*out = (long)n;
	return 0;
}

/*
 * --faults=PATH: read the fault set from PATH and put it in force.  Returns
 * 0, or -1 (with a message) if a word is bad; the faults in force then stay.
 */
static int reload_faults(void)
{
	struct range_list rf = { 0 }, wf = { 0 }, cw = { 0 }, old_rf, old_wf, old_cw;
	unsigned long delay = 0;
	long lose = -1;
	int ffail = 0, r = 0;
	char *word = NULL;
	FILE *f = fopen(opts.faults, "re");

	if (!f && errno != ENOENT) {
		fprintf(stderr, "faultfs: open %s: %s\n", opts.faults, strerror(errno));
		return -1;
	}
	while (f && r == 0 && fscanf(f, "%ms", &word) == 1) {
		if (!strncmp(word, "--read-fail=", 12))
			r = add_ranges(&rf, word + 12, "--read-fail");
		else if (!strncmp(word, "--write-fail=", 13))
			r = add_ranges(&wf, word + 13, "--write-fail");
		else if (!strncmp(word, "--corrupt-write=", 16))
			r = add_ranges(&cw, word + 16, "--corrupt-write");
		else if (!strcmp(word, "--fsync-fail"))
			ffail = 1;
		else if (!strncmp(word, "--fsync-lose=", 13))
			r = parse_lose(word + 13, &lose);
		else if (!strncmp(word, "--delay-us=", 11))
			r = parse_delay(word + 11, &delay);
		else {
			fprintf(stderr, "faultfs: %s: unknown word '%s'\n", opts.faults, word);
			r = -1;
		}
		free(word);
		word = NULL;
	}
	if (f)
		fclose(f);
	if (r) {
		free(rf.r);
		free(wf.r);
		free(cw.r);
		return -1;
	}
	pthread_rwlock_wrlock(&faults_lock);
	old_rf = read_fail;
	old_wf = write_fail;
	old_cw = corrupt_write;
	read_fail = rf;
	write_fail = wf;
	corrupt_write = cw;
	fsync_fail = ffail;
	fsync_lose = lose;
	fsync_lose_left = lose;
	delay_us = delay;
	pthread_rwlock_unlock(&faults_lock);
	free(old_rf.r);
	free(old_wf.r);
	free(old_cw.r);
	return 0;
}

static void log_line(const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	if (log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	pthread_mutex_lock(&log_lock);
	for (char *p = buf; n > 0;) {
		ssize_t w = write(log_fd, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int)w;
	}
	pthread_mutex_unlock(&log_lock);
}

static void sleep_us(unsigned long us)
{
	struct timespec ts = {
		.tv_sec = (time_t)(us / 1000000),
		.tv_nsec = (long)(us % 1000000) * 1000,
	};

	while (us && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void maybe_delay(void)
{
	unsigned long us;

	pthread_rwlock_rdlock(&faults_lock);
	us = delay_us;
	pthread_rwlock_unlock(&faults_lock);
	sleep_us(us);
}

static int is_file(const char *path)
{
	return strcmp(path, file_path) == 0;
}

static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->use_ino = 0;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	return NULL;
}

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_uid = getuid();
		st->st_gid = getgid();
		return 0;
	}
	if (!is_file(path))
		return -ENOENT;
	struct stat ist;
	if (fstat(img_fd, &ist) < 0)
		return -errno;
	st->st_mode = S_IFREG | (ist.st_mode & 07777);
	st->st_nlink = 1;
	st->st_uid = ist.st_uid;
	st->st_gid = ist.st_gid;
	st->st_size = ist.st_size;
	st->st_blocks = ist.st_blocks;
	st->st_blksize = 4096;
	st->st_atim = ist.st_atim;
	st->st_mtim = ist.st_mtim;
	st->st_ctim = ist.st_ctim;
	return 0;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	filler(buf, opts.name, NULL, 0, 0);
	return 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/") == 0)
		return -EISDIR;
	if (!is_file(path))
		return -ENOENT;
	if (opts.faults && reload_faults() < 0)
		return -EINVAL;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	if (!is_file(path))
		return -EPERM; /* exactly one file */
	return ff_open(path, fi);
}

static int ff_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	size_t done = 0;

	(void)path;
	(void)fi;
	log_line("R %jd %zu\n", (intmax_t)off, size);
	maybe_delay();
	if (overlaps(&read_fail, (uint64_t)off, size))
		return -EIO;
	while (done < size) {
		ssize_t n = pread(img_fd, buf + done, size - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (int)done : -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int)done;
}

static int write_image(const char *buf, size_t size, off_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pwrite(img_fd, buf + done, size - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (int)done : -errno;
		}
		done += (size_t)n;
	}
	return (int)done;
}

/* Under undo_lock: keep the bytes that a write will replace, if it may have
 * to be undone. */
static int save_undo(off_t off, size_t size)
{
	struct undo u = { off, 0, NULL };
	long lose;
	ssize_t n;

	pthread_rwlock_rdlock(&faults_lock);
	lose = fsync_lose;
	pthread_rwlock_unlock(&faults_lock);
	if (lose < 0)
		return 0;
	u.old = malloc(size ? size : 1);
	if (!u.old)
		return -ENOMEM;
	do
		n = pread(img_fd, u.old, size, off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		free(u.old);
		return -errno;
	}
	u.len = (size_t)n;
	if (nr_undo == cap_undo) {
		size_t cap = cap_undo ? cap_undo * 2 : 64;
		struct undo *nu = realloc(undo_log, cap * sizeof(*nu));

		if (!nu) {
			free(u.old);
			return -ENOMEM;
		}
		undo_log = nu;
		cap_undo = cap;
	}
	undo_log[nr_undo++] = u;
	return 0;
}

/* Under undo_lock: forget the undo log, or play it back (newest first). */
static void drop_undo(int play_back)
{
	while (nr_undo) {
		struct undo *u = &undo_log[--nr_undo];

		if (play_back)
			write_image(u->old, u->len, u->off);
		free(u->old);
	}
}

/* --corrupt-write: a copy of buf with the bytes inside the ranges inverted,
 * or NULL (*err set on ENOMEM) if the write does not overlap them */
static char *corrupted(const char *buf, size_t size, off_t off, int *err)
{
	uint64_t start = (uint64_t)off, end = start + size;
	char *copy = NULL;

	*err = 0;
	if (!overlaps(&corrupt_write, start, size))
		return NULL;
	copy = malloc(size ? size : 1);
	if (!copy) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(copy, buf, size);
	pthread_rwlock_rdlock(&faults_lock);
	for (size_t i = 0; i < corrupt_write.n; i++) {
		const struct range *r = &corrupt_write.r[i];
		uint64_t a = r->off > start ? r->off : start;
		uint64_t b = r->off + r->len < end ? r->off + r->len : end;

		for (; a < b; a++)
			copy[a - start] ^= (char)0xff;
	}
	pthread_rwlock_unlock(&faults_lock);
	return copy;
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *bad;
	int r;

	(void)path;
	(void)fi;
	log_line("W %jd %zu\n", (intmax_t)off, size);
	maybe_delay();
	if (overlaps(&write_fail, (uint64_t)off, size))
		return -EIO;
	bad = corrupted(buf, size, off, &r);
	if (r)
		return r;
	if (undo_on) {
		pthread_mutex_lock(&undo_lock);
		r = save_undo(off, size);
		if (r == 0)
			r = write_image(bad ? bad : buf, size, off);
		pthread_mutex_unlock(&undo_lock);
	} else {
		r = write_image(bad ? bad : buf, size, off);
	}
	free(bad);
	return r;
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)fi;
	if (!is_file(path))
		return strcmp(path, "/") ? -ENOENT : -EISDIR;
	log_line("T %jd 0\n", (intmax_t)size);
	return ftruncate(img_fd, size) < 0 ? -errno : 0;
}

static int ff_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	log_line("F %jd %jd %d\n", (intmax_t)off, (intmax_t)len, mode);
	if (opts.no_fallocate)
		return -EOPNOTSUPP;
	if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) &&
	    overlaps(&write_fail, (uint64_t)off, (uint64_t)len))
		return -EIO;
	return fallocate(img_fd, mode, off, len) < 0 ? -errno : 0;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int ffail, lose, r;

	(void)path;
	(void)datasync;
	(void)fi;
	log_line("S 0 0\n");
	sleep_us(fsync_delay_us);
	pthread_rwlock_rdlock(&faults_lock);
	ffail = fsync_fail;
	pthread_rwlock_unlock(&faults_lock);
	if (ffail)
		return -EIO;
	if (!undo_on)
		return fdatasync(img_fd) < 0 ? -errno : 0;
	pthread_mutex_lock(&undo_lock);	/* no write while the cache is lost */
	pthread_rwlock_wrlock(&faults_lock);
	lose = fsync_lose >= 0 && (fsync_lose == 0 || fsync_lose_left > 0);
	if (lose && fsync_lose > 0)
		fsync_lose_left--;
	pthread_rwlock_unlock(&faults_lock);
	if (lose) {
		drop_undo(1);
		r = -EIO;
	} else {
		r = fdatasync(img_fd) < 0 ? -errno : 0;
		if (r == 0)
			drop_undo(0);
	}
	pthread_mutex_unlock(&undo_lock);
	return r;
}

static int ff_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int ff_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int ff_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(img_fd, sv) < 0 ? -errno : 0;
}

static int ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)fi;
	if (!is_file(path))
		return 0;
	return fchmod(img_fd, mode & 07777) < 0 ? -errno : 0;
}

static int ff_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)fi;
	if (!is_file(path))
		return 0;
	return fchown(img_fd, uid, gid) < 0 ? -errno : 0;
}

static int ff_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	(void)fi;
	if (!is_file(path))
		return 0;
	return futimens(img_fd, tv) < 0 ? -errno : 0;
}

static const struct fuse_operations ff_ops = {
	.init = ff_init,
	.getattr = ff_getattr,
	.readdir = ff_readdir,
	.open = ff_open,
	.create = ff_create,
	.read = ff_read,
	.write = ff_write,
	.truncate = ff_truncate,
	.fallocate = ff_fallocate,
	.fsync = ff_fsync,
	.flush = ff_flush,
	.release = ff_release,
	.statfs = ff_statfs,
	.chmod = ff_chmod,
	.chown = ff_chown,
	.utimens = ff_utimens,
};

/*
 * fuse_main() of libfuse 3.14.0 warns "Ignoring invalid max threads value";
 * do its job by hand with the 3.1 API instead.
 */
static int run_fuse(struct fuse_args *args)
{
	struct fuse_cmdline_opts co;
	struct fuse *f;
	int ret = 1;

	memset(&co, 0, sizeof(co));
	if (fuse_parse_cmdline(args, &co) != 0)
		return 2;
	if (co.show_version) {
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!co.mountpoint) {
		fprintf(stderr, "faultfs: no mountpoint given\n");
		ret = 2;
		goto out;
	}
	f = fuse_new(args, &ff_ops, sizeof(ff_ops), NULL);
	if (!f)
		goto out;
	if (fuse_mount(f, co.mountpoint) != 0)
		goto destroy;
	if (fuse_daemonize(co.foreground) != 0)
		goto unmount;
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0)
		goto unmount;
	if (co.singlethread)
		ret = fuse_loop(f);
	else
		ret = fuse_loop_mt(f, co.clone_fd);
	ret = ret ? 1 : 0;
	fuse_remove_signal_handlers(fuse_get_session(f));
unmount:
	fuse_unmount(f);
destroy:
	fuse_destroy(f);
out:
	free(co.mountpoint);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	uint64_t size = 0;
	int ret;

	if (fuse_opt_parse(&args, &opts, faultfs_opts, opt_proc) == -1)
		return 2;
	if (opts.show_help) {
		usage(stdout, argv[0]);
		printf("\n");
		fuse_cmdline_help();
		fuse_lib_help(&args);
		fuse_opt_free_args(&args);
		return 0;
	}
	if (!opts.image || !opts.name || !*opts.name) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (strchr(opts.name, '/') || !strcmp(opts.name, ".") || !strcmp(opts.name, "..") ||
	    strlen(opts.name) > PATH_MAX - 1) {
		fprintf(stderr, "faultfs: bad --name '%s'\n", opts.name);
		return 2;
	}
	snprintf(file_path, sizeof(file_path), "/%s", opts.name);
	if (opts.size) {
		const char *e = parse_num(opts.size, &size);
		if (!e || *e || size > INT64_MAX) {
			fprintf(stderr, "faultfs: bad --size '%s'\n", opts.size);
			return 2;
		}
	}
	if (opts.delay && parse_delay(opts.delay, &delay_us) < 0)
		return 2;
	if (opts.fsync_delay && parse_delay(opts.fsync_delay, &fsync_delay_us) < 0)
		return 2;
	fsync_fail = opts.fsync_fail;
	if (opts.fsync_lose && parse_lose(opts.fsync_lose, &fsync_lose) < 0)
		return 2;
	fsync_lose_left = fsync_lose;
	undo_on = opts.faults || opts.fsync_lose;
	if (opts.faults && reload_faults() < 0)
		return 2;

	img_fd = open(opts.image, O_RDWR | O_CLOEXEC | (opts.size ? O_CREAT : 0), 0644);
	if (img_fd < 0) {
		fprintf(stderr, "faultfs: open %s: %s\n", opts.image, strerror(errno));
		return 1;
	}
	if (opts.size && ftruncate(img_fd, (off_t)size) < 0) {
		fprintf(stderr, "faultfs: truncate %s: %s\n", opts.image, strerror(errno));
		return 1;
	}
	if (opts.log) {
		log_fd = open(opts.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "faultfs: open %s: %s\n", opts.log, strerror(errno));
			return 1;
		}
	}

	/* Identify our mounts in /proc/mounts as "faultfs ... fuse.faultfs". */
	if (fuse_opt_add_arg(&args, "-osubtype=faultfs,fsname=faultfs") == -1)
		return 1;

	ret = run_fuse(&args);
	fuse_opt_free_args(&args);
	if (log_fd >= 0)
		close(log_fd);
	close(img_fd);
	free(read_fail.r);
	free(write_fail.r);
	free(corrupt_write.r);
	drop_undo(0);
	free(undo_log);
	return ret;
}
