// SPDX-License-Identifier: GPL-2.0
/*
 * io-set.c - a queue set (io_set_create in io.h): one queue for the
 * engine over a local backend's queue, the NBD backend's and the stream
 * backend's (each made when its first target is attached).
 *
 * Only the calls that are the queue's, not a device's, come here:
 * requests, detaching and extents already go to the queue their device
 * is on. Waiting is where the set earns its keep: with both queues in
 * use, it polls the local completions' descriptor (the aio eventfd, the
 * io_uring ring) beside every NBD socket, and then collects from both,
 * so neither side waits for the other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "io.h"
#include "target.h"

extern const struct io_backend io_nbd_backend;
extern const struct io_backend io_stream_backend;

/*
 * The longest wait while the local queue has work: a local backend
 * retries refused submissions from its own reap, which a poll of both
 * queues would hold up (io-aio.c waits 10 ms between tries too).
 */
#define LOCAL_RETRY_NS (10 * 1000000ull)

/* The queues made on demand, for the targets that are theirs. */
enum { MEMBER_NBD, MEMBER_STREAM, NR_MEMBERS };

static const struct io_backend *member_backend(unsigned m)
{
	return m == MEMBER_NBD ? &io_nbd_backend : &io_stream_backend;
}

static int member_of(const struct target *t)
{
	if (target_is_remote(t))
		return MEMBER_NBD;
	if (target_is_stream(t))
		return MEMBER_STREAM;
	return -1;
}

struct io_set {
	struct io_queue_base base;	/* first: an io_queue */
	struct io_queue *local;
	struct io_queue *members[NR_MEMBERS];	/* NULL until one is needed */
	unsigned depth;
	unsigned reserved;		/* for a queue made later */
	struct pollfd *fds;
	unsigned fds_cap;
};

static const struct io_backend io_set_backend;

static struct io_set *to_set(struct io_queue *q)
{
	return (struct io_set *)q;
}

static const struct io_set *to_cset(const struct io_queue *q)
{
	return (const struct io_set *)q;
}

static bool has_members(const struct io_set *set)
{
	unsigned m;

	for (m = 0; m < NR_MEMBERS; m++)
		if (set->members[m])
			return true;
	return false;
}

int io_set_create(const struct io_backend *local, unsigned depth,
		  struct io_queue **out)
{
	struct io_set *set = calloc(1, sizeof(*set));
	int r;

	if (!set)
		return -ENOMEM;
	set->base.backend = &io_set_backend;
	set->depth = depth;
	r = io_queue_create(local, depth, &set->local);
	if (r < 0) {
		free(set);
		return r;
	}
	*out = (struct io_queue *)set;
	return 0;
}

static int set_create(unsigned depth, struct io_queue **out)
{
	(void)depth;
	(void)out;
	return -EINVAL;		/* io_set_create() makes sets */
}

static void set_destroy(struct io_queue *q)
{
	struct io_set *set = to_set(q);
	unsigned m;

	for (m = 0; m < NR_MEMBERS; m++)
		io_queue_destroy(set->members[m]);
	io_queue_destroy(set->local);
	free(set->fds);
	free(set);
}

static unsigned set_depth(const struct io_queue *q)
{
	return io_depth(to_cset(q)->local);
}

static int set_reserve(struct io_queue *q, unsigned nr)
{
	struct io_set *set = to_set(q);
	int r = io_reserve(set->local, nr);
	unsigned m;

	for (m = 0; m < NR_MEMBERS && r == 0; m++)
		if (set->members[m])
			r = io_reserve(set->members[m], nr);
	if (r == 0 && nr > set->reserved)
		set->reserved = nr;
	return r;
}

static int member_queue(struct io_set *set, unsigned m)
{
	int r;

	if (set->members[m])
		return 0;
	r = io_queue_create(member_backend(m), set->depth, &set->members[m]);
	if (r == 0 && set->reserved)
		r = io_reserve(set->members[m], set->reserved);
	if (r < 0) {
		io_queue_destroy(set->members[m]);
		set->members[m] = NULL;
	}
	return r;
}

static int set_attach(struct io_queue *q, struct target *t, struct io_dev **out)
{
	struct io_set *set = to_set(q);
	int m = member_of(t), r;

	if (m < 0)
		return io_attach(set->local, t, out);
	r = member_queue(set, (unsigned)m);
	return r < 0 ? r : io_attach(set->members[m], t, out);
}

static void set_queue(struct io_queue *q, struct io_request *req)
{
	(void)q;
	io_queue_request(req);	/* on the device's own queue */
}

static void set_commit(struct io_queue *q)
{
	struct io_set *set = to_set(q);
	unsigned m;

	io_commit(set->local);
	for (m = 0; m < NR_MEMBERS; m++)
		if (set->members[m])
			io_commit(set->members[m]);
}

static int collect(struct io_set *set, struct io_request **done, unsigned max)
{
	int n = io_reap(set->local, 0, done, max), k;
	unsigned m;

	for (m = 0; m < NR_MEMBERS && n >= 0; m++) {
		/* An idle queue has nothing to give: no poll for it. */
		if (!io_busy(set->members[m]))
			continue;
		k = io_reap(set->members[m], 0, done + n, max - (unsigned)n);
		n = k < 0 ? k : n + k;
	}
	return n;
}

/* What every busy member wants polled, after the local queue's slot 0. */
static unsigned member_fds(struct io_set *set)
{
	unsigned m, n = 1, room;
	struct io_queue *mq;

	for (m = 0; m < NR_MEMBERS; m++) {
		mq = set->members[m];
		if (!io_busy(mq))
			continue;
		room = set->fds_cap > n ? set->fds_cap - n : 0;
		n += io_backend_of(mq)->poll_fds(mq, room ? set->fds + n : NULL, room);
	}
	return n;
}

static unsigned gather_fds(struct io_set *set)
{
	unsigned need;

	while ((need = member_fds(set)) > set->fds_cap) {
		struct pollfd *fds = realloc(set->fds, need * sizeof(*fds));

		if (!fds)	/* poll what fits: the wait is shorter */
			return set->fds_cap;
		set->fds = fds;
		set->fds_cap = need;
	}
	/* Slot 0 is the local queue's (a negative fd is not polled). */
	set->fds[0] = (struct pollfd) { .fd = io_poll_fd(set->local), .events = POLLIN };
	return need;
}

static int set_reap(struct io_queue *q, uint64_t timeout_ns,
		    struct io_request **done, unsigned max)
{
	struct io_set *set = to_set(q);
	struct timespec ts;
	unsigned nfds;
	int n;

	if (!has_members(set))
		return io_reap(set->local, timeout_ns, done, max);
	n = collect(set, done, max);
	if (n != 0 || !timeout_ns)
		return n;
	if (io_busy(set->local) && timeout_ns > LOCAL_RETRY_NS)
		timeout_ns = LOCAL_RETRY_NS;
	nfds = gather_fds(set);
	ts = (struct timespec) { (time_t)(timeout_ns / 1000000000u),
				 (long)(timeout_ns % 1000000000u) };
	if (ppoll(set->fds, nfds, &ts, NULL) < 0 && errno != EINTR)
		return -errno;
	return collect(set, done, max);
}

static unsigned set_busy(const struct io_queue *q)
{
	const struct io_set *set = to_cset(q);
	unsigned m, n = io_busy(set->local);

	for (m = 0; m < NR_MEMBERS; m++)
		if (set->members[m])
			n += io_busy(set->members[m]);
	return n;
}

static uint64_t set_now(const struct io_queue *q)
{
	return io_now(to_cset(q)->local);
}

static int set_poll_fd(const struct io_queue *q)
{
	const struct io_set *set = to_cset(q);

	return has_members(set) ? -1 : io_poll_fd(set->local);
}

static bool set_stalled(const struct io_queue *q)
{
	return io_stalled(to_cset(q)->local);
}

static const struct io_backend io_set_backend = {
	.name = "set",
	.create = set_create,
	.destroy = set_destroy,
	.depth = set_depth,
	.reserve = set_reserve,
	.attach = set_attach,
	.queue = set_queue,
	.commit = set_commit,
	.reap = set_reap,
	.busy = set_busy,
	.now = set_now,
	.poll_fd = set_poll_fd,
	.stalled = set_stalled,
};
