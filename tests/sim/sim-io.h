/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sim-io.h - a simulated storage backend (struct io_backend) for the
 * engine's randomized tests.
 *
 * Devices live in memory as two images: the volatile one (what reads see,
 * what writes change) and the durable one (what survives a crash). An
 * IO_FLUSH makes durable every block whose last write completed before the
 * flush started; sim_crash() throws the volatile image away. Every request
 * takes a latency drawn from the queue's seeded PRNG, so completions come
 * back out of order; time is a fake clock that io_reap() moves to the next
 * completion (or by its timeout when nothing is in flight), so a throttled
 * copy takes no wall time.
 *
 * Faults are byte ranges per operation: a request that touches one fails
 * with the chosen -errno (a write applies the part before the fault, as a
 * short write followed by an error would; a read leaves garbage in the
 * faulted part of the buffer, so that "never stale memory" is tested).
 *
 * The backend also checks the io.h contract (alignment, bounds, a request
 * queued twice, more gathered than reserved) and keeps the history the
 * driver's invariants need: every write in issue order with its times, the
 * fake time with I/O in flight, and the most buffer memory in flight.
 * A contract violation is recorded (sim_violations()), never fatal, so a
 * seed reports it along with everything else.
 */
#ifndef KCOPY_SIM_IO_H
#define KCOPY_SIM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

extern const struct io_backend sim_backend;

/* A small, fast, seedable PRNG (splitmix64), shared with the driver. */
struct sim_rng {
	uint64_t s;
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, n); 0 when n is 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n);
/* Uniform in [lo, hi]. */
uint64_t sim_rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi);
/* True @pct percent of the time. */
bool sim_rng_pct(struct sim_rng *r, unsigned pct);

/* Latency of each operation kind, uniform in [min, max] nanoseconds. */
struct sim_latency {
	uint64_t min_ns, max_ns;
};

/*
 * After io_queue_create(&sim_backend, ...): the seed of the latencies and
 * the latency ranges of data I/O (reads, writes, zeroing) and of flushes.
 */
void sim_queue_setup(struct io_queue *q, uint64_t seed, struct sim_latency io,
		     struct sim_latency flush);

/* Called after the @n-th completion (1-based) is handed to the engine. */
typedef void (*sim_event_fn)(void *ctx, uint64_t n);
void sim_queue_on_event(struct io_queue *q, sim_event_fn fn, void *ctx);

enum {
	SIM_CAN_ZERO = 1 << 0,		/* IO_ZERO offloaded */
	SIM_CAN_DEALLOCATE = 1 << 1,	/* IO_ZERO_DEALLOCATE honoured */
	SIM_ZONED = 1 << 2,		/* writes must start at the write pointer */
	SIM_EXTENTS = 1 << 3,		/* next_data() knows the holes */
};

/* A device of @size bytes, all zeros (a hole, with SIM_EXTENTS). */
int sim_dev_create(struct io_queue *q, const char *name, uint64_t size,
		   unsigned block_size, unsigned flags, struct io_dev **out);
const char *sim_dev_name(const struct io_dev *dev);

/* Both images, for the driver to fill (before any I/O) and to check. */
uint8_t *sim_dev_volatile(struct io_dev *dev);
const uint8_t *sim_dev_durable(const struct io_dev *dev);
/* Set the initial content: both images. */
void sim_dev_fill(struct io_dev *dev, uint64_t offset, const void *data,
		  uint64_t length);
/* SIM_EXTENTS: [offset, offset + length) is data (the rest is a hole). */
void sim_dev_set_data(struct io_dev *dev, uint64_t offset, uint64_t length);
/* SIM_ZONED: where the next write must start. */
void sim_dev_set_wp(struct io_dev *dev, uint64_t offset);

/*
 * A fault: requests of @op touching [offset, offset + length) fail with
 * -@error. IO_FLUSH faults ignore the range. IO_ENOZERO on IO_ZERO means
 * "cannot zero that way after all", which is not an error for the engine.
 */
int sim_dev_add_fault(struct io_dev *dev, enum io_op op, uint64_t offset,
		      uint64_t length, int error);
void sim_dev_clear_faults(struct io_dev *dev);
/* Requests of @op failed by a fault since the last sim_dev_reset_hits(). */
unsigned sim_dev_hits(const struct io_dev *dev, enum io_op op);
/* Of them, those that failed with an error other than IO_ENOZERO. */
unsigned sim_dev_error_hits(const struct io_dev *dev, enum io_op op);
void sim_dev_reset_hits(struct io_dev *dev);
/* Requests of @op queued on @dev, ever. */
uint64_t sim_dev_requests(const struct io_dev *dev, enum io_op op);

/*
 * A synchronous flush outside the engine (the driver's checkpoint, as
 * main's plan_flush is synchronous): 0 or the flush fault's -errno.
 */
int sim_dev_flush_now(struct io_dev *dev);

/*
 * Power loss: every device's volatile image becomes its durable one, and
 * until sim_revive() every request fails with -EIO and changes nothing.
 */
void sim_crash(struct io_queue *q);
void sim_revive(struct io_queue *q);
bool sim_crashed(const struct io_queue *q);

/* One write or zeroing, in the order it was queued. */
struct sim_write {
	enum io_op op;			/* IO_WRITE or IO_ZERO */
	uint64_t offset, length;
	uint64_t queue_ns, done_ns;	/* done_ns 0: still in flight */
	unsigned queue_seq;		/* order among all requests queued */
	int result;
	bool zeros;			/* IO_ZERO, or a buffer of zeros */
	/* Writes to this device in flight (not yet reaped) when queued. */
	unsigned in_flight_before;
};

const struct sim_write *sim_dev_writes(const struct io_dev *dev, size_t *nr);
void sim_dev_clear_writes(struct io_dev *dev);

/* Fake time during which at least one request was in flight. */
uint64_t sim_busy_ns(const struct io_queue *q);
/*
 * The most bytes of distinct buffer memory (4 KiB pages) in flight at
 * once: reads, and writes of anything but zeros (the engine's shared zero
 * buffer costs no pool memory, and a pool slot of zeros only undercounts).
 */
uint64_t sim_max_buffer_bytes(const struct io_queue *q);
void sim_reset_max_buffer_bytes(struct io_queue *q);
/* Does a request in flight use memory in [p, p + len)? */
bool sim_buffer_in_flight(const struct io_queue *q, const void *p, size_t len);
/* Most requests in flight at once (committed, started, not yet reaped). */
unsigned sim_max_in_flight(const struct io_queue *q);

/*
 * io_reap() calls with a zero timeout that found nothing: a loop that
 * polls instead of waiting (each one costs a microsecond of fake time).
 */
uint64_t sim_empty_polls(const struct io_queue *q);
/* Completions handed back so far. */
uint64_t sim_events(const struct io_queue *q);

/* Contract violations seen so far; the first one's text. */
unsigned sim_violations(const struct io_queue *q, const char **first);

#endif
