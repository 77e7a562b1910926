// SPDX-License-Identifier: GPL-2.0
/*
 * aio.c - see aio.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aio.h"

/*
 * The kernel context is set up at the first submission, not at creation:
 * tearing one down waits for an RCU grace period (tens of milliseconds),
 * which a run that never submits (a write-zeroes offload) need not pay.
 */
struct aio_ring {
	io_context_t ctx;
	bool ctx_ready;
	unsigned depth;
	unsigned in_flight;
	unsigned nr_queued;
	struct iocb **queue;	/* nr_queued pending iocbs, in queue order */
};

int aio_ring_create(unsigned depth, struct aio_ring **out)
{
	struct aio_ring *ring;

	ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	ring->depth = depth;
	ring->queue = calloc(depth, sizeof(*ring->queue));
	if (!ring->queue) {
		free(ring);
		return -ENOMEM;
	}
	*out = ring;
	return 0;
}

void aio_ring_destroy(struct aio_ring *ring)
{
	if (!ring)
		return;
	if (ring->ctx_ready)
		io_destroy(ring->ctx);
	free(ring->queue);
	free(ring);
}

void aio_ring_queue(struct aio_ring *ring, struct iocb *iocb)
{
	ring->queue[ring->nr_queued++] = iocb;
}

static void drop_head(struct aio_ring *ring, unsigned n)
{
	ring->nr_queued -= n;
	memmove(ring->queue, ring->queue + n,
		ring->nr_queued * sizeof(*ring->queue));
}

int aio_ring_submit(struct aio_ring *ring, struct iocb **failed)
{
	unsigned done = 0;
	int r;

	*failed = NULL;
	if (!ring->ctx_ready && ring->nr_queued) {
		r = io_setup(ring->depth, &ring->ctx);
		if (r < 0) {
			*failed = ring->queue[0];
			drop_head(ring, 1);
			return r;
		}
		ring->ctx_ready = true;
	}
	while (done < ring->nr_queued) {
		r = io_submit(ring->ctx, ring->nr_queued - done,
			      ring->queue + done);
		if (r > 0) {
			done += r;
			ring->in_flight += r;
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN || r == 0)
			break;
		/*
		 * The first iocb was refused (e.g. -EINVAL for a misaligned
		 * buffer); hand it back so only it fails.
		 */
		*failed = ring->queue[done];
		drop_head(ring, done + 1);
		return r;
	}
	drop_head(ring, done);
	return ring->nr_queued;
}

unsigned aio_ring_in_flight(const struct aio_ring *ring)
{
	return ring->in_flight;
}

unsigned aio_ring_queued(const struct aio_ring *ring)
{
	return ring->nr_queued;
}

int aio_ring_reap(struct aio_ring *ring, unsigned min_nr, unsigned max,
		  struct io_event *events, struct timespec *timeout)
{
	int r;

	if (!ring->in_flight)
		return 0;
	if (min_nr > ring->in_flight)
		min_nr = ring->in_flight;
	r = io_getevents(ring->ctx, min_nr, max, events, timeout);
	if (r == -EINTR)
		return 0;
	if (r > 0)
		ring->in_flight -= r;
	return r;
}
