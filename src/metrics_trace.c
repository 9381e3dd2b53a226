/* SPDX-License-Identifier: MIT */
/* The exporter's trace consumer: ts_trace events folded into the transition metrics. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "metrics_trace.h"
#include "metrics_transitions.h"
#include "tcpstate/trace.h"

#define POLL_MS 200 /* how long the thread may take to see a stop */
#define TRIM_EVERY_NS (10 * 1000000000ull)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct metrics_trace {
	struct ts_trace *trace;
	struct metrics_transitions *tbl;
	pthread_t tid;
	atomic_bool stop;
};

static const char *netns_name(uint64_t inode, void *userdata)
{
	struct metrics_trace *mt = userdata;

	return ts_trace_netns_name(mt->trace, inode);
}

static int on_event(const struct ts_trace_event *ev, void *userdata)
{
	struct metrics_trace *mt = userdata;

	metrics_transitions_add(mt->tbl, ev, netns_name, mt);
	return 0;
}

/* Every signal is blocked here (the exporter's main thread takes SIGTERM with sigwait()). */
static void *consume(void *arg)
{
	struct metrics_trace *mt = arg;

	uint64_t trimmed = mono_ns();

	while (!atomic_load(&mt->stop)) {
		int r = ts_trace_poll(mt->trace, POLL_MS, on_event, mt);
		uint64_t now = mono_ns();

		/* The trace frees what it followed (TIME_WAIT ends, each poll's sock_diag
		 * dump) in this thread's malloc arena: handed back, else RSS stays at
		 * its peak. */
		if (now - trimmed >= TRIM_EVERY_NS) {
			malloc_trim(0);
			trimmed = now;
		}

		metrics_transitions_set_lost(mt->tbl, ts_trace_lost(mt->trace));
		if (r < 0 && r != -EINTR) {
			cli_warn("transitions stopped: reading the trace failed: %s; "
				 "tcpstate_transitions_source{source=\"failed\"} is 1 and the other series "
				 "are served", strerror(-r));
			metrics_transitions_set_source(mt->tbl, METRICS_TRANSITIONS_FAILED);
			break;
		}
	}
	return NULL;
}

/* Why the trace did not start, said once. */
static void say_open_failure(int r, const struct ts_bpf_status *st)
{
	static const char tail[] = "tcpstate_transitions_source{source=\"failed\"} is 1 and the "
				   "other series are served";
	char hint[256];

	switch (st->failure) {
	case TS_BPF_FAILURE_NOT_BUILT:
		cli_warn("transitions are off: this tcpstate was built without BPF; %s", tail);
		break;
	case TS_BPF_FAILURE_KERNEL:
		cli_warn("transitions are off: cannot trace on this kernel: %s; %s", st->detail, tail);
		break;
	case TS_BPF_FAILURE_PRIVILEGE:
		cli_warn("transitions are off: not permitted to load the trace program: %s; %s",
			 cli_privilege_hint("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
					    cli_has_bpf_caps(), hint, sizeof(hint)), tail);
		break;
	case TS_BPF_FAILURE_VERIFIER:
		cli_warn("transitions are off: the kernel refused the trace program: %s; "
			 "'tcpstate trace --duration 1' shows the verifier's log; %s",
			 strerror(st->err), tail);
		break;
	case TS_BPF_FAILURE_OTHER:
		cli_warn("transitions are off: cannot attach the trace program: %s%s%s; %s",
			 strerror(st->err), st->detail[0] ? ": " : "", st->detail, tail);
		break;
	default:
		cli_warn("transitions are off: cannot start the trace: %s; %s", strerror(-r), tail);
	}
}

int metrics_trace_start(struct metrics_config *cfg)
{
	struct ts_trace_opts topts = {
		.filter = &cfg->args.filter,
		.netns = cfg->args.opts.netns,
		.all_netns = cfg->args.opts.all_netns,
		.no_summary = true, /* a daemon: nothing kept for a summary it never asks */
	};
	struct metrics_trace *mt;
	struct ts_bpf_status st;
	sigset_t all, old;
	int r;

	r = metrics_transitions_new(&cfg->transitions);
	if (r < 0)
		return r;
	if (cfg->no_transitions)
		return 0;
	mt = calloc(1, sizeof(*mt));
	if (!mt)
		return -ENOMEM;
	mt->tbl = cfg->transitions;
	r = ts_trace_open(&topts, &mt->trace, &st);
	if (r < 0) {
		say_open_failure(r, &st);
		metrics_transitions_set_source(cfg->transitions, METRICS_TRANSITIONS_FAILED);
		free(mt);
		return 0;
	}
	/* Before the thread, which sets "failed" if reading fails. */
	metrics_transitions_set_source(cfg->transitions, METRICS_TRANSITIONS_BPF);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&mt->tid, NULL, consume, mt);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		metrics_transitions_set_source(cfg->transitions, METRICS_TRANSITIONS_FAILED);
		ts_trace_free(mt->trace);
		free(mt);
		return -r;
	}
	cfg->trace = mt;
	return 0;
}

void metrics_trace_stop(struct metrics_config *cfg)
{
	struct metrics_trace *mt = cfg->trace;

	if (mt) {
		atomic_store(&mt->stop, true);
		pthread_join(mt->tid, NULL);
		ts_trace_free(mt->trace);
		free(mt);
		cfg->trace = NULL;
	}
	cfg->transitions = metrics_transitions_free(cfg->transitions);
}

void metrics_trace_sync(struct metrics_config *cfg, const struct metrics_model *m, double began_s)
{
	if (!cfg->transitions || !m->ok)
		return;
	metrics_transitions_sync(cfg->transitions, m->ns, m->n_ns,
				 began_s > 0 ? (uint64_t)(began_s * 1e9) : 0);
}
