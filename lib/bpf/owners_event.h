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
	__u64 cookie;   /* bpf_get_socket_cookie() */
	__u32 tgid;     /* in the loader's pid namespace */
	__u32 fd;
	__u32 uid;      /* effective uid of the thread group leader */
	__u16 family;   /* AF_INET or AF_INET6 */
	__u16 protocol; /* IPPROTO_TCP */
	__u8 state;     /* sk_state */
	__u8 pad[3];
	char comm[OWNERS_COMM_LEN]; /* the thread group leader's */
	__u32 pad2;
};
