/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internal to sockgen: sockgen.c (options, the plan, the parent process),
 * sockgen_netns.c (the namespace), sockgen_worker.c (the worker processes).
 */

#include <stdint.h>
#include <sys/types.h>

#define NETNS_RUN_DIR "/run/netns"
#define LISTEN_PORT_BASE 9000	/* below the ephemeral range we set */
#define EPHEMERAL_RANGE "10000 65535"
#define MAX_WORKERS 1000	/* listener ports 9000..9999 */
#define BATCH 512
#define TW_WATCH_SEC 59		/* start watching for expiry (TCP_TIMEWAIT_LEN is 60 s) */
#define TW_POLL_MS 200
#define TW_SETTLE_MS 1000	/* after the build, a round of waiting for every TIME_WAIT */
#define TW_SETTLE_ROUNDS 3
#define FD_SLACK 64		/* stdio, listener, pipes, one batch in flight is extra */
#define TW_PERCENT 5

enum kind { K_EST, K_CLOSING, K_TW, K__MAX };

struct conn {
	uint32_t src;		/* host byte order */
	uint8_t kind;
};

struct plan {
	unsigned long sockets;	/* target total */
	unsigned workers;	/* pair_workers, plus one for TIME_WAIT when there is any */
	unsigned pair_workers;
	unsigned long nconn;	/* connections = pairs + time_wait */
	unsigned long count[K__MAX];
	unsigned long expected;	/* sockets visible once built */
	struct conn *conn;	/* nconn entries, shuffled by seed */
};

struct worker_report {
	int err;		/* 0 or negative errno */
	unsigned long count[K__MAX];
	unsigned long tw_rebuilt;	/* TIME_WAIT made again: gone right after the build */
};

/* ---- sockgen.c ---- */

/* CLOCK_MONOTONIC in seconds. */
double sockgen_now_sec(void);

/* ---- sockgen_netns.c: the int ones return 0 or a negative errno ---- */

/* Brings lo up and sets the sysctls of the caller's namespace; says what failed on stderr. */
int netns_tune(void);
/* Enters /run/netns/NAME, or the namespace at a path (NAME with a '/'). */
int netns_enter(const char *name);
/* Creates tsbench-XXXXXXXX as 'ip netns add' does and enters it; name and path filled in. */
int netns_create(char *name, size_t size, char *path, size_t psize);
/* Detaches and removes the bind mount netns_create() made. */
void netns_remove(const char *path);

/* ---- sockgen_worker.c ---- */

/*
 * Worker idx: builds conn[first, first + n) of p around its own listener,
 * writes a struct worker_report to report_fd, then holds the sockets until
 * SIGTERM. Never returns.
 */
void worker_main(pid_t parent, unsigned idx, const struct plan *p, unsigned long first,
		 unsigned long n, int report_fd, unsigned max_fds);
