/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The record owners.bpf.c writes (bpf_seq_write) for every TCP socket fd and
 * owners.c reads back. Shared by both sides: __u32 and friends come from
 * vmlinux.h in the BPF program and from <linux/types.h> in user space.
 * Fixed size, no implicit padding: the reader checks sizeof.
 */

#define OWNERS_COMM_LEN 16

struct owners_event {
	__u64 inode;    /* file->f_inode->i_ino */
	__u64 cookie;   /* sk_cookie as it is: 0 until something asks for it
			 * (a sock_diag dump, SO_COOKIE); the join then uses the
			 * inode alone (lib/snapshot/sock_index.c) */
	__u32 tgid;     /* in the loader's pid namespace */
	__u32 fd;
	__u32 uid;      /* effective uid of the thread group leader */
	__u16 family;   /* AF_INET or AF_INET6 */
	__u16 protocol; /* IPPROTO_TCP */
	__u8 state;     /* sk_state */
	__u8 pad[3];
	char comm[OWNERS_COMM_LEN]; /* the thread group leader's */
	/* The socket's own ends, network byte order; IPv4 in the first 4
	 * bytes. Only what the kernel keeps: after a reset or a refused
	 * connect the remote end stays, skc_num (the bound port) is 0 once
	 * the port is released, inet_sport (what getsockname says) stays. */
	__u8 local_addr[16];  /* skc_rcv_saddr / skc_v6_rcv_saddr */
	__u8 remote_addr[16]; /* skc_daddr / skc_v6_daddr */
	__u16 local_port;     /* inet_sport, network byte order */
	__u16 remote_port;    /* skc_dport, network byte order */
	__u8 sk_err;          /* sk_err (ECONNRESET, ...): the error not yet reported to
			       * the program, 0: none; read, never cleared */
	__u8 pad2[7];
};
