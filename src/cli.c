// SPDX-License-Identifier: GPL-2.0
/*
 * cli.c - argv and job files to a plan of jobs (SPEC §2, §4).
 *
 * The options a job can carry are one table, job_options[]: argp offers
 * them on the command line and job-file lines take the same words, so a
 * new job option is one row. Every usage error goes through usage_error(),
 * the one place here that prints.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "jobfile.h"
#include "remote.h"
#include "size.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * dm-kcopyd's own defaults are 512 KiB x 8. On loop devices `make
 * bench-sweep` is flat (within ~10 %) from 4 to 32 MiB in flight and
 * steep below; 1 MiB x 16 keeps 16 MiB in flight, as nbdcopy and qemu-img
 * do, for devices with deeper queues than a loop device.
 */
#define DEFAULT_SUB_JOB_SIZE (1u << 20)
#define DEFAULT_SUB_JOBS 16
/* Connections per NBD export (make bench: see --connections in kcopy(1)). */
#define DEFAULT_CONNECTIONS 4
#define MAX_SUB_JOBS 1024

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
	OPT_CONNECTIONS,
	OPT_BMAP,
	OPT_HASH,
	OPT_NO_DECOMPRESS,
};

/* What a job's options set: its KC_* flags, and --force for plan_open(). */
struct job_opts {
	unsigned flags;
	bool force;
};

/*
 * A job option: --NAME (and -KEY when KEY is a letter) on the command
 * line, where it applies to every job, and on a job-file line, where it
 * adds to the command line's for that job. It sets @flag, or calls @set.
 */
struct job_option {
	const char *name;
	int key;
	unsigned flag;
	void (*set)(struct job_opts *j);
	const char *doc;
};

static void set_force(struct job_opts *j)
{
	j->force = true;
}

static const struct job_option job_options[] = {
	{ "ignore-errors", 'i', KC_IGNORE_ERROR, NULL,
	  "keep going after read or write errors" },
	{ "sequential", 'S', KC_WRITE_SEQ, NULL,
	  "write each destination strictly in ascending order" },
	{ "no-write-zeroes", OPT_NO_WRITE_ZEROES, KC_NO_WRITE_ZEROES, NULL,
	  "with --zero, write zero buffers; never use the offload" },
	{ "force", 'f', 0, set_force,
	  "allow destinations that carry a filesystem or other signature" },
};

struct cli {
	struct session_config cfg;
	struct plan plan;
	struct jobfile *jf;		/* the words the plan points into */
	/* parsing only */
	struct job_opts job;		/* the command line's, for every job */
	bool zero;
	bool memory_given;
	bool progress_given;
	char **args;
	unsigned nr_args;
	/* what join_servers() made: word arrays and joined words */
	void **owned;
	size_t nr_owned;
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

/* argp's group of job_options[], after the engine's. */
#define JOB_GROUP 2

/*
 * The options before job_options[] in --help and --long-options ...
 * --zero is a job's kind, not one of its options: a job-file line says it
 * with its verb.
 */
static const struct argp_option head_options[] = {
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
	  "the kernel interface for I/O (default: uring, else aio)", 1 },
	{ "connections", OPT_CONNECTIONS, "N", 0,
	  "connections per NBD export, 1-16, where the server allows "
	  "multi-conn (default 4)", 1 },
	{ NULL, 0, NULL, 0, "Per job:", JOB_GROUP },
	{ "zero", 'z', NULL, 0, "zero the destinations instead of copying",
	  JOB_GROUP },
};

/* ... and those after them, with argp's terminator. */
static const struct argp_option tail_options[] = {
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
	{ "bmap", OPT_BMAP, "FILE", 0,
	  "copy only the ranges the bmap FILE maps, checking each one's checksum", 3 },
	{ "hash", OPT_HASH, "ALG[,ALG]", 0,
	  "digests of the source in the same pass: sha256, sha1, xxh128, blake2b", 3 },
	{ "no-decompress", OPT_NO_DECOMPRESS, NULL, 0,
	  "copy a compressed source file as it is, not decoded", 3 },
	{ "no-flush", OPT_NO_FLUSH, NULL, 0,
	  "skip the final fdatasync of destinations", 3 },
	{ "buffered", OPT_BUFFERED, NULL, 0, "do not use O_DIRECT", 3 },
	{ "job-file", OPT_JOB_FILE, "FILE", 0, "run the jobs in FILE ('-' = stdin)", 3 },
	{ "long-options", OPT_LONG_OPTIONS, NULL, OPTION_HIDDEN,
	  "list the long options, for shell completion", 0 },
	{ NULL, 0, NULL, 0, NULL, 0 },
};

static struct argp_option option_table[ARRAY_SIZE(head_options) +
				       ARRAY_SIZE(job_options) +
				       ARRAY_SIZE(tail_options)];

/* argp's table: head_options, a row for each job option, tail_options. */
static const struct argp_option *build_option_table(void)
{
	struct argp_option *o = option_table;
	size_t i;

	memcpy(o, head_options, sizeof(head_options));
	o += ARRAY_SIZE(head_options);
	for (i = 0; i < ARRAY_SIZE(job_options); i++)
		*o++ = (struct argp_option) { job_options[i].name, job_options[i].key,
					      NULL, 0, job_options[i].doc, JOB_GROUP };
	memcpy(o, tail_options, sizeof(tail_options));
	return option_table;
}

static const struct job_option *job_option_by_key(int key)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(job_options); i++)
		if (job_options[i].key == key)
			return &job_options[i];
	return NULL;
}

/* A job-file word: -KEY for a job option with a letter, or --NAME exactly. */
static const struct job_option *job_option_by_word(const char *w)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(job_options); i++) {
		const struct job_option *jo = &job_options[i];

		if (w[1] != '-' && jo->key < 256 && w[1] == jo->key && !w[2])
			return jo;
		if (w[1] == '-' && !strcmp(w + 2, jo->name))
			return jo;
	}
	return NULL;
}

static void job_option_apply(const struct job_option *jo, struct job_opts *j)
{
	if (jo->set)
		jo->set(j);
	else
		j->flags |= jo->flag;
}

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

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

/* The engine's options (-b -j -m -t --rate); false if @key is none. */
static bool parse_engine_opt(struct cli *c, int key, const char *arg)
{
	struct kc_client_config *e = &c->cfg.engine;

	switch (key) {
	case 'b':
		e->sub_job_size = parse_size_option("--sub-job-size", arg);
		if (!e->sub_job_size || e->sub_job_size % 4096)
			usage_error("--sub-job-size: '%s' must be a non-zero multiple of 4 KiB",
				    arg);
		if (e->sub_job_size > (1ull << 30))
			usage_error("--sub-job-size: '%s' is larger than 1 GiB", arg);
		return true;
	case 'j':
		e->sub_jobs = parse_count("--sub-jobs", arg, 1, MAX_SUB_JOBS);
		return true;
	case 'm':
		e->memory = parse_size_option("--memory", arg);
		if (e->memory < 4096)
			usage_error("--memory: '%s' is less than 4 KiB", arg);
		c->memory_given = true;
		return true;
	case 't':
		e->throttle = parse_count("--throttle", arg, 1, 100);
		return true;
	case OPT_RATE:
		e->rate = parse_size_option("--rate", arg);
		if (!e->rate)
			usage_error("--rate: must be more than 0 bytes per second");
		return true;
	case OPT_IO:
		c->cfg.io = io_backend_find(arg);
		if (!c->cfg.io)
			usage_error("--io: '%s' is not one of aio, uring", arg);
		c->cfg.io_given = true;
		return true;
	case OPT_CONNECTIONS:
		c->plan.connections = parse_count("--connections", arg, 1,
						  REMOTE_MAX_CONNECTIONS);
		return true;
	}
	return false;
}

/* --hash=sha256,xxh128: each once, in the order given. */
static void parse_hashes(struct session_config *cfg, const char *arg)
{
	char *list = strdup(arg), *name, *save = NULL;
	enum digest_alg alg;
	unsigned k;

	if (!list)
		usage_error("out of memory");
	cfg->nr_hashes = 0;
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		if (digest_alg_parse(name, &alg) < 0)
			usage_error("--hash: '%s' is not one of sha256, sha1, xxh128, "
				    "blake2b", name);
		for (k = 0; k < cfg->nr_hashes; k++)
			if (cfg->hashes[k] == alg)
				usage_error("--hash: '%s' given twice", name);
		cfg->hashes[cfg->nr_hashes++] = alg;
	}
	free(list);
	if (!cfg->nr_hashes)
		usage_error("--hash: no algorithm given");
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	const struct job_option *jo;

	if (parse_engine_opt(c, key, arg))
		return 0;
	switch (key) {
	case ARGP_KEY_INIT:
		state->name = "kcopy";
		state->err_stream = usage_error_stream();
		break;
	case 'z':
		c->zero = true;
		break;
	case 'p':
		if (!arg)
			c->cfg.progress = PROGRESS_LINE;
		else if (!strcmp(arg, "json"))
			c->cfg.progress = PROGRESS_JSON;
		else
			usage_error("--progress: invalid value '%s' (expected 'json')", arg);
		c->progress_given = true;
		break;
	case 'q':
		c->cfg.quiet = true;
		break;
	case OPT_JSON:
		c->cfg.json = true;
		break;
	case OPT_VERIFY:
		c->cfg.verify = true;
		break;
	case OPT_SPARSE:
		c->job.flags |= KC_SPARSE;
		break;
	case OPT_DEST_IS_ZERO:
		c->job.flags |= KC_DEST_IS_ZERO;
		break;
	case OPT_NO_FLUSH:
		c->cfg.flush = false;
		break;
	case OPT_BUFFERED:
		c->plan.buffered = true;
		break;
	case OPT_JOB_FILE:
		if (c->cfg.job_file)
			usage_error("--job-file given twice ('%s' and '%s'); put the "
				    "jobs in one file", c->cfg.job_file, arg);
		c->cfg.job_file = arg;
		break;
	case OPT_MAP:
		if (!*arg)
			usage_error("--map: empty file name");
		c->cfg.map_file = arg;
		break;
	case OPT_BMAP:
		if (!*arg)
			usage_error("--bmap: empty file name");
		c->cfg.bmap_file = arg;
		break;
	case OPT_HASH:
		parse_hashes(&c->cfg, arg);
		break;
	case OPT_NO_DECOMPRESS:
		c->plan.raw = true;
		break;
	case OPT_LONG_OPTIONS:
		print_long_options();
		break;
	case ARGP_KEY_ARGS:
		c->args = state->argv + state->next;
		c->nr_args = (unsigned)(state->argc - state->next);
		break;
	default:
		jo = job_option_by_key(key);
		if (!jo)
			return ARGP_ERR_UNKNOWN;
		job_option_apply(jo, &c->job);
		break;
	}
	return 0;
}

/* Memory and sub-job size depend on each other; settle them. */
static void settle_engine_options(struct cli *c)
{
	struct kc_client_config *e = &c->cfg.engine;

	if (!c->memory_given)
		e->memory = e->sub_job_size * e->sub_jobs;
	if (e->memory < e->sub_job_size)
		e->sub_job_size = e->memory / 4096 * 4096;
	e->memory = e->memory / e->sub_job_size * e->sub_job_size;
	if (c->cfg.verify && e->sub_job_size < 8192)
		usage_error("--verify needs a sub-job size of at least 8 KiB");
	if ((c->job.flags & KC_DEST_IS_ZERO) && !(c->job.flags & KC_SPARSE))
		usage_error("--dest-is-zero only makes sense with --sparse");
}

/* Progress: as asked, else on when stderr is a terminal; -q wins. */
static void settle_progress(struct cli *c)
{
	if (c->cfg.quiet)
		c->cfg.progress = PROGRESS_NONE;
	else if (!c->progress_given)
		c->cfg.progress = isatty(STDERR_FILENO) ? PROGRESS_LINE : PROGRESS_NONE;
}

/*
 * kcopyd cannot skip a failed range of a destination it must write in
 * order, so --sequential turns --ignore-errors off (SPEC §2); say so
 * where both were asked for: on the command line (@line 0) or on line
 * @line of job file @name.
 */
static void settle_job_opts(struct job_opts *j, bool quiet, const char *name,
			    unsigned line)
{
	if (!(j->flags & KC_WRITE_SEQ) || !(j->flags & KC_IGNORE_ERROR))
		return;
	j->flags &= ~KC_IGNORE_ERROR;
	if (quiet)
		return;
	if (line)
		fprintf(stderr, "kcopy: warning: %s:%u: --sequential turns "
			"--ignore-errors off\n", name, line);
	else
		fprintf(stderr, "kcopy: warning: --sequential turns --ignore-errors off\n");
}

/*-----------------------------------------------------------------
 * Jobs from the command line or a job file.
 *---------------------------------------------------------------*/

/* Keep @p until cli_free(); out of memory is a usage error. */
static void *own(struct cli *c, void *p)
{
	void **owned = p ? realloc(c->owned, (c->nr_owned + 1) * sizeof(*owned)) :
			   NULL;

	if (!owned) {
		free(p);
		usage_error("out of memory");
	}
	c->owned = owned;
	owned[c->nr_owned++] = p;
	return p;
}

/*
 * "[ CMD ARGS... ]" is a server started for the copy (remote.h), one
 * region: the words between the brackets become one word, before
 * anything else reads them, so that the server's options are never
 * taken for kcopy's. @where is "" or "FILE:LINE: ", for messages.
 * Returns a new array (NULL-terminated), its count in *@n.
 */
static char **join_servers(struct cli *c, int *n, char **words, const char *where)
{
	char **out = own(c, calloc((size_t)*n + 1, sizeof(*out)));
	int i, j, k = 0;

	for (i = 0; i < *n; i++) {
		if (strcmp(words[i], "[")) {
			out[k++] = words[i];
			continue;
		}
		for (j = i + 1; j < *n && strcmp(words[j], "]"); j++)
			;
		if (j == *n)
			usage_error("%s'[': no ']' ends the server command", where);
		if (j == i + 1)
			usage_error("%s'[ ]': no server command between the brackets",
				    where);
		out[k++] = own(c, remote_command_join(words + i + 1,
						      (unsigned)(j - i - 1)));
		i = j;
	}
	*n = k;
	return out;
}

/* One job: @words are DEST... for a zero, SOURCE DEST... for a copy. */
static void add_job(struct plan *plan, unsigned line, bool zero,
		    const struct job_opts *j, unsigned nr_words, char **words)
{
	unsigned skip = zero ? 0 : 1;	/* a copy's first word is its source */
	char err[1024];
	int r;

	r = plan_add_job(plan, line, j->force, j->flags, zero ? NULL : words[0],
			 nr_words - skip, words + skip, err, sizeof(err));
	if (r == -ENOMEM)
		usage_error("out of memory");
	if (r < 0)
		usage_error("%s", err);
}

static void plan_from_args(struct cli *c)
{
	if (!c->zero && c->nr_args == 0)
		usage_error("no source given (try 'kcopy --help')");
	if (c->zero && (c->job.flags & KC_SPARSE))
		usage_error("--sparse applies to copies; --zero writes only zeros anyway");
	if (c->zero && (c->cfg.bmap_file || c->cfg.nr_hashes))
		usage_error("--bmap and --hash apply to copies, not to --zero");
	add_job(&c->plan, 0, c->zero, &c->job, c->nr_args, c->args);
}

/*
 * Job options on a job-file line, from l->argv[1]: they add to the
 * command line's @j. Returns the index of the first argument after them.
 */
static int jobfile_options(const struct jobfile_line *l, const char *name,
			   struct job_opts *j)
{
	const struct job_option *jo;
	int i;

	for (i = 1; i < l->argc && l->argv[i][0] == '-'; i++) {
		if (!strcmp(l->argv[i], "--"))
			return i + 1;
		jo = job_option_by_word(l->argv[i]);
		if (!jo)
			usage_error("%s:%u: unknown job option '%s'", name, l->lineno,
				    l->argv[i]);
		job_option_apply(jo, j);
	}
	return i;
}

static void plan_from_jobfile_line(struct cli *c, const struct jobfile_line *l,
				   const char *name)
{
	const char *verb = l->argv[0];
	struct job_opts j = c->job;
	char where[512], **words;
	bool zero;
	int i, n;

	if (!strcmp(verb, "wait")) {
		if (l->argc > 1)
			usage_error("%s:%u: 'wait' takes no arguments", name, l->lineno);
		plan_add_barrier(&c->plan);
		return;
	}
	if (strcmp(verb, "copy") && strcmp(verb, "zero"))
		usage_error("%s:%u: unknown job '%s' (expected copy, zero or wait)",
			    name, l->lineno, verb);
	zero = !strcmp(verb, "zero");
	i = jobfile_options(l, name, &j);
	settle_job_opts(&j, c->cfg.quiet, name, l->lineno);
	if (!zero && i >= l->argc)
		usage_error("%s:%u: copy needs a source and a destination", name,
			    l->lineno);
	snprintf(where, sizeof(where), "%s:%u: ", name, l->lineno);
	n = l->argc - i;
	words = join_servers(c, &n, l->argv + i, where);
	add_job(&c->plan, l->lineno, zero, &j, (unsigned)n, words);
}

static void plan_from_jobfile(struct cli *c)
{
	const char *name = c->cfg.job_file;
	char err[1024];
	struct stat st;
	FILE *f;
	size_t i;
	int r;

	if (c->nr_args)
		usage_error("--job-file: SOURCE and DEST arguments cannot be given too");
	if (c->zero)
		usage_error("--job-file: --zero cannot be given too (use 'zero' lines)");
	f = strcmp(name, "-") ? fopen(name, "re") : stdin;
	if (!f)
		usage_error("%s: %s", name, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
		usage_error("%s: is a directory, not a job file", name);
	r = jobfile_parse(f, name, &c->jf, err, sizeof(err));
	if (f != stdin)
		fclose(f);
	if (r == -EINVAL)
		usage_error("%s", err);
	if (r < 0)
		usage_error("%s: %s", name, strerror(-r));
	c->plan.jobfile = name;
	for (i = 0; i < c->jf->nr_lines; i++)
		plan_from_jobfile_line(c, &c->jf->lines[i], name);
	if (!c->plan.nr_jobs)
		usage_error("%s: no jobs", name);
}

struct cli *cli_parse(int argc, char **argv)
{
	struct argp argp = {
		build_option_table(), parse_opt, args_doc, doc, NULL, NULL, NULL,
	};
	struct cli *c = calloc(1, sizeof(*c));

	if (!c)
		usage_error("out of memory");
	c->cfg.engine = (struct kc_client_config) {
		.sub_job_size = DEFAULT_SUB_JOB_SIZE,
		.sub_jobs = DEFAULT_SUB_JOBS,
		.throttle = 100,
	};
	c->cfg.flush = true;
	c->cfg.io = io_backend_default();
	c->plan.connections = DEFAULT_CONNECTIONS;
	argp_err_exit_status = EXIT_USAGE;
	argv[0] = "kcopy";	/* getopt names the program after argv[0] */
	argv = join_servers(c, &argc, argv, "");
	argp_parse(&argp, argc, argv, 0, NULL, c);
	settle_engine_options(c);
	settle_progress(c);
	settle_job_opts(&c->job, c->cfg.quiet, NULL, 0);
	if (c->cfg.job_file)
		plan_from_jobfile(c);
	else
		plan_from_args(c);
	return c;
}

const struct session_config *cli_config(const struct cli *c)
{
	return &c->cfg;
}

struct plan *cli_plan(struct cli *c)
{
	return &c->plan;
}

void cli_free(struct cli *c)
{
	if (!c)
		return;
	plan_free(&c->plan);
	jobfile_free(c->jf);
	while (c->nr_owned)
		free(c->owned[--c->nr_owned]);
	free(c->owned);
	free(c);
}
