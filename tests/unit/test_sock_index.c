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
	struct sock_index idx = { 0 };

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
	struct sock_index idx = { 0 };

	(void)state;
	memset(s, 0, sizeof(s));
	s[0].inode = 77;
	s[1].inode = 78;
	assert_int_equal(sock_index_build(s, 2, &idx), 0);
	assert_int_equal(sock_index_find(&idx, 77, 0xdeadbeef), 0);
	assert_int_equal(sock_index_find(&idx, 78, 0), 1);
	sock_index_free(&idx);
}

/* Built again in place (a collector's kept index): the same slots, none of
 * the earlier sockets left; too few slots for the next: new ones. */
static void test_rebuild_in_place(void **state)
{
	static struct ts_socket s[N];
	struct sock_index idx = { 0 };
	struct sock_index_slot *first;

	(void)state;
	memset(s, 0, sizeof(s));
	for (uint32_t i = 0; i < N; i++)
		s[i].inode = 1000 + i;
	assert_int_equal(sock_index_build(s, N, &idx), 0);
	first = idx.slots;

	/* Fewer sockets, other inodes: the slots are reused and cleared. */
	s[0].inode = 99;
	s[1].inode = 1002; /* an inode of the first build, now at index 1 */
	assert_int_equal(sock_index_build(s, 2, &idx), 0);
	assert_ptr_equal(idx.slots, first);
	assert_int_equal(sock_index_find(&idx, 99, 0), 0);
	assert_int_equal(sock_index_find(&idx, 1002, 0), 1);
	assert_int_equal(sock_index_find(&idx, 1000, 0), UINT32_MAX);
	assert_int_equal(sock_index_find(&idx, 1003, 0), UINT32_MAX);
	assert_int_equal(sock_index_find(&idx, 1000 + N - 1, 0), UINT32_MAX);

	/* More sockets than the slots hold: a larger table. */
	{
		static struct ts_socket big[4 * N];
		size_t cap = idx.cap;

		memset(big, 0, sizeof(big));
		for (uint32_t i = 0; i < 4 * N; i++)
			big[i].inode = 50000 + i;
		assert_int_equal(sock_index_build(big, 4 * N, &idx), 0);
		assert_true(idx.cap > cap);
		for (uint32_t i = 0; i < 4 * N; i++)
			assert_int_equal(sock_index_find(&idx, 50000 + i, 0), i);
		assert_int_equal(sock_index_find(&idx, 99, 0), UINT32_MAX);
	}
	sock_index_free(&idx);
	assert_null(idx.slots);
	assert_int_equal(idx.cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_inode),
		cmocka_unit_test(test_unknown_socket_cookie),
		cmocka_unit_test(test_rebuild_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
