// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * The TCP sockets of one network namespace: iter/tcp visits every socket of
 * the namespace the iterator was created in (listening hash, then the
 * established hash with its TIME_WAIT and request sockets) and writes one
 * struct sockets_event each, what a sock_diag dump with tcp_info would say
 * of it. Needs Linux >= 5.9 (iter/tcp, bpf_skc_to_*) and BTF; CO-RE.
 *
 * The kernel runs the program with the socket's lock held (full sockets)
 * and skips sockets unhashed meanwhile, as the dump does. The socket comes
 * as a trusted pointer (the iterator's own argument, and what bpf_skc_to_*()
 * make of it): fields are direct loads, which the verifier turns into
 * fault-handled loads, cheaper than a helper call each.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "sockets_event.h"

#define AF_INET 2
#define AF_INET6 10

/* TCP states and inet_connection_sock timers: #defines and enum members
 * the kernel's BTF does not always carry; their values are ABI. */
#define ST_SYN_RECV 3
#define ST_TIME_WAIT 6
#define ST_CLOSE 7
#define ST_LISTEN 10
#define ST_NEW_SYN_RECV 12
#define ICSK_TIME_RETRANS 1
#define ICSK_TIME_PROBE0 3
#define ICSK_TIME_LOSS_PROBE 5
#define ICSK_TIME_REO_TIMEOUT 6

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Kernel states (bit 1 << state as reported) to write; set before each read. */
__u32 state_mask = 0xffffffff;

/* The kernel's HZ, to turn jiffies into milliseconds; libbpf reads it from
 * /proc/config.gz or /boot/config-RELEASE, 0 when neither is there (the
 * loader then refuses: no time could be told). */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* jiffies_to_msecs(): exact for HZ dividing 1000 (100, 250, 1000), rounded
 * up otherwise (300); wraps in 32 bits as the kernel's does. */
static __always_inline __u32 msecs(__u32 j)
{
	__u32 hz = CONFIG_HZ;

	if (!hz)
		return 0;
	if (1000 % hz == 0)
		return j * (1000 / hz);
	return (__u32)(((__u64)j * 1000 + hz - 1) / hz);
}

/* Until expires, in ms; 0 when it is due (jiffies_delta_to_msecs()). */
static __always_inline __u32 until(unsigned long expires, __u64 now)
{
	long d = (long)(expires - (unsigned long)now);

	return d > 0 ? msecs((__u32)d) : 0;
}

static __always_inline void common_fill(struct sock_common *skc, struct sockets_event *e)
{
	e->family = skc->skc_family;
	e->local_port = skc->skc_num;
	e->remote_port = skc->skc_dport;
	e->ifindex = skc->skc_bound_dev_if;
	if (e->family == AF_INET6) {
		__u32 *l = (__u32 *)e->local_addr, *r = (__u32 *)e->remote_addr;

		for (int i = 0; i < 4; i++) {
			l[i] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			r[i] = skc->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	} else {
		*(__be32 *)e->local_addr = skc->skc_rcv_saddr;
		*(__be32 *)e->remote_addr = skc->skc_daddr;
	}
}

/* sock_i_ino(): sk_ino from 6.18 on, the socket's inode before. */
static __always_inline __u64 inode_of(struct sock *sk)
{
	struct socket *sock;
	unsigned long ino = 0;

	if (bpf_core_field_exists(sk->sk_ino))
		return sk->sk_ino;
	sock = BPF_CORE_READ(sk, sk_socket);
	if (!sock)
		return 0;
	/* SOCK_INODE(): the inode after the socket in struct socket_alloc. */
	bpf_probe_read_kernel(&ino, sizeof(ino),
			      (void *)sock - bpf_core_field_offset(struct socket_alloc, socket) +
				      bpf_core_field_offset(struct socket_alloc, vfs_inode) +
				      bpf_core_field_offset(struct inode, i_ino));
	return ino;
}

static __always_inline void full_fill(struct tcp_sock *tp, __u64 now, struct sockets_event *e)
{
	struct inet_connection_sock *icsk = &tp->inet_conn;
	struct sock *sk = &icsk->icsk_inet.sk;
	__u32 now32 = (__u32)now;
	__u8 pending;

	e->inode = inode_of(sk);
	if (e->family == AF_INET6 && (e->state == ST_LISTEN || e->state == ST_CLOSE) &&
	    BPF_CORE_READ_BITFIELD(&sk->__sk_common, skc_ipv6only))
		e->flags |= SOCKETS_EVENT_V6ONLY;

	/* inet_sk_diag_fill(): the timer. */
	pending = icsk->icsk_pending;
	if (pending == ICSK_TIME_RETRANS || pending == ICSK_TIME_REO_TIMEOUT ||
	    pending == ICSK_TIME_LOSS_PROBE) {
		e->timer = 1;
		e->timer_retrans = icsk->icsk_retransmits;
		e->timer_ms = until(icsk->icsk_retransmit_timer.expires, now);
	} else if (pending == ICSK_TIME_PROBE0) {
		e->timer = 4;
		e->timer_retrans = icsk->icsk_probes_out;
		e->timer_ms = until(icsk->icsk_retransmit_timer.expires, now);
	} else if (sk->sk_timer.entry.pprev) { /* timer_pending() */
		e->timer = 2;
		e->timer_retrans = icsk->icsk_probes_out;
		e->timer_ms = until(sk->sk_timer.expires, now);
	}

	/* tcp_diag_get_info() and tcp_get_info(). */
	e->flags |= SOCKETS_EVENT_HAS_INFO;
	e->snd_cwnd = tp->snd_cwnd;
	if (e->state == ST_LISTEN) {
		e->recv_q = sk->sk_ack_backlog;
		e->send_q = sk->sk_max_ack_backlog;
		e->unacked = sk->sk_ack_backlog;
		return;
	}
	{
		int rq = (int)(tp->rcv_nxt - tp->copied_seq);

		e->recv_q = rq > 0 ? (__u32)rq : 0;
	}
	e->send_q = tp->write_seq - tp->snd_una;
	e->ca_state = BPF_CORE_READ_BITFIELD(icsk, icsk_ca_state);
	e->retransmits = icsk->icsk_retransmits;
	e->probes = icsk->icsk_probes_out;
	e->backoff = icsk->icsk_backoff;
	e->unacked = tp->packets_out;
	e->lost = tp->lost_out;
	e->last_data_sent_ms = msecs(now32 - tp->lsndtime);
	e->last_data_recv_ms = msecs(now32 - icsk->icsk_ack.lrcvtime);
	e->last_ack_recv_ms = msecs(now32 - tp->rcv_tstamp);
	e->rtt_us = tp->srtt_us >> 3;
	e->rttvar_us = tp->mdev_us >> 2;
	e->total_retrans = tp->total_retrans;
	e->data_segs_in = tp->data_segs_in;
	e->data_segs_out = tp->data_segs_out;
}

static __always_inline bool wanted(__u8 state)
{
	return state < 32 && (state_mask & (1u << state));
}

/* What every kind of socket reports: its ends, cookie, state. */
static __always_inline void begin(struct sock_common *skc, __u8 state, struct sockets_event *e)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->state = state;
	common_fill(skc, e);
	e->cookie = bpf_get_socket_cookie(skc);
}

SEC("iter/tcp")
int sockets(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct seq_file *seq = ctx->meta->seq;
	struct sockets_event e;
	__u64 now = bpf_jiffies64();
	__u8 state;

	if (!skc)
		return 0;
	state = skc->skc_state;
	if (state == ST_TIME_WAIT) { /* inet_twsk_diag_fill() */
		struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);

		if (!tw)
			return 0;
		state = tw->tw_sk.tw_substate;
		if (!wanted(state))
			return 0;
		begin(skc, state, &e);
		e.timer = 3;
		e.timer_ms = until(tw->tw_sk.tw_timer.expires, now);
	} else if (state == ST_NEW_SYN_RECV) { /* inet_req_diag_fill() */
		struct tcp_request_sock *req;

		if (!wanted(ST_SYN_RECV))
			return 0;
		req = bpf_skc_to_tcp_request_sock(skc);
		if (!req)
			return 0;
		begin(skc, ST_SYN_RECV, &e);
		e.timer = 1;
		e.timer_retrans = req->req.req.num_retrans;
		e.timer_ms = until(req->req.req.rsk_timer.expires, now);
	} else {
		struct tcp_sock *tp;

		if (!wanted(state))
			return 0;
		tp = bpf_skc_to_tcp_sock(skc);
		if (!tp)
			return 0;
		begin(skc, state, &e);
		e.uid = ctx->uid;
		full_fill(tp, now, &e);
	}
	bpf_seq_write(seq, &e, sizeof(e));
	return 0;
}
