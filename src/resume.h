/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resume.h - what a run with --map must settle before its first write.
 *
 * Between plan_open() and plan_prepare(), resume_open() opens the map
 * (or starts a new one) for the plan's jobs; after plan_prepare(),
 * resume_settle() tells the map what it could not know before.
 */
#ifndef KCOPY_RESUME_H
#define KCOPY_RESUME_H

#include <stddef.h>

#include "map.h"
#include "plan.h"

/*
 * Open the map at @path for every job of @plan by its names and objects
 * (map.h). @path must be none of the plan's regions. Returns 0 and
 * *@map, or -errno with a message in @err.
 */
int resume_open(const struct plan *plan, const char *path, struct map **map,
		char *err, size_t errlen);

/*
 * Record the objects of jobs whose destinations were just created, and
 * make every later stage that stands on bytes an earlier one will write
 * again do its part again too. Returns 0 or -errno (-ENOMEM).
 */
int resume_settle(const struct plan *plan, struct map *map);

#endif
