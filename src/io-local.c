// SPDX-License-Identifier: GPL-2.0
/*
 * io-local.c - see io-local.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "io-local.h"
#include "list.h"
#include "target.h"

int local_dev_create(struct target *t, size_t size, struct local_dev **out)
{
	struct local_dev *d;

	d = calloc(1, size < sizeof(*d) ? sizeof(*d) : size);
	if (!d)
		return -ENOMEM;
	d->target = t;
	d->fd = target_fd(t);
	d->direct = target_is_direct(t);
	d->base.info = (struct io_dev_info) {
		.size = target_size(t),
		.block_size = target_block_size(t),
		.zoned = target_zoned_host_managed(t),
		.can_zero = target_can_zero_offload(t),
		.can_deallocate = target_can_zero_offload(t),
		.extents = !target_is_blockdev(t),
	};
	*out = d;
	return 0;
}

void local_dev_free(struct local_dev *d)
{
	free(d);
}

int local_attach(struct io_queue *q, struct target *t, struct io_dev **out)
{
	struct local_dev *d;
	int r;

	(void)q;
	r = local_dev_create(t, sizeof(*d), &d);
	if (r == 0)
		*out = (struct io_dev *)d;
	return r;
}

void local_detach(struct io_dev *dev)
{
	local_dev_free((struct local_dev *)dev);
}

void local_dev_describe(const struct io_dev *dev, struct io_dev_info *info)
{
	*info = *io_dev_info(dev);
}

int local_dev_next_data(struct io_dev *dev, uint64_t offset, uint64_t *data,
			uint64_t *hole)
{
	return target_next_data(((struct local_dev *)dev)->target, offset, data,
				hole);
}

uint64_t local_direct_length(const struct local_dev *d,
			     const struct io_request *req)
{
	uint64_t bs = d->base.info.block_size;

	if (!d->direct || req->length % bs == 0)
		return req->length;
	if (req->op == IO_READ)
		return (req->length + bs - 1) / bs * bs;
	return req->length / bs * bs;
}

enum local_next local_start(struct io_request *req, uint64_t *want)
{
	*want = local_direct_length((struct local_dev *)req->dev, req);
	if (*want)
		return LOCAL_REST;
	if (req->op == IO_WRITE && req->length)
		return LOCAL_TAIL;	/* shorter than a block: all tail */
	req->result = req->length ? -EINVAL : 0;
	return LOCAL_OVER;
}

enum local_next local_transfer(struct io_request *req, long res, uint64_t *done,
			       uint64_t want)
{
	const struct local_dev *d = (const struct local_dev *)req->dev;

	if (res <= 0) {
		req->result = local_short_result(req->op, res);
		return LOCAL_OVER;
	}
	*done += (uint64_t)res;
	if (*done < want && *done < req->length) {
		/* O_DIRECT can only go on from a block boundary. */
		if (d->direct && *done % d->base.info.block_size) {
			req->result = local_short_result(req->op, 0);
			return LOCAL_OVER;
		}
		return LOCAL_REST;
	}
	if (req->op == IO_WRITE && want < req->length)
		return LOCAL_TAIL;
	req->result = 0;	/* a read may return more: past the length */
	return LOCAL_OVER;
}

int req_list_reserve(struct req_list *l, unsigned nr)
{
	struct io_request **reqs;

	if (nr <= l->cap)
		return 0;
	reqs = realloc(l->reqs, nr * sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	l->reqs = reqs;
	l->cap = nr;
	return 0;
}

void req_list_push(struct req_list *l, struct io_request *req)
{
	l->reqs[l->nr++] = req;
}

unsigned req_list_take(struct req_list *l, struct io_request **out, unsigned max)
{
	unsigned n = l->nr < max ? l->nr : max;

	if (out)
		memcpy(out, l->reqs, n * sizeof(*out));
	l->nr -= n;
	memmove(l->reqs, l->reqs + n, l->nr * sizeof(*l->reqs));
	return n;
}

void req_list_free(struct req_list *l)
{
	free(l->reqs);
	l->reqs = NULL;
	l->nr = l->cap = 0;
}

int local_write_tail(struct local_dev *d, const struct io_request *req,
		     uint64_t from)
{
	if (from >= req->length)
		return 0;
	return target_pwrite_tail(d->target, (const char *)req->buf + from,
				  req->length - from, req->offset + from);
}

int local_zero_result(int r)
{
	if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY)
		return -IO_ENOZERO;
	return r < 0 ? r : 0;
}

int local_zero(struct local_dev *d, const struct io_request *req)
{
	return local_zero_result(target_zero_range(d->target, req->offset,
				 req->length, req->flags & IO_ZERO_DEALLOCATE));
}

int local_flush(struct local_dev *d)
{
	return target_flush(d->target);
}

int local_sync_op(struct io_request *req)
{
	struct local_dev *d = (struct local_dev *)req->dev;

	switch (req->op) {
	case IO_ZERO:
		return local_zero(d, req);
	case IO_FLUSH:
		return local_flush(d);
	case IO_WRITE:
		return local_write_tail(d, req, req->priv[0]);
	case IO_READ:
		break;
	}
	return -EINVAL;
}

int local_short_result(enum io_op op, long got)
{
	if (got < 0)
		return (int)got;
	return op == IO_READ ? -IO_ESHORT : -EIO;
}

uint64_t local_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void local_sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull),
	};

	nanosleep(&ts, NULL);	/* a signal cuts it short: the loop looks */
}

/*-----------------------------------------------------------------
 * The helper thread.
 *---------------------------------------------------------------*/
/*
 * One thread is enough: what it runs (fallocate, BLKZEROOUT, fdatasync)
 * is long but rare, one piece per sub-job at a time, and the kernel
 * works on each in parallel with the loop's own I/O.
 */
struct io_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int efd;
	bool quit;
	unsigned busy;		/* handed over, not yet collected */
	struct req_list todo, done;	/* both under lock */
};

static void *worker_main(void *arg)
{
	struct io_worker *w = arg;
	struct io_request *req;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->todo.nr && !w->quit)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->quit)
			break;
		req_list_take(&w->todo, &req, 1);
		pthread_mutex_unlock(&w->lock);
		req->result = local_sync_op(req);
		pthread_mutex_lock(&w->lock);
		req_list_push(&w->done, req);
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* eventfd counter full: it is readable anyway */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int io_worker_create(struct io_worker **out)
{
	struct io_worker *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	if (r < 0) {
		close(w->efd);
		free(w);
		return r;
	}
	*out = w;
	return 0;
}

void io_worker_destroy(struct io_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	close(w->efd);
	req_list_free(&w->todo);
	req_list_free(&w->done);
	free(w);
}

int io_worker_submit(struct io_worker *w, struct io_request *req)
{
	int r = 0;

	pthread_mutex_lock(&w->lock);
	/* Both lists hold at most busy entries: room for one more in each. */
	r = req_list_reserve(&w->todo, w->busy + 1);
	if (r == 0)
		r = req_list_reserve(&w->done, w->busy + 1);
	if (r == 0) {
		req_list_push(&w->todo, req);
		w->busy++;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

unsigned io_worker_collect(struct io_worker *w, struct io_request **done,
			   unsigned max)
{
	uint64_t count;
	unsigned n;

	if (!w->busy)
		return 0;
	if (read(w->efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing new; what is listed is still taken */
	}
	pthread_mutex_lock(&w->lock);
	n = req_list_take(&w->done, done, max);
	w->busy -= n;
	pthread_mutex_unlock(&w->lock);
	return n;
}

unsigned io_worker_busy(const struct io_worker *w)
{
	return w->busy;
}

int io_worker_fd(const struct io_worker *w)
{
	return w->efd;
}
