/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <json-c/json.h>

#include "output.h"

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
	json_object_object_add(t, "kind", json_object_new_string(name));
	json_object_object_add(t, "expires_ms", json_object_new_int64(s->timer_expires_ms));
	json_object_object_add(t, "retransmits", json_object_new_int(s->timer_retrans));
	return t;
}

static json_object *info_json(const struct ts_socket *s)
{
	const struct ts_tcp_info *i = &s->info;
	json_object *o = json_object_new_object();

	if (!(s->flags & TS_SOCK_FROM_FD)) {
		json_object_object_add(o, "rtt_us", json_object_new_int64(i->rtt_us));
		json_object_object_add(o, "rttvar_us", json_object_new_int64(i->rttvar_us));
		json_object_object_add(o, "retransmits", json_object_new_int(i->retransmits));
		json_object_object_add(o, "probes", json_object_new_int(i->probes));
		json_object_object_add(o, "backoff", json_object_new_int(i->backoff));
		json_object_object_add(o, "unacked", json_object_new_int64(i->unacked));
		json_object_object_add(o, "lost", json_object_new_int64(i->lost));
		json_object_object_add(o, "snd_cwnd", json_object_new_int64(i->snd_cwnd));
	}
	json_object_object_add(o, "total_retrans", json_object_new_int64(i->total_retrans));
	json_object_object_add(o, "last_data_sent_ms", json_object_new_int64(i->last_data_sent_ms));
	json_object_object_add(o, "last_data_recv_ms", json_object_new_int64(i->last_data_recv_ms));
	json_object_object_add(o, "last_ack_recv_ms", json_object_new_int64(i->last_ack_recv_ms));
	return o;
}

static json_object *owners_json(const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	json_object *arr = json_object_new_array();

	for (unsigned k = 0; o && k < s->owner_count; k++) {
		const struct ts_process *p = ts_snapshot_process(snap, o[k].process_index);
		json_object *e = json_object_new_object();

		json_object_object_add(e, "pid", json_object_new_int(o[k].pid));
		json_object_object_add(e, "fd", json_object_new_int(o[k].fd));
		json_object_object_add(e, "comm", json_object_new_string(p ? p->comm : "?"));
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

	json_object_object_add(o, "state", json_object_new_string(ts_state_name((enum ts_state)s->state)));
	json_object_object_add(o, "family", json_object_new_string(s->family == AF_INET6 ? "inet6" : "inet"));
	json_object_object_add(o, "local_addr", addr_json(s->family, &s->local_addr));
	json_object_object_add(o, "local_port", json_object_new_int(s->local_port));
	json_object_object_add(o, "remote_addr", remote ? addr_json(s->family, &s->remote_addr) : NULL);
	json_object_object_add(o, "remote_port", remote ? json_object_new_int(s->remote_port) : NULL);
	json_object_object_add(o, "inode", json_object_new_int64((int64_t)s->inode));
	json_object_object_add(o, "cookie", json_object_new_uint64(s->cookie));
	json_object_object_add(o, "netns", json_object_new_string(ns ? ns->name : "?"));
	json_object_object_add(o, "netns_inode", json_object_new_int64(ns ? (int64_t)ns->inode : 0));
	json_object_object_add(o, "uid", json_object_new_int64(s->uid));
	json_object_object_add(o, "recv_q", json_object_new_int64(s->recv_q));
	json_object_object_add(o, "send_q", json_object_new_int64(s->send_q));
	if (s->state == TS_STATE_LISTEN) {
		json_object_object_add(o, "accept_queue", json_object_new_int64(s->recv_q));
		json_object_object_add(o, "backlog", json_object_new_int64(s->send_q));
	}
	json_object_object_add(o, "timer", timer_json(s));
	json_object_object_add(o, "source", json_object_new_string(s->flags & TS_SOCK_FROM_FD ? "fd" : "dump"));
	if (with_info && (s->flags & TS_SOCK_HAS_INFO))
		json_object_object_add(o, "tcp_info", info_json(s));
	json_object_object_add(o, "owners", owners_json(snap, s));
	return o;
}

int output_json_list(FILE *f, const struct ts_snapshot *snap, bool with_info)
{
	size_t n = ts_snapshot_socket_count(snap);

	for (size_t i = 0; i < n; i++) {
		json_object *o = output_socket_json(snap, ts_snapshot_socket(snap, i), with_info);

		fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f);
		fputc('\n', f);
		json_object_put(o);
	}
	return ferror(f) ? -1 : 0;
}
