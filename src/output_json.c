/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "output.h"
#include "tcpstate/socket_facts.h"
#include "term_safe.h"

/* Keys here are string literals, each added once: json-c need neither copy
 * them nor look for an earlier value (a third of the cost of --json). */
static void put(json_object *o, const char *key, json_object *val)
{
	json_object_object_add_ex(o, key, val,
				  JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

static json_object *addr_json(int family, const struct in6_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	output_addr(buf, sizeof(buf), family, a);
	return json_object_new_string(buf);
}

static json_object *timer_json(const struct ts_socket *s)
{
	const char *name = ts_timer_name((enum ts_timer)s->timer);
	json_object *t;

	if (!name)
		return NULL;
	t = json_object_new_object();
	put(t, "kind", json_object_new_string(name));
	put(t, "expires_ms", json_object_new_int64(s->timer_expires_ms));
	put(t, "retransmits", json_object_new_int(s->timer_retrans));
	return t;
}

static json_object *info_json(const struct ts_socket *s)
{
	const struct ts_tcp_info *i = &s->info;
	json_object *o = json_object_new_object();
	bool never, sent, recv;

	if (!(s->flags & TS_SOCK_FROM_FD)) {
		put(o, "rtt_us", json_object_new_int64(i->rtt_us));
		put(o, "rttvar_us", json_object_new_int64(i->rttvar_us));
		put(o, "retransmits", json_object_new_int(i->retransmits));
		put(o, "probes", json_object_new_int(i->probes));
		put(o, "backoff", json_object_new_int(i->backoff));
		put(o, "unacked", json_object_new_int64(i->unacked));
		put(o, "lost", json_object_new_int64(i->lost));
		put(o, "snd_cwnd", json_object_new_int64(i->snd_cwnd));
	}
	put(o, "total_retrans", json_object_new_int64(i->total_retrans));
	/* Times that count from no event are null: before any connection (IDLE, BOUND,
	 * LISTEN, SYN_*). A direction that never carried data (data_segs_* 0) has its time
	 * counting from the connection's setup, as the kernel defines it. */
	never = ts_socket_never_connected(s);
	if (!never && ts_socket_data_moved(s, &sent, &recv) == 0) {
		put(o, "data_segs_out", json_object_new_int64(i->data_segs_out));
		put(o, "data_segs_in", json_object_new_int64(i->data_segs_in));
	}
	put(o, "last_data_sent_ms", never ? NULL : json_object_new_int64(i->last_data_sent_ms));
	put(o, "last_data_recv_ms", never ? NULL : json_object_new_int64(i->last_data_recv_ms));
	put(o, "last_ack_recv_ms", never ? NULL : json_object_new_int64(i->last_ack_recv_ms));
	return o;
}

static json_object *owners_json(const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	json_object *arr = json_object_new_array();

	for (unsigned k = 0; o && k < s->owner_count; k++) {
		const struct ts_process *p = ts_snapshot_process(snap, o[k].process_index);
		json_object *e = json_object_new_object();

		put(e, "pid", json_object_new_int(o[k].pid));
		put(e, "fd", json_object_new_int(o[k].fd));
		put(e, "comm", json_object_new_string(p ? p->comm : "?"));
		json_object_array_add(arr, e);
	}
	return arr;
}

json_object *output_socket_json(const struct ts_snapshot *snap, const struct ts_socket *s,
				bool with_info)
{
	const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);
	bool remote = s->flags & TS_SOCK_REMOTE_VALID;
	json_object *o = json_object_new_object();

	put(o, "state", json_object_new_string(ts_state_name((enum ts_state)s->state)));
	put(o, "family", json_object_new_string(s->family == AF_INET6 ? "inet6" : "inet"));
	put(o, "v6only", json_object_new_boolean(s->flags & TS_SOCK_V6ONLY));
	put(o, "local_addr", addr_json(s->family, &s->local_addr));
	put(o, "local_port", json_object_new_int(s->local_port));
	put(o, "remote_addr", remote ? addr_json(s->family, &s->remote_addr) : NULL);
	put(o, "remote_port", remote ? json_object_new_int(s->remote_port) : NULL);
	put(o, "inode", json_object_new_int64((int64_t)s->inode));
	put(o, "cookie", json_object_new_uint64(s->cookie));
	put(o, "netns", json_object_new_string(ns ? ns->name : "?"));
	put(o, "netns_inode", json_object_new_int64(ns ? (int64_t)ns->inode : 0));
	put(o, "uid", json_object_new_int64(s->uid));
	put(o, "recv_q", json_object_new_int64(s->recv_q));
	put(o, "send_q", json_object_new_int64(s->send_q));
	if (s->state == TS_STATE_LISTEN) {
		put(o, "accept_queue", json_object_new_int64(s->recv_q));
		put(o, "backlog", json_object_new_int64(s->send_q));
	}
	put(o, "timer", timer_json(s));
	put(o, "source", json_object_new_string(s->flags & TS_SOCK_FROM_FD ? "fd" : "dump"));
	if (s->state == TS_STATE_CLOSED)
		put(o, "pending_error", s->pending_error && strerrorname_np(s->pending_error) ?
						json_object_new_string(strerrorname_np(s->pending_error)) :
						NULL);
	if (with_info && (s->flags & TS_SOCK_HAS_INFO))
		put(o, "tcp_info", info_json(s));
	put(o, "owners", owners_json(snap, s));
	return o;
}

int output_json_list(FILE *f, const struct ts_snapshot *snap, bool with_info,
		     const uint32_t *order)
{
	size_t n = ts_snapshot_socket_count(snap);

	for (size_t i = 0; i < n; i++) {
		json_object *o = output_socket_json(snap, ts_snapshot_socket(snap, order ? order[i] : i),
						    with_info);

		term_safe_json_puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f);
		json_object_put(o);
	}
	return ferror(f) ? -1 : 0;
}
