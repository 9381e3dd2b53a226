/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tcpstate/state_info.h"
#include "tcpstate/sysctl.h"

#define B(s) TS_STATE_BIT(TS_STATE_##s)

static bool text_ok(const char *s)
{
	return s && s[0] != '\0';
}

static size_t count_sysctls(const struct ts_state_info *info)
{
	size_t n = 0;

	for (const char *const *p = info->sysctls; p && *p; p++)
		n++;
	return n;
}

static bool has_sysctl(const struct ts_state_info *info, const char *name)
{
	for (const char *const *p = info->sysctls; p && *p; p++)
		if (strcmp(*p, name) == 0)
			return true;
	return false;
}

/* A dotted name as /proc/sys spells it under net.: [a-z0-9_.], no empty part. */
static bool name_well_formed(const char *name)
{
	size_t len = strlen(name);

	if (strncmp(name, "net.", 4) != 0 || name[len - 1] == '.')
		return false;
	for (const char *p = name; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
			return false;
		if (p[0] == '.' && p[1] == '.')
			return false;
	}
	return true;
}

static void test_every_state_complete(void **state)
{
	static const char *const closed_first[] = {
		"nobody yet", "this side", "the peer", "both at once", "n/a",
	};

	(void)state;
	for (unsigned s = 0; s < _TS_STATE_MAX; s++) {
		const struct ts_state_info *info = ts_state_info((enum ts_state)s);
		bool known = false;

		assert_non_null(info);
		assert_int_equal(info->state, s);
		assert_true(text_ok(info->meaning));
		assert_true(text_ok(info->closed_first));
		assert_true(text_ok(info->who_must_act));
		assert_true(text_ok(info->ends_it));
		assert_true(text_ok(info->causes));
		assert_true(text_ok(info->how_to_see));
		assert_true(info->actor <= TS_ACTOR_NETWORK);
		for (size_t i = 0; i < sizeof(closed_first) / sizeof(closed_first[0]); i++)
			known |= strcmp(info->closed_first, closed_first[i]) == 0;
		assert_true(known);
		/* An empty list is written NULL, not { NULL }. */
		if (info->sysctls)
			assert_non_null(info->sysctls[0]);
	}
}

static void test_out_of_range(void **state)
{
	(void)state;
	assert_null(ts_state_info(_TS_STATE_MAX));
	assert_null(ts_state_info((enum ts_state)-1));
	assert_null(ts_state_info((enum ts_state)1000));
}

/* Each page names a `tcpstate list --state X` command whose X selects the state. */
static void test_how_to_see_names_a_list_command(void **state)
{
	static const char prefix[] = "tcpstate list --state ";

	(void)state;
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state s = ts_state_lifecycle_order(i);
		const char *cmd = strstr(ts_state_info(s)->how_to_see, prefix);
		char token[32];
		size_t n;
		ts_state_mask_t m = 0;

		assert_non_null(cmd);
		cmd += sizeof(prefix) - 1;
		n = strcspn(cmd, "` ).;,");
		assert_true(n > 0 && n < sizeof(token));
		memcpy(token, cmd, n);
		token[n] = '\0';
		assert_int_equal(ts_state_token_parse(token, &m), 0);
		assert_true(m & TS_STATE_BIT(s));
		/* The command selects this state, not a whole group. */
		assert_int_equal(m, TS_STATE_BIT(s));
	}
}

static void test_sysctl_names_known(void **state)
{
	(void)state;
	for (unsigned s = 0; s < _TS_STATE_MAX; s++) {
		const struct ts_state_info *info = ts_state_info((enum ts_state)s);

		for (const char *const *p = info->sysctls; p && *p; p++) {
			const struct ts_sysctl_info *k = ts_sysctl_lookup(*p);
			const char *last = strrchr(*p, '.') + 1;

			assert_true(name_well_formed(*p));
			/* Known to lib/sysctl/sysctl.c, which agrees that it bounds this state. */
			assert_non_null(k);
			assert_true(k->governs & TS_STATE_BIT(s));
			/* No duplicates. */
			for (const char *const *q = info->sysctls; q < p; q++)
				assert_string_not_equal(*q, *p);
			/* The page says what the setting does there. */
			assert_true(strstr(info->ends_it, last) || strstr(info->causes, last));
		}
	}
}

static void test_close_wait(void **state)
{
	const struct ts_state_info *info = ts_state_info(TS_STATE_CLOSE_WAIT);

	(void)state;
	/* No timer and no setting ends it: it is the program's bug. */
	assert_null(info->sysctls);
	assert_int_equal(info->actor, TS_ACTOR_THIS_PROGRAM);
	assert_string_equal(info->closed_first, "the peer");
	assert_non_null(strstr(info->ends_it, "close()"));
	assert_non_null(strstr(info->ends_it, "No kernel timer"));
	assert_non_null(strstr(info->causes, "never called close()"));
}

static void test_time_wait(void **state)
{
	const struct ts_state_info *info = ts_state_info(TS_STATE_TIME_WAIT);

	(void)state;
	assert_non_null(strstr(info->ends_it, "60 s"));
	assert_int_equal(info->actor, TS_ACTOR_KERNEL_TIMER);
	assert_string_equal(info->closed_first, "this side");
	assert_true(has_sysctl(info, "net.ipv4.tcp_max_tw_buckets"));
	assert_true(has_sysctl(info, "net.ipv4.tcp_tw_reuse"));
	/* The classic myth: tcp_fin_timeout does not set the TIME_WAIT length. */
	assert_false(has_sysctl(info, "net.ipv4.tcp_fin_timeout"));
}

static void test_fin_wait_2(void **state)
{
	const struct ts_state_info *info = ts_state_info(TS_STATE_FIN_WAIT_2);

	(void)state;
	assert_int_equal(count_sysctls(info), 1);
	assert_true(has_sysctl(info, "net.ipv4.tcp_fin_timeout"));
	/* Only for orphans. */
	assert_non_null(strstr(info->ends_it, "orphan"));
	assert_int_equal(info->actor, TS_ACTOR_PEER_PROGRAM);
	assert_string_equal(info->closed_first, "this side");
}

/* Every field of every page, for a phrase that must not be there. */
static bool any_field_has(const struct ts_state_info *info, const char *phrase)
{
	const char *const f[] = { info->meaning, info->who_must_act, info->ends_it, info->causes,
				  info->how_to_see };

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strstr(f[i], phrase))
			return true;
	return false;
}

/* A peer that closed is an orphan, gone after its tcp_fin_timeout: it does not sit in FIN_WAIT_2. */
static void test_close_wait_peer_is_not_stuck_in_fin_wait_2(void **state)
{
	const struct ts_state_info *info = ts_state_info(TS_STATE_CLOSE_WAIT);

	(void)state;
	assert_false(any_field_has(info, "the peer sits in FIN_WAIT_2"));
	assert_non_null(strstr(info->who_must_act, "orphan"));
	assert_non_null(strstr(info->who_must_act, "tcp_fin_timeout"));
}

/* Two SO_REUSEADDR sockets can bind one port (neither listening), SO_REUSEPORT ones too. */
static void test_bound_port_can_be_shared(void **state)
{
	const struct ts_state_info *info = ts_state_info(TS_STATE_BOUND);

	(void)state;
	assert_false(any_field_has(info, "nobody else can bind"));
	assert_non_null(strstr(info->meaning, "SO_REUSEADDR"));
	assert_non_null(strstr(info->meaning, "SO_REUSEPORT"));
}

/* Linux queues backlog + 1: full is Recv-Q above Send-Q, not at it. */
static void test_listen_queue_holds_backlog_plus_one(void **state)
{
	const struct ts_state_info *info = ts_state_info(TS_STATE_LISTEN);

	(void)state;
	assert_false(any_field_has(info, "stays below Send-Q"));
	assert_non_null(strstr(info->who_must_act, "+ 1"));
	assert_non_null(strstr(info->who_must_act, "exceeds"));
}

/* With TCP_DEFER_ACCEPT (or a full accept queue) the ACK did arrive: the page must not deny it. */
static void test_syn_received_knows_deferred_accept(void **state)
{
	const struct ts_state_info *info = ts_state_info(TS_STATE_SYN_RECEIVED);

	(void)state;
	assert_null(strstr(info->meaning, "; the client's final ACK has not arrived."));
	assert_non_null(strstr(info->meaning, "TCP_DEFER_ACCEPT"));
	assert_non_null(strstr(info->who_must_act, "TCP_DEFER_ACCEPT"));
	assert_non_null(strstr(info->ends_it, "TCP_DEFER_ACCEPT"));
	assert_non_null(strstr(info->how_to_see, "TcpExtTCPDeferAcceptDrop"));
}

static void test_bounding_sysctls(void **state)
{
	static const struct {
		enum ts_state state;
		const char *names[5];
	} want[] = {
		{ TS_STATE_SYN_SENT, { "net.ipv4.tcp_syn_retries" } },
		{ TS_STATE_SYN_RECEIVED, { "net.ipv4.tcp_synack_retries", "net.ipv4.tcp_max_syn_backlog",
					   "net.ipv4.tcp_syncookies" } },
		{ TS_STATE_LISTEN, { "net.core.somaxconn", "net.ipv4.tcp_abort_on_overflow" } },
		{ TS_STATE_ESTABLISHED, { "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl",
					  "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_retries2" } },
		{ TS_STATE_FIN_WAIT_1, { "net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_retries2" } },
		{ TS_STATE_LAST_ACK, { "net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_retries2" } },
		{ TS_STATE_CLOSING, { "net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_retries2" } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct ts_state_info *info = ts_state_info(want[i].state);
		size_t n = 0;

		for (; n < 5 && want[i].names[n]; n++)
			assert_true(has_sysctl(info, want[i].names[n]));
		assert_int_equal(count_sysctls(info), n);
	}
	/* Keepalive only with SO_KEEPALIVE. */
	assert_non_null(strstr(ts_state_info(TS_STATE_ESTABLISHED)->ends_it, "SO_KEEPALIVE"));
}

static void test_fd_only_states(void **state)
{
	static const enum ts_state fd_only[] = {
		TS_STATE_IDLE, TS_STATE_BOUND, TS_STATE_CLOSED, TS_STATE_UNKNOWN,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(fd_only) / sizeof(fd_only[0]); i++) {
		const struct ts_state_info *info = ts_state_info(fd_only[i]);

		assert_null(info->sysctls);
		assert_int_equal(info->actor, TS_ACTOR_THIS_PROGRAM);
		assert_true(strstr(info->ends_it, "close()") || strstr(info->who_must_act, "close()"));
	}
}

static void test_who_closed_first(void **state)
{
	static const struct {
		enum ts_state state;
		const char *closed_first;
		enum ts_actor actor;
	} want[] = {
		{ TS_STATE_IDLE, "n/a", TS_ACTOR_THIS_PROGRAM },
		{ TS_STATE_BOUND, "n/a", TS_ACTOR_THIS_PROGRAM },
		{ TS_STATE_LISTEN, "n/a", TS_ACTOR_NOBODY },
		{ TS_STATE_SYN_SENT, "nobody yet", TS_ACTOR_NETWORK },
		{ TS_STATE_SYN_RECEIVED, "nobody yet", TS_ACTOR_NETWORK },
		{ TS_STATE_ESTABLISHED, "nobody yet", TS_ACTOR_NOBODY },
		{ TS_STATE_FIN_WAIT_1, "this side", TS_ACTOR_NETWORK },
		{ TS_STATE_FIN_WAIT_2, "this side", TS_ACTOR_PEER_PROGRAM },
		{ TS_STATE_CLOSE_WAIT, "the peer", TS_ACTOR_THIS_PROGRAM },
		{ TS_STATE_LAST_ACK, "the peer", TS_ACTOR_NETWORK },
		{ TS_STATE_CLOSING, "both at once", TS_ACTOR_NETWORK },
		{ TS_STATE_TIME_WAIT, "this side", TS_ACTOR_KERNEL_TIMER },
		{ TS_STATE_CLOSED, "n/a", TS_ACTOR_THIS_PROGRAM },
	};

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), TS_STATE_COUNT);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct ts_state_info *info = ts_state_info(want[i].state);

		assert_string_equal(info->closed_first, want[i].closed_first);
		assert_int_equal(info->actor, want[i].actor);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_state_complete),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_how_to_see_names_a_list_command),
		cmocka_unit_test(test_sysctl_names_known),
		cmocka_unit_test(test_close_wait),
		cmocka_unit_test(test_time_wait),
		cmocka_unit_test(test_fin_wait_2),
		cmocka_unit_test(test_bounding_sysctls),
		cmocka_unit_test(test_fd_only_states),
		cmocka_unit_test(test_who_closed_first),
		cmocka_unit_test(test_close_wait_peer_is_not_stuck_in_fin_wait_2),
		cmocka_unit_test(test_bound_port_can_be_shared),
		cmocka_unit_test(test_listen_queue_holds_backlog_plus_one),
		cmocka_unit_test(test_syn_received_knows_deferred_accept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
