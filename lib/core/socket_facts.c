/* SPDX-License-Identifier: MIT */
/* Facts about one socket, each defined once (see tcpstate/socket_facts.h). */
#include <errno.h>

#include "tcpstate/socket_facts.h"
#include "tcpstate/state.h"

static bool state_in(const struct ts_socket *s, ts_state_mask_t m)
{
	return s->state < _TS_STATE_MAX && (m & TS_STATE_BIT(s->state));
}

bool ts_socket_is_orphan(const struct ts_socket *s)
{
	static const ts_state_mask_t closing = TS_STATE_BIT(TS_STATE_FIN_WAIT_1) |
		TS_STATE_BIT(TS_STATE_FIN_WAIT_2) | TS_STATE_BIT(TS_STATE_LAST_ACK) |
		TS_STATE_BIT(TS_STATE_CLOSING);

	return !(s->flags & TS_SOCK_FROM_FD) && s->inode == 0 && state_in(s, closing);
}

bool ts_socket_in_tw_bucket(const struct ts_socket *s)
{
	if (s->state == TS_STATE_TIME_WAIT)
		return true;
	return s->state == TS_STATE_FIN_WAIT_2 && s->timer == TS_TIMER_TIME_WAIT && ts_socket_is_orphan(s);
}

bool ts_socket_counts_as_orphan(const struct ts_socket *s)
{
	return ts_socket_is_orphan(s) && !ts_socket_in_tw_bucket(s);
}

bool ts_socket_awaiting_accept(const struct ts_socket *s)
{
	static const ts_state_mask_t m = TS_STATE_BIT(TS_STATE_ESTABLISHED) |
		TS_STATE_BIT(TS_STATE_CLOSE_WAIT);

	return !(s->flags & TS_SOCK_FROM_FD) && s->inode == 0 && state_in(s, m);
}

unsigned ts_socket_retransmissions(const struct ts_socket *s)
{
	unsigned r = 0;

	/* With a keepalive or persist timer, sock_diag's count is of probes. */
	if (s->timer == TS_TIMER_RETRANS)
		r = s->timer_retrans;
	if ((s->flags & TS_SOCK_HAS_INFO) && s->info.retransmits > r)
		r = s->info.retransmits;
	return r;
}

bool ts_socket_retransmitting(const struct ts_socket *s)
{
	return ts_socket_retransmissions(s) > 0;
}

bool ts_socket_never_connected(const struct ts_socket *s)
{
	static const ts_state_mask_t m = TS_STATE_BIT(TS_STATE_LISTEN) |
		TS_STATE_BIT(TS_STATE_SYN_SENT) | TS_STATE_BIT(TS_STATE_SYN_RECEIVED) |
		TS_STATE_BIT(TS_STATE_IDLE) | TS_STATE_BIT(TS_STATE_BOUND) |
		TS_STATE_BIT(TS_STATE_UNKNOWN);

	return s->state >= _TS_STATE_MAX || state_in(s, m);
}

int ts_socket_data_moved(const struct ts_socket *s, bool *ret_sent, bool *ret_recv)
{
	if (ts_socket_never_connected(s))
		return -ENOTCONN;
	if (!(s->flags & TS_SOCK_HAS_INFO) || !(s->flags & TS_SOCK_HAS_DATA_SEGS))
		return -ENODATA;
	*ret_sent = s->info.data_segs_out > 0;
	*ret_recv = s->info.data_segs_in > 0;
	return 0;
}

bool ts_listener_queue_full(const struct ts_socket *s)
{
	return s->state == TS_STATE_LISTEN && s->recv_q > s->send_q;
}
