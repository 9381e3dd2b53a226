/* SPDX-License-Identifier: MIT */
/* The SOCK_DESTROY request and its answer, and which sockets each method may touch. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <cmocka.h>

#include "snapshot/owner_scan.h"
#include "snapshot/snapshot.h"
#include "tcpstate/close.h"

static struct ts_socket sock4(enum ts_state st)
{
	struct ts_socket s;

	memset(&s, 0, sizeof(s));
	s.family = AF_INET;
	s.state = (uint8_t)st;
	inet_pton(AF_INET, "10.1.2.3", &s.local_addr);
	inet_pton(AF_INET, "10.9.8.7", &s.remote_addr);
	s.local_port = 8080;
	s.remote_port = 40001;
	s.inode = 12345;
	s.cookie = 0x1122334455667788ull;
	s.flags = TS_SOCK_REMOTE_VALID;
	return s;
}

static void test_how_names(void **state)
{
	enum ts_close_how h;

	(void)state;
	for (unsigned i = 0; i < _TS_CLOSE_HOW_MAX; i++) {
		assert_int_equal(ts_close_how_parse(ts_close_how_name((enum ts_close_how)i), &h), 0);
		assert_int_equal(h, i);
	}
	assert_int_equal(ts_close_how_parse("RST", &h), -EINVAL);
	assert_int_equal(ts_close_how_parse("kill", &h), -EINVAL);
	assert_int_equal(ts_close_how_parse("", &h), -EINVAL);
	assert_null(ts_close_how_name(_TS_CLOSE_HOW_MAX));
}

static void test_request_v4(void **state)
{
	struct ts_socket s = sock4(TS_STATE_CLOSE_WAIT);
	unsigned char buf[128];
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct inet_diag_req_v2 *req = (const void *)(buf + NLMSG_HDRLEN);
	int len;

	(void)state;
	len = ts_close_destroy_request(&s, 77, buf, sizeof(buf));
	assert_int_equal(len, NLMSG_LENGTH(sizeof(*req)));
	assert_int_equal(nlh->nlmsg_len, (unsigned)len);
	assert_int_equal(nlh->nlmsg_type, SOCK_DESTROY);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(nlh->nlmsg_seq, 77);
	assert_int_equal(req->sdiag_family, AF_INET);
	assert_int_equal(req->sdiag_protocol, IPPROTO_TCP);
	assert_int_equal(req->idiag_states, 1u << 8); /* TCP_CLOSE_WAIT */
	assert_int_equal(req->id.idiag_sport, htons(8080));
	assert_int_equal(req->id.idiag_dport, htons(40001));
	assert_memory_equal(req->id.idiag_src, &s.local_addr, 4);
	assert_memory_equal(req->id.idiag_dst, &s.remote_addr, 4);
	assert_int_equal(req->id.idiag_src[1], 0);
	assert_int_equal(req->id.idiag_if, 0);
	assert_int_equal(req->id.idiag_cookie[0], 0x55667788u);
	assert_int_equal(req->id.idiag_cookie[1], 0x11223344u);

	assert_int_equal(ts_close_destroy_request(&s, 1, buf, 20), -ENOSPC);
	s.family = AF_UNIX;
	assert_int_equal(ts_close_destroy_request(&s, 1, buf, sizeof(buf)), -EINVAL);
}

static void test_request_v6_and_states(void **state)
{
	struct ts_socket s = sock4(TS_STATE_TIME_WAIT);
	unsigned char buf[128];
	const struct inet_diag_req_v2 *req = (const void *)(buf + NLMSG_HDRLEN);

	(void)state;
	s.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &s.local_addr);
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &s.remote_addr);
	assert_true(ts_close_destroy_request(&s, 2, buf, sizeof(buf)) > 0);
	assert_int_equal(req->sdiag_family, AF_INET6);
	assert_memory_equal(req->id.idiag_src, &s.local_addr, 16);
	assert_memory_equal(req->id.idiag_dst, &s.remote_addr, 16);
	assert_int_equal(req->idiag_states, 1u << 6); /* TCP_TIME_WAIT */

	s = sock4(TS_STATE_SYN_RECEIVED);
	assert_true(ts_close_destroy_request(&s, 3, buf, sizeof(buf)) > 0);
	assert_int_equal(req->idiag_states, (1u << 3) | (1u << 12)); /* SYN_RECV, NEW_SYN_RECV */
	s = sock4(TS_STATE_LISTEN);
	assert_true(ts_close_destroy_request(&s, 3, buf, sizeof(buf)) > 0);
	assert_int_equal(req->idiag_states, 1u << 10);
}

/* An NLMSG_ERROR answer with this errno (0: the ack). */
static size_t put_error(unsigned char *buf, uint32_t seq, int error)
{
	struct nlmsghdr *nlh = (void *)buf;
	struct nlmsgerr *e = (void *)(buf + NLMSG_HDRLEN);

	memset(buf, 0, NLMSG_LENGTH(sizeof(*e)));
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	e->error = error;
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

static void test_ack(void **state)
{
	unsigned char buf[256];
	size_t n;

	(void)state;
	n = put_error(buf, 9, 0);
	assert_int_equal(ts_close_destroy_ack(buf, n, 9), 0);
	n = put_error(buf, 9, -EPERM);
	assert_int_equal(ts_close_destroy_ack(buf, n, 9), -EPERM);
	n = put_error(buf, 9, -ENOENT);
	assert_int_equal(ts_close_destroy_ack(buf, n, 9), -ENOENT);
	/* An answer to another request first, then ours. */
	n = put_error(buf, 8, -EOPNOTSUPP);
	n += put_error(buf + n, 9, -ESTALE);
	assert_int_equal(ts_close_destroy_ack(buf, n, 9), -ESTALE);
	assert_int_equal(ts_close_destroy_ack(buf, n, 10), -EAGAIN);
	/* Truncated. */
	n = put_error(buf, 9, 0);
	assert_int_equal(ts_close_destroy_ack(buf, 10, 9), -EBADMSG);
	((struct nlmsghdr *)buf)->nlmsg_len = NLMSG_HDRLEN + 2;
	assert_int_equal(ts_close_destroy_ack(buf, NLMSG_HDRLEN + 4, 9), -EBADMSG);
	/* A positive "errno" is not an answer the kernel gives. */
	n = put_error(buf, 9, 5);
	assert_int_equal(ts_close_destroy_ack(buf, n, 9), -EBADMSG);
	/* A huge length on another request's message: libmnl's signed check
	 * let it through and walked 4 GiB ahead; it must be malformed. */
	n = put_error(buf, 8, 0);
	((struct nlmsghdr *)buf)->nlmsg_len = 0xfffffff0u;
	assert_int_equal(ts_close_destroy_ack(buf, n, 9), -EBADMSG);
}

static void test_verdicts(void **state)
{
	struct ts_socket s;

	(void)state;
	/* CLOSE_WAIT with a holder: every method. */
	s = sock4(TS_STATE_CLOSE_WAIT);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_RST, false), TS_CLOSE_ACT);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FIN, false), TS_CLOSE_ACT);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FD, false), TS_CLOSE_ACT);
	assert_int_equal(ts_close_verdict(&s, 0, TS_CLOSE_FIN, false), TS_CLOSE_SKIP_NO_OWNER);
	assert_int_equal(ts_close_verdict(&s, 0, TS_CLOSE_RST, false), TS_CLOSE_ACT);
	s.cookie = 0;
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_RST, false), TS_CLOSE_SKIP_NO_COOKIE);

	/* LISTEN only when named, whatever the method. */
	s = sock4(TS_STATE_LISTEN);
	for (unsigned h = 0; h < _TS_CLOSE_HOW_MAX; h++)
		assert_int_equal(ts_close_verdict(&s, 1, (enum ts_close_how)h, false),
				 TS_CLOSE_SKIP_LISTEN);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_RST, true), TS_CLOSE_ACT);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FD, true), TS_CLOSE_ACT);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FIN, true), TS_CLOSE_SKIP_NOT_CONNECTED);

	/* TIME_WAIT and request sockets: no fd, rst only. */
	s = sock4(TS_STATE_TIME_WAIT);
	s.inode = 0;
	assert_int_equal(ts_close_verdict(&s, 0, TS_CLOSE_RST, false), TS_CLOSE_ACT);
	assert_int_equal(ts_close_verdict(&s, 0, TS_CLOSE_FIN, false), TS_CLOSE_SKIP_NO_FD);
	assert_int_equal(ts_close_verdict(&s, 0, TS_CLOSE_FD, false), TS_CLOSE_SKIP_NO_FD);
	s.state = TS_STATE_SYN_RECEIVED;
	assert_int_equal(ts_close_verdict(&s, 0, TS_CLOSE_FD, false), TS_CLOSE_SKIP_NO_FD);

	/* Sockets only an fd knows: not for rst. */
	s = sock4(TS_STATE_CLOSED);
	s.flags = TS_SOCK_FROM_FD;
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_RST, false), TS_CLOSE_SKIP_NOT_HASHED);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FIN, false), TS_CLOSE_SKIP_NOT_CONNECTED);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FD, false), TS_CLOSE_ACT);

	/* This end already sent its FIN. */
	s = sock4(TS_STATE_FIN_WAIT_2);
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FIN, false), TS_CLOSE_SKIP_FIN_SENT);
	s.state = TS_STATE_LAST_ACK;
	assert_int_equal(ts_close_verdict(&s, 1, TS_CLOSE_FIN, false), TS_CLOSE_SKIP_FIN_SENT);

	for (unsigned v = 1; v < _TS_CLOSE_VERDICT_MAX; v++)
		assert_true(strlen(ts_close_verdict_reason((enum ts_close_verdict)v)) > 10);
}

/* ---- the plan's idle test ---- */

/* A held CLOSE_WAIT socket (pid 4242, this fd) with tcp_info times and Recv-Q. */
static void add_held(struct ts_snapshot *snap, int fd, uint32_t sent, uint32_t recv, uint32_t ack,
		     uint32_t recv_q)
{
	struct ts_socket s = sock4(TS_STATE_CLOSE_WAIT);
	struct ts_process p = { .pid = 4242, .comm = "server" };
	struct ts_owner o = { .pid = 4242, .fd = fd };
	uint32_t idx = 0;

	s.inode = 1000 + (uint64_t)fd;
	s.cookie = 2000 + (uint64_t)fd;
	s.remote_port = (uint16_t)(40000 + fd);
	s.recv_q = recv_q;
	s.flags |= TS_SOCK_HAS_INFO;
	s.info.last_data_sent_ms = sent;
	s.info.last_data_recv_ms = recv;
	s.info.last_ack_recv_ms = ack;
	if (snap->n_processes == 0)
		assert_int_equal(snapshot_process_append(snap, &p, &idx), 0);
	o.process_index = 0;
	o.socket_index = (uint32_t)snap->n_sockets;
	assert_int_equal(snapshot_socket_append(snap, &s), 0);
	assert_int_equal(snapshot_owner_append(snap, &o), 0);
}

static struct ts_snapshot *in_use_snap(void)
{
	struct ts_snapshot *snap = snapshot_new();
	struct ts_netns ns = { .inode = 4026531840u, .name = "testns" };
	struct ts_socket l = sock4(TS_STATE_LISTEN);
	struct ts_owner o = { .pid = 4242, .fd = 3, .process_index = 0 };
	uint32_t idx;

	assert_non_null(snap);
	snap->stats.owners_scanned = true;
	assert_int_equal(snapshot_netns_append(snap, &ns, &idx), 0);
	add_held(snap, 4, 264, 300, 264, 1);          /* answering a half-closed request */
	add_held(snap, 5, 90000, 95000, 90000, 1);    /* abandoned */
	add_held(snap, 6, 90000, 95000, 90000, 5);    /* 4 bytes it never read */
	add_held(snap, 7, 500, 120, 900, 0);          /* data just came in */
	l.flags |= TS_SOCK_HAS_INFO;
	o.socket_index = (uint32_t)snap->n_sockets;
	assert_int_equal(snapshot_socket_append(snap, &l), 0);
	assert_int_equal(snapshot_owner_append(snap, &o), 0);
	assert_int_equal(snapshot_owners_finalize(snap), 0);
	return snap;
}

static const struct ts_close_item *item_at_fd(const struct ts_close_plan *p, int fd)
{
	for (size_t i = 0; i < ts_close_plan_size(p); i++) {
		const struct ts_close_item *it = ts_close_plan_item(p, i);

		if (it->n_holders && it->holders[0].fd == fd)
			return it;
	}
	fail_msg("no item held on fd %d", fd);
	return NULL;
}

static void test_plan_spares_sockets_in_use(void **state)
{
	struct ts_snapshot *snap = in_use_snap();
	struct ts_close_opts o = { .how = TS_CLOSE_FD, .listen_named = true, .min_idle_s = 60 };
	struct ts_close_plan *p = NULL;
	const struct ts_close_item *it;

	(void)state;
	for (unsigned h = 0; h < _TS_CLOSE_HOW_MAX; h++) {
		o.how = (enum ts_close_how)h;
		assert_int_equal(ts_close_plan_build(snap, &o, &p), 0);
		it = item_at_fd(p, 4);
		assert_int_equal(it->outcome, TS_CLOSE_SKIPPED);
		assert_int_equal(it->verdict, TS_CLOSE_SKIP_IN_USE);
		assert_string_equal(it->reason, "may be in use: the peer's last ACK 264 ms ago (< --min-idle 60 s)");
		assert_true(it->has_activity);
		assert_int_equal(it->act.idle_ms, 264);
		it = item_at_fd(p, 5);
		assert_int_equal(it->outcome, TS_CLOSE_PLANNED);
		assert_true(it->has_activity);
		assert_int_equal(it->act.idle_ms, 90000);
		it = item_at_fd(p, 6);
		assert_int_equal(it->verdict, TS_CLOSE_SKIP_IN_USE);
		assert_string_equal(it->reason, "may be in use: 4 bytes received and not yet read by the program");
		it = item_at_fd(p, 7);
		assert_string_equal(it->reason, "may be in use: data received 120 ms ago (< --min-idle 60 s)");
		it = item_at_fd(p, 3);
		if (o.how == TS_CLOSE_FIN) {
			assert_int_equal(it->verdict, TS_CLOSE_SKIP_NOT_CONNECTED);
		} else {
			assert_int_equal(it->verdict, TS_CLOSE_SKIP_IN_USE);
			assert_string_equal(it->reason, "idle time unknown: LISTEN has no connection whose "
					    "traffic is timed (--min-idle 0 acts anyway)");
			assert_false(it->has_activity);
		}
		assert_int_equal(ts_close_plan_count(p, TS_CLOSE_PLANNED), 1);
		p = ts_close_plan_free(p);
	}

	/* --min-idle 0: no idle test, every socket the rules allow is planned. */
	o.how = TS_CLOSE_FD;
	o.min_idle_s = 0;
	assert_int_equal(ts_close_plan_build(snap, &o, &p), 0);
	assert_int_equal(ts_close_plan_count(p, TS_CLOSE_PLANNED), 5);
	assert_false(item_at_fd(p, 4)->has_activity);
	p = ts_close_plan_free(p);

	/* A lower --min-idle lets the older ones through, never the one with unread data. */
	o.min_idle_s = 1;
	assert_int_equal(ts_close_plan_build(snap, &o, &p), 0);
	assert_int_equal(item_at_fd(p, 5)->outcome, TS_CLOSE_PLANNED);
	assert_int_equal(item_at_fd(p, 6)->outcome, TS_CLOSE_SKIPPED);
	assert_int_equal(item_at_fd(p, 4)->outcome, TS_CLOSE_SKIPPED);
	ts_close_plan_free(p);
	ts_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_how_names),
		cmocka_unit_test(test_request_v4),
		cmocka_unit_test(test_request_v6_and_states),
		cmocka_unit_test(test_ack),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_plan_spares_sockets_in_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
