/* SPDX-License-Identifier: GPL-2.0 */
/*
 * aio.h - a thin libaio wrapper: gather iocbs during a pass of the event
 * loop, commit them with as few io_submit() calls as the kernel allows, and
 * reap completions. The userspace image of blk_start_plug/blk_finish_plug.
 *
 * libaio returns -errno and does not set errno: callers use strerror(-r).
 */
#ifndef KCOPY_AIO_H
#define KCOPY_AIO_H

#include <libaio.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct aio_ring;

/*
 * A ring able to hold @depth iocbs in flight. Returns 0 or -errno. The
 * kernel's context is set up by the first aio_ring_submit() that has
 * something to submit (an io_setup failure then fails that iocb).
 */
int aio_ring_create(unsigned depth, struct aio_ring **out);
void aio_ring_destroy(struct aio_ring *ring);

/*
 * Queue @iocb for the next aio_ring_submit(). The caller keeps @iocb alive
 * until its completion is reaped. Never fails: the ring's queue is as deep
 * as the ring (the engine never has more than @depth iocbs outstanding).
 */
void aio_ring_queue(struct aio_ring *ring, struct iocb *iocb);

/*
 * Submit everything queued. On -EAGAIN from the kernel, stops and leaves
 * the rest queued (the caller reaps, then submits again); EINTR is retried.
 * Returns the number of iocbs still queued (0 when all went out), or a
 * negative errno when io_submit failed outright; in that case the first
 * queued iocb is handed back in *@failed and removed from the queue, so the
 * caller can complete it with that error and go on.
 */
int aio_ring_submit(struct aio_ring *ring, struct iocb **failed);

/* Number of iocbs submitted and not yet reaped. */
unsigned aio_ring_in_flight(const struct aio_ring *ring);
/* Number of iocbs queued and not yet submitted. */
unsigned aio_ring_queued(const struct aio_ring *ring);

/*
 * Wait for at least @min_nr completions (0 = poll) or until @timeout
 * (NULL = forever), and store up to @max events in @events.
 * Returns the number of events, 0 on timeout or signal, or -errno.
 */
int aio_ring_reap(struct aio_ring *ring, unsigned min_nr, unsigned max,
		  struct io_event *events, struct timespec *timeout);

#endif
