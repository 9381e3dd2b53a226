/* SPDX-License-Identifier: MIT */
/* tcpstate trace's pure parts: percentiles, the bounded sample, the map, and
 * records recorded on Linux 6.18 decoded and replayed through the tracker. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "trace/trace_decode.h"
#include "trace/trace_map.h"
#include "trace/trace_stats.h"
#include "trace/trace_summary.h"
#include "trace/trace_track.h"

static void test_percentile_is_nearest_rank(void **state)
{
	uint64_t v[100], three[] = { 10, 20, 30 }, one[] = { 7 };

	(void)state;
	for (int i = 0; i < 100; i++)
		v[i] = (uint64_t)i + 1;
	assert_int_equal(trace_percentile(v, 100, 50), 50);
	assert_int_equal(trace_percentile(v, 100, 90), 90);
	assert_int_equal(trace_percentile(v, 100, 99), 99);
	assert_int_equal(trace_percentile(v, 100, 100), 100);
	/* ceil(0.5 * 3) = 2nd, ceil(0.9 * 3) = 3rd */
	assert_int_equal(trace_percentile(three, 3, 50), 20);
	assert_int_equal(trace_percentile(three, 3, 90), 30);
	assert_int_equal(trace_percentile(one, 1, 99), 7);
	assert_int_equal(trace_percentile(NULL, 0, 50), 0);
}

static void test_durations_sorted_and_max_exact(void **state)
{
	struct trace_durs d = { 0 };
	struct ts_trace_stat st = { 0 };
	static const uint64_t in[] = { 3000, 1000, 5000, 2000, 4000 };

	(void)state;
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(trace_durs_add(&d, in[i]), 0);
	trace_durs_stat(&d, &st);
	assert_int_equal(st.exact, 5);
	assert_false(st.sampled);
	assert_int_equal(st.p50_ns, 3000);
	assert_int_equal(st.p90_ns, 5000);
	assert_int_equal(st.max_ns, 5000);
	trace_durs_done(&d);
}

/* Past the bound a uniform sample is kept: memory stays bounded, the max and
 * the count stay exact, and the median of 1..100000 stays near the middle. */
static void test_durations_bounded_by_a_sample(void **state)
{
	struct trace_durs d = { .limit = 1000 };
	struct ts_trace_stat st = { 0 };

	(void)state;
	for (uint64_t i = 1; i <= 100000; i++)
		assert_int_equal(trace_durs_add(&d, i), 0);
	assert_int_equal(d.n, 1000);
	assert_true(d.cap <= 1000);
	trace_durs_stat(&d, &st);
	assert_int_equal(st.exact, 100000);
	assert_true(st.sampled);
	assert_int_equal(st.max_ns, 100000);
	assert_in_range(st.p50_ns, 40000, 60000);
	trace_durs_done(&d);
}

static void test_map_put_get_delete(void **state)
{
	struct trace_map m = { 0 };
	uint32_t v;

	(void)state;
	assert_int_equal(trace_map_put(&m, 0, 1), -EINVAL);
	for (uint64_t k = 1; k <= 5000; k++)
		assert_int_equal(trace_map_put(&m, k * 0x1000, (uint32_t)k), 0);
	assert_int_equal(m.n, 5000);
	for (uint64_t k = 1; k <= 5000; k += 2)
		assert_true(trace_map_del(&m, k * 0x1000));
	assert_false(trace_map_del(&m, 0x1000));
	for (uint64_t k = 1; k <= 5000; k++) {
		bool in = trace_map_get(&m, k * 0x1000, &v);

		assert_int_equal(in, k % 2 == 0);
		if (in)
			assert_int_equal(v, k);
	}
	assert_int_equal(trace_map_put(&m, 0x2000, 9), 0);
	assert_true(trace_map_get(&m, 0x2000, &v));
	assert_int_equal(v, 9);
	assert_int_equal(m.n, 2500);
	trace_map_done(&m);
}

/* ---- recorded records ---- */

#define MAX_RECS 64

static size_t load_records(struct trace_rec *out)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(TEST_DATA_DIR "/trace_records.hex", "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && n < MAX_RECS) {
		unsigned char raw[112];
		size_t len = strcspn(line, "\n");

		if (line[0] == '#' || len == 0)
			continue;
		assert_int_equal(len, 2 * sizeof(raw));
		for (size_t i = 0; i < sizeof(raw); i++)
			assert_int_equal(sscanf(line + 2 * i, "%2hhx", &raw[i]), 1);
		assert_int_equal(trace_rec_decode(raw, sizeof(raw), &out[n]), 0);
		n++;
	}
	fclose(f);
	return n;
}

static void test_decode_checks_length_and_values(void **state)
{
	struct trace_rec recs[MAX_RECS], r;
	unsigned char raw[112];

	(void)state;
	assert_int_equal(load_records(recs), 15);
	memset(raw, 0, sizeof(raw));
	assert_int_equal(trace_rec_decode(raw, sizeof(raw) - 1, &r), -EBADMSG);
	assert_int_equal(trace_rec_decode(raw, sizeof(raw), &r), -EPROTO); /* kind 0 */
	/* The first record: socket() in the listener's process, fd 3. */
	assert_int_equal(recs[0].kind, TRACE_REC_HOLD);
	assert_int_equal(recs[0].fd, 3);
	assert_string_equal(recs[0].comm, "python3");
	assert_int_equal(recs[0].oldstate, TS_TCP_CLOSE);
}

struct replay {
	struct ts_trace_event ev[MAX_RECS + TRACE_TRACK_MAX_EVENTS];
	size_t n;
};

static void replay(struct replay *out, struct trace_acc *acc)
{
	struct trace_rec recs[MAX_RECS];
	struct trace_track tt;
	size_t n = load_records(recs);

	trace_track_init(&tt);
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		int r = trace_track_rec(&tt, &recs[i], &out->ev[out->n]);

		assert_true(r >= 0);
		for (int k = 0; k < r; k++) {
			if (acc)
				assert_int_equal(trace_acc_add(acc, &out->ev[out->n]), 0);
			out->n++;
		}
	}
	trace_track_done(&tt);
}

static const struct ts_trace_event *find(const struct replay *rp, enum ts_state old,
					 enum ts_state new, uint16_t lport)
{
	for (size_t i = 0; i < rp->n; i++)
		if (!rp->ev[i].born && rp->ev[i].old_state == old && rp->ev[i].new_state == new &&
		    rp->ev[i].sock.local_port == lport)
			return &rp->ev[i];
	return NULL;
}

static void test_replay_tells_states_holders_and_times(void **state)
{
	struct replay rp;
	const struct ts_trace_event *e;
	size_t born = 0;
	uint16_t client;

	(void)state;
	replay(&rp, NULL);
	assert_int_equal(rp.n, 14);
	for (size_t i = 0; i < rp.n; i++)
		born += rp.ev[i].born;
	assert_int_equal(born, 3); /* two socket() calls, one listener child */

	/* The server side held by the process that accepted it, fd 5, 300 ms. */
	e = find(&rp, TS_STATE_CLOSE_WAIT, TS_STATE_LAST_ACK, 9000);
	assert_non_null(e);
	assert_int_equal(e->sock.holder, TS_TRACE_HOLDER_PROCESS);
	assert_int_equal(e->sock.fd, 5);
	assert_string_equal(e->sock.comm, "python3");
	assert_int_equal(e->age, TS_TRACE_AGE_EXACT);
	assert_in_range(e->in_old_ns, 300000000, 301000000);

	/* connect(): IDLE (nothing bound), no local port yet. */
	e = find(&rp, TS_STATE_IDLE, TS_STATE_SYN_SENT, 0);
	assert_non_null(e);
	assert_int_equal(e->sock.remote_port, 9000);

	/* The client closed first: FIN_WAIT_2 -> TIME_WAIT, no holder any more. */
	e = find(&rp, TS_STATE_ESTABLISHED, TS_STATE_FIN_WAIT_1, 0);
	assert_null(e); /* its port is known by then */
	for (size_t i = 0; i < rp.n; i++)
		if (rp.ev[i].new_state == TS_STATE_TIME_WAIT)
			e = &rp.ev[i];
	assert_non_null(e);
	client = e->sock.local_port;
	assert_int_not_equal(client, 0);
	assert_int_equal(e->old_state, TS_STATE_FIN_WAIT_2);
	assert_int_equal(e->sock.holder, TS_TRACE_HOLDER_ORPHAN);
	assert_int_equal(e->age, TS_TRACE_AGE_EXACT);
	assert_false(e->ended);
	/* No CLOSED of the client's full socket: the hand-over is not an end. */
	assert_null(find(&rp, TS_STATE_FIN_WAIT_2, TS_STATE_CLOSED, client));

	/* The server's LAST_ACK -> CLOSED ends it. */
	e = find(&rp, TS_STATE_LAST_ACK, TS_STATE_CLOSED, 9000);
	assert_non_null(e);
	assert_true(e->ended);
	assert_int_equal(e->sock.holder, TS_TRACE_HOLDER_ORPHAN);
}

static void test_replay_summary(void **state)
{
	struct trace_acc acc = { 0 };
	struct ts_trace_summary s = { 0 };
	struct replay rp;

	(void)state;
	replay(&rp, &acc);
	assert_int_equal(trace_acc_summary(&acc, &s), 0);
	assert_int_equal(s.events, 14);
	assert_int_equal(s.per_state[TS_STATE_IDLE].count, 2);
	assert_int_equal(s.per_state[TS_STATE_CLOSE_WAIT].count, 1);
	assert_int_equal(s.per_state[TS_STATE_CLOSE_WAIT].exact, 1);
	assert_in_range(s.per_state[TS_STATE_CLOSE_WAIT].max_ns, 300000000, 301000000);
	assert_int_equal(s.per_state[TS_STATE_CLOSE_WAIT].p50_ns,
			 s.per_state[TS_STATE_CLOSE_WAIT].max_ns);
	assert_int_equal(s.per_state[TS_STATE_TIME_WAIT].count, 0);
	/* Groups: the python3 process and the orphans; ports 9000 and the client's. */
	assert_int_equal(s.n_procs, 2);
	assert_int_equal(s.n_ports, 2);
	free(s.procs);
	free(s.ports);
	trace_acc_done(&acc);
}

static void count_open(const struct ts_trace_open_sock *o, void *userdata)
{
	(void)o;
	(*(size_t *)userdata)++;
}

/* A socket() closed while IDLE changes no state on the way out: its
 * destruction is what makes the trace forget it (and its holder). */
static void test_destroy_forgets_an_idle_socket(void **state)
{
	struct trace_rec hold = { .ts_ns = 1000, .id = 0x1000, .inode = 77, .family = AF_INET,
				  .kind = TRACE_REC_HOLD, .oldstate = TS_TCP_CLOSE,
				  .newstate = TS_TCP_CLOSE, .tgid = 42, .fd = 3, .comm = "srv" };
	struct trace_rec gone = { .ts_ns = 2000, .id = 0x1000, .family = AF_INET,
				  .kind = TRACE_REC_DESTROY, .oldstate = TS_TCP_CLOSE,
				  .newstate = TS_TCP_CLOSE, .orphan = true };
	struct ts_trace_event ev[TRACE_TRACK_MAX_EVENTS];
	struct trace_track tt;
	size_t open = 0;

	(void)state;
	trace_track_init(&tt);
	assert_int_equal(trace_track_rec(&tt, &hold, ev), 1);
	assert_true(ev[0].born);
	assert_int_equal(ev[0].new_state, TS_STATE_IDLE);
	assert_int_equal(ev[0].sock.pid, 42);
	assert_int_equal(ev[0].sock.fd, 3);
	trace_track_each_open(&tt, 3000, count_open, &open);
	assert_int_equal(open, 1);
	assert_int_equal(trace_track_rec(&tt, &gone, ev), 0);
	open = 0;
	trace_track_each_open(&tt, 3000, count_open, &open);
	assert_int_equal(open, 0);
	assert_int_equal(tt.holder_by_inode.n, 0);
	trace_track_done(&tt);
}

/* A socket last seen in FIN_WAIT_1 whose address a socket() takes: its end was
 * never seen (at most 2 changes lost), and the new socket is born all the same. */
static void test_address_reused_before_the_end_counts_unseen(void **state)
{
	struct trace_rec fw1 = { .ts_ns = 1000, .id = 0x2000, .family = AF_INET,
				 .kind = TRACE_REC_STATE, .oldstate = TS_TCP_ESTABLISHED,
				 .newstate = TS_TCP_FIN_WAIT1, .sport = 40000, .dport = 80,
				 .had_port = true };
	struct trace_rec born = { .ts_ns = 2000, .id = 0x2000, .inode = 9, .family = AF_INET,
				  .kind = TRACE_REC_HOLD, .oldstate = TS_TCP_CLOSE,
				  .newstate = TS_TCP_CLOSE, .tgid = 7, .fd = 4, .comm = "cli" };
	struct ts_trace_event ev[TRACE_TRACK_MAX_EVENTS];
	struct trace_track tt;

	(void)state;
	trace_track_init(&tt);
	assert_int_equal(trace_track_rec(&tt, &fw1, ev), 1);
	assert_int_equal(tt.unseen, 0);
	assert_int_equal(trace_track_rec(&tt, &born, ev), 1);
	assert_true(ev[0].born);
	assert_int_equal(ev[0].new_state, TS_STATE_IDLE);
	assert_int_equal(tt.unseen, 2);
	trace_track_done(&tt);
}

/* A connection on the 4-tuple of a followed timewait socket ends it first. */
static void test_tuple_taken_ends_the_time_wait(void **state)
{
	struct trace_rec tw = { .ts_ns = 1000, .id = 0x3000, .peer_id = 0x3000, .family = AF_INET,
				.kind = TRACE_REC_TW_ENTER, .oldstate = TS_TCP_FIN_WAIT2,
				.newstate = TS_TCP_TIME_WAIT, .sport = 40001, .dport = 80,
				.orphan = true, .had_port = true };
	struct trace_rec est = { .ts_ns = 5000, .id = 0x4000, .family = AF_INET,
				 .kind = TRACE_REC_STATE, .oldstate = TS_TCP_SYN_SENT,
				 .newstate = TS_TCP_ESTABLISHED, .sport = 40001, .dport = 80,
				 .had_port = true };
	struct ts_trace_event ev[TRACE_TRACK_MAX_EVENTS];
	struct trace_track tt;

	(void)state;
	memcpy(&tw.saddr, "\x7f\0\0\1", 4);
	memcpy(&tw.daddr, "\x7f\0\0\2", 4);
	est.saddr = tw.saddr;
	est.daddr = tw.daddr;
	trace_track_init(&tt);
	assert_int_equal(trace_track_rec(&tt, &tw, ev), 1);
	assert_int_equal(ev[0].new_state, TS_STATE_TIME_WAIT);
	assert_int_equal(trace_track_rec(&tt, &est, ev), 2);
	assert_int_equal(ev[0].old_state, TS_STATE_TIME_WAIT);
	assert_int_equal(ev[0].new_state, TS_STATE_CLOSED);
	assert_true(ev[0].ended && ev[0].reused);
	assert_int_equal(ev[0].age, TS_TRACE_AGE_EXACT);
	assert_int_equal(ev[0].in_old_ns, 4000);
	assert_int_equal(ev[1].new_state, TS_STATE_ESTABLISHED);
	assert_false(ev[1].reused);
	trace_track_done(&tt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentile_is_nearest_rank),
		cmocka_unit_test(test_durations_sorted_and_max_exact),
		cmocka_unit_test(test_durations_bounded_by_a_sample),
		cmocka_unit_test(test_map_put_get_delete),
		cmocka_unit_test(test_decode_checks_length_and_values),
		cmocka_unit_test(test_replay_tells_states_holders_and_times),
		cmocka_unit_test(test_replay_summary),
		cmocka_unit_test(test_destroy_forgets_an_idle_socket),
		cmocka_unit_test(test_address_reused_before_the_end_counts_unseen),
		cmocka_unit_test(test_tuple_taken_ends_the_time_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
