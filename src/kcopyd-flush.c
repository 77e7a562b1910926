// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-flush.c - flush jobs: every region's device flushed at once
 * (IO_FLUSH), one sub-job each, so that N destinations take as long as
 * the slowest rather than the sum. A flush is never dropped by a stop:
 * what was written before it is to be kept.
 */
#include <errno.h>

#include "kcopyd-internal.h"

int kc_flush(struct kc_client *kc, unsigned num, const struct kc_io_region *regions,
	     struct kc_job **out)
{
	return job_create(kc, JOB_FLUSH, NULL, num, regions, 0, num, NULL, NULL, out);
}

int issue_flush(struct sub_job *sub)
{
	prep_request(sub, &sub->reqs[0], IO_FLUSH, sub->dest, NULL, 0, 0);
	sub->pending = 1;
	io_queue_request(&sub->reqs[0]);
	return 0;
}

void complete_flush(struct sub_job *sub, struct io_request *req)
{
	const struct kc_io_region *rg = &sub->job->dests[sub->dest];

	/* After a failed flush, nothing written there since is trusted. */
	if (req->result < 0)
		record_error(sub->job, sub->dest, rg->offset, rg->count, -req->result);
	sub->pending = 0;
	phase_done(sub);
}
