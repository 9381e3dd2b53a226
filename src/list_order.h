/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The order `list` prints sockets in. The kernel dumps them in hash order,
 * which changes from one run to the next; list sorts them instead.
 *
 * Default order: namespace (in the order the snapshot found them: the
 * current one first), state in lifecycle order (IDLE, BOUND, LISTEN,
 * SYN_SENT, SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT,
 * LAST_ACK, CLOSING, TIME_WAIT, CLOSED, UNKNOWN), local port, local address
 * (IPv4 before IPv6), remote address, remote port, the first holder's pid,
 * its fd, the inode. A sort key puts its own order first and breaks ties
 * by the default order.
 */

#include <stdint.h>

#include "tcpstate/snapshot.h"

enum list_sort_key {
	LIST_SORT_DEFAULT,
	LIST_SORT_STATE, /* lifecycle order, then namespace */
	LIST_SORT_PORT,  /* local port */
	LIST_SORT_PID,   /* the first holder's pid; sockets nobody holds last */
	LIST_SORT_AGE,   /* idle time (ts_socket_activity()), longest first; unknown last */
	LIST_SORT_QUEUE, /* Recv-Q + Send-Q (LISTEN: the accept queue), largest first */
	_LIST_SORT_MAX,
};

/* "state", "port", "pid", "age", "queue"; parses one of them (0 or -EINVAL). */
int list_sort_key_parse(const char *text, enum list_sort_key *ret);

/* The order to print snap's sockets in: *ret_order gets their indices
 * (malloc'd, the caller frees it). 0 or -ENOMEM. */
int list_order(const struct ts_snapshot *snap, enum list_sort_key key, uint32_t **ret_order);
