/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <libmnl/libmnl.h>

#include "close/ptrace_close.h"
#include "snapshot/sock_diag.h"
#include "core/pidfd.h"
#include "tcpstate/close.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static const char *const how_names[_TS_CLOSE_HOW_MAX] = {
	[TS_CLOSE_RST] = "rst",
	[TS_CLOSE_FIN] = "fin",
	[TS_CLOSE_FD] = "fd",
};

const char *ts_close_how_name(enum ts_close_how how)
{
	return (unsigned)how < _TS_CLOSE_HOW_MAX ? how_names[how] : NULL;
}

int ts_close_how_parse(const char *s, enum ts_close_how *ret)
{
	for (unsigned i = 0; i < _TS_CLOSE_HOW_MAX; i++)
		if (strcmp(s, how_names[i]) == 0) {
			*ret = (enum ts_close_how)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const verdict_reasons[_TS_CLOSE_VERDICT_MAX] = {
	[TS_CLOSE_ACT] = "",
	[TS_CLOSE_SKIP_LISTEN] = "a listener: name LISTEN in --state to touch it",
	[TS_CLOSE_SKIP_NO_FD] = "no fd holds it (TIME_WAIT or a connection not yet accepted): "
				"only --how rst can end it",
	[TS_CLOSE_SKIP_NOT_HASHED] = "not in the kernel's lookup tables (only an fd holds it): "
				     "use --how fd",
	[TS_CLOSE_SKIP_NO_OWNER] = "no holder known (its process's fds could not be read, or "
				   "no program holds it)",
	[TS_CLOSE_SKIP_NO_COOKIE] = "no socket cookie, so its identity cannot be checked",
	[TS_CLOSE_SKIP_FIN_SENT] = "this end already sent its FIN: use --how rst or --how fd",
	[TS_CLOSE_SKIP_NOT_CONNECTED] = "not connected, a FIN means nothing: use --how rst or --how fd",
	[TS_CLOSE_SKIP_IN_USE] = "possibly in use: not idle for --min-idle",
};

const char *ts_close_verdict_reason(enum ts_close_verdict v)
{
	return (unsigned)v < _TS_CLOSE_VERDICT_MAX ? verdict_reasons[v] : "?";
}

enum ts_close_verdict ts_close_verdict(const struct ts_socket *s, size_t n_owners,
				       enum ts_close_how how, bool listen_named)
{
	enum ts_state st = (enum ts_state)s->state;

	if (st == TS_STATE_LISTEN && !listen_named)
		return TS_CLOSE_SKIP_LISTEN;

	if (how == TS_CLOSE_RST) {
		switch (st) {
		case TS_STATE_IDLE:
		case TS_STATE_BOUND:
		case TS_STATE_CLOSED:
		case TS_STATE_UNKNOWN:
			return TS_CLOSE_SKIP_NOT_HASHED;
		default:
			break;
		}
		if (s->flags & TS_SOCK_FROM_FD)
			return TS_CLOSE_SKIP_NOT_HASHED;
		return s->cookie ? TS_CLOSE_ACT : TS_CLOSE_SKIP_NO_COOKIE;
	}

	if (s->inode == 0)
		return TS_CLOSE_SKIP_NO_FD;
	if (n_owners == 0)
		return TS_CLOSE_SKIP_NO_OWNER;
	if (how == TS_CLOSE_FD)
		return TS_CLOSE_ACT;

	switch (st) {
	case TS_STATE_ESTABLISHED:
	case TS_STATE_CLOSE_WAIT:
		return TS_CLOSE_ACT;
	case TS_STATE_FIN_WAIT_1:
	case TS_STATE_FIN_WAIT_2:
	case TS_STATE_CLOSING:
	case TS_STATE_LAST_ACK:
	case TS_STATE_TIME_WAIT:
		return TS_CLOSE_SKIP_FIN_SENT;
	default:
		return TS_CLOSE_SKIP_NOT_CONNECTED;
	}
}

/* The kernel state (TCP_*) of a socket, for the idiag_states bit. */
static unsigned kernel_state(const struct ts_socket *s)
{
	switch ((enum ts_state)s->state) {
	case TS_STATE_ESTABLISHED: return TS_TCP_ESTABLISHED;
	case TS_STATE_SYN_SENT: return TS_TCP_SYN_SENT;
	case TS_STATE_SYN_RECEIVED: return TS_TCP_SYN_RECV;
	case TS_STATE_FIN_WAIT_1: return TS_TCP_FIN_WAIT1;
	case TS_STATE_FIN_WAIT_2: return TS_TCP_FIN_WAIT2;
	case TS_STATE_TIME_WAIT: return TS_TCP_TIME_WAIT;
	case TS_STATE_CLOSE_WAIT: return TS_TCP_CLOSE_WAIT;
	case TS_STATE_LAST_ACK: return TS_TCP_LAST_ACK;
	case TS_STATE_LISTEN: return TS_TCP_LISTEN;
	case TS_STATE_CLOSING: return TS_TCP_CLOSING;
	default: return TS_TCP_CLOSE;
	}
}

int ts_close_destroy_request(const struct ts_socket *s, uint32_t seq, void *buf, size_t size)
{
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;
	size_t alen;
	uint32_t states;

	if (s->family != AF_INET && s->family != AF_INET6)
		return -EINVAL;
	if (size < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*req)))
		return -ENOSPC;
	memset(buf, 0, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*req)));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DESTROY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));

	states = 1u << kernel_state(s);
	/* A SYN_RECEIVED request socket is TCP_NEW_SYN_RECV in the tables. */
	if (s->state == TS_STATE_SYN_RECEIVED)
		states |= 1u << TS_TCP_NEW_SYN_RECV;
	alen = s->family == AF_INET ? 4 : 16;
	req->sdiag_family = s->family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = states;
	req->id.idiag_sport = htons(s->local_port);
	req->id.idiag_dport = htons(s->remote_port);
	memcpy(req->id.idiag_src, &s->local_addr, alen);
	memcpy(req->id.idiag_dst, &s->remote_addr, alen);
	req->id.idiag_if = s->ifindex; /* the kernel matches bound sockets by device too */
	req->id.idiag_cookie[0] = (uint32_t)s->cookie;
	req->id.idiag_cookie[1] = (uint32_t)(s->cookie >> 32);
	return (int)nlh->nlmsg_len;
}

int ts_close_destroy_ack(const void *buf, size_t len, uint32_t seq)
{
	const struct nlmsghdr *nlh = buf;
	size_t left = len;

	while (sock_diag_message_fits(nlh, left)) {
		const struct nlmsgerr *e;
		size_t step = NLMSG_ALIGN(nlh->nlmsg_len);

		if (nlh->nlmsg_seq != seq) {
			if (step >= left) {
				left = 0; /* the last message; its padding may be cut */
				break;
			}
			left -= step;
			nlh = (const struct nlmsghdr *)((const char *)nlh + step);
			continue;
		}
		if (nlh->nlmsg_type != NLMSG_ERROR)
			return -EBADMSG;
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EBADMSG;
		e = mnl_nlmsg_get_payload(nlh);
		if (e->error > 0)
			return -EBADMSG;
		return e->error; /* 0: the ack, else -errno */
	}
	/* Only messages of other requests: wait for ours. Leftover bytes that
	 * form no message: a malformed reply. */
	return left == 0 ? -EAGAIN : -EBADMSG;
}

int ts_close_destroy(int nl_fd, const struct ts_socket *s)
{
	static uint32_t seq_counter;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char req[128], ans[8192];
	uint32_t seq = ++seq_counter;
	ssize_t n;
	int len, r;

	len = ts_close_destroy_request(s, seq, req, sizeof(req));
	if (len < 0)
		return len;
	n = sendto(nl_fd, req, (size_t)len, 0, (struct sockaddr *)&sa, sizeof(sa));
	if (n < 0)
		return -errno;
	if (n != len)
		return -EIO;
	for (;;) {
		n = recv(nl_fd, ans, sizeof(ans), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EBADMSG;
		r = ts_close_destroy_ack(ans, (size_t)n, seq);
		if (r != -EAGAIN)
			return r;
		/* An answer to an earlier request: keep reading. */
	}
}

int ts_close_shutdown(pid_t pid, int fd, uint64_t inode, uint64_t cookie)
{
	int copy, r;

	copy = pidfd_fd_copy(pid, fd);
	if (copy < 0)
		return copy;
	r = socket_fd_identity_check(copy, inode, cookie);
	if (r == 0 && shutdown(copy, SHUT_WR) < 0)
		r = -errno;
	close(copy);
	return r;
}

int ts_close_fd(pid_t pid, int fd, uint64_t inode, uint64_t cookie, const char **ret_detail)
{
	return ptrace_close_fd(pid, fd, inode, cookie, ret_detail);
}
