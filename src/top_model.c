/* SPDX-License-Identifier: MIT */
/* tcpstate top: one refresh's numbers from two snapshots and a diagnosis. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "output.h"
#include "tcpstate/activity.h"
#include "top_model.h"

static const char *const view_names[_TOP_VIEW_MAX] = { "processes", "ports", "netns" };
static const char *const sort_names[_TOP_SORT_MAX] = { "close-wait", "total", "growth" };

const char *top_view_name(enum top_view v)
{
	return (unsigned)v < _TOP_VIEW_MAX ? view_names[v] : NULL;
}

const char *top_sort_name(enum top_sort s)
{
	return (unsigned)s < _TOP_SORT_MAX ? sort_names[s] : NULL;
}

int top_view_parse(const char *s, enum top_view *ret)
{
	for (unsigned i = 0; i < _TOP_VIEW_MAX; i++)
		if (strcasecmp(s, view_names[i]) == 0) {
			*ret = (enum top_view)i;
			return 0;
		}
	return -EINVAL;
}

int top_sort_parse(const char *s, enum top_sort *ret)
{
	for (unsigned i = 0; i < _TOP_SORT_MAX; i++)
		if (strcasecmp(s, sort_names[i]) == 0) {
			*ret = (enum top_sort)i;
			return 0;
		}
	return -EINVAL;
}

/* Rows of every key, unbounded (a snapshot is bounded by the kernel's sockets). */
struct rows {
	struct top_row *v;
	size_t n, cap;
	uint32_t *slots;   /* open addressing: index + 1 into v, 0: free */
	size_t n_slots;    /* a power of two, at least twice n */
};

static size_t slot_of(uint64_t key, size_t n_slots)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (n_slots - 1);
}

static int rows_rehash(struct rows *r, size_t n_slots)
{
	uint32_t *slots = calloc(n_slots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		size_t h = slot_of(r->v[i].key, n_slots);

		while (slots[h])
			h = (h + 1) & (n_slots - 1);
		slots[h] = (uint32_t)i + 1;
	}
	free(r->slots);
	r->slots = slots;
	r->n_slots = n_slots;
	return 0;
}

static struct top_row *row_get(struct rows *r, uint64_t key)
{
	size_t h;

	if ((r->n + 1) * 2 > r->n_slots && rows_rehash(r, r->n_slots ? r->n_slots * 2 : 64) < 0)
		return NULL;
	for (h = slot_of(key, r->n_slots); r->slots[h]; h = (h + 1) & (r->n_slots - 1))
		if (r->v[r->slots[h] - 1].key == key)
			return &r->v[r->slots[h] - 1];
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		struct top_row *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	memset(&r->v[r->n], 0, sizeof(r->v[0]));
	r->v[r->n].key = key;
	r->slots[h] = (uint32_t)r->n + 1;
	return &r->v[r->n++];
}

static const struct top_row *row_find(const struct rows *r, uint64_t key)
{
	if (!r->n_slots)
		return NULL;
	for (size_t h = slot_of(key, r->n_slots); r->slots[h]; h = (h + 1) & (r->n_slots - 1))
		if (r->v[r->slots[h] - 1].key == key)
			return &r->v[r->slots[h] - 1];
	return NULL;
}

static void rows_clear(struct rows *r)
{
	free(r->v);
	free(r->slots);
	*r = (struct rows){ 0 };
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A namespace's port, as the listeners' sorted array holds it. */
static uint64_t netns_port(const struct ts_socket *s, uint16_t port)
{
	return (uint64_t)s->netns_index << 16 | port;
}

static int add_socket(struct rows *r, const struct ts_snapshot *snap, const struct ts_socket *s,
		      int slot, enum top_view view, const uint64_t *listened, size_t n_listened)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	struct top_row *row;

	if (view == TOP_VIEW_PROCESSES) {
		for (unsigned k = 0; k < s->owner_count; k++) {
			const struct ts_process *p = ts_snapshot_process(snap, o[k].process_index);

			if (k > 0 && o[k - 1].pid == o[k].pid)
				continue; /* once per process */
			row = row_get(r, (uint64_t)o[k].pid);
			if (!row)
				return -ENOMEM;
			row->pid = o[k].pid;
			if (!row->comm[0])
				output_comm(row->comm, p ? p->comm : "?");
			row->count[slot]++;
			row->total++;
		}
		return 0;
	}
	if (view == TOP_VIEW_PORTS) {
		uint64_t k = netns_port(s, s->local_port);
		bool server = n_listened && bsearch(&k, listened, n_listened, sizeof(k), u64_cmp);
		row = row_get(r, server ? s->local_port : (1ull << 16) | s->remote_port);
		if (!row)
			return -ENOMEM;
		row->port = server ? s->local_port : s->remote_port;
		row->remote = !server;
	} else {
		row = row_get(r, s->netns_index);
		if (!row)
			return -ENOMEM;
		row->netns_index = s->netns_index;
	}
	row->count[slot]++;
	row->total++;
	return 0;
}

/* The rows of one view over snap. */
static int rows_build(const struct ts_snapshot *snap, enum top_view view, struct rows *ret)
{
	size_t n = ts_snapshot_socket_count(snap), n_listened = 0;
	uint64_t *lp = NULL;
	struct rows r = { 0 };
	int err = 0;

	if (view == TOP_VIEW_PORTS) {
		lp = malloc((n ? n : 1) * sizeof(*lp));
		if (!lp)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const struct ts_socket *s = ts_snapshot_socket(snap, i);

			if (s->state == TS_STATE_LISTEN)
				lp[n_listened++] = netns_port(s, s->local_port);
		}
		if (n_listened)
			qsort(lp, n_listened, sizeof(*lp), u64_cmp);
	}
	for (size_t i = 0; i < n && err == 0; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		int slot = ts_held_closing_index((enum ts_state)s->state);

		if (slot >= 0)
			err = add_socket(&r, snap, s, slot, view, lp, n_listened);
	}
	free(lp);
	if (err < 0) {
		rows_clear(&r);
		return err;
	}
	*ret = r;
	return 0;
}

struct top_memo {
	bool valid;
	uint64_t id;                    /* the snapshot these are of */
	enum top_view view;
	uint32_t counts[_TS_STATE_MAX];
	struct rows rows;
};

struct top_memo *top_memo_new(void)
{
	return calloc(1, sizeof(struct top_memo));
}

struct top_memo *top_memo_free(struct top_memo *m)
{
	if (m)
		rows_clear(&m->rows);
	free(m);
	return NULL;
}

static enum top_sort sort_key;

static int row_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	if (sort_key == TOP_SORT_GROWTH && x->growth_per_s != y->growth_per_s)
		return x->growth_per_s < y->growth_per_s ? 1 : -1;
	if (sort_key == TOP_SORT_CLOSE_WAIT && x->count[0] != y->count[0])
		return x->count[0] < y->count[0] ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* The doctor's leak finding for pid: its time to RLIMIT_NOFILE. */
static void leak_eta(const struct ts_diagnosis *d, struct top_row *row)
{
	for (size_t i = 0; d && i < d->n_findings; i++) {
		const struct ts_finding *f = &d->findings[i];
		bool holds = f->pid == row->pid;

		if (f->kind != TS_FINDING_LEAK || !f->has_eta)
			continue;
		for (size_t k = 0; k < f->n_pids && !holds; k++)
			holds = f->pids[k] == row->pid;
		if (holds && (!row->has_eta || f->seconds_to_limit < row->seconds_to_limit)) {
			row->has_eta = true;
			row->seconds_to_limit = f->seconds_to_limit;
		}
	}
}

static int stuck_cmp(const void *a, const void *b)
{
	const struct top_stuck *x = a, *y = b;

	if (x->idle_ms != y->idle_ms)
		return x->idle_ms < y->idle_ms ? 1 : -1;
	return x->s->inode < y->s->inode ? -1 : x->s->inode > y->s->inode;
}

/* The closing sockets idle longest (ts_socket_activity()): the first
 * TOP_STUCK_MAX kept in order as the snapshot is read, no sort of them all. */
static void stuck_build(const struct ts_snapshot *snap, struct top_frame *f)
{
	size_t n = ts_snapshot_socket_count(snap);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const struct ts_owner *o;
		struct ts_activity act;
		struct top_stuck t;
		size_t at;

		if (ts_held_closing_index((enum ts_state)s->state) < 0 || ts_socket_activity(s, &act) < 0)
			continue;
		f->stuck_total++;
		t = (struct top_stuck){ .s = s, .idle_ms = act.idle_ms };
		at = f->n_stuck;
		while (at > 0 && stuck_cmp(&t, &f->stuck[at - 1]) < 0)
			at--;
		if (at >= TOP_STUCK_MAX)
			continue;
		o = ts_snapshot_owners(snap, s);
		if (o) {
			const struct ts_process *p = ts_snapshot_process(snap, o[0].process_index);

			t.pid = o[0].pid;
			output_comm(t.comm, p ? p->comm : "?");
		}
		if (f->n_stuck < TOP_STUCK_MAX)
			f->n_stuck++;
		memmove(&f->stuck[at + 1], &f->stuck[at], (f->n_stuck - 1 - at) * sizeof(t));
		f->stuck[at] = t;
	}
}

/* The memo holds prev's rows of this view. */
static bool memo_has_prev(const struct top_input *in)
{
	return in->memo && in->memo->valid && in->prev && in->memo->id == in->prev_id &&
	       in->memo->view == in->view;
}

/* Keeps now (sorted: its slots made again) and the counts as snap's; frees what was there. */
static int memo_keep(const struct top_input *in, const struct top_frame *f, struct rows *now)
{
	struct top_memo *m = in->memo;
	int r = now->n_slots ? rows_rehash(now, now->n_slots) : 0;

	if (r < 0)
		return r;
	rows_clear(&m->rows);
	m->rows = *now;
	*now = (struct rows){ 0 };
	memcpy(m->counts, f->counts, sizeof(m->counts));
	m->id = in->snap_id;
	m->view = in->view;
	m->valid = true;
	return 0;
}

int top_frame_build(const struct top_input *in, struct top_frame *ret)
{
	struct rows now = { 0 }, before = { 0 };
	const struct rows *earlier = &before;
	bool memo = memo_has_prev(in);
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->snap = in->snap;
	ret->d = in->d;
	ret->view = in->view;
	ret->sort = in->sort;
	ret->interval_s = in->prev && in->interval_s > 0 ? in->interval_s : 0;
	for (size_t i = 0; i < ts_snapshot_socket_count(in->snap); i++)
		ret->counts[ts_snapshot_socket(in->snap, i)->state]++;
	if (ret->interval_s > 0) {
		uint32_t prev[_TS_STATE_MAX] = { 0 };

		if (memo)
			memcpy(prev, in->memo->counts, sizeof(prev));
		else
			for (size_t i = 0; i < ts_snapshot_socket_count(in->prev); i++)
				prev[ts_snapshot_socket(in->prev, i)->state]++;
		for (int s = 0; s < _TS_STATE_MAX; s++)
			ret->rate_per_s[s] = ((double)ret->counts[s] - prev[s]) / ret->interval_s;
	}

	stuck_build(in->snap, ret);
	r = rows_build(in->snap, in->view, &now);
	if (r == 0 && ret->interval_s > 0 && memo)
		earlier = &in->memo->rows;
	else if (r == 0 && ret->interval_s > 0)
		r = rows_build(in->prev, in->view, &before);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < now.n; i++) {
		struct top_row *row = &now.v[i];
		if (ret->interval_s > 0) {
			const struct top_row *b = row_find(earlier, row->key);
			uint32_t was = b ? b->total : 0;

			row->has_growth = true;
			row->growth_per_s = ((double)row->total - was) / ret->interval_s;
		}
		if (in->view == TOP_VIEW_PROCESSES) {
			const struct ts_procinfo *pi = in->procs ? ts_diagnose_procs_find(in->procs, row->pid)
								 : NULL;

			if (pi && pi->fd_err == 0 && pi->nofile_err == 0) {
				row->has_fds = true;
				row->fds = pi->fd_count;
				row->fd_limit = pi->nofile_soft;
			}
			leak_eta(in->d, row);
		}
	}
	sort_key = in->sort;
	if (now.n)
		qsort(now.v, now.n, sizeof(*now.v), row_cmp);
	ret->n_rows = now.n < TOP_ROWS_MAX ? now.n : TOP_ROWS_MAX;
	ret->rows_more = now.n - ret->n_rows;
	if (ret->n_rows) /* now.v is NULL when no process holds a closing socket */
		memcpy(ret->rows, now.v, ret->n_rows * sizeof(*now.v));
	if (in->memo)
		r = memo_keep(in, ret, &now);
out:
	rows_clear(&now);
	rows_clear(&before);
	return r;
}
