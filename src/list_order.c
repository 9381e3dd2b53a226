/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "list_order.h"
#include "tcpstate/activity.h"

int list_sort_key_parse(const char *text, enum list_sort_key *ret)
{
	static const char *const names[_LIST_SORT_MAX] = {
		[LIST_SORT_STATE] = "state", [LIST_SORT_PORT] = "port", [LIST_SORT_PID] = "pid",
		[LIST_SORT_AGE] = "age",     [LIST_SORT_QUEUE] = "queue",
	};

	for (unsigned k = 1; k < _LIST_SORT_MAX; k++)
		if (strcmp(text, names[k]) == 0) {
			*ret = (enum list_sort_key)k;
			return 0;
		}
	return -EINVAL;
}

/*
 * Sorting 32-byte entries, not the 150-byte sockets, by three packed keys
 * (sort_entries()); the rest of the default order is compared only for
 * sockets whose keys are all equal.
 */
struct entry {
	uint64_t k1; /* the sort key's value (0 for the default order) */
	uint64_t k2; /* namespace, state, local port, family, local address (IPv4: all of it) */
	uint64_t k3; /* IPv4: has a peer, peer address, peer port;
		      * IPv6: bytes 4-11 of the local address (the family is in k2) */
	uint32_t idx;
};

static uint64_t first_pid_key(const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);

	if (!o)
		return UINT64_MAX;
	return o->pid < 0 ? (uint64_t)1 << 32 | (uint32_t)-o->pid : (uint32_t)o->pid;
}

static uint64_t sort_key(const struct ts_snapshot *snap, const struct ts_socket *s,
			 enum list_sort_key key, const uint8_t rank[_TS_STATE_MAX])
{
	struct ts_activity a;

	switch (key) {
	case LIST_SORT_STATE:
		return rank[s->state < _TS_STATE_MAX ? s->state : TS_STATE_UNKNOWN];
	case LIST_SORT_PORT:
		return s->local_port;
	case LIST_SORT_PID:
		return first_pid_key(snap, s);
	case LIST_SORT_AGE:
		if (ts_socket_activity(s, &a) < 0)
			return UINT64_MAX;
		return UINT64_MAX - 1 - a.idle_ms;
	case LIST_SORT_QUEUE:
		return UINT64_MAX - ((uint64_t)s->recv_q +
				     (s->state == TS_STATE_LISTEN ? 0 : s->send_q));
	default:
		return 0;
	}
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_addr(const struct ts_socket *a, const struct ts_socket *b, bool remote)
{
	const struct in6_addr *x = remote ? &a->remote_addr : &a->local_addr;
	const struct in6_addr *y = remote ? &b->remote_addr : &b->local_addr;
	size_t len = a->family == AF_INET ? 4 : 16;

	return memcmp(x, y, len);
}

static int cmp_entry(const void *pa, const void *pb, void *arg)
{
	const struct entry *ea = pa, *eb = pb;
	const struct ts_snapshot *snap = arg;
	const struct ts_socket *a, *b;
	const struct ts_owner *oa, *ob;
	int r;

	if ((r = cmp_u64(ea->k1, eb->k1)) || (r = cmp_u64(ea->k2, eb->k2)) ||
	    (r = cmp_u64(ea->k3, eb->k3)))
		return r;
	a = ts_snapshot_socket(snap, ea->idx);
	b = ts_snapshot_socket(snap, eb->idx);
	if ((r = (a->family > b->family) - (a->family < b->family)))
		return r; /* AF_INET (2) before AF_INET6 (10) */
	if ((r = cmp_addr(a, b, false)))
		return r;
	if ((r = (int)(b->flags & TS_SOCK_REMOTE_VALID) - (int)(a->flags & TS_SOCK_REMOTE_VALID)))
		return r; /* sockets with a peer first */
	if ((a->flags & TS_SOCK_REMOTE_VALID) &&
	    ((r = cmp_addr(a, b, true)) || (r = (a->remote_port > b->remote_port) -
						 (a->remote_port < b->remote_port))))
		return r;
	oa = ts_snapshot_owners(snap, a);
	ob = ts_snapshot_owners(snap, b);
	if ((r = cmp_u64(first_pid_key(snap, a), first_pid_key(snap, b))))
		return r;
	if (oa && ob && (r = (oa->fd > ob->fd) - (oa->fd < ob->fd)))
		return r;
	if ((r = cmp_u64(a->inode, b->inode)))
		return r;
	return cmp_u64(ea->idx, eb->idx);
}

/* Byte b (0: least significant) of the 192-bit key k1:k2:k3. */
static inline unsigned key_byte(const struct entry *e, unsigned b)
{
	uint64_t w = b < 8 ? e->k3 : b < 16 ? e->k2 : e->k1;

	return (unsigned)(w >> (8 * (b % 8))) & 0xff;
}

/*
 * Sorts by the packed keys with a least-significant-byte radix sort (only
 * the bytes that differ between entries: a filtered list shares most of
 * them), then orders each run of equal keys with cmp_entry(). The result is
 * the order qsort_r(cmp_entry) gives, at a fraction of its comparisons.
 */
static int sort_entries(struct entry *e, size_t n, const struct ts_snapshot *snap)
{
	uint64_t or[3] = { 0 }, and[3] = { UINT64_MAX, UINT64_MAX, UINT64_MAX };
	struct entry *tmp, *src = e, *dst;
	size_t i, run;

	if (n < 2)
		return 0;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		or[0] |= e[i].k3, and[0] &= e[i].k3;
		or[1] |= e[i].k2, and[1] &= e[i].k2;
		or[2] |= e[i].k1, and[2] &= e[i].k1;
	}
	dst = tmp;
	for (unsigned b = 0; b < 24; b++) {
		size_t count[256] = { 0 }, pos = 0;

		if ((((or[b / 8] ^ and[b / 8]) >> (8 * (b % 8))) & 0xff) == 0)
			continue; /* the same in every entry */
		for (i = 0; i < n; i++)
			count[key_byte(&src[i], b)]++;
		for (unsigned v = 0; v < 256; v++) {
			size_t c = count[v];

			count[v] = pos;
			pos += c;
		}
		for (i = 0; i < n; i++)
			dst[count[key_byte(&src[i], b)]++] = src[i];
		dst = src;
		src = src == e ? tmp : e;
	}
	if (src != e)
		memcpy(e, src, n * sizeof(*e));
	free(tmp);
	for (i = 0; i < n; i = run) {
		for (run = i + 1; run < n && e[run].k1 == e[i].k1 && e[run].k2 == e[i].k2 &&
				  e[run].k3 == e[i].k3;
		     run++)
			;
		if (run - i > 1)
			qsort_r(e + i, run - i, sizeof(*e), cmp_entry, (void *)snap);
	}
	return 0;
}

int list_order(const struct ts_snapshot *snap, enum list_sort_key key, uint32_t **ret_order)
{
	size_t n = ts_snapshot_socket_count(snap);
	uint8_t rank[_TS_STATE_MAX];
	struct entry *e;
	uint32_t *order;
	int r;

	memset(rank, TS_STATE_COUNT, sizeof(rank)); /* UNKNOWN last */
	for (unsigned i = 0; i < TS_STATE_COUNT; i++)
		rank[ts_state_lifecycle_order(i)] = (uint8_t)i;

	e = malloc((n ? n : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		uint64_t ns = s->netns_index < 0x7ff ? s->netns_index : 0x7ff;
		uint64_t st = rank[s->state < _TS_STATE_MAX ? s->state : TS_STATE_UNKNOWN];
		bool peer = s->flags & TS_SOCK_REMOTE_VALID;

		e[i].k1 = sort_key(snap, s, key, rank);
		/* The first 4 address bytes, big-endian: all of an IPv4 address. */
		e[i].k2 = ns << 53 | st << 49 | (uint64_t)s->local_port << 33 |
			  (uint64_t)(s->family == AF_INET6) << 32 | ntohl(s->local_addr.s6_addr32[0]);
		if (s->family == AF_INET6)
			e[i].k3 = (uint64_t)ntohl(s->local_addr.s6_addr32[1]) << 32 |
				  ntohl(s->local_addr.s6_addr32[2]);
		else
			e[i].k3 = (uint64_t)!peer << 48 |
				  (peer ? (uint64_t)ntohl(s->remote_addr.s6_addr32[0]) << 16 |
						  s->remote_port
					: 0);
		e[i].idx = (uint32_t)i;
	}
	r = sort_entries(e, n, snap);
	if (r < 0) {
		free(e);
		return r;
	}
	/* The indices, compacted into the same memory: order[i] lies in e[0..i]. */
	order = (uint32_t *)e;
	for (size_t i = 0; i < n; i++) {
		uint32_t idx = e[i].idx;

		order[i] = idx;
	}
	*ret_order = order;
	return 0;
}
