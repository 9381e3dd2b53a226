/* SPDX-License-Identifier: MIT */
#pragma once

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
int cmd_trace(int argc, char **argv);
int cmd_exporter(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_top(int argc, char **argv);

/*
 * For verbs that own child processes (lab, demo): blocks SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT and SIGCHLD, ignores SIGPIPE, and returns a signalfd for
 * them, or -1 (already reported). *old gets the mask to restore.
 */
int cli_teardown_signals_open(sigset_t *old);

/* Older kernel headers lack these two (Linux 5.8). */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Whether tcpstate has capability cap (CAP_*) in its effective set. */
bool cli_has_cap(unsigned cap);

/* What loading a BPF program takes: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN. */
bool cli_has_bpf_caps(void);

/*
 * The words after a permission error: "it needs NEEDS; run as root" (or
 * "which this process lacks" when it is root without them), or, when the
 * process has them (have), that something else refused: never "run as
 * root" to root. Writes into buf; returns buf.
 */
const char *cli_privilege_hint(const char *needs, bool have, char *buf, size_t size);

/*
 * Why a socket's option could not be read through a copy of its holder's
 * descriptor (err from lib: -ENOENT no holder, -EPERM/-EACCES, -ESTALE, ...),
 * as words for a sentence. Writes into buf; returns buf.
 */
const char *cli_fd_copy_error(int err, char *buf, size_t size);

/*
 * For work that must not be cut in the middle (close): blocks SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT, those not ignored; *set gets them, *old the
 * mask to restore.
 * cli_stop_signal_pending(set) says whether one arrived since;
 * cli_stop_signal_take(set) consumes them all and returns the first one's
 * number, or 0.
 */
void cli_stop_signals_block(sigset_t *set, sigset_t *old);

/*
 * For verbs that run until stopped (trace, top): SIGINT, SIGTERM and SIGHUP
 * set cli_stop_signal (their number) without SA_RESTART, so that a blocking
 * wait returns at once; SIGPIPE is ignored.
 */
extern volatile sig_atomic_t cli_stop_signal;
void cli_stop_on_signals(void);
bool cli_stop_signal_pending(void *set);
int cli_stop_signal_take(const sigset_t *set);

/* ---- cli_args.c ---- */

/*
 * getopt_long, and: long options that change the system (tune --write,
 * --apply, --save, --revert, --config-root; close --how, --yes; lab
 * --cleanup) only by their whole name; ss's flag clusters (-tanp) answered
 * with the tcpstate options. '?' after a usage error it reported.
 */
int cli_getopt_long(int argc, char **argv, const char *shortopts, const struct option *longopts,
		    const char *verb);

/* Ids of the long-only options: the shared ones, then each verb's own from
 * CLI_OPT_VERB up (a verb's ids never meet the shared ones). */
enum cli_option_id {
	CLI_OPT_SPORT = 0x100,
	CLI_OPT_DPORT,
	CLI_OPT_BACKEND,
	CLI_OPT_OWNERS,
	CLI_OPT_VERB = 0x200,
};

/* A verb's options (for the verbs that select sockets: next to the shared ones). */
struct cli_verb_options {
	const char *verb;
	const char *shortopts;         /* the verb's own (after the shared ones) */
	const struct option *longopts; /* the verb's own (with "help"), ended by { 0 } */
	void (*help)(FILE *f);         /* for -h and --help */
	/* Sees each option first: 1 when it took it, 0 when it is not its own
	 * (left to the shared options, else a usage error), -1 on a usage
	 * error (reported). NULL: none. */
	int (*option)(void *ctx, int opt, const char *arg);
	void *ctx;
};

/* cli_verb_parse(), cli_snapshot_parse(): the verb runs; any other value is its exit status. */
#define CLI_PARSE_RUN (-1)

/*
 * The option loop of a verb: each option to v->option(); -h/--help prints
 * v->help; anything else is a usage error ("Try 'tcpstate VERB --help'.").
 * CLI_PARSE_RUN with optind at the first word after the options, or the
 * exit status (EXIT_OK after --help, EXIT_USAGE).
 */
int cli_verb_parse(const struct cli_verb_options *v, int argc, char **argv);

/* The word of words[0..n) nearest to word (a typo's distance), or NULL. */
const char *cli_closest_word(const char *word, const char *const *words, size_t n);

/* ---- cli_message.c ---- */

/*
 * s as one word of a shell command line, for the commands tcpstate suggests:
 * as it is when made of letters, digits and -_./:+ (and not starting with
 * '-'), else in single quotes. Writes into buf; returns it (a result that
 * does not fit is cut short: give PATH_MAX + 8 for paths).
 */
const char *cli_shell_word(const char *s, char *buf, size_t size);

/* "tcpstate: " + message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tcpstate: PREFIXmessage" on stderr: information ("note: "), not a problem. */
void cli_info(const char *prefix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Under --json (-j anywhere on the line) errors are kept from start() and
 * printed at finish() as one JSON object with the exit status. */
void cli_json_errors_start(int argc, char **argv);
void cli_json_errors_finish(int rc);

/* ---- cli_json.c ---- */

struct json_object;
/* The first keys of summary's and doctor's JSON documents: "schema_version"
 * (CLI_JSON_SCHEMA_VERSION, raised when a key changes meaning or goes) and
 * "generated_at" (UTC, RFC 3339, when the document was written). */
#define CLI_JSON_SCHEMA_VERSION 1
void cli_json_header(struct json_object *root);
struct ts_snapshot;
/* The names of snap's namespaces, in its order (the "netns" key of doctor and top). */
struct json_object *cli_json_netns_names(const struct ts_snapshot *snap);
