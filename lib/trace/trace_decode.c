/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpstate/state.h"
#include "trace/bpf/tstrace_rec.h"
#include "trace/trace_decode.h"

_Static_assert(sizeof(struct tstrace_rec) == 112, "tstrace_rec has implicit padding");
_Static_assert(TRACE_COMM_LEN == TS_COMM_LEN, "comm sizes differ");

size_t trace_rec_size(void)
{
	return sizeof(struct tstrace_rec);
}

static bool kernel_state_valid(unsigned s)
{
	return s >= TS_TCP_ESTABLISHED && s <= TS_TCP_BOUND_INACTIVE;
}

int trace_rec_decode(const void *data, size_t len, struct trace_rec *ret)
{
	struct tstrace_rec e;
	struct trace_rec r = { 0 };

	if (len != sizeof(e))
		return -EBADMSG;
	memcpy(&e, data, sizeof(e));
	if (e.kind < TRACE_EV_STATE || e.kind > TRACE_EV_DESTROY)
		return -EPROTO;
	if (e.family != AF_INET && e.family != AF_INET6)
		return -EPROTO;
	if (!kernel_state_valid(e.oldstate) || !kernel_state_valid(e.newstate))
		return -EPROTO;
	r.ts_ns = e.ts_ns;
	r.id = e.id;
	r.peer_id = e.peer_id;
	r.cookie = e.cookie;
	r.inode = e.inode;
	memcpy(&r.saddr, e.saddr, sizeof(r.saddr));
	memcpy(&r.daddr, e.daddr, sizeof(r.daddr));
	r.netns = e.netns;
	r.tgid = e.tgid;
	r.fd = e.fd;
	r.sport = e.sport;
	r.dport = e.dport;
	r.family = (uint8_t)e.family;
	r.kind = e.kind;
	r.oldstate = e.oldstate;
	r.newstate = e.newstate;
	r.orphan = e.flags & TRACE_F_ORPHAN;
	r.had_port = e.flags & TRACE_F_PORT;
	memcpy(r.comm, e.comm, sizeof(r.comm));
	r.comm[sizeof(r.comm) - 1] = '\0';
	*ret = r;
	return 0;
}
