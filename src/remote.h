/* SPDX-License-Identifier: GPL-2.0 */
/*
 * remote.h - a region on an NBD server (libnbd): "nbd://HOST[:PORT]/EXPORT",
 * "nbd+unix:///EXPORT?socket=PATH", "nbds://..." (TLS), or a server started
 * for the copy, "[ CMD ARGS... ]" (systemd socket activation, as nbdcopy
 * does it).
 *
 * An endpoint is one or more connections to one export, all made at open,
 * so that a server that cannot be reached, a read-only export or one too
 * small is refused before anything is written. The connections are
 * handed to the NBD backend (io-nbd.c), which drives them asynchronously;
 * the synchronous calls here (reads for the signature probe, a flush for
 * a map checkpoint) may run while the backend has commands in flight:
 * libnbd then completes those too.
 */
#ifndef KCOPY_REMOTE_H
#define KCOPY_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct remote;
struct nbd_handle;

#define REMOTE_MAX_CONNECTIONS 16

/* Is @spec an NBD URI or a "[ ... ]" server command? */
bool remote_is_spec(const char *spec);
/* Is it a URI (not a command)? Then where its path part starts, or NULL. */
bool remote_is_uri(const char *spec);
const char *remote_uri_path(const char *spec);

/*
 * "[ w1 w2 ... ]" from words (quoted as a shell would need them): how a
 * server command travels as one region argument. Malloc'ed, or NULL.
 */
char *remote_command_join(char *const words[], unsigned nr);

/*
 * Connect to @spec: up to @connections connections when the server
 * advertises multi-conn, else one. @writable: the export must take
 * writes. Fills @err with "SPEC: reason" on failure.
 */
int remote_open(const char *spec, bool writable, unsigned connections,
		struct remote **out, char *err, size_t errlen);
void remote_close(struct remote *r);

/* What the server said of the export, at open. */
struct remote_info {
	uint64_t size;
	/*
	 * The server's minimum block size (1 when it says nothing), raised
	 * to 512 where the export is made of 512-byte sectors.
	 */
	unsigned block_size;
	uint64_t max_request;	/* bytes in one command (capped for libnbd) */
	bool can_zero, can_fast_zero, can_flush;
	bool extents;		/* base:allocation block status */
};

const char *remote_name(const struct remote *r);
const struct remote_info *remote_info(const struct remote *r);

unsigned remote_connections(const struct remote *r);
struct nbd_handle *remote_handle(const struct remote *r, unsigned i);

/* Synchronous read of [offset, offset + len): 0 or -errno. */
int remote_pread(struct remote *r, void *buf, size_t len, uint64_t offset);
/* Flush every connection (NBD_CMD_FLUSH): 0 or the first -errno. */
int remote_flush(struct remote *r);

/*
 * The -errno of a call that failed on @h: -ENOTCONN when the connection
 * is gone, else libnbd's errno (-EIO when it has none).
 */
int remote_failure(struct nbd_handle *h);

/* libnbd's last error on this thread, for a message. */
const char *remote_error(void);

#endif
