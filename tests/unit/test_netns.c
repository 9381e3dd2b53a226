/* SPDX-License-Identifier: MIT */
/* Naming network namespaces (lib/core/netns.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/netns.h"

/* A /proc without pid 1 (its link unreadable, as in a container): the fixed initial inode still says init. */
static void test_init_without_pid_1(void **state)
{
	char buf[64];

	(void)state;
	netns_name(NETNS_INIT_INO, "/nonexistent-proc", buf, sizeof(buf));
	assert_string_equal(buf, "init");
	netns_name(0xFFFFFFF0ull, "/nonexistent-proc", buf, sizeof(buf)); /* no such namespace */
	assert_string_equal(buf, "net:[4294967280]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_without_pid_1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
