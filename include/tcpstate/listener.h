/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Facts about listening sockets that no socket dump carries, read from the
 * socket itself through a copy of its holder's descriptor (pidfd_getfd):
 * today its TCP_DEFER_ACCEPT.
 *
 * With TCP_DEFER_ACCEPT, Linux drops the client's bare final ACK (counted in
 * TcpExtTCPDeferAcceptDrop) and keeps the connection as a SYN_RECEIVED
 * request until the client sends data; when the deferral runs out it sends
 * its SYN-ACK again, and the client's answer completes the connection. So an
 * idle client of such a listener is SYN_RECEIVED here although nothing was
 * lost.
 */

#include <stddef.h>
#include <stdint.h>

#include "tcpstate/snapshot.h"

/*
 * The listener that s (a SYN_RECEIVED or not yet accepted socket) belongs
 * to: LISTEN in the same namespace, on the same port, on s's local address
 * or a wildcard one (the exact address preferred). NULL when none is in
 * snap; *ret_index (may be NULL) gets its index.
 */
const struct ts_socket *ts_listener_of(const struct ts_snapshot *snap, const struct ts_socket *s,
				       size_t *ret_index);

/*
 * The listener's TCP_DEFER_ACCEPT in seconds, as getsockopt() reports it
 * (0: off; the kernel rounds the value set up to its retransmission
 * schedule: 1, 3, 7, 15 ... s). Tries each holder. Returns 0, -ENOENT (no
 * holder known), -EPERM (not allowed to copy the descriptor), -ESTALE (the
 * holder's fd is now another socket) or another -errno. *ret set only on
 * success.
 */
int ts_listener_defer_accept(const struct ts_snapshot *snap, const struct ts_socket *listener,
			     uint32_t *ret_s);

/* What was learnt about one listener. */
struct ts_listener_fact {
	uint32_t socket;          /* its index in the snapshot */
	int defer_accept_err;     /* 0: defer_accept_s is valid; else why it is unknown */
	uint32_t defer_accept_s;  /* TCP_DEFER_ACCEPT in seconds, 0: off */
};

struct ts_listener_facts {
	struct ts_listener_fact *v; /* sorted by socket */
	size_t n;
};

/*
 * The facts of every listener of snap that has SYN_RECEIVED sockets (the
 * ones whose meaning depends on them). Returns 0 or -ENOMEM; a fact that
 * cannot be read has its err set. Free with ts_listener_facts_clear().
 */
int ts_listener_facts_collect(const struct ts_snapshot *snap, struct ts_listener_facts *ret);
void ts_listener_facts_clear(struct ts_listener_facts *f);
/* The fact of the listener at socket index i, or NULL. */
const struct ts_listener_fact *ts_listener_facts_find(const struct ts_listener_facts *f, size_t i);
