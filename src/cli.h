/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <stdbool.h>

/* Exit codes: every verb uses these. */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
};

/* Verbs: each gets argv with argv[0] = the verb name. Return an exit code. */
int cmd_list(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_close(int argc, char **argv);

/*
 * For verbs that own child processes (lab, demo): blocks SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT and SIGCHLD, ignores SIGPIPE, and returns a signalfd for
 * them, or -1 (already reported). *old gets the mask to restore.
 */
int cli_teardown_signals_open(sigset_t *old);

/*
 * For work that must not be cut in the middle (close): blocks SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT, those not ignored; *set gets them, *old the
 * mask to restore.
 * cli_stop_signal_pending(set) says whether one arrived since;
 * cli_stop_signal_take(set) consumes them all and returns the first one's
 * number, or 0.
 */
void cli_stop_signals_block(sigset_t *set, sigset_t *old);
bool cli_stop_signal_pending(void *set);
int cli_stop_signal_take(const sigset_t *set);

/* "tcpstate: " + message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
