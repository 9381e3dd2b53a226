/* SPDX-License-Identifier: MIT */
/* Facts about listening sockets read from the socket itself (see tcpstate/listener.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/array.h"
#include "core/pidfd.h"
#include "tcpstate/listener.h"

static bool addr_any(const struct ts_socket *s)
{
	static const struct in6_addr any;

	return memcmp(&s->local_addr, &any, s->family == AF_INET ? 4 : 16) == 0;
}

/* Same local address, an IPv4-mapped IPv6 address counting as its IPv4 one. */
static bool addr_same(const struct ts_socket *a, const struct ts_socket *b)
{
	if (a->family == b->family)
		return memcmp(&a->local_addr, &b->local_addr, a->family == AF_INET ? 4 : 16) == 0;
	if (a->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->local_addr))
		return memcmp(&a->local_addr.s6_addr[12], &b->local_addr, 4) == 0;
	if (b->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&b->local_addr))
		return memcmp(&b->local_addr.s6_addr[12], &a->local_addr, 4) == 0;
	return false;
}

const struct ts_socket *ts_listener_of(const struct ts_snapshot *snap, const struct ts_socket *s,
				       size_t *ret_index)
{
	size_t n = ts_snapshot_socket_count(snap), best = SIZE_MAX, any_same = SIZE_MAX, any_v6 = SIZE_MAX;

	for (size_t i = 0; i < n && best == SIZE_MAX; i++) {
		const struct ts_socket *l = ts_snapshot_socket(snap, i);

		if (l->state != TS_STATE_LISTEN || l->netns_index != s->netns_index ||
		    l->local_port != s->local_port)
			continue;
		if (addr_same(l, s))
			best = i;
		else if (addr_any(l) && l->family == s->family && any_same == SIZE_MAX)
			any_same = i;
		/* An IPv4 connection can belong to an IPv6 wildcard listener; not the reverse. */
		else if (addr_any(l) && l->family == AF_INET6 && any_v6 == SIZE_MAX)
			any_v6 = i;
	}
	if (best == SIZE_MAX)
		best = any_same != SIZE_MAX ? any_same : any_v6;
	if (best == SIZE_MAX)
		return NULL;
	if (ret_index)
		*ret_index = best;
	return ts_snapshot_socket(snap, best);
}

int ts_listener_defer_accept(const struct ts_snapshot *snap, const struct ts_socket *listener,
			     uint32_t *ret_s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, listener);
	int r = -ENOENT;

	if (!o)
		return -ENOENT;
	for (unsigned k = 0; k < listener->owner_count; k++) {
		int fd = pidfd_fd_copy(o[k].pid, o[k].fd), v = 0;
		socklen_t len = sizeof(v);

		if (fd < 0) {
			r = fd;
			continue;
		}
		r = socket_fd_identity_check(fd, listener->inode, listener->cookie);
		if (r == 0 && getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &len) < 0)
			r = -errno;
		close(fd);
		if (r == 0) {
			*ret_s = v > 0 ? (uint32_t)v : 0;
			return 0;
		}
	}
	return r;
}

static int fact_cmp(const void *a, const void *b)
{
	const struct ts_listener_fact *x = a, *y = b;

	return (x->socket > y->socket) - (x->socket < y->socket);
}

const struct ts_listener_fact *ts_listener_facts_find(const struct ts_listener_facts *f, size_t i)
{
	struct ts_listener_fact key = { .socket = (uint32_t)i };

	if (!f || !f->n || i > UINT32_MAX)
		return NULL;
	return bsearch(&key, f->v, f->n, sizeof(*f->v), fact_cmp);
}

/* A SYN_RECEIVED socket's listener key: sockets sharing it share the listener. */
struct syn_key {
	uint32_t netns;
	uint16_t port;
	struct in6_addr addr;
	uint32_t sock;
};

static int syn_key_cmp(const void *a, const void *b)
{
	const struct syn_key *x = a, *y = b;

	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

int ts_listener_facts_collect(const struct ts_snapshot *snap, struct ts_listener_facts *ret)
{
	struct ts_listener_facts f = { NULL, 0 };
	size_t n = ts_snapshot_socket_count(snap), cap = 0, kcap = 0, nk = 0;
	struct syn_key *keys = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (s->state != TS_STATE_SYN_RECEIVED)
			continue;
		if (array_grow((void **)&keys, &kcap, nk + 1, sizeof(*keys)) < 0)
			goto oom;
		keys[nk++] = (struct syn_key){ s->netns_index, s->local_port, s->local_addr, (uint32_t)i };
	}
	if (nk)
		qsort(keys, nk, sizeof(*keys), syn_key_cmp);
	for (size_t k = 0; k < nk; k++) {
		struct ts_listener_fact x = { .defer_accept_err = 0 };
		const struct ts_socket *l;
		size_t li;

		if (k > 0 && syn_key_cmp(&keys[k - 1], &keys[k]) == 0)
			continue;
		l = ts_listener_of(snap, ts_snapshot_socket(snap, keys[k].sock), &li);
		if (!l || ts_listener_facts_find(&f, li))
			continue;
		x.socket = (uint32_t)li;
		x.defer_accept_err = ts_listener_defer_accept(snap, l, &x.defer_accept_s);
		if (array_grow((void **)&f.v, &cap, f.n + 1, sizeof(*f.v)) < 0)
			goto oom;
		f.v[f.n++] = x;
		qsort(f.v, f.n, sizeof(*f.v), fact_cmp);
	}
	free(keys);
	*ret = f;
	return 0;
oom:
	free(keys);
	ts_listener_facts_clear(&f);
	return -ENOMEM;
}

void ts_listener_facts_clear(struct ts_listener_facts *f)
{
	if (!f)
		return;
	free(f->v);
	f->v = NULL;
	f->n = 0;
}
