/* SPDX-License-Identifier: MIT */
#pragma once

/* Time in state per state, per holder and per local port, as events are delivered. */

#include "tcpstate/trace.h"
#include "trace/trace_map.h"
#include "trace/trace_stats.h"

struct trace_group {
	struct ts_trace_stat st; /* count and at_least as they come; the rest at the end */
	struct trace_durs d;
};

struct trace_acc {
	struct trace_group state[TS_STATE_COUNT];
	struct ts_trace_stat_proc *procs;
	struct trace_group *proc_g;
	size_t n_procs, cap_procs;
	struct trace_map proc_by_key;
	struct ts_trace_stat_port *ports;
	struct trace_group *port_g;
	size_t n_ports, cap_ports;
	struct trace_map port_by_key;
	uint64_t events;
};

/* Accounts one delivered event. 0 or -ENOMEM. */
int trace_acc_add(struct trace_acc *acc, const struct ts_trace_event *ev);

/* Fills per_state, procs, ports and events of out (allocates procs and ports). 0 or -ENOMEM. */
int trace_acc_summary(struct trace_acc *acc, struct ts_trace_summary *out);

void trace_acc_done(struct trace_acc *acc);
