/* SPDX-License-Identifier: MIT */
/*
 * diagbench NETNS [RUNS [FILE]]: the wall time of ts_diagnose() over two
 * looks of a namespace 0.5 s apart (what each `tcpstate top` refresh runs),
 * median of RUNS (default 9, at most 64). With FILE, every field of every
 * finding of the first run goes there, one line each (and one per group):
 * two builds that must diagnose alike give the same file on a namespace
 * that holds still (bench/sockgen's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "bench_clock.h"
#include "tcpstate/collector.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/listener.h"

int main(int argc, char **argv)
{
	struct ts_snapshot_opts o = { .want_info = true };
	struct ts_collector *c;
	struct ts_snapshot *s1, *s2;
	struct ts_diagnose_procs p1, p2;
	struct ts_listener_facts l1 = { 0 };
	int runs = argc > 2 ? atoi(argv[2]) : 9;
	double t[64], cpu[64];

	if (argc < 2 || runs < 1 || runs > 64) {
		fprintf(stderr, "usage: diagbench NETNS [RUNS (1-64) [FILE]]\n");
		return 2;
	}
	o.netns = argv[1];
	if (ts_collector_new(&o, &c, NULL) < 0 || ts_collector_take(c, &s1, NULL) < 0)
		return 1;
	usleep(500000);
	if (ts_collector_take(c, &s2, NULL) < 0)
		return 1;
	ts_diagnose_procs_collect(s1, NULL, &p1);
	ts_diagnose_procs_collect(s2, NULL, &p2);
	ts_listener_facts_collect(s1, &l1);
	for (int i = 0; i < runs; i++) {
		struct ts_diagnosis *d;
		double t0 = bench_clock_ms(CLOCK_MONOTONIC), c0 = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID);
		if (ts_diagnose(&(struct ts_diagnose_input){ .snap = s1, .procs = &p1, .listeners = &l1,
			.later = s2, .procs_later = &p2, .interval_s = 0.5 }, &d) < 0)
			return 1;
		t[i] = bench_clock_ms(CLOCK_MONOTONIC) - t0;
		cpu[i] = bench_clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
		if (i == 0 && argc > 3) {
			FILE *out = fopen(argv[3], "we");

			if (!out)
				return 1;
			for (size_t k = 0; k < d->n_findings; k++) {
				const struct ts_finding *f = &d->findings[k];
				fprintf(out, "F %s sev%d r%d hs%llu sp%d st%d ns%u c%llu y%llu ua%llu kept%llu ub%llu eof%llu cl%llu lim%llu le%d mr%u rate%d %.3f %.3f cb%llu eta%d pid%d %s hp%d np%zu po%zu nf%zu lp%u fam%u hr%d rp%u pp%d pl%llu ng%zu gc%d ug%llu\n",
					ts_finding_kind_id(f->kind), f->severity, f->severity_reason, (unsigned long long)f->held_stale, f->severity_pid, f->state, f->netns_index,
					(unsigned long long)f->count, (unsigned long long)f->young, (unsigned long long)f->unknown_age, (unsigned long long)f->kept,
					(unsigned long long)f->unread_bytes, (unsigned long long)f->eof_read, (unsigned long long)f->closable, (unsigned long long)f->limit, f->limit_err,
					f->max_retransmits, f->has_rate, f->rate_per_s, f->fd_rate_per_s, (unsigned long long)f->count_before, f->has_eta, f->pid, f->comm, f->has_proc,
					f->n_pids, f->pids_omitted, f->n_fds, f->local_port, f->family, f->has_remote, f->remote_port, f->peer_pid, (unsigned long long)f->peer_linked,
					f->n_groups, f->groups_capped, (unsigned long long)f->ungrouped);
				for (int q = 0; q < _TS_STATE_MAX; q++) fprintf(out, " %u", f->state_counts[q]);
				fprintf(out, "\n P");
				for (size_t q = 0; q < f->n_pids; q++) fprintf(out, " %d", f->pids[q]);
				fprintf(out, "\n D");
				for (size_t q = 0; q < f->n_fds; q++) fprintf(out, " %d", f->fds[q]);
				fprintf(out, "\n");
				for (size_t q = 0; q < f->n_groups; q++) {
					const struct ts_finding_group *g = &f->groups[q];
					const unsigned char *a = g->remote_addr.s6_addr;
					fprintf(out, " G %u %d %u %u.%u.%u.%u.%u.%u.%u.%u.%u.%u.%u.%u.%u.%u.%u.%u %u %u %llu %u\n", g->family, g->client, g->local_port,
						a[0],a[1],a[2],a[3],a[4],a[5],a[6],a[7],a[8],a[9],a[10],a[11],a[12],a[13],a[14],a[15], g->remote_port, g->count,
						(unsigned long long)g->unread_bytes, g->resets);
				}
			}
			fclose(out);
		}
		if (i == 0) {
			printf("findings %zu:", d->n_findings);
			for (size_t k = 0; k < d->n_findings; k++)
				printf(" [%s %d %llu g%zu f%zu]", ts_finding_kind_id(d->findings[k].kind), d->findings[k].pid,
				       (unsigned long long)d->findings[k].count, d->findings[k].n_groups, d->findings[k].n_fds);
			printf("\n");
		}
		ts_diagnosis_free(d);
	}
	bench_sort_ms(t, runs);
	bench_sort_ms(cpu, runs);
	printf("ts_diagnose median %.1f ms wall (min %.1f, max %.1f), %.1f ms CPU (min %.1f)\n",
	       t[runs / 2], t[0], t[runs - 1], cpu[runs / 2], cpu[0]);
	ts_listener_facts_clear(&l1);
	ts_diagnose_procs_clear(&p1);
	ts_diagnose_procs_clear(&p2);
	ts_snapshot_free(s1);
	ts_snapshot_free(s2);
	ts_collector_free(c);
	return 0;
}
