// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - kcopy: copy one region to up to eight, or zero regions, with
 * the dm-kcopyd engine. The command line becomes a plan of jobs (cli.c);
 * the session runs it and says how it went (session.c).
 */
#include <signal.h>

#include "cli.h"
#include "session.h"

static volatile sig_atomic_t got_stop_signal;
static volatile sig_atomic_t got_status_signal;

static void on_stop_signal(int sig)
{
	(void)sig;
	got_stop_signal++;
}

static void on_status_signal(int sig)
{
	(void)sig;
	got_status_signal = 1;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_flags = 0 };
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_status_signal;
	sigaction(SIGUSR1, &sa, NULL);
	/* A parent may have blocked them; one already pending is served now. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int main(int argc, char **argv)
{
	const struct session_signals sig = { &got_stop_signal, &got_status_signal };
	struct cli *cli;
	int code;

	/* First thing: a stop asked for at any moment is never lost. */
	install_signals();
	cli = cli_parse(argc, argv);	/* exits 2 on a usage error */
	code = session_run(cli_config(cli), cli_plan(cli), &sig);
	cli_free(cli);
	return code;
}
