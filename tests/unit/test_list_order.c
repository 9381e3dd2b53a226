/* SPDX-License-Identifier: MIT */
/*
 * The order `list` prints sockets in (src/list_order.c): checked against a
 * comparator written here from list_order.h's description, on random
 * snapshots whose fields come from small sets, so that every tie-break is
 * reached. The comparator is a total order (the socket index breaks the
 * last tie), so the expected order is exact.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "list_order.h"
#include "snapshot/owner_scan.h"
#include "snapshot/snapshot.h"
#include "tcpstate/activity.h"
#include "tcpstate/state.h"

static unsigned lifecycle_rank(unsigned state)
{
	for (unsigned i = 0; i < TS_STATE_COUNT; i++)
		if (ts_state_lifecycle_order(i) == state)
			return i;
	return TS_STATE_COUNT;
}

static int cmp_num(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

struct ref {
	const struct ts_snapshot *snap;
	enum list_sort_key key;
};

/* The first holder's pid; nobody last. */
static uint64_t pid_key(const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);

	return o ? (uint64_t)(uint32_t)o->pid : UINT64_MAX;
}

static int cmp_by_key(const struct ref *ref, const struct ts_socket *a, const struct ts_socket *b)
{
	struct ts_activity x, y;
	bool kx, ky;

	switch (ref->key) {
	case LIST_SORT_STATE:
		return cmp_num(lifecycle_rank(a->state), lifecycle_rank(b->state));
	case LIST_SORT_PORT:
		return cmp_num(a->local_port, b->local_port);
	case LIST_SORT_PID:
		return cmp_num(pid_key(ref->snap, a), pid_key(ref->snap, b));
	case LIST_SORT_AGE: /* longest idle first, unknown last */
		kx = ts_socket_activity(a, &x) == 0;
		ky = ts_socket_activity(b, &y) == 0;
		if (kx != ky)
			return kx ? -1 : 1;
		return kx ? cmp_num(y.idle_ms, x.idle_ms) : 0;
	case LIST_SORT_QUEUE: /* largest first; LISTEN: the accept queue only */
		return cmp_num((uint64_t)b->recv_q + (b->state == TS_STATE_LISTEN ? 0 : b->send_q),
			       (uint64_t)a->recv_q + (a->state == TS_STATE_LISTEN ? 0 : a->send_q));
	default:
		return 0;
	}
}

static int cmp_ref(const void *pa, const void *pb, void *arg)
{
	const struct ref *ref = arg;
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	const struct ts_socket *a = ts_snapshot_socket(ref->snap, ia);
	const struct ts_socket *b = ts_snapshot_socket(ref->snap, ib);
	const struct ts_owner *oa, *ob;
	size_t len;
	int r;

	if ((r = cmp_by_key(ref, a, b)))
		return r;
	if ((r = cmp_num(a->netns_index, b->netns_index)) ||
	    (r = cmp_num(lifecycle_rank(a->state), lifecycle_rank(b->state))) ||
	    (r = cmp_num(a->local_port, b->local_port)) || (r = cmp_num(a->family, b->family)))
		return r;
	len = a->family == AF_INET ? 4 : 16;
	if ((r = memcmp(&a->local_addr, &b->local_addr, len)))
		return r;
	/* Sockets with a peer first, by peer address and port. */
	if ((r = cmp_num(!(a->flags & TS_SOCK_REMOTE_VALID), !(b->flags & TS_SOCK_REMOTE_VALID))))
		return r;
	if (a->flags & TS_SOCK_REMOTE_VALID) {
		if ((r = memcmp(&a->remote_addr, &b->remote_addr, len)) ||
		    (r = cmp_num(a->remote_port, b->remote_port)))
			return r;
	}
	if ((r = cmp_num(pid_key(ref->snap, a), pid_key(ref->snap, b))))
		return r;
	oa = ts_snapshot_owners(ref->snap, a);
	ob = ts_snapshot_owners(ref->snap, b);
	if (oa && ob && (r = cmp_num((uint64_t)(uint32_t)oa->fd, (uint64_t)(uint32_t)ob->fd)))
		return r;
	if ((r = cmp_num(a->inode, b->inode)))
		return r;
	return cmp_num(ia, ib);
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rand() % (int)n);
}

/* n sockets from small value sets; about half held by one of 5 pids. */
static struct ts_snapshot *random_snapshot(size_t n, unsigned seed, bool one_state)
{
	static const uint8_t states[] = { TS_STATE_LISTEN, TS_STATE_ESTABLISHED,
					  TS_STATE_CLOSE_WAIT, TS_STATE_TIME_WAIT,
					  TS_STATE_CLOSED, TS_STATE_SYN_SENT };
	struct ts_snapshot *snap = snapshot_new();

	assert_non_null(snap);
	srand(seed);
	for (size_t i = 0; i < n; i++) {
		struct ts_socket s = { 0 };

		s.family = pick(4) ? AF_INET : AF_INET6;
		s.state = one_state ? TS_STATE_CLOSE_WAIT : states[pick(sizeof(states))];
		s.netns_index = pick(3) == 0;
		s.local_port = (uint16_t)(8000 + pick(3));
		s.local_addr.s6_addr[0] = (uint8_t)(127 + pick(2));
		s.local_addr.s6_addr[3] = (uint8_t)pick(3);
		if (s.family == AF_INET6)
			s.local_addr.s6_addr[15] = (uint8_t)pick(3); /* past the packed bytes */
		if (pick(5)) {
			s.flags |= TS_SOCK_REMOTE_VALID;
			s.remote_addr.s6_addr[0] = 10;
			s.remote_addr.s6_addr[2] = (uint8_t)pick(300 % 256);
			s.remote_addr.s6_addr[3] = (uint8_t)pick(2);
			if (s.family == AF_INET6)
				s.remote_addr.s6_addr[12] = (uint8_t)pick(2);
			s.remote_port = (uint16_t)(40000 + pick(4));
		}
		s.inode = pick(4) ? 1000 + pick(50) : 0;
		s.recv_q = pick(3);
		s.send_q = pick(3);
		if (pick(2))
			s.flags |= TS_SOCK_HAS_INFO;
		s.info.last_data_recv_ms = pick(4) * 1000;
		s.info.last_data_sent_ms = pick(4) * 1000;
		assert_int_equal(snapshot_socket_append(snap, &s), 0);
	}
	for (size_t i = 0; i < n; i++) {
		if (pick(2))
			continue;
		struct ts_process p = { .pid = (pid_t)(100 + pick(5)) };
		uint32_t pi;

		assert_int_equal(snapshot_process_append(snap, &p, &pi), 0);
		assert_int_equal(snapshot_owner_append(snap, &(struct ts_owner){
					 .pid = p.pid, .fd = (int)pick(6), .process_index = pi,
					 .socket_index = (uint32_t)i }), 0);
	}
	assert_int_equal(snapshot_owners_finalize(snap), 0);
	return snap;
}

static void describe(const struct ts_snapshot *snap, uint32_t i)
{
	const struct ts_socket *x = ts_snapshot_socket(snap, i);
	const struct ts_owner *o = ts_snapshot_owners(snap, x);
	char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];

	inet_ntop(x->family, &x->local_addr, l, sizeof(l));
	inet_ntop(x->family, &x->remote_addr, r, sizeof(r));
	print_message("socket %u: netns %u state %u %s port %u peer %s port %u (%s) pid %d fd %d "
		      "inode %llu\n", i, x->netns_index, x->state, l, x->local_port, r,
		      x->remote_port, x->flags & TS_SOCK_REMOTE_VALID ? "valid" : "none",
		      o ? o->pid : -1, o ? o->fd : -1, (unsigned long long)x->inode);
}

static void check_order(size_t n, unsigned seed, bool one_state, enum list_sort_key key)
{
	struct ts_snapshot *snap = random_snapshot(n, seed, one_state);
	struct ref ref = { .snap = snap, .key = key };
	uint32_t *order = NULL, *expect = malloc((n ? n : 1) * sizeof(*expect));

	assert_non_null(expect);
	for (size_t i = 0; i < n; i++)
		expect[i] = (uint32_t)i;
	qsort_r(expect, n, sizeof(*expect), cmp_ref, &ref);
	assert_int_equal(list_order(snap, key, &order), 0);
	for (size_t i = 0; i < n; i++)
		if (order[i] != expect[i]) {
			describe(snap, order[i]);
			describe(snap, expect[i]);
			fail_msg("seed %u key %d: position %zu is socket %u, expected %u", seed,
				 (int)key, i, order[i], expect[i]);
		}
	free(order);
	free(expect);
	ts_snapshot_free(snap);
}

static void test_every_key(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 20; seed++)
		for (int key = 0; key < _LIST_SORT_MAX; key++)
			check_order(2000, seed, false, (enum list_sort_key)key);
}

/* A filtered list (one state): most key bytes are the same everywhere. */
static void test_one_state(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 10; seed++)
		check_order(3000, seed, true, LIST_SORT_DEFAULT);
}

static void test_tiny(void **state)
{
	(void)state;
	for (size_t n = 0; n <= 3; n++)
		check_order(n, 7, false, LIST_SORT_DEFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_one_state),
		cmocka_unit_test(test_tiny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
