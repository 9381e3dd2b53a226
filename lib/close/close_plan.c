/* SPDX-License-Identifier: MIT */
/* A close plan: the verdict for each socket of a snapshot, then acting on it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/sock_diag.h"
#include "core/netns.h"
#include "tcpstate/close.h"
#include "tcpstate/snapshot.h"

/* A sock_diag socket per namespace of the snapshot (rst), opened on first use. */
struct ns_link {
	bool tried;
	int nl_fd;
	int err;
};

struct ts_close_plan {
	struct ts_close_opts opts;
	const struct ts_snapshot *snap;
	struct ts_close_item *items;
	size_t n_items;
	struct ts_close_holder *holder_buf; /* every item's holders */
	struct ns_link *links;              /* per namespace index of the snapshot */
	size_t n_links;
	struct netns_target *targets;       /* resolved again, to enter them */
	size_t n_targets;
	bool targets_loaded;
	int targets_err;
	bool (*stop)(void *data);           /* ts_close_plan_execute_until() */
	void *stop_data;
};

static const char *const outcome_names[_TS_CLOSE_OUTCOME_MAX] = {
	[TS_CLOSE_PLANNED] = "planned",
	[TS_CLOSE_DONE] = "done",
	[TS_CLOSE_SKIPPED] = "skipped",
	[TS_CLOSE_FAILED] = "failed",
};

const char *ts_close_outcome_name(enum ts_close_outcome o)
{
	return (unsigned)o < _TS_CLOSE_OUTCOME_MAX ? outcome_names[o] : "?";
}

/* Why a socket the rules allow is left alone by the idle test (o->min_idle_s). */
static void idle_reason(struct ts_close_item *it, uint32_t min_idle_s, char *buf, size_t size)
{
	const struct ts_activity *a = &it->act;
	char d[32];

	switch (it->idle) {
	case TS_IDLE_RECENT:
		ts_duration_text(a->idle_ms, d, sizeof(d));
		snprintf(buf, size, "may be in use: %s %s ago (< --min-idle %u s)", ts_last_event_text(a->last),
			 d, min_idle_s);
		break;
	case TS_IDLE_UNREAD:
		snprintf(buf, size, "may be in use: %llu bytes received and not yet read by the program",
			 (unsigned long long)a->unread_bytes);
		break;
	case TS_IDLE_UNSENT:
		snprintf(buf, size, "may be in use: %llu bytes written and not yet acknowledged by the peer",
			 (unsigned long long)a->unsent_bytes);
		break;
	case TS_IDLE_NO_INFO:
		snprintf(buf, size, "idle time unknown: the kernel gave no tcp_info for it "
			 "(--min-idle 0 acts anyway)");
		break;
	case TS_IDLE_NEVER_CONNECTED:
		snprintf(buf, size, "idle time unknown: %s has no connection whose traffic is timed "
			 "(--min-idle 0 acts anyway)", ts_state_name((enum ts_state)it->s->state));
		break;
	default:
		snprintf(buf, size, "%s", ts_close_verdict_reason(TS_CLOSE_SKIP_IN_USE));
		break;
	}
}

/* The idle test: true when it leaves the socket alone (verdict and reason set). */
static bool skip_in_use(const struct ts_close_opts *o, struct ts_close_item *it)
{
	if (!o->min_idle_s)
		return false;
	it->idle = ts_socket_idle_verdict(it->s, (uint64_t)o->min_idle_s * 1000, &it->act);
	it->has_activity = it->idle != TS_IDLE_NO_INFO && it->idle != TS_IDLE_NEVER_CONNECTED &&
			   it->s->state != TS_STATE_TIME_WAIT;
	if (it->idle == TS_IDLE_ABANDONED)
		return false;
	it->verdict = TS_CLOSE_SKIP_IN_USE;
	idle_reason(it, o->min_idle_s, it->reason, sizeof(it->reason));
	return true;
}

static int plan_fill(struct ts_close_plan *c)
{
	const struct ts_snapshot *snap = c->snap;
	size_t n = ts_snapshot_socket_count(snap), n_owners = 0;
	struct ts_close_holder *h;

	for (size_t i = 0; i < n; i++)
		n_owners += ts_snapshot_socket(snap, i)->owner_count;
	c->items = calloc(n ? n : 1, sizeof(*c->items));
	h = calloc(n_owners ? n_owners : 1, sizeof(*h));
	c->holder_buf = h;
	if (!c->items || !h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const struct ts_owner *o = ts_snapshot_owners(snap, s);
		struct ts_close_item *it = &c->items[i];

		it->s = s;
		it->ns = ts_snapshot_netns(snap, s->netns_index);
		it->holders = h;
		it->n_holders = o ? s->owner_count : 0;
		for (size_t k = 0; k < it->n_holders; k++) {
			const struct ts_process *p = ts_snapshot_process(snap, o[k].process_index);

			h[k].pid = o[k].pid;
			h[k].fd = o[k].fd;
			h[k].comm = p && p->comm[0] ? p->comm : "?";
		}
		h += it->n_holders;
		it->verdict = ts_close_verdict(s, it->n_holders, c->opts.how, c->opts.listen_named);
		if (it->verdict == TS_CLOSE_ACT && skip_in_use(&c->opts, it)) {
			it->outcome = TS_CLOSE_SKIPPED;
		} else if (it->verdict == TS_CLOSE_ACT) {
			it->outcome = TS_CLOSE_PLANNED;
		} else {
			it->outcome = TS_CLOSE_SKIPPED;
			snprintf(it->reason, sizeof(it->reason), "%s", ts_close_verdict_reason(it->verdict));
		}
	}
	c->n_items = n;
	return 0;
}

/* ---- acting ---- */

static int load_targets(struct ts_close_plan *c)
{
	if (c->targets_loaded)
		return c->targets_err;
	c->targets_loaded = true;
	if (c->opts.all_netns) {
		c->targets_err = netns_enumerate(NULL, &c->targets, &c->n_targets, NULL);
	} else {
		c->targets = calloc(1, sizeof(*c->targets));
		if (!c->targets)
			return c->targets_err = -ENOMEM;
		c->targets_err = netns_resolve(c->opts.netns, NULL, &c->targets[0]);
		if (c->targets_err == 0)
			c->n_targets = 1;
	}
	return c->targets_err;
}

/* The sock_diag socket of the namespace that holds s: an fd, or -errno. */
static int ns_link_get(struct ts_close_plan *c, const struct ts_socket *s)
{
	const struct ts_netns *ns = ts_snapshot_netns(c->snap, s->netns_index);
	struct ns_link *l;
	int saved, r;

	if (!ns || s->netns_index >= c->n_links)
		return -ENOENT;
	l = &c->links[s->netns_index];
	if (l->tried)
		return l->err ? l->err : l->nl_fd;
	l->tried = true;
	l->nl_fd = -1;
	r = load_targets(c);
	if (r < 0)
		return l->err = r;
	for (size_t i = 0; i < c->n_targets; i++) {
		if (c->targets[i].inode != ns->inode)
			continue;
		r = netns_enter(&c->targets[i], &saved);
		if (r < 0)
			return l->err = r;
		l->nl_fd = sock_diag_open();
		r = netns_leave(saved);
		if (l->nl_fd < 0)
			return l->err = l->nl_fd;
		if (r < 0) {
			close(l->nl_fd);
			l->nl_fd = -1;
			return l->err = r;
		}
		return l->nl_fd;
	}
	return l->err = -ENOENT; /* the namespace went away */
}

static void set_result(struct ts_close_item *it, enum ts_close_outcome o, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_result(struct ts_close_item *it, enum ts_close_outcome o, int err, const char *fmt, ...)
{
	va_list ap;

	it->outcome = o;
	it->err = err;
	va_start(ap, fmt);
	vsnprintf(it->reason, sizeof(it->reason), fmt, ap);
	va_end(ap);
}

/*
 * What SOCK_DESTROY did, by the socket's kind (Linux tcp_abort()): a TIME_WAIT
 * entry and a connection not yet accepted (a request socket, no inode) are
 * dropped without a packet; a full socket gets sk_err ECONNABORTED and a RST
 * to the peer only in the states of tcp_need_reset() (ESTABLISHED,
 * CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2, SYN_RECEIVED); a listener stops and
 * resets the connections in its queues, and its accept() then says EINVAL
 * (not listening); only a held socket has a program to see the error.
 */
static void rst_done(struct ts_close_item *it)
{
	const struct ts_socket *s = it->s;
	bool peer_told, held = it->n_holders > 0 || s->owner_count > 0;

	if (s->state == TS_STATE_TIME_WAIT) {
		set_result(it, TS_CLOSE_DONE, 0, "removed: the TIME_WAIT entry is gone at once; no "
			   "packet was sent (no program holds a TIME_WAIT socket)");
		return;
	}
	if (s->state == TS_STATE_SYN_RECEIVED && !s->inode) {
		set_result(it, TS_CLOSE_DONE, 0, "removed: the half-open connection is dropped from "
			   "its listener's queue; no packet was sent (the client may retry its SYN)");
		return;
	}
	if (s->state == TS_STATE_LISTEN) {
		set_result(it, TS_CLOSE_DONE, 0, "stopped listening: connections waiting to be "
			   "accepted were reset; %s", held ? "the program's next accept() fails with "
			   "EINVAL (its fd stays open)" : "no program held it");
		return;
	}
	peer_told = s->state == TS_STATE_ESTABLISHED || s->state == TS_STATE_CLOSE_WAIT ||
		    s->state == TS_STATE_FIN_WAIT_1 || s->state == TS_STATE_FIN_WAIT_2 ||
		    s->state == TS_STATE_SYN_RECEIVED;
	set_result(it, TS_CLOSE_DONE, 0, "%s; %s",
		   peer_told ? "reset: the peer got a RST" : "aborted: no packet was sent to the peer",
		   held ? "the program's next call on it fails with ECONNABORTED (its fd stays open)"
			: "no program held it");
}

static void act_rst(struct ts_close_plan *c, struct ts_close_item *it)
{
	int fd = ns_link_get(c, it->s), r;

	if (fd < 0) {
		set_result(it, TS_CLOSE_FAILED, fd, "cannot open sock_diag in netns %s: %s",
			   it->ns ? it->ns->name : "?", strerror(-fd));
		return;
	}
	r = ts_close_destroy(fd, it->s);
	switch (r) {
	case 0:
		rst_done(it);
		break;
	case -ENOENT:
		set_result(it, TS_CLOSE_SKIPPED, r, "gone: no socket has these two ends any more "
			   "(it ended after it was listed)");
		break;
	case -ESTALE:
		set_result(it, TS_CLOSE_SKIPPED, r, "another socket has these two ends now (the cookie "
			   "differs): not touched");
		break;
	case -EPERM:
	case -EACCES:
		set_result(it, TS_CLOSE_FAILED, r, "not permitted: SOCK_DESTROY needs CAP_NET_ADMIN "
			   "over the socket's network namespace");
		break;
	case -EOPNOTSUPP:
		set_result(it, TS_CLOSE_FAILED, r, "this kernel cannot destroy sockets (built without "
			   "CONFIG_INET_DIAG_DESTROY): use --how fin or --how fd");
		break;
	default:
		set_result(it, TS_CLOSE_FAILED, r, "SOCK_DESTROY failed: %s", strerror(-r));
		break;
	}
}

/* Whether an error of one holder says the fd no longer is this socket (try another). */
static bool holder_gone(int r)
{
	return r == -ESRCH || r == -EBADF || r == -ESTALE;
}

static const char *holder_gone_text(int r)
{
	switch (r) {
	case -ESRCH: return "the process exited";
	case -EBADF: return "the fd is closed now";
	case -ESTALE: return "the fd is another file now (its identity changed since listing)";
	default: return strerror(-r);
	}
}

static void act_fin(struct ts_close_item *it)
{
	int r = -ESRCH;

	for (size_t k = 0; k < it->n_holders; k++) {
		struct ts_close_holder *h = &it->holders[k];

		r = ts_close_shutdown(h->pid, h->fd, it->s->inode, it->s->cookie);
		h->err = r;
		if (r == 0) {
			h->outcome = TS_CLOSE_DONE;
			set_result(it, TS_CLOSE_DONE, 0, "FIN sent (shutdown(SHUT_WR) through pid %d fd %d); "
				   "the fd stays open in the program", (int)h->pid, h->fd);
			return;
		}
		if (holder_gone(r)) {
			h->outcome = TS_CLOSE_SKIPPED;
			h->detail = holder_gone_text(r);
			continue; /* another holder may still have it */
		}
		h->outcome = TS_CLOSE_FAILED;
		if (r == -EPERM || r == -EACCES) {
			h->detail = "not permitted to copy the fd (pidfd_getfd needs ptrace access: "
				    "root or CAP_SYS_PTRACE)";
			set_result(it, TS_CLOSE_FAILED, r, "pid %d fd %d: %s", (int)h->pid, h->fd, h->detail);
		} else if (r == -ENOTCONN) {
			h->outcome = TS_CLOSE_SKIPPED;
			h->detail = "not connected any more";
			set_result(it, TS_CLOSE_SKIPPED, r, "not connected any more");
		} else {
			h->detail = "shutdown failed";
			set_result(it, TS_CLOSE_FAILED, r, "pid %d fd %d: %s", (int)h->pid, h->fd,
				   strerror(-r));
		}
		return;
	}
	if (it->n_holders == 1)
		set_result(it, TS_CLOSE_SKIPPED, r, "pid %d fd %d: %s", (int)it->holders[0].pid,
			   it->holders[0].fd, holder_gone_text(r));
	else
		set_result(it, TS_CLOSE_SKIPPED, r, "none of its %zu holders has it any more",
			   it->n_holders);
}

static const char *fd_error_text(int r)
{
	switch (r) {
	case -ESRCH: return "the process exited";
	case -ESTALE: return "the fd is another file now (its identity changed since listing)";
	case -EBUSY: return "the process is being traced (debugger, strace): not touched";
	case -EINVAL: return "that process is tcpstate itself";
	case -EPERM:
	case -EACCES: return "not permitted to ptrace the process (root or CAP_SYS_PTRACE)";
	case -EOPNOTSUPP: return "closing an fd in another process is not supported on this "
				 "architecture";
	default: return NULL;
	}
}

/* A holder that was not closed but still holds the socket (refused or failed). */
static bool holder_still_holds(const struct ts_close_holder *h)
{
	return h->outcome == TS_CLOSE_FAILED || (h->outcome == TS_CLOSE_SKIPPED && !holder_gone(h->err));
}

#define NOT_TRIED_TEXT "not tried: tcpstate was interrupted"

static bool stop_requested(const struct ts_close_plan *c)
{
	return c->stop && c->stop(c->stop_data);
}

static void act_fd(struct ts_close_plan *c, struct ts_close_item *it)
{
	size_t done = 0, failed = 0;
	const struct ts_close_holder *first_bad = NULL, *holding = NULL;

	for (size_t k = 0; k < it->n_holders; k++) {
		struct ts_close_holder *h = &it->holders[k];
		const char *detail = NULL;
		int r = k > 0 && stop_requested(c) ? -EINTR :
			ts_close_fd(h->pid, h->fd, it->s->inode, it->s->cookie, &detail);

		h->err = r;
		if (r == 0) {
			h->outcome = TS_CLOSE_DONE;
			h->detail = detail ? detail : "closed";
			done++;
			continue;
		}
		if (r == -EINTR && !detail)
			detail = NOT_TRIED_TEXT;
		/* ptrace_close_fd() knows best why; our words when it says nothing. */
		h->detail = detail ? detail : fd_error_text(r);
		if (!h->detail)
			h->detail = "close() in the process failed";
		/* -EAGAIN: SO_LINGER would block; -EINTR: not tried */
		if (holder_gone(r) || r == -EBUSY || r == -EINVAL || r == -EAGAIN || r == -EINTR) {
			h->outcome = TS_CLOSE_SKIPPED;
		} else {
			h->outcome = TS_CLOSE_FAILED;
			failed++;
		}
		if (!first_bad)
			first_bad = h;
		if (!holding && holder_still_holds(h))
			holding = h;
		else if (holding && h->outcome == TS_CLOSE_FAILED && holding->outcome != TS_CLOSE_FAILED)
			holding = h;
	}
	if (done == it->n_holders) {
		/* "closed: how" when close() did not simply return 0 */
		const char *how = strncmp(it->holders[0].detail, "closed: ", 8) == 0 ?
				  it->holders[0].detail + 6 : "";

		if (done == 1)
			set_result(it, TS_CLOSE_DONE, 0, "closed fd %d in pid %d%s", it->holders[0].fd,
				   (int)it->holders[0].pid, how);
		else
			set_result(it, TS_CLOSE_DONE, 0, "closed all %zu fds that held it", done);
		return;
	}
	if (holding && done) {
		/* A shared socket: closing some of its fds did not end it. */
		set_result(it, failed ? TS_CLOSE_FAILED : TS_CLOSE_SKIPPED, holding->err,
			   "closed %zu of %zu fds; the socket stays open: pid %d fd %d still holds it (%s)",
			   done, it->n_holders, (int)holding->pid, holding->fd, holding->detail);
		return;
	}
	if (holding) {
		set_result(it, failed ? TS_CLOSE_FAILED : TS_CLOSE_SKIPPED, holding->err, "pid %d fd %d: %s",
			   (int)holding->pid, holding->fd, holding->detail);
		return;
	}
	if (done) {
		/* The others no longer held it: every fd that still did is closed. */
		set_result(it, TS_CLOSE_DONE, 0, "closed %zu of %zu fds; pid %d fd %d no longer held it (%s)",
			   done, it->n_holders, (int)first_bad->pid, first_bad->fd, first_bad->detail);
		return;
	}
	set_result(it, TS_CLOSE_SKIPPED, first_bad->err, "pid %d fd %d: %s", (int)first_bad->pid,
		   first_bad->fd, first_bad->detail);
}

void ts_close_plan_execute_until(struct ts_close_plan *c, bool (*stop)(void *data), void *data)
{
	c->stop = stop;
	c->stop_data = data;
	for (size_t i = 0; i < c->n_items; i++) {
		struct ts_close_item *it = &c->items[i];

		if (it->outcome != TS_CLOSE_PLANNED)
			continue;
		if (stop_requested(c)) {
			set_result(it, TS_CLOSE_SKIPPED, -EINTR, NOT_TRIED_TEXT);
			continue;
		}
		switch (c->opts.how) {
		case TS_CLOSE_RST:
			act_rst(c, it);
			break;
		case TS_CLOSE_FIN:
			act_fin(it);
			break;
		case TS_CLOSE_FD:
			act_fd(c, it);
			break;
		default:
			break;
		}
	}
	c->stop = NULL;
}

void ts_close_plan_execute(struct ts_close_plan *c)
{
	ts_close_plan_execute_until(c, NULL, NULL);
}


int ts_close_plan_build(const struct ts_snapshot *snap, const struct ts_close_opts *o,
			struct ts_close_plan **ret)
{
	struct ts_close_plan *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->opts = *o;
	c->snap = snap;
	c->n_links = ts_snapshot_netns_count(snap);
	c->links = calloc(c->n_links ? c->n_links : 1, sizeof(*c->links));
	r = c->links ? plan_fill(c) : -ENOMEM;
	if (r < 0) {
		ts_close_plan_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

size_t ts_close_plan_size(const struct ts_close_plan *p)
{
	return p->n_items;
}

const struct ts_close_item *ts_close_plan_item(const struct ts_close_plan *p, size_t i)
{
	return i < p->n_items ? &p->items[i] : NULL;
}

size_t ts_close_plan_count(const struct ts_close_plan *p, enum ts_close_outcome o)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_items; i++)
		n += p->items[i].outcome == o;
	return n;
}

struct ts_close_plan *ts_close_plan_free(struct ts_close_plan *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; p->links && i < p->n_links; i++)
		if (p->links[i].tried && p->links[i].nl_fd >= 0)
			close(p->links[i].nl_fd);
	free(p->links);
	free(p->holder_buf);
	free(p->items);
	netns_targets_free(p->targets, p->n_targets);
	free(p);
	return NULL;
}
