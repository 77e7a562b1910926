// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_jobfile.c - jobfile_parse() over fmemopen() of the input.
 *
 * The input is a whole job file. On success every job has argc >= 1 and
 * argv[argc] == NULL, jobs start on strictly increasing lines within the
 * file, and no word holds a newline; on -EINVAL the message is not empty
 * and starts with the name given (cut to the buffer); a NUL byte anywhere
 * is -EINVAL; a failure leaves *out alone.
 *
 * Beyond those, the result must be exactly that of a reference lexer: the
 * rules of jobfile.h and of the comment atop jobfile.c written again, over
 * the whole buffer in one pass rather than line by line. It gives the same
 * jobs, words and line numbers, or the same "NAME:LINE: what" error.
 *
 * The input's length picks the name and the error buffer (a NULL name, a
 * name longer than the buffer, a buffer of a few bytes, none at all), so
 * that every byte of the input stays part of the file. The error buffer is
 * exactly the size passed, so ASan sees a byte written past it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jobfile.h"

static const char long_name[] =
	"/a/job/file/name/longer/than/the/error/buffer/so/that/the/message/"
	"is/cut/in/the/middle/of/the/name/and/still/starts/with/it/"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* the untouched *out */
static struct jobfile sentinel;

/*
 * What the reference lexer makes of a file: words in one pool, each
 * NUL-terminated; job i is line[i] with words first[i] .. first[i+1]-1.
 * Every word takes at least one byte of input, and so does every job.
 */
struct ref {
	const uint8_t *d;
	size_t size;

	char *pool;
	size_t pool_len;
	size_t *word;		/* offset of each word in pool */
	size_t nr_words;
	unsigned *line;
	size_t *first;		/* nr_jobs + 1 entries */
	size_t nr_jobs;

	unsigned lineno;	/* physical line being lexed */
	bool in_word;
	unsigned job_line;
	size_t job_words;	/* words so far in the job being built */

	const char *err;	/* what is wrong, or NULL */
	unsigned err_line;
};

static void ref_word_begin(struct ref *x)
{
	if (!x->in_word && !x->job_words)
		x->job_line = x->lineno;
	if (!x->in_word)
		x->word[x->nr_words] = x->pool_len;
	x->in_word = true;
}

static void ref_add(struct ref *x, uint8_t c)
{
	ref_word_begin(x);
	x->pool[x->pool_len++] = (char)c;
}

static void ref_word_end(struct ref *x)
{
	if (!x->in_word)
		return;
	x->pool[x->pool_len++] = '\0';
	x->nr_words++;
	x->job_words++;
	x->in_word = false;
}

static void ref_job_end(struct ref *x)
{
	ref_word_end(x);
	if (!x->job_words)
		return;
	x->line[x->nr_jobs++] = x->job_line;
	x->first[x->nr_jobs] = x->nr_words;
	x->job_words = 0;
}

static void ref_error(struct ref *x, const char *what)
{
	x->err = what;
	x->err_line = x->lineno;
}

/* Index just past the comment or line at @i: after its '\n', or the end. */
static size_t next_line(const struct ref *x, size_t i)
{
	const uint8_t *nl = memchr(x->d + i, '\n', x->size - i);

	return nl ? (size_t)(nl - x->d) + 1 : x->size;
}

/* Lex a quote at @i; returns the index after it, or 0 after an error. */
static size_t ref_quote(struct ref *x, size_t i)
{
	uint8_t q = x->d[i];
	size_t j = i + 1;

	ref_word_begin(x);
	for (; j < x->size && x->d[j] != q && x->d[j] != '\n'; j++) {
		if (q == '"' && x->d[j] == '\\' && j + 1 < x->size &&
		    (x->d[j + 1] == '"' || x->d[j + 1] == '\\'))
			j++;
		ref_add(x, x->d[j]);
	}
	if (j == x->size || x->d[j] != q) {
		ref_error(x, q == '"' ? "unterminated double quote" :
				       "unterminated single quote");
		return 0;
	}
	return j + 1;
}

static void ref_lex(struct ref *x)
{
	size_t i = 0, line_start = 0, end;

	x->lineno = 1;
	for (;;) {
		if (i == line_start) {
			end = next_line(x, i);
			if (memchr(x->d + i, '\0', end - i)) {
				ref_error(x, "NUL byte in line");
				return;
			}
		}
		if (i == x->size)
			break;
		switch (x->d[i]) {
		case '\n':
			ref_job_end(x);
			i++;
			break;
		case ' ':
		case '\t':
			ref_word_end(x);
			i++;
			continue;
		case '#':
			if (x->in_word) {
				ref_add(x, x->d[i++]);
				continue;
			}
			ref_job_end(x);
			i = next_line(x, i);
			break;
		case '\\':
			if (i + 1 < x->size && x->d[i + 1] != '\n') {
				ref_add(x, x->d[i + 1]);
				i += 2;
				continue;
			}
			i += 2;		/* a continuation: the job goes on */
			if (i > x->size)
				i = x->size;
			break;
		case '\'':
		case '"':
			i = ref_quote(x, i);
			if (!i)
				return;
			continue;
		default:
			ref_add(x, x->d[i++]);
			continue;
		}
		/* a newline was passed, or the end was reached */
		if (i == x->size && x->d[i - 1] != '\n')
			continue;
		x->lineno++;
		line_start = i;
	}
	ref_job_end(x);
}

static bool ref_init(struct ref *x, const uint8_t *data, size_t size)
{
	memset(x, 0, sizeof(*x));
	x->d = data;
	x->size = size;
	x->pool = malloc(2 * size + 1);
	x->word = malloc((size + 1) * sizeof(*x->word));
	x->line = malloc((size + 1) * sizeof(*x->line));
	x->first = calloc(size + 2, sizeof(*x->first));
	return x->pool && x->word && x->line && x->first;
}

static void ref_release(struct ref *x)
{
	free(x->pool);
	free(x->word);
	free(x->line);
	free(x->first);
}

/* Physical lines of @data: newlines, plus an unterminated last line. */
static unsigned count_lines(const uint8_t *data, size_t size)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size && data[size - 1] != '\n');
}

static void check_jobs(const uint8_t *data, size_t size,
		       const struct jobfile *jf, const struct ref *x)
{
	unsigned lines = count_lines(data, size), prev = 0;
	const struct jobfile_line *l;
	size_t i;
	int k;

	PROPERTY(jf && jf != &sentinel);
	PROPERTY(!jf->nr_lines || jf->lines);
	for (i = 0; i < jf->nr_lines; i++) {
		l = &jf->lines[i];
		PROPERTY(l->argc >= 1);
		PROPERTY(l->argv && l->argv[l->argc] == NULL);
		PROPERTY(l->lineno > prev && l->lineno <= lines);
		prev = l->lineno;
		for (k = 0; k < l->argc; k++)
			PROPERTY(l->argv[k] && !strchr(l->argv[k], '\n'));
	}

	PROPERTY(jf->nr_lines == x->nr_jobs);
	for (i = 0; i < jf->nr_lines; i++) {
		l = &jf->lines[i];
		PROPERTY(l->lineno == x->line[i]);
		PROPERTY((size_t)l->argc == x->first[i + 1] - x->first[i]);
		for (k = 0; k < l->argc; k++)
			PROPERTY(!strcmp(l->argv[k],
					 x->pool + x->word[x->first[i] + (size_t)k]));
	}
}

static void check_message(const char *err, size_t errlen, const char *name,
			  const struct ref *x)
{
	char *want;
	size_t n = strlen(name);

	if (!errlen)
		return;
	PROPERTY(strnlen(err, errlen) < errlen);
	if (errlen == 1)
		return;
	PROPERTY(err[0]);
	PROPERTY(!strncmp(err, name, n < errlen - 1 ? n : errlen - 1));

	want = malloc(errlen);
	if (!want)
		abort();
	snprintf(want, errlen, "%s:%u: %s", name, x->err_line, x->err);
	PROPERTY(!strcmp(err, want));
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jobfile *jf = &sentinel;
	const char *name, *shown;
	char *copy, *err = NULL;
	struct ref x;
	size_t errlen;
	FILE *f;
	int r;

	switch (size % 5) {
	case 0: name = "fuzz.jobs"; errlen = 256; break;
	case 1: name = NULL; errlen = 256; break;	/* shown as "-" */
	case 2: name = "-"; errlen = 0; break;		/* no buffer at all */
	case 3: name = long_name; errlen = 64; break;
	default: name = "x"; errlen = 1 + size % 12; break;
	}
	shown = name ? name : "-";
	if (errlen) {
		err = malloc(errlen);
		if (!err)
			return 0;
		memset(err, 'z', errlen);
	}

	/* fmemopen() wants a writable buffer; size 0 needs glibc >= 2.22 */
	copy = malloc(size ? size : 1);
	if (!copy || !ref_init(&x, data, size))
		abort();
	if (size)
		memcpy(copy, data, size);
	f = fmemopen(copy, size, "r");
	if (!f)
		abort();

	r = jobfile_parse(f, name, &jf, err, errlen);
	PROPERTY(r == 0 || r == -EINVAL || r == -ENOMEM || r == -EIO);
	if (memchr(data, '\0', size))
		PROPERTY(r == -EINVAL);
	if (r)
		PROPERTY(jf == &sentinel);
	if (r && r != -EINVAL && errlen)
		PROPERTY(err[0] == '\0');

	ref_lex(&x);
	if (r == 0) {
		PROPERTY(!x.err);
		if (errlen)
			PROPERTY(err[0] == '\0');
		check_jobs(data, size, jf, &x);
		jobfile_free(jf);
	} else if (r == -EINVAL) {
		PROPERTY(x.err);
		check_message(err, errlen, shown, &x);
	}
	jobfile_free(NULL);

	ref_release(&x);
	fclose(f);
	free(copy);
	free(err);
	return 0;
}
