// SPDX-License-Identifier: GPL-2.0
/*
 * sim-selftest.c - the simulated backend on its own, through io.h: the
 * engine's invariants are only as good as the sim's semantics, so those
 * are tested first (queue/commit/reap, depth, out-of-order completion,
 * faults, flush and crash, the fake clock, extents, zoned, the contract
 * checks).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim-io.h"
#include "unit.h"

#define KiB 1024u

/* Reap everything in flight; returns the number reaped. */
static unsigned drain(struct io_queue *q, struct io_request **order, unsigned max)
{
	struct io_request *done[16];
	unsigned n = 0;
	int r, i;

	while (io_busy(q)) {
		r = io_reap(q, 1000000000ull, done, 16);
		for (i = 0; i < r; i++)
			if (n < max)
				order[n++] = done[i];
	}
	return n;
}

static void *page_buf(size_t len, int fill)
{
	void *p = aligned_alloc(4096, (len + 4095) / 4096 * 4096);

	memset(p, fill, (len + 4095) / 4096 * 4096);
	return p;
}

static void req_init(struct io_request *req, struct io_dev *dev, enum io_op op,
		     void *buf, uint64_t off, uint64_t len)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->dev = dev;
	req->buf = buf;
	req->offset = off;
	req->length = len;
}

static void test_write_flush_crash(void)
{
	struct io_queue *q;
	struct io_dev *d;
	struct io_request reqs[8], *order[8];
	uint8_t *buf = page_buf(8 * 4 * KiB, 0);
	bool shuffled = false;
	unsigned i, n;

	CHECK_EQ_INT(io_queue_create(&sim_backend, 4, &q), 0);
	sim_queue_setup(q, 42, (struct sim_latency) { 1000, 900000 },
			(struct sim_latency) { 1000, 2000 });
	CHECK_EQ_INT(sim_dev_create(q, "d", 64 * KiB, 512, 0, &d), 0);
	CHECK_EQ_INT(io_reserve(q, 8), 0);
	for (i = 0; i < 8; i++) {
		memset(buf + i * 4 * KiB, 'a' + (int)i, 4 * KiB);
		req_init(&reqs[i], d, IO_WRITE, buf + i * 4 * KiB, i * 4 * KiB, 4 * KiB);
		io_queue_request(&reqs[i]);
	}
	CHECK_EQ_INT(io_busy(q), 8);
	CHECK_EQ_U64(sim_dev_volatile(d)[0], 0);	/* nothing before commit */
	io_commit(q);
	n = drain(q, order, 8);
	CHECK_EQ_INT(n, 8);
	CHECK(sim_max_in_flight(q) <= 4);
	for (i = 0; i < 8; i++) {
		CHECK_EQ_INT(order[i]->result, 0);
		shuffled |= order[i] != &reqs[i];
	}
	CHECK(shuffled);	/* out-of-order completion */
	CHECK_EQ_U64(sim_dev_volatile(d)[7 * 4 * KiB], 'h');
	CHECK_EQ_U64(sim_dev_durable(d)[7 * 4 * KiB], 0);	/* not flushed */

	req_init(&reqs[0], d, IO_FLUSH, NULL, 0, 0);
	io_queue_request(&reqs[0]);
	io_commit(q);
	drain(q, order, 8);
	CHECK_EQ_INT(reqs[0].result, 0);
	CHECK(!memcmp(sim_dev_durable(d), sim_dev_volatile(d), 64 * KiB));

	/* Written after the flush: lost in a crash. */
	memset(buf, 'z', 4 * KiB);
	req_init(&reqs[1], d, IO_WRITE, buf, 0, 4 * KiB);
	io_queue_request(&reqs[1]);
	io_commit(q);
	drain(q, order, 8);
	CHECK_EQ_U64(sim_dev_volatile(d)[0], 'z');
	sim_crash(q);
	CHECK_EQ_U64(sim_dev_volatile(d)[0], 'a');
	req_init(&reqs[2], d, IO_WRITE, buf, 0, 4 * KiB);
	io_queue_request(&reqs[2]);
	io_commit(q);
	drain(q, order, 8);
	CHECK_EQ_INT(reqs[2].result, -EIO);
	CHECK_EQ_U64(sim_dev_volatile(d)[0], 'a');
	sim_revive(q);
	CHECK_EQ_INT(sim_violations(q, NULL), 0);
	io_queue_destroy(q);
	free(buf);
}

/* A flush covers only writes completed before it started. */
static void test_flush_window(void)
{
	struct io_queue *q;
	struct io_dev *d;
	struct io_request w, f, *order[4];
	uint8_t *buf = page_buf(4 * KiB, 'x');

	CHECK_EQ_INT(io_queue_create(&sim_backend, 4, &q), 0);
	/* Writes slow, flushes fast: the flush completes first. */
	sim_queue_setup(q, 1, (struct sim_latency) { 500000, 500000 },
			(struct sim_latency) { 1000, 1000 });
	CHECK_EQ_INT(sim_dev_create(q, "d", 16 * KiB, 512, 0, &d), 0);
	io_reserve(q, 2);
	req_init(&w, d, IO_WRITE, buf, 0, 4 * KiB);
	req_init(&f, d, IO_FLUSH, NULL, 0, 0);
	io_queue_request(&w);
	io_queue_request(&f);
	io_commit(q);
	CHECK_EQ_INT(drain(q, order, 4), 2);
	CHECK(order[0] == &f);
	CHECK_EQ_U64(sim_dev_volatile(d)[0], 'x');
	CHECK_EQ_U64(sim_dev_durable(d)[0], 0);
	CHECK_EQ_INT(sim_dev_flush_now(d), 0);
	CHECK_EQ_U64(sim_dev_durable(d)[0], 'x');
	io_queue_destroy(q);
	free(buf);
}

static void test_faults(void)
{
	struct io_queue *q;
	struct io_dev *d;
	struct io_request r, *order[4];
	uint8_t *buf = page_buf(8 * KiB, 'w');

	CHECK_EQ_INT(io_queue_create(&sim_backend, 4, &q), 0);
	CHECK_EQ_INT(sim_dev_create(q, "d", 64 * KiB, 512, 0, &d), 0);
	io_reserve(q, 4);
	CHECK_EQ_INT(sim_dev_add_fault(d, IO_WRITE, 6 * KiB, 512, EIO), 0);
	CHECK_EQ_INT(sim_dev_add_fault(d, IO_READ, 20 * KiB, 1024, ENOSPC), 0);
	CHECK_EQ_INT(sim_dev_add_fault(d, IO_FLUSH, 0, 0, EROFS), 0);

	req_init(&r, d, IO_WRITE, buf, 4 * KiB, 8 * KiB);
	io_queue_request(&r);
	io_commit(q);
	drain(q, order, 4);
	CHECK_EQ_INT(r.result, -EIO);
	CHECK_EQ_U64(sim_dev_volatile(d)[6 * KiB - 1], 'w');	/* the part before */
	CHECK_EQ_U64(sim_dev_volatile(d)[6 * KiB], 0);
	CHECK_EQ_INT(sim_dev_error_hits(d, IO_WRITE), 1);

	sim_dev_fill(d, 16 * KiB, buf, 8 * KiB);
	req_init(&r, d, IO_READ, buf, 16 * KiB, 8 * KiB);
	memset(buf, 0, 8 * KiB);
	io_queue_request(&r);
	io_commit(q);
	drain(q, order, 4);
	CHECK_EQ_INT(r.result, -ENOSPC);
	CHECK_EQ_U64(buf[0], 'w');
	CHECK_EQ_U64(buf[4 * KiB], 0xee);	/* garbage, not stale memory */
	CHECK_EQ_INT(sim_dev_hits(d, IO_READ), 1);

	/* Zeroing on a device that cannot: refused, and not an error hit. */
	req_init(&r, d, IO_ZERO, NULL, 0, 4 * KiB);
	io_queue_request(&r);
	io_commit(q);
	drain(q, order, 4);
	CHECK_EQ_INT(r.result, -IO_ENOZERO);
	CHECK_EQ_INT(sim_dev_error_hits(d, IO_ZERO), 0);

	req_init(&r, d, IO_FLUSH, NULL, 0, 0);
	io_queue_request(&r);
	io_commit(q);
	drain(q, order, 4);
	CHECK_EQ_INT(r.result, -EROFS);
	CHECK_EQ_U64(sim_dev_durable(d)[4 * KiB], 0);
	CHECK_EQ_INT(sim_dev_flush_now(d), -EROFS);
	sim_dev_clear_faults(d);
	CHECK_EQ_INT(sim_dev_flush_now(d), 0);
	CHECK_EQ_U64(sim_dev_durable(d)[4 * KiB], 'w');
	sim_dev_reset_hits(d);
	CHECK_EQ_INT(sim_dev_hits(d, IO_READ), 0);
	CHECK_EQ_INT(sim_violations(q, NULL), 0);
	io_queue_destroy(q);
	free(buf);
}

static void test_clock(void)
{
	struct io_queue *q;
	struct io_dev *d;
	struct io_request r, *done[4];
	uint8_t *buf = page_buf(4 * KiB, 1);
	uint64_t t0;

	CHECK_EQ_INT(io_queue_create(&sim_backend, 4, &q), 0);
	sim_queue_setup(q, 3, (struct sim_latency) { 5000000, 5000000 },
			(struct sim_latency) { 1, 1 });
	CHECK_EQ_INT(sim_dev_create(q, "d", 16 * KiB, 4096, 0, &d), 0);
	io_reserve(q, 1);
	t0 = io_now(q);
	CHECK_EQ_INT(io_reap(q, 100000000, done, 4), 0);	/* a sleep */
	CHECK_EQ_U64(io_now(q) - t0, 100000000);
	CHECK_EQ_U64(sim_busy_ns(q), 0);

	req_init(&r, d, IO_WRITE, buf, 0, 4 * KiB);
	io_queue_request(&r);
	io_commit(q);
	t0 = io_now(q);
	CHECK_EQ_INT(io_reap(q, 1000000, done, 4), 0);	/* times out first */
	CHECK_EQ_U64(io_now(q) - t0, 1000000);
	CHECK_EQ_INT(io_reap(q, 0, done, 4), 0);		/* a poll: a little time */
	CHECK(io_now(q) - t0 <= 1001000);
	CHECK_EQ_INT(io_reap(q, 1000000000, done, 4), 1);	/* to the completion */
	CHECK_EQ_U64(io_now(q) - t0, 5000000);
	CHECK_EQ_U64(sim_busy_ns(q), 5000000);
	CHECK_EQ_U64(sim_max_buffer_bytes(q), 4096);

	/* The write history */
	{
		size_t nr;
		const struct sim_write *w = sim_dev_writes(d, &nr);

		CHECK_EQ_INT(nr, 1);
		CHECK_EQ_U64(w[0].done_ns - w[0].queue_ns, 5000000);
		CHECK(!w[0].zeros);
	}
	io_queue_destroy(q);
	free(buf);
}

static void test_extents_zoned_contract(void)
{
	struct io_queue *q;
	struct io_dev *x, *z;
	struct io_request r[3], *order[4];
	uint8_t *buf = page_buf(8 * KiB, 2);
	uint64_t data, hole;
	const char *why;

	CHECK_EQ_INT(io_queue_create(&sim_backend, 8, &q), 0);
	CHECK_EQ_INT(sim_dev_create(q, "x", 64 * KiB, 512, SIM_EXTENTS, &x), 0);
	CHECK_EQ_INT(sim_dev_create(q, "z", 64 * KiB, 4096, SIM_ZONED | SIM_CAN_ZERO, &z), 0);
	CHECK_EQ_INT(io_next_data(x, 0, &data, &hole), -ENXIO);
	sim_dev_set_data(x, 8 * KiB, 4 * KiB);
	sim_dev_set_data(x, 32 * KiB, 1 * KiB);
	CHECK_EQ_INT(io_next_data(x, 0, &data, &hole), 0);
	CHECK_EQ_U64(data, 8 * KiB);
	CHECK_EQ_U64(hole, 12 * KiB);
	CHECK_EQ_INT(io_next_data(x, 9 * KiB, &data, &hole), 0);
	CHECK_EQ_U64(data, 9 * KiB);
	CHECK_EQ_INT(io_next_data(x, 12 * KiB, &data, &hole), 0);
	CHECK_EQ_U64(data, 32 * KiB);
	CHECK_EQ_INT(io_next_data(x, 33 * KiB, &data, &hole), -ENXIO);

	io_reserve(q, 3);
	sim_dev_set_wp(z, 8 * KiB);
	req_init(&r[0], z, IO_WRITE, buf, 8 * KiB, 4 * KiB);
	req_init(&r[1], z, IO_WRITE, buf, 16 * KiB, 4 * KiB);	/* above the wp */
	req_init(&r[2], z, IO_ZERO, NULL, 12 * KiB, 4 * KiB);
	io_queue_request(&r[0]);
	io_queue_request(&r[1]);
	io_queue_request(&r[2]);
	io_commit(q);
	drain(q, order, 4);
	CHECK_EQ_INT(r[0].result, 0);
	CHECK_EQ_INT(r[1].result, -EIO);
	CHECK_EQ_INT(r[2].result, 0);
	CHECK_EQ_INT(sim_violations(q, NULL), 0);

	req_init(&r[0], x, IO_READ, buf + 256, 0, 512);	/* misaligned buffer */
	io_queue_request(&r[0]);
	req_init(&r[1], z, IO_READ, buf, 512, 512);	/* off the block size */
	io_queue_request(&r[1]);
	CHECK_EQ_INT(sim_violations(q, &why), 2);
	CHECK(strstr(why, "aligned") != NULL);
	io_commit(q);
	CHECK_EQ_INT(drain(q, order, 4), 2);	/* recorded, but done */
	req_init(&r[0], x, IO_READ, buf, 60 * KiB, 8 * KiB);	/* beyond the end */
	io_queue_request(&r[0]);
	CHECK_EQ_INT(sim_violations(q, NULL), 3);
	CHECK_EQ_INT(io_busy(q), 0);	/* that one is never taken */
	req_init(&r[0], x, IO_READ, buf + 512, 0, 512);
	io_queue_request(&r[0]);
	CHECK_EQ_INT(sim_violations(q, NULL), 3);	/* block-aligned is enough */
	io_commit(q);
	drain(q, order, 4);
	io_queue_destroy(q);
	free(buf);
}

int main(void)
{
	test_write_flush_crash();
	test_flush_window();
	test_faults();
	test_clock();
	test_extents_zoned_contract();
	return unit_summary();
}
