// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - kcopy: copy one region to up to eight, or zero regions, with
 * the dm-kcopyd engine. Options become a plan of jobs; the plan is checked
 * whole before anything is written; the client runs it group by group;
 * the report and the exit status say how it went.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobfile.h"
#include "kcopyd.h"
#include "map.h"
#include "plan.h"
#include "report.h"
#include "size.h"
#include "target.h"

#define EXIT_IO_ERROR 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

/*
 * dm-kcopyd's own defaults are 512 KiB x 8. On loop devices `make
 * bench-sweep` is flat (within ~10 %) from 4 to 32 MiB in flight and
 * steep below; 1 MiB x 16 keeps 16 MiB in flight, as nbdcopy and qemu-img
 * do, for devices with deeper queues than a loop device.
 */
#define DEFAULT_SUB_JOB_SIZE (1u << 20)
#define DEFAULT_SUB_JOBS 16
#define MAX_SUB_JOBS 1024
#define TICK_MS 100
/* How often --map flushes the destinations and saves the map. */
#define MAP_COMMIT_NS (1000 * 1000000ull)

enum {
	OPT_RATE = 256,
	OPT_NO_WRITE_ZEROES,
	OPT_JSON,
	OPT_NO_FLUSH,
	OPT_BUFFERED,
	OPT_JOB_FILE,
	OPT_MAP,
	OPT_VERIFY,
	OPT_SPARSE,
	OPT_DEST_IS_ZERO,
	OPT_USAGE_HIDDEN,
	OPT_LONG_OPTIONS,
	OPT_IO,
};

struct options {
	struct kc_client_config config;
	bool memory_given;
	bool zero;
	bool force;
	unsigned flags;
	bool quiet;
	bool json;
	bool flush;
	bool buffered;
	bool verify;
	enum progress_mode progress;
	bool progress_given;
	const char *job_file;
	const char *map_file;
	const struct io_backend *io;
	char **args;
	unsigned nr_args;
};

const char *argp_program_version = "kcopy " KCOPY_VERSION;
const char *argp_program_bug_address = NULL;

static const char doc[] =
	"Copy SOURCE to every DEST (1 to 8) with O_DIRECT asynchronous I/O, "
	"or zero every DEST, the way the kernel's dm-kcopyd does."
	"\vRegions are PATH[:OFFSET[+LENGTH]] or PATH:+LENGTH; SIZE takes "
	"s (512), K M G T P (1024^n) and KB MB GB TB PB (1000^n).\n"
	"Exit status: 0 success, 1 I/O error, 2 usage or input error "
	"(nothing written), 130 interrupted.";

static const char args_doc[] =
	"SOURCE DEST [DEST...]\n--zero DEST [DEST...]\n--job-file=FILE";

static const struct argp_option option_table[] = {
	{ NULL, 0, NULL, 0, "Engine:", 1 },
	{ "sub-job-size", 'b', "SIZE", 0,
	  "split jobs into sub-jobs of SIZE (default 1M)", 1 },
	{ "sub-jobs", 'j', "N", 0, "sub-jobs in flight per job (default 16)", 1 },
	{ "memory", 'm', "SIZE", 0,
	  "bound of the buffer pool (default sub-jobs x sub-job-size)", 1 },
	{ "throttle", 't', "PERCENT", 0,
	  "share of time with I/O in flight, 1-100 (default 100)", 1 },
	{ "rate", OPT_RATE, "SIZE", 0, "cap the copy at SIZE bytes per second", 1 },
	{ "io", OPT_IO, "aio|uring", 0,
	  "the kernel interface for I/O (default: aio)", 1 },
	{ NULL, 0, NULL, 0, "Per job:", 2 },
	{ "zero", 'z', NULL, 0, "zero the destinations instead of copying", 2 },
	{ "ignore-errors", 'i', NULL, 0,
	  "keep going after read or write errors", 2 },
	{ "sequential", 'S', NULL, 0,
	  "write each destination strictly in ascending order", 2 },
	{ "no-write-zeroes", OPT_NO_WRITE_ZEROES, NULL, 0,
	  "with --zero, write zero buffers; never use the offload", 2 },
	{ "force", 'f', NULL, 0,
	  "allow destinations that carry a filesystem or other signature", 2 },
	{ NULL, 0, NULL, 0, "Output and safety:", 3 },
	{ "progress", 'p', "json", OPTION_ARG_OPTIONAL,
	  "show progress (default: when stderr is a terminal)", 3 },
	{ "quiet", 'q', NULL, 0, "print only errors", 3 },
	{ "json", OPT_JSON, NULL, 0, "print the final report as JSON on stdout", 3 },
	{ "map", OPT_MAP, "FILE", 0,
	  "record finished work in FILE; running the same command again resumes", 3 },
	{ "verify", OPT_VERIFY, NULL, 0,
	  "read every destination back and compare it with the source", 3 },
	{ "sparse", OPT_SPARSE, NULL, 0,
	  "copy zero blocks and holes of the source as write-zeroes, not data", 3 },
	{ "dest-is-zero", OPT_DEST_IS_ZERO, NULL, 0,
	  "with --sparse: the destinations are zero already; skip zero blocks", 3 },
	{ "no-flush", OPT_NO_FLUSH, NULL, 0,
	  "skip the final fdatasync of destinations", 3 },
	{ "buffered", OPT_BUFFERED, NULL, 0, "do not use O_DIRECT", 3 },
	{ "job-file", OPT_JOB_FILE, "FILE", 0, "run the jobs in FILE ('-' = stdin)", 3 },
	{ "long-options", OPT_LONG_OPTIONS, NULL, OPTION_HIDDEN,
	  "list the long options, for shell completion", 0 },
	{ NULL, 0, NULL, 0, NULL, 0 },
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("kcopy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

/* A plain decimal count in [min, max]: no sign, no suffix, no blanks. */
static unsigned parse_count(const char *opt, const char *arg, unsigned min,
			    unsigned max)
{
	unsigned long long v = 0;
	const char *p;

	for (p = arg; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > max)
			break;
	}
	if (p == arg || *p || v < min || v > max)
		usage_error("%s: invalid value '%s' (expected a whole number from %u to %u)",
			    opt, arg, min, max);
	return (unsigned)v;
}

static uint64_t parse_size_option(const char *opt, const char *arg)
{
	uint64_t v;
	int r = size_parse(arg, &v);

	if (r == -ERANGE)
		usage_error("%s: '%s' is too large", opt, arg);
	if (r < 0)
		usage_error("%s: invalid size '%s'", opt, arg);
	return v;
}

static void print_long_options(void)
{
	const struct argp_option *o;

	for (o = option_table; o->name || o->doc; o++) {
		if (!o->name || (o->flags & OPTION_HIDDEN))
			continue;
		printf("--%s%s\n", o->name, o->arg && !(o->flags & OPTION_ARG_OPTIONAL) ?
		       "=" : "");
	}
	puts("--help\n--usage\n--version");
	exit(0);
}

/*
 * argp (and the getopt under it) report a usage error as "NAME: why",
 * then add a line pointing at --help; kcopy's refusals are one line.
 * argp's error stream is this filter, which drops that extra line.
 */
static ssize_t drop_try_help(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	if (strncmp(buf, "Try `", 5) != 0)
		fwrite(buf, 1, size, stderr);
	return (ssize_t)size;
}

static FILE *usage_error_stream(void)
{
	static const cookie_io_functions_t io = { .write = drop_try_help };
	FILE *f = fopencookie(NULL, "w", io);

	/* Line buffered: the filter sees whole lines. */
	if (f)
		setvbuf(f, NULL, _IOLBF, 0);
	return f ? f : stderr;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct options *o = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->name = "kcopy";
		state->err_stream = usage_error_stream();
		break;
	case 'b':
		o->config.sub_job_size = parse_size_option("--sub-job-size", arg);
		if (!o->config.sub_job_size || o->config.sub_job_size % 4096)
			usage_error("--sub-job-size: '%s' must be a non-zero multiple of 4 KiB",
				    arg);
		if (o->config.sub_job_size > (1ull << 30))
			usage_error("--sub-job-size: '%s' is larger than 1 GiB", arg);
		break;
	case 'j':
		o->config.sub_jobs = parse_count("--sub-jobs", arg, 1, MAX_SUB_JOBS);
		break;
	case 'm':
		o->config.memory = parse_size_option("--memory", arg);
		if (o->config.memory < 4096)
			usage_error("--memory: '%s' is less than 4 KiB", arg);
		o->memory_given = true;
		break;
	case 't':
		o->config.throttle = parse_count("--throttle", arg, 1, 100);
		break;
	case OPT_IO:
		o->io = io_backend_find(arg);
		if (!o->io)
			usage_error("--io: '%s' is not one of aio, uring", arg);
		break;
	case OPT_RATE:
		o->config.rate = parse_size_option("--rate", arg);
		if (!o->config.rate)
			usage_error("--rate: must be more than 0 bytes per second");
		break;
	case 'z':
		o->zero = true;
		break;
	case 'i':
		o->flags |= KC_IGNORE_ERROR;
		break;
	case 'S':
		o->flags |= KC_WRITE_SEQ;
		break;
	case OPT_NO_WRITE_ZEROES:
		o->flags |= KC_NO_WRITE_ZEROES;
		break;
	case 'f':
		o->force = true;
		break;
	case 'p':
		if (!arg)
			o->progress = PROGRESS_LINE;
		else if (!strcmp(arg, "json"))
			o->progress = PROGRESS_JSON;
		else
			usage_error("--progress: invalid value '%s' (expected 'json')", arg);
		o->progress_given = true;
		break;
	case 'q':
		o->quiet = true;
		break;
	case OPT_JSON:
		o->json = true;
		break;
	case OPT_VERIFY:
		o->verify = true;
		break;
	case OPT_SPARSE:
		o->flags |= KC_SPARSE;
		break;
	case OPT_DEST_IS_ZERO:
		o->flags |= KC_DEST_IS_ZERO;
		break;
	case OPT_NO_FLUSH:
		o->flush = false;
		break;
	case OPT_BUFFERED:
		o->buffered = true;
		break;
	case OPT_JOB_FILE:
		if (o->job_file)
			usage_error("--job-file given twice ('%s' and '%s'); put the "
				    "jobs in one file", o->job_file, arg);
		o->job_file = arg;
		break;
	case OPT_MAP:
		if (!*arg)
			usage_error("--map: empty file name");
		o->map_file = arg;
		break;
	case OPT_LONG_OPTIONS:
		print_long_options();
		break;
	case ARGP_KEY_ARGS:
		o->args = state->argv + state->next;
		o->nr_args = (unsigned)(state->argc - state->next);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	option_table, parse_opt, args_doc, doc, NULL, NULL, NULL,
};

/* Memory and sub-job size depend on each other; settle them. */
static void settle_engine_options(struct options *o)
{
	struct kc_client_config *c = &o->config;

	if (!o->memory_given)
		c->memory = c->sub_job_size * c->sub_jobs;
	if (c->memory < c->sub_job_size)
		c->sub_job_size = c->memory / 4096 * 4096;
	c->memory = c->memory / c->sub_job_size * c->sub_job_size;
	if (o->verify && c->sub_job_size < 8192)
		usage_error("--verify needs a sub-job size of at least 8 KiB");
	if ((o->flags & KC_DEST_IS_ZERO) && !(o->flags & KC_SPARSE))
		usage_error("--dest-is-zero only makes sense with --sparse");
}

/*-----------------------------------------------------------------
 * Jobs from the command line or a job file.
 *---------------------------------------------------------------*/
static void plan_from_args(struct plan *plan, struct options *o)
{
	char err[1024];
	int r;

	if (!o->zero && o->nr_args == 0)
		usage_error("no source given (try 'kcopy --help')");
	if (o->zero && (o->flags & KC_SPARSE))
		usage_error("--sparse applies to copies; --zero writes only zeros anyway");
	if (o->zero)
		r = plan_add_job(plan, 0, true, o->force, o->flags, NULL, o->nr_args,
				 o->args, err, sizeof(err));
	else
		r = plan_add_job(plan, 0, false, o->force, o->flags, o->args[0],
				 o->nr_args - 1, o->args + 1, err, sizeof(err));
	if (r < 0)
		usage_error("%s", err);
}

/* Job options on a job-file line: they add to the command line's. */
static int jobfile_options(const struct jobfile_line *l, const char *name,
			   int *i, unsigned *flags, bool *force)
{
	const char *w;

	for (*i = 1; *i < l->argc && l->argv[*i][0] == '-'; (*i)++) {
		w = l->argv[*i];
		if (!strcmp(w, "--")) {
			(*i)++;
			break;
		}
		if (!strcmp(w, "-i") || !strcmp(w, "--ignore-errors"))
			*flags |= KC_IGNORE_ERROR;
		else if (!strcmp(w, "-S") || !strcmp(w, "--sequential"))
			*flags |= KC_WRITE_SEQ;
		else if (!strcmp(w, "--no-write-zeroes"))
			*flags |= KC_NO_WRITE_ZEROES;
		else if (!strcmp(w, "-f") || !strcmp(w, "--force"))
			*force = true;
		else
			usage_error("%s:%u: unknown job option '%s'", name, l->lineno, w);
	}
	return 0;
}

static void plan_from_jobfile_line(struct plan *plan, struct options *o,
				   const struct jobfile_line *l, const char *name)
{
	const char *verb = l->argv[0];
	unsigned flags = o->flags;
	bool force = o->force, zero;
	char err[1024];
	int i, r;

	if (!strcmp(verb, "wait")) {
		if (l->argc > 1)
			usage_error("%s:%u: 'wait' takes no arguments", name, l->lineno);
		plan_add_barrier(plan);
		return;
	}
	if (strcmp(verb, "copy") && strcmp(verb, "zero"))
		usage_error("%s:%u: unknown job '%s' (expected copy, zero or wait)",
			    name, l->lineno, verb);
	zero = !strcmp(verb, "zero");
	jobfile_options(l, name, &i, &flags, &force);
	if ((flags & KC_WRITE_SEQ) && (flags & KC_IGNORE_ERROR)) {
		if (!o->quiet)
			fprintf(stderr, "kcopy: warning: %s:%u: --sequential turns "
				"--ignore-errors off\n", name, l->lineno);
		flags &= ~KC_IGNORE_ERROR;
	}
	if (zero)
		r = plan_add_job(plan, l->lineno, true, force, flags, NULL,
				 (unsigned)(l->argc - i), l->argv + i, err, sizeof(err));
	else if (i >= l->argc)
		usage_error("%s:%u: copy needs a source and a destination", name,
			    l->lineno);
	else
		r = plan_add_job(plan, l->lineno, false, force, flags, l->argv[i],
				 (unsigned)(l->argc - i - 1), l->argv + i + 1, err,
				 sizeof(err));
	if (r < 0)
		usage_error("%s", err);
}

static struct jobfile *plan_from_jobfile(struct plan *plan, struct options *o)
{
	const char *name = o->job_file;
	struct jobfile *jf;
	char err[1024];
	struct stat st;
	FILE *f;
	size_t i;
	int r;

	if (o->nr_args)
		usage_error("--job-file: SOURCE and DEST arguments cannot be given too");
	if (o->zero)
		usage_error("--job-file: --zero cannot be given too (use 'zero' lines)");
	f = strcmp(name, "-") ? fopen(name, "re") : stdin;
	if (!f)
		usage_error("%s: %s", name, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
		usage_error("%s: is a directory, not a job file", name);
	r = jobfile_parse(f, name, &jf, err, sizeof(err));
	if (f != stdin)
		fclose(f);
	if (r == -EINVAL)
		usage_error("%s", err);
	if (r < 0)
		usage_error("%s: %s", name, strerror(-r));
	plan->jobfile = name;
	for (i = 0; i < jf->nr_lines; i++)
		plan_from_jobfile_line(plan, o, &jf->lines[i], name);
	if (!plan->nr_jobs)
		usage_error("%s: no jobs", name);
	return jf;
}

/*-----------------------------------------------------------------
 * Running.
 *---------------------------------------------------------------*/
static volatile sig_atomic_t got_stop_signal;
static volatile sig_atomic_t got_status_signal;

static void on_stop_signal(int sig)
{
	(void)sig;
	got_stop_signal++;
}

static void on_status_signal(int sig)
{
	(void)sig;
	got_status_signal = 1;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_flags = 0 };
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_status_signal;
	sigaction(SIGUSR1, &sa, NULL);
	/* A parent may have blocked them; one already pending is served now. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

struct run {
	struct options *opts;
	struct plan *plan;
	struct io_queue *q;
	struct target **dev_targets;	/* nr_devs targets ... */
	struct io_dev **devs;		/* ... and their devices on q */
	size_t nr_devs;
	struct kc_client *kc;
	struct kc_job **kjobs;		/* per plan job; NULL until queued */
	struct report_job *rjobs;
	struct progress *progress;
	struct map *map;
	struct job_context *contexts;	/* per plan job, for engine callbacks */
	uint64_t last_commit_ns;
	uint64_t bytes_total;
	uint64_t start_ns;
};

struct job_context {
	struct run *run;
	size_t index;
};

static void on_chunk_done(void *context, uint64_t offset, uint64_t length)
{
	struct job_context *jc = context;

	map_note_written(jc->run->map, jc->index, offset, length);
}

static uint64_t on_done_at(void *context, uint64_t offset)
{
	struct job_context *jc = context;

	return map_done_at(jc->run->map, jc->index, offset);
}

static const struct kc_job_ops map_job_ops = {
	.chunk_done = on_chunk_done,
	.done_at = on_done_at,
};

/* A failed flush is a write error on every destination of that target. */
static void record_flush_failure(const struct target *t, int error, void *ctx);

/* Every failure of job @i, relative to the job, into the map. */
static void note_failures(struct run *run, size_t i)
{
	const struct plan_job *pj = &run->plan->jobs[i];
	const struct report_job *rj = &run->rjobs[i];
	const struct kc_error_range *e;
	size_t k, n = rj->stats.nr_errors + rj->nr_extra;
	uint64_t base;

	for (k = 0; k < n; k++) {
		e = k < rj->stats.nr_errors ? &rj->stats.errors[k] :
		    &rj->extra[k - rj->stats.nr_errors];
		base = e->region == KC_REGION_SOURCE ? pj->source.offset :
		       pj->dests[e->region].offset;
		map_note_failed(run->map, i, e->offset - base, e->length);
	}
}

/*
 * Flush first, then save: the map may only claim data that is on stable
 * storage, and never a range that failed — a failed flush fails the
 * whole region on that target, whatever a later flush says.
 */
static void map_checkpoint(struct run *run)
{
	size_t i;
	int r;

	if (!run->map)
		return;
	run->last_commit_ns = kc_now_ns();
	plan_flush(run->plan, PLAN_ALL_GROUPS, record_flush_failure, run);
	for (i = 0; i < run->plan->nr_jobs; i++) {
		if (run->kjobs[i])
			kc_job_stats(run->kjobs[i], &run->rjobs[i].stats);
		note_failures(run, i);
	}
	r = map_commit(run->map);
	if (r < 0)
		fprintf(stderr, "kcopy: warning: cannot save the map %s: %s\n",
			run->opts->map_file, strerror(-r));
}

static uint64_t bytes_done(struct run *run)
{
	uint64_t done = 0;
	size_t i;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		if (run->kjobs[i])
			kc_job_stats(run->kjobs[i], &run->rjobs[i].stats);
		done += run->rjobs[i].stats.bytes_done;
	}
	return done;
}

static bool tick(void *context)
{
	struct run *run = context;
	uint64_t done = bytes_done(run);

	if (got_status_signal) {
		got_status_signal = 0;
		progress_clear(run->progress);
		progress_status_line(stderr, done, run->bytes_total,
				     (double)(kc_now_ns() - run->start_ns) / 1e9);
	}
	progress_update(run->progress, done, run->rjobs, run->plan->nr_jobs, false);
	if (run->map && kc_now_ns() - run->last_commit_ns >= MAP_COMMIT_NS)
		map_checkpoint(run);
	return got_stop_signal != 0;
}

/* A job's length: the source's, or a zero job's longest region. */
static uint64_t job_length(const struct plan_job *pj)
{
	uint64_t length = pj->zero ? 0 : pj->source.count;
	unsigned d;

	for (d = 0; pj->zero && d < pj->num_dests; d++)
		if (pj->dests[d].count > length)
			length = pj->dests[d].count;
	return length;
}

static void fill_report_jobs(struct run *run)
{
	const struct plan_job *pj;
	struct report_job *rj;
	size_t i;
	unsigned d;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		pj = &run->plan->jobs[i];
		rj = &run->rjobs[i];
		rj->line = pj->line;
		rj->zero = pj->zero;
		rj->verified = -1;
		if (!pj->zero)
			rj->source = (struct report_region) {
				target_path(pj->source.target), pj->source.offset,
				pj->source.count };
		rj->num_dests = pj->num_dests;
		for (d = 0; d < pj->num_dests; d++)
			rj->dests[d] = (struct report_region) {
				target_path(pj->dests[d].target), pj->dests[d].offset,
				pj->dests[d].count };
		rj->stats.length = job_length(pj);
		run->bytes_total += rj->stats.length;
	}
}

/* The device of @t on the run's queue, attached at the first use. */
static int target_dev(struct run *run, struct target *t, struct io_dev **out)
{
	struct target **targets;
	struct io_dev **devs;
	size_t i;
	int r;

	for (i = 0; i < run->nr_devs; i++)
		if (run->dev_targets[i] == t) {
			*out = run->devs[i];
			return 0;
		}
	targets = realloc(run->dev_targets, (run->nr_devs + 1) * sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	run->dev_targets = targets;
	devs = realloc(run->devs, (run->nr_devs + 1) * sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	run->devs = devs;
	r = io_attach(run->q, t, &devs[run->nr_devs]);
	if (r < 0)
		return r;
	targets[run->nr_devs] = t;
	*out = devs[run->nr_devs++];
	return 0;
}

/* The engine's view of a job's regions: on devices. */
static int engine_regions(struct run *run, const struct plan_job *pj,
			  struct kc_io_region *source, struct kc_io_region *dests)
{
	unsigned d;
	int r = 0;

	if (!pj->zero) {
		*source = (struct kc_io_region) { NULL, pj->source.offset,
						  pj->source.count };
		r = target_dev(run, pj->source.target, &source->dev);
	}
	for (d = 0; d < pj->num_dests && r == 0; d++) {
		dests[d] = (struct kc_io_region) { NULL, pj->dests[d].offset,
						   pj->dests[d].count };
		r = target_dev(run, pj->dests[d].target, &dests[d].dev);
	}
	return r;
}

static int queue_group(struct run *run, unsigned group)
{
	struct kc_io_region source, dests[KC_MAX_DESTS];
	const struct kc_job_ops *ops;
	const struct plan_job *pj;
	size_t i;
	int r;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		pj = &run->plan->jobs[i];
		if (pj->group != group)
			continue;
		ops = run->map ? &map_job_ops : NULL;
		run->contexts[i] = (struct job_context) { run, i };
		r = engine_regions(run, pj, &source, dests);
		if (r < 0)
			return r;
		if (pj->zero)
			r = kc_zero(run->kc, pj->num_dests, dests, pj->flags, ops,
				    &run->contexts[i], &run->kjobs[i]);
		else
			r = kc_copy(run->kc, &source, pj->num_dests, dests,
				    pj->flags, ops, &run->contexts[i], &run->kjobs[i]);
		if (r < 0)
			return r;
		run->rjobs[i].started = true;
	}
	return 0;
}

/* Flush the targets of @group, all at once, through the engine. */
static int flush_targets(struct run *run, int group)
{
	size_t i, n, nr_targets = run->plan->nr_targets;
	struct kc_io_region *regions = NULL;
	struct target **targets;
	struct kc_job_stats st;
	struct kc_job *job;
	int r = -ENOMEM;

	targets = calloc(nr_targets ? nr_targets : 1, sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	n = plan_written_targets(run->plan, group, targets);
	regions = calloc(n ? n : 1, sizeof(*regions));
	if (!regions)
		goto out;
	for (i = 0, r = 0; i < n && r == 0; i++)
		r = target_dev(run, targets[i], &regions[i].dev);
	if (r == 0 && n)
		r = kc_flush(run->kc, (unsigned)n, regions, &job);
	if (r == 0 && n)
		r = kc_client_run(run->kc, NULL, NULL, TICK_MS);
	if (r < 0 || !n)
		goto out;
	kc_job_stats(job, &st);
	for (i = 0; i < st.nr_errors; i++)
		record_flush_failure(targets[st.errors[i].region], st.errors[i].error,
				     run);
out:
	free(regions);
	free(targets);
	return r;
}

/*
 * A stage's destinations are flushed when it ends: its jobs' time and
 * rate include their flush, and the next stage starts on stable data.
 */
static void flush_group(struct run *run, unsigned group)
{
	uint64_t now;
	size_t i;

	if (!run->opts->flush && !run->map)
		return;
	if (flush_targets(run, (int)group) < 0)	/* no memory: do it here */
		plan_flush(run->plan, (int)group, record_flush_failure, run);
	now = kc_now_ns();
	for (i = 0; i < run->plan->nr_jobs; i++)
		if (run->plan->jobs[i].group == group)
			run->rjobs[i].flushed_ns = now;
}

static int run_groups(struct run *run)
{
	unsigned g;
	int r;

	for (g = 0; g <= run->plan->nr_groups && !got_stop_signal; g++) {
		r = queue_group(run, g);
		if (r < 0)
			return r;
		r = kc_client_run(run->kc, tick, run, TICK_MS);
		if (r < 0)
			return r;
		flush_group(run, g);
		if (kc_client_stopped(run->kc))
			break;
	}
	bytes_done(run);
	return 0;
}

static bool has_extra(const struct report_job *rj, const struct kc_error_range *e)
{
	size_t k;

	/* Field by field: the struct has padding, which memcmp would read. */
	for (k = 0; k < rj->nr_extra; k++)
		if (rj->extra[k].region == e->region && rj->extra[k].offset == e->offset &&
		    rj->extra[k].length == e->length && rj->extra[k].error == e->error &&
		    rj->extra[k].flush == e->flush)
			return true;
	return false;
}

static void record_flush_failure(const struct target *t, int error, void *ctx)
{
	struct run *run = ctx;
	const struct plan_job *pj;
	struct report_job *rj;
	struct kc_error_range *e;
	size_t i;
	unsigned d;

	for (i = 0; i < run->plan->nr_jobs; i++) {
		pj = &run->plan->jobs[i];
		rj = &run->rjobs[i];
		for (d = 0; d < pj->num_dests; d++) {
			struct kc_error_range fe = {
				(int)d, pj->dests[d].offset, pj->dests[d].count, error,
				true };

			if (pj->dests[d].target != t || has_extra(rj, &fe))
				continue;
			e = realloc(rj->extra, (rj->nr_extra + 1) * sizeof(*e));
			if (!e)
				continue;
			rj->extra = e;
			e[rj->nr_extra++] = fe;
		}
	}
}

static void add_extra_errors(struct report_job *rj, const struct kc_error_range *e,
			     size_t n)
{
	struct kc_error_range *extra;

	if (!n)
		return;
	extra = realloc(rj->extra, (rj->nr_extra + n) * sizeof(*extra));
	if (!extra)
		return;
	memcpy(extra + rj->nr_extra, e, n * sizeof(*e));
	rj->extra = extra;
	rj->nr_extra += n;
}

/*
 * --verify: once every job has ended and the destinations are flushed,
 * read them all back through the engine and compare.
 */
static int run_verify(struct run *run)
{
	size_t i, nr_jobs = run->plan->nr_jobs;
	struct kc_io_region source, dests[KC_MAX_DESTS];
	struct kc_job **vjobs;
	struct kc_job_stats vs;
	const struct plan_job *pj;
	int r = 0;

	vjobs = calloc(nr_jobs, sizeof(*vjobs));
	if (!vjobs)
		return -ENOMEM;
	for (i = 0; i < nr_jobs && r == 0; i++) {
		pj = &run->plan->jobs[i];
		run->rjobs[i].verified = 1;
		if (!run->rjobs[i].stats.length)
			continue;
		r = engine_regions(run, pj, &source, dests);
		if (r == 0)
			r = kc_verify(run->kc, pj->zero ? NULL : &source, pj->num_dests,
				      dests, &vjobs[i]);
	}
	if (r == 0)
		r = kc_client_run(run->kc, tick, run, TICK_MS);
	for (i = 0; i < nr_jobs && r == 0; i++) {
		if (!vjobs[i])
			continue;
		kc_job_stats(vjobs[i], &vs);
		if (vs.interrupted)
			run->rjobs[i].verified = 2;	/* cut short */
		else if (vs.read_err || vs.write_err)
			run->rjobs[i].verified = 0;
		add_extra_errors(&run->rjobs[i], vs.errors, vs.nr_errors);
	}
	free(vjobs);
	return r;
}

static enum report_status final_status(const struct run *run)
{
	const struct report_job *rj;
	size_t i;

	if (got_stop_signal || kc_client_stopped(run->kc))
		return REPORT_INTERRUPTED;
	for (i = 0; i < run->plan->nr_jobs; i++) {
		rj = &run->rjobs[i];
		if (rj->stats.read_err || rj->stats.write_err || rj->nr_extra ||
		    rj->verified == 0)
			return REPORT_ERRORS;
	}
	return REPORT_OK;
}

static int exit_code(enum report_status status)
{
	switch (status) {
	case REPORT_OK:
		return 0;
	case REPORT_ERRORS:
		return EXIT_IO_ERROR;
	case REPORT_INTERRUPTED:
		break;
	}
	return EXIT_INTERRUPTED;
}

static void warn_fallback(const char *path, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "kcopy: warning: %s: O_DIRECT is not supported, using "
		"buffered I/O\n", path);
}

static enum progress_mode progress_mode(const struct options *o)
{
	if (o->quiet)
		return PROGRESS_NONE;
	if (o->progress_given)
		return o->progress;
	if (!isatty(STDERR_FILENO))
		return PROGRESS_NONE;
	return PROGRESS_LINE;
}

/*
 * Destinations are flushed before success is reported, and before the
 * map may claim their data, and before --verify reads them back: each
 * stage flushed its own as it ended (flush_group); what is left is to
 * let the map claim what those flushes made stable.
 */
static void final_flush(struct run *run)
{
	if (run->map)
		map_checkpoint(run);	/* flushes, records what failed */
}

static int finish(struct run *run)
{
	enum report_status status;
	double seconds;
	size_t i;
	int code;

	status = final_status(run);
	seconds = (double)(kc_now_ns() - run->start_ns) / 1e9;
	progress_update(run->progress, bytes_done(run), run->rjobs,
			run->plan->nr_jobs, run->opts->progress == PROGRESS_JSON);
	progress_clear(run->progress);
	if (!run->opts->quiet)
		report_human(stderr, run->rjobs, run->plan->nr_jobs, seconds, status);
	else	/* -q never hides an error */
		report_errors(stderr, run->rjobs, run->plan->nr_jobs);
	code = exit_code(status);
	if (run->opts->json && report_json(stdout, run->rjobs, run->plan->nr_jobs,
					   seconds, status) < 0) {
		fprintf(stderr, "kcopy: write error on standard output: %s\n",
			strerror(errno));
		if (!code)
			code = EXIT_IO_ERROR;
	}
	for (i = 0; i < run->plan->nr_jobs; i++)
		free(run->rjobs[i].extra);
	return code;
}

/* A stop asked for before anything was written: nothing to report. */
static int stop_asked(char *err, size_t errlen)
{
	if (!got_stop_signal)
		return 0;
	snprintf(err, errlen, "interrupted before anything was written");
	return -EINTR;
}

/* The map: every job by its names and objects (map.h). */
static int open_map(struct run *run, char *err, size_t errlen)
{
	struct plan *plan = run->plan;
	struct map_job_desc *descs;
	size_t i;
	int r = -ENOMEM;

	r = plan_check_not_region(plan, run->opts->map_file, "map", err, errlen);
	if (r < 0)
		return r;
	descs = calloc(plan->nr_jobs ? plan->nr_jobs : 1, sizeof(*descs));
	if (!descs)
		goto nomem;
	for (i = 0; i < plan->nr_jobs; i++) {
		descs[i].names = plan_job_names(plan, i);
		descs[i].objects = plan_job_objects(plan, i);
		descs[i].length = job_length(&plan->jobs[i]);
		if (!descs[i].names) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = map_open(run->opts->map_file, descs, plan->nr_jobs, &run->map, err, errlen);
out:
	for (i = 0; i < plan->nr_jobs; i++) {
		free((char *)descs[i].names);
		free((char *)descs[i].objects);
	}
	free(descs);
	if (r != -ENOMEM)
		return r;
nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* Fresh jobs (a destination was just created) are known by their files now. */
static int settle_map_objects(struct run *run)
{
	char *objects;
	size_t i;
	int r = 0;

	for (i = 0; run->map && i < run->plan->nr_jobs && r == 0; i++) {
		objects = plan_job_objects(run->plan, i);
		r = objects ? map_set_objects(run->map, i, objects) : -ENOMEM;
		free(objects);
	}
	return r;
}

/*
 * A later stage may stand on what an earlier one writes (copy A to D; wait;
 * copy D to E, or a zero over part of D). Whatever an earlier job will
 * write again in this run, every later job that reads or writes the same
 * bytes must do again too, or the re-run would end with the stages' bytes
 * in the wrong order. Jobs are in stage order, so this cascades.
 */
static int forget_overlap(struct run *run, size_t k, const struct plan_region *w,
			  uint64_t start, uint64_t end)
{
	const struct plan_job *pk = &run->plan->jobs[k];
	uint64_t wbase, rbase, lo, hi, off;
	unsigned r;
	int rc = 0;

	for (r = 0; r <= pk->num_dests && rc == 0; r++) {
		const struct plan_region *rg = r == 0 ? &pk->source : &pk->dests[r - 1];

		if ((r == 0 && pk->zero) ||
		    !target_same_storage(w->target, rg->target, &wbase, &rbase))
			continue;
		/* Where the rewritten bytes and this region meet, on the storage. */
		lo = wbase + w->offset + start;
		hi = wbase + w->offset + end;
		off = rbase + rg->offset;
		if (lo < off)
			lo = off;
		if (hi > off + rg->count)
			hi = off + rg->count;
		if (lo < hi)
			rc = map_forget(run->map, k, lo - off, hi - lo);
	}
	return rc;
}

static int redo_later_stages(struct run *run)
{
	const struct plan *plan = run->plan;
	uint64_t start, end, pos;
	size_t j, k;
	unsigned d;
	int r = 0;

	for (j = 0; run->map && j < plan->nr_jobs && r == 0; j++) {
		const struct plan_job *pj = &plan->jobs[j];

		for (pos = 0; r == 0 && map_next_undone(run->map, j, pos, &start, &end);
		     pos = end) {
			for (k = j + 1; k < plan->nr_jobs && r == 0; k++) {
				if (plan->jobs[k].group == pj->group)
					continue;
				for (d = 0; d < pj->num_dests && r == 0; d++)
					if (start < pj->dests[d].count)
						r = forget_overlap(run, k, &pj->dests[d], start,
								   end < pj->dests[d].count ?
								   end : pj->dests[d].count);
			}
		}
	}
	return r;
}

/* Jobs that run at once, and the most destinations of one, for the ring. */
static void group_widths(const struct plan *plan, unsigned *max_jobs,
			 unsigned *max_dests)
{
	unsigned g, n;
	size_t i;

	*max_jobs = *max_dests = 1;
	for (g = 0; g <= plan->nr_groups; g++) {
		for (i = 0, n = 0; i < plan->nr_jobs; i++) {
			if (plan->jobs[i].group != g)
				continue;
			n++;
			if (plan->jobs[i].num_dests > *max_dests)
				*max_dests = plan->jobs[i].num_dests;
		}
		if (n > *max_jobs)
			*max_jobs = n;
	}
}

/*
 * Everything that can refuse the run comes before anything is written;
 * plan_prepare() then creates and extends files, all or nothing.
 */
static int setup_run(struct run *run, char *err, size_t errlen)
{
	struct options *o = run->opts;
	unsigned max_jobs, max_dests;
	int r;

	r = plan_open(run->plan, err, errlen);
	if (r == 0 && o->job_file && strcmp(o->job_file, "-"))
		r = plan_check_not_region(run->plan, o->job_file, "job file", err,
					  errlen);
	if (r == 0 && o->map_file)
		r = open_map(run, err, errlen);
	if (r == 0)
		r = stop_asked(err, errlen);
	if (r < 0)
		return r;
	group_widths(run->plan, &max_jobs, &max_dests);
	r = io_queue_create(o->io, kc_io_depth(&o->config, max_jobs, max_dests),
			    &run->q);
	if (r < 0) {
		snprintf(err, errlen, "cannot set up asynchronous I/O (%s): %s%s",
			 o->io->name, strerror(-r), r == -EAGAIN ? " (the system's "
			 "limit fs.aio-max-nr is used up)" : "");
		return r;
	}
	o->config.queue = run->q;
	r = kc_client_create(&o->config, &run->kc);
	if (r < 0) {
		snprintf(err, errlen, "cannot set up the engine: %s", strerror(-r));
		return r;
	}
	r = stop_asked(err, errlen);
	if (r == 0)
		r = plan_prepare(run->plan, err, errlen);
	if (r == 0)
		r = settle_map_objects(run);
	if (r == 0)
		r = redo_later_stages(run);
	/*
	 * Saved before the first I/O, so that a crash from here on leaves a
	 * map that knows the files just created (and claims nothing of them).
	 */
	if (r == 0 && run->map) {
		r = map_commit(run->map);
		if (r < 0)
			snprintf(err, errlen, "%s: cannot save the map: %s",
				 o->map_file, strerror(-r));
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (r < 0)
		plan_unprepare(run->plan);
	return r;
}

static int run_plan(struct options *o, struct plan *plan)
{
	struct run run = { .opts = o, .plan = plan };
	char err[1024];
	int r, code = EXIT_IO_ERROR;

	r = setup_run(&run, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "kcopy: %s\n", err);
		code = r == -EINTR ? EXIT_INTERRUPTED : EXIT_USAGE;
		goto out;
	}
	if (!o->quiet)
		plan_for_each_fallback(plan, warn_fallback, NULL);
	run.kjobs = calloc(plan->nr_jobs, sizeof(*run.kjobs));
	run.rjobs = calloc(plan->nr_jobs, sizeof(*run.rjobs));
	run.contexts = calloc(plan->nr_jobs, sizeof(*run.contexts));
	if (!run.kjobs || !run.rjobs || !run.contexts) {
		fprintf(stderr, "kcopy: out of memory\n");
		goto out;
	}
	fill_report_jobs(&run);
	run.progress = progress_create(progress_mode(o), stderr, run.bytes_total);
	run.start_ns = run.last_commit_ns = kc_now_ns();
	r = run_groups(&run);
	if (r == 0)
		final_flush(&run);
	if (r == 0 && o->verify && !kc_client_stopped(run.kc)) {
		r = run_verify(&run);
		/* A mismatch is a failed range: the map must not claim it. */
		if (r == 0)
			map_checkpoint(&run);
	}
	if (r < 0) {
		fprintf(stderr, "kcopy: engine failure: %s\n", strerror(-r));
		goto out;
	}
	if (io_stalled(run.q))
		fprintf(stderr, "kcopy: the kernel took no I/O for 30 s (io_submit: "
			"%s); the I/O queued then failed\n", strerror(EAGAIN));
	code = finish(&run);
out:
	/* A run refused or stopped before it began leaves no new map behind. */
	map_close(run.map, !run.rjobs);
	progress_destroy(run.progress);
	free(run.rjobs);
	free(run.kjobs);
	free(run.contexts);
	kc_client_destroy(run.kc);
	while (run.nr_devs)
		io_detach(run.devs[--run.nr_devs]);
	free(run.devs);
	free(run.dev_targets);
	io_queue_destroy(run.q);
	return code;
}

int main(int argc, char **argv)
{
	struct options o = {
		.config = {
			.sub_job_size = DEFAULT_SUB_JOB_SIZE,
			.sub_jobs = DEFAULT_SUB_JOBS,
			.throttle = 100,
		},
		.flush = true,
		.io = io_backend_default(),
	};
	struct plan plan = { .buffered = false };
	struct jobfile *jf = NULL;
	int code;

	/* First thing: a stop asked for at any moment is never lost. */
	install_signals();
	argp_err_exit_status = EXIT_USAGE;
	argv[0] = "kcopy";	/* getopt names the program after argv[0] */
	argp_parse(&argp, argc, argv, 0, NULL, &o);
	settle_engine_options(&o);
	if ((o.flags & KC_WRITE_SEQ) && (o.flags & KC_IGNORE_ERROR)) {
		if (!o.quiet)
			fprintf(stderr, "kcopy: warning: --sequential turns "
				"--ignore-errors off\n");
		o.flags &= ~KC_IGNORE_ERROR;
	}
	plan.buffered = o.buffered;
	if (o.job_file)
		jf = plan_from_jobfile(&plan, &o);
	else
		plan_from_args(&plan, &o);
	code = run_plan(&o, &plan);
	plan_free(&plan);
	jobfile_free(jf);
	return code;
}
