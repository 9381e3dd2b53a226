/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Loader of trace.bpf.c: picks, for each hook, the first program of its
 * alternatives that loads and attaches here, and reads the ring buffer.
 * Built with -DTCPSTATE_NO_BPF it is stubs that say "not built".
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpstate/snapshot.h" /* struct ts_bpf_status */
#include "tcpstate/trace.h"    /* enum ts_trace_hook */

#define TRACE_BPF_MAX_PORTS 8

/* The part of the selection the kernel applies. */
struct trace_bpf_filter {
	uint32_t netns_only; /* inode of the one namespace; 0: every namespace */
	uint16_t ports[TRACE_BPF_MAX_PORTS], sports[TRACE_BPF_MAX_PORTS],
		dports[TRACE_BPF_MAX_PORTS];
	uint8_t n_ports, n_sports, n_dports;
};

struct trace_bpf;

/* Called per record (struct tstrace_rec, len bytes); a negative return stops the poll. */
typedef int (*trace_bpf_cb)(const void *data, size_t len, void *userdata);

/*
 * Loads and attaches. Returns 0, -EOPNOTSUPP (not built, no BTF), -EPERM
 * (no privilege), or the error of the state-change hook's first
 * alternative (the verifier's log end in *ret_status). *ret_status is
 * always filled.
 */
int trace_bpf_open(const struct trace_bpf_filter *f, trace_bpf_cb cb, void *userdata,
		   struct trace_bpf **ret, struct ts_bpf_status *ret_status);

/* The kernel function or tracepoint serving hook h ("tp_btf/inet_sock_set_state"),
 * NULL when no alternative of it attached. */
const char *trace_bpf_hook(const struct trace_bpf *t, enum ts_trace_hook h);

/* Waits up to timeout_ms (-1: forever) and reads what is there. Returns
 * the records read, or a negative errno (-EINTR on a signal). */
int trace_bpf_poll(struct trace_bpf *t, int timeout_ms);

/* Reads what the ring buffer holds now (at most its size), without waiting.
 * Returns the records read or a negative errno. */
int trace_bpf_drain(struct trace_bpf *t);

/* What was lost since open. */
struct trace_bpf_loss {
	uint64_t events_dropped; /* records of events the ring buffer had no room for */
	uint64_t events_skipped; /* state change hook runs the kernel skipped (nested on a
				  * CPU) that the backup program did not take: any socket */
	uint64_t other;          /* holder and destruction records dropped or skipped */
	uint64_t rescued;        /* state changes the backup program took (not lost) */
};

/* Reads the counters: 0, or a negative errno (the map lookup failed). */
int trace_bpf_loss(const struct trace_bpf *t, struct trace_bpf_loss *ret);

/* Whether the state change hook's backup program is attached. */
bool trace_bpf_has_backup(const struct trace_bpf *t);

struct trace_bpf *trace_bpf_free(struct trace_bpf *t);

/* Whether this build has the program. */
bool trace_bpf_built(void);
