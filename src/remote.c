// SPDX-License-Identifier: GPL-2.0
/*
 * remote.c - NBD endpoints: naming them, connecting, and what the server
 * says it can do (see remote.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobfile.h"
#include "libnbd-api.h"
#include "remote.h"

/*
 * The largest request sent in one piece: libnbd refuses more than 64 MiB,
 * and qemu-nbd's limit is 32 MiB.
 */
#define REMOTE_REQUEST_CAP (32u << 20)

struct remote {
	char *name;			/* the spec as given */
	unsigned nr;			/* connections */
	struct nbd_handle *h[REMOTE_MAX_CONNECTIONS];
	struct remote_info info;
	bool command;			/* a server started for the copy */
};

static const char *const uri_schemes[] = {
	"nbd://", "nbds://", "nbd+unix://", "nbds+unix://",
	"nbd+vsock://", "nbds+vsock://",
};

bool remote_is_uri(const char *spec)
{
	size_t i;

	for (i = 0; i < sizeof(uri_schemes) / sizeof(uri_schemes[0]); i++)
		if (!strncmp(spec, uri_schemes[i], strlen(uri_schemes[i])))
			return true;
	return false;
}

static bool is_command(const char *spec)
{
	size_t n = strlen(spec);

	return n >= 4 && !strncmp(spec, "[ ", 2) && !strcmp(spec + n - 2, " ]");
}

bool remote_is_spec(const char *spec)
{
	return remote_is_uri(spec) || is_command(spec);
}

/*
 * The '/' that ends the authority: everything after it may carry the
 * :OFFSET suffix, nothing before it (there a ':' is the port's).
 */
const char *remote_uri_path(const char *spec)
{
	const char *authority;

	if (!remote_is_uri(spec))
		return NULL;
	authority = strstr(spec, "://") + 3;
	return strchr(authority, '/');
}

/* A word as a shell (and the job-file lexer) reads it back. */
static void put_word(FILE *f, const char *w)
{
	if (*w && !strpbrk(w, " \t\n'\"\\#$`*?[]{}()<>|&;~")) {
		fputs(w, f);
		return;
	}
	fputc('\'', f);
	for (; *w; w++) {
		if (*w == '\'')
			fputs("'\\''", f);
		else
			fputc(*w, f);
	}
	fputc('\'', f);
}

char *remote_command_join(char *const words[], unsigned nr)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned i;

	if (!f)
		return NULL;
	fputs("[", f);
	for (i = 0; i < nr; i++) {
		fputc(' ', f);
		put_word(f, words[i]);
	}
	fputs(" ]", f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The words between "[ " and " ]", split back (the job-file lexer). */
static int command_words(const char *spec, struct jobfile **out)
{
	size_t n = strlen(spec);
	FILE *f = fmemopen((void *)(spec + 2), n - 4, "r");
	char err[256];
	int r;

	if (!f)
		return -errno;
	r = jobfile_parse(f, "command", out, err, sizeof(err));
	fclose(f);
	if (r == 0 && ((*out)->nr_lines != 1 || (*out)->lines[0].argc < 1)) {
		jobfile_free(*out);
		r = -EINVAL;
	}
	return r;
}

const char *remote_error(void)
{
	const char *e = libnbd->get_error();

	return e ? e : "unknown error";
}

static int fail(char *err, size_t errlen, int r, const char *spec,
		const char *what, const char *why)
{
	snprintf(err, errlen, "%s: %s%s%s", spec, what, why ? ": " : "",
		 why ? why : "");
	return r;
}

static int nbd_errno(void)
{
	int e = libnbd->get_errno();

	return e > 0 ? -e : -EIO;
}

int remote_failure(struct nbd_handle *h)
{
	/* libnbd says EINVAL (wrong state) on a connection that is gone. */
	if (libnbd->aio_is_dead(h) || libnbd->aio_is_closed(h))
		return -ENOTCONN;
	return nbd_errno();
}

/* One connection: to @uri, or by starting the server of @argv. */
static struct nbd_handle *connect_handle(const char *uri, char **argv)
{
	struct nbd_handle *h = libnbd->create();

	if (!h)
		return NULL;
	/* Block status for sparse sources; a server without it says no. */
	/*
	 * The URI is the user's own argument: its tls-psk-file= or
	 * tls-certificates= may name local files, as with nbdcopy.
	 */
	if (libnbd->add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
	    libnbd->set_uri_allow_local_file(h, true) < 0 ||
	    (uri ? libnbd->connect_uri(h, uri) :
		   libnbd->connect_systemd_socket_activation(h, argv)) < 0) {
		/* Keep the reason: libnbd->close() does not touch it. */
		libnbd->close(h);
		return NULL;
	}
	return h;
}

static void read_limits(struct remote *r)
{
	struct nbd_handle *h = r->h[0];
	int64_t min = libnbd->get_block_size(h, LIBNBD_SIZE_MINIMUM);
	int64_t max = libnbd->get_block_size(h, LIBNBD_SIZE_MAXIMUM);

	r->info.block_size = min > 0 && min <= 65536 ? (unsigned)min : 1;
	/*
	 * Addressed in 512-byte sectors, as files are (SPEC §1), where the
	 * export is made of them: a failed range is then retried sector by
	 * sector, not byte by byte.
	 */
	if (r->info.block_size < 512 && r->info.size % 512 == 0)
		r->info.block_size = 512;
	r->info.max_request = max > 0 && max < REMOTE_REQUEST_CAP ? (uint64_t)max :
							      REMOTE_REQUEST_CAP;
	r->info.max_request -= r->info.max_request % r->info.block_size;
	r->info.can_zero = libnbd->can_zero(h) == 1;
	r->info.can_fast_zero = libnbd->can_fast_zero(h) == 1;
	r->info.can_flush = libnbd->can_flush(h) == 1;
	r->info.extents = libnbd->can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
}

/* More connections to the same server: only where it says that is safe. */
static void connect_more(struct remote *r, const char *uri, unsigned want)
{
	char *own = NULL;

	if (want <= 1 || libnbd->can_multi_conn(r->h[0]) != 1)
		return;
	if (!uri) {
		/* A server we started: its socket, as libnbd made it. */
		own = libnbd->get_uri(r->h[0]);
		uri = own;
	}
	while (uri && r->nr < want) {
		struct nbd_handle *h = connect_handle(uri, NULL);

		if (!h)
			break;		/* fewer connections, not an error */
		r->h[r->nr++] = h;
	}
	free(own);
}

int remote_open(const char *spec, bool writable, unsigned connections,
		struct remote **out, char *err, size_t errlen)
{
	struct jobfile *cmd = NULL;
	struct remote *r;
	char why[256];
	int64_t size;
	int ret;

	ret = libnbd_load(why, sizeof(why));
	if (ret < 0)
		return fail(err, errlen, ret, spec, why, NULL);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->name = strdup(spec);
	if (!r->name) {
		ret = -ENOMEM;
		goto bad;
	}
	if (!remote_is_uri(spec)) {
		ret = command_words(spec, &cmd);
		if (ret < 0) {
			ret = fail(err, errlen, -EINVAL, spec, "not a server command",
				   NULL);
			goto bad;
		}
	}
	r->command = cmd;
	r->h[0] = connect_handle(cmd ? NULL : spec, cmd ? cmd->lines[0].argv : NULL);
	if (!r->h[0]) {
		ret = fail(err, errlen, nbd_errno(), spec, "cannot connect",
			   remote_error());
		goto bad;
	}
	r->nr = 1;
	size = libnbd->get_size(r->h[0]);
	if (size < 0) {
		ret = fail(err, errlen, nbd_errno(), spec, "cannot read the export's size",
			   remote_error());
		goto bad;
	}
	r->info.size = (uint64_t)size;
	if (writable && libnbd->is_read_only(r->h[0]) == 1) {
		ret = fail(err, errlen, -EROFS, spec, "the export is read-only", NULL);
		goto bad;
	}
	read_limits(r);
	connect_more(r, cmd ? NULL : spec, connections);
	jobfile_free(cmd);
	*out = r;
	return 0;

bad:
	jobfile_free(cmd);
	remote_close(r);
	return ret;
}

void remote_close(struct remote *r)
{
	unsigned i;

	if (!r)
		return;
	/* NBD_CMD_DISC, once the commands in flight are back. */
	for (i = 0; i < r->nr; i++)
		libnbd->shutdown(r->h[i], 0);
	/*
	 * The first connection last: for a server started for the copy,
	 * nbd_close() of it waits for the server to exit, which a server
	 * does only once every connection is gone. It may go on listening
	 * (nbdkit does): SIGTERM is a clean end for nbdkit and qemu-nbd
	 * both (what was flushed stays).
	 */
	for (i = r->nr; i-- > 0;) {
		if (r->command && i == 0)
			libnbd->kill_subprocess(r->h[i], SIGTERM);
		libnbd->close(r->h[i]);
	}
	free(r->name);
	free(r);
}

const char *remote_name(const struct remote *r)
{
	return r->name;
}

const struct remote_info *remote_info(const struct remote *r)
{
	return &r->info;
}

unsigned remote_connections(const struct remote *r)
{
	return r->nr;
}

struct nbd_handle *remote_handle(const struct remote *r, unsigned i)
{
	return i < r->nr ? r->h[i] : NULL;
}

int remote_pread(struct remote *r, void *buf, size_t len, uint64_t offset)
{
	size_t done = 0, n;

	while (done < len) {
		n = len - done < r->info.max_request ? len - done : (size_t)r->info.max_request;
		if (libnbd->pread(r->h[0], (char *)buf + done, n, offset + done, 0) < 0)
			return remote_failure(r->h[0]);
		done += n;
	}
	return 0;
}

int remote_flush(struct remote *r)
{
	unsigned i;
	int ret = 0;

	if (!r->info.can_flush)
		return 0;
	for (i = 0; i < r->nr; i++)
		if (libnbd->flush(r->h[i], 0) < 0 && !ret)
			ret = remote_failure(r->h[i]);
	return ret;
}
