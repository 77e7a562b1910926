/* SPDX-License-Identifier: GPL-2.0 */
/*
 * jobfile.h - the job-file lexer (SPEC §4).
 *
 * One job a line; '#' starts a comment (outside quotes, at the start of a
 * word); blank and comment-only lines are skipped. Words are split like a
 * POSIX shell without any expansion: blanks separate words; '...' keeps
 * everything literally; "..." keeps everything literally except that \" \\
 * are unescaped; outside quotes a backslash escapes the next character; a
 * backslash-newline continues the line (the job keeps the number of its
 * first line). Adjacent quoted and unquoted parts join into one word
 * (a'b'"c" -> abc). An unterminated quote is a syntax error.
 *
 * The lexer does not know what "copy", "zero" or "wait" mean; main does.
 */
#ifndef KCOPY_JOBFILE_H
#define KCOPY_JOBFILE_H

#include <stddef.h>
#include <stdio.h>

struct jobfile_line {
	unsigned lineno;	/* 1-based line where the job starts */
	int argc;		/* >= 1 */
	char **argv;		/* argc words, argv[argc] == NULL */
};

struct jobfile {
	size_t nr_lines;
	struct jobfile_line *lines;
};

/*
 * Read all of @f. @name is used in messages only ("-" for stdin).
 * Returns 0 and a new *@out, or a negative errno: -EINVAL for a syntax
 * error, with "NAME:LINE: what is wrong" written into @err (at most
 * @errlen bytes, NUL-terminated); -ENOMEM; -EIO when reading fails.
 * @err may be NULL when @errlen is 0; it is set to "" for the other errors.
 * *@out is only written on success. An empty file is a success with
 * nr_lines == 0 (lines may then be NULL).
 */
int jobfile_parse(FILE *f, const char *name, struct jobfile **out,
		  char *err, size_t errlen);
void jobfile_free(struct jobfile *jf);

#endif
