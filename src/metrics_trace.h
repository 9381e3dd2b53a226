/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The exporter's transitions: the trace program of `tcpstate trace`
 * (tcpstate/trace.h) kept loaded, and a thread that folds its events into
 * cfg->transitions (metrics_transitions.h) as they come. `metrics` and
 * `check` take one look and have no time dimension: they have none.
 */

#include "metrics.h"

#define METRICS_TRACE_LONG_OPTIONS \
	{ "no-transitions", no_argument, NULL, METRICS_OPT_NO_TRANSITIONS }

#define METRICS_TRACE_HELP                                                                   \
	"Transitions (the BPF programs of tcpstate trace, loaded while the exporter runs):\n"  \
	"      --no-transitions   no tcpstate_transitions_total, no time-in-state\n"            \
	"                         histograms (tcpstate_state_duration_seconds), no\n"           \
	"                         trace program loaded. Without CAP_BPF and CAP_PERFMON\n"      \
	"                         (or CAP_SYS_ADMIN) or kernel BTF they are off too: said\n"    \
	"                         once on stderr, tcpstate_transitions_source{source=\n"       \
	"                         \"failed\"} is 1; the other series are served either way\n"

/*
 * Makes cfg->transitions and, unless cfg->no_transitions, opens the trace
 * over cfg's selection and namespaces and starts the thread that consumes
 * it. The trace's failing to load does not fail this: it is said once on
 * stderr and the source is "failed". 0, or -ENOMEM / a pthread error
 * (negative errno) for the table or the thread.
 */
int metrics_trace_start(struct metrics_config *cfg);

/* Stops the thread, detaches the trace, frees cfg->transitions. Accepts a
 * cfg never started. */
void metrics_trace_stop(struct metrics_config *cfg);

/* After a snapshot of the exporter (m->ok) that began at began_s
 * (CLOCK_MONOTONIC seconds): names and drops namespaces
 * (metrics_transitions_sync()). No-op without transitions. */
void metrics_trace_sync(struct metrics_config *cfg, const struct metrics_model *m, double began_s);
