/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <linux/sockios.h>

#include "snapshot/fdsock.h"
#include "core/pidfd.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static int cand_cmp(const void *a, const void *b)
{
	const struct fd_candidate *x = a, *y = b;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static int netns_index_of(const struct fdsock_opts *o, uint64_t ino, uint32_t *ret)
{
	for (size_t i = 0; i < o->n_netns; i++)
		if (o->netns_inodes[i] == ino) {
			*ret = (uint32_t)i;
			return 0;
		}
	return -ENOENT;
}

/*
 * Fills *s from our copy of the socket. Returns 0, -ESTALE (fd now points
 * elsewhere), -ENOENT (another namespace), -EBUSY (not TCP_CLOSE: the dump
 * had it, or filtered it out), or -errno.
 */
static int inspect(int sfd, const struct fd_candidate *c, const struct fdsock_opts *o,
		   struct ts_socket *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	struct stat st;
	int nsfd;

	if (fstat(sfd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_ino != c->inode)
		return -ESTALE;
	s->uid = st.st_uid;

	nsfd = ioctl(sfd, SIOCGSKNS);
	if (nsfd < 0)
		return -errno;
	if (fstat(nsfd, &st) < 0) {
		close(nsfd);
		return -errno;
	}
	close(nsfd);
	if (netns_index_of(o, st.st_ino, &s->netns_index) < 0)
		return -ENOENT;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(sfd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
		return -errno;
	if (ti.tcpi_state != TS_TCP_CLOSE)
		return -EBUSY;
	if (getsockname(sfd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

		s->family = AF_INET;
		memcpy(&s->local_addr, &sin->sin_addr, 4);
		s->local_port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

		int v6only = 0;
		socklen_t vl = sizeof(v6only);

		s->family = AF_INET6;
		s->local_addr = sin6->sin6_addr;
		s->local_port = ntohs(sin6->sin6_port);
		if (getsockopt(sfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &vl) == 0 && v6only)
			s->flags |= TS_SOCK_V6ONLY;
	} else {
		return -EAFNOSUPPORT;
	}
	if (getsockopt(sfd, SOL_SOCKET, SO_COOKIE, &cookie, &cl) == 0)
		s->cookie = cookie;

	/* Traffic ever sent or received: it was connected (or tried), and ended. */
	if (ti.tcpi_segs_out > 0 || ti.tcpi_segs_in > 0)
		s->state = TS_STATE_CLOSED;
	else if (s->local_port != 0)
		s->state = TS_STATE_BOUND;
	else
		s->state = TS_STATE_IDLE;
	/* The peer a CLOSED socket had: only the iterator can read it (the
	 * kernel keeps it after a reset; getpeername() says ENOTCONN). */
	if (c->has_ends && s->state == TS_STATE_CLOSED && c->remote_port) {
		s->remote_addr = c->remote_addr;
		s->remote_port = c->remote_port;
		s->flags |= TS_SOCK_REMOTE_VALID;
	}
	if (c->has_ends && s->state == TS_STATE_CLOSED)
		s->pending_error = c->sk_err;
	s->info.total_retrans = ti.tcpi_total_retrans;
	s->info.last_data_recv_ms = ti.tcpi_last_data_recv;
	s->info.last_data_sent_ms = ti.tcpi_last_data_sent;
	s->info.last_ack_recv_ms = ti.tcpi_last_ack_recv;
	s->info.data_segs_in = ti.tcpi_data_segs_in;
	s->info.data_segs_out = ti.tcpi_data_segs_out;
	s->flags |= TS_SOCK_HAS_INFO;
	if (tl >= offsetof(struct tcp_info, tcpi_data_segs_out) + sizeof(ti.tcpi_data_segs_out))
		s->flags |= TS_SOCK_HAS_DATA_SEGS;
	return 0;
}

/* Without the right to copy the fd, assume the owner's namespace. */
static int unknown_socket(const struct fd_candidate *c, const struct fdsock_opts *o,
			  struct ts_socket *s)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/ns/net", o->proc_root ? o->proc_root : "/proc",
		 (int)c->pid);
	if (stat(path, &st) < 0)
		return -errno;
	if (netns_index_of(o, st.st_ino, &s->netns_index) < 0)
		return -ENOENT;
	s->family = c->ipv6 ? AF_INET6 : AF_INET;
	s->state = TS_STATE_UNKNOWN;
	return 0;
}

static bool wanted(const struct ts_filter *f, const struct ts_socket *s)
{
	ts_state_mask_t maybe = TS_STATE_BIT(TS_STATE_IDLE) | TS_STATE_BIT(TS_STATE_CLOSED) |
				TS_STATE_BIT(TS_STATE_BOUND) | TS_STATE_BIT(TS_STATE_UNKNOWN);
	struct ts_socket t;

	if (!f)
		return true;
	if (s->state != TS_STATE_UNKNOWN)
		return ts_filter_match_socket(f, s);
	/* UNKNOWN could be any of the fd-only states: keep it when one is wanted. */
	if (!(ts_filter_states(f) & maybe))
		return false;
	t = *s;
	for (unsigned st = 0; st < TS_STATE_COUNT; st++)
		if ((maybe & ts_filter_states(f) & TS_STATE_BIT(st))) {
			t.state = (uint8_t)st;
			if (ts_filter_match_socket(f, &t))
				return true;
		}
	return false;
}

int fdsock_classify(struct ts_snapshot *snap, struct fd_candidate *cand, size_t n,
		    const struct fdsock_opts *o)
{
	unsigned unclassified = 0, exhausted = 0;
	int exhausted_errno = 0;
	size_t i = 0;
	int r = 0;

	qsort(cand, n, sizeof(*cand), cand_cmp);
	while (i < n && r == 0) {
		size_t end = i + 1, k;
		struct ts_socket s;
		int got = -EPERM;

		while (end < n && cand[end].inode == cand[i].inode)
			end++;

		memset(&s, 0, sizeof(s));
		s.inode = cand[i].inode;
		s.owner_first = UINT32_MAX;
		s.flags = TS_SOCK_FROM_FD;
		/* Any holder will do; the first may have exited meanwhile. */
		for (k = i; k < end; k++) {
			int sfd = pidfd_fd_copy(cand[k].pid, cand[k].fd);

			if (sfd < 0) {
				got = sfd;
				continue;
			}
			got = inspect(sfd, &cand[k], o, &s);
			close(sfd);
			if (got != -ESTALE)
				break;
		}
		/* Out of fds (EMFILE/ENFILE): say so; the socket is still held. */
		if (got == -EMFILE || got == -ENFILE) {
			exhausted++;
			exhausted_errno = -got;
		}
		if (got == -EPERM || got == -EACCES || got == -EMFILE || got == -ENFILE)
			got = unknown_socket(&cand[i], o, &s);
		if (got == 0 && wanted(o->filter, &s)) {
			uint32_t si = (uint32_t)snap->n_sockets;

			if (s.state == TS_STATE_UNKNOWN)
				unclassified++;

			r = snapshot_socket_append(snap, &s);
			for (k = i; k < end && r == 0; k++) {
				struct ts_owner ow = {
					.pid = cand[k].pid,
					.fd = cand[k].fd,
					.process_index = cand[k].process_index,
					.socket_index = si,
				};

				r = snapshot_owner_append(snap, &ow);
			}
		}
		i = end;
	}
	snap->stats.fds_unclassified += unclassified;
	snap->stats.fd_exhausted += exhausted;
	if (exhausted_errno)
		snap->stats.fd_exhausted_errno = exhausted_errno;
	return r;
}
