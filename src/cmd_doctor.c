/* SPDX-License-Identifier: MIT */
/* tcpstate doctor: the state summary, then findings, worst first. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_diagnose.h"
#include "cli_snapshot.h"
#include "doctor_output.h"
#include "tcpstate/activity.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/sysctl.h"
#include "tcpstate/util.h"

#define EXIT_FINDINGS 3
#define MAX_INTERVAL 3600

/* Threshold options: name, field, default text is read from the defaults. */
static const struct threshold_opt {
	const char *name;
	size_t offset;
	uint32_t min, max;
	const char *help;
} threshold_opts[] = {
	{ "min-age", offsetof(struct ts_diagnose_thresholds, min_age_s), 0, MAX_INTERVAL,
	  "seconds a CLOSE_WAIT socket must have been in that state (its peer\n"
	  "          silent that long, from tcp_info) to count as evidence; younger ones\n"
	  "          are a program closing them now, named, never a finding (0: all)" },
	{ "close-wait-min", offsetof(struct ts_diagnose_thresholds, close_wait_min), 1, UINT32_MAX,
	  "CLOSE_WAIT sockets (at least --min-age old) per set of holding\n"
	  "          processes for a warning" },
	{ "close-wait-critical", offsetof(struct ts_diagnose_thresholds, close_wait_critical), 1, UINT32_MAX,
	  "sockets one process holds in CLOSE_WAIT (--min-age old) and CLOSED\n"
	  "          together for critical (see Severity)" },
	{ "fd-critical-pct", offsetof(struct ts_diagnose_thresholds, fd_critical_pct), 1, 100,
	  "open fds at this % of RLIMIT_NOFILE make it critical" },
	{ "leak-critical", offsetof(struct ts_diagnose_thresholds, leak_critical_s), 1, UINT32_MAX,
	  "a leak that exhausts the fd limit within this many seconds is critical" },
	{ "dead-min", offsetof(struct ts_diagnose_thresholds, dead_min), 1, UINT32_MAX,
	  "CLOSED fds held per process for a warning (IDLE ones: info)" },
	{ "fin-wait-2-min", offsetof(struct ts_diagnose_thresholds, fin_wait_2_min), 1, UINT32_MAX,
	  "held FIN_WAIT_2 sockets to one peer ip:port for a warning" },
	{ "orphan-fin-wait-2-min", offsetof(struct ts_diagnose_thresholds, orphan_fin_wait_2_min), 1, UINT32_MAX,
	  "orphaned FIN_WAIT_2 sockets for a warning (fewer: info); those whose\n"
	  "          peer is a local CLOSE_WAIT are that leak's other half, not counted" },
	{ "unacked-min", offsetof(struct ts_diagnose_thresholds, unacked_min), 1, UINT32_MAX,
	  "LAST_ACK/FIN_WAIT_1/CLOSING to one address retransmitting their FIN\n"
	  "          (or probing a zero window) for a warning (fewer: info)" },
	{ "time-wait-pct", offsetof(struct ts_diagnose_thresholds, time_wait_pct), 1, 100,
	  "TIME_WAIT at this % of tcp_max_tw_buckets: warning (100%: critical)" },
	{ "port-pct", offsetof(struct ts_diagnose_thresholds, port_pct), 1, 100,
	  "outgoing TIME_WAIT to one ip:port at this % of the local port range: warning (90%: critical)" },
	{ "accept-pct", offsetof(struct ts_diagnose_thresholds, accept_pct), 1, 100,
	  "accept queue at this % of the backlog: warning (full, above the backlog: critical)" },
	{ "syn-backlog-pct", offsetof(struct ts_diagnose_thresholds, syn_backlog_pct), 1, 100,
	  "without syncookies, SYN_RECEIVED at this % of tcp_max_syn_backlog: full (as is\n"
	  "          more than the backlog); full is a warning, critical without syncookies" },
	{ "syn-sent-min", offsetof(struct ts_diagnose_thresholds, syn_sent_min), 1, UINT32_MAX,
	  "retransmitting SYN_SENT sockets to one ip:port for a warning" },
	{ "close-min-idle", offsetof(struct ts_diagnose_thresholds, close_min_idle_s), 1, TS_MIN_IDLE_MAX_S,
	  "CLOSE_WAIT idle this long (seconds, nothing queued) gets close commands (their --min-idle)" },
};
#define N_THRESHOLDS (sizeof(threshold_opts) / sizeof(threshold_opts[0]))
/* The verb's own options; the shared ones are in cli_snapshot.h. */
enum {
	OPT_INTERVAL = CLI_OPT_VERB,
	OPT_MIN_SEVERITY,
	OPT_FAIL_ON,
	OPT_THRESHOLD, /* + index in threshold_opts */
};

static void doctor_help(FILE *f)
{
	struct ts_diagnose_thresholds def;

	ts_diagnose_thresholds_default(&def);
	fprintf(f,
		"Usage: tcpstate [doctor] [OPTIONS]\n"
		"\n"
		"Prints the state summary (13 rows), then what is wrong, worst first: each finding\n"
		"with its severity, the evidence (numbers), the culprit (process, command line,\n"
		"systemd unit or container, fds, open files against RLIMIT_NOFILE, ports, peers),\n"
		"an explanation, what to do, and the kernel settings that govern it.\n"
		"\n"
		"Rules: CLOSE_WAIT held by a program; CLOSE_WAIT/fd growth and time to fd\n"
		"exhaustion (--interval); CLOSED/IDLE fds held open; FIN_WAIT_2 (the peer's\n"
		"program, or orphans bounded by tcp_fin_timeout); LAST_ACK/FIN_WAIT_1/CLOSING\n"
		"retransmitting to a remote address; TIME_WAIT against tcp_max_tw_buckets and\n"
		"the local port range; accept queues above their backlog (Linux queues\n"
		"backlog + 1); SYN_RECEIVED backlog, or clients a TCP_DEFER_ACCEPT listener\n"
		"holds until they send data (info: nothing was lost); SYN_SENT\n"
		"retransmitting. Findings cite the kernel's counters (nstat names, e.g.\n"
		"TcpExtListenOverflows, TcpExtTCPDeferAcceptDrop).\n"
		"\n"
		"What makes a finding: evidence that survives churn.\n"
		"  A CLOSE_WAIT socket counts once its peer has been silent for --min-age\n"
		"  seconds (tcp_info; a healthy server closes within milliseconds of reading\n"
		"  end-of-file): younger ones are named beside the evidence, never a finding\n"
		"  alone. Without tcp_info (--backend procfs) the age is unknown: with\n"
		"  --interval only sockets in CLOSE_WAIT at both looks count, else all do and\n"
		"  the finding says their age is unknown. FIN_WAIT_2 (held or orphaned)\n"
		"  and CLOSED fds count after --min-age too.\n"
		"  A leak (--interval): more such sockets at the second look, and every one\n"
		"  counted at the first still held by the process (the same socket: inode and\n"
		"  cookie). A program that closes its old ones is not leaking.\n"
		"  One finding per set of holding processes: sockets inherited by forked\n"
		"  children are one finding naming every holder, the parent (oldest) first.\n"
		"  Where: a server's accepted sockets by local port, a client's by the remote\n"
		"  address:port it talks to. Orphaned FIN_WAIT_2 whose peer is a local\n"
		"  CLOSE_WAIT (IPv4-mapped IPv6 matched as IPv4) are named as its other half.\n"
		"  Lists are bounded (256 groups, 64 processes): totals stay complete and a\n"
		"  capped list says how many sockets it left out.\n"
		"Severity:\n"
		"  critical: a holding process holds --close-wait-critical sockets in\n"
		"  CLOSE_WAIT (--min-age old) and CLOSED together (fds held, whatever their\n"
		"  state: after 'close --how fin' they are CLOSED and still held), or its\n"
		"  open files reach --fd-critical-pct of RLIMIT_NOFILE, or (--interval) its\n"
		"  leak reaches RLIMIT_NOFILE within --leak-critical seconds; an accept queue\n"
		"  above its backlog (Linux drops handshakes only then: at the backlog one\n"
		"  more fits); TIME_WAIT at tcp_max_tw_buckets or 90%% of the port range;\n"
		"  SYN_RECEIVED at its limit with syncookies off. The thresholds below make\n"
		"  warnings; under them info or nothing. Each finding says what decided it.\n"
		"\n"
		"%s"
		"Doctor:\n"
		"      --interval SECONDS look twice, SECONDS apart (1-%d): leak rate and the\n"
		"                         time until the process runs out of file descriptors\n"
		"      --min-severity S   show findings at or above S: info, warning, critical\n"
		"                         (default: info)\n"
		"      --fail-on S        exit 3 when a finding is at or above S (default: warning)\n"
		"Thresholds (default in brackets):\n",
		CLI_SNAPSHOT_HELP, MAX_INTERVAL);
	for (size_t i = 0; i < N_THRESHOLDS; i++)
		fprintf(f, "      --%s N [%u]\n          %s\n", threshold_opts[i].name,
			*(const uint32_t *)((const char *)&def + threshold_opts[i].offset),
			threshold_opts[i].help);
	fprintf(f,
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 no finding at or above --fail-on, 3 findings at or above it,\n"
		"1 error, 2 usage error. 'tcpstate' without a verb runs this report.\n");
}

/* ---- collection ---- */

static int parse_severity(const char *arg, const char *opt, enum ts_severity *ret)
{
	if (ts_severity_parse(arg, ret) < 0) {
		cli_error("bad %s '%s' (info, warning or critical)", opt, arg);
		return -1;
	}
	return 0;
}

/* ---- parse ---- */

struct doctor_args {
	struct cli_snapshot_args a;
	struct ts_diagnose_thresholds th;
	enum ts_severity min, fail_on;
	unsigned interval;
};

static int doctor_option(void *ctx, int opt, const char *arg)
{
	struct doctor_args *da = ctx;
	const struct threshold_opt *t;
	uint32_t v;

	switch (opt) {
	case OPT_INTERVAL:
		if (ts_parse_u32(arg, 1, MAX_INTERVAL, &v) < 0) {
			cli_error("bad --interval '%s' (whole seconds, 1 to %d)", arg, MAX_INTERVAL);
			return -1;
		}
		da->interval = v;
		return 1;
	case OPT_MIN_SEVERITY:
		return parse_severity(arg, "--min-severity", &da->min) < 0 ? -1 : 1;
	case OPT_FAIL_ON:
		return parse_severity(arg, "--fail-on", &da->fail_on) < 0 ? -1 : 1;
	}
	if (opt < OPT_THRESHOLD || opt >= OPT_THRESHOLD + (int)N_THRESHOLDS)
		return 0;
	t = &threshold_opts[opt - OPT_THRESHOLD];
	if (ts_parse_u32(arg, t->min, t->max, &v) < 0) {
		cli_error("bad --%s '%s' (a number from %u to %u)", t->name, arg, t->min, t->max);
		return -1;
	}
	*(uint32_t *)((char *)&da->th + t->offset) = v;
	return 1;
}

/* CLI_PARSE_RUN, or the exit status after --help or a usage error. */
static int doctor_parse(struct doctor_args *da, int argc, char **argv)
{
	struct option long_opts[5 + N_THRESHOLDS] = {
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "min-severity", required_argument, NULL, OPT_MIN_SEVERITY },
		{ "fail-on", required_argument, NULL, OPT_FAIL_ON },
		{ "help", no_argument, NULL, 'h' },
	};
	const struct cli_verb_options v = { "doctor", "h", long_opts, doctor_help, doctor_option, da };
	size_t nl = 4;
	int r;

	for (size_t i = 0; i < N_THRESHOLDS; i++)
		long_opts[nl++] = (struct option){ threshold_opts[i].name, required_argument, NULL,
						   OPT_THRESHOLD + (int)i };
	*da = (struct doctor_args){ .min = TS_SEVERITY_INFO, .fail_on = TS_SEVERITY_WARNING };
	ts_diagnose_thresholds_default(&da->th);
	cli_snapshot_args_init(&da->a);
	r = cli_snapshot_parse(&da->a, &v, argc, argv);
	if (r != CLI_PARSE_RUN)
		return r;
	if (cli_snapshot_args_check(&da->a) < 0)
		return EXIT_USAGE;
	da->a.opts.want_info = true; /* ages come from tcp_info */
	if (da->a.opts.owners == TS_OWNERS_AUTO)
		da->a.opts.owners = TS_OWNERS_PROC;
	return CLI_PARSE_RUN;
}

/* ---- run ---- */

/* What doctor_run() collects and makes of it; doctor_result_clear() frees it. */
struct doctor_result {
	struct ts_snapshot *snap, *later;
	struct ts_diagnose_procs procs, procs_later;
	struct ts_diagnose_sysctls *sysctls;
	struct ts_netstat *netstat;
	size_t n_sysctls;
	struct ts_listener_facts listeners;
	struct ts_diagnosis *d;
};

static void doctor_result_clear(struct doctor_result *run)
{
	ts_diagnosis_free(run->d);
	free(run->sysctls);
	free(run->netstat);
	ts_listener_facts_clear(&run->listeners);
	ts_diagnose_procs_clear(&run->procs);
	ts_diagnose_procs_clear(&run->procs_later);
	ts_snapshot_free(run->later);
	ts_snapshot_free(run->snap);
}

/* With --interval: the second look, interval seconds later. */
static int doctor_look_again(struct doctor_args *da, struct doctor_result *run)
{
	struct timespec ts = { .tv_sec = da->interval };
	int r;

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	if (cli_snapshot_take(&da->a, &run->later) < 0)
		return -1;
	r = ts_diagnose_procs_collect(run->later, da->a.opts.proc_root, &run->procs_later);
	if (r < 0) {
		cli_error("cannot read process facts: %s", strerror(-r));
		return -1;
	}
	return 0;
}

/* Snapshots, facts and the diagnosis: 0, or -1 (reported). */
static int doctor_run(struct doctor_args *da, struct doctor_result *run)
{
	struct cli_snapshot_args *a = &da->a;
	int r;

	if (cli_snapshot_take(a, &run->snap) < 0)
		return -1;
	r = ts_diagnose_procs_collect(run->snap, a->opts.proc_root, &run->procs);
	if (r == 0)
		r = cli_diagnose_netns_facts(a, run->snap, &run->sysctls, &run->netstat, &run->n_sysctls);
	if (r == 0)
		r = ts_listener_facts_collect(run->snap, &run->listeners);
	if (r < 0) {
		cli_error("cannot read process facts, settings or listeners: %s", strerror(-r));
		return -1;
	}
	if (da->interval && doctor_look_again(da, run) < 0)
		return -1;
	r = ts_diagnose(&(struct ts_diagnose_input){
				.snap = run->snap, .procs = &run->procs, .sysctls = run->sysctls,
				.n_sysctls = run->n_sysctls, .netstat = run->netstat,
				.n_netstat = run->n_sysctls, .listeners = &run->listeners,
				.later = run->later, .procs_later = run->later ? &run->procs_later : NULL,
				.interval_s = da->interval, .thresholds = &da->th },
			&run->d);
	if (r < 0) {
		cli_error("cannot diagnose: %s", strerror(-r));
		return -1;
	}
	return 0;
}

/* ---- render ---- */

/* The report on stdout; returns the exit status. */
static int doctor_render(const struct doctor_args *da, const struct doctor_result *run)
{
	struct doctor_view view = { .min = da->min, .interval = da->interval };
	int rc;

	view.pidns_known = ts_pidns_is_initial(da->a.opts.proc_root, &view.pidns_initial,
					       &view.pidns_inode) == 0;
	if (da->a.json)
		doctor_print_json(run->d, run->snap, &da->a, &view);
	else
		doctor_print_text(run->d, run->snap, &da->a, &view);
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		return EXIT_ERROR;
	}
	rc = EXIT_OK;
	if (cli_snapshot_incomplete(run->snap) || (run->later && cli_snapshot_incomplete(run->later)))
		rc = EXIT_ERROR; /* said on stderr; findings still win below */
	if (ts_diagnosis_count_at_least(run->d, da->fail_on) > 0)
		rc = EXIT_FINDINGS;
	return rc;
}

int cmd_doctor(int argc, char **argv)
{
	struct doctor_args da;
	struct doctor_result run = { 0 };
	int rc = doctor_parse(&da, argc, argv);

	if (rc != CLI_PARSE_RUN)
		return rc;
	rc = doctor_run(&da, &run) < 0 ? EXIT_ERROR : doctor_render(&da, &run);
	doctor_result_clear(&run);
	return rc;
}
