/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <cmocka.h>

#include "tcpstate/filter.h"

/* ---- a small copy of the kernel's rules (net/ipv4/inet_diag.c) ---- */

/* inet_diag_bc_op is {u8 code; u8 yes; u16 no;} */
static struct inet_diag_bc_op op_at(const uint8_t *bc, size_t off)
{
	struct inet_diag_bc_op op;

	memcpy(&op, bc + off, sizeof(op));
	return op;
}

/* valid_cc(): is cc (a remaining length) reached by the yes chain? */
static bool bc_valid_cc(const uint8_t *bc, int len, int cc)
{
	int off = 0;

	while (len >= 0) {
		struct inet_diag_bc_op op;

		if (cc > len)
			return false;
		if (cc == len)
			return true;
		op = op_at(bc, (size_t)off);
		if (op.yes < 4 || op.yes & 3)
			return false;
		len -= op.yes;
		off += op.yes;
	}
	return false;
}

/* inet_diag_bc_audit(), for the codes we may emit. */
static bool bc_audit(const uint8_t *bc, int total)
{
	int len = total, off = 0;

	if (total < (int)sizeof(struct inet_diag_bc_op))
		return false;
	while (len > 0) {
		struct inet_diag_bc_op op = op_at(bc, (size_t)off);
		int min_len = sizeof(struct inet_diag_bc_op);

		if (len < min_len)
			return false;
		switch (op.code) {
		case INET_DIAG_BC_S_COND:
		case INET_DIAG_BC_D_COND: {
			struct inet_diag_hostcond hc;
			int alen;

			min_len += sizeof(hc);
			if (len < min_len)
				return false;
			memcpy(&hc, bc + off + 4, sizeof(hc));
			if (hc.family == AF_UNSPEC)
				alen = 0;
			else if (hc.family == AF_INET)
				alen = 4;
			else if (hc.family == AF_INET6)
				alen = 16;
			else
				return false;
			min_len += alen;
			if (len < min_len || hc.prefix_len > 8 * alen)
				return false;
			break;
		}
		case INET_DIAG_BC_S_EQ:
		case INET_DIAG_BC_D_EQ:
			min_len += sizeof(struct inet_diag_bc_op);
			if (len < min_len)
				return false;
			break;
		case INET_DIAG_BC_JMP:
		case INET_DIAG_BC_NOP:
			break;
		default:
			return false;
		}
		if (op.code != INET_DIAG_BC_NOP) {
			if (op.no < min_len || op.no > len + 4 || op.no & 3)
				return false;
			if (op.no < len && !bc_valid_cc(bc, total, len - op.no))
				return false;
		}
		if (op.yes < min_len || op.yes > len + 4 || op.yes & 3)
			return false;
		off += op.yes;
		len -= op.yes;
	}
	return len == 0;
}

static bool bits_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	for (unsigned i = 0; i < bits; i++) {
		unsigned m = 0x80u >> (i % 8);

		if ((a[i / 8] & m) != (b[i / 8] & m))
			return false;
	}
	return true;
}

/* inet_diag_bc_run() on a socket as the kernel sees it. */
static bool bc_run(const uint8_t *bc, int len, const struct ts_socket *s)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	int off = 0;

	while (len > 0) {
		struct inet_diag_bc_op op = op_at(bc, (size_t)off);
		bool yes = true;

		switch (op.code) {
		case INET_DIAG_BC_NOP:
			break;
		case INET_DIAG_BC_JMP:
			yes = false;
			break;
		case INET_DIAG_BC_S_EQ:
			yes = s->local_port == op_at(bc, (size_t)off + 4).no;
			break;
		case INET_DIAG_BC_D_EQ:
			yes = s->remote_port == op_at(bc, (size_t)off + 4).no;
			break;
		case INET_DIAG_BC_S_COND:
		case INET_DIAG_BC_D_COND: {
			struct inet_diag_hostcond hc;
			const uint8_t *caddr = bc + off + 4 + sizeof(hc);
			const uint8_t *a = op.code == INET_DIAG_BC_S_COND ?
				s->local_addr.s6_addr : s->remote_addr.s6_addr;
			uint16_t port = op.code == INET_DIAG_BC_S_COND ? s->local_port : s->remote_port;

			memcpy(&hc, bc + off + 4, sizeof(hc));
			if (hc.port != -1 && hc.port != port) {
				yes = false;
				break;
			}
			if (hc.family != AF_UNSPEC && hc.family != s->family) {
				yes = s->family == AF_INET6 && hc.family == AF_INET &&
				      memcmp(a, mapped, 12) == 0 &&
				      bits_match(a + 12, caddr, hc.prefix_len);
				break;
			}
			yes = hc.prefix_len == 0 || bits_match(a, caddr, hc.prefix_len);
			break;
		}
		default:
			fail_msg("unexpected op %u", op.code);
		}
		len -= yes ? op.yes : op.no;
		off += yes ? op.yes : op.no;
	}
	return len == 0;
}

/* ---- helpers ---- */

static struct ts_addr_match amatch(const char *s)
{
	struct ts_addr_match m;

	if (ts_addr_match_parse(s, &m) != 0)
		fail_msg("cannot parse \"%s\"", s);
	return m;
}

static struct ts_socket sock(const char *laddr, uint16_t lport, const char *raddr,
			     uint16_t rport, enum ts_state st)
{
	struct ts_socket s = { 0 };
	int fam = strchr(laddr, ':') ? AF_INET6 : AF_INET;

	s.family = (uint8_t)fam;
	assert_int_equal(inet_pton(fam, laddr, &s.local_addr), 1);
	assert_int_equal(inet_pton(fam, raddr, &s.remote_addr), 1);
	s.local_port = lport;
	s.remote_port = rport;
	s.state = (uint8_t)st;
	return s;
}

/* Builds for the socket's family, audits, runs; checks it agrees with the
 * userspace matcher and returns the verdict. */
static bool bc_verdict(const struct ts_filter *f, const struct ts_socket *s)
{
	uint8_t buf[1024];
	size_t len = 12345;
	bool want = ts_filter_match_socket(f, s), got;

	assert_int_equal(ts_filter_bytecode_build(f, s->family, buf, sizeof(buf), &len), 0);
	if (len == 0) {
		got = true;
	} else {
		assert_true(len <= sizeof(buf));
		assert_true(bc_audit(buf, (int)len));
		got = bc_run(buf, (int)len, s);
	}
	/* the kernel checks states apart from the bytecode */
	if (!(ts_filter_states(f) & TS_STATE_BIT(s->state)))
		got = false;
	assert_int_equal(got, want);
	return got;
}

/* ---- address parsing ---- */

static void test_addr_parse_ok(void **state)
{
	struct ts_addr_match m;
	uint8_t v4[4] = { 10, 1, 2, 3 };
	struct in6_addr a6;

	(void)state;
	assert_int_equal(ts_addr_match_parse("10.1.2.3", &m), 0);
	assert_int_equal(m.family, AF_INET);
	assert_int_equal(m.prefix_len, 32);
	assert_memory_equal(m.addr.s6_addr, v4, 4);
	for (int i = 4; i < 16; i++)
		assert_int_equal(m.addr.s6_addr[i], 0);

	assert_int_equal(ts_addr_match_parse("10.1.2.3/8", &m), 0);
	assert_int_equal(m.family, AF_INET);
	assert_int_equal(m.prefix_len, 8);
	assert_int_equal(ts_addr_match_parse("0.0.0.0/0", &m), 0);
	assert_int_equal(m.prefix_len, 0);
	assert_int_equal(ts_addr_match_parse("1.2.3.4/32", &m), 0);
	assert_int_equal(m.prefix_len, 32);

	inet_pton(AF_INET6, "2001:db8::1", &a6);
	assert_int_equal(ts_addr_match_parse("2001:db8::1", &m), 0);
	assert_int_equal(m.family, AF_INET6);
	assert_int_equal(m.prefix_len, 128);
	assert_memory_equal(&m.addr, &a6, 16);
	assert_int_equal(ts_addr_match_parse("[2001:db8::1]", &m), 0);
	assert_int_equal(m.prefix_len, 128);
	assert_memory_equal(&m.addr, &a6, 16);
	assert_int_equal(ts_addr_match_parse("[2001:db8::1]/64", &m), 0);
	assert_int_equal(m.prefix_len, 64);
	assert_int_equal(ts_addr_match_parse("2001:db8::/32", &m), 0);
	assert_int_equal(m.prefix_len, 32);
	assert_int_equal(ts_addr_match_parse("::/0", &m), 0);
	assert_int_equal(m.prefix_len, 0);
	assert_int_equal(ts_addr_match_parse("::1/128", &m), 0);
	assert_int_equal(ts_addr_match_parse("::ffff:10.1.2.3", &m), 0);
	assert_int_equal(m.family, AF_INET6);
	assert_memory_equal(m.addr.s6_addr + 12, v4, 4);
}

static void test_addr_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "/", "/8", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/+8",
		"1.2.3.4/8 ", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/8/8", "1.2.3.4//8",
		"1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1.2.3.4x", "a.b.c.d",
		"::1/129", "::1/1000", "::1/4294967297", "::1/99999999999999999999999",
		"2001:db8:::1", "2001:db8::g", "fe80::1%lo", "1:2:3:4:5:6:7:8:9",
		"[1.2.3.4]", "[::1", "::1]", "[::1]]", "[[::1]]", "[]", "[]/8", "[", "]",
		"[::1]64", "[::1]/", "[::1]/129", "[::1/64]", "localhost", "0x7f000001",
		"::ffff:1.2.3.4/", "12345678901234567890123456789012345678901234567890",
	};
	struct ts_addr_match m = { .family = 99 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ts_addr_match_parse(bad[i], &m) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(ts_addr_match_parse(NULL, &m), -EINVAL);
	assert_int_equal(m.family, 99); /* untouched on error */
}

/* ---- userspace matching ---- */

static void test_states_and_owners(void **state)
{
	struct ts_filter f = { 0 };

	(void)state;
	assert_int_equal(ts_filter_states(&f), TS_STATE_MASK_ALL);
	assert_int_equal(ts_filter_states(NULL), TS_STATE_MASK_ALL);
	f.states = TS_STATE_BIT(TS_STATE_LISTEN);
	assert_int_equal(ts_filter_states(&f), TS_STATE_BIT(TS_STATE_LISTEN));

	assert_false(ts_filter_needs_owners(&f));
	assert_false(ts_filter_needs_owners(NULL));
	f.n_pids = 1;
	assert_true(ts_filter_needs_owners(&f));
	f.n_pids = 0;
	f.n_comms = 1;
	assert_true(ts_filter_needs_owners(&f));
}

static void test_match_process(void **state)
{
	struct ts_filter f = { 0 };

	(void)state;
	assert_true(ts_filter_match_process(&f, 1, "init"));
	assert_true(ts_filter_match_process(NULL, 1, "init"));
	assert_true(ts_filter_match_process(&f, 1, NULL));

	f.pids[f.n_pids++] = 42;
	f.pids[f.n_pids++] = 7;
	assert_true(ts_filter_match_process(&f, 42, "x"));
	assert_true(ts_filter_match_process(&f, 7, NULL));
	assert_false(ts_filter_match_process(&f, 8, "x"));

	/* kinds AND, values OR; comm is an exact match */
	strcpy(f.comms[f.n_comms++], "nginx");
	strcpy(f.comms[f.n_comms++], "sshd");
	assert_true(ts_filter_match_process(&f, 42, "nginx"));
	assert_true(ts_filter_match_process(&f, 7, "sshd"));
	assert_false(ts_filter_match_process(&f, 8, "nginx"));
	assert_false(ts_filter_match_process(&f, 42, "ngin"));
	assert_false(ts_filter_match_process(&f, 42, "nginx2"));
	assert_false(ts_filter_match_process(&f, 42, "NGINX"));
	assert_false(ts_filter_match_process(&f, 42, NULL));

	/* a full-length comm (15 characters) */
	f.n_pids = 0;
	strcpy(f.comms[0], "abcdefghijklmno");
	assert_true(ts_filter_match_process(&f, 1, "abcdefghijklmno"));
	assert_false(ts_filter_match_process(&f, 1, "abcdefghijklmn"));
}

static void test_match_socket(void **state)
{
	struct ts_socket lis = sock("127.0.0.1", 5000, "0.0.0.0", 0, TS_STATE_LISTEN);
	struct ts_socket est = sock("10.1.2.3", 40000, "192.168.1.1", 443, TS_STATE_ESTABLISHED);
	struct ts_socket v6 = sock("2001:db8::1", 22, "2001:db8::2", 50000, TS_STATE_ESTABLISHED);
	struct ts_socket mapped = sock("::ffff:10.1.2.3", 8080, "::ffff:10.9.9.9", 1234,
				       TS_STATE_CLOSE_WAIT);
	struct ts_filter f = { 0 };

	(void)state;
	assert_true(ts_filter_match_socket(&f, &lis));
	assert_true(ts_filter_match_socket(NULL, &lis));

	f.states = TS_STATE_BIT(TS_STATE_ESTABLISHED);
	assert_false(ts_filter_match_socket(&f, &lis));
	assert_true(ts_filter_match_socket(&f, &est));
	f.states = 0;

	f.ports[f.n_ports++] = 443;
	assert_true(ts_filter_match_socket(&f, &est));  /* remote end */
	assert_false(ts_filter_match_socket(&f, &lis));
	f.ports[f.n_ports++] = 5000;
	assert_true(ts_filter_match_socket(&f, &lis));  /* local end */
	f.dports[f.n_dports++] = 5000;
	assert_false(ts_filter_match_socket(&f, &lis)); /* ANDed with dport */
	f = (struct ts_filter){ 0 };
	f.sports[f.n_sports++] = 22;
	assert_true(ts_filter_match_socket(&f, &v6));
	assert_false(ts_filter_match_socket(&f, &est));

	f = (struct ts_filter){ 0 };
	f.addrs[f.n_addrs++] = amatch("10.0.0.0/8");
	assert_true(ts_filter_match_socket(&f, &est));
	assert_false(ts_filter_match_socket(&f, &lis));
	assert_false(ts_filter_match_socket(&f, &v6));
	assert_true(ts_filter_match_socket(&f, &mapped)); /* v4 matches v4-mapped */
	f.addrs[0] = amatch("192.168.1.1");
	assert_true(ts_filter_match_socket(&f, &est));    /* remote end */
	assert_false(ts_filter_match_socket(&f, &mapped));
	f.addrs[0] = amatch("::ffff:10.9.9.9");
	assert_true(ts_filter_match_socket(&f, &mapped));
	f.addrs[0] = amatch("::ffff:10.1.2.3");
	assert_true(ts_filter_match_socket(&f, &est));    /* mapped matches plain v4 */
	f.addrs[0] = amatch("::/0");                      /* all IPv6, no IPv4 */
	assert_true(ts_filter_match_socket(&f, &v6));
	assert_true(ts_filter_match_socket(&f, &mapped));
	assert_false(ts_filter_match_socket(&f, &est));
	f.addrs[0] = amatch("[2001:db8::]/32");
	assert_true(ts_filter_match_socket(&f, &v6));
	f.addrs[0] = amatch("2001:db8::2/127");
	assert_true(ts_filter_match_socket(&f, &v6));
	f.addrs[0] = amatch("2001:db9::/32");
	assert_false(ts_filter_match_socket(&f, &v6));
	f.addrs[f.n_addrs++] = amatch("127.0.0.1");
	assert_true(ts_filter_match_socket(&f, &lis));    /* addresses OR */
	assert_false(ts_filter_match_socket(&f, &v6));
	/* odd prefix inside a byte */
	f.n_addrs = 1;
	f.addrs[0] = amatch("10.1.2.0/23");
	assert_true(ts_filter_match_socket(&f, &est));
	f.addrs[0] = amatch("10.1.4.0/23");
	assert_false(ts_filter_match_socket(&f, &est));
}

/* ---- bytecode ---- */

static void test_bytecode_empty(void **state)
{
	struct ts_filter f = { 0 };
	uint8_t buf[8] = { 0xaa };
	size_t len = 99;

	(void)state;
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(buf[0], 0xaa);
	/* states and owners are not the bytecode's business */
	f.states = TS_STATE_BIT(TS_STATE_LISTEN);
	f.pids[f.n_pids++] = 1;
	len = 99;
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET6, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
}

static void test_bytecode_errors(void **state)
{
	struct ts_filter f = { 0 };
	uint8_t buf[1024];
	size_t len = 77;

	(void)state;
	f.ports[f.n_ports++] = 80;
	assert_int_equal(ts_filter_bytecode_build(&f, AF_UNIX, buf, sizeof(buf), &len), -EINVAL);
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, 8, &len), -ENOSPC);
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, 0, &len), -ENOSPC);
	f.n_ports = TS_FILTER_MAX_PORTS + 1;
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, sizeof(buf), &len), -EINVAL);
	f.n_ports = 0;
	f.n_addrs = TS_FILTER_MAX_ADDRS + 1;
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, sizeof(buf), &len), -EINVAL);
	assert_int_equal(len, 77); /* untouched on error */
}

static void test_bytecode_structure(void **state)
{
	struct ts_filter f = { 0 };
	uint8_t buf[256];
	size_t len;
	struct inet_diag_bc_op op;

	(void)state;
	/* sport 22: one S_EQ, no jumps: yes -> end, no -> reject */
	f.sports[f.n_sports++] = 22;
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 8);
	op = op_at(buf, 0);
	assert_int_equal(op.code, INET_DIAG_BC_S_EQ);
	assert_int_equal(op.yes, 8);
	assert_int_equal(op.no, 12);
	assert_int_equal(op_at(buf, 4).no, 22);

	/* port 80: S_EQ JMP D_EQ */
	f = (struct ts_filter){ 0 };
	f.ports[f.n_ports++] = 80;
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 20);
	assert_int_equal(op_at(buf, 0).code, INET_DIAG_BC_S_EQ);
	assert_int_equal(op_at(buf, 0).no, 12);
	assert_int_equal(op_at(buf, 8).code, INET_DIAG_BC_JMP);
	assert_int_equal(op_at(buf, 8).no, 12); /* to the end: accept */
	assert_int_equal(op_at(buf, 12).code, INET_DIAG_BC_D_EQ);
	assert_int_equal(op_at(buf, 12).no, 12);

	/* IPv4 host condition: 4 + 8 + 4 bytes, IPv6: 4 + 8 + 16 */
	f = (struct ts_filter){ 0 };
	f.addrs[f.n_addrs++] = amatch("10.0.0.0/8");
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 16 + 4 + 16);
	assert_int_equal(op_at(buf, 0).code, INET_DIAG_BC_S_COND);
	assert_int_equal(op_at(buf, 20).code, INET_DIAG_BC_D_COND);
	/* AF_INET condition on IPv6 dumps too (the kernel matches v4-mapped) */
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET6, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 36);
	f.addrs[0] = amatch("fe80::/10");
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET6, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 28 + 4 + 28);
	assert_true(bc_audit(buf, (int)len));

	/* only IPv6 addresses on an IPv4 dump: rejects everything */
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET, buf, sizeof(buf), &len), 0);
	assert_true(len > 0);
	assert_true(bc_audit(buf, (int)len));
	{
		struct ts_socket s = sock("1.2.3.4", 1, "5.6.7.8", 2, TS_STATE_ESTABLISHED);

		assert_false(bc_run(buf, (int)len, &s));
	}
}

static void test_bytecode_largest(void **state)
{
	struct ts_filter f = { 0 };
	uint8_t buf[1024];
	size_t len;

	(void)state;
	for (unsigned i = 0; i < TS_FILTER_MAX_PORTS; i++) {
		f.ports[f.n_ports++] = (uint16_t)(1000 + i);
		f.sports[f.n_sports++] = (uint16_t)(2000 + i);
		f.dports[f.n_dports++] = (uint16_t)(3000 + i);
	}
	for (unsigned i = 0; i < TS_FILTER_MAX_ADDRS; i++)
		f.addrs[f.n_addrs++] = amatch("2001:db8::/32");
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET6, buf, sizeof(buf), &len), 0);
	assert_true(bc_audit(buf, (int)len));
	/* exact fit works, one byte less does not */
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET6, buf, len, &len), 0);
	assert_int_equal(ts_filter_bytecode_build(&f, AF_INET6, buf, len - 1, &len), -ENOSPC);

	{
		struct ts_socket s = sock("2001:db8::1", 2003, "2001:db8::2", 3007, TS_STATE_ESTABLISHED);

		assert_false(bc_verdict(&f, &s)); /* no --port */
		s.remote_port = 1005;
		assert_false(bc_verdict(&f, &s)); /* --dport */
		f.dports[7] = 1005;
		assert_true(bc_verdict(&f, &s));
		s.local_addr.s6_addr[3] ^= 1;
		assert_true(bc_verdict(&f, &s));  /* remote address still matches */
		s.remote_addr.s6_addr[3] ^= 1;
		assert_false(bc_verdict(&f, &s));
	}
}

static void test_bytecode_samples(void **state)
{
	struct ts_socket lis = sock("127.0.0.1", 5000, "0.0.0.0", 0, TS_STATE_LISTEN);
	struct ts_socket est = sock("10.1.2.3", 40000, "192.168.1.1", 443, TS_STATE_ESTABLISHED);
	struct ts_socket v6 = sock("2001:db8::1", 22, "2001:db8::2", 50000, TS_STATE_ESTABLISHED);
	struct ts_socket mapped = sock("::ffff:10.1.2.3", 8080, "::ffff:10.9.9.9", 1234,
				       TS_STATE_TIME_WAIT);
	struct ts_filter f = { 0 };

	(void)state;
	f.ports[f.n_ports++] = 443;
	f.ports[f.n_ports++] = 8080;
	assert_true(bc_verdict(&f, &est));
	assert_true(bc_verdict(&f, &mapped));
	assert_false(bc_verdict(&f, &lis));
	assert_false(bc_verdict(&f, &v6));

	f.addrs[f.n_addrs++] = amatch("10.9.9.9");
	assert_false(bc_verdict(&f, &est));
	assert_true(bc_verdict(&f, &mapped)); /* AF_INET hostcond, v4-mapped socket */
	f.addrs[0] = amatch("::ffff:10.1.0.0/112");
	assert_true(bc_verdict(&f, &est));
	assert_true(bc_verdict(&f, &mapped));
	f.addrs[0] = amatch("::/0");
	assert_false(bc_verdict(&f, &est));
	assert_true(bc_verdict(&f, &mapped));

	f = (struct ts_filter){ 0 };
	f.addrs[f.n_addrs++] = amatch("0.0.0.0");
	assert_true(bc_verdict(&f, &lis)); /* the unset remote end, as the kernel does */
	assert_false(bc_verdict(&f, &est));
	f.states = TS_STATE_BIT(TS_STATE_ESTABLISHED);
	assert_false(bc_verdict(&f, &lis));
}

/* Random filters and sockets: build, audit and run must agree with
 * ts_filter_match_socket() everywhere. */
static uint32_t rng = 12345;

static uint32_t rnd(uint32_t n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) % n;
}

static const char *const pool_addrs[] = {
	"10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.0.1", "0.0.0.0", "127.0.0.1",
	"::1", "::", "2001:db8::1", "2001:db8:1::1", "fe80::1", "::ffff:10.0.0.1",
	"::ffff:192.168.0.1", "::ffff:127.0.0.1",
};
static const uint16_t pool_ports[] = { 0, 22, 80, 443, 5000, 65535 };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct ts_socket random_socket(void)
{
	bool v6 = rnd(2);
	const char *a, *b;

	do
		a = pool_addrs[rnd(ARRAY_SIZE(pool_addrs))];
	while ((strchr(a, ':') != NULL) != v6);
	do
		b = pool_addrs[rnd(ARRAY_SIZE(pool_addrs))];
	while ((strchr(b, ':') != NULL) != v6 || (v6 && (strchr(a, '.') != NULL) != (strchr(b, '.') != NULL)));
	return sock(a, pool_ports[rnd(ARRAY_SIZE(pool_ports))], b,
		    pool_ports[rnd(ARRAY_SIZE(pool_ports))], rnd(TS_STATE_COUNT));
}

static struct ts_filter random_filter(void)
{
	struct ts_filter f = { 0 };
	unsigned n;

	n = rnd(3) ? 0 : 1 + rnd(TS_FILTER_MAX_PORTS);
	while (f.n_ports < n)
		f.ports[f.n_ports++] = pool_ports[rnd(ARRAY_SIZE(pool_ports))];
	n = rnd(3) ? 0 : 1 + rnd(TS_FILTER_MAX_PORTS);
	while (f.n_sports < n)
		f.sports[f.n_sports++] = pool_ports[rnd(ARRAY_SIZE(pool_ports))];
	n = rnd(3) ? 0 : 1 + rnd(TS_FILTER_MAX_PORTS);
	while (f.n_dports < n)
		f.dports[f.n_dports++] = pool_ports[rnd(ARRAY_SIZE(pool_ports))];
	n = rnd(2) ? 0 : 1 + rnd(TS_FILTER_MAX_ADDRS);
	while (f.n_addrs < n) {
		char s[80];
		const char *a = pool_addrs[rnd(ARRAY_SIZE(pool_addrs))];
		unsigned max = strchr(a, ':') ? 128 : 32;

		if (rnd(2))
			snprintf(s, sizeof(s), "%s/%u", a, rnd(max + 1));
		else
			snprintf(s, sizeof(s), "%s", a);
		f.addrs[f.n_addrs++] = amatch(s);
	}
	if (rnd(4) == 0)
		f.states = rnd(1u << TS_STATE_COUNT);
	return f;
}

static void test_bytecode_random(void **state)
{
	unsigned accepted = 0, total = 0;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		struct ts_filter f = random_filter();

		for (int j = 0; j < 30; j++) {
			struct ts_socket s = random_socket();

			accepted += bc_verdict(&f, &s);
			total++;
		}
	}
	/* both outcomes were exercised */
	assert_true(accepted > total / 50);
	assert_true(accepted < total - total / 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse_ok),
		cmocka_unit_test(test_addr_parse_bad),
		cmocka_unit_test(test_states_and_owners),
		cmocka_unit_test(test_match_process),
		cmocka_unit_test(test_match_socket),
		cmocka_unit_test(test_bytecode_empty),
		cmocka_unit_test(test_bytecode_errors),
		cmocka_unit_test(test_bytecode_structure),
		cmocka_unit_test(test_bytecode_largest),
		cmocka_unit_test(test_bytecode_samples),
		cmocka_unit_test(test_bytecode_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
