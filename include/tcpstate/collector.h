/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Snapshots again and again with the same options, for live views (top) and
 * the exporter: the BPF programs are loaded once and kept between snapshots
 * (a new iterator per snapshot), so a refresh costs the walks, not libbpf's
 * load. With backend AUTO and owners scanned, the sockets come from the BPF
 * socket source (iter/tcp) when it loads, sock_diag when not (stats.socket_bpf
 * says why). Each snapshot is what ts_snapshot_collect_status()
 * would give with the same options at that moment: the BPF second pass for
 * sockets that changed state, the /proc walk when BPF cannot run (AUTO).
 */

#include "tcpstate/snapshot.h"

struct ts_collector;

/*
 * Copies opts (and *opts->filter, opts->netns, opts->proc_root) and, when
 * owners come from BPF (owner_source BPF, or AUTO without proc_root, and
 * owners not NONE), loads the program. With AUTO a program that cannot load
 * is not an error: every snapshot then walks /proc and its stats.bpf says
 * why (as ts_snapshot_collect() would, without trying again each time).
 * Returns 0, -EINVAL (opts contradict each other), -ENOMEM, or with
 * owner_source BPF (backend BPF) the errors of ts_snapshot_collect_ex() for a
 * BPF source that cannot run (-EOPNOTSUPP, -EPERM, ...). *ret_status (may be
 * NULL) is always filled: failed_stage OWNERS and bpf (DUMP and socket_bpf)
 * saying why for those.
 * *ret is set only on success; free it with ts_collector_free().
 */
int ts_collector_new(const struct ts_snapshot_opts *opts, struct ts_collector **ret,
		     struct ts_snapshot_status *ret_status);

/*
 * A new snapshot; errors and *ret_status as ts_snapshot_collect_status().
 * *ret is set only on success; free it with ts_collector_recycle() (or
 * ts_snapshot_free()).
 */
int ts_collector_take(struct ts_collector *c, struct ts_snapshot **ret,
		      struct ts_snapshot_status *ret_status);

/*
 * Frees a snapshot of c's that the caller is done with, keeping its largest
 * arrays for c's next snapshot: their pages are then reused instead of
 * faulted in afresh (memory stays at the largest snapshot's). Accepts a
 * NULL snap; with a NULL c it only frees snap.
 */
void ts_collector_recycle(struct ts_collector *c, struct ts_snapshot *snap);

/* Whether the collector keeps a BPF program loaded (owners from BPF). */
bool ts_collector_keeps_bpf(const struct ts_collector *c);

/* Unloads the programs. Accepts NULL; returns NULL. */
struct ts_collector *ts_collector_free(struct ts_collector *c);
