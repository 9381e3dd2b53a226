/* SPDX-License-Identifier: MIT */
#pragma once

/* Socket owners from a BPF iter/task_file program. */

#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcpstate/snapshot.h"
#include "tcpstate/socket.h"

/* One socket fd of one process, as the iterator reports it. */
struct bpf_owner_rec {
	uint64_t inode;
	uint64_t cookie;
	pid_t pid;               /* tgid in the caller's pid namespace */
	int fd;
	uid_t uid;
	uint16_t family;         /* AF_INET, AF_INET6, AF_UNIX, ... */
	uint16_t protocol;       /* IPPROTO_TCP, ... (0 when unknown) */
	uint8_t state;           /* kernel sk_state */
	char comm[TS_COMM_LEN];
	/* Only for state TCP_CLOSE (0 otherwise): the socket's own ends, what
	 * the kernel kept of them (a reset connection keeps its remote end),
	 * ports in host byte order; and sk_err, the error the program has not
	 * been told yet (ECONNRESET after a reset), 0: none. */
	struct in6_addr local_addr;  /* IPv4: first 4 bytes */
	struct in6_addr remote_addr;
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t sk_err;
};

/*
 * Runs the iterator over every task (or only only_pid's, when not 0) and
 * calls cb for every TCP socket fd whose kernel state (sk_state) is in
 * kernel_states (bit 1 << TS_TCP_*; 0: every state). Returns 0,
 * -EOPNOTSUPP (built without BPF, or the kernel lacks what the program
 * needs), -EPERM (no CAP_BPF + CAP_PERFMON / CAP_SYS_ADMIN), another
 * negative errno when the kernel refuses the program (the verifier: -EACCES
 * or -EINVAL), or what cb returned when it was negative (stops). When the
 * program could not run, *ret_status (may be NULL) says why; cb's own
 * errors leave it untouched.
 */
int bpf_owners_collect(pid_t only_pid, uint32_t kernel_states,
		       int (*cb)(const struct bpf_owner_rec *r, void *userdata),
		       void *userdata, struct ts_bpf_status *ret_status);

/*
 * The same program kept loaded: bpf_owners_open() loads it and attaches an
 * iterator over every task (what bpf_owners_collect() costs once, mostly
 * libbpf's load); each bpf_owners_read() makes a new iterator from that
 * link and reads it, keeping the records whose sk_state is in
 * kernel_states (0: every state) and whose pid is only_pid (0: every
 * process). Errors and *ret_status as bpf_owners_collect(). One read at a
 * time per handle; bpf_owners_close() accepts NULL and returns NULL.
 */
struct bpf_owners;
int bpf_owners_open(struct bpf_owners **ret, struct ts_bpf_status *ret_status);
int bpf_owners_read(struct bpf_owners *h, pid_t only_pid, uint32_t kernel_states,
		    int (*cb)(const struct bpf_owner_rec *r, void *userdata), void *userdata,
		    struct ts_bpf_status *ret_status);
struct bpf_owners *bpf_owners_close(struct bpf_owners *h);

/* Loads and unloads the program: 0, or the errno of bpf_owners_collect()
 * with *ret_status filled (always: failure NONE on success). */
int bpf_owners_probe(struct ts_bpf_status *ret_status);

/* Whether this build has the BPF owner source (not whether it will load). */
int bpf_owners_built(void);
