/* SPDX-License-Identifier: MIT */
/*
 * The rules of ts_diagnose() about closing connections: CLOSE_WAIT held by a
 * program and its growth, CLOSED/IDLE fds held open, FIN_WAIT_2, and
 * LAST_ACK/FIN_WAIT_1/CLOSING.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diagnose_ctx.h"
#include "tcpstate/activity.h"
#include "tcpstate/socket_facts.h"

/* ---- CLOSE_WAIT held by a program ---- */

/* Counts s as abandoned (what close --min-idle would act on), or notes how recently it moved. */
static void note_closable(const struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s)
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

/* The fds of pid among the owners of s. */
static int add_fds_of(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s, pid_t pid)
{
	int r = 0;

	for (unsigned k = 0; r == 0 && k < s->owner_count; k++) {
		const struct ts_owner *o = diagnose_owner_of(c, s, k);

		if (o && o->pid == pid)
			r = diagnose_add_fd(f, o->fd);
	}
	return r;
}

/* One finding per namespace and set of holding processes: sockets inherited by
 * forked children are one problem, named with every holder, parent first. */
int diagnose_rule_close_wait(struct diagnose_ctx *c)
{
	struct diagnose_holders h = { 0 };
	int r = diagnose_gather_by_holders(c, TS_STATE_BIT(TS_STATE_CLOSE_WAIT), true, &h);

	for (size_t i = 0; r == 0 && i < h.n;) {
		size_t end = diagnose_holders_run_end(&h, i);
		const struct ts_socket *first = diagnose_sock_at(c, h.v[i].sock);
		uint64_t settled = 0;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++)
			settled += diagnose_cw_settled(c, c->snap, diagnose_sock_at(c, h.v[j].sock), NULL);
		if (settled == 0 || settled < c->th.close_wait_min) {
			i = end;
			continue;
		}
		f = diagnose_add(c, TS_FINDING_CLOSE_WAIT, TS_SEVERITY_WARNING, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		r = diagnose_set_holders(c, f, c->snap, c->in->procs, first, h.pool + h.v[i].off, h.v[i].n);
		f->count = settled;
		f->min_age_s = c->th.min_age_s;
		f->close_min_idle_s = c->th.close_min_idle_s;
		for (size_t j = i; r == 0 && j < end; j++) {
			const struct ts_socket *s = diagnose_sock_at(c, h.v[j].sock);
			bool unknown;
			uint64_t unread;

			if (!diagnose_cw_settled(c, c->snap, s, &unknown)) {
				f->young++;
				continue;
			}
			f->unknown_age += unknown;
			if (f->pid)
				r = add_fds_of(c, f, s, f->pid);
			unread = ts_socket_unread_bytes(s);
			f->unread_bytes += unread;
			f->eof_read += s->recv_q == 0;
			diagnose_note_age(f, s);
			note_closable(c, f, s);
			if (r == 0)
				r = diagnose_add_stable_group(c, f, s, unread);
		}
		diagnose_finish_lists(c, f);
		if (f->count >= c->th.close_wait_critical) {
			f->severity = TS_SEVERITY_CRITICAL;
			f->severity_reason = f->pid ? TS_SEV_REASON_HELD : TS_SEV_REASON_RULE;
			f->held_stale = f->count;
			f->severity_pid = f->pid;
		}
		diagnose_holders_severity(c, f);
		i = end;
	}
	diagnose_holders_free(&h);
	return r;
}

/* ---- growth between two looks ---- */

/* One process's CLOSE_WAIT sockets old enough (diagnose_cw_settled) in one look. */
struct pid_look {
	pid_t pid;
	uint32_t process_index;
	uint32_t netns_index;
	uint64_t count;
	uint64_t kept;  /* first look: of count, still held by pid at the second look */
	uint64_t hash;  /* second look: of the sockets counted (which ones) */
};

static bool held_by(const struct ts_snapshot *snap, const struct ts_socket *s, pid_t pid)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);

	for (unsigned k = 0; o && k < s->owner_count; k++)
		if (o[k].pid == pid)
			return true;
	return false;
}

/* Per pid of snap (the first look or the later one), sorted by pid. */
static int look_by_pid(const struct diagnose_ctx *c, const struct ts_snapshot *snap,
		       struct pid_look **ret, size_t *ret_n)
{
	bool first_look = snap == c->snap;
	struct diagnose_ents e = { 0 };
	struct pid_look *v = NULL;
	size_t n = 0;
	int r = diagnose_gather_by_pid(c, snap, TS_STATE_BIT(TS_STATE_CLOSE_WAIT), false, &e);

	if (r == 0 && e.n) {
		v = calloc(e.n, sizeof(*v));
		if (!v)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < e.n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, e.v[i].sock);
		struct pid_look *p;

		if (n == 0 || v[n - 1].pid != e.v[i].pid) {
			const struct ts_owner *o = ts_snapshot_owners(snap, s);

			v[n] = (struct pid_look){ .pid = e.v[i].pid, .netns_index = s->netns_index,
						  .hash = 0xcbf29ce484222325ull };
			for (unsigned k = 0; o && k < s->owner_count; k++)
				if (o[k].pid == e.v[i].pid)
					v[n].process_index = o[k].process_index;
			n++;
		}
		p = &v[n - 1];
		if ((i > 0 && e.v[i].sock == e.v[i - 1].sock && e.v[i].pid == e.v[i - 1].pid) ||
		    !diagnose_cw_settled(c, snap, s, NULL))
			continue;
		p->count++;
		if (first_look) {
			uint32_t k = s->inode ? sock_index_find(&c->idx_later, s->inode, s->cookie) : UINT32_MAX;

			if (k != UINT32_MAX && held_by(c->in->later, ts_snapshot_socket(c->in->later, k), p->pid))
				p->kept++;
		} else {
			p->hash = (p->hash ^ s->inode ^ (s->cookie << 20)) * 0x100000001b3ull;
		}
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

static const struct pid_look *find_pid_look(const struct pid_look *v, size_t n, pid_t pid)
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

static int look_cmp(const void *a, const void *b)
{
	const struct pid_look *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The leak finding for the processes growing[i..end) (they hold the same sockets). */
static int add_leak(struct diagnose_ctx *c, const struct pid_look *growing, size_t i, size_t end,
		    const struct pid_look *before, size_t n_before)
{
	double dt = c->in->interval_s;
	const struct pid_look *a = &growing[i], *b;
	const struct ts_procinfo *p0, *p1;
	struct ts_finding *f;
	pid_t *pids;
	double growth;
	int r;

	f = diagnose_add(c, TS_FINDING_LEAK, TS_SEVERITY_WARNING, a->netns_index);
	if (!f)
		return -ENOMEM;
	pids = malloc((end - i) * sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	for (size_t k = i; k < end; k++)
		pids[k - i] = growing[k].pid;
	r = diagnose_set_holders(c, f, c->in->later, c->in->procs_later, NULL, pids, end - i);
	free(pids);
	if (r < 0)
		return r;
	/* The culprit's facts and counts (the oldest holder). */
	for (size_t k = i; k < end; k++)
		if (growing[k].pid == f->pid)
			a = &growing[k];
	diagnose_set_culprit(c, f, c->in->later, c->in->procs_later, a->pid, a->process_index);
	b = find_pid_look(before, n_before, a->pid);
	p0 = ts_diagnose_procs_find(c->in->procs, a->pid);
	p1 = ts_diagnose_procs_find(c->in->procs_later, a->pid);
	f->count = a->count;
	f->count_before = b ? b->count : 0;
	f->kept = b ? b->kept : 0;
	f->min_age_s = c->th.min_age_s;
	f->has_rate = true;
	f->rate_per_s = (double)(f->count - f->count_before) / dt;
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
	if (f->has_eta && f->seconds_to_limit < c->th.leak_critical_s) {
		f->severity = TS_SEVERITY_CRITICAL;
		f->severity_reason = TS_SEV_REASON_FD_ETA;
		f->severity_pid = f->pid;
	}
	return 0;
}

/*
 * A leak: at the second look a process holds more CLOSE_WAIT sockets old
 * enough than at the first, and every one counted at the first is still held
 * (same socket: inode and cookie). Sockets a program is closing right now are
 * young and do not count; a program that closes its old ones is not leaking.
 * Processes holding the very same sockets (forked children) make one finding.
 */
int diagnose_rule_leak(struct diagnose_ctx *c)
{
	struct pid_look *before = NULL, *after = NULL;
	size_t n_before = 0, n_after = 0, n_growing = 0;
	int r;

	if (!c->in->later)
		return 0;
	r = look_by_pid(c, c->snap, &before, &n_before);
	if (r == 0)
		r = look_by_pid(c, c->in->later, &after, &n_after);
	for (size_t i = 0; r == 0 && i < n_after; i++) {
		const struct pid_look *b = find_pid_look(before, n_before, after[i].pid);
		uint64_t cw0 = b ? b->count : 0, kept = b ? b->kept : 0;

		if (after[i].count > cw0 && kept == cw0)
			after[n_growing++] = after[i];
	}
	if (r == 0 && n_growing > 1)
		qsort(after, n_growing, sizeof(*after), look_cmp);
	for (size_t i = 0; r == 0 && i < n_growing;) {
		size_t end = i + 1;

		while (end < n_growing && after[end].hash == after[i].hash &&
		       after[end].count == after[i].count)
			end++;
		r = add_leak(c, after, i, end, before, n_before);
		i = end;
	}
	free(before);
	free(after);
	return r;
}

/* ---- CLOSED / IDLE fds held open ---- */

int diagnose_rule_dead_held(struct diagnose_ctx *c)
{
	struct diagnose_holders h = { 0 };
	int r = diagnose_gather_by_holders(c, TS_STATE_BIT(TS_STATE_CLOSED) | TS_STATE_BIT(TS_STATE_IDLE),
				       false, &h);

	for (size_t i = 0; r == 0 && i < h.n;) {
		size_t end = diagnose_holders_run_end(&h, i);
		const struct ts_socket *first = diagnose_sock_at(c, h.v[i].sock);
		uint32_t closed = 0, idle = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			const struct ts_socket *s = diagnose_sock_at(c, h.v[j].sock);

			closed += s->state == TS_STATE_CLOSED && diagnose_old_enough(c, s);
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
		f = diagnose_add(c, TS_FINDING_DEAD_HELD, sev, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->state = closed ? TS_STATE_CLOSED : TS_STATE_IDLE;
		f->state_counts[TS_STATE_CLOSED] = closed;
		f->state_counts[TS_STATE_IDLE] = idle;
		f->count = closed + idle;
		r = diagnose_set_holders(c, f, c->snap, c->in->procs, first, h.pool + h.v[i].off, h.v[i].n);
		for (size_t j = i; r == 0 && j < end; j++) {
			const struct ts_socket *s = diagnose_sock_at(c, h.v[j].sock);

			if (s->state == TS_STATE_CLOSED && !diagnose_old_enough(c, s))
				continue;
			r = add_fds_of(c, f, s, f->pid);
			/* The peers the CLOSED connections had, where the owner source
			 * could read them from the socket (BPF). */
			if (r == 0 && s->state == TS_STATE_CLOSED && (s->flags & TS_SOCK_REMOTE_VALID))
				r = diagnose_add_group(c, f, s, false, true, 0);
		}
		diagnose_finish_lists(c, f);
		/* Fds held open count toward critical whatever their state: a
		 * CLOSE_WAIT leak after `close --how fin` is CLOSED and still held. */
		if (closed)
			diagnose_holders_severity(c, f);
		i = end;
	}
	diagnose_holders_free(&h);
	return r;
}

/* ---- FIN_WAIT_2 ---- */

static bool is_held(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	return !ts_socket_is_orphan(s) && diagnose_old_enough(c, s);
}

static bool is_orphan(const struct diagnose_ctx *c, const struct ts_socket *s)
{
	return ts_socket_is_orphan(s) && diagnose_old_enough(c, s);
}

/* Whether the other end of s is a local CLOSE_WAIT socket; the process holding it (the first
 * found), when known, into f's peer. */
static bool set_peer(const struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s)
{
	const struct ts_socket *p = diagnose_cw_peer(c, s);
	const struct ts_owner *o = p ? diagnose_owner_of(c, p, 0) : NULL;
	const struct ts_process *proc;

	if (!p)
		return false;
	if (o && !f->peer_pid) {
		f->peer_pid = o->pid;
		proc = ts_snapshot_process(c->snap, o->process_index);
		if (proc)
			memcpy(f->peer_comm, proc->comm, sizeof(f->peer_comm));
	}
	return true;
}

static const char orphan_linked_explanation[] =
	"No program holds these sockets any more: the program here closed its end, and the "
	"peer's end is a CLOSE_WAIT socket that a local process still holds without closing. "
	"They are the other half of that CLOSE_WAIT leak (its own finding), not a problem of "
	"their own; each lasts until tcp_fin_timeout, the CLOSE_WAIT end stays.";
static const char orphan_linked_advice[] =
	"Fix the process holding the CLOSE_WAIT end (the peer above, and its CLOSE_WAIT "
	"finding): when it closes its sockets these end too. Lowering tcp_fin_timeout only removes this half sooner and "
	"does nothing for the CLOSE_WAIT sockets or their file descriptors.";

int diagnose_rule_fin_wait_2(struct diagnose_ctx *c)
{
	struct diagnose_ents e = { 0 };
	int r = diagnose_gather_by_remote(c, TS_STATE_BIT(TS_STATE_FIN_WAIT_2), true, is_held, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diagnose_run_end(&e, i);
		const struct ts_socket *first = diagnose_sock_at(c, e.v[i].sock);
		struct ts_finding *f;

		if (end - i < c->th.fin_wait_2_min) {
			i = end;
			continue;
		}
		f = diagnose_add(c, TS_FINDING_FIN_WAIT_2_PEER, TS_SEVERITY_WARNING, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = end - i;
		diagnose_set_remote(f, &e.v[i], true);
		r = diagnose_add_owners(c, f, &e, i, end);
		for (size_t j = i; r == 0 && j < end; j++) {
			diagnose_note_age(f, diagnose_sock_at(c, e.v[j].sock));
			r = diagnose_add_stable_group(c, f, diagnose_sock_at(c, e.v[j].sock), 0);
		}
		diagnose_finish_lists(c, f);
		set_peer(c, f, first);
		i = end;
	}
	free(e.v);
	if (r < 0)
		return r;

	/* Orphans: one finding per namespace. */
	e = (struct diagnose_ents){ 0 };
	r = diagnose_gather_by_remote(c, TS_STATE_BIT(TS_STATE_FIN_WAIT_2), false, is_orphan, &e);
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = i;
		uint32_t ns = e.v[i].k_netns;
		const struct ts_diagnose_sysctls *sy = diagnose_sysctls(c, ns);
		struct ts_finding *f;

		while (end < e.n && e.v[end].k_netns == ns)
			end++;
		f = diagnose_add(c, TS_FINDING_FIN_WAIT_2_ORPHAN,
			     end - i >= c->th.orphan_fin_wait_2_min ? TS_SEVERITY_WARNING : TS_SEVERITY_INFO, ns);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = end - i;
		f->limit = sy->err[TS_DS_FIN_TIMEOUT] ? 0 : (uint64_t)sy->value[TS_DS_FIN_TIMEOUT];
		f->limit_err = sy->err[TS_DS_FIN_TIMEOUT];
		/* Orphans reset for want of memory or over tcp_max_orphans; FIN_WAIT_2 with no TIME_WAIT record. */
		diagnose_cite(c, f, (1u << TS_NSTAT_ABORT_ON_MEMORY) | (1u << TS_NSTAT_TIMEWAIT_OVERFLOW));
		for (size_t j = i; r == 0 && j < end; j++) {
			const struct ts_socket *s = diagnose_sock_at(c, e.v[j].sock);

			diagnose_note_age(f, s);
			f->peer_linked += set_peer(c, f, s);
			r = diagnose_add_stable_group(c, f, s, 0);
		}
		if (f->peer_linked) {
			f->explanation = orphan_linked_explanation;
			f->advice = orphan_linked_advice;
		}
		/* Those paired with a local CLOSE_WAIT are that leak's other half, already a
		 * finding: only the others weigh here. */
		if (f->count - f->peer_linked < c->th.orphan_fin_wait_2_min)
			f->severity = TS_SEVERITY_INFO;
		diagnose_finish_lists(c, f);
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- LAST_ACK / FIN_WAIT_1 / CLOSING ---- */

int diagnose_rule_unacked_close(struct diagnose_ctx *c)
{
	static const enum ts_state states[] = { TS_STATE_LAST_ACK, TS_STATE_FIN_WAIT_1, TS_STATE_CLOSING };
	ts_state_mask_t m = TS_STATE_BIT(TS_STATE_LAST_ACK) | TS_STATE_BIT(TS_STATE_FIN_WAIT_1) |
			    TS_STATE_BIT(TS_STATE_CLOSING);
	struct diagnose_ents e = { 0 };
	int r = diagnose_gather_by_remote(c, m, false, NULL, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = diagnose_run_end(&e, i);
		const struct ts_socket *first = diagnose_sock_at(c, e.v[i].sock);
		uint32_t counts[_TS_STATE_MAX] = { 0 };
		unsigned retrans = 0;
		uint64_t stuck = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		/* Evidence of a silent peer is our FIN retransmitted (or zero-window
		 * probes), not the state itself: under churn closing sockets wait an
		 * RTT for the ACK in these states all the time. */
		for (size_t j = i; j < end; j++) {
			const struct ts_socket *s = diagnose_sock_at(c, e.v[j].sock);
			unsigned rt = ts_socket_retransmissions(s);

			counts[s->state]++;
			if (rt > retrans)
				retrans = rt;
			stuck += ts_socket_retransmitting(s) || s->timer == TS_TIMER_PROBE;
		}
		if (stuck >= c->th.unacked_min)
			sev = TS_SEVERITY_WARNING;
		else if (stuck > 0)
			sev = TS_SEVERITY_INFO;
		else {
			i = end;
			continue;
		}
		f = diagnose_add(c, TS_FINDING_UNACKED_CLOSE, sev, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		/* Retries run out; orphans reset for want of memory or over tcp_max_orphans. */
		diagnose_cite(c, f, (1u << TS_NSTAT_ABORT_ON_TIMEOUT) | (1u << TS_NSTAT_ABORT_ON_MEMORY));
		f->count = end - i;
		memcpy(f->state_counts, counts, sizeof(counts));
		f->max_retransmits = retrans;
		f->state = states[0];
		for (size_t k = 1; k < sizeof(states) / sizeof(states[0]); k++)
			if (counts[states[k]] > counts[f->state])
				f->state = states[k];
		diagnose_set_remote(f, &e.v[i], false);
		r = diagnose_add_owners(c, f, &e, i, end);
		for (size_t j = i; r == 0 && j < end; j++) {
			diagnose_note_age(f, diagnose_sock_at(c, e.v[j].sock));
			r = diagnose_add_stable_group(c, f, diagnose_sock_at(c, e.v[j].sock), 0);
		}
		diagnose_finish_lists(c, f);
		i = end;
	}
	free(e.v);
	return r;
}
