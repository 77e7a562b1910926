/* SPDX-License-Identifier: GPL-2.0 */
/*
 * report.h - what kcopy tells its user: the progress line while jobs run,
 * the human report on stderr and the JSON report on stdout at the end
 * (SPEC §5). Knows nothing of how the jobs ran, only their stats.
 */
#ifndef KCOPY_REPORT_H
#define KCOPY_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "digest.h"
#include "kcopyd.h"

struct report_region {
	const char *path;
	uint64_t offset;
	uint64_t length;
	/* --hash: its digests (hex; NULL: not made), by name */
	unsigned nr_hashes;
	const char *hash_names[DIGEST_NR];
	const char *hashes[DIGEST_NR];
};

struct report_job {
	unsigned line;			/* job-file line, 0 for none */
	bool zero;
	struct report_region source;	/* unused for zero */
	unsigned num_dests;
	struct report_region dests[KC_MAX_DESTS];
	struct kc_job_stats stats;	/* filled before reporting */
	bool started;			/* false: never ran (interrupted before) */
	uint64_t flushed_ns;		/* its destinations flushed (0: not) */
	/* -1 not asked, 0 mismatch, 1 verified, 2 cut short by a stop */
	int verified;
	/* Failures found outside the engine (flush, verify), same shape. */
	struct kc_error_range *extra;
	size_t nr_extra;
};

enum report_status {
	REPORT_OK,
	REPORT_ERRORS,
	REPORT_INTERRUPTED,
};

const char *report_status_name(enum report_status status);

/* Human report: per job, its errors, and a summary line. */
void report_human(FILE *f, const struct report_job *jobs, size_t nr_jobs,
		  double seconds, enum report_status status);

/*
 * With -q: only what went wrong, one line each ("kcopy: ..."): every
 * failed range, verify mismatch and failed flush. Nothing when all is well.
 */
void report_errors(FILE *f, const struct report_job *jobs, size_t nr_jobs);

/* JSON report (SPEC §5). Returns 0 or -errno if writing failed. */
int report_json(FILE *f, const struct report_job *jobs, size_t nr_jobs,
		double seconds, enum report_status status);

/* Progress, while jobs run. */
enum progress_mode {
	PROGRESS_NONE,
	PROGRESS_LINE,		/* one redrawn line, at most 10 a second */
	PROGRESS_JSON,		/* a JSON object a line, at most 1 a second */
};

struct progress;

struct progress *progress_create(enum progress_mode mode, FILE *f,
				  uint64_t bytes_total);
void progress_destroy(struct progress *p);
/*
 * Called often; draws only when its interval has passed (or @force).
 * @jobs gives per-job figures for the JSON lines.
 */
void progress_update(struct progress *p, uint64_t bytes_done,
		     const struct report_job *jobs, size_t nr_jobs, bool force);
/* Erase the line before the final report. */
void progress_clear(struct progress *p);
/* The SIGUSR1 line (as dd prints): always to @f, whatever the mode. */
void progress_status_line(FILE *f, uint64_t bytes_done, uint64_t bytes_total,
			  double seconds);

#endif
