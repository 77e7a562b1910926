/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cli.h - kcopy's command line (SPEC §2) and job files (SPEC §4) turned
 * into a plan of jobs and a session_config.
 *
 * A usage error is one line "kcopy: WHAT: WHY" on stderr and exit status 2,
 * before anything is opened for writing: the CLI is the only part of kcopy
 * that exits on its own.
 */
#ifndef KCOPY_CLI_H
#define KCOPY_CLI_H

#include "plan.h"
#include "session.h"

/* The parsed command line: owns the plan and the words it points into. */
struct cli;

/* Parse @argv; exits 2 on a usage error (and on --help, --version, 0). */
struct cli *cli_parse(int argc, char **argv);
const struct session_config *cli_config(const struct cli *cli);
struct plan *cli_plan(struct cli *cli);
void cli_free(struct cli *cli);

#endif
