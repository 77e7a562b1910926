/* SPDX-License-Identifier: GPL-2.0 */
/*
 * plan.h - from arguments to validated, opened regions (SPEC §1).
 *
 * Every refusal of SPEC §1 happens here, before anything is written:
 * plan_open() opens and checks everything and changes nothing on disk;
 * only plan_prepare() creates or extends destination files. Each distinct
 * file or device is opened once, however many jobs name it.
 */
#ifndef KCOPY_PLAN_H
#define KCOPY_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "kcopyd.h"
#include "region.h"

/* A region as the plan knows it: on a target (the engine's are on devices). */
struct plan_region {
	struct target *target;
	uint64_t offset;	/* bytes */
	uint64_t count;		/* bytes */
};

struct plan_job {
	unsigned line;		/* job-file line, 0 on the command line */
	unsigned group;		/* jobs of one group run together; 'wait' ends one */
	bool zero;		/* src_arg == NULL: zero the destinations */
	bool force;		/* allow destinations with signatures */
	unsigned flags;		/* KC_* job flags */
	const char *src_arg;	/* as given; NULL for zero */
	unsigned num_dests;
	const char *dst_args[KC_MAX_DESTS];
	struct region_spec src_spec;
	struct region_spec dst_spec[KC_MAX_DESTS];
	/* private: indices into plan->targets, each argument resolved once */
	size_t src_target;
	size_t dst_target[KC_MAX_DESTS];
	/* Filled by plan_open(). */
	struct plan_region source;
	struct plan_region dests[KC_MAX_DESTS];
};

struct plan {
	const char *jobfile;	/* for FILE:LINE: messages, or NULL */
	bool buffered;
	unsigned connections;	/* per NBD endpoint, at most (remote.h) */
	bool raw;		/* compressed source files are not decoded */
	/*
	 * The length of every copy's source that is not a stream: what a
	 * bmap says; 0 for none. A stream then yields that much.
	 */
	uint64_t image_size;
	size_t nr_jobs;
	struct plan_job *jobs;
	unsigned nr_groups;
	/* private */
	size_t nr_targets;
	struct plan_target *targets;
};

/*
 * Add a job: a copy from @src, or a zero when @src is NULL (the one
 * place the job's kind is said). The argument strings must outlive the
 * plan. Returns 0, or -errno: -ENOMEM, or another with a message in @err.
 */
int plan_add_job(struct plan *plan, unsigned line, bool force, unsigned flags,
		 const char *src, unsigned num_dests, char *const dsts[],
		 char *err, size_t errlen);
/* A job's length: the source's, or a zero job's longest region. */
uint64_t plan_job_length(const struct plan_job *pj);
/* A 'wait' barrier: later jobs form a new group. */
void plan_add_barrier(struct plan *plan);

/* Open, size, align, overlap, in-use and signature checks. No writes. */
int plan_open(struct plan *plan, char *err, size_t errlen);

/*
 * @path (the map, the job file) must be none of the regions, nor the
 * storage under one of them. -EINVAL with "PATH: the WHAT is also a
 * source or destination" in @err.
 */
int plan_check_not_region(const struct plan *plan, const char *path,
			  const char *what, char *err, size_t errlen);

/*
 * Create missing destination files and extend short ones, all or
 * nothing: if one fails, what was already done is taken back.
 */
int plan_prepare(struct plan *plan, char *err, size_t errlen);
/* Take back what plan_prepare() did (a run refused after it). */
void plan_unprepare(struct plan *plan);

/*
 * The map's two lines for job @j (map.h): its names, and its objects —
 * NULL when a destination of it does not exist (yet). Malloc'ed.
 */
char *plan_job_names(const struct plan *plan, size_t j);
char *plan_job_objects(const struct plan *plan, size_t j);
#define PLAN_ALL_GROUPS (-1)

/*
 * fdatasync every destination written by a job of @group (or by any job:
 * PLAN_ALL_GROUPS). Calls @failed (if not NULL) for each one that fails;
 * returns 0 or the first -errno.
 */
int plan_flush(struct plan *plan, int group,
	       void (*failed)(const struct target *t, int error, void *ctx),
	       void *ctx);
/*
 * The targets written by a job of @group (or any: PLAN_ALL_GROUPS), into
 * @out (room for every target of the plan). Returns how many.
 */
size_t plan_written_targets(const struct plan *plan, int group,
			    struct target **out);
/* Warnings to print (O_DIRECT fallbacks), one call per target. */
void plan_for_each_fallback(const struct plan *plan,
			    void (*fn)(const char *path, void *ctx), void *ctx);
void plan_free(struct plan *plan);

#endif
