/* SPDX-License-Identifier: MIT */
/*
 * The BPF socket source (backend BPF, iter/tcp) says what sock_diag says, on
 * real sockets in a namespace of this test's own (unshare): a listener with
 * a full accept queue, IPv4 and IPv6 connections with unread and unsent
 * data, a v6only listener, CLOSE_WAIT, FIN_WAIT_2, TIME_WAIT. Each BPF look
 * is taken between two netlink looks in this process, a millisecond apart:
 * a field the two netlink looks agree on is the BPF look's too, and a clock
 * (idle times, timers) lies between them. Needs root and
 * BPF; skips only where the machine truly cannot run it (see test_bpf_load).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tcpstate/collector.h"
#include "tcpstate/snapshot.h"

/* None: the clocks are jiffies, and three looks in a row read them in order
 * (a clock "since" never shrinks, one "until" never grows): the BPF look's
 * value lies between the netlink looks' exactly. */
#define CLOCK_SLACK_MS 0
#define MAX_FDS 64

static int fds[MAX_FDS];
static int n_fds;

static int keep(int fd)
{
	assert_true(fd >= 0);
	assert_true(n_fds < MAX_FDS);
	fds[n_fds++] = fd;
	return fd;
}

static void lo_up(void)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int listener(int family, const char *addr, int v6only, int backlog,
		    struct sockaddr_storage *ret, socklen_t *ret_len)
{
	int s = keep(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	int one = 1;

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		assert_int_equal(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)), 0);
		assert_int_equal(inet_pton(AF_INET6, addr, &a6.sin6_addr), 1);
		assert_int_equal(bind(s, (struct sockaddr *)&a6, sizeof(a6)), 0);
	} else {
		assert_int_equal(inet_pton(AF_INET, addr, &a4.sin_addr), 1);
		assert_int_equal(bind(s, (struct sockaddr *)&a4, sizeof(a4)), 0);
	}
	assert_int_equal(listen(s, backlog), 0);
	*ret_len = sizeof(*ret);
	assert_int_equal(getsockname(s, (struct sockaddr *)ret, ret_len), 0);
	return s;
}

/* A connection to the listener at to (client, and server unless not accepted). */
static void connection(int lfd, int family, const struct sockaddr_storage *to, socklen_t len,
		       int *ret_client, int *ret_server)
{
	int c = keep(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));

	assert_int_equal(connect(c, (const struct sockaddr *)to, len), 0);
	*ret_client = c;
	if (ret_server)
		*ret_server = keep(accept4(lfd, NULL, NULL, SOCK_CLOEXEC));
}

static void build_sockets(void)
{
	struct sockaddr_storage a, b, d, m;
	socklen_t la, lb, ld, lm;
	int l4, l6, ldual, lq, c, s, c2, s2, c3;
	char buf[3000];
	int on = 1;

	memset(buf, 'x', sizeof(buf));
	l4 = listener(AF_INET, "127.0.0.1", 0, 16, &a, &la);
	l6 = listener(AF_INET6, "::1", 1, 16, &b, &lb);
	ldual = listener(AF_INET6, "::", 0, 16, &d, &ld);
	/* A listener nobody accepts from: its accept queue fills (recv_q). */
	lq = listener(AF_INET, "127.0.0.2", 0, 4, &m, &lm);
	for (int i = 0; i < 3; i++)
		connection(lq, AF_INET, &m, lm, &c, NULL);

	/* Established with unread data on one side and keepalive on the other;
	 * the client is another user's (a socket's uid is its creator's fsuid). */
	setfsuid(4321);
	connection(l4, AF_INET, &a, la, &c, &s);
	setfsuid(0);
	assert_int_equal(send(c, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)), 0);
	/* IPv6, and v4-mapped on the dual-stack listener. */
	connection(l6, AF_INET6, &b, lb, &c2, &s2);
	assert_int_equal(send(s2, buf, 100, 0), 100);
	{
		struct sockaddr_in v4 = { .sin_family = AF_INET,
					  .sin_port = ((struct sockaddr_in6 *)&d)->sin6_port,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		connection(ldual, AF_INET, (struct sockaddr_storage *)&v4, sizeof(v4), &c3, &s);
	}
	/* CLOSE_WAIT (server) and FIN_WAIT_2 (client). */
	connection(l4, AF_INET, &a, la, &c, &s);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	/* TIME_WAIT: the client closes first, then the server. */
	connection(l4, AF_INET, &a, la, &c, &s);
	n_fds -= 2;
	close(c);
	usleep(20000);
	close(s);
	/* Quiet from here: delayed ACKs (at most 200 ms) have gone out. */
	usleep(300000);
}

static struct ts_snapshot *look(struct ts_collector *c)
{
	struct ts_snapshot_status st;
	struct ts_snapshot *snap = NULL;
	int r = ts_collector_take(c, &snap, &st);

	if (r < 0)
		fail_msg("a look failed: %s (%s)", strerror(-r), st.socket_bpf.detail);
	return snap;
}

static const struct ts_socket *find(const struct ts_snapshot *snap, const struct ts_socket *x)
{
	for (size_t i = 0; i < ts_snapshot_socket_count(snap); i++) {
		const struct ts_socket *y = ts_snapshot_socket(snap, i);

		if (y->cookie == x->cookie && y->state == x->state)
			return y;
	}
	return NULL;
}

static bool between(uint32_t lo, uint32_t mid, uint32_t hi)
{
	uint32_t a = lo < hi ? lo : hi, b = lo < hi ? hi : lo;

	return mid + CLOCK_SLACK_MS >= a && mid <= b + CLOCK_SLACK_MS;
}

#define SAME(f)                                                                             \
	do {                                                                                \
		if (a->f == c->f && b->f != a->f)                                           \
			fail_msg("%s %u->%u: " #f " %llu, netlink %llu", ts_state_name(a->state), \
				 a->local_port, a->remote_port, (unsigned long long)b->f,    \
				 (unsigned long long)a->f);                                 \
	} while (0)

#define CLOCK(f)                                                                            \
	do {                                                                                \
		if (!between(a->f, b->f, c->f))                                             \
			fail_msg("%s %u->%u: " #f " %u, netlink %u then %u",                 \
				 ts_state_name(a->state), a->local_port, a->remote_port,     \
				 b->f, a->f, c->f);                                          \
	} while (0)

static void compare(const struct ts_socket *a, const struct ts_socket *b, const struct ts_socket *c)
{
	SAME(family);
	SAME(local_port);
	SAME(remote_port);
	SAME(inode);
	SAME(uid);
	SAME(recv_q);
	SAME(send_q);
	SAME(ifindex);
	SAME(flags);
	SAME(timer);
	SAME(timer_retrans);
	SAME(info.rtt_us);
	SAME(info.rttvar_us);
	SAME(info.total_retrans);
	SAME(info.unacked);
	SAME(info.lost);
	SAME(info.snd_cwnd);
	SAME(info.data_segs_in);
	SAME(info.data_segs_out);
	SAME(info.retransmits);
	SAME(info.probes);
	SAME(info.backoff);
	SAME(info.ca_state);
	assert_memory_equal(&a->local_addr, &b->local_addr, sizeof(a->local_addr));
	assert_memory_equal(&a->remote_addr, &b->remote_addr, sizeof(a->remote_addr));
	CLOCK(timer_expires_ms);
	CLOCK(info.last_data_sent_ms);
	CLOCK(info.last_data_recv_ms);
	CLOCK(info.last_ack_recv_ms);
}

static void test_same_as_sock_diag(void **state)
{
	struct ts_snapshot_opts bpf_opts = {
		.backend = TS_BACKEND_BPF,
		.owners = TS_OWNERS_NONE,
		.want_info = true,
	};
	struct ts_snapshot_opts nl_opts = {
		.backend = TS_BACKEND_NETLINK,
		.owners = TS_OWNERS_NONE,
		.want_info = true,
	};
	struct ts_collector *bpf, *nl;
	struct ts_snapshot *a, *b, *c;
	struct ts_bpf_status st;
	unsigned seen = 0;
	size_t n;

	(void)state;
	if (ts_socket_source_bpf_probe(&st) < 0) {
		if (st.failure == TS_BPF_FAILURE_NOT_BUILT || st.failure == TS_BPF_FAILURE_KERNEL ||
		    (st.failure == TS_BPF_FAILURE_PRIVILEGE && geteuid() != 0)) {
			print_message("the BPF socket source cannot run here: %s\n", st.detail);
			skip();
		}
		fail_msg("the BPF socket program does not load (see test_bpf_load)");
	}
	if (unshare(CLONE_NEWNET) < 0)
		fail_msg("unshare(CLONE_NEWNET): %s", strerror(errno));
	lo_up();
	build_sockets();

	/* The program is loaded before the first look: the three looks follow
	 * each other within a few milliseconds. */
	assert_int_equal(ts_collector_new(&bpf_opts, &bpf, NULL), 0);
	assert_int_equal(ts_collector_new(&nl_opts, &nl, NULL), 0);
	a = look(nl);
	b = look(bpf);
	c = look(nl);
	assert_int_equal(ts_snapshot_stats(a)->backend, TS_BACKEND_NETLINK);
	ts_collector_free(bpf);
	ts_collector_free(nl);
	assert_int_equal(ts_snapshot_stats(b)->backend, TS_BACKEND_BPF);
	n = ts_snapshot_socket_count(a);
	assert_true(n >= 15);
	assert_int_equal(ts_snapshot_socket_count(b), n);
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *x = ts_snapshot_socket(a, i), *y = find(b, x), *z = find(c, x);

		if (!y)
			fail_msg("%s %u->%u not in the BPF look", ts_state_name(x->state), x->local_port,
				 x->remote_port);
		assert_non_null(z);
		compare(x, y, z);
		seen |= 1u << x->state;
	}
	{
		bool other_uid = false;

		for (size_t i = 0; i < n; i++)
			other_uid |= ts_snapshot_socket(b, i)->uid == 4321;
		if (!other_uid)
			fail_msg("the socket made with fsuid 4321 is not seen with uid 4321");
	}
	for (enum ts_state s = TS_STATE_LISTEN; s <= TS_STATE_TIME_WAIT; s++)
		if (s == TS_STATE_LISTEN || s == TS_STATE_ESTABLISHED || s == TS_STATE_CLOSE_WAIT ||
		    s == TS_STATE_FIN_WAIT_2 || s == TS_STATE_TIME_WAIT)
			if (!(seen & (1u << s)))
				fail_msg("no %s socket was compared", ts_state_name(s));
	ts_snapshot_free(a);
	ts_snapshot_free(b);
	ts_snapshot_free(c);
	while (n_fds > 0)
		close(fds[--n_fds]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_sock_diag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
