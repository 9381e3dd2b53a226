/* SPDX-License-Identifier: MIT */
/* tcpstate doctor: the report as text and as one JSON document. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "doctor_output.h"
#include "output.h"
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

static void duration_text(double s, char *buf, size_t size)
{
	if (s < 1)
		snprintf(buf, size, "%.0f ms", s * 1000);
	else if (s < 120)
		snprintf(buf, size, "%.1f s", s);
	else if (s < 7200)
		snprintf(buf, size, "%.1f min", s / 60);
	else if (s < 172800)
		snprintf(buf, size, "%.1f h", s / 3600);
	else
		snprintf(buf, size, "%.1f days", s / 86400);
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
 * "fd"). A namespace without a /run/netns name, or with one a shell would
 * mangle, is named by the holder's pid; by its /proc path when a /run/netns
 * name made of the same digits would win over the pid.
 * False when the finding has no holder to name.
 */
static bool close_command(const struct ts_finding *f, const struct ts_snapshot *snap,
			  const char *how, char *buf, size_t size)
{
	const struct ts_netns *ns = ts_snapshot_netns(snap, f->netns_index);
	char nsarg[80], port[32] = "";

	if (f->kind != TS_FINDING_CLOSE_WAIT || !f->pid)
		return false;
	snprintf(nsarg, sizeof(nsarg), "/run/netns/%d", (int)f->pid);
	if (ns && strcmp(ns->name, "init") != 0 && strncmp(ns->name, "net:[", 5) != 0 &&
	    plain_name(ns->name))
		snprintf(nsarg, sizeof(nsarg), "%s", ns->name);
	else if (access(nsarg, F_OK) == 0)
		snprintf(nsarg, sizeof(nsarg), "/proc/%d/ns/net", (int)f->pid);
	else
		snprintf(nsarg, sizeof(nsarg), "%d", (int)f->pid);
	if (f->local_port)
		snprintf(port, sizeof(port), " --sport %u", f->local_port);
	snprintf(buf, size, "tcpstate close --netns %s --pid %d%s --state close-wait --how %s",
		 nsarg, (int)f->pid, port, how);
	return true;
}

static void print_sysctl(const struct ts_finding *f, enum ts_diag_sysctl id)
{
	const char *name = ts_diag_sysctl_name(id);

	if (f->sysctls.err[id])
		printf("            %s: unavailable (%s)\n", name, strerror(-f->sysctls.err[id]));
	else if (id == TS_DS_PORT_RANGE)
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

static void print_groups(const struct ts_finding *f, bool unread)
{
	for (size_t i = 0; i < f->n_groups && i < MAX_GROUPS_SHOWN; i++) {
		const struct ts_finding_group *g = &f->groups[i];
		char ep[80], where[160] = "";
		size_t len = 0;

		if (g->local_port)
			len += (size_t)snprintf(where, sizeof(where), "local port %u", g->local_port);
		if (memcmp(&g->remote_addr, &in6addr_any, sizeof(in6addr_any)) || g->remote_port)
			snprintf(where + len, sizeof(where) - len, "%s<-> %s", len ? " " : "",
				 endpoint_text(g->family, &g->remote_addr, g->remote_port, ep, sizeof(ep)));
		printf("  %-9s %s%s%u socket%s", i == 0 ? "where" : "", where, where[0] ? ": " : "",
		       g->count, g->count == 1 ? "" : "s");
		if (unread)
			printf(", %llu bytes unread", (unsigned long long)g->unread_bytes);
		putchar('\n');
	}
	if (f->n_groups > MAX_GROUPS_SHOWN)
		printf("            ... and %zu more\n", f->n_groups - MAX_GROUPS_SHOWN);
}

static void print_limit(const char *what, const struct ts_finding *f)
{
	if (f->limit_err)
		printf("            %s: unavailable (%s), not compared\n", what, strerror(-f->limit_err));
}

static void print_finding(const struct ts_finding *f, const struct ts_snapshot *snap, bool all_netns)
{
	char sev[16], buf[512], ep[80], d1[32];
	const struct ts_netns *ns = ts_snapshot_netns(snap, f->netns_index);

	snprintf(sev, sizeof(sev), "%s", ts_severity_name(f->severity));
	for (char *c = sev; *c; c++)
		*c = (char)(*c - ('a' <= *c && *c <= 'z' ? 32 : 0));
	printf("[%s] %s", sev, f->title);
	if (all_netns && ns)
		printf(" (netns %s)", TERM_SAFE(ns->name));
	putchar('\n');

	switch (f->kind) {
	case TS_FINDING_CLOSE_WAIT:
		if (f->pid)
			print_process(f, "process");
		else
			printf("  process   unknown (owners not scanned or not readable)\n");
		fds_text(f->fds, f->n_fds, buf, sizeof(buf));
		printf("  evidence  %llu socket%s in CLOSE_WAIT%s%s; %llu bytes unread\n",
		       (unsigned long long)f->count, f->count == 1 ? "" : "s", f->n_fds ? " on fds " : "",
		       buf, (unsigned long long)f->unread_bytes);
		if (f->eof_read)
			printf("            %llu of them: the program already read end-of-file (Recv-Q 0) "
			       "and still did not close\n", (unsigned long long)f->eof_read);
		if (f->has_age) {
			duration_text((double)f->age_min_ms / 1000, d1, sizeof(d1));
			printf("            the oldest has been in CLOSE_WAIT for at least %s "
			       "(the peer last sent anything that long ago)\n", d1);
		} else {
			printf("            age: unavailable (no tcp_info with this backend)\n");
		}
		print_groups(f, true);
		break;
	case TS_FINDING_LEAK:
		print_process(f, "process");
		printf("  evidence  CLOSE_WAIT %llu -> %llu: +%.1f/s", (unsigned long long)f->count_before,
		       (unsigned long long)f->count, f->rate_per_s);
		if (f->fd_rate_per_s != 0)
			printf("; open files %+.1f/s", f->fd_rate_per_s);
		putchar('\n');
		if (f->has_eta) {
			duration_text(f->seconds_to_limit, d1, sizeof(d1));
			printf("            at this rate it reaches RLIMIT_NOFILE (%llu) in about %s\n",
			       (unsigned long long)f->limit, d1);
		} else {
			print_limit("time to fd exhaustion", f);
			if (!f->limit_err)
				printf("            no finite RLIMIT_NOFILE: it grows until memory runs out\n");
		}
		break;
	case TS_FINDING_DEAD_HELD:
		print_process(f, "process");
		fds_text(f->fds, f->n_fds, buf, sizeof(buf));
		printf("  evidence  %u CLOSED, %u IDLE socket fd%s: %s\n", f->state_counts[TS_STATE_CLOSED],
		       f->state_counts[TS_STATE_IDLE], f->count == 1 ? "" : "s", buf);
		break;
	case TS_FINDING_FIN_WAIT_2_PEER:
		printf("  culprit   the program at %s (remote side) has not closed\n",
		       endpoint_text(f->family, &f->remote_addr, f->remote_port, ep, sizeof(ep)));
		if (f->peer_pid)
			printf("            that end is here: pid %d %s holds it (CLOSE_WAIT)\n",
			       (int)f->peer_pid, TERM_SAFE(f->peer_comm));
		printf("  evidence  %llu socket%s in FIN_WAIT_2\n", (unsigned long long)f->count,
		       f->count == 1 ? "" : "s");
		if (f->has_age) {
			duration_text((double)f->age_min_ms / 1000, d1, sizeof(d1));
			printf("            the peer has sent nothing for at least %s\n", d1);
		}
		if (f->pid)
			print_process(f, "held by");
		print_groups(f, false);
		break;
	case TS_FINDING_FIN_WAIT_2_ORPHAN:
		printf("  evidence  %llu orphaned socket%s in FIN_WAIT_2 (no program holds them)\n",
		       (unsigned long long)f->count, f->count == 1 ? "" : "s");
		if (f->limit_err)
			print_limit("how long they last (tcp_fin_timeout)", f);
		else
			printf("            each lasts at most tcp_fin_timeout = %llu s\n",
			       (unsigned long long)f->limit);
		print_groups(f, false);
		break;
	case TS_FINDING_UNACKED_CLOSE:
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
		break;
	case TS_FINDING_TIME_WAIT_BUCKETS:
		printf("  evidence  %llu socket%s in TIME_WAIT", (unsigned long long)f->count,
		       f->count == 1 ? "" : "s");
		if (!f->limit_err)
			printf(" of tcp_max_tw_buckets %llu (%.0f%%)\n", (unsigned long long)f->limit,
			       f->limit ? 100.0 * (double)f->count / (double)f->limit : 0.0);
		else
			putchar('\n');
		print_limit("tcp_max_tw_buckets", f);
		break;
	case TS_FINDING_TIME_WAIT_PORTS:
		printf("  culprit   outgoing connections to %s\n",
		       endpoint_text(f->family, &f->remote_addr, f->remote_port, ep, sizeof(ep)));
		printf("  evidence  %llu local ports in TIME_WAIT", (unsigned long long)f->count);
		if (!f->limit_err)
			printf(" of %llu in ip_local_port_range (%.0f%%)\n", (unsigned long long)f->limit,
			       100.0 * (double)f->count / (double)f->limit);
		else
			putchar('\n');
		print_limit("ip_local_port_range", f);
		break;
	case TS_FINDING_ACCEPT_QUEUE:
		if (f->pid)
			print_process(f, "process");
		printf("  evidence  listener on port %u: %llu connection%s waiting for accept(), "
		       "backlog %llu%s\n", f->local_port, (unsigned long long)f->count,
		       f->count == 1 ? "" : "s", (unsigned long long)f->limit,
		       f->count >= f->limit ? " (full: new handshakes are dropped)" : "");
		break;
	case TS_FINDING_SYN_BACKLOG:
		if (f->pid)
			print_process(f, "process");
		printf("  evidence  %llu half-open connection%s on port %u; limit %llu; up to %u SYN-ACK "
		       "retransmission%s\n", (unsigned long long)f->count, f->count == 1 ? "" : "s",
		       f->local_port, (unsigned long long)f->limit, f->max_retransmits,
		       f->max_retransmits == 1 ? "" : "s");
		print_limit("tcp_max_syn_backlog", f);
		print_groups(f, false);
		break;
	case TS_FINDING_SYN_SENT:
		printf("  culprit   destination %s does not answer\n",
		       endpoint_text(f->family, &f->remote_addr, f->remote_port, ep, sizeof(ep)));
		printf("  evidence  %llu of %u connect()s retransmitting their SYN (up to %u times)\n",
		       (unsigned long long)f->count, f->state_counts[TS_STATE_SYN_SENT], f->max_retransmits);
		if (f->pid)
			print_process(f, "held by");
		break;
	default:
		break;
	}
	print_wrapped("why", f->explanation);
	print_wrapped("do", f->advice);
	if (close_command(f, snap, "fin", buf, sizeof(buf))) {
		printf("  close     %s\n            (sends the FIN the program never sent; its fds stay open)\n", buf);
		close_command(f, snap, "fd", buf, sizeof(buf));
		printf("            %s\n            (closes the fds inside the program; add --dry-run to "
		       "preview either)\n", buf);
	}
	if (f->sysctl_mask) {
		printf("  settings\n");
		for (unsigned id = 0; id < _TS_DS_MAX; id++)
			if (f->sysctl_mask & (1u << id))
				print_sysctl(f, (enum ts_diag_sysctl)id);
	}
	putchar('\n');
}

void doctor_print_text(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, enum ts_severity min, unsigned interval)
{
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
				print_finding(&d->findings[i], snap, a->opts.all_netns);
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

static json_object *finding_json(const struct ts_finding *f, const struct ts_snapshot *snap)
{
	json_object *o = json_object_new_object(), *ev = json_object_new_object();
	json_object *pids = json_object_new_array(), *groups = json_object_new_array();
	json_object *sys = json_object_new_object();
	const struct ts_netns *ns = ts_snapshot_netns(snap, f->netns_index);
	char ab[INET6_ADDRSTRLEN], cmd[256];

	json_object_object_add(o, "severity", json_object_new_string(ts_severity_name(f->severity)));
	json_object_object_add(o, "kind", json_object_new_string(ts_finding_kind_id(f->kind)));
	json_object_object_add(o, "title", json_object_new_string(f->title));
	json_object_object_add(o, "state", json_object_new_string(ts_state_name(f->state)));
	json_object_object_add(o, "netns", ns ? json_object_new_string(ns->name) : NULL);

	json_object_object_add(ev, "count", json_object_new_int64((int64_t)f->count));
	if (f->kind == TS_FINDING_CLOSE_WAIT) {
		json_object_object_add(ev, "unread_bytes", json_object_new_int64((int64_t)f->unread_bytes));
		json_object_object_add(ev, "eof_read", json_object_new_int64((int64_t)f->eof_read));
	}
	json_object_object_add(ev, "age_min_ms", f->has_age ? json_object_new_int64((int64_t)f->age_min_ms) : NULL);
	if (f->limit || f->limit_err)
		json_object_object_add(ev, "limit", f->limit_err ? NULL : json_object_new_int64((int64_t)f->limit));
	if (f->limit_err)
		json_object_object_add(ev, "limit_unavailable", jerr(f->limit_err));
	if (f->max_retransmits)
		json_object_object_add(ev, "max_retransmits", json_object_new_int64(f->max_retransmits));
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
	json_object_object_add(o, "evidence", ev);

	json_object_object_add(o, "process", f->pid ? proc_json(f) : NULL);
	for (size_t i = 0; i < f->n_pids; i++)
		json_object_array_add(pids, json_object_new_int(f->pids[i]));
	json_object_object_add(o, "pids", pids);
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
	for (size_t i = 0; i < f->n_groups; i++) {
		const struct ts_finding_group *g = &f->groups[i];
		json_object *e = json_object_new_object();
		bool any = memcmp(&g->remote_addr, &in6addr_any, sizeof(in6addr_any)) || g->remote_port;

		json_object_object_add(e, "local_port", g->local_port ? json_object_new_int(g->local_port) : NULL);
		json_object_object_add(e, "remote_addr", any ? json_object_new_string(addr_text(g->family, &g->remote_addr, ab, sizeof(ab))) : NULL);
		json_object_object_add(e, "remote_port", g->remote_port ? json_object_new_int(g->remote_port) : NULL);
		json_object_object_add(e, "count", json_object_new_int64(g->count));
		if (f->kind == TS_FINDING_CLOSE_WAIT)
			json_object_object_add(e, "unread_bytes", json_object_new_int64((int64_t)g->unread_bytes));
		json_object_array_add(groups, e);
	}
	json_object_object_add(o, "groups", groups);
	for (unsigned id = 0; id < _TS_DS_MAX; id++) {
		json_object *v;

		if (!(f->sysctl_mask & (1u << id)))
			continue;
		if (f->sysctls.err[id]) {
			v = json_object_new_object();
			json_object_object_add(v, "unavailable", jerr(f->sysctls.err[id]));
		} else if (id == TS_DS_PORT_RANGE) {
			v = json_object_new_array();
			json_object_array_add(v, json_object_new_int64(f->sysctls.value[id]));
			json_object_array_add(v, json_object_new_int64(f->sysctls.value2[id]));
		} else {
			v = json_object_new_int64(f->sysctls.value[id]);
		}
		json_object_object_add(sys, ts_diag_sysctl_name((enum ts_diag_sysctl)id), v);
	}
	json_object_object_add(o, "sysctls", sys);
	json_object_object_add(o, "explanation", json_object_new_string(f->explanation));
	json_object_object_add(o, "advice", json_object_new_string(f->advice));
	if (close_command(f, snap, "fin", cmd, sizeof(cmd))) {
		json_object *cmds = json_object_new_object();

		json_object_object_add(cmds, "fin", json_object_new_string(cmd));
		close_command(f, snap, "fd", cmd, sizeof(cmd));
		json_object_object_add(cmds, "fd", json_object_new_string(cmd));
		json_object_object_add(o, "close_commands", cmds);
	}
	return o;
}

void doctor_print_json(const struct ts_diagnosis *d, const struct ts_snapshot *snap,
		       const struct cli_snapshot_args *a, enum ts_severity min, unsigned interval)
{
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array(), *nss = json_object_new_array();

	json_object_object_add(root, "states", output_state_counts_json(d->state_counts));
	for (size_t i = 0; i < ts_snapshot_netns_count(snap); i++)
		json_object_array_add(nss, json_object_new_string(ts_snapshot_netns(snap, (uint32_t)i)->name));
	json_object_object_add(root, "netns", nss);
	json_object_object_add(root, "interval", interval ? json_object_new_int(interval) : NULL);
	json_object_object_add(root, "owners_scanned", json_object_new_boolean(d->owners_known));
	for (size_t i = 0; i < d->n_findings; i++)
		if (d->findings[i].severity >= min)
			json_object_array_add(arr, finding_json(&d->findings[i], snap));
	json_object_object_add(root, "findings", arr);
	(void)a;
	term_safe_json_puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), stdout);
	json_object_put(root);
}
