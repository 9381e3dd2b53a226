/* SPDX-License-Identifier: MIT */
/* Diagnosis: thresholds, settings, the findings list and ts_diagnose(). The rules are in
 * diagnose_closing.c and diagnose_queues.c, their shared context in diagnose_ctx.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "diagnose/diagnose_ctx.h"
#include "sysctl/sysctl_internal.h"
#include "tcpstate/activity.h"
#include "tcpstate/sysctl.h"

static const char *const severity_names[_TS_SEVERITY_MAX] = {
	[TS_SEVERITY_INFO] = "info",
	[TS_SEVERITY_WARNING] = "warning",
	[TS_SEVERITY_CRITICAL] = "critical",
};

const char *ts_severity_name(enum ts_severity sev)
{
	return (unsigned)sev < _TS_SEVERITY_MAX ? severity_names[sev] : NULL;
}

int ts_severity_parse(const char *s, enum ts_severity *ret)
{
	for (unsigned i = 0; s && i < _TS_SEVERITY_MAX; i++)
		if (strcasecmp(s, severity_names[i]) == 0) {
			*ret = (enum ts_severity)i;
			return 0;
		}
	return -EINVAL;
}

/* The settings of the rules, in the registry (the order of ts_diagnose_sysctl is the CLI's). */
static const enum ts_sysctl_id ds_ids[_TS_DS_MAX] = {
	[TS_DS_FIN_TIMEOUT] = TS_SYSCTL_TCP_FIN_TIMEOUT,
	[TS_DS_ORPHAN_RETRIES] = TS_SYSCTL_TCP_ORPHAN_RETRIES,
	[TS_DS_RETRIES2] = TS_SYSCTL_TCP_RETRIES2,
	[TS_DS_MAX_TW_BUCKETS] = TS_SYSCTL_TCP_MAX_TW_BUCKETS,
	[TS_DS_TW_REUSE] = TS_SYSCTL_TCP_TW_REUSE,
	[TS_DS_PORT_RANGE] = TS_SYSCTL_IP_LOCAL_PORT_RANGE,
	[TS_DS_MAX_SYN_BACKLOG] = TS_SYSCTL_TCP_MAX_SYN_BACKLOG,
	[TS_DS_SYNCOOKIES] = TS_SYSCTL_TCP_SYNCOOKIES,
	[TS_DS_SOMAXCONN] = TS_SYSCTL_SOMAXCONN,
	[TS_DS_SYN_RETRIES] = TS_SYSCTL_TCP_SYN_RETRIES,
	[TS_DS_SYNACK_RETRIES] = TS_SYSCTL_TCP_SYNACK_RETRIES,
};

enum ts_sysctl_id ts_diagnose_sysctl_id(enum ts_diagnose_sysctl id)
{
	return (unsigned)id < _TS_DS_MAX ? ds_ids[id] : _TS_SYSCTL_ID_MAX;
}

const char *ts_diagnose_sysctl_name(enum ts_diagnose_sysctl id)
{
	const struct ts_sysctl_info *info = ts_sysctl_info(ts_diagnose_sysctl_id(id));

	return info ? info->name : NULL;
}

void ts_diagnose_sysctls_unavailable(struct ts_diagnose_sysctls *v, int err)
{
	memset(v, 0, sizeof(*v));
	for (unsigned i = 0; i < _TS_DS_MAX; i++)
		v->err[i] = err < 0 ? err : -ENODATA;
}

/* "32768\t60999": two integers, LOW <= HIGH, read with the lint's parser. */
static int read_pair(struct ts_sysctl *s, const char *name, int64_t *lo, int64_t *hi)
{
	char buf[64];
	int64_t v[2];
	size_t n;
	int r = ts_sysctl_read(s, name, buf, sizeof(buf));

	if (r < 0)
		return r;
	if (sysctl_parse_fields(buf, v, 2, &n) < 0 || n != 2 || v[1] < v[0])
		return -EBADMSG;
	*lo = v[0];
	*hi = v[1];
	return 0;
}

void ts_diagnose_sysctls_read(struct ts_sysctl *s, struct ts_diagnose_sysctls *ret)
{
	struct ts_diagnose_sysctls v;

	memset(&v, 0, sizeof(v));
	for (unsigned i = 0; i < _TS_DS_MAX; i++) {
		const struct ts_sysctl_info *info = ts_sysctl_info(ds_ids[i]);

		if (!s)
			v.err[i] = -ENODATA;
		else if (info->shape == TS_SYSCTL_SHAPE_RANGE)
			v.err[i] = read_pair(s, info->name, &v.value[i], &v.value2[i]);
		else
			v.err[i] = ts_sysctl_read_int(s, info->name, &v.value[i]);
		if (v.err[i] < 0)
			v.value[i] = v.value2[i] = 0;
	}
	*ret = v;
}

void ts_diagnose_thresholds_default(struct ts_diagnose_thresholds *t)
{
	*t = (struct ts_diagnose_thresholds){
		.min_age_s = TS_DIAG_MIN_AGE_DEFAULT_S,
		.close_wait_min = 1,
		.close_wait_critical = 100,
		.fd_critical_pct = 80,
		.leak_critical_s = 3600,
		.dead_min = 1,
		.fin_wait_2_min = 1,
		.orphan_fin_wait_2_min = 100,
		.unacked_min = 10,
		.time_wait_pct = 50,
		.port_pct = 50,
		.accept_pct = 80,
		.syn_backlog_pct = 75,
		.syn_sent_min = 1,
		.close_min_idle_s = TS_MIN_IDLE_DEFAULT_S,
	};
}

static const char *const kind_ids[_TS_FINDING_MAX] = {
	[TS_FINDING_CLOSE_WAIT] = "close-wait",
	[TS_FINDING_LEAK] = "leak",
	[TS_FINDING_DEAD_HELD] = "dead-held",
	[TS_FINDING_FIN_WAIT_2_PEER] = "fin-wait-2-peer",
	[TS_FINDING_FIN_WAIT_2_ORPHAN] = "fin-wait-2-orphan",
	[TS_FINDING_UNACKED_CLOSE] = "unacked-close",
	[TS_FINDING_TIME_WAIT_BUCKETS] = "time-wait-buckets",
	[TS_FINDING_TIME_WAIT_PORTS] = "time-wait-ports",
	[TS_FINDING_ACCEPT_QUEUE] = "accept-queue",
	[TS_FINDING_SYN_BACKLOG] = "syn-backlog",
	[TS_FINDING_SYN_SENT] = "syn-sent",
	[TS_FINDING_DEFER_ACCEPT] = "deferred-accept",
};

const char *ts_finding_kind_id(enum ts_finding_kind kind)
{
	return (unsigned)kind < _TS_FINDING_MAX ? kind_ids[kind] : NULL;
}

struct kind_text {
	enum ts_state state;
	uint32_t sysctls;
	const char *title, *explanation, *advice;
};

#define DS(x) (1u << (x))

static const struct kind_text kind_texts[_TS_FINDING_MAX] = {
	[TS_FINDING_CLOSE_WAIT] = { TS_STATE_CLOSE_WAIT, 0,
		"CLOSE_WAIT sockets held by a program",
		"The peer closed these connections and this program never called close() on them. "
		"No timer and no sysctl ends CLOSE_WAIT: each socket keeps a file descriptor and "
		"kernel memory until the program closes it or exits.",
		"Fix the program: close the socket when read() returns 0 (end of file) or on every "
		"error path; look for connection pools that never evict dead connections. Until then, "
		"restarting the program releases them." },
	[TS_FINDING_LEAK] = { TS_STATE_CLOSE_WAIT, 0,
		"CLOSE_WAIT growing: a file-descriptor leak",
		"Between the two looks this program gained CLOSE_WAIT sockets (and file descriptors). "
		"When its open files reach RLIMIT_NOFILE, accept() and open() fail with EMFILE.",
		"Fix the missing close() in the program; restart it before it reaches its open-file "
		"limit. Raising LimitNOFILE= (or ulimit -n) only buys time." },
	[TS_FINDING_DEAD_HELD] = { TS_STATE_CLOSED, 0,
		"dead sockets held open (invisible to ss)",
		"These file descriptors refer to TCP sockets whose connection is over (CLOSED: reset, "
		"or both sides closed) or that were never used (IDLE). No socket dump, hence no ss, "
		"shows them; only the fd table does.",
		"The program must close() these descriptors; restarting it releases them." },
	[TS_FINDING_FIN_WAIT_2_PEER] = { TS_STATE_FIN_WAIT_2, DS(TS_DS_FIN_TIMEOUT),
		"FIN_WAIT_2: the peer program has not closed",
		"This side closed (or shut down) its half and the peer acknowledged it, but the "
		"program at the remote end has not closed its side (its socket is in CLOSE_WAIT). "
		"While a local program still holds the socket, tcp_fin_timeout does not apply.",
		"Look at the program behind the remote address and port: it is the one missing a "
		"close(). Locally, closing the socket makes it an orphan bounded by tcp_fin_timeout." },
	[TS_FINDING_FIN_WAIT_2_ORPHAN] = { TS_STATE_FIN_WAIT_2, DS(TS_DS_FIN_TIMEOUT),
		"orphaned FIN_WAIT_2 sockets",
		"No program holds these sockets any more; the kernel keeps each until the peer sends "
		"its FIN or tcp_fin_timeout expires.",
		"They go away by themselves after tcp_fin_timeout. Many of them point at peers that "
		"never close; lowering tcp_fin_timeout shortens their life." },
	[TS_FINDING_UNACKED_CLOSE] = { TS_STATE_LAST_ACK,
		DS(TS_DS_ORPHAN_RETRIES) | DS(TS_DS_RETRIES2),
		"closing handshakes not acknowledged by a peer",
		"LAST_ACK, FIN_WAIT_1 and CLOSING wait for the peer to acknowledge our FIN. When they "
		"pile up for one remote address, that host or the path to it is not answering "
		"(down, unreachable, or a firewall dropping packets), or it advertises a zero window.",
		"Check reachability of the remote address (ping, traceroute, firewall rules). The "
		"kernel gives up after tcp_orphan_retries (sockets no program holds) or tcp_retries2 "
		"retransmissions." },
	[TS_FINDING_TIME_WAIT_BUCKETS] = { TS_STATE_TIME_WAIT, DS(TS_DS_MAX_TW_BUCKETS),
		"TIME_WAIT count against tcp_max_tw_buckets",
		"TIME_WAIT lasts 60 seconds after this side closed first. When the count reaches "
		"tcp_max_tw_buckets the kernel destroys new ones at once (\"time wait bucket table "
		"overflow\").",
		"Let the peer close first where the protocol allows, reuse connections (keep-alive, "
		"pools) instead of opening one per request." },
	[TS_FINDING_TIME_WAIT_PORTS] = { TS_STATE_TIME_WAIT,
		DS(TS_DS_PORT_RANGE) | DS(TS_DS_TW_REUSE),
		"TIME_WAIT to one destination against the local port range",
		"Outgoing connections to one address and port each used a local port from "
		"ip_local_port_range; while in TIME_WAIT those ports cannot be reused for the same "
		"destination, so connect() may fail with EADDRNOTAVAIL.",
		"Reuse connections to this destination. " TS_SYSCTL_NAME(TCP_TW_REUSE) "=1 lets new outgoing "
		"connections take TIME_WAIT ports (it does not help incoming ones); widening "
		"ip_local_port_range adds ports." },
	[TS_FINDING_ACCEPT_QUEUE] = { TS_STATE_LISTEN, DS(TS_DS_SOMAXCONN),
		"listener accept queue at its backlog",
		"Connections completed the handshake and wait for the program to accept() them. "
		"Linux queues up to the backlog + 1; when the queue is full it drops new SYNs and "
		"final ACKs (clients retransmit and see delays or timeouts; TcpExtListenOverflows "
		"counts them), or resets them when tcp_abort_on_overflow is 1.",
		"The program is not calling accept() fast enough (blocked, overloaded, or stuck). "
		"A larger listen() backlog (capped by " TS_SYSCTL_NAME(SOMAXCONN) ") only absorbs bursts." },
	[TS_FINDING_SYN_BACKLOG] = { TS_STATE_SYN_RECEIVED,
		DS(TS_DS_MAX_SYN_BACKLOG) | DS(TS_DS_SYNCOOKIES) | DS(TS_DS_SYNACK_RETRIES),
		"half-open connections (SYN_RECEIVED) on a listener",
		"Clients sent a SYN and we answered with a SYN-ACK, but the handshake has not "
		"completed: their ACK has not arrived (the path back to them loses packets, or the "
		"SYNs come from forged addresses, a flood). When more requests wait than the "
		"listener's backlog, new connections get SYN cookies, or are dropped when "
		"tcp_syncookies is 0.",
		"Check the path to the clients; keep " TS_SYSCTL_NAME(TCP_SYNCOOKIES) "=1; raise the listen() "
		"backlog and tcp_max_syn_backlog if the load is real." },
	[TS_FINDING_SYN_SENT] = { TS_STATE_SYN_SENT, DS(TS_DS_SYN_RETRIES),
		"connections stuck in SYN_SENT",
		"connect() sent SYNs to this destination and got no answer (retransmitting): the host "
		"is down, unreachable, or a firewall drops the SYNs silently.",
		"Check the destination and the firewalls on the way; the program should use a connect "
		"timeout. The kernel gives up after tcp_syn_retries." },
	[TS_FINDING_DEFER_ACCEPT] = { TS_STATE_SYN_RECEIVED,
		DS(TS_DS_SYNCOOKIES) | DS(TS_DS_SYNACK_RETRIES),
		"connections waiting for their first data (TCP_DEFER_ACCEPT)",
		"The listener set TCP_DEFER_ACCEPT (nginx: listen ... deferred): Linux drops a "
		"client's final ACK that carries no data (TcpExtTCPDeferAcceptDrop counts them) and "
		"keeps the connection as a SYN_RECEIVED request until the client sends data. When "
		"the deferral runs out it sends its SYN-ACK again and the client's answering ACK "
		"completes the connection. The client already sees it established; nothing was "
		"lost. The requests count against the listener's backlog: beyond it, new clients get "
		"SYN cookies (which skip the deferral), or are dropped when tcp_syncookies is 0.",
		"Nothing to do when clients send their request soon after connecting. Clients that "
		"connect and stay silent (connect-only health checks, pre-opened pools) wait out the "
		"deferral each time; keep " TS_SYSCTL_NAME(TCP_SYNCOOKIES) "=1 so that a full queue never "
		"turns clients away." },
};

const struct ts_diagnose_sysctls *diagnose_sysctls(const struct diagnose_ctx *c, uint32_t netns_index)
{
	if (c->in->sysctls && netns_index < c->in->n_sysctls)
		return &c->in->sysctls[netns_index];
	return &c->none;
}

void diagnose_cite(const struct diagnose_ctx *c, struct ts_finding *f, uint32_t counters)
{
	const struct ts_netstat *n;

	if (!c->in->netstat || f->netns_index >= c->in->n_netstat)
		return;
	n = &c->in->netstat[f->netns_index];
	f->netstat = *n;
	f->netstat_mask = counters & n->have;
}

struct ts_finding *diagnose_add(struct diagnose_ctx *c, enum ts_finding_kind kind, enum ts_severity sev,
			    uint32_t netns_index)
{
	struct ts_diagnosis *d = c->d;
	struct ts_finding *f;

	if (array_grow((void **)&d->findings, &c->cap, d->n_findings + 1, sizeof(*d->findings)) < 0)
		return NULL;
	f = &d->findings[d->n_findings++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->severity = sev;
	f->netns_index = netns_index;
	f->state = kind_texts[kind].state;
	f->title = kind_texts[kind].title;
	f->explanation = kind_texts[kind].explanation;
	f->advice = kind_texts[kind].advice;
	f->sysctl_mask = kind_texts[kind].sysctls;
	f->sysctls = *diagnose_sysctls(c, netns_index);
	return f;
}

static int finding_cmp(const void *a, const void *b)
{
	const struct ts_finding *x = a, *y = b;

	if (x->severity != y->severity)
		return x->severity < y->severity ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

struct ts_diagnosis *ts_diagnosis_free(struct ts_diagnosis *d)
{
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n_findings; i++) {
		free(d->findings[i].pids);
		free(d->findings[i].fds);
		free(d->findings[i].groups);
	}
	free(d->findings);
	free(d);
	return NULL;
}

int ts_diagnose(const struct ts_diagnose_input *in, struct ts_diagnosis **ret)
{
	static int (*const rules[])(struct diagnose_ctx *) = {
		diagnose_rule_close_wait, diagnose_rule_leak, diagnose_rule_dead_held, diagnose_rule_fin_wait_2,
		diagnose_rule_unacked_close, diagnose_rule_time_wait, diagnose_rule_listen, diagnose_rule_syn_sent,
	};
	struct diagnose_ctx c = { .in = in };
	size_t n;
	int r;

	if (!in || !in->snap)
		return -EINVAL;
	if (in->later && !(in->interval_s > 0))
		return -EINVAL;
	c.snap = in->snap;
	ts_diagnose_sysctls_unavailable(&c.none, -ENODATA);
	if (in->thresholds)
		c.th = *in->thresholds;
	else
		ts_diagnose_thresholds_default(&c.th);
	if (!c.th.close_min_idle_s) /* 0 would call sockets in use abandoned */
		c.th.close_min_idle_s = TS_MIN_IDLE_DEFAULT_S;
	c.d = calloc(1, sizeof(*c.d));
	if (!c.d)
		return -ENOMEM;
	c.d->owners_known = ts_snapshot_stats(in->snap)->owners_scanned;
	c.d->has_interval = in->later != NULL;
	r = diagnose_ctx_prepare(&c);
	n = ts_snapshot_socket_count(in->snap);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (c.states[i] < _TS_STATE_MAX)
			c.d->state_counts[c.states[i]]++;
	for (size_t i = 0; r == 0 && i < sizeof(rules) / sizeof(rules[0]); i++)
		r = rules[i](&c);
	diagnose_ctx_release(&c);
	if (r < 0) {
		ts_diagnosis_free(c.d);
		return r;
	}
	if (c.d->n_findings)
		qsort(c.d->findings, c.d->n_findings, sizeof(*c.d->findings), finding_cmp);
	*ret = c.d;
	return 0;
}

size_t ts_diagnosis_count_at_least(const struct ts_diagnosis *d, enum ts_severity sev)
{
	size_t n = 0;

	for (size_t i = 0; d && i < d->n_findings; i++)
		n += d->findings[i].severity >= sev;
	return n;
}
