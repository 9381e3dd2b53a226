/* SPDX-License-Identifier: MIT */
/* src/metrics_transitions.c: folding trace events into counters and histograms, and their exposition. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "exposition_check.h"

#include "metrics_transitions.h"

#define MS 1000000ull
#define S 1000000000ull

static const char *name_of(uint64_t inode, void *userdata)
{
	static char buf[64];

	(void)userdata;
	snprintf(buf, sizeof(buf), inode == 7 ? "we\"b" : "ns%llu", (unsigned long long)inode);
	return buf;
}

static struct ts_trace_event ev(uint64_t netns, enum ts_state from, enum ts_state to,
				enum ts_trace_age age, uint64_t in_old_ns)
{
	struct ts_trace_event e = { 0 };

	e.mono_ns = 100 * S;
	e.sock.netns_inode = netns;
	e.old_state = from;
	e.new_state = to;
	e.age = age;
	e.in_old_ns = in_old_ns;
	return e;
}

static void add(struct metrics_transitions *t, struct ts_trace_event e)
{
	metrics_transitions_add(t, &e, name_of, NULL);
}

static char *render(struct metrics_transitions *t, enum metrics_format f)
{
	struct metrics_buf b = { .max = 1 << 22 };

	metrics_transitions_render(t, f, &b);
	assert_int_equal(b.err, 0);
	assert_non_null(b.data);
	b.data[b.len] = '\0'; /* vsnprintf left room */
	return b.data;
}

static void test_bucket_le_is_inclusive(void **state)
{
	(void)state;
	assert_int_equal(metrics_transitions_bucket(0), 0);
	assert_int_equal(metrics_transitions_bucket(1 * MS), 0);      /* le="0.001" */
	assert_int_equal(metrics_transitions_bucket(1 * MS + 1), 1);  /* le="0.0025" */
	assert_int_equal(metrics_transitions_bucket(3 * S), 11);      /* le="5.0" */
	assert_int_equal(metrics_transitions_bucket(60 * S), 14);     /* le="60.0" */
	assert_int_equal(metrics_transitions_bucket(60 * S + 5 * MS), 15); /* a TIME_WAIT: le="120.0" */
	assert_int_equal(metrics_transitions_bucket(3600 * S), METRICS_TRANSITIONS_N_BOUNDS - 1);
	assert_int_equal(metrics_transitions_bucket(3600 * S + 1), METRICS_TRANSITIONS_N_BOUNDS);
	assert_int_equal(metrics_transitions_bucket(UINT64_MAX), METRICS_TRANSITIONS_N_BOUNDS);
	for (unsigned i = 1; i < METRICS_TRANSITIONS_N_BOUNDS; i++)
		assert_true(metrics_transitions_bounds_ns[i - 1] < metrics_transitions_bounds_ns[i]);
}

static void test_counts_and_histogram(void **state)
{
	struct metrics_transitions *t;
	struct ts_trace_event born = ev(5, TS_STATE_LISTEN, TS_STATE_SYN_RECEIVED, TS_TRACE_AGE_NONE, 0);
	struct ts_trace_event polled = ev(5, TS_STATE_TIME_WAIT, TS_STATE_CLOSED, TS_TRACE_AGE_EXACT, 61 * S);
	char *x;

	(void)state;
	assert_int_equal(metrics_transitions_new(&t), 0);
	metrics_transitions_set_source(t, METRICS_TRANSITIONS_BPF);
	metrics_transitions_set_lost(t, 4);
	add(t, ev(5, TS_STATE_CLOSE_WAIT, TS_STATE_LAST_ACK, TS_TRACE_AGE_EXACT, 3 * S));
	add(t, ev(5, TS_STATE_CLOSE_WAIT, TS_STATE_LAST_ACK, TS_TRACE_AGE_EXACT, 2 * MS));
	add(t, ev(5, TS_STATE_CLOSE_WAIT, TS_STATE_LAST_ACK, TS_TRACE_AGE_AT_LEAST, 7 * S));
	add(t, ev(5, TS_STATE_LAST_ACK, TS_STATE_CLOSED, TS_TRACE_AGE_NONE, 0));
	add(t, ev(7, TS_STATE_ESTABLISHED, TS_STATE_FIN_WAIT_1, TS_TRACE_AGE_EXACT, 2 * 3600 * S));
	born.born = true;
	add(t, born); /* a birth: no transition */
	polled.polled = true;
	add(t, polled);
	x = render(t, METRICS_TEXT_004);
	exposition_assert_well_formed(x, false);
	assert_true(exposition_has_line(x, "tcpstate_transitions_source{source=\"bpf\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_source{source=\"off\"} 0"));
	assert_true(exposition_has_line(x, "tcpstate_trace_lost_events_total 4"));
	assert_true(exposition_has_line(x, "# TYPE tcpstate_transitions_total counter"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"ns5\",from=\"CLOSE_WAIT\",to=\"LAST_ACK\"} 3"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"ns5\",from=\"LAST_ACK\",to=\"CLOSED\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"ns5\",from=\"TIME_WAIT\",to=\"CLOSED\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"we\\\"b\",from=\"ESTABLISHED\",to=\"FIN_WAIT_1\"} 1"));
	assert_null(strstr(x, "to=\"SYN_RECEIVED\""));        /* the birth */
	assert_null(strstr(x, "from=\"LISTEN\""));
	/* only the two exact times, cumulative, le inclusive */
	assert_true(exposition_has_line(x, "# TYPE tcpstate_state_duration_seconds histogram"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"ns5\",state=\"CLOSE_WAIT\",le=\"0.001\"} 0"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"ns5\",state=\"CLOSE_WAIT\",le=\"0.0025\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"ns5\",state=\"CLOSE_WAIT\",le=\"2.5\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"ns5\",state=\"CLOSE_WAIT\",le=\"5.0\"} 2"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"ns5\",state=\"CLOSE_WAIT\",le=\"3600.0\"} 2"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"ns5\",state=\"CLOSE_WAIT\",le=\"+Inf\"} 2"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_sum{netns=\"ns5\",state=\"CLOSE_WAIT\"} 3.002000000"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_count{netns=\"ns5\",state=\"CLOSE_WAIT\"} 2"));
	/* a state left only with times not known: a histogram of 0, the rest counted apart */
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_count{netns=\"ns5\",state=\"LAST_ACK\"} 0"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_count{netns=\"ns5\",state=\"TIME_WAIT\"} 0"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_inexact_total{netns=\"ns5\",state=\"CLOSE_WAIT\",reason=\"at_least\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_inexact_total{netns=\"ns5\",state=\"LAST_ACK\",reason=\"unknown\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_inexact_total{netns=\"ns5\",state=\"TIME_WAIT\",reason=\"polled\"} 1"));
	/* over an hour: only +Inf */
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"we\\\"b\",state=\"ESTABLISHED\",le=\"3600.0\"} 0"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_bucket{netns=\"we\\\"b\",state=\"ESTABLISHED\",le=\"+Inf\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_state_duration_seconds_sum{netns=\"we\\\"b\",state=\"ESTABLISHED\"} 7200.000000000"));
	/* states never left have no series */
	assert_null(strstr(x, "state=\"LISTEN\""));
	free(x);

	x = render(t, METRICS_OPENMETRICS);
	exposition_assert_well_formed(x, true);
	assert_true(exposition_has_line(x, "# TYPE tcpstate_transitions counter"));
	assert_true(exposition_has_line(x, "# TYPE tcpstate_trace_lost_events counter"));
	assert_true(exposition_has_line(x, "# TYPE tcpstate_state_duration_inexact counter"));
	assert_true(exposition_has_line(x, "tcpstate_trace_lost_events_total 4"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"ns5\",from=\"CLOSE_WAIT\",to=\"LAST_ACK\"} 3"));
	free(x);
	metrics_transitions_free(t);
}

static void test_off_and_failed_give_the_source_only(void **state)
{
	struct metrics_transitions *t;
	char *x;

	(void)state;
	assert_int_equal(metrics_transitions_new(&t), 0);
	add(t, ev(5, TS_STATE_CLOSE_WAIT, TS_STATE_LAST_ACK, TS_TRACE_AGE_EXACT, 3 * S));
	x = render(t, METRICS_TEXT_004);
	exposition_assert_well_formed(x, false);
	assert_true(exposition_has_line(x, "tcpstate_transitions_source{source=\"off\"} 1"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_source{source=\"bpf\"} 0"));
	assert_null(strstr(x, "tcpstate_transitions_total{"));
	assert_null(strstr(x, "tcpstate_state_duration_seconds_bucket{"));
	assert_null(strstr(x, "tcpstate_trace_lost_events_total"));
	free(x);
	metrics_transitions_set_source(t, METRICS_TRANSITIONS_FAILED);
	x = render(t, METRICS_TEXT_004);
	assert_true(exposition_has_line(x, "tcpstate_transitions_source{source=\"failed\"} 1"));
	assert_null(strstr(x, "tcpstate_transitions_total{"));
	free(x);
	metrics_transitions_free(t);
}

static void test_sync_drops_gone_namespaces_and_renames(void **state)
{
	struct metrics_transitions *t;
	struct metrics_ns seen[1] = { { .inode = 5 } };
	struct ts_trace_event late = ev(9, TS_STATE_SYN_SENT, TS_STATE_ESTABLISHED, TS_TRACE_AGE_EXACT, MS);
	char *x;

	(void)state;
	snprintf(seen[0].name, sizeof(seen[0].name), "web");
	assert_int_equal(metrics_transitions_new(&t), 0);
	metrics_transitions_set_source(t, METRICS_TRANSITIONS_BPF);
	add(t, ev(5, TS_STATE_SYN_SENT, TS_STATE_ESTABLISHED, TS_TRACE_AGE_EXACT, MS));
	add(t, ev(6, TS_STATE_SYN_SENT, TS_STATE_ESTABLISHED, TS_TRACE_AGE_EXACT, MS));
	late.mono_ns = 300 * S; /* after the snapshot began: not judged by it */
	add(t, late);
	metrics_transitions_sync(t, seen, 1, 200 * S);
	x = render(t, METRICS_TEXT_004);
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"web\",from=\"SYN_SENT\",to=\"ESTABLISHED\"} 1"));
	assert_null(strstr(x, "netns=\"ns6\""));
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"ns9\",from=\"SYN_SENT\",to=\"ESTABLISHED\"} 1"));
	free(x);
	/* the next snapshot does not find ns9 either: gone */
	metrics_transitions_sync(t, seen, 1, 400 * S);
	x = render(t, METRICS_TEXT_004);
	assert_null(strstr(x, "netns=\"ns9\""));
	assert_non_null(strstr(x, "netns=\"web\""));
	free(x);
	metrics_transitions_free(t);
}

static void test_namespaces_past_the_bound_are_other(void **state)
{
	struct metrics_transitions *t;
	char *x;

	(void)state;
	assert_int_equal(metrics_transitions_new(&t), 0);
	metrics_transitions_set_source(t, METRICS_TRANSITIONS_BPF);
	for (uint64_t i = 0; i < METRICS_TRANSITIONS_MAX_NETNS + 3; i++)
		add(t, ev(1000 + i, TS_STATE_ESTABLISHED, TS_STATE_CLOSE_WAIT, TS_TRACE_AGE_EXACT, S));
	x = render(t, METRICS_TEXT_004);
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"other\",from=\"ESTABLISHED\",to=\"CLOSE_WAIT\"} 3"));
	assert_true(exposition_has_line(x, "tcpstate_transitions_total{netns=\"ns1000\",from=\"ESTABLISHED\",to=\"CLOSE_WAIT\"} 1"));
	assert_non_null(strstr(x, "netns=\"ns2023\"")); /* the 1024th */
	assert_null(strstr(x, "netns=\"ns2024\""));    /* the 1025th */
	free(x);
	metrics_transitions_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_le_is_inclusive),
		cmocka_unit_test(test_counts_and_histogram),
		cmocka_unit_test(test_off_and_failed_give_the_source_only),
		cmocka_unit_test(test_sync_drops_gone_namespaces_and_renames),
		cmocka_unit_test(test_namespaces_past_the_bound_are_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
