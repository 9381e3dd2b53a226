/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Tracing TCP state changes as they happen (BPF: a tracepoint and fentry
 * hooks, a ring buffer), with the process and fd that hold each socket and
 * the time it spent in the state it leaves.
 *
 * Times are CLOCK_MONOTONIC nanoseconds (the kernel's bpf_ktime_get_ns()).
 * The library never prints; the caller polls and renders.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "tcpstate/filter.h"
#include "tcpstate/snapshot.h"
#include "tcpstate/socket.h"
#include "tcpstate/state.h"

/* What the BPF program hooks; each is served by the first of its
 * alternatives that loads here (ts_trace_hook_where()). */
enum ts_trace_hook {
	TS_TRACE_HOOK_STATE,    /* every state change of a full socket (required) */
	TS_TRACE_HOOK_TW_ENTER, /* the hand-over to a timewait socket: TIME_WAIT entry */
	TS_TRACE_HOOK_TW_END,   /* the end of a timewait socket */
	TS_TRACE_HOOK_BIND,     /* bind(): IDLE -> BOUND */
	TS_TRACE_HOOK_HOLD,     /* fd install: which process and fd hold a socket */
	TS_TRACE_HOOK_DESTROY,  /* a socket's destruction: what was known of it is forgotten
				 * (without it, sockets closed while IDLE, BOUND or CLOSED
				 * stay followed, up to a bound) */
	_TS_TRACE_HOOK_MAX,
};

/* "state changes", "TIME_WAIT entry", ...; NULL out of range. */
const char *ts_trace_hook_name(enum ts_trace_hook h);

enum ts_trace_holder {
	TS_TRACE_HOLDER_PROCESS, /* pid, fd, comm are set */
	TS_TRACE_HOLDER_ORPHAN,  /* no process holds it (closed, or a timewait socket) */
	TS_TRACE_HOLDER_UNKNOWN, /* held, but by whom is not known: the fd was made by a
				  * path the trace does not see (dup, fork, SCM_RIGHTS, io_uring
				  * without fentry) and the owner scan that follows (at most
				  * once per TS_TRACE_RESCAN_MS) had not run or did not find it */
};

/* How well the time in the old state is known. */
enum ts_trace_age {
	TS_TRACE_AGE_NONE,     /* not known (the socket is new, or was never seen before) */
	TS_TRACE_AGE_EXACT,    /* the state was entered during the trace */
	TS_TRACE_AGE_AT_LEAST, /* entered before the trace: a lower bound (tcp_info's last
				* send/receive/ACK times, the TIME_WAIT timer, or the trace's
				* own start) */
};

struct ts_trace_socket {
	uint64_t cookie;         /* 0: not known */
	uint64_t inode;          /* 0: none (orphan, timewait) or not known */
	uint64_t netns_inode;
	struct in6_addr local_addr; /* IPv4: first 4 bytes */
	struct in6_addr remote_addr;
	uint16_t local_port;     /* 0: none yet (connect() picks it after SYN_SENT) */
	uint16_t remote_port;
	uint8_t family;
	enum ts_trace_holder holder;
	pid_t pid;
	int fd;
	char comm[TS_COMM_LEN];
};

struct ts_trace_event {
	uint64_t mono_ns;
	struct ts_trace_socket sock;
	bool born;               /* a new socket: old_state means nothing */
	bool ended;              /* the socket is gone after this (CLOSED and orphaned,
				  * or a timewait socket's end) */
	bool polled;             /* a TIME_WAIT end noticed by polling (no kernel hook for
				  * it here): mono_ns is when it was noticed, up to
				  * TS_TRACE_TW_POLL_MS after the end at its timer, up to
				  * TS_TRACE_TW_DUMP_MS after an early end */
	bool reused;             /* a TIME_WAIT end: a new connection has its 4-tuple (the
				  * kernel ends a timewait socket for one: connect() with
				  * tcp_tw_reuse or from a bound port, a new SYN to it; or it
				  * had ended before, freeing the tuple); mono_ns is that
				  * connection's first change seen: the latest the end was */
	enum ts_state old_state;
	enum ts_state new_state;
	enum ts_trace_age age;   /* of the time in old_state */
	uint64_t in_old_ns;
};

/* At most how often the owners of every process are scanned again for a
 * socket whose holder is not known. */
#define TS_TRACE_RESCAN_MS 1000

/* How often TIME_WAIT sockets are polled when no hook shows their end: each
 * is looked up by its 4-tuple once its timer is due (every TS_TRACE_TW_POLL_MS),
 * and a dump finds the early ends (an RST; every TS_TRACE_TW_DUMP_MS). */
#define TS_TRACE_TW_POLL_MS 1000
#define TS_TRACE_TW_DUMP_MS 10000

struct ts_trace_opts {
	const struct ts_filter *filter; /* NULL: everything. Ports in the kernel;
					 * states (old or new), addresses, --pid,
					 * --comm (the holder) when events are read */
	const char *netns;              /* NULL: the caller's */
	bool all_netns;
	bool no_summary;                /* nothing is kept for ts_trace_summary_get() (which
					 * then fails with -ENODATA): a daemon that only
					 * reads events keeps its memory flat */
};

struct ts_trace;

/*
 * Attaches the BPF program, then takes a snapshot of the selected
 * namespaces (owners, tcp_info) to seed sockets older than the trace.
 * Returns 0, -EOPNOTSUPP (no BPF in this build, no kernel BTF, or no
 * alternative of the state hook loads: ret_status says which), -EPERM (no
 * CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN), an error of ts_netns_lookup()
 * or of ts_snapshot_collect(), -ENOMEM. *ret_status is always filled
 * (failure NONE on success). *ret only on success.
 */
int ts_trace_open(const struct ts_trace_opts *opts, struct ts_trace **ret,
		  struct ts_bpf_status *ret_status);

/* The attach point serving hook h ("tp_btf/inet_sock_set_state"), NULL
 * when none of its alternatives loaded (its events are missing). */
const char *ts_trace_hook_where(const struct ts_trace *t, enum ts_trace_hook h);

/* CLOCK_MONOTONIC ns when the start snapshot was taken. */
uint64_t ts_trace_start_ns(const struct ts_trace *t);

/* Names a namespace of an event ("init", a /run/netns name, "net:[INODE]"). */
const char *ts_trace_netns_name(const struct ts_trace *t, uint64_t netns_inode);

typedef int (*ts_trace_event_cb)(const struct ts_trace_event *ev, void *userdata);

/*
 * Waits up to timeout_ms (-1: until something comes) and delivers the
 * selected events read, in order, to cb; a negative return of cb stops and
 * is returned. Returns the number of records read (selected or not),
 * -EINTR (a signal), or another negative errno. The kernel queues events and
 * wakes the reader for batches: an event is delivered up to 100 ms after it
 * happened when few come.
 */
int ts_trace_poll(struct ts_trace *t, int timeout_ms, ts_trace_event_cb cb, void *userdata);

/*
 * Drains what the kernel has queued already (at most what its ring buffer
 * holds), without waiting: for the end of a trace, so that the changes made
 * before the stop are delivered. Then, once, checks the sockets followed
 * against the kernel's: those gone before their end was seen count as lost
 * (never_seen). Same returns as ts_trace_poll().
 */
int ts_trace_drain(struct ts_trace *t, ts_trace_event_cb cb, void *userdata);

/* What the trace lost since the start. Never silent: every way an event can
 * be lost is counted in one of these. */
struct ts_trace_loss {
	uint64_t events;         /* events lost, at most: events_dropped + events_skipped +
				  * events_unseen */
	uint64_t events_dropped; /* events (state changes, socket births) the ring buffer had
				  * no room for, of sockets the kernel part of the selection
				  * (namespace, ports) passed: exact unless --state, addresses or
				  * holders are selected too (then at most) */
	uint64_t events_skipped; /* state changes the kernel did not run the hook for (made in
				  * a softirq that interrupted it on the same CPU) and its backup
				  * program did not take: of any socket, an upper bound */
	uint64_t events_unseen;  /* changes the kernel ran no hook for at all, found out when
				  * the socket was destroyed, or its address taken by a new
				  * one, before its end was seen: at most as many as its last
				  * state allows (FIN_WAIT_1: 2) */
	uint64_t other_records;  /* holder and destruction records lost: no event is missing
				  * for them, but a holder may show as not known */
};

/* Fills *ret. 0, or a negative errno when the kernel's counters could not be read. */
int ts_trace_loss_get(const struct ts_trace *t, struct ts_trace_loss *ret);

/* Events lost since the start, at most (struct ts_trace_loss's events): never silent. */
uint64_t ts_trace_lost(const struct ts_trace *t);

/* Time-in-state statistics of one group (a state, a process, a port). */
struct ts_trace_stat {
	uint64_t count;          /* transitions out of the state(s) */
	uint64_t at_least;       /* of which the time was only a lower bound (not in the
				  * percentiles), or not known */
	uint64_t exact;          /* in the percentiles (at most TS_TRACE_MAX_SAMPLES kept:
				  * sampled says when more came) */
	uint64_t p50_ns, p90_ns, p99_ns, max_ns; /* nearest rank; 0 when exact == 0 */
	bool sampled;
};

#define TS_TRACE_MAX_GROUPS 1024   /* processes or ports; the rest go to an "other" group */
#define TS_TRACE_MAX_SAMPLES (1u << 20) /* per group */
#define TS_TRACE_MAX_OPEN_LISTED 10     /* sockets still open listed per state */

struct ts_trace_stat_proc {
	enum ts_trace_holder holder; /* PROCESS: pid and comm; ORPHAN; UNKNOWN (also "other") */
	pid_t pid;
	char comm[TS_COMM_LEN];
	bool other;                  /* the groups past TS_TRACE_MAX_GROUPS */
	struct ts_trace_stat stat;
};

struct ts_trace_stat_port {
	uint16_t port;               /* local */
	bool other;
	struct ts_trace_stat stat;
};

struct ts_trace_open_sock {
	struct ts_trace_socket sock;
	enum ts_state state;
	enum ts_trace_age age;       /* EXACT or AT_LEAST */
	uint64_t age_ns;
};

struct ts_trace_summary {
	uint64_t duration_ns;        /* from the start snapshot to the summary */
	uint64_t events;             /* events delivered */
	uint64_t lost;               /* events lost, at most (loss.events) */
	struct ts_trace_stat per_state[TS_STATE_COUNT]; /* by the state left */
	struct ts_trace_stat_proc *procs; size_t n_procs; /* most transitions first */
	struct ts_trace_stat_port *ports; size_t n_ports; /* most transitions first */
	/* Sockets still in each state at the end: how many, and the oldest ones. */
	uint64_t open_count[TS_STATE_COUNT];
	struct ts_trace_open_sock *open[TS_STATE_COUNT]; /* oldest first */
	size_t n_open[TS_STATE_COUNT]; /* at most TS_TRACE_MAX_OPEN_LISTED */
	struct ts_trace_loss loss;   /* what lost is made of, and the other records lost */
};

/* The summary of what was delivered so far. 0, -ENOMEM, -ENODATA (opened with
 * no_summary). Free with ts_trace_summary_free(). */
int ts_trace_summary_get(struct ts_trace *t, struct ts_trace_summary **ret);
struct ts_trace_summary *ts_trace_summary_free(struct ts_trace_summary *s);

/* Accepts NULL; returns NULL. Detaches everything. */
struct ts_trace *ts_trace_free(struct ts_trace *t);

/* Whether this build has the trace program (not whether it will load). */
bool ts_trace_built(void);
