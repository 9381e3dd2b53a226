/* SPDX-License-Identifier: MIT */
#pragma once

#include "snapshot/bpf/owners.h"
#include "tcpstate/snapshot.h"

/* How many sockets and owners a snapshot will likely hold (the last one's, for a
 * collector): room for them is made at once, not by doubling and copying. */
struct snapshot_sizes {
	size_t sockets, owners;
};

/*
 * ts_snapshot_collect_status() with the BPF owner passes read through bpf, a
 * program kept loaded (NULL: each pass loads its own), and room made for
 * expect (NULL: none).
 */
int snapshot_collect(const struct ts_snapshot_opts *o, struct bpf_owners *bpf,
		     const struct snapshot_sizes *expect, struct ts_snapshot **ret,
		     struct ts_snapshot_status *ret_status);
