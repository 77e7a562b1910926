// SPDX-License-Identifier: GPL-2.0
/*
 * io-uring.c - the io_uring backend (liburing): files and block devices,
 * O_DIRECT (or buffered where O_DIRECT was refused), as fio's
 * engines/io_uring.c. Built like io-aio.c, and where the two differ it is
 * because io_uring can do more itself:
 *
 *  - Zeroing is an IORING_OP_FALLOCATE (ZERO_RANGE or PUNCH_HOLE, with
 *    KEEP_SIZE; a block device takes ZERO_RANGE as BLKZEROOUT), a flush an
 *    IORING_OP_FSYNC with IORING_FSYNC_DATASYNC: the kernel runs the
 *    blocking ones on its own io-wq threads, so neither needs ours.
 *  - Only the unaligned tail of a write on an O_DIRECT fd still goes to
 *    the helper thread (local_write_tail through the target's buffered
 *    fd, which is not ours to hand to the ring), as in io-aio.c. The
 *    thread is started on the first tail: most runs never have one, and
 *    a thread costs its start and join in every run's fixed cost.
 *  - The thread's eventfd is watched by the ring itself (a one-shot
 *    IORING_OP_POLL_ADD, armed while the thread has work), so every
 *    completion arrives as a CQE, one io_uring_enter waits for all of
 *    them, and the ring fd is the one poll_fd: no eventfd write per I/O
 *    as io_uring_register_eventfd would cost.
 *
 * No registered buffers (READ_FIXED/WRITE_FIXED): the seam does not tell
 * a backend where the engine's pool is, pinning it counts against
 * RLIMIT_MEMLOCK, and with requests of 128 KiB and more the page pinning
 * they save is a small part of each request's cost.
 *
 * liburing returns -errno and does not set errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "io-local.h"

/* The ring's largest (IORING_MAX_ENTRIES). */
#define MAX_ENTRIES 32768u
/* Pause before another try of a submission the kernel refused. */
#define SUBMIT_RETRY_NS (10 * 1000000ull)
/* Tries of a request that completed with -EAGAIN before it fails. */
#define MAX_AGAIN 8
/* One SQE's most (the rest goes as a short transfer's would). */
#define MAX_SQE_LENGTH (1ull << 30)
/* user_data of the poll on the thread's eventfd: never a request. */
#define POLL_TAG 1ull

struct uring_queue {
	struct io_queue_base base;	/* first: an io_queue */
	struct io_uring ring;
	unsigned depth;			/* granted; SQ and CQ hold more */
	unsigned in_flight;		/* SQEs prepared, CQE not yet seen */
	struct req_list pending;	/* gathered, no SQE yet */
	struct req_list finished;	/* over before the kernel saw them */
	struct io_worker *worker;	/* unaligned tails; NULL until one */
	bool poll_armed;		/* POLL_ADD on the worker's eventfd */
};

/* What this backend keeps in io_request.priv. */
struct uring_req {
	uint64_t tail_from;	/* local_sync_op()'s IO_WRITE contract */
	uint64_t done;		/* bytes transferred so far */
	uint64_t want;		/* bytes of the direct part */
	uint64_t again;		/* completions with -EAGAIN so far */
};
_Static_assert(sizeof(struct uring_req) <= sizeof(((struct io_request *)0)->priv),
	       "uring state fits in io_request.priv");

static struct uring_req *req_state(struct io_request *req)
{
	return (struct uring_req *)req->priv;
}

static struct uring_queue *to_uq(struct io_queue *q)
{
	return (struct uring_queue *)q;
}

/* The kernel has every operation this file uses (Linux 5.6 and later). */
static int check_ops(struct io_uring *ring)
{
	static const int ops[] = {
		IORING_OP_READ, IORING_OP_WRITE, IORING_OP_FSYNC,
		IORING_OP_FALLOCATE, IORING_OP_POLL_ADD,
	};
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	int r = 0;
	size_t i;

	if (!probe)
		return -EOPNOTSUPP;	/* before 5.6: no probe, no READ */
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!io_uring_opcode_supported(probe, ops[i]))
			r = -EOPNOTSUPP;
	io_uring_free_probe(probe);
	return r;
}

static int uring_create(unsigned depth, struct io_queue **out)
{
	struct uring_queue *uq;
	int r;

	uq = calloc(1, sizeof(*uq));
	if (!uq)
		return -ENOMEM;
	if (depth > MAX_ENTRIES - 1)
		depth = MAX_ENTRIES - 1;
	for (;;) {
		/* +1: room for the poll on the worker's eventfd. */
		r = io_uring_queue_init(depth + 1, &uq->ring, 0);
		if ((r != -ENOMEM && r != -EAGAIN) || depth == 1)
			break;
		depth /= 2;	/* RLIMIT_MEMLOCK (before 5.12) leaves less */
	}
	if (r < 0)
		goto bad_setup;
	r = check_ops(&uq->ring);
	if (r < 0)
		goto bad_ops;
	uq->depth = depth;
	*out = (struct io_queue *)uq;
	return 0;

bad_ops:
	io_uring_queue_exit(&uq->ring);
bad_setup:
	free(uq);
	return r;
}

static void uring_destroy(struct io_queue *q)
{
	struct uring_queue *uq = to_uq(q);

	/* The ring first: it cancels the poll on the thread's eventfd. */
	io_uring_queue_exit(&uq->ring);
	io_worker_destroy(uq->worker);
	req_list_free(&uq->pending);
	req_list_free(&uq->finished);
	free(uq);
}

static unsigned uring_depth(const struct io_queue *q)
{
	return ((const struct uring_queue *)q)->depth;
}

static int uring_reserve(struct io_queue *q, unsigned nr)
{
	struct uring_queue *uq = to_uq(q);
	int r;

	r = req_list_reserve(&uq->pending, nr);
	return r < 0 ? r : req_list_reserve(&uq->finished, nr);
}

static void finish(struct uring_queue *uq, struct io_request *req, int result)
{
	req->result = result;
	req_list_push(&uq->finished, req);
}

static void to_worker(struct uring_queue *uq, struct io_request *req,
		      uint64_t tail_from)
{
	int r = 0;

	req_state(req)->tail_from = tail_from;
	if (!uq->worker)
		r = io_worker_create(&uq->worker);
	if (r == 0)
		r = io_worker_submit(uq->worker, req);
	if (r < 0)
		finish(uq, req, r);
}

static void uring_queue(struct io_queue *q, struct io_request *req)
{
	struct uring_queue *uq = to_uq(q);
	struct uring_req *s = req_state(req);

	s->done = 0;
	s->want = 0;
	s->again = 0;
	if (req->op == IO_READ || req->op == IO_WRITE) {
		switch (local_start(req, &s->want)) {
		case LOCAL_REST:
			break;
		case LOCAL_TAIL:
			to_worker(uq, req, 0);
			return;
		case LOCAL_OVER:
			req_list_push(&uq->finished, req);
			return;
		}
	}
	req_list_push(&uq->pending, req);
}

static void prep_sqe(struct io_uring_sqe *sqe, struct io_request *req)
{
	struct uring_req *s = req_state(req);
	struct local_dev *d = (struct local_dev *)req->dev;
	char *buf = (char *)req->buf + s->done;
	uint64_t off = req->offset + s->done;
	uint64_t len = s->want - s->done;
	int mode;

	if (len > MAX_SQE_LENGTH)
		len = MAX_SQE_LENGTH;	/* a multiple of any block size */

	switch (req->op) {
	case IO_READ:
		io_uring_prep_read(sqe, d->fd, buf, (unsigned)len, off);
		break;
	case IO_WRITE:
		io_uring_prep_write(sqe, d->fd, buf, (unsigned)len, off);
		break;
	case IO_ZERO:
		mode = req->flags & IO_ZERO_DEALLOCATE ? FALLOC_FL_PUNCH_HOLE :
							 FALLOC_FL_ZERO_RANGE;
		io_uring_prep_fallocate(sqe, d->fd, mode | FALLOC_FL_KEEP_SIZE,
					(off_t)req->offset, (off_t)req->length);
		break;
	case IO_FLUSH:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
}

/* An SQE; when the SQ is full, what it holds is submitted first. */
static struct io_uring_sqe *get_sqe(struct uring_queue *uq)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&uq->ring);

	if (!sqe && io_uring_submit(&uq->ring) > 0)
		sqe = io_uring_get_sqe(&uq->ring);
	return sqe;
}

/*
 * While the thread has work, the ring watches its eventfd, so that its
 * completions wake the same wait as the kernel's.
 */
static void arm_poll(struct uring_queue *uq)
{
	struct io_uring_sqe *sqe;

	if (uq->poll_armed || !uq->worker || !io_worker_busy(uq->worker))
		return;
	sqe = get_sqe(uq);
	if (!sqe)
		return;		/* the next commit arms it */
	io_uring_prep_poll_add(sqe, io_worker_fd(uq->worker), POLLIN);
	io_uring_sqe_set_data64(sqe, POLL_TAG);
	uq->poll_armed = true;
}

static void uring_commit(struct io_queue *q)
{
	struct uring_queue *uq = to_uq(q);
	struct io_uring_sqe *sqe;
	unsigned n = 0;

	arm_poll(uq);
	while (n < uq->pending.nr && uq->in_flight < uq->depth) {
		sqe = get_sqe(uq);
		if (!sqe)
			break;	/* the kernel takes no more now: reap first */
		prep_sqe(sqe, uq->pending.reqs[n++]);
		uq->in_flight++;
	}
	req_list_take(&uq->pending, NULL, n);
	if (io_uring_sq_ready(&uq->ring)) {
		/*
		 * -EAGAIN, -EBUSY, -EINTR: the SQEs stay in the ring, and
		 * reap submits them again. Errors of one request come back
		 * as its CQE.
		 */
		io_uring_submit(&uq->ring);
	}
}

/*
 * A CQE came back with @res. Returns true when its request is over; false
 * when the rest was queued again, or went on to the thread.
 */
static bool transfer_done(struct uring_queue *uq, struct io_request *req,
			  int res)
{
	struct uring_req *s = req_state(req);

	if (res == -EAGAIN && ++s->again < MAX_AGAIN) {
		req_list_push(&uq->pending, req);	/* nothing was done */
		return false;
	}
	if (req->op == IO_ZERO) {
		req->result = local_zero_result(res);
		return true;
	}
	if (req->op == IO_FLUSH) {
		req->result = res < 0 ? res : 0;
		return true;
	}
	switch (local_transfer(req, res, &s->done, s->want)) {
	case LOCAL_REST:
		req_list_push(&uq->pending, req);
		return false;
	case LOCAL_TAIL:
		to_worker(uq, req, s->want);	/* the unaligned tail */
		return false;
	case LOCAL_OVER:
		break;
	}
	return true;
}

/* CQEs there now, up to @max requests over. */
static unsigned take_cqes(struct uring_queue *uq, struct io_request **done,
			  unsigned max)
{
	struct io_uring_cqe *cqe;
	struct io_request *req;
	unsigned n = 0;

	/*
	 * A request whose rest is queued again is not over: going on past
	 * @max is fine, each CQE is at most one request in @done.
	 */
	while (n < max && io_uring_peek_cqe(&uq->ring, &cqe) == 0) {
		req = io_uring_cqe_get_data(cqe);
		if (cqe->user_data == POLL_TAG) {
			uq->poll_armed = false;	/* the thread has some */
		} else {
			uq->in_flight--;
			if (transfer_done(uq, req, cqe->res))
				done[n++] = req;
		}
		io_uring_cqe_seen(&uq->ring, cqe);
	}
	return n;
}

/* Whatever is there now, without waiting. */
static unsigned collect(struct uring_queue *uq, struct io_request **done,
			unsigned max)
{
	unsigned n = req_list_take(&uq->finished, done, max);

	n += take_cqes(uq, done + n, max - n);
	if (uq->worker)
		n += io_worker_collect(uq->worker, done + n, max - n);
	return n;
}

/* One io_uring_enter: submit what the kernel refused before, and wait. */
static void wait_cqe(struct uring_queue *uq, uint64_t timeout_ns)
{
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(timeout_ns / 1000000000ull),
		.tv_nsec = (long long)(timeout_ns % 1000000000ull),
	};
	struct io_uring_cqe *cqe;

	/* -ETIME, -EINTR: the caller looks at what is there anyway. */
	io_uring_submit_and_wait_timeout(&uq->ring, &cqe, 1, &ts, NULL);
}

static int uring_reap(struct io_queue *q, uint64_t timeout_ns,
		      struct io_request **done, unsigned max)
{
	struct uring_queue *uq = to_uq(q);
	unsigned queued = io_uring_sq_ready(&uq->ring);
	unsigned n;

	n = collect(uq, done, max);
	if (n || !timeout_ns)
		goto out;
	arm_poll(uq);
	if (uq->in_flight > queued || uq->poll_armed) {
		wait_cqe(uq, timeout_ns);
		n = collect(uq, done, max);
	} else {
		/*
		 * Nothing in the kernel: a sleep, shorter while it refuses
		 * SQEs (or SQEs wait for room in the ring).
		 */
		if ((queued || uq->pending.nr) && timeout_ns > SUBMIT_RETRY_NS)
			timeout_ns = SUBMIT_RETRY_NS;
		local_sleep_ns(timeout_ns);
	}
out:
	/* Residues, retries and refused SQEs go out now. */
	if (uq->pending.nr || io_uring_sq_ready(&uq->ring) ||
	    (uq->worker && io_worker_busy(uq->worker) && !uq->poll_armed))
		uring_commit(q);
	return (int)n;
}

static unsigned uring_busy(const struct io_queue *q)
{
	const struct uring_queue *uq = (const struct uring_queue *)q;

	return uq->pending.nr + uq->in_flight + uq->finished.nr +
	       (uq->worker ? io_worker_busy(uq->worker) : 0);
}

static uint64_t uring_now(const struct io_queue *q)
{
	(void)q;
	return local_now_ns();
}

/* Readable while CQEs wait, the thread's included (its poll is one). */
static int uring_poll_fd(const struct io_queue *q)
{
	return ((const struct uring_queue *)q)->ring.ring_fd;
}

const struct io_backend io_uring_backend = {
	.name = "uring",
	.create = uring_create,
	.destroy = uring_destroy,
	.depth = uring_depth,
	.reserve = uring_reserve,
	.attach = local_attach,
	.detach = local_detach,
	.describe = local_dev_describe,
	.next_data = local_dev_next_data,
	.queue = uring_queue,
	.commit = uring_commit,
	.reap = uring_reap,
	.busy = uring_busy,
	.now = uring_now,
	.poll_fd = uring_poll_fd,
};
