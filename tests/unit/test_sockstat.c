/* SPDX-License-Identifier: MIT */
/* A namespace's TCP counts from /proc/net/sockstat{,6}: recorded texts,
 * the empty-namespace verdict, and malformed input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "snapshot/sockstat.h"

/* Linux 6.18, a namespace with one listener and one timewait socket. */
static const char SOCKSTAT[] = "sockets: used 8\n"
			       "TCP: inuse 1 orphan 0 tw 1 alloc 95011 mem 24064\n"
			       "UDP: inuse 0 mem 0\n"
			       "UDPLITE: inuse 0\n"
			       "RAW: inuse 0\n"
			       "FRAG: inuse 0 memory 0\n";
static const char SOCKSTAT6[] = "TCP6: inuse 3\n"
				"UDP6: inuse 0\n"
				"UDPLITE6: inuse 0\n"
				"RAW6: inuse 0\n"
				"FRAG6: inuse 0 memory 0\n";

static void test_recorded(void **state)
{
	struct sockstat_tcp s;

	(void)state;
	assert_int_equal(sockstat_tcp_parse(SOCKSTAT, SOCKSTAT6, &s), 0);
	assert_int_equal(s.inuse, 1);
	assert_int_equal(s.tw, 1);
	assert_int_equal(s.inuse6, 3);
	assert_false(sockstat_tcp_none(&s));
	/* No IPv6 in the kernel: no sockstat6. */
	assert_int_equal(sockstat_tcp_parse(SOCKSTAT, NULL, &s), 0);
	assert_int_equal(s.inuse6, 0);
}

/* Any one count keeps the namespace walked. */
static void test_none(void **state)
{
	struct sockstat_tcp s = { 0 };

	(void)state;
	assert_true(sockstat_tcp_none(&s));
	s.tw = 1; /* only TIME_WAIT: inuse counts no timewait socket */
	assert_false(sockstat_tcp_none(&s));
	s = (struct sockstat_tcp){ .inuse6 = 1 }; /* an IPv6 listener only */
	assert_false(sockstat_tcp_none(&s));
	s = (struct sockstat_tcp){ .inuse = 2 };
	assert_false(sockstat_tcp_none(&s));
	assert_int_equal(sockstat_tcp_parse("TCP: inuse 0 orphan 7 tw 0 alloc 9 mem 1\n",
					    "TCP6: inuse 0\n", &s),
			 0);
	assert_true(sockstat_tcp_none(&s)); /* orphan and alloc are the host's */
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"UDP: inuse 0 mem 0\n",                      /* no TCP line */
		"TCP: orphan 0 tw 0 alloc 1 mem 1\n",        /* no inuse */
		"TCP: inuse 1 orphan 0 alloc 1 mem 1\n",     /* no tw (before 2.6.x) */
		"TCP: inuse x orphan 0 tw 0\n",              /* not a number */
		"TCP: inuse -1 orphan 0 tw 0\n",             /* negative */
		"TCP: inuse 12abc orphan 0 tw 0\n",          /* trailing garbage */
		"TCP: inuse 99999999999999999999 tw 0\n",    /* out of range */
		"TCP: inuse\n",                              /* key without value */
		"TCPX: inuse 0 tw 0\n",                      /* another line's prefix */
	};
	struct sockstat_tcp s = { .inuse = 42 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sockstat_tcp_parse(bad[i], NULL, &s), -EBADMSG);
		assert_int_equal(s.inuse, 42); /* untouched on error */
	}
	assert_int_equal(sockstat_tcp_parse(SOCKSTAT, "UDP6: inuse 0\n", &s), -EBADMSG);
	assert_int_equal(sockstat_tcp_parse(SOCKSTAT, "TCP6: inuse\n", &s), -EBADMSG);
	/* "tw" must be a key, not the end of another word. */
	assert_int_equal(sockstat_tcp_parse("TCP: inuse 0 xtw 5\n", NULL, &s), -EBADMSG);
}

/* This process's own namespace reads and parses. */
static void test_read_own(void **state)
{
	struct sockstat_tcp s = { .inuse = -1 };

	(void)state;
	assert_int_equal(sockstat_tcp_read(&s), 0);
	assert_true(s.inuse >= 0 && s.tw >= 0 && s.inuse6 >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_read_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
