// SPDX-License-Identifier: GPL-2.0
/*
 * map.c - see map.h.
 *
 * The file:
 *
 *   # kcopy map: finished (written and flushed) and failed ranges.
 *   kcopy-map 1
 *   jobs 2
 *   job 0 copy src PATH OFFSET LENGTH dst PATH OFFSET LENGTH ...
 *   job 1 zero dst PATH OFFSET LENGTH
 *   done 0 0 1048576              job, offset, length (relative to the job)
 *   failed 1 dest 0 4096 512 5    job, region, index, absolute offset,
 *                                 length, errno
 *   end 1a2b3c4d5e6f7a8b          FNV-1a of every byte above
 *
 * Paths are %-escaped (bytes <= ' ', '%' and >= 0x7f), so one line is one
 * record whatever the names hold.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "map.h"
#include "target.h"

#define MAP_MAGIC "kcopy-map 1"

struct range {
	uint64_t start, end;
};

struct range_set {
	struct range *r;
	size_t nr, cap;
};

struct map_job {
	char *identity;		/* the "job ..." line, without "job N " */
	struct range_set done;
	struct range_set pending;
	struct kc_error_range *errors;
	size_t nr_errors;
};

struct map {
	char *path;
	char *tmp_path;
	size_t nr_jobs;
	struct map_job *jobs;
};

/*-----------------------------------------------------------------
 * Range sets: sorted, merged, half-open ranges.
 *---------------------------------------------------------------*/
static int range_add(struct range_set *s, uint64_t start, uint64_t end)
{
	size_t i, j;
	struct range *r;

	if (start >= end)
		return 0;
	for (i = 0; i < s->nr && s->r[i].end < start; i++)
		;
	/* Merge every range that touches [start, end). */
	for (j = i; j < s->nr && s->r[j].start <= end; j++) {
		if (s->r[j].start < start)
			start = s->r[j].start;
		if (s->r[j].end > end)
			end = s->r[j].end;
	}
	if (j > i) {
		s->r[i] = (struct range) { start, end };
		memmove(&s->r[i + 1], &s->r[j], (s->nr - j) * sizeof(*r));
		s->nr -= j - i - 1;
		return 0;
	}
	if (s->nr == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		r = realloc(s->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		s->r = r;
		s->cap = cap;
	}
	memmove(&s->r[i + 1], &s->r[i], (s->nr - i) * sizeof(*r));
	s->r[i] = (struct range) { start, end };
	s->nr++;
	return 0;
}

static uint64_t range_covered_at(const struct range_set *s, uint64_t offset)
{
	size_t lo = 0, hi = s->nr, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->r[mid].end <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->nr && s->r[lo].start <= offset)
		return s->r[lo].end - offset;
	return 0;
}

/*-----------------------------------------------------------------
 * Identity: what the map belongs to.
 *---------------------------------------------------------------*/
static int escape_path(FILE *f, const char *path)
{
	const unsigned char *p;

	for (p = (const unsigned char *)path; *p; p++) {
		if (*p <= ' ' || *p == '%' || *p >= 0x7f)
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
	return 0;
}

static void region_identity(FILE *f, const char *kind,
			    const struct kc_io_region *rg)
{
	fprintf(f, " %s ", kind);
	escape_path(f, target_path(rg->target));
	fprintf(f, " %" PRIu64 " %" PRIu64, rg->offset, rg->count);
}

static char *job_identity(const struct plan_job *job)
{
	char *buf = NULL;
	size_t len = 0;
	unsigned d;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs(job->zero ? "zero" : "copy", f);
	if (!job->zero)
		region_identity(f, "src", &job->source);
	for (d = 0; d < job->num_dests; d++)
		region_identity(f, "dst", &job->dests[d]);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
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

static int damaged(const struct map *map, char *err, size_t errlen,
		   unsigned lineno, const char *why)
{
	snprintf(err, errlen, "%s:%u: not a valid kcopy map (%s)", map->path,
		 lineno, why);
	return -EINVAL;
}

static int parse_done(struct map *map, const char *line)
{
	uint64_t job, off, len;
	int n = -1;

	if (sscanf(line, "done %" SCNu64 " %" SCNu64 " %" SCNu64 "%n",
		   &job, &off, &len, &n) != 3 || line[n] != '\0' ||
	    job >= map->nr_jobs || off + len < off)
		return -EINVAL;
	return range_add(&map->jobs[job].done, off, off + len);
}

static int load_line(struct map *map, const struct plan *plan, char *line,
		     unsigned lineno, char *err, size_t errlen)
{
	size_t job;
	int n = -1;

	if (lineno == 2)
		return strcmp(line, MAP_MAGIC) ? damaged(map, err, errlen, lineno,
							 "no kcopy-map header") : 0;
	if (line[0] == '#' || (lineno == 1 && line[0] == '#'))
		return 0;
	if (!strncmp(line, "jobs ", 5)) {
		if (sscanf(line, "jobs %zu%n", &job, &n) != 1 || line[n])
			return damaged(map, err, errlen, lineno, "bad jobs line");
		if (job != map->nr_jobs) {
			snprintf(err, errlen, "%s: belongs to other regions "
				 "(%zu jobs, not %zu)", map->path, job, plan->nr_jobs);
			return -ESTALE;
		}
		return 0;
	}
	if (!strncmp(line, "job ", 4)) {
		if (sscanf(line, "job %zu %n", &job, &n) != 1 || job >= map->nr_jobs)
			return damaged(map, err, errlen, lineno, "bad job line");
		if (strcmp(line + n, map->jobs[job].identity)) {
			snprintf(err, errlen, "%s: belongs to other regions (job %zu "
				 "was '%s', now '%s')", map->path, job, line + n,
				 map->jobs[job].identity);
			return -ESTALE;
		}
		return 0;
	}
	if (!strncmp(line, "done ", 5))
		return parse_done(map, line) ? damaged(map, err, errlen, lineno,
						       "bad done line") : 0;
	if (!strncmp(line, "failed ", 7))
		return 0;	/* informational; errors are found again */
	return damaged(map, err, errlen, lineno, "unknown record");
}

static int load(struct map *map, const struct plan *plan, FILE *f, char *err,
		size_t errlen)
{
	uint64_t hash = FNV_INIT, stored;
	unsigned lineno = 0;
	bool ended = false;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int r = 0, n = -1;

	while (r == 0 && (len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (ended) {
			r = damaged(map, err, errlen, lineno, "data after the end");
			break;
		}
		if (line[len - 1] != '\n') {
			r = damaged(map, err, errlen, lineno, "truncated");
			break;
		}
		if (!strncmp(line, "end ", 4)) {
			if (sscanf(line, "end %" SCNx64 "%n", &stored, &n) != 1 ||
			    line[n] != '\n' || stored != hash)
				r = damaged(map, err, errlen, lineno, "checksum mismatch");
			ended = true;
			continue;
		}
		hash = fnv1a(hash, line, (size_t)len);
		line[len - 1] = '\0';
		r = load_line(map, plan, line, lineno, err, errlen);
	}
	free(line);
	if (r == 0 && lineno && !ended)
		r = damaged(map, err, errlen, lineno, "no end record");
	return r;
}

/*
 * The map is useless if it can't be saved: refuse a directory, or a place
 * where the temporary file and the rename can't go, before any I/O.
 */
static int check_writable(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
	struct stat st;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
	} else if (access(dir, W_OK | X_OK) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot write the map there: %s", path,
			 strerror(errno));
	}
	free(dir);
	return r;
}

int map_open(const char *path, const struct plan *plan, struct map **out,
	     char *err, size_t errlen)
{
	struct map *map;
	size_t j;
	FILE *f;
	int r = -ENOMEM;

	map = calloc(1, sizeof(*map));
	if (!map)
		return -ENOMEM;
	map->nr_jobs = plan->nr_jobs;
	map->jobs = calloc(plan->nr_jobs, sizeof(*map->jobs));
	map->path = strdup(path);
	if (!map->jobs || !map->path || asprintf(&map->tmp_path, "%s.tmp", path) < 0)
		goto bad;
	for (j = 0; j < plan->nr_jobs; j++) {
		map->jobs[j].identity = job_identity(&plan->jobs[j]);
		if (!map->jobs[j].identity)
			goto bad;
	}
	r = check_writable(path, err, errlen);
	if (r < 0)
		goto bad;
	f = fopen(path, "re");
	if (!f && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto bad;
	}
	if (f) {
		r = load(map, plan, f, err, errlen);
		fclose(f);
		if (r < 0)
			goto bad;
	}
	*out = map;
	return 0;

bad:
	if (r == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	map_close(map);
	return r;
}

void map_close(struct map *map)
{
	size_t j;

	if (!map)
		return;
	for (j = 0; map->jobs && j < map->nr_jobs; j++) {
		free(map->jobs[j].identity);
		free(map->jobs[j].done.r);
		free(map->jobs[j].pending.r);
	}
	free(map->jobs);
	free(map->path);
	free(map->tmp_path);
	free(map);
}

uint64_t map_done_at(const struct map *map, size_t job, uint64_t offset)
{
	return range_covered_at(&map->jobs[job].done, offset);
}

void map_note_written(struct map *map, size_t job, uint64_t offset,
		      uint64_t length)
{
	/* On ENOMEM the range is simply redone after a crash. */
	range_add(&map->jobs[job].pending, offset, offset + length);
}

void map_set_errors(struct map *map, size_t job,
		    const struct kc_error_range *errors, size_t nr_errors)
{
	map->jobs[job].errors = (struct kc_error_range *)errors;
	map->jobs[job].nr_errors = nr_errors;
}

/*-----------------------------------------------------------------
 * Saving.
 *---------------------------------------------------------------*/
static char *render(const struct map *map, size_t *len)
{
	const struct kc_error_range *e;
	const struct map_job *mj;
	uint64_t hash;
	char *buf = NULL;
	size_t j, i;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	fprintf(f, "# kcopy map: finished (written and flushed) and failed ranges.\n"
		MAP_MAGIC "\njobs %zu\n", map->nr_jobs);
	for (j = 0; j < map->nr_jobs; j++)
		fprintf(f, "job %zu %s\n", j, map->jobs[j].identity);
	for (j = 0; j < map->nr_jobs; j++) {
		mj = &map->jobs[j];
		for (i = 0; i < mj->done.nr; i++)
			fprintf(f, "done %zu %" PRIu64 " %" PRIu64 "\n", j,
				mj->done.r[i].start, mj->done.r[i].end - mj->done.r[i].start);
		for (i = 0; i < mj->nr_errors; i++) {
			e = &mj->errors[i];
			fprintf(f, "failed %zu %s %d %" PRIu64 " %" PRIu64 " %d\n", j,
				e->region == KC_REGION_SOURCE ? "source" : "dest",
				e->region == KC_REGION_SOURCE ? -1 : e->region,
				e->offset, e->length, e->error);
		}
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
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
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

static int save(const struct map *map)
{
	size_t len = 0;
	char *buf = render(map, &len);
	int fd, r;

	if (!buf)
		return -ENOMEM;
	fd = open(map->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(map->tmp_path, map->path) < 0)
		r = -errno;
	if (r == 0)
		r = sync_dir_of(map->path);
	else
		unlink(map->tmp_path);
out:
	free(buf);
	return r;
}

int map_commit(struct map *map)
{
	struct map_job *mj;
	size_t j, i;
	int r;

	for (j = 0; j < map->nr_jobs; j++) {
		mj = &map->jobs[j];
		for (i = 0; i < mj->pending.nr; i++) {
			r = range_add(&mj->done, mj->pending.r[i].start,
				      mj->pending.r[i].end);
			if (r < 0)
				return r;
		}
		mj->pending.nr = 0;
	}
	return save(map);
}
