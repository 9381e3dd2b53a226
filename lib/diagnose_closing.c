/* SPDX-License-Identifier: MIT */
/*
 * The rules of ts_diagnose() about closing connections: CLOSE_WAIT held by a
 * program and its growth, CLOSED/IDLE fds held open, FIN_WAIT_2, and
 * LAST_ACK/FIN_WAIT_1/CLOSING.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose-internal.h"
#include "tcpstate/activity.h"
#include "tcpstate/socket_facts.h"

#define MAX_PEER_LOOKUPS 64

static bool fd_near_limit(const struct diag_ctx *c, const struct ts_finding *f)
{
	const struct ts_procinfo *p = &f->proc;

	if (!f->has_proc || p->fd_err || p->nofile_err || p->nofile_soft == TS_PROCINFO_UNLIMITED ||
	    p->nofile_soft == 0)
		return false;
	return (uint64_t)p->fd_count * 100 >= (uint64_t)c->th.fd_critical_pct * p->nofile_soft;
}

/* ---- CLOSE_WAIT held by a program ---- */

/* Counts s as abandoned (what close --min-idle would act on), or notes how recently it moved. */
static void note_closable(const struct diag_ctx *c, struct ts_finding *f, const struct ts_socket *s)
{
	struct ts_activity a;
	enum ts_idle_verdict v = ts_socket_idle_verdict(s, (uint64_t)c->th.close_min_idle_s * 1000, &a);

	if (v == TS_IDLE_ABANDONED) {
		f->closable++;
		return;
	}
	if (v != TS_IDLE_RECENT && v != TS_IDLE_UNREAD && v != TS_IDLE_UNSENT)
		return;
	if (!f->has_busy || a.idle_ms < f->busy_idle_ms) {
		f->has_busy = true;
		f->busy_idle_ms = a.idle_ms;
	}
}

int diag_rule_close_wait(struct diag_ctx *c)
{
	struct diag_ents e = { 0 };
	int r = diag_gather_by_pid(c, c->snap, TS_STATE_BIT(TS_STATE_CLOSE_WAIT), true, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diag_run_end(&e, i);
		const struct ts_socket *first = diag_sock_at(c, e.v[i].sock);
		uint64_t count = 0;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++)
			count += j == i || e.v[j].sock != e.v[j - 1].sock;
		if (count < c->th.close_wait_min) {
			i = end;
			continue;
		}
		f = diag_add(c, TS_FINDING_CLOSE_WAIT, TS_SEVERITY_WARNING, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		if (e.v[i].pid > 0) {
			const struct ts_owner *o = diag_owner_of(c, first, 0);

			for (unsigned k = 0; o && k < first->owner_count; k++, o++)
				if (o->pid == e.v[i].pid) {
					diag_set_culprit(c, f, c->snap, c->in->procs, o->pid, o->process_index);
					break;
				}
			r = diag_add_pid(f, e.v[i].pid);
		}
		f->count = count;
		f->close_min_idle_s = c->th.close_min_idle_s;
		for (size_t j = i; r == 0 && j < end; j++) {
			const struct ts_socket *s = diag_sock_at(c, e.v[j].sock);

			r = diag_add_fd(f, e.v[j].fd);
			if (r < 0 || (j > i && e.v[j].sock == e.v[j - 1].sock))
				continue;
			uint64_t unread = ts_socket_unread_bytes(s);

			f->unread_bytes += unread;
			f->eof_read += s->recv_q == 0;
			diag_note_age(f, s);
			note_closable(c, f, s);
			r = diag_add_group(f, s, true, false, unread);
		}
		diag_finish_lists(f);
		if (count >= c->th.close_wait_critical || fd_near_limit(c, f))
			f->severity = TS_SEVERITY_CRITICAL;
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- growth between two looks ---- */

struct pid_count {
	pid_t pid;
	uint32_t process_index;
	uint64_t count;
};

/* CLOSE_WAIT sockets per pid (each socket once per process), sorted by pid. */
static int count_by_pid(const struct diag_ctx *c, const struct ts_snapshot *snap,
			struct pid_count **ret, size_t *ret_n)
{
	struct diag_ents e = { 0 };
	struct pid_count *v = NULL;
	size_t n = 0;
	int r = diag_gather_by_pid(c, snap, TS_STATE_BIT(TS_STATE_CLOSE_WAIT), false, &e);

	if (r == 0 && e.n) {
		v = calloc(e.n, sizeof(*v));
		if (!v)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < e.n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, e.v[i].sock);

		if (n == 0 || v[n - 1].pid != e.v[i].pid) {
			const struct ts_owner *o = ts_snapshot_owners(snap, s);

			v[n] = (struct pid_count){ .pid = e.v[i].pid };
			for (unsigned k = 0; o && k < s->owner_count; k++)
				if (o[k].pid == e.v[i].pid)
					v[n].process_index = o[k].process_index;
			n++;
		}
		if (i == 0 || e.v[i].sock != e.v[i - 1].sock || e.v[i].pid != e.v[i - 1].pid)
			v[n - 1].count++;
	}
	free(e.v);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static const struct pid_count *find_pid_count(const struct pid_count *v, size_t n, pid_t pid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid].pid == pid)
			return &v[mid];
		if (v[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int diag_rule_leak(struct diag_ctx *c)
{
	struct pid_count *before = NULL, *after = NULL;
	size_t n_before = 0, n_after = 0;
	double dt = c->in->interval_s;
	int r;

	if (!c->in->later)
		return 0;
	r = count_by_pid(c, c->snap, &before, &n_before);
	if (r == 0)
		r = count_by_pid(c, c->in->later, &after, &n_after);
	for (size_t i = 0; r == 0 && i < n_after; i++) {
		const struct pid_count *b = find_pid_count(before, n_before, after[i].pid);
		uint64_t cw0 = b ? b->count : 0, cw1 = after[i].count;
		const struct ts_procinfo *p0 = ts_diag_procs_find(c->in->procs, after[i].pid);
		const struct ts_procinfo *p1 = ts_diag_procs_find(c->in->procs_later, after[i].pid);
		const struct ts_socket *s0 = NULL;
		struct ts_finding *f;
		double growth;

		if (cw1 <= cw0)
			continue;
		/* The namespace of one of its CLOSE_WAIT sockets in the later look. */
		for (size_t k = 0; k < ts_snapshot_socket_count(c->in->later) && !s0; k++) {
			const struct ts_socket *s = ts_snapshot_socket(c->in->later, k);
			const struct ts_owner *o = ts_snapshot_owners(c->in->later, s);

			for (unsigned m = 0; s->state == TS_STATE_CLOSE_WAIT && o && m < s->owner_count; m++)
				if (o[m].pid == after[i].pid)
					s0 = s;
		}
		f = diag_add(c, TS_FINDING_LEAK, TS_SEVERITY_WARNING, s0 ? s0->netns_index : 0);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		diag_set_culprit(c, f, c->in->later, c->in->procs_later, after[i].pid, after[i].process_index);
		r = diag_add_pid(f, after[i].pid);
		f->count = cw1;
		f->count_before = cw0;
		f->has_rate = true;
		f->rate_per_s = (double)(cw1 - cw0) / dt;
		if (p0 && p1 && !p0->fd_err && !p1->fd_err)
			f->fd_rate_per_s = ((double)p1->fd_count - (double)p0->fd_count) / dt;
		growth = f->fd_rate_per_s > 0 ? f->fd_rate_per_s : f->rate_per_s;
		if (p1 && !p1->fd_err && !p1->nofile_err && p1->nofile_soft != TS_PROCINFO_UNLIMITED) {
			f->limit = p1->nofile_soft;
			f->has_eta = true;
			f->seconds_to_limit = p1->fd_count >= p1->nofile_soft
				? 0 : (double)(p1->nofile_soft - p1->fd_count) / growth;
		} else if (p1) {
			f->limit_err = p1->nofile_err ? p1->nofile_err : p1->fd_err;
		} else {
			f->limit_err = -ESRCH;
		}
		if (f->has_eta && f->seconds_to_limit < c->th.leak_critical_s)
			f->severity = TS_SEVERITY_CRITICAL;
	}
	free(before);
	free(after);
	return r;
}

/* ---- CLOSED / IDLE fds held open ---- */

int diag_rule_dead_held(struct diag_ctx *c)
{
	struct diag_ents e = { 0 };
	int r = diag_gather_by_pid(c, c->snap, TS_STATE_BIT(TS_STATE_CLOSED) | TS_STATE_BIT(TS_STATE_IDLE),
				   false, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diag_run_end(&e, i);
		const struct ts_socket *first = diag_sock_at(c, e.v[i].sock);
		uint32_t closed = 0, idle = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			const struct ts_socket *s = diag_sock_at(c, e.v[j].sock);

			if (j > i && e.v[j].sock == e.v[j - 1].sock)
				continue;
			closed += s->state == TS_STATE_CLOSED;
			idle += s->state == TS_STATE_IDLE;
		}
		if (closed >= c->th.dead_min && closed > 0)
			sev = TS_SEVERITY_WARNING;
		else if (idle >= c->th.dead_min && idle > 0)
			sev = TS_SEVERITY_INFO;
		else {
			i = end;
			continue;
		}
		f = diag_add(c, TS_FINDING_DEAD_HELD, sev, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->state = closed ? TS_STATE_CLOSED : TS_STATE_IDLE;
		f->state_counts[TS_STATE_CLOSED] = closed;
		f->state_counts[TS_STATE_IDLE] = idle;
		f->count = closed + idle;
		for (unsigned k = 0; k < first->owner_count; k++) {
			const struct ts_owner *o = diag_owner_of(c, first, k);

			if (o && o->pid == e.v[i].pid) {
				diag_set_culprit(c, f, c->snap, c->in->procs, o->pid, o->process_index);
				break;
			}
		}
		r = diag_add_pid(f, e.v[i].pid);
		for (size_t j = i; r == 0 && j < end; j++)
			r = diag_add_fd(f, e.v[j].fd);
		/* The peers the CLOSED connections had, where the owner source
		 * could read them from the socket (BPF). */
		for (size_t j = i; r == 0 && j < end; j++) {
			const struct ts_socket *s = diag_sock_at(c, e.v[j].sock);

			if (j > i && e.v[j].sock == e.v[j - 1].sock)
				continue;
			if (s->state == TS_STATE_CLOSED && (s->flags & TS_SOCK_REMOTE_VALID))
				r = diag_add_group(f, s, false, true, 0);
		}
		diag_finish_lists(f);
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- FIN_WAIT_2 ---- */

static bool is_held(const struct diag_ctx *c, const struct ts_socket *s)
{
	(void)c;
	return !ts_socket_is_orphan(s);
}

static bool is_orphan(const struct diag_ctx *c, const struct ts_socket *s)
{
	(void)c;
	return ts_socket_is_orphan(s);
}

/* A finding whose peer (the other end of its first socket) is looked up. */
struct peer_lookup {
	size_t finding;        /* index: findings move when the array grows */
	uint32_t sock;
	bool done;
};

#define PEER_SLOTS 256 /* > 2 * MAX_PEER_LOOKUPS, a power of two */

static uint32_t tuple_hash(uint32_t netns, uint16_t lport, uint16_t rport,
			   const struct in6_addr *laddr, const struct in6_addr *raddr)
{
	uint32_t h = netns * 0x9e3779b1u;

	h ^= ((uint32_t)lport << 16 | rport) * 0x85ebca6bu;
	h ^= (laddr->s6_addr32[0] ^ laddr->s6_addr32[3]) * 0xc2b2ae35u;
	h ^= (raddr->s6_addr32[0] ^ raddr->s6_addr32[3]) * 0x27d4eb2fu;
	return h ^ (h >> 15);
}

/* Fills each finding's peer (pid, comm) from the socket at the other end of
 * its first socket, when that lives in the same namespace: one pass over
 * the snapshot for all lookups. The first socket matching decides. */
static void find_peers(struct diag_ctx *c, struct peer_lookup *l, unsigned n)
{
	size_t n_sock = ts_snapshot_socket_count(c->snap);
	int16_t slot[PEER_SLOTS];
	unsigned left = n;

	memset(slot, 0xff, sizeof(slot));
	for (unsigned k = 0; k < n; k++) {
		const struct ts_socket *s = diag_sock_at(c, l[k].sock);
		uint32_t h = tuple_hash(s->netns_index, s->remote_port, s->local_port,
					&s->remote_addr, &s->local_addr);

		while (slot[h & (PEER_SLOTS - 1)] >= 0)
			h++;
		slot[h & (PEER_SLOTS - 1)] = (int16_t)k;
	}
	for (size_t i = 0; i < n_sock && left; i++) {
		const struct ts_socket *p = diag_sock_at(c, (uint32_t)i);
		uint32_t h = tuple_hash(p->netns_index, p->local_port, p->remote_port,
					&p->local_addr, &p->remote_addr);

		for (int16_t k; (k = slot[h & (PEER_SLOTS - 1)]) >= 0; h++) {
			const struct ts_socket *s = diag_sock_at(c, l[k].sock);
			const struct ts_owner *o;
			const struct ts_process *proc;
			struct ts_finding *f;

			if (l[k].done || p->netns_index != s->netns_index || p->family != s->family ||
			    p->local_port != s->remote_port || p->remote_port != s->local_port ||
			    memcmp(&p->local_addr, &s->remote_addr, sizeof(p->local_addr)) ||
			    memcmp(&p->remote_addr, &s->local_addr, sizeof(p->remote_addr)))
				continue;
			l[k].done = true;
			left--;
			o = diag_owner_of(c, p, 0);
			if (!o)
				continue;
			f = &c->d->findings[l[k].finding];
			f->peer_pid = o->pid;
			proc = ts_snapshot_process(c->snap, o->process_index);
			if (proc)
				memcpy(f->peer_comm, proc->comm, sizeof(f->peer_comm));
		}
	}
}

int diag_rule_fin_wait_2(struct diag_ctx *c)
{
	struct diag_ents e = { 0 };
	struct peer_lookup lookups[MAX_PEER_LOOKUPS];
	unsigned n_lookups = 0;
	int r = diag_gather_by_remote(c, TS_STATE_BIT(TS_STATE_FIN_WAIT_2), true, is_held, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diag_run_end(&e, i);
		const struct ts_socket *first = diag_sock_at(c, e.v[i].sock);
		struct ts_finding *f;

		if (end - i < c->th.fin_wait_2_min) {
			i = end;
			continue;
		}
		f = diag_add(c, TS_FINDING_FIN_WAIT_2_PEER, TS_SEVERITY_WARNING, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = end - i;
		diag_set_remote(f, &e.v[i], true);
		r = diag_add_owners(c, f, &e, i, end);
		for (size_t j = i; r == 0 && j < end; j++) {
			diag_note_age(f, diag_sock_at(c, e.v[j].sock));
			r = diag_add_group(f, diag_sock_at(c, e.v[j].sock), true, true, 0);
		}
		diag_finish_lists(f);
		if (n_lookups < MAX_PEER_LOOKUPS)
			lookups[n_lookups++] = (struct peer_lookup){
				.finding = (size_t)(f - c->d->findings), .sock = e.v[i].sock,
			};
		i = end;
	}
	free(e.v);
	if (r < 0)
		return r;
	find_peers(c, lookups, n_lookups);

	/* Orphans: one finding per namespace. */
	e = (struct diag_ents){ 0 };
	r = diag_gather_by_remote(c, TS_STATE_BIT(TS_STATE_FIN_WAIT_2), false, is_orphan, &e);
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = i;
		uint32_t ns = e.v[i].k_netns;
		const struct ts_diag_sysctls *sy = diag_sysctls(c, ns);
		struct ts_finding *f;

		while (end < e.n && e.v[end].k_netns == ns)
			end++;
		f = diag_add(c, TS_FINDING_FIN_WAIT_2_ORPHAN,
			     end - i >= c->th.orphan_fin_wait_2_min ? TS_SEVERITY_WARNING : TS_SEVERITY_INFO, ns);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = end - i;
		f->limit = sy->err[TS_DS_FIN_TIMEOUT] ? 0 : (uint64_t)sy->value[TS_DS_FIN_TIMEOUT];
		f->limit_err = sy->err[TS_DS_FIN_TIMEOUT];
		/* Orphans reset for want of memory or over tcp_max_orphans; FIN_WAIT_2 with no TIME_WAIT record. */
		diag_cite(c, f, (1u << TS_NSTAT_ABORT_ON_MEMORY) | (1u << TS_NSTAT_TIMEWAIT_OVERFLOW));
		for (size_t j = i; r == 0 && j < end; j++) {
			diag_note_age(f, diag_sock_at(c, e.v[j].sock));
			r = diag_add_group(f, diag_sock_at(c, e.v[j].sock), false, true, 0);
		}
		diag_finish_lists(f);
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- LAST_ACK / FIN_WAIT_1 / CLOSING ---- */

int diag_rule_unacked_close(struct diag_ctx *c)
{
	static const enum ts_state states[] = { TS_STATE_LAST_ACK, TS_STATE_FIN_WAIT_1, TS_STATE_CLOSING };
	ts_state_mask_t m = TS_STATE_BIT(TS_STATE_LAST_ACK) | TS_STATE_BIT(TS_STATE_FIN_WAIT_1) |
			    TS_STATE_BIT(TS_STATE_CLOSING);
	struct diag_ents e = { 0 };
	int r = diag_gather_by_remote(c, m, false, NULL, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diag_run_end(&e, i);
		const struct ts_socket *first = diag_sock_at(c, e.v[i].sock);
		uint32_t counts[_TS_STATE_MAX] = { 0 };
		unsigned retrans = 0;
		bool probing = false;
		enum ts_severity sev;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			const struct ts_socket *s = diag_sock_at(c, e.v[j].sock);
			unsigned rt = ts_socket_retransmissions(s);

			counts[s->state]++;
			if (rt > retrans)
				retrans = rt;
			probing |= s->timer == TS_TIMER_PROBE;
		}
		if (end - i >= c->th.unacked_min)
			sev = TS_SEVERITY_WARNING;
		else if (retrans > 0 || probing)
			sev = TS_SEVERITY_INFO;
		else {
			i = end;
			continue;
		}
		f = diag_add(c, TS_FINDING_UNACKED_CLOSE, sev, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		/* Retries run out; orphans reset for want of memory or over tcp_max_orphans. */
		diag_cite(c, f, (1u << TS_NSTAT_ABORT_ON_TIMEOUT) | (1u << TS_NSTAT_ABORT_ON_MEMORY));
		f->count = end - i;
		memcpy(f->state_counts, counts, sizeof(counts));
		f->max_retransmits = retrans;
		f->state = states[0];
		for (size_t k = 1; k < sizeof(states) / sizeof(states[0]); k++)
			if (counts[states[k]] > counts[f->state])
				f->state = states[k];
		diag_set_remote(f, &e.v[i], false);
		r = diag_add_owners(c, f, &e, i, end);
		for (size_t j = i; r == 0 && j < end; j++) {
			diag_note_age(f, diag_sock_at(c, e.v[j].sock));
			r = diag_add_group(f, diag_sock_at(c, e.v[j].sock), true, true, 0);
		}
		diag_finish_lists(f);
		i = end;
	}
	free(e.v);
	return r;
}
