// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-sparse.c - a sparse copy (--sparse): holes of the source (found
 * through its extents) and chunks that read as zeros are zeroed on the
 * destinations the cheapest way all of them allow (IO_ZERO that gives
 * space back, else zero writes), or skipped when the destinations are
 * known to be zero already (--dest-is-zero).
 */
#include <errno.h>

#include "kcopyd-internal.h"

void sparse_setup(struct kc_job *job)
{
	job->sparse.seek_holes = job->ops.next_data ||
				 io_dev_info(job->source.dev)->extents;
	job->sparse.offload = !(job->flags & KC_NO_WRITE_ZEROES) && all_dests_can_zero(job, true);
}

/*
 * Where the hole before data_start ends, for chunking: at the start of the
 * data's block, so chunks stay aligned; or at the job's end, unaligned
 * tail included, when no data follows.
 */
static uint64_t hole_end(const struct kc_job *job)
{
	if (job->sparse.data_start >= job->count)
		return job->count;
	return job->sparse.data_start / job->block_size * job->block_size;
}

/*
 * Is job->split.progress in a hole? If so, shrink *@size to stay inside it.
 * The extents are asked with io_next_data() and cached.
 */
static bool in_hole(struct kc_job *job, uint64_t *size)
{
	uint64_t data, hole, base = job->source.offset;
	int r;

	if (job->split.progress >= job->sparse.data_end) {
		if (job->ops.next_data) {	/* the client's extents: relative */
			r = job->ops.next_data(job->context, job->split.progress,
					       &data, &hole);
			data += base;
			hole += base;
		} else {
			r = io_next_data(job->source.dev, base + job->split.progress,
					 &data, &hole);
		}
		if (r == -ENXIO) {
			data = hole = base + job->count;
		} else if (r < 0) {
			job->sparse.seek_holes = false;	/* read it all */
			return false;
		}
		job->sparse.data_start = data - base;
		job->sparse.data_end = hole - base;
	}
	if (job->split.progress >= job->sparse.data_start) {
		/* Data: stop where the next hole starts, so it can be skipped. */
		hole = round_up(job->sparse.data_end, job->block_size);
		if (hole > job->split.progress)
			*size = min_u64(*size, hole - job->split.progress);
		return false;
	}
	hole = hole_end(job);
	if (hole <= job->split.progress)
		return false;
	*size = min_u64(*size, hole - job->split.progress);
	return true;
}

/* The user promises zeros there: no I/O at all. */
static void skip_hole(struct kc_job *job)
{
	uint64_t len = hole_end(job) - job->split.progress;

	note_done(job, job->split.progress, len);
	if (job->ops.chunk_done)
		job->ops.chunk_done(job->context, job->split.progress, len);
	job->bytes_skipped += len;
	job->split.progress += len;
}

/*
 * Claiming a chunk of a source that can tell its holes: *@size is cut
 * to the data or hole at job->split.progress, and a hole is marked a zero
 * chunk. Returns true when a hole was skipped instead (claim again).
 */
bool sparse_claim(struct sub_job *sub, uint64_t *size)
{
	struct kc_job *job = sub->job;
	/* A hole goes in one piece, as large as the zero buffer. */
	uint64_t span = job->kc->zero_len;

	if (!job->sparse.offload)	/* zero writes: see ZERO_REAL_MAX */
		span = job->kc->sub_job_size;
	if (!in_hole(job, &span)) {
		*size = min_u64(*size, span);
		return false;
	}
	if (job->flags & (KC_DEST_IS_ZERO | KC_HOLES_UNTOUCHED)) {
		skip_hole(job);
		return true;
	}
	sub->zero_chunk = true;
	*size = span;
	return false;
}

/*
 * The chunk is zero in the source (a hole, or read as zeros). Skip it
 * when the destinations are known zero, else zero it the cheapest way
 * every destination allows.
 */
void start_zero_chunk(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	if (job->flags & KC_DEST_IS_ZERO) {
		sub->kind = CHUNK_SKIP;
		push(&kc->complete_jobs, sub);
		return;
	}
	sub->kind = CHUNK_ZERO;
	job->sparse.zeroed = true;
	if (!job->sparse.offload)
		job->sparse.wrote_zeros = true;
	sub->phase = job->sparse.offload ? PH_OFFLOAD : PH_WRITE;
	push(&kc->io_jobs, sub);
}

/*
 * Is the buffer all zeros? Checked a logical block run at a time with
 * word-wide ORs the compiler vectorizes; stops at the first non-zero run.
 */
bool buffer_is_zero(const char *buf, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)buf;
	uint64_t i, j, n = len / 8, acc;

	for (i = 0; i < n; i += 64) {
		acc = 0;
		for (j = i; j < i + 64 && j < n; j++)
			acc |= w[j];
		if (acc)
			return false;
	}
	for (i = n * 8; i < len; i++)
		if (buf[i])
			return false;
	return true;
}
