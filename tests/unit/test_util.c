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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_digits),
		cmocka_unit_test(test_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
