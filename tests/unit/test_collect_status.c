/* SPDX-License-Identifier: MIT */
/* ts_snapshot_collect_status() says at which stage a collection failed, so
 * that the CLI reports the cause without guessing from the errno. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tcpstate/filter.h"
#include "tcpstate/snapshot.h"

static void test_bad_namespace(void **state)
{
	struct ts_snapshot_opts o = { .netns = "no-such-netns-tcpstate-test",
				      .owners = TS_OWNERS_NONE };
	struct ts_snapshot_status st;
	struct ts_snapshot *snap = NULL;

	(void)state;
	assert_int_equal(ts_snapshot_collect_status(&o, &snap, &st), -ENOENT);
	assert_int_equal(st.failed_stage, TS_SNAPSHOT_STAGE_NETNS);
	assert_int_equal(st.bpf.failure, TS_BPF_FAILURE_NONE);
	assert_null(snap);
	o.netns = "/nonexistent/ns/net";
	assert_int_equal(ts_snapshot_collect_status(&o, &snap, &st), -ENOENT);
	assert_int_equal(st.failed_stage, TS_SNAPSHOT_STAGE_NETNS);
}

/* A filter on holders without an owner scan cannot be answered. */
static void test_contradicting_options(void **state)
{
	struct ts_filter f = { .n_pids = 1, .pids = { 1 } };
	struct ts_snapshot_opts o = { .filter = &f, .owners = TS_OWNERS_NONE };
	struct ts_snapshot_status st;
	struct ts_snapshot *snap = NULL;

	(void)state;
	assert_int_equal(ts_snapshot_collect_status(&o, &snap, &st), -EINVAL);
	assert_int_equal(st.failed_stage, TS_SNAPSHOT_STAGE_OPTIONS);
}

/* Success says no stage; NULL status is allowed. */
static void test_success(void **state)
{
	struct ts_snapshot_opts o = { .owners = TS_OWNERS_NONE };
	struct ts_snapshot_status st = { .failed_stage = TS_SNAPSHOT_STAGE_DUMP };
	struct ts_snapshot *snap = NULL;

	(void)state;
	assert_int_equal(ts_snapshot_collect_status(&o, &snap, &st), 0);
	assert_int_equal(st.failed_stage, TS_SNAPSHOT_STAGE_NONE);
	ts_snapshot_free(snap);
	assert_int_equal(ts_snapshot_collect_status(&o, &snap, NULL), 0);
	ts_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_namespace),
		cmocka_unit_test(test_contradicting_options),
		cmocka_unit_test(test_success),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
