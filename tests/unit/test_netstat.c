/* SPDX-License-Identifier: MIT */
/* The TcpExt counters of /proc/net/netstat (lib/snapshot/netstat.c), on recorded and malformed text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tcpstate/netstat.h"

static char *slurp(const char *name)
{
	char path[512];
	FILE *f;
	char *buf = calloc(1, 65536);
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
	f = fopen(path, "re");
	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A file recorded on Linux 6.18: TcpExt, IpExt and MPTcpExt groups. */
static void test_recorded_file(void **state)
{
	char *text = slurp("netstat-6.18.txt");
	struct ts_netstat n;

	(void)state;
	assert_int_equal(ts_netstat_parse(text, &n), 0);
	for (int c = 0; c < _TS_NSTAT_MAX; c++)
		assert_true(ts_netstat_has(&n, (enum ts_netstat_counter)c));
	free(text);
}

static const char small[] =
	"TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed ListenOverflows ListenDrops "
	"TCPDeferAcceptDrop TCPReqQFullDoCookies TCPReqQFullDrop\n"
	"TcpExt: 3 0 1 7 9 12 3 0\n"
	"IpExt: InNoRoutes ListenDrops\n"
	"IpExt: 5 999\n";

static void test_values_by_name(void **state)
{
	struct ts_netstat n;

	(void)state;
	assert_int_equal(ts_netstat_parse(small, &n), 0);
	assert_int_equal(n.value[TS_NSTAT_SYNCOOKIES_SENT], 3);
	assert_int_equal(n.value[TS_NSTAT_SYNCOOKIES_FAILED], 1);
	assert_int_equal(n.value[TS_NSTAT_LISTEN_OVERFLOWS], 7);
	/* IpExt's field of the same name does not overwrite TcpExt's. */
	assert_int_equal(n.value[TS_NSTAT_LISTEN_DROPS], 9);
	assert_int_equal(n.value[TS_NSTAT_DEFER_ACCEPT_DROP], 12);
	assert_int_equal(n.value[TS_NSTAT_REQQ_FULL_DO_COOKIES], 3);
	assert_true(ts_netstat_has(&n, TS_NSTAT_REQQ_FULL_DROP));
	/* Not in this (older) kernel's file: not reported, not zero. */
	assert_false(ts_netstat_has(&n, TS_NSTAT_TIMEWAIT_OVERFLOW));
	assert_false(ts_netstat_has(&n, TS_NSTAT_ABORT_ON_MEMORY));
}

static void test_large_values(void **state)
{
	struct ts_netstat n;

	(void)state;
	assert_int_equal(ts_netstat_parse("TcpExt: ListenDrops\nTcpExt: 18446744073709551615\n", &n), 0);
	assert_true(n.value[TS_NSTAT_LISTEN_DROPS] == UINT64_MAX);
	assert_int_equal(ts_netstat_parse("TcpExt: ListenDrops\nTcpExt: 18446744073709551616\n", &n),
			 -EBADMSG);
}

static void test_no_trailing_newline(void **state)
{
	struct ts_netstat n;

	(void)state;
	assert_int_equal(ts_netstat_parse("TcpExt: ListenDrops\nTcpExt: 4", &n), 0);
	assert_int_equal(n.value[TS_NSTAT_LISTEN_DROPS], 4);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"TcpExt: ListenDrops ListenOverflows\nTcpExt: 1\n",          /* fewer values */
		"TcpExt: ListenDrops\nTcpExt: 1 2\n",                        /* more values */
		"TcpExt: ListenDrops\nTcpExt: -1\n",                         /* signed */
		"TcpExt: ListenDrops\nTcpExt: 12abc\n",                      /* not a number */
		"TcpExt: ListenDrops\nIpExt: 1\n",                           /* values of another group */
		"TcpExt: ListenDrops\n",                                     /* header alone */
		"TcpExt: ListenDrops",                                       /* header alone, no newline */
	};
	struct ts_netstat n = { .have = 0xdead };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ts_netstat_parse(bad[i], &n), -EBADMSG);
		assert_int_equal(n.have, 0xdead); /* untouched on failure */
	}
}

static void test_no_tcpext(void **state)
{
	struct ts_netstat n;

	(void)state;
	assert_int_equal(ts_netstat_parse("", &n), -ENODATA);
	assert_int_equal(ts_netstat_parse("IpExt: InNoRoutes\nIpExt: 0\n", &n), -ENODATA);
	assert_int_equal(ts_netstat_parse(NULL, &n), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(ts_netstat_name(TS_NSTAT_DEFER_ACCEPT_DROP), "TcpExtTCPDeferAcceptDrop");
	assert_string_equal(ts_netstat_name(TS_NSTAT_LISTEN_OVERFLOWS), "TcpExtListenOverflows");
	assert_null(ts_netstat_name(_TS_NSTAT_MAX));
}

/* The caller's own namespace, read live: the same parser on the kernel's text. */
static void test_read_own_namespace(void **state)
{
	struct ts_netstat n;

	(void)state;
	assert_int_equal(ts_netstat_read(NULL, &n), 0);
	assert_true(ts_netstat_has(&n, TS_NSTAT_LISTEN_DROPS));
	assert_int_equal(ts_netstat_read("/nonexistent/netns", &n), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_file),
		cmocka_unit_test(test_values_by_name),
		cmocka_unit_test(test_large_values),
		cmocka_unit_test(test_no_trailing_newline),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_no_tcpext),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_read_own_namespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
