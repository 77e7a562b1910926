/* SPDX-License-Identifier: GPL-2.0 */
/*
 * map.h - the resume map (--map=FILE, SPEC §3 Map).
 *
 * A text file in the spirit of ddrescue's mapfile: which jobs it belongs
 * to (their regions, so a map for other regions is refused), which ranges
 * of each job are finished — written AND flushed — and which ranges
 * failed. It is replaced atomically: written to FILE.tmp, fsync'ed,
 * renamed over FILE, and the directory fsync'ed. A kill -9 at any moment
 * leaves either the old map or the new one, and each only claims data
 * that was on stable storage before it was written.
 *
 * Protocol: map_note_written() as chunks complete; then, from time to
 * time and at the end, flush the destinations and call map_commit(),
 * which claims exactly what was noted before the flush.
 */
#ifndef KCOPY_MAP_H
#define KCOPY_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "kcopyd.h"
#include "plan.h"

struct map;

/*
 * Open the map at @path for @plan: load it if it exists (a missing or
 * empty file starts a new map). Returns 0, -EINVAL when the file is not a
 * kcopy map or is damaged, -ESTALE when it belongs to other regions (with
 * a message in @err), or another -errno.
 */
int map_open(const char *path, const struct plan *plan, struct map **out,
	     char *err, size_t errlen);
void map_close(struct map *map);

/* Bytes already finished at @offset of job @job (0: none). */
uint64_t map_done_at(const struct map *map, size_t job, uint64_t offset);

/* [offset, offset + length) of job @job is written, not yet flushed. */
void map_note_written(struct map *map, size_t job, uint64_t offset,
		      uint64_t length);

/* The failed ranges of job @job, to record with the next commit. */
void map_set_errors(struct map *map, size_t job,
		    const struct kc_error_range *errors, size_t nr_errors);

/*
 * Destinations are flushed: claim what was noted and save the map.
 * Returns 0 or -errno.
 */
int map_commit(struct map *map);

#endif
