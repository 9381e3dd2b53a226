/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tcpstate/state.h"

#define B(s) TS_STATE_BIT(TS_STATE_##s)

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(ts_state_name(TS_STATE_BOUND), "BOUND");
	assert_string_equal(ts_state_name(TS_STATE_CLOSE_WAIT), "CLOSE_WAIT");
	assert_string_equal(ts_state_name(TS_STATE_SYN_RECEIVED), "SYN_RECEIVED");
	assert_string_equal(ts_state_name(TS_STATE_TIME_WAIT), "TIME_WAIT");
	assert_string_equal(ts_state_name(TS_STATE_UNKNOWN), "UNKNOWN");
	assert_null(ts_state_name(_TS_STATE_MAX));
	assert_null(ts_state_name((enum ts_state)-1));
	/* every state has a distinct name */
	for (unsigned i = 0; i < _TS_STATE_MAX; i++) {
		assert_non_null(ts_state_name(i));
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(ts_state_name(i), ts_state_name(j));
	}
}

static void test_from_kernel(void **state)
{
	static const struct {
		unsigned kernel;
		enum ts_state ours;
	} map[] = {
		{ 1, TS_STATE_ESTABLISHED },  { 2, TS_STATE_SYN_SENT },
		{ 3, TS_STATE_SYN_RECEIVED }, { 4, TS_STATE_FIN_WAIT_1 },
		{ 5, TS_STATE_FIN_WAIT_2 },   { 6, TS_STATE_TIME_WAIT },
		{ 7, TS_STATE_CLOSED },       { 8, TS_STATE_CLOSE_WAIT },
		{ 9, TS_STATE_LAST_ACK },     { 10, TS_STATE_LISTEN },
		{ 11, TS_STATE_CLOSING },     { 12, TS_STATE_SYN_RECEIVED }, /* NEW_SYN_RECV */
		{ 13, TS_STATE_BOUND },       /* BOUND_INACTIVE */
	};
	enum ts_state s;

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		s = TS_STATE_UNKNOWN;
		assert_int_equal(ts_state_from_kernel(map[i].kernel, &s), 0);
		assert_int_equal(s, map[i].ours);
	}
	s = TS_STATE_LISTEN;
	assert_int_equal(ts_state_from_kernel(0, &s), -EINVAL);
	assert_int_equal(ts_state_from_kernel(14, &s), -EINVAL);
	assert_int_equal(ts_state_from_kernel(255, &s), -EINVAL);
	assert_int_equal(ts_state_from_kernel(~0u, &s), -EINVAL);
	assert_int_equal(s, TS_STATE_LISTEN); /* untouched on error */
}

static void test_mask_to_kernel(void **state)
{
	(void)state;
	assert_int_equal(ts_state_mask_to_kernel(0), 0);
	assert_int_equal(ts_state_mask_to_kernel(B(ESTABLISHED)), 1u << 1);
	assert_int_equal(ts_state_mask_to_kernel(B(LISTEN)), 1u << 10);
	/* SYN_RECEIVED is both SYN_RECV and NEW_SYN_RECV */
	assert_int_equal(ts_state_mask_to_kernel(B(SYN_RECEIVED)), (1u << 3) | (1u << 12));
	assert_int_equal(ts_state_mask_to_kernel(B(BOUND)), 1u << 13);
	/* no dump returns these */
	assert_int_equal(ts_state_mask_to_kernel(B(CLOSED) | B(IDLE) | B(UNKNOWN)), 0);
	/* all: every kernel state but TCP_CLOSE */
	assert_int_equal(ts_state_mask_to_kernel(TS_STATE_MASK_ALL), 0x3ffeu & ~(1u << 7));
}

static ts_state_mask_t parse_ok(const char *tok)
{
	ts_state_mask_t m = 0;

	if (ts_state_token_parse(tok, &m) != 0)
		fail_msg("token \"%s\" was refused", tok);
	return m;
}

static void test_token_states(void **state)
{
	(void)state;
	for (unsigned s = 0; s < TS_STATE_COUNT; s++)
		assert_int_equal(parse_ok(ts_state_name(s)), TS_STATE_BIT(s));
	assert_int_equal(parse_ok("close-wait"), B(CLOSE_WAIT));
	assert_int_equal(parse_ok("Close_Wait"), B(CLOSE_WAIT));
	assert_int_equal(parse_ok("CLOSE-WAIT"), B(CLOSE_WAIT));
	assert_int_equal(parse_ok("established"), B(ESTABLISHED));
	assert_int_equal(parse_ok("fin-wait-1"), B(FIN_WAIT_1));
	assert_int_equal(parse_ok("fin_wait_2"), B(FIN_WAIT_2));
	assert_int_equal(parse_ok("time-wait"), B(TIME_WAIT));
	assert_int_equal(parse_ok("syn-received"), B(SYN_RECEIVED));
	assert_int_equal(parse_ok("idle"), B(IDLE));
	assert_int_equal(parse_ok("bound"), B(BOUND));
}

static void test_token_ss_names(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("syn-recv"), B(SYN_RECEIVED));
	assert_int_equal(parse_ok("SYN-RECV"), B(SYN_RECEIVED));
	assert_int_equal(parse_ok("fin-wait1"), B(FIN_WAIT_1));
	assert_int_equal(parse_ok("fin-wait2"), B(FIN_WAIT_2));
	assert_int_equal(parse_ok("estab"), B(ESTABLISHED));
	assert_int_equal(parse_ok("listening"), B(LISTEN));
	assert_int_equal(parse_ok("close"), B(CLOSED));
	assert_int_equal(parse_ok("bound-inactive"), B(BOUND));
	assert_int_equal(parse_ok("unconnected"), B(CLOSED) | B(IDLE) | B(BOUND));
}

static void test_token_groups(void **state)
{
	ts_state_mask_t closing_group = B(CLOSE_WAIT) | B(FIN_WAIT_1) | B(FIN_WAIT_2) |
					B(LAST_ACK) | B(CLOSING) | B(TIME_WAIT);
	ts_state_mask_t connected = B(ESTABLISHED) | B(SYN_SENT) | B(SYN_RECEIVED) |
				    B(FIN_WAIT_1) | B(FIN_WAIT_2) | B(CLOSE_WAIT) |
				    B(LAST_ACK) | B(CLOSING);

	(void)state;
	assert_int_equal(parse_ok("all"), TS_STATE_MASK_ALL);
	assert_int_equal(parse_ok("ALL"), TS_STATE_MASK_ALL);
	assert_int_equal(parse_ok("connected"), connected);
	assert_int_equal(parse_ok("connected") & (B(LISTEN) | B(TIME_WAIT)), 0);
	assert_int_equal(parse_ok("synchronized"), connected & ~(B(SYN_SENT) | B(SYN_RECEIVED)));
	assert_int_equal(parse_ok("bucket"), B(SYN_RECEIVED) | B(TIME_WAIT));
	assert_int_equal(parse_ok("big"), TS_STATE_MASK_ALL & ~(B(SYN_RECEIVED) | B(TIME_WAIT)));
	assert_int_equal(parse_ok("big") | parse_ok("bucket"), TS_STATE_MASK_ALL);

	/* "CLOSING" as printed is the state; any other spelling is the group */
	assert_int_equal(parse_ok("CLOSING"), B(CLOSING));
	assert_int_equal(parse_ok("closing"), closing_group);
	assert_int_equal(parse_ok("Closing"), closing_group);
}

/* The group names offered to shell completion are the parser's: each parses to a
 * set of several states, none twice, and all the groups the help names are there. */
static void test_group_names(void **state)
{
	const char *want[] = { "all", "connected", "synchronized", "closing", "bucket", "big",
			       "unconnected" };
	unsigned n = 0;

	(void)state;
	for (unsigned i = 0; ts_state_group_name(i); i++) {
		ts_state_mask_t m = parse_ok(ts_state_group_name(i));

		assert_true(__builtin_popcount(m) > 1);
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(ts_state_group_name(i), ts_state_group_name(j));
		n++;
	}
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		bool found = false;

		for (unsigned i = 0; ts_state_group_name(i); i++)
			found = found || strcmp(want[w], ts_state_group_name(i)) == 0;
		assert_true(found);
	}
	assert_null(ts_state_group_name(n));
	assert_null(ts_state_group_name(1000));
}

static void test_token_bad(void **state)
{
	static const char *const bad[] = {
		"", "-", "_", "estab ", " estab", "listen\n", "syn", "wait", "closewaitx",
		"fin-wait-3", "all,listen", "listen,", "established!", "\xc3\xa9tat",
		"fin--wait-1", "UNKNOWN",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	ts_state_mask_t m = 0x1234;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ts_state_token_parse(bad[i], &m) != -EINVAL)
			fail_msg("token \"%s\" was accepted", bad[i]);
	assert_int_equal(ts_state_token_parse(NULL, &m), -EINVAL);
	assert_int_equal(m, 0x1234); /* untouched on error */
}

static void test_lifecycle(void **state)
{
	ts_state_mask_t seen = 0;

	(void)state;
	assert_int_equal(ts_state_lifecycle_order(0), TS_STATE_IDLE);
	for (unsigned i = 0; i < TS_STATE_COUNT; i++)
		seen |= TS_STATE_BIT(ts_state_lifecycle_order(i));
	assert_int_equal(seen, TS_STATE_MASK_ALL & ~B(UNKNOWN));
	assert_int_equal(ts_state_lifecycle_order(TS_STATE_COUNT), TS_STATE_UNKNOWN);
}

#define K(s) (1u << TS_TCP_##s)

/* The states a socket may be seen in by an owner source looking at another
 * moment than the dump: the asked ones and their neighbours, not more. */
static void test_kernel_states_around(void **state)
{
	(void)state;
	assert_int_equal(ts_kernel_states_around(K(CLOSE_WAIT)),
			 K(CLOSE_WAIT) | K(LAST_ACK) | K(CLOSE) | K(ESTABLISHED) | K(SYN_SENT) |
			 K(SYN_RECV));
	assert_int_equal(ts_kernel_states_around(K(FIN_WAIT2)),
			 K(FIN_WAIT2) | K(CLOSE) | K(FIN_WAIT1) | K(ESTABLISHED) | K(SYN_SENT) |
			 K(SYN_RECV));
	assert_int_equal(ts_kernel_states_around(K(LISTEN)), K(LISTEN) | K(CLOSE));
	/* BOUND is TCP_CLOSE to an fd; CLOSE is not walked back from. */
	assert_int_equal(ts_kernel_states_around(K(BOUND_INACTIVE)), K(CLOSE) | K(SYN_SENT) | K(LISTEN));
	/* No fd ever: nothing added, and never 0 ("all" to the BPF loader). */
	assert_int_equal(ts_kernel_states_around(K(TIME_WAIT)), K(TIME_WAIT));
	assert_int_equal(ts_kernel_states_around(K(NEW_SYN_RECV)), K(NEW_SYN_RECV));
	assert_int_equal(ts_kernel_states_around(0), 0);
	/* The whole kernel mask stays whole. */
	assert_int_equal(ts_kernel_states_around(0x3ffe), 0x3ffe & ~K(BOUND_INACTIVE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_from_kernel),
		cmocka_unit_test(test_mask_to_kernel),
		cmocka_unit_test(test_token_states),
		cmocka_unit_test(test_token_ss_names),
		cmocka_unit_test(test_token_groups),
		cmocka_unit_test(test_group_names),
		cmocka_unit_test(test_token_bad),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_kernel_states_around),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
