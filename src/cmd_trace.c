/* SPDX-License-Identifier: MIT */
/* tcpstate trace: parse -> attach + start snapshot -> events until the end -> summary. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/capability.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "tcpstate/trace.h"
#include "tcpstate/util.h"
#include "trace_output.h"

#define TRACE_MAX_DURATION_S 31536000.0 /* a year */

static void trace_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate trace [OPTIONS]\n"
		"\n"
		"Prints one line per state change of every TCP socket of the selected\n"
		"namespaces as it happens: time, namespace, the process and fd that hold the\n"
		"socket ('orphan' when no process holds it: after close(), and TIME_WAIT),\n"
		"local and remote address, old -> new state and the time spent in the old\n"
		"state. Sockets older than the trace start with the age tcp_info and the\n"
		"TIME_WAIT timer give: a lower bound, shown as '≥ 3.1 s'; from their next\n"
		"change on it is exact. '(new) -> IDLE' is a socket() just made; a listener's\n"
		"new child appears as '(new) -> SYN_RECEIVED'. At the end (Ctrl-C, --duration,\n"
		"--count) a summary: per state left, per holder and per local port the count\n"
		"and p50/p90/p99/max time in state, and the sockets still in each state with\n"
		"their age. Once attached it says on stderr 'tracing ...': every change from\n"
		"then on is shown or counted as lost. Lost events (the ring buffer full, a hook\n"
		"run the kernel skipped, changes never seen) are counted, at most, and\n"
		"reported, never dropped silently; a stop first reads what was queued. Needs\n"
		"root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) and a kernel with BTF.\n"
		"\n"
		"Selection (values of one option are ORed, options are ANDed; ports and the\n"
		"namespace are applied in the kernel, the rest as events are read):\n"
		"  -s, --state S[,S...]   changes into or out of these states (names as in\n"
		"                         'tcpstate list --help')\n"
		"  -p, --port P[,P...]    local or remote port\n"
		"      --sport P[,P...]   local port (a connect()'s SYN_SENT has none yet)\n"
		"      --dport P[,P...]   remote port\n"
		"  -a, --addr A[/LEN]     local or remote address (IPv4 or IPv6, with prefix)\n"
		"  -P, --pid PID[,PID...] sockets held by these processes\n"
		"  -c, --comm NAME[,...]  sockets held by processes with this command name\n"
		"  After the options, ss's words: state NAME, exclude NAME, dport = :N,\n"
		"  sport = :N, '(' ')' and 'and'\n"
		"Where:\n"
		"  -N, --netns NS         another network namespace (a path, a /run/netns\n"
		"                         name or a pid; default: your own)\n"
		"  -A, --all-netns        every network namespace on the host\n"
		"How long:\n"
		"      --duration S       stop after S seconds (decimals allowed)\n"
		"      --count N          stop after N events\n"
		"How:\n"
		"  -j, --json             JSON Lines: one object per event ({\"type\":\"event\"}),\n"
		"                         per loss ({\"type\":\"lost\"}), then the summary\n"
		"                         ({\"type\":\"summary\"})\n"
		"  -v, --verbose          say on stderr which kernel hooks serve the trace\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 success, 1 error (no privilege, the kernel refused the\n"
		"program), 2 usage error.\n"
		"\n"
		"Examples:\n"
		"  tcpstate trace --state close-wait\n"
		"  tcpstate trace --port 8080 --duration 60 --json\n"
		"  tcpstate trace --all-netns --count 100\n");
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t wall_minus_mono(void)
{
	struct timespec w, m;

	clock_gettime(CLOCK_REALTIME, &w);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)w.tv_sec - (int64_t)m.tv_sec) * 1000000000ll +
	       ((int64_t)w.tv_nsec - (int64_t)m.tv_nsec);
}

static int parse_duration(const char *s, uint64_t *ret_ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > TRACE_MAX_DURATION_S)
		return -EINVAL;
	*ret_ns = (uint64_t)(v * 1e9);
	return 0;
}

static void report_open_error(int r, const struct ts_bpf_status *st, const char *netns)
{
	char hint[256];

	if (st->failure == TS_BPF_FAILURE_NONE && (r == -ENOENT || r == -EINVAL || r == -ENOTDIR ||
						   r == -ENAMETOOLONG) && netns) {
		cli_netns_error(netns, r);
		return;
	}
	switch (st->failure) {
	case TS_BPF_FAILURE_NOT_BUILT:
		cli_error("this tcpstate was built without BPF (meson -Dbpf=enabled): trace needs it");
		break;
	case TS_BPF_FAILURE_KERNEL:
		cli_error("cannot trace on this kernel: %s", st->detail);
		break;
	case TS_BPF_FAILURE_PRIVILEGE:
		cli_error("not permitted to load the trace program (%s)",
			  cli_privilege_hint("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)", cli_has_bpf_caps(),
					     hint, sizeof(hint)));
		break;
	case TS_BPF_FAILURE_VERIFIER:
		cli_error("the kernel refused the trace program: no hook for state changes loads "
			  "(tried tp_btf/inet_sock_set_state, then fentry/tcp_set_state): %s; the "
			  "verifier's log ends with:\n%s", strerror(st->err), st->detail);
		break;
	case TS_BPF_FAILURE_OTHER:
		cli_error("cannot attach the trace program (tried tp_btf/inet_sock_set_state, then "
			  "fentry/tcp_set_state): %s%s%s", strerror(st->err), st->detail[0] ? ": " : "",
			  st->detail);
		break;
	default:
		if (r == -EPERM || r == -EACCES)
			cli_error("not permitted to inspect that namespace: %s (%s)", strerror(-r),
				  cli_privilege_hint("CAP_SYS_ADMIN", cli_has_cap(CAP_SYS_ADMIN), hint,
						     sizeof(hint)));
		else
			cli_error("cannot start the trace: %s", strerror(-r));
	}
}

struct run {
	struct trace_out out;
	uint64_t count_max, shown, lost_seen;
	int write_error;
};

static int on_event(const struct ts_trace_event *ev, void *userdata)
{
	struct run *run = userdata;

	if (trace_out_event(&run->out, ev) < 0) {
		run->write_error = 1;
		return -EIO;
	}
	run->shown++;
	if (run->count_max && run->shown >= run->count_max)
		return -ECANCELED;
	return 0;
}

/* Says the events lost since the last look, if any. */
static void say_lost(struct ts_trace *t, struct run *run)
{
	uint64_t lost = ts_trace_lost(t);

	if (lost > run->lost_seen) {
		if (trace_out_lost(&run->out, lost - run->lost_seen, lost) < 0)
			run->write_error = 1;
		run->lost_seen = lost;
	}
}

/* Events until a signal, the deadline or the count; losses as they are seen.
 * At a signal or the deadline, what the kernel had queued is read too. */
static int trace_loop(struct ts_trace *t, struct run *run, uint64_t duration_ns)
{
	uint64_t deadline = duration_ns ? mono_ns() + duration_ns : 0;
	int r = 0;

	while (!cli_stop_signal) {
		uint64_t now = mono_ns();
		int timeout = 200;

		if (deadline && now >= deadline)
			break;
		if (deadline && (deadline - now) / 1000000 < 200)
			timeout = (int)((deadline - now) / 1000000) + 1;
		r = ts_trace_poll(t, timeout, on_event, run);
		say_lost(t, run);
		fflush(run->out.f);
		if (r == -ECANCELED || run->write_error)
			return 0;
		if (r < 0 && r != -EINTR) {
			cli_error("reading the trace failed: %s", strerror(-r));
			return -1;
		}
	}
	r = ts_trace_drain(t, on_event, run);
	say_lost(t, run);
	if (r < 0 && r != -ECANCELED && !run->write_error) {
		cli_error("reading the trace failed: %s", strerror(-r));
		return -1;
	}
	return 0;
}

/* What is lost without hook h. */
static const char *missing_means(enum ts_trace_hook h)
{
	return h == TS_TRACE_HOOK_DESTROY ? "sockets closed while IDLE, BOUND or CLOSED stay "
					    "followed until the trace ends"
					  : "those events are missing";
}

static void say_hooks(const struct ts_trace *t)
{
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++) {
		const char *where = ts_trace_hook_where(t, (enum ts_trace_hook)h);

		if (where)
			cli_info("", "%s: %s", ts_trace_hook_name((enum ts_trace_hook)h), where);
		else
			cli_info("", "%s: none loads on this kernel: %s",
				 ts_trace_hook_name((enum ts_trace_hook)h),
				 missing_means((enum ts_trace_hook)h));
	}
}

/* Hooks that did not load are said even without -v. */
static void warn_missing_hooks(const struct ts_trace *t)
{
	for (int h = 0; h < _TS_TRACE_HOOK_MAX; h++)
		if (!ts_trace_hook_where(t, (enum ts_trace_hook)h))
			cli_warn("no hook for %s loads on this kernel: %s",
				 ts_trace_hook_name((enum ts_trace_hook)h),
				 missing_means((enum ts_trace_hook)h));
}

/* Attached and seeded: every change from here on is shown or counted as
 * lost. A driver can start its load once this line is out. */
static void say_ready(const struct cli_snapshot_args *ap)
{
	const char *how = "every state change from now on is shown or counted as lost "
			  "(Ctrl-C ends it)";

	if (ap->opts.all_netns)
		cli_info("", "tracing every network namespace: %s", how);
	else if (ap->opts.netns)
		cli_info("", "tracing network namespace %s: %s", ap->opts.netns, how);
	else
		cli_info("", "tracing this network namespace: %s", how);
}

/* trace's own options; the selection options are the shared ones (cli_snapshot.h). */
enum { OPT_DURATION = CLI_OPT_VERB, OPT_COUNT };

struct trace_args {
	struct cli_snapshot_args a;
	uint64_t duration_ns;
	uint64_t count_max;
};

static int trace_option(void *ctx, int opt, const char *arg)
{
	struct trace_args *ta = ctx;

	switch (opt) {
	case OPT_DURATION:
		if (parse_duration(arg, &ta->duration_ns) < 0) {
			cli_error("--duration: '%s' is not a number of seconds above 0", arg);
			return -1;
		}
		return 1;
	case OPT_COUNT:
		if (ts_parse_u64(arg, 1, UINT32_MAX, &ta->count_max) < 0) {
			cli_error("--count: '%s' is not a number of events (1 to %u)", arg, UINT32_MAX);
			return -1;
		}
		return 1;
	}
	/* The selection options, --json and --verbose: those of list. */
	return cli_snapshot_option(&ta->a, opt, arg);
}

int cmd_trace(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "sport", required_argument, NULL, CLI_OPT_SPORT },
		{ "dport", required_argument, NULL, CLI_OPT_DPORT },
		{ "addr", required_argument, NULL, 'a' },
		{ "pid", required_argument, NULL, 'P' },
		{ "comm", required_argument, NULL, 'c' },
		{ "netns", required_argument, NULL, 'N' },
		{ "all-netns", no_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct trace_args ta = { 0 };
	const struct cli_verb_options v = { "trace", "s:p:a:P:c:N:Ajvh", long_opts, trace_help,
					    trace_option, &ta };
	struct cli_snapshot_args *ap = &ta.a;
	struct ts_trace_opts topts = { 0 };
	struct ts_trace_summary *sum = NULL;
	struct ts_bpf_status st;
	struct ts_trace *t;
	struct run run = { 0 };
	uint64_t duration_ns;
	int r, rc = EXIT_OK;

	cli_snapshot_args_init(ap);
	r = cli_verb_parse(&v, argc, argv);
	if (r != CLI_PARSE_RUN)
		return r;
	if (cli_ss_filter(ap, argc - optind, argv + optind, "trace") < 0 ||
	    cli_snapshot_args_check(ap) < 0)
		return EXIT_USAGE;
	duration_ns = ta.duration_ns;
	run.count_max = ta.count_max;
	if (!cli_has_bpf_caps()) {
		char hint[256];

		cli_error("tracing needs to load a BPF program: %s",
			  cli_privilege_hint("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)", false, hint,
					     sizeof(hint)));
		return EXIT_ERROR;
	}
	topts.filter = &ap->filter;
	topts.netns = ap->opts.netns;
	topts.all_netns = ap->opts.all_netns;
	cli_stop_on_signals();
	r = ts_trace_open(&topts, &t, &st);
	if (r < 0) {
		report_open_error(r, &st, ap->opts.netns);
		return EXIT_ERROR;
	}
	if (ap->verbose)
		say_hooks(t);
	else
		warn_missing_hooks(t);
	say_ready(ap);
	run.out.f = stdout;
	run.out.json = ap->json;
	run.out.trace = t;
	run.out.wall_minus_mono_ns = wall_minus_mono();
	if (trace_loop(t, &run, duration_ns) < 0)
		rc = EXIT_ERROR;
	if (!run.write_error) {
		if (ts_trace_summary_get(t, &sum) < 0) {
			cli_error("out of memory for the summary");
			rc = EXIT_ERROR;
		} else if (trace_out_summary(&run.out, sum) < 0) {
			run.write_error = 1;
		}
	}
	ts_trace_summary_free(sum);
	ts_trace_free(t);
	if (fflush(stdout) != 0 || run.write_error) {
		cli_error("cannot write the output");
		rc = EXIT_ERROR;
	}
	return rc;
}
