/* SPDX-License-Identifier: MIT */
#pragma once

/* Sockets no dump shows (IDLE, CLOSED; BOUND on kernels before 6.8), found
 * through the fds that hold them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/owner_scan.h"
#include "snapshot/snapshot.h"

struct fdsock_opts {
	const struct ts_filter *filter; /* may be NULL */
	const uint64_t *netns_inodes;   /* the namespaces listed; index = netns_index */
	size_t n_netns;
	const char *proc_root;
};

/*
 * Looks at each candidate fd: takes a copy with pidfd_getfd(), checks it is
 * still the same inode, finds its namespace (SIOCGSKNS) and tells IDLE
 * (never bound or connected), BOUND (bound only) and CLOSED (had traffic,
 * now TCP_CLOSE) apart from TCP_INFO and getsockname(). Sockets in other
 * namespaces, or no longer in TCP_CLOSE (the dump filtered them out), are
 * skipped. Without the privilege to copy the fd, or out of file descriptors
 * to copy it into, the socket is listed as UNKNOWN (attributed to the
 * owner's namespace) and counted in snap's stats (fds_unclassified, and
 * fd_exhausted). A CLOSED socket gets the remote end and pending error the
 * iterator read (has_ends). Appends sockets and their owners to snap.
 * Returns 0 or -ENOMEM.
 */
int fdsock_classify(struct ts_snapshot *snap, struct fd_candidate *cand, size_t n,
		    const struct fdsock_opts *o);
