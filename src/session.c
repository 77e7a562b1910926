// SPDX-License-Identifier: GPL-2.0
/*
 * session.c - run a plan: set it up (all refusals before the first
 * write), queue its groups one after the other, tick while they run,
 * flush each stage as it ends, verify, report, and say how it went in
 * the exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmap.h"
#include "checks.h"
#include "io.h"
#include "map.h"
#include "resume.h"
#include "session.h"
#include "target.h"

#define TICK_MS 100
/* How often --map flushes the destinations and saves the map. */
#define MAP_COMMIT_NS (1000 * 1000000ull)

struct run {
	const struct session_config *cfg;
	const struct session_signals *sig;
	struct plan *plan;
	struct io_queue *q;
	struct target **dev_targets;	/* nr_devs targets ... */
	struct io_dev **devs;		/* ... and their devices on q */
	size_t nr_devs;
	struct kc_client *kc;
	struct kc_job **kjobs;		/* per plan job; NULL until queued */
	struct report_job *rjobs;
	struct progress *progress;
	struct map *map;
	struct job_context *contexts;	/* per plan job, for engine callbacks */
	uint64_t last_commit_ns;
	uint64_t bytes_total;
	uint64_t start_ns;
	struct bmap *bmap;		/* --bmap */
	unsigned nr_algs;		/* digests taken: --hash, or one to verify */
	enum digest_alg algs[DIGEST_NR];
};

struct job_context {
	struct run *run;
	size_t index;
	struct kc_job_ops ops;
	/* What is checked of the source as it passes, and of each read-back. */
	struct data_check *source_check;
	struct data_check *dest_checks[KC_MAX_DESTS];
	unsigned verifying;		/* read-back of this destination + 1 */
};

static void on_chunk_done(void *context, uint64_t offset, uint64_t length)
{
	struct job_context *jc = context;

	map_note_written(jc->run->map, jc->index, offset, length);
}

static uint64_t on_done_at(void *context, uint64_t offset)
{
	struct job_context *jc = context;

	return map_done_at(jc->run->map, jc->index, offset);
}

/* The source's data in order: its digests and the bmap's checksums. */
static int on_data(void *context, uint64_t offset, const void *buf,
		   uint64_t length, uint64_t *bad_offset, uint64_t *bad_length)
{
	struct job_context *jc = context;
	int r;

	r = data_check_feed(jc->source_check, offset, buf, length, bad_offset,
			    bad_length);
	return r == -EBADMSG ? -KC_ECHECKSUM : r;
}

static void on_data_lost(void *context, uint64_t offset, uint64_t length)
{
	struct job_context *jc = context;

	data_check_lost(jc->source_check, offset, length);
}

/* The image's extents are the bmap's mapped ranges. */
static int on_next_data(void *context, uint64_t offset, uint64_t *data,
			uint64_t *hole)
{
	struct job_context *jc = context;

	return bmap_next_data(jc->run->bmap, offset, data, hole);
}

/* Is the data of copy @pj checked as it passes (digests, a bmap)? */
static bool job_checked(const struct run *run, const struct plan_job *pj)
{
	return !pj->zero && (run->nr_algs || run->bmap);
}

/* A failed flush is a write error on every destination of that target. */
static void record_flush_failure(const struct target *t, int error, void *ctx);

/* Every failure of job @i, relative to the job, into the map. */
static void note_failures(struct run *run, size_t i)
{
	const struct plan_job *pj = &run->plan->jobs[i];
	const struct report_job *rj = &run->rjobs[i];
	const struct kc_error_range *e;
	size_t k, n = rj->stats.nr_errors + rj->nr_extra;
	uint64_t base;

	for (k = 0; k < n; k++) {
		e = k < rj->stats.nr_errors ? &rj->stats.errors[k] :
		    &rj->extra[k - rj->stats.nr_errors];
		base = e->region == KC_REGION_SOURCE ? pj->source.offset :
		       pj->dests[e->region].offset;
		map_note_failed(run->map, i, e->offset - base, e->length);
	}
}

/*
 * Flush first, then save: the map may only claim data that is on stable
 * storage, and never a range that failed — a failed flush fails the
 * whole region on that target, whatever a later flush says.
 */
static void map_checkpoint(struct run *run)
{
	size_t i;
	int r;

	if (!run->map)
		return;
	run->last_commit_ns = kc_now_ns();
	plan_flush(run->plan, PLAN_ALL_GROUPS, record_flush_failure, run);
	for (i = 0; i < run->plan->nr_jobs; i++) {
		if (run->kjobs[i])
			kc_job_stats(run->kjobs[i], &run->rjobs[i].stats);
		note_failures(run, i);
	}
	r = map_commit(run->map);
	if (r < 0)
		fprintf(stderr, "kcopy: warning: cannot save the map %s: %s\n",
			run->cfg->map_file, strerror(-r));
}

/* Also brings every queued job's stats up to date, for the map and reports. */
static uint64_t bytes_done(struct run *run)
{
	uint64_t done = 0;
	size_t i;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		if (run->kjobs[i])
			kc_job_stats(run->kjobs[i], &run->rjobs[i].stats);
		done += run->rjobs[i].stats.bytes_done;
	}
	return done;
}

/*
 * The engine's loop calls this every TICK_MS while jobs run: the status
 * line SIGUSR1 asked for, the progress line, a map checkpoint when one is
 * due. Returning true asks the engine to stop (SIGINT, SIGTERM).
 */
static bool tick(void *context)
{
	struct run *run = context;
	uint64_t done = bytes_done(run);

	if (*run->sig->status) {
		*run->sig->status = 0;
		progress_clear(run->progress);
		progress_status_line(stderr, done, run->bytes_total,
				     (double)(kc_now_ns() - run->start_ns) / 1e9);
	}
	progress_update(run->progress, done, run->rjobs, run->plan->nr_jobs, false);
	if (run->map && kc_now_ns() - run->last_commit_ns >= MAP_COMMIT_NS)
		map_checkpoint(run);
	return *run->sig->stop != 0;
}

static void fill_report_jobs(struct run *run)
{
	const struct plan_job *pj;
	struct report_job *rj;
	size_t i;
	unsigned d;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		pj = &run->plan->jobs[i];
		rj = &run->rjobs[i];
		rj->line = pj->line;
		rj->zero = pj->zero;
		rj->verified = -1;
		if (!pj->zero)
			rj->source = (struct report_region) {
				.path = target_path(pj->source.target),
				.offset = pj->source.offset, .length = pj->source.count };
		rj->num_dests = pj->num_dests;
		for (d = 0; d < pj->num_dests; d++)
			rj->dests[d] = (struct report_region) {
				.path = target_path(pj->dests[d].target),
				.offset = pj->dests[d].offset, .length = pj->dests[d].count };
		/* A stream's length is known at its end only. */
		rj->stats.length = pj->flags & KC_OPEN_END ? 0 : plan_job_length(pj);
		run->bytes_total += rj->stats.length;
	}
}

/* The device of @t on the run's queue, attached at its first use. */
static int target_dev(struct run *run, struct target *t, struct io_dev **out)
{
	struct target **targets;
	struct io_dev **devs;
	size_t i;
	int r;

	for (i = 0; i < run->nr_devs; i++)
		if (run->dev_targets[i] == t) {
			*out = run->devs[i];
			return 0;
		}
	targets = realloc(run->dev_targets, (run->nr_devs + 1) * sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	run->dev_targets = targets;
	devs = realloc(run->devs, (run->nr_devs + 1) * sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	run->devs = devs;
	r = io_attach(run->q, t, &devs[run->nr_devs]);
	if (r < 0)
		return r;
	targets[run->nr_devs] = t;
	*out = devs[run->nr_devs++];
	return 0;
}

/* The engine's view of a plan region: on a device, not a target. */
static int engine_region(struct run *run, const struct plan_region *pr,
			 struct kc_io_region *out)
{
	*out = (struct kc_io_region) { NULL, pr->offset, pr->count };
	return target_dev(run, pr->target, &out->dev);
}

static int engine_regions(struct run *run, const struct plan_job *pj,
			  struct kc_io_region *source, struct kc_io_region *dests)
{
	unsigned d;
	int r = 0;

	if (!pj->zero)
		r = engine_region(run, &pj->source, source);
	for (d = 0; d < pj->num_dests && r == 0; d++)
		r = engine_region(run, &pj->dests[d], &dests[d]);
	return r;
}

/*
 * The one place jobs reach the engine: plan job @i as its copy or zero,
 * or with @verify as the read-back of what it wrote. Only the copy or
 * zero reports its progress to the map (map_job_ops).
 */
static int queue_job(struct run *run, size_t i, bool verify, struct kc_job **job)
{
	const struct plan_job *pj = &run->plan->jobs[i];
	struct job_context *jc = &run->contexts[i];
	struct kc_io_region source, dests[KC_MAX_DESTS];
	unsigned flags = pj->flags;
	int r;

	r = engine_regions(run, pj, &source, dests);
	if (r < 0)
		return r;
	if (verify)
		return kc_verify(run->kc, pj->zero ? NULL : &source, pj->num_dests,
				 dests, job);
	*jc = (struct job_context) { .run = run, .index = i };
	if (run->map) {
		jc->ops.chunk_done = on_chunk_done;
		jc->ops.done_at = on_done_at;
	}
	if (pj->zero)
		return kc_zero(run->kc, pj->num_dests, dests, flags, &jc->ops, jc, job);
	if (job_checked(run, pj)) {
		r = data_check_create(run->algs, run->nr_algs, run->bmap,
				      &jc->source_check);
		if (r < 0)
			return r;
		jc->ops.data = on_data;
		jc->ops.data_lost = on_data_lost;
	}
	if (run->bmap) {
		jc->ops.next_data = on_next_data;
		/* As bmaptool: what the image does not map is left alone. */
		if (!(flags & KC_SPARSE))
			flags |= KC_HOLES_UNTOUCHED;
	}
	return kc_copy(run->kc, &source, pj->num_dests, dests, flags, &jc->ops, jc,
		       job);
}

/*
 * --verify of a checked copy: each destination read back alone, through
 * the same checks (the bmap's ranges, the digests), which then must
 * agree with the source's. A stream has nothing else to compare with.
 */
struct read_back {
	struct run *run;
	size_t job;
	unsigned dest;
	struct data_check *check;
	struct kc_job *kjob;
};

static int on_back_data(void *context, uint64_t offset, const void *buf,
			uint64_t length, uint64_t *bad_offset, uint64_t *bad_length)
{
	struct read_back *rb = context;

	return data_check_feed(rb->check, offset, buf, length, bad_offset, bad_length);
}

static void on_back_lost(void *context, uint64_t offset, uint64_t length)
{
	struct read_back *rb = context;

	data_check_lost(rb->check, offset, length);
}

static int on_back_next_data(void *context, uint64_t offset, uint64_t *data,
			     uint64_t *hole)
{
	struct read_back *rb = context;

	return bmap_next_data(rb->run->bmap, offset, data, hole);
}

static int queue_read_back(struct read_back *rb)
{
	struct run *run = rb->run;
	const struct plan_job *pj = &run->plan->jobs[rb->job];
	struct kc_job_ops ops = { .data = on_back_data, .data_lost = on_back_lost };
	struct kc_io_region region;
	int r;

	r = engine_region(run, &pj->dests[rb->dest], &region);
	if (r == 0)
		r = data_check_create(run->algs, run->nr_algs, run->bmap, &rb->check);
	if (r < 0)
		return r;
	if (run->bmap)
		ops.next_data = on_back_next_data;
	return kc_read(run->kc, &region, run->bmap ? KC_HOLES_UNTOUCHED : 0, &ops, rb,
		       &rb->kjob);
}

static int queue_group(struct run *run, unsigned group)
{
	size_t i;
	int r;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		if (run->plan->jobs[i].group != group)
			continue;
		r = queue_job(run, i, false, &run->kjobs[i]);
		if (r < 0)
			return r;
		run->rjobs[i].started = true;
	}
	return 0;
}

/*
 * Flush the targets written by @group, all at once, through the engine
 * (an IO_FLUSH each): N destinations take as long as the slowest.
 */
static int flush_targets(struct run *run, int group)
{
	size_t i, n, nr_targets = run->plan->nr_targets;
	struct kc_io_region *regions = NULL;
	struct target **targets;
	struct kc_job_stats st;
	struct kc_job *job = NULL;
	int r = -ENOMEM;

	targets = calloc(nr_targets ? nr_targets : 1, sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	n = plan_written_targets(run->plan, group, targets);
	regions = calloc(n ? n : 1, sizeof(*regions));
	if (!regions)
		goto out;
	for (i = 0, r = 0; i < n && r == 0; i++)
		r = target_dev(run, targets[i], &regions[i].dev);
	if (r == 0 && n)
		r = kc_flush(run->kc, (unsigned)n, regions, &job);
	if (r == 0 && n)
		r = kc_client_run(run->kc, NULL, NULL, TICK_MS);
	if (r < 0 || !job)
		goto out;
	kc_job_stats(job, &st);
	for (i = 0; i < st.nr_errors; i++)
		record_flush_failure(targets[st.errors[i].region], st.errors[i].error,
				     run);
out:
	free(regions);
	free(targets);
	return r;
}

/*
 * A stage's destinations are flushed when it ends: its jobs' time and
 * rate include their flush, and the next stage starts on stable data.
 */
static void flush_group(struct run *run, unsigned group)
{
	uint64_t now;
	size_t i;

	if (!run->cfg->flush && !run->map)
		return;
	if (flush_targets(run, (int)group) < 0)	/* no memory: do it here */
		plan_flush(run->plan, (int)group, record_flush_failure, run);
	now = kc_now_ns();
	for (i = 0; i < run->plan->nr_jobs; i++)
		if (run->plan->jobs[i].group == group)
			run->rjobs[i].flushed_ns = now;
}

static int run_groups(struct run *run)
{
	unsigned g;
	int r;

	for (g = 0; g <= run->plan->nr_groups && !*run->sig->stop; g++) {
		r = queue_group(run, g);
		if (r < 0)
			return r;
		r = kc_client_run(run->kc, tick, run, TICK_MS);
		if (r < 0)
			return r;
		flush_group(run, g);
		if (kc_client_stopped(run->kc))
			break;
	}
	bytes_done(run);
	return 0;
}

static bool has_extra(const struct report_job *rj, const struct kc_error_range *e)
{
	size_t k;

	/* Field by field: the struct has padding, which memcmp would read. */
	for (k = 0; k < rj->nr_extra; k++)
		if (rj->extra[k].region == e->region && rj->extra[k].offset == e->offset &&
		    rj->extra[k].length == e->length && rj->extra[k].error == e->error &&
		    rj->extra[k].flush == e->flush)
			return true;
	return false;
}

/* Failures found outside the engine (a flush, --verify), for the report. */
static void add_extra_errors(struct report_job *rj, const struct kc_error_range *e,
			     size_t n)
{
	struct kc_error_range *extra;

	if (!n)
		return;
	extra = realloc(rj->extra, (rj->nr_extra + n) * sizeof(*extra));
	if (!extra)
		return;
	memcpy(extra + rj->nr_extra, e, n * sizeof(*e));
	rj->extra = extra;
	rj->nr_extra += n;
}

static void record_flush_failure(const struct target *t, int error, void *ctx)
{
	struct run *run = ctx;
	const struct plan_job *pj;
	struct report_job *rj;
	size_t i;
	unsigned d;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		pj = &run->plan->jobs[i];
		rj = &run->rjobs[i];
		for (d = 0; d < pj->num_dests; d++) {
			struct kc_error_range fe = {
				(int)d, pj->dests[d].offset, pj->dests[d].count, error,
				true };

			if (pj->dests[d].target == t && !has_extra(rj, &fe))
				add_extra_errors(rj, &fe, 1);
		}
	}
}

/* The digests of a region into its report, for those --hash asked for. */
static void report_hashes(const struct run *run, struct report_region *rr,
			  struct data_check *c)
{
	unsigned k;

	data_check_finish(c);
	rr->nr_hashes = run->cfg->nr_hashes;
	for (k = 0; k < rr->nr_hashes; k++) {
		rr->hash_names[k] = digest_alg_name(run->algs[k]);
		rr->hashes[k] = data_check_hex(c, k);
	}
}

/* A read-back's checks outlive it: the report shows its digests. */
static void set_dest_hashes(struct run *run, struct read_back *rb)
{
	struct job_context *jc = &run->contexts[rb->job];

	if (!rb->check)
		return;
	jc->dest_checks[rb->dest] = rb->check;
	report_hashes(run, &run->rjobs[rb->job].dests[rb->dest], rb->check);
}

/*
 * The digests on standard output as sha256sum, xxh128sum or b2sum print
 * them ("HEX  NAME"), so that their -c can check a whole file; one that
 * could not be made (a part not read) is said on stderr.
 */
static void print_hash_lines(const struct run *run, const char *name,
			     const struct report_region *rr)
{
	unsigned k;

	for (k = 0; k < rr->nr_hashes; k++) {
		if (rr->hashes[k])
			printf("%s  %s\n", rr->hashes[k], name);
		else
			fprintf(stderr, "kcopy: %s: no %s digest: part of it was not "
				"read\n", name, digest_alg_name(run->algs[k]));
	}
}

static void print_hashes(struct run *run)
{
	const struct plan_job *pj;
	struct report_job *rj;
	size_t i;
	unsigned d;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		pj = &run->plan->jobs[i];
		rj = &run->rjobs[i];
		if (!run->contexts[i].source_check || !rj->started)
			continue;
		report_hashes(run, &rj->source, run->contexts[i].source_check);
		if (run->cfg->json)
			continue;
		print_hash_lines(run, pj->src_arg, &rj->source);
		for (d = 0; d < pj->num_dests; d++)
			print_hash_lines(run, pj->dst_args[d], &rj->dests[d]);
	}
	fflush(stdout);
}

static void free_checks(struct run *run)
{
	size_t i;
	unsigned d;

	for (i = 0; run->contexts && i < run->plan->nr_jobs; i++) {
		data_check_free(run->contexts[i].source_check);
		for (d = 0; d < KC_MAX_DESTS; d++)
			data_check_free(run->contexts[i].dest_checks[d]);
	}
}

/*
 * Is copy @i verified by reading its destinations back through its checks
 * (a stream: nothing to re-read; a bmap: its ranges), rather than by
 * comparing with the source?
 */
static bool verify_by_checks(const struct run *run, size_t i)
{
	const struct plan_job *pj = &run->plan->jobs[i];
	const struct data_check *sc = run->contexts[i].source_check;

	if (!sc)
		return false;
	return target_is_stream(pj->source.target) || run->bmap ||
	       (run->cfg->nr_hashes && !data_check_lost_bytes(sc));
}

/* A stream's copy is as long as it turned out: so are its read-backs. */
static void settle_open_end(struct run *run, size_t i)
{
	struct plan_job *pj = &run->plan->jobs[i];
	uint64_t len;
	unsigned d;

	if (!(pj->flags & KC_OPEN_END) || !run->kjobs[i])
		return;
	kc_job_stats(run->kjobs[i], &run->rjobs[i].stats);
	len = run->rjobs[i].stats.length;
	pj->source.count = run->rjobs[i].source.length = len;
	for (d = 0; d < pj->num_dests; d++)
		if (pj->dests[d].count > len)
			pj->dests[d].count = run->rjobs[i].dests[d].length = len;
}

/* What destination @rb's read-back found, as the copy's verify errors. */
static void judge_read_back(struct run *run, struct read_back *rb)
{
	struct report_job *rj = &run->rjobs[rb->job];
	const struct plan_region *dr = &run->plan->jobs[rb->job].dests[rb->dest];
	struct data_check *sc = run->contexts[rb->job].source_check;
	struct kc_error_range e;
	struct kc_job_stats vs;
	size_t k;

	kc_job_stats(rb->kjob, &vs);
	if (vs.interrupted) {
		rj->verified = 2;
		return;
	}
	for (k = 0; k < vs.nr_errors; k++) {
		e = vs.errors[k];
		e.region = (int)rb->dest;
		add_extra_errors(rj, &e, 1);
		rj->verified = 0;
	}
	if (!run->nr_algs || vs.nr_errors)
		return;
	data_check_finish(sc);
	data_check_finish(rb->check);
	if (data_check_same(sc, rb->check))
		return;
	e = (struct kc_error_range) { (int)rb->dest, dr->offset, dr->count,
				      KC_EMISMATCH, false };
	if (!data_check_hex(sc, 0))	/* nothing to compare with */
		fprintf(stderr, "kcopy: %s: cannot verify: the source was not read "
			"whole, so its digest is not known\n", target_path(dr->target));
	else
		add_extra_errors(rj, &e, 1);
	rj->verified = 0;
}

static int verify_checked(struct run *run, struct read_back **out, size_t *nr)
{
	size_t i, n = 0, nr_jobs = run->plan->nr_jobs;
	struct read_back *rbs;
	unsigned d;
	int r = 0;

	rbs = calloc(nr_jobs * KC_MAX_DESTS + 1, sizeof(*rbs));
	if (!rbs)
		return -ENOMEM;
	for (i = 0; i < nr_jobs && r == 0; i++) {
		if (!run->rjobs[i].stats.length || !verify_by_checks(run, i))
			continue;
		for (d = 0; d < run->plan->jobs[i].num_dests && r == 0; d++) {
			rbs[n] = (struct read_back) { .run = run, .job = i, .dest = d };
			r = queue_read_back(&rbs[n++]);
		}
	}
	*out = rbs;
	*nr = n;
	return r;
}

/*
 * --verify: once every job has ended and the destinations are flushed,
 * read them all back through the engine and compare (or check).
 */
static int run_verify(struct run *run)
{
	size_t i, k, nr_back = 0, nr_jobs = run->plan->nr_jobs;
	struct read_back *rbs = NULL;
	struct kc_job **vjobs;
	struct kc_job_stats vs;
	int r;

	vjobs = calloc(nr_jobs, sizeof(*vjobs));
	if (!vjobs)
		return -ENOMEM;
	for (i = 0; i < nr_jobs; i++)
		run->rjobs[i].verified = 1;
	r = verify_checked(run, &rbs, &nr_back);
	for (i = 0; i < nr_jobs && r == 0; i++)
		if (run->rjobs[i].stats.length && !verify_by_checks(run, i))
			r = queue_job(run, i, true, &vjobs[i]);
	if (r == 0)
		r = kc_client_run(run->kc, tick, run, TICK_MS);
	for (i = 0; i < nr_jobs && r == 0; i++) {
		if (!vjobs[i])
			continue;
		kc_job_stats(vjobs[i], &vs);
		if (vs.interrupted)
			run->rjobs[i].verified = 2;	/* cut short */
		else if (vs.read_err || vs.write_err)
			run->rjobs[i].verified = 0;
		add_extra_errors(&run->rjobs[i], vs.errors, vs.nr_errors);
	}
	for (k = 0; k < nr_back; k++) {
		if (r == 0 && rbs[k].kjob)
			judge_read_back(run, &rbs[k]);
		set_dest_hashes(run, &rbs[k]);
	}
	free(rbs);
	free(vjobs);
	return r;
}

static enum report_status final_status(const struct run *run)
{
	const struct report_job *rj;
	size_t i;

	if (*run->sig->stop || kc_client_stopped(run->kc))
		return REPORT_INTERRUPTED;
	for (i = 0; i < run->plan->nr_jobs; i++) {
		rj = &run->rjobs[i];
		if (rj->stats.read_err || rj->stats.write_err || rj->nr_extra ||
		    rj->verified == 0)
			return REPORT_ERRORS;
	}
	return REPORT_OK;
}

static int exit_code(enum report_status status)
{
	switch (status) {
	case REPORT_OK:
		return 0;
	case REPORT_ERRORS:
		return EXIT_IO_ERROR;
	case REPORT_INTERRUPTED:
		break;
	}
	return EXIT_INTERRUPTED;
}

static void warn_fallback(const char *path, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "kcopy: warning: %s: O_DIRECT is not supported, using "
		"buffered I/O\n", path);
}

/*
 * Destinations are flushed before success is reported, and before the
 * map may claim their data, and before --verify reads them back: each
 * stage flushed its own as it ended (flush_group); what is left is to
 * let the map claim what those flushes made stable.
 */
static void final_flush(struct run *run)
{
	if (run->map)
		map_checkpoint(run);	/* flushes, records what failed */
}

static int finish(struct run *run)
{
	enum report_status status;
	double seconds;
	size_t i;
	int code;

	print_hashes(run);
	status = final_status(run);
	seconds = (double)(kc_now_ns() - run->start_ns) / 1e9;
	progress_update(run->progress, bytes_done(run), run->rjobs,
			run->plan->nr_jobs, run->cfg->progress == PROGRESS_JSON);
	progress_clear(run->progress);
	if (!run->cfg->quiet)
		report_human(stderr, run->rjobs, run->plan->nr_jobs, seconds, status);
	else	/* -q never hides an error */
		report_errors(stderr, run->rjobs, run->plan->nr_jobs);
	code = exit_code(status);
	if (run->cfg->json && report_json(stdout, run->rjobs, run->plan->nr_jobs,
					   seconds, status) < 0) {
		fprintf(stderr, "kcopy: write error on standard output: %s\n",
			strerror(errno));
		if (!code)
			code = EXIT_IO_ERROR;
	}
	for (i = 0; i < run->plan->nr_jobs; i++)
		free(run->rjobs[i].extra);
	return code;
}

/* The stages, then what follows them: the map's last word, --verify. */
static int run_jobs(struct run *run)
{
	int r = run_groups(run);
	size_t i;

	if (r < 0)
		return r;
	for (i = 0; i < run->plan->nr_jobs; i++)
		settle_open_end(run, i);
	final_flush(run);
	if (!run->cfg->verify || kc_client_stopped(run->kc))
		return 0;
	r = run_verify(run);
	/* A mismatch is a failed range: the map must not claim it. */
	if (r == 0)
		map_checkpoint(run);
	return r;
}

/* A stop asked for before anything was written: nothing to report. */
static int stop_asked(const struct run *run, char *err, size_t errlen)
{
	if (!*run->sig->stop)
		return 0;
	snprintf(err, errlen, "interrupted before anything was written");
	return -EINTR;
}

/* Jobs that run at once, and the most destinations of one, for the ring. */
static void group_widths(const struct plan *plan, unsigned *max_jobs,
			 unsigned *max_dests)
{
	unsigned g, n;
	size_t i;

	*max_jobs = *max_dests = 1;
	for (g = 0; g <= plan->nr_groups; g++) {
		for (i = 0, n = 0; i < plan->nr_jobs; i++) {
			if (plan->jobs[i].group != g)
				continue;
			n++;
			if (plan->jobs[i].num_dests > *max_dests)
				*max_dests = plan->jobs[i].num_dests;
		}
		if (n > *max_jobs)
			*max_jobs = n;
	}
}

/*
 * The storage queue, before anything is written: a failure is an error of
 * its own, never a failed read or write. io_uring may be switched off
 * (kernel.io_uring_disabled, a container's seccomp filter): unless --io
 * asked for it, libaio serves then.
 */
static int open_queue(struct run *run, unsigned depth, char *err, size_t errlen)
{
	const struct io_backend *io = run->cfg->io;
	int r;

	r = io_set_create(io, depth, &run->q);
	if (r < 0 && !run->cfg->io_given && io != io_backend_find("aio")) {
		io = io_backend_find("aio");
		r = io_set_create(io, depth, &run->q);
	}
	if (r < 0)
		snprintf(err, errlen, "cannot set up asynchronous I/O (%s): %s%s",
			 io->name, strerror(-r),
			 r == -EAGAIN && !strcmp(io->name, "aio") ?
			 " (the system's limit fs.aio-max-nr is used up)" :
			 r == -EOPNOTSUPP ? " (the kernel is older than 5.6)" : "");
	return r;
}

/*
 * --bmap: read and checked before anything else (a corrupted bmap is
 * refused); every copy's source must be its image's size (plan_open).
 * The digests: --hash's, or one of our own to verify a stream by.
 */
static int open_bmap(struct run *run, char *err, size_t errlen)
{
	const struct session_config *o = run->cfg;
	char why[512];
	int r;

	run->nr_algs = o->nr_hashes;
	memcpy(run->algs, o->hashes, sizeof(run->algs));
	if (!o->bmap_file)
		return 0;
	r = bmap_load(o->bmap_file, &run->bmap, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", o->bmap_file, why);
		return r;
	}
	run->plan->image_size = bmap_image_size(run->bmap);
	return 0;
}

/*
 * A pipe can't be told from another by a map (what it carries has no
 * name), so a map can't resume from one; a compressed file it can.
 */
static int check_streams(struct run *run, char *err, size_t errlen)
{
	const struct plan_job *pj;
	size_t i;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		pj = &run->plan->jobs[i];
		if (pj->zero || !target_is_stream(pj->source.target))
			continue;
		/* To verify a stream: a digest taken as it passes. */
		if (run->cfg->verify && !run->nr_algs && !run->bmap)
			run->algs[run->nr_algs++] = DIGEST_XXH128;
		if (!target_is_pipe(pj->source.target) || !run->cfg->map_file)
			continue;
		snprintf(err, errlen, "%s: --map can't resume from a pipe (nothing says "
			 "the next one carries the same data); write it to a file first, "
			 "or copy without --map", pj->src_arg);
		return -EINVAL;
	}
	return 0;
}

/*
 * Everything that can refuse the run comes before anything is written;
 * plan_prepare() then creates and extends files, all or nothing.
 */
static int setup_run(struct run *run, char *err, size_t errlen)
{
	const struct session_config *o = run->cfg;
	struct kc_client_config engine;
	unsigned max_jobs, max_dests;
	int r;

	r = open_bmap(run, err, errlen);
	if (r == 0)
		r = plan_open(run->plan, err, errlen);
	if (r == 0)
		r = check_streams(run, err, errlen);
	if (r == 0 && o->job_file && strcmp(o->job_file, "-"))
		r = plan_check_not_region(run->plan, o->job_file, "job file", err,
					  errlen);
	if (r == 0 && o->map_file)
		r = resume_open(run->plan, o->map_file, &run->map, err, errlen);
	if (r == 0)
		r = stop_asked(run, err, errlen);
	if (r < 0)
		return r;
	group_widths(run->plan, &max_jobs, &max_dests);
	r = open_queue(run, kc_io_depth(&o->engine, max_jobs, max_dests), err,
		       errlen);
	if (r < 0)
		return r;
	engine = o->engine;
	engine.queue = run->q;
	r = kc_client_create(&engine, &run->kc);
	if (r < 0) {
		snprintf(err, errlen, "cannot set up the engine: %s", strerror(-r));
		return r;
	}
	r = stop_asked(run, err, errlen);
	if (r == 0)
		r = plan_prepare(run->plan, err, errlen);
	if (r == 0 && run->map)
		r = resume_settle(run->plan, run->map);
	/*
	 * Saved before the first I/O, so that a crash from here on leaves a
	 * map that knows the files just created (and claims nothing of them).
	 */
	if (r == 0 && run->map) {
		r = map_commit(run->map);
		if (r < 0)
			snprintf(err, errlen, "%s: cannot save the map: %s",
				 o->map_file, strerror(-r));
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (r < 0)
		plan_unprepare(run->plan);
	return r;
}

int session_run(const struct session_config *o, struct plan *plan,
		const struct session_signals *sig)
{
	struct run run = { .cfg = o, .plan = plan, .sig = sig };
	char err[1024];
	int r, code = EXIT_IO_ERROR;

	r = setup_run(&run, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "kcopy: %s\n", err);
		code = r == -EINTR ? EXIT_INTERRUPTED : EXIT_USAGE;
		goto out;
	}
	if (!o->quiet)
		plan_for_each_fallback(plan, warn_fallback, NULL);
	run.kjobs = calloc(plan->nr_jobs, sizeof(*run.kjobs));
	run.rjobs = calloc(plan->nr_jobs, sizeof(*run.rjobs));
	run.contexts = calloc(plan->nr_jobs, sizeof(*run.contexts));
	if (!run.kjobs || !run.rjobs || !run.contexts) {
		fprintf(stderr, "kcopy: out of memory\n");
		goto out;
	}
	fill_report_jobs(&run);
	run.progress = progress_create(o->progress, stderr, run.bytes_total);
	run.start_ns = run.last_commit_ns = kc_now_ns();
	r = run_jobs(&run);
	if (r < 0) {
		fprintf(stderr, "kcopy: engine failure: %s\n", strerror(-r));
		goto out;
	}
	if (io_stalled(run.q))
		fprintf(stderr, "kcopy: the kernel took no I/O for 30 s (io_submit: "
			"%s); the I/O queued then failed\n", strerror(EAGAIN));
	code = finish(&run);
out:
	/* A run refused or stopped before it began leaves no new map behind. */
	map_close(run.map, !run.rjobs);
	free_checks(&run);
	bmap_free(run.bmap);
	progress_destroy(run.progress);
	free(run.rjobs);
	free(run.kjobs);
	free(run.contexts);
	kc_client_destroy(run.kc);
	while (run.nr_devs)
		io_detach(run.devs[--run.nr_devs]);
	free(run.devs);
	free(run.dev_targets);
	io_queue_destroy(run.q);
	return code;
}

