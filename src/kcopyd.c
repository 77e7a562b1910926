// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd.c - the copy engine's core: drivers/md/dm-kcopyd.c in userspace,
 * on the storage seam of io.h as kcopyd is on dm-io.
 *
 * A job is split into sub-jobs (SPLIT_COUNT of them, --sub-jobs), each of
 * which repeatedly claims the next sub_job_size chunk of the job, reads it
 * once into a pool slot and writes it to every destination in one batched
 * submission. As in the kernel, sub-jobs move between four lists:
 *
 *   pages_jobs     waiting for a pool slot
 *   io_jobs        ready to issue their next I/O
 *   complete_jobs  chunk finished; release the slot, claim the next chunk
 *   callback_jobs  (master jobs) ended; bookkeeping, notification
 *
 * Each step returns < 0 error, 0 done, > 0 "can't yet": the sub-job goes
 * back to the head of its list (push_head) so a starved sub-job keeps its
 * place instead of being shuffled behind later ones.
 *
 * Everything runs in one thread; completions are only handled in the
 * loop, so no locks are needed and callbacks never race. The concerns
 * around this core have files of their own (kcopyd-internal.h lists them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kcopyd-internal.h"
#include "pool.h"
#include "throttle.h"

/*
 * The shared zero buffer is large so that a sparse copy zeroes a long hole
 * of the source in few, large requests; untouched, it costs address space,
 * not memory, as the kernel backs it with its zero page. But every 4 KiB of
 * the zero page is a segment of its own in a bio: a 1 MiB write from it is
 * 256 segments, which a loop device (max_segments 128) splits in two, and
 * zero writes ran 10-15% slower than from real memory. So the first
 * ZERO_REAL_MAX bytes (at most a sub-job) are made real pages at the first
 * zero write, and zero writes go in sub-job-sized pieces from there.
 */
#define ZERO_BUFFER_MIN (64ull << 20)
#define ZERO_REAL_MAX (1ull << 20)

/* Requests in flight are capped here: more buys nothing, costs aio-nr. */
#define MAX_QUEUE_DEPTH 4096

uint64_t kc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*-----------------------------------------------------------------
 * The lists.
 *---------------------------------------------------------------*/
void push(struct list_head *jobs, struct sub_job *sub)
{
	list_add_tail(&sub->list, jobs);
}

void push_head(struct list_head *jobs, struct sub_job *sub)
{
	list_add(&sub->list, jobs);
}

/*
 * Is the sub-job's pending I/O no longer wanted? After an error (without
 * ignore) only chunks at or above the failure are given up: those below
 * it finish, so a sequential copy stops exactly at the fault.
 */
bool sub_dropping(const struct sub_job *sub)
{
	return sub->job->kc->stopping ||
	       (sub->job->stop && sub->offset >= sub->job->stop_offset);
}

/*
 * A sequential write may go once everything below it is written: kcopyd's
 * write_offset is our done prefix, which also moves over skipped holes.
 */
static bool write_in_order(const struct sub_job *sub)
{
	if (sub->phase != PH_WRITE && sub->phase != PH_OFFLOAD)
		return true;	/* reads run ahead */
	if (!(sub->job->flags & KC_WRITE_SEQ) || sub_dropping(sub))
		return true;
	if (sub->job->kind == JOB_ZERO)
		return zero_write_in_order(sub);
	return sub->offset == job_done_prefix(sub->job);
}

/*
 * For I/O, pop any read, any write without the sequential constraint,
 * and sequential writes that are at the right position (pop_io_job).
 */
static struct sub_job *pop_io_job(struct list_head *jobs)
{
	struct list_head *pos, *n;
	struct sub_job *sub;

	list_for_each_safe(pos, n, jobs) {
		sub = list_entry(pos, struct sub_job, list);
		if (write_in_order(sub)) {
			list_del(&sub->list);
			return sub;
		}
	}
	return NULL;
}

static struct sub_job *pop(struct kc_client *kc, struct list_head *jobs)
{
	struct sub_job *sub;

	if (list_empty(jobs))
		return NULL;
	if (jobs == &kc->io_jobs)
		return pop_io_job(jobs);
	sub = list_first_entry(jobs, struct sub_job, list);
	list_del(&sub->list);
	return sub;
}

/*-----------------------------------------------------------------
 * Regions and requests.
 *---------------------------------------------------------------*/
/* How far dest @d goes: a zero job's each to its own end, else the job's. */
uint64_t dest_length(const struct kc_job *job, unsigned d)
{
	return job->source.dev ? job->count : job->dests[d].count;
}

/* Bytes of the chunk that go to (or come back from) dest @d. */
uint64_t write_length(const struct sub_job *sub, unsigned d)
{
	uint64_t end = min_u64(sub->offset + sub->count, dest_length(sub->job, d));

	return end > sub->offset ? end - sub->offset : 0;
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

/*
 * Before the first write from the zero buffer: give its head real pages
 * (see ZERO_REAL_MAX). It stays read-only otherwise, so that nothing can
 * ever read data into it. On failure the zero page serves, only slower.
 */
void zero_buf_make_real(struct kc_client *kc)
{
	if (kc->zero_real)
		return;
	kc->zero_real = true;
	if (mprotect(kc->zero_buf, kc->zero_real_len, PROT_READ | PROT_WRITE))
		return;
	memset(kc->zero_buf, 0, kc->zero_real_len);
	mprotect(kc->zero_buf, kc->zero_real_len, PROT_READ);
}

/*-----------------------------------------------------------------
 * Claiming chunks (segment_complete / split_job).
 *---------------------------------------------------------------*/
static void reset_chunk(struct sub_job *sub)
{
	sub->pending = 0;
	sub->kind = sub->job->kind == JOB_ZERO ? CHUNK_ZERO : CHUNK_DATA;
	sub->verify_dest = 0;
	sub->read_failed = sub->failed = false;
	sub->retry.mask = 0;
	sub->retry.busy = 0;
}

static bool claim_chunk(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	uint64_t size;

	if (job->kind == JOB_FLUSH) {
		/* A flush runs even after a stop: what was written is kept. */
		if (job->progress >= job->num_dests)
			return false;
		sub->dest = (int)job->progress++;
		reset_chunk(sub);
		return true;
	}
	if (job->stop || job->kc->stopping)
		return false;
	if (job->kind == JOB_ZERO) {
		if (!zero_claim(sub))
			return false;
		reset_chunk(sub);
		return true;
	}
	job->progress = resume_skip(job, job->progress, job->count);
	if (job->progress >= job->count)
		return false;

	size = job->kind == JOB_VERIFY ? verify_half(job) : job->kc->sub_job_size;
	sub->zero_chunk = false;
	if (job->sparse.seek_holes && sparse_claim(sub, &size))
		return claim_chunk(sub);	/* a hole skipped: the next */
	sub->dest = ALL_DESTS;
	sub->offset = job->progress;
	sub->count = min_u64(size, job->count - job->progress);
	job->progress += sub->count;
	reset_chunk(sub);
	return true;
}

static void dispatch_sub_job(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	switch (job->kind) {
	case JOB_ZERO:
		zero_dispatch(sub);
		return;
	case JOB_FLUSH:
		sub->phase = PH_FLUSH;
		push(&kc->io_jobs, sub);
		return;
	case JOB_VERIFY:
		sub->buf = NULL;
		sub->phase = job->source.dev ? PH_VERIFY_SOURCE : PH_VERIFY_DEST;
		push(&kc->pages_jobs, sub);
		return;
	case JOB_COPY:
		break;
	}
	if (sub->zero_chunk) {
		sub->buf = kc->zero_buf;
		start_zero_chunk(sub);
		return;
	}
	sub->buf = NULL;
	sub->phase = PH_READ;
	push(&kc->pages_jobs, sub);
}

/* A chunk went to every destination: count it, tell the client. */
static void chunk_done(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	if (job->kind == JOB_ZERO) {
		zero_chunk_done(sub);
		return;
	}
	note_done(job, sub->offset, sub->count);
	if (sub->kind == CHUNK_DATA)
		job->bytes_data += sub->count;
	else if (sub->kind == CHUNK_ZERO)
		job->bytes_zeroed += sub->count;
	else
		job->bytes_skipped += sub->count;
	if (job->ops.chunk_done && job->kind != JOB_VERIFY)
		job->ops.chunk_done(job->context, sub->offset, sub->count);
}

/* The sub-job finished its chunk: take the next one, or retire. */
static void segment_complete(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	if (!sub->failed && job->kind != JOB_FLUSH)
		chunk_done(sub);
	sub->phase = PH_IDLE;
	if (claim_chunk(sub)) {
		dispatch_sub_job(sub);
		return;
	}
	if (--job->active == 0)
		list_add_tail(&job->list, &job->kc->callback_jobs);
}

/* Start @nr more idle sub-jobs of @job. */
void split_job(struct kc_job *job, unsigned nr)
{
	unsigned i;

	for (i = 0; i < job->nr_subs && nr; i++) {
		struct sub_job *sub = &job->subs[i];

		if (sub->phase != PH_IDLE || !list_empty(&sub->list))
			continue;
		nr--;
		if (!claim_chunk(sub))
			continue;	/* a zero job's other streams may go on */
		job->active++;
		dispatch_sub_job(sub);
	}
}

/*-----------------------------------------------------------------
 * Issuing I/O.
 *---------------------------------------------------------------*/
int throttle_admit(struct sub_job *sub, uint64_t bytes)
{
	struct kc_client *kc = sub->job->kc;
	uint64_t now, wait;

	if (sub->throttled || kc->stopping)
		return 0;
	now = io_now(kc->q);
	wait = throttle_io_start(kc->throttle, now, bytes);
	if (wait) {
		kc->throttle_until = now + wait;
		return 1;
	}
	sub->throttled = true;
	return 0;
}

void throttle_done(struct sub_job *sub)
{
	struct kc_client *kc = sub->job->kc;

	if (sub->throttled) {
		throttle_io_finish(kc->throttle, io_now(kc->q));
		sub->throttled = false;
	}
}

/* Give up the chunk without (more) I/O: stopped, or the job failed. */
void drop(struct sub_job *sub)
{
	throttle_done(sub);
	sub->failed = true;
	push(&sub->job->kc->complete_jobs, sub);
}

/*
 * The common start of an I/O step: a chunk that is no longer wanted is
 * given up (-ECANCELED: nothing more to do), else the throttle decides
 * (> 0: not yet; 0: go).
 */
int start_io(struct sub_job *sub, uint64_t bytes)
{
	if (sub_dropping(sub)) {
		drop(sub);
		return -ECANCELED;
	}
	return throttle_admit(sub, bytes);
}

static int issue_read(struct sub_job *sub)
{
	struct io_request *req = &sub->reqs[0];
	int r;

	r = start_io(sub, sub->count);
	if (r)
		return r < 0 ? 0 : r;
	prep_request(sub, req, IO_READ, KC_REGION_SOURCE, sub->buf, sub->offset,
		     sub->count);
	sub->pending = 1;
	io_queue_request(req);
	return 0;
}

static int issue_writes(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	uint64_t len;
	unsigned d, n = 0;
	int r;

	/* Zeroing moves the job forward; a copy's writes paid at the read. */
	r = start_io(sub, job->kind == JOB_ZERO ? sub->count : 0);
	if (r)
		return r < 0 ? 0 : r;
	if (sub->buf == job->kc->zero_buf)
		zero_buf_make_real(job->kc);
	for (d = 0; d < job->num_dests; d++) {
		if (sub->dest != ALL_DESTS && sub->dest != (int)d)
			continue;
		len = write_length(sub, d);
		if (!len)
			continue;
		prep_request(sub, &sub->reqs[d], IO_WRITE, (int)d, sub->buf,
			     sub->offset, len);
		io_queue_request(&sub->reqs[d]);
		n++;
	}
	sub->pending = n;
	if (!n)
		phase_done(sub);
	return 0;
}

static int run_io_job(struct sub_job *sub)
{
	switch (sub->phase) {
	case PH_VERIFY_SOURCE:
	case PH_VERIFY_DEST:
		return issue_verify_read(sub);
	case PH_READ:
		return issue_read(sub);
	case PH_WRITE:
		return issue_writes(sub);
	case PH_READ_RETRY:
	case PH_WRITE_RETRY:
		return issue_retries(sub);
	case PH_OFFLOAD:
		return issue_offload(sub);
	case PH_FLUSH:
		return issue_flush(sub);
	case PH_IDLE:
		break;
	}
	return -EINVAL;
}

static int run_pages_job(struct sub_job *sub)
{
	struct kc_client *kc = sub->job->kc;

	if (sub_dropping(sub)) {
		drop(sub);
		return 0;
	}
	sub->buf = pool_get(kc->pool);
	if (!sub->buf)
		return 1;	/* can't complete now: wait at the head */
	push(&kc->io_jobs, sub);
	return 0;
}

static int run_complete_job(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	if (sub->buf && sub->buf != job->kc->zero_buf)
		pool_put(job->kc->pool, sub->buf);
	sub->buf = NULL;
	segment_complete(sub);
	return 0;
}

/*-----------------------------------------------------------------
 * Completions.
 *---------------------------------------------------------------*/
/* All I/O of the sub-job's current phase is over: decide what is next. */
void phase_done(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	throttle_done(sub);
	switch (sub->phase) {
	case PH_READ:
		if (sub->read_failed) {
			start_retry(sub, KC_REGION_SOURCE);
			return;
		}
		if ((job->flags & KC_SPARSE) && buffer_is_zero(sub->buf, sub->count)) {
			start_zero_chunk(sub);
			return;
		}
		sub->phase = PH_WRITE;
		push(&kc->io_jobs, sub);
		return;
	case PH_VERIFY_SOURCE:
	case PH_VERIFY_DEST:
		verify_phase_done(sub);
		return;
	case PH_READ_RETRY:
		/* Unreadable blocks are zeros now; without ignore, give up. */
		if (sub->failed || (job->read_err && !(job->flags & KC_IGNORE_ERROR))) {
			sub->failed = true;
			break;
		}
		sub->phase = PH_WRITE;
		push(&kc->io_jobs, sub);
		return;
	case PH_WRITE_RETRY:
		sub->retry.mask &= ~(1ul << sub->retry.region);
		/* fall through */
	case PH_WRITE:
		if (retry_next_region(sub))
			return;
		break;
	case PH_OFFLOAD:
	case PH_FLUSH:
	case PH_IDLE:
		break;
	}
	push(&kc->complete_jobs, sub);
}

static void complete_io(struct io_request *req)
{
	struct sub_job *sub = req->data;

	if (is_retry_request(sub, req)) {
		complete_retry(sub, req);
		return;
	}
	switch (sub->phase) {
	case PH_READ:
		if (req->result < 0)
			sub->read_failed = true;
		break;
	case PH_WRITE:
		if (req->result < 0)
			sub->retry.mask |= 1ul << (req - sub->reqs);
		break;
	case PH_OFFLOAD:
		complete_offload(sub, req);
		return;
	case PH_VERIFY_SOURCE:
	case PH_VERIFY_DEST:
		complete_verify_read(sub, req);
		return;
	case PH_FLUSH:
		complete_flush(sub, req);
		return;
	default:
		break;
	}
	if (--sub->pending == 0)
		phase_done(sub);
}

/*-----------------------------------------------------------------
 * Jobs.
 *---------------------------------------------------------------*/
static void job_end(struct kc_job *job)
{
	struct kc_client *kc = job->kc;

	coalesce_errors(job);
	job->interrupted = kc->stopping && job->bytes_done < job->count;
	/* What an error kept it from reaching was not touched in this run. */
	if (!job->interrupted)
		job->bytes_skipped = job->count - job->bytes_data - job->bytes_zeroed;
	job->ended = true;
	job->end_ns = io_now(kc->q);
	kc->nr_jobs--;
	if (job->ops.complete)
		job->ops.complete(job->context, job->read_err, job->write_err);
}

static void start_job(struct kc_job *job)
{
	struct kc_client *kc = job->kc;
	uint64_t nr;

	job->start_ns = io_now(kc->q);
	kc->nr_jobs++;
	if (job->kind == JOB_ZERO)
		nr = zero_start_subs(job);
	else if (job->kind == JOB_FLUSH)
		nr = job->nr_subs;
	else
		nr = (job->count + kc->sub_job_size - 1) / kc->sub_job_size;
	split_job(job, (unsigned)min_u64(nr, job->nr_subs));
	/* Zero size, or everything already done (resume). */
	if (!job->active)
		list_add_tail(&job->list, &kc->callback_jobs);
}

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
	job->stop_offset = UINT64_MAX;
	if (kind == JOB_ZERO) {
		r = zero_setup(job);
		if (r < 0)
			goto bad;
	}
	if (kind == JOB_COPY && (flags & KC_SPARSE))
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
	range_set_free(&job->done);
	free(job->errors);
	free(job->dests);
	free(job);
}

/*-----------------------------------------------------------------
 * The loop.
 *---------------------------------------------------------------*/
/* A step failed outright: error this rogue sub-job's chunk. */
static void error_rogue(struct sub_job *sub, int r)
{
	record_error(sub->job, KC_REGION_SOURCE, sub->job->source.offset + sub->offset,
		     sub->count, -r);
	drop(sub);
}

static void process_jobs(struct kc_client *kc, struct list_head *jobs,
			 int (*fn)(struct sub_job *))
{
	struct sub_job *sub;
	int r;

	while ((sub = pop(kc, jobs))) {
		r = fn(sub);
		if (r < 0) {
			error_rogue(sub, r);
		} else if (r > 0) {
			/* couldn't service it now: back to the head */
			push_head(jobs, sub);
			break;
		}
	}
}

/*
 * The I/O list. A percentage-throttle refusal stops the pass, as kcopyd's
 * sleep stops its worker. A rate-cap refusal only holds back I/O that
 * carries new bytes: the sub-job is set aside (keeping its place) and the
 * writes of chunks already read go on.
 */
static void process_io_jobs(struct kc_client *kc)
{
	struct list_head waiting;
	struct sub_job *sub;
	int r;

	INIT_LIST_HEAD(&waiting);
	while ((sub = pop(kc, &kc->io_jobs))) {
		r = run_io_job(sub);
		if (r < 0) {
			error_rogue(sub, r);
		} else if (r > 0 && throttle_refused_for_rate(kc->throttle)) {
			list_add_tail(&sub->list, &waiting);
		} else if (r > 0) {
			push_head(&kc->io_jobs, sub);
			break;
		}
	}
	/* Back at the head, in their order. */
	while (!list_empty(&waiting)) {
		sub = list_entry(waiting.prev, struct sub_job, list);
		list_del(&sub->list);
		push_head(&kc->io_jobs, sub);
	}
}

/*
 * A job ends only once the rate cap's debt is paid: its last chunk went
 * out on credit, and --rate is a cap on the whole run, short ones too.
 */
static bool rate_debt_holds(struct kc_client *kc)
{
	uint64_t now, wait;

	if (kc->stopping)
		return false;
	now = io_now(kc->q);
	wait = throttle_rate_debt_ns(kc->throttle, now);
	kc->end_hold_until = wait ? now + wait : 0;
	return wait != 0;
}

static void process_callbacks(struct kc_client *kc)
{
	struct kc_job *job;

	if (!list_empty(&kc->callback_jobs) && rate_debt_holds(kc))
		return;
	while (!list_empty(&kc->callback_jobs)) {
		job = list_first_entry(&kc->callback_jobs, struct kc_job, list);
		list_del(&job->list);
		job_end(job);
	}
}

/*
 * One pass. The order matters: finished sub-jobs give back slots that
 * waiting sub-jobs can take; those then join the I/O list; all I/O
 * gathered in the pass goes out in one commit (the plug).
 */
static void do_work(struct kc_client *kc)
{
	process_callbacks(kc);
	process_jobs(kc, &kc->complete_jobs, run_complete_job);
	process_jobs(kc, &kc->pages_jobs, run_pages_job);
	/*
	 * Under the percentage throttle, nothing goes until the sleep ends;
	 * but a stop is served at once: waiting sub-jobs are dropped.
	 */
	if (kc->throttle_until && io_now(kc->q) < kc->throttle_until &&
	    !throttle_refused_for_rate(kc->throttle) && !kc->stopping)
		return;
	kc->throttle_until = 0;
	process_io_jobs(kc);
}

static bool work_pending(const struct kc_client *kc)
{
	bool held = kc->end_hold_until && !kc->stopping &&
		    io_now(kc->q) < kc->end_hold_until;

	return (!list_empty(&kc->callback_jobs) && !held) ||
	       !list_empty(&kc->complete_jobs) ||
	       (!list_empty(&kc->io_jobs) && (!kc->throttle_until || kc->stopping));
}

static uint64_t until(uint64_t deadline, uint64_t now)
{
	return deadline > now ? deadline - now : 0;
}

/* How long the loop may block: until the next tick or throttle deadline. */
static uint64_t loop_wait(const struct kc_client *kc, uint64_t now,
			  uint64_t next_tick)
{
	uint64_t wait = until(next_tick, now);

	if (work_pending(kc))
		return 0;
	if (kc->throttle_until)
		wait = min_u64(wait, until(kc->throttle_until, now));
	if (kc->end_hold_until)
		wait = min_u64(wait, until(kc->end_hold_until, now));
	return wait;
}

/* Wait for completions (or a deadline) and handle them. */
static int reap(struct kc_client *kc, uint64_t wait)
{
	int i, n;

	if (!io_busy(kc->q) && !kc->throttle_until && !kc->end_hold_until &&
	    !work_pending(kc))
		return -EDEADLK;	/* nothing in flight, nothing to do */
	n = io_reap(kc->q, wait, kc->done, kc->done_cap);
	for (i = 0; i < n; i++)
		complete_io(kc->done[i]);
	return n < 0 ? n : 0;
}

/* Requests one sub-job of a job with @num_dests may have queued at once. */
static unsigned requests_per_sub(unsigned num_dests)
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
static int reserve_requests(struct kc_client *kc)
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

int kc_client_run(struct kc_client *kc, kc_tick_fn tick, void *context,
		  unsigned interval_ms)
{
	uint64_t interval = (uint64_t)interval_ms * 1000000ull;
	uint64_t now, next_tick;
	struct kc_job *job;
	int r;

	r = reserve_requests(kc);
	if (r < 0)
		return r;
	while (!list_empty(&kc->new_jobs)) {
		job = list_first_entry(&kc->new_jobs, struct kc_job, all);
		list_del(&job->all);
		list_add_tail(&job->all, &kc->all_jobs);
		start_job(job);
	}
	next_tick = io_now(kc->q) + interval;
	while (kc->nr_jobs) {
		do_work(kc);
		io_commit(kc->q);
		if (!kc->nr_jobs)
			break;
		now = io_now(kc->q);
		if (tick && now >= next_tick) {
			if (tick(context))
				kc_client_stop(kc);
			next_tick = now + interval;
		}
		r = reap(kc, loop_wait(kc, now, next_tick));
		if (r < 0)
			return r;
	}
	return 0;
}

void kc_client_stop(struct kc_client *kc)
{
	kc->stopping = true;
}

bool kc_client_stopped(const struct kc_client *kc)
{
	return kc->stopping;
}

/*-----------------------------------------------------------------
 * Client setup and teardown.
 *---------------------------------------------------------------*/
int kc_client_create(const struct kc_client_config *config,
		     struct kc_client **out)
{
	struct kc_client *kc;
	uint64_t slots;
	int r = -ENOMEM;

	if (!config->sub_job_size || config->sub_job_size % 4096 ||
	    !config->sub_jobs || config->memory < config->sub_job_size ||
	    !config->queue)
		return -EINVAL;
	kc = calloc(1, sizeof(*kc));
	if (!kc)
		return -ENOMEM;
	INIT_LIST_HEAD(&kc->callback_jobs);
	INIT_LIST_HEAD(&kc->complete_jobs);
	INIT_LIST_HEAD(&kc->io_jobs);
	INIT_LIST_HEAD(&kc->pages_jobs);
	INIT_LIST_HEAD(&kc->new_jobs);
	INIT_LIST_HEAD(&kc->all_jobs);
	kc->sub_job_size = config->sub_job_size;
	kc->split_count = config->sub_jobs;
	kc->q = config->queue;

	kc->throttle = throttle_create(config->throttle, config->rate);
	if (!kc->throttle)
		goto bad_throttle;
	slots = config->memory / config->sub_job_size;
	r = pool_create(config->sub_job_size, (unsigned)min_u64(slots, 1u << 20),
			&kc->pool);
	if (r < 0)
		goto bad_pool;
	/*
	 * Never written, so it costs no memory: the kernel backs reads of
	 * untouched anonymous memory with its own zero page.
	 */
	kc->zero_len = config->sub_job_size > ZERO_BUFFER_MIN ?
		       config->sub_job_size : ZERO_BUFFER_MIN;
	kc->zero_real_len = min_u64(config->sub_job_size, ZERO_REAL_MAX);
	kc->zero_buf = mmap(NULL, kc->zero_len, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (kc->zero_buf == MAP_FAILED) {
		r = -errno;
		goto bad_zero;
	}
	*out = kc;
	return 0;

bad_zero:
	pool_destroy(kc->pool);
bad_pool:
	throttle_destroy(kc->throttle);
bad_throttle:
	free(kc);
	return r;
}

static void free_job_list(struct list_head *jobs)
{
	struct list_head *pos, *n;

	list_for_each_safe(pos, n, jobs)
		job_free(list_entry(pos, struct kc_job, all));
}

void kc_client_destroy(struct kc_client *kc)
{
	if (!kc)
		return;
	free_job_list(&kc->all_jobs);
	free_job_list(&kc->new_jobs);
	free(kc->done);
	munmap(kc->zero_buf, kc->zero_len);
	pool_destroy(kc->pool);
	throttle_destroy(kc->throttle);
	free(kc);
}
