/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/capability.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_filter.h"
#include "tcpstate/procinfo.h"
#include "term_safe.h"
#include "tcpstate/util.h"

void cli_snapshot_args_init(struct cli_snapshot_args *a)
{
	const char *second = getenv("TCPSTATE_TEST_BPF_SECOND_PASS");

	memset(a, 0, sizeof(*a));
	a->opts.filter = &a->filter;
	a->opts.backend = TS_BACKEND_AUTO;
	a->opts.owners = TS_OWNERS_AUTO;
	a->opts.test_bpf_second_pass_only = second && strcmp(second, "1") == 0;
}

/* Calls one() on each comma-separated token; -1 on the first bad token. */
static int each_token(const char *arg, const char *what,
		      int (*one)(struct cli_snapshot_args *, const char *), struct cli_snapshot_args *a)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	unsigned n = 0;
	int r = 0;

	if (!copy) {
		cli_error("out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save), n++)
		r = one(a, tok);
	if (r == 0 && n == 0) {
		cli_error("empty %s", what);
		r = -1;
	}
	free(copy);
	return r;
}

static int add_state(struct cli_snapshot_args *a, const char *tok)
{
	ts_state_mask_t m;

	if (ts_state_token_parse(tok, &m) < 0) {
		cli_error("unknown state '%s' (see 'tcpstate list --help')", tok);
		return -1;
	}
	a->filter.states |= m;
	return 0;
}

static int add_port_to(uint16_t *v, uint8_t *n, const char *tok)
{
	uint16_t port;

	if (ts_parse_port(tok, &port) < 0) {
		cli_error("bad port '%s' (a number from 1 to 65535)", tok);
		return -1;
	}
	if (*n >= TS_FILTER_MAX_PORTS) {
		cli_error("too many ports (at most %d per option)", TS_FILTER_MAX_PORTS);
		return -1;
	}
	v[(*n)++] = port;
	return 0;
}

static int add_port(struct cli_snapshot_args *a, const char *tok)
{
	return add_port_to(a->filter.ports, &a->filter.n_ports, tok);
}

static int add_sport(struct cli_snapshot_args *a, const char *tok)
{
	return add_port_to(a->filter.sports, &a->filter.n_sports, tok);
}

static int add_dport(struct cli_snapshot_args *a, const char *tok)
{
	return add_port_to(a->filter.dports, &a->filter.n_dports, tok);
}

static int add_addr(struct cli_snapshot_args *a, const char *tok)
{
	if (a->filter.n_addrs >= TS_FILTER_MAX_ADDRS) {
		cli_error("too many addresses (at most %d)", TS_FILTER_MAX_ADDRS);
		return -1;
	}
	if (ts_addr_match_parse(tok, &a->filter.addrs[a->filter.n_addrs]) < 0) {
		/* "-anp": ss's flags, where -a here takes an address. */
		if (tok[strspn(tok, "antlpuxeoimrs46HOZE")] == '\0')
			cli_error("bad address '%s': -a takes an address here (-a/--addr ADDR); "
				  "for ss's -anp: every state is listed by default, -p is --port "
				  "PORT, owners are always shown (-n/--no-owners skips them)", tok);
		else
			cli_error("bad address '%s' (IPv4 or IPv6, optionally /PREFIX)", tok);
		return -1;
	}
	a->filter.n_addrs++;
	return 0;
}

static int add_pid(struct cli_snapshot_args *a, const char *tok)
{
	pid_t pid;

	if (ts_parse_pid(tok, &pid) < 0) {
		cli_error("bad pid '%s'", tok);
		return -1;
	}
	if (a->filter.n_pids >= TS_FILTER_MAX_PIDS) {
		cli_error("too many pids (at most %d)", TS_FILTER_MAX_PIDS);
		return -1;
	}
	a->filter.pids[a->filter.n_pids++] = pid;
	return 0;
}

static int add_comm(struct cli_snapshot_args *a, const char *tok)
{
	if (strlen(tok) >= TS_COMM_LEN) {
		cli_error("command name '%s' is longer than the kernel keeps (%d characters)",
			  tok, TS_COMM_LEN - 1);
		return -1;
	}
	if (a->filter.n_comms >= TS_FILTER_MAX_COMMS) {
		cli_error("too many command names (at most %d)", TS_FILTER_MAX_COMMS);
		return -1;
	}
	snprintf(a->filter.comms[a->filter.n_comms++], TS_COMM_LEN, "%s", tok);
	return 0;
}

int cli_snapshot_option(struct cli_snapshot_args *a, int opt, const char *arg)
{
	int r;

	switch (opt) {
	case 's':
		r = each_token(arg, "state", add_state, a);
		break;
	case 'p':
		r = each_token(arg, "port", add_port, a);
		break;
	case 0x100:
		r = each_token(arg, "port", add_sport, a);
		break;
	case 0x101:
		r = each_token(arg, "port", add_dport, a);
		break;
	case 'a':
		r = each_token(arg, "address", add_addr, a);
		break;
	case 'P':
		r = each_token(arg, "pid", add_pid, a);
		break;
	case 'c':
		r = each_token(arg, "command name", add_comm, a);
		break;
	case 'N':
		a->opts.netns = arg;
		r = 0;
		break;
	case 'A':
		a->opts.all_netns = true;
		r = 0;
		break;
	case 'j':
		a->json = true;
		r = 0;
		break;
	case 'n':
		a->opts.owners = TS_OWNERS_NONE;
		r = 0;
		break;
	case 0x103:
		if (strcmp(arg, "bpf") == 0)
			a->opts.owner_source = TS_OWNER_SOURCE_BPF;
		else if (strcmp(arg, "proc") == 0)
			a->opts.owner_source = TS_OWNER_SOURCE_PROC;
		else if (strcmp(arg, "auto") == 0)
			a->opts.owner_source = TS_OWNER_SOURCE_AUTO;
		else {
			cli_error("unknown owner source '%s' (bpf, proc or auto)", arg);
			return -1;
		}
		a->owners_explicit = true;
		r = 0;
		break;
	case 'v':
		a->verbose = true;
		r = 0;
		break;
	case 0x102:
		if (strcmp(arg, "netlink") == 0)
			a->opts.backend = TS_BACKEND_NETLINK;
		else if (strcmp(arg, "procfs") == 0)
			a->opts.backend = TS_BACKEND_PROCFS;
		else if (strcmp(arg, "auto") == 0)
			a->opts.backend = TS_BACKEND_AUTO;
		else {
			cli_error("unknown backend '%s' (netlink, procfs or auto)", arg);
			return -1;
		}
		r = 0;
		break;
	default:
		return 0;
	}
	return r < 0 ? -1 : 1;
}


/* ---- --netns ---- */

/*
 * An argument that can name no network namespace, whatever exists now, is
 * a usage error (exit 2); a well-formed one naming nothing that exists now
 * (ENOENT, ESRCH, ENOTDIR) or that we may not open is an error (exit 1).
 */
bool cli_netns_usage_error(int err)
{
	switch (-err) {
	case EINVAL:
	case ENAMETOOLONG:
	case ERANGE:
	case ELOOP:
	case ENOTTY:
	case EMEDIUMTYPE:
		return true;
	default:
		return false;
	}
}

void cli_netns_error(const char *spec, int err)
{
	bool path = strchr(spec, '/') != NULL;

	switch (-err) {
	case EINVAL:
		cli_error("bad --netns '%s': no network namespace has an empty name, '.' or '..'", spec);
		break;
	case ENAMETOOLONG:
		cli_error("--netns '%.60s...' is too long (%zu bytes): a name in /run/netns has at "
			  "most %d, a path fewer than %d", spec, strlen(spec), NAME_MAX, PATH_MAX);
		break;
	case ENOENT:
		if (path)
			cli_error("no network namespace '%s': no such file", spec);
		else
			cli_error("no network namespace '%s': no such name in /run/netns (a name, a "
				  "path or a pid)", spec);
		break;
	case ESRCH:
		cli_error("no network namespace '%s': no such name in /run/netns and no process "
			  "with that pid", spec);
		break;
	case ERANGE:
		cli_error("no network namespace '%s': no such name in /run/netns, and it is no valid "
			  "pid", spec);
		break;
	case ELOOP:
		cli_error("--netns '%s': too many levels of symbolic links (a loop?)", spec);
		break;
	case ENOTDIR:
		cli_error("--netns '%s': a component of the path is not a directory", spec);
		break;
	case ENOTTY:
		cli_error("--netns '%s' is not a namespace file (a name in /run/netns, "
			  "/proc/PID/ns/net or a pid)", spec);
		break;
	case EMEDIUMTYPE:
		cli_error("--netns '%s' is a namespace of another kind, not a network namespace "
			  "(/proc/PID/ns/net is)", spec);
		break;
	case EPERM:
	case EACCES:
		{
			char hint[256];

			cli_error("not permitted to open network namespace '%s': %s (%s)", spec,
				  strerror(-err), cli_privilege_hint("CAP_SYS_ADMIN",
								     cli_has_cap(CAP_SYS_ADMIN),
								     hint, sizeof(hint)));
		}
		break;
	default:
		cli_error("cannot open network namespace '%s': %s", spec, strerror(-err));
		break;
	}
}

int cli_netns_check(const char *spec, struct ts_netns_ref *ret)
{
	struct ts_netns_ref ref;
	int r;

	if (!spec)
		return 1;
	r = ts_netns_lookup(spec, NULL, &ref);
	if (r < 0) {
		if (!cli_netns_usage_error(r))
			return 1; /* not the argument's fault: the verb reports it when it acts */
		cli_netns_error(spec, r);
		return -1;
	}
	if (ref.form == TS_NETNS_FORM_NAME && ref.shadows_pid)
		cli_info("note: ", "--netns %s: used the network namespace named %s in /run/netns, "
			 "not the one of process %s (a name wins over a pid; --netns /proc/%s/ns/net "
			 "for that one)", TERM_SAFE(spec), TERM_SAFE(spec), TERM_SAFE(spec),
			 TERM_SAFE(spec));
	if (ret)
		*ret = ref;
	return 0;
}

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



static bool have_bpf_caps(void)
{
	return (cli_has_cap(CAP_BPF) && cli_has_cap(CAP_PERFMON)) || cli_has_cap(CAP_SYS_ADMIN);
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
static void report_bpf_failure(const struct ts_bpf_status *st, bool verbose, const char *prefix,
			       const char *then)
{
	static bool reported;
	char hint[256], verdict[256];

	if (reported)
		return;
	reported = true;
	switch (st->failure) {
	case TS_BPF_FAILURE_NONE:
	case TS_BPF_FAILURE_NOT_BUILT:
		break;
	case TS_BPF_FAILURE_KERNEL:
		cli_info(prefix, "BPF owner source unavailable: %s%s", st->detail, then);
		break;
	case TS_BPF_FAILURE_PRIVILEGE:
		cli_info(prefix, "BPF owner source not permitted (%s): %s%s", strerror(st->err),
			 cli_privilege_hint("CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN",
					    have_bpf_caps(), hint, sizeof(hint)), then);
		break;
	case TS_BPF_FAILURE_VERIFIER:
		verifier_verdict(st->detail, verdict, sizeof(verdict));
		cli_info(prefix, "BPF owner source unavailable: the kernel's verifier rejected the "
			 "program (%s: %s)%s%s", strerror(st->err), verdict, then,
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
		cli_info(prefix, "BPF owner source unavailable (%s)%s%s%s", strerror(st->err),
			 st->detail[0] ? ": " : "", st->detail, then);
		break;
	}
}

/* The owner source that ran: a note when AUTO fell back, a line with -v. */
static void report_owner_source(const struct cli_snapshot_args *a,
				const struct ts_snapshot_stats *st)
{
	bool fell_back = st->owners_scanned && st->owner_source == TS_OWNER_SOURCE_PROC &&
			 st->bpf.failure != TS_BPF_FAILURE_NONE;

	if (fell_back)
		report_bpf_failure(&st->bpf, a->verbose, "note: ", ": used /proc");
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
			 cli_privilege_hint("CAP_SYS_PTRACE", cli_has_cap(CAP_SYS_PTRACE), hint,
					    sizeof(hint)));
	if (st->fd_exhausted)
		cli_warn("ran out of file descriptors (%s: %s) and could not inspect %u process%s "
			 "or held socket%s: owners, and IDLE, BOUND or CLOSED states, are missing",
			 strerrorname_np(st->fd_exhausted_errno) ? strerrorname_np(st->fd_exhausted_errno) : "?",
			 st->fd_exhausted_errno == ENFILE ?
				"the system's file table is full, see fs.file-max and fs.file-nr" :
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

bool cli_snapshot_incomplete(const struct ts_snapshot *snap)
{
	return ts_snapshot_stats(snap)->fd_exhausted != 0;
}

int cli_snapshot_take(struct cli_snapshot_args *a, struct ts_snapshot **ret)
{
	struct ts_netns_ref ref;
	struct ts_bpf_status bpf;
	char hint[256];
	int r = ts_snapshot_collect_ex(&a->opts, ret, &bpf), nr = 0;

	if (r < 0) {
		/* The namespace that does not resolve (any more) is the reason. */
		if (a->opts.netns && bpf.failure == TS_BPF_FAILURE_NONE)
			nr = ts_netns_lookup(a->opts.netns, a->opts.proc_root, &ref);
		if (nr < 0)
			cli_netns_error(a->opts.netns, nr);
		else if (bpf.failure == TS_BPF_FAILURE_NOT_BUILT)
			cli_error("BPF owner source not built into this tcpstate (meson -Dbpf=enabled); "
				  "use --owners proc or auto");
		else if (bpf.failure != TS_BPF_FAILURE_NONE)
			report_bpf_failure(&bpf, a->verbose, "", "; use --owners proc or auto");
		else if (r == -EPERM || r == -EACCES)
			cli_error("not permitted to inspect that namespace: %s (%s)", strerror(-r),
				  cli_privilege_hint("CAP_SYS_ADMIN", cli_has_cap(CAP_SYS_ADMIN), hint,
						     sizeof(hint)));
		else if (r == -EAGAIN)
			cli_error("the kernel kept interrupting the socket dump; try again");
		else
			cli_error("cannot take a snapshot: %s", strerror(-r));
		return -1;
	}
	report_notes(a, ts_snapshot_stats(*ret));
	report_owner_source(a, ts_snapshot_stats(*ret));
	return 0;
}
