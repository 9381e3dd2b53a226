/* SPDX-License-Identifier: MIT */
#pragma once

/* A record of the BPF program (struct tstrace_rec), checked and in host types. */

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "tcpstate/socket.h"

enum trace_rec_kind {
	TRACE_REC_STATE = 1,
	TRACE_REC_TW_ENTER = 2,
	TRACE_REC_TW_END = 3,
	TRACE_REC_BIND = 4,
	TRACE_REC_HOLD = 5,
	TRACE_REC_DESTROY = 6,
};

struct trace_rec {
	uint64_t ts_ns, id, peer_id, cookie, inode;
	struct in6_addr saddr, daddr;
	uint32_t netns, tgid;
	int32_t fd;
	uint16_t sport, dport;
	uint8_t family, kind, oldstate, newstate; /* kernel TCP_* numbers */
	bool orphan;   /* no struct socket: no process holds it */
	bool had_port; /* a local port at the event */
	bool polled;   /* TW_END made by user space: noticed gone by polling sock_diag */
	char comm[TS_COMM_LEN];
};

/* The size of one record. */
size_t trace_rec_size(void);

/*
 * Decodes one record. Returns 0, -EBADMSG (wrong length: the program and
 * its loader disagree), -EPROTO (unknown kind, family or state).
 */
int trace_rec_decode(const void *data, size_t len, struct trace_rec *ret);
