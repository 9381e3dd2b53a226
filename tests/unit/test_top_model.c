/* SPDX-License-Identifier: MIT */
/*
 * tcpstate top's frame (src/top_model.c) and its lines (src/top_render.c):
 * growth per second between two snapshots, the leaky process first, the
 * service port of a closing socket, the oldest idle socket first, and a full
 * frame drawn in 24 lines of at most 80 columns.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot/snapshot.h"
#include "top_model.h"
#include "top_render.h"

static struct ts_snapshot *snap_new(void)
{
	struct ts_snapshot *s = snapshot_new();
	struct ts_netns ns = { .inode = 4026531840u, .name = "init" };
	uint32_t idx;

	assert_non_null(s);
	s->stats.owners_scanned = true;
	assert_int_equal(snapshot_netns_append(s, &ns, &idx), 0);
	return s;
}

/* A socket on 127.0.0.1:lport <-> 127.0.0.2:rport, held by pid (0: none),
 * idle idle_ms (0: no tcp_info). */
static void add(struct ts_snapshot *snap, enum ts_state st, uint16_t lport, uint16_t rport,
		pid_t pid, uint32_t idle_ms)
{
	struct ts_socket s = { .family = AF_INET, .state = (uint8_t)st, .local_port = lport,
			       .remote_port = rport, .inode = snap->n_sockets + 1000 };
	uint32_t pidx = 0;

	inet_pton(AF_INET, "127.0.0.1", &s.local_addr);
	inet_pton(AF_INET, "127.0.0.2", &s.remote_addr);
	s.flags = TS_SOCK_REMOTE_VALID;
	if (idle_ms) {
		s.flags |= TS_SOCK_HAS_INFO;
		s.info.last_data_sent_ms = s.info.last_data_recv_ms = s.info.last_ack_recv_ms = idle_ms;
	}
	assert_int_equal(snapshot_socket_append(snap, &s), 0);
	if (pid) {
		struct ts_process p = { .pid = pid };
		bool found = false;

		for (size_t i = 0; i < snap->n_processes && !found; i++)
			if (snap->processes[i].pid == pid) {
				pidx = (uint32_t)i;
				found = true;
			}
		if (!found) {
			snprintf(p.comm, sizeof(p.comm), "proc%d", (int)pid);
			assert_int_equal(snapshot_process_append(snap, &p, &pidx), 0);
		}
		assert_int_equal(snapshot_owner_append(snap, &(struct ts_owner){
			.pid = pid, .fd = (int)snap->n_owners + 3, .process_index = pidx,
			.socket_index = (uint32_t)snap->n_sockets - 1 }), 0);
	}
}

static void finalize(struct ts_snapshot *snap)
{
	assert_int_equal(snapshot_owners_finalize(snap), 0);
}

/* pid 100 goes from 2 to 6 CLOSE_WAIT in 2 s; pid 200 keeps 4 FIN_WAIT_2. */
static void two_looks(struct ts_snapshot **ret_prev, struct ts_snapshot **ret_cur)
{
	struct ts_snapshot *prev = snap_new(), *cur = snap_new();

	add(prev, TS_STATE_LISTEN, 8080, 0, 100, 0);
	add(cur, TS_STATE_LISTEN, 8080, 0, 100, 0);
	for (int i = 0; i < 2; i++)
		add(prev, TS_STATE_CLOSE_WAIT, 8080, (uint16_t)(40000 + i), 100, 5000);
	for (int i = 0; i < 6; i++)
		add(cur, TS_STATE_CLOSE_WAIT, 8080, (uint16_t)(40000 + i), 100, 7000 - 1000u * i);
	for (int i = 0; i < 4; i++) {
		add(prev, TS_STATE_FIN_WAIT_2, (uint16_t)(50000 + i), 443, 200, 100);
		add(cur, TS_STATE_FIN_WAIT_2, (uint16_t)(50000 + i), 443, 200, 9000);
	}
	finalize(prev);
	finalize(cur);
	*ret_prev = prev;
	*ret_cur = cur;
}

static void test_growth_and_order(void **state)
{
	struct ts_snapshot *prev, *cur;
	struct top_frame f;

	(void)state;
	two_looks(&prev, &cur);
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = cur, .prev = prev,
							  .interval_s = 2.0 }, &f), 0);
	assert_int_equal(f.counts[TS_STATE_CLOSE_WAIT], 6);
	assert_true(f.rate_per_s[TS_STATE_CLOSE_WAIT] == 2.0);
	assert_true(f.rate_per_s[TS_STATE_FIN_WAIT_2] == 0.0);
	assert_int_equal(f.n_rows, 2);
	assert_int_equal(f.rows[0].pid, 100); /* CLOSE_WAIT first */
	assert_true(f.rows[0].has_growth && f.rows[0].growth_per_s == 2.0);
	assert_string_equal(f.rows[0].comm, "proc100");
	assert_int_equal(f.rows[1].pid, 200);
	assert_true(f.rows[1].growth_per_s == 0.0);

	/* By total, the FIN_WAIT_2 holder (4) stays behind 6. */
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = cur, .prev = prev,
			.interval_s = 2.0, .sort = TOP_SORT_TOTAL }, &f), 0);
	assert_int_equal(f.rows[0].pid, 100);

	/* The first refresh has no rates. */
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = cur }, &f), 0);
	assert_false(f.rows[0].has_growth);
	assert_true(f.interval_s == 0);

	/* The oldest idle closing socket first. */
	assert_int_equal(f.stuck_total, 10);
	assert_int_equal(f.stuck[0].s->state, TS_STATE_FIN_WAIT_2);
	assert_int_equal(f.stuck[0].idle_ms, 9000);
	ts_snapshot_free(prev);
	ts_snapshot_free(cur);
}

/* A memo of the previous frame gives the rates the previous snapshot gives; it is
 * used only for that snapshot (by id) and that view. */
static void test_memo_as_prev(void **state)
{
	struct ts_snapshot *prev, *cur, *empty = snap_new();
	struct top_memo *m = top_memo_new();
	struct top_frame f;

	(void)state;
	assert_non_null(m);
	two_looks(&prev, &cur);
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = prev, .memo = m, .snap_id = 1 },
					 &f), 0);
	/* prev read through the memo: the same rates; an empty prev shows it is not read. */
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = cur, .prev = empty, .memo = m,
							  .snap_id = 2, .prev_id = 1,
							  .interval_s = 2.0 }, &f), 0);
	assert_true(f.rate_per_s[TS_STATE_CLOSE_WAIT] == 2.0);
	assert_true(f.rate_per_s[TS_STATE_FIN_WAIT_2] == 0.0);
	assert_int_equal(f.rows[0].pid, 100);
	assert_true(f.rows[0].has_growth && f.rows[0].growth_per_s == 2.0);
	assert_true(f.rows[1].growth_per_s == 0.0);
	/* Now the memo is cur's (id 2): asked for id 1 again it reads the snapshot given. */
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = cur, .prev = empty, .memo = m,
							  .snap_id = 2, .prev_id = 1,
							  .interval_s = 2.0 }, &f), 0);
	assert_true(f.rate_per_s[TS_STATE_CLOSE_WAIT] == 3.0);
	assert_true(f.rows[0].growth_per_s == 3.0);
	/* Another view: its rows are not the memo's. */
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = cur, .prev = prev, .memo = m,
							  .snap_id = 3, .prev_id = 2,
							  .interval_s = 2.0,
							  .view = TOP_VIEW_PORTS }, &f), 0);
	assert_int_equal(f.rows[0].port, 8080);
	assert_true(f.rows[0].growth_per_s == 2.0);
	top_memo_free(m);
	ts_snapshot_free(empty);
	ts_snapshot_free(prev);
	ts_snapshot_free(cur);
}

static void test_ports_view(void **state)
{
	struct ts_snapshot *prev, *cur;
	struct top_frame f;

	(void)state;
	two_looks(&prev, &cur);
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = cur, .prev = prev,
			.interval_s = 2.0, .view = TOP_VIEW_PORTS }, &f), 0);
	assert_int_equal(f.n_rows, 2);
	/* 8080 is listened on: the server's port; 443 is the remote end's. */
	assert_int_equal(f.rows[0].port, 8080);
	assert_false(f.rows[0].remote);
	assert_int_equal(f.rows[0].count[0], 6);
	assert_int_equal(f.rows[1].port, 443);
	assert_true(f.rows[1].remote);
	ts_snapshot_free(prev);
	ts_snapshot_free(cur);
}

struct lines {
	size_t n, widest;
};

static void count_line(void *ctx, enum top_attr attr, const char *line)
{
	struct lines *l = ctx;

	(void)attr;
	l->n++;
	if (strlen(line) > l->widest)
		l->widest = strlen(line);
}

/* Many holders and sockets: the screen's limits keep every section in 24 lines. */
static void test_fits_80x24(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct top_header h = { .now = 0, .delay_s = 3, .where = "netns init", .owners = true };
	struct top_limits lim;
	struct top_frame f;
	struct lines l = { 0 };

	(void)state;
	for (int p = 1; p <= 30; p++)
		for (int i = 0; i < p; i++)
			add(snap, i % 2 ? TS_STATE_CLOSE_WAIT : TS_STATE_LAST_ACK, 8080,
			    (uint16_t)(10000 + p * 40 + i), 4000000 + p, 1000u * (uint32_t)i + 1);
	add(snap, TS_STATE_UNKNOWN, 1, 1, 0, 0);
	finalize(snap);
	assert_int_equal(top_frame_build(&(struct top_input){ .snap = snap }, &f), 0);
	assert_int_equal(f.n_rows, TOP_ROWS_MAX);
	assert_int_equal(f.rows_more, 10);
	/* The ten idle longest of 465, in order. */
	assert_int_equal(f.stuck_total, 465);
	assert_int_equal(f.n_stuck, TOP_STUCK_MAX);
	assert_int_equal(f.stuck[0].idle_ms, 29001);
	for (size_t i = 1; i < f.n_stuck; i++)
		assert_true(f.stuck[i - 1].idle_ms >= f.stuck[i].idle_ms);
	assert_int_equal(f.stuck[TOP_STUCK_MAX - 1].idle_ms, 26001); /* 1 + 2 + 3 above it */
	top_limits_for_screen(24, &lim);
	top_render(&f, &h, &lim, count_line, &l);
	assert_true(l.n <= 23); /* the 24th line is the keys' */
	assert_true(l.widest <= 80);
	ts_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_and_order),
		cmocka_unit_test(test_memo_as_prev),
		cmocka_unit_test(test_ports_view),
		cmocka_unit_test(test_fits_80x24),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
