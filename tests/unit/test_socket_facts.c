/* SPDX-License-Identifier: MIT */
/* One definition each of orphan, awaiting accept, retransmissions (retransmitting) and a full accept queue. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "tcpstate/socket_facts.h"
#include "tcpstate/state.h"

static struct ts_socket sock(enum ts_state st, uint64_t inode)
{
	struct ts_socket s;

	memset(&s, 0, sizeof(s));
	s.family = AF_INET;
	s.state = (uint8_t)st;
	s.inode = inode;
	return s;
}

static void test_orphan(void **state)
{
	static const enum ts_state closing[] = { TS_STATE_FIN_WAIT_1, TS_STATE_FIN_WAIT_2,
						 TS_STATE_LAST_ACK, TS_STATE_CLOSING };
	struct ts_socket s;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		s = sock(closing[i], 0);
		assert_true(ts_socket_is_orphan(&s));
		s.inode = 77; /* still held: shutdown(), not close() */
		assert_false(ts_socket_is_orphan(&s));
	}
	/* No inode, but not orphans: TIME_WAIT, requests, not yet accepted. */
	s = sock(TS_STATE_TIME_WAIT, 0);
	assert_false(ts_socket_is_orphan(&s));
	s = sock(TS_STATE_SYN_RECEIVED, 0);
	assert_false(ts_socket_is_orphan(&s));
	s = sock(TS_STATE_CLOSE_WAIT, 0);
	assert_false(ts_socket_is_orphan(&s));
	assert_true(ts_socket_awaiting_accept(&s));
	s = sock(TS_STATE_ESTABLISHED, 0);
	assert_true(ts_socket_awaiting_accept(&s));
	s.inode = 5;
	assert_false(ts_socket_awaiting_accept(&s));
	/* Found through a descriptor: held by definition. */
	s = sock(TS_STATE_FIN_WAIT_2, 0);
	s.flags = TS_SOCK_FROM_FD;
	assert_false(ts_socket_is_orphan(&s));
}

/* Orphaned FIN_WAIT_2: a TIME_WAIT record (tw buckets) or still a full socket (tcp_max_orphans). */
static void test_orphan_fin_wait_2_kinds(void **state)
{
	struct ts_socket s = sock(TS_STATE_FIN_WAIT_2, 0);

	(void)state;
	s.timer = TS_TIMER_TIME_WAIT;
	assert_true(ts_socket_in_tw_bucket(&s));
	assert_false(ts_socket_counts_as_orphan(&s));
	s.timer = TS_TIMER_KEEPALIVE; /* tcp_fin_timeout above 60 s: a full socket first */
	assert_false(ts_socket_in_tw_bucket(&s));
	assert_true(ts_socket_counts_as_orphan(&s));
	s = sock(TS_STATE_LAST_ACK, 0);
	s.timer = TS_TIMER_RETRANS;
	assert_true(ts_socket_counts_as_orphan(&s));
	s = sock(TS_STATE_TIME_WAIT, 0);
	assert_true(ts_socket_in_tw_bucket(&s));
	assert_false(ts_socket_counts_as_orphan(&s));
}

static void test_retransmissions(void **state)
{
	struct ts_socket s = sock(TS_STATE_ESTABLISHED, 1);

	(void)state;
	assert_false(ts_socket_retransmitting(&s));
	s.timer = TS_TIMER_RETRANS;
	s.timer_retrans = 3;
	assert_int_equal(ts_socket_retransmissions(&s), 3);
	assert_true(ts_socket_retransmitting(&s));
	/* Keepalive and zero-window probes are counted by sock_diag too, but are not retransmissions. */
	s.timer = TS_TIMER_KEEPALIVE;
	assert_int_equal(ts_socket_retransmissions(&s), 0);
	assert_false(ts_socket_retransmitting(&s));
	s.timer = TS_TIMER_PROBE;
	assert_int_equal(ts_socket_retransmissions(&s), 0);
	assert_false(ts_socket_retransmitting(&s));
	/* tcp_info's count, when the timer shows none. */
	s.flags = TS_SOCK_HAS_INFO;
	s.info.retransmits = 2;
	s.info.backoff = 6; /* doubled by zero-window probes as well */
	assert_int_equal(ts_socket_retransmissions(&s), 2);
	assert_true(ts_socket_retransmitting(&s));
}

static void test_listener_queue_full(void **state)
{
	struct ts_socket s = sock(TS_STATE_LISTEN, 1);

	(void)state;
	s.send_q = 10;
	s.recv_q = 10;
	assert_false(ts_listener_queue_full(&s)); /* backlog + 1 fit */
	s.recv_q = 11;
	assert_true(ts_listener_queue_full(&s));
	s.send_q = 0;
	s.recv_q = 1;
	assert_true(ts_listener_queue_full(&s));
	s.state = TS_STATE_ESTABLISHED;
	assert_false(ts_listener_queue_full(&s));
}

/* A connection that never carried data: its tcp_info times are its age, not a time since data moved. */
static void test_data_moved(void **state)
{
	struct ts_socket s = sock(TS_STATE_ESTABLISHED, 1);
	bool sent = true, recv = true;

	(void)state;
	assert_int_equal(ts_socket_data_moved(&s, &sent, &recv), -ENODATA); /* no tcp_info */
	s.flags = TS_SOCK_HAS_INFO;
	assert_int_equal(ts_socket_data_moved(&s, &sent, &recv), -ENODATA); /* kernel < 4.6 */
	s.flags |= TS_SOCK_HAS_DATA_SEGS;
	assert_int_equal(ts_socket_data_moved(&s, &sent, &recv), 0);
	assert_false(sent);
	assert_false(recv);
	s.info.data_segs_in = 3;
	assert_int_equal(ts_socket_data_moved(&s, &sent, &recv), 0);
	assert_false(sent);
	assert_true(recv);
	/* Never connected: the times count from no event at all. */
	s = sock(TS_STATE_IDLE, 1);
	s.flags = TS_SOCK_HAS_INFO | TS_SOCK_HAS_DATA_SEGS | TS_SOCK_FROM_FD;
	assert_int_equal(ts_socket_data_moved(&s, &sent, &recv), -ENOTCONN);
	assert_true(ts_socket_never_connected(&s));
	s.state = TS_STATE_CLOSED;
	assert_false(ts_socket_never_connected(&s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orphan),
		cmocka_unit_test(test_orphan_fin_wait_2_kinds),
		cmocka_unit_test(test_retransmissions),
		cmocka_unit_test(test_listener_queue_full),
		cmocka_unit_test(test_data_moved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
