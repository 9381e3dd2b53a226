/* SPDX-License-Identifier: MIT */
/* ts_diagnose() on synthetic snapshots, with fake /proc and /proc/sys trees. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "snapshot/owner_scan.h"
#include "snapshot/snapshot.h"
#include "tcpstate/activity.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/sysctl.h"

#define PROC TEST_DATA_DIR "/proc"
#define PROC_SYS TEST_DATA_DIR "/proc/sys"

/* ---- building snapshots ---- */

static struct ts_snapshot *snap_new(void)
{
	struct ts_snapshot *s = snapshot_new();
	struct ts_netns ns = { .inode = 4026531840u, .name = "testns" };
	uint32_t idx;

	assert_non_null(s);
	s->stats.owners_scanned = true;
	assert_int_equal(snapshot_netns_append(s, &ns, &idx), 0);
	return s;
}

static uint32_t add_proc(struct ts_snapshot *snap, pid_t pid, const char *comm)
{
	struct ts_process p = { .pid = pid };
	uint32_t idx;

	for (size_t i = 0; i < snap->n_processes; i++)
		if (snap->processes[i].pid == pid)
			return (uint32_t)i;
	snprintf(p.comm, sizeof(p.comm), "%s", comm);
	assert_int_equal(snapshot_process_append(snap, &p, &idx), 0);
	return idx;
}

struct sock_spec {
	enum ts_state state;
	const char *laddr;
	uint16_t lport;
	const char *raddr; /* NULL: unconnected */
	uint16_t rport;
	uint32_t recv_q, send_q;
	uint64_t inode;
	uint8_t retrans;
	uint32_t silent_ms; /* 0: no tcp_info */
};

static size_t add_sock(struct ts_snapshot *snap, const struct sock_spec *sp)
{
	struct ts_socket s = {
		.family = AF_INET, .state = (uint8_t)sp->state, .local_port = sp->lport,
		.remote_port = sp->rport, .recv_q = sp->recv_q, .send_q = sp->send_q,
		.inode = sp->inode, .timer_retrans = sp->retrans,
		/* sock_diag reports a retransmission count with the retransmission timer */
		.timer = sp->retrans ? TS_TIMER_RETRANS : TS_TIMER_NONE,
	};

	assert_int_equal(inet_pton(AF_INET, sp->laddr ? sp->laddr : "10.0.0.1", &s.local_addr), 1);
	if (sp->raddr) {
		assert_int_equal(inet_pton(AF_INET, sp->raddr, &s.remote_addr), 1);
		s.flags |= TS_SOCK_REMOTE_VALID;
	}
	if (sp->silent_ms) {
		s.flags |= TS_SOCK_HAS_INFO;
		s.info.last_data_recv_ms = sp->silent_ms + 1000;
		s.info.last_ack_recv_ms = sp->silent_ms;
		s.info.last_data_sent_ms = sp->silent_ms + 2000;
	}
	assert_int_equal(snapshot_socket_append(snap, &s), 0);
	return snap->n_sockets - 1;
}

static void add_owner(struct ts_snapshot *snap, size_t sock, pid_t pid, const char *comm, int fd)
{
	struct ts_owner o = { .pid = pid, .fd = fd, .socket_index = (uint32_t)sock };

	o.process_index = add_proc(snap, pid, comm);
	assert_int_equal(snapshot_owner_append(snap, &o), 0);
}

static void finalize(struct ts_snapshot *snap)
{
	assert_int_equal(snapshot_owners_finalize(snap), 0);
}

static struct ts_diagnose_sysctls fake_sysctls(void)
{
	struct ts_diagnose_sysctls v;
	struct ts_sysctl *s;

	assert_int_equal(ts_sysctl_open(NULL, PROC_SYS, &s), 0);
	ts_diagnose_sysctls_read(s, &v);
	ts_sysctl_free(s);
	return v;
}

/* Runs the rules with the fake trees; NULL th: defaults. */
static struct ts_diagnosis *run(struct ts_snapshot *snap, const struct ts_diagnose_thresholds *th,
				bool with_sysctls)
{
	struct ts_diagnose_sysctls sy = fake_sysctls();
	struct ts_diagnose_procs procs;
	struct ts_diagnosis *d = NULL;
	struct ts_diagnose_input in = {
		.snap = snap, .procs = &procs, .thresholds = th,
		.sysctls = with_sysctls ? &sy : NULL, .n_sysctls = with_sysctls ? 1 : 0,
	};

	finalize(snap);
	assert_int_equal(ts_diagnose_procs_collect(snap, PROC, &procs), 0);
	assert_int_equal(ts_diagnose(&in, &d), 0);
	ts_diagnose_procs_clear(&procs);
	return d;
}

static const struct ts_finding *find_kind(const struct ts_diagnosis *d, enum ts_finding_kind k, size_t nth)
{
	for (size_t i = 0; i < d->n_findings; i++)
		if (d->findings[i].kind == k && nth-- == 0)
			return &d->findings[i];
	return NULL;
}

static size_t count_kind(const struct ts_diagnosis *d, enum ts_finding_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_findings; i++)
		n += d->findings[i].kind == k;
	return n;
}

/* ---- settings ---- */

static void test_sysctls(void **state)
{
	struct ts_diagnose_sysctls v = fake_sysctls();
	struct ts_sysctl *s;

	(void)state;
	assert_int_equal(v.err[TS_DS_FIN_TIMEOUT], 0);
	assert_int_equal(v.value[TS_DS_FIN_TIMEOUT], 60);
	assert_int_equal(v.err[TS_DS_PORT_RANGE], 0);
	assert_int_equal(v.value[TS_DS_PORT_RANGE], 60000);
	assert_int_equal(v.value2[TS_DS_PORT_RANGE], 60099);
	assert_int_equal(v.value[TS_DS_SYNCOOKIES], 0);
	assert_int_equal(v.value[TS_DS_SOMAXCONN], 4096);
	assert_int_equal(v.err[TS_DS_SYNACK_RETRIES], -EBADMSG); /* "not a number" */
	/* A tree without the settings: every one unavailable, no crash. */
	assert_int_equal(ts_sysctl_open(NULL, TEST_DATA_DIR "/no-such-sys", &s), 0);
	ts_diagnose_sysctls_read(s, &v);
	ts_sysctl_free(s);
	for (unsigned i = 0; i < _TS_DS_MAX; i++)
		assert_true(v.err[i] < 0);
	ts_diagnose_sysctls_read(NULL, &v);
	assert_int_equal(v.err[TS_DS_FIN_TIMEOUT], -ENODATA);
	assert_string_equal(ts_diagnose_sysctl_name(TS_DS_SOMAXCONN), "net.core.somaxconn");
	assert_null(ts_diagnose_sysctl_name(_TS_DS_MAX));
}

static void test_severity_names(void **state)
{
	enum ts_severity s;

	(void)state;
	assert_int_equal(ts_severity_parse("Critical", &s), 0);
	assert_int_equal(s, TS_SEVERITY_CRITICAL);
	assert_int_equal(ts_severity_parse("warn", &s), -EINVAL);
	assert_string_equal(ts_severity_name(TS_SEVERITY_INFO), "info");
	assert_null(ts_severity_name(_TS_SEVERITY_MAX));
	for (unsigned k = 0; k < _TS_FINDING_MAX; k++)
		assert_non_null(ts_finding_kind_id((enum ts_finding_kind)k));
}

/* ---- rules ---- */

static void test_clean(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	size_t l, e;

	(void)state;
	l = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 80, .send_q = 128, .inode = 10 });
	add_owner(snap, l, 4242, "python3", 3);
	e = add_sock(snap, &(struct sock_spec){ TS_STATE_ESTABLISHED, .lport = 80, .raddr = "10.0.0.2",
					       .rport = 5000, .inode = 11 });
	add_owner(snap, e, 4242, "python3", 5);
	/* A SYN_SENT not yet retransmitting, one LAST_ACK without retransmissions: transient. */
	add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_SENT, .lport = 40000, .raddr = "10.0.0.5", .rport = 443, .inode = 12 });
	add_sock(snap, &(struct sock_spec){ TS_STATE_LAST_ACK, .lport = 80, .raddr = "10.0.0.9", .rport = 1, .inode = 13 });
	add_sock(snap, &(struct sock_spec){ TS_STATE_TIME_WAIT, .lport = 80, .raddr = "10.0.0.2", .rport = 5001 });
	d = run(snap, NULL, true);
	assert_int_equal(d->n_findings, 0);
	assert_int_equal(d->state_counts[TS_STATE_LISTEN], 1);
	assert_int_equal(d->state_counts[TS_STATE_TIME_WAIT], 1);
	assert_int_equal(ts_diagnosis_count_at_least(d, TS_SEVERITY_INFO), 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static struct ts_snapshot *close_wait_snap(void)
{
	struct ts_snapshot *snap = snap_new();
	static const struct { uint32_t recv_q; int fd; uint32_t silent; uint16_t rport; } cw[] = {
		{ 1, 3, 5000, 50001 }, { 11, 5, 3000, 50002 }, { 0, 7, 4000, 50003 },
	};

	size_t l = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .laddr = "0.0.0.0", .lport = 8080,
						      .send_q = 128, .inode = 99 });

	add_owner(snap, l, 4242, "python3", 2);
	for (size_t i = 0; i < 3; i++) {
		size_t k = add_sock(snap, &(struct sock_spec){
			TS_STATE_CLOSE_WAIT, .lport = 8080, .raddr = "10.0.0.2", .rport = cw[i].rport,
			.recv_q = cw[i].recv_q, .inode = 100 + i, .silent_ms = cw[i].silent });

		add_owner(snap, k, 4242, "python3", cw[i].fd);
	}
	return snap;
}

static void test_close_wait(void **state)
{
	struct ts_snapshot *snap = close_wait_snap();
	struct ts_diagnosis *d = run(snap, NULL, true);
	const struct ts_finding *f;

	(void)state;
	assert_int_equal(d->n_findings, 1);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_non_null(f);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	assert_int_equal(f->state, TS_STATE_CLOSE_WAIT);
	assert_int_equal(f->pid, 4242);
	assert_string_equal(f->comm, "python3");
	assert_int_equal(f->count, 3);
	assert_int_equal(f->n_fds, 3);
	assert_int_equal(f->fds[0], 3);
	assert_int_equal(f->fds[2], 7);
	assert_int_equal(f->unread_bytes, 10);     /* 0 + 10 + 0: the FIN is not a byte */
	assert_int_equal(f->eof_read, 1);          /* Recv-Q 0: read end-of-file, kept the fd */
	assert_true(f->has_age);
	assert_int_equal(f->age_min_ms, 5000);     /* oldest socket, min(last data, last ack) */
	assert_true(f->has_proc);
	assert_int_equal(f->proc.nofile_soft, 1024);
	assert_int_equal(f->proc.fd_count, 6);
	assert_string_equal(f->proc.unit, "myapp.service");
	assert_string_equal(f->proc.cmdline, "python3 server.py --port 8080");
	assert_int_equal(f->local_port, 8080);
	assert_int_equal(f->n_groups, 1);
	assert_int_equal(f->groups[0].count, 3);
	assert_int_equal(f->groups[0].unread_bytes, 10);
	assert_non_null(f->explanation);
	assert_non_null(f->advice);
	assert_int_equal(ts_diagnosis_count_at_least(d, TS_SEVERITY_WARNING), 1);
	assert_int_equal(ts_diagnosis_count_at_least(d, TS_SEVERITY_CRITICAL), 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* The close commands doctor prints select only what close --min-idle would act on. */
static void test_close_wait_closable(void **state)
{
	struct ts_diagnose_thresholds th;
	struct ts_snapshot *snap;
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	/* Idle 5 s, 3 s (10 bytes unread), 4 s: none for the default 60 s. */
	snap = close_wait_snap();
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_non_null(f);
	assert_int_equal(f->close_min_idle_s, TS_MIN_IDLE_DEFAULT_S);
	assert_int_equal(f->closable, 0);
	assert_true(f->has_busy);
	assert_int_equal(f->busy_idle_ms, 3000);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);

	ts_diagnose_thresholds_default(&th);
	th.close_min_idle_s = 4;
	snap = close_wait_snap();
	d = run(snap, &th, true);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_int_equal(f->close_min_idle_s, 4);
	assert_int_equal(f->closable, 2);         /* not the one with unread data */
	assert_int_equal(f->busy_idle_ms, 3000);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);

	/* 0 would call sockets in use abandoned: the default instead. */
	th.close_min_idle_s = 0;
	snap = close_wait_snap();
	d = run(snap, &th, true);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_int_equal(f->close_min_idle_s, TS_MIN_IDLE_DEFAULT_S);
	assert_int_equal(f->closable, 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_close_wait_thresholds(void **state)
{
	struct ts_diagnose_thresholds th;
	struct ts_snapshot *snap;
	struct ts_diagnosis *d;

	(void)state;
	ts_diagnose_thresholds_default(&th);
	th.close_wait_min = 4;
	snap = close_wait_snap();
	d = run(snap, &th, true);
	assert_int_equal(d->n_findings, 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);

	ts_diagnose_thresholds_default(&th);
	th.close_wait_critical = 3;
	snap = close_wait_snap();
	d = run(snap, &th, true);
	assert_int_equal(d->findings[0].severity, TS_SEVERITY_CRITICAL);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);

	/* 6 open fds of 1024 stay below even a 1% threshold (600 < 1024): still a warning. */
	ts_diagnose_thresholds_default(&th);
	th.fd_critical_pct = 1;
	snap = close_wait_snap();
	d = run(snap, &th, true);
	assert_int_equal(d->findings[0].severity, TS_SEVERITY_WARNING);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_close_wait_near_limit_and_vanished(void **state)
{
	struct ts_snapshot *snap = close_wait_snap();
	struct ts_procinfo pi = { .pid = 4242, .nofile_soft = 1000, .nofile_hard = 4096, .fd_count = 900 };
	struct ts_diagnose_procs procs = { &pi, 1 };
	struct ts_diagnosis *d;
	size_t k;

	(void)state;
	/* A second holder that has no /proc entry (vanished): facts missing, no crash. */
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = 9090, .raddr = "10.0.0.3",
					       .rport = 1, .inode = 200 });
	add_owner(snap, k, 999999, "gone", 4);
	finalize(snap);
	assert_int_equal(ts_diagnose(&(struct ts_diagnose_input){ .snap = snap, .procs = &procs }, &d), 0);
	assert_int_equal(d->n_findings, 2);
	assert_int_equal(d->findings[0].severity, TS_SEVERITY_CRITICAL); /* 900/1000 >= 80% */
	assert_int_equal(d->findings[0].pid, 4242);
	assert_int_equal(d->findings[1].pid, 999999);
	assert_false(d->findings[1].has_proc);
	/* Settings not given: every one unavailable, not zero. */
	assert_int_equal(d->findings[0].sysctls.err[TS_DS_FIN_TIMEOUT], -ENODATA);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_unowned_close_wait(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;

	(void)state;
	snap->stats.owners_scanned = false; /* --no-owners */
	add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = 8080, .raddr = "10.0.0.2",
					   .rport = 1, .recv_q = 1, .inode = 100 });
	d = run(snap, NULL, true);
	assert_false(d->owners_known);
	assert_int_equal(d->n_findings, 1);
	assert_int_equal(d->findings[0].pid, 0);
	assert_int_equal(d->findings[0].count, 1);
	assert_int_equal(d->findings[0].n_fds, 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* n CLOSE_WAIT sockets of pid 10 from inode first, whose peers have been silent for silent_ms. */
static struct ts_snapshot *leak_snap_at(unsigned first, unsigned n, uint32_t silent_ms)
{
	struct ts_snapshot *snap = snap_new();

	for (unsigned i = 0; i < n; i++) {
		size_t k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = 7000,
							      .raddr = "10.0.0.2", .rport = (uint16_t)(1000 + first + i),
							      .inode = 500 + first + i, .silent_ms = silent_ms });

		add_owner(snap, k, 10, "leaky", 10 + (int)(first + i));
	}
	finalize(snap);
	return snap;
}

static struct ts_snapshot *leak_snap(unsigned n)
{
	return leak_snap_at(0, n, 5000);
}

static void test_leak(void **state)
{
	struct ts_snapshot *a = leak_snap(2), *b = leak_snap(6);
	struct ts_procinfo p0 = { .pid = 10, .nofile_soft = 1024, .nofile_hard = 4096, .fd_count = 100 };
	struct ts_procinfo p1 = p0;
	struct ts_diagnose_procs procs0 = { &p0, 1 }, procs1 = { &p1, 1 };
	struct ts_diagnose_input in = { .snap = a, .procs = &procs0, .later = b, .procs_later = &procs1,
				    .interval_s = 2 };
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	p1.fd_count = 140;
	assert_int_equal(ts_diagnose(&in, &d), 0);
	assert_true(d->has_interval);
	f = find_kind(d, TS_FINDING_LEAK, 0);
	assert_non_null(f);
	assert_int_equal(f->pid, 10);
	assert_int_equal(f->count_before, 2);
	assert_int_equal(f->count, 6);
	assert_true(f->has_rate);
	assert_true(f->rate_per_s > 1.99 && f->rate_per_s < 2.01);
	assert_true(f->fd_rate_per_s > 19.99 && f->fd_rate_per_s < 20.01);
	assert_true(f->has_eta);
	assert_true(f->seconds_to_limit > 44.1 && f->seconds_to_limit < 44.3); /* (1024-140)/20 */
	assert_int_equal(f->severity, TS_SEVERITY_CRITICAL);
	assert_int_equal(f->limit, 1024);
	/* Worst first: the critical leak before the CLOSE_WAIT warning. */
	assert_int_equal(d->findings[0].kind, TS_FINDING_LEAK);
	ts_diagnosis_free(d);

	/* Unlimited: a rate, no time to exhaustion; warning. */
	p1.nofile_soft = TS_PROCINFO_UNLIMITED;
	assert_int_equal(ts_diagnose(&in, &d), 0);
	f = find_kind(d, TS_FINDING_LEAK, 0);
	assert_false(f->has_eta);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	ts_diagnosis_free(d);

	/* Limits unreadable: says so. */
	p1.nofile_err = -EACCES;
	assert_int_equal(ts_diagnose(&in, &d), 0);
	f = find_kind(d, TS_FINDING_LEAK, 0);
	assert_false(f->has_eta);
	assert_int_equal(f->limit_err, -EACCES);
	ts_diagnosis_free(d);

	/* Shrinking or steady: quiet. */
	in.snap = b;
	in.later = a;
	assert_int_equal(ts_diagnose(&in, &d), 0);
	assert_int_equal(count_kind(d, TS_FINDING_LEAK), 0);
	ts_diagnosis_free(d);

	/* A second look needs an interval. */
	in.interval_s = 0;
	d = NULL;
	assert_int_equal(ts_diagnose(&in, &d), -EINVAL);
	assert_null(d);
	assert_int_equal(ts_diagnose(&(struct ts_diagnose_input){ 0 }, &d), -EINVAL);
	ts_snapshot_free(a);
	ts_snapshot_free(b);
}

/* Healthy churn: CLOSE_WAIT sockets a few ms old are a server closing, not a leak, and
 * growth needs the same sockets still held at the second look. */
static void test_leak_churn(void **state)
{
	struct ts_procinfo p0 = { .pid = 10, .nofile_soft = 1024, .nofile_hard = 4096, .fd_count = 100 };
	struct ts_diagnose_procs procs = { &p0, 1 };
	struct ts_snapshot *a, *b;
	struct ts_diagnosis *d;
	struct ts_diagnose_input in = { .procs = &procs, .procs_later = &procs, .interval_s = 1 };

	(void)state;
	/* 0 -> 2 sockets, 4 ms old: nothing (the "0 -> 2: +2.0/s"). */
	a = leak_snap_at(0, 0, 0);
	b = leak_snap_at(0, 2, 4);
	in.snap = a;
	in.later = b;
	assert_int_equal(ts_diagnose(&in, &d), 0);
	assert_int_equal(d->n_findings, 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(a);
	ts_snapshot_free(b);

	/* 1 -> 3 old sockets, but the first look's one was closed: the program closes them. */
	a = leak_snap_at(0, 1, 5000);
	b = leak_snap_at(1, 3, 5000);
	in.snap = a;
	in.later = b;
	assert_int_equal(ts_diagnose(&in, &d), 0);
	assert_int_equal(count_kind(d, TS_FINDING_LEAK), 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(b);

	/* 1 -> 3 with the first one still held: growth. */
	b = leak_snap_at(0, 3, 5000);
	in.later = b;
	assert_int_equal(ts_diagnose(&in, &d), 0);
	assert_int_equal(count_kind(d, TS_FINDING_LEAK), 1);
	assert_int_equal(find_kind(d, TS_FINDING_LEAK, 0)->kept, 1);
	assert_int_equal(find_kind(d, TS_FINDING_LEAK, 0)->count, 3);
	ts_diagnosis_free(d);
	ts_snapshot_free(a);
	ts_snapshot_free(b);
}

/* Without tcp_info a CLOSE_WAIT socket is old enough when the other look has it in
 * CLOSE_WAIT too, both ways: the later look's count needs the first look's sockets. */
static void test_leak_without_tcp_info(void **state)
{
	struct ts_procinfo p0 = { .pid = 10, .nofile_soft = 1024, .nofile_hard = 4096, .fd_count = 100 };
	struct ts_diagnose_procs procs = { &p0, 1 };
	struct ts_diagnose_input in = { .procs = &procs, .procs_later = &procs, .interval_s = 1 };
	struct ts_snapshot *look[2];
	const struct ts_finding *f;
	struct ts_diagnosis *d;

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		look[k] = snap_new();
		/* 500, 501 without tcp_info in both; 600 (and 601, 602 later) old, with it */
		for (unsigned i = 0; i < 2 + 1 + 2 * k; i++) {
			uint64_t inode = i < 2 ? 500 + i : 600 + (i - 2);
			size_t at = add_sock(look[k], &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = 7000,
									  .raddr = "10.0.0.2",
									  .rport = (uint16_t)(1000 + i),
									  .inode = inode,
									  .silent_ms = i < 2 ? 0 : 5000 });

			add_owner(look[k], at, 10, "leaky", 10 + (int)i);
		}
		finalize(look[k]);
	}
	in.snap = look[0];
	in.later = look[1];
	assert_int_equal(ts_diagnose(&in, &d), 0);
	f = find_kind(d, TS_FINDING_LEAK, 0);
	assert_non_null(f);
	assert_int_equal(f->count_before, 3);
	assert_int_equal(f->kept, 3);
	assert_int_equal(f->count, 5); /* 500 and 501 found in CLOSE_WAIT in the first look */
	ts_diagnosis_free(d);
	ts_snapshot_free(look[0]);
	ts_snapshot_free(look[1]);
}

/* Forked children holding the very sockets their parent leaks: one leak finding, parent first. */
static void test_leak_shared(void **state)
{
	struct ts_snapshot *snap[2];
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	for (unsigned look = 0; look < 2; look++) {
		snap[look] = snap_new();
		for (unsigned i = 0; i < 2 + 3 * look; i++) {
			size_t k = add_sock(snap[look], &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = 7000,
									    .raddr = "10.0.0.2", .rport = (uint16_t)(1000 + i),
									    .inode = 500 + i, .silent_ms = 5000 });

			add_owner(snap[look], k, 4242, "python3", 10 + (int)i);
			add_owner(snap[look], k, 4444, "nginx", 10 + (int)i);
		}
		finalize(snap[look]);
	}
	{
		struct ts_diagnose_procs procs;
		struct ts_diagnose_input in = { .snap = snap[0], .later = snap[1], .interval_s = 1 };

		assert_int_equal(ts_diagnose_procs_collect(snap[0], PROC, &procs), 0);
		in.procs = in.procs_later = &procs;
		assert_int_equal(ts_diagnose(&in, &d), 0);
		ts_diagnose_procs_clear(&procs);
	}
	assert_int_equal(count_kind(d, TS_FINDING_LEAK), 1);
	assert_int_equal(count_kind(d, TS_FINDING_CLOSE_WAIT), 1);
	f = find_kind(d, TS_FINDING_LEAK, 0);
	assert_int_equal(f->n_pids, 2);
	assert_int_equal(f->pids[0], 4444); /* the parent */
	assert_int_equal(f->pid, 4444);
	assert_int_equal(f->count_before, 2);
	assert_int_equal(f->count, 5);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap[0]);
	ts_snapshot_free(snap[1]);
}

/* A CLOSE_WAIT finding rests on sockets at least --min-age old; younger ones are counted aside. */
static void test_close_wait_min_age(void **state)
{
	struct ts_diagnose_thresholds th;
	struct ts_snapshot *snap;
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	snap = leak_snap_at(0, 2, 4); /* 4 ms: in the middle of closing */
	assert_int_equal(ts_diagnose(&(struct ts_diagnose_input){ .snap = snap }, &d), 0);
	assert_int_equal(d->n_findings, 0);
	ts_diagnosis_free(d);
	ts_diagnose_thresholds_default(&th);
	th.min_age_s = 0;
	assert_int_equal(ts_diagnose(&(struct ts_diagnose_input){ .snap = snap, .thresholds = &th }, &d), 0);
	assert_int_equal(count_kind(d, TS_FINDING_CLOSE_WAIT), 1);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);

	/* Old and young of one holder: one finding counting the old, the young aside. */
	snap = close_wait_snap();
	for (unsigned i = 0; i < 2; i++) {
		size_t k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = 8080,
							      .raddr = "10.0.0.2", .rport = (uint16_t)(60000 + i),
							      .inode = 900 + i, .silent_ms = 3 });

		add_owner(snap, k, 4242, "python3", 20 + (int)i);
	}
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_non_null(f);
	assert_int_equal(f->count, 3);
	assert_int_equal(f->young, 2);
	assert_int_equal(f->n_fds, 3);
	assert_int_equal(f->min_age_s, TS_DIAG_MIN_AGE_DEFAULT_S);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* A client's CLOSE_WAIT (no listener on its local port) is grouped by the service it
 * talks to, not one line per ephemeral port; a server's by its local port. */
static void test_close_wait_client_groups(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		size_t k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = (uint16_t)(40000 + i),
							      .raddr = "10.0.0.7", .rport = 5432,
							      .inode = 100 + i, .silent_ms = 9000 });

		add_owner(snap, k, 4242, "python3", 10 + (int)i);
	}
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_non_null(f);
	assert_int_equal(f->n_groups, 1);
	assert_true(f->groups[0].client);
	assert_int_equal(f->groups[0].local_port, 0);
	assert_int_equal(f->groups[0].remote_port, 5432);
	assert_int_equal(f->groups[0].count, 5);
	assert_int_equal(f->local_port, 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Sockets inherited by forked children: one finding, every holder named, the parent
 * (oldest start time) first even when its pid is the higher one (pid wrap). */
static void test_shared_holders(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		size_t k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = (uint16_t)(40000 + i),
							      .raddr = "10.0.0.7", .rport = 80,
							      .inode = 100 + i, .silent_ms = 9000 });

		add_owner(snap, k, 4242, "python3", 10 + (int)i);
		add_owner(snap, k, 4444, "nginx", 20 + (int)i);
	}
	d = run(snap, NULL, true);
	assert_int_equal(count_kind(d, TS_FINDING_CLOSE_WAIT), 1);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_int_equal(f->count, 3);
	assert_int_equal(f->n_pids, 2);
	assert_int_equal(f->pids[0], 4444); /* 4242's parent, started at tick 500 (4242: 9000) */
	assert_int_equal(f->pids[1], 4242);
	assert_int_equal(f->pid, 4444);
	assert_int_equal(f->fds[0], 20);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Held fds count toward critical in any state: a leak after `close --how fin` is CLOSED, still held. */
static void test_dead_held_severity(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	for (unsigned i = 0; i < 150; i++) {
		size_t k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSED, .lport = 8080, .inode = 100 + i });

		add_owner(snap, k, 4242, "python3", 10 + (int)i);
	}
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_DEAD_HELD, 0);
	assert_non_null(f);
	assert_int_equal(f->severity, TS_SEVERITY_CRITICAL);
	assert_int_equal(f->severity_reason, TS_SEV_REASON_HELD);
	assert_int_equal(f->held_stale, 150);
	assert_int_equal(f->severity_pid, 4242);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* More groups than the bound: the count stays complete and the cap is said. */
static void test_groups_capped(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	uint64_t sum = 0;

	(void)state;
	for (unsigned i = 0; i < 300; i++) {
		char addr[32];
		size_t k;

		snprintf(addr, sizeof(addr), "10.1.%u.%u", i / 200, i % 200 + 1);
		k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = (uint16_t)(40000 + i),
						       .raddr = addr, .rport = 80, .inode = 100 + i,
						       .silent_ms = 9000 });
		add_owner(snap, k, 4242, "python3", 10 + (int)i);
	}
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_CLOSE_WAIT, 0);
	assert_int_equal(f->count, 300);
	assert_int_equal(f->n_groups, 256);
	assert_true(f->groups_capped);
	for (size_t i = 0; i < f->n_groups; i++)
		sum += f->groups[i].count;
	assert_int_equal(sum + f->ungrouped, 300);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Orphaned FIN_WAIT_2 whose peer is a local CLOSE_WAIT (a dual-stack server: ::ffff:a.b.c.d)
 * are the other half of that leak. */
static void test_orphans_linked(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		struct ts_socket *s;

		add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .laddr = "127.0.0.1",
						   .lport = (uint16_t)(50000 + i), .raddr = "127.0.0.1",
						   .rport = 8080 });
		k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .lport = 8080,
						       .raddr = "127.0.0.1", .rport = (uint16_t)(50000 + i),
						       .inode = 100 + i, .silent_ms = 9000 });
		s = &snap->sockets[k];
		s->family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &s->local_addr), 1);
		assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &s->remote_addr), 1);
		add_owner(snap, k, 4242, "python3", 10 + (int)i);
	}
	/* One orphan to elsewhere: not linked. */
	add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .laddr = "127.0.0.1", .lport = 50009,
					   .raddr = "10.9.9.9", .rport = 80 });
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_FIN_WAIT_2_ORPHAN, 0);
	assert_non_null(f);
	assert_int_equal(f->count, 3);
	assert_int_equal(f->peer_linked, 2);
	assert_int_equal(f->peer_pid, 4242);
	assert_string_equal(f->peer_comm, "python3");
	assert_non_null(strstr(f->advice, "CLOSE_WAIT"));
	assert_int_equal(f->severity, TS_SEVERITY_INFO);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Linux drops a handshake only above the backlog: 5 of 5 is not full. */
static void test_accept_queue_at_backlog(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	size_t k;

	(void)state;
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8080, .recv_q = 5, .send_q = 5, .inode = 800 });
	add_owner(snap, k, 4242, "python3", 3);
	d = run(snap, NULL, true);
	assert_int_equal(count_kind(d, TS_FINDING_ACCEPT_QUEUE), 1);
	assert_int_equal(d->findings[0].severity, TS_SEVERITY_WARNING);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Closing sockets waiting an RTT for the ACK under churn are no silent peer: only
 * retransmitted FINs are evidence. */
static void test_unacked_churn(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;

	(void)state;
	for (unsigned i = 0; i < 12; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_1, .lport = 6379, .raddr = "10.0.0.9",
						   .rport = (uint16_t)(2000 + i), .inode = 600 + i });
	d = run(snap, NULL, true);
	assert_int_equal(count_kind(d, TS_FINDING_UNACKED_CLOSE), 0);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_dead_held(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSED, .lport = 5555, .inode = 300 });
	add_owner(snap, k, 4242, "python3", 9);
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_IDLE, .inode = 301 });
	add_owner(snap, k, 4242, "python3", 10);
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_IDLE, .inode = 302 });
	add_owner(snap, k, 4444, "nginx", 4);
	d = run(snap, NULL, true);
	assert_int_equal(count_kind(d, TS_FINDING_DEAD_HELD), 2);
	f = find_kind(d, TS_FINDING_DEAD_HELD, 0); /* worst first */
	assert_int_equal(f->pid, 4242);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	assert_int_equal(f->state_counts[TS_STATE_CLOSED], 1);
	assert_int_equal(f->state_counts[TS_STATE_IDLE], 1);
	assert_int_equal(f->n_fds, 2);
	f = find_kind(d, TS_FINDING_DEAD_HELD, 1);
	assert_int_equal(f->pid, 4444);
	assert_int_equal(f->severity, TS_SEVERITY_INFO); /* IDLE only */
	assert_string_equal(f->proc.container, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Peers of many FIN_WAIT_2 findings are found in one pass: each finding
 * gets its own peer, a socket with the ports but not the addresses of the
 * other end is no peer, and findings beyond the array's first growth keep
 * theirs. */
static void test_fin_wait_2_many_peers(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	size_t k, seen = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		uint16_t port = (uint16_t)(9000 + i);

		k = add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .laddr = "10.0.0.2",
						       .lport = 50000, .raddr = "10.0.0.1", .rport = port,
						       .inode = 1000u + (uint32_t)i });
		add_owner(snap, k, 4444, "client", 6 + i);
		/* Same ports, wrong address: not the peer. */
		k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .laddr = "10.0.0.9",
						       .lport = port, .raddr = "10.0.0.2", .rport = 50000,
						       .inode = 2000u + (uint32_t)i });
		add_owner(snap, k, 6000 + i, "decoy", 3);
		if (i % 2)
			continue;
		k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .laddr = "10.0.0.1",
						       .lport = port, .raddr = "10.0.0.2", .rport = 50000,
						       .inode = 3000u + (uint32_t)i });
		add_owner(snap, k, 5000 + i, "server", 3);
	}
	d = run(snap, NULL, true);
	for (size_t j = 0; j < d->n_findings; j++) {
		const struct ts_finding *f = &d->findings[j];
		int i;

		if (f->kind != TS_FINDING_FIN_WAIT_2_PEER)
			continue;
		seen++;
		i = f->remote_port - 9000;
		assert_true(i >= 0 && i < 40);
		if (i % 2) {
			assert_int_equal(f->peer_pid, 0);
		} else {
			assert_int_equal(f->peer_pid, 5000 + i);
			assert_string_equal(f->peer_comm, "server");
		}
	}
	assert_int_equal(seen, 40);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_fin_wait_2(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	/* Our client half-closed to 10.0.0.1:8080; the server there (same namespace) holds CLOSE_WAIT. */
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .laddr = "10.0.0.2", .lport = 50001,
					       .raddr = "10.0.0.1", .rport = 8080, .inode = 400, .silent_ms = 7000 });
	add_owner(snap, k, 4444, "nginx", 6);
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSE_WAIT, .laddr = "10.0.0.1", .lport = 8080,
					       .raddr = "10.0.0.2", .rport = 50001, .recv_q = 1, .inode = 401 });
	add_owner(snap, k, 4242, "python3", 3);
	/* Two orphans (inode 0). */
	add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .lport = 50002, .raddr = "10.0.0.7", .rport = 80 });
	add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .lport = 50003, .raddr = "10.0.0.7", .rport = 80 });
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_FIN_WAIT_2_PEER, 0);
	assert_non_null(f);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	assert_true(f->has_remote);
	assert_int_equal(f->remote_port, 8080);
	assert_int_equal(f->peer_pid, 4242);
	assert_string_equal(f->peer_comm, "python3");
	assert_int_equal(f->pid, 4444); /* who holds our end */
	assert_true(f->has_age);
	assert_int_equal(f->age_min_ms, 7000);
	assert_true(f->sysctl_mask & (1u << TS_DS_FIN_TIMEOUT));
	f = find_kind(d, TS_FINDING_FIN_WAIT_2_ORPHAN, 0);
	assert_non_null(f);
	assert_int_equal(f->count, 2);
	assert_int_equal(f->severity, TS_SEVERITY_INFO);
	assert_int_equal(f->limit, 60);
	assert_int_equal(f->limit_err, 0);
	assert_int_equal(f->pid, 0);
	ts_diagnosis_free(d);

	/* Without settings: the orphan rule says tcp_fin_timeout is unavailable. */
	d = run(snap, NULL, false);
	f = find_kind(d, TS_FINDING_FIN_WAIT_2_ORPHAN, 0);
	assert_int_equal(f->limit_err, -ENODATA);
	assert_int_equal(f->sysctls.err[TS_DS_FIN_TIMEOUT], -ENODATA);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_unacked_close(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	for (unsigned i = 0; i < 8; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_LAST_ACK, .lport = 80, .raddr = "10.0.0.9",
						   .rport = (uint16_t)(2000 + i), .inode = 600 + i, .retrans = 2 });
	for (unsigned i = 0; i < 3; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_1, .lport = 80, .raddr = "10.0.0.9",
						   .rport = (uint16_t)(3000 + i), .retrans = 5 });
	/* Another address, one socket retransmitting: info. */
	add_sock(snap, &(struct sock_spec){ TS_STATE_CLOSING, .lport = 81, .raddr = "10.0.0.10",
					   .rport = 1, .inode = 700, .retrans = 1 });
	d = run(snap, NULL, true);
	assert_int_equal(count_kind(d, TS_FINDING_UNACKED_CLOSE), 2);
	f = find_kind(d, TS_FINDING_UNACKED_CLOSE, 0);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	assert_int_equal(f->count, 11);
	assert_int_equal(f->state_counts[TS_STATE_LAST_ACK], 8);
	assert_int_equal(f->state_counts[TS_STATE_FIN_WAIT_1], 3);
	assert_int_equal(f->state, TS_STATE_LAST_ACK);
	assert_int_equal(f->max_retransmits, 5);
	assert_true(f->sysctl_mask & (1u << TS_DS_RETRIES2));
	assert_int_equal(f->sysctls.value[TS_DS_RETRIES2], 15);
	f = find_kind(d, TS_FINDING_UNACKED_CLOSE, 1);
	assert_int_equal(f->severity, TS_SEVERITY_INFO);
	assert_int_equal(f->state, TS_STATE_CLOSING);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_time_wait(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	/* 95 outgoing (local ports in 60000-60099) to 10.0.0.3:80, 3 incoming. */
	for (unsigned i = 0; i < 95; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_TIME_WAIT, .lport = (uint16_t)(60000 + i),
						   .raddr = "10.0.0.3", .rport = 80 });
	for (unsigned i = 0; i < 3; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_TIME_WAIT, .lport = 443, .raddr = "10.0.0.4",
						   .rport = (uint16_t)(40000 + i) });
	d = run(snap, NULL, true);
	f = find_kind(d, TS_FINDING_TIME_WAIT_BUCKETS, 0);
	assert_non_null(f);
	assert_int_equal(f->count, 98);
	assert_int_equal(f->limit, 100);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING); /* 98% of tcp_max_tw_buckets */
	f = find_kind(d, TS_FINDING_TIME_WAIT_PORTS, 0);
	assert_non_null(f);
	assert_int_equal(count_kind(d, TS_FINDING_TIME_WAIT_PORTS), 1);
	assert_int_equal(f->count, 95);
	assert_int_equal(f->limit, 100);
	assert_int_equal(f->remote_port, 80);
	assert_int_equal(f->severity, TS_SEVERITY_CRITICAL); /* >= 90% of the port range */
	assert_true(f->sysctl_mask & (1u << TS_DS_TW_REUSE));
	assert_int_equal(f->sysctls.value[TS_DS_TW_REUSE], 2);
	ts_diagnosis_free(d);

	/* Settings unavailable: the count is reported with a note, never compared with a guess. */
	d = run(snap, NULL, false);
	f = find_kind(d, TS_FINDING_TIME_WAIT_BUCKETS, 0);
	assert_non_null(f);
	assert_int_equal(f->severity, TS_SEVERITY_INFO);
	assert_int_equal(f->limit_err, -ENODATA);
	assert_int_equal(count_kind(d, TS_FINDING_TIME_WAIT_PORTS), 0); /* < 1000: quiet */
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_accept_queue(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8080, .recv_q = 2, .send_q = 1, .inode = 800 });
	add_owner(snap, k, 4242, "python3", 3);
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8081, .recv_q = 9, .send_q = 10, .inode = 801 });
	add_owner(snap, k, 4242, "python3", 4);
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8082, .recv_q = 1, .send_q = 10, .inode = 802 });
	add_owner(snap, k, 4242, "python3", 5);
	d = run(snap, NULL, true);
	assert_int_equal(count_kind(d, TS_FINDING_ACCEPT_QUEUE), 2);
	f = &d->findings[0];
	assert_int_equal(f->kind, TS_FINDING_ACCEPT_QUEUE);
	assert_int_equal(f->severity, TS_SEVERITY_CRITICAL);
	assert_int_equal(f->local_port, 8080);
	assert_int_equal(f->count, 2);
	assert_int_equal(f->limit, 1);
	assert_int_equal(f->pid, 4242);
	assert_int_equal(f->n_fds, 1);
	assert_int_equal(f->fds[0], 3);
	f = &d->findings[1];
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	assert_int_equal(f->local_port, 8081);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

static void test_syn_backlog(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 80, .send_q = 4, .inode = 900 });
	add_owner(snap, k, 4242, "python3", 3);
	for (unsigned i = 0; i < 5; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_RECEIVED, .lport = 80, .raddr = "10.0.0.8",
						   .rport = (uint16_t)(1000 + i), .retrans = 1 });
	/* Another listener with one half-open connection, not retransmitting: quiet. */
	add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 81, .send_q = 4, .inode = 901 });
	add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_RECEIVED, .lport = 81, .raddr = "10.0.0.8", .rport = 7 });
	d = run(snap, NULL, true);
	assert_int_equal(count_kind(d, TS_FINDING_SYN_BACKLOG), 1);
	f = find_kind(d, TS_FINDING_SYN_BACKLOG, 0);
	assert_int_equal(f->severity, TS_SEVERITY_CRITICAL); /* backlog reached and syncookies=0 */
	assert_int_equal(f->count, 5);
	assert_int_equal(f->limit, 4);
	assert_int_equal(f->local_port, 80);
	assert_int_equal(f->pid, 4242);
	assert_int_equal(f->sysctls.value[TS_DS_SYNCOOKIES], 0);
	assert_int_equal(f->sysctls.err[TS_DS_SYNACK_RETRIES], -EBADMSG);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Runs the rules with these settings, counters and listener facts. */
static struct ts_diagnosis *run_facts(struct ts_snapshot *snap, const struct ts_diagnose_sysctls *sy,
				      const struct ts_netstat *ns, const struct ts_listener_facts *lf)
{
	struct ts_diagnose_procs procs;
	struct ts_diagnosis *d = NULL;
	struct ts_diagnose_input in = {
		.snap = snap, .procs = &procs, .sysctls = sy, .n_sysctls = 1,
		.netstat = ns, .n_netstat = ns ? 1 : 0, .listeners = lf,
	};

	finalize(snap);
	assert_int_equal(ts_diagnose_procs_collect(snap, PROC, &procs), 0);
	assert_int_equal(ts_diagnose(&in, &d), 0);
	ts_diagnose_procs_clear(&procs);
	return d;
}

/* Linux queues backlog + 1 connections: Recv-Q equal to Send-Q is not full yet. */
static void test_accept_queue_holds_backlog_plus_one(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnose_sysctls sy = fake_sysctls();
	struct ts_netstat ns = { .have = 1u << TS_NSTAT_LISTEN_OVERFLOWS };
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	ns.value[TS_NSTAT_LISTEN_OVERFLOWS] = 42;
	add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8080, .recv_q = 10, .send_q = 10, .inode = 800 });
	add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8081, .recv_q = 11, .send_q = 10, .inode = 801 });
	add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8082, .recv_q = 1, .send_q = 0, .inode = 802 });
	d = run_facts(snap, &sy, &ns, NULL);
	assert_int_equal(count_kind(d, TS_FINDING_ACCEPT_QUEUE), 3);
	for (size_t i = 0; i < 3; i++) {
		f = find_kind(d, TS_FINDING_ACCEPT_QUEUE, i);
		assert_int_equal(f->severity, f->local_port == 8080 ? TS_SEVERITY_WARNING : TS_SEVERITY_CRITICAL);
		/* ListenOverflows is cited; ListenDrops, not reported here, is not. */
		assert_int_equal(f->netstat_mask, 1u << TS_NSTAT_LISTEN_OVERFLOWS);
		assert_int_equal(f->netstat.value[TS_NSTAT_LISTEN_OVERFLOWS], 42);
	}
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* The SYN queue is full when it holds more requests than the backlog. */
static void test_syn_queue_full_is_more_than_backlog(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnose_sysctls sy = fake_sysctls();
	struct ts_diagnosis *d;
	const struct ts_finding *f;

	(void)state;
	sy.value[TS_DS_SYNCOOKIES] = 1;
	add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 80, .send_q = 4, .inode = 900 });
	for (unsigned i = 0; i < 4; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_RECEIVED, .lport = 80, .raddr = "10.0.0.8",
						   .rport = (uint16_t)(1000 + i), .retrans = 1 });
	d = run_facts(snap, &sy, NULL, NULL);
	f = find_kind(d, TS_FINDING_SYN_BACKLOG, 0);
	assert_non_null(f);
	assert_int_equal(f->severity, TS_SEVERITY_INFO); /* retransmitting, not full */
	ts_diagnosis_free(d);
	add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_RECEIVED, .lport = 80, .raddr = "10.0.0.8",
					   .rport = 1004, .retrans = 1 });
	d = run_facts(snap, &sy, NULL, NULL);
	f = find_kind(d, TS_FINDING_SYN_BACKLOG, 0);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* A listener with TCP_DEFER_ACCEPT: idle clients wait in SYN_RECEIVED and nothing was lost. */
static void test_defer_accept(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnose_sysctls sy = fake_sysctls();
	struct ts_netstat ns = { .have = (1u << TS_NSTAT_DEFER_ACCEPT_DROP) | (1u << TS_NSTAT_LISTEN_DROPS) };
	struct ts_listener_fact fact = { .defer_accept_s = 1 };
	struct ts_listener_facts lf = { &fact, 1 };
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	sy.value[TS_DS_SYNCOOKIES] = 1;
	ns.value[TS_NSTAT_DEFER_ACCEPT_DROP] = 27;
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 8080, .send_q = 8, .inode = 900 });
	add_owner(snap, k, 4242, "nginx", 6);
	fact.socket = (uint32_t)k;
	for (unsigned i = 0; i < 9; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_RECEIVED, .lport = 8080, .raddr = "10.0.0.8",
						   .rport = (uint16_t)(1000 + i), .retrans = (uint8_t)(i == 0) });
	d = run_facts(snap, &sy, &ns, &lf);
	assert_int_equal(count_kind(d, TS_FINDING_SYN_BACKLOG), 0);
	f = find_kind(d, TS_FINDING_DEFER_ACCEPT, 0);
	assert_non_null(f);
	assert_int_equal(f->severity, TS_SEVERITY_INFO); /* full, but syncookies answer new clients */
	assert_int_equal(f->count, 9);
	assert_int_equal(f->limit, 8);
	assert_int_equal(f->defer_accept_s, 1);
	assert_int_equal(f->defer_accept_err, 0);
	assert_int_equal(f->pid, 4242);
	assert_true(f->netstat_mask & (1u << TS_NSTAT_DEFER_ACCEPT_DROP));
	assert_int_equal(f->netstat.value[TS_NSTAT_DEFER_ACCEPT_DROP], 27);
	assert_false(f->netstat_mask & (1u << TS_NSTAT_SYNCOOKIES_SENT)); /* not reported */
	assert_string_equal(ts_finding_kind_id(f->kind), "deferred-accept");
	ts_diagnosis_free(d);

	/* Without syncookies a full queue turns new clients away: critical. */
	sy.value[TS_DS_SYNCOOKIES] = 0;
	d = run_facts(snap, &sy, &ns, &lf);
	f = find_kind(d, TS_FINDING_DEFER_ACCEPT, 0);
	assert_int_equal(f->severity, TS_SEVERITY_CRITICAL);
	ts_diagnosis_free(d);

	/* Not known (no privilege): the half-open finding, saying why it cannot tell. */
	sy.value[TS_DS_SYNCOOKIES] = 1;
	fact.defer_accept_err = -EPERM;
	d = run_facts(snap, &sy, &ns, &lf);
	assert_int_equal(count_kind(d, TS_FINDING_DEFER_ACCEPT), 0);
	f = find_kind(d, TS_FINDING_SYN_BACKLOG, 0);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	assert_int_equal(f->defer_accept_err, -EPERM);
	ts_diagnosis_free(d);

	/* Set to 0: an ordinary listener. */
	fact.defer_accept_err = 0;
	fact.defer_accept_s = 0;
	d = run_facts(snap, &sy, &ns, &lf);
	assert_int_equal(count_kind(d, TS_FINDING_DEFER_ACCEPT), 0);
	assert_int_equal(find_kind(d, TS_FINDING_SYN_BACKLOG, 0)->severity, TS_SEVERITY_WARNING);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* Orphaned FIN_WAIT_2 kept as TIME_WAIT records count against tcp_max_tw_buckets too. */
static void test_time_wait_records_include_orphaned_fin_wait_2(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnose_sysctls sy = fake_sysctls();
	struct ts_netstat ns = { .have = 1u << TS_NSTAT_TIMEWAIT_OVERFLOW };
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	ns.value[TS_NSTAT_TIMEWAIT_OVERFLOW] = 5;
	for (unsigned i = 0; i < 90; i++)
		add_sock(snap, &(struct sock_spec){ TS_STATE_TIME_WAIT, .lport = 443, .raddr = "10.0.0.4",
						   .rport = (uint16_t)(40000 + i) });
	for (unsigned i = 0; i < 10; i++) {
		k = add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .lport = 443, .raddr = "10.0.0.5",
						       .rport = (uint16_t)(41000 + i) });
		snap->sockets[k].timer = TS_TIMER_TIME_WAIT;
	}
	/* An orphan that is still a full socket (keepalive timer) and a held one: not records. */
	k = add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .lport = 443, .raddr = "10.0.0.5",
					       .rport = 42000 });
	snap->sockets[k].timer = TS_TIMER_KEEPALIVE;
	add_sock(snap, &(struct sock_spec){ TS_STATE_FIN_WAIT_2, .lport = 443, .raddr = "10.0.0.5",
					   .rport = 42001, .inode = 4000 });
	d = run_facts(snap, &sy, &ns, NULL);
	f = find_kind(d, TS_FINDING_TIME_WAIT_BUCKETS, 0);
	assert_non_null(f);
	assert_int_equal(f->count, 100);
	assert_int_equal(f->state_counts[TS_STATE_FIN_WAIT_2], 10);
	assert_int_equal(f->state_counts[TS_STATE_TIME_WAIT], 90);
	assert_int_equal(f->severity, TS_SEVERITY_CRITICAL); /* 100 of 100 */
	assert_int_equal(f->netstat_mask, 1u << TS_NSTAT_TIMEWAIT_OVERFLOW);
	assert_int_equal(f->netstat.value[TS_NSTAT_TIMEWAIT_OVERFLOW], 5);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

/* A request's listener: its exact address first, then a wildcard of its family, then [::]. */
static void test_listener_of(void **state)
{
	struct ts_snapshot *snap = snap_new();
	size_t v6any, v4any, exact, sr, got = SIZE_MAX;

	(void)state;
	v6any = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .lport = 80, .inode = 1 });
	snap->sockets[v6any].family = AF_INET6;
	memset(&snap->sockets[v6any].local_addr, 0, sizeof(struct in6_addr));
	add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .laddr = "10.0.0.2", .lport = 80, .inode = 2 });
	add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .laddr = "10.0.0.1", .lport = 81, .inode = 3 });
	sr = add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_RECEIVED, .laddr = "10.0.0.1", .lport = 80,
						.raddr = "10.0.0.9", .rport = 5000 });
	finalize(snap);
	assert_non_null(ts_listener_of(snap, &snap->sockets[sr], &got));
	assert_int_equal(got, v6any); /* the only one that can hold it */
	v4any = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .laddr = "0.0.0.0", .lport = 80, .inode = 4 });
	assert_non_null(ts_listener_of(snap, &snap->sockets[sr], &got));
	assert_int_equal(got, v4any);
	exact = add_sock(snap, &(struct sock_spec){ TS_STATE_LISTEN, .laddr = "10.0.0.1", .lport = 80, .inode = 5 });
	assert_non_null(ts_listener_of(snap, &snap->sockets[sr], &got));
	assert_int_equal(got, exact);
	snap->sockets[sr].local_port = 82;
	assert_null(ts_listener_of(snap, &snap->sockets[sr], NULL));
	ts_snapshot_free(snap);
}

static void test_syn_sent(void **state)
{
	struct ts_snapshot *snap = snap_new();
	struct ts_diagnosis *d;
	const struct ts_finding *f;
	size_t k;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		k = add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_SENT, .lport = (uint16_t)(41000 + i),
						       .raddr = "10.0.0.5", .rport = 443, .inode = 1000 + i,
						       .retrans = 2 });
		add_owner(snap, k, 4242, "python3", 20 + (int)i);
	}
	add_sock(snap, &(struct sock_spec){ TS_STATE_SYN_SENT, .lport = 41005, .raddr = "10.0.0.5",
					   .rport = 443, .inode = 1005 });
	d = run(snap, NULL, true);
	assert_int_equal(d->n_findings, 1);
	f = &d->findings[0];
	assert_int_equal(f->kind, TS_FINDING_SYN_SENT);
	assert_int_equal(f->severity, TS_SEVERITY_WARNING);
	assert_int_equal(f->count, 2);
	assert_int_equal(f->state_counts[TS_STATE_SYN_SENT], 3);
	assert_int_equal(f->remote_port, 443);
	assert_int_equal(f->pid, 4242);
	assert_int_equal(f->n_fds, 2);
	assert_int_equal(f->sysctls.value[TS_DS_SYN_RETRIES], 6);
	ts_diagnosis_free(d);
	ts_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sysctls),
		cmocka_unit_test(test_severity_names),
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_close_wait),
		cmocka_unit_test(test_close_wait_closable),
		cmocka_unit_test(test_close_wait_thresholds),
		cmocka_unit_test(test_close_wait_near_limit_and_vanished),
		cmocka_unit_test(test_unowned_close_wait),
		cmocka_unit_test(test_leak),
		cmocka_unit_test(test_leak_churn),
		cmocka_unit_test(test_leak_without_tcp_info),
		cmocka_unit_test(test_leak_shared),
		cmocka_unit_test(test_close_wait_min_age),
		cmocka_unit_test(test_close_wait_client_groups),
		cmocka_unit_test(test_shared_holders),
		cmocka_unit_test(test_dead_held_severity),
		cmocka_unit_test(test_groups_capped),
		cmocka_unit_test(test_orphans_linked),
		cmocka_unit_test(test_accept_queue_at_backlog),
		cmocka_unit_test(test_unacked_churn),
		cmocka_unit_test(test_dead_held),
		cmocka_unit_test(test_fin_wait_2),
		cmocka_unit_test(test_fin_wait_2_many_peers),
		cmocka_unit_test(test_unacked_close),
		cmocka_unit_test(test_time_wait),
		cmocka_unit_test(test_accept_queue),
		cmocka_unit_test(test_syn_backlog),
		cmocka_unit_test(test_syn_sent),
		cmocka_unit_test(test_accept_queue_holds_backlog_plus_one),
		cmocka_unit_test(test_syn_queue_full_is_more_than_backlog),
		cmocka_unit_test(test_defer_accept),
		cmocka_unit_test(test_listener_of),
		cmocka_unit_test(test_time_wait_records_include_orphaned_fin_wait_2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
