/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The lab: real sockets in chosen TCP states, built by the kernel's own
 * behaviour inside a throwaway network namespace.
 *
 * The caller (the supervisor) stays in its own namespace. ts_lab_start()
 * creates the namespace (visible to `ip netns`) and forks children that
 * enter it: a holder that builds and holds the sockets and, optionally, a
 * leaky server and its client. The children report what they built as
 * events on a pipe; ts_lab_free() tears everything down.
 *
 * Signals: block SIGCHLD (and whatever ends the lab, e.g. SIGINT/SIGTERM)
 * before ts_lab_start() and watch them with signalfd; call ts_lab_reap()
 * on SIGCHLD. The children ignore SIGINT (a terminal's Ctrl-C reaches the
 * whole process group; the supervisor decides) and die with the supervisor
 * (PR_SET_PDEATHSIG).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "tcpstate/state.h"

#define TS_LAB_COUNT_MAX 64      /* sockets per state */
#define TS_LAB_LEAK_RATE_MAX 1000 /* connections per second */

struct ts_lab;

struct ts_lab_opts {
	ts_state_mask_t states; /* 0: all 13 (UNKNOWN is ignored) */
	uint32_t count;         /* sockets per state, 1..TS_LAB_COUNT_MAX (0: 1) */
	uint32_t leak_rate;     /* 0: no leak; else connections per second */
};

enum ts_lab_event_type {
	TS_LAB_EVENT_SOCKET,       /* a socket was built (sock) */
	TS_LAB_EVENT_READY,        /* every child finished building */
	TS_LAB_EVENT_EXPIRED,      /* a target left its state (sock, now_state) */
	TS_LAB_EVENT_RECREATED,    /* a target was built again (sock, new ports) */
	TS_LAB_EVENT_NOTE,         /* something worth telling (message) */
	TS_LAB_EVENT_WARNING,      /* a recipe failed (sock.state, error, message) */
	TS_LAB_EVENT_ERROR,        /* a child cannot go on and exits (error, message) */
	TS_LAB_EVENT_LEAK,         /* leak started (pid: server, pid2: client, port, rate, limit) */
	TS_LAB_EVENT_LEAK_STOPPED, /* leak stopped growing (count, limit) */
};

struct ts_lab_socket {
	uint32_t scenario;   /* which recipe instance built it; stable across re-creation */
	uint8_t state;       /* enum ts_state */
	bool target;         /* built for a requested state; false: a peer or side product */
	bool has_remote;
	struct in_addr local_addr;
	struct in_addr remote_addr;
	uint16_t local_port;
	uint16_t remote_port;
	pid_t pid;           /* holder, as seen by the caller; 0: no owner */
	int fd;              /* in pid; -1: none */
	char how[96];        /* how it got there */
	char lasts[96];      /* how long the state lasts on its own */
};

/* Fixed layout: children send it as is over a pipe (smaller than PIPE_BUF). */
struct ts_lab_event {
	enum ts_lab_event_type type;
	struct ts_lab_socket sock;
	uint8_t now_state;   /* EXPIRED: state found, TS_STATE_UNKNOWN when gone */
	int error;           /* WARNING, ERROR: negative errno */
	pid_t pid;           /* LEAK: server */
	pid_t pid2;          /* LEAK: client */
	uint16_t port;       /* LEAK */
	uint32_t rate;       /* LEAK */
	uint32_t count;      /* LEAK_STOPPED: sockets leaked */
	uint32_t limit;      /* LEAK, LEAK_STOPPED: where it stops */
	char message[160];   /* NOTE, WARNING, ERROR */
};

/*
 * Creates the namespace and starts the children. Returns 0, -EPERM (not
 * root / no CAP_SYS_ADMIN), -EINVAL (bad opts), or another negative errno
 * (nothing is left behind then). *ret is set only on success.
 */
int ts_lab_start(const struct ts_lab_opts *opts, struct ts_lab **ret);

/* A lab namespace's name, with its NUL. */
#define TS_LAB_NAME_LEN 16

/*
 * Removes the namespaces of labs whose supervisor is gone: one killed with
 * SIGKILL takes its children along but leaves /run/netns/tslab-XXXXXXXX.
 * A lab counts as alive while its supervisor holds the flock on
 * lock_dir/NAME.lock (the kernel drops it however the supervisor ends); a
 * namespace without a lock file is left alone. Lock files of labs that
 * died before making their namespace go too. netns_dir, lock_dir: NULL for
 * /run/netns and /run/tcpstate (tests pass others). Writes the first
 * n_names removed names to ret_names and how many were removed to
 * *ret_removed; returns 0, or the first error (others were still tried).
 */
int ts_lab_cleanup_stale(const char *netns_dir, const char *lock_dir,
			 char (*ret_names)[TS_LAB_NAME_LEN], size_t n_names, size_t *ret_removed);

/* "tslab-1a2b3c4d": the name in /run/netns. */
const char *ts_lab_netns(const struct ts_lab *lab);

/* Readable (poll) when events may be waiting. */
int ts_lab_event_fd(const struct ts_lab *lab);

/*
 * Reads one event without blocking. Returns 0, -EAGAIN (none complete yet),
 * -EPIPE (every child has closed its end) or another negative errno.
 */
int ts_lab_read_event(struct ts_lab *lab, struct ts_lab_event *ret);

/*
 * Collects children that ended. Returns 0 when none did, 1 when one did
 * (*ret_pid, *ret_status as from waitpid; call again for more), or a
 * negative errno.
 */
int ts_lab_reap(struct ts_lab *lab, pid_t *ret_pid, int *ret_status);

/* The children's pids (holder first); returns how many were written. */
size_t ts_lab_pids(const struct ts_lab *lab, pid_t *pids, size_t n);

/*
 * Kills and reaps the children, unmounts and removes the namespace (its
 * nftables table goes with it). Accepts NULL; returns NULL.
 */
struct ts_lab *ts_lab_free(struct ts_lab *lab);
