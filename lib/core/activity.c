/* SPDX-License-Identifier: MIT */
/* How long a socket has gone unused (see tcpstate/activity.h). */
#include <errno.h>
#include <stdio.h>

#include "tcpstate/activity.h"
#include "tcpstate/socket_facts.h"
#include "tcpstate/state.h"

static const char *const last_event_texts[_TS_LAST_EVENT_MAX] = {
	[TS_LAST_DATA_SENT] = "data sent",
	[TS_LAST_DATA_RECV] = "data received",
	[TS_LAST_ACK_RECV] = "the peer's last ACK",
};

const char *ts_last_event_text(enum ts_last_event e)
{
	return (unsigned)e < _TS_LAST_EVENT_MAX ? last_event_texts[e] : NULL;
}

static bool state_in(const struct ts_socket *s, ts_state_mask_t m)
{
	return s->state < _TS_STATE_MAX && (m & TS_STATE_BIT(s->state));
}

uint64_t ts_socket_unread_bytes(const struct ts_socket *s)
{
	static const ts_state_mask_t fin_in = TS_STATE_BIT(TS_STATE_CLOSE_WAIT) |
		TS_STATE_BIT(TS_STATE_LAST_ACK) | TS_STATE_BIT(TS_STATE_CLOSING);

	if (state_in(s, TS_STATE_BIT(TS_STATE_LISTEN)))
		return 0; /* Recv-Q is the accept queue */
	if (state_in(s, fin_in))
		return s->recv_q > 0 ? s->recv_q - 1u : 0;
	return s->recv_q;
}

uint64_t ts_socket_unsent_bytes(const struct ts_socket *s)
{
	static const ts_state_mask_t fin_out = TS_STATE_BIT(TS_STATE_FIN_WAIT_1) |
		TS_STATE_BIT(TS_STATE_LAST_ACK) | TS_STATE_BIT(TS_STATE_CLOSING);

	if (state_in(s, TS_STATE_BIT(TS_STATE_LISTEN)))
		return 0; /* Send-Q is the backlog */
	if (state_in(s, fin_out))
		return s->send_q > 0 ? s->send_q - 1u : 0;
	return s->send_q;
}

bool ts_socket_peer_silence_ms(const struct ts_socket *s, uint64_t *ret)
{
	if (!(s->flags & TS_SOCK_HAS_INFO))
		return false;
	*ret = s->info.last_data_recv_ms < s->info.last_ack_recv_ms ? s->info.last_data_recv_ms
								    : s->info.last_ack_recv_ms;
	return true;
}

int ts_socket_activity(const struct ts_socket *s, struct ts_activity *ret)
{
	struct ts_activity a = { 0 };

	if (ts_socket_never_connected(s))
		return -ENOTCONN;
	if (!(s->flags & TS_SOCK_HAS_INFO))
		return -ENODATA;
	/*
	 * All three times start at the connection's setup, and the handshake
	 * ends with an ACK from the peer: on a tie, name the ACK, which is
	 * always a real event; a time strictly below the ACK's is a real send
	 * or receive of data.
	 */
	a.idle_ms = s->info.last_ack_recv_ms;
	a.last = TS_LAST_ACK_RECV;
	if (s->info.last_data_recv_ms < a.idle_ms) {
		a.idle_ms = s->info.last_data_recv_ms;
		a.last = TS_LAST_DATA_RECV;
	}
	if (s->info.last_data_sent_ms < a.idle_ms) {
		a.idle_ms = s->info.last_data_sent_ms;
		a.last = TS_LAST_DATA_SENT;
	}
	a.unread_bytes = ts_socket_unread_bytes(s);
	a.unsent_bytes = ts_socket_unsent_bytes(s);
	*ret = a;
	return 0;
}

enum ts_idle_verdict ts_socket_idle_verdict(const struct ts_socket *s, uint64_t min_idle_ms,
					    struct ts_activity *ret_act)
{
	struct ts_activity a;
	int r;

	if (s->state == TS_STATE_TIME_WAIT)
		return TS_IDLE_ABANDONED;
	r = ts_socket_activity(s, &a);
	if (r == -ENOTCONN)
		return TS_IDLE_NEVER_CONNECTED;
	if (r < 0)
		return TS_IDLE_NO_INFO;
	if (ret_act)
		*ret_act = a;
	if (a.unread_bytes)
		return TS_IDLE_UNREAD;
	if (a.unsent_bytes)
		return TS_IDLE_UNSENT;
	if (a.idle_ms < min_idle_ms)
		return TS_IDLE_RECENT;
	return TS_IDLE_ABANDONED;
}

void ts_duration_text(uint64_t ms, char *buf, size_t size)
{
	double s = (double)ms / 1000;

	if (ms < 1000)
		snprintf(buf, size, "%llu ms", (unsigned long long)ms);
	else if (s < 120)
		snprintf(buf, size, "%.1f s", s);
	else if (s < 7200)
		snprintf(buf, size, "%.1f min", s / 60);
	else if (s < 172800)
		snprintf(buf, size, "%.1f h", s / 3600);
	else
		snprintf(buf, size, "%.1f days", s / 86400);
}
