/* SPDX-License-Identifier: MIT */
/* src/metrics_render.c: the exposition of a metrics model, on hand-made models. */
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

#include "metrics.h"

static struct metrics_ns ns[2];
static struct metrics_proc procs[3];
static struct metrics_port ports[2];

static void model(struct metrics_model *m, struct metrics_config *cfg)
{
	memset(m, 0, sizeof(*m));
	memset(cfg, 0, sizeof(*cfg));
	memset(ns, 0, sizeof(ns));
	memset(procs, 0, sizeof(procs));
	memset(ports, 0, sizeof(ports));
	cfg->top_processes = 1;
	cfg->top_ports = 1;
	snprintf(ns[0].name, sizeof(ns[0].name), "init");
	ns[0].inode = 4026531840;
	ns[0].states[TS_STATE_CLOSE_WAIT] = 7;
	snprintf(ns[1].name, sizeof(ns[1].name), "we\"b\\1");
	ns[1].inode = 4026532000;
	ns[1].have_sysctls = true;
	ts_diagnose_sysctls_unavailable(&ns[1].sysctls, -ENOENT);
	ns[1].sysctls.err[TS_DS_FIN_TIMEOUT] = 0;
	ns[1].sysctls.value[TS_DS_FIN_TIMEOUT] = 60;
	ns[1].sysctls.err[TS_DS_PORT_RANGE] = 0;
	ns[1].sysctls.value[TS_DS_PORT_RANGE] = 32768;
	ns[1].sysctls.value2[TS_DS_PORT_RANGE] = 60999;
	procs[0] = (struct metrics_proc){ .pid = 42, .netns_index = 1, .closing = { 5, 0, 0, 0, 0, 1 },
					  .total = 6, .has_fds = true, .fd_count = 9, .has_nofile = true,
					  .nofile_soft = UINT64_MAX, .has_age = true,
					  .oldest_close_wait_ms = 2500, .has_growth = true, .growth_per_s = 1.5 };
	snprintf(procs[0].comm, sizeof(procs[0].comm), "a\nb\x1b" "c");
	snprintf(procs[0].unit, sizeof(procs[0].unit), "leaky.service");
	procs[1] = (struct metrics_proc){ .pid = 43, .netns_index = 0, .closing = { 1, 2 }, .total = 3 };
	procs[2] = (struct metrics_proc){ .pid = 44, .netns_index = 0, .closing = { 1, 0, 4 }, .total = 5 };
	ports[0] = (struct metrics_port){ .netns_index = 0, .port = 80, .total = 3 };
	ports[0].states[TS_STATE_LISTEN] = 1;
	ports[0].states[TS_STATE_ESTABLISHED] = 2;
	ports[1] = (struct metrics_port){ .netns_index = 1, .port = 8080, .total = 1 };
	ports[1].states[TS_STATE_LISTEN] = 1;
	m->ok = true;
	m->owner_source = "bpf";
	m->socket_source = "bpf";
	m->ns = ns;
	m->n_ns = 2;
	m->procs = procs;
	m->n_procs = 3;
	m->n_procs_shown = 1;
	m->ports = ports;
	m->n_ports = 2;
	m->n_ports_shown = 1;
	m->owners_known = true;
	m->findings[TS_SEVERITY_CRITICAL][TS_FINDING_CLOSE_WAIT] = 1;
	m->scrape_errors = 3;
	m->collections = 10;
}

static char *render(const struct metrics_model *m, const struct metrics_config *cfg, enum metrics_format f)
{
	struct metrics_buf b = { .max = 1 << 20 };

	assert_int_equal(metrics_render(m, cfg, f, &b), 0);
	assert_non_null(b.data);
	b.data[b.len] = '\0'; /* vsnprintf left room */
	return b.data;
}

static void test_text_format(void **state)
{
	struct metrics_model m;
	struct metrics_config cfg;
	char *t;

	(void)state;
	model(&m, &cfg);
	t = render(&m, &cfg, METRICS_TEXT_004);
	exposition_assert_well_formed(t, false);
	/* 13 states per namespace, zero included; no UNKNOWN when none */
	assert_true(exposition_has_line(t, "tcpstate_sockets{netns=\"init\",netns_inode=\"4026531840\",container=\"\",unit=\"\",state=\"CLOSE_WAIT\"} 7"));
	assert_true(exposition_has_line(t, "tcpstate_sockets{netns=\"init\",netns_inode=\"4026531840\",container=\"\",unit=\"\",state=\"SYN_SENT\"} 0"));
	assert_null(strstr(t, "UNKNOWN\"}"));
	/* label values: '"' and '\\' escaped, controls shown as '?' */
	assert_true(exposition_has_line(t, "tcpstate_process_sockets{netns=\"we\\\"b\\\\1\",pid=\"42\",comm=\"a?b?c\",unit=\"leaky.service\",container=\"\",state=\"CLOSE_WAIT\"} 5"));
	assert_true(exposition_has_line(t, "tcpstate_process_open_files_limit{netns=\"we\\\"b\\\\1\",pid=\"42\",comm=\"a?b?c\",unit=\"leaky.service\",container=\"\"} +Inf"));
	assert_true(exposition_has_line(t, "tcpstate_process_close_wait_oldest_seconds{netns=\"we\\\"b\\\\1\",pid=\"42\",comm=\"a?b?c\",unit=\"leaky.service\",container=\"\"} 2.5"));
	assert_true(exposition_has_line(t, "tcpstate_process_close_wait_growth_per_second{netns=\"we\\\"b\\\\1\",pid=\"42\",comm=\"a?b?c\",unit=\"leaky.service\",container=\"\"} 1.5"));
	assert_true(exposition_has_line(t, "tcpstate_process_open_files{netns=\"we\\\"b\\\\1\",pid=\"42\",comm=\"a?b?c\",unit=\"leaky.service\",container=\"\"} 9"));
	/* top 1: the two others summed into "other", and counted */
	assert_true(exposition_has_line(t, "tcpstate_process_sockets{netns=\"\",pid=\"other\",comm=\"\",unit=\"\",container=\"\",state=\"CLOSE_WAIT\"} 2"));
	assert_true(exposition_has_line(t, "tcpstate_process_sockets{netns=\"\",pid=\"other\",comm=\"\",unit=\"\",container=\"\",state=\"FIN_WAIT_2\"} 4"));
	assert_true(exposition_has_line(t, "tcpstate_processes_folded 2"));
	assert_null(strstr(t, "pid=\"43\""));
	assert_true(exposition_has_line(t, "tcpstate_port_sockets{netns=\"init\",port=\"80\",state=\"ESTABLISHED\"} 2"));
	assert_true(exposition_has_line(t, "tcpstate_port_sockets{netns=\"\",port=\"other\",state=\"LISTEN\"} 1"));
	assert_true(exposition_has_line(t, "tcpstate_ports_folded 1"));
	assert_true(exposition_has_line(t, "tcpstate_findings{severity=\"critical\",kind=\"close-wait\"} 1"));
	assert_true(exposition_has_line(t, "tcpstate_findings{severity=\"info\",kind=\"leak\"} 0"));
	/* settings: only the readable ones; the port range as two fields */
	assert_true(exposition_has_line(t, "tcpstate_sysctl{netns=\"we\\\"b\\\\1\",sysctl=\"net.ipv4.tcp_fin_timeout\"} 60"));
	assert_true(exposition_has_line(t, "tcpstate_sysctl{netns=\"we\\\"b\\\\1\",sysctl=\"net.ipv4.ip_local_port_range\",field=\"high\"} 60999"));
	assert_null(strstr(t, "tcp_max_tw_buckets"));
	assert_true(exposition_has_line(t, "# TYPE tcpstate_scrape_errors_total counter"));
	assert_true(exposition_has_line(t, "tcpstate_scrape_errors_total 3"));
	assert_true(exposition_has_line(t, "tcpstate_owner_source{source=\"bpf\"} 1"));
	assert_true(exposition_has_line(t, "tcpstate_owner_source{source=\"proc\"} 0"));
	assert_true(exposition_has_line(t, "tcpstate_socket_source{source=\"bpf\"} 1"));
	assert_true(exposition_has_line(t, "tcpstate_socket_source{source=\"netlink\"} 0"));
	assert_null(strstr(t, "# EOF"));
	free(t);
}

static void test_openmetrics(void **state)
{
	struct metrics_model m;
	struct metrics_config cfg;
	char *t;

	(void)state;
	model(&m, &cfg);
	t = render(&m, &cfg, METRICS_OPENMETRICS);
	exposition_assert_well_formed(t, true);
	/* a counter's family has no _total; its sample does */
	assert_true(exposition_has_line(t, "# TYPE tcpstate_scrape_errors counter"));
	assert_true(exposition_has_line(t, "tcpstate_scrape_errors_total 3"));
	assert_true(exposition_has_line(t, "# TYPE tcpstate_snapshots counter"));
	assert_int_equal(strcmp(t + strlen(t) - 6, "# EOF\n"), 0);
	free(t);
}

static void test_failed_snapshot_gives_self_metrics_only(void **state)
{
	struct metrics_model m = { .ok = false, .duration_s = 0.25, .scrape_errors = 1, .collections = 1 };
	struct metrics_config cfg = { 0 };
	char *t;

	(void)state;
	t = render(&m, &cfg, METRICS_TEXT_004);
	exposition_assert_well_formed(t, false);
	assert_true(exposition_has_line(t, "tcpstate_scrape_success 0"));
	assert_true(exposition_has_line(t, "tcpstate_scrape_duration_seconds 0.25"));
	assert_true(exposition_has_line(t, "tcpstate_scrape_errors_total 1"));
	assert_null(strstr(t, "tcpstate_sockets"));
	assert_null(strstr(t, "tcpstate_owner_source"));
	free(t);
}

static void test_no_owners_no_process_series(void **state)
{
	struct metrics_model m;
	struct metrics_config cfg;
	char *t;

	(void)state;
	model(&m, &cfg);
	m.owners_known = false;
	t = render(&m, &cfg, METRICS_TEXT_004);
	assert_null(strstr(t, "tcpstate_process_"));
	assert_non_null(strstr(t, "tcpstate_port_sockets"));
	free(t);
}

static void test_size_bound(void **state)
{
	struct metrics_model m;
	struct metrics_config cfg;
	struct metrics_buf b = { .max = 4096 };

	(void)state;
	model(&m, &cfg);
	assert_int_equal(metrics_render(&m, &cfg, METRICS_TEXT_004, &b), -EFBIG);
	assert_true(b.cap <= 4096);
	metrics_buf_free(&b);
}

static void test_accept_header(void **state)
{
	(void)state;
	/* what Prometheus 2.42 sends */
	assert_true(metrics_accept_openmetrics(
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
	assert_true(metrics_accept_openmetrics("text/plain;q=0.5, Application/OpenMetrics-Text; q=0.9"));
	assert_false(metrics_accept_openmetrics("application/openmetrics-text;q=0"));
	assert_false(metrics_accept_openmetrics("text/plain;version=0.0.4"));
	assert_false(metrics_accept_openmetrics("application/openmetrics-textual"));
	assert_false(metrics_accept_openmetrics("*/*"));
	assert_false(metrics_accept_openmetrics(NULL));
	assert_false(metrics_accept_openmetrics(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_openmetrics),
		cmocka_unit_test(test_failed_snapshot_gives_self_metrics_only),
		cmocka_unit_test(test_no_owners_no_process_series),
		cmocka_unit_test(test_size_bound),
		cmocka_unit_test(test_accept_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
