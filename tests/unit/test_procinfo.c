/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tcpstate/procinfo.h"

#define PROC TEST_DATA_DIR "/proc"

static void test_read_full(void **state)
{
	struct ts_procinfo pi;

	(void)state;
	assert_int_equal(ts_procinfo_read(PROC, 4242, &pi), 0);
	assert_int_equal(pi.pid, 4242);
	assert_int_equal(pi.nofile_err, 0);
	assert_int_equal(pi.nofile_soft, 1024);
	assert_int_equal(pi.nofile_hard, 524288);
	assert_int_equal(pi.fd_err, 0);
	assert_int_equal(pi.fd_count, 6);
	assert_int_equal(pi.cmdline_err, 0);
	assert_string_equal(pi.cmdline, "python3 server.py --port 8080");
	assert_int_equal(pi.cgroup_err, 0);
	assert_string_equal(pi.unit, "myapp.service");
	assert_string_equal(pi.container, "");
}

static void test_read_partial(void **state)
{
	struct ts_procinfo pi;

	(void)state;
	/* No limits file, no fd directory, an unparsable cgroup: each part says so. */
	assert_int_equal(ts_procinfo_read(PROC, 4343, &pi), 0);
	assert_int_equal(pi.nofile_err, -ENOENT);
	assert_int_equal(pi.fd_err, -ENOENT);
	assert_int_equal(pi.cmdline_err, 0);
	assert_string_equal(pi.cmdline, "kworker");
	assert_int_equal(pi.cgroup_err, 0);
	assert_string_equal(pi.unit, "");
	assert_string_equal(pi.container, "");
}

static void test_read_container_unlimited(void **state)
{
	struct ts_procinfo pi;

	(void)state;
	assert_int_equal(ts_procinfo_read(PROC, 4444, &pi), 0);
	assert_true(pi.nofile_soft == TS_PROCINFO_UNLIMITED);
	assert_true(pi.nofile_hard == TS_PROCINFO_UNLIMITED);
	assert_int_equal(pi.fd_count, 1);
	assert_string_equal(pi.cmdline, "nginx: worker process");
	assert_string_equal(pi.container, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(pi.unit, "");
}

static void test_vanished(void **state)
{
	struct ts_procinfo pi = { .pid = 77 };

	(void)state;
	assert_int_equal(ts_procinfo_read(PROC, 999999, &pi), -ESRCH);
	assert_int_equal(pi.pid, 77); /* untouched on failure */
	assert_int_equal(ts_procinfo_read(PROC, 0, &pi), -EINVAL);
	assert_int_equal(ts_procinfo_read("/nonexistent-proc", 1, &pi), -ESRCH);
}

static void test_self(void **state)
{
	struct ts_procinfo pi;

	(void)state;
	assert_int_equal(ts_procinfo_read(NULL, getpid(), &pi), 0);
	assert_int_equal(pi.nofile_err, 0);
	assert_true(pi.nofile_soft > 0);
	assert_int_equal(pi.fd_err, 0);
	assert_true(pi.fd_count >= 3);
	assert_non_null(strstr(pi.cmdline, "test_procinfo"));
}

/* On the real /proc the count comes from the fd directory's size (Linux >=
 * 6.2) or a walk: either way 100 more fds count exactly 100 more. */
static void test_self_fd_count_delta(void **state)
{
	struct ts_procinfo before, after;
	int fds[100];

	(void)state;
	assert_int_equal(ts_procinfo_read(NULL, getpid(), &before), 0);
	assert_int_equal(before.fd_err, 0);
	for (int i = 0; i < 100; i++)
		assert_true((fds[i] = dup(0)) >= 0);
	assert_int_equal(ts_procinfo_read(NULL, getpid(), &after), 0);
	assert_int_equal(after.fd_err, 0);
	assert_int_equal(after.fd_count, before.fd_count + 100);
	for (int i = 0; i < 100; i++)
		close(fds[i]);
}

static void test_parse_limits(void **state)
{
	uint64_t soft = 1, hard = 2;

	(void)state;
	assert_int_equal(ts_procinfo_parse_limits("Max open files 10 20 files\n", &soft, &hard), 0);
	assert_int_equal(soft, 10);
	assert_int_equal(hard, 20);
	assert_int_equal(ts_procinfo_parse_limits("Max open files 10 unlimited files\n", &soft, &hard), 0);
	assert_true(hard == TS_PROCINFO_UNLIMITED);
	soft = hard = 5;
	assert_int_equal(ts_procinfo_parse_limits("Max processes 10 20\n", &soft, &hard), -EBADMSG);
	assert_int_equal(ts_procinfo_parse_limits("Max open files lots 20\n", &soft, &hard), -EBADMSG);
	assert_int_equal(ts_procinfo_parse_limits("", &soft, &hard), -EBADMSG);
	assert_int_equal(soft, 5);
}

/* The parent and start time from /proc/PID/stat, with a command holding ") (" and spaces. */
static void test_parse_stat(void **state)
{
	pid_t ppid = 0;
	uint64_t start = 0;

	(void)state;
	assert_int_equal(ts_procinfo_parse_stat("77 (a) (b c) S 12 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 "
						"20 0 1 0 123456 100 5 18446744073709551615\n",
						&ppid, &start), 0);
	assert_int_equal(ppid, 12);
	assert_int_equal(start, 123456);
	assert_int_equal(ts_procinfo_parse_stat("77 (a) S 12 77", &ppid, &start), -EBADMSG);
	assert_int_equal(ts_procinfo_parse_stat("garbage", &ppid, &start), -EBADMSG);
}

/* The host's pid namespace is told from another one by its inode. */
static void test_pidns(void **state)
{
	bool initial;
	uint64_t ino = 0;

	(void)state;
	assert_int_equal(ts_pidns_is_initial(NULL, &initial, &ino), 0);
	assert_true(ino != 0);
	assert_int_equal(ts_pidns_is_initial("/nonexistent", &initial, &ino), -ENOENT);
}

static void test_parse_cgroup(void **state)
{
	static const struct {
		const char *text, *unit, *container;
	} cases[] = {
		{ "0::/system.slice/nginx.service\n", "nginx.service", "" },
		{ "0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope", "" },
		{ "0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n", "foo.service", "" },
		{ "0::/kubepods/burstable/pod1234/abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd\n",
		  "", "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd" },
		{ "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope\n",
		  "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
		{ "0::/machine.slice/libpod-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.scope/container\n",
		  "", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" },
		{ "0::/lxc.payload.web1/system.slice/apache2.service\n", "apache2.service", "web1" },
		{ "0::/\n", "", "" },
		{ "3:cpu:/foo.service\n", "", "" }, /* a v1 controller other than name=systemd: ignored */
		{ "", "", "" },
	};
	char unit[64], container[80];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ts_procinfo_parse_cgroup(cases[i].text, unit, sizeof(unit), container,
							  sizeof(container)), 0);
		assert_string_equal(unit, cases[i].unit);
		assert_string_equal(container, cases[i].container);
	}
	/* Truncated to the buffer, never overflowing. */
	ts_procinfo_parse_cgroup("0::/a-very-long-unit-name.service\n", unit, 8, container, 4);
	assert_string_equal(unit, "a-very-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_full),
		cmocka_unit_test(test_read_partial),
		cmocka_unit_test(test_read_container_unlimited),
		cmocka_unit_test(test_vanished),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_self_fd_count_delta),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_cgroup),
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_pidns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
