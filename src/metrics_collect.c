/* SPDX-License-Identifier: MIT */
/* The metrics model from the library's data: one snapshot, ts_diagnose(), settings, processes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "metrics.h"
#include "metrics_trace.h"
#include "tcpstate/activity.h"
#include "tcpstate/netstat.h"
#include "tcpstate/procinfo.h"
#include "tcpstate/sysctl.h"
#include "tcpstate/util.h"

struct metrics_cw {
	pid_t pid;
	uint64_t start_ticks;
	uint64_t netns_inode;
	uint32_t close_wait;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- options ---- */

void metrics_config_init(struct metrics_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cli_snapshot_args_init(&cfg->args);
	ts_diagnose_thresholds_default(&cfg->thresholds);
	cfg->top_processes = METRICS_TOP_PROCESSES_DEFAULT;
	cfg->top_ports = METRICS_TOP_PORTS_DEFAULT;
}

int metrics_option(struct metrics_config *cfg, int opt, const char *arg)
{
	uint32_t v;

	if (opt == METRICS_OPT_NO_TRANSITIONS) {
		cfg->no_transitions = true;
		return 1;
	}
	if (opt != METRICS_OPT_TOP_PROCESSES && opt != METRICS_OPT_TOP_PORTS)
		return 0;
	if (ts_parse_u32(arg, 0, METRICS_TOP_MAX, &v) < 0) {
		cli_error("bad --%s '%s' (a number from 0 to %u)",
			  opt == METRICS_OPT_TOP_PORTS ? "top-ports" : "top-processes", arg,
			  METRICS_TOP_MAX);
		return -1;
	}
	if (opt == METRICS_OPT_TOP_PORTS)
		cfg->top_ports = v;
	else
		cfg->top_processes = v;
	return 1;
}

int metrics_config_finish(struct metrics_config *cfg, const char *verb)
{
	struct cli_snapshot_args *a = &cfg->args;

	if (a->json) {
		cli_error("%s has no --json (try 'tcpstate %s --help')", verb, verb);
		return -1;
	}
	if (cli_snapshot_args_check(a) < 0)
		return -1;
	/* Every namespace of the host unless one was named: containers are where leaks live. */
	if (!a->opts.netns)
		a->opts.all_netns = true;
	a->opts.want_info = true; /* CLOSE_WAIT ages come from tcp_info */
	if (a->opts.owners == TS_OWNERS_AUTO)
		a->opts.owners = TS_OWNERS_PROC;
	return 0;
}

/* ---- history (growth between collections) ---- */

static int cw_cmp(const void *a, const void *b)
{
	const struct metrics_cw *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->start_ticks != y->start_ticks)
		return x->start_ticks < y->start_ticks ? -1 : 1;
	if (x->netns_inode != y->netns_inode)
		return x->netns_inode < y->netns_inode ? -1 : 1;
	return 0;
}

void metrics_history_clear(struct metrics_history *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* Growth of every process since hist, then hist becomes this collection. */
static int history_update(struct metrics_history *hist, struct metrics_model *m, double at)
{
	struct metrics_cw *v = calloc(m->n_procs ? m->n_procs : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_procs; i++) {
		const struct metrics_proc *p = &m->procs[i];

		v[i] = (struct metrics_cw){ p->pid, p->start_ticks, m->ns[p->netns_index].inode,
					    p->closing[0] };
	}
	qsort(v, m->n_procs, sizeof(*v), cw_cmp);
	if (hist->have && at > hist->at_s) {
		for (size_t i = 0; i < m->n_procs; i++) {
			struct metrics_proc *p = &m->procs[i];
			struct metrics_cw key = { p->pid, p->start_ticks, m->ns[p->netns_index].inode, 0 };
			const struct metrics_cw *old = bsearch(&key, hist->v, hist->n, sizeof(key), cw_cmp);

			/* Not seen before: it held no closing socket then (or did not exist). */
			p->has_growth = true;
			p->growth_per_s = ((double)p->closing[0] - (old ? (double)old->close_wait : 0.0)) /
					  (at - hist->at_s);
		}
	}
	free(hist->v);
	hist->v = v;
	hist->n = m->n_procs;
	hist->at_s = at;
	hist->have = true;
	return 0;
}

/* ---- per process ---- */

static int proc_cmp(const void *a, const void *b)
{
	const struct metrics_proc *x = a, *y = b;

	if (x->closing[0] != y->closing[0])
		return x->closing[0] < y->closing[0] ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->netns_index < y->netns_index ? -1 : x->netns_index > y->netns_index;
}

static struct metrics_proc *proc_new(struct metrics_model *m, size_t *cap, pid_t pid, uint32_t ns)
{
	if (m->n_procs == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		struct metrics_proc *v = realloc(m->procs, nc * sizeof(*v));

		if (!v)
			return NULL;
		m->procs = v;
		*cap = nc;
	}
	memset(&m->procs[m->n_procs], 0, sizeof(m->procs[0]));
	m->procs[m->n_procs].pid = pid;
	m->procs[m->n_procs].netns_index = ns;
	return &m->procs[m->n_procs++];
}

/*
 * The entry of (pid, namespace): slot_of[process_index] remembers the last
 * one used for that process; a process with closing sockets in several
 * namespaces (rare) is searched for.
 */
static struct metrics_proc *proc_slot(struct metrics_model *m, size_t *cap, size_t *slot_of,
				      const struct ts_owner *o, uint32_t ns)
{
	size_t i = slot_of[o->process_index];
	struct metrics_proc *p;

	if (i != SIZE_MAX && m->procs[i].netns_index == ns)
		return &m->procs[i];
	for (i = 0; i < m->n_procs; i++)
		if (m->procs[i].pid == o->pid && m->procs[i].netns_index == ns)
			break;
	p = i < m->n_procs ? &m->procs[i] : proc_new(m, cap, o->pid, ns);
	if (p)
		slot_of[o->process_index] = (size_t)(p - m->procs);
	return p;
}

static int build_procs(struct metrics_model *m, const struct ts_snapshot *snap,
		       const struct ts_diagnose_procs *procs, unsigned top)
{
	size_t n = ts_snapshot_socket_count(snap), cap = 0, n_pi = ts_snapshot_process_count(snap);
	size_t *slot_of = malloc((n_pi ? n_pi : 1) * sizeof(*slot_of));

	if (!slot_of)
		return -ENOMEM;
	for (size_t i = 0; i < n_pi; i++)
		slot_of[i] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const struct ts_owner *o = ts_snapshot_owners(snap, s);
		int slot = ts_held_closing_index((enum ts_state)s->state);

		if (slot < 0 || !o)
			continue;
		for (unsigned k = 0; k < s->owner_count; k++) {
			struct metrics_proc *p;
			uint64_t age;

			if (k > 0 && o[k - 1].pid == o[k].pid)
				continue; /* one socket held twice by one process counts once */
			if (o[k].process_index >= n_pi)
				continue;
			p = proc_slot(m, &cap, slot_of, &o[k], s->netns_index);
			if (!p) {
				free(slot_of);
				return -ENOMEM;
			}
			if (!p->comm[0]) {
				const struct ts_process *tp = ts_snapshot_process(snap, o[k].process_index);

				snprintf(p->comm, sizeof(p->comm), "%s", tp ? tp->comm : "");
			}
			p->closing[slot]++;
			p->total++;
			if (slot == 0 && ts_socket_peer_silence_ms(s, &age) &&
			    (!p->has_age || age > p->oldest_close_wait_ms)) {
				p->has_age = true;
				p->oldest_close_wait_ms = age;
			}
		}
	}
	free(slot_of);
	for (size_t i = 0; i < m->n_procs; i++) {
		struct metrics_proc *p = &m->procs[i];
		const struct ts_procinfo *pi = ts_diagnose_procs_find(procs, p->pid);

		if (!pi)
			continue;
		p->start_ticks = pi->stat_err ? 0 : pi->start_ticks;
		snprintf(p->unit, sizeof(p->unit), "%s", pi->unit);
		snprintf(p->container, sizeof(p->container), "%s", pi->container);
		p->has_fds = pi->fd_err == 0;
		p->fd_count = pi->fd_count;
		p->has_nofile = pi->nofile_err == 0;
		p->nofile_soft = pi->nofile_soft;
	}
	if (m->n_procs)
		qsort(m->procs, m->n_procs, sizeof(m->procs[0]), proc_cmp);
	m->n_procs_shown = m->n_procs < top ? m->n_procs : top;
	return 0;
}

/* ---- per listening port ---- */

static int port_cmp(const void *a, const void *b)
{
	const struct metrics_port *x = a, *y = b;

	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	if (x->netns_index != y->netns_index)
		return x->netns_index < y->netns_index ? -1 : 1;
	return (int)x->port - (int)y->port;
}

static struct metrics_port *port_find(struct metrics_model *m, uint32_t ns, uint16_t port)
{
	for (size_t i = 0; i < m->n_ports; i++)
		if (m->ports[i].netns_index == ns && m->ports[i].port == port)
			return &m->ports[i];
	return NULL;
}

static int build_ports(struct metrics_model *m, const struct ts_snapshot *snap, unsigned top)
{
	size_t n = ts_snapshot_socket_count(snap), cap = 0;

	/* The listening ports first (a port with listeners on several addresses is one port). */
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (s->state != TS_STATE_LISTEN || port_find(m, s->netns_index, s->local_port))
			continue;
		if (m->n_ports == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct metrics_port *v = realloc(m->ports, nc * sizeof(*v));

			if (!v)
				return -ENOMEM;
			m->ports = v;
			cap = nc;
		}
		memset(&m->ports[m->n_ports], 0, sizeof(m->ports[0]));
		m->ports[m->n_ports].netns_index = s->netns_index;
		m->ports[m->n_ports++].port = s->local_port;
	}
	/* Then every socket on one of them (accepted connections share the listener's port). */
	for (size_t i = 0; i < n && m->n_ports; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		struct metrics_port *p = port_find(m, s->netns_index, s->local_port);

		if (p) {
			p->states[s->state]++;
			p->total++;
		}
	}
	if (m->n_ports)
		qsort(m->ports, m->n_ports, sizeof(m->ports[0]), port_cmp);
	m->n_ports_shown = m->n_ports < top ? m->n_ports : top;
	return 0;
}

/* ---- per namespace ---- */

static void read_ns_facts(const struct metrics_config *cfg, const struct ts_netns *tn,
			  struct metrics_ns *ns, struct ts_netstat *netstat)
{
	char spec[4200];
	const char *target = cfg->args.opts.netns;
	struct ts_sysctl *s = NULL;
	struct ts_procinfo pi;

	if (cfg->args.opts.all_netns) {
		if (ts_netns_reopen_spec(tn, cfg->args.opts.proc_root, spec, sizeof(spec)) < 0)
			return;
		target = spec;
	}
	(void)ts_netstat_read(target, netstat); /* unreadable counters: left out (have 0) */
	if (ts_sysctl_open(target, NULL, &s) == 0) {
		ts_diagnose_sysctls_read(s, &ns->sysctls);
		ns->have_sysctls = true;
		ts_sysctl_free(s);
	}
	if (tn->kind != TS_NETNS_INIT && tn->pid > 0 &&
	    ts_procinfo_read(cfg->args.opts.proc_root, tn->pid, &pi) == 0) {
		snprintf(ns->container, sizeof(ns->container), "%s", pi.container);
		snprintf(ns->unit, sizeof(ns->unit), "%s", pi.unit);
	}
}

static int build_ns(struct metrics_model *m, const struct metrics_config *cfg,
		    const struct ts_snapshot *snap, struct ts_netstat **ret_netstat)
{
	size_t n = ts_snapshot_netns_count(snap), n_sock = ts_snapshot_socket_count(snap);
	struct ts_netstat *netstat = calloc(n ? n : 1, sizeof(*netstat));

	m->ns = calloc(n ? n : 1, sizeof(*m->ns));
	if (!m->ns || !netstat) {
		free(netstat);
		return -ENOMEM;
	}
	m->n_ns = n;
	for (size_t i = 0; i < n; i++) {
		const struct ts_netns *tn = ts_snapshot_netns(snap, (uint32_t)i);

		snprintf(m->ns[i].name, sizeof(m->ns[i].name), "%s", tn->name);
		m->ns[i].inode = tn->inode;
		ts_diagnose_sysctls_unavailable(&m->ns[i].sysctls, -ENOENT);
		read_ns_facts(cfg, tn, &m->ns[i], &netstat[i]);
	}
	for (size_t i = 0; i < n_sock; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (s->netns_index < n)
			m->ns[s->netns_index].states[s->state]++;
	}
	*ret_netstat = netstat;
	return 0;
}

/* ---- findings ---- */

static int build_findings(struct metrics_model *m, const struct metrics_config *cfg,
			  const struct ts_snapshot *snap, const struct ts_diagnose_procs *procs,
			  const struct ts_netstat *netstat)
{
	struct ts_diagnose_sysctls *sysctls = calloc(m->n_ns ? m->n_ns : 1, sizeof(*sysctls));
	struct ts_listener_facts listeners = { 0 };
	struct ts_diagnosis *d = NULL;
	int r;

	if (!sysctls)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_ns; i++)
		sysctls[i] = m->ns[i].sysctls;
	r = ts_listener_facts_collect(snap, &listeners);
	if (r == 0)
		r = ts_diagnose(&(struct ts_diagnose_input){
					.snap = snap, .procs = procs, .sysctls = sysctls,
					.n_sysctls = m->n_ns, .netstat = netstat, .n_netstat = m->n_ns,
					.listeners = &listeners, .thresholds = &cfg->thresholds },
				&d);
	if (r == 0) {
		m->owners_known = d->owners_known;
		for (size_t i = 0; i < d->n_findings; i++) {
			const struct ts_finding *f = &d->findings[i];

			m->findings[f->severity][f->kind]++;
		}
		if (d->n_findings) { /* worst first */
			const struct ts_finding *f = &d->findings[0];
			const char *ns = f->netns_index < m->n_ns ? m->ns[f->netns_index].name : "?";

			m->has_worst = true;
			m->worst_severity = f->severity;
			if (f->pid > 0)
				snprintf(m->worst_text, sizeof(m->worst_text), "%s: %" PRIu64 " socket%s, pid %d %s, netns %s",
					 f->title, f->count, f->count == 1 ? "" : "s", (int)f->pid, f->comm, ns);
			else
				snprintf(m->worst_text, sizeof(m->worst_text), "%s: %" PRIu64 " socket%s, netns %s",
					 f->title, f->count, f->count == 1 ? "" : "s", ns);
		}
	}
	ts_diagnosis_free(d);
	ts_listener_facts_clear(&listeners);
	free(sysctls);
	return r;
}

/* ---- one collection ---- */

static int fill(struct metrics_model *m, struct metrics_config *cfg, const struct ts_snapshot *snap)
{
	const struct ts_snapshot_stats *st = ts_snapshot_stats(snap);
	struct ts_diagnose_procs procs = { 0 };
	struct ts_netstat *netstat = NULL;
	int r;

	m->owner_source = !st->owners_scanned ? "none" :
			  st->owner_source == TS_OWNER_SOURCE_BPF ? "bpf" : "proc";
	m->socket_source = cli_socket_source_name(st);
	m->netns_denied = st->netns_denied;
	r = ts_diagnose_procs_collect(snap, cfg->args.opts.proc_root, &procs);
	if (r == 0)
		r = build_ns(m, cfg, snap, &netstat);
	if (r == 0)
		r = build_procs(m, snap, &procs, cfg->top_processes);
	if (r == 0)
		r = build_ports(m, snap, cfg->top_ports);
	if (r == 0)
		r = build_findings(m, cfg, snap, &procs, netstat);
	free(netstat);
	ts_diagnose_procs_clear(&procs);
	return r;
}

int metrics_collect(struct metrics_config *cfg, bool quiet, struct metrics_history *hist,
		    struct metrics_model **ret)
{
	struct metrics_model *m = calloc(1, sizeof(*m));
	struct ts_snapshot *snap = NULL;
	struct ts_snapshot_status st;
	double start = now_s();
	int r;

	if (!m)
		return -ENOMEM;
	if (cfg->collector) {
		r = ts_collector_take(cfg->collector, &snap, &st);
		if (r < 0) {
			snap = NULL;
			m->err = r;
			if (!quiet)
				cli_snapshot_report_failure(&cfg->args, r, &st);
		} else if (!quiet) {
			cli_snapshot_report_notes(&cfg->args, snap);
		}
	} else if (quiet) {
		r = ts_snapshot_collect_status(&cfg->args.opts, &snap, &st);
		if (r < 0) {
			snap = NULL;
			m->err = r;
		}
	} else if (cli_snapshot_take(&cfg->args, &snap) < 0) {
		snap = NULL; /* said on stderr */
		m->err = -EIO;
	}
	if (snap) {
		r = fill(m, cfg, snap);
		if (cfg->collector)
			ts_collector_recycle(cfg->collector, snap);
		else
			ts_snapshot_free(snap);
		if (r < 0) {
			metrics_model_free(m);
			return r;
		}
		m->ok = true;
		metrics_trace_sync(cfg, m, start);
		if (hist) {
			r = history_update(hist, m, now_s());
			if (r < 0) {
				metrics_model_free(m);
				return r;
			}
		}
	}
	m->duration_s = now_s() - start;
	*ret = m;
	return 0;
}

struct metrics_model *metrics_model_free(struct metrics_model *m)
{
	if (!m)
		return NULL;
	free(m->ns);
	free(m->procs);
	free(m->ports);
	free(m);
	return NULL;
}
