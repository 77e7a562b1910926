/* SPDX-License-Identifier: GPL-2.0 */
/*
 * map.h - the resume map (--map=FILE, SPEC §3 Map).
 *
 * A text file in the spirit of ddrescue's mapfile: which jobs it belongs
 * to, which ranges of each job are finished — written to every
 * destination AND flushed — and which failed. The map never claims work
 * that is not on every destination: a range that failed in any way (read
 * error, write error on any destination, zero-filled block, flush error,
 * verify mismatch) is taken out of what is done and kept as failed until
 * a run writes it everywhere.
 *
 * Each job is known by two lines of text that the caller renders:
 *   names    what the command said, resolved: op, canonical paths,
 *            offsets, lengths. A map whose names differ is refused.
 *   objects  what those names are now: device, inode, size (and what a
 *            loop device or partition stands on). A map whose objects
 *            differ is refused, except for a job one of whose
 *            destinations is created in this run: that job is "fresh",
 *            nothing of it counts as done, and its objects are taken
 *            once the files exist (map_set_objects).
 *
 * The file is replaced atomically: a temporary file created exclusively
 * beside it (never an existing file, never through a symlink), fsync'ed,
 * renamed over FILE, and the directory fsync'ed. A kill -9 at any moment
 * leaves the old map or the new one. The map is locked (flock) for the
 * whole run, so two runs cannot share it.
 *
 * Protocol: map_note_written() as chunks complete; map_note_failed() for
 * every failure; then, from time to time and at the end, flush the
 * destinations and call map_commit(), which claims what was noted before
 * the flush less what failed.
 */
#ifndef KCOPY_MAP_H
#define KCOPY_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct map;

struct map_job_desc {
	const char *names;	/* one line, no '\n' */
	const char *objects;	/* one line; NULL: the job is fresh */
	uint64_t length;	/* the job's length in bytes */
};

/*
 * Open and lock the map at @path for @jobs: load it if it exists (a
 * missing or empty file starts a new map; a missing one is created
 * empty, so that it can be locked). Returns 0, -EINVAL when the file is
 * not a kcopy map or is damaged, -ESTALE when it belongs to other regions,
 * -EBUSY when another kcopy holds it, or another -errno; a message in
 * @err in every case. Nothing is written on failure.
 */
int map_open(const char *path, const struct map_job_desc *jobs, size_t nr_jobs,
	     struct map **out, char *err, size_t errlen);

/*
 * Parse map text without a file (for tests and fuzzing): the same checks
 * as map_open(), @name in messages. The result cannot be committed.
 */
int map_parse(const char *name, const char *text, size_t len,
	      const struct map_job_desc *jobs, size_t nr_jobs,
	      struct map **out, char *err, size_t errlen);

/*
 * Close the map. With @discard, a map file that map_open() created and
 * nothing was ever saved to is removed (the run was refused after all).
 */
void map_close(struct map *map, bool discard);

/* A fresh job's objects, now that its files exist. 0 or -ENOMEM. */
int map_set_objects(struct map *map, size_t job, const char *objects);

/* Bytes already finished at @offset of job @job (0: none). */
uint64_t map_done_at(const struct map *map, size_t job, uint64_t offset);

/*
 * The next finished range of @job at or after @offset: true and
 * [*start, *end), or false when there is none. For tests of the loader.
 */
bool map_next_done(const struct map *map, size_t job, uint64_t offset,
		   uint64_t *start, uint64_t *end);

/*
 * The next range of @job at or after @offset that is not done: true and
 * [*start, *end), or false when everything from @offset on is done.
 */
bool map_next_undone(const struct map *map, size_t job, uint64_t offset,
		     uint64_t *start, uint64_t *end);

/*
 * [offset, offset + length) of @job is no longer done (what it read or
 * wrote is being redone by an earlier job). 0 or -ENOMEM.
 */
int map_forget(struct map *map, size_t job, uint64_t offset, uint64_t length);

/* Bytes of @job that the map holds as failed. */
uint64_t map_failed_bytes(const struct map *map, size_t job);

/* [offset, offset + length), relative to the job, is written, not yet flushed. */
void map_note_written(struct map *map, size_t job, uint64_t offset,
		      uint64_t length);

/* [offset, offset + length), relative to the job, failed (in this run). */
int map_note_failed(struct map *map, size_t job, uint64_t offset,
		    uint64_t length);

/*
 * Destinations are flushed: claim what was noted written and did not
 * fail, take what failed out of what is done, and save the map.
 * Returns 0 or -errno.
 */
int map_commit(struct map *map);

#endif
