// SPDX-License-Identifier: GPL-2.0
/*
 * throttle.c - see throttle.h.
 *
 * The kernel counts in jiffies with an interval of 1 << SHIFT_HZ jiffies
 * (about a second). We count in microseconds with an interval of 1 << 20
 * us (about a second): finer, so short I/Os on fast devices still count.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "throttle.h"

#define ACCOUNT_INTERVAL_SHIFT 20
#define NSEC_PER_USEC 1000ull
#define NSEC_PER_SEC 1000000000ull

struct throttle {
	unsigned percent;
	unsigned num_io_jobs;
	unsigned slept;		/* refusals in a row */
	uint64_t io_period;	/* us with I/O in flight */
	uint64_t total_period;	/* us */
	uint64_t last;		/* us of the last update; 0 = never */

	uint64_t rate;		/* bytes/s, 0 = unlimited */
	double tokens;		/* bytes; negative = debt */
	uint64_t rate_last;	/* ns of the last refill; 0 = never */
	bool rate_refused;	/* the last refusal was the rate cap's */
};

struct throttle *throttle_create(unsigned percent, uint64_t rate)
{
	struct throttle *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->percent = percent;
	t->rate = rate;
	return t;
}

void throttle_destroy(struct throttle *t)
{
	free(t);
}

static int fls64(uint64_t x)
{
	return x ? 64 - __builtin_clzll(x) : 0;
}

/* Charge the time since the last update; io time only while I/O ran. */
static void account(struct throttle *t, uint64_t now_us, bool io_running)
{
	uint64_t difference = t->last ? now_us - t->last : 0;

	t->last = now_us;
	if (io_running)
		t->io_period += difference;
	t->total_period += difference;
	/* Maintain sane values if we got a temporary overflow. */
	if (t->io_period > t->total_period)
		t->io_period = t->total_period;
}

static uint64_t percent_wait(struct throttle *t, uint64_t now)
{
	uint64_t now_us = now / NSEC_PER_USEC;

	if (t->percent >= 100)
		return 0;
	account(t, now_us, t->num_io_jobs > 0);
	if (t->total_period >= (1ull << ACCOUNT_INTERVAL_SHIFT)) {
		int shift = fls64(t->total_period >> ACCOUNT_INTERVAL_SHIFT);

		t->total_period >>= shift;
		t->io_period >>= shift;
	}
	if (t->io_period * 100 > t->percent * t->total_period &&
	    t->slept < THROTTLE_MAX_SLEEPS) {
		t->slept++;
		return THROTTLE_SLEEP_MS * 1000000ull;
	}
	return 0;
}

static uint64_t rate_wait(struct throttle *t, uint64_t now)
{
	double cap;

	if (!t->rate)
		return 0;
	if (t->rate_last) {
		cap = (double)t->rate / 10;
		t->tokens += (double)(now - t->rate_last) * t->rate / NSEC_PER_SEC;
		if (t->tokens > cap)
			t->tokens = cap;
	}
	t->rate_last = now;
	if (t->tokens >= 0)
		return 0;
	/* Time until the debt is paid, at least a microsecond. */
	return (uint64_t)(-t->tokens * NSEC_PER_SEC / t->rate) + NSEC_PER_USEC;
}

uint64_t throttle_io_start(struct throttle *t, uint64_t now, uint64_t bytes)
{
	uint64_t wait;

	t->rate_refused = false;
	wait = percent_wait(t, now);
	if (wait)
		return wait;
	/* Only I/O that moves the copy forward pays: a chunk's writes don't. */
	wait = bytes ? rate_wait(t, now) : 0;
	if (wait) {
		t->rate_refused = true;
		return wait;
	}
	t->slept = 0;
	t->tokens -= (double)bytes;
	t->num_io_jobs++;
	return 0;
}

void throttle_io_finish(struct throttle *t, uint64_t now)
{
	t->num_io_jobs--;
	if (t->percent >= 100)
		return;
	/* Only the last I/O out closes an io period, as in kcopyd. */
	if (!t->num_io_jobs)
		account(t, now / NSEC_PER_USEC, true);
}

void throttle_periods(const struct throttle *t, uint64_t *io_period,
		      uint64_t *total_period, unsigned *num_io_jobs)
{
	*io_period = t->io_period;
	*total_period = t->total_period;
	*num_io_jobs = t->num_io_jobs;
}

bool throttle_refused_for_rate(const struct throttle *t)
{
	return t->rate_refused;
}

uint64_t throttle_rate_debt_ns(struct throttle *t, uint64_t now)
{
	return rate_wait(t, now);
}
