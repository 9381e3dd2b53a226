/* SPDX-License-Identifier: MIT */
/*
 * collectbench NETNS [RUNS]: the wall time of one-shot snapshots
 * (ts_snapshot_collect_status(), what each `tcpstate list` takes) against a
 * ts_collector's refreshes (top's), on the same namespace, owners from BPF
 * (auto) with tcp_info. Prints the median of each in milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "tcpstate/collector.h"
#include "tcpstate/snapshot.h"

int main(int argc, char **argv)
{
	struct ts_snapshot_opts o = { .want_info = true };
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	double one[64], kept[64], t;
	struct ts_collector *c;
	struct ts_snapshot *snap;
	size_t n = 0;

	if (argc < 2 || runs < 1 || runs > 64) {
		fprintf(stderr, "usage: collectbench NETNS [RUNS (1-64)]\n");
		return 2;
	}
	o.netns = argv[1];
	t = bench_clock_ms(CLOCK_MONOTONIC);
	if (ts_collector_new(&o, &c, NULL) < 0) {
		fprintf(stderr, "collectbench: ts_collector_new failed\n");
		return 1;
	}
	printf("collector setup (BPF load): %.1f ms, keeps BPF: %s\n",
	       bench_clock_ms(CLOCK_MONOTONIC) - t, ts_collector_keeps_bpf(c) ? "yes" : "no");
	for (int i = 0; i < runs; i++) {
		t = bench_clock_ms(CLOCK_MONOTONIC);
		if (ts_snapshot_collect_status(&o, &snap, NULL) < 0)
			return 1;
		one[i] = bench_clock_ms(CLOCK_MONOTONIC) - t;
		n = ts_snapshot_socket_count(snap);
		ts_snapshot_free(snap);
		t = bench_clock_ms(CLOCK_MONOTONIC);
		if (ts_collector_take(c, &snap, NULL) < 0)
			return 1;
		kept[i] = bench_clock_ms(CLOCK_MONOTONIC) - t;
		ts_snapshot_free(snap);
	}
	ts_collector_free(c);
	bench_sort_ms(one, (size_t)runs);
	bench_sort_ms(kept, (size_t)runs);
	printf("%zu sockets, %d runs: one-shot median %.1f ms (min %.1f), collector refresh "
	       "median %.1f ms (min %.1f)\n", n, runs, one[runs / 2], one[0], kept[runs / 2], kept[0]);
	return 0;
}
