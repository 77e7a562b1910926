// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-gate.c - the source's data to the client (ops.data), in offset
 * order, as it passes: digests (--hash) and a bmap's range checksums are
 * taken in the copy's one read, and need the bytes in order.
 *
 * Reads complete in any order. Every chunk that reads is put on the
 * job's gate list when claimed (claims go in offset order); a chunk whose
 * read is done waits there, buffer held, until every chunk claimed before
 * it has been given, then goes on to its writes. What lies between two
 * chunks was not read: a hole (given as zeros), or lost (a read failure,
 * a stop: the data can't be whole, and ops.data_lost says so).
 *
 * A stream source (info.sequential) also needs its reads issued in
 * order, and ends where its reads meet its end (KC_OPEN_END).
 */
#include <errno.h>

#include "kcopyd-internal.h"

void gate_setup(struct kc_job *job)
{
	INIT_LIST_HEAD(&job->gate.claimed);
	job->gate.on = job->ops.data != NULL;
}

void gate_free(struct kc_job *job)
{
	range_set_free(&job->gate.lost);
}

void gate_claim(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	sub->gate_ready = false;
	if (!job->gate.on || sub->zero_chunk)
		return;
	list_add_tail(&sub->gate, &job->gate.claimed);
	sub->gated = true;
}

/* [start, end) was not given: the lost parts to data_lost, holes as zeros. */
static void give_gap(struct kc_job *job, uint64_t start, uint64_t end)
{
	uint64_t lost_end, hole_end;

	while (start < end) {
		lost_end = start + range_set_covered_at(&job->gate.lost, start);
		if (lost_end > start) {
			lost_end = min_u64(lost_end, end);
			if (job->ops.data_lost)
				job->ops.data_lost(job->context, start, lost_end - start);
			start = lost_end;
			continue;
		}
		hole_end = min_u64(range_set_next_start(&job->gate.lost, start), end);
		job->ops.data(job->context, start, NULL, hole_end - start, &(uint64_t){0},
			      &(uint64_t){0});
		start = hole_end;
	}
}

/* The client found the source wrong in a range: an error there. */
static void bad_data(struct sub_job *sub, int r, uint64_t offset, uint64_t length)
{
	struct kc_job *job = sub->job;

	record_error(job, KC_REGION_SOURCE, job->source.offset + offset, length, -r);
	sub->failed = true;
	push(&job->kc->complete_jobs, sub);
}

static void give(struct sub_job *sub)
{
	struct kc_job *job = sub->job;
	uint64_t bad_offset = 0, bad_length = 0;
	int r;

	give_gap(job, job->gate.next, sub->offset);
	r = job->ops.data(job->context, sub->offset, sub->buf, sub->count,
			  &bad_offset, &bad_length);
	job->gate.next = sub->offset + sub->count;
	range_set_remove(&job->gate.lost, 0, job->gate.next);
	if (r < 0)
		bad_data(sub, r, bad_offset, bad_length);
	else
		post_read(sub);
}

/* Give every ready chunk at the head of the list. */
static void gate_advance(struct kc_job *job)
{
	struct sub_job *head;

	while (!list_empty(&job->gate.claimed)) {
		head = list_first_entry(&job->gate.claimed, struct sub_job, gate);
		if (!head->gate_ready)
			return;
		list_del(&head->gate);
		head->gated = false;
		give(head);
	}
}

void gate_read_done(struct sub_job *sub)
{
	if (!sub->gated) {
		post_read(sub);
		return;
	}
	sub->gate_ready = true;
	gate_advance(sub->job);
}

/*
 * The chunk's data will not come (its read failed, or it was dropped):
 * off the list, its range lost; past a stream's end it is nothing.
 */
void gate_lose(struct sub_job *sub)
{
	struct kc_job *job = sub->job;

	if (!sub->gated)
		return;
	list_del(&sub->gate);
	sub->gated = false;
	if (sub->offset < job->count)
		range_set_add(&job->gate.lost, sub->offset,
			      min_u64(sub->offset + sub->count, job->count));
	gate_advance(job);
}

/* The job ended: what was not reached is lost, or a hole skipped. */
void gate_job_end(struct kc_job *job)
{
	uint64_t reached = min_u64(job->split.progress, job->count);

	if (!job->gate.on)
		return;
	if (reached < job->count)
		range_set_add(&job->gate.lost, reached, job->count);
	give_gap(job, job->gate.next, job->count);
	job->gate.next = job->count;
}

/*
 * A stream's reads go out in offset order: a read waits while a chunk
 * claimed before it has not issued its own.
 */
bool read_in_order(const struct sub_job *sub)
{
	const struct kc_job *job = sub->job;
	const struct sub_job *other;
	unsigned i;

	if (!io_dev_info(job->source.dev)->sequential)
		return true;
	for (i = 0; i < job->nr_subs; i++) {
		other = &job->subs[i];
		if (other != sub && other->phase == PH_READ && !other->read_issued &&
		    !other->zero_chunk && other->offset < sub->offset)
			return false;
	}
	return true;
}

/*
 * A read of the source met its end after @got bytes of the chunk: the
 * job ends there (an open end), or the source shrank (an error).
 */
void stream_end(struct sub_job *sub, uint64_t got)
{
	struct kc_job *job = sub->job;
	uint64_t end = sub->offset + got;

	if (!(job->flags & KC_OPEN_END)) {
		sub->read_failed = true;
		return;
	}
	if (end < job->count)
		job->count = end;
	if (!got)
		sub->beyond_end = true;
	else
		sub->count = got;
}
