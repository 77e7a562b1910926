// SPDX-License-Identifier: GPL-2.0
/*
 * map.c - see map.h.
 *
 * The file, every line in this order:
 *
 *   # kcopy map: finished (written and flushed) and failed ranges.
 *   kcopy-map 2
 *   jobs 2
 *   job 0 NAMES                   one job and objects line per job, in order
 *   objects 0 OBJECTS
 *   job 1 NAMES
 *   objects 1 OBJECTS
 *   done 0 0 1048576              job, offset, length (relative to the job)
 *   failed 1 4096 512             job, offset, length (relative to the job)
 *   end 1a2b3c4d5e6f7a8b          FNV-1a of every byte above
 *
 * Numbers are plain decimals (no sign, no blanks); every range must lie
 * inside its job. Anything else is a damaged map and is refused: a map
 * that cannot be read exactly cannot be trusted to skip work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "map.h"
#include "ranges.h"

#define MAP_MAGIC "kcopy-map 2"
#define MAP_COMMENT "# kcopy map: finished (written and flushed) and failed ranges."

struct map_job {
	char *names;
	char *objects;		/* NULL while fresh and not yet known */
	uint64_t length;
	struct range_set done;		/* written everywhere and flushed */
	struct range_set failed;	/* failed, not done since */
	struct range_set pending;	/* written, not yet flushed */
	struct range_set failed_now;	/* failed in this run */
};

struct map {
	char *path;
	int lock_fd;		/* the map file we hold locked; -1 for map_parse() */
	bool created;		/* map_open() created the file */
	bool saved;
	mode_t mode;		/* of a new map file: 0666 & ~umask */
	size_t nr_jobs;
	struct map_job *jobs;
};

/*-----------------------------------------------------------------
 * Setup.
 *---------------------------------------------------------------*/
static struct map *map_alloc(const char *path, const struct map_job_desc *jobs,
			     size_t nr_jobs)
{
	struct map *map = calloc(1, sizeof(*map));
	size_t j;

	if (!map)
		return NULL;
	map->lock_fd = -1;
	map->nr_jobs = nr_jobs;
	map->path = strdup(path);
	map->jobs = calloc(nr_jobs ? nr_jobs : 1, sizeof(*map->jobs));
	if (!map->path || !map->jobs)
		goto bad;
	for (j = 0; j < nr_jobs; j++) {
		map->jobs[j].length = jobs[j].length;
		map->jobs[j].names = strdup(jobs[j].names);
		if (!map->jobs[j].names)
			goto bad;
		if (jobs[j].objects) {
			map->jobs[j].objects = strdup(jobs[j].objects);
			if (!map->jobs[j].objects)
				goto bad;
		}
	}
	return map;
bad:
	map_close(map, false);
	return NULL;
}

/*-----------------------------------------------------------------
 * Loading.
 *---------------------------------------------------------------*/
static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

struct loader {
	struct map *map;
	const struct map_job_desc *descs;
	char *err;
	size_t errlen;
	unsigned lineno;
	size_t next_job;	/* job lines seen */
	bool objects_due;	/* a job line was read; its objects line is next */
	bool header, counted;
};

static int damaged(struct loader *ld, const char *why)
{
	snprintf(ld->err, ld->errlen, "%s:%u: not a valid kcopy map (%s); "
		 "remove it to start over", ld->map->path, ld->lineno, why);
	return -EINVAL;
}

/* A plain decimal: digits only, no sign, no leading zero but "0". */
static int parse_decimal(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

/* "N REST" after a keyword: the number and where REST starts. */
static int parse_index(const char *s, uint64_t *n, const char **rest)
{
	if (parse_decimal(&s, n) < 0 || *s != ' ')
		return -EINVAL;
	*rest = s + 1;
	return 0;
}

static int stale(struct loader *ld, size_t job, const char *what,
		 const char *was, const char *now)
{
	snprintf(ld->err, ld->errlen, "%s: belongs to other regions or files "
		 "(job %zu %s '%s', now '%s'); remove it to start over",
		 ld->map->path, job, what, was, now);
	return -ESTALE;
}

static int load_jobs_line(struct loader *ld, const char *rest)
{
	uint64_t n;

	if (parse_decimal(&rest, &n) < 0 || *rest)
		return damaged(ld, "bad jobs line");
	if (n != ld->map->nr_jobs) {
		snprintf(ld->err, ld->errlen, "%s: belongs to other regions (%" PRIu64
			 " jobs, not %zu); remove it to start over", ld->map->path,
			 n, ld->map->nr_jobs);
		return -ESTALE;
	}
	ld->counted = true;
	return 0;
}

static int load_job_line(struct loader *ld, const char *rest)
{
	struct map_job *mj;
	uint64_t n;

	if (!ld->counted || ld->objects_due || parse_index(rest, &n, &rest) < 0 ||
	    n != ld->next_job || n >= ld->map->nr_jobs)
		return damaged(ld, "job line out of place");
	mj = &ld->map->jobs[n];
	if (strcmp(rest, mj->names))
		return stale(ld, (size_t)n, "was", rest, mj->names);
	ld->objects_due = true;
	return 0;
}

static int load_objects_line(struct loader *ld, const char *rest)
{
	struct map_job *mj;
	uint64_t n;

	if (!ld->objects_due || parse_index(rest, &n, &rest) < 0 ||
	    n != ld->next_job)
		return damaged(ld, "objects line out of place");
	mj = &ld->map->jobs[n];
	/* A fresh job (a destination to be created) takes nothing from here. */
	if (mj->objects && strcmp(rest, mj->objects))
		return stale(ld, (size_t)n, "stood on", rest, mj->objects);
	ld->objects_due = false;
	ld->next_job++;
	return 0;
}

/* "done J OFF LEN" / "failed J OFF LEN": a range inside job J. */
static int load_range_line(struct loader *ld, const char *rest, bool done)
{
	uint64_t job, off, len;
	struct map_job *mj;
	int r;

	if (ld->next_job != ld->map->nr_jobs || ld->objects_due)
		return damaged(ld, "range before the last job");
	if (parse_decimal(&rest, &job) < 0 || *rest++ != ' ' ||
	    parse_decimal(&rest, &off) < 0 || *rest++ != ' ' ||
	    parse_decimal(&rest, &len) < 0 || *rest)
		return damaged(ld, done ? "bad done line" : "bad failed line");
	if (job >= ld->map->nr_jobs)
		return damaged(ld, "range of a job that does not exist");
	mj = &ld->map->jobs[job];
	if (!len || off > mj->length || len > mj->length - off)
		return damaged(ld, "range outside its job");
	if (!mj->objects)	/* fresh: nothing of it is done */
		return 0;
	r = range_set_add(done ? &mj->done : &mj->failed, off, off + len);
	return r < 0 ? r : 0;
}

static int load_line(struct loader *ld, const char *line)
{
	if (!ld->header) {
		if (line[0] == '#')
			return 0;
		if (strcmp(line, MAP_MAGIC))
			return damaged(ld, "no kcopy-map 2 header");
		ld->header = true;
		return 0;
	}
	if (!strncmp(line, "jobs ", 5) && !ld->counted)
		return load_jobs_line(ld, line + 5);
	if (!strncmp(line, "job ", 4))
		return load_job_line(ld, line + 4);
	if (!strncmp(line, "objects ", 8))
		return load_objects_line(ld, line + 8);
	if (!strncmp(line, "done ", 5))
		return load_range_line(ld, line + 5, true);
	if (!strncmp(line, "failed ", 7))
		return load_range_line(ld, line + 7, false);
	return damaged(ld, "unknown record");
}

/* Check the end record; everything before it was hashed into @hash. */
static int load_end(struct loader *ld, const char *line, uint64_t hash)
{
	uint64_t stored = 0;
	const char *p;
	int digits = 0;

	for (p = line + 4; *p; p++, digits++) {
		int v = *p >= '0' && *p <= '9' ? *p - '0' :
			*p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;

		if (v < 0 || digits == 16)
			return damaged(ld, "bad end record");
		stored = stored << 4 | (uint64_t)v;
	}
	if (digits != 16 || stored != hash)
		return damaged(ld, "checksum mismatch");
	if (!ld->header || !ld->counted || ld->next_job != ld->map->nr_jobs)
		return damaged(ld, "incomplete");
	return 0;
}

static int load_text(struct loader *ld, const char *text, size_t len)
{
	uint64_t hash = FNV_INIT;
	const char *p = text, *nl;
	char *line;
	bool ended = false;
	size_t n;
	int r = 0;

	while (r == 0 && p < text + len) {
		ld->lineno++;
		if (ended)
			return damaged(ld, "data after the end record");
		nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl)
			return damaged(ld, "truncated");
		n = (size_t)(nl - p);
		if (memchr(p, '\0', n))
			return damaged(ld, "binary data");
		line = strndup(p, n);
		if (!line)
			return -ENOMEM;
		if (!strncmp(line, "end ", 4)) {
			r = load_end(ld, line, hash);
			ended = true;
		} else {
			hash = fnv1a(hash, p, n + 1);
			r = load_line(ld, line);
		}
		free(line);
		p = nl + 1;
	}
	if (r == 0 && len && !ended)
		return damaged(ld, "no end record");
	return r;
}

/* Failed ranges are not done, whatever an edited map says. */
static int settle_loaded(struct map *map)
{
	size_t j;
	int r;

	for (j = 0; j < map->nr_jobs; j++) {
		r = range_set_remove_set(&map->jobs[j].done, &map->jobs[j].failed);
		if (r < 0)
			return r;
	}
	return 0;
}

int map_parse(const char *name, const char *text, size_t len,
	      const struct map_job_desc *jobs, size_t nr_jobs,
	      struct map **out, char *err, size_t errlen)
{
	struct loader ld = { .descs = jobs, .err = err, .errlen = errlen };
	int r;

	ld.map = map_alloc(name, jobs, nr_jobs);
	if (!ld.map) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	r = load_text(&ld, text, len);
	if (r == 0)
		r = settle_loaded(ld.map);
	if (r == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (r < 0) {
		map_close(ld.map, false);
		return r;
	}
	*out = ld.map;
	return 0;
}

/*-----------------------------------------------------------------
 * The file and its lock.
 *---------------------------------------------------------------*/
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	return strndup(path, (size_t)(slash - path) + 1);
}

/* The map is useless if it can't be saved: check before any I/O. */
static int check_writable(const char *path, char *err, size_t errlen)
{
	char *dir = dir_of(path);
	struct stat st;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "%s: the map is not a regular file", path);
	} else if (access(dir, W_OK | X_OK) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot write the map there: %s", path,
			 strerror(errno));
	}
	free(dir);
	return r;
}

static bool fd_is_path(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Lock the file at the map's path. The map is replaced by rename, so the
 * lock is on an inode that may already have been replaced when we get
 * it: check that the locked file is still the one at the path, and try
 * again if not (the lock-file idiom).
 */
static int lock_map_file(struct map *map, char *err, size_t errlen)
{
	int fd, tries;

	for (tries = 0; tries < 100; tries++) {
		map->created = false;
		fd = open(map->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
			  O_NOCTTY, map->mode);
		if (fd >= 0)
			map->created = true;
		else if (errno == EEXIST)
			fd = open(map->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && errno == ENOENT)
			continue;	/* replaced between the two opens */
		if (fd < 0)
			goto fail;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK) {
				close(fd);
				snprintf(err, errlen, "%s: the map is in use by "
					 "another kcopy", map->path);
				return -EBUSY;
			}
			close(fd);
			goto fail;
		}
		if (fd_is_path(fd, map->path)) {
			map->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	errno = EAGAIN;
fail:
	snprintf(err, errlen, "%s: %s", map->path, strerror(errno));
	return -errno;
}

static int read_all(int fd, char **text, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nbuf;
	ssize_t got;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			nbuf = realloc(buf, cap * 2);
			if (!nbuf) {
				free(buf);
				return -ENOMEM;
			}
			buf = nbuf;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			free(buf);
			return -errno;
		}
		if (!got)
			break;
		n += (size_t)got;
	}
	*text = buf;
	*len = n;
	return 0;
}

int map_open(const char *path, const struct map_job_desc *jobs, size_t nr_jobs,
	     struct map **out, char *err, size_t errlen)
{
	struct loader ld = { .descs = jobs, .err = err, .errlen = errlen };
	char *text = NULL;
	size_t len = 0;
	mode_t mask;
	int r;

	ld.map = map_alloc(path, jobs, nr_jobs);
	if (!ld.map) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	mask = umask(0);
	umask(mask);
	ld.map->mode = 0666 & ~mask;
	r = check_writable(path, err, errlen);
	if (r == 0)
		r = lock_map_file(ld.map, err, errlen);
	if (r == 0 && !ld.map->created) {
		r = read_all(ld.map->lock_fd, &text, &len);
		if (r < 0 && r != -ENOMEM)
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
	}
	if (r == 0)
		r = load_text(&ld, text, len);
	if (r == 0)
		r = settle_loaded(ld.map);
	free(text);
	if (r == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	if (r < 0) {
		map_close(ld.map, true);
		return r;
	}
	*out = ld.map;
	return 0;
}

void map_close(struct map *map, bool discard)
{
	size_t j;

	if (!map)
		return;
	if (map->lock_fd >= 0) {
		if (discard && map->created && !map->saved &&
		    fd_is_path(map->lock_fd, map->path))
			unlink(map->path);
		close(map->lock_fd);
	}
	for (j = 0; map->jobs && j < map->nr_jobs; j++) {
		free(map->jobs[j].names);
		free(map->jobs[j].objects);
		range_set_free(&map->jobs[j].done);
		range_set_free(&map->jobs[j].failed);
		range_set_free(&map->jobs[j].pending);
		range_set_free(&map->jobs[j].failed_now);
	}
	free(map->jobs);
	free(map->path);
	free(map);
}

int map_set_objects(struct map *map, size_t job, const char *objects)
{
	char *copy = strdup(objects);

	if (!copy)
		return -ENOMEM;
	free(map->jobs[job].objects);
	map->jobs[job].objects = copy;
	return 0;
}

/*-----------------------------------------------------------------
 * Bookkeeping.
 *---------------------------------------------------------------*/
uint64_t map_done_at(const struct map *map, size_t job, uint64_t offset)
{
	return range_set_covered_at(&map->jobs[job].done, offset);
}

bool map_next_done(const struct map *map, size_t job, uint64_t offset,
		   uint64_t *start, uint64_t *end)
{
	const struct range_set *s = &map->jobs[job].done;
	size_t i;

	for (i = 0; i < s->nr; i++) {
		if (s->r[i].end <= offset)
			continue;
		*start = s->r[i].start > offset ? s->r[i].start : offset;
		*end = s->r[i].end;
		return true;
	}
	return false;
}

bool map_next_undone(const struct map *map, size_t job, uint64_t offset,
		     uint64_t *start, uint64_t *end)
{
	const struct map_job *mj = &map->jobs[job];
	uint64_t done_start, done_end;

	offset += range_set_covered_at(&mj->done, offset);
	if (offset >= mj->length)
		return false;
	*start = offset;
	*end = map_next_done(map, job, offset, &done_start, &done_end) ?
	       done_start : mj->length;
	return true;
}

int map_forget(struct map *map, size_t job, uint64_t offset, uint64_t length)
{
	return range_set_remove(&map->jobs[job].done, offset, offset + length);
}

uint64_t map_failed_bytes(const struct map *map, size_t job)
{
	return range_set_bytes(&map->jobs[job].failed);
}

void map_note_written(struct map *map, size_t job, uint64_t offset,
		      uint64_t length)
{
	/* On ENOMEM the range is simply redone by the next run. */
	range_set_add(&map->jobs[job].pending, offset, offset + length);
}

int map_note_failed(struct map *map, size_t job, uint64_t offset,
		    uint64_t length)
{
	struct map_job *mj = &map->jobs[job];

	if (offset >= mj->length)
		return 0;
	if (length > mj->length - offset)
		length = mj->length - offset;
	return range_set_add(&mj->failed_now, offset, offset + length);
}

/*-----------------------------------------------------------------
 * Saving.
 *---------------------------------------------------------------*/
static void render_ranges(FILE *f, const char *kind, size_t job,
			  const struct range_set *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++)
		fprintf(f, "%s %zu %" PRIu64 " %" PRIu64 "\n", kind, job,
			s->r[i].start, s->r[i].end - s->r[i].start);
}

static char *render(const struct map *map, size_t *len)
{
	const struct map_job *mj;
	char *buf = NULL;
	uint64_t hash;
	size_t j;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	fprintf(f, MAP_COMMENT "\n" MAP_MAGIC "\njobs %zu\n", map->nr_jobs);
	for (j = 0; j < map->nr_jobs; j++) {
		mj = &map->jobs[j];
		fprintf(f, "job %zu %s\nobjects %zu %s\n", j, mj->names, j,
			mj->objects ? mj->objects : "unknown");
	}
	for (j = 0; j < map->nr_jobs; j++) {
		render_ranges(f, "done", j, &map->jobs[j].done);
		render_ranges(f, "failed", j, &map->jobs[j].failed);
	}
	if (fflush(f) != 0) {
		fclose(f);
		free(buf);
		return NULL;
	}
	hash = fnv1a(FNV_INIT, buf, *len);
	fprintf(f, "end %016" PRIx64 "\n", hash);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sync_dir_of(const char *path)
{
	char *dir = dir_of(path);
	int fd, r = 0;

	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Write the map to a new file beside it (mkostemp: O_EXCL, so never an
 * existing file and never through a symlink), lock it, and rename it
 * over the map: the lock moves with the name.
 */
static int save(struct map *map)
{
	size_t len = 0;
	char *buf = render(map, &len), *tmp = NULL;
	int fd = -1, r;

	if (!buf)
		return -ENOMEM;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", map->path) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
	if (r == 0 && fchmod(fd, map->mode) < 0)
		r = -errno;
	if (r == 0)
		r = write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, map->path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		close(fd);
		goto out;
	}
	close(map->lock_fd);
	map->lock_fd = fd;
	map->saved = true;
	r = sync_dir_of(map->path);
out:
	free(tmp);
	free(buf);
	return r;
}

int map_commit(struct map *map)
{
	struct map_job *mj;
	size_t j;
	int r = 0;

	if (map->lock_fd < 0)
		return -EBADF;	/* from map_parse(): nowhere to save */
	for (j = 0; j < map->nr_jobs && r == 0; j++) {
		mj = &map->jobs[j];
		/* Done: what was written and flushed, less what failed... */
		r = range_set_remove_set(&mj->pending, &mj->failed_now);
		if (r == 0)
			r = range_set_add_set(&mj->done, &mj->pending);
		if (r == 0)
			r = range_set_remove_set(&mj->failed, &mj->pending);
		/* ...and what failed now is not done, whenever it was done. */
		if (r == 0)
			r = range_set_remove_set(&mj->done, &mj->failed_now);
		if (r == 0)
			r = range_set_add_set(&mj->failed, &mj->failed_now);
		range_set_clear(&mj->pending);
	}
	return r < 0 ? r : save(map);
}
