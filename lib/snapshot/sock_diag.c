/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <libmnl/libmnl.h>

#include "snapshot/sock_diag.h"

#define SOCK_DIAG_RECV_BUF (64 * 1024)
#define SOCK_DIAG_MAX_ATTEMPTS 5
#define SOCK_DIAG_RCVBUF (4 * 1024 * 1024)

int sock_diag_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int sz = SOCK_DIAG_RCVBUF;

	if (fd < 0)
		return -errno;
	/* A larger receive buffer makes ENOBUFS during big dumps unlikely. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return fd;
}

/* Returns whether the kernel's tcp_info was long enough to carry the data segment counts. */
static bool copy_tcp_info(const void *payload, size_t len, struct ts_tcp_info *out)
{
	struct tcp_info ti;

	/* Kernels send shorter (older) or longer (newer) tcp_info: take what fits. */
	memset(&ti, 0, sizeof(ti));
	memcpy(&ti, payload, len < sizeof(ti) ? len : sizeof(ti));
	out->rtt_us = ti.tcpi_rtt;
	out->rttvar_us = ti.tcpi_rttvar;
	out->last_data_sent_ms = ti.tcpi_last_data_sent;
	out->last_data_recv_ms = ti.tcpi_last_data_recv;
	out->last_ack_recv_ms = ti.tcpi_last_ack_recv;
	out->total_retrans = ti.tcpi_total_retrans;
	out->unacked = ti.tcpi_unacked;
	out->lost = ti.tcpi_lost;
	out->snd_cwnd = ti.tcpi_snd_cwnd;
	out->retransmits = ti.tcpi_retransmits;
	out->probes = ti.tcpi_probes;
	out->backoff = ti.tcpi_backoff;
	out->ca_state = ti.tcpi_ca_state;
	out->data_segs_in = ti.tcpi_data_segs_in;
	out->data_segs_out = ti.tcpi_data_segs_out;
	return len >= offsetof(struct tcp_info, tcpi_data_segs_out) + sizeof(ti.tcpi_data_segs_out);
}

int sock_diag_socket_from_msg(const struct inet_diag_msg *m, struct ts_socket *ret)
{
	struct ts_socket s;
	enum ts_state state;

	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return -EBADMSG;
	if (ts_state_from_kernel(m->idiag_state, &state) < 0)
		return -EBADMSG;
	/* Closed sockets are unhashed and never dumped, except bound-only ones:
	 * the TCP_BOUND_INACTIVE walk (Linux >= 6.8) reports them as TCP_CLOSE. */
	if (m->idiag_state == TS_TCP_CLOSE)
		state = TS_STATE_BOUND;

	memset(&s, 0, sizeof(s));
	s.family = m->idiag_family;
	s.state = (uint8_t)state;
	memcpy(&s.local_addr, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
	memcpy(&s.remote_addr, m->id.idiag_dst, m->idiag_family == AF_INET ? 4 : 16);
	s.local_port = ntohs(m->id.idiag_sport);
	s.remote_port = ntohs(m->id.idiag_dport);
	s.cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
	s.ifindex = m->id.idiag_if;
	s.inode = m->idiag_inode;
	s.uid = m->idiag_uid;
	s.recv_q = m->idiag_rqueue;
	s.send_q = m->idiag_wqueue;
	s.timer = m->idiag_timer < _TS_TIMER_MAX ? m->idiag_timer : TS_TIMER_NONE;
	s.timer_retrans = m->idiag_retrans;
	s.timer_expires_ms = s.timer ? m->idiag_expires : 0;
	s.owner_first = UINT32_MAX;
	if (state != TS_STATE_LISTEN && state != TS_STATE_BOUND)
		s.flags |= TS_SOCK_REMOTE_VALID;
	*ret = s;
	return 0;
}

int sock_diag_parse_message(const struct nlmsghdr *nlh, struct ts_socket *ret)
{
	const struct inet_diag_msg *m;
	const struct nlattr *attr;
	struct ts_socket s;
	size_t off, payload_end;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EBADMSG;
	m = mnl_nlmsg_get_payload(nlh);
	if (sock_diag_socket_from_msg(m, &s) < 0)
		return -EBADMSG;

	/* Attributes follow the message, aligned. Walk them by hand so that a
	 * truncated attribute is noticed rather than silently ending the walk. */
	off = (size_t)((const char *)mnl_nlmsg_get_payload_offset(nlh, sizeof(*m)) - (const char *)nlh);
	payload_end = nlh->nlmsg_len;
	while (off < payload_end) {
		uint16_t alen;

		if (payload_end - off < sizeof(struct nlattr))
			return -EBADMSG;
		attr = (const struct nlattr *)((const char *)nlh + off);
		alen = attr->nla_len;
		if (alen < sizeof(struct nlattr) || alen > payload_end - off)
			return -EBADMSG;
		if (mnl_attr_get_type(attr) == INET_DIAG_INFO) {
			if (copy_tcp_info(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr), &s.info))
				s.flags |= TS_SOCK_HAS_DATA_SEGS;
			s.flags |= TS_SOCK_HAS_INFO;
		} else if (mnl_attr_get_type(attr) == INET_DIAG_SKV6ONLY &&
			   mnl_attr_get_payload_len(attr) >= 1 && mnl_attr_get_u8(attr)) {
			s.flags |= TS_SOCK_V6ONLY;
		}
		off += MNL_ALIGN(alen);
	}

	*ret = s;
	return 0;
}

/* mnl_nlmsg_ok() compares a signed length: a huge nlmsg_len passes it and
 * then aligns to zero, looping forever. Check unsigned, here. */
bool sock_diag_message_fits(const struct nlmsghdr *nlh, size_t remaining)
{
	return remaining >= sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
	       nlh->nlmsg_len <= remaining;
}

int sock_diag_parse_buffer(const void *buf, size_t len, struct sock_diag_parse_ctx *ctx)
{
	const struct nlmsghdr *nlh = buf;
	size_t remaining = len;

	while (sock_diag_message_fits(nlh, remaining)) {
		struct ts_socket s;
		size_t step;
		int r;

		if (ctx->seq && nlh->nlmsg_seq != ctx->seq)
			goto next; /* a stale reply of an earlier attempt */
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			ctx->interrupted = true;

		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
			/* A dump may end with an error code in DONE's payload. */
			if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
				int err = *(const int *)mnl_nlmsg_get_payload(nlh);

				if (err < 0)
					ctx->kernel_error = err;
			}
			return 1;
		case NLMSG_ERROR: {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
				ctx->kernel_error = -EBADMSG;
				return 1;
			}
			ctx->kernel_error = e->error < 0 ? e->error : -EPROTO;
			if (e->error == 0) /* an ACK: not expected for a dump */
				ctx->kernel_error = 0;
			return 1;
		}
		case SOCK_DIAG_BY_FAMILY:
		case TCPDIAG_GETSOCK: /* replies to the AF_UNSPEC request */
			break;
		default:
			goto next;
		}

		if (sock_diag_parse_message(nlh, &s) < 0) {
			ctx->malformed++;
			goto next;
		}
		s.netns_index = ctx->netns_index;
		if (ctx->filter && !ts_filter_match_socket(ctx->filter, &s))
			goto next;
		r = snapshot_socket_append(ctx->snap, &s);
		if (r < 0)
			return r;
	next:
		step = NLMSG_ALIGN(nlh->nlmsg_len);
		if (step >= remaining)
			return 0; /* the last message (its padding may be cut) */
		remaining -= step;
		nlh = (const struct nlmsghdr *)((const char *)nlh + step);
	}
	/* Leftover bytes that do not form a message: a truncated buffer. */
	if (remaining > 0)
		ctx->malformed++;
	return 0;
}

static int send_request(int fd, const struct sock_diag_dump_opts *o, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint8_t ext = o->want_info ? 1 << (INET_DIAG_INFO - 1) : 0;
	struct nlmsghdr *nlh;
	ssize_t n;

	if (o->bytecode_len > sizeof(buf) / 2)
		return -E2BIG;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	if (o->family == AF_UNSPEC) {
		/* The original TCPDIAG_GETSOCK request: the kernel dumps it with
		 * sdiag_family AF_UNSPEC, i.e. both families in one hash walk. */
		struct inet_diag_req *req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));

		nlh->nlmsg_type = TCPDIAG_GETSOCK;
		req->idiag_states = o->kernel_states;
		req->idiag_ext = ext;
	} else {
		struct inet_diag_req_v2 *req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));

		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		req->sdiag_family = (uint8_t)o->family;
		req->sdiag_protocol = IPPROTO_TCP;
		req->idiag_states = o->kernel_states;
		req->idiag_ext = ext;
	}
	if (o->bytecode && o->bytecode_len)
		mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, o->bytecode_len, o->bytecode);

	/* No address: an unconnected netlink socket sends to the kernel, and
	 * tests can stand in for the kernel with a socketpair. */
	n = send(fd, buf, nlh->nlmsg_len, 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != nlh->nlmsg_len)
		return -EIO;
	return 0;
}

static int record(int fd, const void *buf, size_t len)
{
	uint32_t l = (uint32_t)len;

	if (write(fd, &l, sizeof(l)) != sizeof(l) || write(fd, buf, len) != (ssize_t)len)
		return -EIO;
	return 0;
}

/* One attempt: 0 done, -EAGAIN interrupted/overflowed (retry), < 0 error. */
static int dump_once(int fd, const struct sock_diag_dump_opts *o, struct sock_diag_parse_ctx *ctx,
		     void *buf, uint32_t seq)
{
	int r = send_request(fd, o, seq);

	if (r < 0)
		return r;
	ctx->seq = seq;
	ctx->interrupted = false;
	ctx->kernel_error = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, SOCK_DIAG_RECV_BUF, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				return -EAGAIN;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		if (o->record_fd >= 0 && record(o->record_fd, buf, (size_t)n) < 0)
			return -EIO;
		r = sock_diag_parse_buffer(buf, (size_t)n, ctx);
		if (r < 0)
			return r;
		if (r > 0)
			break;
	}
	if (ctx->kernel_error)
		return ctx->kernel_error;
	return ctx->interrupted ? -EAGAIN : 0;
}

/* Reads and drops whatever is left of an abandoned dump. */
static void drain(int fd, void *buf)
{
	while (recv(fd, buf, SOCK_DIAG_RECV_BUF, MSG_DONTWAIT) > 0)
		;
}

int sock_diag_dump(int nl_fd, const struct sock_diag_dump_opts *o, struct sock_diag_parse_ctx *ctx,
	      unsigned *ret_retries)
{
	static uint32_t seq_counter = 0x7c000000;
	char *buf;
	size_t first = ctx->snap->n_sockets;
	unsigned retries = 0;
	int r = -EAGAIN;

	buf = malloc(SOCK_DIAG_RECV_BUF);
	if (!buf)
		return -ENOMEM;
	for (unsigned attempt = 0; attempt < SOCK_DIAG_MAX_ATTEMPTS; attempt++) {
		r = dump_once(nl_fd, o, ctx, buf, __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED));
		if (r != -EAGAIN)
			break;
		/* Never keep a short answer: drop this attempt's sockets, retry. */
		ctx->snap->n_sockets = first;
		drain(nl_fd, buf);
		retries++;
	}
	free(buf);
	if (ret_retries)
		*ret_retries += retries;
	return r;
}
