// SPDX-License-Identifier: GPL-2.0
/*
 * resume.c - the map (--map) of a plan's jobs: opened before anything is
 * written, then brought up to date with what plan_prepare() created and
 * with what later stages must do again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "resume.h"
#include "target.h"

int resume_open(const struct plan *plan, const char *path, struct map **map,
		char *err, size_t errlen)
{
	struct map_job_desc *descs;
	size_t i;
	int r;

	r = plan_check_not_region(plan, path, "map", err, errlen);
	if (r < 0)
		return r;
	descs = calloc(plan->nr_jobs ? plan->nr_jobs : 1, sizeof(*descs));
	if (!descs)
		goto nomem;
	for (i = 0; i < plan->nr_jobs; i++) {
		descs[i].names = plan_job_names(plan, i);
		descs[i].objects = plan_job_objects(plan, i);
		descs[i].length = plan_job_length(&plan->jobs[i]);
		if (!descs[i].names) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = map_open(path, descs, plan->nr_jobs, map, err, errlen);
out:
	for (i = 0; i < plan->nr_jobs; i++) {
		free((char *)descs[i].names);
		free((char *)descs[i].objects);
	}
	free(descs);
	if (r != -ENOMEM)
		return r;
nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* Fresh jobs (a destination was just created) are known by their files now. */
static int settle_objects(const struct plan *plan, struct map *map)
{
	char *objects;
	size_t i;
	int r = 0;

	for (i = 0; i < plan->nr_jobs && r == 0; i++) {
		objects = plan_job_objects(plan, i);
		r = objects ? map_set_objects(map, i, objects) : -ENOMEM;
		free(objects);
	}
	return r;
}

/*
 * A later stage may stand on what an earlier one writes (copy A to D; wait;
 * copy D to E, or a zero over part of D). Whatever an earlier job will
 * write again in this run, every later job that reads or writes the same
 * bytes must do again too, or the re-run would end with the stages' bytes
 * in the wrong order. Jobs are in stage order, so this cascades.
 */
static int forget_overlap(const struct plan *plan, struct map *map, size_t k,
			  const struct plan_region *w, uint64_t start, uint64_t end)
{
	const struct plan_job *pk = &plan->jobs[k];
	uint64_t wbase, rbase, lo, hi, off;
	unsigned r;
	int rc = 0;

	for (r = 0; r <= pk->num_dests && rc == 0; r++) {
		const struct plan_region *rg = r == 0 ? &pk->source : &pk->dests[r - 1];

		if ((r == 0 && pk->zero) ||
		    !target_same_storage(w->target, rg->target, &wbase, &rbase))
			continue;
		/* Where the rewritten bytes and this region meet, on the storage. */
		lo = wbase + w->offset + start;
		hi = wbase + w->offset + end;
		off = rbase + rg->offset;
		if (lo < off)
			lo = off;
		if (hi > off + rg->count)
			hi = off + rg->count;
		if (lo < hi)
			rc = map_forget(map, k, lo - off, hi - lo);
	}
	return rc;
}

static int redo_later_stages(const struct plan *plan, struct map *map)
{
	uint64_t start, end, pos;
	size_t j, k;
	unsigned d;
	int r = 0;

	for (j = 0; j < plan->nr_jobs && r == 0; j++) {
		const struct plan_job *pj = &plan->jobs[j];

		for (pos = 0; r == 0 && map_next_undone(map, j, pos, &start, &end);
		     pos = end) {
			for (k = j + 1; k < plan->nr_jobs && r == 0; k++) {
				if (plan->jobs[k].group == pj->group)
					continue;
				for (d = 0; d < pj->num_dests && r == 0; d++)
					if (start < pj->dests[d].count)
						r = forget_overlap(plan, map, k, &pj->dests[d],
								   start, end < pj->dests[d].count ?
								   end : pj->dests[d].count);
			}
		}
	}
	return r;
}

int resume_settle(const struct plan *plan, struct map *map)
{
	int r = settle_objects(plan, map);

	return r < 0 ? r : redo_later_stages(plan, map);
}
