/* SPDX-License-Identifier: MIT */
/* The checked parsers and the digit test of tcpstate/util.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tcpstate/util.h"

static void test_is_digits(void **state)
{
	(void)state;
	assert_true(ts_str_is_digits("0"));
	assert_true(ts_str_is_digits("4026531840"));
	assert_false(ts_str_is_digits(""));
	assert_false(ts_str_is_digits(NULL));
	assert_false(ts_str_is_digits("12a"));
	assert_false(ts_str_is_digits("-1"));
	assert_false(ts_str_is_digits(" 1"));
	assert_false(ts_str_is_digits("net:[1]"));
}

static void test_parsers(void **state)
{
	uint32_t u = 7;
	uint16_t port = 7;
	pid_t pid = 7;

	(void)state;
	assert_int_equal(ts_parse_u32("42", 1, 100, &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(ts_parse_u32("101", 1, 100, &u), -ERANGE);
	assert_int_equal(ts_parse_u32("+5", 1, 100, &u), -EINVAL);
	assert_int_equal(ts_parse_u32("5 ", 1, 100, &u), -EINVAL);
	assert_int_equal(u, 42); /* untouched on error */
	assert_int_equal(ts_parse_port("0", &port), -ERANGE);
	assert_int_equal(ts_parse_port("65535", &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(ts_parse_port("65536", &port), -ERANGE);
	assert_int_equal(ts_parse_pid("99999999999", &pid), -ERANGE);
	assert_int_equal(ts_parse_pid("1", &pid), 0);
	assert_int_equal(pid, 1);
}

/* Service names as ss takes them; numbers stay numbers (a digit string is never a name). */
static void test_port_or_service(void **state)
{
	uint16_t port = 7;

	(void)state;
	assert_int_equal(ts_parse_port_or_service("8080", &port), 0);
	assert_int_equal(port, 8080);
	assert_int_equal(ts_parse_port_or_service("0", &port), -ERANGE);
	assert_int_equal(ts_parse_port_or_service("65536", &port), -ERANGE);
	assert_int_equal(ts_parse_port_or_service("", &port), -EINVAL);
	assert_int_equal(ts_parse_port_or_service("no-such-service-x", &port), -ENOENT);
	assert_int_equal(port, 8080);
	/* The services database (netbase) of every Debian system has these. */
	assert_int_equal(ts_parse_port_or_service("http", &port), 0);
	assert_int_equal(port, 80);
	assert_int_equal(ts_parse_port_or_service("postgresql", &port), 0);
	assert_int_equal(port, 5432);
	assert_int_equal(ts_parse_port_or_service("www", &port), 0); /* an alias */
	assert_int_equal(port, 80);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_digits),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_port_or_service),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
