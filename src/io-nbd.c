// SPDX-License-Identifier: GPL-2.0
/*
 * io-nbd.c - the NBD backend: exports on NBD servers, through libnbd's
 * asynchronous API (nbd_aio_pread/pwrite/zero/flush), as nbdcopy's
 * copy/nbd-ops.c drives them.
 *
 * The devices are targets opened by remote.c (one or more connections
 * each). A request goes out as one or more NBD commands, never larger
 * than the server takes in one (remote_info: max_request) and spread over the
 * connections in turn; it comes back when all of its commands have, with
 * the first error. libnbd completes commands inside nbd_aio_notify_*,
 * called from io_reap() when poll(2) says a connection's socket is ready
 * the way libnbd wants it (nbd_aio_get_direction). For the local
 * backends' completions to wake the same poll, this backend shares its
 * sockets through poll_fds (the queue set of io-set.c polls them all).
 *
 * Connection loss: libnbd fails the commands in flight (ENOTCONN), and
 * every later one on a dead connection fails when it is issued; the
 * engine sees failed ranges of that destination only, the others go on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io-local.h"
#include "libnbd-api.h"
#include "remote.h"
#include "target.h"

/* The largest NBD_CMD_WRITE_ZEROES sent: its length field is 32 bits. */
#define ZERO_PIECE (1ull << 30)
/* Extents asked for at once (block status), when sparse reading. */
#define EXTENTS_SPAN (1ull << 30)

struct nbd_queue {
	struct io_queue_base base;	/* first: an io_queue */
	unsigned depth;
	unsigned busy;			/* queued or in flight, not reaped */
	struct req_list gathered;	/* between two commits */
	struct req_list done;		/* over, to be reaped */
	struct nbd_dev **devs;
	unsigned nr_devs;
	struct pollfd *fds;		/* one per connection, for reap */
	struct nbd_handle **fd_handle;	/* ... and the connection of each */
	unsigned fds_cap;
};

struct extent {
	uint64_t end;
	bool hole;		/* reads as zeros */
};

struct nbd_dev {
	struct io_dev_base base;	/* first: an io_dev */
	struct nbd_queue *q;
	struct remote *remote;
	unsigned next;			/* connection for the next command */
	/* Block status of [ext_start, ext[nr_ext - 1].end), for next_data. */
	uint64_t ext_start;
	struct extent *ext;
	size_t nr_ext, ext_cap;
	int ext_error;
};

/* What this backend keeps in io_request.priv. */
struct nbd_req {
	unsigned pending;	/* commands not yet back */
	int error;		/* the first of them to fail */
};
_Static_assert(sizeof(struct nbd_req) <= sizeof(((struct io_request *)0)->priv),
	       "nbd state fits in io_request.priv");

static struct nbd_req *req_state(struct io_request *req)
{
	return (struct nbd_req *)req->priv;
}

static struct nbd_queue *to_nq(struct io_queue *q)
{
	return (struct nbd_queue *)q;
}

static int nbd_create_queue(unsigned depth, struct io_queue **out)
{
	struct nbd_queue *nq = calloc(1, sizeof(*nq));

	if (!nq)
		return -ENOMEM;
	nq->depth = depth;
	*out = (struct io_queue *)nq;
	return 0;
}

static void nbd_destroy_queue(struct io_queue *q)
{
	struct nbd_queue *nq = to_nq(q);

	req_list_free(&nq->gathered);
	req_list_free(&nq->done);
	free(nq->devs);
	free(nq->fds);
	free(nq->fd_handle);
	free(nq);
}

static unsigned nbd_depth(const struct io_queue *q)
{
	return ((const struct nbd_queue *)q)->depth;
}

static int nbd_reserve(struct io_queue *q, unsigned nr)
{
	struct nbd_queue *nq = to_nq(q);
	int r = req_list_reserve(&nq->gathered, nr);

	return r < 0 ? r : req_list_reserve(&nq->done, nr);
}

/* Room to poll every connection of every device. */
static int reserve_fds(struct nbd_queue *nq, unsigned nr)
{
	struct pollfd *fds;
	struct nbd_handle **handles;

	if (nr <= nq->fds_cap)
		return 0;
	fds = realloc(nq->fds, nr * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	nq->fds = fds;
	handles = realloc(nq->fd_handle, nr * sizeof(*handles));
	if (!handles)
		return -ENOMEM;
	nq->fd_handle = handles;
	nq->fds_cap = nr;
	return 0;
}

static unsigned connections_total(const struct nbd_queue *nq)
{
	unsigned i, n = 0;

	for (i = 0; i < nq->nr_devs; i++)
		n += remote_connections(nq->devs[i]->remote);
	return n;
}

static void nbd_describe(const struct io_dev *dev, struct io_dev_info *info);

static int nbd_attach(struct io_queue *q, struct target *t, struct io_dev **out)
{
	struct nbd_queue *nq = to_nq(q);
	struct remote *remote = target_remote(t);
	struct nbd_dev **devs, *d;
	int r;

	if (!remote)
		return -EINVAL;
	devs = realloc(nq->devs, (nq->nr_devs + 1) * sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	nq->devs = devs;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->q = nq;
	d->remote = remote;
	d->base.queue = q;
	nbd_describe((struct io_dev *)d, &d->base.info);
	devs[nq->nr_devs++] = d;
	r = reserve_fds(nq, connections_total(nq));
	if (r < 0) {
		nq->nr_devs--;
		free(d);
		return r;
	}
	*out = (struct io_dev *)d;
	return 0;
}

static void nbd_detach(struct io_dev *dev)
{
	struct nbd_dev *d = (struct nbd_dev *)dev;
	struct nbd_queue *nq = d->q;
	unsigned i;

	for (i = 0; i < nq->nr_devs; i++)
		if (nq->devs[i] == d) {
			nq->devs[i] = nq->devs[--nq->nr_devs];
			break;
		}
	free(d->ext);
	free(d);
}

static void nbd_describe(const struct io_dev *dev, struct io_dev_info *info)
{
	const struct remote_info *ri =
		remote_info(((const struct nbd_dev *)dev)->remote);

	*info = (struct io_dev_info) {
		.size = ri->size,
		.block_size = ri->block_size,
		.can_zero = ri->can_zero,
		/* Without NBD_CMD_FLAG_NO_HOLE the server may punch. */
		.can_deallocate = ri->can_zero,
		.extents = ri->extents,
	};
}

/*-----------------------------------------------------------------
 * Extents (block status, base:allocation), for sparse reading.
 *---------------------------------------------------------------*/
static int extent_seen(void *user_data, const char *context, uint64_t offset,
		       uint32_t *entries, size_t nr_entries, int *error)
{
	struct nbd_dev *d = user_data;
	uint64_t end = offset;
	size_t i;

	(void)error;
	if (strcmp(context, LIBNBD_CONTEXT_BASE_ALLOCATION))
		return 0;
	d->ext_start = offset;
	d->nr_ext = 0;
	if (nr_entries / 2 > d->ext_cap) {
		struct extent *ext = realloc(d->ext, nr_entries / 2 * sizeof(*ext));

		if (!ext) {
			d->ext_error = -ENOMEM;
			return -1;
		}
		d->ext = ext;
		d->ext_cap = nr_entries / 2;
	}
	for (i = 0; i + 1 < nr_entries; i += 2) {
		end += entries[i];
		d->ext[d->nr_ext++] = (struct extent) {
			end, (entries[i + 1] & LIBNBD_STATE_ZERO) != 0 };
	}
	return 0;
}

/* Block status from @offset on, into the cache. */
static int load_extents(struct nbd_dev *d, uint64_t offset)
{
	uint64_t size = d->base.info.size;
	uint64_t count = size - offset < EXTENTS_SPAN ? size - offset : EXTENTS_SPAN;
	nbd_extent_callback cb = { .callback = extent_seen, .user_data = d };

	d->nr_ext = 0;
	d->ext_error = 0;
	if (libnbd->block_status(remote_handle(d->remote, 0), count, offset, cb,
				 0) < 0)
		return -EOPNOTSUPP;
	if (d->ext_error)
		return d->ext_error;
	/* A server that said nothing about @offset is of no use. */
	if (!d->nr_ext || d->ext_start > offset || d->ext[d->nr_ext - 1].end <= offset)
		return -EOPNOTSUPP;
	return 0;
}

static bool cached(const struct nbd_dev *d, uint64_t offset)
{
	return d->nr_ext && d->ext_start <= offset && offset < d->ext[d->nr_ext - 1].end;
}

static int nbd_next_data(struct io_dev *dev, uint64_t offset, uint64_t *data,
			 uint64_t *hole)
{
	struct nbd_dev *d = (struct nbd_dev *)dev;
	uint64_t size = d->base.info.size, start;
	size_t i;
	int r;

	while (offset < size) {
		if (!cached(d, offset)) {
			r = load_extents(d, offset);
			if (r < 0)
				return r;
		}
		start = d->ext_start;
		for (i = 0; i < d->nr_ext; start = d->ext[i++].end) {
			if (d->ext[i].end <= offset || d->ext[i].hole)
				continue;
			*data = start > offset ? start : offset;
			/* Data runs on over the extents that are data too. */
			while (i + 1 < d->nr_ext && !d->ext[i + 1].hole)
				i++;
			*hole = d->ext[i].end < size ? d->ext[i].end : size;
			return 0;
		}
		offset = d->ext[d->nr_ext - 1].end;
	}
	return -ENXIO;
}

/*-----------------------------------------------------------------
 * Requests: commands out, completions back.
 *---------------------------------------------------------------*/
static void finish(struct nbd_queue *nq, struct io_request *req)
{
	req->result = req_state(req)->error;
	req_list_push(&nq->done, req);
}

static void command_over(struct io_request *req, int error)
{
	struct nbd_req *st = req_state(req);

	if (error && !st->error)
		st->error = error;
	if (--st->pending == 0)
		finish(((struct nbd_dev *)req->dev)->q, req);
}

/* libnbd's completion callback: called once per command. */
static int command_done(void *user_data, int *error)
{
	command_over(user_data, *error ? -*error : 0);
	return 1;	/* libnbd retires the command */
}

/*
 * The next live connection, in turn; a dead one only when all are (NULL
 * only for an endpoint without any, which remote_open() never makes).
 */
static struct nbd_handle *next_handle(struct nbd_dev *d)
{
	unsigned n = remote_connections(d->remote), i;
	struct nbd_handle *h;

	if (!n)
		return NULL;
	for (i = 0; i < n; i++) {
		h = remote_handle(d->remote, d->next++ % n);
		if (!libnbd->aio_is_dead(h) && !libnbd->aio_is_closed(h))
			return h;
	}
	return remote_handle(d->remote, d->next++ % n);
}

/* One command for [offset, offset + len) of @req; its buffer at @buf. */
static void issue(struct nbd_dev *d, struct io_request *req, struct nbd_handle *h,
		  void *buf, uint64_t offset, uint64_t len)
{
	nbd_completion_callback cb = { .callback = command_done, .user_data = req };
	uint32_t flags = 0;
	int64_t cookie = -1;

	req_state(req)->pending++;
	if (!h) {
		command_over(req, -ENOTCONN);
		return;
	}
	switch (req->op) {
	case IO_READ:
		cookie = libnbd->aio_pread(h, buf, len, offset, cb, 0);
		break;
	case IO_WRITE:
		cookie = libnbd->aio_pwrite(h, buf, len, offset, cb, 0);
		break;
	case IO_ZERO:
		if (!(req->flags & IO_ZERO_DEALLOCATE))
			flags |= LIBNBD_CMD_FLAG_NO_HOLE;
		/* Refused when it would be slow: the engine writes zeros. */
		if (remote_info(d->remote)->can_fast_zero)
			flags |= LIBNBD_CMD_FLAG_FAST_ZERO;
		cookie = libnbd->aio_zero(h, len, offset, cb, flags);
		break;
	case IO_FLUSH:
		cookie = libnbd->aio_flush(h, cb, 0);
		break;
	}
	/* Not issued: libnbd will not call back. */
	if (cookie < 0)
		command_over(req, remote_failure(h));
}

static uint64_t piece_limit(const struct nbd_dev *d, enum io_op op)
{
	uint64_t max = remote_info(d->remote)->max_request;

	return op == IO_ZERO ? ZERO_PIECE - ZERO_PIECE % max : max;
}

static void start_request(struct nbd_queue *nq, struct io_request *req)
{
	struct nbd_dev *d = (struct nbd_dev *)req->dev;
	struct nbd_req *st = req_state(req);
	uint64_t done = 0, len, limit = piece_limit(d, req->op);
	unsigned i;

	st->pending = 1;	/* held until every command is out */
	st->error = 0;
	if (req->op == IO_ZERO && !d->base.info.can_zero) {
		st->error = -IO_ENOZERO;
	} else if (req->op == IO_FLUSH) {
		/* Every connection: multi-conn or not, nothing is left out. */
		for (i = 0; remote_info(d->remote)->can_flush &&
			    i < remote_connections(d->remote); i++)
			issue(d, req, remote_handle(d->remote, i), NULL, 0, 0);
	} else {
		while (done < req->length) {
			len = req->length - done < limit ? req->length - done : limit;
			issue(d, req, next_handle(d), req->buf ?
			      (char *)req->buf + done : NULL, req->offset + done, len);
			done += len;
		}
	}
	(void)nq;
	command_over(req, 0);
}

static void nbd_queue_request(struct io_queue *q, struct io_request *req)
{
	struct nbd_queue *nq = to_nq(q);

	nq->busy++;
	req_list_push(&nq->gathered, req);
}

static void nbd_commit(struct io_queue *q)
{
	struct nbd_queue *nq = to_nq(q);
	struct io_request *req;

	while (req_list_take(&nq->gathered, &req, 1))
		start_request(nq, req);
}

/*-----------------------------------------------------------------
 * The event loop's part: which sockets to watch, and what to do
 * when they are ready.
 *---------------------------------------------------------------*/
static unsigned fill_fds(const struct nbd_queue *nq, struct pollfd *fds,
			 struct nbd_handle **handles, unsigned max)
{
	unsigned i, c, n = 0, dir;
	struct nbd_handle *h;
	int fd;

	for (i = 0; i < nq->nr_devs; i++) {
		for (c = 0; c < remote_connections(nq->devs[i]->remote); c++) {
			h = remote_handle(nq->devs[i]->remote, c);
			fd = libnbd->aio_get_fd(h);
			if (fd < 0)
				continue;	/* dead: nothing to wait for */
			dir = libnbd->aio_get_direction(h);
			if (n < max) {
				fds[n] = (struct pollfd) { .fd = fd,
					.events = (short)((dir & LIBNBD_AIO_DIRECTION_READ ?
						   POLLIN : 0) |
						  (dir & LIBNBD_AIO_DIRECTION_WRITE ?
						   POLLOUT : 0)) };
				if (handles)
					handles[n] = h;
			}
			n++;
		}
	}
	return n;
}

static unsigned nbd_poll_fds(const struct io_queue *q, struct pollfd *fds,
			     unsigned max)
{
	return fill_fds((const struct nbd_queue *)q, fds, NULL, max);
}

static void notify(struct nbd_queue *nq, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		short ev = nq->fds[i].revents;

		/* A failure here kills the connection; libnbd fails its commands. */
		if (ev & (POLLIN | POLLHUP | POLLERR))
			libnbd->aio_notify_read(nq->fd_handle[i]);
		else if (ev & POLLOUT)
			libnbd->aio_notify_write(nq->fd_handle[i]);
	}
}

static void wait_ns(struct pollfd *fds, unsigned n, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
			       (long)(timeout_ns % 1000000000u) };

	if (ppoll(fds, n, &ts, NULL) < 0) {
		/* EINTR: a signal; the engine looks at it */
		for (unsigned i = 0; i < n; i++)
			fds[i].revents = 0;
	}
}

static int nbd_reap(struct io_queue *q, uint64_t timeout_ns,
		    struct io_request **done, unsigned max)
{
	struct nbd_queue *nq = to_nq(q);
	unsigned n, got;

	got = req_list_take(&nq->done, done, max);
	n = fill_fds(nq, nq->fds, nq->fd_handle, nq->fds_cap);
	if (n > nq->fds_cap)
		n = nq->fds_cap;
	wait_ns(nq->fds, n, got ? 0 : timeout_ns);
	notify(nq, n);
	got += req_list_take(&nq->done, done + got, max - got);
	nq->busy -= got;
	return (int)got;
}

static unsigned nbd_busy(const struct io_queue *q)
{
	return ((const struct nbd_queue *)q)->busy;
}

static uint64_t nbd_now(const struct io_queue *q)
{
	(void)q;
	return local_now_ns();
}

const struct io_backend io_nbd_backend = {
	.name = "nbd",
	.create = nbd_create_queue,
	.destroy = nbd_destroy_queue,
	.depth = nbd_depth,
	.reserve = nbd_reserve,
	.attach = nbd_attach,
	.detach = nbd_detach,
	.describe = nbd_describe,
	.next_data = nbd_next_data,
	.queue = nbd_queue_request,
	.commit = nbd_commit,
	.reap = nbd_reap,
	.busy = nbd_busy,
	.now = nbd_now,
	.poll_fds = nbd_poll_fds,
};
