/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Rules over a snapshot: what is stuck, who holds it, why, and what to do.
 * Findings are data (numbers, pids, ports, addresses and static texts);
 * the CLI renders them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "tcpstate/listener.h"
#include "tcpstate/netstat.h"
#include "tcpstate/procinfo.h"
#include "tcpstate/snapshot.h"
#include "tcpstate/state.h"
#include "tcpstate/sysctl_registry.h"

struct ts_sysctl;

enum ts_severity {
	TS_SEVERITY_INFO,
	TS_SEVERITY_WARNING,
	TS_SEVERITY_CRITICAL,
	_TS_SEVERITY_MAX,
};

/* "info", "warning", "critical"; NULL out of range. */
const char *ts_severity_name(enum ts_severity sev);
/* Parses those names (any case). Returns 0 or -EINVAL. */
int ts_severity_parse(const char *s, enum ts_severity *ret);

/*
 * The settings the rules compare against: a subset of the registry
 * (tcpstate/sysctl_registry.h), in the order findings list them;
 * ts_diagnose_sysctl_id() maps one to its registry row.
 */
enum ts_diagnose_sysctl {
	TS_DS_FIN_TIMEOUT,      /* TS_SYSCTL_TCP_FIN_TIMEOUT */
	TS_DS_ORPHAN_RETRIES,   /* TS_SYSCTL_TCP_ORPHAN_RETRIES */
	TS_DS_RETRIES2,         /* TS_SYSCTL_TCP_RETRIES2 */
	TS_DS_MAX_TW_BUCKETS,   /* TS_SYSCTL_TCP_MAX_TW_BUCKETS */
	TS_DS_TW_REUSE,         /* TS_SYSCTL_TCP_TW_REUSE */
	TS_DS_PORT_RANGE,       /* TS_SYSCTL_IP_LOCAL_PORT_RANGE: value = low, value2 = high */
	TS_DS_MAX_SYN_BACKLOG,  /* TS_SYSCTL_TCP_MAX_SYN_BACKLOG */
	TS_DS_SYNCOOKIES,       /* TS_SYSCTL_TCP_SYNCOOKIES */
	TS_DS_SOMAXCONN,        /* TS_SYSCTL_SOMAXCONN */
	TS_DS_SYN_RETRIES,      /* TS_SYSCTL_TCP_SYN_RETRIES */
	TS_DS_SYNACK_RETRIES,   /* TS_SYSCTL_TCP_SYNACK_RETRIES */
	_TS_DS_MAX,
};

/* The registry's id of a setting; _TS_SYSCTL_ID_MAX out of range. */
enum ts_sysctl_id ts_diagnose_sysctl_id(enum ts_diagnose_sysctl id);
/* Dotted name of a setting (the registry's); NULL out of range. */
const char *ts_diagnose_sysctl_name(enum ts_diagnose_sysctl id);

/* Values of the settings of one namespace; err[id] < 0 when it could not be read. */
struct ts_diagnose_sysctls {
	int64_t value[_TS_DS_MAX];
	int64_t value2[_TS_DS_MAX];
	int err[_TS_DS_MAX];
};

/* Marks every setting unavailable with err (e.g. -ENOENT when the namespace could not be opened). */
void ts_diagnose_sysctls_unavailable(struct ts_diagnose_sysctls *v, int err);

/*
 * Reads every setting through s (see tcpstate/sysctl.h). Never fails as a
 * whole: a setting that cannot be read has its err set.
 */
void ts_diagnose_sysctls_read(struct ts_sysctl *s, struct ts_diagnose_sysctls *ret);

/* The default minimum age of CLOSE_WAIT evidence: a healthy server closes within
 * milliseconds of reading end-of-file; one that has not after 2 s is not closing. */
#define TS_DIAG_MIN_AGE_DEFAULT_S 2u

struct ts_diagnose_thresholds {
	/* CLOSE_WAIT younger than this (seconds; tcp_info's lower bound of the time since the
	 * peer's FIN) is a program in the middle of closing, not evidence of a leak (2; 0: any) */
	uint32_t min_age_s;
	uint32_t close_wait_min;       /* CLOSE_WAIT (old enough) per holding process set for a warning (1) */
	uint32_t close_wait_critical;  /* sockets a process holds in CLOSE_WAIT (old enough) and
					* CLOSED together for critical (100) */
	uint32_t fd_critical_pct;      /* open fds >= this % of RLIMIT_NOFILE: critical (80) */
	uint32_t leak_critical_s;      /* fds run out sooner than this: critical (3600) */
	uint32_t dead_min;             /* CLOSED fds per process for a warning (1) */
	uint32_t fin_wait_2_min;       /* owned FIN_WAIT_2 per peer for a warning (1) */
	uint32_t orphan_fin_wait_2_min;/* orphaned FIN_WAIT_2 for a warning (100) */
	uint32_t unacked_min;          /* LAST_ACK/FIN_WAIT_1/CLOSING per remote address for a warning (10) */
	uint32_t time_wait_pct;        /* TIME_WAIT >= this % of tcp_max_tw_buckets: warning (50) */
	uint32_t port_pct;             /* TIME_WAIT to one ip:port >= this % of the local port range: warning (50) */
	uint32_t accept_pct;           /* accept queue >= this % of the backlog: warning (80); full: critical */
	uint32_t syn_backlog_pct;      /* SYN_RECEIVED >= this % of the limit: warning (75) */
	uint32_t syn_sent_min;         /* SYN_SENT retransmitting to one destination for a warning (1) */
	/* CLOSE_WAIT idle this long (seconds) with nothing queued counts as abandoned: the close
	 * commands printed ask close for it (--min-idle) and select only those (TS_MIN_IDLE_DEFAULT_S) */
	uint32_t close_min_idle_s;
};

void ts_diagnose_thresholds_default(struct ts_diagnose_thresholds *t);

/* Process facts for the pids of a snapshot; sorted by pid. */
struct ts_diagnose_procs {
	struct ts_procinfo *v;
	size_t n;
};

/*
 * Reads ts_procinfo_read() for every process of snap (proc_root NULL: /proc).
 * Processes that vanished are left out. Returns 0 or -ENOMEM; free with
 * ts_diagnose_procs_clear().
 */
int ts_diagnose_procs_collect(const struct ts_snapshot *snap, const char *proc_root,
			  struct ts_diagnose_procs *ret);
void ts_diagnose_procs_clear(struct ts_diagnose_procs *p);
/* The facts of pid, or NULL. */
const struct ts_procinfo *ts_diagnose_procs_find(const struct ts_diagnose_procs *p, pid_t pid);

struct ts_diagnose_input {
	const struct ts_snapshot *snap;
	const struct ts_diagnose_procs *procs;    /* NULL: no process facts */
	/* Settings per namespace of snap (index = netns_index); NULL or
	 * fewer entries: unavailable. */
	const struct ts_diagnose_sysctls *sysctls;
	size_t n_sysctls;
	/* The kernel's counters per namespace of snap (index = netns_index; an
	 * entry with have 0 was not readable); NULL or fewer entries: none. */
	const struct ts_netstat *netstat;
	size_t n_netstat;
	/* Facts read from listeners (ts_listener_facts_collect()); NULL: none. */
	const struct ts_listener_facts *listeners;
	/* Optional second look, interval_s seconds after snap. */
	const struct ts_snapshot *later;
	const struct ts_diagnose_procs *procs_later;
	double interval_s;
	const struct ts_diagnose_thresholds *thresholds; /* NULL: defaults */
};

enum ts_finding_kind {
	TS_FINDING_CLOSE_WAIT,         /* a program holds CLOSE_WAIT sockets */
	TS_FINDING_LEAK,               /* CLOSE_WAIT / fds growing between two looks */
	TS_FINDING_DEAD_HELD,          /* CLOSED (and IDLE) fds held open */
	TS_FINDING_FIN_WAIT_2_PEER,    /* the peer program has not closed */
	TS_FINDING_FIN_WAIT_2_ORPHAN,  /* orphans waiting for tcp_fin_timeout */
	TS_FINDING_UNACKED_CLOSE,      /* LAST_ACK / FIN_WAIT_1 / CLOSING to a silent peer */
	TS_FINDING_TIME_WAIT_BUCKETS,  /* TIME_WAIT vs tcp_max_tw_buckets */
	TS_FINDING_TIME_WAIT_PORTS,    /* TIME_WAIT to one ip:port vs the local port range */
	TS_FINDING_ACCEPT_QUEUE,       /* a listener's accept queue near or at its backlog */
	TS_FINDING_SYN_BACKLOG,        /* SYN_RECEIVED piling up on a listener */
	TS_FINDING_SYN_SENT,           /* connects retransmitting SYNs to one destination */
	TS_FINDING_DEFER_ACCEPT,       /* SYN_RECEIVED held by a listener's TCP_DEFER_ACCEPT */
	_TS_FINDING_MAX,
};

/* Stable identifier ("close-wait", "leak", ...); NULL out of range. */
const char *ts_finding_kind_id(enum ts_finding_kind kind);

/*
 * A group of sockets inside a finding, by their stable end: a server's
 * accepted sockets by local port (and remote address), a client's by the
 * remote address and port it talks to (local_port 0).
 */
struct ts_finding_group {
	uint8_t family;
	bool client;            /* grouped by the remote end: no listener on the local port */
	uint16_t local_port;
	struct in6_addr remote_addr;
	uint16_t remote_port;   /* 0: any */
	uint32_t count;
	uint64_t unread_bytes;
	uint32_t resets;        /* DEAD_HELD: CLOSED sockets the peer reset (ECONNRESET not yet
				 * reported to the program; known with the BPF owner source) */
};

/* What made a finding's severity (the rules in `tcpstate doctor --help`). */
enum ts_severity_reason {
	TS_SEV_REASON_RULE,        /* the rule's own threshold (count, share of a limit) */
	TS_SEV_REASON_HELD,        /* a holder has >= close_wait_critical CLOSE_WAIT + CLOSED sockets */
	TS_SEV_REASON_FD_LIMIT,    /* a holder's open fds >= fd_critical_pct of RLIMIT_NOFILE */
	TS_SEV_REASON_FD_ETA,      /* LEAK: fds run out within leak_critical_s */
};

struct ts_finding {
	enum ts_severity severity;
	enum ts_severity_reason severity_reason;
	uint64_t held_stale;          /* HELD: CLOSE_WAIT (old enough) + CLOSED sockets of the
				       * holder that made it critical (pid severity_pid) */
	pid_t severity_pid;
	enum ts_finding_kind kind;
	enum ts_state state;          /* the state concerned (the main one) */
	uint32_t netns_index;
	const char *title;            /* static, one line */
	const char *explanation;      /* static */
	const char *advice;           /* static */

	/* Evidence; which fields mean something depends on kind (see the has_* flags). */
	uint64_t count;               /* sockets (CLOSE_WAIT: at least min_age_s old) */
	uint64_t young;               /* CLOSE_WAIT: sockets of the same holders younger than min_age_s */
	uint32_t min_age_s;           /* CLOSE_WAIT, LEAK: the minimum age applied */
	uint64_t unknown_age;         /* CLOSE_WAIT: sockets counted without tcp_info (age unknown) */
	uint64_t kept;                /* LEAK: sockets counted in the first look still held in the second */
	uint32_t state_counts[_TS_STATE_MAX]; /* per state, when several (UNACKED_CLOSE, DEAD_HELD) */
	uint64_t unread_bytes;        /* CLOSE_WAIT: Recv-Q less the FIN */
	uint64_t eof_read;            /* CLOSE_WAIT: sockets whose end-of-file the program already read (Recv-Q 0) */
	uint64_t closable;            /* CLOSE_WAIT: sockets abandoned for close_min_idle_s (ts_socket_idle_verdict()) */
	uint32_t close_min_idle_s;    /* CLOSE_WAIT: the idle time closable was judged by */
	bool has_busy;                /* CLOSE_WAIT: busy_idle_ms means something */
	uint64_t busy_idle_ms;        /* CLOSE_WAIT: idle time of the most recently used of the others */
	bool has_age;
	uint64_t age_min_ms;          /* the longest time since a socket's peer sent anything
				       * (ts_socket_peer_silence_ms()): at least the time in CLOSE_WAIT
				       * (since the FIN) or FIN_WAIT_2 (since the ACK of ours); in
				       * LAST_ACK/FIN_WAIT_1/CLOSING it may predate the state */
	uint64_t limit;               /* the number count is compared with (backlog, buckets, port range) */
	int limit_err;                /* < 0: the limit could not be read */
	uint32_t max_retransmits;
	bool has_rate;
	double rate_per_s;            /* LEAK: CLOSE_WAIT growth */
	double fd_rate_per_s;         /* LEAK: fd growth (0 when unknown) */
	uint64_t count_before;        /* LEAK: CLOSE_WAIT in the first look */
	bool has_eta;
	double seconds_to_limit;      /* LEAK: until RLIMIT_NOFILE at this rate */

	/* Culprit */
	pid_t pid;                    /* 0: none (orphans, or a remote culprit) */
	char comm[16];
	bool has_proc;
	struct ts_procinfo proc;
	pid_t *pids;                  /* the holding processes, parent first (oldest start time) */
	size_t n_pids;
	size_t pids_omitted;          /* holders beyond the list's bound (64), counted */
	int *fds;                     /* of pid, sorted */
	size_t n_fds;
	uint16_t local_port;          /* 0: several or none */
	uint8_t family;
	bool has_remote;
	struct in6_addr remote_addr;
	uint16_t remote_port;         /* 0: any port */
	pid_t peer_pid;               /* FIN_WAIT_2: the local process holding the peer end, 0 when not here */
	char peer_comm[16];
	uint64_t peer_linked;         /* FIN_WAIT_2 orphans: sockets whose peer end is a CLOSE_WAIT
				       * socket held by a local process (peer_pid: the first such) */
	struct ts_finding_group *groups; /* sorted by count, largest first */
	size_t n_groups;
	bool groups_capped;           /* more groups than the bound (256): the rest are counted only */
	uint64_t ungrouped;           /* sockets in groups past the bound (count stays complete) */

	/* SYN_BACKLOG, DEFER_ACCEPT: the listener's TCP_DEFER_ACCEPT in seconds (0: off), valid
	 * when defer_accept_err is 0 (-ENOENT: no listener or holder known, -EPERM: not allowed) */
	uint32_t defer_accept_s;
	int defer_accept_err;
	uint32_t netstat_mask;        /* bits (1u << enum ts_netstat_counter) cited as evidence */
	struct ts_netstat netstat;    /* the namespace's counters (those in netstat_mask are valid) */
	uint32_t sysctl_mask;         /* bits (1u << enum ts_diagnose_sysctl) that govern this finding */
	struct ts_diagnose_sysctls sysctls; /* copy for the namespace */
};

struct ts_diagnosis {
	struct ts_finding *findings;  /* worst first */
	size_t n_findings;
	uint32_t state_counts[_TS_STATE_MAX]; /* of the (first) snapshot */
	bool owners_known;            /* the snapshot has owners (pid-based rules ran) */
	bool has_interval;
};

/*
 * Runs every rule. Returns 0 or -ENOMEM, -EINVAL (no snapshot, or a later
 * snapshot without a positive interval). *ret is set only on success;
 * free with ts_diagnosis_free().
 */
int ts_diagnose(const struct ts_diagnose_input *in, struct ts_diagnosis **ret);

/* Accepts NULL; returns NULL. */
struct ts_diagnosis *ts_diagnosis_free(struct ts_diagnosis *d);

/* The number of findings at or above sev. */
size_t ts_diagnosis_count_at_least(const struct ts_diagnosis *d, enum ts_severity sev);
