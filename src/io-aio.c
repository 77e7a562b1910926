// SPDX-License-Identifier: GPL-2.0
/*
 * io-aio.c - the libaio backend: files and block devices, O_DIRECT (or
 * buffered where O_DIRECT was refused), as fio's engines/libaio.c.
 *
 * Requests gathered between two commits go out in as few io_submit()
 * calls as the kernel takes: the userspace image of blk_start_plug /
 * blk_finish_plug. A short transfer is resubmitted for the rest here; an
 * unaligned file end is written through the page cache once the aligned
 * part is on its way (local_write_tail). Zeroing (fallocate, BLKZEROOUT)
 * has no aio command and runs on a helper thread; a flush is an
 * IOCB_CMD_FDSYNC where the kernel takes it (Linux 4.18), else goes to
 * the thread too. Every iocb signals the thread's eventfd, so one poll
 * waits for both.
 *
 * libaio returns -errno and does not set errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libaio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io-local.h"

/* How long io_submit may refuse everything before the queued I/O fails. */
#define SUBMIT_STALL_NS (30 * 1000000000ull)
/* Pause between two tries of a refused io_submit. */
#define SUBMIT_RETRY_NS (10 * 1000000ull)

struct aio_queue {
	struct io_queue_base base;	/* first: an io_queue */
	io_context_t ctx;
	unsigned depth;			/* granted by io_setup */
	unsigned in_flight;
	struct iocb **pending;		/* gathered, not yet submitted */
	unsigned nr_pending, cap;
	struct req_list finished;	/* over before the kernel saw them */
	struct io_event *events;
	struct io_worker *worker;
	bool fdsync_refused;		/* the kernel has no aio fsync */
	uint64_t stall_since;		/* ns: io_submit refusing everything */
	bool stalled;			/* ...for SUBMIT_STALL_NS: I/O failed */
};

/* What this backend keeps in io_request.priv. */
struct aio_req {
	uint64_t tail_from;	/* local_sync_op()'s IO_WRITE contract */
	uint64_t done;		/* bytes transferred so far */
	uint64_t want;		/* bytes of the direct part */
	struct iocb iocb;
};
_Static_assert(sizeof(struct aio_req) <= sizeof(((struct io_request *)0)->priv),
	       "aio state fits in io_request.priv");

static struct aio_req *req_state(struct io_request *req)
{
	return (struct aio_req *)req->priv;
}

static struct aio_queue *to_aq(struct io_queue *q)
{
	return (struct aio_queue *)q;
}

static int aio_create(unsigned depth, struct io_queue **out)
{
	struct aio_queue *aq;
	int r;

	aq = calloc(1, sizeof(*aq));
	if (!aq)
		return -ENOMEM;
	for (;;) {
		memset(&aq->ctx, 0, sizeof(aq->ctx));
		r = io_setup(depth, &aq->ctx);
		if (r != -EAGAIN || depth == 1)
			break;
		depth /= 2;	/* fs.aio-max-nr leaves less room: take less */
	}
	if (r < 0)
		goto bad_setup;
	aq->depth = depth;
	r = -ENOMEM;
	aq->events = calloc(depth, sizeof(*aq->events));
	if (!aq->events)
		goto bad_events;
	r = io_worker_create(&aq->worker);
	if (r < 0)
		goto bad_worker;
	*out = (struct io_queue *)aq;
	return 0;

bad_worker:
	free(aq->events);
bad_events:
	io_destroy(aq->ctx);
bad_setup:
	free(aq);
	return r;
}

static void aio_destroy(struct io_queue *q)
{
	struct aio_queue *aq = to_aq(q);

	io_worker_destroy(aq->worker);
	io_destroy(aq->ctx);
	free(aq->events);
	free(aq->pending);
	req_list_free(&aq->finished);
	free(aq);
}

static unsigned aio_depth(const struct io_queue *q)
{
	return ((const struct aio_queue *)q)->depth;
}

static int aio_reserve(struct io_queue *q, unsigned nr)
{
	struct aio_queue *aq = to_aq(q);
	struct iocb **pending;

	if (nr > aq->cap) {
		pending = realloc(aq->pending, nr * sizeof(*pending));
		if (!pending)
			return -ENOMEM;
		aq->pending = pending;
		aq->cap = nr;
	}
	return req_list_reserve(&aq->finished, nr);
}

static void finish(struct aio_queue *aq, struct io_request *req, int result)
{
	req->result = result;
	req_list_push(&aq->finished, req);
}

static void to_worker(struct aio_queue *aq, struct io_request *req,
		      uint64_t tail_from)
{
	req_state(req)->tail_from = tail_from;
	if (io_worker_submit(aq->worker, req) < 0)
		finish(aq, req, -ENOMEM);
}

static void queue_iocb(struct aio_queue *aq, struct io_request *req)
{
	struct aio_req *s = req_state(req);
	struct local_dev *d = (struct local_dev *)req->dev;
	char *buf = (char *)req->buf + s->done;
	long long off = (long long)(req->offset + s->done);

	if (req->op == IO_READ)
		io_prep_pread(&s->iocb, d->fd, buf, s->want - s->done, off);
	else if (req->op == IO_WRITE)
		io_prep_pwrite(&s->iocb, d->fd, buf, s->want - s->done, off);
	else
		io_prep_fdsync(&s->iocb, d->fd);
	s->iocb.data = req;
	io_set_eventfd(&s->iocb, io_worker_fd(aq->worker));
	aq->pending[aq->nr_pending++] = &s->iocb;
}

static void aio_queue(struct io_queue *q, struct io_request *req)
{
	struct aio_queue *aq = to_aq(q);
	struct aio_req *s = req_state(req);

	s->done = 0;
	s->want = 0;
	switch (req->op) {
	case IO_READ:
	case IO_WRITE:
		switch (local_start(req, &s->want)) {
		case LOCAL_REST:
			break;
		case LOCAL_TAIL:
			to_worker(aq, req, 0);
			return;
		case LOCAL_OVER:
			req_list_push(&aq->finished, req);
			return;
		}
		break;
	case IO_FLUSH:
		if (!aq->fdsync_refused)
			break;
		/* fall through */
	case IO_ZERO:
		to_worker(aq, req, 0);
		return;
	}
	queue_iocb(aq, req);
}

static void drop_head(struct aio_queue *aq, unsigned n)
{
	aq->nr_pending -= n;
	memmove(aq->pending, aq->pending + n, aq->nr_pending * sizeof(*aq->pending));
}

/* The kernel refused the first pending iocb outright. */
static void refused(struct aio_queue *aq, int error)
{
	struct io_request *req = aq->pending[0]->data;

	drop_head(aq, 1);
	if (req->op == IO_FLUSH && error == -EINVAL) {
		aq->fdsync_refused = true;	/* no aio fsync here: the thread */
		to_worker(aq, req, 0);
		return;
	}
	finish(aq, req, error);
}

/*
 * -EAGAIN with nothing in flight: the kernel is out of requests. After
 * SUBMIT_STALL_NS of that, what is queued fails (fio gives up likewise).
 */
static void note_stall(struct aio_queue *aq)
{
	uint64_t now;

	if (!aq->nr_pending || aq->in_flight) {
		aq->stall_since = 0;
		return;
	}
	now = local_now_ns();
	if (!aq->stall_since)
		aq->stall_since = now;
	if (now - aq->stall_since < SUBMIT_STALL_NS)
		return;
	aq->stalled = true;
	aq->stall_since = 0;
	while (aq->nr_pending) {
		finish(aq, aq->pending[0]->data, -EAGAIN);
		drop_head(aq, 1);
	}
}

static void aio_commit(struct io_queue *q)
{
	struct aio_queue *aq = to_aq(q);
	int r;

	while (aq->nr_pending) {
		r = io_submit(aq->ctx, aq->nr_pending, aq->pending);
		if (r > 0) {
			aq->in_flight += (unsigned)r;
			drop_head(aq, (unsigned)r);
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN || r == 0)
			break;	/* reap first, then again */
		refused(aq, r);	/* e.g. -EINVAL: a misaligned buffer */
	}
	note_stall(aq);
}

/*
 * An iocb came back with @res. Returns true when its request is over;
 * false when the rest was queued again, or went on to the thread.
 */
static bool transfer_done(struct aio_queue *aq, struct io_request *req, long res)
{
	struct aio_req *s = req_state(req);

	if (req->op == IO_FLUSH) {
		if (res == -EINVAL && !aq->fdsync_refused) {
			aq->fdsync_refused = true;
			to_worker(aq, req, 0);
			return false;
		}
		req->result = res < 0 ? (int)res : 0;
		return true;
	}
	switch (local_transfer(req, res, &s->done, s->want)) {
	case LOCAL_REST:
		queue_iocb(aq, req);
		return false;
	case LOCAL_TAIL:
		to_worker(aq, req, s->want);	/* the unaligned tail */
		return false;
	case LOCAL_OVER:
		break;
	}
	return true;
}

static unsigned take_events(struct aio_queue *aq, unsigned min_nr,
			    uint64_t timeout_ns, struct io_request **done,
			    unsigned max)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000ull),
		.tv_nsec = (long)(timeout_ns % 1000000000ull),
	};
	unsigned n = 0, nr = max < aq->depth ? max : aq->depth;
	struct io_request *req;
	int i, got;

	if (!aq->in_flight || !nr)
		return 0;
	got = io_getevents(aq->ctx, min_nr, nr, aq->events, &ts);
	if (got <= 0)
		return 0;	/* timeout, signal (-EINTR) */
	aq->in_flight -= (unsigned)got;
	for (i = 0; i < got; i++) {
		req = aq->events[i].data;
		if (transfer_done(aq, req, (long)aq->events[i].res))
			done[n++] = req;
	}
	return n;
}

/* Whatever is there now, without waiting. */
static unsigned collect(struct aio_queue *aq, struct io_request **done,
			unsigned max)
{
	unsigned n = req_list_take(&aq->finished, done, max);

	n += io_worker_collect(aq->worker, done + n, max - n);
	n += take_events(aq, 0, 0, done + n, max - n);
	return n;
}

/* Forget old signals: only one after this wakes the poll. */
static void drain_signals(struct aio_queue *aq)
{
	uint64_t count;

	if (read(io_worker_fd(aq->worker), &count, sizeof(count)) < 0) {
		/* EAGAIN: none */
	}
}

static void wait_signal(struct aio_queue *aq, uint64_t timeout_ns)
{
	struct pollfd pfd = { .fd = io_worker_fd(aq->worker), .events = POLLIN };

	poll(&pfd, 1, (int)((timeout_ns + 999999) / 1000000));
}

static int aio_reap(struct io_queue *q, uint64_t timeout_ns,
		    struct io_request **done, unsigned max)
{
	struct aio_queue *aq = to_aq(q);
	unsigned n;

	n = req_list_take(&aq->finished, done, max);
	n += io_worker_collect(aq->worker, done + n, max - n);
	if (n || !timeout_ns) {
		n += take_events(aq, 0, 0, done + n, max - n);
		/*
		 * Nothing: the caller may poll the eventfd next (a queue
		 * set does). Forget the signals of what was collected, then
		 * look once more: what completes after that signals anew.
		 */
		if (!n) {
			drain_signals(aq);
			n = collect(aq, done, max);
		}
	} else if (io_worker_busy(aq->worker)) {
		/* Both the thread and the iocbs signal the eventfd. */
		drain_signals(aq);
		n = collect(aq, done, max);
		if (!n) {
			wait_signal(aq, timeout_ns);
			n = collect(aq, done, max);
		}
	} else if (aq->in_flight) {
		/* One call that waits, as the engine did on its own ring. */
		n = take_events(aq, 1, timeout_ns, done, max);
	} else {
		/* Nothing in flight: a sleep, shorter while io_submit stalls. */
		if (aq->nr_pending && timeout_ns > SUBMIT_RETRY_NS)
			timeout_ns = SUBMIT_RETRY_NS;
		local_sleep_ns(timeout_ns);
	}
	/* Residues and tails queued while reaping go out now. */
	if (aq->nr_pending)
		aio_commit(q);
	return (int)n;
}

static unsigned aio_busy(const struct io_queue *q)
{
	const struct aio_queue *aq = (const struct aio_queue *)q;

	return aq->nr_pending + aq->in_flight + aq->finished.nr +
	       io_worker_busy(aq->worker);
}

static uint64_t aio_now(const struct io_queue *q)
{
	(void)q;
	return local_now_ns();
}

static int aio_poll_fd(const struct io_queue *q)
{
	return io_worker_fd(((const struct aio_queue *)q)->worker);
}

static bool aio_stalled(const struct io_queue *q)
{
	return ((const struct aio_queue *)q)->stalled;
}

const struct io_backend io_aio_backend = {
	.name = "aio",
	.create = aio_create,
	.destroy = aio_destroy,
	.depth = aio_depth,
	.reserve = aio_reserve,
	.attach = local_attach,
	.detach = local_detach,
	.describe = local_dev_describe,
	.next_data = local_dev_next_data,
	.queue = aio_queue,
	.commit = aio_commit,
	.reap = aio_reap,
	.busy = aio_busy,
	.now = aio_now,
	.poll_fd = aio_poll_fd,
	.stalled = aio_stalled,
};
