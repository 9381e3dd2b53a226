/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "output_fmt.h"
#include "term_safe.h"

/* A namespace name as printed (term_safe() replaces bytes, never adds any). */
#define TS_NETNS_TEXT_MAX 64

void output_comm(char out[TS_COMM_LEN], const char *comm)
{
	term_safe(out, TS_COMM_LEN, comm);
}

void output_addr(char *buf, size_t size, int family, const struct in6_addr *a)
{
	if (!inet_ntop(family, a, buf, (socklen_t)size))
		snprintf(buf, size, "?");
}

static bool addr_is_any(int family, const struct in6_addr *a)
{
	static const struct in6_addr any;

	return memcmp(a, &any, family == AF_INET ? 4 : 16) == 0;
}

char *fmt_endpoint(char *p, int family, const struct in6_addr *a, uint16_t port, bool v6only)
{
	if (family == AF_INET6 && !v6only && addr_is_any(family, a)) {
		*p++ = '*'; /* dual stack: IPv4 and IPv6 clients (ss's spelling) */
	} else if (family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i)
				*p++ = '.';
			p = fmt_u32(p, a->s6_addr[i]);
		}
	} else {
		char addr[INET6_ADDRSTRLEN];

		output_addr(addr, sizeof(addr), family, a);
		*p++ = '[';
		p = fmt_str(p, addr);
		*p++ = ']';
	}
	*p++ = ':';
	if (port)
		return fmt_u32(p, port);
	*p++ = '*';
	return p;
}

void output_endpoint(char *buf, size_t size, int family, const struct in6_addr *a, uint16_t port,
		     bool v6only)
{
	char tmp[64];
	size_t n = (size_t)(fmt_endpoint(tmp, family, a, port, v6only) - tmp);

	if (!size)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}

static void format_duration(char *buf, size_t size, uint32_t ms)
{
	if (ms < 1000)
		snprintf(buf, size, "%ums", ms);
	else if (ms < 120000)
		snprintf(buf, size, "%.1fs", ms / 1000.0);
	else if (ms < 7200000)
		snprintf(buf, size, "%um", ms / 60000);
	else
		snprintf(buf, size, "%uh", ms / 3600000);
}

static void format_timer(char *buf, size_t size, const struct ts_socket *s)
{
	const char *name = ts_timer_name((enum ts_timer)s->timer);
	char d[16];

	if (!name) {
		snprintf(buf, size, "-");
		return;
	}
	format_duration(d, sizeof(d), s->timer_expires_ms);
	if (s->timer_retrans)
		snprintf(buf, size, "%s(%s,%u)", name, d, s->timer_retrans);
	else
		snprintf(buf, size, "%s(%s)", name, d);
}

static char *fmt_owners(char *p, const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	const struct ts_process *p_;
	char comm[TS_COMM_LEN];

	if (!o) {
		*p++ = '-';
		return p;
	}
	p_ = ts_snapshot_process(snap, o->process_index);
	output_comm(comm, p_ ? p_->comm : "?");
	p = fmt_str(p, comm);
	*p++ = '/';
	if (o->pid < 0)
		*p++ = '-';
	p = fmt_u32(p, o->pid < 0 ? -(uint32_t)o->pid : (uint32_t)o->pid);
	p = fmt_str(p, "/fd");
	if (o->fd < 0)
		*p++ = '-';
	p = fmt_u32(p, o->fd < 0 ? -(uint32_t)o->fd : (uint32_t)o->fd);
	if (s->owner_count > 1) {
		p = fmt_str(p, " +");
		p = fmt_u32(p, s->owner_count - 1);
	}
	return p;
}

static size_t netns_text(char *buf, size_t size, const struct ts_snapshot *snap,
			 const struct ts_socket *s)
{
	const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);

	term_safe(buf, size, ns ? ns->name : "?");
	return strlen(buf);
}

static char *fmt_peer(char *p, const struct ts_socket *s)
{
	if (!(s->flags & TS_SOCK_REMOTE_VALID)) {
		*p++ = '-';
		return p;
	}
	return fmt_endpoint(p, s->family, &s->remote_addr, s->remote_port, false);
}

static int digits(uint32_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* strlen of what fmt_endpoint() writes, without writing IPv4 ones. */
static int endpoint_len(char *tmp, int family, const struct in6_addr *a, uint16_t port,
			bool v6only)
{
	int n = 1 + (port ? digits(port) : 1); /* ":PORT" */

	if (family != AF_INET)
		return (int)(fmt_endpoint(tmp, family, a, port, v6only) - tmp);
	for (int i = 0; i < 4; i++)
		n += 1 + (a->s6_addr[i] >= 100) + (a->s6_addr[i] >= 10); /* its digits */
	return n + 3; /* and the dots */
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* Column widths: each as wide as its widest value in this output (or its title). */
struct table_widths {
	int netns, state, recv_q, send_q, local, peer, timer;
};

static void measure(const struct ts_snapshot *snap, size_t n, bool show_netns,
		    struct table_widths *w)
{
	char tmp[TS_NETNS_TEXT_MAX];

	*w = (struct table_widths){ .netns = 5, .state = 5, .recv_q = 6, .send_q = 6,
				    .local = 5, .peer = 4, .timer = 5 };
	for (size_t i = 0; i < n; i++) { /* in memory order: widths need no order */
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const char *state = ts_state_name((enum ts_state)s->state);

		if (show_netns)
			w->netns = max_int(w->netns, (int)netns_text(tmp, sizeof(tmp), snap, s));
		w->state = max_int(w->state, (int)strlen(state ? state : "?"));
		w->recv_q = max_int(w->recv_q, digits(s->recv_q));
		w->send_q = max_int(w->send_q, digits(s->send_q));
		w->local = max_int(w->local, endpoint_len(tmp, s->family, &s->local_addr,
							  s->local_port, s->flags & TS_SOCK_V6ONLY));
		if (s->flags & TS_SOCK_REMOTE_VALID)
			w->peer = max_int(w->peer, endpoint_len(tmp, s->family, &s->remote_addr,
								s->remote_port, false));
		if (s->timer) {
			format_timer(tmp, sizeof(tmp), s);
			w->timer = max_int(w->timer, (int)strlen(tmp));
		}
	}
}

int output_table_list(FILE *f, const struct ts_snapshot *snap, bool show_netns, bool header,
		      const uint32_t *order)
{
	size_t n = ts_snapshot_socket_count(snap);
	struct table_widths w;
	/* The widest line: a netns name, 12-byte state, two 10-digit queues, two
	 * 53-byte endpoints, a timer, the holder (comm of 16 escaped, pid, fd, "+N"). */
	char line[TS_NETNS_TEXT_MAX + 512];

	measure(snap, n, show_netns, &w);
	if (header) {
		if (show_netns)
			fprintf(f, "%-*s ", w.netns, "NETNS");
		fprintf(f, "%-*s %*s %*s %-*s %-*s %-*s %s\n", w.state, "STATE", w.recv_q, "RECV-Q",
			w.send_q, "SEND-Q", w.local, "LOCAL", w.peer, "PEER", w.timer, "TIMER",
			"PROCESS/PID/FD");
	}

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, order ? order[i] : i);
		const char *state;
		char *p = line, *col;

		/* The order jumps around the sockets array: ask for a later row
		 * now, so that it is in the cache when its turn comes. */
		if (order && i + 8 < n) {
			const char *ahead = (const char *)ts_snapshot_socket(snap, order[i + 8]);

			for (size_t off = 0; off < sizeof(*s); off += 64)
				__builtin_prefetch(ahead + off);
		}

		if (show_netns) {
			size_t nl = netns_text(p, TS_NETNS_TEXT_MAX, snap, s);

			p = fmt_pad(line, p + nl, w.netns);
			*p++ = ' ';
		}
		col = p;
		state = ts_state_name((enum ts_state)s->state);
		p = fmt_pad(col, fmt_str(p, state ? state : "?"), w.state);
		*p++ = ' ';
		p = fmt_u32_right(p, s->recv_q, w.recv_q);
		*p++ = ' ';
		p = fmt_u32_right(p, s->send_q, w.send_q);
		*p++ = ' ';
		col = p;
		p = fmt_pad(col, fmt_endpoint(p, s->family, &s->local_addr, s->local_port,
					      s->flags & TS_SOCK_V6ONLY), w.local);
		*p++ = ' ';
		col = p;
		p = fmt_pad(col, fmt_peer(p, s), w.peer);
		*p++ = ' ';
		col = p;
		if (s->timer) {
			char timer[48];

			format_timer(timer, sizeof(timer), s);
			p = fmt_str(p, timer);
		} else {
			*p++ = '-';
		}
		p = fmt_pad(col, p, w.timer);
		*p++ = ' ';
		p = fmt_owners(p, snap, s);
		*p++ = '\n';
		fwrite_unlocked(line, 1, (size_t)(p - line), f);
	}
	return ferror(f) ? -1 : 0;
}
