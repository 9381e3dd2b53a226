/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "trace/trace_stats.h"

static size_t limit_of(const struct trace_durs *d)
{
	return d->limit ? d->limit : TS_TRACE_MAX_SAMPLES;
}

/* xorshift64: the reservoir needs no more than a fair index. */
static uint64_t next_random(struct trace_durs *d)
{
	uint64_t x = d->rng ? d->rng : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	d->rng = x;
	return x;
}

int trace_durs_add(struct trace_durs *d, uint64_t ns)
{
	if (d->n < limit_of(d)) {
		if (d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 64;
			uint64_t *v;

			if (cap > limit_of(d))
				cap = limit_of(d);
			v = realloc(d->v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			d->v = v;
			d->cap = cap;
		}
		d->v[d->n++] = ns;
	} else {
		/* Algorithm R: the (seen+1)-th value replaces a kept one with
		 * probability limit/(seen+1). */
		uint64_t j = next_random(d) % (d->seen + 1);

		if (j < d->n)
			d->v[j] = ns;
	}
	d->seen++;
	if (ns > d->max)
		d->max = ns;
	return 0;
}

uint64_t trace_percentile(const uint64_t *sorted, size_t n, unsigned pct)
{
	size_t rank;

	if (n == 0)
		return 0;
	if (pct > 100)
		pct = 100;
	/* ceil(pct * n / 100), at least 1 */
	rank = ((size_t)pct * n + 99) / 100;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void trace_durs_stat(struct trace_durs *d, struct ts_trace_stat *st)
{
	if (d->n)
		qsort(d->v, d->n, sizeof(*d->v), cmp_u64);
	st->exact = d->seen;
	st->sampled = d->seen > d->n;
	st->p50_ns = trace_percentile(d->v, d->n, 50);
	st->p90_ns = trace_percentile(d->v, d->n, 90);
	st->p99_ns = trace_percentile(d->v, d->n, 99);
	st->max_ns = d->max;
}

void trace_durs_done(struct trace_durs *d)
{
	free(d->v);
	*d = (struct trace_durs){ 0 };
}
