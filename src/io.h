/* SPDX-License-Identifier: GPL-2.0 */
/*
 * io.h - the whole contract between the copy engine and storage.
 *
 * dm-kcopyd sits on dm-io; kcopy's engine sits on this. A backend (one
 * file each: io-aio.c, io-uring.c, and the simulated one of the tests) is
 * a table of operations, as fio's struct ioengine_ops and nbdcopy's
 * struct rw_ops are. The engine holds one queue, opened on a backend, and
 * devices (io_dev) on that queue; it fills struct io_request and never
 * sees a file descriptor, an iocb, an sqe or an ioctl.
 *
 * The life of a request:
 *
 *   io_queue_request()   gather (the plug): nothing is submitted yet
 *   io_commit()          submit everything gathered, in as few calls as
 *                        the backend can
 *   io_reap()            wait for completions; each request comes back
 *                        exactly once, with result 0 (all of length) or
 *                        -errno. A short transfer is finished (or failed)
 *                        inside the backend and never seen by the engine.
 *
 * The engine keeps each request alive (and its buffer) until it is reaped,
 * and never has more in flight than it reserved with io_reserve().
 * Everything is single-threaded from the engine's side: a backend may use
 * helper threads of its own, but completions are only delivered by
 * io_reap(), in the engine's thread.
 *
 * Time is the queue's too (io_now(), and io_reap() with nothing in flight
 * is a sleep): a real backend reads CLOCK_MONOTONIC, the simulated one
 * keeps a fake clock, so the throttle can be tested without waiting.
 *
 * To add a backend: write src/io-NAME.c defining `const struct io_backend
 * io_NAME_backend`, add it to the table in io.c, and to the Makefile. The
 * table holds the local backends, one of which (--io) a run uses; the
 * NBD backend (io-nbd.c) is not among them: it joins a local queue in a
 * queue set (io_set_create) when an export is attached.
 */
#ifndef KCOPY_IO_H
#define KCOPY_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_queue;	/* a backend's submission and completion state */
struct io_dev;		/* one file, device or store, opened on a queue */
struct target;		/* a local file, block device or export (target.h) */
struct pollfd;

enum io_op {
	IO_READ,	/* fill buf from [offset, offset + length) */
	IO_WRITE,	/* write buf to [offset, offset + length) */
	IO_ZERO,	/* zero [offset, offset + length) without a buffer */
	IO_FLUSH,	/* make everything written so far stable */
};

enum {
	/* IO_ZERO: the space may be given back (read as zeros afterwards). */
	IO_ZERO_DEALLOCATE = 1 << 0,
};

/*
 * The error an IO_ZERO completes with when the device cannot zero that
 * way after all (the caller writes zero buffers instead).
 */
#define IO_ENOZERO EOPNOTSUPP
/* The error of a read that met the end of the file: it shrank. */
#define IO_ESHORT ENODATA

/* Room for a backend's per-request state (an iocb and a few counters). */
#define IO_REQUEST_PRIVATE 12

struct io_request {
	/* Set by the caller before io_queue_request(). */
	enum io_op op;
	unsigned flags;		/* IO_ZERO_* */
	struct io_dev *dev;
	void *buf;		/* READ/WRITE: see struct io_dev_info */
	uint64_t offset;	/* bytes from the device's start */
	uint64_t length;	/* bytes; 0 for IO_FLUSH */
	void *data;		/* the caller's, untouched */

	/* Set by the backend when the request comes back from io_reap(). */
	int result;		/* 0: all of length; or -errno */

	/* The backend's own. */
	uint64_t priv[IO_REQUEST_PRIVATE];
};

/* What the engine may know of a device. */
struct io_dev_info {
	uint64_t size;		/* bytes, at open */
	/*
	 * Reads and writes start at a multiple of block_size. Their length
	 * may end anywhere (an unaligned file end: the backend writes that
	 * tail as it can), but the buffer must hold the length rounded up to
	 * block_size and be aligned to block_size (what O_DIRECT needs).
	 */
	unsigned block_size;
	bool zoned;		/* host-managed: writes in order only */
	bool can_zero;		/* IO_ZERO is offloaded (no buffers written) */
	bool can_deallocate;	/* IO_ZERO_DEALLOCATE may give space back */
	bool extents;		/* io_next_data() can tell where holes are */
	/*
	 * A stream (a pipe, a compressed file): read once, front to back.
	 * Reads must be queued in offset order (a jump forward skips); one
	 * that meets the end of the stream completes with -IO_ESHORT and
	 * its length lowered to what it did read (maybe 0). Never written.
	 */
	bool sequential;
};

struct io_backend {
	const char *name;

	/*
	 * A queue for up to @depth requests in flight at once, set up now,
	 * so that a failure (for libaio: fs.aio-max-nr used up) is an error
	 * before any I/O. A backend may grant less; io_depth() tells.
	 */
	int (*create)(unsigned depth, struct io_queue **out);
	void (*destroy)(struct io_queue *q);
	unsigned (*depth)(const struct io_queue *q);

	/*
	 * Make room to gather @nr requests between two commits: more than
	 * the depth may be gathered, the rest waits in the backend.
	 */
	int (*reserve)(struct io_queue *q, unsigned nr);

	/*
	 * A local file or block device as a device of this queue. Optional
	 * (NULL): a backend that makes its own devices, as the simulated
	 * one does, has no use for targets. The target outlives the device.
	 */
	int (*attach)(struct io_queue *q, struct target *t, struct io_dev **out);
	void (*detach)(struct io_dev *dev);
	void (*describe)(const struct io_dev *dev, struct io_dev_info *info);
	/*
	 * Extents: the next data at or after @offset and the hole after it.
	 * 0, -ENXIO (no data after @offset) or -EOPNOTSUPP. Synchronous and
	 * cheap. Optional when no device sets info.extents.
	 */
	int (*next_data)(struct io_dev *dev, uint64_t offset, uint64_t *data,
			 uint64_t *hole);

	void (*queue)(struct io_queue *q, struct io_request *req);
	void (*commit)(struct io_queue *q);
	/*
	 * Wait up to @timeout_ns for at least one completion (0: only
	 * collect what is there) and return up to @max of them in @done.
	 * With nothing in flight, sleeps @timeout_ns. A signal may cut the
	 * wait short. Returns the number returned, or -errno.
	 */
	int (*reap)(struct io_queue *q, uint64_t timeout_ns,
		    struct io_request **done, unsigned max);
	/* Requests queued or in flight and not yet reaped. */
	unsigned (*busy)(const struct io_queue *q);
	uint64_t (*now)(const struct io_queue *q);	/* nanoseconds */
	/*
	 * A file descriptor that becomes readable when io_reap() has
	 * something, for an outer poll loop; -1 when there is none.
	 */
	int (*poll_fd)(const struct io_queue *q);
	/*
	 * Optional, for a backend with several descriptors (one socket per
	 * NBD connection): what to poll, with the events, into @fds (up to
	 * @max); returns how many there are, which may be more than @max.
	 * A poll that returns only says "call io_reap() now": the backend
	 * finds out what is ready itself.
	 */
	unsigned (*poll_fds)(const struct io_queue *q, struct pollfd *fds,
			     unsigned max);
	/*
	 * Optional: did the system refuse to take any request for so long
	 * that the queued ones failed (-EAGAIN)?
	 */
	bool (*stalled)(const struct io_queue *q);
};

/*
 * A queue set: the engine's one queue over the queue of @local and, from
 * the first NBD export attached (target_is_remote), the NBD backend's.
 * Requests go to their device's queue; io_reap() polls both at once
 * (the local completions' fd and the NBD sockets), so one event loop
 * serves local and remote regions of the same copy.
 */
int io_set_create(const struct io_backend *local, unsigned depth,
		  struct io_queue **out);

/* The built-in backends, by name ("aio", "uring"); NULL if unknown. */
const struct io_backend *io_backend_find(const char *name);
/* The default backend, chosen by measurement (see the man page). */
const struct io_backend *io_backend_default(void);
/* Calls @fn for each built-in backend (for usage messages). */
void io_backend_for_each(void (*fn)(const struct io_backend *b, void *ctx),
			 void *ctx);

/*
 * Every queue starts with this, so that the calls below find their
 * backend; a backend's own queue struct embeds it first.
 */
struct io_queue_base {
	const struct io_backend *backend;
};

/* Every device starts with this. */
struct io_dev_base {
	struct io_queue *queue;
	struct io_dev_info info;
};

static inline const struct io_backend *io_backend_of(const struct io_queue *q)
{
	return ((const struct io_queue_base *)q)->backend;
}

static inline const struct io_dev_info *io_dev_info(const struct io_dev *dev)
{
	return &((const struct io_dev_base *)dev)->info;
}

static inline struct io_queue *io_dev_queue(const struct io_dev *dev)
{
	return ((const struct io_dev_base *)dev)->queue;
}

int io_queue_create(const struct io_backend *b, unsigned depth,
		    struct io_queue **out);
void io_queue_destroy(struct io_queue *q);
unsigned io_depth(const struct io_queue *q);
int io_reserve(struct io_queue *q, unsigned nr);
int io_attach(struct io_queue *q, struct target *t, struct io_dev **out);
void io_detach(struct io_dev *dev);
int io_next_data(struct io_dev *dev, uint64_t offset, uint64_t *data,
		 uint64_t *hole);
void io_queue_request(struct io_request *req);
void io_commit(struct io_queue *q);
int io_reap(struct io_queue *q, uint64_t timeout_ns, struct io_request **done,
	    unsigned max);
unsigned io_busy(const struct io_queue *q);
uint64_t io_now(const struct io_queue *q);
int io_poll_fd(const struct io_queue *q);
bool io_stalled(const struct io_queue *q);

#endif
