/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Facts about one socket read from its dump, each defined once here and used
 * by explain, doctor and tune alike, so that they never disagree about it.
 */

#include <stdbool.h>

#include "tcpstate/socket.h"

/*
 * Closed by its program and finished by the kernel alone (Linux's orphan:
 * sock_orphan() left it without a struct socket, so the dump reports inode
 * 0): FIN_WAIT_1, FIN_WAIT_2, LAST_ACK or CLOSING with no inode, found in a
 * dump, not through a descriptor. Orphans count against
 * net.ipv4.tcp_max_orphans and give up after net.ipv4.tcp_orphan_retries
 * (FIN_WAIT_2: after net.ipv4.tcp_fin_timeout). TIME_WAIT and request
 * sockets also have no inode but are not orphans.
 */
bool ts_socket_is_orphan(const struct ts_socket *s);

/*
 * Kept as a TIME_WAIT record, counted against net.ipv4.tcp_max_tw_buckets:
 * TIME_WAIT, and an orphaned FIN_WAIT_2 once Linux turned it into one (its
 * timer is then "timewait"; before, with tcp_fin_timeout above 60 s, it is a
 * full socket with a keepalive timer).
 */
bool ts_socket_in_tw_bucket(const struct ts_socket *s);

/*
 * Counted against net.ipv4.tcp_max_orphans: an orphan that is still a full
 * socket (not a TIME_WAIT record).
 */
bool ts_socket_counts_as_orphan(const struct ts_socket *s);

/*
 * Not yet accepted by any program: ESTABLISHED or CLOSE_WAIT with no inode,
 * waiting in a listener's accept queue.
 */
bool ts_socket_awaiting_accept(const struct ts_socket *s);

/*
 * How many times in a row the kernel has retransmitted without an answer:
 * the SYN (SYN_SENT), the SYN-ACK (SYN_RECEIVED), or data or a FIN. The
 * count sock_diag gives with a retransmission timer (icsk_retransmits, a
 * request's SYN-ACK retransmissions), or tcp_info's retransmits. Keepalive
 * and zero-window probes are not retransmissions and do not count.
 */
unsigned ts_socket_retransmissions(const struct ts_socket *s);

/* Retransmitting: at least one unanswered retransmission (ts_socket_retransmissions()). */
bool ts_socket_retransmitting(const struct ts_socket *s);

/*
 * Whether the connection ever carried data each way (a bare SYN, ACK or FIN
 * is not data): 0 with *ret_sent and *ret_recv set; -ENOTCONN in the states
 * that never carried a connection (LISTEN, SYN_SENT, SYN_RECEIVED, IDLE,
 * BOUND, UNKNOWN), where tcp_info's times count from no event; -ENODATA when
 * not known (no tcp_info, or a kernel older than 4.6). A direction that never
 * carried data has its tcp_info time counting from the connection's setup:
 * its age, not a time since data moved.
 */
int ts_socket_data_moved(const struct ts_socket *s, bool *ret_sent, bool *ret_recv);

/* True in the states that never carried a connection (see ts_socket_data_moved()). */
bool ts_socket_never_connected(const struct ts_socket *s);

/*
 * A LISTEN socket's accept queue is full: Linux queues up to backlog + 1
 * connections (it refuses one only when the queue already holds more than
 * the backlog), so Recv-Q exceeds Send-Q.
 */
bool ts_listener_queue_full(const struct ts_socket *s);
