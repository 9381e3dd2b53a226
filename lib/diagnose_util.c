/* SPDX-License-Identifier: MIT */
/* Helpers shared by the rules of ts_diagnose(): keyed socket entries, filling in findings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "diagnose-internal.h"
#include "tcpstate/activity.h"

#define MAX_PIDS 64    /* per finding; beyond that the finding keeps the count only */
#define MAX_GROUPS 256 /* per finding */

int diag_ents_push(struct diag_ents *e, const struct diag_ent *x)
{
	if (array_grow((void **)&e->v, &e->cap, e->n + 1, sizeof(*e->v)) < 0)
		return -ENOMEM;
	e->v[e->n++] = *x;
	return 0;
}

static int cmp_num(long long a, long long b)
{
	return (a > b) - (a < b);
}

static int ent_key_cmp(const struct diag_ent *x, const struct diag_ent *y)
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
	const struct diag_ent *x = a, *y = b;
	int r = ent_key_cmp(x, y);

	if (r)
		return r;
	if ((r = cmp_num(x->sock, y->sock)))
		return r;
	return cmp_num(x->fd, y->fd);
}

void diag_ents_sort(struct diag_ents *e)
{
	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), ent_cmp);
}

/* End of the run of entries sharing v[i]'s key. */
size_t diag_run_end(const struct diag_ents *e, size_t i)
{
	size_t j = i + 1;

	while (j < e->n && ent_key_cmp(&e->v[i], &e->v[j]) == 0)
		j++;
	return j;
}

const struct ts_socket *diag_sock_at(const struct diag_ctx *c, uint32_t i)
{
	return ts_snapshot_socket(c->snap, i);
}

static bool state_in(const struct ts_socket *s, ts_state_mask_t m)
{
	return s->state < _TS_STATE_MAX && (m & TS_STATE_BIT(s->state));
}

void diag_note_age(struct ts_finding *f, const struct ts_socket *s)
{
	uint64_t age;

	if (ts_socket_peer_silence_ms(s, &age) && (!f->has_age || age > f->age_min_ms)) {
		f->has_age = true;
		f->age_min_ms = age;
	}
}

int diag_add_pid(struct ts_finding *f, pid_t pid)
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

int diag_add_fd(struct ts_finding *f, int fd)
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
int diag_add_group(struct ts_finding *f, const struct ts_socket *s, bool with_lport, bool with_rport,
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
			g->resets += s->state == TS_STATE_CLOSED && s->pending_error == ECONNRESET;
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
	key.resets = s->state == TS_STATE_CLOSED && s->pending_error == ECONNRESET;
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

void diag_finish_lists(struct ts_finding *f)
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
void diag_set_culprit(const struct diag_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
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
const struct ts_owner *diag_owner_of(const struct diag_ctx *c, const struct ts_socket *s, unsigned i)
{
	const struct ts_owner *o = ts_snapshot_owners(c->snap, s);

	return o && i < s->owner_count ? &o[i] : NULL;
}

/* ---- gathering sockets ---- */

/* Per owner (pid 0 / fd -1 for sockets without one), keyed by pid. */
int diag_gather_by_pid(const struct diag_ctx *c, const struct ts_snapshot *snap, ts_state_mask_t m,
		       bool with_unowned, struct diag_ents *e)
{
	size_t n = ts_snapshot_socket_count(snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const struct ts_owner *o = ts_snapshot_owners(snap, s);
		struct diag_ent x = { .sock = (uint32_t)i, .fd = -1 };

		(void)c;
		if (!state_in(s, m))
			continue;
		if (!o || !s->owner_count) {
			if (with_unowned && diag_ents_push(e, &x) < 0)
				return -ENOMEM;
			continue;
		}
		for (unsigned k = 0; k < s->owner_count; k++) {
			x.k_pid = x.pid = o[k].pid;
			x.fd = o[k].fd;
			if (diag_ents_push(e, &x) < 0)
				return -ENOMEM;
		}
	}
	diag_ents_sort(e);
	return 0;
}

/* One entry per socket in m, keyed by (netns, family, remote address[, remote port]). */
int diag_gather_by_remote(const struct diag_ctx *c, ts_state_mask_t m, bool with_port,
			  bool (*want)(const struct diag_ctx *c, const struct ts_socket *s),
			  struct diag_ents *e)
{
	size_t n = ts_snapshot_socket_count(c->snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = diag_sock_at(c, (uint32_t)i);
		struct diag_ent x = { .sock = (uint32_t)i, .fd = -1 };

		if (!state_in(s, m) || (want && !want(c, s)))
			continue;
		x.k_netns = s->netns_index;
		x.k_family = s->family;
		if (s->flags & TS_SOCK_REMOTE_VALID) {
			x.k_addr = s->remote_addr;
			if (with_port)
				x.k_port = s->remote_port;
		}
		if (diag_ents_push(e, &x) < 0)
			return -ENOMEM;
	}
	diag_ents_sort(e);
	return 0;
}

/* Pids (and, when a single process holds them all, its fds and facts) of a run of sockets. */
int diag_add_owners(struct diag_ctx *c, struct ts_finding *f, const struct diag_ents *e, size_t i,
		    size_t end)
{
	pid_t only = 0;
	bool single = true;
	int r = 0;

	for (size_t j = i; r == 0 && j < end; j++) {
		const struct ts_socket *s = diag_sock_at(c, e->v[j].sock);

		for (unsigned k = 0; r == 0 && k < s->owner_count; k++) {
			const struct ts_owner *o = diag_owner_of(c, s, k);

			if (!o)
				break;
			r = diag_add_pid(f, o->pid);
			if (!only) {
				only = o->pid;
				diag_set_culprit(c, f, c->snap, c->in->procs, o->pid, o->process_index);
			} else if (o->pid != only) {
				single = false;
			}
			if (r == 0 && o->pid == f->pid)
				r = diag_add_fd(f, o->fd);
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

void diag_set_remote(struct ts_finding *f, const struct diag_ent *x, bool with_port)
{
	f->family = x->k_family;
	f->has_remote = true;
	f->remote_addr = x->k_addr;
	f->remote_port = with_port ? x->k_port : 0;
}
