/* SPDX-License-Identifier: MIT */
#pragma once

#include "snapshot/bpf/owners.h"
#include "snapshot/bpf/sockets.h"
#include "snapshot/sock_index.h"
#include "tcpstate/snapshot.h"

/* How many sockets and owners a snapshot will likely hold (the last one's, for a
 * collector): room for them is made at once, not by doubling and copying. */
struct snapshot_sizes {
	size_t sockets, owners;
};

/*
 * Memory a ts_collector keeps from one snapshot to the next: the largest
 * arrays, their pages touched already. Fresh ones fault in page by page at
 * every snapshot (at 100k sockets ~a tenth of an exporter's scrape, and as
 * much again to give them back).
 */
struct snapshot_scratch {
	struct ts_socket *sockets; /* a snapshot's arrays, lent to the next one */
	size_t cap_sockets;
	struct ts_owner *owners;
	size_t cap_owners;
	struct sock_index index;   /* the owner join's, rebuilt in place */
};

/* What a ts_collector keeps between collections. */
struct snapshot_kept {
	struct bpf_owners *owners;   /* NULL: each owner pass loads its own */
	struct bpf_sockets *sockets; /* NULL: backend BPF loads its own; AUTO uses netlink */
	struct snapshot_scratch *scratch; /* NULL: fresh memory */
};

/* Keeps snap's largest arrays in s (when larger than those s holds), and
 * frees snap. */
void snapshot_scratch_keep(struct snapshot_scratch *s, struct ts_snapshot *snap);

/* Frees what s holds; s is then empty. */
void snapshot_scratch_clear(struct snapshot_scratch *s);

/*
 * ts_snapshot_collect_status() with the programs of kept (NULL: none) and
 * room made for expect (NULL: none).
 */
int snapshot_collect(const struct ts_snapshot_opts *o, const struct snapshot_kept *kept,
		     const struct snapshot_sizes *expect, struct ts_snapshot **ret,
		     struct ts_snapshot_status *ret_status);
