/* SPDX-License-Identifier: MIT */
/*
 * A collector's snapshots are the one-shot snapshots of the same moment: the
 * same sockets (inode, state, ends) with the same owners (pid, fd), through
 * the kept BPF program, its second pass, and the /proc walk. The sockets are
 * this process's own (--pid of itself), so other processes cannot change
 * them between the two looks; each refresh sees what changed since, also
 * when it reuses the arrays of the refresh before (ts_collector_recycle()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tcpstate/collector.h"
#include "tcpstate/snapshot.h"

#define PAIRS 4

struct sockets {
	int listener;
	int client[PAIRS], server[PAIRS];
};

static void sockets_open(struct sockets *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	s->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->listener >= 0);
	assert_int_equal(bind(s->listener, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->listener, 16), 0);
	assert_int_equal(getsockname(s->listener, (struct sockaddr *)&a, &len), 0);
	for (int i = 0; i < PAIRS; i++) {
		s->client[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(s->client[i] >= 0);
		assert_int_equal(connect(s->client[i], (struct sockaddr *)&a, sizeof(a)), 0);
		s->server[i] = accept4(s->listener, NULL, NULL, SOCK_CLOEXEC);
		assert_true(s->server[i] >= 0);
	}
}

static void sockets_close(struct sockets *s)
{
	close(s->listener);
	for (int i = 0; i < PAIRS; i++) {
		if (s->client[i] >= 0)
			close(s->client[i]);
		close(s->server[i]);
	}
}

/* Sockets and owners, in the snapshot's own order (both sort the same way). */
static void assert_same(const struct ts_snapshot *a, const struct ts_snapshot *b)
{
	size_t n = ts_snapshot_socket_count(a);

	assert_int_equal(ts_snapshot_socket_count(b), n);
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *x = ts_snapshot_socket(a, i);
		bool found = false;

		for (size_t j = 0; j < n && !found; j++) {
			const struct ts_socket *y = ts_snapshot_socket(b, j);
			const struct ts_owner *ox, *oy;

			if (y->inode != x->inode || y->local_port != x->local_port ||
			    y->remote_port != x->remote_port)
				continue;
			found = true;
			assert_int_equal(y->state, x->state);
			assert_int_equal(y->owner_count, x->owner_count);
			ox = ts_snapshot_owners(a, x);
			oy = ts_snapshot_owners(b, y);
			for (unsigned k = 0; k < x->owner_count; k++) {
				assert_int_equal(oy[k].pid, ox[k].pid);
				assert_int_equal(oy[k].fd, ox[k].fd);
			}
		}
		assert_true(found);
	}
	assert_int_equal(ts_snapshot_stats(b)->owner_source, ts_snapshot_stats(a)->owner_source);
	assert_int_equal(ts_snapshot_stats(b)->bpf.failure, ts_snapshot_stats(a)->bpf.failure);
}

static size_t count_state(const struct ts_snapshot *snap, enum ts_state st)
{
	size_t n = 0;

	for (size_t i = 0; i < ts_snapshot_socket_count(snap); i++)
		n += ts_snapshot_socket(snap, i)->state == st;
	return n;
}

/* Whether BPF can run here; a skip only where the machine truly cannot. */
static bool bpf_usable(void)
{
	struct ts_bpf_status st;

	if (ts_owner_source_bpf_probe(&st) == 0)
		return true;
	if (st.failure == TS_BPF_FAILURE_NOT_BUILT || st.failure == TS_BPF_FAILURE_KERNEL ||
	    (st.failure == TS_BPF_FAILURE_PRIVILEGE && geteuid() != 0))
		return false;
	fail_msg("the BPF owner program does not load (see test_bpf_load)");
	return false;
}

static void same_as_one_shot(enum ts_owner_source source, bool second_pass_only)
{
	struct ts_filter f = { .pids = { getpid() }, .n_pids = 1 };
	struct ts_snapshot_opts o = {
		.filter = &f,
		.owner_source = source,
		.want_info = true,
		.test_bpf_second_pass_only = second_pass_only,
	};
	struct ts_snapshot_status st;
	struct ts_collector *c;
	struct ts_snapshot *one, *kept;
	struct sockets s;

	sockets_open(&s);
	assert_int_equal(ts_collector_new(&o, &c, &st), 0);
	assert_int_equal(ts_collector_keeps_bpf(c), source == TS_OWNER_SOURCE_BPF);
	f.n_pids = 0; /* the collector kept its own copy of the filter */
	for (int round = 0; round < 3; round++) {
		f.n_pids = 1;
		assert_int_equal(ts_snapshot_collect_status(&o, &one, NULL), 0);
		f.n_pids = 0;
		assert_int_equal(ts_collector_take(c, &kept, &st), 0);
		assert_int_equal(st.failed_stage, TS_SNAPSHOT_STAGE_NONE);
		assert_same(one, kept);
		/* listener + 2 per pair, less the clients closed so far */
		assert_int_equal(ts_snapshot_socket_count(kept), 1 + 2 * PAIRS - (size_t)round);
		assert_int_equal(count_state(kept, TS_STATE_CLOSE_WAIT), (size_t)round);
		ts_snapshot_free(one);
		/* Its arrays are lent to the next refresh, which has fewer sockets:
		 * nothing of this one may show through. */
		ts_collector_recycle(c, kept);
		/* The next refresh must see this: a server socket in CLOSE_WAIT. */
		close(s.client[round]);
		s.client[round] = -1;
	}
	ts_collector_free(c);
	sockets_close(&s);
}

static void test_bpf_same_as_one_shot(void **state)
{
	(void)state;
	if (!bpf_usable())
		skip();
	same_as_one_shot(TS_OWNER_SOURCE_BPF, false);
}

static void test_bpf_second_pass_same_as_one_shot(void **state)
{
	(void)state;
	if (!bpf_usable())
		skip();
	same_as_one_shot(TS_OWNER_SOURCE_BPF, true);
}

static void test_proc_same_as_one_shot(void **state)
{
	(void)state;
	same_as_one_shot(TS_OWNER_SOURCE_PROC, false);
}

/* A contradiction fails at once, at the options stage. */
static void test_options_contradict(void **state)
{
	struct ts_filter f = { .pids = { getpid() }, .n_pids = 1 };
	struct ts_snapshot_opts o = { .filter = &f, .owners = TS_OWNERS_NONE };
	struct ts_snapshot_status st;
	struct ts_collector *c = (void *)1;

	(void)state;
	assert_int_equal(ts_collector_new(&o, &c, &st), -EINVAL);
	assert_int_equal(st.failed_stage, TS_SNAPSHOT_STAGE_OPTIONS);
	assert_ptr_equal(c, (void *)1);
	assert_null(ts_collector_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_same_as_one_shot),
		cmocka_unit_test(test_bpf_second_pass_same_as_one_shot),
		cmocka_unit_test(test_proc_same_as_one_shot),
		cmocka_unit_test(test_options_contradict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
