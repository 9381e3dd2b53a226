/* SPDX-License-Identifier: MIT */
#pragma once

/* Socket owners from a BPF iter/task_file program. */

#include <stdint.h>
#include <sys/types.h>

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
};

/*
 * Runs the iterator over every task (or only only_pid's, when not 0) and
 * calls cb for every TCP socket fd whose kernel state (sk_state) is in
 * kernel_states (bit 1 << TS_TCP_*; 0: every state). Returns 0, -EOPNOTSUPP (built without BPF,
 * or the kernel lacks what the program needs), -EPERM (no CAP_BPF +
 * CAP_PERFMON / CAP_SYS_ADMIN), another negative errno when the kernel
 * refuses the program, or what cb returned when it was negative (stops).
 */
int bpf_owners_collect(pid_t only_pid, uint32_t kernel_states,
		       int (*cb)(const struct bpf_owner_rec *r, void *userdata),
		       void *userdata);

/* Whether this build has the BPF owner source (not whether it will load). */
int bpf_owners_built(void);
