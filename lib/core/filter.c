/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>

#include "tcpstate/filter.h"
#include "tcpstate/util.h"

ts_state_mask_t ts_filter_states(const struct ts_filter *f)
{
	if (!f || f->states == 0)
		return TS_STATE_MASK_ALL;
	return f->states;
}

bool ts_filter_needs_owners(const struct ts_filter *f)
{
	return f && (f->n_pids > 0 || f->n_comms > 0);
}

int ts_addr_match_parse(const char *s, struct ts_addr_match *ret)
{
	struct ts_addr_match m = { 0 };
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash, *addr_end, *addr = s;
	bool bracketed = false;
	size_t addr_len;
	uint32_t prefix;
	int r;

	if (!s || !ret)
		return -EINVAL;
	slash = strchr(s, '/');
	addr_end = slash ? slash : s + strlen(s);
	if (*addr == '[') {
		/* "[::1]" or "[::1]/64": URL style, IPv6 only. */
		if (addr_end - addr < 2 || addr_end[-1] != ']')
			return -EINVAL;
		addr++;
		addr_end--;
		bracketed = true;
	}
	addr_len = (size_t)(addr_end - addr);
	if (addr_len == 0 || addr_len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, addr, addr_len);
	buf[addr_len] = '\0';

	/* inet_pton() takes only dotted quads for IPv4: no "10.1", no octal. */
	if (!bracketed && inet_pton(AF_INET, buf, &m.addr) == 1) {
		m.family = AF_INET;
		m.prefix_len = 32;
	} else if (inet_pton(AF_INET6, buf, &m.addr) == 1) {
		m.family = AF_INET6;
		m.prefix_len = 128;
	} else {
		return -EINVAL;
	}

	if (slash) {
		r = ts_parse_u32(slash + 1, 0, m.prefix_len, &prefix);
		if (r < 0)
			return -EINVAL;
		m.prefix_len = (uint8_t)prefix;
	}
	*ret = m;
	return 0;
}

/* The first bits of a and b are equal (the kernel's bitstring_match()). */
static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff00u >> rest);

		if ((a[bytes] ^ b[bytes]) & mask)
			return false;
	}
	return true;
}

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/*
 * An IPv4 match, or an IPv6 one inside ::ffff:0:0/96, as an IPv4 match:
 * both select IPv4 sockets and v4-mapped addresses of IPv6 sockets.
 */
static bool addr_match_as_v4(const struct ts_addr_match *m, struct ts_addr_match *ret_v4)
{
	struct ts_addr_match v4 = { .family = AF_INET };

	if (m->family == AF_INET) {
		*ret_v4 = *m;
		return true;
	}
	if (m->prefix_len < 96 || memcmp(m->addr.s6_addr, v4mapped_prefix, 12) != 0)
		return false;
	v4.prefix_len = (uint8_t)(m->prefix_len - 96);
	memcpy(v4.addr.s6_addr, m->addr.s6_addr + 12, 4);
	*ret_v4 = v4;
	return true;
}

/* Mirrors the kernel's hostcond test (AF_INET conditions match v4-mapped). */
static bool addr_match(const struct ts_addr_match *m, int family, const struct in6_addr *a)
{
	struct ts_addr_match v4;

	if (addr_match_as_v4(m, &v4)) {
		if (family == AF_INET)
			return prefix_match(a->s6_addr, v4.addr.s6_addr, v4.prefix_len);
		if (family == AF_INET6 && memcmp(a->s6_addr, v4mapped_prefix, 12) == 0)
			return prefix_match(a->s6_addr + 12, v4.addr.s6_addr, v4.prefix_len);
		return false;
	}
	if (family != AF_INET6)
		return false;
	return prefix_match(a->s6_addr, m->addr.s6_addr, m->prefix_len);
}

static bool port_in(const uint16_t *ports, unsigned n, uint16_t port)
{
	if (n > TS_FILTER_MAX_PORTS)
		n = TS_FILTER_MAX_PORTS;
	for (unsigned i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

bool ts_filter_match_socket(const struct ts_filter *f, const struct ts_socket *s)
{
	bool ok;

	if (!f)
		return true;
	if (!(ts_filter_states(f) & TS_STATE_BIT(s->state)))
		return false;
	if (f->n_ports && !port_in(f->ports, f->n_ports, s->local_port) &&
	    !port_in(f->ports, f->n_ports, s->remote_port))
		return false;
	if (f->n_sports && !port_in(f->sports, f->n_sports, s->local_port))
		return false;
	if (f->n_dports && !port_in(f->dports, f->n_dports, s->remote_port))
		return false;
	if (f->n_addrs == 0)
		return true;
	/* Like the kernel, the remote address is tested even when it is unset
	 * (zero), so both backends select the same sockets. */
	ok = false;
	for (unsigned i = 0; i < f->n_addrs && i < TS_FILTER_MAX_ADDRS && !ok; i++)
		ok = addr_match(&f->addrs[i], s->family, &s->local_addr) ||
		     addr_match(&f->addrs[i], s->family, &s->remote_addr);
	return ok;
}

bool ts_filter_match_process(const struct ts_filter *f, pid_t pid, const char *comm)
{
	bool ok;

	if (!f)
		return true;
	if (f->n_pids) {
		ok = false;
		for (unsigned i = 0; i < f->n_pids && i < TS_FILTER_MAX_PIDS && !ok; i++)
			ok = f->pids[i] == pid;
		if (!ok)
			return false;
	}
	if (f->n_comms) {
		ok = false;
		for (unsigned i = 0; comm && i < f->n_comms && i < TS_FILTER_MAX_COMMS && !ok; i++)
			ok = strncmp(f->comms[i], comm, TS_COMM_LEN) == 0;
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Bytecode. The kernel audit follows only the `yes` chain from the start and
 * wants every `no` target on it, so conditions never jump on success: each
 * one falls through (`yes` = its size) and ORs are built with JMPs, as in:
 *
 *   c1 [no: c2]  JMP [to next clause]  c2 [no: c3]  JMP  ...  cn [no: reject]
 *
 * `yes` thus stays <= 28 and `no` (16 bit) carries the long jumps.
 */

#define MAX_CONDS (2 * 3 * TS_FILTER_MAX_PORTS + 2 * TS_FILTER_MAX_ADDRS)
#define MAX_CLAUSES 4

struct bc_cond {
	uint8_t code;
	uint16_t port;               /* S_EQ / D_EQ */
	struct ts_addr_match addr;   /* S_COND / D_COND */
};

struct bc_prog {
	struct bc_cond conds[MAX_CONDS];
	unsigned clause_end[MAX_CLAUSES]; /* index past each clause's last cond */
	unsigned n_conds, n_clauses;
};

static size_t cond_size(const struct bc_cond *c)
{
	if (c->code == INET_DIAG_BC_S_EQ || c->code == INET_DIAG_BC_D_EQ)
		return 2 * sizeof(struct inet_diag_bc_op);
	return sizeof(struct inet_diag_bc_op) + sizeof(struct inet_diag_hostcond) +
	       (c->addr.family == AF_INET ? 4 : 16);
}

static void add_port(struct bc_prog *p, uint8_t code, uint16_t port)
{
	p->conds[p->n_conds++] = (struct bc_cond){ .code = code, .port = port };
}

static void add_addr(struct bc_prog *p, uint8_t code, const struct ts_addr_match *m)
{
	p->conds[p->n_conds++] = (struct bc_cond){ .code = code, .addr = *m };
}

static void end_clause(struct bc_prog *p)
{
	p->clause_end[p->n_clauses++] = p->n_conds;
}

/* Returns false when no address of the filter can match this family. */
static bool add_addr_clause(struct bc_prog *p, const struct ts_filter *f, int family)
{
	unsigned start = p->n_conds;

	for (unsigned i = 0; i < f->n_addrs; i++) {
		struct ts_addr_match m;

		if (!addr_match_as_v4(&f->addrs[i], &m)) {
			if (family != AF_INET6)
				continue; /* IPv6 addresses never match IPv4 sockets */
			m = f->addrs[i];
		}
		/* On AF_INET6 dumps an AF_INET hostcond matches v4-mapped addresses. */
		add_addr(p, INET_DIAG_BC_S_COND, &m);
		add_addr(p, INET_DIAG_BC_D_COND, &m);
	}
	if (p->n_conds == start)
		return false;
	end_clause(p);
	return true;
}

static void put_op(uint8_t *at, uint8_t code, size_t yes, size_t no)
{
	struct inet_diag_bc_op op = { .code = code, .yes = (uint8_t)yes, .no = (uint16_t)no };

	memcpy(at, &op, sizeof(op));
}

static void put_cond(uint8_t *at, const struct bc_cond *c, size_t yes, size_t no)
{
	put_op(at, c->code, yes, no);
	at += sizeof(struct inet_diag_bc_op);
	if (c->code == INET_DIAG_BC_S_EQ || c->code == INET_DIAG_BC_D_EQ) {
		put_op(at, 0, 0, c->port);
	} else {
		struct inet_diag_hostcond hc = {
			.family = c->addr.family,
			.prefix_len = c->addr.prefix_len,
			.port = -1,
		};

		memcpy(at, &hc, sizeof(hc));
		memcpy(at + sizeof(hc), c->addr.addr.s6_addr, c->addr.family == AF_INET ? 4 : 16);
	}
}

static size_t prog_size(const struct bc_prog *p)
{
	size_t len = 0;

	for (unsigned i = 0; i < p->n_conds; i++)
		len += cond_size(&p->conds[i]);
	/* one JMP after each condition but the last of its clause */
	return len + 4 * (p->n_conds - p->n_clauses);
}

static void prog_emit(const struct bc_prog *p, uint8_t *buf, size_t total)
{
	size_t off = 0;
	unsigned c = 0;

	for (unsigned k = 0; k < p->n_clauses; k++) {
		size_t clause_end = off;

		for (unsigned i = c; i < p->clause_end[k]; i++)
			clause_end += cond_size(&p->conds[i]) + 4;
		clause_end -= 4;

		for (; c < p->clause_end[k]; c++) {
			size_t sz = cond_size(&p->conds[c]);

			if (c + 1 == p->clause_end[k]) {
				/* last alternative: failing it rejects the socket */
				put_cond(buf + off, &p->conds[c], sz, total - off + 4);
				off += sz;
			} else {
				put_cond(buf + off, &p->conds[c], sz, sz + 4);
				off += sz;
				put_op(buf + off, INET_DIAG_BC_JMP, 4, clause_end - off);
				off += 4;
			}
		}
	}
}

int ts_filter_bytecode_build(const struct ts_filter *f, int family,
			     void *buf, size_t buf_size, size_t *ret_len)
{
	struct bc_prog p = { 0 };
	size_t len;

	if (!f || !ret_len || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (f->n_ports > TS_FILTER_MAX_PORTS || f->n_sports > TS_FILTER_MAX_PORTS ||
	    f->n_dports > TS_FILTER_MAX_PORTS || f->n_addrs > TS_FILTER_MAX_ADDRS)
		return -EINVAL;

	if (f->n_ports) {
		for (unsigned i = 0; i < f->n_ports; i++) {
			add_port(&p, INET_DIAG_BC_S_EQ, f->ports[i]);
			add_port(&p, INET_DIAG_BC_D_EQ, f->ports[i]);
		}
		end_clause(&p);
	}
	if (f->n_sports) {
		for (unsigned i = 0; i < f->n_sports; i++)
			add_port(&p, INET_DIAG_BC_S_EQ, f->sports[i]);
		end_clause(&p);
	}
	if (f->n_dports) {
		for (unsigned i = 0; i < f->n_dports; i++)
			add_port(&p, INET_DIAG_BC_D_EQ, f->dports[i]);
		end_clause(&p);
	}
	if (f->n_addrs && !add_addr_clause(&p, f, family)) {
		/* Nothing of this family can match: a lone JMP to reject. */
		if (buf_size < sizeof(struct inet_diag_bc_op))
			return -ENOSPC;
		put_op(buf, INET_DIAG_BC_JMP, 4, 8);
		*ret_len = sizeof(struct inet_diag_bc_op);
		return 0;
	}
	if (p.n_clauses == 0) {
		*ret_len = 0;
		return 0;
	}

	len = prog_size(&p);
	/* `no` is 16 bit and may reach len + 4; yes is at most 28. */
	if (len + 4 > UINT16_MAX)
		return -EINVAL;
	if (len > buf_size)
		return -ENOSPC;
	prog_emit(&p, buf, len);
	*ret_len = len;
	return 0;
}
