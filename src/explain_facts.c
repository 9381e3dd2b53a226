/* SPDX-License-Identifier: MIT */
/*
 * tcpstate explain: the facts of the target namespace that pages and stories
 * quote, each read once on first use: settings, the kernel's counters, and
 * the listener of a SYN_RECEIVED socket.
 */
#include <errno.h>
#include <string.h>

#include "cli_snapshot.h"
#include "explain.h"

/* ---- settings ---- */

const struct explain_setting *explain_setting_get(struct explain_ctx *c, const char *name)
{
	struct explain_setting *s;

	for (size_t i = 0; i < c->n_settings; i++)
		if (strcmp(c->settings[i].name, name) == 0)
			return &c->settings[i];
	if (c->n_settings >= EXPLAIN_MAX_SETTINGS) {
		static struct explain_setting overflow;

		overflow.name = name;
		overflow.err = -ENOBUFS;
		return &overflow;
	}
	s = &c->settings[c->n_settings++];
	s->name = name;
	if (!c->sysctl)
		s->err = c->sysctl_err;
	else
		s->err = ts_sysctl_read(c->sysctl, name, s->value, sizeof(s->value));
	if (s->err == 0)
		for (char *p = s->value; *p; p++)
			if (*p == '\t')
				*p = ' ';
	return s;
}

/* The value as text, or "unavailable" for use inside a sentence. */
const char *explain_setting_value(struct explain_ctx *c, enum ts_sysctl_id id)
{
	const struct explain_setting *s = explain_setting_get(c, ts_sysctl_info(id)->name);

	return s->err ? "unavailable" : s->value;
}

/* ---- facts read on demand ---- */

const struct ts_netstat *explain_netstat(struct explain_ctx *c)
{
	if (!c->netstat_read) {
		c->netstat_read = true;
		c->netstat_err = ts_netstat_read(c->netns, &c->netstat);
	}
	return c->netstat_err ? NULL : &c->netstat;
}

static void listener_facts(struct explain_listener *x, const struct ts_snapshot *snap,
			   const struct ts_socket *l)
{
	x->found = true;
	x->recv_q = l->recv_q;
	x->send_q = l->send_q;
	x->defer_err = ts_listener_defer_accept(snap, l, &x->defer_s);
}

const struct explain_listener *explain_listener(struct explain_ctx *c, const struct ts_snapshot *snap,
					      const struct ts_socket *s)
{
	const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);
	uint64_t ino = ns ? ns->inode : 0;
	const struct ts_socket *l;
	struct cli_snapshot_args a;
	struct ts_snapshot *ls;

	if (c->listener_read && c->listener_netns == ino && c->listener_port == s->local_port)
		return &c->listener;
	c->listener_read = true;
	c->listener_netns = ino;
	c->listener_port = s->local_port;
	c->listener = (struct explain_listener){ .defer_err = -ENOENT };
	l = ts_listener_of(snap, s, NULL);
	if (l) {
		listener_facts(&c->listener, snap, l);
		return &c->listener;
	}
	/* A query by the client's port leaves the listener out of snap: look at its port. */
	cli_snapshot_args_init(&a);
	a.opts.netns = c->netns;
	a.opts.owners = TS_OWNERS_PROC;
	a.filter.sports[0] = s->local_port;
	a.filter.n_sports = 1;
	a.filter.states = TS_STATE_BIT(TS_STATE_LISTEN) | TS_STATE_BIT(TS_STATE_SYN_RECEIVED);
	a.opts.filter = &a.filter;
	if (ts_snapshot_collect(&a.opts, &ls) < 0)
		return &c->listener;
	/* One namespace (c's) in both snapshots: the same netns_index. */
	l = ts_listener_of(ls, s, NULL);
	if (l)
		listener_facts(&c->listener, ls, l);
	ts_snapshot_free(ls);
	return &c->listener;
}
