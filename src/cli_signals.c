/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>

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

void cli_stop_signals_block(sigset_t *set, sigset_t *old)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

	sigemptyset(set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;

		/* one we ignore (nohup's SIGHUP) stays ignored: blocked, it would queue */
		if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
			sigaddset(set, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, set, old);
}

bool cli_stop_signal_pending(void *set)
{
	sigset_t pend;

	if (sigpending(&pend) < 0)
		return false;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(set, sig) == 1 && sigismember(&pend, sig) == 1)
			return true;
	return false;
}

int cli_stop_signal_take(const sigset_t *set)
{
	const struct timespec now = { 0, 0 };
	int first = 0, sig;

	/* All of them: one left pending would strike when the mask is restored. */
	for (;;) {
		sig = sigtimedwait(set, NULL, &now);
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig <= 0)
			return first;
		if (!first)
			first = sig;
	}
}

volatile sig_atomic_t cli_stop_signal;

static void on_stop(int sig)
{
	cli_stop_signal = sig;
}

void cli_stop_on_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop };
	int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
