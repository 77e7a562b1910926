/* SPDX-License-Identifier: GPL-2.0 */
/*
 * session.h - one run of a plan: open and prepare it, queue its groups on
 * the engine one after the other, tick (progress, the status signal, map
 * checkpoints), flush each stage as it ends, verify, report, and turn it
 * all into kcopy's exit status (SPEC §5).
 *
 * The session knows nothing of argv or job files: the CLI (cli.h) hands it
 * a plan and a struct session_config.
 */
#ifndef KCOPY_SESSION_H
#define KCOPY_SESSION_H

#include <signal.h>
#include <stdbool.h>

#include "io.h"
#include "digest.h"
#include "kcopyd.h"
#include "plan.h"
#include "report.h"

#define EXIT_IO_ERROR 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

/* What the run is asked to do, besides the jobs themselves. */
struct session_config {
	struct kc_client_config engine;
	enum progress_mode progress;	/* settled: PROGRESS_NONE for -q */
	bool quiet;
	bool json;
	bool flush;			/* fdatasync each stage's destinations */
	bool verify;
	const char *job_file;		/* NULL, "-" or a path none may write */
	const char *map_file;		/* NULL: no map */
	const struct io_backend *io;	/* --io, or the default */
	bool io_given;			/* --io said so: no fallback */
	const char *bmap_file;		/* --bmap: NULL for none */
	unsigned nr_hashes;		/* --hash: digests of each source */
	enum digest_alg hashes[DIGEST_NR];
};

/*
 * The process's signal flags, set by its handlers (main owns them):
 * @stop (SIGINT, SIGTERM) ends the run as soon as it can, @status
 * (SIGUSR1) asks for one status line and is cleared by the session.
 */
struct session_signals {
	volatile sig_atomic_t *stop;
	volatile sig_atomic_t *status;
};

/*
 * Run @plan (not yet opened) to its end and report. Returns the exit
 * status: 0, EXIT_IO_ERROR, EXIT_USAGE (refused before anything was
 * written) or EXIT_INTERRUPTED. Every message is printed here.
 */
int session_run(const struct session_config *cfg, struct plan *plan,
		const struct session_signals *sig);

#endif
