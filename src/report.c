// SPDX-License-Identifier: GPL-2.0
/*
 * report.c - see report.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "report.h"
#include "size.h"

#define LINE_INTERVAL_NS (100 * 1000000ull)
#define JSON_INTERVAL_NS (1000 * 1000000ull)
#define RATE_WINDOW_NS (2000 * 1000000ull)

const char *report_status_name(enum report_status status)
{
	switch (status) {
	case REPORT_OK:
		return "ok";
	case REPORT_ERRORS:
		return "errors";
	case REPORT_INTERRUPTED:
		break;
	}
	return "interrupted";
}

/* A job's time: from its start to its end, or to its flush if later. */
static double job_seconds(const struct report_job *j)
{
	uint64_t end = j->stats.end_ns;

	if (!j->started)
		return 0;
	if (j->flushed_ns > end)
		end = j->flushed_ns;
	return (double)(end - j->stats.start_ns) / 1e9;
}

/* Bytes of work a job did in this run (what a rate is made of). */
static uint64_t job_work(const struct report_job *j)
{
	if (!j->started)
		return 0;
	if (j->stats.interrupted)
		return j->stats.done_prefix;
	return j->stats.bytes_data + j->stats.bytes_zeroed;
}

static const char *strerror_text(int error)
{
	if (error == KC_EMISMATCH)
		return "data differs (verify)";
	if (error == KC_ECHECKSUM)
		return "the data does not match the bmap's checksum of this range";
	if (error == KC_ESHRANK)
		return "the source shrank: it ends before this range";
	if (error == ENOTCONN)
		return "the connection to the server was lost (Transport endpoint "
		       "is not connected)";
	return strerror(error);
}

static void human_region(FILE *f, const struct report_region *r)
{
	char len[32];

	fprintf(f, "%s", r->path);
	if (r->offset)
		fprintf(f, " @%" PRIu64, r->offset);
	fprintf(f, " (%s)", size_format(r->length, len, sizeof(len)));
}

/* What an error range says: the source's EBADMSG is a stream's, not verify's. */
static const char *error_text(const struct kc_error_range *e)
{
	if (e->region == KC_REGION_SOURCE && e->error == EBADMSG)
		return "the compressed data is corrupt or cut short";
	if (e->region != KC_REGION_SOURCE && e->error == ENOSPC && !e->flush)
		return "No space left on device (the source goes on past its end)";
	return strerror_text(e->error);
}

static void human_error(FILE *f, const char *indent, const struct report_job *j,
			const struct kc_error_range *e)
{
	const char *path = e->region == KC_REGION_SOURCE ? j->source.path :
			   j->dests[e->region].path;

	if (e->region == KC_REGION_SOURCE && e->error == KC_ECHECKSUM)
		fprintf(f, "%schecksum mismatch: source %s", indent, path);
	else if (e->region == KC_REGION_SOURCE)
		fprintf(f, "%sread error: source %s", indent, path);
	else if (e->flush)
		fprintf(f, "%sflush failed: dest %d %s", indent, e->region, path);
	else if (e->error == KC_EMISMATCH)
		fprintf(f, "%sverify mismatch: dest %d %s", indent, e->region, path);
	else
		fprintf(f, "%swrite error: dest %d %s", indent, e->region, path);
	fprintf(f, " bytes %" PRIu64 "-%" PRIu64 " (%" PRIu64 " bytes): %s%s\n",
		e->offset, e->offset + e->length - 1, e->length,
		!e->flush ? "" : remote_is_spec(path) ? "NBD_CMD_FLUSH: " : "fdatasync: ",
		error_text(e));
}

/* " by ..." for a job that wrote zeros, "" for one that did not. */
static const char *zeroed_by(const struct report_job *j)
{
	switch (j->stats.zero_method) {
	case KC_ZERO_OFFLOAD:
		return " by write-zeroes offload";
	case KC_ZERO_WRITE:
		return " by writing zeros";
	default:
		return "";
	}
}

/* ", N what (SIZE)" for one kind of failure of a destination. */
static void dest_failures(FILE *f, bool *first, size_t n, const char *what,
			  uint64_t bytes)
{
	char len[32];

	if (!n)
		return;
	fprintf(f, "%s%zu %s%s (%s)", *first ? "" : ", ", n, what, n == 1 ? "" : "s",
		size_format(bytes, len, sizeof(len)));
	*first = false;
}

/* The state of destination @d, for jobs with several. */
static void human_dest_state(FILE *f, const struct report_job *j, unsigned d)
{
	size_t i, n = j->stats.nr_errors + j->nr_extra, writes = 0, mismatches = 0;
	uint64_t write_bytes = 0, mismatch_bytes = 0;
	const struct kc_error_range *e;
	bool flush = false, first = true;

	for (i = 0; i < n; i++) {
		e = i < j->stats.nr_errors ? &j->stats.errors[i] :
		    &j->extra[i - j->stats.nr_errors];
		if (e->region != (int)d)
			continue;
		if (e->flush) {
			flush = true;
		} else if (e->error == KC_EMISMATCH) {
			mismatches++;
			mismatch_bytes += e->length;
		} else {
			writes++;
			write_bytes += e->length;
		}
	}
	fprintf(f, "  dest %u %s", d, j->dests[d].path);
	if (j->dests[d].offset)
		fprintf(f, " @%" PRIu64, j->dests[d].offset);
	fputs(": ", f);
	if (writes || mismatches || flush) {
		fputs("FAILED: ", f);
		dest_failures(f, &first, writes, "write error", write_bytes);
		if (flush) {
			fprintf(f, "%sflush failed", first ? "" : ", ");
			first = false;
		}
		dest_failures(f, &first, mismatches, "verify mismatch", mismatch_bytes);
	} else if (!j->started || j->stats.interrupted) {
		fputs("incomplete", f);
	} else if (j->verified == 0 || j->verified == 1) {
		fputs("ok, verified", f);	/* the verify ran, and found nothing here */
	} else {
		fputs("ok", f);
	}
	fputc('\n', f);
}

static void human_job(FILE *f, const struct report_job *j)
{
	char done[32], total[32], rate[32];
	double secs = job_seconds(j);
	uint64_t work = job_work(j);
	size_t i;
	unsigned d;

	if (j->line)
		fprintf(f, "line %u: ", j->line);
	if (j->zero) {
		fprintf(f, "zero");
	} else {
		fprintf(f, "copy ");
		human_region(f, &j->source);
		fprintf(f, " ->");
	}
	/* Several destinations each get a line of their own below. */
	if (j->num_dests > 1)
		fprintf(f, " %u destinations", j->num_dests);
	for (d = 0; j->num_dests == 1 && d < j->num_dests; d++) {
		fputc(' ', f);
		human_region(f, &j->dests[d]);
	}
	size_format(j->stats.length, total, sizeof(total));
	if (!j->started) {
		fprintf(f, "\n  not started (%s)\n", total);
	} else if (j->stats.interrupted) {
		fprintf(f, "\n  %s %s of %s in %.2f s, interrupted\n",
			j->zero ? "zeroed" : "copied", size_format(work, done, sizeof(done)),
			total, secs);
	} else if (!work && j->stats.length) {
		/* Resumed from the map, or all known zero: nothing was written. */
		fprintf(f, "\n  nothing left to do: %s already done\n", total);
	} else {
		fprintf(f, "\n  %s %s", j->zero ? "zeroed" : "copied",
			size_format(work, done, sizeof(done)));
		if (work != j->stats.length)
			fprintf(f, " of %s", total);
		fprintf(f, " in %.2f s", secs);
		if (secs > 0)
			fprintf(f, " (%s/s)", size_format((uint64_t)((double)work / secs),
							   rate, sizeof(rate)));
		if (j->zero)
			fputs(zeroed_by(j), f);
		fputc('\n', f);
	}
	for (i = 0; i < j->stats.nr_errors; i++)
		human_error(f, "  ", j, &j->stats.errors[i]);
	for (i = 0; i < j->nr_extra; i++)
		human_error(f, "  ", j, &j->extra[i]);
	if (j->num_dests > 1)
		for (d = 0; d < j->num_dests; d++)
			human_dest_state(f, j, d);
	else if (j->verified == 1)
		fprintf(f, "  verified\n");
	if (j->verified == 0)
		fprintf(f, "  verification FAILED\n");
	else if (j->verified == 2)
		fprintf(f, "  verification interrupted: not every byte was checked\n");
	/* The split, where there is one to tell. */
	if (j->started && (j->stats.bytes_skipped ||
			   (!j->zero && j->stats.bytes_zeroed))) {
		char data[32], zeroed[32], skipped[32];

		fprintf(f, "  %s as data, %s zeroed%s, %s skipped (resumed, known "
			"zero, or not reached)\n",
			size_format(j->stats.bytes_data, data, sizeof(data)),
			size_format(j->stats.bytes_zeroed, zeroed, sizeof(zeroed)),
			zeroed_by(j),
			size_format(j->stats.bytes_skipped, skipped, sizeof(skipped)));
	}
}

static void error_prefix(FILE *f, const struct report_job *j)
{
	fputs("kcopy: ", f);
	if (j->line)
		fprintf(f, "line %u: ", j->line);
}

void report_errors(FILE *f, const struct report_job *jobs, size_t nr_jobs)
{
	const struct report_job *j;
	size_t i, k;

	for (i = 0; i < nr_jobs; i++) {
		j = &jobs[i];
		for (k = 0; k < j->stats.nr_errors + j->nr_extra; k++) {
			error_prefix(f, j);
			human_error(f, "", j, k < j->stats.nr_errors ? &j->stats.errors[k] :
				    &j->extra[k - j->stats.nr_errors]);
		}
		if (j->verified == 2) {
			error_prefix(f, j);
			fputs("verification interrupted: not every byte was checked\n", f);
		}
	}
}

void report_human(FILE *f, const struct report_job *jobs, size_t nr_jobs,
		  double seconds, enum report_status status)
{
	char total[32], rate[32];
	uint64_t bytes = 0;
	size_t i;

	for (i = 0; i < nr_jobs; i++) {
		human_job(f, &jobs[i]);
		bytes += job_work(&jobs[i]);
	}
	fprintf(f, "kcopy: %s: %zu job%s, %s in %.2f s", report_status_name(status),
		nr_jobs, nr_jobs == 1 ? "" : "s",
		size_format(bytes, total, sizeof(total)), seconds);
	if (seconds > 0)
		fprintf(f, " (%s/s)", size_format((uint64_t)(bytes / seconds), rate,
						   sizeof(rate)));
	fputc('\n', f);
}

/* Length of the valid UTF-8 sequence at @p, or 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *p)
{
	size_t n, i;
	unsigned cp;

	if (*p < 0x80)
		return 1;
	if ((*p & 0xe0) == 0xc0)
		n = 2, cp = *p & 0x1f;
	else if ((*p & 0xf0) == 0xe0)
		n = 3, cp = *p & 0x0f;
	else if ((*p & 0xf8) == 0xf0)
		n = 4, cp = *p & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* No overlong forms, surrogates or code points past U+10FFFF. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * JSON string with the escapes RFC 8259 requires. Paths are bytes, JSON
 * is UTF-8: a byte that is not part of valid UTF-8 is written as the code
 * point of the same value (\u00XX), so the output always parses.
 */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p) {
		n = utf8_sequence(p);
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || !n)
			fprintf(f, "\\u%04x", *p);
		else
			fwrite(p, 1, n, f);
		p += n ? n : 1;
	}
	fputc('"', f);
}

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	for (; *p; p += n)
		if (!(n = utf8_sequence(p)))
			return false;
	return true;
}

/*
 * A path that is not valid UTF-8 can't be said exactly in a JSON string
 * ("\u00ff" is also the character U+00FF): its bytes are given as well,
 * in hex, as "path_bytes".
 */
static void json_region(FILE *f, const struct report_region *r)
{
	const unsigned char *p;
	unsigned i;

	fputs("{\"path\": ", f);
	json_string(f, r->path);
	if (!valid_utf8(r->path)) {
		fputs(", \"path_bytes\": \"", f);
		for (p = (const unsigned char *)r->path; *p; p++)
			fprintf(f, "%02x", *p);
		fputc('"', f);
	}
	fprintf(f, ", \"offset\": %" PRIu64 ", \"length\": %" PRIu64,
		r->offset, r->length);
	for (i = 0; i < r->nr_hashes; i++) {
		fprintf(f, "%s\"%s\": ", i ? ", " : ", \"hashes\": {", r->hash_names[i]);
		if (r->hashes[i])
			fprintf(f, "\"%s\"", r->hashes[i]);
		else
			fputs("null", f);
	}
	fputs(r->nr_hashes ? "}}" : "}", f);
}

static void json_error(FILE *f, const struct kc_error_range *e, bool first)
{
	fprintf(f, "%s{\"region\": \"%s\", \"index\": ", first ? "" : ", ",
		e->region == KC_REGION_SOURCE ? "source" : "dest");
	if (e->region == KC_REGION_SOURCE)
		fputs("null", f);
	else
		fprintf(f, "%d", e->region);
	fprintf(f, ", \"offset\": %" PRIu64 ", \"length\": %" PRIu64 ", \"error\": ",
		e->offset, e->length);
	if (e->flush) {
		char text[128];

		snprintf(text, sizeof(text), "flush failed: %s", strerror_text(e->error));
		json_string(f, text);
	} else {
		json_string(f, error_text(e));
	}
	fputc('}', f);
}

static const char *zero_method_name(const struct report_job *j)
{
	if (!j->started || j->stats.zero_method == KC_ZERO_NONE)
		return "null";
	return j->stats.zero_method == KC_ZERO_OFFLOAD ? "\"offload\"" : "\"write\"";
}

static void json_job(FILE *f, const struct report_job *j)
{
	unsigned long write_err = j->stats.write_err;
	size_t i;
	unsigned d;

	for (i = 0; i < j->nr_extra; i++)
		if (j->extra[i].region != KC_REGION_SOURCE)
			write_err |= 1ul << j->extra[i].region;
	fputs("{\"line\": ", f);
	if (j->line)
		fprintf(f, "%u", j->line);
	else
		fputs("null", f);
	fprintf(f, ", \"op\": \"%s\", \"source\": ", j->zero ? "zero" : "copy");
	if (j->zero)
		fputs("null", f);
	else
		json_region(f, &j->source);
	fputs(", \"dests\": [", f);
	for (d = 0; d < j->num_dests; d++) {
		if (d)
			fputs(", ", f);
		json_region(f, &j->dests[d]);
	}
	fprintf(f, "], \"bytes\": %" PRIu64 ", \"read_err\": %d, \"write_err\": %lu",
		j->stats.length, j->stats.read_err, write_err);
	fputs(", \"errors\": [", f);
	for (i = 0; i < j->stats.nr_errors; i++)
		json_error(f, &j->stats.errors[i], i == 0);
	for (i = 0; i < j->nr_extra; i++)
		json_error(f, &j->extra[i], i == 0 && !j->stats.nr_errors);
	/* Not asked, or cut short by a stop: null (nothing can be said). */
	fprintf(f, "], \"verified\": %s", j->verified < 0 || j->verified == 2 ?
		"null" : j->verified ? "true" : "false");
	fprintf(f, ", \"zero_method\": %s", zero_method_name(j));
	fprintf(f, ", \"bytes_data\": %" PRIu64 ", \"bytes_zeroed\": %" PRIu64
		", \"bytes_skipped\": %" PRIu64 ", \"seconds\": %.6f",
		j->stats.bytes_data, j->stats.bytes_zeroed, j->stats.bytes_skipped,
		job_seconds(j));
	fputc('}', f);
}

int report_json(FILE *f, const struct report_job *jobs, size_t nr_jobs,
		double seconds, enum report_status status)
{
	uint64_t bytes = 0;
	size_t i;

	for (i = 0; i < nr_jobs; i++)
		bytes += jobs[i].stats.length;
	fprintf(f, "{\"status\": \"%s\", \"bytes\": %" PRIu64 ", \"seconds\": %.6f"
		", \"jobs\": [", report_status_name(status), bytes, seconds);
	for (i = 0; i < nr_jobs; i++) {
		if (i)
			fputs(", ", f);
		json_job(f, &jobs[i]);
	}
	fputs("]}\n", f);
	if (fflush(f) != 0 || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}

/*-----------------------------------------------------------------
 * Progress.
 *---------------------------------------------------------------*/
struct progress {
	enum progress_mode mode;
	FILE *f;
	uint64_t total;
	uint64_t start_ns;
	uint64_t last_draw_ns;
	/* Rate over a sliding window: the sample at the window's start. */
	uint64_t window_ns, window_bytes;
	double rate;
	bool drawn;
};

struct progress *progress_create(enum progress_mode mode, FILE *f,
				  uint64_t bytes_total)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->mode = mode;
	p->f = f;
	p->total = bytes_total;
	p->start_ns = p->window_ns = kc_now_ns();
	return p;
}

void progress_destroy(struct progress *p)
{
	free(p);
}

static void update_rate(struct progress *p, uint64_t now, uint64_t done)
{
	uint64_t span = now - p->window_ns;

	if (span >= RATE_WINDOW_NS / 4 && done >= p->window_bytes) {
		p->rate = (double)(done - p->window_bytes) * 1e9 / (double)span;
		if (span >= RATE_WINDOW_NS) {
			p->window_ns = now;
			p->window_bytes = done;
		}
	} else if (!p->rate && now > p->start_ns) {
		p->rate = (double)done * 1e9 / (double)(now - p->start_ns);
	}
}

static void format_eta(char *buf, size_t len, double seconds)
{
	unsigned long s;

	if (seconds < 0 || seconds > 359999) {
		snprintf(buf, len, "--:--:--");
		return;
	}
	s = (unsigned long)(seconds + 0.5);
	snprintf(buf, len, "%02u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s / 60 % 60), (unsigned)(s % 60));
}

static void draw_line(struct progress *p, uint64_t done)
{
	char d[32], t[32], r[32], eta[32];
	double pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;

	format_eta(eta, sizeof(eta), p->rate > 0 ?
		   (double)(p->total - done) / p->rate : -1);
	fprintf(p->f, "\r\033[K%s / %s (%.1f%%) %s/s ETA %s",
		size_format(done, d, sizeof(d)), size_format(p->total, t, sizeof(t)),
		pct, size_format((uint64_t)p->rate, r, sizeof(r)), eta);
	fflush(p->f);
	p->drawn = true;
}

static void draw_json(struct progress *p, uint64_t done,
		      const struct report_job *jobs, size_t nr_jobs)
{
	size_t i;

	fprintf(p->f, "{\"bytes_done\": %" PRIu64 ", \"bytes_total\": %" PRIu64
		", \"rate\": %" PRIu64, done, p->total, (uint64_t)p->rate);
	if (nr_jobs > 1) {
		fputs(", \"jobs\": [", p->f);
		for (i = 0; i < nr_jobs; i++)
			fprintf(p->f, "%s{\"line\": %u, \"bytes_done\": %" PRIu64
				", \"bytes_total\": %" PRIu64 "}", i ? ", " : "",
				jobs[i].line, jobs[i].stats.bytes_done,
				jobs[i].stats.length);
		fputc(']', p->f);
	}
	fputs("}\n", p->f);
	fflush(p->f);
}

void progress_update(struct progress *p, uint64_t done,
		     const struct report_job *jobs, size_t nr_jobs, bool force)
{
	uint64_t now, interval;

	if (!p || p->mode == PROGRESS_NONE)
		return;
	now = kc_now_ns();
	interval = p->mode == PROGRESS_JSON ? JSON_INTERVAL_NS : LINE_INTERVAL_NS;
	if (!force && now - p->last_draw_ns < interval)
		return;
	p->last_draw_ns = now;
	update_rate(p, now, done);
	if (p->mode == PROGRESS_LINE)
		draw_line(p, done);
	else
		draw_json(p, done, jobs, nr_jobs);
}

void progress_clear(struct progress *p)
{
	if (p && p->mode == PROGRESS_LINE && p->drawn) {
		fputs("\r\033[K", p->f);
		fflush(p->f);
		p->drawn = false;
	}
}

void progress_status_line(FILE *f, uint64_t done, uint64_t total, double seconds)
{
	char d[32], t[32], r[32];

	fprintf(f, "kcopy: %" PRIu64 " of %" PRIu64 " bytes (%s of %s) done, "
		"%.1f s, %s/s\n", done, total, size_format(done, d, sizeof(d)),
		size_format(total, t, sizeof(t)), seconds,
		size_format(seconds > 0 ? (uint64_t)((double)done / seconds) : 0,
			    r, sizeof(r)));
	fflush(f);
}
