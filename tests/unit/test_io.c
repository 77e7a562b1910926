// SPDX-License-Identifier: GPL-2.0
/*
 * test_io.c - the contract of io.h, against every built-in backend (aio,
 * uring) on regular files in a temporary directory: O_DIRECT on the local
 * disk (/var/tmp), buffered (TARGET_BUFFERED), and tmpfs (/dev/shm, which
 * falls back to buffered where it refuses O_DIRECT, and has no ZERO_RANGE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "target.h"
#include "unit.h"

#define KiB 1024u
#define FILE_SIZE (1024 * KiB)
#define MANY 64		/* requests gathered at once, more than DEPTH */
#define DEPTH 8

struct place {
	const char *dir;	/* where the files go */
	unsigned flags;		/* TARGET_* */
	const char *name;
};

/* One backend on one place: its queue, a file and a device on it. */
struct fixture {
	const struct io_backend *b;
	const struct place *where;
	char dir[64], path[96];
	struct io_queue *q;
	struct target *t;
	struct io_dev *dev;
	unsigned bs;
	int fd;			/* the same file, buffered, to check through */
};

static void *abuf(size_t size, int fill)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, size)) {
		fprintf(stderr, "posix_memalign(%zu) failed\n", size);
		exit(2);
	}
	memset(p, fill, size);
	return p;
}

static void pattern(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

/* A @size file of pattern(seed 1), opened as @role on a fresh queue. */
static bool setup(struct fixture *f, const struct io_backend *b,
		  const struct place *where, enum target_role role,
		  uint64_t size)
{
	unsigned char *data = abuf(size, 0);
	char err[256];
	int r, fd;

	memset(f, 0, sizeof(*f));
	f->b = b;
	f->where = where;
	snprintf(f->dir, sizeof(f->dir), "%s/test_io.XXXXXX", where->dir);
	if (!mkdtemp(f->dir)) {
		free(data);
		return false;
	}
	snprintf(f->path, sizeof(f->path), "%s/file", f->dir);
	pattern(data, size, 1);
	fd = open(f->path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ_INT(pwrite(fd, data, size, 0), (long long)size);
	close(fd);
	free(data);
	f->fd = open(f->path, O_RDWR);
	r = target_open(f->path, role, where->flags, NULL, &f->t, err,
			sizeof(err));
	if (!CHECK_EQ_INT(r, 0)) {
		fprintf(stderr, "  %s\n", err);
		return false;
	}
	CHECK_EQ_INT(io_queue_create(b, DEPTH, &f->q), 0);
	CHECK(io_depth(f->q) >= 1 && io_depth(f->q) <= DEPTH);
	CHECK_EQ_INT(io_reserve(f->q, MANY + 1), 0);
	CHECK_EQ_INT(io_attach(f->q, f->t, &f->dev), 0);
	f->bs = io_dev_info(f->dev)->block_size;
	CHECK(f->bs >= 512 && f->bs <= 4096);
	CHECK_EQ_U64(io_dev_info(f->dev)->size, size);
	return true;
}

static void teardown(struct fixture *f)
{
	CHECK_EQ_INT(io_busy(f->q), 0);
	io_detach(f->dev);
	io_queue_destroy(f->q);
	target_close(f->t);
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
}

static void prep(struct io_request *req, struct fixture *f, enum io_op op,
		 void *buf, uint64_t offset, uint64_t length)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->dev = f->dev;
	req->buf = buf;
	req->offset = offset;
	req->length = length;
	req->result = 12345;	/* set by the backend */
}

/*
 * Queue @nr requests, commit, reap until all are back: each must come
 * back exactly once. Returns how many came back out of queueing order.
 */
static unsigned run(struct fixture *f, struct io_request *reqs, unsigned nr)
{
	struct io_request *done[MANY + 1];
	unsigned seen[MANY + 1] = { 0 };
	unsigned i, got = 0, spins = 0, out_of_order = 0;
	int n, k;

	for (i = 0; i < nr; i++) {
		reqs[i].data = &seen[i];
		io_queue_request(&reqs[i]);
	}
	CHECK_EQ_INT(io_busy(f->q), nr);
	io_commit(f->q);
	while (got < nr && spins++ < 10000) {
		n = io_reap(f->q, 1000000000ull, done, MANY + 1);
		if (!CHECK(n >= 0))
			break;
		for (k = 0; k < n; k++) {
			unsigned idx = (unsigned)(done[k] - reqs);

			CHECK(idx < nr);
			CHECK(done[k]->data == &seen[idx]);
			seen[idx]++;
			if (idx != got + (unsigned)k)
				out_of_order++;
		}
		got += (unsigned)n;
	}
	CHECK_EQ_INT(got, nr);
	for (i = 0; i < nr; i++)
		CHECK_EQ_INT(seen[i], 1);
	CHECK_EQ_INT(io_busy(f->q), 0);
	return out_of_order;
}

static int run1(struct fixture *f, struct io_request *req)
{
	run(f, req, 1);
	return req->result;
}

/* [offset, offset + len) of the file, as the page cache has it, is @want. */
static bool file_is(struct fixture *f, uint64_t offset, const void *want,
		    size_t len)
{
	unsigned char *got = abuf(len, 0xee);
	bool ok = pread(f->fd, got, len, (off_t)offset) == (ssize_t)len &&
		  !memcmp(got, want, len);

	free(got);
	return ok;
}

static void test_aligned(struct fixture *f)
{
	size_t len = 64 * KiB;
	unsigned char *w = abuf(len, 0), *r = abuf(len, 0);
	struct io_request req;

	pattern(w, len, 2);
	prep(&req, f, IO_WRITE, w, 128 * KiB, len);
	CHECK_EQ_INT(run1(f, &req), 0);
	prep(&req, f, IO_READ, r, 128 * KiB, len);
	CHECK_EQ_INT(run1(f, &req), 0);
	CHECK(!memcmp(w, r, len));
	CHECK(file_is(f, 128 * KiB, w, len));
	free(w);
	free(r);
}

/* A length that ends mid-block: the backend writes the tail as it can. */
static void test_unaligned(struct fixture *f)
{
	size_t len = 3 * f->bs + 100, room = 4 * f->bs;
	unsigned char *w = abuf(room, 0), *r = abuf(room, 0x55);
	unsigned char *before = abuf(f->bs, 0);
	struct io_request req;

	pattern(w, room, 3);
	CHECK(pread(f->fd, before, f->bs, 8 * KiB + len) == (ssize_t)f->bs);
	prep(&req, f, IO_WRITE, w, 8 * KiB, len);
	CHECK_EQ_INT(run1(f, &req), 0);
	CHECK(file_is(f, 8 * KiB, w, len));
	/* Not a byte past the length. */
	CHECK(file_is(f, 8 * KiB + len, before, f->bs - 100));

	prep(&req, f, IO_READ, r, 8 * KiB, len);
	CHECK_EQ_INT(run1(f, &req), 0);
	CHECK(!memcmp(w, r, len));

	/* Shorter than a block: all of it is the tail. */
	pattern(w, room, 4);
	prep(&req, f, IO_WRITE, w, 64 * KiB, 100);
	CHECK_EQ_INT(run1(f, &req), 0);
	CHECK(file_is(f, 64 * KiB, w, 100));
	prep(&req, f, IO_READ, r, 64 * KiB, 100);
	CHECK_EQ_INT(run1(f, &req), 0);
	CHECK(!memcmp(w, r, 100));

	/* Nothing at all. */
	prep(&req, f, IO_WRITE, w, 0, 0);
	CHECK_EQ_INT(run1(f, &req), 0);
	free(w);
	free(r);
	free(before);
}

/* The file ends at FILE_SIZE - 1000: reads up to it and past it. */
static void test_eof(const struct io_backend *b, const struct place *where)
{
	struct fixture f;
	uint64_t size = FILE_SIZE - 1000, end_block;
	unsigned char *r, *want;
	struct io_request req;

	if (!setup(&f, b, where, TARGET_SOURCE, size))
		return;
	end_block = size / f.bs * f.bs;
	r = abuf(2 * f.bs, 0);
	want = abuf(size, 0);
	pattern(want, size, 1);

	/* Up to the unaligned end: fine. */
	prep(&req, &f, IO_READ, r, end_block, size - end_block);
	CHECK_EQ_INT(run1(&f, &req), 0);
	CHECK(!memcmp(r, want + end_block, size - end_block));
	/* Past it: the file "shrank". */
	prep(&req, &f, IO_READ, r, end_block, 2 * f.bs);
	CHECK_EQ_INT(run1(&f, &req), -IO_ESHORT);
	prep(&req, &f, IO_READ, r, size / f.bs * f.bs + f.bs, f.bs);
	CHECK_EQ_INT(run1(&f, &req), -IO_ESHORT);

	/* Writes to a read-only fd fail, once each; so does zeroing. */
	prep(&req, &f, IO_WRITE, r, 0, f.bs);
	CHECK_EQ_INT(run1(&f, &req), -EBADF);
	prep(&req, &f, IO_WRITE, r, 0, f.bs + 10);
	CHECK_EQ_INT(run1(&f, &req), -EBADF);
	prep(&req, &f, IO_ZERO, NULL, 0, 64 * KiB);
	CHECK_EQ_INT(run1(&f, &req), -EBADF);
	free(r);
	free(want);
	teardown(&f);
}

static void test_zero(struct fixture *f)
{
	unsigned char *zeros = abuf(64 * KiB, 0), *w = abuf(FILE_SIZE, 0);
	struct io_request req;
	int r;

	pattern(w, FILE_SIZE, 1);	/* what setup() wrote */
	prep(&req, f, IO_ZERO, NULL, 256 * KiB, 64 * KiB);
	r = run1(f, &req);
	/* tmpfs has PUNCH_HOLE but no ZERO_RANGE: write buffers instead. */
	CHECK(r == 0 || (r == -IO_ENOZERO && !strcmp(f->where->name, "tmpfs")));
	if (r == 0)
		CHECK(file_is(f, 256 * KiB, zeros, 64 * KiB));

	prep(&req, f, IO_ZERO, NULL, 512 * KiB, 64 * KiB);
	req.flags = IO_ZERO_DEALLOCATE;
	CHECK_EQ_INT(run1(f, &req), 0);
	CHECK(file_is(f, 512 * KiB, zeros, 64 * KiB));
	/* Only those ranges. */
	CHECK(file_is(f, 320 * KiB, w + 320 * KiB, 192 * KiB));
	CHECK(file_is(f, 576 * KiB, w + 576 * KiB, 64 * KiB));
	free(w);
	free(zeros);
}

static void test_flush(struct fixture *f)
{
	struct io_request req;

	prep(&req, f, IO_FLUSH, NULL, 0, 0);
	CHECK_EQ_INT(run1(f, &req), 0);
}

/*
 * MANY requests at once on a queue of DEPTH: writes (some with tails),
 * zeroing, a flush, reads, in one batch. Each comes back once.
 */
static void test_many(struct fixture *f)
{
	struct io_request reqs[MANY];
	unsigned char *bufs[MANY];
	unsigned i, ooo;
	uint64_t len;

	for (i = 0; i < MANY; i++) {
		bufs[i] = abuf(8 * KiB, 0);
		pattern(bufs[i], 8 * KiB, 10 + i);
		len = i % 3 == 1 ? 4 * KiB + 7 * i : 8 * KiB;
		prep(&reqs[i], f, IO_WRITE, bufs[i], i * 8 * KiB, len);
		if (i == MANY / 2)
			prep(&reqs[i], f, IO_FLUSH, NULL, 0, 0);
		if (i == 5)	/* not zeroed by the tmpfs fallback: fine */
			prep(&reqs[i], f, IO_ZERO, NULL, i * 8 * KiB, 8 * KiB);
	}
	ooo = run(f, reqs, MANY);
	for (i = 0; i < MANY; i++) {
		if (reqs[i].op == IO_WRITE) {
			CHECK_EQ_INT(reqs[i].result, 0);
			CHECK(file_is(f, i * 8 * KiB, bufs[i], reqs[i].length));
		} else {
			CHECK(reqs[i].result == 0 || reqs[i].result == -IO_ENOZERO);
		}
	}
	/* And read back, all at once. */
	for (i = 0; i < MANY; i++) {
		memset(bufs[i], 0xaa, 8 * KiB);
		prep(&reqs[i], f, IO_READ, bufs[i], i * 8 * KiB, 8 * KiB);
	}
	ooo += run(f, reqs, MANY);
	for (i = 0; i < MANY; i++) {
		unsigned char *want = abuf(8 * KiB, 0);

		CHECK_EQ_INT(reqs[i].result, 0);
		CHECK(pread(f->fd, want, 8 * KiB, i * 8 * KiB) == 8 * KiB);
		CHECK(!memcmp(want, bufs[i], 8 * KiB));
		free(want);
		free(bufs[i]);
	}
	if (ooo)
		fprintf(stderr, "  (%s on %s: %u completions out of order)\n",
			f->b->name, f->where->name, ooo);
}

/* Nothing in flight: a sleep, and nothing comes back. */
static void test_idle(struct fixture *f)
{
	struct io_request *done[4];

	CHECK_EQ_INT(io_reap(f->q, 20 * 1000000ull, done, 4), 0);
	CHECK_EQ_INT(io_reap(f->q, 0, done, 4), 0);
	CHECK(io_now(f->q) > 0);
}

/* The poll fd becomes readable once a request is done. */
static void test_poll_fd(struct fixture *f)
{
	unsigned char *r = abuf(4 * KiB, 0);
	struct io_request req, *done[2];
	struct pollfd pfd = { .fd = io_poll_fd(f->q), .events = POLLIN };
	int n = 0, tries;

	if (!CHECK(pfd.fd >= 0)) {
		free(r);
		return;
	}
	prep(&req, f, IO_READ, r, 0, 4 * KiB);
	io_queue_request(&req);
	io_commit(f->q);
	CHECK_EQ_INT(poll(&pfd, 1, 5000), 1);
	for (tries = 0; !n && tries < 100; tries++)
		n = io_reap(f->q, 100 * 1000000ull, done, 2);
	CHECK_EQ_INT(n, 1);
	CHECK(n == 1 && done[0] == &req && req.result == 0);
	/* A tail goes to a helper thread: the same fd tells. */
	prep(&req, f, IO_WRITE, r, 0, 100);
	io_queue_request(&req);
	io_commit(f->q);
	CHECK_EQ_INT(poll(&pfd, 1, 5000), 1);
	for (n = 0, tries = 0; !n && tries < 100; tries++)
		n = io_reap(f->q, 100 * 1000000ull, done, 2);
	CHECK(n == 1 && done[0] == &req && req.result == 0);
	free(r);
}

static void test_on(const struct io_backend *b, const struct place *where)
{
	struct fixture f;

	fprintf(stderr, "- %s on %s\n", b->name, where->name);
	if (!setup(&f, b, where, TARGET_DEST, FILE_SIZE))
		return;
	test_aligned(&f);
	test_unaligned(&f);
	test_zero(&f);
	test_flush(&f);
	test_many(&f);
	test_idle(&f);
	test_poll_fd(&f);
	teardown(&f);
	test_eof(b, where);
}

static void add_backend(const struct io_backend *b, void *ctx)
{
	static const struct place places[] = {
		{ "/var/tmp", 0, "disk" },
		{ "/var/tmp", TARGET_BUFFERED, "disk, buffered" },
		{ "/dev/shm", 0, "tmpfs" },
	};
	unsigned *nr = ctx;
	size_t i;

	(*nr)++;
	for (i = 0; i < sizeof(places) / sizeof(places[0]); i++)
		test_on(b, &places[i]);
}

int main(void)
{
	unsigned nr = 0;

	io_backend_for_each(add_backend, &nr);
	CHECK(nr >= 2);
	CHECK(io_backend_find("aio") != NULL);
	CHECK(io_backend_find("uring") != NULL);
	CHECK(io_backend_find("nope") == NULL);
	return unit_summary();
}
