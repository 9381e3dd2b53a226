/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to lib/: how the collectors fill a snapshot. */

#include <stddef.h>
#include <stdint.h>

#include "tcpstate/snapshot.h"

struct ts_snapshot {
	struct ts_socket *sockets;
	size_t n_sockets, cap_sockets;
	struct ts_owner *owners;
	size_t n_owners, cap_owners;
	struct ts_process *processes;
	size_t n_processes, cap_processes;
	struct ts_netns *netns;
	size_t n_netns, cap_netns;
	struct ts_snapshot_stats stats;
};

/* An empty snapshot, or NULL when out of memory. */
struct ts_snapshot *snapshot_new(void);

/* Makes room for sockets and owners in all (a hint: fewer or more may come).
 * Returns 0 or -ENOMEM. */
int snapshot_reserve(struct ts_snapshot *snap, size_t sockets, size_t owners);

/* Appends a copy of *s. Returns 0 or -ENOMEM. */
int snapshot_socket_append(struct ts_snapshot *snap, const struct ts_socket *s);

/* Appends a namespace and returns its index in *ret_index. */
int snapshot_netns_append(struct ts_snapshot *snap, const struct ts_netns *ns, uint32_t *ret_index);

/* Appends an owner (socket_index and process_index already set). */
int snapshot_owner_append(struct ts_snapshot *snap, const struct ts_owner *o);

/* Appends a process and returns its index in *ret_index. */
int snapshot_process_append(struct ts_snapshot *snap, const struct ts_process *p, uint32_t *ret_index);

/*
 * Groups snap's owners by socket, ordered by pid then fd, and
 * sets each socket's owner_first/owner_count. Returns 0 or -ENOMEM.
 */
int snapshot_owners_finalize(struct ts_snapshot *snap);
