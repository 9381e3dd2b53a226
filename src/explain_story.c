/* SPDX-License-Identifier: MIT */
/* tcpstate explain SOCKET: which sockets a query matches, and the story of each as text and JSON. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "cli.h"
#include "explain.h"
#include "output.h"
#include "tcpstate/socket_facts.h"

static void timer_text(struct explain_text *t, const struct ts_socket *s)
{
	static const char *const what[_TS_TIMER_MAX] = {
		[TS_TIMER_RETRANS] = "retransmission (on)",
		[TS_TIMER_KEEPALIVE] = "keepalive",
		[TS_TIMER_TIME_WAIT] = "timewait",
		[TS_TIMER_PROBE] = "zero-window probe (persist)",
	};
	char d[32];

	if (s->timer == TS_TIMER_NONE || s->timer >= _TS_TIMER_MAX) {
		explain_text_add(t, "none");
		return;
	}
	explain_fmt_duration(d, sizeof(d), s->timer_expires_ms);
	explain_text_add(t, "%s, fires in %s", what[s->timer], d);
	/* With the retransmission timer, the one count of retransmissions the verdict
	 * uses too (ts_socket_retransmissions()); with the others, sock_diag counts
	 * unanswered probes. */
	if (s->timer == TS_TIMER_RETRANS && ts_socket_retransmissions(s))
		explain_text_add(t, ", %u retransmission%s so far", ts_socket_retransmissions(s),
				 ts_socket_retransmissions(s) == 1 ? "" : "s");
	else if (s->timer_retrans && (s->timer == TS_TIMER_KEEPALIVE || s->timer == TS_TIMER_PROBE))
		explain_text_add(t, ", %u probe%s unanswered so far", s->timer_retrans,
				 s->timer_retrans == 1 ? "" : "s");
}

static void holders_text(struct explain_text *t, const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);

	if (!o) {
		if (ts_socket_is_orphan(s))
			explain_text_add(t, "no process: its program closed it and the kernel finishes it alone");
		else if (ts_socket_awaiting_accept(s))
			explain_text_add(t, "no process yet: it waits in a listener's accept queue");
		else if (s->state == TS_STATE_TIME_WAIT || s->state == TS_STATE_SYN_RECEIVED)
			explain_text_add(t, "no process: the kernel keeps it alone");
		else
			explain_text_add(t, "no process found that holds it");
		return;
	}
	for (unsigned k = 0; k < s->owner_count; k++) {
		const struct ts_process *p = ts_snapshot_process(snap, o[k].process_index);

		explain_text_add(t, "%s%s pid %d fd %d", k ? ", " : "", p ? p->comm : "?", (int)o[k].pid,
				 o[k].fd);
	}
}

static void queues_text(struct explain_text *t, const struct ts_socket *s)
{
	if (s->state == TS_STATE_LISTEN)
		explain_text_add(t, "%u waiting for accept(), backlog %u", s->recv_q, s->send_q);
	else if (s->state == TS_STATE_CLOSE_WAIT && s->recv_q > 0)
		explain_text_add(t, "Recv-Q %u (%u bytes of data the program has not read, plus the "
				 "peer's FIN), Send-Q %u (bytes the peer has not acknowledged)",
				 s->recv_q, s->recv_q - 1, s->send_q);
	else
		explain_text_add(t, "Recv-Q %u (bytes the program has not read), Send-Q %u (bytes "
				 "the peer has not acknowledged)", s->recv_q, s->send_q);
}

static void last_traffic_text(struct explain_text *t, const struct ts_socket *s)
{
	char d1[32], d2[32], d3[32];

	if (ts_socket_never_connected(s)) {
		explain_text_add(t, "none: no connection has carried data in this state");
	} else if (s->flags & TS_SOCK_HAS_INFO) {
		bool sent = true, recv = true, known = ts_socket_data_moved(s, &sent, &recv) == 0;

		explain_fmt_duration(d1, sizeof(d1), s->info.last_data_sent_ms);
		explain_fmt_duration(d2, sizeof(d2), s->info.last_data_recv_ms);
		explain_fmt_duration(d3, sizeof(d3), s->info.last_ack_recv_ms);
		/* A direction that never carried data counts from the setup: that is the age. */
		if (!sent && !recv)
			explain_text_add(t, "no data either way since the connection was set up %s ago", d1);
		else if (!sent)
			explain_text_add(t, "no data sent, data received %s ago", d2);
		else if (!recv)
			explain_text_add(t, "data sent %s ago, no data received", d1);
		else
			explain_text_add(t, "data sent %s ago, data received %s ago", d1, d2);
		explain_text_add(t, ", last ACK from the peer %s ago%s", d3,
				 known ? "" : " (whether data ever moved is not known: a kernel before 4.6)");
	} else {
		explain_text_add(t, "not reported for this socket (the kernel gives no tcp_info here)");
	}
}

/* CLOSE_WAIT: when the peer's FIN arrived, as a field; nothing for other states. */
static void fin_field(FILE *f, const struct explain_ctx *c, const struct ts_socket *s)
{
	struct explain_text t = { .len = 0 };
	char d1[32], d2[32];
	uint32_t lo, hi;

	if (!explain_fin_window(s, &lo, &hi))
		return;
	explain_fmt_duration(d1, sizeof(d1), lo);
	explain_fmt_duration(d2, sizeof(d2), hi);
	if (hi - lo < 1000)
		explain_text_add(&t, "arrived at least %s ago (the last segment from the peer)", d1);
	else
		explain_text_add(&t, "arrived at least %s ago (the last segment from the peer) and at "
				 "most %s ago (the last data from it)", d1, d2);
	explain_field(f, c->width, "Peer's FIN", t.buf);
}

void explain_story_text(FILE *f, struct explain_ctx *c, const struct ts_snapshot *snap,
			const struct ts_socket *s, const struct explain_query *q)
{
	const struct ts_state_info *info = ts_state_info((enum ts_state)s->state);
	const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);
	char local[64], peer[64];
	struct explain_text t = { .len = 0 };

	output_endpoint(local, sizeof(local), s->family, &s->local_addr, s->local_port,
				(s->flags & TS_SOCK_V6ONLY) != 0);
	if (s->flags & TS_SOCK_REMOTE_VALID)
		output_endpoint(peer, sizeof(peer), s->family, &s->remote_addr, s->remote_port, false);
	else
		snprintf(peer, sizeof(peer), "-");
	fprintf(f, "%s %s -> %s  (matches %s)\n", ts_state_name((enum ts_state)s->state), local,
		peer, q->text);

	explain_text_add(&t, "%s", local);
	explain_field(f, c->width, "Local", t.buf);
	explain_field(f, c->width, "Peer", s->flags & TS_SOCK_REMOTE_VALID ? peer : "none");
	t.len = 0;
	if (s->inode)
		explain_text_add(&t, "inode %llu", (unsigned long long)s->inode);
	else
		explain_text_add(&t, "no inode (no struct socket)");
	explain_text_add(&t, ", netns %s", ns ? ns->name : "?");
	explain_field(f, c->width, "Socket", t.buf);
	t.len = 0;
	holders_text(&t, snap, s);
	explain_field(f, c->width, "Held by", t.buf);
	t.len = 0;
	timer_text(&t, s);
	explain_field(f, c->width, "Timer", t.buf);
	t.len = 0;
	queues_text(&t, s);
	explain_field(f, c->width, "Queues", t.buf);
	t.len = 0;
	last_traffic_text(&t, s);
	explain_field(f, c->width, "Last traffic", t.buf);
	fin_field(f, c, s);
	t.len = 0;
	explain_verdict(&t, c, snap, s);
	explain_field(f, c->width, "In short", t.buf);
	if (!info)
		return;
	explain_field(f, c->width, "Meaning", info->meaning);
	explain_field(f, c->width, "Who must act", info->who_must_act);
	explain_field(f, c->width, "What ends it", info->ends_it);
	explain_settings_text(f, c, info, "Settings");
}

json_object *explain_story_json(struct explain_ctx *c, const struct ts_snapshot *snap,
				const struct ts_socket *s, const struct explain_query *q)
{
	const struct ts_state_info *info = ts_state_info((enum ts_state)s->state);
	json_object *o = output_socket_json(snap, s, true);
	struct explain_text t = { .len = 0 };
	uint32_t lo, hi;

	/* The same fields as `list --json`, then what the story adds. */
	json_object_object_add(o, "query", json_object_new_string(q->text));
	json_object_object_add(o, "orphan", json_object_new_boolean(ts_socket_is_orphan(s)));
	json_object_object_add(o, "in_accept_queue", json_object_new_boolean(ts_socket_awaiting_accept(s)));
	if (explain_fin_window(s, &lo, &hi)) {
		json_object *w = json_object_new_object();

		json_object_object_add(w, "at_least_ms", json_object_new_int64(lo));
		json_object_object_add(w, "at_most_ms", json_object_new_int64(hi));
		json_object_object_add(o, "peer_fin_ago", w);
	}
	if (s->state == TS_STATE_SYN_RECEIVED) {
		const struct explain_listener *l = explain_listener(c, snap, s);
		json_object *lj = json_object_new_object();
		char why[256];

		json_object_object_add(lj, "found", json_object_new_boolean(l->found));
		json_object_object_add(lj, "defer_accept_s", l->found && !l->defer_err ?
				       json_object_new_int64(l->defer_s) : NULL);
		json_object_object_add(lj, "defer_accept_error", l->found && l->defer_err ?
				       json_object_new_string(cli_fd_copy_error(l->defer_err, why, sizeof(why))) : NULL);
		json_object_object_add(o, "listener", lj);
	}
	explain_verdict(&t, c, snap, s);
	json_object_object_add(o, "summary", json_object_new_string(t.buf));
	if (info) {
		json_object_object_add(o, "actor", json_object_new_string(explain_actor_name(info->actor)));
		json_object_object_add(o, "who_must_act", json_object_new_string(info->who_must_act));
		json_object_object_add(o, "ends_it", json_object_new_string(info->ends_it));
		json_object_object_add(o, "settings", explain_settings_json(c, info));
	}
	return o;
}
