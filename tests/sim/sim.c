// SPDX-License-Identifier: GPL-2.0
/*
 * sim.c - the real engine (src/kcopyd.c) and the real resume map
 * (src/map.c) on the simulated backend, through seeded random scenarios.
 *
 *   build/sim/sim [--seeds=N] [--base=B] [--seed=S] [-v] [--null-tick]
 *
 * --details=N prints every message of the first N failed seeds (10), then
 * one line per seed. --null-tick runs the verifies
 * with no tick callback too, as the stage flushes always are (session.c);
 * --lax-stop lets a fault hit after a stop be missing from read_err/write_err.
 *
 * Each seed draws a scenario: a client configuration, groups of copy and
 * zero jobs (1..8 destinations, flags, sizes, offsets, unaligned tails),
 * devices (block sizes, zeroing offload, zoned, extents), faults, and an
 * interruption (a stop from a tick or a chunk callback, or a crash at a
 * random completion). It runs the jobs as src/main.c does (groups with a
 * barrier between them, the map noted on chunk_done and committed after a
 * flush, failures noted first), then resumes from the saved map with the
 * faults gone until the copy is complete, and checks invariants all along
 * (see check_* below). A failing seed prints the command that replays it.
 *
 * Time is the sim's fake clock: a throttled copy takes no wall time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kcopyd.h"
#include "map.h"
#include "pool.h"
#include "ranges.h"
#include "sim-io.h"

#define KiB 1024ull
#define MAX_JOBS 6
#define TICK_MS 10
#define MAX_FAILS 8
#define MAX_RUN_NS (3600 * 1000000000ull)
#define SEED_WALL_S 20	/* a seed that hangs in wall time: reported, then exit */

/* One planted fault, device-absolute. */
struct fault {
	struct io_dev *dev;
	enum io_op op;
	uint64_t start, end;
	int error;
	bool verify_only;	/* planted for the verify pass */
};

struct sjob {
	struct world *w;
	size_t index;
	unsigned group;
	bool zero;
	unsigned flags, eff_flags;
	struct kc_io_region src;
	unsigned nd;
	struct kc_io_region dst[KC_MAX_DESTS];
	uint64_t length;	/* the job's: source count, or longest zero region */
	uint8_t *expect;	/* length bytes: what every destination must hold */
	uint8_t *initial[KC_MAX_DESTS];	/* each destination device at the start */
	struct kc_job *kj;
	struct range_set cb_done;	/* chunk_done ranges, this run (relative) */
	struct range_set map_done_start;	/* the map's done at the run's start */
	unsigned completes;
	/* ops.data (some copies): the source's data in order, as it is. */
	bool gated;
	uint64_t gate_next, gate_seen;
	int cb_read_err;
	unsigned long cb_write_err;
	char names[160];
};

struct world {
	uint64_t seed;
	bool verbose;
	struct sim_rng rng;
	struct kc_client_config cfg;
	struct io_queue *q;
	struct sjob jobs[MAX_JOBS];
	size_t nr_jobs;
	unsigned nr_groups;
	struct fault faults[16];
	size_t nr_faults;
	struct map *map;
	char map_path[256];
	struct map_job_desc descs[MAX_JOBS];
	/* This run */
	unsigned run_no;
	struct kc_client *kc;
	bool crashed, stopped;
	uint64_t crash_event;	/* 0: none */
	unsigned stop_tick, stop_chunk, ticks, chunks, commit_every;
	bool throttle_check, rate_check;
	uint64_t run_start_ns;
	uint64_t flush_polls, flush_events;	/* of the flush stages, checked there */
	/* Results */
	unsigned fails;
	char *fail_msgs[MAX_FAILS];
};

/* --null-tick: verifies run without a tick callback (flushes always do). */
static bool null_tick;
/*
 * A fault hit after a stop must still be in read_err/write_err (the
 * engine reports a chunk cut short by the stop); --lax-stop: it may not.
 */
static bool strict_stop = true;

/* The run the pool wrappers check against (one at a time). */
static struct world *current;

static void fail(struct world *w, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (w->fails < MAX_FAILS)
		w->fail_msgs[w->fails] = msg;
	else
		free(msg);
	w->fails++;
}

#define FAIL_IF(w, cond, ...) do { if (cond) fail(w, __VA_ARGS__); } while (0)

static void vlog(const struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* --- the pool, watched (linked with -Wl,--wrap=pool_create,...) ---------- */

int __real_pool_create(size_t slot_size, unsigned nr_slots, struct pool **out);
void __real_pool_put(struct pool *pool, void *slot);
int __wrap_pool_create(size_t slot_size, unsigned nr_slots, struct pool **out);
void __wrap_pool_put(struct pool *pool, void *slot);

int __wrap_pool_create(size_t slot_size, unsigned nr_slots, struct pool **out)
{
	if (current)
		FAIL_IF(current, (uint64_t)slot_size * nr_slots > current->cfg.memory,
			"pool: %u slots of %zu bytes exceed the memory bound %" PRIu64,
			nr_slots, slot_size, current->cfg.memory);
	return __real_pool_create(slot_size, nr_slots, out);
}

/* A slot given back while the device may still read or fill it. */
void __wrap_pool_put(struct pool *pool, void *slot)
{
	if (current && current->q)
		FAIL_IF(current, sim_buffer_in_flight(current->q, slot, pool_slot_size(pool)),
			"pool: slot %p put back with I/O on it in flight", slot);
	__real_pool_put(pool, slot);
}

/* --- range helpers --------------------------------------------------------- */

static bool rs_covers(const struct range_set *s, uint64_t a, uint64_t b)
{
	return a >= b || range_set_covered_at(s, a) >= b - a;
}

static void rs_add(struct range_set *s, uint64_t a, uint64_t b)
{
	if (a < b && range_set_add(s, a, b))
		abort();
}

/* The first byte in [a, b) where @have differs from @want outside @skip, or b. */
static uint64_t first_diff(const uint8_t *have, const uint8_t *want, uint64_t a,
			   uint64_t b, const struct range_set *skip)
{
	uint64_t x;

	if (a >= b || !memcmp(have + a, want + a, b - a))
		return b;	/* the common case, fast */
	for (x = a; x < b; x++)
		if (have[x] != want[x] && !(skip && range_set_intersects(skip, x, x + 1)))
			return x;
	return b;
}

/* --- scenario ----------------------------------------------------------- */

static uint64_t pick(struct world *w, const uint64_t *v, size_t n)
{
	return v[sim_rng_below(&w->rng, n)];
}

static unsigned pick_bs(struct world *w)
{
	return sim_rng_pct(&w->rng, 50) ? 512 : 4096;
}

static void pick_config(struct world *w)
{
	static const uint64_t sjs[] = { 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB, 128 * KiB };
	struct kc_client_config *c = &w->cfg;

	c->sub_job_size = pick(w, sjs, 5);
	c->sub_jobs = (unsigned)sim_rng_range(&w->rng, 1, 8);
	c->memory = c->sub_job_size * sim_rng_range(&w->rng, 1, 12);
	c->throttle = 100;
	c->rate = 0;
	w->rate_check = sim_rng_pct(&w->rng, 5);
	w->throttle_check = !w->rate_check && sim_rng_pct(&w->rng, 8);
	if (w->throttle_check) {
		/* Few sub-jobs and long I/O: seconds of fake time, few requests. */
		c->throttle = (unsigned)sim_rng_range(&w->rng, 10, 90);
		c->sub_jobs = (unsigned)sim_rng_range(&w->rng, 1, 2);
		c->sub_job_size = 64 * KiB;
		c->memory = c->sub_job_size * 4;
	}
}

static void random_bytes(struct world *w, uint8_t *p, uint64_t n)
{
	uint64_t i, x = 0;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			x = sim_rng_next(&w->rng);
		p[i] = (uint8_t)(x >> (8 * (i % 8)));
	}
}

/* Source content: random data, with runs of zeros (for --sparse). */
static void make_source_data(struct world *w, uint8_t *p, uint64_t n, bool zeros)
{
	uint64_t at, len;
	int k;

	random_bytes(w, p, n);
	for (k = 0; zeros && k < 6; k++) {
		at = sim_rng_below(&w->rng, n) / 512 * 512;
		len = sim_rng_range(&w->rng, 1, 64) * 512;
		if (len > n - at)
			len = n - at;
		memset(p + at, 0, len);
	}
}

static struct io_dev *new_dev(struct world *w, const char *name, uint64_t size,
			      unsigned bs, unsigned flags)
{
	struct io_dev *d;

	if (sim_dev_create(w->q, name, size, bs, flags, &d))
		abort();
	return d;
}

/* Holes for an extents source: where the data is zero, sometimes. */
static void set_extents(struct world *w, struct io_dev *d, const uint8_t *img,
			uint64_t size)
{
	uint64_t b;

	for (b = 0; b < size; b += 512) {
		uint64_t n = size - b < 512 ? size - b : 512;
		bool zero = !img[b] && !memcmp(img + b, img + b + 1, n - 1);

		if (!zero || sim_rng_pct(&w->rng, 30))
			sim_dev_set_data(d, b, n);
	}
}

static uint64_t pick_count(struct world *w, unsigned align, bool tail)
{
	uint64_t blocks = sim_rng_pct(&w->rng, 20) ? sim_rng_range(&w->rng, 1, 4) :
			  sim_rng_range(&w->rng, 1, 96);
	uint64_t n = blocks * 4 * KiB;

	n = n / align * align;
	if (!n)
		n = align;
	return tail ? n + sim_rng_range(&w->rng, 1, align - 1) : n;
}

static unsigned pick_flags(struct world *w, bool zero)
{
	unsigned f = 0;

	if (sim_rng_pct(&w->rng, 35))
		f |= KC_IGNORE_ERROR;
	if (sim_rng_pct(&w->rng, 20))
		f |= KC_WRITE_SEQ;
	if (zero) {
		if (sim_rng_pct(&w->rng, 25))
			f |= KC_NO_WRITE_ZEROES;
		return f;
	}
	if (sim_rng_pct(&w->rng, 35))
		f |= KC_SPARSE;
	if ((f & KC_SPARSE) && sim_rng_pct(&w->rng, 40))
		f |= KC_DEST_IS_ZERO;
	if (sim_rng_pct(&w->rng, 10))
		f |= KC_NO_WRITE_ZEROES;
	return f;
}

static void make_source(struct world *w, struct sjob *j, bool tail)
{
	unsigned bs = pick_bs(w);
	uint64_t off = sim_rng_range(&w->rng, 0, 8) * 4 * KiB;
	uint64_t size, count = pick_count(w, bs, tail);
	unsigned flags = sim_rng_pct(&w->rng, 30) ? SIM_EXTENTS : 0;
	uint8_t *img;
	char name[32];

	size = off + count + (tail ? 0 : sim_rng_range(&w->rng, 0, 2) * bs);
	img = malloc(size);
	make_source_data(w, img, size, (j->flags & KC_SPARSE) || sim_rng_pct(&w->rng, 30));
	snprintf(name, sizeof(name), "j%zu.src", j->index);
	j->src = (struct kc_io_region) { new_dev(w, name, size, bs, flags), off, count };
	sim_dev_fill(j->src.dev, 0, img, size);
	if (flags & SIM_EXTENTS)
		set_extents(w, j->src.dev, img, size);
	j->length = count;
	j->expect = malloc(count);
	memcpy(j->expect, img + off, count);
	free(img);
}

static unsigned dest_flags(struct world *w, bool allow_zoned)
{
	unsigned f = 0;

	if (sim_rng_pct(&w->rng, 50))
		f |= SIM_CAN_ZERO;
	if ((f & SIM_CAN_ZERO) && sim_rng_pct(&w->rng, 50))
		f |= SIM_CAN_DEALLOCATE;
	if (allow_zoned && sim_rng_pct(&w->rng, 6))
		f |= SIM_ZONED;
	return f;
}

/* Destination i: its own device, old random content (zeros if promised). */
static void make_dest(struct world *w, struct sjob *j, unsigned i, uint64_t count,
		      bool tail, bool allow_zoned)
{
	unsigned bs = tail ? 512 : pick_bs(w);
	uint64_t off = sim_rng_range(&w->rng, 0, 8) * 4 * KiB;
	uint64_t size = off + count + (tail ? 0 : sim_rng_range(&w->rng, 0, 2) * 4096);
	unsigned flags = dest_flags(w, allow_zoned);
	char name[32];

	snprintf(name, sizeof(name), "j%zu.d%u", j->index, i);
	j->dst[i] = (struct kc_io_region) { new_dev(w, name, size, bs, flags), off, count };
	j->initial[i] = malloc(size);
	random_bytes(w, j->initial[i], size);
	if (j->flags & KC_DEST_IS_ZERO)
		memset(j->initial[i] + off, 0, count);
	sim_dev_fill(j->dst[i].dev, 0, j->initial[i], size);
	if (flags & SIM_ZONED)
		sim_dev_set_wp(j->dst[i].dev, off);
}

static void make_zero_job(struct world *w, struct sjob *j)
{
	bool tail = sim_rng_pct(&w->rng, 10);
	uint64_t count;
	unsigned i;

	j->length = 0;
	for (i = 0; i < j->nd; i++) {
		count = pick_count(w, 4096, tail);
		make_dest(w, j, i, count, tail, false);
		if (count > j->length)
			j->length = count;
	}
	j->expect = calloc(1, j->length);
}

static void make_copy_job(struct world *w, struct sjob *j, bool allow_zoned)
{
	bool tail = sim_rng_pct(&w->rng, 12);
	unsigned i;

	make_source(w, j, tail);
	for (i = 0; i < j->nd; i++)
		make_dest(w, j, i, j->src.count, tail, allow_zoned);
}

static void effective_flags(struct sjob *j)
{
	unsigned i;

	j->eff_flags = j->flags;
	for (i = 0; i < j->nd; i++)
		if (io_dev_info(j->dst[i].dev)->zoned)
			j->eff_flags |= KC_WRITE_SEQ;
	/* The engine's rule: a sequential copy cannot ignore errors. */
	if (j->eff_flags & KC_WRITE_SEQ)
		j->eff_flags &= ~KC_IGNORE_ERROR;
}

static void make_jobs(struct world *w, bool allow_zoned)
{
	size_t k;

	w->nr_groups = (unsigned)sim_rng_range(&w->rng, 1, 3);
	w->nr_jobs = (size_t)sim_rng_range(&w->rng, 1, MAX_JOBS);
	if (w->throttle_check)
		w->nr_groups = 1;
	for (k = 0; k < w->nr_jobs; k++) {
		struct sjob *j = &w->jobs[k];

		j->w = w;
		j->index = k;
		j->group = (unsigned)sim_rng_below(&w->rng, w->nr_groups);
		j->zero = sim_rng_pct(&w->rng, 15);
		j->nd = sim_rng_pct(&w->rng, 60) ? (unsigned)sim_rng_range(&w->rng, 1, 2) :
			(unsigned)sim_rng_range(&w->rng, 1, KC_MAX_DESTS);
		j->flags = pick_flags(w, j->zero);
		if (j->zero)
			make_zero_job(w, j);
		else
			make_copy_job(w, j, allow_zoned && !(j->flags & KC_DEST_IS_ZERO));
		effective_flags(j);
		/* Not from the rng: the other seeds' worlds stay as they were. */
		j->gated = !j->zero && (w->seed + k) % 3 == 0;
		snprintf(j->names, sizeof(j->names), "seed %" PRIu64 " job %zu %s %" PRIu64,
			 w->seed, k, j->zero ? "zero" : "copy", j->length);
		w->descs[k] = (struct map_job_desc) { j->names, "sim", j->length };
		vlog(w, "  job %zu group %u: %s %" PRIu64 " bytes, %u dests, flags %#x (eff %#x)"
		     "%s\n", k, j->group, j->zero ? "zero" : "copy", j->length, j->nd, j->flags,
		     j->eff_flags, j->zero ? "" : io_dev_info(j->src.dev)->extents ? " extents" : "");
		for (unsigned i = 0; i < j->nd; i++)
			vlog(w, "    dest %u: %s at %" PRIu64 " +%" PRIu64 ", block %u%s%s\n", i,
			     sim_dev_name(j->dst[i].dev), j->dst[i].offset, j->dst[i].count,
			     io_dev_info(j->dst[i].dev)->block_size,
			     io_dev_info(j->dst[i].dev)->can_zero ? ", can zero" : "",
			     io_dev_info(j->dst[i].dev)->zoned ? ", zoned" : "");
	}
}

/* --- faults ----------------------------------------------------------------- */

static bool dev_is_zoned(const struct io_dev *d)
{
	return io_dev_info(d)->zoned;
}

static void plant(struct world *w, struct io_dev *d, enum io_op op, uint64_t start,
		  uint64_t len, int error, bool verify_only)
{
	if (w->nr_faults == sizeof(w->faults) / sizeof(w->faults[0]) || dev_is_zoned(d))
		return;
	w->faults[w->nr_faults++] = (struct fault) { d, op, start, start + len, error,
						     verify_only };
}

/* A range inside a region, in 512-byte units, from a byte to 16 KiB long. */
static void in_region(struct world *w, const struct kc_io_region *r, uint64_t *start,
		      uint64_t *len)
{
	*start = r->offset + sim_rng_below(&w->rng, r->count);
	*len = sim_rng_range(&w->rng, 1, 16 * KiB);
	if (*len > r->offset + r->count - *start)
		*len = r->offset + r->count - *start;
}

static void plant_one(struct world *w, struct sjob *j)
{
	unsigned d = (unsigned)sim_rng_below(&w->rng, j->nd), kind;
	int err = sim_rng_pct(&w->rng, 70) ? EIO : ENOSPC;
	uint64_t s, l;

	kind = (unsigned)sim_rng_below(&w->rng, j->zero ? 4 : 6);
	if (kind >= 4) {
		in_region(w, &j->src, &s, &l);
		plant(w, j->src.dev, IO_READ, s, l, err, false);
		return;
	}
	in_region(w, &j->dst[d], &s, &l);
	if (kind == 0 || kind == 1)
		plant(w, j->dst[d].dev, IO_WRITE, s, l, err, false);
	else if (kind == 2)
		plant(w, j->dst[d].dev, IO_ZERO, s, l,
		      sim_rng_pct(&w->rng, 50) ? IO_ENOZERO : err, false);
	else
		plant(w, j->dst[d].dev, IO_FLUSH, 0, 0, err, false);
}

static void plant_faults(struct world *w)
{
	unsigned n, k;

	if (!sim_rng_pct(&w->rng, 55))
		return;
	n = (unsigned)sim_rng_range(&w->rng, 1, 4);
	for (k = 0; k < n; k++)
		plant_one(w, &w->jobs[sim_rng_below(&w->rng, w->nr_jobs)]);
}

static void arm_faults(struct world *w, bool verify)
{
	size_t k;

	for (k = 0; k < w->nr_faults; k++) {
		const struct fault *f = &w->faults[k];

		if (f->verify_only == verify)
			sim_dev_add_fault(f->dev, f->op, f->start, f->end - f->start, f->error);
	}
}

static void for_each_dev(struct world *w, void (*fn)(struct io_dev *))
{
	size_t k;
	unsigned i;

	for (k = 0; k < w->nr_jobs; k++) {
		if (!w->jobs[k].zero)
			fn(w->jobs[k].src.dev);
		for (i = 0; i < w->jobs[k].nd; i++)
			fn(w->jobs[k].dst[i].dev);
	}
}

static void disarm_faults(struct world *w)
{
	for_each_dev(w, sim_dev_clear_faults);
}

static void reset_hits(struct world *w)
{
	for_each_dev(w, sim_dev_reset_hits);
}

static void clear_writes(struct world *w)
{
	for_each_dev(w, sim_dev_clear_writes);
}

/* Faults of @op on @d that an error range [a, b) (device-absolute) may come from. */
static bool fault_explains(const struct world *w, const struct io_dev *d, bool src,
			   uint64_t a, uint64_t b, unsigned round)
{
	struct range_set s = { 0 };
	size_t k;
	bool ok;

	for (k = 0; k < w->nr_faults; k++) {
		const struct fault *f = &w->faults[k];

		if (f->dev != d || f->verify_only || f->error == IO_ENOZERO)
			continue;
		if (src ? f->op != IO_READ : (f->op != IO_WRITE && f->op != IO_ZERO))
			continue;
		if (round)
			rs_add(&s, f->start / round * round, (f->end + round - 1) / round * round);
		else
			rs_add(&s, f->start, f->end);
	}
	ok = round ? rs_covers(&s, a, b) : range_set_intersects(&s, a, b);
	range_set_free(&s);
	return ok;
}

/* --- the map, as src/main.c keeps it ------------------------------------ */

static int map_open_world(struct world *w)
{
	char err[256];
	int r = map_open(w->map_path, w->descs, w->nr_jobs, &w->map, err, sizeof(err));

	FAIL_IF(w, r < 0, "map_open: %s", err);
	return r;
}

/* Every failure of job @j, relative to the job, into the map (note_failures). */
static void note_failures(struct world *w, struct sjob *j)
{
	struct kc_job_stats st;
	size_t k;
	uint64_t base;

	if (!j->kj)
		return;
	kc_job_stats(j->kj, &st);
	for (k = 0; k < st.nr_errors; k++) {
		const struct kc_error_range *e = &st.errors[k];

		base = e->region == KC_REGION_SOURCE ? j->src.offset : j->dst[e->region].offset;
		map_note_failed(w->map, j->index, e->offset - base, e->length);
	}
}

/* The map never claims a range that is not durable on every destination. */
static void check_map_claims(struct world *w)
{
	uint64_t s, e, x, pos;
	size_t k;
	unsigned i;

	for (k = 0; k < w->nr_jobs; k++) {
		struct sjob *j = &w->jobs[k];

		for (pos = 0; map_next_done(w->map, k, pos, &s, &e); pos = e) {
			for (i = 0; i < j->nd; i++) {
				const uint8_t *dur = sim_dev_durable(j->dst[i].dev) + j->dst[i].offset;
				uint64_t end = e < j->dst[i].count ? e : j->dst[i].count;

				x = s < end ? first_diff(dur, j->expect, s, end, NULL) : end;
				FAIL_IF(w, x < end, "map: job %zu claims [%" PRIu64 ", %" PRIu64
					") done but destination %u's durable byte %" PRIu64
					" is not what it must be (run %u)", k, s, e, i, x, w->run_no);
			}
		}
	}
}

/*
 * A failed flush of a destination's device fails its whole region, as
 * main's record_flush_failure does.
 */
static void flush_failed_region(struct world *w, struct sjob *j, unsigned i)
{
	map_note_failed(w->map, j->index, 0, j->dst[i].count);
}

/* Flush every destination synchronously, note what failed, save. */
static void checkpoint(struct world *w, bool through_sim)
{
	size_t k;
	unsigned i;
	int r;

	if (w->crashed)
		return;	/* a dead process saves nothing */
	for (k = 0; k < w->nr_jobs; k++) {
		struct sjob *j = &w->jobs[k];

		for (i = 0; through_sim && i < j->nd; i++)
			if (sim_dev_flush_now(j->dst[i].dev))
				flush_failed_region(w, j, i);
		note_failures(w, j);
	}
	r = map_commit(w->map);
	FAIL_IF(w, r < 0, "map_commit: %s", strerror(-r));
	check_map_claims(w);
}

/* --- the engine's callbacks ---------------------------------------------- */

/* At chunk_done the chunk is on every destination, or its failure is listed. */
static void check_chunk(struct sjob *j, uint64_t off, uint64_t len)
{
	struct world *w = j->w;
	struct kc_job_stats st;
	struct range_set skip = { 0 };
	unsigned i;
	size_t k;

	kc_job_stats(j->kj, &st);
	for (i = 0; i < j->nd; i++) {
		uint64_t end = off + len < j->dst[i].count ? off + len : j->dst[i].count, x;
		const uint8_t *vol = sim_dev_volatile(j->dst[i].dev) + j->dst[i].offset;

		range_set_clear(&skip);
		for (k = 0; k < st.nr_errors; k++) {
			const struct kc_error_range *e = &st.errors[k];

			if (e->region == KC_REGION_SOURCE)
				rs_add(&skip, e->offset - j->src.offset,
				       e->offset - j->src.offset + e->length);
			else if (e->region == (int)i)
				rs_add(&skip, e->offset - j->dst[i].offset,
				       e->offset - j->dst[i].offset + e->length);
		}
		x = off < end ? first_diff(vol, j->expect, off, end, &skip) : end;
		FAIL_IF(w, x < end, "chunk_done: job %zu [%" PRIu64 ", +%" PRIu64
			") reported done but destination %u byte %" PRIu64
			" is not written (and no error covers it)", j->index, off, len, i, x);
	}
	range_set_free(&skip);
}

static void on_chunk_done(void *context, uint64_t offset, uint64_t length)
{
	struct sjob *j = context;
	struct world *w = j->w;

	FAIL_IF(w, !length || offset > j->length || length > j->length - offset,
		"chunk_done: job %zu [%" PRIu64 ", +%" PRIu64 ") outside its length %" PRIu64,
		j->index, offset, length, j->length);
	FAIL_IF(w, j->completes, "chunk_done: job %zu after its complete callback", j->index);
	if (w->crashed)
		return;
	rs_add(&j->cb_done, offset, offset + length);
	check_chunk(j, offset, length);
	map_note_written(w->map, j->index, offset, length);
	if (w->stop_chunk && ++w->chunks == w->stop_chunk) {
		vlog(w, "  stop at chunk %u\n", w->chunks);
		w->stopped = true;
		kc_client_stop(w->kc);
	}
}

static uint64_t on_done_at(void *context, uint64_t offset)
{
	struct sjob *j = context;

	return map_done_at(j->w->map, j->index, offset);
}

static void on_complete(void *context, int read_err, unsigned long write_err)
{
	struct sjob *j = context;

	j->completes++;
	if (j->gated && !j->w->stopped && !j->w->crashed)
		FAIL_IF(j->w, j->gate_seen != j->length,
			"complete: job %zu: the gate gave %" PRIu64 " of %" PRIu64 " bytes",
			j->index, j->gate_seen, j->length);
	j->cb_read_err = read_err;
	j->cb_write_err = write_err;
}

static const struct kc_job_ops job_ops = {
	.complete = on_complete,
	.chunk_done = on_chunk_done,
	.done_at = on_done_at,
};

/*
 * The gate (ops.data): the source's bytes in offset order, each once,
 * as the source holds them (a hole as zeros); what never comes is said
 * lost, in the same order. Once a job ended unstopped, all of it came.
 */
static void gate_step(struct sjob *j, uint64_t offset, uint64_t length,
		      const char *what)
{
	struct world *w = j->w;

	FAIL_IF(w, offset < j->gate_next || offset + length > j->length,
		"%s: job %zu [%" PRIu64 ", +%" PRIu64 ") out of order (next %" PRIu64
		", length %" PRIu64 ")", what, j->index, offset, length, j->gate_next,
		j->length);
	j->gate_next = offset + length;
	j->gate_seen += length;
}

static int on_data(void *context, uint64_t offset, const void *buf,
		   uint64_t length, uint64_t *bad_offset, uint64_t *bad_length)
{
	struct sjob *j = context;
	uint64_t i;

	(void)bad_offset;
	(void)bad_length;
	gate_step(j, offset, length, "data");
	if (offset + length > j->length)
		return 0;
	if (buf) {
		FAIL_IF(j->w, memcmp(buf, j->expect + offset, length),
			"data: job %zu [%" PRIu64 ", +%" PRIu64 ") is not the source's",
			j->index, offset, length);
		return 0;
	}
	for (i = 0; i < length; i++)
		if (j->expect[offset + i]) {
			fail(j->w, "data: job %zu: a hole at %" PRIu64 " is not zero "
			     "in the source", j->index, offset + i);
			break;
		}
	return 0;
}

static void on_data_lost(void *context, uint64_t offset, uint64_t length)
{
	gate_step(context, offset, length, "data_lost");
}

static const struct kc_job_ops gated_job_ops = {
	.complete = on_complete,
	.chunk_done = on_chunk_done,
	.done_at = on_done_at,
	.data = on_data,
	.data_lost = on_data_lost,
};

static bool on_tick(void *context)
{
	struct world *w = context;

	w->ticks++;
	/* A livelock on the fake clock: hours pass, the run goes on. */
	if (io_now(w->q) - w->run_start_ns > MAX_RUN_NS && !w->stopped) {
		fail(w, "run %u: still running after %" PRIu64 " s on the fake clock, "
		     "stopped", w->run_no, MAX_RUN_NS / 1000000000ull);
		w->stopped = true;
	}
	if (!w->crashed && w->commit_every && w->ticks % w->commit_every == 0)
		checkpoint(w, true);
	if (w->stop_tick && w->ticks == w->stop_tick) {
		vlog(w, "  stop at tick %u\n", w->ticks);
		w->stopped = true;
	}
	return w->stopped || w->crashed;
}

static void on_event(void *ctx, uint64_t n)
{
	struct world *w = ctx;

	if (w->crash_event && n == w->crash_event && !w->crashed) {
		vlog(w, "  crash at completion %" PRIu64 "\n", n);
		sim_crash(w->q);
		w->crashed = true;
	}
}

/* --- running ---------------------------------------------------------------- */

static int queue_group(struct world *w, unsigned g)
{
	size_t k;
	int r = 0;

	for (k = 0; k < w->nr_jobs && r == 0; k++) {
		struct sjob *j = &w->jobs[k];

		if (j->group != g)
			continue;
		range_set_clear(&j->cb_done);
		j->completes = 0;
		j->gate_next = j->gate_seen = 0;
		if (j->zero)
			r = kc_zero(w->kc, j->nd, j->dst, j->flags, &job_ops, j, &j->kj);
		else
			r = kc_copy(w->kc, &j->src, j->nd, j->dst, j->flags,
				    j->gated ? &gated_job_ops : &job_ops, j, &j->kj);
		FAIL_IF(w, r < 0, "kc_%s(job %zu): %s", j->zero ? "zero" : "copy", k,
			strerror(-r));
	}
	return r;
}

/* kc_flush over the group's destinations, as main's flush_group. */
static void flush_group(struct world *w, unsigned g)
{
	struct kc_io_region regs[MAX_JOBS * KC_MAX_DESTS];
	struct sjob *owner[MAX_JOBS * KC_MAX_DESTS];
	unsigned idx[MAX_JOBS * KC_MAX_DESTS], n = 0, i;
	struct kc_job *fj;
	struct kc_job_stats st;
	uint64_t polls, events;
	size_t k;
	int r;

	for (k = 0; k < w->nr_jobs; k++)
		for (i = 0; w->jobs[k].group == g && i < w->jobs[k].nd; i++) {
			owner[n] = &w->jobs[k];
			idx[n] = i;
			regs[n++] = w->jobs[k].dst[i];
		}
	if (!n || kc_flush(w->kc, n, regs, &fj) < 0)
		return;
	/* Without a tick, as session.c's flush_targets runs it. */
	polls = sim_empty_polls(w->q);
	events = sim_events(w->q);
	r = kc_client_run(w->kc, NULL, NULL, TICK_MS);
	FAIL_IF(w, r < 0, "kc_client_run (flush): %s", strerror(-r));
	polls = sim_empty_polls(w->q) - polls;
	events = sim_events(w->q) - events;
	w->flush_polls += polls;
	w->flush_events += events;
	FAIL_IF(w, polls > 1000 + 4 * events, "flush stage (tick NULL): %" PRIu64 " empty polls "
		"for %" PRIu64 " completions: a busy loop", polls, events);
	kc_job_stats(fj, &st);
	for (k = 0; k < st.nr_errors; k++) {
		const struct kc_error_range *e = &st.errors[k];

		FAIL_IF(w, !e->flush || e->region < 0 || (unsigned)e->region >= n,
			"kc_flush: error range without .flush or region %d", e->region);
		if (e->flush && e->region >= 0 && (unsigned)e->region < n && !w->crashed)
			flush_failed_region(w, owner[e->region], idx[e->region]);
	}
	for (i = 0; i < n && !w->crashed; i++) {
		bool hit = sim_dev_error_hits(regs[i].dev, IO_FLUSH) > 0;
		bool listed = false;

		for (k = 0; k < st.nr_errors; k++)
			listed |= st.errors[k].region == (int)i;
		FAIL_IF(w, hit != listed, "kc_flush: region %u's flush %s but %s listed", i,
			hit ? "failed" : "succeeded", listed ? "is" : "is not");
	}
}

/* --- checks after a run ---------------------------------------------------- */

static void check_stats(struct world *w, struct sjob *j, const struct kc_job_stats *st)
{
	FAIL_IF(w, !st->ended, "job %zu: not ended after kc_client_run", j->index);
	FAIL_IF(w, j->completes != 1, "job %zu: complete called %u times", j->index,
		j->completes);
	FAIL_IF(w, j->cb_read_err != st->read_err || j->cb_write_err != st->write_err,
		"job %zu: complete(%d, %#lx) but stats say (%d, %#lx)", j->index,
		j->cb_read_err, j->cb_write_err, st->read_err, st->write_err);
	FAIL_IF(w, st->length != j->length, "job %zu: length %" PRIu64 ", want %" PRIu64,
		j->index, st->length, j->length);
	FAIL_IF(w, st->interrupted && !w->stopped && !w->crashed,
		"job %zu: interrupted without a stop", j->index);
	FAIL_IF(w, !st->interrupted && st->bytes_data + st->bytes_zeroed + st->bytes_skipped
		!= st->length, "job %zu: data %" PRIu64 " + zeroed %" PRIu64 " + skipped %"
		PRIu64 " != length %" PRIu64, j->index, st->bytes_data, st->bytes_zeroed,
		st->bytes_skipped, st->length);
	FAIL_IF(w, st->done_prefix > st->bytes_done || st->bytes_done > st->length,
		"job %zu: done_prefix %" PRIu64 " bytes_done %" PRIu64, j->index,
		st->done_prefix, st->bytes_done);
	FAIL_IF(w, !st->interrupted && (!st->nr_errors || (j->eff_flags & KC_IGNORE_ERROR)) &&
		(st->bytes_done != st->length || st->done_prefix != st->length),
		"job %zu (%s): finished, but bytes_done %" PRIu64 ", done_prefix %" PRIu64
		" of %" PRIu64, j->index, j->zero ? "zero" : "copy", st->bytes_done,
		st->done_prefix, st->length);
	FAIL_IF(w, st->write_err >> j->nd, "job %zu: write_err %#lx beyond %u destinations",
		j->index, st->write_err, j->nd);
}

/* read_err and write_err say exactly which faults were hit. */
static void check_errors(struct world *w, struct sjob *j, const struct kc_job_stats *st)
{
	unsigned i, hits;
	size_t k;

	hits = j->zero ? 0 : sim_dev_error_hits(j->src.dev, IO_READ);
	FAIL_IF(w, !!st->read_err != (hits > 0) && !(w->stopped && hits && !strict_stop),
		"job %zu: read_err %d but %u source read faults hit", j->index, st->read_err, hits);
	for (i = 0; i < j->nd; i++) {
		/*
		 * A failed IO_ZERO is done again by zero writes (which are
		 * retried block by block): only a write that fails is an error.
		 */
		hits = sim_dev_error_hits(j->dst[i].dev, IO_WRITE);
		/*
		 * --lax-stop: after a stop, a fault hit may be left out
		 * (the chunk is not done either); only "no error without a
		 * fault" holds then.
		 */
		if (w->stopped && hits && !(st->write_err & (1ul << i)) && !strict_stop)
			continue;
		FAIL_IF(w, !!(st->write_err & (1ul << i)) != (hits > 0), "job %zu: write_err "
			"bit %u is %d but %u write faults hit destination %u", j->index, i,
			!!(st->write_err & (1ul << i)), hits, i);
	}
	for (k = 0; k < st->nr_errors; k++) {
		const struct kc_error_range *e = &st->errors[k];
		bool src = e->region == KC_REGION_SOURCE;
		const struct kc_io_region *r = src ? &j->src : &j->dst[e->region];
		/*
		 * With ignore-errors, only the blocks that failed are lost; a
		 * chunk stopped before each of its blocks was tried again is
		 * one range that holds the fault.
		 */
		unsigned round = !(j->eff_flags & KC_IGNORE_ERROR) || w->stopped ? 0 :
				 io_dev_info(r->dev)->block_size;

		if (e->region < KC_REGION_SOURCE || e->region >= (int)j->nd) {
			fail(w, "job %zu: error range of region %d", j->index, e->region);
			continue;
		}
		FAIL_IF(w, e->offset < r->offset || e->length > r->offset + r->count - e->offset
			|| !e->length || e->error <= 0, "job %zu: error range %d [%" PRIu64 ", +%"
			PRIu64 ") error %d outside its region", j->index, e->region, e->offset,
			e->length, e->error);
		FAIL_IF(w, !fault_explains(w, r->dev, src, e->offset, e->offset + e->length, round),
			"job %zu: error range %d [%" PRIu64 ", +%" PRIu64 ") (%s) is not %s a "
			"planted fault", j->index, e->region, e->offset, e->length,
			strerror(e->error), round ? "within the blocks of" : "on");
	}
}

/* Errors of @st on the source or on destination @i, relative, into @s. */
static void error_set(const struct sjob *j, const struct kc_job_stats *st, int i,
		      struct range_set *s)
{
	size_t k;

	for (k = 0; k < st->nr_errors; k++) {
		const struct kc_error_range *e = &st->errors[k];
		const struct kc_io_region *r = e->region == KC_REGION_SOURCE ? &j->src :
					       &j->dst[e->region];

		if (e->region == i)
			rs_add(s, e->offset - r->offset, e->offset - r->offset + e->length);
	}
}

static void check_zero_filled(struct world *w, const struct sjob *j,
			      const struct kc_job_stats *st, unsigned i,
			      const struct range_set *src_err)
{
	const uint8_t *vol = sim_dev_volatile(j->dst[i].dev) + j->dst[i].offset;
	struct range_set mine = { 0 };
	uint64_t s;

	error_set(j, st, (int)i, &mine);
	for (s = 0; src_err->nr && s < j->dst[i].count; s++) {
		if (!vol[s] || !range_set_intersects(src_err, s, s + 1) ||
		    range_set_intersects(&mine, s, s + 1) ||
		    !range_set_intersects(&j->cb_done, s, s + 1))
			continue;
		fail(w, "job %zu: destination %u byte %" PRIu64 " of an unreadable source "
		     "block is %#x, not zero", j->index, i, s, vol[s]);
		break;
	}
	range_set_free(&mine);
}

/* The first byte in [0, end) claimed done that differs outside @skip, or end. */
static uint64_t first_claimed_diff(const struct sjob *j, const uint8_t *vol, uint64_t end,
				   bool whole, const struct range_set *skip)
{
	uint64_t x, e;
	size_t r;

	if (whole)
		return first_diff(vol, j->expect, 0, end, skip);
	for (r = 0; r < j->cb_done.nr; r++) {
		e = j->cb_done.r[r].end < end ? j->cb_done.r[r].end : end;
		x = j->cb_done.r[r].start < e ? first_diff(vol, j->expect, j->cb_done.r[r].start,
							   e, skip) : e;
		if (x < e)
			return x;
	}
	return end;
}

/* Content: what chunk_done claimed (or, for a finished job, everything). */
static void check_content(struct world *w, struct sjob *j, const struct kc_job_stats *st)
{
	struct range_set src_err = { 0 }, skip = { 0 };
	bool whole = !st->interrupted && (!st->nr_errors || (j->eff_flags & KC_IGNORE_ERROR));
	uint64_t s, x, end;
	unsigned i;

	error_set(j, st, KC_REGION_SOURCE, &src_err);
	if (whole) {	/* every chunk came back done, or was done before */
		struct range_set all = { 0 };

		range_set_add_set(&all, &j->cb_done);
		range_set_add_set(&all, &j->map_done_start);
		FAIL_IF(w, !rs_covers(&all, 0, j->length), "job %zu (%s, flags %#x): finished, "
			"but chunk_done covered %" PRIu64 " of %" PRIu64 " bytes", j->index,
			j->zero ? "zero" : "copy", j->eff_flags, range_set_bytes(&all), j->length);
		for (size_t r = 0; w->verbose && !rs_covers(&all, 0, j->length) && r < all.nr; r++)
			vlog(w, "    done [%" PRIu64 ", %" PRIu64 ")\n", all.r[r].start, all.r[r].end);
		range_set_free(&all);
	}
	for (i = 0; i < j->nd; i++) {
		const uint8_t *vol = sim_dev_volatile(j->dst[i].dev);
		uint64_t size = io_dev_info(j->dst[i].dev)->size;

		range_set_clear(&skip);
		range_set_add_set(&skip, &src_err);
		error_set(j, st, (int)i, &skip);
		end = j->dst[i].count;
		s = first_claimed_diff(j, vol + j->dst[i].offset, end, whole, &skip);
		FAIL_IF(w, s < end, "job %zu: destination %u byte %" PRIu64 " is %#x, must be "
			"%#x (no error covers it)", j->index, i, s, vol[j->dst[i].offset + s],
			j->expect[s]);
		/* Unreadable source blocks are written as zeros, never stale memory. */
		if (j->eff_flags & KC_IGNORE_ERROR)
			check_zero_filled(w, j, st, i, &src_err);
		/* Nothing outside the region changed. */
		x = first_diff(vol, j->initial[i], 0, j->dst[i].offset, NULL);
		if (x == j->dst[i].offset)
			x = first_diff(vol, j->initial[i], j->dst[i].offset + j->dst[i].count,
				       size, NULL);
		FAIL_IF(w, x < size && (x < j->dst[i].offset || x >= j->dst[i].offset + end),
			"job %zu: destination %u byte %" PRIu64 " outside the region changed",
			j->index, i, x);
	}
	range_set_free(&src_err);
	range_set_free(&skip);
}

/* May a sequential write skip [a, b) (relative)? Known zero, or done before. */
static bool seq_gap_ok(const struct sjob *j, uint64_t a, uint64_t b)
{
	uint64_t x;

	if (rs_covers(&j->map_done_start, a, b))
		return true;
	if (!(j->eff_flags & KC_DEST_IS_ZERO))
		return false;
	for (x = a; x < b; x++)
		if (j->expect[x] && !range_set_intersects(&j->map_done_start, x, x + 1))
			return false;
	return true;
}

static void check_history(struct world *w, struct sjob *j)
{
	size_t nr, k;
	unsigned i;

	for (i = 0; i < j->nd; i++) {
		const struct sim_write *h = sim_dev_writes(j->dst[i].dev, &nr);
		uint64_t next = 0, rel;
		bool any_zero_op = false;

		for (k = 0; k < nr; k++) {
			rel = h[k].offset - j->dst[i].offset;
			any_zero_op |= h[k].op == IO_ZERO;
			FAIL_IF(w, h[k].offset < j->dst[i].offset ||
				h[k].offset + h[k].length > j->dst[i].offset + j->dst[i].count,
				"job %zu: destination %u written at [%" PRIu64 ", +%" PRIu64
				") outside its region", j->index, i, h[k].offset, h[k].length);
			if (!(j->eff_flags & KC_WRITE_SEQ))
				continue;
			FAIL_IF(w, h[k].in_flight_before, "job %zu: sequential destination %u: "
				"write at %" PRIu64 " issued with %u writes in flight", j->index, i,
				rel, h[k].in_flight_before);
			/* A rewrite below is no gap (a refused offload redone as writes). */
			if (rel < next)
				vlog(w, "  job %zu: destination %u rewritten at %" PRIu64 " below %"
				     PRIu64 "\n", j->index, i, rel, next);
			FAIL_IF(w, rel > next && !seq_gap_ok(j, next, rel), "job %zu: sequential "
				"destination %u: write at %" PRIu64 " issued while %" PRIu64
				" was the lowest unwritten byte", j->index, i, rel, next);
			if (h[k].result == 0 && rel + h[k].length > next)
				next = rel + h[k].length;
		}
		FAIL_IF(w, any_zero_op && (j->eff_flags & KC_NO_WRITE_ZEROES),
			"job %zu: IO_ZERO on destination %u despite KC_NO_WRITE_ZEROES",
			j->index, i);
		FAIL_IF(w, nr && (j->eff_flags & KC_DEST_IS_ZERO) && any_zero_op,
			"job %zu: destination %u zeroed though known to be zero", j->index, i);
	}
}

static void check_pool(struct world *w)
{
	uint64_t max = sim_max_buffer_bytes(w->q);
	/* The engine may hold an unaligned tail of each job beside the pool. */
	uint64_t bound = w->cfg.memory;

	FAIL_IF(w, max > bound, "pool: %" PRIu64 " bytes of buffers in flight, bound %"
		PRIu64, max, bound);
}

static void check_run(struct world *w)
{
	struct kc_job_stats st;
	size_t k;

	for (k = 0; k < w->nr_jobs; k++) {
		struct sjob *j = &w->jobs[k];

		if (!j->kj)
			continue;
		kc_job_stats(j->kj, &st);
		check_stats(w, j, &st);
		if (w->crashed)
			continue;	/* what survives is checked against the map */
		check_errors(w, j, &st);
		check_content(w, j, &st);
		check_history(w, j);
	}
	check_pool(w);
}

/* --- verify ------------------------------------------------------------------ */

static void plant_verify_faults(struct world *w)
{
	struct sjob *j = &w->jobs[sim_rng_below(&w->rng, w->nr_jobs)];
	unsigned d = (unsigned)sim_rng_below(&w->rng, j->nd);
	uint64_t s, l;

	if (!sim_rng_pct(&w->rng, 30))
		return;
	in_region(w, &j->dst[d], &s, &l);
	plant(w, j->dst[d].dev, IO_READ, s, l, EIO, true);
}

static void check_verify_job(struct world *w, struct sjob *j, struct kc_job *vj)
{
	struct kc_job_stats st;
	struct range_set mism = { 0 };
	unsigned i;
	uint64_t x;
	size_t k;

	kc_job_stats(vj, &st);
	for (k = 0; k < st.nr_errors; k++)
		vlog(w, "  verify job %zu: error region %d [%" PRIu64 ", +%" PRIu64 ") %s%s\n",
		     j->index, st.errors[k].region, st.errors[k].offset, st.errors[k].length,
		     strerror(st.errors[k].error), st.errors[k].flush ? " (flush)" : "");
	for (i = 0; i < j->nd; i++) {
		const uint8_t *vol = sim_dev_volatile(j->dst[i].dev) + j->dst[i].offset;
		unsigned rhits = sim_dev_error_hits(j->dst[i].dev, IO_READ);
		bool differs;

		range_set_clear(&mism);
		for (k = 0; k < st.nr_errors; k++)
			if (st.errors[k].region == (int)i)
				rs_add(&mism, st.errors[k].offset - j->dst[i].offset,
				       st.errors[k].offset - j->dst[i].offset + st.errors[k].length);
		x = first_diff(vol, j->expect, 0, j->dst[i].count, &mism);
		FAIL_IF(w, x < j->dst[i].count, "verify: job %zu destination %u differs at %"
			PRIu64 " and no mismatch says so", j->index, i, x);
		differs = first_diff(vol, j->expect, 0, j->dst[i].count, NULL) < j->dst[i].count;
		FAIL_IF(w, !!(st.write_err & (1ul << i)) != (differs || rhits), "verify: job %zu "
			"destination %u: bit %d, differs %d, %u read faults hit", j->index, i,
			!!(st.write_err & (1ul << i)), differs, rhits);
	}
	for (k = 0; k < st.nr_errors; k++) {
		const struct kc_error_range *e = &st.errors[k];

		if (e->region < 0 || e->region >= (int)j->nd || e->error != KC_EMISMATCH)
			continue;
		x = e->offset - j->dst[e->region].offset;
		FAIL_IF(w, first_diff(sim_dev_volatile(j->dst[e->region].dev) +
				      j->dst[e->region].offset, j->expect, x, x + e->length, NULL)
			== x + e->length, "verify: job %zu destination %d: mismatch [%" PRIu64
			", +%" PRIu64 ") where the data is right", j->index, e->region, x, e->length);
	}
	FAIL_IF(w, st.read_err, "verify: job %zu: read_err without source faults", j->index);
	range_set_free(&mism);
}

static void run_verify(struct world *w)
{
	struct kc_job *vj[MAX_JOBS] = { 0 };
	size_t k;
	int r;

	/* The interruptions are the copy's; a verify runs to its end. */
	w->crash_event = 0;
	w->stop_tick = w->stop_chunk = 0;
	disarm_faults(w);
	plant_verify_faults(w);
	arm_faults(w, true);
	reset_hits(w);
	for (k = 0; k < w->nr_jobs; k++) {
		struct sjob *j = &w->jobs[k];

		r = kc_verify(w->kc, j->zero ? NULL : &j->src, j->nd, j->dst, &vj[k]);
		FAIL_IF(w, r < 0, "kc_verify(job %zu): %s", k, strerror(-r));
	}
	w->run_start_ns = io_now(w->q);
	r = kc_client_run(w->kc, null_tick ? NULL : on_tick, w, TICK_MS);
	FAIL_IF(w, r < 0, "kc_client_run (verify): %s", strerror(-r));
	for (k = 0; k < w->nr_jobs; k++)
		if (vj[k])
			check_verify_job(w, &w->jobs[k], vj[k]);
	disarm_faults(w);
}

/* --- one run: every group, then the final checkpoint ----------------------- */

/* Over the copy's kc_client_run calls only: a flush stage is no copy I/O. */
static void check_throttle(struct world *w, uint64_t total, uint64_t busy)
{
	double share = total ? (double)busy / (double)total : 0;
	double want = w->cfg.throttle / 100.0;

	vlog(w, "  throttle %u%%: busy %.3f s of %.3f s = %.1f%%\n", w->cfg.throttle,
	     busy / 1e9, total / 1e9, share * 100);
	/*
	 * Over the limit only by what one admitted I/O can add; under it by
	 * what a 100 ms sleep weighs, so only over a long enough run.
	 */
	FAIL_IF(w, total >= 500000000ull && share > want + 0.08, "throttle %u%%: I/O in "
		"flight %.1f%% of %.3f s (fake clock): over", w->cfg.throttle, share * 100,
		total / 1e9);
	FAIL_IF(w, total >= 2000000000ull && share < want - 0.15, "throttle %u%%: I/O in "
		"flight %.1f%% of %.3f s (fake clock): under", w->cfg.throttle, share * 100,
		total / 1e9);
}

/*
 * --rate: the average over the run is the rate. At least the bytes moved
 * at the rate, less the bucket (a tenth of a second); at most all of the
 * jobs' bytes at the rate, with room for latency and the flushes.
 */
static void check_rate(struct world *w, uint64_t t0)
{
	double secs = (double)(io_now(w->q) - t0) / 1e9, moved = 0, all = 0;
	struct kc_job_stats st;
	size_t k;

	for (k = 0; k < w->nr_jobs; k++) {
		if (!w->jobs[k].kj)
			continue;
		kc_job_stats(w->jobs[k].kj, &st);
		/* A copy pays at the read: zeroed holes it never read are free. */
		moved += (double)(w->jobs[k].zero ? st.bytes_zeroed : st.bytes_data);
		all += (double)w->jobs[k].length * (w->jobs[k].zero ? w->jobs[k].nd : 1);
	}
	vlog(w, "  rate %" PRIu64 " B/s: %.0f bytes moved in %.3f s (%.0f B/s)\n",
	     w->cfg.rate, moved, secs, secs > 0 ? moved / secs : 0);
	FAIL_IF(w, secs < moved / (double)w->cfg.rate - 0.1 - 0.01 * w->nr_groups,
		"rate %" PRIu64 " B/s: %.0f bytes in %.3f s (fake clock): too fast",
		w->cfg.rate, moved, secs);
	FAIL_IF(w, secs > 1.2 * all / (double)w->cfg.rate + 0.3, "rate %" PRIu64
		" B/s: %.0f bytes in %.3f s (fake clock): too slow", w->cfg.rate, moved, secs);
}

static void snapshot_map_done(struct world *w)
{
	uint64_t s, e, pos;
	size_t k;

	for (k = 0; k < w->nr_jobs; k++) {
		range_set_clear(&w->jobs[k].map_done_start);
		for (pos = 0; map_next_done(w->map, k, pos, &s, &e); pos = e)
			rs_add(&w->jobs[k].map_done_start, s, e);
	}
}

static int run_once(struct world *w, bool verify)
{
	uint64_t t0 = io_now(w->q);
	uint64_t polls0 = sim_empty_polls(w->q), events0 = sim_events(w->q), polls;
	uint64_t copy_ns = 0, copy_busy_ns = 0, t, b;
	unsigned g;
	size_t k;
	int r;

	w->run_start_ns = t0;
	w->flush_polls = w->flush_events = 0;
	r = kc_client_create(&w->cfg, &w->kc);
	if (r < 0) {
		fail(w, "kc_client_create: %s", strerror(-r));
		return r;
	}
	snapshot_map_done(w);
	reset_hits(w);
	clear_writes(w);
	sim_reset_max_buffer_bytes(w->q);
	for (k = 0; k < w->nr_jobs; k++)
		w->jobs[k].kj = NULL;
	for (g = 0; g < w->nr_groups && r == 0; g++) {
		r = queue_group(w, g);
		t = io_now(w->q);
		b = sim_busy_ns(w->q);
		if (r == 0)
			r = kc_client_run(w->kc, on_tick, w, TICK_MS);
		copy_ns += io_now(w->q) - t;
		copy_busy_ns += sim_busy_ns(w->q) - b;
		FAIL_IF(w, r < 0, "kc_client_run: %s", strerror(-r));
		/* The barrier: every job ended, so nothing of theirs is in flight. */
		FAIL_IF(w, r == 0 && io_busy(w->q), "kc_client_run returned with %u requests "
			"not reaped", io_busy(w->q));
		if (r == 0)
			flush_group(w, g);
		if (kc_client_stopped(w->kc) || w->stopped || w->crashed)
			break;
	}
	if (w->throttle_check && !w->stopped && !w->crashed && !w->nr_faults)
		check_throttle(w, copy_ns, copy_busy_ns);
	if (w->rate_check && !w->stopped && !w->crashed && !w->nr_faults && r == 0)
		check_rate(w, t0);
	check_run(w);
	checkpoint(w, true);	/* main's map_checkpoint: flush all, note, save */
	if (verify && !w->stopped && !w->crashed && r == 0)
		run_verify(w);
	/* The loop waits in io_reap() for what it waits for; it does not spin. */
	polls = sim_empty_polls(w->q) - polls0 - w->flush_polls;
	events0 += w->flush_events;
	FAIL_IF(w, polls > 1000 + 4 * (sim_events(w->q) - events0), "run %u: %" PRIu64
		" empty polls (io_reap with no timeout, nothing done) for %" PRIu64
		" completions: a busy loop", w->run_no, polls, sim_events(w->q) - events0);
	kc_client_destroy(w->kc);
	w->kc = NULL;
	for (k = 0; k < w->nr_jobs; k++)
		w->jobs[k].kj = NULL;
	return r;
}

/* --- a seed ----------------------------------------------------------------- */

static void pick_interruption(struct world *w)
{
	uint64_t est = 0;
	size_t k;
	unsigned kind = (unsigned)sim_rng_below(&w->rng, 10);

	for (k = 0; k < w->nr_jobs; k++)
		est += (w->jobs[k].length / w->cfg.sub_job_size + 1) * (w->jobs[k].nd + 1);
	w->stop_tick = w->stop_chunk = 0;
	w->crash_event = 0;
	if (kind < 3)
		w->crash_event = sim_rng_range(&w->rng, 1, est);
	else if (kind < 5)
		w->stop_chunk = (unsigned)sim_rng_range(&w->rng, 1, est / 2 + 1);
	else if (kind < 6)
		w->stop_tick = (unsigned)sim_rng_range(&w->rng, 1, 5);
}

static void setup_queue(struct world *w)
{
	struct sim_latency io = { 1000, sim_rng_range(&w->rng, 2000, 400000) };
	/* Sometimes an fdatasync that takes longer than a tick. */
	struct sim_latency fl = { 1000, sim_rng_pct(&w->rng, 20) ? 30000000 : 200000 };
	unsigned depth = kc_io_depth(&w->cfg, MAX_JOBS, KC_MAX_DESTS);

	if (w->throttle_check)
		io = (struct sim_latency) { 5000000, 40000000 };
	if (io_queue_create(&sim_backend, depth, &w->q))
		abort();
	sim_queue_setup(w->q, w->seed ^ 0x5eed, io, fl);
	w->cfg.queue = w->q;
	sim_queue_on_event(w->q, on_event, w);
}

/* After the interrupted or faulty runs: no faults, and it must all be there. */
static void check_final(struct world *w)
{
	uint64_t s, e, x;
	size_t k;
	unsigned i;

	for (k = 0; k < w->nr_jobs; k++) {
		struct sjob *j = &w->jobs[k];

		FAIL_IF(w, map_next_undone(w->map, k, 0, &s, &e), "resume: job %zu: the map "
			"still has [%" PRIu64 ", %" PRIu64 ") undone after a clean run", k, s, e);
		FAIL_IF(w, map_failed_bytes(w->map, k), "resume: job %zu: %" PRIu64
			" bytes still failed", k, map_failed_bytes(w->map, k));
		for (i = 0; i < j->nd; i++) {
			const uint8_t *dur = sim_dev_durable(j->dst[i].dev) + j->dst[i].offset;

			x = first_diff(dur, j->expect, 0, j->dst[i].count, NULL);
			FAIL_IF(w, x < j->dst[i].count, "resume: job %zu destination %u durable "
				"byte %" PRIu64 " differs after the final run", k, i, x);
		}
	}
}

static bool any_error(struct world *w)
{
	/* The map knows: any job with failed or undone bytes. */
	uint64_t s, e;
	size_t k;

	for (k = 0; k < w->nr_jobs; k++)
		if (map_failed_bytes(w->map, k) || map_next_undone(w->map, k, 0, &s, &e))
			return true;
	return false;
}

static uint64_t data_requests(struct world *w)
{
	uint64_t n = 0;
	size_t k;
	unsigned i;

	for (k = 0; k < w->nr_jobs; k++) {
		struct sjob *j = &w->jobs[k];

		/* A gated copy reads its done source again, for ops.data. */
		if (!j->zero && !j->gated)
			n += sim_dev_requests(j->src.dev, IO_READ);
		for (i = 0; i < j->nd; i++)
			n += sim_dev_requests(j->dst[i].dev, IO_READ) +
			     sim_dev_requests(j->dst[i].dev, IO_WRITE) +
			     sim_dev_requests(j->dst[i].dev, IO_ZERO);
	}
	return n;
}

/*
 * Re-running a finished job with its map does no I/O (but a gated copy's
 * reads of its source) and reports success.
 */
static void rerun_done(struct world *w)
{
	uint64_t before = data_requests(w);

	map_close(w->map, false);
	w->map = NULL;
	if (map_open_world(w))
		return;
	w->run_no++;
	vlog(w, " run %u (all done)\n", w->run_no);
	run_once(w, false);
	FAIL_IF(w, data_requests(w) != before, "rerun: %" PRIu64 " reads, writes or zeroings "
		"for jobs the map holds done", data_requests(w) - before);
}

/* A rate that makes the whole copy last half a second to three seconds. */
static void pick_rate(struct world *w)
{
	uint64_t total = 0, ms = sim_rng_range(&w->rng, 500, 3000);
	size_t k;

	for (k = 0; k < w->nr_jobs; k++)
		total += w->jobs[k].length;
	w->cfg.rate = total * 1000 / ms + 1;
}

static void run_seed(struct world *w)
{
	bool verify, calm;
	unsigned run;

	sim_rng_seed(&w->rng, w->seed);
	pick_config(w);
	setup_queue(w);
	/* Zoned devices only where nothing resumes mid-zone. */
	calm = w->throttle_check || w->rate_check || sim_rng_pct(&w->rng, 25);
	make_jobs(w, calm);
	if (w->rate_check)
		pick_rate(w);
	if (!calm) {
		plant_faults(w);
		pick_interruption(w);
	}
	w->commit_every = (unsigned)sim_rng_range(&w->rng, 0, 3);
	verify = sim_rng_pct(&w->rng, 35);
	vlog(w, "seed %" PRIu64 ": %zu jobs in %u groups, sub-job %" PRIu64 " x %u, memory %"
	     PRIu64 ", throttle %u, %zu faults\n", w->seed, w->nr_jobs, w->nr_groups,
	     w->cfg.sub_job_size, w->cfg.sub_jobs, w->cfg.memory, w->cfg.throttle, w->nr_faults);
	if (map_open_world(w))
		return;
	arm_faults(w, false);
	for (run = 1; run <= 4 && !w->fails; run++) {
		w->run_no = run;
		vlog(w, " run %u\n", run);
		if (run_once(w, verify) < 0)
			return;
		if (!w->crashed && !w->stopped && (run > 1 || !w->nr_faults))
			break;	/* clean */
		/* A new process on what survived: no faults, no interruption. */
		map_close(w->map, false);
		w->map = NULL;
		if (map_open_world(w))
			return;
		disarm_faults(w);
		w->nr_faults = 0;
		sim_revive(w->q);
		w->crashed = w->stopped = false;
		w->crash_event = 0;
		w->stop_chunk = w->stop_tick = 0;
	}
	if (!w->fails && any_error(w))
		fail(w, "the last run left work undone");
	if (!w->fails)
		check_final(w);
	if (!w->fails && sim_rng_pct(&w->rng, 30))
		rerun_done(w);
}

static void free_world(struct world *w)
{
	const char *why;
	size_t k;
	unsigned i;

	if (w->q && sim_violations(w->q, &why))
		fail(w, "io.h contract: %u violations, the first: %s",
		     sim_violations(w->q, NULL), why);
	if (w->map)
		map_close(w->map, false);
	unlink(w->map_path);
	for (k = 0; k < w->nr_jobs; k++) {
		free(w->jobs[k].expect);
		for (i = 0; i < w->jobs[k].nd; i++)
			free(w->jobs[k].initial[i]);
		range_set_free(&w->jobs[k].cb_done);
		range_set_free(&w->jobs[k].map_done_start);
	}
	io_queue_destroy(w->q);
}

static volatile uint64_t running_seed;
/* Failed seeds so far: the first ones in full, the others in a line. */
static unsigned failed_seeds;
static unsigned max_detailed = 10;	/* --details=N */

/* The one way out of a hang inside the engine: say which seed, and exit. */
static void on_alarm(int sig)
{
	char msg[200];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg), "sim: seed %" PRIu64 " HUNG (%d s wall)\n  replay: "
		     "make sim SEED=%" PRIu64 "   (or: build/sim/sim --seed=%" PRIu64 " -v)\n",
		     running_seed, SEED_WALL_S, running_seed, running_seed);
	if (write(2, msg, (size_t)n) < 0)
		_exit(3);
	_exit(1);
}

static int one_seed(uint64_t seed, bool verbose, const char *dir)
{
	struct world *w = calloc(1, sizeof(*w));
	unsigned i, fails;

	w->seed = seed;
	w->verbose = verbose;
	snprintf(w->map_path, sizeof(w->map_path), "%s/seed-%" PRIu64 ".map", dir, seed);
	current = w;
	running_seed = seed;
	alarm(SEED_WALL_S);
	run_seed(w);
	free_world(w);
	alarm(0);
	current = NULL;
	fails = w->fails;
	if (fails && ++failed_seeds > max_detailed) {
		fprintf(stderr, "sim: seed %" PRIu64 " FAILED: %s\n", seed,
			w->fail_msgs[0] ? w->fail_msgs[0] : "?");
	} else if (fails) {
		fprintf(stderr, "sim: seed %" PRIu64 " FAILED (%u):\n", seed, fails);
		for (i = 0; i < fails && i < MAX_FAILS; i++)
			fprintf(stderr, "  %s\n", w->fail_msgs[i] ? w->fail_msgs[i] : "?");
		fprintf(stderr, "  replay: make sim SEED=%" PRIu64 "   (or: build/sim/sim "
			"--seed=%" PRIu64 " -v)\n", seed, seed);
	}
	for (i = 0; i < fails && i < MAX_FAILS; i++)
		free(w->fail_msgs[i]);
	free(w);
	return fails ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: sim [--seeds=N] [--base=B] [--seed=S] [-v] "
		"[--null-tick] [--lax-stop] [--details=N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t base = 1, seeds = 2000, seed = 0, s;
	bool one = false, verbose = false;
	unsigned failed = 0;
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char tdir[64];
	struct timespec t0, t1;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--seeds=", 8))
			seeds = strtoull(argv[i] + 8, NULL, 10);
		else if (!strncmp(argv[i], "--base=", 7))
			base = strtoull(argv[i] + 7, NULL, 10);
		else if (!strncmp(argv[i], "--seed=", 7)) {
			seed = strtoull(argv[i] + 7, NULL, 10);
			one = true;
		} else if (!strncmp(argv[i], "--details=", 10)) {
			max_detailed = (unsigned)strtoul(argv[i] + 10, NULL, 10);
		} else if (!strcmp(argv[i], "--lax-stop")) {
			strict_stop = false;
		} else if (!strcmp(argv[i], "--null-tick")) {
			null_tick = true;
		} else if (!strcmp(argv[i], "-v"))
			verbose = true;
		else
			usage();
	}
	/* The maps are real files (map.c fsyncs them): tmpfs when there is one. */
	snprintf(tdir, sizeof(tdir), "%s/kcopy-sim.XXXXXX", tmp);
	if (!mkdtemp(tdir))
		return perror("mkdtemp"), 2;
	signal(SIGALRM, on_alarm);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (one)
		failed = (unsigned)one_seed(seed, verbose, tdir);
	for (s = base; !one && s < base + seeds; s++)
		failed += (unsigned)one_seed(s, verbose, tdir);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rmdir(tdir);
	printf("sim: %" PRIu64 " seeds from %" PRIu64 ", %u failed, %.1f s\n",
	       one ? 1 : seeds, one ? seed : base, failed,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return failed ? 1 : 0;
}
