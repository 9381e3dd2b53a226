/* SPDX-License-Identifier: MIT */
/* A socket's idle time and whether it counts as abandoned (lib/core/activity.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "tcpstate/activity.h"

/* A socket in st with tcp_info: data sent, received and the peer's ACK that many ms ago. */
static struct ts_socket sock(enum ts_state st, uint32_t sent, uint32_t recv, uint32_t ack)
{
	struct ts_socket s;

	memset(&s, 0, sizeof(s));
	s.family = AF_INET;
	s.state = (uint8_t)st;
	s.inode = 1;
	s.flags = TS_SOCK_HAS_INFO | TS_SOCK_REMOTE_VALID;
	s.info.last_data_sent_ms = sent;
	s.info.last_data_recv_ms = recv;
	s.info.last_ack_recv_ms = ack;
	return s;
}

static void test_idle_is_the_latest_of_three(void **state)
{
	struct ts_activity a;
	struct ts_socket s;

	(void)state;
	s = sock(TS_STATE_CLOSE_WAIT, 300, 90000, 80000);
	assert_int_equal(ts_socket_activity(&s, &a), 0);
	assert_int_equal(a.idle_ms, 300);
	assert_int_equal(a.last, TS_LAST_DATA_SENT);
	s = sock(TS_STATE_ESTABLISHED, 90000, 250, 80000);
	assert_int_equal(ts_socket_activity(&s, &a), 0);
	assert_int_equal(a.idle_ms, 250);
	assert_int_equal(a.last, TS_LAST_DATA_RECV);
	s = sock(TS_STATE_CLOSE_WAIT, 90000, 80000, 7);
	assert_int_equal(ts_socket_activity(&s, &a), 0);
	assert_int_equal(a.idle_ms, 7);
	assert_int_equal(a.last, TS_LAST_ACK_RECV);
	/* Ties: the three times all start at the setup, ended by the peer's ACK. */
	s = sock(TS_STATE_CLOSE_WAIT, 44, 44, 44);
	assert_int_equal(ts_socket_activity(&s, &a), 0);
	assert_int_equal(a.idle_ms, 44);
	assert_int_equal(a.last, TS_LAST_ACK_RECV);
	s = sock(TS_STATE_CLOSE_WAIT, 44, 44, 60);
	assert_int_equal(ts_socket_activity(&s, &a), 0);
	assert_int_equal(a.last, TS_LAST_DATA_RECV);

	for (unsigned e = 0; e < _TS_LAST_EVENT_MAX; e++)
		assert_non_null(ts_last_event_text((enum ts_last_event)e));
	assert_null(ts_last_event_text(_TS_LAST_EVENT_MAX));
}

static void test_queues_without_fins(void **state)
{
	struct ts_socket s = sock(TS_STATE_CLOSE_WAIT, 1, 1, 1);

	(void)state;
	/* Recv-Q counts the peer's FIN until the program reads end-of-file. */
	s.recv_q = 1;
	assert_int_equal(ts_socket_unread_bytes(&s), 0);
	s.recv_q = 11;
	assert_int_equal(ts_socket_unread_bytes(&s), 10);
	s.recv_q = 0;
	assert_int_equal(ts_socket_unread_bytes(&s), 0);
	s.state = TS_STATE_ESTABLISHED;
	s.recv_q = 1;
	assert_int_equal(ts_socket_unread_bytes(&s), 1);
	/* Send-Q counts our own FIN until the peer acknowledges it. */
	s.state = TS_STATE_LAST_ACK;
	s.send_q = 1;
	assert_int_equal(ts_socket_unsent_bytes(&s), 0);
	s.state = TS_STATE_FIN_WAIT_1;
	s.send_q = 4097;
	assert_int_equal(ts_socket_unsent_bytes(&s), 4096);
	s.state = TS_STATE_CLOSE_WAIT;
	s.send_q = 5;
	assert_int_equal(ts_socket_unsent_bytes(&s), 5);
	/* A listener's queues are the accept queue and the backlog. */
	s.state = TS_STATE_LISTEN;
	s.recv_q = 3;
	s.send_q = 128;
	assert_int_equal(ts_socket_unread_bytes(&s), 0);
	assert_int_equal(ts_socket_unsent_bytes(&s), 0);
}

static void test_verdicts(void **state)
{
	const uint64_t min = 60000;
	struct ts_activity a;
	struct ts_socket s;

	(void)state;
	/* The half-closing client whose answer is still being computed. */
	s = sock(TS_STATE_CLOSE_WAIT, 264, 264, 264);
	s.recv_q = 1; /* only the FIN */
	assert_int_equal(ts_socket_idle_verdict(&s, min, &a), TS_IDLE_RECENT);
	assert_int_equal(a.idle_ms, 264);
	/* Abandoned: exactly the minimum is enough. */
	s = sock(TS_STATE_CLOSE_WAIT, 60000, 70000, 60000);
	assert_int_equal(ts_socket_idle_verdict(&s, min, &a), TS_IDLE_ABANDONED);
	s.info.last_ack_recv_ms = 59999;
	assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_RECENT);
	/* Queued data wins over any idle time. */
	s = sock(TS_STATE_CLOSE_WAIT, 999999, 999999, 999999);
	s.recv_q = 2;
	assert_int_equal(ts_socket_idle_verdict(&s, min, &a), TS_IDLE_UNREAD);
	assert_int_equal(a.unread_bytes, 1);
	s.recv_q = 0;
	s.send_q = 10;
	assert_int_equal(ts_socket_idle_verdict(&s, min, &a), TS_IDLE_UNSENT);
	assert_int_equal(a.unsent_bytes, 10);
	/* An orphan still sending its last data is not abandoned. */
	s = sock(TS_STATE_FIN_WAIT_1, 999999, 999999, 999999);
	s.send_q = 2;
	assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_UNSENT);
	s.send_q = 1;
	assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_ABANDONED);
	/* No tcp_info, or no connection to time. */
	s = sock(TS_STATE_CLOSE_WAIT, 999999, 999999, 999999);
	s.flags &= (uint8_t)~TS_SOCK_HAS_INFO;
	assert_int_equal(ts_socket_activity(&s, &a), -ENODATA);
	assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_NO_INFO);
	static const enum ts_state never[] = { TS_STATE_LISTEN, TS_STATE_SYN_SENT, TS_STATE_SYN_RECEIVED,
					       TS_STATE_IDLE, TS_STATE_BOUND, TS_STATE_UNKNOWN };
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		s = sock(never[i], 999999, 999999, 999999);
		assert_int_equal(ts_socket_activity(&s, &a), -ENOTCONN);
		assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_NEVER_CONNECTED);
	}
	/* TIME_WAIT carries nothing; CLOSED (found through an fd) keeps its times. */
	s = sock(TS_STATE_TIME_WAIT, 0, 0, 0);
	s.flags = 0;
	assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_ABANDONED);
	s = sock(TS_STATE_CLOSED, 5, 120000, 120000);
	s.flags |= TS_SOCK_FROM_FD;
	assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_RECENT);
	s.info.last_data_sent_ms = 120000;
	assert_int_equal(ts_socket_idle_verdict(&s, min, NULL), TS_IDLE_ABANDONED);
}

static void test_peer_silence(void **state)
{
	struct ts_socket s = sock(TS_STATE_CLOSE_WAIT, 1, 9000, 5000);
	uint64_t ms = 77;

	(void)state;
	assert_true(ts_socket_peer_silence_ms(&s, &ms));
	assert_int_equal(ms, 5000); /* data sent by us does not count */
	s.flags = 0;
	ms = 77;
	assert_false(ts_socket_peer_silence_ms(&s, &ms));
	assert_int_equal(ms, 77);
}

static void test_duration_text(void **state)
{
	char b[32];

	(void)state;
	ts_duration_text(264, b, sizeof(b));
	assert_string_equal(b, "264 ms");
	ts_duration_text(3100, b, sizeof(b));
	assert_string_equal(b, "3.1 s");
	ts_duration_text(240000, b, sizeof(b));
	assert_string_equal(b, "4.0 min");
	ts_duration_text(9000000, b, sizeof(b));
	assert_string_equal(b, "2.5 h");
	ts_duration_text(259200000, b, sizeof(b));
	assert_string_equal(b, "3.0 days");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_is_the_latest_of_three),
		cmocka_unit_test(test_queues_without_fins),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_peer_silence),
		cmocka_unit_test(test_duration_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
