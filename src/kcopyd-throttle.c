// SPDX-License-Identifier: GPL-2.0
/*
 * kcopyd-throttle.c - the engine's side of the throttle (throttle.h): the
 * percentage throttle admits each I/O step (kcopyd's io_job_start /
 * io_job_finish), the rate cap charges the bytes a step brings in, and a
 * job only ends once the rate's debt is paid.
 */
#include "kcopyd-internal.h"
#include "throttle.h"

/*-----------------------------------------------------------------
 * Issuing I/O.
 *---------------------------------------------------------------*/
int throttle_admit(struct sub_job *sub, uint64_t bytes)
{
	struct kc_client *kc = sub->job->kc;
	uint64_t now, wait;

	if (sub->throttled || kc->stopping)
		return 0;
	now = io_now(kc->q);
	wait = throttle_io_start(kc->throttle, now, bytes);
	if (wait) {
		kc->throttle_until = now + wait;
		return 1;
	}
	sub->throttled = true;
	return 0;
}

void throttle_done(struct sub_job *sub)
{
	struct kc_client *kc = sub->job->kc;

	if (sub->throttled) {
		throttle_io_finish(kc->throttle, io_now(kc->q));
		sub->throttled = false;
	}
}

/*
 * A job ends only once the rate cap's debt is paid: its last chunk went
 * out on credit, and --rate is a cap on the whole run, short ones too.
 */
bool rate_debt_holds(struct kc_client *kc)
{
	uint64_t now, wait;

	if (kc->stopping)
		return false;
	now = io_now(kc->q);
	wait = throttle_rate_debt_ns(kc->throttle, now);
	kc->end_hold_until = wait ? now + wait : 0;
	return wait != 0;
}
