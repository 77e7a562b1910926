// SPDX-License-Identifier: GPL-2.0
/*
 * io-stream.c - the stream backend: a source read once, front to back
 * (stdin, a pipe or FIFO, a compressed file decoded in-process by
 * stream.c), as nbdcopy's pipe-ops.c is beside its file and NBD ops.
 *
 * The engine queues a stream's reads in offset order (info.sequential);
 * a read further on skips (decodes and drops) what lies between. Reads
 * are served from commit and reap, decoding straight into the request's
 * buffer; when the input has nothing more for now, the device waits for
 * its descriptor, which the queue set polls beside the others, so a
 * slow pipe never blocks the event loop. A read that meets the end of
 * the stream completes with -IO_ESHORT and the length it got.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "io.h"
#include "stream.h"
#include "target.h"

/* The request's private words: the next in a list, bytes filled. */
#define REQ_FILLED(req) ((req)->priv[1])

static struct io_request *req_next(const struct io_request *req)
{
	return (struct io_request *)(uintptr_t)req->priv[0];
}

static void req_set_next(struct io_request *req, struct io_request *next)
{
	req->priv[0] = (uintptr_t)next;
}

struct req_list {
	struct io_request *head, *tail;
};

struct stream_dev {
	struct io_dev_base base;	/* first: an io_dev */
	struct stream *stream;		/* the target's */
	struct req_list pending;	/* in offset order, the head in progress */
	bool waiting;			/* the input has nothing for now */
	struct stream_dev *next;	/* on the queue */
};

struct stream_queue {
	struct io_queue_base base;	/* first: an io_queue */
	struct stream_dev *devs;
	struct req_list done;
	unsigned busy;
};

static void list_push(struct req_list *l, struct io_request *req)
{
	req_set_next(req, NULL);
	if (l->tail)
		req_set_next(l->tail, req);
	else
		l->head = req;
	l->tail = req;
}

static struct io_request *list_pop(struct req_list *l)
{
	struct io_request *req = l->head;

	if (req) {
		l->head = req_next(req);
		if (!l->head)
			l->tail = NULL;
	}
	return req;
}

static struct stream_queue *to_sq(struct io_queue *q)
{
	return (struct stream_queue *)q;
}

static int sq_create(unsigned depth, struct io_queue **out)
{
	struct stream_queue *sq = calloc(1, sizeof(*sq));

	(void)depth;
	if (!sq)
		return -ENOMEM;
	*out = (struct io_queue *)sq;
	return 0;
}

static void sq_destroy(struct io_queue *q)
{
	free(q);
}

static unsigned sq_depth(const struct io_queue *q)
{
	(void)q;
	return 1u << 16;	/* nothing is submitted anywhere */
}

static int sq_reserve(struct io_queue *q, unsigned nr)
{
	(void)q;
	(void)nr;
	return 0;
}

static int sq_attach(struct io_queue *q, struct target *t, struct io_dev **out)
{
	struct stream_queue *sq = to_sq(q);
	struct stream_dev *sd;

	if (!target_is_stream(t))
		return -EINVAL;
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->base.queue = q;
	sd->base.info = (struct io_dev_info) {
		.size = 0,		/* not known before its end */
		.block_size = 512,
		.sequential = true,
	};
	sd->stream = target_stream(t);
	sd->next = sq->devs;
	sq->devs = sd;
	*out = (struct io_dev *)sd;
	return 0;
}

static void sq_detach(struct io_dev *dev)
{
	struct stream_dev *sd = (struct stream_dev *)dev, **p;
	struct stream_queue *sq = to_sq(sd->base.queue);

	for (p = &sq->devs; *p; p = &(*p)->next)
		if (*p == sd) {
			*p = sd->next;
			break;
		}
	free(sd);
}

static void sq_describe(const struct io_dev *dev, struct io_dev_info *info)
{
	*info = ((const struct stream_dev *)dev)->base.info;
}

static void sq_queue(struct io_queue *q, struct io_request *req)
{
	struct stream_dev *sd = (struct stream_dev *)req->dev;

	to_sq(q)->busy++;
	REQ_FILLED(req) = 0;
	if (req->op != IO_READ) {	/* a stream is never written */
		req->result = -EBADF;
		list_push(&to_sq(q)->done, req);
		return;
	}
	list_push(&sd->pending, req);
}

static void finish(struct stream_queue *sq, struct stream_dev *sd, int result)
{
	struct io_request *req = list_pop(&sd->pending);

	req->result = result;
	list_push(&sq->done, req);
}

/*
 * Serve the head read of @sd as far as the input allows now. Returns
 * true when it is finished (and the next may start).
 */
static bool serve_head(struct stream_queue *sq, struct stream_dev *sd)
{
	struct io_request *req = sd->pending.head;
	uint64_t pos = stream_position(sd->stream), filled;
	ssize_t n;

	if (req->offset + REQ_FILLED(req) < pos) {
		/* Behind: read once only (a retry, a resume behind us). */
		finish(sq, sd, -ESPIPE);
		return true;
	}
	while (req->offset > pos) {
		n = stream_skip(sd->stream, req->offset - pos);
		if (n == 0) {		/* ended before the read starts */
			req->length = 0;
			finish(sq, sd, -IO_ESHORT);
			return true;
		}
		if (n == -EAGAIN) {
			sd->waiting = true;
			return false;
		}
		if (n < 0) {
			finish(sq, sd, (int)n);
			return true;
		}
		pos = stream_position(sd->stream);
	}
	while ((filled = REQ_FILLED(req)) < req->length) {
		n = stream_read(sd->stream, (char *)req->buf + filled, req->length - filled);
		if (n == -EAGAIN) {
			sd->waiting = true;
			return false;
		}
		if (n < 0) {
			finish(sq, sd, (int)n);
			return true;
		}
		if (n == 0) {		/* the end: what it got */
			req->length = filled;
			finish(sq, sd, -IO_ESHORT);
			return true;
		}
		REQ_FILLED(req) += (uint64_t)n;
	}
	finish(sq, sd, 0);
	return true;
}

static void serve(struct stream_queue *sq)
{
	struct stream_dev *sd;

	for (sd = sq->devs; sd; sd = sd->next) {
		sd->waiting = false;
		while (sd->pending.head && serve_head(sq, sd))
			;
	}
}

static void sq_commit(struct io_queue *q)
{
	serve(to_sq(q));
}

static unsigned sq_poll_fds(const struct io_queue *q, struct pollfd *fds,
			    unsigned max)
{
	const struct stream_queue *sq = (const struct stream_queue *)q;
	const struct stream_dev *sd;
	unsigned n = 0;

	for (sd = sq->devs; sd; sd = sd->next) {
		if (!sd->pending.head)
			continue;
		if (n < max)
			fds[n] = (struct pollfd) {
				.fd = sd->waiting ? stream_poll_fd(sd->stream) : -1,
				.events = POLLIN };
		n++;
	}
	return n;
}

static int collect(struct stream_queue *sq, struct io_request **done, unsigned max)
{
	unsigned n = 0;

	while (n < max && sq->done.head) {
		done[n++] = list_pop(&sq->done);
		sq->busy--;
	}
	return (int)n;
}

static int sq_reap(struct io_queue *q, uint64_t timeout_ns,
		   struct io_request **done, unsigned max)
{
	struct stream_queue *sq = to_sq(q);
	struct pollfd fds[8];
	struct timespec ts;
	unsigned nfds;

	serve(sq);
	if (sq->done.head || !timeout_ns)
		return collect(sq, done, max);
	/* Alone (not in a set): wait for the input here. */
	nfds = sq_poll_fds(q, fds, 8);
	ts = (struct timespec) { (time_t)(timeout_ns / 1000000000u),
				 (long)(timeout_ns % 1000000000u) };
	if (ppoll(fds, nfds < 8 ? nfds : 8, &ts, NULL) < 0 && errno != EINTR)
		return -errno;
	serve(sq);
	return collect(sq, done, max);
}

static unsigned sq_busy(const struct io_queue *q)
{
	return ((const struct stream_queue *)q)->busy;
}

static uint64_t sq_now(const struct io_queue *q)
{
	struct timespec ts;

	(void)q;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sq_poll_fd(const struct io_queue *q)
{
	(void)q;
	return -1;	/* several, maybe: poll_fds */
}

const struct io_backend io_stream_backend = {
	.name = "stream",
	.create = sq_create,
	.destroy = sq_destroy,
	.depth = sq_depth,
	.reserve = sq_reserve,
	.attach = sq_attach,
	.detach = sq_detach,
	.describe = sq_describe,
	.queue = sq_queue,
	.commit = sq_commit,
	.reap = sq_reap,
	.busy = sq_busy,
	.now = sq_now,
	.poll_fd = sq_poll_fd,
	.poll_fds = sq_poll_fds,
};
