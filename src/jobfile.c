// SPDX-License-Identifier: GPL-2.0
/*
 * jobfile.c - split a job file into words, one job a line (SPEC §4).
 *
 * Decisions beyond the header, all chosen to match sh(1) where it has an
 * answer and to fail loudly where a typo is the likely cause:
 *  - Only space and tab separate words (the default IFS minus newline).
 *    A CR is an ordinary character, as in sh.
 *  - Quotes do not span lines: a quote still open at the end of its line is
 *    "NAME:LINE: unterminated single quote" (or double), LINE being that
 *    physical line. A multi-line path is far more likely a missing quote.
 *  - Backslash-newline is removed entirely, so "ab\<newline>cd" is one word
 *    "abcd", as in sh. A backslash at the very end of a file with no newline
 *    behaves the same (the job ends at end of file).
 *  - A comment runs to the end of its physical line, backslash included,
 *    and ends the job there (as in sh).
 *  - The line number of a job is the line on which its first word starts.
 *  - '' and "" make an empty word; the caller rejects empty paths.
 *  - A NUL byte anywhere is a syntax error: it cannot be kept in a C string.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "jobfile.h"

struct lexer {
	const char *name;
	char *err;
	size_t errlen;
	unsigned lineno;	/* physical line being lexed */

	/* the word being built; in_word is separate since '' is a word */
	char *word;
	size_t word_len, word_cap;
	bool in_word;

	/* the job being built */
	unsigned job_lineno;
	char **argv;
	int argc;
	size_t argv_cap;

	struct jobfile *jf;
	size_t lines_cap;
};

/*
 * Return @arr, of *@cap elements of @size bytes, grown to hold at least
 * @need elements (doubling), or NULL with @arr untouched.
 */
static void *grow(void *arr, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return arr;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			return NULL;
		n *= 2;
	}
	arr = realloc(arr, n * size);
	if (arr)
		*cap = n;
	return arr;
}

static int syntax_error(struct lexer *lx, const char *what)
{
	if (lx->errlen)
		snprintf(lx->err, lx->errlen, "%s:%u: %s", lx->name,
			 lx->lineno, what);
	return -EINVAL;
}

static void word_begin(struct lexer *lx)
{
	if (!lx->in_word && !lx->argc)
		lx->job_lineno = lx->lineno;
	lx->in_word = true;
}

static int word_add(struct lexer *lx, char c)
{
	char *w;

	word_begin(lx);
	w = grow(lx->word, &lx->word_cap, lx->word_len + 1, 1);
	if (!w)
		return -ENOMEM;
	lx->word = w;
	lx->word[lx->word_len++] = c;
	return 0;
}

static int word_end(struct lexer *lx)
{
	char **argv, *w;

	if (!lx->in_word)
		return 0;
	if (lx->argc >= INT_MAX - 1)
		return syntax_error(lx, "too many words");
	/* room for this word and the argv[argc] == NULL terminator */
	argv = grow(lx->argv, &lx->argv_cap, (size_t)lx->argc + 2,
		    sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	lx->argv = argv;
	w = malloc(lx->word_len + 1);
	if (!w)
		return -ENOMEM;
	if (lx->word_len)
		memcpy(w, lx->word, lx->word_len);
	w[lx->word_len] = '\0';
	lx->argv[lx->argc++] = w;
	lx->argv[lx->argc] = NULL;
	lx->word_len = 0;
	lx->in_word = false;
	return 0;
}

static int job_end(struct lexer *lx)
{
	struct jobfile *jf = lx->jf;
	struct jobfile_line *l;
	int r;

	r = word_end(lx);
	if (r)
		return r;
	if (!lx->argc)
		return 0;
	l = grow(jf->lines, &lx->lines_cap, jf->nr_lines + 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	jf->lines = l;
	l = &jf->lines[jf->nr_lines++];
	l->lineno = lx->job_lineno;
	l->argc = lx->argc;
	l->argv = lx->argv;
	lx->argv = NULL;
	lx->argc = 0;
	lx->argv_cap = 0;
	return 0;
}

/* '...' starting at line[*i]: everything up to the next ' is literal. */
static int lex_single(struct lexer *lx, const char *line, size_t n, size_t *i)
{
	size_t j = *i + 1;
	int r;

	word_begin(lx);
	for (; j < n && line[j] != '\'' && line[j] != '\n'; j++) {
		r = word_add(lx, line[j]);
		if (r)
			return r;
	}
	if (j == n || line[j] != '\'')
		return syntax_error(lx, "unterminated single quote");
	*i = j + 1;
	return 0;
}

/* "..." starting at line[*i]: literal except for \" and \\. */
static int lex_double(struct lexer *lx, const char *line, size_t n, size_t *i)
{
	size_t j = *i + 1;
	int r;

	word_begin(lx);
	for (; j < n && line[j] != '"' && line[j] != '\n'; j++) {
		if (line[j] == '\\' && j + 1 < n &&
		    (line[j + 1] == '"' || line[j + 1] == '\\'))
			j++;
		r = word_add(lx, line[j]);
		if (r)
			return r;
	}
	if (j == n || line[j] != '"')
		return syntax_error(lx, "unterminated double quote");
	*i = j + 1;
	return 0;
}

/*
 * Lex one physical line of @n bytes (with its '\n', except maybe the last
 * line of the file). The job ends with the line unless it ends in a
 * backslash-newline; then the word and job carry over to the next line.
 */
static int lex_line(struct lexer *lx, const char *line, size_t n)
{
	size_t i = 0;
	int r = 0;

	if (memchr(line, '\0', n))
		return syntax_error(lx, "NUL byte in line");

	while (i < n && !r) {
		switch (line[i]) {
		case '\n':
			return job_end(lx);
		case ' ':
		case '\t':
			r = word_end(lx);
			i++;
			break;
		case '#':
			if (!lx->in_word)
				return job_end(lx);
			r = word_add(lx, line[i++]);
			break;
		case '\\':
			if (i + 1 == n || line[i + 1] == '\n')
				return 0;	/* continuation */
			r = word_add(lx, line[i + 1]);
			i += 2;
			break;
		case '\'':
			r = lex_single(lx, line, n, &i);
			break;
		case '"':
			r = lex_double(lx, line, n, &i);
			break;
		default:
			r = word_add(lx, line[i++]);
			break;
		}
	}
	return r ? r : job_end(lx);
}

void jobfile_free(struct jobfile *jf)
{
	size_t i;
	int j;

	if (!jf)
		return;
	for (i = 0; i < jf->nr_lines; i++) {
		for (j = 0; j < jf->lines[i].argc; j++)
			free(jf->lines[i].argv[j]);
		free(jf->lines[i].argv);
	}
	free(jf->lines);
	free(jf);
}

static void lexer_release(struct lexer *lx)
{
	int j;

	for (j = 0; j < lx->argc; j++)
		free(lx->argv[j]);
	free(lx->argv);
	free(lx->word);
	jobfile_free(lx->jf);
}

int jobfile_parse(FILE *f, const char *name, struct jobfile **out,
		  char *err, size_t errlen)
{
	struct lexer lx = {
		.name = name ? name : "-",
		.err = err,
		.errlen = err ? errlen : 0,
	};
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r;

	if (lx.errlen)
		err[0] = '\0';
	lx.jf = calloc(1, sizeof(*lx.jf));
	if (!lx.jf)
		return -ENOMEM;

	while ((n = getline(&line, &cap, f)) >= 0) {
		lx.lineno++;
		r = lex_line(&lx, line, (size_t)n);
		if (r)
			goto out;
	}
	if (ferror(f)) {
		r = -EIO;
		goto out;
	}
	if (!feof(f)) {
		/* getline() gave up without EOF or a read error: no memory */
		r = -ENOMEM;
		goto out;
	}

	/* a backslash-newline on the last line leaves a job open */
	r = job_end(&lx);
	if (r)
		goto out;
	*out = lx.jf;
	lx.jf = NULL;
out:
	free(line);
	lexer_release(&lx);
	return r;
}
