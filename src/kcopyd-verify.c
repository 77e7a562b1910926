// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-verify.c - verify jobs: each chunk of the source is read once
 * into the first half of a pool slot, each destination's into the second
 * half in turn, and compared block by block, so that a mismatch is
 * reported as exactly the blocks that differ (KC_EMISMATCH). A zero
 * job's destinations are compared with the zero buffer.
 */
#include <errno.h>
#include <string.h>

#include "kcopyd-internal.h"

uint64_t verify_half(const struct kc_job *job)
{
	return job->kc->sub_job_size / 2 / job->block_size * job->block_size;
}

int issue_verify_read(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	bool source = sub->phase == PH_VERIFY_SOURCE;
	int region = source ? KC_REGION_SOURCE : (int)sub->verify_dest;
	uint64_t len;
	int r;

	if (job->kc->stopping) {
		drop(sub);
		return 0;
	}
	len = source ? sub->count : write_length(sub, sub->verify_dest);
	if (!len) {
		sub->pending = 0;
		phase_done(sub);
		return 0;
	}
	r = throttle_admit(sub, len);
	if (r)
		return r;
	prep_request(sub, &sub->reqs[0], IO_READ, region,
		     sub->buf + (source ? 0 : verify_half(job)), sub->offset, len);
	sub->pending = 1;
	io_queue_request(&sub->reqs[0]);
	return 0;
}

void complete_verify_read(struct sub_job *sub, struct io_request *req)
{
	int region = sub->phase == PH_VERIFY_SOURCE ? KC_REGION_SOURCE :
		     (int)sub->verify_dest;

	if (req->result < 0) {
		sub->read_failed = true;
		record_error(sub->job, region, req->offset, req->length, -req->result);
	}
	sub->pending = 0;
	phase_done(sub);
}

/* Compare block by block, so the mismatch ranges are exact. */
static void verify_compare(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	unsigned d = sub->verify_dest;
	uint64_t len = write_length(sub, d), off, n;
	const char *want = job->source.dev ? sub->buf : job->kc->zero_buf;
	const char *got = sub->buf + verify_half(job);

	if (!memcmp(want, got, len))
		return;
	for (off = 0; off < len; off += job->block_size) {
		n = min_u64(job->block_size, len - off);
		if (memcmp(want + off, got + off, n))
			record_error(job, (int)d, job->dests[d].offset + sub->offset + off,
				     n, KC_EMISMATCH);
	}
}

void verify_phase_done(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	if (sub->phase == PH_VERIFY_SOURCE) {
		if (!sub->read_failed) {
			sub->phase = PH_VERIFY_DEST;
			push(&kc->io_jobs, sub);
			return;
		}
	} else {
		if (!sub->read_failed)
			verify_compare(sub);
		sub->read_failed = false;
		if (++sub->verify_dest < job->num_dests && !kc->stopping) {
			push(&kc->io_jobs, sub);
			return;
		}
	}
	push(&kc->complete_jobs, sub);
}

int kc_verify(struct kc_client *kc, const struct kc_io_region *from,
	      unsigned num_dests, const struct kc_io_region *dests,
	      struct kc_job **out)
{
	int r;

	if (!num_dests || num_dests > KC_MAX_DESTS)
		return -EINVAL;
	/* Check everything: one mismatch must not hide the next. */
	r = job_create(kc, JOB_VERIFY, from, num_dests, dests, KC_IGNORE_ERROR,
		       kc->split_count, NULL, NULL, out);
	if (r == 0 && !verify_half(*out)) {
		list_del(&(*out)->all);
		job_free(*out);
		return -EINVAL;
	}
	return r;
}
