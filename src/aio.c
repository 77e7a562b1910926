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

struct aio_ring {
	io_context_t ctx;
	unsigned depth;		/* granted by io_setup */
	unsigned in_flight;
	unsigned nr_queued;
	unsigned queue_cap;
	struct iocb **queue;	/* nr_queued pending iocbs, in queue order */
};

int aio_ring_create(unsigned depth, struct aio_ring **out)
{
	struct aio_ring *ring;
	int r;

	ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	if (!depth)
		depth = 1;
	for (;;) {
		memset(&ring->ctx, 0, sizeof(ring->ctx));
		r = io_setup(depth, &ring->ctx);
		if (r != -EAGAIN || depth == 1)
			break;
		depth /= 2;	/* fs.aio-max-nr leaves less room: take less */
	}
	if (r < 0) {
		free(ring);
		return r;
	}
	ring->depth = depth;
	*out = ring;
	return 0;
}

void aio_ring_destroy(struct aio_ring *ring)
{
	if (!ring)
		return;
	io_destroy(ring->ctx);
	free(ring->queue);
	free(ring);
}

unsigned aio_ring_depth(const struct aio_ring *ring)
{
	return ring->depth;
}

int aio_ring_reserve(struct aio_ring *ring, unsigned nr)
{
	struct iocb **queue;

	if (nr <= ring->queue_cap)
		return 0;
	queue = realloc(ring->queue, nr * sizeof(*queue));
	if (!queue)
		return -ENOMEM;
	ring->queue = queue;
	ring->queue_cap = nr;
	return 0;
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

int aio_ring_unqueue(struct aio_ring *ring, struct iocb **failed)
{
	if (!ring->nr_queued)
		return -ENOENT;
	*failed = ring->queue[0];
	drop_head(ring, 1);
	return 0;
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
