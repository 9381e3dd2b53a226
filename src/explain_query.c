/* SPDX-License-Identifier: MIT */
/* tcpstate explain SOCKET: a query (ADDR:PORT, [ADDR6]:PORT, :PORT, INODE) read
 * from its word, and whether a socket answers it. No I/O beyond cli_error(). */
#include <arpa/inet.h>
#include <string.h>

#include "cli.h"
#include "explain.h"
#include "tcpstate/util.h"

/*
 * Returns 1 when tok is a socket query (filled in), 0 when it does not look
 * like one (it may be a state), -1 when it looks like one but is malformed
 * (reported).
 */
int explain_query_parse(const char *tok, struct explain_query *q)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *port;
	size_t alen;

	memset(q, 0, sizeof(*q));
	q->text = tok;
	if (ts_str_is_digits(tok)) {
		q->kind = EXPLAIN_QUERY_INODE;
		if (ts_parse_u64(tok, 1, UINT64_MAX, &q->inode) < 0) {
			cli_error("bad socket inode '%s' (a number from 1 up)", tok);
			return -1;
		}
		return 1;
	}
	if (tok[0] == '[') {
		const char *end = strchr(tok, ']');

		if (!end || end[1] != ':') {
			cli_error("bad socket '%s' (write an IPv6 one as [ADDR]:PORT)", tok);
			return -1;
		}
		alen = (size_t)(end - tok - 1);
		port = end + 2;
		if (alen == 0 || alen >= sizeof(addr)) {
			cli_error("bad IPv6 address in '%s'", tok);
			return -1;
		}
		memcpy(addr, tok + 1, alen);
		addr[alen] = '\0';
		if (inet_pton(AF_INET6, addr, &q->addr) != 1) {
			cli_error("bad IPv6 address in '%s'", tok);
			return -1;
		}
		q->family = AF_INET6;
		q->kind = EXPLAIN_QUERY_ENDPOINT;
	} else if (tok[0] == ':') {
		if (strchr(tok + 1, ':')) {
			cli_error("bad socket '%s' (write an IPv6 one in brackets: [ADDR]:PORT)", tok);
			return -1;
		}
		port = tok + 1;
		q->kind = EXPLAIN_QUERY_PORT;
	} else {
		const char *colon = strrchr(tok, ':');

		if (!colon)
			return 0; /* a word: a state, or nothing */
		if (strchr(tok, ':') != colon) {
			cli_error("bad socket '%s' (write an IPv6 one in brackets: [ADDR]:PORT)", tok);
			return -1;
		}
		alen = (size_t)(colon - tok);
		port = colon + 1;
		if (alen == 0 || alen >= sizeof(addr)) {
			cli_error("bad socket '%s' (ADDR:PORT)", tok);
			return -1;
		}
		memcpy(addr, tok, alen);
		addr[alen] = '\0';
		if (inet_pton(AF_INET, addr, &q->addr) != 1) {
			cli_error("bad IPv4 address in '%s'", tok);
			return -1;
		}
		q->family = AF_INET;
		q->kind = EXPLAIN_QUERY_ENDPOINT;
	}
	if (ts_parse_port(port, &q->port) < 0) {
		cli_error("bad port in '%s' (a number from 1 to 65535)", tok);
		return -1;
	}
	return 1;
}

static bool addr_is_any(int family, const struct in6_addr *a)
{
	static const struct in6_addr any;

	return memcmp(a, &any, family == AF_INET ? 4 : 16) == 0;
}

/* Same address, counting an IPv4-mapped IPv6 address as its IPv4 one. */
static bool addr_same(int sfamily, const struct in6_addr *sa, int qfamily, const struct in6_addr *qa)
{
	if (sfamily == qfamily)
		return memcmp(sa, qa, sfamily == AF_INET ? 4 : 16) == 0;
	if (sfamily == AF_INET6 && IN6_IS_ADDR_V4MAPPED(sa))
		return memcmp(&sa->s6_addr[12], qa, 4) == 0;
	if (qfamily == AF_INET6 && IN6_IS_ADDR_V4MAPPED(qa))
		return memcmp(&qa->s6_addr[12], sa, 4) == 0;
	return false;
}

bool explain_query_match(const struct explain_query *q, const struct ts_socket *s)
{
	bool remote = s->flags & TS_SOCK_REMOTE_VALID;

	switch (q->kind) {
	case EXPLAIN_QUERY_INODE:
		return s->inode == q->inode;
	case EXPLAIN_QUERY_PORT:
		return s->local_port == q->port || (remote && s->remote_port == q->port);
	case EXPLAIN_QUERY_ENDPOINT:
		/* A wildcard local address (a listener on *:PORT) answers for every address. */
		if (s->local_port == q->port &&
		    (addr_is_any(s->family, &s->local_addr) ||
		     addr_same(s->family, &s->local_addr, q->family, &q->addr)))
			return true;
		return remote && s->remote_port == q->port &&
		       addr_same(s->family, &s->remote_addr, q->family, &q->addr);
	}
	return false;
}
