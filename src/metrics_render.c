/* SPDX-License-Identifier: MIT */
/*
 * The exposition of a metrics model: Prometheus text format 0.0.4, or
 * OpenMetrics 1.0 (a counter's family is named without "_total" in its
 * HELP and TYPE lines, the exposition ends with "# EOF").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_transitions.h"
#include "term_safe.h"
#include "tcpstate/procinfo.h"

#define LABEL_MAX 512

struct render {
	struct metrics_buf *b;
	enum metrics_format f;
};

static void family(struct render *r, const char *name, const char *type, const char *help)
{
	metrics_family(r->b, r->f, name, type, help);
}

static void value(struct render *r, double v)
{
	metrics_value(r->b, v);
}

/* metrics_label_value() returning its buffer, for printf arguments. */
static const char *label(char *buf, size_t size, const char *s)
{
	metrics_label_value(buf, size, s);
	return buf;
}
#define LV(s) label((char[LABEL_MAX * 2]){ 0 }, LABEL_MAX * 2, (s))

static void states_per_ns(struct render *r, const struct metrics_model *m)
{
	family(r, "tcpstate_sockets", "gauge",
	       "TCP sockets per network namespace and state (all 13 states, zero included; UNKNOWN "
	       "only when some held socket could not be classified)");
	for (size_t i = 0; i < m->n_ns; i++) {
		const struct metrics_ns *ns = &m->ns[i];

		for (unsigned s = 0; s < _TS_STATE_MAX; s++) {
			if (s == TS_STATE_UNKNOWN && !ns->states[s])
				continue;
			metrics_printf(r->b, "tcpstate_sockets{netns=\"%s\",netns_inode=\"%" PRIu64 "\",container=\"%s\",unit=\"%s\",state=\"%s\"}",
				LV(ns->name), ns->inode, LV(ns->container), LV(ns->unit),
				ts_state_name((enum ts_state)s));
			value(r, ns->states[s]);
		}
	}
}

static void proc_labels(struct render *r, const char *metric, const struct metrics_model *m,
			const struct metrics_proc *p)
{
	metrics_printf(r->b, "%s{netns=\"%s\",pid=\"%d\",comm=\"%s\",unit=\"%s\",container=\"%s\"",
		metric, LV(m->ns[p->netns_index].name), (int)p->pid, LV(p->comm), LV(p->unit),
		LV(p->container));
}

static void processes(struct render *r, const struct metrics_model *m, const struct metrics_config *cfg)
{
	char help[512];
	uint32_t other[METRICS_N_CLOSING] = { 0 };

	if (!m->owners_known)
		return;
	snprintf(help, sizeof(help),
		 "Sockets in each closing state held by a process, per network namespace; the %u "
		 "processes with the most CLOSE_WAIT (then closing) sockets have their own series "
		 "(--top-processes), the rest are summed into pid=\"other\"", cfg->top_processes);
	family(r, "tcpstate_process_sockets", "gauge", help);
	for (size_t i = 0; i < m->n_procs; i++) {
		const struct metrics_proc *p = &m->procs[i];

		for (int k = 0; k < METRICS_N_CLOSING; k++) {
			if (i >= m->n_procs_shown) {
				other[k] += p->closing[k];
				continue;
			}
			proc_labels(r, "tcpstate_process_sockets", m, p);
			metrics_printf(r->b, ",state=\"%s\"}", ts_state_name(ts_held_closing_states[k]));
			value(r, p->closing[k]);
		}
	}
	for (int k = 0; k < METRICS_N_CLOSING; k++) {
		metrics_printf(r->b, "tcpstate_process_sockets{netns=\"\",pid=\"other\",comm=\"\",unit=\"\",container=\"\",state=\"%s\"}",
			ts_state_name(ts_held_closing_states[k]));
		value(r, other[k]);
	}
	family(r, "tcpstate_processes_folded", "gauge",
	       "Processes holding closing sockets that have no series of their own (--top-processes): "
	       "their sockets are in pid=\"other\"");
	metrics_printf(r->b, "tcpstate_processes_folded");
	value(r, (double)(m->n_procs - m->n_procs_shown));

	family(r, "tcpstate_process_open_files", "gauge",
	       "Open file descriptors of a process of tcpstate_process_sockets (its own series only)");
	for (size_t i = 0; i < m->n_procs_shown; i++)
		if (m->procs[i].has_fds) {
			proc_labels(r, "tcpstate_process_open_files", m, &m->procs[i]);
			metrics_printf(r->b, "}");
			value(r, m->procs[i].fd_count);
		}
	family(r, "tcpstate_process_open_files_limit", "gauge",
	       "RLIMIT_NOFILE (soft) of a process of tcpstate_process_sockets; +Inf: unlimited");
	for (size_t i = 0; i < m->n_procs_shown; i++)
		if (m->procs[i].has_nofile) {
			proc_labels(r, "tcpstate_process_open_files_limit", m, &m->procs[i]);
			metrics_printf(r->b, "}");
			if (m->procs[i].nofile_soft == TS_PROCINFO_UNLIMITED)
				metrics_printf(r->b, " +Inf\n");
			else
				value(r, (double)m->procs[i].nofile_soft);
		}
	family(r, "tcpstate_process_close_wait_oldest_seconds", "gauge",
	       "Age of the process's oldest CLOSE_WAIT socket, a lower bound: the time since the "
	       "peer last sent anything (tcp_info), which its FIN was at the latest; no series "
	       "without tcp_info");
	for (size_t i = 0; i < m->n_procs_shown; i++)
		if (m->procs[i].has_age && m->procs[i].closing[0]) {
			proc_labels(r, "tcpstate_process_close_wait_oldest_seconds", m, &m->procs[i]);
			metrics_printf(r->b, "}");
			value(r, (double)m->procs[i].oldest_close_wait_ms / 1000.0);
		}
	family(r, "tcpstate_process_close_wait_growth_per_second", "gauge",
	       "Change of the process's CLOSE_WAIT sockets per second since the exporter's previous "
	       "snapshot (negative: it closed some); exporter only, from its second snapshot on");
	for (size_t i = 0; i < m->n_procs_shown; i++)
		if (m->procs[i].has_growth) {
			proc_labels(r, "tcpstate_process_close_wait_growth_per_second", m, &m->procs[i]);
			metrics_printf(r->b, "}");
			value(r, m->procs[i].growth_per_s);
		}
}

static void ports(struct render *r, const struct metrics_model *m, const struct metrics_config *cfg)
{
	uint32_t other[_TS_STATE_MAX] = { 0 };
	char help[512];

	snprintf(help, sizeof(help),
		 "TCP sockets per local listening port and state (the listeners and the connections "
		 "on their port); the %u ports with the most sockets have their own series "
		 "(--top-ports), the rest are summed into port=\"other\"", cfg->top_ports);
	family(r, "tcpstate_port_sockets", "gauge", help);
	for (size_t i = 0; i < m->n_ports; i++) {
		const struct metrics_port *p = &m->ports[i];

		for (unsigned s = 0; s < TS_STATE_COUNT; s++) {
			if (i >= m->n_ports_shown) {
				other[s] += p->states[s];
				continue;
			}
			metrics_printf(r->b, "tcpstate_port_sockets{netns=\"%s\",port=\"%u\",state=\"%s\"}",
				LV(m->ns[p->netns_index].name), p->port, ts_state_name((enum ts_state)s));
			value(r, p->states[s]);
		}
	}
	for (unsigned s = 0; s < TS_STATE_COUNT; s++) {
		metrics_printf(r->b, "tcpstate_port_sockets{netns=\"\",port=\"other\",state=\"%s\"}",
			ts_state_name((enum ts_state)s));
		value(r, other[s]);
	}
	family(r, "tcpstate_ports_folded", "gauge",
	       "Listening ports that have no series of their own (--top-ports): their sockets are "
	       "in port=\"other\"");
	metrics_printf(r->b, "tcpstate_ports_folded");
	value(r, (double)(m->n_ports - m->n_ports_shown));
}

static void findings(struct render *r, const struct metrics_model *m)
{
	family(r, "tcpstate_findings", "gauge",
	       "Findings of tcpstate doctor (default thresholds, one look) by severity and kind; "
	       "pid-based rules only when owners were scanned");
	for (int s = _TS_SEVERITY_MAX - 1; s >= 0; s--)
		for (int k = 0; k < _TS_FINDING_MAX; k++) {
			metrics_printf(r->b, "tcpstate_findings{severity=\"%s\",kind=\"%s\"}",
				ts_severity_name((enum ts_severity)s),
				ts_finding_kind_id((enum ts_finding_kind)k));
			value(r, m->findings[s][k]);
		}
}

static void sysctls(struct render *r, const struct metrics_model *m)
{
	family(r, "tcpstate_sysctl", "gauge",
	       "Kernel settings that govern TCP states, per network namespace, read from its own "
	       "/proc/sys (no series when unreadable); ip_local_port_range has field=\"low\" and \"high\"");
	for (size_t i = 0; i < m->n_ns; i++) {
		const struct metrics_ns *ns = &m->ns[i];

		if (!ns->have_sysctls)
			continue;
		for (int id = 0; id < _TS_DS_MAX; id++) {
			const char *name = ts_diagnose_sysctl_name((enum ts_diagnose_sysctl)id);

			if (ns->sysctls.err[id] < 0)
				continue;
			if (id == TS_DS_PORT_RANGE) {
				metrics_printf(r->b, "tcpstate_sysctl{netns=\"%s\",sysctl=\"%s\",field=\"low\"}",
					LV(ns->name), name);
				value(r, (double)ns->sysctls.value[id]);
				metrics_printf(r->b, "tcpstate_sysctl{netns=\"%s\",sysctl=\"%s\",field=\"high\"}",
					LV(ns->name), name);
				value(r, (double)ns->sysctls.value2[id]);
				continue;
			}
			metrics_printf(r->b, "tcpstate_sysctl{netns=\"%s\",sysctl=\"%s\"}", LV(ns->name), name);
			value(r, (double)ns->sysctls.value[id]);
		}
	}
}

/* A gauge with one series per choice: 1 for the one that ran, 0 for the others. */
static void one_of(struct render *r, const char *name, const char *const *choices, size_t n,
		   const char *chosen)
{
	for (size_t i = 0; i < n; i++) {
		metrics_printf(r->b, "%s{source=\"%s\"}", name, choices[i]);
		value(r, strcmp(choices[i], chosen) == 0);
	}
}

static void self(struct render *r, const struct metrics_model *m)
{
	static const char *const sources[] = { "bpf", "proc", "none" };
	static const char *const socket_sources[] = { "bpf", "netlink", "procfs" };

	family(r, "tcpstate_scrape_success", "gauge",
	       "1 when the snapshot behind this exposition was taken, 0 when it failed (then only "
	       "these tcpstate_scrape_* and tcpstate_snapshots_total series are given)");
	metrics_printf(r->b, "tcpstate_scrape_success");
	value(r, m->ok);
	family(r, "tcpstate_scrape_duration_seconds", "gauge",
	       "Time taken by the snapshot, diagnosis and process facts behind this exposition "
	       "(shared by scrapes that arrived while it ran)");
	metrics_printf(r->b, "tcpstate_scrape_duration_seconds");
	value(r, m->duration_s);
	family(r, "tcpstate_scrape_errors_total", "counter", "Snapshots that failed since the exporter started");
	metrics_printf(r->b, "tcpstate_scrape_errors_total");
	value(r, (double)m->scrape_errors);
	family(r, "tcpstate_snapshots_total", "counter",
	       "Snapshots taken since the exporter started (concurrent scrapes share one)");
	metrics_printf(r->b, "tcpstate_snapshots_total");
	value(r, (double)m->collections);
	if (!m->ok)
		return;
	family(r, "tcpstate_owner_source", "gauge",
	       "Where the socket owners came from: bpf (iter/task_file), proc (/proc/PID/fd) or none; "
	       "1 for the one that ran");
	one_of(r, "tcpstate_owner_source", sources, sizeof(sources) / sizeof(sources[0]),
	       m->owner_source);
	family(r, "tcpstate_socket_source", "gauge",
	       "Where the sockets came from: bpf (iter/tcp, the exporter's default), netlink "
	       "(sock_diag) or procfs (/proc/net/tcp); 1 for the one that ran");
	one_of(r, "tcpstate_socket_source", socket_sources,
	       sizeof(socket_sources) / sizeof(socket_sources[0]), m->socket_source);
	family(r, "tcpstate_netns_denied", "gauge",
	       "Network namespaces found but not entered (no privilege): their sockets are missing");
	metrics_printf(r->b, "tcpstate_netns_denied");
	value(r, m->netns_denied);
}

int metrics_render(const struct metrics_model *m, const struct metrics_config *cfg,
		   enum metrics_format f, struct metrics_buf *b)
{
	struct render r = { b, f };

	if (m->ok) {
		states_per_ns(&r, m);
		processes(&r, m, cfg);
		ports(&r, m, cfg);
		findings(&r, m);
		sysctls(&r, m);
		if (cfg->transitions)
			metrics_transitions_render(cfg->transitions, f, b);
	}
	self(&r, m);
	if (f == METRICS_OPENMETRICS)
		metrics_printf(b, "# EOF\n");
	return b->err;
}
