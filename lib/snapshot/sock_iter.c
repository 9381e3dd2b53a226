/* SPDX-License-Identifier: MIT */
/* The BPF socket source's records into sockets (sock_iter.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <linux/inet_diag.h>

#include "snapshot/sock_diag.h"
#include "snapshot/sock_iter.h"

int sock_iter_parse(const struct sockets_event *e, bool want_info, struct ts_socket *ret)
{
	/* The record is what the dump's message would say: one mapping of both. */
	struct inet_diag_msg m = {
		.idiag_family = e->family,
		.idiag_state = e->state,
		.idiag_timer = e->timer,
		.idiag_retrans = e->timer_retrans,
		.id = {
			.idiag_sport = htons(e->local_port),
			.idiag_dport = e->remote_port,
			.idiag_if = e->ifindex,
			.idiag_cookie = { (uint32_t)e->cookie, (uint32_t)(e->cookie >> 32) },
		},
		.idiag_expires = e->timer_ms,
		.idiag_rqueue = e->recv_q,
		.idiag_wqueue = e->send_q,
		.idiag_uid = e->uid,
		.idiag_inode = (uint32_t)e->inode,
	};
	struct ts_socket s;

	/* The program reports request sockets as SYN_RECV; BOUND_INACTIVE is in
	 * no socket hash: past CLOSING is none of its states. */
	if (e->state > TS_TCP_CLOSING)
		return -EBADMSG;
	memcpy(m.id.idiag_src, e->local_addr, sizeof(m.id.idiag_src));
	memcpy(m.id.idiag_dst, e->remote_addr, sizeof(m.id.idiag_dst));
	if (sock_diag_socket_from_msg(&m, &s) < 0)
		return -EBADMSG;
	s.inode = e->inode; /* the message's is 32 bits */
	if (e->flags & SOCKETS_EVENT_V6ONLY)
		s.flags |= TS_SOCK_V6ONLY;
	if (want_info && (e->flags & SOCKETS_EVENT_HAS_INFO)) {
		s.info.rtt_us = e->rtt_us;
		s.info.rttvar_us = e->rttvar_us;
		s.info.last_data_sent_ms = e->last_data_sent_ms;
		s.info.last_data_recv_ms = e->last_data_recv_ms;
		s.info.last_ack_recv_ms = e->last_ack_recv_ms;
		s.info.total_retrans = e->total_retrans;
		s.info.unacked = e->unacked;
		s.info.lost = e->lost;
		s.info.snd_cwnd = e->snd_cwnd;
		s.info.data_segs_in = e->data_segs_in;
		s.info.data_segs_out = e->data_segs_out;
		s.info.retransmits = e->retransmits;
		s.info.probes = e->probes;
		s.info.backoff = e->backoff;
		s.info.ca_state = e->ca_state;
		s.flags |= TS_SOCK_HAS_INFO | TS_SOCK_HAS_DATA_SEGS;
	}
	*ret = s;
	return 0;
}

int sock_iter_append(const struct sockets_event *e, void *userdata)
{
	struct sock_iter_ctx *ctx = userdata;
	struct ts_socket s;

	if (sock_iter_parse(e, ctx->want_info, &s) < 0) {
		ctx->malformed++;
		return 0;
	}
	s.netns_index = ctx->netns_index;
	if (ctx->filter && !ts_filter_match_socket(ctx->filter, &s))
		return 0;
	return snapshot_socket_append(ctx->snap, &s);
}
