/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "snapshot/procnet.h"
#include "tcpstate/util.h"

/*
 * A socket line (tcp4_seq_show() / tcp6_seq_show()), fields we use:
 *   sl: local:port remote:port st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
 * Everything is hex but sl, uid, timeout and inode. Addresses are the raw
 * 32-bit words of the address printed as native integers.
 */

#define TOKEN_MAX 48 /* longest field: 32 hex digits + ':' + 4 */
#define LINE_MAX_LEN 1024 /* real lines are < 200 characters */

/* The next space-separated field, copied into tok. */
static int next_token(const char **p, char tok[static TOKEN_MAX])
{
	const char *s = *p;
	size_t n;

	s += strspn(s, " \t\r");
	n = strcspn(s, " \t\r\n");
	if (n == 0 || n >= TOKEN_MAX)
		return -EINVAL;
	memcpy(tok, s, n);
	tok[n] = '\0';
	*p = s + n;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The hex counterpart of util.h's parsers: s[0..n) must be 1 to 16 hex
 * digits, nothing else.
 */
static int parse_hex(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 16)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = hex_digit(s[i]);

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (unsigned)d;
	}
	*ret = v;
	return 0;
}

/* "A:B" with A of 1..max_a and B of 1..max_b hex digits. */
static int parse_hex_pair(const char *tok, size_t max_a, size_t max_b, uint64_t *ret_a,
			  uint64_t *ret_b)
{
	const char *colon = strchr(tok, ':');
	uint64_t a, b;
	size_t na, nb;

	if (!colon)
		return -EINVAL;
	na = (size_t)(colon - tok);
	nb = strlen(colon + 1);
	if (na > max_a || nb > max_b || parse_hex(tok, na, &a) < 0 ||
	    parse_hex(colon + 1, nb, &b) < 0)
		return -EINVAL;
	*ret_a = a;
	*ret_b = b;
	return 0;
}

/* "ADDR:PORT": 8 hex digits per 32-bit word of the address, 4 for the port. */
static int parse_endpoint(const char *tok, int family, struct in6_addr *ret_addr,
			  uint16_t *ret_port)
{
	size_t words = family == AF_INET ? 1 : 4;
	struct in6_addr addr = { 0 };
	uint64_t v;

	if (strlen(tok) != words * 8 + 5 || tok[words * 8] != ':')
		return -EINVAL;
	for (size_t i = 0; i < words; i++) {
		uint32_t w;

		if (parse_hex(tok + 8 * i, 8, &v) < 0)
			return -EINVAL;
		/* The kernel printed the word as a native integer: store it back
		 * the same way to get the bytes in network order. */
		w = (uint32_t)v;
		memcpy(addr.s6_addr + 4 * i, &w, sizeof(w));
	}
	if (parse_hex(tok + words * 8 + 1, 4, &v) < 0)
		return -EINVAL;
	*ret_addr = addr;
	*ret_port = (uint16_t)v;
	return 0;
}

/* USER_HZ ticks (jiffies_delta_to_clock_t()) to ms, saturating. */
static uint32_t ticks_to_ms(uint64_t ticks)
{
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t ms;

	if (hz <= 0)
		hz = 100;
	if (ticks > UINT64_MAX / 1000)
		return UINT32_MAX;
	ms = ticks * 1000 / (uint64_t)hz;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

int procnet_parse_line(const char *line, int family, struct ts_socket *ret)
{
	struct ts_socket s = { 0 };
	char tok[TOKEN_MAX];
	const char *p = line;
	uint64_t a, b;
	uint32_t u32;
	enum ts_state state;
	size_t n;

	if (!line || !ret || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	s.family = (uint8_t)family;

	/* sl: "N:" */
	if (next_token(&p, tok) < 0)
		return -EINVAL;
	n = strlen(tok);
	if (n < 2 || tok[n - 1] != ':')
		return -EINVAL;
	tok[n - 1] = '\0';
	if (ts_parse_u32(tok, 0, UINT32_MAX, &u32) < 0)
		return -EINVAL;

	if (next_token(&p, tok) < 0 ||
	    parse_endpoint(tok, family, &s.local_addr, &s.local_port) < 0)
		return -EINVAL;
	if (next_token(&p, tok) < 0 ||
	    parse_endpoint(tok, family, &s.remote_addr, &s.remote_port) < 0)
		return -EINVAL;

	/* st: request sockets are printed as TCP_SYN_RECV */
	if (next_token(&p, tok) < 0 || strlen(tok) > 2 || parse_hex(tok, strlen(tok), &a) < 0 ||
	    ts_state_from_kernel((unsigned)a, &state) < 0)
		return -EINVAL;
	s.state = (uint8_t)state;

	/* tx_queue:rx_queue; for LISTEN rx_queue is the accept queue and the
	 * backlog is not shown, so send_q stays what the kernel printed (0). */
	if (next_token(&p, tok) < 0 || parse_hex_pair(tok, 8, 8, &a, &b) < 0)
		return -EINVAL;
	s.send_q = (uint32_t)a;
	s.recv_q = (uint32_t)b;

	/* tr:tm->when; when is in USER_HZ ticks, %08lX so up to 16 digits */
	if (next_token(&p, tok) < 0 || parse_hex_pair(tok, 2, 16, &a, &b) < 0)
		return -EINVAL;
	/* The kernel's tr values are our enum; an unknown future one is no timer. */
	if (a > TS_TIMER_NONE && a < _TS_TIMER_MAX) {
		s.timer = (uint8_t)a;
		s.timer_expires_ms = ticks_to_ms(b);
	}

	/* retrnsmt (hex) */
	if (next_token(&p, tok) < 0 || strlen(tok) > 8 || parse_hex(tok, strlen(tok), &a) < 0)
		return -EINVAL;
	s.timer_retrans = a > UINT8_MAX ? UINT8_MAX : (uint8_t)a;

	if (next_token(&p, tok) < 0 || ts_parse_u32(tok, 0, UINT32_MAX, &s.uid) < 0)
		return -EINVAL;
	/* timeout: zero window probes sent; ts_socket has no place for it
	 * outside tcp_info, which procfs does not give. */
	if (next_token(&p, tok) < 0)
		return -EINVAL;
	/* inode: 0 for TIME_WAIT and request sockets */
	if (next_token(&p, tok) < 0 || ts_parse_u64(tok, 0, UINT64_MAX, &s.inode) < 0)
		return -EINVAL;

	if (s.remote_port != 0)
		s.flags |= TS_SOCK_REMOTE_VALID;
	*ret = s;
	return 0;
}

static bool is_header(const char *line)
{
	line += strspn(line, " \t");
	return strncmp(line, "sl ", 3) == 0;
}

static bool is_blank(const char *line)
{
	return line[strspn(line, " \t\r\n")] == '\0';
}

int procnet_read(FILE *f, int family, const struct ts_filter *filter,
		 uint32_t netns_index, struct ts_snapshot *snap, unsigned *ret_malformed)
{
	char line[LINE_MAX_LEN];
	unsigned malformed = 0;
	int r;

	if (!f || !snap)
		return -EINVAL;
	while (fgets(line, sizeof(line), f)) {
		struct ts_socket s;
		size_t n = strlen(line);

		if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(f)) {
			/* Longer than any real line: drop the rest of it. */
			int c;

			while ((c = getc(f)) != EOF && c != '\n')
				;
			malformed++;
			continue;
		}
		if (is_blank(line) || is_header(line))
			continue;
		if (procnet_parse_line(line, family, &s) < 0) {
			malformed++;
			continue;
		}
		if (filter && !ts_filter_match_socket(filter, &s))
			continue;
		s.netns_index = netns_index;
		r = snapshot_socket_append(snap, &s);
		if (r < 0)
			return r;
	}
	if (ferror(f))
		return -EIO;
	if (ret_malformed)
		*ret_malformed = malformed;
	return 0;
}
