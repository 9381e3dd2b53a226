/* SPDX-License-Identifier: MIT */
/* src/explain_query.c: the socket words 'tcpstate explain' takes, and which sockets answer them. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "explain.h"

static void test_ipv4_endpoint(void **state)
{
	struct explain_query q;
	struct in_addr want;

	(void)state;
	assert_int_equal(explain_query_parse("10.1.2.3:8080", &q), 1);
	assert_int_equal(q.kind, EXPLAIN_QUERY_ENDPOINT);
	assert_int_equal(q.family, AF_INET);
	assert_int_equal(q.port, 8080);
	inet_pton(AF_INET, "10.1.2.3", &want);
	assert_memory_equal(&q.addr, &want, 4);
	assert_string_equal(q.text, "10.1.2.3:8080");
}

static void test_ipv6_endpoint_in_brackets(void **state)
{
	struct explain_query q;

	(void)state;
	assert_int_equal(explain_query_parse("[::1]:443", &q), 1);
	assert_int_equal(q.kind, EXPLAIN_QUERY_ENDPOINT);
	assert_int_equal(q.family, AF_INET6);
	assert_int_equal(q.port, 443);
	assert_true(IN6_IS_ADDR_LOOPBACK(&q.addr));
}

static void test_port_and_inode(void **state)
{
	struct explain_query q;

	(void)state;
	assert_int_equal(explain_query_parse(":22", &q), 1);
	assert_int_equal(q.kind, EXPLAIN_QUERY_PORT);
	assert_int_equal(q.port, 22);
	assert_int_equal(explain_query_parse("4711", &q), 1);
	assert_int_equal(q.kind, EXPLAIN_QUERY_INODE);
	assert_int_equal(q.inode, 4711);
}

static void test_words_are_not_queries(void **state)
{
	struct explain_query q;

	(void)state;
	assert_int_equal(explain_query_parse("close-wait", &q), 0);
	assert_int_equal(explain_query_parse("closing", &q), 0);
}

static void test_malformed_queries_are_usage_errors(void **state)
{
	static const char *const bad[] = {
		"0",            /* inodes start at 1 */
		"1.2.3:80",     /* not an IPv4 address */
		"::1:80",       /* IPv6 without brackets */
		"[::1:80",      /* no closing bracket */
		"[::1]80",      /* no colon after it */
		"[]:80",        /* empty address */
		":1:2",         /* a bare IPv6 after the colon */
		"1.2.3.4:0",    /* port 0 */
		"1.2.3.4:65536",
		":",
		":http",
	};
	struct explain_query q;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("%s\n", bad[i]);
		assert_int_equal(explain_query_parse(bad[i], &q), -1);
	}
}

static struct ts_socket sock(int family, const char *local, uint16_t lport, const char *remote,
			     uint16_t rport)
{
	struct ts_socket s;

	memset(&s, 0, sizeof(s));
	s.family = (uint8_t)family;
	inet_pton(family, local, &s.local_addr);
	s.local_port = lport;
	if (remote) {
		inet_pton(family, remote, &s.remote_addr);
		s.remote_port = rport;
		s.flags |= TS_SOCK_REMOTE_VALID;
	}
	return s;
}

static void test_endpoint_matches_either_end(void **state)
{
	struct ts_socket s = sock(AF_INET, "127.0.0.1", 40000, "127.0.0.2", 8080);
	struct explain_query q;

	(void)state;
	assert_int_equal(explain_query_parse("127.0.0.2:8080", &q), 1);
	assert_true(explain_query_match(&q, &s));
	assert_int_equal(explain_query_parse("127.0.0.1:40000", &q), 1);
	assert_true(explain_query_match(&q, &s));
	/* the right port at the wrong address, or the other end's port */
	assert_int_equal(explain_query_parse("127.0.0.3:8080", &q), 1);
	assert_false(explain_query_match(&q, &s));
	assert_int_equal(explain_query_parse("127.0.0.2:40000", &q), 1);
	assert_false(explain_query_match(&q, &s));
}

static void test_wildcard_listener_answers_every_address(void **state)
{
	struct ts_socket l4 = sock(AF_INET, "0.0.0.0", 80, NULL, 0);
	struct ts_socket l6 = sock(AF_INET6, "::", 80, NULL, 0);
	struct explain_query q;

	(void)state;
	assert_int_equal(explain_query_parse("192.0.2.7:80", &q), 1);
	assert_true(explain_query_match(&q, &l4));
	assert_true(explain_query_match(&q, &l6));
	assert_int_equal(explain_query_parse("192.0.2.7:81", &q), 1);
	assert_false(explain_query_match(&q, &l4));
}

static void test_v4_mapped_address_is_its_ipv4_one(void **state)
{
	struct ts_socket s = sock(AF_INET6, "::ffff:127.0.0.1", 9000, "::ffff:127.0.0.9", 5000);
	struct explain_query q;

	(void)state;
	assert_int_equal(explain_query_parse("127.0.0.9:5000", &q), 1);
	assert_true(explain_query_match(&q, &s));
	assert_int_equal(explain_query_parse("[::ffff:127.0.0.1]:9000", &q), 1);
	assert_true(explain_query_match(&q, &s));
}

static void test_port_and_inode_match(void **state)
{
	struct ts_socket s = sock(AF_INET, "127.0.0.1", 40000, "127.0.0.2", 8080);
	struct ts_socket bound = sock(AF_INET, "127.0.0.1", 7000, NULL, 0);
	struct explain_query q;

	(void)state;
	s.inode = 99;
	assert_int_equal(explain_query_parse(":8080", &q), 1);
	assert_true(explain_query_match(&q, &s));
	assert_int_equal(explain_query_parse(":7000", &q), 1);
	assert_true(explain_query_match(&q, &bound));
	/* no remote end: its port (0) matches no query */
	bound.remote_port = 7000;
	assert_int_equal(explain_query_parse(":9", &q), 1);
	assert_false(explain_query_match(&q, &bound));
	assert_int_equal(explain_query_parse("99", &q), 1);
	assert_true(explain_query_match(&q, &s));
	assert_int_equal(explain_query_parse("98", &q), 1);
	assert_false(explain_query_match(&q, &s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_endpoint),
		cmocka_unit_test(test_ipv6_endpoint_in_brackets),
		cmocka_unit_test(test_port_and_inode),
		cmocka_unit_test(test_words_are_not_queries),
		cmocka_unit_test(test_malformed_queries_are_usage_errors),
		cmocka_unit_test(test_endpoint_matches_either_end),
		cmocka_unit_test(test_wildcard_listener_answers_every_address),
		cmocka_unit_test(test_v4_mapped_address_is_its_ipv4_one),
		cmocka_unit_test(test_port_and_inode_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
