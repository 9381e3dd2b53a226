/* SPDX-License-Identifier: MIT */
#pragma once

/* Options shared by the verbs that take a snapshot (list, summary, ...). */

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "cli_netns.h"
#include "tcpstate/filter.h"
#include "tcpstate/snapshot.h"

struct cli_snapshot_args {
	struct ts_filter filter;
	struct ts_snapshot_opts opts;
	bool json;
	bool info;
	bool verbose;         /* -v: say on stderr which owner source ran and why */
	bool owners_explicit; /* --owners was given */
};

/* getopt_long entries for the shared options (the one table of them). */
#define CLI_SNAPSHOT_LONG_OPTIONS                                         \
	{ "state", required_argument, NULL, 's' },                        \
	{ "port", required_argument, NULL, 'p' },                         \
	{ "sport", required_argument, NULL, CLI_OPT_SPORT },              \
	{ "dport", required_argument, NULL, CLI_OPT_DPORT },              \
	{ "addr", required_argument, NULL, 'a' },                         \
	{ "pid", required_argument, NULL, 'P' },                          \
	{ "comm", required_argument, NULL, 'c' },                         \
	{ "netns", required_argument, NULL, 'N' },                        \
	{ "all-netns", no_argument, NULL, 'A' },                          \
	{ "json", no_argument, NULL, 'j' },                               \
	{ "no-owners", no_argument, NULL, 'n' },                          \
	{ "backend", required_argument, NULL, CLI_OPT_BACKEND },          \
	{ "owners", required_argument, NULL, CLI_OPT_OWNERS },            \
	{ "verbose", no_argument, NULL, 'v' }

#define CLI_SNAPSHOT_SHORT_OPTIONS "s:p:a:P:c:N:Ajnv"

#define CLI_SNAPSHOT_HELP                                                                   \
	"Selection (values of one option are ORed, options are ANDed):\n"                  \
	"  -s, --state S[,S...]   states: BOUND CLOSED CLOSING CLOSE_WAIT ESTABLISHED\n"      \
	"                         FIN_WAIT_1 FIN_WAIT_2 IDLE LAST_ACK LISTEN SYN_RECEIVED\n"  \
	"                         SYN_SENT TIME_WAIT (any case, '-' or '_'), ss names\n"      \
	"                         (close-wait, syn-recv, estab, ...) or groups: all,\n"       \
	"                         connected, synchronized, closing (every closing state;\n"   \
	"                         write CLOSING in capitals for that state alone),\n"         \
	"                         bucket, big, unconnected\n"                                 \
	"  -p, --port P[,P...]    local or remote port (a number, or a service name of\n"    \
	"                         /etc/services such as http)\n"                            \
	"      --sport P[,P...]   local port\n"                                               \
	"      --dport P[,P...]   remote port\n"                                              \
	"  -a, --addr A[/LEN]     local or remote address (IPv4 or IPv6, with prefix)\n"      \
	"  -P, --pid PID[,PID...] sockets held by these processes\n"                          \
	"  -c, --comm NAME[,...]  sockets held by processes with this command name\n"         \
	"  After the options, ss's words: state NAME, exclude NAME, dport = :N,\n"          \
	"  sport = :N, '(' ')' and 'and' (as -s, every other state, --dport, --sport)\n"    \
	"Where:\n"                                                                          \
	"  -N, --netns NS         another network namespace: a path (with a '/'), else a\n"  \
	"                         name in /run/netns, else a pid (a name wins over the\n"    \
	"                         same pid; default: your own)\n"                            \
	"  -A, --all-netns        every network namespace on the host (those it may not\n"    \
	"                         enter are named on stderr)\n"                              \
	"How:\n"                                                                            \
	"  -j, --json             machine-readable output\n"                                  \
	"  -n, --no-owners        skip the /proc scan for owners (faster; IDLE and\n"         \
	"                         CLOSED sockets, found only through fds, are not shown)\n"   \
	"      --backend B        netlink (sock_diag), procfs (/proc/net/tcp), bpf (a BPF\n"  \
	"                         iterator over the socket table), or auto (default:\n"      \
	"                         netlink, procfs when sock_diag is missing; top and\n"      \
	"                         the exporter: bpf when it loads and owners are read)\n"    \
	"      --owners SRC       where owners come from: bpf (a BPF iterator over every\n"  \
	"                         task's fds), proc (/proc/PID/fd), or auto (default:\n"     \
	"                         bpf, and /proc with a one-line note when it cannot run)\n" \
	"  -v, --verbose          say on stderr which socket and owner sources ran, and why\n"

/* The same, as an array ended by { 0 }: main.c reads it to tell which
 * options before a verb take an argument. */
extern const struct option cli_snapshot_long_options[];

/* ---- cli_snapshot_args.c ---- */

void cli_snapshot_args_init(struct cli_snapshot_args *a);

/*
 * Handles one shared option. Returns 1 when handled, 0 when opt is not a
 * shared option, -1 on a usage error (already reported).
 */
int cli_snapshot_option(struct cli_snapshot_args *a, int opt, const char *arg);

/* ---- cli_snapshot.c ---- */

/*
 * The one option loop of the verbs that select sockets (cli_verb_parse()
 * over the shared options and v's): each option to v->option() first, those
 * it leaves to the shared options into a, then ss's words after the options
 * (cli_ss_filter()). A letter of v->shortopts replaces the shared option of
 * that letter (its long name stays). The verb then checks its own combinations and calls
 * cli_snapshot_args_check(). CLI_PARSE_RUN, or EXIT_OK after --help, or
 * EXIT_USAGE after a usage error (reported).
 */
int cli_snapshot_parse(struct cli_snapshot_args *a, const struct cli_verb_options *v, int argc,
		       char **argv);

/* Checks combinations (and --netns) after parsing; -1 on a usage error (reported). */
int cli_snapshot_args_check(struct cli_snapshot_args *a);

/* Collects, reports a failure on stderr, and the notes of the snapshot once. */
int cli_snapshot_take(struct cli_snapshot_args *a, struct ts_snapshot **ret);

/* The two halves of cli_snapshot_take()'s reports, for verbs that collect
 * otherwise (top's ts_collector): why collecting failed (r, *st), and the
 * snapshot's notes. */
struct ts_snapshot_status;
void cli_snapshot_report_failure(const struct cli_snapshot_args *a, int r,
				 const struct ts_snapshot_status *st);
void cli_snapshot_report_notes(const struct cli_snapshot_args *a, const struct ts_snapshot *snap);

/* The snapshot lacks owners or fd-only sockets because tcpstate ran out of
 * file descriptors (already said on stderr): the verb exits 1 after its
 * output instead of 0. */
bool cli_snapshot_incomplete(const struct ts_snapshot *snap);

/* Where the snapshot's sockets came from: "bpf" (iter/tcp), "netlink" (sock_diag)
 * or "procfs" (/proc/net/tcp). */
const char *cli_socket_source_name(const struct ts_snapshot_stats *st);

/*
 * ss's filter words left after the options: "state NAME", "exclude NAME",
 * "dport = :N", "sport = :N" ("=" or "==" optional, ':' optional), "(",
 * ")", "and". Anything else is a usage error naming the tcpstate option.
 * -1 on a usage error (reported).
 */
int cli_ss_filter(struct cli_snapshot_args *a, int argc, char **argv, const char *verb);
