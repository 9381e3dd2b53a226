/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The TCP sockets of a network namespace from a BPF iter/tcp program
 * (sockets.bpf.c): the records an inet_diag dump with tcp_info would give,
 * read from the socket table in one pass without building netlink messages.
 */

#include <stdint.h>

#include "tcpstate/snapshot.h"

struct sockets_event;

/*
 * bpf_sockets_open() loads the program and attaches an iterator (once per
 * collector); each bpf_sockets_read() makes a new iterator from that link,
 * in the caller's network namespace at that moment (the kernel binds an
 * iterator to its creator's), and calls cb for every socket whose state as
 * reported (SYN_RECV for request sockets, the substate of TIME_WAIT ones) is
 * in kernel_states (bit 1 << TS_TCP_*; 0: every state). Returns 0,
 * -EOPNOTSUPP (built without BPF, the kernel lacks iter/tcp or BTF, or its
 * HZ cannot be known: no /proc/config.gz nor /boot/config-RELEASE), -EPERM
 * (no CAP_BPF + CAP_PERFMON / CAP_SYS_ADMIN), another negative errno when
 * the kernel refuses the program, or what cb returned when it was negative
 * (stops). When the program could not run, *ret_status (may be NULL) says
 * why; cb's own errors leave it untouched. One read at a time per handle;
 * bpf_sockets_close() accepts NULL and returns NULL.
 */
struct bpf_sockets;
int bpf_sockets_open(struct bpf_sockets **ret, struct ts_bpf_status *ret_status);
int bpf_sockets_read(struct bpf_sockets *h, uint32_t kernel_states,
		     int (*cb)(const struct sockets_event *e, void *userdata), void *userdata,
		     struct ts_bpf_status *ret_status);
struct bpf_sockets *bpf_sockets_close(struct bpf_sockets *h);

/* Whether this build has the BPF socket source (not whether it will load). */
int bpf_sockets_built(void);
