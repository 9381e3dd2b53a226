/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The record sockets.bpf.c writes (bpf_seq_write) for every TCP socket of
 * the iterator's namespace and sockets.c reads back: what an inet_diag dump
 * with INET_DIAG_INFO says of it (net/ipv4/inet_diag.c, tcp_diag.c and
 * tcp_get_info() in tcp.c), computed from the same fields, times in ms.
 * Shared by both sides: __u32 and friends come from vmlinux.h in the BPF
 * program and from <linux/types.h> in user space. Fixed size, no implicit
 * padding: the reader checks sizeof.
 */

enum {
	SOCKETS_EVENT_HAS_INFO = 1u << 0, /* a full socket: the tcp_info fields are set */
	SOCKETS_EVENT_V6ONLY = 1u << 1,   /* INET_DIAG_SKV6ONLY would be 1 */
};

struct sockets_event {
	__u8 local_addr[16];  /* network byte order; IPv4 in the first 4 bytes */
	__u8 remote_addr[16];
	__u64 cookie;         /* sock_gen_cookie(), as the dump reports it */
	__u64 inode;          /* sock_i_ino(): 0 for TIME_WAIT and request sockets */
	__u32 uid;            /* the iterator's uid (the dump's: 0 for TIME_WAIT and requests) */
	__u32 recv_q;         /* LISTEN: accept queue; else rcv_nxt - copied_seq */
	__u32 send_q;         /* LISTEN: backlog; else write_seq - snd_una */
	__u32 ifindex;        /* sk_bound_dev_if */
	__u32 timer_ms;       /* until the timer fires, 0 when due or none */
	/* tcp_info's fields (SOCKETS_EVENT_HAS_INFO) */
	__u32 rtt_us;
	__u32 rttvar_us;
	__u32 last_data_sent_ms;
	__u32 last_data_recv_ms;
	__u32 last_ack_recv_ms;
	__u32 total_retrans;
	__u32 unacked;
	__u32 lost;
	__u32 snd_cwnd;
	__u32 data_segs_in;
	__u32 data_segs_out;
	__u16 local_port;     /* host byte order (skc_num) */
	__u16 remote_port;    /* network byte order (skc_dport) */
	__u8 family;          /* AF_INET or AF_INET6 */
	__u8 state;           /* TCP_* as the dump says it: SYN_RECV for request
			       * sockets, tw_substate for timewait ones */
	__u8 timer;           /* idiag_timer: 0 none, 1 retransmit, 2 keepalive,
			       * 3 TIME_WAIT, 4 zero window probe */
	__u8 timer_retrans;   /* idiag_retrans */
	__u8 flags;           /* SOCKETS_EVENT_* */
	__u8 retransmits;
	__u8 probes;
	__u8 backoff;
	__u8 ca_state;
	__u8 pad[3];
};
