/* SPDX-License-Identifier: MIT */
/* Naming network namespaces (lib/core/netns.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/netns.h"
#include "tcpstate/socket.h"

/* A /proc without pid 1 (its link unreadable, as in a container): the fixed initial inode still says init. */
static void test_init_without_pid_1(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(netns_name(NETNS_INIT_INO, "/nonexistent-proc", buf, sizeof(buf)),
			 TS_NETNS_INIT);
	assert_string_equal(buf, "init");
	/* no such namespace */
	assert_int_equal(netns_name(0xFFFFFFF0ull, "/nonexistent-proc", buf, sizeof(buf)),
			 TS_NETNS_UNNAMED);
	assert_string_equal(buf, "net:[4294967280]");
}

/* What opens a namespace of a snapshot again, by its kind, never by its displayed name. */
static void test_reopen_spec(void **state)
{
	struct ts_netns named = { .inode = 7, .name = "blue", .pid = 42, .kind = TS_NETNS_NAMED };
	/* A /run/netns name that looks like the other kinds' names is still a name. */
	struct ts_netns tricky = { .inode = 8, .name = "init", .pid = 0, .kind = TS_NETNS_NAMED };
	struct ts_netns init = { .inode = NETNS_INIT_INO, .name = "init", .pid = 0,
				 .kind = TS_NETNS_INIT };
	struct ts_netns seen = { .inode = 9, .name = "net:[9]", .pid = 4242,
				 .kind = TS_NETNS_UNNAMED };
	struct ts_netns lost = { .inode = 10, .name = "net:[10]", .pid = 0,
				 .kind = TS_NETNS_UNNAMED };
	char buf[64], tiny[8];

	(void)state;
	assert_int_equal(ts_netns_reopen_spec(&named, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "blue");
	assert_int_equal(ts_netns_reopen_spec(&tricky, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "init");
	assert_int_equal(ts_netns_reopen_spec(&init, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/proc/1/ns/net");
	assert_int_equal(ts_netns_reopen_spec(&init, "/tmp/fakeproc", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/fakeproc/1/ns/net");
	assert_int_equal(ts_netns_reopen_spec(&seen, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/proc/4242/ns/net"); /* a path: a name "4242" would win over a pid */
	assert_int_equal(ts_netns_reopen_spec(&lost, NULL, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(ts_netns_reopen_spec(&seen, NULL, tiny, sizeof(tiny)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_without_pid_1),
		cmocka_unit_test(test_reopen_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
