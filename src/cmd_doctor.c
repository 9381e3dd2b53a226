/* SPDX-License-Identifier: MIT */
/* tcpstate doctor: the state summary, then findings, worst first. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_filter.h"
#include "doctor_output.h"
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
	{ "close-wait-min", offsetof(struct ts_diag_thresholds, close_wait_min), 1, UINT32_MAX,
	  "CLOSE_WAIT sockets per process for a warning" },
	{ "close-wait-critical", offsetof(struct ts_diag_thresholds, close_wait_critical), 1, UINT32_MAX,
	  "... for critical (also critical: open fds >= --fd-critical-pct)" },
	{ "fd-critical-pct", offsetof(struct ts_diag_thresholds, fd_critical_pct), 1, 100,
	  "open fds at this % of RLIMIT_NOFILE make it critical" },
	{ "leak-critical", offsetof(struct ts_diag_thresholds, leak_critical_s), 1, UINT32_MAX,
	  "a leak that exhausts the fd limit within this many seconds is critical" },
	{ "dead-min", offsetof(struct ts_diag_thresholds, dead_min), 1, UINT32_MAX,
	  "CLOSED fds held per process for a warning (IDLE ones: info)" },
	{ "fin-wait-2-min", offsetof(struct ts_diag_thresholds, fin_wait_2_min), 1, UINT32_MAX,
	  "held FIN_WAIT_2 sockets to one peer ip:port for a warning" },
	{ "orphan-fin-wait-2-min", offsetof(struct ts_diag_thresholds, orphan_fin_wait_2_min), 1, UINT32_MAX,
	  "orphaned FIN_WAIT_2 sockets for a warning (fewer: info)" },
	{ "unacked-min", offsetof(struct ts_diag_thresholds, unacked_min), 1, UINT32_MAX,
	  "LAST_ACK/FIN_WAIT_1/CLOSING to one address for a warning (fewer, retransmitting: info)" },
	{ "time-wait-pct", offsetof(struct ts_diag_thresholds, time_wait_pct), 1, 100,
	  "TIME_WAIT at this % of tcp_max_tw_buckets: warning (100%: critical)" },
	{ "port-pct", offsetof(struct ts_diag_thresholds, port_pct), 1, 100,
	  "outgoing TIME_WAIT to one ip:port at this % of the local port range: warning (90%: critical)" },
	{ "accept-pct", offsetof(struct ts_diag_thresholds, accept_pct), 1, 100,
	  "accept queue at this % of the backlog: warning (full: critical)" },
	{ "syn-backlog-pct", offsetof(struct ts_diag_thresholds, syn_backlog_pct), 1, 100,
	  "SYN_RECEIVED at this % of tcp_max_syn_backlog (or the backlog reached): warning" },
	{ "syn-sent-min", offsetof(struct ts_diag_thresholds, syn_sent_min), 1, UINT32_MAX,
	  "retransmitting SYN_SENT sockets to one ip:port for a warning" },
};
#define N_THRESHOLDS (sizeof(threshold_opts) / sizeof(threshold_opts[0]))
#define OPT_THRESHOLD 0x200 /* + index */
#define OPT_INTERVAL 0x180
#define OPT_MIN_SEVERITY 0x181
#define OPT_FAIL_ON 0x182

static void doctor_help(FILE *f)
{
	struct ts_diag_thresholds def;

	ts_diag_thresholds_default(&def);
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
		"program, or orphans bounded by tcp_fin_timeout); LAST_ACK/FIN_WAIT_1/CLOSING per\n"
		"remote address; TIME_WAIT against tcp_max_tw_buckets and the local port range;\n"
		"full accept queues; SYN_RECEIVED backlog; SYN_SENT retransmitting.\n"
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

/* Settings of each namespace of snap: the one named by --netns, or each by name. */
static int read_sysctls(const struct cli_snapshot_args *a, const struct ts_snapshot *snap,
			struct ts_diag_sysctls **ret, size_t *ret_n)
{
	size_t n = ts_snapshot_netns_count(snap);
	struct ts_diag_sysctls *v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ts_netns *ns = ts_snapshot_netns(snap, (uint32_t)i);
		const char *target = a->opts.netns;
		struct ts_sysctl *s = NULL;
		int r;

		char pidbuf[64];

		if (a->opts.all_netns) {
			/* Paths, not pids: a /run/netns name of digits would win over a pid. */
			if (strcmp(ns->name, "init") == 0) {
				target = "/proc/1/ns/net";
			} else if (strncmp(ns->name, "net:[", 5) == 0) {
				/* No name: reopen it through a process seen in it. */
				target = NULL;
				if (ns->pid > 0) {
					snprintf(pidbuf, sizeof(pidbuf), "/proc/%d/ns/net", (int)ns->pid);
					target = pidbuf;
				}
			} else {
				target = ns->name;
			}
			if (!target) {
				ts_diag_sysctls_unavailable(&v[i], -ENOENT);
				continue;
			}
		}
		r = ts_sysctl_open(target, NULL, &s);
		if (r < 0) {
			ts_diag_sysctls_unavailable(&v[i], r);
			continue;
		}
		ts_diag_sysctls_read(s, &v[i]);
		ts_sysctl_free(s);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int parse_severity(const char *arg, const char *opt, enum ts_severity *ret)
{
	if (ts_severity_parse(arg, ret) < 0) {
		cli_error("bad %s '%s' (info, warning or critical)", opt, arg);
		return -1;
	}
	return 0;
}

int cmd_doctor(int argc, char **argv)
{
	struct option long_opts[24 + N_THRESHOLDS] = {
		CLI_SNAPSHOT_LONG_OPTIONS,
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "min-severity", required_argument, NULL, OPT_MIN_SEVERITY },
		{ "fail-on", required_argument, NULL, OPT_FAIL_ON },
		{ "help", no_argument, NULL, 'h' },
	};
	enum ts_severity min = TS_SEVERITY_INFO, fail_on = TS_SEVERITY_WARNING;
	struct ts_diag_procs procs = { 0 }, procs_later = { 0 };
	struct ts_snapshot *snap = NULL, *later = NULL;
	struct ts_diag_sysctls *sysctls = NULL;
	struct ts_diagnosis *d = NULL;
	struct ts_diag_thresholds th;
	struct cli_snapshot_args a;
	size_t n_sysctls = 0, nl = 0;
	unsigned interval = 0;
	int opt, r, rc = EXIT_ERROR;

	while (long_opts[nl].name)
		nl++;
	for (size_t i = 0; i < N_THRESHOLDS; i++)
		long_opts[nl++] = (struct option){ threshold_opts[i].name, required_argument, NULL,
						   OPT_THRESHOLD + (int)i };
	ts_diag_thresholds_default(&th);
	cli_snapshot_args_init(&a);
	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_SNAPSHOT_SHORT_OPTIONS "h", long_opts, NULL)) != -1) {
		uint32_t v;

		r = cli_snapshot_option(&a, opt, optarg);
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		if (opt == 'h') {
			doctor_help(stdout);
			return EXIT_OK;
		} else if (opt == OPT_INTERVAL) {
			if (ts_parse_u32(optarg, 1, MAX_INTERVAL, &v) < 0) {
				cli_error("bad --interval '%s' (whole seconds, 1 to %d)", optarg, MAX_INTERVAL);
				return EXIT_USAGE;
			}
			interval = v;
		} else if (opt == OPT_MIN_SEVERITY) {
			if (parse_severity(optarg, "--min-severity", &min) < 0)
				return EXIT_USAGE;
		} else if (opt == OPT_FAIL_ON) {
			if (parse_severity(optarg, "--fail-on", &fail_on) < 0)
				return EXIT_USAGE;
		} else if (opt >= OPT_THRESHOLD && opt < OPT_THRESHOLD + (int)N_THRESHOLDS) {
			const struct threshold_opt *t = &threshold_opts[opt - OPT_THRESHOLD];

			if (ts_parse_u32(optarg, t->min, t->max, &v) < 0) {
				cli_error("bad --%s '%s' (a number from %u to %u)", t->name, optarg, t->min, t->max);
				return EXIT_USAGE;
			}
			*(uint32_t *)((char *)&th + t->offset) = v;
		} else {
			fprintf(stderr, "Try 'tcpstate doctor --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (cli_snapshot_args_finish(&a, argc, argv, "doctor") < 0)
		return EXIT_USAGE;
	a.opts.want_info = true; /* ages come from tcp_info */
	if (a.opts.owners == TS_OWNERS_AUTO)
		a.opts.owners = TS_OWNERS_PROC;

	if (cli_snapshot_take(&a, &snap) < 0)
		return EXIT_ERROR;
	r = ts_diag_procs_collect(snap, a.opts.proc_root, &procs);
	if (r == 0)
		r = read_sysctls(&a, snap, &sysctls, &n_sysctls);
	if (r < 0) {
		cli_error("cannot read process facts or settings: %s", strerror(-r));
		goto out;
	}
	if (interval) {
		struct timespec ts = { .tv_sec = interval };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (cli_snapshot_take(&a, &later) < 0)
			goto out;
		r = ts_diag_procs_collect(later, a.opts.proc_root, &procs_later);
		if (r < 0) {
			cli_error("cannot read process facts: %s", strerror(-r));
			goto out;
		}
	}
	r = ts_diagnose(&(struct ts_diag_input){
				.snap = snap, .procs = &procs, .sysctls = sysctls, .n_sysctls = n_sysctls,
				.later = later, .procs_later = later ? &procs_later : NULL,
				.interval_s = interval, .thresholds = &th },
			&d);
	if (r < 0) {
		cli_error("cannot diagnose: %s", strerror(-r));
		goto out;
	}
	if (a.json)
		doctor_print_json(d, snap, &a, min, interval);
	else
		doctor_print_text(d, snap, &a, min, interval);
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		goto out;
	}
	rc = EXIT_OK;
	if (ts_diagnosis_count_at_least(d, fail_on) > 0)
		rc = EXIT_FINDINGS;
out:
	ts_diagnosis_free(d);
	free(sysctls);
	ts_diag_procs_clear(&procs);
	ts_diag_procs_clear(&procs_later);
	ts_snapshot_free(later);
	ts_snapshot_free(snap);
	return rc;
}
