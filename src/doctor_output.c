/* SPDX-License-Identifier: MIT */
/* tcpstate doctor: the report as text and as one JSON document. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "cli.h"
#include "doctor_output.h"
#include "output.h"
#include "tcpstate/sysctl_registry.h"
#include "tcpstate/activity.h"
#include "term_safe.h"

#define MAX_FDS_SHOWN 24
#define MAX_GROUPS_SHOWN 5

/* ---- text helpers ---- */

static const char *addr_text(uint8_t family, const struct in6_addr *a, char *buf, size_t size)
{
	if (!inet_ntop(family == AF_INET ? AF_INET : AF_INET6, a, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

static const char *endpoint_text(uint8_t family, const struct in6_addr *a, uint16_t port, char *buf,
				 size_t size)
{
	char ab[INET6_ADDRSTRLEN];

	addr_text(family, a, ab, sizeof(ab));
	if (!port)
		snprintf(buf, size, family == AF_INET6 ? "[%s]" : "%s", ab);
	else
		snprintf(buf, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ab, port);
	return buf;
}


/* "3-7, 9, 12" (the first MAX_FDS_SHOWN fds). */
static void fds_text(const int *fds, size_t n, char *buf, size_t size)
{
	size_t len = 0, shown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < size; shown++) {
		size_t j = i;

		if (shown == MAX_FDS_SHOWN) {
			snprintf(buf + len, size - len, ", ... (%zu in all)", n);
			return;
		}
		while (j + 1 < n && fds[j + 1] == fds[j] + 1)
			j++;
		if (j == i)
			len += (size_t)snprintf(buf + len, size - len, "%s%d", i ? ", " : "", fds[i]);
		else
			len += (size_t)snprintf(buf + len, size - len, "%s%d-%d", i ? ", " : "", fds[i], fds[j]);
		i = j + 1;
	}
}

/* Word-wraps text at 78 columns, each line starting with indent (the first after label). */
static void print_wrapped(const char *label, const char *text)
{
	const int width = 78, indent = 12;
	int col = printf("  %-9s ", label);
	const char *p = text;

	while (*p) {
		const char *w = p;
		int wl;

		while (*w && *w != ' ')
			w++;
		wl = (int)(w - p);
		if (col > indent && col + 1 + wl > width) {
			printf("\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			putchar(' ');
			col++;
		}
		printf("%.*s", wl, p);
		col += wl;
		p = w;
		while (*p == ' ')
			p++;
	}
	putchar('\n');
}

/* A /run/netns name that can be pasted into a shell as it is. */
static bool plain_name(const char *s)
{
	if (!*s || *s == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/*
 * The exact `tcpstate close` command for a CLOSE_WAIT finding (how: "fin" or
 * "fd"): it selects the finding's sockets that are abandoned by the idle time
 * the finding was judged with (--min-idle), the same f->closable sockets. A
 * namespace without a /run/netns name, or with one a shell would mangle, is
 * named by the holder's pid; by its /proc path when a /run/netns name made of
 * the same digits would win over the pid. False when the finding has no
 * holder to name or no socket close would act on.
 */
static bool close_command(const struct ts_finding *f, const struct ts_snapshot *snap,
			  const char *how, char *buf, size_t size)
{
	const struct ts_netns *ns = ts_snapshot_netns(snap, f->netns_index);
	char nsarg[80], port[32] = "";

	if (f->kind != TS_FINDING_CLOSE_WAIT || !f->pid || !f->closable)
		return false;
	snprintf(nsarg, sizeof(nsarg), "/run/netns/%d", (int)f->pid);
	if (ns && ns->kind == TS_NETNS_NAMED && plain_name(ns->name))
		snprintf(nsarg, sizeof(nsarg), "%s", ns->name);
	else if (access(nsarg, F_OK) == 0)
		snprintf(nsarg, sizeof(nsarg), "/proc/%d/ns/net", (int)f->pid);
	else
		snprintf(nsarg, sizeof(nsarg), "%d", (int)f->pid);
	if (f->local_port) {
		snprintf(port, sizeof(port), " --sport %u", f->local_port);
	} else if (f->n_groups && f->groups[0].client && !f->groups_capped) {
		/* A client's sockets: the remote port, when all talk to one. */
		bool one = true;

		for (size_t i = 1; i < f->n_groups && one; i++)
			one = f->groups[i].client && f->groups[i].remote_port == f->groups[0].remote_port;
		if (one)
			snprintf(port, sizeof(port), " --dport %u", f->groups[0].remote_port);
	}
	snprintf(buf, size, "tcpstate close --netns %s --pid %d%s --state close-wait --min-idle %u --how %s",
		 nsarg, (int)f->pid, port, f->close_min_idle_s, how);
	return true;
}

#define FD_HAZARD \
	"Hazard: the program is not told. The next socket or file it opens gets the same fd " \
	"number; if it (or a connection pool's stale object) still uses the old number, it reads, " \
	"writes or closes that new one: another client gets this one's data, or close() fails " \
	"with EBADF."

/* The close commands of a CLOSE_WAIT finding, or why there are none. */
static void print_close_advice(const struct ts_finding *f, const struct ts_snapshot *snap)
{
	char cmd[256], text[640], d[32];
	uint64_t busy = f->count - f->closable;

	if (f->kind != TS_FINDING_CLOSE_WAIT || !f->pid)
		return;
	if (!f->closable) {
		if (!f->has_age) {
			snprintf(text, sizeof(text), "no command: the idle time of these sockets is unknown "
				 "(no tcp_info with this backend) and tcpstate close acts only on sockets idle "
				 "for --min-idle.");
		} else {
			ts_duration_text(f->busy_idle_ms, d, sizeof(d));
			snprintf(text, sizeof(text), "no command yet: none of these sockets has been idle "
				 "for %u s with nothing queued%s%s%s, so the program may still be using them "
				 "(for example, still computing the answer for a client that half-closed after its "
				 "request). tcpstate close skips such sockets (--min-idle); look again later.",
				 f->close_min_idle_s, f->has_busy ? " (the latest moved " : "",
				 f->has_busy ? d : "", f->has_busy ? " ago)" : "");
		}
		print_wrapped("close", text);
		return;
	}
	close_command(f, snap, "fin", cmd, sizeof(cmd));
	printf("  close     %s\n", cmd);
	snprintf(text, sizeof(text), "(sends the FIN the program never sent, on the %llu socket%s idle "
		 "for %u s or more with nothing queued; the fds stay open in the program; add --dry-run "
		 "to preview)", (unsigned long long)f->closable, f->closable == 1 ? "" : "s",
		 f->close_min_idle_s);
	print_wrapped("", text);
	if (busy) {
		ts_duration_text(f->busy_idle_ms, d, sizeof(d));
		snprintf(text, sizeof(text), "The other %llu moved data within %u s or have data queued%s%s%s: "
			 "the program may still be using them, and close skips them.",
			 (unsigned long long)busy, f->close_min_idle_s, f->has_busy ? " (the latest " : "",
			 f->has_busy ? d : "", f->has_busy ? " ago)" : "");
		print_wrapped("", text);
	}
	printf("            Only if the program will never touch these fds again:\n");
	close_command(f, snap, "fd", cmd, sizeof(cmd));
	printf("            %s\n", cmd);
	print_wrapped("", "(closes the fds inside the program. " FD_HAZARD ")");
}

static void print_sysctl(const struct ts_finding *f, enum ts_diagnose_sysctl id)
{
	const char *name = ts_diagnose_sysctl_name(id);

	if (f->sysctls.err[id])
		printf("            %s: unavailable (%s)\n", name, strerror(-f->sysctls.err[id]));
	else if (ts_sysctl_info(ts_diagnose_sysctl_id(id))->shape == TS_SYSCTL_SHAPE_RANGE)
		printf("            %s = %lld-%lld (%lld ports)\n", name, (long long)f->sysctls.value[id],
		       (long long)f->sysctls.value2[id],
		       (long long)(f->sysctls.value2[id] - f->sysctls.value[id] + 1));
	else
		printf("            %s = %lld\n", name, (long long)f->sysctls.value[id]);
}

static void print_process(const struct ts_finding *f, const char *label)
{
	const struct ts_procinfo *p = &f->proc;

	printf("  %-9s pid %d %s", label, (int)f->pid, f->comm[0] ? TERM_SAFE(f->comm) : "?");
	if (f->has_proc && p->cmdline[0])
		printf(" (%s)", TERM_SAFE(p->cmdline));
	putchar('\n');
	if (!f->has_proc) {
		printf("            (the process is gone, or /proc says nothing about it)\n");
		return;
	}
	if (p->unit[0] || p->container[0] || p->cgroup_err) {
		printf("           ");
		if (p->unit[0])
			printf(" systemd unit %s", TERM_SAFE(p->unit));
		if (p->container[0])
			printf("%s container %.12s", p->unit[0] ? "," : "", TERM_SAFE(p->container));
		if (p->cgroup_err)
			printf(" cgroup unavailable (%s)", strerror(-p->cgroup_err));
		putchar('\n');
	}
	printf("            open files ");
	if (p->fd_err)
		printf("unavailable (%s)", strerror(-p->fd_err));
	else
		printf("%u", p->fd_count);
	if (p->nofile_err)
		printf(", RLIMIT_NOFILE unavailable (%s)\n", strerror(-p->nofile_err));
	else if (p->nofile_soft == TS_PROCINFO_UNLIMITED)
		printf(" of unlimited (RLIMIT_NOFILE)\n");
	else {
		printf(" of %llu (RLIMIT_NOFILE soft", (unsigned long long)p->nofile_soft);
		if (!p->fd_err && p->nofile_soft)
			printf(", %.0f%%", 100.0 * p->fd_count / (double)p->nofile_soft);
		if (p->nofile_hard == TS_PROCINFO_UNLIMITED)
			printf("; hard unlimited)\n");
		else
			printf("; hard %llu)\n", (unsigned long long)p->nofile_hard);
	}
}

#define MAX_PIDS_SHOWN 8

/* "pid 4444 nginx (parent of the others), 4445, 4446 ... (12 processes)": every holder, oldest first. */
static void print_holders(const struct ts_finding *f, const struct ts_snapshot *snap)
{
	size_t total = f->n_pids + f->pids_omitted;

	(void)snap;
	if (total < 2)
		return;
	printf("  %-9s %zu processes hold these sockets (inherited across fork), oldest first: ",
	       "holders", total);
	for (size_t i = 0; i < f->n_pids && i < MAX_PIDS_SHOWN; i++)
		printf("%s%d", i ? ", " : "", (int)f->pids[i]);
	if (total > MAX_PIDS_SHOWN)
		printf(", ... (%zu more)", total - MAX_PIDS_SHOWN);
	putchar('\n');
}

static void print_groups(const struct ts_finding *f, bool unread)
{
	for (size_t i = 0; i < f->n_groups && i < MAX_GROUPS_SHOWN; i++) {
		const struct ts_finding_group *g = &f->groups[i];
		char ep[80], where[160] = "";
		size_t len = 0;

		if (g->client)
			len += (size_t)snprintf(where, sizeof(where), "connections to %s (this side is the client)",
						endpoint_text(g->family, &g->remote_addr, g->remote_port, ep,
							      sizeof(ep)));
		else if (g->local_port)
			len += (size_t)snprintf(where, sizeof(where), "local port %u", g->local_port);
		if (!g->client && (memcmp(&g->remote_addr, &in6addr_any, sizeof(in6addr_any)) || g->remote_port))
			snprintf(where + len, sizeof(where) - len, "%s<-> %s", len ? " " : "",
				 endpoint_text(g->family, &g->remote_addr, g->remote_port, ep, sizeof(ep)));
		printf("  %-9s %s%s%u socket%s", i == 0 ? "where" : "", where, where[0] ? ": " : "",
		       g->count, g->count == 1 ? "" : "s");
		if (unread)
			printf(", %llu bytes unread", (unsigned long long)g->unread_bytes);
		putchar('\n');
	}
	if (f->n_groups > MAX_GROUPS_SHOWN)
		printf("            ... and %zu more group%s (--json lists them)\n", f->n_groups - MAX_GROUPS_SHOWN,
		       f->n_groups - MAX_GROUPS_SHOWN == 1 ? "" : "s");
	if (f->groups_capped)
		printf("            the list stops at %zu groups: %llu more socket%s in other groups are "
		       "counted above, not listed\n", f->n_groups, (unsigned long long)f->ungrouped,
		       f->ungrouped == 1 ? "" : "s");
}

/* Why a finding is critical, when a holder (not the rule's own count) made it so. */
static void print_severity_reason(const struct ts_finding *f)
{
	char text[256];

	switch (f->severity_reason) {
	case TS_SEV_REASON_HELD:
		snprintf(text, sizeof(text), "critical: pid %d holds %llu sockets in CLOSE_WAIT or "
			 "CLOSED, their fds still open (--close-wait-critical)", (int)f->severity_pid,
			 (unsigned long long)f->held_stale);
		break;
	case TS_SEV_REASON_FD_LIMIT:
		snprintf(text, sizeof(text), "critical: pid %d's open files reached --fd-critical-pct "
			 "of its RLIMIT_NOFILE", (int)f->severity_pid);
		break;
	case TS_SEV_REASON_FD_ETA:
		snprintf(text, sizeof(text), "critical: at this rate it runs out of file descriptors "
			 "within --leak-critical seconds");
		break;
	default:
		return;
	}
	print_wrapped("severity", text);
}

/* "312 fds of connections that 10.0.0.5:5432 reset" (a reset still pending
 * for the program), else "fds of connections to 10.0.0.5:5432 that ended". */
static void print_dead_peers(const struct ts_finding *f)
{
	for (size_t i = 0; i < f->n_groups && i < MAX_GROUPS_SHOWN; i++) {
		const struct ts_finding_group *g = &f->groups[i];
		char ep[80];

		endpoint_text(g->family, &g->remote_addr, g->remote_port, ep, sizeof(ep));
		printf("  %-9s ", i == 0 ? "peers" : "");
		if (g->resets)
			printf("%u fd%s of connections that %s reset", g->resets,
			       g->resets == 1 ? "" : "s", ep);
		if (g->resets && g->count > g->resets)
			printf("; ");
		if (g->count > g->resets)
			printf("%u fd%s of connections to %s that ended", g->count - g->resets,
			       g->count - g->resets == 1 ? "" : "s", ep);
		putchar('\n');
	}
	if (f->n_groups > MAX_GROUPS_SHOWN)
		printf("            ... and %zu more\n", f->n_groups - MAX_GROUPS_SHOWN);
	if (f->groups_capped)
		printf("            the list stops at %zu peers: %llu more fd%s are counted above, not listed\n",
		       f->n_groups, (unsigned long long)f->ungrouped, f->ungrouped == 1 ? "" : "s");
}

/* Why no process is named. */
static const char *unknown_process_text(const struct ts_diagnosis *d, const struct doctor_view *v)
{
	if (!d->owners_known)
		return "owners were not scanned (--no-owners)";
	if (v->pidns_known && !v->pidns_initial)
		return "no process in tcpstate's pid namespace holds them. tcpstate runs in a pid "
		       "namespace that is not the host's, where processes outside it have no pid, so "
		       "holders there cannot be named. Run tcpstate in the host's pid namespace (on "
		       "the host, or in a container started with it, e.g. docker run --pid=host)";
	return "no process holding them was found: the holder exited, or its fds could not be read";
}

static void print_limit(const char *what, const struct ts_finding *f)
{
	if (f->limit_err)
		printf("            %s: unavailable (%s), not compared\n", what, strerror(-f->limit_err));
}

/* The kernel's counters the finding cites, as nstat names them. */
static void print_counters(const struct ts_finding *f)
{
	bool first = true;

	for (unsigned k = 0; k < _TS_NSTAT_MAX; k++) {
		if (!(f->netstat_mask & (1u << k)))
			continue;
		printf("%s%-26s %llu\n", first ? "  counters  " : "            ",
		       ts_netstat_name((enum ts_netstat_counter)k), (unsigned long long)f->netstat.value[k]);
		first = false;
	}
	if (!first)
		printf("            (nstat -az NAME; counted since the namespace was created)\n");
}

/* ---- a finding as text: the lines after its title, by kind ---- */

static void evidence_close_wait(const struct ts_diagnosis *d, const struct ts_finding *f,
				const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char buf[512], d1[32];

	if (f->pid) {
		print_process(f, "process");
		print_holders(f, snap);
	} else {
		snprintf(buf, sizeof(buf), "unknown: %s.", unknown_process_text(d, v));
		print_wrapped("process", buf);
	}
	fds_text(f->fds, f->n_fds, buf, sizeof(buf));
	printf("  evidence  %llu socket%s in CLOSE_WAIT for %u s or more%s%s; %llu bytes unread\n",
	       (unsigned long long)f->count, f->count == 1 ? "" : "s", f->min_age_s,
	       f->n_fds ? " on fds " : "", buf, (unsigned long long)f->unread_bytes);
	if (f->young) {
		snprintf(buf, sizeof(buf), "(and %llu younger than %u s, not counted: a program may "
			 "be closing them right now)", (unsigned long long)f->young, f->min_age_s);
		print_wrapped("", buf);
	}
	if (f->unknown_age)
		printf("            %llu of them without tcp_info: their age is unknown\n",
		       (unsigned long long)f->unknown_age);
	if (f->eof_read)
		printf("            %llu of them: the program already read end-of-file (Recv-Q 0) "
		       "and still did not close\n", (unsigned long long)f->eof_read);
	if (f->has_age) {
		ts_duration_text(f->age_min_ms, d1, sizeof(d1));
		printf("            the oldest has been in CLOSE_WAIT for at least %s "
		       "(the peer last sent anything that long ago)\n", d1);
	} else {
		printf("            age: unavailable (no tcp_info with this backend)\n");
	}
	print_groups(f, true);
}

static void evidence_leak(const struct ts_diagnosis *d, const struct ts_finding *f,
			  const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char d1[32];

	print_process(f, "process");
	print_holders(f, snap);
	printf("  evidence  CLOSE_WAIT (%u s or older) %llu -> %llu: +%.1f/s", f->min_age_s,
	       (unsigned long long)f->count_before, (unsigned long long)f->count, f->rate_per_s);
	if (f->fd_rate_per_s != 0)
		printf("; open files %+.1f/s", f->fd_rate_per_s);
	putchar('\n');
	if (f->count_before)
		printf("            all %llu of the first look still held at the second (none closed)\n",
		       (unsigned long long)f->kept);
	if (f->has_eta) {
		ts_duration_text((uint64_t)(f->seconds_to_limit * 1000), d1, sizeof(d1));
		printf("            at this rate it reaches RLIMIT_NOFILE (%llu) in about %s\n",
		       (unsigned long long)f->limit, d1);
	} else {
		print_limit("time to fd exhaustion", f);
		if (!f->limit_err)
			printf("            no finite RLIMIT_NOFILE: it grows until memory runs out\n");
	}
}

static void evidence_dead_held(const struct ts_diagnosis *d, const struct ts_finding *f,
			       const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char buf[512];

	print_process(f, "process");
	print_holders(f, snap);
	fds_text(f->fds, f->n_fds, buf, sizeof(buf));
	printf("  evidence  %u CLOSED, %u IDLE socket fd%s: %s\n", f->state_counts[TS_STATE_CLOSED],
	       f->state_counts[TS_STATE_IDLE], f->count == 1 ? "" : "s", buf);
	print_dead_peers(f);
}

static void evidence_fin_wait_2_peer(const struct ts_diagnosis *d, const struct ts_finding *f,
				     const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char ep[80], d1[32];

	printf("  culprit   the program at %s (remote side) has not closed\n",
	       endpoint_text(f->family, &f->remote_addr, f->remote_port, ep, sizeof(ep)));
	if (f->peer_pid)
		printf("            that end is here: pid %d %s holds it (CLOSE_WAIT)\n",
		       (int)f->peer_pid, TERM_SAFE(f->peer_comm));
	printf("  evidence  %llu socket%s in FIN_WAIT_2\n", (unsigned long long)f->count,
	       f->count == 1 ? "" : "s");
	if (f->has_age) {
		ts_duration_text(f->age_min_ms, d1, sizeof(d1));
		printf("            the peer has sent nothing for at least %s\n", d1);
	}
	if (f->pid)
		print_process(f, "held by");
	print_groups(f, false);
}

static void evidence_fin_wait_2_orphan(const struct ts_diagnosis *d, const struct ts_finding *f,
				       const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char buf[512];

	printf("  evidence  %llu orphaned socket%s in FIN_WAIT_2 (no program holds them)\n",
	       (unsigned long long)f->count, f->count == 1 ? "" : "s");
	if (f->limit_err)
		print_limit("how long they last (tcp_fin_timeout)", f);
	else
		printf("            each lasts at most tcp_fin_timeout = %llu s\n",
		       (unsigned long long)f->limit);
	if (f->peer_linked) {
		char peer[64] = "";

		if (f->peer_pid)
			snprintf(peer, sizeof(peer), ", held by pid %d %s", (int)f->peer_pid,
				 TERM_SAFE(f->peer_comm));
		snprintf(buf, sizeof(buf), "%llu of them: the other end is here, in CLOSE_WAIT%s "
			 "(see its CLOSE_WAIT finding%s)", (unsigned long long)f->peer_linked, peer,
			 f->peer_pid ? "" : "; its holder is not named");
		print_wrapped("peer", buf);
	}
	print_groups(f, false);
}

static void evidence_unacked_close(const struct ts_diagnosis *d, const struct ts_finding *f,
				   const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char ep[80];

	printf("  culprit   remote address %s is not acknowledging\n",
	       addr_text(f->family, &f->remote_addr, ep, sizeof(ep)));
	printf("  evidence  %llu socket%s: LAST_ACK %u, FIN_WAIT_1 %u, CLOSING %u; up to %u "
	       "retransmission%s\n", (unsigned long long)f->count, f->count == 1 ? "" : "s",
	       f->state_counts[TS_STATE_LAST_ACK], f->state_counts[TS_STATE_FIN_WAIT_1],
	       f->state_counts[TS_STATE_CLOSING], f->max_retransmits,
	       f->max_retransmits == 1 ? "" : "s");
	if (f->pid)
		print_process(f, "held by");
	print_groups(f, false);
}

static void evidence_time_wait_buckets(const struct ts_diagnosis *d, const struct ts_finding *f,
				       const struct ts_snapshot *snap, const struct doctor_view *v)
{
	printf("  evidence  %llu TIME_WAIT record%s", (unsigned long long)f->count,
	       f->count == 1 ? "" : "s");
	if (f->state_counts[TS_STATE_FIN_WAIT_2])
		printf(" (%u of them orphaned FIN_WAIT_2)", f->state_counts[TS_STATE_FIN_WAIT_2]);
	if (!f->limit_err)
		printf(" of tcp_max_tw_buckets %llu (%.0f%%)\n", (unsigned long long)f->limit,
		       f->limit ? 100.0 * (double)f->count / (double)f->limit : 0.0);
	else
		putchar('\n');
	print_limit("tcp_max_tw_buckets", f);
}

static void evidence_time_wait_ports(const struct ts_diagnosis *d, const struct ts_finding *f,
				     const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char ep[80];

	printf("  culprit   outgoing connections to %s\n",
	       endpoint_text(f->family, &f->remote_addr, f->remote_port, ep, sizeof(ep)));
	printf("  evidence  %llu local ports in TIME_WAIT", (unsigned long long)f->count);
	if (!f->limit_err)
		printf(" of %llu in ip_local_port_range (%.0f%%)\n", (unsigned long long)f->limit,
		       100.0 * (double)f->count / (double)f->limit);
	else
		putchar('\n');
	print_limit("ip_local_port_range", f);
}

static void evidence_accept_queue(const struct ts_diagnosis *d, const struct ts_finding *f,
				  const struct ts_snapshot *snap, const struct doctor_view *v)
{
	if (f->pid)
		print_process(f, "process");
	print_holders(f, snap);
	printf("  evidence  listener on port %u: %llu connection%s waiting for accept(), "
	       "backlog %llu%s\n", f->local_port, (unsigned long long)f->count,
	       f->count == 1 ? "" : "s", (unsigned long long)f->limit,
	       f->count > f->limit ? " (over the backlog: the kernel drops new handshakes)"
	       : f->count == f->limit ? " (at the backlog: one more handshake is queued, the "
					"ones after it are dropped)" : "");
}

static void evidence_syn_backlog(const struct ts_diagnosis *d, const struct ts_finding *f,
				 const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char buf[512];

	if (f->pid)
		print_process(f, "process");
	printf("  evidence  %llu half-open connection%s on port %u; limit %llu; up to %u SYN-ACK "
	       "retransmission%s\n", (unsigned long long)f->count, f->count == 1 ? "" : "s",
	       f->local_port, (unsigned long long)f->limit, f->max_retransmits,
	       f->max_retransmits == 1 ? "" : "s");
	print_limit("tcp_max_syn_backlog", f);
	if (f->defer_accept_err)
		printf("            whether the listener defers accept (TCP_DEFER_ACCEPT) is unknown "
		       "(%s): if it does, these clients only have not sent data yet\n",
		       cli_fd_copy_error(f->defer_accept_err, buf, sizeof(buf)));
	print_groups(f, false);
}

static void evidence_defer_accept(const struct ts_diagnosis *d, const struct ts_finding *f,
				  const struct ts_snapshot *snap, const struct doctor_view *v)
{
	if (f->pid)
		print_process(f, "process");
	printf("  evidence  %llu connection%s on port %u wait%s for the client's first data; the "
	       "listener defers accept (TCP_DEFER_ACCEPT %u s); backlog %llu%s\n",
	       (unsigned long long)f->count, f->count == 1 ? "" : "s", f->local_port,
	       f->count == 1 ? "s" : "", f->defer_accept_s, (unsigned long long)f->limit,
	       f->count > f->limit ? " (full: new clients get SYN cookies or are dropped)" : "");
	print_groups(f, false);
}

static void evidence_syn_sent(const struct ts_diagnosis *d, const struct ts_finding *f,
			      const struct ts_snapshot *snap, const struct doctor_view *v)
{
	char ep[80];

	printf("  culprit   destination %s does not answer\n",
	       endpoint_text(f->family, &f->remote_addr, f->remote_port, ep, sizeof(ep)));
	printf("  evidence  %llu of %u connect()s retransmitting their SYN (up to %u times)\n",
	       (unsigned long long)f->count, f->state_counts[TS_STATE_SYN_SENT], f->max_retransmits);
	if (f->pid)
		print_process(f, "held by");
}

/* Each kind's "culprit", "process" and "evidence" lines. */
static void (*const finding_evidence[_TS_FINDING_MAX])(const struct ts_diagnosis *, const struct ts_finding *,
						      const struct ts_snapshot *,
						      const struct doctor_view *) = {
	[TS_FINDING_CLOSE_WAIT] = evidence_close_wait,
	[TS_FINDING_LEAK] = evidence_leak,
	[TS_FINDING_DEAD_HELD] = evidence_dead_held,
	[TS_FINDING_FIN_WAIT_2_PEER] = evidence_fin_wait_2_peer,
	[TS_FINDING_FIN_WAIT_2_ORPHAN] = evidence_fin_wait_2_orphan,
	[TS_FINDING_UNACKED_CLOSE] = evidence_unacked_close,
	[TS_FINDING_TIME_WAIT_BUCKETS] = evidence_time_wait_buckets,
	[TS_FINDING_TIME_WAIT_PORTS] = evidence_time_wait_ports,
	[TS_FINDING_ACCEPT_QUEUE] = evidence_accept_queue,
	[TS_FINDING_SYN_BACKLOG] = evidence_syn_backlog,
	[TS_FINDING_DEFER_ACCEPT] = evidence_defer_accept,
	[TS_FINDING_SYN_SENT] = evidence_syn_sent,
};

static void print_finding(const struct ts_diagnosis *d, const struct ts_finding *f,
			  const struct ts_snapshot *snap, bool all_netns, const struct doctor_view *v)
{
	char sev[16];
	const struct ts_netns *ns = ts_snapshot_netns(snap, f->netns_index);

	snprintf(sev, sizeof(sev), "%s", ts_severity_name(f->severity));
	for (char *c = sev; *c; c++)
		*c = (char)(*c - ('a' <= *c && *c <= 'z' ? 32 : 0));
	printf("[%s] %s", sev, f->title);
	if (all_netns && ns)
		printf(" (netns %s)", TERM_SAFE(ns->name));
	putchar('\n');

	if (f->kind < _TS_FINDING_MAX && finding_evidence[f->kind])
		finding_evidence[f->kind](d, f, snap, v);
	print_severity_reason(f);
	print_wrapped("why", f->explanation);
	print_wrapped("do", f->advice);
	print_close_advice(f, snap);
	print_counters(f);
	if (f->sysctl_mask) {
		printf("  settings\n");
		for (unsigned id = 0; id < _TS_DS_MAX; id++)
			if (f->sysctl_mask & (1u << id))
				print_sysctl(f, (enum ts_diagnose_sysctl)id);
	}
	putchar('\n');
}

void doctor_print_text(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, const struct doctor_view *v)
{
	enum ts_severity min = v->min;
	unsigned interval = v->interval;
	const struct ts_netns *ns = ts_snapshot_netns(snap, 0);
	size_t shown = ts_diagnosis_count_at_least(d, min), by[_TS_SEVERITY_MAX] = { 0 };
	char title[160];

	if (a->opts.all_netns)
		snprintf(title, sizeof(title), "TCP sockets by state, all %zu network namespaces",
			 ts_snapshot_netns_count(snap));
	else
		snprintf(title, sizeof(title), "TCP sockets by state, network namespace %s",
			 ns ? ns->name : "?"); /* sanitized by output_state_counts_text() */
	output_state_counts_text(stdout, d->state_counts, title);
	putchar('\n');
	for (size_t i = 0; i < d->n_findings; i++)
		by[d->findings[i].severity]++;
	if (!shown) {
		printf("No findings%s%s.\n", min > TS_SEVERITY_INFO ? " at or above " : "",
		       min > TS_SEVERITY_INFO ? ts_severity_name(min) : "");
	} else {
		printf("Findings: %zu critical, %zu warning, %zu info", by[TS_SEVERITY_CRITICAL],
		       by[TS_SEVERITY_WARNING], by[TS_SEVERITY_INFO]);
		if (interval)
			printf(" (two looks %u s apart)", interval);
		printf("\n\n");
		for (size_t i = 0; i < d->n_findings; i++)
			if (d->findings[i].severity >= min)
				print_finding(d, &d->findings[i], snap, a->opts.all_netns, v);
	}
	if (!d->owners_known)
		printf("Note: owners were not scanned (--no-owners): rules that name processes "
		       "(CLOSE_WAIT holders, dead fds, leaks) could not run fully.\n");
}

/* ---- JSON ---- */

static json_object *jerr(int err)
{
	return json_object_new_string(strerror(-err));
}

static json_object *proc_json(const struct ts_finding *f)
{
	const struct ts_procinfo *p = &f->proc;
	json_object *o = json_object_new_object(), *fds = json_object_new_array();

	json_object_object_add(o, "pid", json_object_new_int(f->pid));
	json_object_object_add(o, "comm", json_object_new_string(f->comm));
	for (size_t i = 0; i < f->n_fds; i++)
		json_object_array_add(fds, json_object_new_int(f->fds[i]));
	json_object_object_add(o, "fds", fds);
	if (!f->has_proc) {
		json_object_object_add(o, "unavailable", json_object_new_string("process facts"));
		return o;
	}
	json_object_object_add(o, "cmdline", p->cmdline_err ? NULL : json_object_new_string(p->cmdline));
	json_object_object_add(o, "unit", p->unit[0] ? json_object_new_string(p->unit) : NULL);
	json_object_object_add(o, "container", p->container[0] ? json_object_new_string(p->container) : NULL);
	json_object_object_add(o, "fd_count", p->fd_err ? NULL : json_object_new_int64(p->fd_count));
	json_object_object_add(o, "nofile_soft", p->nofile_err || p->nofile_soft == TS_PROCINFO_UNLIMITED
			       ? NULL : json_object_new_int64((int64_t)p->nofile_soft));
	json_object_object_add(o, "nofile_hard", p->nofile_err || p->nofile_hard == TS_PROCINFO_UNLIMITED
			       ? NULL : json_object_new_int64((int64_t)p->nofile_hard));
	if (p->nofile_err || p->fd_err || p->cmdline_err || p->cgroup_err) {
		json_object *u = json_object_new_object();

		if (p->nofile_err)
			json_object_object_add(u, "limits", jerr(p->nofile_err));
		if (p->fd_err)
			json_object_object_add(u, "fd", jerr(p->fd_err));
		if (p->cmdline_err)
			json_object_object_add(u, "cmdline", jerr(p->cmdline_err));
		if (p->cgroup_err)
			json_object_object_add(u, "cgroup", jerr(p->cgroup_err));
		json_object_object_add(o, "unavailable", u);
	}
	return o;
}

static const char *const severity_reason_ids[] = {
	[TS_SEV_REASON_RULE] = "rule",
	[TS_SEV_REASON_HELD] = "held",
	[TS_SEV_REASON_FD_LIMIT] = "fd-limit",
	[TS_SEV_REASON_FD_ETA] = "fd-eta",
};

static json_object *severity_reason_json(const struct ts_finding *f)
{
	json_object *why = json_object_new_object();

	json_object_object_add(why, "by", json_object_new_string(severity_reason_ids[f->severity_reason]));
	if (f->severity_reason != TS_SEV_REASON_RULE)
		json_object_object_add(why, "pid", json_object_new_int(f->severity_pid));
	if (f->severity_reason == TS_SEV_REASON_HELD)
		json_object_object_add(why, "held", json_object_new_int64((int64_t)f->held_stale));
	return why;
}

/* The evidence keys that belong to some kinds only. */
static void evidence_kind_json(json_object *ev, const struct ts_finding *f)
{
	if (f->kind == TS_FINDING_CLOSE_WAIT) {
		json_object_object_add(ev, "unread_bytes", json_object_new_int64((int64_t)f->unread_bytes));
		json_object_object_add(ev, "eof_read", json_object_new_int64((int64_t)f->eof_read));
		json_object_object_add(ev, "closable", json_object_new_int64((int64_t)f->closable));
		json_object_object_add(ev, "close_min_idle_s", json_object_new_int64(f->close_min_idle_s));
		json_object_object_add(ev, "busy_idle_ms", f->has_busy ? json_object_new_int64((int64_t)f->busy_idle_ms) : NULL);
		json_object_object_add(ev, "young", json_object_new_int64((int64_t)f->young));
		json_object_object_add(ev, "unknown_age", json_object_new_int64((int64_t)f->unknown_age));
	}
	if (f->kind == TS_FINDING_CLOSE_WAIT || f->kind == TS_FINDING_LEAK)
		json_object_object_add(ev, "min_age_s", json_object_new_int64(f->min_age_s));
	if (f->kind == TS_FINDING_LEAK)
		json_object_object_add(ev, "kept", json_object_new_int64((int64_t)f->kept));
	if (f->kind == TS_FINDING_FIN_WAIT_2_ORPHAN)
		json_object_object_add(ev, "peer_linked", json_object_new_int64((int64_t)f->peer_linked));
}

/* Rates of the second look, and the sockets per state. */
static void evidence_counts_json(json_object *ev, const struct ts_finding *f)
{
	if (f->has_rate) {
		json_object_object_add(ev, "count_before", json_object_new_int64((int64_t)f->count_before));
		json_object_object_add(ev, "rate_per_s", json_object_new_double(f->rate_per_s));
		json_object_object_add(ev, "fd_rate_per_s", json_object_new_double(f->fd_rate_per_s));
		json_object_object_add(ev, "seconds_to_limit",
				       f->has_eta ? json_object_new_double(f->seconds_to_limit) : NULL);
	}
	for (unsigned st = 0; st < _TS_STATE_MAX; st++)
		if (f->state_counts[st]) {
			json_object *sc;

			if (!json_object_object_get_ex(ev, "states", &sc)) {
				sc = json_object_new_object();
				json_object_object_add(ev, "states", sc);
			}
			json_object_object_add(sc, ts_state_name((enum ts_state)st),
					       json_object_new_int64(f->state_counts[st]));
		}
}

static json_object *evidence_json(const struct ts_finding *f)
{
	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "count", json_object_new_int64((int64_t)f->count));
	evidence_kind_json(ev, f);
	json_object_object_add(ev, "age_min_ms", f->has_age ? json_object_new_int64((int64_t)f->age_min_ms) : NULL);
	if (f->limit || f->limit_err)
		json_object_object_add(ev, "limit", f->limit_err ? NULL : json_object_new_int64((int64_t)f->limit));
	if (f->limit_err)
		json_object_object_add(ev, "limit_unavailable", jerr(f->limit_err));
	if (f->max_retransmits)
		json_object_object_add(ev, "max_retransmits", json_object_new_int64(f->max_retransmits));
	if (f->kind == TS_FINDING_SYN_BACKLOG || f->kind == TS_FINDING_DEFER_ACCEPT)
		json_object_object_add(ev, "defer_accept_s", f->defer_accept_err ? NULL :
				       json_object_new_int64(f->defer_accept_s));
	if (f->netstat_mask) {
		json_object *cnt = json_object_new_object();

		for (unsigned k = 0; k < _TS_NSTAT_MAX; k++)
			if (f->netstat_mask & (1u << k))
				json_object_object_add(cnt, ts_netstat_name((enum ts_netstat_counter)k),
						       json_object_new_int64((int64_t)f->netstat.value[k]));
		json_object_object_add(ev, "counters", cnt);
	}
	evidence_counts_json(ev, f);
	return ev;
}

/* Who: "process", "pids", ..., "remote", "peer_process". */
static void who_json(json_object *o, const struct ts_diagnosis *d, const struct ts_finding *f,
		     const struct doctor_view *v)
{
	json_object *pids = json_object_new_array();
	char ab[INET6_ADDRSTRLEN];

	json_object_object_add(o, "process", f->pid ? proc_json(f) : NULL);
	for (size_t i = 0; i < f->n_pids; i++)
		json_object_array_add(pids, json_object_new_int(f->pids[i]));
	json_object_object_add(o, "pids", pids);
	json_object_object_add(o, "pids_omitted", json_object_new_int64((int64_t)f->pids_omitted));
	if (!f->pid && (f->kind == TS_FINDING_CLOSE_WAIT))
		json_object_object_add(o, "process_unknown", json_object_new_string(unknown_process_text(d, v)));
	json_object_object_add(o, "local_port", f->local_port ? json_object_new_int(f->local_port) : NULL);
	if (f->has_remote) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "addr", json_object_new_string(addr_text(f->family, &f->remote_addr, ab, sizeof(ab))));
		json_object_object_add(r, "port", f->remote_port ? json_object_new_int(f->remote_port) : NULL);
		json_object_object_add(o, "remote", r);
	} else {
		json_object_object_add(o, "remote", NULL);
	}
	if (f->peer_pid) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "pid", json_object_new_int(f->peer_pid));
		json_object_object_add(p, "comm", json_object_new_string(f->peer_comm));
		json_object_object_add(o, "peer_process", p);
	}
}

static json_object *groups_json(const struct ts_finding *f)
{
	json_object *groups = json_object_new_array();
	char ab[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < f->n_groups; i++) {
		const struct ts_finding_group *g = &f->groups[i];
		json_object *e = json_object_new_object();
		bool any = memcmp(&g->remote_addr, &in6addr_any, sizeof(in6addr_any)) || g->remote_port;

		json_object_object_add(e, "local_port", g->local_port ? json_object_new_int(g->local_port) : NULL);
		json_object_object_add(e, "remote_addr", any ? json_object_new_string(addr_text(g->family, &g->remote_addr, ab, sizeof(ab))) : NULL);
		json_object_object_add(e, "remote_port", g->remote_port ? json_object_new_int(g->remote_port) : NULL);
		json_object_object_add(e, "count", json_object_new_int64(g->count));
		json_object_object_add(e, "by", json_object_new_string(g->client ? "remote" : "local"));
		if (f->kind == TS_FINDING_CLOSE_WAIT)
			json_object_object_add(e, "unread_bytes", json_object_new_int64((int64_t)g->unread_bytes));
		if (f->kind == TS_FINDING_DEAD_HELD)
			json_object_object_add(e, "resets", json_object_new_int64(g->resets));
		json_object_array_add(groups, e);
	}
	return groups;
}

static json_object *sysctls_json(const struct ts_finding *f)
{
	json_object *sys = json_object_new_object();

	for (unsigned id = 0; id < _TS_DS_MAX; id++) {
		json_object *val;

		if (!(f->sysctl_mask & (1u << id)))
			continue;
		if (f->sysctls.err[id]) {
			val = json_object_new_object();
			json_object_object_add(val, "unavailable", jerr(f->sysctls.err[id]));
		} else if (ts_sysctl_info(ts_diagnose_sysctl_id((enum ts_diagnose_sysctl)id))->shape ==
			   TS_SYSCTL_SHAPE_RANGE) {
			val = json_object_new_array();
			json_object_array_add(val, json_object_new_int64(f->sysctls.value[id]));
			json_object_array_add(val, json_object_new_int64(f->sysctls.value2[id]));
		} else {
			val = json_object_new_int64(f->sysctls.value[id]);
		}
		json_object_object_add(sys, ts_diagnose_sysctl_name((enum ts_diagnose_sysctl)id), val);
	}
	return sys;
}

/* The close commands of a CLOSE_WAIT finding, or NULL. */
static json_object *close_commands_json(const struct ts_finding *f, const struct ts_snapshot *snap)
{
	json_object *cmds;
	char cmd[256];

	if (!close_command(f, snap, "fin", cmd, sizeof(cmd)))
		return NULL;
	cmds = json_object_new_object();
	json_object_object_add(cmds, "fin", json_object_new_string(cmd));
	close_command(f, snap, "fd", cmd, sizeof(cmd));
	json_object_object_add(cmds, "fd", json_object_new_string(cmd));
	json_object_object_add(cmds, "fd_hazard", json_object_new_string(FD_HAZARD));
	return cmds;
}

struct json_object *doctor_finding_json_head(const struct ts_finding *f, const struct ts_snapshot *snap)
{
	json_object *o = json_object_new_object();
	const struct ts_netns *ns = ts_snapshot_netns(snap, f->netns_index);

	json_object_object_add(o, "severity", json_object_new_string(ts_severity_name(f->severity)));
	json_object_object_add(o, "kind", json_object_new_string(ts_finding_kind_id(f->kind)));
	json_object_object_add(o, "title", json_object_new_string(f->title));
	json_object_object_add(o, "state", json_object_new_string(ts_state_name(f->state)));
	json_object_object_add(o, "netns", ns ? json_object_new_string(ns->name) : NULL);
	return o;
}

static json_object *finding_json(const struct ts_diagnosis *d, const struct ts_finding *f,
				 const struct ts_snapshot *snap, const struct doctor_view *v)
{
	json_object *o = doctor_finding_json_head(f, snap), *cmds;

	json_object_object_add(o, "severity_reason", severity_reason_json(f));
	json_object_object_add(o, "evidence", evidence_json(f));
	who_json(o, d, f, v);
	json_object_object_add(o, "groups", groups_json(f));
	json_object_object_add(o, "groups_capped", json_object_new_boolean(f->groups_capped));
	json_object_object_add(o, "ungrouped", json_object_new_int64((int64_t)f->ungrouped));
	json_object_object_add(o, "sysctls", sysctls_json(f));
	json_object_object_add(o, "explanation", json_object_new_string(f->explanation));
	json_object_object_add(o, "advice", json_object_new_string(f->advice));
	cmds = close_commands_json(f, snap);
	if (cmds)
		json_object_object_add(o, "close_commands", cmds);
	return o;
}

void doctor_print_json(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, const struct doctor_view *v)
{
	enum ts_severity min = v->min;
	unsigned interval = v->interval;
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array();

	cli_json_header(root);
	json_object_object_add(root, "states", output_state_counts_json(d->state_counts));
	json_object_object_add(root, "netns", cli_json_netns_names(snap));
	json_object_object_add(root, "interval", interval ? json_object_new_int(interval) : NULL);
	json_object_object_add(root, "owners_scanned", json_object_new_boolean(d->owners_known));
	json_object_object_add(root, "pid_namespace_initial",
			       v->pidns_known ? json_object_new_boolean(v->pidns_initial) : NULL);
	for (size_t i = 0; i < d->n_findings; i++)
		if (d->findings[i].severity >= min)
			json_object_array_add(arr, finding_json(d, &d->findings[i], snap, v));
	json_object_object_add(root, "findings", arr);
	(void)a;
	term_safe_json_puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), stdout);
	json_object_put(root);
}
