// SPDX-License-Identifier: GPL-2.0
/*
 * io.c - the table of built-in backends and the calls of io.h, each a
 * jump through the queue's backend.
 */
#include <errno.h>
#include <string.h>

#include "io.h"

extern const struct io_backend io_aio_backend;
extern const struct io_backend io_uring_backend;

/*
 * The registry: a new backend is one line here. The first is the
 * default (see "--io" in kcopy(1) for the measurement behind it).
 */
static const struct io_backend *const backends[] = {
	&io_uring_backend,
	&io_aio_backend,
};

const struct io_backend *io_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

const struct io_backend *io_backend_default(void)
{
	return backends[0];
}

void io_backend_for_each(void (*fn)(const struct io_backend *b, void *ctx),
			 void *ctx)
{
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		fn(backends[i], ctx);
}

int io_queue_create(const struct io_backend *b, unsigned depth,
		    struct io_queue **out)
{
	int r = b->create(depth ? depth : 1, out);

	if (r == 0)
		((struct io_queue_base *)*out)->backend = b;
	return r;
}

void io_queue_destroy(struct io_queue *q)
{
	if (q)
		io_backend_of(q)->destroy(q);
}

unsigned io_depth(const struct io_queue *q)
{
	return io_backend_of(q)->depth(q);
}

int io_reserve(struct io_queue *q, unsigned nr)
{
	return io_backend_of(q)->reserve(q, nr);
}

int io_attach(struct io_queue *q, struct target *t, struct io_dev **out)
{
	const struct io_backend *b = io_backend_of(q);
	int r;

	if (!b->attach)
		return -EOPNOTSUPP;
	r = b->attach(q, t, out);
	/* A queue set's devices belong to the queue that took them. */
	if (r == 0 && !((struct io_dev_base *)*out)->queue)
		((struct io_dev_base *)*out)->queue = q;
	return r;
}

void io_detach(struct io_dev *dev)
{
	if (dev)
		io_backend_of(io_dev_queue(dev))->detach(dev);
}

int io_next_data(struct io_dev *dev, uint64_t offset, uint64_t *data,
		 uint64_t *hole)
{
	const struct io_backend *b = io_backend_of(io_dev_queue(dev));

	if (!io_dev_info(dev)->extents || !b->next_data)
		return -EOPNOTSUPP;
	return b->next_data(dev, offset, data, hole);
}

void io_queue_request(struct io_request *req)
{
	struct io_queue *q = io_dev_queue(req->dev);

	io_backend_of(q)->queue(q, req);
}

void io_commit(struct io_queue *q)
{
	io_backend_of(q)->commit(q);
}

int io_reap(struct io_queue *q, uint64_t timeout_ns, struct io_request **done,
	    unsigned max)
{
	return io_backend_of(q)->reap(q, timeout_ns, done, max);
}

unsigned io_busy(const struct io_queue *q)
{
	return q ? io_backend_of(q)->busy(q) : 0;	/* no queue: nothing */
}

uint64_t io_now(const struct io_queue *q)
{
	return io_backend_of(q)->now(q);
}

int io_poll_fd(const struct io_queue *q)
{
	const struct io_backend *b = io_backend_of(q);

	return b->poll_fd ? b->poll_fd(q) : -1;
}

bool io_stalled(const struct io_queue *q)
{
	const struct io_backend *b = io_backend_of(q);

	return b->stalled && b->stalled(q);
}
