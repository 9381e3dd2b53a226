/* SPDX-License-Identifier: MIT */
#pragma once

#include "snapshot/bpf/owners.h"
#include "tcpstate/snapshot.h"

/*
 * ts_snapshot_collect_status() with the BPF owner passes read through bpf, a
 * program kept loaded (NULL: each pass loads its own).
 */
int snapshot_collect(const struct ts_snapshot_opts *o, struct bpf_owners *bpf,
		     struct ts_snapshot **ret, struct ts_snapshot_status *ret_status);
