/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The metrics of `tcpstate exporter`, `metrics` and `check`: a model built
 * from the library's data (a snapshot of every namespace, ts_diagnose(), the
 * namespaces' settings, the holders' process facts) by metrics_collect.c,
 * and its exposition (Prometheus text 0.0.4 or OpenMetrics 1.0) written by
 * metrics_render.c, which knows nothing of the library beyond the model.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli_snapshot.h"
#include "metrics_exposition.h"
#include "tcpstate/collector.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/state.h"

/* Closing states counted per process: CLOSE_WAIT first (the program's bug). */
#define METRICS_N_CLOSING TS_HELD_CLOSING_COUNT /* in ts_held_closing_states order */

#define METRICS_TOP_PROCESSES_DEFAULT 20u
#define METRICS_TOP_PORTS_DEFAULT 20u
#define METRICS_TOP_MAX 10000u

struct metrics_ns {
	char name[64];        /* "init", a /run/netns name or "net:[INODE]" */
	uint64_t inode;
	char container[80];   /* of a process seen in it, "" when none or unknown */
	char unit[128];       /* its systemd unit (PrivateNetwork=, a scope), "" likewise */
	uint32_t states[_TS_STATE_MAX];
	bool have_sysctls;
	struct ts_diagnose_sysctls sysctls;
};

struct metrics_proc {
	pid_t pid;
	uint64_t start_ticks;
	uint32_t netns_index;
	char comm[16];
	char unit[128];
	char container[80];
	uint32_t closing[METRICS_N_CLOSING];
	uint32_t total;
	bool has_fds;
	uint32_t fd_count;
	bool has_nofile;
	uint64_t nofile_soft;     /* TS_PROCINFO_UNLIMITED: unlimited */
	bool has_age;
	uint64_t oldest_close_wait_ms; /* lower bound (tcp_info) */
	bool has_growth;
	double growth_per_s;      /* CLOSE_WAIT growth since the previous collection */
};

struct metrics_port {
	uint32_t netns_index;
	uint16_t port;
	uint32_t states[_TS_STATE_MAX];
	uint32_t total;
};

/* What one collection saw; the renderer's only input. */
struct metrics_model {
	bool ok;                   /* false: the collection failed, only the self metrics hold */
	int err;                   /* why (negative errno), when !ok */
	double duration_s;         /* how long the collection took */
	const char *owner_source;  /* "bpf", "proc" or "none" */
	const char *socket_source; /* cli_socket_source_name() */
	unsigned netns_denied;
	struct metrics_ns *ns;
	size_t n_ns;
	struct metrics_proc *procs; /* top first; [0, n_procs_shown) are shown */
	size_t n_procs, n_procs_shown;
	struct metrics_port *ports;
	size_t n_ports, n_ports_shown;
	bool owners_known;
	uint32_t findings[_TS_SEVERITY_MAX][_TS_FINDING_MAX];
	/* Worst finding, for `check`: its title and culprit. */
	bool has_worst;
	enum ts_severity worst_severity;
	char worst_text[256];
	/* Kept by the caller across collections (the daemon): */
	uint64_t scrape_errors;    /* collections that failed, since start */
	uint64_t collections;      /* collections taken, since start */
};

struct metrics_trace;
struct metrics_transitions;

struct metrics_config {
	struct cli_snapshot_args args;
	struct ts_diagnose_thresholds thresholds;
	unsigned top_processes;
	unsigned top_ports;
	/* The exporter's: kept between collections, so that the BPF owner program
	 * is loaded once (tcpstate/collector.h). NULL: each collection on its own. */
	struct ts_collector *collector;
	/* The exporter's transitions (metrics_trace.h): NULL for metrics and check,
	 * which have no time dimension. */
	bool no_transitions;
	struct metrics_trace *trace;
	struct metrics_transitions *transitions;
};

/* Per process CLOSE_WAIT counts of a collection, for the next one's growth. */
struct metrics_history {
	bool have;
	double at_s;              /* CLOCK_MONOTONIC */
	struct metrics_cw *v;     /* sorted by (pid, start_ticks, netns inode) */
	size_t n;
};

/*
 * Collects once. quiet: failures and notes after the first are not written
 * to stderr (the daemon's later scrapes; they are counted). hist (may be
 * NULL) gives growth since the previous collection and is updated.
 * Returns 0 with *ret filled (ret->ok false when the snapshot failed), or
 * -ENOMEM.
 */
int metrics_collect(struct metrics_config *cfg, bool quiet, struct metrics_history *hist,
		    struct metrics_model **ret);
struct metrics_model *metrics_model_free(struct metrics_model *m);
void metrics_history_clear(struct metrics_history *h);

/* Writes the exposition of m into b. Returns 0 or -ENOMEM / -EFBIG (b->max). */
int metrics_render(const struct metrics_model *m, const struct metrics_config *cfg,
		   enum metrics_format f, struct metrics_buf *b);

/* The options the three verbs share: --top-processes, --top-ports and the
 * doctor's thresholds (their long option names). */
enum {
	METRICS_OPT_TOP_PROCESSES = CLI_OPT_VERB + 32, /* the verbs' own ids start at CLI_OPT_VERB */
	METRICS_OPT_TOP_PORTS,
	METRICS_OPT_NO_TRANSITIONS, /* the exporter's only */
};
#define METRICS_LONG_OPTIONS                                                    \
	{ "top-processes", required_argument, NULL, METRICS_OPT_TOP_PROCESSES }, \
	{ "top-ports", required_argument, NULL, METRICS_OPT_TOP_PORTS }

void metrics_config_init(struct metrics_config *cfg);
/* Like cli_snapshot_option(): 1 handled, 0 not ours, -1 usage error (reported). */
int metrics_option(struct metrics_config *cfg, int opt, const char *arg);
/* After cli_snapshot_parse(): --json refused, --all-netns unless --netns. -1: usage error. */
int metrics_config_finish(struct metrics_config *cfg, const char *verb);

#define METRICS_HELP                                                                    \
	"Metrics:\n"                                                                    \
	"      --top-processes N  processes with their own series (default 20); the\n"  \
	"                         rest are summed into one pid=\"other\" series per state\n" \
	"      --top-ports N      listening ports with their own series (default 20);\n" \
	"                         the rest are summed into port=\"other\"\n"
