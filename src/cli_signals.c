/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>

#include "cli.h"

int cli_teardown_signals_open(sigset_t *old)
{
	sigset_t mask;
	int sfd;

	/* Blocked before any child exists, so no signal slips past the teardown. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, old) < 0) {
		cli_error("sigprocmask: %s", strerror(errno));
		return -1;
	}
	/* A closed stdout must not kill us before the teardown. */
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		cli_error("signalfd: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, old, NULL);
		return -1;
	}
	return sfd;
}
