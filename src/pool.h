/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pool.h - the bounded buffer pool (kcopyd's reserved page list).
 *
 * kcopyd hands each sub-job a list of pages; an O_DIRECT iocb wants one
 * contiguous, aligned buffer, so our unit is a slot of sub_job_size bytes.
 * The pool is one mapping of nr_slots slots, aligned for huge pages, that
 * is never grown: pool_get() fails when every slot is out and the caller
 * waits (push_head), exactly as run_pages_job() does. Memory that is never
 * used is never touched, so RSS stays within the bound.
 */
#ifndef KCOPY_POOL_H
#define KCOPY_POOL_H

#include <stddef.h>

struct pool;

/* Returns 0 or -errno (-EINVAL for a zero size or count, -ENOMEM). */
int pool_create(size_t slot_size, unsigned nr_slots, struct pool **out);
void pool_destroy(struct pool *pool);

/* A free slot, or NULL when all are out. Slots are page-aligned. */
void *pool_get(struct pool *pool);
/* Give back a slot obtained from pool_get(). */
void pool_put(struct pool *pool, void *slot);

size_t pool_slot_size(const struct pool *pool);
unsigned pool_nr_free(const struct pool *pool);
unsigned pool_nr_slots(const struct pool *pool);

#endif
