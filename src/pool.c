// SPDX-License-Identifier: GPL-2.0
/*
 * pool.c - see pool.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pool.h"

/* Align the slab so slots can be backed by transparent huge pages. */
#define POOL_ALIGN (2u << 20)

struct pool {
	size_t slot_size;
	unsigned nr_slots;
	unsigned nr_free;
	void *map;		/* what mmap returned */
	size_t map_len;
	char *base;		/* first slot, POOL_ALIGN-aligned */
	unsigned *free_stack;	/* indices of free slots; top is reused first */
};

int pool_create(size_t slot_size, unsigned nr_slots, struct pool **out)
{
	struct pool *pool;
	uintptr_t base;
	unsigned i;
	int r = -ENOMEM;

	if (!slot_size || !nr_slots || slot_size > SIZE_MAX / nr_slots - POOL_ALIGN)
		return -EINVAL;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->free_stack = calloc(nr_slots, sizeof(*pool->free_stack));
	if (!pool->free_stack)
		goto bad_stack;

	pool->map_len = slot_size * nr_slots + POOL_ALIGN;
	pool->map = mmap(NULL, pool->map_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool->map == MAP_FAILED)
		goto bad_map;
	base = ((uintptr_t)pool->map + POOL_ALIGN - 1) & ~(uintptr_t)(POOL_ALIGN - 1);
	pool->base = (char *)base;
	/* Best effort: fewer TLB misses on the data path. */
	madvise(pool->base, slot_size * nr_slots, MADV_HUGEPAGE);

	pool->slot_size = slot_size;
	pool->nr_slots = nr_slots;
	/* Lowest slot on top of the stack: a small job touches little memory. */
	for (i = 0; i < nr_slots; i++)
		pool->free_stack[i] = nr_slots - 1 - i;
	pool->nr_free = nr_slots;
	*out = pool;
	return 0;

bad_map:
	free(pool->free_stack);
bad_stack:
	free(pool);
	return r;
}

void pool_destroy(struct pool *pool)
{
	if (!pool)
		return;
	munmap(pool->map, pool->map_len);
	free(pool->free_stack);
	free(pool);
}

void *pool_get(struct pool *pool)
{
	if (!pool->nr_free)
		return NULL;
	return pool->base + (size_t)pool->free_stack[--pool->nr_free] * pool->slot_size;
}

void pool_put(struct pool *pool, void *slot)
{
	size_t index = ((char *)slot - pool->base) / pool->slot_size;

	pool->free_stack[pool->nr_free++] = (unsigned)index;
}

size_t pool_slot_size(const struct pool *pool)
{
	return pool->slot_size;
}

unsigned pool_nr_free(const struct pool *pool)
{
	return pool->nr_free;
}

unsigned pool_nr_slots(const struct pool *pool)
{
	return pool->nr_slots;
}
