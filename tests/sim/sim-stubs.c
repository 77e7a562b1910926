// SPDX-License-Identifier: GPL-2.0
/*
 * sim-stubs.c - weak stand-ins for the built-in backends that src/io.c's
 * table names, for the sim's binaries: they only ever use sim_backend, and
 * a weak definition keeps the linker from pulling the real backends (and
 * their libraries) out of the archive. If the archive's are linked anyway,
 * theirs win.
 */
#include "io.h"

__attribute__((weak)) const struct io_backend io_aio_backend = { .name = "aio" };
__attribute__((weak)) const struct io_backend io_uring_backend = { .name = "uring" };
