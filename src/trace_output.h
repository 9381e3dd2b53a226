/* SPDX-License-Identifier: MIT */
#pragma once

/* How `tcpstate trace` shows events, losses and its summary (text or JSON Lines). */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tcpstate/trace.h"

struct trace_out {
	FILE *f;
	bool json;
	const struct ts_trace *trace;
	int64_t wall_minus_mono_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */
	bool header_done;
};

/* "850 us", "12.4 ms", "3.001 s", "75.2 s", "3605 s"; "≥ " before a lower bound. */
void trace_fmt_duration(char *buf, size_t size, uint64_t ns, bool at_least);

int trace_out_event(struct trace_out *o, const struct ts_trace_event *ev);
/* n events were lost (the ring buffer was full), total since the start. */
int trace_out_lost(struct trace_out *o, uint64_t n, uint64_t total);
int trace_out_summary(struct trace_out *o, const struct ts_trace_summary *s);
