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
#include <time.h>

#include "kcopyd-internal.h"
#include "pool.h"
#include "throttle.h"

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
	return sub->job->kc->stopping || sub->offset >= sub->job->count ||
	       (sub->job->split.stop && sub->offset >= sub->job->split.stop_offset);
}

/*
 * A sequential write may go once everything below it is written: kcopyd's
 * write_offset is our done prefix, which also moves over skipped holes.
 */
static bool write_in_order(const struct sub_job *sub)
{
	if (sub->phase == PH_READ)
		return read_in_order(sub);	/* reads run ahead, but a stream's */
	if (sub->phase != PH_WRITE && sub->phase != PH_OFFLOAD)
		return true;
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
 * Claiming chunks (segment_complete / split_job).
 *---------------------------------------------------------------*/
static void reset_chunk(struct sub_job *sub)
{
	unsigned n = sub->job->num_dests;

	sub->todo = sub->dest != ALL_DESTS ? 1ul << sub->dest :
		    n >= sizeof(sub->todo) * 8 ? ~0ul : (1ul << n) - 1;
	sub->pending = 0;
	sub->kind = sub->job->kind == JOB_ZERO ? CHUNK_ZERO : CHUNK_DATA;
	sub->verify_dest = 0;
	sub->read_failed = sub->failed = false;
	sub->read_only = sub->read_issued = sub->beyond_end = false;
	sub->retry.mask = 0;
	sub->retry.busy = 0;
}

static bool claim_chunk(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	uint64_t size, done;

	if (job->kind == JOB_FLUSH) {
		/* A flush runs even after a stop: what was written is kept. */
		if (job->split.progress >= job->num_dests)
			return false;
		sub->dest = (int)job->split.progress++;
		reset_chunk(sub);
		return true;
	}
	if (job->split.stop || job->kc->stopping)
		return false;
	if (job->kind == JOB_ZERO) {
		if (!zero_claim(sub))
			return false;
		reset_chunk(sub);
		return true;
	}
	size = job->kind == JOB_VERIFY ? verify_half(job) : job->kc->sub_job_size;
	done = 0;
	if (job->gate.on)	/* done is read again, for the data's client */
		done = resume_span(job, job->split.progress, job->count);
	else
		job->split.progress = resume_skip(job, job->split.progress, job->count);
	if (job->split.progress >= job->count)
		return false;

	sub->zero_chunk = false;
	if (done)
		size = min_u64(size, done);
	else if (job->sparse.seek_holes && sparse_claim(sub, &size))
		return claim_chunk(sub);	/* a hole skipped: the next */
	sub->dest = ALL_DESTS;
	sub->offset = job->split.progress;
	sub->count = min_u64(size, job->count - job->split.progress);
	job->split.progress += sub->count;
	reset_chunk(sub);
	sub->read_only = done != 0;
	gate_claim(sub);
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
	if (sub->read_only)
		job->bytes_skipped += sub->count;
	else if (sub->kind == CHUNK_DATA)
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

	gate_lose(sub);		/* its data did not get through */
	if (!sub->failed && job->kind != JOB_FLUSH)
		chunk_done(sub);
	sub->phase = PH_IDLE;
	if (claim_chunk(sub)) {
		dispatch_sub_job(sub);
		return;
	}
	if (--job->split.active == 0)
		list_add_tail(&job->list, &job->kc->callback_jobs);
}

/* Start idle sub-job @sub on the next chunk, if there is one. */
bool start_sub_job(struct sub_job *sub)
{
	if (sub->phase != PH_IDLE || !list_empty(&sub->list) || !claim_chunk(sub))
		return false;
	sub->job->split.active++;
	dispatch_sub_job(sub);
	return true;
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
		start_sub_job(sub);	/* a zero job's other streams may go on */
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
	sub->read_issued = true;
	io_queue_request(req);
	return 0;
}

/*
 * One @op (IO_WRITE of the chunk's buffer, or IO_ZERO with @flags) to
 * every destination the chunk goes to, in one batch.
 */
void issue_to_dests(struct sub_job *sub, enum io_op op, unsigned flags)
{
	struct io_request *req;
	uint64_t len;
	unsigned d, n = 0;

	for (d = 0; d < sub->job->num_dests; d++) {
		len = sub_dest_length(sub, d);
		if (!len)
			continue;
		req = &sub->reqs[d];
		prep_request(sub, req, op, (int)d, op == IO_WRITE ? sub->buf : NULL,
			     sub->offset, len);
		req->flags = flags;
		io_queue_request(req);
		n++;
	}
	sub->pending = n;
	if (!n)
		phase_done(sub);
}

static int issue_writes(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	int r;

	/* Zeroing moves the job forward; a copy's writes paid at the read. */
	r = start_io(sub, job->kind == JOB_ZERO ? sub->count : 0);
	if (r)
		return r < 0 ? 0 : r;
	if (sub->buf == job->kc->zero_buf)
		zero_buf_make_real(job->kc);
	issue_to_dests(sub, IO_WRITE, 0);
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
/*
 * The chunk's data is read (and given to the client, if it asked): a
 * zero chunk of a sparse copy, its writes, or nothing more for a chunk
 * that was done already or a read without destinations.
 */
void post_read(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	if (sub->read_only || !job->num_dests) {
		if (sub->read_only)
			sub->kind = CHUNK_SKIP;
		push(&kc->complete_jobs, sub);
		return;
	}
	note_overflow(sub);
	if ((job->flags & KC_SPARSE) && buffer_is_zero(sub->buf, sub->count)) {
		start_zero_chunk(sub);
		return;
	}
	sub->phase = PH_WRITE;
	push(&kc->io_jobs, sub);
}

/* All I/O of the sub-job's current phase is over: decide what is next. */
void phase_done(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	throttle_done(sub);
	switch (sub->phase) {
	case PH_READ:
		if (sub->read_failed) {
			gate_lose(sub);
			start_retry(sub, KC_REGION_SOURCE);
			return;
		}
		if (sub->beyond_end) {
			sub->failed = true;	/* nothing there: not an error */
			break;
		}
		gate_read_done(sub);
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
		if (req->result == -IO_ESHORT && io_dev_info(req->dev)->sequential)
			stream_end(sub, req->length);
		else if (req->result < 0)
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

	/* A stream that did not reach its end is as long as it got. */
	if ((job->flags & KC_OPEN_END) && job->split.progress < job->count)
		job->count = job->split.progress;
	gate_job_end(job);
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
	if (!job->split.active)
		list_add_tail(&job->list, &kc->callback_jobs);
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
	/* Only sequential writes waiting for a gap below them: no work now. */
	kc->io_blocked = !sub && !list_empty(&kc->io_jobs);
	/* Back at the head, in their order. */
	while (!list_empty(&waiting)) {
		sub = list_entry(waiting.prev, struct sub_job, list);
		list_del(&sub->list);
		push_head(&kc->io_jobs, sub);
	}
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
	       (!list_empty(&kc->io_jobs) && !kc->io_blocked &&
		(!kc->throttle_until || kc->stopping));
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
		if (now >= next_tick) {
			if (tick && tick(context))
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
	r = zero_buffer_create(kc);
	if (r < 0)
		goto bad_zero;
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
	zero_buffer_destroy(kc);
	pool_destroy(kc->pool);
	throttle_destroy(kc->throttle);
	free(kc);
}
