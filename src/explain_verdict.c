/* SPDX-License-Identifier: MIT */
/* tcpstate explain SOCKET: what a live socket's data and the settings mean, in a sentence or two. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "explain.h"
#include "output.h"
#include "tcpstate/socket_facts.h"
#include "tcpstate/util.h"

/* "python3 (pid 12, fd 5)" [+ " and 2 other holders"], or NULL when none. */
static const char *holder(char *buf, size_t size, const struct ts_snapshot *snap,
			  const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	const struct ts_process *p;
	int n;

	if (!o)
		return NULL;
	p = ts_snapshot_process(snap, o->process_index);
	n = snprintf(buf, size, "%s (pid %d, fd %d)", p ? p->comm : "?", (int)o->pid, o->fd);
	if (s->owner_count > 1 && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " and %u other holder%s", s->owner_count - 1,
			 s->owner_count == 2 ? "" : "s");
	return buf;
}

/* When the peer's FIN arrived, for CLOSE_WAIT: no later than the last segment
 * from the peer (its FIN carried an ACK), no earlier than the last data (a
 * bare FIN does not count as data). */
bool explain_fin_window(const struct ts_socket *s, uint32_t *ret_min, uint32_t *ret_max)
{
	if (s->state != TS_STATE_CLOSE_WAIT || !(s->flags & TS_SOCK_HAS_INFO))
		return false;
	*ret_min = s->info.last_ack_recv_ms;
	*ret_max = s->info.last_data_recv_ms;
	if (*ret_max < *ret_min)
		*ret_max = *ret_min;
	return true;
}

static void verdict_orphan_or_held(struct explain_text *t, struct explain_ctx *c, const char *who,
				   bool orphan, const char *waiting_for)
{
	if (orphan)
		explain_text_add(t, "Its program has closed it (an orphan); the kernel waits for %s and gives "
				 "up after " TS_SYSCTL_NAME(TCP_ORPHAN_RETRIES) " = %s retransmissions (0 means 8, "
				 "about 100 s).", waiting_for,
				 explain_setting_value(c, TS_SYSCTL_TCP_ORPHAN_RETRIES));
	else
		explain_text_add(t, "%s still holds it (it called shutdown(), not close()); the kernel waits "
				 "for %s and gives up after " TS_SYSCTL_NAME(TCP_RETRIES2) " = %s (about 15 minutes at "
				 "15), unless TCP_USER_TIMEOUT is set.", who ? who : "A program", waiting_for,
				 explain_setting_value(c, TS_SYSCTL_TCP_RETRIES2));
}

/* " (TcpExtX = 12, TcpExtY = 0 in this namespace)." for the counters the kernel reports. */
static void counters_text(struct explain_text *t, struct explain_ctx *c, uint32_t mask)
{
	const struct ts_netstat *n = explain_netstat(c);
	bool first = true;

	for (int k = 0; n && k < _TS_NSTAT_MAX; k++) {
		if (!(mask & (1u << k)) || !ts_netstat_has(n, (enum ts_netstat_counter)k))
			continue;
		explain_text_add(t, "%s%s = %llu", first ? " Counters since the namespace was created: " : ", ",
				 ts_netstat_name((enum ts_netstat_counter)k),
				 (unsigned long long)n->value[k]);
		first = false;
	}
	if (!first)
		explain_text_add(t, ".");
}

/*
 * A request whose handshake has not completed here: its ACK is missing, or
 * the kernel set the ACK aside (TCP_DEFER_ACCEPT, or a full accept queue).
 */
static void verdict_syn_received(struct explain_text *t, struct explain_ctx *c,
				 const struct ts_snapshot *snap, const struct ts_socket *s, unsigned rt)
{
	const struct explain_listener *l = explain_listener(c, snap, s);
	char why[256];

	if (l->found && l->defer_err == 0 && l->defer_s > 0) {
		explain_text_add(t, "The listener on port %u defers accept (TCP_DEFER_ACCEPT, %u s): "
				 "Linux drops a final ACK that carries no data and keeps the connection "
				 "here until the client sends data, so the client may already see it "
				 "established; nothing was lost. When the deferral runs out the kernel "
				 "sends its SYN-ACK again and the client's answer completes the "
				 "connection.", s->local_port, l->defer_s);
		counters_text(t, c, 1u << TS_NSTAT_DEFER_ACCEPT_DROP);
		return;
	}
	if (l->found && l->recv_q > l->send_q) {
		explain_text_add(t, "The listener's accept queue is full (%u waiting, backlog %u): Linux "
				 "drops the client's final ACK and keeps the request here until the "
				 "program accepts; the client retransmits.", l->recv_q, l->send_q);
		counters_text(t, c, 1u << TS_NSTAT_LISTEN_OVERFLOWS);
		return;
	}
	if (l->found && l->defer_err == 0)
		explain_text_add(t, "The client's final ACK has not arrived (its listener does not defer "
				 "accept).");
	else
		explain_text_add(t, "Either the client's final ACK has not arrived, or the listener defers "
				 "accept (TCP_DEFER_ACCEPT) and the client has sent no data yet: which one "
				 "is unknown (%s).", l->found ? cli_fd_copy_error(l->defer_err, why, sizeof(why))
								: "its listener was not found");
	explain_text_add(t, " The SYN-ACK has been retransmitted %u time%s; the entry is dropped after "
			 TS_SYSCTL_NAME(TCP_SYNACK_RETRIES) " = %s.", rt, rt == 1 ? "" : "s",
			 explain_setting_value(c, TS_SYSCTL_TCP_SYNACK_RETRIES));
	counters_text(t, c, (1u << TS_NSTAT_DEFER_ACCEPT_DROP) | (1u << TS_NSTAT_LISTEN_DROPS));
}

/* True when a retry count already exceeds the setting's value (a per-socket limit). */
static bool beyond_limit(struct explain_ctx *c, enum ts_sysctl_id id, unsigned count)
{
	const struct explain_setting *s = explain_setting_get(c, ts_sysctl_info(id)->name);
	uint32_t v;

	return s->err == 0 && ts_parse_u32(s->value, 0, UINT32_MAX, &v) == 0 && count > v;
}

static void verdict_listen(struct explain_text *t, struct explain_ctx *c, const struct ts_socket *s,
			   const char *holders)
{
	if (ts_listener_queue_full(s)) {
		explain_text_add(t, "The accept queue is full (%u waiting, backlog %u: Linux queues "
				 "backlog + 1): %s is not calling accept() fast enough; new clients "
				 "stall, or are reset when " TS_SYSCTL_NAME(TCP_ABORT_ON_OVERFLOW) " is 1 (now "
				 "%s).", s->recv_q, s->send_q, holders,
				 explain_setting_value(c, TS_SYSCTL_TCP_ABORT_ON_OVERFLOW));
		counters_text(t, c, (1u << TS_NSTAT_LISTEN_OVERFLOWS) | (1u << TS_NSTAT_LISTEN_DROPS));
	} else if (s->recv_q > 0)
		explain_text_add(t, "%u connection%s wait%s for accept() (backlog %u).", s->recv_q,
				 s->recv_q == 1 ? "" : "s", s->recv_q == 1 ? "s" : "", s->send_q);
	else
		explain_text_add(t, "Nothing waits for accept() (backlog %u): a healthy listener.",
				 s->send_q);
}

static void verdict_syn_sent(struct explain_text *t, struct explain_ctx *c, unsigned rt)
{
	explain_text_add(t, "The SYN has been retransmitted %u time%s without an answer. ", rt,
			 rt == 1 ? "" : "s");
	if (beyond_limit(c, TS_SYSCTL_TCP_SYN_RETRIES, rt))
		explain_text_add(t, "That is more than " TS_SYSCTL_NAME(TCP_SYN_RETRIES) " = %s: this socket has "
				 "its own limit (TCP_SYNCNT or TCP_USER_TIMEOUT).",
				 explain_setting_value(c, TS_SYSCTL_TCP_SYN_RETRIES));
	else
		explain_text_add(t, "connect() fails after " TS_SYSCTL_NAME(TCP_SYN_RETRIES) " = %s "
				 "retransmissions, unless the program set TCP_SYNCNT or "
				 "TCP_USER_TIMEOUT.",
				 explain_setting_value(c, TS_SYSCTL_TCP_SYN_RETRIES));
}

/* ESTABLISHED: what its timer says, how long it has been quiet, what waits to be read. */
static void verdict_established(struct explain_text *t, struct explain_ctx *c,
				const struct ts_socket *s, const char *holders, unsigned rt)
{
	char d[32];

	if (ts_socket_awaiting_accept(s)) {
		explain_text_add(t, "No program has accepted it yet: it waits in the accept queue of the "
				 "listener on port %u, whose program must call accept().", s->local_port);
		return;
	}
	switch ((enum ts_timer)s->timer) {
	case TS_TIMER_RETRANS:
		explain_text_add(t, "%u byte%s are unacknowledged and %u retransmission%s so far; the "
				 "kernel gives up after " TS_SYSCTL_NAME(TCP_RETRIES2) " = %s unless "
				 "TCP_USER_TIMEOUT is set.", s->send_q, s->send_q == 1 ? "" : "s", rt,
				 rt == 1 ? "" : "s", explain_setting_value(c, TS_SYSCTL_TCP_RETRIES2));
		break;
	case TS_TIMER_PROBE:
		explain_text_add(t, "The peer advertises a zero window (its program is not reading); "
				 "%u byte%s wait to be sent.", s->send_q, s->send_q == 1 ? "" : "s");
		break;
	case TS_TIMER_KEEPALIVE:
		explain_fmt_duration(d, sizeof(d), s->timer_expires_ms);
		explain_text_add(t, "Keepalive is on: the next check is due in %s, so a vanished peer "
				 "will be noticed.", d);
		break;
	default:
		explain_text_add(t, "No timer runs: without keepalive, if the peer vanished nothing "
				 "will notice.");
		break;
	}
	if (s->flags & TS_SOCK_HAS_INFO) {
		uint32_t quiet = s->info.last_data_sent_ms < s->info.last_data_recv_ms ?
				 s->info.last_data_sent_ms : s->info.last_data_recv_ms;
		bool sent, recv;

		explain_fmt_duration(d, sizeof(d), quiet);
		if (ts_socket_data_moved(s, &sent, &recv) == 0 && !sent && !recv)
			explain_text_add(t, " It has carried no data either way since it was set up, "
					 "%s ago.", d);
		else
			explain_text_add(t, " No data has moved either way for %s.", d);
	}
	if (s->recv_q > 0)
		explain_text_add(t, " %u byte%s wait for %s to read them.", s->recv_q,
				 s->recv_q == 1 ? "" : "s", holders);
}

static void verdict_fin_wait_2(struct explain_text *t, struct explain_ctx *c,
			       const struct ts_socket *s, const char *holders, bool orphan)
{
	char d[32];

	if (!orphan) {
		explain_text_add(t, "%s still holds it after shutdown(SHUT_WR), so "
				 TS_SYSCTL_NAME(TCP_FIN_TIMEOUT) " (%s) does not apply. It ends when the peer's "
				 "program closes its side (there the socket is in CLOSE_WAIT).", holders,
				 explain_setting_value(c, TS_SYSCTL_TCP_FIN_TIMEOUT));
		return;
	}
	explain_text_add(t, "Its program has closed it (an orphan): the kernel drops it "
			 TS_SYSCTL_NAME(TCP_FIN_TIMEOUT) " = %s s after it became an orphan in "
			 "FIN_WAIT_2 (the close, or the ACK of its FIN if that came later) "
			 "unless the peer sends its FIN first.",
			 explain_setting_value(c, TS_SYSCTL_TCP_FIN_TIMEOUT));
	if (s->timer) {
		explain_fmt_duration(d, sizeof(d), s->timer_expires_ms);
		explain_text_add(t, " %s left.", d);
	}
}

/* CLOSE_WAIT: who must close, since when the peer is gone, what is left unread. */
static void verdict_close_wait(struct explain_text *t, const struct ts_snapshot *snap,
			       const struct ts_socket *s, const char *who)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	uint32_t lo, hi;
	char d[32];

	if (ts_socket_awaiting_accept(s)) {
		explain_text_add(t, "The peer closed before any program accepted the connection: the "
				 "program listening on port %u must accept() it and close it.",
				 s->local_port);
		return;
	}
	if (o && s->owner_count == 1) {
		const struct ts_process *p = ts_snapshot_process(snap, o->process_index);

		explain_text_add(t, "%s (pid %d) must close fd %d.", p ? p->comm : "The program",
				 (int)o->pid, o->fd);
	} else if (o)
		explain_text_add(t, "%s must all close their descriptors.", who);
	else
		explain_text_add(t, "The program holding it must close it.");
	if (explain_fin_window(s, &lo, &hi)) {
		explain_fmt_duration(d, sizeof(d), lo);
		explain_text_add(t, " The peer closed its side at least %s ago", d);
	} else {
		explain_text_add(t, " The peer has closed its side");
	}
	explain_text_add(t, ", and no kernel timer will ever end this socket.");
	/* Recv-Q counts the peer's FIN until the program reads the end of file. */
	if (s->recv_q > 1)
		explain_text_add(t, " Bytes it has not read yet: %u.", s->recv_q - 1);
	else if (s->recv_q == 0)
		explain_text_add(t, " It has even read the end of file (read() returned 0).");
}

static void verdict_closed(struct explain_text *t, const struct ts_socket *s, const char *holders)
{
	if (s->flags & TS_SOCK_REMOTE_VALID) {
		char peer[80];

		output_endpoint(peer, sizeof(peer), s->family, &s->remote_addr, s->remote_port, false);
		if (s->pending_error == ECONNRESET)
			explain_text_add(t, "The connection is over: %s reset it, and the program "
					 "has not been told yet (its next call on the socket "
					 "fails with ECONNRESET). ", peer);
		else
			explain_text_add(t, "The connection to %s is over. ", peer);
	} else {
		explain_text_add(t, "The connection is over. ");
	}
	explain_text_add(t, "%s still holds the descriptor and must close it.", holders);
}

/* The retransmissions of a closing socket, after its verdict. */
static void verdict_retransmissions(struct explain_text *t, const struct ts_socket *s, unsigned rt)
{
	char d[32];

	if (!rt || s->state == TS_STATE_SYN_SENT || s->state == TS_STATE_SYN_RECEIVED ||
	    s->state == TS_STATE_ESTABLISHED)
		return;
	explain_text_add(t, " %u retransmission%s so far", rt, rt == 1 ? "" : "s");
	if (s->timer == TS_TIMER_RETRANS) {
		explain_fmt_duration(d, sizeof(d), s->timer_expires_ms);
		explain_text_add(t, "; next in %s", d);
	}
	explain_text_add(t, ".");
}

/* One or two sentences on this socket, from its live data and the settings. */
void explain_verdict(struct explain_text *t, struct explain_ctx *c, const struct ts_snapshot *snap,
		     const struct ts_socket *s)
{
	char who_buf[128], d[32];
	const char *who = holder(who_buf, sizeof(who_buf), snap, s);
	const char *holders = who ? who : "The program holding it";
	bool orphan = ts_socket_is_orphan(s);
	unsigned rt = ts_socket_retransmissions(s);

	switch ((enum ts_state)s->state) {
	case TS_STATE_IDLE:
		explain_text_add(t, "%s created this socket and never used it; only close() ends it.", holders);
		break;
	case TS_STATE_BOUND:
		explain_text_add(t, "%s bound port %u and has neither listened nor connected; the port stays "
				 "taken until it calls close(), except for sockets that share it through "
				 "SO_REUSEADDR or SO_REUSEPORT.", holders, s->local_port);
		break;
	case TS_STATE_LISTEN:
		verdict_listen(t, c, s, holders);
		break;
	case TS_STATE_SYN_SENT:
		verdict_syn_sent(t, c, rt);
		break;
	case TS_STATE_SYN_RECEIVED:
		verdict_syn_received(t, c, snap, s, rt);
		break;
	case TS_STATE_ESTABLISHED:
		verdict_established(t, c, s, holders, rt);
		break;
	case TS_STATE_FIN_WAIT_1:
		if (s->send_q > 0)
			explain_text_add(t, "Data still queued ahead of the FIN: %u bytes. ", s->send_q);
		if (s->timer == TS_TIMER_PROBE)
			explain_text_add(t, "The peer advertises a zero window (its program is not reading). ");
		verdict_orphan_or_held(t, c, who, orphan, "the ACK of its FIN");
		break;
	case TS_STATE_FIN_WAIT_2:
		verdict_fin_wait_2(t, c, s, holders, orphan);
		break;
	case TS_STATE_CLOSE_WAIT:
		verdict_close_wait(t, snap, s, who);
		break;
	case TS_STATE_LAST_ACK:
	case TS_STATE_CLOSING:
		verdict_orphan_or_held(t, c, who, orphan, "the ACK of its FIN");
		break;
	case TS_STATE_TIME_WAIT:
		explain_fmt_duration(d, sizeof(d), s->timer_expires_ms);
		explain_text_add(t, "Nothing to do: the kernel removes it in %s (of a fixed 60 s).", d);
		break;
	case TS_STATE_CLOSED:
		verdict_closed(t, s, holders);
		break;
	default:
		explain_text_add(t, "%s holds it; tcpstate could not copy the descriptor to tell IDLE, "
				 "BOUND and CLOSED apart (it needs CAP_SYS_PTRACE and a free file "
				 "descriptor). Only close() ends it.", holders);
		break;
	}
	verdict_retransmissions(t, s, rt);
}
