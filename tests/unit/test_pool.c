// SPDX-License-Identifier: GPL-2.0
/* test_pool.c - the bounded slot pool */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool.h"
#include "unit.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE ((uintptr_t)4096)

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a;
	uintptr_t y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

static struct pool *mk(size_t slot_size, unsigned nr_slots)
{
	struct pool *pool = NULL;
	int r = pool_create(slot_size, nr_slots, &pool);

	if (r || !pool) {
		fprintf(stderr, "pool_create(%zu, %u): %d\n", slot_size,
			nr_slots, r);
		exit(2);
	}
	return pool;
}

/* is the page holding @p mapped? */
static bool mapped(const void *p)
{
	unsigned char vec;
	void *page = (void *)((uintptr_t)p & ~(PAGE - 1));

	return mincore(page, PAGE, &vec) == 0;
}

static void test_create_bad(void)
{
	struct pool *pool = NULL;

	CHECK_EQ_INT(pool_create(0, 4, &pool), -EINVAL);
	CHECK(pool == NULL);
	CHECK_EQ_INT(pool_create(64 * KiB, 0, &pool), -EINVAL);
	CHECK(pool == NULL);
	CHECK_EQ_INT(pool_create(0, 0, &pool), -EINVAL);
	CHECK(pool == NULL);
	/* sizes whose product (plus the alignment slack) overflows */
	CHECK_EQ_INT(pool_create(SIZE_MAX, 2, &pool), -EINVAL);
	CHECK_EQ_INT(pool_create(SIZE_MAX / 2 + 1, 2, &pool), -EINVAL);
	CHECK_EQ_INT(pool_create(SIZE_MAX - KiB, 1, &pool), -EINVAL);
	CHECK(pool == NULL);
	/* destroying nothing is fine */
	pool_destroy(NULL);
}

static void test_create(void)
{
	struct pool *pool = NULL;

	CHECK_EQ_INT(pool_create(64 * KiB, 8, &pool), 0);
	if (!CHECK(pool != NULL))
		return;
	CHECK_EQ_U64(pool_slot_size(pool), 64 * KiB);
	CHECK_EQ_INT(pool_nr_slots(pool), 8);
	CHECK_EQ_INT(pool_nr_free(pool), 8);
	pool_destroy(pool);

	pool = mk(4096, 1);
	CHECK_EQ_INT(pool_nr_slots(pool), 1);
	CHECK_EQ_INT(pool_nr_free(pool), 1);
	pool_destroy(pool);
}

/*
 * Every slot: distinct, page-aligned, not overlapping another, and the
 * (nr_slots + 1)th get fails; nr_free counts down to 0 and stays there.
 */
static void check_get_all(size_t slot_size, unsigned nr_slots)
{
	struct pool *pool = mk(slot_size, nr_slots);
	void **slots = calloc(nr_slots, sizeof(*slots));
	unsigned i;
	bool ok = true;

	if (!slots)
		exit(2);
	for (i = 0; i < nr_slots; i++) {
		slots[i] = pool_get(pool);
		if (!slots[i] || (uintptr_t)slots[i] % PAGE ||
		    pool_nr_free(pool) != nr_slots - 1 - i) {
			CHECK(slots[i] != NULL);
			CHECK((uintptr_t)slots[i] % PAGE == 0);
			CHECK_EQ_INT(pool_nr_free(pool), nr_slots - 1 - i);
			ok = false;
			break;
		}
	}
	if (CHECK(ok)) {
		CHECK(pool_get(pool) == NULL);
		CHECK(pool_get(pool) == NULL);
		CHECK_EQ_INT(pool_nr_free(pool), 0);

		qsort(slots, nr_slots, sizeof(*slots), cmp_ptr);
		for (i = 1; i < nr_slots; i++) {
			if ((char *)slots[i - 1] + slot_size > (char *)slots[i]) {
				CHECK((char *)slots[i - 1] + slot_size <=
				      (char *)slots[i]);
				ok = false;
				break;
			}
		}
		CHECK(ok);	/* distinct and non-overlapping */
		/* one mapping, aligned for huge pages (pool.h) */
		CHECK((uintptr_t)slots[0] % (2 * MiB) == 0);
		CHECK((char *)slots[nr_slots - 1] - (char *)slots[0] ==
		      (ptrdiff_t)((nr_slots - 1) * slot_size));

		for (i = 0; i < nr_slots; i++)
			pool_put(pool, slots[i]);
		CHECK_EQ_INT(pool_nr_free(pool), nr_slots);
	}
	free(slots);
	pool_destroy(pool);
}

static void test_get_all(void)
{
	check_get_all(4096, 1);
	check_get_all(4096, 3);
	check_get_all(64 * KiB, 16);
	check_get_all(12 * KiB, 7);		/* a multiple of the page only */
	check_get_all(1 * MiB, 33);
	check_get_all(4096, 65536);
	check_get_all(4 * MiB, 5);		/* slots bigger than the alignment */
}

/* pool_put makes one slot available again, and nr_free follows */
static void test_put(void)
{
	struct pool *pool = mk(64 * KiB, 2);
	void *a = pool_get(pool), *b = pool_get(pool), *c;

	CHECK(a && b && a != b);
	CHECK(pool_get(pool) == NULL);
	CHECK_EQ_INT(pool_nr_free(pool), 0);

	pool_put(pool, a);
	CHECK_EQ_INT(pool_nr_free(pool), 1);
	c = pool_get(pool);
	CHECK(c == a);
	CHECK_EQ_INT(pool_nr_free(pool), 0);
	CHECK(pool_get(pool) == NULL);
	CHECK_EQ_INT(pool_nr_free(pool), 0);	/* a failed get changes nothing */

	pool_put(pool, b);
	pool_put(pool, c);
	CHECK_EQ_INT(pool_nr_free(pool), 2);
	pool_destroy(pool);
}

/* the last slot given back is the first handed out again */
static void test_lifo(void)
{
	struct pool *pool = mk(8 * KiB, 6);
	void *s[6];
	unsigned i;

	/* a fresh pool hands out the lowest slot first (pool.c) */
	for (i = 0; i < 6; i++)
		s[i] = pool_get(pool);
	for (i = 1; i < 6; i++)
		CHECK((char *)s[i] == (char *)s[0] + i * 8 * KiB);

	pool_put(pool, s[2]);
	CHECK(pool_get(pool) == s[2]);

	pool_put(pool, s[4]);
	pool_put(pool, s[1]);
	pool_put(pool, s[5]);
	CHECK_EQ_INT(pool_nr_free(pool), 3);
	CHECK(pool_get(pool) == s[5]);
	CHECK(pool_get(pool) == s[1]);
	pool_put(pool, s[0]);
	CHECK(pool_get(pool) == s[0]);
	CHECK(pool_get(pool) == s[4]);
	CHECK(pool_get(pool) == NULL);

	/* all back in one order, out again in the reverse */
	for (i = 0; i < 6; i++)
		pool_put(pool, s[i]);
	for (i = 6; i-- > 0;)
		CHECK(pool_get(pool) == s[i]);
	pool_destroy(pool);
}

/* a random get/put workload against a model of the free count */
static void test_churn(void)
{
	enum { N = 32 };
	struct pool *pool = mk(4096, N);
	void *out[N];
	unsigned nout = 0, step;
	uint64_t x = 88172645463325252ull;
	bool ok = true;

	for (step = 0; step < 100000; step++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 5 < 3) {	/* get, a little more often than put */
			void *s = pool_get(pool);
			unsigned i;

			if (nout == N) {
				if (s) {
					CHECK(!"get succeeded with every slot out");
					ok = false;
					break;
				}
				continue;
			}
			if (!s) {
				CHECK(s != NULL);
				ok = false;
				break;
			}
			for (i = 0; i < nout; i++)
				if (out[i] == s)
					break;
			if (i < nout) {
				CHECK(!"a slot handed out twice");
				ok = false;
				break;
			}
			out[nout++] = s;
		} else if (nout) {
			unsigned i = (unsigned)(x >> 32) % nout;

			pool_put(pool, out[i]);
			out[i] = out[--nout];
		}
		if (pool_nr_free(pool) != N - nout) {
			CHECK_EQ_INT(pool_nr_free(pool), N - nout);
			ok = false;
			break;
		}
	}
	CHECK(ok);
	while (nout)
		pool_put(pool, out[--nout]);
	CHECK_EQ_INT(pool_nr_free(pool), N);
	pool_destroy(pool);
}

/* every byte of every slot is writable and keeps what was written */
static void test_writable(void)
{
	const size_t size = 64 * KiB;
	struct pool *pool = mk(size, 9);
	unsigned char *s[9];
	unsigned i;
	size_t j;
	bool ok = true;

	for (i = 0; i < 9; i++) {
		s[i] = pool_get(pool);
		if (!s[i])
			exit(2);
		memset(s[i], 0xa0 + i, size);
	}
	for (i = 0; i < 9 && ok; i++)
		for (j = 0; j < size; j++)
			if (s[i][j] != 0xa0 + i) {
				CHECK(s[i][j] == 0xa0 + i);
				ok = false;
				break;
			}
	CHECK(ok);
	/* give back, take again: usable the same way */
	for (i = 0; i < 9; i++)
		pool_put(pool, s[i]);
	for (i = 0; i < 9; i++) {
		unsigned char *p = pool_get(pool);

		p[0] = 1;
		p[size - 1] = 2;
		CHECK(p[0] == 1 && p[size - 1] == 2);
	}
	pool_destroy(pool);
}

/*
 * Destroy unmaps everything (the mapping is not ASan's to track, so look
 * with mincore) and frees everything (LeakSanitizer at exit).
 */
static void test_destroy(void)
{
	struct pool *pool = mk(64 * KiB, 4);
	void *first = pool_get(pool), *last;

	pool_get(pool);
	pool_get(pool);
	last = pool_get(pool);
	memset(first, 1, 64 * KiB);
	memset(last, 1, 64 * KiB);
	CHECK(mapped(first));
	CHECK(mapped((char *)last + 64 * KiB - 1));
	/* slots still out at destroy: the pool owns them anyway */
	pool_destroy(pool);
	CHECK(!mapped(first));
	CHECK(!mapped((char *)last + 64 * KiB - 1));

	/* a pool never used at all */
	pool = mk(1 * MiB, 100);
	pool_destroy(pool);
}

int main(void)
{
	test_create_bad();
	test_create();
	test_get_all();
	test_put();
	test_lifo();
	test_churn();
	test_writable();
	test_destroy();
	return unit_summary();
}
