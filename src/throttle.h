/* SPDX-License-Identifier: GPL-2.0 */
/*
 * throttle.h - dm_kcopyd_throttle's accounting, plus a byte-rate cap.
 *
 * Percentage throttle (kcopyd's io_job_start/io_job_finish): while at least
 * one I/O is in flight, elapsed time counts into io_period; all elapsed
 * time counts into total_period. Both are halved (shifted) once
 * total_period passes the accounting interval, so old history decays.
 * Before an I/O starts, if io_period exceeds PERCENT of total_period, the
 * caller sleeps THROTTLE_SLEEP_MS and asks again — at most
 * THROTTLE_MAX_SLEEPS times in a row, then the I/O goes anyway (kcopyd's
 * guard against livelock between clients).
 *
 * Rate cap: a token bucket filled at RATE bytes per second, starting empty
 * and holding at most a tenth of a second's worth, so a copy's average
 * over its whole run is the rate. An I/O is admitted when the bucket is
 * not in debt, and then takes its bytes (possibly going into debt).
 *
 * The caller supplies the clock (CLOCK_MONOTONIC nanoseconds), so the
 * arithmetic is testable without sleeping. Nothing here sleeps.
 */
#ifndef KCOPY_THROTTLE_H
#define KCOPY_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_SLEEP_MS 100
#define THROTTLE_MAX_SLEEPS 10

struct throttle;

/* @percent 1..100 (100 = off); @rate bytes/s, 0 = no cap. NULL on ENOMEM. */
struct throttle *throttle_create(unsigned percent, uint64_t rate);
void throttle_destroy(struct throttle *t);

/*
 * May an I/O of @bytes start at @now? Returns 0 when it may — the I/O is
 * then accounted as started and must be followed by throttle_io_finish() —
 * or the number of nanoseconds to wait before asking again.
 */
uint64_t throttle_io_start(struct throttle *t, uint64_t now, uint64_t bytes);
void throttle_io_finish(struct throttle *t, uint64_t now);

/*
 * Was the last refusal the rate cap's (an I/O without bytes would have
 * been admitted), rather than the percentage throttle's?
 */
bool throttle_refused_for_rate(const struct throttle *t);

/*
 * Nanoseconds until the rate cap's debt is paid at @now (0: none, or no
 * cap). A job's end waits for it, so that a short copy, whose last chunk
 * went out on credit, still takes as long as its bytes at the rate.
 */
uint64_t throttle_rate_debt_ns(struct throttle *t, uint64_t now);

/* Current accounting, for tests and diagnostics (microseconds). */
void throttle_periods(const struct throttle *t, uint64_t *io_period,
		      uint64_t *total_period, unsigned *num_io_jobs);

#endif
