/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libnbd-api.h - libnbd, loaded when a region is on NBD.
 *
 * libnbd brings GnuTLS, libxml2 and ICU with it: about 5 MiB resident
 * once loaded, more than the rest of kcopy outside its page pool. A copy
 * between local disks should not pay for that (peak RSS is promised as
 * --memory plus a small constant), so libnbd is opened with dlopen(3) at
 * the first NBD region, and kcopy runs where it is not installed at all.
 * The calls keep libnbd's own prototypes (typeof), so the compiler checks
 * every one as if it were linked.
 */
#ifndef KCOPY_LIBNBD_API_H
#define KCOPY_LIBNBD_API_H

#include <stddef.h>

#include <libnbd.h>

#define LIBNBD_CALLS(X) \
	X(create) X(close) X(get_error) X(get_errno) X(add_meta_context) \
	X(connect_uri) X(connect_systemd_socket_activation) X(get_size) \
	X(is_read_only) X(get_block_size) X(can_zero) X(can_fast_zero) \
	X(can_flush) X(can_meta_context) X(can_multi_conn) X(get_uri) \
	X(shutdown) X(pread) X(flush) X(block_status) X(aio_pread) \
	X(aio_pwrite) X(aio_zero) X(aio_flush) X(aio_get_fd) \
	X(aio_get_direction) X(aio_notify_read) X(aio_notify_write) \
	X(aio_is_dead) X(aio_is_closed) X(kill_subprocess) \
	X(set_uri_allow_local_file)

struct libnbd_api {
#define LIBNBD_MEMBER(name) __typeof__(nbd_##name) *name;
	LIBNBD_CALLS(LIBNBD_MEMBER)
#undef LIBNBD_MEMBER
};

/* Set once libnbd_load() succeeded. */
extern const struct libnbd_api *libnbd;

/*
 * Open libnbd (libnbd.so.0) and find its calls; idempotent. 0, or -ENOENT
 * with the reason in @err ("NBD regions need libnbd: ...").
 */
int libnbd_load(char *err, size_t errlen);

#endif
