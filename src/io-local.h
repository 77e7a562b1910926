/* SPDX-License-Identifier: GPL-2.0 */
/*
 * io-local.h - what the backends for local files and block devices (libaio,
 * io_uring) share: the device built on a target, the split of a request
 * into what O_DIRECT can take and the unaligned tail it cannot, and the
 * synchronous operations behind a helper thread or a fallback.
 */
#ifndef KCOPY_IO_LOCAL_H
#define KCOPY_IO_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

struct local_dev {
	struct io_dev_base base;	/* first: an io_dev */
	struct target *target;
	int fd;				/* O_DIRECT, unless it fell back */
	bool direct;			/* fd is O_DIRECT: align, split tails */
};

/*
 * Allocate @size bytes (a backend's device struct, which begins with a
 * struct local_dev) and fill the local part from @t.
 */
int local_dev_create(struct target *t, size_t size, struct local_dev **out);
void local_dev_free(struct local_dev *d);
/* The attach and detach of struct io_backend, for a plain local_dev. */
int local_attach(struct io_queue *q, struct target *t, struct io_dev **out);
void local_detach(struct io_dev *dev);
void local_dev_describe(const struct io_dev *dev, struct io_dev_info *info);
int local_dev_next_data(struct io_dev *dev, uint64_t offset, uint64_t *data,
			uint64_t *hole);

/*
 * The part of a read or write that goes through the O_DIRECT fd: a read
 * is rounded up to the block (O_DIRECT reads whole blocks; at the end of
 * a file it comes back short, which is fine past @req->length); a write
 * is rounded down, and local_write_tail() writes the rest.
 */
uint64_t local_direct_length(const struct local_dev *d,
			     const struct io_request *req);

/*
 * Synchronous pieces, for a helper thread or after the direct part:
 * the buffered tail [from, length) of a write; an IO_ZERO (errors that
 * mean "not this way" become -IO_ENOZERO); an IO_FLUSH.
 */
int local_write_tail(struct local_dev *d, const struct io_request *req,
		     uint64_t from);
int local_zero(struct local_dev *d, const struct io_request *req);
/*
 * What a zeroing call's result means for IO_ZERO: the errors that say "not
 * this way" become -IO_ENOZERO (the engine writes zeros instead).
 */
int local_zero_result(int r);
int local_flush(struct local_dev *d);
/* Any of the three, by req->op (IO_WRITE: the tail from req->priv[0]). */
int local_sync_op(struct io_request *req);

/* Where a read or write stands (local_start, local_transfer). */
enum local_next {
	LOCAL_OVER,	/* over: req->result is set */
	LOCAL_REST,	/* submit the direct part from *done to want */
	LOCAL_TAIL,	/* the direct part is done: the tail from want on */
};

/*
 * A read or write about to go: *@want is set to its direct part. All of
 * it may be the tail (a write shorter than a block), or nothing.
 */
enum local_next local_start(struct io_request *req, uint64_t *want);
/*
 * The direct part came back with @res (bytes, or -errno): *@done moves
 * on, and says whether the rest is to go, the tail, or it is over.
 */
enum local_next local_transfer(struct io_request *req, long res, uint64_t *done,
			       uint64_t want);

/*
 * A list of requests in order: those gathered before a commit, those
 * over before the kernel saw them. Room is made by req_list_reserve()
 * (the queue's reserve), so that pushing never fails.
 */
struct req_list {
	struct io_request **reqs;
	unsigned nr, cap;
};

int req_list_reserve(struct req_list *l, unsigned nr);
void req_list_push(struct req_list *l, struct io_request *req);
/* Take up to @max from the head into @out (NULL: drop them). */
unsigned req_list_take(struct req_list *l, struct io_request **out, unsigned max);
void req_list_free(struct req_list *l);

/*
 * A finished transfer of @got bytes where @want were asked: the result
 * of the whole request so far. A short read that returned 0 met the end
 * of the file (-IO_ESHORT); a write that wrote nothing, -EIO.
 */
int local_short_result(enum io_op op, long got);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t local_now_ns(void);
void local_sleep_ns(uint64_t ns);

/*
 * The helper thread: runs synchronous operations (local_sync_op) off the
 * event loop and hands them back in completion order. Its eventfd is
 * readable while finished operations wait to be collected.
 */
struct io_worker;

int io_worker_create(struct io_worker **out);
void io_worker_destroy(struct io_worker *w);
/* Hand @req over; 0 or -ENOMEM. */
int io_worker_submit(struct io_worker *w, struct io_request *req);
/* Take up to @max finished requests (result set); never blocks. */
unsigned io_worker_collect(struct io_worker *w, struct io_request **done,
			   unsigned max);
/* Requests handed over and not yet collected. */
unsigned io_worker_busy(const struct io_worker *w);
int io_worker_fd(const struct io_worker *w);

#endif
