/* SPDX-License-Identifier: MIT */
/* The verbs that select sockets: one option loop, the checks after it, and
 * the snapshot taken with its notes said once on stderr. */
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "tcpstate/sysctl_registry.h"
#include "tcpstate/procinfo.h"
#include "term_safe.h"
#include "tcpstate/util.h"

int cli_snapshot_args_check(struct cli_snapshot_args *a)
{
	if (a->opts.netns && a->opts.all_netns) {
		cli_error("--netns and --all-netns exclude each other");
		return -1;
	}
	if (cli_netns_check(a->opts.netns, NULL) < 0)
		return -1;
	if (a->opts.owners == TS_OWNERS_NONE && ts_filter_needs_owners(&a->filter)) {
		cli_error("--pid and --comm need owners: drop --no-owners");
		return -1;
	}
	if (a->opts.owners == TS_OWNERS_NONE && a->opts.owner_source != TS_OWNER_SOURCE_AUTO) {
		cli_error("--owners and --no-owners exclude each other");
		return -1;
	}
	/* Sockets belong to processes: a thread id selects its process, as
	 * both owner sources report owners by process (thread group). */
	for (size_t i = 0; i < a->filter.n_pids; i++) {
		pid_t tgid;

		if (ts_procinfo_thread_group(a->opts.proc_root, a->filter.pids[i], &tgid) == 0 &&
		    tgid != a->filter.pids[i]) {
			cli_info("note: ", "%d is a thread of process %d: selecting process %d",
				 (int)a->filter.pids[i], (int)tgid, (int)tgid);
			a->filter.pids[i] = tgid;
		}
	}
	return 0;
}



/* The verifier's verdict: the last line of its log that is not a statistic. */
static void verifier_verdict(const char *log, char *out, size_t size)
{
	const char *end = log + strlen(log);

	out[0] = '\0';
	while (end > log) {
		const char *start = end;
		size_t len;

		while (start > log && start[-1] != '\n')
			start--;
		len = (size_t)(end - start);
		if (len && strncmp(start, "verification time", 17) && strncmp(start, "stack depth", 11) &&
		    strncmp(start, "processed ", 10) && strncmp(start, "-- END", 6)) {
			snprintf(out, size, "%.*s", (int)len, start);
			return;
		}
		end = start > log ? start - 1 : log;
	}
}

/*
 * Why the BPF source did not run, in one line that says what to do; under
 * -v the verifier's log follows. Once per run: demo takes two snapshots.
 */
enum bpf_source { BPF_SOURCE_OWNERS, BPF_SOURCE_SOCKETS };

static void report_bpf_failure(enum bpf_source source, const struct ts_bpf_status *st,
			       bool verbose, const char *prefix, const char *then)
{
	static bool reported[2];
	const char *what = source == BPF_SOURCE_OWNERS ? "BPF owner source" : "BPF socket source";
	char hint[256], verdict[256];

	if (reported[source])
		return;
	reported[source] = true;
	switch (st->failure) {
	case TS_BPF_FAILURE_NONE:
	case TS_BPF_FAILURE_NOT_BUILT:
		break;
	case TS_BPF_FAILURE_KERNEL:
		cli_info(prefix, "%s unavailable: %s%s", what, st->detail, then);
		break;
	case TS_BPF_FAILURE_PRIVILEGE:
		cli_info(prefix, "%s not permitted (%s): %s%s", what, strerror(st->err),
			 cli_privilege_hint("CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN",
					    cli_has_bpf_caps(), hint, sizeof(hint)), then);
		break;
	case TS_BPF_FAILURE_VERIFIER:
		verifier_verdict(st->detail, verdict, sizeof(verdict));
		cli_info(prefix, "%s unavailable: the kernel's verifier rejected the "
			 "program (%s: %s)%s%s", what, strerror(st->err), verdict, then,
			 verbose ? "; its log ends:" : "; -v shows its log");
		if (verbose) {
			const char *p = st->detail;

			while (*p) {
				size_t len = strcspn(p, "\n");

				fprintf(stderr, "  | %.*s\n", (int)len, p);
				p += len + (p[len] == '\n');
			}
		}
		break;
	case TS_BPF_FAILURE_OTHER:
		cli_info(prefix, "%s unavailable (%s)%s%s%s", what, strerror(st->err),
			 st->detail[0] ? ": " : "", st->detail, then);
		break;
	}
}

/* The socket source that ran, with -v; why AUTO did not use BPF (a collector's). */
static void report_socket_source(const struct cli_snapshot_args *a,
				 const struct ts_snapshot_stats *st)
{
	if (!a->verbose)
		return;
	if (st->backend == TS_BACKEND_BPF)
		cli_info("", "sockets: bpf (iter/tcp)");
	else if (st->backend == TS_BACKEND_PROCFS)
		cli_info("", "sockets: /proc/net/tcp");
	else if (st->socket_bpf.failure != TS_BPF_FAILURE_NONE &&
		 st->socket_bpf.failure != TS_BPF_FAILURE_NOT_BUILT)
		report_bpf_failure(BPF_SOURCE_SOCKETS, &st->socket_bpf, true, "",
				   ": sockets: netlink (sock_diag)");
	else
		cli_info("", "sockets: netlink (sock_diag)");
	if (st->netns_without_tcp)
		cli_info("", "sockets: %u namespace%s without TCP sockets by its counts "
			 "(/proc/net/sockstat): not walked", st->netns_without_tcp,
			 st->netns_without_tcp == 1 ? "" : "s");
}

/* The owner source that ran: a note when AUTO fell back, a line with -v. */
static void report_owner_source(const struct cli_snapshot_args *a,
				const struct ts_snapshot_stats *st)
{
	bool fell_back = st->owners_scanned && st->owner_source == TS_OWNER_SOURCE_PROC &&
			 st->bpf.failure != TS_BPF_FAILURE_NONE;

	if (fell_back)
		report_bpf_failure(BPF_SOURCE_OWNERS, &st->bpf, a->verbose, "note: ", ": used /proc");
	if (!a->verbose)
		return;
	if (!st->owners_scanned)
		cli_info("", "owners: none (--no-owners)");
	else if (st->owner_source == TS_OWNER_SOURCE_BPF)
		cli_info("", "owners: bpf (iter/task_file)");
	else if (fell_back && st->bpf.failure == TS_BPF_FAILURE_NOT_BUILT)
		cli_info("", "owners: proc (auto: BPF owner source not built)");
	else if (fell_back)
		cli_info("", "owners: proc (auto: the BPF owner source could not run)");
	else
		cli_info("", "owners: proc (--owners proc)");
}

static void report_notes(const struct cli_snapshot_args *a, const struct ts_snapshot_stats *st)
{
	ts_state_mask_t m = ts_filter_states(&a->filter);
	char hint[256];

	if (st->sock_diag_errno)
		cli_warn("sock_diag is not available (%s): read /proc/net/tcp instead "
			 "(no cookies, no tcp_info, no BOUND sockets)", strerror(st->sock_diag_errno));
	if (st->malformed_messages)
		cli_warn("skipped %u malformed message%s from the kernel", st->malformed_messages,
			 st->malformed_messages == 1 ? "" : "s");
	if (st->dump_retries)
		cli_warn("the kernel interrupted the dump %u time%s (sockets changed meanwhile); "
			 "retried", st->dump_retries, st->dump_retries == 1 ? "" : "s");
	if (st->processes_denied)
		cli_warn("could not read the open files of %u process%s: their sockets are shown "
			 "without owners (%s)", st->processes_denied,
			 st->processes_denied == 1 ? "" : "es",
			 /* Listing another user's /proc/PID/fd (mode 0500) takes
			  * CAP_DAC_READ_SEARCH; reading its links, CAP_SYS_PTRACE. */
			 cli_privilege_hint("CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH",
					    cli_has_cap(CAP_SYS_PTRACE) &&
						    cli_has_cap(CAP_DAC_READ_SEARCH),
					    hint, sizeof(hint)));
	if (st->fd_exhausted)
		cli_warn("ran out of file descriptors (%s: %s) and could not inspect %u process%s "
			 "or held socket%s: owners, and IDLE, BOUND or CLOSED states, are missing",
			 strerrorname_np(st->fd_exhausted_errno) ? strerrorname_np(st->fd_exhausted_errno) : "?",
			 st->fd_exhausted_errno == ENFILE ?
				"the system's file table is full, see " TS_SYSCTL_NAME(FILE_MAX) " and fs.file-nr" :
				"tcpstate's own RLIMIT_NOFILE is too low, see ulimit -n",
			 st->fd_exhausted, st->fd_exhausted == 1 ? "" : "es",
			 st->fd_exhausted == 1 ? "" : "s");
	if (st->fds_unclassified)
		cli_warn("%u socket%s held open but in no dump could not be inspected "
			 "(IDLE, BOUND or CLOSED): shown as UNKNOWN", st->fds_unclassified,
			 st->fds_unclassified == 1 ? "" : "s");
	if (st->netns_denied) {
		char names[TS_NETNS_DENIED_NAMES * 70] = "";
		size_t len = 0;
		unsigned shown = st->netns_denied < TS_NETNS_DENIED_NAMES ? st->netns_denied
									  : TS_NETNS_DENIED_NAMES;

		for (unsigned k = 0; k < shown && len < sizeof(names); k++) {
			char safe[64];

			/* A /run/netns name is anyone's file name: no control bytes to the terminal. */
			snprintf(safe, sizeof(safe), "%s", st->netns_denied_names[k]);
			for (char *p = safe; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", k ? ", " : "", safe);
		}
		cli_warn("could not enter %u network namespace%s (%s%s): their sockets are missing (%s)",
			 st->netns_denied, st->netns_denied == 1 ? "" : "s", names,
			 st->netns_denied > shown ? ", ..." : "",
			 cli_privilege_hint("CAP_SYS_ADMIN", cli_has_cap(CAP_SYS_ADMIN), hint, sizeof(hint)));
	}
	if (st->netns_unidentified_processes)
		cli_warn("could not tell the network namespace of %u process%s (/proc/PID/ns/net is "
			 "not readable): sockets in namespaces only they use are missing (%s)",
			 st->netns_unidentified_processes,
			 st->netns_unidentified_processes == 1 ? "" : "es",
			 cli_privilege_hint("CAP_SYS_PTRACE", cli_has_cap(CAP_SYS_PTRACE), hint,
					    sizeof(hint)));
	if (!st->owners_scanned &&
	    (m & (TS_STATE_BIT(TS_STATE_IDLE) | TS_STATE_BIT(TS_STATE_CLOSED))) &&
	    a->filter.states)
		cli_warn("IDLE and CLOSED sockets are found through process fds: "
			 "they are not shown with --no-owners");
}

const char *cli_socket_source_name(const struct ts_snapshot_stats *st)
{
	switch (st->backend) {
	case TS_BACKEND_BPF:
		return "bpf";
	case TS_BACKEND_PROCFS:
		return "procfs";
	default:
		return "netlink";
	}
}

bool cli_snapshot_incomplete(const struct ts_snapshot *snap)
{
	return ts_snapshot_stats(snap)->fd_exhausted != 0;
}

void cli_snapshot_report_failure(const struct cli_snapshot_args *a, int r,
				 const struct ts_snapshot_status *st)
{
	const struct ts_bpf_status *bpf = &st->bpf;
	char hint[256];

	if (st->failed_stage == TS_SNAPSHOT_STAGE_NETNS && r != -EPERM && r != -EACCES &&
	    a->opts.netns)
		cli_netns_error(a->opts.netns, r);
	else if (st->failed_stage == TS_SNAPSHOT_STAGE_NETNS && r != -EPERM && r != -EACCES)
		cli_error("cannot read the network namespaces: %s", strerror(-r));
	else if (bpf->failure == TS_BPF_FAILURE_NOT_BUILT)
		cli_error("BPF owner source not built into this tcpstate (meson -Dbpf=enabled); "
			  "use --owners proc or auto");
	else if (bpf->failure != TS_BPF_FAILURE_NONE)
		report_bpf_failure(BPF_SOURCE_OWNERS, bpf, a->verbose, "", "; use --owners proc or auto");
	else if (st->socket_bpf.failure == TS_BPF_FAILURE_NOT_BUILT)
		cli_error("BPF socket source not built into this tcpstate (meson -Dbpf=enabled); "
			  "use --backend netlink or auto");
	else if (st->socket_bpf.failure != TS_BPF_FAILURE_NONE)
		report_bpf_failure(BPF_SOURCE_SOCKETS, &st->socket_bpf, a->verbose, "",
				   "; use --backend netlink or auto");
	else if (st->failed_stage == TS_SNAPSHOT_STAGE_NETNS)
		cli_error("not permitted to inspect that namespace: %s (%s)", strerror(-r),
			  cli_privilege_hint("CAP_SYS_ADMIN", cli_has_cap(CAP_SYS_ADMIN), hint,
					     sizeof(hint)));
	else if (r == -EAGAIN && st->failed_stage == TS_SNAPSHOT_STAGE_DUMP)
		cli_error("the kernel kept interrupting the socket dump; try again");
	else
		cli_error("cannot take a snapshot: %s", strerror(-r));
}

void cli_snapshot_report_notes(const struct cli_snapshot_args *a, const struct ts_snapshot *snap)
{
	report_notes(a, ts_snapshot_stats(snap));
	report_socket_source(a, ts_snapshot_stats(snap));
	report_owner_source(a, ts_snapshot_stats(snap));
}

int cli_snapshot_take(struct cli_snapshot_args *a, struct ts_snapshot **ret)
{
	struct ts_snapshot_status st;
	int r = ts_snapshot_collect_status(&a->opts, ret, &st);

	if (r < 0) {
		cli_snapshot_report_failure(a, r, &st);
		return -1;
	}
	cli_snapshot_report_notes(a, *ret);
	return 0;
}

/* The verb's option callback first, then the shared options. */
struct snapshot_parse {
	struct cli_snapshot_args *a;
	const struct cli_verb_options *v;
};

static int snapshot_option(void *ctx, int opt, const char *arg)
{
	const struct snapshot_parse *p = ctx;
	int r = p->v->option ? p->v->option(p->v->ctx, opt, arg) : 0;

	return r == 0 ? cli_snapshot_option(p->a, opt, arg) : r;
}

/* The verb's options after the shared ones, in one table for getopt_long. */
#define CLI_OPTIONS_MAX 48

int cli_snapshot_parse(struct cli_snapshot_args *a, const struct cli_verb_options *v, int argc,
		       char **argv)
{
	struct option longopts[CLI_OPTIONS_MAX];
	char shortopts[64];
	struct snapshot_parse p = { a, v };
	const struct cli_verb_options all = { v->verb, shortopts, longopts, v->help, snapshot_option, &p };
	size_t n = 0;
	int r;

	for (const struct option *o = cli_snapshot_long_options; o->name; o++)
		longopts[n++] = *o;
	for (const struct option *o = v->longopts; o->name; o++) {
		if (n + 1 >= CLI_OPTIONS_MAX) {
			cli_error("internal error: %s has more than %d options", v->verb, CLI_OPTIONS_MAX - 1);
			return EXIT_ERROR;
		}
		longopts[n++] = *o;
	}
	longopts[n] = (struct option){ 0 };
	/* A verb's own letter wins over a shared one (top's -n is --iterations). */
	n = 0;
	for (const char *c = CLI_SNAPSHOT_SHORT_OPTIONS; *c; c++) {
		bool colon = c[1] == ':';

		if (!strchr(v->shortopts, *c))
			shortopts[n++] = *c;
		if (colon && !strchr(v->shortopts, *c))
			shortopts[n++] = ':';
		c += colon;
	}
	snprintf(shortopts + n, sizeof(shortopts) - n, "%s", v->shortopts);

	r = cli_verb_parse(&all, argc, argv);
	if (r != CLI_PARSE_RUN)
		return r;
	if (optind < argc && cli_ss_filter(a, argc - optind, argv + optind, v->verb) < 0)
		return EXIT_USAGE;
	return CLI_PARSE_RUN;
}
