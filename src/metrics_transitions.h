/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The exporter's transition metrics: state changes per namespace and
 * (from, to) state, and histograms of the time spent in the state a socket
 * leaves, folded from the events of tcpstate/trace.h (metrics_trace.c's
 * consumer thread) and rendered by the scrapes. Every function but
 * metrics_transitions_bucket() takes the table's lock: the consumer and the
 * scrapes run on different threads.
 *
 * Memory is bounded: at most METRICS_TRANSITIONS_MAX_NETNS namespaces have
 * series of their own (the events of more go to netns="other"), and the
 * series of a namespace a snapshot no longer finds are dropped
 * (metrics_transitions_sync()).
 */

#include <stdint.h>

#include "metrics.h"
#include "tcpstate/trace.h"

#define METRICS_TRANSITIONS_N_BOUNDS 20      /* finite bucket bounds; +Inf after them */
#define METRICS_TRANSITIONS_MAX_NETNS 1024u  /* namespaces with series of their own */

/* The finite bucket bounds, in ns, ascending (1 ms ... 1 h). */
extern const uint64_t metrics_transitions_bounds_ns[METRICS_TRANSITIONS_N_BOUNDS];

/* The bucket of a time in state: the first bound at or above it (le is
 * inclusive); METRICS_TRANSITIONS_N_BOUNDS when only +Inf holds it. */
unsigned metrics_transitions_bucket(uint64_t ns);

/* Where the series come from: tcpstate_transitions_source{source=...}. */
enum metrics_transitions_source {
	METRICS_TRANSITIONS_OFF,    /* --no-transitions */
	METRICS_TRANSITIONS_BPF,    /* the trace program runs */
	METRICS_TRANSITIONS_FAILED, /* it could not load, or stopped (said on stderr) */
};

/* Why a time in state is not in the histogram. */
enum metrics_transitions_inexact {
	METRICS_INEXACT_AT_LEAST, /* entered before the exporter started: a lower bound */
	METRICS_INEXACT_UNKNOWN,  /* entered unseen (the socket was not followed) */
	METRICS_INEXACT_POLLED,   /* a TIME_WAIT end noticed by polling: up to 1 s late */
	_METRICS_INEXACT_MAX,
};

struct metrics_transitions;

/* 0 or -ENOMEM. The source starts as OFF. */
int metrics_transitions_new(struct metrics_transitions **ret);
/* Accepts NULL; returns NULL. */
struct metrics_transitions *metrics_transitions_free(struct metrics_transitions *t);

void metrics_transitions_set_source(struct metrics_transitions *t, enum metrics_transitions_source s);
/* Events lost so far (ts_trace_lost()). */
void metrics_transitions_set_lost(struct metrics_transitions *t, uint64_t lost);

/* Names a namespace by its inode, for the first event of a namespace. */
typedef const char *(*metrics_transitions_name_fn)(uint64_t netns_inode, void *userdata);

/*
 * Folds one event: a change between two states is counted (a socket's birth
 * is not: it leaves no state), and the time in the state left goes into its
 * histogram when it is exact, else into the inexact count. Never fails: a
 * namespace past the bound, or without memory for it, is counted in
 * netns="other".
 */
void metrics_transitions_add(struct metrics_transitions *t, const struct ts_trace_event *ev,
			     metrics_transitions_name_fn name, void *userdata);

/*
 * After a snapshot that began at began_ns (CLOCK_MONOTONIC) and found the
 * namespaces ns[0..n): a namespace it found takes the snapshot's name; the
 * series of one it did not find, whose first event came before it began,
 * are dropped (the namespace is gone).
 */
void metrics_transitions_sync(struct metrics_transitions *t, const struct metrics_ns *ns, size_t n,
			      uint64_t began_ns);

/* Writes the families (HELP and TYPE for each) into b. */
void metrics_transitions_render(struct metrics_transitions *t, enum metrics_format f,
				struct metrics_buf *b);
