// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-book.c - the engine's bookkeeping: the error ranges of a job (the
 * kcopyd notify contract: read_err, a write_err bit per destination, and
 * each failed range), and what of the job is done. What is done is a
 * range set (ranges.h), the same kind the resume map keeps.
 */
#include <errno.h>
#include <stdlib.h>

#include "kcopyd-internal.h"

bool kc_error_is_lost(int error)
{
	return error == ENOTCONN || error == ESHUTDOWN || error == ECONNRESET ||
	       error == EPIPE;
}

void record_error(struct kc_job *job, int region, uint64_t offset,
		  uint64_t length, int error)
{
	const struct kc_io_region *rg = job_region(job, region);
	struct kc_error_range *e;
	size_t cap;

	if (region == KC_REGION_SOURCE)
		job->read_err = 1;
	else if (region < KC_MAX_DESTS)
		job->write_err |= 1ul << region;
	if (region != KC_REGION_SOURCE && kc_error_is_lost(error) &&
	    job->kind != JOB_FLUSH)
		job->lost |= 1ul << region;
	/* A lost destination stops only itself, until all are lost. */
	if (!(job->flags & KC_IGNORE_ERROR) && job->kind != JOB_FLUSH &&
	    (region == KC_REGION_SOURCE || !(job->lost & (1ul << region)) ||
	     job->lost == (1ul << job->num_dests) - 1)) {
		job->split.stop = true;
		job->split.stop_offset = min_u64(job->split.stop_offset, offset - rg->offset);
	}

	if (job->nr_errors == job->errors_cap) {
		cap = job->errors_cap ? job->errors_cap * 2 : 16;
		e = realloc(job->errors, cap * sizeof(*e));
		if (!e)
			return;	/* the bitmask still tells; the range is lost */
		job->errors = e;
		job->errors_cap = cap;
	}
	job->errors[job->nr_errors++] = (struct kc_error_range) {
		.region = region, .offset = offset, .length = length, .error = error,
		.flush = job->kind == JOB_FLUSH,
	};
}

static int error_cmp(const void *a, const void *b)
{
	const struct kc_error_range *x = a, *y = b;

	if (x->region != y->region)
		return x->region < y->region ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
}

/* Sort by region and offset; join adjacent blocks that failed alike. */
void coalesce_errors(struct kc_job *job)
{
	size_t i, out = 0;
	struct kc_error_range *e = job->errors, *last;

	if (!job->nr_errors)
		return;
	qsort(e, job->nr_errors, sizeof(*e), error_cmp);
	for (i = 1; i < job->nr_errors; i++) {
		last = &e[out];
		if (e[i].region == last->region && e[i].error == last->error &&
		    e[i].flush == last->flush &&
		    e[i].offset == last->offset + last->length)
			last->length += e[i].length;
		else
			e[++out] = e[i];
	}
	job->nr_errors = out + 1;
}

void note_done(struct kc_job *job, uint64_t offset, uint64_t length)
{
	job->bytes_done += length;
	/* On ENOMEM only the done prefix is understated: claimed later. */
	range_set_add(&job->done, offset, offset + length);
}

uint64_t job_done_prefix(const struct kc_job *job)
{
	return range_set_covered_at(&job->done, 0);
}

/*
 * Resume: how much the client says is done at @offset (up to @end). Work
 * goes on at a block boundary of the job: a done range that ends inside
 * a block (a failed 512-byte block of a source, an unaligned end of a
 * shorter destination) leaves the rest of that block to be done again.
 */
uint64_t resume_span(const struct kc_job *job, uint64_t offset, uint64_t end)
{
	uint64_t stop;

	if (!job->ops.done_at || offset >= end)
		return 0;
	stop = offset + min_u64(job->ops.done_at(job->context, offset), end - offset);
	if (stop < end)
		stop = stop / job->block_size * job->block_size;
	return stop > offset ? stop - offset : 0;
}

/* Skip what resume_span() finds done; returns where the work goes on. */
uint64_t resume_skip(struct kc_job *job, uint64_t offset, uint64_t end)
{
	uint64_t skip;

	while ((skip = resume_span(job, offset, end))) {
		note_done(job, offset, skip);
		job->bytes_skipped += skip;
		offset += skip;
	}
	return offset;
}
