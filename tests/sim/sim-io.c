// SPDX-License-Identifier: GPL-2.0
/*
 * sim-io.c - see sim-io.h.
 *
 * Request state lives in io_request.priv (the contract gives the backend
 * that room), so the backend needs no allocation per request. A request
 * goes: gathered (io_queue_request) -> waiting (committed, beyond the
 * depth) -> in flight (started: its completion time drawn) -> reaped.
 * Its effect on the images is applied when it completes, as a device
 * changes its media only at some point while the request is in flight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim-io.h"

/* Granularity of durability and extents bookkeeping. */
#define SIM_BLK 512u
#define PAGE 4096u

/* priv[] slots */
enum { P_STATE, P_DONE_NS, P_WRITE_IDX, P_FLUSH_GEN, P_QUEUE_NS, P_REFUSED };

/* P_STATE values: unlikely enough as garbage in a fresh request. */
#define ST_GATHERED 0x53494d4741544852ull
#define ST_WAITING 0x53494d5741495447ull
#define ST_FLIGHT 0x53494d464c494748ull
#define ST_REAPED 0x53494d5245415044ull

struct sim_fault {
	enum io_op op;
	uint64_t start, end;
	int error;
};

struct sim_queue;

struct sim_dev {
	struct io_dev_base base;	/* first: an io_dev */
	struct sim_queue *q;
	char name[32];
	unsigned flags;
	uint8_t *vol, *dur;
	uint64_t *gen;		/* per SIM_BLK: completion gen of its last write, 0 clean */
	uint8_t *data_map;	/* SIM_EXTENTS: per SIM_BLK, 1 = data */
	uint64_t wp;
	struct sim_fault *faults;
	size_t nr_faults;
	unsigned hits[4], err_hits[4];
	uint64_t requests[4];
	struct sim_write *writes;
	size_t nr_writes, cap_writes;
	unsigned writes_in_flight;
};

/* A growable array of request pointers. */
struct req_vec {
	struct io_request **v;
	size_t nr, cap;
};

struct sim_queue {
	struct io_queue_base base;	/* first: an io_queue */
	unsigned depth, reserved;
	uint64_t now, busy_ns, gen;
	unsigned queue_seq;
	struct sim_rng rng;
	struct sim_latency io_lat, flush_lat;
	struct req_vec gathered, waiting, flight;
	struct sim_dev **devs;
	size_t nr_devs;
	bool crashed;
	uint64_t events;
	sim_event_fn on_event;
	void *event_ctx;
	uint64_t max_buffer_bytes;
	unsigned max_in_flight;
	uint64_t empty_polls;
	unsigned violations;
	char first_violation[256];
};

/* --- the PRNG ------------------------------------------------------------ */

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t n)
{
	return n ? sim_rng_next(r) % n : 0;
}

uint64_t sim_rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
	return hi <= lo ? lo : lo + sim_rng_below(r, hi - lo + 1);
}

bool sim_rng_pct(struct sim_rng *r, unsigned pct)
{
	return sim_rng_below(r, 100) < pct;
}

/* --- helpers ------------------------------------------------------------- */

static struct sim_queue *SQ(struct io_queue *q)
{
	return (struct sim_queue *)q;
}

static const struct sim_queue *CSQ(const struct io_queue *q)
{
	return (const struct sim_queue *)q;
}

static struct sim_dev *SD(struct io_dev *d)
{
	return (struct sim_dev *)d;
}

static const struct sim_dev *CSD(const struct io_dev *d)
{
	return (const struct sim_dev *)d;
}

static void violation(struct sim_queue *q, const char *fmt, ...)
{
	va_list ap;

	if (q->violations++)
		return;
	va_start(ap, fmt);
	vsnprintf(q->first_violation, sizeof(q->first_violation), fmt, ap);
	va_end(ap);
}

static void vec_push(struct req_vec *v, struct io_request *req)
{
	if (v->nr == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->v = realloc(v->v, v->cap * sizeof(*v->v));
		if (!v->v)
			abort();	/* a test harness: no graceful ENOMEM */
	}
	v->v[v->nr++] = req;
}

static void vec_del(struct req_vec *v, size_t i)
{
	v->v[i] = v->v[--v->nr];
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

static uint64_t draw(struct sim_queue *q, struct sim_latency l)
{
	return sim_rng_range(&q->rng, l.min_ns, l.max_ns);
}

/* --- time ----------------------------------------------------------------- */

/* Only ever called when no request in flight is already complete. */
static void advance(struct sim_queue *q, uint64_t dt)
{
	if (q->flight.nr)
		q->busy_ns += dt;
	q->now += dt;
}

/* Start waiting requests while there is room in the depth. */
static void start_waiting(struct sim_queue *q)
{
	struct io_request *req;

	while (q->waiting.nr && q->flight.nr < q->depth) {
		req = q->waiting.v[0];
		memmove(q->waiting.v, q->waiting.v + 1,
			--q->waiting.nr * sizeof(*q->waiting.v));
		req->priv[P_STATE] = ST_FLIGHT;
		req->priv[P_DONE_NS] = q->now +
			draw(q, req->op == IO_FLUSH ? q->flush_lat : q->io_lat);
		/* A flush covers what completed before it started. */
		req->priv[P_FLUSH_GEN] = q->gen;
		vec_push(&q->flight, req);
	}
	if (q->flight.nr > q->max_in_flight)
		q->max_in_flight = (unsigned)q->flight.nr;
}

/* --- faults and media ------------------------------------------------------ */

static const struct sim_fault *find_fault(const struct sim_dev *d, enum io_op op,
					  uint64_t start, uint64_t end)
{
	size_t i;

	for (i = 0; i < d->nr_faults; i++) {
		const struct sim_fault *f = &d->faults[i];

		if (f->op != op)
			continue;
		if (op == IO_FLUSH || (f->start < end && start < f->end))
			return f;
	}
	return NULL;
}

/* The first faulted byte in [start, end) for @op, or @end. */
static uint64_t first_fault(const struct sim_dev *d, enum io_op op,
			    uint64_t start, uint64_t end)
{
	uint64_t first = end;
	size_t i;

	for (i = 0; i < d->nr_faults; i++) {
		const struct sim_fault *f = &d->faults[i];

		if (f->op == op && f->start < end && start < f->end)
			first = f->start > start ? (f->start < first ? f->start : first) : start;
	}
	return first;
}

static void mark_written(struct sim_dev *d, uint64_t start, uint64_t end)
{
	uint64_t b;

	if (start >= end)
		return;
	d->q->gen++;
	for (b = start / SIM_BLK; b < round_up(end, SIM_BLK) / SIM_BLK; b++) {
		d->gen[b] = d->q->gen;
		if (d->data_map)
			d->data_map[b] = 1;
	}
}

static void do_read(struct sim_dev *d, struct io_request *req, uint64_t fail_at)
{
	uint64_t end = req->offset + req->length;
	uint64_t full = round_up(req->length, d->base.info.block_size);
	uint8_t *buf = req->buf;

	memcpy(buf, d->vol + req->offset, req->length);
	/* What O_DIRECT reads past the length is not the engine's to use. */
	memset(buf + req->length, 0xa5, full - req->length);
	if (fail_at < end)	/* garbage where the media failed */
		memset(buf + (fail_at - req->offset), 0xee, end - fail_at);
}

static void do_write(struct sim_dev *d, struct io_request *req, uint64_t upto)
{
	uint64_t len = upto - req->offset;

	if (req->op == IO_ZERO)
		memset(d->vol + req->offset, 0, len);
	else
		memcpy(d->vol + req->offset, req->buf, len);
	mark_written(d, req->offset, upto);
}

static void do_flush(struct sim_dev *d, uint64_t upto_gen)
{
	uint64_t b, nr = round_up(d->base.info.size, SIM_BLK) / SIM_BLK;
	uint64_t off, len;

	for (b = 0; b < nr; b++) {
		if (!d->gen[b] || d->gen[b] > upto_gen)
			continue;
		off = b * SIM_BLK;
		len = d->base.info.size - off < SIM_BLK ? d->base.info.size - off : SIM_BLK;
		memcpy(d->dur + off, d->vol + off, len);
		d->gen[b] = 0;
	}
}

static int zero_refused(const struct sim_dev *d, const struct io_request *req)
{
	if (!(d->flags & SIM_CAN_ZERO))
		return -IO_ENOZERO;
	if ((req->flags & IO_ZERO_DEALLOCATE) && !(d->flags & SIM_CAN_DEALLOCATE))
		return -IO_ENOZERO;
	return 0;
}

static void count_hit(struct sim_dev *d, enum io_op op, int error)
{
	d->hits[op]++;
	if (error != IO_ENOZERO)
		d->err_hits[op]++;
}

/* The request's effect and result, at its completion. */
static int complete(struct sim_dev *d, struct io_request *req)
{
	uint64_t end = req->offset + req->length, fail_at;
	const struct sim_fault *f;
	int r;

	if (d->q->crashed)
		return -EIO;
	if (req->op == IO_ZERO && (r = zero_refused(d, req)))
		return r;
	f = find_fault(d, req->op, req->offset, end);
	if (f)
		count_hit(d, req->op, f->error);
	switch (req->op) {
	case IO_READ:
		fail_at = f ? first_fault(d, IO_READ, req->offset, end) : end;
		do_read(d, req, fail_at);
		break;
	case IO_WRITE:
	case IO_ZERO:
		/* A short write, then the error: the part before is on the media. */
		if (f && f->error == IO_ENOZERO)
			return -IO_ENOZERO;
		do_write(d, req, f ? first_fault(d, req->op, req->offset, end) : end);
		break;
	case IO_FLUSH:
		if (!f)
			do_flush(d, req->priv[P_FLUSH_GEN]);
		break;
	}
	return f ? -f->error : 0;
}

/* --- the contract's checks at queue time -------------------------------- */

static bool check_request(struct sim_queue *q, struct sim_dev *d,
			  const struct io_request *req)
{
	const struct io_dev_info *in = &d->base.info;

	if (req->priv[P_STATE] == ST_GATHERED || req->priv[P_STATE] == ST_WAITING ||
	    req->priv[P_STATE] == ST_FLIGHT) {
		violation(q, "%s: a request queued again before it was reaped", d->name);
		return false;
	}
	if (req->op == IO_FLUSH)
		return true;
	/* Recorded, but done: the run goes on, for the other invariants. */
	if (req->offset % in->block_size)
		violation(q, "%s: op %d [%llu, +%llu): not at a multiple of block size %u",
			  d->name, req->op, (unsigned long long)req->offset,
			  (unsigned long long)req->length, in->block_size);
	if (req->offset > in->size || req->length > in->size - req->offset) {
		violation(q, "%s: op %d [%llu, +%llu) beyond the size %llu", d->name, req->op,
			  (unsigned long long)req->offset, (unsigned long long)req->length,
			  (unsigned long long)in->size);
		return false;
	}
	if (req->op != IO_ZERO && !req->buf) {
		violation(q, "%s: op %d at %llu: no buffer", d->name, req->op,
			  (unsigned long long)req->offset);
		return false;
	}
	if (req->op != IO_ZERO && (uintptr_t)req->buf % in->block_size)
		violation(q, "%s: op %d [%llu, +%llu): buffer %p not block-aligned", d->name,
			  req->op, (unsigned long long)req->offset,
			  (unsigned long long)req->length, req->buf);
	return true;
}

static void record_write(struct sim_queue *q, struct sim_dev *d,
			 struct io_request *req)
{
	struct sim_write *w;

	if (d->nr_writes == d->cap_writes) {
		d->cap_writes = d->cap_writes ? d->cap_writes * 2 : 64;
		d->writes = realloc(d->writes, d->cap_writes * sizeof(*d->writes));
		if (!d->writes)
			abort();
	}
	w = &d->writes[d->nr_writes++];
	*w = (struct sim_write) {
		.op = req->op, .offset = req->offset, .length = req->length,
		.queue_ns = q->now, .queue_seq = q->queue_seq,
		.zeros = req->op == IO_ZERO || all_zero(req->buf, req->length),
		.in_flight_before = d->writes_in_flight,
	};
	d->writes_in_flight++;
	req->priv[P_WRITE_IDX] = d->nr_writes;
}

/* A zoned device takes a write only at its write pointer. */
static bool zoned_refuses(struct sim_dev *d, const struct io_request *req)
{
	if (!(d->flags & SIM_ZONED) || (req->op != IO_WRITE && req->op != IO_ZERO))
		return false;
	if (req->offset != d->wp)
		return true;
	d->wp = req->offset + req->length;
	return false;
}

/* --- the backend's operations ------------------------------------------- */

static int sim_create(unsigned depth, struct io_queue **out)
{
	struct sim_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->depth = depth;
	q->now = 1000000000ull;	/* not 0: a zero time hides bugs */
	sim_rng_seed(&q->rng, 1);
	q->io_lat = (struct sim_latency) { 1000, 100000 };
	q->flush_lat = (struct sim_latency) { 10000, 1000000 };
	*out = (struct io_queue *)q;
	return 0;
}

static void dev_free(struct sim_dev *d)
{
	free(d->vol);
	free(d->dur);
	free(d->gen);
	free(d->data_map);
	free(d->faults);
	free(d->writes);
	free(d);
}

static void sim_destroy(struct io_queue *qq)
{
	struct sim_queue *q = SQ(qq);
	size_t i;

	for (i = 0; i < q->nr_devs; i++)
		dev_free(q->devs[i]);
	free(q->devs);
	free(q->gathered.v);
	free(q->waiting.v);
	free(q->flight.v);
	free(q);
}

static unsigned sim_depth(const struct io_queue *q)
{
	return CSQ(q)->depth;
}

static int sim_reserve(struct io_queue *q, unsigned nr)
{
	SQ(q)->reserved = nr;
	return 0;
}

static void sim_detach(struct io_dev *dev)
{
	struct sim_dev *d = SD(dev);
	struct sim_queue *q = d->q;
	size_t i;

	for (i = 0; i < q->nr_devs; i++)
		if (q->devs[i] == d)
			q->devs[i] = q->devs[--q->nr_devs];
	dev_free(d);
}

static void sim_describe(const struct io_dev *dev, struct io_dev_info *info)
{
	*info = CSD(dev)->base.info;
}

static int sim_next_data(struct io_dev *dev, uint64_t offset, uint64_t *data,
			 uint64_t *hole)
{
	struct sim_dev *d = SD(dev);
	uint64_t size = d->base.info.size, b, e, nr = round_up(size, SIM_BLK) / SIM_BLK;

	if (!d->data_map)
		return -EOPNOTSUPP;
	for (b = offset / SIM_BLK; b < nr && !d->data_map[b]; b++)
		;
	if (b >= nr || offset >= size)
		return -ENXIO;
	for (e = b; e < nr && d->data_map[e]; e++)
		;
	*data = b * SIM_BLK > offset ? b * SIM_BLK : offset;
	*hole = e * SIM_BLK < size ? e * SIM_BLK : size;
	return 0;
}

static void sim_queue(struct io_queue *qq, struct io_request *req)
{
	struct sim_queue *q = SQ(qq);
	struct sim_dev *d = SD(req->dev);

	if (!check_request(q, d, req))
		return;	/* a broken request is never completed: the run hangs */
	if (q->gathered.nr >= q->reserved)
		violation(q, "%s: %zu requests gathered, %u reserved", d->name,
			  q->gathered.nr + 1, q->reserved);
	req->priv[P_STATE] = ST_GATHERED;
	req->priv[P_WRITE_IDX] = 0;
	d->requests[req->op]++;
	req->priv[P_QUEUE_NS] = q->now;
	q->queue_seq++;
	if (req->op == IO_WRITE || req->op == IO_ZERO)
		record_write(q, d, req);
	/* Decided now: a zoned device sees writes in the order they come. */
	req->priv[P_FLUSH_GEN] = 0;
	req->priv[P_REFUSED] = zoned_refuses(d, req);	/* fails at completion */
	vec_push(&q->gathered, req);
}

/* Pages of buffer memory in flight (reads, and writes of anything but zeros). */
static int cmp_range(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void add_buffers(const struct req_vec *v, uint64_t (*r)[2], size_t *n)
{
	size_t i;

	for (i = 0; i < v->nr; i++) {
		const struct io_request *req = v->v[i];
		const struct sim_dev *d = CSD(req->dev);
		uintptr_t p = (uintptr_t)req->buf;

		if (req->op == IO_READ || (req->op == IO_WRITE &&
		    !d->writes[req->priv[P_WRITE_IDX] - 1].zeros)) {
			r[*n][0] = p / PAGE * PAGE;
			r[*n][1] = round_up(p + round_up(req->length, d->base.info.block_size), PAGE);
			(*n)++;
		}
	}
}

static void account_buffers(struct sim_queue *q)
{
	size_t n = 0, i, total = q->gathered.nr + q->waiting.nr + q->flight.nr;
	uint64_t (*r)[2], bytes = 0, end = 0;

	if (!total)
		return;
	r = malloc(total * sizeof(*r));
	if (!r)
		abort();
	add_buffers(&q->gathered, r, &n);
	add_buffers(&q->waiting, r, &n);
	add_buffers(&q->flight, r, &n);
	qsort(r, n, sizeof(*r), cmp_range);
	for (i = 0; i < n; i++) {
		if (r[i][0] < end)
			r[i][0] = end;
		if (r[i][1] > r[i][0]) {
			bytes += r[i][1] - r[i][0];
			end = r[i][1];
		}
	}
	if (bytes > q->max_buffer_bytes)
		q->max_buffer_bytes = bytes;
	free(r);
}

static void sim_commit(struct io_queue *qq)
{
	struct sim_queue *q = SQ(qq);
	size_t i;

	for (i = 0; i < q->gathered.nr; i++) {
		q->gathered.v[i]->priv[P_STATE] = ST_WAITING;
		vec_push(&q->waiting, q->gathered.v[i]);
	}
	q->gathered.nr = 0;
	account_buffers(q);
	start_waiting(q);
}

static uint64_t next_done(const struct sim_queue *q)
{
	uint64_t t = UINT64_MAX;
	size_t i;

	for (i = 0; i < q->flight.nr; i++)
		if (q->flight.v[i]->priv[P_DONE_NS] < t)
			t = q->flight.v[i]->priv[P_DONE_NS];
	return t;
}

/* Hand back one completed request: its effect, result and history. */
static void finish(struct sim_queue *q, struct io_request *req)
{
	struct sim_dev *d = SD(req->dev);
	struct sim_write *w;

	if (req->priv[P_REFUSED])
		req->result = -EIO;	/* a zoned device refused it */
	else
		req->result = complete(d, req);
	req->priv[P_STATE] = ST_REAPED;
	if (req->priv[P_WRITE_IDX]) {
		w = &d->writes[req->priv[P_WRITE_IDX] - 1];
		w->done_ns = q->now;
		w->result = req->result;
		d->writes_in_flight--;
	}
}

/* The earliest completed request in flight, or -1. */
static long earliest_ready(const struct sim_queue *q)
{
	uint64_t best = UINT64_MAX;
	long at = -1;
	size_t i;

	for (i = 0; i < q->flight.nr; i++) {
		uint64_t t = q->flight.v[i]->priv[P_DONE_NS];

		if (t <= q->now && t < best) {
			best = t;
			at = (long)i;
		}
	}
	return at;
}

static int sim_reap(struct io_queue *qq, uint64_t timeout_ns,
		    struct io_request **done, unsigned max)
{
	struct sim_queue *q = SQ(qq);
	uint64_t next;
	unsigned n = 0;
	long i;

	start_waiting(q);
	if (!q->flight.nr) {
		/* A poll costs a little time, so that a busy loop still ends. */
		advance(q, timeout_ns ? timeout_ns : 1000);
		q->empty_polls += !timeout_ns;
		return 0;
	}
	next = next_done(q);
	if (next > q->now)	/* a poll without a wait still costs a little time */
		advance(q, next - q->now < (timeout_ns ? timeout_ns : 1000) ?
			next - q->now : (timeout_ns ? timeout_ns : 1000));
	if (!timeout_ns && earliest_ready(q) < 0)
		q->empty_polls++;
	while (n < max && (i = earliest_ready(q)) >= 0) {
		done[n] = q->flight.v[i];
		vec_del(&q->flight, (size_t)i);
		finish(q, done[n++]);
		q->events++;
		if (q->on_event)
			q->on_event(q->event_ctx, q->events);
	}
	start_waiting(q);
	return (int)n;
}

static unsigned sim_busy(const struct io_queue *qq)
{
	const struct sim_queue *q = CSQ(qq);

	return (unsigned)(q->gathered.nr + q->waiting.nr + q->flight.nr);
}

static uint64_t sim_now(const struct io_queue *q)
{
	return CSQ(q)->now;
}

static int sim_poll_fd(const struct io_queue *q)
{
	(void)q;
	return -1;
}

const struct io_backend sim_backend = {
	.name = "sim",
	.create = sim_create,
	.destroy = sim_destroy,
	.depth = sim_depth,
	.reserve = sim_reserve,
	.attach = NULL,		/* it makes its own devices */
	.detach = sim_detach,
	.describe = sim_describe,
	.next_data = sim_next_data,
	.queue = sim_queue,
	.commit = sim_commit,
	.reap = sim_reap,
	.busy = sim_busy,
	.now = sim_now,
	.poll_fd = sim_poll_fd,
	.stalled = NULL,
};

/* --- the driver's side ----------------------------------------------------- */

void sim_queue_setup(struct io_queue *qq, uint64_t seed, struct sim_latency io,
		     struct sim_latency flush)
{
	struct sim_queue *q = SQ(qq);

	sim_rng_seed(&q->rng, seed);
	q->io_lat = io;
	q->flush_lat = flush;
}


void sim_queue_on_event(struct io_queue *q, sim_event_fn fn, void *ctx)
{
	SQ(q)->on_event = fn;
	SQ(q)->event_ctx = ctx;
}

int sim_dev_create(struct io_queue *qq, const char *name, uint64_t size,
		   unsigned block_size, unsigned flags, struct io_dev **out)
{
	struct sim_queue *q = SQ(qq);
	uint64_t nr_blk = round_up(size, SIM_BLK) / SIM_BLK;
	struct sim_dev *d = calloc(1, sizeof(*d));
	struct sim_dev **devs;

	if (!d)
		return -ENOMEM;
	d->q = q;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->flags = flags;
	d->vol = calloc(1, size + 1);
	d->dur = calloc(1, size + 1);
	d->gen = calloc(nr_blk + 1, sizeof(*d->gen));
	d->data_map = flags & SIM_EXTENTS ? calloc(1, nr_blk + 1) : NULL;
	devs = realloc(q->devs, (q->nr_devs + 1) * sizeof(*devs));
	if (!d->vol || !d->dur || !d->gen || ((flags & SIM_EXTENTS) && !d->data_map) || !devs) {
		if (devs)
			q->devs = devs;
		dev_free(d);
		return -ENOMEM;
	}
	q->devs = devs;
	q->devs[q->nr_devs++] = d;
	d->base.queue = qq;
	d->base.info = (struct io_dev_info) {
		.size = size, .block_size = block_size,
		.zoned = flags & SIM_ZONED, .can_zero = flags & SIM_CAN_ZERO,
		.can_deallocate = flags & SIM_CAN_DEALLOCATE,
		.extents = flags & SIM_EXTENTS,
	};
	*out = (struct io_dev *)d;
	return 0;
}

const char *sim_dev_name(const struct io_dev *dev)
{
	return CSD(dev)->name;
}

uint8_t *sim_dev_volatile(struct io_dev *dev)
{
	return SD(dev)->vol;
}

const uint8_t *sim_dev_durable(const struct io_dev *dev)
{
	return CSD(dev)->dur;
}

void sim_dev_fill(struct io_dev *dev, uint64_t offset, const void *data,
		  uint64_t length)
{
	memcpy(SD(dev)->vol + offset, data, length);
	memcpy(SD(dev)->dur + offset, data, length);
}

void sim_dev_set_data(struct io_dev *dev, uint64_t offset, uint64_t length)
{
	struct sim_dev *d = SD(dev);
	uint64_t b;

	for (b = offset / SIM_BLK; d->data_map && b < round_up(offset + length, SIM_BLK) / SIM_BLK; b++)
		d->data_map[b] = 1;
}

void sim_dev_set_wp(struct io_dev *dev, uint64_t offset)
{
	SD(dev)->wp = offset;
}

int sim_dev_add_fault(struct io_dev *dev, enum io_op op, uint64_t offset,
		      uint64_t length, int error)
{
	struct sim_dev *d = SD(dev);
	struct sim_fault *f = realloc(d->faults, (d->nr_faults + 1) * sizeof(*f));

	if (!f)
		return -ENOMEM;
	d->faults = f;
	f[d->nr_faults++] = (struct sim_fault) { op, offset, offset + length, error };
	return 0;
}

void sim_dev_clear_faults(struct io_dev *dev)
{
	SD(dev)->nr_faults = 0;
}

unsigned sim_dev_hits(const struct io_dev *dev, enum io_op op)
{
	return CSD(dev)->hits[op];
}

unsigned sim_dev_error_hits(const struct io_dev *dev, enum io_op op)
{
	return CSD(dev)->err_hits[op];
}

uint64_t sim_dev_requests(const struct io_dev *dev, enum io_op op)
{
	return CSD(dev)->requests[op];
}

void sim_dev_reset_hits(struct io_dev *dev)
{
	memset(SD(dev)->hits, 0, sizeof(SD(dev)->hits));
	memset(SD(dev)->err_hits, 0, sizeof(SD(dev)->err_hits));
}

int sim_dev_flush_now(struct io_dev *dev)
{
	struct sim_dev *d = SD(dev);
	const struct sim_fault *f;

	if (d->q->crashed)
		return -EIO;
	f = find_fault(d, IO_FLUSH, 0, 0);
	if (f) {
		count_hit(d, IO_FLUSH, f->error);
		return -f->error;
	}
	do_flush(d, d->q->gen);
	return 0;
}

void sim_crash(struct io_queue *qq)
{
	struct sim_queue *q = SQ(qq);
	struct sim_dev *d;
	size_t i;

	for (i = 0; i < q->nr_devs; i++) {
		d = q->devs[i];
		memcpy(d->vol, d->dur, d->base.info.size);
		memset(d->gen, 0, round_up(d->base.info.size, SIM_BLK) / SIM_BLK * sizeof(*d->gen));
	}
	q->crashed = true;
}

void sim_revive(struct io_queue *qq)
{
	struct sim_queue *q = SQ(qq);

	if (sim_busy(qq))
		violation(q, "revived with %u requests not reaped", sim_busy(qq));
	q->crashed = false;
}

bool sim_crashed(const struct io_queue *q)
{
	return CSQ(q)->crashed;
}

const struct sim_write *sim_dev_writes(const struct io_dev *dev, size_t *nr)
{
	*nr = CSD(dev)->nr_writes;
	return CSD(dev)->writes;
}

void sim_dev_clear_writes(struct io_dev *dev)
{
	if (SD(dev)->writes_in_flight)
		violation(SD(dev)->q, "%s: history cleared with writes in flight",
			  SD(dev)->name);
	SD(dev)->nr_writes = 0;
}

uint64_t sim_busy_ns(const struct io_queue *q)
{
	return CSQ(q)->busy_ns;
}

uint64_t sim_max_buffer_bytes(const struct io_queue *q)
{
	return CSQ(q)->max_buffer_bytes;
}

void sim_reset_max_buffer_bytes(struct io_queue *q)
{
	SQ(q)->max_buffer_bytes = 0;
}

static bool vec_uses(const struct req_vec *v, uintptr_t p, uintptr_t e)
{
	size_t i;

	for (i = 0; i < v->nr; i++) {
		const struct io_request *req = v->v[i];
		uintptr_t b = (uintptr_t)req->buf;
		uint64_t len = round_up(req->length, CSD(req->dev)->base.info.block_size);

		if ((req->op == IO_READ || req->op == IO_WRITE) && b < e && p < b + len)
			return true;
	}
	return false;
}

bool sim_buffer_in_flight(const struct io_queue *qq, const void *p, size_t len)
{
	const struct sim_queue *q = CSQ(qq);
	uintptr_t s = (uintptr_t)p, e = s + len;

	return vec_uses(&q->gathered, s, e) || vec_uses(&q->waiting, s, e) ||
	       vec_uses(&q->flight, s, e);
}

uint64_t sim_empty_polls(const struct io_queue *q)
{
	return CSQ(q)->empty_polls;
}

uint64_t sim_events(const struct io_queue *q)
{
	return CSQ(q)->events;
}

unsigned sim_max_in_flight(const struct io_queue *q)
{
	return CSQ(q)->max_in_flight;
}

unsigned sim_violations(const struct io_queue *q, const char **first)
{
	if (first)
		*first = CSQ(q)->first_violation;
	return CSQ(q)->violations;
}
