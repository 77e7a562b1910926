// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-retry.c - a chunk whose read or write failed, again block by
 * block, to find exactly which blocks are bad (the kernel's dm-io reports
 * a region as a whole; we want the ranges). Up to RETRY_DEPTH block I/Os
 * are kept in flight. An unreadable block is zeros in the buffer from
 * then on, never stale memory; with ignore-errors it is written as such.
 */
#include <string.h>

#include "kcopyd-internal.h"

static void fail_untried(struct sub_job *sub, int region, uint64_t from,
			 uint64_t to);

void start_retry(struct sub_job *sub, int region)
{
	struct kc_job *job = sub->job;

	if (region == KC_REGION_SOURCE && io_dev_info(job->source.dev)->sequential) {
		/* A stream is not read twice: the chunk fails whole. */
		fail_untried(sub, region, sub->offset, sub->offset + sub->count);
		push(&job->kc->complete_jobs, sub);
		return;
	}
	sub->retry.region = region;
	sub->retry.found = false;
	sub->retry.cut = UINT64_MAX;
	sub->retry.next = sub->offset;
	if (region == KC_REGION_SOURCE) {
		sub->phase = PH_READ_RETRY;
		sub->retry.end = sub->offset + sub->count;
	} else {
		sub->phase = PH_WRITE_RETRY;
		sub->retry.end = sub->offset + write_length(sub, (unsigned)region);
	}
	sub->retry.block = io_dev_info(job_region(job, region)->dev)->block_size;
	push(&job->kc->io_jobs, sub);
}

/*
 * After the chunk's writes: retry the next destination whose write
 * failed, if any. Returns true when one was started.
 */
/* The error a region's chunk I/O failed with, before any retry. */
static int chunk_error(const struct sub_job *sub, int region)
{
	int r = sub->reqs[region == KC_REGION_SOURCE ? 0 : region].result;

	return r < 0 ? -r : EIO;
}

/*
 * Stopped before every block was tried again: unless a block that fails
 * was found already, the fault is in what was not tried, which is then
 * reported failed with the chunk's error, so that a fault that was hit
 * is never left out of read_err and write_err.
 */
static void fail_untried(struct sub_job *sub, int region, uint64_t from,
			 uint64_t to)
{
	const struct kc_io_region *rg = job_region(sub->job, region);

	if (from < to)
		record_error(sub->job, region, rg->offset + from, to - from,
			     chunk_error(sub, region));
	sub->failed = true;
}

/*
 * Every block I/O of the retry is back. If a stop cut it short and none
 * of the blocks tried failed, the fault is in those not tried.
 */
static void retry_done(struct sub_job *sub)
{
	if (sub->retry.cut != UINT64_MAX) {
		if (!sub->retry.found)
			fail_untried(sub, sub->retry.region, sub->retry.cut,
				     sub->retry.end);
		sub->failed = true;
	}
	phase_done(sub);
}

/*
 * A destination that is gone fails the chunk whole: a retry block by
 * block would only meet the same error once per block.
 */
static void fail_lost(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	const struct kc_io_region *rg;
	unsigned d;
	int error;

	for (d = 0; d < job->num_dests; d++) {
		if (!(sub->retry.mask & (1ul << d)))
			continue;
		error = chunk_error(sub, (int)d);
		if (!(job->lost & (1ul << d)) && !kc_error_is_lost(error))
			continue;
		rg = job_region(job, (int)d);
		record_error(job, (int)d, rg->offset + sub->offset,
			     write_length(sub, d), error);
		sub->retry.mask &= ~(1ul << d);
	}
}

bool retry_next_region(struct sub_job *sub)
{
	unsigned d;

	fail_lost(sub);
	if (!sub->retry.mask)
		return false;
	if (sub->job->kc->stopping) {
		for (d = 0; d < sub->job->num_dests; d++)
			if (sub->retry.mask & (1ul << d))
				fail_untried(sub, (int)d, sub->offset,
					     sub->offset + write_length(sub, d));
		return false;
	}
	start_retry(sub, __builtin_ctzl(sub->retry.mask));
	return true;
}

/*
 * Busy mask when every retry slot is in use. A sequential job rewrites
 * one block at a time, so nothing is written above a block that fails.
 */
static unsigned retry_slots(const struct sub_job *sub)
{
	if (sub->phase == PH_WRITE_RETRY && (sub->job->flags & KC_WRITE_SEQ))
		return 1;
	return (1u << RETRY_DEPTH) - 1;
}

/*
 * A last, partial block is a file's unaligned end, which the backend
 * writes through the page cache: it goes alone, after the blocks before
 * it, so that it never races an O_DIRECT write of the same page.
 */
static bool must_wait(const struct sub_job *sub, uint64_t len)
{
	return len < sub->retry.block && sub->retry.busy;
}

int issue_retries(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	bool reading = sub->phase == PH_READ_RETRY;
	struct io_request *req;
	uint64_t len;
	unsigned slot;

	if (job->kc->stopping) {
		sub->retry.cut = sub->retry.next;
		sub->retry.next = sub->retry.end;	/* issue no more */
		if (!sub->pending)
			retry_done(sub);
		return 0;
	}
	while (sub->retry.next < sub->retry.end &&
	       sub->retry.busy != retry_slots(sub)) {
		len = min_u64(sub->retry.block, sub->retry.end - sub->retry.next);
		if (!reading && must_wait(sub, len))
			break;	/* pushed again when the others are back */
		slot = (unsigned)__builtin_ctz(~sub->retry.busy);
		req = &sub->retry.reqs[slot];
		prep_request(sub, req, reading ? IO_READ : IO_WRITE,
			     sub->retry.region,
			     sub->buf + (sub->retry.next - sub->offset),
			     sub->retry.next, len);
		sub->retry.busy |= 1u << slot;
		sub->pending++;
		sub->retry.next += len;
		io_queue_request(req);
	}
	return 0;
}

bool is_retry_request(const struct sub_job *sub, const struct io_request *req)
{
	return req >= sub->retry.reqs && req < sub->retry.reqs + RETRY_DEPTH;
}

void complete_retry(struct sub_job *sub, struct io_request *req)
{
	struct kc_job *job = sub->job;
	unsigned slot = (unsigned)(req - sub->retry.reqs);
	int region = sub->retry.region;
	uint64_t rel = req->offset - job_region(job, region)->offset;

	sub->retry.busy &= ~(1u << slot);
	if (req->result < 0) {
		if (region == KC_REGION_SOURCE)	/* never stale memory */
			memset(sub->buf + (rel - sub->offset), 0, req->length);
		record_error(job, region, req->offset, req->length, -req->result);
		sub->retry.found = true;
		if (!(job->flags & KC_IGNORE_ERROR))
			sub->failed = true;
		if (region != KC_REGION_SOURCE && (job->flags & KC_WRITE_SEQ))
			sub->retry.next = sub->retry.end;	/* stop at it */
	}
	if (--sub->pending == 0 && sub->retry.next >= sub->retry.end) {
		retry_done(sub);
		return;
	}
	if (sub->retry.next < sub->retry.end && list_empty(&sub->list))
		push(&job->kc->io_jobs, sub);
}
