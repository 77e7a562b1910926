// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-zero.c - zero jobs (kcopyd's zero_page_list jobs), and the
 * offload (IO_ZERO) that zero jobs and sparse copies share.
 *
 * Zeroing reads nothing, so nothing ties the destinations together: a
 * zero job gives each destination its own stream through the job (its
 * own progress, its own sub-jobs, its own done set), and a fast disk is
 * not held back by a slow one, as it was while every chunk went to all
 * of them at once (1.14-1.19 x fio's write time at 4 and 8 destinations).
 * A range is done for the job, and for the map, once every destination
 * has it. Sub-job i serves destination i % num_dests.
 *
 * The offload goes in pieces that grow while one takes under
 * OFFLOAD_FAST_NS and shrink above OFFLOAD_SLOW_NS, so that progress,
 * throttle and a stop are served between pieces; one piece per
 * destination is in flight. A destination that refuses it at run time
 * goes on with zero writes from where it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kcopyd-internal.h"

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

#define OFFLOAD_FIRST_PIECE (16ull << 20)
#define OFFLOAD_MAX_PIECE (4ull << 30)
#define OFFLOAD_FAST_NS (25 * 1000000ull)
#define OFFLOAD_SLOW_NS (100 * 1000000ull)

/*
 * Never written, so it costs no memory: the kernel backs reads of
 * untouched anonymous memory with its own zero page.
 */
int zero_buffer_create(struct kc_client *kc)
{
	kc->zero_len = kc->sub_job_size > ZERO_BUFFER_MIN ?
		       kc->sub_job_size : ZERO_BUFFER_MIN;
	kc->zero_real_len = min_u64(kc->sub_job_size, ZERO_REAL_MAX);
	kc->zero_buf = mmap(NULL, kc->zero_len, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (kc->zero_buf == MAP_FAILED) {
		kc->zero_buf = NULL;
		return -errno;
	}
	return 0;
}

void zero_buffer_destroy(struct kc_client *kc)
{
	if (kc->zero_buf)
		munmap(kc->zero_buf, kc->zero_len);
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

int zero_setup(struct kc_job *job)
{
	unsigned d, n = job->num_dests;

	job->zero.progress = calloc(n, sizeof(*job->zero.progress));
	job->zero.done = calloc(n, sizeof(*job->zero.done));
	job->zero.offload = calloc(n, sizeof(*job->zero.offload));
	if (!job->zero.progress || !job->zero.done || !job->zero.offload)
		return -ENOMEM;
	job->zero.offload_all = !(job->flags & KC_NO_WRITE_ZEROES) &&
				all_dests_can_zero(job, false);
	for (d = 0; d < n; d++)
		job->zero.offload[d] = job->zero.offload_all;
	job->zero.piece = OFFLOAD_FIRST_PIECE;
	return 0;
}

void zero_free(struct kc_job *job)
{
	unsigned d;

	for (d = 0; job->zero.done && d < job->num_dests; d++)
		range_set_free(&job->zero.done[d]);
	free(job->zero.done);
	free(job->zero.progress);
	free(job->zero.offload);
}

unsigned zero_nr_subs(const struct kc_client *kc, unsigned num_dests)
{
	return kc->split_count * num_dests;
}

/* Offloading, one sub-job per destination; writing, all of them. */
unsigned zero_start_subs(const struct kc_job *job)
{
	return job->zero.offload_all ? job->num_dests : job->nr_subs;
}

static unsigned sub_dest(const struct sub_job *sub)
{
	return (unsigned)(sub - sub->job->subs) % sub->job->num_dests;
}

/* Bytes from @x on, up to @end, that every destination has; 0 if not @x. */
static uint64_t done_everywhere(const struct kc_job *job, uint64_t x,
				uint64_t end, uint64_t *next)
{
	uint64_t len = end - x, cov;
	unsigned d;

	*next = end;
	for (d = 0; d < job->num_dests; d++) {
		if (x >= job->dests[d].count)
			continue;	/* that one ends before: nothing to do */
		cov = range_set_covered_at(&job->zero.done[d], x);
		if (!cov) {
			/* Done there from its next range on, or past its end. */
			*next = min_u64(*next, min_u64(job->dests[d].count,
				range_set_next_start(&job->zero.done[d], x)));
			return 0;
		}
		len = min_u64(len, cov);
	}
	return len;
}

/*
 * [off, off + len) is zeroed (or known done) on dest @d. What that makes
 * done on every destination is done for the job: counted as @kind, and
 * told to the client when @notify.
 */
static void zero_mark(struct kc_job *job, unsigned d, uint64_t off, uint64_t len,
		      enum chunk_kind kind, bool notify)
{
	uint64_t x = off, end = off + len, n, next;

	range_set_add(&job->zero.done[d], off, end);
	while (x < end) {
		n = done_everywhere(job, x, end, &next);
		if (!n) {
			x = next;
			continue;
		}
		note_done(job, x, n);
		if (kind == CHUNK_ZERO)
			job->bytes_zeroed += n;
		else
			job->bytes_skipped += n;
		if (notify && job->ops.chunk_done)
			job->ops.chunk_done(job->context, x, n);
		x += n;
	}
}

bool zero_claim(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	unsigned d = sub_dest(sub);
	uint64_t count = job->dests[d].count, p = job->zero.progress[d], skip;
	uint64_t size;

	/* Resume: what the map holds is done on every destination. */
	while ((skip = resume_span(job, p, count))) {
		zero_mark(job, d, p, skip, CHUNK_SKIP, false);
		p += skip;
	}
	job->zero.progress[d] = p;
	if (p >= count)
		return false;
	size = job->zero.offload[d] ? job->zero.piece : job->kc->sub_job_size;
	sub->dest = (int)d;
	sub->offset = p;
	sub->count = min_u64(size, count - p);
	job->zero.progress[d] += sub->count;
	return true;
}

void zero_dispatch(struct sub_job *sub)
{
	struct kc_client *kc = sub->job->kc;

	/* zero_page_list: no pool pages for zeroing */
	sub->buf = kc->zero_buf;
	sub->refused = 0;
	sub->phase = sub->job->zero.offload[sub->dest] ? PH_OFFLOAD : PH_WRITE;
	push(&kc->io_jobs, sub);
}

void zero_chunk_done(struct sub_job *sub)
{
	zero_mark(sub->job, (unsigned)sub->dest, sub->offset, sub->count,
		  CHUNK_ZERO, true);
}

/* --sequential: each destination's stream writes in order. */
bool zero_write_in_order(const struct sub_job *sub)
{
	return sub->offset ==
	       range_set_covered_at(&sub->job->zero.done[sub->dest], 0);
}

int issue_offload(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	int r;

	/* A zero job's bytes move it on; a sparse copy paid at its read. */
	r = start_io(sub, job->kind == JOB_ZERO ? sub->count : 0);
	if (r)
		return r < 0 ? 0 : r;
	sub->issued_ns = io_now(job->kc->q);
	/* A sparse copy gives space back; --zero keeps it. */
	issue_to_dests(sub, IO_ZERO, job->kind == JOB_COPY ? IO_ZERO_DEALLOCATE : 0);
	return 0;
}

/* Shrink or grow the next offload piece to keep each one short. */
static void offload_adapt(struct kc_job *job, uint64_t took_ns)
{
	uint64_t min_piece = job->kc->sub_job_size;

	if (took_ns < OFFLOAD_FAST_NS && job->zero.piece < OFFLOAD_MAX_PIECE)
		job->zero.piece *= 2;
	else if (took_ns > OFFLOAD_SLOW_NS && job->zero.piece / 2 >= min_piece)
		job->zero.piece /= 2;
}

/*
 * Dest @d refused the offload: it goes on with writes from this chunk,
 * with all its sub-jobs. It had only this one sub-job, so everything
 * before the chunk is done and its stream can simply resume from here.
 */
static void zero_fall_back(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	unsigned i, d = (unsigned)sub->dest;

	job->zero.offload[d] = false;
	job->zero.fell_back = true;
	job->zero.progress[d] = sub->offset;
	job->split.active--;
	sub->phase = PH_IDLE;
	for (i = d; i < job->nr_subs; i += job->num_dests)
		start_sub_job(&job->subs[i]);
	if (!job->split.active)
		list_add_tail(&job->list, &job->kc->callback_jobs);
}

static void offload_done(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	throttle_done(sub);
	if (job->kind == JOB_ZERO)
		offload_adapt(job, io_now(job->kc->q) - sub->issued_ns);
	if (!sub->refused) {
		push(&job->kc->complete_jobs, sub);
		return;
	}
	if (job->kind == JOB_ZERO) {
		sub->refused = 0;
		zero_fall_back(sub);
		return;
	}
	/*
	 * Sparse copy: the rest by writes, and this chunk to the destinations
	 * that did not zero it (no second write where one did: on a zoned
	 * destination it would land behind the write pointer).
	 */
	job->sparse.offload = false;
	job->sparse.wrote_zeros = true;
	sub->todo = sub->refused;
	sub->refused = 0;
	sub->phase = PH_WRITE;
	push_head(&job->kc->io_jobs, sub);
}

void complete_offload(struct sub_job *sub, struct io_request *req)
{
	unsigned d = (unsigned)(req - sub->reqs);

	/*
	 * Refused, or failed: either way the range goes again by zero
	 * writes, whose failures are retried block by block, so that only
	 * the blocks that really fail are reported (an offload piece is up
	 * to 4 GiB).
	 */
	if (req->result < 0)
		sub->refused |= 1ul << d;
	if (--sub->pending == 0)
		offload_done(sub);
}

enum kc_zero_method zero_method(const struct kc_job *job)
{
	if (job->kind == JOB_ZERO)
		return job->zero.offload_all && !job->zero.fell_back ?
		       KC_ZERO_OFFLOAD : KC_ZERO_WRITE;
	if (!job->sparse.zeroed)	/* no zero run was written */
		return KC_ZERO_NONE;
	return job->sparse.wrote_zeros ? KC_ZERO_WRITE : KC_ZERO_OFFLOAD;
}
