/* SPDX-License-Identifier: MIT */
/* The BPF socket source's records into sockets (sock_iter.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "snapshot/sock_iter.h"

int sock_iter_parse(const struct sockets_event *e, bool want_info, struct ts_socket *ret)
{
	struct ts_socket s;
	enum ts_state state;

	if (e->family != AF_INET && e->family != AF_INET6)
		return -EBADMSG;
	/* The program reports request sockets as SYN_RECV; BOUND_INACTIVE is in
	 * no socket hash: past CLOSING is none of its states. */
	if (e->state > TS_TCP_CLOSING || ts_state_from_kernel(e->state, &state) < 0)
		return -EBADMSG;
	/* As in a dump: only bound-only sockets are reported as TCP_CLOSE. */
	if (e->state == TS_TCP_CLOSE)
		state = TS_STATE_BOUND;

	memset(&s, 0, sizeof(s));
	s.family = e->family;
	s.state = (uint8_t)state;
	memcpy(&s.local_addr, e->local_addr, e->family == AF_INET ? 4 : 16);
	memcpy(&s.remote_addr, e->remote_addr, e->family == AF_INET ? 4 : 16);
	s.local_port = e->local_port;
	s.remote_port = ntohs(e->remote_port);
	s.cookie = e->cookie;
	s.ifindex = e->ifindex;
	s.inode = e->inode;
	s.uid = e->uid;
	s.recv_q = e->recv_q;
	s.send_q = e->send_q;
	s.timer = e->timer < _TS_TIMER_MAX ? e->timer : TS_TIMER_NONE;
	s.timer_retrans = e->timer_retrans;
	s.timer_expires_ms = s.timer ? e->timer_ms : 0;
	s.owner_first = UINT32_MAX;
	if (state != TS_STATE_LISTEN && state != TS_STATE_BOUND)
		s.flags |= TS_SOCK_REMOTE_VALID;
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
