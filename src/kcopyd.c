// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd.c - the copy engine: drivers/md/dm-kcopyd.c in userspace.
 *
 * A job is split into sub-jobs (SPLIT_COUNT of them, --sub-jobs), each of
 * which repeatedly claims the next sub_job_size chunk of the job, reads it
 * once into a pool slot and writes it to every destination in one batched
 * submission. As in the kernel, sub-jobs move between four lists:
 *
 *   pages_jobs     waiting for a pool slot
 *   io_jobs        ready to issue their next I/O
 *   complete_jobs  chunk finished; release the slot, claim the next chunk
 *   callback_jobs  (master jobs) ended; tails, bookkeeping, notification
 *
 * Each step returns < 0 error, 0 done, > 0 "can't yet": the sub-job goes
 * back to the head of its list (push_head) so a starved sub-job keeps its
 * place instead of being shuffled behind later ones.
 *
 * Everything runs in one thread; completions are only handled in the
 * loop, so no locks are needed and callbacks never race.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "aio.h"
#include "kcopyd.h"
#include "list.h"
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

/* Block-sized I/Os a sub-job keeps in flight while isolating bad blocks. */
#define RETRY_DEPTH 8

/*
 * Write-zeroes offload runs synchronously in the loop, so each call is
 * kept short: pieces grow while a call takes under OFFLOAD_FAST_NS and
 * shrink above OFFLOAD_SLOW_NS. Progress, throttle and signals are served
 * between pieces.
 */
#define OFFLOAD_FIRST_PIECE (16ull << 20)
#define OFFLOAD_MAX_PIECE (4ull << 30)
#define OFFLOAD_FAST_NS (25 * 1000000ull)
#define OFFLOAD_SLOW_NS (100 * 1000000ull)

/* How long io_submit may refuse everything before the I/O fails. */
#define SUBMIT_STALL_NS (30 * 1000000000ull)
/* Pause between two tries of a refused io_submit. */
#define SUBMIT_RETRY_NS (10 * 1000000ull)
/* Requests in flight are capped here: more buys nothing, costs aio-nr. */
#define MAX_RING_DEPTH 4096

enum sub_phase {
	PH_IDLE,
	PH_READ,		/* read the chunk from the source */
	PH_READ_RETRY,		/* the read failed: re-read block by block */
	PH_WRITE,		/* write the chunk to every destination */
	PH_WRITE_RETRY,		/* a write failed: rewrite block by block */
	PH_OFFLOAD,		/* zero the chunk with write-zeroes */
	PH_VERIFY_SOURCE,	/* verify: read the source into the first half */
	PH_VERIFY_DEST,		/* verify: read a destination into the second */
};

/* How a finished chunk counts in the job's byte counters. */
enum chunk_kind {
	CHUNK_DATA,		/* read and written as data */
	CHUNK_ZERO,		/* zeroed: offload or zero writes */
	CHUNK_SKIP,		/* not touched: known zero on the destinations */
};

struct sub_job {
	struct list_head list;
	struct kc_job *job;
	enum sub_phase phase;
	enum chunk_kind kind;
	uint64_t offset;	/* chunk, relative to the job */
	uint64_t count;
	char *buf;		/* pool slot, or the shared zero buffer */
	unsigned pending;	/* iocbs in flight */
	bool throttled;		/* throttle_io_start() not yet finished */
	bool read_failed;
	bool failed;		/* chunk not done: error without ignore, or dropped */
	bool zero_chunk;	/* sparse: the source is known zero here */
	unsigned verify_dest;	/* PH_VERIFY_DEST: which destination */
	uint64_t read_expect;	/* bytes the read must return */
	unsigned long retry_mask;	/* destinations whose chunk write failed */
	int retry_region;
	uint64_t retry_next, retry_end;	/* relative to the job */
	unsigned retry_block;
	unsigned retry_busy;	/* bit i: retry_iocbs[i] in flight */
	struct iocb iocbs[KC_MAX_DESTS];	/* [0] reads; [i] writes dest i */
	struct iocb retry_iocbs[RETRY_DEPTH];
};

struct done_range {
	uint64_t offset, length;
};

struct kc_job {
	struct list_head list;		/* callback_jobs */
	struct list_head all;		/* kc->all_jobs or kc->new_jobs */
	struct kc_client *kc;
	bool zero;
	bool verify;
	unsigned flags;
	struct kc_io_region source;
	unsigned num_dests;
	struct kc_io_region dests[KC_MAX_DESTS];
	uint64_t tail_start[KC_MAX_DESTS];	/* aligned end of each dest */
	uint64_t count;			/* longest region */
	unsigned block_size;		/* largest logical block size */

	uint64_t progress;		/* next chunk to claim */
	unsigned active;		/* sub-jobs holding a chunk */
	bool stop;			/* error without ignore: claim no more */
	uint64_t stop_offset;		/* lowest failed offset, relative */

	bool offload;			/* zero with write-zeroes */
	bool sparse_offload;		/* sparse zero chunks with write-zeroes */
	bool sparse_wrote_zeros;	/* some zero chunk went as zero writes */
	bool sparse_zeroed;		/* some zero chunk was zeroed */
	bool seek_holes;		/* sparse file source: find holes */
	uint64_t data_start, data_end;	/* sparse: next data run, relative */
	bool offload_fell_back;
	uint64_t offload_piece;

	char *tail_buf;			/* source bytes [tail_start, count) */
	bool tail_saved;
	unsigned long tail_mask;	/* dests whose unaligned tail is due */

	int read_err;
	unsigned long write_err;
	struct kc_error_range *errors;
	size_t nr_errors, errors_cap;
	uint64_t bytes_done, done_prefix, bytes_data, bytes_zeroed, bytes_skipped;
	struct done_range *ahead;	/* done ranges beyond done_prefix */
	size_t nr_ahead, ahead_cap;
	bool ended, interrupted;
	uint64_t start_ns, end_ns;

	struct kc_job_ops ops;
	void *context;

	unsigned nr_subs;
	struct sub_job subs[];
};

struct kc_client {
	uint64_t sub_job_size;
	unsigned split_count;
	struct pool *pool;
	struct throttle *throttle;
	char *zero_buf;			/* zero_page_list: zero_len bytes of zeros */
	uint64_t zero_len;
	uint64_t zero_real_len;		/* its head made of real pages... */
	bool zero_real;			/* ...once a zero write needed them */

	struct aio_ring *ring;
	struct io_event *events;
	unsigned depth;			/* of the ring, as granted */
	uint64_t stall_since;		/* ns: io_submit refusing everything */
	bool submit_stalled;		/* ...for SUBMIT_STALL_NS: I/O failed */
	uint64_t end_hold_until;	/* ns: ended jobs wait for the rate debt */

	struct list_head callback_jobs;
	struct list_head complete_jobs;
	struct list_head io_jobs;
	struct list_head pages_jobs;

	struct list_head new_jobs;	/* queued, started by the next run */
	struct list_head all_jobs;	/* started; freed with the client */
	unsigned nr_jobs;		/* started and not yet ended */
	bool stopping;
	uint64_t throttle_until;	/* ns; no new I/O before */
};

uint64_t kc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t round_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) / align * align;
}

/*-----------------------------------------------------------------
 * The lists.
 *---------------------------------------------------------------*/
static void push(struct list_head *jobs, struct sub_job *sub)
{
	list_add_tail(&sub->list, jobs);
}

static void push_head(struct list_head *jobs, struct sub_job *sub)
{
	list_add(&sub->list, jobs);
}

/*
 * Is the sub-job's pending I/O no longer wanted? After an error (without
 * ignore) only chunks at or above the failure are given up: those below
 * it finish, so a sequential copy stops exactly at the fault.
 */
static bool sub_dropping(const struct sub_job *sub)
{
	return sub->job->kc->stopping ||
	       (sub->job->stop && sub->offset >= sub->job->stop_offset);
}

/*
 * A sequential write may go once everything below it is written: kcopyd's
 * write_offset is our done_prefix, which also moves over skipped holes.
 */
static bool write_in_order(const struct sub_job *sub)
{
	if (sub->phase != PH_WRITE && sub->phase != PH_OFFLOAD)
		return true;	/* reads run ahead */
	if (!(sub->job->flags & KC_WRITE_SEQ) || sub_dropping(sub))
		return true;
	return sub->offset == sub->job->done_prefix;
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
 * Bookkeeping: errors and what is done.
 *---------------------------------------------------------------*/
static void record_error(struct kc_job *job, int region, uint64_t offset,
			 uint64_t length, int error)
{
	struct kc_error_range *e;
	size_t cap;

	const struct kc_io_region *rg = region == KC_REGION_SOURCE ?
					&job->source : &job->dests[region];

	if (region == KC_REGION_SOURCE)
		job->read_err = 1;
	else
		job->write_err |= 1ul << region;
	if (!(job->flags & KC_IGNORE_ERROR)) {
		job->stop = true;
		job->stop_offset = min_u64(job->stop_offset, offset - rg->offset);
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
static void coalesce_errors(struct kc_job *job)
{
	size_t i, out = 0;
	struct kc_error_range *e = job->errors, *last;

	if (!job->nr_errors)
		return;
	qsort(e, job->nr_errors, sizeof(*e), error_cmp);
	for (i = 1; i < job->nr_errors; i++) {
		last = &e[out];
		if (e[i].region == last->region && e[i].error == last->error &&
		    e[i].offset == last->offset + last->length)
			last->length += e[i].length;
		else
			e[++out] = e[i];
	}
	job->nr_errors = out + 1;
}

/* Insert into the sorted, merged list of ranges done beyond the prefix. */
static void ahead_insert(struct kc_job *job, uint64_t offset, uint64_t length)
{
	struct done_range *a;
	size_t i, cap;

	for (i = 0; i < job->nr_ahead && job->ahead[i].offset < offset; i++)
		;
	if (i > 0 && job->ahead[i - 1].offset + job->ahead[i - 1].length == offset) {
		job->ahead[i - 1].length += length;
		if (i < job->nr_ahead && offset + length == job->ahead[i].offset) {
			job->ahead[i - 1].length += job->ahead[i].length;
			memmove(&job->ahead[i], &job->ahead[i + 1],
				(job->nr_ahead - i - 1) * sizeof(*a));
			job->nr_ahead--;
		}
		return;
	}
	if (i < job->nr_ahead && offset + length == job->ahead[i].offset) {
		job->ahead[i].offset = offset;
		job->ahead[i].length += length;
		return;
	}
	if (job->nr_ahead == job->ahead_cap) {
		cap = job->ahead_cap * 2 + 4;
		a = realloc(job->ahead, cap * sizeof(*a));
		if (!a)
			return;	/* only done_prefix is then understated */
		job->ahead = a;
		job->ahead_cap = cap;
	}
	memmove(&job->ahead[i + 1], &job->ahead[i],
		(job->nr_ahead - i) * sizeof(*job->ahead));
	job->ahead[i] = (struct done_range) { offset, length };
	job->nr_ahead++;
}

static void note_done(struct kc_job *job, uint64_t offset, uint64_t length)
{
	job->bytes_done += length;
	if (offset != job->done_prefix) {
		ahead_insert(job, offset, length);
		return;
	}
	job->done_prefix += length;
	while (job->nr_ahead && job->ahead[0].offset == job->done_prefix) {
		job->done_prefix += job->ahead[0].length;
		memmove(&job->ahead[0], &job->ahead[1],
			(job->nr_ahead - 1) * sizeof(*job->ahead));
		job->nr_ahead--;
	}
}

/* Where the unaligned tails still to be written begin (count if none). */
static uint64_t tail_floor(const struct kc_job *job)
{
	uint64_t floor = job->count;
	unsigned d;

	for (d = 0; d < job->num_dests; d++)
		if (job->tail_mask & (1ul << d))
			floor = min_u64(floor, job->tail_start[d]);
	return floor;
}

/* A chunk went to every destination: count it, tell the client. */
static void chunk_done(struct kc_job *job, uint64_t offset, uint64_t length)
{
	uint64_t tail = tail_floor(job), end = offset + length;

	note_done(job, offset, length);
	/* The tails are announced when job_end() has written them. */
	if (end > tail)
		end = tail > offset ? tail : offset;
	if (job->ops.chunk_done && end > offset)
		job->ops.chunk_done(job->context, offset, end - offset);
}

/*-----------------------------------------------------------------
 * Claiming chunks (segment_complete / split_job).
 *---------------------------------------------------------------*/
/* Verify reads the source into one half of a slot, a destination into the other. */
static uint64_t verify_half(const struct kc_job *job)
{
	return job->kc->sub_job_size / 2 / job->block_size * job->block_size;
}

/*
 * Where the hole before data_start ends, for chunking: at the start of the
 * data's block, so chunks stay aligned; or at the job's end, unaligned
 * tail included, when no data follows.
 */
static uint64_t hole_end(const struct kc_job *job)
{
	if (job->data_start >= job->count)
		return job->count;
	return job->data_start / job->block_size * job->block_size;
}

/*
 * Sparse file source: is job->progress in a hole? If so, shrink *@size to
 * stay inside it. Holes are found with SEEK_DATA/SEEK_HOLE and cached.
 */
static bool in_hole(struct kc_job *job, uint64_t *size)
{
	uint64_t data, hole, base = job->source.offset;
	int r;

	if (job->progress >= job->data_end) {
		r = target_next_data(job->source.target, base + job->progress,
				     &data, &hole);
		if (r == -ENXIO) {
			data = hole = base + job->count;
		} else if (r < 0) {
			job->seek_holes = false;	/* read it all */
			return false;
		}
		job->data_start = data - base;
		job->data_end = hole - base;
	}
	if (job->progress >= job->data_start) {
		/* Data: stop where the next hole starts, so it can be skipped. */
		hole = round_up(job->data_end, job->block_size);
		if (hole > job->progress)
			*size = min_u64(*size, hole - job->progress);
		return false;
	}
	hole = hole_end(job);
	if (hole <= job->progress)
		return false;
	*size = min_u64(*size, hole - job->progress);
	return true;
}

static void note_done(struct kc_job *job, uint64_t offset, uint64_t length);

static void skip_hole(struct kc_job *job)
{
	uint64_t len = hole_end(job) - job->progress;

	note_done(job, job->progress, len);
	if (job->ops.chunk_done)
		job->ops.chunk_done(job->context, job->progress, len);
	job->bytes_skipped += len;
	job->progress += len;
}

static bool claim_chunk(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	uint64_t skip, size;

	if (job->stop || job->kc->stopping)
		return false;
	while (job->ops.done_at && job->progress < job->count) {
		skip = job->ops.done_at(job->context, job->progress);
		if (!skip)
			break;
		skip = min_u64(skip, job->count - job->progress);
		note_done(job, job->progress, skip);
		job->bytes_skipped += skip;
		job->progress += skip;
	}
	if (job->progress >= job->count)
		return false;

	size = job->offload ? job->offload_piece : job->kc->sub_job_size;
	if (job->verify)
		size = verify_half(job);
	sub->zero_chunk = false;
	if (job->seek_holes) {
		/* A hole goes in one piece, as large as the zero buffer. */
		uint64_t span = job->kc->zero_len;

		if (!job->sparse_offload)	/* zero writes: see ZERO_REAL_MAX */
			span = job->kc->sub_job_size;
		if (in_hole(job, &span)) {
			if (job->flags & KC_DEST_IS_ZERO) {
				/* The user promises zeros there: no I/O at all. */
				skip_hole(job);
				return claim_chunk(sub);
			}
			sub->zero_chunk = true;
			size = span;
		} else {
			size = min_u64(size, span);
		}
	}
	sub->offset = job->progress;
	sub->count = min_u64(size, job->count - job->progress);
	job->progress += sub->count;

	sub->pending = 0;
	sub->kind = job->zero ? CHUNK_ZERO : CHUNK_DATA;
	sub->verify_dest = 0;
	sub->read_failed = sub->failed = false;
	sub->retry_mask = 0;
	sub->retry_busy = 0;
	return true;
}

/*
 * Sparse: the chunk is zero in the source (a hole, or read as zeros).
 * Skip it when the destinations are known zero, else zero it the cheapest
 * way every destination allows.
 */
static void start_zero_chunk(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	if (job->flags & KC_DEST_IS_ZERO) {
		sub->kind = CHUNK_SKIP;
		push(&kc->complete_jobs, sub);
		return;
	}
	sub->kind = CHUNK_ZERO;
	job->sparse_zeroed = true;
	if (!job->sparse_offload)
		job->sparse_wrote_zeros = true;
	sub->phase = job->sparse_offload ? PH_OFFLOAD : PH_WRITE;
	push(&kc->io_jobs, sub);
}

static void dispatch_sub_job(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct kc_client *kc = job->kc;

	if (job->zero) {
		/* zero_page_list: no pool pages for zeroing */
		sub->buf = kc->zero_buf;
		sub->phase = job->offload ? PH_OFFLOAD : PH_WRITE;
		push(&kc->io_jobs, sub);
		return;
	}
	if (sub->zero_chunk) {
		sub->buf = kc->zero_buf;
		start_zero_chunk(sub);
		return;
	}
	sub->buf = NULL;
	if (job->verify)
		sub->phase = job->source.target ? PH_VERIFY_SOURCE : PH_VERIFY_DEST;
	else
		sub->phase = PH_READ;
	push(&kc->pages_jobs, sub);
}

static void job_end(struct kc_job *job);

/* The sub-job finished its chunk: take the next one, or retire. */
static void segment_complete(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	if (!sub->failed) {
		chunk_done(job, sub->offset, sub->count);
		if (sub->kind == CHUNK_DATA)
			job->bytes_data += sub->count;
		else if (sub->kind == CHUNK_ZERO)
			job->bytes_zeroed += sub->count;
		else
			job->bytes_skipped += sub->count;
	}
	sub->phase = PH_IDLE;
	if (claim_chunk(sub)) {
		dispatch_sub_job(sub);
		return;
	}
	if (--job->active == 0)
		list_add_tail(&job->list, &job->kc->callback_jobs);
}

/* Start @nr more idle sub-jobs of @job. */
static void split_job(struct kc_job *job, unsigned nr)
{
	unsigned i;

	for (i = 0; i < job->nr_subs && nr; i++) {
		struct sub_job *sub = &job->subs[i];

		if (sub->phase != PH_IDLE || !list_empty(&sub->list))
			continue;
		nr--;
		if (!claim_chunk(sub))
			break;
		job->active++;
		dispatch_sub_job(sub);
	}
}

/*-----------------------------------------------------------------
 * Issuing I/O.
 *---------------------------------------------------------------*/
static int throttle_admit(struct sub_job *sub, uint64_t bytes)
{
	struct kc_client *kc = sub->job->kc;
	uint64_t now, wait;

	if (sub->throttled || kc->stopping)
		return 0;
	now = kc_now_ns();
	wait = throttle_io_start(kc->throttle, now, bytes);
	if (wait) {
		kc->throttle_until = now + wait;
		return 1;
	}
	sub->throttled = true;
	return 0;
}

static void throttle_done(struct sub_job *sub)
{
	if (sub->throttled) {
		throttle_io_finish(sub->job->kc->throttle, kc_now_ns());
		sub->throttled = false;
	}
}

/* Give up the chunk without (more) I/O: stopped, or the job failed. */
static void drop(struct sub_job *sub)
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
static int start_io(struct sub_job *sub, uint64_t bytes)
{
	if (sub_dropping(sub)) {
		drop(sub);
		return -ECANCELED;
	}
	return throttle_admit(sub, bytes);
}

static bool source_direct_rounding(const struct kc_job *job)
{
	return !target_fell_back(job->source.target);
}

static int issue_read(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct iocb *io = &sub->iocbs[0];
	uint64_t nbytes = sub->count;
	int r;

	r = start_io(sub, sub->count);
	if (r)
		return r < 0 ? 0 : r;
	/* A file's unaligned tail is read whole: O_DIRECT returns it short. */
	if (source_direct_rounding(job))
		nbytes = round_up(nbytes, target_block_size(job->source.target));
	io_prep_pread(io, target_fd(job->source.target), sub->buf, nbytes,
		      (long long)(job->source.offset + sub->offset));
	io->data = sub;
	sub->read_expect = sub->count;
	sub->pending = 1;
	aio_ring_queue(job->kc->ring, io);
	return 0;
}

/* Bytes of the chunk that go to dest @d through O_DIRECT aio. */
static uint64_t write_length(const struct sub_job *sub, unsigned d)
{
	uint64_t end = min_u64(sub->offset + sub->count, sub->job->tail_start[d]);

	return end > sub->offset ? end - sub->offset : 0;
}

static void save_tail(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	uint64_t tail = job->tail_start[0];

	if (job->zero || job->tail_saved || tail >= job->count ||
	    sub->offset + sub->count <= tail)
		return;
	memcpy(job->tail_buf, sub->buf + (tail - sub->offset), job->count - tail);
	job->tail_saved = true;
}

static void phase_done(struct sub_job *sub);

/*
 * Before the first write from the zero buffer: give its head real pages
 * (see ZERO_REAL_MAX). It stays read-only otherwise, so that nothing can
 * ever read data into it. On failure the zero page serves, only slower.
 */
static void zero_buf_make_real(struct kc_client *kc)
{
	if (kc->zero_real)
		return;
	kc->zero_real = true;
	if (mprotect(kc->zero_buf, kc->zero_real_len, PROT_READ | PROT_WRITE))
		return;
	memset(kc->zero_buf, 0, kc->zero_real_len);
	mprotect(kc->zero_buf, kc->zero_real_len, PROT_READ);
}

static int issue_writes(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	struct iocb *io;
	uint64_t len;
	unsigned d, n = 0;
	int r;

	/* Zeroing moves the job forward; a copy's writes paid at the read. */
	r = start_io(sub, job->zero ? sub->count : 0);
	if (r)
		return r < 0 ? 0 : r;
	if (sub->buf == job->kc->zero_buf)
		zero_buf_make_real(job->kc);
	save_tail(sub);
	for (d = 0; d < job->num_dests; d++) {
		if (sub->offset + sub->count > job->tail_start[d] &&
		    job->dests[d].count > job->tail_start[d])
			job->tail_mask |= 1ul << d;
		len = write_length(sub, d);
		if (!len)
			continue;
		io = &sub->iocbs[d];
		io_prep_pwrite(io, target_fd(job->dests[d].target), sub->buf, len,
			       (long long)(job->dests[d].offset + sub->offset));
		io->data = sub;
		aio_ring_queue(job->kc->ring, io);
		n++;
	}
	sub->pending = n;
	if (!n)
		phase_done(sub);
	return 0;
}

static void start_retry(struct sub_job *sub, int region)
{
	struct kc_job *job = sub->job;
	const struct kc_io_region *rg;

	sub->retry_region = region;
	sub->retry_next = sub->offset;
	if (region == KC_REGION_SOURCE) {
		rg = &job->source;
		sub->phase = PH_READ_RETRY;
		sub->retry_end = sub->offset + sub->count;
	} else {
		rg = &job->dests[region];
		sub->phase = PH_WRITE_RETRY;
		sub->retry_end = sub->offset + write_length(sub, (unsigned)region);
	}
	sub->retry_block = target_block_size(rg->target);
	push(&job->kc->io_jobs, sub);
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

static int issue_retries(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	bool reading = sub->phase == PH_READ_RETRY;
	const struct kc_io_region *rg;
	uint64_t len, nbytes;
	struct iocb *io;
	unsigned slot;

	if (job->kc->stopping) {
		sub->retry_next = sub->retry_end;	/* issue no more */
		sub->failed = true;
		if (!sub->pending)
			phase_done(sub);
		return 0;
	}
	rg = reading ? &job->source : &job->dests[sub->retry_region];
	while (sub->retry_next < sub->retry_end &&
	       sub->retry_busy != retry_slots(sub)) {
		slot = (unsigned)__builtin_ctz(~sub->retry_busy);
		io = &sub->retry_iocbs[slot];
		len = min_u64(sub->retry_block, sub->retry_end - sub->retry_next);
		nbytes = len;
		if (reading && source_direct_rounding(job))
			nbytes = round_up(len, sub->retry_block);
		if (reading)
			io_prep_pread(io, target_fd(rg->target),
				      sub->buf + (sub->retry_next - sub->offset),
				      nbytes, (long long)(rg->offset + sub->retry_next));
		else
			io_prep_pwrite(io, target_fd(rg->target),
				       sub->buf + (sub->retry_next - sub->offset),
				       nbytes, (long long)(rg->offset + sub->retry_next));
		io->data = sub;
		/* What the I/O must return, kept where the kernel ignores it. */
		io->u.c.resfd = (int)len;
		sub->retry_busy |= 1u << slot;
		sub->pending++;
		sub->retry_next += len;
		aio_ring_queue(job->kc->ring, io);
	}
	return 0;
}

/* Shrink or grow the next offload piece to keep each call short. */
static void offload_adapt(struct kc_job *job, uint64_t took_ns)
{
	uint64_t min_piece = job->kc->sub_job_size;

	if (took_ns < OFFLOAD_FAST_NS && job->offload_piece < OFFLOAD_MAX_PIECE)
		job->offload_piece *= 2;
	else if (took_ns > OFFLOAD_SLOW_NS && job->offload_piece / 2 >= min_piece)
		job->offload_piece /= 2;
}

/*
 * The offload is refused at run time: zero the rest with writes. Only one
 * sub-job runs while offloading, so everything before this chunk is done
 * and the job can simply resume from here with all its sub-jobs.
 */
static void offload_fall_back(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	throttle_done(sub);
	job->offload = false;
	job->offload_fell_back = true;
	job->progress = sub->offset;
	job->active--;
	sub->phase = PH_IDLE;
	split_job(job, job->nr_subs);
	if (!job->active)
		list_add_tail(&job->list, &job->kc->callback_jobs);
}

/*
 * Bytes of the chunk to zero on dest @d: a zero job zeroes each region to
 * its own end (a file's unaligned end included: fallocate takes bytes); a
 * sparse copy zeroes the aligned part and leaves the tail to job_end().
 */
static uint64_t offload_length(struct sub_job *sub, unsigned d)
{
	struct kc_job *job = sub->job;
	const struct kc_io_region *rg = &job->dests[d];

	if (job->zero)
		return sub->offset >= rg->count ? 0 :
		       min_u64(sub->count, rg->count - sub->offset);
	if (sub->offset + sub->count > job->tail_start[d] &&
	    rg->count > job->tail_start[d]) {
		job->tail_mask |= 1ul << d;
		save_tail(sub);
	}
	return write_length(sub, d);
}

static int run_offload(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	const struct kc_io_region *rg;
	uint64_t start, len;
	unsigned d;
	int r;

	r = start_io(sub, sub->count);
	if (r)
		return r < 0 ? 0 : r;
	start = kc_now_ns();
	for (d = 0; d < job->num_dests; d++) {
		rg = &job->dests[d];
		len = offload_length(sub, d);
		if (!len)
			continue;
		/* A sparse copy gives space back; --zero keeps it. */
		r = target_zero_range(rg->target, rg->offset + sub->offset, len,
				      !job->zero);
		if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY) {
			if (job->zero) {
				offload_fall_back(sub);
				return 0;
			}
			/* Sparse copy: this chunk and the rest by writes. */
			job->sparse_offload = false;
			job->sparse_wrote_zeros = true;
			sub->phase = PH_WRITE;
			push_head(&job->kc->io_jobs, sub);
			return 0;
		}
		if (r < 0)
			record_error(job, (int)d, rg->offset + sub->offset, len, -r);
	}
	offload_adapt(job, kc_now_ns() - start);
	throttle_done(sub);
	push(&job->kc->complete_jobs, sub);
	return 0;
}

static int issue_verify_read(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	bool source = sub->phase == PH_VERIFY_SOURCE;
	const struct kc_io_region *rg = source ? &job->source :
					&job->dests[sub->verify_dest];
	uint64_t half = verify_half(job);
	struct iocb *io = &sub->iocbs[0];
	uint64_t len;
	int r;

	if (job->kc->stopping) {
		drop(sub);
		return 0;
	}
	/* The aligned part; job_end() compares unaligned tails. */
	len = write_length(sub, source ? 0 : sub->verify_dest);
	if (!len) {
		sub->pending = 0;
		phase_done(sub);
		return 0;
	}
	r = throttle_admit(sub, len);
	if (r)
		return r;
	io_prep_pread(io, target_fd(rg->target), sub->buf + (source ? 0 : half),
		      len, (long long)(rg->offset + sub->offset));
	io->data = sub;
	sub->pending = 1;
	aio_ring_queue(job->kc->ring, io);
	return 0;
}

/* Compare block by block, so the mismatch ranges are exact. */
static void verify_compare(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	unsigned d = sub->verify_dest;
	uint64_t len = write_length(sub, d), off, n;
	const char *want = job->source.target ? sub->buf : job->kc->zero_buf;
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
		return run_offload(sub);
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
 * Is the buffer all zeros? Checked a logical block run at a time with
 * word-wide ORs the compiler vectorizes; stops at the first non-zero run.
 */
static bool buffer_is_zero(const char *buf, uint64_t len)
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

/* All I/O of the sub-job's current phase is over: decide what is next. */
static void phase_done(struct sub_job *sub)
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
		if (sub->read_failed)
			break;
		sub->phase = PH_VERIFY_DEST;
		push(&kc->io_jobs, sub);
		return;
	case PH_VERIFY_DEST:
		if (!sub->read_failed && sub->pending == 0)
			verify_compare(sub);
		sub->read_failed = false;
		if (++sub->verify_dest < job->num_dests && !kc->stopping) {
			push(&kc->io_jobs, sub);
			return;
		}
		break;
	case PH_READ_RETRY:
		if (!sub->failed && (job->flags & KC_IGNORE_ERROR)) {
			sub->phase = PH_WRITE;
			push(&kc->io_jobs, sub);
			return;
		}
		if (job->read_err)
			sub->failed = true;
		if (!sub->failed) {
			/* Every block read fine on retry: carry on. */
			sub->phase = PH_WRITE;
			push(&kc->io_jobs, sub);
			return;
		}
		break;
	case PH_WRITE_RETRY:
		sub->retry_mask &= ~(1ul << sub->retry_region);
		/* fall through */
	case PH_WRITE:
		if (sub->retry_mask && !kc->stopping) {
			start_retry(sub, __builtin_ctzl(sub->retry_mask));
			return;
		}
		if (sub->retry_mask)
			sub->failed = true;	/* stopped before isolating it */
		break;
	case PH_OFFLOAD:
	case PH_IDLE:
		break;
	}
	push(&kc->complete_jobs, sub);
}

/* Is this the end of a transfer, or a residue to resubmit? */
static bool transfer_residue(struct sub_job *sub, struct iocb *io, long res,
			     uint64_t *expect)
{
	if (res <= 0 || (uint64_t)res >= *expect)
		return false;
	io->u.c.buf = (char *)io->u.c.buf + res;
	io->u.c.offset += res;
	io->u.c.nbytes -= (unsigned long)res;
	*expect -= (uint64_t)res;
	aio_ring_queue(sub->job->kc->ring, io);
	return true;
}

static void complete_retry(struct sub_job *sub, struct iocb *io, long res)
{
	struct kc_job *job = sub->job;
	unsigned slot = (unsigned)(io - sub->retry_iocbs);
	uint64_t len = (uint64_t)io->u.c.resfd;
	uint64_t off = (uint64_t)io->u.c.offset;
	const struct kc_io_region *rg;
	int region = sub->retry_region;

	sub->retry_busy &= ~(1u << slot);
	if (res < (long)len) {
		rg = region == KC_REGION_SOURCE ? &job->source : &job->dests[region];
		if (region == KC_REGION_SOURCE)	/* never stale memory */
			memset(sub->buf + (off - rg->offset - sub->offset), 0, len);
		/* A read that ends early without an error: past the end now. */
		record_error(job, region, off, len, res < 0 ? (int)-res :
			     region == KC_REGION_SOURCE ? KC_ESHRANK : EIO);
		if (!(job->flags & KC_IGNORE_ERROR))
			sub->failed = true;
		if (region != KC_REGION_SOURCE && (job->flags & KC_WRITE_SEQ))
			sub->retry_next = sub->retry_end;	/* stop at it */
	}
	if (--sub->pending == 0 && sub->retry_next >= sub->retry_end) {
		phase_done(sub);
		return;
	}
	if (sub->retry_next < sub->retry_end && list_empty(&sub->list))
		push(&job->kc->io_jobs, sub);
}

static void complete_verify_read(struct sub_job *sub, struct iocb *io, long res)
{
	struct kc_job *job = sub->job;
	uint64_t expect = io->u.c.nbytes;
	int region = sub->phase == PH_VERIFY_SOURCE ? KC_REGION_SOURCE :
		     (int)sub->verify_dest;
	const struct kc_io_region *rg = region == KC_REGION_SOURCE ?
					&job->source : &job->dests[region];

	if (transfer_residue(sub, io, res, &expect))
		return;
	if (res != (long)expect) {
		sub->read_failed = true;
		record_error(job, region, rg->offset + sub->offset,
			     write_length(sub, region < 0 ? 0 : (unsigned)region),
			     res < 0 ? (int)-res : EIO);
	}
	sub->pending = 0;
	phase_done(sub);
}

static void complete_io(struct sub_job *sub, struct iocb *io, long res)
{
	uint64_t expect;
	unsigned d;

	if (io >= sub->retry_iocbs && io < sub->retry_iocbs + RETRY_DEPTH) {
		complete_retry(sub, io, res);
		return;
	}
	if (sub->phase == PH_READ) {
		if (transfer_residue(sub, io, res, &sub->read_expect))
			return;
		/* More than expected: the file grew past the tail; fine. */
		if (res < (long)sub->read_expect)
			sub->read_failed = true;
	} else if (sub->phase == PH_VERIFY_SOURCE || sub->phase == PH_VERIFY_DEST) {
		complete_verify_read(sub, io, res);
		return;
	} else {
		d = (unsigned)(io - sub->iocbs);
		expect = io->u.c.nbytes;
		if (transfer_residue(sub, io, res, &expect))
			return;
		if (res != (long)expect)
			sub->retry_mask |= 1ul << d;
	}
	if (--sub->pending == 0)
		phase_done(sub);
}

/*-----------------------------------------------------------------
 * Jobs.
 *---------------------------------------------------------------*/

/* Unaligned tails of regular files, through the page cache. */
static void write_tails(struct kc_job *job)
{
	const struct kc_io_region *rg;
	uint64_t start, len;
	const void *buf;
	unsigned d;
	int r;

	for (d = 0; d < job->num_dests; d++) {
		if (!(job->tail_mask & (1ul << d)))
			continue;
		rg = &job->dests[d];
		start = job->tail_start[d];
		len = rg->count - start;
		buf = job->zero ? job->kc->zero_buf : job->tail_buf;
		r = target_pwrite_tail(rg->target, buf, len, rg->offset + start);
		if (r < 0)
			record_error(job, (int)d, rg->offset + start, len, -r);
	}
}

/* Compare unaligned tails, through the page cache. */
static void verify_tails(struct kc_job *job)
{
	const struct kc_io_region *rg;
	char *want, *got;
	uint64_t start, len;
	unsigned d;
	int r;

	want = malloc(2 * (size_t)job->block_size);
	if (!want)
		return;
	got = want + job->block_size;
	for (d = 0; d < job->num_dests; d++) {
		rg = &job->dests[d];
		start = job->tail_start[d];
		len = rg->count - start;
		if (!len)
			continue;
		memset(want, 0, len);
		if (job->source.target) {
			r = target_pread_tail(job->source.target, want, len,
					      job->source.offset + start);
			if (r < 0) {
				record_error(job, KC_REGION_SOURCE,
					     job->source.offset + start, len, -r);
				continue;
			}
		}
		r = target_pread_tail(rg->target, got, len, rg->offset + start);
		if (r < 0)
			record_error(job, (int)d, rg->offset + start, len, -r);
		else if (memcmp(want, got, len))
			record_error(job, (int)d, rg->offset + start, len, KC_EMISMATCH);
	}
	free(want);
}

static void job_end(struct kc_job *job)
{
	uint64_t tail = tail_floor(job);

	if (job->tail_mask && !job->kc->stopping && !job->stop) {
		write_tails(job);
		if (job->ops.chunk_done && tail < job->count)
			job->ops.chunk_done(job->context, tail, job->count - tail);
	}
	if (job->verify && !job->kc->stopping)
		verify_tails(job);
	coalesce_errors(job);
	job->interrupted = job->kc->stopping && job->bytes_done < job->count;
	/* What an error kept it from reaching was not touched in this run. */
	if (!job->interrupted)
		job->bytes_skipped = job->count - job->bytes_data - job->bytes_zeroed;
	job->ended = true;
	job->end_ns = kc_now_ns();
	job->kc->nr_jobs--;
	if (job->ops.complete)
		job->ops.complete(job->context, job->read_err, job->write_err);
}

static void start_job(struct kc_job *job)
{
	struct kc_client *kc = job->kc;
	uint64_t nr;

	job->start_ns = kc_now_ns();
	kc->nr_jobs++;
	nr = job->offload ? 1 : (job->count + kc->sub_job_size - 1) / kc->sub_job_size;
	split_job(job, (unsigned)min_u64(nr, job->nr_subs));
	/* Zero size, or everything already done (resume). */
	if (!job->active)
		list_add_tail(&job->list, &kc->callback_jobs);
}

static bool all_offload(unsigned num_dests, const struct kc_io_region *dests)
{
	unsigned i;

	for (i = 0; i < num_dests; i++)
		if (!target_can_zero_offload(dests[i].target))
			return false;
	return true;
}

static void job_free(struct kc_job *job);

static int job_create(struct kc_client *kc, const struct kc_io_region *from,
		      unsigned num_dests, const struct kc_io_region *dests,
		      unsigned flags, bool verify, const struct kc_job_ops *ops,
		      void *context, struct kc_job **out)
{
	struct kc_job *job;
	unsigned i, lbs;

	if (!num_dests || num_dests > KC_MAX_DESTS)
		return -EINVAL;
	job = calloc(1, sizeof(*job) + kc->split_count * sizeof(job->subs[0]));
	if (!job)
		return -ENOMEM;
	job->kc = kc;
	job->zero = !from && !verify;
	job->verify = verify;
	job->num_dests = num_dests;
	memcpy(job->dests, dests, num_dests * sizeof(*dests));
	if (ops)
		job->ops = *ops;
	job->context = context;
	job->nr_subs = kc->split_count;

	/* Host-managed zoned destinations can only be written in order. */
	for (i = 0; i < num_dests; i++)
		if (target_zoned_host_managed(dests[i].target))
			flags |= KC_WRITE_SEQ;
	/* If we need to write sequentially, errors cannot be ignored. */
	if (flags & KC_WRITE_SEQ)
		flags &= ~KC_IGNORE_ERROR;
	job->flags = flags;

	job->block_size = 512;
	if (from) {
		job->source = *from;
		job->count = from->count;
		job->block_size = target_block_size(from->target);
	}
	for (i = 0; i < num_dests; i++) {
		if (!from && dests[i].count > job->count)
			job->count = dests[i].count;
		lbs = target_block_size(dests[i].target);
		if (lbs > job->block_size)
			job->block_size = lbs;
	}
	for (i = 0; i < num_dests; i++) {
		uint64_t c = from ? job->count : dests[i].count;

		job->tail_start[i] = c / job->block_size * job->block_size;
		/* Buffered fds need no alignment: no tail handling. */
		if (!verify && target_fell_back(dests[i].target) &&
		    (!from || target_fell_back(from->target)))
			job->tail_start[i] = c;
	}
	if (from && !verify && job->tail_start[0] < job->count) {
		job->tail_buf = malloc(job->count - job->tail_start[0]);
		if (!job->tail_buf) {
			free(job);
			return -ENOMEM;
		}
	}
	job->offload = job->zero && !(flags & KC_NO_WRITE_ZEROES) &&
		       all_offload(num_dests, dests);
	job->offload_piece = OFFLOAD_FIRST_PIECE;
	job->stop_offset = UINT64_MAX;
	if (from && (flags & KC_SPARSE)) {
		job->seek_holes = !target_is_blockdev(from->target);
		job->sparse_offload = !(flags & KC_NO_WRITE_ZEROES) &&
				      all_offload(num_dests, dests);
	}
	for (i = 0; i < job->nr_subs; i++) {
		job->subs[i].job = job;
		INIT_LIST_HEAD(&job->subs[i].list);
	}
	INIT_LIST_HEAD(&job->list);
	list_add_tail(&job->all, &kc->new_jobs);
	*out = job;
	return 0;
}

int kc_copy(struct kc_client *kc, const struct kc_io_region *from,
	    unsigned num_dests, const struct kc_io_region *dests,
	    unsigned flags, const struct kc_job_ops *ops, void *context,
	    struct kc_job **out)
{
	if (!from)
		return -EINVAL;
	return job_create(kc, from, num_dests, dests, flags, false, ops, context,
			  out);
}

int kc_zero(struct kc_client *kc, unsigned num_dests,
	    const struct kc_io_region *dests, unsigned flags,
	    const struct kc_job_ops *ops, void *context, struct kc_job **out)
{
	return job_create(kc, NULL, num_dests, dests, flags, false, ops, context,
			  out);
}

int kc_verify(struct kc_client *kc, const struct kc_io_region *from,
	      unsigned num_dests, const struct kc_io_region *dests,
	      struct kc_job **out)
{
	int r;

	/* Check everything: one mismatch must not hide the next. */
	r = job_create(kc, from, num_dests, dests, KC_IGNORE_ERROR, true, NULL,
		       NULL, out);
	if (r == 0 && !verify_half(*out)) {
		list_del(&(*out)->all);
		job_free(*out);
		return -EINVAL;
	}
	return r;
}

static enum kc_zero_method zero_method(const struct kc_job *job)
{
	if (job->zero)
		return job->offload && !job->offload_fell_back ?
		       KC_ZERO_OFFLOAD : KC_ZERO_WRITE;
	if (!job->sparse_zeroed)	/* no zero run was written */
		return KC_ZERO_NONE;
	return job->sparse_wrote_zeros ? KC_ZERO_WRITE : KC_ZERO_OFFLOAD;
}

void kc_job_stats(const struct kc_job *job, struct kc_job_stats *s)
{
	*s = (struct kc_job_stats) {
		.read_err = job->read_err,
		.write_err = job->write_err,
		.length = job->count,
		.bytes_done = job->bytes_done,
		.done_prefix = job->done_prefix,
		.bytes_data = job->bytes_data,
		.bytes_zeroed = job->bytes_zeroed,
		.bytes_skipped = job->bytes_skipped,
		.zero_method = zero_method(job),
		.errors = job->errors,
		.nr_errors = job->nr_errors,
		.ended = job->ended,
		.interrupted = job->interrupted,
		.start_ns = job->start_ns,
		.end_ns = job->ended ? job->end_ns : kc_now_ns(),
	};
}

static void job_free(struct kc_job *job)
{
	free(job->errors);
	free(job->ahead);
	free(job->tail_buf);
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
	now = kc_now_ns();
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
 * gathered in the pass goes out in one submission (the plug).
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
	if (kc->throttle_until && kc_now_ns() < kc->throttle_until &&
	    !throttle_refused_for_rate(kc->throttle) && !kc->stopping)
		return;
	kc->throttle_until = 0;
	process_io_jobs(kc);
}

/*
 * Fail what is queued: the kernel has taken none of it for
 * SUBMIT_STALL_NS with nothing of ours in flight (fio gives up likewise).
 */
static void fail_queued(struct kc_client *kc, int error)
{
	struct iocb *failed;

	while (aio_ring_queued(kc->ring)) {
		if (aio_ring_unqueue(kc->ring, &failed) < 0)
			break;
		complete_io(failed->data, failed, error);
	}
}

static void submit_all(struct kc_client *kc)
{
	struct iocb *failed;
	uint64_t now;
	int r;

	while (aio_ring_queued(kc->ring)) {
		r = aio_ring_submit(kc->ring, &failed);
		if (r >= 0)
			break;	/* all out, or -EAGAIN: reap first */
		complete_io(failed->data, failed, r);
	}
	if (!aio_ring_queued(kc->ring) || aio_ring_in_flight(kc->ring)) {
		kc->stall_since = 0;
		return;
	}
	/* -EAGAIN with nothing in flight: the kernel is out of requests. */
	now = kc_now_ns();
	if (!kc->stall_since)
		kc->stall_since = now;
	if (now - kc->stall_since >= SUBMIT_STALL_NS) {
		kc->submit_stalled = true;
		kc->stall_since = 0;
		fail_queued(kc, -EAGAIN);
	}
}

static void reap(struct kc_client *kc, uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000ull),
		.tv_nsec = (long)(timeout_ns % 1000000000ull),
	};
	int i, n;

	n = aio_ring_reap(kc->ring, 1, kc->depth, kc->events, &ts);
	for (i = 0; i < n; i++)
		complete_io(kc->events[i].data, kc->events[i].obj,
			    (long)kc->events[i].res);
}

static bool work_pending(const struct kc_client *kc)
{
	bool held = kc->end_hold_until && !kc->stopping &&
		    kc_now_ns() < kc->end_hold_until;

	return (!list_empty(&kc->callback_jobs) && !held) ||
	       !list_empty(&kc->complete_jobs) ||
	       (!list_empty(&kc->io_jobs) && (!kc->throttle_until || kc->stopping)) ||
	       (aio_ring_queued(kc->ring) && !kc->stall_since);
}

/* How long the loop may block: until the next tick or throttle deadline. */
static uint64_t loop_wait(const struct kc_client *kc, uint64_t now,
			  uint64_t next_tick)
{
	uint64_t wait = next_tick > now ? next_tick - now : 0;

	if (work_pending(kc))
		return 0;
	if (kc->throttle_until)
		wait = min_u64(wait, kc->throttle_until > now ?
				     kc->throttle_until - now : 0);
	if (kc->end_hold_until)
		wait = min_u64(wait, kc->end_hold_until > now ?
				     kc->end_hold_until - now : 0);
	return wait;
}

/* iocbs that one sub-job of @job may have queued at once. */
static unsigned iocbs_per_sub(unsigned num_dests)
{
	return num_dests > RETRY_DEPTH ? num_dests : RETRY_DEPTH;
}

int kc_client_setup_io(struct kc_client *kc, unsigned max_jobs,
		       unsigned max_dests)
{
	uint64_t depth = (uint64_t)max_jobs * kc->split_count *
			 iocbs_per_sub(max_dests);
	int r;

	if (kc->ring)
		return 0;
	if (depth > MAX_RING_DEPTH)
		depth = MAX_RING_DEPTH;
	r = aio_ring_create((unsigned)depth, &kc->ring);
	if (r < 0)
		return r;
	kc->depth = aio_ring_depth(kc->ring);
	kc->events = calloc(kc->depth, sizeof(*kc->events));
	if (!kc->events) {
		aio_ring_destroy(kc->ring);
		kc->ring = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* The ring for the jobs about to start, and queue room for all their iocbs. */
static int ring_setup(struct kc_client *kc)
{
	struct list_head *pos;
	unsigned nr_jobs = 0, max_dests = 1;
	uint64_t queue = 0;
	int r;

	for (pos = kc->new_jobs.next; pos != &kc->new_jobs; pos = pos->next) {
		struct kc_job *job = list_entry(pos, struct kc_job, all);

		nr_jobs++;
		if (job->num_dests > max_dests)
			max_dests = job->num_dests;
		queue += (uint64_t)job->nr_subs * iocbs_per_sub(job->num_dests);
	}
	r = kc_client_setup_io(kc, nr_jobs ? nr_jobs : 1, max_dests);
	if (r < 0)
		return r;
	if (queue > UINT32_MAX)
		return -ENOMEM;
	return aio_ring_reserve(kc->ring, (unsigned)(queue ? queue : 1));
}

int kc_client_run(struct kc_client *kc, kc_tick_fn tick, void *context,
		  unsigned interval_ms)
{
	uint64_t interval = (uint64_t)interval_ms * 1000000ull;
	uint64_t now, next_tick, wait;
	struct kc_job *job;
	int r;

	r = ring_setup(kc);
	if (r < 0)
		return r;
	while (!list_empty(&kc->new_jobs)) {
		job = list_first_entry(&kc->new_jobs, struct kc_job, all);
		list_del(&job->all);
		list_add_tail(&job->all, &kc->all_jobs);
		start_job(job);
	}
	next_tick = kc_now_ns() + interval;
	while (kc->nr_jobs) {
		do_work(kc);
		submit_all(kc);
		if (!kc->nr_jobs)
			break;
		now = kc_now_ns();
		if (tick && now >= next_tick) {
			if (tick(context))
				kc_client_stop(kc);
			next_tick = now + interval;
		}
		if (work_pending(kc) && !aio_ring_in_flight(kc->ring) &&
		    !kc->stall_since)
			continue;
		wait = loop_wait(kc, now, next_tick);
		if (kc->stall_since && !aio_ring_in_flight(kc->ring))
			wait = min_u64(SUBMIT_RETRY_NS, next_tick > now ?
				       next_tick - now : 0);
		if (aio_ring_in_flight(kc->ring)) {
			reap(kc, wait);
		} else if (kc->throttle_until || kc->stall_since ||
			   kc->end_hold_until) {
			struct timespec ts = {
				.tv_sec = (time_t)(wait / 1000000000ull),
				.tv_nsec = (long)(wait % 1000000000ull),
			};
			nanosleep(&ts, NULL);
		} else {
			return -EDEADLK;	/* nothing in flight, nothing to do */
		}
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

bool kc_client_submit_stalled(const struct kc_client *kc)
{
	return kc->submit_stalled;
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
	    !config->sub_jobs || config->memory < config->sub_job_size)
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
	aio_ring_destroy(kc->ring);
	free(kc->events);
	munmap(kc->zero_buf, kc->zero_len);
	pool_destroy(kc->pool);
	throttle_destroy(kc->throttle);
	free(kc);
}
