/* SPDX-License-Identifier: MIT */
/*
 * The rules of ts_diagnose() about queues and limits: TIME_WAIT against
 * tcp_max_tw_buckets and the port range, accept queues, the SYN backlog,
 * and SYN_SENT retransmitting.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diagnose_ctx.h"
#include "tcpstate/socket_facts.h"

#define NS(x) (1u << (x)) /* a counter's bit for diagnose_cite() */

/* ---- TIME_WAIT ---- */

static bool in_port_range(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	const struct ts_diagnose_sysctls *sy = diagnose_sysctls(c, s->netns_index);

	if (sy->err[TS_DS_PORT_RANGE])
		return true; /* unknown range: every TIME_WAIT may be outgoing */
	return s->local_port >= sy->value[TS_DS_PORT_RANGE] && s->local_port <= sy->value2[TS_DS_PORT_RANGE];
}

static bool tw_outgoing(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	return (s->flags & TS_SOCK_REMOTE_VALID) && in_port_range(c, s);
}

static bool in_tw_bucket(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	(void)c;
	return ts_socket_in_tw_bucket(s);
}

int diagnose_rule_time_wait(struct diagnose_ctx *c)
{
	struct diagnose_ents e = { 0 };
	/* TIME_WAIT records: TIME_WAIT, and orphaned FIN_WAIT_2 kept as one. */
	int r = diagnose_gather_by_remote(c, TS_STATE_BIT(TS_STATE_TIME_WAIT) | TS_STATE_BIT(TS_STATE_FIN_WAIT_2),
				      false, in_tw_bucket, &e);

	/* Per namespace: count against tcp_max_tw_buckets. */
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = i;
		uint32_t ns = e.v[i].k_netns;
		const struct ts_diagnose_sysctls *sy = diagnose_sysctls(c, ns);
		uint64_t n, max = (uint64_t)sy->value[TS_DS_MAX_TW_BUCKETS];
		uint32_t fw2 = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		while (end < e.n && e.v[end].k_netns == ns) {
			fw2 += diagnose_sock_at(c, e.v[end].sock)->state == TS_STATE_FIN_WAIT_2;
			end++;
		}
		n = end - i;
		i = end;
		if (sy->err[TS_DS_MAX_TW_BUCKETS])
			sev = TS_SEVERITY_INFO; /* cannot compare: say so */
		else if (n >= max)
			sev = TS_SEVERITY_CRITICAL;
		else if (n * 100 >= (uint64_t)c->th.time_wait_pct * max)
			sev = TS_SEVERITY_WARNING;
		else
			continue;
		f = diagnose_add(c, TS_FINDING_TIME_WAIT_BUCKETS, sev, ns);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = n;
		f->state_counts[TS_STATE_TIME_WAIT] = (uint32_t)(n - fw2);
		f->state_counts[TS_STATE_FIN_WAIT_2] = fw2;
		f->limit = sy->err[TS_DS_MAX_TW_BUCKETS] ? 0 : max;
		f->limit_err = sy->err[TS_DS_MAX_TW_BUCKETS];
		diagnose_cite(c, f, NS(TS_NSTAT_TIMEWAIT_OVERFLOW));
	}
	free(e.v);
	if (r < 0)
		return r;

	/* Per destination ip:port of outgoing connections: against the local port range. */
	e = (struct diagnose_ents){ 0 };
	r = diagnose_gather_by_remote(c, TS_STATE_BIT(TS_STATE_TIME_WAIT), true, tw_outgoing, &e);
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diagnose_run_end(&e, i);
		const struct ts_socket *first = diagnose_sock_at(c, e.v[i].sock);
		const struct ts_diagnose_sysctls *sy = diagnose_sysctls(c, first->netns_index);
		uint64_t n = end - i, size = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		i = end;
		if (!sy->err[TS_DS_PORT_RANGE])
			size = (uint64_t)(sy->value2[TS_DS_PORT_RANGE] - sy->value[TS_DS_PORT_RANGE] + 1);
		if (!size) {
			if (n < 1000)
				continue;
			sev = TS_SEVERITY_INFO;
		} else if (n * 10 >= size * 9) {
			sev = TS_SEVERITY_CRITICAL;
		} else if (n * 100 >= (uint64_t)c->th.port_pct * size) {
			sev = TS_SEVERITY_WARNING;
		} else {
			continue;
		}
		f = diagnose_add(c, TS_FINDING_TIME_WAIT_PORTS, sev, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = n;
		f->limit = size;
		f->limit_err = sy->err[TS_DS_PORT_RANGE];
		diagnose_set_remote(f, &e.v[end - 1], true);
	}
	free(e.v);
	return r;
}

/* ---- listeners: accept queue and SYN backlog ---- */

/* The listener's holders, parent first (a prefork master before its workers), and the master's fds. */
static int set_listener_owner(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *l)
{
	const struct ts_owner *o = ts_snapshot_owners(c->snap, l);
	pid_t *pids;
	size_t n = 0;
	int r;

	if (!o)
		return 0;
	pids = malloc(l->owner_count * sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	for (unsigned k = 0; k < l->owner_count; k++) {
		bool seen = false;

		for (size_t m = 0; m < n && !seen; m++)
			seen = pids[m] == o[k].pid;
		if (!seen)
			pids[n++] = o[k].pid;
	}
	r = diagnose_set_holders(c, f, c->snap, c->in->procs, l, pids, n);
	free(pids);
	for (unsigned k = 0; r == 0 && k < l->owner_count; k++)
		if (o[k].pid == f->pid)
			r = diagnose_add_fd(f, o[k].fd);
	return r;
}

static int rule_accept_queue(struct diagnose_ctx *c)
{
	size_t n = ts_snapshot_socket_count(c->snap);
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct ts_socket *s;
		enum ts_severity sev;
		struct ts_finding *f;

		if (c->states[i] != TS_STATE_LISTEN)
			continue;
		s = diagnose_sock_at(c, (uint32_t)i);
		if (s->recv_q == 0)
			continue;
		/* Linux drops a handshake when the queue is above the backlog
		 * (sk_acceptq_is_full: ack_backlog > max_ack_backlog): at the
		 * backlog one more still fits (ts_listener_queue_full). */
		if (ts_listener_queue_full(s))
			sev = TS_SEVERITY_CRITICAL;
		else if (s->send_q && (uint64_t)s->recv_q * 100 >= (uint64_t)c->th.accept_pct * s->send_q)
			sev = TS_SEVERITY_WARNING;
		else
			continue;
		f = diagnose_add(c, TS_FINDING_ACCEPT_QUEUE, sev, s->netns_index);
		if (!f)
			return -ENOMEM;
		f->count = s->recv_q;
		f->limit = s->send_q;
		f->local_port = s->local_port;
		f->family = s->family;
		diagnose_cite(c, f, NS(TS_NSTAT_LISTEN_OVERFLOWS) | NS(TS_NSTAT_LISTEN_DROPS));
		r = set_listener_owner(c, f, s);
	}
	return r;
}

/* The listener's TCP_DEFER_ACCEPT as collected by the caller. */
static int defer_accept_of(const struct diagnose_ctx *c, const struct ts_socket *sr, uint32_t *ret_s)
{
	const struct ts_listener_fact *x;
	size_t li;

	if (!ts_listener_of(c->snap, sr, &li))
		return -ENOENT;
	x = ts_listener_facts_find(c->in->listeners, li);
	if (!x)
		return -ENOENT;
	if (x->defer_accept_err)
		return x->defer_accept_err;
	*ret_s = x->defer_accept_s;
	return 0;
}

int diagnose_rule_listen(struct diagnose_ctx *c)
{
	size_t n = ts_snapshot_socket_count(c->snap);
	struct diagnose_ents e = { 0 };
	int r = rule_accept_queue(c);

	if (r < 0)
		return r;
	/* SYN_RECEIVED per listening port. */
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s;
		struct diagnose_ent x = { .sock = (uint32_t)i, .fd = -1 };

		if (c->states[i] != TS_STATE_SYN_RECEIVED)
			continue;
		s = diagnose_sock_at(c, (uint32_t)i);
		x.k_netns = s->netns_index;
		x.k_lport = s->local_port;
		if (diagnose_ents_push(&e, &x) < 0) {
			free(e.v);
			return -ENOMEM;
		}
	}
	diagnose_ents_sort(&e);
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diagnose_run_end(&e, i);
		const struct ts_socket *first = diagnose_sock_at(c, e.v[i].sock);
		const struct ts_diagnose_sysctls *sy = diagnose_sysctls(c, first->netns_index);
		const struct ts_socket *l = ts_listener_of(c->snap, first, NULL);
		uint64_t cnt = end - i, msb = (uint64_t)sy->value[TS_DS_MAX_SYN_BACKLOG];
		bool full = false, no_cookies = !sy->err[TS_DS_SYNCOOKIES] && sy->value[TS_DS_SYNCOOKIES] == 0;
		uint32_t defer_s = 0;
		int defer_err = defer_accept_of(c, first, &defer_s);
		bool deferred = defer_err == 0 && defer_s > 0;
		unsigned retrans = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			unsigned rt = ts_socket_retransmissions(diagnose_sock_at(c, e.v[j].sock));

			if (rt > retrans)
				retrans = rt;
		}
		/* The SYN queue is full when it holds more requests than the backlog. */
		if (l && cnt > l->send_q)
			full = true;
		/* Without syncookies, Linux drops SYNs from new peers once 3/4 of this is used. */
		if (no_cookies && !sy->err[TS_DS_MAX_SYN_BACKLOG] && msb &&
		    cnt * 100 >= (uint64_t)c->th.syn_backlog_pct * msb)
			full = true;
		if (full)
			sev = no_cookies ? TS_SEVERITY_CRITICAL : deferred ? TS_SEVERITY_INFO : TS_SEVERITY_WARNING;
		else if (retrans > 0 || deferred) /* retrans > 0: one is ts_socket_retransmitting() */
			sev = TS_SEVERITY_INFO;
		else {
			i = end;
			continue;
		}
		f = diagnose_add(c, deferred ? TS_FINDING_DEFER_ACCEPT : TS_FINDING_SYN_BACKLOG, sev,
			     first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = cnt;
		f->max_retransmits = retrans;
		f->local_port = first->local_port;
		f->family = first->family;
		f->defer_accept_s = defer_s;
		f->defer_accept_err = defer_err;
		if (l) {
			f->limit = l->send_q;
		} else {
			f->limit = sy->err[TS_DS_MAX_SYN_BACKLOG] ? 0 : msb;
			f->limit_err = sy->err[TS_DS_MAX_SYN_BACKLOG];
		}
		diagnose_cite(c, f, NS(TS_NSTAT_DEFER_ACCEPT_DROP) | NS(TS_NSTAT_LISTEN_DROPS) |
			  NS(TS_NSTAT_SYNCOOKIES_SENT) | NS(TS_NSTAT_REQQ_FULL_DO_COOKIES) |
			  NS(TS_NSTAT_REQQ_FULL_DROP));
		if (l)
			r = set_listener_owner(c, f, l);
		for (size_t j = i; r == 0 && j < end; j++)
			r = diagnose_add_group(c, f, diagnose_sock_at(c, e.v[j].sock), false, false, 0);
		diagnose_finish_lists(c, f);
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- SYN_SENT ---- */

int diagnose_rule_syn_sent(struct diagnose_ctx *c)
{
	struct diagnose_ents e = { 0 };
	int r = diagnose_gather_by_remote(c, TS_STATE_BIT(TS_STATE_SYN_SENT), true, NULL, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diagnose_run_end(&e, i);
		const struct ts_socket *first = diagnose_sock_at(c, e.v[i].sock);
		uint64_t stuck = 0;
		unsigned retrans = 0;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			const struct ts_socket *s = diagnose_sock_at(c, e.v[j].sock);
			unsigned rt = ts_socket_retransmissions(s);

			stuck += ts_socket_retransmitting(s);
			if (rt > retrans)
				retrans = rt;
		}
		if (stuck == 0 || stuck < c->th.syn_sent_min) {
			i = end;
			continue;
		}
		f = diagnose_add(c, TS_FINDING_SYN_SENT, TS_SEVERITY_WARNING, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = stuck;
		f->state_counts[TS_STATE_SYN_SENT] = (uint32_t)(end - i);
		f->max_retransmits = retrans;
		diagnose_set_remote(f, &e.v[i], true);
		r = diagnose_add_owners(c, f, &e, i, end);
		diagnose_finish_lists(c, f);
		i = end;
	}
	free(e.v);
	return r;
}
