/* SPDX-License-Identifier: MIT */
/*
 * ts_trace: the BPF program attached first, then the start snapshot (so no
 * change falls between the two), then records turned into events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcpstate/netns.h"
#include "tcpstate/trace.h"
#include "snapshot/bpf/owners.h"
#include "trace/bpf/trace_bpf.h"
#include "trace/bpf/tstrace_rec.h"
#include "trace/trace_decode.h"
#include "trace/trace_summary.h"
#include "trace/trace_track.h"
#include "trace/trace_tw_lookup.h"

struct netns_name {
	uint64_t inode;
	char name[64];
};

struct ts_trace {
	struct trace_bpf *bpf;
	struct ts_filter filter;       /* user-space part (states, addresses, holders) */
	struct trace_track track;
	struct trace_acc acc;
	struct netns_name *netns;
	size_t n_netns;
	char netns_buf[64];
	uint64_t start_ns;
	uint64_t last_tw_poll_ns;
	uint64_t last_tw_dump_ns;
	uint64_t last_rescan_ns;
	uint64_t rescans;
	char *netns_spec;              /* opts.netns, for the TIME_WAIT polls */
	struct trace_tw_lookup tw_lookup; /* confirms that one the poll's dump lacks is gone */
	bool all_netns;
	bool no_summary;               /* opts.no_summary: t->acc stays empty */
	bool reconciled;               /* the end's check against the kernel is done */
	uint64_t malformed;            /* records that did not decode */
	ts_trace_event_cb cb;
	void *userdata;
	int error;
};

static const char *const hook_names[_TS_TRACE_HOOK_MAX] = {
	[TS_TRACE_HOOK_STATE] = "state changes",
	[TS_TRACE_HOOK_TW_ENTER] = "TIME_WAIT entry",
	[TS_TRACE_HOOK_TW_END] = "TIME_WAIT end",
	[TS_TRACE_HOOK_BIND] = "bind (IDLE -> BOUND)",
	[TS_TRACE_HOOK_HOLD] = "holders (fd install)",
	[TS_TRACE_HOOK_DESTROY] = "socket destruction",
};

const char *ts_trace_hook_name(enum ts_trace_hook h)
{
	return (unsigned)h < _TS_TRACE_HOOK_MAX ? hook_names[h] : NULL;
}

bool ts_trace_built(void)
{
	return trace_bpf_built();
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The selection's ports go to the kernel (they fit: the same bound). */
static void bpf_filter_from(const struct ts_filter *f, uint32_t netns_only,
			    struct trace_bpf_filter *out)
{
	_Static_assert(TS_FILTER_MAX_PORTS <= TRACE_BPF_MAX_PORTS, "ports do not fit");
	memset(out, 0, sizeof(*out));
	out->netns_only = netns_only;
	memcpy(out->ports, f->ports, f->n_ports * sizeof(f->ports[0]));
	memcpy(out->sports, f->sports, f->n_sports * sizeof(f->sports[0]));
	memcpy(out->dports, f->dports, f->n_dports * sizeof(f->dports[0]));
	out->n_ports = f->n_ports;
	out->n_sports = f->n_sports;
	out->n_dports = f->n_dports;
}

/* Whether an event's socket passes the user-space part of the selection. */
static bool socket_selected(const struct ts_filter *f, const struct ts_trace_socket *s,
			    ts_state_mask_t states)
{
	struct ts_filter rest = *f;
	struct ts_socket as = { 0 };

	if (f->states && !(f->states & states))
		return false;
	rest.states = 0;
	as.family = s->family;
	as.local_addr = s->local_addr;
	as.remote_addr = s->remote_addr;
	as.local_port = s->local_port;
	as.remote_port = s->remote_port;
	as.flags = TS_SOCK_REMOTE_VALID;
	if (!ts_filter_match_socket(&rest, &as))
		return false;
	if (f->n_pids || f->n_comms)
		return s->holder == TS_TRACE_HOLDER_PROCESS &&
		       ts_filter_match_process(f, s->pid, s->comm);
	return true;
}

static bool event_selected(const struct ts_filter *f, const struct ts_trace_event *ev)
{
	ts_state_mask_t m = TS_STATE_BIT(ev->new_state);

	if (!ev->born && ev->old_state < TS_STATE_COUNT)
		m |= TS_STATE_BIT(ev->old_state);
	return socket_selected(f, &ev->sock, m);
}

static int learn_owner(const struct bpf_owner_rec *o, void *userdata)
{
	struct ts_trace *t = userdata;

	return trace_track_holder_put(&t->track, o->inode, o->pid, o->fd, o->comm);
}

/*
 * A held socket whose holder the trace did not see (its fd came by dup,
 * fork, SCM_RIGHTS, or a path the hooks here miss): the owners of every
 * process are scanned again (the BPF iterator), at most once per
 * TS_TRACE_RESCAN_MS, and what it finds is kept.
 */
static void resolve_holder(struct ts_trace *t, struct ts_trace_socket *s)
{
	uint64_t now = mono_ns();

	if (!s->inode || now - t->last_rescan_ns < TS_TRACE_RESCAN_MS * 1000000ull)
		return;
	t->last_rescan_ns = now;
	t->rescans++;
	/* Any state: an fd-held socket can be in all but TIME_WAIT. */
	if (bpf_owners_collect(0, 0, learn_owner, t, NULL) < 0)
		return;
	trace_track_holder_fill(&t->track, s);
}

static int deliver_one(struct ts_trace *t, struct ts_trace_event *ev)
{
	int r;

	/* A socket born a moment ago: its accept() has not returned yet, and
	 * its holder comes with it; a scan of every process would not help. */
	if (ev->sock.holder == TS_TRACE_HOLDER_UNKNOWN && !t->track.young)
		resolve_holder(t, &ev->sock);
	if (!event_selected(&t->filter, ev))
		return 0;
	r = t->no_summary ? 0 : trace_acc_add(&t->acc, ev);
	if (r < 0)
		return r;
	return t->cb ? t->cb(ev, t->userdata) : 0;
}

static int deliver(struct ts_trace *t, const struct trace_rec *rec)
{
	struct ts_trace_event ev[TRACE_TRACK_MAX_EVENTS];
	int n = trace_track_rec(&t->track, rec, ev), r = 0;

	for (int i = 0; i < n && r >= 0; i++)
		r = deliver_one(t, &ev[i]);
	return n < 0 ? n : r;
}

static int on_record(const void *data, size_t len, void *userdata)
{
	struct ts_trace *t = userdata;
	struct trace_rec rec;

	if (trace_rec_decode(data, len, &rec) < 0) {
		t->malformed++;
		return 0;
	}
	return deliver(t, &rec);
}

/* ---- TIME_WAIT ends without a kernel hook: poll sock_diag ---- */

/* TCP_TIMEWAIT_LEN: when a timewait socket is due to end (its timer starts
 * at 60 s and is only pushed back; tcp_fin_timeout's default for FIN_WAIT_2). */
#define TW_TIMER_NS (60ull * 1000000000ull)

struct tw_gone {
	struct trace_rec *recs;
	size_t n, cap;
	const struct trace_map *present;
	struct trace_tw_lookup *lookup;
	uint64_t now;
	int error;
};

static void tw_check(uint64_t key, const struct trace_sock *s, void *userdata)
{
	struct tw_gone *g = userdata;
	struct trace_rec *r;
	uint32_t unused;

	if (g->error)
		return;
	if (g->present) {
		/* Not in the dump: gone, unless the dump missed it (it walks the
		 * hash while sockets come and go). When the kernel cannot be
		 * asked, the dump's word stands. */
		if (trace_map_get(g->present, key, &unused) ||
		    trace_tw_lookup(g->lookup, &s->sock) == 1)
			return;
	} else if (g->now < s->since_ns + TW_TIMER_NS ||
		   trace_tw_lookup(g->lookup, &s->sock) != 0) {
		return; /* not due (its timer runs 60 s), still there, or cannot tell */
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct trace_rec *n = realloc(g->recs, cap * sizeof(*n));

		if (!n) {
			g->error = -ENOMEM;
			return;
		}
		g->recs = n;
		g->cap = cap;
	}
	r = &g->recs[g->n++];
	memset(r, 0, sizeof(*r));
	r->kind = TRACE_REC_TW_END;
	r->ts_ns = g->now;
	r->netns = (uint32_t)s->sock.netns_inode;
	r->family = s->sock.family;
	r->saddr = s->sock.local_addr;
	r->daddr = s->sock.remote_addr;
	r->sport = s->sock.local_port;
	r->dport = s->sock.remote_port;
	r->cookie = s->sock.cookie;
	r->oldstate = s->state == TS_STATE_FIN_WAIT_2 ? TS_TCP_FIN_WAIT2 : TS_TCP_TIME_WAIT;
	r->newstate = TS_TCP_CLOSE;
	r->orphan = true;
	r->polled = true;
	r->fd = -1;
}

/* The 4-tuple keys of the sockets in states (0: all) of the traced namespaces. */
static int present_keys(const struct ts_trace *t, ts_state_mask_t states,
			struct trace_map *present)
{
	struct ts_filter f = { .states = states };
	struct ts_snapshot_opts so = {
		.filter = &f,
		.backend = TS_BACKEND_NETLINK,
		.owners = TS_OWNERS_NONE,
		.netns = t->netns_spec,
		.all_netns = t->all_netns,
	};
	struct ts_snapshot *snap;
	int r = ts_snapshot_collect(&so, &snap);

	if (r < 0)
		return r;
	for (size_t i = 0; i < ts_snapshot_socket_count(snap) && r == 0; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);

		r = trace_map_put(present, trace_tuple_key(ns ? (uint32_t)ns->inode : 0, s->family,
							   &s->local_addr, s->local_port,
							   &s->remote_addr, s->remote_port), 1);
	}
	ts_snapshot_free(snap);
	return r;
}

/* The timewait sockets followed that are gone since the last poll end now. */
static int tw_poll(struct ts_trace *t)
{
	struct trace_map present = { 0 };
	struct tw_gone g = { .lookup = &t->tw_lookup };
	uint64_t now = mono_ns();
	int r;

	if (trace_bpf_hook(t->bpf, TS_TRACE_HOOK_TW_END) ||
	    now - t->last_tw_poll_ns < TS_TRACE_TW_POLL_MS * 1000000ull)
		return 0;
	t->last_tw_poll_ns = now;
	/* A dump walks the kernel's whole table (every namespace's sockets):
	 * only every TS_TRACE_TW_DUMP_MS, for the early ends. */
	if (now - t->last_tw_dump_ns >= TS_TRACE_TW_DUMP_MS * 1000000ull) {
		t->last_tw_dump_ns = now;
		r = present_keys(t, TS_STATE_BIT(TS_STATE_TIME_WAIT) |
					    TS_STATE_BIT(TS_STATE_FIN_WAIT_2), &present);
		if (r < 0) {
			trace_map_done(&present);
			return r == -ENOMEM ? r : 0; /* a namespace gone: its sockets with it */
		}
		g.present = &present;
	}
	g.now = mono_ns();
	trace_track_each_tw(&t->track, tw_check, &g);
	/* Its sockets are not kept between polls: they would keep a deleted
	 * namespace alive. */
	trace_tw_lookup_done(&t->tw_lookup);
	r = g.error;
	for (size_t i = 0; i < g.n && r >= 0; i++)
		r = deliver(t, &g.recs[i]);
	free(g.recs);
	trace_map_done(&present);
	return r;
}

static int keep_netns_names(struct ts_trace *t, const struct ts_snapshot *snap)
{
	size_t n = ts_snapshot_netns_count(snap);

	t->netns = calloc(n ? n : 1, sizeof(*t->netns));
	if (!t->netns)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ts_netns *ns = ts_snapshot_netns(snap, (uint32_t)i);

		t->netns[i].inode = ns->inode;
		snprintf(t->netns[i].name, sizeof(t->netns[i].name), "%s", ns->name);
	}
	t->n_netns = n;
	return 0;
}

/* The sockets already there, to seed their time in state. */
static int start_snapshot(struct ts_trace *t, const struct ts_trace_opts *opts)
{
	struct ts_filter seed_filter = t->filter;
	struct ts_snapshot_opts so = {
		.filter = &seed_filter,
		.backend = TS_BACKEND_NETLINK,
		.owners = TS_OWNERS_PROC,
		.owner_source = TS_OWNER_SOURCE_AUTO,
		.netns = opts->netns,
		.all_netns = opts->all_netns,
		.want_info = true,
	};
	struct ts_snapshot *snap;
	int r;

	/* A socket that enters a selected state later must be known now. */
	seed_filter.states = 0;
	r = ts_snapshot_collect(&so, &snap);
	if (r < 0)
		return r;
	t->start_ns = mono_ns();
	t->last_tw_poll_ns = t->start_ns;
	t->last_tw_dump_ns = t->start_ns;
	r = trace_track_seed(&t->track, snap, t->start_ns);
	if (r == 0)
		r = keep_netns_names(t, snap);
	ts_snapshot_free(snap);
	return r;
}

int ts_trace_open(const struct ts_trace_opts *opts, struct ts_trace **ret,
		  struct ts_bpf_status *ret_status)
{
	static const struct ts_filter all = { 0 };
	struct trace_bpf_filter bf;
	struct ts_netns_ref ref;
	struct ts_trace *t;
	int r;

	memset(ret_status, 0, sizeof(*ret_status));
	if (!opts->all_netns) {
		r = ts_netns_lookup(opts->netns, NULL, &ref);
		if (r < 0)
			return r;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->filter = opts->filter ? *opts->filter : all;
	t->all_netns = opts->all_netns;
	t->no_summary = opts->no_summary;
	if (opts->netns && !(t->netns_spec = strdup(opts->netns))) {
		free(t);
		return -ENOMEM;
	}
	trace_track_init(&t->track);
	trace_tw_lookup_init(&t->tw_lookup, t->netns_spec, t->all_netns);
	bpf_filter_from(&t->filter, opts->all_netns ? 0 : (uint32_t)ref.inode, &bf);
	r = trace_bpf_open(&bf, on_record, t, &t->bpf, ret_status);
	if (r < 0)
		goto out_free;
	r = start_snapshot(t, opts);
	if (r < 0)
		goto out_free;
	*ret = t;
	return 0;

out_free:
	ts_trace_free(t);
	return r;
}

const char *ts_trace_hook_where(const struct ts_trace *t, enum ts_trace_hook h)
{
	const char *where = trace_bpf_hook(t->bpf, h);

	if (where)
		return where;
	if (h == TS_TRACE_HOOK_TW_ENTER)
		return "the state change hook (FIN_WAIT_2 or CLOSING -> CLOSE without an error is "
		       "the hand-over to a timewait socket)";
	if (h == TS_TRACE_HOOK_TW_END)
		return "sock_diag: each timewait socket looked up when its timer is due, every "
		       "second, and a dump every 10 s for early ends (the end time is when it was "
		       "noticed)";
	return NULL;
}

uint64_t ts_trace_start_ns(const struct ts_trace *t)
{
	return t->start_ns;
}

const char *ts_trace_netns_name(const struct ts_trace *t, uint64_t netns_inode)
{
	struct ts_trace *mut = (struct ts_trace *)t;

	for (size_t i = 0; i < t->n_netns; i++)
		if (t->netns[i].inode == netns_inode)
			return t->netns[i].name;
	snprintf(mut->netns_buf, sizeof(mut->netns_buf), "net:[%llu]",
		 (unsigned long long)netns_inode);
	return mut->netns_buf;
}

int ts_trace_poll(struct ts_trace *t, int timeout_ms, ts_trace_event_cb cb, void *userdata)
{
	uint64_t end = timeout_ms >= 0 ? mono_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
	int r;

	t->cb = cb;
	t->userdata = userdata;
	/* The kernel wakes us only for a batch (trace.bpf.c): look at least
	 * every TRACE_LATENCY_MS, until something came or the time is up. */
	for (;;) {
		uint64_t now = mono_ns(), left = timeout_ms >= 0 && end > now ? end - now : 0;
		int step = TRACE_LATENCY_MS;

		if (timeout_ms >= 0 && left < (uint64_t)step * 1000000ull)
			step = (int)(left / 1000000ull);
		r = trace_bpf_poll(t->bpf, step);
		if (r >= 0) {
			int p = tw_poll(t);

			if (p < 0)
				r = p;
		}
		if (r != 0 || (timeout_ms >= 0 && mono_ns() >= end))
			break;
	}
	t->cb = NULL;
	return r;
}

static void reconcile(struct ts_trace *t);

int ts_trace_drain(struct ts_trace *t, ts_trace_event_cb cb, void *userdata)
{
	int r;

	t->cb = cb;
	t->userdata = userdata;
	r = trace_bpf_drain(t->bpf);
	t->cb = NULL;
	if (r >= 0)
		reconcile(t);
	return r;
}

int ts_trace_loss_get(const struct ts_trace *t, struct ts_trace_loss *ret)
{
	struct trace_bpf_loss l;
	int r = trace_bpf_loss(t->bpf, &l);

	if (r < 0)
		return r;
	ret->events_dropped = l.events_dropped;
	ret->events_skipped = l.events_skipped;
	ret->events_unseen = t->track.unseen;
	ret->events = l.events_dropped + l.events_skipped + t->track.unseen;
	ret->other_records = l.other;
	return 0;
}

uint64_t ts_trace_lost(const struct ts_trace *t)
{
	struct ts_trace_loss l;

	return ts_trace_loss_get(t, &l) == 0 ? l.events : 0;
}

struct open_ctx {
	const struct ts_filter *filter;
	struct ts_trace_summary *s;
	int error;
};

/* Keeps the TS_TRACE_MAX_OPEN_LISTED oldest per state, oldest first. */
static void on_open(const struct ts_trace_open_sock *o, void *userdata)
{
	struct open_ctx *c = userdata;
	struct ts_trace_open_sock *list;
	size_t *n, i;

	if (!socket_selected(c->filter, &o->sock, TS_STATE_BIT(o->state)))
		return;
	c->s->open_count[o->state]++;
	if (!c->s->open[o->state]) {
		c->s->open[o->state] = calloc(TS_TRACE_MAX_OPEN_LISTED, sizeof(*o));
		if (!c->s->open[o->state]) {
			c->error = -ENOMEM;
			return;
		}
	}
	list = c->s->open[o->state];
	n = &c->s->n_open[o->state];
	for (i = *n; i > 0 && list[i - 1].age_ns < o->age_ns; i--)
		;
	if (i >= TS_TRACE_MAX_OPEN_LISTED)
		return;
	if (*n == TS_TRACE_MAX_OPEN_LISTED)
		(*n)--;
	memmove(&list[i + 1], &list[i], (*n - i) * sizeof(*list));
	list[i] = *o;
	(*n)++;
}

/* Is key among the sockets the kernel has? */
static bool key_present(uint64_t key, void *userdata)
{
	uint32_t unused;

	return trace_map_get(userdata, key, &unused);
}

/*
 * The sockets followed in a state they can leave, that the kernel has no
 * more: their last changes were never seen (no hook ran for them, nor for
 * their destruction). Counted lost once, at the end (ts_trace_drain()); a
 * change still on its way then is counted too (lost is "at most").
 */
static void reconcile(struct ts_trace *t)
{
	struct trace_map present = { 0 };

	if (t->reconciled)
		return;
	t->reconciled = true;
	if (present_keys(t, 0, &present) == 0)
		trace_track_forget_gone(&t->track, key_present, &present);
	trace_map_done(&present);
}

int ts_trace_summary_get(struct ts_trace *t, struct ts_trace_summary **ret)
{
	struct ts_trace_summary *s = calloc(1, sizeof(*s));
	uint64_t now = mono_ns();
	struct open_ctx c = { .filter = &t->filter, .s = s };
	int r;

	if (t->no_summary) {
		free(s);
		return -ENODATA;
	}
	if (!s)
		return -ENOMEM;
	s->duration_ns = now > t->start_ns ? now - t->start_ns : 0;
	if (ts_trace_loss_get(t, &s->loss) == 0)
		s->lost = s->loss.events;
	r = trace_acc_summary(&t->acc, s);
	if (r == 0) {
		trace_track_each_open(&t->track, now, on_open, &c);
		r = c.error;
	}
	if (r < 0) {
		ts_trace_summary_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct ts_trace_summary *ts_trace_summary_free(struct ts_trace_summary *s)
{
	if (!s)
		return NULL;
	free(s->procs);
	free(s->ports);
	for (unsigned i = 0; i < TS_STATE_COUNT; i++)
		free(s->open[i]);
	free(s);
	return NULL;
}

struct ts_trace *ts_trace_free(struct ts_trace *t)
{
	if (!t)
		return NULL;
	trace_bpf_free(t->bpf);
	trace_track_done(&t->track);
	trace_tw_lookup_done(&t->tw_lookup);
	trace_acc_done(&t->acc);
	free(t->netns);
	free(t->netns_spec);
	free(t);
	return NULL;
}
