// SPDX-License-Identifier: GPL-2.0
/*
 * libnbd-api.c - see libnbd-api.h.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "libnbd-api.h"

const struct libnbd_api *libnbd;

static struct libnbd_api calls;

int libnbd_load(char *err, size_t errlen)
{
	void *lib;

	if (libnbd)
		return 0;
	lib = dlopen("libnbd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen, "NBD regions need libnbd (libnbd0): %s",
			 dlerror());
		return -ENOENT;
	}
#define LIBNBD_FIND(name)						\
	calls.name = (__typeof__(calls.name))dlsym(lib, "nbd_" #name);	\
	if (!calls.name) {						\
		snprintf(err, errlen, "libnbd has no nbd_%s: too old "	\
			 "(kcopy needs 1.14 or later)", #name);		\
		dlclose(lib);						\
		return -ENOENT;						\
	}
	LIBNBD_CALLS(LIBNBD_FIND)
#undef LIBNBD_FIND
	/* Never closed: libnbd's handles live until the process ends. */
	libnbd = &calls;
	return 0;
}
