/* SPDX-License-Identifier: MIT */
/*
 * Whether one timewait socket is still there, asked of the kernel by its
 * 4-tuple. The TIME_WAIT poll (trace.c) dumps the namespaces once a second,
 * but a sock_diag dump walks the hash table in pieces while sockets come and
 * go, and one whose bucket moved under it is simply not in that dump: at a
 * few thousand connections a second, dozens a run. So a timewait socket the
 * dump lacks is looked up by its tuple (inet_diag's exact request, as
 * `ss -K` does) before it is declared ended.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>

#include "core/netns.h"
#include "snapshot/sock_diag.h"
#include "trace/trace_tw_lookup.h"

void trace_tw_lookup_init(struct trace_tw_lookup *l, const char *netns_spec, bool all_netns)
{
	memset(l, 0, sizeof(*l));
	l->netns_spec = netns_spec;
	l->all_netns = all_netns;
}

void trace_tw_lookup_done(struct trace_tw_lookup *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ns[i].fd >= 0)
			close(l->ns[i].fd);
	l->n = 0;
}

/* A sock_diag socket opened inside t. */
static int diag_open_in(const struct netns_target *t)
{
	int saved, fd, r;

	r = netns_enter(t, &saved);
	if (r < 0)
		return r;
	fd = sock_diag_open();
	r = netns_leave(saved);
	if (r < 0 && fd >= 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The sock_diag socket of namespace inode, opened once; -ENOENT when the
 * namespace is not there (any more), -ENOSPC past the bound. */
static int diag_fd(struct trace_tw_lookup *l, uint64_t inode)
{
	struct netns_target *all = NULL, one;
	size_t n = 0;
	int fd = -ENOENT, r;

	for (size_t i = 0; i < l->n; i++)
		if (l->ns[i].inode == inode)
			return l->ns[i].fd;
	if (l->n == TRACE_TW_LOOKUP_MAX_NETNS)
		return -ENOSPC;
	if (!l->all_netns) {
		r = netns_resolve(l->netns_spec, NULL, &one);
		if (r < 0)
			return r;
		if (one.inode == inode)
			fd = diag_open_in(&one);
		if (one.fd >= 0)
			close(one.fd);
	} else {
		r = netns_enumerate(NULL, &all, &n, NULL);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n && fd == -ENOENT; i++)
			if (all[i].inode == inode)
				fd = diag_open_in(&all[i]);
		netns_targets_free(all, n);
	}
	if (fd < 0)
		return fd;
	l->ns[l->n].inode = inode;
	l->ns[l->n].fd = fd;
	l->n++;
	return fd;
}

static int send_exact(int fd, const struct ts_trace_socket *s, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;
	size_t alen = s->family == AF_INET ? 4 : 16;
	ssize_t n;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = s->family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;
	req->id.idiag_sport = htons(s->local_port);
	req->id.idiag_dport = htons(s->remote_port);
	memcpy(req->id.idiag_src, &s->local_addr, alen);
	memcpy(req->id.idiag_dst, &s->remote_addr, alen);
	req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	n = send(fd, buf, nlh->nlmsg_len, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == nlh->nlmsg_len ? 0 : -EIO;
}

/* The answer: 1 a timewait socket (TIME_WAIT or FIN_WAIT_2) of that tuple,
 * 0 none (ENOENT, or another socket now has the tuple), < 0 an error. */
static int read_answer(int fd, const struct ts_trace_socket *want, uint32_t seq)
{
	char buf[8192];
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	struct ts_socket got;
	ssize_t n;

	/* The kernel answers within send(): nothing there is no answer. */
	do {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return -errno;
		if (!sock_diag_message_fits(nlh, (size_t)n))
			return -EBADMSG;
	} while (nlh->nlmsg_seq != seq); /* a late answer to an earlier question */
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EBADMSG;
		return e->error == -ENOENT ? 0 : (e->error < 0 ? e->error : -EPROTO);
	}
	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY || sock_diag_parse_message(nlh, &got) < 0)
		return -EBADMSG;
	return (got.state == TS_STATE_TIME_WAIT || got.state == TS_STATE_FIN_WAIT_2) &&
	       got.inode == 0 && got.local_port == want->local_port &&
	       got.remote_port == want->remote_port;
}

int trace_tw_lookup(struct trace_tw_lookup *l, const struct ts_trace_socket *s)
{
	int fd = diag_fd(l, s->netns_inode), r;

	if (fd == -ENOENT)
		return 0; /* its namespace is gone, and the socket with it */
	if (fd < 0)
		return fd;
	r = send_exact(fd, s, ++l->seq);
	if (r < 0)
		return r;
	return read_answer(fd, s, l->seq);
}
