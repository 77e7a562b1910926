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
 * A ring: a kernel context for up to @depth iocbs in flight, set up now
 * (io_setup), so that a failure is an error before any I/O and never a
 * failed read or write. When the kernel refuses @depth for want of room
 * under fs.aio-max-nr (-EAGAIN), smaller depths are tried, down to one;
 * aio_ring_depth() tells what was granted. Returns 0 or -errno.
 */
int aio_ring_create(unsigned depth, struct aio_ring **out);
void aio_ring_destroy(struct aio_ring *ring);
unsigned aio_ring_depth(const struct aio_ring *ring);

/*
 * Make room to queue @nr iocbs between two submissions. The queue may be
 * longer than the kernel's depth: what does not fit waits in it.
 * Returns 0 or -ENOMEM.
 */
int aio_ring_reserve(struct aio_ring *ring, unsigned nr);

/*
 * Queue @iocb for the next aio_ring_submit(). The caller keeps @iocb alive
 * until its completion is reaped, and never queues more than it reserved.
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

/*
 * Take the first queued iocb off the queue without submitting it, into
 * *@failed, for the caller to fail. Returns 0, or -ENOENT if none.
 */
int aio_ring_unqueue(struct aio_ring *ring, struct iocb **failed);

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
