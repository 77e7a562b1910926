// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-job.c - making a job: its regions, flags and block size, the
 * per-kind setup, and the stats a client reads back; the requests on its
 * regions, and the queue room they need.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kcopyd-internal.h"

/* Requests in flight are capped here: more buys nothing, costs aio-nr. */
#define MAX_QUEUE_DEPTH 4096

/* The largest logical block size of the regions: chunks align to it. */
static unsigned largest_block(const struct kc_job *job)
{
	unsigned i, bs = 512, lbs;

	for (i = 0; i < job->num_dests + 1; i++) {
		const struct kc_io_region *rg = i ? &job->dests[i - 1] : &job->source;

		if (!rg->dev)
			continue;
		lbs = io_dev_info(rg->dev)->block_size;
		if (lbs > bs)
			bs = lbs;
	}
	return bs;
}

/* Host-managed zoned destinations can only be written in order. */
static unsigned job_flags(const struct kc_job *job, unsigned flags)
{
	unsigned i;

	for (i = 0; i < job->num_dests; i++)
		if (io_dev_info(job->dests[i].dev)->zoned)
			flags |= KC_WRITE_SEQ;
	/* If we need to write sequentially, errors cannot be ignored. */
	if (flags & KC_WRITE_SEQ)
		flags &= ~KC_IGNORE_ERROR;
	return flags;
}

int job_create(struct kc_client *kc, enum job_kind kind,
	       const struct kc_io_region *from, unsigned num_dests,
	       const struct kc_io_region *dests, unsigned flags, unsigned nr_subs,
	       const struct kc_job_ops *ops, void *context, struct kc_job **out)
{
	struct kc_job *job;
	unsigned i;
	int r = -ENOMEM;

	job = calloc(1, sizeof(*job) + nr_subs * sizeof(job->subs[0]));
	if (!job)
		return -ENOMEM;
	job->dests = malloc((num_dests ? num_dests : 1) * sizeof(*dests));
	if (!job->dests)
		goto bad;
	if (num_dests)
		memcpy(job->dests, dests, num_dests * sizeof(*dests));
	job->kc = kc;
	job->kind = kind;
	job->num_dests = num_dests;
	if (ops)
		job->ops = *ops;
	job->context = context;
	job->nr_subs = nr_subs;
	if (from)
		job->source = *from;
	job->flags = kind == JOB_FLUSH ? 0 : job_flags(job, flags);
	job->block_size = largest_block(job);
	job->count = from ? from->count : 0;
	for (i = 0; !from && kind != JOB_FLUSH && i < num_dests; i++)
		if (dests[i].count > job->count)
			job->count = dests[i].count;
	job->split.stop_offset = UINT64_MAX;
	if (kind == JOB_ZERO) {
		r = zero_setup(job);
		if (r < 0)
			goto bad;
	}
	gate_setup(job);
	if (kind == JOB_COPY && (flags & (KC_SPARSE | KC_HOLES_UNTOUCHED)))
		sparse_setup(job);
	for (i = 0; i < job->nr_subs; i++) {
		job->subs[i].job = job;
		job->subs[i].dest = ALL_DESTS;
		INIT_LIST_HEAD(&job->subs[i].list);
	}
	INIT_LIST_HEAD(&job->list);
	list_add_tail(&job->all, &kc->new_jobs);
	*out = job;
	return 0;

bad:
	job_free(job);
	return r;
}

int kc_copy(struct kc_client *kc, const struct kc_io_region *from,
	    unsigned num_dests, const struct kc_io_region *dests,
	    unsigned flags, const struct kc_job_ops *ops, void *context,
	    struct kc_job **out)
{
	if (!from || !num_dests || num_dests > KC_MAX_DESTS)
		return -EINVAL;
	return job_create(kc, JOB_COPY, from, num_dests, dests, flags,
			  kc->split_count, ops, context, out);
}

int kc_zero(struct kc_client *kc, unsigned num_dests,
	    const struct kc_io_region *dests, unsigned flags,
	    const struct kc_job_ops *ops, void *context, struct kc_job **out)
{
	if (!num_dests || num_dests > KC_MAX_DESTS)
		return -EINVAL;
	return job_create(kc, JOB_ZERO, NULL, num_dests, dests, flags,
			  zero_nr_subs(kc, num_dests), ops, context, out);
}

void kc_job_stats(const struct kc_job *job, struct kc_job_stats *s)
{
	*s = (struct kc_job_stats) {
		.read_err = job->read_err,
		.write_err = job->write_err,
		.length = job->count,
		.bytes_done = job->bytes_done,
		.done_prefix = job_done_prefix(job),
		.bytes_data = job->bytes_data,
		.bytes_zeroed = job->bytes_zeroed,
		.bytes_skipped = job->bytes_skipped,
		.zero_method = zero_method(job),
		.errors = job->errors,
		.nr_errors = job->nr_errors,
		.ended = job->ended,
		.interrupted = job->interrupted,
		.start_ns = job->start_ns,
		.end_ns = job->ended ? job->end_ns : io_now(job->kc->q),
	};
}

void job_free(struct kc_job *job)
{
	zero_free(job);
	gate_free(job);
	range_set_free(&job->done);
	free(job->errors);
	free(job->dests);
	free(job);
}

/*-----------------------------------------------------------------
 * Regions and requests.
 *---------------------------------------------------------------*/
/* How far dest @d goes: a zero job's each to its own end, else the job's. */
uint64_t dest_length(const struct kc_job *job, unsigned d)
{
	if (!job->source.dev)
		return job->dests[d].count;
	/* A stream may bring more than a destination holds. */
	if (job->flags & KC_OPEN_END)
		return min_u64(job->count, job->dests[d].count);
	return job->count;
}

/*
 * A stream brought more than destination @d holds: that destination
 * fails from its end on (as a lost one: the others go on).
 */
void note_overflow(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	uint64_t cap, start, end = sub->offset + sub->count;
	unsigned d;

	if (!(job->flags & KC_OPEN_END))
		return;
	for (d = 0; d < job->num_dests; d++) {
		cap = job->dests[d].count;
		if (end <= cap)
			continue;
		start = sub->offset > cap ? sub->offset : cap;
		job->lost |= 1ul << d;
		record_error(job, (int)d, job->dests[d].offset + start, end - start,
			     ENOSPC);
	}
}

int kc_read(struct kc_client *kc, const struct kc_io_region *from,
	    unsigned flags, const struct kc_job_ops *ops, void *context,
	    struct kc_job **out)
{
	if (!from || !ops || !ops->data)
		return -EINVAL;
	return job_create(kc, JOB_COPY, from, 0, NULL, flags, kc->split_count,
			  ops, context, out);
}

/* Bytes of the chunk that go to (or come back from) dest @d. */
uint64_t write_length(const struct sub_job *sub, unsigned d)
{
	uint64_t end = min_u64(sub->offset + sub->count, dest_length(sub->job, d));

	return end > sub->offset ? end - sub->offset : 0;
}

/*
 * Bytes of the chunk that this sub-job writes to dest @d: 0 when it serves
 * another one (a zero job's stream), when @d has the chunk already (a
 * sparse zero chunk its offload did), or when the chunk ends before.
 */
uint64_t sub_dest_length(const struct sub_job *sub, unsigned d)
{
	if (d >= sizeof(sub->todo) * 8 || !(sub->todo & (1ul << d)))
		return 0;
	return write_length(sub, d);
}

/* Can every destination of @job zero without buffers (and give space back)? */
bool all_dests_can_zero(const struct kc_job *job, bool deallocate)
{
	const struct io_dev_info *info;
	unsigned d;

	for (d = 0; d < job->num_dests; d++) {
		info = io_dev_info(job->dests[d].dev);
		if (!(deallocate ? info->can_deallocate : info->can_zero))
			return false;
	}
	return true;
}

/* A request on @region of the sub-job's job, at @offset relative to it. */
void prep_request(struct sub_job *sub, struct io_request *req, enum io_op op,
		  int region, char *buf, uint64_t offset, uint64_t length)
{
	const struct kc_io_region *rg = job_region(sub->job, region);

	req->op = op;
	req->flags = 0;
	req->dev = rg->dev;
	req->buf = buf;
	req->offset = rg->offset + offset;
	req->length = length;
	req->data = sub;
	req->result = 0;
}

/* Requests one sub-job of a job with @num_dests may have queued at once. */
unsigned requests_per_sub(unsigned num_dests)
{
	return num_dests > RETRY_DEPTH ? num_dests : RETRY_DEPTH;
}

unsigned kc_io_depth(const struct kc_client_config *config, unsigned max_jobs,
		     unsigned max_dests)
{
	uint64_t depth = (uint64_t)max_jobs * config->sub_jobs *
			 requests_per_sub(max_dests);

	return (unsigned)min_u64(depth ? depth : 1, MAX_QUEUE_DEPTH);
}

/* Room to gather every request the jobs about to start may queue. */
int reserve_requests(struct kc_client *kc)
{
	struct list_head *pos;
	struct io_request **done;
	uint64_t nr = 1;
	int r;

	for (pos = kc->new_jobs.next; pos != &kc->new_jobs; pos = pos->next) {
		struct kc_job *job = list_entry(pos, struct kc_job, all);

		nr += (uint64_t)job->nr_subs * requests_per_sub(job->num_dests);
	}
	if (nr > UINT32_MAX / sizeof(*done))
		return -ENOMEM;
	r = io_reserve(kc->q, (unsigned)nr);
	if (r < 0 || nr <= kc->done_cap)
		return r;
	done = realloc(kc->done, nr * sizeof(*done));
	if (!done)
		return -ENOMEM;
	kc->done = done;
	kc->done_cap = (unsigned)nr;
	return 0;
}
