/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/*
 * The record trace.bpf.c writes to its ring buffer, one per event; read by
 * lib/trace/trace_decode.c. Explicit padding: the size is checked on both
 * sides (112 bytes).
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TRACE_COMM_LEN 16
#define TRACE_RING_BYTES (4u << 20) /* the ring buffer's size */
/* Waiting data that wakes the reader early: only a ring half full. A wakeup
 * is an interrupt (irq_work) raised inside the program, and on its way out
 * the kernel runs the pending softirqs, whose state changes then find the
 * program busy (bench/README.md, churn, defect 2). */
#define TRACE_WAKEUP_BYTES (TRACE_RING_BYTES / 2)
#define TRACE_LATENCY_MS 100 /* the reader reads at least this often (ts_trace_poll) */

enum trace_event_kind {
	TRACE_EV_STATE = 1,     /* a full socket changed state (old -> new, kernel numbers) */
	TRACE_EV_TW_ENTER = 2,  /* sk handed over to a timewait socket (id = tw) */
	TRACE_EV_TW_END = 3,    /* a timewait socket ended (id = tw) */
	TRACE_EV_BIND = 4,      /* bind() gave the socket a port while it was TCP_CLOSE */
	TRACE_EV_HOLD = 5,      /* a process installed an fd for the socket */
	TRACE_EV_DESTROY = 6,   /* the full socket is being destroyed (nothing to report:
				 * what is known of it can be forgotten) */
};

enum {
	TRACE_F_ORPHAN = 1u << 0, /* no struct socket (sk_socket NULL): no process holds it */
	TRACE_F_PORT = 1u << 1,   /* the socket had a local port (inet_num) at the event */
};

/* Slots of the per-CPU "lost" map. */
enum trace_lost_slot {
	TRACE_LOST_EVENT = 0,   /* a record of an event (state change, socket() birth) dropped:
				 * the ring buffer was full */
	TRACE_LOST_OTHER = 1,   /* a holder or destruction record dropped */
	TRACE_LOST_RESCUED = 2, /* state changes the backup program took (the first one was
				 * skipped for them: they are not lost) */
	TRACE_LOST_SLOTS = 3,
};

struct tstrace_rec {
	__u64 ts_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 id;       /* kernel address of the sock (tw for TW_*): identity while it lives */
	__u64 peer_id;  /* TW_ENTER: the full sock handed over; else 0 */
	__u64 cookie;   /* sk_cookie as it stands (0: never asked for) */
	__u64 inode;    /* the socket's inode, 0 when it has no struct socket */
	__u8 saddr[16]; /* IPv4: first 4 bytes */
	__u8 daddr[16];
	__u32 netns;    /* inode number of the socket's network namespace */
	__u32 tgid;     /* HOLD: the process that got the fd; else the task on the CPU */
	__s32 fd;       /* HOLD: the fd; else -1 */
	__u16 sport;    /* host order */
	__u16 dport;    /* host order */
	__u16 family;
	__u8 kind;      /* enum trace_event_kind */
	__u8 oldstate;  /* kernel TCP_* numbers */
	__u8 newstate;
	__u8 flags;     /* TRACE_F_* */
	__u8 pad[2];
	char comm[TRACE_COMM_LEN]; /* HOLD: the holder's command name; else the task on the CPU */
};
