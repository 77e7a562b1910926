// SPDX-License-Identifier: GPL-2.0
/*
 * plan.c - see plan.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plan.h"
#include "remote.h"
#include "target.h"

struct plan_target {
	const char *path;	/* as first given */
	struct stat st;
	bool exists;
	bool written;		/* some job writes it */
	bool force;		/* every job writing it allows signatures */
	unsigned line;		/* first job naming it, for messages */
	const char *arg;	/* ...and the argument that did */
	const struct region_spec *spec;
	struct target *t;
};

/* "FILE:LINE: " for job-file jobs, "" otherwise. */
static int where(const struct plan *plan, unsigned line, char *buf, size_t len)
{
	if (plan->jobfile && line)
		return snprintf(buf, len, "%s:%u: ", plan->jobfile, line);
	buf[0] = '\0';
	return 0;
}

static int refuse(const struct plan *plan, unsigned line, char *err,
		  size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;
	int n = where(plan, line, err, errlen);

	if (n < 0 || (size_t)n >= errlen)
		return r;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return r;
}

static int parse_region(struct plan *plan, unsigned line, const char *arg,
			struct region_spec *spec, char *err, size_t errlen)
{
	int r = region_parse(arg, spec);

	if (r == -EINVAL)
		return refuse(plan, line, err, errlen, r,
			      "'%s': invalid region (expected PATH[:OFFSET[+LENGTH]])",
			      arg);
	if (r == -EDESTADDRREQ)
		return refuse(plan, line, err, errlen, -EINVAL,
			      "%s: an NBD URI needs a path: %s/ for the default export",
			      arg, arg);
	if (r < 0)
		return refuse(plan, line, err, errlen, r, "%s", strerror(-r));
	return 0;
}

/* A job's length: the source's, or a zero job's longest region. */
uint64_t plan_job_length(const struct plan_job *pj)
{
	uint64_t length = pj->zero ? 0 : pj->source.count;
	unsigned d;

	for (d = 0; pj->zero && d < pj->num_dests; d++)
		if (pj->dests[d].count > length)
			length = pj->dests[d].count;
	return length;
}

int plan_add_job(struct plan *plan, unsigned line, bool force, unsigned flags,
		 const char *src, unsigned num_dests, char *const dsts[],
		 char *err, size_t errlen)
{
	struct plan_job *jobs, *job;
	unsigned i;
	int r;

	if (num_dests == 0)
		return refuse(plan, line, err, errlen, -EINVAL,
			      src ? "no destination given" : "no destination to zero");
	if (num_dests > KC_MAX_DESTS)
		return refuse(plan, line, err, errlen, -E2BIG,
			      "%u destinations given; at most %d are allowed",
			      num_dests, KC_MAX_DESTS);
	jobs = realloc(plan->jobs, (plan->nr_jobs + 1) * sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	plan->jobs = jobs;
	job = &jobs[plan->nr_jobs];
	memset(job, 0, sizeof(*job));
	plan->nr_jobs++;
	job->line = line;
	job->group = plan->nr_groups;
	job->zero = !src;
	job->force = force;
	job->flags = flags;
	job->src_arg = src;
	job->num_dests = num_dests;
	/* '-' is standard input, never a file's name without ./ (SPEC §6). */
	for (i = 0; i < num_dests; i++)
		if (!strcmp(dsts[i], "-"))
			return refuse(plan, line, err, errlen, -EINVAL,
				      "-: a destination must be a file or device ('-' "
				      "means standard input, for a source); write ./- "
				      "for a file named '-'");
	if (src) {
		r = parse_region(plan, line, src, &job->src_spec, err, errlen);
		if (r < 0)
			return r;
	}
	for (i = 0; i < num_dests; i++) {
		job->dst_args[i] = dsts[i];
		r = parse_region(plan, line, dsts[i], &job->dst_spec[i], err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

void plan_add_barrier(struct plan *plan)
{
	/* Only a barrier after some job starts a new group. */
	if (plan->nr_jobs && plan->jobs[plan->nr_jobs - 1].group == plan->nr_groups)
		plan->nr_groups++;
}

/*-----------------------------------------------------------------
 * Targets: each file or device once, each argument resolved once.
 *---------------------------------------------------------------*/
static bool same_stat(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The target for @path: an existing one for the same object, or a new one. */
static int find_target(struct plan *plan, const char *path, size_t *index)
{
	struct plan_target *pt, *targets;
	struct stat st;
	/* An export is known by its name alone (nothing to stat). */
	bool exists = !remote_is_spec(path) && stat(path, &st) == 0;
	size_t i;

	for (i = 0; i < plan->nr_targets; i++) {
		pt = &plan->targets[i];
		if (exists ? pt->exists && same_stat(&pt->st, &st) :
			     !pt->exists && !strcmp(pt->path, path)) {
			*index = i;
			return 0;
		}
	}
	targets = realloc(plan->targets, (plan->nr_targets + 1) * sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	plan->targets = targets;
	pt = &targets[plan->nr_targets];
	memset(pt, 0, sizeof(*pt));
	pt->path = path;
	pt->exists = exists;
	pt->force = true;
	if (exists)
		pt->st = st;
	*index = plan->nr_targets++;
	return 0;
}

static void note_first_use(struct plan_target *pt, const struct plan_job *job,
			   const char *arg, const struct region_spec *spec)
{
	if (!pt->spec) {
		pt->spec = spec;
		pt->arg = arg;
		pt->line = job->line;
	}
}

/* First pass: which paths are written, and may they carry signatures. */
static int collect_targets(struct plan *plan)
{
	struct plan_target *pt;
	struct plan_job *job;
	size_t j;
	unsigned d;
	int r;

	for (j = 0; j < plan->nr_jobs; j++) {
		job = &plan->jobs[j];
		if (job->src_arg) {
			r = find_target(plan, job->src_spec.path, &job->src_target);
			if (r < 0)
				return r;
			note_first_use(&plan->targets[job->src_target], job,
				       job->src_arg, &job->src_spec);
		}
		for (d = 0; d < job->num_dests; d++) {
			r = find_target(plan, job->dst_spec[d].path, &job->dst_target[d]);
			if (r < 0)
				return r;
			pt = &plan->targets[job->dst_target[d]];
			note_first_use(pt, job, job->dst_args[d], &job->dst_spec[d]);
			pt->written = true;
			pt->force &= job->force;
		}
	}
	return 0;
}

static bool is_partition(const struct plan_target *pt, dev_t *disk)
{
	return pt->exists && S_ISBLK(pt->st.st_mode) &&
	       target_partition_of(pt->st.st_rdev, disk);
}

/*
 * A partition to write whose whole disk is written too: the whole disk
 * is opened exclusively first, and that claim covers the partition (an
 * exclusive open of either fails while the other is held).
 */
static bool disk_held_by_us(const struct plan *plan, const struct plan_target *pt)
{
	dev_t disk;
	size_t i;

	if (!pt->written || !is_partition(pt, &disk))
		return false;
	for (i = 0; i < plan->nr_targets; i++)
		if (plan->targets[i].written && plan->targets[i].t &&
		    target_is_blockdev(plan->targets[i].t) &&
		    S_ISBLK(plan->targets[i].st.st_mode) &&
		    plan->targets[i].st.st_rdev == disk)
			return true;
	return false;
}

/* "./NAME" or "DIR/./NAME": a name with a ':' that is meant as it stands. */
static bool meant_literally(const char *arg)
{
	const char *base = strrchr(arg, '/');

	if (!base)
		return false;
	return (base == arg + 1 && arg[0] == '.') ||
	       (base >= arg + 2 && base[-1] == '.' && base[-2] == '/');
}

/*
 * target_open() said "PATH: why": say it of the argument as given, with
 * what a suffix that did not parse (or a file named like one) suggests.
 */
static int refuse_open(struct plan *plan, const struct plan_target *pt, int r,
		       const char *why, char *err, size_t errlen)
{
	size_t n = strlen(pt->path);
	char problem[256];
	struct stat st;

	if (!strncmp(why, pt->path, n) && why[n] == ':')
		why += n + 1;
	else
		why = " ";
	if (r == -ENOENT && pt->spec->bad_suffix) {
		region_suffix_problem(pt->spec->bad_suffix, problem, sizeof(problem));
		return refuse(plan, pt->line, err, errlen, r, "%s:%s (and '%s' is not "
			      "a valid OFFSET[+LENGTH]: %s)", pt->arg, why,
			      pt->spec->bad_suffix, problem);
	}
	/* "col:4096" was read as offset 4096 of "col"; the file is "col:4096". */
	if (r == -ENOENT && strcmp(pt->arg, pt->path) && stat(pt->arg, &st) == 0)
		return refuse(plan, pt->line, err, errlen, r, "%s:%s (a file named "
			      "'%s' exists: write '%s:0' to mean all of it)", pt->path,
			      why, pt->arg, pt->arg);
	return refuse(plan, pt->line, err, errlen, r, "%s:%s", pt->arg, why);
}

static int open_target(struct plan *plan, struct plan_target *pt, char *err,
		       size_t errlen)
{
	unsigned flags = (plan->buffered ? TARGET_BUFFERED : 0) |
			 (plan->raw ? TARGET_RAW : 0);
	char why[512];
	int r;

	if (disk_held_by_us(plan, pt))
		flags |= TARGET_SHARED;
	if (remote_is_spec(pt->path))
		r = target_open_remote(pt->path, pt->written ? TARGET_DEST :
				       TARGET_SOURCE, plan->connections, &pt->t,
				       why, sizeof(why));
	else
		r = target_open(pt->path, pt->written ? TARGET_DEST : TARGET_SOURCE,
				flags, pt->exists ? &pt->st : NULL, &pt->t, why,
				sizeof(why));
	if (r < 0)
		return refuse_open(plan, pt, r, why, err, errlen);
	/* A typo in a suffix must not become a new file's name. */
	if (!target_exists(pt->t) && pt->spec->bad_suffix && !meant_literally(pt->arg)) {
		const char *base = strrchr(pt->arg, '/');
		int dir = base ? (int)(base - pt->arg) : 0;

		region_suffix_problem(pt->spec->bad_suffix, why, sizeof(why));
		return refuse(plan, pt->line, err, errlen, -EINVAL,
			      "%s: not creating a file of that name: '%s' after the "
			      "last ':' is not a valid OFFSET[+LENGTH] (%s); write "
			      "%.*s%s./%s to create it", pt->arg, pt->spec->bad_suffix,
			      why, dir, pt->arg, base ? "/" : "", base ? base + 1 : pt->arg);
	}
	return 0;
}

/* Whole disks before partitions (see disk_held_by_us). */
static int open_targets(struct plan *plan, char *err, size_t errlen)
{
	dev_t disk;
	size_t i;
	int pass, r;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < plan->nr_targets; i++) {
			struct plan_target *pt = &plan->targets[i];

			if (pt->t || is_partition(pt, &disk) != (pass == 1))
				continue;
			r = open_target(plan, pt, err, errlen);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static struct target *src_target(const struct plan *plan, const struct plan_job *job)
{
	return plan->targets[job->src_target].t;
}

static struct target *dst_target(const struct plan *plan, const struct plan_job *job,
				 unsigned d)
{
	return plan->targets[job->dst_target[d]].t;
}

/*-----------------------------------------------------------------
 * Region checks.
 *---------------------------------------------------------------*/
static bool ends_at_file_eof(const struct target *t, uint64_t offset,
			     uint64_t length)
{
	return !target_is_fixed_size(t) && offset + length == target_size(t);
}

/* What @t is and what its block is called, for messages. */
static const char *kind_word(const struct target *t)
{
	return target_is_remote(t) ? "export" :
	       target_is_blockdev(t) ? "device" : "file";
}

static const char *block_word(const struct target *t)
{
	return target_is_remote(t) ? "export's block" :
	       target_is_blockdev(t) ? "logical block" : "sector";
}

static int check_offset(struct plan *plan, unsigned line, const char *arg,
			const struct target *t, uint64_t offset, char *err,
			size_t errlen)
{
	unsigned lbs = target_block_size(t);

	if (offset % lbs)
		return refuse(plan, line, err, errlen, -EINVAL,
			      "%s: offset %" PRIu64 " is not aligned to the %s size %u",
			      arg, offset, block_word(t), lbs);
	return 0;
}

static int misaligned_length(struct plan *plan, unsigned line, const char *arg,
			     uint64_t length, const struct target *t, char *err,
			     size_t errlen)
{
	return refuse(plan, line, err, errlen, -EINVAL,
		      "%s: length %" PRIu64 " is not a multiple of the %s size %u",
		      arg, length, block_word(t), target_block_size(t));
}

/* A file can't be extended past what off_t holds. */
static int check_file_end(struct plan *plan, unsigned line, const char *arg,
			  const struct target *t, uint64_t offset, uint64_t len,
			  char *err, size_t errlen)
{
	if (offset > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - offset)
		return refuse(plan, line, err, errlen, -EFBIG,
			      "%s: region ends beyond the largest possible %s size",
			      arg, kind_word(t));
	return 0;
}

/* How far each destination file must reach: the end of its last region. */
static uint64_t target_end(const struct plan *plan, const struct target *t)
{
	const struct plan_job *job;
	uint64_t end = 0;
	size_t j;
	unsigned d;

	for (j = 0; j < plan->nr_jobs; j++) {
		job = &plan->jobs[j];
		for (d = 0; d < job->num_dests; d++) {
			uint64_t e = job->dests[d].offset;

			/* A stream's end is not known: its writes extend. */
			if (!(job->flags & KC_OPEN_END))
				e += job->dests[d].count;
			if (job->dests[d].target == t && e > end)
				end = e;
		}
	}
	return end;
}

/*
 * A source file that an earlier stage writes (copy A NEW; wait; copy NEW
 * B) is, by the time it is read, as long as the writes make it: files are
 * created and extended before the first stage starts.
 */
static uint64_t source_size(const struct plan *plan, const struct plan_job *job)
{
	const struct target *t = src_target(plan, job);
	uint64_t size = target_size(t), end;

	if (plan->targets[job->src_target].written && !target_is_fixed_size(t)) {
		end = target_end(plan, t);
		if (end > size)
			size = end;
	}
	return size;
}

/*
 * A stream source: from its OFFSET, LENGTH bytes if given, else the
 * bmap's image size, else all it yields (an open end).
 */
static void resolve_stream_source(struct plan *plan, struct plan_job *job)
{
	const struct region_spec *s = &job->src_spec;
	uint64_t len = 0;

	if (s->has_length)
		len = s->length;
	else if (plan->image_size > s->offset)
		len = plan->image_size - s->offset;
	else
		job->flags |= KC_OPEN_END;	/* the bound: resolve_job */
	job->source = (struct plan_region) { src_target(plan, job), s->offset, len };
}

static int resolve_source(struct plan *plan, struct plan_job *job, char *err,
			  size_t errlen)
{
	const struct region_spec *s = &job->src_spec;
	struct target *t = src_target(plan, job);
	uint64_t size = source_size(plan, job), len;
	int r;

	if (target_is_stream(t)) {
		resolve_stream_source(plan, job);
		return 0;
	}
	if (plan->image_size && !s->has_length && size - s->offset != plan->image_size)
		return refuse(plan, job->line, err, errlen, -EINVAL,
			      "%s: the image is %" PRIu64 " bytes, the bmap says %"
			      PRIu64 " (not the bmap of this image?)", job->src_arg,
			      size - s->offset, plan->image_size);

	r = check_offset(plan, job->line, job->src_arg, t, s->offset, err, errlen);
	if (r < 0)
		return r;
	if (s->offset > size)
		return refuse(plan, job->line, err, errlen, -ERANGE,
			      "%s: offset %" PRIu64 " is beyond the end (size %" PRIu64 ")",
			      job->src_arg, s->offset, size);
	len = s->has_length ? s->length : size - s->offset;
	if (len > size - s->offset)
		return refuse(plan, job->line, err, errlen, -ERANGE,
			      "%s: region ends beyond the end (size %" PRIu64 ")",
			      job->src_arg, size);
	if (len % target_block_size(t) && !ends_at_file_eof(t, s->offset, len))
		return misaligned_length(plan, job->line, job->src_arg, len, t,
					 err, errlen);
	job->source = (struct plan_region) { t, s->offset, len };
	return 0;
}

/* The most a stream may write to a growing file: far, but no overflow. */
#define OPEN_FILE_MAX ((uint64_t)1 << 60)

/*
 * A destination of a stream of unknown length: as much as it holds (a
 * device, an export, a LENGTH given), or, a file, as much as comes.
 */
static int resolve_open_dest(struct plan *plan, struct plan_job *job, unsigned d,
			     char *err, size_t errlen)
{
	const struct region_spec *s = &job->dst_spec[d];
	const char *arg = job->dst_args[d];
	struct target *t = dst_target(plan, job, d);
	uint64_t size = target_size(t), len = OPEN_FILE_MAX;
	int r;

	r = check_offset(plan, job->line, arg, t, s->offset, err, errlen);
	if (r < 0)
		return r;
	if (s->has_length)
		len = s->length;
	else if (target_is_fixed_size(t))
		len = s->offset < size ? size - s->offset : 0;
	if (!len || len % target_block_size(t))
		return misaligned_length(plan, job->line, arg, len, t, err, errlen);
	job->dests[d] = (struct plan_region) { t, s->offset, len };
	return 0;
}

static int resolve_copy_dest(struct plan *plan, struct plan_job *job, unsigned d,
			     char *err, size_t errlen)
{
	const struct region_spec *s = &job->dst_spec[d];
	const char *arg = job->dst_args[d];
	struct target *t = dst_target(plan, job, d);
	uint64_t len = job->source.count, size = target_size(t);
	bool src_tail = ends_at_file_eof(job->source.target, job->source.offset, len);
	int r;

	if (job->flags & KC_OPEN_END)
		return resolve_open_dest(plan, job, d, err, errlen);

	r = check_offset(plan, job->line, arg, t, s->offset, err, errlen);
	if (r < 0)
		return r;
	if (s->has_length && s->length % target_block_size(t))
		return misaligned_length(plan, job->line, arg, s->length, t, err,
					 errlen);
	if (s->has_length && s->length < len)
		return refuse(plan, job->line, err, errlen, -ENOSPC,
			      "%s: destination region (%" PRIu64 " bytes) is smaller "
			      "than the copy (%" PRIu64 " bytes)", arg, s->length, len);
	if (target_is_fixed_size(t) && (s->offset > size || size - s->offset < len))
		return refuse(plan, job->line, err, errlen, -ENOSPC,
			      "%s: destination too small: the copy needs %" PRIu64
			      " bytes at offset %" PRIu64 ", the %s has %" PRIu64,
			      arg, len, s->offset, kind_word(t), size);
	if (len % target_block_size(t) && !src_tail)
		return misaligned_length(plan, job->line, arg, len, t, err, errlen);
	r = check_file_end(plan, job->line, arg, t, s->offset, len, err, errlen);
	if (r < 0)
		return r;
	job->dests[d] = (struct plan_region) { t, s->offset, len };
	return 0;
}

static int resolve_zero_dest(struct plan *plan, struct plan_job *job, unsigned d,
			     char *err, size_t errlen)
{
	const struct region_spec *s = &job->dst_spec[d];
	const char *arg = job->dst_args[d];
	struct target *t = dst_target(plan, job, d);
	uint64_t size = target_size(t), len;
	int r;

	/* Zeroing "to its end" a file that isn't there is a typo, not a job. */
	if (!target_exists(t) && !s->has_length)
		return refuse(plan, job->line, err, errlen, -ENOENT,
			      "%s: No such file or directory (give a LENGTH to create it)",
			      arg);
	r = check_offset(plan, job->line, arg, t, s->offset, err, errlen);
	if (r < 0)
		return r;
	if (!s->has_length && s->offset > size)
		return refuse(plan, job->line, err, errlen, -ERANGE,
			      "%s: offset %" PRIu64 " is beyond the end (size %" PRIu64 ")",
			      arg, s->offset, size);
	len = s->has_length ? s->length : size - s->offset;
	if (target_is_fixed_size(t) && (s->offset > size || len > size - s->offset))
		return refuse(plan, job->line, err, errlen, -ERANGE,
			      "%s: region ends beyond the end (size %" PRIu64 ")",
			      arg, size);
	r = check_file_end(plan, job->line, arg, t, s->offset, len, err, errlen);
	if (r < 0)
		return r;
	if (len % target_block_size(t) && !ends_at_file_eof(t, s->offset, len))
		return misaligned_length(plan, job->line, arg, len, t, err, errlen);
	job->dests[d] = (struct plan_region) { t, s->offset, len };
	return 0;
}

static int resolve_job(struct plan *plan, struct plan_job *job, char *err,
		       size_t errlen)
{
	unsigned d;
	int r = 0;

	if (!job->zero) {
		r = resolve_source(plan, job, err, errlen);
		if (r < 0)
			return r;
	}
	for (d = 0; d < job->num_dests && r == 0; d++)
		r = job->zero ? resolve_zero_dest(plan, job, d, err, errlen) :
				resolve_copy_dest(plan, job, d, err, errlen);
	/*
	 * An open end reads up to a block past the largest destination:
	 * more than any holds is then seen, and is an error on each.
	 */
	for (d = 0; r == 0 && (job->flags & KC_OPEN_END) && d < job->num_dests; d++)
		if (job->dests[d].count + 4096 > job->source.count)
			job->source.count = job->dests[d].count + 4096;
	return r;
}

/*-----------------------------------------------------------------
 * Overlaps: nothing written may overlap anything else in use at the
 * same time (the same job, or a job of the same group).
 *---------------------------------------------------------------*/
struct use {
	const struct plan_job *job;
	int index;		/* KC_REGION_SOURCE or dest index */
	const char *arg;
	const struct plan_region *rg;
};

static int collide(struct plan *plan, const struct use *a, const struct use *b,
		   bool same_range, char *err, size_t errlen)
{
	const struct use *w = a->index == KC_REGION_SOURCE ? b : a;
	const struct use *o = w == a ? b : a;
	const struct target_backing *under = target_backing(w->rg->target);
	char via[PATH_MAX + 32] = "";

	/* Through an alias: say what they share. */
	if (strcmp(target_canonical_path(w->rg->target),
		   target_canonical_path(o->rg->target)))
		snprintf(via, sizeof(via), " (both are on %s)", under->name);
	if (a->job == b->job && o->index == KC_REGION_SOURCE)
		return refuse(plan, w->job->line, err, errlen, -EINVAL,
			      "%s: destination overlaps the source %s%s", w->arg,
			      o->arg, via);
	if (a->job == b->job && same_range && !via[0])
		return refuse(plan, w->job->line, err, errlen, -EINVAL,
			      "%s: the same destination is given twice", w->arg);
	if (a->job == b->job)
		return refuse(plan, w->job->line, err, errlen, -EINVAL,
			      "%s: destination overlaps destination %s%s", w->arg,
			      o->arg, via);
	return refuse(plan, w->job->line, err, errlen, -EINVAL,
		      "%s: overlaps %s of the job on line %u, which runs at the same "
		      "time%s (add a 'wait' line between them)",
		      w->arg, o->arg, o->job->line, via);
}

/* Judged on the storage underneath: loop devices, partitions, files. */
static int check_pair(struct plan *plan, const struct use *a, const struct use *b,
		      char *err, size_t errlen)
{
	uint64_t a_base, b_base, a_off, b_off;

	if (a->index == KC_REGION_SOURCE && b->index == KC_REGION_SOURCE)
		return 0;	/* reads may share */
	if (!target_same_storage(a->rg->target, b->rg->target, &a_base, &b_base))
		return 0;
	a_off = a_base + a->rg->offset;
	b_off = b_base + b->rg->offset;
	if (!region_ranges_overlap(a_off, a->rg->count, b_off, b->rg->count)) {
		/* Zero-length twins are still the same destination twice. */
		if (a->job != b->job || a->rg->count || b->rg->count || a_off != b_off)
			return 0;
	}
	return collide(plan, a, b, a_off == b_off && a->rg->count == b->rg->count,
		       err, errlen);
}

static size_t uses_of_group(struct plan *plan, unsigned group, struct use *uses)
{
	size_t n = 0, j;
	unsigned d;

	for (j = 0; j < plan->nr_jobs; j++) {
		const struct plan_job *job = &plan->jobs[j];

		if (job->group != group)
			continue;
		if (!job->zero)
			uses[n++] = (struct use) { job, KC_REGION_SOURCE, job->src_arg,
						   &job->source };
		for (d = 0; d < job->num_dests; d++)
			uses[n++] = (struct use) { job, (int)d, job->dst_args[d],
						   &job->dests[d] };
	}
	return n;
}

static int check_overlaps(struct plan *plan, char *err, size_t errlen)
{
	struct use *uses;
	size_t n, i, k;
	unsigned g;
	int r = 0;

	uses = calloc(plan->nr_jobs * (KC_MAX_DESTS + 1) + 1, sizeof(*uses));
	if (!uses)
		return -ENOMEM;
	for (g = 0; g <= plan->nr_groups && r == 0; g++) {
		n = uses_of_group(plan, g, uses);
		for (i = 0; i < n && r == 0; i++)
			for (k = i + 1; k < n && r == 0; k++)
				r = check_pair(plan, &uses[i], &uses[k], err, errlen);
	}
	free(uses);
	return r;
}

/* The job that first writes @pt, for messages. */
static const struct plan_job *first_writer(struct plan *plan,
					   const struct plan_target *pt,
					   const char **arg)
{
	size_t j;
	unsigned d;

	for (j = 0; j < plan->nr_jobs; j++)
		for (d = 0; d < plan->jobs[j].num_dests; d++)
			if (&plan->targets[plan->jobs[j].dst_target[d]] == pt) {
				*arg = plan->jobs[j].dst_args[d];
				return &plan->jobs[j];
			}
	return NULL;
}

static int check_signatures(struct plan *plan, char *err, size_t errlen)
{
	const struct plan_job *job;
	struct plan_target *pt;
	const char *arg = NULL;
	char what[256];
	size_t i;
	int r;

	for (i = 0; i < plan->nr_targets; i++) {
		pt = &plan->targets[i];
		if (!pt->written || pt->force)
			continue;
		r = target_probe_signature(pt->t, what, sizeof(what));
		job = first_writer(plan, pt, &arg);
		if (r < 0)
			return refuse(plan, job->line, err, errlen, r,
				      "%s: cannot probe for signatures: %s",
				      arg, strerror(-r));
		if (r > 0)
			return refuse(plan, job->line, err, errlen, -EEXIST,
				      "%s: carries a signature: %s; use --force to "
				      "overwrite it", arg, what);
	}
	return 0;
}

/* Does one of our own targets stand on block device @rdev? */
static bool ours(dev_t rdev, void *ctx)
{
	const struct plan *plan = ctx;
	size_t i;

	for (i = 0; i < plan->nr_targets; i++)
		if (plan->targets[i].t && target_stands_on(plan->targets[i].t, rdev))
			return true;
	return false;
}

/* "In use" through aliases: a destination under a busy loop device. */
static int check_users(struct plan *plan, char *err, size_t errlen)
{
	const struct plan_job *job;
	char why[PATH_MAX + 128];
	size_t j;
	unsigned d;
	int r;

	for (j = 0; j < plan->nr_jobs; j++) {
		job = &plan->jobs[j];
		for (d = 0; d < job->num_dests; d++) {
			r = target_check_users(job->dests[d].target, job->dests[d].offset,
					       job->dests[d].count, ours, plan, why,
					       sizeof(why));
			if (r < 0)
				return refuse(plan, job->line, err, errlen, r, "%s", why);
		}
	}
	return 0;
}

int plan_open(struct plan *plan, char *err, size_t errlen)
{
	size_t j;
	int r;

	r = collect_targets(plan);
	if (r < 0)
		return r;
	r = open_targets(plan, err, errlen);
	if (r < 0)
		return r;
	for (j = 0; j < plan->nr_jobs; j++) {
		r = resolve_job(plan, &plan->jobs[j], err, errlen);
		if (r < 0)
			return r;
	}
	r = check_overlaps(plan, err, errlen);
	if (r < 0)
		return r;
	r = check_users(plan, err, errlen);
	if (r < 0)
		return r;
	return check_signatures(plan, err, errlen);
}

/* Is @t, or what it stands on, the object @st (or the new file @canon)? */
static bool target_is_object(const struct target *t, const struct stat *st,
			     const char *canon)
{
	const struct target_backing *b = target_backing(t);

	if (!st)
		return b->kind == BACKING_NEW && canon && !strcmp(b->name, canon);
	if (S_ISBLK(st->st_mode))
		return target_stands_on(t, st->st_rdev);
	return b->kind == BACKING_FILE && b->dev == st->st_dev && b->ino == st->st_ino;
}

/* realpath(dir)/name of a path that does not exist; malloc'ed. */
static char *canonical_new(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
	char *real = dir ? target_absolute_path(dir) : NULL, *canon = NULL;

	if (real && asprintf(&canon, "%s/%s", real, slash ? slash + 1 : path) < 0)
		canon = NULL;
	free(real);
	free(dir);
	return canon;
}

int plan_check_not_region(const struct plan *plan, const char *path,
			  const char *what, char *err, size_t errlen)
{
	const struct plan_target *pt;
	char *canon = NULL;
	struct stat st;
	bool exists = stat(path, &st) == 0;
	size_t i;
	int r = 0;

	if (!exists && !(canon = canonical_new(path)))
		return 0;	/* no directory: the map's own checks say so */
	for (i = 0; i < plan->nr_targets && r == 0; i++) {
		pt = &plan->targets[i];
		if (target_is_object(pt->t, exists ? &st : NULL, canon))
			r = refuse(plan, pt->line, err, errlen, -EINVAL,
				   "%s: the %s is also %s of the copy%s%s", path, what,
				   pt->written ? "a destination" : "the source",
				   pt->exists ? " " : "",
				   pt->exists ? target_canonical_path(pt->t) : "");
	}
	free(canon);
	return r;
}

int plan_prepare(struct plan *plan, char *err, size_t errlen)
{
	struct plan_target *pt;
	size_t i;
	int r;

	for (i = 0; i < plan->nr_targets; i++) {
		pt = &plan->targets[i];
		if (!pt->written)
			continue;
		r = target_prepare(pt->t, target_end(plan, pt->t), err, errlen);
		if (r < 0) {
			plan_unprepare(plan);
			return r;
		}
	}
	return 0;
}

void plan_unprepare(struct plan *plan)
{
	size_t i;

	for (i = plan->nr_targets; i-- > 0;)
		if (plan->targets[i].written)
			target_unprepare(plan->targets[i].t);
}

/*-----------------------------------------------------------------
 * What the map knows a job by.
 *---------------------------------------------------------------*/
static void escape_path(FILE *f, const char *path)
{
	const unsigned char *p;

	for (p = (const unsigned char *)path; *p; p++) {
		if (*p <= ' ' || *p == '%' || *p >= 0x7f)
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
}

/* Close an open_memstream() of *@buf: the line, or NULL. */
static char *close_line(FILE *f, char **buf, bool ok)
{
	if (fclose(f) != 0 || !ok) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

char *plan_job_names(const struct plan *plan, size_t j)
{
	const struct plan_job *job = &plan->jobs[j];
	char *buf = NULL;
	size_t len = 0;
	unsigned d;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs(job->zero ? "zero" : "copy", f);
	if (!job->zero) {
		fputs(" src ", f);
		escape_path(f, target_canonical_path(job->source.target));
		fprintf(f, " %" PRIu64 " %" PRIu64, job->source.offset,
			job->source.count);
	}
	for (d = 0; d < job->num_dests; d++) {
		fputs(" dst ", f);
		escape_path(f, target_canonical_path(job->dests[d].target));
		fprintf(f, " %" PRIu64 " %" PRIu64, job->dests[d].offset,
			job->dests[d].count);
	}
	return close_line(f, &buf, true);
}

char *plan_job_objects(const struct plan *plan, size_t j)
{
	const struct plan_job *job = &plan->jobs[j];
	char *buf = NULL, *obj;
	size_t len = 0;
	bool ok = true;
	unsigned d;
	FILE *f;

	for (d = 0; d < job->num_dests; d++)
		if (!target_exists(job->dests[d].target))
			return NULL;	/* fresh: nothing of it can be done */
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (d = 0; d <= job->num_dests && ok; d++) {
		const struct target *t = d == 0 ? (job->zero ? NULL : job->source.target) :
					 job->dests[d - 1].target;

		if (!t)
			continue;
		obj = target_object_line(t);
		ok = obj != NULL;
		/* A file a stream writes grows as it goes: its size says nothing. */
		if (ok && d && (job->flags & KC_OPEN_END) && !target_is_fixed_size(t) &&
		    strrchr(obj, ':'))
			*strrchr(obj, ':') = '\0';
		if (ok)
			fprintf(f, "%s%s", ftell(f) ? " " : "", obj);
		free(obj);
	}
	return close_line(f, &buf, ok);
}

/* Does a job of @group (or of any, for PLAN_ALL_GROUPS) write @pt? */
static bool written_in_group(const struct plan *plan, const struct plan_target *pt,
			     int group)
{
	const struct plan_job *job;
	size_t j;
	unsigned d;

	if (!pt->written || group == PLAN_ALL_GROUPS)
		return pt->written;
	for (j = 0; j < plan->nr_jobs; j++) {
		job = &plan->jobs[j];
		for (d = 0; job->group == (unsigned)group && d < job->num_dests; d++)
			if (&plan->targets[job->dst_target[d]] == pt)
				return true;
	}
	return false;
}

int plan_flush(struct plan *plan, int group,
	       void (*failed)(const struct target *t, int error, void *ctx),
	       void *ctx)
{
	size_t i;
	int r, first = 0;

	for (i = 0; i < plan->nr_targets; i++) {
		if (!written_in_group(plan, &plan->targets[i], group))
			continue;
		r = target_flush(plan->targets[i].t);
		if (r == 0)
			continue;
		if (!first)
			first = r;
		if (failed)
			failed(plan->targets[i].t, -r, ctx);
	}
	return first;
}

size_t plan_written_targets(const struct plan *plan, int group,
			    struct target **out)
{
	size_t i, n = 0;

	for (i = 0; i < plan->nr_targets; i++)
		if (written_in_group(plan, &plan->targets[i], group))
			out[n++] = plan->targets[i].t;
	return n;
}

void plan_for_each_fallback(const struct plan *plan,
			    void (*fn)(const char *path, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; i < plan->nr_targets; i++)
		if (plan->targets[i].t && target_fell_back(plan->targets[i].t))
			fn(plan->targets[i].path, ctx);
}

void plan_free(struct plan *plan)
{
	size_t i;
	unsigned d;

	for (i = 0; i < plan->nr_jobs; i++) {
		region_spec_free(&plan->jobs[i].src_spec);
		for (d = 0; d < plan->jobs[i].num_dests; d++)
			region_spec_free(&plan->jobs[i].dst_spec[d]);
	}
	for (i = 0; i < plan->nr_targets; i++)
		target_close(plan->targets[i].t);
	free(plan->jobs);
	free(plan->targets);
	memset(plan, 0, sizeof(*plan));
}
