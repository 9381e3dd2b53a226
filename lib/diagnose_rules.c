/* SPDX-License-Identifier: MIT */
/* The rules of ts_diagnose(): one function per kind of trouble. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose-internal.h"

#define MAX_PIDS 64    /* per finding; beyond that the finding keeps the count only */
#define MAX_GROUPS 256 /* per finding */
#define MAX_PEER_LOOKUPS 64

/* One (socket, owner) with the key it is grouped by; unused key fields stay zero. */
struct ent {
	uint32_t k_netns;
	uint8_t k_family;
	struct in6_addr k_addr;
	uint16_t k_port;
	uint16_t k_lport;
	pid_t k_pid;
	uint32_t sock;
	pid_t pid;
	int fd;
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static int ents_push(struct ents *e, const struct ent *x)
{
	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 64;
		struct ent *v = realloc(e->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = nc;
	}
	e->v[e->n++] = *x;
	return 0;
}

static int cmp_num(long long a, long long b)
{
	return (a > b) - (a < b);
}

static int ent_key_cmp(const struct ent *x, const struct ent *y)
{
	int r;

	if ((r = cmp_num(x->k_netns, y->k_netns)))
		return r;
	if ((r = cmp_num(x->k_family, y->k_family)))
		return r;
	if ((r = memcmp(&x->k_addr, &y->k_addr, sizeof(x->k_addr))))
		return r;
	if ((r = cmp_num(x->k_port, y->k_port)))
		return r;
	if ((r = cmp_num(x->k_lport, y->k_lport)))
		return r;
	return cmp_num(x->k_pid, y->k_pid);
}

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int r = ent_key_cmp(x, y);

	if (r)
		return r;
	if ((r = cmp_num(x->sock, y->sock)))
		return r;
	return cmp_num(x->fd, y->fd);
}

static void ents_sort(struct ents *e)
{
	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), ent_cmp);
}

/* End of the run of entries sharing v[i]'s key. */
static size_t run_end(const struct ents *e, size_t i)
{
	size_t j = i + 1;

	while (j < e->n && ent_key_cmp(&e->v[i], &e->v[j]) == 0)
		j++;
	return j;
}

static const struct ts_socket *sock_at(const struct diag_ctx *c, uint32_t i)
{
	return ts_snapshot_socket(c->snap, i);
}

static bool state_in(const struct ts_socket *s, ts_state_mask_t m)
{
	return s->state < _TS_STATE_MAX && (m & TS_STATE_BIT(s->state));
}

/* Lower bound of the time since the peer last sent anything. */
static bool socket_silence_ms(const struct ts_socket *s, uint64_t *ret)
{
	if (!(s->flags & TS_SOCK_HAS_INFO))
		return false;
	*ret = s->info.last_data_recv_ms < s->info.last_ack_recv_ms ? s->info.last_data_recv_ms
								    : s->info.last_ack_recv_ms;
	return true;
}

static void note_age(struct ts_finding *f, const struct ts_socket *s)
{
	uint64_t age;

	if (socket_silence_ms(s, &age) && (!f->has_age || age > f->age_min_ms)) {
		f->has_age = true;
		f->age_min_ms = age;
	}
}

static unsigned socket_retrans(const struct ts_socket *s)
{
	unsigned r = s->timer_retrans;

	if ((s->flags & TS_SOCK_HAS_INFO) && s->info.retransmits > r)
		r = s->info.retransmits;
	if ((s->flags & TS_SOCK_HAS_INFO) && s->info.backoff > r)
		r = s->info.backoff;
	return r;
}

static int add_pid(struct ts_finding *f, pid_t pid)
{
	pid_t *v;

	if (pid <= 0)
		return 0;
	for (size_t i = 0; i < f->n_pids; i++)
		if (f->pids[i] == pid)
			return 0;
	if (f->n_pids >= MAX_PIDS)
		return 0;
	v = realloc(f->pids, (f->n_pids + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[f->n_pids++] = pid;
	f->pids = v;
	return 0;
}

static int add_fd(struct ts_finding *f, int fd)
{
	int *v;

	if (fd < 0)
		return 0;
	if (f->n_fds && f->fds[f->n_fds - 1] == fd)
		return 0;
	v = realloc(f->fds, (f->n_fds + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[f->n_fds++] = fd;
	f->fds = v;
	return 0;
}

static int int_cmp(const void *a, const void *b)
{
	return cmp_num(*(const int *)a, *(const int *)b);
}

/* Adds one socket to the group (family, lport, addr, rport) of f. */
static int add_group(struct ts_finding *f, const struct ts_socket *s, bool with_lport, bool with_rport,
		     uint64_t unread)
{
	struct ts_finding_group key = { .family = s->family };
	struct ts_finding_group *v;

	if (with_lport)
		key.local_port = s->local_port;
	if (s->flags & TS_SOCK_REMOTE_VALID) {
		key.remote_addr = s->remote_addr;
		if (with_rport)
			key.remote_port = s->remote_port;
	}
	for (size_t i = 0; i < f->n_groups; i++) {
		struct ts_finding_group *g = &f->groups[i];

		if (g->family == key.family && g->local_port == key.local_port &&
		    g->remote_port == key.remote_port &&
		    memcmp(&g->remote_addr, &key.remote_addr, sizeof(key.remote_addr)) == 0) {
			g->count++;
			g->unread_bytes += unread;
			return 0;
		}
	}
	if (f->n_groups >= MAX_GROUPS)
		return 0;
	v = realloc(f->groups, (f->n_groups + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	key.count = 1;
	key.unread_bytes = unread;
	v[f->n_groups++] = key;
	f->groups = v;
	return 0;
}

static int group_cmp(const void *a, const void *b)
{
	const struct ts_finding_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return cmp_num(x->local_port, y->local_port);
}

static void finish_lists(struct ts_finding *f)
{
	if (f->n_groups > 1)
		qsort(f->groups, f->n_groups, sizeof(*f->groups), group_cmp);
	if (f->n_fds > 1)
		qsort(f->fds, f->n_fds, sizeof(*f->fds), int_cmp);
	/* One local port / remote end for all: say so on the finding itself. */
	if (f->n_groups == 1) {
		if (!f->local_port)
			f->local_port = f->groups[0].local_port;
	}
}

/* The culprit process: comm from the snapshot, facts from procs. */
static void set_culprit(const struct diag_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
			const struct ts_diag_procs *procs, pid_t pid, uint32_t process_index)
{
	const struct ts_process *p = ts_snapshot_process(snap, process_index);
	const struct ts_procinfo *pi = ts_diag_procs_find(procs, pid);

	(void)c;
	f->pid = pid;
	if (p && p->pid == pid)
		memcpy(f->comm, p->comm, sizeof(f->comm));
	if (pi) {
		f->has_proc = true;
		f->proc = *pi;
	}
}

/* Owner i of a socket, or NULL. */
static const struct ts_owner *owner_of(const struct diag_ctx *c, const struct ts_socket *s, unsigned i)
{
	const struct ts_owner *o = ts_snapshot_owners(c->snap, s);

	return o && i < s->owner_count ? &o[i] : NULL;
}

static bool fd_near_limit(const struct diag_ctx *c, const struct ts_finding *f)
{
	const struct ts_procinfo *p = &f->proc;

	if (!f->has_proc || p->fd_err || p->nofile_err || p->nofile_soft == TS_PROCINFO_UNLIMITED ||
	    p->nofile_soft == 0)
		return false;
	return (uint64_t)p->fd_count * 100 >= (uint64_t)c->th.fd_critical_pct * p->nofile_soft;
}

/* ---- CLOSE_WAIT held by a program ---- */

/* Per owner (pid 0 / fd -1 for sockets without one), keyed by pid. */
static int gather_by_pid(const struct diag_ctx *c, const struct ts_snapshot *snap, ts_state_mask_t m,
			 bool with_unowned, struct ents *e)
{
	size_t n = ts_snapshot_socket_count(snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const struct ts_owner *o = ts_snapshot_owners(snap, s);
		struct ent x = { .sock = (uint32_t)i, .fd = -1 };

		(void)c;
		if (!state_in(s, m))
			continue;
		if (!o || !s->owner_count) {
			if (with_unowned && ents_push(e, &x) < 0)
				return -ENOMEM;
			continue;
		}
		for (unsigned k = 0; k < s->owner_count; k++) {
			x.k_pid = x.pid = o[k].pid;
			x.fd = o[k].fd;
			if (ents_push(e, &x) < 0)
				return -ENOMEM;
		}
	}
	ents_sort(e);
	return 0;
}

int diag_rule_close_wait(struct diag_ctx *c)
{
	struct ents e = { 0 };
	int r = gather_by_pid(c, c->snap, TS_STATE_BIT(TS_STATE_CLOSE_WAIT), true, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = run_end(&e, i);
		const struct ts_socket *first = sock_at(c, e.v[i].sock);
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
			const struct ts_owner *o = owner_of(c, first, 0);

			for (unsigned k = 0; o && k < first->owner_count; k++, o++)
				if (o->pid == e.v[i].pid) {
					set_culprit(c, f, c->snap, c->in->procs, o->pid, o->process_index);
					break;
				}
			r = add_pid(f, e.v[i].pid);
		}
		f->count = count;
		for (size_t j = i; r == 0 && j < end; j++) {
			const struct ts_socket *s = sock_at(c, e.v[j].sock);

			r = add_fd(f, e.v[j].fd);
			if (r < 0 || (j > i && e.v[j].sock == e.v[j - 1].sock))
				continue;
			/* Recv-Q counts the FIN's sequence number until the program reads end-of-file. */
			uint64_t unread = s->recv_q > 0 ? s->recv_q - 1 : 0;

			f->unread_bytes += unread;
			f->eof_read += s->recv_q == 0;
			note_age(f, s);
			r = add_group(f, s, true, false, unread);
		}
		finish_lists(f);
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
	struct ents e = { 0 };
	struct pid_count *v = NULL;
	size_t n = 0;
	int r = gather_by_pid(c, snap, TS_STATE_BIT(TS_STATE_CLOSE_WAIT), false, &e);

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
		set_culprit(c, f, c->in->later, c->in->procs_later, after[i].pid, after[i].process_index);
		r = add_pid(f, after[i].pid);
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
	struct ents e = { 0 };
	int r = gather_by_pid(c, c->snap, TS_STATE_BIT(TS_STATE_CLOSED) | TS_STATE_BIT(TS_STATE_IDLE),
			      false, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = run_end(&e, i);
		const struct ts_socket *first = sock_at(c, e.v[i].sock);
		uint32_t closed = 0, idle = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			const struct ts_socket *s = sock_at(c, e.v[j].sock);

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
			const struct ts_owner *o = owner_of(c, first, k);

			if (o && o->pid == e.v[i].pid) {
				set_culprit(c, f, c->snap, c->in->procs, o->pid, o->process_index);
				break;
			}
		}
		r = add_pid(f, e.v[i].pid);
		for (size_t j = i; r == 0 && j < end; j++)
			r = add_fd(f, e.v[j].fd);
		finish_lists(f);
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- grouped by remote end ---- */

/* One entry per socket in m, keyed by (netns, family, remote address[, remote port]). */
static int gather_by_remote(const struct diag_ctx *c, ts_state_mask_t m, bool with_port,
			    bool (*want)(const struct diag_ctx *c, const struct ts_socket *s),
			    struct ents *e)
{
	size_t n = ts_snapshot_socket_count(c->snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = sock_at(c, (uint32_t)i);
		struct ent x = { .sock = (uint32_t)i, .fd = -1 };

		if (!state_in(s, m) || (want && !want(c, s)))
			continue;
		x.k_netns = s->netns_index;
		x.k_family = s->family;
		if (s->flags & TS_SOCK_REMOTE_VALID) {
			x.k_addr = s->remote_addr;
			if (with_port)
				x.k_port = s->remote_port;
		}
		if (ents_push(e, &x) < 0)
			return -ENOMEM;
	}
	ents_sort(e);
	return 0;
}

/* Pids (and, when a single process holds them all, its fds and facts) of a run of sockets. */
static int add_owners(struct diag_ctx *c, struct ts_finding *f, const struct ents *e, size_t i,
		      size_t end)
{
	pid_t only = 0;
	bool single = true;
	int r = 0;

	for (size_t j = i; r == 0 && j < end; j++) {
		const struct ts_socket *s = sock_at(c, e->v[j].sock);

		for (unsigned k = 0; r == 0 && k < s->owner_count; k++) {
			const struct ts_owner *o = owner_of(c, s, k);

			if (!o)
				break;
			r = add_pid(f, o->pid);
			if (!only) {
				only = o->pid;
				set_culprit(c, f, c->snap, c->in->procs, o->pid, o->process_index);
			} else if (o->pid != only) {
				single = false;
			}
			if (r == 0 && o->pid == f->pid)
				r = add_fd(f, o->fd);
		}
	}
	if (!single) { /* several holders: no single culprit process */
		f->pid = 0;
		f->has_proc = false;
		f->comm[0] = '\0';
		free(f->fds);
		f->fds = NULL;
		f->n_fds = 0;
	}
	return r;
}

static void set_remote(struct ts_finding *f, const struct ent *x, bool with_port)
{
	f->family = x->k_family;
	f->has_remote = true;
	f->remote_addr = x->k_addr;
	f->remote_port = with_port ? x->k_port : 0;
}

static bool is_held(const struct diag_ctx *c, const struct ts_socket *s)
{
	(void)c;
	return s->inode != 0;
}

static bool is_orphan(const struct diag_ctx *c, const struct ts_socket *s)
{
	(void)c;
	return s->inode == 0;
}

/* The socket at the other end of s, when it lives in the same namespace. */
static void find_peer(struct diag_ctx *c, struct ts_finding *f, const struct ts_socket *s)
{
	size_t n = ts_snapshot_socket_count(c->snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *p = sock_at(c, (uint32_t)i);
		const struct ts_owner *o;
		const struct ts_process *proc;

		if (p->netns_index != s->netns_index || p->family != s->family ||
		    p->local_port != s->remote_port || p->remote_port != s->local_port ||
		    memcmp(&p->local_addr, &s->remote_addr, sizeof(p->local_addr)) ||
		    memcmp(&p->remote_addr, &s->local_addr, sizeof(p->remote_addr)))
			continue;
		o = owner_of(c, p, 0);
		if (!o)
			return;
		f->peer_pid = o->pid;
		proc = ts_snapshot_process(c->snap, o->process_index);
		if (proc)
			memcpy(f->peer_comm, proc->comm, sizeof(f->peer_comm));
		return;
	}
}

int diag_rule_fin_wait_2(struct diag_ctx *c)
{
	struct ents e = { 0 };
	unsigned lookups = 0;
	int r = gather_by_remote(c, TS_STATE_BIT(TS_STATE_FIN_WAIT_2), true, is_held, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = run_end(&e, i);
		const struct ts_socket *first = sock_at(c, e.v[i].sock);
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
		set_remote(f, &e.v[i], true);
		r = add_owners(c, f, &e, i, end);
		for (size_t j = i; r == 0 && j < end; j++) {
			note_age(f, sock_at(c, e.v[j].sock));
			r = add_group(f, sock_at(c, e.v[j].sock), true, true, 0);
		}
		finish_lists(f);
		if (lookups++ < MAX_PEER_LOOKUPS)
			find_peer(c, f, first);
		i = end;
	}
	free(e.v);
	if (r < 0)
		return r;

	/* Orphans: one finding per namespace. */
	e = (struct ents){ 0 };
	r = gather_by_remote(c, TS_STATE_BIT(TS_STATE_FIN_WAIT_2), false, is_orphan, &e);
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
		for (size_t j = i; r == 0 && j < end; j++) {
			note_age(f, sock_at(c, e.v[j].sock));
			r = add_group(f, sock_at(c, e.v[j].sock), false, true, 0);
		}
		finish_lists(f);
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
	struct ents e = { 0 };
	int r = gather_by_remote(c, m, false, NULL, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = run_end(&e, i);
		const struct ts_socket *first = sock_at(c, e.v[i].sock);
		uint32_t counts[_TS_STATE_MAX] = { 0 };
		unsigned retrans = 0;
		bool probing = false;
		enum ts_severity sev;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			const struct ts_socket *s = sock_at(c, e.v[j].sock);
			unsigned rt = socket_retrans(s);

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
		f->count = end - i;
		memcpy(f->state_counts, counts, sizeof(counts));
		f->max_retransmits = retrans;
		f->state = states[0];
		for (size_t k = 1; k < sizeof(states) / sizeof(states[0]); k++)
			if (counts[states[k]] > counts[f->state])
				f->state = states[k];
		set_remote(f, &e.v[i], false);
		r = add_owners(c, f, &e, i, end);
		for (size_t j = i; r == 0 && j < end; j++) {
			note_age(f, sock_at(c, e.v[j].sock));
			r = add_group(f, sock_at(c, e.v[j].sock), true, true, 0);
		}
		finish_lists(f);
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- TIME_WAIT ---- */

static bool in_port_range(const struct diag_ctx *c, const struct ts_socket *s)
{
	const struct ts_diag_sysctls *sy = diag_sysctls(c, s->netns_index);

	if (sy->err[TS_DS_PORT_RANGE])
		return true; /* unknown range: every TIME_WAIT may be outgoing */
	return s->local_port >= sy->value[TS_DS_PORT_RANGE] && s->local_port <= sy->value2[TS_DS_PORT_RANGE];
}

static bool tw_outgoing(const struct diag_ctx *c, const struct ts_socket *s)
{
	return (s->flags & TS_SOCK_REMOTE_VALID) && in_port_range(c, s);
}

int diag_rule_time_wait(struct diag_ctx *c)
{
	struct ents e = { 0 };
	int r = gather_by_remote(c, TS_STATE_BIT(TS_STATE_TIME_WAIT), false, NULL, &e);

	/* Per namespace: count against tcp_max_tw_buckets. */
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = i;
		uint32_t ns = e.v[i].k_netns;
		const struct ts_diag_sysctls *sy = diag_sysctls(c, ns);
		uint64_t n, max = (uint64_t)sy->value[TS_DS_MAX_TW_BUCKETS];
		enum ts_severity sev;
		struct ts_finding *f;

		while (end < e.n && e.v[end].k_netns == ns)
			end++;
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
		f = diag_add(c, TS_FINDING_TIME_WAIT_BUCKETS, sev, ns);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = n;
		f->limit = sy->err[TS_DS_MAX_TW_BUCKETS] ? 0 : max;
		f->limit_err = sy->err[TS_DS_MAX_TW_BUCKETS];
	}
	free(e.v);
	if (r < 0)
		return r;

	/* Per destination ip:port of outgoing connections: against the local port range. */
	e = (struct ents){ 0 };
	r = gather_by_remote(c, TS_STATE_BIT(TS_STATE_TIME_WAIT), true, tw_outgoing, &e);
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = run_end(&e, i);
		const struct ts_socket *first = sock_at(c, e.v[i].sock);
		const struct ts_diag_sysctls *sy = diag_sysctls(c, first->netns_index);
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
		f = diag_add(c, TS_FINDING_TIME_WAIT_PORTS, sev, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = n;
		f->limit = size;
		f->limit_err = sy->err[TS_DS_PORT_RANGE];
		set_remote(f, &e.v[end - 1], true);
	}
	free(e.v);
	return r;
}

/* ---- listeners: accept queue and SYN backlog ---- */

static const struct ts_socket *find_listener(const struct diag_ctx *c, uint32_t netns, uint16_t port)
{
	size_t n = ts_snapshot_socket_count(c->snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = sock_at(c, (uint32_t)i);

		if (s->state == TS_STATE_LISTEN && s->netns_index == netns && s->local_port == port)
			return s;
	}
	return NULL;
}

static int set_listener_owner(struct diag_ctx *c, struct ts_finding *f, const struct ts_socket *l)
{
	int r = 0;

	for (unsigned k = 0; r == 0 && k < l->owner_count; k++) {
		const struct ts_owner *o = owner_of(c, l, k);

		if (!o)
			break;
		if (k == 0)
			set_culprit(c, f, c->snap, c->in->procs, o->pid, o->process_index);
		r = add_pid(f, o->pid);
		if (r == 0 && o->pid == f->pid)
			r = add_fd(f, o->fd);
	}
	return r;
}

int diag_rule_listen(struct diag_ctx *c)
{
	size_t n = ts_snapshot_socket_count(c->snap);
	struct ents e = { 0 };
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct ts_socket *s = sock_at(c, (uint32_t)i);
		enum ts_severity sev;
		struct ts_finding *f;

		if (s->state != TS_STATE_LISTEN || s->send_q == 0 || s->recv_q == 0)
			continue;
		if (s->recv_q >= s->send_q)
			sev = TS_SEVERITY_CRITICAL;
		else if ((uint64_t)s->recv_q * 100 >= (uint64_t)c->th.accept_pct * s->send_q)
			sev = TS_SEVERITY_WARNING;
		else
			continue;
		f = diag_add(c, TS_FINDING_ACCEPT_QUEUE, sev, s->netns_index);
		if (!f)
			return -ENOMEM;
		f->count = s->recv_q;
		f->limit = s->send_q;
		f->local_port = s->local_port;
		f->family = s->family;
		r = set_listener_owner(c, f, s);
	}
	if (r < 0)
		return r;

	/* SYN_RECEIVED per listening port. */
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = sock_at(c, (uint32_t)i);
		struct ent x = { .sock = (uint32_t)i, .fd = -1, .k_netns = s->netns_index,
				 .k_lport = s->local_port };

		if (s->state == TS_STATE_SYN_RECEIVED && ents_push(&e, &x) < 0) {
			free(e.v);
			return -ENOMEM;
		}
	}
	ents_sort(&e);
	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = run_end(&e, i);
		const struct ts_socket *first = sock_at(c, e.v[i].sock);
		const struct ts_diag_sysctls *sy = diag_sysctls(c, first->netns_index);
		const struct ts_socket *l = find_listener(c, first->netns_index, first->local_port);
		uint64_t cnt = end - i, msb = (uint64_t)sy->value[TS_DS_MAX_SYN_BACKLOG];
		bool full = false;
		unsigned retrans = 0;
		enum ts_severity sev;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			unsigned rt = socket_retrans(sock_at(c, e.v[j].sock));

			if (rt > retrans)
				retrans = rt;
		}
		if (l && l->send_q && cnt >= l->send_q)
			full = true;
		if (!sy->err[TS_DS_MAX_SYN_BACKLOG] && msb && cnt * 100 >= (uint64_t)c->th.syn_backlog_pct * msb)
			full = true;
		if (full)
			sev = !sy->err[TS_DS_SYNCOOKIES] && sy->value[TS_DS_SYNCOOKIES] == 0
				? TS_SEVERITY_CRITICAL : TS_SEVERITY_WARNING;
		else if (retrans > 0)
			sev = TS_SEVERITY_INFO;
		else {
			i = end;
			continue;
		}
		f = diag_add(c, TS_FINDING_SYN_BACKLOG, sev, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = cnt;
		f->max_retransmits = retrans;
		f->local_port = first->local_port;
		f->family = first->family;
		if (l && l->send_q) {
			f->limit = l->send_q;
		} else {
			f->limit = sy->err[TS_DS_MAX_SYN_BACKLOG] ? 0 : msb;
			f->limit_err = sy->err[TS_DS_MAX_SYN_BACKLOG];
		}
		if (l)
			r = set_listener_owner(c, f, l);
		for (size_t j = i; r == 0 && j < end; j++)
			r = add_group(f, sock_at(c, e.v[j].sock), false, false, 0);
		finish_lists(f);
		i = end;
	}
	free(e.v);
	return r;
}

/* ---- SYN_SENT ---- */

int diag_rule_syn_sent(struct diag_ctx *c)
{
	struct ents e = { 0 };
	int r = gather_by_remote(c, TS_STATE_BIT(TS_STATE_SYN_SENT), true, NULL, &e);

	for (size_t i = 0; r == 0 && i < e.n;) {
		size_t end = run_end(&e, i);
		const struct ts_socket *first = sock_at(c, e.v[i].sock);
		uint64_t stuck = 0;
		unsigned retrans = 0;
		struct ts_finding *f;

		for (size_t j = i; j < end; j++) {
			unsigned rt = socket_retrans(sock_at(c, e.v[j].sock));

			stuck += rt > 0;
			if (rt > retrans)
				retrans = rt;
		}
		if (stuck == 0 || stuck < c->th.syn_sent_min) {
			i = end;
			continue;
		}
		f = diag_add(c, TS_FINDING_SYN_SENT, TS_SEVERITY_WARNING, first->netns_index);
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->count = stuck;
		f->state_counts[TS_STATE_SYN_SENT] = (uint32_t)(end - i);
		f->max_retransmits = retrans;
		set_remote(f, &e.v[i], true);
		r = add_owners(c, f, &e, i, end);
		finish_lists(f);
		i = end;
	}
	free(e.v);
	return r;
}
