/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpstate/activity.h"
#include "trace/trace_track.h"

#define TIME_WAIT_LEN_MS 60000u /* TCP_TIMEWAIT_LEN: the timer a timewait socket starts with */
#define NS_PER_MS 1000000ull

void trace_track_init(struct trace_track *tt)
{
	memset(tt, 0, sizeof(*tt));
}

void trace_track_done(struct trace_track *tt)
{
	free(tt->socks);
	free(tt->seeds);
	free(tt->holders);
	trace_map_done(&tt->by_id);
	trace_map_done(&tt->seed_by_cookie);
	trace_map_done(&tt->seed_by_inode);
	trace_map_done(&tt->seed_by_tuple);
	trace_map_done(&tt->holder_by_inode);
	memset(tt, 0, sizeof(*tt));
}

/* Our state for a kernel one; TCP_CLOSE is CLOSED (the caller refines it). */
static enum ts_state state_of(unsigned kernel_state)
{
	enum ts_state s;

	if (kernel_state == TS_TCP_BOUND_INACTIVE)
		return TS_STATE_BOUND;
	return ts_state_from_kernel(kernel_state, &s) == 0 ? s : TS_STATE_UNKNOWN;
}

uint64_t trace_tuple_key(uint32_t netns, uint8_t family, const struct in6_addr *saddr,
			 uint16_t sport, const struct in6_addr *daddr, uint16_t dport)
{
	/* FNV-1a over the fields, then never 0. */
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t buf[4 + 1 + 16 + 2 + 16 + 2];
	size_t n = 0;

	memcpy(buf + n, &netns, 4), n += 4;
	buf[n++] = family;
	memcpy(buf + n, saddr, 16), n += 16;
	memcpy(buf + n, &sport, 2), n += 2;
	memcpy(buf + n, daddr, 16), n += 16;
	memcpy(buf + n, &dport, 2), n += 2;
	for (size_t i = 0; i < n; i++) {
		h ^= buf[i];
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

static uint64_t rec_tuple_key(const struct trace_rec *r)
{
	return trace_tuple_key(r->netns, r->family, &r->saddr, r->sport, &r->daddr, r->dport);
}

static uint64_t sock_tuple_key(const struct ts_trace_socket *s)
{
	return trace_tuple_key((uint32_t)s->netns_inode, s->family, &s->local_addr, s->local_port,
			       &s->remote_addr, s->remote_port);
}

/* ---- holders: inode -> (pid, fd) ---- */

static int holder_put(struct trace_track *tt, uint64_t inode, pid_t pid, int fd, const char *comm)
{
	struct trace_holder *h;
	uint32_t i;
	int r;

	if (!inode)
		return 0;
	if (!trace_map_get(&tt->holder_by_inode, inode, &i)) {
		if (tt->free_holder) {
			i = tt->free_holder - 1;
			tt->free_holder = (uint32_t)tt->holders[i].fd; /* the free list link */
		} else {
			if (tt->n_holders >= TRACE_TRACK_MAX_SOCKS)
				return 0;
			if (tt->n_holders == tt->cap_holders) {
				size_t cap = tt->cap_holders ? tt->cap_holders * 2 : 256;
				struct trace_holder *n = realloc(tt->holders, cap * sizeof(*n));

				if (!n)
					return -ENOMEM;
				tt->holders = n;
				tt->cap_holders = cap;
			}
			i = (uint32_t)tt->n_holders++;
		}
		r = trace_map_put(&tt->holder_by_inode, inode, i);
		if (r < 0)
			return r;
	}
	h = &tt->holders[i];
	h->inode = inode;
	h->pid = pid;
	h->fd = fd;
	memcpy(h->comm, comm, TS_COMM_LEN);
	h->comm[TS_COMM_LEN - 1] = '\0';
	return 0;
}

static void holder_forget(struct trace_track *tt, uint64_t inode)
{
	uint32_t i;

	if (!inode || !trace_map_get(&tt->holder_by_inode, inode, &i))
		return;
	trace_map_del(&tt->holder_by_inode, inode);
	tt->holders[i].inode = 0;
	tt->holders[i].fd = (int)tt->free_holder;
	tt->free_holder = i + 1;
}

/* Who holds a socket at a record: the kernel says whether anyone does. */
static void holder_fill(const struct trace_track *tt, bool orphan, uint64_t inode,
			struct ts_trace_socket *s)
{
	uint32_t i;

	s->pid = 0;
	s->fd = -1;
	s->comm[0] = '\0';
	s->inode = orphan ? 0 : inode;
	if (orphan) {
		s->holder = TS_TRACE_HOLDER_ORPHAN;
	} else if (inode && trace_map_get(&tt->holder_by_inode, inode, &i)) {
		s->holder = TS_TRACE_HOLDER_PROCESS;
		s->pid = tt->holders[i].pid;
		s->fd = tt->holders[i].fd;
		memcpy(s->comm, tt->holders[i].comm, TS_COMM_LEN);
	} else {
		s->holder = TS_TRACE_HOLDER_UNKNOWN;
	}
}

/* ---- seeds ---- */

/* Since when, at the latest, s has been in its state (a lower bound of its age). */
static uint64_t seed_since(const struct ts_socket *s, uint64_t snap_ns)
{
	uint64_t lb_ms = 0;
	struct ts_activity a;

	switch (s->state) {
	case TS_STATE_TIME_WAIT:
		/* The timer starts at 60 s and is only ever pushed back (a FIN
		 * retransmitted by the peer rearms it): 60 s - left is a lower bound. */
		if (s->timer == TS_TIMER_TIME_WAIT && s->timer_expires_ms <= TIME_WAIT_LEN_MS)
			lb_ms = TIME_WAIT_LEN_MS - s->timer_expires_ms;
		break;
	case TS_STATE_ESTABLISHED:
	case TS_STATE_SYN_SENT:
	case TS_STATE_SYN_RECEIVED:
	case TS_STATE_FIN_WAIT_1:
	case TS_STATE_FIN_WAIT_2:
	case TS_STATE_CLOSE_WAIT:
	case TS_STATE_CLOSING:
	case TS_STATE_LAST_ACK:
		/* Each of these states was entered on a segment sent or received;
		 * every later one only makes the last-activity time nearer. */
		if (ts_socket_activity(s, &a) == 0)
			lb_ms = a.idle_ms;
		break;
	default:
		break;
	}
	if (lb_ms * NS_PER_MS > snap_ns)
		return 0;
	return snap_ns - lb_ms * NS_PER_MS;
}

static void sock_from_snapshot(const struct ts_snapshot *snap, const struct ts_socket *s,
			       struct ts_trace_socket *out)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);

	memset(out, 0, sizeof(*out));
	out->cookie = s->cookie;
	out->netns_inode = ns ? ns->inode : 0;
	out->local_addr = s->local_addr;
	out->remote_addr = s->remote_addr;
	out->local_port = s->local_port;
	out->remote_port = s->remote_port;
	out->family = s->family;
	out->inode = s->inode;
	out->fd = -1;
	if (o) {
		const struct ts_process *p = ts_snapshot_process(snap, o->process_index);

		out->holder = TS_TRACE_HOLDER_PROCESS;
		out->pid = o->pid;
		out->fd = o->fd;
		if (p)
			memcpy(out->comm, p->comm, TS_COMM_LEN);
	} else {
		out->holder = s->inode ? TS_TRACE_HOLDER_UNKNOWN : TS_TRACE_HOLDER_ORPHAN;
	}
}

int trace_track_seed(struct trace_track *tt, const struct ts_snapshot *snap, uint64_t snap_ns)
{
	size_t n = ts_snapshot_socket_count(snap);
	int r;

	if (n > TRACE_TRACK_MAX_SOCKS)
		n = TRACE_TRACK_MAX_SOCKS;
	tt->seeds = calloc(n ? n : 1, sizeof(*tt->seeds));
	if (!tt->seeds)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		struct trace_sock *seed = &tt->seeds[tt->n_seeds];
		uint32_t idx = (uint32_t)tt->n_seeds;

		if (s->state == TS_STATE_UNKNOWN)
			continue;
		sock_from_snapshot(snap, s, &seed->sock);
		seed->id = 1; /* in use */
		seed->inode = s->inode;
		seed->state = (enum ts_state)s->state;
		seed->age = TS_TRACE_AGE_AT_LEAST;
		seed->since_ns = seed_since(s, snap_ns);
		tt->n_seeds++;
		if (s->cookie && (r = trace_map_put(&tt->seed_by_cookie, s->cookie, idx)) < 0)
			return r;
		if (s->inode && (r = trace_map_put(&tt->seed_by_inode, s->inode, idx)) < 0)
			return r;
		if (s->state == TS_STATE_TIME_WAIT) {
			seed->tw = true;
			r = trace_map_put(&tt->seed_by_tuple, sock_tuple_key(&seed->sock), idx);
			if (r < 0)
				return r;
		}
		if (seed->sock.holder == TS_TRACE_HOLDER_PROCESS &&
		    (r = holder_put(tt, s->inode, seed->sock.pid, seed->sock.fd,
				    seed->sock.comm)) < 0)
			return r;
	}
	return 0;
}

static struct trace_sock *seed_find(struct trace_track *tt, uint64_t cookie, uint64_t inode)
{
	uint32_t i;

	if ((cookie && trace_map_get(&tt->seed_by_cookie, cookie, &i)) ||
	    (inode && trace_map_get(&tt->seed_by_inode, inode, &i)))
		return tt->seeds[i].claimed ? NULL : &tt->seeds[i];
	return NULL;
}

static struct trace_sock *seed_find_tw(struct trace_track *tt, uint64_t cookie, uint64_t key)
{
	struct trace_sock *s = seed_find(tt, cookie, 0);
	uint32_t i;

	if (s)
		return s;
	if (trace_map_get(&tt->seed_by_tuple, key, &i))
		return tt->seeds[i].claimed ? NULL : &tt->seeds[i];
	return NULL;
}

/* ---- followed sockets ---- */

static struct trace_sock *sock_find(struct trace_track *tt, uint64_t id)
{
	uint32_t i;

	return trace_map_get(&tt->by_id, id, &i) ? &tt->socks[i] : NULL;
}

/* A new entry for id (zeroed but for id), NULL past the bound; *err on ENOMEM. */
static struct trace_sock *sock_add(struct trace_track *tt, uint64_t id, int *err)
{
	uint32_t i;

	if (tt->free_sock) {
		i = tt->free_sock - 1;
		tt->free_sock = (uint32_t)tt->socks[i].since_ns;
	} else {
		if (tt->n_socks >= TRACE_TRACK_MAX_SOCKS) {
			tt->untracked++;
			return NULL;
		}
		if (tt->n_socks == tt->cap_socks) {
			size_t cap = tt->cap_socks ? tt->cap_socks * 2 : 256;
			struct trace_sock *n = realloc(tt->socks, cap * sizeof(*n));

			if (!n) {
				*err = -ENOMEM;
				return NULL;
			}
			tt->socks = n;
			tt->cap_socks = cap;
		}
		i = (uint32_t)tt->n_socks++;
	}
	*err = trace_map_put(&tt->by_id, id, i);
	if (*err < 0)
		return NULL;
	memset(&tt->socks[i], 0, sizeof(tt->socks[i]));
	tt->socks[i].id = id;
	return &tt->socks[i];
}

static void sock_remove(struct trace_track *tt, struct trace_sock *s)
{
	uint32_t i = (uint32_t)(s - tt->socks);

	trace_map_del(&tt->by_id, s->id);
	s->id = 0;
	s->since_ns = tt->free_sock;
	tt->free_sock = i + 1;
}

/* The socket's ends as the record has them (a port of 0 keeps the known one). */
static void sock_update(struct trace_sock *s, const struct trace_rec *r)
{
	struct ts_trace_socket *o = &s->sock;

	if (r->kind == TRACE_REC_HOLD)
		return;
	o->family = r->family;
	o->netns_inode = r->netns;
	if (r->cookie)
		o->cookie = r->cookie;
	if (r->sport || !o->local_port) {
		o->local_port = r->sport;
		o->local_addr = r->saddr;
	}
	if (r->dport || !o->remote_port) {
		o->remote_port = r->dport;
		o->remote_addr = r->daddr;
	}
}

/* The entry of the record's socket, made from a seed or fresh when new. */
static struct trace_sock *sock_get(struct trace_track *tt, uint64_t id, uint64_t cookie,
				   uint64_t inode, int *err)
{
	struct trace_sock *s = sock_find(tt, id), *seed;

	if (s)
		return s;
	seed = seed_find(tt, cookie, inode);
	s = sock_add(tt, id, err);
	if (!s)
		return NULL;
	if (seed) {
		*s = *seed;
		s->id = id;
		seed->claimed = true;
	} else {
		s->state = TS_STATE_UNKNOWN;
		s->age = TS_TRACE_AGE_NONE;
		s->inode = inode;
		s->sock.fd = -1;
	}
	return s;
}

/*
 * At most how many changes a socket in state st makes before its end (the
 * longest way: ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT, or
 * -> CLOSE_WAIT -> LAST_ACK -> CLOSED).
 */
static unsigned changes_left_max(enum ts_state st)
{
	switch (st) {
	case TS_STATE_SYN_SENT:
	case TS_STATE_SYN_RECEIVED:
		return 4;
	case TS_STATE_ESTABLISHED:
		return 3;
	case TS_STATE_FIN_WAIT_1:
	case TS_STATE_CLOSE_WAIT:
		return 2;
	case TS_STATE_FIN_WAIT_2:
	case TS_STATE_CLOSING:
	case TS_STATE_LAST_ACK:
	case TS_STATE_LISTEN:
		return 1;
	default: /* IDLE, BOUND, CLOSED: it can end as it is; not known */
		return 0;
	}
}

/*
 * s is gone, or is another socket now (its address came back for a new
 * one), before its end was seen: the kernel did not run the hook for its
 * last changes (it skips a program, uncounted, at times; seen on 6.18 at a
 * few per ten thousand connections a second). Those changes are counted as
 * lost, at most as many as it could have made.
 */
static void unseen_end(struct trace_track *tt, const struct trace_sock *s)
{
	tt->unseen += changes_left_max(s->state);
}

static void event_old(const struct trace_sock *s, enum ts_state old, uint64_t ts,
		      struct ts_trace_event *ev)
{
	ev->old_state = old;
	ev->age = TS_TRACE_AGE_NONE;
	ev->in_old_ns = 0;
	if (s->state == old && s->age != TS_TRACE_AGE_NONE && ts >= s->since_ns) {
		ev->age = s->age;
		ev->in_old_ns = ts - s->since_ns;
	}
}

static void enter(struct trace_sock *s, enum ts_state st, uint64_t ts)
{
	s->state = st;
	s->since_ns = ts;
	s->age = TS_TRACE_AGE_EXACT;
}

/* TCP_CLOSE as the old state: IDLE, BOUND or CLOSED, as far as we know. */
static enum ts_state closed_kind(const struct trace_sock *s, const struct trace_rec *r)
{
	if (s->state == TS_STATE_IDLE || s->state == TS_STATE_BOUND || s->state == TS_STATE_CLOSED)
		return s->state;
	return r->had_port ? TS_STATE_BOUND : TS_STATE_IDLE;
}

/* The end of a timewait socket, from what is known of it. */
static void tw_end_event(const struct trace_sock *s, enum ts_state old, uint64_t ts,
			 struct ts_trace_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->mono_ns = ts;
	event_old(s, old, ts, ev);
	ev->new_state = TS_STATE_CLOSED;
	ev->ended = true;
	ev->sock = s->sock;
	ev->sock.holder = TS_TRACE_HOLDER_ORPHAN;
}

/*
 * A new connection on the 4-tuple of a timewait socket followed: the kernel
 * ended that one to let it have the tuple (connect() with tcp_tw_reuse or
 * from a bound port, a SYN accepted in TIME_WAIT). Its end, in *ev: 1, or 0
 * when no timewait socket had the tuple.
 */
static int tw_taken(struct trace_track *tt, const struct trace_rec *r, struct ts_trace_event *ev)
{
	uint64_t key = rec_tuple_key(r);
	struct trace_sock *s = sock_find(tt, key);

	if (s && s->tw) {
		tw_end_event(s, s->state, r->ts_ns, ev);
		sock_remove(tt, s);
	} else if (!s && (s = seed_find_tw(tt, 0, key))) {
		tw_end_event(s, s->state, r->ts_ns, ev);
		s->claimed = true;
	} else {
		return 0;
	}
	ev->reused = true;
	return 1;
}

static int on_state(struct trace_track *tt, const struct trace_rec *r, struct ts_trace_event *evs)
{
	struct trace_sock *s;
	struct ts_trace_event *ev = evs;
	enum ts_state old, new;
	bool child = r->oldstate == TS_TCP_LISTEN && r->newstate == TS_TCP_SYN_RECV;
	int err = 0, n = 0;

	/* The first changes with the whole 4-tuple, on either side. */
	if (child || (r->oldstate == TS_TCP_SYN_SENT && r->newstate == TS_TCP_ESTABLISHED)) {
		n = tw_taken(tt, r, ev);
		ev += n;
	}

	/* A listener's child is a new socket at an address that may have
	 * held another: start afresh. */
	if (child && (s = sock_find(tt, r->id))) {
		unseen_end(tt, s);
		sock_remove(tt, s);
	}
	s = child ? sock_add(tt, r->id, &err) : sock_get(tt, r->id, r->cookie, r->inode, &err);
	if (!s)
		return err < 0 ? err : n;
	if (child) {
		s->state = TS_STATE_UNKNOWN;
		s->born_ns = r->ts_ns;
	}
	tt->young = s->born_ns && r->ts_ns - s->born_ns < TS_TRACE_RESCAN_MS * 1000000ull;
	if (r->inode)
		s->inode = r->inode;
	old = r->oldstate == TS_TCP_CLOSE ? closed_kind(s, r) : state_of(r->oldstate);
	new = r->newstate == TS_TCP_CLOSE ? TS_STATE_CLOSED : state_of(r->newstate);
	sock_update(s, r);
	holder_fill(tt, r->orphan, s->inode, &s->sock);
	memset(ev, 0, sizeof(*ev));
	ev->mono_ns = r->ts_ns;
	ev->born = child;
	event_old(s, old, r->ts_ns, ev);
	ev->new_state = new;
	ev->sock = s->sock;
	enter(s, new, r->ts_ns);
	if (new == TS_STATE_CLOSED && r->orphan) {
		ev->ended = true;
		holder_forget(tt, s->inode);
		sock_remove(tt, s);
	}
	return n + 1;
}

static int on_tw_enter(struct trace_track *tt, const struct trace_rec *r, struct ts_trace_event *ev)
{
	struct trace_sock *full, *tw, copy;
	enum ts_state old = state_of(r->oldstate), new = state_of(r->newstate);
	int err = 0;

	full = sock_get(tt, r->peer_id, r->cookie, r->inode, &err);
	if (!full && err)
		return err;
	if (full) {
		if (r->inode)
			full->inode = r->inode;
		copy = *full;
	} else {
		memset(&copy, 0, sizeof(copy));
		copy.state = TS_STATE_UNKNOWN;
	}
	holder_fill(tt, r->orphan, copy.inode, &copy.sock);
	if (full && r->orphan) /* its tcp_done() is the hand-over: no CLOSED of its own */
		sock_remove(tt, full);
	if (full && !r->orphan) { /* still held: CLOSED for its holder, quietly */
		full->state = TS_STATE_CLOSED;
		full->since_ns = r->ts_ns;
		full->age = TS_TRACE_AGE_EXACT;
	}
	tw = sock_find(tt, rec_tuple_key(r));
	if (!tw)
		tw = sock_add(tt, rec_tuple_key(r), &err);
	if (!tw && err)
		return err;
	if (tw) {
		uint64_t key = tw->id;

		*tw = copy;
		tw->id = key;
		tw->tw = true;
		tw->inode = 0;
		sock_update(tw, r);
		tw->sock.holder = TS_TRACE_HOLDER_ORPHAN;
		tw->sock.pid = 0;
		tw->sock.fd = -1;
		tw->sock.comm[0] = '\0';
	}
	if (old == new) /* FIN_WAIT_2 carried on by the timewait socket */
		return 0;
	memset(ev, 0, sizeof(*ev));
	ev->mono_ns = r->ts_ns;
	event_old(&copy, old, r->ts_ns, ev);
	ev->new_state = new;
	sock_update(&copy, r);
	ev->sock = copy.sock;
	if (tw)
		enter(tw, new, r->ts_ns);
	return 1;
}

static int on_tw_end(struct trace_track *tt, const struct trace_rec *r, struct ts_trace_event *ev)
{
	struct trace_sock *s;
	int err = 0;

	uint64_t key = rec_tuple_key(r);
	struct trace_sock *seed;

	s = sock_find(tt, key);
	if (!s) {
		seed = seed_find_tw(tt, r->cookie, key);
		s = sock_add(tt, key, &err);
		if (!s)
			return err;
		if (seed) {
			*s = *seed;
			s->id = key;
			seed->claimed = true;
		} else {
			s->state = TS_STATE_UNKNOWN;
			s->sock.fd = -1;
		}
	}
	sock_update(s, r);
	tw_end_event(s, state_of(r->oldstate), r->ts_ns, ev);
	ev->polled = r->polled;
	sock_remove(tt, s);
	return 1;
}

static int on_bind(struct trace_track *tt, const struct trace_rec *r, struct ts_trace_event *ev)
{
	struct trace_sock *s;
	int err = 0;

	s = sock_get(tt, r->id, r->cookie, r->inode, &err);
	if (!s)
		return err;
	if (r->inode)
		s->inode = r->inode;
	if (s->state == TS_STATE_BOUND)
		return 0;
	sock_update(s, r);
	holder_fill(tt, r->orphan, s->inode, &s->sock);
	memset(ev, 0, sizeof(*ev));
	ev->mono_ns = r->ts_ns;
	event_old(s, TS_STATE_IDLE, r->ts_ns, ev);
	ev->new_state = TS_STATE_BOUND;
	ev->sock = s->sock;
	enter(s, TS_STATE_BOUND, r->ts_ns);
	return 1;
}

/* An fd for the socket: its holder. A socket never seen, unbound and
 * unconnected, is one socket() just made: its birth as IDLE. */
static int on_hold(struct trace_track *tt, const struct trace_rec *r, struct ts_trace_event *ev)
{
	struct trace_sock *s;
	int err = holder_put(tt, r->inode, (pid_t)r->tgid, r->fd, r->comm);

	if (err < 0)
		return err;
	s = sock_find(tt, r->id);
	if (s && r->oldstate == TS_TCP_CLOSE && changes_left_max(s->state)) {
		/* socket() at the address of one that never ended for us. */
		unseen_end(tt, s);
		holder_forget(tt, s->inode);
		sock_remove(tt, s);
		s = NULL;
	}
	if (s) {
		holder_fill(tt, false, r->inode, &s->sock);
		return 0;
	}
	if (r->oldstate != TS_TCP_CLOSE || seed_find(tt, r->cookie, r->inode))
		return 0;
	s = sock_add(tt, r->id, &err);
	if (!s)
		return err;
	s->inode = r->inode;
	s->born_ns = r->ts_ns;
	s->sock.family = r->family;
	s->sock.netns_inode = r->netns;
	holder_fill(tt, false, r->inode, &s->sock);
	enter(s, TS_STATE_IDLE, r->ts_ns);
	memset(ev, 0, sizeof(*ev));
	ev->mono_ns = r->ts_ns;
	ev->born = true;
	ev->old_state = TS_STATE_UNKNOWN;
	ev->new_state = TS_STATE_IDLE;
	ev->sock = s->sock;
	return 1;
}

/* The socket is gone: forget it and its holder. */
static int on_destroy(struct trace_track *tt, const struct trace_rec *r)
{
	struct trace_sock *s = sock_find(tt, r->id);

	if (s) {
		unseen_end(tt, s); /* destroyed before its end was seen */
		holder_forget(tt, s->inode);
		sock_remove(tt, s);
	}
	return 0;
}

int trace_track_rec(struct trace_track *tt, const struct trace_rec *r,
		    struct ts_trace_event ret[TRACE_TRACK_MAX_EVENTS])
{
	tt->young = false;
	switch (r->kind) {
	case TRACE_REC_STATE:
		return on_state(tt, r, ret);
	case TRACE_REC_TW_ENTER:
		return on_tw_enter(tt, r, ret);
	case TRACE_REC_TW_END:
		return on_tw_end(tt, r, ret);
	case TRACE_REC_BIND:
		return on_bind(tt, r, ret);
	case TRACE_REC_HOLD:
		return on_hold(tt, r, ret);
	case TRACE_REC_DESTROY:
		return on_destroy(tt, r);
	default:
		return 0;
	}
}

static void report_open(const struct trace_sock *s, uint64_t now_ns,
			void (*cb)(const struct ts_trace_open_sock *o, void *userdata), void *userdata)
{
	struct ts_trace_open_sock o = { .sock = s->sock, .state = s->state, .age = s->age };

	if (s->state >= TS_STATE_COUNT || s->age == TS_TRACE_AGE_NONE)
		return;
	o.age_ns = now_ns > s->since_ns ? now_ns - s->since_ns : 0;
	cb(&o, userdata);
}

void trace_track_each_open(const struct trace_track *tt, uint64_t now_ns,
			   void (*cb)(const struct ts_trace_open_sock *o, void *userdata),
			   void *userdata)
{
	for (size_t i = 0; i < tt->n_socks; i++)
		if (tt->socks[i].id)
			report_open(&tt->socks[i], now_ns, cb, userdata);
	for (size_t i = 0; i < tt->n_seeds; i++)
		if (!tt->seeds[i].claimed)
			report_open(&tt->seeds[i], now_ns, cb, userdata);
}

void trace_track_forget_gone(struct trace_track *tt, bool (*present)(uint64_t key, void *userdata),
			     void *userdata)
{
	for (size_t i = 0; i < tt->n_socks; i++) {
		struct trace_sock *s = &tt->socks[i];

		if (!s->id || s->tw || !changes_left_max(s->state) || !s->sock.local_port ||
		    present(sock_tuple_key(&s->sock), userdata))
			continue;
		unseen_end(tt, s);
		holder_forget(tt, s->inode);
		sock_remove(tt, s);
	}
}

void trace_track_each_tw(const struct trace_track *tt,
			 void (*cb)(uint64_t key, const struct trace_sock *s, void *userdata),
			 void *userdata)
{
	for (size_t i = 0; i < tt->n_socks; i++)
		if (tt->socks[i].id && tt->socks[i].tw)
			cb(tt->socks[i].id, &tt->socks[i], userdata);
	for (size_t i = 0; i < tt->n_seeds; i++)
		if (!tt->seeds[i].claimed && tt->seeds[i].tw)
			cb(sock_tuple_key(&tt->seeds[i].sock), &tt->seeds[i], userdata);
}

int trace_track_holder_put(struct trace_track *tt, uint64_t inode, pid_t pid, int fd,
			   const char *comm)
{
	return holder_put(tt, inode, pid, fd, comm);
}

bool trace_track_holder_fill(const struct trace_track *tt, struct ts_trace_socket *s)
{
	uint32_t i;

	if (!s->inode || !trace_map_get(&tt->holder_by_inode, s->inode, &i))
		return false;
	holder_fill(tt, false, s->inode, s);
	return true;
}
