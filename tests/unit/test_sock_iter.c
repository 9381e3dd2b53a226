/* SPDX-License-Identifier: MIT */
/*
 * The BPF socket source's records (lib/snapshot/bpf/sockets_event.h) into
 * sockets: each kind of socket the iterator reports (full, TIME_WAIT,
 * request), byte orders, tcp_info only when asked, and records the parser
 * must refuse (unknown family or state), counted and skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "snapshot/snapshot.h"
#include "snapshot/sock_iter.h"
#include "tcpstate/filter.h"

static struct sockets_event established4(void)
{
	struct sockets_event e;

	memset(&e, 0, sizeof(e));
	e.family = AF_INET;
	e.state = TS_TCP_ESTABLISHED;
	inet_pton(AF_INET, "127.0.0.1", e.local_addr);
	inet_pton(AF_INET, "127.0.0.2", e.remote_addr);
	e.local_port = 8080;         /* host order, as skc_num */
	e.remote_port = htons(40000); /* network order, as skc_dport */
	e.cookie = 0x1122334455667788ull;
	e.inode = 424242;
	e.uid = 1000;
	e.recv_q = 3;
	e.send_q = 5;
	e.timer = 2;
	e.timer_retrans = 1;
	e.timer_ms = 7000;
	e.flags = SOCKETS_EVENT_HAS_INFO;
	e.rtt_us = 11;
	e.last_data_recv_ms = 1234;
	e.total_retrans = 9;
	e.data_segs_in = 4;
	e.ca_state = 1;
	return e;
}

static void test_full_socket(void **state)
{
	struct sockets_event e = established4();
	struct ts_socket s;
	char addr[INET_ADDRSTRLEN];

	(void)state;
	assert_int_equal(sock_iter_parse(&e, true, &s), 0);
	assert_int_equal(s.family, AF_INET);
	assert_int_equal(s.state, TS_STATE_ESTABLISHED);
	assert_int_equal(s.local_port, 8080);
	assert_int_equal(s.remote_port, 40000);
	assert_string_equal(inet_ntop(AF_INET, &s.remote_addr, addr, sizeof(addr)), "127.0.0.2");
	assert_true(s.cookie == 0x1122334455667788ull);
	assert_int_equal(s.inode, 424242);
	assert_int_equal(s.uid, 1000);
	assert_int_equal(s.recv_q, 3);
	assert_int_equal(s.send_q, 5);
	assert_int_equal(s.timer, TS_TIMER_KEEPALIVE);
	assert_int_equal(s.timer_retrans, 1);
	assert_int_equal(s.timer_expires_ms, 7000);
	assert_int_equal(s.owner_first, UINT32_MAX);
	assert_true(s.flags & TS_SOCK_REMOTE_VALID);
	assert_true(s.flags & TS_SOCK_HAS_INFO);
	assert_true(s.flags & TS_SOCK_HAS_DATA_SEGS);
	assert_int_equal(s.info.rtt_us, 11);
	assert_int_equal(s.info.last_data_recv_ms, 1234);
	assert_int_equal(s.info.total_retrans, 9);
	assert_int_equal(s.info.data_segs_in, 4);
	assert_int_equal(s.info.ca_state, 1);

	/* Without want_info, as a dump without INET_DIAG_INFO: no tcp_info at all. */
	assert_int_equal(sock_iter_parse(&e, false, &s), 0);
	assert_false(s.flags & (TS_SOCK_HAS_INFO | TS_SOCK_HAS_DATA_SEGS));
	assert_int_equal(s.info.rtt_us, 0);
	assert_int_equal(s.info.last_data_recv_ms, 0);
}

static void test_listener_v6only(void **state)
{
	struct sockets_event e;
	struct ts_socket s;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.family = AF_INET6;
	e.state = TS_TCP_LISTEN;
	inet_pton(AF_INET6, "::1", e.local_addr);
	e.local_port = 443;
	e.recv_q = 2;   /* accept queue */
	e.send_q = 128; /* backlog */
	e.flags = SOCKETS_EVENT_HAS_INFO | SOCKETS_EVENT_V6ONLY;
	assert_int_equal(sock_iter_parse(&e, true, &s), 0);
	assert_int_equal(s.state, TS_STATE_LISTEN);
	assert_true(s.flags & TS_SOCK_V6ONLY);
	assert_false(s.flags & TS_SOCK_REMOTE_VALID);
	assert_int_equal(s.recv_q, 2);
	assert_int_equal(s.send_q, 128);
	assert_int_equal(memcmp(&s.local_addr, &in6addr_loopback, 16), 0);
}

static void test_timewait_and_request(void **state)
{
	struct sockets_event e = established4();
	struct ts_socket s;

	(void)state;
	/* inet_twsk_diag_fill(): no inode, no uid, no tcp_info, the timewait timer. */
	e.state = TS_TCP_TIME_WAIT;
	e.inode = 0;
	e.uid = 0;
	e.flags = 0;
	e.timer = 3;
	e.timer_ms = 59000;
	assert_int_equal(sock_iter_parse(&e, true, &s), 0);
	assert_int_equal(s.state, TS_STATE_TIME_WAIT);
	assert_int_equal(s.timer, TS_TIMER_TIME_WAIT);
	assert_int_equal(s.timer_expires_ms, 59000);
	assert_false(s.flags & TS_SOCK_HAS_INFO);
	/* A FIN_WAIT_2 timewait socket reports its substate. */
	e.state = TS_TCP_FIN_WAIT2;
	assert_int_equal(sock_iter_parse(&e, true, &s), 0);
	assert_int_equal(s.state, TS_STATE_FIN_WAIT_2);
	/* inet_req_diag_fill(): SYN_RECV with the SYN-ACK timer. */
	e.state = TS_TCP_SYN_RECV;
	e.timer = 1;
	e.timer_retrans = 2;
	assert_int_equal(sock_iter_parse(&e, true, &s), 0);
	assert_int_equal(s.state, TS_STATE_SYN_RECEIVED);
	assert_int_equal(s.timer, TS_TIMER_RETRANS);
	assert_int_equal(s.timer_retrans, 2);
	/* A timer kind this build does not know (a newer kernel's) is none. */
	e.timer = 5;
	assert_int_equal(sock_iter_parse(&e, true, &s), 0);
	assert_int_equal(s.timer, TS_TIMER_NONE);
	assert_int_equal(s.timer_expires_ms, 0);
}

static void test_malformed(void **state)
{
	static const struct {
		uint8_t family, state;
	} bad[] = {
		{ AF_UNIX, TS_TCP_ESTABLISHED },
		{ 0, TS_TCP_ESTABLISHED },
		{ AF_INET, 0 },
		{ AF_INET, TS_TCP_NEW_SYN_RECV }, /* the program reports SYN_RECV */
		{ AF_INET, TS_TCP_BOUND_INACTIVE }, /* in no socket hash */
		{ AF_INET6, 255 },
	};
	struct ts_socket s, untouched;

	(void)state;
	memset(&untouched, 0x5a, sizeof(untouched));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockets_event e = established4();

		e.family = bad[i].family;
		e.state = bad[i].state;
		s = untouched;
		assert_int_equal(sock_iter_parse(&e, true, &s), -EBADMSG);
		assert_int_equal(memcmp(&s, &untouched, sizeof(s)), 0);
	}
}

/* The callback: bad records counted and skipped, the filter applied, the rest kept. */
static void test_append(void **state)
{
	struct ts_snapshot *snap = snapshot_new();
	struct ts_filter f = { .sports = { 8080 }, .n_sports = 1 };
	struct sock_iter_ctx ctx = { .snap = snap, .filter = &f, .netns_index = 3, .want_info = true };
	struct sockets_event good = established4(), other = established4(), bad = established4();

	(void)state;
	assert_non_null(snap);
	other.local_port = 9090;
	bad.family = 99;
	assert_int_equal(sock_iter_append(&good, &ctx), 0);
	assert_int_equal(sock_iter_append(&other, &ctx), 0);
	assert_int_equal(sock_iter_append(&bad, &ctx), 0);
	assert_int_equal(ctx.malformed, 1);
	assert_int_equal(ts_snapshot_socket_count(snap), 1);
	assert_int_equal(ts_snapshot_socket(snap, 0)->local_port, 8080);
	assert_int_equal(ts_snapshot_socket(snap, 0)->netns_index, 3);
	ts_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_socket),
		cmocka_unit_test(test_listener_v6only),
		cmocka_unit_test(test_timewait_and_request),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_append),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
