/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcopyd.h - the copy engine: dm-kcopyd's client, jobs and sub-jobs in one
 * userspace event loop.
 *
 * A client owns the page pool, the throttle and the aio ring. Jobs are
 * queued with kc_copy() / kc_zero() and run, concurrently, by
 * kc_client_run(), which returns when every queued job has ended (a
 * barrier). Callbacks are only ever made from inside kc_client_run(), one
 * at a time, as kcopyd only calls back from its own thread.
 *
 * Error contract (the kcopyd notify contract): read_err is a boolean, set
 * when any read of the source failed; write_err is a bitset with bit i set
 * when any write to destination i (0-based, the order given) failed. Both
 * are the union over all sub-jobs. Each failed range is also recorded.
 *
 * Without KC_IGNORE_ERROR the first error stops the job from claiming new
 * chunks; I/O in flight is drained; other jobs go on. With it, a failed
 * read is retried block by block, unreadable blocks are written as zeros,
 * and a failed destination misses only the blocks that failed.
 */
#ifndef KCOPY_KCOPYD_H
#define KCOPY_KCOPYD_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

#define KC_MAX_DESTS 8
_Static_assert(KC_MAX_DESTS <= sizeof(unsigned long) * CHAR_BIT,
	       "write_err has one bit per destination");

/* Job flags, the DM_KCOPYD_* flags and ours. */
enum {
	KC_IGNORE_ERROR = 1 << 0,	/* DM_KCOPYD_IGNORE_ERROR */
	KC_WRITE_SEQ = 1 << 1,		/* DM_KCOPYD_WRITE_SEQ */
	KC_NO_WRITE_ZEROES = 1 << 2,	/* zero by writing buffers only */
	KC_SPARSE = 1 << 3,		/* zero source blocks become zeroing */
	KC_DEST_IS_ZERO = 1 << 4,	/* with KC_SPARSE: skip zero blocks */
	/*
	 * Holes of the source's extents (ops.next_data: a bmap) are left as
	 * they are on the destinations: no I/O there, as bmaptool does.
	 */
	KC_HOLES_UNTOUCHED = 1 << 5,
	/*
	 * The source is a stream: from->count is only a bound, the source
	 * ends where a read of it meets its end. A destination shorter than
	 * what arrives fails from its end on (-ENOSPC); the others go on.
	 */
	KC_OPEN_END = 1 << 6,
};

#define KC_REGION_SOURCE (-1)

/* The error of a verify mismatch: the data read back is not what it must be. */
#define KC_EMISMATCH EBADMSG
/* The error of source data that is not what its bmap's checksum says. */
#define KC_ECHECKSUM EILSEQ
/* The error of a source read that ended early: the source shrank. */
#define KC_ESHRANK ENODATA

struct kc_client;
struct kc_job;

struct kc_client_config {
	uint64_t sub_job_size;	/* bytes per sub-job chunk, multiple of 4 KiB */
	unsigned sub_jobs;	/* sub-jobs per job: SPLIT_COUNT */
	uint64_t memory;	/* pool bound in bytes (>= sub_job_size) */
	unsigned throttle;	/* percent of time with I/O in flight, 1..100 */
	uint64_t rate;		/* bytes per second, 0 = unlimited */
	/*
	 * The storage queue every region's device is on; the caller creates
	 * it (depth: kc_io_depth()) and destroys it after the client.
	 */
	struct io_queue *queue;
};

struct kc_io_region {
	struct io_dev *dev;	/* on the client's queue */
	uint64_t offset;	/* bytes */
	uint64_t count;		/* bytes */
};

struct kc_error_range {
	int region;		/* KC_REGION_SOURCE or a destination index */
	uint64_t offset;	/* absolute byte offset in that file or device */
	uint64_t length;
	int error;		/* positive errno */
	bool flush;		/* the flush of that region failed, not an I/O */
};

enum kc_zero_method {
	KC_ZERO_NONE,		/* a copy, or nothing zeroed yet */
	KC_ZERO_OFFLOAD,	/* every byte by BLKZEROOUT / ZERO_RANGE */
	KC_ZERO_WRITE,		/* zero buffers written (some or all) */
};

struct kc_job_stats {
	int read_err;
	unsigned long write_err;
	uint64_t length;	/* the job's length (longest region) */
	uint64_t bytes_done;	/* processed bytes, in any order */
	uint64_t done_prefix;	/* processed without a gap from the start */
	/*
	 * In this run: read and written as data; zeroed (offload or zero
	 * writes); not touched (resumed, skipped as known zero, or not
	 * reached after an error). Once the job ended and was not
	 * interrupted they add up to length.
	 */
	uint64_t bytes_data;
	uint64_t bytes_zeroed;
	uint64_t bytes_skipped;
	enum kc_zero_method zero_method;
	const struct kc_error_range *errors;	/* sorted, coalesced at the end */
	size_t nr_errors;
	bool ended;		/* all its I/O is over */
	bool interrupted;	/* ended by kc_client_stop() before done */
	uint64_t start_ns, end_ns;	/* CLOCK_MONOTONIC */
};

/* Optional callbacks; any may be NULL. Called only from kc_client_run(). */
struct kc_job_ops {
	/* The job ended (also when interrupted). */
	void (*complete)(void *context, int read_err, unsigned long write_err);
	/*
	 * [offset, offset + length), relative to the job, has been read and
	 * written to every destination (a failure there is in the error
	 * list). Not yet flushed. Any order.
	 */
	void (*chunk_done)(void *context, uint64_t offset, uint64_t length);
	/* Resume: bytes already done at @offset (relative), 0 for none. */
	uint64_t (*done_at)(void *context, uint64_t offset);
	/*
	 * The source's data as it passes, in offset order (relative), each
	 * byte once: @buf NULL is @length zero bytes (a hole). With this set,
	 * what done_at() says is done is read again (for the digests) but
	 * not written. Returns 0, or -errno for a range of the source that is
	 * wrong (a checksum mismatch): [*bad_offset, + *bad_length), relative,
	 * is then an error of the source, and this chunk is not written.
	 */
	int (*data)(void *context, uint64_t offset, const void *buf,
		    uint64_t length, uint64_t *bad_offset, uint64_t *bad_length);
	/* Source bytes data() will never see (a read failure, a stop). */
	void (*data_lost)(void *context, uint64_t offset, uint64_t length);
	/*
	 * The source's extents, instead of its device's (a bmap): as
	 * io_next_data(), with offsets relative to the job.
	 */
	int (*next_data)(void *context, uint64_t offset, uint64_t *data,
			 uint64_t *hole);
};

int kc_client_create(const struct kc_client_config *config,
		     struct kc_client **out);
/* Frees the client and every job queued on it (their stats with them). */
void kc_client_destroy(struct kc_client *kc);

/*
 * Queue a copy of @from to @num_dests (1..KC_MAX_DESTS) regions, each
 * at least from->count long. Regions must be valid and aligned (main
 * checks). Returns 0 and the job in *@out (owned by the client), or -errno.
 */
int kc_copy(struct kc_client *kc, const struct kc_io_region *from,
	    unsigned num_dests, const struct kc_io_region *dests,
	    unsigned flags, const struct kc_job_ops *ops, void *context,
	    struct kc_job **out);

/*
 * Queue a read of @from alone (no destination), for ops->data: a
 * read-back digest. Read errors are errors of KC_REGION_SOURCE.
 */
int kc_read(struct kc_client *kc, const struct kc_io_region *from,
	    unsigned flags, const struct kc_job_ops *ops, void *context,
	    struct kc_job **out);

/* Queue zeroing of each region over its own count. */
int kc_zero(struct kc_client *kc, unsigned num_dests,
	    const struct kc_io_region *dests, unsigned flags,
	    const struct kc_job_ops *ops, void *context, struct kc_job **out);

/*
 * Queue a verification: read every destination back and compare it with
 * @from, or with zeros when @from is NULL. Needs sub_job_size of at least
 * twice the largest logical block size. A mismatch is an error range on
 * that destination with error KC_EMISMATCH (and its bit in write_err); a
 * destination that can't be read back has its bit too, with the errno.
 */
int kc_verify(struct kc_client *kc, const struct kc_io_region *from,
	      unsigned num_dests, const struct kc_io_region *dests,
	      struct kc_job **out);

/*
 * Called from the loop at least every @interval_ms while jobs run. Return
 * true to ask the client to stop (as kc_client_stop()).
 */
typedef bool (*kc_tick_fn)(void *context);

/*
 * Queue a flush of @num regions' devices (any number), all at once: each
 * one that fails is an error range with .flush set, its region index
 * (0-based, the order given) and the whole region's offset and count.
 */
int kc_flush(struct kc_client *kc, unsigned num, const struct kc_io_region *regions,
	     struct kc_job **out);

/*
 * The queue depth worth asking for (io_queue_create) for up to @max_jobs
 * jobs at once with up to @max_dests destinations each.
 */
unsigned kc_io_depth(const struct kc_client_config *config, unsigned max_jobs,
		     unsigned max_dests);

/*
 * Run every queued job to its end. Returns 0, or -errno on an internal
 * failure (no room to gather the jobs' requests). I/O errors are not
 * failures here: they are in each job's stats. Time (ticks, throttle,
 * job times) is the queue's clock, io_now().
 */
int kc_client_run(struct kc_client *kc, kc_tick_fn tick, void *context,
		  unsigned interval_ms);

/* Stop claiming new chunks; I/O in flight drains; async-signal-unsafe. */
void kc_client_stop(struct kc_client *kc);
bool kc_client_stopped(const struct kc_client *kc);

void kc_job_stats(const struct kc_job *job, struct kc_job_stats *stats);

/* Current time, CLOCK_MONOTONIC, nanoseconds (the session's clock). */
uint64_t kc_now_ns(void);

#endif
