/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "snapshot/procnet.h"

/*
 * data/proc_net_tcp{,6}.txt were recorded (x86-64, little endian) in a fresh
 * namespace holding listeners, established connections with queued data,
 * CLOSE_WAIT/FIN_WAIT2 and TIME_WAIT pairs, a dual-stack listener with a
 * queued v4 connection, and SYN_SENT/SYN_RECV handshakes stalled by nft.
 */

#define V4_LISTEN "   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6864 1 00000000daa5a642 100 0 0 10 0"
#define V4_TW "   8: 0100007F:834A 0100007F:1388 06 00000000:00000000 03:0000174C 00000000     0        0 0 3 00000000a1ce1171"
#define V6_EST "   6: 00000000000000000000000001000000:A786 00000000000000000000000001000000:1770 01 00000000:00000032 02:000AFC60 00000000     0        0 7597 3 000000008006a7f4 20 4 30 10 -1"

static uint32_t ticks_ms(uint64_t ticks)
{
	return (uint32_t)(ticks * 1000 / (uint64_t)sysconf(_SC_CLK_TCK));
}

static void assert_addr(int family, const struct in6_addr *a, const char *want)
{
	char buf[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(family, a, buf, sizeof(buf)));
	assert_string_equal(buf, want);
}

static struct ts_snapshot *read_file(const char *name, int family, const struct ts_filter *f,
				     unsigned *ret_malformed)
{
	char path[4096];
	struct ts_snapshot *snap = snapshot_new();
	FILE *fp;

	assert_non_null(snap);
	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
	fp = fopen(path, "re");
	assert_non_null(fp);
	assert_int_equal(procnet_read(fp, family, f, 3, snap, ret_malformed), 0);
	fclose(fp);
	return snap;
}

/* The socket with this local and remote port. */
static const struct ts_socket *find(const struct ts_snapshot *snap, uint16_t lport, uint16_t rport)
{
	for (size_t i = 0; i < snap->n_sockets; i++)
		if (snap->sockets[i].local_port == lport && snap->sockets[i].remote_port == rport)
			return &snap->sockets[i];
	fail_msg("no socket %u -> %u", lport, rport);
	return NULL;
}

static void test_parse_listen(void **state)
{
	struct ts_socket s;

	(void)state;
	assert_int_equal(procnet_parse_line(V4_LISTEN, AF_INET, &s), 0);
	assert_int_equal(s.family, AF_INET);
	assert_int_equal(s.state, TS_STATE_LISTEN);
	assert_addr(AF_INET, &s.local_addr, "127.0.0.1");
	assert_int_equal(s.local_port, 5000);
	assert_addr(AF_INET, &s.remote_addr, "0.0.0.0");
	assert_int_equal(s.remote_port, 0);
	assert_int_equal(s.inode, 6864);
	assert_int_equal(s.uid, 0);
	assert_int_equal(s.timer, TS_TIMER_NONE);
	assert_int_equal(s.flags & TS_SOCK_REMOTE_VALID, 0);
	assert_int_equal(s.cookie, 0);
	/* IPv4 addresses leave the rest of the in6_addr zero */
	for (int i = 4; i < 16; i++)
		assert_int_equal(s.local_addr.s6_addr[i], 0);
}

static void test_parse_time_wait(void **state)
{
	struct ts_socket s;

	(void)state;
	assert_int_equal(procnet_parse_line(V4_TW, AF_INET, &s), 0);
	assert_int_equal(s.state, TS_STATE_TIME_WAIT);
	assert_int_equal(s.local_port, 33610);
	assert_int_equal(s.remote_port, 5000);
	assert_int_equal(s.inode, 0);
	assert_int_equal(s.timer, TS_TIMER_TIME_WAIT);
	assert_int_equal(s.timer_expires_ms, ticks_ms(0x174c));
	assert_true(s.flags & TS_SOCK_REMOTE_VALID);
}

static void test_parse_v6(void **state)
{
	struct ts_socket s;

	(void)state;
	assert_int_equal(procnet_parse_line(V6_EST "\n", AF_INET6, &s), 0);
	assert_int_equal(s.family, AF_INET6);
	assert_int_equal(s.state, TS_STATE_ESTABLISHED);
	assert_addr(AF_INET6, &s.local_addr, "::1");
	assert_addr(AF_INET6, &s.remote_addr, "::1");
	assert_int_equal(s.local_port, 42886);
	assert_int_equal(s.remote_port, 6000);
	assert_int_equal(s.recv_q, 50);
	assert_int_equal(s.send_q, 0);
	assert_int_equal(s.timer, TS_TIMER_KEEPALIVE);
	assert_int_equal(s.timer_expires_ms, ticks_ms(0xafc60));
	assert_int_equal(s.inode, 7597);
	/* a tcp6 line is not a tcp line */
	assert_int_equal(procnet_parse_line(V6_EST, AF_INET, &s), -EINVAL);
	assert_int_equal(procnet_parse_line(V4_LISTEN, AF_INET6, &s), -EINVAL);
	assert_int_equal(procnet_parse_line(V4_LISTEN, AF_UNIX, &s), -EINVAL);
}

static void test_parse_other_fields(void **state)
{
	struct ts_socket s;

	(void)state;
	/* a big uid, retransmits (hex, clamped), a 64-bit timer, lowercase hex */
	assert_int_equal(procnet_parse_line("  12: 0100007f:0050 0200000A:d431 04 0000001F:00000002 "
					    "01:00000000000003E8 00000105 4294967295 0 "
					    "18446744073709551615", AF_INET, &s), 0);
	assert_int_equal(s.state, TS_STATE_FIN_WAIT_1);
	assert_addr(AF_INET, &s.remote_addr, "10.0.0.2");
	assert_int_equal(s.remote_port, 0xd431);
	assert_int_equal(s.send_q, 31);
	assert_int_equal(s.recv_q, 2);
	assert_int_equal(s.timer, TS_TIMER_RETRANS);
	assert_int_equal(s.timer_expires_ms, ticks_ms(1000));
	assert_int_equal(s.timer_retrans, 255);
	assert_int_equal(s.uid, UINT32_MAX);
	assert_int_equal(s.inode, UINT64_MAX);

	/* a huge timer saturates; zero window probe timer */
	assert_int_equal(procnet_parse_line("0: 0100007F:0050 0100007F:0051 01 0:0 04:FFFFFFFFFFFFFFFF 0 1 0 5",
					    AF_INET, &s), 0);
	assert_int_equal(s.timer, TS_TIMER_PROBE);
	assert_int_equal(s.timer_expires_ms, UINT32_MAX);
	/* an unknown timer kind is no timer */
	assert_int_equal(procnet_parse_line("0: 0100007F:0050 0100007F:0051 01 0:0 09:00000010 0 1 0 5",
					    AF_INET, &s), 0);
	assert_int_equal(s.timer, TS_TIMER_NONE);
	assert_int_equal(s.timer_expires_ms, 0);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"   0:",
		"garbage",
		/* sl */
		"0 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"x: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		": 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		/* addresses */
		"0: 0100007:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F0:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007G:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:13889 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:138 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F-1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:-001 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 0x000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		/* state */
		"0: 0100007F:1388 00000000:0000 00 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0E 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 10A 00000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000 0 0 1",
		/* queues, timer, retransmits */
		"0: 0100007F:1388 00000000:0000 0A 00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A 100000000:00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000: 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000: 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A :00000000 00:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 000:00000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:10000000000000000 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:0000000g 00000000 0 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 100000000 0 0 1",
		/* uid, inode: decimal */
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1a 0 1",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 18446744073709551616",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 0x10",
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 -5",
		/* a field longer than any real one */
		"0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"111111111111111111111111111111111111111111111111111111111111111111111111",
	};
	struct ts_socket s = { .inode = 4242 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (procnet_parse_line(bad[i], AF_INET, &s) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
	assert_int_equal(s.inode, 4242); /* untouched on error */
	assert_int_equal(procnet_parse_line(NULL, AF_INET, &s), -EINVAL);
	/* the shortest well-formed line */
	assert_int_equal(procnet_parse_line("0: 0100007F:1388 00000000:0000 0A 0:0 0:0 0 0 0 1",
					    AF_INET, &s), 0);
}

/* Every truncation of a real line fails cleanly until the inode is reached. */
static void test_parse_truncated(void **state)
{
	static const struct {
		const char *line;
		int family;
	} lines[] = { { V4_LISTEN, AF_INET }, { V4_TW, AF_INET }, { V6_EST, AF_INET6 } };

	(void)state;
	for (size_t l = 0; l < sizeof(lines) / sizeof(lines[0]); l++) {
		const char *line = lines[l].line;
		size_t len = strlen(line), inode_start = 0;
		unsigned fields = 0;

		/* the inode is the 10th field */
		for (size_t i = 0; i < len; i++)
			if (line[i] != ' ' && (i == 0 || line[i - 1] == ' ') && ++fields == 10)
				inode_start = i;
		assert_true(inode_start > 0);
		for (size_t cut = 0; cut <= len; cut++) {
			char *t = strndup(line, cut);
			struct ts_socket s;
			int r;

			assert_non_null(t);
			r = procnet_parse_line(t, lines[l].family, &s);
			if (cut <= inode_start)
				assert_int_equal(r, -EINVAL);
			else if (cut > inode_start + 4)
				assert_int_equal(r, 0);
			free(t);
		}
	}
}

static void test_read_recorded_v4(void **state)
{
	unsigned malformed = 99;
	struct ts_snapshot *snap = read_file("proc_net_tcp.txt", AF_INET, NULL, &malformed);
	const struct ts_socket *s;

	(void)state;
	assert_int_equal(malformed, 0);
	assert_int_equal(snap->n_sockets, 10);
	for (size_t i = 0; i < snap->n_sockets; i++) {
		assert_int_equal(snap->sockets[i].netns_index, 3);
		assert_int_equal(snap->sockets[i].family, AF_INET);
		assert_int_equal(!!(snap->sockets[i].flags & TS_SOCK_REMOTE_VALID),
				 snap->sockets[i].remote_port != 0);
	}

	s = find(snap, 5000, 0);
	assert_int_equal(s->state, TS_STATE_LISTEN);
	s = find(snap, 8000, 0);
	assert_int_equal(s->state, TS_STATE_LISTEN);
	s = find(snap, 5000, 33588);   /* unread data */
	assert_int_equal(s->state, TS_STATE_ESTABLISHED);
	assert_int_equal(s->recv_q, 100);
	assert_int_equal(s->inode, 6869);
	s = find(snap, 33588, 5000);
	assert_int_equal(s->state, TS_STATE_ESTABLISHED);
	s = find(snap, 5000, 33600);   /* the peer shut down its side */
	assert_int_equal(s->state, TS_STATE_CLOSE_WAIT);
	assert_int_equal(s->recv_q, 1);
	s = find(snap, 33600, 5000);
	assert_int_equal(s->state, TS_STATE_FIN_WAIT_2);
	s = find(snap, 33610, 5000);
	assert_int_equal(s->state, TS_STATE_TIME_WAIT);
	assert_int_equal(s->inode, 0);
	assert_int_equal(s->timer, TS_TIMER_TIME_WAIT);
	s = find(snap, 51062, 8000);   /* SYN-ACK dropped */
	assert_int_equal(s->state, TS_STATE_SYN_SENT);
	assert_int_equal(s->send_q, 1);
	assert_int_equal(s->timer, TS_TIMER_RETRANS);
	assert_int_equal(s->timer_expires_ms, ticks_ms(0x45));
	s = find(snap, 8000, 51062);   /* the request socket */
	assert_int_equal(s->state, TS_STATE_SYN_RECEIVED);
	assert_int_equal(s->inode, 0);
	assert_int_equal(s->timer, TS_TIMER_RETRANS);
	s = find(snap, 35276, 7000);   /* to the dual-stack listener */
	assert_int_equal(s->state, TS_STATE_ESTABLISHED);
	assert_addr(AF_INET, &s->remote_addr, "127.0.0.1");
	ts_snapshot_free(snap);
}

static void test_read_recorded_v6(void **state)
{
	unsigned malformed = 99;
	struct ts_snapshot *snap = read_file("proc_net_tcp6.txt", AF_INET6, NULL, &malformed);
	const struct ts_socket *s;

	(void)state;
	assert_int_equal(malformed, 0);
	assert_int_equal(snap->n_sockets, 8);

	s = find(snap, 7000, 0);       /* dual stack, one connection not accepted yet */
	assert_int_equal(s->state, TS_STATE_LISTEN);
	assert_addr(AF_INET6, &s->local_addr, "::");
	assert_int_equal(s->recv_q, 1);
	s = find(snap, 7000, 35276);   /* that connection: v4-mapped, no file yet */
	assert_int_equal(s->state, TS_STATE_ESTABLISHED);
	assert_addr(AF_INET6, &s->local_addr, "::ffff:127.0.0.1");
	assert_addr(AF_INET6, &s->remote_addr, "::ffff:127.0.0.1");
	assert_int_equal(s->inode, 0);
	s = find(snap, 8001, 0);
	assert_addr(AF_INET6, &s->local_addr, "::1");
	s = find(snap, 34866, 8001);
	assert_int_equal(s->state, TS_STATE_SYN_SENT);
	s = find(snap, 42876, 6000);
	assert_int_equal(s->state, TS_STATE_TIME_WAIT);
	s = find(snap, 42886, 6000);
	assert_int_equal(s->timer, TS_TIMER_KEEPALIVE);
	assert_int_equal(s->recv_q, 50);
	ts_snapshot_free(snap);
}

static void test_read_filtered(void **state)
{
	struct ts_filter f = { 0 };
	struct ts_snapshot *snap;
	unsigned malformed;

	(void)state;
	f.states = TS_STATE_BIT(TS_STATE_LISTEN);
	snap = read_file("proc_net_tcp.txt", AF_INET, &f, &malformed);
	assert_int_equal(snap->n_sockets, 2);
	ts_snapshot_free(snap);
	snap = read_file("proc_net_tcp6.txt", AF_INET6, &f, &malformed);
	assert_int_equal(snap->n_sockets, 3);
	ts_snapshot_free(snap);

	f = (struct ts_filter){ 0 };
	f.ports[f.n_ports++] = 5000;
	snap = read_file("proc_net_tcp.txt", AF_INET, &f, &malformed);
	assert_int_equal(snap->n_sockets, 6);
	ts_snapshot_free(snap);

	/* IPv4 addresses select v4-mapped sockets of tcp6 */
	f = (struct ts_filter){ 0 };
	assert_int_equal(ts_addr_match_parse("127.0.0.1", &f.addrs[f.n_addrs++]), 0);
	snap = read_file("proc_net_tcp6.txt", AF_INET6, &f, &malformed);
	assert_int_equal(snap->n_sockets, 1);
	assert_int_equal(snap->sockets[0].local_port, 7000);
	ts_snapshot_free(snap);
}

static void test_read_malformed(void **state)
{
	char text[8192], longline[3000];
	struct ts_snapshot *snap = snapshot_new();
	unsigned malformed = 99;
	FILE *fp;

	(void)state;
	memset(longline, '7', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
		 "%s\n"
		 "garbage\n"
		 "\n"
		 "   1: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000\n" /* truncated */
		 "%s"
		 "   2: 0100007F:1388 0100007F:ZZZZ 01 00000000:00000000 00:00000000 00000000 0 0 1\n"
		 "%s", /* the last line has no newline */
		 V4_LISTEN, longline, V4_TW);
	assert_non_null(snap);
	fp = fmemopen(text, strlen(text), "r");
	assert_non_null(fp);
	assert_int_equal(procnet_read(fp, AF_INET, NULL, 0, snap, &malformed), 0);
	fclose(fp);
	assert_int_equal(malformed, 4);
	assert_int_equal(snap->n_sockets, 2);
	assert_int_equal(snap->sockets[0].state, TS_STATE_LISTEN);
	assert_int_equal(snap->sockets[1].state, TS_STATE_TIME_WAIT);

	/* an empty stream; NULL counter allowed */
	fp = fmemopen(text, 0, "r");
	assert_non_null(fp);
	assert_int_equal(procnet_read(fp, AF_INET, NULL, 0, snap, NULL), 0);
	fclose(fp);
	assert_int_equal(snap->n_sockets, 2);
	ts_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_parse_time_wait),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_other_fields),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_read_recorded_v4),
		cmocka_unit_test(test_read_recorded_v6),
		cmocka_unit_test(test_read_filtered),
		cmocka_unit_test(test_read_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
