// SPDX-License-Identifier: GPL-2.0
/* test_jobfile.c - the job-file lexer */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobfile.h"
#include "unit.h"

/* sentinel for "*out was not written" */
static struct jobfile untouched;

/* Lex @len bytes of @text (which may hold NULs) as the file "jobs". */
static int lex_n(const char *text, size_t len, struct jobfile **jf,
		 char *err, size_t errlen)
{
	FILE *f;
	int r;

	*jf = &untouched;
	/* size 0 (an empty file) needs glibc >= 2.22 */
	f = fmemopen((void *)text, len, "r");
	if (!f)
		return -errno;
	r = jobfile_parse(f, "jobs", jf, err, errlen);
	fclose(f);
	return r;
}

static int lex(const char *text, struct jobfile **jf, char *err, size_t errlen)
{
	return lex_n(text, strlen(text), jf, err, errlen);
}

/* Does job @i start on line @lineno with exactly the words @want? */
static bool job_is(const struct jobfile *jf, size_t i, unsigned lineno,
		   const char *const *want)
{
	const struct jobfile_line *l;
	int n = 0, k;

	while (want[n])
		n++;
	if (i >= jf->nr_lines) {
		fprintf(stderr, "  no job %zu (only %zu)\n", i, jf->nr_lines);
		return false;
	}
	l = &jf->lines[i];
	if (l->lineno != lineno)
		fprintf(stderr, "  job %zu: line %u, want %u\n", i, l->lineno,
			lineno);
	if (l->argc != n)
		fprintf(stderr, "  job %zu: argc %d, want %d\n", i, l->argc, n);
	if (l->argv[l->argc] != NULL)
		fprintf(stderr, "  job %zu: argv[argc] not NULL\n", i);
	for (k = 0; k < n && k < l->argc; k++)
		if (strcmp(l->argv[k], want[k]))
			fprintf(stderr, "  job %zu: argv[%d] \"%s\", want \"%s\"\n",
				i, k, l->argv[k], want[k]);
	if (l->lineno != lineno || l->argc != n || l->argv[l->argc])
		return false;
	for (k = 0; k < n; k++)
		if (strcmp(l->argv[k], want[k]))
			return false;
	return true;
}

#define JOB(jf, i, lineno, ...) \
	CHECK(job_is((jf), (i), (lineno), (const char *const[]){ __VA_ARGS__, NULL }))

/* Lex @text, expect success with @n jobs; leaves the result in jf. */
#define LEX_OK(text, n)							\
	(CHECK_EQ_INT(lex((text), &jf, err, sizeof(err)), 0) &&		\
	 CHECK_STR(err, "") && CHECK_EQ_U64(jf->nr_lines, (n)))

/* Lex @text, expect a syntax error with message @msg; *out untouched. */
#define LEX_ERR(text, msg) do {						\
	CHECK_EQ_INT(lex((text), &jf, err, sizeof(err)), -EINVAL);	\
	CHECK_STR(err, (msg));						\
	CHECK(jf == &untouched);					\
} while (0)

static char err[256];
static struct jobfile *jf;

static void test_empty(void)
{
	if (LEX_OK("", 0))
		jobfile_free(jf);
	if (LEX_OK("\n\n\n", 0))
		jobfile_free(jf);
	if (LEX_OK("  \t \n\t\n", 0))
		jobfile_free(jf);
	if (LEX_OK("# only a comment", 0))
		jobfile_free(jf);
	if (LEX_OK("# one\n\n   # indented\n\t#tab\n#\n", 0))
		jobfile_free(jf);
	jobfile_free(NULL);
}

static void test_basic(void)
{
	if (LEX_OK("copy a b\nzero c\nwait\n", 3)) {
		JOB(jf, 0, 1, "copy", "a", "b");
		JOB(jf, 1, 2, "zero", "c");
		JOB(jf, 2, 3, "wait");
		jobfile_free(jf);
	}
	/* no newline at the end of the file */
	if (LEX_OK("copy a b", 1)) {
		JOB(jf, 0, 1, "copy", "a", "b");
		jobfile_free(jf);
	}
	/* blanks: runs of spaces and tabs, leading and trailing */
	if (LEX_OK("  copy\t\ta   b  \t\n", 1)) {
		JOB(jf, 0, 1, "copy", "a", "b");
		jobfile_free(jf);
	}
	/* a CR is an ordinary character, as in sh */
	if (LEX_OK("copy a b\r\n", 1)) {
		JOB(jf, 0, 1, "copy", "a", "b\r");
		jobfile_free(jf);
	}
}

static void test_comments(void)
{
	if (LEX_OK("# header\n\ncopy a b # trailing\n\n  # x\nwait#not\n", 2)) {
		JOB(jf, 0, 3, "copy", "a", "b");
		JOB(jf, 1, 6, "wait#not");
		jobfile_free(jf);
	}
	/* '#' inside a word, quoted, escaped */
	if (LEX_OK("copy a#b c# '#q' \"#d\" \\#e f\\#\n", 1)) {
		JOB(jf, 0, 1, "copy", "a#b", "c#", "#q", "#d", "#e", "f#");
		jobfile_free(jf);
	}
	/* '' starts a word, so the '#' after it is literal; after a blank not */
	if (LEX_OK("x ''#y\nx '' #y\n", 2)) {
		JOB(jf, 0, 1, "x", "#y");
		JOB(jf, 1, 2, "x", "");
		jobfile_free(jf);
	}
	/* a comment swallows a trailing backslash: no continuation */
	if (LEX_OK("copy a # c \\\nwait\n", 2)) {
		JOB(jf, 0, 1, "copy", "a");
		JOB(jf, 1, 2, "wait");
		jobfile_free(jf);
	}
	/* quotes inside a comment are not quotes */
	if (LEX_OK("wait # don't \"panic\n", 1)) {
		JOB(jf, 0, 1, "wait");
		jobfile_free(jf);
	}
}

static void test_quotes(void)
{
	if (LEX_OK("copy 'my file' 'a\"b' 'back\\slash' '  '\n", 1)) {
		JOB(jf, 0, 1, "copy", "my file", "a\"b", "back\\slash", "  ");
		jobfile_free(jf);
	}
	if (LEX_OK("copy \"a b\" \"x\\\"y\" \"b\\\\s\" \"keep\\n\" \"it's\" \"\\\"\"\n",
		   1)) {
		JOB(jf, 0, 1, "copy", "a b", "x\"y", "b\\s", "keep\\n",
		    "it's", "\"");
		jobfile_free(jf);
	}
	/* \\ then a closing quote */
	if (LEX_OK("\"a\\\\\" b\n", 1)) {
		JOB(jf, 0, 1, "a\\", "b");
		jobfile_free(jf);
	}
	/* empty words survive */
	if (LEX_OK("copy '' \"\" ''''\n", 1)) {
		JOB(jf, 0, 1, "copy", "", "", "");
		jobfile_free(jf);
	}
	/* a line of only an empty word is a job */
	if (LEX_OK("''\n", 1)) {
		JOB(jf, 0, 1, "");
		jobfile_free(jf);
	}
	/* tabs and '#' are literal in quotes */
	if (LEX_OK("'a\tb#c' \"d\te\"\n", 1)) {
		JOB(jf, 0, 1, "a\tb#c", "d\te");
		jobfile_free(jf);
	}
}

static void test_escapes_and_joins(void)
{
	if (LEX_OK("copy a\\ b \\'q\\' \\\\ \\\"x \\a\n", 1)) {
		JOB(jf, 0, 1, "copy", "a b", "'q'", "\\", "\"x", "a");
		jobfile_free(jf);
	}
	if (LEX_OK("a'b'\"c\"d 'x'\"y\" p\\ q'r s'\n", 1)) {
		JOB(jf, 0, 1, "abcd", "xy", "p qr s");
		jobfile_free(jf);
	}
	/* the usual shell idiom for a quote inside single quotes */
	if (LEX_OK("'it'\\''s'\n", 1)) {
		JOB(jf, 0, 1, "it's");
		jobfile_free(jf);
	}
}

static void test_continuation(void)
{
	/* the job keeps the number of its first line */
	if (LEX_OK("# hdr\ncopy a \\\n  b \\\n\tc\nwait\n", 2)) {
		JOB(jf, 0, 2, "copy", "a", "b", "c");
		JOB(jf, 1, 5, "wait");
		jobfile_free(jf);
	}
	/* backslash-newline is removed entirely: the word goes on */
	if (LEX_OK("ab\\\ncd e\n", 1)) {
		JOB(jf, 0, 1, "abcd", "e");
		jobfile_free(jf);
	}
	/* a continued empty line; the job starts where its first word does */
	if (LEX_OK("\\\ncopy a\n", 1)) {
		JOB(jf, 0, 2, "copy", "a");
		jobfile_free(jf);
	}
	/* a comment on a continuation line ends the job */
	if (LEX_OK("copy a \\\n# c\nb\n", 2)) {
		JOB(jf, 0, 1, "copy", "a");
		JOB(jf, 1, 3, "b");
		jobfile_free(jf);
	}
	/* ... but a '#' continuing a word is literal */
	if (LEX_OK("a\\\n#b\n", 1)) {
		JOB(jf, 0, 1, "a#b");
		jobfile_free(jf);
	}
	/* continuation into end of file, with and without the newline */
	if (LEX_OK("copy a \\\n", 1)) {
		JOB(jf, 0, 1, "copy", "a");
		jobfile_free(jf);
	}
	if (LEX_OK("copy a\\", 1)) {
		JOB(jf, 0, 1, "copy", "a");
		jobfile_free(jf);
	}
	/* inside quotes a backslash-newline is no continuation */
	LEX_ERR("'a\\\nb'\n", "jobs:1: unterminated single quote");
	LEX_ERR("\"a\\\nb\"\n", "jobs:1: unterminated double quote");
	/* an escaped backslash before the newline does not continue */
	if (LEX_OK("a\\\\\nb\n", 2)) {
		JOB(jf, 0, 1, "a\\");
		JOB(jf, 1, 2, "b");
		jobfile_free(jf);
	}
}

static void test_errors(void)
{
	FILE *f;

	LEX_ERR("copy a b\ncopy 'x y\n", "jobs:2: unterminated single quote");
	LEX_ERR("\n\ncopy \"x\n", "jobs:3: unterminated double quote");
	LEX_ERR("copy 'x", "jobs:1: unterminated single quote");
	LEX_ERR("copy \"x", "jobs:1: unterminated double quote");
	LEX_ERR("copy \"x\\\"\n", "jobs:1: unterminated double quote");
	LEX_ERR("copy \"x\\", "jobs:1: unterminated double quote");
	/* quotes do not span lines */
	LEX_ERR("copy 'a\nb'\n", "jobs:1: unterminated single quote");
	/* the line of the error, not of the job */
	LEX_ERR("copy a \\\n  \\\n 'b\n", "jobs:3: unterminated single quote");
	/* a later error still fails the whole file */
	LEX_ERR("copy a b\nwait\nzero 'c\nwait\n",
		"jobs:3: unterminated single quote");
	/* NUL bytes cannot be kept in a C string */
	CHECK_EQ_INT(lex_n("wait\ncopy a\0b\n", 14, &jf, err, sizeof(err)),
		     -EINVAL);
	CHECK_STR(err, "jobs:2: NUL byte in line");
	CHECK(jf == &untouched);

	/* the message is truncated to errlen, NUL included */
	CHECK_EQ_INT(lex("'x", &jf, err, 8), -EINVAL);
	CHECK_STR(err, "jobs:1:");
	/* no buffer at all is allowed */
	CHECK_EQ_INT(lex("'x", &jf, NULL, 0), -EINVAL);

	/* the name is the caller's, e.g. "-" for stdin */
	f = fmemopen((void *)"\"x", 2, "r");
	if (CHECK(f)) {
		jf = &untouched;
		CHECK_EQ_INT(jobfile_parse(f, "-", &jf, err, sizeof(err)),
			     -EINVAL);
		CHECK_STR(err, "-:1: unterminated double quote");
		fclose(f);
	}

	/* a read error is -EIO, not end of file */
	f = fopen("/dev/null", "w");
	if (CHECK(f)) {
		jf = &untouched;
		strcpy(err, "stale");
		CHECK_EQ_INT(jobfile_parse(f, "w", &jf, err, sizeof(err)),
			     -EIO);
		CHECK_STR(err, "");
		CHECK(jf == &untouched);
		fclose(f);
	}
}

/* No fixed line length, and many lines. */
static void test_big(void)
{
	const size_t wlen = 100000, nwords = 2000, nlines = 20000;
	size_t i, len, cap = wlen + nwords * 4 + 16;
	char *text = malloc(cap > nlines * 8 ? cap : nlines * 8);
	bool ok;

	if (!CHECK(text))
		return;

	/* one 100000-byte word, then 2000 short ones, on one line */
	memset(text, 'x', wlen);
	len = wlen;
	for (i = 0; i < nwords; i++)
		len += (size_t)sprintf(text + len, " w%zu", i % 10);
	text[len++] = '\n';
	if (CHECK_EQ_INT(lex_n(text, len, &jf, err, sizeof(err)), 0)) {
		if (CHECK_EQ_U64(jf->nr_lines, 1) &&
		    CHECK_EQ_INT(jf->lines[0].argc, (int)nwords + 1)) {
			CHECK_EQ_U64(strlen(jf->lines[0].argv[0]), wlen);
			CHECK_STR(jf->lines[0].argv[nwords], "w9");
			CHECK(jf->lines[0].argv[nwords + 1] == NULL);
		}
		jobfile_free(jf);
	}

	/* 20000 lines, every other one blank */
	len = 0;
	for (i = 0; i < nlines; i++)
		len += (size_t)sprintf(text + len, i % 2 ? "\n" : "wait\n");
	if (CHECK_EQ_INT(lex_n(text, len, &jf, err, sizeof(err)), 0)) {
		if (CHECK_EQ_U64(jf->nr_lines, nlines / 2)) {
			ok = true;
			for (i = 0; i < nlines / 2; i++)
				ok &= jf->lines[i].lineno == 2 * i + 1 &&
				      jf->lines[i].argc == 1;
			CHECK(ok);
		}
		jobfile_free(jf);
	}
	free(text);
}

int main(void)
{
	test_empty();
	test_basic();
	test_comments();
	test_quotes();
	test_escapes_and_joins();
	test_continuation();
	test_errors();
	test_big();
	return unit_summary();
}
