/* SPDX-License-Identifier: MIT */
#pragma once

/* Durations and their percentiles, with a bound on what is kept. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpstate/trace.h"

struct trace_durs {
	uint64_t *v;
	size_t n, cap, limit; /* limit: the most kept (0: TS_TRACE_MAX_SAMPLES) */
	uint64_t seen;        /* added, kept or not */
	uint64_t max;
	uint64_t rng;         /* reservoir sampling past limit */
};

/* Adds one duration. 0 or -ENOMEM (nothing changed then). Past the limit, a
 * uniform sample of all durations is kept (reservoir), the max stays exact. */
int trace_durs_add(struct trace_durs *d, uint64_t ns);

/*
 * The nearest-rank percentile pct (1..100) of sorted[0..n): the smallest
 * value with at least pct% of the values at or below it. 0 when n is 0.
 */
uint64_t trace_percentile(const uint64_t *sorted, size_t n, unsigned pct);

/* Sorts what is kept and fills exact, p50, p90, p99, max, sampled of st. */
void trace_durs_stat(struct trace_durs *d, struct ts_trace_stat *st);

void trace_durs_done(struct trace_durs *d);
