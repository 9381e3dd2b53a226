/* SPDX-License-Identifier: MIT */
#pragma once

/* Who holds which socket: one pass over /proc/PID/fd. */

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot/sock_index.h"
#include "snapshot/bpf/owners.h"
#include "snapshot/snapshot.h"
#include "tcpstate/filter.h"

/* A TCP socket fd whose inode no dump returned: IDLE, CLOSED, or filtered out. */
struct fd_candidate {
	pid_t pid;
	int fd;
	uint64_t inode;
	uint32_t process_index;
	bool ipv6; /* sockprotoname was TCPv6 */
	/* From the BPF iterator (has_ends), read from the socket itself: the
	 * remote end it had and the error it holds for the program (sk_err,
	 * ECONNRESET after a reset). The /proc walk cannot know them. */
	bool has_ends;
	struct in6_addr remote_addr;
	uint16_t remote_port;
	uint8_t sk_err;
};

struct owner_scan_opts {
	const char *proc_root;          /* NULL: /proc */
	const struct ts_filter *filter; /* --pid limits the walk, --comm skips processes */
	bool want_candidates;           /* collect TCP fds that no dump returned */
	/* The BPF source reports only sockets in these kernel states (bit
	 * 1 << TS_TCP_*; 0: all): the dumped ones, plus TS_TCP_CLOSE when
	 * want_candidates. When dumped sockets with an inode are left without
	 * an owner (they changed state between the iterator and the dump), a
	 * second pass over kernel_states_retry (those and their neighbours,
	 * ts_kernel_states_around(); 0: no second pass) finds their owners.
	 * The /proc walk cannot tell states and ignores both. */
	uint32_t kernel_states;
	uint32_t kernel_states_retry;
	bool test_second_pass_only; /* ts_snapshot_opts.test_bpf_second_pass_only */
	/* AUTO: the BPF iterator, the /proc walk when it fails; a proc_root
	 * (a fake tree) means /proc. BPF: the iterator or an error. */
	enum ts_owner_source source;
	/* A program kept loaded (ts_collector): the iterator passes read it
	 * instead of loading their own. NULL: load per pass. */
	struct bpf_owners *bpf;
	/* An index kept between scans (ts_collector): rebuilt in place, its
	 * pages touched already. NULL: one of the scan's own. */
	struct sock_index *index;
};

struct owner_scan_result {
	struct fd_candidate *candidates;
	size_t n_candidates;
	unsigned processes_denied;
	enum ts_owner_source source; /* the one that ran: PROC or BPF */
	/* Processes whose fds were not read because we ran out of file
	 * descriptors (EMFILE: ours, ENFILE: the system's); their sockets have
	 * no owners. fd_exhausted_errno: the last such errno. */
	unsigned processes_fd_exhausted;
	int fd_exhausted_errno;
};

/*
 * The walk in two halves, so that it can run while the caller dumps:
 * owner_scan_start() lists the processes and starts one worker per CPU that
 * collects every socket fd (or one thread that runs the BPF iterator, and
 * the /proc walk when that fails and o->source is AUTO);
 * owner_scan_finish() helps until the walk is done, matches the fds with
 * snap's sockets (as owner_scan_build() says) and frees sc. With source BPF
 * it returns the iterator's error (-EOPNOTSUPP, -EPERM, ...). *ret_bpf (may
 * be NULL) is always filled: why the BPF source did not run, if it did not.
 * owner_scan_free() abandons a walk (accepts NULL).
 */
struct owner_scan;
int owner_scan_start(const struct owner_scan_opts *o, struct owner_scan **ret);
int owner_scan_finish(struct owner_scan *sc, struct ts_snapshot *snap,
		      struct owner_scan_result *ret, struct ts_bpf_status *ret_bpf);
struct owner_scan *owner_scan_free(struct owner_scan *sc);

/*
 * Walks /proc once, appending to snap an owner for every fd that holds one
 * of snap's sockets (and a process entry for each holder). Vanishing
 * processes and fds are skipped. Returns 0 or -ENOMEM/-errno when /proc
 * itself cannot be read; fills *ret (free candidates with free()).
 */
int owner_scan_build(struct ts_snapshot *snap, const struct owner_scan_opts *o,
		    struct owner_scan_result *ret);


/* Parses "socket:[12345]"; returns 0 or -EINVAL. */
int owner_scan_parse_link(const char *link, size_t len, uint64_t *ret_inode);
