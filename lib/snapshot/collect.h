/* SPDX-License-Identifier: MIT */
#pragma once

#include "snapshot/bpf/owners.h"
#include "snapshot/bpf/sockets.h"
#include "tcpstate/snapshot.h"

/* How many sockets and owners a snapshot will likely hold (the last one's, for a
 * collector): room for them is made at once, not by doubling and copying. */
struct snapshot_sizes {
	size_t sockets, owners;
};

/* BPF programs a ts_collector keeps loaded between collections. */
struct snapshot_kept {
	struct bpf_owners *owners;   /* NULL: each owner pass loads its own */
	struct bpf_sockets *sockets; /* NULL: backend BPF loads its own; AUTO uses netlink */
};

/*
 * ts_snapshot_collect_status() with the programs of kept (NULL: none) and
 * room made for expect (NULL: none).
 */
int snapshot_collect(const struct ts_snapshot_opts *o, const struct snapshot_kept *kept,
		     const struct snapshot_sizes *expect, struct ts_snapshot **ret,
		     struct ts_snapshot_status *ret_status);
