/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcopyd-internal.h - what the engine's files share: the client, the job
 * and the sub-job, and the entry points of each concern around the core.
 *
 *   kcopyd.c         the core: client, jobs, sub-jobs, the four lists,
 *                    claiming chunks, reads and writes, do_work, the loop
 *   kcopyd-job.c     making a job, its stats
 *   kcopyd-book.c    bookkeeping: error ranges, what is done
 *   kcopyd-throttle.c  the percentage throttle and the rate cap
 *   kcopyd-retry.c   a failed chunk again, block by block
 *   kcopyd-sparse.c  holes and zero blocks of a sparse copy
 *   kcopyd-zero.c    zero jobs: one stream per destination, offload
 *   kcopyd-verify.c  verify jobs: read back and compare
 *   kcopyd-gate.c    the source's data to ops.data, in offset order
 *   kcopyd-flush.c   flush jobs
 *
 * Nothing here is seen outside the engine: kcopyd.h is its interface.
 */
#ifndef KCOPY_KCOPYD_INTERNAL_H
#define KCOPY_KCOPYD_INTERNAL_H

#include "kcopyd.h"
#include "list.h"
#include "ranges.h"

/* Block-sized I/Os a sub-job keeps in flight while isolating bad blocks. */
#define RETRY_DEPTH 8

enum sub_phase {
	PH_IDLE,
	PH_READ,		/* read the chunk from the source */
	PH_READ_RETRY,		/* the read failed: re-read block by block */
	PH_WRITE,		/* write the chunk to every destination */
	PH_WRITE_RETRY,		/* a write failed: rewrite block by block */
	PH_OFFLOAD,		/* zero the chunk without buffers */
	PH_VERIFY_SOURCE,	/* verify: read the source into the first half */
	PH_VERIFY_DEST,		/* verify: read a destination into the second */
	PH_FLUSH,		/* flush one region */
};

/* How a finished chunk counts in the job's byte counters. */
enum chunk_kind {
	CHUNK_DATA,		/* read and written as data */
	CHUNK_ZERO,		/* zeroed: offload or zero writes */
	CHUNK_SKIP,		/* not touched: known zero on the destinations */
};

enum job_kind {
	JOB_COPY,
	JOB_ZERO,
	JOB_VERIFY,
	JOB_FLUSH,		/* (kc_read() is a copy without destinations) */
};

/* No destination: the sub-job of a copy writes them all. */
#define ALL_DESTS (-1)

struct sub_job {
	struct list_head list;
	struct kc_job *job;
	enum sub_phase phase;
	enum chunk_kind kind;
	/*
	 * A zero job's sub-job serves one destination (its own stream
	 * through the job); a flush job's, one region; a copy's, all.
	 */
	int dest;
	uint64_t offset;	/* chunk, relative to the job */
	uint64_t count;
	char *buf;		/* pool slot, or the shared zero buffer */
	unsigned pending;	/* requests in flight */
	bool throttled;		/* throttle_io_start() not yet finished */
	bool read_failed;
	bool failed;		/* chunk not done: error without ignore, or dropped */
	bool zero_chunk;	/* sparse: the source is known zero here */
	uint64_t issued_ns;	/* offload: when the piece went out */
	unsigned long refused;	/* offload: destinations that did not IO_ZERO */
	unsigned long todo;	/* destinations the chunk still goes to */
	unsigned verify_dest;	/* PH_VERIFY_DEST: which destination */
	bool read_only;		/* done already: read for ops.data, not written */
	bool read_issued;	/* its source read went out (a stream: in order) */
	bool beyond_end;	/* open end: the source ended before this chunk */

	/* The gate (kcopyd-gate.c): its data is due to ops.data. */
	struct list_head gate;	/* on job->gate.claimed, in claim order */
	bool gated;		/* on that list */
	bool gate_ready;	/* read: parked until the chunks below are given */

	/* Per-block retry (kcopyd-retry.c). */
	struct {
		unsigned long mask;	/* destinations whose chunk write failed */
		int region;		/* the one being retried */
		uint64_t next, end;	/* relative to the job */
		unsigned block;
		unsigned busy;		/* bit i: reqs[i] in flight */
		bool found;		/* a block of this region failed again */
		uint64_t cut;		/* a stop: nothing issued from here on */
		struct io_request reqs[RETRY_DEPTH];
	} retry;

	struct io_request reqs[KC_MAX_DESTS];	/* [0] reads; [i] writes dest i */
};

struct kc_job {
	struct list_head list;		/* callback_jobs */
	struct list_head all;		/* kc->all_jobs or kc->new_jobs */
	struct kc_client *kc;
	enum job_kind kind;
	unsigned flags;

	/* The regions. */
	struct kc_io_region source;	/* dev NULL: zero, or verify of a zero job */
	unsigned num_dests;
	struct kc_io_region *dests;	/* num_dests of them */
	uint64_t count;			/* longest region */
	unsigned block_size;		/* largest logical block size */

	/*
	 * Splitting the job into chunks (split_job, segment_complete): a
	 * copy's; a zero job's progress is per destination, in zero.
	 */
	struct {
		uint64_t progress;	/* next chunk to claim */
		unsigned active;	/* sub-jobs holding a chunk */
		bool stop;		/* error without ignore: claim no more */
		uint64_t stop_offset;	/* lowest failed offset, relative */
	} split;

	/* The gate (kcopyd-gate.c): ops.data in offset order. */
	struct {
		bool on;
		struct list_head claimed;	/* sub-jobs with a read due */
		uint64_t next;			/* given (or lost) below this */
		struct range_set lost;		/* below the first claimed */
	} gate;

	/* Zeroing (kcopyd-zero.c, and sparse zero chunks). */
	struct {
		uint64_t *progress;	/* per destination: next chunk */
		struct range_set *done;	/* per destination: zeroed */
		bool *offload;		/* per destination: IO_ZERO */
		bool offload_all;	/* at the start: every destination can */
		bool fell_back;		/* some offload was refused: writes */
		uint64_t piece;		/* offload piece size, adapted */
	} zero;

	/* Sparse copies (kcopyd-sparse.c). */
	struct {
		bool offload;		/* zero chunks with IO_ZERO */
		bool wrote_zeros;	/* some zero chunk went as zero writes */
		bool zeroed;		/* some zero chunk was zeroed */
		bool seek_holes;	/* the source can tell its holes */
		uint64_t data_start, data_end;	/* next data run, relative */
	} sparse;

	/* What happened (kcopyd-book.c). */
	int read_err;
	unsigned long write_err;
	/*
	 * Destinations whose storage is gone (kc_error_is_lost): their
	 * chunks fail whole, without a block-by-block retry, and the job
	 * goes on for the others even without KC_IGNORE_ERROR.
	 */
	unsigned long lost;
	struct kc_error_range *errors;
	size_t nr_errors, errors_cap;
	struct range_set done;		/* relative ranges done everywhere */
	uint64_t bytes_done, bytes_data, bytes_zeroed, bytes_skipped;
	bool ended, interrupted;
	uint64_t start_ns, end_ns;

	struct kc_job_ops ops;
	void *context;

	unsigned nr_subs;
	struct sub_job subs[];
};

struct kc_client {
	uint64_t sub_job_size;
	unsigned split_count;
	struct pool *pool;
	struct throttle *throttle;
	char *zero_buf;			/* zero_page_list: zero_len bytes of zeros */
	uint64_t zero_len;
	uint64_t zero_real_len;		/* its head made of real pages... */
	bool zero_real;			/* ...once a zero write needed them */

	struct io_queue *q;
	struct io_request **done;	/* room for a reap */
	unsigned done_cap;
	uint64_t end_hold_until;	/* ns: ended jobs wait for the rate debt */

	struct list_head callback_jobs;
	struct list_head complete_jobs;
	struct list_head io_jobs;
	struct list_head pages_jobs;

	struct list_head new_jobs;	/* queued, started by the next run */
	struct list_head all_jobs;	/* started; freed with the client */
	unsigned nr_jobs;		/* started and not yet ended */
	bool stopping;
	bool io_blocked;		/* io_jobs: only writes out of order */
	uint64_t throttle_until;	/* ns; no new I/O before */
};

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t round_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) / align * align;
}

static inline const struct kc_io_region *job_region(const struct kc_job *job,
						    int region)
{
	return region == KC_REGION_SOURCE ? &job->source : &job->dests[region];
}

/* kcopyd.c: the core, for the concerns. */
void push(struct list_head *jobs, struct sub_job *sub);
void push_head(struct list_head *jobs, struct sub_job *sub);
int start_io(struct sub_job *sub, uint64_t bytes);
int throttle_admit(struct sub_job *sub, uint64_t bytes);
void throttle_done(struct sub_job *sub);
void drop(struct sub_job *sub);
void phase_done(struct sub_job *sub);
void issue_to_dests(struct sub_job *sub, enum io_op op, unsigned flags);
void split_job(struct kc_job *job, unsigned nr);
bool start_sub_job(struct sub_job *sub);
bool sub_dropping(const struct sub_job *sub);
uint64_t dest_length(const struct kc_job *job, unsigned d);
void note_overflow(struct sub_job *sub);
uint64_t write_length(const struct sub_job *sub, unsigned d);
uint64_t sub_dest_length(const struct sub_job *sub, unsigned d);
bool all_dests_can_zero(const struct kc_job *job, bool deallocate);
void prep_request(struct sub_job *sub, struct io_request *req, enum io_op op,
		  int region, char *buf, uint64_t offset, uint64_t length);
void zero_buf_make_real(struct kc_client *kc);
unsigned requests_per_sub(unsigned num_dests);
int reserve_requests(struct kc_client *kc);
int job_create(struct kc_client *kc, enum job_kind kind,
	       const struct kc_io_region *from, unsigned num_dests,
	       const struct kc_io_region *dests, unsigned flags, unsigned nr_subs,
	       const struct kc_job_ops *ops, void *context, struct kc_job **out);
void job_free(struct kc_job *job);

/* kcopyd-book.c */
/*
 * Does @error (positive errno) say that a destination is gone, not that
 * one range of it failed: a connection to its server lost (NBD)? Such a
 * destination fails from there on; the others of the job go on.
 */
bool kc_error_is_lost(int error);
void record_error(struct kc_job *job, int region, uint64_t offset,
		  uint64_t length, int error);
void coalesce_errors(struct kc_job *job);
void note_done(struct kc_job *job, uint64_t offset, uint64_t length);
uint64_t job_done_prefix(const struct kc_job *job);
uint64_t resume_span(const struct kc_job *job, uint64_t offset, uint64_t end);
uint64_t resume_skip(struct kc_job *job, uint64_t offset, uint64_t end);

/* kcopyd-retry.c */
void start_retry(struct sub_job *sub, int region);
int issue_retries(struct sub_job *sub);
bool is_retry_request(const struct sub_job *sub, const struct io_request *req);
void complete_retry(struct sub_job *sub, struct io_request *req);
bool retry_next_region(struct sub_job *sub);

/* kcopyd-sparse.c */
void sparse_setup(struct kc_job *job);
bool sparse_claim(struct sub_job *sub, uint64_t *size);
void start_zero_chunk(struct sub_job *sub);
bool buffer_is_zero(const char *buf, uint64_t len);

/* kcopyd-throttle.c */
bool rate_debt_holds(struct kc_client *kc);

/* kcopyd-zero.c */
int zero_buffer_create(struct kc_client *kc);
void zero_buffer_destroy(struct kc_client *kc);
int zero_setup(struct kc_job *job);
void zero_free(struct kc_job *job);
unsigned zero_nr_subs(const struct kc_client *kc, unsigned num_dests);
unsigned zero_start_subs(const struct kc_job *job);
bool zero_claim(struct sub_job *sub);
void zero_dispatch(struct sub_job *sub);
void zero_chunk_done(struct sub_job *sub);
bool zero_write_in_order(const struct sub_job *sub);
int issue_offload(struct sub_job *sub);
void complete_offload(struct sub_job *sub, struct io_request *req);
enum kc_zero_method zero_method(const struct kc_job *job);

/* kcopyd-verify.c */
uint64_t verify_half(const struct kc_job *job);
int issue_verify_read(struct sub_job *sub);
void complete_verify_read(struct sub_job *sub, struct io_request *req);
void verify_phase_done(struct sub_job *sub);

/* kcopyd-gate.c */
void gate_setup(struct kc_job *job);
void gate_claim(struct sub_job *sub);
void gate_read_done(struct sub_job *sub);
void gate_lose(struct sub_job *sub);
void gate_job_end(struct kc_job *job);
void gate_free(struct kc_job *job);
void post_read(struct sub_job *sub);
bool read_in_order(const struct sub_job *sub);
void stream_end(struct sub_job *sub, uint64_t got);

/* kcopyd-flush.c */
int issue_flush(struct sub_job *sub);
void complete_flush(struct sub_job *sub, struct io_request *req);

#endif
