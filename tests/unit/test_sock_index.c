/* SPDX-License-Identifier: MIT */
/* The inode -> socket index the owner join uses: inode numbers that two
 * live sockets share are told apart by the cookie; unknown cookies match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "snapshot/sock_index.h"

#define N 5000

static void test_shared_inode(void **state)
{
	static struct ts_socket s[N];
	struct sock_index idx;

	(void)state;
	memset(s, 0, sizeof(s));
	for (uint32_t i = 0; i < N; i++) {
		s[i].inode = 1000 + i;
		s[i].cookie = 0x100000000ull * 7 + 50000 + i;
	}
	/* The inode counter wrapped: 3 and 4000 share an inode. */
	s[4000].inode = s[3].inode;
	/* One socket dumped twice (same inode and cookie): the first stays. */
	s[4001] = s[10];
	s[0].inode = 0; /* TIME_WAIT: never indexed */

	assert_int_equal(sock_index_build(s, N, &idx), 0);
	assert_int_equal(sock_index_find(&idx, s[3].inode, s[3].cookie), 3);
	assert_int_equal(sock_index_find(&idx, s[3].inode, s[4000].cookie), 4000);
	/* An fd of a third socket with that inode belongs to neither. */
	assert_int_equal(sock_index_find(&idx, s[3].inode, 12345), UINT32_MAX);
	/* The /proc walk knows no cookie: the first socket with the inode. */
	assert_int_equal(sock_index_find(&idx, s[3].inode, 0), 3);
	assert_int_equal(sock_index_find(&idx, s[10].inode, s[10].cookie), 10);
	assert_int_equal(sock_index_find(&idx, 1000, 0), UINT32_MAX);
	for (uint32_t i = 1; i < N; i++) {
		if (i == 4000 || i == 4001)
			continue;
		assert_int_equal(sock_index_find(&idx, s[i].inode, s[i].cookie), i);
	}
	assert_int_equal(sock_index_find(&idx, 1000 + N + 1, 0), UINT32_MAX);
	sock_index_free(&idx);
	assert_null(idx.slots);
}

/* The procfs backend has no cookies: any fd cookie matches the inode. */
static void test_unknown_socket_cookie(void **state)
{
	struct ts_socket s[2];
	struct sock_index idx;

	(void)state;
	memset(s, 0, sizeof(s));
	s[0].inode = 77;
	s[1].inode = 78;
	assert_int_equal(sock_index_build(s, 2, &idx), 0);
	assert_int_equal(sock_index_find(&idx, 77, 0xdeadbeef), 0);
	assert_int_equal(sock_index_find(&idx, 78, 0), 1);
	sock_index_free(&idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_inode),
		cmocka_unit_test(test_unknown_socket_cookie),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
